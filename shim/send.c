/* send.c: send, sendto, sendmsg, sendmmsg (and __send): the paths by which a packet can leave without connect().
 *
 * - A datagram with a destination address follows the datagram rule (allowed destinations only: Tor carries
 *   no UDP), decided on what the kernel will read of the address (route_datagram_dest: AF_UNSPEC is AF_INET on
 *   an IPv4 socket), and a query to a nameserver goes out rebuilt from its question (dnsguard.c).
 * - TCP Fast Open (MSG_FASTOPEN with an address) connects without connect(): it becomes our connect() followed
 *   by an ordinary send, so it can never bypass the proxy. Without it, TCP ignores the address: none is passed.
 * - A send on a socket connected to a nameserver is a query, rewritten; on a socket whose connect through Tor
 *   is pending, the SOCKS request goes first (pending.c); anything else passes straight through.
 *
 * What is decided is what is sent: the address (and the message header) are copied before the decision and the
 * copies go to the kernel, so a thread of the program rewriting them in between changes nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "shim.h"

#define MMSG_ON_STACK 8
#define SHIM_CONTROL_MAX 65536 /* the kernel's own limit on ancillary data (sysctl optmem_max) is smaller */

static int sock_option(int fd, int option)
{
	int v = -1;
	socklen_t len = sizeof(v);
	return tw_libc()->getsockopt(fd, SOL_SOCKET, option, &v, &len) == 0 ? v : -1;
}

/* What to do with one message. */
enum plan {
	PLAN_AS_GIVEN, /* send it with the copied address */
	PLAN_NO_ADDRESS, /* a stream: without the address (Fast Open's connect done, or an address TCP ignores) */
	PLAN_CONNECTED, /* no destination: the connected socket's path */
	PLAN_REWRITTEN, /* a query to a nameserver: the rebuilt bytes, to the copied address */
	PLAN_SUPERVISED, /* allowed only by the shared map: without the cookie, for the supervisor to decide */
};

/* Where a message with the address COPY (LEN bytes, copied) may go on FD, and how. OUT (SHIM_DNS_DATAGRAM_MAX)
 * receives a rewritten query. Returns a plan, or a negative errno (logged where it is a refusal). */
static int plan_addressed(int fd, const struct sockaddr_storage *copy, socklen_t len, const struct iovec *iov,
			  size_t iovcnt, int *flags, uint8_t *out, size_t *outlen)
{
	int family = copy->ss_family;
	int domain = family == AF_INET || family == AF_INET6 ? family : sock_option(fd, SO_DOMAIN);
	if (domain != AF_INET && domain != AF_INET6)
		return PLAN_AS_GIVEN; /* AF_UNIX, netlink: the kernel reads our copy */
	if (sock_option(fd, SO_TYPE) == SOCK_STREAM) {
		if (!(*flags & MSG_FASTOPEN))
			return PLAN_NO_ADDRESS; /* the kernel ignores the address of a stream */
		int rc = shim_connect(fd, (const struct sockaddr *)copy, len);
		if (rc < 0)
			return rc;
		*flags &= ~MSG_FASTOPEN;
		return PLAN_NO_ADDRESS;
	}
	struct resolver_addr a;
	uint16_t port;
	int rc = route_datagram_dest(domain, (const struct sockaddr *)copy, len, &a, &port);
	if (rc <= 0)
		return rc == 0 ? PLAN_CONNECTED : rc;
	rc = shim_check_datagram(&a, port, iov, iovcnt, out, outlen);
	return rc < 0 ? rc : rc == SHIM_DNS_REWRITTEN ? PLAN_REWRITTEN : rc == SHIM_SEND_SUPERVISED ? PLAN_SUPERVISED
											       : PLAN_AS_GIVEN;
}

/* The copy of the program's address SA (SALEN bytes) the kernel will get: more than a sockaddr_storage is the
 * kernel's EINVAL. 0 or a negative errno. */
static int copy_address(const struct sockaddr *sa, socklen_t salen, struct sockaddr_storage *copy)
{
	if (salen > sizeof(*copy))
		return -EINVAL;
	memset(copy, 0, sizeof(*copy));
	memcpy(copy, sa, salen);
	return 0;
}

/* A send on FD with no destination of its own: a DNS query rewritten, a pending request sent first. Returns
 * SHIM_DNS_AS_IS to send as the program asked, or the call's result (the count, or a negative errno). */
static ssize_t send_connected(int fd, const struct iovec *iov, size_t iovcnt, int flags)
{
	unsigned known = shim_fd_flags(fd);
	if (known & SHIM_FD_PENDING) { /* a connect through Tor: its request goes first (pending.c) */
		int rc = shim_pending_before_io(fd, false, false);
		if (rc < 0)
			return rc;
	}
	if (!(known & SHIM_FD_DNS))
		return SHIM_DNS_AS_IS;
	return shim_dns_send(fd, iov, iovcnt, flags);
}

static ssize_t result(ssize_t r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

TW_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa,
			 socklen_t salen)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct sockaddr_storage copy;
	uint8_t out[SHIM_DNS_DATAGRAM_MAX];
	size_t outlen = 0;
	int plan = PLAN_CONNECTED;
	if (sa != NULL && salen >= sizeof(sa_family_t)) {
		int rc = copy_address(sa, salen, &copy);
		plan = rc < 0 ? rc : plan_addressed(fd, &copy, salen, &iov, 1, &flags, out, &outlen);
	} else if (sa != NULL) {
		return tw_libc()->sendto(fd, buf, len, flags, sa, salen); /* too short to name anything: EINVAL */
	}
	switch (plan) {
	case PLAN_AS_GIVEN:
		return tw_gate_sendto(fd, buf, len, flags, (struct sockaddr *)&copy, salen);
	case PLAN_SUPERVISED: {
		struct msghdr m = { .msg_name = &copy, .msg_namelen = salen, .msg_iov = &iov, .msg_iovlen = 1 };
		return shim_sendmsg_supervised(fd, &m, flags);
	}
	case PLAN_REWRITTEN:
		if (tw_gate_sendto(fd, out, outlen, flags, (struct sockaddr *)&copy, salen) < 0)
			return -1;
		return (ssize_t)len;
	case PLAN_NO_ADDRESS:
	case PLAN_CONNECTED: {
		ssize_t r = send_connected(fd, &iov, 1, flags);
		if (r != SHIM_DNS_AS_IS)
			return result(r);
		/* AF_UNSPEC on an IPv6 socket names the connected peer: the copy says so to the kernel as well */
		return plan == PLAN_CONNECTED && sa ? tw_gate_sendto(fd, buf, len, flags, (struct sockaddr *)&copy, salen)
						    : tw_libc()->sendto(fd, buf, len, flags, NULL, 0);
	}
	default:
		return result(plan);
	}
}

TW_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	if (shim_fd_flags(fd) & (SHIM_FD_DNS | SHIM_FD_PENDING)) {
		struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
		ssize_t r = send_connected(fd, &iov, 1, flags);
		if (r != SHIM_DNS_AS_IS)
			return result(r);
	}
	return tw_libc()->send(fd, buf, len, flags);
}

/* One message of sendmsg or sendmmsg, decided on copies: M (a copy of the program's header) gets the copied
 * address, or none, or the rewritten query (in OUT/IOV). Returns a plan, or a negative errno. */
static int plan_message(int fd, struct msghdr *m, struct sockaddr_storage *copy, int *flags, uint8_t *out,
			struct iovec *rewritten)
{
	if (m->msg_controllen > 0) { /* decided on a copy, which the kernel then reads */
		if (m->msg_control == NULL || m->msg_controllen > SHIM_CONTROL_MAX)
			return -ENOBUFS;
		void *ctl = malloc(m->msg_controllen);
		if (ctl == NULL)
			return -ENOMEM;
		memcpy(ctl, m->msg_control, m->msg_controllen);
		m->msg_control = ctl;
		if (route_control_reroutes(ctl, m->msg_controllen))
			return -EPERM; /* logged by the engine */
	}
	if (m->msg_name == NULL || m->msg_namelen == 0) {
		m->msg_name = NULL;
		m->msg_namelen = 0;
		return PLAN_CONNECTED;
	}
	if (m->msg_namelen < sizeof(sa_family_t))
		return PLAN_AS_GIVEN; /* the kernel's EINVAL, on our copy */
	int rc = copy_address(m->msg_name, m->msg_namelen, copy);
	if (rc < 0)
		return rc;
	m->msg_name = copy;
	size_t outlen = 0;
	int plan = plan_addressed(fd, copy, m->msg_namelen, m->msg_iov, m->msg_iovlen, flags, out, &outlen);
	if (plan == PLAN_NO_ADDRESS) {
		m->msg_name = NULL;
		m->msg_namelen = 0;
	} else if (plan == PLAN_REWRITTEN) {
		*rewritten = (struct iovec){ .iov_base = out, .iov_len = outlen };
		m->msg_iov = rewritten;
		m->msg_iovlen = 1;
	}
	return plan;
}

static size_t iov_total(const struct iovec *iov, size_t n)
{
	size_t t = 0;
	for (size_t i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

TW_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (msg == NULL)
		return tw_gate_sendmsg(fd, msg, flags);
	struct msghdr m = *msg;
	m.msg_controllen = msg->msg_control ? msg->msg_controllen : 0;
	struct sockaddr_storage copy;
	uint8_t out[SHIM_DNS_DATAGRAM_MAX];
	struct iovec rewritten;
	int plan = plan_message(fd, &m, &copy, &flags, out, &rewritten);
	ssize_t r = SHIM_DNS_AS_IS;
	if (plan < 0)
		r = plan;
	else if (plan == PLAN_CONNECTED || plan == PLAN_NO_ADDRESS)
		r = send_connected(fd, msg->msg_iov, msg->msg_iovlen, flags);
	if (r == SHIM_DNS_AS_IS) {
		r = plan == PLAN_SUPERVISED ? shim_sendmsg_supervised(fd, &m, flags) : tw_gate_sendmsg(fd, &m, flags);
		r = r < 0 ? -errno : plan == PLAN_REWRITTEN ? (ssize_t)iov_total(msg->msg_iov, msg->msg_iovlen) : r;
	}
	if (m.msg_control != msg->msg_control)
		free(m.msg_control);
	return result(r);
}

/* sendmmsg on a socket connected to a nameserver: each message is a query, rewritten and sent on its own. */
static int sendmmsg_dns(int fd, struct mmsghdr *vec, unsigned vlen, int flags)
{
	unsigned sent = 0;
	for (; sent < vlen; sent++) {
		ssize_t r = shim_dns_send(fd, vec[sent].msg_hdr.msg_iov, vec[sent].msg_hdr.msg_iovlen, flags);
		if (r < 0)
			return sent ? (int)sent : (int)result(r);
		vec[sent].msg_len = (unsigned)r;
	}
	return (int)sent;
}

/* Every message is checked before any is sent (a batch is refused whole), each on copies of its header and
 * address; the kernel gets the copies, and the lengths sent go back into the program's vector. */
static int sendmmsg_checked(int fd, struct mmsghdr *vec, unsigned vlen, int flags, struct mmsghdr *mine,
			    struct sockaddr_storage *copies, uint8_t (*outs)[SHIM_DNS_DATAGRAM_MAX], struct iovec *iovs)
{
	bool connected = false, supervised = false;
	int rc = 0;
	unsigned planned = 0;
	for (; planned < vlen && rc == 0; planned++) {
		mine[planned] = vec[planned];
		struct msghdr *m = &mine[planned].msg_hdr;
		m->msg_controllen = m->msg_control ? m->msg_controllen : 0;
		int f = flags;
		int plan = plan_message(fd, m, &copies[planned], &f, outs[planned], &iovs[planned]);
		if (plan < 0)
			rc = plan;
		else if (f != flags)
			rc = -EOPNOTSUPP; /* Fast Open in a batch: nobody does it, and we could not route it */
		connected |= plan == PLAN_CONNECTED || plan == PLAN_NO_ADDRESS;
		supervised |= plan == PLAN_SUPERVISED;
	}
	if (rc == 0 && connected && (shim_fd_flags(fd) & SHIM_FD_PENDING))
		rc = shim_pending_before_io(fd, false, false);
	int n;
	if (rc < 0) {
		n = (int)result(rc);
	} else if (connected && (shim_fd_flags(fd) & SHIM_FD_DNS)) {
		n = sendmmsg_dns(fd, vec, vlen, flags);
	} else {
		n = supervised ? (int)tw_libc()->syscall(SYS_sendmmsg, (long)fd, (long)mine, (long)vlen, (long)flags, 0L)
			       : tw_gate_sendmmsg(fd, mine, vlen, flags);
		for (int i = 0; i < n; i++) /* a rewritten query counts as the program's message */
			vec[i].msg_len = mine[i].msg_hdr.msg_iov == &iovs[i]
						 ? (unsigned)iov_total(vec[i].msg_hdr.msg_iov, vec[i].msg_hdr.msg_iovlen)
						 : mine[i].msg_len;
	}
	for (unsigned i = 0; i < planned; i++)
		if (mine[i].msg_hdr.msg_control != vec[i].msg_hdr.msg_control)
			free(mine[i].msg_hdr.msg_control);
	return n;
}

TW_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, tw_mmsg_flags flags)
{
	if (vec == NULL || vlen == 0)
		return tw_gate_sendmmsg(fd, vec, vlen, (int)flags);
	if (vlen > UIO_MAXIOV)
		vlen = UIO_MAXIOV; /* as the kernel */
	struct mmsghdr mine_s[MMSG_ON_STACK];
	struct sockaddr_storage copies_s[MMSG_ON_STACK];
	uint8_t outs_s[MMSG_ON_STACK][SHIM_DNS_DATAGRAM_MAX];
	struct iovec iovs_s[MMSG_ON_STACK];
	if (vlen <= MMSG_ON_STACK)
		return sendmmsg_checked(fd, vec, vlen, (int)flags, mine_s, copies_s, outs_s, iovs_s);
	struct mmsghdr *mine = calloc(vlen, sizeof(*mine));
	struct sockaddr_storage *copies = calloc(vlen, sizeof(*copies));
	uint8_t(*outs)[SHIM_DNS_DATAGRAM_MAX] = calloc(vlen, sizeof(*outs));
	struct iovec *iovs = calloc(vlen, sizeof(*iovs));
	int n = mine && copies && outs && iovs ? sendmmsg_checked(fd, vec, vlen, (int)flags, mine, copies, outs, iovs)
					       : (int)result(-ENOMEM);
	free(mine);
	free(copies);
	free(outs);
	free(iovs);
	return n;
}

ssize_t shim_hook_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa, socklen_t l)
	TW_HOOK_ALIAS(sendto);
ssize_t shim_hook_sendmsg(int fd, const struct msghdr *msg, int flags) TW_HOOK_ALIAS(sendmsg);
/* glibc's own name for send, exported: the same path. */
ssize_t __send(int fd, const void *buf, size_t len, int flags) TW_EXPORT_ALIAS(send);
int shim_hook_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, tw_mmsg_flags flags) TW_HOOK_ALIAS(sendmmsg);
