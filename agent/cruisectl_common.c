// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruisectl's shared helpers: the common options, one-line errors and JSON strings, the maps. */
#define _GNU_SOURCE
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h" /* CRUISE_DEFAULT_PIN_DIR */
#include "cruisectl.h"
#include "log.h" /* cruise_json_escape */
#include "units.h"

struct cruisectl_opts opts = { .pin_dir = CRUISE_DEFAULT_PIN_DIR, .interval_ns = NSEC_PER_SEC };

/* output */

void fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("cruisectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void put_json_str(FILE *f, const char *s)
{
	char buf[PATH_MAX * 2] = "";

	cruise_json_escape(buf, sizeof(buf), s);
	fprintf(f, "\"%s\"", buf);
}

int flush_out(void)
{
	if (fflush(stdout) || ferror(stdout)) {
		/* a closed pipe (| head) is the reader's choice, not an error worth a line */
		if (errno != EPIPE)
			fail("cannot write the output: %s", strerror(errno));
		return -EIO;
	}
	return 0;
}

/* maps */

int open_maps(struct cruise_maps *m)
{
	char q[QUOTED_LEN];
	int err;

	/* before touching a map: as another user every bpf() call would fail, less clearly */
	if (geteuid() != 0) {
		fail("must run as root (the maps are pinned mode 0600)");
		return -EPERM;
	}
	err = cruise_maps_open_pinned(m, opts.pin_dir);
	if (!err)
		return 0;
	cruise_quote(opts.pin_dir, q, sizeof(q));
	if (err == -ENOENT || err == -ENOTDIR)
		fail("cruise is not loaded: no maps pinned under %s", q);
	else if (err == -EPROTO)
		fail("the maps pinned under %s are not the ones this cruisectl reads "
		     "(another version of cruise?)",
		     q);
	else
		fail("cannot open the maps pinned under %s: %s", q, strerror(-err));
	return err;
}

int take_snapshot(const struct cruise_maps *m, struct cruise_snapshot *s)
{
	int err = cruise_snapshot_read(m, s);

	if (err)
		fail("cannot read the maps: %s", strerror(-err));
	return err;
}

const char *medium_label(const struct cruise_medium *cfg, __u32 index, char *buf, size_t len)
{
	size_t n = strnlen(cfg->name, sizeof(cfg->name));

	if (n)
		snprintf(buf, len, "%.*s", (int)n, cfg->name);
	else
		snprintf(buf, len, "%u", index);
	return buf;
}

const struct cruise_snapshot_medium *find_index(const struct cruise_snapshot *s, __u32 i)
{
	for (unsigned int k = 0; k < s->n_media; k++)
		if (s->media[k].index == i)
			return &s->media[k];
	return NULL;
}

/* command line */

/* "5" is 5 s, as people write a timeout; anything else is a duration with its unit ("500ms"). */
static int parse_seconds(const char *s, __u64 *ns, char *err, size_t errlen)
{
	__u64 v;

	if (!cruise_parse_count(s, CRUISE_DURATION_MAX_NS / NSEC_PER_SEC, &v, NULL, 0)) {
		*ns = v * NSEC_PER_SEC;
		return 0;
	}
	return cruise_parse_duration(s, ns, err, errlen);
}

error_t parse_common(int key, char *arg, struct argp_state *state)
{
	char err[512];

	switch (key) {
	case OPT_PIN_DIR:
		opts.pin_dir = arg;
		break;
	case OPT_OUTPUT:
		if (!strcmp(arg, "json"))
			opts.out = OUT_JSON;
		else if (!strcmp(arg, "text"))
			opts.out = OUT_TEXT;
		else
			argp_error(state, "unknown output format \"%s\": json or text", arg);
		break;
	case OPT_COUNT:
		if (cruise_parse_count(arg, UINT64_MAX, &opts.count, err, sizeof(err)))
			argp_error(state, "--count: %s", err);
		if (!opts.count)
			argp_error(state, "--count: must be at least 1");
		break;
	case OPT_INTERVAL:
		if (parse_seconds(arg, &opts.interval_ns, err, sizeof(err)))
			argp_error(state, "--interval: %s", err);
		/* below a jiffy or two, the rates would be mostly noise */
		if (opts.interval_ns < 100 * NSEC_PER_MSEC)
			argp_error(state, "--interval: at least 100ms");
		break;
	case OPT_TIMEOUT:
		if (parse_seconds(arg, &opts.timeout_ns, err, sizeof(err)))
			argp_error(state, "--timeout: %s", err);
		if (!opts.timeout_ns)
			argp_error(state, "--timeout: must be above 0");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp_option common_options[] = {
	{ "pin-dir", OPT_PIN_DIR, "DIR", 0,
	  "Where cruise's maps are pinned (default " CRUISE_DEFAULT_PIN_DIR ")", 0 },
	{},
};

static const struct argp common_argp = {
	common_options, parse_common, NULL, NULL, NULL, NULL, NULL
};

const struct argp_child common_children[] = {
	{ &common_argp, 0, NULL, 0 },
	{},
};

error_t parse_sub(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case ARGP_KEY_ARG:
		if (opts.n_args >= opts.cmd->max_args)
			argp_error(state, "unexpected argument \"%s\"", arg);
		opts.args[opts.n_args++] = arg;
		return 0;
	case ARGP_KEY_END:
		if (opts.n_args < opts.cmd->min_args)
			argp_error(state, "missing argument");
		return 0;
	default:
		return parse_common(key, arg, state);
	}
}
