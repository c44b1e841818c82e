/* getpeername.c: on a socket connected through the proxy, the peer the program asked for, not the proxy; on a
 * socket whose DNS torwrap's responder answers, the nameserver asked for, not the responder.
 */
#include <errno.h>
#include <string.h>

#include "shim.h"

TW_EXPORT int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	const struct tw_libc *real = tw_libc();
	struct sockaddr_storage dest, proxy, now;
	if (sa == NULL || len == NULL || shim_fd_get_peer(fd, &dest, &proxy) != 0)
		return real->getpeername(fd, sa, len);
	socklen_t nlen = sizeof(now);
	if (real->getpeername(fd, (struct sockaddr *)&now, &nlen) != 0)
		return -1;
	if (!shim_same_endpoint(&now, &proxy)) { /* reused descriptor: the memory is stale */
		shim_fd_clear(fd, SHIM_FD_PROXIED);
		return real->getpeername(fd, sa, len);
	}
	socklen_t dlen = dest.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	memcpy(sa, &dest, *len < dlen ? *len : dlen);
	*len = dlen;
	return 0;
}
