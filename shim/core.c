/* core.c: the pieces every hook shares: configuration on first use, name resolution as torwrap routes it,
 * leak-free reverse lookups. No exported symbol lives here; the hooks are in their own files.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "shim.h"

static const struct tw_config *shim_cfg;
static struct resolver_conf shim_ns; /* resolv.conf's nameservers, parsed once with the configuration */
static pthread_once_t shim_once = PTHREAD_ONCE_INIT;

static void shim_init(void)
{
	const struct tw_config *cfg = config_get();
	if (resolver_parse_resolv_conf(cfg->resolv_text ? cfg->resolv_text : "", &shim_ns) != 0)
		memset(&shim_ns, 0, sizeof(shim_ns)); /* c-ares reports the bad line when it is used */
	int rc = vaddr_attach(cfg->vnet_addr, cfg->vnet_mask);
	if (rc < 0)
		tw_error("virtual address map unavailable (%s): names routed through Tor will fail", strerror(-rc));
	shim_cfg = cfg;
}

const struct tw_config *shim_config(void)
{
	pthread_once(&shim_once, shim_init);
	return shim_cfg;
}

const struct resolver_conf *shim_nameservers(void)
{
	shim_config();
	return &shim_ns;
}

const char *shim_addr_text(const struct resolver_addr *addr, char *buf, size_t len)
{
	if (inet_ntop(addr->family, addr->addr, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

bool shim_is_numeric_host(const char *text)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[INET6_ADDRSTRLEN + 64];
	if (inet_aton(text, &a4) != 0)
		return true;
	/* IPv6 with an optional %scope, as getaddrinfo accepts. */
	size_t n = strcspn(text, "%");
	if (n >= sizeof(buf))
		return false;
	memcpy(buf, text, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, &a6) == 1;
}

static void make_virtual(uint32_t v4, int family, struct resolver_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET6) {
		out->family = AF_INET6;
		out->addr[10] = 0xff;
		out->addr[11] = 0xff;
		memcpy(out->addr + 12, &v4, 4);
	} else {
		out->family = AF_INET;
		memcpy(out->addr, &v4, 4);
	}
}

int shim_lookup(const char *name_in, int family, struct resolver_addr *out, int max)
{
	const struct tw_config *cfg = shim_config();
	char name[TW_NAME_MAX];
	if (max < 1)
		return -ENOSPC;
	if (tw_name_normalize(name_in, name) < 0)
		return -ENOENT; /* not a host name: nothing we could route, and libc must not see it either */

	enum policy_verdict v = policy_decide_name(cfg, name, 0);
	if (v == POLICY_REFUSE) {
		char why[sizeof(cfg->broken_reason) + 32];
		tw_error("lookup of %s refused by policy%s", name, policy_refusal_why(cfg, name, why, sizeof(why)));
		return -EPERM;
	}
	if (v == POLICY_DIRECT) {
		int n = resolver_local_lookup(cfg->resolv_text, cfg->hosts_text, name, family, out, max);
		tw_info("lookup %s: direct, %s", name, n > 0 ? "resolved locally" : strerror(-n));
		for (int i = 0; i < n; i++) {
			/* connect() sees only the address: it must know the address belongs to an allowed name. */
			if (vaddr_remember_direct(out[i].family, out[i].addr, name) < 0) {
				tw_error("lookup of %s failed: the table of internal addresses is full", name);
				return -EAGAIN;
			}
		}
		return n;
	}
	if (!tw_name_is_onion(name)) {
		/* The hosts file sends no packet, and an operator's entries there are meant to be honoured. */
		int n = resolver_parse_hosts(cfg->hosts_text ? cfg->hosts_text : "", name, family, out, max);
		if (n > 0) {
			tw_info("lookup %s: from hosts file", name);
			return n;
		}
	}
	uint32_t v4;
	int rc = vaddr_lookup_name(name, &v4);
	if (rc < 0) {
		tw_error("lookup of %s failed: no virtual address (%s)", name, strerror(-rc));
		return rc == -ENOSPC ? -ENOSPC : -EAGAIN;
	}
	make_virtual(v4, family, out);
	if (tw_log_get_level() >= TW_LOG_INFO) {
		char buf[INET6_ADDRSTRLEN];
		tw_info("lookup %s: tor, virtual address %s", name, shim_addr_text(out, buf, sizeof(buf)));
	}
	return 1;
}

/* The IPv4 address inside ADDR (plain or v4-mapped), or false. */
static bool addr_v4(const struct resolver_addr *addr, uint32_t *v4)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (addr->family == AF_INET) {
		memcpy(v4, addr->addr, 4);
		return true;
	}
	if (addr->family == AF_INET6 && memcmp(addr->addr, mapped, 12) == 0) {
		memcpy(v4, addr->addr + 12, 4);
		return true;
	}
	return false;
}

int shim_virtual_name(const struct resolver_addr *addr, char name[TW_NAME_MAX])
{
	const struct tw_config *cfg = shim_config();
	uint32_t v4;
	if (!addr_v4(addr, &v4) || !policy_is_virtual_v4(cfg, v4))
		return -ENOENT;
	return vaddr_lookup_addr(v4, name) == 0 ? 0 : -ENOENT;
}

int shim_reverse(const struct resolver_addr *addr, char name[TW_NAME_MAX])
{
	const struct tw_config *cfg = shim_config();
	uint32_t v4;
	if (addr_v4(addr, &v4) && policy_is_virtual_v4(cfg, v4))
		return vaddr_lookup_addr(v4, name) == 0 ? 0 : -ENOENT;

	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (addr->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr->addr, 4);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr->addr, 16);
		len = sizeof(*sin6);
	}
	const char *hosts = cfg->hosts_text ? cfg->hosts_text : "";
	bool loopback = (addr_v4(addr, &v4) && (ntohl(v4) >> 24) == 127) ||
			(addr->family == AF_INET6 && IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)addr->addr));
	/* A PTR query reveals the address to whoever answers: only for internal addresses policy allows. */
	if (!loopback && policy_decide_addr(cfg, (struct sockaddr *)&ss, len) == POLICY_DIRECT)
		return resolver_local_reverse(cfg->resolv_text, hosts, addr, name) == 0 ? 0 : -ENOENT;
	return resolver_parse_hosts_reverse(hosts, addr, name);
}
