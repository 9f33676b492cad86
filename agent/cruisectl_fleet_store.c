// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cruisectl fleet's reading of the store (cruisectl_fleet.h): a connection to Redis, AUTH, then
 * read-only commands: each medium's five keys and the store's clock in one pipelined round trip,
 * the media found with SCAN when no config names them. Every failure is one line naming the store
 * or the key.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "cruisectl.h"
#include "cruisectl_fleet.h"
#include "fleet.h" /* CRUISE_FLEET_TIMEOUT_MS */
#include "units.h" /* cruise_parse_count */

#define FLEET_SCAN_CALLS 1000 /* SCAN ... COUNT 1000: a million keys looked at, at most */
#define FLEET_SCAN_MEDIA 256

enum { FK_NODES, FK_LEASES, FK_FORGET, FK_RATES, FK_AGG };
static const char *const fleet_kinds[5] = { "nodes", "leases", "forget", "rates", "agg" };

/* A medium's name as the config takes it: what SCAN finds must be one to be listed. */
static bool medium_name_ok(const char *s, size_t n)
{
	if (!n || n >= CRUISE_NAME_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* Why a command got no reply, or an error reply: one line naming the store or the key. */
static void store_fail(const struct fleet_store *st, const char *what, const redisReply *r)
{
	char q[QUOTED_LEN], qe[QUOTED_LEN * 2];

	cruise_quote(what, q, sizeof(q));
	if (!r) {
		/* a blocking read past the timeout fails with EAGAIN */
		if (st->c->err == REDIS_ERR_IO && !strcmp(st->c->errstr, strerror(EAGAIN)))
			fail("fleet: the fleet store at %s did not answer %s within %dms",
			     st->qaddr, q, CRUISE_FLEET_TIMEOUT_MS);
		else if (st->c->err == REDIS_ERR_PROTOCOL)
			fail("fleet: %s answered %s with something else than Redis: %s (is it a "
			     "Redis server?)",
			     st->qaddr, q, cruise_quote(st->c->errstr, qe, sizeof(qe)));
		else
			fail("fleet: the fleet store at %s: %s: %s", st->qaddr, q,
			     cruise_quote(st->c->errstr[0] ? st->c->errstr : "no reply", qe,
					  sizeof(qe)));
		return;
	}
	cruise_quote(r->type == REDIS_REPLY_ERROR && r->str ? r->str : "", qe, sizeof(qe));
	if (r->type != REDIS_REPLY_ERROR)
		fail("fleet: %s: a reply of the wrong shape (not one of cruise's fleet keys?)", q);
	else if (!strncmp(r->str, "NOAUTH", 6))
		fail("fleet: the fleet store at %s needs a password: %s (--password-file FILE, or "
		     "the config's fleet.password_file)",
		     st->qaddr, qe);
	else if (!strncmp(r->str, "WRONGTYPE", 9))
		fail("fleet: %s is not of the type cruise's fleet keeps there "
		     "(another --prefix?): %s",
		     q, qe);
	else
		fail("fleet: %s: %s", q, qe);
}

int fleet_store_connect(struct fleet_store *st, const char *addr, const char *user,
			const char *password)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = CRUISE_FLEET_TIMEOUT_MS * 1000 };
	char host[256];
	const char *colon, *end;
	__u64 port;

	memset(st, 0, sizeof(*st));
	st->addr = addr;
	cruise_quote(addr, st->qaddr, sizeof(st->qaddr));
	if (addr[0] == '/') {
		st->c = redisConnectUnixWithTimeout(addr, tv);
	} else {
		colon = strrchr(addr, ':');
		end = colon;
		if (colon && addr[0] == '[') {
			end = strchr(addr, ']');
			if (!end || end + 1 != colon)
				colon = NULL;
			addr++;
		}
		if (!colon || end == addr || (size_t)(end - addr) >= sizeof(host) ||
		    cruise_parse_count(colon + 1, 65535, &port, NULL, 0) || !port) {
			fail("fleet: \"%s\": expected HOST:PORT, [IPv6]:PORT or a unix socket path",
			     st->qaddr);
			return -1;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(end - addr), addr);
		st->c = redisConnectWithTimeout(host, (int)port, tv);
	}
	if (!st->c || st->c->err) {
		char qe[QUOTED_LEN];

		fail("fleet: cannot reach the fleet store at %s: %s", st->qaddr,
		     st->c ? cruise_quote(st->c->errstr, qe, sizeof(qe)) : "out of memory");
		return -1;
	}
	if (redisSetTimeout(st->c, tv) != REDIS_OK) {
		fail("fleet: the fleet store at %s: cannot set a timeout", st->qaddr);
		return -1;
	}
	if (password) {
		const char *argv[] = { "AUTH", user ? user : password, password };
		redisReply *r = redisCommandArgv(st->c, user ? 3 : 2, argv, NULL);

		if (!r || r->type == REDIS_REPLY_ERROR) {
			char qe[QUOTED_LEN];

			/* WRONGPASS, "invalid password", "AUTH called without any password ..." */
			if (r)
				fail("fleet: the fleet store at %s refused the password (AUTH): %s",
				     st->qaddr, cruise_quote(r->str, qe, sizeof(qe)));
			else
				store_fail(st, "AUTH", r);
			if (r)
				freeReplyObject(r);
			return -1;
		}
		freeReplyObject(r);
	}
	return 0;
}

void fleet_store_close(struct fleet_store *st)
{
	if (st->c)
		redisFree(st->c);
	st->c = NULL;
}

static bool is_str(const redisReply *r)
{
	return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

static bool reply_u64(const redisReply *r, __u64 *v)
{
	char buf[32];

	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
		*v = (__u64)r->integer;
		return true;
	}
	if (!is_str(r) || r->len >= sizeof(buf))
		return false;
	memcpy(buf, r->str, r->len);
	buf[r->len] = '\0';
	return !cruise_parse_count(buf, UINT64_MAX, v, NULL, 0);
}

static bool reply_double(const redisReply *r, double *v)
{
	char buf[64], *end;

	if (!is_str(r) || !r->len || r->len >= sizeof(buf))
		return false;
	memcpy(buf, r->str, r->len);
	buf[r->len] = '\0';
	errno = 0;
	*v = strtod(buf, &end);
	return !*end && !errno;
}

static int fleet_node_cmp(const void *x, const void *y)
{
	const struct fleet_node *a = x, *b = y;

	return strcmp(a->name, b->name);
}

/* The node named by r (nodes sorted by name up to sorted), added when new; NULL: no memory. */
static struct fleet_node *fleet_node_at(struct fleet_medium *fm, const redisReply *r, size_t sorted)
{
	struct fleet_node key, *n;
	char *name;

	if (!is_str(r) || memchr(r->str, '\0', r->len))
		return NULL;
	name = strndup(r->str, r->len);
	if (!name)
		return NULL;
	key.name = name;
	n = sorted ? bsearch(&key, fm->nodes, sorted, sizeof(key), fleet_node_cmp) : NULL;
	for (size_t i = sorted; !n && i < fm->n_nodes; i++)
		if (!strcmp(fm->nodes[i].name, name))
			n = &fm->nodes[i];
	if (n) {
		free(name);
		return n;
	}
	if (fm->n_nodes == fm->cap) {
		size_t cap = fm->cap ? fm->cap * 2 : 16;
		struct fleet_node *grown = realloc(fm->nodes, cap * sizeof(*grown));

		if (!grown) {
			free(name);
			return NULL;
		}
		fm->nodes = grown;
		fm->cap = cap;
	}
	n = &fm->nodes[fm->n_nodes++];
	memset(n, 0, sizeof(*n));
	n->name = name;
	return n;
}

/* "want share fb small", as fleet.lua writes it */
static bool parse_record(const redisReply *r, struct fleet_node *n)
{
	unsigned long long w, s, f;
	char buf[96], sm, extra;

	if (!is_str(r) || r->len >= sizeof(buf))
		return false;
	memcpy(buf, r->str, r->len);
	buf[r->len] = '\0';
	for (size_t i = 0; i < r->len; i++)
		if (!isdigit((unsigned char)buf[i]) && buf[i] != ' ')
			return false;
	if (sscanf(buf, "%llu %llu %llu %c%c", &w, &s, &f, &sm, &extra) != 4 ||
	    (sm != '0' && sm != '1'))
		return false;
	n->want = w;
	n->share = s;
	n->fb = f;
	n->small = sm == '1';
	return true;
}

void fleet_medium_free(struct fleet_medium *fm)
{
	for (size_t i = 0; i < fm->n_nodes; i++)
		free(fm->nodes[i].name);
	free(fm->nodes);
	fm->nodes = NULL;
	fm->n_nodes = fm->cap = 0;
}

/* A zset's members and scores (ZRANGE ... WITHSCORES), each given to the node it names. */
static int take_zset(struct fleet_medium *fm, const redisReply *r, size_t sorted, int kind)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
		return -EPROTO;
	for (size_t i = 0; i < r->elements; i += 2) {
		struct fleet_node *n;
		double score;

		if (!reply_double(r->element[i + 1], &score))
			return -EPROTO;
		n = fleet_node_at(fm, r->element[i], sorted);
		if (!n)
			return is_str(r->element[i]) ? -ENOMEM : -EPROTO;
		if (kind == FK_LEASES) {
			n->leased = true;
			n->lease_end_ms = score;
		} else if (kind == FK_FORGET) {
			n->forgetting = true;
			n->forget_ms = score;
		} else if (score >= 0) {
			n->has_rate = true;
			n->rate = (__u64)score;
		}
	}
	return 0;
}

/*
 * One medium's five keys and the store's clock, in one pipelined round trip (each command sees
 * one state: the allocator runs whole, but one may run between two of them).
 */
int fleet_read(struct fleet_store *st, const char *prefix, struct fleet_medium *fm)
{
	redisReply *r[6] = {};
	const char *what[6] = { "TIME" }; /* what each reply answers, for messages */
	size_t sorted;
	int ret = -1, err;

	for (int k = 0; k < 5; k++) {
		snprintf(fm->key[k], sizeof(fm->key[k]), "{%s:%s}:%s", prefix, fm->name,
			 fleet_kinds[k]);
		what[k + 1] = fm->key[k];
	}
	redisAppendCommand(st->c, "TIME");
	redisAppendCommand(st->c, "HGETALL %s", fm->key[FK_NODES]);
	for (int k = FK_LEASES; k <= FK_RATES; k++)
		redisAppendCommand(st->c, "ZRANGE %s 0 -1 WITHSCORES", fm->key[k]);
	redisAppendCommand(st->c, "HMGET %s claims small_sum small_n", fm->key[FK_AGG]);
	for (int i = 0; i < 6; i++) {
		if (redisGetReply(st->c, (void **)&r[i]) != REDIS_OK || !r[i]) {
			store_fail(st, what[i], NULL);
			goto out;
		}
	}
	for (int i = 0; i < 6; i++)
		if (r[i]->type == REDIS_REPLY_ERROR) {
			store_fail(st, what[i], r[i]);
			goto out;
		}

	/* TIME: seconds and microseconds */
	{
		__u64 sec, usec;

		if (r[0]->type != REDIS_REPLY_ARRAY || r[0]->elements != 2 ||
		    !reply_u64(r[0]->element[0], &sec) || !reply_u64(r[0]->element[1], &usec)) {
			store_fail(st, "TIME", r[0]);
			goto out;
		}
		fm->now_ms = (double)sec * 1000 + (double)usec / 1000;
	}

	/* the records first, sorted by node: the zsets' members are looked up among them */
	if (r[1]->type != REDIS_REPLY_ARRAY || r[1]->elements % 2) {
		store_fail(st, what[1], r[1]);
		goto out;
	}
	for (size_t i = 0; i < r[1]->elements; i += 2) {
		struct fleet_node *n = fleet_node_at(fm, r[1]->element[i], 0);

		if (!n) {
			if (is_str(r[1]->element[i]))
				fail("out of memory");
			else
				store_fail(st, what[1], r[1]);
			goto out;
		}
		n->record = true;
		n->damaged = !parse_record(r[1]->element[i + 1], n);
	}
	fm->records = fm->n_nodes;
	if (fm->n_nodes)
		qsort(fm->nodes, fm->n_nodes, sizeof(*fm->nodes), fleet_node_cmp);
	sorted = fm->n_nodes;
	for (int k = FK_LEASES; k <= FK_RATES; k++) {
		err = take_zset(fm, r[k + 1], sorted, k);
		if (err == -ENOMEM) {
			fail("out of memory");
			goto out;
		}
		if (err) {
			store_fail(st, what[k + 1], r[k + 1]);
			goto out;
		}
	}
	if (fm->n_nodes)
		qsort(fm->nodes, fm->n_nodes, sizeof(*fm->nodes), fleet_node_cmp);
	for (size_t i = 0; i < fm->n_nodes; i++) {
		const struct fleet_node *n = &fm->nodes[i];

		fm->leased += n->leased && n->lease_end_ms > fm->now_ms;
		if (n->has_rate && (!fm->has_rate || n->rate < fm->rate)) {
			fm->has_rate = true;
			fm->rate = n->rate;
		}
	}

	/* agg: absent fields (a store the allocator has not run on) leave it unknown */
	if (r[5]->type != REDIS_REPLY_ARRAY || r[5]->elements != 3) {
		store_fail(st, what[5], r[5]);
		goto out;
	}
	fm->has_claims = reply_u64(r[5]->element[0], &fm->claims) &&
			 reply_u64(r[5]->element[1], &fm->small_sum) &&
			 reply_u64(r[5]->element[2], &fm->small_n);
	ret = 0;
out:
	for (int i = 0; i < 6; i++)
		if (r[i])
			freeReplyObject(r[i]);
	return ret;
}

static int fleet_name_cmp(const void *x, const void *y)
{
	return strcmp(((const struct fleet_medium *)x)->name,
		      ((const struct fleet_medium *)y)->name);
}

/* Without a config: the media whose "{prefix:MEDIUM}:nodes" key exists, found with SCAN. */
int fleet_scan(struct fleet_store *st, const char *prefix, struct fleet_medium **out, size_t *n_out)
{
	struct fleet_medium *media = NULL;
	char pattern[128], cursor[32] = "0", head[96];
	size_t n = 0, head_len;
	unsigned int calls = 0;
	bool cut = false;

	/* no glob characters in the prefix (cruise_fleet_prefix_ok): '*' matches the medium */
	snprintf(pattern, sizeof(pattern), "{%s:*}:nodes", prefix);
	head_len = (size_t)snprintf(head, sizeof(head), "{%s:", prefix);
	do {
		redisReply *r = redisCommand(st->c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
		const redisReply *keys;

		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    !is_str(r->element[0]) || r->element[0]->len >= sizeof(cursor) ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			store_fail(st, "SCAN", r);
			if (r)
				freeReplyObject(r);
			free(media);
			return -1;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len);
		cursor[r->element[0]->len] = '\0';
		keys = r->element[1];
		for (size_t i = 0; i < keys->elements; i++) {
			const redisReply *k = keys->element[i];
			const char *name;
			size_t len;
			bool seen = false;

			/* "{prefix:" NAME "}:nodes", NAME a medium's name (no ':', unlike prefixes)
			 */
			if (!is_str(k) || k->len <= head_len + 7 ||
			    memcmp(k->str, head, head_len) ||
			    memcmp(k->str + k->len - 7, "}:nodes", 7))
				continue;
			name = k->str + head_len;
			len = k->len - head_len - 7;
			if (!medium_name_ok(name, len))
				continue;
			for (size_t j = 0; j < n && !seen; j++)
				seen = strlen(media[j].name) == len &&
				       !memcmp(media[j].name, name, len);
			if (seen)
				continue;
			if (n == FLEET_SCAN_MEDIA) {
				cut = true;
				continue;
			}
			if (!(n % 16)) {
				struct fleet_medium *grown =
					realloc(media, (n + 16) * sizeof(*media));

				if (!grown) {
					freeReplyObject(r);
					free(media);
					fail("out of memory");
					return -1;
				}
				media = grown;
			}
			memset(&media[n], 0, sizeof(media[n]));
			memcpy(media[n].name, name, len);
			n++;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") && ++calls < FLEET_SCAN_CALLS);
	if (strcmp(cursor, "0") || cut)
		fprintf(stderr,
			"cruisectl: warning: fleet: the store holds too many keys to look at all: "
			"some fleet media may be missing (name them in a config: --config)\n");
	if (n)
		qsort(media, n, sizeof(*media), fleet_name_cmp);
	*out = media;
	*n_out = n;
	return 0;
}
