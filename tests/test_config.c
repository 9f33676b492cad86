// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the agent's config loader (agent/config.h): the sample cruise.yaml, the defaults,
 * and one test per way a config is rejected, each checking the exact line, the field and the
 * problem of the one-line message, and that nothing is returned.
 *
 * Run from the repository root (as `make test` does), or anywhere when built with an absolute path
 * to this file: the sample is found next to tests/. CRUISE_SAMPLE_CONFIG=PATH names it otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <math.h>

#include "cruise.h"
#include "config.h"

#define NAME  "t.yaml"
#define ERRSZ 512

/* Lines 1-4 of most inputs: one valid target. */
#define TARGETS                                                                                    \
	"targets:\n"                                                                               \
	"  - name: db\n"                                                                           \
	"    addresses: [127.0.0.1/32]\n"                                                          \
	"    ports: [5432]\n"

/* Lines 5-8: one valid medium. */
#define MEDIUM_A                                                                                   \
	"media:\n"                                                                                 \
	"  - name: a\n"                                                                            \
	"    rate: 10/s\n"                                                                         \
	"    cgroups: [workers/a]\n"

static struct cruise_config untouched; /* what *out must still point to after a failure */

static int parse(const char *yaml, struct cruise_config **cfg, char *err)
{
	return cruise_config_parse(NAME, yaml, strlen(yaml), cfg, err, ERRSZ);
}

static struct cruise_config *parse_ok(const char *yaml)
{
	struct cruise_config *cfg = NULL;
	char err[ERRSZ];

	if (parse(yaml, &cfg, err))
		fail_msg("rejected: %s", err);
	assert_non_null(cfg);
	return cfg;
}

/*
 * yaml must fail with -EINVAL and "t.yaml:LINE: FIELD: ...PROBLEM...", one line, and leave the
 * caller's pointer alone.
 */
static void expect_error(const char *yaml, unsigned int line, const char *field,
			 const char *problem)
{
	struct cruise_config *cfg = &untouched;
	char err[ERRSZ], prefix[128];
	int ret;

	memset(err, 'x', sizeof(err));
	ret = parse(yaml, &cfg, err);
	snprintf(prefix, sizeof(prefix), NAME ":%u: %s: ", line, field);
	if (ret != -EINVAL)
		fail_msg("expected -EINVAL, got %d: \"%s\"", ret, ret ? err : "");
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err + strlen(prefix), problem))
		fail_msg("expected \"%s...%s...\"\n       got      \"%s\"", prefix, problem, err);
	assert_null(strchr(err, '\n'));
	assert_ptr_equal(cfg, &untouched);
}

static void sample_path(char *buf, size_t len)
{
	const char *slash = strrchr(__FILE__, '/'), *env = getenv("CRUISE_SAMPLE_CONFIG");
	int dir = slash ? (int)(slash - __FILE__) : 0;

	if (env) {
		snprintf(buf, len, "%s", env);
		return;
	}
	/* __FILE__ is "tests/test_config.c" (or absolute): the sample is in its parent */
	snprintf(buf, len, "%.*s%s../cruise.yaml", dir, __FILE__, slash ? "/" : "");
}

/* ---- what loads ---- */

static void test_sample(void **state)
{
	struct cruise_config *cfg = NULL;
	const struct cruise_cfg_medium *m;
	const struct cruise_cfg_target *t;
	char path[512], err[ERRSZ];
	static const __u8 lo6[16] = { [15] = 1 };

	(void)state;
	sample_path(path, sizeof(path));
	if (cruise_config_load(path, &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_string_equal(cfg->scope, "/");
	assert_string_equal(cfg->pin_dir, "/sys/fs/bpf/cruise");
	assert_string_equal(cfg->metrics, "127.0.0.1:9464");

	assert_int_equal(cfg->n_targets, 1);
	t = &cfg->targets[0];
	assert_string_equal(t->name, "main-db");
	assert_int_equal(t->n_prefixes, 2);
	assert_int_equal(t->prefixes[0].family, AF_INET);
	assert_memory_equal(t->prefixes[0].addr, "\x7f\x00\x00\x01", 4);
	assert_int_equal(t->prefixes[0].len, 32);
	assert_int_equal(t->prefixes[1].family, AF_INET6);
	assert_memory_equal(t->prefixes[1].addr, lo6, 16);
	assert_int_equal(t->prefixes[1].len, 128);
	assert_int_equal(t->n_ports, 1);
	assert_int_equal(t->ports[0], 5432);

	assert_int_equal(cfg->n_media, 2);
	m = &cfg->media[0];
	assert_string_equal(m->name, "push");
	assert_int_equal(m->interval_ns, NSEC_PER_SEC / 200);
	assert_int_equal(m->burst, 20);
	assert_int_equal(m->max_wait_ns, 2 * NSEC_PER_SEC);
	assert_int_equal(m->max_conns, 50);
	assert_int_equal(m->refuse_errno, ECONNREFUSED);
	assert_false(m->dry_run);
	assert_int_equal(m->n_cgroups, 2);
	assert_string_equal(m->cgroups[0], "/workers/push");
	assert_string_equal(m->cgroups[1], "/workers/push-*");

	m = &cfg->media[1];
	assert_string_equal(m->name, "email");
	assert_int_equal(m->interval_ns, NSEC_PER_SEC / 20);
	assert_int_equal(m->burst, 0);
	assert_int_equal(m->max_wait_ns, NSEC_PER_SEC);
	assert_int_equal(m->max_conns, 0);
	assert_int_equal(m->refuse_errno, ECONNREFUSED);
	assert_false(m->dry_run);
	assert_int_equal(m->n_cgroups, 1);
	assert_string_equal(m->cgroups[0], "/workers/email");
	cruise_config_free(cfg);
}

static void test_defaults(void **state)
{
	struct cruise_config *cfg = parse_ok(TARGETS MEDIUM_A);
	const struct cruise_cfg_medium *m = &cfg->media[0];

	(void)state;
	assert_string_equal(cfg->scope, "/");
	assert_string_equal(cfg->pin_dir, CRUISE_DEFAULT_PIN_DIR);
	assert_string_equal(cfg->metrics, CRUISE_DEFAULT_METRICS);
	assert_int_equal(m->interval_ns, NSEC_PER_SEC / 10);
	assert_int_equal(m->burst, 0);
	assert_int_equal(m->max_wait_ns, NSEC_PER_SEC);
	assert_int_equal(m->max_conns, 0);
	assert_int_equal(m->refuse_errno, ECONNREFUSED);
	assert_false(m->dry_run);
	assert_int_equal(m->n_cgroups, 1);
	assert_string_equal(m->cgroups[0], "/workers/a");
	cruise_config_free(cfg);
}

static void test_values(void **state)
{
	struct cruise_config *cfg = parse_ok("scope: workers//\n"
					     "pin_dir: /sys/fs/bpf/other/\n"
					     "metrics: \"\"\n" TARGETS "media:\n"
					     "  - name: slow.batch_1\n"
					     "    rate: 30/m\n"
					     "    burst: 1000000\n"
					     "    max_wait: 250ms\n"
					     "    max_conns: 4294967295\n"
					     "    refuse_errno: ETIMEDOUT\n"
					     "    dry_run: yes\n"
					     "    cgroups:\n"
					     "      - workers\n"
					     "      - /workers/batch-*/\n"
					     "  - name: hourly\n"
					     "    rate: 2/h\n"
					     "    max_wait: 120s\n"
					     "    dry_run: off\n"
					     "    cgroups: [\"workers/[ab]?\"]\n");
	const struct cruise_cfg_medium *m = &cfg->media[0];

	(void)state;
	assert_string_equal(cfg->scope, "/workers");
	assert_string_equal(cfg->pin_dir, "/sys/fs/bpf/other");
	assert_string_equal(cfg->metrics, "");
	assert_string_equal(m->name, "slow.batch_1");
	assert_int_equal(m->interval_ns, 2 * NSEC_PER_SEC);
	assert_int_equal(m->burst, 1000000);
	assert_int_equal(m->max_wait_ns, 250 * NSEC_PER_MSEC);
	assert_int_equal(m->max_conns, 4294967295u);
	assert_int_equal(m->refuse_errno, ETIMEDOUT);
	assert_true(m->dry_run);
	assert_int_equal(m->n_cgroups, 2);
	assert_string_equal(m->cgroups[0], "/workers");
	assert_string_equal(m->cgroups[1], "/workers/batch-*");
	m = &cfg->media[1];
	assert_int_equal(m->interval_ns, 1800 * NSEC_PER_SEC);
	assert_int_equal(m->max_wait_ns, 120 * NSEC_PER_SEC);
	assert_false(m->dry_run);
	assert_string_equal(m->cgroups[0], "/workers/[ab]?");
	cruise_config_free(cfg);

	cfg = parse_ok("metrics: \"[::1]:9100\"\n" TARGETS "media:\n"
		       "  - name: a\n"
		       "    rate: 1/d\n"
		       "    max_wait: 0\n"
		       "    cgroups: [/]\n");
	assert_string_equal(cfg->metrics, "[::1]:9100");
	assert_int_equal(cfg->media[0].max_wait_ns, 0);
	assert_string_equal(cfg->media[0].cgroups[0], "/");
	cruise_config_free(cfg);

	/* IPv4-mapped IPv6 is a different key from plain IPv6; two targets, two ports each */
	cfg = parse_ok("targets:\n"
		       "  - name: v4\n"
		       "    addresses: [10.0.0.0/8, 192.168.1.7]\n"
		       "    ports: [5432, 6432]\n"
		       "  - name: v6\n"
		       "    addresses: [\"fd00::/8\", \"::1\"]\n"
		       "    ports: [5432, 6432]\n" MEDIUM_A);
	assert_int_equal(cfg->n_targets, 2);
	assert_int_equal(cfg->targets[0].prefixes[0].len, 8);
	assert_int_equal(cfg->targets[0].prefixes[1].len, 32);
	assert_int_equal(cfg->targets[1].prefixes[0].family, AF_INET6);
	assert_int_equal(cfg->targets[1].prefixes[1].len, 128);
	assert_int_equal(cfg->targets[1].ports[1], 6432);
	cruise_config_free(cfg);
}

/* A file on disk: its path names the errors; a missing file gives strerror's text. */
static void test_load_file(void **state)
{
	char path[] = "/tmp/test_config.XXXXXX", err[ERRSZ], want[128];
	static const char bad[] = TARGETS MEDIUM_A "    burst: lots\n";
	struct cruise_config *cfg = &untouched;
	int fd;

	(void)state;
	assert_int_equal(cruise_config_load("/nonexistent/cruise.yaml", &cfg, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "/nonexistent/cruise.yaml: No such file or directory");
	assert_ptr_equal(cfg, &untouched);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bad, sizeof(bad) - 1), sizeof(bad) - 1);
	close(fd);
	assert_int_equal(cruise_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:9: media[0].burst: bad count \"lots\"", path);
	assert_memory_equal(err, want, strlen(want));
	assert_ptr_equal(cfg, &untouched);
	unlink(path);

	/* a directory cannot be read */
	assert_int_equal(cruise_config_load("/", &cfg, err, sizeof(err)), -EISDIR);
	assert_string_equal(err, "/: Is a directory");
}

/* ---- what is rejected: one test per kind, with the exact line ---- */

static void test_unknown_key(void **state)
{
	(void)state;
	expect_error("scope: /\n"
		     "colour: blue\n" TARGETS MEDIUM_A,
		     2, "colour", "unknown key; expected one of scope, pin_dir, metrics");
	expect_error(TARGETS MEDIUM_A "  - name: b\n"
				      "    rate: 1/s\n"
				      "    cgroups: [workers/b]\n"
				      "    max_wiat: 2s\n",
		     12, "media[1].max_wiat", "unknown key; expected one of name, rate, burst");
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses: [127.0.0.1/32]\n"
		     "    port: [5432]\n" MEDIUM_A,
		     4, "targets[0].port",
		     "unknown key; expected one of name, addresses, hosts, service, ports");
	/* keys are case-sensitive */
	expect_error(TARGETS "Media: []\n", 5, "Media", "unknown key");
	/* a key with a newline in it still makes one line */
	expect_error(TARGETS MEDIUM_A "    \"rate\\nx\": 1\n", 9, "media[0].rate\\x0ax",
		     "unknown key");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	expect_error(TARGETS MEDIUM_A "    rate: 20/s\n", 9, "media[0].rate",
		     "given twice (first at line 7)");
	expect_error(TARGETS MEDIUM_A TARGETS, 9, "targets", "given twice (first at line 1)");
}

static void test_bad_rate(void **state)
{
	(void)state;
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: 0/s\n"
			     "    cgroups: [workers/a]\n",
		     7, "media[0].rate", "bad rate \"0/s\": rate must be above 0");
	expect_error(TARGETS MEDIUM_A "  - name: b\n"
				      "    rate: 5/sec\n"
				      "    cgroups: [workers/b]\n",
		     10, "media[1].rate", "bad rate \"5/sec\": expected COUNT/UNIT");
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate:\n"
			     "    cgroups: [workers/a]\n",
		     7, "media[0].rate", "bad rate \"\"");
}

static void test_bad_duration(void **state)
{
	(void)state;
	expect_error(TARGETS MEDIUM_A "    max_wait: 2 s\n", 9, "media[0].max_wait",
		     "bad duration \"2 s\": expected an integer with a unit");
	expect_error(
		TARGETS MEDIUM_A "    max_wait: 121s\n", 9, "media[0].max_wait",
		"\"121s\" is above the maximum, 120s (the kernel caps a SYN timeout at 120 s)");
	expect_error(TARGETS MEDIUM_A "    max_wait: 3m\n", 9, "media[0].max_wait",
		     "above the maximum, 120s");
}

static void test_bad_counts(void **state)
{
	(void)state;
	expect_error(TARGETS MEDIUM_A "    burst: 1000001\n", 9, "media[0].burst",
		     "bad count \"1000001\": above the maximum, 1000000");
	expect_error(TARGETS MEDIUM_A "    burst: -1\n", 9, "media[0].burst",
		     "bad count \"-1\": expected a decimal integer");
	expect_error(TARGETS MEDIUM_A "    max_conns: 4294967296\n", 9, "media[0].max_conns",
		     "above the maximum, 4294967295");
	expect_error(TARGETS MEDIUM_A "    dry_run: maybe\n", 9, "media[0].dry_run",
		     "bad boolean \"maybe\"");
}

static void test_bad_errno(void **state)
{
	(void)state;
	expect_error(TARGETS MEDIUM_A "    refuse_errno: ENOENT\n", 9, "media[0].refuse_errno",
		     "bad errno \"ENOENT\": expected one of ECONNREFUSED");
	expect_error(TARGETS MEDIUM_A "    refuse_errno: 111\n", 9, "media[0].refuse_errno",
		     "bad errno \"111\"");
}

static void test_bad_prefix(void **state)
{
	(void)state;
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses:\n"
		     "      - 127.0.0.1/32\n"
		     "      - 10.0.0.1/8\n"
		     "    ports: [5432]\n" MEDIUM_A,
		     5, "targets[0].addresses[1]", "bad prefix \"10.0.0.1/8\": host bits set");
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses: [127.0.0.1/32,\n"
		     "                db.example.com]\n"
		     "    ports: [5432]\n" MEDIUM_A,
		     4, "targets[0].addresses[1]", "bad prefix \"db.example.com\"");
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses: [\"::1/129\"]\n"
		     "    ports: [5432]\n" MEDIUM_A,
		     3, "targets[0].addresses[0]", "length above 128");
}

static void test_bad_port(void **state)
{
	(void)state;
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses: [127.0.0.1]\n"
		     "    ports: [5432, 0]\n" MEDIUM_A,
		     4, "targets[0].ports[1]", "bad port \"0\": expected 1 to 65535");
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses: [127.0.0.1]\n"
		     "    ports:\n"
		     "      - 65536\n" MEDIUM_A,
		     5, "targets[0].ports[0]", "bad port \"65536\"");
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses: [127.0.0.1]\n"
		     "    ports: [postgres]\n" MEDIUM_A,
		     4, "targets[0].ports[0]", "bad port \"postgres\"");
}

static void test_wrong_type(void **state)
{
	(void)state;
	/* a single value where a list goes, and the other way round */
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: 10/s\n"
			     "    cgroups: workers/a\n",
		     8, "media[0].cgroups", "expected a list, found a single value");
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: [10/s]\n"
			     "    cgroups: [workers/a]\n",
		     7, "media[0].rate", "expected a single value, found a list");
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: {per: s}\n"
			     "    cgroups: [workers/a]\n",
		     7, "media[0].rate", "expected a single value, found a mapping");
	expect_error(TARGETS MEDIUM_A "  - b\n", 9, "media[1]",
		     "expected a mapping, found a single value");
	expect_error(TARGETS "media: push\n", 5, "media", "expected a list, found a single value");
	expect_error("- scope: /\n", 1, "config", "expected a mapping, found a list");
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses: [127.0.0.1]\n"
		     "    ports: [[5432]]\n" MEDIUM_A,
		     4, "targets[0].ports[0]", "expected a single value, found a list");
}

static void test_missing_field(void **state)
{
	(void)state;
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: 10/s\n",
		     6, "media[0]", "a medium needs cgroups, pods or both");
	expect_error(TARGETS MEDIUM_A "  - name: b\n"
				      "    cgroups: [workers/b]\n",
		     9, "media[1].rate", "missing (required)");
	expect_error(TARGETS MEDIUM_A "  - rate: 1/s\n"
				      "    cgroups: [workers/b]\n",
		     9, "media[1].name", "missing (required)");
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses: [127.0.0.1]\n" MEDIUM_A,
		     2, "targets[0].ports", "missing (required)");
	expect_error(TARGETS, 1, "media", "missing (required)");
	expect_error(MEDIUM_A, 1, "targets", "missing (required)");
}

static void test_empty_list(void **state)
{
	(void)state;
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: 10/s\n"
			     "    cgroups: []\n",
		     8, "media[0].cgroups", "empty; at least one cgroup");
	expect_error(TARGETS "media: []\n", 5, "media", "empty; at least one medium");
	expect_error("targets: []\n" MEDIUM_A, 1, "targets", "empty; at least one target");
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses: []\n"
		     "    ports: [5432]\n" MEDIUM_A,
		     3, "targets[0].addresses", "empty; at least one address");
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses: [127.0.0.1]\n"
		     "    ports: []\n" MEDIUM_A,
		     4, "targets[0].ports", "empty; at least one port");
}

static void test_duplicate_names(void **state)
{
	(void)state;
	expect_error(TARGETS MEDIUM_A "  - name: a\n"
				      "    rate: 1/s\n"
				      "    cgroups: [workers/b]\n",
		     9, "media[1].name", "\"a\" is also the name of media[0]");
	expect_error(TARGETS "  - name: db\n"
			     "    addresses: [10.0.0.0/8]\n"
			     "    ports: [5432]\n" MEDIUM_A,
		     5, "targets[1].name", "\"db\" is also the name of targets[0]");
}

static void test_bad_name(void **state)
{
	(void)state;
	expect_error(TARGETS "media:\n"
			     "  - name: push senders\n"
			     "    rate: 10/s\n"
			     "    cgroups: [workers/a]\n",
		     6, "media[0].name",
		     "\"push senders\": only letters, digits, '_', '.' and '-'");
	expect_error(TARGETS "media:\n"
			     "  - name: abcdefghijklmnopqrstuvwxyz012345\n"
			     "    rate: 10/s\n"
			     "    cgroups: [workers/a]\n",
		     6, "media[0].name", "is longer than 31 characters");
	expect_error(TARGETS "media:\n"
			     "  - name: \"\"\n"
			     "    rate: 10/s\n"
			     "    cgroups: [workers/a]\n",
		     6, "media[0].name", "empty");
	expect_error("targets:\n"
		     "  - name: main/db\n"
		     "    addresses: [127.0.0.1]\n"
		     "    ports: [5432]\n" MEDIUM_A,
		     2, "targets[0].name", "only letters, digits");
}

/* 31 characters is the longest name (CRUISE_NAME_LEN with its NUL) */
static void test_longest_name(void **state)
{
	struct cruise_config *cfg = parse_ok(TARGETS "media:\n"
						     "  - name: abcdefghijklmnopqrstuvwxyz01234\n"
						     "    rate: 10/s\n"
						     "    cgroups: [workers/a]\n");

	(void)state;
	assert_int_equal(strlen(cfg->media[0].name), CRUISE_NAME_LEN - 1);
	cruise_config_free(cfg);
}

static void test_cgroup_twice(void **state)
{
	(void)state;
	/* the same pattern, spelled differently, under two media */
	expect_error(TARGETS MEDIUM_A "  - name: b\n"
				      "    rate: 1/s\n"
				      "    cgroups:\n"
				      "      - workers/b\n"
				      "      - /workers/a/\n",
		     13, "media[1].cgroups[1]",
		     "\"/workers/a\" is also listed under media[0] (a); a cgroup paces under one");
	/* the earliest second listing in the file is the one reported */
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: 10/s\n"
			     "    cgroups: [w/z, w/y]\n"
			     "  - name: b\n"
			     "    rate: 10/s\n"
			     "    cgroups: [w/x, w/y, w/z]\n",
		     11, "media[1].cgroups[1]", "\"/w/y\" is also listed under media[0] (a)");
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: 10/s\n"
			     "    cgroups: [w/x, \"w/x\"]\n",
		     8, "media[0].cgroups[1]", "\"/w/x\" is listed twice (also cgroups[0])");
}

static void test_bad_cgroup(void **state)
{
	(void)state;
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: 10/s\n"
			     "    cgroups: [workers/../system]\n",
		     8, "media[0].cgroups[0]", "\".\" and \"..\" are not allowed");
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: 10/s\n"
			     "    cgroups: [\"\"]\n",
		     8, "media[0].cgroups[0]", "empty; \"/\" is the root cgroup");
	expect_error("scope: /workers\n" TARGETS "media:\n"
		     "  - name: a\n"
		     "    rate: 10/s\n"
		     "    cgroups: [workers/a, workers2/b]\n",
		     9, "media[0].cgroups[1]",
		     "\"/workers2/b\" is outside the scope \"/workers\", where nothing is paced");
	expect_error("scope: ./x\n" TARGETS MEDIUM_A, 1, "scope", "\".\" and \"..\"");
	expect_error("scope: /workers/push\n" TARGETS "media:\n"
		     "  - name: a\n"
		     "    rate: 10/s\n"
		     "    cgroups: [\"workers/*\", \"*\"]\n",
		     9, "media[0].cgroups[1]", "\"/*\" is outside the scope \"/workers/push\"");
}

/* A glob can match under the scope: the agent matches one component per glob (FNM_PATHNAME). */
static void test_scope_globs(void **state)
{
	struct cruise_config *cfg =
		parse_ok("scope: /workers\n" TARGETS "media:\n"
			 "  - name: a\n"
			 "    rate: 10/s\n"
			 "    cgroups: [\"work*/a\", \"/*\", workers, \"*/b/*\"]\n");

	(void)state;
	assert_int_equal(cfg->media[0].n_cgroups, 4);
	assert_string_equal(cfg->media[0].cgroups[0], "/work*/a");
	assert_string_equal(cfg->media[0].cgroups[1], "/*");
	cruise_config_free(cfg);
}

static void test_too_many(void **state)
{
	size_t len = 65536, n = 0;
	char *yaml = malloc(len);
	unsigned int i;

	(void)state;
	assert_non_null(yaml);
	/* 65 media, 3 lines each after the 5 of TARGETS and "media:" */
	n += snprintf(yaml + n, len - n, TARGETS "media:\n");
	for (i = 0; i <= CRUISE_MAX_MEDIA; i++)
		n += snprintf(yaml + n, len - n,
			      "  - name: m%u\n"
			      "    rate: 1/s\n"
			      "    cgroups: [w/%u]\n",
			      i, i);
	expect_error(yaml, 6 + 3 * CRUISE_MAX_MEDIA, "media[64]", "more than 64 media");

	/* 1025 address-port pairs: 1 address, ports 1..1025 */
	n = snprintf(yaml, len, "targets:\n  - name: db\n    addresses: [127.0.0.1]\n    ports: [");
	for (i = 1; i <= CRUISE_MAX_TARGETS + 1; i++)
		n += snprintf(yaml + n, len - n, "%u%s", i, i <= CRUISE_MAX_TARGETS ? ", " : "]\n");
	snprintf(yaml + n, len - n, MEDIUM_A);
	expect_error(yaml, 2, "targets[0]", "more than 1024 address and port pairs");
	free(yaml);
}

static void test_max_media(void **state)
{
	size_t len = 65536, n = 0;
	char *yaml = malloc(len);
	struct cruise_config *cfg;
	unsigned int i;

	(void)state;
	assert_non_null(yaml);
	n += snprintf(yaml + n, len - n, TARGETS "media:\n");
	for (i = 0; i < CRUISE_MAX_MEDIA; i++)
		n += snprintf(yaml + n, len - n, "  - {name: m%u, rate: 1/s, cgroups: [w/%u]}\n", i,
			      i);
	cfg = parse_ok(yaml);
	assert_int_equal(cfg->n_media, CRUISE_MAX_MEDIA);
	assert_string_equal(cfg->media[63].name, "m63");
	cruise_config_free(cfg);
	free(yaml);
}

static void test_target_overlap(void **state)
{
	(void)state;
	expect_error(TARGETS "  - name: replica\n"
			     "    addresses: [10.0.0.0/8, 127.0.0.1]\n"
			     "    ports: [6432, 5432]\n" MEDIUM_A,
		     6, "targets[1].addresses[1]",
		     "\"127.0.0.1\" port 5432 is also in targets[0] (db)");
	/* ::ffff:127.0.0.1 is 127.0.0.1 to the datapath */
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses: [127.0.0.1, \"::ffff:127.0.0.1/128\"]\n"
		     "    ports: [5432]\n" MEDIUM_A,
		     3, "targets[0].addresses[1]", "is listed twice (also addresses[0])");
	expect_error("targets:\n"
		     "  - name: db\n"
		     "    addresses: [127.0.0.1]\n"
		     "    ports: [5432, 5432]\n" MEDIUM_A,
		     4, "targets[0].ports[1]", "port 5432 is listed twice (also ports[0])");
}

static void test_bad_top_level(void **state)
{
	(void)state;
	expect_error("metrics: localhost:9464\n" TARGETS MEDIUM_A, 1, "metrics",
		     "bad listen address \"localhost:9464\": expected IP:PORT");
	expect_error("metrics: \"::1:9464\"\n" TARGETS MEDIUM_A, 1, "metrics",
		     "bad listen address");
	expect_error("metrics: 127.0.0.1:0\n" TARGETS MEDIUM_A, 1, "metrics", "bad listen address");
	expect_error("metrics: 127.0.0.1\n" TARGETS MEDIUM_A, 1, "metrics", "bad listen address");
	expect_error(TARGETS MEDIUM_A "pin_dir: sys/fs/bpf\n", 9, "pin_dir",
		     "\"sys/fs/bpf\": expected an absolute path");
	expect_error(TARGETS MEDIUM_A "pin_dir: /\n", 9, "pin_dir", "a directory of its own");
}

static void test_bad_yaml(void **state)
{
	(void)state;
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "     rate: 10/s\n"
			     "    cgroups: [workers/a]\n",
		     7, "yaml", "mapping values are not allowed in this context");
	expect_error(TARGETS MEDIUM_A "    burst: [1\n", 10, "yaml",
		     "did not find expected ',' or ']' (while parsing a flow sequence at line 9)");
	expect_error(TARGETS "media:\n"
			     "  - name: &n a\n"
			     "    rate: *n\n"
			     "    cgroups: [workers/a]\n",
		     7, "media[0].rate", "aliases (*n) are not supported");
	expect_error(TARGETS MEDIUM_A "---\n" TARGETS MEDIUM_A, 9, "yaml", "a second document");
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: \"10/s\\0junk\"\n"
			     "    cgroups: [workers/a]\n",
		     7, "media[0].rate", "a NUL character after \"10/s\"");
	expect_error(TARGETS MEDIUM_A "    ? [a]\n"
				      "    : b\n",
		     9, "media[0]", "a key must be a single value, not a list");
	expect_error(TARGETS MEDIUM_A "    burst: \"\xc3\x28\"\n", 9, "yaml",
		     "invalid trailing UTF-8 octet");
	expect_error("", 1, "config", "empty; targets and media are required");
	expect_error("# nothing\n", 1, "config", "empty");
}

/* Failing on a half-built config frees all of it (ASan), and errors cut to any buffer size. */
/* A medium selects pods by labels, beside or instead of cgroups; labels follow Kubernetes. */
static void test_pods(void **state)
{
	struct cruise_config *cfg;
	const struct cruise_cfg_medium *m;

	(void)state;
	cfg = parse_ok(TARGETS "media:\n"
			       "  - name: email\n"
			       "    rate: 10/s\n"
			       "    pods:\n"
			       "      matchLabels:\n"
			       "        cruise.io/medium: email\n"
			       "        tier: \"\"\n"
			       "  - name: push\n"
			       "    rate: 10/s\n"
			       "    cgroups: [workers/push]\n"
			       "    pods: {matchLabels: {app: push-sender_2.x}}\n"
			       "  - name: batch\n"
			       "    rate: 10/s\n"
			       "    cgroups: [workers/batch]\n");
	assert_true(cruise_config_uses_pods(cfg));
	m = &cfg->media[0];
	assert_int_equal(m->n_cgroups, 0);
	assert_int_equal(m->n_labels, 2);
	assert_string_equal(m->labels[0].key, "cruise.io/medium");
	assert_string_equal(m->labels[0].value, "email");
	assert_string_equal(m->labels[1].key, "tier");
	assert_string_equal(m->labels[1].value, "");
	m = &cfg->media[1];
	assert_int_equal(m->n_cgroups, 1);
	assert_int_equal(m->n_labels, 1);
	assert_string_equal(m->labels[0].value, "push-sender_2.x");
	assert_int_equal(cfg->media[2].n_labels, 0);
	cruise_config_free(cfg);

	cfg = parse_ok(TARGETS MEDIUM_A);
	assert_false(cruise_config_uses_pods(cfg));
	cruise_config_free(cfg);

#define POD_MEDIUM(sel)                                                                            \
	TARGETS "media:\n"                                                                         \
		"  - name: a\n"                                                                    \
		"    rate: 10/s\n"                                                                 \
		"    pods:\n"                                                                      \
		"      matchLabels: " sel "\n"
	expect_error(POD_MEDIUM("{}"), 9, "media[0].pods.matchLabels", "empty; at least one label");
	expect_error(POD_MEDIUM("[app]"), 9, "media[0].pods.matchLabels",
		     "expected a mapping, found a list");
	expect_error(POD_MEDIUM("{app: [x]}"), 9, "media[0].pods.matchLabels",
		     "label \"app\": expected a single value, found a list");
	expect_error(POD_MEDIUM("\n        app: x\n        Cruise.io/m: y"), 11,
		     "media[0].pods.matchLabels", "label key \"Cruise.io/m\": the prefix must be");
	expect_error(POD_MEDIUM("{-app: x}"), 9, "media[0].pods.matchLabels",
		     "label key \"-app\": the name must be 1 to 63");
	expect_error(POD_MEDIUM("{/app: x}"), 9, "media[0].pods.matchLabels",
		     "label key \"/app\": the prefix before '/' must be");
	expect_error(POD_MEDIUM("{a.io/: x}"), 9, "media[0].pods.matchLabels",
		     "the name must be 1 to 63");
	expect_error(POD_MEDIUM("{app: \"x y\"}"), 9, "media[0].pods.matchLabels",
		     "label app value \"x y\"");
	expect_error(
		POD_MEDIUM("{app: "
			   "a234567890123456789012345678901234567890123456789012345678901234}"),
		9, "media[0].pods.matchLabels", "at most 63 characters");
	expect_error(POD_MEDIUM("{app: x, app: y}"), 9, "media[0].pods.matchLabels",
		     "label app is given twice");
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: 10/s\n"
			     "    pods: {labels: {app: x}}\n",
		     8, "media[0].pods.labels", "unknown key; expected one of matchLabels");
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: 10/s\n"
			     "    pods: {}\n",
		     8, "media[0].pods.matchLabels", "missing (required)");
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: 10/s\n"
			     "    cgroups: []\n"
			     "    pods: {matchLabels: {app: x}}\n",
		     8, "media[0].cgroups", "empty; at least one cgroup");
#undef POD_MEDIUM
}

/* ---- fleet: one rate per medium for all agents, shares leased through Redis ---- */

/* Lines 9-10: the smallest fleet block. */
#define FLEET                                                                                      \
	"fleet:\n"                                                                                 \
	"  redis: 127.0.0.1:6379\n"

/* The value of an environment variable, to put back after a test changes it. */
struct env_save {
	const char *name;
	char *value; /* NULL: was unset */
};

static struct env_save env_set(const char *name, const char *value)
{
	const char *old = getenv(name);
	struct env_save s = { name, old ? strdup(old) : NULL };

	if (value)
		assert_int_equal(setenv(name, value, 1), 0);
	else
		assert_int_equal(unsetenv(name), 0);
	return s;
}

static void env_restore(struct env_save *s)
{
	if (s->value)
		setenv(s->name, s->value, 1);
	else
		unsetenv(s->name);
	free(s->value);
}

/* A temporary file holding text; its path in path (a "/tmp/test_config.XXXXXX" buffer). */
static void temp_file(char *path, const char *text)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_fleet(void **state)
{
	char pw[] = "/tmp/test_config.XXXXXX", yaml[2048];
	struct cruise_config *cfg;
	const struct cruise_cfg_fleet *f;

	(void)state;
	/* the first line only, without its trailing whitespace and \r\n */
	temp_file(pw, "s3cr et \t\r\nnot this\n");
	snprintf(yaml, sizeof(yaml),
		 TARGETS "media:\n"
			 "  - name: email\n"
			 "    rate: 60/s\n"
			 "    cgroups: [workers/email]\n"
			 "    fleet: true\n"
			 "    fallback_rate: 10/s\n"
			 "  - name: push\n"
			 "    rate: 100/s\n"
			 "    cgroups: [workers/push]\n"
			 "    fleet: yes\n"
			 "  - name: batch\n"
			 "    rate: 1/s\n"
			 "    cgroups: [workers/batch]\n"
			 "    fleet: false\n"
			 "fleet:\n"
			 "  redis: redis.cruise.svc.cluster.local:6380\n"
			 "  node: node-a.zone_1\n"
			 "  key_prefix: \"prod:cruise\"\n"
			 "  refresh: 250ms\n"
			 "  lease: 1s\n"
			 "  forget_after: 1s\n"
			 "  password_file: %s\n"
			 "  username: cruise\n"
			 "  expected_nodes: 100000\n",
		 pw);
	cfg = parse_ok(yaml);
	unlink(pw);
	f = cfg->fleet;
	assert_non_null(f);
	assert_string_equal(f->redis, "redis.cruise.svc.cluster.local:6380");
	assert_string_equal(f->node, "node-a.zone_1");
	assert_string_equal(f->key_prefix, "prod:cruise");
	assert_int_equal(f->refresh_ns, 250 * NSEC_PER_MSEC);
	assert_int_equal(f->lease_ns, NSEC_PER_SEC);
	assert_int_equal(f->forget_after_ns, NSEC_PER_SEC);
	assert_string_equal(f->password_file, pw);
	assert_string_equal(f->password, "s3cr et");
	assert_string_equal(f->username, "cruise");
	assert_int_equal(f->expected_nodes, 100000);

	assert_true(cfg->media[0].fleet);
	assert_int_equal(cfg->media[0].interval_ns, 16666667); /* rounded */
	assert_int_equal(cfg->media[0].fallback_interval_ns, NSEC_PER_SEC / 10);
	assert_true(cfg->media[1].fleet);
	assert_int_equal(cfg->media[1].fallback_interval_ns, 0);
	assert_false(cfg->media[2].fleet);
	cruise_config_free(cfg);

	/* without the block: no fleet, no medium in one */
	cfg = parse_ok(TARGETS MEDIUM_A);
	assert_null(cfg->fleet);
	assert_false(cfg->media[0].fleet);
	assert_int_equal(cfg->media[0].fallback_interval_ns, 0);
	cruise_config_free(cfg);

	/* a fallback rate may equal the rate; [v6]:port; a block no medium uses is allowed */
	cfg = parse_ok(TARGETS "media:\n"
			       "  - name: a\n"
			       "    rate: 10/s\n"
			       "    cgroups: [workers/a]\n"
			       "    fleet: on\n"
			       "    fallback_rate: 600/m\n"
			       "fleet: {redis: \"[fd00::5]:6379\", node: b}\n");
	assert_string_equal(cfg->fleet->redis, "[fd00::5]:6379");
	assert_int_equal(cfg->media[0].fallback_interval_ns, NSEC_PER_SEC / 10);
	cruise_config_free(cfg);
	cfg = parse_ok(TARGETS MEDIUM_A FLEET "  node: b\n");
	assert_non_null(cfg->fleet);
	assert_false(cfg->media[0].fleet);
	cruise_config_free(cfg);
}

static void test_fleet_defaults(void **state)
{
	struct env_save env = env_set("NODE_NAME", "node-from-env");
	struct cruise_config *cfg = parse_ok(TARGETS MEDIUM_A FLEET);
	const struct cruise_cfg_fleet *f = cfg->fleet;
	char host[256];

	(void)state;
	assert_string_equal(f->redis, "127.0.0.1:6379");
	assert_string_equal(f->node, "node-from-env");
	assert_string_equal(f->key_prefix, CRUISE_FLEET_DEFAULT_PREFIX);
	assert_string_equal(f->key_prefix, "cruise");
	assert_int_equal(f->refresh_ns, 500 * NSEC_PER_MSEC);
	assert_int_equal(f->lease_ns, 2 * NSEC_PER_SEC);
	assert_int_equal(f->forget_after_ns, 60 * NSEC_PER_SEC);
	assert_int_equal(f->expected_nodes, CRUISE_FLEET_DEFAULT_EXPECTED_NODES);
	assert_null(f->username);
	assert_null(f->password);
	assert_null(f->password_file);
	cruise_config_free(cfg);

	/* node given: $NODE_NAME is not looked at, even when it is no good */
	setenv("NODE_NAME", "not a node", 1);
	cfg = parse_ok(TARGETS MEDIUM_A FLEET "  node: n1\n");
	assert_string_equal(cfg->fleet->node, "n1");
	cruise_config_free(cfg);
	expect_error(TARGETS MEDIUM_A FLEET, 9, "fleet.node",
		     "not given, and $NODE_NAME \"not a node\" cannot be the default: only "
		     "letters, digits, '.', '_' and '-' are allowed; set node");

	/* no $NODE_NAME (or an empty one): the host name, when it can be a node's */
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	setenv("NODE_NAME", "", 1);
	if (cruise_config_parse(NAME, TARGETS MEDIUM_A FLEET, strlen(TARGETS MEDIUM_A FLEET), &cfg,
				NULL, 0) == 0) {
		assert_string_equal(cfg->fleet->node, host);
		cruise_config_free(cfg);
	}
	unsetenv("NODE_NAME");
	if (cruise_config_parse(NAME, TARGETS MEDIUM_A FLEET, strlen(TARGETS MEDIUM_A FLEET), &cfg,
				NULL, 0) == 0) {
		assert_string_equal(cfg->fleet->node, host);
		cruise_config_free(cfg);
	}
	env_restore(&env);
}

static void test_fleet_redis(void **state)
{
	struct cruise_config *cfg;

	(void)state;
	cfg = parse_ok(TARGETS MEDIUM_A "fleet:\n"
					"  redis: /run/redis/redis.sock\n"
					"  node: a\n");
	assert_string_equal(cfg->fleet->redis, "/run/redis/redis.sock");
	cruise_config_free(cfg);
	cfg = parse_ok(TARGETS MEDIUM_A "fleet: {redis: \"redis:6379\", node: a}\n");
	assert_string_equal(cfg->fleet->redis, "redis:6379");
	cruise_config_free(cfg);

#define REDIS(v) TARGETS MEDIUM_A "fleet:\n  node: a\n  redis: " v "\n"
	expect_error(REDIS("127.0.0.1"), 11, "fleet.redis",
		     "\"127.0.0.1\": no port; expected HOST:PORT, HOST a DNS name, an IPv4 "
		     "address or [IPv6] (\"redis:6379\", \"[fd00::5]:6379\"), or a unix socket "
		     "path (\"/run/redis/redis.sock\")");
	expect_error(REDIS("127.0.0.1:0"), 11, "fleet.redis",
		     "\"127.0.0.1:0\": bad port \"0\": expected 1 to 65535");
	expect_error(REDIS("redis:70000"), 11, "fleet.redis",
		     "\"redis:70000\": bad port \"70000\": expected 1 to 65535");
	expect_error(REDIS("\"redis:\""), 11, "fleet.redis", "bad port \"\"");
	expect_error(REDIS("\"\""), 11, "fleet.redis", "empty; expected HOST:PORT");
	expect_error(REDIS(""), 11, "fleet.redis", "empty; expected HOST:PORT");
	expect_error(REDIS("\"::1:6379\""), 11, "fleet.redis", "\"::1:6379\": bad host; expected");
	expect_error(REDIS("\"[::1]\""), 11, "fleet.redis", "\"[::1]\": no port");
	expect_error(REDIS("\"[::1]6379\""), 11, "fleet.redis", "bad host");
	expect_error(REDIS("10.0.0.256:6379"), 11, "fleet.redis", "bad host");
	expect_error(REDIS("redis_1:6379"), 11, "fleet.redis", "bad host");
	expect_error(REDIS("-redis:6379"), 11, "fleet.redis", "bad host");
	expect_error(REDIS("/run/"
			   "0123456789012345678901234567890123456789012345678901234567890123456789"
			   "0123456789012345678901234567890123456789.sock"),
		     11, "fleet.redis", "longer than 107 characters, the most for a unix socket");
	expect_error(TARGETS MEDIUM_A "fleet:\n  node: a\n", 9, "fleet.redis",
		     "missing (required)");
#undef REDIS
}

static void test_fleet_durations(void **state)
{
	struct cruise_config *cfg;

	(void)state;
	/* the limits themselves */
	cfg = parse_ok(TARGETS MEDIUM_A FLEET "  node: a\n"
					      "  refresh: 10ms\n"
					      "  lease: 21ms\n"
					      "  forget_after: 24h\n");
	assert_int_equal(cfg->fleet->refresh_ns, 10 * NSEC_PER_MSEC);
	assert_int_equal(cfg->fleet->lease_ns, 21 * NSEC_PER_MSEC);
	assert_int_equal(cfg->fleet->forget_after_ns, 24 * 3600 * NSEC_PER_SEC);
	cruise_config_free(cfg);
	cfg = parse_ok(TARGETS MEDIUM_A FLEET "  node: a\n"
					      "  refresh: 60s\n"
					      "  lease: 10m\n"
					      "  forget_after: 10m\n");
	assert_int_equal(cfg->fleet->lease_ns, 600 * NSEC_PER_SEC);
	cruise_config_free(cfg);

	expect_error(TARGETS MEDIUM_A FLEET "  node: a\n"
					    "  refresh: 1s\n"
					    "  lease: 2s\n",
		     13, "fleet.lease", "\"2s\" must be more than 2 x refresh (2s)");
	/* the default lease: the refresh is at fault */
	expect_error(TARGETS MEDIUM_A FLEET "  node: a\n"
					    "  refresh: 1s\n",
		     12, "fleet.refresh",
		     "\"1s\": 2 x refresh (2s) is not below the lease (default 2s); set a longer "
		     "lease");
	expect_error(TARGETS MEDIUM_A FLEET "  node: a\n"
					    "  lease: 10s\n"
					    "  forget_after: 9s\n",
		     13, "fleet.forget_after", "\"9s\" is shorter than the lease (10s)");
	expect_error(TARGETS MEDIUM_A FLEET "  node: a\n"
					    "  lease: 2m\n",
		     12, "fleet.lease",
		     "\"2m\" is longer than forget_after (default 1m); set forget_after to at "
		     "least the lease");
	expect_error(TARGETS MEDIUM_A FLEET "  refresh: 9ms\n", 11, "fleet.refresh",
		     "\"9ms\" is below the minimum, 10ms");
	expect_error(TARGETS MEDIUM_A FLEET "  refresh: 61s\n", 11, "fleet.refresh",
		     "\"61s\" is above the maximum, 1m");
	expect_error(TARGETS MEDIUM_A FLEET "  lease: 601s\n", 11, "fleet.lease",
		     "\"601s\" is above the maximum, 10m");
	expect_error(TARGETS MEDIUM_A FLEET "  forget_after: 25h\n", 11, "fleet.forget_after",
		     "bad duration \"25h\": longer than the maximum, 24h");
	expect_error(TARGETS MEDIUM_A FLEET "  refresh: fast\n", 11, "fleet.refresh",
		     "bad duration \"fast\"");
}

static void test_fleet_fields(void **state)
{
	(void)state;
	expect_error(TARGETS MEDIUM_A FLEET "  node: a\n"
					    "  colour: blue\n",
		     12, "fleet.colour",
		     "unknown key; expected one of redis, node, key_prefix, refresh, lease, "
		     "forget_after, password_file, username, expected_nodes");
	expect_error(TARGETS MEDIUM_A "fleet: redis:6379\n", 9, "fleet",
		     "expected a mapping, found a single value");
	expect_error(TARGETS MEDIUM_A FLEET "  node: [a]\n", 11, "fleet.node",
		     "expected a single value, found a list");
	expect_error(TARGETS MEDIUM_A FLEET "  node: \"node a\"\n", 11, "fleet.node",
		     "\"node a\": only letters, digits, '.', '_' and '-' are allowed");
	expect_error(TARGETS MEDIUM_A FLEET "  node: \"\"\n", 11, "fleet.node", "\"\": empty");
	expect_error(TARGETS MEDIUM_A FLEET
		     "  node: a234567890123456789012345678901234567890123456789012345678901234\n",
		     11, "fleet.node", "longer than 63 characters");
	expect_error(TARGETS MEDIUM_A FLEET "  key_prefix: \"{cruise}\"\n", 11, "fleet.key_prefix",
		     "\"{cruise}\": expected 1 to 64 letters, digits, '.', '_', ':' and '-'");
	expect_error(TARGETS MEDIUM_A FLEET "  key_prefix: \"\"\n", 11, "fleet.key_prefix",
		     "expected 1 to 64");
	expect_error(TARGETS MEDIUM_A FLEET "  expected_nodes: 0\n", 11, "fleet.expected_nodes",
		     "\"0\": expected 1 to 100000");
	expect_error(TARGETS MEDIUM_A FLEET "  expected_nodes: 100001\n", 11,
		     "fleet.expected_nodes", "bad count \"100001\": above the maximum, 100000");
}

static void test_fleet_password(void **state)
{
	char pw[] = "/tmp/test_config.XXXXXX", yaml[1024];

	(void)state;
	expect_error(TARGETS MEDIUM_A FLEET "  node: a\n"
					    "  password_file: /nonexistent/redis-password\n",
		     12, "fleet.password_file",
		     "cannot read \"/nonexistent/redis-password\": No such file or directory");
	expect_error(TARGETS MEDIUM_A FLEET "  password_file: redis-password\n", 11,
		     "fleet.password_file", "\"redis-password\": expected an absolute path");
	expect_error(TARGETS MEDIUM_A FLEET "  password_file: /tmp\n", 11, "fleet.password_file",
		     "cannot read \"/tmp\": not a regular file");
	expect_error(TARGETS MEDIUM_A FLEET "  node: a\n"
					    "  username: cruise\n",
		     12, "fleet.username",
		     "a username needs password_file (Redis AUTH takes both)");

	/* an empty first line is no password, even if a second line follows */
	temp_file(pw, " \r\nsecret\n");
	snprintf(yaml, sizeof(yaml), TARGETS MEDIUM_A FLEET "  password_file: %s\n", pw);
	expect_error(yaml, 11, "fleet.password_file",
		     "the first line is empty; expected the password");
	snprintf(yaml, sizeof(yaml),
		 TARGETS MEDIUM_A FLEET "  password_file: %s\n"
					"  username: \"a b\"\n",
		 pw);
	expect_error(yaml, 12, "fleet.username", "\"a b\": no spaces or control characters");
	snprintf(yaml, sizeof(yaml),
		 TARGETS MEDIUM_A FLEET "  password_file: %s\n"
					"  username: \"\"\n",
		 pw);
	expect_error(yaml, 12, "fleet.username", "empty");
	unlink(pw);
}

static void test_fleet_media(void **state)
{
	(void)state;
	expect_error(TARGETS MEDIUM_A "    fleet: true\n", 9, "media[0].fleet",
		     "fleet: true needs a top-level fleet: block (redis, node, ...)");
	expect_error(TARGETS MEDIUM_A "    fleet: sometimes\n" FLEET, 9, "media[0].fleet",
		     "bad boolean \"sometimes\"");
	expect_error(TARGETS MEDIUM_A "    fallback_rate: 1/s\n" FLEET, 9, "media[0].fallback_rate",
		     "only with fleet: true");
	expect_error(TARGETS MEDIUM_A "    fleet: false\n"
				      "    fallback_rate: 1/s\n" FLEET,
		     10, "media[0].fallback_rate", "only with fleet: true");
	expect_error(TARGETS MEDIUM_A "    fleet: true\n"
				      "    fallback_rate: 11/s\n" FLEET,
		     10, "media[0].fallback_rate", "\"11/s\" is above the medium's rate, \"10/s\"");
	expect_error(TARGETS MEDIUM_A "    fleet: true\n"
				      "    fallback_rate: 0/s\n" FLEET,
		     10, "media[0].fallback_rate", "bad rate \"0/s\": rate must be above 0");
	expect_error(TARGETS MEDIUM_A "    flet: true\n" FLEET, 9, "media[0].flet",
		     "unknown key; expected one of name, rate, burst, max_wait, max_conns, "
		     "refuse_errno, dry_run, cgroups, pods, fleet, fallback_rate");
}

static void test_error_buffers(void **state)
{
	static const char yaml[] = TARGETS MEDIUM_A "  - name: b\n"
						    "    rate: 1/s\n"
						    "    max_wait: 2s\n"
						    "    cgroups: [workers/b, w/c, w/d]\n"
						    "  - name: c\n"
						    "    rate: 1/s\n"
						    "    cgroups: [w/e, w/d]\n";
	struct cruise_config *cfg = &untouched;
	char err[24];

	(void)state;
	assert_int_equal(cruise_config_parse(NAME, yaml, strlen(yaml), &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "t.yaml:15: media[2].cgr");
	assert_int_equal(cruise_config_parse(NAME, yaml, strlen(yaml), &cfg, NULL, 0), -EINVAL);
	assert_ptr_equal(cfg, &untouched);
	assert_int_equal(cruise_config_parse(NAME, NULL, 0, &cfg, err, sizeof(err)), -EINVAL);
	cruise_config_free(NULL);
}

/* ---- adaptive rates: signals, and media that follow one ---- */

/* Lines 5-12 with a DSN file's path in: one signal; then media from line 13. */
static void signal_yaml(char *buf, size_t len, const char *dsn, const char *extra_signal,
			const char *media)
{
	snprintf(buf, len,
		 TARGETS "signals:\n"
			 "  - name: db-latency\n"
			 "    postgres:\n"
			 "      dsn_file: %s\n"
			 "    every: 500ms\n"
			 "    target: 10ms\n"
			 "%s"
			 "media:\n"
			 "%s",
		 dsn, extra_signal, media);
}

static void test_adaptive(void **state)
{
	char dsn[] = "/tmp/test_config.XXXXXX", tok[] = "/tmp/test_config.XXXXXX", yaml[2048];
	char extra[512];
	struct cruise_config *cfg;
	const struct cruise_cfg_signal *sg;

	(void)state;
	temp_file(dsn, "host=127.0.0.1 port=5432 user=probe password=s3cret\n");
	temp_file(tok, "tok3n\n");
	snprintf(extra, sizeof(extra),
		 "  - name: db-cpu\n"
		 "    prometheus:\n"
		 "      url: http://prometheus:9090\n"
		 "      query: avg(rate(node_cpu_seconds_total{mode!=\"idle\"}[30s]))\n"
		 "      bearer_token_file: %s\n"
		 "    target: 0.7\n"
		 "  - name: backends\n"
		 "    postgres: {dsn_file: %s, query: SELECT count(*) FROM pg_stat_activity, "
		 "value: true}\n"
		 "    target: 40\n",
		 tok, dsn);
	signal_yaml(yaml, sizeof(yaml), dsn, extra,
		    "  - name: email\n"
		    "    rate: 400/s\n"
		    "    cgroups: [workers/email]\n"
		    "    adaptive:\n"
		    "      signal: db-latency\n"
		    "      min_rate: 5/s\n"
		    "      priority: 2\n"
		    "  - name: push\n"
		    "    rate: 100/s\n"
		    "    cgroups: [workers/push]\n"
		    "    adaptive: {signal: db-cpu, min_rate: 1/s, backoff: halve}\n"
		    "  - name: fixed\n"
		    "    rate: 10/s\n"
		    "    cgroups: [workers/fixed]\n");
	cfg = parse_ok(yaml);
	assert_int_equal(cfg->n_signals, 3);
	sg = &cfg->signals[0];
	assert_string_equal(sg->name, "db-latency");
	assert_int_equal(sg->kind, CRUISE_SIGNAL_POSTGRES);
	assert_string_equal(sg->conninfo, "host=127.0.0.1 port=5432 user=probe password=s3cret");
	assert_string_equal(sg->query, "SELECT 1");
	assert_false(sg->value);
	assert_true(sg->every_ns == 500 * NSEC_PER_MSEC);
	assert_true(fabs(sg->target - 0.010) < 1e-12);
	sg = &cfg->signals[1];
	assert_int_equal(sg->kind, CRUISE_SIGNAL_PROMETHEUS);
	assert_string_equal(sg->url, "http://prometheus:9090");
	assert_string_equal(sg->bearer_token, "tok3n");
	assert_true(sg->value);
	assert_true(sg->every_ns == NSEC_PER_SEC); /* the default */
	assert_true(sg->target == 0.7);
	assert_true(cfg->signals[2].value && cfg->signals[2].target == 40);
	assert_true(cfg->media[0].adaptive.on);
	assert_int_equal(cfg->media[0].adaptive.signal, 0);
	assert_true(cfg->media[0].adaptive.floor_interval_ns == 200 * NSEC_PER_MSEC);
	assert_int_equal(cfg->media[0].adaptive.priority, 2);
	assert_int_equal(cfg->media[0].adaptive.backoff, CRUISE_BACKOFF_GRADIENT);
	assert_int_equal(cfg->media[1].adaptive.signal, 1);
	assert_int_equal(cfg->media[1].adaptive.priority, 1); /* the default */
	assert_int_equal(cfg->media[1].adaptive.backoff, CRUISE_BACKOFF_HALVE);
	assert_false(cfg->media[2].adaptive.on);
	cruise_config_free(cfg);
	unlink(dsn);
	unlink(tok);
}

static void test_adaptive_errors(void **state)
{
	char dsn[] = "/tmp/test_config.XXXXXX", yaml[2048];
	static const char *const medium_with = "  - name: a\n"
					       "    rate: 100/s\n"
					       "    cgroups: [workers/a]\n"
					       "    adaptive:\n"
					       "      signal: %s\n"
					       "      min_rate: %s\n";
	char media[512], extra[256];
	struct cruise_config *cfg;

	(void)state;
	temp_file(dsn, "host=127.0.0.1\n");
	/* lines: 9 every, 10 target, 11 media (or another signal), 16 signal, 17 min_rate */
	snprintf(media, sizeof(media), medium_with, "db-cpu", "5/s");
	signal_yaml(yaml, sizeof(yaml), dsn, "", media);
	expect_error(yaml, 16, "media[0].adaptive.signal",
		     "\"db-cpu\" is not a signal; signals: db-latency");
	snprintf(media, sizeof(media), medium_with, "db-latency", "200/s");
	signal_yaml(yaml, sizeof(yaml), dsn, "", media);
	expect_error(yaml, 17, "media[0].adaptive.min_rate",
		     "\"200/s\" is above the medium's rate, \"100/s\"");
	snprintf(media, sizeof(media), medium_with, "db-latency", "5/s");
	signal_yaml(yaml, sizeof(yaml), "/nonexistent/dsn", "", media);
	expect_error(yaml, 8, "signals[0].postgres.dsn_file",
		     "cannot read \"/nonexistent/dsn\": No such file or directory");
	/* a medium without signals at all */
	expect_error(TARGETS "media:\n"
			     "  - name: a\n"
			     "    rate: 100/s\n"
			     "    cgroups: [workers/a]\n"
			     "    adaptive: {signal: x, min_rate: 1/s}\n",
		     9, "media[0].adaptive.signal", "\"x\" is not a signal; no signals: block");
	expect_error(TARGETS MEDIUM_A "    adaptive: {signal: x}\n", 9,
		     "media[0].adaptive.min_rate", "missing (required)");
	/* the signals themselves */
	signal_yaml(yaml, sizeof(yaml), dsn,
		    "  - name: prom\n"
		    "    prometheus: {url: \"prometheus:9090\", query: up}\n"
		    "    target: 1\n",
		    media);
	expect_error(yaml, 12, "signals[1].prometheus.url",
		     "\"prometheus:9090\": expected http://HOST:PORT or https://HOST:PORT");
	signal_yaml(yaml, sizeof(yaml), dsn,
		    "  - name: prom\n"
		    "    prometheus: {url: \"http://\", query: up}\n"
		    "    target: 1\n",
		    media);
	expect_error(yaml, 12, "signals[1].prometheus.url", "no host after the scheme");
	signal_yaml(yaml, sizeof(yaml), dsn,
		    "  - name: prom\n"
		    "    prometheus: {url: \"http://p:9090\", query: up}\n"
		    "    target: high\n",
		    media);
	expect_error(yaml, 13, "signals[1].target", "\"high\": expected a plain number");
	signal_yaml(yaml, sizeof(yaml), dsn,
		    "  - name: both\n"
		    "    prometheus: {url: \"http://p:9090\", query: up}\n"
		    "    postgres: {dsn_file: /x}\n"
		    "    target: 1\n",
		    media);
	expect_error(yaml, 11, "signals[1]", "both postgres and prometheus");
	signal_yaml(yaml, sizeof(yaml), dsn, "  - name: none\n    target: 1\n", media);
	expect_error(yaml, 11, "signals[1]", "no probe");
	snprintf(extra, sizeof(extra),
		 "  - name: db-latency\n    postgres: {dsn_file: %s}\n    target: 1ms\n", dsn);
	signal_yaml(yaml, sizeof(yaml), dsn, extra, media);
	expect_error(yaml, 11, "signals[1].name", "\"db-latency\" is also the name of signals[0]");
	/* a latency target is a duration under every; every within its bounds */
	expect_error(TARGETS "signals:\n"
			     "  - name: s\n"
			     "    postgres: {dsn_file: /x}\n"
			     "    target: 10\n" MEDIUM_A,
		     7, "signals[0].postgres.dsn_file", "cannot read");
	snprintf(yaml, sizeof(yaml),
		 TARGETS "signals:\n"
			 "  - name: s\n"
			 "    postgres: {dsn_file: %s}\n"
			 "    target: 10\n" MEDIUM_A,
		 dsn);
	expect_error(yaml, 8, "signals[0].target", "a latency target is a duration above 0");
	snprintf(yaml, sizeof(yaml),
		 TARGETS "signals:\n"
			 "  - name: s\n"
			 "    postgres: {dsn_file: %s}\n"
			 "    every: 100ms\n"
			 "    target: 200ms\n" MEDIUM_A,
		 dsn);
	expect_error(yaml, 9, "signals[0].target", "must be under every");
	snprintf(yaml, sizeof(yaml),
		 TARGETS "signals:\n"
			 "  - name: s\n"
			 "    postgres: {dsn_file: %s, value: true}\n"
			 "    every: 10ms\n"
			 "    target: 3\n" MEDIUM_A,
		 dsn);
	expect_error(yaml, 8, "signals[0].every", "must be from 50ms to 1h");
	expect_error(TARGETS "signals: []\n" MEDIUM_A, 5, "signals", "empty");
	/* the same with the signal right: it loads */
	snprintf(yaml, sizeof(yaml),
		 TARGETS "signals:\n"
			 "  - name: s\n"
			 "    postgres: {dsn_file: %s, value: true}\n"
			 "    every: 100ms\n"
			 "    target: 3\n" MEDIUM_A,
		 dsn);
	cfg = parse_ok(yaml);
	assert_int_equal(cfg->n_signals, 1);
	cruise_config_free(cfg);
	unlink(dsn);
}

/* ---- targets by name ---- */

static void test_hosts(void **state)
{
	struct cruise_config *cfg;

	(void)state;
	cfg = parse_ok("targets:\n"
		       "  - name: main-db\n"
		       "    hosts: [db.prod.example.internal, DB-2.example]\n"
		       "    ports: [5432]\n"
		       "  - name: both\n"
		       "    addresses: [10.0.0.5]\n"
		       "    hosts: [replica]\n"
		       "    ports: [5433]\n" MEDIUM_A);
	assert_int_equal(cfg->targets[0].n_hosts, 2);
	assert_int_equal(cfg->targets[0].n_prefixes, 0);
	assert_string_equal(cfg->targets[0].hosts[0], "db.prod.example.internal");
	assert_string_equal(cfg->targets[0].hosts[1], "DB-2.example");
	assert_int_equal(cfg->targets[1].n_hosts, 1);
	assert_int_equal(cfg->targets[1].n_prefixes, 1);
	cruise_config_free(cfg);

	expect_error("targets:\n  - name: db\n    ports: [5432]\n" MEDIUM_A, 2, "targets[0]",
		     "no addresses, hosts or service: a target needs at least one of them");
	expect_error("targets:\n  - name: db\n    hosts: []\n    ports: [5432]\n" MEDIUM_A, 3,
		     "targets[0].hosts", "empty; at least one host name");
	expect_error("targets:\n  - name: db\n    hosts: [10.0.0.5]\n    ports: [5432]\n" MEDIUM_A,
		     3, "targets[0].hosts[0]",
		     "\"10.0.0.5\" is an address: list it under addresses");
	expect_error("targets:\n  - name: db\n    hosts: [\"::1\"]\n    ports: [5432]\n" MEDIUM_A,
		     3, "targets[0].hosts[0]", "is an address");
	expect_error(
		"targets:\n  - name: db\n    hosts: [-db.example]\n    ports: [5432]\n" MEDIUM_A, 3,
		"targets[0].hosts[0]", "\"-db.example\" is not a host name");
	expect_error(
		"targets:\n  - name: db\n    hosts: [db_1.example]\n    ports: [5432]\n" MEDIUM_A,
		3, "targets[0].hosts[0]", "is not a host name");
	expect_error("targets:\n  - name: db\n    hosts: [\"db..example\"]\n    ports: "
		     "[5432]\n" MEDIUM_A,
		     3, "targets[0].hosts[0]", "is not a host name");
	expect_error(
		"targets:\n  - name: db\n    hosts: [10.0.0.256]\n    ports: [5432]\n" MEDIUM_A, 3,
		"targets[0].hosts[0]", "is not a host name");
	expect_error("targets:\n  - name: db\n    hosts: [db, DB]\n    ports: [5432]\n" MEDIUM_A, 3,
		     "targets[0].hosts[1]", "\"DB\" is listed twice (also hosts[0])");
	expect_error("targets:\n  - name: db\n    hosts: [db]\n    ports: [0]\n" MEDIUM_A, 4,
		     "targets[0].ports[0]", "bad port \"0\": expected 1 to 65535");
}

/* targets[i].service: {namespace, name}, DNS-1123 labels; ports optional for a service alone */
static void test_services(void **state)
{
	struct cruise_config *cfg;

	(void)state;
	cfg = parse_ok("targets:\n"
		       "  - name: pg-service\n"
		       "    service: {namespace: data, name: postgres}\n"
		       "  - name: pool\n"
		       "    service:\n"
		       "      namespace: data-2\n"
		       "      name: pgbouncer\n"
		       "    ports: [6432]\n"
		       "  - name: all-three\n"
		       "    addresses: [10.0.0.5]\n"
		       "    hosts: [replica.example]\n"
		       "    service: {namespace: data, name: replica}\n"
		       "    ports: [5433]\n" MEDIUM_A);
	assert_true(cruise_config_uses_services(cfg));
	assert_string_equal(cfg->targets[0].service_ns, "data");
	assert_string_equal(cfg->targets[0].service_name, "postgres");
	assert_int_equal(cfg->targets[0].n_ports, 0); /* the Service's */
	assert_int_equal(cfg->targets[0].n_prefixes, 0);
	assert_int_equal(cfg->targets[0].n_hosts, 0);
	assert_string_equal(cfg->targets[1].service_ns, "data-2");
	assert_string_equal(cfg->targets[1].service_name, "pgbouncer");
	assert_int_equal(cfg->targets[1].n_ports, 1);
	assert_int_equal(cfg->targets[1].ports[0], 6432);
	assert_int_equal(cfg->targets[2].n_prefixes, 1);
	assert_int_equal(cfg->targets[2].n_hosts, 1);
	assert_string_equal(cfg->targets[2].service_name, "replica");
	cruise_config_free(cfg);
	cfg = parse_ok(TARGETS MEDIUM_A);
	assert_false(cruise_config_uses_services(cfg));
	assert_null(cfg->targets[0].service_name);
	cruise_config_free(cfg);

	/* empty, of the wrong kind, or a half */
	expect_error("targets:\n  - name: db\n    service: {}\n" MEDIUM_A, 3,
		     "targets[0].service.namespace", "missing (required)");
	expect_error("targets:\n  - name: db\n    service:\n" MEDIUM_A, 3, "targets[0].service",
		     "expected a mapping, found a single value");
	expect_error("targets:\n  - name: db\n    service: [data, postgres]\n" MEDIUM_A, 3,
		     "targets[0].service", "expected a mapping, found a list");
	expect_error("targets:\n  - name: db\n    service: {namespace: data}\n" MEDIUM_A, 3,
		     "targets[0].service.name", "missing (required)");
	expect_error("targets:\n  - name: db\n    service: {name: postgres}\n" MEDIUM_A, 3,
		     "targets[0].service.namespace", "missing (required)");
	expect_error("targets:\n  - name: db\n    service: {namespace: data, name: pg, port: 1}\n"
		     "    ports: [5432]\n" MEDIUM_A,
		     3, "targets[0].service.port", "unknown key; expected one of namespace, name");
	expect_error("targets:\n  - name: db\n    service: {namespace: data, name: pg, name: "
		     "x}\n" MEDIUM_A,
		     3, "targets[0].service.name", "given twice");
	/* DNS-1123 labels */
	expect_error("targets:\n  - name: db\n    service: {namespace: Data, name: pg}\n" MEDIUM_A,
		     3, "targets[0].service.namespace",
		     "\"Data\" is not a Kubernetes namespace: 1 to 63 lowercase letters, digits "
		     "and '-', starting and ending with a letter or digit");
	expect_error("targets:\n  - name: db\n    service:\n      namespace: data\n"
		     "      name: pg_1\n" MEDIUM_A,
		     5, "targets[0].service.name", "\"pg_1\" is not a Kubernetes name");
	expect_error("targets:\n  - name: db\n    service: {namespace: data, name: -pg}\n" MEDIUM_A,
		     3, "targets[0].service.name", "is not a Kubernetes name");
	expect_error("targets:\n  - name: db\n    service: {namespace: data-, name: pg}\n" MEDIUM_A,
		     3, "targets[0].service.namespace", "is not a Kubernetes namespace");
	expect_error("targets:\n  - name: db\n    service: {namespace: \"\", name: pg}\n" MEDIUM_A,
		     3, "targets[0].service.namespace", "is not a Kubernetes namespace");
	expect_error(
		"targets:\n  - name: db\n    service: {namespace: data, name: pg.main}\n" MEDIUM_A,
		3, "targets[0].service.name", "is not a Kubernetes name");
	expect_error("targets:\n  - name: db\n    service: {namespace: data, name: "
		     "a234567890123456789012345678901234567890123456789012345678901234}\n" MEDIUM_A,
		     3, "targets[0].service.name", "is not a Kubernetes name");
	cfg = parse_ok(
		"targets:\n  - name: db\n    service: {namespace: data, name: "
		"a23456789012345678901234567890123456789012345678901234567890123}\n" MEDIUM_A);
	cruise_config_free(cfg);
	/* ports: out of range, empty, or left out where they are needed */
	expect_error("targets:\n  - name: db\n    service: {namespace: data, name: pg}\n"
		     "    ports: [65536]\n" MEDIUM_A,
		     4, "targets[0].ports[0]", "bad port \"65536\": expected 1 to 65535");
	expect_error("targets:\n  - name: db\n    service: {namespace: data, name: pg}\n"
		     "    ports: []\n" MEDIUM_A,
		     4, "targets[0].ports", "empty; at least one port");
	expect_error("targets:\n  - name: db\n    addresses: [10.0.0.5]\n"
		     "    service: {namespace: data, name: pg}\n" MEDIUM_A,
		     2, "targets[0].ports",
		     "missing (required): only a target with nothing but a service may leave them "
		     "out");
	expect_error("targets:\n  - name: db\n    hosts: [db.example]\n" MEDIUM_A, 2,
		     "targets[0].ports", "missing (required)");
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_bad_rate),
		cmocka_unit_test(test_bad_duration),
		cmocka_unit_test(test_bad_counts),
		cmocka_unit_test(test_bad_errno),
		cmocka_unit_test(test_bad_prefix),
		cmocka_unit_test(test_bad_port),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_missing_field),
		cmocka_unit_test(test_empty_list),
		cmocka_unit_test(test_duplicate_names),
		cmocka_unit_test(test_bad_name),
		cmocka_unit_test(test_longest_name),
		cmocka_unit_test(test_cgroup_twice),
		cmocka_unit_test(test_bad_cgroup),
		cmocka_unit_test(test_scope_globs),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_max_media),
		cmocka_unit_test(test_target_overlap),
		cmocka_unit_test(test_bad_top_level),
		cmocka_unit_test(test_bad_yaml),
		cmocka_unit_test(test_pods),
		cmocka_unit_test(test_fleet),
		cmocka_unit_test(test_fleet_defaults),
		cmocka_unit_test(test_fleet_redis),
		cmocka_unit_test(test_fleet_durations),
		cmocka_unit_test(test_fleet_fields),
		cmocka_unit_test(test_fleet_password),
		cmocka_unit_test(test_fleet_media),
		cmocka_unit_test(test_adaptive),
		cmocka_unit_test(test_adaptive_errors),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_error_buffers),
	};
	/* clang-format on */

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
