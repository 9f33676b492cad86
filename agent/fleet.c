// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The fleet thread (fleet.h): demand from the counters, one pipelined round trip of the allocator
 * script to Redis per refresh, leases handed to the main loop through an eventfd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <hiredis/hiredis.h>

#include "cruise_gcra.h"
#include "fleet.h"
#include "loader.h"
#include "log.h"

/* the allocator, embedded at build time from agent/fleet.lua */
#include "fleet_lua.h"

#define NSEC		 1000000000ULL
#define MSEC		 1000000ULL
#define WINDOW_NS	 (2 * NSEC)  /* attempts/s are measured over at least this */
#define HISTORY		 64	     /* samples kept per medium: 2 s at a 50 ms refresh */
#define LOG_EVERY_NS	 (10 * NSEC) /* the same complaint at most this often */
#define HEADROOM_PERCENT 5	     /* a node that wants less than its share gets this much more */
#define HEADROOM_MILLI	 200	     /* ... and 0.2 connections/s, so that an idle node starts */
#define CONNS		 8	     /* the store and the Redis Cluster nodes the media live on */

__u64 cruise_fleet_milli(__u64 interval_ns)
{
	if (!interval_ns)
		return 0;
	return (1000 * NSEC + interval_ns / 2) / interval_ns;
}

__u64 cruise_fleet_interval(__u64 milli)
{
	if (!milli)
		return CRUISE_FLEET_NONE_INTERVAL_NS;
	return cruise_max((1000 * NSEC + milli / 2) / milli, 1);
}

__s64 cruise_fleet_want(const struct cruise_fleet_demand *d)
{
	__u64 rate;

	/*
	 * Held back now: a backlog beyond one interval, refusals past max_wait, or most connects
	 * held. Such workers take whatever they are given (closed loops: their attempts follow
	 * the share), so their rate says nothing of what they want.
	 */
	if (d->d_refused || (d->interval_ns && d->backlog_ns > d->interval_ns) ||
	    (d->d_delayed && 4 * d->d_delayed > d->d_attempts))
		return CRUISE_FLEET_WANTS_MORE;
	if (!d->window_ns) /* nothing measured yet (the agent just started): keep what is in force
			    */
		return (__s64)cruise_fleet_milli(d->interval_ns);
	rate = cruise_sat_mul(d->attempts, 1000 * NSEC) / d->window_ns;
	return (__s64)(rate + rate * HEADROOM_PERCENT / 100 + HEADROOM_MILLI);
}

void cruise_fleet_initial(const struct cruise_cfg_fleet *fc, const struct cruise_cfg_medium *cm,
			  const struct cruise_medium *cur, struct cruise_fleet_lease *out)
{
	__u64 cold = cm->fallback_interval_ns;

	if (!cold)
		cold = cruise_sat_mul(cm->interval_ns,
				      fc && fc->expected_nodes ? fc->expected_nodes : 1);
	if (cur && cur->lease_end_ns && !strncmp(cur->name, cm->name, CRUISE_NAME_LEN)) {
		/* what this node learned before (also an earlier agent's), never above the rate */
		out->interval_ns = cruise_max(cur->interval_ns, cm->interval_ns);
		out->fallback_interval_ns =
			cm->fallback_interval_ns
				? cm->fallback_interval_ns
				: cruise_max(cur->fallback_interval_ns, cm->interval_ns);
		out->lease_end_ns = cur->lease_end_ns;
		return;
	}
	out->interval_ns = cold;
	out->fallback_interval_ns = cold;
	out->lease_end_ns = 1; /* ended: the fallback until the first allocation */
}

/* A fleet medium as configured, and what this thread learned of it. */
struct fleet_medium {
	char name[CRUISE_NAME_LEN];
	__u32 index;
	__u64 interval_ns;	    /* the fleet rate in this node's config */
	__u64 fallback_interval_ns; /* configured; 0: rate / nodes */
	bool live;		    /* in the current config */
	/* demand: connects seen at each refresh */
	struct {
		__u64 t, attempts;
	} hist[HISTORY];
	unsigned int n_hist, head;
	__u64 last_attempts, last_delayed, last_refused;
	/* the last allocation */
	struct cruise_snapshot_fleet seen;
	__u64 lowest_said; /* the fleet rate last said to differ from ours */
	bool lease_said;   /* "pacing at the fallback" said since the last lease */
	unsigned int conn; /* where its keys live (a Redis Cluster node after MOVED), in conn[] */
	/* waiting for the main loop */
	bool pending;
	struct cruise_fleet_lease lease;
};

/* A connection to one Redis: the configured one, or a cluster node a medium's slot lives on. */
struct fleet_conn {
	char addr[128]; /* "host:port", "[v6]:port" or a socket path; "" unused */
	redisContext *rc;
	char sha[48]; /* the script, loaded on this node */
	__u64 retry_at_ns, backoff_ms;
};

struct fleet_settings {
	char *redis, *node, *prefix, *username, *password;
	__u64 refresh_ns, lease_ns, forget_ns;
};

struct cruise_fleet {
	struct cruise_maps maps;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int efd;
	bool stop;
	/* under lock: config from the main loop, results for it, stats for /metrics */
	struct fleet_settings set;
	__u64 set_generation;
	struct fleet_medium media[CRUISE_MAX_MEDIA];
	unsigned int n_media;
	bool store_up;
	__u64 errors, forgotten;
	/* the thread's own: [0] the configured store, then Redis Cluster nodes named by MOVED */
	struct fleet_conn conn[CONNS];
	__u64 said_ns;
	char said[256];
};

static __u64 now_ns(void)
{
	return cruise_now_ns();
}

static void settings_free(struct fleet_settings *s)
{
	free(s->redis);
	free(s->node);
	free(s->prefix);
	free(s->username);
	if (s->password)
		memset(s->password, 0, strlen(s->password));
	free(s->password);
	memset(s, 0, sizeof(*s));
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* A complaint about the store: logged when it changes, else once every LOG_EVERY_NS; counted. */
static void store_error(struct cruise_fleet *f, const char *what, const char *detail)
{
	char msg[256];
	__u64 now = now_ns();

	snprintf(msg, sizeof(msg), "%s: %s", what, detail);
	pthread_mutex_lock(&f->lock);
	f->errors++;
	f->store_up = false;
	pthread_mutex_unlock(&f->lock);
	if (strcmp(msg, f->said) || now - f->said_ns >= LOG_EVERY_NS) {
		snprintf(f->said, sizeof(f->said), "%s", msg);
		f->said_ns = now;
		cruise_log(CRUISE_LOG_WARN,
			   "fleet store: no share this refresh; leases run out into the fallback",
			   "error", msg, NULL);
	}
}

static void disconnect(struct fleet_conn *c)
{
	if (c->rc)
		redisFree(c->rc);
	c->rc = NULL;
	c->sha[0] = '\0';
}

/*
 * Next reconnect after the backoff, with +-25% jitter so that a fleet does not come back at once.
 * The backoff stops growing at a lease: a store that is back is used within a lease or so.
 */
static void back_off(struct fleet_conn *c, const struct fleet_settings *s)
{
	__u64 max = s->lease_ns / MSEC, ms, jitter;

	disconnect(c);
	if (max > CRUISE_FLEET_BACKOFF_MAX_MS)
		max = CRUISE_FLEET_BACKOFF_MAX_MS;
	if (max < CRUISE_FLEET_BACKOFF_MIN_MS)
		max = CRUISE_FLEET_BACKOFF_MIN_MS;
	ms = c->backoff_ms ? c->backoff_ms : CRUISE_FLEET_BACKOFF_MIN_MS;
	if (ms > max)
		ms = max;
	jitter = (__u64)random() % (ms / 2 + 1);
	c->retry_at_ns = now_ns() + (ms - ms / 4 + jitter) * MSEC;
	c->backoff_ms = ms * 2 > max ? max : ms * 2;
}

static int load_script(struct cruise_fleet *f, struct fleet_conn *c)
{
	const char *argv[] = { "SCRIPT", "LOAD", cruise_fleet_lua };
	redisReply *r = redisCommandArgv(c->rc, 3, argv, NULL);
	int ret = -1;

	if (!r) {
		store_error(f, "SCRIPT LOAD", c->rc->errstr);
		return -1;
	}
	if (r->type == REDIS_REPLY_STRING && r->len < sizeof(c->sha)) {
		memcpy(c->sha, r->str, r->len);
		c->sha[r->len] = '\0';
		ret = 0;
	} else {
		store_error(f, "SCRIPT LOAD", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
	}
	freeReplyObject(r);
	return ret;
}

/* Connect, authenticate and load the script; on failure the backoff starts. */
static int connect_conn(struct cruise_fleet *f, struct fleet_conn *c,
			const struct fleet_settings *s)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = CRUISE_FLEET_TIMEOUT_MS * 1000 };
	const char *colon = strrchr(c->addr, ':');
	char host[128];

	if (c->addr[0] == '/') {
		c->rc = redisConnectUnixWithTimeout(c->addr, tv);
	} else if (colon) {
		/* "[v6]:port" or "host:port", as the config parser and MOVED give them */
		if (c->addr[0] == '[')
			snprintf(host, sizeof(host), "%.*s", (int)(colon - c->addr - 2),
				 c->addr + 1);
		else
			snprintf(host, sizeof(host), "%.*s", (int)(colon - c->addr), c->addr);
		c->rc = redisConnectWithTimeout(host, atoi(colon + 1), tv);
	}
	if (!c->rc || c->rc->err) {
		store_error(f, "connect", c->rc ? c->rc->errstr : "bad address");
		back_off(c, s);
		return -1;
	}
	redisSetTimeout(c->rc, tv);
	if (s->password) {
		const char *argv[] = { "AUTH", s->username ? s->username : s->password,
				       s->password };
		redisReply *r = redisCommandArgv(c->rc, s->username ? 3 : 2, argv, NULL);
		bool ok = r && r->type != REDIS_REPLY_ERROR;

		if (!ok)
			store_error(f, "AUTH", r ? r->str : c->rc->errstr);
		if (r)
			freeReplyObject(r);
		if (!ok) {
			back_off(c, s);
			return -1;
		}
	}
	if (load_script(f, c)) {
		back_off(c, s);
		return -1;
	}
	return 0;
}

static void sample(struct fleet_medium *m, const struct cruise_snapshot_medium *sm, __u64 now,
		   struct cruise_fleet_demand *d)
{
	unsigned int oldest = m->head, first, k;

	memset(d, 0, sizeof(*d));
	d->backlog_ns = sm->backlog_ns;
	d->interval_ns = sm->interval_ns;
	if (m->n_hist) {
		d->d_attempts = sm->c.connections - m->last_attempts;
		d->d_delayed = sm->c.delayed - m->last_delayed;
		d->d_refused = sm->c.refused_max_wait - m->last_refused;
		/* the newest sample at least WINDOW_NS old, else the oldest one */
		first = (m->head + HISTORY - m->n_hist) % HISTORY;
		oldest = first;
		for (unsigned int i = 0; i < m->n_hist; i++) {
			k = (first + i) % HISTORY;
			if (now - m->hist[k].t < WINDOW_NS)
				break;
			oldest = k;
		}
		d->window_ns = now - m->hist[oldest].t;
		d->attempts = sm->c.connections - m->hist[oldest].attempts;
	}
	m->hist[m->head].t = now;
	m->hist[m->head].attempts = sm->c.connections;
	m->head = (m->head + 1) % HISTORY;
	if (m->n_hist < HISTORY)
		m->n_hist++;
	m->last_attempts = sm->c.connections;
	m->last_delayed = sm->c.delayed;
	m->last_refused = sm->c.refused_max_wait;
	if (d->window_ns && d->window_ns < WINDOW_NS / 4)
		d->window_ns = 0; /* too short to say (the agent just started) */
}

/*
 * One medium's call, appended to the pipeline. The medium is found again by name under the lock
 * when its reply comes: a reload may rewrite the table while the round trip is out.
 */
struct call {
	char name[CRUISE_NAME_LEN];
	unsigned int conn; /* the Redis its keys live on, in conn[] */
	char keys[5][CRUISE_NAME_LEN + 96];
	char rate[24], want[24], fb[24], lease[24], forget[24], fb_now[24];
	__s64 want_milli;
	__u64 demand_milli;
	bool done; /* answered, or its Redis away, in this refresh */
};

static void append(struct fleet_conn *conn, const struct fleet_settings *s, struct call *c)
{
	static const char *const kinds[5] = { "nodes", "leases", "forget", "rates", "agg" };
	const char *argv[15];

	argv[0] = "EVALSHA";
	argv[1] = conn->sha;
	argv[2] = "5";
	for (int i = 0; i < 5; i++) {
		/* one hash slot per medium: Redis Cluster keeps them together */
		snprintf(c->keys[i], sizeof(c->keys[i]), "{%s:%s}:%s", s->prefix, c->name,
			 kinds[i]);
		argv[3 + i] = c->keys[i];
	}
	argv[8] = s->node;
	argv[9] = c->rate;
	argv[10] = c->want;
	argv[11] = c->fb;
	argv[12] = c->lease;
	argv[13] = c->forget;
	argv[14] = c->fb_now;
	redisAppendCommandArgv(conn->rc, 15, argv, NULL);
}

static bool int_at(const redisReply *r, size_t i, long long *v)
{
	if (r->element[i]->type != REDIS_REPLY_INTEGER || r->element[i]->integer < 0)
		return false;
	*v = r->element[i]->integer;
	return true;
}

/* A reply in the script's shape, else NULL and why. */
static const char *check_reply(const redisReply *r, long long v[5])
{
	if (r->type == REDIS_REPLY_ERROR)
		return r->str;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 7)
		return "reply of the wrong shape (not the 7 elements of cruise's script)";
	for (size_t i = 0; i < 5; i++)
		if (!int_at(r, i, &v[i]))
			return "reply of the wrong shape (a negative or non-integer rate)";
	if (r->element[5]->type != REDIS_REPLY_ARRAY || !v[2] || !v[3])
		return "reply of the wrong shape (no fleet rate or no nodes)";
	return NULL;
}

/* The fleet medium of that name in the current table, under f->lock; NULL when gone. */
static struct fleet_medium *find_medium(struct cruise_fleet *f, const char *name)
{
	for (unsigned int i = 0; i < f->n_media; i++)
		if (!strncmp(f->media[i].name, name, CRUISE_NAME_LEN))
			return &f->media[i];
	return NULL;
}

static void take_reply(struct cruise_fleet *f, const struct fleet_settings *s, struct call *c,
		       const redisReply *r, __u64 sent_ns)
{
	char q[32], mine[32], low[32], who[CRUISE_NAME_LEN * 2];
	struct fleet_medium *m;
	const char *bad;
	long long v[5];

	bad = check_reply(r, v);
	if (bad) {
		store_error(f, c->name, bad);
		return;
	}
	for (size_t i = 0; i < r->element[5]->elements; i++) {
		const redisReply *e = r->element[5]->element[i];

		if (e->type != REDIS_REPLY_STRING)
			continue;
		snprintf(who, sizeof(who), "%.*s", (int)e->len, e->str);
		cruise_log(
			CRUISE_LOG_WARN,
			"fleet node forgotten after forget_after: its share goes to the others; "
			"if its programs still run, they pace at its fallback outside the budget",
			"medium", c->name, "node", who, NULL);
		pthread_mutex_lock(&f->lock);
		f->forgotten++;
		pthread_mutex_unlock(&f->lock);
	}
	pthread_mutex_lock(&f->lock);
	m = find_medium(f, c->name);
	if (!m) {
		pthread_mutex_unlock(&f->lock);
		return; /* no longer a fleet medium */
	}
	if ((__u64)v[2] < cruise_fleet_milli(m->interval_ns) && (__u64)v[2] != m->lowest_said) {
		cruise_format_rate(m->interval_ns, mine, sizeof(mine));
		cruise_format_rate(cruise_fleet_interval(v[2]), low, sizeof(low));
		cruise_log(CRUISE_LOG_WARN,
			   "fleet rate differs between nodes' configs: the lowest is in force",
			   "medium", m->name, "ours", mine, "in_force", low, NULL);
		m->lowest_said = v[2];
	} else if ((__u64)v[2] >= cruise_fleet_milli(m->interval_ns)) {
		m->lowest_said = 0;
	}
	m->lease.interval_ns = cruise_max(cruise_fleet_interval(v[0]), m->interval_ns);
	m->lease.fallback_interval_ns = cruise_max(cruise_fleet_interval(v[1]), m->interval_ns);
	m->lease.lease_end_ns = sent_ns + s->lease_ns - CRUISE_FLEET_LEASE_MARGIN_NS;
	m->pending = true;
	if (!m->seen.known || m->lease_said) {
		cruise_format_rate(m->lease.interval_ns, q, sizeof(q));
		cruise_log(CRUISE_LOG_INFO, "fleet lease taken", "medium", m->name, "share", q,
			   "node", s->node, NULL);
	}
	m->lease_said = false;
	m->seen.known = true;
	m->seen.rate_milli = v[2];
	m->seen.nodes = v[3];
	m->seen.wants_more = c->want_milli == CRUISE_FLEET_WANTS_MORE;
	m->seen.demand_milli = c->demand_milli;
	pthread_mutex_unlock(&f->lock);
}

/*
 * "MOVED 3999 127.0.0.1:6381": the medium's slot lives on another Redis Cluster node. Its calls
 * go there from now on (in this refresh too); the store's own connection stays.
 */
static int moved(struct cruise_fleet *f, struct call *c, const char *msg)
{
	const char *addr = strchr(msg + 6, ' ');
	struct fleet_medium *m;
	int k, free_slot = -1;

	if (!addr || !*++addr || strlen(addr) >= sizeof(f->conn[0].addr))
		return -1;
	for (k = 0; k < CONNS && strcmp(f->conn[k].addr, addr); k++)
		if (free_slot < 0 && !f->conn[k].addr[0])
			free_slot = k;
	if (k == CONNS) {
		if (free_slot < 0)
			return -1;
		k = free_slot;
		snprintf(f->conn[k].addr, sizeof(f->conn[k].addr), "%s", addr);
		cruise_log(CRUISE_LOG_INFO, "fleet medium lives on another Redis Cluster node",
			   "medium", c->name, "node", addr, NULL);
	}
	c->conn = k;
	pthread_mutex_lock(&f->lock);
	m = find_medium(f, c->name);
	if (m)
		m->conn = k;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* One refresh: sample every fleet medium, one pipelined round trip, leases to the main loop. */
static void refresh(struct cruise_fleet *f, const struct fleet_settings *s)
{
	struct cruise_snapshot *snap = calloc(1, sizeof(*snap));
	struct call *calls = calloc(CRUISE_MAX_MEDIA, sizeof(*calls));
	unsigned int n = 0;
	__u64 now, sent;
	bool got = false;

	for (unsigned int i = 0; i < f->n_media; i++)
		if (f->media[i].conn >= CONNS || !f->conn[f->media[i].conn].addr[0])
			f->media[i].conn = 0;

	if (!snap || !calls || cruise_snapshot_read(&f->maps, snap))
		goto out;
	now = now_ns();
	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < f->n_media; i++) {
		struct fleet_medium *m = &f->media[i];
		struct cruise_fleet_demand d;
		struct call *c = &calls[n];

		for (unsigned int k = 0; k < snap->n_media && m->live; k++) {
			const struct cruise_snapshot_medium *sm = &snap->media[k];

			if (sm->index != m->index ||
			    strncmp(sm->cfg.name, m->name, CRUISE_NAME_LEN))
				continue;
			sample(m, sm, now, &d);
			snprintf(c->name, sizeof(c->name), "%s", m->name);
			c->conn = m->conn;
			c->want_milli = cruise_fleet_want(&d);
			c->demand_milli =
				d.window_ns ? cruise_sat_mul(d.attempts, 1000 * NSEC) / d.window_ns
					    : 0;
			snprintf(c->rate, sizeof(c->rate), "%llu",
				 (unsigned long long)cruise_fleet_milli(m->interval_ns));
			snprintf(c->want, sizeof(c->want), "%lld", (long long)c->want_milli);
			snprintf(c->fb, sizeof(c->fb), "%llu",
				 (unsigned long long)cruise_fleet_milli(m->fallback_interval_ns));
			snprintf(c->fb_now, sizeof(c->fb_now), "%llu",
				 (unsigned long long)cruise_fleet_milli(
					 sm->cfg.fallback_interval_ns));
			if (sm->fallback && m->seen.known && !m->lease_said) {
				char fb[32];

				cruise_format_rate(sm->interval_ns, fb, sizeof(fb));
				cruise_log(CRUISE_LOG_WARN,
					   "fleet lease ended: the datapath paces at the fallback",
					   "medium", m->name, "fallback", fb, NULL);
				m->lease_said = true;
			}
			n++;
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
	if (!n)
		goto out;
	for (unsigned int i = 0; i < n; i++) {
		snprintf(calls[i].lease, sizeof(calls[i].lease), "%llu",
			 (unsigned long long)(s->lease_ns / MSEC));
		snprintf(calls[i].forget, sizeof(calls[i].forget), "%llu",
			 (unsigned long long)(s->forget_ns / MSEC));
	}
	/* one pipelined round trip per Redis the media live on (one, unless a Cluster) */
	for (unsigned int k = 0; k < CONNS; k++) {
		struct fleet_conn *conn = &f->conn[k];
		unsigned int mine = 0;

		for (unsigned int i = 0; i < n; i++)
			mine += calls[i].conn == k && !calls[i].done;
		if (!mine || !conn->addr[0])
			continue;
		if (!conn->rc && (now_ns() < conn->retry_at_ns || connect_conn(f, conn, s)))
			continue;
		sent = now_ns();
		for (unsigned int i = 0; i < n; i++)
			if (calls[i].conn == k && !calls[i].done)
				append(conn, s, &calls[i]);
		for (unsigned int i = 0; i < n; i++) {
			redisReply *r = NULL;

			if (calls[i].conn != k || calls[i].done)
				continue;
			calls[i].done = true;
			if (redisGetReply(conn->rc, (void **)&r) != REDIS_OK || !r) {
				store_error(f, "refresh",
					    conn->rc->errstr[0] ? conn->rc->errstr : "no reply");
				back_off(conn, s);
				break;
			}
			if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8)) {
				/* the store lost its scripts (restarted, flushed): load it again */
				store_error(f, calls[i].name, "NOSCRIPT: loading the script again");
				conn->sha[0] = '\0';
			} else if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "MOVED ", 6) &&
				   !moved(f, &calls[i], r->str)) {
				/* a node later in conn[]: in this refresh */
				calls[i].done = calls[i].conn <= k;
			} else {
				take_reply(f, s, &calls[i], r, sent);
				got |= r->type == REDIS_REPLY_ARRAY;
			}
			freeReplyObject(r);
		}
		if (conn->rc && !conn->sha[0] && load_script(f, conn))
			back_off(conn, s);
		if (got && conn->rc)
			conn->backoff_ms = 0;
	}
	if (got) {
		__u64 one = 1;

		pthread_mutex_lock(&f->lock);
		if (!f->store_up && f->errors)
			cruise_log(CRUISE_LOG_INFO, "fleet store answers again", "redis", s->redis,
				   NULL);
		f->store_up = true;
		pthread_mutex_unlock(&f->lock);
		if (write(f->efd, &one, sizeof(one)) < 0)
			cruise_log(CRUISE_LOG_ERROR, "fleet: eventfd", "error", strerror(errno),
				   NULL);
	}
out:
	free(calls);
	free(snap);
}

static void *fleet_main(void *arg)
{
	struct cruise_fleet *f = arg;
	struct fleet_settings s = { 0 };
	__u64 next = now_ns(), gen = 0;

	srandom((unsigned int)(now_ns() ^ (__u64)getpid()));
	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		struct timespec ts;
		__u64 at = next;

		/* away from the store: try again when the backoff ends, not at the next tick */
		if (!f->conn[0].rc && f->conn[0].retry_at_ns && f->conn[0].retry_at_ns < at)
			at = f->conn[0].retry_at_ns;
		if (f->set_generation == 0 || now_ns() < at) {
			if (!f->set_generation)
				at = now_ns() + NSEC;
			ts.tv_sec = at / NSEC;
			ts.tv_nsec = at % NSEC;
			pthread_cond_timedwait(&f->wake, &f->lock, &ts);
			continue;
		}
		if (gen != f->set_generation) {
			bool reconnect = !same(s.redis, f->set.redis) ||
					 !same(s.username, f->set.username) ||
					 !same(s.password, f->set.password);

			settings_free(&s);
			s.redis = dup_or_null(f->set.redis);
			s.node = dup_or_null(f->set.node);
			s.prefix = dup_or_null(f->set.prefix);
			s.username = dup_or_null(f->set.username);
			s.password = dup_or_null(f->set.password);
			s.refresh_ns = f->set.refresh_ns;
			s.lease_ns = f->set.lease_ns;
			s.forget_ns = f->set.forget_ns;
			gen = f->set_generation;
			if (reconnect) {
				/* another store: forget every connection and cluster node */
				for (int k = 0; k < CONNS; k++) {
					disconnect(&f->conn[k]);
					memset(&f->conn[k], 0, sizeof(f->conn[k]));
				}
				snprintf(f->conn[0].addr, sizeof(f->conn[0].addr), "%s",
					 s.redis ? s.redis : "");
				for (unsigned int i = 0; i < f->n_media; i++)
					f->media[i].conn = 0;
			}
		}
		pthread_mutex_unlock(&f->lock);
		if (s.redis)
			refresh(f, &s);
		pthread_mutex_lock(&f->lock);
		if (now_ns() < next)
			continue; /* a reconnect between ticks */
		next += s.refresh_ns ? s.refresh_ns : NSEC;
		if (next < now_ns())
			next = now_ns() + (s.refresh_ns ? s.refresh_ns : NSEC);
	}
	pthread_mutex_unlock(&f->lock);
	for (int k = 0; k < CONNS; k++)
		disconnect(&f->conn[k]);
	settings_free(&s);
	return NULL;
}

struct cruise_fleet *cruise_fleet_start(const struct cruise_maps *maps, char *err, size_t errlen)
{
	struct cruise_fleet *f = calloc(1, sizeof(*f));
	pthread_condattr_t ca;
	int ret;

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->maps = *maps;
	f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (f->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		free(f);
		return NULL;
	}
	ret = pthread_create(&f->thread, NULL, fleet_main, f);
	if (ret) {
		snprintf(err, errlen, "thread: %s", strerror(ret));
		close(f->efd);
		free(f);
		return NULL;
	}
	return f;
}

void cruise_fleet_configure(struct cruise_fleet *f, const struct cruise_config *cfg,
			    const struct cruise_applied *a)
{
	const struct cruise_cfg_fleet *fc = cfg->fleet;
	struct fleet_medium *old;
	unsigned int n_old;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	settings_free(&f->set);
	if (fc) {
		f->set.redis = dup_or_null(fc->redis);
		f->set.node = dup_or_null(fc->node);
		f->set.prefix = dup_or_null(fc->key_prefix);
		f->set.username = dup_or_null(fc->username);
		f->set.password = dup_or_null(fc->password);
		f->set.refresh_ns = fc->refresh_ns;
		f->set.lease_ns = fc->lease_ns;
		f->set.forget_ns = fc->forget_after_ns;
	}
	/* media by name keep what was learned of them (demand history, last allocation) */
	old = malloc(sizeof(f->media));
	n_old = f->n_media;
	if (old)
		memcpy(old, f->media, sizeof(f->media));
	memset(f->media, 0, sizeof(f->media));
	f->n_media = 0;
	for (unsigned int c = 0; fc && c < cfg->n_media; c++) {
		const struct cruise_cfg_medium *cm = &cfg->media[c];
		struct fleet_medium *m = &f->media[f->n_media];

		if (!cm->fleet)
			continue;
		for (unsigned int i = 0; old && i < n_old; i++)
			if (!strncmp(old[i].name, cm->name, CRUISE_NAME_LEN))
				*m = old[i];
		snprintf(m->name, sizeof(m->name), "%s", cm->name);
		if (m->index != a->medium_index[c])
			m->n_hist = 0;
		m->index = a->medium_index[c];
		m->interval_ns = cm->interval_ns;
		m->fallback_interval_ns = cm->fallback_interval_ns;
		m->live = true;
		m->pending = false;
		f->n_media++;
	}
	free(old);
	f->set_generation++;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

int cruise_fleet_fd(struct cruise_fleet *f)
{
	return f ? f->efd : -1;
}

void cruise_fleet_apply(struct cruise_fleet *f, const struct cruise_maps *maps,
			const struct cruise_config *cfg, const struct cruise_applied *a)
{
	__u64 n;

	if (!f)
		return;
	if (read(f->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < f->n_media; i++) {
		struct fleet_medium *m = &f->media[i];
		struct cruise_medium v;

		if (!m->pending)
			continue;
		m->pending = false;
		for (unsigned int c = 0; c < cfg->n_media; c++) {
			if (!cfg->media[c].fleet || a->medium_index[c] != m->index ||
			    strcmp(cfg->media[c].name, m->name))
				continue;
			if (bpf_map_lookup_elem(maps->media, &m->index, &v) ||
			    strncmp(v.name, m->name, CRUISE_NAME_LEN))
				break;
			/* one update, the pacing state kept: the share moves, nothing else */
			v.interval_ns = m->lease.interval_ns;
			v.fallback_interval_ns = m->lease.fallback_interval_ns;
			v.lease_end_ns = m->lease.lease_end_ns;
			if (bpf_map_update_elem(maps->media, &m->index, &v, BPF_ANY))
				cruise_log(CRUISE_LOG_ERROR, "fleet: cannot write the share",
					   "medium", m->name, "error", strerror(errno), NULL);
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
}

void cruise_fleet_snapshot(struct cruise_fleet *f, struct cruise_snapshot *s)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	s->fleet_configured = f->set.redis != NULL;
	s->fleet_store_up = f->store_up;
	s->fleet_store_errors = f->errors;
	s->fleet_nodes_forgotten = f->forgotten;
	for (unsigned int i = 0; i < f->n_media; i++)
		for (unsigned int k = 0; k < s->n_media; k++)
			if (s->media[k].index == f->media[i].index && s->media[k].fleet)
				s->media[k].f = f->media[i].seen;
	pthread_mutex_unlock(&f->lock);
}

void cruise_fleet_stop(struct cruise_fleet *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	settings_free(&f->set);
	close(f->efd);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->wake);
	free(f);
}
