// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruisectl fleet: what the fleet store (Redis) holds for each fleet medium, read-only. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "config.h" /* cruise_config_load, CRUISE_FLEET_DEFAULT_PREFIX */
#include "cruisectl.h"
#include "fleet.h" /* CRUISE_FLEET_TIMEOUT_MS */
#include "units.h" /* cruise_parse_count */

#define FLEET_DEFAULT_CONFIG "/etc/cruise/cruise.yaml"
#define FLEET_SCAN_CALLS     1000 /* SCAN ... COUNT 1000: a million keys looked at, at most */
#define FLEET_SCAN_MEDIA     256

static struct {
	const char *config; /* NULL: FLEET_DEFAULT_CONFIG, unless --redis is given */
	const char *redis, *prefix, *password_file, *username;
} fleet_opts;

/* One node of one fleet medium, from the medium's five keys. */
struct fleet_node {
	char *name;
	bool record;  /* in the nodes hash */
	bool damaged; /* ... but not "want share fb small" */
	bool small;   /* wants no more than it is given: want is what it asked for */
	__u64 want, share, fb;
	bool has_rate;
	__u64 rate; /* the fleet rate in its config */
	bool leased, forgetting;
	double lease_end_ms, forget_ms; /* Redis clock */
};

struct fleet_medium {
	char name[CRUISE_NAME_LEN];
	char key[5][CRUISE_NAME_LEN + 96]; /* nodes, leases, forget, rates, agg */
	double now_ms;			   /* Redis TIME, when read */
	struct fleet_node *nodes;
	size_t n_nodes, cap;
	size_t records, leased;
	bool has_rate, has_claims;
	__u64 rate, claims, small_sum, small_n; /* milli-connections/s */
};

enum { FK_NODES, FK_LEASES, FK_FORGET, FK_RATES, FK_AGG };
static const char *const fleet_kinds[5] = { "nodes", "leases", "forget", "rates", "agg" };

struct fleet_store {
	redisContext *c;
	const char *addr;
	char qaddr[QUOTED_LEN];
};

/* Milli-connections/s as people read them: "50/s", "12.5/s", "0.016/s". */
static void fmt_milli(__u64 milli, char *buf, size_t len)
{
	char frac[8];
	int n;

	if (!(milli % 1000)) {
		snprintf(buf, len, "%llu/s", (unsigned long long)(milli / 1000));
		return;
	}
	n = snprintf(frac, sizeof(frac), "%03llu", (unsigned long long)(milli % 1000));
	while (n > 1 && frac[n - 1] == '0')
		frac[--n] = '\0';
	snprintf(buf, len, "%llu.%s/s", (unsigned long long)(milli / 1000), frac);
}

/* A key prefix as the config takes it (config.c): it goes between the braces of every key. */
static bool prefix_ok(const char *p)
{
	size_t n = strlen(p);

	if (!n || n > 64)
		return false;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._:-", *p))
			return false;
	return true;
}

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

/* The password: the first line of file, as the agent reads it (units.h). */
static int read_password_file(const char *file, char **out)
{
	char q[QUOTED_LEN], why[QUOTED_LEN + 96];

	quoted(q, sizeof(q), file);
	if (!cruise_read_secret(file, q, out, why, sizeof(why)))
		return 0;
	fail("fleet: --password-file: %s", why);
	return -1;
}

/* Why a command got no reply, or an error reply: one line naming the store or the key. */
static void store_fail(const struct fleet_store *st, const char *what, const redisReply *r)
{
	char q[QUOTED_LEN], qe[QUOTED_LEN * 2];

	quoted(q, sizeof(q), what);
	if (!r) {
		/* a blocking read past the timeout fails with EAGAIN */
		if (st->c->err == REDIS_ERR_IO && !strcmp(st->c->errstr, strerror(EAGAIN)))
			fail("fleet: the fleet store at %s did not answer %s within %dms",
			     st->qaddr, q, CRUISE_FLEET_TIMEOUT_MS);
		else if (st->c->err == REDIS_ERR_PROTOCOL)
			fail("fleet: %s answered %s with something else than Redis: %s (is it a "
			     "Redis server?)",
			     st->qaddr, q, quoted(qe, sizeof(qe), st->c->errstr));
		else
			fail("fleet: the fleet store at %s: %s: %s", st->qaddr, q,
			     quoted(qe, sizeof(qe), st->c->errstr[0] ? st->c->errstr : "no reply"));
		return;
	}
	quoted(qe, sizeof(qe), r->type == REDIS_REPLY_ERROR && r->str ? r->str : "");
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

/* "host:port", "[v6]:port" or a unix socket path; AUTH when there is a password. */
static int store_connect(struct fleet_store *st, const char *addr, const char *user,
			 const char *password)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = CRUISE_FLEET_TIMEOUT_MS * 1000 };
	char host[256];
	const char *colon, *end;
	__u64 port;

	memset(st, 0, sizeof(*st));
	st->addr = addr;
	quoted(st->qaddr, sizeof(st->qaddr), addr);
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
		     st->c ? quoted(qe, sizeof(qe), st->c->errstr) : "out of memory");
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
				     st->qaddr, quoted(qe, sizeof(qe), r->str));
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

static void store_close(struct fleet_store *st)
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

static void fleet_medium_free(struct fleet_medium *fm)
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
static int fleet_read(struct fleet_store *st, const char *prefix, struct fleet_medium *fm)
{
	const char *argv[5][6];
	int argc[6] = { 1, 2, 5, 5, 5, 5 };
	redisReply *r[6] = {};
	const char *what[6];
	size_t sorted;
	int ret = -1, err;

	for (int k = 0; k < 5; k++)
		snprintf(fm->key[k], sizeof(fm->key[k]), "{%s:%s}:%s", prefix, fm->name,
			 fleet_kinds[k]);
	what[0] = "TIME";
	redisAppendCommand(st->c, "TIME");
	for (int k = 0; k < 5; k++) {
		what[k + 1] = fm->key[k];
		argv[k][1] = fm->key[k];
		switch (k) {
		case FK_NODES:
			argv[k][0] = "HGETALL";
			break;
		case FK_AGG:
			argv[k][0] = "HMGET";
			argv[k][2] = "claims";
			argv[k][3] = "small_sum";
			argv[k][4] = "small_n";
			argc[k + 1] = 5;
			break;
		default:
			argv[k][0] = "ZRANGE";
			argv[k][2] = "0";
			argv[k][3] = "-1";
			argv[k][4] = "WITHSCORES";
			break;
		}
		redisAppendCommandArgv(st->c, argc[k + 1], argv[k], NULL);
	}
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
static int fleet_scan(struct fleet_store *st, const char *prefix, struct fleet_medium **out,
		      size_t *n_out)
{
	struct fleet_medium *media = NULL;
	char pattern[128], cursor[32] = "0", head[96];
	size_t n = 0, head_len;
	unsigned int calls = 0;
	bool cut = false;

	/* the prefix holds no glob characters (prefix_ok): only the medium is matched by '*' */
	snprintf(pattern, sizeof(pattern), "{%s:*}:nodes", prefix);
	head_len = (size_t)snprintf(head, sizeof(head), "{%s:", prefix);
	do {
		const char *argv[] = { "SCAN", cursor, "MATCH", pattern, "COUNT", "1000" };
		redisReply *r = redisCommandArgv(st->c, 6, argv, NULL);
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

/* A node's lease: "leased, 1.85s left", "ended, forgotten in 42.10s", ... */
static const char *fleet_lease_state(const struct fleet_medium *fm, const struct fleet_node *n,
				     char *buf, size_t len, double *ms)
{
	if (n->leased && n->lease_end_ms > fm->now_ms) {
		*ms = n->lease_end_ms - fm->now_ms;
		snprintf(buf, len, "leased, %.2fs left", *ms / 1000);
		return "leased";
	}
	if (n->leased) {
		/* the allocator moves it to forget at the next refresh of any node */
		*ms = fm->now_ms - n->lease_end_ms;
		snprintf(buf, len, "ended %.2fs ago, counted at its share until the next refresh",
			 *ms / 1000);
		return "expired";
	}
	if (n->forgetting && n->forget_ms > fm->now_ms) {
		*ms = n->forget_ms - fm->now_ms;
		snprintf(buf, len, "ended, forgotten in %.2fs", *ms / 1000);
		return "ended";
	}
	if (n->forgetting) {
		*ms = 0;
		snprintf(buf, len, "ended, forgotten at the next refresh");
		return "ended";
	}
	*ms = 0;
	snprintf(buf, len, "no lease");
	return "none";
}

static void fleet_node_figures(const struct fleet_node *n, char *want, char *share, char *fb,
			       char *rate, size_t len)
{
	if (!n->record || n->damaged) {
		snprintf(want, len, "-");
		snprintf(share, len, "-");
		snprintf(fb, len, "-");
	} else {
		if (n->small)
			fmt_milli(n->want, want, len);
		else
			snprintf(want, len, "more than its share");
		fmt_milli(n->share, share, len);
		fmt_milli(n->fb, fb, len);
	}
	if (n->has_rate)
		fmt_milli(n->rate, rate, len);
	else
		snprintf(rate, len, "-");
}

static void fleet_text(const struct fleet_medium *media, size_t n_media)
{
	char want[48], share[48], fb[48], rate[48], claims[48], state[96], nodes[24], leased[24];
	int mw = 6, nw = 4, ww = 4;
	bool any_nodes = false;
	double ms;

	for (size_t i = 0; i < n_media; i++) {
		int l = (int)strlen(media[i].name);

		mw = l > mw ? l : mw;
		for (size_t j = 0; j < media[i].n_nodes; j++) {
			const struct fleet_node *n = &media[i].nodes[j];

			l = (int)strlen(n->name);
			nw = l > nw ? l : nw;
			fleet_node_figures(n, want, share, fb, rate, sizeof(want));
			l = (int)strlen(want);
			ww = l > ww ? l : ww;
			any_nodes = true;
		}
	}
	printf("%-*s  %9s  %5s  %6s  %9s\n", mw, "MEDIUM", "RATE", "NODES", "LEASED", "CLAIMS");
	for (size_t i = 0; i < n_media; i++) {
		const struct fleet_medium *fm = &media[i];

		if (fm->has_rate)
			fmt_milli(fm->rate, rate, sizeof(rate));
		else
			snprintf(rate, sizeof(rate), "-");
		if (fm->has_claims)
			fmt_milli(fm->claims, claims, sizeof(claims));
		else
			snprintf(claims, sizeof(claims), "-");
		snprintf(nodes, sizeof(nodes), "%zu", fm->records);
		snprintf(leased, sizeof(leased), "%zu", fm->leased);
		printf("%-*s  %9s  %5s  %6s  %9s\n", mw, fm->name, rate, nodes, leased, claims);
	}
	if (any_nodes) {
		printf("\n%-*s  %-*s  %-*s  %9s  %9s  %11s  %s\n", mw, "MEDIUM", nw, "NODE", ww,
		       "WANT", "SHARE", "FALLBACK", "CONFIG_RATE", "LEASE");
		for (size_t i = 0; i < n_media; i++) {
			const struct fleet_medium *fm = &media[i];

			for (size_t j = 0; j < fm->n_nodes; j++) {
				const struct fleet_node *n = &fm->nodes[j];

				fleet_node_figures(n, want, share, fb, rate, sizeof(want));
				fleet_lease_state(fm, n, state, sizeof(state), &ms);
				printf("%-*s  %-*s  %-*s  %9s  %9s  %11s  %s%s\n", mw, fm->name, nw,
				       n->name, ww, want, share, fb, rate, state,
				       !n->record   ? " (no record)"
				       : n->damaged ? " (damaged record)"
						    : "");
			}
		}
	}
	/* what the figures do not say by themselves */
	for (size_t i = 0; i < n_media; i++) {
		const struct fleet_medium *fm = &media[i];

		if (!fm->n_nodes) {
			printf("%s: no node in the store (no agent has refreshed it lately, or "
			       "another key prefix)\n",
			       fm->name);
			continue;
		}
		if (fm->has_rate && fm->has_claims && fm->claims > fm->rate) {
			fmt_milli(fm->claims, claims, sizeof(claims));
			fmt_milli(fm->rate, rate, sizeof(rate));
			printf("%s: claims %s above the rate %s (a lower rate or a returning node: "
			       "shares shrink at the next refreshes)\n",
			       fm->name, claims, rate);
		}
		for (size_t j = 0; j < fm->n_nodes; j++)
			if (fm->has_rate && fm->nodes[j].has_rate &&
			    fm->nodes[j].rate != fm->rate) {
				fmt_milli(fm->rate, rate, sizeof(rate));
				printf("%s: the nodes' configs give different rates: the lowest, "
				       "%s, is in force\n",
				       fm->name, rate);
				break;
			}
	}
}

static void put_json_milli(const char *key, bool known, __u64 milli)
{
	char buf[48];

	if (!known) {
		printf(",\"%s\":null,\"%s_milli\":null", key, key);
		return;
	}
	fmt_milli(milli, buf, sizeof(buf));
	printf(",\"%s\":\"%s\",\"%s_milli\":%llu", key, buf, key, (unsigned long long)milli);
}

static void fleet_json(const struct fleet_store *st, const char *prefix, bool from_config,
		       const struct fleet_medium *media, size_t n_media)
{
	char state[96], tag[CRUISE_NAME_LEN + 80];
	double ms;

	printf("{\"redis\":");
	put_json_str(stdout, st->addr);
	printf(",\"prefix\":");
	put_json_str(stdout, prefix);
	printf(",\"media_from\":\"%s\",\"media\":[", from_config ? "config" : "scan");
	for (size_t i = 0; i < n_media; i++) {
		const struct fleet_medium *fm = &media[i];

		printf("%s{\"name\":", i ? "," : "");
		put_json_str(stdout, fm->name);
		/* the medium's hash tag: its keys are {prefix:medium}:nodes, leases, ... */
		snprintf(tag, sizeof(tag), "{%s:%s}", prefix, fm->name);
		printf(",\"keys\":");
		put_json_str(stdout, tag);
		printf(",\"time_ms\":%.0f", fm->now_ms);
		put_json_milli("rate", fm->has_rate, fm->rate);
		printf(",\"node_count\":%zu,\"leased\":%zu", fm->records, fm->leased);
		put_json_milli("claims", fm->has_claims, fm->claims);
		put_json_milli("small_sum", fm->has_claims, fm->small_sum);
		if (fm->has_claims)
			printf(",\"small_n\":%llu", (unsigned long long)fm->small_n);
		else
			printf(",\"small_n\":null");
		printf(",\"nodes\":[");
		for (size_t j = 0; j < fm->n_nodes; j++) {
			const struct fleet_node *n = &fm->nodes[j];
			bool ok = n->record && !n->damaged;
			const char *s = fleet_lease_state(fm, n, state, sizeof(state), &ms);

			printf("%s{\"node\":", j ? "," : "");
			put_json_str(stdout, n->name);
			printf(",\"record\":%s", !n->record ? "\"none\""
						 : ok	    ? "\"ok\""
							    : "\"damaged\"");
			printf(",\"wants_more\":%s", ok && !n->small ? "true" : "false");
			put_json_milli("want", ok && n->small, n->want);
			put_json_milli("share", ok, n->share);
			put_json_milli("fallback", ok, n->fb);
			put_json_milli("config_rate", n->has_rate, n->rate);
			printf(",\"state\":\"%s\"", s);
			if (!strcmp(s, "leased"))
				printf(",\"lease_left_ms\":%.0f", ms);
			else if (!strcmp(s, "expired"))
				printf(",\"lease_ended_ms_ago\":%.0f", ms);
			else if (!strcmp(s, "ended"))
				printf(",\"forget_in_ms\":%.0f", ms);
			printf(",\"text\":");
			put_json_str(stdout, state);
			putchar('}');
		}
		printf("]}");
	}
	printf("]}\n");
}

int cmd_fleet(void)
{
	struct cruise_config *cfg = NULL;
	struct fleet_medium *media = NULL;
	struct fleet_store st = {};
	const char *addr = fleet_opts.redis, *prefix = fleet_opts.prefix, *user = NULL;
	const char *path = fleet_opts.config;
	char *password = NULL, err[1024], q[QUOTED_LEN];
	size_t n_media = 0;
	bool from_config = false;
	int ret = 1;

	/* the config, unless a store is named on the command line without one */
	if (path || !addr) {
		if (!path)
			path = FLEET_DEFAULT_CONFIG;
		if (cruise_config_load(path, &cfg, err, sizeof(err))) {
			if (!fleet_opts.config && access(path, F_OK))
				fail("fleet: no config at %s: give --config FILE, or --redis ADDR "
				     "(and --prefix) to look at a store",
				     path);
			else
				fail("fleet: %s", err);
			return 1;
		}
		if (!cfg->fleet && !addr) {
			fail("fleet: %s has no fleet: block: no medium is a fleet medium there "
			     "(--redis ADDR to look at a store)",
			     quoted(q, sizeof(q), path));
			goto out;
		}
		if (cfg->fleet) {
			from_config = true;
			if (!addr)
				addr = cfg->fleet->redis;
			if (!prefix)
				prefix = cfg->fleet->key_prefix;
			user = cfg->fleet->username;
			if (cfg->fleet->password && !(password = strdup(cfg->fleet->password))) {
				fail("out of memory");
				goto out;
			}
		}
	}
	if (!prefix)
		prefix = CRUISE_FLEET_DEFAULT_PREFIX;
	if (!prefix_ok(prefix)) {
		fail("fleet: --prefix \"%s\": expected 1 to 64 letters, digits, "
		     "'.', '_', ':' and '-'",
		     quoted(q, sizeof(q), prefix));
		goto out;
	}
	if (fleet_opts.password_file) {
		if (password)
			explicit_bzero(password, strlen(password));
		free(password);
		password = NULL;
		if (read_password_file(fleet_opts.password_file, &password))
			goto out;
	}
	if (fleet_opts.username)
		user = fleet_opts.username;
	if (user && !password) {
		fail("fleet: a username needs a password (--password-file): Redis AUTH takes both");
		goto out;
	}
	if (store_connect(&st, addr, user, password))
		goto out;

	if (from_config) {
		for (unsigned int i = 0; i < cfg->n_media; i++)
			n_media += cfg->media[i].fleet;
		media = calloc(n_media ? n_media : 1, sizeof(*media));
		if (!media) {
			fail("out of memory");
			goto out;
		}
		n_media = 0;
		for (unsigned int i = 0; i < cfg->n_media; i++)
			if (cfg->media[i].fleet)
				snprintf(media[n_media++].name, sizeof(media->name), "%s",
					 cfg->media[i].name);
	} else if (fleet_scan(&st, prefix, &media, &n_media)) {
		goto out;
	}
	for (size_t i = 0; i < n_media; i++)
		if (fleet_read(&st, prefix, &media[i]))
			goto out;

	if (opts.out == OUT_JSON)
		fleet_json(&st, prefix, from_config, media, n_media);
	else if (!n_media && from_config)
		printf("no fleet media in %s\n", path);
	else if (!n_media)
		printf("no fleet media in the store at %s under the key prefix %s\n", st.qaddr,
		       prefix);
	else
		fleet_text(media, n_media);
	ret = flush_out() ? 1 : 0;
out:
	store_close(&st);
	for (size_t i = 0; i < n_media; i++)
		fleet_medium_free(&media[i]);
	free(media);
	if (password)
		explicit_bzero(password, strlen(password));
	free(password);
	cruise_config_free(cfg);
	return ret;
}

/* command line */

enum {
	OPT_CONFIG = 'c',
	OPT_REDIS = OPT_COMMAND_FIRST, /* long options only */
	OPT_PREFIX,
	OPT_PASSWORD_FILE,
	OPT_USERNAME,
};

static error_t parse_fleet_opt(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case OPT_CONFIG:
		fleet_opts.config = arg;
		return 0;
	case OPT_REDIS:
		if (!*arg)
			argp_error(state,
				   "--redis: empty: expected HOST:PORT, [IPv6]:PORT or a unix "
				   "socket path");
		fleet_opts.redis = arg;
		return 0;
	case OPT_PREFIX:
		fleet_opts.prefix = arg;
		return 0;
	case OPT_PASSWORD_FILE:
		fleet_opts.password_file = arg;
		return 0;
	case OPT_USERNAME:
		if (!*arg)
			argp_error(state, "--username: empty");
		fleet_opts.username = arg;
		return 0;
	default:
		return parse_sub(key, arg, state);
	}
}

static const struct argp_option fleet_options[] = {
	{ "config", OPT_CONFIG, "FILE", 0,
	  "The agent's config: the store, key prefix, credentials and fleet media of its fleet: "
	  "block (default " FLEET_DEFAULT_CONFIG ", unless --redis is given)",
	  0 },
	{ "redis", OPT_REDIS, "ADDR", 0,
	  "The store: HOST:PORT, [IPv6]:PORT or a unix socket path (instead of the config's); "
	  "without a config, the fleet media are found with SCAN",
	  0 },
	{ "prefix", OPT_PREFIX, "PREFIX", 0,
	  "Key prefix: keys are {PREFIX:MEDIUM}:... (default the config's, else cruise)", 0 },
	{ "password-file", OPT_PASSWORD_FILE, "FILE", 0,
	  "Redis AUTH with the first line of FILE (instead of the config's)", 0 },
	{ "username", OPT_USERNAME, "USER", 0, "Redis ACL user for AUTH (needs a password)", 0 },
	OUTPUT_OPTION("one JSON document"),
	{},
};

const struct argp fleet_argp = {
	fleet_options,
	parse_fleet_opt,
	NULL,
	"Show what the fleet store (Redis) holds for each fleet medium, read-only: the fleet "
	"rate in force (the lowest of the nodes' configs), the nodes, how many hold a lease, and "
	"the claims (the sum of what every counted node may use now) against the rate; then "
	"every node: what it asked for (\"more than its share\" when its workers take whatever "
	"they are given), its share, its fallback, the rate in its config and its lease: "
	"\"leased, 1.85s left\", or \"ended, forgotten in 42.10s\" (its fallback counts until "
	"then). Rates are connections per second. Needs no maps and no root, only the store: "
	"connect and command timeouts of 200ms; never writes to it.\n"
	"\n"
	"The media are the config's fleet media; with --redis and no --config, every medium "
	"with keys under the prefix (SCAN: on Redis Cluster, point it at the node that holds "
	"them).\v"
	"EXAMPLES:\n"
	"  cruisectl fleet\n"
	"  cruisectl fleet --config /etc/cruise/cruise.yaml -o json | jq '.media[].nodes[]'\n"
	"  cruisectl fleet --redis 10.0.0.5:6379 --prefix prod:cruise --password-file "
	"/run/secrets/redis",
	NULL,
	NULL,
	NULL
};
