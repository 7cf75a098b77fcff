/*
 * tests/integration/procs: gmvm processes in the background, as a user
 * starts them in other terminals: spawn with output to files, wait for an
 * exit or a socket, read what they wrote, ask their API with curl(1).
 */
#ifndef GM_TEST_PROCS_H
#define GM_TEST_PROCS_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

/* The gmvm binary: $GMVM_BIN, else build/gmvm. */
const char *gmvm_bin(void);
/* Start argv[0] with stdin /dev/null, stdout and stderr into the files; killed when the test dies. */
pid_t spawn(const char *const *argv, const char *out, const char *err);
/* Exit status of pid within limit seconds (128 + signal when killed), or -1: still running. */
int wait_exit(pid_t pid, double limit);
/* Kill and reap pid when it is > 0; *pid becomes 0. */
void kill_reap(pid_t *pid);
/* The whole file, NUL-terminated ("" when it cannot be read); free it. */
char *slurp(const char *path);
/* True when something accepts connections on the UNIX socket path. */
bool can_connect(const char *path);
/* Wait up to limit seconds for want in the file; false if it never came. */
bool wait_file_has(const char *path, const char *want, double limit);

/* An answer of the API: the HTTP status and its JSON body (freed by the caller). */
struct answer {
	int http;
	json_t *body;
};
/*
 * PUT /api/v1/endpoint on the API socket sock through curl(1), with body
 * (JSON, NULL: none), the answer's body kept in the file path.  A body
 * that is not JSON calls dump (when not NULL), then fails the test.
 */
struct answer api_put(const char *sock, const char *endpoint, const char *body, const char *path,
		      void (*dump)(void));

/* GET /api/v1/vm.info on the API socket sock through curl(1), the body kept in path: its JSON (asserted). */
json_t *api_get_info(const char *sock, const char *path);

/* argv of `gmvm run` for the dirty guest: its API at sock, events and console in files, --memory, --cmdline, extra (NULL-ended) before the ELF. */
#define DIRTY_VM_MAX_ARGS 40
struct dirty_vm_args {
	const char *argv[DIRTY_VM_MAX_ARGS];
	char con[160], mon[160];
	char *elf; /* the caller frees it */
};
unsigned dirty_vm_argv(struct dirty_vm_args *a, const char *sock, const char *events, const char *console,
		       const char *memory, const char *cmdline, const char *const *extra);

/* A test VM's files in a new directory /tmp/PREFIX-XXXXXX, with GMVM_RUN_DIR in it. */
struct vm_files {
	char dir[64], sock[128], console[128], out[128], err[128], events[128];
};
void vm_files_make(struct vm_files *f, const char *prefix);
void vm_files_remove(const struct vm_files *f);

#endif
