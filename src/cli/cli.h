/*
 * cli/: the gmvm command.  One file per subcommand (run.c, probe.c), each
 * an entry point that takes its own argv (argv[0] is the subcommand's name)
 * and returns the process exit status.
 */
#ifndef GM_CLI_H
#define GM_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "gmvm/error.h"

int gm_cli_run(int argc, char **argv);

/* terminal.c: raw keys for the guest's stdio console, restored at exit or on a signal. */
void gm_cli_terminal_raw(void);
void gm_cli_terminal_restore(void);

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

/* client_http.c: one request to the API socket and its answer. */
struct gm_http_reply {
	long status; /* the HTTP status */
	char *body;  /* NUL-terminated, malloc'd */
	size_t len;
};
/*
 * Send method /api/v1/endpoint with body (NULL: none; PUT sends an empty
 * one) over the UNIX socket sock.  0 when any HTTP answer came (whatever its
 * status), or a negative errno with a one-line message naming the socket
 * when none did.  Free the reply with gm_cli_http_free.
 */
int gm_cli_http(const char *sock, const char *method, const char *endpoint, const char *body,
		struct gm_http_reply *out, struct gm_error *err);
void gm_cli_http_free(struct gm_http_reply *r);

/* client_print.c: a 2xx answer (a JSON object) as text; return the exit status. */
struct json_t;
int gm_cli_print_ping(const struct json_t *body, FILE *out);
int gm_cli_print_info(const struct json_t *body, FILE *out);
int gm_cli_print_counters(const struct json_t *body, FILE *out);
/* The "state" an action left the machine in (pause, resume, shutdown). */
int gm_cli_print_state(const struct json_t *body, FILE *out);

#endif
