/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A process's CPU time from /proc, in ns, for the benchmarks that bill the machine's CPU to who
 * used it (bench_peers.c, bench_adaptive.c). Each returns 0 for a process that is gone.
 */
#ifndef CRUISE_TEST_CPU_HELPERS_H
#define CRUISE_TEST_CPU_HELPERS_H

#include <stdbool.h>
#include <linux/types.h>
#include <sys/types.h>

/*
 * utime + stime of a process from /proc/PID/stat, with children also cutime + cstime (its reaped
 * children's), in ns: sampled by the tick, in whole USER_HZ ticks. ppid (may be NULL): its parent.
 */
__u64 th_proc_cpu_ns(pid_t pid, bool children, pid_t *ppid);
/*
 * A parent (PostgreSQL's postmaster) with its reaped children, and each of its live children with
 * theirs, by th_proc_cpu_ns: one level down, a grandchild counts once its parent reaped it.
 */
__u64 th_family_cpu_ns(pid_t parent);
/* A live process's CPU in ns, exactly: the scheduler's runtime of each of its threads. */
__u64 th_task_cpu_ns(pid_t pid);

#endif /* CRUISE_TEST_CPU_HELPERS_H */
