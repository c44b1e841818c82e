/* connect.c: connect(): the decision point for every TCP and UDP destination.
 *
 * AF_UNIX and other families pass straight through. Virtual addresses are names: they go to the proxy by name
 * (SOCKS5 ATYP 3). Other addresses follow policy, refined by the allowed name an address was resolved from:
 * direct, through the proxy by address, or refused. Tor carries only TCP, so a datagram socket may only reach
 * direct destinations. A socket connected to a nameserver is marked, so the queries written to it are
 * inspected (dig, Node's c-ares and other resolvers of their own).
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

static bool sockaddr_ok(const struct sockaddr *sa, socklen_t len)
{
	return sa != NULL && ((sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) ||
			      (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)));
}

enum policy_verdict shim_decide_addr(const struct sockaddr *sa, socklen_t len, char name[TW_NAME_MAX])
{
	const struct tw_config *cfg = shim_config();
	struct resolver_addr a;
	uint16_t port;
	char text[INET6_ADDRSTRLEN];
	char why[sizeof(cfg->broken_reason) + 32];
	name[0] = '\0';
	sockaddr_to_addr(sa, &a, &port);

	uint32_t v4;
	bool virtual_range = false;
	if (a.family == AF_INET) {
		memcpy(&v4, a.addr, 4);
		virtual_range = policy_is_virtual_v4(cfg, v4);
	} else if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)a.addr)) {
		memcpy(&v4, a.addr + 12, 4);
		virtual_range = policy_is_virtual_v4(cfg, v4);
	}
	if (virtual_range) {
		if (shim_virtual_name(&a, name) != 0) {
			tw_error("connect %s:%u refused: a virtual address this process never handed out",
				 shim_addr_text(&a, text, sizeof(text)), port);
			return POLICY_REFUSE;
		}
		enum policy_verdict v = policy_decide_name(cfg, name, port);
		if (v == POLICY_REFUSE)
			tw_error("connect %s:%u refused by policy%s", name, port,
				 policy_refusal_why(cfg, name, why, sizeof(why)));
		else if (v == POLICY_DIRECT) /* an allowed name that reached us virtual: never to Tor */
			tw_error("connect %s:%u refused: an allowed name behind a virtual address", name, port);
		return v == POLICY_TOR ? POLICY_TOR : POLICY_REFUSE;
	}

	enum policy_verdict v = policy_decide_addr(cfg, sa, len);
	char learned[TW_NAME_MAX];
	if (v != POLICY_REFUSE && vaddr_direct_name(a.family, a.addr, learned) == 0) {
		/* The address came from an allowed name: that name's rules (its ports) decide, and an internal
		 * address is never handed to Tor. */
		enum policy_verdict by_name = policy_decide_name(cfg, learned, port);
		v = (by_name == POLICY_DIRECT || (by_name == POLICY_TOR && v == POLICY_DIRECT)) ? POLICY_DIRECT
											: POLICY_REFUSE;
		if (v == POLICY_REFUSE)
			tw_error("connect %s:%u (%s) refused by policy", learned, port,
				 shim_addr_text(&a, text, sizeof(text)));
		return v;
	}
	if (v == POLICY_REFUSE)
		tw_error("connect %s:%u refused by policy%s", shim_addr_text(&a, text, sizeof(text)), port,
			 policy_refusal_why(cfg, NULL, why, sizeof(why)));
	return v;
}

int shim_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (!sockaddr_ok(sa, len))
		return tw_gate_connect(fd, sa, len) == 0 ? 0 : -errno; /* let the kernel say EINVAL */
	char name[TW_NAME_MAX];
	struct resolver_addr a;
	uint16_t port;
	char text[INET6_ADDRSTRLEN];
	sockaddr_to_addr(sa, &a, &port);

	enum policy_verdict v = shim_decide_addr(sa, len, name);
	if (v == POLICY_REFUSE)
		return -EPERM;
	if (v == POLICY_DIRECT) {
		if (tw_log_get_level() >= TW_LOG_INFO)
			tw_info("connect %s:%u: direct", shim_addr_text(&a, text, sizeof(text)), port);
		shim_fd_clear(fd, SHIM_FD_DNS | SHIM_FD_DNS_LENGTH | SHIM_FD_PROXIED);
		if (shim_is_nameserver(sa, len))
			shim_fd_set(fd, SHIM_FD_DNS);
		return tw_gate_connect(fd, sa, len) == 0 ? 0 : -errno;
	}
	if (sock_type(fd) != SOCK_STREAM) {
		tw_error("connect %s:%u refused: only TCP can go through Tor",
			 name[0] ? name : shim_addr_text(&a, text, sizeof(text)), port);
		return -EPERM;
	}
	struct socks5_target t = { .port = port };
	if (name[0]) {
		t.atyp = 3;
		t.name = name;
	} else if (a.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)a.addr)) {
		t.atyp = 1;
		memcpy(t.addr, a.addr + 12, 4);
	} else if (a.family == AF_INET) {
		t.atyp = 1;
		memcpy(t.addr, a.addr, 4);
	} else {
		t.atyp = 4;
		memcpy(t.addr, a.addr, 16);
	}
	return shim_proxy_connect(fd, &t, sa, len);
}

TW_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (sa == NULL || len < sizeof(sa_family_t) || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return tw_gate_connect(fd, sa, len);
	int rc = shim_connect(fd, sa, len);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

int shim_hook_connect(int fd, const struct sockaddr *sa, socklen_t len) TW_HOOK_ALIAS(connect);
