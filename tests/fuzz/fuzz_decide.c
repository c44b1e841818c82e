/* fuzz_decide.c: the differential target. A program reaches a name and an address either through the
 * library's front end (getaddrinfo: route_lookup; getnameinfo: route_reverse; connect on an IPv4 socket) or
 * through the supervisor's (its DNS responder: route_dns_answer; connect on an IPv6 socket, v4-mapped, as Go's
 * dual-stack sockets do). For random names and addresses both must reach the same decision: refused in both,
 * the same address in both, forwarded exactly where the library resolves locally, and a virtual address never
 * connected directly.
 * Input: a name, NUL, then 4 bytes of IPv4 address and 2 of port. */
#include <arpa/inet.h>

#include "route_setup.h"

static const struct route_caller fuzz_who = { .pid = 1, .prefix = "" };

enum { RCODE_SERVFAIL = 2, RCODE_NXDOMAIN = 3, RCODE_REFUSED = 5 };

/* A standard query for NAME of TYPE, ID 0x1234: its length, or 0 when NAME has no wire form. */
static size_t make_query(const char *name, uint16_t type, uint8_t *out, size_t outlen)
{
	static const uint8_t header[12] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	memcpy(out, header, 12);
	int w = resolver_dns_name_to_wire(name, out + 12, outlen - 16);
	if (w <= 0)
		return 0;
	size_t n = 12 + (size_t)w;
	out[n++] = (uint8_t)(type >> 8);
	out[n++] = (uint8_t)type;
	out[n++] = 0;
	out[n++] = 1;
	return n;
}

/* The answer's first RDATA (A or PTR) in REPLY, or NULL; its length in *LEN. Uses the engine's own layout: one
 * question, then answers with a compressed owner name. */
static const uint8_t *first_rdata(const uint8_t *reply, size_t n, const struct resolver_dns_question *q,
				  uint16_t *len)
{
	if ((reply[6] << 8 | reply[7]) == 0 || q->qend + 12 > n)
		return NULL;
	const uint8_t *rr = reply + q->qend;
	*len = (uint16_t)(rr[10] << 8 | rr[11]);
	FUZZ_ASSERT(q->qend + 12 + *len <= n);
	return rr + 12;
}

/* connect() to A:PORT from an IPv4 socket and from an IPv6 socket (v4-mapped): the same verdict and name. */
static enum policy_verdict decide_both(const struct route_ctx *ctx, const struct resolver_addr *a, uint16_t port,
				       char name[TW_NAME_MAX])
{
	struct sockaddr_storage s4, s6;
	socklen_t l4 = route_sockaddr_make(a, port, AF_INET, &s4), l6 = route_sockaddr_make(a, port, AF_INET6, &s6);
	char name6[TW_NAME_MAX];
	enum policy_verdict v4 = route_decide_addr(ctx, &fuzz_who, (struct sockaddr *)&s4, l4, name);
	enum policy_verdict v6 = route_decide_addr(ctx, &fuzz_who, (struct sockaddr *)&s6, l6, name6);
	FUZZ_ASSERT(v4 == v6 && strcmp(name, name6) == 0);
	return v4;
}

static void check_name(const struct route_ctx *ctx, const char *name_in, uint16_t port)
{
	char name[TW_NAME_MAX], query[600];
	uint8_t out[1024];
	struct resolver_addr probe;
	size_t qlen = make_query(name_in, RESOLVER_DNS_A, (uint8_t *)query, sizeof(query));
	if (tw_name_normalize(name_in, name) != 0 || qlen == 0 || resolver_dns_ptr_addr(name, &probe) == 0)
		return;
	struct resolver_dns_question q;
	ssize_t sv = route_dns_answer(ctx, (uint8_t *)query, qlen, &q, out, sizeof(out));
	if (strcmp(q.name, name) != 0)
		return; /* the wire form changed the name (a label with a dot in it): not the same question */
	enum policy_verdict v = policy_decide_name(ctx->cfg, name, 0);
	if (v == POLICY_DIRECT) { /* the library resolves it locally (a query), the responder forwards it */
		FUZZ_ASSERT(sv == ROUTE_DNS_FORWARD);
		return;
	}
	struct resolver_addr a[4];
	int lib = route_lookup(ctx, name_in, 0, AF_INET, a, 4);
	FUZZ_ASSERT(sv > 12);
	int rcode = out[3] & 0x0f;
	if (v == POLICY_REFUSE) {
		FUZZ_ASSERT(lib == -EPERM && rcode == RCODE_REFUSED);
		return;
	}
	if (lib <= 0) {
		FUZZ_ASSERT(lib == -ENOSPC || lib == -EAGAIN);
		FUZZ_ASSERT(rcode == RCODE_SERVFAIL);
		return;
	}
	uint16_t rdlen = 0;
	const uint8_t *rd = first_rdata(out, (size_t)sv, &q, &rdlen);
	FUZZ_ASSERT(rcode == 0 && rd != NULL && rdlen == 4 && memcmp(rd, a[0].addr, 4) == 0);
	char behind[TW_NAME_MAX];
	enum policy_verdict c = decide_both(ctx, &a[0], port, behind);
	uint32_t v4;
	memcpy(&v4, a[0].addr, 4);
	if (policy_is_virtual_v4(ctx->cfg, v4)) { /* through Tor by this very name, or refused: never direct */
		enum policy_verdict want = policy_decide_name(ctx->cfg, name, port) == POLICY_TOR ? POLICY_TOR
												 : POLICY_REFUSE;
		FUZZ_ASSERT(c == want && strcmp(behind, name) == 0);
	}
}

static void check_addr(const struct route_ctx *ctx, const uint8_t addr[4], uint16_t port)
{
	struct resolver_addr a = { .family = AF_INET };
	memcpy(a.addr, addr, 4);
	char name[TW_NAME_MAX], ptr[64];
	enum policy_verdict c = decide_both(ctx, &a, port, name);
	uint32_t v4;
	memcpy(&v4, addr, 4);
	if (policy_is_virtual_v4(ctx->cfg, v4))
		FUZZ_ASSERT(c != POLICY_DIRECT);
	snprintf(ptr, sizeof(ptr), "%u.%u.%u.%u.in-addr.arpa", addr[3], addr[2], addr[1], addr[0]);
	uint8_t query[128], out[1024];
	size_t qlen = make_query(ptr, RESOLVER_DNS_PTR, query, sizeof(query));
	struct resolver_dns_question q;
	ssize_t sv = route_dns_answer(ctx, query, qlen, &q, out, sizeof(out));
	if (sv == ROUTE_DNS_FORWARD) /* an address the library would ask the nameservers about too */
		return;
	char found[TW_NAME_MAX];
	int lib = route_reverse(ctx, &a, found);
	FUZZ_ASSERT(sv > 12);
	if (lib != 0) {
		FUZZ_ASSERT((out[3] & 0x0f) == RCODE_NXDOMAIN);
		return;
	}
	uint8_t wire[TW_NAME_MAX + 2];
	int w = resolver_dns_name_to_wire(found, wire, sizeof(wire));
	uint16_t rdlen = 0;
	const uint8_t *rd = first_rdata(out, (size_t)sv, &q, &rdlen);
	if (w > 0)
		FUZZ_ASSERT(rd != NULL && rdlen == (uint16_t)w && memcmp(rd, wire, (size_t)w) == 0);
}

FUZZ_TARGET(decide)
{
	const struct route_ctx *ctx = fuzz_route();
	const uint8_t *rest;
	size_t rest_len;
	char *name = fuzz_split(data, size, &rest, &rest_len);
	uint16_t port = rest_len >= 6 ? (uint16_t)(rest[4] << 8 | rest[5]) : 443;
	check_name(ctx, name, port);
	if (rest_len >= 4)
		check_addr(ctx, rest, port);
	free(name);
	return 0;
}
