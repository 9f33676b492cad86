/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Loopback sockets for tests: addresses, listeners, free ports, HTTP GET (cf. the BPF selftests).
 */
#ifndef CRUISE_TEST_NETWORK_HELPERS_H
#define CRUISE_TEST_NETWORK_HELPERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct th_listener {
	int fd;
	int family;
	uint16_t port;
	int backlog;
	bool accept; /* accept and close in a thread; false leaves the backlog to fill */
	pthread_t thread;
	volatile bool stop;
};

/* A socket address for "127.0.0.1", "::1", "::ffff:127.0.0.1" and port; -EINVAL otherwise. */
int th_sockaddr(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);

/* Listen on addr ("127.0.0.1", "::1") at an ephemeral port. */
int th_listener_start(struct th_listener *l, const char *addr, bool accept_loop, int backlog);
void th_listener_stop(struct th_listener *l);

/* A port nothing listens on now at addr ("127.0.0.1", "::1"): bound to 0, read back; 0 on error. */
uint16_t th_free_port(const char *addr);

/* GET path from 127.0.0.1:port (HTTP/1.0); the status, body in *body (free it), or -1. */
int th_http_get(uint16_t port, const char *path, char **body);
/* One sample of a Prometheus exposition: the value of the line "series value". */
bool th_metric(const char *body, const char *series, double *v);

#endif /* CRUISE_TEST_NETWORK_HELPERS_H */
