/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The kernel's jiffy, from its config: never hard-coded (docs/design.md section 1). */
#ifndef CRUISE_JIFFY_BPF_H
#define CRUISE_JIFFY_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "cruise_gcra.h" /* CRUISE_NSEC_PER_SEC */

extern unsigned int CONFIG_HZ __kconfig;

static __always_inline __u64 cruise_jiffy_ns(void)
{
	return CRUISE_NSEC_PER_SEC / CONFIG_HZ;
}

#endif /* CRUISE_JIFFY_BPF_H */
