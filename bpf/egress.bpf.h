/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The egress verdict for a SYN of a held socket. Kept apart from the maps so that the test harness
 * (tests/bpf/egress_harness.bpf.c) runs this very code under BPF_PROG_TEST_RUN, which cannot give
 * a cgroup_skb program a socket in SYN_SENT.
 */
#ifndef CRUISE_EGRESS_BPF_H
#define CRUISE_EGRESS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "cruise.h"

#define CRUISE_EGRESS_PASS 1
/* first SYN: drop with congestion notification, which TCP takes as sent and arms its timer */
#define CRUISE_EGRESS_DROP_FIRST 2
/* retransmitted SYN: a plain drop; drop+CN would make TCP wait a fixed 500 ms instead */
#define CRUISE_EGRESS_DROP_RETRANSMIT 0

/*
 * Verdict for a packet of a socket in SYN_SENT. The first SYN leaves only at its slot: a hold is
 * never early. A retransmitted SYN passes within slack_ns (a jiffy) of it: its timer fires after
 * the slot by design (cruise_hold.h), and dropping it again would let TCP's backoff double the
 * wait.
 */
static __always_inline int cruise_egress_verdict(struct cruise_sk *s, __u64 now, __u64 slack_ns)
{
	__u32 sent;

	if (!s || !(s->flags & CRUISE_SK_HELD))
		return CRUISE_EGRESS_PASS;
	sent = s->syns++;
	if (now >= s->slot_ns || (sent && now + slack_ns >= s->slot_ns))
		return CRUISE_EGRESS_PASS;
	return sent ? CRUISE_EGRESS_DROP_RETRANSMIT : CRUISE_EGRESS_DROP_FIRST;
}

#endif /* CRUISE_EGRESS_BPF_H */
