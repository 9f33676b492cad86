/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Refusal events from the cruise_events ring buffer, logged one structured line each (JSON lines,
 * or text for people), rate-limited per medium so that a storm cannot flood the log.
 */
#ifndef CRUISE_EVENTLOG_H
#define CRUISE_EVENTLOG_H

#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

#include "cruise.h"

enum cruise_log_format {
	CRUISE_LOG_JSON,
	CRUISE_LOG_TEXT,
};

struct cruise_eventlog;

/* Medium index to name; NULL when unknown (the line then carries the index). */
typedef const char *(*cruise_medium_name_fn)(void *ctx, __u32 medium);

/*
 * Consume the ring buffer map at ringbuf_fd. Lines go to out; cgroup ids are shown as paths
 * relative to cgroup_root (cruise_cgroup_path). Per medium at most per_sec lines a second with
 * bursts of burst lines; the rest are counted and reported in one line per medium and second
 * ("refusal log lines suppressed", with the count).
 */
struct cruise_eventlog *cruise_eventlog_new(int ringbuf_fd, FILE *out, enum cruise_log_format fmt,
					    const char *cgroup_root, cruise_medium_name_fn name_of,
					    void *ctx, unsigned int per_sec, unsigned int burst);
/* An fd that polls readable when events wait (for the agent's epoll loop). */
int cruise_eventlog_fd(struct cruise_eventlog *l);
/* Consume what is there, or wait up to timeout_ms; returns events handled or a negative errno. */
int cruise_eventlog_poll(struct cruise_eventlog *l, int timeout_ms);
/* Flush suppression reports that are due (call about once a second). */
void cruise_eventlog_tick(struct cruise_eventlog *l);
__u64 cruise_eventlog_suppressed(const struct cruise_eventlog *l);
void cruise_eventlog_free(struct cruise_eventlog *l);

/* Format one event as a line (no newline) into buf; exposed for tests and cruisectl events. */
void cruise_event_format(const struct cruise_event *e, enum cruise_log_format fmt,
			 const char *medium, const char *cgroup_path, char *buf, size_t len);

/*
 * The path (relative to root, "/" for the root itself) of the cgroup whose id (inode) is id,
 * walking the tree under root; results are cached. Returns -ENOENT when no such cgroup exists
 * (any more).
 */
int cruise_cgroup_path(const char *root, __u64 id, char *buf, size_t len);

#endif /* CRUISE_EVENTLOG_H */
