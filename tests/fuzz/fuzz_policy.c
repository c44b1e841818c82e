/* fuzz_policy.c: the policy file parser (policy_parse_text), then a decision on the parsed rules.
 * Input: policy text, NUL, a name to decide (its first two bytes after the name's NUL: the port). */
#include "../../policy/policy.h"
#include "fuzz.h"

static void check_rules(const struct policy_rules *r)
{
	for (size_t i = 0; i < r->count; i++) {
		const struct policy_rule *x = &r->rule[i];
		FUZZ_ASSERT(x->verdict == POLICY_DIRECT || x->verdict == POLICY_TOR || x->verdict == POLICY_REFUSE);
		FUZZ_ASSERT(x->nports <= POLICY_MAX_PORT_RANGES);
		for (unsigned p = 0; p < x->nports; p++)
			FUZZ_ASSERT(x->port_lo[p] <= x->port_hi[p]);
		if (x->kind == POLICY_T_ADDR) {
			FUZZ_ASSERT(x->family == AF_INET || x->family == AF_INET6);
			FUZZ_ASSERT(memcmp(x->lo, x->hi, x->family == AF_INET ? 4 : 16) <= 0);
		}
		FUZZ_ASSERT(memchr(x->name, 0, sizeof(x->name)) != NULL);
	}
}

/* The reason agrees with the verdict, names a rule of this configuration when it is one, and has words. */
static void check_reason(const struct tw_config *cfg, const struct policy_reason *r, enum policy_verdict v)
{
	if (r->kind == POLICY_BY_RULE) {
		FUZZ_ASSERT(r->rule >= cfg->rules.rule && r->rule < cfg->rules.rule + cfg->rules.count);
		FUZZ_ASSERT(r->port_unlisted ? v == POLICY_REFUSE && r->rule->verdict == POLICY_DIRECT
					     : v == r->rule->verdict);
		FUZZ_ASSERT(memchr(r->rule->source, 0, sizeof(r->rule->source)) != NULL && r->rule->source[0]);
	}
	if (r->kind == POLICY_BY_INTERNAL || r->kind == POLICY_BY_MALFORMED || r->kind == POLICY_BY_BROKEN)
		FUZZ_ASSERT(v == POLICY_REFUSE);
	if (r->kind == POLICY_BY_DEFAULT || r->kind == POLICY_BY_ONION || r->kind == POLICY_BY_VIRTUAL)
		FUZZ_ASSERT(v == POLICY_TOR);
	if (r->kind == POLICY_BY_LOCALHOST || r->kind == POLICY_BY_PROXY)
		FUZZ_ASSERT(v == POLICY_DIRECT);
	char text[4200];
	FUZZ_ASSERT(policy_reason_text(cfg, r, text, sizeof(text))[0] != '\0');
}

FUZZ_TARGET(policy)
{
	const uint8_t *rest;
	size_t rest_len;
	char *text = fuzz_split(data, size, &rest, &rest_len);
	static struct tw_config cfg;
	static int ready;
	if (!ready++)
		fuzz_bare_config(&cfg);
	char err[256];
	if (policy_parse_text(&cfg.rules, text, "fuzz.policy", err, sizeof(err)) == 0) {
		check_rules(&cfg.rules);
		const uint8_t *port_at;
		size_t port_len;
		char *name = fuzz_split(rest, rest_len, &port_at, &port_len);
		uint16_t port = port_len >= 2 ? (uint16_t)(port_at[0] << 8 | port_at[1]) : 443;
		struct policy_reason r;
		enum policy_verdict v = policy_decide_name_why(&cfg, name, port, &r);
		FUZZ_ASSERT(v == POLICY_DIRECT || v == POLICY_TOR || v == POLICY_REFUSE);
		FUZZ_ASSERT(v == policy_decide_name(&cfg, name, port));
		check_reason(&cfg, &r, v);
		char why[600];
		policy_refusal_why(&cfg, name, why, sizeof(why));
		free(name);
	} else {
		FUZZ_ASSERT(memchr(err, 0, sizeof(err)) != NULL && err[0] != '\0');
	}
	policy_rules_free(&cfg.rules);
	free(text);
	return 0;
}
