// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruise datapath: the program entry points. The logic lives in the headers, one concern each. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

/* uapi constants that vmlinux.h, being BTF, does not carry */
#define AF_INET	    2
#define AF_INET6    10
#define SOCK_STREAM 1
#define SOL_TCP	    6
#define TCP_SYNCNT  7

#include "hold.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline bool cruise_is_tcp(struct bpf_sock_addr *ctx)
{
	return ctx->type == SOCK_STREAM && ctx->protocol == IPPROTO_TCP;
}

SEC("cgroup/connect4")
int cruise_connect4(struct bpf_sock_addr *ctx)
{
	struct cruise_target_key dst = { .prefixlen = 8 * (sizeof(dst.port) + sizeof(dst.addr)) };
	__u32 ip4;

	if (!cruise_is_tcp(ctx))
		return 1;
	dst.port = bpf_ntohs(ctx->user_port);
	ip4 = ctx->user_ip4;
	dst.addr[10] = 0xff;
	dst.addr[11] = 0xff;
	__builtin_memcpy(&dst.addr[12], &ip4, 4);
	return cruise_connect(ctx, &dst, AF_INET);
}

SEC("cgroup/connect6")
int cruise_connect6(struct bpf_sock_addr *ctx)
{
	struct cruise_target_key dst = { .prefixlen = 8 * (sizeof(dst.port) + sizeof(dst.addr)) };
	__u32 w[4];

	if (!cruise_is_tcp(ctx))
		return 1;
	dst.port = bpf_ntohs(ctx->user_port);
	/* IPv4-mapped destinations land on the IPv4 targets: they are stored the same way */
	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	__builtin_memcpy(dst.addr, w, sizeof(w));
	return cruise_connect(ctx, &dst, AF_INET6);
}

SEC("sockops")
int cruise_sockops_prog(struct bpf_sock_ops *skops)
{
	return cruise_sockops(skops);
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
		return 1;
	s = bpf_sk_storage_get(&cruise_socks, ctx, 0, 0);
	if (s)
		cruise_release(s);
	return 1;
}
