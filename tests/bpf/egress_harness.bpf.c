// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test harness for the egress verdict of a held SYN (docs/design.md section 2).
 *
 * Why it exists: BPF_PROG_TEST_RUN gives a cgroup_skb program an skb whose socket is a dummy in
 * state TCP_CLOSE, so the real cruise_egress (bpf/cruise.bpf.c), which first checks that
 * bpf_sk_fullsock(skb->sk)->state is BPF_TCP_SYN_SENT, always leaves on its fast path in a test run
 * and never reaches the held-SYN code. This program skips the socket check and runs the production
 * verdict, cruise_egress_verdict() from egress.bpf.h, unchanged, on a cruise_sk that the test puts
 * in a plain array map, with a clock and a slack chosen by the test.
 *
 * It includes egress.bpf.h only: maps.bpf.h declares the pinned production maps.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "egress.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The socket state the verdict works on; stands in for the cruise_socks socket-local storage. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cruise_sk);
} cruise_test_sk SEC(".maps");

/* Set by the test through skel->bss before each run. */
__u64 cruise_test_now;	 /* the verdict's clock; 0: bpf_ktime_get_ns() */
__u64 cruise_test_slack; /* slack_ns; the real program passes one jiffy */
__u32 cruise_test_no_sk; /* nonzero: the socket has no cruise state (storage lookup gave NULL) */
/* Written by the program: the length of the last skb it saw, to show the packet reached it. */
__u32 cruise_test_len;

SEC("cgroup_skb/egress")
int cruise_test_egress_harness(struct __sk_buff *skb)
{
	struct cruise_sk *s = NULL;
	__u64 now = cruise_test_now;
	__u32 key = 0;

	cruise_test_len = skb->len;
	if (!cruise_test_no_sk)
		s = bpf_map_lookup_elem(&cruise_test_sk, &key);
	if (!now)
		now = bpf_ktime_get_ns();
	return cruise_egress_verdict(s, now, cruise_test_slack);
}
