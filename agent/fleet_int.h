/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The fleet thread's own declarations, shared by its files and by nothing else (fleet.h is the
 * agent's API): the thread, its settings and the lease hand-over to the main loop in fleet.c; the
 * demand, pure, in fleet_demand.c; the Redis connections and the pipelined round trip in
 * fleet_store.c.
 */
#ifndef CRUISE_FLEET_INT_H
#define CRUISE_FLEET_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <linux/types.h>

#include "fleet.h"

#define NSEC	NSEC_PER_SEC /* cruise.h's, short */
#define MSEC	NSEC_PER_MSEC
#define HISTORY 64 /* samples kept per medium: 2 s at a 50 ms refresh */
#define CONNS	8  /* the store and the Redis Cluster nodes the media live on */

struct redisContext; /* hiredis: fleet_store.c alone talks to Redis */

/* A fleet medium as configured, and what this thread learned of it. */
struct fleet_medium {
	char name[CRUISE_NAME_LEN];
	__u32 index;
	__u64 interval_ns;	    /* the fleet rate in this node's config */
	__u64 fallback_interval_ns; /* configured; 0: rate / nodes */
	bool live;		    /* in the current config */
	/* demand: connects seen at each refresh */
	struct {
		__u64 t, attempts;
	} hist[HISTORY];
	unsigned int n_hist, head;
	__u64 last_attempts, last_delayed, last_refused;
	/* the last allocation */
	struct cruise_snapshot_fleet seen;
	__u64 lowest_said; /* the fleet rate last said to differ from ours */
	bool lease_said;   /* "pacing at the fallback" said since the last lease */
	unsigned int conn; /* where its keys live (a Redis Cluster node after MOVED), in conn[] */
	/* waiting for the main loop */
	bool pending;
	struct cruise_fleet_lease lease;
};

/* A connection to one Redis: the configured one, or a cluster node a medium's slot lives on. */
struct fleet_conn {
	char addr[128]; /* "host:port", "[v6]:port" or a socket path; "" unused */
	struct redisContext *rc;
	char sha[48]; /* the script, loaded on this node */
	__u64 retry_at_ns, backoff_ms;
};

struct fleet_settings {
	char *redis, *node, *prefix, *username, *password;
	__u64 refresh_ns, lease_ns, forget_ns;
};

struct cruise_fleet {
	struct cruise_maps maps;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int efd;
	bool stop;
	/* under lock: config from the main loop, results for it, stats for /metrics */
	struct fleet_settings set;
	__u64 set_generation;
	struct fleet_medium media[CRUISE_MAX_MEDIA];
	unsigned int n_media;
	bool store_up;
	__u64 errors, forgotten;
	/* the thread's own: [0] the configured store, then Redis Cluster nodes named by MOVED */
	struct fleet_conn conn[CONNS];
	__u64 said_ns;
	char said[256];
};

/*
 * One medium's call, appended to the pipeline. The medium is found again by name under the lock
 * when its reply comes: a reload may rewrite the table while the round trip is out.
 */
struct fleet_call {
	char name[CRUISE_NAME_LEN];
	unsigned int conn; /* the Redis its keys live on, in conn[] */
	char keys[5][CRUISE_NAME_LEN + 96];
	char rate[24], want[24], fb[24], lease[24], forget[24], fb_now[24];
	__s64 want_milli;
	__u64 demand_milli;
	bool done; /* answered, or its Redis away, in this refresh */
};

/* fleet_demand.c: m's demand at this refresh from its counters (sm), added to its history */
void fleet_sample(struct fleet_medium *m, const struct cruise_snapshot_medium *sm, __u64 now,
		  struct cruise_fleet_demand *d);

/* fleet_store.c */

void fleet_disconnect(struct fleet_conn *c);
/*
 * The n calls, one pipelined round trip per Redis their media live on, following MOVED; a reply
 * in the script's shape goes to fleet_take_lease. True when the store answered with one.
 */
bool fleet_round_trip(struct cruise_fleet *f, const struct fleet_settings *s,
		      struct fleet_call *calls, unsigned int n);

/* fleet.c */

/* The fleet medium of that name in the current table, under f->lock; NULL when gone. */
struct fleet_medium *fleet_find_medium(struct cruise_fleet *f, const char *name);
/* A checked reply's share, fallback, fleet rate and nodes (v[0..3]): the lease for the main loop */
void fleet_take_lease(struct cruise_fleet *f, const struct fleet_settings *s,
		      const struct fleet_call *c, const long long v[5], __u64 sent_ns);

#endif /* CRUISE_FLEET_INT_H */
