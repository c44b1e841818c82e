/* fuzz_resolv_conf.c: resolv.conf as a container (or an operator) writes it (resolver_parse_resolv_conf). */
#include "../../resolver/resolver.h"
#include "fuzz.h"

FUZZ_TARGET(resolv_conf)
{
	char *text = fuzz_text(data, size);
	struct resolver_conf conf;
	memset(&conf, 0xa5, sizeof(conf));
	if (resolver_parse_resolv_conf(text, &conf) == 0) {
		FUZZ_ASSERT(conf.nns <= RESOLVER_MAX_NAMESERVERS);
		for (unsigned i = 0; i < conf.nns; i++) {
			FUZZ_ASSERT(conf.ns[i].family == AF_INET || conf.ns[i].family == AF_INET6);
			FUZZ_ASSERT(conf.ns[i].port != 0);
		}
	}
	free(text);
	return 0;
}
