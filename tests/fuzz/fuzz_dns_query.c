/* fuzz_dns_query.c: a program's own DNS query, as the DNS guard and the responders read it
 * (resolver_dns_parse_query), and the reply torwrap writes to it: a reply built for a question must be read
 * back as a reply to that same question (resolver_dns_reply_answers). */
#include "../../resolver/resolver.h"
#include "fuzz.h"

FUZZ_TARGET(dns_query)
{
	struct resolver_dns_question q;
	if (resolver_dns_parse_query(data, size, &q) != 0)
		return 0;
	FUZZ_ASSERT(memchr(q.name, 0, sizeof(q.name)) != NULL);
	if (q.qdcount == 0)
		return 0;
	FUZZ_ASSERT(q.qend <= size);
	static uint8_t out[1024];
	uint8_t rdata[4] = { 127, 192, 0, 1 };
	ssize_t n = resolver_dns_build_reply(&q, 0, rdata, sizeof(rdata), out, sizeof(out));
	if (n > 0) {
		FUZZ_ASSERT((size_t)n <= sizeof(out));
		FUZZ_ASSERT(resolver_dns_reply_answers(out, (size_t)n, &q));
		struct resolver_addr a[2];
		int k = resolver_dns_reply_addrs(out, (size_t)n, a, 2);
		FUZZ_ASSERT(k == (q.qtype == RESOLVER_DNS_A && q.qclass == 1 ? 1 : 0));
	}
	/* Rebuilt for a nameserver: a query for the same question, and nothing of the input past it. */
	static uint8_t rebuilt[300];
	ssize_t r = resolver_dns_rebuild_query(data, size, 0x4242, rebuilt, sizeof(rebuilt));
	if (r > 0) {
		struct resolver_dns_question back;
		FUZZ_ASSERT(q.qdcount == 1 && (q.flags & 0x7800) == 0);
		FUZZ_ASSERT(resolver_dns_parse_query(rebuilt, (size_t)r, &back) == 0 && back.qdcount == 1);
		FUZZ_ASSERT(strcmp(back.name, q.name) == 0 && back.qtype == q.qtype && back.qclass == q.qclass);
		FUZZ_ASSERT((size_t)r == back.qend || (size_t)r == back.qend + 11);
		FUZZ_ASSERT(rebuilt[6] == 0 && rebuilt[7] == 0 && rebuilt[8] == 0 && rebuilt[9] == 0);
	}
	uint8_t wire[300];
	int w = resolver_dns_name_to_wire(q.name, wire, sizeof(wire));
	FUZZ_ASSERT(w < 0 || (size_t)w <= sizeof(wire));
	struct resolver_addr ptr;
	if (resolver_dns_ptr_addr(q.name, &ptr) == 0)
		FUZZ_ASSERT(ptr.family == AF_INET || ptr.family == AF_INET6);
	return 0;
}
