/* syscall.c: syscall(): the network system calls made through libc's generic syscall() take the same path as
 * the hooks, io_uring is refused (its connects happen in the kernel, out of our sight: ENOSYS makes programs
 * fall back to ordinary calls), and every other number passes through untouched (an allowlist of numbers once
 * broke Firefox in torsocks: unknown numbers must work).
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>

#include "shim.h"

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
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
	case SYS_io_uring_setup:
		shim_config(); /* the log's level, format and file */
		tw_error("io_uring_setup refused: its connections would bypass torwrap");
		errno = ENOSYS;
		return -1;
	default:
		return tw_libc()->syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
}
