/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The connect decision: reserve a slot for a classified connect, count it, and either let it go,
 * hold it until its slot (hold.bpf.h does the holding), or refuse it with the medium's errno.
 */
#ifndef CRUISE_ADMIT_BPF_H
#define CRUISE_ADMIT_BPF_H

#include "classify.bpf.h"
#include "counters.bpf.h"
#include "cruise_gcra.h"

#define CRUISE_DEFAULT_ERRNO 111 /* ECONNREFUSED */

extern unsigned int CONFIG_HZ __kconfig;

static __always_inline __u64 cruise_jiffy_ns(void)
{
	return CRUISE_NSEC_PER_SEC / CONFIG_HZ;
}

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

/* Returns the connect hook's verdict: 1 lets connect() go on, 0 refuses it with the set retval. */
static __always_inline int cruise_connect(struct bpf_sock_addr *ctx, struct cruise_target_key *dst,
					  __u16 family)
{
	struct cruise_gcra_verdict v = { .admit = 1 };
	struct cruise_medium_state *st;
	struct cruise_gcra_limits lim;
	struct cruise_gcra_state gs;
	struct cruise_counters *c;
	struct cruise_medium *m;
	__u32 medium, reason = CRUISE_REASON_NONE;
	__u64 cgroup_id, now, jiffy;
	bool dry, over_conns, fallback;
	__s32 err;

	if (!cruise_is_target(dst))
		return 1;
	medium = cruise_classify(&cgroup_id);
	if (medium == CRUISE_NO_MEDIUM)
		return 1;
	m = bpf_map_lookup_elem(&cruise_media, &medium);
	st = bpf_map_lookup_elem(&cruise_state, &medium);
	c = bpf_map_lookup_elem(&cruise_counters, &medium);
	if (!m || !st || !c || !(m->flags & CRUISE_MEDIUM_ACTIVE))
		return 1;

	dry = m->flags & CRUISE_MEDIUM_DRY_RUN;
	jiffy = cruise_jiffy_ns();
	now = bpf_ktime_get_ns();
	/* a fleet share holds until its lease ends; then this node's fallback, with no agent */
	lim.interval_ns = cruise_lease_interval(m->interval_ns, m->lease_end_ns,
						m->fallback_interval_ns, now, &fallback);
	lim.burst = m->burst;
	lim.max_wait_ns = m->max_wait_ns;
	lim.credit_ns = cruise_gcra_credit(lim.interval_ns, jiffy);
	lim.hold_min_ns = 0; /* hold every wait: a connect never leaves before its slot */

	bpf_spin_lock(&st->lock);
	over_conns = m->max_conns && st->open_conns >= (__s64)m->max_conns;
	/*
	 * A dry run lets every connect through, so the backlog it simulated was never served:
	 * enforcement starts from now, not from a queue nobody waited in.
	 */
	if (!dry && st->dry_last && st->tat_ns > now)
		st->tat_ns = now;
	st->dry_last = dry;
	if (!over_conns || dry) {
		gs.tat_ns = st->tat_ns;
		gs.interval_ns = st->interval_ns;
		gs.held_last = st->held_last;
		if (cruise_gcra_retune(&gs, now, &lim)) {
			st->tat_ns = gs.tat_ns;
			st->interval_ns = gs.interval_ns;
		}
		v = cruise_gcra_reserve(&gs, now, &lim);
		if (v.admit) {
			st->tat_ns = gs.tat_ns;
			st->held_last = gs.held_last;
		}
	}
	if ((!over_conns && v.admit) || dry)
		__sync_fetch_and_add(&st->open_conns, 1);
	bpf_spin_unlock(&st->lock);

	cruise_count(&c->connections, 1);
	if (fallback)
		cruise_count(&c->fallback, 1);
	if (over_conns)
		reason = CRUISE_REASON_MAX_CONNS;
	else if (!v.admit)
		reason = CRUISE_REASON_MAX_WAIT;

	if (reason != CRUISE_REASON_NONE) {
		err = m->refuse_errno > 0 ? m->refuse_errno : CRUISE_DEFAULT_ERRNO;
		cruise_count(reason == CRUISE_REASON_MAX_CONNS ? &c->refused_max_conns
							       : &c->refused_max_wait,
			     1);
		cruise_report_refusal(c, medium, cgroup_id, reason, dry ? 0 : err, v.wait_ns, dry,
				      dst, family);
		if (!dry) {
			bpf_set_retval(-err);
			return 0;
		}
		cruise_count(&c->dry_run_passed, 1);
	} else if (v.held) {
		cruise_count(&c->delayed, 1);
		cruise_count(&c->delay_ns, v.wait_ns);
		cruise_count_delay(c, v.wait_ns);
		if (dry)
			cruise_count(&c->dry_run_passed, 1);
	} else {
		cruise_count(&c->admitted_now, 1);
		cruise_count_delay(c, 0);
	}
	cruise_track(ctx->sk, st, medium, v.held && !dry, v.slot_ns);
	return 1;
}

#endif /* CRUISE_ADMIT_BPF_H */
