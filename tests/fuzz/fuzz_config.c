/* fuzz_config.c: the configuration from the environment (config_build_ex): the proxy variables (TORWRAP_PROXY,
 * TOR_PROXY_URL, SOCKS5_PROXY, TOR_PROXY_HOST, TOR_PROXY_SOCKS_PORT) and every other variable torwrap reads.
 * Input: the values, NUL-separated, in the order of VARS; a missing or empty value leaves the variable unset.
 * Files are /dev/null so that only the variables vary. */
#include "../../policy/policy.h"
#include "fuzz.h"

static const char *const vars[] = {
	"TORWRAP_PROXY", "TOR_PROXY_URL", "SOCKS5_PROXY", "TOR_PROXY_HOST", "TOR_PROXY_SOCKS_PORT",
	"TOR_CONNECTIVITY_TIMEOUT", "TORWRAP_VIRTUAL_NET", "TORWRAP_MODE", "TORWRAP_ISOLATION",
	"TOR_CIRCUIT_ROTATION_INTERVAL", "TORWRAP_OPTIMISTIC", "NO_PROXY", "no_proxy", "TORWRAP_LOG_LEVEL",
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

struct env {
	char *value[NVARS];
};

static const char *env_of(const char *name, void *ctx)
{
	const struct env *e = ctx;
	if (strcmp(name, "TORWRAP_POLICY") == 0 || strcmp(name, "TORWRAP_RESOLV_CONF") == 0 ||
	    strcmp(name, "TORWRAP_HOSTS") == 0)
		return "/dev/null";
	for (size_t i = 0; i < NVARS; i++)
		if (strcmp(name, vars[i]) == 0)
			return e->value[i] && e->value[i][0] ? e->value[i] : NULL;
	return NULL;
}

FUZZ_TARGET(config)
{
	struct env e;
	memset(&e, 0, sizeof(e));
	const uint8_t *p = data;
	size_t left = size;
	for (size_t i = 0; i < NVARS && left > 0; i++)
		e.value[i] = fuzz_split(p, left, &p, &left);
	static struct tw_config cfg;
	config_build_ex(&cfg, env_of, &e, 0);
	tw_log_set_level(TW_LOG_NONE); /* whatever TORWRAP_LOG_LEVEL said: quiet runs */
	if (!cfg.broken) {
		FUZZ_ASSERT(cfg.proxy_host[0] != '\0' && cfg.proxy_port != 0);
		FUZZ_ASSERT(cfg.timeout_ms > 0);
		FUZZ_ASSERT((cfg.vnet_addr & ~cfg.vnet_mask) == 0);
	} else {
		FUZZ_ASSERT(cfg.broken_reason[0] != '\0');
	}
	FUZZ_ASSERT(memchr(cfg.proxy_host, 0, sizeof(cfg.proxy_host)) != NULL);
	config_free(&cfg);
	for (size_t i = 0; i < NVARS; i++)
		free(e.value[i]);
	return 0;
}
