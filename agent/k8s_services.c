// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Services of the targets (k8s_services.h). Each Service has a watch of its own (k8s_api.c)
 * and, while it is headless, one of its EndpointSlices; their callbacks keep what the API said of
 * it under the client's lock, and publish() turns that into the addresses in force: the last good
 * ones, replaced only by an answer that names some.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "k8s_services.h"
#include "loader.h" /* cruise_now_ns */
#include "log.h"

struct svc {
	struct cruise_k8s_services *owner;
	char what[2 * CRUISE_SVC_LABEL_LEN + 16]; /* "NS/NAME", for logs */
	bool keep;				  /* cruise_k8s_services_set's mark */
	struct cruise_k8s_watch *sw;		  /* the Service; set and stopped by the owner */
	/* under the owner's lock */
	struct cruise_k8s_watch *ew; /* its EndpointSlices, while headless (sw's thread) */
	bool listed, present;	     /* the Service */
	struct cruise_k8s_obj obj;   /* as last seen, deleted or not */
	bool slices_listed;
	struct cruise_k8s_obj *slices;
	size_t n_slices;
	__u64 ew_errors; /* of EndpointSlice watches stopped */
	struct cruise_service out;
};

struct cruise_k8s_services {
	struct cruise_k8s_conn conn; /* its strings are these: */
	char *host, *port, *secrets;
	int efd;
	pthread_mutex_t lock;
	struct svc **v;
	size_t n;
};

/* What the API said of v, into the addresses in force (lock held). */
static void publish(struct svc *v)
{
	struct cruise_service *o = &v->out;
	struct cruise_endpoints now;

	if (!v->listed)
		return;
	if (!v->present) {
		if (!o->gone)
			o->errors++; /* said once by the main loop */
		o->gone = true;
		cruise_k8s_notify(v->owner->efd);
		return;
	}
	o->gone = false;
	o->headless = v->obj.headless;
	if (v->obj.headless) {
		if (!v->slices_listed)
			return; /* its endpoints are on their way */
		memset(&now, 0, sizeof(now));
		for (size_t i = 0; i < v->n_slices; i++)
			cruise_endpoints_merge(&now, &v->slices[i].ep);
		/* slices without ports: the Service's */
		if (!now.n_ports)
			cruise_endpoints_merge(&now, &v->obj.ep);
	} else {
		now = v->obj.ep;
	}
	cruise_endpoints_sort(&now);
	o->confirmed_ns = cruise_now_ns();
	o->empty = !now.n_addrs;
	if (now.n_addrs) {
		if (o->known &&
		    (now.n_addrs != o->ep.n_addrs ||
		     memcmp(now.addrs, o->ep.addrs, now.n_addrs * sizeof(now.addrs[0]))))
			o->changes++;
		if (!now.n_ports && o->known) {
			/* an answer with no port keeps the last ones */
			memcpy(now.ports, o->ep.ports, sizeof(now.ports));
			now.n_ports = o->ep.n_ports;
		}
		o->ep = now;
		o->known = true;
	}
	cruise_k8s_notify(v->owner->efd);
}

/*
 * A bookmark of the watch the addresses come from (slices: the EndpointSlices'): the API says
 * nothing changed up to now, so they are confirmed (a quiet Service's stay fresh in cruisectl).
 */
static void confirm(struct svc *v, bool slices)
{
	pthread_mutex_lock(&v->owner->lock);
	if (v->out.known && !v->out.gone && !v->out.empty && v->out.headless == slices) {
		v->out.confirmed_ns = cruise_now_ns();
		cruise_k8s_notify(v->owner->efd);
	}
	pthread_mutex_unlock(&v->owner->lock);
}

static struct cruise_k8s_obj *slice_find(struct svc *v, const char *name)
{
	for (size_t i = 0; i < v->n_slices; i++)
		if (!strcmp(v->slices[i].name, name))
			return &v->slices[i];
	return NULL;
}

/* the EndpointSlices' watch */

static int slices_list(void *ctx, const char *body, size_t len, char *rv, size_t rvlen, char *err,
		       size_t errlen)
{
	struct svc *v = ctx;
	struct cruise_k8s_obj *sl, *old;
	size_t n;
	int ret = cruise_k8s_parse_slices(body, len, &sl, &n, rv, rvlen, err, errlen);

	if (ret)
		return ret;
	pthread_mutex_lock(&v->owner->lock);
	old = v->slices;
	v->slices = sl;
	v->n_slices = n;
	v->slices_listed = true;
	publish(v);
	pthread_mutex_unlock(&v->owner->lock);
	free(old);
	return 0;
}

static int slices_event(void *ctx, const char *line, size_t len, enum cruise_k8s_event_type *type,
			char *rv, size_t rvlen, char *err, size_t errlen)
{
	struct svc *v = ctx;
	struct cruise_k8s_obj *o = malloc(sizeof(*o)), *at, *grown;
	int ret = o ? cruise_k8s_parse_slice_event(line, len, type, o, rv, rvlen, err, errlen)
		    : -ENOMEM;

	if (ret || *type > CRUISE_K8S_DELETED) {
		if (!ret && *type == CRUISE_K8S_BOOKMARK)
			confirm(v, true);
		free(o);
		return ret;
	}
	pthread_mutex_lock(&v->owner->lock);
	at = slice_find(v, o->name);
	if (*type == CRUISE_K8S_DELETED) {
		if (at)
			*at = v->slices[--v->n_slices];
	} else if (at) {
		*at = *o;
	} else if ((grown = realloc(v->slices, (v->n_slices + 1) * sizeof(*grown)))) {
		v->slices = grown;
		v->slices[v->n_slices++] = *o;
	} else {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
	}
	if (!ret)
		publish(v);
	pthread_mutex_unlock(&v->owner->lock);
	free(o);
	return ret;
}

static const struct cruise_k8s_kind slices_kind = {
	.list = slices_list,
	.event = slices_event,
	.failed = "kubernetes API: request failed; the target addresses in force stay",
};

/* The Service's watch: its EndpointSlices watched while it is headless (sw's thread). */
static void follow_headless(struct svc *v)
{
	struct cruise_k8s_services *s = v->owner;
	struct cruise_k8s_watch *w = NULL;
	struct cruise_k8s_stats st;
	char *esc = NULL, *path = NULL, *sel = NULL, err[256];
	bool want;

	pthread_mutex_lock(&s->lock);
	want = v->present ? v->obj.headless : !!v->ew; /* deleted: as it was */
	if (want == !!v->ew) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	/* what an earlier watch of its slices left is not news */
	free(v->slices);
	v->slices = NULL;
	v->n_slices = 0;
	v->slices_listed = false;
	if (!want) {
		w = v->ew;
		v->ew = NULL;
		cruise_k8s_watch_stats(w, &st);
		v->ew_errors += st.errors;
		pthread_mutex_unlock(&s->lock);
		cruise_k8s_watch_stop(w);
		return;
	}
	pthread_mutex_unlock(&s->lock);
	if (asprintf(&sel, "kubernetes.io/service-name=%s", v->out.name) < 0)
		sel = NULL;
	esc = sel ? cruise_k8s_escape(sel) : NULL;
	if (!esc || asprintf(&path,
			     "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices"
			     "?labelSelector=%s",
			     v->out.ns, esc) < 0)
		path = NULL;
	if (path)
		w = cruise_k8s_watch_start(&s->conn, path, v->what, &slices_kind, v, err,
					   sizeof(err));
	else
		snprintf(err, sizeof(err), "out of memory");
	if (!w)
		cruise_log(CRUISE_LOG_ERROR, "cannot watch a headless Service's endpoints",
			   "service", v->what, "error", err, NULL);
	pthread_mutex_lock(&s->lock);
	v->ew = w;
	pthread_mutex_unlock(&s->lock);
	free(sel);
	free(esc);
	free(path);
}

static int service_list(void *ctx, const char *body, size_t len, char *rv, size_t rvlen, char *err,
			size_t errlen)
{
	struct svc *v = ctx;
	struct cruise_k8s_obj *items;
	size_t n, i;
	int ret = cruise_k8s_parse_services(body, len, &items, &n, rv, rvlen, err, errlen);

	if (ret)
		return ret;
	/* the field selector names it: anything else is not ours */
	for (i = 0; i < n && strcmp(items[i].name, v->out.name); i++)
		;
	pthread_mutex_lock(&v->owner->lock);
	v->listed = true;
	v->present = i < n;
	if (v->present)
		v->obj = items[i];
	publish(v);
	pthread_mutex_unlock(&v->owner->lock);
	free(items);
	follow_headless(v);
	return 0;
}

static int service_event(void *ctx, const char *line, size_t len, enum cruise_k8s_event_type *type,
			 char *rv, size_t rvlen, char *err, size_t errlen)
{
	struct svc *v = ctx;
	struct cruise_k8s_obj *o = malloc(sizeof(*o));
	int ret = o ? cruise_k8s_parse_service_event(line, len, type, o, rv, rvlen, err, errlen)
		    : -ENOMEM;

	if (!ret && *type == CRUISE_K8S_BOOKMARK)
		confirm(v, false);
	if (ret || *type > CRUISE_K8S_DELETED || strcmp(o->name, v->out.name)) {
		free(o);
		return ret;
	}
	pthread_mutex_lock(&v->owner->lock);
	v->present = *type != CRUISE_K8S_DELETED;
	v->obj = *o;
	publish(v);
	pthread_mutex_unlock(&v->owner->lock);
	free(o);
	follow_headless(v);
	return 0;
}

static const struct cruise_k8s_kind service_kind = {
	.list = service_list,
	.event = service_event,
	.failed = "kubernetes API: request failed; the target addresses in force stay",
};

/* Watch a Service: a new entry, not in the table yet. NULL on failure (logged). */
static struct svc *svc_start(struct cruise_k8s_services *s, const struct cruise_service_ref *r)
{
	struct svc *v = calloc(1, sizeof(*v));
	char *esc = NULL, *path = NULL, *sel = NULL, err[256] = "out of memory";

	if (!v)
		return NULL;
	v->owner = s;
	snprintf(v->out.ns, sizeof(v->out.ns), "%s", r->ns);
	snprintf(v->out.name, sizeof(v->out.name), "%s", r->name);
	snprintf(v->what, sizeof(v->what), "%s/%s", r->ns, r->name);
	if (asprintf(&sel, "metadata.name=%s", r->name) < 0)
		sel = NULL;
	esc = sel ? cruise_k8s_escape(sel) : NULL;
	if (!esc ||
	    asprintf(&path, "/api/v1/namespaces/%s/services?fieldSelector=%s", r->ns, esc) < 0)
		path = NULL;
	if (path)
		v->sw = cruise_k8s_watch_start(&s->conn, path, v->what, &service_kind, v, err,
					       sizeof(err));
	free(sel);
	free(esc);
	free(path);
	if (!v->sw) {
		cruise_log(CRUISE_LOG_ERROR, "cannot watch a Service; its target is not paced",
			   "service", v->what, "error", err, NULL);
		free(v);
		return NULL;
	}
	return v;
}

/* Stop the watches of these entries (out of the table), all at once, and free them. */
static void svc_stop_all(struct svc **gone, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cruise_k8s_watch_cancel(gone[i]->sw);
	/* sw's thread, the one that starts and stops ew, has ended before ew is read */
	for (size_t i = 0; i < n; i++)
		cruise_k8s_watch_stop(gone[i]->sw);
	for (size_t i = 0; i < n; i++)
		cruise_k8s_watch_cancel(gone[i]->ew);
	for (size_t i = 0; i < n; i++) {
		cruise_k8s_watch_stop(gone[i]->ew);
		free(gone[i]->slices);
		free(gone[i]);
	}
}

struct cruise_k8s_services *cruise_k8s_services_start(const struct cruise_k8s_conn *c, char *err,
						      size_t errlen)
{
	const char *problem = cruise_k8s_conn_problem(c);
	struct cruise_k8s_services *s;

	if (problem) {
		snprintf(err, errlen, "%s", problem);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->conn = *c;
	s->host = strdup(c->host);
	s->port = strdup(c->port);
	s->secrets = strdup(c->secrets_dir ? c->secrets_dir : CRUISE_K8S_SECRETS);
	s->conn.host = s->host;
	s->conn.port = s->port;
	s->conn.secrets_dir = s->secrets;
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&s->lock, NULL);
	if (!s->host || !s->port || !s->secrets || s->efd < 0 || cruise_k8s_global_init()) {
		snprintf(err, errlen, "out of memory or file descriptors, or no libcurl");
		if (s->efd >= 0)
			close(s->efd);
		pthread_mutex_destroy(&s->lock);
		free(s->host);
		free(s->port);
		free(s->secrets);
		free(s);
		return NULL;
	}
	return s;
}

int cruise_k8s_services_set(struct cruise_k8s_services *s, const struct cruise_service_ref *refs,
			    size_t n)
{
	struct svc **next = calloc(n ? n : 1, sizeof(*next)), **gone;
	size_t n_next = 0, n_gone = 0;
	int ret = 0;

	if (!next)
		return -ENOMEM;
	/* the entries kept, and new ones started outside the lock */
	for (size_t i = 0; i < n; i++) {
		struct svc *v = NULL;

		for (size_t j = 0; j < n_next && !v; j++)
			if (!strcmp(next[j]->out.ns, refs[i].ns) &&
			    !strcmp(next[j]->out.name, refs[i].name))
				v = next[j];
		if (v)
			continue; /* named twice */
		for (size_t j = 0; j < s->n && !v; j++)
			if (!strcmp(s->v[j]->out.ns, refs[i].ns) &&
			    !strcmp(s->v[j]->out.name, refs[i].name))
				v = s->v[j];
		if (v)
			v->keep = true;
		else
			v = svc_start(s, &refs[i]);
		if (v)
			next[n_next++] = v;
		else
			ret = -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	gone = s->v;
	for (size_t j = 0; j < s->n; j++) {
		if (!gone[j]->keep)
			gone[n_gone++] = gone[j];
		gone[j]->keep = false;
	}
	s->v = next;
	s->n = n_next;
	pthread_mutex_unlock(&s->lock);
	svc_stop_all(gone, n_gone);
	free(gone);
	/* what a new watch published before it was in the table */
	cruise_k8s_notify(s->efd);
	return ret;
}

int cruise_k8s_services_fd(const struct cruise_k8s_services *s)
{
	return s->efd;
}

int cruise_k8s_services_table(struct cruise_k8s_services *s, bool drain,
			      struct cruise_service **out, size_t *n)
{
	struct cruise_k8s_stats st;
	__u64 v;

	if (drain && read(s->efd, &v, sizeof(v)) < 0) {
		/* nothing new: a copy all the same */
	}
	pthread_mutex_lock(&s->lock);
	*out = calloc(s->n ? s->n : 1, sizeof(**out));
	if (!*out) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n; i++) {
		struct cruise_service *o = &(*out)[i];

		*o = s->v[i]->out;
		cruise_k8s_watch_stats(s->v[i]->sw, &st);
		o->up = st.connected;
		o->errors += st.errors + s->v[i]->ew_errors;
		if (s->v[i]->ew) {
			cruise_k8s_watch_stats(s->v[i]->ew, &st);
			o->up &= st.connected;
			o->errors += st.errors;
		}
	}
	*n = s->n;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void cruise_k8s_services_stop(struct cruise_k8s_services *s)
{
	if (!s)
		return;
	svc_stop_all(s->v, s->n);
	free(s->v);
	cruise_k8s_global_cleanup();
	pthread_mutex_destroy(&s->lock);
	close(s->efd);
	free(s->host);
	free(s->port);
	free(s->secrets);
	free(s);
}
