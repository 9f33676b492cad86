/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Test and benchmark helpers on real kernel parts, one concern per file as in the kernel's BPF
 * selftests: cgroups (cgroup_helpers.h), loopback sockets (network_helpers.h), client processes
 * that connect in a bounded loop (client_helpers.h), the datapath loaded by the test itself
 * (datapath_fixture.h) and a throwaway Redis (redis_fixture.h), all included here; this header
 * adds the generic ones: files, processes, names, numbers. The fixtures of one kind of test have
 * their own header: agent_fixture.h (a real cruise-agent), pg_fixture.h (a throwaway PostgreSQL),
 * prom_fixture.h (a throwaway Prometheus and its exporter), fake_k8s.h (a fake Kubernetes API);
 * so has the benchmarks' CPU accounting: cpu_helpers.h (a process's CPU time from /proc).
 */
#ifndef CRUISE_TEST_HELPERS_H
#define CRUISE_TEST_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include <sys/types.h>

#include "cgroup_helpers.h"
#include "network_helpers.h"
#include "client_helpers.h"
#include "datapath_fixture.h"
#include "redis_fixture.h"

/* files */

int th_write_file(const char *path, const char *s);
/* The whole file, NUL-terminated; "" when it does not exist. */
char *th_slurp(const char *path);
/* Remove a directory of files and everything in it. */
void th_rm_tree(const char *dir);
/* The last bytes of a file (a log) on stdout, framed. */
void th_print_tail(const char *what, const char *path, size_t bytes);
/*
 * The nth (from 1) complete line of text holding n1 (and n2, if not NULL); copied to out (may be
 * NULL). Returns its line number (from 0) or -1; with nth 0, the count of such lines.
 */
int th_find_line(const char *text, const char *n1, const char *n2, int nth, char *out, size_t len);

/* processes */

/*
 * fork and exec argv (PATH searched), stdin from /dev/null, stdout and stderr appended to out and
 * err; the child gets SIGKILL when the caller dies. Returns the pid or -errno.
 */
pid_t th_spawn(const char *const argv[], const char *out, const char *err);
/* Wait for pid at most timeout_ms, then SIGKILL it. Returns the wait status, or -1. */
int th_wait_exit(pid_t pid, int timeout_ms);
/* A wait status in words: "exited with 1", "killed by signal 9 (Killed)". */
void th_describe_status(int status, char *buf, size_t len);
/* th_spawn, then th_wait_exit: the exit code, or -1 (not started, killed, or died of a signal). */
int th_run_cmd(const char *const argv[], const char *out, const char *err, int timeout_ms);
/* The program $env names, or name beside this test program, into buf; 0 if executable. */
int th_find_beside(const char *env, const char *name, char *buf, size_t len);
/*
 * th_find_beside once (*err starts at 1, then holds its result): buf, or NULL and why on stderr.
 * For a finder with its own static buf and err.
 */
const char *th_find_once(const char *env, const char *name, char *buf, size_t len, int *err);

/* names, time, numbers */

/* A fresh name for test objects: prefix-pid-counter. */
void th_unique_name(char *buf, size_t len, const char *prefix);
/* Sleep until t on CLOCK_MONOTONIC (cruise_now_ns()'s clock): a schedule, not a wait for a state.
 */
void th_sleep_until(__u64 t);
/* The kernel's jiffy in ns, from CONFIG_HZ as the programs read it. */
__u64 th_jiffy_ns(void);
/* qsort comparator for __u64 */
int th_u64_compare(const void *a, const void *b);
/* Sort v and return its p50, p99 and max in ms (0 when n is 0). */
void th_quantiles_ms(__u64 *v, int n, double *p50, double *p99, double *max);
/* One line for benchmark output: CPU model, CPUs online, kernel release and machine, HZ. */
void th_machine(char *buf, size_t len);

#endif /* CRUISE_TEST_HELPERS_H */
