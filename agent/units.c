// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Strict parsers for operator input (units.h). Numbers are scanned by hand rather than with
 * strtoull(), which skips spaces, takes signs ("-5" wraps to a huge value), and reads octal or hex
 * by base; here a number is plain ASCII digits, without a leading zero, checked for overflow.
 * Outputs are written only on success.
 */
#define _GNU_SOURCE /* explicit_bzero */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cruise_target.h"
#include "units.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define NSEC_PER_MIN  (60 * NSEC_PER_SEC)
#define NSEC_PER_HOUR (3600 * NSEC_PER_SEC)
#define NSEC_PER_DAY  (86400 * NSEC_PER_SEC)

struct unit {
	const char *name;
	__u64 ns;
};

/* of a rate (per unit), in the order cruise_format_rate tries them */
static const struct unit rate_units[] = {
	{ "s", NSEC_PER_SEC },
	{ "m", NSEC_PER_MIN },
	{ "h", NSEC_PER_HOUR },
	{ "d", NSEC_PER_DAY },
};

/* of a duration, shortest first */
static const struct unit duration_units[] = {
	{ "ns", 1 },	       { "us", NSEC_PER_USEC }, { "ms", NSEC_PER_MSEC },
	{ "s", NSEC_PER_SEC }, { "m", NSEC_PER_MIN },	{ "h", NSEC_PER_HOUR },
};

const char *cruise_quote(const char *s, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	/* as many bytes as fit escaped, with room for the "..." after them */
	size_t max = len > CRUISE_QUOTE_LEN(0) ? (len - CRUISE_QUOTE_LEN(0)) / 4 : 0, q = 0, i;

	for (i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			buf[q++] = (char)c;
		} else {
			buf[q++] = '\\';
			buf[q++] = 'x';
			buf[q++] = hex[c >> 4];
			buf[q++] = hex[c & 0xf];
		}
	}
	if (s[i] && q + 3 < len) {
		memcpy(buf + q, "...", 3);
		q += 3;
	}
	if (len)
		buf[q] = '\0';
	return buf;
}

/* Reasons start with the quoted input: fmt's first conversion is the "%s" for it. */
#define FAIL(err, errlen, s, fmt, ...)                                                             \
	do {                                                                                       \
		char q_[CRUISE_QUOTE_LEN(CRUISE_QUOTE_MAX)];                                       \
		if ((err) && (errlen))                                                             \
			snprintf(err, errlen, fmt, cruise_quote(s, q_, sizeof(q_)),                \
				 ##__VA_ARGS__);                                                   \
	} while (0)

/*
 * Scan decimal digits at *p into *out, advancing *p past them. Fails (-EINVAL) on no digit or a
 * leading zero ("007" could be read as octal elsewhere; one spelling per number), and (-ERANGE) on
 * u64 overflow. What follows the digits is the caller's business.
 */
static int scan_u64(const char **p, __u64 *out)
{
	const char *s = *p;
	__u64 v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	if (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (v > (UINT64_MAX - d) / 10) {
			/* skip the rest so that the caller can tell overflow from junk */
			while (*s >= '0' && *s <= '9')
				s++;
			*p = s;
			return -ERANGE;
		}
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return 0;
}

int cruise_parse_rate(const char *s, __u64 *interval_ns, char *err, size_t errlen)
{
	const char *p = s;
	__u64 count = 0, unit_ns = 0, q, r;
	unsigned int i;
	int ret;

	ret = scan_u64(&p, &count);
	if (ret == -EINVAL || *p != '/')
		goto syntax;
	for (i = 0; i < ARRAY_SIZE(rate_units); i++)
		if (!strcmp(p + 1, rate_units[i].name))
			unit_ns = rate_units[i].ns;
	if (!unit_ns)
		goto syntax;
	if (ret == -ERANGE) {
		FAIL(err, errlen, s, "bad rate \"%s\": count does not fit in 64 bits");
		return -ERANGE;
	}
	if (!count) {
		FAIL(err, errlen, s, "bad rate \"%s\": rate must be above 0");
		return -ERANGE;
	}
	/* the interval is counted in whole ns: faster than 1 per ns cannot be represented */
	if (count > unit_ns) {
		FAIL(err, errlen, s, "bad rate \"%s\": rate above 1000000000/s");
		return -ERANGE;
	}
	/* round to nearest, half up; count <= unit_ns so q >= 1 */
	q = unit_ns / count;
	r = unit_ns % count;
	if (r >= count - r)
		q++;
	*interval_ns = q;
	return 0;

syntax:
	FAIL(err, errlen, s, "bad rate \"%s\": expected COUNT/UNIT with UNIT one of s, m, h, d");
	return -EINVAL;
}

int cruise_parse_duration(const char *s, __u64 *ns, char *err, size_t errlen)
{
	const char *p = s;
	__u64 v = 0, unit_ns = 0;
	unsigned int i;
	int ret;

	ret = scan_u64(&p, &v);
	if (ret == -EINVAL)
		goto syntax;
	/* a bare 0 needs no unit: zero of anything is the same */
	if (!ret && !v && !*p) {
		*ns = 0;
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(duration_units); i++)
		if (!strcmp(p, duration_units[i].name))
			unit_ns = duration_units[i].ns;
	if (!unit_ns)
		goto syntax;
	/* overflow of the number or of the product: both are beyond the maximum */
	if (ret == -ERANGE || v > CRUISE_DURATION_MAX_NS / unit_ns)
		goto range;
	*ns = v * unit_ns;
	return 0;

syntax:
	FAIL(err, errlen, s,
	     "bad duration \"%s\": expected an integer with a unit among ns, us, ms, s, m, h");
	return -EINVAL;
range:
	FAIL(err, errlen, s, "bad duration \"%s\": longer than the maximum, 24h");
	return -ERANGE;
}

/* The errnos a connect() can plausibly fail with, so that a refusal looks like a real failure. */
static const struct {
	const char *name;
	int errnum;
} errnos[] = {
	{ "ECONNREFUSED", ECONNREFUSED },
	{ "ETIMEDOUT", ETIMEDOUT },
	{ "EAGAIN", EAGAIN },
	{ "ECONNRESET", ECONNRESET },
	{ "ECONNABORTED", ECONNABORTED },
	{ "ENETUNREACH", ENETUNREACH },
	{ "EHOSTUNREACH", EHOSTUNREACH },
	{ "ENETDOWN", ENETDOWN },
	{ "EHOSTDOWN", EHOSTDOWN },
	{ "EPERM", EPERM },
	{ "EACCES", EACCES },
	{ "ENOBUFS", ENOBUFS },
	{ "EBUSY", EBUSY },
	{ "EADDRNOTAVAIL", EADDRNOTAVAIL },
	{ "EADDRINUSE", EADDRINUSE },
};

int cruise_parse_errno(const char *name, int *errnum, char *err, size_t errlen)
{
	unsigned int i;

	/* the same number as EAGAIN on Linux; accepted as people write it, printed as EAGAIN */
	if (!strcmp(name, "EWOULDBLOCK")) {
		*errnum = EWOULDBLOCK;
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(errnos); i++) {
		if (!strcmp(name, errnos[i].name)) {
			*errnum = errnos[i].errnum;
			return 0;
		}
	}
	FAIL(err, errlen, name,
	     "bad errno \"%s\": expected one of ECONNREFUSED, ETIMEDOUT, EAGAIN, ECONNRESET, "
	     "ECONNABORTED, ENETUNREACH, EHOSTUNREACH, ENETDOWN, EHOSTDOWN, EPERM, EACCES, "
	     "ENOBUFS, EBUSY, EADDRNOTAVAIL, EADDRINUSE");
	return -EINVAL;
}

const char *cruise_errno_name(int errnum)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(errnos); i++)
		if (errnos[i].errnum == errnum)
			return errnos[i].name;
	return NULL;
}

int cruise_parse_count(const char *s, __u64 max, __u64 *out, char *err, size_t errlen)
{
	const char *p = s;
	__u64 v = 0;
	int ret;

	ret = scan_u64(&p, &v);
	if (ret == -ERANGE && !*p)
		goto range;
	if (ret || *p) {
		FAIL(err, errlen, s,
		     "bad count \"%s\": expected a decimal integer without sign or "
		     "leading zero");
		return -EINVAL;
	}
	if (v > max)
		goto range;
	*out = v;
	return 0;

range:
	FAIL(err, errlen, s, "bad count \"%s\": above the maximum, %llu", (unsigned long long)max);
	return -ERANGE;
}

bool cruise_fleet_prefix_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > CRUISE_FLEET_PREFIX_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._:-", *s))
			return false;
	return true;
}

int cruise_parse_bool(const char *s, bool *out, char *err, size_t errlen)
{
	static const char *const yes[] = { "on", "true", "yes", "1" };
	static const char *const no[] = { "off", "false", "no", "0" };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	FAIL(err, errlen, s, "bad boolean \"%s\": expected on/off, true/false, yes/no or 1/0");
	return -EINVAL;
}

int cruise_parse_prefix(const char *s, struct cruise_prefix *p, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	struct cruise_prefix v;
	unsigned int max, i;
	__u64 len;

	memset(&v, 0, sizeof(v));
	/* too long for any address: don't cut it to fit and parse something else */
	if (alen >= sizeof(addr))
		goto bad_addr;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	/* inet_pton() takes no spaces, no scope ("%eth0"), and no leading zeros in IPv4 octets */
	if (memchr(addr, ':', alen)) {
		v.family = AF_INET6;
		max = 128;
	} else {
		v.family = AF_INET;
		max = 32;
	}
	if (inet_pton(v.family, addr, v.addr) != 1)
		goto bad_addr;

	len = max;
	if (slash) {
		const char *q = slash + 1;

		if (scan_u64(&q, &len) || *q) {
			FAIL(err, errlen, s,
			     "bad prefix \"%s\": expected /LEN, a decimal length "
			     "without sign or leading zero");
			return -EINVAL;
		}
		if (len > max) {
			FAIL(err, errlen, s, "bad prefix \"%s\": length above %u", max);
			return -ERANGE;
		}
	}
	v.len = (unsigned int)len; /* <= max */
	/* host bits set likely mean a typo in the address or length, not a wish to round down */
	for (i = v.len; i < max; i++) {
		if (v.addr[i / 8] & (0x80 >> (i % 8))) {
			FAIL(err, errlen, s, "bad prefix \"%s\": host bits set beyond /%u", v.len);
			return -EINVAL;
		}
	}
	*p = v;
	return 0;

bad_addr:
	FAIL(err, errlen, s,
	     "bad prefix \"%s\": expected an IPv4 or IPv6 address, then an optional /LEN");
	return -EINVAL;
}

/*
 * n per unit, if unit_ns / interval_ns is within 0.01% of a whole n >= 1. Integer math with 128
 * bits: unit_ns * 10000 overflows 64.
 */
static bool whole_per(__u64 interval_ns, __u64 unit_ns, __u64 *n)
{
	unsigned __int128 prod, diff;
	__u64 q = unit_ns / interval_ns, r = unit_ns % interval_ns;

	if (r >= interval_ns - r)
		q++;
	if (!q)
		return false;
	prod = (unsigned __int128)q * interval_ns;
	diff = prod > unit_ns ? prod - unit_ns : unit_ns - prod;
	if (diff * 10000 > unit_ns)
		return false;
	*n = q;
	return true;
}

void cruise_format_rate(__u64 interval_ns, char *buf, size_t len)
{
	__u64 n, pow, whole, frac;
	unsigned __int128 v;
	unsigned int i, d;

	if (!buf || !len)
		return;
	/* the pacing math's "no pacing" */
	if (!interval_ns) {
		snprintf(buf, len, "unlimited");
		return;
	}
	/*
	 * "/d" is tried last so that every rate cruise_parse_rate() accepts formats to something it
	 * accepts back (7/d is not a whole number per hour).
	 */
	for (i = 0; i < ARRAY_SIZE(rate_units); i++) {
		if (whole_per(interval_ns, rate_units[i].ns, &n)) {
			snprintf(buf, len, "%llu/%s", (unsigned long long)n, rate_units[i].name);
			return;
		}
	}
	/*
	 * Slower than a few per day, or not whole per day: a decimal per second with three
	 * significant digits, in integers (printf's %f would follow the locale's decimal point).
	 * v = round(1e9 * 10^d / interval) for the first d that makes v >= 100; the slowest rate,
	 * 1 per 2^64 ns, needs d = 13, well within 10^19 < 2^64.
	 */
	for (d = 0, pow = 1; d < 19; d++, pow *= 10)
		if ((unsigned __int128)NSEC_PER_SEC * pow >= (unsigned __int128)100 * interval_ns)
			break;
	v = ((unsigned __int128)NSEC_PER_SEC * pow + interval_ns / 2) / interval_ns;
	/* v < 1000 * pow except for d = 0, where v <= 1e9: both parts fit */
	whole = (__u64)(v / pow);
	frac = (__u64)(v % pow);
	/* trailing zeros say nothing */
	for (; d && frac % 10 == 0; d--)
		frac /= 10;
	if (d)
		snprintf(buf, len, "%llu.%0*llu/s", (unsigned long long)whole, (int)d,
			 (unsigned long long)frac);
	else
		snprintf(buf, len, "%llu/s", (unsigned long long)whole);
}

void cruise_format_duration(__u64 ns, char *buf, size_t len)
{
	unsigned int i;

	if (!buf || !len)
		return;
	if (!ns) {
		snprintf(buf, len, "0s");
		return;
	}
	/* the longest unit that divides it */
	for (i = ARRAY_SIZE(duration_units); i-- > 0;) {
		if (ns % duration_units[i].ns == 0) {
			snprintf(buf, len, "%llu%s",
				 (unsigned long long)(ns / duration_units[i].ns),
				 duration_units[i].name);
			return;
		}
	}
}

int cruise_read_secret(const char *file, const char *shown, char **out, char *err, size_t errlen)
{
	char buf[CRUISE_SECRET_MAX + 1];
	const char *nl;
	struct stat st;
	size_t n = 0, len;
	int fd, e = 0;

	*out = NULL;
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "cannot read \"%s\": %s", shown, strerror(e));
		return -e;
	}
	if (fstat(fd, &st)) {
		e = errno;
	} else if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "cannot read \"%s\": not a regular file", shown);
		return -EINVAL;
	}
	while (!e && n < sizeof(buf)) {
		ssize_t k = read(fd, buf + n, sizeof(buf) - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			e = errno;
		if (k <= 0)
			break;
		n += k;
	}
	close(fd);
	if (e) {
		snprintf(err, errlen, "cannot read \"%s\": %s", shown, strerror(e));
		return -e;
	}
	nl = memchr(buf, '\n', n);
	len = nl ? (size_t)(nl - buf) : n;
	while (len && isspace((unsigned char)buf[len - 1]))
		len--;
	if (!nl && n == sizeof(buf)) {
		snprintf(err, errlen, "\"%s\": the first line is longer than %d bytes", shown,
			 CRUISE_SECRET_MAX);
		e = EINVAL;
	} else if (!len) {
		snprintf(err, errlen, "\"%s\": the first line is empty; expected the password",
			 shown);
		e = EINVAL;
	} else if (memchr(buf, '\0', len)) {
		snprintf(err, errlen, "\"%s\": a NUL byte in the password", shown);
		e = EINVAL;
	} else if (!(*out = strndup(buf, len))) {
		snprintf(err, errlen, "out of memory");
		e = ENOMEM;
	}
	explicit_bzero(buf, sizeof(buf));
	return -e;
}

bool cruise_dns_name_ok(const char *s, size_t n)
{
	size_t i, start = 0;
	bool numeric = true;

	if (!n || n > 253)
		return false;
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (i == start || i - start > 63 || s[start] == '-' || s[i - 1] == '-')
				return false;
			if (i < n)
				numeric = true;
			start = i + 1;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
		if (!isdigit((unsigned char)s[i]))
			numeric = false;
	}
	return !numeric;
}

void cruise_prefix_key(struct cruise_target_key *k, const struct cruise_prefix *p, uint16_t port)
{
	__u32 a4;

	if (p->family == AF_INET) {
		memcpy(&a4, p->addr, sizeof(a4));
		cruise_target_key_v4(k, a4, port, p->len);
	} else {
		cruise_target_key_v6(k, p->addr, port, p->len);
	}
}
