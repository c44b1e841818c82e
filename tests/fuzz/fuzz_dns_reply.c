/* fuzz_dns_reply.c: what a nameserver (or a forger) sends back to the supervisor's forwarder: the check that it
 * answers the question asked (resolver_dns_reply_answers) and the addresses read from it
 * (resolver_dns_reply_addrs), which become an allowed name's direct addresses. */
#include "../../resolver/resolver.h"
#include "fuzz.h"

FUZZ_TARGET(dns_reply)
{
	struct resolver_dns_question q = { .id = 0xbeef, .qdcount = 1, .qtype = RESOLVER_DNS_A, .qclass = 1 };
	strcpy(q.name, "tron-wallet-manager");
	bool answers = resolver_dns_reply_answers(data, size, &q);
	if (answers)
		FUZZ_ASSERT(size >= 12 && data[0] == 0xbe && data[1] == 0xef && (data[2] & 0x80));
	struct resolver_addr a[RESOLVER_MAX_ADDRS];
	int n = resolver_dns_reply_addrs(data, size, a, RESOLVER_MAX_ADDRS);
	FUZZ_ASSERT(n <= RESOLVER_MAX_ADDRS);
	for (int i = 0; i < n; i++)
		FUZZ_ASSERT(a[i].family == AF_INET || a[i].family == AF_INET6);
	if (n > 0)
		FUZZ_ASSERT(size >= 12 && (data[2] & 0x80) && (data[3] & 0x0f) == 0);
	return 0;
}
