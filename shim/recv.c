/* recv.c: recvfrom, recvmsg, recvmmsg: replies on a socket whose DNS torwrap's responder answers come from the
 * nameserver the program asked.
 *
 * Under `torwrap`, a socket connected to a nameserver ends up connected to the supervisor's DNS responder
 * (dnsguard.c). Resolvers of their own drop a reply whose source is not the server they asked (c-ares in
 * Node compares it; bind9's dig, host and nslookup too), so the source the kernel reports, the responder's
 * loopback address, is reported as the nameserver's. Every other socket costs one flag test per call.
 */
#include <errno.h>
#include <sys/socket.h>

#include "shim.h"

static void unmask(int fd, struct sockaddr *from, socklen_t *len, socklen_t cap)
{
	if (from != NULL && len != NULL && (shim_fd_flags(fd) & SHIM_FD_ANSWERED))
		shim_fd_unmask_source(fd, from, len, cap);
}

TW_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen)
{
	socklen_t cap = fromlen ? *fromlen : 0;
	ssize_t n = tw_libc()->recvfrom(fd, buf, len, flags, from, fromlen);
	if (n >= 0)
		unmask(fd, from, fromlen, cap);
	return n;
}

TW_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	socklen_t cap = msg ? msg->msg_namelen : 0;
	ssize_t n = tw_libc()->recvmsg(fd, msg, flags);
	if (n >= 0 && msg)
		unmask(fd, msg->msg_name, &msg->msg_namelen, cap);
	return n;
}

TW_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, tw_mmsg_flags flags, struct timespec *timeout)
{
	if (!(shim_fd_flags(fd) & SHIM_FD_ANSWERED) || vec == NULL || vlen > 1024)
		return tw_libc()->recvmmsg(fd, vec, vlen, flags, timeout);
	socklen_t cap[1024];
	for (unsigned i = 0; i < vlen; i++)
		cap[i] = vec[i].msg_hdr.msg_namelen;
	int n = tw_libc()->recvmmsg(fd, vec, vlen, flags, timeout);
	for (int i = 0; i < n; i++)
		unmask(fd, vec[i].msg_hdr.msg_name, &vec[i].msg_hdr.msg_namelen, cap[i]);
	return n;
}

#ifdef __GLIBC__
/* What _FORTIFY_SOURCE compiles recvfrom() into when the buffer's size is known. */
TW_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *from,
				 socklen_t *fromlen)
{
	socklen_t cap = fromlen ? *fromlen : 0;
	ssize_t n = tw_libc()->__recvfrom_chk(fd, buf, len, buflen, flags, from, fromlen);
	if (n >= 0)
		unmask(fd, from, fromlen, cap);
	return n;
}
#endif
