// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Signals and the terminal, for cruisectl top and events: a stop signal or 'q' ends a wait, the
 * terminal is given back as it was found (also on Ctrl-Z), and the tool dies of the signal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cruisectl.h"
#include "loader.h" /* cruise_now_ns */

volatile sig_atomic_t stop_signal;
static struct termios saved_tio, raw_tio;
static volatile sig_atomic_t tio_raw;

static void on_stop(int sig)
{
	stop_signal = sig;
}

void restore_terminal(void)
{
	if (tio_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
		tio_raw = 0;
	}
}

/* Ctrl-Z: the shell gets its terminal back as it gave it, and raw mode comes back with fg. */
static void on_tstp(int sig)
{
	int saved_errno = errno;

	(void)sig;
	if (tio_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	raise(SIGSTOP);
	if (tio_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &raw_tio);
	errno = saved_errno;
}

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

/*
 * Die of the signal that stopped us, once the terminal is restored: a shell script running top
 * or events sees a Ctrl-C as one (and runs its trap) instead of a normal exit that it goes past.
 */
void reraise(int sig)
{
	sigset_t set;

	fflush(NULL);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
}

/*
 * The stop signals are blocked except inside ppoll(), which is where they end the wait: none is
 * lost between a check of stop_signal and the wait. SIGPIPE is ignored so that a closed pipe ends
 * the loop through the write error, the terminal restored on the way out.
 */
void setup_signals(sigset_t *wait_mask)
{
	struct sigaction sa = { .sa_handler = on_stop };
	sigset_t block;

	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++) {
		sigaction(stop_signals[i], &sa, NULL);
		sigaddset(&block, stop_signals[i]);
	}
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigdelset(wait_mask, stop_signals[i]);
	signal(SIGPIPE, SIG_IGN);
}

/* Read single keys ('q') from stdin when it is our terminal and we are in its foreground. */
bool enter_raw_mode(void)
{
	struct sigaction sa = { .sa_handler = on_tstp };

	if (!isatty(STDIN_FILENO) || tcgetpgrp(STDIN_FILENO) != getpgrp())
		return false;
	if (tcgetattr(STDIN_FILENO, &saved_tio))
		return false;
	raw_tio = saved_tio;
	raw_tio.c_lflag &= ~(ICANON | ECHO); /* ISIG stays: Ctrl-C is still SIGINT */
	raw_tio.c_cc[VMIN] = 1;
	raw_tio.c_cc[VTIME] = 0;
	atexit(restore_terminal); /* every exit() path, argp's and error paths included */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTSTP, &sa, NULL);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw_tio))
		return false;
	tio_raw = 1;
	return true;
}

/*
 * Wait until deadline (CLOCK_MONOTONIC); true when the user asked to stop: a stop signal, 'q' on
 * the terminal. fd, when >= 0, is polled too and ends the wait early when readable.
 */
bool wait_until(__u64 deadline, bool keys, int fd, const sigset_t *mask)
{
	struct pollfd p[2];
	nfds_t n = 0;
	int key_slot = -1, fd_slot = -1;

	if (keys) {
		p[n] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		key_slot = (int)n++;
	}
	if (fd >= 0) {
		p[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
		fd_slot = (int)n++;
	}
	while (!stop_signal) {
		__u64 now = cruise_now_ns();
		struct timespec ts;
		char buf[64];
		ssize_t len;
		int r;

		if (now >= deadline)
			return false;
		ts.tv_sec = (deadline - now) / NSEC_PER_SEC;
		ts.tv_nsec = (deadline - now) % NSEC_PER_SEC;
		r = ppoll(p, n, &ts, mask);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return true;
		if (fd_slot >= 0 && p[fd_slot].revents)
			return false;
		if (key_slot < 0 || !p[key_slot].revents)
			continue;
		len = read(STDIN_FILENO, buf, sizeof(buf));
		if (len <= 0) {
			p[key_slot].fd = -1; /* the terminal went away: stop reading it */
			continue;
		}
		if (memchr(buf, 'q', len) || memchr(buf, 'Q', len))
			return true;
	}
	return true;
}
