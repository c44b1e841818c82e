/* explain.c: `torwrap explain [OPTIONS] HOST[:PORT]...`: what torwrap would do with each destination, and why.
 *
 * The same configuration as a wrapped program (the environment, --policy, --proxy, --mode, --isolation) and the
 * same decision (policy_decide_*_why), so what it prints is what the library and the supervisor do. It sends
 * nothing and resolves nothing: a name's verdict is the name's rules (the addresses an allowed name resolves to
 * are then held to that name's ports).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../policy/policy.h"
#include "cli.h"

static void explain_usage(FILE *out)
{
	fputs("Usage: torwrap explain [--policy FILE] [--proxy HOST:PORT[,...]] [--mode MODE]\n"
	      "                       [--isolation ISO] HOST[:PORT]...\n"
	      "Says, for each destination, what torwrap would do with it (direct, tor or refuse), the rule\n"
	      "that decided (FILE:LINE, the NO_PROXY entry, the mode or a built-in rule) and, for Tor, the\n"
	      "proxy and the isolation. The configuration is a wrapped program's: the environment and these\n"
	      "options. Nothing is sent or resolved. HOST may be a name or an address ([v6]:PORT); without\n"
	      "a port, rules for any port apply.\n"
	      "\n"
	      "Exit status: 0; 2 usage; 78 configuration broken (everything is then refused).\n",
	      out);
}

struct destination {
	char host[TW_NAME_MAX];
	uint16_t port; /* 0: any */
};

/* "host", "host:port", "[v6]:port", "v6". Returns 0 or -EINVAL. */
static int parse_destination(const char *arg, struct destination *d)
{
	return cli_split_hostport(arg, true, d->host, &d->port);
}

/* The decision for D: an address as an address, anything else as a name. */
static enum policy_verdict decide(const struct tw_config *cfg, const struct destination *d,
				  struct policy_reason *why, bool *is_addr)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	*is_addr = true;
	if (inet_pton(AF_INET, d->host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(d->port);
		return policy_decide_addr_why(cfg, (struct sockaddr *)sin, sizeof(*sin), why);
	}
	if (inet_pton(AF_INET6, d->host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(d->port);
		return policy_decide_addr_why(cfg, (struct sockaddr *)sin6, sizeof(*sin6), why);
	}
	*is_addr = false;
	return policy_decide_name_why(cfg, d->host, d->port, why);
}

/* What follows the rule on the line: its text, and what the verdict means for this destination. */
static void explain_detail(const struct tw_config *cfg, const struct policy_reason *why, enum policy_verdict v,
			   bool is_addr, char *buf, size_t len)
{
	if (why->kind == POLICY_BY_RULE && why->rule)
		snprintf(buf, len, " (\"%s\")%s", why->rule->source,
			 why->port_unlisted ? ": this port is not among the rule's, so it is refused" : "");
	else if (why->kind == POLICY_BY_INTERNAL)
		snprintf(buf, len, ": not in the policy: add it to %s to reach it directly (TORWRAP_INTERNAL_NAMES=tor "
			 "would send it to Tor)", cfg->policy_file);
	else if (why->kind == POLICY_BY_BROKEN)
		snprintf(buf, len, ": %s", cfg->broken_reason);
	else if (why->kind == POLICY_BY_DEFAULT)
		snprintf(buf, len, " (no rule names it)");
	else
		buf[0] = '\0';
	size_t used = strlen(buf);
	if (v == POLICY_TOR && why->kind != POLICY_BY_VIRTUAL)
		snprintf(buf + used, len - used, "; proxy %s, %s, isolation %s%s", cfg->proxy_list,
			 is_addr ? "by address" : "by name (resolved at the exit)", policy_isolation_name(cfg->isolation),
			 cfg->rotation_s ? " with rotation" : "");
	else if (v == POLICY_DIRECT && !is_addr && why->kind != POLICY_BY_LOCALHOST)
		snprintf(buf + used, len - used, "; resolved locally (hosts file, then the nameservers)");
}

static void explain_one(const struct tw_config *cfg, const char *arg, const struct destination *d)
{
	struct policy_reason why;
	bool is_addr;
	enum policy_verdict v = decide(cfg, d, &why, &is_addr);
	char rule[sizeof(cfg->policy_file) + 64], detail[sizeof(cfg->policy_file) + sizeof(cfg->broken_reason) + 256];
	policy_reason_text(cfg, &why, rule, sizeof(rule));
	explain_detail(cfg, &why, v, is_addr, detail, sizeof(detail));
	printf("%s: %s by %s%s\n", arg, policy_verdict_name(v), rule, detail);
}

static const char *env_getenv(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

/* Options to the variables they stand for; returns the index of the first destination, or -status. */
static int explain_options(int argc, char **argv)
{
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			explain_usage(stdout);
			return 0;
		}
		if (a[0] != '-')
			break;
		const char *var = cli_option_var(a);
		const char *eq = strchr(a, '=');
		if (!var || (!eq && i + 1 >= argc)) {
			fprintf(stderr, "torwrap explain: %s %s\n", a, var ? "needs a value" : "is not an option");
			explain_usage(stderr);
			return -CLI_EXIT_USAGE;
		}
		if (setenv(var, eq ? eq + 1 : argv[++i], 1) != 0)
			return -CLI_EXIT_CONFIG;
	}
	return i;
}

int tw_explain_main(int argc, char **argv)
{
	int first = explain_options(argc, argv);
	if (first <= 0)
		return -first;
	if (first >= argc) {
		explain_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	struct tw_config cfg;
	tw_log_set_level(TW_LOG_NONE); /* the answer is the output; policy's debug lines would repeat it */
	if (config_build(&cfg, env_getenv, NULL) != 0)
		return CLI_EXIT_CONFIG;
	int status = 0;
	if (cfg.broken) {
		fprintf(stderr, "torwrap explain: configuration broken: %s (every destination is refused)\n",
			cfg.broken_reason);
		status = CLI_EXIT_CONFIG;
	}
	for (int i = first; i < argc; i++) {
		struct destination d;
		if (parse_destination(argv[i], &d) != 0) {
			fprintf(stderr, "torwrap explain: \"%s\" is not HOST, HOST:PORT or [ADDRESS]:PORT\n", argv[i]);
			status = CLI_EXIT_USAGE;
			continue;
		}
		explain_one(&cfg, argv[i], &d);
	}
	config_free(&cfg);
	return status;
}
