// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

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

void cruise_json_escape(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	for (; *s && n + 7 < len; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = c;
		} else if (c < 0x20) {
			n += snprintf(buf + n, len - n, "\\u%04x", c);
		} else {
			buf[n++] = c;
		}
	}
	buf[n] = '\0';
}

static void timestamp(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), len - strlen(buf), ".%03ldZ", (long)tv.tv_usec / 1000);
}

void cruise_log(enum cruise_log_level level, const char *msg, ...)
{
	char line[4096] = "", ts[40];
	const char *key, *val;
	va_list ap;

	if (level == CRUISE_LOG_DEBUG && !log_debug)
		return;
	timestamp(ts, sizeof(ts));
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
