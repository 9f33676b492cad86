/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A real cruise-agent under test, for the end-to-end tests and the benchmarks: spawned on a
 * config, waited for until it has attached and pinned (and serves /healthz when it has a metrics
 * port), then watched through its log, its /metrics and its pinned maps; killed, uninstalled.
 * And th_sandbox: what such a test has of its own (a unique name, a temp dir, a scope cgroup, a
 * loopback target). Nothing here asserts: calls return an error and the caller decides.
 */
#ifndef CRUISE_TEST_AGENT_FIXTURE_H
#define CRUISE_TEST_AGENT_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include <sys/types.h>

#include "helpers.h"
#include "snapshot.h"

/* cruise-agent beside this program, or $CRUISE_AGENT; NULL (and why, on stderr) when not there. */
const char *th_agent_bin(void);

struct th_agent {
	char pin_dir[PATH_MAX]; /* /sys/fs/bpf/NAME */
	char conf[PATH_MAX];	/* its --config: DIR/TAG.yaml, unless the test sets another */
	char dir[PATH_MAX];	/* its logs: DIR/TAG-N.log, one per start */
	char tag[32];
	char log[PATH_MAX + 64]; /* the running (or last) agent's stdout and stderr */
	int n_logs;
	uint16_t metrics_port; /* 0: its config turns metrics off */
	pid_t pid;	       /* 0: not running */
	int status;	       /* its wait status once it exited (-1: killed after a timeout) */
	__u64 started_ns;      /* CLOCK_MONOTONIC: the last spawn, and when it was ready */
	__u64 ready_ns;
	struct cruise_maps
		maps; /* the pinned maps: opened at the first start, they outlive agents */
	bool maps_open;
};

/* Its names and places (see struct th_agent), and a free metrics port if metrics. */
int th_agent_init(struct th_agent *a, const char *name, const char *dir, const char *tag,
		  bool metrics);
/*
 * Spawn cruise-agent --config CONF ARGS... (args NULL-terminated, or NULL) and wait up to
 * timeout_ms until it has logged "attached and pinned" and, with a metrics port, /healthz answers
 * 200; then open the pinned maps (at the first start). 0, or -ECHILD (it exited), -ETIMEDOUT, or
 * the error opening the maps; on failure its log's tail is printed.
 */
int th_agent_start(struct th_agent *a, const char *const *args, int timeout_ms);
/* Running? Reaps an agent that exited on its own, and says so. */
bool th_agent_alive(struct th_agent *a);
/* Send sig, wait up to 5 s for the exit (then SIGKILL); the wait status, or -1. */
int th_agent_kill(struct th_agent *a, int sig);
/* cruise-agent --uninstall --pin-dir PIN_DIR (output in DIR/TAG-uninstall.log): its exit code. */
int th_agent_uninstall(struct th_agent *a);
/* For a teardown, also of a failed test: SIGKILL, maps closed, --uninstall (failures printed). */
void th_agent_cleanup(struct th_agent *a);

/* its log */

/* The log of the running (or last) agent: th_slurp. */
char *th_agent_log(const struct th_agent *a);
void th_agent_print_log(const struct th_agent *a, size_t bytes);
/* How many lines of the log hold n1 (and n2, if not NULL). */
int th_agent_log_lines(const struct th_agent *a, const char *n1, const char *n2);
/*
 * Poll the log for its nth (from 1) line holding n1 (and n2), copied to out (may be NULL): its
 * line number, or -1 after timeout_ms or once the agent died without it (then the log is printed).
 */
int th_agent_wait_line(struct th_agent *a, const char *n1, const char *n2, int nth, int timeout_ms,
		       char *out, size_t len);

/* its HTTP endpoint */

/* The status of GET /healthz, or -1. */
int th_agent_healthz(const struct th_agent *a);
/* The body of GET /metrics (free it), or NULL when it did not answer 200. */
char *th_agent_metrics(const struct th_agent *a);
/* One sample of /metrics ("series value"): 0, -EIO (no answer) or -ENOENT (no such series). */
int th_agent_scrape(const struct th_agent *a, const char *series, double *v);

/* its pinned maps */

/* An active medium by name, as a snapshot reads it (limits, counters, state): 0 or -ENOENT. */
int th_agent_medium(const struct th_agent *a, const char *name, struct cruise_snapshot_medium *m);

/*
 * What an end-to-end test has of its own: a unique name (PREFIX-PID-N: its scope cgroup's and pin
 * dirs'), a temp dir /tmp/NAME.XXXXXX (mode 0755: servers that run as another user reach it),
 * bpffs mounted; with TH_SANDBOX_SCOPE the cgroup NAME under the cgroup2 root, with
 * TH_SANDBOX_TARGET a listener on 127.0.0.1 that accepts and closes (the agent's target).
 * th_sandbox_teardown removes all of it (the scope with every cgroup below it), after a failed
 * setup too.
 */
struct th_sandbox {
	char name[64];
	char tmp[256];
	struct th_cgroup scope;
	struct th_listener target;
};
#define TH_SANDBOX_SCOPE  1
#define TH_SANDBOX_TARGET 2

int th_sandbox_setup(struct th_sandbox *s, const char *prefix, unsigned int flags);
void th_sandbox_teardown(struct th_sandbox *s);

/*
 * One agent in a sandbox of its own, as test_agent and test_k8s set up for each test: the sandbox
 * with its scope cgroup and target, the agent named after it, with a metrics port, its config and
 * logs in the temp dir (TAG.yaml, TAG-N.log). The teardown cleans up the agent, then the sandbox;
 * a failed setup has done it.
 */
/*
 * The head of a config for an agent in sandbox s: scope (s's cgroup), pin_dir, metrics, and the
 * target "db" (s's listener); the caller writes the rest after it. Returns what snprintf does.
 */
int th_agent_conf_head(const struct th_sandbox *s, const struct th_agent *a, char *buf, size_t len);
int th_agent_sandbox_setup(struct th_sandbox *s, struct th_agent *a, const char *prefix,
			   const char *tag);
void th_agent_sandbox_teardown(struct th_sandbox *s, struct th_agent *a);

#endif /* CRUISE_TEST_AGENT_FIXTURE_H */
