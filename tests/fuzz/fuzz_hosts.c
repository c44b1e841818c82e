/* fuzz_hosts.c: the hosts file (resolver_parse_hosts and its reverse). Input: a name, NUL, the file's text.
 * An address the file gives for a name must be found again when the file is asked about that address. */
#include <arpa/inet.h>

#include "../../resolver/resolver.h"
#include "fuzz.h"

FUZZ_TARGET(hosts)
{
	const uint8_t *rest;
	size_t rest_len;
	char *name = fuzz_split(data, size, &rest, &rest_len);
	char *text = fuzz_text(rest, rest_len);
	struct resolver_addr a[8];
	int families[] = { AF_UNSPEC, AF_INET, AF_INET6 };
	for (int f = 0; f < 3; f++) {
		int n = resolver_parse_hosts(text, name, families[f], a, 8);
		FUZZ_ASSERT(n >= 0 && n <= 8);
		for (int i = 0; i < n; i++) {
			FUZZ_ASSERT(a[i].family == AF_INET || a[i].family == AF_INET6);
			FUZZ_ASSERT(families[f] == AF_UNSPEC || a[i].family == families[f]);
			char back[TW_NAME_MAX];
			FUZZ_ASSERT(resolver_parse_hosts_reverse(text, &a[i], back) == 0);
		}
	}
	free(name);
	free(text);
	return 0;
}
