/* connect.c: connect(): the decision point for every TCP and UDP destination.
 *
 * AF_UNIX and other families pass straight through. Virtual addresses are names: they go to the proxy by name
 * (SOCKS5 ATYP 3). Other addresses follow policy: direct, through the proxy by address, or refused. Tor
 * carries only TCP, so a datagram socket may only reach direct destinations.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "shim.h"

static int sock_type(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
		return -1;
	return type;
}

static void sockaddr_to_addr(const struct sockaddr *sa, struct resolver_addr *a, uint16_t *port)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
		a->family = AF_INET;
		memcpy(a->addr, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		a->family = AF_INET6;
		memcpy(a->addr, &sin6->sin6_addr, 16);
		*port = ntohs(sin6->sin6_port);
	}
}

/* A virtual address: the connection is to a name. */
static int connect_virtual(int fd, const char *name, uint16_t port)
{
	const struct tw_config *cfg = shim_config();
	int type = sock_type(fd);
	if (type != SOCK_STREAM) {
		tw_error("connect %s:%u refused: only TCP can go through Tor", name, port);
		return -EPERM;
	}
	enum policy_verdict v = policy_decide_name(cfg, name, port);
	if (v == POLICY_REFUSE) {
		tw_error("connect %s:%u refused by policy%s%s", name, port, cfg->broken ? ": " : "",
			 cfg->broken ? cfg->broken_reason : "");
		return -EPERM;
	}
	if (v == POLICY_DIRECT) {
		/* Only when an allowed name reached us virtual (a parent with another policy): never to Tor. */
		tw_error("connect %s:%u refused: an allowed name behind a virtual address", name, port);
		return -EPERM;
	}
	struct socks5_target t = { .atyp = 3, .name = name, .port = port };
	return shim_proxy_connect(fd, &t);
}

static int connect_routed(int fd, const struct sockaddr *sa, socklen_t len)
{
	const struct tw_config *cfg = shim_config();
	struct resolver_addr a;
	uint16_t port;
	char text[INET6_ADDRSTRLEN];
	if ((sa->sa_family == AF_INET && len < sizeof(struct sockaddr_in)) ||
	    (sa->sa_family == AF_INET6 && len < sizeof(struct sockaddr_in6)))
		return tw_libc()->connect(fd, sa, len) == 0 ? 0 : -errno; /* let the kernel say EINVAL */
	sockaddr_to_addr(sa, &a, &port);

	char name[TW_NAME_MAX];
	uint32_t v4;
	bool virtual_range = false;
	if (a.family == AF_INET)
		memcpy(&v4, a.addr, 4), virtual_range = policy_is_virtual_v4(cfg, v4);
	else if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a.addr))
		memcpy(&v4, a.addr + 12, 4), virtual_range = policy_is_virtual_v4(cfg, v4);
	if (virtual_range) {
		if (shim_virtual_name(&a, name) != 0) {
			tw_error("connect %s:%u refused: a virtual address this process never handed out",
				 shim_addr_text(&a, text, sizeof(text)), port);
			return -ECONNREFUSED;
		}
		return connect_virtual(fd, name, port);
	}

	enum policy_verdict v = policy_decide_addr(cfg, sa, len);
	if (v != POLICY_REFUSE && vaddr_direct_name(a.family, a.addr, name) == 0) {
		/* The address came from an allowed name: that name's rules (its ports) decide, and an internal
		 * address is never handed to Tor. */
		enum policy_verdict by_name = policy_decide_name(cfg, name, port);
		if (by_name == POLICY_DIRECT || (by_name == POLICY_TOR && v == POLICY_DIRECT))
			v = POLICY_DIRECT;
		else
			v = POLICY_REFUSE;
		if (v == POLICY_REFUSE) {
			tw_error("connect %s:%u (%s) refused by policy", name, port,
				 shim_addr_text(&a, text, sizeof(text)));
			return -EPERM;
		}
	}
	if (v == POLICY_DIRECT) {
		if (tw_log_get_level() >= TW_LOG_INFO)
			tw_info("connect %s:%u: direct", shim_addr_text(&a, text, sizeof(text)), port);
		return tw_libc()->connect(fd, sa, len) == 0 ? 0 : -errno;
	}
	shim_addr_text(&a, text, sizeof(text));
	if (v == POLICY_REFUSE) {
		tw_error("connect %s:%u refused by policy%s%s", text, port, cfg->broken ? ": " : "",
			 cfg->broken ? cfg->broken_reason : "");
		return -EPERM;
	}
	int type = sock_type(fd);
	if (type != SOCK_STREAM) {
		tw_error("connect %s:%u refused: only TCP can go through Tor", text, port);
		return -EPERM;
	}
	struct socks5_target t = { .port = port };
	if (a.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a.addr)) {
		t.atyp = 1;
		memcpy(t.addr, a.addr + 12, 4);
	} else if (a.family == AF_INET) {
		t.atyp = 1;
		memcpy(t.addr, a.addr, 4);
	} else {
		t.atyp = 4;
		memcpy(t.addr, a.addr, 16);
	}
	return shim_proxy_connect(fd, &t);
}

TW_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (sa == NULL || len < sizeof(sa_family_t) || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return tw_libc()->connect(fd, sa, len);
	int rc = connect_routed(fd, sa, len);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}
