// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Which runs first: cruise's connect4 or a socket load balancer's (docs/order.md).
 *
 * A socket load balancer (tests/bpf/sock_lb.bpf.c) rewrites 127.0.0.9:P, a stand-in ClusterIP, to
 * a backend 127.0.0.1:Q inside connect(). cruise, the real datapath loaded by the fixture, counts
 * a connect under its cgroup's medium only when the destination it sees is a target. So what
 * cruise saw is read from its counters: one run of NCONN connects with the VIP as the only target,
 * one with the backend as the only target; every connect of both must reach the backend listener
 * through the load balancer.
 *
 * The kernel's rule (kernel/bpf/cgroup.c, compute_effective_progs): the effective array of a
 * cgroup holds its own programs in list order, then its parent's, and so on up to the root. A
 * plain attachment goes to the end of its cgroup's list (attach order); BPF_F_BEFORE/BPF_F_AFTER
 * place it elsewhere in that list, and programs attached with BPF_F_PREORDER go before all the
 * others, root first. Each case also reads the effective array of the worker's cgroup
 * (BPF_F_QUERY_EFFECTIVE) and checks that it puts cruise and the LB in the order the counters
 * show. What each case saw is printed.
 *
 * Run as root: it loads BPF programs and creates cgroups; its only traffic is on loopback.
 */
#define _GNU_SOURCE /* accept4 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "helpers.h"
#include "loader.h"
#include "sock_lb.skel.h"

/* from newer uapi headers (BPF_F_BEFORE: Linux 6.6, BPF_F_PREORDER: 6.15); Debian 12's are 6.1's */
#ifndef BPF_F_BEFORE
#define BPF_F_BEFORE (1U << 3)
#endif
#ifndef BPF_F_PREORDER
#define BPF_F_PREORDER (1U << 6)
#endif

#define VIP	"127.0.0.9" /* the stand-in ClusterIP: on lo, nothing listens there */
#define BACKEND "127.0.0.1"
#define NCONN	5 /* connects per run */
#define MEDIUM	0

/* What cruise saw, from its counters: bits. */
#define SAW_VIP	    1
#define SAW_BACKEND 2

static const char *const saw_names[] = { "neither", "the VIP", "the backend", "both" };

struct order {
	struct th_env *e;
	struct cruise_handle *h2; /* a second load of the datapath (an agent's restart), or NULL */
	struct sock_lb_bpf *lb;
	struct bpf_link *lb_link; /* the LB attached through libbpf, or NULL */
	int lb_link_fd;		  /* the LB attached through a link with flags, or -1 */
	struct th_listener backend;
	__u16 vip_port;
};

static void order_free(struct order *t)
{
	if (!t)
		return;
	bpf_link__destroy(t->lb_link);
	if (t->lb_link_fd >= 0)
		close(t->lb_link_fd); /* its last fd: the link detaches */
	sock_lb_bpf__destroy(t->lb);
	th_listener_stop(&t->backend);
	cruise_destroy(t->h2);
	th_env_free(t->e);
	free(t);
}

/*
 * Per test: a fresh datapath at a fresh scope (the fixture), medium MEDIUM with no limits, a
 * backend listener the test accepts from itself, the LB loaded for VIP:P -> backend, not attached.
 */
static int order_setup(void **state)
{
	struct order *t = calloc(1, sizeof(*t));
	__u32 vip;

	if (!t)
		return -1;
	t->lb_link_fd = -1;
	t->backend.fd = -1;
	t->e = th_env_new();
	if (!t->e || th_env_medium(t->e, MEDIUM, 0, 0, 0, 0, 0, 0) ||
	    th_listener_start(&t->backend, BACKEND, false, 4 * NCONN))
		goto fail;
	t->vip_port = th_free_port(BACKEND);
	if (!t->vip_port || inet_pton(AF_INET, VIP, &vip) != 1)
		goto fail;
	t->lb = sock_lb_bpf__open();
	if (!t->lb)
		goto fail;
	t->lb->rodata->lb_vip_ip4 = vip;
	t->lb->rodata->lb_vip_port = htons(t->vip_port);
	t->lb->rodata->lb_backend_ip4 = htonl(INADDR_LOOPBACK);
	t->lb->rodata->lb_backend_port = htons(t->backend.port);
	if (sock_lb_bpf__load(t->lb)) {
		fprintf(stderr, "cannot load the socket LB: %s\n", strerror(errno));
		goto fail;
	}
	*state = t;
	return 0;
fail:
	order_free(t);
	return -1;
}

/* Runs even when the test failed: the LB's attachment, then the fixture's cgroups, links, pins. */
static int order_teardown(void **state)
{
	order_free(*state);
	return 0;
}

static int cg_open(const struct th_cgroup *cg)
{
	return open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Attach the LB at cg through a bpf_link, as a socket LB does (appended to cg's programs). */
static void lb_attach(struct order *t, const struct th_cgroup *cg)
{
	int fd = cg_open(cg);

	assert_true(fd >= 0);
	t->lb_link = bpf_program__attach_cgroup(t->lb->progs.test_sock_lb4, fd);
	if (!t->lb_link)
		fprintf(stderr, "cannot attach the LB to %s: %s\n", cg->path, strerror(errno));
	close(fd);
	assert_non_null(t->lb_link);
}

/*
 * Attach the LB at cg through a link created with flags (BPF_LINK_CREATE; libbpf 1.1 has no
 * cgroup attach with options). A kernel that refuses the flags skips the test.
 */
static void lb_attach_flags(struct order *t, const struct th_cgroup *cg, __u32 flags,
			    const char *flag_name)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
	int fd = cg_open(cg), err;

	assert_true(fd >= 0);
	t->lb_link_fd = bpf_link_create(bpf_program__fd(t->lb->progs.test_sock_lb4), fd,
					BPF_CGROUP_INET4_CONNECT, &opts);
	err = errno;
	close(fd);
	if (t->lb_link_fd < 0 && err == EINVAL) {
		printf("    a cgroup link with %s refused: %s\n", flag_name, strerror(err));
		skip();
	}
	if (t->lb_link_fd < 0)
		fprintf(stderr, "cannot attach the LB to %s: %s\n", cg->path, strerror(err));
	assert_true(t->lb_link_fd >= 0);
}

/* Move cruise's links to cg as the agent attaches: the new links first, then the old ones go. */
static void cruise_move(struct order *t, const struct th_cgroup *cg)
{
	char msg[512];
	int err = cruise_attach_pinned(t->e->h, cg->path, msg, sizeof(msg));

	if (err)
		fprintf(stderr, "%s\n", msg);
	assert_int_equal(err, 0);
}

static void target_set(struct order *t, const char *addr, __u16 port, bool on)
{
	struct cruise_target_key k;

	assert_int_equal(th_target_key(&k, addr, 32, port), 0);
	if (on)
		assert_int_equal(cruise_maps_add_target(&t->e->h->maps, &k, 7), 0);
	else
		assert_int_equal(bpf_map_delete_elem(t->e->h->maps.targets, &k), 0);
}

static __u64 lb_rewrites(const struct order *t)
{
	return *(volatile const __u64 *)&t->lb->bss->lb_rewrites;
}

/* Accept (and close) what reached the backend: at least want, or what came in timeout_ms. */
static int backend_drain(struct order *t, int want, int timeout_ms)
{
	__u64 deadline = cruise_now_ns() + timeout_ms * NSEC_PER_MSEC;
	struct pollfd p = { .fd = t->backend.fd, .events = POLLIN };
	int n = 0;

	for (;;) {
		int c = accept4(t->backend.fd, NULL, NULL, SOCK_CLOEXEC);

		if (c >= 0) {
			close(c);
			n++;
			continue;
		}
		if (n >= want || cruise_now_ns() >= deadline)
			return n;
		poll(&p, 1, 10);
	}
}

struct run_result {
	int ok, failed, accepted;
	__u64 rewrites; /* by the LB */
	__u64 counted;	/* by cruise, under MEDIUM */
};

/* NCONN blocking connects to VIP:P from the worker cgroup, one after another. */
static void run_connects(struct order *t, const struct th_cgroup *worker, struct run_result *res)
{
	struct th_run_opts o = {
		.cgroup = worker->path,
		.addr = VIP,
		.port = t->vip_port,
		.workers = 1,
		.duration_ns = 10 * NSEC_PER_SEC,
		.max_per_worker = NCONN,
	};
	struct cruise_counters c0, c1;
	struct th_run r;
	__u64 rw0 = lb_rewrites(t);

	assert_int_equal(cruise_maps_counters(&t->e->h->maps, MEDIUM, &c0), 0);
	assert_int_equal(th_run_clients(&o, &r), 0);
	res->accepted = backend_drain(t, r.ok, 2000);
	assert_int_equal(cruise_maps_counters(&t->e->h->maps, MEDIUM, &c1), 0);
	res->ok = r.ok;
	res->failed = r.failed;
	res->rewrites = lb_rewrites(t) - rw0;
	res->counted = c1.connections - c0.connections;
	for (int i = 0; i < r.n; i++)
		if (r.conns[i].err)
			printf("    connect %d failed: %s\n", i, strerror(r.conns[i].err));
	th_run_free(&r);
}

/*
 * What cruise saw of connects to VIP:P from worker: SAW_VIP if it counted them with the VIP as
 * its only target, SAW_BACKEND if with the backend as its only target. Every connect must reach
 * the backend, rewritten by the LB, and cruise counts all of a run or none.
 */
static int observe(struct order *t, const struct th_cgroup *worker)
{
	struct run_result v = { 0 }, b = { 0 };

	target_set(t, VIP, t->vip_port, true);
	run_connects(t, worker, &v);
	target_set(t, VIP, t->vip_port, false);
	target_set(t, BACKEND, t->backend.port, true);
	run_connects(t, worker, &b);
	target_set(t, BACKEND, t->backend.port, false);

	printf("    target %s:%u only: %d/%d connected, LB rewrote %llu, backend accepted %d, "
	       "cruise counted %llu\n",
	       VIP, t->vip_port, v.ok, NCONN, (unsigned long long)v.rewrites, v.accepted,
	       (unsigned long long)v.counted);
	printf("    target %s:%u only: %d/%d connected, LB rewrote %llu, backend accepted %d, "
	       "cruise counted %llu\n",
	       BACKEND, t->backend.port, b.ok, NCONN, (unsigned long long)b.rewrites, b.accepted,
	       (unsigned long long)b.counted);

	assert_int_equal(v.ok, NCONN);
	assert_int_equal(b.ok, NCONN);
	assert_int_equal(v.rewrites, NCONN);
	assert_int_equal(b.rewrites, NCONN);
	assert_int_equal(v.accepted, NCONN);
	assert_int_equal(b.accepted, NCONN);
	assert_true(v.counted == 0 || v.counted == NCONN);
	assert_true(b.counted == 0 || b.counted == NCONN);
	return (v.counted ? SAW_VIP : 0) | (b.counted ? SAW_BACKEND : 0);
}

static __u32 prog_id(int prog_fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	assert_int_equal(bpf_obj_get_info_by_fd(prog_fd, &info, &len), 0);
	return info.id;
}

/*
 * The connect4 programs a socket of the worker's cgroup runs, in order (BPF_F_QUERY_EFFECTIVE),
 * printed; the positions of cruise's (cruise_id) and the LB's in it.
 */
static void effective(struct order *t, const struct th_cgroup *worker, __u32 cruise_id,
		      int *cruise_pos, int *lb_pos)
{
	__u32 ids[64], cnt = 64, flags = 0,
		       lb_id = prog_id(bpf_program__fd(t->lb->progs.test_sock_lb4));
	char line[512];
	size_t off = 0;
	int fd = cg_open(worker);

	assert_true(fd >= 0);
	assert_int_equal(bpf_prog_query(fd, BPF_CGROUP_INET4_CONNECT, BPF_F_QUERY_EFFECTIVE, &flags,
					ids, &cnt),
			 0);
	close(fd);
	*cruise_pos = *lb_pos = -1;
	line[0] = '\0';
	for (__u32 i = 0; i < cnt && off < sizeof(line); i++) {
		const char *name = "other";

		if (ids[i] == cruise_id) {
			*cruise_pos = i;
			name = "cruise_connect4";
		} else if (ids[i] == lb_id) {
			*lb_pos = i;
			name = "test_sock_lb4";
		}
		off += snprintf(line + off, sizeof(line) - off, "%s%s (id %u)", i ? ", " : "", name,
				ids[i]);
	}
	printf("    effective connect4 array of the worker's cgroup: %s\n", line);
	assert_true(*cruise_pos >= 0);
	assert_true(*lb_pos >= 0);
}

/*
 * The case's check: the effective array puts cruise before the LB exactly when the rule says
 * cruise sees the VIP, and the counters show that cruise saw want.
 */
static void check(struct order *t, const struct th_cgroup *worker, __u32 cruise_id, int want)
{
	int cruise_pos, lb_pos, saw;

	effective(t, worker, cruise_id, &cruise_pos, &lb_pos);
	assert_int_equal(cruise_pos < lb_pos, want == SAW_VIP);
	saw = observe(t, worker);
	printf("    cruise saw %s (the rule predicts %s)\n", saw_names[saw], saw_names[want]);
	assert_int_equal(saw, want);
}

static __u32 cruise_id(struct cruise_handle *h)
{
	return prog_id(cruise_prog_fd(h, CRUISE_PROG_CONNECT4));
}

/* scope/lb: the LB; scope/lb/cruise: cruise; the worker below. A descendant's programs go first. */
static void test_lb_at_parent(void **state)
{
	struct order *t = *state;
	struct th_cgroup lb, cr, w;

	printf("  LB at the parent of cruise's scope:\n");
	assert_int_equal(th_cgroup_create(&lb, &t->e->scope, "lb"), 0);
	lb_attach(t, &lb);
	assert_int_equal(th_cgroup_create(&cr, &lb, "cruise"), 0);
	cruise_move(t, &cr);
	assert_int_equal(th_env_worker_cgroup(t->e, &w, &cr, MEDIUM), 0);
	check(t, &w, cruise_id(t->e->h), SAW_VIP);
}

/* The other way round: cruise at the scope, the LB at scope/lb, the worker below. */
static void test_lb_at_child(void **state)
{
	struct order *t = *state;
	struct th_cgroup lb, w;

	printf("  LB at a child of cruise's scope:\n");
	assert_int_equal(th_cgroup_create(&lb, &t->e->scope, "lb"), 0);
	lb_attach(t, &lb);
	assert_int_equal(th_env_worker_cgroup(t->e, &w, &lb, MEDIUM), 0);
	check(t, &w, cruise_id(t->e->h), SAW_BACKEND);
}

/*
 * Both at the scope, cruise attached first (by the fixture): cruise runs first. Then an agent's
 * restart: a new load updates cruise's pinned links in place (bpf_link_update), which keeps their
 * place in the array, so cruise still runs first.
 */
static void test_same_cgroup_cruise_first(void **state)
{
	struct order *t = *state;
	struct th_cgroup w;
	char msg[512];
	int err;

	printf("  both at the scope, cruise attached first:\n");
	lb_attach(t, &t->e->scope);
	assert_int_equal(th_env_worker_cgroup(t->e, &w, NULL, MEDIUM), 0);
	check(t, &w, cruise_id(t->e->h), SAW_VIP);

	printf("  ... then cruise loaded again, its pinned links updated in place:\n");
	err = cruise_load(&t->h2, t->e->pin_dir, msg, sizeof(msg));
	if (!err)
		err = cruise_attach_pinned(t->h2, t->e->scope.path, msg, sizeof(msg));
	if (err)
		fprintf(stderr, "%s\n", msg);
	assert_int_equal(err, 0);
	assert_int_not_equal(cruise_id(t->h2), cruise_id(t->e->h));
	check(t, &w, cruise_id(t->h2), SAW_VIP);
}

/* Both at one cgroup, the LB attached first, then cruise: the LB runs first. */
static void test_same_cgroup_lb_first(void **state)
{
	struct order *t = *state;
	struct th_cgroup x, w;

	printf("  both at one cgroup, the LB attached first:\n");
	assert_int_equal(th_cgroup_create(&x, &t->e->scope, "x"), 0);
	lb_attach(t, &x);
	cruise_move(t, &x);
	assert_int_equal(th_env_worker_cgroup(t->e, &w, &x, MEDIUM), 0);
	check(t, &w, cruise_id(t->e->h), SAW_BACKEND);
}

/*
 * Both at the scope, cruise attached first, then the LB with BPF_F_BEFORE (no relative program:
 * the front of the scope's list): within one cgroup the flags decide before attach order does.
 */
static void test_same_cgroup_lb_before(void **state)
{
	struct order *t = *state;
	struct th_cgroup w;

	printf("  both at the scope, cruise attached first, the LB after with BPF_F_BEFORE:\n");
	lb_attach_flags(t, &t->e->scope, BPF_F_BEFORE, "BPF_F_BEFORE");
	assert_int_equal(th_env_worker_cgroup(t->e, &w, NULL, MEDIUM), 0);
	check(t, &w, cruise_id(t->e->h), SAW_BACKEND);
}

/*
 * The exception to descendants first: an LB at the parent attached with BPF_F_PREORDER runs
 * before the programs of the descendants, cruise's included.
 */
static void test_preorder_parent(void **state)
{
	struct order *t = *state;
	struct th_cgroup lb, cr, w;

	printf("  LB at the parent of cruise's scope, attached with BPF_F_PREORDER:\n");
	assert_int_equal(th_cgroup_create(&lb, &t->e->scope, "lb"), 0);
	lb_attach_flags(t, &lb, BPF_F_PREORDER, "BPF_F_PREORDER");
	assert_int_equal(th_cgroup_create(&cr, &lb, "cruise"), 0);
	cruise_move(t, &cr);
	assert_int_equal(th_env_worker_cgroup(t->e, &w, &cr, MEDIUM), 0);
	check(t, &w, cruise_id(t->e->h), SAW_BACKEND);
}

/* An optional argument selects tests by name (a cmocka glob pattern). */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lb_at_parent, order_setup, order_teardown),
		cmocka_unit_test_setup_teardown(test_lb_at_child, order_setup, order_teardown),
		cmocka_unit_test_setup_teardown(test_same_cgroup_cruise_first, order_setup,
						order_teardown),
		cmocka_unit_test_setup_teardown(test_same_cgroup_lb_first, order_setup,
						order_teardown),
		cmocka_unit_test_setup_teardown(test_same_cgroup_lb_before, order_setup,
						order_teardown),
		cmocka_unit_test_setup_teardown(test_preorder_parent, order_setup, order_teardown),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("cruise and a socket load balancer: program order",
					   tests, NULL, NULL);
}
