/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Targets by host name (docs/design.md, "Targets by name"): a thread of its own resolves every
 * configured host (A and AAAA) through c-ares with the system's resolver configuration
 * (/etc/resolv.conf: servers, search domains, ndots; or another file, for tests), and again when
 * the records' TTL ends, within [CRUISE_RESOLVE_MIN_NS, CRUISE_RESOLVE_MAX_NS]. A failed lookup
 * (timeout, SERVFAIL, no records) keeps the host's last good addresses, and is retried after 1 s,
 * doubling up to CRUISE_RESOLVE_MAX_NS, +-25% jitter. Every query has a timeout; nothing here
 * blocks the main loop, which takes the results through an eventfd.
 *
 * c-ares looks in /etc/hosts and DNS in the order nsswitch.conf gives (an answer from the file has
 * a TTL of 0: again after 1 s); a host written as an address ("10.0.0.5", "::1") is taken as it is,
 * and asked about never. A failure's error is c-ares' words after the host: "db.example: Domain
 * name not found", "db.example: Timeout while contacting DNS servers", "db.example: Could not
 * contact DNS servers" (no answer at all).
 */
#ifndef CRUISE_RESOLVE_H
#define CRUISE_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "units.h" /* struct cruise_prefix */

#define CRUISE_RESOLVE_MIN_NS	  (1000000000ULL)	/* a TTL of 0 or 1 s: again after 1 s */
#define CRUISE_RESOLVE_MAX_NS	  (300 * 1000000000ULL) /* a long TTL: again after 5 min */
#define CRUISE_RESOLVE_TIMEOUT_MS 2000 /* per lookup, all servers and tries included */
#define CRUISE_RESOLVE_MAX_ADDRS  64   /* per host */

/* What is known of one host now. */
struct cruise_resolved {
	char *host;
	struct cruise_prefix
		addrs[CRUISE_RESOLVE_MAX_ADDRS]; /* the last good answer, full length */
	unsigned int n_addrs;			 /* 0: never resolved */
	__u64 confirmed_ns; /* CLOCK_MONOTONIC of the last good answer; 0: none yet */
	__u64 next_ns;	    /* when it is looked up again */
	bool failing;	    /* the last lookup failed (the addresses are the last good ones) */
	char error[128];    /* the last failure, one line */
	/* since the resolver started: lookups begun, failed ones, changes of the address set */
	__u64 lookups, failures, changes;
};

struct cruise_resolver;

/* resolv_conf: NULL for the system's. NULL and err on failure (c-ares could not start). */
struct cruise_resolver *cruise_resolver_start(const char *resolv_conf, char *err, size_t errlen);
/*
 * The same with the name servers given: servers ("127.0.0.1:5353", "[::1]:53", "10.0.0.2",
 * comma separated; c-ares' ares_set_servers_ports_csv) in place of resolv_conf's, whose search
 * domains and options still apply; NULL: resolv_conf's. For tests, and the agent's test-only
 * option: c-ares 1.18 reads no port from resolv.conf (it skips "nameserver 127.0.0.1:5353" as not
 * an address), so a server on a port other than 53 can only be given here.
 */
struct cruise_resolver *cruise_resolver_start_servers(const char *resolv_conf, const char *servers,
						      char *err, size_t errlen);
/*
 * Follow the config: these hosts from now on (copied). Hosts kept keep what was learned; new
 * ones are looked up at once; gone ones are dropped.
 */
void cruise_resolver_set_hosts(struct cruise_resolver *r, const char *const *hosts, size_t n);
/* Readable when the table changed (addresses, or a failure began or ended). */
int cruise_resolver_fd(struct cruise_resolver *r);
/* The main loop: a copy of the table, the eventfd drained; free with cruise_resolved_free. */
int cruise_resolver_take(struct cruise_resolver *r, struct cruise_resolved **out, size_t *n);
/* Anyone else (/metrics): a copy, the eventfd left to the main loop. 0 or -ENOMEM. */
int cruise_resolver_table(struct cruise_resolver *r, struct cruise_resolved **out, size_t *n);
void cruise_resolved_free(struct cruise_resolved *t, size_t n);
void cruise_resolver_stop(struct cruise_resolver *r);

#endif /* CRUISE_RESOLVE_H */
