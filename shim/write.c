/* write.c: the write family (write, __write, writev, pwritev2 and its aliases), and the calls that move bytes
 * into a socket without a buffer of the program's (sendfile, splice, POSIX AIO). They are looked at only on
 * sockets connected to a nameserver (a resolver of the program's own writing its query: rewritten from its
 * question, dnsguard.c) or with a connect through Tor pending (its request goes first, pending.c); every other
 * descriptor costs one array load.
 */
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include "shim.h"

/* Before the program writes IOV to FD: SHIM_DNS_AS_IS to write it as asked, or the call's result. */
static ssize_t guarded_write(int fd, const struct iovec *iov, int iovcnt)
{
	if (shim_fd_flags(fd) & SHIM_FD_PENDING) {
		int rc = shim_pending_before_io(fd, false, false);
		if (rc < 0)
			return rc;
	}
	if (!(shim_fd_flags(fd) & SHIM_FD_DNS) || iovcnt < 0)
		return SHIM_DNS_AS_IS;
	return shim_dns_send(fd, iov, (size_t)iovcnt, 0);
}

static ssize_t result(ssize_t r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

static bool watched(int fd)
{
	return __builtin_expect(shim_fd_flags(fd) & (SHIM_FD_DNS | SHIM_FD_PENDING), 0);
}

TW_EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	if (watched(fd)) {
		struct iovec iov = { .iov_base = (void *)buf, .iov_len = count };
		ssize_t r = guarded_write(fd, &iov, 1);
		if (r != SHIM_DNS_AS_IS)
			return result(r);
	}
	return tw_libc()->write(fd, buf, count);
}

TW_EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	if (watched(fd)) {
		ssize_t r = guarded_write(fd, iov, iovcnt);
		if (r != SHIM_DNS_AS_IS)
			return result(r);
	}
	return tw_libc()->writev(fd, iov, iovcnt);
}

/* pwritev2 at offset -1 writes at the current position, which is how a socket takes it (any other offset is
 * the kernel's ESPIPE there). */
TW_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)
{
	if (watched(fd) && offset == -1) {
		ssize_t r = guarded_write(fd, iov, iovcnt);
		if (r != SHIM_DNS_AS_IS)
			return result(r);
	}
	return tw_libc()->pwritev2(fd, iov, iovcnt, offset, flags);
}


/* No resolver writes its query from a file or a pipe: on a nameserver's socket, refused (its bytes could not be
 * rewritten from its question, and would go out as they are). */
static int refuse_unbuffered(int fd, const char *how)
{
	if (!watched(fd) || !(shim_fd_flags(fd) & SHIM_FD_DNS))
		return 0;
	struct tw_event ev = TW_EVENT("dns", NULL, "refuse", NULL);
	ev.err = EPERM;
	tw_log_event(TW_LOG_ERROR, ev, "DNS to a nameserver refused: %s into its socket (a query is written, not copied "
		     "from a file)", how);
	errno = EPERM;
	return -1;
}

TW_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	if (refuse_unbuffered(out_fd, "sendfile") != 0)
		return -1;
	return tw_libc()->sendfile(out_fd, in_fd, offset, count);
}


TW_EXPORT ssize_t splice(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len, unsigned int flags)
{
	if (refuse_unbuffered(fd_out, "splice") != 0)
		return -1;
	return tw_libc()->splice(fd_in, off_in, fd_out, off_out, len, flags);
}

/* glibc's POSIX AIO writes with its own internal write, past every hook. */
TW_EXPORT int aio_write(struct aiocb *cb)
{
	if (refuse_unbuffered(cb->aio_fildes, "aio_write") != 0)
		return -1;
	return tw_libc()->aio_write(cb);
}

int shim_hook_aio_write(struct aiocb *cb) TW_HOOK_ALIAS(aio_write);

#ifdef __GLIBC__
TW_EXPORT int aio_write64(struct aiocb64 *cb)
{
	return shim_hook_aio_write((struct aiocb *)cb); /* the same structure where off_t is 64 bits */
}
#endif

ssize_t shim_hook_write(int fd, const void *buf, size_t count) TW_HOOK_ALIAS(write);
ssize_t shim_hook_writev(int fd, const struct iovec *iov, int iovcnt) TW_HOOK_ALIAS(writev);
ssize_t shim_hook_pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)
	TW_HOOK_ALIAS(pwritev2);
ssize_t shim_hook_sendfile(int out_fd, int in_fd, off_t *offset, size_t count) TW_HOOK_ALIAS(sendfile);
ssize_t shim_hook_splice(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len, unsigned int flags)
	TW_HOOK_ALIAS(splice);

/* glibc's own names, exported: the same paths. */
ssize_t __write(int fd, const void *buf, size_t count) TW_EXPORT_ALIAS(write);
#ifdef __GLIBC__ /* glibc's 64-bit names (musl makes them macros for the plain ones) */
ssize_t pwritev64v2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags) TW_EXPORT_ALIAS(pwritev2);
ssize_t sendfile64(int out_fd, int in_fd, off_t *offset, size_t count) TW_EXPORT_ALIAS(sendfile);
#endif
