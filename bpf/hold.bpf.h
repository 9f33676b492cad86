/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The SYN hold (docs/design.md section 2) and the end of a tracked connection. A held socket's
 * first SYN is dropped at egress; TCP retransmits it when the SYN timeout that sockops answered
 * fires, at the slot. Waits past the fine timer-wheel level are split into equal stages
 * (cruise_hold.h).
 */
#ifndef CRUISE_HOLD_BPF_H
#define CRUISE_HOLD_BPF_H

#include "admit.bpf.h"
#include "egress.bpf.h"
#include "cruise_hold.h"

/* The socket's connection has ended (or never started): release its open-connection count once. */
static __always_inline void cruise_release(struct cruise_sk *s)
{
	struct cruise_medium_state *st;
	struct cruise_counters *c;
	__u32 medium;

	if (!(__sync_fetch_and_and(&s->flags, ~CRUISE_SK_COUNTED) & CRUISE_SK_COUNTED))
		return;
	medium = s->medium;
	st = bpf_map_lookup_elem(&cruise_state, &medium);
	if (st)
		__sync_fetch_and_add(&st->open_conns, -1);
	c = cruise_counters_of(medium);
	if (c)
		cruise_count(&c->closed, 1);
}

/*
 * The hold math as global functions: the verifier checks each once with unknown arguments instead
 * of once per concrete value at every call site, which would exceed its budget.
 */
__noinline __u64 cruise_plan_hold_packed(__u64 wait_ns, __u64 jiffy_ns, __u32 linear,
					 __u32 syn_retries, __u32 hz)
{
	struct cruise_hold_plan p =
		cruise_hold_plan_bounded(wait_ns, jiffy_ns, linear, syn_retries, hz);

	return (__u64)p.stages << 32 | p.stage_jiffies;
}

/*
 * Plan a held socket's stages just before TCP computes its SYN timeout, and bound its SYN retries
 * so that a held connect to a dead database gives up no later than an unheld one plus its hold.
 * The netns's sysctls are read per socket: they differ between namespaces.
 */
static __always_inline void cruise_plan_hold(struct bpf_sock_ops *skops, struct bpf_sock *sk,
					     struct cruise_sk *s)
{
	struct tcp_sock *tp;
	struct net *net;
	__u32 linear, retries;
	__u64 now = bpf_ktime_get_ns();
	__u64 plan;
	int syncnt;

	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return;
	net = BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.__sk_common.skc_net.net);
	linear = BPF_CORE_READ(net, ipv4.sysctl_tcp_syn_linear_timeouts);
	retries = BPF_CORE_READ(tp, inet_conn.icsk_syn_retries);
	if (!retries)
		retries = BPF_CORE_READ(net, ipv4.sysctl_tcp_syn_retries);

	plan = cruise_plan_hold_packed(s->slot_ns > now ? s->slot_ns - now : 0, cruise_jiffy_ns(),
				       linear, retries, CONFIG_HZ);
	s->stage_jiffies = (__u32)plan;
	if (!s->stage_jiffies)
		return; /* the slot has come already: nothing to hold */
	syncnt = cruise_hold_syncnt((__u32)plan, plan >> 32, retries, linear, CONFIG_HZ);
	bpf_setsockopt(skops, SOL_TCP, TCP_SYNCNT, &syncnt, sizeof(syncnt));
}

static __always_inline int cruise_sockops(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct cruise_sk *s;

	if (!sk)
		return 1;
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		s = bpf_sk_storage_get(&cruise_socks, sk, 0, 0);
		if (!s || !(s->flags & CRUISE_SK_COUNTED))
			return 1;
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
							 BPF_SOCK_OPS_STATE_CB_FLAG);
		if (s->flags & CRUISE_SK_HELD)
			cruise_plan_hold(skops, sk, s);
		return 1;
	case BPF_SOCK_OPS_TIMEOUT_INIT:
		s = bpf_sk_storage_get(&cruise_socks, sk, 0, 0);
		/* called again at every SYN retransmit: answer the same for the socket's life */
		if (s && (s->flags & CRUISE_SK_HELD) && s->stage_jiffies)
			skops->reply = s->stage_jiffies;
		return 1;
	case BPF_SOCK_OPS_STATE_CB:
		/*
		 * Any path to CLOSE ends the connection: a failed connect, and an established one
		 * reset by the database, which must not hold a max_conns place until the worker
		 * notices and closes its socket (a pool after a database restart).
		 */
		if (skops->args[1] != BPF_TCP_CLOSE)
			return 1;
		s = bpf_sk_storage_get(&cruise_socks, sk, 0, 0);
		if (s)
			cruise_release(s);
		return 1;
	}
	return 1;
}

#endif /* CRUISE_HOLD_BPF_H */
