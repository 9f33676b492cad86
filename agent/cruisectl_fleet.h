/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cruisectl fleet's data model, shared by its two files and by nothing else: what the store holds
 * for a fleet medium and its nodes, read from Redis (read-only) in cruisectl_fleet_store.c; shown
 * as text or JSON, with the options and cmd_fleet, in cruisectl_fleet.c.
 */
#ifndef CRUISE_CRUISECTL_FLEET_H
#define CRUISE_CRUISECTL_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "cruisectl.h" /* QUOTED_LEN */

struct redisContext; /* hiredis: cruisectl_fleet_store.c alone talks to Redis */

/* One node of one fleet medium, from the medium's five keys. */
struct fleet_node {
	char *name;
	bool record;  /* in the nodes hash */
	bool damaged; /* ... but not "want share fb small" */
	bool small;   /* wants no more than it is given: want is what it asked for */
	__u64 want, share, fb;
	bool has_rate;
	__u64 rate; /* the fleet rate in its config */
	bool leased, forgetting;
	double lease_end_ms, forget_ms; /* Redis clock */
};

struct fleet_medium {
	char name[CRUISE_NAME_LEN];
	char key[5][CRUISE_NAME_LEN + 96]; /* nodes, leases, forget, rates, agg */
	double now_ms;			   /* Redis TIME, when read */
	struct fleet_node *nodes;
	size_t n_nodes, cap;
	size_t records, leased;
	bool has_rate, has_claims;
	__u64 rate, claims, small_sum, small_n; /* milli-connections/s */
};

struct fleet_store {
	struct redisContext *c;
	const char *addr;
	char qaddr[QUOTED_LEN];
};

/*
 * The store at addr: "host:port", "[v6]:port" or a unix socket path; AUTH when there is a
 * password. 0, or -1 after a line.
 */
int fleet_store_connect(struct fleet_store *st, const char *addr, const char *user,
			const char *password);
void fleet_store_close(struct fleet_store *st);
/* fm (its name set) filled from its five keys and the store's clock; 0, or -1 after a line */
int fleet_read(struct fleet_store *st, const char *prefix, struct fleet_medium *fm);
/* The media with keys under prefix, sorted by name (SCAN); 0, or -1 after a line. */
int fleet_scan(struct fleet_store *st, const char *prefix, struct fleet_medium **out,
	       size_t *n_out);
void fleet_medium_free(struct fleet_medium *fm);

#endif /* CRUISE_CRUISECTL_FLEET_H */
