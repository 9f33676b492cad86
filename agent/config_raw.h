/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The config as read (config.c), before it is checked (config_check.c): every leaf a string, with
 * the line of its key (or of its entry, in a list), so that any check can say where. A line of 0
 * means "not given".
 */
#ifndef CRUISE_CONFIG_RAW_H
#define CRUISE_CONFIG_RAW_H

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "config.h"

struct raw_str {
	char *s; /* NULL: not given */
	unsigned int line;
};

struct raw_strs {
	struct raw_str *v;
	unsigned int n, line;
};

/* A list of mappings: v holds n raw_target or raw_medium. */
struct raw_maps {
	void *v;
	unsigned int n, line;
};

/* One of pods.matchLabels: value NULL and found set when the value is not a single value. */
struct raw_label {
	char *key, *value;
	const char *found;
	unsigned int line;
};

struct raw_labels {
	struct raw_label *v;
	unsigned int n, line;
	unsigned int value_line; /* the value's own, where "empty" or "not a mapping" is */
	const char *found;	 /* NULL: a mapping, else what was found */
};

/* Each mapping starts with its line: its key's, its entry's, or the document's. */
struct raw_pods {
	unsigned int line;
	struct raw_labels match;
};

/* targets[i].service: {namespace, name} */
struct raw_service {
	unsigned int line;
	struct raw_str namespace, name;
};

struct raw_target {
	unsigned int line;
	struct raw_str name;
	struct raw_strs addresses, hosts;
	struct raw_service service;
	struct raw_strs ports;
};

struct raw_adaptive {
	unsigned int line;
	struct raw_str signal, min_rate, priority, backoff;
};

struct raw_medium {
	unsigned int line;
	struct raw_str name, rate, burst, max_wait, max_conns, refuse_errno, dry_run;
	struct raw_strs cgroups;
	struct raw_pods pods;
	struct raw_str fleet, fallback_rate;
	struct raw_adaptive adaptive;
};

struct raw_postgres {
	unsigned int line;
	struct raw_str dsn_file, query, value;
};

struct raw_prometheus {
	unsigned int line;
	struct raw_str url, query, bearer_token_file;
};

struct raw_signal {
	unsigned int line;
	struct raw_str name, every, target;
	struct raw_postgres postgres;
	struct raw_prometheus prometheus;
};

struct raw_fleet {
	unsigned int line;
	struct raw_str redis, node, key_prefix, refresh, lease, forget_after, password_file,
		username, expected_nodes;
};

struct raw_config {
	unsigned int line;
	struct raw_str scope, pin_dir, metrics;
	struct raw_maps targets, media, signals;
	struct raw_fleet fleet;
};

struct cfg_ctx {
	const char *name;
	char *err;
	size_t errlen;
};

#define QBUF CRUISE_QUOTE_LEN(CRUISE_QUOTE_MAX)

/* "NAME:LINE: FIELD: problem" into c->err; returns -EINVAL. */
int cfg_fail(struct cfg_ctx *c, const char *field, unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* strdup, with a failure kept in *ret, so that a run of copies is checked once */
static inline char *cfg_strdup(const char *s, int *ret)
{
	char *d = strdup(s);

	if (!d)
		*ret = -ENOMEM;
	return d;
}

/* A target's, medium's or signal's name, checked (letters, digits, '_', '.', '-'), into out. */
int cfg_take_name(struct cfg_ctx *c, const char *path, const struct raw_str *v, char **out);
/* The fleet block into f, defaults filled in (config_fleet.c). */
int cfg_check_fleet(struct cfg_ctx *c, const struct raw_fleet *r, struct cruise_cfg_fleet *f);
/* The signals into cfg (config_adaptive.c), before the media that name them. */
int cfg_check_signals(struct cfg_ctx *c, const struct raw_maps *r, struct cruise_config *cfg);
/* A medium's adaptive block into m, against cfg's signals. */
int cfg_check_adaptive(struct cfg_ctx *c, unsigned int i, const struct raw_medium *r,
		       const struct cruise_config *cfg, struct cruise_cfg_medium *m);
void cfg_free_signals(struct cruise_config *cfg);
/* From what was read to a config, everything checked; *out only on success. */
int cfg_check(struct cfg_ctx *c, const struct raw_config *r, struct cruise_config **out);

#endif /* CRUISE_CONFIG_RAW_H */
