/* route.c: the routing engine (route.h). Decisions, lookups and the proxy connect, for every front end.
 */
#include "route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef SIN6_LEN_RFC2133
#define SIN6_LEN_RFC2133 24
#endif

/* ------------------------------------------------------------------------------------------- addresses */

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

bool route_is_nameserver(const struct route_ctx *ctx, const struct resolver_addr *a, uint16_t port)
{
	if (port == 53)
		return true;
	uint32_t v4 = 0, ns4;
	bool have_v4 = route_addr_v4(a, &v4);
	for (unsigned i = 0; ctx->ns && i < ctx->ns->nns; i++) {
		const struct resolver_nameserver *ns = &ctx->ns->ns[i];
		if (ns->port != port)
			continue;
		if (ns->family == AF_INET) {
			memcpy(&ns4, ns->addr, 4);
			if (have_v4 && ns4 == v4)
				return true;
		} else if (a->family == AF_INET6 && memcmp(ns->addr, a->addr, 16) == 0) {
			return true;
		}
	}
	return false;
}

static bool is_loopback(const struct resolver_addr *a)
{
	uint32_t v4;
	return (route_addr_v4(a, &v4) && (ntohl(v4) >> 24) == 127) ||
	       (a->family == AF_INET6 && IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)(const void *)a->addr));
}

/* ------------------------------------------------------------------------------------------- decisions */

/* A virtual address: the name behind it decides; only Tor may carry it. */
static enum policy_verdict decide_virtual(const struct route_ctx *ctx, const struct route_caller *who,
					  const struct resolver_addr *a, uint16_t port, char name[TW_NAME_MAX])
{
	const struct tw_config *cfg = ctx->cfg;
	char text[INET6_ADDRSTRLEN], why[sizeof(cfg->broken_reason) + 32];
	if (route_virtual_name(ctx, a, name) != 0) {
		tw_error("%sconnect %s:%u refused: a virtual address this process never handed out", who->prefix,
			 route_addr_text(a, text, sizeof(text)), port);
		name[0] = '\0';
		return POLICY_REFUSE;
	}
	enum policy_verdict v = policy_decide_name(cfg, name, port);
	if (v == POLICY_REFUSE)
		tw_error("%sconnect %s:%u refused by policy%s", who->prefix, name, port,
			 policy_refusal_why(cfg, name, why, sizeof(why)));
	else if (v == POLICY_DIRECT) /* an allowed name that reached us virtual: never to Tor */
		tw_error("%sconnect %s:%u refused: an allowed name behind a virtual address", who->prefix, name, port);
	return v == POLICY_TOR ? POLICY_TOR : POLICY_REFUSE;
}

enum policy_verdict route_decide_addr(const struct route_ctx *ctx, const struct route_caller *who,
				      const struct sockaddr *sa, socklen_t len, char name[TW_NAME_MAX])
{
	const struct tw_config *cfg = ctx->cfg;
	struct resolver_addr a;
	uint16_t port = 0;
	char text[INET6_ADDRSTRLEN], why[sizeof(cfg->broken_reason) + 32];
	name[0] = '\0';
	if (route_sockaddr_split(sa, len, &a, &port) != 0)
		return POLICY_REFUSE;
	uint32_t v4;
	if (route_addr_v4(&a, &v4) && policy_is_virtual_v4(cfg, v4))
		return decide_virtual(ctx, who, &a, port, name);

	struct sockaddr_storage whole; /* a 24-byte sockaddr_in6 made whole: policy reads every field */
	socklen_t wlen = route_sockaddr_make(&a, port, a.family, &whole);
	enum policy_verdict v = policy_decide_addr(cfg, (const struct sockaddr *)&whole, wlen);
	char learned[TW_NAME_MAX];
	if (v != POLICY_REFUSE && vaddr_direct_name(a.family, a.addr, learned) == 0) {
		/* The address came from an allowed name: that name's rules (its ports) decide, and an internal
		 * address is never handed to Tor. */
		enum policy_verdict by_name = policy_decide_name(cfg, learned, port);
		v = (by_name == POLICY_DIRECT || (by_name == POLICY_TOR && v == POLICY_DIRECT)) ? POLICY_DIRECT
											: POLICY_REFUSE;
		if (v == POLICY_REFUSE)
			tw_error("%sconnect %s:%u (%s) refused by policy", who->prefix, learned, port,
				 route_addr_text(&a, text, sizeof(text)));
		return v;
	}
	if (v == POLICY_REFUSE)
		tw_error("%sconnect %s:%u refused by policy%s", who->prefix, route_addr_text(&a, text, sizeof(text)),
			 port, policy_refusal_why(cfg, NULL, why, sizeof(why)));
	return v;
}

/* ----------------------------------------------------------------------------------------------- names */

static void make_virtual(uint32_t v4, int family, struct resolver_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET6) {
		out->family = AF_INET6;
		out->addr[10] = 0xff;
		out->addr[11] = 0xff;
		memcpy(out->addr + 12, &v4, 4);
	} else {
		out->family = AF_INET;
		memcpy(out->addr, &v4, 4);
	}
}

/* An allowed name: resolved here, every address remembered as the name's for connect() to apply its rules. */
static int lookup_direct(const struct route_ctx *ctx, const char *name, int family, struct resolver_addr *out,
			 int max)
{
	const struct tw_config *cfg = ctx->cfg;
	int n = resolver_local_lookup(cfg->resolv_text, cfg->hosts_text, name, family, out, max);
	tw_info("lookup %s: direct, %s", name, n > 0 ? "resolved locally" : strerror(-n));
	for (int i = 0; i < n; i++) {
		if (vaddr_remember_direct(out[i].family, out[i].addr, name) < 0) {
			tw_error("lookup of %s failed: the table of internal addresses is full", name);
			return -EAGAIN;
		}
	}
	return n;
}

/* A name that goes through Tor: from the hosts text (it sends no packet, and an operator's entries there are
 * honoured; never for .onion), else its virtual address (when VIRTUAL: an IPv4 one, v4-mapped for AF_INET6). */
static int lookup_tor(const struct route_ctx *ctx, const char *name, int family, bool virtual,
		      struct resolver_addr *out, int max)
{
	const struct tw_config *cfg = ctx->cfg;
	if (!tw_name_is_onion(name)) {
		int n = resolver_parse_hosts(cfg->hosts_text ? cfg->hosts_text : "", name, family, out, max);
		if (n > 0) {
			tw_info("lookup %s: from hosts file", name);
			return n;
		}
	}
	if (!virtual)
		return -ENOENT;
	uint32_t v4;
	int rc = vaddr_lookup_name(name, &v4);
	if (rc < 0) {
		tw_error("lookup of %s failed: no virtual address (%s)", name, strerror(-rc));
		return rc == -ENOSPC ? -ENOSPC : -EAGAIN;
	}
	make_virtual(v4, family, out);
	if (tw_log_get_level() >= TW_LOG_INFO) {
		char buf[INET6_ADDRSTRLEN];
		tw_info("lookup %s: tor, virtual address %s", name, route_addr_text(out, buf, sizeof(buf)));
	}
	return 1;
}

int route_lookup(const struct route_ctx *ctx, const char *name_in, int family, struct resolver_addr *out, int max)
{
	const struct tw_config *cfg = ctx->cfg;
	char name[TW_NAME_MAX];
	if (max < 1)
		return -ENOSPC;
	if (tw_name_normalize(name_in, name) < 0)
		return -ENOENT; /* not a host name: nothing we could route, and libc must not see it either */

	enum policy_verdict v = policy_decide_name(cfg, name, 0);
	if (v == POLICY_REFUSE) {
		char why[sizeof(cfg->broken_reason) + 32];
		tw_error("lookup of %s refused by policy%s", name, policy_refusal_why(cfg, name, why, sizeof(why)));
		return -EPERM;
	}
	if (v == POLICY_DIRECT)
		return lookup_direct(ctx, name, family, out, max);
	return lookup_tor(ctx, name, family, true, out, max);
}

int route_virtual_name(const struct route_ctx *ctx, const struct resolver_addr *a, char name[TW_NAME_MAX])
{
	uint32_t v4;
	if (!route_addr_v4(a, &v4) || !policy_is_virtual_v4(ctx->cfg, v4))
		return -ENOENT;
	return vaddr_lookup_addr(v4, name) == 0 ? 0 : -ENOENT;
}

/* A PTR query reveals the address to whoever answers: only for internal addresses policy allows. */
static bool reverse_may_ask(const struct route_ctx *ctx, const struct resolver_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = route_sockaddr_make(a, 0, a->family, &ss);
	return !is_loopback(a) && policy_decide_addr(ctx->cfg, (struct sockaddr *)&ss, len) == POLICY_DIRECT;
}

int route_reverse(const struct route_ctx *ctx, const struct resolver_addr *a, char name[TW_NAME_MAX])
{
	const struct tw_config *cfg = ctx->cfg;
	uint32_t v4;
	if (route_addr_v4(a, &v4) && policy_is_virtual_v4(cfg, v4))
		return vaddr_lookup_addr(v4, name) == 0 ? 0 : -ENOENT;
	const char *hosts = cfg->hosts_text ? cfg->hosts_text : "";
	if (reverse_may_ask(ctx, a))
		return resolver_local_reverse(cfg->resolv_text, hosts, a, name) == 0 ? 0 : -ENOENT;
	return resolver_parse_hosts_reverse(hosts, a, name);
}

/* ------------------------------------------------------------------------------------------ DNS answers */

enum { RCODE_OK = 0, RCODE_SERVFAIL = 2, RCODE_NXDOMAIN = 3, RCODE_NOTIMP = 4, RCODE_REFUSED = 5 };

/* A reverse question for the address A: the reply's RDATA length (PTR), 0 with *RCODE (NODATA when RCODE_OK),
 * or ROUTE_DNS_FORWARD for an address the nameservers may be asked about. */
static int answer_reverse(const struct route_ctx *ctx, const struct resolver_addr *a, uint16_t qtype,
			  uint8_t *rdata, size_t rdsize, int *rcode)
{
	char found[TW_NAME_MAX];
	uint32_t v4;
	int rc;
	if (route_addr_v4(a, &v4) && policy_is_virtual_v4(ctx->cfg, v4))
		rc = vaddr_lookup_addr(v4, found) == 0 ? 0 : -ENOENT;
	else if (reverse_may_ask(ctx, a))
		return ROUTE_DNS_FORWARD;
	else
		rc = resolver_parse_hosts_reverse(ctx->cfg->hosts_text ? ctx->cfg->hosts_text : "", a, found);
	if (rc != 0) {
		*rcode = RCODE_NXDOMAIN;
		return 0;
	}
	int w = qtype == RESOLVER_DNS_PTR ? resolver_dns_name_to_wire(found, rdata, rdsize) : 0;
	return w > 0 ? w : 0; /* another type for a known address: NODATA */
}

/* A forward question for NAME: the reply's RDATA length (an A or AAAA record), 0 with *RCODE (NODATA when
 * RCODE_OK), or ROUTE_DNS_FORWARD for an allowed name. */
static int answer_name(const struct route_ctx *ctx, const char *name, struct resolver_dns_question *q,
		       uint8_t *rdata, int *rcode)
{
	const struct tw_config *cfg = ctx->cfg;
	enum policy_verdict v = policy_decide_name(cfg, name, 0);
	if (v == POLICY_DIRECT)
		return ROUTE_DNS_FORWARD;
	if (v == POLICY_REFUSE) {
		char why[sizeof(cfg->broken_reason) + 32];
		tw_error("DNS query for %s refused by policy%s", name, policy_refusal_why(cfg, name, why, sizeof(why)));
		*rcode = RCODE_REFUSED;
		return 0;
	}
	bool a_query = q->qtype == RESOLVER_DNS_A || q->qtype == RESOLVER_DNS_ANY;
	if (q->qclass != 1 || (!a_query && q->qtype != RESOLVER_DNS_AAAA))
		return 0; /* MX, TXT, SRV...: Tor resolves only addresses, at the exit: NODATA */
	int family = a_query ? AF_INET : AF_INET6;
	struct resolver_addr addr;
	/* AAAA only from the hosts text: virtual addresses are IPv4 (NODATA otherwise). */
	int n = lookup_tor(ctx, name, family, a_query, &addr, 1);
	if (n == -ENOENT)
		return 0;
	if (n <= 0) {
		*rcode = RCODE_SERVFAIL;
		return 0;
	}
	if (q->qtype == RESOLVER_DNS_ANY)
		q->qtype = RESOLVER_DNS_A;
	int len = family == AF_INET ? 4 : 16;
	memcpy(rdata, addr.addr, (size_t)len);
	return len;
}

ssize_t route_dns_answer(const struct route_ctx *ctx, const uint8_t *query, size_t len,
			 struct resolver_dns_question *q, uint8_t *out, size_t outlen)
{
	if (resolver_dns_parse_query(query, len, q) != 0 || q->qdcount == 0)
		return ROUTE_DNS_DROP;
	if ((q->flags & 0x7800) != 0) /* not a standard QUERY */
		return resolver_dns_build_reply(q, RCODE_NOTIMP, NULL, 0, out, outlen);
	char name[TW_NAME_MAX];
	if (q->qdcount != 1 || tw_name_normalize(q->name, name) < 0)
		return resolver_dns_build_reply(q, RCODE_REFUSED, NULL, 0, out, outlen);
	uint8_t rdata[TW_NAME_MAX + 2];
	int rcode = RCODE_OK;
	struct resolver_addr a;
	int rdlen = resolver_dns_ptr_addr(name, &a) == 0
			    ? answer_reverse(ctx, &a, q->qtype, rdata, sizeof(rdata), &rcode)
			    : answer_name(ctx, name, q, rdata, &rcode);
	if (rdlen == ROUTE_DNS_FORWARD)
		return ROUTE_DNS_FORWARD;
	return resolver_dns_build_reply(q, rcode, rdlen > 0 ? rdata : NULL, (uint16_t)rdlen, out, outlen);
}


/* ----------------------------------------------------------------------------------------- the proxy */

void route_target(const struct resolver_addr *a, uint16_t port, const char *name, struct socks5_target *t)
{
	memset(t, 0, sizeof(*t));
	t->port = port;
	uint32_t v4;
	if (name && name[0]) {
		t->atyp = 3;
		t->name = name;
	} else if (route_addr_v4(a, &v4)) {
		t->atyp = 1;
		memcpy(t->addr, &v4, 4);
	} else {
		t->atyp = 4;
		memcpy(t->addr, a->addr, 16);
	}
}

int route_proxy_addrs(const struct route_ctx *ctx, int family, struct resolver_addr *out, int max)
{
	const struct tw_config *cfg = ctx->cfg;
	if (max < 1)
		return -ENOSPC;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, cfg->proxy_host, out->addr) == 1) {
		out->family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, cfg->proxy_host, out->addr) == 1) {
		out->family = AF_INET6;
		return 1;
	}
	/* The proxy's name is internal by definition: hosts, then the nameservers, per call. */
	return resolver_local_lookup(cfg->resolv_text, cfg->hosts_text, cfg->proxy_host, family, out, max);
}

/* Where the proxy is, for a socket of DOMAIN. */
static int proxy_sockaddr(const struct route_ctx *ctx, int domain, struct sockaddr_storage *ss, socklen_t *len)
{
	const struct tw_config *cfg = ctx->cfg;
	struct resolver_addr addrs[RESOLVER_MAX_ADDRS];
	/* An IPv4 socket can use only an IPv4 proxy address: ask for that alone, one query per connect. */
	int n = route_proxy_addrs(ctx, domain == AF_INET ? AF_INET : AF_UNSPEC, addrs, RESOLVER_MAX_ADDRS);
	if (n <= 0) {
		tw_error("cannot resolve the proxy's name %s: %s", cfg->proxy_host,
			 n == -ENOENT ? "no such name" : "no answer from the nameserver");
		return -EHOSTUNREACH;
	}
	for (int i = 0; i < n; i++) {
		if (domain == AF_INET6 || addrs[i].family == AF_INET) {
			*len = route_sockaddr_make(&addrs[i], cfg->proxy_port, domain, ss);
			return 0;
		}
	}
	tw_error("the proxy %s has no address of this socket's family", cfg->proxy_host);
	return -EAFNOSUPPORT;
}

int route_connect_until(const struct route_ctx *ctx, int fd, const struct sockaddr *sa, socklen_t len,
			 int64_t deadline)
{
	if (ctx->connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	for (;;) {
		int64_t left = deadline - tw_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int r = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			continue;
		int err = 0;
		socklen_t elen = sizeof(err);
		if (tw_libc()->getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
			return -errno;
		return err ? -err : 0;
	}
}

int route_isolation_token(const struct route_ctx *ctx, const struct route_caller *who, const struct socks5_target *t,
		       char *token, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	if (t->atyp != 3 && !inet_ntop(t->atyp == 1 ? AF_INET : AF_INET6, t->addr, host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	struct policy_stream s = {
		.host = t->atyp == 3 ? t->name : host,
		.port = t->port,
		.pid = who->pid,
		.conn_seq = atomic_fetch_add(ctx->conn_seq, 1) + 1,
		.now_s = (int64_t)time(NULL),
	};
	return policy_isolation_token(ctx->cfg, &s, token, len);
}

/* "ECONNREFUSED" for log lines: the name a program's own message often shows. */
static const char *errno_name(int err)
{
#ifdef __GLIBC__
	const char *n = strerrorname_np(err);
	return n ? n : "?";
#else
	switch (err) { /* musl has no strerrorname_np: the ones a proxied connect reports */
	case ECONNREFUSED: return "ECONNREFUSED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ENETUNREACH: return "ENETUNREACH";
	case ECONNRESET: return "ECONNRESET";
	case ECONNABORTED: return "ECONNABORTED";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EINVAL: return "EINVAL";
	case EPROTO: return "EPROTO";
	default: return "?";
	}
#endif
}

/* The one log line for a proxied connect's outcome. */
void route_log_outcome(const struct route_ctx *ctx, const struct route_caller *who, const char *what, int rc,
		       int code, bool connected, const char *token)
{
	const struct tw_config *cfg = ctx->cfg;
	const char *p = who->prefix;
	if (!connected && rc == -ETIMEDOUT) {
		tw_error("%sconnect %s failed (ETIMEDOUT): the proxy %s:%u did not accept the connection within "
			 "TOR_CONNECTIVITY_TIMEOUT (%d ms); not connecting directly",
			 p, what, cfg->proxy_host, cfg->proxy_port, cfg->timeout_ms);
	} else if (!connected) {
		tw_error("%sconnect %s failed (%s): proxy %s:%u unreachable (%s): is tor running there? Not connecting "
			 "directly",
			 p, what, errno_name(-rc), cfg->proxy_host, cfg->proxy_port, strerror(-rc));
	} else if (rc == 0) {
		tw_info("%sconnect %s: via tor (proxy %s:%u, %s%s)", p, what, cfg->proxy_host, cfg->proxy_port,
			token ? "isolation " : "no isolation", token ? token : "");
	} else if (code >= 0) {
		const char *hint = socks5_reply_hint(code);
		tw_error("%sconnect %s failed (%s): Tor answered \"%s\" (SOCKS reply 0x%02x)%s%s", p, what,
			 errno_name(-rc), socks5_reply_text(code), code, hint ? ": " : "", hint ? hint : "");
	} else if (rc == -ETIMEDOUT) {
		tw_error("%sconnect %s failed (ETIMEDOUT): the proxy %s:%u did not answer the SOCKS handshake within "
			 "TOR_CONNECTIVITY_TIMEOUT (%d ms): Tor may still be bootstrapping",
			 p, what, cfg->proxy_host, cfg->proxy_port, cfg->timeout_ms);
	} else {
		const char *why = socks5_strerror(rc, code);
		tw_error("%sconnect %s failed (%s): SOCKS handshake with %s:%u: %s (is it a SOCKS5 proxy?)", p, what,
			 errno_name(-rc), cfg->proxy_host, cfg->proxy_port, why ? why : strerror(-rc));
	}
}

int route_socks_request(const struct route_ctx *ctx, int fd, const struct socks5_target *target, const char *token,
			int64_t deadline, int *code)
{
	struct socks5_auth auth = { .user = POLICY_SOCKS_USER, .pass = token };
	return socks5_handshake(fd, target, token ? &auth : NULL, deadline, ctx->io, code);
}

/* What both ways to the proxy start with: where it is (PROXY/PLEN) and WHO's isolation token for TARGET
 * (TOKEN, POLICY_TOKEN_MAX bytes); WHAT the target in words. Returns 1 with credentials, 0 without, or a
 * negative errno (logged). */
static int prepare(const struct route_ctx *ctx, const struct route_caller *who, int domain,
		   const struct socks5_target *target, struct sockaddr_storage *proxy, socklen_t *plen, char *token,
		   char *what, size_t whatlen)
{
	const struct tw_config *cfg = ctx->cfg;
	socks5_target_text(target, what, whatlen);
	int rc = proxy_sockaddr(ctx, domain, proxy, plen);
	if (rc < 0) {
		tw_error("%sconnect %s failed (%s): the proxy %s:%u cannot be found; not connecting directly",
			 who->prefix, what, errno_name(-rc), cfg->proxy_host, cfg->proxy_port);
		return rc;
	}
	int with_auth = route_isolation_token(ctx, who, target, token, POLICY_TOKEN_MAX);
	if (with_auth < 0)
		tw_error("%sconnect %s failed: cannot compute the isolation credentials (%s)", who->prefix, what,
			 strerror(-with_auth));
	else if (!with_auth)
		token[0] = '\0';
	return with_auth;
}

int route_proxy_connect(const struct route_ctx *ctx, const struct route_caller *who, int fd, int domain,
			const struct socks5_target *target, struct sockaddr_storage *proxy, socklen_t *plen)
{
	const struct tw_config *cfg = ctx->cfg;
	char what[TW_NAME_MAX + 64], token[POLICY_TOKEN_MAX];
	int with_auth = prepare(ctx, who, domain, target, proxy, plen, token, what, sizeof(what));
	if (with_auth < 0)
		return with_auth;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
		return -errno;
	int64_t deadline = tw_now_ms() + cfg->timeout_ms;
	int code = -1;
	int rc = route_connect_until(ctx, fd, (struct sockaddr *)proxy, *plen, deadline);
	bool connected = rc == 0;
	if (connected)
		rc = route_socks_request(ctx, fd, target, with_auth ? token : NULL, deadline, &code);
	route_log_outcome(ctx, who, what, rc, code, connected, with_auth ? token : NULL);
	if (fcntl(fd, F_SETFL, flags) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

int route_proxy_start(const struct route_ctx *ctx, const struct route_caller *who, int fd, int domain,
		      const struct socks5_target *target, struct sockaddr_storage *proxy, socklen_t *plen,
		      uint8_t *req, size_t *reqlen, char *token)
{
	char what[TW_NAME_MAX + 64];
	int with_auth = prepare(ctx, who, domain, target, proxy, plen, token, what, sizeof(what));
	if (with_auth < 0)
		return with_auth;
	struct socks5_auth auth = { .user = POLICY_SOCKS_USER, .pass = token };
	ssize_t n = socks5_encode_request(target, with_auth ? &auth : NULL, req, SOCKS5_REQUEST_MAX);
	if (n < 0) {
		tw_error("%sconnect %s failed: the SOCKS request cannot be encoded (%s)", who->prefix, what,
			 strerror((int)-n));
		return (int)n;
	}
	*reqlen = (size_t)n;
	if (ctx->connect(fd, (struct sockaddr *)proxy, *plen) == 0)
		return 0;
	int rc = errno == EINPROGRESS ? -EINPROGRESS : -errno;
	if (rc != -EINPROGRESS)
		route_log_outcome(ctx, who, what, rc, -1, false, NULL);
	return rc;
}
