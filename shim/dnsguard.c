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
 * - Elsewhere (LD_PRELOAD alone, or a query sent with sendto() and an address) the queries are rewritten: a
 *   query for a name that is not allowed is refused (EPERM) before it is sent; a query for an allowed name, or
 *   a reverse lookup of an allowed address, goes out rebuilt from its question alone (the engine's rule: nothing
 *   else of the program's message, no other opcode, none of its EDNS options, every query of a TCP write). The
 *   program's own bytes never reach the nameserver, so a thread rewriting them after the check changes nothing.
 *   (A library cannot forge a reply from the nameserver's address on its own; the program's getaddrinfo() path
 *   gets virtual addresses either way.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/syscall.h>

#include "shim.h"

bool shim_is_nameserver(const struct sockaddr *sa, socklen_t len)
{
	struct resolver_addr a;
	uint16_t port;
	return route_sockaddr_split(sa, len, &a, &port) == 0 && route_is_nameserver(shim_route(), &a, port);
}

int shim_dns_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	shim_fd_set(fd, SHIM_FD_DNS); /* before the call: a non-blocking TCP connect is guarded while it completes */
	int rc = shim_connect_supervised(fd, sa, len);
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

/* Copies the iovecs into OUT (at most OUTLEN bytes); returns their total length. */
static size_t gather(const struct iovec *iov, size_t iovcnt, uint8_t *out, size_t outlen)
{
	size_t total = 0;
	for (size_t i = 0; i < iovcnt; i++) {
		size_t n = iov[i].iov_len;
		if (total < outlen)
			memcpy(out + total, iov[i].iov_base, n < outlen - total ? n : outlen - total);
		total += n;
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

/* The query MSG (LEN bytes) rebuilt for the nameserver into OUT (SHIM_DNS_DATAGRAM_MAX bytes) when the engine
 * lets it go: its length, or -EPERM (logged). */
static ssize_t rebuild_allowed(const uint8_t *msg, size_t len, uint8_t *out)
{
	struct resolver_dns_question q;
	char why[TW_NAME_MAX + 128];
	bool parsed = resolver_dns_parse_query(msg, len, &q) == 0;
	if (!parsed)
		snprintf(why, sizeof(why), "something that is not a DNS query");
	else if (route_dns_may_forward(shim_route(), &q, why, sizeof(why))) {
		ssize_t n = resolver_dns_rebuild_query(msg, len, q.id, out, SHIM_DNS_DATAGRAM_MAX);
		if (n > 0)
			return n;
		snprintf(why, sizeof(why), "a query that cannot be rebuilt from its question");
	}
	log_dns_refused(parsed ? &q : NULL, why);
	return -EPERM;
}

/* All of BUF (LEN bytes) on FD, waiting for room while a non-blocking socket has none: a DNS message is small,
 * and half of one, or one of a write's queries without the next, would be a broken stream. 0 or a negative
 * errno. */
static int send_whole(int fd, const uint8_t *buf, size_t len, int flags)
{
	int64_t deadline = tw_now_ms() + shim_config()->timeout_ms;
	for (size_t off = 0; off < len;) {
		ssize_t n = tw_libc()->send(fd, buf + off, len - off, flags);
		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int64_t left = deadline - tw_now_ms();
			if (left <= 0 || poll(&p, 1, (int)left) <= 0)
				return -ETIMEDOUT;
		} else {
			return n < 0 ? -errno : -EIO;
		}
	}
	return 0;
}

/* One pass over the TCP stream bytes MSG (LEN) of one write, from the state the socket was left in: checks
 * every query (SEND false), or sends each rebuilt with its new length (SEND true). The length written alone at
 * the end, if any, goes to *TAIL_LEN (-1 for none). 0, or -EPERM (logged) / the send's error. */
static int stream_pass(int fd, const uint8_t *msg, size_t len, int flags, bool send, long *tail_len)
{
	size_t off = 0;
	long want = (shim_fd_flags(fd) & SHIM_FD_DNS_LENGTH) ? shim_fd_dns_length(fd) : -1;
	*tail_len = -1;
	while (off < len) {
		if (want < 0) {
			if (len - off == 2) { /* the length alone: its message comes with the next write */
				*tail_len = msg[off] << 8 | msg[off + 1];
				return 0;
			}
			if (len - off < 2)
				break;
			want = msg[off] << 8 | msg[off + 1];
			off += 2;
		}
		if (len - off < (size_t)want)
			break;
		uint8_t out[2 + SHIM_DNS_DATAGRAM_MAX];
		ssize_t n = rebuild_allowed(msg + off, (size_t)want, out + 2);
		if (n < 0)
			return (int)n;
		if (send) {
			out[0] = (uint8_t)(n >> 8);
			out[1] = (uint8_t)n;
			int rc = send_whole(fd, out, (size_t)n + 2, flags);
			if (rc < 0)
				return rc;
		}
		off += (size_t)want;
		want = -1;
	}
	if (off == len)
		return 0;
	log_dns_refused(NULL, "a DNS message split across writes (no resolver does that)");
	return -EPERM;
}

/* TCP: every query of this write checked first (a write is refused whole), then each sent rebuilt. */
static ssize_t stream_send(int fd, const uint8_t *msg, size_t len, int flags)
{
	long tail;
	int rc = stream_pass(fd, msg, len, flags, false, &tail);
	if (rc == 0)
		rc = stream_pass(fd, msg, len, flags, true, &tail);
	if (rc < 0)
		return rc;
	shim_fd_clear(fd, SHIM_FD_DNS_LENGTH);
	if (tail >= 0)
		shim_fd_set_dns_length(fd, (uint16_t)tail);
	return (ssize_t)len;
}

ssize_t shim_dns_send(int fd, const struct iovec *iov, size_t iovcnt, int flags)
{
	/* The flag may be stale (a descriptor closed behind our back and reused): ask the kernel. */
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	int type = 0;
	socklen_t tlen = sizeof(type);
	if (tw_libc()->getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
	    !shim_is_nameserver((struct sockaddr *)&peer, plen) ||
	    tw_libc()->getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0) {
		shim_fd_clear(fd, SHIM_FD_DNS | SHIM_FD_DNS_LENGTH);
		return SHIM_DNS_AS_IS;
	}
	uint8_t small[2048], *msg = small;
	size_t total = gather(iov, iovcnt, NULL, 0);
	if (total > 65537 + 2) { /* more than one whole TCP message and its length, or a datagram DNS never sends */
		log_dns_refused(NULL, "a DNS write longer than any query");
		return -EPERM;
	}
	if (total > sizeof(small) && (msg = malloc(total)) == NULL)
		return -ENOMEM;
	gather(iov, iovcnt, msg, total);
	ssize_t rc;
	if (type == SOCK_STREAM) {
		rc = stream_send(fd, msg, total, flags);
	} else {
		uint8_t out[SHIM_DNS_DATAGRAM_MAX];
		rc = rebuild_allowed(msg, total, out);
		if (rc > 0)
			rc = tw_libc()->send(fd, out, (size_t)rc, flags) < 0 ? -errno : (ssize_t)total;
	}
	if (msg != small)
		free(msg);
	return rc;
}

int shim_check_datagram(const struct resolver_addr *a, uint16_t port, const struct iovec *iov, size_t iovcnt,
			uint8_t *out, size_t *outlen)
{
	char name[TW_NAME_MAX];
	struct policy_reason why_addr;
	struct sockaddr_storage ss;
	struct route_caller who;
	socklen_t len = route_sockaddr_make(a, port, a->family, &ss);
	enum policy_verdict v = route_decide_addr_why(shim_route(), shim_caller(&who, false), (struct sockaddr *)&ss,
						      len, name, &why_addr);
	if (v == POLICY_REFUSE)
		return -EPERM;
	if (v == POLICY_TOR) {
		char text[INET6_ADDRSTRLEN], dest[ROUTE_DEST_MAX], rule[ROUTE_RULE_MAX];
		struct tw_event ev = TW_EVENT("send", route_dest_text(a, name, port, dest, sizeof(dest)), "refuse",
					      route_rule_text(shim_route(), &why_addr, rule, sizeof(rule)));
		ev.err = EPERM;
		tw_log_event(TW_LOG_ERROR, ev,
			     "datagram to %s refused: only TCP can go through Tor, and the destination is not allowed",
			     name[0] ? name : shim_addr_text(a, text, sizeof(text)));
		return -EPERM;
	}
	if (!route_is_nameserver(shim_route(), a, port))
		return why_addr.learned && shim_supervised() ? SHIM_SEND_SUPERVISED : 0;
	uint8_t msg[SHIM_DNS_DATAGRAM_MAX];
	size_t total = gather(iov, iovcnt, msg, sizeof(msg));
	ssize_t n = rebuild_allowed(msg, total < sizeof(msg) ? total : sizeof(msg), out);
	if (n < 0)
		return (int)n;
	*outlen = (size_t)n;
	return SHIM_DNS_REWRITTEN;
}
