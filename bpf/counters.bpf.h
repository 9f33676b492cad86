/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-medium counters. Atomic adds: a softirq (a socket closing) may interrupt a connect on the
 * same CPU, and the tests compare these counts with the clients' own. */
#ifndef CRUISE_COUNTERS_BPF_H
#define CRUISE_COUNTERS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "cruise.h"
#include "maps.bpf.h"

static __always_inline void cruise_count(__u64 *field, __u64 n)
{
	__sync_fetch_and_add(field, n);
}

static __always_inline struct cruise_counters *cruise_counters_of(__u32 medium)
{
	return bpf_map_lookup_elem(&cruise_counters, &medium);
}

/* Count an admitted connect's hold in the delay histogram. */
static __always_inline void cruise_count_delay(struct cruise_counters *c, __u64 wait_ns)
{
	static const __u32 bounds_ms[CRUISE_DELAY_BUCKETS - 1] = { CRUISE_DELAY_BUCKET_BOUNDS_MS };
	__u32 i;

	for (i = 0; i < CRUISE_DELAY_BUCKETS - 1; i++)
		if (wait_ns <= (__u64)bounds_ms[i] * 1000000ULL)
			break;
	if (i < CRUISE_DELAY_BUCKETS)
		cruise_count(&c->delay_buckets[i], 1);
}

#endif /* CRUISE_COUNTERS_BPF_H */
