/*
 * cli/: the gmvm command.  One file per subcommand (run.c, probe.c,
 * snapshot_merge.c), each an entry point that takes its own argv (argv[0]
 * is the subcommand's name) and returns the process exit status.
 */
#ifndef GM_CLI_H
#define GM_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gmvm/error.h"

int gm_cli_run(int argc, char **argv);

/*
 * jail.c: gmvm jail --root DIR --uid N --gid N [...] -- run ARGS: gm_cli_run
 * confined (sandbox/jail.h).  The parsing pieces are apart for tests:
 * gm_cli_jail_parse returns 1 for --help and sets *run_at to argv's "run";
 * gm_cli_jail_from_run adds the paths and namespaces run's config needs.
 */
struct gm_jail;
struct gm_config;
int gm_cli_jail(int argc, char **argv);
int gm_cli_jail_parse(int argc, char **argv, struct gm_jail *j, int *run_at, struct gm_error *err);
int gm_cli_jail_from_run(const struct gm_config *cfg, struct gm_jail *j, struct gm_error *err);
void gm_cli_jail_usage(FILE *f);
/* snapshot_merge.c: gmvm snapshot-merge BASE DIFF... OUT, offline. */
int gm_cli_snapshot_merge(int argc, char **argv);

/* terminal.c: raw keys for the guest's stdio console, restored at exit or on a signal. */
void gm_cli_terminal_raw(void);
void gm_cli_terminal_restore(void);
/* A live update's new process: the terminal is raw already; restore it at the end as the old one would have. */
void gm_cli_terminal_inherit_raw(void);

/* Print "gmvm: MESSAGE" for err on stderr and return its exit status. */
int gm_cli_report(const struct gm_error *err);

/*
 * client.c: the API client subcommands (ping, info, counters, pause, ...),
 * one table row each.  gm_cli_client takes argv[0] = the subcommand.
 */
bool gm_cli_client_has(const char *name);
int gm_cli_client(int argc, char **argv);
/* One "  NAME  what it does" line per client subcommand, for gmvm help. */
void gm_cli_client_usage(FILE *f);

/*
 * What a client subcommand takes besides --api-sock and --json: its own
 * arguments, made into the request's JSON body.  A table row without one
 * takes no arguments and sends no body.
 */
struct gm_cli_args {
	const char *usage;  /* the arguments as the usage line shows them, e.g. "DIR [--diff]" */
	const char *help;   /* their lines for --help, each "  ARG  what it means\n" */
	long timeout_s;     /* how long the answer may take; 0: the usual 30 s */
	/* what the exit statuses mean, for --help; NULL: the usual 0, 1, 2 */
	const char *exit_help;
	/*
	 * argv: the argc arguments the common options left, in order.  Make
	 * the body (malloc'd JSON text) into *body; or return a negative errno
	 * with a GM_STATUS_BAD_INPUT line in err that starts with "cmd: " and,
	 * for a malformed command line, ends with "usage: " and usage.
	 */
	int (*build)(const char *cmd, const char *usage, int argc, char **argv, char **body,
		     struct gm_error *err);
	/*
	 * NULL: one request, then the row's printer.  Else it sends body to
	 * the API at sock itself and shows the answer (raw JSON with json);
	 * it returns the exit status.  libcurl is initialised already.
	 */
	int (*perform)(const char *sock, const char *body, bool json);
};

/* client_snapshot.c: DIR [--diff] for gmvm snapshot. */
extern const struct gm_cli_args gm_cli_snapshot_args;
/* client_migrate.c: URL [--downtime-ms N] ... for gmvm migrate, which shows progress while it blocks. */
extern const struct gm_cli_args gm_cli_migrate_args;
/* client_rehome.c: REGION [key=value,...] for gmvm rehome, which shows progress while it blocks. */
extern const struct gm_cli_args gm_cli_rehome_args;
/* client_update.c: [--binary PATH] [-- ARGS...] for gmvm update, which shows the phase while it blocks. */
extern const struct gm_cli_args gm_cli_update_args;
/* client_balloon.c: [TARGET_MIB] [--deflate-on-oom on|off] for gmvm balloon. */
extern const struct gm_cli_args gm_cli_balloon_args;

/* client_http.c: one request to the API socket and its answer. */
struct gm_http_reply {
	long status; /* the HTTP status */
	char *body;  /* NUL-terminated, malloc'd */
	size_t len;
};
/*
 * Send method /api/v1/endpoint with body (NULL: none; PUT sends an empty
 * one) over the UNIX socket sock, and wait for the answer up to timeout_s
 * seconds (0: GM_CLI_HTTP_TIMEOUT; GM_CLI_HTTP_NO_TIMEOUT: as long as it
 * takes, for a request that blocks, such as a migration without a
 * timeout of its own).  0 when any HTTP answer came (whatever
 * its status), or a negative errno with a one-line message naming the
 * socket when none did.  Free the reply with gm_cli_http_free.
 */
#define GM_CLI_HTTP_TIMEOUT 30L
#define GM_CLI_HTTP_NO_TIMEOUT (-1L)
int gm_cli_http(const char *sock, const char *method, const char *endpoint, const char *body,
		long timeout_s, struct gm_http_reply *out, struct gm_error *err);
void gm_cli_http_free(struct gm_http_reply *r);
/* client.c: an answer that is not 2xx: the server's line (or what we can say) on stderr; returns 1. */
int gm_cli_report_refusal(const struct gm_http_reply *rep);

/*
 * client_watch.c: the perform of a subcommand whose PUT blocks until a
 * long job ends (gmvm migrate, gmvm rehome).  On a terminal it redraws one
 * progress line on stderr from vm.info's record of the job meanwhile.  The
 * body's timeout_s, when there is one, bounds the wait.
 */
struct json_t;
struct gm_cli_watch {
	const char *endpoint; /* the PUT, e.g. "vm.send-migration" */
	const char *member;   /* vm.info's record of the job, e.g. "migration" */
	const char *rate;     /* the record's MB/s member, e.g. "bandwidth_mbps" */
	/*
	 * NULL, or the progress line into line from the record rec and the
	 * common part "PHASE round N [bar] P%, R MB/s, N pages left".
	 */
	void (*decorate)(const struct json_t *rec, const char *common, char *line, size_t len);
	/* A 2xx answer as a line on stdout (req: the request's body); returns the exit status. */
	int (*print)(const struct gm_http_reply *rep, const struct json_t *req);
	/* HTTP 400, a target refused as impossible, exits 2 (else 1); 501 exits 3 all the same. */
	bool impossible_is_bad_input;
};
int gm_cli_watch(const struct gm_cli_watch *w, const char *sock, const char *body, bool json);
/* The whole number member key of o, 0 when absent or not positive. */
uint64_t gm_cli_u64(const struct json_t *o, const char *key);

/* client_print.c: a 2xx answer (a JSON object) as text; return the exit status. */
int gm_cli_print_ping(const struct json_t *body, FILE *out);
int gm_cli_print_info(const struct json_t *body, FILE *out);
int gm_cli_print_counters(const struct json_t *body, FILE *out);
/* The "state" an action left the machine in (pause, resume, shutdown). */
int gm_cli_print_state(const struct json_t *body, FILE *out);
/* "snapshot DIR: full, paused N ms, state N KiB, memory N MiB" */
int gm_cli_print_snapshot(const struct json_t *body, FILE *out);
/* client_migrate.c: "migration cancelled; ..." for gmvm migrate-cancel */
int gm_cli_print_cancelled(const struct json_t *body, FILE *out);
/* client_rehome.c: "re-home cancelled; ..." for gmvm rehome-cancel */
int gm_cli_print_rehome_cancelled(const struct json_t *body, FILE *out);

#endif
