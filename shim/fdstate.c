/* fdstate.c: what the library remembers per descriptor, in two flat arrays indexed by fd (no locks: each
 * descriptor's slot is written by the thread that connects it; stale slots are harmless because every reader
 * re-checks against the kernel before trusting them, see shim.h).
 *
 * - DNS: the socket is connected to a nameserver, so what is written to it is a DNS query to inspect.
 * - PROXIED: the socket reached its destination through the proxy; the destination the program asked for is
 *   kept so getpeername() can report it instead of the proxy.
 */
#include <stdatomic.h>
#include <string.h>

#include "shim.h"

static _Atomic uint8_t fd_flags[SHIM_FD_MAX];
static union shim_peer {
	struct sockaddr sa;
	struct sockaddr_in6 in6;
	struct sockaddr_in in;
} fd_peer[SHIM_FD_MAX], fd_proxy[SHIM_FD_MAX];

unsigned shim_fd_flags(int fd)
{
	if (fd < 0 || fd >= SHIM_FD_MAX)
		return 0;
	return atomic_load_explicit(&fd_flags[fd], memory_order_acquire);
}

void shim_fd_set(int fd, unsigned flags)
{
	if (fd >= 0 && fd < SHIM_FD_MAX)
		atomic_fetch_or_explicit(&fd_flags[fd], (uint8_t)flags, memory_order_acq_rel);
}

void shim_fd_clear(int fd, unsigned flags)
{
	if (fd >= 0 && fd < SHIM_FD_MAX)
		atomic_fetch_and_explicit(&fd_flags[fd], (uint8_t)~flags, memory_order_acq_rel);
}

void shim_fd_forget_range(unsigned first, unsigned last)
{
	if (first >= SHIM_FD_MAX)
		return;
	if (last >= SHIM_FD_MAX)
		last = SHIM_FD_MAX - 1;
	for (unsigned fd = first; fd <= last; fd++)
		if (atomic_load_explicit(&fd_flags[fd], memory_order_relaxed))
			atomic_store_explicit(&fd_flags[fd], 0, memory_order_release);
}

void shim_fd_set_peer(int fd, const struct sockaddr *dest, socklen_t dlen, const struct sockaddr *proxy,
		      socklen_t plen)
{
	if (fd < 0 || fd >= SHIM_FD_MAX || dlen > sizeof(union shim_peer) || plen > sizeof(union shim_peer))
		return;
	memset(&fd_peer[fd], 0, sizeof(fd_peer[fd]));
	memcpy(&fd_peer[fd], dest, dlen);
	memset(&fd_proxy[fd], 0, sizeof(fd_proxy[fd]));
	memcpy(&fd_proxy[fd], proxy, plen);
	shim_fd_set(fd, SHIM_FD_PROXIED);
}

int shim_fd_get_peer(int fd, struct sockaddr_storage *dest, struct sockaddr_storage *proxy)
{
	if (!(shim_fd_flags(fd) & SHIM_FD_PROXIED))
		return -ENOENT;
	memset(dest, 0, sizeof(*dest));
	memset(proxy, 0, sizeof(*proxy));
	memcpy(dest, &fd_peer[fd], sizeof(fd_peer[fd]));
	memcpy(proxy, &fd_proxy[fd], sizeof(fd_proxy[fd]));
	return 0;
}
