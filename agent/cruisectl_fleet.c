// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cruisectl fleet: what the fleet store (Redis) holds for each fleet medium, read-only. The store
 * is read in cruisectl_fleet_store.c; here the options, the media to read and the output.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h" /* cruise_config_load, CRUISE_FLEET_DEFAULT_PREFIX */
#include "cruisectl.h"
#include "cruisectl_fleet.h"
#include "units.h" /* cruise_read_secret */

#define FLEET_DEFAULT_CONFIG "/etc/cruise/cruise.yaml"

static struct {
	const char *config; /* NULL: FLEET_DEFAULT_CONFIG, unless --redis is given */
	const char *redis, *prefix, *password_file, *username;
} fleet_opts;

/* Milli-connections/s as people read them: "50/s", "12.5/s", "0.016/s". */
static void fmt_milli(__u64 milli, char *buf, size_t len)
{
	char frac[8];
	int n;

	if (!(milli % 1000)) {
		snprintf(buf, len, "%llu/s", (unsigned long long)(milli / 1000));
		return;
	}
	n = snprintf(frac, sizeof(frac), "%03llu", (unsigned long long)(milli % 1000));
	while (n > 1 && frac[n - 1] == '0')
		frac[--n] = '\0';
	snprintf(buf, len, "%llu.%s/s", (unsigned long long)(milli / 1000), frac);
}

/* The password: the first line of file, as the agent reads it (units.h). */
static int read_password_file(const char *file, char **out)
{
	char q[QUOTED_LEN], why[QUOTED_LEN + 96];

	cruise_quote(file, q, sizeof(q));
	if (!cruise_read_secret(file, q, out, why, sizeof(why)))
		return 0;
	fail("fleet: --password-file: %s", why);
	return -1;
}

/* A node's lease: "leased, 1.85s left", "ended, forgotten in 42.10s", ... */
static const char *fleet_lease_state(const struct fleet_medium *fm, const struct fleet_node *n,
				     char *buf, size_t len, double *ms)
{
	if (n->leased && n->lease_end_ms > fm->now_ms) {
		*ms = n->lease_end_ms - fm->now_ms;
		snprintf(buf, len, "leased, %.2fs left", *ms / 1000);
		return "leased";
	}
	if (n->leased) {
		/* the allocator moves it to forget at the next refresh of any node */
		*ms = fm->now_ms - n->lease_end_ms;
		snprintf(buf, len, "ended %.2fs ago, counted at its share until the next refresh",
			 *ms / 1000);
		return "expired";
	}
	if (n->forgetting && n->forget_ms > fm->now_ms) {
		*ms = n->forget_ms - fm->now_ms;
		snprintf(buf, len, "ended, forgotten in %.2fs", *ms / 1000);
		return "ended";
	}
	if (n->forgetting) {
		*ms = 0;
		snprintf(buf, len, "ended, forgotten at the next refresh");
		return "ended";
	}
	*ms = 0;
	snprintf(buf, len, "no lease");
	return "none";
}

static void fleet_node_figures(const struct fleet_node *n, char *want, char *share, char *fb,
			       char *rate, size_t len)
{
	if (!n->record || n->damaged) {
		snprintf(want, len, "-");
		snprintf(share, len, "-");
		snprintf(fb, len, "-");
	} else {
		if (n->small)
			fmt_milli(n->want, want, len);
		else
			snprintf(want, len, "more than its share");
		fmt_milli(n->share, share, len);
		fmt_milli(n->fb, fb, len);
	}
	if (n->has_rate)
		fmt_milli(n->rate, rate, len);
	else
		snprintf(rate, len, "-");
}

static void fleet_text(const struct fleet_medium *media, size_t n_media)
{
	char want[48], share[48], fb[48], rate[48], claims[48], state[96], nodes[24], leased[24];
	int mw = 6, nw = 4, ww = 4;
	bool any_nodes = false;
	double ms;

	for (size_t i = 0; i < n_media; i++) {
		int l = (int)strlen(media[i].name);

		mw = l > mw ? l : mw;
		for (size_t j = 0; j < media[i].n_nodes; j++) {
			const struct fleet_node *n = &media[i].nodes[j];

			l = (int)strlen(n->name);
			nw = l > nw ? l : nw;
			fleet_node_figures(n, want, share, fb, rate, sizeof(want));
			l = (int)strlen(want);
			ww = l > ww ? l : ww;
			any_nodes = true;
		}
	}
	printf("%-*s  %9s  %5s  %6s  %9s\n", mw, "MEDIUM", "RATE", "NODES", "LEASED", "CLAIMS");
	for (size_t i = 0; i < n_media; i++) {
		const struct fleet_medium *fm = &media[i];

		if (fm->has_rate)
			fmt_milli(fm->rate, rate, sizeof(rate));
		else
			snprintf(rate, sizeof(rate), "-");
		if (fm->has_claims)
			fmt_milli(fm->claims, claims, sizeof(claims));
		else
			snprintf(claims, sizeof(claims), "-");
		snprintf(nodes, sizeof(nodes), "%zu", fm->records);
		snprintf(leased, sizeof(leased), "%zu", fm->leased);
		printf("%-*s  %9s  %5s  %6s  %9s\n", mw, fm->name, rate, nodes, leased, claims);
	}
	if (any_nodes) {
		printf("\n%-*s  %-*s  %-*s  %9s  %9s  %11s  %s\n", mw, "MEDIUM", nw, "NODE", ww,
		       "WANT", "SHARE", "FALLBACK", "CONFIG_RATE", "LEASE");
		for (size_t i = 0; i < n_media; i++) {
			const struct fleet_medium *fm = &media[i];

			for (size_t j = 0; j < fm->n_nodes; j++) {
				const struct fleet_node *n = &fm->nodes[j];

				fleet_node_figures(n, want, share, fb, rate, sizeof(want));
				fleet_lease_state(fm, n, state, sizeof(state), &ms);
				printf("%-*s  %-*s  %-*s  %9s  %9s  %11s  %s%s\n", mw, fm->name, nw,
				       n->name, ww, want, share, fb, rate, state,
				       !n->record   ? " (no record)"
				       : n->damaged ? " (damaged record)"
						    : "");
			}
		}
	}
	/* what the figures do not say by themselves */
	for (size_t i = 0; i < n_media; i++) {
		const struct fleet_medium *fm = &media[i];

		if (!fm->n_nodes) {
			printf("%s: no node in the store (no agent has refreshed it lately, or "
			       "another key prefix)\n",
			       fm->name);
			continue;
		}
		if (fm->has_rate && fm->has_claims && fm->claims > fm->rate) {
			fmt_milli(fm->claims, claims, sizeof(claims));
			fmt_milli(fm->rate, rate, sizeof(rate));
			printf("%s: claims %s above the rate %s (a lower rate or a returning node: "
			       "shares shrink at the next refreshes)\n",
			       fm->name, claims, rate);
		}
		for (size_t j = 0; j < fm->n_nodes; j++)
			if (fm->has_rate && fm->nodes[j].has_rate &&
			    fm->nodes[j].rate != fm->rate) {
				fmt_milli(fm->rate, rate, sizeof(rate));
				printf("%s: the nodes' configs give different rates: the lowest, "
				       "%s, is in force\n",
				       fm->name, rate);
				break;
			}
	}
}

static void put_json_milli(const char *key, bool known, __u64 milli)
{
	char buf[48];

	if (!known) {
		printf(",\"%s\":null,\"%s_milli\":null", key, key);
		return;
	}
	fmt_milli(milli, buf, sizeof(buf));
	printf(",\"%s\":\"%s\",\"%s_milli\":%llu", key, buf, key, (unsigned long long)milli);
}

static void fleet_json(const struct fleet_store *st, const char *prefix, bool from_config,
		       const struct fleet_medium *media, size_t n_media)
{
	char state[96], tag[CRUISE_NAME_LEN + 80];
	double ms;

	printf("{\"redis\":");
	put_json_str(stdout, st->addr);
	printf(",\"prefix\":");
	put_json_str(stdout, prefix);
	printf(",\"media_from\":\"%s\",\"media\":[", from_config ? "config" : "scan");
	for (size_t i = 0; i < n_media; i++) {
		const struct fleet_medium *fm = &media[i];

		printf("%s{\"name\":", i ? "," : "");
		put_json_str(stdout, fm->name);
		/* the medium's hash tag: its keys are {prefix:medium}:nodes, leases, ... */
		snprintf(tag, sizeof(tag), "{%s:%s}", prefix, fm->name);
		printf(",\"keys\":");
		put_json_str(stdout, tag);
		printf(",\"time_ms\":%.0f", fm->now_ms);
		put_json_milli("rate", fm->has_rate, fm->rate);
		printf(",\"node_count\":%zu,\"leased\":%zu", fm->records, fm->leased);
		put_json_milli("claims", fm->has_claims, fm->claims);
		put_json_milli("small_sum", fm->has_claims, fm->small_sum);
		if (fm->has_claims)
			printf(",\"small_n\":%llu", (unsigned long long)fm->small_n);
		else
			printf(",\"small_n\":null");
		printf(",\"nodes\":[");
		for (size_t j = 0; j < fm->n_nodes; j++) {
			const struct fleet_node *n = &fm->nodes[j];
			bool ok = n->record && !n->damaged;
			const char *s = fleet_lease_state(fm, n, state, sizeof(state), &ms);

			printf("%s{\"node\":", j ? "," : "");
			put_json_str(stdout, n->name);
			printf(",\"record\":%s", !n->record ? "\"none\""
						 : ok	    ? "\"ok\""
							    : "\"damaged\"");
			printf(",\"wants_more\":%s", ok && !n->small ? "true" : "false");
			put_json_milli("want", ok && n->small, n->want);
			put_json_milli("share", ok, n->share);
			put_json_milli("fallback", ok, n->fb);
			put_json_milli("config_rate", n->has_rate, n->rate);
			printf(",\"state\":\"%s\"", s);
			if (!strcmp(s, "leased"))
				printf(",\"lease_left_ms\":%.0f", ms);
			else if (!strcmp(s, "expired"))
				printf(",\"lease_ended_ms_ago\":%.0f", ms);
			else if (!strcmp(s, "ended"))
				printf(",\"forget_in_ms\":%.0f", ms);
			printf(",\"text\":");
			put_json_str(stdout, state);
			putchar('}');
		}
		printf("]}");
	}
	printf("]}\n");
}

int cmd_fleet(void)
{
	struct cruise_config *cfg = NULL;
	struct fleet_medium *media = NULL;
	struct fleet_store st = {};
	const char *addr = fleet_opts.redis, *prefix = fleet_opts.prefix, *user = NULL;
	const char *path = fleet_opts.config, *password = NULL;
	char *file_password = NULL, err[1024], q[QUOTED_LEN];
	size_t n_media = 0;
	bool from_config = false;
	int ret = 1;

	/* the config, unless a store is named on the command line without one */
	if (path || !addr) {
		if (!path)
			path = FLEET_DEFAULT_CONFIG;
		if (cruise_config_load(path, &cfg, err, sizeof(err))) {
			if (!fleet_opts.config && access(path, F_OK))
				fail("fleet: no config at %s: give --config FILE, or --redis ADDR "
				     "(and --prefix) to look at a store",
				     path);
			else
				fail("fleet: %s", err);
			return 1;
		}
		if (!cfg->fleet && !addr) {
			fail("fleet: %s has no fleet: block: no medium is a fleet medium there "
			     "(--redis ADDR to look at a store)",
			     cruise_quote(path, q, sizeof(q)));
			goto out;
		}
		if (cfg->fleet) {
			from_config = true;
			if (!addr)
				addr = cfg->fleet->redis;
			if (!prefix)
				prefix = cfg->fleet->key_prefix;
			user = cfg->fleet->username;
			password = cfg->fleet->password;
		}
	}
	if (!prefix)
		prefix = CRUISE_FLEET_DEFAULT_PREFIX;
	if (!cruise_fleet_prefix_ok(prefix)) {
		fail("fleet: --prefix \"%s\": expected 1 to %d letters, digits, '.', '_', ':' and "
		     "'-'",
		     cruise_quote(prefix, q, sizeof(q)), CRUISE_FLEET_PREFIX_MAX);
		goto out;
	}
	if (fleet_opts.password_file) {
		if (read_password_file(fleet_opts.password_file, &file_password))
			goto out;
		password = file_password;
	}
	if (fleet_opts.username)
		user = fleet_opts.username;
	if (user && !password) {
		fail("fleet: a username needs a password (--password-file): Redis AUTH takes both");
		goto out;
	}
	if (fleet_store_connect(&st, addr, user, password))
		goto out;

	if (from_config) {
		media = calloc(cfg->n_media ? cfg->n_media : 1, sizeof(*media));
		if (!media) {
			fail("out of memory");
			goto out;
		}
		for (unsigned int i = 0; i < cfg->n_media; i++)
			if (cfg->media[i].fleet)
				snprintf(media[n_media++].name, sizeof(media->name), "%s",
					 cfg->media[i].name);
	} else if (fleet_scan(&st, prefix, &media, &n_media)) {
		goto out;
	}
	for (size_t i = 0; i < n_media; i++)
		if (fleet_read(&st, prefix, &media[i]))
			goto out;

	if (opts.out == OUT_JSON)
		fleet_json(&st, prefix, from_config, media, n_media);
	else if (!n_media && from_config)
		printf("no fleet media in %s\n", path);
	else if (!n_media)
		printf("no fleet media in the store at %s under the key prefix %s\n", st.qaddr,
		       prefix);
	else
		fleet_text(media, n_media);
	ret = flush_out() ? 1 : 0;
out:
	fleet_store_close(&st);
	for (size_t i = 0; i < n_media; i++)
		fleet_medium_free(&media[i]);
	free(media);
	if (file_password)
		explicit_bzero(file_password, strlen(file_password));
	free(file_password);
	cruise_config_free(cfg);
	return ret;
}

/* command line */

enum {
	OPT_CONFIG = 'c',
	OPT_REDIS = OPT_COMMAND_FIRST, /* long options only */
	OPT_PREFIX,
	OPT_PASSWORD_FILE,
	OPT_USERNAME,
};

static error_t parse_fleet_opt(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case OPT_CONFIG:
		fleet_opts.config = arg;
		return 0;
	case OPT_REDIS:
		if (!*arg)
			argp_error(state,
				   "--redis: empty: expected HOST:PORT, [IPv6]:PORT or a unix "
				   "socket path");
		fleet_opts.redis = arg;
		return 0;
	case OPT_PREFIX:
		fleet_opts.prefix = arg;
		return 0;
	case OPT_PASSWORD_FILE:
		fleet_opts.password_file = arg;
		return 0;
	case OPT_USERNAME:
		if (!*arg)
			argp_error(state, "--username: empty");
		fleet_opts.username = arg;
		return 0;
	default:
		return parse_sub(key, arg, state);
	}
}

static const struct argp_option fleet_options[] = {
	{ "config", OPT_CONFIG, "FILE", 0,
	  "The agent's config: the store, key prefix, credentials and fleet media of its fleet: "
	  "block (default " FLEET_DEFAULT_CONFIG ", unless --redis is given)",
	  0 },
	{ "redis", OPT_REDIS, "ADDR", 0,
	  "The store: HOST:PORT, [IPv6]:PORT or a unix socket path (instead of the config's); "
	  "without a config, the fleet media are found with SCAN",
	  0 },
	{ "prefix", OPT_PREFIX, "PREFIX", 0,
	  "Key prefix: keys are {PREFIX:MEDIUM}:... (default the config's, else cruise)", 0 },
	{ "password-file", OPT_PASSWORD_FILE, "FILE", 0,
	  "Redis AUTH with the first line of FILE (instead of the config's)", 0 },
	{ "username", OPT_USERNAME, "USER", 0, "Redis ACL user for AUTH (needs a password)", 0 },
	OUTPUT_OPTION("one JSON document"),
	{},
};

const struct argp fleet_argp = {
	fleet_options,
	parse_fleet_opt,
	NULL,
	"Show what the fleet store (Redis) holds for each fleet medium, read-only: the fleet "
	"rate in force (the lowest of the nodes' configs), the nodes, how many hold a lease, and "
	"the claims (the sum of what every counted node may use now) against the rate; then "
	"every node: what it asked for (\"more than its share\" when its workers take whatever "
	"they are given), its share, its fallback, the rate in its config and its lease: "
	"\"leased, 1.85s left\", or \"ended, forgotten in 42.10s\" (its fallback counts until "
	"then). Rates are connections per second. Needs no maps and no root, only the store: "
	"connect and command timeouts of 200ms; never writes to it.\n"
	"\n"
	"The media are the config's fleet media; with --redis and no --config, every medium "
	"with keys under the prefix (SCAN: on Redis Cluster, point it at the node that holds "
	"them).\v"
	"EXAMPLES:\n"
	"  cruisectl fleet\n"
	"  cruisectl fleet --config /etc/cruise/cruise.yaml -o json | jq '.media[].nodes[]'\n"
	"  cruisectl fleet --redis 10.0.0.5:6379 --prefix prod:cruise --password-file "
	"/run/secrets/redis",
	NULL,
	NULL,
	NULL
};
