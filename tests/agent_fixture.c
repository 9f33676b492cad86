// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* strsignal */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_fixture.h"
#include "loader.h"

#define BPFFS	     "/sys/fs/bpf"
#define UNINSTALL_MS 30000
#define KILL_MS	     5000

const char *th_agent_bin(void)
{
	static char bin[PATH_MAX];
	static int err = 1;

	return th_find_once("CRUISE_AGENT", "cruise-agent", bin, sizeof(bin), &err);
}

int th_agent_init(struct th_agent *a, const char *name, const char *dir, const char *tag,
		  bool metrics)
{
	memset(a, 0, sizeof(*a));
	if (!th_agent_bin())
		return -ENOENT;
	if (snprintf(a->pin_dir, sizeof(a->pin_dir), "%s/%s", BPFFS, name) >=
		    (int)sizeof(a->pin_dir) ||
	    snprintf(a->conf, sizeof(a->conf), "%s/%s.yaml", dir, tag) >= (int)sizeof(a->conf) ||
	    snprintf(a->dir, sizeof(a->dir), "%s", dir) >= (int)sizeof(a->dir) ||
	    snprintf(a->tag, sizeof(a->tag), "%s", tag) >= (int)sizeof(a->tag))
		return -ENAMETOOLONG;
	if (metrics) {
		a->metrics_port = th_free_port("127.0.0.1");
		if (!a->metrics_port)
			return -EADDRINUSE;
	}
	return 0;
}

int th_agent_start(struct th_agent *a, const char *const *args, int timeout_ms)
{
	const char *argv[16] = { th_agent_bin(), "--config", a->conf };
	__u64 deadline;
	int n = 3, err;

	if (!argv[0])
		return -ENOENT;
	for (int i = 0; args && args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(a->log, sizeof(a->log), "%s/%s-%d.log", a->dir, a->tag, a->n_logs++);
	unlink(a->log); /* this start's alone */
	a->started_ns = cruise_now_ns();
	deadline = a->started_ns + timeout_ms * NSEC_PER_MSEC;
	a->pid = th_spawn(argv, a->log, a->log);
	if (a->pid < 0) {
		err = a->pid;
		a->pid = 0;
		return err;
	}
	for (;;) {
		char *text = th_agent_log(a);
		bool attached = strstr(text, "attached and pinned");

		free(text);
		if (attached && (!a->metrics_port || th_agent_healthz(a) == 200))
			break;
		err = !th_agent_alive(a) ? -ECHILD : cruise_now_ns() > deadline ? -ETIMEDOUT : 0;
		if (err) {
			printf("cruise-agent %s within %d ms\n",
			       err == -ECHILD ? "exited" : "did not attach and serve", timeout_ms);
			th_agent_print_log(a, 6000);
			return err;
		}
		usleep(2000);
	}
	a->ready_ns = cruise_now_ns();
	if (!a->maps_open) {
		err = cruise_maps_open_pinned(&a->maps, a->pin_dir);
		if (err) {
			printf("cannot open the maps pinned under %s: %s\n", a->pin_dir,
			       strerror(-err));
			return err;
		}
		a->maps_open = true;
	}
	return 0;
}

bool th_agent_alive(struct th_agent *a)
{
	char why[96];
	int status;

	if (a->pid <= 0)
		return false;
	if (waitpid(a->pid, &status, WNOHANG) != a->pid)
		return true;
	a->pid = 0;
	a->status = status;
	th_describe_status(status, why, sizeof(why));
	printf("cruise-agent %s\n", why);
	return false;
}

int th_agent_kill(struct th_agent *a, int sig)
{
	if (a->pid <= 0)
		return -1;
	kill(a->pid, sig);
	a->status = th_wait_exit(a->pid, KILL_MS);
	a->pid = 0;
	return a->status;
}

int th_agent_uninstall(struct th_agent *a)
{
	const char *argv[] = { th_agent_bin(), "--uninstall", "--pin-dir", a->pin_dir, NULL };
	char out[PATH_MAX + 64];
	int rc;

	if (!argv[0])
		return -1;
	snprintf(out, sizeof(out), "%s/%s-uninstall.log", a->dir, a->tag);
	unlink(out);
	rc = th_run_cmd(argv, out, out, UNINSTALL_MS);
	if (rc)
		th_print_tail("cruise-agent --uninstall", out, 2000);
	return rc;
}

void th_agent_cleanup(struct th_agent *a)
{
	th_agent_kill(a, SIGKILL);
	if (a->maps_open)
		cruise_maps_close(&a->maps);
	a->maps_open = false;
	if (a->pin_dir[0] && !access(a->pin_dir, F_OK)) {
		int rc = th_agent_uninstall(a);

		if (rc)
			fprintf(stderr, "teardown: --uninstall --pin-dir %s: exit %d\n", a->pin_dir,
				rc);
	}
}

char *th_agent_log(const struct th_agent *a)
{
	return th_slurp(a->log);
}

void th_agent_print_log(const struct th_agent *a, size_t bytes)
{
	th_print_tail("agent log", a->log, bytes);
}

int th_agent_log_lines(const struct th_agent *a, const char *n1, const char *n2)
{
	char *text = th_agent_log(a);
	int n = th_find_line(text, n1, n2, 0, NULL, 0);

	free(text);
	return n;
}

int th_agent_wait_line(struct th_agent *a, const char *n1, const char *n2, int nth, int timeout_ms,
		       char *out, size_t len)
{
	__u64 deadline = cruise_now_ns() + timeout_ms * NSEC_PER_MSEC;
	bool alive = true;

	for (;;) {
		char *text = th_agent_log(a);
		int at = th_find_line(text, n1, n2, nth, out, len);

		free(text);
		if (at >= 0)
			return at;
		/* one more read after the agent died: it may have logged the line first */
		if (!alive || cruise_now_ns() > deadline)
			break;
		alive = th_agent_alive(a);
		if (alive)
			usleep(1000);
	}
	printf("no line with \"%s\"%s%s%s (#%d) within %d ms\n", n1, n2 ? " and \"" : "",
	       n2 ? n2 : "", n2 ? "\"" : "", nth, timeout_ms);
	th_agent_print_log(a, 6000);
	return -1;
}

int th_agent_healthz(const struct th_agent *a)
{
	char *body = NULL;
	int status = th_http_get(a->metrics_port, "/healthz", &body);

	free(body);
	return status;
}

char *th_agent_metrics(const struct th_agent *a)
{
	char *body = NULL;

	if (th_http_get(a->metrics_port, "/metrics", &body) != 200) {
		free(body);
		return NULL;
	}
	return body;
}

int th_agent_scrape(const struct th_agent *a, const char *series, double *v)
{
	char *body = th_agent_metrics(a);
	int err = 0;

	if (!body)
		return -EIO;
	if (!th_metric(body, series, v))
		err = -ENOENT;
	free(body);
	return err;
}

int th_agent_medium(const struct th_agent *a, const char *name, struct cruise_snapshot_medium *m)
{
	struct cruise_snapshot *s = calloc(1, sizeof(*s));
	int err = -ENOENT;

	if (!s)
		return -ENOMEM;
	if (!a->maps_open || cruise_snapshot_read(&a->maps, s))
		err = -EIO;
	for (unsigned int i = 0; err == -ENOENT && i < s->n_media; i++) {
		if (strncmp(s->media[i].cfg.name, name, sizeof(s->media[i].cfg.name)))
			continue;
		*m = s->media[i];
		err = 0;
	}
	free(s);
	return err;
}

int th_sandbox_setup(struct th_sandbox *s, const char *prefix, unsigned int flags)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->target.fd = -1;
	th_unique_name(s->name, sizeof(s->name), prefix);
	err = cruise_ensure_bpffs(BPFFS);
	if (err)
		goto fail;
	snprintf(s->tmp, sizeof(s->tmp), "/tmp/%s.XXXXXX", s->name);
	if (!mkdtemp(s->tmp)) {
		err = -errno;
		s->tmp[0] = '\0';
		goto fail;
	}
	if (chmod(s->tmp, 0755)) {
		err = -errno;
		goto fail;
	}
	if (flags & TH_SANDBOX_SCOPE) {
		err = th_cgroup_create(&s->scope, NULL, s->name);
		if (err) {
			s->scope.path[0] = '\0'; /* not ours */
			goto fail;
		}
	}
	if (flags & TH_SANDBOX_TARGET) {
		err = th_listener_start(&s->target, "127.0.0.1", true, 4096);
		if (err) {
			s->target.fd = -1;
			goto fail;
		}
	}
	return 0;
fail:
	fprintf(stderr, "test set-up %s: %s\n", s->name, strerror(-err));
	th_sandbox_teardown(s);
	return err;
}

void th_sandbox_teardown(struct th_sandbox *s)
{
	th_listener_stop(&s->target);
	if (s->scope.path[0])
		th_cgroup_remove_tree(s->scope.path);
	s->scope.path[0] = '\0';
	if (s->tmp[0])
		th_rm_tree(s->tmp);
	s->tmp[0] = '\0';
}

int th_agent_conf_head(const struct th_sandbox *s, const struct th_agent *a, char *buf, size_t len)
{
	return snprintf(buf, len,
			"scope: /%s\n"
			"pin_dir: %s\n"
			"metrics: 127.0.0.1:%u\n"
			"targets:\n"
			"  - name: db\n"
			"    addresses: [127.0.0.1/32]\n"
			"    ports: [%u]\n",
			s->name, a->pin_dir, a->metrics_port, s->target.port);
}

int th_agent_sandbox_setup(struct th_sandbox *s, struct th_agent *a, const char *prefix,
			   const char *tag)
{
	int err = th_sandbox_setup(s, prefix, TH_SANDBOX_SCOPE | TH_SANDBOX_TARGET);

	if (err)
		return err;
	err = th_agent_init(a, s->name, s->tmp, tag, true);
	if (err)
		th_sandbox_teardown(s);
	return err;
}

void th_agent_sandbox_teardown(struct th_sandbox *s, struct th_agent *a)
{
	th_agent_cleanup(a);
	th_sandbox_teardown(s);
}
