/* dnsguard.c: the datagram rule, and the DNS of programs with a resolver of their own.
 *
 * Programs with a resolver of their own (dig, host, nslookup, Node's dns.resolve*, which is c-ares) send DNS
 * queries themselves. A query for a name that is not allowed must never reach a nameserver: in Docker,
 * 127.0.0.11 forwards what it does not know to the host's resolvers, outside Tor.
 *
 * - Under `torwrap`, their sockets are answered: the connect to the nameserver is issued without the tree's
 *   cookie, so the kernel hands it to the supervisor, which connects the socket to its DNS responder (virtual
 *   addresses for names that are not allowed, allowed names forwarded to the nameserver). These resolvers drop
 *   a reply that does not come from the server they asked, so recv.c reports the responder's replies as the
 *   nameserver's, and getpeername() the nameserver.
 * - Elsewhere (LD_PRELOAD alone, or a query sent with sendto() and an address) the queries are guarded: a
 *   query for a name that is not allowed is refused (EPERM) before it is sent; queries for allowed names, and
 *   reverse lookups of allowed addresses, go through. (A library cannot forge a reply from the nameserver's
 *   address on its own; the program's getaddrinfo() path gets virtual addresses either way.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#include "shim.h"

bool shim_is_nameserver(const struct sockaddr *sa, socklen_t len)
{
	struct resolver_addr a;
	uint16_t port;
	return route_sockaddr_split(sa, len, &a, &port) == 0 && route_is_nameserver(shim_route(), &a, port);
}

/* The connect as the kernel's filter sees a program's own: under torwrap's filter, handed to the supervisor. */
static int connect_uncookied(int fd, const struct sockaddr *sa, socklen_t len)
{
	return (int)tw_libc()->syscall(SYS_connect, (long)fd, (long)sa, (long)len, 0L);
}

int shim_dns_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	shim_fd_set(fd, SHIM_FD_DNS); /* before the call: a non-blocking TCP connect is guarded while it completes */
	int rc = connect_uncookied(fd, sa, len);
	if (rc != 0 && errno == EPERM && tw_gate_cookie() != 0)
		rc = tw_gate_connect(fd, sa, len); /* the library's own EPERM filter: no supervisor, guarded */
	if (rc != 0)
		return -errno;
	struct sockaddr_storage asked, peer;
	socklen_t plen = sizeof(peer);
	memset(&asked, 0, sizeof(asked));
	memcpy(&asked, sa, len < sizeof(asked) ? len : sizeof(asked));
	if (tw_libc()->getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 || shim_same_endpoint(&peer, &asked))
		return 0; /* connected as asked: no supervisor here */
	shim_fd_set_peer(fd, sa, len, (struct sockaddr *)&peer, plen);
	shim_fd_clear(fd, SHIM_FD_DNS);
	shim_fd_set(fd, SHIM_FD_ANSWERED);
	return 0;
}

/* Copies up to OUTLEN bytes of the iovecs into OUT; returns the total length of the iovecs. */
static size_t gather(const struct iovec *iov, size_t iovcnt, uint8_t *out, size_t outlen, size_t skip)
{
	size_t total = 0, n = 0;
	for (size_t i = 0; i < iovcnt; i++) {
		const uint8_t *b = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len; j++, total++) {
			if (total < skip)
				continue;
			if (n < outlen)
				out[n++] = b[j];
		}
	}
	return total;
}

/* The one line for a query refused on its way to a nameserver: Q's name (when it parsed), WHY in words. */
static void log_dns_refused(const struct resolver_dns_question *q, const char *why)
{
	struct tw_event ev = TW_EVENT("dns", q && q->qdcount == 1 ? q->name : NULL, "refuse", NULL);
	ev.err = EPERM;
	tw_log_event(TW_LOG_ERROR, ev, "DNS to a nameserver refused: %s", why);
}

/* May this question go to a nameserver? */
static bool question_allowed(const struct resolver_dns_question *q, char *why, size_t whylen)
{
	const struct tw_config *cfg = shim_config();
	if (q->qdcount == 0)
		return true;
	if (q->qdcount > 1) {
		snprintf(why, whylen, "a query with %u questions", q->qdcount);
		return false;
	}
	struct resolver_addr a;
	if (resolver_dns_ptr_addr(q->name, &a) == 0) {
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		socklen_t len;
		if (a.family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, a.addr, 4);
			len = sizeof(*sin);
			uint32_t v4;
			memcpy(&v4, a.addr, 4);
			if (policy_is_virtual_v4(cfg, v4)) {
				snprintf(why, whylen, "a reverse lookup of a virtual address (%s)", q->name);
				return false;
			}
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, a.addr, 16);
			len = sizeof(*sin6);
		}
		if (policy_decide_addr(cfg, (struct sockaddr *)&ss, len) == POLICY_DIRECT)
			return true;
		snprintf(why, whylen, "a reverse lookup of an address policy does not allow (%s)", q->name);
		return false;
	}
	char name[TW_NAME_MAX];
	if (q->name[0] == '\0')
		return true; /* the root: priming queries reveal nothing */
	if (tw_name_normalize(q->name, name) == 0 && policy_decide_name(cfg, name, 0) == POLICY_DIRECT)
		return true;
	snprintf(why, whylen, "a query for %s, which is not allowed: it would be resolved outside Tor", q->name);
	return false;
}

int shim_dns_guard(int fd, const struct iovec *iov, size_t iovcnt, bool stream)
{
	/* The flag may be stale (a descriptor closed behind our back and reused): ask the kernel. */
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	if (tw_libc()->getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
	    !shim_is_nameserver((struct sockaddr *)&peer, plen)) {
		shim_fd_clear(fd, SHIM_FD_DNS | SHIM_FD_DNS_LENGTH);
		return 0;
	}
	uint8_t msg[1024];
	size_t skip = 0;
	unsigned flags = shim_fd_flags(fd);
	if (stream && !(flags & SHIM_FD_DNS_LENGTH)) {
		size_t total = gather(iov, iovcnt, msg, 2, 0);
		if (total == 2) { /* the length alone; the message comes with the next write */
			shim_fd_set(fd, SHIM_FD_DNS_LENGTH);
			return 0;
		}
		skip = 2;
	}
	shim_fd_clear(fd, SHIM_FD_DNS_LENGTH);
	size_t total = gather(iov, iovcnt, msg, sizeof(msg), skip);
	size_t n = total - skip < sizeof(msg) ? total - skip : sizeof(msg);
	struct resolver_dns_question q;
	char why[TW_NAME_MAX + 128];
	bool parsed = resolver_dns_parse_query(msg, n, &q) == 0;
	if (!parsed)
		snprintf(why, sizeof(why), "something that is not a DNS query");
	else if (question_allowed(&q, why, sizeof(why)))
		return 0;
	log_dns_refused(parsed ? &q : NULL, why);
	return -EPERM;
}

int shim_check_datagram(int fd, const struct sockaddr *sa, socklen_t len, const struct iovec *iov, size_t iovcnt)
{
	char name[TW_NAME_MAX];
	struct policy_reason why_addr;
	enum policy_verdict v = shim_decide_addr(sa, len, name, &why_addr);
	if (v == POLICY_REFUSE)
		return -EPERM;
	if (v == POLICY_TOR) {
		struct resolver_addr a;
		uint16_t port = 0;
		char text[INET6_ADDRSTRLEN], dest[ROUTE_DEST_MAX], rule[ROUTE_RULE_MAX];
		route_sockaddr_split(sa, len, &a, &port); /* shim_decide_addr checked it */
		struct tw_event ev = TW_EVENT("send", route_dest_text(&a, name, port, dest, sizeof(dest)), "refuse",
					      route_rule_text(shim_route(), &why_addr, rule, sizeof(rule)));
		ev.err = EPERM;
		tw_log_event(TW_LOG_ERROR, ev,
			     "datagram to %s refused: only TCP can go through Tor, and the destination is not allowed",
			     name[0] ? name : shim_addr_text(&a, text, sizeof(text)));
		return -EPERM;
	}
	if (shim_is_nameserver(sa, len)) {
		struct resolver_dns_question q;
		uint8_t msg[1024];
		size_t total = gather(iov, iovcnt, msg, sizeof(msg), 0);
		char why[TW_NAME_MAX + 128];
		bool parsed = resolver_dns_parse_query(msg, total < sizeof(msg) ? total : sizeof(msg), &q) == 0;
		if (!parsed)
			snprintf(why, sizeof(why), "something that is not a DNS query");
		else if (question_allowed(&q, why, sizeof(why)))
			return 0;
		(void)fd;
		log_dns_refused(parsed ? &q : NULL, why);
		return -EPERM;
	}
	return 0;
}
