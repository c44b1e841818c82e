/* gate.c: the library's own network system calls, marked so the kernel's filter lets them pass.
 *
 * Under `torwrap` (and under the library's own filter, for programs that bypass libc) a seccomp filter traps
 * every connect, sendmsg, sendmmsg and sendto with an address (filter.c). The library has routed its calls
 * already: it issues them with the tree's cookie in an argument slot the call does not use, which the kernel's
 * implementation never reads and the filter compares. sendto uses all six slots, so with an address it becomes
 * the equivalent sendmsg. Without a cookie (no filter here) these are the real libc functions.
 *
 * The cookie is a secret of the process tree, passed in TORWRAP_SECCOMP_COOKIE: it keeps programs that bypass
 * libc by accident (Go) from passing, not a program that reads its own environment to forge it (see
 * docs/leaks.md, "The kernel backstop").
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "tw.h"

static _Atomic uint64_t gate_cookie;

void tw_gate_set_cookie(uint64_t cookie)
{
	atomic_store_explicit(&gate_cookie, cookie, memory_order_release);
}

uint64_t tw_gate_cookie(void)
{
	return atomic_load_explicit(&gate_cookie, memory_order_acquire);
}

int tw_gate_cookie_parse(const char *text, uint64_t *out)
{
	if (text == NULL || strlen(text) != 16)
		return -EINVAL;
	uint64_t v = 0;
	for (const char *p = text; *p; p++) {
		int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : -1;
		if (d < 0)
			return -EINVAL;
		v = (v << 4) | (uint64_t)d;
	}
	if ((uint32_t)v == 0 || (uint32_t)(v >> 32) == 0)
		return -EINVAL;
	*out = v;
	return 0;
}

void tw_gate_cookie_text(uint64_t cookie, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)cookie);
}

int tw_gate_cookie_new(uint64_t *out)
{
	uint64_t v;
	do {
		ssize_t n = getrandom(&v, sizeof(v), 0);
		if (n != (ssize_t)sizeof(v))
			return n < 0 ? -errno : -EIO;
	} while ((uint32_t)v == 0 || (uint32_t)(v >> 32) == 0); /* both halves are compared, neither may be 0 */
	*out = v;
	return 0;
}

int tw_gate_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	uint64_t c = tw_gate_cookie();
	if (c == 0)
		return tw_libc()->connect(fd, sa, len);
	return (int)tw_libc()->syscall(SYS_connect, (long)fd, (long)sa, (long)len, (long)c);
}

ssize_t tw_gate_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	uint64_t c = tw_gate_cookie();
	if (c == 0)
		return tw_libc()->sendmsg(fd, msg, flags);
	return (ssize_t)tw_libc()->syscall(SYS_sendmsg, (long)fd, (long)msg, (long)flags, (long)c);
}

int tw_gate_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	uint64_t c = tw_gate_cookie();
	if (c == 0)
		return tw_libc()->sendmmsg(fd, vec, vlen, (tw_mmsg_flags)flags);
	return (int)tw_libc()->syscall(SYS_sendmmsg, (long)fd, (long)vec, (long)vlen, (long)flags, (long)c);
}

ssize_t tw_gate_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa, socklen_t salen)
{
	uint64_t c = tw_gate_cookie();
	if (c == 0 || sa == NULL)
		return tw_libc()->sendto(fd, buf, len, flags, sa, salen); /* no address: not trapped */
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = { .msg_name = (void *)sa, .msg_namelen = salen, .msg_iov = &iov, .msg_iovlen = 1 };
	return tw_gate_sendmsg(fd, &m, flags);
}
