// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The fake Kubernetes API of test_k8s (fake_k8s.h). It is a mock because no Kubernetes API server
 * can run here: it serves what the agent's client asks for (the node's pods, Services by name and
 * their EndpointSlices, listed then watched) with the formats and the failures of the real API,
 * and nothing more.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "cruise.h" /* NSEC_PER_* */
#include "fake_k8s.h"
#include "helpers.h"

/* The collections a watch can follow, each with its own events: */
#define KEY_PODS "pods"
#define KEY_SVC	 "svc/%s/%s" /* a Service by namespace and name */
#define KEY_EPS	 "eps/%s/%s" /* its EndpointSlices */

struct fake_k8s_event {
	char key[FAKE_K8S_KEY_LEN]; /* the collection */
	__u64 rv;
	char *line; /* with its '\n' */
	size_t len;
};

/* Out of memory in the fake server: the test cannot go on. */
static void *must(void *p)
{
	if (!p) {
		fprintf(stderr, "fake_k8s: out of memory\n");
		abort();
	}
	return p;
}

struct watch_state {
	struct fake_k8s *f;
	char key[FAKE_K8S_KEY_LEN];
	__u64 cursor; /* the last resourceVersion sent */
	size_t idx;   /* the event being sent */
	size_t off;   /* within it */
};

static json_t *pod_json(const struct fake_k8s *f, const struct fake_k8s_pod *p, __u64 rv)
{
	char rvs[24];
	json_t *labels = json_object(), *meta, *ann = json_object();

	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)rv);
	json_object_set_new(labels, "app", json_string("worker"));
	if (p->medium[0])
		json_object_set_new(labels, "cruise.io/medium", json_string(p->medium));
	if (p->mirror[0])
		json_object_set_new(ann, "kubernetes.io/config.mirror", json_string(p->mirror));
	meta = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "name", p->name, "namespace", "jobs",
			 "uid", p->uid, "resourceVersion", rvs, "labels", labels, "annotations",
			 ann);
	/* a mirror pod is owned by its node: only then does the agent trust the annotation */
	if (p->mirror[0])
		json_object_set_new(meta, "ownerReferences",
				    json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "v1", "kind",
					      "Node", "name", f->node, "uid", "node-uid"));
	return json_pack("{s:s, s:s, s:o, s:{s:s}, s:{s:s, s:s}}", "kind", "Pod", "apiVersion",
			 "v1", "metadata", meta, "spec", "nodeName", f->node, "status", "phase",
			 "Running", "qosClass", p->qos);
}

/* Append one line to the event log of collection key (lock held). */
static void push_locked(struct fake_k8s *f, const char *key, const char *line, size_t len)
{
	struct fake_k8s_event *e;

	if (f->n_ev == f->cap_ev) {
		f->cap_ev = f->cap_ev ? f->cap_ev * 2 : 64;
		f->ev = must(realloc(f->ev, f->cap_ev * sizeof(*f->ev)));
	}
	e = &f->ev[f->n_ev++];
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->rv = ++f->rv;
	e->line = must(malloc(len + 1));
	memcpy(e->line, line, len);
	e->line[len] = '\n';
	e->len = len + 1;
	pthread_cond_broadcast(&f->cond);
}

static json_t *service_json(const struct fake_k8s_service *v, __u64 rv)
{
	json_t *ips = json_array(), *ports = json_array(), *spec;
	char rvs[24];

	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)rv);
	for (int i = 0; i < 2; i++) {
		if (v->ips[i][0] && !v->headless)
			json_array_append_new(ips, json_string(v->ips[i]));
		if (v->ports[i])
			json_array_append_new(ports, json_pack("{s:s, s:i, s:s, s:i}", "name",
							       i ? "metrics" : "pg", "port",
							       v->ports[i], "protocol", "TCP",
							       "targetPort", v->ports[i]));
	}
	if (v->headless)
		json_array_append_new(ips, json_string("None"));
	/* a UDP port beside: never a target's */
	json_array_append_new(
		ports, json_pack("{s:s, s:i, s:s}", "name", "dns", "port", 53, "protocol", "UDP"));
	spec = json_pack("{s:s, s:s, s:o, s:o, s:s}", "type", "ClusterIP", "clusterIP",
			 json_string_value(json_array_get(ips, 0)) ?: "", "clusterIPs", ips,
			 "ports", ports, "sessionAffinity", "None");
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:o, s:{}}", "kind", "Service",
			 "apiVersion", "v1", "metadata", "name", v->name, "namespace", v->ns, "uid",
			 "5e7c-0000-uid", "resourceVersion", rvs, "spec", spec, "status");
}

static json_t *slice_json(const struct fake_k8s *f, const struct fake_k8s_slice *sl, __u64 rv)
{
	const struct fake_k8s_service *v = &f->services[sl->service];
	json_t *eps = json_array(), *ports = json_array();
	char rvs[24];

	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)rv);
	for (int i = 0; i < FAKE_K8S_MAX_EPS; i++)
		if (sl->addrs[i][0])
			json_array_append_new(
				eps, json_pack("{s:[s], s:{s:b, s:b, s:b}, s:s}", "addresses",
					       sl->addrs[i], "conditions", "ready",
					       !sl->not_ready[i], "serving", !sl->not_ready[i],
					       "terminating", 0, "nodeName", f->node));
	if (sl->port)
		json_array_append_new(ports, json_pack("{s:s, s:i, s:s}", "name", "pg", "port",
						       sl->port, "protocol", "TCP"));
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s}}, s:s, s:o, s:o}", "kind",
			 "EndpointSlice", "apiVersion", "discovery.k8s.io/v1", "metadata", "name",
			 sl->name, "namespace", v->ns, "resourceVersion", rvs, "labels",
			 "kubernetes.io/service-name", v->name, "addressType",
			 sl->v6 ? "IPv6" : "IPv4", "endpoints", eps, "ports", ports);
}

static void key_of(const struct fake_k8s *f, int service, bool slices, char *key)
{
	snprintf(key, FAKE_K8S_KEY_LEN, slices ? KEY_EPS : KEY_SVC, f->services[service].ns,
		 f->services[service].name);
}

void fake_k8s_raw(struct fake_k8s *f, const char *line, size_t len)
{
	pthread_mutex_lock(&f->lock);
	push_locked(f, KEY_PODS, line, len);
	pthread_mutex_unlock(&f->lock);
}

void fake_k8s_raw_service(struct fake_k8s *f, int i, bool slices, const char *line, size_t len)
{
	char key[FAKE_K8S_KEY_LEN];

	pthread_mutex_lock(&f->lock);
	key_of(f, i, slices, key);
	push_locked(f, key, line, len);
	pthread_mutex_unlock(&f->lock);
}

/* An object's event: its presence set, and unless silent a line in its collection (lock held) */
static void object_event(struct fake_k8s *f, const char *key, bool *present, json_t *obj,
			 const char *type, bool silent)
{
	json_t *ev;
	char *line;

	*present = strcmp(type, "DELETED");
	if (silent) {
		f->rv++;
		json_decref(obj);
		return;
	}
	ev = json_pack("{s:s, s:o}", "type", type, "object", obj);
	line = must(json_dumps(ev, JSON_COMPACT));
	push_locked(f, key, line, strlen(line));
	free(line);
	json_decref(ev);
}

void fake_k8s_pod_event(struct fake_k8s *f, int i, const char *type, bool silent)
{
	pthread_mutex_lock(&f->lock);
	object_event(f, KEY_PODS, &f->pods[i].present, pod_json(f, &f->pods[i], f->rv + 1), type,
		     silent);
	pthread_mutex_unlock(&f->lock);
}

void fake_k8s_service_event(struct fake_k8s *f, int i, const char *type, bool silent)
{
	char key[FAKE_K8S_KEY_LEN];

	pthread_mutex_lock(&f->lock);
	key_of(f, i, false, key);
	object_event(f, key, &f->services[i].present, service_json(&f->services[i], f->rv + 1),
		     type, silent);
	pthread_mutex_unlock(&f->lock);
}

void fake_k8s_slice_event(struct fake_k8s *f, int i, const char *type, bool silent)
{
	char key[FAKE_K8S_KEY_LEN];

	pthread_mutex_lock(&f->lock);
	key_of(f, f->slices[i].service, true, key);
	object_event(f, key, &f->slices[i].present, slice_json(f, &f->slices[i], f->rv + 1), type,
		     silent);
	pthread_mutex_unlock(&f->lock);
}

void fake_k8s_set(struct fake_k8s *f, bool *flag, bool v)
{
	pthread_mutex_lock(&f->lock);
	*flag = v;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static void override(struct fake_k8s *f, char **field, const char *body)
{
	pthread_mutex_lock(&f->lock);
	free(*field);
	*field = body ? must(strdup(body)) : NULL;
	pthread_mutex_unlock(&f->lock);
}

void fake_k8s_list_override(struct fake_k8s *f, const char *body)
{
	override(f, &f->list_override, body);
}

void fake_k8s_svc_list_override(struct fake_k8s *f, const char *body)
{
	override(f, &f->svc_list_override, body);
}

unsigned int fake_k8s_count(struct fake_k8s *f, const unsigned int *counter)
{
	unsigned int v;

	pthread_mutex_lock(&f->lock);
	v = *counter;
	pthread_mutex_unlock(&f->lock);
	return v;
}

/* The list of collection key (lock held). */
static char *list_body(struct fake_k8s *f, const char *key)
{
	json_t *items = json_array(), *list;
	char rvs[24], k[FAKE_K8S_KEY_LEN], *s;
	const char *kind = "PodList", *api = "v1";

	for (int i = 0; !strcmp(key, KEY_PODS) && i < FAKE_K8S_MAX_PODS; i++)
		if (f->pods[i].present)
			json_array_append_new(items, pod_json(f, &f->pods[i], f->rv));
	for (int i = 0; i < FAKE_K8S_MAX_SERVICES; i++) {
		key_of(f, i, false, k);
		if (f->services[i].present && !strcmp(k, key))
			json_array_append_new(items, service_json(&f->services[i], f->rv));
		if (!strcmp(k, key))
			kind = "ServiceList";
	}
	for (int i = 0; i < FAKE_K8S_MAX_SLICES; i++) {
		key_of(f, f->slices[i].service, true, k);
		if (f->slices[i].present && !strcmp(k, key))
			json_array_append_new(items, slice_json(f, &f->slices[i], f->rv));
	}
	if (!strncmp(key, "eps/", 4)) {
		kind = "EndpointSliceList";
		api = "discovery.k8s.io/v1";
	}
	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)f->rv);
	list = json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", kind, "apiVersion", api, "metadata",
			 "resourceVersion", rvs, "items", items);
	s = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	return s;
}

/* The watch stream: events after the cursor, as they come; cut when the server goes down. */
static ssize_t watch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct watch_state *w = cls;
	struct fake_k8s *f = w->f;
	ssize_t n = 0;

	(void)pos;
	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct timespec until;

		if (f->stopping || f->down) {
			n = MHD_CONTENT_READER_END_WITH_ERROR;
			break;
		}
		/* its collection's events only */
		while (w->idx < f->n_ev &&
		       (f->ev[w->idx].rv <= w->cursor || strcmp(f->ev[w->idx].key, w->key)))
			w->idx++;
		if (w->idx < f->n_ev) {
			const struct fake_k8s_event *e = &f->ev[w->idx];

			n = e->len - w->off < max ? e->len - w->off : max;
			memcpy(buf, e->line + w->off, n);
			w->off += n;
			if (w->off == e->len) {
				w->cursor = e->rv;
				w->off = 0;
			}
			break;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * NSEC_PER_MSEC;
		if (until.tv_nsec >= (long)NSEC_PER_SEC) {
			until.tv_sec++;
			until.tv_nsec -= NSEC_PER_SEC;
		}
		pthread_cond_timedwait(&f->cond, &f->lock, &until);
	}
	pthread_mutex_unlock(&f->lock);
	return n;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned int status, char *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * The collection a request names, into key, and its counters; false when it names none the fake
 * serves (another path, or a selector other than the agent's). Lock held.
 */
static bool route(struct fake_k8s *f, struct MHD_Connection *c, const char *url, char *key,
		  unsigned int **lists, unsigned int **watches, char **override)
{
	const char *fsel = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fieldSelector");
	const char *lsel = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "labelSelector");
	char ns[64], kind[32], want[160];
	int end = 0;

	snprintf(want, sizeof(want), "spec.nodeName=%s", f->node);
	if (!strcmp(url, "/api/v1/pods") && fsel && !strcmp(fsel, want) && !lsel) {
		snprintf(key, FAKE_K8S_KEY_LEN, KEY_PODS);
		*lists = &f->lists;
		*watches = &f->watches;
		*override = f->list_override;
		return true;
	}
	if (sscanf(url, "/api/v1/namespaces/%63[a-z0-9-]/%31[a-z]%n", ns, kind, &end) == 2 &&
	    !url[end] && !strcmp(kind, "services") && fsel && !lsel &&
	    !strncmp(fsel, "metadata.name=", 14)) {
		snprintf(key, FAKE_K8S_KEY_LEN, KEY_SVC, ns, fsel + 14);
		*lists = &f->svc_lists;
		*watches = &f->svc_watches;
		*override = f->svc_list_override;
		return true;
	}
	if (sscanf(url, "/apis/discovery.k8s.io/v1/namespaces/%63[a-z0-9-]/%31[a-z]%n", ns, kind,
		   &end) == 2 &&
	    !url[end] && !strcmp(kind, "endpointslices") && lsel && !fsel &&
	    !strncmp(lsel, "kubernetes.io/service-name=", 27)) {
		snprintf(key, FAKE_K8S_KEY_LEN, KEY_EPS, ns, lsel + 27);
		*lists = &f->slice_lists;
		*watches = &f->slice_watches;
		*override = NULL;
		return true;
	}
	return false;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	static int first;
	struct fake_k8s *f = cls;
	const char *auth, *watch, *rv;
	char want_auth[160], key[FAKE_K8S_KEY_LEN], *override;
	unsigned int *lists, *watches;
	struct watch_state *w;
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)version, (void)upload, (void)upload_size;
	if (!*con_cls) {
		*con_cls = &first;
		return MHD_YES;
	}
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	watch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch");
	rv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "resourceVersion");
	snprintf(want_auth, sizeof(want_auth), "Bearer %s", f->token);
	pthread_mutex_lock(&f->lock);
	f->requests++;
	if (!auth || strcmp(auth, want_auth)) {
		f->unauthorized++;
		pthread_mutex_unlock(&f->lock);
		return respond(c, 401, strdup("{\"kind\":\"Status\",\"code\":401}"));
	}
	if (strcmp(method, "GET") || !route(f, c, url, key, &lists, &watches, &override)) {
		f->bad_selector++;
		pthread_mutex_unlock(&f->lock);
		return respond(c, 400, strdup("{\"kind\":\"Status\",\"code\":400}"));
	}
	if (f->down) {
		pthread_mutex_unlock(&f->lock);
		return respond(c, 503, strdup("{\"kind\":\"Status\",\"code\":503}"));
	}
	if (!watch || strcmp(watch, "1")) {
		char *body = override ? strdup(override) : list_body(f, key);

		(*lists)++;
		pthread_mutex_unlock(&f->lock);
		return respond(c, 200, body);
	}
	(*watches)++;
	if (f->watch_ends) {
		char *body = NULL;

		if (f->ends_with_bookmark &&
		    asprintf(&body,
			     "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":"
			     "\"v1\",\"metadata\":{\"resourceVersion\":\"%llu\"}}}\n",
			     (unsigned long long)f->rv) < 0)
			body = NULL;
		pthread_mutex_unlock(&f->lock);
		return respond(c, 200, body ? body : strdup(""));
	}
	pthread_mutex_unlock(&f->lock);
	w = calloc(1, sizeof(*w));
	if (!w)
		return MHD_NO;
	w->f = f;
	snprintf(w->key, sizeof(w->key), "%s", key);
	w->cursor = rv ? strtoull(rv, NULL, 10) : 0;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, watch_read, w, free);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

bool fake_k8s_has_tls(void)
{
	return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

int fake_k8s_make_certs(const char *dir, const char *token)
{
	char cmd[4096];

	snprintf(
		cmd, sizeof(cmd),
		"cd %s && exec >openssl.log 2>&1 && "
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		"-keyout ca.key -out ca.crt -subj /CN=cruise-test-ca -days 1 && "
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		"-keyout other.key -out other-ca.crt -subj /CN=cruise-other-ca -days 1 && "
		"openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		"-keyout server.key -out server.csr -subj /CN=kubernetes && "
		"printf 'subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\\n' >san.ext && "
		"openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
		"-out server.crt -days 1 -extfile san.ext && "
		"mkdir -p sa wrong-ca && cp ca.crt sa/ca.crt && cp other-ca.crt wrong-ca/ca.crt && "
		"printf '%s\\n' >sa/token && cp sa/token wrong-ca/token",
		dir, token);
	return system(cmd) == 0 ? 0 : -1;
}

int fake_k8s_start(struct fake_k8s *f, const char *dir, const char *node, const char *token)
{
	const union MHD_DaemonInfo *info;
	char path[PATH_MAX + 16], *key, *cert;

	snprintf(f->node, sizeof(f->node), "%s", node);
	snprintf(f->token, sizeof(f->token), "%s", token);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->rv = 1000;
	snprintf(path, sizeof(path), "%s/server.key", dir);
	key = th_slurp(path);
	snprintf(path, sizeof(path), "%s/server.crt", dir);
	cert = th_slurp(path);
	/* no MHD_USE_ERROR_LOG: the streams the agent cuts on purpose would fill the output */
	f->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
					MHD_USE_TLS,
				0, NULL, NULL, handle, f, MHD_OPTION_HTTPS_MEM_KEY, key,
				MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
	free(key);
	free(cert);
	if (!f->d)
		return -1;
	info = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
	f->port = info ? info->port : 0;
	return f->port ? 0 : -1;
}

void fake_k8s_stop(struct fake_k8s *f)
{
	if (!f->d)
		return;
	fake_k8s_set(f, &f->stopping, true);
	MHD_stop_daemon(f->d);
	f->d = NULL;
	for (size_t i = 0; i < f->n_ev; i++)
		free(f->ev[i].line);
	free(f->ev);
	free(f->list_override);
	free(f->svc_list_override);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
}
