/* route_setup.h: the routing engine as both front ends build it, for the targets that go through it. The
 * policy is the test stack's (tests/integration/lib.sh and docs/policy.example's kinds of rules), the hosts text
 * pins a few names, there is no nameserver (allowed names resolve from hosts or fail at once: no packet), and
 * the virtual range is small (/20) so that the map fills and its full-map path is fuzzed too. */
#ifndef TORWRAP_FUZZ_ROUTE_SETUP_H
#define TORWRAP_FUZZ_ROUTE_SETUP_H

#include "../../route/route.h"
#include "fuzz.h"

static const char fuzz_policy_text[] = "# the stack\n"
				       "tron-wallet-manager\n"
				       "lucid-mongodb port 27017\n"
				       ".internal.test\n"
				       "172.20.1.91-98\n"
				       "10.0.0.0/8 port 80,443,8000-8100\n"
				       "refuse 198.51.100.66\n"
				       "refuse blocked.example.com\n"
				       "tor .onion\n";
static const char fuzz_hosts_text[] = "127.0.0.1 localhost\n"
				      "172.20.1.93 tron-wallet-manager\n"
				      "10.9.9.9 pinned.example.com\n"
				      "2001:db8::9 pinned6.example.com\n";

static struct tw_config fuzz_cfg;
static struct resolver_conf fuzz_ns;
static _Atomic uint64_t fuzz_seq;
static struct route_ctx fuzz_ctx;

static const char *fuzz_route_env(const char *name, void *ctx)
{
	if (strcmp(name, "TORWRAP_VIRTUAL_NET") == 0)
		return "127.192.0.0/20";
	return fuzz_env_files_empty(name, ctx);
}

static const struct route_ctx *fuzz_route(void)
{
	static int ready;
	if (ready)
		return &fuzz_ctx;
	char err[256];
	if (config_build(&fuzz_cfg, fuzz_route_env, NULL) != 0 || fuzz_cfg.broken ||
	    policy_parse_text(&fuzz_cfg.rules, fuzz_policy_text, "fuzz.policy", err, sizeof(err)) != 0)
		abort();
	free(fuzz_cfg.hosts_text);
	fuzz_cfg.hosts_text = strdup(fuzz_hosts_text);
	tw_log_set_level(TW_LOG_NONE);
	memset(&fuzz_ns, 0, sizeof(fuzz_ns));
	fuzz_ctx = (struct route_ctx){ .cfg = &fuzz_cfg, .ns = &fuzz_ns, .io = &socks5_default_io, .conn_seq = &fuzz_seq };
	if (fuzz_cfg.hosts_text == NULL || vaddr_attach(fuzz_cfg.vnet_addr, fuzz_cfg.vnet_mask) != 0)
		abort();
	ready = 1;
	return &fuzz_ctx;
}

#endif
