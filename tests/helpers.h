/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Test and benchmark fixtures on real kernel parts: cgroups created under the cgroup2 mount,
 * loopback listeners, and client processes that connect in a bounded loop and record each connect.
 */
#ifndef CRUISE_TEST_HELPERS_H
#define CRUISE_TEST_HELPERS_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

struct th_cgroup {
	char path[PATH_MAX];
	__u64 id;
};

/* Create parent/name (parent NULL: the cgroup2 root). */
int th_cgroup_create(struct th_cgroup *cg, const struct th_cgroup *parent, const char *name);
/* Remove a cgroup created by th_cgroup_create; its processes must have exited. */
int th_cgroup_remove(struct th_cgroup *cg);
/* Move the calling process into the cgroup. */
int th_cgroup_enter(const char *path);

struct th_listener {
	int fd;
	int family;
	uint16_t port;
	int backlog;
	bool accept; /* accept and close in a thread; false leaves the backlog to fill */
	pthread_t thread;
	volatile bool stop;
};

/* Listen on addr ("127.0.0.1", "::1") at an ephemeral port. */
int th_listener_start(struct th_listener *l, const char *addr, bool accept_loop, int backlog);
void th_listener_stop(struct th_listener *l);

struct th_conn {
	__u64 start_ns; /* CLOCK_MONOTONIC before connect() */
	__u64 end_ns;	/* after connect() returned (or the non-blocking connect completed) */
	int err;	/* 0 or the errno of the connect */
	int worker;
};

struct th_run_opts {
	const char *cgroup; /* path the client processes join; NULL: stay */
	const char *addr;   /* "127.0.0.1", "::1", "::ffff:127.0.0.1" */
	uint16_t port;
	int workers;
	__u64 duration_ns; /* each worker stops starting connects after this */
	int max_per_worker; /* bound on connects per worker */
	bool nonblocking;   /* connect with O_NONBLOCK and poll for completion */
	bool udp;	    /* send one UDP datagram per iteration instead of connecting TCP */
	__u64 hold_open_ns; /* keep each connection open this long before closing */
	__u64 start_at_ns;  /* CLOCK_MONOTONIC time to start at (0: now) */
};

struct th_run {
	struct th_conn *conns; /* all workers' connects, ordered by start time */
	int n;
	int ok;
	int failed;
	__u64 first_end_ns, last_end_ns;
};

/* Run the clients in forked processes; every loop is bounded by count and time. */
int th_run_clients(const struct th_run_opts *o, struct th_run *r);
void th_run_free(struct th_run *r);

/* Achieved rate of successful connects: 1 / least-squares slope of their completion times. */
double th_run_rate(const struct th_run *r);
/* Largest connect latency in ns over successful connects. */
__u64 th_run_max_latency(const struct th_run *r);

/* A fresh name for test objects: prefix-pid-counter. */
void th_unique_name(char *buf, size_t len, const char *prefix);

int th_write_file(const char *path, const char *s);

#endif /* CRUISE_TEST_HELPERS_H */
