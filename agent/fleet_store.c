// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The fleet thread's Redis (fleet_int.h): a connection to the store and to each Redis Cluster node
 * named by MOVED, with AUTH and the script loaded; reconnects after a backoff with jitter; the
 * pipelined EVALSHA of the allocator per refresh and the check of its replies. Only the fleet
 * thread calls these: the connections are its own.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "fleet_int.h"
#include "loader.h"
#include "log.h"

/* the allocator, embedded at build time from agent/fleet.lua */
#include "fleet_lua.h"

#define LOG_EVERY_NS (10 * NSEC) /* the same complaint at most this often */

/* A complaint about the store: logged when it changes, else once every LOG_EVERY_NS; counted. */
static void store_error(struct cruise_fleet *f, const char *what, const char *detail)
{
	char msg[256];
	__u64 now = cruise_now_ns();

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

void fleet_disconnect(struct fleet_conn *c)
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

	fleet_disconnect(c);
	if (max > CRUISE_FLEET_BACKOFF_MAX_MS)
		max = CRUISE_FLEET_BACKOFF_MAX_MS;
	if (max < CRUISE_FLEET_BACKOFF_MIN_MS)
		max = CRUISE_FLEET_BACKOFF_MIN_MS;
	ms = c->backoff_ms ? c->backoff_ms : CRUISE_FLEET_BACKOFF_MIN_MS;
	if (ms > max)
		ms = max;
	jitter = (__u64)random() % (ms / 2 + 1);
	c->retry_at_ns = cruise_now_ns() + (ms - ms / 4 + jitter) * MSEC;
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

static void append(struct fleet_conn *conn, const struct fleet_settings *s, struct fleet_call *c)
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

/* A medium's reply: checked, the nodes it forgot said, then its lease for the main loop. */
static void take_reply(struct cruise_fleet *f, const struct fleet_settings *s, struct fleet_call *c,
		       const redisReply *r, __u64 sent_ns)
{
	char who[CRUISE_NAME_LEN * 2];
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
	fleet_take_lease(f, s, c, v, sent_ns);
}

/*
 * "MOVED 3999 127.0.0.1:6381": the medium's slot lives on another Redis Cluster node. Its calls
 * go there from now on (in this refresh too); the store's own connection stays.
 */
static int moved(struct cruise_fleet *f, struct fleet_call *c, const char *msg)
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
	m = fleet_find_medium(f, c->name);
	if (m)
		m->conn = k;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* One pipelined round trip per Redis the media live on (one, unless a Cluster). */
bool fleet_round_trip(struct cruise_fleet *f, const struct fleet_settings *s,
		      struct fleet_call *calls, unsigned int n)
{
	bool got = false;
	__u64 sent;

	for (unsigned int k = 0; k < CONNS; k++) {
		struct fleet_conn *conn = &f->conn[k];
		unsigned int mine = 0;

		for (unsigned int i = 0; i < n; i++)
			mine += calls[i].conn == k && !calls[i].done;
		if (!mine || !conn->addr[0])
			continue;
		if (!conn->rc && (cruise_now_ns() < conn->retry_at_ns || connect_conn(f, conn, s)))
			continue;
		sent = cruise_now_ns();
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
	return got;
}
