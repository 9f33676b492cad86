/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Kubernetes API client every watched kind shares (the node's pods: k8s_pod_watch.h; Services
 * and their EndpointSlices: k8s_services.h). A watch keeps one collection in step: list, then
 * watch from the list's resourceVersion, list again on 410 Gone or any error, with exponential
 * backoff and jitter (never a busy loop while the API is away). libcurl, in a thread per watch:
 * the blocking list and watch never stall the agent's main loop. What the API sends goes to the
 * kind's callbacks (struct cruise_k8s_kind), which keep their own table and tell their owner; a
 * response they reject changes nothing, and the watch lists again after its backoff.
 */
#ifndef CRUISE_K8S_API_H
#define CRUISE_K8S_API_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "k8s_json.h" /* enum cruise_k8s_event_type */

#define CRUISE_K8S_SECRETS "/var/run/secrets/kubernetes.io/serviceaccount"

/* Where the API server is, the service account's files, and how to retry. */
struct cruise_k8s_conn {
	const char *host;	 /* KUBERNETES_SERVICE_HOST */
	const char *port;	 /* KUBERNETES_SERVICE_PORT */
	const char *secrets_dir; /* token and ca.crt; NULL: CRUISE_K8S_SECRETS */
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

/* What a watch does with what the API sends: called in the watch's own thread. */
struct cruise_k8s_kind {
	/* A list's body, taken whole (0) or rejected (err, one line) with nothing changed. */
	int (*list)(void *ctx, const char *body, size_t len, char *rv, size_t rvlen, char *err,
		    size_t errlen);
	/*
	 * One line of the watch stream, applied (0: *type set, and rv but for ERROR and GONE, whose
	 * message is in err) or rejected (err) with nothing changed.
	 */
	int (*event)(void *ctx, const char *line, size_t len, enum cruise_k8s_event_type *type,
		     char *rv, size_t rvlen, char *err, size_t errlen);
	/* The warning of a failed request: what stays in force meanwhile. */
	const char *failed;
};

struct cruise_k8s_watch;

/* NULL when c names an API server, else why not (the agent is not in a pod). */
const char *cruise_k8s_conn_problem(const struct cruise_k8s_conn *c);
/*
 * Set up libcurl for the watches (once per owner, from the main thread, before its first watch);
 * cruise_k8s_global_cleanup after its last watch stopped. 0 or -1.
 */
int cruise_k8s_global_init(void);
void cruise_k8s_global_cleanup(void);
/*
 * Keep path in step ("/api/v1/pods?fieldSelector=...", its query escaped by cruise_k8s_escape)
 * with kind's callbacks, in a thread of its own; what names it in logs. NULL with err.
 */
struct cruise_k8s_watch *cruise_k8s_watch_start(const struct cruise_k8s_conn *c, const char *path,
						const char *what,
						const struct cruise_k8s_kind *kind, void *ctx,
						char *err, size_t errlen);
void cruise_k8s_watch_stats(struct cruise_k8s_watch *w, struct cruise_k8s_stats *s);
/* Tell it to stop (it does within about a second), so that many stop at once. */
void cruise_k8s_watch_cancel(struct cruise_k8s_watch *w);
/* Stop it, wait for its thread and free it. NULL: nothing. */
void cruise_k8s_watch_stop(struct cruise_k8s_watch *w);
/* Make efd, an eventfd the main loop polls, readable: a watch's owner has news. */
void cruise_k8s_notify(int efd);
/* s percent-encoded for a URL's query (malloc'd; NULL without memory). */
char *cruise_k8s_escape(const char *s);

#endif /* CRUISE_K8S_API_H */
