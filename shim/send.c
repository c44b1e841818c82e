/* send.c: send, sendto, sendmsg, sendmmsg: the paths by which a packet can leave without connect().
 *
 * - A datagram with a destination address follows the datagram rule (allowed destinations only: Tor carries
 *   no UDP), and DNS queries to nameservers are inspected.
 * - TCP Fast Open (MSG_FASTOPEN with an address) connects without connect(): it becomes our connect() followed
 *   by an ordinary send, so it can never bypass the proxy.
 * - A send on a socket connected to a nameserver is a query to inspect; on a socket whose connect through Tor
 *   is pending, the SOCKS request goes first (pending.c); anything else passes straight through.
 */
#include <errno.h>
#include <string.h>

#include "shim.h"

static bool is_inet(const struct sockaddr *sa, socklen_t len)
{
	return sa != NULL && len >= sizeof(sa_family_t) && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

static bool is_stream(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);
	return tw_libc()->getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

/* The checks for one message with destination SA. Returns 0 to send (with *FLAGS possibly changed), or a
 * negative errno. */
static int check_addressed(int fd, const struct sockaddr *sa, socklen_t len, const struct iovec *iov,
			   size_t iovcnt, int *flags)
{
	if (is_stream(fd)) {
		if (!(*flags & MSG_FASTOPEN))
			return 0; /* the kernel ignores the address of a connected stream */
		int rc = shim_connect(fd, sa, len);
		if (rc < 0)
			return rc;
		*flags &= ~MSG_FASTOPEN;
		return 1; /* connected: send without the address */
	}
	return shim_check_datagram(fd, sa, len, iov, iovcnt);
}

static int check_connected(int fd, const struct iovec *iov, size_t iovcnt)
{
	if (shim_fd_flags(fd) & SHIM_FD_PENDING) { /* a connect through Tor: its request goes first (pending.c) */
		int rc = shim_pending_before_io(fd, false, false);
		if (rc < 0)
			return rc;
	}
	if (!(shim_fd_flags(fd) & SHIM_FD_DNS))
		return 0;
	return shim_dns_guard(fd, iov, iovcnt, is_stream(fd));
}

TW_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa,
			 socklen_t salen)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	int rc;
	if (is_inet(sa, salen)) {
		rc = check_addressed(fd, sa, salen, &iov, 1, &flags);
		if (rc == 1)
			return tw_libc()->sendto(fd, buf, len, flags, NULL, 0);
	} else if (sa == NULL) {
		rc = check_connected(fd, &iov, 1);
	} else {
		rc = 0;
	}
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return tw_gate_sendto(fd, buf, len, flags, sa, salen);
}

TW_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	if (shim_fd_flags(fd) & (SHIM_FD_DNS | SHIM_FD_PENDING)) {
		struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
		int rc = check_connected(fd, &iov, 1);
		if (rc < 0) {
			errno = -rc;
			return -1;
		}
	}
	return tw_libc()->send(fd, buf, len, flags);
}

TW_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	int rc = 0;
	if (msg && is_inet(msg->msg_name, msg->msg_namelen)) {
		rc = check_addressed(fd, msg->msg_name, msg->msg_namelen, msg->msg_iov, msg->msg_iovlen, &flags);
		if (rc == 1) {
			struct msghdr m = *msg;
			m.msg_name = NULL;
			m.msg_namelen = 0;
			return tw_gate_sendmsg(fd, &m, flags);
		}
	} else if (msg && msg->msg_name == NULL) {
		rc = check_connected(fd, msg->msg_iov, msg->msg_iovlen);
	}
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return tw_gate_sendmsg(fd, msg, flags);
}

TW_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, tw_mmsg_flags flags)
{
	/* Every message is checked before any is sent: a batch is refused whole. */
	bool stream = false, stream_known = false;
	for (unsigned i = 0; vec && i < vlen; i++) {
		const struct msghdr *m = &vec[i].msg_hdr;
		int rc = 0;
		if (is_inet(m->msg_name, m->msg_namelen)) {
			if (!stream_known)
				stream = is_stream(fd), stream_known = true;
			if (stream && (flags & MSG_FASTOPEN))
				rc = -EOPNOTSUPP; /* Fast Open in a batch: nobody does it, and we could not route it */
			else if (!stream)
				rc = shim_check_datagram(fd, m->msg_name, m->msg_namelen, m->msg_iov, m->msg_iovlen);
		} else if (m->msg_name == NULL) {
			rc = check_connected(fd, m->msg_iov, m->msg_iovlen);
		}
		if (rc < 0) {
			errno = -rc;
			return -1;
		}
	}
	return tw_gate_sendmmsg(fd, vec, vlen, (int)flags);
}

ssize_t shim_hook_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa, socklen_t l)
	TW_HOOK_ALIAS(sendto);
ssize_t shim_hook_sendmsg(int fd, const struct msghdr *msg, int flags) TW_HOOK_ALIAS(sendmsg);
int shim_hook_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, tw_mmsg_flags flags) TW_HOOK_ALIAS(sendmmsg);
