/* recv.c: the read family (read, readv, recv, recvfrom, recvmsg, recvmmsg and the _chk forms _FORTIFY_SOURCE
 * compiles them into). Two kinds of sockets are looked at; every other descriptor costs one flag test:
 *
 * - a socket whose connect through Tor is pending (pending.c): Tor's SOCKS reply is taken off first, so the
 *   program reads only what the destination sent, and a refusal becomes the call's error;
 * - a socket whose DNS torwrap's responder answers (dnsguard.c): resolvers of their own drop a reply whose
 *   source is not the server they asked (c-ares in Node compares it; bind9's dig, host and nslookup too), so
 *   the source the kernel reports, the responder's loopback address, is reported as the nameserver's.
 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "shim.h"

/* Before a read: Tor's reply off the socket. 0 to go on, else the call fails with errno set. */
static int before_read(int fd, int flags)
{
	if (__builtin_expect(!(shim_fd_flags(fd) & SHIM_FD_PENDING), 1))
		return 0;
	int rc = shim_pending_before_io(fd, true, (flags & MSG_DONTWAIT) != 0);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

static void unmask(int fd, struct sockaddr *from, socklen_t *len, socklen_t cap)
{
	if (from != NULL && len != NULL && (shim_fd_flags(fd) & SHIM_FD_ANSWERED))
		shim_fd_unmask_source(fd, from, len, cap);
}

TW_EXPORT ssize_t read(int fd, void *buf, size_t count)
{
	if (before_read(fd, 0) != 0)
		return -1;
	return tw_libc()->read(fd, buf, count);
}

TW_EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	if (before_read(fd, 0) != 0)
		return -1;
	return tw_libc()->readv(fd, iov, iovcnt);
}

TW_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	if (before_read(fd, flags) != 0)
		return -1;
	return tw_libc()->recv(fd, buf, len, flags);
}

TW_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen)
{
	if (before_read(fd, flags) != 0)
		return -1;
	socklen_t cap = fromlen ? *fromlen : 0;
	ssize_t n = tw_libc()->recvfrom(fd, buf, len, flags, from, fromlen);
	if (n >= 0)
		unmask(fd, from, fromlen, cap);
	return n;
}

TW_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (before_read(fd, flags) != 0)
		return -1;
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
/* What _FORTIFY_SOURCE compiles the calls above into when the buffer's size is known. */
TW_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *from,
				 socklen_t *fromlen)
{
	if (before_read(fd, flags) != 0)
		return -1;
	socklen_t cap = fromlen ? *fromlen : 0;
	ssize_t n = tw_libc()->__recvfrom_chk(fd, buf, len, buflen, flags, from, fromlen);
	if (n >= 0)
		unmask(fd, from, fromlen, cap);
	return n;
}

TW_EXPORT ssize_t __read_chk(int fd, void *buf, size_t count, size_t buflen)
{
	if (before_read(fd, 0) != 0)
		return -1;
	return tw_libc()->__read_chk(fd, buf, count, buflen);
}

TW_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (before_read(fd, flags) != 0)
		return -1;
	return tw_libc()->__recv_chk(fd, buf, len, buflen, flags);
}
#endif
