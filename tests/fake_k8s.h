/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A fake Kubernetes API server for test_k8s. No Kubernetes API server can run here, so the API
 * the agent talks to is this small mock, served by the test program itself: HTTPS (libmicrohttpd
 * with GnuTLS) with a certificate from a test CA made at test time with the openssl CLI, the
 * bearer token checked, GET /api/v1/pods?fieldSelector=spec.nodeName=NODE answered with a PodList,
 * and ...&watch=1&resourceVersion=RV with a chunked stream of ADDED, MODIFIED, DELETED and ERROR
 * events from that version on. The same for Services by name (GET /api/v1/namespaces/NS/services?
 * fieldSelector=metadata.name=NAME) and for their EndpointSlices (GET /apis/discovery.k8s.io/v1/
 * namespaces/NS/endpointslices?labelSelector=kubernetes.io/service-name=NAME): each watch gets the
 * events of its own collection, resourceVersions counting across all of them as the real API's do.
 * The test drives it: pods, Services and slices added, changed and deleted; the API down (503,
 * open watches cut) and back; raw lines (garbage, truncated, huge, hostile) into the watches; list
 * bodies replaced; watches that end at once. It counts the requests it gets.
 */
#ifndef CRUISE_TEST_FAKE_K8S_H
#define CRUISE_TEST_FAKE_K8S_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#define FAKE_K8S_MAX_PODS     16
#define FAKE_K8S_MAX_SERVICES 4
#define FAKE_K8S_MAX_SLICES   4
#define FAKE_K8S_MAX_EPS      8 /* endpoints of a slice */
#define FAKE_K8S_KEY_LEN      160

/* A pod as the API shows it; the test fills it, an event or the next list publishes it. */
struct fake_k8s_pod {
	bool present;
	char uid[64];
	char name[64];
	char qos[16];	 /* Guaranteed, Burstable, BestEffort */
	char medium[32]; /* the cruise.io/medium label; "" none */
	char mirror[64]; /* kubernetes.io/config.mirror annotation; "" none */
};

/* A Service as the API shows it. */
struct fake_k8s_service {
	bool present;
	char ns[64], name[64];
	bool headless;	   /* spec.clusterIP "None" */
	char ips[2][48];   /* spec.clusterIPs, "" for none */
	uint16_t ports[2]; /* spec.ports[].port (TCP), 0 for none */
};

/* An EndpointSlice of Service `service`, one address per endpoint. */
struct fake_k8s_slice {
	bool present;
	char name[64];
	int service;			  /* index in services: its namespace and label */
	bool v6;			  /* addressType IPv6, else IPv4 */
	char addrs[FAKE_K8S_MAX_EPS][48]; /* "" for none */
	bool not_ready[FAKE_K8S_MAX_EPS]; /* conditions.ready false */
	uint16_t port;			  /* ports[0].port, 0 for no ports */
};

struct fake_k8s_event;
struct MHD_Daemon;

struct fake_k8s {
	struct MHD_Daemon *d;
	uint16_t port;
	char node[64];
	char token[128];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	__u64 rv; /* the current resourceVersion */
	struct fake_k8s_pod pods[FAKE_K8S_MAX_PODS];
	struct fake_k8s_service services[FAKE_K8S_MAX_SERVICES];
	struct fake_k8s_slice slices[FAKE_K8S_MAX_SLICES];
	struct fake_k8s_event *ev;
	size_t n_ev, cap_ev;
	bool down;		 /* 503 to everything, open watches cut */
	bool watch_ends;	 /* every watch answered 200 and ended at once */
	bool ends_with_bookmark; /* ... after one BOOKMARK event */
	bool stopping;
	char *list_override;	 /* served as the pods' list body while set */
	char *svc_list_override; /* served as every Service list's body while set */
	unsigned int requests, lists, watches, unauthorized, bad_selector;
	unsigned int svc_lists, svc_watches, slice_lists, slice_watches;
};

/* Whether libmicrohttpd was built with TLS, which the fake needs. */
bool fake_k8s_has_tls(void);
/*
 * In dir, with the openssl CLI: a test CA (ca.crt), a server certificate for 127.0.0.1 signed by
 * it (server.key, server.crt), a second, unrelated CA; and what the agent reads as its service
 * account: dir/sa (the token and the test CA) and dir/wrong-ca (the token and the other CA).
 * 0, or -1 (openssl's output in dir/openssl.log).
 */
int fake_k8s_make_certs(const char *dir, const char *token);
/* Serve on 127.0.0.1 at a free port with dir/server.key and dir/server.crt; 0 or -1. */
int fake_k8s_start(struct fake_k8s *f, const char *dir, const char *node, const char *token);
void fake_k8s_stop(struct fake_k8s *f);

/* Pod i changes (ADDED, MODIFIED, DELETED), with an event in every watch unless silent. */
void fake_k8s_pod_event(struct fake_k8s *f, int i, const char *type, bool silent);
/* The same for Service i (its watches) and EndpointSlice i (its Service's slices' watches). */
void fake_k8s_service_event(struct fake_k8s *f, int i, const char *type, bool silent);
void fake_k8s_slice_event(struct fake_k8s *f, int i, const char *type, bool silent);
/* A raw line into every pod watch stream (hostile input, or an ERROR event). */
void fake_k8s_raw(struct fake_k8s *f, const char *line, size_t len);
/* ... into the watches of Service i (slices: of its EndpointSlices). */
void fake_k8s_raw_service(struct fake_k8s *f, int i, bool slices, const char *line, size_t len);
/* Set one of its switches (down, watch_ends, ends_with_bookmark). */
void fake_k8s_set(struct fake_k8s *f, bool *flag, bool v);
/* Serve body as the pods' list response while not NULL. */
void fake_k8s_list_override(struct fake_k8s *f, const char *body);
/* Serve body as every Service list's response while not NULL. */
void fake_k8s_svc_list_override(struct fake_k8s *f, const char *body);
/* Read one of its counters (requests, lists, ...). */
unsigned int fake_k8s_count(struct fake_k8s *f, const unsigned int *counter);

#endif /* CRUISE_TEST_FAKE_K8S_H */
