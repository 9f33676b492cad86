// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruisectl's main: the tool's own options, and the table that dispatches to each command. */
/*
 * cruisectl: look at and adjust cruise straight from its pinned maps, with or without a running
 * agent. Everything it shows comes from the shared readers (snapshot.c for media and counters,
 * eventlog.c for events and cgroup paths, units.c for every figure), so that it says what the
 * agent's /metrics and logs say. The one thing it writes is one medium's limits (`set`), with one
 * map update after every argument has been checked. Each command is a file of its own,
 * cruisectl_<command>.c, with its argp and help (cruisectl.h).
 */
#include <argp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "config.h" /* CRUISE_DEFAULT_PIN_DIR */
#include "cruisectl.h"

static const struct cmd commands[] = {
	{ "status", cmd_status, &status_argp, 0, 0 },
	{ "top", cmd_top, &top_argp, 0, 0 },
	{ "set", cmd_set, &set_argp, 1, UINT_MAX },
	{ "bindings", cmd_bindings, &bindings_argp, 0, 0 },
	{ "targets", cmd_targets, &targets_argp, 0, 0 },
	{ "events", cmd_events, &events_argp, 0, 0 },
	{ "fleet", cmd_fleet, &fleet_argp, 0, 0 },
};

/* The command named name, or NULL. */
static const struct cmd *cmd_select(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

static int cmd_index = -1; /* of the command word in argv */

/* The command word ends the tool's own options: the rest goes to the command's argp. */
static error_t parse_top(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case ARGP_KEY_ARG:
		opts.cmd = cmd_select(arg);
		if (!opts.cmd)
			argp_error(state, "unknown command \"%s\"", arg);
		cmd_index = state->next - 1;
		state->next = state->argc;
		return 0;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "a command is needed");
		return 0;
	default:
		return parse_common(key, arg, state);
	}
}

static const struct argp top_level_argp = {
	common_options,
	parse_top,
	"COMMAND [ARGS...]",
	"cruisectl: look at and adjust cruise's connection pacing, straight from the maps pinned "
	"under " CRUISE_DEFAULT_PIN_DIR " (--pin-dir), with or without a running cruise-agent. "
	"Run it as root.\v"
	"COMMANDS:\n"
	"  status     every medium's limits, open connections, backlog and counters\n"
	"  top        the same, refreshed every second, with rates per second\n"
	"  set        change a medium's limits until the agent's next config reload\n"
	"  bindings   the cgroups bound to media, with their paths\n"
	"  targets    the database addresses and ports that are paced\n"
	"  events     follow refusals live (when no agent runs)\n"
	"  fleet      the fleet store: each fleet medium's rate, nodes, shares and leases\n"
	"\n"
	"EXAMPLES:\n"
	"  cruisectl status\n"
	"  cruisectl top\n"
	"  cruisectl set push rate=100/s max_wait=2s\n"
	"  cruisectl bindings\n"
	"  cruisectl events --count 10\n"
	"  cruisectl fleet --redis 127.0.0.1:6379\n"
	"  cruisectl set --help         what a command takes",
	NULL,
	NULL,
	NULL
};

int main(int argc, char **argv)
{
	char name[64];
	char **sub;
	int n, ret;

	/* the tool's errors are one line each; libbpf's own messages would add more */
	libbpf_set_print(NULL);
	if (argp_parse(&top_level_argp, argc, argv, ARGP_IN_ORDER, NULL, NULL))
		return 1;
	/* argv[0] names the command, so that its usage and errors read "cruisectl set" */
	n = argc - cmd_index;
	sub = calloc(n + 1, sizeof(*sub));
	opts.args = calloc(n, sizeof(*opts.args));
	if (!sub || !opts.args) {
		fail("out of memory");
		return 1;
	}
	snprintf(name, sizeof(name), "cruisectl %s", opts.cmd->name);
	sub[0] = name;
	for (int i = 1; i < n; i++)
		sub[i] = argv[cmd_index + i];
	ret = argp_parse(opts.cmd->argp, n, sub, 0, NULL, NULL) ? 1 : opts.cmd->func();
	free(opts.args);
	free(sub);
	if (stop_signal)
		reraise(stop_signal);
	return ret;
}
