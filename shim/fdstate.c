/* fdstate.c: what the library remembers per descriptor, in flat arrays indexed by fd. The flags are atomic
 * bytes (read on every hooked call, no lock). The two addresses of a proxied socket are written by the thread
 * that connects it and read by getpeername or recv in any thread, so each slot is copied under one of a few
 * striped locks: a reader never sees half an address. Stale slots are harmless because every reader re-checks
 * against the kernel before trusting them, see shim.h.
 *
 * - DNS: the socket is connected to a nameserver, so what is written to it is a DNS query to inspect.
 * - PROXIED: the socket reached its destination through the proxy; the destination the program asked for is
 *   kept so getpeername() can report it instead of the proxy.
 * - ANSWERED: the socket was connected to a nameserver and torwrap's supervisor connected it to its DNS
 *   responder (also PROXIED, with the responder as the "proxy"): replies are reported from the nameserver.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "shim.h"

static _Atomic uint8_t fd_flags[SHIM_FD_MAX];
static _Atomic uint16_t fd_dns_length[SHIM_FD_MAX]; /* with SHIM_FD_DNS_LENGTH: the length written alone */
static union shim_peer {
	struct sockaddr sa;
	struct sockaddr_in6 in6;
	struct sockaddr_in in;
} fd_peer[SHIM_FD_MAX], fd_proxy[SHIM_FD_MAX];

#define PEER_STRIPES 16
static pthread_mutex_t peer_lock[PEER_STRIPES];

static pthread_mutex_t *peer_lock_of(int fd)
{
	return &peer_lock[(unsigned)fd % PEER_STRIPES];
}

/* fork() while another thread holds a stripe would leave it held forever in the child: every stripe is taken
 * around fork, and given back on both sides. */
static void peer_locks_take(void)
{
	for (int i = 0; i < PEER_STRIPES; i++)
		pthread_mutex_lock(&peer_lock[i]);
}

static void peer_locks_give(void)
{
	for (int i = PEER_STRIPES - 1; i >= 0; i--)
		pthread_mutex_unlock(&peer_lock[i]);
}

__attribute__((constructor)) static void peer_locks_init(void)
{
	for (int i = 0; i < PEER_STRIPES; i++)
		pthread_mutex_init(&peer_lock[i], NULL);
	pthread_atfork(peer_locks_take, peer_locks_give, peer_locks_give);
}

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

void shim_fd_set_dns_length(int fd, uint16_t len)
{
	if (fd < 0 || fd >= SHIM_FD_MAX)
		return;
	atomic_store_explicit(&fd_dns_length[fd], len, memory_order_relaxed);
	shim_fd_set(fd, SHIM_FD_DNS_LENGTH);
}

uint16_t shim_fd_dns_length(int fd)
{
	return fd >= 0 && fd < SHIM_FD_MAX ? atomic_load_explicit(&fd_dns_length[fd], memory_order_relaxed) : 0;
}

void shim_fd_forget_range(unsigned first, unsigned last)
{
	if (first >= SHIM_FD_MAX)
		return;
	if (last >= SHIM_FD_MAX)
		last = SHIM_FD_MAX - 1;
	for (unsigned fd = first; fd <= last; fd++) {
		uint8_t f = atomic_load_explicit(&fd_flags[fd], memory_order_relaxed);
		if (f & SHIM_FD_PENDING)
			shim_pending_forget((int)fd);
		if (f & SHIM_FD_WATCHER)
			shim_pending_watcher_closed();
		if (f)
			atomic_store_explicit(&fd_flags[fd], 0, memory_order_release);
	}
}

void shim_fd_set_peer(int fd, const struct sockaddr *dest, socklen_t dlen, const struct sockaddr *proxy,
		      socklen_t plen)
{
	if (fd < 0 || fd >= SHIM_FD_MAX || dlen > sizeof(union shim_peer) || plen > sizeof(union shim_peer))
		return;
	pthread_mutex_lock(peer_lock_of(fd));
	memset(&fd_peer[fd], 0, sizeof(fd_peer[fd]));
	memcpy(&fd_peer[fd], dest, dlen);
	memset(&fd_proxy[fd], 0, sizeof(fd_proxy[fd]));
	memcpy(&fd_proxy[fd], proxy, plen);
	pthread_mutex_unlock(peer_lock_of(fd));
	shim_fd_set(fd, SHIM_FD_PROXIED);
}

int shim_fd_get_peer(int fd, struct sockaddr_storage *dest, struct sockaddr_storage *proxy)
{
	if (!(shim_fd_flags(fd) & SHIM_FD_PROXIED))
		return -ENOENT;
	memset(dest, 0, sizeof(*dest));
	memset(proxy, 0, sizeof(*proxy));
	pthread_mutex_lock(peer_lock_of(fd));
	memcpy(dest, &fd_peer[fd], sizeof(fd_peer[fd]));
	memcpy(proxy, &fd_proxy[fd], sizeof(fd_proxy[fd]));
	pthread_mutex_unlock(peer_lock_of(fd));
	return 0;
}

bool shim_same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family != AF_INET6)
		return false;
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

void shim_fd_unmask_source(int fd, struct sockaddr *from, socklen_t *len, socklen_t cap)
{
	struct sockaddr_storage dest, responder, got;
	if (!(shim_fd_flags(fd) & SHIM_FD_ANSWERED) || shim_fd_get_peer(fd, &dest, &responder) != 0)
		return;
	memset(&got, 0, sizeof(got));
	size_t n = *len < cap ? *len : cap;
	memcpy(&got, from, n < sizeof(got) ? n : sizeof(got));
	if (!shim_same_endpoint(&got, &responder))
		return;
	socklen_t dlen = dest.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	memcpy(from, &dest, cap < dlen ? cap : dlen);
	*len = dlen;
}
