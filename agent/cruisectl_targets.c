// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruisectl targets: the database addresses and ports whose connections are paced. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>

#include "cruisectl.h"
#include "loader.h" /* cruise_now_ns */

struct target_row {
	struct cruise_target_key key;
	__u32 id;
	struct cruise_target_src src; /* kind CONFIGURED when the map has none */
};

static int target_cmp(const void *x, const void *y)
{
	const struct target_row *a = x, *b = y;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return memcmp(&a->key, &b->key, sizeof(a->key));
}

/* IPv4 targets are stored as ::ffff:a.b.c.d/(96 + n) after the port (cruise.h): shown as IPv4. */
static void fmt_target(const struct cruise_target_key *k, bool *v4, char *addr, size_t len,
		       unsigned int *prefix)
{
	static const __u8 v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	unsigned int bits = k->prefixlen > 16 ? k->prefixlen - 16 : 0;

	*v4 = bits >= 96 && !memcmp(k->addr, v4mapped, sizeof(v4mapped));
	if (*v4) {
		inet_ntop(AF_INET, &k->addr[12], addr, len);
		*prefix = bits - 96;
	} else {
		inet_ntop(AF_INET6, k->addr, addr, len);
		*prefix = bits;
	}
}

int cmd_targets(void)
{
	struct target_row *rows = NULL;
	struct cruise_target_key key, next;
	struct cruise_maps m;
	size_t n = 0, cap = 0;
	int ret = 1;

	if (open_maps(&m))
		return 1;
	for (size_t it = 0; it <= CRUISE_MAX_TARGETS; it++) {
		struct cruise_target val;

		if (bpf_map_get_next_key(m.targets, it ? &key : NULL, &next))
			break;
		key = next;
		if (bpf_map_lookup_elem(m.targets, &key, &val))
			continue;
		if (n == cap) {
			struct target_row *grown;

			cap = cap ? cap * 2 : 16;
			grown = realloc(rows, cap * sizeof(*rows));
			if (!grown) {
				fail("out of memory");
				goto out;
			}
			rows = grown;
		}
		rows[n].key = key;
		memset(&rows[n].src, 0, sizeof(rows[n].src));
		cruise_maps_get_target_src(&m, &key, &rows[n].src);
		rows[n++].id = val.id;
	}
	if (n)
		qsort(rows, n, sizeof(*rows), target_cmp);
	if (opts.out == OUT_JSON)
		printf("{\"targets\":[");
	else if (n)
		printf("%-6s  %-44s  %-5s  %s\n", "TARGET", "ADDRESS", "PORT", "SOURCE");
	else
		printf("no targets\n");
	for (size_t i = 0; i < n; i++) {
		const struct cruise_target_src *src = &rows[i].src;
		char addr[INET6_ADDRSTRLEN], pfx[INET6_ADDRSTRLEN + 16], name[CRUISE_HOST_LEN + 1];
		bool host = src->kind == CRUISE_TARGET_HOST;
		bool svc = src->kind == CRUISE_TARGET_SERVICE;
		const char *source = host ? "host" : svc ? "service" : "configured";
		double ago = (cruise_now_ns() - src->confirmed_ns) / 1e9;
		unsigned int prefix;
		bool v4;

		fmt_target(&rows[i].key, &v4, addr, sizeof(addr), &prefix);
		snprintf(name, sizeof(name), "%.*s", (int)sizeof(src->name), src->name);
		if (opts.out == OUT_JSON) {
			printf("%s{\"target\":%u,\"family\":\"%s\",\"address\":\"%s\","
			       "\"prefix_len\":%u,\"port\":%u,\"source\":\"%s\"",
			       i ? "," : "", rows[i].id, v4 ? "ipv4" : "ipv6", addr, prefix,
			       rows[i].key.port, source);
			if (host || svc) {
				printf(",\"%s\":", source);
				put_json_str(stdout, name);
				printf(",\"confirmed_seconds_ago\":%.3f", ago);
			}
			putchar('}');
			continue;
		}
		snprintf(pfx, sizeof(pfx), "%s/%u", addr, prefix);
		printf("%-6u  %-44s  %-5u  ", rows[i].id, pfx, rows[i].key.port);
		if (host || svc)
			printf("%s %s, confirmed %.1fs ago\n", source, name, ago);
		else
			printf("configured\n");
	}
	if (opts.out == OUT_JSON)
		printf("]}\n");
	ret = flush_out() ? 1 : 0;
out:
	free(rows);
	cruise_maps_close(&m);
	return ret;
}

static const struct argp_option targets_options[] = {
	OUTPUT_OPTION("one JSON document"),
	{},
};

const struct argp targets_argp = {
	targets_options,
	parse_sub,
	NULL,
	"Show the database addresses (with prefix length) and ports whose connections are paced. "
	"IPv4 targets also match IPv4-mapped IPv6 destinations (::ffff:a.b.c.d). SOURCE says where "
	"an address came from: the config's addresses; a host name's last good answer and how long "
	"ago it was confirmed (the agent looks it up again when its TTL ends); or a Kubernetes "
	"Service's (namespace/name: its ClusterIPs, or its ready endpoints when headless) and how "
	"long ago the API last told of it.\v"
	"EXAMPLES:\n"
	"  cruisectl targets\n"
	"  cruisectl targets -o json",
	common_children,
	NULL,
	NULL
};
