/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Strict parsers for what operators type: rates, durations, errno names, address prefixes, fleet
 * key prefixes; and the one quoting of such input in messages (cruise_quote). Shared by the agent's
 * config and by cruisectl; fuzzed (tests/fuzz_units.c). Every parser takes the whole string or
 * fails with a one-line reason in err; nothing is half-parsed.
 */
#ifndef CRUISE_UNITS_H
#define CRUISE_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "cruise.h" /* NSEC_PER_* */

/*
 * s for a one-line message: printable ASCII as it is, '"', '\\' and every other byte as \xNN (no
 * input can break the line); cut with "..." after as many bytes as fit escaped in len (a pasted
 * file cannot flood it): CRUISE_QUOTE_LEN(n) holds n bytes. Returns buf. The agent's config and
 * cruisectl quote user input with it, and so do the parsers here in their reasons.
 */
#define CRUISE_QUOTE_LEN(n) ((n)*4 + 8)
/* what the config and the parsers quote of an input at most: a pasted file stays one line */
#define CRUISE_QUOTE_MAX 64
const char *cruise_quote(const char *s, char *buf, size_t len);

/* "200/s", "30/m", "2/h", "1/d": a positive integer count per unit. Returns the interval 1/rate in
 * ns (rounded to nearest, at least 1 ns). Rejects 0, signs, spaces, fractions, unknown units,
 * overflow, trailing characters ("5/s/s"). */
int cruise_parse_rate(const char *s, __u64 *interval_ns, char *err, size_t errlen);

/* "2s", "250ms", "100us", "1m", "1h", "0s", "0": a non-negative integer with a unit (a bare 0 is
 * allowed). At most CRUISE_DURATION_MAX_NS. */
#define CRUISE_DURATION_MAX_NS (24 * 3600 * NSEC_PER_SEC)
int cruise_parse_duration(const char *s, __u64 *ns, char *err, size_t errlen);

/* "ECONNREFUSED", "ETIMEDOUT", "EAGAIN", ... (the errnos a connect() may plausibly fail with). */
int cruise_parse_errno(const char *name, int *errnum, char *err, size_t errlen);
/* The name of an errno from the same table, or NULL. */
const char *cruise_errno_name(int errnum);

/* A decimal count with an upper bound ("20", not "-1", "1e3", "0x10", " 5"). */
int cruise_parse_count(const char *s, __u64 max, __u64 *out, char *err, size_t errlen);

/* A fleet's key prefix: 1 to 64 letters, digits, '.', '_', ':' and '-' (no braces, no globs). */
#define CRUISE_FLEET_PREFIX_MAX 64
bool cruise_fleet_prefix_ok(const char *s);

/* "on"/"off", "true"/"false", "yes"/"no", "1"/"0". */
int cruise_parse_bool(const char *s, bool *out, char *err, size_t errlen);

/* An address with an optional prefix length: "127.0.0.1/32", "10.0.0.0/8", "::1/128", "::1"
 * (no length: the full address). Host bits must be zero ("10.0.0.1/8" is rejected). */
struct cruise_prefix {
	int family;    /* AF_INET or AF_INET6 */
	__u8 addr[16]; /* 4 bytes for AF_INET */
	unsigned int len;
};
int cruise_parse_prefix(const char *s, struct cruise_prefix *p, char *err, size_t errlen);
/* The cruise_targets key of p at port (include/cruise_target.h's codec). */
struct cruise_target_key;
void cruise_prefix_key(struct cruise_target_key *k, const struct cruise_prefix *p, uint16_t port);

/* Human forms, for logs and cruisectl: "200/s" (or "30/m", ".../h" when not a whole number per
 * second), "250ms", "2s". */
void cruise_format_rate(__u64 interval_ns, char *buf, size_t len);
void cruise_format_duration(__u64 ns, char *buf, size_t len);

/*
 * A secret (a password) from a file: its first line without trailing whitespace. Only a regular
 * file is read, opened non-blocking (a FIFO or a device could hold up the caller, or never end).
 * 0 and *out (free it, zeroed first), or -errno and the reason in err, naming the file as shown
 * (the caller's quoted form): "cannot read SHOWN: No such file or directory", "SHOWN: the first
 * line is empty; expected the password". The secret itself is never in a message.
 */
#define CRUISE_SECRET_MAX 4096
int cruise_read_secret(const char *file, const char *shown, char **out, char *err, size_t errlen);

/*
 * A DNS name of n bytes: labels of 1 to 63 letters, digits and '-' (not at either end), 253
 * characters in all. A numeric last label is refused, so that "10.0.0.256" is not looked up.
 */
bool cruise_dns_name_ok(const char *s, size_t n);

#endif /* CRUISE_UNITS_H */
