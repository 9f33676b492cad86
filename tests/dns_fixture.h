/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A throwaway DNS server for the resolver's tests: Debian's dnsmasq (dnsmasq-base,
 * /usr/sbin/dnsmasq or $CRUISE_DNSMASQ) on 127.0.0.1 at a free port, authoritative for
 * TH_DNS_DOMAIN from a hosts file in a temp dir of its own (NXDOMAIN for any other name there),
 * every record with the same TTL. Beside it a resolv.conf with "search TH_DNS_DOMAIN": c-ares 1.18
 * takes no port from resolv.conf, so the server is given apart, as servers ("127.0.0.1:PORT", for
 * cruise_resolver_start_servers).
 */
#ifndef CRUISE_TEST_DNS_FIXTURE_H
#define CRUISE_TEST_DNS_FIXTURE_H

#include <stdint.h>
#include <sys/types.h>

#define TH_DNS_DOMAIN "cruise.test"

struct th_dns {
	pid_t pid; /* 0: not running */
	uint16_t port;
	unsigned int ttl;     /* s, of every record */
	char dir[64];	      /* /tmp/cruise-dns-XXXXXX */
	char hosts[96];	      /* the hosts file: "127.0.0.2 db.cruise.test" lines */
	char resolv_conf[96]; /* search TH_DNS_DOMAIN, ndots:1 */
	char log[96];
	char servers[32]; /* "127.0.0.1:PORT" */
};

/*
 * Make the temp dir, write hosts (the hosts file's text) and the resolv.conf, start dnsmasq with
 * records of ttl s, and wait (5 s at most) until it answers. 0, or -errno with the reason on stderr
 * (nothing left behind).
 */
int th_dns_start(struct th_dns *d, unsigned int ttl, const char *hosts);
/* New records: rewrite the hosts file, SIGHUP, and wait (2 s at most) until dnsmasq re-read it. */
int th_dns_set_hosts(struct th_dns *d, const char *hosts);
/* Kill the server (also a SIGSTOPped one); its dir and port stay for th_dns_restart. */
void th_dns_halt(struct th_dns *d);
/* The server again on the same port, with the hosts file as it is and records of ttl s. */
int th_dns_restart(struct th_dns *d, unsigned int ttl);
/* th_dns_halt, then remove the dir. Again or after a failed start: nothing. */
void th_dns_stop(struct th_dns *d);
/*
 * One query of ours (type 1: A, 28: AAAA) to the server, waiting timeout_ms at most: the count of
 * answers, -ENOENT for NXDOMAIN, -EPROTO for another error code, -ETIMEDOUT, -ECONNREFUSED.
 */
int th_dns_ask(const struct th_dns *d, const char *name, int type, int timeout_ms);

#endif /* CRUISE_TEST_DNS_FIXTURE_H */
