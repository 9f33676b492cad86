// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A throwaway dnsmasq (dns_fixture.h). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "dns_fixture.h"
#include "helpers.h"

static const char *dnsmasq_path(void)
{
	const char *p = getenv("CRUISE_DNSMASQ");

	return p && *p ? p : "/usr/sbin/dnsmasq";
}

/* A port free for both UDP and TCP on 127.0.0.1 (dnsmasq binds both). */
static uint16_t free_port(void)
{
	for (int i = 0; i < 20; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		uint16_t port = th_free_port("127.0.0.1");
		int fd, rc;

		if (!port)
			continue;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.sin_port = htons(port);
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return 0;
		rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
		close(fd);
		if (!rc)
			return port;
	}
	return 0;
}

int th_dns_ask(const struct th_dns *d, const char *name, int type, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	unsigned char q[300], ans[1500];
	size_t len = 12;
	unsigned short id = (unsigned short)(getpid() ^ rand());
	struct pollfd p;
	int fd, ret = -ETIMEDOUT;

	memset(q, 0, sizeof(q));
	q[0] = id >> 8;
	q[1] = id & 0xff;
	q[2] = 0x01; /* RD */
	q[5] = 1;    /* one question */
	for (const char *s = name; *s;) {
		size_t l = strcspn(s, ".");

		if (!l || l > 63 || len + l + 6 > sizeof(q))
			return -EINVAL;
		q[len++] = (unsigned char)l;
		memcpy(q + len, s, l);
		len += l;
		s += l;
		if (*s)
			s++;
	}
	q[len++] = 0;
	q[len++] = 0;
	q[len++] = (unsigned char)type;
	q[len++] = 0;
	q[len++] = 1; /* IN */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(d->port);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connected: a closed port answers ECONNREFUSED */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) || send(fd, q, len, 0) < 0) {
		ret = -errno;
		goto out;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (poll(&p, 1, timeout_ms) > 0) {
		ssize_t n = recv(fd, ans, sizeof(ans), 0);

		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n < 12 || ans[0] != q[0] || ans[1] != q[1] || !(ans[2] & 0x80))
			continue; /* not ours */
		switch (ans[3] & 0x0f) {
		case 0:
			ret = ans[6] << 8 | ans[7];
			break;
		case 3:
			ret = -ENOENT;
			break;
		default:
			ret = -EPROTO;
		}
		break;
	}
out:
	close(fd);
	return ret;
}

static int spawn(struct th_dns *d)
{
	char port[32], hosts[128], ttl[32];
	const char *argv[] = { dnsmasq_path(),
			       "--no-daemon", /* in the foreground, as root, no pid file */
			       "--conf-file=/dev/null",
			       "--no-resolv",
			       "--no-hosts",
			       "--bind-interfaces",
			       "--listen-address=127.0.0.1",
			       port,
			       hosts,
			       ttl,
			       "--local=/" TH_DNS_DOMAIN "/", /* NXDOMAIN for names not in hosts */
			       "--log-facility=-",
			       NULL };

	snprintf(port, sizeof(port), "--port=%u", d->port);
	snprintf(hosts, sizeof(hosts), "--addn-hosts=%s", d->hosts);
	snprintf(ttl, sizeof(ttl), "--local-ttl=%u", d->ttl);
	d->pid = th_spawn(argv, d->log, d->log);
	if (d->pid < 0) {
		int ret = d->pid;

		d->pid = 0;
		return ret;
	}
	/* answering: any answer to a question on the port */
	for (int i = 0; i < 250; i++) {
		int status, ret = th_dns_ask(d, "ready." TH_DNS_DOMAIN, 1, 20);

		if (ret != -ETIMEDOUT && ret != -ECONNREFUSED)
			return 0;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			fprintf(stderr, "dns_fixture: dnsmasq exited\n");
			th_print_tail("dnsmasq", d->log, 2000);
			return -ECHILD;
		}
		usleep(10000);
	}
	fprintf(stderr, "dns_fixture: dnsmasq did not answer in 5 s\n");
	th_print_tail("dnsmasq", d->log, 2000);
	th_dns_halt(d);
	return -ETIMEDOUT;
}

int th_dns_start(struct th_dns *d, unsigned int ttl, const char *hosts)
{
	char conf[256];
	int ret;

	memset(d, 0, sizeof(*d));
	if (access(dnsmasq_path(), X_OK)) {
		fprintf(stderr, "dns_fixture: no %s (Debian's dnsmasq-base): %s\n", dnsmasq_path(),
			strerror(errno));
		return -ENOENT;
	}
	snprintf(d->dir, sizeof(d->dir), "/tmp/cruise-dns-XXXXXX");
	if (!mkdtemp(d->dir)) {
		ret = -errno;
		d->dir[0] = 0;
		return ret;
	}
	snprintf(d->hosts, sizeof(d->hosts), "%s/hosts", d->dir);
	snprintf(d->resolv_conf, sizeof(d->resolv_conf), "%s/resolv.conf", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/dnsmasq.log", d->dir);
	d->port = free_port();
	d->ttl = ttl;
	snprintf(d->servers, sizeof(d->servers), "127.0.0.1:%u", d->port);
	/* the nameserver line is what glibc would read (port 53); the tests name the server apart
	 */
	snprintf(conf, sizeof(conf), "nameserver 127.0.0.1\nsearch %s\noptions ndots:1\n",
		 TH_DNS_DOMAIN);
	if (!d->port) {
		ret = -EADDRINUSE;
	} else if (th_write_file(d->hosts, hosts ? hosts : "") ||
		   th_write_file(d->resolv_conf, conf)) {
		ret = -EIO;
	} else {
		ret = spawn(d);
	}
	if (ret)
		th_dns_stop(d);
	return ret;
}

/* Lines of the log that say the hosts file was read. */
static int reads(const struct th_dns *d)
{
	char needle[128], *log = th_slurp(d->log);
	int n;

	snprintf(needle, sizeof(needle), "read %s - ", d->hosts);
	n = log ? th_find_line(log, needle, NULL, 0, NULL, 0) : 0;
	free(log);
	return n;
}

int th_dns_set_hosts(struct th_dns *d, const char *hosts)
{
	int before = reads(d);

	if (th_write_file(d->hosts, hosts))
		return -EIO;
	if (d->pid <= 0)
		return 0; /* read at the restart */
	if (kill(d->pid, SIGHUP))
		return -errno;
	for (int i = 0; i < 200; i++) {
		if (reads(d) > before)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "dns_fixture: dnsmasq did not re-read %s in 2 s\n", d->hosts);
	return -ETIMEDOUT;
}

void th_dns_halt(struct th_dns *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	kill(d->pid, SIGCONT);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
}

int th_dns_restart(struct th_dns *d, unsigned int ttl)
{
	th_dns_halt(d);
	d->ttl = ttl;
	return spawn(d);
}

void th_dns_stop(struct th_dns *d)
{
	th_dns_halt(d);
	if (d->dir[0])
		th_rm_tree(d->dir);
	d->dir[0] = 0;
}
