/* connect.c: connect(): the decision point for every TCP and UDP destination.
 *
 * AF_UNIX and other families pass straight through. Virtual addresses are names: they go to the proxy by name
 * (SOCKS5 ATYP 3). Other addresses follow policy, refined by the allowed name an address was resolved from:
 * direct, through the proxy by address, or refused. Tor carries only TCP, so a datagram socket may only reach
 * direct destinations. A socket connected to a nameserver is answered by torwrap's DNS responder under the
 * wrapper, or else marked so the queries written to it are inspected (dnsguard.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>

#include "shim.h"

static int sock_type(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);
	if (tw_libc()->getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
		return -1;
	return type;
}

/* Is FD connected to the proxy, as our connect left it (not a descriptor reused since)? */
static bool connected_through_proxy(int fd)
{
	struct sockaddr_storage dest, proxy, now;
	socklen_t len = sizeof(now);
	return shim_fd_get_peer(fd, &dest, &proxy) == 0 &&
	       tw_libc()->getpeername(fd, (struct sockaddr *)&now, &len) == 0 && shim_same_endpoint(&now, &proxy);
}

/* The connect as the kernel's filter sees a program's own: under torwrap's filter, handed to the supervisor. */
int shim_connect_supervised(int fd, const struct sockaddr *sa, socklen_t len)
{
	return (int)tw_libc()->syscall(SYS_connect, (long)fd, (long)sa, (long)len, 0L);
}

ssize_t shim_sendmsg_supervised(int fd, const struct msghdr *msg, int flags)
{
	return (ssize_t)tw_libc()->syscall(SYS_sendmsg, (long)fd, (long)msg, (long)flags, 0L);
}

enum policy_verdict shim_decide_addr(const struct sockaddr *sa, socklen_t len, char name[TW_NAME_MAX],
				     struct policy_reason *why)
{
	struct route_caller who;
	return route_decide_addr_why(shim_route(), shim_caller(&who, false), sa, len, name, why);
}

int shim_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	char name[TW_NAME_MAX];
	struct resolver_addr a;
	uint16_t port;
	char text[INET6_ADDRSTRLEN];
	if (route_sockaddr_split(sa, len, &a, &port) != 0)
		return tw_gate_connect(fd, sa, len) == 0 ? 0 : -errno; /* too short for the kernel too: EINVAL */

	unsigned known = shim_fd_flags(fd);
	if (known & SHIM_FD_PENDING) { /* connect() again to learn how the first one went */
		int rc = shim_pending_connect_again(fd);
		if (rc <= 0)
			return rc;
	} else if ((known & SHIM_FD_PROXIED) && connected_through_proxy(fd)) {
		return -EISCONN; /* as the kernel says on a connected socket, without a new trip to the proxy */
	}
	shim_fd_clear(fd, SHIM_FD_ANSWERED); /* connected anew: whatever it was, it is decided now */
	struct policy_reason why;
	enum policy_verdict v = shim_decide_addr(sa, len, name, &why);
	if (v == POLICY_REFUSE)
		return -EPERM;
	char dest[ROUTE_DEST_MAX], rule[ROUTE_RULE_MAX];
	if (v == POLICY_DIRECT) {
		if (tw_log_event_level() >= TW_LOG_INFO)
			tw_log_event(TW_LOG_INFO,
				     TW_EVENT("connect", route_direct_dest_text(&a, port, dest, sizeof(dest)), "direct",
					      route_rule_text(shim_route(), &why, rule, sizeof(rule))),
				     "connect %s:%u: direct", shim_addr_text(&a, text, sizeof(text)), port);
		shim_fd_clear(fd, SHIM_FD_DNS | SHIM_FD_DNS_LENGTH | SHIM_FD_PROXIED);
		if (shim_is_nameserver(sa, len))
			return shim_dns_connect(fd, sa, len);
		/* Direct only because the shared map says an allowed name resolved to it: the program can write that
		 * map, so under torwrap the supervisor, which keeps its own, decides again. */
		if (why.learned && shim_supervised())
			return shim_connect_supervised(fd, sa, len) == 0 ? 0 : -errno;
		return tw_gate_connect(fd, sa, len) == 0 ? 0 : -errno;
	}
	if (sock_type(fd) != SOCK_STREAM) {
		struct tw_event ev = TW_EVENT("connect", route_dest_text(&a, name, port, dest, sizeof(dest)), "refuse",
					      route_rule_text(shim_route(), &why, rule, sizeof(rule)));
		ev.err = EPERM;
		tw_log_event(TW_LOG_ERROR, ev, "connect %s:%u refused: only TCP can go through Tor",
			     name[0] ? name : shim_addr_text(&a, text, sizeof(text)), port);
		return -EPERM;
	}
	struct socks5_target t;
	route_target(&a, port, name, &t);
	int flags = fcntl(fd, F_GETFL);
	bool nonblocking = flags >= 0 && (flags & O_NONBLOCK);
	if (nonblocking || shim_config()->optimistic) /* the program does not wait for Tor (pending.c) */
		return shim_proxy_start(fd, &t, sa, len, !nonblocking);
	return shim_proxy_connect(fd, &t, sa, len);
}

TW_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	/* Decided on a copy, and the copy is what the kernel gets: a thread of the program rewriting the address
	 * in between changes nothing. */
	struct sockaddr_storage copy;
	if (sa == NULL || len < sizeof(sa_family_t) || len > sizeof(copy))
		return tw_gate_connect(fd, sa, len); /* the kernel's EFAULT or EINVAL: nothing it could connect */
	memcpy(&copy, sa, len);
	if (copy.ss_family != AF_INET && copy.ss_family != AF_INET6)
		return tw_gate_connect(fd, (struct sockaddr *)&copy, len);
	int rc = shim_connect(fd, (struct sockaddr *)&copy, len);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

int shim_hook_connect(int fd, const struct sockaddr *sa, socklen_t len) TW_HOOK_ALIAS(connect);
/* glibc's own name for connect, exported: the same path. */
int __connect(int fd, const struct sockaddr *sa, socklen_t len) TW_EXPORT_ALIAS(connect);
