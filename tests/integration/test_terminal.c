/*
 * gmvm as a shell user meets it: a closed stdout (`gmvm run ... | head -n1`)
 * neither kills gmvm nor stops the guest, and a terminal on stdin gets its
 * echo back whatever way gmvm ends.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "harness.h"

/* Run gmvm run ARGS GUEST with stdin = in_fd and stdout a pipe whose reader is already gone. */
static int run_with_closed_stdout(int in_fd, const char *guest, const char *extra)
{
	const char *bin = getenv("GMVM_BIN") ? getenv("GMVM_BIN") : "build/gmvm";
	char *elf = guest_path(guest);
	int out[2], status;

	cr_assert(pipe(out) == 0);
	close(out[0]); /* every write to stdout now fails with EPIPE (or SIGPIPE) */
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(in_fd, 0);
		dup2(out[1], 1);
		dup2(devnull, 2);
		signal(SIGPIPE, SIG_DFL); /* as a shell leaves it */
		execl(bin, bin, "run", "--memory", test_memory("256M"), "--timeout", "60", "--cmdline", extra, elf,
		      (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	cr_assert(waitpid(pid, &status, 0) == pid);
	free(elf);
	return status;
}

Test(terminal, closed_stdout_does_not_stop_the_guest, .timeout = 90)
{
	require_kvm();
	int in = open("/dev/null", O_RDONLY);
	int status = run_with_closed_stdout(in, "hello", "hello.exit=0");

	close(in);
	cr_assert(!WIFSIGNALED(status), "gmvm died of signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	cr_assert(WIFEXITED(status));
	/* hello's own exit status through the port, not a failure to write */
	cr_assert_eq(WEXITSTATUS(status), 0);
}

Test(terminal, echo_is_restored_after_a_closed_stdout, .timeout = 90)
{
	require_kvm();
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	cr_assert(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	struct termios t;

	cr_assert(slave >= 0);
	cr_assert(tcgetattr(slave, &t) == 0);
	cr_assert(t.c_lflag & ECHO, "a new pty echoes");
	int status = run_with_closed_stdout(slave, "hello", "hello.exit=0");
	cr_assert(!WIFSIGNALED(status), "gmvm died of signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	cr_assert(tcgetattr(slave, &t) == 0);
	cr_assert(t.c_lflag & ECHO, "gmvm left the terminal without echo");
	cr_assert(t.c_lflag & ICANON, "gmvm left the terminal in non-canonical mode");
	close(slave);
	close(master);
}
