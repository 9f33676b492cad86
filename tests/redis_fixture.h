/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A throwaway redis-server, the fleet's store, for the fleet tests and benchmarks. */
#ifndef CRUISE_TEST_REDIS_FIXTURE_H
#define CRUISE_TEST_REDIS_FIXTURE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A redis-server of Debian's on 127.0.0.1 at a free port, no persistence, in dir (its log there
 * too); extra: more "--option value" words (NULL-terminated, or NULL). th_redis_start waits until
 * it answers PING. th_redis_stop kills it (also a SIGSTOPped one) and reaps it.
 */
struct th_redis {
	pid_t pid;
	uint16_t port;
	char dir[PATH_MAX];
};
int th_redis_start(struct th_redis *r, const char *dir, uint16_t port, const char *const *extra);
void th_redis_stop(struct th_redis *r);
/* redis-cli against it: argv after "-p PORT" (NULL-terminated); output into out (may be NULL). */
int th_redis_cli(const struct th_redis *r, const char *const *args, char *out, size_t len);

#endif /* CRUISE_TEST_REDIS_FIXTURE_H */
