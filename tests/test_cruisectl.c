// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cruisectl, the real binary, run as a separate process against the real programs loaded and
 * attached by the fixture (maps pinned under a fresh directory, passed with --pin-dir): a rate set
 * with it is the rate clients get; status figures are the clients' own counts; every bad input is
 * refused with one line and leaves cruise_media byte for byte as it was; bindings, targets, top
 * (on a pipe and on a pseudo-terminal, whose settings it must give back), events; and bpftool
 * printing every dumpable map with its field names.
 *
 * The binary is found beside this test (.output/cruisectl), or at $CRUISECTL.
 * Run as root: it loads BPF programs, creates cgroups and mounts bpffs when it is missing.
 *
 * Over 600 lines: every cruisectl command as a separate process, against one fixture.
 */
#define _GNU_SOURCE /* execveat, posix_openpt */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <hiredis/hiredis.h>

#include "cruise.h"
#include "cruise_target.h"
#include "fleet_lua.h" /* the allocator script, as the agent loads it (.output) */
#include "helpers.h"
#include "loader.h"

#define RATE_TOL       0.02		   /* an achieved rate is within 2% of the configured one */
#define CTL_TIMEOUT_NS (30 * NSEC_PER_SEC) /* no cruisectl run of these tests takes longer */
#define OUT_MAX	       (1024 * 1024)	   /* 2,000 bindings as JSON are about 250 KB */
#define NOBODY	       65534
#define NOTHING_HERE   "/sys/fs/bpf/cruise-test-nothing-here" /* never created */

static char ctl_path[PATH_MAX];
/* a pin directory with nothing in it, made by a test; removed by the teardown, also on failure */
static char empty_dir[PATH_MAX];

/* running cruisectl (or bpftool) */

struct ctl {
	pid_t pid;
	int out_fd, err_fd;
	char out[OUT_MAX], err[OUT_MAX];
	size_t out_n, err_n;
	int status; /* exit code; 128 + signal when killed */
};

enum ctl_flags {
	CTL_AS_NOBODY = 1 << 0, /* drop to uid/gid 65534 before exec */
	CTL_PROGRAM = 1 << 1,	/* args[0] is the program (from PATH), not cruisectl's first arg */
};

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Start cruisectl --pin-dir pin_dir args... (no --pin-dir when pin_dir is NULL). */
static int ctl_spawn(struct ctl *c, const char *pin_dir, const char *const *args, unsigned flags)
{
	const char *argv[64];
	int out[2], err[2], n = 0, exe = -1;

	memset(c, 0, sizeof(*c));
	if (!(flags & CTL_PROGRAM)) {
		argv[n++] = ctl_path;
		if (pin_dir) {
			argv[n++] = "--pin-dir";
			argv[n++] = pin_dir;
		}
	}
	for (int i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	/* opened as root: nobody may not search the directories on the way to the binary */
	if (flags & CTL_AS_NOBODY) {
		exe = open(ctl_path, O_RDONLY | O_CLOEXEC);
		if (exe < 0)
			return -errno;
	}
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (!c->pid) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		if (flags & CTL_AS_NOBODY) {
			if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
			    setresuid(NOBODY, NOBODY, NOBODY))
				_exit(126);
			execveat(exe, "", (char *const *)argv, environ, AT_EMPTY_PATH);
		} else if (flags & CTL_PROGRAM) {
			execvp(argv[0], (char *const *)argv);
		} else {
			execv(argv[0], (char *const *)argv);
		}
		_exit(127);
	}
	if (exe >= 0)
		close(exe);
	close(out[1]);
	close(err[1]);
	c->out_fd = out[0];
	c->err_fd = err[0];
	return 0;
}

/* Collect the output until the process exits; killed after CTL_TIMEOUT_NS. Returns the status. */
static int ctl_wait(struct ctl *c)
{
	__u64 deadline = cruise_now_ns() + CTL_TIMEOUT_NS;
	struct pollfd p[2] = { { .fd = c->out_fd, .events = POLLIN },
			       { .fd = c->err_fd, .events = POLLIN } };
	int st;

	while ((p[0].fd >= 0 || p[1].fd >= 0) && cruise_now_ns() < deadline) {
		if (poll(p, 2, 100) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			char *buf = i ? c->err : c->out;
			size_t *n = i ? &c->err_n : &c->out_n;
			ssize_t r;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			r = read(p[i].fd, buf + *n, OUT_MAX - 1 - *n);
			if (r <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				continue;
			}
			*n += r;
		}
	}
	for (int i = 0; i < 2; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	if (cruise_now_ns() >= deadline)
		kill(c->pid, SIGKILL);
	c->out[c->out_n] = c->err[c->err_n] = '\0';
	if (waitpid(c->pid, &st, 0) < 0)
		return c->status = -1;
	c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return c->status;
}

static int ctl_run(struct ctl *c, const char *pin_dir, const char *const *args, unsigned flags)
{
	int err = ctl_spawn(c, pin_dir, args, flags);

	assert_int_equal(err, 0);
	return ctl_wait(c);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The line of s that contains every one of the NULL-terminated needles, copied into buf. */
static bool find_line(const char *s, char *buf, size_t len, const char *const *needles)
{
	while (*s) {
		const char *end = strchrnul(s, '\n');
		size_t n = (size_t)(end - s) < len - 1 ? (size_t)(end - s) : len - 1;
		bool all = true;

		memcpy(buf, s, n);
		buf[n] = '\0';
		for (int i = 0; needles[i] && all; i++)
			all = strstr(buf, needles[i]) != NULL;
		if (all)
			return true;
		s = *end ? end + 1 : end;
	}
	return false;
}

/* Whitespace-separated fields of a line. */
static int count_fields(const char *line)
{
	int n = 0;

	for (const char *p = line; *p; p++)
		n += !isspace((unsigned char)*p) && (p == line || isspace((unsigned char)p[-1]));
	return n;
}

/* a strict JSON validator (RFC 8259), enough to say "one JSON document" */

static const char *js_value(const char *p, int depth);

static const char *js_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *js_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		if (!*p || (unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)p[i]))
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
		p++;
	}
	return p + 1;
}

static const char *js_digits(const char *p)
{
	if (!isdigit((unsigned char)*p))
		return NULL;
	while (isdigit((unsigned char)*p))
		p++;
	return p;
}

static const char *js_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (!(p = js_digits(p)))
		return NULL;
	if (*p == '.' && !(p = js_digits(p + 1)))
		return NULL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		p = js_digits(p);
	}
	return p;
}

/* members of an object (pairs) or elements of an array, up to close */
static const char *js_items(const char *p, int depth, char close, bool pairs)
{
	p = js_ws(p);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (pairs) {
			p = js_string(js_ws(p));
			if (!p)
				return NULL;
			p = js_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		p = js_value(p, depth + 1);
		if (!p)
			return NULL;
		p = js_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *js_value(const char *p, int depth)
{
	static const char *const words[] = { "true", "false", "null" };

	p = js_ws(p);
	if (depth > 32)
		return NULL;
	if (*p == '{')
		return js_items(p + 1, depth, '}', true);
	if (*p == '[')
		return js_items(p + 1, depth, ']', false);
	if (*p == '"')
		return js_string(p);
	for (int i = 0; i < 3; i++)
		if (!strncmp(p, words[i], strlen(words[i])))
			return p + strlen(words[i]);
	return js_number(p);
}

static bool json_valid(const char *s)
{
	const char *end = js_value(s, 0);

	return end && !*js_ws(end);
}

/*
 * The number under key in the innermost object of doc that contains needle (our documents hold
 * no braces inside strings); -1 when absent.
 */
static long long json_num_near(const char *doc, const char *needle, const char *key)
{
	const char *at = strstr(doc, needle), *start = NULL, *end, *k;
	char pat[64];
	int depth = 0;

	if (!at)
		return -1;
	for (const char *p = at; p >= doc && !start; p--) {
		if (*p == '}')
			depth++;
		else if (*p == '{' && !depth--)
			start = p;
	}
	if (!start)
		return -1;
	for (end = start + 1, depth = 0; *end && (*end != '}' || depth); end++)
		depth += (*end == '{') - (*end == '}');
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	for (k = strstr(start, pat); k && k < end; k = strstr(k + 1, pat)) {
		/* a key of this object, not of a nested one */
		int d = 0;

		for (const char *p = start + 1; p < k; p++)
			d += (*p == '{') - (*p == '}');
		if (!d)
			return strtoll(k + strlen(pat), NULL, 10);
	}
	return -1;
}

/* fixtures */

static int env_setup(void **state)
{
	*state = th_env_new();
	return *state ? 0 : -1;
}

/* Runs even when the test failed: cgroups, pins and links go. */
static int env_teardown(void **state)
{
	struct th_env *e = *state;

	if (empty_dir[0])
		rmdir(empty_dir);
	empty_dir[0] = '\0';
	th_env_free(e);
	return 0;
}

/* Every entry of cruise_media. */
static void read_media(struct th_env *e, struct cruise_medium *all)
{
	for (__u32 i = 0; i < CRUISE_MAX_MEDIA; i++)
		assert_int_equal(cruise_maps_get_medium(&e->h->maps, i, &all[i]), 0);
}

static void read_state(struct th_env *e, __u32 medium, struct cruise_medium_state *st)
{
	assert_int_equal(cruise_maps_state(&e->h->maps, medium, st), 0);
}

static int max_per_worker(double rate, __u64 duration_ns, int workers)
{
	return (int)(2 * rate * duration_ns / NSEC_PER_SEC / workers) + 8;
}

/* The cgroup's path as cruisectl shows it: relative to the cgroup2 mount. */
static const char *rel_path(const struct th_cgroup *cg)
{
	static char root[PATH_MAX];

	assert_int_equal(cruise_cgroup2_root(root, sizeof(root)), 0);
	assert_true(!strncmp(cg->path, root, strlen(root)));
	return cg->path + strlen(root);
}

static double rel_err(double got, double want)
{
	return (got - want) / want;
}

/* 1. Help for the tool and every command, with examples; no maps needed. */
static void test_help(void **state)
{
	static const char *const cmds[] = {
		"status", "top", "set", "bindings", "targets", "events"
	};
	struct ctl *c = malloc(sizeof(*c));
	char usage[64];

	(void)state;
	assert_non_null(c);
	assert_int_equal(ctl_run(c, NULL, ARGS("--help"), 0), 0);
	assert_non_null(strstr(c->out, "EXAMPLES"));
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		assert_non_null(strstr(c->out, cmds[i]));
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		assert_int_equal(ctl_run(c, NULL, ARGS(cmds[i], "--help"), 0), 0);
		snprintf(usage, sizeof(usage), "Usage: cruisectl %s", cmds[i]);
		assert_non_null(strstr(c->out, usage));
		assert_non_null(strstr(c->out, "EXAMPLES"));
		assert_non_null(strstr(c->out, "--pin-dir"));
	}
	assert_int_equal(ctl_run(c, NULL, ARGS("events", "--help"), 0), 0);
	assert_non_null(strstr(c->out, "one consumer"));
	/* fleet reads the store, not the maps */
	assert_int_equal(ctl_run(c, NULL, ARGS("--help"), 0), 0);
	assert_non_null(strstr(c->out, "fleet"));
	assert_int_equal(ctl_run(c, NULL, ARGS("fleet", "--help"), 0), 0);
	assert_non_null(strstr(c->out, "Usage: cruisectl fleet"));
	assert_non_null(strstr(c->out, "EXAMPLES"));
	assert_non_null(strstr(c->out, "--redis"));
	assert_non_null(strstr(c->out, "--password-file"));
	free(c);
}

/* 2. A rate set with cruisectl is the rate clients get; the medium's state is kept. */
static void test_set_rate(void **state)
{
	struct th_env *e = *state;
	struct cruise_medium_state st0, st1;
	struct cruise_medium before[CRUISE_MAX_MEDIA], after[CRUISE_MAX_MEDIA];
	struct ctl *c = malloc(sizeof(*c));
	double rate0 = 50, rate1 = 200, got;
	char line[512];
	struct th_cgroup cg;
	struct th_run r;
	struct th_run_opts o = {
		.addr = "127.0.0.1",
		.port = e->l4.port,
		.workers = 2,
		.duration_ns = NSEC_PER_SEC,
	};

	assert_non_null(c);
	assert_int_equal(th_env_worker_cgroup(e, &cg, NULL, 0), 0);
	assert_int_equal(th_env_medium(e, 0, rate0, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	o.cgroup = cg.path;

	/* traffic at the old rate first, so that the state to keep is a real schedule */
	o.max_per_worker = max_per_worker(rate0, o.duration_ns, o.workers);
	assert_int_equal(th_run_clients(&o, &r), 0);
	printf("  before: %d connects at %.2f/s (configured %.0f/s)\n", r.n, th_run_rate(&r),
	       rate0);
	assert_int_equal(r.failed, 0);
	th_run_free(&r);

	read_media(e, before);
	read_state(e, 0, &st0);
	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("set", "medium0", "rate=200/s"), 0), 0);
	read_state(e, 0, &st1);
	read_media(e, after);
	printf("  cruisectl set: %s", c->out);
	assert_true(find_line(c->out, line, sizeof(line), ARGS("rate", "50/s -> 200/s")));
	assert_true(find_line(c->out, line, sizeof(line), ARGS("burst", "unchanged")));
	assert_int_equal(count_lines(c->err), 1);
	assert_non_null(strstr(c->err, "agent reload"));

	/* one entry changed, in one field; the state as it was */
	assert_int_equal(after[0].interval_ns, 5 * NSEC_PER_MSEC);
	after[0].interval_ns = before[0].interval_ns;
	assert_memory_equal(before, after, sizeof(before));
	assert_memory_equal(&st0, &st1, sizeof(st0));

	o.duration_ns = 2 * NSEC_PER_SEC;
	o.max_per_worker = max_per_worker(rate1, o.duration_ns, o.workers);
	assert_int_equal(th_run_clients(&o, &r), 0);
	got = th_run_rate(&r);
	printf("  after: %d connects, %d failed, achieved %.3f/s (%+.3f%% of %.0f/s)\n", r.n,
	       r.failed, got, 100 * rel_err(got, rate1), rate1);
	assert_int_equal(r.failed, 0);
	assert_true(fabs(rel_err(got, rate1)) <= RATE_TOL);
	th_run_free(&r);
	free(c);
}

/* 3. Every key of set lands in its field, and only there. */
static void test_set_fields(void **state)
{
	struct th_env *e = *state;
	struct cruise_medium before[CRUISE_MAX_MEDIA], after[CRUISE_MAX_MEDIA], want;
	struct ctl *c = malloc(sizeof(*c));

	assert_non_null(c);
	assert_int_equal(th_env_medium(e, 0, 100, 3, NSEC_PER_SEC, 0, ETIMEDOUT, 0), 0);
	assert_int_equal(th_env_medium(e, 1, 100, 3, NSEC_PER_SEC, 0, 0, 0), 0);
	read_media(e, before);
	assert_int_equal(ctl_run(c, e->pin_dir,
				 ARGS("set", "medium0", "burst=5", "max_wait=2s", "max_conns=10",
				      "dry_run=on", "rate=30/m"),
				 0),
			 0);
	printf("%s", c->out);
	read_media(e, after);
	want = before[0];
	want.interval_ns = 2 * NSEC_PER_SEC;
	want.burst = 5;
	want.max_wait_ns = 2 * NSEC_PER_SEC;
	want.max_conns = 10;
	want.flags |= CRUISE_MEDIUM_DRY_RUN;
	assert_memory_equal(&after[0], &want, sizeof(want));
	assert_memory_equal(&after[1], &before[1], sizeof(before) - sizeof(before[0]));

	/* and back; --pin-dir after the command works as well */
	assert_int_equal(ctl_run(c, NULL,
				 ARGS("set", "medium0", "dry_run=off", "max_conns=0", "--pin-dir",
				      e->pin_dir),
				 0),
			 0);
	read_media(e, after);
	want.flags &= ~CRUISE_MEDIUM_DRY_RUN;
	want.max_conns = 0;
	assert_memory_equal(&after[0], &want, sizeof(want));
	assert_true(after[0].flags & CRUISE_MEDIUM_ACTIVE);
	free(c);
}

/* 4. status -o json: one JSON document whose figures are the clients' own counts. */
static void test_status_json(void **state)
{
	struct th_env *e = *state;
	struct ctl *c = malloc(sizeof(*c));
	struct th_cgroup cg0, cg1;
	struct th_run r0, r1;
	char line[512];
	struct th_run_opts o0 = {
		.addr = "127.0.0.1",
		.port = e->l4.port,
		.workers = 4,
		.duration_ns = NSEC_PER_SEC,
		.max_per_worker = 200,
	};
	struct th_run_opts o1 = {
		.addr = "::1",
		.port = e->l6.port,
		.workers = 4,
		.duration_ns = NSEC_PER_SEC,
		.max_per_worker = 200,
		.hold_open_ns = 100 * NSEC_PER_MSEC,
	};

	assert_non_null(c);
	/* medium0 refuses past max_wait, medium1 past max_conns */
	assert_int_equal(th_env_worker_cgroup(e, &cg0, NULL, 0), 0);
	assert_int_equal(th_env_medium(e, 0, 50, 0, 30 * NSEC_PER_MSEC, 0, 0, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cg1, NULL, 1), 0);
	assert_int_equal(th_env_medium(e, 1, 1000, 10, NSEC_PER_SEC, 2, 0, 0), 0);
	o0.cgroup = cg0.path;
	o1.cgroup = cg1.path;
	assert_int_equal(th_run_clients(&o0, &r0), 0);
	assert_int_equal(th_run_clients(&o1, &r1), 0);
	printf("  clients: medium0 %d connects, %d refused; medium1 %d connects, %d refused\n",
	       r0.n, r0.failed, r1.n, r1.failed);
	assert_true(r0.failed > 0 && r0.ok > 0);
	assert_true(r1.failed > 0 && r1.ok > 0);
	for (int i = 0; i < r0.n; i++)
		assert_true(!r0.conns[i].err || r0.conns[i].err == ECONNREFUSED);
	for (int i = 0; i < r1.n; i++)
		assert_true(!r1.conns[i].err || r1.conns[i].err == ECONNREFUSED);

	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("status", "-o", "json"), 0), 0);
	printf("  %s", c->out);
	assert_int_equal(count_lines(c->out), 1);
	assert_true(json_valid(c->out));
	assert_int_equal(json_num_near(c->out, "\"name\":\"medium0\"", "connections"), r0.n);
	assert_int_equal(json_num_near(c->out, "\"name\":\"medium0\"", "refused_max_wait"),
			 r0.failed);
	assert_int_equal(json_num_near(c->out, "\"name\":\"medium0\"", "refused_max_conns"), 0);
	assert_int_equal(json_num_near(c->out, "\"name\":\"medium0\"", "admitted_now") +
				 json_num_near(c->out, "\"name\":\"medium0\"", "delayed"),
			 r0.ok);
	assert_int_equal(json_num_near(c->out, "\"name\":\"medium0\"", "interval_ns"),
			 20 * NSEC_PER_MSEC);
	assert_int_equal(json_num_near(c->out, "\"name\":\"medium1\"", "connections"), r1.n);
	assert_int_equal(json_num_near(c->out, "\"name\":\"medium1\"", "refused_max_conns"),
			 r1.failed);
	assert_int_equal(json_num_near(c->out, "\"name\":\"medium1\"", "refused_max_wait"), 0);
	assert_int_equal(json_num_near(c->out, "\"name\":\"medium1\"", "max_conns"), 2);
	assert_non_null(strstr(c->out, "\"rate\":\"50/s\""));

	/* the text table: a header and a row per medium with the same counts */
	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("status"), 0), 0);
	printf("%s", c->out);
	assert_true(!strncmp(c->out, "MEDIUM", 6));
	snprintf(line, sizeof(line), " %d ", r0.n);
	assert_true(find_line(c->out, line, sizeof(line), ARGS("medium0 ", "50/s", " 30ms ")));
	assert_int_equal(count_lines(c->out), 3);
	th_run_free(&r0);
	th_run_free(&r1);
	free(c);
}

/* 5. Bad input: one line on stderr, a non-zero exit, and cruise_media exactly as it was. */
static void test_bad_input(void **state)
{
	struct th_env *e = *state;
	struct cruise_medium before[CRUISE_MAX_MEDIA], after[CRUISE_MAX_MEDIA];
	struct ctl *c = malloc(sizeof(*c));
	char name[64];
	const struct {
		const char *const *args;
		const char *pin_dir; /* NULL: the fixture's */
		unsigned flags;
		const char *says;
	} cases[] = {
		{ ARGS("set", "nosuch", "rate=10/s"), NULL, 0, "unknown medium \"nosuch\"" },
		{ ARGS("set", "medium0", "rate=10/x"), NULL, 0, "bad rate" },
		{ ARGS("set", "medium0", "rate=0/s"), NULL, 0, "rate must be above 0" },
		{ ARGS("set", "medium0", "rate=fast"), NULL, 0, "bad rate" },
		{ ARGS("set", "medium0", "rate=10/s\nx"), NULL, 0, "bad rate" },
		{ ARGS("set", "medium0", "max_wait=3m"), NULL, 0, "above the maximum, 120s" },
		{ ARGS("set", "medium0", "max_wait=2"), NULL, 0, "bad duration" },
		{ ARGS("set", "medium0", "max_wait=2 s"), NULL, 0, "bad duration" },
		{ ARGS("set", "medium0", "burst=1000001"), NULL, 0, "above the maximum" },
		{ ARGS("set", "medium0", "max_conns=4294967296"), NULL, 0, "above the maximum" },
		{ ARGS("set", "medium0", "max_conns=-1"), NULL, 0, "bad count" },
		{ ARGS("set", "medium0", "dry_run=maybe"), NULL, 0, "bad boolean" },
		{ ARGS("set", "medium0", "foo=1"), NULL, 0, "unknown key \"foo\"" },
		{ ARGS("set", "medium0", "f\noo=1"), NULL, 0, "unknown key" },
		{ ARGS("set", "medium0", "rate=10/s", "rate=20/s"), NULL, 0, "rate given twice" },
		{ ARGS("set", "medium0", "rate=10/s", "burst"), NULL, 0, "expected KEY=VALUE" },
		/* the good first key is not written either */
		{ ARGS("set", "medium0", "rate=10/s", "burst=x"), NULL, 0, "bad count" },
		{ ARGS("set", "medium0"), NULL, 0, "nothing to set" },
		{ ARGS("set", "medium0", "rate=10/s"), NOTHING_HERE, 0,
		  "cruise is not loaded: no maps pinned under " NOTHING_HERE },
		{ ARGS("set", "medium0", "rate=10/s"), empty_dir, 0, "cruise is not loaded" },
		{ ARGS("status"), empty_dir, 0, "cruise is not loaded" },
		{ ARGS("set", "medium0", "rate=10/s"), NULL, CTL_AS_NOBODY,
		  "cruisectl: must run as root (the maps are pinned mode 0600)" },
		{ ARGS("status"), NULL, CTL_AS_NOBODY, "must run as root" },
		{ ARGS("events", "--count", "1"), NULL, CTL_AS_NOBODY, "must run as root" },
	};

	assert_non_null(c);
	th_unique_name(name, sizeof(name), "cruise-test-empty");
	snprintf(empty_dir, sizeof(empty_dir), "/sys/fs/bpf/%s", name);
	assert_int_equal(mkdir(empty_dir, 0700), 0);
	assert_int_equal(th_env_medium(e, 0, 100, 3, NSEC_PER_SEC, 7, 0, 0), 0);
	assert_int_equal(th_env_medium(e, 1, 20, 0, 2 * NSEC_PER_SEC, 0, 0, 0), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		read_media(e, before);
		rc = ctl_run(c, cases[i].pin_dir ? cases[i].pin_dir : e->pin_dir, cases[i].args,
			     cases[i].flags);
		read_media(e, after);
		printf("  %s %s %s: exit %d: %s", cases[i].args[0],
		       cases[i].args[1] ? cases[i].args[1] : "",
		       cases[i].args[1] && cases[i].args[2] ? cases[i].args[2] : "", rc, c->err);
		assert_true(rc != 0 && rc < 128);
		assert_int_equal(count_lines(c->err), 1);
		assert_true(!strncmp(c->err, "cruisectl: ", 11));
		assert_non_null(strstr(c->err, cases[i].says));
		assert_int_equal(c->out_n, 0);
		assert_memory_equal(before, after, sizeof(before));
	}
	free(c);
}

/* 6. bindings: the worker cgroup's path; a removed cgroup marked (gone). */
static void test_bindings(void **state)
{
	struct th_env *e = *state;
	struct ctl *c = malloc(sizeof(*c));
	struct th_cgroup cg, gone;
	char id[32], line[1024], rel[PATH_MAX];

	assert_non_null(c);
	assert_int_equal(th_env_medium(e, 0, 100, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	assert_int_equal(th_env_medium(e, 1, 100, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cg, NULL, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &gone, NULL, 1), 0);
	snprintf(id, sizeof(id), "%llu ", (unsigned long long)gone.id);
	snprintf(rel, sizeof(rel), "%s", rel_path(&gone));

	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("bindings"), 0), 0);
	printf("%s", c->out);
	assert_true(find_line(c->out, line, sizeof(line), ARGS("medium0", rel_path(&cg))));
	assert_true(find_line(c->out, line, sizeof(line), ARGS(id, "medium1", rel)));
	assert_null(strstr(c->out, "(gone)"));

	assert_int_equal(th_cgroup_remove(&gone), 0);
	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("bindings"), 0), 0);
	printf("%s", c->out);
	assert_true(find_line(c->out, line, sizeof(line), ARGS("medium0", rel_path(&cg))));
	assert_true(find_line(c->out, line, sizeof(line), ARGS(id, "medium1", "(gone)")));
	assert_false(find_line(c->out, line, sizeof(line), ARGS(rel_path(&cg), "(gone)")));

	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("bindings", "-o", "json"), 0), 0);
	printf("%s", c->out);
	assert_true(json_valid(c->out));
	assert_non_null(strstr(c->out, "\"path\":null,\"gone\":true"));
	assert_non_null(strstr(c->out, "\"gone\":false"));
	free(c);
}

/* 6b. bindings of many cgroups: 20 groups of 100 under the scope, every other one on medium1 */
#define MANY_GROUPS    20
#define MANY_PER_GROUP 100
#define MANY	       (MANY_GROUPS * MANY_PER_GROUP)

struct many_cg {
	__u64 id;
	int medium;
	bool seen;
	char rel[128]; /* relative to the cgroup2 mount, as cruisectl shows it */
};

static int many_cmp(const void *x, const void *y)
{
	const struct many_cg *a = x, *b = y;

	return a->id < b->id ? -1 : a->id > b->id;
}

/* One binding listed: a cgroup of ours, on its medium, at its path, and not listed before. */
static void many_check(struct many_cg *all, __u64 id, const char *medium, const char *path)
{
	struct many_cg key = { .id = id }, *cg = bsearch(&key, all, MANY, sizeof(*all), many_cmp);
	char want[32];

	assert_non_null(cg);
	snprintf(want, sizeof(want), "medium%d", cg->medium);
	assert_string_equal(medium, want);
	assert_string_equal(path, cg->rel);
	assert_false(cg->seen);
	cg->seen = true;
}

static void many_all_seen(struct many_cg *all)
{
	for (int i = 0; i < MANY; i++) {
		assert_true(all[i].seen);
		all[i].seen = false;
	}
}

static double ctl_timed(struct ctl *c, struct th_env *e, const char *const *args)
{
	__u64 t0 = cruise_now_ns();

	assert_int_equal(ctl_run(c, e->pin_dir, args, 0), 0);
	assert_true(c->out_n < OUT_MAX - 1); /* all of it */
	return (double)(cruise_now_ns() - t0) / NSEC_PER_SEC;
}

/*
 * Every one of 2,000 bindings listed once with its own path, as text and as JSON (cruisectl
 * resolves them in one walk of the cgroup tree). The cgroups are real, under the scope, which
 * env_teardown removes whole, children first, also when an assertion failed here; the maps that
 * hold the bindings are unpinned and destroyed with it. The time is printed, not asserted.
 */
static void test_bindings_many(void **state)
{
	struct th_env *e = *state;
	struct many_cg *all = calloc(MANY, sizeof(*all));
	struct ctl *c = malloc(sizeof(*c));
	struct th_cgroup top, group, cg;
	char name[32], medium[64], path[PATH_MAX];
	unsigned long long id;
	double text_s, json_s;
	const char *p;
	int n = 0;

	assert_non_null(all);
	assert_non_null(c);
	assert_int_equal(th_env_medium(e, 0, 100, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	assert_int_equal(th_env_medium(e, 1, 100, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	assert_int_equal(th_cgroup_create(&top, &e->scope, "many"), 0);
	for (int g = 0; g < MANY_GROUPS; g++) {
		snprintf(name, sizeof(name), "g%02d", g);
		assert_int_equal(th_cgroup_create(&group, &top, name), 0);
		for (int k = 0; k < MANY_PER_GROUP; k++, n++) {
			snprintf(name, sizeof(name), "c%03d", k);
			assert_int_equal(th_cgroup_create(&cg, &group, name), 0);
			all[n].id = cg.id;
			all[n].medium = n % 2;
			snprintf(all[n].rel, sizeof(all[n].rel), "%s", rel_path(&cg));
			assert_int_equal(cruise_maps_bind(&e->h->maps, cg.id, all[n].medium), 0);
		}
	}
	qsort(all, MANY, sizeof(*all), many_cmp);

	text_s = ctl_timed(c, e, ARGS("bindings"));
	assert_int_equal(count_lines(c->out), MANY + 1);
	p = strchr(c->out, '\n') + 1; /* past the header */
	for (int i = 0; i < MANY; i++, p = strchr(p, '\n') + 1) {
		assert_int_equal(sscanf(p, "%llu %63s %4095s", &id, medium, path), 3);
		many_check(all, id, medium, path);
	}
	many_all_seen(all);

	json_s = ctl_timed(c, e, ARGS("bindings", "-o", "json"));
	assert_true(json_valid(c->out));
	n = 0;
	for (p = c->out; (p = strstr(p, "{\"cgroup_id\":")); p++, n++) {
		assert_int_equal(sscanf(p,
					"{\"cgroup_id\":%llu,\"medium_index\":%*u,\"medium\":\""
					"%63[^\"]\",\"path\":\"%4095[^\"]\",\"gone\":false}",
					&id, medium, path),
				 3);
		many_check(all, id, medium, path);
	}
	assert_int_equal(n, MANY);
	many_all_seen(all);
	printf("  bindings of %d cgroups: text %.3f s, json %.3f s\n", MANY, text_s, json_s);
	free(c);
	free(all);
}

/* 7. targets: the fixture's listeners, and prefixes, IPv4 shown as IPv4. */
static void test_targets(void **state)
{
	struct th_env *e = *state;
	struct ctl *c = malloc(sizeof(*c));
	char p4[16], p6[16], line[512];

	assert_non_null(c);
	assert_int_equal(th_env_target(e, "10.1.0.0", 16, 5432, 2), 0);
	assert_int_equal(th_env_target(e, "fd00::", 8, 5433, 3), 0);
	snprintf(p4, sizeof(p4), " %u", e->l4.port);
	snprintf(p6, sizeof(p6), " %u", e->l6.port);
	assert_int_equal(ctl_run(c, NULL, ARGS("targets", "--pin-dir", e->pin_dir), 0), 0);
	printf("%s", c->out);
	assert_int_equal(count_lines(c->out), 5);
	assert_true(find_line(c->out, line, sizeof(line), ARGS(" 127.0.0.1/32 ", p4)));
	assert_true(find_line(c->out, line, sizeof(line), ARGS(" ::1/128 ", p6)));
	assert_true(find_line(c->out, line, sizeof(line), ARGS(" 10.1.0.0/16 ", " 5432")));
	assert_true(find_line(c->out, line, sizeof(line), ARGS(" fd00::/8 ", " 5433")));
	assert_null(strstr(c->out, "ffff"));

	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("targets", "-o", "json"), 0), 0);
	printf("%s", c->out);
	assert_true(json_valid(c->out));
	assert_non_null(strstr(c->out, "\"family\":\"ipv4\",\"address\":\"127.0.0.1\","
				       "\"prefix_len\":32"));
	free(c);
}

/* The value of column col (0-based) of the row for medium in the frame starting at s. */
static double column_of(const char *row, int col)
{
	char buf[512], *tok, *save;
	int i = 0;

	snprintf(buf, sizeof(buf), "%s", row);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save), i++)
		if (i == col)
			return atof(tok);
	return -1;
}

/* 8. top on a pipe: plain lines, no escape codes, N refreshes, rates per second. */
static void test_top_pipe(void **state)
{
	struct th_env *e = *state;
	struct ctl *c = malloc(sizeof(*c));
	struct th_cgroup cg;
	struct th_run r;
	const char *p, *rows[4];
	int n_rows = 0, header_fields;
	char header[512];
	__u64 t0;
	struct th_run_opts o = {
		.addr = "127.0.0.1",
		.port = e->l4.port,
		.workers = 2,
		.duration_ns = 3 * NSEC_PER_SEC,
	};

	assert_non_null(c);
	assert_int_equal(th_env_worker_cgroup(e, &cg, NULL, 0), 0);
	assert_int_equal(th_env_medium(e, 0, 100, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	assert_int_equal(th_env_medium(e, 1, 10, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	o.cgroup = cg.path;
	o.max_per_worker = max_per_worker(100, o.duration_ns, o.workers);

	/* clients at 100/s through both refreshes */
	t0 = cruise_now_ns();
	assert_int_equal(ctl_spawn(c, e->pin_dir, ARGS("top", "-n", "2"), 0), 0);
	assert_int_equal(th_run_clients(&o, &r), 0);
	assert_int_equal(ctl_wait(c), 0);
	printf("%s", c->out);
	assert_int_equal(r.failed, 0);
	assert_null(strchr(c->out, '\033'));
	assert_int_equal(count_lines(c->out), 1 + 2 * 2);
	assert_true(!strncmp(c->out, "TIME ", 5));
	assert_true(cruise_now_ns() - t0 >= 2 * NSEC_PER_SEC);
	snprintf(header, sizeof(header), "%.*s", (int)strcspn(c->out, "\n"), c->out);
	header_fields = count_fields(header);
	for (p = strchr(c->out, '\n') + 1; *p && n_rows < 4; p = strchr(p, '\n') + 1) {
		char row[512];
		size_t len = strcspn(p, "\n");

		snprintf(row, sizeof(row), "%.*s", (int)len, p);
		assert_int_equal(count_fields(row), header_fields);
		rows[n_rows++] = p;
	}
	assert_int_equal(n_rows, 4);
	/* TIME MEDIUM RATE BURST MAX_WAIT MAX_CONNS DRY_RUN OPEN BACKLOG CONN/S, 2nd frame */
	printf("  medium0 in the second refresh: %.1f connections/s\n", column_of(rows[2], 9));
	assert_non_null(strstr(rows[2], "medium0"));
	assert_true(fabs(rel_err(column_of(rows[2], 9), 100)) <= 0.1);
	th_run_free(&r);
	free(c);
}

/* top on a terminal: started, then stopped by how; the terminal's settings come back. */
static void top_on_pty(struct th_env *e, const char *how)
{
	struct termios before, during, after;
	char out[65536], ptsname_buf[PATH_MAX];
	size_t n = 0;
	int master, slave, st;
	bool raw = false;
	__u64 deadline;
	pid_t pid;

	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(master >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	assert_int_equal(ptsname_r(master, ptsname_buf, sizeof(ptsname_buf)), 0);
	/* ours too, to read its settings; O_NOCTTY leaves it free to be the child's terminal */
	slave = open(ptsname_buf, O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(slave >= 0);
	assert_int_equal(tcgetattr(slave, &before), 0);
	assert_true((before.c_lflag & (ICANON | ECHO)) == (ICANON | ECHO));
	fcntl(master, F_SETFL, O_NONBLOCK);

	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		int fd;

		setsid();
		fd = open(ptsname_buf, O_RDWR); /* becomes the controlling terminal */
		if (fd < 0)
			_exit(126);
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execl(ctl_path, ctl_path, "--pin-dir", e->pin_dir, "top", (char *)NULL);
		_exit(127);
	}
	/* running once it has drawn a screen and put the terminal in raw mode */
	deadline = cruise_now_ns() + 10 * NSEC_PER_SEC;
	while (cruise_now_ns() < deadline && !(raw && strstr(out, "cruise top"))) {
		ssize_t r = read(master, out + n, sizeof(out) - 1 - n);

		if (r > 0)
			n += r;
		out[n] = '\0';
		assert_int_equal(tcgetattr(slave, &during), 0);
		raw = !(during.c_lflag & (ICANON | ECHO));
		usleep(10000);
	}
	assert_true(raw);
	assert_non_null(strstr(out, "\033[H"));
	if (!strcmp(how, "q"))
		assert_int_equal(write(master, "q", 1), 1);
	else
		kill(pid, !strcmp(how, "SIGINT") ? SIGINT : SIGTERM);
	deadline = cruise_now_ns() + 5 * NSEC_PER_SEC;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		char drain[4096];

		if (cruise_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		(void)!read(master, drain, sizeof(drain));
		usleep(10000);
	}
	assert_int_equal(tcgetattr(slave, &after), 0);
	printf("  top on a terminal, stopped by %s: exit %d, lflag %#x -> %#x (raw) -> %#x\n", how,
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), before.c_lflag, during.c_lflag,
	       after.c_lflag);
	if (!strcmp(how, "q")) {
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	} else { /* dies of the signal, so that a calling shell sees it */
		assert_true(WIFSIGNALED(st));
		assert_int_equal(WTERMSIG(st), !strcmp(how, "SIGINT") ? SIGINT : SIGTERM);
	}
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_memory_equal(after.c_cc, before.c_cc, sizeof(before.c_cc));
	close(slave);
	close(master);
}

/* 9. top on a terminal: raw mode for 'q', restored on q, SIGINT and SIGTERM (then dies of it). */
static void test_top_terminal(void **state)
{
	struct th_env *e = *state;

	assert_int_equal(th_env_medium(e, 0, 100, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	top_on_pty(e, "q");
	top_on_pty(e, "SIGINT");
	top_on_pty(e, "SIGTERM");
}

/* 10. events: a refusal followed live, then one waiting in the ring as JSON, then timeouts. */
static void test_events(void **state)
{
	struct th_env *e = *state;
	struct ctl *c = malloc(sizeof(*c));
	char dest[64], cgroup[PATH_MAX + 16], line[1024];
	struct th_cgroup cg;
	struct th_run r;
	__u64 t0;
	struct th_run_opts o = {
		.addr = "127.0.0.1",
		.port = e->l4.port,
		.workers = 1,
		.duration_ns = NSEC_PER_SEC,
		.max_per_worker = 3,
	};

	assert_non_null(c);
	/* max_wait 0 at 10/s: the first connect goes, the next ones right after are refused */
	assert_int_equal(th_env_worker_cgroup(e, &cg, NULL, 0), 0);
	assert_int_equal(th_env_medium(e, 0, 10, 0, 0, 0, 0, 0), 0);
	o.cgroup = cg.path;
	snprintf(dest, sizeof(dest), "dest=127.0.0.1:%u", e->l4.port);
	snprintf(cgroup, sizeof(cgroup), "cgroup=%s", rel_path(&cg));

	assert_int_equal(
		ctl_spawn(c, e->pin_dir, ARGS("events", "--count", "1", "--timeout", "5"), 0), 0);
	usleep(300000); /* following the ring by now */
	assert_int_equal(th_run_clients(&o, &r), 0);
	printf("  clients: %d connects, %d refused\n", r.n, r.failed);
	assert_true(r.failed >= 2);
	assert_int_equal(ctl_wait(c), 0);
	printf("%s", c->out);
	assert_int_equal(count_lines(c->out), 1);
	assert_true(find_line(c->out, line, sizeof(line),
			      ARGS("connect refused", "medium=medium0", "reason=max_wait", dest,
				   "errno=ECONNREFUSED", cgroup, "dry_run=false")));
	th_run_free(&r);

	/* the next refusal has waited in the ring */
	assert_int_equal(ctl_run(c, e->pin_dir,
				 ARGS("events", "-o", "json", "--count", "1", "--timeout", "5"), 0),
			 0);
	printf("%s", c->out);
	assert_int_equal(count_lines(c->out), 1);
	assert_true(json_valid(c->out));
	assert_non_null(strstr(c->out, "\"medium\":\"medium0\""));
	assert_non_null(strstr(c->out, "\"reason\":\"max_wait\""));

	/* drain what is left, then: nothing within the timeout */
	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("events", "--timeout", "1"), 0), 0);
	t0 = cruise_now_ns();
	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("events", "--timeout", "1"), 0), 0);
	assert_int_equal(c->out_n, 0);
	assert_int_equal(
		ctl_run(c, e->pin_dir, ARGS("events", "--count", "1", "--timeout", "1"), 0), 1);
	printf("  %s", c->err);
	assert_true(cruise_now_ns() - t0 >= 2 * NSEC_PER_SEC);
	assert_int_equal(count_lines(c->err), 1);
	assert_non_null(strstr(c->err, "0 of 1 events"));
	free(c);
}

/*
 * 11. bpftool prints every map it can dump with its field names (BTF). Skipped: cruise_events, a
 * ring buffer (no keys: bpftool cannot dump one), and cruise_socks, socket-local storage (entries
 * are reached by socket only: no key to iterate).
 */
static void test_bpftool_dump(void **state)
{
	static const struct {
		const char *map;
		const char *fields[5];
	} want[] = {
		{ "cruise_targets", { "\"prefixlen\"", "\"port\"", "\"addr\"", "\"id\"" } },
		{ "cruise_bindings", { "\"cgroup_id\"", "\"medium\"" } },
		{ "cruise_media",
		  { "\"interval_ns\"", "\"burst\"", "\"max_wait_ns\"", "\"name\"" } },
		{ "cruise_state", { "\"tat_ns\"", "\"open_conns\"", "\"held_last\"" } },
		{ "cruise_counters",
		  { "\"connections\"", "\"refused_max_wait\"", "\"delay_ns\"" } },
		{ "cruise_meta", { "\"abi_version\"" } },
		{ "cruise_adaptive",
		  { "\"ceiling_interval_ns\"", "\"floor_interval_ns\"", "\"decision\"",
		    "\"signal\"" } },
		{ "cruise_target_src",
		  { "\"prefixlen\"", "\"kind\"", "\"confirmed_ns\"", "\"name\"" } },
	};
	struct cruise_target_src src = { .kind = CRUISE_TARGET_HOST, .name = "db.example" };
	struct cruise_target_key tk;
	struct th_env *e = *state;
	struct ctl *c = malloc(sizeof(*c));
	struct th_cgroup cg;
	char path[PATH_MAX + 64];

	assert_non_null(c);
	assert_int_equal(th_env_worker_cgroup(e, &cg, NULL, 0), 0);
	assert_int_equal(th_env_medium(e, 0, 100, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	/* the agent writes where each target came from; here one entry, so that there is one */
	cruise_target_key_v4(&tk, htonl(0x7f000001), e->l4.port, 32);
	assert_int_equal(cruise_maps_set_target_src(&e->h->maps, &tk, &src), 0);
	for (size_t i = 0; i < cruise_n_maps; i++) {
		const char *name = cruise_map_defs[i].name;
		size_t k;

		if (!strcmp(name, "cruise_events") || !strcmp(name, "cruise_socks"))
			continue;
		for (k = 0; k < sizeof(want) / sizeof(want[0]) && strcmp(want[k].map, name); k++)
			;
		/* a new map: say here which fields bpftool must show for it */
		assert_true(k < sizeof(want) / sizeof(want[0]));
		snprintf(path, sizeof(path), "%s/%s", e->pin_dir, name);
		assert_int_equal(ctl_run(c, NULL, ARGS("bpftool", "map", "dump", "pinned", path),
					 CTL_PROGRAM),
				 0);
		printf("  %s: %zu bytes of dump\n", name, c->out_n);
		for (int f = 0; want[k].fields[f]; f++) {
			if (!strstr(c->out, want[k].fields[f]))
				printf("  %s: no %s in:\n%.2000s\n", name, want[k].fields[f],
				       c->out);
			assert_non_null(strstr(c->out, want[k].fields[f]));
		}
	}
	free(c);
}

/* fleet media and the fleet store */

/* Make medium i a fleet medium in cruise_media: share, fallback and lease end (0: not fleet). */
static void set_lease(struct th_env *e, __u32 i, __u64 share_ns, __u64 fallback_ns,
		      __u64 lease_end_ns)
{
	struct cruise_medium m;

	assert_int_equal(cruise_maps_get_medium(&e->h->maps, i, &m), 0);
	m.interval_ns = share_ns;
	m.fallback_interval_ns = fallback_ns;
	m.lease_end_ns = lease_end_ns;
	assert_int_equal(cruise_maps_set_medium(&e->h->maps, i, &m), 0);
}

/*
 * 12. A fleet medium (cruise_media written as the agent's fleet thread writes it): status shows
 * its share and lease, then its fallback once the lease has ended, the rate in force in RATE;
 * set refuses its rate and keeps its lease when other keys change.
 */
static void test_fleet_status(void **state)
{
	struct th_env *e = *state;
	struct cruise_medium before[CRUISE_MAX_MEDIA], after[CRUISE_MAX_MEDIA], want;
	struct ctl *c = malloc(sizeof(*c));
	char line[512];
	long long left;
	int rc;

	assert_non_null(c);
	assert_int_equal(th_env_medium(e, 0, 100, 3, NSEC_PER_SEC, 0, 0, 0), 0);
	assert_int_equal(th_env_medium(e, 1, 20, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	/* medium0: a share of 10/s leased for 10 s more, 5/s after */
	set_lease(e, 0, 100 * NSEC_PER_MSEC, 200 * NSEC_PER_MSEC,
		  cruise_now_ns() + 10 * NSEC_PER_SEC);

	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("status"), 0), 0);
	printf("%s", c->out);
	/* the table as before, then the fleet media */
	assert_true(find_line(c->out, line, sizeof(line), ARGS("medium0 ", " 10/s ", " 1s ")));
	assert_true(find_line(c->out, line, sizeof(line), ARGS("medium1 ", " 20/s ", " 1s ")));
	assert_true(find_line(c->out, line, sizeof(line), ARGS("MEDIUM", "SHARE", "FALLBACK")));
	assert_true(find_line(c->out, line, sizeof(line),
			      ARGS("medium0 ", " 10/s ", " 5/s ", "leased, ", "s left")));
	assert_false(find_line(c->out, line, sizeof(line), ARGS("medium1 ", "leased")));
	assert_int_equal(count_lines(c->out), 3 + 1 + 2);

	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("status", "-o", "json"), 0), 0);
	printf("  %s", c->out);
	assert_true(json_valid(c->out));
	assert_int_equal(json_num_near(c->out, "\"name\":\"medium0\"", "interval_ns"),
			 100 * NSEC_PER_MSEC);
	assert_non_null(strstr(c->out, "\"fleet\":{\"share\":\"10/s\""));
	assert_non_null(strstr(c->out, "\"state\":\"leased\""));
	left = json_num_near(c->out, "\"state\":\"leased\"", "lease_left_ns");
	assert_true(left > 8 * (long long)NSEC_PER_SEC && left <= 10 * (long long)NSEC_PER_SEC);
	assert_int_equal(json_num_near(c->out, "\"state\":\"leased\"", "fallback_interval_ns"),
			 200 * NSEC_PER_MSEC);
	/* a medium that is not a fleet medium says nothing of a fleet */
	assert_int_equal(json_num_near(c->out, "\"name\":\"medium1\"", "interval_ns"),
			 50 * NSEC_PER_MSEC);
	assert_null(strstr(strstr(c->out, "\"name\":\"medium1\""), "\"fleet\""));

	/* rate=: refused, one line, nothing written, even beside keys that are fine */
	read_media(e, before);
	rc = ctl_run(c, e->pin_dir, ARGS("set", "medium0", "rate=20/s"), 0);
	printf("  set rate on a fleet medium: exit %d: %s", rc, c->err);
	assert_int_equal(rc, 1);
	assert_string_equal(c->err, "cruisectl: set: medium0 is a fleet medium: its rate is the "
				    "fleet's, set in the agent's config; this node's share comes "
				    "from the fleet store\n");
	assert_int_equal(c->out_n, 0);
	rc = ctl_run(c, e->pin_dir, ARGS("set", "medium0", "burst=5", "rate=20/s"), 0);
	assert_int_equal(rc, 1);
	assert_int_equal(count_lines(c->err), 1);
	assert_non_null(strstr(c->err, "is a fleet medium"));
	read_media(e, after);
	assert_memory_equal(before, after, sizeof(before));

	/* other keys: written, the share, fallback and lease end as they were */
	assert_int_equal(ctl_run(c, e->pin_dir,
				 ARGS("set", "medium0", "burst=5", "max_wait=2s", "max_conns=9"),
				 0),
			 0);
	printf("%s", c->out);
	assert_true(find_line(c->out, line, sizeof(line),
			      ARGS("rate", "fleet medium", "share 10/s", "fallback 5/s")));
	read_media(e, after);
	want = before[0];
	want.burst = 5;
	want.max_wait_ns = 2 * NSEC_PER_SEC;
	want.max_conns = 9;
	assert_memory_equal(&after[0], &want, sizeof(want));
	assert_memory_equal(&after[1], &before[1], sizeof(before) - sizeof(before[0]));
	/* the non-fleet medium's rate is still its own to set */
	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("set", "medium1", "rate=30/s"), 0), 0);

	/* the lease ends: the kernel paces at the fallback, and status says so */
	set_lease(e, 0, 100 * NSEC_PER_MSEC, 200 * NSEC_PER_MSEC, cruise_now_ns() - NSEC_PER_SEC);
	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("status"), 0), 0);
	printf("%s", c->out);
	assert_true(find_line(c->out, line, sizeof(line), ARGS("medium0 ", " 5/s ", " 5 ")));
	assert_true(find_line(c->out, line, sizeof(line),
			      ARGS("medium0 ", " 10/s ", " 5/s ", "fallback at 5/s")));
	assert_null(strstr(c->out, "leased"));
	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("status", "-o", "json"), 0), 0);
	assert_true(json_valid(c->out));
	assert_non_null(strstr(c->out, "\"name\":\"medium0\",\"rate\":\"5/s\""));
	assert_int_equal(json_num_near(c->out, "\"name\":\"medium0\"", "interval_ns"),
			 200 * NSEC_PER_MSEC);
	assert_non_null(strstr(c->out, "\"state\":\"fallback\",\"lease_left_ns\":0"));
	/* top too: the rate in force */
	assert_int_equal(ctl_run(c, e->pin_dir, ARGS("top", "-n", "1", "-i", "100ms"), 0), 0);
	printf("%s", c->out);
	assert_true(find_line(c->out, line, sizeof(line), ARGS(" medium0 ", " 5/s ")));
	assert_true(find_line(c->out, line, sizeof(line), ARGS(" medium1 ", " 30/s ")));
	free(c);
}

#define REDIS_SERVER   "/usr/bin/redis-server"
#define REDIS_PASSWORD "s3cret-fleet"
#define FLEET_PREFIX   "cruise-test"

/* A redis-server of our own (th_redis_start), with a password, in a temporary directory. */
struct redis_fx {
	struct th_redis redis;
	char dir[PATH_MAX];
	char addr[32], pw[PATH_MAX + 16], wrong_pw[PATH_MAX + 16];
	redisContext *rc; /* the test's own connection, as the fake nodes */
	char sha[64];
};

static redisReply *redis_cmd(redisContext *rc, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(rc, argc, argv, NULL);

	assert_non_null(r);
	return r;
}

static int redis_setup(void **state)
{
	static const char *const extra[] = { "--requirepass", REDIS_PASSWORD, NULL };
	struct redis_fx *fx = calloc(1, sizeof(*fx));
	struct timeval tv = { .tv_sec = 1 };
	char log[PATH_MAX + 16];
	redisReply *r = NULL;
	bool up;

	*state = fx;
	if (!fx)
		return -1;
	if (access(REDIS_SERVER, X_OK))
		return 0; /* the test skips */
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/cruise-test-redis.XXXXXX");
	if (!mkdtemp(fx->dir)) {
		fx->dir[0] = '\0';
		return -1;
	}
	snprintf(log, sizeof(log), "%s/redis.log", fx->dir);
	snprintf(fx->pw, sizeof(fx->pw), "%s/password", fx->dir);
	snprintf(fx->wrong_pw, sizeof(fx->wrong_pw), "%s/wrong", fx->dir);
	if (th_write_file(fx->pw, REDIS_PASSWORD "\n") || th_write_file(fx->wrong_pw, "nope\n"))
		return -1;
	if (th_redis_start(&fx->redis, fx->dir, 0, extra)) {
		th_print_tail("redis-server", log, 2000);
		return -1;
	}
	snprintf(fx->addr, sizeof(fx->addr), "127.0.0.1:%u", fx->redis.port);
	fx->rc = redisConnectWithTimeout("127.0.0.1", fx->redis.port, tv);
	if (fx->rc && !fx->rc->err)
		r = redisCommand(fx->rc, "AUTH %s", REDIS_PASSWORD);
	up = r && r->type == REDIS_REPLY_STATUS;
	if (r)
		freeReplyObject(r);
	return up ? 0 : -1;
}

/* Runs even when the test failed: the server goes, and its directory. */
static int redis_teardown(void **state)
{
	struct redis_fx *fx = *state;

	if (!fx)
		return 0;
	if (fx->rc)
		redisFree(fx->rc);
	th_redis_stop(&fx->redis);
	if (fx->dir[0])
		th_rm_tree(fx->dir);
	free(fx);
	return 0;
}

/* One node's refresh of one medium, as the agent's fleet thread sends it; the reply's share. */
static long long fleet_call(struct redis_fx *fx, const char *prefix, const char *medium,
			    const char *node, long long rate, long long want, long long fb,
			    long long lease_ms, long long forget_ms)
{
	static const char *const kinds[5] = { "nodes", "leases", "forget", "rates", "agg" };
	char keys[5][128], a[6][24];
	const char *argv[15] = { "EVALSHA", fx->sha, "5" };
	long long v[] = { rate, want, fb, lease_ms, forget_ms, fb /* fb_now */ };
	long long share;
	redisReply *r;

	for (int i = 0; i < 5; i++) {
		snprintf(keys[i], sizeof(keys[i]), "{%s:%s}:%s", prefix, medium, kinds[i]);
		argv[3 + i] = keys[i];
	}
	argv[8] = node;
	for (int i = 0; i < 6; i++) {
		snprintf(a[i], sizeof(a[i]), "%lld", v[i]);
		argv[9 + i] = a[i];
	}
	r = redis_cmd(fx->rc, 15, argv);
	if (r->type == REDIS_REPLY_ERROR)
		printf("  EVALSHA: %s\n", r->str);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 7);
	assert_int_equal(r->element[0]->type, REDIS_REPLY_INTEGER);
	share = r->element[0]->integer;
	freeReplyObject(r);
	return share;
}

/* Writes the store took since it started (persistence off: the counter only grows). */
static long long redis_writes(struct redis_fx *fx)
{
	const char *argv[] = { "INFO", "persistence" };
	redisReply *r = redis_cmd(fx->rc, 2, argv);
	const char *at;
	long long n;

	assert_int_equal(r->type, REDIS_REPLY_STRING);
	at = strstr(r->str, "rdb_changes_since_last_save:");
	assert_non_null(at);
	n = atoll(at + strlen("rdb_changes_since_last_save:"));
	freeReplyObject(r);
	return n;
}

static void milli_str(long long milli, char *buf, size_t len)
{
	if (milli % 1000)
		snprintf(buf, len, " %lld.%03lld", milli / 1000, milli % 1000);
	else
		snprintf(buf, len, " %lld/s ", milli / 1000);
}

/*
 * 13. cruisectl fleet against a real redis-server and the real allocator script: three fake
 * nodes of one medium, one of whose lease has ended; the shares the script gave them, in text
 * and JSON, with media found by SCAN or named by a config; never a write to the store; a wrong
 * password, none, an unreachable store and a key of the wrong type: one line and exit 1.
 */
static void test_fleet_store(void **state)
{
	struct redis_fx *fx = *state;
	struct ctl *c = malloc(sizeof(*c));
	long long a, b, cc, writes, forget_in;
	char line[1024], sa[32], sb[32], cfg[PATH_MAX + 16], yaml[PATH_MAX + 2048], free_addr[32],
		*p;
	char rate_row[64];
	int rc;

	if (fx->redis.pid <= 0) {
		free(c);
		skip(); /* no redis-server */
	}
	assert_non_null(c);
	{
		const char *argv[] = { "SCRIPT", "LOAD", cruise_fleet_lua };
		redisReply *r = redis_cmd(fx->rc, 3, argv);

		assert_int_equal(r->type, REDIS_REPLY_STRING);
		snprintf(fx->sha, sizeof(fx->sha), "%s", r->str);
		freeReplyObject(r);
	}
	{
		/* a store past its warm-up (fleet.lua: two leases after born, shares <= fb_now) */
		const char *argv[] = { "HSET", "{" FLEET_PREFIX ":email}:agg", "born", "0" };
		redisReply *r = redis_cmd(fx->rc, 4, argv);

		assert_int_equal(r->type, REDIS_REPLY_INTEGER);
		freeReplyObject(r);
	}
	/*
	 * email at 50/s: node-a wants more than it gets, node-b 10/s (and has 60/s in its
	 * config: the lowest rate wins), node-c's lease is 100 ms. Fallbacks 5/s.
	 */
	fleet_call(fx, FLEET_PREFIX, "email", "node-a", 50000, -1, 5000, 10000, 30000);
	fleet_call(fx, FLEET_PREFIX, "email", "node-b", 60000, 10000, 5000, 10000, 30000);
	cc = fleet_call(fx, FLEET_PREFIX, "email", "node-c", 50000, -1, 5000, 100, 30000);
	usleep(200000);
	/* the next refreshes move node-c to its fallback, counted until forgotten */
	a = fleet_call(fx, FLEET_PREFIX, "email", "node-a", 50000, -1, 5000, 10000, 30000);
	b = fleet_call(fx, FLEET_PREFIX, "email", "node-b", 60000, 10000, 5000, 10000, 30000);
	printf("  shares: node-a %lld, node-b %lld, node-c %lld (ended) milli-connections/s\n", a,
	       b, cc);
	assert_int_equal(b, 10000);
	assert_true(a > 0 && a + b + 5000 <= 50000);
	milli_str(a, sa, sizeof(sa));
	milli_str(b, sb, sizeof(sb));
	writes = redis_writes(fx);

	/* no config: the media found by SCAN under the prefix */
	rc = ctl_run(c, NULL,
		     ARGS("fleet", "--redis", fx->addr, "--prefix", FLEET_PREFIX, "--password-file",
			  fx->pw),
		     0);
	printf("%s%s", c->out, c->err);
	assert_int_equal(rc, 0);
	assert_int_equal(c->err_n, 0);
	assert_true(!strncmp(c->out, "MEDIUM ", 7));
	snprintf(rate_row, sizeof(rate_row), "%s", " 50/s ");
	assert_true(find_line(c->out, line, sizeof(line), ARGS("email ", rate_row, " 3 ", " 2 ")));
	assert_true(find_line(c->out, line, sizeof(line),
			      ARGS("email ", " node-a ", " more than its share ", sa, " 5/s ",
				   " 50/s ", "leased, ", "s left")));
	assert_true(find_line(c->out, line, sizeof(line),
			      ARGS("email ", " node-b ", " 10/s ", sb, " 60/s ", "leased, ")));
	assert_true(find_line(c->out, line, sizeof(line),
			      ARGS("email ", " node-c ", " 5/s ", "ended, forgotten in ")));
	assert_true(find_line(c->out, line, sizeof(line), ARGS("lowest, 50/s, is in force")));

	rc = ctl_run(c, NULL,
		     ARGS("fleet", "-o", "json", "--redis", fx->addr, "--prefix", FLEET_PREFIX,
			  "--password-file", fx->pw),
		     0);
	printf("  %s", c->out);
	assert_int_equal(rc, 0);
	assert_int_equal(count_lines(c->out), 1);
	assert_true(json_valid(c->out));
	assert_non_null(strstr(c->out, "\"media_from\":\"scan\""));
	assert_non_null(strstr(c->out, "\"keys\":\"{" FLEET_PREFIX ":email}\""));
	assert_int_equal(json_num_near(c->out, "\"name\":\"email\"", "rate_milli"), 50000);
	assert_int_equal(json_num_near(c->out, "\"name\":\"email\"", "node_count"), 3);
	assert_int_equal(json_num_near(c->out, "\"name\":\"email\"", "leased"), 2);
	/* claims: the two shares, and node-c's fallback */
	assert_int_equal(json_num_near(c->out, "\"name\":\"email\"", "claims_milli"), a + b + 5000);
	assert_int_equal(json_num_near(c->out, "\"node\":\"node-a\"", "share_milli"), a);
	assert_non_null(strstr(c->out, "\"node\":\"node-a\",\"record\":\"ok\",\"wants_more\":true,"
				       "\"want\":null"));
	assert_int_equal(json_num_near(c->out, "\"node\":\"node-b\"", "share_milli"), b);
	assert_int_equal(json_num_near(c->out, "\"node\":\"node-b\"", "want_milli"), 10000);
	assert_int_equal(json_num_near(c->out, "\"node\":\"node-b\"", "config_rate_milli"), 60000);
	assert_true(json_num_near(c->out, "\"node\":\"node-b\"", "lease_left_ms") > 5000);
	assert_int_equal(json_num_near(c->out, "\"node\":\"node-c\"", "fallback_milli"), 5000);
	p = strstr(c->out, "\"node\":\"node-c\"");
	assert_non_null(p);
	assert_non_null(strstr(p, "\"state\":\"ended\""));
	forget_in = json_num_near(c->out, "\"node\":\"node-c\"", "forget_in_ms");
	assert_true(forget_in > 20000 && forget_in <= 30000);

	/* a config: its store, prefix, password and fleet media (one with nothing stored yet) */
	snprintf(cfg, sizeof(cfg), "%s/cruise.yaml", fx->dir);
	snprintf(yaml, sizeof(yaml),
		 "targets:\n"
		 "  - name: db\n"
		 "    addresses: [127.0.0.1/32]\n"
		 "    ports: [5432]\n"
		 "media:\n"
		 "  - name: email\n"
		 "    rate: 50/s\n"
		 "    cgroups: [workers/email]\n"
		 "    fleet: true\n"
		 "  - name: push\n"
		 "    rate: 10/s\n"
		 "    cgroups: [workers/push]\n"
		 "  - name: batch\n"
		 "    rate: 1/s\n"
		 "    cgroups: [workers/batch]\n"
		 "    fleet: true\n"
		 "fleet:\n"
		 "  redis: %s\n"
		 "  node: node-a\n"
		 "  key_prefix: " FLEET_PREFIX "\n"
		 "  password_file: %s\n",
		 fx->addr, fx->pw);
	assert_int_equal(th_write_file(cfg, yaml), 0);
	rc = ctl_run(c, NULL, ARGS("fleet", "--config", cfg), 0);
	printf("%s%s", c->out, c->err);
	assert_int_equal(rc, 0);
	assert_true(find_line(c->out, line, sizeof(line), ARGS(" node-a ", sa, "leased")));
	assert_true(find_line(c->out, line, sizeof(line), ARGS("batch ", " - ", " 0 ")));
	assert_true(find_line(c->out, line, sizeof(line), ARGS("batch: no node in the store")));
	assert_null(strstr(c->out, "push"));
	rc = ctl_run(c, NULL, ARGS("fleet", "--config", cfg, "-o", "json"), 0);
	assert_int_equal(rc, 0);
	assert_true(json_valid(c->out));
	assert_non_null(strstr(c->out, "\"media_from\":\"config\""));
	assert_int_equal(json_num_near(c->out, "\"name\":\"batch\"", "node_count"), 0);
	assert_non_null(strstr(c->out, "\"name\":\"batch\""));

	/* read-only: not one write for all of the above */
	assert_int_equal(redis_writes(fx), writes);

	/* the errors: one line naming the problem, exit 1, nothing on stdout */
	snprintf(free_addr, sizeof(free_addr), "127.0.0.1:%u", th_free_port("127.0.0.1"));
	{
		const redisReply *r;
		const char *set[] = { "SET", "{bad:email}:leases", "x" };
		const char *hset[] = { "HSET", "{bad:email}:nodes", "node-a", "1000 1000 500 1" };
		const struct {
			const char *const *args;
			const char *says;
		} cases[] = {
			{ ARGS("fleet", "--redis", fx->addr, "--prefix", FLEET_PREFIX,
			       "--password-file", fx->wrong_pw),
			  "refused the password (AUTH)" },
			{ ARGS("fleet", "--redis", fx->addr, "--prefix", FLEET_PREFIX),
			  "needs a password" },
			{ ARGS("fleet", "--redis", free_addr, "--prefix", FLEET_PREFIX),
			  "cannot reach the fleet store at 127.0.0.1:" },
			{ ARGS("fleet", "--redis", fx->addr, "--prefix", "bad", "--password-file",
			       fx->pw),
			  "{bad:email}:leases is not of the type" },
			{ ARGS("fleet", "--redis", "127.0.0.1", "--prefix", FLEET_PREFIX),
			  "expected HOST:PORT" },
			{ ARGS("fleet", "--redis", fx->addr, "--prefix", "a*"), "--prefix \"a*\"" },
			{ ARGS("fleet", "--config", "/nonexistent/cruise.yaml"),
			  "/nonexistent/cruise.yaml: No such file or directory" },
			{ ARGS("fleet", "--redis", fx->addr, "--password-file",
			       "/nonexistent/password"),
			  "cannot read \"/nonexistent/password\"" },
			{ ARGS("fleet", "--redis", fx->addr, "--username", "cruise"),
			  "a username needs a password" },
		};

		r = redis_cmd(fx->rc, 3, set);
		freeReplyObject((void *)r);
		r = redis_cmd(fx->rc, 4, hset);
		freeReplyObject((void *)r);
		writes = redis_writes(fx);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			rc = ctl_run(c, NULL, cases[i].args, 0);
			printf("  fleet error %zu: exit %d: %s", i, rc, c->err);
			assert_int_equal(rc, 1);
			assert_int_equal(count_lines(c->err), 1);
			assert_true(!strncmp(c->err, "cruisectl: fleet: ", 18));
			assert_non_null(strstr(c->err, cases[i].says));
			assert_int_equal(c->out_n, 0);
		}
		assert_int_equal(redis_writes(fx), writes);
	}
	free(c);
}

static void find_ctl(const char *argv0)
{
	char self[PATH_MAX];
	ssize_t n;

	if (getenv("CRUISECTL")) {
		snprintf(ctl_path, sizeof(ctl_path), "%s", getenv("CRUISECTL"));
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		snprintf(self, sizeof(self), "%s", argv0);
	else
		self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(ctl_path, sizeof(ctl_path), "%.*s/cruisectl", (int)(sizeof(ctl_path) - 16), self);
}

/* An optional argument selects tests by name (a cmocka glob pattern). */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help),
		cmocka_unit_test_setup_teardown(test_set_rate, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_set_fields, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_status_json, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_bindings, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_bindings_many, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_targets, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_top_pipe, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_top_terminal, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_events, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_bpftool_dump, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_fleet_status, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_fleet_store, redis_setup, redis_teardown),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	find_ctl(argv[0]);
	if (access(ctl_path, X_OK)) {
		fprintf(stderr, "test_cruisectl: no cruisectl at %s (build it, or set CRUISECTL)\n",
			ctl_path);
		return 1;
	}
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("cruisectl on the real datapath", tests, NULL, NULL);
}
