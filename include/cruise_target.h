/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The key of the cruise_targets trie, made the same way by the datapath and by user space. The
 * port comes first and is always matched whole; every address is IPv6, IPv4 as ::ffff:a.b.c.d,
 * so that one lookup serves IPv4, IPv6 and IPv4-mapped destinations (docs/design.md section 1).
 * No libc: the BPF programs include it too.
 */
#ifndef CRUISE_TARGET_H
#define CRUISE_TARGET_H

#include "cruise.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define CRUISE_TARGET_PORT_BITS 16
/* ::ffff: in front of an IPv4 address */
#define CRUISE_TARGET_V4MAPPED_BITS 96
/* a whole address: what a connect's destination is looked up with */
#define CRUISE_TARGET_V4_BITS 32
#define CRUISE_TARGET_V6_BITS 128

/* The key of addr_be (an IPv4 address, network byte order)/prefix at port; prefix <= 32. */
static __always_inline void cruise_target_key_v4(struct cruise_target_key *k, __u32 addr_be,
						 __u16 port, __u32 prefix)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->prefixlen = CRUISE_TARGET_PORT_BITS + CRUISE_TARGET_V4MAPPED_BITS + prefix;
	k->port = port;
	k->addr[10] = 0xff;
	k->addr[11] = 0xff;
	__builtin_memcpy(&k->addr[12], &addr_be, sizeof(addr_be));
}

/* The key of addr (16 bytes of IPv6 address)/prefix at port; prefix <= 128. */
static __always_inline void cruise_target_key_v6(struct cruise_target_key *k, const __u8 *addr,
						 __u16 port, __u32 prefix)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->prefixlen = CRUISE_TARGET_PORT_BITS + prefix;
	k->port = port;
	__builtin_memcpy(k->addr, addr, sizeof(k->addr));
}

#endif /* CRUISE_TARGET_H */
