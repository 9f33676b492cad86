// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Refusal events from the ring buffer to log lines: one JSON line (or text line) per refusal, at
 * most a token bucket's worth per medium, the rest counted and reported once a second per medium.
 * Cgroup ids are turned into paths by walking the cgroup2 tree, cached.
 */
#define _GNU_SOURCE /* strerrorname_np */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <bpf/libbpf.h>

#include "bind.h"
#include "eventlog.h"
#include "loader.h" /* cruise_now_ns */
#include "log.h"
#include "units.h"

#define LINE_MAX_LEN 8192

/* a bounded string builder: output is cut at the buffer's end, always terminated */

struct sbuf {
	char *b;
	size_t len, n;
};

static void sb_init(struct sbuf *sb, char *buf, size_t len)
{
	sb->b = buf;
	sb->len = len;
	sb->n = 0;
	if (len)
		buf[0] = '\0';
}

static void sb_printf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->n + 1 >= sb->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(sb->b + sb->n, sb->len - sb->n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb->n = (size_t)n >= sb->len - sb->n ? sb->len - 1 : sb->n + n;
}

static void sb_puts(struct sbuf *sb, const char *s)
{
	sb_printf(sb, "%s", s);
}

/* The body of a JSON string (no quotes), escaped as log.h says. */
static void sb_json(struct sbuf *sb, const char *str, size_t n)
{
	if (sb->n + 1 >= sb->len)
		return;
	cruise_json_append(sb->b, sb->len, str, n);
	sb->n = strlen(sb->b);
}

/* A text (logfmt) value: bare when it is plain, else quoted and escaped as in JSON. */
static void sb_text(struct sbuf *sb, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	bool plain = n && s[0];

	for (size_t i = 0; i < n && s[i] && plain; i++)
		plain = s[i] > 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '=' && s[i] != '\\';
	if (plain) {
		sb_printf(sb, "%.*s", (int)strnlen(str, n), str);
		return;
	}
	sb_puts(sb, "\"");
	sb_json(sb, str, n);
	sb_puts(sb, "\"");
}

/* a string field: ,"key":"value" or  key=value */
static void sb_field(struct sbuf *sb, enum cruise_log_format fmt, const char *key, const char *v,
		     size_t n)
{
	if (fmt == CRUISE_LOG_JSON) {
		sb_printf(sb, ",\"%s\":\"", key);
		sb_json(sb, v, n);
		sb_puts(sb, "\"");
	} else {
		sb_printf(sb, " %s=", key);
		sb_text(sb, v, n);
	}
}

/* a number, boolean or null: ,"key":raw or  key=raw */
static void sb_raw(struct sbuf *sb, enum cruise_log_format fmt, const char *key, const char *raw)
{
	sb_printf(sb, fmt == CRUISE_LOG_JSON ? ",\"%s\":%s" : " %s=%s", key, raw);
}

static void sb_start(struct sbuf *sb, enum cruise_log_format fmt, __u64 ev_ns, const char *msg)
{
	char ts[48];

	cruise_log_time(ts, sizeof(ts), ev_ns);
	if (fmt == CRUISE_LOG_JSON)
		sb_printf(sb, "{\"ts\":\"%s\",\"level\":\"warn\",\"msg\":\"%s\"", ts, msg);
	else
		sb_printf(sb, "%s warn  %s", ts, msg);
}

static void sb_end(struct sbuf *sb, enum cruise_log_format fmt)
{
	if (fmt == CRUISE_LOG_JSON)
		sb_puts(sb, "}");
}

static void fmt_dest(char *buf, size_t len, const struct cruise_event *e)
{
	static const __u8 v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char a[INET6_ADDRSTRLEN] = "?";

	if (e->family == AF_INET || !memcmp(e->daddr, v4mapped, sizeof(v4mapped))) {
		inet_ntop(AF_INET, &e->daddr[12], a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, e->dport);
	} else {
		inet_ntop(AF_INET6, e->daddr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, e->dport);
	}
}

static const char *reason_name(__u32 reason)
{
	switch (reason) {
	case CRUISE_REASON_MAX_WAIT:
		return "max_wait";
	case CRUISE_REASON_MAX_CONNS:
		return "max_conns";
	default:
		return "unknown";
	}
}

static void fmt_errno(char *buf, size_t len, int err)
{
	const char *name = cruise_errno_name(err);

	if (!name)
		name = strerrorname_np(err);
	if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%d", err);
}

/* wait in ms with up to three decimals: 150.4 */
static void fmt_ms(char *buf, size_t len, __u64 ns)
{
	__u64 us = ns / 1000;
	unsigned int frac = us % 1000;
	int n;

	n = snprintf(buf, len, "%" PRIu64, (uint64_t)(us / 1000));
	if (!frac || n < 0 || (size_t)n >= len)
		return;
	snprintf(buf + n, len - n, ".%03u", frac);
	for (n = (int)strlen(buf); buf[n - 1] == '0'; n--)
		buf[n - 1] = '\0';
}

void cruise_event_format(const struct cruise_event *e, enum cruise_log_format fmt,
			 const char *medium, const char *cgroup_path, char *buf, size_t len)
{
	char num[64], dest[INET6_ADDRSTRLEN + 16];
	struct sbuf sb;

	sb_init(&sb, buf, len);
	sb_start(&sb, fmt, e->ts_ns, "connect refused");
	if (medium) {
		sb_field(&sb, fmt, "medium", medium, strlen(medium));
	} else {
		snprintf(num, sizeof(num), "%u", e->medium);
		sb_field(&sb, fmt, "medium", num, strlen(num));
	}
	if (cgroup_path) {
		sb_field(&sb, fmt, "cgroup", cgroup_path, strlen(cgroup_path));
	} else {
		snprintf(num, sizeof(num), "cgroup:%" PRIu64, (uint64_t)e->cgroup_id);
		sb_field(&sb, fmt, "cgroup", num, strlen(num));
	}
	snprintf(num, sizeof(num), "%u", e->pid);
	sb_raw(&sb, fmt, "pid", num);
	sb_field(&sb, fmt, "comm", e->comm, strnlen(e->comm, sizeof(e->comm)));
	fmt_dest(dest, sizeof(dest), e);
	sb_field(&sb, fmt, "dest", dest, strlen(dest));
	sb_field(&sb, fmt, "reason", reason_name(e->reason), strlen(reason_name(e->reason)));
	if (e->err) { /* 0 in dry-run: nothing failed */
		fmt_errno(num, sizeof(num), e->err);
		sb_field(&sb, fmt, "errno", num, strlen(num));
	} else {
		sb_raw(&sb, fmt, "errno", fmt == CRUISE_LOG_JSON ? "null" : "-");
	}
	fmt_ms(num, sizeof(num), e->wait_ns);
	sb_raw(&sb, fmt, "wait_ms", num);
	sb_raw(&sb, fmt, "dry_run", e->dry_run ? "true" : "false");
	sb_end(&sb, fmt);
}

/* cgroup id to path: a walk of the tree, cached */

#define CG_CACHE_SLOTS	 256
#define CG_MISS_RETRY_NS NSEC_PER_SEC /* a cgroup not found is looked for again after this */

struct cg_entry {
	__u64 id;
	char *path; /* NULL: not found at miss_ns */
	__u64 miss_ns;
	bool used;
};

static struct {
	pthread_mutex_t lock;
	char root[PATH_MAX];
	struct cg_entry e[CG_CACHE_SLOTS];
} cg_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void cg_entry_clear(struct cg_entry *e)
{
	free(e->path);
	memset(e, 0, sizeof(*e));
}

/* The walk's search for one cgroup id (bind.h): its path into found, then stop. */
struct cg_search {
	__u64 id;
	char *path;
	size_t len;
	bool found;
};

static bool cg_match(void *ctx, __u64 id, const char *rel)
{
	struct cg_search *q = ctx;

	if (id != q->id || strlen(rel) >= q->len)
		return true;
	strcpy(q->path, rel);
	q->found = true;
	return false;
}

/* The cached path still names the cgroup id (cgroup ids are not reused while the system is up). */
static bool cg_still(const char *root, const char *rel, __u64 id)
{
	char full[PATH_MAX * 2];
	struct stat st;

	snprintf(full, sizeof(full), "%s%s", root, strcmp(rel, "/") ? rel : "");
	return !stat(full, &st) && st.st_ino == id;
}

static int cg_copy(const char *path, char *buf, size_t len)
{
	if (strlen(path) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, path);
	return 0;
}

int cruise_cgroup_path(const char *root, __u64 id, char *buf, size_t len)
{
	char path[PATH_MAX];
	struct cg_entry *e;
	int ret;

	if (!root || !*root || strlen(root) >= sizeof(cg_cache.root))
		return -EINVAL;
	pthread_mutex_lock(&cg_cache.lock);
	if (strcmp(root, cg_cache.root)) {
		for (int i = 0; i < CG_CACHE_SLOTS; i++)
			cg_entry_clear(&cg_cache.e[i]);
		strcpy(cg_cache.root, root);
	}
	e = &cg_cache.e[(id ^ id >> 8 ^ id >> 16) % CG_CACHE_SLOTS];
	if (e->used && e->id == id) {
		if (e->path && cg_still(root, e->path, id)) {
			ret = cg_copy(e->path, buf, len);
			goto out;
		}
		if (!e->path && cruise_now_ns() - e->miss_ns < CG_MISS_RETRY_NS) {
			ret = -ENOENT;
			goto out;
		}
	}
	cg_entry_clear(e);
	path[0] = '\0';
	{
		struct cg_search q = { .id = id, .path = path, .len = sizeof(path) };

		if (cruise_cgroup_walk(root, cg_match, &q) || !q.found)
			path[0] = '\0';
	}
	e->used = true;
	e->id = id;
	if (!path[0]) {
		e->miss_ns = cruise_now_ns();
		ret = -ENOENT;
		goto out;
	}
	e->path = strdup(path);
	ret = cg_copy(path, buf, len);
out:
	pthread_mutex_unlock(&cg_cache.lock);
	return ret;
}

/* the consumer */

struct rl_bucket {
	__u64 tokens; /* in billionths of a line */
	__u64 last_ns;
	__u64 pending; /* suppressed since the last report */
	__u64 last_report_ns;
	__u32 medium;
	bool init;
};

struct cruise_eventlog {
	struct ring_buffer *rb;
	FILE *out;
	enum cruise_log_format fmt;
	char *root;
	cruise_medium_name_fn name_of;
	void *ctx;
	unsigned int per_sec, burst;
	__u64 suppressed;
	struct rl_bucket b[CRUISE_MAX_MEDIA + 1]; /* the last one for indexes out of range */
	char line[LINE_MAX_LEN];
};

/* A token bucket per medium: per_sec lines a second, burst at once; per_sec 0 is no limit. */
static bool rl_take(struct cruise_eventlog *l, struct rl_bucket *b, __u64 now)
{
	__u64 cap = (__u64)l->burst * NSEC_PER_SEC, elapsed;

	if (!l->per_sec)
		return true;
	if (!b->init) {
		b->tokens = cap;
		b->last_ns = now;
		b->init = true;
	}
	elapsed = now > b->last_ns ? now - b->last_ns : 0;
	b->last_ns = now;
	if (elapsed > cap / l->per_sec)
		b->tokens = cap;
	else if (b->tokens + elapsed * l->per_sec > cap)
		b->tokens = cap;
	else
		b->tokens += elapsed * l->per_sec;
	if (b->tokens < NSEC_PER_SEC)
		return false;
	b->tokens -= NSEC_PER_SEC;
	return true;
}

static const char *medium_name(struct cruise_eventlog *l, __u32 medium, char *buf, size_t len)
{
	const char *name = l->name_of ? l->name_of(l->ctx, medium) : NULL;

	if (name)
		return name;
	snprintf(buf, len, "%u", medium);
	return buf;
}

static void report_suppressed(struct cruise_eventlog *l, struct rl_bucket *b, __u64 now)
{
	char idx[16], num[32];
	const char *name = medium_name(l, b->medium, idx, sizeof(idx));
	struct sbuf sb;

	sb_init(&sb, l->line, sizeof(l->line));
	sb_start(&sb, l->fmt, 0, "refusal log lines suppressed");
	sb_field(&sb, l->fmt, "medium", name, strlen(name));
	snprintf(num, sizeof(num), "%" PRIu64, (uint64_t)b->pending);
	sb_raw(&sb, l->fmt, "suppressed", num);
	sb_end(&sb, l->fmt);
	fprintf(l->out, "%s\n", l->line);
	b->pending = 0;
	b->last_report_ns = now;
}

/* One report per medium and second at most; all of them when the log is closed. */
static void flush_reports(struct cruise_eventlog *l, bool all)
{
	__u64 now = cruise_now_ns();

	for (unsigned int i = 0; i <= CRUISE_MAX_MEDIA; i++) {
		struct rl_bucket *b = &l->b[i];

		if (!b->pending)
			continue;
		if (all || !b->last_report_ns || now - b->last_report_ns >= NSEC_PER_SEC)
			report_suppressed(l, b, now);
	}
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct cruise_eventlog *l = ctx;
	char idx[16], path[PATH_MAX];
	const char *cg = NULL, *name;
	struct cruise_event e;
	struct rl_bucket *b;

	if (size < sizeof(e)) /* not ours: longer ones are from newer programs, read their start */
		return 0;
	memcpy(&e, data, sizeof(e));
	b = &l->b[e.medium < CRUISE_MAX_MEDIA ? e.medium : CRUISE_MAX_MEDIA];
	b->medium = e.medium;
	if (!rl_take(l, b, cruise_now_ns())) {
		b->pending++;
		l->suppressed++;
		return 0;
	}
	if (l->root && !cruise_cgroup_path(l->root, e.cgroup_id, path, sizeof(path)))
		cg = path;
	name = medium_name(l, e.medium, idx, sizeof(idx));
	cruise_event_format(&e, l->fmt, name, cg, l->line, sizeof(l->line));
	fprintf(l->out, "%s\n", l->line);
	return 0;
}

struct cruise_eventlog *cruise_eventlog_new(int ringbuf_fd, FILE *out, enum cruise_log_format fmt,
					    const char *cgroup_root, cruise_medium_name_fn name_of,
					    void *ctx, unsigned int per_sec, unsigned int burst)
{
	struct cruise_eventlog *l = calloc(1, sizeof(*l));
	int err;

	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	l->out = out ? out : stderr;
	l->fmt = fmt;
	l->name_of = name_of;
	l->ctx = ctx;
	l->per_sec = per_sec;
	l->burst = burst ? burst : 1; /* a bucket that holds nothing would log nothing */
	if (cgroup_root && *cgroup_root && !(l->root = strdup(cgroup_root))) {
		free(l);
		errno = ENOMEM;
		return NULL;
	}
	l->rb = ring_buffer__new(ringbuf_fd, on_event, l, NULL);
	if (!l->rb) {
		err = errno;
		free(l->root);
		free(l);
		errno = err;
		return NULL;
	}
	return l;
}

int cruise_eventlog_fd(struct cruise_eventlog *l)
{
	return ring_buffer__epoll_fd(l->rb);
}

void cruise_eventlog_tick(struct cruise_eventlog *l)
{
	flush_reports(l, false);
	fflush(l->out);
}

int cruise_eventlog_poll(struct cruise_eventlog *l, int timeout_ms)
{
	int n = ring_buffer__poll(l->rb, timeout_ms);

	cruise_eventlog_tick(l);
	return n == -EINTR ? 0 : n; /* a signal is for the caller's loop, not an error */
}

__u64 cruise_eventlog_suppressed(const struct cruise_eventlog *l)
{
	return l->suppressed;
}

void cruise_eventlog_free(struct cruise_eventlog *l)
{
	if (!l)
		return;
	flush_reports(l, true);
	fflush(l->out);
	ring_buffer__free(l->rb);
	free(l->root);
	free(l);
}
