/* getpeername.c: on a socket connected through the proxy, the peer the program asked for, not the proxy.
 */
#include <errno.h>
#include <string.h>

#include "shim.h"

static bool same_sockaddr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

TW_EXPORT int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	const struct tw_libc *real = tw_libc();
	struct sockaddr_storage dest, proxy, now;
	if (sa == NULL || len == NULL || shim_fd_get_peer(fd, &dest, &proxy) != 0)
		return real->getpeername(fd, sa, len);
	socklen_t nlen = sizeof(now);
	if (real->getpeername(fd, (struct sockaddr *)&now, &nlen) != 0)
		return -1;
	if (!same_sockaddr(&now, &proxy)) { /* reused descriptor: the memory is stale */
		shim_fd_clear(fd, SHIM_FD_PROXIED);
		return real->getpeername(fd, sa, len);
	}
	socklen_t dlen = dest.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	memcpy(sa, &dest, *len < dlen ? *len : dlen);
	*len = dlen;
	return 0;
}
