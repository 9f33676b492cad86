// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The list/watch client (k8s_api.h). One thread per watch, libcurl's easy interface: a list, then
 * a watch streamed line by line (each line one JSON event), until the stream ends (watch again from
 * the last resourceVersion), the server says 410 Gone (list again at once), or anything fails (list
 * again after a backoff that doubles up to backoff_max_ms, with jitter so that a cluster's agents
 * do not come back in step). Why threads rather than curl multi in the main epoll loop: the
 * transfer logic stays linear and testable, and the main loop only ever sees whole tables. What
 * a response means is the kind's business (struct cruise_k8s_kind): this file knows HTTP, TLS,
 * the token, the stream's lines, 410 Gone and the backoff, and no object of any kind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "k8s_api.h"
#include "loader.h" /* cruise_now_ns */
#include "log.h"

#define LIST_MAX_BYTES	  (64u << 20) /* a PodList of one node; far above what a node can run */
#define LINE_MAX_BYTES	  (4u << 20)  /* one watch event: one object */
#define STATUS_MAX_BYTES  (64u << 10) /* an error's body */
#define TOKEN_MAX_BYTES	  (64u << 10)
#define CONNECT_TIMEOUT_S 5L
#define LIST_TIMEOUT_S	  60L
/* a watch that ends sooner with no event is suspect (see run) */
#define WATCH_QUICK_MS 1000
/* asked of the server; a silent connection is dropped a minute after that */
#define WATCH_TIMEOUT_S 300

struct cruise_k8s_watch {
	struct cruise_k8s_conn o;
	char *host, *port, *secrets, *path, *what;
	const struct cruise_k8s_kind *kind;
	void *ctx;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	pthread_mutex_t lock; /* the stats and the stop condition */
	pthread_cond_t wake;
	struct cruise_k8s_stats st;
	/* the thread's own */
	char rv[CRUISE_K8S_RV_LEN];
	unsigned int backoff_ms;
	unsigned int seed;
};

static void count(struct cruise_k8s_watch *k, __u64 *field, bool connected)
{
	pthread_mutex_lock(&k->lock);
	if (field)
		(*field)++;
	k->st.connected = connected;
	pthread_mutex_unlock(&k->lock);
}

/* requests */

struct buf {
	char *p;
	size_t len, cap, max;
	bool too_big;
};

static int buf_add(struct buf *b, const char *data, size_t n)
{
	if (b->len + n + 1 > b->max) {
		b->too_big = true;
		return -EFBIG;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p;

		if (cap > b->max)
			cap = b->max;
		p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

struct xfer {
	struct cruise_k8s_watch *k;
	CURL *c;
	bool watch;
	long code;	 /* HTTP status, known at the first body byte */
	struct buf body; /* a list, or an error's status */
	struct buf line; /* a watch: the event being received */
	bool gone;	 /* 410, as a status or as an ERROR event */
	bool got_event;	 /* an object's event (not a bookmark) */
	char err[512];	 /* why the transfer was cut by us */
};

static int xfer_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = ud;

	(void)dt, (void)dn, (void)ut, (void)un;
	return atomic_load(&x->k->stop) ? 1 : 0;
}

/* One watch event line; false cuts the stream. */
static bool watch_line(struct xfer *x, const char *s, size_t len)
{
	struct cruise_k8s_watch *k = x->k;
	enum cruise_k8s_event_type type;
	char rv[CRUISE_K8S_RV_LEN], err[384];

	while (len && (s[len - 1] == '\r' || s[len - 1] == ' '))
		len--;
	if (!len)
		return true;
	if (k->kind->event(k->ctx, s, len, &type, rv, sizeof(rv), err, sizeof(err))) {
		snprintf(x->err, sizeof(x->err), "rejected a watch event: %s", err);
		return false;
	}
	if (type == CRUISE_K8S_GONE) {
		x->gone = true;
		snprintf(x->err, sizeof(x->err), "410 Gone: %s", err);
		return false;
	}
	if (type == CRUISE_K8S_ERROR) {
		snprintf(x->err, sizeof(x->err), "watch ERROR event: %s", err);
		return false;
	}
	snprintf(k->rv, sizeof(k->rv), "%s", rv);
	/* a bookmark only moves rv: a server (or proxy) that sends one and ends the watch must
	 * still count as ending it at once */
	if (type != CRUISE_K8S_BOOKMARK)
		x->got_event = true;
	count(k, &k->st.events, true);
	return true;
}

static size_t xfer_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb, done = 0;

	if (!x->code)
		curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &x->code);
	if (!x->watch || x->code != 200) {
		if (buf_add(&x->body, data, n)) {
			snprintf(x->err, sizeof(x->err), "response larger than %zu bytes",
				 x->body.max);
			return 0;
		}
		return n;
	}
	/* a watch: one JSON event per line */
	while (done < n) {
		char *nl = memchr(data + done, '\n', n - done);
		size_t take = nl ? (size_t)(nl - (data + done)) : n - done;

		if (buf_add(&x->line, data + done, take)) {
			snprintf(x->err, sizeof(x->err), "a watch event larger than %zu bytes",
				 x->line.max);
			return 0;
		}
		done += take;
		if (!nl)
			break;
		done++;
		if (!watch_line(x, x->line.p, x->line.len))
			return 0;
		x->line.len = 0;
	}
	return n;
}

static char *read_token(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	struct buf b = { .max = TOKEN_MAX_BYTES };
	char chunk[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/token", dir);
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%.400s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&b, chunk, n))
			break;
	fclose(f);
	while (b.len && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r' || b.p[b.len - 1] == ' '))
		b.p[--b.len] = '\0';
	if (!b.len || b.too_big || strpbrk(b.p, "\r\n")) {
		snprintf(err, errlen, "%.400s: empty, too large or not one line", path);
		free(b.p);
		return NULL;
	}
	return b.p;
}

enum outcome { OK, FAILED, GONE, STOPPED };

/* One request; a list's body is left in x->body. */
static enum outcome request(struct cruise_k8s_watch *k, struct xfer *x, bool watch)
{
	char url[2048], ca[4096], *token, *auth = NULL;
	struct curl_slist *hdr = NULL;
	CURLcode rc;
	enum outcome out = FAILED;

	memset(x, 0, sizeof(*x));
	x->k = k;
	x->watch = watch;
	x->body.max = watch ? STATUS_MAX_BYTES : LIST_MAX_BYTES;
	x->line.max = LINE_MAX_BYTES;
	/* read each time: kubelet rotates bound service-account tokens */
	token = read_token(k->secrets, x->err, sizeof(x->err));
	if (!token)
		return FAILED;
	x->c = curl_easy_init();
	if (!x->c || asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
		snprintf(x->err, sizeof(x->err), "out of memory");
		auth = NULL;
		goto out;
	}
	snprintf(url, sizeof(url), "https://%s%s%s:%s%s", strchr(k->host, ':') ? "[" : "", k->host,
		 strchr(k->host, ':') ? "]" : "", k->port, k->path);
	if (watch)
		snprintf(url + strlen(url), sizeof(url) - strlen(url),
			 "&watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%d",
			 k->rv, WATCH_TIMEOUT_S);
	snprintf(ca, sizeof(ca), "%s/ca.crt", k->secrets);
	hdr = curl_slist_append(hdr, auth);
	hdr = hdr ? curl_slist_append(hdr, "Accept: application/json") : NULL;
	if (!hdr) {
		snprintf(x->err, sizeof(x->err), "out of memory");
		goto out;
	}
	curl_easy_setopt(x->c, CURLOPT_URL, url);
	curl_easy_setopt(x->c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(x->c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(x->c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(x->c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(x->c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(x->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(x->c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(x->c, CURLOPT_WRITEFUNCTION, xfer_write);
	curl_easy_setopt(x->c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(x->c, CURLOPT_XFERINFOFUNCTION, xfer_progress);
	curl_easy_setopt(x->c, CURLOPT_XFERINFODATA, x);
	if (watch) {
		curl_easy_setopt(x->c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(x->c, CURLOPT_LOW_SPEED_TIME, (long)WATCH_TIMEOUT_S + 60);
	} else {
		curl_easy_setopt(x->c, CURLOPT_TIMEOUT, LIST_TIMEOUT_S);
	}
	count(k, &k->st.requests, k->st.connected);
	rc = curl_easy_perform(x->c);
	if (atomic_load(&k->stop)) {
		out = STOPPED;
		goto out;
	}
	curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &x->code);
	if (x->gone || x->code == 410) {
		out = GONE;
		if (!x->err[0])
			snprintf(x->err, sizeof(x->err), "410 Gone");
		goto out;
	}
	if (rc != CURLE_OK) {
		if (!x->err[0])
			snprintf(x->err, sizeof(x->err), "%s", curl_easy_strerror(rc));
		goto out;
	}
	if (x->code != 200) {
		snprintf(x->err, sizeof(x->err), "HTTP %ld%s%.200s", x->code,
			 x->code == 401 || x->code == 403
				 ? " (check the service account and its ClusterRole): "
				 : ": ",
			 x->body.p ? x->body.p : "");
		goto out;
	}
	if (watch && x->line.len) {
		snprintf(x->err, sizeof(x->err), "the watch stream ended within an event");
		goto out;
	}
	out = OK;
out:
	curl_slist_free_all(hdr);
	free(auth);
	free(token);
	free(x->line.p);
	x->line.p = NULL;
	if (x->c)
		curl_easy_cleanup(x->c);
	x->c = NULL;
	return out;
}

static bool do_list(struct cruise_k8s_watch *k, char *err, size_t errlen)
{
	struct xfer x;
	enum outcome o = request(k, &x, false);
	char rv[CRUISE_K8S_RV_LEN];
	bool ok = false;

	if (o != OK) {
		snprintf(err, errlen, "list: %s", x.err);
		goto out;
	}
	if (k->kind->list(k->ctx, x.body.p ? x.body.p : "", x.body.len, rv, sizeof(rv), x.err,
			  sizeof(x.err))) {
		snprintf(err, errlen, "list: rejected the response: %s", x.err);
		goto out;
	}
	snprintf(k->rv, sizeof(k->rv), "%s", rv);
	pthread_mutex_lock(&k->lock);
	k->st.synced = true;
	k->st.lists++;
	k->st.connected = true;
	pthread_mutex_unlock(&k->lock);
	ok = true;
out:
	free(x.body.p);
	return ok;
}

/* Sleep for the backoff (or until stopped), then double it. */
static void backoff(struct cruise_k8s_watch *k, const char *why)
{
	unsigned int ms = k->backoff_ms - (k->backoff_ms / 5) * (rand_r(&k->seed) % 1000) / 1000;
	__u64 at = cruise_now_ns() + ms * NSEC_PER_MSEC;
	struct timespec until = { .tv_sec = at / NSEC_PER_SEC, .tv_nsec = at % NSEC_PER_SEC };
	char in[32];

	count(k, &k->st.errors, false);
	snprintf(in, sizeof(in), "%u ms", ms);
	cruise_log(CRUISE_LOG_WARN, k->kind->failed, "watch", k->what, "error", why, "retry_in", in,
		   NULL);
	pthread_mutex_lock(&k->lock);
	while (!atomic_load(&k->stop) &&
	       pthread_cond_timedwait(&k->wake, &k->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&k->lock);
	k->backoff_ms =
		k->backoff_ms * 2 > k->o.backoff_max_ms ? k->o.backoff_max_ms : k->backoff_ms * 2;
}

static void *run(void *arg)
{
	struct cruise_k8s_watch *k = arg;
	unsigned int quick = 0; /* watches in a row that ended at once, with no event */
	char err[640];

	k->backoff_ms = k->o.backoff_min_ms;
	while (!atomic_load(&k->stop)) {
		if (!do_list(k, err, sizeof(err))) {
			if (!atomic_load(&k->stop))
				backoff(k, err);
			continue;
		}
		for (;;) {
			__u64 t0 = cruise_now_ns();
			struct xfer x;
			enum outcome o = request(k, &x, true);

			free(x.body.p);
			if (x.got_event)
				k->backoff_ms = k->o.backoff_min_ms; /* it works again */
			/* errors back off anyway: count the clean ends only */
			if ((o == OK || o == GONE) && !x.got_event &&
			    cruise_now_ns() - t0 < WATCH_QUICK_MS * NSEC_PER_MSEC)
				quick++;
			else
				quick = 0;
			if (o == STOPPED)
				break;
			/*
			 * A server that ends every watch at once (or answers each with 410)
			 * would make a tight loop of requests: the second such end in a row
			 * waits for the backoff like an error.
			 */
			if ((o == OK || o == GONE) && quick >= 2) {
				snprintf(err, sizeof(err), "watch: %s at once, %u times in a row",
					 o == GONE ? "410 Gone" : "the server ended the stream",
					 quick);
				backoff(k, err);
				if (o == GONE)
					break;
				continue;
			}
			if (o == OK)
				continue; /* the server ended the watch: go on from the last rv */
			if (o == GONE) {
				cruise_log(
					CRUISE_LOG_INFO,
					"kubernetes API: watch expired (410 Gone), listing again",
					"watch", k->what, NULL);
				break;
			}
			snprintf(err, sizeof(err), "watch: %s", x.err);
			backoff(k, err);
			break;
		}
	}
	return NULL;
}

const char *cruise_k8s_conn_problem(const struct cruise_k8s_conn *c)
{
	if (!c->host || !*c->host || !c->port || !*c->port)
		return "no API server: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not "
		       "set (is this a pod?)";
	return NULL;
}

int cruise_k8s_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) ? -1 : 0;
}

void cruise_k8s_global_cleanup(void)
{
	curl_global_cleanup();
}

struct cruise_k8s_watch *cruise_k8s_watch_start(const struct cruise_k8s_conn *c, const char *path,
						const char *what,
						const struct cruise_k8s_kind *kind, void *ctx,
						char *err, size_t errlen)
{
	struct cruise_k8s_watch *k;
	pthread_condattr_t ca;
	const char *problem = cruise_k8s_conn_problem(c);

	if (problem) {
		snprintf(err, errlen, "%s", problem);
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	k->o = *c;
	k->kind = kind;
	k->ctx = ctx;
	k->host = strdup(c->host);
	k->port = strdup(c->port);
	k->secrets = strdup(c->secrets_dir ? c->secrets_dir : CRUISE_K8S_SECRETS);
	k->path = strdup(path);
	k->what = strdup(what);
	k->seed = (unsigned int)getpid() ^ (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)k;
	if (!k->o.backoff_min_ms)
		k->o.backoff_min_ms = 500;
	if (k->o.backoff_max_ms < k->o.backoff_min_ms)
		k->o.backoff_max_ms = k->o.backoff_min_ms;
	pthread_mutex_init(&k->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (!k->host || !k->port || !k->secrets || !k->path || !k->what) {
		snprintf(err, errlen, "out of memory");
		cruise_k8s_watch_stop(k);
		return NULL;
	}
	if (pthread_create(&k->thread, NULL, run, k)) {
		snprintf(err, errlen, "cannot start the API thread");
		cruise_k8s_watch_stop(k);
		return NULL;
	}
	k->started = true;
	return k;
}

void cruise_k8s_watch_stats(struct cruise_k8s_watch *k, struct cruise_k8s_stats *s)
{
	pthread_mutex_lock(&k->lock);
	*s = k->st;
	pthread_mutex_unlock(&k->lock);
}

void cruise_k8s_watch_cancel(struct cruise_k8s_watch *k)
{
	if (!k)
		return;
	atomic_store(&k->stop, true);
	pthread_mutex_lock(&k->lock);
	pthread_cond_broadcast(&k->wake);
	pthread_mutex_unlock(&k->lock);
}

void cruise_k8s_watch_stop(struct cruise_k8s_watch *k)
{
	if (!k)
		return;
	cruise_k8s_watch_cancel(k);
	if (k->started)
		pthread_join(k->thread, NULL);
	pthread_cond_destroy(&k->wake);
	pthread_mutex_destroy(&k->lock);
	free(k->host);
	free(k->port);
	free(k->secrets);
	free(k->path);
	free(k->what);
	free(k);
}

void cruise_k8s_notify(int efd)
{
	__u64 one = 1;

	if (write(efd, &one, sizeof(one)) < 0) {
		/* the counter is full: the main loop has news to read anyway */
	}
}

char *cruise_k8s_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = *s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			*o++ = ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}
