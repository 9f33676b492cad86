// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The config's checks (config_raw.h): from the strings config.c read, each with its line, to a
 * struct cruise_config, parsed with units.h and checked whole: limits, duplicates, targets that
 * overlap, cgroups outside the scope or under two media, Kubernetes' label rules. The fleet block
 * has its own file (config_fleet.c). Nothing is returned unless every check passes.
 *
 * Over 600 lines: one check per field, each a few lines naming its own field and problem, and
 * the checks across fields (overlaps, duplicates, scope) need the whole config at hand.
 */
#define _GNU_SOURCE /* explicit_bzero */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "cruise.h"
#include "config_raw.h"

#define DEFAULT_MAX_WAIT NSEC_PER_SEC
#define PIN_DIR_MAX	 200 /* the loader adds "/links/<program>" within 256 bytes */

/* A target's or medium's name, checked, into out. */
int cfg_take_name(struct cfg_ctx *c, const char *path, const struct raw_str *v, char **out)
{
	const char *s = v->s;
	char q[QBUF];
	int ret = 0;
	size_t i;

	if (!*s)
		return cfg_fail(c, path, v->line, "empty");
	if (strlen(s) >= CRUISE_NAME_LEN)
		return cfg_fail(c, path, v->line, "\"%s\" is longer than %d characters",
				cruise_quote(s, q, sizeof(q)), CRUISE_NAME_LEN - 1);
	for (i = 0; s[i]; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return cfg_fail(
				c, path, v->line,
				"\"%s\": only letters, digits, '_', '.' and '-' are allowed",
				cruise_quote(s, q, sizeof(q)));
	}
	*out = cfg_strdup(s, &ret);
	return ret;
}

/*
 * A cgroup path relative to the cgroup2 mount, as /proc/PID/cgroup shows it: one leading '/', no
 * trailing or doubled '/' ("workers//push/" is "/workers/push"; "/" is the root). "." and ".."
 * would leave the mount or name a cgroup twice, and are refused.
 */
static int norm_cgroup(struct cfg_ctx *c, const char *path, unsigned int line, const char *s,
		       char **out)
{
	char q[QBUF], *d, *o;
	const char *p = s;

	if (!*s)
		return cfg_fail(c, path, line, "empty; \"/\" is the root cgroup");
	d = malloc(strlen(s) + 2);
	if (!d)
		return -ENOMEM;
	o = d;
	while (*p) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (!n)
			break;
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			free(d);
			return cfg_fail(c, path, line,
					"\"%s\": \".\" and \"..\" are not allowed in a cgroup path",
					cruise_quote(s, q, sizeof(q)));
		}
		*o++ = '/';
		memcpy(o, p, n);
		o += n;
		p += n;
	}
	if (o == d)
		*o++ = '/';
	*o = '\0';
	*out = d;
	return 0;
}

static int parse_pin_dir(struct cfg_ctx *c, const struct raw_str *v, char **out)
{
	const char *path = "pin_dir", *s = v->s ? v->s : CRUISE_DEFAULT_PIN_DIR;
	char q[QBUF];
	int ret;

	if (s[0] != '/')
		return cfg_fail(c, path, v->line, "\"%s\": expected an absolute path",
				cruise_quote(s, q, sizeof(q)));
	if (strlen(s) > PIN_DIR_MAX)
		return cfg_fail(c, path, v->line, "longer than %d characters", PIN_DIR_MAX);
	/* the same rules as a cgroup path: one spelling per directory */
	ret = norm_cgroup(c, path, v->line, s, out);
	if (ret)
		return ret;
	if (!strcmp(*out, "/")) {
		free(*out);
		*out = NULL;
		return cfg_fail(c, path, v->line,
				"\"/\": expected a directory of its own on a bpffs");
	}
	return 0;
}

/* "" (off), "127.0.0.1:9464", "0.0.0.0:9464", "[::1]:9464": an IP address, then a port. */
static int check_metrics(struct cfg_ctx *c, const char *s, unsigned int line)
{
	const char *orig = s, *colon = strrchr(s, ':');
	unsigned char addr[16];
	char q[QBUF], host[INET6_ADDRSTRLEN];
	size_t hlen;
	__u64 port;
	int family = AF_INET;

	if (!*s)
		return 0;
	if (!colon)
		goto bad;
	hlen = colon - s;
	if (s[0] == '[') {
		if (hlen < 2 || s[hlen - 1] != ']')
			goto bad;
		s++;
		hlen -= 2;
		family = AF_INET6;
	}
	if (hlen >= sizeof(host))
		goto bad;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(family, host, addr) != 1)
		goto bad;
	if (cruise_parse_count(colon + 1, 65535, &port, NULL, 0) || !port)
		goto bad;
	return 0;
bad:
	return cfg_fail(c, "metrics", line,
			"bad listen address \"%s\": expected IP:PORT (\"127.0.0.1:9464\", "
			"\"[::1]:9464\"), or \"\" for no metrics",
			cruise_quote(orig, q, sizeof(q)));
}

/* The same prefix as the datapath's trie keys it (v4 as ::ffff:a.b.c.d): a target given twice. */
static bool same_prefix(const struct cruise_prefix *a, const struct cruise_prefix *b)
{
	struct cruise_target_key ka, kb;

	cruise_prefix_key(&ka, a, 0);
	cruise_prefix_key(&kb, b, 0);
	return !memcmp(&ka, &kb, sizeof(ka));
}

/* hosts: DNS names, each once; an address belongs under addresses. */
static int parse_hosts(struct cfg_ctx *c, unsigned int t, const struct raw_strs *r,
		       struct cruise_cfg_target *out)
{
	char path[96], q[QBUF];
	unsigned char buf[16];
	int ret = 0;

	snprintf(path, sizeof(path), "targets[%u].hosts", t);
	if (r->line && !r->n)
		return cfg_fail(c, path, r->line, "empty; at least one host name");
	out->hosts = calloc(r->n ? r->n : 1, sizeof(*out->hosts));
	if (!out->hosts)
		return -ENOMEM;
	for (unsigned int i = 0; i < r->n; i++) {
		const char *s = r->v[i].s;

		snprintf(path, sizeof(path), "targets[%u].hosts[%u]", t, i);
		if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
			return cfg_fail(c, path, r->v[i].line,
					"\"%s\" is an address: list it under addresses",
					cruise_quote(s, q, sizeof(q)));
		if (!cruise_dns_name_ok(s, strlen(s)))
			return cfg_fail(
				c, path, r->v[i].line,
				"\"%s\" is not a host name: labels of 1 to 63 letters, digits "
				"and '-' (not at either end), 253 characters at most",
				cruise_quote(s, q, sizeof(q)));
		for (unsigned int j = 0; j < i; j++)
			if (!strcasecmp(out->hosts[j], s))
				return cfg_fail(c, path, r->v[i].line,
						"\"%s\" is listed twice (also hosts[%u])",
						cruise_quote(s, q, sizeof(q)), j);
		out->hosts[i] = cfg_strdup(s, &ret);
		if (ret)
			return ret;
		out->n_hosts++;
	}
	return 0;
}

/* A Kubernetes name of the DNS-1123 label kind: 1 to 63 of a-z, 0-9 and '-', alphanumeric ends. */
static bool dns_label_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* service: {namespace, name}, both there (the walk saw to it) and each a DNS-1123 label. */
static int parse_service(struct cfg_ctx *c, unsigned int t, const struct raw_service *r,
			 struct cruise_cfg_target *out)
{
	const struct raw_str *v[2] = { &r->namespace, &r->name };
	static const char *const key[2] = { "namespace", "name" };
	char *dst[2] = { NULL, NULL }, path[96], q[QBUF];
	int ret = 0;

	if (!r->line)
		return 0;
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "targets[%u].service.%s", t, key[i]);
		if (!dns_label_ok(v[i]->s)) {
			free(dst[0]);
			return cfg_fail(
				c, path, v[i]->line,
				"\"%s\" is not a Kubernetes %s: 1 to 63 lowercase letters, "
				"digits and '-', starting and ending with a letter or digit",
				cruise_quote(v[i]->s, q, sizeof(q)), key[i]);
		}
		dst[i] = cfg_strdup(v[i]->s, &ret);
	}
	out->service_ns = dst[0];
	out->service_name = dst[1];
	return ret;
}

static int parse_target(struct cfg_ctx *c, unsigned int t, const struct raw_target *r,
			struct cruise_cfg_target *out)
{
	char path[96], uerr[384], q[QBUF];
	unsigned int i, j;
	int ret = 0;

	snprintf(path, sizeof(path), "targets[%u].name", t);
	ret = cfg_take_name(c, path, &r->name, &out->name);
	if (ret)
		return ret;

	snprintf(path, sizeof(path), "targets[%u].addresses", t);
	if (!r->addresses.line && !r->hosts.line && !r->service.line) {
		snprintf(path, sizeof(path), "targets[%u]", t);
		return cfg_fail(c, path, r->line,
				"no addresses, hosts or service: a target needs at least one of "
				"them");
	}
	if (!r->addresses.n && r->addresses.line)
		return cfg_fail(c, path, r->addresses.line, "empty; at least one address");
	ret = parse_hosts(c, t, &r->hosts, out);
	if (!ret)
		ret = parse_service(c, t, &r->service, out);
	if (ret)
		return ret;
	out->prefixes = calloc(r->addresses.n ? r->addresses.n : 1, sizeof(*out->prefixes));
	if (!out->prefixes)
		return -ENOMEM;
	for (i = 0; i < r->addresses.n; i++) {
		const struct raw_str *a = &r->addresses.v[i];

		snprintf(path, sizeof(path), "targets[%u].addresses[%u]", t, i);
		if (cruise_parse_prefix(a->s, &out->prefixes[i], uerr, sizeof(uerr)))
			return cfg_fail(c, path, a->line, "%s", uerr);
		out->n_prefixes++;
		for (j = 0; j < i; j++)
			if (same_prefix(&out->prefixes[j], &out->prefixes[i]))
				return cfg_fail(c, path, a->line,
						"\"%s\" is listed twice (also addresses[%u])",
						cruise_quote(a->s, q, sizeof(q)), j);
	}

	snprintf(path, sizeof(path), "targets[%u].ports", t);
	/* a service alone may go without: it is paced at the Service's own ports */
	if (!r->ports.line && r->service.line && !r->addresses.line && !r->hosts.line)
		return 0;
	if (!r->ports.line)
		return cfg_fail(c, path, r->line,
				"missing (required): only a target with nothing but a service may "
				"leave them out, for the Service's ports");
	if (!r->ports.n)
		return cfg_fail(c, path, r->ports.line, "empty; at least one port");
	out->ports = calloc(r->ports.n, sizeof(*out->ports));
	if (!out->ports)
		return -ENOMEM;
	for (i = 0; i < r->ports.n; i++) {
		const struct raw_str *p = &r->ports.v[i];
		__u64 port;

		snprintf(path, sizeof(path), "targets[%u].ports[%u]", t, i);
		if (cruise_parse_count(p->s, 65535, &port, NULL, 0) || !port)
			return cfg_fail(c, path, p->line, "bad port \"%s\": expected 1 to 65535",
					cruise_quote(p->s, q, sizeof(q)));
		out->ports[i] = port;
		out->n_ports++;
		for (j = 0; j < i; j++)
			if (out->ports[j] == port)
				return cfg_fail(c, path, p->line,
						"port %u is listed twice (also ports[%u])",
						(unsigned int)port, j);
	}
	return 0;
}

/* The same address and port in two targets: one trie entry, two ids. */
static int check_target_overlap(struct cfg_ctx *c, const struct cruise_config *cfg, unsigned int t,
				const struct raw_target *r)
{
	const struct cruise_cfg_target *a = &cfg->targets[t];
	unsigned int u, i, j, pi, pj;
	char path[96], q[QBUF];

	for (u = 0; u < t; u++) {
		const struct cruise_cfg_target *b = &cfg->targets[u];

		for (i = 0; i < a->n_prefixes; i++)
			for (j = 0; j < b->n_prefixes; j++) {
				if (!same_prefix(&a->prefixes[i], &b->prefixes[j]))
					continue;
				for (pi = 0; pi < a->n_ports; pi++)
					for (pj = 0; pj < b->n_ports; pj++) {
						if (a->ports[pi] != b->ports[pj])
							continue;
						snprintf(path, sizeof(path),
							 "targets[%u].addresses[%u]", t, i);
						return cfg_fail(
							c, path, r->addresses.v[i].line,
							"\"%s\" port %u is also in targets[%u] "
							"(%s)",
							cruise_quote(r->addresses.v[i].s, q,
								     sizeof(q)),
							a->ports[pi], u, b->name);
					}
			}
	}
	return 0;
}

/*
 * Whether pattern (normalized) can match the scope or a cgroup under it. The agent matches with
 * FNM_PATHNAME (agent/bind.c), where a glob matches within one component: so the pattern's first
 * as many components as the scope has must match the scope.
 */
static bool pattern_in_scope(char *pattern, const char *scope)
{
	unsigned int k = 0, n = 0;
	const char *p;
	bool ok;
	char save;
	size_t i;

	if (!strcmp(scope, "/"))
		return true;
	if (!strcmp(pattern, "/"))
		return false;
	for (p = scope; *p; p++)
		k += *p == '/';
	for (i = 0; pattern[i]; i++)
		if (pattern[i] == '/' && ++n > k)
			break;
	if (n < k)
		return false;
	save = pattern[i];
	pattern[i] = '\0';
	ok = !fnmatch(pattern, scope, FNM_PATHNAME);
	pattern[i] = save;
	return ok;
}

/* Kubernetes: a DNS-1123 subdomain prefix (253), a '/', then a name of at most 63 characters:
 * alphanumerics at both ends, '-', '_' and '.' between. */
static bool label_name_ok(const char *s, size_t n)
{
	size_t i;

	if (!n || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

const char *cruise_label_key_problem(const char *key)
{
	const char *slash = strchr(key, '/'), *name = slash ? slash + 1 : key;
	size_t plen = slash ? (size_t)(slash - key) : 0, i;

	if (!*key)
		return "empty";
	if (slash) {
		if (!plen || plen > 253)
			return "the prefix before '/' must be 1 to 253 characters";
		for (i = 0; i < plen; i++) {
			char ch = key[i];

			if (!(ch >= 'a' && ch <= 'z') && !(ch >= '0' && ch <= '9') && ch != '-' &&
			    ch != '.')
				return "the prefix must be a DNS subdomain: lowercase letters, "
				       "digits, '-' and '.'";
		}
		if (!isalnum((unsigned char)key[0]) || !isalnum((unsigned char)key[plen - 1]))
			return "the prefix must start and end with a letter or digit";
	}
	if (!label_name_ok(name, strlen(name)))
		return "the name must be 1 to 63 characters: letters and digits at both ends, "
		       "'-', '_' and '.' between";
	return NULL;
}

const char *cruise_label_value_problem(const char *value)
{
	if (!*value || label_name_ok(value, strlen(value)))
		return NULL;
	return "a value is empty or at most 63 characters: letters and digits at both ends, "
	       "'-', '_' and '.' between";
}

/* media[m].pods.matchLabels into out->labels. */
static int parse_labels(struct cfg_ctx *c, unsigned int m, const struct raw_pods *r,
			struct cruise_cfg_medium *out)
{
	const struct raw_labels *ls = &r->match;
	char path[96], q[QBUF];
	unsigned int i, j;
	const char *why;
	int ret = 0;

	snprintf(path, sizeof(path), "media[%u].pods.matchLabels", m);
	if (!ls->line)
		return cfg_fail(c, path, r->line, "missing (required)");
	if (ls->found)
		return cfg_fail(c, path, ls->value_line, "expected a mapping, found %s", ls->found);
	if (!ls->n)
		return cfg_fail(c, path, ls->value_line,
				"empty; at least one label (an empty selector would take every "
				"pod on the node)");
	for (i = 0; i < ls->n; i++) {
		const struct raw_label *l = &ls->v[i];

		if (!l->value)
			return cfg_fail(c, path, l->line,
					"label \"%s\": expected a single value, found %s",
					cruise_quote(l->key, q, sizeof(q)), l->found);
		if ((why = cruise_label_key_problem(l->key)))
			return cfg_fail(c, path, l->line, "label key \"%s\": %s",
					cruise_quote(l->key, q, sizeof(q)), why);
		if ((why = cruise_label_value_problem(l->value)))
			return cfg_fail(c, path, l->line, "label %s value \"%s\": %s", l->key,
					cruise_quote(l->value, q, sizeof(q)), why);
		for (j = 0; j < i; j++)
			if (!strcmp(ls->v[j].key, l->key))
				return cfg_fail(c, path, l->line, "label %s is given twice",
						l->key);
		if (i == CRUISE_MAX_LABELS)
			return cfg_fail(c, path, l->line, "more than %d labels", CRUISE_MAX_LABELS);
	}
	out->labels = calloc(ls->n, sizeof(*out->labels));
	if (!out->labels)
		return -ENOMEM;
	for (i = 0; i < ls->n && !ret; i++, out->n_labels++) {
		out->labels[i].key = cfg_strdup(ls->v[i].key, &ret);
		out->labels[i].value = cfg_strdup(ls->v[i].value, &ret);
	}
	return ret;
}

/* cgroups: normalized, under the scope, each once. */
static int parse_cgroups(struct cfg_ctx *c, unsigned int m, const struct raw_strs *r,
			 const char *scope, struct cruise_cfg_medium *out)
{
	char path[96], q[QBUF], q2[QBUF];
	unsigned int i, j;
	int ret;

	out->cgroups = calloc(r->n ? r->n : 1, sizeof(*out->cgroups));
	if (!out->cgroups)
		return -ENOMEM;
	for (i = 0; i < r->n; i++) {
		unsigned int line = r->v[i].line;
		char *cg;

		snprintf(path, sizeof(path), "media[%u].cgroups[%u]", m, i);
		ret = norm_cgroup(c, path, line, r->v[i].s, &out->cgroups[i]);
		if (ret)
			return ret;
		out->n_cgroups++;
		cg = out->cgroups[i];
		/* only cgroups under the scope are paced: one outside is a mistake, said now */
		if (!pattern_in_scope(cg, scope))
			return cfg_fail(
				c, path, line,
				"\"%s\" is outside the scope \"%s\", where nothing is paced",
				cruise_quote(cg, q, sizeof(q)),
				cruise_quote(scope, q2, sizeof(q2)));
		for (j = 0; j < i; j++)
			if (!strcmp(out->cgroups[j], cg))
				return cfg_fail(c, path, line,
						"\"%s\" is listed twice (also cgroups[%u])",
						cruise_quote(cg, q, sizeof(q)), j);
	}
	return 0;
}

/* "media[m].KEY: problem" at the key's line. */
static int medium_fail(struct cfg_ctx *c, unsigned int m, const char *key, const struct raw_str *v,
		       const char *problem)
{
	char path[96];

	snprintf(path, sizeof(path), "media[%u].%s", m, key);
	return cfg_fail(c, path, v->line, "%s", problem);
}

static int parse_medium(struct cfg_ctx *c, unsigned int m, const struct raw_medium *r,
			const char *scope, bool have_fleet, struct cruise_cfg_medium *out)
{
	char path[96], uerr[384], q[QBUF], q2[QBUF];
	__u64 v;
	int ret = 0;

	snprintf(path, sizeof(path), "media[%u].name", m);
	ret = cfg_take_name(c, path, &r->name, &out->name);
	if (ret)
		return ret;

	if (cruise_parse_rate(r->rate.s, &out->interval_ns, uerr, sizeof(uerr)))
		return medium_fail(c, m, "rate", &r->rate, uerr);
	if (r->burst.s &&
	    cruise_parse_count(r->burst.s, CRUISE_BURST_MAX, &out->burst, uerr, sizeof(uerr)))
		return medium_fail(c, m, "burst", &r->burst, uerr);
	out->max_wait_ns = DEFAULT_MAX_WAIT;
	if (r->max_wait.s) {
		if (cruise_parse_duration(r->max_wait.s, &out->max_wait_ns, uerr, sizeof(uerr)))
			return medium_fail(c, m, "max_wait", &r->max_wait, uerr);
		snprintf(uerr, sizeof(uerr),
			 "\"%s\" is above the maximum, 120s (the kernel caps a SYN timeout at 120 "
			 "s)",
			 cruise_quote(r->max_wait.s, q, sizeof(q)));
		if (out->max_wait_ns > CRUISE_MAX_WAIT_MAX_NS)
			return medium_fail(c, m, "max_wait", &r->max_wait, uerr);
	}
	if (r->max_conns.s) {
		if (cruise_parse_count(r->max_conns.s, UINT32_MAX, &v, uerr, sizeof(uerr)))
			return medium_fail(c, m, "max_conns", &r->max_conns, uerr);
		out->max_conns = v;
	}
	out->refuse_errno = ECONNREFUSED;
	if (r->refuse_errno.s &&
	    cruise_parse_errno(r->refuse_errno.s, &out->refuse_errno, uerr, sizeof(uerr)))
		return medium_fail(c, m, "refuse_errno", &r->refuse_errno, uerr);
	if (r->dry_run.s && cruise_parse_bool(r->dry_run.s, &out->dry_run, uerr, sizeof(uerr)))
		return medium_fail(c, m, "dry_run", &r->dry_run, uerr);

	if (r->fleet.s && cruise_parse_bool(r->fleet.s, &out->fleet, uerr, sizeof(uerr)))
		return medium_fail(c, m, "fleet", &r->fleet, uerr);
	if (out->fleet && !have_fleet)
		return medium_fail(c, m, "fleet", &r->fleet,
				   "fleet: true needs a top-level fleet: block (redis, node, ...)");
	if (r->fallback_rate.s) {
		if (!out->fleet)
			return medium_fail(c, m, "fallback_rate", &r->fallback_rate,
					   "only with fleet: true (a node's rate while it holds no "
					   "share of the fleet's)");
		if (cruise_parse_rate(r->fallback_rate.s, &out->fallback_interval_ns, uerr,
				      sizeof(uerr)))
			return medium_fail(c, m, "fallback_rate", &r->fallback_rate, uerr);
		/* one node alone never paces faster than the whole fleet may */
		snprintf(uerr, sizeof(uerr), "\"%s\" is above the medium's rate, \"%s\"",
			 cruise_quote(r->fallback_rate.s, q, sizeof(q)),
			 cruise_quote(r->rate.s, q2, sizeof(q2)));
		if (out->fallback_interval_ns < out->interval_ns)
			return medium_fail(c, m, "fallback_rate", &r->fallback_rate, uerr);
	}

	snprintf(path, sizeof(path), "media[%u].cgroups", m);
	if (!r->cgroups.n && r->cgroups.line)
		return cfg_fail(c, path, r->cgroups.line, "empty; at least one cgroup");
	if (!r->cgroups.n && !r->pods.line) {
		snprintf(path, sizeof(path), "media[%u]", m);
		return cfg_fail(c, path, r->line,
				"no cgroups and no pods: a medium needs cgroups, pods or both");
	}
	if (r->pods.line) {
		ret = parse_labels(c, m, &r->pods, out);
		if (ret)
			return ret;
	}
	return parse_cgroups(c, m, &r->cgroups, scope, out);
}

bool cruise_config_uses_pods(const struct cruise_config *cfg)
{
	for (unsigned int i = 0; cfg && i < cfg->n_media; i++)
		if (cfg->media[i].n_labels)
			return true;
	return false;
}

bool cruise_config_uses_services(const struct cruise_config *cfg)
{
	for (unsigned int i = 0; cfg && i < cfg->n_targets; i++)
		if (cfg->targets[i].service_name)
			return true;
	return false;
}

struct cg_ref {
	const char *s;
	unsigned int m, i;
};

static int cg_ref_cmp(const void *a, const void *b)
{
	const struct cg_ref *x = a, *y = b;
	int d = strcmp(x->s, y->s);

	if (d)
		return d;
	if (x->m != y->m)
		return x->m < y->m ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* A cgroup pattern under two media; reported at the earliest second listing in the file. */
static int check_cgroup_dups(struct cfg_ctx *c, const struct cruise_config *cfg,
			     const struct raw_medium *rm)
{
	struct cg_ref *v, *dup = NULL, *first = NULL;
	size_t n = 0, k, i;
	unsigned int m;
	int ret = 0;

	for (m = 0; m < cfg->n_media; m++)
		n += cfg->media[m].n_cgroups;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (m = 0, k = 0; m < cfg->n_media; m++)
		for (i = 0; i < cfg->media[m].n_cgroups; i++)
			v[k++] = (struct cg_ref){ cfg->media[m].cgroups[i], m, i };
	qsort(v, n, sizeof(*v), cg_ref_cmp);
	for (k = 1; k < n; k++) {
		/* the second of each run of equal patterns */
		if (strcmp(v[k].s, v[k - 1].s) || (k >= 2 && !strcmp(v[k].s, v[k - 2].s)))
			continue;
		if (!dup || v[k].m < dup->m || (v[k].m == dup->m && v[k].i < dup->i)) {
			dup = &v[k];
			first = &v[k - 1];
		}
	}
	if (dup) {
		char path[96], q[QBUF];

		snprintf(path, sizeof(path), "media[%u].cgroups[%u]", dup->m, dup->i);
		ret = cfg_fail(c, path, rm[dup->m].cgroups.v[dup->i].line,
			       "\"%s\" is also listed under media[%u] (%s); a cgroup paces under "
			       "one medium",
			       cruise_quote(dup->s, q, sizeof(q)), first->m,
			       cfg->media[first->m].name);
	}
	free(v);
	return ret;
}

static int check_targets(struct cfg_ctx *c, const struct raw_config *r, struct cruise_config *cfg)
{
	const struct raw_target *rt = r->targets.v;
	unsigned int i, j;
	__u64 pairs = 0;
	char path[96];
	int ret;

	if (!r->targets.n)
		return cfg_fail(c, "targets", r->targets.line,
				"empty; at least one target (the database) is required");
	cfg->targets = calloc(r->targets.n, sizeof(*cfg->targets));
	if (!cfg->targets)
		return -ENOMEM;
	for (i = 0; i < r->targets.n; i++) {
		cfg->n_targets++;
		ret = parse_target(c, i, &rt[i], &cfg->targets[i]);
		if (ret)
			return ret;
		snprintf(path, sizeof(path), "targets[%u]", i);
		pairs += (__u64)cfg->targets[i].n_prefixes * cfg->targets[i].n_ports;
		if (pairs > CRUISE_MAX_TARGETS)
			return cfg_fail(c, path, rt[i].line,
					"more than %d address and port pairs in all targets",
					CRUISE_MAX_TARGETS);
		for (j = 0; j < i; j++) {
			if (strcmp(cfg->targets[j].name, cfg->targets[i].name))
				continue;
			snprintf(path, sizeof(path), "targets[%u].name", i);
			return cfg_fail(c, path, rt[i].name.line,
					"\"%s\" is also the name of targets[%u]",
					cfg->targets[i].name, j);
		}
		ret = check_target_overlap(c, cfg, i, &rt[i]);
		if (ret)
			return ret;
	}
	return 0;
}

static int check_media(struct cfg_ctx *c, const struct raw_config *r, struct cruise_config *cfg)
{
	const struct raw_medium *rm = r->media.v;
	unsigned int i, j;
	char path[96];
	int ret;

	if (!r->media.n)
		return cfg_fail(c, "media", r->media.line,
				"empty; at least one medium is required");
	if (r->media.n > CRUISE_MAX_MEDIA) {
		snprintf(path, sizeof(path), "media[%d]", CRUISE_MAX_MEDIA);
		return cfg_fail(c, path, rm[CRUISE_MAX_MEDIA].line, "more than %d media",
				CRUISE_MAX_MEDIA);
	}
	cfg->media = calloc(r->media.n, sizeof(*cfg->media));
	if (!cfg->media)
		return -ENOMEM;
	for (i = 0; i < r->media.n; i++) {
		cfg->n_media++;
		ret = parse_medium(c, i, &rm[i], cfg->scope, r->fleet.line, &cfg->media[i]);
		if (!ret)
			ret = cfg_check_adaptive(c, i, &rm[i], cfg, &cfg->media[i]);
		if (ret)
			return ret;
		for (j = 0; j < i; j++) {
			if (strcmp(cfg->media[j].name, cfg->media[i].name))
				continue;
			snprintf(path, sizeof(path), "media[%u].name", i);
			return cfg_fail(c, path, rm[i].name.line,
					"\"%s\" is also the name of media[%u]", cfg->media[i].name,
					j);
		}
	}
	return check_cgroup_dups(c, cfg, rm);
}

int cfg_check(struct cfg_ctx *c, const struct raw_config *r, struct cruise_config **out)
{
	struct cruise_config *cfg;
	int ret = 0;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	ret = norm_cgroup(c, "scope", r->scope.line, r->scope.s ? r->scope.s : "/", &cfg->scope);
	if (!ret)
		ret = parse_pin_dir(c, &r->pin_dir, &cfg->pin_dir);
	if (!ret)
		cfg->metrics =
			cfg_strdup(r->metrics.s ? r->metrics.s : CRUISE_DEFAULT_METRICS, &ret);
	if (!ret)
		ret = check_metrics(c, cfg->metrics, r->metrics.line);
	if (!ret && r->fleet.line) {
		cfg->fleet = calloc(1, sizeof(*cfg->fleet));
		ret = cfg->fleet ? cfg_check_fleet(c, &r->fleet, cfg->fleet) : -ENOMEM;
	}
	if (!ret)
		ret = cfg_check_signals(c, &r->signals, cfg);
	if (!ret)
		ret = check_targets(c, r, cfg);
	if (!ret)
		ret = check_media(c, r, cfg);
	if (ret) {
		cruise_config_free(cfg);
		return ret;
	}
	*out = cfg;
	return 0;
}

void cruise_config_free(struct cruise_config *cfg)
{
	unsigned int i, j;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_targets; i++) {
		free(cfg->targets[i].name);
		free(cfg->targets[i].prefixes);
		free(cfg->targets[i].ports);
		for (unsigned int j = 0; j < cfg->targets[i].n_hosts; j++)
			free(cfg->targets[i].hosts[j]);
		free(cfg->targets[i].hosts);
		free(cfg->targets[i].service_ns);
		free(cfg->targets[i].service_name);
	}
	for (i = 0; i < cfg->n_media; i++) {
		free(cfg->media[i].name);
		for (j = 0; j < cfg->media[i].n_cgroups; j++)
			free(cfg->media[i].cgroups[j]);
		free(cfg->media[i].cgroups);
		for (j = 0; j < cfg->media[i].n_labels; j++) {
			free(cfg->media[i].labels[j].key);
			free(cfg->media[i].labels[j].value);
		}
		free(cfg->media[i].labels);
	}
	if (cfg->fleet) {
		free(cfg->fleet->redis);
		free(cfg->fleet->node);
		free(cfg->fleet->key_prefix);
		free(cfg->fleet->username);
		if (cfg->fleet->password)
			explicit_bzero(cfg->fleet->password, strlen(cfg->fleet->password));
		free(cfg->fleet->password);
		free(cfg->fleet->password_file);
		free(cfg->fleet);
	}
	cfg_free_signals(cfg);
	free(cfg->targets);
	free(cfg->media);
	free(cfg->scope);
	free(cfg->pin_dir);
	free(cfg->metrics);
	free(cfg);
}
