// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The resolver of targets by host name (agent/resolve.h) against a real DNS server: a throwaway
 * dnsmasq on 127.0.0.1 (tests/dns_fixture.h), its records changed, halted, hung and restarted
 * under the resolver. Every wait is bounded; the figures (time to a first answer, to follow a
 * change, to notice a failure, to recover, to stop) go to stdout.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "dns_fixture.h"
#include "helpers.h"
#include "loader.h"
#include "resolve.h"

#define MS    NSEC_PER_MSEC
#define HOSTS "127.0.0.2 db.cruise.test\n::2 db.cruise.test\n127.0.0.9 short.cruise.test\n"

struct fx {
	struct th_dns dns;
	struct cruise_resolver *r;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	if (!f)
		return -1;
	if (th_dns_start(&f->dns, 1, HOSTS)) {
		free(f);
		return -1;
	}
	f->r = cruise_resolver_start_servers(f->dns.resolv_conf, f->dns.servers, err, sizeof(err));
	if (!f->r) {
		fprintf(stderr, "cruise_resolver_start_servers: %s\n", err);
		th_dns_stop(&f->dns);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	cruise_resolver_stop(f->r);
	th_dns_stop(&f->dns);
	free(f);
	return 0;
}

static void set_hosts(struct cruise_resolver *r, const char *a, const char *b, const char *c)
{
	const char *v[3];
	size_t n = 0;

	if (a)
		v[n++] = a;
	if (b)
		v[n++] = b;
	if (c)
		v[n++] = c;
	cruise_resolver_set_hosts(r, v, n);
}

/* The host's entry now (host left NULL); false if the table has none. */
static bool entry(struct cruise_resolver *r, const char *host, struct cruise_resolved *out)
{
	struct cruise_resolved *t;
	bool found = false;
	size_t n;

	assert_int_equal(cruise_resolver_take(r, &t, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(t[i].host, host)) {
			*out = t[i];
			out->host = NULL;
			found = true;
		}
	}
	cruise_resolved_free(t, n);
	return found;
}

static const char *addr(const struct cruise_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, p->len);
	return buf;
}

/* The addresses, "127.0.0.2/32 ::2/128" */
static const char *addrs(const struct cruise_resolved *e, char *buf, size_t len)
{
	size_t k = 0;

	buf[0] = 0;
	for (unsigned int i = 0; i < e->n_addrs && k < len; i++) {
		char a[64];

		k += snprintf(buf + k, len - k, "%s%s", i ? " " : "",
			      addr(&e->addrs[i], a, sizeof(a)));
	}
	return buf;
}

typedef bool (*pred_fn)(const struct cruise_resolved *e, const void *arg);

/* answered: not failing, exactly these addresses */
static bool has(const struct cruise_resolved *e, const void *arg)
{
	char buf[512];

	return !e->failing && e->n_addrs && !strcmp(addrs(e, buf, sizeof(buf)), arg);
}

static bool failing(const struct cruise_resolved *e, const void *arg)
{
	(void)arg;
	return e->failing;
}

static bool answering(const struct cruise_resolved *e, const void *arg)
{
	(void)arg;
	return !e->failing && e->confirmed_ns;
}

static bool lookups_over(const struct cruise_resolved *e, const void *arg)
{
	return e->lookups > *(const __u64 *)arg;
}

/*
 * Until host's entry holds pred (within timeout_ms): the ms it took, or -1; *e the last seen. The
 * fd wakes the wait on changes; counters are looked at every 10 ms.
 */
static double wait_for(struct cruise_resolver *r, const char *host, pred_fn pred, const void *arg,
		       int timeout_ms, struct cruise_resolved *e)
{
	__u64 t0 = cruise_now_ns(), end = t0 + timeout_ms * MS;

	for (;;) {
		struct pollfd p = { .fd = cruise_resolver_fd(r), .events = POLLIN };
		__u64 now;

		memset(e, 0, sizeof(*e));
		if (entry(r, host, e) && pred(e, arg))
			return (cruise_now_ns() - t0) / 1e6;
		now = cruise_now_ns();
		if (now >= end)
			return -1;
		poll(&p, 1, end - now < 10 * MS ? (int)((end - now) / MS) + 1 : 10);
	}
}

static void print_entry(const char *what, const struct cruise_resolved *e)
{
	char buf[512];

	printf("  %s: [%s] failing=%d lookups=%llu failures=%llu changes=%llu next in %.1f s%s%s\n",
	       what, addrs(e, buf, sizeof(buf)), e->failing, (unsigned long long)e->lookups,
	       (unsigned long long)e->failures, (unsigned long long)e->changes,
	       ((double)e->next_ns - (double)cruise_now_ns()) / 1e9, e->error[0] ? "; error: " : "",
	       e->error);
}

static bool fd_readable(struct cruise_resolver *r, int timeout_ms)
{
	struct pollfd p = { .fd = cruise_resolver_fd(r), .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1;
}

static void drain(struct cruise_resolver *r)
{
	struct cruise_resolved *t;
	size_t n;

	assert_int_equal(cruise_resolver_take(r, &t, &n), 0);
	cruise_resolved_free(t, n);
	assert_false(fd_readable(r, 0));
}

/* A and AAAA of one name, both in the table, sorted, full length. */
static void test_a_and_aaaa(void **state)
{
	struct fx *f = *state;
	struct cruise_resolved e;
	double ms;

	set_hosts(f->r, "db.cruise.test", NULL, NULL);
	ms = wait_for(f->r, "db.cruise.test", has, "127.0.0.2/32 ::2/128", 3000, &e);
	print_entry("db.cruise.test", &e);
	assert_true(ms >= 0);
	printf("  first answer (A and AAAA) in %.1f ms\n", ms);
	assert_int_equal(e.addrs[0].family, AF_INET);
	assert_int_equal(e.addrs[1].family, AF_INET6);
	assert_true(e.confirmed_ns > 0 && e.confirmed_ns <= cruise_now_ns());
	assert_false(e.failing);
	assert_string_equal(e.error, "");
	assert_int_equal(e.changes, 1);
	assert_int_equal(e.failures, 0);
	assert_true(e.lookups >= 1);
	/* a TTL of 1 s: again after 1 s */
	assert_int_equal(e.next_ns - e.confirmed_ns, CRUISE_RESOLVE_MIN_NS);
}

/* Records of TTL 1 s changed under the resolver: followed within TTL + 1 s, the fd says so. */
static void test_follows_change(void **state)
{
	static const char *const steps[][2] = {
		{ "127.0.0.3 db.cruise.test\n", "127.0.0.3/32" },
		{ "127.0.0.4 db.cruise.test\n::4 db.cruise.test\n", "127.0.0.4/32 ::4/128" },
		{ "::5 db.cruise.test\n127.0.0.5 db.cruise.test\n127.0.0.5 db.cruise.test\n",
		  "127.0.0.5/32 ::5/128" },
	};
	struct fx *f = *state;
	struct cruise_resolved e;
	double worst = 0;

	set_hosts(f->r, "db.cruise.test", NULL, NULL);
	assert_true(wait_for(f->r, "db.cruise.test", has, "127.0.0.2/32 ::2/128", 3000, &e) >= 0);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		__u64 changes = e.changes, t0, t1, t2;
		char buf[512];
		double ms;

		drain(f->r);
		t0 = cruise_now_ns();
		assert_int_equal(th_dns_set_hosts(&f->dns, steps[i][0]), 0);
		t1 = cruise_now_ns();
		assert_true(fd_readable(f->r, 3000));
		t2 = cruise_now_ns();
		assert_true(entry(f->r, "db.cruise.test", &e));
		assert_string_equal(addrs(&e, buf, sizeof(buf)), steps[i][1]);
		assert_int_equal(e.changes, changes + 1);
		ms = (t2 - t0) / 1e6;
		printf("  change %zu to [%s]: in the table %.0f ms after the records changed "
		       "(dnsmasq re-read them in %.0f ms)\n",
		       i + 1, steps[i][1], ms, (t1 - t0) / 1e6);
		assert_true(ms <= 2000); /* TTL + 1 s */
		if (ms > worst)
			worst = ms;
	}
	printf("  TTL 1 s: a change followed within %.0f ms at worst (bound: 2000 ms)\n", worst);
	print_entry("db.cruise.test", &e);
}

/* The next lookup at the TTL, within [1 s, 5 min]. */
static void test_ttl_clamped(void **state)
{
	struct fx *f = *state;
	struct cruise_resolved e;

	assert_int_equal(th_dns_restart(&f->dns, 30), 0);
	set_hosts(f->r, "db.cruise.test", NULL, NULL);
	assert_true(wait_for(f->r, "db.cruise.test", has, "127.0.0.2/32 ::2/128", 3000, &e) >= 0);
	assert_int_equal(e.next_ns - e.confirmed_ns, 30 * NSEC_PER_SEC);

	assert_int_equal(th_dns_restart(&f->dns, 3600), 0);
	set_hosts(f->r, "db.cruise.test", "short.cruise.test", NULL);
	assert_true(wait_for(f->r, "short.cruise.test", has, "127.0.0.9/32", 3000, &e) >= 0);
	assert_int_equal(e.next_ns - e.confirmed_ns, CRUISE_RESOLVE_MAX_NS);

	assert_int_equal(th_dns_restart(&f->dns, 0), 0);
	set_hosts(f->r, "db.cruise.test", "short.cruise.test", "short");
	assert_true(wait_for(f->r, "short", has, "127.0.0.9/32", 3000, &e) >= 0);
	assert_int_equal(e.next_ns - e.confirmed_ns, CRUISE_RESOLVE_MIN_NS);
	/* the other two kept what they had learned */
	assert_true(entry(f->r, "db.cruise.test", &e));
	assert_int_equal(e.next_ns - e.confirmed_ns, 30 * NSEC_PER_SEC);
	assert_int_equal(e.lookups, 1);
	printf("  TTL 30 s: again after 30 s; TTL 3600 s: after 300 s; TTL 0: after 1 s\n");
}

/* Short names through the search domain of the resolv.conf. */
static void test_search_domain(void **state)
{
	struct fx *f = *state;
	struct cruise_resolved e;
	double ms;

	set_hosts(f->r, "short", "db", NULL);
	ms = wait_for(f->r, "short", has, "127.0.0.9/32", 3000, &e);
	print_entry("short", &e);
	assert_true(ms >= 0);
	assert_true(wait_for(f->r, "db", has, "127.0.0.2/32 ::2/128", 3000, &e) >= 0);
	print_entry("db", &e);
	printf("  \"short\" through \"search %s\" in %.1f ms\n", TH_DNS_DOMAIN, ms);
}

/* The server gone: the addresses stay, failing with a reason, retries back off; then back. */
static void test_server_down(void **state)
{
	struct fx *f = *state;
	struct cruise_resolved e, e0;
	__u64 t0, t_fail, at[8], lookups, failures;
	double ms;
	int n = 0;

	set_hosts(f->r, "db.cruise.test", NULL, NULL);
	assert_true(wait_for(f->r, "db.cruise.test", has, "127.0.0.2/32 ::2/128", 3000, &e0) >= 0);
	drain(f->r);
	t0 = cruise_now_ns();
	th_dns_halt(&f->dns);
	assert_true(fd_readable(f->r, 3000)); /* failing flipped */
	t_fail = cruise_now_ns();
	assert_true(entry(f->r, "db.cruise.test", &e));
	print_entry("db.cruise.test, server halted", &e);
	assert_true(e.failing);
	assert_int_equal(e.n_addrs, 2);
	assert_memory_equal(e.addrs, e0.addrs, 2 * sizeof(e.addrs[0]));
	assert_true(e.confirmed_ns < t0);
	assert_non_null(strstr(e.error, "db.cruise.test: "));
	assert_null(strchr(e.error, '\n'));
	assert_int_equal(e.failures, 1);
	assert_int_equal(e.changes, e0.changes);
	printf("  failing seen %.0f ms after the server went (TTL 1 s): %s\n", (t_fail - t0) / 1e6,
	       e.error);

	/* 5 s of backing off: 1 s, then 2 s (+-25%): not more than one lookup a second */
	lookups = e.lookups;
	failures = e.failures;
	at[n++] = t_fail;
	while (cruise_now_ns() < t_fail + 5 * NSEC_PER_SEC && n < 8) {
		__u64 left = t_fail + 5 * NSEC_PER_SEC - cruise_now_ns();

		if (wait_for(f->r, "db.cruise.test", lookups_over, &lookups, (int)(left / MS) + 1,
			     &e) < 0)
			break;
		at[n++] = cruise_now_ns();
		lookups = e.lookups;
	}
	printf("  lookups while failing, s after the first failure:");
	for (int i = 1; i < n; i++)
		printf(" %.2f", (at[i] - at[0]) / 1e9);
	printf("\n");
	assert_true(n >= 2 && n <= 4); /* 1 to 3 retries in 5 s */
	assert_true(at[1] - at[0] >= 700 * MS && at[1] - at[0] <= 1300 * MS);
	if (n >= 3)
		assert_true(at[2] - at[1] >= 1450 * MS && at[2] - at[1] <= 2550 * MS);
	assert_true(entry(f->r, "db.cruise.test", &e));
	assert_true(e.failing);
	assert_true(e.failures >= failures + (__u64)(n - 2));
	assert_int_equal(e.n_addrs, 2);

	/* back: at the next retry (4 s +-25% at most by now) */
	t0 = cruise_now_ns();
	assert_int_equal(th_dns_restart(&f->dns, 1), 0);
	ms = wait_for(f->r, "db.cruise.test", answering, NULL, 7000, &e);
	print_entry("db.cruise.test, server back", &e);
	assert_true(ms >= 0);
	printf("  answering again %.0f ms after the server came back (at the backoff's next try)\n",
	       (cruise_now_ns() - t0) / 1e6);
	assert_memory_equal(e.addrs, e0.addrs, 2 * sizeof(e.addrs[0]));
	assert_int_equal(e.changes, e0.changes); /* the same addresses: no change */
}

/* A server that takes questions and never answers: the lookup ends at the timeout. */
static void test_hung_server(void **state)
{
	struct fx *f = *state;
	struct cruise_resolved e;
	__u64 lookups, t_start, t_fail;
	double took;

	set_hosts(f->r, "db.cruise.test", NULL, NULL);
	assert_true(wait_for(f->r, "db.cruise.test", has, "127.0.0.2/32 ::2/128", 3000, &e) >= 0);
	assert_int_equal(kill(f->dns.pid, SIGSTOP), 0);
	lookups = e.lookups;
	assert_true(wait_for(f->r, "db.cruise.test", lookups_over, &lookups, 2000, &e) >= 0);
	t_start = cruise_now_ns();
	assert_true(wait_for(f->r, "db.cruise.test", failing, NULL, 4000, &e) >= 0);
	t_fail = cruise_now_ns();
	print_entry("db.cruise.test, server hung", &e);
	took = (t_fail - t_start) / 1e6;
	printf("  a lookup to a hung server ended after %.0f ms (bound: %d ms)\n", took,
	       CRUISE_RESOLVE_TIMEOUT_MS);
	assert_true(took <= CRUISE_RESOLVE_TIMEOUT_MS + 50);
	assert_true(took >= 1000);
	assert_non_null(strstr(e.error, "Timeout"));
	assert_int_equal(e.n_addrs, 2);
	kill(f->dns.pid, SIGCONT);
}

/* A name that never resolves: no addresses, failing; the others unharmed. */
static void test_never_resolves(void **state)
{
	struct fx *f = *state;
	struct cruise_resolved e;

	set_hosts(f->r, "nowhere.cruise.test", "db.cruise.test", NULL);
	assert_true(wait_for(f->r, "nowhere.cruise.test", failing, NULL, 3000, &e) >= 0);
	print_entry("nowhere.cruise.test", &e);
	assert_int_equal(e.n_addrs, 0);
	assert_int_equal(e.confirmed_ns, 0);
	assert_int_equal(e.changes, 0);
	assert_true(e.failures >= 1);
	assert_non_null(strstr(e.error, "nowhere.cruise.test: "));
	assert_true(e.next_ns > cruise_now_ns());
	assert_true(wait_for(f->r, "db.cruise.test", has, "127.0.0.2/32 ::2/128", 3000, &e) >= 0);
}

static size_t table_len(struct cruise_resolver *r, const char *first)
{
	struct cruise_resolved *t;
	size_t n;

	assert_int_equal(cruise_resolver_take(r, &t, &n), 0);
	if (first) {
		assert_true(n > 0);
		assert_string_equal(t[0].host, first);
	}
	cruise_resolved_free(t, n);
	return n;
}

/* Names added, kept, duplicated, dropped; addresses given as such. */
static void test_set_hosts(void **state)
{
	struct fx *f = *state;
	struct cruise_resolved e, e1;

	set_hosts(f->r, "db.cruise.test", NULL, NULL);
	assert_true(wait_for(f->r, "db.cruise.test", has, "127.0.0.2/32 ::2/128", 3000, &e1) >= 0);

	set_hosts(f->r, "short.cruise.test", "db.cruise.test", "short.cruise.test");
	assert_int_equal(table_len(f->r, "short.cruise.test"), 2);
	assert_true(entry(f->r, "db.cruise.test", &e)); /* kept: what it learned, at once */
	assert_int_equal(e.n_addrs, 2);
	assert_int_equal(e.changes, 1);
	assert_true(e.lookups >= e1.lookups);
	assert_true(wait_for(f->r, "short.cruise.test", has, "127.0.0.9/32", 3000, &e) >= 0);

	set_hosts(f->r, "short.cruise.test", NULL, NULL);
	assert_int_equal(table_len(f->r, "short.cruise.test"), 1);
	assert_false(entry(f->r, "db.cruise.test", &e));

	set_hosts(f->r, "10.1.2.3", "::1", NULL);
	assert_true(wait_for(f->r, "10.1.2.3", has, "10.1.2.3/32", 1000, &e) >= 0);
	assert_int_equal(e.next_ns - e.confirmed_ns, CRUISE_RESOLVE_MAX_NS);
	assert_true(wait_for(f->r, "::1", has, "::1/128", 1000, &e) >= 0);

	cruise_resolver_set_hosts(f->r, NULL, 0);
	assert_int_equal(table_len(f->r, NULL), 0);
}

/* More addresses than a host keeps (over TCP: the answer is truncated over UDP): the lowest. */
static void test_many_addresses(void **state)
{
	struct fx *f = *state;
	struct cruise_resolved e;
	char hosts[70 * 32], a[64], b[64];
	size_t k = 0;
	double ms;

	for (int i = 70; i >= 1; i--)
		k += snprintf(hosts + k, sizeof(hosts) - k, "10.0.0.%d many.cruise.test\n", i);
	assert_int_equal(th_dns_set_hosts(&f->dns, hosts), 0);
	set_hosts(f->r, "many.cruise.test", NULL, NULL);
	ms = wait_for(f->r, "many.cruise.test", answering, NULL, 3000, &e);
	assert_true(ms >= 0);
	printf("  70 A records in %.1f ms: %u kept, %s to %s\n", ms, e.n_addrs,
	       addr(&e.addrs[0], a, sizeof(a)), addr(&e.addrs[e.n_addrs - 1], b, sizeof(b)));
	assert_int_equal(e.n_addrs, CRUISE_RESOLVE_MAX_ADDRS);
	assert_string_equal(a, "10.0.0.1/32");
	assert_string_equal(b, "10.0.0.64/32");
}

/* stop ends the thread at once: idle, and with a lookup in flight to a hung server. */
static void test_stop_quick(void **state)
{
	struct fx *f = *state;
	struct cruise_resolver *r2;
	struct cruise_resolved e;
	char err[256];
	__u64 t0;
	double idle, busy;

	set_hosts(f->r, "db.cruise.test", NULL, NULL);
	assert_true(wait_for(f->r, "db.cruise.test", has, "127.0.0.2/32 ::2/128", 3000, &e) >= 0);
	t0 = cruise_now_ns();
	cruise_resolver_stop(f->r);
	idle = (cruise_now_ns() - t0) / 1e6;
	f->r = NULL;

	r2 = cruise_resolver_start_servers(f->dns.resolv_conf, f->dns.servers, err, sizeof(err));
	assert_non_null(r2);
	f->r = r2;
	assert_int_equal(kill(f->dns.pid, SIGSTOP), 0);
	set_hosts(r2, "db.cruise.test", "short.cruise.test", NULL);
	usleep(200000); /* the lookups sent, unanswered */
	assert_true(entry(r2, "db.cruise.test", &e));
	assert_int_equal(e.lookups, 1);
	assert_false(e.failing);
	t0 = cruise_now_ns();
	cruise_resolver_stop(r2);
	busy = (cruise_now_ns() - t0) / 1e6;
	f->r = NULL;
	kill(f->dns.pid, SIGCONT);
	printf("  stop: %.2f ms idle, %.2f ms with lookups in flight to a hung server\n", idle,
	       busy);
	assert_true(idle < 100);
	assert_true(busy < 100);
}

/* What cannot start says why; the system's resolv.conf starts. */
static void test_start_errors(void **state)
{
	struct fx *f = *state;
	struct cruise_resolver *r;
	char err[256];

	err[0] = 0;
	r = cruise_resolver_start("/nonexistent/resolv.conf", err, sizeof(err));
	assert_null(r);
	printf("  missing file: %s\n", err);
	assert_non_null(strstr(err, "/nonexistent/resolv.conf"));

	err[0] = 0;
	r = cruise_resolver_start_servers(f->dns.resolv_conf, "not-an-address:53", err,
					  sizeof(err));
	assert_null(r);
	printf("  bad servers: %s\n", err);
	assert_non_null(strstr(err, "not-an-address"));

	r = cruise_resolver_start(NULL, err, sizeof(err)); /* no hosts: nothing is asked */
	assert_non_null(r);
	cruise_resolver_stop(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_and_aaaa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follows_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_clamped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_domain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hung_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_resolves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_hosts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_quick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
