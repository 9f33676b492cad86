// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A minimal socket load balancer, for tests/test_order.c (docs/order.md).
 *
 * Why it exists: socket-level load balancers (Cilium's socket LB, "kube-proxy replacement") are
 * cgroup connect4/connect6 programs that rewrite a Service's ClusterIP to a backend pod's address
 * inside connect(). Whether cruise's connect4 sees the ClusterIP or the backend depends on which
 * of the two runs first. This program is the stand-in: it rewrites one "virtual IP" and port to
 * one backend and port, and counts its rewrites; everything else passes untouched.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Set by the test before load, as the context holds them: addresses and ports in network byte
 * order (a port in the low 16 bits of the 32-bit user_port).
 */
const volatile __u32 lb_vip_ip4 = 0;
const volatile __u32 lb_vip_port = 0;
const volatile __u32 lb_backend_ip4 = 0;
const volatile __u32 lb_backend_port = 0;

/* Written by the program: connects rewritten from the virtual IP to the backend. */
__u64 lb_rewrites = 0;

SEC("cgroup/connect4")
int test_sock_lb4(struct bpf_sock_addr *ctx)
{
	if (ctx->user_ip4 != lb_vip_ip4 || ctx->user_port != lb_vip_port)
		return 1;
	ctx->user_ip4 = lb_backend_ip4;
	ctx->user_port = lb_backend_port;
	__sync_fetch_and_add(&lb_rewrites, 1);
	return 1;
}
