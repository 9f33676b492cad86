// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "pg_fixture.h"

#define PG_SH_MS 60000 /* initdb and a start, or a stop */

const char *th_pg_sh(void)
{
	static char sh[PATH_MAX];
	static int err = 1;

	return th_find_once("CRUISE_PG_SH", "../scripts/pg.sh", sh, sizeof(sh), &err);
}

int th_pg_start(struct th_pg *p, const char *dir, const char *extra_opts, const char *log)
{
	const char *argv[] = { th_pg_sh(), "start", p->dir, NULL, NULL };
	char port[8];

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	p->port = th_free_port("127.0.0.1");
	if (!argv[0] || !p->port)
		return -1;
	snprintf(port, sizeof(port), "%u", p->port);
	argv[3] = port;
	if (extra_opts)
		setenv("PG_EXTRA_OPTS", extra_opts, 1);
	else
		unsetenv("PG_EXTRA_OPTS");
	if (th_run_cmd(argv, log, log, PG_SH_MS)) {
		th_print_tail("pg.sh start", log, 4000);
		return -1;
	}
	p->started = true;
	return 0;
}

void th_pg_stop(struct th_pg *p, const char *log)
{
	const char *argv[] = { th_pg_sh(), "stop", p->dir, NULL };

	if (!p->started || !argv[0])
		return;
	th_run_cmd(argv, log, log, PG_SH_MS);
	p->started = false;
}

static int pg_sh(struct th_pg *p, const char *cmd, const char *log)
{
	const char *argv[] = { th_pg_sh(), cmd, p->dir, NULL };

	if (!p->started || !argv[0])
		return -1;
	if (th_run_cmd(argv, log, log, PG_SH_MS)) {
		th_print_tail(cmd, log, 4000);
		return -1;
	}
	return 0;
}

int th_pg_halt(struct th_pg *p, const char *log)
{
	return pg_sh(p, "halt", log);
}

int th_pg_restart(struct th_pg *p, const char *log)
{
	return pg_sh(p, "restart", log);
}

pid_t th_pg_postmaster(const char *dir)
{
	char path[PATH_MAX + 32], *text;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/data/postmaster.pid", dir);
	text = th_slurp(path);
	pid = atoi(text);
	free(text);
	return pid > 0 ? pid : 0;
}
