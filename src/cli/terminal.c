/*
 * cli/terminal: the terminal belongs to the command, not to the library.
 * When the guest's console is stdio and stdin is a terminal, keys go to the
 * guest as typed (no line editing, no echo; Ctrl-C still stops gmvm), and
 * the terminal is put back however gmvm ends: normal exit, or a signal.
 * A signal handler can only reach the saved settings through a static.
 */
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"

static struct termios saved_tty;
static volatile sig_atomic_t tty_saved;

static void restore_tty_and_die(int sig)
{
	if (tty_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_tty_and_die;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

void gm_cli_terminal_raw(void)
{
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tty) < 0)
		return;
	catch_signals();
	struct termios raw = saved_tty;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_iflag &= ~(tcflag_t)ICRNL;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
		tty_saved = 1;
}

void gm_cli_terminal_inherit_raw(void)
{
	/* the old gmvm made it raw and left it so: put back what raw took away */
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tty) < 0)
		return;
	catch_signals();
	saved_tty.c_lflag |= ICANON | ECHO;
	saved_tty.c_iflag |= ICRNL;
	tty_saved = 1;
}

void gm_cli_terminal_restore(void)
{
	if (tty_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	tty_saved = 0;
}
