// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Peer benchmark (not a test): the same work paced by cruise, by what users run today and by
 * nothing. W worker processes in one cgroup each open and close a TCP connection to a PostgreSQL
 * server on loopback in a bounded loop, target aggregate rate R. Methods:
 *   baseline   no limiter, a tight loop (once per W: R does not apply)
 *   sleep      no limiter, each worker sleeps to its own fixed schedule at R/W (the control)
 *   cruise     the real cruise-agent, one medium bound to the workers' cgroup, burst 0
 *   nginx      limit_req keyed by a header, asked with one HTTP request before each connect
 *   hashlimit  iptables hashlimit dropping the workers' over-limit SYNs (cgroup match)
 * Per run: achieved rate, connect latency, total wait, failures and CPU per admitted connection.
 * scripts/bench-peers.sh starts PostgreSQL and runs this; everything made here is removed on exit,
 * also on SIGINT/SIGTERM.
 *
 * Over 600 lines: four limiters set up, driven and torn down the same way, and the table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <bpf/bpf.h>

#include "agent_fixture.h"
#include "cpu_helpers.h"
#include "loader.h"
#include "pg_fixture.h"

#define NSEC		   1000000000ULL
#define MEDIUM_KEY	   "workers" /* the nginx key every worker sends: never empty (trap 2) */
#define CONNECT_TIMEOUT_MS 15000     /* bounds a connect stuck in SYN retransmits */
#define MAX_ROWS	   64
#define START_MS	   10000 /* the agent binds the workers, nginx listens, within this */

enum method { M_BASELINE, M_SLEEP, M_CRUISE, M_NGINX, M_HASHLIMIT, M_COUNT };
static const char *const method_names[M_COUNT] = { "baseline", "sleep", "cruise", "nginx",
						   "hashlimit" };

/* Everything this run creates, for the cleanup (atexit, also after SIGINT/SIGTERM). */
static struct {
	char name[64]; /* unique: the parent cgroup's, the pin dirs', the chain's */
	char tmp[128]; /* our temp dir */
	struct th_cgroup parent, workers;
	uint16_t pg_port;
	pid_t pg_pid;	       /* the postmaster */
	struct th_agent agent; /* the real cruise-agent, for the cruise rows */
	pid_t nginx;
	uint16_t nginx_port;
	char chain[29]; /* our iptables chain; rule: our jump to it from OUTPUT is in place */
	bool rule;
	int stats_fd; /* BPF run-time statistics are on while it is open */
	int cases;
} bp = { .stats_fd = -1 };

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* small utilities */

static void dump(const char *what, const char *path)
{
	char *t = th_slurp(path);

	fprintf(stderr, "bench-peers: %s; %s:\n%s\n", what, path, t);
	free(t);
}

/* Run argv to completion (10 s at most), output appended to tmp/cmd.log; the exit code or -1. */
static int run(const char *const argv[])
{
	char log[192];

	snprintf(log, sizeof(log), "%s/cmd.log", bp.tmp);
	return th_run_cmd(argv, log, log, 10000);
}

/* CPU accounting */

/* Run time of the programs attached through the running agent's pinned links. */
static __u64 cruise_bpf_ns(void)
{
	__u64 sum = 0;

	if (!bp.agent.pid)
		return 0;
	for (int i = 0; i < CRUISE_PROG_COUNT; i++) {
		struct bpf_link_info li = {};
		struct bpf_prog_info pi = {};
		__u32 len = sizeof(li);
		char path[PATH_MAX + 64];
		int lfd, pfd;

		snprintf(path, sizeof(path), "%s/links/%s", bp.agent.pin_dir, cruise_prog_name(i));
		lfd = bpf_obj_get(path);
		if (lfd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(lfd, &li, &len)) {
			pfd = bpf_prog_get_fd_by_id(li.prog_id);
			len = sizeof(pi);
			if (pfd >= 0 && !bpf_obj_get_info_by_fd(pfd, &pi, &len))
				sum += pi.run_time_ns;
			if (pfd >= 0)
				close(pfd);
		}
		close(lfd);
	}
	return sum;
}

/*
 * The machine's CPU. /proc/stat's user, system, irq and softirq are sampled by the tick: without
 * IRQ time accounting (this kernel) a tick bills its whole jiffy to what it interrupts. Work that
 * a timer starts right after a tick and that ends before the next one is never sampled: a held
 * SYN released by its retransmit timer, the loopback handshake in that softirq, even the backend
 * PostgreSQL forks for it (measured: with cruise, tick-billed busy time fell below PostgreSQL's own
 * CPU). So no tick-sampled figure is used. Processes' CPU is the scheduler's exact runtime. Idle
 * time is not sampled either: with NO_HZ, /proc/stat's idle and iowait are the time each CPU
 * spent idle, stopped by every interrupt and restarted after its softirqs, and include the idle
 * period under way (cpuidle's residency does not, and a CPU can idle for seconds). Wall time minus
 * that is all the work done, whoever it was billed to, softirq on idle CPUs included.
 */
struct cpu_sample {
	__u64 wall_ns;
	__u64 idle_ns;	  /* /proc/stat idle + iowait */
	__u64 workers_ns; /* reaped children: the workers */
	__u64 pg_ns;
	__u64 limiter_ns; /* nginx or cruise-agent */
	__u64 bpf_ns;
};

static void machine_sample(struct cpu_sample *s)
{
	unsigned long long v[5] = {};
	FILE *f = fopen("/proc/stat", "r");

	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5)
		memset(v, 0, sizeof(v));
	if (f)
		fclose(f);
	s->wall_ns = cruise_now_ns();
	s->idle_ns = (v[3] + v[4]) * (NSEC / sysconf(_SC_CLK_TCK));
}

/* The machine-wide figures are taken inside the process ones: our own reading stays outside. */
static void cpu_sample(struct cpu_sample *s, bool end)
{
	struct rusage ru;

	memset(s, 0, sizeof(*s));
	if (end)
		machine_sample(s);
	getrusage(RUSAGE_CHILDREN, &ru);
	s->workers_ns = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NSEC +
			(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
	s->pg_ns = th_family_cpu_ns(bp.pg_pid);
	s->limiter_ns = th_task_cpu_ns(bp.agent.pid) + th_task_cpu_ns(bp.nginx);
	s->bpf_ns = cruise_bpf_ns();
	if (!end)
		machine_sample(s);
}

/* Poll ready(log) every 2 ms for 10 s while *pid lives; on failure show its log. */
static int wait_ready(pid_t *pid, bool (*ready)(const char *log), const char *log, const char *what)
{
	for (int i = 0; i < 5000 && !stop; i++) {
		if (ready(log))
			return 0;
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = 0;
			break;
		}
		usleep(2000);
	}
	dump(what, log);
	return -ETIMEDOUT;
}

static void stop_child(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		th_wait_exit(*pid, 5000);
	}
	*pid = 0;
}

/* cruise: the real agent with a generated config */

static int cruise_start(double rate)
{
	char name[96], text[2048 + PATH_MAX];
	int err;

	snprintf(name, sizeof(name), "%s-%d", bp.name, bp.cases);
	err = th_agent_init(&bp.agent, name, bp.tmp, "cruise", false);
	if (err)
		return err;
	/* burst 0 as for the others; max_wait above any wait a worker can see (W / R) */
	snprintf(text, sizeof(text),
		 "scope: /%s\npin_dir: %s\nmetrics: \"\"\n"
		 "targets:\n  - name: pg\n    addresses: [127.0.0.1/32]\n    ports: [%u]\n"
		 "media:\n  - name: workers\n    rate: %.0f/s\n    burst: 0\n    max_wait: 5s\n"
		 "    cgroups: [%s/workers]\n",
		 bp.name, bp.agent.pin_dir, bp.pg_port, rate, bp.name);
	err = th_write_file(bp.agent.conf, text);
	if (!err)
		err = th_agent_start(&bp.agent, NULL, START_MS);
	if (!err && th_agent_wait_line(&bp.agent, "bound cgroup", NULL, 1, START_MS, NULL, 0) < 0)
		err = -ETIMEDOUT;
	if (err)
		fprintf(stderr, "bench-peers: cruise-agent did not bind the workers' cgroup\n");
	return err;
}

static void cruise_stop(void)
{
	th_agent_kill(&bp.agent, SIGTERM);
	th_agent_cleanup(&bp.agent); /* maps closed, --uninstall */
}

/* nginx: limit_req keyed by a header, one request before each connect */

_Static_assert(sizeof(MEDIUM_KEY) > 1, "an empty limit_req key is never limited");

/*
 * One request on the kept-alive connection *fd (opened, or reopened when nginx closed it): 0 when
 * granted (204), else an errno. Runs in a worker process, or in the preflight.
 */
static int nginx_ask(int *fd, const char *key)
{
	char req[256], resp[1024];
	int n = snprintf(req, sizeof(req),
			 "GET /ask HTTP/1.1\r\nHost: peers\r\nX-Cruise-Medium: %s\r\n\r\n", key);

	for (int attempt = 0; attempt < 2; attempt++) {
		struct timeval tv = { .tv_sec = 30 };
		struct sockaddr_storage ss;
		socklen_t len;
		size_t got = 0;

		if (*fd < 0) {
			th_sockaddr("127.0.0.1", bp.nginx_port, &ss, &len);
			*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (*fd < 0)
				return errno;
			setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			if (connect(*fd, (struct sockaddr *)&ss, len)) {
				n = errno;
				close(*fd);
				*fd = -1;
				return n;
			}
		}
		resp[0] = '\0';
		if (send(*fd, req, n, MSG_NOSIGNAL) == n) {
			while (got < sizeof(resp) - 1 && !strstr(resp, "\r\n\r\n")) {
				ssize_t k = recv(*fd, resp + got, sizeof(resp) - 1 - got, 0);

				if (k <= 0)
					break;
				got += k;
				resp[got] = '\0';
			}
		}
		if (!strstr(resp, "\r\n\r\n")) { /* closed: keepalive_requests or timeout */
			close(*fd);
			*fd = -1;
			continue;
		}
		if (strcasestr(resp, "\r\nConnection: close")) {
			close(*fd);
			*fd = -1;
		}
		return strncmp(resp, "HTTP/1.1 204 ", 13) ? EAGAIN : 0;
	}
	return ECONNRESET;
}

static int before_nginx(const struct th_run_opts *o, int worker, int i, __u64 deadline_ns)
{
	static int fd = -1; /* per worker: each is its own process */

	(void)o, (void)worker, (void)i, (void)deadline_ns;
	return nginx_ask(&fd, MEDIUM_KEY);
}

/* The error log must stay empty: a permission error per request means nginx is not limiting. */
static int nginx_log_check(void)
{
	char path[192];
	struct stat st;

	snprintf(path, sizeof(path), "%s/nginx/error.log", bp.tmp);
	if (!stat(path, &st) && st.st_size > 0) {
		dump("nginx logged errors: its limit cannot be trusted", path);
		return -EIO;
	}
	return 0;
}

/*
 * A burst of back-to-back requests on /ask with another (non-empty) key must be spaced at the
 * rate; otherwise the limit is not applied (trap 1: a `return` in the limited location runs
 * before limit_req) and the benchmark stops.
 */
static int nginx_preflight(double rate)
{
	int n = rate / 4 > 4 ? (int)(rate / 4) : 4, fd = -1, err = 0;
	__u64 t0 = cruise_now_ns(), took;

	for (int i = 0; i < n && !err; i++)
		err = nginx_ask(&fd, "preflight");
	took = cruise_now_ns() - t0;
	if (fd >= 0)
		close(fd);
	if (err) {
		fprintf(stderr, "bench-peers: nginx preflight: %s\n", strerror(err));
		return -err;
	}
	if (took < 0.8 * (n - 1) / rate * NSEC) {
		fprintf(stderr,
			"bench-peers: nginx does not limit: %d requests at %.0f/s took %.1f ms\n",
			n, rate, took / 1e6);
		return -EPROTO;
	}
	fprintf(stderr, "  nginx preflight: %d requests at %.0f/s took %.1f ms (limited)\n", n,
		rate, took / 1e6);
	return 0;
}

static bool nginx_listening(const char *log)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	(void)log;
	th_sockaddr("127.0.0.1", bp.nginx_port, &ss, &len);
	ok = fd >= 0 && !connect(fd, (struct sockaddr *)&ss, len);
	if (fd >= 0)
		close(fd);
	return ok;
}

static int nginx_start(double rate)
{
	char prefix[160], path[192], text[4096], log[192];
	const char *argv[] = { "nginx", "-p", prefix, "-c", path, "-e", log, NULL };
	const char *dirs[] = { "", "/html", "/tmp" };
	int err;

	snprintf(prefix, sizeof(prefix), "%s/nginx", bp.tmp);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", prefix, dirs[i]);
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
	}
	snprintf(log, sizeof(log), "%s/error.log", prefix);
	unlink(log);
	bp.nginx_port = th_free_port("127.0.0.1");
	/*
	 * One process (master_process off): the master only supervises, so its CPU is the
	 * limiter's. It runs as root in our 0755 prefix: no worker that cannot read its prefix
	 * (trap 3). The limited location answers from a named location reached by try_files, since
	 * `return` would run before limit_req (trap 1). burst: every worker's request waits, none
	 * is refused. error_log at `error` as shipped: delays are logged at `warn`, refusals at
	 * `error`.
	 */
	snprintf(text, sizeof(text),
		 "daemon off;\nmaster_process off;\nworker_processes 1;\npid %s/nginx.pid;\n"
		 "error_log %s error;\n"
		 "events { worker_connections 1024; }\n"
		 "http {\n"
		 "  access_log off;\n"
		 "  client_body_temp_path %s/tmp/body;\n  proxy_temp_path %s/tmp/proxy;\n"
		 "  fastcgi_temp_path %s/tmp/fastcgi;\n  uwsgi_temp_path %s/tmp/uwsgi;\n"
		 "  scgi_temp_path %s/tmp/scgi;\n"
		 "  keepalive_requests 1000000;\n  keepalive_timeout 300s;\n"
		 "  limit_req_zone $http_x_cruise_medium zone=peers:1m rate=%.0fr/s;\n"
		 "  limit_req_status 429;\n"
		 "  server {\n"
		 "    listen 127.0.0.1:%u;\n    root %s/html;\n"
		 "    location /ask {\n      limit_req zone=peers burst=100000;\n"
		 "      try_files /.granted @granted;\n    }\n"
		 "    location @granted { return 204; }\n"
		 "  }\n}\n",
		 prefix, log, prefix, prefix, prefix, prefix, prefix, rate, bp.nginx_port, prefix);
	snprintf(path, sizeof(path), "%s/nginx.conf", prefix);
	if (th_write_file(path, text))
		return -EIO;
	bp.nginx = th_spawn(argv, log, log);
	if (bp.nginx < 0) {
		bp.nginx = 0;
		return -ECHILD;
	}
	err = wait_ready(&bp.nginx, nginx_listening, log, "nginx did not start");
	return err ?: nginx_preflight(rate) ?: nginx_log_check();
}

static int nginx_stop(void)
{
	if (bp.nginx <= 0)
		return 0;
	stop_child(&bp.nginx);
	return nginx_log_check();
}

/* iptables hashlimit on the workers' SYNs to the database, from our own chain */

/* Insert (-I: first in OUTPUT) or delete (-D) our jump, the same rule spec both times. */
static int ipt_jump(const char *op)
{
	/* the workers' cgroup as xt_cgroup wants it: its path from the cgroup2 root */
	const char *cg = bp.workers.path + strlen(bp.parent.path) - strlen(bp.name) - 1;
	char port[8];
	const char *argv[] = { "iptables", "-w",	op,	  "OUTPUT", "-o",	 "lo",
			       "-p",	   "tcp",	"--syn",  "-d",	    "127.0.0.1", "--dport",
			       port,	   "-m",	"cgroup", "--path", cg,		 "-m",
			       "comment",  "--comment", bp.name,  "-j",	    bp.chain,	 NULL };

	snprintf(port, sizeof(port), "%u", bp.pg_port);
	return run(argv);
}

static void hashlimit_stop(void)
{
	const char *flush[] = { "iptables", "-w", "-F", bp.chain, NULL };
	const char *del[] = { "iptables", "-w", "-X", bp.chain, NULL };

	if (bp.rule && !ipt_jump("-D"))
		bp.rule = false;
	if (bp.chain[0] && !bp.rule && !run(flush) && !run(del))
		bp.chain[0] = '\0';
}

static int hashlimit_start(double rate)
{
	char upto[32], name[16];
	const char *create[] = { "iptables", "-w", "-N", bp.chain, NULL };
	/* burst 1: as the others, no connection above the rate */
	const char *limit[] = { "iptables",
				"-w",
				"-A",
				bp.chain,
				"-m",
				"hashlimit",
				"--hashlimit-upto",
				upto,
				"--hashlimit-burst",
				"1",
				"--hashlimit-name",
				name,
				"-j",
				"RETURN",
				NULL };
	const char *drop[] = { "iptables", "-w", "-A", bp.chain, "-j", "DROP", NULL };

	snprintf(bp.chain, sizeof(bp.chain), "CRUISEPEERS%d", (int)getpid());
	snprintf(name, sizeof(name), "cpeers%d", (int)getpid() % 100000000);
	snprintf(upto, sizeof(upto), "%.0f/sec", rate);
	if (run(create)) {
		bp.chain[0] = '\0';
		return -EIO;
	}
	if (run(limit) || run(drop) || ipt_jump("-I")) {
		hashlimit_stop();
		return -EIO;
	}
	bp.rule = true;
	return 0;
}

/* the control: no limiter, each worker on its own fixed schedule at R/W, staggered */

static int before_sleep(const struct th_run_opts *o, int worker, int i, __u64 deadline_ns)
{
	double rate = *(const double *)o->arg;
	__u64 slot = o->start_at_ns + (__u64)(((double)i * o->workers + worker) * NSEC / rate);
	struct timespec ts = { .tv_sec = slot / NSEC, .tv_nsec = slot % NSEC };

	if (slot >= deadline_ns)
		return -1;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	return 0;
}

/* one run */

struct row {
	enum method m;
	int workers;
	double rate, secs;
	double in_window, achieved; /* count in [start, start + secs) / secs; least squares */
	int ok, failed;
	double conn[3], wait[3]; /* ms: p50, p99, max */
	/* µs per admitted connection */
	double workers_us, limiter_us, bpf_us, kernel_us, total_us;
	double background; /* busy CPUs just before, with nothing of ours running */
};

static int limiter_start(enum method m, double rate)
{
	switch (m) {
	case M_CRUISE:
		return cruise_start(rate);
	case M_NGINX:
		return nginx_start(rate);
	case M_HASHLIMIT:
		return hashlimit_start(rate);
	default:
		return 0;
	}
}

static int limiter_stop(void)
{
	int err = nginx_stop();

	cruise_stop();
	hashlimit_stop();
	return err;
}

static void row_stats(struct row *row, const struct th_run *r, __u64 start_ns)
{
	__u64 *conn = calloc(r->n ? r->n : 1, sizeof(*conn));
	__u64 *wait = calloc(r->n ? r->n : 1, sizeof(*wait));
	int n = 0, in = 0;

	for (int i = 0; conn && wait && i < r->n; i++) {
		const struct th_conn *c = &r->conns[i];

		if (c->err)
			continue;
		conn[n] = c->end_ns - c->start_ns;
		wait[n++] = c->end_ns - c->ready_ns;
		in += c->end_ns >= start_ns && c->end_ns < start_ns + row->secs * NSEC;
	}
	th_quantiles_ms(conn, n, &row->conn[0], &row->conn[1], &row->conn[2]);
	th_quantiles_ms(wait, n, &row->wait[0], &row->wait[1], &row->wait[2]);
	free(conn);
	free(wait);
	row->ok = r->ok;
	row->failed = r->failed;
	row->achieved = th_run_rate(r);
	row->in_window = in / row->secs;
}

/*
 * CPU per admitted connection. total: the machine's busy time (wall minus idle time) less
 * the background rate measured just before, less PostgreSQL's processes. The workers' and the
 * limiter process's shares are exact (scheduler runtime); what is left, "kernel", is work no
 * process was billed for: softirq run on an idle CPU (where a timer releases a held SYN, and the
 * loopback handshake it triggers), idle exits, and what remains of the background.
 */
static void row_cpu(struct row *row, const struct cpu_sample *a, const struct cpu_sample *b,
		    double background)
{
	double wall = b->wall_ns - a->wall_ns;
	double busy =
		(double)sysconf(_SC_NPROCESSORS_ONLN) * wall - ((double)b->idle_ns - a->idle_ns);
	double per = row->ok ? 1e3 * row->ok : 1;

	row->workers_us = (b->workers_ns - a->workers_ns) / per;
	row->limiter_us = (b->limiter_ns - a->limiter_ns) / per;
	row->bpf_us = (b->bpf_ns - a->bpf_ns) / per;
	row->background = background;
	row->total_us = (busy - background * wall - ((double)b->pg_ns - a->pg_ns)) / per;
	row->kernel_us = row->total_us - row->workers_us - row->limiter_us;
	fprintf(stderr,
		"  %s: wall %.3f s busy %.3f s background %.3f s PostgreSQL %.3f s workers %.3f "
		"s\n",
		method_names[row->m], wall / 1e9, busy / 1e9, background * wall / 1e9,
		((double)b->pg_ns - a->pg_ns) / 1e9, (b->workers_ns - a->workers_ns) / 1e9);
}

/*
 * The machine's busy CPUs (busy ns per ns) over 2 s with nothing of ours running. First
 * PostgreSQL must be done with the last run: after a saturated one it still accepts and forks for
 * the connections left in its listen backlog, for up to a second or so (bounded here: 10 s).
 */
static double background_rate(void)
{
	struct cpu_sample a, b;
	__u64 pg = th_family_cpu_ns(bp.pg_pid);

	for (int i = 0; i < 50 && !stop; i++) {
		__u64 now;

		usleep(200000);
		now = th_family_cpu_ns(bp.pg_pid);
		if (now - pg <= 10000000ULL) /* at most one USER_HZ tick in 200 ms */
			break;
		pg = now;
	}
	machine_sample(&a);
	for (int i = 0; i < 20 && !stop; i++)
		usleep(100000);
	machine_sample(&b);
	return ((double)sysconf(_SC_NPROCESSORS_ONLN) * (b.wall_ns - a.wall_ns) -
		((double)b.idle_ns - a.idle_ns)) /
	       (b.wall_ns - a.wall_ns);
}

static int run_case(enum method m, int workers, double rate, double secs, struct row *row)
{
	struct th_run_opts o = {
		.cgroup = bp.workers.path,
		.addr = "127.0.0.1",
		.port = bp.pg_port,
		.workers = workers,
		.duration_ns = secs * NSEC,
		.max_per_worker = 5000 * secs + 10, /* above what this machine can do */
		.nonblocking = true,
		.connect_timeout_ms = CONNECT_TIMEOUT_MS,
		.before = m == M_SLEEP	 ? before_sleep
			  : m == M_NGINX ? before_nginx
					 : NULL,
		.arg = &rate,
	};
	struct cpu_sample a, b;
	double background;
	struct th_run r;
	int err;

	memset(row, 0, sizeof(*row));
	row->m = m;
	row->workers = workers;
	row->rate = rate;
	row->secs = secs;
	bp.cases++;
	background = background_rate();
	err = limiter_start(m, rate);
	if (err) {
		limiter_stop();
		return err;
	}
	/* the workers are forked and in their cgroup before the window starts */
	o.start_at_ns = cruise_now_ns() + 200000000ULL;
	cpu_sample(&a, false);
	err = th_run_clients(&o, &r);
	cpu_sample(&b, true);
	err = limiter_stop() ?: err;
	if (err) {
		th_run_free(&r);
		return err;
	}
	row_stats(row, &r, o.start_at_ns);
	row_cpu(row, &a, &b, background);
	th_run_free(&r);
	return 0;
}

/* output */

static void print_header(FILE *f)
{
	fprintf(f, "| method | W | R/s | achieved/s (error %%) | least squares/s (error %%) "
		   "| connect ms p50/p99/max | total wait ms p50/p99/max | admitted | failed "
		   "| workers µs | limiter µs | workers + limiter µs | vs sleep µs | kernel µs "
		   "| total µs | vs sleep µs | background CPUs |\n");
	fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
}

/* "rate (error vs target)", or the rate alone without a target */
static void rate_cell(char *buf, size_t len, double got, double want)
{
	if (want > 0)
		snprintf(buf, len, "%.2f (%+.2f)", got, 100 * (got / want - 1));
	else
		snprintf(buf, len, "%.2f", got);
}

static void print_row(FILE *f, const struct row *x, const struct row *rows, int n)
{
	const struct row *ctl = NULL;
	char rate[16] = "-", count[48], lsq[48], limiter[32] = "-", delta[16] = "-";
	char total_delta[16] = "-";

	for (int i = 0; i < n; i++)
		if (rows[i].m == M_SLEEP && rows[i].workers == x->workers &&
		    rows[i].rate == x->rate)
			ctl = &rows[i];
	if (x->rate > 0)
		snprintf(rate, sizeof(rate), "%.0f", x->rate);
	rate_cell(count, sizeof(count), x->in_window, x->rate);
	rate_cell(lsq, sizeof(lsq), x->achieved, x->rate);
	if (x->m == M_CRUISE) /* BPF time is inside the workers' and the kernel time already */
		snprintf(limiter, sizeof(limiter), "%.1f (BPF %.1f)", x->limiter_us, x->bpf_us);
	else if (x->m == M_NGINX)
		snprintf(limiter, sizeof(limiter), "%.1f", x->limiter_us);
	else if (x->m == M_HASHLIMIT)
		snprintf(limiter, sizeof(limiter), "in kernel");
	if (ctl && ctl != x) {
		snprintf(delta, sizeof(delta), "%+.1f",
			 x->workers_us + x->limiter_us - ctl->workers_us - ctl->limiter_us);
		snprintf(total_delta, sizeof(total_delta), "%+.0f", x->total_us - ctl->total_us);
	}
	fprintf(f,
		"| %s | %d | %s | %s | %s | %.2f/%.2f/%.1f | %.2f/%.2f/%.1f | %d | %d "
		"| %.1f | %s | %.1f | %s | %.0f | %.0f | %s | %.2f |\n",
		method_names[x->m], x->workers, rate, count, lsq, x->conn[0], x->conn[1],
		x->conn[2], x->wait[0], x->wait[1], x->wait[2], x->ok, x->failed, x->workers_us,
		limiter, x->workers_us + x->limiter_us, delta, x->kernel_us, x->total_us,
		total_delta, x->background);
	fflush(f);
}

/* set-up and clean-up */

static void cleanup(void)
{
	limiter_stop();
	th_cgroup_remove(&bp.workers);
	th_cgroup_remove(&bp.parent);
	if (bp.tmp[0])
		th_rm_tree(bp.tmp);
	bp.tmp[0] = '\0';
	if (bp.stats_fd >= 0)
		close(bp.stats_fd);
	bp.stats_fd = -1;
}

static int setup(const char *pg_dir)
{
	int err;

	bp.pg_pid = th_pg_postmaster(pg_dir);
	if (!bp.pg_pid) {
		fprintf(stderr, "bench-peers: no postmaster.pid in %s/data\n", pg_dir);
		return -ENOENT;
	}
	snprintf(bp.tmp, sizeof(bp.tmp), "/tmp/%s-XXXXXX", bp.name);
	if (!mkdtemp(bp.tmp)) {
		bp.tmp[0] = '\0';
		return -errno;
	}
	chmod(bp.tmp, 0755); /* readable by any nginx worker (trap 3) */
	err = cruise_ensure_bpffs("/sys/fs/bpf");
	if (!err)
		err = th_cgroup_create(&bp.parent, NULL, bp.name);
	if (!err)
		err = th_cgroup_create(&bp.workers, &bp.parent, "workers");
	if (err)
		return err;
	/* run-time statistics of BPF programs while this fd is open: off again when we exit */
	bp.stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (bp.stats_fd < 0)
		return bp.stats_fd;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_peers --pg-dir DIR --pg-port PORT --agent PATH [--scale F] "
		"[--methods baseline,sleep,cruise,nginx,hashlimit]\n"
		"Run by scripts/bench-peers.sh (make bench-peers), which starts PostgreSQL.\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pg-dir", required_argument, NULL, 'd' },
		{ "pg-port", required_argument, NULL, 'p' },
		{ "agent", required_argument, NULL, 'a' },
		{ "scale", required_argument, NULL, 's' },
		{ "methods", required_argument, NULL, 'm' },
		{ 0 },
	};
	static const double rates[] = { 10, 200, 2000 };
	static const int workers[] = { 1, 8 };
	static struct row rows[MAX_ROWS];
	const char *pg_dir = NULL, *methods = "baseline,sleep,cruise,nginx,hashlimit";
	char machine[512], load[128] = "?", *l;
	bool agent_given = false;
	double scale = 1;
	int opt, n = 0, err = 0;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			pg_dir = optarg;
			break;
		case 'p':
			bp.pg_port = atoi(optarg);
			break;
		case 'a':
			/* th_agent_bin() takes it from there */
			setenv("CRUISE_AGENT", optarg, 1);
			agent_given = true;
			break;
		case 's':
			scale = atof(optarg);
			break;
		case 'm':
			methods = optarg;
			break;
		default:
			usage();
		}
	}
	if (!pg_dir || !bp.pg_port || !agent_given || scale <= 0 || scale > 10)
		usage();
	snprintf(bp.name, sizeof(bp.name), "cruise-peers-%d", (int)getpid());
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	atexit(cleanup);
	err = setup(pg_dir);
	if (err) {
		fprintf(stderr, "bench-peers: set-up failed: %s\n", strerror(-err));
		return 1;
	}
	th_machine(machine, sizeof(machine));
	l = th_slurp("/proc/loadavg");
	snprintf(load, sizeof(load), "%.*s", (int)strcspn(l, " \n") + 5, l);
	free(l);
	printf("machine: %s; load average at start: %s\n", machine, load);
	printf("work: each worker connect()s (non-blocking, polled) to PostgreSQL on 127.0.0.1:%u "
	       "and closes, in a loop\n\n",
	       bp.pg_port);
	print_header(stdout);
	/* the baseline once per W: R does not apply to it */
	for (size_t w = 0; w < 2 && !err && !stop && strstr(methods, "baseline"); w++) {
		err = run_case(M_BASELINE, workers[w], 0, 10 * scale, &rows[n]);
		if (!err)
			print_row(stdout, &rows[n], rows, n + 1), n++;
	}
	for (size_t i = 0; i < 3 && !err && !stop; i++) {
		/* 10/s gets a longer window: 300 connections, a count resolution of 0.33% */
		double secs = (rates[i] < 100 ? 30 : 10) * scale;

		for (size_t w = 0; w < 2 && !err && !stop; w++) {
			for (int m = M_SLEEP; m < M_COUNT && !err && !stop; m++) {
				if (!strstr(methods, method_names[m]))
					continue;
				err = run_case(m, workers[w], rates[i], secs, &rows[n]);
				if (!err)
					print_row(stdout, &rows[n], rows, n + 1), n++;
			}
		}
	}
	l = th_slurp("/proc/loadavg");
	printf("\nload average at the end: %.*s\n", (int)strcspn(l, " \n") + 5, l);
	free(l);
	if (err)
		fprintf(stderr, "bench-peers: stopped: %s\n", strerror(-err));
	return err || stop ? 1 : 0;
}
