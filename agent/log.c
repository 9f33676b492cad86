// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The agent's log lines (log.h) and the one JSON string escaper of user space. */
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <linux/types.h>

#include "log.h"

static FILE *log_out;
static enum cruise_log_format log_fmt = CRUISE_LOG_JSON;
static bool log_debug;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void cruise_log_setup(FILE *out, enum cruise_log_format fmt, bool debug)
{
	log_out = out;
	log_fmt = fmt;
	log_debug = debug;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when it is not one. */
static int utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	__u32 cp;
	int len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if ((size_t)len > n)
		return 0;
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void cruise_json_append(char *buf, size_t len, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t at = strnlen(buf, len), i = 0;

	while (i < n && s[i]) {
		unsigned char c = s[i];
		char esc[8] = "";
		size_t k = 1;

		if (c == '"' || c == '\\')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c == '\n' || c == '\r' || c == '\t')
			snprintf(esc, sizeof(esc), "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		else if (c < 0x20 || c == 0x7f)
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		else if (!(k = utf8_seq(s + i, strnlen(str + i, n - i))))
			/* not UTF-8 (a comm cut in the middle of a character) */
			snprintf(esc, sizeof(esc), "\\ufffd");
		if (esc[0])
			k = strlen(esc);
		if (at + k + 1 > len)
			break; /* cut between characters, never inside one or an escape */
		memcpy(buf + at, esc[0] ? esc : str + i, k);
		at += k;
		i += esc[0] ? 1 : k;
	}
	if (len)
		buf[at < len ? at : len - 1] = '\0';
}

void cruise_json_escape(char *buf, size_t len, const char *s)
{
	cruise_json_append(buf, len, s, strlen(s));
}

static __u64 clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (__u64)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

void cruise_log_time(char *buf, size_t len, __u64 mono_ns)
{
	__u64 wall = clock_ns(CLOCK_REALTIME), mono = clock_ns(CLOCK_MONOTONIC);
	struct tm tm;
	time_t sec;

	if (mono_ns && mono_ns <= mono && mono - mono_ns < wall)
		wall -= mono - mono_ns;
	sec = (time_t)(wall / NSEC_PER_SEC);
	gmtime_r(&sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), len - strlen(buf), ".%03uZ",
		 (unsigned int)(wall % NSEC_PER_SEC / NSEC_PER_MSEC));
}

void cruise_log(enum cruise_log_level level, const char *msg, ...)
{
	char line[4096] = "", ts[40];
	const char *key, *val;
	va_list ap;

	if (level == CRUISE_LOG_DEBUG && !log_debug)
		return;
	cruise_log_time(ts, sizeof(ts), 0);
	if (log_fmt == CRUISE_LOG_JSON) {
		snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
			 level_names[level]);
		cruise_json_escape(line, sizeof(line), msg);
		strncat(line, "\"", sizeof(line) - strlen(line) - 1);
	} else {
		snprintf(line, sizeof(line), "%s %-5s %s", ts, level_names[level], msg);
	}
	va_start(ap, msg);
	while ((key = va_arg(ap, const char *)) && (val = va_arg(ap, const char *))) {
		size_t n = strlen(line);

		if (log_fmt == CRUISE_LOG_JSON) {
			snprintf(line + n, sizeof(line) - n, ",\"%s\":\"", key);
			cruise_json_escape(line, sizeof(line), val);
			strncat(line, "\"", sizeof(line) - strlen(line) - 1);
		} else {
			snprintf(line + n, sizeof(line) - n, " %s=%s", key, val);
		}
	}
	va_end(ap);
	if (log_fmt == CRUISE_LOG_JSON)
		strncat(line, "}", sizeof(line) - strlen(line) - 1);
	fprintf(log_out ? log_out : stderr, "%s\n", line);
	fflush(log_out ? log_out : stderr);
}
