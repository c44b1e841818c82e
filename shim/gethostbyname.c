/* gethostbyname.c: gethostbyname, gethostbyname2 and their _r forms (getent hosts and many older programs
 * resolve through these, through NSS, where a socket() hook would never see the query).
 *
 * Numeric strings are libc's (it parses them without any lookup); names go through shim_lookup().
 */
#include <errno.h>
#include <string.h>

#include "shim.h"

/* The buffer behind the non-reentrant forms: per thread, so threads cannot overwrite each other's answers. */
static __thread struct hostent tls_hostent;
static __thread char tls_buf[2048];

static int lookup_r(const char *name, int af, struct hostent *ret, char *buf, size_t buflen,
		    struct hostent **result, int *h_errnop)
{
	*result = NULL;
	if (af != AF_INET && af != AF_INET6) {
		*h_errnop = NO_RECOVERY;
		return EAFNOSUPPORT;
	}
	struct resolver_addr addrs[RESOLVER_MAX_ADDRS];
	int n = shim_lookup(name, 0, af, addrs, RESOLVER_MAX_ADDRS);
	if (n > 0 && af == AF_INET6) {
		/* Only real IPv6, as glibc: callers such as getent ask AF_INET6 first and fall back to AF_INET, and
		 * a v4-mapped virtual address would show there as "::ffff:127.192.0.1". */
		int m = 0;
		for (int i = 0; i < n; i++)
			if (addrs[i].family == AF_INET6 &&
			    !IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)addrs[i].addr))
				addrs[m++] = addrs[i];
		n = m ? m : -ENOENT;
	}
	if (n < 0) {
		*h_errnop = n == -ENOENT ? HOST_NOT_FOUND : n == -EAGAIN ? TRY_AGAIN : NO_RECOVERY;
		return n == -EAGAIN ? EAGAIN : ENOENT;
	}
	char canon[TW_NAME_MAX];
	if (tw_name_normalize(name, canon) < 0) {
		*h_errnop = HOST_NOT_FOUND;
		return ENOENT;
	}
	int rc = shim_fill_hostent(canon, af, addrs, n, ret, buf, buflen);
	if (rc != 0) {
		*h_errnop = NETDB_INTERNAL;
		return rc;
	}
	*h_errnop = NETDB_SUCCESS;
	*result = ret;
	return 0;
}

TW_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t buflen,
			       struct hostent **result, int *h_errnop)
{
	if (name == NULL || shim_is_numeric_host(name))
		return tw_libc()->gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop);
	int rc = lookup_r(name, af, ret, buf, buflen, result, h_errnop);
	if (rc == ERANGE)
		errno = ERANGE; /* callers grow the buffer when they see ERANGE */
	return rc;
}

TW_EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
			      struct hostent **result, int *h_errnop)
{
	if (name == NULL || shim_is_numeric_host(name))
		return tw_libc()->gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
	return gethostbyname2_r(name, AF_INET, ret, buf, buflen, result, h_errnop);
}

TW_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	if (name == NULL || shim_is_numeric_host(name))
		return tw_libc()->gethostbyname2(name, af);
	struct hostent *result = NULL;
	int herr = 0;
	lookup_r(name, af, &tls_hostent, tls_buf, sizeof(tls_buf), &result, &herr);
	h_errno = herr;
	return result;
}

TW_EXPORT struct hostent *gethostbyname(const char *name)
{
	if (name == NULL || shim_is_numeric_host(name))
		return tw_libc()->gethostbyname(name);
	return gethostbyname2(name, AF_INET);
}
