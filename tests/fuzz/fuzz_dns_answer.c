/* fuzz_dns_answer.c: the engine's answer to a program's own DNS query (route_dns_answer), as the supervisor's
 * responder and the res_* hooks give it: whatever it writes is a reply to that query. */
#include "route_setup.h"

FUZZ_TARGET(dns_answer)
{
	const struct route_ctx *ctx = fuzz_route();
	static uint8_t out[1024];
	struct resolver_dns_question q;
	ssize_t n = route_dns_answer(ctx, data, size, &q, out, sizeof(out));
	FUZZ_ASSERT(n > 0 || n == ROUTE_DNS_FORWARD || n == ROUTE_DNS_DROP || n == -ENOBUFS || n == -EINVAL);
	if (n > 0) {
		FUZZ_ASSERT((size_t)n <= sizeof(out) && n >= 12);
		FUZZ_ASSERT(out[0] == data[0] && out[1] == data[1] && (out[2] & 0x80));
	}
	if (n == ROUTE_DNS_FORWARD) { /* only an allowed name, or the reverse of an allowed address */
		FUZZ_ASSERT(q.qdcount == 1);
		/* What goes on to the nameserver is the query itself: its name must be the name decided on. */
		uint8_t wire[TW_NAME_MAX + 2];
		int w = resolver_dns_name_to_wire(q.name, wire, sizeof(wire));
		FUZZ_ASSERT(w > 0 && (size_t)w + 12 + 4 == q.qend);
		for (int i = 0; i < w; i++) {
			uint8_t c = data[12 + i];
			FUZZ_ASSERT(wire[i] == (c >= 'A' && c <= 'Z' ? c + 32 : c));
		}
	}
	return 0;
}
