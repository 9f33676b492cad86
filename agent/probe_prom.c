// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Prometheus probe (probe.h): an instant query, GET URL/api/v1/query?query=<escaped PromQL>,
 * with one libcurl easy handle kept across runs (its connection too). The whole transfer is
 * bounded by CURLOPT_TIMEOUT_MS, the time left before the run's deadline, rounded down; libcurl
 * resolves names in a thread of its own (AsynchDNS), so its timeout bounds the lookup as well, and
 * CURLOPT_NOSIGNAL keeps it off signals. http and https only, no redirect followed, an answer
 * over BODY_MAX cut. The answer must be {"status":"success"} with a "scalar" result, or a "vector"
 * of exactly one sample; its value, a string, must be a finite number ("NaN", "+Inf": garbage).
 * Errors: libcurl's failures to reach the server and HTTP 401/403 (the token) are connect; an
 * HTTP status other than 200 is query, with Prometheus' own error when it sent one; an answer
 * that is not JSON or not one number is garbage. Neither the URL (it may hold a password) nor
 * the token is ever in a message.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "probe_int.h"

#define BODY_MAX  (1u << 20) /* an instant query of one number answers in well under 1 KiB */
#define SHOWN_MAX 40	     /* bytes of a value that is not a number, shown in the message */

struct prom_probe {
	struct cruise_probe base; /* first: probe.c casts */
	CURL *c;
	struct curl_slist *headers;
	char *token;	 /* to mask it, should it ever show in a message */
	char *url;	 /* the request's; NULL when bad says why */
	const char *bad; /* a URL or token this probe refuses: each run fails with this */
	char errbuf[CURL_ERROR_SIZE];
	char *body;
	size_t len, cap;
	bool too_big;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct prom_probe *p = arg;
	size_t n = size * nmemb;

	if (p->len + n + 1 > BODY_MAX) {
		p->too_big = true;
		return 0; /* libcurl: CURLE_WRITE_ERROR */
	}
	if (p->len + n + 1 > p->cap) {
		size_t cap = (p->len + n + 1) * 2;
		char *b = realloc(p->body, cap > BODY_MAX ? BODY_MAX : cap);

		if (!b)
			return 0;
		p->body = b;
		p->cap = cap > BODY_MAX ? BODY_MAX : cap;
	}
	memcpy(p->body + p->len, data, n);
	p->len += n;
	p->body[p->len] = '\0';
	return n;
}

/* libcurl's failures: the deadline, a cut answer, else no (usable) connection */
static enum cruise_probe_error transfer_error(struct prom_probe *p, CURLcode rc, char *err,
					      size_t errlen)
{
	const char *why = p->errbuf[0] ? p->errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return cruise_probe_fail(CRUISE_PROBE_TIMEOUT, err, errlen,
					 "the deadline passed: %s", why);
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (p->too_big || rc == CURLE_FILESIZE_EXCEEDED)
			return cruise_probe_fail(CRUISE_PROBE_GARBAGE, err, errlen,
						 "the answer is over %u bytes", BODY_MAX);
		return cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen, "out of memory");
	case CURLE_WEIRD_SERVER_REPLY:
		return cruise_probe_fail(CRUISE_PROBE_GARBAGE, err, errlen, "not HTTP: %s", why);
	default:
		return cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen, "%s", why);
	}
}

/* A status other than 200: Prometheus says why in JSON (errorType, error); a proxy may not. */
static enum cruise_probe_error status_error(struct prom_probe *p, long code, char *err,
					    size_t errlen)
{
	enum cruise_probe_error kind =
		code == 401 || code == 403 ? CRUISE_PROBE_CONNECT : CRUISE_PROBE_QUERY;
	json_t *root = p->body ? json_loadb(p->body, p->len, 0, NULL) : NULL;
	const char *type = json_string_value(json_object_get(root, "errorType"));
	const char *why = json_string_value(json_object_get(root, "error"));

	if (why)
		cruise_probe_fail(kind, err, errlen, "HTTP %ld: %s%s%s", code, type ? type : "",
				  type ? ": " : "", why);
	else
		cruise_probe_fail(kind, err, errlen, "HTTP %ld", code);
	json_decref(root);
	return kind;
}

static enum cruise_probe_error parse_answer(const struct prom_probe *p, double *value, char *err,
					    size_t errlen)
{
	enum cruise_probe_error e = CRUISE_PROBE_GARBAGE;
	json_t *root, *data, *result, *sample = NULL;
	const char *status, *type, *s;
	json_error_t je;

	root = json_loadb(p->body ? p->body : "", p->len, 0, &je);
	if (!root)
		return cruise_probe_fail(e, err, errlen, "the answer is not JSON: %s", je.text);
	status = json_string_value(json_object_get(root, "status"));
	data = json_object_get(root, "data");
	type = json_string_value(json_object_get(data, "resultType"));
	result = json_object_get(data, "result");
	if (!status) {
		cruise_probe_fail(e, err, errlen, "the answer has no status");
	} else if (strcmp(status, "success")) {
		s = json_string_value(json_object_get(root, "error"));
		e = cruise_probe_fail(CRUISE_PROBE_QUERY, err, errlen, "status %s: %s", status,
				      s ? s : "no error given");
	} else if (!type || !json_is_array(result)) {
		cruise_probe_fail(e, err, errlen, "the answer has no result");
	} else if (!strcmp(type, "scalar")) {
		sample = result;
	} else if (strcmp(type, "vector")) {
		cruise_probe_fail(e, err, errlen,
				  "the query returned a %s; expected a scalar or "
				  "one sample",
				  type);
	} else if (json_array_size(result) != 1) {
		cruise_probe_fail(e, err, errlen, "the query returned %zu samples; expected one",
				  json_array_size(result));
	} else {
		/* a native histogram's sample has "histogram", not "value" */
		sample = json_object_get(json_array_get(result, 0), "value");
		if (!sample)
			cruise_probe_fail(e, err, errlen, "the sample has no value");
	}
	if (!sample)
		goto out;
	/* [ timestamp, "value" ] */
	s = json_string_value(json_array_get(sample, 1));
	if (!json_is_array(sample) || json_array_size(sample) != 2 || !s)
		cruise_probe_fail(e, err, errlen, "the sample is not [time, \"value\"]");
	else if (!cruise_probe_parse_number(s, value))
		cruise_probe_fail(e, err, errlen,
				  "the query returned \"%.*s\"%s, not a finite number", SHOWN_MAX,
				  s, strlen(s) > SHOWN_MAX ? "..." : "");
	else
		e = CRUISE_PROBE_OK;
out:
	json_decref(root);
	return e;
}

static enum cruise_probe_error prom_run(struct cruise_probe *base, __u64 deadline_ns, double *value,
					char *err, size_t errlen)
{
	struct prom_probe *p = (struct prom_probe *)base;
	__u64 now = cruise_probe_now_ns();
	enum cruise_probe_error e;
	long code = 0;
	CURLcode rc;

	if (p->bad)
		return cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen, "%s", p->bad);
	/* rounded down: libcurl gives up at the deadline, not after it; 0 would mean none */
	if (now + 1000000 > deadline_ns)
		return cruise_probe_fail(CRUISE_PROBE_TIMEOUT, err, errlen,
					 "under 1 ms left before the deadline");
	curl_easy_setopt(p->c, CURLOPT_TIMEOUT_MS, (long)((deadline_ns - now) / 1000000));
	p->len = 0;
	p->too_big = false;
	p->errbuf[0] = '\0';
	rc = curl_easy_perform(p->c);
	if (rc != CURLE_OK)
		e = transfer_error(p, rc, err, errlen);
	else if (curl_easy_getinfo(p->c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200)
		e = status_error(p, code, err, errlen);
	else
		e = parse_answer(p, value, err, errlen);
	if (e && errlen)
		cruise_probe_redact(err, p->token);
	return e;
}

static void prom_free(struct cruise_probe *base)
{
	struct prom_probe *p = (struct prom_probe *)base;

	if (p->c)
		curl_easy_cleanup(p->c);
	curl_slist_free_all(p->headers);
	if (p->token) {
		explicit_bzero(p->token, strlen(p->token));
		free(p->token);
	}
	free(p->url);
	free(p->body);
	free(p);
	curl_global_cleanup();
}

static const struct cruise_probe_ops prom_ops = { .run = prom_run, .free = prom_free };

/* URL + /api/v1/query?query=..., or a reason in p->bad; -1 on allocation failure. */
static int build_url(struct prom_probe *p, const char *url, const char *query)
{
	size_t n = strlen(url);
	char *q;
	int rc;

	if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) {
		p->bad = "the Prometheus URL must start with http:// or https://";
		return 0;
	}
	while (n && url[n - 1] == '/')
		n--;
	q = curl_easy_escape(p->c, query, 0);
	if (!q)
		return -1;
	rc = asprintf(&p->url, "%.*s/api/v1/query?query=%s", (int)n, url, q);
	curl_free(q);
	if (rc < 0) {
		p->url = NULL;
		return -1;
	}
	return 0;
}

/* Authorization: Bearer TOKEN, unless a control character would split the header. */
static int add_token(struct prom_probe *p, const char *token)
{
	struct curl_slist *h;
	char *line;

	for (const char *c = token; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			p->bad = "the bearer token holds a control character";
			return 0;
		}
	p->token = strdup(token);
	if (!p->token || asprintf(&line, "Authorization: Bearer %s", token) < 0)
		return -1;
	h = curl_slist_append(p->headers, line);
	explicit_bzero(line, strlen(line));
	free(line);
	if (!h)
		return -1;
	p->headers = h;
	return 0;
}

struct cruise_probe *cruise_probe_prom_new(const struct cruise_probe_prom_opts *o)
{
	struct prom_probe *p;
	struct curl_slist *h;

	/* reference-counted, and thread-safe since libcurl 7.84; prom_free undoes it */
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p) {
		curl_global_cleanup();
		return NULL;
	}
	p->base.ops = &prom_ops;
	p->c = curl_easy_init();
	if (!p->c || build_url(p, o->url ? o->url : "", o->query ? o->query : ""))
		goto fail;
	h = curl_slist_append(NULL, "Accept: application/json");
	if (!h)
		goto fail;
	p->headers = h;
	if (o->bearer_token && add_token(p, o->bearer_token))
		goto fail;
	if (p->bad)
		return &p->base;
	curl_easy_setopt(p->c, CURLOPT_URL, p->url);
	curl_easy_setopt(p->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(p->c, CURLOPT_HTTPHEADER, p->headers);
	curl_easy_setopt(p->c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(p->c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(p->c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)BODY_MAX);
	curl_easy_setopt(p->c, CURLOPT_USERAGENT, "cruise-probe");
	curl_easy_setopt(p->c, CURLOPT_ERRORBUFFER, p->errbuf);
	curl_easy_setopt(p->c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(p->c, CURLOPT_WRITEDATA, p);
	return &p->base;
fail:
	prom_free(&p->base);
	return NULL;
}
