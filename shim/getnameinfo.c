/* getnameinfo.c: getnameinfo(), reverse lookups without leaks (see gethostbyaddr.c for the rules).
 *
 * The service part, and NI_NUMERICHOST requests, are libc's: neither sends a query.
 */
#include <errno.h>
#include <string.h>

#include "shim.h"

TW_EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen, char *serv,
			  socklen_t servlen, int flags)
{
	const struct tw_libc *real = tw_libc();
	if (host == NULL || hostlen == 0 || (flags & NI_NUMERICHOST) || sa == NULL ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return real->getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
	if ((sa->sa_family == AF_INET && salen < sizeof(struct sockaddr_in)) ||
	    (sa->sa_family == AF_INET6 && salen < sizeof(struct sockaddr_in6)))
		return EAI_FAMILY;

	if (serv && servlen) {
		int rc = real->getnameinfo(sa, salen, NULL, 0, serv, servlen, flags);
		if (rc != 0)
			return rc;
	}
	struct resolver_addr a = { .family = sa->sa_family };
	if (sa->sa_family == AF_INET)
		memcpy(a.addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	else
		memcpy(a.addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	char name[TW_NAME_MAX];
	if (shim_reverse(&a, name) == 0) {
		if (flags & NI_NOFQDN) {
			char *dot = strchr(name, '.');
			if (dot && !tw_name_is_onion(name))
				*dot = '\0';
		}
		if (strlen(name) + 1 > hostlen)
			return EAI_OVERFLOW;
		strcpy(host, name);
		return 0;
	}
	if (flags & NI_NAMEREQD)
		return EAI_NONAME;
	return real->getnameinfo(sa, salen, host, hostlen, NULL, 0, flags | NI_NUMERICHOST);
}
