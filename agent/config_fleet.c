// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The config's fleet block (config_raw.h): the Redis address, the node's name, the lease timing
 * and AUTH, with the defaults of config.h filled in. fleet.password_file is read here, so that a
 * missing password is an error with a line, not a failure when the agent first connects.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config_raw.h"

/* fleet: limits; the agent's lease logic (fleet.c) relies on them */
#define FLEET_REFRESH_MIN_NS (10 * NSEC_PER_MSEC)
#define FLEET_REFRESH_MAX_NS (60 * NSEC_PER_SEC)
#define FLEET_LEASE_MAX_NS   (600 * NSEC_PER_SEC)
#define FLEET_NODES_MAX	     100000
#define FLEET_NODE_MAX	     63
#define FLEET_USER_MAX	     128
#define REDIS_FORMS                                                                                \
	"expected HOST:PORT, HOST a DNS name, an IPv4 address or [IPv6] (\"redis:6379\", "         \
	"\"[fd00::5]:6379\"), or a unix socket path (\"/run/redis/redis.sock\")"

static bool chars_ok(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

/* An IPv4 address, or a DNS name (cruise_dns_name_ok). */
static bool redis_host_ok(const char *s, size_t n)
{
	unsigned char addr[4];
	char host[254];

	if (!n || n >= sizeof(host))
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	return inet_pton(AF_INET, host, addr) == 1 || cruise_dns_name_ok(host, n);
}

static int check_redis(struct cfg_ctx *c, const struct raw_str *v)
{
	const char *path = "fleet.redis", *s = v->s, *port, *rb;
	unsigned int line = v->line;
	struct sockaddr_un sa;
	unsigned char addr[16];
	char q[QBUF], q2[QBUF], host[INET6_ADDRSTRLEN];
	__u64 n;

	if (!*s)
		return cfg_fail(c, path, line, "empty; " REDIS_FORMS);
	if (s[0] == '/') {
		if (strlen(s) >= sizeof(sa.sun_path))
			return cfg_fail(c, path, line,
					"\"%s\": longer than %zu characters, the most for a unix "
					"socket path",
					cruise_quote(s, q, sizeof(q)), sizeof(sa.sun_path) - 1);
		return 0;
	}
	if (s[0] == '[') {
		/* "[v6]:port": the address's colons are not the port's */
		rb = strchr(s, ']');
		if (!rb || (size_t)(rb - s - 1) >= sizeof(host))
			goto bad_host;
		memcpy(host, s + 1, rb - s - 1);
		host[rb - s - 1] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1)
			goto bad_host;
		if (!rb[1])
			goto no_port;
		if (rb[1] != ':')
			goto bad_host;
		port = rb + 2;
	} else {
		port = strrchr(s, ':');
		if (!port)
			goto no_port;
		if (!redis_host_ok(s, port - s))
			goto bad_host;
		port++;
	}
	if (cruise_parse_count(port, 65535, &n, NULL, 0) || !n)
		return cfg_fail(c, path, line, "\"%s\": bad port \"%s\": expected 1 to 65535",
				cruise_quote(s, q, sizeof(q)), cruise_quote(port, q2, sizeof(q2)));
	return 0;
no_port:
	return cfg_fail(c, path, line, "\"%s\": no port; " REDIS_FORMS,
			cruise_quote(s, q, sizeof(q)));
bad_host:
	return cfg_fail(c, path, line, "\"%s\": bad host; " REDIS_FORMS,
			cruise_quote(s, q, sizeof(q)));
}

/* NULL when s can name a node in the fleet (it goes into Redis keys and metrics), else why not. */
static const char *node_problem(const char *s)
{
	if (!*s)
		return "empty";
	if (strlen(s) > FLEET_NODE_MAX)
		return "longer than 63 characters";
	if (!chars_ok(s, "._-"))
		return "only letters, digits, '.', '_' and '-' are allowed";
	return NULL;
}

/* No node configured: $NODE_NAME (the downward API on Kubernetes), else the host name. */
static int default_node(struct cfg_ctx *c, unsigned int line, char **out)
{
	const char *path = "fleet.node", *name = getenv("NODE_NAME"), *from = "and $NODE_NAME";
	char host[256], q[QBUF];
	const char *why;
	int ret = 0;

	if (!name || !*name) {
		if (gethostname(host, sizeof(host)))
			return cfg_fail(c, path, line,
					"not given, no $NODE_NAME, and no host name (%s); set node",
					strerror(errno));
		host[sizeof(host) - 1] = '\0';
		name = host;
		from = "no $NODE_NAME, and the host name";
	}
	if ((why = node_problem(name)))
		return cfg_fail(c, path, line,
				"not given, %s \"%s\" cannot be the default: %s; set node", from,
				cruise_quote(name, q, sizeof(q)), why);
	*out = cfg_strdup(name, &ret);
	return ret;
}

/* fleet.KEY, a duration within [min, max], or def when not given. */
static int fleet_duration(struct cfg_ctx *c, const char *key, const struct raw_str *v, __u64 def,
			  __u64 min, __u64 max, __u64 *out)
{
	char path[32], uerr[384], q[QBUF], lim[32];

	*out = def;
	if (!v->s)
		return 0;
	snprintf(path, sizeof(path), "fleet.%s", key);
	if (cruise_parse_duration(v->s, out, uerr, sizeof(uerr)))
		return cfg_fail(c, path, v->line, "%s", uerr);
	if (*out < min) {
		cruise_format_duration(min, lim, sizeof(lim));
		return cfg_fail(c, path, v->line, "\"%s\" is below the minimum, %s",
				cruise_quote(v->s, q, sizeof(q)), lim);
	}
	if (*out > max) {
		cruise_format_duration(max, lim, sizeof(lim));
		return cfg_fail(c, path, v->line, "\"%s\" is above the maximum, %s",
				cruise_quote(v->s, q, sizeof(q)), lim);
	}
	return 0;
}

/* Durations and expected_nodes, with the rules that tie the durations together. */
static int fleet_timing(struct cfg_ctx *c, const struct raw_fleet *r, struct cruise_cfg_fleet *f)
{
	char uerr[384], q[QBUF], d[32];
	__u64 v;
	int ret;

	ret = fleet_duration(c, "refresh", &r->refresh, CRUISE_FLEET_DEFAULT_REFRESH_NS,
			     FLEET_REFRESH_MIN_NS, FLEET_REFRESH_MAX_NS, &f->refresh_ns);
	if (!ret)
		ret = fleet_duration(c, "lease", &r->lease, CRUISE_FLEET_DEFAULT_LEASE_NS, 0,
				     FLEET_LEASE_MAX_NS, &f->lease_ns);
	if (!ret)
		ret = fleet_duration(c, "forget_after", &r->forget_after,
				     CRUISE_FLEET_DEFAULT_FORGET_NS, 0, CRUISE_DURATION_MAX_NS,
				     &f->forget_after_ns);
	if (ret)
		return ret;
	/*
	 * A lease outlives two refreshes: one late or lost refresh does not drop the node. The
	 * defaults agree with each other, so a key named below was given.
	 */
	if (f->lease_ns <= 2 * f->refresh_ns) {
		cruise_format_duration(2 * f->refresh_ns, d, sizeof(d));
		if (r->lease.s)
			return cfg_fail(c, "fleet.lease", r->lease.line,
					"\"%s\" must be more than 2 x refresh (%s)",
					cruise_quote(r->lease.s, q, sizeof(q)), d);
		return cfg_fail(c, "fleet.refresh", r->refresh.line,
				"\"%s\": 2 x refresh (%s) is not below the lease (default 2s); "
				"set a longer lease",
				cruise_quote(r->refresh.s, q, sizeof(q)), d);
	}
	/* a node is forgotten only once its lease has run out */
	if (f->forget_after_ns < f->lease_ns) {
		cruise_format_duration(f->lease_ns, d, sizeof(d));
		if (r->forget_after.s)
			return cfg_fail(c, "fleet.forget_after", r->forget_after.line,
					"\"%s\" is shorter than the lease (%s)",
					cruise_quote(r->forget_after.s, q, sizeof(q)), d);
		return cfg_fail(c, "fleet.lease", r->lease.line,
				"\"%s\" is longer than forget_after (default 1m); set "
				"forget_after to at least the lease",
				cruise_quote(r->lease.s, q, sizeof(q)));
	}

	f->expected_nodes = CRUISE_FLEET_DEFAULT_EXPECTED_NODES;
	if (r->expected_nodes.s) {
		const char *path = "fleet.expected_nodes";
		unsigned int line = r->expected_nodes.line;

		if (cruise_parse_count(r->expected_nodes.s, FLEET_NODES_MAX, &v, uerr,
				       sizeof(uerr)))
			return cfg_fail(c, path, line, "%s", uerr);
		if (!v)
			return cfg_fail(c, path, line, "\"0\": expected 1 to %d", FLEET_NODES_MAX);
		f->expected_nodes = v;
	}
	return 0;
}

/* username and password_file; the password is read now (units.h: a regular file's first line). */
static int fleet_auth(struct cfg_ctx *c, const struct raw_fleet *r, struct cruise_cfg_fleet *f)
{
	char q[QBUF], why[QBUF + 96];
	const char *path;
	int ret = 0;

	if (r->username.s) {
		const unsigned char *u = (const unsigned char *)r->username.s;
		unsigned int line = r->username.line;

		path = "fleet.username";
		if (!*u)
			return cfg_fail(c, path, line, "empty");
		if (strlen(r->username.s) > FLEET_USER_MAX)
			return cfg_fail(c, path, line, "longer than %d characters", FLEET_USER_MAX);
		for (; *u; u++)
			if (*u <= ' ' || *u == 0x7f)
				return cfg_fail(c, path, line,
						"\"%s\": no spaces or control characters",
						cruise_quote(r->username.s, q, sizeof(q)));
		if (!r->password_file.s)
			return cfg_fail(c, path, line,
					"a username needs password_file (Redis AUTH takes both)");
		f->username = cfg_strdup(r->username.s, &ret);
		if (ret)
			return ret;
	}
	if (!r->password_file.s)
		return 0;
	path = "fleet.password_file";
	if (r->password_file.s[0] != '/')
		return cfg_fail(c, path, r->password_file.line, "\"%s\": expected an absolute path",
				cruise_quote(r->password_file.s, q, sizeof(q)));
	f->password_file = cfg_strdup(r->password_file.s, &ret);
	if (ret)
		return ret;
	ret = cruise_read_secret(r->password_file.s, cruise_quote(r->password_file.s, q, sizeof(q)),
				 &f->password, why, sizeof(why));
	if (ret && ret != -ENOMEM)
		ret = cfg_fail(c, path, r->password_file.line, "%s", why);
	return ret;
}

int cfg_check_fleet(struct cfg_ctx *c, const struct raw_fleet *r, struct cruise_cfg_fleet *f)
{
	const char *path, *why;
	char q[QBUF];
	int ret;

	ret = check_redis(c, &r->redis);
	if (ret)
		return ret;
	f->redis = cfg_strdup(r->redis.s, &ret);
	if (ret)
		return ret;

	if (r->node.s) {
		if ((why = node_problem(r->node.s)))
			return cfg_fail(c, "fleet.node", r->node.line, "\"%s\": %s",
					cruise_quote(r->node.s, q, sizeof(q)), why);
		f->node = cfg_strdup(r->node.s, &ret);
	} else {
		ret = default_node(c, r->line, &f->node);
	}
	if (ret)
		return ret;

	/* keys are "{prefix:medium}": braces would move them to another Redis Cluster slot */
	path = r->key_prefix.s;
	if (path && !cruise_fleet_prefix_ok(path))
		return cfg_fail(c, "fleet.key_prefix", r->key_prefix.line,
				"\"%s\": expected 1 to %d letters, digits, '.', '_', ':' and '-'",
				cruise_quote(path, q, sizeof(q)), CRUISE_FLEET_PREFIX_MAX);
	f->key_prefix = cfg_strdup(path ? path : CRUISE_FLEET_DEFAULT_PREFIX, &ret);
	if (!ret)
		ret = fleet_timing(c, r, f);
	if (!ret)
		ret = fleet_auth(c, r, f);
	return ret;
}
