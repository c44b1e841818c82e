/* write.c: write and writev, inspected only on sockets connected to a nameserver (a resolver of the program's
 * own writing its query) or with a connect through Tor pending (its request goes first, pending.c); every other
 * descriptor costs one array load.
 */
#include <errno.h>
#include <sys/socket.h>

#include "shim.h"

static int guard(int fd, const struct iovec *iov, int iovcnt)
{
	if (shim_fd_flags(fd) & SHIM_FD_PENDING) {
		int rc = shim_pending_before_io(fd, false, false);
		if (rc < 0)
			return rc;
	}
	if (!(shim_fd_flags(fd) & SHIM_FD_DNS))
		return 0;
	int type = 0;
	socklen_t len = sizeof(type);
	bool stream = tw_libc()->getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
	return shim_dns_guard(fd, iov, (size_t)iovcnt, stream);
}

TW_EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	if (__builtin_expect(shim_fd_flags(fd) & (SHIM_FD_DNS | SHIM_FD_PENDING), 0)) {
		struct iovec iov = { .iov_base = (void *)buf, .iov_len = count };
		int rc = guard(fd, &iov, 1);
		if (rc < 0) {
			errno = -rc;
			return -1;
		}
	}
	return tw_libc()->write(fd, buf, count);
}

TW_EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	if (__builtin_expect(shim_fd_flags(fd) & (SHIM_FD_DNS | SHIM_FD_PENDING), 0)) {
		int rc = guard(fd, iov, iovcnt);
		if (rc < 0) {
			errno = -rc;
			return -1;
		}
	}
	return tw_libc()->writev(fd, iov, iovcnt);
}
