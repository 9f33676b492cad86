// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Pods bound to media by label, and targets by Kubernetes Service, end to end: the real
 * cruise-agent against the real kernel, the real pinned maps and real cgroups laid out under a
 * test scope the way kubelet lays them out (cgroupfs and systemd drivers, every QoS class,
 * containerd, CRI-O and Docker container names).
 *
 * No Kubernetes API server can run here, so the API is a small fake served by this program
 * (fake_k8s.c): HTTPS with a certificate from a test CA made at test time with the openssl CLI,
 * the bearer token checked, the node's pods listed, then watched as a chunked stream of ADDED,
 * MODIFIED, DELETED and ERROR events; Services and their EndpointSlices the same way. The test
 * drives it: pods added, relabelled and deleted; Services whose ClusterIPs change, deleted, and
 * headless ones whose endpoints scale up and down; the API down (503, open watches cut) and back;
 * garbage, truncated, huge, wrong-typed and hostile responses; 410 Gone.
 *
 * Each test has its own scope cgroup, pin_dir, ports, temp dir and server; the teardown kills the
 * agent, runs --uninstall, removes the cgroup tree and the files, also when the test failed.
 * Waits poll the bindings map, the server's counters or the agent's log with a deadline.
 *
 * The agent is cruise-agent beside this program, or $CRUISE_AGENT (agent_fixture.h). Run as root.
 *
 * Over 600 lines: the pod binding and the Services' targets end to end, each case driving the
 * fake API through the same fixture.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <jansson.h>

#include "agent_fixture.h"
#include "cruise_target.h"
#include "fake_k8s.h"
#include "loader.h"
#include "snapshot.h"

#define START_MS       5000
#define BIND_MS	       1000 /* a pod change shows in the bindings map within this */
#define TARGET_MS      1000 /* a Service's change shows in the targets map within this */
#define BACKOFF_MAX_MS 2000 /* the agent's --k8s-backoff-max in these tests */
#define NODE	       "node-a"
#define TOKEN	       "cruise-test-token-0123456789"

struct env {
	struct th_sandbox sb; /* name, temp dir, scope cgroup, target listener */
	struct th_agent a;
	char secrets[PATH_MAX + 16]; /* token and ca.crt for the agent */
	struct fake_k8s f;
};

static __u64 now_ns(void)
{
	return cruise_now_ns();
}

static double ms(__u64 ns)
{
	return (double)ns / NSEC_PER_MSEC;
}

static char *tmp_path(const struct env *e, const char *name)
{
	static char buf[4][PATH_MAX + 64];
	static int k;
	char *p = buf[k++ % 4];

	snprintf(p, PATH_MAX + 64, "%s/%s", e->sb.tmp, name);
	return p;
}

static int env_teardown(void **state);

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	*state = e;
	if (th_agent_sandbox_setup(&e->sb, &e->a, "cruise-k8s-test", "cruise")) {
		free(e);
		*state = NULL;
		return -1;
	}
	snprintf(e->secrets, sizeof(e->secrets), "%s/sa", e->sb.tmp);
	if (fake_k8s_make_certs(e->sb.tmp, TOKEN)) {
		fprintf(stderr, "openssl failed: %s\n", tmp_path(e, "openssl.log"));
		goto fail;
	}
	if (fake_k8s_start(&e->f, e->sb.tmp, NODE, TOKEN)) {
		fprintf(stderr, "cannot start the fake API server (libmicrohttpd with TLS)\n");
		goto fail;
	}
	return 0;
fail:
	env_teardown(state);
	return -1;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	if (!e)
		return 0;
	/* the agent first: it talks to the server */
	th_agent_cleanup(&e->a);
	fake_k8s_stop(&e->f);
	th_sandbox_teardown(&e->sb);
	free(e);
	*state = NULL;
	return 0;
}

/* pods and their cgroups */

enum layout { FS, SD }; /* kubelet's cgroupfs and systemd drivers */

/* Pod i as the API shows it (not on the node until an event or a list). */
static void fill_pod(struct env *e, int i, const char *qos, const char *medium)
{
	struct fake_k8s_pod *p = &e->f.pods[i];

	snprintf(p->uid, sizeof(p->uid), "%08x-%04x-4%03x-8%03x-%012x", 0xc0ffee00 + i, i, i, i,
		 (unsigned int)getpid());
	snprintf(p->name, sizeof(p->name), "worker-%d", i);
	snprintf(p->qos, sizeof(p->qos), "%s", qos);
	snprintf(p->medium, sizeof(p->medium), "%s", medium ? medium : "");
}

/* Pod i's cgroup as kubelet makes it, with one container below; its id. */
static __u64 make_pod_cgroup(struct env *e, int i, enum layout lay, const char *runtime)
{
	struct fake_k8s_pod *p = &e->f.pods[i];
	char uid_[64], path[PATH_MAX + 256], cmd[PATH_MAX * 2 + 512], ctr[128];
	const char *q = !strcmp(p->qos, "Burstable")	? "burstable"
			: !strcmp(p->qos, "BestEffort") ? "besteffort"
							: "";
	__u64 id;

	snprintf(uid_, sizeof(uid_), "%s", p->mirror[0] ? p->mirror : p->uid);
	if (lay == FS) {
		snprintf(path, sizeof(path), "%s/kubepods/%s%spod%s", e->sb.scope.path, q,
			 *q ? "/" : "", uid_);
	} else {
		for (char *c = uid_; *c; c++)
			*c = *c == '-' ? '_' : *c;
		if (*q)
			snprintf(path, sizeof(path),
				 "%s/kubepods.slice/kubepods-%s.slice/kubepods-%s-pod%s.slice",
				 e->sb.scope.path, q, q, uid_);
		else
			snprintf(path, sizeof(path), "%s/kubepods.slice/kubepods-pod%s.slice",
				 e->sb.scope.path, uid_);
	}
	/* containerd, CRI-O under systemd: <runtime>-<id>.scope; cgroupfs: <id> */
	snprintf(ctr, sizeof(ctr), "%s%s%064x%s", lay == SD ? runtime : "", lay == SD ? "-" : "",
		 0xabc + i, lay == SD ? ".scope" : "");
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", path, ctr);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(cruise_cgroup_id(path, &id), 0);
	return id;
}

static __u64 make_pod(struct env *e, int i, enum layout lay, const char *qos, const char *runtime,
		      const char *medium)
{
	fill_pod(e, i, qos, medium);
	return make_pod_cgroup(e, i, lay, runtime);
}

static char *container_of(const char *pod_path)
{
	static char buf[PATH_MAX];
	char cmd[PATH_MAX + 512];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ls -d '%s'/*/ | head -1", pod_path);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	pclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/* the agent */

static void conf_write(const struct env *e, bool pods)
{
	char text[8192], email[256];
	int n;

	if (pods)
		snprintf(email, sizeof(email),
			 "    pods:\n      matchLabels:\n"
			 "        cruise.io/medium: email\n"
			 "        app: worker\n");
	else
		snprintf(email, sizeof(email), "    cgroups: [\"%s/mail-*\"]\n", e->sb.name);
	n = th_agent_conf_head(&e->sb, &e->a, text, sizeof(text));
	snprintf(text + n, sizeof(text) - n,
		 "media:\n"
		 "  - name: push\n"
		 "    rate: 100/s\n"
		 "    cgroups: [\"%s/push-*\"]\n"
		 "%s"
		 "  - name: email\n"
		 "    rate: 10/s\n"
		 "%s",
		 e->sb.name, pods ? "    pods: {matchLabels: {cruise.io/medium: push}}\n" : "",
		 email);
	assert_int_equal(th_write_file(e->a.conf, text), 0);
}

static bool agent_alive(struct env *e)
{
	return th_agent_alive(&e->a);
}

static void dump_log(const struct env *e)
{
	th_agent_print_log(&e->a, 8000);
}

/* Lines of the log holding needle. */
static int log_count(const struct env *e, const char *needle)
{
	return th_agent_log_lines(&e->a, needle, NULL);
}

/* Poll the log for needle; false after timeout_ms. */
static bool wait_log(struct env *e, const char *needle, int timeout_ms)
{
	return th_agent_wait_line(&e->a, needle, NULL, 1, timeout_ms, NULL, 0) >= 0;
}

static void agent_start(struct env *e, const char *secrets)
{
	const char *args[] = { "--node-name", NODE, "--k8s-secrets", secrets, "--k8s-backoff-max",
			       "2000",	      NULL };
	char port[8];

	snprintf(port, sizeof(port), "%u", e->f.port);
	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", port, 1);
	if (th_agent_start(&e->a, args, START_MS))
		fail_msg("cruise-agent did not start within %d ms", START_MS);
}

static __u32 medium_index(const struct env *e, const char *name)
{
	int i = th_medium_index(e->a.maps.media, name);

	if (i < 0)
		fail_msg("no active medium %s in cruise_media", name);
	return i;
}

/* The medium a cgroup is bound to, or -1. */
static int bound_to(const struct env *e, __u64 id)
{
	return th_binding(e->a.maps.bindings, id);
}

static __u64 wait_binding(const struct env *e, __u64 id, int want, int timeout_ms)
{
	return th_wait_binding(e->a.maps.bindings, id, want, timeout_ms, NULL);
}

static void expect_binding(struct env *e, __u64 id, int want, int timeout_ms, const char *what)
{
	__u64 took = wait_binding(e, id, want, timeout_ms);

	if (!took) {
		dump_log(e);
		fail_msg("%s: cgroup %llu bound to %d, expected %d within %d ms", what,
			 (unsigned long long)id, bound_to(e, id), want, timeout_ms);
	}
	print_message("  %s: %.1f ms\n", what, ms(took));
}

/* Agent CPU time (user + system) in clock ticks. */
static long agent_cpu_ticks(const struct env *e)
{
	char path[64], *text, *p;
	long ut = 0, st = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)e->a.pid);
	text = th_slurp(path);
	p = strrchr(text, ')');
	assert_non_null(p);
	/* fields 14 and 15, counted after the comm: state is field 3 */
	assert_int_equal(
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st), 2);
	free(text);
	return ut + st;
}

/* Whether the agent's /metrics holds text. */
static bool metrics_has(const struct env *e, const char *text)
{
	char *body = NULL;
	bool has;

	assert_int_equal(th_http_get(e->a.metrics_port, "/metrics", &body), 200);
	has = strstr(body, text);
	if (!has)
		print_message("no \"%s\" in /metrics\n", text);
	free(body);
	return has;
}

/* One connect from the cgroup at path; returns the medium's connections counter delta. */
static __u64 connects_counted(const struct env *e, const char *path, const char *medium)
{
	struct cruise_snapshot *s = calloc(1, sizeof(*s));
	__u32 idx = medium_index(e, medium);
	struct th_run_opts o = { .cgroup = path,
				 .addr = "127.0.0.1",
				 .port = e->sb.target.port,
				 .workers = 1,
				 .duration_ns = NSEC_PER_SEC,
				 .max_per_worker = 1 };
	struct th_run r;
	__u64 before = 0, after = 0;

	assert_non_null(s);
	assert_int_equal(cruise_snapshot_read(&e->a.maps, s), 0);
	for (unsigned int i = 0; i < s->n_media; i++)
		if (s->media[i].index == idx)
			before = s->media[i].c.connections;
	assert_int_equal(th_run_clients(&o, &r), 0);
	assert_int_equal(r.ok, 1);
	th_run_free(&r);
	assert_int_equal(cruise_snapshot_read(&e->a.maps, s), 0);
	for (unsigned int i = 0; i < s->n_media; i++)
		if (s->media[i].index == idx)
			after = s->media[i].c.connections;
	free(s);
	return after - before;
}

/* A standard start: pods 0-3 on the node in four layouts, a glob-bound cgroup beside them. */
struct start {
	__u64 pod[4];
	struct th_cgroup glob;
};

static void standard_start(struct env *e, struct start *s)
{
	s->pod[0] = make_pod(e, 0, FS, "Guaranteed", NULL, "email");
	s->pod[1] = make_pod(e, 1, SD, "Burstable", "crio", "email");
	s->pod[2] = make_pod(e, 2, SD, "BestEffort", "cri-containerd", "push");
	s->pod[3] = make_pod(e, 3, FS, "Burstable", NULL, NULL); /* selected by no medium */
	for (int i = 0; i < 4; i++)
		e->f.pods[i].present = true;
	assert_int_equal(th_cgroup_create(&s->glob, &e->sb.scope, "push-1"), 0);
	conf_write(e, true);
	agent_start(e, e->secrets);
	expect_binding(e, s->pod[0], medium_index(e, "email"), 2000,
		       "listed pod, cgroupfs, Guaranteed");
	expect_binding(e, s->pod[1], medium_index(e, "email"), BIND_MS,
		       "listed pod, systemd, Burstable, CRI-O");
	expect_binding(e, s->pod[2], medium_index(e, "push"), BIND_MS,
		       "listed pod, systemd, BestEffort, containerd");
	expect_binding(e, s->glob.id, medium_index(e, "push"), BIND_MS, "glob-bound cgroup");
	assert_int_equal(bound_to(e, s->pod[3]), -1);
}

static void assert_all_bound(struct env *e, const struct start *s, const char *when)
{
	int email = medium_index(e, "email"), push = medium_index(e, "push");

	if (bound_to(e, s->pod[0]) != email || bound_to(e, s->pod[1]) != email ||
	    bound_to(e, s->pod[2]) != push || bound_to(e, s->glob.id) != push) {
		dump_log(e);
		fail_msg("%s: a binding in force was dropped", when);
	}
}

/* tests */

/*
 * Pods listed at start are bound in every layout; pods added, relabelled and deleted while the
 * agent runs are bound and unbound within a second; a pod without a cgroup is reported and bound
 * when its cgroup appears; the glob binding is never touched; a connect from a container cgroup is
 * paced under its pod's medium; a static pod is found by its mirror's config hash.
 */
static void test_pods_follow(void **state)
{
	struct env *e = *state;
	struct start s;
	int email, push;
	__u64 id, t0;
	char path[PATH_MAX + 128];

	standard_start(e, &s);
	email = medium_index(e, "email");
	push = medium_index(e, "push");
	assert_true(fake_k8s_count(&e->f, &e->f.lists) >= 1);
	assert_int_equal(fake_k8s_count(&e->f, &e->f.unauthorized), 0);
	assert_int_equal(fake_k8s_count(&e->f, &e->f.bad_selector), 0);

	/* a container cgroup below a bound pod is paced as the pod */
	snprintf(path, sizeof(path), "%s/kubepods/pod%s", e->sb.scope.path, e->f.pods[0].uid);
	assert_int_equal(connects_counted(e, container_of(path), "email"), 1);

	/* added while running: systemd Guaranteed containerd, cgroup first as kubelet does */
	id = make_pod(e, 4, SD, "Guaranteed", "cri-containerd", "push");
	fake_k8s_pod_event(&e->f, 4, "ADDED", false);
	expect_binding(e, id, push, BIND_MS, "added pod bound");
	/* relabelled to the other medium, then to none */
	snprintf(e->f.pods[4].medium, sizeof(e->f.pods[4].medium), "email");
	fake_k8s_pod_event(&e->f, 4, "MODIFIED", false);
	expect_binding(e, id, email, BIND_MS, "relabelled pod moved to email");
	e->f.pods[4].medium[0] = '\0';
	fake_k8s_pod_event(&e->f, 4, "MODIFIED", false);
	expect_binding(e, id, -1, BIND_MS, "pod relabelled out of every medium unbound");
	/* the unselected pod gets a label */
	snprintf(e->f.pods[3].medium, sizeof(e->f.pods[3].medium), "push");
	fake_k8s_pod_event(&e->f, 3, "MODIFIED", false);
	expect_binding(e, s.pod[3], push, BIND_MS, "labelled pod bound");
	/* deleted */
	fake_k8s_pod_event(&e->f, 1, "DELETED", false);
	expect_binding(e, s.pod[1], -1, BIND_MS, "deleted pod unbound");

	/* a pod whose cgroup does not exist yet: reported, not guessed; bound once it appears */
	fill_pod(e, 5, "BestEffort", "email");
	fake_k8s_pod_event(&e->f, 5, "ADDED", false);
	assert_true(
		wait_log(e, "\"msg\":\"pod cgroup not found; not paced until it appears\"", 2000));
	/* reported once, although retried every second */
	assert_int_equal(log_count(e, "jobs/worker-5"), 1);
	t0 = now_ns();
	id = make_pod_cgroup(e, 5, FS, NULL);
	expect_binding(e, id, email, 2000, "pod bound after its cgroup appeared (1 s retry)");
	print_message("  (%.0f ms after mkdir)\n", ms(now_ns() - t0));

	/* a static pod: its cgroup is named by the mirror annotation's hash, not the API uid */
	snprintf(e->f.pods[6].mirror, sizeof(e->f.pods[6].mirror), "%032x", 0x5747 + getpid());
	id = make_pod(e, 6, SD, "Burstable", "crio", "push");
	fake_k8s_pod_event(&e->f, 6, "ADDED", false);
	expect_binding(e, id, push, BIND_MS, "static pod bound by its config hash");

	/* all along, the pattern's binding and the untouched pods stayed */
	assert_int_equal(bound_to(e, s.glob.id), push);
	assert_int_equal(bound_to(e, s.pod[0]), email);
	assert_int_equal(bound_to(e, s.pod[2]), push);
	assert_true(agent_alive(e));
	/* pods 0, 2, 3, 5 and 6 bound, none missing, the API up */
	assert_true(metrics_has(e, "cruise_pods_bound 5\n"));
	assert_true(metrics_has(e, "cruise_pods_unresolved 0\n"));
	assert_true(metrics_has(e, "cruise_k8s_api_up 1\n"));
}

/*
 * The API goes away (503, watches cut) for 3 s: the bindings stay, the agent retries on its
 * backoff schedule (0.5 s doubling to 2 s here: at most 4 requests in 3 s; a busy loop would make
 * thousands) and uses almost no CPU; when the API is back, changes made meanwhile are applied
 * within the longest backoff plus a second.
 */
static void test_api_outage(void **state)
{
	struct env *e = *state;
	struct start s;
	unsigned int req0, req1;
	long cpu0, cpu1;
	__u64 t0, id;
	int email;

	standard_start(e, &s);
	email = medium_index(e, "email");
	/* let the watch settle */
	assert_true(wait_log(e, "\"msg\":\"kubernetes: listed the node's pods\"", 1000));
	cpu0 = agent_cpu_ticks(e);
	req0 = fake_k8s_count(&e->f, &e->f.requests);
	t0 = now_ns();
	fake_k8s_set(&e->f, &e->f.down, true);
	/* during the outage: a pod deleted, a pod added */
	fake_k8s_pod_event(&e->f, 0, "DELETED", true);
	id = make_pod(e, 7, FS, "Guaranteed", NULL, "email");
	fake_k8s_pod_event(&e->f, 7, "ADDED", true);
	while (now_ns() < t0 + 3 * NSEC_PER_SEC) {
		assert_all_bound(e, &s, "during the outage");
		assert_true(agent_alive(e));
		usleep(20000);
	}
	req1 = fake_k8s_count(&e->f, &e->f.requests);
	cpu1 = agent_cpu_ticks(e);
	print_message("  outage of 3 s: %u requests, %ld ms of agent CPU\n", req1 - req0,
		      (cpu1 - cpu0) * 1000 / sysconf(_SC_CLK_TCK));
	assert_true(req1 - req0 >= 2); /* it does retry */
	assert_true(req1 - req0 <= 6); /* on the backoff schedule */
	assert_true((cpu1 - cpu0) * 1000 / sysconf(_SC_CLK_TCK) <= 100);
	assert_true(
		log_count(
			e,
			"\"msg\":\"kubernetes API: request failed; the bindings in force stay\"") >=
		2);
	assert_int_equal(bound_to(e, id), -1);

	fake_k8s_set(&e->f, &e->f.down, false);
	expect_binding(e, id, email, BACKOFF_MAX_MS + BIND_MS,
		       "pod added during the outage bound after it");
	expect_binding(e, s.pod[0], -1, BIND_MS, "pod deleted during the outage unbound after it");
	assert_int_equal(bound_to(e, s.glob.id), medium_index(e, "push"));
}

/*
 * One hostile line in the watch stream: the agent drops the stream and lists again after its
 * backoff (waited for: a line sent before that list would be skipped by the next watch), alive,
 * with every binding in place.
 */
static void hostile_line(struct env *e, const struct start *s, const char *line, size_t len,
			 const char *what)
{
	unsigned int lists = fake_k8s_count(&e->f, &e->f.lists);
	__u64 deadline = now_ns() + (BACKOFF_MAX_MS + 2000) * NSEC_PER_MSEC;

	fake_k8s_raw(&e->f, line, len);
	while (fake_k8s_count(&e->f, &e->f.lists) == lists && now_ns() < deadline)
		usleep(2000);
	if (fake_k8s_count(&e->f, &e->f.lists) == lists) {
		dump_log(e);
		fail_msg("no new list after the hostile line %.60s", what);
	}
	assert_true(agent_alive(e));
	assert_all_bound(e, s, what);
}

/*
 * An agent restarted while the API is down (a rolling update during an outage) keeps what the
 * previous one bound for pods until it has a list: the node stays paced. Then it catches up.
 */
static void test_restart_api_down(void **state)
{
	struct env *e = *state;
	struct start s;
	unsigned int req0;
	__u64 t0;

	standard_start(e, &s);
	th_agent_kill(&e->a, SIGKILL);
	fake_k8s_set(&e->f, &e->f.down, true);
	fake_k8s_pod_event(&e->f, 1, "DELETED", true);
	req0 = fake_k8s_count(&e->f, &e->f.requests);
	agent_start(e, e->secrets);
	/* the new agent is up and failing to list: the bindings stay all along */
	t0 = now_ns();
	while (fake_k8s_count(&e->f, &e->f.requests) < req0 + 2 ||
	       now_ns() < t0 + 1500 * NSEC_PER_MSEC) {
		assert_all_bound(e, &s, "a new agent, the API down");
		assert_true(agent_alive(e));
		assert_true(now_ns() < t0 + 10 * NSEC_PER_SEC);
		usleep(20000);
	}
	fake_k8s_set(&e->f, &e->f.down, false);
	expect_binding(e, s.pod[1], -1, BACKOFF_MAX_MS + BIND_MS,
		       "pod deleted while no agent watched unbound after the first list");
	assert_int_equal(bound_to(e, s.pod[0]), medium_index(e, "email"));
	assert_int_equal(bound_to(e, s.glob.id), medium_index(e, "push"));
}

/* Lines that must be rejected whole, leaving every binding in place. */
static void hostile_lines(struct env *e, const struct start *s)
{
	static const char *const lines[] = {
		"this is not json",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"uid\":\"abc",
		"{\"type\":\"DELETED\"}",
		"{\"type\":\"DELETED\",\"object\":[]}",
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"uid\":12345}}}",
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"uid\":\"../../../../x\","
		"\"resourceVersion\":\"1\",\"labels\":{\"cruise.io/medium\":\"email\"}}}}",
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"uid\":\"aa\","
		"\"resourceVersion\":"
		"\"1\",\"labels\":{\"cruise.io/medium\":[\"email\"]}}}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"uid\":\"aa\",\"resourceVersion\":"
		"\"1\","
		"\"labels\":\"cruise.io/medium=email\"}}}",
		"{\"type\":\"EXPLODED\",\"object\":{}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"uid\":\"aa\",\"uid\":\"bb\"}}}",
		"[1,2,3]",
		"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,\"message\":"
		"\"boom\"}}",
	};
	char *deep, *huge;
	size_t n = 200000;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		hostile_line(e, s, lines[i], strlen(lines[i]), lines[i]);
	/* nested 200000 deep, and a 5 MiB event: refused by depth and size bounds */
	deep = malloc(2 * n + 1);
	assert_non_null(deep);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	deep[2 * n] = '\0';
	hostile_line(e, s, deep, 2 * n, "200000 nested lists");
	free(deep);
	huge = malloc(5 << 20);
	assert_non_null(huge);
	memset(huge, 'a', 5 << 20);
	memcpy(huge, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"uid\":\"", 46);
	hostile_line(e, s, huge, 5 << 20, "a 5 MiB event");
	free(huge);
	assert_true(log_count(e, "a watch event larger than") == 1);
}

/*
 * A valid pod the agent cannot bind is kept out without failing the stream: one with 300 labels
 * (Kubernetes sets no limit; the agent keeps 256) is ignored and said once, with no list again.
 */
static void odd_pods(struct env *e, const struct start *s)
{
	json_t *labels = json_object(), *ev;
	unsigned int lists = fake_k8s_count(&e->f, &e->f.lists);
	char key[32], *line;

	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "l%d", i);
		json_object_set_new(labels, key, json_string("x"));
	}
	json_object_set_new(labels, "cruise.io/medium", json_string("email"));
	ev = json_pack("{s:s, s:{s:s, s:{s:s, s:s, s:s, s:s, s:o, s:{s:s}}, s:{s:s}}}", "type",
		       "ADDED", "object", "kind", "Pod", "metadata", "name", "many-labels",
		       "namespace", "jobs", "uid", "0b0e-many-labels", "resourceVersion", "900",
		       "labels", labels, "annotations", "kubernetes.io/config.mirror",
		       "0123456789abcdef0123456789abcdef", "status", "phase", "Running");
	line = json_dumps(ev, JSON_COMPACT);
	assert_non_null(line);
	fake_k8s_raw(&e->f, line, strlen(line));
	assert_true(wait_log(e, "pod ignored: never bound to a medium", BIND_MS));
	assert_int_equal(fake_k8s_count(&e->f, &e->f.lists), lists);
	assert_int_equal(log_count(e, "pod ignored"), 1);
	assert_int_equal(bound_to(e, s->pod[0]), medium_index(e, "email"));
	free(line);
	json_decref(ev);
}

/*
 * Malformed, truncated, wrong-typed, huge and hostile watch events and list bodies are rejected
 * without a crash and without dropping the bindings in force; an ERROR 410 makes the agent list
 * again at once; a good list after bad ones is applied.
 */
static void test_hostile_api(void **state)
{
	static const char *const bodies[] = {
		"",
		"{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"5\"},\"items\":[{"
		"\"metad",
		"{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"5\"},\"items\":{}}",
		"{\"kind\":\"PodList\",\"items\":[]}",
		"{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"5\"},\"items\":[{}]}",
		"{\"kind\":\"Status\",\"metadata\":{\"resourceVersion\":\"5\"},\"items\":[]}",
		"null",
	};
	struct env *e = *state;
	struct start s;
	unsigned int lists;
	__u64 deadline;

	standard_start(e, &s);
	hostile_lines(e, &s);

	/* 410 Gone: listed again at once; a pod deleted without an event (compacted) goes */
	fake_k8s_pod_event(&e->f, 2, "DELETED", true);
	lists = fake_k8s_count(&e->f, &e->f.lists);
	fake_k8s_raw(&e->f,
		     "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":"
		     "\"Expired\",\"message\":\"too old resource version\"}}",
		     strlen("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
			    "\"reason\":"
			    "\"Expired\",\"message\":\"too old resource version\"}}"));
	expect_binding(e, s.pod[2], -1, BIND_MS,
		       "410 Gone: listed again, silently deleted pod unbound");
	assert_true(fake_k8s_count(&e->f, &e->f.lists) > lists);
	assert_true(wait_log(e, "410 Gone", 100));

	/* bad list bodies, one after another: nothing changes */
	fake_k8s_pod_event(&e->f, 2, "ADDED", true);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		fake_k8s_list_override(&e->f, bodies[i]);
		lists = fake_k8s_count(&e->f, &e->f.lists);
		if (i == 0)
			fake_k8s_raw(&e->f, "{\"type\":\"ERROR\",\"object\":{\"code\":410}}",
				     strlen("{\"type\":\"ERROR\",\"object\":{\"code\":410}}"));
		deadline = now_ns() + (BACKOFF_MAX_MS + 2000) * NSEC_PER_MSEC;
		while (fake_k8s_count(&e->f, &e->f.lists) == lists && now_ns() < deadline)
			usleep(2000);
		assert_true(fake_k8s_count(&e->f, &e->f.lists) > lists);
		assert_true(agent_alive(e));
		assert_int_equal(bound_to(e, s.pod[0]), medium_index(e, "email"));
		assert_int_equal(bound_to(e, s.pod[1]), medium_index(e, "email"));
		assert_int_equal(bound_to(e, s.pod[2]), -1);
		assert_int_equal(bound_to(e, s.glob.id), medium_index(e, "push"));
	}
	assert_true(log_count(e, "list: rejected the response") >=
		    (int)(sizeof(bodies) / sizeof(bodies[0])) - 1);
	/* a good list again: pod 2, back in the API, is bound */
	fake_k8s_list_override(&e->f, NULL);
	expect_binding(e, s.pod[2], medium_index(e, "push"), BACKOFF_MAX_MS + BIND_MS,
		       "good list after bad ones applied");
	odd_pods(e, &s);
}

/* The API requests the agent makes in the next 3 s, while it stays alive. */
static unsigned int requests_in_3s(struct env *e, const char *what)
{
	unsigned int req0 = fake_k8s_count(&e->f, &e->f.requests), n;
	__u64 t0 = now_ns();

	while (now_ns() < t0 + 3 * NSEC_PER_SEC) {
		assert_true(agent_alive(e));
		usleep(20000);
	}
	n = fake_k8s_count(&e->f, &e->f.requests) - req0;
	print_message("  %s for 3 s: %u requests\n", what, n);
	return n;
}

/*
 * A server that ends every watch at once, with no event or only a bookmark (or answers each with
 * 410), does not make the agent loop: after the second such end in a row it waits its backoff.
 * 3 s at most 8 requests (a tight loop would make hundreds); the bindings stay.
 */
static void test_watch_ends_at_once(void **state)
{
	struct env *e = *state;
	struct start s;
	unsigned int n;

	standard_start(e, &s);
	assert_true(wait_log(e, "\"msg\":\"kubernetes: listed the node's pods\"", 1000));
	fake_k8s_set(&e->f, &e->f.watch_ends, true);
	/* a bad line ends the running watch; every later one ends at once */
	fake_k8s_raw(&e->f, "not json", strlen("not json"));
	n = requests_in_3s(e, "watches ending at once");
	assert_true(n >= 2);
	assert_true(n <= 8);
	assert_true(wait_log(e, "at once", 100));
	assert_all_bound(e, &s, "with watches ending at once");

	/* the same after one bookmark each: a bookmark is not a pod event */
	fake_k8s_set(&e->f, &e->f.ends_with_bookmark, true);
	assert_true(requests_in_3s(e, "watches ending after one bookmark") <= 8);
	assert_all_bound(e, &s, "with watches ending after a bookmark");
	fake_k8s_set(&e->f, &e->f.ends_with_bookmark, false);
	fake_k8s_set(&e->f, &e->f.watch_ends, false);
}

/* TLS is verified: with another CA the agent binds no pod (and says why); patterns still work. */
static void test_wrong_ca(void **state)
{
	struct env *e = *state;
	struct th_cgroup glob;
	__u64 id;

	id = make_pod(e, 0, FS, "Guaranteed", NULL, "email");
	e->f.pods[0].present = true;
	assert_int_equal(th_cgroup_create(&glob, &e->sb.scope, "push-1"), 0);
	conf_write(e, true);
	agent_start(e, tmp_path(e, "wrong-ca"));
	assert_true(wait_log(
		e, "\"msg\":\"kubernetes API: request failed; the bindings in force stay\"", 3000));
	assert_true(log_count(e, "SSL") + log_count(e, "certificate") > 0);
	expect_binding(e, glob.id, medium_index(e, "push"), BIND_MS, "glob bound without the API");
	assert_int_equal(bound_to(e, id), -1);
	assert_int_equal(fake_k8s_count(&e->f, &e->f.requests), 0);
}

/* No medium selects pods: the API is never contacted, even when it is there. */
static void test_no_pods_no_api(void **state)
{
	struct env *e = *state;
	struct th_cgroup glob;

	assert_int_equal(th_cgroup_create(&glob, &e->sb.scope, "push-1"), 0);
	conf_write(e, false);
	agent_start(e, e->secrets);
	expect_binding(e, glob.id, medium_index(e, "push"), BIND_MS, "glob bound");
	assert_int_equal(fake_k8s_count(&e->f, &e->f.requests), 0);
	assert_int_equal(log_count(e, "watching the pods"), 0);
	assert_false(metrics_has(e, "cruise_k8s_"));
	/* and a reload that adds a pod selector starts the watch */
	conf_write(e, true);
	kill(e->a.pid, SIGHUP);
	assert_true(wait_log(e, "\"msg\":\"kubernetes: listed the node's pods\"", 2000));
	assert_true(fake_k8s_count(&e->f, &e->f.lists) >= 1);
}

/* targets by Service */

#define SVC_NS "data"

/* Service i as the API shows it (not there until an event or a list): one or two ClusterIPs. */
static void fill_service(struct env *e, int i, const char *name, const char *ip4, const char *ip6,
			 uint16_t port)
{
	struct fake_k8s_service *v = &e->f.services[i];

	memset(v, 0, sizeof(*v));
	snprintf(v->ns, sizeof(v->ns), SVC_NS);
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->ips[0], sizeof(v->ips[0]), "%s", ip4 ? ip4 : "");
	snprintf(v->ips[1], sizeof(v->ips[1]), "%s", ip6 ? ip6 : "");
	v->headless = !ip4 && !ip6;
	v->ports[0] = port;
}

/* A config of the fixture's target, the targets given (YAML list entries) and one medium. */
static void conf_targets(const struct env *e, const char *targets)
{
	char text[8192];
	int n = th_agent_conf_head(&e->sb, &e->a, text, sizeof(text));

	snprintf(text + n, sizeof(text) - n,
		 "%s"
		 "media:\n"
		 "  - name: push\n"
		 "    rate: 100/s\n"
		 "    cgroups: [\"%s/push-*\"]\n",
		 targets, e->sb.name);
	assert_int_equal(th_write_file(e->a.conf, text), 0);
}

/*
 * The target id cruise_targets gives addr at port, as the datapath looks a connect up (a whole
 * address: the longest prefix wins), or -1.
 */
static int target_of(const struct env *e, const char *addr, uint16_t port)
{
	struct cruise_target_key k;
	struct cruise_target v;
	__u8 a[16];
	__u32 a4;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		cruise_target_key_v4(&k, a4, port, CRUISE_TARGET_V4_BITS);
	else if (inet_pton(AF_INET6, addr, a) == 1)
		cruise_target_key_v6(&k, a, port, CRUISE_TARGET_V6_BITS);
	else
		fail_msg("bad address %s in the test", addr);
	return bpf_map_lookup_elem(e->a.maps.targets, &k, &v) ? -1 : (int)v.id;
}

/* Poll until addr at port is target id (-1: is none); the time it took, or 0 after timeout_ms. */
static __u64 wait_target(const struct env *e, const char *addr, uint16_t port, int id,
			 int timeout_ms)
{
	__u64 t0 = now_ns(), deadline = t0 + timeout_ms * NSEC_PER_MSEC;

	do {
		if (target_of(e, addr, port) == id)
			return now_ns() - t0 ?: 1;
		usleep(500);
	} while (now_ns() < deadline);
	return 0;
}

static void expect_target(struct env *e, const char *addr, uint16_t port, int id, int timeout_ms,
			  const char *what)
{
	__u64 took = wait_target(e, addr, port, id, timeout_ms);

	if (!took) {
		dump_log(e);
		fail_msg("%s: %s port %u is target %d, expected %d within %d ms", what, addr, port,
			 target_of(e, addr, port), id, timeout_ms);
	}
	print_message("  %s: %.1f ms\n", what, ms(took));
}

/*
 * An address of a target moves from old to new: polled from the API's change on, the map never
 * holds neither, and new is in before old is out. The time from the change to new in the map.
 */
static __u64 expect_move(struct env *e, const char *old, const char *new, uint16_t port, int id,
			 const char *what)
{
	__u64 t0 = now_ns(), deadline = t0 + TARGET_MS * NSEC_PER_MSEC, in = 0, out = 0;
	unsigned long samples = 0;

	while ((!in || !out) && now_ns() < deadline) {
		bool has_old = target_of(e, old, port) == id,
		     has_new = target_of(e, new, port) == id;

		samples++;
		if (!has_old && !has_new) {
			dump_log(e);
			fail_msg("%s: neither %s nor %s is a target", what, old, new);
		}
		if (has_new && !in)
			in = now_ns() - t0;
		if (!has_old && !out)
			out = now_ns() - t0;
	}
	if (!in || !out) {
		dump_log(e);
		fail_msg("%s: %s %s in, %s %s out within %d ms", what, new, in ? "was" : "was not",
			 old, out ? "was" : "was not", TARGET_MS);
	}
	assert_true(in <= out);
	print_message("  %s: new in after %.1f ms, old out after %.1f ms (%lu samples)\n", what,
		      ms(in), ms(out), samples);
	return in;
}

/* Over ms_ of polling, every address stays target id. */
static void expect_kept(struct env *e, const char *const *addrs, uint16_t port, int id, int ms_,
			const char *what)
{
	__u64 deadline = now_ns() + ms_ * NSEC_PER_MSEC;

	do {
		for (const char *const *a = addrs; *a; a++)
			if (target_of(e, *a, port) != id) {
				dump_log(e);
				fail_msg("%s: %s port %u is no longer target %d", what, *a, port,
					 id);
			}
		assert_true(agent_alive(e));
		usleep(2000);
	} while (now_ns() < deadline);
}

/* The value of a series in /metrics, or -1 when it is not there. */
static double scrape(const struct env *e, const char *series)
{
	double v;

	return th_agent_scrape(&e->a, series, &v) ? -1 : v;
}

/* cruisectl targets ARGS... against the agent's pins: its output. */
static char *ctl_targets(struct env *e, const char *fmt)
{
	static char bin[PATH_MAX];
	static int found = 1;
	const char *ctl = th_find_once("CRUISECTL", "cruisectl", bin, sizeof(bin), &found);
	const char *argv[] = { ctl, "targets", "--pin-dir", e->a.pin_dir, "-o", fmt, NULL };
	char *out;

	assert_non_null(ctl);
	unlink(tmp_path(e, "ctl.out"));
	assert_int_equal(th_run_cmd(argv, tmp_path(e, "ctl.out"), tmp_path(e, "ctl.err"), 10000),
			 0);
	out = th_slurp(tmp_path(e, "ctl.out"));
	assert_non_null(out);
	return out;
}

/*
 * A ClusterIP Service as a target: its addresses (IPv4 and IPv6) at its own port, or at the
 * target's ports, within a second of the agent's start; a ClusterIP changed (new key in before the
 * old one goes, never neither, one log line with both); the Service deleted (the last addresses
 * stay) and back; cruisectl targets and /metrics say where the addresses came from; a reload
 * without them stops the watches. Only the Services are asked for: no medium selects pods.
 */
static void test_service_follow(void **state)
{
	struct env *e = *state;
	const char *kept[] = { "192.0.2.11", "2001:db8::10", NULL };
	char line[1024], *out;
	__u64 took;

	fill_service(e, 0, "postgres", "192.0.2.10", "2001:db8::10", 5432);
	fill_service(e, 1, "pgbouncer", "192.0.2.20", NULL, 5432);
	e->f.services[0].present = e->f.services[1].present = true;
	conf_targets(e, "  - name: pg-service\n"
			"    service: {namespace: " SVC_NS ", name: postgres}\n"
			"  - name: pool\n"
			"    service: {namespace: " SVC_NS ", name: pgbouncer}\n"
			"    ports: [6432]\n");
	agent_start(e, e->secrets);
	expect_target(e, "192.0.2.10", 5432, 1, TARGET_MS, "ClusterIP at the Service's port");
	expect_target(e, "2001:db8::10", 5432, 1, TARGET_MS, "IPv6 ClusterIP");
	expect_target(e, "192.0.2.20", 6432, 2, TARGET_MS, "ClusterIP at the target's port");
	assert_int_equal(target_of(e, "192.0.2.20", 5432), -1); /* the Service's port: not asked */
	assert_int_equal(target_of(e, "192.0.2.10", 53), -1);	/* a UDP port is never a target */
	assert_int_equal(target_of(e, "127.0.0.1", e->sb.target.port), 0);
	assert_true(wait_log(e, "\"msg\":\"target addresses changed\"", 1000));
	assert_int_equal(fake_k8s_count(&e->f, &e->f.lists), 0); /* no pod watch */
	assert_int_equal(fake_k8s_count(&e->f, &e->f.bad_selector), 0);
	assert_int_equal(fake_k8s_count(&e->f, &e->f.unauthorized), 0);
	assert_int_equal(fake_k8s_count(&e->f, &e->f.slice_lists), 0); /* none is headless */

	/* a ClusterIP changes */
	snprintf(e->f.services[0].ips[0], sizeof(e->f.services[0].ips[0]), "192.0.2.11");
	fake_k8s_service_event(&e->f, 0, "MODIFIED", false);
	took = expect_move(e, "192.0.2.10", "192.0.2.11", 5432, 1, "ClusterIP changed");
	print_message("  API change to the map: %.1f ms\n", ms(took));
	assert_int_equal(target_of(e, "2001:db8::10", 5432), 1);
	assert_true(th_agent_wait_line(&e->a, "\"msg\":\"target addresses changed\"",
				       "\"service\":\"data/postgres\"", 2, 1000, line,
				       sizeof(line)) >= 0);
	assert_non_null(strstr(line, "\"old\":\"192.0.2.10 2001:db8::10\""));
	assert_non_null(strstr(line, "\"new\":\"192.0.2.11 2001:db8::10\""));
	assert_int_equal(log_count(e, "\"new\":\"192.0.2.11 2001:db8::10\""), 1);

	/* deleted: its last addresses stay, said once, counted */
	fake_k8s_service_event(&e->f, 0, "DELETED", false);
	assert_true(wait_log(e, "kubernetes Service not found (deleted?)", 1000));
	expect_kept(e, kept, 5432, 1, 1500, "Service deleted");
	assert_int_equal(log_count(e, "kubernetes Service not found"), 1);
	assert_true(scrape(e, "cruise_k8s_service_addresses{service=\"data/postgres\"}") == 2);
	assert_true(scrape(e, "cruise_k8s_service_errors_total{service=\"data/postgres\"}") >= 1);
	assert_true(scrape(e, "cruise_k8s_service_up{service=\"data/postgres\"}") == 1);
	assert_true(scrape(e, "cruise_k8s_service_changes_total{service=\"data/postgres\"}") == 1);

	/* back, elsewhere */
	snprintf(e->f.services[0].ips[0], sizeof(e->f.services[0].ips[0]), "192.0.2.12");
	fake_k8s_service_event(&e->f, 0, "ADDED", false);
	expect_move(e, "192.0.2.11", "192.0.2.12", 5432, 1, "Service created again");
	assert_true(wait_log(e, "kubernetes Service is back", 1000));

	/* a bookmark confirms a quiet Service's addresses (pgbouncer's: 1.5 s old by now) */
	snprintf(line, sizeof(line),
		 "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Service\",\"apiVersion\":"
		 "\"v1\",\"metadata\":{\"resourceVersion\":\"%llu\"}}}",
		 (unsigned long long)e->f.rv);
	fake_k8s_raw_service(&e->f, 1, false, line, strlen(line));
	usleep(200000);

	/* cruisectl targets: the source of each address */
	out = ctl_targets(e, "text");
	print_message("%s", out);
	assert_non_null(strstr(out, "192.0.2.12/32"));
	assert_true(th_find_line(out, "192.0.2.12/32", "service data/postgres, confirmed", 1, NULL,
				 0) >= 0);
	assert_true(th_find_line(out, "2001:db8::10/128", "service data/postgres, confirmed", 1,
				 NULL, 0) >= 0);
	assert_true(th_find_line(out, "192.0.2.20/32  ",
				 "6432   service data/pgbouncer, confirmed 0.", 1, NULL, 0) >= 0);
	assert_true(th_find_line(out, "127.0.0.1/32", "configured", 1, NULL, 0) >= 0);
	free(out);
	out = ctl_targets(e, "json");
	assert_non_null(strstr(out, "\"address\":\"192.0.2.12\",\"prefix_len\":32,\"port\":5432,"
				    "\"source\":\"service\",\"service\":\"data/postgres\","
				    "\"confirmed_seconds_ago\":"));
	free(out);

	/* a reload that names no Service: the watches stop, their addresses go */
	conf_targets(e, "");
	kill(e->a.pid, SIGHUP);
	assert_true(wait_log(e, "no target names a Service: stopped watching them", 2000));
	expect_target(e, "192.0.2.12", 5432, -1, TARGET_MS, "a Service's address unconfigured");
	assert_int_equal(target_of(e, "2001:db8::10", 5432), -1);
	assert_int_equal(target_of(e, "192.0.2.20", 6432), -1);
	assert_int_equal(target_of(e, "127.0.0.1", e->sb.target.port), 0);
	assert_false(metrics_has(e, "cruise_k8s_service"));
}

/* Slice 0 of Service 2, its endpoints' addresses (NULL-terminated; a '!' first: not ready). */
static void set_endpoints(struct env *e, const char *const *addrs)
{
	struct fake_k8s_slice *sl = &e->f.slices[0];

	memset(sl->addrs, 0, sizeof(sl->addrs));
	memset(sl->not_ready, 0, sizeof(sl->not_ready));
	for (int i = 0; addrs[i]; i++) {
		sl->not_ready[i] = addrs[i][0] == '!';
		snprintf(sl->addrs[i], sizeof(sl->addrs[i]), "%s", addrs[i] + sl->not_ready[i]);
	}
}

/*
 * A headless Service: the ready addresses of its EndpointSlices, followed as they scale from 2 to
 * 3 to 1 (an endpoint not ready, one gone), each change one log line; none ready: the last one
 * stays; garbage in the slices' watch changes nothing; made a ClusterIP Service, its slices are
 * no longer watched and the ClusterIP is the target.
 */
static void test_service_headless(void **state)
{
	static const char *const two[] = { "192.0.2.31", "192.0.2.32", NULL };
	static const char *const three[] = { "192.0.2.31", "192.0.2.32", "192.0.2.33", NULL };
	static const char *const one[] = { "!192.0.2.31", "192.0.2.33", NULL };
	static const char *const none[] = { "!192.0.2.31", "!192.0.2.33", NULL };
	static const char *const last[] = { "192.0.2.33", NULL };
	static const char *const cluster_ip[] = { "192.0.2.40", NULL };
	struct env *e = *state;
	unsigned int lists;

	fill_service(e, 2, "pg-headless", NULL, NULL, 5432);
	e->f.services[2].present = true;
	snprintf(e->f.slices[0].name, sizeof(e->f.slices[0].name), "pg-headless-abc12");
	e->f.slices[0].service = 2;
	e->f.slices[0].port = 5432;
	e->f.slices[0].present = true;
	set_endpoints(e, two);
	conf_targets(e, "  - name: pg\n"
			"    service: {namespace: " SVC_NS ", name: pg-headless}\n");
	agent_start(e, e->secrets);
	expect_target(e, "192.0.2.31", 5432, 1, TARGET_MS, "headless: first endpoint");
	expect_target(e, "192.0.2.32", 5432, 1, TARGET_MS, "headless: second endpoint");
	assert_true(fake_k8s_count(&e->f, &e->f.slice_lists) >= 1);

	set_endpoints(e, three);
	fake_k8s_slice_event(&e->f, 0, "MODIFIED", false);
	expect_target(e, "192.0.2.33", 5432, 1, TARGET_MS, "scaled up to 3");
	expect_kept(e, two, 5432, 1, 100, "scaled up to 3");
	assert_true(wait_log(e, "\"new\":\"192.0.2.31 192.0.2.32 192.0.2.33\"", 1000));

	set_endpoints(e, one);
	fake_k8s_slice_event(&e->f, 0, "MODIFIED", false);
	expect_target(e, "192.0.2.31", 5432, -1, TARGET_MS, "scaled down: not ready");
	expect_target(e, "192.0.2.32", 5432, -1, TARGET_MS, "scaled down: gone");
	assert_int_equal(target_of(e, "192.0.2.33", 5432), 1);
	assert_true(wait_log(e, "\"new\":\"192.0.2.33\"", 1000));
	assert_true(scrape(e, "cruise_k8s_service_addresses{service=\"data/pg-headless\"}") == 1);
	assert_int_equal(log_count(e, "\"msg\":\"target addresses changed\""), 3);

	/* none ready: the last one stays, said once */
	set_endpoints(e, none);
	fake_k8s_slice_event(&e->f, 0, "MODIFIED", false);
	assert_true(wait_log(e, "names no ready address", 1000));
	expect_kept(e, last, 5432, 1, 500, "no endpoint ready");

	/* garbage into the slices' watch: listed again, nothing changed */
	lists = fake_k8s_count(&e->f, &e->f.slice_lists);
	fake_k8s_raw_service(&e->f, 2, true,
			     "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\","
			     "\"resourceVersion\":\"1\"},\"addressType\":\"IPv4\",\"endpoints\":"
			     "[{\"addresses\":[\"192.0.2.999\"]}]}}",
			     strlen("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\","
				    "\"resourceVersion\":\"1\"},\"addressType\":\"IPv4\","
				    "\"endpoints\":[{\"addresses\":[\"192.0.2.999\"]}]}}"));
	while (fake_k8s_count(&e->f, &e->f.slice_lists) == lists)
		expect_kept(e, last, 5432, 1, 20, "a bad slice");
	assert_true(wait_log(e, "bad address", 100));

	/* no longer headless: its ClusterIP, and its slices no longer watched */
	fill_service(e, 2, "pg-headless", "192.0.2.40", NULL, 5432);
	fake_k8s_service_event(&e->f, 2, "MODIFIED", false);
	expect_move(e, "192.0.2.33", "192.0.2.40", 5432, 1, "headless made ClusterIP");
	lists = fake_k8s_count(&e->f, &e->f.slice_lists) +
		fake_k8s_count(&e->f, &e->f.slice_watches);
	fake_k8s_raw_service(&e->f, 2, true, "not json", strlen("not json"));
	expect_kept(e, cluster_ip, 5432, 1, BACKOFF_MAX_MS, "slices unwatched");
	assert_int_equal(fake_k8s_count(&e->f, &e->f.slice_lists) +
				 fake_k8s_count(&e->f, &e->f.slice_watches),
			 lists);
}

/* One bad line into the Service's watch: listed again after the backoff, nothing changed. */
static void bad_service_line(struct env *e, const char *line, const char *const *kept)
{
	unsigned int lists = fake_k8s_count(&e->f, &e->f.svc_lists);
	__u64 deadline = now_ns() + (BACKOFF_MAX_MS + 2000) * NSEC_PER_MSEC;

	fake_k8s_raw_service(&e->f, 0, false, line, strlen(line));
	while (fake_k8s_count(&e->f, &e->f.svc_lists) == lists) {
		if (now_ns() > deadline) {
			dump_log(e);
			fail_msg("no list again after the bad line %.80s", line);
		}
		expect_kept(e, kept, 5432, 1, 10, line);
	}
}

/*
 * Garbage answers about a Service, not JSON or of the wrong types, in its watch and as its list,
 * change nothing in force: each is counted and the watch lists again; a good answer after them is
 * applied.
 */
static void test_service_garbage(void **state)
{
	static const char *const lines[] = {
		"this is not json",
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"postgres\","
		"\"resourceVersion\":\"7\"},\"spec\":{\"clusterIPs\":5}}}",
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"postgres\","
		"\"resourceVersion\":\"7\"},\"spec\":[]}}",
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"postgres\","
		"\"resourceVersion\":\"7\"},\"spec\":{\"clusterIP\":\"not-an-ip\"}}}",
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"postgres\","
		"\"resourceVersion\":\"7\"},\"spec\":{\"clusterIPs\":[\"192.0.2.50\"],"
		"\"ports\":[{\"port\":\"5432\"}]}}}",
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"postgres\","
		"\"resourceVersion\":\"7\"},\"spec\":{\"clusterIPs\":[\"192.0.2.50\"],"
		"\"ports\":[{\"port\":70000}]}}}",
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":12,"
		"\"resourceVersion\":\"7\"},\"spec\":{}}}",
		"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"postgres\"}}}",
		"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500}}",
	};
	static const char *const bodies[] = {
		"",
		"null",
		"{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"5\"},\"items\":"
		"[{\"metadata\":{\"name\":\"postgres\"},\"spec\":{\"clusterIPs\":[true]}}]}",
		"{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"5\"},\"items\":[]}",
	};
	const char *const kept[] = { "192.0.2.10", "2001:db8::10", NULL };
	struct env *e = *state;
	unsigned int n = 0, lists;
	double errors0, errors1;

	fill_service(e, 0, "postgres", "192.0.2.10", "2001:db8::10", 5432);
	e->f.services[0].present = true;
	conf_targets(e, "  - name: pg-service\n"
			"    service: {namespace: " SVC_NS ", name: postgres}\n");
	agent_start(e, e->secrets);
	expect_target(e, "192.0.2.10", 5432, 1, TARGET_MS, "ClusterIP");
	expect_target(e, "2001:db8::10", 5432, 1, TARGET_MS, "IPv6 ClusterIP");
	errors0 = scrape(e, "cruise_k8s_service_errors_total{service=\"data/postgres\"}");
	assert_true(errors0 == 0);

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++, n++)
		bad_service_line(e, lines[i], kept);
	/* bad list bodies, one after another (a 410 ends the watch for the first) */
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++, n++) {
		fake_k8s_svc_list_override(&e->f, bodies[i]);
		lists = fake_k8s_count(&e->f, &e->f.svc_lists);
		if (i == 0)
			fake_k8s_raw_service(
				&e->f, 0, false, "{\"type\":\"ERROR\",\"object\":{\"code\":410}}",
				strlen("{\"type\":\"ERROR\",\"object\":{\"code\":410}}"));
		while (fake_k8s_count(&e->f, &e->f.svc_lists) <= lists + (i == 0))
			expect_kept(e, kept, 5432, 1, 10, bodies[i]);
	}
	errors1 = scrape(e, "cruise_k8s_service_errors_total{service=\"data/postgres\"}");
	print_message("  %u bad answers: cruise_k8s_service_errors_total %.0f\n", n, errors1);
	assert_true(errors1 >= n);
	assert_true(log_count(e, "list: rejected the response") >= 3);
	assert_int_equal(log_count(e, "\"msg\":\"target addresses changed\""), 1);
	assert_true(agent_alive(e));

	/* a good list again, with a ClusterIP changed meanwhile */
	snprintf(e->f.services[0].ips[0], sizeof(e->f.services[0].ips[0]), "192.0.2.13");
	fake_k8s_service_event(&e->f, 0, "MODIFIED", true);
	fake_k8s_svc_list_override(&e->f, NULL);
	expect_target(e, "192.0.2.13", 5432, 1, BACKOFF_MAX_MS + TARGET_MS,
		      "good list after bad ones applied");
	expect_target(e, "192.0.2.10", 5432, -1, TARGET_MS, "old ClusterIP gone");
	assert_int_equal(target_of(e, "2001:db8::10", 5432), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pods_follow, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_api_outage, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_api, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_watch_ends_at_once, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_restart_api_down, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_wrong_ca, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_no_pods_no_api, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_service_follow, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_service_headless, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_service_garbage, env_setup, env_teardown),
	};

	if (geteuid()) {
		fprintf(stderr, "test_k8s: run as root (BPF programs, cgroups, bpffs)\n");
		return 1;
	}
	if (!th_agent_bin())
		return 1;
	if (!fake_k8s_has_tls()) {
		fprintf(stderr, "test_k8s: libmicrohttpd has no TLS\n");
		return 1;
	}
	return cmocka_run_group_tests_name(
		"pods bound by label, targets by Service, against a fake API (root)", tests, NULL,
		NULL);
}
