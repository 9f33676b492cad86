/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the probes share (probe.h is their API): each kind embeds struct cruise_probe first and
 * fills in its ops; probe.c dispatches. Plus the helpers every kind needs: the clock, the time
 * left, the strict number parser and one-line error messages. And the bounded name lookup
 * (probe_dns.c) the PostgreSQL probe needs, since libpq resolves host names blocking.
 */
#ifndef CRUISE_PROBE_INT_H
#define CRUISE_PROBE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "probe.h"

struct cruise_probe_ops {
	enum cruise_probe_error (*run)(struct cruise_probe *p, __u64 deadline_ns, double *value,
				       char *err, size_t errlen);
	void (*free)(struct cruise_probe *p);
};

struct cruise_probe {
	const struct cruise_probe_ops *ops;
};

/* CLOCK_MONOTONIC in ns: the deadlines' clock (cruise_now_ns(), without linking the loader). */
__u64 cruise_probe_now_ns(void);
/* The ms left before deadline_ns, rounded up (a poll() never ends early), 0 once it passed. */
int cruise_probe_ms_left(__u64 deadline_ns);
/*
 * A number as the servers print one: the whole string, decimal, finite ("1", "-2.5", "1e+21").
 * Rejects "", spaces, "NaN", "Infinity", "+Inf", hex ("0x10"), and overflow to infinity.
 */
bool cruise_probe_parse_number(const char *s, double *v);
/*
 * printf into err, made one line: control characters (the newlines and tabs of libpq's messages)
 * become spaces, runs of spaces one, no space at either end. Returns kind, for a tail call.
 */
enum cruise_probe_error cruise_probe_fail(enum cruise_probe_error kind, char *err, size_t errlen,
					  const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Replace every occurrence of secret (if not NULL nor empty) in s by "***", in place. */
void cruise_probe_redact(char *s, const char *secret);

/*
 * getaddrinfo(host) for TCP, bounded: it runs in a detached thread of its own, which the caller
 * waits for at most until deadline_ns (a lookup given up on finishes and frees itself there).
 * 0 and the numeric addresses in *addrs (an array of *n strings, free with
 * cruise_probe_addrs_free), -ETIMEDOUT, or another -errno and why in err.
 */
int cruise_probe_resolve(const char *host, __u64 deadline_ns, char ***addrs, size_t *n, char *err,
			 size_t errlen);
void cruise_probe_addrs_free(char **addrs, size_t n);

#endif /* CRUISE_PROBE_INT_H */
