// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <dirent.h>
#include <ftw.h>
#include <libgen.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "loader.h"

int th_write_file(const char *path, const char *s)
{
	/* O_CREAT: cgroup files exist already; files of a test's own are made */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	return 0;
}

void th_unique_name(char *buf, size_t len, const char *prefix)
{
	static int counter;

	snprintf(buf, len, "%s-%d-%d", prefix, (int)getpid(), counter++);
}

/* The whole file, NUL-terminated; "" when it does not exist. */
char *th_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f || getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	if (f)
		fclose(f);
	if (!buf)
		abort();
	return buf;
}

/* GET path from the agent's metrics port; the status, body in *body (free it), or -1. */
int th_http_get(uint16_t port, const char *path, char **body)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	size_t len = 0, cap = 65536;
	char req[256], *buf, *head_end;
	int fd, status = -1;

	*body = NULL;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -1;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (len + 4096 + 1 > cap) {
			char *more = realloc(buf, cap * 2);

			if (!more)
				break;
			buf = more;
			cap *= 2;
		}
		if (poll(&p, 1, 3000) != 1)
			break;
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	head_end = strstr(buf, "\r\n\r\n");
	if (sscanf(buf, "HTTP/1.%*d %d", &status) == 1 && head_end)
		*body = strdup(head_end + 4);
	else
		status = -1;
	free(buf);
	return status;
}

int th_cgroup_create(struct th_cgroup *cg, const struct th_cgroup *parent, const char *name)
{
	char root[PATH_MAX];
	int err, n;

	if (parent) {
		snprintf(root, sizeof(root), "%s", parent->path);
	} else {
		err = cruise_cgroup2_root(root, sizeof(root));
		if (err)
			return err;
	}
	n = snprintf(cg->path, sizeof(cg->path), "%.*s/%s", (int)(sizeof(root) / 2), root, name);
	if (n < 0 || (size_t)n >= sizeof(cg->path))
		return -ENAMETOOLONG;
	if (mkdir(cg->path, 0755))
		return -errno;
	return cruise_cgroup_id(cg->path, &cg->id);
}

int th_cgroup_remove(struct th_cgroup *cg)
{
	if (!cg->path[0])
		return 0;
	if (rmdir(cg->path) && errno != ENOENT)
		return -errno;
	cg->path[0] = '\0';
	return 0;
}

int th_cgroup_enter(const char *path)
{
	char procs[PATH_MAX];

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
	return th_write_file(procs, "0");
}

int th_sockaddr(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static void *th_accept_loop(void *arg)
{
	struct th_listener *l = arg;
	struct pollfd p = { .fd = l->fd, .events = POLLIN };

	while (!l->stop) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		for (;;) {
			int c = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (c < 0)
				break;
			close(c);
		}
	}
	return NULL;
}

int th_listener_start(struct th_listener *l, const char *addr, bool accept_loop, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, err;

	memset(l, 0, sizeof(*l));
	err = th_sockaddr(addr, 0, &ss, &len);
	if (err)
		return err;
	l->family = ss.ss_family;
	l->fd = socket(l->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -errno;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&ss, len) || listen(l->fd, backlog))
		goto fail;
	len = sizeof(ss);
	if (getsockname(l->fd, (struct sockaddr *)&ss, &len))
		goto fail;
	l->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						: ((struct sockaddr_in6 *)&ss)->sin6_port);
	l->backlog = backlog;
	l->accept = accept_loop;
	if (accept_loop && pthread_create(&l->thread, NULL, th_accept_loop, l)) {
		errno = EAGAIN;
		goto fail;
	}
	return 0;
fail:
	err = -errno;
	close(l->fd);
	l->fd = -1;
	return err;
}

void th_listener_stop(struct th_listener *l)
{
	if (l->fd < 0)
		return;
	l->stop = true;
	if (l->accept)
		pthread_join(l->thread, NULL);
	close(l->fd);
	l->fd = -1;
}

/* One connect; returns 0 or an errno. */
static int th_connect_once(const struct th_run_opts *o, const struct sockaddr_storage *ss,
			   socklen_t len, int *fdp)
{
	int type = (o->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC;
	int fd, err = 0;

	if (o->nonblocking || o->abandon)
		type |= SOCK_NONBLOCK;
	fd = socket(ss->ss_family, type, 0);
	if (fd < 0)
		return errno;
	if (o->udp) {
		if (sendto(fd, "x", 1, 0, (const struct sockaddr *)ss, len) < 0)
			err = errno;
	} else if (connect(fd, (const struct sockaddr *)ss, len)) {
		err = errno;
		if (err == EINPROGRESS && !o->abandon) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			socklen_t elen = sizeof(err);

			err = 0;
			if (poll(&p, 1, o->connect_timeout_ms ?: 60000) != 1)
				err = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen))
				err = errno;
		}
	}
	*fdp = fd;
	return err;
}

static void th_sleep_until(__u64 t)
{
	struct timespec ts = { .tv_sec = t / 1000000000ULL, .tv_nsec = t % 1000000000ULL };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void th_worker(const struct th_run_opts *o, int w, struct th_conn *slots)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	__u64 start, deadline;
	int i;

	if (o->cgroup && th_cgroup_enter(o->cgroup))
		_exit(2);
	if (!o->open_fn && th_sockaddr(o->addr, o->port, &ss, &len))
		_exit(3);
	if (o->start_at_ns)
		th_sleep_until(o->start_at_ns);
	start = cruise_now_ns();
	deadline = start + o->duration_ns;
	for (i = 0; i < o->max_per_worker && cruise_now_ns() < deadline; i++) {
		struct th_conn *c = &slots[i];
		void *conn = NULL;
		int fd = -1;

		if (o->period_ns)
			th_sleep_until(start + i * o->period_ns);
		c->worker = w;
		c->ready_ns = cruise_now_ns();
		c->err = o->before ? o->before(o, w, i, deadline) : 0;
		if (c->err < 0) {
			c->ready_ns = 0;
			break;
		}
		c->start_ns = cruise_now_ns();
		if (c->err)
			; /* before() recorded a failure without a connect */
		else if (o->open_fn)
			c->err = o->open_fn(o->arg, w, &conn);
		else
			c->err = th_connect_once(o, &ss, len, &fd);
		c->end_ns = cruise_now_ns();
		if (o->hold_open_ns && !c->err)
			th_sleep_until(c->end_ns + o->hold_open_ns);
		if (conn)
			o->close_fn(conn);
		if (fd >= 0)
			close(fd);
		if (c->err && o->fail_pause_ns)
			th_sleep_until(cruise_now_ns() + o->fail_pause_ns);
	}
	_exit(0);
}

static int th_conn_cmp(const void *a, const void *b)
{
	const struct th_conn *x = a, *y = b;

	return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

int th_run_clients(const struct th_run_opts *o, struct th_run *r)
{
	size_t per = o->max_per_worker, total = per * o->workers;
	struct th_conn *shared;
	int err = 0;

	memset(r, 0, sizeof(*r));
	if (o->workers < 1 || o->max_per_worker < 1)
		return -EINVAL;
	shared = mmap(NULL, total * sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		return -errno;
	r->pids = calloc(o->workers, sizeof(*r->pids));
	if (!r->pids) {
		munmap(shared, total * sizeof(*shared));
		return -ENOMEM;
	}
	for (int w = 0; w < o->workers; w++) {
		pid_t pid = fork();

		if (pid == 0)
			th_worker(o, w, shared + per * w);
		if (pid < 0) {
			err = -errno;
			break;
		}
		r->pids[r->npids++] = pid;
	}
	for (int i = 0; i < r->npids; i++) {
		int status;

		if (waitpid(r->pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			err = err ? err : -ECHILD;
	}
	r->conns = calloc(total ? total : 1, sizeof(*r->conns));
	if (!r->conns) {
		munmap(shared, total * sizeof(*shared));
		return -ENOMEM;
	}
	for (size_t i = 0; i < total; i++) {
		if (!shared[i].ready_ns)
			continue;
		r->conns[r->n++] = shared[i];
	}
	munmap(shared, total * sizeof(*shared));
	qsort(r->conns, r->n, sizeof(*r->conns), th_conn_cmp);
	for (int i = 0; i < r->n; i++) {
		const struct th_conn *c = &r->conns[i];

		if (c->err) {
			r->failed++;
			continue;
		}
		r->ok++;
		if (!r->first_end_ns || c->end_ns < r->first_end_ns)
			r->first_end_ns = c->end_ns;
		if (c->end_ns > r->last_end_ns)
			r->last_end_ns = c->end_ns;
	}
	return err;
}

void th_run_free(struct th_run *r)
{
	free(r->conns);
	free(r->pids);
	r->conns = NULL;
	r->pids = NULL;
	r->npids = 0;
}

bool th_run_has_pid(const struct th_run *r, pid_t pid)
{
	for (int i = 0; i < r->npids; i++)
		if (r->pids[i] == pid)
			return true;
	return false;
}

static void *th_job_main(void *arg)
{
	struct th_job *j = arg;

	j->err = th_run_clients(&j->o, &j->r);
	return NULL;
}

int th_job_start(struct th_job *j)
{
	if (pthread_create(&j->thread, NULL, th_job_main, j))
		return -EAGAIN;
	j->started = true;
	return 0;
}

int th_job_join(struct th_job *j)
{
	if (!j->started)
		return 0;
	pthread_join(j->thread, NULL);
	j->started = false;
	return j->err;
}

int th_jobs_run(struct th_job *jobs, int n)
{
	__u64 start = cruise_now_ns() + 100 * 1000000ULL; /* every process forked by then */
	int err = 0;

	for (int i = 0; i < n && !err; i++) {
		jobs[i].o.start_at_ns = start;
		err = th_job_start(&jobs[i]);
	}
	/* all joined, so no client outlives the call */
	for (int i = 0; i < n; i++) {
		int e = th_job_join(&jobs[i]);

		err = err ? err : e;
	}
	return err;
}

int th_u64_compare(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

double th_run_rate(const struct th_run *r)
{
	double sum_i = 0, sum_t = 0, sum_ii = 0, sum_it = 0, slope;
	__u64 *ends = calloc(r->ok ? r->ok : 1, sizeof(*ends));
	int n = 0;

	if (!ends)
		return 0;
	for (int i = 0; i < r->n; i++)
		if (!r->conns[i].err)
			ends[n++] = r->conns[i].end_ns;
	qsort(ends, n, sizeof(*ends), th_u64_compare);
	/*
	 * Least-squares slope of completion time over completion index: unlike (n - 1) / span, it
	 * is not biased by the hold lateness of the last connect.
	 */
	for (int k = 0; k < n; k++) {
		double t = (double)(ends[k] - ends[0]) / 1e9;

		sum_i += k;
		sum_t += t;
		sum_ii += (double)k * k;
		sum_it += k * t;
	}
	free(ends);
	if (n < 2)
		return 0;
	slope = (n * sum_it - sum_i * sum_t) / (n * sum_ii - sum_i * sum_i);
	return slope > 0 ? 1 / slope : 0;
}

void th_quantiles_ms(__u64 *v, int n, double *p50, double *p99, double *max)
{
	qsort(v, n, sizeof(*v), th_u64_compare);
	*p50 = n ? v[n / 2] / 1e6 : 0;
	*p99 = n ? v[(n * 99) / 100] / 1e6 : 0;
	*max = n ? v[n - 1] / 1e6 : 0;
}

pid_t th_spawn(const char *const argv[], const char *out, const char *err)
{
	pid_t pid = fork();

	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (o < 0 || e < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(o, 1) < 0 ||
		    dup2(e, 2) < 0)
			_exit(126);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid < 0 ? -errno : pid;
}

int th_wait_exit(pid_t pid, int timeout_ms)
{
	__u64 deadline = cruise_now_ns() + timeout_ms * 1000000ULL;
	int status;

	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			return status;
		if (w < 0)
			return -1;
		if (cruise_now_ns() > deadline)
			break;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int th_run_cmd(const char *const argv[], const char *out, const char *err, int timeout_ms)
{
	pid_t pid = th_spawn(argv, out, err);
	int status;

	if (pid < 0)
		return -1;
	status = th_wait_exit(pid, timeout_ms);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

uint16_t th_free_port(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	uint16_t port = 0;
	int fd;

	if (th_sockaddr(addr, 0, &ss, &len))
		return 0;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (!bind(fd, (struct sockaddr *)&ss, len) &&
	    !getsockname(fd, (struct sockaddr *)&ss, &len))
		port = ntohs(
			((struct sockaddr_in *)&ss)->sin_port); /* same place in sockaddr_in6 */
	close(fd);
	return port;
}

__u64 th_run_max_latency(const struct th_run *r)
{
	__u64 max = 0;

	for (int i = 0; i < r->n; i++)
		if (!r->conns[i].err && r->conns[i].end_ns - r->conns[i].start_ns > max)
			max = r->conns[i].end_ns - r->conns[i].start_ns;
	return max;
}

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define TH_BPFFS "/sys/fs/bpf"

int th_env_setup(struct th_env *e)
{
	char name[64], msg[512];
	int err;

	memset(e, 0, sizeof(*e));
	e->l4.fd = e->l6.fd = -1;
	err = cruise_ensure_bpffs(TH_BPFFS);
	if (err)
		return err;
	th_unique_name(name, sizeof(name), "cruise-test");
	snprintf(e->pin_dir, sizeof(e->pin_dir), "%s/%s", TH_BPFFS, name);
	err = cruise_load(&e->h, e->pin_dir, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "th_env_setup: %s\n", msg);
		goto fail;
	}
	err = th_cgroup_create(&e->scope, NULL, name);
	if (err)
		goto fail;
	err = cruise_attach(e->h, e->scope.path);
	if (err)
		goto fail;
	err = th_listener_start(&e->l4, "127.0.0.1", true, 4096);
	if (!err)
		err = th_listener_start(&e->l6, "::1", true, 4096);
	if (!err)
		err = cruise_add_target(e->h, "127.0.0.1", 32, e->l4.port, 0);
	if (!err)
		err = cruise_add_target(e->h, "::1", 128, e->l6.port, 1);
	if (err)
		goto fail;
	return 0;
fail:
	th_env_teardown(e);
	return err;
}

/* Remove every cgroup below path, children first; the scope is ours, so is everything in it. */
void th_cgroup_remove_tree(const char *path)
{
	char sub[PATH_MAX];
	DIR *d = opendir(path);
	struct dirent *ent;

	if (!d)
		return;
	while ((ent = readdir(d))) {
		if (ent->d_type != DT_DIR || ent->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, ent->d_name);
		th_cgroup_remove_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

void th_env_teardown(struct th_env *e)
{
	th_listener_stop(&e->l4);
	th_listener_stop(&e->l6);
	if (e->h) {
		cruise_unpin_maps(e->h);
		cruise_destroy(e->h);
		e->h = NULL;
	}
	if (e->scope.path[0])
		th_cgroup_remove_tree(e->scope.path);
	e->scope.path[0] = '\0';
	if (e->pin_dir[0])
		rmdir(e->pin_dir);
}

int th_env_worker_cgroup(struct th_env *e, struct th_cgroup *cg, const struct th_cgroup *parent,
			 int medium)
{
	char name[64];
	int err;

	th_unique_name(name, sizeof(name), "w");
	err = th_cgroup_create(cg, parent ? parent : &e->scope, name);
	if (err || medium < 0)
		return err;
	return cruise_bind_cgroup(e->h, cg->id, medium);
}

int th_env_medium(struct th_env *e, __u32 medium, double rate, __u64 burst, __u64 max_wait_ns,
		  __u32 max_conns, int refuse_errno, __u32 extra_flags)
{
	struct cruise_medium m = {
		.interval_ns = rate > 0 ? (__u64)(1e9 / rate + 0.5) : 0,
		.burst = burst,
		.max_wait_ns = max_wait_ns,
		.max_conns = max_conns,
		.refuse_errno = refuse_errno,
		.flags = CRUISE_MEDIUM_ACTIVE | extra_flags,
	};

	snprintf(m.name, sizeof(m.name), "medium%u", medium);
	return cruise_set_medium(e->h, medium, &m);
}

__u64 th_jiffy_ns(void)
{
	static __u64 jiffy;
	char line[256];
	FILE *f;

	if (jiffy)
		return jiffy;
	/* what libbpf resolves CONFIG_HZ from; USER_HZ from sysconf is not the kernel's HZ */
	f = popen("(zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r)) "
		  "| grep '^CONFIG_HZ='",
		  "r");
	if (f) {
		if (fgets(line, sizeof(line), f) && atoi(line + strlen("CONFIG_HZ=")) > 0)
			jiffy = 1000000000ULL / atoi(line + strlen("CONFIG_HZ="));
		pclose(f);
	}
	return jiffy ? jiffy : 4000000ULL;
}

struct th_env *th_env_new(void)
{
	struct th_env *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return NULL;
	err = th_env_setup(e);
	if (err) {
		fprintf(stderr, "th_env_setup: %s\n", strerror(-err));
		free(e);
		return NULL;
	}
	return e;
}

void th_env_free(struct th_env *e)
{
	if (e)
		th_env_teardown(e);
	free(e);
}

static int th_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void th_rm_tree(const char *dir)
{
	nftw(dir, th_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int th_find_beside(const char *env, const char *name, char *buf, size_t len)
{
	const char *given = getenv(env);
	char self[PATH_MAX];
	ssize_t n;

	if (given && *given) {
		snprintf(buf, len, "%s", given);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			return -errno;
		self[n] = '\0';
		if (snprintf(buf, len, "%s/%s", dirname(self), name) >= (int)len)
			return -ENAMETOOLONG;
	}
	return access(buf, X_OK) ? -errno : 0;
}

int th_medium_index(int media_fd, const char *name)
{
	for (__u32 i = 0; i < CRUISE_MAX_MEDIA; i++) {
		struct cruise_medium m;

		if (bpf_map_lookup_elem(media_fd, &i, &m))
			return -1;
		if ((m.flags & CRUISE_MEDIUM_ACTIVE) && !strncmp(m.name, name, sizeof(m.name)))
			return i;
	}
	return -1;
}

int th_agent_fixture(const char *name, struct th_cgroup *scope, uint16_t *metrics_port,
		     struct th_listener *target)
{
	int err = th_cgroup_create(scope, NULL, name);

	if (err) {
		scope->path[0] = '\0';
		fprintf(stderr, "scope cgroup %s: %s\n", name, strerror(-err));
		return err;
	}
	*metrics_port = th_free_port("127.0.0.1");
	if (!*metrics_port)
		return -EADDRINUSE;
	return th_listener_start(target, "127.0.0.1", true, 4096);
}

int th_binding(int bindings_fd, __u64 cgroup_id)
{
	struct cruise_binding_key k = { .cgroup_id = cgroup_id };
	struct cruise_binding v;

	return bpf_map_lookup_elem(bindings_fd, &k, &v) ? -1 : (int)v.medium;
}

__u64 th_wait_binding(int bindings_fd, __u64 cgroup_id, int want, int timeout_ms, int *got)
{
	__u64 t0 = cruise_now_ns(), deadline = t0 + timeout_ms * 1000000ULL;

	do {
		int m = th_binding(bindings_fd, cgroup_id);

		if (m == want || (want == TH_ANY_MEDIUM && m >= 0)) {
			if (got)
				*got = m;
			return cruise_now_ns() - t0 ?: 1;
		}
		usleep(500);
	} while (cruise_now_ns() < deadline);
	return 0;
}

void th_print_tail(const char *what, const char *path, size_t bytes)
{
	char *text = th_slurp(path);
	size_t n = strlen(text);

	printf("--- %s %s (end)\n%s--- end of %s\n", what, path,
	       n > bytes ? text + n - bytes : text, what);
	fflush(stdout);
	free(text);
}

void th_machine(char *buf, size_t len)
{
	char line[256], model[256] = "?";
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10)) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	uname(&u);
	snprintf(buf, len, "%s, %ld CPUs, Linux %s %s, HZ %llu", model,
		 sysconf(_SC_NPROCESSORS_ONLN), u.release, u.machine,
		 1000000000ULL / th_jiffy_ns());
}

int th_redis_start(struct th_redis *r, const char *dir, uint16_t port, const char *const *extra)
{
	const char *argv[40] = { "redis-server", "--port",    NULL, "--bind",
				 "127.0.0.1",	 "--save",    "",   "--appendonly",
				 "no",		 "--dir",     dir,  "--daemonize",
				 "no",		 "--logfile", "" };
	const char *ping[] = { "PING", NULL };
	char portbuf[8], log[PATH_MAX + 16], out[64];
	int n = 15;

	memset(r, 0, sizeof(*r));
	r->port = port ? port : th_free_port("127.0.0.1");
	if (!r->port)
		return -EADDRINUSE;
	snprintf(r->dir, sizeof(r->dir), "%s", dir);
	snprintf(portbuf, sizeof(portbuf), "%u", r->port);
	argv[2] = portbuf;
	for (int i = 0; extra && extra[i] && n < 38; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	snprintf(log, sizeof(log), "%s/redis.log", dir);
	r->pid = th_spawn(argv, log, log);
	if (r->pid < 0)
		return r->pid;
	for (int i = 0; i < 500; i++) {
		/* a password makes PING answer NOAUTH: an answer all the same */
		if (!th_redis_cli(r, ping, out, sizeof(out)) &&
		    (strstr(out, "PONG") || strstr(out, "NOAUTH")))
			return 0;
		usleep(10000);
	}
	th_redis_stop(r);
	return -ETIMEDOUT;
}

void th_redis_stop(struct th_redis *r)
{
	if (r->pid <= 0)
		return;
	kill(r->pid, SIGKILL);
	kill(r->pid, SIGCONT);
	waitpid(r->pid, NULL, 0);
	r->pid = 0;
}

int th_redis_cli(const struct th_redis *r, const char *const *args, char *out, size_t len)
{
	const char *argv[32] = { "redis-cli", "-p", NULL, "-h", "127.0.0.1" };
	char portbuf[8], path[PATH_MAX + 16];
	int n = 5, rc;

	snprintf(portbuf, sizeof(portbuf), "%u", r->port);
	argv[2] = portbuf;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(path, sizeof(path), "%s/redis-cli.out", r->dir);
	unlink(path);
	rc = th_run_cmd(argv, path, path, 5000);
	if (out && len) {
		char *text = th_slurp(path);

		snprintf(out, len, "%s", text ? text : "");
		free(text);
	}
	unlink(path);
	return rc;
}

bool th_metric(const char *body, const char *series, double *v)
{
	size_t n = strlen(series);

	for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, series, n) && p[n] == ' ') {
			*v = strtod(p + n + 1, NULL);
			return true;
		}
	}
	return false;
}
