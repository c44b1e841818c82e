/* addr.c: the routing engine's addresses (route.h): sockaddrs taken apart and made, a datagram's destination as
 * the kernel reads it, what is a nameserver, and the control data that would route a packet elsewhere.
 */
#include "route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdio.h>
#include <string.h>

#ifndef SIN6_LEN_RFC2133
#define SIN6_LEN_RFC2133 24
#endif

int route_sockaddr_split(const struct sockaddr *sa, socklen_t len, struct resolver_addr *a, uint16_t *port)
{
	memset(a, 0, sizeof(*a));
	if (sa == NULL)
		return -EINVAL;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
		a->family = AF_INET;
		memcpy(a->addr, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= SIN6_LEN_RFC2133) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		a->family = AF_INET6;
		memcpy(a->addr, &sin6->sin6_addr, 16);
		*port = ntohs(sin6->sin6_port);
		return 0;
	}
	return -EINVAL;
}

socklen_t route_sockaddr_make(const struct resolver_addr *a, uint16_t port, int domain, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (domain == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a->family == AF_INET ? a->addr : a->addr + 12, 4);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	if (a->family == AF_INET6) {
		memcpy(&sin6->sin6_addr, a->addr, 16);
	} else {
		sin6->sin6_addr.s6_addr[10] = 0xff;
		sin6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sin6->sin6_addr.s6_addr[12], a->addr, 4);
	}
	return sizeof(*sin6);
}

bool route_addr_v4(const struct resolver_addr *a, uint32_t *v4)
{
	if (a->family == AF_INET) {
		memcpy(v4, a->addr, 4);
		return true;
	}
	if (a->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)a->addr)) {
		memcpy(v4, a->addr + 12, 4);
		return true;
	}
	return false;
}

const char *route_addr_text(const struct resolver_addr *a, char *buf, size_t len)
{
	if (inet_ntop(a->family, a->addr, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

int route_datagram_dest(int domain, const struct sockaddr *sa, socklen_t len, struct resolver_addr *a,
			uint16_t *port)
{
	memset(a, 0, sizeof(*a));
	*port = 0;
	if (sa == NULL || len < sizeof(sa_family_t))
		return -EINVAL;
	if (sa->sa_family == AF_UNSPEC) {
		if (domain == AF_INET6)
			return 0; /* udpv6_sendmsg: no address, the connected peer */
		if (len < sizeof(struct sockaddr_in))
			return -EINVAL;
		struct sockaddr_in sin; /* udp_sendmsg reads AF_UNSPEC as AF_INET */
		memcpy(&sin, sa, sizeof(sin));
		sin.sin_family = AF_INET;
		return route_sockaddr_split((struct sockaddr *)&sin, sizeof(sin), a, port) == 0 ? 1 : -EINVAL;
	}
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	if (sa->sa_family == AF_INET6 && domain == AF_INET)
		return -EAFNOSUPPORT;
	return route_sockaddr_split(sa, len, a, port) == 0 ? 1 : -EINVAL;
}

/* IP options that route the packet through another address first: a loose or strict source route. Options that
 * cannot be read count as one (the kernel would refuse them anyway). */
static bool source_routed(const uint8_t *o, size_t n)
{
	for (size_t i = 0; i < n && o[i] != IPOPT_END;) {
		if (o[i] == IPOPT_NOP) {
			i++;
			continue;
		}
		if (o[i] == IPOPT_LSRR || o[i] == IPOPT_SSRR || i + 1 >= n || o[i + 1] < 2)
			return true;
		i += o[i + 1];
	}
	return false;
}

bool route_cmsg_reroutes(int level, int type, const uint8_t *data, size_t len)
{
	if (level == IPPROTO_IP && type == IP_RETOPTS)
		return source_routed(data, len);
	return level == IPPROTO_IPV6 && (type == IPV6_RTHDR || type == IPV6_2292RTHDR);
}

bool route_control_reroutes(const void *control, size_t len)
{
	struct msghdr m = { .msg_control = (void *)control, .msg_controllen = len };
	for (struct cmsghdr *c = control ? CMSG_FIRSTHDR(&m) : NULL; c != NULL; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_len >= CMSG_LEN(0) &&
		    route_cmsg_reroutes(c->cmsg_level, c->cmsg_type, CMSG_DATA(c), c->cmsg_len - CMSG_LEN(0))) {
			struct tw_event ev = TW_EVENT("send", NULL, "refuse", NULL);
			ev.err = EPERM;
			tw_log_event(TW_LOG_ERROR, ev, "a send with IP options or an IPv6 routing header refused: a source "
				     "route sends the packet to its first hop, not to the destination decided");
			return true;
		}
	}
	return false;
}

/* A proxy given as a literal, at PORT: its address is no nameserver's, whatever resolv.conf says. */
static bool is_literal_proxy(const struct route_ctx *ctx, const struct resolver_addr *a, uint16_t port)
{
	for (unsigned i = 0; ctx->cfg && i < ctx->cfg->nproxy; i++) {
		const struct policy_proxy *px = &ctx->cfg->proxy[i];
		struct resolver_addr lit = { .family = AF_INET };
		if (px->port != port)
			continue;
		if (inet_pton(AF_INET, px->host, lit.addr) != 1) {
			lit.family = AF_INET6;
			if (inet_pton(AF_INET6, px->host, lit.addr) != 1)
				continue;
		}
		uint32_t x, y;
		if (route_addr_v4(&lit, &x) ? route_addr_v4(a, &y) && x == y
					    : a->family == AF_INET6 && memcmp(a->addr, lit.addr, 16) == 0)
			return true;
	}
	return false;
}

bool route_is_nameserver(const struct route_ctx *ctx, const struct resolver_addr *a, uint16_t port)
{
	if (port == 53)
		return true;
	uint32_t v4 = 0, ns4;
	bool have_v4 = route_addr_v4(a, &v4);
	for (unsigned i = 0; ctx->ns && i < ctx->ns->nns; i++) {
		/* Every port of a nameserver's address: Docker's 127.0.0.11 really listens on a high port, which a
		 * program can read from /proc/net/udp and ask directly. */
		const struct resolver_nameserver *ns = &ctx->ns->ns[i];
		bool same = false;
		if (ns->family == AF_INET) {
			memcpy(&ns4, ns->addr, 4);
			same = have_v4 && ns4 == v4;
		} else {
			same = a->family == AF_INET6 && memcmp(ns->addr, a->addr, 16) == 0;
		}
		if (same)
			return !is_literal_proxy(ctx, a, port);
	}
	return false;
}

