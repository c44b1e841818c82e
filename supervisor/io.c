/* io.c: the supervisor's own socket I/O: sends and receives on non-blocking sockets, each with a deadline, for
 * the SOCKS exchange of a proxy connect (the engine's I/O: sv_io) and for the DNS responder's TCP clients and
 * forwarders; and the connect made in place on the program's own socket.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sv.h"

int sv_wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - tw_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int sv_send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline, void *ctx)
{
	(void)ctx;
	size_t off = 0;
	while (off < len) {
		ssize_t r = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int rc = sv_wait_fd(fd, POLLOUT, deadline);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static ssize_t sv_recv_some(int fd, uint8_t *buf, size_t len, int64_t deadline, void *ctx)
{
	(void)ctx;
	for (;;) {
		ssize_t r = recv(fd, buf, len, MSG_DONTWAIT);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int rc = sv_wait_fd(fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
	}
}

/* The library's default I/O calls libc through dlsym(RTLD_NEXT), which a static wrapper has not: ours. */
const struct socks5_io sv_io = { .send_all = sv_send_all, .recv_some = sv_recv_some };

int sv_recv_exact(int fd, uint8_t *buf, size_t len, int64_t deadline)
{
	size_t off = 0;
	while (off < len) {
		ssize_t r = sv_recv_some(fd, buf + off, len - off, deadline, NULL);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -ECONNRESET;
		off += (size_t)r;
	}
	return 0;
}

int64_t sv_connect_in_place(int sfd, const struct sockaddr_storage *ss, socklen_t len)
{
	return connect(sfd, (const struct sockaddr *)ss, len) == 0 ? 0 : -errno;
}
