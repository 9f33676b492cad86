/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The Prometheus text exposition of a snapshot, and the HTTP endpoint that serves it. */
#ifndef CRUISE_EXPOSITION_H
#define CRUISE_EXPOSITION_H

#include <stdbool.h>
#include <stdio.h>

#include "snapshot.h"

/*
 * Write the snapshot in the text exposition format (0.0.4), with # HELP and # TYPE for each
 * family: per medium (label medium="name") cruise_connections_total, cruise_delayed_total,
 * cruise_refused_total{reason="max_wait"|"max_conns"}, cruise_delay_seconds (histogram from
 * delay_buckets and delay_ns), cruise_open_connections, cruise_rate_limit (connections per second),
 * cruise_backlog_seconds, cruise_dry_run; agent health: cruise_programs_attached,
 * cruise_config_generation, cruise_reload_failures_total, cruise_events_lost_total,
 * cruise_log_suppressed_total. Label values escaped as the format requires.
 */
void cruise_expose(FILE *out, const struct cruise_snapshot *s);

struct cruise_http;

/*
 * Serve GET /metrics (the exposition of a fresh snapshot from take()) and GET /healthz (200 "ok"
 * while healthy() says so, else 503) on "host:port" with libmicrohttpd in its own thread. Other
 * paths: 404; other methods: 405. Returns NULL with err set on a bad address or a busy port.
 */
struct cruise_http *cruise_http_start(const char *listen,
				      int (*take)(void *ctx, struct cruise_snapshot *s),
				      bool (*healthy)(void *ctx), void *ctx, char *err,
				      size_t errlen);
void cruise_http_stop(struct cruise_http *h);

#endif /* CRUISE_EXPOSITION_H */
