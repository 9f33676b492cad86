// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The egress program under BPF_PROG_TEST_RUN (docs/design.md sections 1-2).
 *
 * A test run gives a cgroup_skb program a dummy socket in TCP_CLOSE, never one in SYN_SENT, so:
 * - the held-SYN verdict is tested through tests/bpf/egress_harness.bpf.c, which runs the
 *   production cruise_egress_verdict() (bpf/egress.bpf.h) on a cruise_sk and a clock set here;
 * - the real cruise_egress, loaded through the project's loader, is tested on its fast path only:
 *   every packet of a socket that is not in SYN_SENT passes untouched.
 *
 * Kernel requirements for the packet, found by trying on 6.18: data_in starts at the Ethernet
 * header and must hold at least ETH_HLEN bytes (-EINVAL otherwise); with ethertype IPv4 it must
 * also hold a whole IPv4 header. The program sees the skb from the network header on (skb->len
 * excludes the Ethernet header).
 *
 * Run as root: it loads BPF programs and mounts bpffs on /sys/fs/bpf when it is missing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "egress_harness.skel.h"
#include "loader.h"

/*
 * The harness's clock and slack. The production program passes one jiffy as the slack (4 ms at
 * this machine's HZ=250); the verdict takes it as a parameter, so any value tests it.
 */
/* any nonzero time: 0 makes the harness read the real clock */
#define T0_NS	 (1000 * NSEC_PER_SEC)
#define SLACK_NS (4 * NSEC_PER_MSEC)
#define SLOT_NS	 (T0_NS + 100 * NSEC_PER_MSEC)

#define REPEAT 1000

/*
 * cgroup_skb egress return values as the kernel reads them (bit 0 pass, bit 1 congestion
 * notification), written out rather than taken from egress.bpf.h so that the tests check what
 * the kernel will do with the verdict, not only that the code returns its own constants.
 */
#define EGRESS_DROP    0 /* CRUISE_EGRESS_DROP_RETRANSMIT: TCP keeps its backoff */
#define EGRESS_PASS    1 /* CRUISE_EGRESS_PASS */
#define EGRESS_DROP_CN 2 /* CRUISE_EGRESS_DROP_FIRST: TCP takes the SYN as sent, arms its timer */

/* What BPF_PROG_TEST_RUN takes for a cgroup_skb program: the frame from its Ethernet header. */
struct test_pkt {
	struct ethhdr eth;
	struct iphdr ip;
	struct tcphdr tcp;
} __attribute__((packed));

static __u16 ip_checksum(const void *hdr, size_t len)
{
	const __u16 *w = hdr;
	__u32 sum = 0;

	for (size_t i = 0; i < len / 2; i++)
		sum += w[i];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* An IPv4/TCP segment from 127.0.0.1:40000 to 127.0.0.1:5432: a SYN, or an ACK when !syn. */
static void build_pkt(struct test_pkt *p, bool syn)
{
	memset(p, 0, sizeof(*p));
	memset(p->eth.h_source, 0x02, ETH_ALEN);
	memset(p->eth.h_dest, 0x04, ETH_ALEN);
	p->eth.h_proto = htons(ETH_P_IP);

	p->ip.version = 4;
	p->ip.ihl = sizeof(p->ip) / 4;
	p->ip.tot_len = htons(sizeof(p->ip) + sizeof(p->tcp));
	p->ip.frag_off = htons(0x4000); /* DF */
	p->ip.ttl = 64;
	p->ip.protocol = IPPROTO_TCP;
	p->ip.saddr = htonl(INADDR_LOOPBACK);
	p->ip.daddr = htonl(INADDR_LOOPBACK);
	p->ip.check = ip_checksum(&p->ip, sizeof(p->ip));

	p->tcp.source = htons(40000);
	p->tcp.dest = htons(5432);
	p->tcp.seq = htonl(1000);
	p->tcp.doff = sizeof(p->tcp) / 4;
	p->tcp.window = htons(65535);
	if (syn) {
		p->tcp.syn = 1;
	} else {
		p->tcp.ack = 1;
		p->tcp.ack_seq = htonl(2000);
	}
}

/* harness: the production verdict on a socket state and a clock set by the test */

struct harness {
	struct egress_harness_bpf *skel;
	int prog_fd;
	int map_fd;
	struct test_pkt syn;
};

static int harness_group_setup(void **state)
{
	struct harness *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	t->skel = egress_harness_bpf__open_and_load();
	if (!t->skel) {
		fprintf(stderr, "failed to load the egress harness: %s\n", strerror(errno));
		free(t);
		return -1;
	}
	t->prog_fd = bpf_program__fd(t->skel->progs.cruise_test_egress_harness);
	t->map_fd = bpf_map__fd(t->skel->maps.cruise_test_sk);
	build_pkt(&t->syn, true);
	*state = t;
	return 0;
}

static int harness_group_teardown(void **state)
{
	struct harness *t = *state;

	if (t)
		egress_harness_bpf__destroy(t->skel);
	free(t);
	return 0;
}

static void harness_set_sk(struct harness *t, const struct cruise_sk *s)
{
	__u32 key = 0;

	assert_int_equal(bpf_map_update_elem(t->map_fd, &key, s, BPF_ANY), 0);
}

static struct cruise_sk harness_get_sk(struct harness *t)
{
	struct cruise_sk s;
	__u32 key = 0;

	assert_int_equal(bpf_map_lookup_elem(t->map_fd, &key, &s), 0);
	return s;
}

/* Each test starts from an empty socket state, the test clock, SLACK_NS and a socket present. */
static int harness_setup(void **state)
{
	struct harness *t = *state;
	struct cruise_sk zero = { 0 };
	__u32 key = 0;

	if (bpf_map_update_elem(t->map_fd, &key, &zero, BPF_ANY))
		return -1;
	t->skel->bss->cruise_test_now = T0_NS;
	t->skel->bss->cruise_test_slack = SLACK_NS;
	t->skel->bss->cruise_test_no_sk = 0;
	t->skel->bss->cruise_test_len = 0;
	return 0;
}

/* One test run of the harness on pkt at time now (0: bpf_ktime_get_ns()); returns its verdict. */
static __u32 harness_run_pkt(struct harness *t, const struct test_pkt *pkt, __u64 now)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(*pkt),
		    .repeat = 1);

	t->skel->bss->cruise_test_now = now;
	t->skel->bss->cruise_test_len = 0;
	assert_int_equal(bpf_prog_test_run_opts(t->prog_fd, &opts), 0);
	/* the packet reached the program, from its IPv4 header on */
	assert_int_equal(t->skel->bss->cruise_test_len, sizeof(*pkt) - ETH_HLEN);
	return opts.retval;
}

static __u32 harness_run(struct harness *t, __u64 now)
{
	return harness_run_pkt(t, &t->syn, now);
}

static const struct cruise_sk held_sk = {
	.slot_ns = SLOT_NS,
	.medium = 3,
	.flags = CRUISE_SK_COUNTED | CRUISE_SK_HELD,
	.stage_jiffies = 25,
};

/* The first SYN of a held socket is dropped with congestion notification, and counted. */
static void test_held_first_syn_drop_cn(void **state)
{
	struct harness *t = *state;
	struct cruise_sk s;

	harness_set_sk(t, &held_sk);
	assert_int_equal(harness_run(t, T0_NS), EGRESS_DROP_CN);
	s = harness_get_sk(t);
	assert_int_equal(s.syns, 1);
	/* nothing else of the socket's state changes */
	assert_true(s.slot_ns == held_sk.slot_ns);
	assert_int_equal(s.medium, held_sk.medium);
	assert_int_equal(s.flags, held_sk.flags);
	assert_int_equal(s.stage_jiffies, held_sk.stage_jiffies);
}

/* A retransmitted SYN still before its slot: a plain drop (drop+CN would cost a fixed 500 ms). */
static void test_held_retransmit_plain_drop(void **state)
{
	struct harness *t = *state;

	harness_set_sk(t, &held_sk);
	assert_int_equal(harness_run(t, T0_NS), EGRESS_DROP_CN);
	assert_int_equal(harness_run(t, T0_NS + 50 * NSEC_PER_MSEC), EGRESS_DROP);
	assert_int_equal(harness_get_sk(t).syns, 2);
	/* an early stage of a chained hold: still a plain drop, never drop+CN again */
	assert_int_equal(harness_run(t, SLOT_NS - SLACK_NS - 1), EGRESS_DROP);
	assert_int_equal(harness_get_sk(t).syns, 3);
}

/* The retransmit that the SYN timeout fires at the slot passes, up to one slack early. */
static void test_held_passes_from_slot_minus_slack(void **state)
{
	struct harness *t = *state;

	harness_set_sk(t, &held_sk);
	assert_int_equal(harness_run(t, T0_NS), EGRESS_DROP_CN);
	assert_int_equal(harness_run(t, SLOT_NS - SLACK_NS), EGRESS_PASS);
	assert_int_equal(harness_get_sk(t).syns, 2);
	assert_int_equal(harness_run(t, SLOT_NS - 1), EGRESS_PASS);
	assert_int_equal(harness_run(t, SLOT_NS), EGRESS_PASS);
	assert_int_equal(harness_get_sk(t).syns, 4);
}

/* A SYN after the slot passes, whether it is the first or a retransmit (a late timer). */
static void test_held_passes_after_slot(void **state)
{
	struct harness *t = *state;

	harness_set_sk(t, &held_sk);
	assert_int_equal(harness_run(t, SLOT_NS + 1), EGRESS_PASS);
	assert_int_equal(harness_get_sk(t).syns, 1);

	harness_set_sk(t, &held_sk);
	assert_int_equal(harness_run(t, T0_NS), EGRESS_DROP_CN);
	assert_int_equal(harness_run(t, SLOT_NS + 30 * NSEC_PER_MSEC), EGRESS_PASS);
	assert_int_equal(harness_get_sk(t).syns, 2);
}

/* The same verdicts on the clock the real program uses: bpf_ktime_get_ns(), CLOCK_MONOTONIC. */
static void test_held_on_ktime(void **state)
{
	struct harness *t = *state;
	struct cruise_sk s = held_sk;

	s.slot_ns = cruise_now_ns() + 10 * NSEC_PER_SEC;
	harness_set_sk(t, &s);
	assert_int_equal(harness_run(t, 0), EGRESS_DROP_CN);
	assert_int_equal(harness_run(t, 0), EGRESS_DROP);

	s.slot_ns = cruise_now_ns();
	harness_set_sk(t, &s);
	assert_int_equal(harness_run(t, 0), EGRESS_PASS);
}

/* A socket that is not held passes whatever its slot, and its SYNs are not counted. */
static void test_not_held_passes(void **state)
{
	static const __u32 flags[] = { 0, CRUISE_SK_COUNTED };
	struct harness *t = *state;

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		struct cruise_sk s = held_sk;

		s.flags = flags[i];
		harness_set_sk(t, &s);
		assert_int_equal(harness_run(t, T0_NS), EGRESS_PASS);
		assert_int_equal(harness_run(t, T0_NS + 1), EGRESS_PASS);
		assert_int_equal(harness_get_sk(t).syns, 0);
	}
}

/* A socket with no cruise state (never classified, or from before the load) passes. */
static void test_no_socket_state_passes(void **state)
{
	struct harness *t = *state;

	harness_set_sk(t, &held_sk);
	t->skel->bss->cruise_test_no_sk = 1;
	assert_int_equal(harness_run(t, T0_NS), EGRESS_PASS);
	assert_int_equal(harness_run(t, T0_NS + 1), EGRESS_PASS);
	/* the verdict ran on NULL: the map's state was not touched */
	assert_int_equal(harness_get_sk(t).syns, 0);
}

/*
 * The boundaries: a first SYN passes only from its slot on (a hold is never early); a retransmitted
 * SYN passes when now + slack >= slot, both ends included. One nanosecond more and it is held.
 */
static void test_slack_boundary(void **state)
{
	struct harness *t = *state;
	struct cruise_sk s = held_sk;

	/* first SYN inside the slack: still held, the slack is for retransmits only */
	s.slot_ns = T0_NS + SLACK_NS;
	harness_set_sk(t, &s);
	assert_int_equal(harness_run(t, T0_NS), EGRESS_DROP_CN);
	/* its retransmit at exactly slot - slack passes */
	assert_int_equal(harness_run(t, T0_NS), EGRESS_PASS);

	/* a first SYN exactly at its slot passes */
	s.slot_ns = T0_NS;
	harness_set_sk(t, &s);
	assert_int_equal(harness_run(t, T0_NS), EGRESS_PASS);

	/* a retransmit one nanosecond before slot - slack is dropped again, plainly */
	s.slot_ns = T0_NS + SLACK_NS + 1;
	harness_set_sk(t, &s);
	assert_int_equal(harness_run(t, T0_NS), EGRESS_DROP_CN);
	assert_int_equal(harness_run(t, T0_NS), EGRESS_DROP);

	/* no slack: the slot itself is the boundary for retransmits too */
	t->skel->bss->cruise_test_slack = 0;
	s.slot_ns = T0_NS + 1;
	harness_set_sk(t, &s);
	assert_int_equal(harness_run(t, T0_NS), EGRESS_DROP_CN);
	assert_int_equal(harness_run(t, T0_NS), EGRESS_DROP);
	assert_int_equal(harness_run(t, T0_NS + 1), EGRESS_PASS);
}

/* real: cruise_egress from the cruise skeleton, loaded through the loader */

struct real {
	struct cruise_handle *h;
	int prog_fd;
	char pin_dir[64];
	struct test_pkt syn;
	struct test_pkt ack;
};

static int real_group_setup(void **state)
{
	struct real *r = calloc(1, sizeof(*r));
	char msg[512] = "";
	int err;

	if (!r)
		return -1;
	snprintf(r->pin_dir, sizeof(r->pin_dir), "/sys/fs/bpf/cruise-test-egress-%d",
		 (int)getpid());
	err = cruise_ensure_bpffs("/sys/fs/bpf");
	if (!err)
		err = cruise_load(&r->h, r->pin_dir, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "failed to load cruise under %s: %s (%s)\n", r->pin_dir,
			strerror(-err), msg);
		rmdir(r->pin_dir);
		free(r);
		return -1;
	}
	r->prog_fd = cruise_prog_fd(r->h, CRUISE_PROG_EGRESS);
	build_pkt(&r->syn, true);
	build_pkt(&r->ack, false);
	*state = r;
	return 0;
}

/* Runs even when a test failed: no pinned map may outlive the test. */
static int real_group_teardown(void **state)
{
	struct real *r = *state;
	char msg[512];
	int err;

	if (!r)
		return 0;
	err = cruise_uninstall(r->pin_dir, msg, sizeof(msg));
	cruise_destroy(r->h);
	if (err)
		fprintf(stderr, "failed to unpin the maps under %s: %s\n", r->pin_dir, msg);
	if (!access(r->pin_dir, F_OK)) {
		fprintf(stderr, "%s is still there\n", r->pin_dir);
		err = -EEXIST;
	}
	free(r);
	return err ? -1 : 0;
}

static struct bpf_test_run_opts real_run(struct real *r, const struct test_pkt *pkt, int repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(*pkt),
		    .repeat = repeat);

	assert_int_equal(bpf_prog_test_run_opts(r->prog_fd, &opts), 0);
	return opts;
}

/* The test-run socket is in TCP_CLOSE, not SYN_SENT: SYN or not, the fast path passes it. */
static void test_real_fast_path_passes(void **state)
{
	struct real *r = *state;

	assert_true(r->prog_fd >= 0);
	assert_int_equal(real_run(r, &r->syn, 1).retval, EGRESS_PASS);
	assert_int_equal(real_run(r, &r->ack, 1).retval, EGRESS_PASS);
}

static int count_event(void *ctx, void *data, size_t len)
{
	(void)data, (void)len;
	(*(int *)ctx)++;
	return 0;
}

/*
 * The fast path is a check of the socket's TCP state and nothing more (docs/design.md section 2,
 * "keep the egress fast path (every packet of the scope) to a check of the socket's TCP state"):
 * repeated runs pass every packet and write nothing: no counter, no medium state, no event. And a
 * run stays within its share of the datapath's budget: all programs together have 1 us per
 * admitted connection (BENCHMARKS.md), and egress runs at least FAST_PATH_RUNS times for one
 * (SYN, ACK, data, FIN; 3.6 to 7.7 measured), so one run gets at most 1 us / FAST_PATH_RUNS. The
 * kernel times the runs without the test harness's scheduling (31 ns/run measured).
 */
#define CONN_BUDGET_NS 1000
#define FAST_PATH_RUNS 4

static void test_real_fast_path_repeat(void **state)
{
	struct real *r = *state;
	const struct {
		const char *name;
		const struct test_pkt *pkt;
	} cases[] = {
		{ "SYN", &r->syn },
		{ "ACK", &r->ack },
	};
	struct cruise_medium_state st, st_zero = { 0 };
	struct cruise_counters c, c_zero = { 0 };
	struct ring_buffer *rb;
	int events = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bpf_test_run_opts opts = real_run(r, cases[i].pkt, REPEAT);

		print_message("cruise_egress fast path, %s, %d runs: %u ns/run (at most %d)\n",
			      cases[i].name, REPEAT, opts.duration,
			      CONN_BUDGET_NS / FAST_PATH_RUNS);
		assert_int_equal(opts.retval, EGRESS_PASS);
		assert_true(opts.duration <= CONN_BUDGET_NS / FAST_PATH_RUNS);
	}
	for (__u32 m = 0; m < CRUISE_MAX_MEDIA; m++) {
		assert_int_equal(cruise_maps_counters(&r->h->maps, m, &c), 0);
		assert_memory_equal(&c, &c_zero, sizeof(c));
		assert_int_equal(cruise_maps_state(&r->h->maps, m, &st), 0);
		assert_memory_equal(&st, &st_zero, sizeof(st));
	}
	rb = ring_buffer__new(r->h->maps.events, count_event, &events, NULL);
	assert_non_null(rb);
	assert_true(ring_buffer__consume(rb) >= 0);
	ring_buffer__free(rb);
	assert_int_equal(events, 0);
}

int main(void)
{
	const struct CMUnitTest harness_tests[] = {
		cmocka_unit_test_setup(test_held_first_syn_drop_cn, harness_setup),
		cmocka_unit_test_setup(test_held_retransmit_plain_drop, harness_setup),
		cmocka_unit_test_setup(test_held_passes_from_slot_minus_slack, harness_setup),
		cmocka_unit_test_setup(test_held_passes_after_slot, harness_setup),
		cmocka_unit_test_setup(test_held_on_ktime, harness_setup),
		cmocka_unit_test_setup(test_not_held_passes, harness_setup),
		cmocka_unit_test_setup(test_no_socket_state_passes, harness_setup),
		cmocka_unit_test_setup(test_slack_boundary, harness_setup),
	};
	const struct CMUnitTest real_tests[] = {
		cmocka_unit_test(test_real_fast_path_passes),
		cmocka_unit_test(test_real_fast_path_repeat),
	};
	int failed = 0;

	failed += cmocka_run_group_tests_name("egress verdict (harness)", harness_tests,
					      harness_group_setup, harness_group_teardown);
	failed += cmocka_run_group_tests_name("cruise_egress (real program)", real_tests,
					      real_group_setup, real_group_teardown);
	return failed ? 1 : 0;
}
