// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The probes' dispatch and shared helpers (probe.h, probe_int.h). The kinds live in probe_pg.c
 * and probe_prom.c; a run that starts after its deadline fails at once, without touching the
 * server, so no kind has to handle an empty budget.
 */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe_int.h"

static const char *const error_names[CRUISE_PROBE_ERROR_COUNT] = {
	[CRUISE_PROBE_OK] = "ok",	    [CRUISE_PROBE_CONNECT] = "connect",
	[CRUISE_PROBE_TIMEOUT] = "timeout", [CRUISE_PROBE_QUERY] = "query",
	[CRUISE_PROBE_GARBAGE] = "garbage",
};

const char *cruise_probe_error_name(enum cruise_probe_error e)
{
	if ((unsigned int)e >= CRUISE_PROBE_ERROR_COUNT)
		return "unknown";
	return error_names[e];
}

enum cruise_probe_error cruise_probe_run(struct cruise_probe *p, __u64 deadline_ns, double *value,
					 char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (cruise_probe_now_ns() >= deadline_ns)
		return cruise_probe_fail(CRUISE_PROBE_TIMEOUT, err, errlen,
					 "the deadline passed before the probe started");
	return p->ops->run(p, deadline_ns, value, err, errlen);
}

void cruise_probe_free(struct cruise_probe *p)
{
	if (p)
		p->ops->free(p);
}

__u64 cruise_probe_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int cruise_probe_ms_left(__u64 deadline_ns)
{
	__u64 now = cruise_probe_now_ns(), ms;

	if (now >= deadline_ns)
		return 0;
	ms = (deadline_ns - now + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

bool cruise_probe_parse_number(const char *s, double *v)
{
	char *end;
	double d;

	/* strtod alone would take spaces, "nan", "inf" and hex: only decimal notation here */
	if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
		return false;
	d = strtod(s, &end);
	if (end == s || *end || !isfinite(d))
		return false;
	*v = d;
	return true;
}

enum cruise_probe_error cruise_probe_fail(enum cruise_probe_error kind, char *err, size_t errlen,
					  const char *fmt, ...)
{
	size_t r = 0;
	va_list ap;

	if (!errlen)
		return kind;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (size_t i = 0; err[i]; i++) {
		char c = iscntrl((unsigned char)err[i]) ? ' ' : err[i];

		if (c == ' ' && (!r || err[r - 1] == ' '))
			continue;
		err[r++] = c;
	}
	while (r && err[r - 1] == ' ')
		r--;
	err[r] = '\0';
	return kind;
}

void cruise_probe_redact(char *s, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;
	char *from = s, *hit;

	if (!n)
		return;
	while ((hit = strstr(from, secret))) {
		/* "***", or as many stars as a shorter secret has characters; never longer */
		size_t k = n < 3 ? n : 3;

		memset(hit, '*', k);
		memmove(hit + k, hit + n, strlen(hit + n) + 1);
		from = hit + k;
	}
}
