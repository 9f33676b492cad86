// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The fake Kubernetes API of test_k8s (fake_k8s.h). It is a mock because no Kubernetes API server
 * can run here: it serves what the agent's client asks for (the node's pods, listed then watched)
 * with the formats and the failures of the real API, and nothing more.
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

struct fake_k8s_event {
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

/* Append one line to the event log (lock held). */
static void push_locked(struct fake_k8s *f, const char *line, size_t len)
{
	struct fake_k8s_event *e;

	if (f->n_ev == f->cap_ev) {
		f->cap_ev = f->cap_ev ? f->cap_ev * 2 : 64;
		f->ev = must(realloc(f->ev, f->cap_ev * sizeof(*f->ev)));
	}
	e = &f->ev[f->n_ev++];
	e->rv = ++f->rv;
	e->line = must(malloc(len + 1));
	memcpy(e->line, line, len);
	e->line[len] = '\n';
	e->len = len + 1;
	pthread_cond_broadcast(&f->cond);
}

void fake_k8s_raw(struct fake_k8s *f, const char *line, size_t len)
{
	pthread_mutex_lock(&f->lock);
	push_locked(f, line, len);
	pthread_mutex_unlock(&f->lock);
}

void fake_k8s_pod_event(struct fake_k8s *f, int i, const char *type, bool silent)
{
	json_t *ev;
	char *line;

	pthread_mutex_lock(&f->lock);
	f->pods[i].present = strcmp(type, "DELETED");
	if (silent) {
		f->rv++;
		pthread_mutex_unlock(&f->lock);
		return;
	}
	ev = json_pack("{s:s, s:o}", "type", type, "object", pod_json(f, &f->pods[i], f->rv + 1));
	line = must(json_dumps(ev, JSON_COMPACT));
	push_locked(f, line, strlen(line));
	free(line);
	json_decref(ev);
	pthread_mutex_unlock(&f->lock);
}

void fake_k8s_set(struct fake_k8s *f, bool *flag, bool v)
{
	pthread_mutex_lock(&f->lock);
	*flag = v;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

void fake_k8s_list_override(struct fake_k8s *f, const char *body)
{
	pthread_mutex_lock(&f->lock);
	free(f->list_override);
	f->list_override = body ? strdup(body) : NULL;
	pthread_mutex_unlock(&f->lock);
}

unsigned int fake_k8s_count(struct fake_k8s *f, const unsigned int *counter)
{
	unsigned int v;

	pthread_mutex_lock(&f->lock);
	v = *counter;
	pthread_mutex_unlock(&f->lock);
	return v;
}

static char *list_body(struct fake_k8s *f)
{
	json_t *items = json_array(), *list;
	char rvs[24], *s;

	for (int i = 0; i < FAKE_K8S_MAX_PODS; i++)
		if (f->pods[i].present)
			json_array_append_new(items, pod_json(f, &f->pods[i], f->rv));
	snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)f->rv);
	list = json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", "PodList", "apiVersion", "v1",
			 "metadata", "resourceVersion", rvs, "items", items);
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
		while (w->idx < f->n_ev && f->ev[w->idx].rv <= w->cursor)
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

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	static int first;
	struct fake_k8s *f = cls;
	const char *auth, *sel, *watch, *rv;
	char want_sel[128], want_auth[160];
	struct watch_state *w;
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)version, (void)upload, (void)upload_size;
	if (!*con_cls) {
		*con_cls = &first;
		return MHD_YES;
	}
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	sel = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fieldSelector");
	watch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch");
	rv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "resourceVersion");
	snprintf(want_sel, sizeof(want_sel), "spec.nodeName=%s", f->node);
	snprintf(want_auth, sizeof(want_auth), "Bearer %s", f->token);
	pthread_mutex_lock(&f->lock);
	f->requests++;
	if (!auth || strcmp(auth, want_auth)) {
		f->unauthorized++;
		pthread_mutex_unlock(&f->lock);
		return respond(c, 401, strdup("{\"kind\":\"Status\",\"code\":401}"));
	}
	if (strcmp(method, "GET") || strcmp(url, "/api/v1/pods") || !sel || strcmp(sel, want_sel)) {
		f->bad_selector++;
		pthread_mutex_unlock(&f->lock);
		return respond(c, 400, strdup("{\"kind\":\"Status\",\"code\":400}"));
	}
	if (f->down) {
		pthread_mutex_unlock(&f->lock);
		return respond(c, 503, strdup("{\"kind\":\"Status\",\"code\":503}"));
	}
	if (!watch || strcmp(watch, "1")) {
		char *body = f->list_override ? strdup(f->list_override) : list_body(f);

		f->lists++;
		pthread_mutex_unlock(&f->lock);
		return respond(c, 200, body);
	}
	f->watches++;
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
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
}
