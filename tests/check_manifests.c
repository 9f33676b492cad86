// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The deployment's Kubernetes manifests, checked: every YAML document of every *.yaml under a
 * directory (default deploy/) must parse, and the DaemonSet, its ServiceAccount, ClusterRole and
 * binding, and the ConfigMap must hold what running cruise-agent safely takes (check_daemonset
 * and friends say what and why). The ConfigMap's config is validated by the agent's own parser,
 * as it is and with its commented-out keys ("#key: value") turned on: the optional fleet example
 * must stay a config the agent takes, and its Redis (check_fleet) must be the one of deploy/,
 * reached where its Service is, with the agent's password. Comments cannot be checked; the
 * fields they explain can.
 *
 *   check_manifests [DIR...]    one line per problem on stderr; exit 0 when there is none
 *
 * tests/test_manifests.c runs it on deploy/ and on broken copies that must fail.
 *
 * Over 600 lines: one checker per manifest kind, all run over the same parsed documents.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"
#include "check_manifests.h"

struct doc {
	char file[1024];
	yaml_document_t d;
};

struct checker {
	struct doc *docs;
	size_t n, cap;
	int problems;
	FILE *report;
	/* the DaemonSet's pod spec and cruise-agent container, for the ConfigMap's checks */
	yaml_document_t *ds;
	yaml_node_t *pod, *agent;
	const char *ns;
};

static void problem(struct checker *c, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct checker *c, const char *file, const char *fmt, ...)
{
	va_list ap;

	c->problems++;
	if (!c->report)
		return;
	fprintf(c->report, "%s: ", file);
	va_start(ap, fmt);
	vfprintf(c->report, fmt, ap);
	va_end(ap);
	fputc('\n', c->report);
}

/* YAML access: a mapping's value by key, a dotted path of keys, a scalar's text */

static yaml_node_t *get(yaml_document_t *d, yaml_node_t *n, const char *key)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static yaml_node_t *path(yaml_document_t *d, yaml_node_t *n, const char *dotted)
{
	char buf[256], *save = NULL, *k;

	snprintf(buf, sizeof(buf), "%s", dotted);
	for (k = strtok_r(buf, ".", &save); k && n; k = strtok_r(NULL, ".", &save))
		n = get(d, n, k);
	return n;
}

static const char *text(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool text_is(yaml_node_t *n, const char *want)
{
	return text(n) && !strcmp(text(n), want);
}

static size_t items(yaml_node_t *n)
{
	return n && n->type == YAML_SEQUENCE_NODE
		       ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
		       : 0;
}

static yaml_node_t *item(yaml_document_t *d, yaml_node_t *n, size_t i)
{
	return yaml_document_get_node(d, n->data.sequence.items.start[i]);
}

static bool seq_has(yaml_document_t *d, yaml_node_t *n, const char *want)
{
	for (size_t i = 0; i < items(n); i++)
		if (text_is(item(d, n, i), want))
			return true;
	return false;
}

static const char *namespace_of(yaml_document_t *d)
{
	return text(path(d, yaml_document_get_root_node(d), "metadata.namespace")) ?: "default";
}

/* The document of kind named name, in namespace ns (NULL: any). */
static struct doc *find_named(struct checker *c, const char *kind, const char *name, const char *ns)
{
	for (size_t i = 0; i < c->n; i++) {
		yaml_document_t *d = &c->docs[i].d;
		yaml_node_t *root = yaml_document_get_root_node(d);

		if (text_is(get(d, root, "kind"), kind) &&
		    text_is(path(d, root, "metadata.name"), name) &&
		    (!ns || !strcmp(namespace_of(d), ns)))
			return &c->docs[i];
	}
	return NULL;
}

static struct doc *find_kind(struct checker *c, const char *kind, const char *name, size_t *count)
{
	struct doc *found = NULL;

	*count = 0;
	for (size_t i = 0; i < c->n; i++) {
		yaml_document_t *d = &c->docs[i].d;
		yaml_node_t *root = yaml_document_get_root_node(d);

		if (!text_is(get(d, root, "kind"), kind))
			continue;
		if (name && !text_is(path(d, root, "metadata.name"), name))
			continue;
		(*count)++;
		found = &c->docs[i];
	}
	return found;
}

/* Loading */

static int load_file(struct checker *c, const char *file)
{
	yaml_parser_t p;
	FILE *f = fopen(file, "re");

	if (!f) {
		problem(c, file, "cannot open: %s", strerror(errno));
		return -1;
	}
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	for (;;) {
		yaml_document_t d;

		if (!yaml_parser_load(&p, &d)) {
			problem(c, file, "line %zu: not valid YAML: %s", p.problem_mark.line + 1,
				p.problem ? p.problem : "syntax error");
			break;
		}
		if (!yaml_document_get_root_node(&d)) {
			yaml_document_delete(&d);
			break; /* the end of the stream */
		}
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 16;
			c->docs = realloc(c->docs, c->cap * sizeof(*c->docs));
			if (!c->docs)
				abort();
		}
		snprintf(c->docs[c->n].file, sizeof(c->docs[c->n].file), "%s", file);
		c->docs[c->n++].d = d;
	}
	yaml_parser_delete(&p);
	fclose(f);
	return 0;
}

static void load_dir(struct checker *c, const char *dir)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);

	if (n < 0) {
		problem(c, dir, "cannot read: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		char sub[1024];
		size_t len = strlen(ents[i]->d_name);

		snprintf(sub, sizeof(sub), "%s/%s", dir, ents[i]->d_name);
		if (ents[i]->d_name[0] == '.') {
			/* hidden */
		} else if (ents[i]->d_type == DT_DIR) {
			load_dir(c, sub);
		} else if ((len > 5 && !strcmp(ents[i]->d_name + len - 5, ".yaml")) ||
			   (len > 4 && !strcmp(ents[i]->d_name + len - 4, ".yml"))) {
			load_file(c, sub);
		}
		free(ents[i]);
	}
	free(ents);
}

/* Checks */

/* The volume of a mount, by name. */
static yaml_node_t *volume_of(yaml_document_t *d, yaml_node_t *pod, yaml_node_t *mount)
{
	yaml_node_t *vols = get(d, pod, "volumes");
	const char *name = text(get(d, mount, "name"));

	for (size_t i = 0; name && i < items(vols); i++)
		if (text_is(get(d, item(d, vols, i), "name"), name))
			return item(d, vols, i);
	return NULL;
}

/* The hostPath path of a mount's volume (NULL if not a hostPath). */
static const char *host_path_of(yaml_document_t *d, yaml_node_t *pod, yaml_node_t *mount)
{
	return text(path(d, volume_of(d, pod, mount), "hostPath.path"));
}

/*
 * The i-th Secret of a volume: the volume itself (secret:, named by secretName) or one of its
 * projected sources (named by name). NULL past the last.
 */
static yaml_node_t *volume_secret(yaml_document_t *d, yaml_node_t *vol, size_t i, const char **name)
{
	yaml_node_t *s = get(d, vol, "secret"), *srcs = path(d, vol, "projected.sources");

	if (s) {
		*name = text(get(d, s, "secretName"));
		return i ? NULL : s;
	}
	for (size_t k = 0; k < items(srcs); k++) {
		s = get(d, item(d, srcs, k), "secret");
		if (s && !i--) {
			*name = text(get(d, s, "name"));
			return s;
		}
	}
	return NULL;
}

/* Whether a Secret's volume shows key (with no items: every key, each a file of its name). */
static bool secret_has_key(yaml_document_t *d, yaml_node_t *s, const char *key)
{
	yaml_node_t *its = get(d, s, "items");

	for (size_t i = 0; i < items(its); i++)
		if (text_is(get(d, item(d, its, i), "key"), key))
			return true;
	return !items(its);
}

/* The key of a Secret's volume shown as the file rel (relative to the mount), or NULL. */
static const char *secret_key_at(yaml_document_t *d, yaml_node_t *s, const char *rel)
{
	yaml_node_t *its = get(d, s, "items");

	for (size_t i = 0; i < items(its); i++)
		if (text_is(get(d, item(d, its, i), "path"), rel))
			return text(get(d, item(d, its, i), "key"));
	return items(its) || strchr(rel, '/') ? NULL : rel;
}

static void check_probe(struct checker *c, const char *file, yaml_document_t *d, yaml_node_t *ctr,
			const char *which)
{
	if (!text_is(path(d, get(d, ctr, which), "httpGet.path"), "/healthz"))
		problem(c, file, "container cruise-agent: %s.httpGet.path must be /healthz", which);
}

static void check_container(struct checker *c, const char *file, yaml_document_t *d,
			    yaml_node_t *pod, yaml_node_t *ctr)
{
	static const char *const caps[] = { "BPF", "PERFMON", "NET_ADMIN", "SYS_ADMIN" };
	yaml_node_t *add = path(d, ctr, "securityContext.capabilities.add");
	yaml_node_t *mounts = get(d, ctr, "volumeMounts"), *env = get(d, ctr, "env");
	bool bpffs = false, cgroup = false, bidirectional = false, node = false;

	/* what the agent uses, listed even when privileged (the comment says why it is) */
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (!seq_has(d, add, caps[i]))
			problem(c, file,
				"container cruise-agent: securityContext.capabilities.add "
				"lacks %s",
				caps[i]);
	check_probe(c, file, d, ctr, "livenessProbe");
	check_probe(c, file, d, ctr, "readinessProbe");
	if (!path(d, ctr, "resources.requests.cpu") || !path(d, ctr, "resources.requests.memory") ||
	    !path(d, ctr, "resources.limits.memory") || !path(d, ctr, "resources.limits.cpu"))
		problem(c, file,
			"container cruise-agent: resources need requests and limits of cpu "
			"and memory");
	for (size_t i = 0; i < items(mounts); i++) {
		yaml_node_t *m = item(d, mounts, i);
		const char *host = host_path_of(d, pod, m);

		if (text_is(get(d, m, "mountPath"), "/sys/fs/bpf") && host &&
		    !strcmp(host, "/sys/fs/bpf")) {
			bpffs = true;
			bidirectional = text_is(get(d, m, "mountPropagation"), "Bidirectional");
		}
		if (host && !strcmp(host, "/sys/fs/cgroup"))
			cgroup = true;
	}
	if (!bpffs)
		problem(c, file,
			"container cruise-agent: no hostPath /sys/fs/bpf mounted on "
			"/sys/fs/bpf (the pins must outlive the pod)");
	else if (!bidirectional)
		problem(c, file,
			"container cruise-agent: the /sys/fs/bpf mount needs mountPropagation "
			"Bidirectional (a bpffs mounted by the agent must reach the host)");
	if (!cgroup)
		problem(c, file,
			"container cruise-agent: no hostPath /sys/fs/cgroup mount (the "
			"pods' cgroups)");
	if (text_is(path(d, ctr, "securityContext.privileged"), "true") && !bidirectional)
		problem(c, file,
			"container cruise-agent: privileged without a Bidirectional mount, "
			"its only reason");
	for (size_t i = 0; i < items(env); i++) {
		yaml_node_t *v = item(d, env, i);

		node |= text_is(get(d, v, "name"), "NODE_NAME") &&
			text_is(path(d, v, "valueFrom.fieldRef.fieldPath"), "spec.nodeName");
	}
	if (!node)
		problem(c, file,
			"container cruise-agent: env NODE_NAME must come from the downward "
			"API's spec.nodeName");
	/* the fleet's password: the agent must start without it, fleet: being optional */
	for (size_t i = 0; i < items(mounts); i++) {
		yaml_node_t *vol = volume_of(d, pod, item(d, mounts, i)), *s;
		const char *name;

		for (size_t k = 0; (s = volume_secret(d, vol, k, &name)); k++)
			if (!text_is(get(d, s, "optional"), "true"))
				problem(c, file,
					"container cruise-agent: Secret %s needs optional: true "
					"(the "
					"agent must start without it)",
					name ?: "?");
	}
}

static void check_daemonset(struct checker *c, char *sa, size_t salen)
{
	size_t n;
	struct doc *ds = find_kind(c, "DaemonSet", NULL, &n);
	yaml_document_t *d;
	yaml_node_t *root, *spec, *pod, *tol, *ann, *ctrs, *ctr = NULL;
	const char *file, *v;
	bool all_taints = false;

	if (n != 1) {
		problem(c, "deploy", "%zu DaemonSets; expected one", n);
		return;
	}
	d = &ds->d;
	file = ds->file;
	root = yaml_document_get_root_node(d);
	spec = get(d, root, "spec");
	pod = path(d, spec, "template.spec");
	/* one node at a time, never two agents on a node; the pins pace it in between */
	if (!text_is(path(d, spec, "updateStrategy.type"), "RollingUpdate"))
		problem(c, file, "spec.updateStrategy.type must be RollingUpdate");
	if (!text_is(path(d, spec, "updateStrategy.rollingUpdate.maxUnavailable"), "1"))
		problem(c, file, "spec.updateStrategy.rollingUpdate.maxUnavailable must be 1");
	v = text(path(d, spec, "updateStrategy.rollingUpdate.maxSurge"));
	if (v && strcmp(v, "0") && strcmp(v, "0%"))
		problem(c, file,
			"spec.updateStrategy.rollingUpdate.maxSurge must be 0: two agents "
			"on one node would fight over the same pins");
	ann = path(d, spec, "template.metadata.annotations");
	if (!text_is(get(d, ann, "prometheus.io/scrape"), "true") ||
	    !text(get(d, ann, "prometheus.io/port")))
		problem(c, file,
			"the pod template needs prometheus.io/scrape \"true\" and "
			"prometheus.io/port annotations");
	tol = get(d, pod, "tolerations");
	for (size_t i = 0; i < items(tol); i++) {
		yaml_node_t *t = item(d, tol, i);

		all_taints |= text_is(get(d, t, "operator"), "Exists") && !get(d, t, "key") &&
			      !get(d, t, "effect");
	}
	if (!all_taints)
		problem(c, file,
			"tolerations must include {operator: Exists} (every node, every "
			"taint)");
	ctrs = get(d, pod, "containers");
	for (size_t i = 0; i < items(ctrs); i++)
		if (text_is(get(d, item(d, ctrs, i), "name"), "cruise-agent"))
			ctr = item(d, ctrs, i);
	if (!ctr) {
		problem(c, file, "no container named cruise-agent");
	} else {
		check_container(c, file, d, pod, ctr);
		c->ds = d;
		c->pod = pod;
		c->agent = ctr;
		c->ns = namespace_of(d);
	}
	snprintf(sa, salen, "%s", text(get(d, pod, "serviceAccountName")) ?: "");
	if (!*sa)
		problem(c, file, "spec.template.spec.serviceAccountName is not set");
}

/* What the agent reads (k8s_pod_watch.h, k8s_services.h): get, list and watch, a rule each. */
static const struct {
	const char *group, *resource;
} rbac_rules[] = {
	{ "", "pods" },
	{ "", "services" },
	{ "discovery.k8s.io", "endpointslices" },
};
#define N_RBAC_RULES (sizeof(rbac_rules) / sizeof(rbac_rules[0]))

/* One rule of the ClusterRole: which of rbac_rules, each once, with nothing more. */
static void check_rbac_rule(struct checker *c, const char *file, yaml_document_t *d, yaml_node_t *r,
			    size_t i, bool *seen)
{
	yaml_node_t *verbs = get(d, r, "verbs"), *res = get(d, r, "resources"),
		    *groups = get(d, r, "apiGroups");
	size_t k = N_RBAC_RULES;

	if (items(verbs) != 3 || !seq_has(d, verbs, "get") || !seq_has(d, verbs, "list") ||
	    !seq_has(d, verbs, "watch"))
		problem(c, file, "ClusterRole: rules[%zu]: verbs must be exactly get, list, watch",
			i);
	for (size_t j = 0; items(res) == 1 && j < N_RBAC_RULES; j++)
		if (text_is(item(d, res, 0), rbac_rules[j].resource))
			k = j;
	if (k == N_RBAC_RULES) {
		problem(c, file,
			"ClusterRole: rules[%zu]: resources must be [pods], [services] or "
			"[endpointslices], one a rule",
			i);
		return;
	}
	if (seen[k])
		problem(c, file, "ClusterRole: rules[%zu]: a second rule on %s", i,
			rbac_rules[k].resource);
	seen[k] = true;
	if (items(groups) != 1 || !seq_has(d, groups, rbac_rules[k].group))
		problem(c, file, "ClusterRole: rules[%zu]: apiGroups must be [\"%s\"] for %s", i,
			rbac_rules[k].group, rbac_rules[k].resource);
}

/* Exactly get, list and watch on pods, services and endpointslices; nothing else. */
static void check_rbac(struct checker *c, const char *sa)
{
	size_t n, nb;
	struct doc *role = find_kind(c, "ClusterRole", NULL, &n), *bind;
	bool seen[N_RBAC_RULES] = { false };
	yaml_document_t *d;
	yaml_node_t *rules;
	const char *role_name;

	if (!find_kind(c, "ServiceAccount", sa, &nb) || nb != 1)
		problem(c, "deploy", "no ServiceAccount %s (the DaemonSet's)", sa);
	if (n != 1) {
		problem(c, "deploy", "%zu ClusterRoles; expected one", n);
		return;
	}
	d = &role->d;
	role_name = text(path(d, yaml_document_get_root_node(d), "metadata.name"));
	rules = get(d, yaml_document_get_root_node(d), "rules");
	if (items(rules) != N_RBAC_RULES) {
		problem(c, role->file,
			"ClusterRole: %zu rules; expected %zu: on pods, services and "
			"endpointslices",
			items(rules), N_RBAC_RULES);
		return;
	}
	for (size_t i = 0; i < items(rules); i++)
		check_rbac_rule(c, role->file, d, item(d, rules, i), i, seen);
	bind = find_kind(c, "ClusterRoleBinding", NULL, &nb);
	if (nb != 1 || !bind) {
		problem(c, "deploy", "%zu ClusterRoleBindings; expected one", nb);
		return;
	}
	d = &bind->d;
	if (!text_is(path(d, yaml_document_get_root_node(d), "roleRef.name"), role_name) ||
	    !text_is(
		    path(d, item(d, get(d, yaml_document_get_root_node(d), "subjects"), 0), "name"),
		    sa))
		problem(c, bind->file,
			"ClusterRoleBinding must bind ClusterRole %s to "
			"ServiceAccount %s",
			role_name ?: "?", sa);
}

/* The Secret and key that the agent's container sees as the file file; false if none. */
static bool agent_secret_file(struct checker *c, const char *file, const char **name,
			      const char **key)
{
	yaml_document_t *d = c->ds;
	yaml_node_t *mounts = get(d, c->agent, "volumeMounts"), *s;

	for (size_t i = 0; i < items(mounts); i++) {
		yaml_node_t *m = item(d, mounts, i);
		const char *mp = text(get(d, m, "mountPath")), *sub = text(get(d, m, "subPath"));
		const char *rel = NULL;
		size_t len = mp ? strlen(mp) : 0;

		if (mp && sub && !strcmp(file, mp))
			rel = sub;
		else if (mp && !sub && !strncmp(file, mp, len) && file[len] == '/')
			rel = file + len + 1;
		for (size_t k = 0; rel && (s = volume_secret(d, volume_of(d, c->pod, m), k, name));
		     k++)
			if ((*key = secret_key_at(d, s, rel)))
				return true;
	}
	*name = *key = NULL;
	return false;
}

/* Whether a Service's selector (not empty) selects a pod template's labels. */
static bool selects(yaml_document_t *sd, yaml_node_t *sel, yaml_document_t *d, yaml_node_t *labels)
{
	if (!sel || sel->type != YAML_MAPPING_NODE ||
	    sel->data.mapping.pairs.start == sel->data.mapping.pairs.top)
		return false;
	for (yaml_node_pair_t *p = sel->data.mapping.pairs.start; p < sel->data.mapping.pairs.top;
	     p++) {
		const char *k = text(yaml_document_get_node(sd, p->key));
		const char *v = text(yaml_document_get_node(sd, p->value));

		if (!k || !v || !text_is(get(d, labels, k), v))
			return false;
	}
	return true;
}

/* Whether a pod has Secret name, not optional, with key among its files. */
static bool pod_takes_secret(yaml_document_t *d, yaml_node_t *pod, const char *name,
			     const char *key)
{
	yaml_node_t *vols = get(d, pod, "volumes"), *s;
	const char *n;

	for (size_t i = 0; i < items(vols); i++)
		for (size_t k = 0; (s = volume_secret(d, item(d, vols, i), k, &n)); k++)
			if (n && !strcmp(n, name) && !text_is(get(d, s, "optional"), "true") &&
			    secret_has_key(d, s, key))
				return true;
	return false;
}

/*
 * The Redis behind a Service of deploy/ that fleet.redis names: the Service has the port, and
 * selects the pods of one Deployment, which runs one Redis at a time (two behind one Service would
 * each hand out the whole rate) on the port and with the agent's password (Secret sname, key skey;
 * NULL: the agent has none).
 */
static void check_redis_service(struct checker *c, struct doc *svc, const char *port,
				const char *sname, const char *skey)
{
	yaml_document_t *d = &svc->d, *dd;
	yaml_node_t *root = yaml_document_get_root_node(d), *ports = path(d, root, "spec.ports");
	yaml_node_t *sel = path(d, root, "spec.selector"), *pe = NULL, *pod, *ctrs, *droot;
	const char *name = text(path(d, root, "metadata.name")), *target, *dname, *v;
	struct doc *dep = NULL;
	bool target_ok = false;

	for (size_t i = 0; i < items(ports); i++)
		if (text_is(get(d, item(d, ports, i), "port"), port))
			pe = item(d, ports, i);
	if (!pe) {
		problem(c, svc->file, "Service %s has no port %s (the config's fleet.redis)", name,
			port);
		return;
	}
	target = text(get(d, pe, "targetPort")) ?: port;
	for (size_t i = 0; i < c->n && !dep; i++) {
		dd = &c->docs[i].d;
		droot = yaml_document_get_root_node(dd);
		if (text_is(get(dd, droot, "kind"), "Deployment") &&
		    !strcmp(namespace_of(dd), namespace_of(d)) &&
		    selects(d, sel, dd, path(dd, droot, "spec.template.metadata.labels")))
			dep = &c->docs[i];
	}
	if (!dep) {
		problem(c, svc->file, "Service %s selects no Deployment's pods", name);
		return;
	}
	dd = &dep->d;
	droot = yaml_document_get_root_node(dd);
	dname = text(path(dd, droot, "metadata.name")) ?: "?";
	pod = path(dd, droot, "spec.template.spec");
	v = text(path(dd, droot, "spec.replicas"));
	if ((v && strcmp(v, "1")) || !text_is(path(dd, droot, "spec.strategy.type"), "Recreate"))
		problem(c, dep->file,
			"Deployment %s: replicas must be 1 and strategy.type Recreate: two Redis "
			"behind Service %s would each hand out the whole rate",
			dname, name);
	ctrs = get(dd, pod, "containers");
	for (size_t i = 0; i < items(ctrs); i++) {
		yaml_node_t *cp = get(dd, item(dd, ctrs, i), "ports");

		for (size_t k = 0; k < items(cp); k++)
			target_ok |= text_is(get(dd, item(dd, cp, k), "name"), target) ||
				     text_is(get(dd, item(dd, cp, k), "containerPort"), target);
	}
	if (!target_ok)
		problem(c, svc->file, "Service %s: targetPort %s is no port of Deployment %s", name,
			target, dname);
	if (sname && !pod_takes_secret(dd, pod, sname, skey))
		problem(c, dep->file,
			"Deployment %s must take its password from Secret %s, key %s, not "
			"optional, "
			"as the agent does (fleet.password_file)",
			dname, sname, skey);
}

/*
 * A config's fleet: block against the manifests. fleet.password_file (pw, NULL: none) must be a
 * file of a Secret in the agent's container, holding that key if deploy/ defines the Secret. A
 * fleet.redis that names a Service of deploy/ (NAME, NAME.NS or NAME.NS.svc...) must name it in
 * its namespace, and check_redis_service checks what is behind it. Other addresses are the
 * user's own Redis.
 */
static void check_fleet(struct checker *c, const char *file, const char *what, const char *redis,
			const char *pw)
{
	const char *sname = NULL, *skey = NULL, *port, *ns, *label[3] = { NULL };
	char host[256], *save = NULL;
	struct doc *svc, *sec;
	size_t n = 0;

	if (pw && c->agent && !agent_secret_file(c, pw, &sname, &skey))
		problem(c, file,
			"%s: fleet.password_file %s is not a file of a Secret in container "
			"cruise-agent",
			what, pw);
	if (sname && (sec = find_named(c, "Secret", sname, c->ns))) {
		yaml_node_t *root = yaml_document_get_root_node(&sec->d);

		if (!get(&sec->d, get(&sec->d, root, "data"), skey) &&
		    !get(&sec->d, get(&sec->d, root, "stringData"), skey))
			problem(c, sec->file,
				"Secret %s has no key %s (the agent's fleet.password_file)", sname,
				skey);
	}
	if (redis[0] == '/' || redis[0] == '[' || !(port = strrchr(redis, ':')))
		return;
	snprintf(host, sizeof(host), "%.*s", (int)(port++ - redis), redis);
	for (char *l = strtok_r(host, ".", &save); l && n < 3; l = strtok_r(NULL, ".", &save))
		label[n++] = l;
	if (!n || (n > 2 && strcmp(label[2], "svc")))
		return; /* not a Service's name */
	ns = n > 1 ? label[1] : c->ns;
	svc = find_named(c, "Service", label[0], ns);
	if (svc)
		check_redis_service(c, svc, port, sname, skey);
	else if ((svc = find_named(c, "Service", label[0], NULL)))
		problem(c, file, "%s: fleet.redis %s: Service %s is in namespace %s, not %s", what,
			redis, label[0], namespace_of(&svc->d), ns ?: "?");
}

/*
 * The config with its commented-out keys turned on: on a line whose first non-blank character is
 * a '#' followed by neither a blank nor another '#' ("#fleet:", "  #lease: 2s"), the '#' goes.
 * Prose ("# text") stays a comment. NULL when there is no such line.
 */
static char *uncomment(const char *conf)
{
	char *out = malloc(strlen(conf) + 1), *o = out;
	bool changed = false;

	if (!out)
		abort();
	for (const char *p = conf; *p;) {
		const char *eol = strchrnul(p, '\n'), *q = p + strspn(p, " \t");
		size_t len;

		if (*q == '#' && q + 1 < eol && !strchr(" \t#", q[1])) {
			memcpy(o, p, q - p);
			o += q - p;
			p = q + 1;
			changed = true;
		}
		len = eol - p + (*eol == '\n');
		memcpy(o, p, len);
		o += len;
		p += len;
	}
	*o = '\0';
	if (!changed) {
		free(out);
		return NULL;
	}
	return out;
}

/*
 * conf, its fleet.password_file (*given, NULL: none) replaced by dummy: the file named is one of
 * the agent's pod, not of this machine, and the parser reads it.
 */
static char *swap_password_file(const char *conf, const char *dummy, char **given)
{
	yaml_parser_t p;
	yaml_document_t d;
	char *out = NULL;

	*given = NULL;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)conf, strlen(conf));
	if (yaml_parser_load(&p, &d)) {
		yaml_node_t *n = path(&d, yaml_document_get_root_node(&d), "fleet.password_file");
		const char *line = conf, *eol, *at = NULL;

		for (size_t l = 0; n && line && l < n->start_mark.line; l++)
			if ((line = strchr(line, '\n')))
				line++;
		if (text(n) && line && text(n)[0] == '/') {
			*given = strdup(text(n));
			eol = strchrnul(line, '\n');
			at = strstr(line, "password_file");
			at = at && at < eol ? strstr(at, text(n)) : NULL;
		}
		if (at && at < eol &&
		    asprintf(&out, "%.*s%s%s", (int)(at - conf), conf, dummy,
			     at + strlen(text(n))) < 0)
			out = NULL;
		yaml_document_delete(&d);
	}
	yaml_parser_delete(&p);
	return out ?: strdup(conf);
}

static void check_config(struct checker *c, const char *file, const char *what, const char *conf,
			 const char *dummy)
{
	struct cruise_config *cfg;
	char err[512], *given, *swapped = swap_password_file(conf, dummy, &given);

	if (!swapped)
		abort();
	if (cruise_config_parse("cruise.yaml", swapped, strlen(swapped), &cfg, err, sizeof(err))) {
		problem(c, file, "%s: %s", what, err);
	} else {
		if (cfg->fleet)
			check_fleet(c, file, what, cfg->fleet->redis, given);
		cruise_config_free(cfg);
	}
	free(given);
	free(swapped);
}

/*
 * The ConfigMap's cruise.yaml is a config the agent takes, as it is and with its commented-out
 * keys turned on; its fleet: block, if any, fits the manifests (check_fleet).
 */
static void check_configmap(struct checker *c)
{
	size_t n;
	struct doc *cm = find_kind(c, "ConfigMap", NULL, &n);
	char dummy[] = "/tmp/cruise-check-password.XXXXXX", *on;
	const char *conf;
	int fd;

	if (n != 1) {
		problem(c, "deploy", "%zu ConfigMaps; expected one", n);
		return;
	}
	/* "cruise.yaml" has a dot: not a path() */
	conf = text(get(&cm->d, get(&cm->d, yaml_document_get_root_node(&cm->d), "data"),
			"cruise.yaml"));
	if (!conf) {
		problem(c, cm->file, "ConfigMap: no data.cruise.yaml");
		return;
	}
	fd = mkstemp(dummy);
	if (fd < 0 || write(fd, "checker\n", 8) != 8) {
		problem(c, dummy, "cannot write: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	check_config(c, cm->file, "ConfigMap data.cruise.yaml", conf, dummy);
	on = uncomment(conf);
	if (on)
		check_config(c, cm->file, "ConfigMap data.cruise.yaml with its #keys turned on", on,
			     dummy);
	free(on);
	unlink(dummy);
}

int cruise_check_manifests(const char *dir, FILE *report)
{
	struct checker c = { .report = report };
	char sa[256];

	load_dir(&c, dir);
	if (!c.n)
		problem(&c, dir, "no YAML documents");
	check_daemonset(&c, sa, sizeof(sa));
	check_rbac(&c, sa);
	check_configmap(&c);
	for (size_t i = 0; i < c.n; i++)
		yaml_document_delete(&c.docs[i].d);
	free(c.docs);
	return c.problems;
}

#ifndef CHECK_MANIFESTS_NO_MAIN
int main(int argc, char **argv)
{
	int problems = 0;

	if (argc < 2)
		problems = cruise_check_manifests("deploy", stderr);
	for (int i = 1; i < argc; i++)
		problems += cruise_check_manifests(argv[i], stderr);
	if (!problems)
		printf("manifests: ok\n");
	return problems ? 1 : 0;
}
#endif
