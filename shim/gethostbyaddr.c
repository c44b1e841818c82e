/* gethostbyaddr.c: gethostbyaddr and gethostbyaddr_r, reverse lookups without leaks.
 *
 * A virtual address gives its name back from the map; an address policy allows may be looked up (hosts, then
 * a PTR query to the local nameserver); any other address only in the hosts file: a PTR query for it would tell
 * the nameserver where the program is going.
 */
#include <errno.h>
#include <string.h>

#include "shim.h"

static __thread struct hostent tls_hostent;
static __thread char tls_buf[1024];

TW_EXPORT int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret, char *buf,
			      size_t buflen, struct hostent **result, int *h_errnop)
{
	*result = NULL;
	struct resolver_addr a = { .family = type };
	if (addr == NULL || !((type == AF_INET && len == 4) || (type == AF_INET6 && len == 16))) {
		*h_errnop = NO_RECOVERY;
		return EINVAL;
	}
	memcpy(a.addr, addr, len);
	char name[TW_NAME_MAX];
	if (shim_reverse(&a, name) != 0) {
		*h_errnop = HOST_NOT_FOUND;
		return ENOENT;
	}
	int rc = shim_fill_hostent(name, type, &a, 1, ret, buf, buflen);
	if (rc != 0) {
		*h_errnop = NETDB_INTERNAL;
		errno = rc;
		return rc;
	}
	*h_errnop = NETDB_SUCCESS;
	*result = ret;
	return 0;
}

TW_EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
	struct hostent *result = NULL;
	int herr = 0;
	gethostbyaddr_r(addr, len, type, &tls_hostent, tls_buf, sizeof(tls_buf), &result, &herr);
	h_errno = herr;
	return result;
}
