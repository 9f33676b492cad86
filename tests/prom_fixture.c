// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>

#include "helpers.h"
#include "loader.h"
#include "prom_fixture.h"

#define PROM_START_MS 30000 /* up, and the first scrape stored */
#define PROM_STOP_MS  10000 /* after SIGTERM, then SIGKILL */

/* the exporter */

static enum MHD_Result respond(struct MHD_Connection *c, int status, const char *type,
			       const char *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	static int first;
	struct th_exporter *x = cls;
	const char *auth, *query;
	enum MHD_Result ret;
	char metrics[128];

	(void)method, (void)version, (void)upload, (void)upload_size;
	if (!*con_cls) {
		*con_cls = &first;
		return MHD_YES;
	}
	pthread_mutex_lock(&x->lock);
	if (!strcmp(url, "/metrics")) {
		x->scrapes++;
		snprintf(metrics, sizeof(metrics),
			 "# TYPE cruise_test_value gauge\ncruise_test_value %.17g\n", x->value);
		pthread_mutex_unlock(&x->lock);
		return respond(c, 200, "text/plain; version=0.0.4", metrics);
	}
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	query = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "query");
	snprintf(x->auth, sizeof(x->auth), "%s", auth ? auth : "");
	snprintf(x->query, sizeof(x->query), "%s", query ? query : "");
	x->api_requests++;
	if (x->api_status)
		ret = respond(c, x->api_status, "application/json", x->api_body ? x->api_body : "");
	else
		ret = respond(c, 404, "text/plain", "404 page not found\n");
	pthread_mutex_unlock(&x->lock);
	return ret;
}

int th_exporter_start(struct th_exporter *x, double value)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const union MHD_DaemonInfo *info;

	memset(x, 0, sizeof(*x));
	pthread_mutex_init(&x->lock, NULL);
	x->value = value;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	x->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, x,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_END);
	if (!x->d) {
		pthread_mutex_destroy(&x->lock);
		return -1;
	}
	info = MHD_get_daemon_info(x->d, MHD_DAEMON_INFO_BIND_PORT);
	x->port = info ? info->port : 0;
	if (!x->port) {
		th_exporter_stop(x);
		return -1;
	}
	return 0;
}

void th_exporter_set(struct th_exporter *x, double value)
{
	pthread_mutex_lock(&x->lock);
	x->value = value;
	pthread_mutex_unlock(&x->lock);
}

void th_exporter_api(struct th_exporter *x, int status, const char *body)
{
	pthread_mutex_lock(&x->lock);
	free(x->api_body);
	x->api_body = body ? strdup(body) : NULL;
	x->api_status = status;
	pthread_mutex_unlock(&x->lock);
}

unsigned int th_exporter_last(struct th_exporter *x, char *auth, size_t alen, char *query,
			      size_t qlen)
{
	unsigned int n;

	pthread_mutex_lock(&x->lock);
	if (auth)
		snprintf(auth, alen, "%s", x->auth);
	if (query)
		snprintf(query, qlen, "%s", x->query);
	n = x->api_requests;
	pthread_mutex_unlock(&x->lock);
	return n;
}

void th_exporter_stop(struct th_exporter *x)
{
	if (x->d)
		MHD_stop_daemon(x->d);
	x->d = NULL;
	free(x->api_body);
	x->api_body = NULL;
	pthread_mutex_destroy(&x->lock);
}

/* Prometheus */

const char *th_prom_bin(void)
{
	const char *env = getenv("CRUISE_PROMETHEUS");
	const char *bin = env && *env ? env : "/usr/bin/prometheus";

	return access(bin, X_OK) ? NULL : bin;
}

/* Scraping 127.0.0.1:port every second; rule_file (absolute; NULL: none) evaluated every second. */
static int write_config(const struct th_prom *p, uint16_t port, const char *rule_file)
{
	char path[PATH_MAX + 32], text[PATH_MAX + 512], rules[PATH_MAX + 32] = "";

	snprintf(path, sizeof(path), "%s/prometheus.yml", p->dir);
	if (rule_file)
		snprintf(rules, sizeof(rules), "rule_files: ['%s']\n", rule_file);
	/* a scrape may take no longer than the interval */
	snprintf(text, sizeof(text),
		 "global:\n"
		 "  scrape_interval: 1s\n"
		 "  scrape_timeout: 900ms\n"
		 "  evaluation_interval: 1s\n"
		 "%s"
		 "scrape_configs:\n"
		 "  - job_name: cruise-test\n"
		 "    static_configs:\n"
		 "      - targets: ['127.0.0.1:%u']\n",
		 rules, port);
	return th_write_file(path, text);
}

struct buf {
	char *p;
	size_t len;
};

static size_t append(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	char *more = realloc(b->p, b->len + size * n + 1);

	if (!more)
		return 0;
	memcpy(more + b->len, data, size * n);
	b->p = more;
	b->len += size * n;
	b->p[b->len] = '\0';
	return size * n;
}

/* through libcurl: a query may be longer than th_http_get's request line */
int th_prom_query(const struct th_prom *p, const char *query, char **body)
{
	CURL *c = curl_easy_init();
	struct buf b = { 0 };
	char *q, *url = NULL;
	long status = 0;
	CURLcode rc;

	*body = NULL;
	if (!c)
		return -ENOMEM;
	q = curl_easy_escape(c, query, 0);
	if (!q || asprintf(&url, "%s/api/v1/query?query=%s", p->url, q) < 0) {
		curl_free(q);
		curl_easy_cleanup(c);
		return -ENOMEM;
	}
	curl_free(q);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	free(url);
	*body = b.p;
	return rc == CURLE_OK ? (int)status : -EIO;
}

bool th_prom_has_sample(const struct th_prom *p, const char *query)
{
	char *body = NULL;
	bool ok = th_prom_query(p, query, &body) == 200 && body &&
		  strstr(body, "\"resultType\":\"vector\",\"result\":[{");

	free(body);
	return ok;
}

/* Prometheus at a free port scraping port; waits until query has a sample. */
static int prom_start(struct th_prom *p, uint16_t port, const char *rule_file, const char *query)
{
	const char *bin = th_prom_bin();
	char config[PATH_MAX + 32], storage[PATH_MAX + 32], listen[64], log[PATH_MAX + 32];
	const char *argv[] = { bin, config, storage, listen, "--log.level=warn", NULL };
	__u64 until;
	int err;

	if (!bin) {
		fprintf(stderr, "no Prometheus: /usr/bin/prometheus (apt-get install prometheus) "
				"or $CRUISE_PROMETHEUS\n");
		return -ENOENT;
	}
	snprintf(p->dir, sizeof(p->dir), "/tmp/cruise-prom.XXXXXX");
	if (!mkdtemp(p->dir)) {
		err = -errno;
		p->dir[0] = '\0';
		return err;
	}
	snprintf(log, sizeof(log), "%s/prometheus.log", p->dir);
	p->port = th_free_port("127.0.0.1");
	if (!p->port || write_config(p, port, rule_file)) {
		err = -EIO;
		goto fail;
	}
	snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%u", p->port);
	snprintf(config, sizeof(config), "--config.file=%s/prometheus.yml", p->dir);
	snprintf(storage, sizeof(storage), "--storage.tsdb.path=%s/data", p->dir);
	snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%u", p->port);
	p->pid = th_spawn(argv, log, log);
	if (p->pid < 0) {
		err = p->pid;
		p->pid = 0;
		goto fail;
	}
	until = cruise_now_ns() + PROM_START_MS * 1000000ULL;
	while (!th_prom_has_sample(p, query)) {
		if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
			p->pid = 0;
			err = -ECHILD;
			goto fail;
		}
		if (cruise_now_ns() > until) {
			err = -ETIMEDOUT;
			goto fail;
		}
		usleep(100000);
	}
	return 0;
fail:
	fprintf(stderr, "prometheus did not start: %s\n", strerror(-err));
	th_print_tail("prometheus", log, 4000);
	th_prom_stop(p);
	return err;
}

int th_prom_start(struct th_prom *p, double value)
{
	memset(p, 0, sizeof(*p));
	if (th_prom_bin() && th_exporter_start(&p->exporter, value)) {
		fprintf(stderr, "prometheus did not start: no exporter\n");
		return -EADDRINUSE;
	}
	return prom_start(p, p->exporter.port, NULL, "cruise_test_value");
}

int th_prom_start_target(struct th_prom *p, uint16_t port, const char *rule_file, const char *query)
{
	memset(p, 0, sizeof(*p));
	return prom_start(p, port, rule_file, query);
}

void th_prom_stop(struct th_prom *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		th_wait_exit(p->pid, PROM_STOP_MS);
		p->pid = 0;
	}
	if (p->exporter.d)
		th_exporter_stop(&p->exporter);
	if (p->dir[0])
		th_rm_tree(p->dir);
	p->dir[0] = '\0';
}
