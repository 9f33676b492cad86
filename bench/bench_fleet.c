// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Fleet allocator benchmark (not a test): the real allocator script (agent/fleet.lua, embedded as
 * cruise_fleet_lua) in a throwaway redis-server on 127.0.0.1, called the way the agents of N nodes
 * with M media each call it: every node refreshes every P ms with one pipelined round trip of M
 * EVALSHA (one per medium, keys "{prefix:medium}:nodes|leases|forget|rates|agg" as in
 * agent/fleet_store.c), the nodes' phases spread evenly over P, a few generator threads each with
 * its own connection. Per row, after a warm-up of at least two leases (every node in the store):
 * Redis CPU per call (/proc/PID/stat, cross-checked with INFO commandstats), Redis CPU in all,
 * the refresh round trip, the call rate achieved; and the allocator's safety: per medium, the
 * claims in the agg hash (sampled during the run and read at the end) and the sum of the shares
 * last granted never above the rate. The server, its temp dir and everything else made here are
 * removed on exit, also on SIGINT/SIGTERM and on failure; no other Redis is touched.
 *
 * Over 600 lines: the load generator, the Redis CPU accounting and the table, one run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <hiredis/hiredis.h>

#include "helpers.h"

/* the allocator, embedded at build time from agent/fleet.lua (as the agent has it) */
#include "fleet_lua.h"

#define NSEC	      1000000000ULL
#define MSEC	      1000000ULL
#define KINDS	      5
#define MAX_MEDIA     64
#define MAX_ROWS      16
#define MAX_THREADS   16
#define TIMEOUT_MS    5000	   /* any one Redis reply; bounds every wait on the server */
#define POLL_NS	      (250 * MSEC) /* claims are sampled this often during the measured window */
#define WARMUP_MIN_NS (3 * NSEC)
#define START_NS      (100 * MSEC) /* threads start together this long after they are made */
#define PERIOD_MIN_MS 10	   /* the agent's shortest refresh */
#define PREFIX	      "cruise-bench"

static const char *const kinds[KINDS] = { "nodes", "leases", "forget", "rates", "agg" };

/* The commands the script calls, in groups, from INFO commandstats (script calls are counted). */
enum { G_ZADD, G_ZRANGE, G_ZOTHER, G_HASH, G_PEXPIRE, G_TIME, G_COUNT };
static const char *const group_names[G_COUNT] = {
	"ZADD",		"ZRANGE, ZRANGEBYSCORE",
	"ZSCORE, ZREM", "hash (HGET HSET HDEL HMGET HEXISTS HLEN)",
	"PEXPIRE",	"TIME"
};
static const struct {
	const char *name;
	int group;
} inner[] = {
	{ "zadd", G_ZADD },	  { "zrange", G_ZRANGE }, { "zrangebyscore", G_ZRANGE },
	{ "zscore", G_ZOTHER },	  { "zrem", G_ZOTHER },	  { "hget", G_HASH },
	{ "hset", G_HASH },	  { "hdel", G_HASH },	  { "hmget", G_HASH },
	{ "hexists", G_HASH },	  { "hlen", G_HASH },	  { "hgetall", G_HASH },
	{ "pexpire", G_PEXPIRE }, { "time", G_TIME },
};

struct opts {
	int media, threads, seconds;
	__u64 period_ms, lease_ms, forget_ms, rate, max_calls, equal_calls;
	const char *server;
};

/* Everything this run creates, for the cleanup (atexit: also after SIGINT/SIGTERM and failures). */
static struct {
	char tmp[64];
	pid_t redis; /* the redis-server we started, and no other */
	uint16_t port;
	redisContext *c; /* the main thread's connection */
	char sha[48];
	char keys[MAX_MEDIA][KINDS][64];
} bf;

static volatile sig_atomic_t stop;
static int failed; /* a generator thread gave up (atomic) */

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static bool stopping(void)
{
	return stop || __atomic_load_n(&failed, __ATOMIC_RELAXED);
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NSEC + ts.tv_nsec;
}

static void sleep_until(__u64 t)
{
	struct timespec ts = { .tv_sec = t / NSEC, .tv_nsec = t % NSEC };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
		;
}

/* The main thread's waits: in short steps, so that SIGINT/SIGTERM and failures end them. */
static void wait_until(__u64 t)
{
	__u64 now;

	while (!stopping() && (now = now_ns()) < t)
		sleep_until(t - now > 50 * MSEC ? now + 50 * MSEC : t);
}

/* One row: the work and what was measured. */
struct row {
	int nodes;
	__u64 period_ms, lease_ms, forget_ms, warmup_ms;
	bool equal_rate; /* a row at --equal-calls, the same for every number of nodes */
	double target, achieved;
	double cpu_us, cmd_us, cpu_pct, gen_pct, steal_pct;
	__u64 cmd_calls;
	double inner_us[G_COUNT]; /* per EVALSHA, in the commands it called */
	double p50, p99, max, lag_p99;
	long long claims_end, claims_peak, shares_sum; /* the largest over the media */
	bool agg_exact; /* claims = the sum of the shares last granted, in every medium */
	double mem_mb;
	char enc[48];
};

/* A generator thread: it refreshes nodes id, id + threads, id + 2 threads, ... */
struct gen {
	pthread_t thread;
	bool started;
	int id;
	const struct opts *o;
	const struct row *r;
	redisContext *c;
	__u64 t0, win_start, win_end;
	__u64 *lat, *lag; /* refreshes started in the measured window */
	int n, cap;
	__u64 calls;	   /* replies taken (atomic: read by the main thread) */
	long long *shares; /* [node * media + medium]: the share last granted, shared by all */
	char err[200];
};

/* Demand: a third hungry, a third wanting a little (below an even split), a third idle. */
static long long node_want(int i, int nodes, __u64 rate)
{
	long long w;

	switch (i % 3) {
	case 0:
		return -1; /* held back: as much as it can get (CRUISE_FLEET_WANTS_MORE) */
	case 1:
		w = (long long)(rate * (1 + (i / 3) % 4) / (8 * (__u64)nodes));
		return w > 0 ? w : 1; /* 1/8 to 1/2 of rate / nodes */
	default:
		return 200; /* no connects: the agent's HEADROOM_MILLI */
	}
}

static redisContext *connect_redis(bool quiet)
{
	struct timeval tv = { .tv_sec = TIMEOUT_MS / 1000, .tv_usec = TIMEOUT_MS % 1000 * 1000 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", bf.port, tv);

	if (!c || c->err) {
		if (!quiet)
			fprintf(stderr, "bench-fleet: connect to 127.0.0.1:%u: %s\n", bf.port,
				c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	return c;
}

/* A command on the main connection; the reply (free it), or NULL with the error printed. */
static redisReply *cmd(const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(bf.c, fmt, ap);
	va_end(ap);
	if (!r) {
		fprintf(stderr, "bench-fleet: redis: %s\n", bf.c->errstr);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "bench-fleet: redis: %s\n", r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* A field of an INFO section into buf ("" when missing). */
static const char *info_str(const char *section, const char *field, char *buf, size_t len)
{
	redisReply *r = cmd("INFO %s", section);
	char key[96];
	const char *p;

	buf[0] = '\0';
	if (!r)
		return buf;
	snprintf(key, sizeof(key), "\n%s:", field);
	if (r->type == REDIS_REPLY_STRING && (p = strstr(r->str, key))) {
		p += strlen(key);
		snprintf(buf, len, "%.*s", (int)strcspn(p, "\r\n"), p);
	}
	freeReplyObject(r);
	return buf;
}

/* The same as a number; -1 when missing. */
static double info_field(const char *section, const char *field)
{
	char buf[64];

	return *info_str(section, field, buf, sizeof(buf)) ? strtod(buf, NULL) : -1;
}

/*
 * INFO commandstats since the last CONFIG RESETSTAT: EVALSHA's calls and time per call, and the
 * time of the commands the script called, per EVALSHA.
 */
static int command_stats(struct row *row)
{
	redisReply *r = cmd("INFO commandstats");
	unsigned long long calls, usec;
	char key[48];
	const char *p;
	int ret = 0;

	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_STRING)
		ret = -1;
	p = ret ? NULL : strstr(r->str, "cmdstat_evalsha:");
	if (!p || sscanf(p, "cmdstat_evalsha:calls=%llu,usec=%llu", &calls, &usec) != 2)
		ret = -1;
	if (!ret) {
		row->cmd_calls = calls;
		row->cmd_us = calls ? (double)usec / calls : 0;
		for (size_t i = 0; i < sizeof(inner) / sizeof(inner[0]); i++) {
			snprintf(key, sizeof(key), "\ncmdstat_%s:", inner[i].name);
			p = strstr(r->str, key);
			if (p && row->cmd_calls &&
			    sscanf(p + strlen(key), "calls=%llu,usec=%llu", &calls, &usec) == 2)
				row->inner_us[inner[i].group] += (double)usec / row->cmd_calls;
		}
	}
	freeReplyObject(r);
	if (ret)
		fprintf(stderr, "bench-fleet: no EVALSHA in INFO commandstats\n");
	return ret;
}

/* Time stolen from this VM's CPUs by the host, in seconds (all CPUs), from /proc/stat. */
static double steal_s(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n = 0;

	if (f) {
		n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5], &v[6], &v[7]);
		fclose(f);
	}
	return n == 8 ? (double)v[7] / sysconf(_SC_CLK_TCK) : 0;
}

/* This process's CPU time in seconds: the generator threads and the main one. */
static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The server's CPU time in seconds (utime + stime of all its threads), or -1. */
static double redis_cpu_s(void)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)bf.redis);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* after the name: state (3), ... utime (14), stime (15) */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

/* One node's refresh: M EVALSHA appended, then their M replies: one round trip. */
static int refresh(struct gen *g, int i, const char *fixed[5])
{
	const struct opts *o = g->o;
	char node[24], want[24];
	const char *argv[15];
	redisReply *r;
	int ret = 0;

	snprintf(node, sizeof(node), "node-%05d", i);
	snprintf(want, sizeof(want), "%lld", node_want(i, g->r->nodes, o->rate));
	argv[0] = "EVALSHA";
	argv[1] = bf.sha;
	argv[2] = "5";
	argv[8] = node;
	argv[9] = fixed[0]; /* rate */
	argv[10] = want;
	argv[11] = fixed[1]; /* fallback: 0, rate / nodes */
	argv[12] = fixed[2]; /* lease */
	argv[13] = fixed[3]; /* forget */
	argv[14] = fixed[4]; /* fb_now: a cold node's, rate / expected nodes */
	for (int m = 0; m < o->media; m++) {
		for (int k = 0; k < KINDS; k++)
			argv[3 + k] = bf.keys[m][k];
		if (redisAppendCommandArgv(g->c, 15, argv, NULL) != REDIS_OK) {
			snprintf(g->err, sizeof(g->err), "append: %s", g->c->errstr);
			return -1;
		}
	}
	for (int m = 0; m < o->media; m++) {
		if (redisGetReply(g->c, (void **)&r) != REDIS_OK) {
			snprintf(g->err, sizeof(g->err), "EVALSHA: %s", g->c->errstr);
			return -1;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			snprintf(g->err, sizeof(g->err), "EVALSHA: %s", r->str);
			ret = -1;
		} else if (r->type != REDIS_REPLY_ARRAY || r->elements != 7 ||
			   r->element[0]->type != REDIS_REPLY_INTEGER ||
			   r->element[2]->type != REDIS_REPLY_INTEGER ||
			   r->element[2]->integer != (long long)o->rate) {
			snprintf(g->err, sizeof(g->err),
				 "EVALSHA: a reply not in the script's shape");
			ret = -1;
		} else {
			g->shares[(size_t)i * o->media + m] = r->element[0]->integer;
		}
		freeReplyObject(r);
	}
	__atomic_add_fetch(&g->calls, o->media, __ATOMIC_RELAXED);
	return ret;
}

static void *gen_main(void *arg)
{
	struct gen *g = arg;
	const struct row *r = g->r;
	__u64 period = r->period_ms * MSEC, due, start, end;
	char rate[24], lease[24], forget[24], fb_now[24];
	const char *fixed[5] = { rate, "0", lease, forget, fb_now };

	snprintf(rate, sizeof(rate), "%llu", g->o->rate);
	snprintf(lease, sizeof(lease), "%llu", r->lease_ms);
	snprintf(forget, sizeof(forget), "%llu", r->forget_ms);
	snprintf(fb_now, sizeof(fb_now), "%llu", g->o->rate / r->nodes);
	for (__u64 k = 0;; k++) {
		for (int i = g->id; i < r->nodes; i += g->o->threads) {
			due = g->t0 + k * period + (__u64)i * period / r->nodes;
			if (due >= g->win_end || stopping())
				return NULL;
			sleep_until(due);
			start = now_ns();
			if (refresh(g, i, fixed)) {
				__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
				return NULL;
			}
			end = now_ns();
			if (start >= g->win_start && g->n < g->cap) {
				g->lat[g->n] = end - start;
				g->lag[g->n] = start - due; /* behind its schedule */
				g->n++;
			}
		}
	}
}

/* Per medium: HLEN of the nodes hash (each must hold every node), and the claims in agg. */
static int store_state(int media, long long *hlen, long long *claims)
{
	redisReply *r;
	int ret = 0;

	for (int m = 0; m < media; m++) {
		redisAppendCommand(bf.c, "HLEN %s", bf.keys[m][0]);
		redisAppendCommand(bf.c, "HGET %s claims", bf.keys[m][4]);
	}
	for (int m = 0; m < 2 * media; m++) {
		if (redisGetReply(bf.c, (void **)&r) != REDIS_OK) {
			fprintf(stderr, "bench-fleet: redis: %s\n", bf.c->errstr);
			return -1;
		}
		if (m % 2 == 0 && r->type == REDIS_REPLY_INTEGER)
			hlen[m / 2] = r->integer;
		else if (m % 2 == 1 && r->type == REDIS_REPLY_STRING)
			claims[m / 2] = atoll(r->str);
		else
			ret = -1;
		freeReplyObject(r);
	}
	if (ret)
		fprintf(stderr, "bench-fleet: the store holds something else than expected\n");
	return ret;
}

static int run_row(const struct opts *o, struct row *r)
{
	static struct gen g[MAX_THREADS];
	long long hlen[MAX_MEDIA], claims[MAX_MEDIA], sum;
	__u64 t0, calls0 = 0, calls1 = 0, *lat = NULL, *lag = NULL, poll;
	double cpu0 = 0, cpu1 = 0, self0 = 0, self1 = 0, steal0 = 0, steal1 = 0, mx;
	int per_thread = (r->nodes + o->threads - 1) / o->threads, n = 0, err = -1;
	long long *shares = calloc((size_t)r->nodes * o->media, sizeof(*shares));
	redisReply *rep;
	sigset_t block, old;

	memset(g, 0, sizeof(g));
	if (!shares)
		return -1;
	rep = cmd("FLUSHALL SYNC"); /* every row starts with an empty store */
	if (!rep)
		goto out;
	freeReplyObject(rep);
	t0 = now_ns() + START_NS;
	for (int t = 0; t < o->threads; t++) {
		g[t].id = t;
		g[t].o = o;
		g[t].r = r;
		g[t].t0 = t0;
		g[t].win_start = t0 + r->warmup_ms * MSEC;
		g[t].win_end = g[t].win_start + o->seconds * NSEC;
		g[t].shares = shares;
		g[t].cap = per_thread * (int)(o->seconds * 1000 / r->period_ms + 2);
		g[t].lat = calloc(g[t].cap, sizeof(__u64));
		g[t].lag = calloc(g[t].cap, sizeof(__u64));
		g[t].c = connect_redis(false);
		if (!g[t].lat || !g[t].lag || !g[t].c)
			goto out;
	}
	/* the generators leave SIGINT/SIGTERM to the main thread */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (int t = 0; t < o->threads; t++) {
		if (pthread_create(&g[t].thread, NULL, gen_main, &g[t])) {
			fprintf(stderr, "bench-fleet: cannot start a generator thread\n");
			__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
			break;
		}
		g[t].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	/* warm-up: at least two leases; then every node must be in the store */
	wait_until(g[0].win_start);
	if (stopping())
		goto join;
	if (store_state(o->media, hlen, claims))
		goto join;
	for (int m = 0; m < o->media; m++) {
		if (hlen[m] != r->nodes) {
			fprintf(stderr,
				"bench-fleet: after the warm-up medium m%d holds %lld nodes, "
				"not %d\n",
				m, hlen[m], r->nodes);
			goto join;
		}
	}
	/* the measured window */
	for (int t = 0; t < o->threads; t++)
		calls0 += __atomic_load_n(&g[t].calls, __ATOMIC_RELAXED);
	cpu0 = redis_cpu_s();
	self0 = self_cpu_s();
	steal0 = steal_s();
	rep = cmd("CONFIG RESETSTAT");
	if (!rep || cpu0 < 0)
		goto join;
	freeReplyObject(rep);
	for (poll = now_ns() + POLL_NS; poll < g[0].win_end && !stopping(); poll += POLL_NS) {
		wait_until(poll);
		if (store_state(o->media, hlen, claims))
			goto join;
		for (int m = 0; m < o->media; m++)
			if (claims[m] > r->claims_peak)
				r->claims_peak = claims[m];
	}
	wait_until(g[0].win_end);
	for (int t = 0; t < o->threads; t++)
		calls1 += __atomic_load_n(&g[t].calls, __ATOMIC_RELAXED);
	cpu1 = redis_cpu_s();
	self1 = self_cpu_s();
	steal1 = steal_s();
	if (stopping() || cpu1 < 0 || command_stats(r))
		goto join;
	err = 0;
join:
	for (int t = 0; t < o->threads; t++)
		if (g[t].started)
			pthread_join(g[t].thread, NULL);
	for (int t = 0; t < o->threads; t++) {
		if (g[t].err[0]) {
			fprintf(stderr, "bench-fleet: generator %d: %s\n", t, g[t].err);
			err = -1;
		}
	}
	if (err || stopping())
		goto out;
	err = -1;

	/* what was measured */
	r->achieved = (calls1 - calls0) / (double)o->seconds;
	r->cpu_us = (cpu1 - cpu0) * 1e6 / (calls1 - calls0 ? calls1 - calls0 : 1);
	r->cpu_pct = (cpu1 - cpu0) * 100 / o->seconds;
	r->gen_pct = (self1 - self0) * 100 / o->seconds;
	r->steal_pct = (steal1 - steal0) * 100 / o->seconds;
	for (int t = 0; t < o->threads; t++)
		n += g[t].n;
	lat = calloc(n ? n : 1, sizeof(__u64));
	lag = calloc(n ? n : 1, sizeof(__u64));
	if (!lat || !lag)
		goto out;
	n = 0;
	for (int t = 0; t < o->threads; t++) {
		memcpy(lat + n, g[t].lat, g[t].n * sizeof(__u64));
		memcpy(lag + n, g[t].lag, g[t].n * sizeof(__u64));
		n += g[t].n;
	}
	th_quantiles_ms(lat, n, &r->p50, &r->p99, &r->max);
	th_quantiles_ms(lag, n, &mx, &r->lag_p99, &mx);

	/* the safety invariant, at the end: every generator has stopped, nothing is in flight */
	if (store_state(o->media, hlen, claims))
		goto out;
	r->agg_exact = true;
	for (int m = 0; m < o->media; m++) {
		sum = 0;
		for (int i = 0; i < r->nodes; i++)
			sum += shares[(size_t)i * o->media + m];
		if (claims[m] > r->claims_end)
			r->claims_end = claims[m];
		if (sum > r->shares_sum)
			r->shares_sum = sum;
		if (claims[m] != sum)
			r->agg_exact = false;
		if (hlen[m] != r->nodes) {
			fprintf(stderr,
				"bench-fleet: at the end medium m%d holds %lld nodes, not %d\n", m,
				hlen[m], r->nodes);
			goto out;
		}
	}
	r->mem_mb = info_field("memory", "used_memory") / (1024.0 * 1024);
	snprintf(r->enc, sizeof(r->enc), "?/?");
	rep = cmd("OBJECT ENCODING %s", bf.keys[0][0]);
	if (rep) {
		redisReply *z = cmd("OBJECT ENCODING %s", bf.keys[0][1]);

		if (z && rep->type == REDIS_REPLY_STRING && z->type == REDIS_REPLY_STRING)
			snprintf(r->enc, sizeof(r->enc), "%s/%s", rep->str, z->str);
		if (z)
			freeReplyObject(z);
		freeReplyObject(rep);
	}
	err = 0;
out:
	for (int t = 0; t < o->threads; t++) {
		if (g[t].c)
			redisFree(g[t].c);
		free(g[t].lat);
		free(g[t].lag);
	}
	free(lat);
	free(lag);
	free(shares);
	return err;
}

/* set-up and clean-up */

static void stop_redis(void)
{
	if (bf.redis > 0) {
		kill(bf.redis, SIGTERM);
		th_wait_exit(bf.redis, 5000); /* then SIGKILL */
	}
	bf.redis = 0;
}

static void cleanup(void)
{
	if (bf.c)
		redisFree(bf.c);
	bf.c = NULL;
	stop_redis();
	if (bf.tmp[0])
		th_rm_tree(bf.tmp);
	bf.tmp[0] = '\0';
}

/* Our own redis-server on a free loopback port, without persistence, in our temp dir. */
static int start_redis(const char *server)
{
	char port[8], out[96], errf[96];
	const char *argv[] = {
		server, "--port",	    port,  "--bind", "127.0.0.1", "--save",
		"",	"--appendonly",	    "no",  "--dir",  bf.tmp,	  "--daemonize",
		"no",	"--protected-mode", "yes", NULL
	};
	redisReply *r;
	int status;

	snprintf(out, sizeof(out), "%s/redis.out", bf.tmp);
	snprintf(errf, sizeof(errf), "%s/redis.err", bf.tmp);
	for (int attempt = 0; attempt < 3 && !stop; attempt++) {
		bf.port = th_free_port("127.0.0.1");
		if (!bf.port)
			return -1;
		snprintf(port, sizeof(port), "%u", bf.port);
		bf.redis = th_spawn(argv, out, errf);
		if (bf.redis < 0) {
			bf.redis = 0;
			fprintf(stderr, "bench-fleet: cannot start %s\n", server);
			return -1;
		}
		for (int i = 0; i < 100 && !stop; i++) { /* 5 s */
			if (waitpid(bf.redis, &status, WNOHANG) == bf.redis) {
				bf.redis = 0; /* exited: the port was taken since, say */
				break;
			}
			usleep(50000);
			bf.c = connect_redis(true);
			if (!bf.c)
				continue;
			r = redisCommand(bf.c, "PING");
			if (r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG")) {
				freeReplyObject(r);
				/* the server that answers must be the one we started */
				if (info_field("server", "process_id") != bf.redis) {
					fprintf(stderr,
						"bench-fleet: 127.0.0.1:%u is not our "
						"redis-server\n",
						bf.port);
					return -1;
				}
				return 0;
			}
			if (r)
				freeReplyObject(r);
			redisFree(bf.c);
			bf.c = NULL;
		}
		stop_redis();
	}
	fprintf(stderr, "bench-fleet: redis-server did not start (see %s)\n", errf);
	th_print_tail("redis-server", errf, 2000);
	return -1;
}

static int load_script(int media)
{
	redisReply *r = cmd("SCRIPT LOAD %s", cruise_fleet_lua);

	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_STRING || r->len >= sizeof(bf.sha)) {
		freeReplyObject(r);
		return -1;
	}
	memcpy(bf.sha, r->str, r->len);
	bf.sha[r->len] = '\0';
	freeReplyObject(r);
	for (int m = 0; m < media; m++)
		for (int k = 0; k < KINDS; k++)
			snprintf(bf.keys[m][k], sizeof(bf.keys[m][k]), "{%s:m%d}:%s", PREFIX, m,
				 kinds[k]);
	return 0;
}

/* output */

static void print_header(void)
{
	printf("| nodes × media | refresh ms | lease ms | warm-up s | calls/s asked | calls/s "
	       "achieved | Redis CPU µs/call (/proc) | EVALSHA µs/call (commandstats) | "
	       "Redis CPU %% of a core | generator CPU %% of a core | refresh round trip ms "
	       "p50/p99/max | schedule lag p99 ms | claims end/peak, max of media | Σ shares last "
	       "granted, max of media | used_memory MB | nodes/leases encoding | steal %% of a CPU "
	       "|\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
}

static void print_row(const struct opts *o, const struct row *r)
{
	printf("| %d × %d%s | %llu | %llu | %.0f | %.0f | %.0f%s | %.1f | %.1f | %.1f | %.1f | "
	       "%.2f/%.2f/%.2f | %.2f | %lld/%lld | %lld%s | %.1f | %s | %.1f |\n",
	       r->nodes, o->media, r->equal_rate ? " (same calls/s)" : "", r->period_ms,
	       r->lease_ms, r->warmup_ms / 1e3, r->target, r->achieved,
	       r->achieved < 0.98 * r->target ? " (behind)" : "", r->cpu_us, r->cmd_us, r->cpu_pct,
	       r->gen_pct, r->p50, r->p99, r->max, r->lag_p99, r->claims_end, r->claims_peak,
	       r->shares_sum, r->agg_exact ? " (= claims)" : " (≠ claims)", r->mem_mb, r->enc,
	       r->steal_pct);
	fflush(stdout);
}

/*
 * Where an EVALSHA's time goes: in the commands it called (their own time, as commandstats counts
 * it), and the rest: the Lua interpreter and each redis.call's way to its command and back
 * (arguments and reply converted, the command looked up and checked).
 */
static void print_inner(const struct opts *o, const struct row *rows, int n)
{
	double rest;

	printf("\nper EVALSHA, µs (INFO commandstats): in the commands the script called, and the "
	       "rest (Lua, and redis.call's way to each command and back)\n\n"
	       "| nodes × media | refresh ms | EVALSHA");
	for (int g = 0; g < G_COUNT; g++)
		printf(" | %s", group_names[g]);
	printf(" | Lua and the rest |\n|---|---|---");
	for (int g = 0; g <= G_COUNT; g++)
		printf("|---");
	printf("|\n");
	for (int i = 0; i < n; i++) {
		rest = rows[i].cmd_us;
		printf("| %d × %d | %llu | %.1f", rows[i].nodes, o->media, rows[i].period_ms,
		       rows[i].cmd_us);
		for (int g = 0; g < G_COUNT; g++) {
			printf(" | %.2f", rows[i].inner_us[g]);
			rest -= rows[i].inner_us[g];
		}
		printf(" | %.1f |\n", rest);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_fleet [--nodes 100,1000,10000] [--media 10] [--period-ms 500]\n"
		"       [--lease-ms 2000] [--forget-ms 60000] [--rate-milli 60000]\n"
		"       [--max-calls 20000] [--equal-calls 10000] [--seconds 10] [--threads 4]\n"
		"       [--redis-server /usr/bin/redis-server]\n"
		"Each number of nodes runs at the refresh period if nodes x media / period is at "
		"most\n"
		"--max-calls calls/s, and at --equal-calls calls/s (0: not), with the period that "
		"takes\n"
		"and lease = max(--lease-ms, 2.5 x period). Warm-up: 2 leases, at least 3 s.\n");
	exit(2);
}

static void add_row(const struct opts *o, struct row *rows, int *n, int nodes, __u64 period_ms,
		    __u64 lease_ms, bool equal_rate)
{
	struct row *r = &rows[(*n)++];
	__u64 warmup = 2 * lease_ms * MSEC;

	memset(r, 0, sizeof(*r));
	r->nodes = nodes;
	r->equal_rate = equal_rate;
	r->period_ms = period_ms;
	r->lease_ms = lease_ms;
	r->forget_ms = o->forget_ms > lease_ms ? o->forget_ms : lease_ms;
	r->warmup_ms = (warmup < WARMUP_MIN_NS ? WARMUP_MIN_NS : warmup) / MSEC;
	r->target = (double)nodes * o->media * 1000 / period_ms;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "nodes", required_argument, NULL, 'n' },
		{ "media", required_argument, NULL, 'm' },
		{ "period-ms", required_argument, NULL, 'p' },
		{ "lease-ms", required_argument, NULL, 'l' },
		{ "forget-ms", required_argument, NULL, 'f' },
		{ "rate-milli", required_argument, NULL, 'r' },
		{ "max-calls", required_argument, NULL, 'c' },
		{ "equal-calls", required_argument, NULL, 'e' },
		{ "seconds", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "redis-server", required_argument, NULL, 'R' },
		{ 0 },
	};
	struct opts o = {
		.media = 10,
		.threads = 4,
		.seconds = 10,
		.period_ms = 500,
		.lease_ms = 2000,
		.forget_ms = 60000,
		.rate = 60000,
		.max_calls = 20000,
		.equal_calls = 10000,
		.server = "/usr/bin/redis-server",
	};
	static struct row rows[MAX_ROWS];
	char list[256] = "100,1000,10000", machine[512], version[64], *tok, *save, *l;
	int opt, n = 0, done = 0, err = 0, nodes[MAX_ROWS], n_nodes = 0;
	__u64 natural, equal, lease;
	struct sigaction sa = { .sa_handler = on_signal };

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			snprintf(list, sizeof(list), "%s", optarg);
			break;
		case 'm':
			o.media = atoi(optarg);
			break;
		case 'p':
			o.period_ms = strtoull(optarg, NULL, 10);
			break;
		case 'l':
			o.lease_ms = strtoull(optarg, NULL, 10);
			break;
		case 'f':
			o.forget_ms = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			o.rate = strtoull(optarg, NULL, 10);
			break;
		case 'c':
			o.max_calls = strtoull(optarg, NULL, 10);
			break;
		case 'e':
			o.equal_calls = strtoull(optarg, NULL, 10);
			break;
		case 's':
			o.seconds = atoi(optarg);
			break;
		case 't':
			o.threads = atoi(optarg);
			break;
		case 'R':
			o.server = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o.media < 1 || o.media > MAX_MEDIA || o.threads < 1 ||
	    o.threads > MAX_THREADS || o.seconds < 1 || o.seconds > 600 ||
	    o.period_ms < PERIOD_MIN_MS || o.lease_ms <= 2 * o.period_ms ||
	    o.forget_ms < o.lease_ms || !o.rate)
		usage();
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n_nodes == MAX_ROWS / 2 || atoi(tok) < 1 || atoi(tok) > 100000)
			usage();
		nodes[n_nodes++] = atoi(tok);
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	atexit(cleanup);
	snprintf(bf.tmp, sizeof(bf.tmp), "/tmp/cruise-fleet-%d-XXXXXX", (int)getpid());
	if (!mkdtemp(bf.tmp)) {
		bf.tmp[0] = '\0';
		perror("bench-fleet: mkdtemp");
		return 1;
	}
	if (start_redis(o.server) || load_script(o.media)) {
		fprintf(stderr, "bench-fleet: set-up failed\n");
		return 1;
	}
	th_machine(machine, sizeof(machine));
	l = th_slurp("/proc/loadavg");
	printf("machine: %s; load average at start: %.*s\n", machine, (int)strcspn(l, " \n") + 5,
	       l);
	free(l);
	printf("redis-server %s (pid %d) on 127.0.0.1:%u, no persistence; the allocator script "
	       "(agent/fleet.lua) by EVALSHA\n",
	       info_str("server", "redis_version", version, sizeof(version)), (int)bf.redis,
	       bf.port);
	printf("work: each node refreshes every period with one pipelined round trip of %d EVALSHA "
	       "(one per medium), phases spread over the period, %d generator threads and "
	       "connections; demand: 1/3 hungry (want -1), 1/3 small (1/8-1/2 of rate/nodes), "
	       "1/3 idle (200); rate %llu milli/s, fallback 0 (rate/nodes), forget %llu ms; "
	       "%d s measured per row after the warm-up\n",
	       o.media, o.threads, o.rate, o.forget_ms, o.seconds);
	for (int i = 0; i < n_nodes; i++) {
		/* calls/s = nodes x media / period */
		natural = (__u64)nodes[i] * o.media * 1000 / o.period_ms;
		equal = o.equal_calls ? ((__u64)nodes[i] * o.media * 1000 + o.equal_calls / 2) /
						o.equal_calls
				      : 0;
		if (natural <= o.max_calls)
			add_row(&o, rows, &n, nodes[i], o.period_ms, o.lease_ms,
				equal == o.period_ms);
		else
			printf("%d × %d every %llu ms would be %llu calls/s, above %llu: not run\n",
			       nodes[i], o.media, o.period_ms, natural, o.max_calls);
		if (equal && equal != o.period_ms) {
			if (equal < PERIOD_MIN_MS) {
				printf("%d × %d at %llu calls/s would refresh every %llu ms, below "
				       "%d: not run\n",
				       nodes[i], o.media, o.equal_calls, equal, PERIOD_MIN_MS);
				continue;
			}
			lease = equal * 5 / 2 > o.lease_ms ? equal * 5 / 2 : o.lease_ms;
			add_row(&o, rows, &n, nodes[i], equal, lease, true);
		}
	}
	printf("\n");
	print_header();
	for (int i = 0; i < n && !err && !stop; i++) {
		fprintf(stderr,
			"bench-fleet: %d nodes x %d media every %llu ms: %.0f s warm-up, %d s "
			"measured\n",
			rows[i].nodes, o.media, rows[i].period_ms, rows[i].warmup_ms / 1e3,
			o.seconds);
		err = run_row(&o, &rows[i]);
		if (err || stop)
			break;
		print_row(&o, &rows[i]);
		done++;
		if (rows[i].claims_end > (long long)o.rate ||
		    rows[i].claims_peak > (long long)o.rate ||
		    rows[i].shares_sum > (long long)o.rate) {
			fprintf(stderr,
				"bench-fleet: SAFETY: claims or shares above the rate %llu\n",
				o.rate);
			err = -1;
		}
	}
	if (done)
		print_inner(&o, rows, done);
	if (!err && !stop) {
		/* the same call rate, the fewest and the most nodes: the script's cost per call */
		const struct row *a = NULL, *b = NULL;

		for (int i = 0; i < done; i++) {
			if (!rows[i].equal_rate)
				continue;
			if (!a || rows[i].nodes < a->nodes)
				a = &rows[i];
			if (!b || rows[i].nodes > b->nodes)
				b = &rows[i];
		}
		if (a && b && a != b && a->cmd_us > 0) {
			double x = b->cmd_us / a->cmd_us, y = b->cpu_us / a->cpu_us,
			       lin = (double)b->nodes / a->nodes;

			printf("\nat %llu calls/s, %d -> %d nodes (x%.0f): EVALSHA %.1f -> %.1f µs "
			       "(x%.2f), Redis CPU %.1f -> %.1f µs per call (x%.2f); linear would "
			       "be "
			       "x%.0f\n",
			       o.equal_calls, a->nodes, b->nodes, lin, a->cmd_us, b->cmd_us, x,
			       a->cpu_us, b->cpu_us, y, lin);
			if (x > 1 + lin / 10 || y > 1 + lin / 10) {
				fprintf(stderr,
					"bench-fleet: the cost per call grows with nodes\n");
				err = -1;
			}
		}
	}
	l = th_slurp("/proc/loadavg");
	printf("\nload average at the end: %.*s\n", (int)strcspn(l, " \n") + 5, l);
	free(l);
	if (stop)
		fprintf(stderr, "bench-fleet: interrupted\n");
	else if (err)
		fprintf(stderr, "bench-fleet: failed\n");
	return err || stop ? 1 : 0;
}
