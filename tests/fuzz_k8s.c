// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: any bytes as a Kubernetes API PodList and as a watch event line
 * (agent/k8s_pods.c). Either pods come back whose UIDs are safe in a path, or an error; never a
 * crash or a leak.
 *
 *   .output/fuzz_k8s -max_total_time=20 tests/corpus/k8s
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_pods.h"

static void check(const struct cruise_pod *p)
{
	const char *uids[] = { p->uid, p->cg_uid };

	for (int k = 0; k < 2; k++) {
		if (!uids[k][0] ||
		    strspn(uids[k], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789-") != strlen(uids[k]))
			abort();
	}
	for (unsigned int i = 0; i < p->n_labels; i++)
		if (!p->labels[i].key || !p->labels[i].value)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cruise_k8s_event ev;
	struct cruise_pod *pods;
	char rv[CRUISE_K8S_RV_LEN], err[256];
	size_t n;

	if (!cruise_k8s_parse_list((const char *)data, size, &pods, &n, rv, sizeof(rv), err,
				   sizeof(err))) {
		if (!rv[0])
			abort();
		for (size_t i = 0; i < n; i++)
			check(&pods[i]);
		cruise_pods_free(pods, n);
	} else if (strchr(err, '\n')) {
		abort();
	}
	if (!cruise_k8s_parse_event((const char *)data, size, &ev, err, sizeof(err))) {
		if (ev.type == CRUISE_K8S_ADDED || ev.type == CRUISE_K8S_MODIFIED ||
		    ev.type == CRUISE_K8S_DELETED) {
			check(&ev.pod);
			if (!ev.rv[0])
				abort();
		}
		cruise_pod_free(&ev.pod);
	}
	return 0;
}
