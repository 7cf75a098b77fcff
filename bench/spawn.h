/*
 * bench/spawn: run one command under ptrace and measure it from outside:
 * wall time from exec to reaping, peak RSS and the guest memory's RSS read
 * at the moment of exit, and everything it printed.
 */
#ifndef BENCH_SPAWN_H
#define BENCH_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPAWN_OUTPUT_CAP (1u << 20)

struct spawn_result {
	int status;		/* exit status 0..255, or 128 + signal number when killed */
	uint64_t wall_ns;	/* exec to reaped, minus the time spent reading /proc at exit */
	uint64_t hwm_kib;	/* VmHWM at exit; 0 when the exit stop was missed */
	uint64_t guest_rss_kib;	/* Rss of the shared mappings of exactly the guest RAM size */
	int guest_vmas;		/* how many such mappings were found */
	char *output;		/* stdout and stderr, NUL-terminated, at most SPAWN_OUTPUT_CAP bytes */
	size_t output_len;
};

/*
 * Runs argv (argv[0] looked up in PATH) with stdin /dev/null and stdout and
 * stderr into an unlinked temporary file.  guest_bytes is the guest RAM size
 * whose mapping is looked for in /proc/PID/smaps (0: none).  Returns 0 and
 * fills *r (free r->output with spawn_result_free), or -1 with a one-line
 * reason in err when the command could not be run or watched.
 */
int spawn_run(char *const argv[], uint64_t guest_bytes, struct spawn_result *r, char *err, size_t errlen);
void spawn_result_free(struct spawn_result *r);

/* An unlinked temporary file (in $TMPDIR or /tmp) for a command's output; -1 with errno on failure. */
int spawn_output_fd(void);

/* Sum of Rss: of the shared mappings of exactly guest_bytes in an smaps text. */
uint64_t spawn_smaps_guest_rss(const char *smaps, uint64_t guest_bytes, int *vmas);

/* True when a line of text starts with prefix. */
bool bench_has_line_starting(const char *text, const char *prefix);

#endif
