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
#include <sys/socket.h>
#include <sys/types.h>

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

/* A socket address for "127.0.0.1", "::1", "::ffff:127.0.0.1" and port; -EINVAL otherwise. */
int th_sockaddr(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);

/* Listen on addr ("127.0.0.1", "::1") at an ephemeral port. */
int th_listener_start(struct th_listener *l, const char *addr, bool accept_loop, int backlog);
void th_listener_stop(struct th_listener *l);

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

/* qsort comparator for __u64 */
int th_u64_compare(const void *a, const void *b);
/* Sort v and return its p50, p99 and max in ms (0 when n is 0). */
void th_quantiles_ms(__u64 *v, int n, double *p50, double *p99, double *max);

/*
 * fork and exec argv (PATH searched), stdin from /dev/null, stdout and stderr appended to out and
 * err; the child gets SIGKILL when the caller dies. Returns the pid or -errno.
 */
pid_t th_spawn(const char *const argv[], const char *out, const char *err);
/* Wait for pid at most timeout_ms, then SIGKILL it. Returns the wait status, or -1. */
int th_wait_exit(pid_t pid, int timeout_ms);
/* th_spawn, then th_wait_exit: the exit code, or -1 (not started, killed, or died of a signal). */
int th_run_cmd(const char *const argv[], const char *out, const char *err, int timeout_ms);
/* A port nothing listens on now at addr ("127.0.0.1", "::1"): bound to 0, read back; 0 on error. */
uint16_t th_free_port(const char *addr);

/* A fresh name for test objects: prefix-pid-counter. */
void th_unique_name(char *buf, size_t len, const char *prefix);

int th_write_file(const char *path, const char *s);
/* The whole file, NUL-terminated; "" when it does not exist. */
char *th_slurp(const char *path);
/* GET path from 127.0.0.1:port (HTTP/1.0); the status, body in *body (free it), or -1. */
int th_http_get(uint16_t port, const char *path, char **body);
/* Remove path and every cgroup below it, children first (for trees a test made). */
void th_cgroup_remove_tree(const char *path);
/* Remove a directory of files and everything in it. */
void th_rm_tree(const char *dir);
/* The program $env names, or name beside this test program, into buf; 0 if executable. */
int th_find_beside(const char *env, const char *name, char *buf, size_t len);
/*
 * What an end-to-end agent test needs: the scope cgroup name under the cgroup2 root (path cleared
 * when not made), a free port for the agent's metrics, and a listener on 127.0.0.1 as the target.
 */
struct th_listener;
int th_agent_fixture(const char *name, struct th_cgroup *scope, uint16_t *metrics_port,
		     struct th_listener *target);
/* The medium the cgroup is bound to in cruise_bindings (by fd), or -1. */
int th_binding(int bindings_fd, __u64 cgroup_id);
#define TH_ANY_MEDIUM (-2)
/*
 * Poll until the cgroup's binding is want (-1: unbound; TH_ANY_MEDIUM: bound to any, stored in
 * *got); the time it took (at least 1 ns), or 0 after timeout_ms.
 */
__u64 th_wait_binding(int bindings_fd, __u64 cgroup_id, int want, int timeout_ms, int *got);
/* One sample of a Prometheus exposition: the value of the line "series value". */
bool th_metric(const char *body, const char *series, double *v);
/* The last bytes of a file (a log) on stdout, framed. */
void th_print_tail(const char *what, const char *path, size_t bytes);
/* The index of the active medium name in cruise_media (by fd), or -1. */
int th_medium_index(int media_fd, const char *name);

/*
 * A redis-server of Debian's on 127.0.0.1 at a free port, no persistence, in dir (its log there
 * too); extra: more "--option value" words (NULL-terminated, or NULL). th_redis_start waits until
 * it answers PING. th_redis_stop kills it (also a SIGSTOPped one) and reaps it.
 */
struct th_redis {
	pid_t pid;
	uint16_t port;
	char dir[PATH_MAX];
};
int th_redis_start(struct th_redis *r, const char *dir, uint16_t port, const char *const *extra);
void th_redis_stop(struct th_redis *r);
/* redis-cli against it: argv after "-p PORT" (NULL-terminated); output into out (may be NULL). */
int th_redis_cli(const struct th_redis *r, const char *const *args, char *out, size_t len);

#endif /* CRUISE_TEST_HELPERS_H */

struct cruise_handle;

/*
 * One test environment: the real programs loaded with maps pinned under a fresh directory of the
 * real bpffs, attached to a fresh scope cgroup, loopback listeners on 127.0.0.1 and ::1 registered
 * as targets. th_env_teardown removes all of it, whatever state a failed test left.
 */
struct th_env {
	struct cruise_handle *h;
	struct th_cgroup scope;
	struct th_listener l4, l6;
	char pin_dir[PATH_MAX];
};

int th_env_setup(struct th_env *e);
void th_env_teardown(struct th_env *e);
/* For cmocka setups: a set-up environment (the error printed), or NULL; th_env_free tears down. */
struct th_env *th_env_new(void);
void th_env_free(struct th_env *e);
/* Create a worker cgroup under the scope (or under parent) and bind it to medium (-1: unbound). */
int th_env_worker_cgroup(struct th_env *e, struct th_cgroup *cg, const struct th_cgroup *parent,
			 int medium);
/* Configure a medium: rate per second (0: no pacing), burst, max_wait, max_conns, flags. */
int th_env_medium(struct th_env *e, __u32 medium, double rate, __u64 burst, __u64 max_wait_ns,
		  __u32 max_conns, int refuse_errno, __u32 extra_flags);
/* The kernel's jiffy in ns, from CONFIG_HZ as the programs read it. */
__u64 th_jiffy_ns(void);
/* One line for benchmark output: CPU model, CPUs online, kernel release and machine, HZ. */
void th_machine(char *buf, size_t len);
