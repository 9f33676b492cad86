/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Pods as the agent needs them: parsed from the Kubernetes API's JSON (a PodList, or one watch
 * event), strictly, with jansson; matched against the media's label selectors; and found in the
 * cgroup tree as kubelet lays it out, by UID. Nothing here talks to the network (the watch of
 * k8s_pod_watch.h does).
 */
#ifndef CRUISE_K8S_PODS_H
#define CRUISE_K8S_PODS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "config.h"
#include "k8s_json.h" /* the event types, CRUISE_K8S_RV_LEN */

#define CRUISE_POD_UID_LEN    64 /* a UUID is 36; a mirror pod's config hash 32 */
#define CRUISE_POD_MAX_LABELS 256
#define CRUISE_POD_NAME_LEN   320 /* "namespace/name", for logs */

enum cruise_pod_qos {
	CRUISE_QOS_UNKNOWN, /* no status yet: every layout is tried */
	CRUISE_QOS_GUARANTEED,
	CRUISE_QOS_BURSTABLE,
	CRUISE_QOS_BESTEFFORT,
};

struct cruise_pod {
	char uid[CRUISE_POD_UID_LEN];	 /* the API object's metadata.uid */
	char cg_uid[CRUISE_POD_UID_LEN]; /* kubelet's: a static pod's config hash, else uid */
	char name[CRUISE_POD_NAME_LEN];	 /* namespace/name */
	enum cruise_pod_qos qos;
	bool finished;	  /* phase Succeeded or Failed: its cgroup is gone or going */
	const char *skip; /* why this pod is never bound (a static string), or NULL */
	struct cruise_label *labels;
	unsigned int n_labels;
};

void cruise_pod_free(struct cruise_pod *p);
void cruise_pods_free(struct cruise_pod *v, size_t n);
/* A deep copy of v (the API thread's table, for the main loop). */
int cruise_pods_copy(const struct cruise_pod *v, size_t n, struct cruise_pod **out);

struct cruise_k8s_event {
	enum cruise_k8s_event_type type;
	struct cruise_pod pod;	    /* ADDED, MODIFIED, DELETED */
	char rv[CRUISE_K8S_RV_LEN]; /* the object's resourceVersion ("" for an ERROR) */
};

/*
 * A PodList (the body of GET /api/v1/pods): every item must parse, or nothing is returned (a
 * list with a bad item would unbind pods that are still there). err: one line.
 */
int cruise_k8s_parse_list(const char *buf, size_t len, struct cruise_pod **pods, size_t *n,
			  char *rv, size_t rvlen, char *err, size_t errlen);
/* One line of a watch stream: {"type": ..., "object": {...}}. */
int cruise_k8s_parse_event(const char *buf, size_t len, struct cruise_k8s_event *ev, char *err,
			   size_t errlen);

/* The first medium (config order) whose selector the pod's labels satisfy, or -1. */
int cruise_pod_medium(const struct cruise_config *cfg, const struct cruise_pod *p);
/* The same, among the media from index first on (to find a second medium that selects p). */
int cruise_pod_medium_from(const struct cruise_config *cfg, const struct cruise_pod *p,
			   unsigned int first);

/*
 * The pod's cgroup under base (the scope, absolute), by kubelet's layouts: cgroupfs driver
 * kubepods[/burstable|/besteffort]/pod<uid>, systemd driver kubepods.slice/kubepods[-burstable|
 * -besteffort].slice/kubepods[-qos]-pod<uid with '_' for '-'>.slice. Its containers' cgroups
 * (cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope or <id>) are below it and paced
 * with it by the datapath, so the pod level is bound. rel: the path under base. -ENOENT when not
 * there (not created yet, or another layout): never guessed.
 */
int cruise_pod_cgroup(const char *base, const struct cruise_pod *p, char *rel, size_t rellen,
		      __u64 *cgroup_id);

#endif /* CRUISE_K8S_PODS_H */
