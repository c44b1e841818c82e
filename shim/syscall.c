/* syscall.c: syscall(): the network system calls made through libc's generic syscall() (and the writes that
 * could carry a query to a nameserver's socket) take the same path as the hooks, io_uring is refused (its connects happen in the kernel, out of our sight: ENOSYS makes programs
 * fall back to ordinary calls), and every other number passes through untouched (an allowlist of numbers once
 * broke Firefox in torsocks: unknown numbers must work).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#if defined(__has_include)
#if __has_include(<linux/aio_abi.h>) /* musl-gcc has no kernel headers: its build leaves io_submit alone */
#include <linux/aio_abi.h>
#define TW_HAVE_AIO_ABI 1
#endif
#endif
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim.h"

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif

#ifdef TW_HAVE_AIO_ABI
/* Kernel AIO (libaio's io_submit through syscall()) writing to a nameserver's socket: past every hook. */
static bool io_submit_writes_dns(struct iocb **cbs, long n)
{
	for (long i = 0; cbs != NULL && i < n && i < 1024; i++) {
		const struct iocb *cb = cbs[i];
		if (cb == NULL)
			continue;
		bool writes = cb->aio_lio_opcode == IOCB_CMD_PWRITE || cb->aio_lio_opcode == IOCB_CMD_PWRITEV;
		if (writes && (shim_fd_flags((int)cb->aio_fildes) & SHIM_FD_DNS)) {
			shim_config(); /* the log's level, format and file */
			tw_error("io_submit refused: a write into a nameserver's socket (a query is written, not queued)");
			return true;
		}
	}
	return false;
}
#endif

TW_EXPORT long syscall(long number, ...)
{
	va_list ap;
	long a[6];
	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);

	switch (number) {
	case SYS_connect:
		return (long)(shim_hook_connect((int)a[0], (const struct sockaddr *)a[1], (socklen_t)a[2]));
	case SYS_sendto:
		return (long)(shim_hook_sendto((int)a[0], (const void *)a[1], (size_t)a[2], (int)a[3],
					 (const struct sockaddr *)a[4], (socklen_t)a[5]));
	case SYS_sendmsg:
		return (long)(shim_hook_sendmsg((int)a[0], (const struct msghdr *)a[1], (int)a[2]));
	case SYS_sendmmsg:
		return (long)(shim_hook_sendmmsg((int)a[0], (struct mmsghdr *)a[1], (unsigned)a[2], (tw_mmsg_flags)a[3]));
	case SYS_socket:
		return (long)(shim_hook_socket((int)a[0], (int)a[1], (int)a[2]));
	case SYS_execve:
		return (long)(shim_hook_execve((const char *)a[0], (char *const *)a[1], (char *const *)a[2]));
	case SYS_execveat:
		return (long)(shim_hook_execveat((int)a[0], (const char *)a[1], (char *const *)a[2], (char *const *)a[3],
					   (int)a[4]));
	case SYS_write:
		return (long)shim_hook_write((int)a[0], (const void *)a[1], (size_t)a[2]);
	case SYS_writev:
		return (long)shim_hook_writev((int)a[0], (const struct iovec *)a[1], (int)a[2]);
	case SYS_pwritev2: /* the raw call splits the offset in two halves: on x86_64 and aarch64 the first is all of it */
		return (long)shim_hook_pwritev2((int)a[0], (const struct iovec *)a[1], (int)a[2], (off_t)a[3], (int)a[5]);
	case SYS_sendfile:
		return (long)shim_hook_sendfile((int)a[0], (int)a[1], (off_t *)a[2], (size_t)a[3]);
	case SYS_splice:
		return (long)shim_hook_splice((int)a[0], (off_t *)a[1], (int)a[2], (off_t *)a[3], (size_t)a[4], (unsigned)a[5]);
	case SYS_setsockopt:
		return (long)shim_hook_setsockopt((int)a[0], (int)a[1], (int)a[2], (const void *)a[3], (socklen_t)a[4]);
#ifdef TW_HAVE_AIO_ABI
	case SYS_io_submit:
		if (io_submit_writes_dns((struct iocb **)a[2], a[1])) {
			errno = EPERM;
			return -1;
		}
		return tw_libc()->syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
#endif
	case SYS_io_uring_setup:
		shim_config(); /* the log's level, format and file */
		tw_error("io_uring_setup refused: its connections would bypass torwrap");
		errno = ENOSYS;
		return -1;
	default:
		return tw_libc()->syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
}
