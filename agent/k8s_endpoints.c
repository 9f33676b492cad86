// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Services and EndpointSlices from the API's JSON (k8s_endpoints.h). Every member the agent reads
 * is type-checked; an address that does not parse, a port out of range or a member of the wrong
 * type rejects the whole document, so that garbage never replaces the addresses in force.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "k8s_endpoints.h"

typedef int (*parse_obj_fn)(json_t *obj, struct cruise_k8s_obj *o, char *err, size_t errlen);

static void add_addr(struct cruise_endpoints *e, const struct cruise_prefix *p)
{
	for (unsigned int i = 0; i < e->n_addrs; i++)
		if (!memcmp(&e->addrs[i], p, sizeof(*p)))
			return;
	if (e->n_addrs == CRUISE_SVC_MAX_ADDRS) {
		e->truncated = true;
		return;
	}
	e->addrs[e->n_addrs++] = *p;
}

static void add_port(struct cruise_endpoints *e, __u16 port)
{
	for (unsigned int i = 0; i < e->n_ports; i++)
		if (e->ports[i] == port)
			return;
	if (e->n_ports == CRUISE_SVC_MAX_PORTS) {
		e->truncated = true;
		return;
	}
	e->ports[e->n_ports++] = port;
}

/* An IP address as the API writes it (no prefix), of family (AF_UNSPEC: either). */
static int parse_ip(const char *s, int family, struct cruise_prefix *p)
{
	memset(p, 0, sizeof(*p));
	if ((family == AF_UNSPEC || family == AF_INET) && inet_pton(AF_INET, s, p->addr) == 1) {
		p->family = AF_INET;
		p->len = 32;
		return 0;
	}
	if ((family == AF_UNSPEC || family == AF_INET6) && inet_pton(AF_INET6, s, p->addr) == 1) {
		p->family = AF_INET6;
		p->len = 128;
		return 0;
	}
	return -EINVAL;
}

/* metadata.name, into o->name: the object's key. */
static int take_name(json_t *obj, struct cruise_k8s_obj *o, const char *what, char *err,
		     size_t errlen)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *name;

	memset(o, 0, sizeof(*o));
	if (!json_is_object(obj) || !json_is_object(meta) ||
	    cruise_k8s_opt_string(meta, "name", &name) || !name || !*name ||
	    strlen(name) >= sizeof(o->name))
		return cruise_k8s_fail(err, errlen, "%s without a good metadata.name", what);
	snprintf(o->name, sizeof(o->name), "%s", name);
	return 0;
}

/*
 * ports[]: {port, protocol} of a Service (port required) or a slice (port null: all ports, of no
 * use to a target). TCP only: protocol absent means TCP.
 */
static int parse_ports(json_t *ports, bool required, struct cruise_endpoints *e, const char *what,
		       const char *name, char *err, size_t errlen)
{
	json_t *p;
	size_t i;

	json_array_foreach(ports, i, p)
	{
		json_t *port = json_is_object(p) ? json_object_get(p, "port") : NULL;
		const char *proto;

		if (!json_is_object(p) || cruise_k8s_opt_string(p, "protocol", &proto) ||
		    (port && !json_is_null(port) && !json_is_integer(port)) ||
		    (required && !json_is_integer(port)))
			return cruise_k8s_fail(err, errlen, "%s %.64s: malformed ports[%zu]", what,
					       name, i);
		if (!json_is_integer(port))
			continue;
		if (json_integer_value(port) < 1 || json_integer_value(port) > 65535)
			return cruise_k8s_fail(err, errlen,
					       "%s %.64s: ports[%zu].port out of range", what, name,
					       i);
		if (!proto || !strcmp(proto, "TCP"))
			add_port(e, (__u16)json_integer_value(port));
	}
	return 0;
}

static int parse_service(json_t *obj, struct cruise_k8s_obj *o, char *err, size_t errlen)
{
	json_t *spec, *ips, *ports, *ip;
	const char *type, *cip;
	struct cruise_prefix p;
	size_t i;
	int ret = take_name(obj, o, "a Service", err, errlen);

	if (ret)
		return ret;
	spec = json_object_get(obj, "spec");
	if (!json_is_object(spec) || cruise_k8s_opt_string(spec, "type", &type) ||
	    cruise_k8s_opt_string(spec, "clusterIP", &cip) ||
	    cruise_k8s_opt_array(spec, "clusterIPs", &ips) ||
	    cruise_k8s_opt_array(spec, "ports", &ports))
		return cruise_k8s_fail(err, errlen, "Service %.64s: malformed spec", o->name);
	o->headless = cip && !strcmp(cip, "None");
	/* clusterIPs[0] is clusterIP; an older server may send clusterIP alone */
	if (!ips && cip && *cip && !o->headless) {
		if (parse_ip(cip, AF_UNSPEC, &p))
			return cruise_k8s_fail(err, errlen,
					       "Service %.64s: bad clusterIP \"%.64s\"", o->name,
					       cip);
		add_addr(&o->ep, &p);
	}
	json_array_foreach(ips, i, ip)
	{
		const char *s = json_string_value(ip);

		if (!json_is_string(ip) || strlen(s) != json_string_length(ip))
			return cruise_k8s_fail(err, errlen,
					       "Service %.64s: clusterIPs[%zu] is not "
					       "a string",
					       o->name, i);
		if (!strcmp(s, "None")) {
			o->headless = true;
			continue;
		}
		if (parse_ip(s, AF_UNSPEC, &p))
			return cruise_k8s_fail(err, errlen,
					       "Service %.64s: bad clusterIPs[%zu] \"%.64s\"",
					       o->name, i, s);
		add_addr(&o->ep, &p);
	}
	if (o->headless)
		o->ep.n_addrs = 0;
	return parse_ports(ports, true, &o->ep, "Service", o->name, err, errlen);
}

/* One endpoint of a slice: its addresses when it is ready (conditions.ready not false). */
static int parse_endpoint(json_t *ept, int family, struct cruise_k8s_obj *o, size_t i, char *err,
			  size_t errlen)
{
	json_t *addrs, *cond, *ready = NULL, *a;
	struct cruise_prefix p;
	size_t j;

	if (!json_is_object(ept) || cruise_k8s_opt_array(ept, "addresses", &addrs) || !addrs ||
	    cruise_k8s_opt_object(ept, "conditions", &cond))
		return cruise_k8s_fail(err, errlen, "EndpointSlice %.64s: malformed endpoints[%zu]",
				       o->name, i);
	if (cond)
		ready = json_object_get(cond, "ready");
	if (ready && !json_is_null(ready) && !json_is_boolean(ready))
		return cruise_k8s_fail(err, errlen,
				       "EndpointSlice %.64s: endpoints[%zu].conditions.ready is "
				       "not a boolean",
				       o->name, i);
	json_array_foreach(addrs, j, a)
	{
		const char *s = json_string_value(a);

		if (!json_is_string(a) || strlen(s) != json_string_length(a))
			return cruise_k8s_fail(err, errlen,
					       "EndpointSlice %.64s: endpoints[%zu].addresses[%zu] "
					       "is not a string",
					       o->name, i, j);
		if (family == AF_UNSPEC)
			continue; /* FQDN: names, not addresses */
		if (parse_ip(s, family, &p))
			return cruise_k8s_fail(err, errlen,
					       "EndpointSlice %.64s: bad address \"%.64s\"",
					       o->name, s);
		if (!ready || !json_is_false(ready))
			add_addr(&o->ep, &p);
	}
	return 0;
}

static int parse_slice(json_t *obj, struct cruise_k8s_obj *o, char *err, size_t errlen)
{
	json_t *endpoints, *ports, *ept;
	const char *type;
	int family, ret = take_name(obj, o, "an EndpointSlice", err, errlen);
	size_t i;

	if (ret)
		return ret;
	if (cruise_k8s_opt_string(obj, "addressType", &type) || !type ||
	    cruise_k8s_opt_array(obj, "endpoints", &endpoints) ||
	    cruise_k8s_opt_array(obj, "ports", &ports))
		return cruise_k8s_fail(err, errlen, "EndpointSlice %.64s: malformed", o->name);
	family = !strcmp(type, "IPv4") ? AF_INET : !strcmp(type, "IPv6") ? AF_INET6 : AF_UNSPEC;
	json_array_foreach(endpoints, i, ept)
	{
		ret = parse_endpoint(ept, family, o, i, err, errlen);
		if (ret)
			return ret;
	}
	return parse_ports(ports, false, &o->ep, "EndpointSlice", o->name, err, errlen);
}

static int parse_list(const char *buf, size_t len, const char *kind, parse_obj_fn parse,
		      struct cruise_k8s_obj **v, size_t *n, char *rv, size_t rvlen, char *err,
		      size_t errlen)
{
	json_t *root, *items;
	struct cruise_k8s_obj *out;
	int ret = cruise_k8s_list_open(buf, len, kind, &root, &items, rv, rvlen, err, errlen);
	size_t count = json_array_size(items);

	if (ret)
		return ret;
	out = calloc(count ? count : 1, sizeof(*out));
	if (!out) {
		json_decref(root);
		return -ENOMEM;
	}
	for (size_t i = 0; i < count && !ret; i++)
		ret = parse(json_array_get(items, i), &out[i], err, errlen);
	json_decref(root); /* items with it */
	if (ret) {
		free(out);
		return ret;
	}
	*v = out;
	*n = count;
	return 0;
}

static int parse_event(const char *buf, size_t len, parse_obj_fn parse,
		       enum cruise_k8s_event_type *type, struct cruise_k8s_obj *o, char *rv,
		       size_t rvlen, char *err, size_t errlen)
{
	json_t *root, *obj;
	int ret = cruise_k8s_event_open(buf, len, &root, &obj, type, rv, rvlen, err, errlen);

	memset(o, 0, sizeof(*o));
	if (ret || !obj)
		return ret;
	ret = parse(obj, o, err, errlen);
	if (!ret && cruise_k8s_object_rv(obj, rv, rvlen))
		ret = cruise_k8s_fail(err, errlen, "%.64s: no good resourceVersion", o->name);
	json_decref(root);
	return ret;
}

int cruise_k8s_parse_services(const char *buf, size_t len, struct cruise_k8s_obj **v, size_t *n,
			      char *rv, size_t rvlen, char *err, size_t errlen)
{
	return parse_list(buf, len, "ServiceList", parse_service, v, n, rv, rvlen, err, errlen);
}

int cruise_k8s_parse_slices(const char *buf, size_t len, struct cruise_k8s_obj **v, size_t *n,
			    char *rv, size_t rvlen, char *err, size_t errlen)
{
	return parse_list(buf, len, "EndpointSliceList", parse_slice, v, n, rv, rvlen, err, errlen);
}

int cruise_k8s_parse_service_event(const char *buf, size_t len, enum cruise_k8s_event_type *type,
				   struct cruise_k8s_obj *o, char *rv, size_t rvlen, char *err,
				   size_t errlen)
{
	return parse_event(buf, len, parse_service, type, o, rv, rvlen, err, errlen);
}

int cruise_k8s_parse_slice_event(const char *buf, size_t len, enum cruise_k8s_event_type *type,
				 struct cruise_k8s_obj *o, char *rv, size_t rvlen, char *err,
				 size_t errlen)
{
	return parse_event(buf, len, parse_slice, type, o, rv, rvlen, err, errlen);
}

void cruise_endpoints_merge(struct cruise_endpoints *a, const struct cruise_endpoints *b)
{
	for (unsigned int i = 0; i < b->n_addrs; i++)
		add_addr(a, &b->addrs[i]);
	for (unsigned int i = 0; i < b->n_ports; i++)
		add_port(a, b->ports[i]);
	a->truncated |= b->truncated;
}

static int addr_cmp(const void *x, const void *y)
{
	const struct cruise_prefix *a = x, *b = y;

	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	return memcmp(a->addr, b->addr, sizeof(a->addr));
}

static int port_cmp(const void *x, const void *y)
{
	return (int)*(const __u16 *)x - (int)*(const __u16 *)y;
}

void cruise_endpoints_sort(struct cruise_endpoints *e)
{
	qsort(e->addrs, e->n_addrs, sizeof(e->addrs[0]), addr_cmp);
	qsort(e->ports, e->n_ports, sizeof(e->ports[0]), port_cmp);
}

void cruise_endpoints_addrs_str(const struct cruise_prefix *a, unsigned int n, char *buf,
				size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < n && used + 1 < len; i++) {
		char s[INET6_ADDRSTRLEN];
		int w;

		inet_ntop(a[i].family, a[i].addr, s, sizeof(s));
		w = snprintf(buf + used, len - used, "%s%s", i ? " " : "", s);
		used = w < 0 ? len : used + (size_t)w;
	}
}
