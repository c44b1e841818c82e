/* responder.c: the supervisor's DNS responder. A connect to port 53 (or to any port of a nameserver of
 * TORWRAP_RESOLV_CONF), UDP or TCP, is redirected in place (sv_redirect_dns) to a responder inside the
 * supervisor that answers from the shared virtual address map and forwards only allowed names to the configured
 * nameservers, rebuilt from their question alone (route_dns_forward). glibc, Go, c-ares (the library's own
 * lookups) and dig all connect their query sockets and take the responder's answers. A query sent with an explicit address to port 53 (musl's way) is refused
 * (handlers.c): such resolvers check the reply's source, so it could not be answered.
 *
 * The responder listens on 127.0.0.1 and, where the host has it, ::1; it starts with the first query.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sv.h"

#define SV_FORWARDS_MAX 128 /* DNS queries being forwarded at once */
#define SV_DNS_MAX 65535

/* ------------------------------------------------------------------------------------------- DNS messages */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ------------------------------------------------------------------------------------------ the responder */

enum { RCODE_SERVFAIL = 2 };

/* Forwards an allowed question and remembers the addresses it resolved to; SERVFAIL when nobody answers. */
static ssize_t dns_answer_forwarded(const uint8_t *query, size_t len, struct resolver_dns_question *q,
				    uint8_t *out, size_t outlen, bool tcp)
{
	ssize_t r = route_dns_forward(&sv.route, query, len, out, outlen, tcp);
	struct tw_event ev = TW_EVENT("dns", q->name, "direct", NULL);
	if (r <= 0) {
		ev.err = r < 0 ? (int)-r : EIO;
		tw_log_event(TW_LOG_ERROR, ev, "DNS query for %s: no answer from the nameservers (%s)", q->name,
			     r < 0 ? strerror((int)-r) : "empty");
		return resolver_dns_build_reply(q, RCODE_SERVFAIL, NULL, 0, out, outlen);
	}
	char name[TW_NAME_MAX];
	struct resolver_addr addrs[RESOLVER_MAX_ADDRS];
	int n = resolver_dns_reply_addrs(out, (size_t)r, addrs, RESOLVER_MAX_ADDRS);
	if (tw_name_normalize(q->name, name) == 0)
		for (int i = 0; i < n; i++)
			sv_learned.remember(addrs[i].family, addrs[i].addr, name);
	tw_log_event(TW_LOG_INFO, ev, "DNS query for %s: allowed, forwarded to the nameserver", q->name);
	return r;
}

struct udp_forward {
	int sock;
	struct sockaddr_storage from;
	socklen_t fromlen;
	size_t len;
	struct resolver_dns_question q;
	uint8_t query[];
};

static void *udp_forward_thread(void *arg)
{
	struct udp_forward *f = arg;
	uint8_t *out = malloc(SV_DNS_MAX);
	if (out) {
		ssize_t r = dns_answer_forwarded(f->query, f->len, &f->q, out, SV_DNS_MAX, false);
		if (r > 0)
			sendto(f->sock, out, (size_t)r, MSG_NOSIGNAL, (struct sockaddr *)&f->from, f->fromlen);
		free(out);
	}
	free(f);
	atomic_fetch_sub(&sv.forwards, 1);
	return NULL;
}

static void udp_serve_one(int sock, uint8_t *buf, uint8_t *out)
{
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	ssize_t n = recvfrom(sock, buf, SV_DNS_MAX, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
	if (n <= 0)
		return;
	struct resolver_dns_question q;
	ssize_t r = route_dns_answer(&sv.route, buf, (size_t)n, &q, out, SV_DNS_MAX);
	if (r > 0) {
		sendto(sock, out, (size_t)r, MSG_NOSIGNAL, (struct sockaddr *)&from, fromlen);
		return;
	}
	if (r != ROUTE_DNS_FORWARD)
		return;
	/* The nameserver may be slow: answer it on a thread of its own (the client retries if we drop it). */
	if (atomic_fetch_add(&sv.forwards, 1) >= SV_FORWARDS_MAX) {
		atomic_fetch_sub(&sv.forwards, 1);
		return;
	}
	struct udp_forward *f = malloc(sizeof(*f) + (size_t)n);
	if (f == NULL) {
		atomic_fetch_sub(&sv.forwards, 1);
		return;
	}
	f->sock = sock;
	f->from = from;
	f->fromlen = fromlen;
	f->len = (size_t)n;
	f->q = q;
	memcpy(f->query, buf, (size_t)n);
	if (sv_spawn_detached(udp_forward_thread, f) != 0) {
		free(f);
		atomic_fetch_sub(&sv.forwards, 1);
	}
}

static void *udp_responder(void *arg)
{
	(void)arg;
	uint8_t *buf = malloc(SV_DNS_MAX), *out = malloc(SV_DNS_MAX);
	if (buf == NULL || out == NULL)
		return NULL;
	for (;;) {
		struct pollfd p[2] = { { .fd = sv.dns_udp4, .events = POLLIN }, { .fd = sv.dns_udp6, .events = POLLIN } };
		if (poll(p, sv.dns_udp6 >= 0 ? 2 : 1, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++)
			if (p[i].fd >= 0 && (p[i].revents & POLLIN))
				udp_serve_one(p[i].fd, buf, out);
	}
	return NULL;
}

static void *tcp_connection(void *arg)
{
	int s = (int)(intptr_t)arg;
	uint8_t *buf = malloc(SV_DNS_MAX + 2), *out = malloc(SV_DNS_MAX + 2);
	while (buf && out) {
		uint8_t hdr[2];
		int64_t deadline = tw_now_ms() + 10000; /* an idle client is let go */
		if (sv_recv_exact(s, hdr, 2, deadline) < 0)
			break;
		size_t n = get16(hdr);
		if (n == 0 || sv_recv_exact(s, buf, n, deadline) < 0)
			break;
		struct resolver_dns_question q;
		ssize_t r = route_dns_answer(&sv.route, buf, n, &q, out + 2, SV_DNS_MAX);
		if (r == ROUTE_DNS_FORWARD)
			r = dns_answer_forwarded(buf, n, &q, out + 2, SV_DNS_MAX, true);
		if (r <= 0)
			break;
		out[0] = (uint8_t)(r >> 8);
		out[1] = (uint8_t)r;
		if (sv_send_all(s, out, (size_t)r + 2, tw_now_ms() + 10000, NULL) < 0)
			break;
	}
	free(buf);
	free(out);
	close(s);
	return NULL;
}

static void *tcp_responder(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = sv.dns_tcp4, .events = POLLIN }, { .fd = sv.dns_tcp6, .events = POLLIN } };
		if (poll(p, sv.dns_tcp6 >= 0 ? 2 : 1, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & POLLIN))
				continue;
			int s = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (s < 0)
				continue;
			if (sv_spawn_detached(tcp_connection, (void *)(intptr_t)s) != 0)
				close(s);
		}
	}
	return NULL;
}

/* Binds a responder socket on loopback (v6: ::1 only) and returns it, its port in *PORT; or a negative errno. */
static int responder_socket(int family, int type, uint16_t *port)
{
	int s = socket(family, type | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	struct sockaddr_storage ss;
	struct resolver_addr lo = { .family = family };
	if (family == AF_INET) {
		uint32_t v4 = htonl(INADDR_LOOPBACK);
		memcpy(lo.addr, &v4, 4);
	} else {
		int one = 1;
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		lo.addr[15] = 1;
	}
	socklen_t len = route_sockaddr_make(&lo, 0, family, &ss);
	if (bind(s, (struct sockaddr *)&ss, len) != 0 || (type == SOCK_STREAM && listen(s, 128) != 0) ||
	    getsockname(s, (struct sockaddr *)&ss, &len) != 0) {
		int err = errno;
		close(s);
		return -err;
	}
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				       : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return s;
}

static void close_if_open(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int responder_start(void)
{
	sv.dns_udp4 = responder_socket(AF_INET, SOCK_DGRAM, &sv.dns_udp4_port);
	sv.dns_tcp4 = responder_socket(AF_INET, SOCK_STREAM, &sv.dns_tcp4_port);
	if (sv.dns_udp4 < 0 || sv.dns_tcp4 < 0) {
		int err = sv.dns_udp4 < 0 ? sv.dns_udp4 : sv.dns_tcp4; /* this call's own error, not a stale errno */
		close_if_open(&sv.dns_udp4);
		close_if_open(&sv.dns_tcp4);
		return err;
	}
	sv.dns_udp6 = responder_socket(AF_INET6, SOCK_DGRAM, &sv.dns_udp6_port);
	sv.dns_tcp6 = responder_socket(AF_INET6, SOCK_STREAM, &sv.dns_tcp6_port);
	if (sv.dns_udp6 < 0 || sv.dns_tcp6 < 0) { /* no ::1 here: IPv6 sockets get the v4-mapped responder */
		close_if_open(&sv.dns_udp6);
		close_if_open(&sv.dns_tcp6);
	}
	if (sv_spawn_detached(udp_responder, NULL) != 0 || sv_spawn_detached(tcp_responder, NULL) != 0)
		return -EAGAIN;
	return 0;
}

static pthread_once_t responder_once = PTHREAD_ONCE_INIT;
static int responder_status = -EAGAIN;

static void responder_start_once(void)
{
	responder_status = responder_start();
	if (responder_status >= 0)
		return;
	struct tw_event ev = TW_EVENT("config", NULL, NULL, NULL);
	ev.err = -responder_status;
	tw_log_event(TW_LOG_ERROR, ev, "the DNS responder cannot start (%s): DNS queries fail",
		     strerror(-responder_status));
}

/* Connects the program's socket to the responder instead of the nameserver it asked for. */
int64_t sv_redirect_dns(const struct sv_call *c)
{
	/* Started by the first query: a program that never resolves a name pays nothing for it. */
	pthread_once(&responder_once, responder_start_once);
	if (responder_status < 0)
		return responder_status;
	bool tcp = c->type == SOCK_STREAM;
	struct sockaddr_storage ss;
	struct resolver_addr a;
	socklen_t len;
	memset(&a, 0, sizeof(a));
	if (c->domain == AF_INET6 && (tcp ? sv.dns_tcp6 : sv.dns_udp6) >= 0) {
		a.family = AF_INET6;
		a.addr[15] = 1;
		len = route_sockaddr_make(&a, tcp ? sv.dns_tcp6_port : sv.dns_udp6_port, AF_INET6, &ss);
	} else {
		a.family = AF_INET;
		uint32_t lo = htonl(INADDR_LOOPBACK);
		memcpy(a.addr, &lo, 4);
		len = route_sockaddr_make(&a, tcp ? sv.dns_tcp4_port : sv.dns_udp4_port, c->domain, &ss);
	}
	return sv_connect_in_place(c->sfd, &ss, len);
}
