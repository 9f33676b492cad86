// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The deployment's Kubernetes manifests, checked: every YAML document of every *.yaml under a
 * directory (default deploy/) must parse, and the DaemonSet, its ServiceAccount, ClusterRole and
 * binding, and the ConfigMap must hold what running cruise-agent safely takes (check_daemonset
 * and friends say what and why). The ConfigMap's config is validated by the agent's own parser.
 * Comments cannot be checked; the fields they explain can.
 *
 *   check_manifests [DIR...]    one line per problem on stderr; exit 0 when there is none
 *
 * tests/test_manifests.c runs it on deploy/ and on broken copies that must fail.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The volume of a mount, by name, and its hostPath path (NULL if not a hostPath). */
static const char *host_path_of(yaml_document_t *d, yaml_node_t *pod, yaml_node_t *mount)
{
	yaml_node_t *vols = get(d, pod, "volumes");
	const char *name = text(get(d, mount, "name"));

	for (size_t i = 0; name && i < items(vols); i++) {
		yaml_node_t *v = item(d, vols, i);

		if (text_is(get(d, v, "name"), name))
			return text(path(d, v, "hostPath.path"));
	}
	return NULL;
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
	if (!ctr)
		problem(c, file, "no container named cruise-agent");
	else
		check_container(c, file, d, pod, ctr);
	snprintf(sa, salen, "%s", text(get(d, pod, "serviceAccountName")) ?: "");
	if (!*sa)
		problem(c, file, "spec.template.spec.serviceAccountName is not set");
}

/* Exactly get, list and watch on pods, nothing else. */
static void check_rbac(struct checker *c, const char *sa)
{
	size_t n, nb;
	struct doc *role = find_kind(c, "ClusterRole", NULL, &n), *bind;
	yaml_document_t *d;
	yaml_node_t *rules, *r, *verbs;
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
	if (items(rules) != 1) {
		problem(c, role->file, "ClusterRole: %zu rules; expected one, on pods",
			items(rules));
		return;
	}
	r = item(d, rules, 0);
	verbs = get(d, r, "verbs");
	if (items(get(d, r, "apiGroups")) != 1 || !seq_has(d, get(d, r, "apiGroups"), ""))
		problem(c, role->file, "ClusterRole: apiGroups must be [\"\"] (core)");
	if (items(get(d, r, "resources")) != 1 || !seq_has(d, get(d, r, "resources"), "pods"))
		problem(c, role->file, "ClusterRole: resources must be [pods]");
	if (items(verbs) != 3 || !seq_has(d, verbs, "get") || !seq_has(d, verbs, "list") ||
	    !seq_has(d, verbs, "watch"))
		problem(c, role->file, "ClusterRole: verbs must be exactly get, list, watch");
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

/* The ConfigMap's cruise.yaml is a config the agent takes. */
static void check_configmap(struct checker *c)
{
	size_t n;
	struct doc *cm = find_kind(c, "ConfigMap", NULL, &n);
	const char *conf;
	struct cruise_config *cfg;
	char err[512];

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
	if (cruise_config_parse("cruise.yaml", conf, strlen(conf), &cfg, err, sizeof(err))) {
		problem(c, cm->file, "ConfigMap data.cruise.yaml: %s", err);
		return;
	}
	cruise_config_free(cfg);
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
