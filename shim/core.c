/* core.c: the pieces every hook shares: configuration on first use and the library's context for the routing
 * engine (route/), through which names are resolved and addresses decided. No exported symbol lives here; the
 * hooks are in their own files.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

static const struct tw_config *shim_cfg;
static struct resolver_conf shim_ns; /* resolv.conf's nameservers, parsed once with the configuration */
static _Atomic uint64_t shim_conn_seq; /* a forked child starts from its parent's count; its pid differs */
static struct route_ctx shim_ctx;
static pthread_once_t shim_once = PTHREAD_ONCE_INIT;

static void shim_init(void)
{
	const struct tw_config *cfg = config_get();
	if (resolver_parse_resolv_conf(cfg->resolv_text ? cfg->resolv_text : "", &shim_ns) != 0)
		memset(&shim_ns, 0, sizeof(shim_ns)); /* c-ares reports the bad line when it is used */
	int rc = vaddr_attach(cfg->vnet_addr, cfg->vnet_mask);
	if (rc < 0) {
		struct tw_event ev = TW_EVENT("config", NULL, NULL, NULL);
		ev.err = -rc;
		tw_log_event(TW_LOG_ERROR, ev,
			     "virtual address map unavailable (%s): names routed through Tor will fail", strerror(-rc));
	}
	shim_ctx = (struct route_ctx){
		.cfg = cfg,
		.ns = &shim_ns,
		.io = &socks5_default_io,
		.connect = tw_gate_connect,
		.conn_seq = &shim_conn_seq,
		.ask_virtual = cfg->strict && shim_strict_supervised(), /* the supervisor's responder hands them out */
	};
	shim_cfg = cfg;
}

const struct tw_config *shim_config(void)
{
	pthread_once(&shim_once, shim_init);
	return shim_cfg;
}

const struct route_ctx *shim_route(void)
{
	shim_config();
	return &shim_ctx;
}

const struct route_caller *shim_caller(struct route_caller *who, bool with_pid)
{
	who->pid = with_pid ? (long)getpid() : 0; /* a system call: only for the isolation token */
	who->prefix = "";
	return who;
}

const char *shim_addr_text(const struct resolver_addr *addr, char *buf, size_t len)
{
	return route_addr_text(addr, buf, len);
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

int shim_lookup(const char *name, uint16_t port, int family, struct resolver_addr *out, int max)
{
	return route_lookup(shim_route(), name, port, family, out, max);
}

int shim_virtual_name(const struct resolver_addr *addr, char name[TW_NAME_MAX])
{
	return route_virtual_name(shim_route(), addr, name);
}

int shim_reverse(const struct resolver_addr *addr, char name[TW_NAME_MAX])
{
	return route_reverse(shim_route(), addr, name);
}
