// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Pod binding (agent/pod_bind.c) on its own: a kubelet-shaped directory tree in a temp dir stands
 * in for the cgroup2 mount (a cgroup's id is its directory's inode, as cruise_pod_cgroup reads
 * it), pods made here stand in for the Kubernetes API's table. No kernel part is needed: the
 * agent tests (test_k8s) run the same code against real cgroups.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pod_bind.h"

struct fx {
	char root[64]; /* the fake cgroup2 mount */
	struct cruise_config *cfg;
	__u32 medium_index[2];
	struct cruise_pod pods[4];
	struct cruise_label labels[4];
};

static void mkdirs(const char *root, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	assert_int_equal(mkdir(path, 0700), 0);
}

static __u64 ino(const char *root, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

static void pod(struct fx *f, int i, const char *uid, const char *label_value,
		enum cruise_pod_qos qos)
{
	struct cruise_pod *p = &f->pods[i];

	memset(p, 0, sizeof(*p));
	snprintf(p->uid, sizeof(p->uid), "%s", uid);
	snprintf(p->cg_uid, sizeof(p->cg_uid), "%s", uid);
	snprintf(p->name, sizeof(p->name), "ns/pod-%d", i);
	p->qos = qos;
	f->labels[i].key = "app";
	f->labels[i].value = (char *)label_value;
	p->labels = &f->labels[i];
	p->n_labels = 1;
}

static int setup(void **state)
{
	static const char yaml[] = "scope: /k8s\n"
				   "targets: [{name: db, addresses: [127.0.0.1], ports: [5432]}]\n"
				   "media:\n"
				   "  - name: push\n"
				   "    rate: 10/s\n"
				   "    pods: {matchLabels: {app: push}}\n"
				   "  - name: email\n"
				   "    rate: 5/s\n"
				   "    pods: {matchLabels: {app: email}}\n";
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/cruise-pod-bind.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	assert_int_equal(
		cruise_config_parse("t.yaml", yaml, sizeof(yaml) - 1, &f->cfg, err, sizeof(err)),
		0);
	f->medium_index[0] = 7;
	f->medium_index[1] = 9;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	cruise_config_free(f->cfg);
	/* only the temp dir made above */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd))
		fprintf(stderr, "teardown: %s failed\n", cmd);
	free(f);
	return 0;
}

/*
 * Pods found in the cgroupfs and systemd layouts under the scope are bound to their medium's map
 * index by their cgroup's id; a selected pod with no cgroup yet is unresolved; an unselected one
 * is not seen; one found only outside the scope is unresolved and not bound.
 */
static void test_bind(void **state)
{
	struct fx *f = *state;
	struct cruise_pod_binds b, b2;
	const struct cruise_bound *x;

	mkdirs(f->root, "k8s/kubepods/burstable/poda-1");
	mkdirs(f->root, "k8s/kubepods.slice/kubepods-besteffort.slice/"
			"kubepods-besteffort-podb_2.slice");
	mkdirs(f->root, "kubepods/podd-4"); /* at the cgroup2 root, outside the scope /k8s */
	pod(f, 0, "a-1", "push", CRUISE_QOS_BURSTABLE);
	pod(f, 1, "b-2", "email", CRUISE_QOS_BESTEFFORT);
	pod(f, 2, "c-3", "push", CRUISE_QOS_GUARANTEED); /* selected, no cgroup yet */
	pod(f, 3, "d-4", "email", CRUISE_QOS_UNKNOWN);

	assert_int_equal(cruise_pods_bind(f->cfg, f->medium_index, f->root, f->pods, 4, NULL, &b),
			 0);
	assert_int_equal(b.set.n, 2);
	x = cruise_bind_find(&b.set, ino(f->root, "k8s/kubepods/burstable/poda-1"));
	assert_non_null(x);
	assert_int_equal(x->medium, 7);
	x = cruise_bind_find(&b.set, ino(f->root, "k8s/kubepods.slice/kubepods-besteffort.slice/"
						  "kubepods-besteffort-podb_2.slice"));
	assert_non_null(x);
	assert_int_equal(x->medium, 9);
	assert_int_equal(b.n_seen, 4);
	assert_int_equal(b.unresolved, 2); /* c-3 (no cgroup), d-4 (outside the scope) */
	assert_null(cruise_bind_find(&b.set, ino(f->root, "kubepods/podd-4")));

	/* c-3's cgroup appears; b-2 relabelled to nothing: bound, unbound */
	mkdirs(f->root, "k8s/kubepods/podc-3");
	f->labels[1].value = "other";
	assert_int_equal(cruise_pods_bind(f->cfg, f->medium_index, f->root, f->pods, 4, &b, &b2),
			 0);
	assert_int_equal(b2.set.n, 2);
	assert_non_null(cruise_bind_find(&b2.set, ino(f->root, "k8s/kubepods/podc-3")));
	assert_null(cruise_bind_find(&b2.set,
				     ino(f->root, "k8s/kubepods.slice/kubepods-besteffort.slice/"
						  "kubepods-besteffort-podb_2.slice")));
	assert_int_equal(b2.unresolved, 1);
	assert_int_equal(b2.n_seen, 3);
	cruise_pod_binds_free(&b);
	cruise_pod_binds_free(&b2);
}

/* A finished pod is not bound, whatever its labels. */
static void test_finished(void **state)
{
	struct fx *f = *state;
	struct cruise_pod_binds b;

	mkdirs(f->root, "k8s/kubepods/pode-5");
	pod(f, 0, "e-5", "push", CRUISE_QOS_GUARANTEED);
	f->pods[0].finished = true;
	assert_int_equal(cruise_pods_bind(f->cfg, f->medium_index, f->root, f->pods, 1, NULL, &b),
			 0);
	assert_int_equal(b.set.n, 0);
	assert_int_equal(b.n_seen, 0);
	cruise_pod_binds_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finished, setup, teardown),
	};

	cruise_log_setup(stderr, CRUISE_LOG_TEXT, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
