/* route.c: the routing engine (route.h). Decisions, lookups and the proxy connect, for every front end.
 */
#include "route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef SIN6_LEN_RFC2133
#define SIN6_LEN_RFC2133 24
#endif

static bool is_loopback(const struct resolver_addr *a)
{
	uint32_t v4;
	return (route_addr_v4(a, &v4) && (ntohl(v4) >> 24) == 127) ||
	       (a->family == AF_INET6 && IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)(const void *)a->addr));
}

/* ------------------------------------------------------------------------------------------- decisions */

const char *route_dest_text(const struct resolver_addr *a, const char *name, uint16_t port, char *buf, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	if (name && name[0])
		snprintf(buf, len, "%s:%u", name, port);
	else
		snprintf(buf, len, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", route_addr_text(a, text, sizeof(text)),
			 port);
	return buf;
}

int route_learned_name(const struct route_ctx *ctx, const struct resolver_addr *a, char name[TW_NAME_MAX])
{
	return ctx->learned ? ctx->learned->name_of(a->family, a->addr, name) : vaddr_direct_name(a->family, a->addr, name);
}

static int learn(const struct route_ctx *ctx, const struct resolver_addr *a, const char *name)
{
	return ctx->learned ? ctx->learned->remember(a->family, a->addr, name)
			    : vaddr_remember_direct(a->family, a->addr, name);
}

const char *route_direct_dest_text(const struct resolver_addr *a, uint16_t port, char *buf, size_t len)
{
	char learned[TW_NAME_MAX];
	bool known = vaddr_direct_name(a->family, a->addr, learned) == 0;
	return route_dest_text(a, known ? learned : NULL, port, buf, len);
}

const char *route_rule_text(const struct route_ctx *ctx, const struct policy_reason *why, char *buf, size_t len)
{
	return policy_reason_text(ctx->cfg, why, buf, len);
}

/* The one line for a refused connect: DEST_NAME (or the address A) and the words after it, WHY as the rule. */
static void log_connect_refused(const struct route_ctx *ctx, const struct route_caller *who,
				const struct resolver_addr *a, const char *dest_name, uint16_t port,
				const struct policy_reason *why, const char *words)
{
	char text[INET6_ADDRSTRLEN], dest[ROUTE_DEST_MAX], rule[ROUTE_RULE_MAX];
	struct tw_event ev = TW_EVENT("connect", route_dest_text(a, dest_name, port, dest, sizeof(dest)), "refuse",
				      route_rule_text(ctx, why, rule, sizeof(rule)));
	ev.err = EPERM;
	ev.pid = who->pid;
	tw_log_event(TW_LOG_ERROR, ev, "%sconnect %s:%u%s", who->prefix,
		     dest_name && dest_name[0] ? dest_name : route_addr_text(a, text, sizeof(text)), port, words);
}

/* A virtual address: the name behind it decides; only Tor may carry it. */
static enum policy_verdict decide_virtual(const struct route_ctx *ctx, const struct route_caller *who,
					  const struct resolver_addr *a, uint16_t port, char name[TW_NAME_MAX],
					  struct policy_reason *why)
{
	const struct tw_config *cfg = ctx->cfg;
	char words[sizeof(cfg->broken_reason) + 64];
	if (route_virtual_name(ctx, a, name) != 0) {
		*why = (struct policy_reason){ .kind = POLICY_BY_VIRTUAL };
		log_connect_refused(ctx, who, a, NULL, port, why,
				    " refused: a virtual address this process never handed out");
		name[0] = '\0';
		return POLICY_REFUSE;
	}
	enum policy_verdict v = policy_decide_name_why(cfg, name, port, why);
	if (v == POLICY_REFUSE) {
		char extra[sizeof(cfg->broken_reason) + 32];
		snprintf(words, sizeof(words), " refused by policy%s",
			 policy_refusal_why(cfg, name, extra, sizeof(extra)));
		log_connect_refused(ctx, who, a, name, port, why, words);
	} else if (v == POLICY_DIRECT) { /* an allowed name that reached us virtual: never to Tor */
		*why = (struct policy_reason){ .kind = POLICY_BY_VIRTUAL };
		log_connect_refused(ctx, who, a, name, port, why, " refused: an allowed name behind a virtual address");
	}
	return v == POLICY_TOR ? POLICY_TOR : POLICY_REFUSE;
}

/* An address that came from an allowed name LEARNED: that name's rules (its ports) decide, and an internal
 * address is never handed to Tor. V is the address's own verdict. */
static enum policy_verdict decide_learned(const struct route_ctx *ctx, const struct route_caller *who,
					  const struct resolver_addr *a, uint16_t port, const char *learned,
					  enum policy_verdict v, struct policy_reason *why)
{
	char text[INET6_ADDRSTRLEN], words[INET6_ADDRSTRLEN + 32];
	enum policy_verdict by_name = policy_decide_name_why(ctx->cfg, learned, port, why);
	bool own = v == POLICY_DIRECT;
	v = (by_name == POLICY_DIRECT || (by_name == POLICY_TOR && own)) ? POLICY_DIRECT : POLICY_REFUSE;
	why->learned = v == POLICY_DIRECT && !own;
	if (v == POLICY_REFUSE) {
		snprintf(words, sizeof(words), " (%s) refused by policy", route_addr_text(a, text, sizeof(text)));
		log_connect_refused(ctx, who, a, learned, port, why, words);
	}
	return v;
}

enum policy_verdict route_decide_addr_why(const struct route_ctx *ctx, const struct route_caller *who,
					  const struct sockaddr *sa, socklen_t len, char name[TW_NAME_MAX],
					  struct policy_reason *why)
{
	const struct tw_config *cfg = ctx->cfg;
	struct policy_reason unused;
	struct resolver_addr a;
	uint16_t port = 0;
	if (!why)
		why = &unused;
	*why = (struct policy_reason){ .kind = POLICY_BY_MALFORMED };
	name[0] = '\0';
	if (route_sockaddr_split(sa, len, &a, &port) != 0)
		return POLICY_REFUSE;
	uint32_t v4;
	if (route_addr_v4(&a, &v4) && policy_is_virtual_v4(cfg, v4))
		return decide_virtual(ctx, who, &a, port, name, why);

	struct sockaddr_storage whole; /* a 24-byte sockaddr_in6 made whole: policy reads every field */
	socklen_t wlen = route_sockaddr_make(&a, port, a.family, &whole);
	enum policy_verdict v = policy_decide_addr_why(cfg, (const struct sockaddr *)&whole, wlen, why);
	char learned[TW_NAME_MAX];
	if (v != POLICY_REFUSE && route_learned_name(ctx, &a, learned) == 0)
		return decide_learned(ctx, who, &a, port, learned, v, why);
	if (v == POLICY_REFUSE) {
		char words[sizeof(cfg->broken_reason) + 64], extra[sizeof(cfg->broken_reason) + 32];
		snprintf(words, sizeof(words), " refused by policy%s",
			 policy_refusal_why(cfg, NULL, extra, sizeof(extra)));
		log_connect_refused(ctx, who, &a, NULL, port, why, words);
	}
	return v;
}

enum policy_verdict route_decide_addr(const struct route_ctx *ctx, const struct route_caller *who,
				      const struct sockaddr *sa, socklen_t len, char name[TW_NAME_MAX])
{
	return route_decide_addr_why(ctx, who, sa, len, name, NULL);
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

/* An allowed name: resolved here, every address remembered as the name's for connect() to apply its rules.
 * BASE: the lookup's log event (destination, rule). */
static int lookup_direct(const struct route_ctx *ctx, const char *name, int family, struct resolver_addr *out,
			 int max, const struct tw_event *base)
{
	const struct tw_config *cfg = ctx->cfg;
	int n = resolver_local_lookup(cfg->resolv_text, cfg->hosts_text, name, family, out, max);
	struct tw_event ev = *base;
	ev.verdict = "direct";
	ev.err = n > 0 ? 0 : -n;
	tw_log_event(TW_LOG_INFO, ev, "lookup %s: direct, %s", name, n > 0 ? "resolved locally" : strerror(-n));
	for (int i = 0; i < n; i++) {
		if (learn(ctx, &out[i], name) < 0) {
			ev.err = EAGAIN;
			tw_log_event(TW_LOG_ERROR, ev, "lookup of %s failed: the table of internal addresses is full",
				     name);
			return -EAGAIN;
		}
	}
	return n;
}

/* Where the supervisor's responder is asked: port 53 anywhere is DNS, and its socket is redirected there. */
#define SUPERVISOR_NS "nameserver 127.0.0.1\n"

/* NAME's virtual address as the supervisor's responder hands it out (torwrap --strict): asked once through
 * the nameservers (the supervisor answers their sockets), then remembered in this tree's map. */
static int ask_virtual(const struct route_ctx *ctx, const char *name, uint32_t *v4)
{
	if (vaddr_find_name(name, v4) == 0)
		return 0;
	struct resolver_addr a;
	int n = resolver_local_lookup(SUPERVISOR_NS, "", name, AF_INET, &a, 1);
	if (n < 1)
		return n < 0 ? n : -ENOENT;
	if (!route_addr_v4(&a, v4) || !policy_is_virtual_v4(ctx->cfg, *v4))
		return -EPROTO; /* not the supervisor's answer: nothing here may treat it as the name's */
	return vaddr_learn(name, *v4);
}

/* A name that goes through Tor: from the hosts text (it sends no packet, and an operator's entries there are
 * honoured; never for .onion), else its virtual address (when VIRTUAL: an IPv4 one, v4-mapped for AF_INET6).
 * BASE: the lookup's log event (destination, rule). */
static int lookup_tor(const struct route_ctx *ctx, const char *name, int family, bool virtual,
		      struct resolver_addr *out, int max, const struct tw_event *base)
{
	const struct tw_config *cfg = ctx->cfg;
	struct tw_event ev = *base;
	ev.verdict = "tor";
	if (!tw_name_is_onion(name)) {
		int n = resolver_parse_hosts(cfg->hosts_text ? cfg->hosts_text : "", name, family, out, max);
		if (n > 0) {
			tw_log_event(TW_LOG_INFO, ev, "lookup %s: from hosts file", name);
			return n;
		}
	}
	if (!virtual)
		return -ENOENT;
	uint32_t v4;
	int rc = ctx->ask_virtual ? ask_virtual(ctx, name, &v4) : vaddr_lookup_name(name, &v4);
	if (rc < 0) {
		ev.err = -rc;
		tw_log_event(TW_LOG_ERROR, ev, "lookup of %s failed: no virtual address (%s)", name, strerror(-rc));
		return rc == -ENOSPC ? -ENOSPC : -EAGAIN;
	}
	make_virtual(v4, family, out);
	if (tw_log_event_level() >= TW_LOG_INFO) {
		char buf[INET6_ADDRSTRLEN];
		tw_log_event(TW_LOG_INFO, ev, "lookup %s: tor, virtual address %s", name,
			     route_addr_text(out, buf, sizeof(buf)));
	}
	return 1;
}

/* The words after "refused" in the log line for NAME, refused for WHY. */
static const char *refused_because(const struct tw_config *cfg, const char *name, const struct policy_reason *why,
				   char *buf, size_t len)
{
	if (why->kind != POLICY_BY_INTERNAL) {
		char extra[sizeof(cfg->broken_reason) + 32];
		snprintf(buf, len, " by policy%s", policy_refusal_why(cfg, name, extra, sizeof(extra)));
		return buf;
	}
	char kind[48];
	if (why->suffix)
		snprintf(kind, sizeof(kind), "a .%s name", why->suffix);
	else
		snprintf(kind, sizeof(kind), "a single-label name");
	snprintf(buf, len,
		 ": not in the policy: add it to %s to reach it directly (%s cannot exist on the Internet: it is "
		 "not sent to Tor; TORWRAP_INTERNAL_NAMES=tor would send it)",
		 cfg->policy_file, kind);
	return buf;
}

/* A name refused as internal may still be in the hosts file (a container's own name is): answered from there,
 * it sends nothing anywhere. */
static int lookup_internal(const struct route_ctx *ctx, const char *name, int family, struct resolver_addr *out,
			   int max, const char *dest)
{
	const char *hosts = ctx->cfg->hosts_text ? ctx->cfg->hosts_text : "";
	int n = resolver_parse_hosts(hosts, name, family, out, max);
	if (n > 0) /* no verdict: nothing is sent anywhere */
		tw_log_event(TW_LOG_INFO, TW_EVENT("lookup", dest, NULL, "built-in internal-name"),
			     "lookup %s: from hosts file (an internal name)", name);
	return n > 0 ? n : -EPERM;
}

int route_lookup(const struct route_ctx *ctx, const char *name_in, uint16_t port, int family,
		 struct resolver_addr *out, int max)
{
	const struct tw_config *cfg = ctx->cfg;
	char name[TW_NAME_MAX];
	if (max < 1)
		return -ENOSPC;
	if (tw_name_normalize(name_in, name) < 0)
		return -ENOENT; /* not a host name: nothing we could route, and libc must not see it either */

	struct policy_reason why;
	enum policy_verdict v = policy_decide_name_why(cfg, name, 0, &why);
	char rule[ROUTE_RULE_MAX], dest[TW_NAME_MAX + 8];
	route_rule_text(ctx, &why, rule, sizeof(rule));
	if (port)
		snprintf(dest, sizeof(dest), "%s:%u", name, port);
	else
		snprintf(dest, sizeof(dest), "%s", name);
	struct tw_event ev = TW_EVENT("lookup", dest, "refuse", rule);
	if (v == POLICY_REFUSE) {
		int n = why.kind == POLICY_BY_INTERNAL ? lookup_internal(ctx, name, family, out, max, dest) : -EPERM;
		char words[sizeof(cfg->broken_reason) + sizeof(cfg->policy_file) + 160];
		ev.err = EPERM;
		if (n < 0)
			tw_log_event(TW_LOG_ERROR, ev, "lookup of %s refused%s", name,
				     refused_because(cfg, name, &why, words, sizeof(words)));
		return n;
	}
	if (v == POLICY_DIRECT)
		return lookup_direct(ctx, name, family, out, max, &ev);
	return lookup_tor(ctx, name, family, true, out, max, &ev);
}

int route_virtual_name(const struct route_ctx *ctx, const struct resolver_addr *a, char name[TW_NAME_MAX])
{
	uint32_t v4;
	if (!route_addr_v4(a, &v4) || !policy_is_virtual_v4(ctx->cfg, v4))
		return -ENOENT;
	if (vaddr_lookup_addr(v4, name) == 0)
		return 0;
	/* Under --strict an address another process of the tree was given: the responder knows its name. */
	struct resolver_addr plain = { .family = AF_INET };
	memcpy(plain.addr, &v4, 4);
	if (!ctx->ask_virtual || resolver_local_reverse(SUPERVISOR_NS, "", &plain, name) != 0)
		return -ENOENT;
	return vaddr_learn(name, v4) == 0 ? 0 : -ENOENT;
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
	struct policy_reason why;
	enum policy_verdict v = policy_decide_name_why(cfg, name, 0, &why);
	if (v == POLICY_DIRECT)
		return ROUTE_DNS_FORWARD;
	bool a_query = q->qtype == RESOLVER_DNS_A || q->qtype == RESOLVER_DNS_ANY;
	bool addr_query = q->qclass == 1 && (a_query || q->qtype == RESOLVER_DNS_AAAA);
	int family = a_query ? AF_INET : AF_INET6;
	struct resolver_addr addr;
	int n = -ENOENT;
	if (v == POLICY_REFUSE && why.kind == POLICY_BY_INTERNAL && addr_query)
		n = lookup_internal(ctx, name, family, &addr, 1, name);
	char rule[ROUTE_RULE_MAX];
	route_rule_text(ctx, &why, rule, sizeof(rule));
	if (v == POLICY_REFUSE && n < 0) {
		char words[sizeof(cfg->broken_reason) + sizeof(cfg->policy_file) + 160];
		tw_log_event(TW_LOG_ERROR, TW_EVENT("dns", name, "refuse", rule), "DNS query for %s refused%s", name,
			     refused_because(cfg, name, &why, words, sizeof(words)));
		*rcode = RCODE_REFUSED;
		return 0;
	}
	if (!addr_query)
		return 0; /* MX, TXT, SRV...: Tor resolves only addresses, at the exit: NODATA */
	/* AAAA only from the hosts text: virtual addresses are IPv4 (NODATA otherwise). */
	if (v != POLICY_REFUSE)
		n = lookup_tor(ctx, name, family, a_query, &addr, 1, &TW_EVENT("lookup", name, NULL, rule));
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

bool route_dns_may_forward(const struct route_ctx *ctx, const struct resolver_dns_question *q, char *why,
			   size_t whylen)
{
	char name[TW_NAME_MAX];
	struct resolver_addr a;
	uint32_t v4;
	if ((q->flags & 0x7800) != 0 || q->qdcount != 1) {
		snprintf(why, whylen, "not a standard query of one question");
		return false;
	}
	if (q->name[0] == '\0')
		return true; /* the root: priming queries reveal nothing */
	if (tw_name_normalize(q->name, name) < 0) {
		snprintf(why, whylen, "a query for something that is not a host name");
		return false;
	}
	if (resolver_dns_ptr_addr(name, &a) == 0) {
		if (!(route_addr_v4(&a, &v4) && policy_is_virtual_v4(ctx->cfg, v4)) && reverse_may_ask(ctx, &a))
			return true;
		snprintf(why, whylen, "a reverse lookup of an address policy does not let out (%s)", name);
		return false;
	}
	if (policy_decide_name(ctx->cfg, name, 0) == POLICY_DIRECT)
		return true;
	snprintf(why, whylen, "a query for %s, which is not allowed: it would be resolved outside Tor", name);
	return false;
}

ssize_t route_dns_answer(const struct route_ctx *ctx, const uint8_t *query, size_t len,
			 struct resolver_dns_question *q, uint8_t *out, size_t outlen)
{
	if (resolver_dns_parse_query(query, len, q) != 0 || q->qdcount == 0)
		return ROUTE_DNS_DROP;
	if ((q->flags & 0x7800) != 0) /* not a standard QUERY */
		return resolver_dns_build_reply(q, RCODE_NOTIMP, NULL, 0, out, outlen);
	char name[TW_NAME_MAX], why[TW_NAME_MAX + 96];
	if (q->qdcount == 1 && route_dns_may_forward(ctx, q, why, sizeof(why)))
		return ROUTE_DNS_FORWARD;
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
	ssize_t n = resolver_dns_build_reply(q, rcode, rdlen > 0 ? rdata : NULL, (uint16_t)rdlen, out, outlen);
	if (n >= 12) /* nothing sent: the lookup (or the refusal) was logged with its verdict */
		tw_log_event(TW_LOG_INFO, TW_EVENT("dns", q->name, rcode == RCODE_REFUSED ? "refuse" : NULL, NULL),
			     "DNS query %s answered by torwrap (nothing sent)", q->name);
	return n;
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

/* ------------------------------------------------------------------------------ the proxies' instances */

/* One proxy's addresses: its literal, or its name resolved now (hosts, then the nameservers: internal by
 * definition), of FAMILY. The count or a negative errno. */
static int proxy_addrs(const struct tw_config *cfg, const struct policy_proxy *px, int family,
		       struct resolver_addr *out, int max)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, px->host, out->addr) == 1) {
		out->family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, px->host, out->addr) == 1) {
		out->family = AF_INET6;
		return 1;
	}
	return resolver_local_lookup(cfg->resolv_text, cfg->hosts_text, px->host, family, out, max);
}

/* The address an instance is known by: a v4-mapped address is its IPv4 address (a v6 socket's sockaddr). */
static void canonical(struct resolver_addr *a)
{
	uint32_t v4;
	if (a->family == AF_INET6 && route_addr_v4(a, &v4)) {
		memset(a, 0, sizeof(*a));
		a->family = AF_INET;
		memcpy(a->addr, &v4, 4);
	}
}

static bool instance_listed(const struct route_instance *list, int n, const struct route_instance *in)
{
	for (int i = 0; i < n; i++)
		if (list[i].port == in->port && list[i].addr.family == in->addr.family &&
		    memcmp(list[i].addr.addr, in->addr.addr, 16) == 0)
			return true;
	return false;
}

/* Appends PX's addresses usable by a socket of DOMAIN to OUT (N so far), without duplicates. The new count,
 * or a negative errno when PX has none. */
static int add_instances(const struct route_ctx *ctx, const struct policy_proxy *px, int domain,
			 struct route_instance *out, int n, int max)
{
	struct resolver_addr addrs[RESOLVER_MAX_ADDRS];
	/* An IPv4 socket can use only an IPv4 proxy address: ask for that alone, one query per proxy. */
	int k = proxy_addrs(ctx->cfg, px, domain == AF_INET ? AF_INET : AF_UNSPEC, addrs, RESOLVER_MAX_ADDRS);
	if (k <= 0)
		return k < 0 ? k : -ENOENT;
	int before = n;
	for (int j = 0; j < k && n < max; j++) {
		struct route_instance in = { .addr = addrs[j], .port = px->port };
		canonical(&in.addr);
		if (domain == AF_INET && in.addr.family != AF_INET)
			continue;
		if (!instance_listed(out, n, &in))
			out[n++] = in;
	}
	return n > before ? n : -EAFNOSUPPORT;
}

int route_proxy_instances(const struct route_ctx *ctx, int domain, struct route_instance *out, int max)
{
	const struct tw_config *cfg = ctx->cfg;
	int n = 0, err = -ENOENT;
	for (unsigned i = 0; i < cfg->nproxy && n < max; i++) {
		int rc = add_instances(ctx, &cfg->proxy[i], domain, out, n, max);
		if (rc > 0)
			n = rc;
		else if (err == -ENOENT || rc == -EAFNOSUPPORT)
			err = rc; /* "no answer" or "wrong family" says more than "no such name" */
	}
	return n > 0 ? n : err;
}

const char *route_instance_text(const struct route_instance *in, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	route_addr_text(&in->addr, a, sizeof(a));
	snprintf(buf, len, in->addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, in->port);
	return buf;
}

/* -------------------------------------------------------------------------- choosing an instance (HRW) */

/* splitmix64's finaliser: every input bit moves every output bit. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

#define FNV_OFFSET 0xcbf29ce484222325ull

static uint64_t instance_id(const struct route_instance *in)
{
	uint64_t h = fnv1a(FNV_OFFSET, in->addr.addr, 16);
	h = fnv1a(h, &in->port, sizeof(in->port));
	return mix64(h ^ (uint64_t)in->addr.family) | 1; /* never 0: 0 is an empty slot below */
}

/* Instances that failed lately, remembered for ROUTE_DOWN_MS so that the streams that would go there go to
 * their next choice at once, instead of each waiting for the refusal (or the timeout) again. Lock-free, a slot
 * per instance by its id: a lost race only makes one more stream try the instance, which then fails over. */
#define ROUTE_DOWN_SLOTS 64
#define ROUTE_DOWN_MS 2000
static _Atomic uint64_t down_id[ROUTE_DOWN_SLOTS];
static _Atomic int64_t down_until[ROUTE_DOWN_SLOTS];

static void mark(const struct route_instance *in, bool down)
{
	uint64_t id = instance_id(in);
	unsigned s = (unsigned)(id % ROUTE_DOWN_SLOTS);
	if (down) {
		atomic_store(&down_until[s], tw_now_ms() + ROUTE_DOWN_MS);
		atomic_store(&down_id[s], id);
	} else if (atomic_load(&down_id[s]) == id && atomic_load(&down_until[s]) != 0) {
		atomic_store(&down_until[s], 0);
	}
}

static bool is_down(const struct route_instance *in, int64_t now)
{
	uint64_t id = instance_id(in);
	unsigned s = (unsigned)(id % ROUTE_DOWN_SLOTS);
	return atomic_load(&down_id[s]) == id && atomic_load(&down_until[s]) > now;
}

void route_instances_order(struct route_instance *in, int n, uint64_t key)
{
	uint64_t score[ROUTE_MAX_INSTANCES];
	bool down[ROUTE_MAX_INSTANCES];
	int64_t now = tw_now_ms();
	n = n > ROUTE_MAX_INSTANCES ? ROUTE_MAX_INSTANCES : n;
	for (int i = 0; i < n; i++) {
		score[i] = mix64(key ^ instance_id(&in[i]));
		down[i] = is_down(&in[i], now);
	}
	/* Highest score first (rendezvous hashing: losing an instance moves only the keys it had), the ones
	 * that failed lately last. Insertion sort: a handful of instances. */
	for (int i = 1; i < n; i++) {
		struct route_instance t = in[i];
		uint64_t ts = score[i];
		bool td = down[i];
		int j = i;
		for (; j > 0 && (down[j - 1] > td || (down[j - 1] == td && score[j - 1] < ts)); j--) {
			in[j] = in[j - 1];
			score[j] = score[j - 1];
			down[j] = down[j - 1];
		}
		in[j] = t;
		score[j] = ts;
		down[j] = td;
	}
}

uint64_t route_stream_key(const char *token, uint64_t conn)
{
	if (token && token[0])
		return mix64(fnv1a(FNV_OFFSET, token, strlen(token)));
	return mix64(conn ^ 0x9e3779b97f4a7c15ull);
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
	const char *n = tw_errno_name(err);
	return n ? n : "?";
}

/* " at 127.0.0.1:9050": the instance a log line is about, when PROXY is known ("" otherwise); the instance
 * alone in INST (INET6_ADDRSTRLEN + 16 bytes, "" when unknown). */
static const char *instance_words(const struct sockaddr_storage *proxy, char *buf, size_t len, char *inst)
{
	struct route_instance in = { 0 };
	buf[0] = inst[0] = '\0';
	if (proxy != NULL &&
	    route_sockaddr_split((const struct sockaddr *)proxy, sizeof(*proxy), &in.addr, &in.port) == 0) {
		canonical(&in.addr);
		snprintf(buf, len, " at %s", route_instance_text(&in, inst, INET6_ADDRSTRLEN + 16));
	}
	return buf;
}

/* The log's "proxy" event for WHAT through PROXY (an instance, or the configured list), failed with RC < 0. */
static struct tw_event proxy_event(const struct route_caller *who, const char *what, const char *proxy, int rc)
{
	struct tw_event ev = TW_EVENT("proxy", what, "tor", NULL);
	ev.proxy = proxy;
	ev.err = rc < 0 ? -rc : 0;
	ev.pid = who->pid;
	return ev;
}

/* The one log line for a proxied connect's outcome. */
void route_log_outcome(const struct route_ctx *ctx, const struct route_caller *who, const char *what, int rc,
		       int code, bool connected, const char *token, const struct sockaddr_storage *proxy)
{
	const struct tw_config *cfg = ctx->cfg;
	const char *p = who->prefix, *px = cfg->proxy_list;
	char at[INET6_ADDRSTRLEN + 24], inst[INET6_ADDRSTRLEN + 16];
	instance_words(proxy, at, sizeof(at), inst);
	struct tw_event ev = proxy_event(who, what, inst[0] ? inst : px, rc);
	ev.tor_reply = connected && code >= 0 ? code : -1;
	if (!connected && rc == -ETIMEDOUT) {
		tw_log_event(TW_LOG_ERROR, ev,
			     "%sconnect %s failed (ETIMEDOUT): the proxy %s%s did not accept the connection within "
			     "TOR_CONNECTIVITY_TIMEOUT (%d ms); not connecting directly",
			     p, what, px, at, cfg->timeout_ms);
	} else if (!connected) {
		tw_log_event(TW_LOG_ERROR, ev,
			     "%sconnect %s failed (%s): proxy %s unreachable%s (%s): is tor running there? Not connecting "
			     "directly",
			     p, what, errno_name(-rc), px, at, strerror(-rc));
	} else if (rc == 0) {
		tw_log_event(TW_LOG_INFO, ev, "%sconnect %s: via tor (proxy %s%s, %s%s)", p, what, px, at,
			     token ? "isolation " : "no isolation", token ? token : "");
	} else if (code == SOCKS5_REP_SUCCEEDED) {
		/* A success code, and yet a failure: what followed the code could not be read (the parser's only
		 * failure after a success is an address type it does not know). Not "Tor answered succeeded". */
		tw_log_event(TW_LOG_ERROR, ev,
			     "%sconnect %s failed (%s): the proxy %s%s sent a malformed reply: a success code (SOCKS reply "
			     "0x00) with an address type that is not SOCKS5's (is it a SOCKS5 proxy?); not connecting "
			     "directly",
			     p, what, errno_name(-rc), px, at);
	} else if (code >= 0) {
		const char *hint = socks5_reply_hint(code);
		tw_log_event(TW_LOG_ERROR, ev, "%sconnect %s failed (%s): Tor answered \"%s\" (SOCKS reply 0x%02x)%s%s", p,
			     what, errno_name(-rc), socks5_reply_text(code), code, hint ? ": " : "", hint ? hint : "");
	} else if (rc == -ETIMEDOUT) {
		char after[32];
		if (cfg->timeout_ms % 1000 == 0)
			snprintf(after, sizeof(after), "%d s", cfg->timeout_ms / 1000);
		else
			snprintf(after, sizeof(after), "%d ms", cfg->timeout_ms);
		tw_log_event(TW_LOG_ERROR, ev,
			     "%sconnect %s failed (ETIMEDOUT): timed out after %s waiting for Tor's reply: the proxy %s%s "
			     "accepted the connection but did not answer within TOR_CONNECTIVITY_TIMEOUT: Tor may still be "
			     "bootstrapping, or the proxy is stuck; not connecting directly",
			     p, what, after, px, at);
	} else {
		const char *why = socks5_strerror(rc, code);
		tw_log_event(TW_LOG_ERROR, ev,
			     "%sconnect %s failed (%s): SOCKS handshake with %s%s: %s (is it a SOCKS5 proxy?)", p, what,
			     errno_name(-rc), px, at, why ? why : strerror(-rc));
	}
}

/* No instance accepted the connection: one line naming each and its error. RC the connect's error. */
static void log_all_down(const struct route_ctx *ctx, const struct route_caller *who, const char *what, int rc,
			 const struct route_attempt *at)
{
	const struct tw_config *cfg = ctx->cfg;
	int tried = 0;
	char text[ROUTE_MAX_INSTANCES * (INET6_ADDRSTRLEN + 32)] = "";
	for (int i = 0; i < at->n; i++) {
		char inst[INET6_ADDRSTRLEN + 16];
		size_t off = strlen(text);
		if (at->err[i] == 0)
			continue;
		snprintf(text + off, sizeof(text) - off, "%s%s %s", tried++ ? ", " : "",
			 route_instance_text(&at->in[i], inst, sizeof(inst)), errno_name(-at->err[i]));
	}
	if (tried <= 1) {
		route_log_outcome(ctx, who, what, rc, -1, false, NULL, NULL);
		return;
	}
	tw_log_event(TW_LOG_ERROR, proxy_event(who, what, cfg->proxy_list, rc),
		     "%sconnect %s failed (%s): proxy %s unreachable: every instance refused or did not answer within "
		 "TOR_CONNECTIVITY_TIMEOUT (%d ms) (%s): is tor running there? Not connecting directly",
		 who->prefix, what, errno_name(-rc), cfg->proxy_list, cfg->timeout_ms, text);
}

/* Errors that say the instance is not there (another one may be); anything else is about the socket. */
static bool instance_fault(int err)
{
	switch (-err) {
	case ECONNREFUSED: case ETIMEDOUT: case EHOSTUNREACH: case ENETUNREACH: case EHOSTDOWN: case ENETDOWN:
	case ECONNRESET: case ECONNABORTED: case EADDRNOTAVAIL:
		return true;
	default:
		return false;
	}
}

/* Dissolves a failed connection attempt (an AF_UNSPEC connect), so the socket can connect again. */
static void disconnect(const struct route_ctx *ctx, int fd)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };
	ctx->connect(fd, &sa, sizeof(sa));
}

/* Connects FD (non-blocking) to the first of AT's instances from AT->cur on that accepts, each given an equal
 * share of what is left until DEADLINE; with WAIT false the first connect in progress is taken (-EINPROGRESS)
 * and only immediate failures move on. The instance's address goes to AT->proxy. Returns 0, -EINPROGRESS, or a
 * negative errno, AT->err saying what each instance answered. */
static int connect_any(const struct route_ctx *ctx, int fd, struct route_attempt *at, int64_t deadline, bool wait)
{
	int rc = -ETIMEDOUT;
	for (; at->cur < at->n; at->cur++) {
		const struct route_instance *in = &at->in[at->cur];
		int64_t now = tw_now_ms();
		if (wait && now >= deadline)
			break;
		if (at->cur > 0)
			disconnect(ctx, fd);
		at->plen = route_sockaddr_make(&in->addr, in->port, at->domain, &at->proxy);
		const struct sockaddr *sa = (const struct sockaddr *)&at->proxy;
		if (wait)
			rc = route_connect_until(ctx, fd, sa, at->plen, now + (deadline - now) / (at->n - at->cur));
		else
			rc = ctx->connect(fd, sa, at->plen) == 0 ? 0 : -errno;
		if (rc == 0 || rc == -EINPROGRESS) {
			if (rc == 0)
				mark(in, false);
			return rc;
		}
		if (!instance_fault(rc))
			return rc;
		mark(in, true);
		at->err[at->cur] = rc;
	}
	return rc;
}

int route_socks_request(const struct route_ctx *ctx, int fd, const struct socks5_target *target, const char *token,
			int64_t deadline, int *code)
{
	struct socks5_auth auth = { .user = POLICY_SOCKS_USER, .pass = token };
	return socks5_handshake(fd, target, token ? &auth : NULL, deadline, ctx->io, code);
}

/* What both ways to the proxy start with: AT, the instances in the order this stream tries them, and WHO's
 * isolation token for TARGET (TOKEN, POLICY_TOKEN_MAX bytes); WHAT the target in words. Returns 1 with
 * credentials, 0 without, or a negative errno (logged). */
static int prepare(const struct route_ctx *ctx, const struct route_caller *who, int domain,
		   const struct socks5_target *target, struct route_attempt *at, char *token, char *what, size_t whatlen)
{
	const struct tw_config *cfg = ctx->cfg;
	socks5_target_text(target, what, whatlen);
	memset(at, 0, sizeof(*at));
	at->domain = domain;
	int n = route_proxy_instances(ctx, domain, at->in, ROUTE_MAX_INSTANCES);
	if (n <= 0) {
		int rc = n == -EAFNOSUPPORT ? -EAFNOSUPPORT : -EHOSTUNREACH;
		tw_log_event(TW_LOG_ERROR, proxy_event(who, what, cfg->proxy_list, rc),
			     "%sconnect %s failed (%s): the proxy %s cannot be found (%s); not connecting directly",
			     who->prefix, what, errno_name(-rc), cfg->proxy_list,
			 n == -ENOENT ? "no such name"
			 : n == -EAFNOSUPPORT ? "no address of this socket's family"
					      : "no answer from the nameserver");
		return rc;
	}
	at->n = n;
	int with_auth = route_isolation_token(ctx, who, target, token, POLICY_TOKEN_MAX);
	if (with_auth < 0) {
		tw_log_event(TW_LOG_ERROR, proxy_event(who, what, cfg->proxy_list, with_auth),
			     "%sconnect %s failed: cannot compute the isolation credentials (%s)", who->prefix, what,
			 strerror(-with_auth));
		return with_auth;
	}
	if (!with_auth)
		token[0] = '\0';
	/* The same token, the same instance (its circuits); without one, each connection a key of its own. */
	route_instances_order(at->in, n, route_stream_key(token, atomic_load(ctx->conn_seq)));
	return with_auth;
}

int route_proxy_connect(const struct route_ctx *ctx, const struct route_caller *who, int fd, int domain,
			const struct socks5_target *target, struct sockaddr_storage *proxy, socklen_t *plen)
{
	const struct tw_config *cfg = ctx->cfg;
	char what[TW_NAME_MAX + 64], token[POLICY_TOKEN_MAX];
	struct route_attempt at;
	int with_auth = prepare(ctx, who, domain, target, &at, token, what, sizeof(what));
	if (with_auth < 0)
		return with_auth;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
		return -errno;
	int64_t deadline = tw_now_ms() + cfg->timeout_ms;
	int rc = connect_any(ctx, fd, &at, deadline, true);
	if (rc < 0) {
		log_all_down(ctx, who, what, rc, &at);
	} else {
		int code = -1;
		rc = route_socks_request(ctx, fd, target, with_auth ? token : NULL, deadline, &code);
		/* A timeout names the instance that accepted and went silent, even when it was the only one. */
		route_log_outcome(ctx, who, what, rc, code, true, with_auth ? token : NULL,
				  at.n > 1 || rc == -ETIMEDOUT ? &at.proxy : NULL);
	}
	*proxy = at.proxy;
	*plen = at.plen;
	if (fcntl(fd, F_SETFL, flags) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

int route_proxy_start(const struct route_ctx *ctx, const struct route_caller *who, int fd, int domain,
		      const struct socks5_target *target, int64_t deadline, struct route_attempt *at, uint8_t *req,
		      size_t *reqlen, char *token)
{
	char what[TW_NAME_MAX + 64];
	int with_auth = prepare(ctx, who, domain, target, at, token, what, sizeof(what));
	if (with_auth < 0)
		return with_auth;
	struct socks5_auth auth = { .user = POLICY_SOCKS_USER, .pass = token };
	ssize_t len = socks5_encode_request(target, with_auth ? &auth : NULL, req, SOCKS5_REQUEST_MAX);
	if (len < 0) {
		tw_log_event(TW_LOG_ERROR, proxy_event(who, what, ctx->cfg->proxy_list, (int)len),
			     "%sconnect %s failed: the SOCKS request cannot be encoded (%s)", who->prefix, what,
			 strerror((int)-len));
		return (int)len;
	}
	*reqlen = (size_t)len;
	int rc = connect_any(ctx, fd, at, deadline, deadline != 0);
	if (rc < 0 && rc != -EINPROGRESS)
		log_all_down(ctx, who, what, rc, at);
	return rc;
}

int route_proxy_give_up(const struct route_ctx *ctx, const struct route_caller *who, const char *what,
			struct route_attempt *at, int err)
{
	if (at->cur < at->n && instance_fault(err)) {
		mark(&at->in[at->cur], true);
		at->err[at->cur] = err;
	}
	log_all_down(ctx, who, what, err, at);
	return err;
}

int route_proxy_retry(const struct route_ctx *ctx, const struct route_caller *who, const char *what, int fd,
		      struct route_attempt *at, int err)
{
	if (at->cur >= at->n || !instance_fault(err) || at->cur + 1 >= at->n)
		return route_proxy_give_up(ctx, who, what, at, err);
	mark(&at->in[at->cur], true);
	at->err[at->cur++] = err;
	int rc = connect_any(ctx, fd, at, 0, false);
	if (rc < 0 && rc != -EINPROGRESS)
		log_all_down(ctx, who, what, rc, at);
	return rc;
}
