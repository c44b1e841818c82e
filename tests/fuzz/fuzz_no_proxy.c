/* fuzz_no_proxy.c: NO_PROXY as curl and Docker write it (policy_parse_no_proxy), then a decision.
 * Input: the variable's value, NUL, a name to decide. */
#include "../../policy/policy.h"
#include "fuzz.h"

FUZZ_TARGET(no_proxy)
{
	const uint8_t *rest;
	size_t rest_len;
	char *value = fuzz_split(data, size, &rest, &rest_len);
	static struct tw_config cfg;
	static int ready;
	if (!ready++)
		fuzz_bare_config(&cfg);
	char err[256];
	if (policy_parse_no_proxy(&cfg.rules, value, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < cfg.rules.count; i++)
			FUZZ_ASSERT(cfg.rules.rule[i].verdict == POLICY_DIRECT);
		char *name = fuzz_text(rest, rest_len);
		enum policy_verdict v = policy_decide_name(&cfg, name, 80);
		FUZZ_ASSERT(v == POLICY_DIRECT || v == POLICY_TOR || v == POLICY_REFUSE);
		free(name);
	}
	policy_rules_free(&cfg.rules);
	free(value);
	return 0;
}
