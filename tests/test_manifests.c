// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The manifests checker on deploy/ (it must pass) and on copies of deploy/ each broken in one way
 * (each must fail, with the problem named): the checker can fail, and says why.
 *
 * Run from the repository root (as `make test` does); CRUISE_DEPLOY_DIR=DIR names deploy/
 * otherwise.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_manifests.h"

static const char *deploy_dir(void)
{
	return getenv("CRUISE_DEPLOY_DIR") ?: "deploy";
}

static void rm_rf(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* not inlined: GCC 12 then takes the returned buffer for a dangling local */
static __attribute__((noinline)) char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t cap = 0;

	assert_non_null(f);
	assert_true(getdelim(&text, &cap, '\0', f) > 0);
	fclose(f);
	return text;
}

/* The check's report on dir, and its count of problems. */
static int check(const char *dir, char **report)
{
	size_t len = 0;
	FILE *out = open_memstream(report, &len);
	int n;

	assert_non_null(out);
	n = cruise_check_manifests(dir, out);
	fclose(out);
	return n;
}

static void test_deploy_ok(void **state)
{
	char *report;
	int n;

	(void)state;
	n = check(deploy_dir(), &report);
	if (n)
		fail_msg("%d problems in %s:\n%s", n, deploy_dir(), report);
	free(report);
}

/*
 * A copy of deploy/kubernetes with file's first occurrence of from replaced by to: the check must
 * find a problem whose line holds want.
 */
static void broken(const char *file, const char *from, const char *to, const char *want)
{
	char tmp[] = "/tmp/cruise-manifests.XXXXXX", cmd[512], path[512], *text, *at, *report;
	size_t off;
	FILE *f;
	int n;

	assert_non_null(mkdtemp(tmp));
	snprintf(cmd, sizeof(cmd), "cp -r '%s'/kubernetes '%s'/", deploy_dir(), tmp);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/kubernetes/%s", tmp, file);
	text = slurp(path);
	at = strstr(text, from);
	if (!at) {
		rm_rf(tmp);
		fail_msg("\"%s\" not in %s", from, file);
	}
	off = at - text;
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%.*s%s%s", (int)off, text, to, text + off + strlen(from));
	fclose(f);
	free(text);
	n = check(tmp, &report);
	rm_rf(tmp);
	print_message("  %s: \"%s\" -> \"%s\": %d problem(s)\n", file, from, to, n);
	if (!n || !strstr(report, want))
		fail_msg("expected a problem with \"%s\", got:\n%s", want, report);
	free(report);
}

static void test_broken(void **state)
{
	(void)state;
	broken("daemonset.yaml", "mountPropagation: Bidirectional",
	       "mountPropagation: HostToContainer", "mountPropagation Bidirectional");
	broken("daemonset.yaml", "path: /healthz", "path: /metrics", "livenessProbe.httpGet.path");
	broken("daemonset.yaml", "maxSurge: 0", "maxSurge: 1", "maxSurge must be 0");
	broken("daemonset.yaml", "maxUnavailable: 1", "maxUnavailable: 100%", "maxUnavailable");
	broken("daemonset.yaml", "type: RollingUpdate", "type: OnDelete", "RollingUpdate");
	broken("daemonset.yaml", "- BPF ", "- CHOWN ", "lacks BPF");
	broken("daemonset.yaml", "- operator: Exists", "- operator: Exists\n          key: gpu",
	       "tolerations");
	broken("daemonset.yaml", "prometheus.io/scrape", "prometheus.io/scrap", "prometheus.io");
	broken("daemonset.yaml", "memory: 128Mi", "storage: 1Gi", "resources");
	broken("daemonset.yaml", "path: /sys/fs/cgroup", "path: /sys/fs/cgroupx", "/sys/fs/cgroup");
	broken("daemonset.yaml", "fieldPath: spec.nodeName", "fieldPath: metadata.name",
	       "NODE_NAME");
	broken("daemonset.yaml", "  selector:", "\tselector:", "not valid YAML");
	broken("rbac.yaml", "verbs: [\"get\", \"list\", \"watch\"]",
	       "verbs: [\"get\", \"list\", \"watch\", \"delete\"]", "exactly get, list, watch");
	broken("rbac.yaml", "resources: [\"pods\"]", "resources: [\"pods\", \"secrets\"]",
	       "resources must be [pods]");
	broken("configmap.yaml", "rate: 20/s", "rate: 0/s", "media[0].rate");
	broken("configmap.yaml", "cruise.io/medium: email", "cruise.io/medium: -email",
	       "matchLabels");
}

/* The fleet: the commented-out example is checked too, with its Redis and password. */
static void test_broken_fleet(void **state)
{
	(void)state;
	/* the example, turned on, must stay a config the agent takes */
	broken("configmap.yaml", "#lease: 2s", "#lease: 1s", "fleet.lease");
	broken("configmap.yaml", "#fallback_rate: 2/s", "#fallback_rate: 30/s", "fallback_rate");
	broken("configmap.yaml", "#fleet:", "#flet:", "flet: unknown key");
	/* the example Service is in cruise-system, not in "cruise" */
	broken("configmap.yaml", "#redis: cruise-redis.cruise-system.svc:6379",
	       "#redis: cruise-redis.cruise.svc:6379", "in namespace cruise-system, not cruise");
	broken("configmap.yaml", "cruise-system.svc:6379", "cruise-system.svc:6380",
	       "no port 6380");
	broken("configmap.yaml", "#password_file: /etc/cruise/redis-password",
	       "#password_file: /etc/cruise/redis-pass", "fleet.password_file");
	/* the agent starts without the Secret; Redis and the agent share its key */
	broken("daemonset.yaml", "optional: true", "optional: false", "optional: true");
	broken("daemonset.yaml", "- key: password", "- key: pass", "has no key pass");
	broken("redis.yaml", "secretName: cruise-redis", "secretName: other",
	       "password from Secret cruise-redis");
	broken("redis-secret.yaml", "  password: CHANGE-ME", "  pass: CHANGE-ME",
	       "no key password");
	/* one Redis at a time, behind the Service */
	broken("redis.yaml", "type: Recreate", "type: RollingUpdate", "Recreate");
	broken("redis.yaml", "replicas: 1", "replicas: 2", "replicas must be 1");
	broken("redis.yaml", "  selector:\n    app.kubernetes.io/name: cruise-redis",
	       "  selector:\n    app.kubernetes.io/name: redis", "selects no Deployment");
	broken("redis.yaml", "targetPort: redis", "targetPort: 6380", "targetPort 6380");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deploy_ok),
		cmocka_unit_test(test_broken),
		cmocka_unit_test(test_broken_fleet),
	};

	return cmocka_run_group_tests_name("deployment manifests", tests, NULL, NULL);
}
