/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pods on this node, kept in step with the Kubernetes API: list, then watch from the list's
 * resourceVersion, list again on 410 Gone or any error, with exponential backoff (never a busy
 * loop while the API is away). libcurl, in a thread of its own: the blocking list and watch never
 * stall the agent's main loop, which learns of a change through an eventfd and takes a copy of the
 * whole table (a node runs at most a few hundred pods). A malformed response changes nothing: the
 * table, and so the bindings in force, stay as they were until a good list or event arrives.
 */
#ifndef CRUISE_K8S_API_H
#define CRUISE_K8S_API_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "k8s_pods.h"

#define CRUISE_K8S_SECRETS "/var/run/secrets/kubernetes.io/serviceaccount"

struct cruise_k8s_opts {
	const char *host;	 /* KUBERNETES_SERVICE_HOST */
	const char *port;	 /* KUBERNETES_SERVICE_PORT */
	const char *secrets_dir; /* token and ca.crt */
	const char *node;	 /* spec.nodeName of the pods to watch */
	unsigned int backoff_min_ms, backoff_max_ms;
};

struct cruise_k8s_stats {
	bool synced;	/* a list has been taken since the start */
	bool connected; /* the last request got a good answer and no error since */
	__u64 lists;	/* good lists */
	__u64 events;	/* good watch events */
	__u64 errors;	/* failed requests and rejected responses */
	__u64 requests; /* list and watch requests started */
};

struct cruise_k8s;

/* Start the thread; NULL with err set when opts are incomplete. */
struct cruise_k8s *cruise_k8s_start(const struct cruise_k8s_opts *o, char *err, size_t errlen);
/* Readable when the table changed since the last cruise_k8s_take. */
int cruise_k8s_fd(const struct cruise_k8s *k);
/* A copy of the pod table (free with cruise_pods_free); -EAGAIN before the first list. */
int cruise_k8s_take(struct cruise_k8s *k, struct cruise_pod **pods, size_t *n);
void cruise_k8s_stats(struct cruise_k8s *k, struct cruise_k8s_stats *s);
/* Stop the thread (within about a second) and free everything. */
void cruise_k8s_stop(struct cruise_k8s *k);

#endif /* CRUISE_K8S_API_H */
