/* test_audit.c: unit tests for audit/: the audit stream's line parser (every field, every destination form,
 * what it refuses), the table's counts, the report's rows and the policy draft, which must parse as a policy
 * and make the destinations it names direct.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../audit/audit.h"
#include "../../policy/policy.h"

/* ------------------------------------------------------------------------------------------------ helpers */

static int parse(const char *line, struct audit_event *ev)
{
	return audit_parse_line(line, strlen(line), ev);
}

/* The table of the stream TEXT (every line, the last one even without its newline). */
static void table_of(struct audit_table *t, const char *text)
{
	audit_table_init(t);
	assert_int_equal(audit_table_feed(t, text, strlen(text), true), (long)strlen(text));
}

/* What FN wrote for T, as a string to free(). */
static char *written(const struct audit_table *t, int (*draft)(const struct audit_table *, FILE *),
		     void (*report)(const struct audit_table *, FILE *), int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	if (draft)
		*rc = draft(t, f);
	else
		report(t, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static char *draft_of(const char *stream, int *lines)
{
	struct audit_table t;
	table_of(&t, stream);
	char *out = written(&t, audit_draft, NULL, lines);
	audit_table_free(&t);
	return out;
}

static char *report_of(const char *stream)
{
	struct audit_table t;
	table_of(&t, stream);
	char *out = written(&t, NULL, audit_report, NULL);
	audit_table_free(&t);
	return out;
}

#define LOOKUP(dest, verdict, rule)                                                                           \
	"{\"time\":\"2026-12-05T21:40:00.123Z\",\"level\":\"info\",\"pid\":7,\"program\":\"sh\",\"event\":\"lookup\"," \
	"\"destination\":\"" dest "\",\"verdict\":\"" verdict "\",\"rule\":\"" rule "\",\"msg\":\"...\"}\n"
#define CONNECT(dest, verdict, rule)                                                                          \
	"{\"time\":\"2026-12-05T21:40:00.124Z\",\"level\":\"info\",\"pid\":7,\"program\":\"sh\",\"event\":\"connect\"," \
	"\"destination\":\"" dest "\",\"verdict\":\"" verdict "\",\"rule\":\"" rule "\",\"msg\":\"...\"}\n"
#define INTERNAL "built-in internal-name"

/* ------------------------------------------------------------------------------------------------- parser */

static void parse_reads_every_field_of_the_schema_example(void **state)
{
	(void)state;
	struct audit_event ev;
	assert_int_equal(parse("{\"time\":\"2026-12-05T21:40:00.123Z\",\"level\":\"info\",\"pid\":123,"
			       "\"program\":\"curl\",\"event\":\"connect\",\"destination\":\"example.com:443\","
			       "\"verdict\":\"tor\",\"rule\":\"default\",\"proxy\":\"127.0.0.1:9050\","
			       "\"errno\":\"ECONNREFUSED\",\"tor_reply\":4,\"msg\":\"connect example.com:443: via tor\"}\n",
			       &ev),
			 0);
	assert_int_equal(ev.kind, AUDIT_CONNECT);
	assert_string_equal(ev.host, "example.com");
	assert_int_equal(ev.port, 443);
	assert_string_equal(ev.verdict, "tor");
	assert_string_equal(ev.rule, "default");
	assert_int_equal(ev.pid, 123);
}

static void parse_splits_every_destination_form(void **state)
{
	(void)state;
	static const struct {
		const char *dest, *host;
		unsigned port;
	} cases[] = {
		{ "db.internal", "db.internal", 0 },	     { "db.internal:5432", "db.internal", 5432 },
		{ "Mixed.Case.Example:80", "mixed.case.example", 80 }, { "10.1.2.3:65535", "10.1.2.3", 65535 },
		{ "[fd00::1]:443", "fd00::1", 443 },	     { "[fe80::1]", "fe80::1", 0 },
		{ "fd00::1", "fd00::1", 0 },		     { "[::ffff:10.0.0.1]:1", "::ffff:10.0.0.1", 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[512];
		struct audit_event ev;
		snprintf(line, sizeof(line), "{\"event\":\"lookup\",\"destination\":\"%s\",\"verdict\":\"refuse\"}",
			 cases[i].dest);
		assert_int_equal(parse(line, &ev), 0);
		assert_string_equal(ev.host, cases[i].host);
		assert_int_equal(ev.port, cases[i].port);
	}
}

static void parse_ignores_unknown_keys_and_order(void **state)
{
	(void)state;
	struct audit_event ev;
	assert_int_equal(parse("  { \"future\" : {\"x\":1} }", &ev), -EINVAL); /* values are flat, not objects */
	assert_int_equal(parse(" {\"rule\":\"/etc/torwrap/policy:3\", \"x\": -1.5e3, \"y\": true, \"z\": null,"
			       " \"w\": false, \"verdict\": \"direct\", \"destination\": \"cache:6379\","
			       " \"event\": \"send\", \"a-very-long-key-nobody-knows-about-yet-at-all\": \"v\"}\r\n",
			       &ev),
			 0);
	assert_int_equal(ev.kind, AUDIT_SEND);
	assert_string_equal(ev.host, "cache");
	assert_int_equal(ev.port, 6379);
	assert_string_equal(ev.verdict, "direct");
	assert_string_equal(ev.rule, "/etc/torwrap/policy:3");
	assert_int_equal(parse("{\"event\":\"exec\",\"msg\":\"following /bin/sh\"}", &ev), 0);
	assert_int_equal(ev.kind, AUDIT_OTHER);
	assert_string_equal(ev.host, "");
}

static void parse_decodes_escapes_and_cuts_a_long_rule(void **state)
{
	(void)state;
	struct audit_event ev;
	assert_int_equal(parse("{\"event\":\"lookup\",\"destination\":\"bad\\u0001name\",\"verdict\":\"refuse\","
			       "\"rule\":\"m\\\"al\\\\f\\u00e9\\ud83d\\ude00\\/\"}",
			       &ev),
			 0);
	assert_string_equal(ev.host, "bad\001name");
	assert_string_equal(ev.rule, "m\"al\\f\xe9\xf0\x9f\x98\x80/"); /* \u00XX is the byte itself */
	char line[1024];
	snprintf(line, sizeof(line), "{\"event\":\"connect\",\"destination\":\"x:1\",\"verdict\":\"direct\","
				     "\"rule\":\"/%0400d:12\"}",
		 0);
	assert_int_equal(parse(line, &ev), 0);
	assert_int_equal(strlen(ev.rule), AUDIT_RULE_MAX - 1);
	assert_string_equal(ev.rule + AUDIT_RULE_MAX - 4, "...");
}

static void parse_refuses_what_is_not_an_event(void **state)
{
	(void)state;
	char long_dest[400];
	snprintf(long_dest, sizeof(long_dest), "{\"event\":\"lookup\",\"destination\":\"%0300d\"}", 0);
	const char *bad[] = {
		"",
		"{",
		"}",
		"[]",
		"{}", /* no event */
		"{\"destination\":\"a:1\",\"verdict\":\"tor\"}",
		"{\"event\":\"lookup\"} x",
		"{\"event\":\"lookup\",}",
		"{\"event\" \"lookup\"}",
		"{\"event\":lookup}",
		"{\"event\":\"lookup\",\"pid\":01}",
		"{\"event\":\"lookup\",\"pid\":1.}",
		"{\"event\":\"lookup\",\"pid\":-}",
		"{\"event\":\"lookup\",\"x\":[1]}",
		"{\"event\":\"lookup\",\"x\":tru}",
		"{\"event\":\"look\tup\"}", /* a raw control byte */
		"{\"event\":\"lookup\",\"destination\":\"a\\u0000b\"}",
		"{\"event\":\"lookup\",\"destination\":\"a\\ud800\"}",
		"{\"event\":\"lookup\",\"destination\":\"a\\udc00\"}",
		"{\"event\":\"lookup\",\"destination\":\"a\\x41\"}",
		"{\"event\":\"lookup\",\"destination\":\"a\\u12\"}",
		"{\"event\":\"lookup\",\"destination\":\"a:0\"}",
		"{\"event\":\"lookup\",\"destination\":\"a:65536\"}",
		"{\"event\":\"lookup\",\"destination\":\"a:\"}",
		"{\"event\":\"lookup\",\"destination\":\"a:8o\"}",
		"{\"event\":\"lookup\",\"destination\":\":80\"}",
		"{\"event\":\"lookup\",\"destination\":\"[::1\"}",
		"{\"event\":\"lookup\",\"destination\":\"[::1]x\"}",
		"{\"event\":\"lookup\",\"destination\":\"[]:80\"}",
		"{\"event\":\"lookup\",\"verdict\":\"maybe\"}",
		"{\"event\":\"a-very-long-event-name\"}",
		long_dest,
		"{\"event\":\"lookup\",\"destination\":\"x\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct audit_event ev;
		if (parse(bad[i], &ev) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	}
	struct audit_event ev;
	assert_int_equal(audit_parse_line("{\"event\":\"lookup\"}\0", 20, &ev), -EINVAL); /* a NUL after it */
	assert_int_equal(audit_parse_line("{\"event\":\"lookup\"}", 10, &ev), -EINVAL); /* only LEN bytes count */
}

/* -------------------------------------------------------------------------------------------------- table */

static void table_counts_lookups_and_connections_per_row(void **state)
{
	(void)state;
	struct audit_table t;
	table_of(&t, LOOKUP("api.example.test:443", "tor", "default") CONNECT("api.example.test:443", "tor", "default")
		     CONNECT("api.example.test:443", "tor", "default") LOOKUP("db", "refuse", INTERNAL)
			     LOOKUP("db", "refuse", INTERNAL) LOOKUP("db:5432", "refuse", INTERNAL)
				     "{\"event\":\"proxy\",\"destination\":\"api.example.test:443\",\"errno\":\"EIO\"}\n"
				     "{\"event\":\"exec\",\"verdict\":\"refuse\"}\n"
				     "{\"event\":\"connect\",\"destination\":\"x:1\"}\n"
				     "not json\n" LOOKUP("db", "refuse", INTERNAL));
	assert_int_equal(t.lines, 11);
	assert_int_equal(t.rejected, 1);
	assert_int_equal(t.n, 3);
	unsigned long seen = 0;
	for (size_t i = 0; i < t.n; i++) {
		const struct audit_entry *e = &t.entries[i];
		if (strcmp(e->host, "api.example.test") == 0) {
			assert_int_equal(e->port, 443);
			assert_int_equal(e->lookups, 1);
			assert_int_equal(e->connections, 2);
		} else if (e->port == 0) {
			assert_string_equal(e->host, "db");
			assert_int_equal(e->lookups, 3);
		} else {
			assert_int_equal(e->port, 5432);
			assert_int_equal(e->lookups, 1);
		}
		seen += e->lookups + e->connections;
	}
	assert_int_equal(seen, 7);
	audit_table_free(&t);
}

/* A connection through the proxy is logged as a "proxy" event without a rule: the name's lookup had it. */
static void table_counts_a_proxy_connection_under_its_name_s_rule(void **state)
{
	(void)state;
	struct audit_table t;
	table_of(&t, LOOKUP("api.example.test", "tor", "/p:4")
			"{\"event\":\"proxy\",\"destination\":\"api.example.test:443\",\"verdict\":\"tor\","
			"\"proxy\":\"tor-proxy:9050\",\"tor_reply\":0}\n"
			"{\"event\":\"proxy\",\"destination\":\"api.example.test:443\",\"verdict\":\"tor\","
			"\"errno\":\"ECONNREFUSED\"}\n"
			"{\"event\":\"proxy\",\"destination\":\"10.1.1.1:80\",\"verdict\":\"tor\"}\n");
	assert_int_equal(t.n, 3);
	assert_string_equal(t.entries[1].host, "api.example.test");
	assert_int_equal(t.entries[1].port, 443);
	assert_string_equal(t.entries[1].rule, "/p:4");
	assert_int_equal(t.entries[1].connections, 2);
	assert_string_equal(t.entries[2].rule, ""); /* nothing to inherit: shown as "-" */
	assert_int_equal(t.entries[2].connections, 1);
	audit_table_free(&t);
}

static void table_feed_leaves_a_half_written_line(void **state)
{
	(void)state;
	const char *text = LOOKUP("a:1", "tor", "default") "{\"event\":\"lookup\",\"destin";
	struct audit_table t;
	audit_table_init(&t);
	long used = audit_table_feed(&t, text, strlen(text), false);
	assert_int_equal(used, strlen(LOOKUP("a:1", "tor", "default")));
	assert_int_equal(t.lines, 1);
	assert_int_equal(t.rejected, 0);
	assert_int_equal(audit_table_feed(&t, text + used, strlen(text) - (size_t)used, true),
			 (long)(strlen(text) - (size_t)used));
	assert_int_equal(t.rejected, 1);
	audit_table_free(&t);
}

static void table_keeps_thousands_of_destinations_apart(void **state)
{
	(void)state;
	struct audit_table t;
	audit_table_init(&t);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 5000; i++) {
			struct audit_event ev = { .kind = AUDIT_CONNECT, .port = (unsigned)(i % 7 + 1) };
			snprintf(ev.host, sizeof(ev.host), "host%d.example", i);
			strcpy(ev.verdict, i % 2 ? "tor" : "direct");
			strcpy(ev.rule, "default");
			assert_int_equal(audit_table_add(&t, &ev), 0);
		}
	}
	assert_int_equal(t.n, 5000);
	for (size_t i = 0; i < t.n; i++)
		assert_int_equal(t.entries[i].connections, 3);
	audit_table_free(&t);
}

/* ------------------------------------------------------------------------------------------------- report */

static void report_lists_rows_sorted_and_aligned(void **state)
{
	(void)state;
	char *r = report_of(CONNECT("zeta.example:443", "tor", "default") LOOKUP("db.internal", "refuse", INTERNAL)
				    LOOKUP("db.internal", "refuse", INTERNAL) LOOKUP("db.internal", "refuse", INTERNAL)
					    CONNECT("svc:8080", "direct", "/etc/torwrap/policy:2")
						    LOOKUP("cache", "refuse", INTERNAL));
	assert_string_equal(r, "torwrap audit: 4 destinations, 6 decisions\n"
			       "  DESTINATION   PORT   VERDICT   COUNT  RULE\n"
			       "  cache         -      refuse        1  built-in internal-name\n"
			       "  db.internal   -      refuse        3  built-in internal-name\n"
			       "  svc           8080   direct        1  /etc/torwrap/policy:2\n"
			       "  zeta.example  443    tor           1  default\n"
			       "internal names refused: cache, db.internal\n");
	free(r);
}

/* A name looked up without a port, then connected to on one port, is one line; on two ports, three. */
static void report_shows_a_lookup_within_its_one_connection(void **state)
{
	(void)state;
	char *r = report_of(LOOKUP("api.example", "tor", "default") CONNECT("api.example:443", "tor", "default")
				    LOOKUP("two.example", "tor", "default") CONNECT("two.example:80", "tor", "default")
					    CONNECT("two.example:443", "tor", "default"));
	assert_string_equal(r, "torwrap audit: 4 destinations, 5 decisions\n"
			       "  DESTINATION  PORT   VERDICT   COUNT  RULE\n"
			       "  api.example  443    tor           2  default\n"
			       "  two.example  -      tor           1  default\n"
			       "  two.example  80     tor           1  default\n"
			       "  two.example  443    tor           1  default\n"
			       "internal names refused: none\n");
	free(r);
}

static void report_of_nothing_says_so(void **state)
{
	(void)state;
	char *r = report_of("garbage\n");
	assert_string_equal(r, "torwrap audit: 0 destinations, 0 decisions\n"
			       "internal names refused: none\n"
			       "torwrap audit: 1 line of the audit stream not understood (skipped)\n");
	free(r);
}

static void report_never_prints_a_control_byte(void **state)
{
	(void)state;
	char *r = report_of(LOOKUP("evil\\u001b[2Jname", "refuse", "malformed")
				    LOOKUP("x\\u00ff", "refuse", INTERNAL));
	for (const char *p = r; *p; p++)
		assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
	assert_non_null(strstr(r, "evil\\x1b[2jname")); /* lower-cased, as names are */
	assert_non_null(strstr(r, "internal names refused: x\\xff\n"));
	free(r);
}

/* -------------------------------------------------------------------------------------------------- draft */

static const char *files_empty(const char *name, void *ctx)
{
	(void)ctx;
	if (strcmp(name, "TORWRAP_POLICY") == 0 || strcmp(name, "TORWRAP_RESOLV_CONF") == 0 ||
	    strcmp(name, "TORWRAP_HOSTS") == 0)
		return "/dev/null";
	return strcmp(name, "TORWRAP_LOG_LEVEL") == 0 ? "none" : NULL;
}

/* The draft, added to an empty policy, decides NAME:PORT (an address when it is one) as WANT. */
static void assert_draft_decides(const char *draft, const char *host, uint16_t port, enum policy_verdict want)
{
	struct tw_config cfg;
	char err[512];
	assert_int_equal(config_build(&cfg, files_empty, NULL), 0);
	assert_false(cfg.broken);
	assert_int_equal(policy_parse_text(&cfg.rules, draft, "draft", err, sizeof(err)), 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	enum policy_verdict got;
	if (inet_pton(AF_INET, host, &sin.sin_addr) == 1)
		got = policy_decide_addr(&cfg, (struct sockaddr *)&sin, sizeof(sin));
	else if (inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1)
		got = policy_decide_addr(&cfg, (struct sockaddr *)&sin6, sizeof(sin6));
	else
		got = policy_decide_name(&cfg, host, port);
	if (got != want)
		fail_msg("%s port %u: %s, wanted %s, with the draft:\n%s", host, port, policy_verdict_name(got),
			 policy_verdict_name(want), draft);
	config_free(&cfg);
}

static void draft_allows_internal_names_with_their_ports(void **state)
{
	(void)state;
	int lines = -1;
	char *d = draft_of(LOOKUP("db.internal", "refuse", INTERNAL) LOOKUP("db.internal:5432", "refuse", INTERNAL)
				   LOOKUP("db.internal:5432", "refuse", INTERNAL) LOOKUP("cache", "refuse", INTERNAL)
					   CONNECT("api.example.test:443", "tor", "default")
						   CONNECT("svc:80", "direct", "/etc/torwrap/policy:1"),
			   &lines);
	assert_int_equal(lines, 2);
	assert_non_null(strstr(d, "\nallow cache  # refused as an internal name (1 lookup): allow it to reach it "
				  "directly\n"));
	assert_non_null(strstr(d, "\nallow db.internal port 5432  # refused as an internal name (3 lookups): allow "
				  "it to reach it directly\n"));
	assert_null(strstr(d, "api.example.test"));
	assert_null(strstr(d, "svc"));
	assert_draft_decides(d, "db.internal", 5432, POLICY_DIRECT);
	assert_draft_decides(d, "cache", 6379, POLICY_DIRECT);
	assert_draft_decides(d, "api.example.test", 443, POLICY_TOR);
	free(d);
}

static void draft_allows_private_addresses_sent_to_tor_or_refused(void **state)
{
	(void)state;
	int lines = -1;
	char *d = draft_of(CONNECT("10.0.0.5:5432", "tor", "default") CONNECT("10.0.0.5:5432", "tor", "default")
				   CONNECT("[fd00::7]:443", "refuse", "/etc/torwrap/policy:9")
					   CONNECT("[::ffff:192.168.1.1]:22", "tor", "default")
						   CONNECT("100.64.0.1:53", "tor", "mode tor-only")
							   CONNECT("172.32.0.1:80", "tor", "default")
								   CONNECT("172.16.0.1:80", "direct", "/p:1"),
			   &lines);
	assert_int_equal(lines, 3);
	assert_non_null(strstr(d, "\nallow 10.0.0.5 port 5432  # a private address sent to Tor (2 times), which "
				  "cannot reach it: allow it directly\n"));
	assert_non_null(strstr(d, "\nallow [fd00::7] port 443  # a private address refused by "
				  "/etc/torwrap/policy:9 (1 time): allow it directly if it is yours\n"));
	assert_non_null(strstr(d, "\nallow 192.168.1.1 port 22  #"));
	assert_null(strstr(d, "100.64.0.1")); /* the mode decided: a policy line would not change it */
	assert_null(strstr(d, "172.32.0.1")); /* not private */
	assert_null(strstr(d, "172.16.0.1")); /* direct already */
	assert_draft_decides(d, "10.0.0.5", 5432, POLICY_DIRECT);
	assert_draft_decides(d, "10.0.0.5", 5433, POLICY_REFUSE); /* a direct rule's other ports: refused */
	assert_draft_decides(d, "fd00::7", 443, POLICY_DIRECT);
	assert_draft_decides(d, "192.168.1.1", 22, POLICY_DIRECT);
	free(d);
}

static void draft_splits_long_port_lists_into_rules_the_policy_takes(void **state)
{
	(void)state;
	char *stream = malloc(64 * 1024);
	assert_non_null(stream);
	size_t len = 0;
	for (unsigned p = 1000; p < 1040; p += 2) /* 20 ports, none adjacent: 20 items */
		len += (size_t)sprintf(stream + len, LOOKUP("wide:%u", "refuse", INTERNAL), p);
	len += (size_t)sprintf(stream + len, LOOKUP("wide:2000", "refuse", INTERNAL) LOOKUP("wide:2001", "refuse",
											   INTERNAL));
	int lines = -1;
	char *d = draft_of(stream, &lines);
	assert_int_equal(lines, 2);
	assert_non_null(strstr(d, "\nallow wide port 1000,1002,1004,1006,1008,1010,1012,1014,1016,1018,1020,1022,"
				  "1024,1026,1028,1030  #"));
	assert_non_null(strstr(d, "\nallow wide port 1032,1034,1036,1038,2000-2001  #"));
	for (unsigned p = 1000; p < 1040; p += 2)
		assert_draft_decides(d, "wide", (uint16_t)p, POLICY_DIRECT);
	assert_draft_decides(d, "wide", 2001, POLICY_DIRECT);
	assert_draft_decides(d, "wide", 1001, POLICY_REFUSE);
	free(d);
	free(stream);
}

static void draft_writes_no_line_the_policy_would_misread(void **state)
{
	(void)state;
	int lines = -1;
	char *d = draft_of(LOOKUP("bad\\nallow *", "refuse", INTERNAL) LOOKUP("1.2.3", "refuse", INTERNAL)
				   LOOKUP("1-2", "refuse", INTERNAL) LOOKUP("a..b", "refuse", INTERNAL)
					   LOOKUP("ok_name-1", "refuse", INTERNAL),
			   &lines);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(d, "\nallow ok_name-1  #"));
	assert_non_null(strstr(d, "# not drafted, not a name the policy takes: bad\\x0aallow *\n"));
	assert_non_null(strstr(d, "# not drafted, the policy would not take it: allow 1-2\n")); /* an address range */
	for (const char *p = strchr(d, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
		assert_true(strncmp(p + 1, "#", 1) == 0 || strncmp(p + 1, "allow ok_name-1 ", 16) == 0);
	free(d);
}

static void private_addresses_are_the_internal_ranges(void **state)
{
	(void)state;
	const char *yes[] = { "10.0.0.0",     "10.255.255.255", "172.16.0.0",	"172.31.255.255", "192.168.0.1",
			      "100.64.0.0",   "100.127.255.255", "fc00::",	"fdff:ffff::1",	  "fe80::1",
			      "febf::1",      "::ffff:10.1.1.1" };
	const char *no[] = { "9.255.255.255", "11.0.0.0",	"172.15.255.255", "172.32.0.0", "192.169.0.1",
			     "100.63.255.255", "100.128.0.0", "fbff::1",	  "fec0::1",	"2001:db8::1",
			     "127.0.0.1",      "db.internal", "",		  "10.0.0.0/8" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!audit_private_address(yes[i]))
			fail_msg("%s is private", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (audit_private_address(no[i]))
			fail_msg("%s is not private", no[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_reads_every_field_of_the_schema_example),
		cmocka_unit_test(parse_splits_every_destination_form),
		cmocka_unit_test(parse_ignores_unknown_keys_and_order),
		cmocka_unit_test(parse_decodes_escapes_and_cuts_a_long_rule),
		cmocka_unit_test(parse_refuses_what_is_not_an_event),
		cmocka_unit_test(table_counts_lookups_and_connections_per_row),
		cmocka_unit_test(table_counts_a_proxy_connection_under_its_name_s_rule),
		cmocka_unit_test(table_feed_leaves_a_half_written_line),
		cmocka_unit_test(table_keeps_thousands_of_destinations_apart),
		cmocka_unit_test(report_lists_rows_sorted_and_aligned),
		cmocka_unit_test(report_shows_a_lookup_within_its_one_connection),
		cmocka_unit_test(report_of_nothing_says_so),
		cmocka_unit_test(report_never_prints_a_control_byte),
		cmocka_unit_test(draft_allows_internal_names_with_their_ports),
		cmocka_unit_test(draft_allows_private_addresses_sent_to_tor_or_refused),
		cmocka_unit_test(draft_splits_long_port_lists_into_rules_the_policy_takes),
		cmocka_unit_test(draft_writes_no_line_the_policy_would_misread),
		cmocka_unit_test(private_addresses_are_the_internal_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
