// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What a user configures, checked end to end on the real programs, real cgroups and loopback
 * sockets (docs/design.md section 3): refusals past max_wait and their events, max_conns and the
 * open count, independence of media, inheritance by child cgroups, what is not touched, dry-run and
 * IPv6.
 *
 * The clients (th_run_clients) record every connect (start, end, errno), with a pause after a
 * refusal where a real client would retry, connects abandoned while in progress, or an opener that
 * waits for a peer's reset. Every loop is bounded in count and in time.
 *
 * Run as root: it loads BPF programs, creates cgroups and mounts bpffs when it is missing.
 *
 * Over 600 lines: one case per user-visible policy (refusals, max_conns, dry run, errno), one
 * fixture.
 */
#define _GNU_SOURCE /* accept4 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "helpers.h"
#include "loader.h"

/* The specification's figures, not measured ones. */
#define RATE_TOL       0.02 /* an achieved rate is within 2% of the configured one */
#define UNPACED_FACTOR 5    /* "not paced": well above the medium's rate */

/* How long the open count may take to settle after the last close (softirq work on loopback). */
#define SETTLE_NS (1 * NSEC_PER_SEC)

#define POL_MAX_JOBS 8

/* 0 when the peer closed gracefully, its error (ECONNRESET for a reset), ETIMEDOUT otherwise. */
static int pol_wait_reset(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b;

	if (poll(&p, 1, 1000) != 1)
		return ETIMEDOUT;
	if (recv(fd, &b, 1, MSG_DONTWAIT) < 0)
		return errno;
	return 0;
}

/* An opener for th_run_opts: connect to the pol_target in arg, then wait for the peer's reset. */
struct pol_target {
	const char *addr;
	uint16_t port;
};

static int pol_open_probe_reset(void *arg, int worker, void **conn)
{
	const struct pol_target *t = arg;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, err;

	(void)worker;
	(void)conn;
	if (th_sockaddr(t->addr, t->port, &ss, &len))
		return EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	err = connect(fd, (struct sockaddr *)&ss, len) ? errno : pol_wait_reset(fd);
	close(fd);
	return err;
}

static int count_err(const struct th_run *r, int err)
{
	int n = 0;

	for (int i = 0; i < r->n; i++)
		n += r->conns[i].err == err;
	return n;
}

/* a listener whose accepted connections are reset at once (SO_LINGER 0) */

struct rst_listener {
	struct th_listener l; /* started without the fixture's accept loop: ours resets */
	pthread_t thread;
	bool running;
	volatile bool stop;
};

static void *rst_loop(void *arg)
{
	struct rst_listener *rl = arg;
	struct pollfd p = { .fd = rl->l.fd, .events = POLLIN };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	while (!rl->stop) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		for (;;) {
			int c = accept4(rl->l.fd, NULL, NULL, SOCK_CLOEXEC);

			if (c < 0)
				break;
			setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(c);
		}
	}
	return NULL;
}

static int rst_start(struct rst_listener *rl, const char *addr)
{
	int err = th_listener_start(&rl->l, addr, false, 4096);

	if (err)
		return err;
	rl->stop = false;
	if (pthread_create(&rl->thread, NULL, rst_loop, rl)) {
		th_listener_stop(&rl->l);
		return -EAGAIN;
	}
	rl->running = true;
	return 0;
}

static void rst_stop(struct rst_listener *rl)
{
	if (rl->running) {
		rl->stop = true;
		pthread_join(rl->thread, NULL);
		rl->running = false;
	}
	th_listener_stop(&rl->l);
}

/* refusal events from the ring buffer */

struct ev_list {
	struct cruise_event *v;
	int n, cap;
	int bad_size; /* records that are not one cruise_event */
};

static int ev_cb(void *ctx, void *data, size_t size)
{
	struct ev_list *l = ctx;

	if (size != sizeof(struct cruise_event)) {
		l->bad_size++;
		return 0;
	}
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 256;
		struct cruise_event *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	memcpy(&l->v[l->n++], data, sizeof(*l->v));
	return 0;
}

/* Everything the ring buffer holds now, appended to l. */
static int ev_collect(struct th_env *e, struct ev_list *l)
{
	struct ring_buffer *rb;
	int n;

	rb = ring_buffer__new(e->h->maps.events, ev_cb, l, NULL);
	if (!rb)
		return -errno;
	n = ring_buffer__consume(rb);
	ring_buffer__free(rb);
	return n < 0 ? n : 0;
}

/* per-test state: everything a failed test leaves is released by the teardown */

struct pol {
	struct th_env *e;
	struct th_listener extra; /* a listener that is not a target */
	struct rst_listener rst;
	int dead_fd; /* holds a port on which nothing listens */
	struct th_run runs[4];
	struct th_run pruns[4];
	struct th_job jobs[POL_MAX_JOBS];
	struct ev_list ev;
};

static int pol_setup(void **state)
{
	struct pol *p = calloc(1, sizeof(*p));

	if (!p)
		return -1;
	p->extra.fd = p->rst.l.fd = p->dead_fd = -1;
	p->e = th_env_new();
	if (!p->e) {
		free(p);
		return -1;
	}
	*state = p;
	return 0;
}

static int pol_teardown(void **state)
{
	struct pol *p = *state;

	if (!p)
		return 0;
	rst_stop(&p->rst);
	th_listener_stop(&p->extra);
	if (p->dead_fd >= 0)
		close(p->dead_fd);
	th_env_free(p->e);
	for (size_t i = 0; i < sizeof(p->runs) / sizeof(p->runs[0]); i++)
		th_run_free(&p->runs[i]);
	for (size_t i = 0; i < sizeof(p->pruns) / sizeof(p->pruns[0]); i++)
		th_run_free(&p->pruns[i]);
	for (int i = 0; i < POL_MAX_JOBS; i++)
		th_run_free(&p->jobs[i].r);
	free(p->ev.v);
	free(p);
	return 0;
}

static struct cruise_counters counters_of(struct th_env *e, __u32 medium)
{
	struct cruise_counters c;

	assert_int_equal(cruise_maps_counters(&e->h->maps, medium, &c), 0);
	return c;
}

static struct cruise_medium_state state_of(struct th_env *e, __u32 medium)
{
	struct cruise_medium_state st;

	assert_int_equal(cruise_maps_state(&e->h->maps, medium, &st), 0);
	return st;
}

/*
 * The open count once every client has closed. Ends that the kernel finishes asynchronously (a
 * reset processed in softirq) may trail the last close a little: wait for 0, bounded.
 */
static __s64 settled_open_conns(struct th_env *e, __u32 medium)
{
	__u64 deadline = cruise_now_ns() + SETTLE_NS;
	__s64 open;

	for (;;) {
		open = state_of(e, medium).open_conns;
		if (!open || cruise_now_ns() > deadline)
			return open;
		usleep(1000);
	}
}

static void assert_counters_zero(struct th_env *e, __u32 medium)
{
	struct cruise_counters c = counters_of(e, medium), zero = { 0 };
	struct cruise_medium_state st = state_of(e, medium);

	assert_memory_equal(&c, &zero, sizeof(c));
	assert_true(st.tat_ns == 0);
	assert_true(st.open_conns == 0);
}

static void assert_rate(const char *what, double rate, double want)
{
	print_message("%s: %.3f/s, configured %.1f/s (%+.2f%%)\n", what, rate, want,
		      100 * (rate / want - 1));
	assert_true(rate >= want * (1 - RATE_TOL) && rate <= want * (1 + RATE_TOL));
}

static void self_comm(char *buf, size_t len)
{
	char comm[CRUISE_COMM_LEN + 1] = "";

	assert_int_equal(prctl(PR_GET_NAME, comm, 0, 0, 0), 0);
	snprintf(buf, len, "%s", comm);
}

static void addr_of(const char *s, __u8 out[16])
{
	struct cruise_target_key k;

	assert_int_equal(th_target_key(&k, s, 0, 0), 0);
	memcpy(out, k.addr, 16);
}

/*
 * 1. Past max_wait a connect is refused with the medium's errno, immediately, and one event tells
 * who, where and why. With no errno configured it is ECONNREFUSED.
 */
static void test_refusal_max_wait(void **state)
{
	const double rate = 10;
	const __u64 interval = NSEC_PER_SEC / 10, max_wait = 150 * NSEC_PER_MSEC;
	struct pol *p = *state;
	struct th_env *e = p->e;
	struct th_cgroup cg, cg_def;
	struct th_run_opts o = {
		.addr = "127.0.0.1",
		.port = e->l4.port,
		.workers = 4,
		.duration_ns = NSEC_PER_SEC,
		/* at most 2000 refusals: one event each fits the 256 KiB ring without a consumer */
		.max_per_worker = 500,
		.fail_pause_ns = 2 * NSEC_PER_MSEC,
	};
	struct th_run_opts od = {
		.addr = "127.0.0.1",
		.port = e->l4.port,
		.workers = 1,
		.duration_ns = 200 * NSEC_PER_MSEC,
		.max_per_worker = 10,
		.fail_pause_ns = NSEC_PER_MSEC,
	};
	struct th_run *r = &p->pruns[0], *rd = &p->pruns[1];
	struct cruise_counters c, cd;
	char comm[CRUISE_COMM_LEN];
	__u8 v4[16];
	__u64 span;
	int ev0 = 0, ev1 = 0;

	assert_int_equal(th_env_medium(e, 0, rate, 0, max_wait, 0, ETIMEDOUT, 0), 0);
	/* max_wait 0 at 10/s: everything after the first connect within 100 ms is refused */
	assert_int_equal(th_env_medium(e, 1, rate, 0, 0, 0, 0, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cg, NULL, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cg_def, NULL, 1), 0);
	o.cgroup = cg.path;
	od.cgroup = cg_def.path;

	assert_int_equal(th_run_clients(&o, r), 0);
	assert_int_equal(th_run_clients(&od, rd), 0);
	assert_int_equal(ev_collect(e, &p->ev), 0);
	c = counters_of(e, 0);
	cd = counters_of(e, 1);
	span = r->conns[r->n - 1].start_ns - r->conns[0].start_ns;
	print_message("max_wait: %d connects in %.3f s, %d admitted, %d refused, %d events\n", r->n,
		      span / 1e9, r->ok, r->failed, p->ev.n);

	assert_true(r->failed > 0);
	assert_int_equal(count_err(r, ETIMEDOUT), r->failed);
	/*
	 * The medium admits one connect per interval, plus the first, plus what max_wait lets be
	 * reserved ahead: not more (it would not pace), not much fewer (it would refuse too much).
	 */
	assert_true(r->ok <= 2 + (int)((span + max_wait) / interval));
	assert_true(r->ok >= (int)(span / interval) - 1);

	assert_true(c.connections == (__u64)r->n);
	assert_true(c.refused_max_wait == (__u64)r->failed);
	assert_true(c.admitted_now + c.delayed == (__u64)r->ok);
	assert_true(c.refused_max_conns == 0);
	assert_true(c.events_lost == 0);

	assert_true(rd->failed > 0);
	assert_int_equal(count_err(rd, ECONNREFUSED), rd->failed);
	assert_true(cd.refused_max_wait == (__u64)rd->failed);
	assert_true(cd.events_lost == 0);

	self_comm(comm, sizeof(comm));
	addr_of("127.0.0.1", v4);
	assert_int_equal(p->ev.bad_size, 0);
	for (int i = 0; i < p->ev.n; i++) {
		const struct cruise_event *ev = &p->ev.v[i];
		bool dflt = ev->medium == 1;
		const struct th_run *rr = dflt ? rd : r;

		assert_true(ev->medium == 0 || ev->medium == 1);
		ev0 += !dflt;
		ev1 += dflt;
		assert_int_equal(ev->reason, CRUISE_REASON_MAX_WAIT);
		assert_true(ev->cgroup_id == (dflt ? cg_def.id : cg.id));
		assert_int_equal(ev->family, AF_INET);
		assert_int_equal(ev->dport, e->l4.port);
		assert_memory_equal(ev->daddr, v4, 16);
		assert_int_equal(ev->err, dflt ? ECONNREFUSED : ETIMEDOUT);
		assert_int_equal(ev->dry_run, 0);
		assert_true(th_run_has_pid(dflt ? rd : r, ev->pid));
		assert_string_equal(ev->comm, comm);
		/* refused because its slot was past max_wait, which is at most one interval more */
		assert_true(ev->wait_ns > (dflt ? 0 : max_wait));
		assert_true(ev->wait_ns <= (dflt ? 0 : max_wait) + interval);
		assert_true(ev->ts_ns >= rr->conns[0].start_ns);
		assert_true(ev->ts_ns <= rr->conns[rr->n - 1].end_ns);
	}
	print_message("events: %d for ETIMEDOUT refusals, %d for default-errno refusals (%d)\n",
		      ev0, ev1, rd->failed);
	assert_int_equal(ev0, r->failed);
	assert_int_equal(ev1, rd->failed);
}

/* Largest number of [end, end + hold) intervals of successful connects open at one instant. */
static int max_overlap(const struct th_run *r, __u64 hold)
{
	int n = 0, best = 0, cur = 0;
	__s64 *ev = calloc(2 * (r->ok ? r->ok : 1), sizeof(*ev));

	assert_non_null(ev);
	/* sign tells open (+) from close (-); times are all far from 0 */
	for (int i = 0; i < r->n; i++) {
		if (r->conns[i].err)
			continue;
		ev[n++] = (__s64)r->conns[i].end_ns;
		ev[n++] = -(__s64)(r->conns[i].end_ns + hold);
	}
	/* by time; at equal times a close goes first: half-open intervals */
	for (int i = 1; i < n; i++) {
		__s64 x = ev[i];
		int j = i - 1;

		while (j >= 0 &&
		       (llabs(ev[j]) > llabs(x) || (llabs(ev[j]) == llabs(x) && ev[j] > x))) {
			ev[j + 1] = ev[j];
			j--;
		}
		ev[j + 1] = x;
	}
	for (int i = 0; i < n; i++) {
		cur += ev[i] > 0 ? 1 : -1;
		if (cur > best)
			best = cur;
	}
	free(ev);
	return best;
}

/*
 * 2. max_conns: never more connections open than the limit, refusals counted and seen with the
 * medium's errno, and the open count back to 0 when all are closed.
 */
static void test_max_conns(void **state)
{
	const __u32 max_conns = 3;
	const __u64 hold = 200 * NSEC_PER_MSEC;
	struct pol *p = *state;
	struct th_env *e = p->e;
	struct th_run *r = &p->pruns[0];
	struct th_cgroup cg;
	struct th_run_opts o = {
		.addr = "127.0.0.1",
		.port = e->l4.port,
		.workers = 6,
		.duration_ns = 1500 * NSEC_PER_MSEC,
		.max_per_worker = 2000,
		.hold_open_ns = hold,
		.fail_pause_ns = NSEC_PER_MSEC,
	};
	struct cruise_counters c;
	int overlap, ev_conns = 0;
	__s64 open;

	assert_int_equal(th_env_medium(e, 0, 0, 0, 0, max_conns, EAGAIN, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cg, NULL, 0), 0);
	o.cgroup = cg.path;

	assert_int_equal(th_run_clients(&o, r), 0);
	open = settled_open_conns(e, 0);
	c = counters_of(e, 0);
	assert_int_equal(ev_collect(e, &p->ev), 0);
	/*
	 * The kernel counts a connection from inside connect() (before end_ns) to close() (after
	 * end_ns + hold): each client interval lies inside the counted one, so their overlap is a
	 * lower bound of the kernel's count and must not exceed the limit, with no tolerance.
	 */
	overlap = max_overlap(r, hold);
	print_message("max_conns %u: %d connects, %d admitted, %d refused, max %d open at once, "
		      "open_conns after %lld, closed %llu\n",
		      max_conns, r->n, r->ok, r->failed, overlap, (long long)open,
		      (unsigned long long)c.closed);

	assert_true(r->failed > 0);
	assert_int_equal(count_err(r, EAGAIN), r->failed);
	assert_true(c.refused_max_conns == (__u64)r->failed);
	assert_true(c.refused_max_wait == 0);
	assert_true(c.connections == (__u64)r->n);
	assert_true(c.admitted_now == (__u64)r->ok);
	assert_true(c.delayed == 0);
	assert_true(overlap <= (int)max_conns);
	/* six clients retrying every millisecond keep the limit full: it is not stricter either */
	assert_int_equal(overlap, max_conns);
	assert_true(open == 0);
	assert_true(c.closed == (__u64)r->ok);

	for (int i = 0; i < p->ev.n; i++) {
		const struct cruise_event *ev = &p->ev.v[i];

		assert_int_equal(ev->reason, CRUISE_REASON_MAX_CONNS);
		assert_int_equal(ev->err, EAGAIN);
		assert_true(ev->cgroup_id == cg.id);
		assert_true(th_run_has_pid(r, ev->pid));
		ev_conns++;
	}
	/* the ring may overflow here: what it could not take is counted as lost, never dropped */
	print_message("events: %d, lost %llu\n", ev_conns, (unsigned long long)c.events_lost);
	assert_true((__u64)ev_conns + c.events_lost == c.refused_max_conns);
}

/* A port on 127.0.0.1 with a socket bound to it and nothing listening: a SYN there gets RST. */
static int dead_port(int *fdp, uint16_t *port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len)) {
		close(fd);
		return -errno;
	}
	*fdp = fd;
	*port = ntohs(sin.sin_port);
	return 0;
}

/* Per medium: every connect counted, every admitted one released exactly once. */
static void assert_released(struct th_env *e, __u32 medium, const char *what, int connects,
			    int refused)
{
	__s64 open = settled_open_conns(e, medium);
	struct cruise_counters c = counters_of(e, medium);
	__u64 admitted = c.connections - c.refused_max_wait - c.refused_max_conns;

	print_message("%s: connects %llu (clients %d), admitted %llu, closed %llu, refused %llu "
		      "(clients %d), open_conns %lld\n",
		      what, (unsigned long long)c.connections, connects,
		      (unsigned long long)admitted, (unsigned long long)c.closed,
		      (unsigned long long)(c.refused_max_wait + c.refused_max_conns), refused,
		      (long long)open);
	assert_true(c.connections == (__u64)connects);
	assert_true(c.refused_max_wait + c.refused_max_conns == (__u64)refused);
	assert_true(open == 0);
	assert_true(c.closed == admitted);
}

/*
 * 3. The open count stays exact under churn: connections closed by the client, refused ones,
 * connects reset by the peer (nothing listens), sockets closed while their connect is held, and
 * established connections reset by the peer, all at once on several media.
 */
static void test_open_count_churn(void **state)
{
	struct pol *p = *state;
	struct pol_target reset_target = { .addr = "127.0.0.1" };
	struct th_env *e = p->e;
	struct th_job *j = p->jobs;
	struct th_cgroup cga, cgb, cgc, cgd;
	uint16_t dport = 0;
	int resets;

	/* 0: no pacing, no real limit; 1: refuses all but a few; 2: holds for long; 3: limit 2 */
	assert_int_equal(th_env_medium(e, 0, 0, 0, 0, 100000, 0, 0), 0);
	assert_int_equal(th_env_medium(e, 1, 50, 0, NSEC_PER_MSEC, 0, EAGAIN, 0), 0);
	assert_int_equal(th_env_medium(e, 2, 20, 0, 60 * NSEC_PER_SEC, 0, 0, 0), 0);
	assert_int_equal(th_env_medium(e, 3, 0, 0, 0, 2, EAGAIN, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cga, NULL, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cgb, NULL, 1), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cgc, NULL, 2), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cgd, NULL, 3), 0);
	assert_int_equal(dead_port(&p->dead_fd, &dport), 0);
	assert_int_equal(th_env_target(e, "127.0.0.1", 32, dport, 2), 0);
	assert_int_equal(rst_start(&p->rst, "127.0.0.1"), 0);
	assert_int_equal(th_env_target(e, "127.0.0.1", 32, p->rst.l.port, 3), 0);

	for (int i = 0; i < 7; i++) {
		j[i].o = (struct th_run_opts){
			.addr = "127.0.0.1",
			.port = e->l4.port,
			.workers = 1,
			.duration_ns = 3 * NSEC_PER_SEC,
			.max_per_worker = 300,
		};
	}
	/* medium 0: plain opens and closes, v4 and v6 */
	j[0].o.cgroup = cga.path;
	j[0].o.workers = 2;
	j[0].o.max_per_worker = 800;
	j[1].o.cgroup = cga.path;
	j[1].o.addr = "::1";
	j[1].o.port = e->l6.port;
	j[1].o.max_per_worker = 400;
	/* medium 0: admitted, then reset by the peer's kernel in SYN_SENT */
	j[2].o.cgroup = cga.path;
	j[2].o.port = dport;
	/* medium 0: established, then reset by the peer application */
	j[3].o.cgroup = cga.path;
	reset_target.port = p->rst.l.port;
	j[3].o.open_fn = pol_open_probe_reset;
	j[3].o.arg = &reset_target;
	/* medium 1: mostly refused past max_wait */
	j[4].o.cgroup = cgb.path;
	j[4].o.workers = 2;
	j[4].o.fail_pause_ns = NSEC_PER_MSEC;
	/* medium 2: held, and closed before the connect completes */
	j[5].o.cgroup = cgc.path;
	j[5].o.abandon = true;
	/* medium 3: refused past max_conns while others are released */
	j[6].o.cgroup = cgd.path;
	j[6].o.workers = 3;
	j[6].o.hold_open_ns = 2 * NSEC_PER_MSEC;
	j[6].o.fail_pause_ns = NSEC_PER_MSEC;

	assert_int_equal(th_jobs_run(j, 7), 0);

	resets = count_err(&j[3].r, ECONNRESET);
	print_message("churn: plain v4 %d, v6 %d, peer refused %d/%d, reset %d/%d, "
		      "max_wait refused %d/%d, abandoned %d/%d, max_conns refused %d/%d\n",
		      j[0].r.n, j[1].r.n, count_err(&j[2].r, ECONNREFUSED), j[2].r.n, resets,
		      j[3].r.n, j[4].r.failed, j[4].r.n, count_err(&j[5].r, EINPROGRESS), j[5].r.n,
		      j[6].r.failed, j[6].r.n);

	/* each case happened as intended */
	assert_int_equal(j[0].r.failed, 0);
	assert_int_equal(j[1].r.failed, 0);
	assert_true(j[2].r.n > 0);
	assert_int_equal(count_err(&j[2].r, ECONNREFUSED), j[2].r.n);
	assert_true(resets > 0);
	assert_true(j[4].r.failed > 0);
	assert_int_equal(count_err(&j[4].r, EAGAIN), j[4].r.failed);
	assert_true(j[5].r.n > 0);
	assert_int_equal(count_err(&j[5].r, EINPROGRESS), j[5].r.n);
	assert_true(j[6].r.failed > 0);
	assert_int_equal(count_err(&j[6].r, EAGAIN), j[6].r.failed);
	/* thousands of opens and closes in all */
	assert_true(j[0].r.n + j[1].r.n + j[2].r.n + j[3].r.n + j[4].r.n + j[5].r.n + j[6].r.n >=
		    2000);
	/* medium 2 really held them (all but the first) when they were abandoned */
	assert_true(counters_of(e, 2).delayed >= (__u64)j[5].r.n - 1);

	assert_released(e, 0, "medium 0 (plain, peer refused, reset)",
			j[0].r.n + j[1].r.n + j[2].r.n + j[3].r.n, 0);
	assert_released(e, 1, "medium 1 (max_wait)", j[4].r.n, j[4].r.failed);
	assert_released(e, 2, "medium 2 (abandoned while held)", j[5].r.n, 0);
	assert_released(e, 3, "medium 3 (max_conns)", j[6].r.n, j[6].r.failed);
}

/*
 * A connection ends at TCP_CLOSE, not when its descriptor is closed: a connect reset by the peer
 * (nothing listening, or the application resetting it) no longer holds a place under max_conns
 * while the client still holds its socket. One child keeps all its sockets open while the open
 * count is read.
 */
#define KEEP_DEAD 5
#define KEEP_RST  5
#define KEEP_EST  3

struct keep_result {
	int dead_refused; /* ECONNREFUSED from the peer */
	int reset;	  /* established, then ECONNRESET */
	int est_ok;	  /* established and kept */
	int other;	  /* anything else, refusals by cruise included */
};

/* A blocking connect whose socket is kept whatever the outcome; *err is its errno or 0. */
static int keep_connect(uint16_t port, int *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	*err = 0;
	if (th_sockaddr("127.0.0.1", port, &ss, &len))
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&ss, len))
		*err = errno;
	return fd;
}

static void keep_child(const char *cgroup, uint16_t dead, uint16_t rst, uint16_t est, int ready,
		       int go, struct keep_result *res)
{
	struct pollfd p = { .fd = go, .events = POLLIN };
	int fds[KEEP_DEAD + KEEP_RST + KEEP_EST], n = 0;

	if (th_cgroup_enter(cgroup))
		_exit(2);
	/* in this order: each phase needs the places the previous one no longer holds */
	for (int i = 0; i < KEEP_DEAD + KEEP_RST + KEEP_EST; i++) {
		uint16_t port = i < KEEP_DEAD ? dead : i < KEEP_DEAD + KEEP_RST ? rst : est;
		int err, fd = keep_connect(port, &err);

		if (fd < 0)
			_exit(4);
		fds[n++] = fd;
		if (port == dead && err == ECONNREFUSED)
			res->dead_refused++;
		else if (port == rst && !err && pol_wait_reset(fd) == ECONNRESET)
			res->reset++;
		else if (port == est && !err)
			res->est_ok++;
		else
			res->other++;
	}
	if (write(ready, "r", 1) != 1)
		_exit(5);
	/* bounded: the parent answers at once, or has gone */
	poll(&p, 1, 10000);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	_exit(0);
}

static void test_released_at_tcp_close(void **state)
{
	/* room for the established ones only: kept dead sockets would take it if still counted */
	const __u32 max_conns = KEEP_EST;
	struct pol *p = *state;
	struct th_env *e = p->e;
	struct keep_result *res, kept;
	struct pollfd rp;
	struct th_cgroup cg;
	struct cruise_medium_state st;
	struct cruise_counters c;
	int ready[2], go[2], status = -1;
	__s64 open_kept = -1, open_after;
	uint16_t dport = 0;
	pid_t pid;
	char b;

	assert_int_equal(th_env_medium(e, 0, 0, 0, 0, max_conns, EAGAIN, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cg, NULL, 0), 0);
	assert_int_equal(dead_port(&p->dead_fd, &dport), 0);
	assert_int_equal(th_env_target(e, "127.0.0.1", 32, dport, 2), 0);
	assert_int_equal(rst_start(&p->rst, "127.0.0.1"), 0);
	assert_int_equal(th_env_target(e, "127.0.0.1", 32, p->rst.l.port, 3), 0);
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(res != MAP_FAILED);
	memset(res, 0, sizeof(*res));
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);

	pid = fork();
	if (pid == 0)
		keep_child(cg.path, dport, p->rst.l.port, e->l4.port, ready[1], go[0], res);
	/* no assertion until the child is gone: it must not outlive the test in its cgroup */
	rp = (struct pollfd){ .fd = ready[0], .events = POLLIN };
	if (pid > 0 && poll(&rp, 1, 10000) == 1 && read(ready[0], &b, 1) == 1 &&
	    !cruise_maps_state(&e->h->maps, 0, &st))
		open_kept = st.open_conns;
	if (pid > 0) {
		if (write(go[1], "g", 1) != 1)
			kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	open_after = settled_open_conns(e, 0);
	c = counters_of(e, 0);
	print_message("kept open: %d peer-refused, %d reset, %d established (%d other); "
		      "open_conns %lld while kept, %lld after; admitted %llu, closed %llu, "
		      "refused %llu\n",
		      res->dead_refused, res->reset, res->est_ok, res->other, (long long)open_kept,
		      (long long)open_after, (unsigned long long)c.admitted_now,
		      (unsigned long long)c.closed, (unsigned long long)c.refused_max_conns);
	kept = *res;
	munmap(res, sizeof(*res));
	assert_true(pid > 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/*
	 * Refused past max_conns: connections that had ended (TCP_CLOSE) still held places because
	 * their sockets were open. Ended in SYN_SENT or ended once established, both must be free.
	 */
	assert_true(c.refused_max_conns == 0);
	assert_int_equal(kept.other, 0);
	assert_int_equal(kept.dead_refused, KEEP_DEAD);
	assert_int_equal(kept.reset, KEEP_RST);
	assert_int_equal(kept.est_ok, KEEP_EST);
	/* only the established ones are counted while all the sockets are held */
	assert_true(open_kept == KEEP_EST);
	assert_true(c.connections == KEEP_DEAD + KEEP_RST + KEEP_EST);
	assert_true(open_after == 0);
	assert_true(c.closed == c.admitted_now);
}

/* 4. Two media in two cgroups, loaded at once, each keeps its own rate. */
static void test_two_media_independent(void **state)
{
	const double rate0 = 20, rate1 = 80;
	struct pol *p = *state;
	struct th_env *e = p->e;
	struct th_job *j = p->jobs;
	struct th_cgroup cg0, cg1;

	assert_int_equal(th_env_medium(e, 0, rate0, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	assert_int_equal(th_env_medium(e, 1, rate1, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cg0, NULL, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cg1, NULL, 1), 0);
	for (int i = 0; i < 2; i++) {
		j[i].o = (struct th_run_opts){
			.cgroup = i ? cg1.path : cg0.path,
			.addr = "127.0.0.1",
			.port = e->l4.port,
			.workers = 2,
			.duration_ns = 2500 * NSEC_PER_MSEC,
			.max_per_worker = 1000,
		};
	}
	assert_int_equal(th_jobs_run(j, 2), 0);

	assert_int_equal(j[0].r.failed, 0);
	assert_int_equal(j[1].r.failed, 0);
	/* the runs overlapped for most of their time */
	assert_true(j[0].r.first_end_ns < j[1].r.last_end_ns &&
		    j[1].r.first_end_ns < j[0].r.last_end_ns);
	print_message("medium 0: %d connects; medium 1: %d connects\n", j[0].r.n, j[1].r.n);
	assert_rate("medium 0 at 20/s", th_run_rate(&j[0].r), rate0);
	assert_rate("medium 1 at 80/s", th_run_rate(&j[1].r), rate1);
	/* each medium counted its own cgroup's connects only */
	assert_true(counters_of(e, 0).connections == (__u64)j[0].r.n);
	assert_true(counters_of(e, 1).connections == (__u64)j[1].r.n);
}

/* 5. A cgroup created under a bound one after the binding is paced as its parent. */
static void test_child_cgroup_inherits(void **state)
{
	const double rate = 30;
	struct pol *p = *state;
	struct th_env *e = p->e;
	struct th_run *r = &p->runs[0];
	struct th_cgroup parent, child;
	struct th_run_opts o = {
		.addr = "127.0.0.1",
		.port = e->l4.port,
		.workers = 2,
		.duration_ns = 2 * NSEC_PER_SEC,
		.max_per_worker = 1000,
	};
	struct cruise_counters c;

	assert_int_equal(th_env_medium(e, 0, rate, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &parent, NULL, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &child, &parent, -1), 0);
	o.cgroup = child.path;

	assert_int_equal(th_run_clients(&o, r), 0);
	c = counters_of(e, 0);
	print_message("child of a bound cgroup: %d connects, %llu delayed\n", r->n,
		      (unsigned long long)c.delayed);
	assert_int_equal(r->failed, 0);
	assert_rate("child cgroup at 30/s", th_run_rate(r), rate);
	assert_true(c.connections == (__u64)r->n);
	assert_true(c.delayed > 0);
}

/*
 * 6. Not touched: an unbound cgroup, a port that is not a target, and UDP. Each runs far above
 * the medium's rate and leaves its counters and state as they were.
 */
static void test_not_touched(void **state)
{
	const double rate = 10;
	struct pol *p = *state;
	struct th_env *e = p->e;
	struct th_cgroup bound, unbound;
	struct th_run_opts o = {
		.addr = "127.0.0.1",
		.port = e->l4.port,
		.workers = 1,
		.duration_ns = 500 * NSEC_PER_MSEC,
		.max_per_worker = 2000,
	};
	double ra, rb, rc;

	assert_int_equal(th_env_medium(e, 0, rate, 0, 100 * NSEC_PER_MSEC, 0, 0, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &bound, NULL, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &unbound, NULL, -1), 0);
	assert_int_equal(th_listener_start(&p->extra, "127.0.0.1", true, 4096), 0);

	/* (a) an unbound cgroup under the scope, to a target */
	o.cgroup = unbound.path;
	assert_int_equal(th_run_clients(&o, &p->runs[0]), 0);
	/* (b) the bound cgroup, to a port that is not a target */
	o.cgroup = bound.path;
	o.port = p->extra.port;
	assert_int_equal(th_run_clients(&o, &p->runs[1]), 0);
	/* (c) the bound cgroup, UDP to the target's address and port */
	o.port = e->l4.port;
	o.udp = true;
	assert_int_equal(th_run_clients(&o, &p->runs[2]), 0);

	ra = th_run_rate(&p->runs[0]);
	rb = th_run_rate(&p->runs[1]);
	rc = th_run_rate(&p->runs[2]);
	print_message("unbound cgroup: %d connects, %.0f/s; non-target port: %d connects, %.0f/s; "
		      "UDP: %d sends, %.0f/s (medium %.0f/s)\n",
		      p->runs[0].n, ra, p->runs[1].n, rb, p->runs[2].n, rc, rate);
	for (int i = 0; i < 3; i++) {
		assert_true(p->runs[i].n > 0);
		assert_int_equal(p->runs[i].failed, 0);
	}
	assert_true(ra > UNPACED_FACTOR * rate);
	assert_true(rb > UNPACED_FACTOR * rate);
	assert_true(rc > UNPACED_FACTOR * rate);
	assert_counters_zero(e, 0);
}

/* 7. Dry-run delays and refuses nothing, and counts what it would have done. */
static void test_dry_run(void **state)
{
	const double rate = 10;
	struct pol *p = *state;
	struct th_env *e = p->e;
	struct th_run *r = &p->runs[0];
	struct th_cgroup cg;
	struct th_run_opts o = {
		.addr = "127.0.0.1",
		.port = e->l4.port,
		.workers = 1,
		.duration_ns = NSEC_PER_SEC,
		.max_per_worker = 2000, /* at most 2000 events: they fit the ring */
	};
	struct cruise_counters c;
	__s64 open;
	double achieved;

	assert_int_equal(
		th_env_medium(e, 0, rate, 0, 200 * NSEC_PER_MSEC, 0, 0, CRUISE_MEDIUM_DRY_RUN), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cg, NULL, 0), 0);
	o.cgroup = cg.path;

	assert_int_equal(th_run_clients(&o, r), 0);
	open = settled_open_conns(e, 0);
	c = counters_of(e, 0);
	assert_int_equal(ev_collect(e, &p->ev), 0);
	achieved = th_run_rate(r);
	print_message("dry-run: %d connects, %.0f/s (medium %.0f/s); would delay %llu, "
		      "refuse %llu; dry_run_passed %llu, events %d\n",
		      r->n, achieved, rate, (unsigned long long)c.delayed,
		      (unsigned long long)(c.refused_max_wait + c.refused_max_conns),
		      (unsigned long long)c.dry_run_passed, p->ev.n);

	assert_int_equal(r->failed, 0);
	assert_true(achieved > UNPACED_FACTOR * rate);
	assert_true(c.connections == (__u64)r->n);
	assert_true(c.delayed + c.refused_max_wait > 0);
	assert_true(c.dry_run_passed == c.delayed + c.refused_max_wait + c.refused_max_conns);
	assert_true(c.events_lost == 0);
	/* everything went through, so everything is released */
	assert_true(open == 0);
	assert_true(c.closed == c.connections);

	assert_int_equal(p->ev.bad_size, 0);
	assert_true(p->ev.n > 0);
	assert_true((__u64)p->ev.n == c.refused_max_wait + c.refused_max_conns);
	for (int i = 0; i < p->ev.n; i++) {
		assert_int_equal(p->ev.v[i].dry_run, 1);
		assert_int_equal(p->ev.v[i].err, 0);
		assert_int_equal(p->ev.v[i].reason, CRUISE_REASON_MAX_WAIT);
		assert_true(p->ev.v[i].cgroup_id == cg.id);
	}

	/* enforcement on: the simulated backlog (up to max_wait) is dropped, not waited out */
	assert_int_equal(th_env_medium(e, 0, rate, 0, 200 * NSEC_PER_MSEC, 0, 0, 0), 0);
	o.max_per_worker = 1;
	th_run_free(r);
	assert_int_equal(th_run_clients(&o, r), 0);
	assert_int_equal(r->ok, 1);
	print_message("dry-run: first enforced connect took %.3f ms\n",
		      (double)(r->conns[0].end_ns - r->conns[0].start_ns) / NSEC_PER_MSEC);
	assert_true(r->conns[0].end_ns - r->conns[0].start_ns < th_jiffy_ns());
}

/*
 * 8. IPv6: a bound cgroup connecting to ::1 is paced, and refusals to ::1 and to an IPv4-mapped
 * address (connect6 matching an IPv4 target) report AF_INET6 and the address the app asked for.
 */
static void test_ipv6(void **state)
{
	const double rate = 40;
	struct pol *p = *state;
	struct th_env *e = p->e;
	struct th_run *r = &p->runs[0];
	struct th_run *pr6 = &p->pruns[0], *prm = &p->pruns[1];
	struct th_cgroup cg, cgr;
	struct th_run_opts o = {
		.addr = "::1",
		.port = e->l6.port,
		.workers = 2,
		.duration_ns = 2 * NSEC_PER_SEC,
		.max_per_worker = 1000,
	};
	struct th_run_opts po = {
		.addr = "::1",
		.port = e->l6.port,
		.workers = 1,
		.duration_ns = 200 * NSEC_PER_MSEC,
		.max_per_worker = 10,
		.fail_pause_ns = NSEC_PER_MSEC,
	};
	__u8 a6[16], amapped[16];
	int ev6 = 0, evm = 0;

	assert_int_equal(th_env_medium(e, 0, rate, 0, NSEC_PER_SEC, 0, 0, 0), 0);
	/* max_wait 0 at 10/s: refuses all but the first of a quick series */
	assert_int_equal(th_env_medium(e, 1, 10, 0, 0, 0, 0, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cg, NULL, 0), 0);
	assert_int_equal(th_env_worker_cgroup(e, &cgr, NULL, 1), 0);
	o.cgroup = cg.path;
	po.cgroup = cgr.path;

	assert_int_equal(th_run_clients(&o, r), 0);
	print_message("IPv6 to ::1: %d connects\n", r->n);
	assert_int_equal(r->failed, 0);
	assert_rate("IPv6 at 40/s", th_run_rate(r), rate);
	assert_true(counters_of(e, 0).connections == (__u64)r->n);

	assert_int_equal(th_run_clients(&po, pr6), 0);
	po.addr = "::ffff:127.0.0.1";
	po.port = e->l4.port;
	assert_int_equal(th_run_clients(&po, prm), 0);
	assert_int_equal(ev_collect(e, &p->ev), 0);
	print_message("refused: to ::1 %d/%d, to ::ffff:127.0.0.1 %d/%d; events %d\n", pr6->failed,
		      pr6->n, prm->failed, prm->n, p->ev.n);
	assert_true(pr6->failed > 0);
	assert_int_equal(count_err(pr6, ECONNREFUSED), pr6->failed);
	/* medium 1's schedule is still ahead from the ::1 run: these are refused from the first */
	assert_true(prm->failed > 0);
	assert_int_equal(count_err(prm, ECONNREFUSED), prm->failed);

	addr_of("::1", a6);
	addr_of("127.0.0.1", amapped);
	assert_int_equal(p->ev.bad_size, 0);
	for (int i = 0; i < p->ev.n; i++) {
		const struct cruise_event *ev = &p->ev.v[i];
		bool mapped = ev->dport == e->l4.port;

		assert_int_equal(ev->medium, 1);
		assert_int_equal(ev->family, AF_INET6);
		assert_true(ev->cgroup_id == cgr.id);
		assert_int_equal(ev->reason, CRUISE_REASON_MAX_WAIT);
		assert_int_equal(ev->err, ECONNREFUSED);
		assert_int_equal(ev->dport, mapped ? e->l4.port : e->l6.port);
		assert_memory_equal(ev->daddr, mapped ? amapped : a6, 16);
		assert_true(th_run_has_pid(mapped ? prm : pr6, ev->pid));
		ev6 += !mapped;
		evm += mapped;
	}
	assert_int_equal(ev6, pr6->failed);
	assert_int_equal(evm, prm->failed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refusal_max_wait, pol_setup, pol_teardown),
		cmocka_unit_test_setup_teardown(test_max_conns, pol_setup, pol_teardown),
		cmocka_unit_test_setup_teardown(test_open_count_churn, pol_setup, pol_teardown),
		cmocka_unit_test_setup_teardown(test_released_at_tcp_close, pol_setup,
						pol_teardown),
		cmocka_unit_test_setup_teardown(test_two_media_independent, pol_setup,
						pol_teardown),
		cmocka_unit_test_setup_teardown(test_child_cgroup_inherits, pol_setup,
						pol_teardown),
		cmocka_unit_test_setup_teardown(test_not_touched, pol_setup, pol_teardown),
		cmocka_unit_test_setup_teardown(test_dry_run, pol_setup, pol_teardown),
		cmocka_unit_test_setup_teardown(test_ipv6, pol_setup, pol_teardown),
	};

	return cmocka_run_group_tests_name("cruise policy (real programs, cgroups, sockets)", tests,
					   NULL, NULL);
}
