// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Datapath benchmark (not a test): ns per run of each program from kernel.bpf_stats_enabled, runs
 * per connection, total ns per admitted connection, and rate accuracy at 10, 200 and 2000/s with
 * 1 and 8 clients, on loopback. With --demo it shows two media paced live instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/wait.h>
#include <arpa/inet.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "helpers.h"
#include "loader.h"

#define STATS_SYSCTL "/proc/sys/kernel/bpf_stats_enabled"

struct prog_stats {
	__u64 run_time_ns;
	__u64 run_cnt;
};

static struct th_env env;
static char stats_saved[8];
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void read_prog_stats(struct prog_stats *out)
{
	for (int i = 0; i < CRUISE_PROG_COUNT; i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		memset(&out[i], 0, sizeof(out[i]));
		if (bpf_obj_get_info_by_fd(cruise_prog_fd(env.h, i), &info, &len))
			continue;
		out[i].run_time_ns = info.run_time_ns;
		out[i].run_cnt = info.run_cnt;
	}
}

/* A field of /proc/net/snmp or /proc/net/netstat ("Tcp:" "ActiveOpens"), or 0. */
static __u64 net_stat(const char *file, const char *prefix, const char *field)
{
	char names[4096], values[4096];
	__u64 result = 0;
	FILE *f = fopen(file, "r");

	if (!f)
		return 0;
	while (fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f)) {
		char *sn, *sv, *n, *v;

		if (strncmp(names, prefix, strlen(prefix)))
			continue;
		n = strtok_r(names, " \n", &sn);
		v = strtok_r(values, " \n", &sv);
		while (n && v) {
			if (!strcmp(n, field))
				result = strtoull(v, NULL, 10);
			n = strtok_r(NULL, " \n", &sn);
			v = strtok_r(NULL, " \n", &sv);
		}
	}
	fclose(f);
	return result;
}

static __u64 syns_sent(void)
{
	return net_stat("/proc/net/snmp", "Tcp:", "ActiveOpens") +
	       net_stat("/proc/net/netstat", "TcpExt:", "TCPSynRetrans");
}

static int stats_enable(void)
{
	FILE *f = fopen(STATS_SYSCTL, "r");

	if (!f || !fgets(stats_saved, sizeof(stats_saved), f)) {
		if (f)
			fclose(f);
		return -errno;
	}
	fclose(f);
	return th_write_file(STATS_SYSCTL, "1");
}

static void stats_restore(void)
{
	if (stats_saved[0])
		th_write_file(STATS_SYSCTL, stats_saved);
}

/* Established-connection traffic from a bound cgroup: the egress fast path, one run per send. */
static __u64 bulk_traffic(const struct th_cgroup *cg, int packets)
{
	struct th_listener l;
	char buf[4096];
	__u64 got = 0;
	pid_t pid;
	int c;

	if (th_listener_start(&l, "127.0.0.1", false, 4))
		return 0;
	pid = fork();
	if (pid == 0) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(l.port) };
		int fd, one = 1;

		if (th_cgroup_enter(cg->path))
			_exit(1);
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
			_exit(1);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		for (int i = 0; i < packets; i++)
			if (send(fd, buf, 64, MSG_NOSIGNAL) < 0)
				break;
		_exit(0);
	}
	for (int tries = 0; tries < 5000; tries++) {
		c = accept(l.fd, NULL, NULL);
		if (c >= 0)
			break;
		usleep(1000);
	}
	if (c >= 0) {
		ssize_t n;

		while ((n = recv(c, buf, sizeof(buf), 0)) > 0)
			got += n;
		close(c);
	}
	waitpid(pid, NULL, 0);
	th_listener_stop(&l);
	return got;
}

static void bench_fast_path(const struct th_cgroup *cg, double *ns)
{
	struct prog_stats a[CRUISE_PROG_COUNT], b[CRUISE_PROG_COUNT];
	__u64 runs;

	read_prog_stats(a);
	bulk_traffic(cg, 100000);
	read_prog_stats(b);
	runs = b[CRUISE_PROG_EGRESS].run_cnt - a[CRUISE_PROG_EGRESS].run_cnt;
	*ns = runs ? (double)(b[CRUISE_PROG_EGRESS].run_time_ns -
			      a[CRUISE_PROG_EGRESS].run_time_ns) /
			      runs
		   : 0;
	printf("egress fast path (established connection, 64-byte sends): %llu runs, %.1f "
	       "ns/run\n\n",
	       (unsigned long long)runs, *ns);
}

struct rate_case {
	double rate;
	int workers;
	double secs;
};

static int bench_rates(double fast_ns)
{
	static const struct rate_case cases[] = {
		{ 10, 1, 5 },  { 10, 8, 5 },   { 200, 1, 3 },
		{ 200, 8, 3 }, { 2000, 1, 3 }, { 2000, 8, 3 },
	};
	const char *names[CRUISE_PROG_COUNT] = { "connect4", "connect6", "sockops", "egress",
						 "release" };

	printf("| rate/s | clients | achieved/s | error %% | p50 ms | p99 ms | max ms | failed "
	       "| connect ns | sockops ns | egress ns | egress SYN ns | release ns "
	       "| runs/conn (c4/so/eg/rel) | total ns/admitted |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !stop; i++) {
		const struct rate_case *c = &cases[i];
		struct prog_stats a[CRUISE_PROG_COUNT], b[CRUISE_PROG_COUNT];
		struct cruise_counters ca, cb;
		struct th_cgroup cg;
		struct th_run r;
		__u64 *lat, syn0, syns, admitted, total_ns = 0;
		double per[CRUISE_PROG_COUNT], runs[CRUISE_PROG_COUNT], syn_ns, rate, p50, p99, max;
		__u32 medium = 0;
		int n = 0;

		cruise_maps_reset_state(&env.h->maps, medium);
		th_env_medium(&env, medium, c->rate, 0, 5000000000ULL, 0, 0, 0);
		if (th_env_worker_cgroup(&env, &cg, NULL, medium))
			return -1;
		struct th_run_opts o = {
			.cgroup = cg.path,
			.addr = "127.0.0.1",
			.port = env.l4.port,
			.workers = c->workers,
			.duration_ns = (__u64)(c->secs * 1e9),
			.max_per_worker = (int)(c->rate * c->secs * 2) + 10,
		};
		cruise_maps_counters(&env.h->maps, medium, &ca);
		read_prog_stats(a);
		syn0 = syns_sent();
		th_run_clients(&o, &r);
		syns = syns_sent() - syn0;
		read_prog_stats(b);
		cruise_maps_counters(&env.h->maps, medium, &cb);
		th_cgroup_remove(&cg);

		admitted = (cb.admitted_now - ca.admitted_now) + (cb.delayed - ca.delayed);
		for (int p = 0; p < CRUISE_PROG_COUNT; p++) {
			__u64 cnt = b[p].run_cnt - a[p].run_cnt;
			__u64 ns = b[p].run_time_ns - a[p].run_time_ns;

			per[p] = cnt ? (double)ns / cnt : 0;
			runs[p] = r.n ? (double)cnt / r.n : 0;
			total_ns += ns;
		}
		/* egress ns on SYNs: total minus the other packets at the fast path's cost */
		syn_ns = 0;
		if (syns) {
			double other = (double)(b[CRUISE_PROG_EGRESS].run_cnt -
						a[CRUISE_PROG_EGRESS].run_cnt) -
				       syns;
			syn_ns = ((double)(b[CRUISE_PROG_EGRESS].run_time_ns -
					   a[CRUISE_PROG_EGRESS].run_time_ns) -
				  (other > 0 ? other : 0) * fast_ns) /
				 syns;
		}
		lat = calloc(r.n ? r.n : 1, sizeof(*lat));
		for (int k = 0; lat && k < r.n; k++)
			if (!r.conns[k].err)
				lat[n++] = r.conns[k].end_ns - r.conns[k].start_ns;
		th_quantiles_ms(lat, n, &p50, &p99, &max);
		rate = th_run_rate(&r);
		printf("| %.0f | %d | %.2f | %+.3f | %.2f | %.2f | %.2f | %d | %.0f | %.0f | %.0f "
		       "| %.0f "
		       "| %.0f | %.2f/%.2f/%.2f/%.2f | %.0f |\n",
		       c->rate, c->workers, rate, 100 * (rate / c->rate - 1), p50, p99, max,
		       r.failed, per[CRUISE_PROG_CONNECT4], per[CRUISE_PROG_SOCKOPS],
		       per[CRUISE_PROG_EGRESS], syn_ns, per[CRUISE_PROG_SOCK_RELEASE],
		       runs[CRUISE_PROG_CONNECT4], runs[CRUISE_PROG_SOCKOPS],
		       runs[CRUISE_PROG_EGRESS], runs[CRUISE_PROG_SOCK_RELEASE],
		       admitted ? (double)total_ns / admitted : 0);
		fflush(stdout);
		free(lat);
		th_run_free(&r);
	}
	(void)names;
	return 0;
}

/* The live showing: two media paced side by side, printed once a second. */
static int demo(void)
{
	struct th_cgroup push, email;
	pid_t kids[2];
	const double rates[2] = { 200, 20 };
	const char *names[2] = { "push", "email" };
	struct cruise_counters prev[2] = {}, cur;

	th_env_medium(&env, 0, rates[0], 10, 2000000000ULL, 0, 0, 0);
	th_env_medium(&env, 1, rates[1], 2, 2000000000ULL, 0, 0, 0);
	if (th_env_worker_cgroup(&env, &push, NULL, 0) ||
	    th_env_worker_cgroup(&env, &email, NULL, 1))
		return -1;
	printf("cruise demo: two worker groups connect as fast as they can to 127.0.0.1:%u;\n"
	       "the kernel paces push at %.0f/s and email at %.0f/s. Ctrl-C stops it.\n\n",
	       env.l4.port, rates[0], rates[1]);
	for (int m = 0; m < 2; m++) {
		kids[m] = fork();
		if (kids[m] == 0) {
			struct th_run r;
			struct th_run_opts o = {
				.cgroup = m ? email.path : push.path,
				.addr = "127.0.0.1",
				.port = env.l4.port,
				.workers = 4,
				.duration_ns = 20000000000ULL,
				.max_per_worker = 100000,
			};

			signal(SIGINT, SIG_DFL);
			_exit(th_run_clients(&o, &r) ? 1 : 0);
		}
	}
	for (int s = 1; s <= 20 && !stop; s++) {
		sleep(1);
		for (int m = 0; m < 2; m++) {
			struct cruise_medium_state st;

			cruise_maps_counters(&env.h->maps, m, &cur);
			cruise_maps_state(&env.h->maps, m, &st);
			printf("t=%2ds %-6s configured %5.0f/s  achieved %5llu/s  delayed %5llu  "
			       "mean delay %6.1f ms  refused %llu\n",
			       s, names[m], rates[m],
			       (unsigned long long)(cur.connections - prev[m].connections),
			       (unsigned long long)(cur.delayed - prev[m].delayed),
			       cur.delayed - prev[m].delayed
				       ? (cur.delay_ns - prev[m].delay_ns) / 1e6 /
						 (cur.delayed - prev[m].delayed)
				       : 0.0,
			       (unsigned long long)(cur.refused_max_wait + cur.refused_max_conns -
						    prev[m].refused_max_wait -
						    prev[m].refused_max_conns));
			prev[m] = cur;
		}
		fflush(stdout);
	}
	for (int m = 0; m < 2; m++) {
		kill(kids[m], SIGTERM);
		waitpid(kids[m], NULL, 0);
	}
	return 0;
}

int main(int argc, char **argv)
{
	bool demo_mode = argc > 1 && !strcmp(argv[1], "--demo");
	char machine[512];
	double fast_ns = 0;
	struct th_cgroup cg;
	int err;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	err = th_env_setup(&env);
	if (err) {
		fprintf(stderr, "bench: cannot load and attach the datapath: %s\n", strerror(-err));
		return 1;
	}
	if (demo_mode) {
		err = demo();
		th_env_teardown(&env);
		return err ? 1 : 0;
	}
	err = stats_enable();
	if (err) {
		fprintf(stderr, "bench: cannot enable %s: %s\n", STATS_SYSCTL, strerror(-err));
		th_env_teardown(&env);
		return 1;
	}
	th_machine(machine, sizeof(machine));
	printf("machine: %s\n\n", machine);
	th_env_medium(&env, 0, 0, 0, 0, 0, 0, 0);
	if (!th_env_worker_cgroup(&env, &cg, NULL, 0)) {
		bench_fast_path(&cg, &fast_ns);
		th_cgroup_remove(&cg);
	}
	err = bench_rates(fast_ns);
	stats_restore();
	th_env_teardown(&env);
	return err ? 1 : 0;
}
