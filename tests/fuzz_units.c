// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target for agent/units.c: every parser and both formatters on one input, with the
 * invariants the agent relies on checked (a parsed value formats to something that parses back to
 * it; a failure writes a one-line message and no output). Buffers are malloc'ed to their exact
 * size so that AddressSanitizer sees any overrun.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "units.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define SENTINEL 0x5a5a5a5a5a5a5a5aULL

/* What a failed parse must leave: an error of its kind on one line, terminated within errlen. */
static void check_err(int ret, const char *err, size_t errlen, const char *kind)
{
	size_t n;

	CHECK(ret == -EINVAL || ret == -ERANGE);
	if (!err || !errlen)
		return;
	n = strnlen(err, errlen);
	CHECK(n < errlen);
	CHECK(!strchr(err, '\n'));
	CHECK(!strncmp(err, kind, n < strlen(kind) ? n : strlen(kind)));
}

/* |a - b| <= b / 9999 + 1: 0.01% of the rate, plus the rounding of the interval to whole ns */
static int close_interval(__u64 a, __u64 b)
{
	unsigned __int128 d = a > b ? a - b : b - a;

	return d * 9999 <= (unsigned __int128)b + 9999;
}

static void check_rate_format(__u64 interval, bool from_parse)
{
	char buf[64], err[256];
	__u64 back = SENTINEL;
	size_t n;
	int ret;

	memset(buf, 0, sizeof(buf));
	cruise_format_rate(interval, buf, sizeof(buf));
	n = strlen(buf);
	CHECK(n > 0 && n < sizeof(buf));
	if (!interval) {
		CHECK(!strcmp(buf, "unlimited"));
		return;
	}
	ret = cruise_parse_rate(buf, &back, err, sizeof(err));
	if (strchr(buf, '.')) {
		/* the decimal fallback: only for rates no whole COUNT/UNIT describes */
		CHECK(!from_parse);
		CHECK(ret == -EINVAL && back == SENTINEL);
		CHECK(n > 2 && !strcmp(buf + n - 2, "/s"));
		/* three significant digits: within 0.5% of the rate (plus double rounding) */
		{
			double want = 1e9 / (double)interval, got = strtod(buf, NULL);

			CHECK(got > 0 && got >= want * 0.99499 && got <= want * 1.00501);
		}
		return;
	}
	CHECK(ret == 0);
	CHECK(close_interval(back, interval));
}

static void fuzz_rate(const char *s, char *err, size_t errlen)
{
	__u64 v = SENTINEL;
	int ret = cruise_parse_rate(s, &v, err, errlen);

	if (ret) {
		CHECK(v == SENTINEL);
		check_err(ret, err, errlen, "bad rate \"");
		return;
	}
	CHECK(v >= 1);
	/*
	 * An exact oracle: the input is now known to be DIGITS/UNIT, so strtoull() reads it safely;
	 * the interval must be unit / count rounded half up, computed here another way.
	 */
	{
		char *slash;
		unsigned long long count = strtoull(s, &slash, 10);
		unsigned __int128 unit = 0;

		CHECK(*slash == '/' && count >= 1);
		switch (slash[1]) {
		case 's':
			unit = 1000000000ULL;
			break;
		case 'm':
			unit = 60000000000ULL;
			break;
		case 'h':
			unit = 3600000000000ULL;
			break;
		case 'd':
			unit = 86400000000000ULL;
			break;
		}
		CHECK(unit && !slash[2] && count <= unit);
		CHECK(v == (__u64)((2 * unit + count) / (2 * (unsigned __int128)count)));
	}
	check_rate_format(v, true);
}

static void check_duration_format(__u64 ns)
{
	char buf[64];
	__u64 back = SENTINEL;
	int ret;

	memset(buf, 0, sizeof(buf));
	cruise_format_duration(ns, buf, sizeof(buf));
	CHECK(strlen(buf) > 0 && strlen(buf) < sizeof(buf));
	ret = cruise_parse_duration(buf, &back, NULL, 0);
	if (ns <= CRUISE_DURATION_MAX_NS) {
		CHECK(ret == 0);
		CHECK(back == ns);
	} else {
		CHECK(ret == -ERANGE && back == SENTINEL);
	}
}

static void fuzz_duration(const char *s, char *err, size_t errlen)
{
	__u64 v = SENTINEL;
	int ret = cruise_parse_duration(s, &v, err, errlen);

	if (ret) {
		CHECK(v == SENTINEL);
		check_err(ret, err, errlen, "bad duration \"");
		return;
	}
	CHECK(v <= CRUISE_DURATION_MAX_NS);
	check_duration_format(v);
}

static void fuzz_errno(const char *s, char *err, size_t errlen)
{
	int e = -12345, back = -12345;
	const char *name;
	int ret = cruise_parse_errno(s, &e, err, errlen);

	if (ret) {
		CHECK(e == -12345);
		check_err(ret, err, errlen, "bad errno \"");
		return;
	}
	CHECK(e > 0);
	name = cruise_errno_name(e);
	CHECK(name);
	CHECK(!strcmp(name, s) || !strcmp(s, "EWOULDBLOCK"));
	CHECK(cruise_parse_errno(name, &back, NULL, 0) == 0 && back == e);
}

static void fuzz_count(const char *s, __u64 max, char *err, size_t errlen)
{
	char back[32];
	__u64 v = SENTINEL;
	int ret = cruise_parse_count(s, max, &v, err, errlen);

	if (ret) {
		CHECK(v == SENTINEL);
		check_err(ret, err, errlen, "bad count \"");
		return;
	}
	CHECK(v <= max);
	/* one spelling per number: the input is exactly the canonical decimal */
	snprintf(back, sizeof(back), "%llu", (unsigned long long)v);
	CHECK(!strcmp(back, s));
}

static void fuzz_bool(const char *s, char *err, size_t errlen)
{
	static const char *const yes[] = { "on", "true", "yes", "1" };
	static const char *const no[] = { "off", "false", "no", "0" };
	bool b = false;
	unsigned int i;
	int ret = cruise_parse_bool(s, &b, err, errlen);

	if (ret) {
		check_err(ret, err, errlen, "bad boolean \"");
		return;
	}
	for (i = 0; i < 4; i++)
		if (!strcmp(s, yes[i]) || !strcmp(s, no[i]))
			break;
	CHECK(i < 4);
	CHECK(b == !strcmp(s, yes[i]));
}

static void fuzz_prefix(const char *s, char *err, size_t errlen)
{
	struct cruise_prefix p, before, back;
	char addr[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 8];
	unsigned int max, i;
	int ret;

	memset(&p, 0xa5, sizeof(p));
	before = p;
	ret = cruise_parse_prefix(s, &p, err, errlen);
	if (ret) {
		CHECK(!memcmp(&p, &before, sizeof(p)));
		check_err(ret, err, errlen, "bad prefix \"");
		return;
	}
	CHECK(p.family == AF_INET || p.family == AF_INET6);
	max = p.family == AF_INET ? 32 : 128;
	CHECK(p.len <= max);
	/* host bits zero, and nothing past an IPv4 address */
	for (i = p.len; i < 128; i++)
		CHECK(!(p.addr[i / 8] & (0x80 >> (i % 8))));
	/* the same prefix written by inet_ntop() parses to the same thing */
	CHECK(inet_ntop(p.family, p.addr, addr, sizeof(addr)));
	snprintf(text, sizeof(text), "%s/%u", addr, p.len);
	memset(&back, 0, sizeof(back));
	CHECK(cruise_parse_prefix(text, &back, NULL, 0) == 0);
	CHECK(back.family == p.family && back.len == p.len);
	CHECK(!memcmp(back.addr, p.addr, sizeof(p.addr)));
}

/* The formatters on a raw u64, and into a buffer of every small size. */
static void fuzz_formatters(__u64 x, size_t small)
{
	char *buf;

	check_rate_format(x, false);
	check_duration_format(x);

	buf = malloc(small ? small : 1);
	if (!buf)
		return;
	cruise_format_rate(x, buf, small);
	if (small)
		CHECK(strnlen(buf, small) < small);
	cruise_format_duration(x, buf, small);
	if (small)
		CHECK(strnlen(buf, small) < small);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *err;
	size_t errlen;
	__u64 x = 0, max;

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	/* an error buffer of a size the input picks (0 included), exactly allocated */
	errlen = size ? data[0] % 160 : 100;
	err = errlen ? malloc(errlen) : NULL;

	fuzz_rate(s, err, errlen);
	fuzz_duration(s, err, errlen);
	fuzz_errno(s, err, errlen);
	fuzz_bool(s, err, errlen);
	fuzz_prefix(s, err, errlen);
	/* the bound from the input's length, so that both the bound and 64-bit overflow are hit */
	max = size & 1 ? UINT64_MAX : (__u64)size * 1000;
	fuzz_count(s, max, err, errlen);
	/* and every parser with no error buffer at all */
	fuzz_rate(s, NULL, 0);
	fuzz_duration(s, NULL, 0);
	fuzz_prefix(s, NULL, 0);

	/* the raw bytes as a u64, for the formatters */
	memcpy(&x, data, size < sizeof(x) ? size : sizeof(x));
	fuzz_formatters(x, size % 24);
	/* and values near the interesting edges */
	fuzz_formatters(x % (CRUISE_DURATION_MAX_NS + 2), size % 7);
	fuzz_formatters(x % 100000000000ULL, size % 5);

	free(err);
	free(s);
	return 0;
}
