// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

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
