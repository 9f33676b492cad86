// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The resolver thread (resolve.h): one c-ares channel for every host, driven by poll() on its
 * sockets and a wakeup eventfd; answers into the table under the lock, changes to the main loop
 * through another eventfd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <ares.h>

#include "loader.h" /* cruise_now_ns */
#include "resolve.h"

/* c-ares' tries and timeouts end a lookup within this share of CRUISE_RESOLVE_TIMEOUT_MS; the
 * thread's own deadline at CRUISE_RESOLVE_TIMEOUT_MS is the backstop (a slow server, search
 * domains one after the other) */
#define ARES_BUDGET_MS	(CRUISE_RESOLVE_TIMEOUT_MS * 9 / 10)
#define ARES_TRIES	2
#define ARES_MIN_TRY_MS 100
/* the longest poll() when nothing is due: set_hosts and stop wake the thread anyway */
#define IDLE_NS (5 * NSEC_PER_SEC)

struct host {
	struct cruise_resolved r; /* r.host is ours */
	__u64 id;		  /* stays while the host is configured */
	__u64 inflight;		  /* the lookup in flight (its seq); 0: none */
	__u64 deadline_ns;	  /* of the lookup in flight */
	__u64 backoff_ns;	  /* after failures; 0 after an answer */
};

/* One lookup, the callback's argument: the host by id, as it may be gone by the answer. */
struct lookup {
	struct cruise_resolver *r;
	__u64 id, seq;
	char *name;
	struct lookup *next;
};

struct cruise_resolver {
	pthread_mutex_t lock;
	pthread_t thread;
	ares_channel ch;     /* the thread's alone once it runs */
	int efd;	     /* to the main loop: the table changed */
	int wfd;	     /* to the thread: hosts changed, or stop */
	bool stop;	     /* under lock */
	struct host **hosts; /* under lock, in the order set_hosts gave them */
	size_t n_hosts;
	__u64 ids, seqs; /* under lock */
	unsigned int seed;
};

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_lib_rc;

static void ares_lib_init(void)
{
	ares_lib_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

static void poke(int fd)
{
	__u64 one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* the counter is full: the reader wakes anyway */
	}
}

/* +-25% */
static __u64 jitter(__u64 ns, unsigned int *seed)
{
	return ns * 3 / 4 + (__u64)((double)rand_r(seed) / RAND_MAX * (ns / 2));
}

static int prefix_cmp(const void *a, const void *b)
{
	const struct cruise_prefix *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

/* Sorted, without duplicates, at most CRUISE_RESOLVE_MAX_ADDRS (the lowest): the new count. */
static unsigned int normalize(struct cruise_prefix *v, size_t n)
{
	size_t k = 0;

	qsort(v, n, sizeof(*v), prefix_cmp);
	for (size_t i = 0; i < n && k < CRUISE_RESOLVE_MAX_ADDRS; i++)
		if (!k || prefix_cmp(&v[k - 1], &v[i]))
			v[k++] = v[i];
	return (unsigned int)k;
}

static struct host *find_id(struct cruise_resolver *r, __u64 id)
{
	for (size_t i = 0; i < r->n_hosts; i++)
		if (r->hosts[i]->id == id)
			return r->hosts[i];
	return NULL;
}

/* A good answer of n addresses (sorted), good for ttl_ns; at the lock. */
static void answered(struct cruise_resolver *r, struct host *h, const struct cruise_prefix *v,
		     unsigned int n, __u64 ttl_ns, __u64 now)
{
	bool changed = n != h->r.n_addrs || memcmp(v, h->r.addrs, n * sizeof(*v));
	bool flip = h->r.failing;

	if (changed) {
		memcpy(h->r.addrs, v, n * sizeof(*v));
		h->r.n_addrs = n;
		h->r.changes++;
	}
	h->r.failing = false;
	h->r.confirmed_ns = now;
	h->backoff_ns = 0;
	if (ttl_ns < CRUISE_RESOLVE_MIN_NS)
		ttl_ns = CRUISE_RESOLVE_MIN_NS;
	if (ttl_ns > CRUISE_RESOLVE_MAX_NS)
		ttl_ns = CRUISE_RESOLVE_MAX_NS;
	h->r.next_ns = now + ttl_ns;
	if (changed || flip)
		poke(r->efd);
}

/* A failed lookup: the addresses stay, the next try backs off; at the lock. */
static void failed(struct cruise_resolver *r, struct host *h, const char *why, __u64 now)
{
	char q[CRUISE_QUOTE_LEN(48)];
	bool flip = !h->r.failing;

	snprintf(h->r.error, sizeof(h->r.error), "%s: %s", cruise_quote(h->r.host, q, sizeof(q)),
		 why);
	h->r.failing = true;
	h->r.failures++;
	h->backoff_ns = h->backoff_ns ? h->backoff_ns * 2 : CRUISE_RESOLVE_MIN_NS;
	if (h->backoff_ns > CRUISE_RESOLVE_MAX_NS)
		h->backoff_ns = CRUISE_RESOLVE_MAX_NS;
	h->r.next_ns = now + jitter(h->backoff_ns, &r->seed);
	if (flip)
		poke(r->efd);
}

/* An address written as one ("10.0.0.5", "::1"): no lookup, and none again for the longest. */
static bool literal(const char *s, struct cruise_prefix *p)
{
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, s, p->addr) == 1) {
		p->family = AF_INET;
		p->len = 32;
		return true;
	}
	if (inet_pton(AF_INET6, s, p->addr) == 1) {
		p->family = AF_INET6;
		p->len = 128;
		return true;
	}
	return false;
}

/* The answer's addresses (all of them, to keep the lowest after sorting) and its shortest TTL. */
static int collect(const struct ares_addrinfo *ai, struct cruise_prefix **out, size_t *n,
		   __u64 *ttl_ns)
{
	const struct ares_addrinfo_node *node;
	const struct ares_addrinfo_cname *c;
	struct cruise_prefix *v;
	size_t cap = 0, k = 0;
	long long ttl = -1;

	for (node = ai ? ai->nodes : NULL; node; node = node->ai_next)
		cap++;
	v = calloc(cap ? cap : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (node = ai ? ai->nodes : NULL; node; node = node->ai_next) {
		struct cruise_prefix *p = &v[k];

		if (node->ai_family == AF_INET && node->ai_addrlen >= sizeof(struct sockaddr_in)) {
			p->family = AF_INET;
			p->len = 32;
			memcpy(p->addr, &((struct sockaddr_in *)node->ai_addr)->sin_addr, 4);
		} else if (node->ai_family == AF_INET6 &&
			   node->ai_addrlen >= sizeof(struct sockaddr_in6)) {
			p->family = AF_INET6;
			p->len = 128;
			memcpy(p->addr, &((struct sockaddr_in6 *)node->ai_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		k++;
		if (ttl < 0 || node->ai_ttl < ttl)
			ttl = node->ai_ttl;
	}
	/* a CNAME's record may end before the address's */
	for (c = ai ? ai->cnames : NULL; c && k; c = c->next)
		if (c->ttl < ttl)
			ttl = c->ttl;
	*out = v;
	*n = k;
	*ttl_ns = ttl > 0 ? (__u64)ttl * NSEC_PER_SEC : 0;
	return 0;
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct lookup *l = arg;
	struct cruise_resolver *r = l->r;
	struct cruise_prefix *v = NULL;
	size_t n = 0;
	__u64 ttl_ns = 0;
	int ret = 0;
	struct host *h;

	(void)timeouts;
	/* the channel is going (cruise_resolver_stop): nothing to tell */
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED)
		goto out;
	if (status == ARES_SUCCESS)
		ret = collect(ai, &v, &n, &ttl_ns);
	pthread_mutex_lock(&r->lock);
	h = find_id(r, l->id);
	/* a host dropped meanwhile, or a lookup given up at its deadline: the answer is late */
	if (h && h->inflight == l->seq) {
		__u64 now = cruise_now_ns();

		h->inflight = 0;
		if (status != ARES_SUCCESS)
			failed(r, h, ares_strerror(status), now);
		else if (ret)
			failed(r, h, "out of memory", now);
		else if (!n)
			failed(r, h, "no addresses in the answer", now);
		else
			answered(r, h, v, normalize(v, n), ttl_ns, now);
	}
	pthread_mutex_unlock(&r->lock);
out:
	free(v);
	if (ai)
		ares_freeaddrinfo(ai);
	free(l->name);
	free(l);
}

/*
 * Under the lock: give up lookups past their deadline, begin the ones due (into *starts, for the
 * caller to hand to c-ares without the lock: an answer from /etc/hosts comes at once). The time
 * until something is due next.
 */
static __u64 schedule(struct cruise_resolver *r, struct lookup **starts, __u64 now)
{
	__u64 wait = IDLE_NS;

	for (size_t i = 0; i < r->n_hosts; i++) {
		struct host *h = r->hosts[i];
		struct cruise_prefix p;
		__u64 due;

		if (h->inflight && now >= h->deadline_ns) {
			h->inflight = 0;
			failed(r, h, ares_strerror(ARES_ETIMEOUT), now);
		}
		if (!h->inflight && now >= h->r.next_ns) {
			struct lookup *l = NULL;

			h->r.lookups++;
			if (literal(h->r.host, &p)) {
				answered(r, h, &p, 1, CRUISE_RESOLVE_MAX_NS, now);
			} else if (!(l = calloc(1, sizeof(*l))) || !(l->name = strdup(h->r.host))) {
				free(l);
				failed(r, h, "out of memory", now);
			} else {
				l->r = r;
				l->id = h->id;
				l->seq = h->inflight = ++r->seqs;
				h->deadline_ns = now + CRUISE_RESOLVE_TIMEOUT_MS * NSEC_PER_MSEC;
				l->next = *starts;
				*starts = l;
			}
		}
		due = h->inflight ? h->deadline_ns : h->r.next_ns;
		if (due > now && due - now < wait)
			wait = due - now;
	}
	return wait;
}

static void *resolver_main(void *arg)
{
	const struct ares_addrinfo_hints hints = { .ai_flags = ARES_AI_NOSORT,
						   .ai_family = AF_UNSPEC };
	struct cruise_resolver *r = arg;

	for (;;) {
		struct pollfd pfd[ARES_GETSOCK_MAXNUM + 1];
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct timeval maxtv, tv, *tvp;
		struct lookup *starts = NULL;
		int bits, nfd = 1, ms;
		__u64 wait;

		pthread_mutex_lock(&r->lock);
		if (r->stop) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		wait = schedule(r, &starts, cruise_now_ns());
		pthread_mutex_unlock(&r->lock);
		while (starts) {
			struct lookup *l = starts;

			starts = l->next; /* l may be freed by the time ares_getaddrinfo returns */
			ares_getaddrinfo(r->ch, l->name, NULL, &hints, on_answer, l);
		}

		pfd[0] = (struct pollfd){ .fd = r->wfd, .events = POLLIN };
		bits = ares_getsock(r->ch, socks, ARES_GETSOCK_MAXNUM);
		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = (ARES_GETSOCK_READABLE(bits, i) ? POLLIN : 0) |
				   (ARES_GETSOCK_WRITABLE(bits, i) ? POLLOUT : 0);

			if (ev)
				pfd[nfd++] = (struct pollfd){ .fd = socks[i], .events = ev };
		}
		maxtv.tv_sec = wait / NSEC_PER_SEC;
		maxtv.tv_usec = wait % NSEC_PER_SEC / NSEC_PER_USEC;
		tvp = ares_timeout(r->ch, &maxtv, &tv);
		/* rounded up: a timeout a few us away is not polled for again and again */
		ms = (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000);
		if (poll(pfd, nfd, ms) < 0 && errno != EINTR)
			usleep(10000); /* cannot happen with these fds; no spinning if it does */
		if (pfd[0].revents) {
			__u64 v;

			if (read(r->wfd, &v, sizeof(v)) < 0) {
				/* another wakeup took it */
			}
		}
		for (int i = 1; i < nfd; i++) {
			short ev = pfd[i].revents;

			if (!ev)
				continue;
			ares_process_fd(r->ch,
					ev & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd
									  : ARES_SOCKET_BAD,
					ev & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
		}
		ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
	}
	ares_destroy(r->ch); /* lookups in flight end with ARES_EDESTRUCTION */
	r->ch = NULL;
	return NULL;
}

static int channel_new(ares_channel *ch, const char *resolv_conf, const char *servers,
		       int timeout_ms, char *err, size_t errlen)
{
	struct ares_options o;
	int mask = 0, rc;

	memset(&o, 0, sizeof(o));
	if (resolv_conf) {
		o.resolvconf_path = (char *)resolv_conf;
		mask |= ARES_OPT_RESOLVCONF;
	}
	if (timeout_ms) {
		o.timeout = timeout_ms;
		o.tries = ARES_TRIES;
		mask |= ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	}
	rc = ares_init_options(ch, &o, mask);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		return -1;
	}
	if (servers) {
		rc = ares_set_servers_ports_csv(*ch, servers);
		if (rc != ARES_SUCCESS) {
			snprintf(err, errlen, "c-ares: name servers \"%.64s\": %s", servers,
				 ares_strerror(rc));
			ares_destroy(*ch);
			return -1;
		}
	}
	return 0;
}

static int count_servers(ares_channel ch)
{
	struct ares_addr_port_node *list = NULL, *s;
	int n = 0;

	if (ares_get_servers_ports(ch, &list) != ARES_SUCCESS)
		return 0;
	for (s = list; s; s = s->next)
		n++;
	ares_free_data(list);
	return n;
}

/*
 * A channel whose tries end within ARES_BUDGET_MS: c-ares tries each server in turn, and doubles
 * the timeout with each round over them, so 2 tries of S servers take S * 3 * timeout.
 */
static int channel_open(ares_channel *ch, const char *resolv_conf, const char *servers, char *err,
			size_t errlen)
{
	int n, t;

	if (resolv_conf && access(resolv_conf, R_OK)) {
		/* c-ares would fall back to its defaults quietly */
		snprintf(err, errlen, "cannot read %.200s: %s", resolv_conf, strerror(errno));
		return -1;
	}
	if (channel_new(ch, resolv_conf, servers, 0, err, errlen))
		return -1;
	n = count_servers(*ch);
	ares_destroy(*ch);
	if (!n) {
		snprintf(err, errlen, "c-ares: no name servers");
		return -1;
	}
	t = ARES_BUDGET_MS / (n * ((1 << ARES_TRIES) - 1));
	return channel_new(ch, resolv_conf, servers, t < ARES_MIN_TRY_MS ? ARES_MIN_TRY_MS : t, err,
			   errlen);
}

struct cruise_resolver *cruise_resolver_start_servers(const char *resolv_conf, const char *servers,
						      char *err, size_t errlen)
{
	struct cruise_resolver *r;
	int ret;

	pthread_once(&ares_once, ares_lib_init);
	if (ares_lib_rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(ares_lib_rc));
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0 || r->wfd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (channel_open(&r->ch, resolv_conf, servers, err, errlen))
		goto fail;
	r->seed = (unsigned int)(cruise_now_ns() ^ (__u64)getpid());
	pthread_mutex_init(&r->lock, NULL);
	ret = pthread_create(&r->thread, NULL, resolver_main, r);
	if (ret) {
		snprintf(err, errlen, "cannot start the resolver thread: %s", strerror(ret));
		pthread_mutex_destroy(&r->lock);
		ares_destroy(r->ch);
		goto fail;
	}
	return r;
fail:
	if (r->efd >= 0)
		close(r->efd);
	if (r->wfd >= 0)
		close(r->wfd);
	free(r);
	return NULL;
}

struct cruise_resolver *cruise_resolver_start(const char *resolv_conf, char *err, size_t errlen)
{
	return cruise_resolver_start_servers(resolv_conf, NULL, err, errlen);
}

static void host_free(struct host *h)
{
	if (!h)
		return;
	free(h->r.host);
	free(h);
}

void cruise_resolver_set_hosts(struct cruise_resolver *r, const char *const *hosts, size_t n)
{
	struct host **next = calloc(n ? n : 1, sizeof(*next));
	size_t k = 0;

	if (!r || !next) {
		free(next);
		return;
	}
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		struct host *h = NULL;
		size_t j;

		for (j = 0; j < k && strcmp(next[j]->r.host, hosts[i]); j++)
			;
		if (j < k) /* named twice */
			continue;
		for (j = 0; j < r->n_hosts; j++) {
			if (r->hosts[j] && !strcmp(r->hosts[j]->r.host, hosts[i])) {
				h = r->hosts[j];
				r->hosts[j] = NULL;
				break;
			}
		}
		if (!h) {
			h = calloc(1, sizeof(*h));
			if (h)
				h->r.host = strdup(hosts[i]);
			if (!h || !h->r.host) {
				host_free(h);
				continue; /* out of memory: left out, as if not configured */
			}
			h->id = ++r->ids; /* next_ns 0: looked up at once */
		}
		next[k++] = h;
	}
	for (size_t j = 0; j < r->n_hosts; j++)
		host_free(r->hosts[j]); /* their answers find no host */
	free(r->hosts);
	r->hosts = next;
	r->n_hosts = k;
	pthread_mutex_unlock(&r->lock);
	poke(r->wfd);
}

int cruise_resolver_fd(struct cruise_resolver *r)
{
	return r ? r->efd : -1;
}

void cruise_resolved_free(struct cruise_resolved *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		free(t[i].host);
	free(t);
}

static int copy_table(struct cruise_resolver *r, struct cruise_resolved **out, size_t *n, bool take)
{
	struct cruise_resolved *t = NULL;
	__u64 v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!r)
		return 0;
	pthread_mutex_lock(&r->lock);
	if (take && read(r->efd, &v, sizeof(v)) < 0) {
		/* nothing signalled: a copy all the same */
	}
	if (r->n_hosts) {
		t = calloc(r->n_hosts, sizeof(*t));
		if (!t)
			goto enomem;
	}
	for (i = 0; i < r->n_hosts; i++) {
		t[i] = r->hosts[i]->r;
		t[i].host = strdup(r->hosts[i]->r.host);
		if (!t[i].host) {
			cruise_resolved_free(t, i);
			goto enomem;
		}
	}
	*out = t;
	*n = r->n_hosts;
	pthread_mutex_unlock(&r->lock);
	return 0;
enomem:
	if (take)
		poke(r->efd); /* what was signalled is still to be taken */
	pthread_mutex_unlock(&r->lock);
	return -ENOMEM;
}

int cruise_resolver_take(struct cruise_resolver *r, struct cruise_resolved **out, size_t *n)
{
	return copy_table(r, out, n, true);
}

int cruise_resolver_table(struct cruise_resolver *r, struct cruise_resolved **out, size_t *n)
{
	return copy_table(r, out, n, false);
}

void cruise_resolver_stop(struct cruise_resolver *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_mutex_unlock(&r->lock);
	poke(r->wfd);
	/*
	 * Bounded: the thread waits only in poll(), which the wakeup ends; c-ares' sockets are
	 * non-blocking and ares_destroy sends nothing.
	 */
	pthread_join(r->thread, NULL);
	for (size_t i = 0; i < r->n_hosts; i++)
		host_free(r->hosts[i]);
	free(r->hosts);
	close(r->efd);
	close(r->wfd);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
