// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The node's pods (k8s_pod_watch.h): the table the watch's thread keeps, by UID, from lists and
 * events parsed by k8s_pods.c; the main loop takes copies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "k8s_pod_watch.h"
#include "log.h"

struct cruise_k8s {
	struct cruise_k8s_watch *w;
	char *node;
	int efd;
	bool curl;
	pthread_mutex_t lock; /* the table */
	struct cruise_pod *pods;
	size_t n, cap;
	bool synced; /* a list has been taken */
};

static ssize_t find(const struct cruise_k8s *k, const char *uid)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->pods[i].uid, uid))
			return i;
	return -1;
}

/* Takes over p's labels. */
static int upsert(struct cruise_k8s *k, struct cruise_pod *p)
{
	ssize_t i;

	pthread_mutex_lock(&k->lock);
	i = find(k, p->uid);
	if (i >= 0) {
		cruise_pod_free(&k->pods[i]);
		k->pods[i] = *p;
	} else {
		if (k->n == k->cap) {
			size_t cap = k->cap ? k->cap * 2 : 64;
			struct cruise_pod *v = realloc(k->pods, cap * sizeof(*v));

			if (!v) {
				pthread_mutex_unlock(&k->lock);
				cruise_pod_free(p);
				return -ENOMEM;
			}
			k->pods = v;
			k->cap = cap;
		}
		k->pods[k->n++] = *p;
	}
	pthread_mutex_unlock(&k->lock);
	memset(p, 0, sizeof(*p));
	return 0;
}

static void delete (struct cruise_k8s *k, const char *uid)
{
	ssize_t i;

	pthread_mutex_lock(&k->lock);
	i = find(k, uid);
	if (i >= 0) {
		cruise_pod_free(&k->pods[i]);
		k->pods[i] = k->pods[--k->n];
	}
	pthread_mutex_unlock(&k->lock);
}

/* the watch's callbacks */

static int pods_list(void *ctx, const char *body, size_t len, char *rv, size_t rvlen, char *err,
		     size_t errlen)
{
	struct cruise_k8s *k = ctx;
	struct cruise_pod *pods, *old;
	size_t n, old_n;
	char n_s[24];
	int ret = cruise_k8s_parse_list(body, len, &pods, &n, rv, rvlen, err, errlen);

	if (ret)
		return ret;
	pthread_mutex_lock(&k->lock);
	old = k->pods;
	old_n = k->n;
	k->pods = pods;
	k->n = k->cap = n;
	k->synced = true;
	pthread_mutex_unlock(&k->lock);
	cruise_pods_free(old, old_n);
	cruise_k8s_notify(k->efd);
	snprintf(n_s, sizeof(n_s), "%zu", n);
	cruise_log(CRUISE_LOG_INFO, "kubernetes: listed the node's pods", "node", k->node, "pods",
		   n_s, "resource_version", rv, NULL);
	return 0;
}

static int pods_event(void *ctx, const char *line, size_t len, enum cruise_k8s_event_type *type,
		      char *rv, size_t rvlen, char *err, size_t errlen)
{
	struct cruise_k8s *k = ctx;
	struct cruise_k8s_event ev;
	int ret = cruise_k8s_parse_event(line, len, &ev, err, errlen);

	if (ret)
		return ret;
	*type = ev.type;
	snprintf(rv, rvlen, "%s", ev.rv);
	switch (ev.type) {
	case CRUISE_K8S_DELETED:
		delete (k, ev.pod.uid);
		cruise_pod_free(&ev.pod);
		break;
	case CRUISE_K8S_ADDED:
	case CRUISE_K8S_MODIFIED:
		if (upsert(k, &ev.pod)) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		break;
	default:
		return 0; /* nothing of the table: a bookmark, or an ERROR for the watch to end */
	}
	cruise_k8s_notify(k->efd);
	return 0;
}

static const struct cruise_k8s_kind pods_kind = {
	.list = pods_list,
	.event = pods_event,
	.failed = "kubernetes API: request failed; the bindings in force stay",
};

struct cruise_k8s *cruise_k8s_start(const struct cruise_k8s_conn *c, const char *node, char *err,
				    size_t errlen)
{
	const char *problem = cruise_k8s_conn_problem(c);
	char *sel = NULL, *esc = NULL, *path = NULL;
	struct cruise_k8s *k;

	if (problem) {
		snprintf(err, errlen, "%s", problem);
		return NULL;
	}
	if (!node || !*node) {
		snprintf(err, errlen,
			 "no node name: set NODE_NAME (the downward API's "
			 "spec.nodeName) or --node-name");
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&k->lock, NULL);
	k->node = strdup(node);
	k->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (asprintf(&sel, "spec.nodeName=%s", node) < 0)
		sel = NULL;
	esc = sel ? cruise_k8s_escape(sel) : NULL;
	if (!esc || asprintf(&path, "/api/v1/pods?fieldSelector=%s", esc) < 0)
		path = NULL;
	if (!k->node || k->efd < 0 || !path) {
		snprintf(err, errlen, "out of memory or file descriptors");
		goto fail;
	}
	if (cruise_k8s_global_init()) {
		snprintf(err, errlen, "cannot initialize libcurl");
		goto fail;
	}
	k->curl = true;
	k->w = cruise_k8s_watch_start(c, path, "pods", &pods_kind, k, err, errlen);
	if (!k->w)
		goto fail;
	free(sel);
	free(esc);
	free(path);
	return k;
fail:
	free(sel);
	free(esc);
	free(path);
	cruise_k8s_stop(k);
	return NULL;
}

int cruise_k8s_fd(const struct cruise_k8s *k)
{
	return k->efd;
}

int cruise_k8s_take(struct cruise_k8s *k, struct cruise_pod **pods, size_t *n)
{
	__u64 v;
	int ret;

	if (read(k->efd, &v, sizeof(v)) < 0) {
		/* nothing new: a copy all the same, for a rescan */
	}
	pthread_mutex_lock(&k->lock);
	ret = k->synced ? cruise_pods_copy(k->pods, k->n, pods) : -EAGAIN;
	if (!ret)
		*n = k->n;
	pthread_mutex_unlock(&k->lock);
	return ret;
}

void cruise_k8s_stats(struct cruise_k8s *k, struct cruise_k8s_stats *s)
{
	cruise_k8s_watch_stats(k->w, s);
}

void cruise_k8s_stop(struct cruise_k8s *k)
{
	if (!k)
		return;
	cruise_k8s_watch_stop(k->w);
	if (k->curl)
		cruise_k8s_global_cleanup();
	pthread_mutex_destroy(&k->lock);
	cruise_pods_free(k->pods, k->n);
	if (k->efd >= 0)
		close(k->efd);
	free(k->node);
	free(k);
}
