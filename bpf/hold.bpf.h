/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The SYN hold (docs/design.md section 2), planned by sockops when a held socket connects. Its
 * first SYN is dropped at egress; TCP retransmits it when the SYN timeout that sockops answers
 * fires, at the slot. Waits past the fine timer-wheel level are split into equal stages
 * (cruise_hold.h).
 */
#ifndef CRUISE_HOLD_BPF_H
#define CRUISE_HOLD_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "cruise.h"
#include "cruise_hold.h"
#include "jiffy.bpf.h"

/* uapi constants that vmlinux.h, being BTF, does not carry */
#define SOL_TCP	   6
#define TCP_SYNCNT 7

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

#endif /* CRUISE_HOLD_BPF_H */
