/*
 * cli/run: `gmvm run`: parse options, probe the kernel, build the machine,
 * run it to its end and turn that end into an exit status.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "gmvm/gmvm.h"

/*
 * The console puts a terminal on stdin into non-canonical mode and restores
 * it when the machine is destroyed; a signal that kills gmvm first must
 * restore it too.  A signal handler can only reach this through a static.
 */
static struct termios saved_tty;
static volatile sig_atomic_t tty_saved;

static void restore_tty_and_die(int sig)
{
	if (tty_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void guard_terminal(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tty) < 0)
		return;
	tty_saved = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_tty_and_die;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static int finish(struct gm_machine *m, const struct gm_config *cfg, const struct gm_exit *ex,
		  struct gm_trace *trace)
{
	switch (ex->kind) {
	case GM_EXIT_CRASH:
		fprintf(stderr, "gmvm: guest crashed: %s\n", ex->reason);
		gm_machine_dump_vcpu(m, ex->cpu, stderr);
		break;
	case GM_EXIT_ERROR:
		fprintf(stderr, "gmvm: %s\n", ex->reason);
		break;
	case GM_EXIT_TIMEOUT:
		fprintf(stderr, "gmvm: %s; stopped it (--timeout %g)\n", ex->reason, cfg->timeout);
		break;
	default:
		break;
	}
	gm_machine_trace(m, trace);
	return ex->status;
}

int gm_cli_run(int argc, char **argv)
{
	struct gm_error err = { 0 };
	struct gm_config cfg;
	struct gm_caps caps;
	struct gm_machine *m = NULL;
	struct gm_exit ex;
	struct gm_trace trace = { 0 };

	gm_trace_mark(&trace, GM_TRACE_START);
	int r = gm_cli_parse_run(argc, argv, &cfg, &err);

	if (r == 1)
		return 0;
	if (r < 0)
		return gm_cli_report(&err);
	r = gm_caps_probe(&caps, GM_PROBE_FAST, &err);
	gm_trace_mark(&trace, GM_TRACE_PROBED);
	if (!r)
		r = gm_machine_create(&cfg, &caps, &m, &err);
	if (!r) {
		guard_terminal();
		r = gm_machine_start(m, &err);
	}
	if (r) {
		gm_machine_destroy(m);
		return gm_cli_report(&err);
	}
	if (gm_machine_wait(m, cfg.timeout, &ex) == -ETIMEDOUT)
		gm_machine_stop(m);
	int status = finish(m, &cfg, &ex, &trace);
	gm_machine_destroy(m);
	if (cfg.trace_startup) {
		gm_trace_mark(&trace, GM_TRACE_EXIT);
		gm_trace_print(&trace, stderr);
	}
	return status;
}
