// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Pacing on the real datapath (docs/design.md sections 2-3): the programs loaded and attached to a
 * scope cgroup, client processes in a bound worker cgroup connecting to loopback listeners.
 *
 * Every bound is derived from the design, with jiffy = th_jiffy_ns():
 * - a connect is never released before its slot;
 * - a held SYN leaves less than two jiffies after its slot (one jiffy of release, one of scheduling
 *   noise), plus the timer wheel's step for a single stage past the fine level (8 jiffies up to
 *   503, 64 beyond), plus the rounding of an equal-stage chain (cruise_hold.h); the test sees
 *   connect() return, one handshake after the release (measured: the unheld first connect);
 * - the achieved rate is within 2% of the configured one.
 * The figures measured are printed so that the log documents them.
 *
 * Run as root: it loads BPF programs, creates cgroups and a network namespace.
 *
 * Over 600 lines: one program for the hold's timing on the real kernel; its cases share the
 * datapath fixture.
 */
#define _GNU_SOURCE /* unshare, CLONE_NEWNET */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <bpf/bpf.h>

#include "cruise_hold.h"
#include "helpers.h"
#include "loader.h"

#define RATE_TOL	    0.02		/* achieved rate vs configured: 2% */
#define MAX_WAIT_NS	    (5 * NSEC_PER_SEC)	/* large: no test here wants a refusal */
#define CONNECT_OVERHEAD_NS (2 * NSEC_PER_MSEC) /* an unheld loopback connect, generously */

/* linux/tcp.h: an unheld socket's first SYN timeout (TCP_TIMEOUT_INIT) */
#define TCP_TIMEOUT_INIT_SEC 1

/* Per test: a fresh load, scope and listeners, so that no test sees another's medium state. */
static int env_setup(void **state)
{
	*state = th_env_new();
	return *state ? 0 : -1;
}

/* Runs even when the test failed: cgroups, pins and links go. */
static int env_teardown(void **state)
{
	th_env_free(*state);
	return 0;
}

static double ns_to_ms(__u64 ns)
{
	return (double)ns / NSEC_PER_MSEC;
}

static double sns_to_ms(__s64 ns)
{
	return (double)ns / NSEC_PER_MSEC;
}

static __u64 interval_of(double rate)
{
	return (__u64)(NSEC_PER_SEC / rate + 0.5);
}

/* A worker cgroup bound to medium, which is configured with rate and burst. */
static void worker_medium(struct th_env *e, struct th_cgroup *cg, __u32 medium, double rate,
			  __u64 burst)
{
	assert_int_equal(th_env_worker_cgroup(e, cg, NULL, (int)medium), 0);
	assert_int_equal(th_env_medium(e, medium, rate, burst, MAX_WAIT_NS, 0, 0, 0), 0);
}

/* Forget a medium's schedule (and open count): the next connect is free again. */
static int reset_medium_state(struct th_env *e, __u32 medium)
{
	return cruise_maps_reset_state(&e->h->maps, medium);
}

/* Bound a run by count as well as time: twice what the rate allows, plus slack. */
static int max_per_worker(double rate, __u64 duration_ns, int workers)
{
	return (int)(2 * rate * duration_ns / NSEC_PER_SEC / workers) + 8;
}

static double rel_err(double got, double want)
{
	return (got - want) / want;
}

static void print_errors(const struct th_run *r)
{
	for (int i = 0; i < r->n; i++)
		if (r->conns[i].err)
			printf("    connect %d (worker %d) failed: %s\n", i, r->conns[i].worker,
			       strerror(r->conns[i].err));
}

/* Mean connect latency of successful connects. */
static double mean_latency_ms(const struct th_run *r)
{
	double sum = 0;
	int n = 0;

	for (int i = 0; i < r->n; i++) {
		if (r->conns[i].err)
			continue;
		sum += ns_to_ms(r->conns[i].end_ns - r->conns[i].start_ns);
		n++;
	}
	return n ? sum / n : 0;
}

/*
 * Burst 0: the k-th admitted connect's slot is at least k intervals after the first one's, and the
 * kernel saw the first connect no earlier than its start. Fails if connects were not held.
 */
static void assert_spaced(const struct th_run *r, __u64 interval_ns)
{
	__u64 span = r->last_end_ns - r->conns[0].start_ns;
	__u64 min_span = (__u64)(r->n - 1) * interval_ns;

	printf("    %d connects in %.1f ms, at least %.1f ms by the schedule\n", r->n,
	       ns_to_ms(span), ns_to_ms(min_span));
	assert_true(r->n >= 2);
	assert_true(span >= min_span);
}

/* One paced run; asserts no failure and the rate within RATE_TOL. Returns the achieved rate. */
static double run_paced(const struct th_run_opts *o, double rate, struct th_run *r)
{
	double got;

	assert_int_equal(th_run_clients(o, r), 0);
	got = th_run_rate(r);
	printf("  %-17s %6.1f/s, %d client(s)%s: %d connects, %d failed, achieved %.3f/s "
	       "(%+.3f%%), max latency %.1f ms\n",
	       o->addr, rate, o->workers, o->nonblocking ? " non-blocking" : "", r->n, r->failed,
	       got, 100 * rel_err(got, rate), ns_to_ms(th_run_max_latency(r)));
	print_errors(r);
	assert_int_equal(r->failed, 0);
	assert_true(r->ok >= 2);
	assert_true(fabs(rel_err(got, rate)) <= RATE_TOL);
	return got;
}

/* 1. The achieved rate is the configured one, for one and for many clients, IPv4 and IPv6. */
static void test_rate_accuracy(void **state)
{
	struct th_env *e = *state;
	const struct {
		double rate;
		int workers;
		__u64 duration_ns;
		bool v6;
	} cases[] = {
		/* 20/s: 3 s, for enough points */
		{ 20, 1, 3 * NSEC_PER_SEC, false },
		{ 20, 8, 3 * NSEC_PER_SEC, true },
		{ 200, 1, 2 * NSEC_PER_SEC, true },
		{ 200, 8, 2 * NSEC_PER_SEC, false },
	};

	for (__u32 i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct th_cgroup cg;
		struct th_run r;
		struct th_run_opts o = {
			.addr = cases[i].v6 ? "::1" : "127.0.0.1",
			.port = cases[i].v6 ? e->l6.port : e->l4.port,
			.workers = cases[i].workers,
			.duration_ns = cases[i].duration_ns,
			.max_per_worker = max_per_worker(cases[i].rate, cases[i].duration_ns,
							 cases[i].workers),
		};

		/* a medium of its own per case: no state carried over */
		worker_medium(e, &cg, i, cases[i].rate, 0);
		o.cgroup = cg.path;
		run_paced(&o, cases[i].rate, &r);
		assert_spaced(&r, interval_of(cases[i].rate));
		th_run_free(&r);
	}
}

/* Wheel step of a single SYN timer of t jiffies (docs/design.md section 2), with the fine
 * level's 1. */
static __u64 wheel_step_jiffies(__u64 t)
{
	if (t < CRUISE_WHEEL_FINE_JIFFIES)
		return 1;
	if (t < 504)
		return 8;
	if (t < 4032)
		return 64;
	return 512;
}

/*
 * Jiffies by which a hold of wait_ns may end after its slot, beyond the release jiffy and the
 * scheduling noise: the wheel's step for one coarse stage, or the chain's rounding (its n equal
 * stages of s + 1 jiffies may exceed ceil(wait) + 1 by up to n - 1).
 */
static __u64 hold_excess_jiffies(__u64 wait_ns, __u64 jiffy, struct cruise_hold_plan *plan)
{
	__u64 w = cruise_div_round_up(wait_ns, jiffy);
	__u64 total;

	*plan = cruise_hold_plan(wait_ns, jiffy, 4);
	total = (__u64)plan->stages * (plan->stage_jiffies + 1);
	if (plan->stages == 1 && plan->stage_jiffies + 1 > CRUISE_WHEEL_FINE_JIFFIES)
		return wheel_step_jiffies(plan->stage_jiffies);
	return total > w + 1 ? total - (w + 1) : 0;
}

/* 2. One connect's wait: never early, late by at most the design's tolerance at that length. */
static void test_wait_bound(void **state)
{
	static const __u64 waits_ms[] = { 20, 100, 240, 500, 1000, 1200, 2000 };
	struct th_env *e = *state;
	__u64 jiffy = th_jiffy_ns();
	struct th_cgroup cg;

	worker_medium(e, &cg, 0, 1, 0);
	for (size_t i = 0; i < sizeof(waits_ms) / sizeof(waits_ms[0]); i++) {
		__u64 interval = waits_ms[i] * NSEC_PER_MSEC;
		double late_min = INFINITY, late_max = -INFINITY, late_sum = 0;
		struct cruise_hold_plan plan;
		__u64 tol = 0;

		assert_int_equal(th_env_medium(e, 0, NSEC_PER_SEC / (double)interval, 0,
					       MAX_WAIT_NS, 0, 0, 0),
				 0);
		for (int rep = 0; rep < 3; rep++) {
			struct th_run_opts o = {
				.cgroup = cg.path,
				.addr = rep == 1 ? "::1" : "127.0.0.1",
				.port = rep == 1 ? e->l6.port : e->l4.port,
				.workers = 1,
				.duration_ns = NSEC_PER_SEC, /* both connects start at once */
				.max_per_worker = 2,
			};
			const struct th_conn *c0, *c1;
			__u64 wait_lo, excess;
			struct th_run r;
			double late;

			assert_int_equal(reset_medium_state(e, 0), 0);
			assert_int_equal(th_run_clients(&o, &r), 0);
			print_errors(&r);
			assert_int_equal(r.n, 2);
			assert_int_equal(r.failed, 0);
			c0 = &r.conns[0];
			c1 = &r.conns[1];

			/*
			 * The second's slot is the first's kernel time plus the interval, its wait
			 * that less the gap between the two connects: take the larger chain
			 * rounding of both ends of that range.
			 */
			wait_lo = interval - (c1->start_ns - c0->start_ns);
			excess = hold_excess_jiffies(interval, jiffy, &plan);
			if (c1->start_ns - c0->start_ns < interval) {
				struct cruise_hold_plan lo_plan;
				__u64 x = hold_excess_jiffies(wait_lo, jiffy, &lo_plan);

				excess = x > excess ? x : excess;
			}
			/*
			 * release jiffy + wheel step or chain rounding + scheduling noise (a jiffy
			 * for each of the hold's timers: each re-arms from when the last one ran)
			 * bound the SYN's release; connect() returns one handshake later, and the
			 * gap between the connects rounds the wait up within its jiffy: both
			 * measured here as the time from the first connect's start to the second's.
			 */
			tol = (1 + excess + plan.stages) * jiffy + (c1->start_ns - c0->start_ns);

			late = sns_to_ms((__s64)(c1->end_ns - (c0->end_ns + interval)));
			late_min = fmin(late_min, late);
			late_max = fmax(late_max, late);
			late_sum += late;
			printf("    wait %4llu ms #%d: first %.3f ms, second %.3f ms, second ends "
			       "%+.3f ms after first.start + wait, %+.3f after first.end + wait "
			       "(tolerance %.3f ms)\n",
			       (unsigned long long)waits_ms[i], rep,
			       ns_to_ms(c0->end_ns - c0->start_ns),
			       ns_to_ms(c1->end_ns - c1->start_ns),
			       sns_to_ms((__s64)(c1->end_ns - (c0->start_ns + interval))), late,
			       ns_to_ms(tol));

			/* the first is free */
			assert_true(c0->end_ns - c0->start_ns < jiffy + CONNECT_OVERHEAD_NS);
			/* never early */
			assert_true(c1->end_ns >= c0->start_ns + interval);
			/* late by at most the design's tolerance */
			assert_true(c1->end_ns <= c0->end_ns + interval + tol);
			th_run_free(&r);
		}
		printf("  wait %4llu ms (plan %u x %u jiffies): late after first.end + wait "
		       "min %+.3f mean %+.3f max %+.3f ms, tolerance %.1f ms\n",
		       (unsigned long long)waits_ms[i], plan.stages, plan.stage_jiffies, late_min,
		       late_sum / 3, late_max, ns_to_ms(tol));
	}
}

/* Results of the dead-destination child, sent through a pipe. */
struct dead_result {
	int stage; /* 0: all done; otherwise the step that failed */
	int err;   /* errno of that step */
	int linear;
	int unheld_err, held_err;
	__u64 unheld_start, unheld_end, held_start, held_end;
};

static int read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		if (poll(&pfd, 1, timeout_ms) != 1)
			return -ETIMEDOUT;
		n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return n ? -errno : -EPIPE;
		got += n;
	}
	return 0;
}

static int read_int_file(const char *path, int *v)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%d", v) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

static int lo_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int err = 0;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr))
		err = -errno;
	close(fd);
	return err;
}

/* A non-blocking connect to 127.0.0.1:port; the hook has decided when it returns. */
static int connect_nb(uint16_t port, __u64 *start)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*start = cruise_now_ns();
	if (!connect(fd, (struct sockaddr *)&sin, sizeof(sin)) || errno != EINPROGRESS) {
		close(fd);
		return -EISCONN; /* the listener answered: the destination is not dead */
	}
	return fd;
}

#define DEAD_CHILD_ALARM_SEC 40 /* the child's own bound; its connects give up within 6 s */

/*
 * The child of test 3: a network namespace of its own (gone with the process) where 127.0.0.1:port
 * has a listener whose accept queue is full, so the kernel drops further SYNs.
 */
static void dead_child(int to_parent, int from_parent, const char *cgroup)
{
	struct dead_result res = { 0 };
	struct pollfd pfd[2];
	struct th_listener l;
	int filler, fd[2], done = 0;
	uint16_t port;
	char go;

	alarm(DEAD_CHILD_ALARM_SEC);
#define STEP(n, expr)                                                                              \
	do {                                                                                       \
		int __e = (expr);                                                                  \
		if (__e < 0) {                                                                     \
			res.stage = (n);                                                           \
			res.err = -__e;                                                            \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)
	STEP(1, unshare(CLONE_NEWNET) ? -errno : 0);
	STEP(2, lo_up());
	/* keeps the test short: TCP gives an unheld connect up after 3 s (kernel_syn_give_up) */
	STEP(3, th_write_file("/proc/sys/net/ipv4/tcp_syn_retries", "1"));
	STEP(4, read_int_file("/proc/sys/net/ipv4/tcp_syn_linear_timeouts", &res.linear));
	STEP(5, th_listener_start(&l, "127.0.0.1", false, 0));
	/* backlog 0: one connection fills the accept queue; made outside the worker cgroup */
	filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	STEP(6, filler < 0 ? -errno : 0);
	{
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(l.port) };

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		STEP(7, connect(filler, (struct sockaddr *)&sin, sizeof(sin)) ? -errno : 0);
	}
	port = l.port;
	STEP(8, write(to_parent, &port, sizeof(port)) == sizeof(port) ? 0 : -EPIPE);
	STEP(9, read_full(from_parent, &go, 1, 10000));
	STEP(10, th_cgroup_enter(cgroup));
	/* the first takes the free slot, the second is held one interval */
	fd[0] = connect_nb(port, &res.unheld_start);
	STEP(11, fd[0]);
	fd[1] = connect_nb(port, &res.held_start);
	STEP(12, fd[1]);
	for (int i = 0; i < 2; i++)
		pfd[i] = (struct pollfd){ .fd = fd[i], .events = POLLOUT };
	while (done < 2) {
		int n = poll(pfd, 2, 30000);

		STEP(13, n <= 0 ? -ETIMEDOUT : 0);
		for (int i = 0; i < 2; i++) {
			socklen_t len = sizeof(int);
			int *err = i ? &res.held_err : &res.unheld_err;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			*(i ? &res.held_end : &res.unheld_end) = cruise_now_ns();
			if (getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, err, &len))
				*err = errno;
			pfd[i].fd = -1;
			done++;
		}
	}
#undef STEP
out:
	_exit(write(to_parent, &res, sizeof(res)) == sizeof(res) ? 0 : 1);
}

/*
 * When TCP gives up a SYN_SENT socket that gets no answer, as measured on this kernel
 * (net/ipv4/tcp_timer.c, tcp_write_timeout): at the first SYN timer expiry where either
 * retries + linear retransmits were sent, or the time since the first SYN reached
 * tcp_model_timeout(retries, base), the legacy model of timeouts doubling from base (base being
 * the TIMEOUT_INIT answer, 1 s for an unheld socket). Timers as in cruise_hold.h: base for the
 * first linear + 1, then doubling up to TCP_RTO_MAX. Returns the jiffies until that expiry;
 * *steps gets the sum of the wheel steps of those timers, how late they may fire in all.
 */
static __u64 kernel_syn_give_up(__u64 base, __u32 retries, __u32 linear, __u64 hz, __u64 *steps)
{
	__u64 rto_max = CRUISE_TCP_RTO_MAX_SEC * hz, model, sum = 0;
	__u32 thresh = 0;

	while ((rto_max / base) >> (thresh + 1))
		thresh++; /* ilog2(TCP_RTO_MAX / base) */
	if (retries <= thresh)
		model = ((2ULL << retries) - 1) * base;
	else
		model = ((2ULL << thresh) - 1) * base + (retries - thresh) * rto_max;
	*steps = 0;
	for (__u32 k = 0; k <= retries + linear; k++) {
		__u64 t = k <= linear ? base : base << (k - linear > 20 ? 20 : k - linear);

		t = t < rto_max ? t : rto_max;
		sum += t;
		*steps += wheel_step_jiffies(t);
		/* the timer after SYN k expires with k retransmits sent */
		if (k >= 1 && sum >= model)
			break;
	}
	return sum;
}

/* 3. A held connect to a destination that drops SYNs gives up no later than unheld + its wait. */
static void test_dead_destination(void **state)
{
	struct th_env *e = *state;
	__u64 jiffy = th_jiffy_ns(), hz = NSEC_PER_SEC / jiffy, wait = 300 * NSEC_PER_MSEC;
	int to_parent[2], from_parent[2], status = 0, rerr, syncnt;
	__u64 unheld, held, tol, steps, unheld_steps, held_model, unheld_model, cruise_model;
	struct cruise_hold_plan plan;
	struct dead_result res;
	struct th_cgroup cg;
	uint16_t port = 0;
	pid_t pid;

	/* the filler connection is outside the cgroup; max_conns 0 all the same */
	worker_medium(e, &cg, 0, NSEC_PER_SEC / (double)wait, 0);
	assert_int_equal(pipe2(to_parent, O_CLOEXEC), 0);
	assert_int_equal(pipe2(from_parent, O_CLOEXEC), 0);
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(to_parent[0]);
		close(from_parent[1]);
		dead_child(to_parent[1], from_parent[0], cg.path);
	}
	close(to_parent[1]);
	close(from_parent[0]);
	/* no assertion until the child is reaped: teardown removes the cgroup it is in */
	rerr = read_full(to_parent[0], &port, sizeof(port), 10000);
	if (!rerr)
		rerr = th_env_target(e, "127.0.0.1", 32, port, 2);
	if (!rerr)
		rerr = reset_medium_state(e, 0);
	if (!rerr)
		rerr = write(from_parent[1], "g", 1) == 1 ? 0 : -EPIPE;
	memset(&res, 0, sizeof(res));
	if (!rerr)
		rerr = read_full(to_parent[0], &res, sizeof(res),
				 (DEAD_CHILD_ALARM_SEC + 5) * 1000);
	if (rerr)
		kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(to_parent[0]);
	close(from_parent[1]);
	if (rerr)
		printf("  parent side failed: %s\n", strerror(-rerr));
	if (res.stage)
		printf("  child failed at step %d: %s\n", res.stage, strerror(res.err));
	assert_int_equal(rerr, 0);
	assert_int_equal(res.stage, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	unheld = res.unheld_end - res.unheld_start;
	held = res.held_end - res.held_start;
	/*
	 * The design's bound: a held connect gives up no later than an unheld one plus its wait.
	 * Each of the held socket's SYN timers may fire up to one wheel step late (the unheld
	 * socket's never early), plus a jiffy of noise. The models are printed to explain a miss:
	 * the test's own reading of the kernel (kernel_syn_give_up) and the one cruise plans
	 * TCP_SYNCNT with (cruise_syn_give_up).
	 */
	plan = cruise_hold_plan_bounded(wait, jiffy, res.linear, 1, hz);
	syncnt = cruise_hold_syncnt(plan.stage_jiffies, plan.stages, 1, res.linear, hz);
	held_model = kernel_syn_give_up(plan.stage_jiffies, syncnt, res.linear, hz, &steps);
	unheld_model =
		kernel_syn_give_up(TCP_TIMEOUT_INIT_SEC * hz, 1, res.linear, hz, &unheld_steps);
	cruise_model = cruise_syn_give_up(TCP_TIMEOUT_INIT_SEC * hz, 1, res.linear,
					  CRUISE_TCP_RTO_MAX_SEC * hz);
	tol = (steps + 1) * jiffy;
	printf("  dead destination, tcp_syn_retries 1, linear %d:\n"
	       "    unheld: %s after %.1f ms (kernel model %.0f ms, cruise's model %.0f ms)\n"
	       "    held %.0f ms (plan %u x %u jiffies, TCP_SYNCNT %d): %s after %.1f ms "
	       "(kernel model %.0f ms)\n"
	       "    bound: unheld + wait + %.0f ms = %.1f ms\n",
	       res.linear, strerror(res.unheld_err), ns_to_ms(unheld),
	       ns_to_ms(unheld_model * jiffy), ns_to_ms(cruise_model * jiffy), ns_to_ms(wait),
	       plan.stages, plan.stage_jiffies, syncnt, strerror(res.held_err), ns_to_ms(held),
	       ns_to_ms(held_model * jiffy), ns_to_ms(tol), ns_to_ms(unheld + wait + tol));
	assert_int_equal(res.unheld_err, ETIMEDOUT);
	assert_int_equal(res.held_err, ETIMEDOUT);
	/* it was held (its slot is one interval after the unheld one's, taken before it started) */
	assert_true(held >= wait - (res.held_start - res.unheld_start));
	assert_true(held <= unheld + wait + tol);
}

/* 4. Non-blocking connects are held the same way: the rate holds and the schedule spaces them. */
static void test_nonblocking(void **state)
{
	struct th_env *e = *state;
	double rate = 20;
	struct th_cgroup cg;
	struct th_run r;
	struct th_run_opts o = {
		.addr = "127.0.0.1",
		.port = e->l4.port,
		.workers = 2,
		.duration_ns = 3 * NSEC_PER_SEC,
		.nonblocking = true,
	};

	o.max_per_worker = max_per_worker(rate, o.duration_ns, o.workers);
	worker_medium(e, &cg, 0, rate, 0);
	o.cgroup = cg.path;
	run_paced(&o, rate, &r);
	printf("    mean latency %.1f ms (interval %.1f ms)\n", mean_latency_ms(&r),
	       ns_to_ms(interval_of(rate)));
	assert_spaced(&r, interval_of(rate));
	th_run_free(&r);
}

/* 5. An IPv6 socket to ::ffff:127.0.0.1 is paced by the 127.0.0.1/32 target's medium. */
static void test_v4_mapped(void **state)
{
	struct th_env *e = *state;
	struct cruise_counters c;
	double rate = 50;
	struct th_cgroup cg;
	struct th_run r;
	struct th_run_opts o = {
		.addr = "::ffff:127.0.0.1",
		.port = e->l4.port,
		.workers = 2,
		.duration_ns = 2 * NSEC_PER_SEC,
	};

	o.max_per_worker = max_per_worker(rate, o.duration_ns, o.workers);
	worker_medium(e, &cg, 0, rate, 0);
	o.cgroup = cg.path;
	run_paced(&o, rate, &r);
	assert_spaced(&r, interval_of(rate));
	/* every connect was classified to the medium */
	assert_int_equal(cruise_maps_counters(&e->h->maps, 0, &c), 0);
	printf("    medium 0: connections %llu, delayed %llu\n", (unsigned long long)c.connections,
	       (unsigned long long)c.delayed);
	assert_int_equal(c.connections, r.n);
	th_run_free(&r);
}

struct rate_change {
	struct th_env *e;
	__u32 medium;
	__u64 at_ns;
	__u64 interval_ns;
	__u64 changed_ns;
	int err;
};

/* Change the medium's interval at at_ns, as the agent does: one update of the limits only. */
static void *rate_changer(void *arg)
{
	struct rate_change *rc = arg;
	struct timespec ts = { .tv_sec = rc->at_ns / NSEC_PER_SEC,
			       .tv_nsec = rc->at_ns % NSEC_PER_SEC };
	struct cruise_medium m;

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	rc->err = cruise_maps_get_medium(&rc->e->h->maps, rc->medium, &m);
	if (rc->err)
		return NULL;
	m.interval_ns = rc->interval_ns;
	rc->changed_ns = cruise_now_ns();
	rc->err = cruise_maps_set_medium(&rc->e->h->maps, rc->medium, &m);
	return NULL;
}

/* Rate of the successful connects that ended in [from, to). */
static double rate_between(const struct th_run *r, __u64 from, __u64 to, int *count)
{
	struct th_run sub = { 0 };
	double rate;

	sub.conns = calloc(r->n ? r->n : 1, sizeof(*sub.conns));
	assert_non_null(sub.conns);
	for (int i = 0; i < r->n; i++) {
		if (r->conns[i].err || r->conns[i].end_ns < from || r->conns[i].end_ns >= to)
			continue;
		sub.conns[sub.n++] = r->conns[i];
	}
	sub.ok = sub.n;
	*count = sub.n;
	rate = th_run_rate(&sub);
	free(sub.conns);
	return rate;
}

/* 6. A rate change mid-stream keeps the schedule: no burst, and the new rate at once. */
static void test_rate_change(void **state)
{
	struct th_env *e = *state;
	double rate0 = 50, rate1 = 100, got0, got1;
	__u64 window = 100 * NSEC_PER_MSEC, start, end_all = 0;
	int n0, n1, in_window, max_in_window;
	struct rate_change rc = { .e = e, .medium = 0 };
	struct th_cgroup cg;
	pthread_t thread;
	struct th_run r;
	struct th_run_opts o = {
		.addr = "127.0.0.1",
		.port = e->l4.port,
		.workers = 1,
		.duration_ns = 4 * NSEC_PER_SEC,
	};

	o.max_per_worker = max_per_worker(rate1, o.duration_ns, 1);
	worker_medium(e, &cg, 0, rate0, 0);
	o.cgroup = cg.path;
	start = cruise_now_ns() + 200 * NSEC_PER_MSEC; /* after the fork */
	o.start_at_ns = start;
	rc.at_ns = start + o.duration_ns / 2;
	rc.interval_ns = interval_of(rate1);
	assert_int_equal(pthread_create(&thread, NULL, rate_changer, &rc), 0);
	assert_int_equal(th_run_clients(&o, &r), 0);
	pthread_join(thread, NULL);
	assert_int_equal(rc.err, 0);
	print_errors(&r);
	assert_int_equal(r.failed, 0);

	for (int i = 0; i < r.n; i++)
		end_all = r.conns[i].end_ns > end_all ? r.conns[i].end_ns : end_all;
	in_window = 0;
	for (int i = 0; i < r.n; i++)
		in_window += r.conns[i].end_ns >= rc.changed_ns &&
			     r.conns[i].end_ns < rc.changed_ns + window;
	max_in_window = (int)ceil(rate1 * window / NSEC_PER_SEC) + 1;
	got0 = rate_between(&r, 0, rc.changed_ns, &n0);
	/* the connect in flight at the change keeps its old slot: skip one old interval */
	got1 = rate_between(&r, rc.changed_ns + interval_of(rate0), end_all + 1, &n1);
	printf("  rate change %.0f/s -> %.0f/s at %.3f s: before %d connects at %.3f/s (%+.3f%%), "
	       "%d in the first 100 ms after (at most %d), after %d connects at %.3f/s (%+.3f%%)\n",
	       rate0, rate1, ns_to_ms(rc.changed_ns - start) / 1000, n0, got0,
	       100 * rel_err(got0, rate0), in_window, max_in_window, n1, got1,
	       100 * rel_err(got1, rate1));
	assert_true(in_window <= max_in_window);
	assert_true(fabs(rel_err(got0, rate0)) <= RATE_TOL);
	assert_true(fabs(rel_err(got1, rate1)) <= RATE_TOL);
	th_run_free(&r);
}

/* 7. The medium's counters match what the clients did, and every connection is released. */
static void test_counters(void **state)
{
	struct th_env *e = *state;
	struct cruise_medium_state st;
	struct cruise_counters c;
	double rate = 100;
	struct th_cgroup cg;
	struct th_run r;
	struct th_run_opts o = {
		.addr = "::1",
		.port = e->l6.port,
		.workers = 2,
		.duration_ns = NSEC_PER_SEC,
	};

	o.max_per_worker = max_per_worker(rate, o.duration_ns, o.workers);
	worker_medium(e, &cg, 0, rate, 0);
	o.cgroup = cg.path;
	run_paced(&o, rate, &r);
	/* the clients have exited: their sockets are released */
	assert_int_equal(cruise_maps_counters(&e->h->maps, 0, &c), 0);
	assert_int_equal(cruise_maps_state(&e->h->maps, 0, &st), 0);
	printf("    counters: connections %llu admitted_now %llu delayed %llu (mean hold %.1f ms) "
	       "closed %llu refused %llu/%llu; open_conns %lld; clients made %d\n",
	       (unsigned long long)c.connections, (unsigned long long)c.admitted_now,
	       (unsigned long long)c.delayed, c.delayed ? ns_to_ms(c.delay_ns / c.delayed) : 0.0,
	       (unsigned long long)c.closed, (unsigned long long)c.refused_max_wait,
	       (unsigned long long)c.refused_max_conns, (long long)st.open_conns, r.n);
	assert_int_equal(c.connections, r.n);
	assert_int_equal(c.admitted_now + c.delayed, c.connections);
	assert_true(c.delayed > 0);
	assert_int_equal(c.refused_max_wait, 0);
	assert_int_equal(c.refused_max_conns, 0);
	assert_int_equal(c.dry_run_passed, 0);
	assert_int_equal(c.closed, c.connections);
	assert_int_equal(st.open_conns, 0);
	th_run_free(&r);
}

/* An optional argument selects tests by name (a cmocka glob pattern). */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rate_accuracy, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_wait_bound, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_dead_destination, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_nonblocking, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_v4_mapped, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_rate_change, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_counters, env_setup, env_teardown),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("pacing on the real datapath", tests, NULL, NULL);
}
