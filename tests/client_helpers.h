/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Client processes that connect in a bounded loop and record each connect: the workers whose
 * connects the datapath paces, in the tests and the benchmarks.
 */
#ifndef CRUISE_TEST_CLIENT_HELPERS_H
#define CRUISE_TEST_CLIENT_HELPERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include <sys/types.h>

struct th_conn {
	__u64 ready_ns; /* CLOCK_MONOTONIC when the worker was ready for it (before
			   th_run_opts.before) */
	__u64 start_ns; /* CLOCK_MONOTONIC before connect() */
	__u64 end_ns;	/* after connect() returned (or the non-blocking connect completed) */
	int err;	/* 0 or the errno of the connect */
	int worker;
};

/*
 * A connection opened by something other than a bare TCP connect (a database session, say):
 * returns 0 or an errno, and sets *conn for close_fn, which the worker calls after hold_open_ns.
 */
typedef int (*th_open_fn)(void *arg, int worker, void **conn);
typedef void (*th_close_fn)(void *conn);

struct th_run_opts {
	const char *cgroup; /* path the client processes join; NULL: stay */
	const char *addr;   /* "127.0.0.1", "::1", "::ffff:127.0.0.1" */
	uint16_t port;
	int workers;
	__u64 duration_ns;  /* each worker stops starting connects after this */
	int max_per_worker; /* bound on connects per worker */
	bool nonblocking;   /* connect with O_NONBLOCK and poll for completion */
	bool abandon;	    /* O_NONBLOCK connect closed at once, still in progress (EINPROGRESS) */
	__u64 fail_pause_ns; /* pause after a failed connect, as a client's retry would */
	bool udp;	     /* send one UDP datagram per iteration instead of connecting TCP */
	__u64 hold_open_ns;  /* keep each connection open this long before closing */
	__u64 start_at_ns;   /* CLOCK_MONOTONIC time to start at (0: now) */
	__u64 period_ns; /* each worker starts its connects on its own schedule (0: back to back) */
	int connect_timeout_ms; /* non-blocking connects give up after this (0: 60 s) */
	th_open_fn open_fn;	/* instead of a TCP connect to addr and port (then both unused) */
	th_close_fn close_fn;
	/*
	 * Called in the worker before its i-th connect (what the worker waits on before connecting:
	 * a rate-control service, a schedule). Returns 0 to connect, an errno to record a failed
	 * connect without connecting, or -1 to stop this worker. NULL: connect at once.
	 */
	int (*before)(const struct th_run_opts *o, int worker, int i, __u64 deadline_ns);
	void *arg; /* for open_fn and before */
};

struct th_run {
	struct th_conn *conns; /* all workers' connects, ordered by start time */
	int n;
	int ok;
	int failed;
	__u64 first_end_ns, last_end_ns;
	pid_t *pids; /* the workers' (events name them) */
	int npids;
};

/* Run the clients in forked processes; every loop is bounded by count and time. */
int th_run_clients(const struct th_run_opts *o, struct th_run *r);
void th_run_free(struct th_run *r);
/* Was pid one of the run's workers? */
bool th_run_has_pid(const struct th_run *r, pid_t pid);

/* A client run in a thread of its own, beside others or while the test does something else. */
struct th_job {
	struct th_run_opts o;
	struct th_run r;
	int err; /* th_run_clients' */
	pthread_t thread;
	bool started;
};

int th_job_start(struct th_job *j);
/* Wait for the run (every client exits by its bounds); returns its error. */
int th_job_join(struct th_job *j);
/* Run jobs[0..n) together from one start_at_ns; returns the first error. */
int th_jobs_run(struct th_job *jobs, int n);

/* Achieved rate of successful connects: 1 / least-squares slope of their completion times. */
double th_run_rate(const struct th_run *r);
/* Largest connect latency in ns over successful connects. */
__u64 th_run_max_latency(const struct th_run *r);

#endif /* CRUISE_TEST_CLIENT_HELPERS_H */
