// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The signals' probe threads and their sample queue (signals.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "loader.h" /* cruise_now_ns */
#include "signals.h"

#define QUEUE_LEN 256

struct sig_thread {
	struct cruise_signals *owner;
	struct cruise_cfg_signal cfg; /* a copy: the config may be freed by a reload */
	struct cruise_probe *probe;
	unsigned int index; /* under owner->lock */
	__u64 generation;   /* under owner->lock */
	bool stop;	    /* under owner->lock */
	enum cruise_probe_error last_err;
	struct sig_thread *next;
};

struct cruise_signals {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* CLOCK_MONOTONIC: stop, or a thread's next round */
	struct sig_thread *threads;
	struct cruise_signal_sample queue[QUEUE_LEN];
	size_t head, len;
	int efd;
};

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool cfg_same(const struct cruise_cfg_signal *a, const struct cruise_cfg_signal *b)
{
	return str_eq(a->name, b->name) && a->kind == b->kind && str_eq(a->query, b->query) &&
	       a->value == b->value && str_eq(a->conninfo, b->conninfo) && str_eq(a->url, b->url) &&
	       str_eq(a->bearer_token, b->bearer_token) && a->every_ns == b->every_ns;
}

static void push(struct cruise_signals *s, const struct cruise_signal_sample *x)
{
	__u64 one = 1;

	if (s->len == QUEUE_LEN) { /* the main loop is stuck: the oldest goes */
		s->head = (s->head + 1) % QUEUE_LEN;
		s->len--;
	}
	s->queue[(s->head + s->len++) % QUEUE_LEN] = *x;
	if (write(s->efd, &one, sizeof(one)) < 0) {
		/* the counter is full: the main loop wakes anyway */
	}
}

static struct timespec ts_of(__u64 ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000ULL, .tv_nsec = ns % 1000000000ULL };
}

/* From 0 to ns, at random. */
static __u64 spread(__u64 ns, unsigned int *seed)
{
	return (__u64)((double)rand_r(seed) / RAND_MAX * ns);
}

/* +-25% */
static __u64 jitter(__u64 ns, unsigned int *seed)
{
	return ns * 3 / 4 + spread(ns / 2, seed);
}

/* One sample: the probe, or a failure while the reconnection backs off. */
static void sample(struct sig_thread *t, struct cruise_signal_sample *x, __u64 *retry_at,
		   __u64 *backoff, unsigned int *seed)
{
	__u64 now = cruise_now_ns(), cap = 8 * t->cfg.every_ns;

	if (now < *retry_at) {
		/* the failure that started the backoff, for this round too */
		x->err = t->last_err;
		snprintf(x->msg, sizeof(x->msg),
			 "backing off after a %s failure; next attempt in %.1f s",
			 cruise_probe_error_name(t->last_err), (*retry_at - now) / 1e9);
		return;
	}
	x->err = cruise_probe_run(t->probe, now + t->cfg.every_ns, &x->value, x->msg,
				  sizeof(x->msg));
	t->last_err = x->err;
	x->took_ns = cruise_now_ns() - now;
	if (x->err != CRUISE_PROBE_CONNECT && x->err != CRUISE_PROBE_TIMEOUT) {
		*backoff = 0;
		return;
	}
	if (cap > CRUISE_SIGNAL_BACKOFF_MAX_NS)
		cap = CRUISE_SIGNAL_BACKOFF_MAX_NS;
	*backoff = *backoff ? *backoff * 2 : t->cfg.every_ns;
	if (*backoff > cap)
		*backoff = cap;
	/* the first retry is the next round's: backing off starts with the second */
	*retry_at = *backoff > t->cfg.every_ns ? now + jitter(*backoff, seed) : 0;
}

static void *sig_main(void *arg)
{
	struct sig_thread *t = arg, **pp;
	struct cruise_signals *s = t->owner;
	__u64 grid = cruise_now_ns(), next = grid, retry_at = 0, backoff = 0;
	unsigned int seed = (unsigned int)(grid ^ (uintptr_t)t);

	for (;;) {
		struct cruise_signal_sample x;
		struct timespec ts = ts_of(next);
		bool stop;

		pthread_mutex_lock(&s->lock);
		while (!t->stop && cruise_now_ns() < next)
			pthread_cond_timedwait(&s->wake, &s->lock, &ts);
		stop = t->stop;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			break;
		memset(&x, 0, sizeof(x));
		sample(t, &x, &retry_at, &backoff, &seed);
		pthread_mutex_lock(&s->lock);
		if (!t->stop) {
			x.signal = t->index;
			x.generation = t->generation;
			push(s, &x);
		}
		pthread_mutex_unlock(&s->lock);
		grid += t->cfg.every_ns;
		if (grid <= cruise_now_ns()) /* a probe ran late: no catching up */
			grid = cruise_now_ns() + t->cfg.every_ns;
		next = grid - t->cfg.every_ns / 8 + spread(t->cfg.every_ns / 4, &seed);
	}
	pthread_mutex_lock(&s->lock);
	for (pp = &s->threads; *pp && *pp != t; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = t->next;
	pthread_cond_broadcast(&s->wake); /* cruise_signals_stop waits for the list to empty */
	pthread_mutex_unlock(&s->lock);
	cruise_probe_free(t->probe);
	cruise_cfg_signal_free(&t->cfg);
	free(t);
	return NULL;
}

struct cruise_signals *cruise_signals_new(char *err, size_t errlen)
{
	struct cruise_signals *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	return s;
}

int cruise_signals_fd(struct cruise_signals *s)
{
	return s ? s->efd : -1;
}

static struct cruise_probe *probe_of(const struct cruise_cfg_signal *c)
{
	if (c->kind == CRUISE_SIGNAL_POSTGRES) {
		struct cruise_probe_pg_opts o = { c->conninfo, c->query, c->value };

		return cruise_probe_pg_new(&o);
	} else {
		struct cruise_probe_prom_opts o = { c->url, c->query, c->bearer_token };

		return cruise_probe_prom_new(&o);
	}
}

/* A new thread for cfg's signal i; at the caller's lock. */
static int start(struct cruise_signals *s, const struct cruise_cfg_signal *c, unsigned int i,
		 __u64 generation)
{
	struct sig_thread *t = calloc(1, sizeof(*t));
	pthread_attr_t attr;
	pthread_t tid;
	int ret;

	if (!t)
		return -ENOMEM;
	if (cruise_cfg_signal_copy(&t->cfg, c)) {
		free(t);
		return -ENOMEM;
	}
	t->probe = probe_of(&t->cfg);
	if (!t->probe) {
		cruise_cfg_signal_free(&t->cfg);
		free(t);
		return -ENOMEM;
	}
	t->owner = s;
	t->index = i;
	t->generation = generation;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = -pthread_create(&tid, &attr, sig_main, t);
	pthread_attr_destroy(&attr);
	if (ret) {
		cruise_probe_free(t->probe);
		cruise_cfg_signal_free(&t->cfg);
		free(t);
		return ret;
	}
	t->next = s->threads;
	s->threads = t;
	return 0;
}

void cruise_signals_configure(struct cruise_signals *s, const struct cruise_config *cfg,
			      __u64 generation)
{
	bool kept[CRUISE_MAX_SIGNALS] = { false };
	struct sig_thread *t;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	for (t = s->threads; t; t = t->next) {
		unsigned int i;

		if (t->stop)
			continue;
		for (i = 0; i < cfg->n_signals; i++)
			if (!kept[i] && cfg_same(&t->cfg, &cfg->signals[i]))
				break;
		if (i == cfg->n_signals) {
			t->stop = true;
			continue;
		}
		kept[i] = true;
		t->index = i;
		t->generation = generation;
	}
	for (unsigned int i = 0; i < cfg->n_signals; i++) {
		int ret = kept[i] ? 0 : start(s, &cfg->signals[i], i, generation);

		if (ret)
			fprintf(stderr, "cruise-agent: cannot start the probe of signal %s: %s\n",
				cfg->signals[i].name, strerror(-ret));
	}
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

size_t cruise_signals_take(struct cruise_signals *s, struct cruise_signal_sample *out, size_t max)
{
	__u64 v;
	size_t n = 0;

	if (!s)
		return 0;
	if (read(s->efd, &v, sizeof(v)) < 0) {
		/* nothing signalled: a reload raced a sample; the queue says */
	}
	pthread_mutex_lock(&s->lock);
	while (s->len && n < max) {
		out[n++] = s->queue[s->head];
		s->head = (s->head + 1) % QUEUE_LEN;
		s->len--;
	}
	if (s->len) { /* more than max: come back */
		v = 1;
		if (write(s->efd, &v, sizeof(v)) < 0) {
		}
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

void cruise_signals_stop(struct cruise_signals *s)
{
	struct timespec ts;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	for (struct sig_thread *t = s->threads; t; t = t->next)
		t->stop = true;
	pthread_cond_broadcast(&s->wake);
	ts = ts_of(cruise_now_ns() + 1000000000ULL);
	while (s->threads && cruise_now_ns() < 1000000000ULL * ts.tv_sec + ts.tv_nsec)
		pthread_cond_timedwait(&s->wake, &s->lock, &ts);
	pthread_mutex_unlock(&s->lock);
	/* threads still in a probe end by themselves; s stays for them, the process is ending */
}
