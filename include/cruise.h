/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types shared by the BPF programs and user space. Every map key and value is a named struct so
 * that `bpftool map dump` prints field names through BTF. Changing a layout here changes the pinned
 * maps: bump CRUISE_ABI_VERSION, which the loader writes into cruise_meta, so that maps pinned by
 * another layout are refused instead of misread.
 */
#ifndef CRUISE_H
#define CRUISE_H

#ifndef __VMLINUX_H__
#include <linux/bpf.h> /* struct bpf_spin_lock */
#include <linux/types.h>
#endif

#define CRUISE_ABI_VERSION 2

/* The one entry of cruise_meta: what layout the maps pinned beside it have. */
struct cruise_meta {
	__u32 abi_version; /* CRUISE_ABI_VERSION of the build that created the maps; never moves */
};

#define CRUISE_MAX_MEDIA    64
#define CRUISE_MAX_TARGETS  1024
#define CRUISE_MAX_BINDINGS 16384
#define CRUISE_NAME_LEN	    32
#define CRUISE_COMM_LEN	    16
/* Cgroup levels walked up from a socket's cgroup to find a bound ancestor. */
#define CRUISE_MAX_CGROUP_DEPTH 16

/* Time units: every clock of both sides (bpf_ktime_get_ns, CLOCK_MONOTONIC) counts ns. */
#define NSEC_PER_USEC 1000ULL
#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_SEC  1000000000ULL

/* Why a connect was refused. Shared with the agent's logs and metrics: append, never renumber. */
enum cruise_reason {
	CRUISE_REASON_NONE = 0,
	CRUISE_REASON_MAX_WAIT = 1,  /* its slot was further away than the medium's max_wait */
	CRUISE_REASON_MAX_CONNS = 2, /* the medium already had max_conns open connections */
	CRUISE_REASON_COUNT,
};

/* cruise_medium.flags */
/* slot in use; inactive media pace nothing */
#define CRUISE_MEDIUM_ACTIVE (1u << 0)
/* count what would be delayed or refused, enforce nothing */
#define CRUISE_MEDIUM_DRY_RUN (1u << 1)

/*
 * Database targets, in an LPM trie. Every address is stored as IPv6 (IPv4 as ::ffff:a.b.c.d) after
 * the port, so that one lookup serves IPv4, IPv6 and IPv4-mapped IPv6 destinations:
 * prefixlen = 16 (port) + 96 + IPv4 prefix, or 16 + IPv6 prefix. Made by cruise_target.h only.
 */
struct cruise_target_key {
	__u32 prefixlen;
	__u16 port; /* host byte order; always fully matched */
	__u8 addr[16];
	__u16 pad;
};

struct cruise_target {
	__u32 id; /* index of the target in the config, for reports */
	__u32 pad;
};

struct cruise_binding_key {
	__u64 cgroup_id;
};

struct cruise_binding {
	__u32 medium; /* index into cruise_media */
	__u32 pad;
};

/* Limits of one medium; written by user space, read by the programs. */
struct cruise_medium {
	__u64 interval_ns; /* 1 s / rate */
	__u64 burst;	   /* connections allowed at once above the rate */
	__u64 max_wait_ns; /* longest hold; beyond it the connect is refused */
	__u32 max_conns;   /* open connections at most; 0 = no limit */
	__s32 refuse_errno;
	__u32 flags; /* CRUISE_MEDIUM_* */
	__u32 pad;
	/*
	 * Fleet media: interval_ns is this node's leased share, good until lease_end_ns
	 * (bpf_ktime_get_ns clock); from then on the datapath paces at fallback_interval_ns by
	 * itself, so a node whose agent died or lost the store gives its share back on time.
	 * lease_end_ns 0: no lease, interval_ns always.
	 */
	__u64 lease_end_ns;
	__u64 fallback_interval_ns;
	char name[CRUISE_NAME_LEN];
};

/* Pacing state of one medium; only the programs write it, so a limit change never resets it. */
struct cruise_medium_state {
	struct bpf_spin_lock lock;
	__u16 held_last;   /* the last reservation was held: its lateness is ours (cruise_gcra.h) */
	__u16 dry_last;	   /* the last reservation was a dry run: its backlog is fictional */
	__u64 tat_ns;	   /* theoretical arrival time, bpf_ktime_get_ns() clock */
	__u64 interval_ns; /* the interval tat was scheduled with (cruise_gcra_retune) */
	__s64 open_conns;
};

/*
 * Upper bounds of the delay histogram's buckets, in ms (Prometheus "le"); the last bucket is +Inf.
 * Admitted connects with no hold fall in the first bucket.
 */
#define CRUISE_DELAY_BUCKETS	      12
#define CRUISE_DELAY_BUCKET_BOUNDS_MS 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000

/* Per-CPU counters per medium; user space sums the CPUs. */
struct cruise_counters {
	__u64 connections;	/* connects to a target from a bound cgroup */
	__u64 admitted_now;	/* let through with no hold */
	__u64 delayed;		/* held until their slot */
	__u64 delay_ns;		/* sum of the holds */
	__u64 refused_max_wait; /* CRUISE_REASON_MAX_WAIT */
	__u64 refused_max_conns;
	__u64 dry_run_passed; /* would have been delayed or refused, let through by dry-run */
	__u64 closed;	      /* admitted connections that have ended */
	__u64 events_lost;    /* refusal events the ring buffer had no room for */
	__u64 fallback;	      /* connects decided at the fallback rate: the lease had ended */
	__u64 delay_buckets[CRUISE_DELAY_BUCKETS]; /* admitted connects by hold, not cumulative */
};

/* cruise_target_src.kind: where a target's address came from. */
enum cruise_target_kind {
	CRUISE_TARGET_CONFIGURED = 0, /* addresses: in the config */
	CRUISE_TARGET_HOST = 1,	      /* a host name's A or AAAA record */
	CRUISE_TARGET_SERVICE = 2,    /* a Kubernetes Service's ClusterIP or ready endpoint */
	CRUISE_TARGET_KIND_COUNT,
};

#define CRUISE_HOST_LEN 64 /* of a host name as shown (longer ones cut) */

/*
 * Where each key of cruise_targets came from, for cruisectl targets; only user space reads and
 * writes it (the agent, at every change of the targets).
 */
struct cruise_target_src {
	__u64 confirmed_ns; /* CLOCK_MONOTONIC of the answer that last named it; 0: configured */
	__u32 target;	    /* index of the target in the config */
	__u32 kind;	    /* enum cruise_target_kind */
	char name[CRUISE_HOST_LEN];
};

/* cruise_adaptive.decision: what the controller did at its last round. */
enum cruise_adapt_decision {
	CRUISE_ADAPT_NONE = 0, /* no round yet */
	CRUISE_ADAPT_UP = 1,
	CRUISE_ADAPT_DOWN = 2,
	CRUISE_ADAPT_HOLD = 3,
	CRUISE_ADAPT_DECISION_COUNT,
};

/* cruise_adaptive.why: the reason for the decision. Append, never renumber. */
enum cruise_adapt_why {
	CRUISE_ADAPT_WHY_NONE = 0,
	CRUISE_ADAPT_WHY_HEALTHY = 1,	   /* the signal at or under its target: grow */
	CRUISE_ADAPT_WHY_UNHEALTHY = 2,	   /* over its target: back off */
	CRUISE_ADAPT_WHY_CEILING = 3,	   /* healthy, at the ceiling already */
	CRUISE_ADAPT_WHY_FLOOR = 4,	   /* unhealthy, at the floor already */
	CRUISE_ADAPT_WHY_PRIORITY = 5,	   /* unhealthy; a lower priority gives way first */
	CRUISE_ADAPT_WHY_PROBE_FAILED = 6, /* the probe failed: counted as unhealthy */
	CRUISE_ADAPT_WHY_SIGNAL_LOST = 7,  /* failed too many rounds in a row: the rate holds */
	CRUISE_ADAPT_WHY_COUNT,
};

/* cruise_adaptive.flags */
#define CRUISE_ADAPT_ACTIVE (1u << 0) /* the medium's rate is adaptive */

/*
 * An adaptive medium's controller (agent/adaptive.h), by medium index. Only user space reads and
 * writes it: the agent at every round, cruisectl set for the ceiling and the floor. Rates as
 * intervals (1 s / rate), as in cruise_medium; the signal's numbers in millionths.
 */
struct cruise_adaptive {
	__u64 ceiling_interval_ns; /* the configured rate: never faster */
	__u64 floor_interval_ns;   /* min_rate: never slower */
	__u64 rate_interval_ns;	   /* the adapted rate (a fleet medium's: the fleet rate it asks) */
	__s64 value_micro;	   /* the signal's last good value x 1e6 */
	__s64 target_micro;
	__u64 decided_ns; /* CLOCK_MONOTONIC of the last round */
	__u32 flags;	  /* CRUISE_ADAPT_* */
	__u32 priority;	  /* lower gives way first */
	__u32 decision;	  /* enum cruise_adapt_decision */
	__u32 why;	  /* enum cruise_adapt_why */
	__u32 failures;	  /* probes failed in a row */
	__u32 pad;
	char signal[CRUISE_NAME_LEN];
};

/* One refusal, sent through the cruise_events ring buffer. */
struct cruise_event {
	__u64 ts_ns;
	__u64 cgroup_id;
	__u64 wait_ns; /* the hold it would have needed (max_wait refusals) */
	__u32 pid;
	__u32 medium;
	__u32 reason; /* enum cruise_reason */
	__s32 err;    /* errno the connect failed with; 0 in dry-run */
	__u16 family; /* AF_INET or AF_INET6 as the application asked */
	__u16 dport;  /* host byte order */
	__u8 daddr[16];
	__u8 dry_run;
	__u8 pad[7];
	char comm[CRUISE_COMM_LEN];
};

/* Flags in cruise_sk.flags */
#define CRUISE_SK_COUNTED (1u << 0) /* counted in open_conns: release it exactly once */
#define CRUISE_SK_HELD	  (1u << 1) /* SYN held until slot_ns */

/* Per-socket state of an admitted connection (socket-local storage). */
struct cruise_sk {
	__u64 slot_ns; /* the SYN may leave from here on */
	__u32 medium;
	__u32 flags;	     /* CRUISE_SK_*; changed atomically */
	__u32 stage_jiffies; /* SYN timeout answered at every TIMEOUT_INIT */
	__u32 syns;	     /* SYN transmissions seen at egress */
};

#endif /* CRUISE_H */
