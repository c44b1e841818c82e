/* fuzz_audit.c: the audit stream's reader (audit/): the line parser, the table, the report and the draft.
 * Input: the stream's bytes, as an audited program could have written them. Whatever they are, the report
 * holds only printable ASCII and newlines, and the draft parses as a policy file whose every rule is one name
 * or address going direct. */
#include "../../audit/audit.h"
#include "fuzz.h"

/* What FN wrote for T, NUL-terminated; free() it. */
static char *captured(const struct audit_table *t, bool draft)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	FUZZ_ASSERT(f != NULL);
	if (draft)
		FUZZ_ASSERT(audit_draft(t, f) >= 0);
	else
		audit_report(t, f);
	FUZZ_ASSERT(fclose(f) == 0);
	return buf;
}

static void check_event(const uint8_t *data, size_t size)
{
	struct audit_event ev;
	if (audit_parse_line((const char *)data, size, &ev) != 0)
		return;
	FUZZ_ASSERT(strlen(ev.host) < sizeof(ev.host) && ev.port <= 65535);
	FUZZ_ASSERT(ev.verdict[0] == '\0' || strcmp(ev.verdict, "direct") == 0 || strcmp(ev.verdict, "tor") == 0 ||
		    strcmp(ev.verdict, "refuse") == 0);
	FUZZ_ASSERT(strlen(ev.rule) < sizeof(ev.rule));
}

FUZZ_TARGET(audit)
{
	check_event(data, size);
	struct audit_table t;
	audit_table_init(&t);
	long used = audit_table_feed(&t, (const char *)data, size, false);
	FUZZ_ASSERT(used >= 0 && (size_t)used <= size);
	FUZZ_ASSERT(audit_table_feed(&t, (const char *)data + used, size - (size_t)used, true) ==
		    (long)(size - (size_t)used));
	FUZZ_ASSERT(t.rejected <= t.lines);
	char *report = captured(&t, false);
	for (const char *p = report; *p; p++)
		FUZZ_ASSERT(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
	char *draft = captured(&t, true);
	struct policy_rules rules = { NULL, 0 };
	char err[512];
	FUZZ_ASSERT(policy_parse_text(&rules, draft, "draft", err, sizeof(err)) == 0);
	for (size_t i = 0; i < rules.count; i++)
		FUZZ_ASSERT(rules.rule[i].verdict == POLICY_DIRECT &&
			    (rules.rule[i].kind == POLICY_T_NAME || rules.rule[i].kind == POLICY_T_ADDR));
	policy_rules_free(&rules);
	free(report);
	free(draft);
	audit_table_free(&t);
	return 0;
}
