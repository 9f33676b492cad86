// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Targets by host name end to end: the real agent, resolving a name through a real DNS server
 * (Debian's dnsmasq on loopback, tests/dns_fixture.h; the agent pointed at it by --resolv-conf
 * and --dns-servers), pacing real connects from a worker cgroup to listeners on 127.0.0.2 and
 * 127.0.0.3 (both loopback).
 *
 * Bounds from the design: a new address is in cruise_targets within the TTL (1 s) plus the
 * resolver's own wait for the answer and the main loop's write, 1 s; the rate over the move within
 * 3% (the GCRA's state belongs to the medium, not to an address, so the move is invisible to it).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "agent_fixture.h"
#include "cruise_target.h"
#include "dns_fixture.h"
#include "loader.h"

#define TTL_S	  1
#define RATE	  50.0
#define RATE_TOL  0.03
#define FOLLOW_NS ((TTL_S + 1) * NSEC_PER_SEC)
#define HOST	  "db." TH_DNS_DOMAIN
#define HOLD_NS	  (100 * NSEC_PER_MSEC) /* connections stay open across the move */
#define WORKERS	  16			/* hungry: more than RATE x (HOLD + a connect) at once */
#define RUN_NS	  (8 * NSEC_PER_SEC)

struct env {
	struct th_sandbox sb;
	struct th_agent a;
	struct th_dns dns;
	struct th_listener l2, l3; /* 127.0.0.2 and 127.0.0.3 */
	struct th_cgroup worker;
	struct th_job job;
	int *use3; /* shared with the forked workers: connect to 127.0.0.3 from now on */
};

/* A listener on addr (127.0.0.2, 127.0.0.3) at an ephemeral port, accepting and closing. */
static int listener_on(struct th_listener *l, const char *addr)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int one = 1;

	memset(l, 0, sizeof(*l));
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -errno;
	inet_pton(AF_INET, addr, &sa.sin_addr);
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(l->fd, 4096) ||
	    getsockname(l->fd, (struct sockaddr *)&sa, &len))
		return -errno;
	l->port = ntohs(sa.sin_port);
	l->family = AF_INET;
	return 0;
}

/* The workers' connect: to the address the name has now (as an application re-resolving). */
static int open_current(void *arg, int worker, void **conn)
{
	struct env *e = arg;
	const char *addr = *e->use3 ? "127.0.0.3" : "127.0.0.2";
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)worker;
	if (fd < 0)
		return errno;
	inet_pton(AF_INET, addr, &sa.sin_addr);
	sa.sin_port = htons(*e->use3 ? e->l3.port : e->l2.port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = errno;

		close(fd);
		return err;
	}
	*conn = (void *)(intptr_t)(fd + 1);
	return 0;
}

static void close_current(void *conn)
{
	close((int)(intptr_t)conn - 1);
}

static bool is_target(struct env *e, const char *addr, uint16_t port)
{
	struct cruise_target_key k;
	struct cruise_target v;
	__u32 a4;

	inet_pton(AF_INET, addr, &a4);
	cruise_target_key_v4(&k, a4, port, 32);
	return !bpf_map_lookup_elem(e->a.maps.targets, &k, &v);
}

static struct cruise_snapshot_medium medium(struct env *e)
{
	struct cruise_snapshot_medium m;

	assert_int_equal(th_agent_medium(&e->a, "db-workers", &m), 0);
	return m;
}

static double scrape(struct env *e, const char *series)
{
	double v = -1;

	th_agent_scrape(&e->a, series, &v);
	return v;
}

static int env_teardown(void **state);

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char text[2048], hosts[128];

	if (!e)
		return -1;
	*state = e;
	e->use3 =
		mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (e->use3 == MAP_FAILED) {
		e->use3 = NULL;
		goto fail;
	}
	*e->use3 = 0;
	if (th_agent_sandbox_setup(&e->sb, &e->a, "cruise-targets-test", "agent"))
		goto fail_sb;
	if (listener_on(&e->l2, "127.0.0.2") || listener_on(&e->l3, "127.0.0.3"))
		goto fail;
	snprintf(hosts, sizeof(hosts), "127.0.0.2 %s\n", HOST);
	if (th_dns_start(&e->dns, TTL_S, hosts))
		goto fail;
	if (th_cgroup_create(&e->worker, &e->sb.scope, "w"))
		goto fail;
	snprintf(text, sizeof(text),
		 "scope: /%s\n"
		 "pin_dir: %s\n"
		 "metrics: 127.0.0.1:%u\n"
		 "targets:\n"
		 "  - name: db\n"
		 "    hosts: [%s]\n"
		 "    ports: [%u, %u]\n"
		 "media:\n"
		 "  - name: db-workers\n"
		 "    rate: %.0f/s\n"
		 "    max_wait: 5s\n"
		 "    cgroups: [/%s/w]\n",
		 e->sb.name, e->a.pin_dir, e->a.metrics_port, HOST, e->l2.port, e->l3.port, RATE,
		 e->sb.name);
	if (th_write_file(e->a.conf, text))
		goto fail;
	return 0;
fail_sb:
	free(e);
	*state = NULL;
	return -1;
fail:
	fprintf(stderr, "targets test setup failed\n");
	env_teardown(state);
	return -1;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	if (!e)
		return 0;
	th_job_join(&e->job);
	th_run_free(&e->job.r);
	th_dns_stop(&e->dns);
	if (e->l2.fd > 0)
		close(e->l2.fd);
	if (e->l3.fd > 0)
		close(e->l3.fd);
	th_agent_sandbox_teardown(&e->sb, &e->a);
	if (e->use3)
		munmap(e->use3, sizeof(int));
	free(e);
	*state = NULL;
	return 0;
}

static void agent_start(struct env *e)
{
	const char *args[] = {
		"--log-format", "text", "--resolv-conf", e->dns.resolv_conf, "--dns-servers",
		e->dns.servers, NULL
	};

	if (th_agent_start(&e->a, args, 5000))
		fail_msg("the agent did not start");
}

/* Poll until the address is a target (want) or not; the time it took, or 0 after timeout. */
static __u64 wait_target(struct env *e, const char *addr, uint16_t port, bool want, __u64 timeout)
{
	__u64 t0 = cruise_now_ns();

	while (is_target(e, addr, port) != want) {
		if (cruise_now_ns() - t0 > timeout)
			return 0;
		usleep(5000);
	}
	return cruise_now_ns() - t0 ?: 1;
}

/*
 * 1. The name moves from 127.0.0.2 to 127.0.0.3 while workers connect at the rate: the new
 * address is paced within TTL + 1 s, the old one goes after the new one came, connections
 * admitted under the old one are released when they close, and the rate over the move holds.
 */
static void test_name_moves(void **state)
{
	struct env *e = *state;
	struct th_run_opts *o = &e->job.o;
	__u64 t_move, t_new, t_old, start;
	struct cruise_snapshot_medium m;
	double rate;
	char hosts[128], line[512];
	int ok_before = 0;

	agent_start(e);
	assert_true(wait_target(e, "127.0.0.2", e->l2.port, true, 2 * NSEC_PER_SEC));
	assert_true(is_target(e, "127.0.0.2", e->l3.port)); /* every port of the target */
	assert_false(is_target(e, "127.0.0.3", e->l3.port));

	memset(&e->job, 0, sizeof(e->job));
	o->cgroup = e->worker.path;
	o->workers = WORKERS;
	o->duration_ns = RUN_NS;
	o->max_per_worker = 2000;
	o->hold_open_ns = HOLD_NS;
	o->open_fn = open_current;
	o->close_fn = close_current;
	o->arg = e;
	start = cruise_now_ns();
	o->start_at_ns = start;
	assert_int_equal(th_job_start(&e->job), 0);

	/* the move, midway */
	/* at a random phase of the agent's lookups (every TTL from its start), not always just
	 * before */
	usleep(RUN_NS / 2 / 1000 + (unsigned int)(cruise_now_ns() % 1000000));
	snprintf(hosts, sizeof(hosts), "127.0.0.3 %s\n", HOST);
	t_move = cruise_now_ns();
	assert_int_equal(th_dns_set_hosts(&e->dns, hosts), 0);
	/* from the record's change (dnsmasq re-read it while set_hosts waited) */
	t_new = wait_target(e, "127.0.0.3", e->l3.port, true, 3 * FOLLOW_NS);
	t_new = t_new ? cruise_now_ns() - t_move : 0;
	/* the workers' resolver follows the same TTL: they move as cruise does */
	*e->use3 = 1;
	/* the old address is still a target when the new one is: never unpaced */
	t_old = wait_target(e, "127.0.0.2", e->l2.port, false, 3 * FOLLOW_NS);
	t_old = t_old ? cruise_now_ns() - t_move : 0;
	print_message("move: 127.0.0.3 paced %.3f s after the record changed (bound %.1f s), "
		      "127.0.0.2 dropped after %.3f s\n",
		      t_new / 1e9, FOLLOW_NS / 1e9, t_old / 1e9);
	assert_true(t_new && t_new <= FOLLOW_NS);
	assert_true(t_old);
	assert_int_equal(th_job_join(&e->job), 0);

	/* every connect admitted; the rate over the whole run, across the move */
	for (int i = 0; i < e->job.r.n; i++)
		ok_before += !e->job.r.conns[i].err && e->job.r.conns[i].start_ns < t_move;
	rate = th_run_rate(&e->job.r);
	print_message(
		"run: %d connects (%d before the move), %d failed, %.2f/s (%+.2f%% of %.0f/s)\n",
		e->job.r.n, ok_before, e->job.r.failed, rate, 100 * (rate / RATE - 1), RATE);
	assert_int_equal(e->job.r.failed, 0);
	assert_true(fabs(rate / RATE - 1) <= RATE_TOL);
	/* connections admitted under 127.0.0.2 and closed after it left: all released */
	m = medium(e);
	print_message("medium: %llu connections, %llu closed, %lld open\n",
		      (unsigned long long)m.c.connections, (unsigned long long)m.c.closed,
		      (long long)m.open_conns);
	/*
	 * Every connect to a target counted. The agent drops 127.0.0.2 microseconds after adding
	 * 127.0.0.3, and the test's poll then moves the workers: a connect each started towards the
	 * old address meanwhile is to an address that is no longer the database, not counted.
	 */
	assert_true(m.c.connections <= (__u64)e->job.r.ok);
	assert_true(m.c.connections + WORKERS >= (__u64)e->job.r.ok);
	assert_int_equal(m.open_conns, 0);
	/* one log line, old and new; the change counted */
	assert_true(th_agent_wait_line(&e->a, "target addresses changed", "127.0.0.3", 1, 2000,
				       line, sizeof(line)) > 0);
	assert_non_null(strstr(line, "old=127.0.0.2"));
	print_message("lookups: %.0f in %.1f s (TTL %d s)\n",
		      scrape(e, "cruise_dns_lookups_total{host=\"" HOST "\"}"),
		      (cruise_now_ns() - e->a.ready_ns) / 1e9, TTL_S);
	assert_true(scrape(e, "cruise_dns_changes_total{host=\"" HOST "\"}") >= 2);
	assert_true(scrape(e, "cruise_dns_up{host=\"" HOST "\"}") == 1);
}

/* 2. The DNS server stopped: the last addresses stay paced, one log line, the failures counted. */
static void test_server_stops(void **state)
{
	struct env *e = *state;
	__u64 t0;
	double failures = 0;

	agent_start(e);
	assert_true(wait_target(e, "127.0.0.2", e->l2.port, true, 2 * NSEC_PER_SEC));
	th_dns_halt(&e->dns);
	t0 = cruise_now_ns();
	/* the next lookup is at the TTL; it fails after the resolver's timeout */
	while (cruise_now_ns() - t0 < 3 * FOLLOW_NS + 2 * NSEC_PER_SEC) {
		failures = scrape(e, "cruise_dns_failures_total{host=\"" HOST "\"}");
		if (failures >= 2)
			break;
		usleep(50000);
	}
	print_message("server stopped: %.0f failed lookups after %.2f s, still a target: %d\n",
		      failures, (cruise_now_ns() - t0) / 1e9,
		      is_target(e, "127.0.0.2", e->l2.port));
	assert_true(failures >= 2);
	assert_true(is_target(e, "127.0.0.2", e->l2.port));
	assert_true(scrape(e, "cruise_dns_up{host=\"" HOST "\"}") == 0);
	assert_true(scrape(e, "cruise_dns_addresses{host=\"" HOST "\"}") == 1);
	assert_int_equal(th_agent_log_lines(&e->a, "host name lookup failing", HOST), 1);
	/* back: one line more, and the addresses as they are */
	assert_int_equal(th_dns_restart(&e->dns, TTL_S), 0);
	assert_true(th_agent_wait_line(&e->a, "host name answers again", HOST, 1, 15000, NULL, 0) >
		    0);
	assert_true(is_target(e, "127.0.0.2", e->l2.port));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_name_moves, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_server_stops, env_setup, env_teardown),
	};

	if (!th_agent_bin())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
