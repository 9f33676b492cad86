// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Adaptive-rate benchmark (not a test): does adaptive pacing protect the database? On a real
 * PostgreSQL (scripts/bench-adaptive.sh starts it and runs pgbench -i), hungry batch workers
 * (pgbench -C: a new connection per transaction) in a cgroup the real cruise-agent paces, beside an
 * interactive client that nothing paces (pgbench -S on persistent connections, at a fixed rate).
 * Phases one after another, each with a fresh agent that probes the server (SELECT 1 latency):
 *   0 baseline      no batch: the interactive latency to protect
 *   1 no limit      the batch in a cgroup no medium is bound to
 *   2 too high      a fixed rate of 3/4 of what phase 1 took
 *   sweep           short phases at fixed rates on a grid below the too-high one, every one run
 *   3 best fixed    the highest rate of the sweep whose interactive p99 was within 20% of the
 *                   baseline's
 *   4, 5 adaptive   ceiling the too-high rate, floor 5/s, on the probe's latency (target: twice
 *                   its baseline p50); backoff gradient, then halve
 *   6 baseline      again: how far the machine's noise moved meanwhile
 * Phases 3-5 have a load shift after 20 s: an unpaced pgbench -C at half the too-high rate for
 * 10 s. Per phase: the interactive p50/p99/tps, the batch's connections/s (pgbench's count and
 * the datapath's), the probe's mean, the adapted rate; the reaction to the shift. Out: a markdown
 * table on stdout, a per-second CSV and the phases (for bench/adaptive.gp) in --out.
 *
 * Over 600 lines: the phases, their logs parsed, and the report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent_fixture.h"
#include "cpu_helpers.h"
#include "loader.h"
#include "pg_fixture.h"

#define POLL_MS	     100   /* the agent's metrics and maps are read this often */
#define START_MS     10000 /* the agent attaches, binds and probes within this */
#define FLOOR_RATE   5.0   /* the adaptive floor, and the sweep's lowest rate */
#define MAX_PHASES   16
#define MAX_SECONDS  900 /* the time series' bound */
#define P99_SLACK    1.2 /* "within 20% of the baseline" */
#define SETTLE_S     2	 /* between phases */
#define KILL_SLACK_S 30	 /* a pgbench gets -T plus this (held connects) before SIGKILL */

enum src { S_INT, S_BATCH, S_SHIFT, S_COUNT };
static const char *const src_name[S_COUNT] = { "interactive", "batch", "shift" };

enum kind { K_BASELINE, K_NOLIMIT, K_FIXED, K_ADAPTIVE };

struct phase {
	char label[48];
	enum kind kind;
	double rate; /* fixed: the rate; adaptive: the ceiling */
	bool halve;  /* adaptive: backoff halve (else gradient) */
	bool sweep;
	double secs, warm; /* its length; the first seconds left out of its figures */
	double shift_at, shift_secs, shift_rate; /* 0: no shift */
	/* seconds since the bench started */
	double t0, t1, shift_t0, shift_t1;
	int exit_bad;	  /* pgbench runs that did not exit 0 */
	double cpu_ours;  /* CPUs used by PostgreSQL, the pgbenches, the agent and this program */
	double cpu_other; /* by everything else on the machine: the other engineers' work */
	int failed[S_COUNT];
};

/* One transaction of a pgbench, by the time it ended. */
struct txn {
	double t;
	float ms;
	unsigned char phase, src;
};

/* One read of the agent's metrics and maps. */
struct poll {
	double t;
	int phase;
	double signal_ms; /* a new probe sample since the last read, or NaN */
	double in_force;  /* the batch medium's rate in the datapath, conns/s */
	double adapted;	  /* its adapted rate, or NaN */
	double conns;	  /* its connections counter */
};

struct stats {
	double secs;
	int n;
	double tps, p50, p99;
	double batch_cps, shift_cps, dp_cps;
	double sig_mean, sig_p90;
	int n_sig;
	double rate_mean, rate_min, rate_max;
};

static struct {
	char name[64];
	char tmp[128];
	char out[256];
	char dsn[192];
	struct th_cgroup scope, batch, free_cg, interactive;
	uint16_t pg_port;
	pid_t pg_pid; /* the postmaster */
	struct th_agent agent;
	bool agent_used;
	pid_t kids[S_COUNT];
	struct timespec start; /* CLOCK_REALTIME: pgbench logs in epoch time */
	double target_s;       /* the probe's target, from the baseline */
	struct phase ph[MAX_PHASES];
	int n_ph;
	int i_best, i_adapt[2], i_end; /* phases 3, 4 and 5, and the baseline at the end */
	struct txn *txn;
	size_t n_txn, cap_txn;
	struct poll *poll;
	size_t n_poll, cap_poll;
	double last_sig_v, last_sig_took;
} b = { .last_sig_v = NAN };

static struct {
	int batch_clients, int_clients, int_rate, shift_clients;
	int every_ms;
	double target_factor, ceiling, scale;
} o = { 8, 2, 400, 8, 500, 2.0, 0, 1.0 };

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* seconds since the bench started, wall clock (the pgbench logs' clock) */
static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (t.tv_sec - b.start.tv_sec) + (t.tv_nsec - b.start.tv_nsec) / 1e9;
}

static void sleep_s(double s)
{
	double end = now_s() + s;

	while (!stop && now_s() < end)
		usleep(20000);
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;

	return a < c ? -1 : a > c;
}

/* q-quantile of v (sorted here), the nearest rank; NaN when empty */
static double quantile(double *v, int n, double q)
{
	int i;

	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	i = (int)ceil(q * n) - 1;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* processes */

/* fork and exec argv in cgroup (NULL: ours), output appended to log; killed when we die. */
static pid_t spawn_in(const char *cgroup, const char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		if (cgroup && th_cgroup_enter(cgroup))
			_exit(125);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid < 0 ? -errno : pid;
}

/* A pgbench of src for the current phase: -T secs, rate 0 for none; its pid or -errno. */
static pid_t pgbench(enum src s, int phase, const char *cgroup, int clients, int rate, double secs)
{
	char port[8], c[8], t[16], r[16], prefix[PATH_MAX], log[PATH_MAX + 64];
	const char *argv[32] = { "pgbench", "-n", "-h", "127.0.0.1", "-p", port, "-U", "postgres",
				 "-S",	    "-c", c,	"-j",	     c,	   "-T", t,    "-l" };
	int n = 16;

	snprintf(port, sizeof(port), "%u", b.pg_port);
	snprintf(c, sizeof(c), "%d", clients);
	snprintf(t, sizeof(t), "%d", (int)ceil(secs));
	snprintf(prefix, sizeof(prefix), "--log-prefix=%s/%s-%d", b.tmp, src_name[s], phase);
	snprintf(log, sizeof(log), "%s/pgbench-%d-%s.out", b.out, phase, src_name[s]);
	argv[n++] = prefix;
	if (s != S_INT)
		argv[n++] = "-C"; /* a new connection per transaction */
	if (rate > 0) {
		snprintf(r, sizeof(r), "%d", rate);
		argv[n++] = "-R";
		argv[n++] = r;
	}
	argv[n++] = "postgres";
	argv[n] = NULL;
	return spawn_in(cgroup, argv, log);
}

/* Wait for the pgbench of s (SIGKILL after deadline); counts a bad exit. */
static void reap(enum src s, struct phase *p, double deadline)
{
	int status = -1;

	if (b.kids[s] <= 0)
		return;
	while (!stop && now_s() < deadline && waitpid(b.kids[s], &status, WNOHANG) == 0)
		usleep(20000);
	if (waitpid(b.kids[s], &status, WNOHANG) == 0) {
		kill(b.kids[s], stop ? SIGTERM : SIGKILL);
		waitpid(b.kids[s], &status, 0);
		status = -1;
	}
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		p->exit_bad++;
		fprintf(stderr, "bench-adaptive: pgbench %s of %s did not exit cleanly; see %s\n",
			src_name[s], p->label, b.out);
	}
	b.kids[s] = 0;
}

/* pgbench's per-transaction logs (one file per thread) into b.txn */
static void read_logs(enum src s, int phase)
{
	char pattern[PATH_MAX + 8], line[256];
	glob_t g;

	snprintf(pattern, sizeof(pattern), "%s/%s-%d.*", b.tmp, src_name[s], phase);
	if (glob(pattern, 0, NULL, &g))
		return;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");

		while (f && fgets(line, sizeof(line), f)) {
			long long epoch, us;
			char tm[32];
			struct txn *x;

			/* client_id transaction_no time script_no time_epoch time_us [lag] */
			if (sscanf(line, "%*d %*d %31s %*d %lld %lld", tm, &epoch, &us) != 3)
				continue;
			if (!strcmp(tm, "failed") || !strcmp(tm, "skipped")) {
				b.ph[phase].failed[s]++;
				continue;
			}
			if (b.n_txn == b.cap_txn) {
				size_t cap = b.cap_txn ? 2 * b.cap_txn : 65536;
				struct txn *more = realloc(b.txn, cap * sizeof(*more));

				if (!more)
					break;
				b.txn = more;
				b.cap_txn = cap;
			}
			x = &b.txn[b.n_txn++];
			x->t = (epoch - b.start.tv_sec) + (us * 1000.0 - b.start.tv_nsec) / 1e9;
			x->ms = atof(tm) / 1e3;
			x->phase = phase;
			x->src = s;
		}
		if (f)
			fclose(f);
		unlink(g.gl_pathv[i]);
	}
	globfree(&g);
}

/* the agent */

static const char *metric_name(char *buf, size_t len, const char *family)
{
	snprintf(buf, len, "%s{signal=\"probe\"}", family);
	return buf;
}

static int agent_start(const struct phase *p)
{
	char name[96], tag[32], text[PATH_MAX + 2048], adaptive[160] = "", target[32];
	int err;

	snprintf(name, sizeof(name), "%s-%d", b.name, b.n_ph - 1);
	snprintf(tag, sizeof(tag), "agent-%d", b.n_ph - 1);
	err = th_agent_init(&b.agent, name, b.out, tag, true);
	if (err)
		return err;
	b.agent_used = true;
	if (p->kind == K_ADAPTIVE)
		snprintf(adaptive, sizeof(adaptive),
			 "    adaptive: {signal: probe, min_rate: %.0f/s, backoff: %s}\n",
			 FLOOR_RATE, p->halve ? "halve" : "gradient");
	/* before the baseline is known: a target that no medium follows */
	snprintf(target, sizeof(target), "%lluus",
		 b.target_s > 0 ? (unsigned long long)llround(b.target_s * 1e6)
				: (unsigned long long)o.every_ms * 500);
	/* burst 0: a rate is that rate; max_wait above any hold (clients / floor) */
	snprintf(text, sizeof(text),
		 "scope: /%s\npin_dir: %s\nmetrics: 127.0.0.1:%u\n"
		 "targets:\n  - name: pg\n    addresses: [127.0.0.1/32]\n    ports: [%u]\n"
		 "signals:\n  - name: probe\n    postgres: {dsn_file: %s, query: SELECT 1}\n"
		 "    every: %dms\n    target: %s\n"
		 "media:\n  - name: batch\n    rate: %.0f/s\n    burst: 0\n    max_wait: 20s\n"
		 "    cgroups: [%s/batch]\n%s",
		 b.name, b.agent.pin_dir, b.agent.metrics_port, b.pg_port, b.dsn, o.every_ms,
		 target, p->rate > 0 ? p->rate : 1000, b.name, adaptive);
	err = th_write_file(b.agent.conf, text);
	if (!err)
		err = th_agent_start(&b.agent, NULL, START_MS);
	if (!err && th_agent_wait_line(&b.agent, "bound cgroup", NULL, 1, START_MS, NULL, 0) < 0)
		err = -ETIMEDOUT;
	/* the probe has answered once */
	for (int i = 0; !err && !stop; i++) {
		char *body = th_agent_metrics(&b.agent), m[96];
		double up = 0;

		if (body)
			th_metric(body, metric_name(m, sizeof(m), "cruise_signal_up"), &up);
		free(body);
		if (up == 1)
			break;
		if (i * 50 > START_MS)
			err = -ETIMEDOUT;
		usleep(50000);
	}
	if (err)
		fprintf(stderr, "bench-adaptive: cruise-agent not ready for %s: %s\n", p->label,
			strerror(-err));
	return err;
}

static void agent_stop(void)
{
	if (!b.agent_used)
		return;
	th_agent_kill(&b.agent, SIGTERM);
	th_agent_cleanup(&b.agent); /* maps closed, --uninstall */
	b.agent_used = false;
}

/* One read of the agent: a new probe sample, the batch medium's rates and counter. */
static void poll_agent(int phase)
{
	struct cruise_snapshot_medium m;
	struct poll *x;
	char *body, name[96];
	double v = NAN, took = NAN;

	if (b.n_poll == b.cap_poll) {
		size_t cap = b.cap_poll ? 2 * b.cap_poll : 8192;
		struct poll *more = realloc(b.poll, cap * sizeof(*more));

		if (!more)
			return;
		b.poll = more;
		b.cap_poll = cap;
	}
	x = &b.poll[b.n_poll];
	x->t = now_s();
	x->phase = phase;
	x->signal_ms = x->in_force = x->adapted = x->conns = NAN;
	body = th_agent_metrics(&b.agent);
	if (body) {
		th_metric(body, metric_name(name, sizeof(name), "cruise_signal_value"), &v);
		th_metric(body, metric_name(name, sizeof(name), "cruise_signal_probe_seconds"),
			  &took);
		/* a new sample: the value or the probe's time moved */
		if (!isnan(v) && (v != b.last_sig_v || took != b.last_sig_took))
			x->signal_ms = v * 1e3;
		b.last_sig_v = v;
		b.last_sig_took = took;
		free(body);
	}
	if (!th_agent_medium(&b.agent, "batch", &m)) {
		x->in_force = m.interval_ns ? 1e9 / m.interval_ns : NAN;
		if (m.adaptive)
			x->adapted = m.ad.rate_interval_ns ? 1e9 / m.ad.rate_interval_ns : NAN;
		x->conns = m.c.connections;
	}
	b.n_poll++;
}

/* CPU: ours and the rest of the machine's, as bench_peers.c measures it */

static double rusage_ns(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

/*
 * Busy is wall time x CPUs minus /proc/stat's idle (exact with NO_HZ, unlike its tick-sampled
 * busy fields: bench_peers.c says why); ours is exact: reaped children (the pgbenches), the
 * running agent, this program and PostgreSQL's processes.
 */
struct cpu {
	double wall_ns, idle_ns, ours_ns;
};

static void cpu_sample(struct cpu *c)
{
	unsigned long long v[5] = { 0 };
	FILE *f = fopen("/proc/stat", "r");

	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5)
		memset(v, 0, sizeof(v));
	if (f)
		fclose(f);
	c->wall_ns = now_s() * 1e9;
	c->idle_ns = (v[3] + v[4]) * (1e9 / sysconf(_SC_CLK_TCK));
	c->ours_ns = rusage_ns(RUSAGE_CHILDREN) + rusage_ns(RUSAGE_SELF) +
		     (double)th_task_cpu_ns(b.agent.pid) + (double)th_family_cpu_ns(b.pg_pid);
}

static void cpu_phase(struct phase *p, const struct cpu *a, const struct cpu *e)
{
	double wall = e->wall_ns - a->wall_ns;
	double busy = sysconf(_SC_NPROCESSORS_ONLN) * wall - (e->idle_ns - a->idle_ns);

	p->cpu_ours = (e->ours_ns - a->ours_ns) / wall;
	p->cpu_other = fmax(0, busy / wall - p->cpu_ours);
}

/* one phase */

static int run_phase(struct phase *p)
{
	int idx = b.n_ph, err;
	const char *batch_cg = p->kind == K_NOLIMIT ? b.free_cg.path : b.batch.path;
	struct cpu ca, ce;
	double next;

	if (b.n_ph == MAX_PHASES)
		return -E2BIG;
	b.ph[b.n_ph++] = *p;
	p = &b.ph[idx];
	fprintf(stderr, "bench-adaptive: %s (%.0f s)\n", p->label, p->secs);
	/* the last phase's backends and held connects are gone */
	if (idx)
		sleep_s(SETTLE_S);
	b.last_sig_v = NAN;
	err = agent_start(p);
	if (err) {
		agent_stop();
		return err;
	}
	cpu_sample(&ca);
	p->t0 = now_s();
	b.kids[S_INT] = pgbench(S_INT, idx, b.interactive.path, o.int_clients, o.int_rate, p->secs);
	if (p->kind != K_BASELINE)
		b.kids[S_BATCH] = pgbench(S_BATCH, idx, batch_cg, o.batch_clients, 0, p->secs);
	for (next = p->t0; !stop && now_s() < p->t0 + p->secs;) {
		double t = now_s();

		if (p->shift_secs > 0 && !p->shift_t0 && t >= p->t0 + p->shift_at) {
			p->shift_t0 = t;
			p->shift_t1 = t + p->shift_secs;
			b.kids[S_SHIFT] = pgbench(S_SHIFT, idx, b.free_cg.path, o.shift_clients,
						  (int)p->shift_rate, p->shift_secs);
		}
		poll_agent(idx);
		next += POLL_MS / 1e3;
		while (!stop && now_s() < next)
			usleep(5000);
	}
	p->t1 = now_s();
	for (int s = 0; s < S_COUNT; s++)
		reap(s, p, p->t1 + KILL_SLACK_S);
	cpu_sample(&ce);
	cpu_phase(p, &ca, &ce);
	agent_stop();
	for (int s = 0; s < S_COUNT; s++)
		read_logs(s, idx);
	return stop ? -EINTR : 0;
}

/* figures */

/* the datapath's connections/s over [a, b): the counter between the polls inside */
static double dp_rate(int phase, double a, double e)
{
	const struct poll *first = NULL, *last = NULL;

	for (size_t i = 0; i < b.n_poll; i++) {
		const struct poll *x = &b.poll[i];

		if (x->phase != phase || x->t < a || x->t >= e || isnan(x->conns))
			continue;
		if (!first)
			first = x;
		last = x;
	}
	if (!first || last->t - first->t < 0.5)
		return NAN;
	return (last->conns - first->conns) / (last->t - first->t);
}

/* Everything of phase over [a, e) seconds since the bench started. */
static void stats(int phase, double a, double e, struct stats *s)
{
	double *lat = malloc((b.n_txn + 1) * sizeof(*lat));
	double *sig = malloc((b.n_poll + 1) * sizeof(*sig));
	int counts[S_COUNT] = { 0 }, n_rate = 0;
	double sig_sum = 0, rate_sum = 0;

	memset(s, 0, sizeof(*s));
	s->secs = e - a;
	for (size_t i = 0; lat && i < b.n_txn; i++) {
		const struct txn *x = &b.txn[i];

		if (x->phase != phase || x->t < a || x->t >= e)
			continue;
		counts[x->src]++;
		if (x->src == S_INT)
			lat[s->n++] = x->ms;
	}
	s->tps = counts[S_INT] / s->secs;
	s->batch_cps = counts[S_BATCH] / s->secs;
	s->shift_cps = counts[S_SHIFT] / s->secs;
	s->p50 = quantile(lat, s->n, 0.5);
	s->p99 = quantile(lat, s->n, 0.99);
	free(lat);
	s->dp_cps = b.ph[phase].kind == K_NOLIMIT ? NAN : dp_rate(phase, a, e);
	s->rate_min = INFINITY;
	s->rate_max = -INFINITY;
	for (size_t i = 0; i < b.n_poll; i++) {
		const struct poll *x = &b.poll[i];

		if (x->phase != phase || x->t < a || x->t >= e)
			continue;
		if (!isnan(x->signal_ms) && sig) {
			sig_sum += x->signal_ms;
			sig[s->n_sig++] = x->signal_ms;
		}
		if (!isnan(x->adapted)) {
			rate_sum += x->adapted;
			n_rate++;
			s->rate_min = fmin(s->rate_min, x->adapted);
			s->rate_max = fmax(s->rate_max, x->adapted);
		}
	}
	s->sig_mean = s->n_sig ? sig_sum / s->n_sig : NAN;
	s->sig_p90 = sig ? quantile(sig, s->n_sig, 0.9) : NAN;
	free(sig);
	s->rate_mean = n_rate ? rate_sum / n_rate : NAN;
}

/* the probe samples' p50 over [a, e) of phase, ms */
static double probe_p50(int phase, double a, double e)
{
	double *v = malloc((b.n_poll + 1) * sizeof(*v)), q;
	int n = 0;

	for (size_t i = 0; v && i < b.n_poll; i++)
		if (b.poll[i].phase == phase && b.poll[i].t >= a && b.poll[i].t < e &&
		    !isnan(b.poll[i].signal_ms))
			v[n++] = b.poll[i].signal_ms;
	q = v ? quantile(v, n, 0.5) : NAN;
	free(v);
	return q;
}

/* a phase's steady window: after its warm-up, before its shift */
static void steady(const struct phase *p, double *a, double *e)
{
	*a = p->t0 + p->warm;
	*e = p->shift_t0 > 0 ? p->shift_t0 : p->t1;
}

static double steady_p99(int phase, struct stats *s)
{
	double a, e;

	steady(&b.ph[phase], &a, &e);
	stats(phase, a, e, s);
	return s->p99;
}

/* the table */

static void fmt(char *buf, size_t len, const char *f, double v)
{
	if (isnan(v) || isinf(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, f, v);
}

static void print_row(const char *label, const char *limit, const struct stats *s, double base_p99,
		      const struct phase *p)
{
	char p99[48], dp[16], sig[32], p90[16], rate[48], vs[16], shift[16];

	fmt(vs, sizeof(vs), "%+.0f%%", 100 * (s->p99 / base_p99 - 1));
	snprintf(p99, sizeof(p99), "%.2f (%s)", s->p99, vs);
	fmt(dp, sizeof(dp), "%.1f", s->dp_cps);
	fmt(p90, sizeof(p90), "%.3f", s->sig_p90);
	snprintf(sig, sizeof(sig), "%.3f / %s", s->sig_mean, p90);
	if (isnan(s->rate_mean))
		snprintf(rate, sizeof(rate), "-");
	else
		snprintf(rate, sizeof(rate), "%.1f (%.1f-%.1f)", s->rate_mean, s->rate_min,
			 s->rate_max);
	fmt(shift, sizeof(shift), "%.1f", s->shift_cps > 0 ? s->shift_cps : NAN);
	printf("| %s | %s | %.0f | %.1f | %.2f | %s | %.1f | %s | %s | %s | %s | %.2f / %.2f |\n",
	       label, limit, s->secs, s->tps, s->p50, p99, s->batch_cps, dp, shift, sig, rate,
	       p->cpu_ours, p->cpu_other);
}

static void limit_cell(char *buf, size_t len, const struct phase *p)
{
	switch (p->kind) {
	case K_BASELINE:
		snprintf(buf, len, "batch stopped");
		break;
	case K_NOLIMIT:
		snprintf(buf, len, "none (unbound)");
		break;
	case K_FIXED:
		snprintf(buf, len, "fixed %.0f/s", p->rate);
		break;
	case K_ADAPTIVE:
		snprintf(buf, len, "adaptive %.0f-%.0f/s, %s", FLOOR_RATE, p->rate,
			 p->halve ? "halve" : "gradient");
		break;
	}
}

/* per second: [s, s + 1) of phase */
struct second {
	int phase;
	int n;
	double p50, p99, cps[S_COUNT], dp, rate, in_force, sig;
};

static void second_of(int phase, int sec, struct second *x)
{
	struct stats s;
	double in_force = 0;
	int n = 0;

	stats(phase, sec, sec + 1, &s);
	x->phase = phase;
	x->n = s.n;
	x->p50 = s.p50;
	x->p99 = s.p99;
	x->cps[S_INT] = s.tps;
	x->cps[S_BATCH] = s.batch_cps;
	x->cps[S_SHIFT] = s.shift_cps;
	x->dp = s.dp_cps;
	x->rate = s.rate_mean;
	x->sig = s.sig_mean;
	for (size_t i = 0; i < b.n_poll; i++)
		if (b.poll[i].phase == phase && b.poll[i].t >= sec && b.poll[i].t < sec + 1 &&
		    !isnan(b.poll[i].in_force))
			in_force += b.poll[i].in_force, n++;
	x->in_force = n && b.ph[phase].kind >= K_FIXED ? in_force / n : NAN;
}

/*
 * Reaction to the shift of phase: the first second the adapted rate's mean is at most 80% of its
 * mean over the 8 s before; the first second from which the interactive p99 over 2 s is within
 * 20% of the baseline's. Seconds from the shift's start; NaN: never before the shift ended.
 */
static void reaction(int phase, double base_p99, double *t_rate, double *t_p99, double *peak)
{
	const struct phase *p = &b.ph[phase];
	struct stats pre, s;

	*t_rate = *t_p99 = NAN;
	*peak = 0;
	stats(phase, p->shift_t0 - 8, p->shift_t0, &pre);
	for (double t = p->shift_t0; t + 1 <= p->shift_t1 + 0.01; t += 1) {
		stats(phase, t, t + 1, &s);
		*peak = fmax(*peak, isnan(s.p99) ? 0 : s.p99);
		if (isnan(*t_rate) && !isnan(s.rate_mean) && s.rate_mean <= 0.8 * pre.rate_mean)
			*t_rate = t + 1 - p->shift_t0;
	}
	for (double t = p->shift_t0; t + 2 <= p->shift_t1 + 0.01; t += 1) {
		stats(phase, t, t + 2, &s);
		if (s.p99 <= P99_SLACK * base_p99) {
			*t_p99 = t + 2 - p->shift_t0;
			break;
		}
	}
}

/* How often the baseline's own 2 s windows are within 20% of its p99: the noise floor. */
static double baseline_windows_ok(double base_p99)
{
	const struct phase *p = &b.ph[0];
	struct stats s;
	int n = 0, ok = 0;

	for (double t = p->t0 + p->warm; t + 2 <= p->t1; t += 1) {
		stats(0, t, t + 2, &s);
		n++;
		ok += s.p99 <= P99_SLACK * base_p99;
	}
	return n ? 100.0 * ok / n : NAN;
}

static int write_csv(double base_p99)
{
	char path[PATH_MAX + 32], num[12][24];
	FILE *f, *g;
	int end = (int)ceil(b.ph[b.n_ph - 1].t1);

	snprintf(path, sizeof(path), "%s/adaptive.csv", b.out);
	f = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/phases.csv", b.out);
	g = fopen(path, "w");
	if (!f || !g) {
		if (f)
			fclose(f);
		if (g)
			fclose(g);
		return -errno;
	}
	fprintf(f, "t,phase,int_tps,int_p50_ms,int_p99_ms,p99_limit_ms,batch_cps,shift_cps,"
		   "datapath_cps,rate_in_force,adapted_rate,probe_ms,target_ms\n");
	for (int sec = 0; sec < end && sec < MAX_SECONDS; sec++) {
		struct second x;
		int ph = -1;

		for (int i = 0; i < b.n_ph; i++)
			if (sec >= b.ph[i].t0 && sec + 1 <= b.ph[i].t1 + 0.5)
				ph = i;
		if (ph < 0) {
			fprintf(f, "%d,,NaN,NaN,NaN,%.3f,NaN,NaN,NaN,NaN,NaN,NaN,NaN\n", sec,
				P99_SLACK * base_p99);
			continue;
		}
		second_of(ph, sec, &x);
		snprintf(num[0], 24, "%.0f", x.cps[S_INT]);
		fmt(num[1], 24, "%.3f", x.p50);
		fmt(num[2], 24, "%.3f", x.p99);
		snprintf(num[3], 24, "%.0f", x.cps[S_BATCH]);
		snprintf(num[4], 24, "%.0f", x.cps[S_SHIFT]);
		fmt(num[5], 24, "%.1f", x.dp);
		fmt(num[6], 24, "%.1f", x.in_force);
		fmt(num[7], 24, "%.1f", x.rate);
		fmt(num[8], 24, "%.3f", x.sig);
		fmt(num[9], 24, "%.3f", b.ph[ph].kind == K_ADAPTIVE ? b.target_s * 1e3 : NAN);
		for (int k = 0; k < 10; k++)
			if (!strcmp(num[k], "-"))
				snprintf(num[k], 24, "NaN");
		fprintf(f, "%d,%d,%s,%s,%s,%.3f,%s,%s,%s,%s,%s,%s,%s\n", sec, ph, num[0], num[1],
			num[2], P99_SLACK * base_p99, num[3], num[4], num[5], num[6], num[7],
			num[8], num[9]);
	}
	fprintf(g, "start,end,shift_start,shift_end,label\n");
	for (int i = 0; i < b.n_ph; i++) {
		const struct phase *p = &b.ph[i];
		char label[64];

		/* short labels on the plot: the phase's number, or the sweep's rate */
		if (p->sweep)
			snprintf(label, sizeof(label), "%.0f", p->rate);
		else
			snprintf(label, sizeof(label), "%.1s", p->label);
		fprintf(g, "%.1f,%.1f,%.1f,%.1f,%s\n", p->t0, p->t1,
			p->shift_t0 > 0 ? p->shift_t0 : NAN, p->shift_t0 > 0 ? p->shift_t1 : NAN,
			label);
	}
	fclose(f);
	fclose(g);
	return 0;
}

/* the adapted rate per second over phase, on one line */
static void print_rate_series(int phase)
{
	const struct phase *p = &b.ph[phase];

	printf("- %s, adapted rate (mean of each second, conns/s) from its start:", p->label);
	for (int sec = (int)ceil(p->t0); sec + 1 <= p->t1 + 0.5; sec++) {
		struct stats s;

		stats(phase, sec, sec + 1, &s);
		if (fabs(sec - p->shift_t0) < 0.5 || fabs(sec - p->shift_t1) < 0.5)
			printf(" |");
		printf(" %.0f", s.rate_mean);
	}
	printf(" (| the shift's start and end)\n");
}

/* set-up and clean-up */

static void cleanup(void)
{
	for (int s = 0; s < S_COUNT; s++) {
		if (b.kids[s] > 0) {
			kill(b.kids[s], SIGTERM);
			th_wait_exit(b.kids[s], 5000);
			b.kids[s] = 0;
		}
	}
	agent_stop();
	th_cgroup_remove(&b.interactive);
	th_cgroup_remove(&b.free_cg);
	th_cgroup_remove(&b.batch);
	th_cgroup_remove(&b.scope);
	if (b.tmp[0])
		th_rm_tree(b.tmp);
	b.tmp[0] = '\0';
}

static int setup(void)
{
	char text[256];
	int err;

	snprintf(b.tmp, sizeof(b.tmp), "/tmp/%s-XXXXXX", b.name);
	if (!mkdtemp(b.tmp)) {
		b.tmp[0] = '\0';
		return -errno;
	}
	snprintf(b.dsn, sizeof(b.dsn), "%s/dsn", b.tmp);
	snprintf(text, sizeof(text),
		 "host=127.0.0.1 port=%u user=postgres dbname=postgres "
		 "application_name=cruise-probe\n",
		 b.pg_port);
	err = th_write_file(b.dsn, text);
	if (!err)
		err = cruise_ensure_bpffs("/sys/fs/bpf");
	if (!err)
		err = th_cgroup_create(&b.scope, NULL, b.name);
	if (!err)
		err = th_cgroup_create(&b.batch, &b.scope, "batch");
	if (!err)
		err = th_cgroup_create(&b.free_cg, &b.scope, "free");
	if (!err)
		err = th_cgroup_create(&b.interactive, &b.scope, "interactive");
	return err;
}

/* a rate as people would set it: two significant digits */
static double nice_rate(double r)
{
	double mag = pow(10, floor(log10(r)) - 1);

	return fmax(FLOOR_RATE, round(r / mag) * mag);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_adaptive --pg-dir DIR --pg-port PORT --agent PATH --out DIR "
			"[--scale F]\n"
			"  [--batch-clients N] [--interactive-clients N] [--interactive-rate TPS]\n"
			"  [--every MS] [--target-factor F] [--ceiling RATE]\n"
			"Run by scripts/bench-adaptive.sh (make bench-adaptive), which starts "
			"PostgreSQL.\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pg-port", required_argument, NULL, 'p' },
		{ "pg-dir", required_argument, NULL, 'd' },
		{ "agent", required_argument, NULL, 'a' },
		{ "out", required_argument, NULL, 'o' },
		{ "scale", required_argument, NULL, 's' },
		{ "batch-clients", required_argument, NULL, 'b' },
		{ "interactive-clients", required_argument, NULL, 'i' },
		{ "interactive-rate", required_argument, NULL, 'r' },
		{ "every", required_argument, NULL, 'e' },
		{ "target-factor", required_argument, NULL, 'f' },
		{ "ceiling", required_argument, NULL, 'c' },
		{ 0 },
	};
	bool agent = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			b.pg_port = atoi(optarg);
			break;
		case 'd':
			b.pg_pid = th_pg_postmaster(optarg);
			break;
		case 'a':
			setenv("CRUISE_AGENT", optarg, 1); /* th_agent_bin() takes it from there */
			agent = true;
			break;
		case 'o':
			snprintf(b.out, sizeof(b.out), "%s", optarg);
			break;
		case 's':
			o.scale = atof(optarg);
			break;
		case 'b':
			o.batch_clients = atoi(optarg);
			break;
		case 'i':
			o.int_clients = atoi(optarg);
			break;
		case 'r':
			o.int_rate = atoi(optarg);
			break;
		case 'e':
			o.every_ms = atoi(optarg);
			break;
		case 'f':
			o.target_factor = atof(optarg);
			break;
		case 'c':
			o.ceiling = atof(optarg);
			break;
		default:
			usage();
		}
	}
	if (!b.pg_port || !b.pg_pid || !agent || !b.out[0] || o.scale < 0.2 || o.scale > 3 ||
	    o.batch_clients < 1 || o.batch_clients > 64 || o.int_clients < 1 ||
	    o.int_clients > 16 || o.int_rate < 10 || o.int_rate > 5000 || o.every_ms < 50 ||
	    o.every_ms > 5000 || o.target_factor < 1 || o.target_factor > 20 || o.ceiling < 0)
		usage();
}

/* the phases */

static int measure(double *base_p99, double *best, double *ceiling)
{
	struct phase p = { .warm = 3 * o.scale };
	static const double grid[] = { 0.7, 0.5, 0.35, 0.25, 0.18, 0.125 };
	double sweep_secs = 10 * o.scale, long_secs = 40 * o.scale, lowest, lo = 0, a, e;
	struct stats s;
	int err;

	p.secs = 20 * o.scale;
	snprintf(p.label, sizeof(p.label), "0 baseline");
	p.kind = K_BASELINE;
	err = run_phase(&p);
	if (err)
		return err;
	*base_p99 = steady_p99(0, &s);
	steady(&b.ph[0], &a, &e);
	b.target_s = o.target_factor * probe_p50(0, a, e) / 1e3;
	if (!(b.target_s > 0))
		return -ENODATA;
	b.target_s = fmax(b.target_s, 50e-6);
	fprintf(stderr, "  baseline p99 %.3f ms, probe p50 %.3f ms: target %.0f us\n", *base_p99,
		probe_p50(0, a, e), b.target_s * 1e6);

	snprintf(p.label, sizeof(p.label), "1 no limit");
	p.kind = K_NOLIMIT;
	err = run_phase(&p);
	if (err)
		return err;
	steady_p99(1, &s);
	*ceiling = o.ceiling > 0 ? o.ceiling : nice_rate(0.75 * s.batch_cps);
	fprintf(stderr, "  no limit: batch %.1f conns/s; too high: %.0f/s\n", s.batch_cps,
		*ceiling);

	p.kind = K_FIXED;
	p.rate = *ceiling;
	snprintf(p.label, sizeof(p.label), "2 fixed, too high");
	err = run_phase(&p);
	if (err)
		return err;
	/*
	 * The sweep: a grid from the too-high rate down, every step run; the best is the highest
	 * that met the bound. Noise (other work on the machine) makes a rate fail, seldom pass:
	 * stopping at the first pass would take a false failure for a real one.
	 */
	lowest = *ceiling;
	if (steady_p99(2, &s) <= P99_SLACK * *base_p99)
		lo = *ceiling;
	p.sweep = true;
	p.secs = sweep_secs;
	for (size_t k = 0; k < sizeof(grid) / sizeof(grid[0]); k++) {
		p.rate = nice_rate(*ceiling * grid[k]);
		if (p.rate >= lowest)
			continue;
		lowest = p.rate;
		snprintf(p.label, sizeof(p.label), "sweep %.0f/s", p.rate);
		err = run_phase(&p);
		if (err)
			return err;
		if (steady_p99(b.n_ph - 1, &s) <= P99_SLACK * *base_p99 && p.rate > lo)
			lo = p.rate;
	}
	*best = lo;

	/* 3-5: the same timeline, with the shift halfway */
	p.sweep = false;
	p.secs = long_secs;
	p.warm = 6 * o.scale;
	p.shift_at = 20 * o.scale;
	p.shift_secs = 10 * o.scale;
	p.shift_rate = round(*ceiling / 2);
	p.kind = K_FIXED;
	p.rate = lo ? lo : lowest;
	snprintf(p.label, sizeof(p.label), "3 fixed, best");
	err = run_phase(&p);
	if (err)
		return err;
	b.i_best = b.n_ph - 1;
	p.kind = K_ADAPTIVE;
	p.rate = *ceiling;
	for (int k = 0; k < 2; k++) {
		p.halve = k;
		snprintf(p.label, sizeof(p.label), "%d adaptive, %s", 4 + k,
			 k ? "halve" : "gradient");
		err = run_phase(&p);
		if (err)
			return err;
		b.i_adapt[k] = b.n_ph - 1;
	}
	/* the baseline again: how far the machine's noise moved meanwhile */
	memset(&p, 0, sizeof(p));
	p.kind = K_BASELINE;
	p.secs = 20 * o.scale;
	p.warm = 3 * o.scale;
	snprintf(p.label, sizeof(p.label), "6 baseline, again");
	err = run_phase(&p);
	b.i_end = b.n_ph - 1;
	return err;
}

static void report(double base_p99, double best, double ceiling, double t_start)
{
	struct stats s, best_s = { 0 };
	char limit[64], label[96];
	double a, e;

	printf("\nbaseline: interactive p99 %.3f ms, so the bound is %.3f ms (+20%%); probe target "
	       "%.0f us (%.1f x its baseline p50); too high: %.0f/s; best fixed rate: ",
	       base_p99, P99_SLACK * base_p99, b.target_s * 1e6, o.target_factor, ceiling);
	if (best > 0)
		printf("%.0f/s\n", best);
	else
		printf("none of the sweep met the bound\n");
	printf("in the baseline itself, %.0f%% of the 2 s windows are within the bound (the "
	       "noise)\n\n",
	       baseline_windows_ok(base_p99));
	printf("| phase | batch limit | window s | interactive tps | p50 ms | p99 ms (vs baseline) "
	       "| batch conns/s (pgbench) | batch conns/s (datapath) | shift conns/s "
	       "| probe ms mean / p90 | adapted rate mean (min-max) | CPUs ours / others |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < b.n_ph; i++) {
		const struct phase *p = &b.ph[i];

		limit_cell(limit, sizeof(limit), p);
		steady(p, &a, &e);
		stats(i, a, e, &s);
		if (i == b.i_best)
			best_s = s;
		print_row(p->label, limit, &s, base_p99, p);
		if (p->shift_t0 > 0) {
			stats(i, p->shift_t0, p->shift_t1, &s);
			snprintf(label, sizeof(label), "%s: during the shift (+%.0f/s unpaced)",
				 p->label, p->shift_rate);
			print_row(label, limit, &s, base_p99, p);
		}
	}
	printf("\n(conns/s: pgbench's completed transactions, one connection each; the datapath's: "
	       "its counter of the batch medium. CPUs over the whole phase: ours are PostgreSQL, "
	       "the pgbenches, the agent and the benchmark; others' are the rest of the machine's "
	       "busy time: other engineers' work, the noise)\n\nGoals:\n");
	for (int k = 0; k < 2; k++) {
		int i = b.i_adapt[k];
		const struct phase *p = &b.ph[i];
		double t_rate, t_p99, peak;

		steady(p, &a, &e);
		stats(i, a, e, &s);
		printf("- %s: interactive p99 %.2f ms vs bound %.2f ms: %s; batch %.1f conns/s vs "
		       "80%% of the best fixed rate's %.1f: %s\n",
		       p->label, s.p99, P99_SLACK * base_p99,
		       s.p99 <= P99_SLACK * base_p99 ? "met" : "NOT met", s.batch_cps,
		       0.8 * best_s.batch_cps,
		       best > 0 && s.batch_cps >= 0.8 * best_s.batch_cps ? "met"
		       : best > 0					 ? "NOT met"
				  : "n/a (no rate of the sweep met the bound: phase 3 ran at its "
				    "lowest)");
		reaction(i, base_p99, &t_rate, &t_p99, &peak);
		printf("  shift: the adapted rate's 1 s mean at most 80%% of its mean over the 8 s "
		       "before: ");
		isnan(t_rate) ? printf("never during the shift") : printf("after %.0f s", t_rate);
		printf("; the first 2 s window with the p99 within the bound ends ");
		isnan(t_p99) ? printf("never during the shift")
			     : printf("%.0f s after the shift's start", t_p99);
		printf("; worst 1 s p99 during the shift %.1f ms\n", peak);
	}
	{
		double t_rate, t_p99, peak;

		reaction(b.i_best, base_p99, &t_rate, &t_p99, &peak);
		printf("- %s (for comparison): the first 2 s window with the p99 within the bound "
		       "ends ",
		       b.ph[b.i_best].label);
		isnan(t_p99) ? printf("never during the shift")
			     : printf("%.0f s after the shift's start", t_p99);
		printf("; worst 1 s p99 during the shift %.1f ms\n", peak);
	}
	{
		int failed = 0, bad = 0;

		for (int i = 0; i < b.n_ph; i++) {
			bad += b.ph[i].exit_bad;
			for (int k = 0; k < S_COUNT; k++)
				failed += b.ph[i].failed[k];
		}
		steady(&b.ph[b.i_end], &a, &e);
		stats(b.i_end, a, e, &s);
		printf("- the baseline again at the end: p99 %.2f ms (%+.0f%%): the machine's "
		       "drift\n"
		       "- pgbench: %d failed transactions, %d runs that did not exit cleanly\n\n",
		       s.p99, 100 * (s.p99 / base_p99 - 1), failed, bad);
	}
	for (int k = 0; k < 2; k++)
		print_rate_series(b.i_adapt[k]);
	printf("\nrun time: %.0f s\n", now_s() - t_start);
}

int main(int argc, char **argv)
{
	char machine[512], *l;
	double base_p99 = 0, best = 0, ceiling = 0, t_start;
	int err;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(b.name, sizeof(b.name), "cruise-adaptive-%d", (int)getpid());
	clock_gettime(CLOCK_REALTIME, &b.start);
	t_start = now_s();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	atexit(cleanup);
	err = setup();
	if (err) {
		fprintf(stderr, "bench-adaptive: set-up failed: %s\n", strerror(-err));
		return 1;
	}
	th_machine(machine, sizeof(machine));
	l = th_slurp("/proc/loadavg");
	printf("machine: %s; load average at start: %.*s\n", machine, (int)strcspn(l, " \n") + 10,
	       l);
	free(l);
	printf("work: batch pgbench -S -C, %d clients (hungry: a new connection per transaction); "
	       "interactive pgbench -S, %d clients on persistent connections at %d tps in all "
	       "(-R); probe SELECT 1 every %d ms\n",
	       o.batch_clients, o.int_clients, o.int_rate, o.every_ms);
	err = measure(&base_p99, &best, &ceiling);
	if (err) {
		fprintf(stderr, "bench-adaptive: stopped: %s\n", strerror(-err));
		return 1;
	}
	err = write_csv(base_p99);
	if (err)
		fprintf(stderr, "bench-adaptive: cannot write the CSV: %s\n", strerror(-err));
	report(base_p99, best, ceiling, t_start);
	l = th_slurp("/proc/loadavg");
	printf("load average at the end: %.*s\n", (int)strcspn(l, " \n") + 10, l);
	free(l);
	return err ? 1 : 0;
}
