/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A Service's and its EndpointSlices' JSON as the agent needs them (k8s_services.h): the addresses
 * and TCP ports they name. A Service: spec.clusterIPs (IPv4 and IPv6; spec.clusterIP when there are
 * none), or none when headless (spec.clusterIP "None") or of type ExternalName; spec.ports[].port.
 * An EndpointSlice: endpoints[].addresses of its ready endpoints (conditions.ready not false), of
 * its addressType (FQDN slices name no address); ports[].port. Parsed strictly (k8s_json.h): a
 * list with one bad item is rejected whole. Nothing here talks to the network.
 */
#ifndef CRUISE_K8S_ENDPOINTS_H
#define CRUISE_K8S_ENDPOINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "k8s_json.h"
#include "units.h" /* struct cruise_prefix */

#define CRUISE_SVC_MAX_ADDRS 128 /* per Service: its ClusterIPs, or its ready endpoints */
#define CRUISE_SVC_MAX_PORTS 16
#define CRUISE_K8S_NAME_LEN  254 /* an object's name: a DNS-1123 subdomain, 253 at most */

/* Addresses (full length) and TCP ports. */
struct cruise_endpoints {
	struct cruise_prefix addrs[CRUISE_SVC_MAX_ADDRS];
	unsigned int n_addrs;
	__u16 ports[CRUISE_SVC_MAX_PORTS];
	unsigned int n_ports;
	bool truncated; /* more than the arrays hold: the first ones kept */
};

/* One Service or one EndpointSlice. */
struct cruise_k8s_obj {
	char name[CRUISE_K8S_NAME_LEN]; /* metadata.name */
	bool headless;			/* a Service's spec.clusterIP is "None" */
	struct cruise_endpoints ep;
};

/*
 * A ServiceList or an EndpointSliceList: every item parsed, or nothing (err, one line). *v to
 * free(), n long.
 */
int cruise_k8s_parse_services(const char *buf, size_t len, struct cruise_k8s_obj **v, size_t *n,
			      char *rv, size_t rvlen, char *err, size_t errlen);
int cruise_k8s_parse_slices(const char *buf, size_t len, struct cruise_k8s_obj **v, size_t *n,
			    char *rv, size_t rvlen, char *err, size_t errlen);
/* One watch line of Services or of EndpointSlices: *type, and o for ADDED, MODIFIED, DELETED. */
int cruise_k8s_parse_service_event(const char *buf, size_t len, enum cruise_k8s_event_type *type,
				   struct cruise_k8s_obj *o, char *rv, size_t rvlen, char *err,
				   size_t errlen);
int cruise_k8s_parse_slice_event(const char *buf, size_t len, enum cruise_k8s_event_type *type,
				 struct cruise_k8s_obj *o, char *rv, size_t rvlen, char *err,
				 size_t errlen);

/* b's addresses and ports added to a's (each once). */
void cruise_endpoints_merge(struct cruise_endpoints *a, const struct cruise_endpoints *b);
/* Addresses and ports sorted, each once: two answers compare with memcmp. */
void cruise_endpoints_sort(struct cruise_endpoints *e);
/* "192.0.2.10 2001:db8::10" (cut to len). */
void cruise_endpoints_addrs_str(const struct cruise_prefix *a, unsigned int n, char *buf,
				size_t len);

#endif /* CRUISE_K8S_ENDPOINTS_H */
