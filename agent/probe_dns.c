// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Host names resolved within a deadline, for the PostgreSQL probe (probe_int.h). libpq calls
 * getaddrinfo() inside PQconnectPoll(), blocking for as long as the resolver takes (seconds per
 * try with a dead DNS server): the probe resolves first and hands libpq numeric addresses.
 * getaddrinfo() has no timeout and cannot be interrupted, so it runs in a detached thread; the
 * lookup and its waiter share one reference-counted job, so that a lookup given up on at the
 * deadline finishes and frees itself in its thread, and the caller never waits for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "probe_int.h"

struct dns_job {
	pthread_mutex_t lock;
	pthread_cond_t done_cond; /* on CLOCK_MONOTONIC, the deadlines' clock */
	int refs;		  /* the thread's and the waiter's */
	bool done;
	int rc; /* getaddrinfo's */
	struct addrinfo *res;
	char host[];
};

static void job_put(struct dns_job *j)
{
	int refs;

	pthread_mutex_lock(&j->lock);
	refs = --j->refs;
	pthread_mutex_unlock(&j->lock);
	if (refs)
		return;
	if (j->res)
		freeaddrinfo(j->res);
	pthread_cond_destroy(&j->done_cond);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

static void *lookup(void *arg)
{
	/* libpq's hints: any family, TCP */
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct dns_job *j = arg;
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(j->host, NULL, &hints, &res);

	pthread_mutex_lock(&j->lock);
	j->rc = rc;
	j->res = rc ? NULL : res;
	j->done = true;
	pthread_cond_signal(&j->done_cond);
	pthread_mutex_unlock(&j->lock);
	job_put(j);
	return NULL;
}

static struct dns_job *job_new(const char *host)
{
	size_t len = strlen(host) + 1;
	struct dns_job *j = calloc(1, sizeof(*j) + len);
	pthread_condattr_t ca;

	if (!j)
		return NULL;
	memcpy(j->host, host, len);
	j->refs = 2;
	pthread_mutex_init(&j->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->done_cond, &ca);
	pthread_condattr_destroy(&ca);
	return j;
}

/* The distinct addresses of res, numeric. */
static int collect(const struct addrinfo *res, char ***addrs, size_t *n)
{
	size_t cap = 0;
	char **v = NULL;

	*n = 0;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next, cap++)
		;
	v = calloc(cap ? cap : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char buf[NI_MAXHOST];
		bool seen = false;

		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, sizeof(buf), NULL, 0,
				NI_NUMERICHOST))
			continue;
		for (size_t i = 0; i < *n && !seen; i++)
			seen = !strcmp(v[i], buf);
		if (seen)
			continue;
		v[*n] = strdup(buf);
		if (!v[*n]) {
			cruise_probe_addrs_free(v, *n);
			return -ENOMEM;
		}
		(*n)++;
	}
	*addrs = v;
	return 0;
}

int cruise_probe_resolve(const char *host, __u64 deadline_ns, char ***addrs, size_t *n, char *err,
			 size_t errlen)
{
	struct dns_job *j = job_new(host);
	struct timespec until = {
		.tv_sec = deadline_ns / 1000000000ULL,
		.tv_nsec = deadline_ns % 1000000000ULL,
	};
	pthread_attr_t attr;
	pthread_t t;
	bool done;
	int rc;

	*addrs = NULL;
	*n = 0;
	if (!j) {
		cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, lookup, j);
	pthread_attr_destroy(&attr);
	if (rc) {
		j->refs = 1;
		job_put(j);
		cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen,
				  "cannot start a thread to resolve \"%s\": %s", host,
				  strerror(rc));
		return -rc;
	}
	pthread_mutex_lock(&j->lock);
	while (!j->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&j->done_cond, &j->lock, &until);
	done = j->done; /* once set, the thread no longer touches rc and res */
	pthread_mutex_unlock(&j->lock);
	if (!done) {
		job_put(j);
		cruise_probe_fail(CRUISE_PROBE_TIMEOUT, err, errlen,
				  "resolving \"%s\" took past the deadline", host);
		return -ETIMEDOUT;
	}
	if (j->rc) {
		cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen, "could not resolve \"%s\": %s",
				  host, gai_strerror(j->rc));
		rc = -ENOENT;
	} else {
		rc = collect(j->res, addrs, n);
		if (!rc && !*n) {
			cruise_probe_addrs_free(*addrs, 0);
			*addrs = NULL;
			rc = -ENOENT;
		}
		if (rc)
			cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen,
					  "could not resolve \"%s\": %s", host,
					  rc == -ENOMEM ? "out of memory" : "no address");
	}
	job_put(j);
	return rc;
}

void cruise_probe_addrs_free(char **addrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(addrs[i]);
	free(addrs);
}
