/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A throwaway PostgreSQL on loopback for the end-to-end test and the peer benchmark, through
 * scripts/pg.sh, the same script the demo and scripts/bench-peers.sh use: initdb in a fresh
 * directory, the server as Debian's "postgres" user on 127.0.0.1 and ::1, trust authentication,
 * no fsync; stopped and removed after.
 */
#ifndef CRUISE_TEST_PG_FIXTURE_H
#define CRUISE_TEST_PG_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct th_pg {
	char dir[PATH_MAX]; /* pg.sh's DIR: data/, the socket, server.log */
	uint16_t port;
	bool started;
};

/* scripts/pg.sh of this tree (../scripts beside this program), or $CRUISE_PG_SH; NULL if none. */
const char *th_pg_sh(void);
/*
 * pg.sh start DIR PORT at a free port, with extra server options (PG_EXTRA_OPTS, may be NULL);
 * pg.sh's output in log. 0, or -1 (and log printed).
 */
int th_pg_start(struct th_pg *p, const char *dir, const char *extra_opts, const char *log);
/* pg.sh stop DIR: stops the server and removes DIR. */
void th_pg_stop(struct th_pg *p, const char *log);
/*
 * pg.sh halt DIR: the server stops at once (its sessions cut), DIR stays; th_pg_restart (pg.sh
 * restart DIR) starts it again on the same port with the same options. 0, or -1 (log printed).
 */
int th_pg_halt(struct th_pg *p, const char *log);
int th_pg_restart(struct th_pg *p, const char *log);
/* The postmaster's pid from DIR/data/postmaster.pid (a server pg.sh started), or 0. */
pid_t th_pg_postmaster(const char *dir);

#endif /* CRUISE_TEST_PG_FIXTURE_H */
