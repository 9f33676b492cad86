// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "loader.h"

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

__u64 th_run_max_latency(const struct th_run *r)
{
	__u64 max = 0;

	for (int i = 0; i < r->n; i++)
		if (!r->conns[i].err && r->conns[i].end_ns - r->conns[i].start_ns > max)
			max = r->conns[i].end_ns - r->conns[i].start_ns;
	return max;
}
