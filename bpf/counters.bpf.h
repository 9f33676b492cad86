/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-medium counters. Atomic adds: a softirq (a socket closing) may interrupt a connect on the
 * same CPU, and the tests compare these counts with the clients' own. */
#ifndef CRUISE_COUNTERS_BPF_H
#define CRUISE_COUNTERS_BPF_H

#include "maps.bpf.h"

static __always_inline void cruise_count(__u64 *field, __u64 n)
{
	__sync_fetch_and_add(field, n);
}

static __always_inline struct cruise_counters *cruise_counters_of(__u32 medium)
{
	return bpf_map_lookup_elem(&cruise_counters, &medium);
}

#endif /* CRUISE_COUNTERS_BPF_H */
