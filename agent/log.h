/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The agent's own log lines: JSON lines (default) or text, to stderr, with key/value fields. */
#ifndef CRUISE_LOG_H
#define CRUISE_LOG_H

#include <stdbool.h>
#include <stdio.h>

#include "eventlog.h"

enum cruise_log_level {
	CRUISE_LOG_DEBUG,
	CRUISE_LOG_INFO,
	CRUISE_LOG_WARN,
	CRUISE_LOG_ERROR,
};

void cruise_log_setup(FILE *out, enum cruise_log_format fmt, bool debug);
/* msg, then pairs of "key", "value" strings, ended by NULL. */
void cruise_log(enum cruise_log_level level, const char *msg, ...) __attribute__((sentinel));
/*
 * The time of a log line: RFC 3339 UTC with milliseconds. mono_ns, a time on the monotonic clock
 * (that of bpf_ktime_get_ns), is shown as its age taken off the wall clock now: right for an
 * event consumed live, and still right for one that waited in the ring buffer. 0 (or a time not
 * usable so): now.
 */
void cruise_log_time(char *buf, size_t len, __u64 mono_ns);
/*
 * Append s to buf (NUL-terminated, len bytes in all) as the body of a JSON string: quote,
 * backslash and control characters escaped, bytes that are not UTF-8 as U+FFFD; cut at the end of
 * buf between characters, never inside an escape. _append takes at most n bytes of s.
 */
void cruise_json_escape(char *buf, size_t len, const char *s);
void cruise_json_append(char *buf, size_t len, const char *s, size_t n);

#endif /* CRUISE_LOG_H */
