// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruisectl events: refusal events followed live from the ring buffer, in the agent's format. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "cruisectl.h"
#include "eventlog.h"
#include "loader.h" /* cruise_cgroup2_root, cruise_now_ns */
#include "units.h"

#define LINE_LEN 8192

/* returned by the ring buffer callback to stop consuming right after the last wanted event */
#define EVENTS_ENOUGH (-ECANCELED)

struct events_ctx {
	const struct cruise_maps *maps;
	struct cruise_snapshot *names; /* media names, refreshed at most once a second */
	bool have_root;
	char root[PATH_MAX];
	__u64 seen;
	bool write_failed;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct events_ctx *c = ctx;
	char line[LINE_LEN], path[PATH_MAX], name[CRUISE_NAME_LEN + 16];
	const struct cruise_snapshot_medium *sm;
	struct cruise_event e;

	if (size < sizeof(e)) /* not ours; longer ones are from newer programs: read their start */
		return 0;
	memcpy(&e, data, sizeof(e));
	sm = find_index(c->names, e.medium);
	if ((!sm || cruise_now_ns() - c->names->taken_ns > NSEC_PER_SEC) &&
	    !cruise_snapshot_read(c->maps, c->names))
		sm = find_index(c->names, e.medium);
	cruise_event_format(
		&e, opts.out == OUT_JSON ? CRUISE_LOG_JSON : CRUISE_LOG_TEXT,
		sm ? medium_label(&sm->cfg, sm->index, name, sizeof(name)) : NULL,
		c->have_root && !cruise_cgroup_path(c->root, e.cgroup_id, path, sizeof(path))
			? path
			: NULL,
		line, sizeof(line));
	printf("%s\n", line);
	if (flush_out()) {
		c->write_failed = true;
		return EVENTS_ENOUGH;
	}
	c->seen++;
	return opts.count && c->seen >= opts.count ? EVENTS_ENOUGH : 0;
}

int cmd_events(void)
{
	static struct cruise_snapshot names;
	struct events_ctx c = { .names = &names };
	struct ring_buffer *rb = NULL;
	__u64 deadline = opts.timeout_ns ? cruise_now_ns() + opts.timeout_ns : UINT64_MAX;
	struct cruise_maps m;
	sigset_t wait_mask;
	char iv[32];
	int ret = 1, err;

	if (open_maps(&m))
		return 1;
	c.maps = &m;
	c.have_root = !cruise_cgroup2_root(c.root, sizeof(c.root));
	if (take_snapshot(&m, &names))
		goto out;
	setup_signals(&wait_mask);
	rb = ring_buffer__new(m.events, on_event, &c, NULL);
	if (!rb) {
		fail("cannot read the events ring buffer: %s", strerror(errno));
		goto out;
	}
	/* events already waiting first, then as they come */
	for (;;) {
		err = ring_buffer__consume(rb);
		if (err == EVENTS_ENOUGH || stop_signal)
			break;
		if (err < 0) {
			fail("cannot read the events ring buffer: %s", strerror(-err));
			goto out;
		}
		if (wait_until(deadline, false, ring_buffer__epoll_fd(rb), &wait_mask) ||
		    cruise_now_ns() >= deadline)
			break;
	}
	ret = c.write_failed ? 1 : 0;
	if (opts.count && c.seen < opts.count && !stop_signal && !c.write_failed) {
		cruise_format_duration(opts.timeout_ns, iv, sizeof(iv));
		fail("events: %llu of %llu events before the timeout (%s)",
		     (unsigned long long)c.seen, (unsigned long long)opts.count, iv);
		ret = 1;
	}
out:
	ring_buffer__free(rb);
	cruise_maps_close(&m);
	return ret;
}

static const struct argp_option events_options[] = {
	OUTPUT_OPTION("JSON lines"),
	{ "count", OPT_COUNT, "N", 0, "Stop after N events", 0 },
	{ "timeout", OPT_TIMEOUT, "SECONDS", 0,
	  "Stop after this long (\"5\" or a duration: 500ms, 2m); with --count, fewer than N "
	  "events by then is an error",
	  0 },
	{},
};

const struct argp events_argp = {
	events_options,
	parse_sub,
	NULL,
	"Follow refusal events live, one line each (the agent's log format), until Ctrl-C, "
	"--count or --timeout. Events that wait in the ring buffer come first.\n"
	"\n"
	"A ring buffer has one consumer: while cruise-agent runs, it consumes the events and "
	"they are in its log (journalctl -u cruise-agent, kubectl logs); cruisectl events would "
	"only take some of them away from it. Use it when no agent runs.\v"
	"EXAMPLES:\n"
	"  cruisectl events\n"
	"  cruisectl events -o json --count 10\n"
	"  cruisectl events --count 1 --timeout 5",
	common_children,
	NULL,
	NULL
};
