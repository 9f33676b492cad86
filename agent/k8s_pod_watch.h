/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pods on this node, kept in step with the Kubernetes API by a watch (k8s_api.h) of
 * /api/v1/pods?fieldSelector=spec.nodeName=NODE. The main loop learns of a change through an
 * eventfd and takes a copy of the whole table (a node runs at most a few hundred pods). A malformed
 * response changes nothing: the table, and so the bindings in force, stay as they were until a
 * good list or event arrives.
 */
#ifndef CRUISE_K8S_POD_WATCH_H
#define CRUISE_K8S_POD_WATCH_H

#include <stddef.h>

#include "k8s_api.h"
#include "k8s_pods.h"

struct cruise_k8s;

/* Start watching the pods of node (spec.nodeName); NULL with err set. */
struct cruise_k8s *cruise_k8s_start(const struct cruise_k8s_conn *c, const char *node, char *err,
				    size_t errlen);
/* Readable when the table changed since the last cruise_k8s_take. */
int cruise_k8s_fd(const struct cruise_k8s *k);
/* A copy of the pod table (free with cruise_pods_free); -EAGAIN before the first list. */
int cruise_k8s_take(struct cruise_k8s *k, struct cruise_pod **pods, size_t *n);
void cruise_k8s_stats(struct cruise_k8s *k, struct cruise_k8s_stats *s);
/* Stop the watch (within about a second) and free everything. NULL: nothing. */
void cruise_k8s_stop(struct cruise_k8s *k);

#endif /* CRUISE_K8S_POD_WATCH_H */
