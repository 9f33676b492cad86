// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "network_helpers.h"

int th_sockaddr(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static void *th_accept_loop(void *arg)
{
	struct th_listener *l = arg;
	struct pollfd p = { .fd = l->fd, .events = POLLIN };

	while (!l->stop) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		for (;;) {
			int c = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (c < 0)
				break;
			close(c);
		}
	}
	return NULL;
}

int th_listener_start(struct th_listener *l, const char *addr, bool accept_loop, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, err;

	memset(l, 0, sizeof(*l));
	err = th_sockaddr(addr, 0, &ss, &len);
	if (err)
		return err;
	l->family = ss.ss_family;
	l->fd = socket(l->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -errno;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&ss, len) || listen(l->fd, backlog))
		goto fail;
	len = sizeof(ss);
	if (getsockname(l->fd, (struct sockaddr *)&ss, &len))
		goto fail;
	l->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						: ((struct sockaddr_in6 *)&ss)->sin6_port);
	l->backlog = backlog;
	l->accept = accept_loop;
	if (accept_loop && pthread_create(&l->thread, NULL, th_accept_loop, l)) {
		errno = EAGAIN;
		goto fail;
	}
	return 0;
fail:
	err = -errno;
	close(l->fd);
	l->fd = -1;
	return err;
}

void th_listener_stop(struct th_listener *l)
{
	if (l->fd < 0)
		return;
	l->stop = true;
	if (l->accept)
		pthread_join(l->thread, NULL);
	close(l->fd);
	l->fd = -1;
}

uint16_t th_free_port(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	uint16_t port = 0;
	int fd;

	if (th_sockaddr(addr, 0, &ss, &len))
		return 0;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (!bind(fd, (struct sockaddr *)&ss, len) &&
	    !getsockname(fd, (struct sockaddr *)&ss, &len))
		port = ntohs(
			((struct sockaddr_in *)&ss)->sin_port); /* same place in sockaddr_in6 */
	close(fd);
	return port;
}

/* GET path from the agent's metrics port; the status, body in *body (free it), or -1. */
int th_http_get(uint16_t port, const char *path, char **body)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	size_t len = 0, cap = 65536;
	char req[256], *buf, *head_end;
	int fd, status = -1;

	*body = NULL;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -1;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (len + 4096 + 1 > cap) {
			char *more = realloc(buf, cap * 2);

			if (!more)
				break;
			buf = more;
			cap *= 2;
		}
		if (poll(&p, 1, 3000) != 1)
			break;
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	head_end = strstr(buf, "\r\n\r\n");
	if (sscanf(buf, "HTTP/1.%*d %d", &status) == 1 && head_end)
		*body = strdup(head_end + 4);
	else
		status = -1;
	free(buf);
	return status;
}

bool th_metric(const char *body, const char *series, double *v)
{
	size_t n = strlen(series);

	for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, series, n) && p[n] == ' ') {
			*v = strtod(p + n + 1, NULL);
			return true;
		}
	}
	return false;
}
