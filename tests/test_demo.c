// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The README's first command keeps working: scripts/demo.sh (what `make demo` runs after
 * installing and building) run for 20 s as a user would, its live table read back. The demo
 * starts its own PostgreSQL, agent, cgroups and pins; this test checks that the table shows each
 * group at its rate, the change made midway, and that nothing the demo made is left behind, after
 * a normal end and after a Ctrl-C (SIGINT to its process group, as a terminal sends it).
 *
 * Rates are read from cruisectl top's per-second lines, so a single line may be off by a
 * connection or two of alignment; the check is on the mean of the enforced lines, within 5%.
 *
 * A normal end also writes the plot ($DEMO_PLOT.png and .svg, here under /tmp per test run): both
 * non-empty, the SVG with each series' title.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "loader.h"

#define DEMO_TOL 0.05

static char bin_dir[PATH_MAX], demo_sh[PATH_MAX]; /* the binaries, scripts/demo.sh */
static char out_path[PATH_MAX], plot_base[64];

/* Start the demo in its own process group with SIGINT at its default, as from a terminal. */
static pid_t demo_start(const char *seconds)
{
	pid_t pid;

	unlink(out_path);
	pid = fork();
	if (pid == 0) {
		const char *argv[] = { demo_sh, bin_dir, NULL };

		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		setenv("DEMO_SECONDS", seconds, 1);
		setenv("DEMO_PLOT", plot_base, 1);
		execl("/bin/sh", "sh", "-c", "exec \"$0\" \"$1\" >\"$2\" 2>&1", argv[0], argv[1],
		      out_path, (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	return pid;
}

/* Names under dir that start with prefix: what the demo makes is named cruise-demo-PID. */
static int count_named(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *ent;
	int n = 0;

	if (!d)
		return 0;
	while ((ent = readdir(d)))
		n += !strncmp(ent->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

static void assert_nothing_left(pid_t demo)
{
	char name[64], cg_root[PATH_MAX];

	snprintf(name, sizeof(name), "cruise-demo-%d", (int)demo);
	assert_int_equal(cruise_cgroup2_root(cg_root, sizeof(cg_root)), 0);
	assert_int_equal(count_named("/sys/fs/bpf", name), 0);
	assert_int_equal(count_named(cg_root, name), 0);
	assert_int_equal(count_named("/tmp", name), 0);
}

/*
 * The mean CONN/S of a medium's top lines after the marker line (NULL: from the start) and before
 * the next "demo: $" line; lines[0] counts them. Columns: TIME MEDIUM RATE ... CONN/S is the 10th.
 */
static double mean_rate(const char *text, const char *after, const char *medium, const char *rate,
			int *lines)
{
	const char *p = after ? strstr(text, after) : text;
	double sum = 0;

	*lines = 0;
	if (!p)
		return 0;
	p = strchr(p, '\n');
	for (; p && *p; p = strchr(p, '\n')) {
		char t[16], m[32], r[16], col[7][32];
		double conn;

		p++;
		if (!strncmp(p, "demo: $", 7))
			break;
		if (sscanf(p, "%15s %31s %15s %31s %31s %31s %31s %31s %31s %lf", t, m, r, col[0],
			   col[1], col[2], col[3], col[4], col[5], &conn) != 10)
			continue;
		if (strcmp(m, medium) || strcmp(r, rate))
			continue;
		/* the first line of a phase straddles the change */
		if ((*lines)++ == 0)
			continue;
		sum += conn;
	}
	return *lines > 1 ? sum / (*lines - 1) : 0;
}

/* The plot's file BASE.EXT, which must be there and non-empty: its text (to its first NUL). */
static char *plot_file(const char *ext)
{
	char path[96];
	struct stat st;
	char *text;

	snprintf(path, sizeof(path), "%s.%s", plot_base, ext);
	if (stat(path, &st) || st.st_size == 0)
		fail_msg("no plot at %s", path);
	text = th_slurp(path);
	unlink(path);
	return text;
}

static void assert_plot(void)
{
	static const char *const series[] = { "push connections/s", "push rate",
					      "email connections/s", "email rate" };
	char *png = plot_file("png"), *svg = plot_file("svg");
	size_t i;

	assert_memory_equal(png, "\x89PNG", 4);
	for (i = 0; i < sizeof(series) / sizeof(series[0]); i++)
		if (!strstr(svg, series[i]))
			fail_msg("the plot's SVG has no series \"%s\"", series[i]);
	assert_non_null(strstr(svg, "cruisectl set email rate=40/s"));
	free(png);
	free(svg);
}

/* 1. A whole run: each group at its rate once enforced, the midway change shown, all removed. */
static void test_demo_runs(void **state)
{
	const char *marker_on = "demo: $ cruisectl set push dry_run=off";
	const char *marker_set = "demo: $ cruisectl set email rate=40/s";
	pid_t pid = demo_start("20");
	double push, email, email_after;
	int st = th_wait_exit(pid, 90000), n_push, n_email, n_after;
	char *text = th_slurp(out_path);

	(void)state;
	assert_non_null(text);
	push = mean_rate(text, marker_on, "push", "100/s", &n_push);
	email = mean_rate(text, marker_on, "email", "10/s", &n_email);
	email_after = mean_rate(text, marker_set, "email", "40/s", &n_after);
	print_message("demo: push %.1f/s over %d lines (100/s), email %.1f/s over %d (10/s), "
		      "then %.1f/s over %d (40/s)\n",
		      push, n_push, email, n_email, email_after, n_after);
	if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
		print_message("%s", text);
	assert_true(st >= 0 && WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(text, "demo: cleaned up"));
	assert_true(n_push >= 3 && n_email >= 3 && n_after >= 3);
	assert_true(fabs(push - 100) <= 100 * DEMO_TOL);
	assert_true(fabs(email - 10) <= 10 * DEMO_TOL);
	assert_true(fabs(email_after - 40) <= 40 * DEMO_TOL);
	assert_non_null(strstr(text, "demo: plot in "));
	assert_plot();
	free(text);
	assert_nothing_left(pid);
}

/* 2. Ctrl-C midway: the demo stops at once and still removes everything it made. */
static void test_demo_ctrl_c(void **state)
{
	pid_t pid = demo_start("60");
	__u64 deadline = cruise_now_ns() + 30 * 1000000000ULL, t0;
	char *text = NULL;
	int st;

	(void)state;
	/* interrupt once it shows the table */
	while (cruise_now_ns() < deadline) {
		free(text);
		text = th_slurp(out_path);
		assert_non_null(text);
		if (strstr(text, "CONN/S"))
			break;
		usleep(20000);
	}
	assert_non_null(strstr(text, "CONN/S"));
	free(text);
	t0 = cruise_now_ns();
	kill(-pid, SIGINT);
	st = th_wait_exit(pid, 20000);
	print_message("demo: ended %.2f s after SIGINT\n",
		      (double)(cruise_now_ns() - t0) / 1000000000ULL);
	text = th_slurp(out_path);
	assert_non_null(text);
	assert_true(st >= 0 && WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 130);
	assert_non_null(strstr(text, "demo: cleaned up"));
	free(text);
	assert_nothing_left(pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_runs),
		cmocka_unit_test(test_demo_ctrl_c),
	};
	char agent[PATH_MAX];
	int ret;

	/* the demo runs the binaries beside this test, from the scripts/ of this tree */
	if (th_find_beside("CRUISE_AGENT", "cruise-agent", agent, sizeof(agent)) ||
	    th_find_beside("CRUISE_DEMO_SH", "../scripts/demo.sh", demo_sh, sizeof(demo_sh))) {
		fprintf(stderr, "test_demo: cruise-agent or scripts/demo.sh not found\n");
		return 1;
	}
	snprintf(bin_dir, sizeof(bin_dir), "%s", dirname(agent));
	snprintf(out_path, sizeof(out_path), "/tmp/cruise-test-demo-%d.out", (int)getpid());
	snprintf(plot_base, sizeof(plot_base), "/tmp/cruise-test-demo-%d-plot", (int)getpid());
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(out_path);
	snprintf(agent, sizeof(agent), "%s.png", plot_base);
	unlink(agent);
	snprintf(agent, sizeof(agent), "%s.svg", plot_base);
	unlink(agent);
	return ret;
}
