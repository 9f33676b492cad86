/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Targets by Kubernetes Service (docs/design.md, "Targets by name"): every Service a target names
 * is watched by name (k8s_api.h: GET /api/v1/namespaces/NS/services?fieldSelector=metadata.name=
 * NAME, then watch), and while it is headless its EndpointSlices too (GET
 * /apis/discovery.k8s.io/v1/
 * namespaces/NS/endpointslices?labelSelector=kubernetes.io/service-name=NAME, then watch). Its
 * addresses and ports are what k8s_endpoints.h reads: the ClusterIPs and spec.ports, or the ready
 * endpoints and the slices' ports. A Service deleted (or not there), an answer that names no
 * address, a malformed answer: the last good addresses stay (a malformed answer is counted, and
 * its watch lists again after a backoff). The watches are threads of their own; the main loop
 * learns of a change through an eventfd and takes a copy of the table.
 */
#ifndef CRUISE_K8S_SERVICES_H
#define CRUISE_K8S_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "k8s_api.h"
#include "k8s_endpoints.h"

#define CRUISE_SVC_LABEL_LEN 64 /* a namespace or a Service's name: a DNS-1123 label, 63 */

/* A Service as the config names it. */
struct cruise_service_ref {
	const char *ns, *name;
};

/* What is known of one Service now. */
struct cruise_service {
	char ns[CRUISE_SVC_LABEL_LEN], name[CRUISE_SVC_LABEL_LEN];
	struct cruise_endpoints ep; /* the last good answer, sorted: its addresses and ports */
	bool known;		    /* a good answer named addresses since it is followed */
	bool headless;
	bool gone;  /* deleted, or not there: the addresses are the last good ones */
	bool empty; /* the last answer named no address: the addresses are the last good ones */
	bool up;    /* its watches' last requests got good answers */
	__u64 confirmed_ns; /* CLOCK_MONOTONIC of the last good answer; 0: none yet */
	__u64 changes;	    /* of the addresses, since it is followed */
	__u64 errors;	    /* failed requests, rejected answers, deletions */
};

struct cruise_k8s_services;

/* NULL with err when c names no API server. */
struct cruise_k8s_services *cruise_k8s_services_start(const struct cruise_k8s_conn *c, char *err,
						      size_t errlen);
/*
 * Follow these Services from now on (copied; each once). Those kept keep what was learned; new
 * ones are watched at once; gone ones are stopped. 0 or -ENOMEM (then some were not started).
 */
int cruise_k8s_services_set(struct cruise_k8s_services *s, const struct cruise_service_ref *refs,
			    size_t n);
/* Readable when the table changed. */
int cruise_k8s_services_fd(const struct cruise_k8s_services *s);
/*
 * A copy of the table, in the order of set; free(). 0 or -ENOMEM. drain: the eventfd is read first
 * (the main loop's copy; another thread's, for /metrics, must leave it to the main loop).
 */
int cruise_k8s_services_table(struct cruise_k8s_services *s, bool drain,
			      struct cruise_service **out, size_t *n);
/* Stop every watch (within about a second) and free everything. NULL: nothing. */
void cruise_k8s_services_stop(struct cruise_k8s_services *s);

#endif /* CRUISE_K8S_SERVICES_H */
