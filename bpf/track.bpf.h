/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Admitted sockets: their state in socket-local storage (the hold that sockops and egress carry
 * out) and their place in the medium's open-connection count, given back exactly once.
 */
#ifndef CRUISE_TRACK_BPF_H
#define CRUISE_TRACK_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "cruise.h"
#include "counters.bpf.h"
#include "maps.bpf.h"

/* Start tracking an admitted socket: count it open exactly once, remember its hold. */
static __always_inline void cruise_track(struct bpf_sock *sk, struct cruise_medium_state *st,
					 __u32 medium, bool held, __u64 slot_ns)
{
	struct cruise_sk *s;
	__u32 old;

	s = bpf_sk_storage_get(&cruise_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s) {
		/* no memory for the socket's state: it cannot be released, so it is not counted */
		__sync_fetch_and_add(&st->open_conns, -1);
		return;
	}
	s->medium = medium;
	s->slot_ns = slot_ns;
	s->syns = 0;
	s->stage_jiffies = 0;
	if (held)
		__sync_fetch_and_or(&s->flags, CRUISE_SK_HELD);
	else
		__sync_fetch_and_and(&s->flags, ~CRUISE_SK_HELD);
	old = __sync_fetch_and_or(&s->flags, CRUISE_SK_COUNTED);
	if (old & CRUISE_SK_COUNTED) /* a second connect() on a socket still counted */
		__sync_fetch_and_add(&st->open_conns, -1);
}

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

#endif /* CRUISE_TRACK_BPF_H */
