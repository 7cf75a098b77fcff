/*
 * cli/client: the API client subcommands (`gmvm ping|info|... --api-sock
 * PATH [--json]`), as Cloud Hypervisor's ch-remote.  Each is one row of
 * the table below: what it asks (method, endpoint), what arguments it
 * takes for the body, and how the answer is shown.  A new subcommand is a
 * row plus, if its answer deserves more than the raw JSON, a printer in
 * client_print.c, and if it sends a body, a gm_cli_args (client_snapshot.c);
 * one that does more than one request (migrate) performs it itself.
 * The client speaks to the server only through HTTP (client_http.c), never
 * through libgmvm.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/escape.h"

struct client_cmd {
	const char *name;
	const char *method;   /* "GET" or "PUT" */
	const char *endpoint; /* after /api/v1/ */
	const char *help;     /* one line for `gmvm help` */
	/* readable text for a 2xx answer; NULL: print the raw body */
	int (*print)(const json_t *body, FILE *out);
	/* the arguments that make the body; NULL: none, and no body */
	const struct gm_cli_args *args;
};

static const struct client_cmd cmds[] = {
	{ "ping", "GET", "vmm.ping", "the API's version, build and features", gm_cli_print_ping },
	{ "info", "GET", "vm.info", "state, config, memory regions, vCPUs, the exit", gm_cli_print_info },
	{ "counters", "GET", "vm.counters", "exits by kind and vCPU, pauses", gm_cli_print_counters },
	{ "pause", "PUT", "vm.pause", "stop every vCPU until resume", gm_cli_print_state },
	{ "resume", "PUT", "vm.resume", "let a paused guest run again", gm_cli_print_state },
	{ "shutdown", "PUT", "vm.shutdown", "end the guest; gmvm run exits 0", gm_cli_print_state },
	{ "shutdown-vmm", "PUT", "vmm.shutdown", "end the guest and the gmvm run process", gm_cli_print_state },
	{ "snapshot", "PUT", "vm.snapshot", "write the VM's state and memory to a new directory DIR",
	  gm_cli_print_snapshot, &gm_cli_snapshot_args },
	{ "migrate", "PUT", "vm.send-migration", "move the running guest to gmvm run --incoming URL",
	  NULL, &gm_cli_migrate_args },
	{ "migrate-cancel", "PUT", "vm.migration-cancel", "stop a running migration; the guest runs on here",
	  gm_cli_print_cancelled },
	{ "rehome", "PUT", "vm.memory-rehome", "move a memory region onto new memory while the guest runs",
	  NULL, &gm_cli_rehome_args },
	{ "rehome-cancel", "PUT", "vm.memory-rehome-cancel", "stop a running re-home; the guest keeps its old memory",
	  gm_cli_print_rehome_cancelled },
	{ "update", "PUT", "vmm.live-update", "hand the guest to a new gmvm process (live update)",
	  NULL, &gm_cli_update_args },
	{ "balloon", "PUT", "vm.balloon", "set the balloon's target (MiB the guest hands back), deflate-on-oom",
	  NULL, &gm_cli_balloon_args },
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static const struct client_cmd *find(const char *name)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

bool gm_cli_client_has(const char *name)
{
	return find(name) != NULL;
}

void gm_cli_client_usage(FILE *f)
{
	for (size_t i = 0; i < N_CMDS; i++)
		fprintf(f, "  %-15s %s\n", cmds[i].name, cmds[i].help);
}

/* "gmvm snapshot --api-sock PATH DIR [--diff] [--json]" */
static const char *usage_text(const struct client_cmd *cmd, char *buf, size_t len)
{
	snprintf(buf, len, "gmvm %s --api-sock PATH%s%s [--json]", cmd->name, cmd->args ? " " : "",
		 cmd->args ? cmd->args->usage : "");
	return buf;
}

static void print_help(const struct client_cmd *cmd)
{
	char usage[256];

	printf("usage: %s\n", usage_text(cmd, usage, sizeof(usage)));
	printf("\n%s %s%s: %s.\n"
	       "\n"
	       "  --api-sock PATH  the socket of gmvm run --api-sock PATH\n"
	       "%s"
	       "  --json           print the server's JSON answer as it came\n"
	       "  -h, --help       print this help and exit\n"
	       "\n"
	       "%s",
	       cmd->method, "/api/v1/", cmd->endpoint, cmd->help, cmd->args ? cmd->args->help : "",
	       cmd->args && cmd->args->exit_help ? cmd->args->exit_help
						 : "Exit status: 0 on success, 1 when the API refused or could not be reached,\n"
						   "2 on bad options.\n");
}

struct client_opts {
	const char *sock;
	bool json;
	/* what the common options left, for cmd->args (argv's order) */
	int nrest;
	char **rest;
};

/* Returns 0 to go on, 1 after --help, or GM_STATUS_BAD_INPUT in err. */
static int parse(const struct client_cmd *cmd, int argc, char **argv, struct client_opts *o,
		 struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT], usage[256];

	usage_text(cmd, usage, sizeof(usage));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--json") == 0) {
			o->json = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			print_help(cmd);
			return 1;
		} else if (strcmp(a, "--api-sock") == 0) {
			if (i + 1 >= argc)
				return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
					       "%s: --api-sock needs a value; write --api-sock PATH", cmd->name);
			o->sock = argv[++i];
		} else if (strncmp(a, "--api-sock=", 11) == 0) {
			o->sock = a + 11;
		} else if (strncmp(a, "--json=", 7) == 0) {
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: --json takes no value; write --json",
				       cmd->name);
		} else if (cmd->args && strcmp(a, "--") == 0) {
			/* what follows is the command's own, even when it looks like --json */
			while (i < argc)
				o->rest[o->nrest++] = argv[i++];
		} else if (cmd->args) {
			o->rest[o->nrest++] = argv[i];
		} else {
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: unexpected '%s'; usage: %s", cmd->name,
				       gm_escape(a, q, sizeof(q)), usage);
		}
	}
	if (!o->sock)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "%s: needs --api-sock PATH, the socket given to gmvm run --api-sock", cmd->name);
	if (!*o->sock)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "%s: the --api-sock path is empty; write --api-sock PATH", cmd->name);
	return 0;
}

/* An error answer: the server's own line, or what we can say without one. */
int gm_cli_report_refusal(const struct gm_http_reply *rep)
{
	char line[600];
	json_t *j = json_loadb(rep->body, rep->len, 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "error"));

	if (msg)
		/* the server keeps it to one line; escaping keeps it so whatever it holds */
		fprintf(stderr, "gmvm: %s\n", gm_escape(msg, line, sizeof(line)));
	else
		fprintf(stderr, "gmvm: the API answered HTTP %ld without an error message; is it a gmvm API socket?\n",
			rep->status);
	json_decref(j);
	return GM_STATUS_FAILURE;
}

static int show(const struct client_cmd *cmd, const struct client_opts *o,
		const struct gm_http_reply *rep)
{
	char q[GM_ESCAPE_PATH];
	json_error_t jerr;

	if (o->json || !cmd->print) {
		fwrite(rep->body, 1, rep->len, stdout);
		if (rep->len && rep->body[rep->len - 1] != '\n')
			fputc('\n', stdout);
		return GM_STATUS_OK;
	}
	json_t *j = json_loadb(rep->body, rep->len, 0, &jerr);
	if (!json_is_object(j)) {
		fprintf(stderr, "gmvm: the API at %s answered %s with a body that is not a JSON object; is it a gmvm API socket?\n",
			gm_escape(o->sock, q, sizeof(q)), cmd->endpoint);
		json_decref(j);
		return GM_STATUS_FAILURE;
	}
	int r = cmd->print(j, stdout);
	json_decref(j);
	return r;
}

/* Options, then the body from the command's own arguments: 0, 1 after --help, or an error in err. */
static int prepare(const struct client_cmd *cmd, int argc, char **argv, struct client_opts *o,
		   char **body, struct gm_error *err)
{
	char usage[256];
	int r;

	o->rest = calloc((size_t)argc, sizeof(*o->rest));
	if (!o->rest)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory reading the command line");
	r = parse(cmd, argc, argv, o, err);
	if (r == 0 && cmd->args)
		r = cmd->args->build(cmd->name, usage_text(cmd, usage, sizeof(usage)), o->nrest, o->rest, body,
				     err);
	free(o->rest);
	o->rest = NULL;
	return r;
}

int gm_cli_client(int argc, char **argv)
{
	const struct client_cmd *cmd = find(argv[0]);
	struct client_opts o = { 0 };
	struct gm_error err = { 0 };
	struct gm_http_reply rep;
	char *body = NULL;
	int r;

	if (!cmd) {
		fprintf(stderr, "gmvm: %s is not an API client command\n", argv[0]);
		return GM_STATUS_BAD_INPUT;
	}
	r = prepare(cmd, argc, argv, &o, &body, &err);
	if (r == 1)
		return GM_STATUS_OK;
	if (r < 0)
		return gm_cli_report(&err);
	/* once, before any handle: the process has only this thread now */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(body);
		fputs("gmvm: cannot start libcurl; the host is out of memory\n", stderr);
		return GM_STATUS_FAILURE;
	}
	if (cmd->args && cmd->args->perform) {
		r = cmd->args->perform(o.sock, body, o.json);
		free(body);
	} else {
		r = gm_cli_http(o.sock, cmd->method, cmd->endpoint, body, cmd->args ? cmd->args->timeout_s : 0,
				&rep, &err);
		free(body);
		if (r < 0) {
			r = gm_cli_report(&err);
		} else {
			r = rep.status >= 200 && rep.status < 300 ? show(cmd, &o, &rep) : gm_cli_report_refusal(&rep);
			gm_cli_http_free(&rep);
		}
	}
	curl_global_cleanup();
	if (fflush(stdout) != 0 && r == GM_STATUS_OK) {
		fputs("gmvm: cannot write the answer to stdout; check where stdout goes\n", stderr);
		r = GM_STATUS_FAILURE;
	}
	return r;
}
