// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cruise datapath: the program entry points and the connect decision (docs/design.md section 2).
 * The headers below are its library, one concern each, included flat.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "cruise.h"
#include "cruise_target.h"

#include "maps.bpf.h"
#include "jiffy.bpf.h"
#include "classify.bpf.h"
#include "counters.bpf.h"
#include "gcra.bpf.h"
#include "refusal.bpf.h"
#include "track.bpf.h"
#include "hold.bpf.h"
#include "egress.bpf.h"

/* uapi constants that vmlinux.h, being BTF, does not carry */
#define AF_INET	    2
#define AF_INET6    10
#define SOCK_STREAM 1

#define CRUISE_DEFAULT_ERRNO 111 /* ECONNREFUSED */

/*
 * Verdicts of the cgroup socket hooks: only 0 and 1 are valid. A refused connect fails with the
 * retval set before it (EPERM without one); sockops must answer 1, or its reply is ignored.
 */
#define CRUISE_PROCEED 1
#define CRUISE_REJECT  0

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Classify the connect, reserve its slot, count it, and let it go now, hold it until its slot
 * (sockops and egress do the holding), or refuse it with the medium's errno.
 */
static __always_inline int cruise_connect(struct bpf_sock_addr *ctx,
					  const struct cruise_target_key *dst, __u16 family)
{
	struct cruise_reservation r;
	struct cruise_medium_state *st;
	struct cruise_counters *c;
	struct cruise_medium *m;
	__u32 medium, reason = CRUISE_REASON_NONE;
	__u64 cgroup_id;
	bool dry;
	__s32 err;

	if (!cruise_is_target(dst))
		return CRUISE_PROCEED;
	medium = cruise_classify(&cgroup_id);
	if (medium == CRUISE_NO_MEDIUM)
		return CRUISE_PROCEED;
	m = bpf_map_lookup_elem(&cruise_media, &medium);
	st = bpf_map_lookup_elem(&cruise_state, &medium);
	c = bpf_map_lookup_elem(&cruise_counters, &medium);
	if (!m || !st || !c || !(m->flags & CRUISE_MEDIUM_ACTIVE))
		return CRUISE_PROCEED;

	dry = m->flags & CRUISE_MEDIUM_DRY_RUN;
	r = cruise_reserve(m, st, dry);

	cruise_count(&c->connections, 1);
	if (r.fallback)
		cruise_count(&c->fallback, 1);
	if (r.over_conns)
		reason = CRUISE_REASON_MAX_CONNS;
	else if (!r.v.admit)
		reason = CRUISE_REASON_MAX_WAIT;

	if (reason != CRUISE_REASON_NONE) {
		err = m->refuse_errno > 0 ? m->refuse_errno : CRUISE_DEFAULT_ERRNO;
		cruise_count(reason == CRUISE_REASON_MAX_CONNS ? &c->refused_max_conns
							       : &c->refused_max_wait,
			     1);
		cruise_report_refusal(c, medium, cgroup_id, reason, dry ? 0 : err, r.v.wait_ns, dry,
				      dst, family);
		if (!dry) {
			bpf_set_retval(-err);
			return CRUISE_REJECT;
		}
		cruise_count(&c->dry_run_passed, 1);
	} else if (r.v.held) {
		cruise_count(&c->delayed, 1);
		cruise_count(&c->delay_ns, r.v.wait_ns);
		cruise_count_delay(c, r.v.wait_ns);
		if (dry)
			cruise_count(&c->dry_run_passed, 1);
	} else {
		cruise_count(&c->admitted_now, 1);
		cruise_count_delay(c, 0);
	}
	cruise_track(ctx->sk, st, medium, r.v.held && !dry, r.v.slot_ns);
	return CRUISE_PROCEED;
}

static __always_inline bool cruise_is_tcp(struct bpf_sock_addr *ctx)
{
	return ctx->type == SOCK_STREAM && ctx->protocol == IPPROTO_TCP;
}

SEC("cgroup/connect4")
int cruise_connect4(struct bpf_sock_addr *ctx)
{
	struct cruise_target_key dst;

	if (!cruise_is_tcp(ctx))
		return CRUISE_PROCEED;
	cruise_target_key_v4(&dst, ctx->user_ip4, bpf_ntohs(ctx->user_port), CRUISE_TARGET_V4_BITS);
	return cruise_connect(ctx, &dst, AF_INET);
}

SEC("cgroup/connect6")
int cruise_connect6(struct bpf_sock_addr *ctx)
{
	struct cruise_target_key dst;
	__u32 w[4];

	if (!cruise_is_tcp(ctx))
		return CRUISE_PROCEED;
	/* the context allows 4-byte reads of user_ip6 only */
	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	/* IPv4-mapped destinations land on the IPv4 targets: they are stored the same way */
	cruise_target_key_v6(&dst, (const __u8 *)w, bpf_ntohs(ctx->user_port),
			     CRUISE_TARGET_V6_BITS);
	return cruise_connect(ctx, &dst, AF_INET6);
}

SEC("sockops")
int cruise_sockops_prog(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct cruise_sk *s;

	if (!sk)
		return CRUISE_PROCEED;
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		s = bpf_sk_storage_get(&cruise_socks, sk, 0, 0);
		if (!s || !(s->flags & CRUISE_SK_COUNTED))
			return CRUISE_PROCEED;
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
							 BPF_SOCK_OPS_STATE_CB_FLAG);
		if (s->flags & CRUISE_SK_HELD)
			cruise_plan_hold(skops, sk, s);
		return CRUISE_PROCEED;
	case BPF_SOCK_OPS_TIMEOUT_INIT:
		s = bpf_sk_storage_get(&cruise_socks, sk, 0, 0);
		/* called again at every SYN retransmit: answer the same for the socket's life */
		if (s && (s->flags & CRUISE_SK_HELD) && s->stage_jiffies)
			skops->reply = s->stage_jiffies;
		return CRUISE_PROCEED;
	case BPF_SOCK_OPS_STATE_CB:
		/*
		 * Any path to CLOSE ends the connection: a failed connect, and an established one
		 * reset by the database, which must not hold a max_conns place until the worker
		 * notices and closes its socket (a pool after a database restart).
		 */
		if (skops->args[1] != BPF_TCP_CLOSE)
			return CRUISE_PROCEED;
		s = bpf_sk_storage_get(&cruise_socks, sk, 0, 0);
		if (s)
			cruise_release(s);
		return CRUISE_PROCEED;
	}
	return CRUISE_PROCEED;
}

SEC("cgroup_skb/egress")
int cruise_egress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	/* fast path, every packet of the scope: only a socket in SYN_SENT can be held */
	if (!sk)
		return CRUISE_EGRESS_PASS;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->state != BPF_TCP_SYN_SENT)
		return CRUISE_EGRESS_PASS;
	return cruise_egress_verdict(bpf_sk_storage_get(&cruise_socks, sk, 0, 0),
				     bpf_ktime_get_ns(), cruise_jiffy_ns());
}

SEC("cgroup/sock_release")
int cruise_sock_release(struct bpf_sock *ctx)
{
	struct cruise_sk *s;

	if (ctx->protocol != IPPROTO_TCP)
		return CRUISE_PROCEED;
	s = bpf_sk_storage_get(&cruise_socks, ctx, 0, 0);
	if (s)
		cruise_release(s);
	return CRUISE_PROCEED;
}
