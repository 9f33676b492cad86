// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the strict parsers and formatters (agent/units.h). Every accepted spelling has an
 * expected value worked out by hand from the units; every rejected one names why it must fail.
 *
 * Over 600 lines: one case table per parser, each spelling with its expected value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "units.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DAY_NS	      (86400 * NSEC_PER_SEC)
#define U64_MAX_STR   "18446744073709551615"
#define U64_OVER_STR  "18446744073709551616"
#define SENTINEL      0x5a5a5a5a5a5a5a5aULL

struct u64_case {
	const char *in;
	int ret;
	__u64 out;
};

/* ---- rates ---- */

/* clang-format off */
static const struct u64_case rate_ok[] = {
	{"200/s", 0, 5000000},
	{"30/m", 0, 2 * NSEC_PER_SEC},
	{"2/h", 0, 1800 * NSEC_PER_SEC},
	{"1/d", 0, DAY_NS},
	{"1/s", 0, NSEC_PER_SEC},
	{"1/m", 0, 60 * NSEC_PER_SEC},
	{"1/h", 0, 3600 * NSEC_PER_SEC},
	{"3/s", 0, 333333333},	   /* 333333333.3 rounds down */
	{"6/s", 0, 166666667},	   /* 166666666.7 rounds up */
	{"400000000/s", 0, 3},	   /* 2.5 rounds half up */
	{"7/d", 0, 12342857142857}, /* 12342857142857.14 */
	{"1000000000/s", 0, 1},	   /* the fastest representable rate */
	{"60000000000/m", 0, 1},
	{"3600000000000/h", 0, 1},
	{"86400000000000/d", 0, 1},
	{"1500000000/m", 0, 40},
};
/* clang-format on */

/* clang-format off */
static const struct u64_case rate_bad[] = {
	{"", -EINVAL, 0},
	{"/s", -EINVAL, 0},
	{"5", -EINVAL, 0},
	{"5/", -EINVAL, 0},
	{"5/s/s", -EINVAL, 0},
	{"5//s", -EINVAL, 0},
	{" 5/s", -EINVAL, 0},
	{"5/s ", -EINVAL, 0},
	{"5 /s", -EINVAL, 0},
	{"5/ s", -EINVAL, 0},
	{"5/s\n", -EINVAL, 0},
	{"+5/s", -EINVAL, 0},
	{"-5/s", -EINVAL, 0},
	{"05/s", -EINVAL, 0},
	{"0x10/s", -EINVAL, 0},
	{"5.0/s", -EINVAL, 0},
	{"0.5/s", -EINVAL, 0},
	{".5/s", -EINVAL, 0},
	{"1e3/s", -EINVAL, 0},
	{"1e9999/s", -EINVAL, 0},
	{"5/S", -EINVAL, 0},
	{"5/sec", -EINVAL, 0},
	{"5/ms", -EINVAL, 0},
	{"5/x", -EINVAL, 0},
	{"5/w", -EINVAL, 0},
	{"s/5", -EINVAL, 0},
	{U64_OVER_STR "/x", -EINVAL, 0}, /* junk wins over size */
	{"0/s", -ERANGE, 0},
	{"0/d", -ERANGE, 0},
	{"1000000001/s", -ERANGE, 0}, /* interval would round to 1 but the rate is not honoured */
	{"2000000000/s", -ERANGE, 0},
	{"60000000001/m", -ERANGE, 0},
	{"86400000000001/d", -ERANGE, 0},
	{U64_MAX_STR "/s", -ERANGE, 0},
	{U64_MAX_STR "/d", -ERANGE, 0},
	{U64_OVER_STR "/s", -ERANGE, 0},
	{"99999999999999999999999999999999/h", -ERANGE, 0},
};
/* clang-format on */

static void test_rate_accept(void **state)
{
	char err[256];
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(rate_ok); i++) {
		__u64 v = SENTINEL;
		int ret;

		strcpy(err, "untouched");
		ret = cruise_parse_rate(rate_ok[i].in, &v, err, sizeof(err));
		if (ret || v != rate_ok[i].out)
			fail_msg("rate \"%s\": ret %d interval %llu, want %llu (%s)", rate_ok[i].in,
				 ret, (unsigned long long)v, (unsigned long long)rate_ok[i].out,
				 err);
		/* success leaves err alone */
		assert_string_equal(err, "untouched");
	}
}

static void test_rate_reject(void **state)
{
	char err[256];
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(rate_bad); i++) {
		__u64 v = SENTINEL;
		int ret;

		err[0] = '\0';
		ret = cruise_parse_rate(rate_bad[i].in, &v, err, sizeof(err));
		if (ret != rate_bad[i].ret || v != SENTINEL)
			fail_msg("rate \"%s\": ret %d interval %llu, want %d and no output",
				 rate_bad[i].in, ret, (unsigned long long)v, rate_bad[i].ret);
		if (strncmp(err, "bad rate \"", 10) || strchr(err, '\n'))
			fail_msg("rate \"%s\": message \"%s\"", rate_bad[i].in, err);
		/* err may be NULL */
		assert_int_equal(cruise_parse_rate(rate_bad[i].in, &v, NULL, 0), rate_bad[i].ret);
		assert_int_equal(cruise_parse_rate(rate_bad[i].in, &v, NULL, 100), rate_bad[i].ret);
	}
}

static void test_rate_messages(void **state)
{
	char err[256];
	__u64 v;

	(void)state;
	assert_int_equal(cruise_parse_rate("5/s/s", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "bad rate \"5/s/s\": expected COUNT/UNIT with UNIT one of s, m, h, d");
	assert_int_equal(cruise_parse_rate("0/s", &v, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "bad rate \"0/s\": rate must be above 0");
	assert_int_equal(cruise_parse_rate("2000000000/s", &v, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "bad rate \"2000000000/s\": rate above 1000000000/s");
	assert_int_equal(cruise_parse_rate(U64_OVER_STR "/s", &v, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "bad rate \"" U64_OVER_STR "/s\": count does not fit in 64 bits");
}

/* Exactly what the formatter prints for these, so they must come back unchanged. */
static const char *const rate_canonical[] = {
	"200/s", "30/m", "2/h",	 "1/d",	   "7/d",	   "1/s",     "1/m",  "1/h",
	"3/s",	 "7/s",	 "59/m", "1000/s", "1000000000/s", "12345/s", "13/h", "9999/d",
};

static void test_rate_round_trip(void **state)
{
	char buf[64];
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(rate_canonical); i++) {
		__u64 v;

		assert_int_equal(cruise_parse_rate(rate_canonical[i], &v, NULL, 0), 0);
		cruise_format_rate(v, buf, sizeof(buf));
		assert_string_equal(buf, rate_canonical[i]);
	}
}

static void check_format_rate(__u64 interval, const char *want)
{
	char buf[64];

	memset(buf, 'x', sizeof(buf));
	cruise_format_rate(interval, buf, sizeof(buf));
	if (strcmp(buf, want))
		fail_msg("format_rate(%llu) = \"%s\", want \"%s\"", (unsigned long long)interval,
			 buf, want);
}

static void test_format_rate(void **state)
{
	char buf[8];

	(void)state;
	check_format_rate(0, "unlimited"); /* the pacing math's "no pacing" */
	check_format_rate(1, "1000000000/s");
	check_format_rate(3, "333333333/s");
	check_format_rate(5000000, "200/s");
	check_format_rate(NSEC_PER_SEC, "1/s");
	check_format_rate(2 * NSEC_PER_SEC, "30/m");
	check_format_rate(60 * NSEC_PER_SEC, "1/m");
	check_format_rate(1800 * NSEC_PER_SEC, "2/h");
	check_format_rate(DAY_NS, "1/d");
	/* within 0.01% of 1/s, either side */
	check_format_rate(NSEC_PER_SEC + 99999, "1/s");
	check_format_rate(NSEC_PER_SEC - 99999, "1/s");
	/* 0.02% off 1/s and 60/m, but 3599.28/h is within 0.01% of 3599 */
	check_format_rate(NSEC_PER_SEC + 200000, "3599/h");
	/* 3598.5/h is 0.014% off a whole number per hour; 86364/d is not */
	check_format_rate(1000416840, "86364/d");
	/* 1.5 per day is not whole anywhere: a decimal per second, three significant digits */
	check_format_rate(DAY_NS * 2 / 3, "0.0000174/s");
	/* slower than 1/d rounds to 0 per day */
	check_format_rate(3 * DAY_NS, "0.00000386/s");
	check_format_rate(UINT64_MAX, "0.0000000000542/s");
	/* truncated, still terminated; len 0 writes nothing */
	cruise_format_rate(5000000, buf, 4);
	assert_string_equal(buf, "200");
	buf[0] = '#';
	cruise_format_rate(5000000, buf, 0);
	assert_int_equal(buf[0], '#');
	cruise_format_rate(DAY_NS * 2 / 3, buf, sizeof(buf));
	assert_string_equal(buf, "0.00001");
	cruise_format_rate(5000000, NULL, 10);
}

/* ---- durations ---- */

/* clang-format off */
static const struct u64_case duration_ok[] = {
	{"0", 0, 0},
	{"0s", 0, 0},
	{"0ns", 0, 0},
	{"0h", 0, 0},
	{"1ns", 0, 1},
	{"100us", 0, 100000},
	{"250ms", 0, 250000000},
	{"2s", 0, 2 * NSEC_PER_SEC},
	{"1m", 0, 60 * NSEC_PER_SEC},
	{"1h", 0, 3600 * NSEC_PER_SEC},
	{"24h", 0, CRUISE_DURATION_MAX_NS},
	{"1440m", 0, CRUISE_DURATION_MAX_NS},
	{"86400s", 0, CRUISE_DURATION_MAX_NS},
	{"86400000ms", 0, CRUISE_DURATION_MAX_NS},
	{"86400000000us", 0, CRUISE_DURATION_MAX_NS},
	{"86400000000000ns", 0, CRUISE_DURATION_MAX_NS},
	{"1500ms", 0, 1500000000},
};
/* clang-format on */

/* clang-format off */
static const struct u64_case duration_bad[] = {
	{"", -EINVAL, 0},
	{"s", -EINVAL, 0},
	{"1", -EINVAL, 0}, /* only 0 goes without a unit */
	{"00", -EINVAL, 0},
	{"01s", -EINVAL, 0},
	{"00s", -EINVAL, 0},
	{"-1s", -EINVAL, 0},
	{"+1s", -EINVAL, 0},
	{"-0", -EINVAL, 0},
	{" 1s", -EINVAL, 0},
	{"1s ", -EINVAL, 0},
	{"1 s", -EINVAL, 0},
	{"0 ", -EINVAL, 0},
	{"1.5s", -EINVAL, 0},
	{"1e3ms", -EINVAL, 0},
	{"1e9999s", -EINVAL, 0},
	{"0x10s", -EINVAL, 0},
	{"1S", -EINVAL, 0},
	{"1sec", -EINVAL, 0},
	{"1d", -EINVAL, 0},
	{"1m1s", -EINVAL, 0},
	{"1us1", -EINVAL, 0},
	{"1µs", -EINVAL, 0},
	{U64_OVER_STR "x", -EINVAL, 0},
	{"25h", -ERANGE, 0},
	{"1441m", -ERANGE, 0},
	{"86401s", -ERANGE, 0},
	{"86400000000001ns", -ERANGE, 0},
	{U64_MAX_STR "ns", -ERANGE, 0},
	{U64_MAX_STR "h", -ERANGE, 0}, /* the product overflows */
	{"5124095576030432h", -ERANGE, 0},
	{U64_OVER_STR "ns", -ERANGE, 0},
	{"99999999999999999999999999999999s", -ERANGE, 0},
};
/* clang-format on */

static void test_duration_accept(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(duration_ok); i++) {
		char err[256] = "";
		__u64 v = SENTINEL;
		int ret;

		ret = cruise_parse_duration(duration_ok[i].in, &v, err, sizeof(err));
		if (ret || v != duration_ok[i].out)
			fail_msg("duration \"%s\": ret %d ns %llu, want %llu (%s)",
				 duration_ok[i].in, ret, (unsigned long long)v,
				 (unsigned long long)duration_ok[i].out, err);
	}
}

static void test_duration_reject(void **state)
{
	char err[256];
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(duration_bad); i++) {
		__u64 v = SENTINEL;
		int ret;

		err[0] = '\0';
		ret = cruise_parse_duration(duration_bad[i].in, &v, err, sizeof(err));
		if (ret != duration_bad[i].ret || v != SENTINEL)
			fail_msg("duration \"%s\": ret %d ns %llu, want %d and no output",
				 duration_bad[i].in, ret, (unsigned long long)v,
				 duration_bad[i].ret);
		if (strncmp(err, "bad duration \"", 14) || strchr(err, '\n'))
			fail_msg("duration \"%s\": message \"%s\"", duration_bad[i].in, err);
		assert_int_equal(cruise_parse_duration(duration_bad[i].in, &v, NULL, 0),
				 duration_bad[i].ret);
	}
}

static void test_duration_messages(void **state)
{
	char err[256];
	__u64 v;

	(void)state;
	assert_int_equal(cruise_parse_duration("1d", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "bad duration \"1d\": expected an integer with a unit among ns, us, "
			    "ms, s, m, h");
	assert_int_equal(cruise_parse_duration("25h", &v, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "bad duration \"25h\": longer than the maximum, 24h");
}

static void check_format_duration(__u64 ns, const char *want)
{
	char buf[64];

	memset(buf, 'x', sizeof(buf));
	cruise_format_duration(ns, buf, sizeof(buf));
	if (strcmp(buf, want))
		fail_msg("format_duration(%llu) = \"%s\", want \"%s\"", (unsigned long long)ns, buf,
			 want);
}

static void test_format_duration(void **state)
{
	char buf[4];

	(void)state;
	check_format_duration(0, "0s");
	check_format_duration(1, "1ns");
	check_format_duration(999, "999ns");
	check_format_duration(1000, "1us");
	check_format_duration(1500, "1500ns");
	check_format_duration(100000, "100us");
	check_format_duration(250000000, "250ms");
	check_format_duration(1500000000, "1500ms");
	check_format_duration(2 * NSEC_PER_SEC, "2s");
	check_format_duration(90 * NSEC_PER_SEC, "90s");
	check_format_duration(60 * NSEC_PER_SEC, "1m");
	check_format_duration(3600 * NSEC_PER_SEC, "1h");
	check_format_duration(CRUISE_DURATION_MAX_NS, "24h");
	/* beyond what parses, still printed */
	check_format_duration(25 * 3600 * NSEC_PER_SEC, "25h");
	check_format_duration(UINT64_MAX, U64_MAX_STR "ns");
	cruise_format_duration(250000000, buf, sizeof(buf));
	assert_string_equal(buf, "250");
	buf[0] = '#';
	cruise_format_duration(1, buf, 0);
	assert_int_equal(buf[0], '#');
	cruise_format_duration(1, NULL, 4);
}

static const char *const duration_canonical[] = {
	"0s", "1ns", "999ns", "100us", "250ms", "1500ms", "2s", "90s", "1m", "59m", "1h", "24h",
};

static void test_duration_round_trip(void **state)
{
	char buf[64];
	unsigned int i;
	__u64 v;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(duration_canonical); i++) {
		assert_int_equal(cruise_parse_duration(duration_canonical[i], &v, NULL, 0), 0);
		cruise_format_duration(v, buf, sizeof(buf));
		assert_string_equal(buf, duration_canonical[i]);
	}
	/* a bare 0 is accepted but printed with its unit */
	assert_int_equal(cruise_parse_duration("0", &v, NULL, 0), 0);
	cruise_format_duration(v, buf, sizeof(buf));
	assert_string_equal(buf, "0s");
}

/* ---- errno names ---- */

/* clang-format off */
static const struct {
	const char *name;
	int errnum;
} errno_ok[] = {
	{"ECONNREFUSED", ECONNREFUSED},
	{"ETIMEDOUT", ETIMEDOUT},
	{"EAGAIN", EAGAIN},
	{"ECONNRESET", ECONNRESET},
	{"ECONNABORTED", ECONNABORTED},
	{"ENETUNREACH", ENETUNREACH},
	{"EHOSTUNREACH", EHOSTUNREACH},
	{"EPERM", EPERM},
	{"EACCES", EACCES},
	{"ENOBUFS", ENOBUFS},
	{"EBUSY", EBUSY},
	{"EADDRNOTAVAIL", EADDRNOTAVAIL},
	{"ENETDOWN", ENETDOWN},
	{"EHOSTDOWN", EHOSTDOWN},
	{"EADDRINUSE", EADDRINUSE},
};
/* clang-format on */

static const char *const errno_bad[] = {
	"",
	"econnrefused",
	"Econnrefused",
	"ECONNREFUSED ",
	" ECONNREFUSED",
	"ECONNREFUSED\n",
	"111",
	"-111",
	"EINVAL",
	"ENOENT",
	"E",
	"ECONN",
	"EAGAIN2",
	"EWOULDBLOCKX",
};

static void test_errno(void **state)
{
	char err[256];
	unsigned int i;
	int e;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(errno_ok); i++) {
		e = -1;
		assert_int_equal(cruise_parse_errno(errno_ok[i].name, &e, err, sizeof(err)), 0);
		assert_int_equal(e, errno_ok[i].errnum);
		/* round trip */
		assert_string_equal(cruise_errno_name(e), errno_ok[i].name);
	}
	/* the alias is accepted, and printed as EAGAIN */
	e = -1;
	assert_int_equal(cruise_parse_errno("EWOULDBLOCK", &e, NULL, 0), 0);
	assert_int_equal(e, EAGAIN);
	assert_string_equal(cruise_errno_name(EWOULDBLOCK), "EAGAIN");

	for (i = 0; i < ARRAY_SIZE(errno_bad); i++) {
		e = -12345;
		err[0] = '\0';
		if (cruise_parse_errno(errno_bad[i], &e, err, sizeof(err)) != -EINVAL ||
		    e != -12345)
			fail_msg("errno \"%s\" accepted", errno_bad[i]);
		if (strncmp(err, "bad errno \"", 11) || strchr(err, '\n'))
			fail_msg("errno \"%s\": message \"%s\"", errno_bad[i], err);
		assert_int_equal(cruise_parse_errno(errno_bad[i], &e, NULL, 0), -EINVAL);
	}
	assert_int_equal(cruise_parse_errno("ENOENT", &e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad errno \"ENOENT\": expected one of ECONNREFUSED, "));

	assert_null(cruise_errno_name(0));
	assert_null(cruise_errno_name(-1));
	assert_null(cruise_errno_name(-ECONNREFUSED));
	assert_null(cruise_errno_name(EINVAL));
	assert_null(cruise_errno_name(100000));
}

/* ---- counts ---- */

/* clang-format off */
static const struct {
	const char *in;
	__u64 max;
	int ret;
	__u64 out;
} count_cases[] = {
	{"0", 0, 0, 0},
	{"0", 10, 0, 0},
	{"20", 100, 0, 20},
	{"100", 100, 0, 100},
	{"65535", 65535, 0, 65535},
	{U64_MAX_STR, UINT64_MAX, 0, UINT64_MAX},
	{"101", 100, -ERANGE, 0},
	{"1", 0, -ERANGE, 0},
	{"65536", 65535, -ERANGE, 0},
	{U64_MAX_STR, UINT64_MAX - 1, -ERANGE, 0},
	{U64_OVER_STR, UINT64_MAX, -ERANGE, 0},
	{"99999999999999999999999999999999", UINT64_MAX, -ERANGE, 0},
	{"", 100, -EINVAL, 0},
	{"-1", 100, -EINVAL, 0},
	{"-0", 100, -EINVAL, 0},
	{"+1", 100, -EINVAL, 0},
	{" 5", 100, -EINVAL, 0},
	{"5 ", 100, -EINVAL, 0},
	{"5\n", 100, -EINVAL, 0},
	{"1e3", UINT64_MAX, -EINVAL, 0},
	{"0x10", UINT64_MAX, -EINVAL, 0},
	{"010", UINT64_MAX, -EINVAL, 0},
	{"00", UINT64_MAX, -EINVAL, 0},
	{"1.0", UINT64_MAX, -EINVAL, 0},
	{"1_000", UINT64_MAX, -EINVAL, 0},
	{U64_OVER_STR "x", UINT64_MAX, -EINVAL, 0},
};
/* clang-format on */

static void test_count(void **state)
{
	char err[256];
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(count_cases); i++) {
		__u64 v = SENTINEL;
		int ret;

		err[0] = '\0';
		ret = cruise_parse_count(count_cases[i].in, count_cases[i].max, &v, err,
					 sizeof(err));
		if (ret != count_cases[i].ret || v != (ret ? SENTINEL : count_cases[i].out))
			fail_msg("count \"%s\" max %llu: ret %d out %llu, want %d %llu",
				 count_cases[i].in, (unsigned long long)count_cases[i].max, ret,
				 (unsigned long long)v, count_cases[i].ret,
				 (unsigned long long)count_cases[i].out);
		if (ret && (strncmp(err, "bad count \"", 11) || strchr(err, '\n')))
			fail_msg("count \"%s\": message \"%s\"", count_cases[i].in, err);
		assert_int_equal(
			cruise_parse_count(count_cases[i].in, count_cases[i].max, &v, NULL, 0),
			count_cases[i].ret);
	}
	assert_int_equal(cruise_parse_count("65536", 65535, &(__u64){ 0 }, err, sizeof(err)),
			 -ERANGE);
	assert_string_equal(err, "bad count \"65536\": above the maximum, 65535");
	assert_int_equal(cruise_parse_count("-1", 65535, &(__u64){ 0 }, err, sizeof(err)), -EINVAL);
	assert_string_equal(
		err, "bad count \"-1\": expected a decimal integer without sign or leading zero");
}

/* ---- booleans ---- */

static void test_bool(void **state)
{
	static const char *const yes[] = { "on", "true", "yes", "1" };
	static const char *const no[] = { "off", "false", "no", "0" };
	static const char *const bad[] = { "",	  "ON",	  "True", "YES",    "2",    "y",   "n",
					   "on ", " yes", "01",	  "enable", "nope", "tru", "-1" };
	char err[256];
	unsigned int i;
	bool b;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		b = false;
		assert_int_equal(cruise_parse_bool(yes[i], &b, err, sizeof(err)), 0);
		assert_true(b);
		b = true;
		assert_int_equal(cruise_parse_bool(no[i], &b, err, sizeof(err)), 0);
		assert_false(b);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		b = true;
		err[0] = '\0';
		if (cruise_parse_bool(bad[i], &b, err, sizeof(err)) != -EINVAL || !b)
			fail_msg("bool \"%s\" accepted", bad[i]);
		if (strncmp(err, "bad boolean \"", 13) || strchr(err, '\n'))
			fail_msg("bool \"%s\": message \"%s\"", bad[i], err);
		assert_int_equal(cruise_parse_bool(bad[i], &b, NULL, 0), -EINVAL);
	}
	assert_int_equal(cruise_parse_bool("maybe", &b, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "bad boolean \"maybe\": expected on/off, true/false, yes/no or 1/0");
}

/* ---- prefixes ---- */

/* clang-format off */
static const struct {
	const char *in;
	int family;
	unsigned int len;
	__u8 addr[16];
} prefix_ok[] = {
	{"127.0.0.1/32", AF_INET, 32, {127, 0, 0, 1}},
	{"127.0.0.1", AF_INET, 32, {127, 0, 0, 1}},
	{"10.0.0.0/8", AF_INET, 8, {10}},
	{"192.168.0.0/16", AF_INET, 16, {192, 168}},
	{"192.168.1.128/25", AF_INET, 25, {192, 168, 1, 128}},
	{"0.0.0.0/0", AF_INET, 0, {0}},
	{"255.255.255.255/32", AF_INET, 32, {255, 255, 255, 255}},
	{"::1/128", AF_INET6, 128, {[15] = 1}},
	{"::1", AF_INET6, 128, {[15] = 1}},
	{"::/0", AF_INET6, 0, {0}},
	{"::", AF_INET6, 128, {0}},
	{"fe80::/10", AF_INET6, 10, {0xfe, 0x80}},
	{"2001:db8::/32", AF_INET6, 32, {0x20, 0x01, 0x0d, 0xb8}},
	{"2001:DB8::/32", AF_INET6, 32, {0x20, 0x01, 0x0d, 0xb8}},
	{"::ffff:10.0.0.0/104", AF_INET6, 104, {[10] = 0xff, [11] = 0xff, [12] = 10}},
	{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
	 AF_INET6,
	 128,
	 {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff}},
};
/* clang-format on */

/* clang-format off */
static const struct {
	const char *in;
	int ret;
} prefix_bad[] = {
	{"10.0.0.1/8", -EINVAL}, /* host bits */
	{"11.0.0.0/7", -EINVAL},
	{"0.0.0.1/0", -EINVAL},
	{"::1/127", -EINVAL},
	{"fe80::1/10", -EINVAL},
	{"::1/0", -EINVAL},
	{"127.0.0.1/33", -ERANGE},
	{"::1/129", -ERANGE},
	{"127.0.0.1/" U64_MAX_STR, -ERANGE},
	{"127.0.0.1/" U64_OVER_STR, -EINVAL},
	{"127.0.0.1/", -EINVAL},
	{"127.0.0.1/032", -EINVAL},
	{"0.0.0.0/00", -EINVAL},
	{"127.0.0.1/+32", -EINVAL},
	{"127.0.0.1/-1", -EINVAL},
	{"127.0.0.1/ 32", -EINVAL},
	{"127.0.0.1/32 ", -EINVAL},
	{"127.0.0.1/32x", -EINVAL},
	{"127.0.0.1/0x20", -EINVAL},
	{"127.0.0.1/32/32", -EINVAL},
	{"::1/128/128", -EINVAL},
	{" 127.0.0.1", -EINVAL},
	{"127.0.0.1 ", -EINVAL},
	{"127.0.0.1\n", -EINVAL},
	{"127.1", -EINVAL},
	{"127.0.0.01", -EINVAL},
	{"0x7f.0.0.1", -EINVAL},
	{"256.0.0.1", -EINVAL},
	{"1.2.3.4.5", -EINVAL},
	{"", -EINVAL},
	{"/8", -EINVAL},
	{"/", -EINVAL},
	{"localhost", -EINVAL},
	{"fe80::1%eth0", -EINVAL},
	{"fe80::1%eth0/128", -EINVAL},
	{"[::1]", -EINVAL},
	{"[::1]/128", -EINVAL},
	{"127.0.0.1:80", -EINVAL},
	{":::1", -EINVAL},
	{"1::2::3", -EINVAL},
	/* longer than any address: must not be cut to fit */
	{"0000:0000:0000:0000:0000:0000:0000:00001", -EINVAL},
	{"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255x/128", -EINVAL},
};
/* clang-format on */

static void test_prefix_accept(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(prefix_ok); i++) {
		struct cruise_prefix p;
		char err[256] = "";

		memset(&p, 0xa5, sizeof(p));
		if (cruise_parse_prefix(prefix_ok[i].in, &p, err, sizeof(err)))
			fail_msg("prefix \"%s\" rejected: %s", prefix_ok[i].in, err);
		assert_int_equal(p.family, prefix_ok[i].family);
		assert_int_equal(p.len, prefix_ok[i].len);
		/* all 16 bytes: an IPv4 address leaves the rest zero */
		assert_memory_equal(p.addr, prefix_ok[i].addr, sizeof(p.addr));
	}
}

static void test_prefix_reject(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(prefix_bad); i++) {
		struct cruise_prefix p, before;
		char err[256] = "";
		int ret;

		memset(&p, 0xa5, sizeof(p));
		before = p;
		ret = cruise_parse_prefix(prefix_bad[i].in, &p, err, sizeof(err));
		if (ret != prefix_bad[i].ret || memcmp(&p, &before, sizeof(p)))
			fail_msg("prefix \"%s\": ret %d, want %d and no output", prefix_bad[i].in,
				 ret, prefix_bad[i].ret);
		if (strncmp(err, "bad prefix \"", 12) || strchr(err, '\n'))
			fail_msg("prefix \"%s\": message \"%s\"", prefix_bad[i].in, err);
		assert_int_equal(cruise_parse_prefix(prefix_bad[i].in, &p, NULL, 0),
				 prefix_bad[i].ret);
	}
}

static void test_prefix_messages(void **state)
{
	struct cruise_prefix p;
	char err[256];

	(void)state;
	assert_int_equal(cruise_parse_prefix("10.0.0.1/8", &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad prefix \"10.0.0.1/8\": host bits set beyond /8");
	assert_int_equal(cruise_parse_prefix("::1/129", &p, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "bad prefix \"::1/129\": length above 128");
	assert_int_equal(cruise_parse_prefix("127.0.0.1/33", &p, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "bad prefix \"127.0.0.1/33\": length above 32");
	assert_int_equal(cruise_parse_prefix("localhost", &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad prefix \"localhost\": expected an IPv4 or IPv6 address, then "
				 "an optional /LEN");
	assert_int_equal(cruise_parse_prefix("1.2.3.4/x", &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "bad prefix \"1.2.3.4/x\": expected /LEN, a decimal length without "
			    "sign or leading zero");
}

/* ---- messages in general ---- */

static void test_message_quoting(void **state)
{
	char err[512], long_in[300], small[16];
	__u64 v;

	(void)state;
	/* control bytes, quotes and non-ASCII are escaped: the message stays one printable line */
	assert_int_equal(cruise_parse_rate("5/s\n\"x\\\xff", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad rate \"5/s\\x0a\\x22x\\x5c\\xff\": expected COUNT/UNIT with "
				 "UNIT one of s, m, h, d");
	/* a long input is cut */
	memset(long_in, '7', sizeof(long_in) - 1);
	long_in[sizeof(long_in) - 1] = '\0';
	assert_int_equal(cruise_parse_count(long_in, 10, &v, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "7777...\": above the maximum, 10"));
	assert_true(strlen(err) < 150);
	/* a short buffer is filled and terminated, never overrun */
	memset(small, '#', sizeof(small));
	assert_int_equal(cruise_parse_rate("5/s/s", &v, small, 10), -EINVAL);
	assert_string_equal(small, "bad rate ");
	assert_int_equal(small[10], '#');
	assert_int_equal(cruise_parse_rate("5/s/s", &v, small, 1), -EINVAL);
	assert_string_equal(small, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_accept),
		cmocka_unit_test(test_rate_reject),
		cmocka_unit_test(test_rate_messages),
		cmocka_unit_test(test_rate_round_trip),
		cmocka_unit_test(test_format_rate),
		cmocka_unit_test(test_duration_accept),
		cmocka_unit_test(test_duration_reject),
		cmocka_unit_test(test_duration_messages),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_duration_round_trip),
		cmocka_unit_test(test_errno),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_prefix_accept),
		cmocka_unit_test(test_prefix_reject),
		cmocka_unit_test(test_prefix_messages),
		cmocka_unit_test(test_message_quoting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
