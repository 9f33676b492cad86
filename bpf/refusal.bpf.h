/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One ring-buffer event per refused connect, for the agent's refusal log (or cruisectl events).
 * A full ring buffer loses the event, never the refusal: it is counted instead.
 */
#ifndef CRUISE_REFUSAL_BPF_H
#define CRUISE_REFUSAL_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "cruise.h"
#include "counters.bpf.h"
#include "maps.bpf.h"

static __always_inline void cruise_report_refusal(struct cruise_counters *c, __u32 medium,
						  __u64 cgroup_id, __u32 reason, __s32 err,
						  __u64 wait_ns, bool dry,
						  const struct cruise_target_key *dst, __u16 family)
{
	struct cruise_event *e;

	e = bpf_ringbuf_reserve(&cruise_events, sizeof(*e), 0);
	if (!e) {
		cruise_count(&c->events_lost, 1);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = cgroup_id;
	e->wait_ns = wait_ns;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->medium = medium;
	e->reason = reason;
	e->err = err;
	e->family = family;
	e->dport = dst->port;
	__builtin_memcpy(e->daddr, dst->addr, sizeof(e->daddr));
	e->dry_run = dry;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

#endif /* CRUISE_REFUSAL_BPF_H */
