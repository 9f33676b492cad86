// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The operations kit (deploy/prometheus/cruise-rules.yaml and its promtool unit tests,
 * deploy/grafana/cruise.json) against promtool, the real agent and a real Prometheus (Debian's
 * /usr/bin/prometheus and /usr/bin/promtool, or $CRUISE_PROMETHEUS and $CRUISE_PROMTOOL) on
 * loopback: the rules load and their unit tests pass; Prometheus scraping the agent evaluates a
 * recording rule over real connects; every dashboard query is valid PromQL that Prometheus
 * accepts; the agent's /metrics passes `promtool check metrics`; and the rules and dashboard name
 * only metrics agent/exposition.c writes.
 *
 * Run from the repository root (as `make test` does); CRUISE_DEPLOY_DIR names deploy/ and
 * CRUISE_SRC_DIR the root (for agent/exposition.c).
 *
 * Names are checked against the source's string literals, not a live /metrics: the fleet,
 * adaptive, DNS and Kubernetes families appear on /metrics only when configured, and an agent with
 * all of them would need Redis, a signal, a DNS server and a Kubernetes API here.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agent_fixture.h"
#include "loader.h"
#include "prom_fixture.h"

#define RATE	     "50/s"
#define RULE	     "medium:cruise_connections_achieved:rate1m"
#define RULE_WAIT_MS 20000 /* scrapes and evaluations every second; rate() needs two scrapes */
#define PROMTOOL_MS  30000
#define MAX_NAMES    256
#define MAX_EXPRS    64
#define RULES_FILE   "prometheus/cruise-rules.yaml"
#define RULES_TESTS  "prometheus/cruise-rules.test.yaml"
#define DASHBOARD    "grafana/cruise.json"

struct env {
	struct th_sandbox sb;
	struct th_agent a;
	struct th_cgroup worker;
	struct th_prom prom;
	bool no_prom; /* no Prometheus to run: the live tests skip */
};

static const char *deploy_dir(void)
{
	return getenv("CRUISE_DEPLOY_DIR") ?: "deploy";
}

static const char *src_dir(void)
{
	return getenv("CRUISE_SRC_DIR") ?: ".";
}

static const char *promtool(void)
{
	const char *env = getenv("CRUISE_PROMTOOL");
	const char *bin = env && *env ? env : "/usr/bin/promtool";

	return access(bin, X_OK) ? NULL : bin;
}

static void deploy_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", deploy_dir(), name);
}

/* promtool with args, its output in log (printed when it fails); its exit code. */
static int run_promtool(const char *const *args, const char *log)
{
	const char *argv[8] = { promtool() };
	int i, rc;

	for (i = 0; args[i] && i < 6; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	unlink(log);
	rc = th_run_cmd(argv, log, log, PROMTOOL_MS);
	if (rc)
		th_print_tail("promtool", log, 4000);
	return rc;
}

/* the environment: the agent pacing a medium for a worker cgroup, Prometheus scraping it */

static int env_teardown(void **state)
{
	struct env *e = *state;

	if (!e)
		return 0;
	th_prom_stop(&e->prom);
	th_agent_sandbox_teardown(&e->sb, &e->a);
	free(e);
	*state = NULL;
	return 0;
}

static int env_setup(void **state)
{
	const char *args[] = { "--log-format", "text", NULL };
	char text[2048], rules[PATH_MAX + 32], abs_rules[PATH_MAX];
	struct env *e = calloc(1, sizeof(*e));
	int err, n;

	if (!e)
		return -1;
	*state = e;
	if (th_agent_sandbox_setup(&e->sb, &e->a, "cruise-ops-prom", "agent")) {
		free(e);
		*state = NULL;
		return -1;
	}
	if (th_cgroup_create(&e->worker, &e->sb.scope, "w"))
		goto fail;
	n = th_agent_conf_head(&e->sb, &e->a, text, sizeof(text));
	snprintf(text + n, sizeof(text) - n,
		 "media:\n"
		 "  - name: push\n"
		 "    rate: " RATE "\n"
		 "    max_wait: 5s\n"
		 "    cgroups: [/%s/w]\n",
		 e->sb.name);
	if (th_write_file(e->a.conf, text) || th_agent_start(&e->a, args, 5000))
		goto fail;
	deploy_path(rules, sizeof(rules), RULES_FILE);
	if (!realpath(rules, abs_rules)) {
		fprintf(stderr, "no %s (run from the repository root)\n", rules);
		goto fail;
	}
	err = th_prom_start_target(&e->prom, e->a.metrics_port, abs_rules,
				   "cruise_programs_attached");
	if (err == -ENOENT) {
		e->no_prom = true;
		return 0;
	}
	if (err)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "ops prom test setup failed\n");
	env_teardown(state);
	return -1;
}

/* A few connects from the worker cgroup, paced by the agent: its counters move. */
static void connect_some(struct env *e, int n)
{
	struct th_run_opts o = {
		.cgroup = e->worker.path,
		.addr = "127.0.0.1",
		.port = e->sb.target.port,
		.workers = 2,
		.duration_ns = 2 * NSEC_PER_SEC,
		.max_per_worker = n / 2,
	};
	struct th_run r;

	assert_int_equal(th_run_clients(&o, &r), 0);
	print_message("  %d connects, %d ok\n", r.n, r.ok);
	assert_true(r.ok > 0);
	th_run_free(&r);
}

/* The first sample's value of an instant query's answer; -1 when it has none. */
static double first_value(const char *body)
{
	const char *v = body ? strstr(body, "\"value\":[") : NULL;

	v = v ? strchr(v, '"') : NULL; /* past the timestamp: "value":[ts,"X"] */
	v = v ? strchr(v + 1, '"') : NULL;
	v = v ? strchr(v + 1, '"') : NULL;
	return v ? strtod(v + 1, NULL) : -1;
}

/* tests */

/* promtool check rules and promtool test rules: the unit tests of every alert pass. */
static void test_promtool_rules(void **state)
{
	char rules[PATH_MAX + 32], tests[PATH_MAX + 32], log[64];
	const char *check[] = { "check", "rules", rules, NULL };
	const char *unit[] = { "test", "rules", tests, NULL };

	(void)state;
	if (!promtool()) {
		print_message("  no promtool (apt-get install prometheus) or $CRUISE_PROMTOOL\n");
		skip();
	}
	deploy_path(rules, sizeof(rules), RULES_FILE);
	deploy_path(tests, sizeof(tests), RULES_TESTS);
	snprintf(log, sizeof(log), "/tmp/cruise-promtool.%d.log", (int)getpid());
	assert_int_equal(run_promtool(check, log), 0);
	assert_int_equal(run_promtool(unit, log), 0);
	unlink(log);
}

/* Prometheus scraping the agent evaluates the achieved-rate rule over real connects. */
static void test_recording_rule(void **state)
{
	struct env *e = *state;
	char *body = NULL;
	double v = -1;
	__u64 t0;

	if (e->no_prom)
		skip();
	connect_some(e, 40);
	t0 = cruise_now_ns();
	for (;;) {
		assert_int_equal(th_prom_query(&e->prom, RULE "{medium=\"push\"}", &body), 200);
		v = first_value(body);
		if (v > 0)
			break;
		if (cruise_now_ns() - t0 > RULE_WAIT_MS * NSEC_PER_MSEC)
			fail_msg("no positive sample of %s within %d ms: %s", RULE, RULE_WAIT_MS,
				 body);
		free(body);
		body = NULL;
		usleep(250000);
	}
	print_message("  %s{medium=\"push\"} %g after %.1f s\n", RULE, v,
		      (cruise_now_ns() - t0) / 1e9);
	free(body);
}

/* A dashboard expression with Grafana's variables replaced: $__rate_interval 1m, others .* */
static char *grafana_expand(const char *expr)
{
	size_t n = strlen(expr), o = 0;
	char *out = malloc(2 * n + 16);

	for (size_t i = 0; out && i < n;) {
		if (!strncmp(expr + i, "$__rate_interval", 16)) {
			memcpy(out + o, "1m", 2), o += 2, i += 16;
		} else if (expr[i] == '$') {
			bool brace = expr[i + 1] == '{';

			i += 1 + brace;
			while (i < n && (isalnum((unsigned char)expr[i]) || expr[i] == '_'))
				i++;
			if (brace && expr[i] == '}')
				i++;
			memcpy(out + o, ".*", 2), o += 2;
		} else {
			out[o++] = expr[i++];
		}
	}
	if (out)
		out[o] = '\0';
	return out;
}

/* The targets' expressions of the panels (and the panels of rows) into exprs. */
static int dashboard_exprs(json_t *panels, const char **exprs, int n)
{
	size_t i, j;
	json_t *p, *t;

	json_array_foreach(panels, i, p)
	{
		json_array_foreach(json_object_get(p, "targets"), j, t)
		{
			const char *x = json_string_value(json_object_get(t, "expr"));

			assert_non_null(x);
			assert_true(n < MAX_EXPRS);
			exprs[n++] = x;
		}
		n = dashboard_exprs(json_object_get(p, "panels"), exprs, n);
	}
	return n;
}

static json_t *load_dashboard(void)
{
	char path[PATH_MAX + 32];
	json_error_t err;
	json_t *d;

	deploy_path(path, sizeof(path), DASHBOARD);
	d = json_load_file(path, 0, &err);
	if (!d)
		fail_msg("%s:%d: %s", path, err.line, err.text);
	return d;
}

/* Every panel query is accepted and evaluated by Prometheus: status success. */
static void test_dashboard_queries(void **state)
{
	struct env *e = *state;
	const char *exprs[MAX_EXPRS];
	json_t *d;
	int n, with_data = 0;

	if (e->no_prom)
		skip();
	d = load_dashboard();
	assert_int_equal(json_integer_value(json_object_get(d, "schemaVersion")) >= 36, 1);
	n = dashboard_exprs(json_object_get(d, "panels"), exprs, 0);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		char *q = grafana_expand(exprs[i]), *body = NULL;
		int status;

		assert_non_null(q);
		status = th_prom_query(&e->prom, q, &body);
		if (status != 200 || !body || !strstr(body, "\"status\":\"success\""))
			fail_msg("panel query %s: HTTP %d %s", q, status, body ? body : "");
		with_data += !!strstr(body, "\"result\":[{");
		free(body);
		free(q);
	}
	print_message("  %d panel queries succeeded, %d with data\n", n, with_data);
	json_decref(d);
}

/* The live /metrics passes promtool check metrics (fed on stdin). */
static void test_check_metrics(void **state)
{
	struct env *e = *state;
	char path[64], log[64], cmd[256];
	const char *argv[] = { "sh", "-c", cmd, NULL };
	char *body;
	int rc;

	if (!promtool())
		skip();
	body = th_agent_metrics(&e->a);
	assert_non_null(body);
	assert_non_null(strstr(body, "cruise_delay_seconds_bucket"));
	snprintf(path, sizeof(path), "/tmp/cruise-metrics.%d.txt", (int)getpid());
	snprintf(log, sizeof(log), "/tmp/cruise-metrics.%d.log", (int)getpid());
	assert_int_equal(th_write_file(path, body), 0);
	free(body);
	snprintf(cmd, sizeof(cmd), "exec '%s' check metrics < '%s'", promtool(), path);
	unlink(log);
	rc = th_run_cmd(argv, log, log, PROMTOOL_MS);
	if (rc)
		th_print_tail("promtool check metrics", log, 4000);
	unlink(path);
	unlink(log);
	assert_int_equal(rc, 0);
}

/* metric names */

struct names {
	char *v[MAX_NAMES];
	int n;
};

static void names_add(struct names *ns, const char *s, size_t len)
{
	for (int i = 0; i < ns->n; i++)
		if (strlen(ns->v[i]) == len && !strncmp(ns->v[i], s, len))
			return;
	assert_true(ns->n < MAX_NAMES);
	ns->v[ns->n++] = strndup(s, len);
}

static void names_free(struct names *ns)
{
	for (int i = 0; i < ns->n; i++)
		free(ns->v[i]);
	ns->n = 0;
}

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == ':';
}

/*
 * The identifiers cruise_[a-z_]+ of text, outside # comments: each a whole name, so the recording
 * rules' own names (medium:cruise_...:rate1m, with colons) are not taken for metrics.
 */
static void collect_names(struct names *ns, const char *text)
{
	const char *p = text;

	while (*p) {
		if (*p == '#' && (p == text || p[-1] == '\n' || p[-1] == ' ')) {
			p = strchrnul(p, '\n');
			continue;
		}
		if (!strncmp(p, "cruise_", 7) && (p == text || !name_char(p[-1]))) {
			const char *s = p, *q = p + 7;
			bool colon = false;

			while (name_char(*q))
				colon |= *q++ == ':';
			if (!colon)
				names_add(ns, s, q - s);
			p = q;
			continue;
		}
		p++;
	}
}

/* The names not written by the exposition (as a "name" literal of its source); their count. */
static int unknown_names(const struct names *ns, const char *source, char *out, size_t len)
{
	int bad = 0;

	out[0] = '\0';
	for (int i = 0; i < ns->n; i++) {
		char quoted[128];

		snprintf(quoted, sizeof(quoted), "\"%s\"", ns->v[i]);
		if (strstr(source, quoted))
			continue;
		bad++;
		snprintf(out + strlen(out), len - strlen(out), " %s", ns->v[i]);
	}
	return bad;
}

/*
 * Every metric the rules (outside comments) and the dashboard's queries name is one the agent
 * writes; and the check catches a name it does not.
 */
static void test_names_exist(void **state)
{
	char path[PATH_MAX + 32], bad[1024];
	const char *exprs[MAX_EXPRS];
	struct names ns = { 0 };
	char *source, *rules;
	json_t *d;
	int n;

	(void)state;
	snprintf(path, sizeof(path), "%s/agent/exposition.c", src_dir());
	source = th_slurp(path);
	assert_true(source && strstr(source, "\"cruise_programs_attached\""));
	deploy_path(path, sizeof(path), RULES_FILE);
	rules = th_slurp(path);
	assert_true(rules && *rules);
	collect_names(&ns, rules);
	d = load_dashboard();
	n = dashboard_exprs(json_object_get(d, "panels"), exprs, 0);
	for (int i = 0; i < n; i++)
		collect_names(&ns, exprs[i]);
	json_decref(d);
	print_message("  %d metric names in the rules and dashboard\n", ns.n);
	assert_true(ns.n >= 15);
	if (unknown_names(&ns, source, bad, sizeof(bad)))
		fail_msg("not in agent/exposition.c:%s", bad);
	names_free(&ns);

	/* bad input: a renamed metric, and a recording rule's name that is not one */
	collect_names(&ns, "expr: rate(cruise_connection_total[1m]) # cruise_in_a_comment\n"
			   "record: medium:cruise_connections_achieved:rate1m\n");
	assert_int_equal(ns.n, 1);
	assert_int_equal(unknown_names(&ns, source, bad, sizeof(bad)), 1);
	assert_string_equal(bad, " cruise_connection_total");
	names_free(&ns);
	free(rules);
	free(source);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_promtool_rules),	  cmocka_unit_test(test_names_exist),
		cmocka_unit_test(test_check_metrics),	  cmocka_unit_test(test_recording_rule),
		cmocka_unit_test(test_dashboard_queries),
	};

	return cmocka_run_group_tests(tests, env_setup, env_teardown);
}
