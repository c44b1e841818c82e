/* test_policy.c: unit tests for policy/ (file grammar, NO_PROXY, decisions, config_build) and the pure helpers
 * and log writer of common/tw.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../policy/policy.h"

/* ------------------------------------------------------------------------------------------------ helpers */

#define assert_contains(hay, needle)                                                                           \
	do {                                                                                                   \
		const char *h_ = (hay), *n_ = (needle);                                                        \
		if (!h_ || !strstr(h_, n_))                                                                    \
			fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);                    \
	} while (0)

struct kv {
	const char *k, *v;
};

static const char *fake_getenv(const char *name, void *ctx)
{
	for (const struct kv *e = ctx; e && e->k; e++)
		if (strcmp(e->k, name) == 0)
			return e->v;
	return NULL;
}

/* Writes TEXT to a fresh file under /tmp; returns its path (caller unlinks and frees). */
static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/torwrap-test-policy-XXXXXX");
	assert_non_null(path);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	return path;
}

static void parse_ok(struct policy_rules *r, const char *text)
{
	char err[512] = "";
	memset(r, 0, sizeof(*r));
	int e = policy_parse_text(r, text, "test", err, sizeof(err));
	if (e != 0)
		fail_msg("parse of \"%s\" failed: %s", text, err);
}

/* The text must be refused with an error "test:LINE: ..." containing WANT. */
static void parse_fails(const char *text, unsigned line, const char *want)
{
	struct policy_rules r = { 0 };
	char err[512] = "";
	int e = policy_parse_text(&r, text, "test", err, sizeof(err));
	policy_rules_free(&r);
	if (e != -EINVAL)
		fail_msg("\"%s\" was accepted (rc %d)", text, e);
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "test:%u: ", line);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("error \"%s\" for \"%s\" does not start with \"%s\"", err, text, prefix);
	assert_contains(err, want);
}

static void no_proxy_fails(const char *value, const char *want)
{
	struct policy_rules r = { 0 };
	char err[512] = "";
	int e = policy_parse_no_proxy(&r, value, err, sizeof(err));
	policy_rules_free(&r);
	if (e != -EINVAL)
		fail_msg("NO_PROXY \"%s\" was accepted", value);
	assert_contains(err, want);
}

/* A configuration from a policy text and a NO_PROXY value (either may be NULL), through config_build. */
static void cfg_from(struct tw_config *cfg, const char *policy_text, const char *no_proxy)
{
	char *path = write_tmp(policy_text ? policy_text : "");
	struct kv env[] = { { "TORWRAP_POLICY", path }, { "NO_PROXY", no_proxy }, { NULL, NULL } };
	assert_int_equal(config_build(cfg, fake_getenv, env), 0);
	unlink(path);
	free(path);
	if (cfg->broken)
		fail_msg("configuration broken: %s", cfg->broken_reason);
}

static void cfg_env(struct tw_config *cfg, const struct kv *env)
{
	assert_int_equal(config_build(cfg, fake_getenv, (void *)env), 0);
}

static enum policy_verdict dn(const struct tw_config *cfg, const char *name, uint16_t port)
{
	return policy_decide_name(cfg, name, port);
}

static enum policy_verdict da(const struct tw_config *cfg, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
		return policy_decide_addr(cfg, (struct sockaddr *)&ss, sizeof(*s6));
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	return policy_decide_addr(cfg, (struct sockaddr *)&ss, sizeof(*s4));
}

static void assert_v4_rule(const struct policy_rule *r, const char *lo, const char *hi)
{
	uint8_t a[4], b[4];
	assert_int_equal(r->kind, POLICY_T_ADDR);
	assert_int_equal(r->family, AF_INET);
	assert_int_equal(inet_pton(AF_INET, lo, a), 1);
	assert_int_equal(inet_pton(AF_INET, hi, b), 1);
	assert_memory_equal(r->lo, a, 4);
	assert_memory_equal(r->hi, b, 4);
}

static void assert_v6_rule(const struct policy_rule *r, const char *lo, const char *hi)
{
	uint8_t a[16], b[16];
	assert_int_equal(r->kind, POLICY_T_ADDR);
	assert_int_equal(r->family, AF_INET6);
	assert_int_equal(inet_pton(AF_INET6, lo, a), 1);
	assert_int_equal(inet_pton(AF_INET6, hi, b), 1);
	assert_memory_equal(r->lo, a, 16);
	assert_memory_equal(r->hi, b, 16);
}

/* The stack's allowlist, as docs/policy.example states it. */
static const char stack_policy[] = "# TRON stack\n"
				   "lucid-tron-client\n"
				   "tron-payout-router\n"
				   "tron-wallet-manager\n"
				   "tron-usdt-manager\n"
				   "tron-staking\n"
				   "tron-payment-gateway\n"
				   "tron-relay\n"
				   "172.20.1.91-98   # the TRON services' static addresses\n"
				   "lucid-mongodb\n"
				   "lucid-redis\n";

/* ------------------------------------------------------------------------------------------- tw helpers */

static void test_tw_name_normalize(void **state)
{
	(void)state;
	char out[TW_NAME_MAX];
	assert_int_equal(tw_name_normalize("Lucid-MongoDB.", out), 0);
	assert_string_equal(out, "lucid-mongodb");
	assert_int_equal(tw_name_normalize("a_b.Example.COM", out), 0);
	assert_string_equal(out, "a_b.example.com");
	assert_int_equal(tw_name_normalize("", out), -EINVAL);
	assert_int_equal(tw_name_normalize(".", out), -EINVAL);
	assert_int_equal(tw_name_normalize("a..b", out), -EINVAL);
	assert_int_equal(tw_name_normalize(".a", out), -EINVAL);
	assert_int_equal(tw_name_normalize("a b", out), -EINVAL);
	assert_int_equal(tw_name_normalize("a/b", out), -EINVAL);
	assert_int_equal(tw_name_normalize("::1", out), -EINVAL);
	assert_int_equal(tw_name_normalize("host\n", out), -EINVAL);
	assert_int_equal(tw_name_normalize(NULL, out), -EINVAL);

	char label[80];
	memset(label, 'a', 63);
	label[63] = '\0';
	assert_int_equal(tw_name_normalize(label, out), 0);
	memset(label, 'a', 64);
	label[64] = '\0';
	assert_int_equal(tw_name_normalize(label, out), -EINVAL);

	/* 253 characters is the longest name; one more trailing dot is still fine, 254 characters is not. */
	char name[300];
	memset(name, 'a', sizeof(name));
	for (int i = 50; i < 253; i += 51)
		name[i] = '.';
	name[253] = '\0';
	assert_int_equal(tw_name_normalize(name, out), 0);
	assert_int_equal(strlen(out), 253);
	name[253] = '.';
	name[254] = '\0';
	assert_int_equal(tw_name_normalize(name, out), 0);
	name[253] = 'a';
	assert_int_equal(tw_name_normalize(name, out), -EINVAL);
}

static void test_tw_name_domains(void **state)
{
	(void)state;
	assert_true(tw_name_in_domain("example.com", "example.com"));
	assert_true(tw_name_in_domain("www.example.com", "example.com"));
	assert_true(tw_name_in_domain("a.b.example.com", "example.com"));
	assert_false(tw_name_in_domain("badexample.com", "example.com"));
	assert_false(tw_name_in_domain("example.com.evil", "example.com"));
	assert_false(tw_name_in_domain("com", "example.com"));
	assert_false(tw_name_in_domain("example.com", ""));

	assert_true(tw_name_is_localhost("localhost"));
	assert_true(tw_name_is_localhost("db.localhost"));
	assert_false(tw_name_is_localhost("localhost.example.com"));
	assert_false(tw_name_is_localhost("mylocalhost"));

	assert_true(tw_name_is_onion("abcdefghijklmnop.onion"));
	assert_true(tw_name_is_onion("www.abcdefghijklmnop.onion"));
	assert_false(tw_name_is_onion("onion"));
	assert_false(tw_name_is_onion("notonion"));
	assert_false(tw_name_is_onion("onion.example.com"));
}

static void test_tw_log_levels(void **state)
{
	(void)state;
	assert_int_equal(tw_log_parse_level("none"), TW_LOG_NONE);
	assert_int_equal(tw_log_parse_level("error"), TW_LOG_ERROR);
	assert_int_equal(tw_log_parse_level("warn"), TW_LOG_WARN);
	assert_int_equal(tw_log_parse_level("WARNING"), TW_LOG_WARN);
	assert_int_equal(tw_log_parse_level("Info"), TW_LOG_INFO);
	assert_int_equal(tw_log_parse_level("debug"), TW_LOG_DEBUG);
	assert_int_equal(tw_log_parse_level("0"), 0);
	assert_int_equal(tw_log_parse_level("4"), 4);
	assert_int_equal(tw_log_parse_level("5"), -1);
	assert_int_equal(tw_log_parse_level("44"), -1);
	assert_int_equal(tw_log_parse_level(""), -1);
	assert_int_equal(tw_log_parse_level("loud"), -1);
	assert_int_equal(tw_log_parse_level(NULL), -1);

	int old = tw_log_get_level();
	tw_log_set_level(TW_LOG_DEBUG);
	assert_int_equal(tw_log_get_level(), TW_LOG_DEBUG);
	tw_log_set_level(99);
	assert_int_equal(tw_log_get_level(), TW_LOG_DEBUG);
	tw_log_set_level(-3);
	assert_int_equal(tw_log_get_level(), TW_LOG_NONE);
	tw_log_set_level(old);
}

/* Runs the log writer with stderr redirected to a file and returns what it wrote. */
static void capture_log(char *out, size_t outlen, int level, const char *msg)
{
	char *path = write_tmp("");
	int fd = open(path, O_RDWR | O_TRUNC);
	assert_true(fd >= 0);
	int saved = dup(2);
	assert_true(saved >= 0);
	dup2(fd, 2);
	errno = 1234;
	tw_log_write(level, "%s %d", msg, 42);
	int e = errno;
	dup2(saved, 2);
	close(saved);
	assert_int_equal(e, 1234); /* logging must leave errno alone */
	ssize_t n = pread(fd, out, outlen - 1, 0);
	assert_true(n >= 0);
	out[n] = '\0';
	close(fd);
	unlink(path);
	free(path);
}

static void test_tw_log_write(void **state)
{
	(void)state;
	char out[2048], want[128];
	capture_log(out, sizeof(out), TW_LOG_ERROR, "hello");
	snprintf(want, sizeof(want), "torwrap[%ld]: error: hello 42\n", (long)getpid());
	assert_string_equal(out, want);

	capture_log(out, sizeof(out), TW_LOG_INFO, "evil\nline\x1b[31m");
	snprintf(want, sizeof(want), "torwrap[%ld]: info: evil?line?[31m 42\n", (long)getpid());
	assert_string_equal(out, want);

	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture_log(out, sizeof(out), TW_LOG_WARN, big);
	size_t n = strlen(out);
	assert_true(n <= 1024);
	assert_string_equal(out + n - 4, "...\n");
	assert_int_equal(strchr(out, '\n') - out, (long)n - 1);

	/* A failing write (stderr closed) must not leak its errno either. */
	int saved = dup(2);
	close(2);
	errno = 4321;
	tw_log_write(TW_LOG_ERROR, "into the void");
	int e = errno;
	dup2(saved, 2);
	close(saved);
	assert_int_equal(e, 4321);
}

static void test_tw_now_ms(void **state)
{
	(void)state;
	int64_t a = tw_now_ms();
	usleep(20000);
	int64_t b = tw_now_ms();
	assert_true(a > 0);
	assert_true(b - a >= 19);
	assert_true(b - a < 5000);
}

/* ------------------------------------------------------------------------------------------------ grammar */

static void test_verdict_names(void **state)
{
	(void)state;
	assert_string_equal(policy_verdict_name(POLICY_TOR), "tor");
	assert_string_equal(policy_verdict_name(POLICY_DIRECT), "direct");
	assert_string_equal(policy_verdict_name(POLICY_REFUSE), "refuse");
	assert_string_equal(policy_verdict_name((enum policy_verdict)42), "?");
}

static void test_parse_name_default_verb(void **state)
{
	(void)state;
	struct policy_rules r;
	parse_ok(&r, "lucid-mongodb\nLucid-Redis.\n");
	assert_int_equal(r.count, 2);
	assert_int_equal(r.rule[0].verdict, POLICY_DIRECT);
	assert_int_equal(r.rule[0].kind, POLICY_T_NAME);
	assert_string_equal(r.rule[0].name, "lucid-mongodb");
	assert_int_equal(r.rule[0].nports, 0);
	assert_int_equal(r.rule[0].line, 1);
	assert_string_equal(r.rule[1].name, "lucid-redis");
	assert_int_equal(r.rule[1].line, 2);
	policy_rules_free(&r);
	assert_null(r.rule);
	assert_int_equal(r.count, 0);
}

static void test_parse_verbs(void **state)
{
	(void)state;
	struct policy_rules r;
	parse_ok(&r, "direct a\nallow b\ntor c\nrefuse d\ndeny e\nDIRECT f\nTor g\n");
	assert_int_equal(r.count, 7);
	const enum policy_verdict want[] = { POLICY_DIRECT, POLICY_DIRECT, POLICY_TOR,	  POLICY_REFUSE,
					     POLICY_REFUSE, POLICY_DIRECT, POLICY_TOR };
	for (size_t i = 0; i < 7; i++) {
		assert_int_equal(r.rule[i].verdict, want[i]);
		assert_int_equal(r.rule[i].kind, POLICY_T_NAME);
		assert_int_equal(r.rule[i].name[0], 'a' + (int)i);
	}
	policy_rules_free(&r);

	/* A host that happens to be called like a verb needs the verb spelled out. */
	parse_ok(&r, "direct tor\nrefuse direct\n");
	assert_int_equal(r.rule[0].verdict, POLICY_DIRECT);
	assert_string_equal(r.rule[0].name, "tor");
	assert_int_equal(r.rule[1].verdict, POLICY_REFUSE);
	assert_string_equal(r.rule[1].name, "direct");
	policy_rules_free(&r);
}

static void test_parse_suffixes_and_star(void **state)
{
	(void)state;
	struct policy_rules r;
	parse_ok(&r, ".example.com\n*.Internal.Corp.\n*\nrefuse *:25\n");
	assert_int_equal(r.count, 4);
	assert_int_equal(r.rule[0].kind, POLICY_T_SUFFIX);
	assert_string_equal(r.rule[0].name, "example.com");
	assert_int_equal(r.rule[1].kind, POLICY_T_SUFFIX);
	assert_string_equal(r.rule[1].name, "internal.corp");
	assert_int_equal(r.rule[2].kind, POLICY_T_ANY);
	assert_int_equal(r.rule[2].verdict, POLICY_DIRECT);
	assert_int_equal(r.rule[3].kind, POLICY_T_ANY);
	assert_int_equal(r.rule[3].verdict, POLICY_REFUSE);
	assert_int_equal(r.rule[3].nports, 1);
	assert_int_equal(r.rule[3].port_lo[0], 25);
	policy_rules_free(&r);
}

static void test_parse_ipv4_forms(void **state)
{
	(void)state;
	struct policy_rules r;
	parse_ok(&r, "172.20.1.91-98\n"
		     "10.0.0.5-10.0.1.7\n"
		     "192.168.1.10\n"
		     "10.0.0.0/8\n"
		     "0.0.0.0/0\n"
		     "192.168.7.7/32\n"
		     "172.20.1.91-91\n"
		     "100.64.0.0/10\n");
	assert_int_equal(r.count, 8);
	assert_v4_rule(&r.rule[0], "172.20.1.91", "172.20.1.98");
	assert_v4_rule(&r.rule[1], "10.0.0.5", "10.0.1.7");
	assert_v4_rule(&r.rule[2], "192.168.1.10", "192.168.1.10");
	assert_v4_rule(&r.rule[3], "10.0.0.0", "10.255.255.255");
	assert_v4_rule(&r.rule[4], "0.0.0.0", "255.255.255.255");
	assert_v4_rule(&r.rule[5], "192.168.7.7", "192.168.7.7");
	assert_v4_rule(&r.rule[6], "172.20.1.91", "172.20.1.91");
	assert_v4_rule(&r.rule[7], "100.64.0.0", "100.127.255.255");
	policy_rules_free(&r);
}

static void test_parse_ipv6_forms(void **state)
{
	(void)state;
	struct policy_rules r;
	parse_ok(&r, "fd00::1\n"
		     "fd00::/8\n"
		     "[fd00::2]\n"
		     "tor [2001:db8::1]:443\n"
		     "[2001:db8::]/32\n"
		     "[fd12::/16]:80,8080\n"
		     "::ffff:10.1.2.3\n"
		     "::ffff:10.0.0.0/104\n"
		     "FD00::ABCD\n");
	assert_int_equal(r.count, 9);
	assert_v6_rule(&r.rule[0], "fd00::1", "fd00::1");
	assert_v6_rule(&r.rule[1], "fd00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_v6_rule(&r.rule[2], "fd00::2", "fd00::2");
	assert_v6_rule(&r.rule[3], "2001:db8::1", "2001:db8::1");
	assert_int_equal(r.rule[3].verdict, POLICY_TOR);
	assert_int_equal(r.rule[3].nports, 1);
	assert_int_equal(r.rule[3].port_lo[0], 443);
	assert_v6_rule(&r.rule[4], "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_v6_rule(&r.rule[5], "fd12::", "fd12:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_int_equal(r.rule[5].nports, 2);
	assert_int_equal(r.rule[5].port_lo[1], 8080);
	/* v4-mapped rules are kept as the IPv4 they mean, since addresses are unwrapped before matching. */
	assert_v4_rule(&r.rule[6], "10.1.2.3", "10.1.2.3");
	assert_v4_rule(&r.rule[7], "10.0.0.0", "10.255.255.255");
	assert_v6_rule(&r.rule[8], "fd00::abcd", "fd00::abcd");
	policy_rules_free(&r);
}

static void test_parse_port_word(void **state)
{
	(void)state;
	struct policy_rules r;
	parse_ok(&r, "lucid-mongodb port 27017\n"
		     "lucid-redis ports 6379,26379\n"
		     "web ports 80,443,8000-8100\n"
		     "api port 80, 443\n"
		     "api2 PORTS 80 443 9000-9001\n"
		     "refuse .example.com port 25\n");
	assert_int_equal(r.count, 6);
	assert_int_equal(r.rule[0].nports, 1);
	assert_int_equal(r.rule[0].port_lo[0], 27017);
	assert_int_equal(r.rule[0].port_hi[0], 27017);
	assert_int_equal(r.rule[1].nports, 2);
	assert_int_equal(r.rule[1].port_lo[1], 26379);
	assert_int_equal(r.rule[2].nports, 3);
	assert_int_equal(r.rule[2].port_lo[2], 8000);
	assert_int_equal(r.rule[2].port_hi[2], 8100);
	assert_int_equal(r.rule[3].nports, 2);
	assert_int_equal(r.rule[3].port_lo[1], 443);
	assert_int_equal(r.rule[4].nports, 3);
	assert_int_equal(r.rule[4].port_hi[2], 9001);
	assert_int_equal(r.rule[5].verdict, POLICY_REFUSE);
	assert_int_equal(r.rule[5].kind, POLICY_T_SUFFIX);
	assert_int_equal(r.rule[5].port_lo[0], 25);
	policy_rules_free(&r);
}

static void test_parse_port_suffix(void **state)
{
	(void)state;
	struct policy_rules r;
	parse_ok(&r, "lucid-redis:6379\n"
		     "172.20.1.91-98:8080,8090-8099\n"
		     "10.0.0.0/8:22\n"
		     ".example.com:443\n"
		     "*:1-1024\n"
		     "1.2.3.4:65535\n");
	assert_int_equal(r.count, 6);
	assert_int_equal(r.rule[0].kind, POLICY_T_NAME);
	assert_string_equal(r.rule[0].name, "lucid-redis");
	assert_int_equal(r.rule[0].port_lo[0], 6379);
	assert_v4_rule(&r.rule[1], "172.20.1.91", "172.20.1.98");
	assert_int_equal(r.rule[1].nports, 2);
	assert_int_equal(r.rule[1].port_hi[1], 8099);
	assert_v4_rule(&r.rule[2], "10.0.0.0", "10.255.255.255");
	assert_int_equal(r.rule[2].port_lo[0], 22);
	assert_int_equal(r.rule[3].kind, POLICY_T_SUFFIX);
	assert_int_equal(r.rule[3].port_lo[0], 443);
	assert_int_equal(r.rule[4].kind, POLICY_T_ANY);
	assert_int_equal(r.rule[4].port_hi[0], 1024);
	assert_int_equal(r.rule[5].port_lo[0], 65535);
	policy_rules_free(&r);
}

static void test_parse_comments_and_blanks(void **state)
{
	(void)state;
	struct policy_rules r;
	parse_ok(&r, "# header\n"
		     "\n"
		     "   \t \n"
		     "lucid-mongodb   # the database\n"
		     "\tlucid-redis\t\r\n"
		     "tor 10.0.0.0/8 port 80#no space before the comment\n"
		     "#refuse everything\n"
		     "last-line-without-newline");
	assert_int_equal(r.count, 4);
	assert_string_equal(r.rule[0].name, "lucid-mongodb");
	assert_int_equal(r.rule[0].line, 4);
	assert_string_equal(r.rule[1].name, "lucid-redis");
	assert_int_equal(r.rule[1].line, 5);
	assert_int_equal(r.rule[2].verdict, POLICY_TOR);
	assert_int_equal(r.rule[2].port_lo[0], 80);
	assert_int_equal(r.rule[2].line, 6);
	assert_string_equal(r.rule[3].name, "last-line-without-newline");
	assert_int_equal(r.rule[3].line, 8);
	policy_rules_free(&r);
}

static void test_parse_empty_and_appending(void **state)
{
	(void)state;
	struct policy_rules r;
	parse_ok(&r, "");
	assert_int_equal(r.count, 0);
	parse_ok(&r, "# only\n# comments\n\n");
	assert_int_equal(r.count, 0);
	policy_rules_free(&r);

	/* Many rules (the array grows), and a second text appends. */
	char text[8192] = "";
	for (int i = 0; i < 100; i++) {
		char line[40];
		snprintf(line, sizeof(line), "host-%d\n", i);
		strcat(text, line);
	}
	parse_ok(&r, text);
	assert_int_equal(r.count, 100);
	char err[128];
	assert_int_equal(policy_parse_text(&r, "extra\n", "test", err, sizeof(err)), 0);
	assert_int_equal(r.count, 101);
	assert_string_equal(r.rule[99].name, "host-99");
	assert_string_equal(r.rule[100].name, "extra");
	assert_int_equal(policy_parse_no_proxy(&r, "np", err, sizeof(err)), 0);
	assert_int_equal(r.count, 102);
	assert_int_equal(r.rule[101].kind, POLICY_T_DOMAIN);
	policy_rules_free(&r);
}

static void test_parse_bad_addresses(void **state)
{
	(void)state;
	parse_fails("256.1.1.1\n", 1, "bad IPv4 address \"256.1.1.1\"");
	parse_fails("1.2.3\n", 1, "bad IPv4 address");
	parse_fails("1.2.3.4.5\n", 1, "bad IPv4 address");
	parse_fails("01.2.3.4\n", 1, "bad IPv4 address");
	parse_fails("1.2..4\n", 1, "bad IPv4 address");
	parse_fails("fd00:::1\n", 1, "bad IPv6 address");
	parse_fails("fd00::zz\n", 1, "bad IPv6 address");
	parse_fails("fe80::1%eth0\n", 1, "bad IPv6 address");
	parse_fails("[10.0.0.1]\n", 1, "brackets are for IPv6");
	parse_fails("[fd00::1\n", 1, "missing ']'");
	parse_fails("[fd00::1]x\n", 1, "after ']'");
}

static void test_parse_bad_ranges(void **state)
{
	(void)state;
	parse_fails("172.20.1.98-91\n", 1, "bad address range 172.20.1.98-91");
	parse_fails("10.0.0.5-10.0.0.1\n", 1, "bad address range 10.0.0.5-10.0.0.1");
	parse_fails("10.0.0.5-256\n", 1, "bad address range");
	parse_fails("10.0.0.5-\n", 1, "bad address range");
	parse_fails("10.0.0.5-1.2.3\n", 1, "bad address range");
	parse_fails("10.0.0-5\n", 1, "bad address range");
	parse_fails("fd00::1-fd00::2\n", 1, "bad IPv6 address");
}

static void test_parse_bad_cidrs(void **state)
{
	(void)state;
	parse_fails("10.0.0.0/33\n", 1, "bad prefix length \"/33\"");
	parse_fails("fd00::/129\n", 1, "bad prefix length \"/129\"");
	parse_fails("10.0.0.0/\n", 1, "bad prefix length");
	parse_fails("10.0.0.0/x\n", 1, "bad prefix length \"/x\"");
	parse_fails("[fd00::]/-1\n", 1, "bad prefix length");
	parse_fails("10.0.0.1/8\n", 1, "host bits set in \"10.0.0.1/8\" (the network is 10.0.0.0/8)");
	parse_fails("fd00::1/8\n", 1, "host bits set");
	parse_fails("1.2.3.256/24\n", 1, "bad address");
}

static void test_parse_bad_ports(void **state)
{
	(void)state;
	parse_fails("host port 0\n", 1, "bad port \"0\"");
	parse_fails("host port 65536\n", 1, "bad port \"65536\"");
	parse_fails("host:0\n", 1, "bad port");
	parse_fails("host:65536\n", 1, "bad port");
	parse_fails("host:\n", 1, "missing port");
	parse_fails(":80\n", 1, "missing target");
	parse_fails("host port\n", 1, "missing port list");
	parse_fails("host port abc\n", 1, "bad port \"abc\"");
	parse_fails("host port 90-80\n", 1, "bad port range \"90-80\"");
	parse_fails("host port 80-\n", 1, "bad port");
	parse_fails("host port -80\n", 1, "bad port");
	parse_fails("host:80 port 443\n", 1, "ports given twice");
	parse_fails("host port 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n", 1, "too many ports");
	parse_fails("host port ,\n", 1, "missing port");
	/* Sixteen are fine. */
	struct policy_rules r;
	parse_ok(&r, "host port 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\n");
	assert_int_equal(r.rule[0].nports, 16);
	policy_rules_free(&r);
}

static void test_parse_bad_verbs_and_junk(void **state)
{
	(void)state;
	parse_fails("permit lucid-mongodb\n", 1, "unknown verb \"permit\"");
	parse_fails("direct\n", 1, "missing target after \"direct\"");
	parse_fails("tor port 80\n", 1, "missing target");
	parse_fails("lucid-mongodb junk\n", 1, "unexpected \"junk\" after target");
	parse_fails("mongodb 27017\n", 1, "unexpected \"27017\" after target");
	parse_fails("direct host extra\n", 1, "unexpected \"extra\"");
	parse_fails("direct host port 80 extra\n", 1, "bad port \"extra\"");
	parse_fails("refuse a b c d\n", 1, "unexpected \"b\"");
}

static void test_parse_bad_names(void **state)
{
	(void)state;
	char line[400];
	memset(line, 'a', 300);
	strcpy(line + 300, "\n");
	parse_fails(line, 1, "longer than 253");
	memset(line, 'b', 64);
	strcpy(line + 64, ".example.com\n");
	parse_fails(line, 1, "bad host name");
	parse_fails("bad!name\n", 1, "bad host name \"bad!name\"");
	parse_fails("a..b\n", 1, "bad host name");
	parse_fails("*foo\n", 1, "bad target \"*foo\"");
	parse_fails("foo*.com\n", 1, "bad target");
	parse_fails("*.\n", 1, "bad host name");
	parse_fails(".\n", 1, "bad host name");
	parse_fails("host/24\n", 1, "bad address \"host\"");
}

static void test_parse_error_line_and_file(void **state)
{
	(void)state;
	parse_fails("good-one\n# comment\n\n172.20.1.98-91\ngood-two\n", 4, "bad address range 172.20.1.98-91");
	struct policy_rules r = { 0 };
	char err[256];
	assert_int_equal(policy_parse_text(&r, "x\ny\n10.0.0.0/40\n", "/etc/torwrap/policy", err, sizeof(err)), -EINVAL);
	assert_contains(err, "/etc/torwrap/policy:3: bad prefix length");
	policy_rules_free(&r);
	/* A tiny or absent error buffer is not overrun. */
	char tiny[8];
	assert_int_equal(policy_parse_text(&r, "bad!\n", "f", tiny, sizeof(tiny)), -EINVAL);
	assert_int_equal(strlen(tiny), 7);
	policy_rules_free(&r);
	assert_int_equal(policy_parse_text(&r, "bad!\n", "f", NULL, 0), -EINVAL);
	policy_rules_free(&r);
}

/* ----------------------------------------------------------------------------------------------- NO_PROXY */

static void test_no_proxy_forms(void **state)
{
	(void)state;
	struct policy_rules r = { 0 };
	char err[256] = "";
	int e = policy_parse_no_proxy(&r,
				      "localhost, .Example.com  10.0.0.0/8,::1,[fd00::1]:8080,*.corp,host:8080,,"
				      " 192.168.1.1:3128\tfd00::/8,[fd12::]/16,*",
				      err, sizeof(err));
	if (e)
		fail_msg("%s", err);
	assert_int_equal(r.count, 11);
	for (size_t i = 0; i < r.count; i++) {
		assert_int_equal(r.rule[i].verdict, POLICY_DIRECT);
		assert_int_equal(r.rule[i].line, 0);
		assert_int_equal(r.rule[i].nports, 0); /* curl ignores ports here */
	}
	assert_int_equal(r.rule[0].kind, POLICY_T_DOMAIN);
	assert_string_equal(r.rule[0].name, "localhost");
	assert_int_equal(r.rule[1].kind, POLICY_T_DOMAIN);
	assert_string_equal(r.rule[1].name, "example.com");
	assert_v4_rule(&r.rule[2], "10.0.0.0", "10.255.255.255");
	assert_v6_rule(&r.rule[3], "::1", "::1");
	assert_v6_rule(&r.rule[4], "fd00::1", "fd00::1");
	assert_int_equal(r.rule[5].kind, POLICY_T_DOMAIN);
	assert_string_equal(r.rule[5].name, "corp");
	assert_string_equal(r.rule[6].name, "host");
	assert_v4_rule(&r.rule[7], "192.168.1.1", "192.168.1.1");
	assert_v6_rule(&r.rule[8], "fd00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_v6_rule(&r.rule[9], "fd12::", "fd12:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_int_equal(r.rule[10].kind, POLICY_T_ANY);
	policy_rules_free(&r);

	/* Empty entries and empty values give nothing. */
	assert_int_equal(policy_parse_no_proxy(&r, ",, ,\t,", err, sizeof(err)), 0);
	assert_int_equal(policy_parse_no_proxy(&r, "", err, sizeof(err)), 0);
	assert_int_equal(policy_parse_no_proxy(&r, NULL, err, sizeof(err)), 0);
	assert_int_equal(r.count, 0);
	/* curl masks host bits in a NO_PROXY CIDR instead of refusing it. */
	assert_int_equal(policy_parse_no_proxy(&r, "10.1.2.3/8", err, sizeof(err)), 0);
	assert_v4_rule(&r.rule[0], "10.0.0.0", "10.255.255.255");
	policy_rules_free(&r);
}

static void test_no_proxy_malformed(void **state)
{
	(void)state;
	no_proxy_fails("example.com,10.0.0.0/99", "entry \"10.0.0.0/99\": bad prefix length");
	no_proxy_fails("fd00::/129", "bad prefix length");
	no_proxy_fails("1.2.3.256", "bad IPv4 address");
	no_proxy_fails("10.0.0", "bad IPv4 address");
	no_proxy_fails("bad!host", "entry \"bad!host\": bad host name");
	no_proxy_fails("[::1", "missing ']'");
	no_proxy_fails("fd00:::1", "bad IPv6 address");
	no_proxy_fails(":8080", "missing host");
	no_proxy_fails(".", "bad host name");
}

static void test_no_proxy_curl_matching(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, NULL, "example.com");
	assert_int_equal(dn(&cfg, "example.com", 443), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "www.example.com", 443), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "a.b.example.com", 0), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "WWW.Example.COM.", 80), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "badexample.com", 443), POLICY_TOR);
	assert_int_equal(dn(&cfg, "example.com.evil.net", 443), POLICY_TOR);
	assert_int_equal(dn(&cfg, "example.org", 443), POLICY_TOR);
	config_free(&cfg);

	/* ".example.com" is the same in curl 7.86 and later: the name itself too. */
	cfg_from(&cfg, NULL, ".example.com");
	assert_int_equal(dn(&cfg, "example.com", 443), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "www.example.com", 443), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "badexample.com", 443), POLICY_TOR);
	config_free(&cfg);

	/* A port on the entry does not limit it. */
	cfg_from(&cfg, NULL, "example.com:8080");
	assert_int_equal(dn(&cfg, "example.com", 443), POLICY_DIRECT);
	config_free(&cfg);
}

static void test_no_proxy_star(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, NULL, "*");
	assert_int_equal(dn(&cfg, "anything.example", 443), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "8.8.8.8", 53), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "2001:4860:4860::8888", 53), POLICY_DIRECT);
	/* Onion services only exist inside Tor. */
	assert_int_equal(dn(&cfg, "abcdefghijklmnop.onion", 80), POLICY_TOR);
	config_free(&cfg);
}

static void test_no_proxy_addresses(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, NULL, "10.0.0.0/8, 192.168.1.1, fd00::/8, 2001:db8::5, [2001:db8::6]:443");
	assert_int_equal(da(&cfg, "10.1.2.3", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "10.255.255.255", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "11.0.0.1", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "9.255.255.255", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "192.168.1.1", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "192.168.1.2", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "fd12:3456::1", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "fe00::1", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "2001:db8::5", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "2001:db8::6", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "2001:db8::7", 80), POLICY_TOR);
	/* Address entries never match names (curl compares them only with address hosts). */
	assert_int_equal(dn(&cfg, "ten.example", 80), POLICY_TOR);
	/* An address literal given as a name is decided as the address. */
	assert_int_equal(dn(&cfg, "10.9.9.9", 80), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "2001:db8::5", 80), POLICY_DIRECT);
	config_free(&cfg);
}

static void test_decide_numeric_names(void **state)
{
	(void)state;
	/* Every spelling libc's getaddrinfo takes for 8.8.8.8 meets the rules for 8.8.8.8. */
	struct tw_config cfg;
	cfg_from(&cfg, "refuse 8.8.8.8\n172.20.1.91-98\n", NULL);
	assert_int_equal(dn(&cfg, "8.8.8.8", 53), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "8.8.8.8.", 53), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "134744072", 53), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "0x8.0x8.0x8.0x8", 53), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "010.010.010.010", 53), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "8.8.2056", 53), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "::ffff:8.8.8.8", 53), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "172.20.1.92", 80), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "2130706433", 80), POLICY_DIRECT); /* 127.0.0.1 */
	assert_int_equal(dn(&cfg, "8.8.8.9", 53), POLICY_TOR);
	assert_int_equal(dn(&cfg, "not:an:address", 53), POLICY_REFUSE);
	config_free(&cfg);
}

/* ------------------------------------------------------------------------------------------------ decision */

static void test_decide_default_tor(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, NULL, NULL);
	assert_int_equal(cfg.rules.count, 0);
	assert_int_equal(dn(&cfg, "example.com", 443), POLICY_TOR);
	/* A single-label name cannot exist on the Internet: refused, not sent to Tor (TORWRAP_INTERNAL_NAMES). */
	assert_int_equal(dn(&cfg, "lucid-mongodb", 27017), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "93.184.216.34", 443), POLICY_TOR);
	assert_int_equal(da(&cfg, "2606:2800:220:1::1", 443), POLICY_TOR);
	assert_int_equal(da(&cfg, "172.20.1.91", 8080), POLICY_TOR);
	config_free(&cfg);
}

static void test_decide_localhost_and_proxy(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, "refuse *\n", NULL);
	assert_int_equal(dn(&cfg, "localhost", 80), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "LocalHost.", 80), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "db.localhost", 5432), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "localhost.example.com", 80), POLICY_REFUSE);
	/* The proxy's own name always resolves and connects directly. */
	assert_string_equal(cfg.proxy_host, "tor-proxy");
	assert_int_equal(dn(&cfg, "tor-proxy", 9050), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "TOR-PROXY", 9050), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "x.tor-proxy", 9050), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "example.com", 80), POLICY_REFUSE);
	config_free(&cfg);
}

static void test_decide_onion(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, "direct *\ndirect abc.onion\n.onion\n", NULL);
	assert_int_equal(dn(&cfg, "abc.onion", 80), POLICY_TOR);
	assert_int_equal(dn(&cfg, "www.xyz.onion", 443), POLICY_TOR);
	assert_int_equal(dn(&cfg, "example.com", 443), POLICY_DIRECT);
	config_free(&cfg);

	cfg_from(&cfg, "refuse bad.onion\n", NULL);
	assert_int_equal(dn(&cfg, "bad.onion", 80), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "good.onion", 80), POLICY_TOR);
	config_free(&cfg);

	cfg_from(&cfg, "refuse .onion port 25\n", NULL);
	assert_int_equal(dn(&cfg, "mail.onion", 25), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "mail.onion", 80), POLICY_TOR);
	config_free(&cfg);
}

static void test_decide_precedence(void **state)
{
	(void)state;
	/* The same rules in either order give the same answers. */
	const char *orders[] = {
		"direct .example.com\ntor www.example.com\nrefuse bad.example.com\ndirect bad.example.com\n",
		"refuse bad.example.com\ndirect bad.example.com\ntor www.example.com\ndirect .example.com\n",
	};
	for (size_t i = 0; i < 2; i++) {
		struct tw_config cfg;
		cfg_from(&cfg, orders[i], NULL);
		assert_int_equal(dn(&cfg, "api.example.com", 443), POLICY_DIRECT);
		assert_int_equal(dn(&cfg, "www.example.com", 443), POLICY_TOR);
		assert_int_equal(dn(&cfg, "bad.example.com", 443), POLICY_REFUSE);
		assert_int_equal(dn(&cfg, "example.com", 443), POLICY_TOR); /* suffix: subdomains only */
		config_free(&cfg);
	}

	/* "tor *" overrides every direct rule; "refuse" overrides "tor". */
	struct tw_config cfg;
	cfg_from(&cfg, "lucid-mongodb\n10.0.0.0/8\ntor *\nrefuse 10.6.6.6\n", "lucid-redis");
	assert_int_equal(dn(&cfg, "lucid-mongodb", 27017), POLICY_TOR);
	assert_int_equal(dn(&cfg, "lucid-redis", 6379), POLICY_TOR);
	assert_int_equal(da(&cfg, "10.1.1.1", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "10.6.6.6", 80), POLICY_REFUSE);
	config_free(&cfg);

	/* NO_PROXY direct rules lose to file refuse rules. */
	cfg_from(&cfg, "refuse secret.example.com\n", "example.com");
	assert_int_equal(dn(&cfg, "www.example.com", 443), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "secret.example.com", 443), POLICY_REFUSE);
	config_free(&cfg);
}

static void test_decide_suffix_and_exact(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, "*.svc.cluster.local\nexact-host\n", NULL);
	assert_int_equal(dn(&cfg, "db.svc.cluster.local", 5432), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "a.b.svc.cluster.local", 5432), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "svc.cluster.local", 5432), POLICY_REFUSE); /* .local: internal */
	assert_int_equal(dn(&cfg, "xsvc.cluster.local", 5432), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "exact-host", 1), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "Exact-Host.", 1), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "sub.exact-host", 1), POLICY_TOR);
	assert_int_equal(dn(&cfg, "exact-host2", 1), POLICY_REFUSE); /* single label, not allowed */
	config_free(&cfg);
}

static void test_decide_ports(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, "lucid-mongodb port 27017\n"
		       "web ports 80,443,8000-8100\n"
		       "172.20.1.91-98:8080\n"
		       "tor api port 443\n"
		       "refuse mail port 25\n",
		 NULL);
	assert_int_equal(dn(&cfg, "lucid-mongodb", 27017), POLICY_DIRECT);
	/* Internal, but not on that port: refused rather than leaked to Tor. */
	assert_int_equal(dn(&cfg, "lucid-mongodb", 80), POLICY_REFUSE);
	/* Port unknown (a lookup): the rule counts. */
	assert_int_equal(dn(&cfg, "lucid-mongodb", 0), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "web", 80), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "web", 8000), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "web", 8050), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "web", 8100), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "web", 8101), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "web", 7999), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "172.20.1.95", 8080), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "172.20.1.95", 22), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "172.20.1.99", 22), POLICY_TOR);
	/* tor and refuse rules with ports apply on those ports only. */
	assert_int_equal(dn(&cfg, "api", 443), POLICY_TOR);
	assert_int_equal(dn(&cfg, "api", 80), POLICY_TOR); /* a tor rule names it: not refused as internal */
	assert_int_equal(dn(&cfg, "mail", 25), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "mail", 587), POLICY_TOR);
	assert_int_equal(dn(&cfg, "mail", 0), POLICY_REFUSE);
	config_free(&cfg);

	/* Another direct rule for every port wins over the port-limited one. */
	cfg_from(&cfg, "lucid-mongodb port 27017\n", "lucid-mongodb");
	assert_int_equal(dn(&cfg, "lucid-mongodb", 80), POLICY_DIRECT);
	config_free(&cfg);
	/* An explicit tor rule wins over the refusal of the other port. */
	cfg_from(&cfg, "lucid-mongodb port 27017\ntor lucid-mongodb port 80\n", NULL);
	assert_int_equal(dn(&cfg, "lucid-mongodb", 80), POLICY_TOR);
	assert_int_equal(dn(&cfg, "lucid-mongodb", 81), POLICY_REFUSE);
	config_free(&cfg);
}

static void test_decide_names_vs_addresses(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, "lucid-mongodb\n10.0.0.0/8\nfd00::/8\n", NULL);
	assert_int_equal(dn(&cfg, "lucid-mongodb", 1), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "10.2.3.4", 1), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "fd00::7", 1), POLICY_DIRECT);
	/* The name rule says nothing about addresses, and address rules say nothing about names. */
	assert_int_equal(da(&cfg, "172.20.0.5", 1), POLICY_TOR);
	assert_int_equal(dn(&cfg, "ten.internal", 1), POLICY_REFUSE); /* internal: refused, never to Tor */
	/* IPv4 rules do not match IPv6 addresses outside the mapped range. */
	assert_int_equal(da(&cfg, "::a02:304", 1), POLICY_TOR);
	config_free(&cfg);

	cfg_from(&cfg, "direct *\n", NULL);
	assert_int_equal(dn(&cfg, "example.com", 1), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "1.1.1.1", 1), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "2001:db8::1", 1), POLICY_DIRECT);
	config_free(&cfg);
}

static void test_decide_address_rules(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, "172.20.1.91-98\n10.0.0.5-10.0.1.7\n192.168.0.0/16\n2001:db8::/32\n[fd00::1]:443\n", NULL);
	assert_int_equal(da(&cfg, "172.20.1.90", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "172.20.1.91", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "172.20.1.98", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "172.20.1.99", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "10.0.0.4", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "10.0.0.200", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "10.0.1.7", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "10.0.1.8", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "192.168.255.255", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "192.169.0.0", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "2001:db8:ffff::1", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "2001:db9::1", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "fd00::1", 443), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "fd00::1", 80), POLICY_REFUSE);
	config_free(&cfg);
}

static void test_decide_special_addresses(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, "refuse *\n", NULL);
	assert_int_equal(da(&cfg, "127.0.0.1", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "127.5.6.7", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "127.191.255.255", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "0.0.0.0", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "::1", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "::", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "0.0.0.1", 80), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "128.0.0.1", 80), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "::2", 80), POLICY_REFUSE);
	/* The virtual range is Tor's, whatever the rules say. */
	assert_int_equal(da(&cfg, "127.192.0.1", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "127.255.255.254", 80), POLICY_TOR);
	config_free(&cfg);
}

static void test_decide_v4_mapped(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, "172.20.1.91-98\nrefuse 8.8.8.8\n", NULL);
	assert_int_equal(da(&cfg, "::ffff:172.20.1.95", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "::ffff:172.20.1.99", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "::ffff:8.8.8.8", 53), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "::ffff:127.0.0.1", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "::ffff:0.0.0.0", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "::ffff:127.192.0.9", 80), POLICY_TOR);
	config_free(&cfg);
}

static void test_decide_virtual_range(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, NULL, NULL);
	assert_true(policy_is_virtual_v4(&cfg, htonl(0x7fc00000u)));
	assert_true(policy_is_virtual_v4(&cfg, htonl(0x7fffffffu)));
	assert_false(policy_is_virtual_v4(&cfg, htonl(0x7fbfffffu)));
	assert_false(policy_is_virtual_v4(&cfg, htonl(0x7f000001u)));
	assert_false(policy_is_virtual_v4(&cfg, htonl(0x0a000001u)));
	assert_false(policy_is_virtual_v4(NULL, htonl(0x7fc00000u)));
	config_free(&cfg);

	struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" }, { "TORWRAP_VIRTUAL_NET", "127.100.0.0/16" }, { 0 } };
	cfg_env(&cfg, env);
	assert_false(cfg.broken);
	assert_true(policy_is_virtual_v4(&cfg, htonl(0x7f640102u)));
	assert_false(policy_is_virtual_v4(&cfg, htonl(0x7fc00000u)));
	assert_int_equal(da(&cfg, "127.100.1.2", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "127.192.0.1", 80), POLICY_DIRECT);
	config_free(&cfg);
}

static void test_decide_proxy_literal(void **state)
{
	(void)state;
	struct tw_config cfg;
	char *path = write_tmp("refuse *\n");
	struct kv env[] = { { "TORWRAP_POLICY", path }, { "TORWRAP_PROXY", "10.9.9.9:9050" }, { 0 } };
	cfg_env(&cfg, env);
	assert_false(cfg.broken);
	assert_int_equal(da(&cfg, "10.9.9.9", 9050), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "::ffff:10.9.9.9", 9050), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "10.9.9.9", 9050), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "10.9.9.8", 9050), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "tor-proxy", 9050), POLICY_REFUSE);
	config_free(&cfg);

	struct kv env6[] = { { "TORWRAP_POLICY", path }, { "TORWRAP_PROXY", "[fd00::9]:9150" }, { 0 } };
	cfg_env(&cfg, env6);
	assert_false(cfg.broken);
	assert_string_equal(cfg.proxy_host, "fd00::9");
	assert_int_equal(cfg.proxy_port, 9150);
	assert_int_equal(da(&cfg, "fd00::9", 9150), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "fd00::8", 9150), POLICY_REFUSE);
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void test_decide_bad_input(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, "direct *\n", NULL);
	assert_int_equal(policy_decide_name(NULL, "x", 1), POLICY_REFUSE);
	assert_int_equal(policy_decide_name(&cfg, NULL, 1), POLICY_REFUSE);
	assert_int_equal(policy_decide_name(&cfg, "bad name", 1), POLICY_REFUSE);
	assert_int_equal(policy_decide_name(&cfg, "", 1), POLICY_REFUSE);
	assert_int_equal(policy_decide_addr(&cfg, NULL, 0), POLICY_REFUSE);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	assert_int_equal(policy_decide_addr(NULL, (struct sockaddr *)&sin, sizeof(sin)), POLICY_REFUSE);
	assert_int_equal(policy_decide_addr(&cfg, (struct sockaddr *)&sin, sizeof(sin) - 1), POLICY_REFUSE);
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	assert_int_equal(policy_decide_addr(&cfg, (struct sockaddr *)&sin6, sizeof(struct sockaddr_in)),
			 POLICY_REFUSE);
	struct sockaddr un = { .sa_family = AF_UNIX };
	assert_int_equal(policy_decide_addr(&cfg, &un, sizeof(un)), POLICY_REFUSE);
	/* IPv6 literal with a zone, as a name. */
	assert_int_equal(policy_decide_name(&cfg, "fe80::1%eth0", 1), POLICY_DIRECT);
	config_free(&cfg);
}

static void test_decide_broken_refuses(void **state)
{
	(void)state;
	struct tw_config cfg;
	char *path = write_tmp("lucid-mongodb\n172.20.1.91-98\n");
	struct kv env[] = { { "TORWRAP_POLICY", path }, { "NO_PROXY", "example.com" },
			    { "TOR_CONNECTIVITY_TIMEOUT", "abc" }, { 0 } };
	cfg_env(&cfg, env);
	unlink(path);
	free(path);
	assert_true(cfg.broken);
	assert_int_equal(dn(&cfg, "lucid-mongodb", 27017), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "www.example.com", 443), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "anything.com", 443), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "abc.onion", 80), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "tor-proxy", 9050), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "172.20.1.95", 80), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "8.8.8.8", 53), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "2001:db8::1", 53), POLICY_REFUSE);
	/* A broken configuration hands out no virtual addresses, so none may be used either. */
	assert_int_equal(da(&cfg, "127.192.0.1", 80), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "localhost", 80), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "x.localhost", 80), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "127.0.0.1", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "127.0.0.1", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "::1", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "::ffff:127.0.0.1", 80), POLICY_DIRECT);
	config_free(&cfg);
}

static void test_stack_allowlist(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, stack_policy, NULL);
	assert_int_equal(cfg.rules.count, 10);
	const char *names[] = { "lucid-tron-client", "tron-payout-router",   "tron-wallet-manager", "tron-usdt-manager",
				"tron-staking",	     "tron-payment-gateway", "tron-relay",	    "lucid-mongodb",
				"lucid-redis" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(dn(&cfg, names[i], 443), POLICY_DIRECT);
	for (int last = 91; last <= 98; last++) {
		char a[32];
		snprintf(a, sizeof(a), "172.20.1.%d", last);
		assert_int_equal(da(&cfg, a, 8080), POLICY_DIRECT);
	}
	assert_int_equal(da(&cfg, "172.20.1.90", 8080), POLICY_TOR);
	assert_int_equal(da(&cfg, "172.20.1.99", 8080), POLICY_TOR);
	assert_int_equal(dn(&cfg, "api.trongrid.io", 443), POLICY_TOR);
	assert_int_equal(dn(&cfg, "tron-relay.evil.com", 443), POLICY_TOR);
	assert_int_equal(dn(&cfg, "lucid-mongodb2", 27017), POLICY_REFUSE); /* single label, not allowed */
	assert_int_equal(da(&cfg, "34.117.59.81", 443), POLICY_TOR);
	assert_int_equal(dn(&cfg, "tor-proxy", 9050), POLICY_DIRECT);
	config_free(&cfg);
}

/* The examples of docs/policy.md, as written there. */
static void test_docs_md_examples(void **state)
{
	(void)state;
	struct policy_rules r;
	parse_ok(&r, "lucid-mongodb port 27017\n"
		     "web ports 80,443,8000-8100\n"
		     "web2 ports 80, 443 8443\n"
		     "lucid-redis:6379\n"
		     "172.20.1.91-98:8080,8090-8099\n"
		     "[fd00::1]:443\n"
		     "*:25\n");
	assert_int_equal(r.count, 7);
	assert_int_equal(r.rule[2].nports, 3);
	policy_rules_free(&r);

	struct tw_config cfg;
	cfg_from(&cfg,
		 "# Internal services: direct.\n"
		 "lucid-mongodb\n"
		 "lucid-redis port 6379\n"
		 "172.20.1.91-98\n"
		 ".internal.example            # every host under internal.example (not internal.example itself)\n"
		 "\n"
		 "# This one is internal but should still be reached through Tor.\n"
		 "tor public-mirror.internal.example\n"
		 "\n"
		 "# Never, whatever else says.\n"
		 "refuse .doubleclick.net\n"
		 "deny 169.254.169.254         # cloud metadata endpoint\n",
		 NULL);
	assert_int_equal(cfg.rules.count, 7);
	assert_int_equal(dn(&cfg, "git.internal.example", 22), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "internal.example", 22), POLICY_TOR);
	assert_int_equal(dn(&cfg, "public-mirror.internal.example", 443), POLICY_TOR);
	assert_int_equal(dn(&cfg, "ad.doubleclick.net", 443), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "169.254.169.254", 80), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "lucid-redis", 6380), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "2886992223", 80), POLICY_DIRECT); /* 172.20.1.95 */
	config_free(&cfg);

	/* The NO_PROXY error quoted there. */
	struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" }, { "NO_PROXY", "10.0.0.0/99" }, { 0 } };
	cfg_env(&cfg, env);
	assert_string_equal(cfg.broken_reason,
			    "NO_PROXY: entry \"10.0.0.0/99\": bad prefix length \"/99\" in \"10.0.0.0/99\" (0-32)");
	config_free(&cfg);
}

/* docs/policy.example must parse and give the stack its allowlist. Found from this file's path (the Makefile
 * compiles from the repository root) or the working directory. */
static void test_docs_example(void **state)
{
	(void)state;
	char path[4096];
	const char *src = __FILE__;
	const char *cut = strstr(src, "tests/unit/");
	snprintf(path, sizeof(path), "%.*sdocs/policy.example", cut ? (int)(cut - src) : 0, src);
	if (access(path, R_OK) != 0)
		snprintf(path, sizeof(path), "docs/policy.example");
	if (access(path, R_OK) != 0)
		skip();
	struct tw_config cfg;
	struct kv env[] = { { "TORWRAP_POLICY", path }, { 0 } };
	cfg_env(&cfg, env);
	if (cfg.broken)
		fail_msg("%s", cfg.broken_reason);
	assert_true(cfg.rules.count >= 9);
	assert_int_equal(dn(&cfg, "lucid-mongodb", 27017), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "lucid-redis", 6379), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "tron-payment-gateway", 8080), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "172.20.1.93", 8080), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "api.trongrid.io", 443), POLICY_TOR);
	config_free(&cfg);
}

/* ---------------------------------------------------------------------------------------------- config */

static void test_config_defaults(void **state)
{
	(void)state;
	struct tw_config cfg;
	struct kv env[] = { { 0 } };
	cfg_env(&cfg, env);
	assert_string_equal(cfg.proxy_host, "tor-proxy");
	assert_int_equal(cfg.proxy_port, 9050);
	assert_int_equal(cfg.timeout_ms, 30000);
	assert_int_equal(cfg.log_level, TW_LOG_WARN);
	assert_string_equal(cfg.policy_file, "/etc/torwrap/policy");
	assert_false(cfg.policy_file_explicit);
	assert_int_equal(cfg.vnet_addr, htonl(0x7fc00000u));
	assert_int_equal(cfg.vnet_mask, htonl(0xffc00000u));
	assert_string_equal(cfg.resolv_conf, "/etc/resolv.conf");
	assert_string_equal(cfg.hosts_file, "/etc/hosts");
	if (access(POLICY_DEFAULT_FILE, F_OK) != 0) {
		/* No file at the default place: fine, no allowlist. */
		assert_false(cfg.broken);
		assert_int_equal(cfg.rules.count, 0);
	}
	config_free(&cfg);

	/* NULL getenv means the real environment; nothing of ours is set here except what we set. */
	assert_int_equal(config_build(&cfg, NULL, NULL), 0);
	config_free(&cfg);
	assert_int_equal(config_build(NULL, fake_getenv, env), -EINVAL);
}

/* Every variable config_build reads, each set to a valid value that is not the default. */
static const struct kv every_variable[] = {
	{ "TORWRAP_PROXY", "user-proxy:1111" }, { "TOR_PROXY_URL", "socks5h://url-proxy:2222" },
	{ "SOCKS5_PROXY", "socks-proxy:3333" }, { "TOR_PROXY_HOST", "host-proxy" },
	{ "TOR_PROXY_SOCKS_PORT", "4444" }, { "TOR_CONNECTIVITY_TIMEOUT", "7" },
	{ "TORWRAP_LOG_LEVEL", "debug" }, { "TORWRAP_VIRTUAL_NET", "127.100.0.0/16" },
	{ "TORWRAP_MODE", "onion-only" }, { "TORWRAP_ISOLATION", "none" },
	{ "TOR_CIRCUIT_ROTATION_INTERVAL", "60" }, { "TORWRAP_RESOLV_CONF", "/dev/null" },
	{ "TORWRAP_HOSTS", "/dev/null" }, { "TORWRAP_POLICY", "/dev/null" },
	{ "NO_PROXY", "example.org" }, { "no_proxy", "example.net" }, { NULL, NULL },
};

static int getenv_calls;
static const char *counting_getenv(const char *name, void *ctx)
{
	getenv_calls++;
	return fake_getenv(name, ctx);
}

static void test_config_secure(void **state)
{
	(void)state;
	struct tw_config plain, secure, defaults;
	/* Control: every value takes effect when the environment is trusted. */
	assert_int_equal(config_build(&plain, fake_getenv, (void *)every_variable), 0);
	assert_false(plain.broken);
	assert_false(plain.secure);
	assert_string_equal(plain.proxy_host, "user-proxy");
	assert_int_equal(plain.timeout_ms, 7000);
	assert_int_equal(plain.mode, POLICY_MODE_ONION_ONLY);
	assert_true(plain.policy_file_explicit);

	getenv_calls = 0;
	assert_int_equal(config_build_ex(&secure, counting_getenv, (void *)every_variable, CONFIG_SECURE), 0);
	assert_int_equal(getenv_calls, 0);
	assert_true(secure.secure);
	assert_int_equal(config_build(&defaults, fake_getenv, NULL), 0);
	assert_string_equal(secure.proxy_host, POLICY_DEFAULT_PROXY_HOST);
	assert_int_equal(secure.proxy_port, POLICY_DEFAULT_PROXY_PORT);
	assert_int_equal(secure.timeout_ms, POLICY_DEFAULT_TIMEOUT_MS);
	assert_int_equal(secure.log_level, TW_LOG_WARN);
	assert_int_equal(secure.vnet_addr, defaults.vnet_addr);
	assert_int_equal(secure.vnet_mask, defaults.vnet_mask);
	assert_int_equal(secure.mode, POLICY_MODE_POLICY);
	assert_int_equal(secure.isolation, POLICY_ISO_PROCESS);
	assert_int_equal(secure.rotation_s, 0);
	assert_string_equal(secure.resolv_conf, "/etc/resolv.conf");
	assert_string_equal(secure.hosts_file, "/etc/hosts");
	assert_string_equal(secure.policy_file, POLICY_DEFAULT_FILE);
	assert_false(secure.policy_file_explicit);
	assert_int_equal(secure.rules.count, defaults.rules.count); /* no NO_PROXY rules added */
	config_free(&plain);
	config_free(&secure);
	config_free(&defaults);
}

static void test_env_is_ours(void **state)
{
	(void)state;
	const char *ours[] = { "TORWRAP_POLICY=/x", "TORWRAP_VMAP_FD=3", "TOR_PROXY_HOST=h", "SOCKS5_PROXY=h:1",
			       "NO_PROXY=a", "no_proxy=a", "TORWRAP_LOG_FILE=/x" };
	const char *theirs[] = { "PATH=/bin", "TORX=1", "SOCKS5_PROXYX=1", "NO_PROXYX=1", "HTTP_PROXY=x", "TOR=1" };
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		assert_true(tw_env_is_ours(ours[i]));
	for (size_t i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++)
		assert_false(tw_env_is_ours(theirs[i]));
}

static void test_config_proxy_precedence(void **state)
{
	(void)state;
	struct tw_config cfg;
	struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" },
			    { "TORWRAP_PROXY", "wrapper-proxy:1111" },
			    { "TOR_PROXY_URL", "socks5h://url-proxy:2222" },
			    { "SOCKS5_PROXY", "socks-proxy:3333" },
			    { "TOR_PROXY_HOST", "host-proxy" },
			    { "TOR_PROXY_SOCKS_PORT", "4444" },
			    { 0 } };
	const char *want_host[] = { "wrapper-proxy", "url-proxy", "socks-proxy", "host-proxy" };
	const uint16_t want_port[] = { 1111, 2222, 3333, 4444 };
	for (int i = 0; i < 4; i++) {
		cfg_env(&cfg, env);
		assert_false(cfg.broken);
		assert_string_equal(cfg.proxy_host, want_host[i]);
		assert_int_equal(cfg.proxy_port, want_port[i]);
		config_free(&cfg);
		env[1 + i].v = NULL; /* unset the winner: the next one takes over */
	}
	/* TOR_PROXY_SOCKS_PORT applies to the default host too. */
	cfg_env(&cfg, env);
	assert_string_equal(cfg.proxy_host, "tor-proxy");
	assert_int_equal(cfg.proxy_port, 4444);
	config_free(&cfg);
	env[5].v = NULL;
	cfg_env(&cfg, env);
	assert_string_equal(cfg.proxy_host, "tor-proxy");
	assert_int_equal(cfg.proxy_port, 9050);
	config_free(&cfg);

	/* A higher variable that is set hides a broken lower one. */
	struct kv env2[] = { { "TORWRAP_POLICY", "/dev/null" },
			     { "TORWRAP_PROXY", "good:9050" },
			     { "TOR_PROXY_URL", "http://bad:8118" },
			     { "TOR_PROXY_SOCKS_PORT", "nope" },
			     { 0 } };
	cfg_env(&cfg, env2);
	assert_false(cfg.broken);
	assert_string_equal(cfg.proxy_host, "good");
	config_free(&cfg);

	/* Empty counts as unset. */
	struct kv env3[] = { { "TORWRAP_POLICY", "/dev/null" }, { "TORWRAP_PROXY", "" }, { "SOCKS5_PROXY", "s5:5" },
			     { 0 } };
	cfg_env(&cfg, env3);
	assert_false(cfg.broken);
	assert_string_equal(cfg.proxy_host, "s5");
	assert_int_equal(cfg.proxy_port, 5);
	config_free(&cfg);
}

/* Several proxies, comma-separated, in every variable's own form; each names its port or takes the default. */
static void test_config_proxy_list(void **state)
{
	(void)state;
	struct tw_config cfg;
	struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" }, { "TOR_PROXY_URL", " socks5h://a:1, socks5://[fd00::2]:2 ,socks5h://c" },
			    { 0 } };
	cfg_env(&cfg, env);
	assert_false(cfg.broken);
	assert_int_equal(cfg.nproxy, 3);
	assert_string_equal(cfg.proxy[0].host, "a");
	assert_int_equal(cfg.proxy[0].port, 1);
	assert_string_equal(cfg.proxy[1].host, "fd00::2");
	assert_int_equal(cfg.proxy[1].port, 2);
	assert_string_equal(cfg.proxy[2].host, "c");
	assert_int_equal(cfg.proxy[2].port, 9050);
	assert_string_equal(cfg.proxy_host, "a"); /* the first stands for them all */
	assert_string_equal(cfg.proxy_list, "a:1,[fd00::2]:2,c:9050");
	/* Each proxy's name and literal is direct, as the one proxy's was. */
	assert_int_equal(policy_decide_name(&cfg, "c", 9050), POLICY_DIRECT);
	config_free(&cfg);

	struct kv parts[] = { { "TORWRAP_POLICY", "/dev/null" }, { "TOR_PROXY_HOST", "tor-a,127.0.0.3" },
			      { "TOR_PROXY_SOCKS_PORT", "9150" }, { 0 } };
	cfg_env(&cfg, parts);
	assert_false(cfg.broken);
	assert_int_equal(cfg.nproxy, 2);
	assert_int_equal(cfg.proxy[1].port, 9150);
	assert_string_equal(cfg.proxy_list, "tor-a:9150,127.0.0.3:9150");
	config_free(&cfg);

	/* An empty item, a bad one, or too many: broken, with the variable named. */
	const char *bad[] = { "a:1,,b:2", "a:1,", ",a", "a:1,b:x", "1,2,3,4,5,6,7,8,9" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kv e[] = { { "TORWRAP_POLICY", "/dev/null" }, { "TORWRAP_PROXY", bad[i] }, { 0 } };
		cfg_env(&cfg, e);
		assert_true(cfg.broken);
		assert_non_null(strstr(cfg.broken_reason, "TORWRAP_PROXY="));
		config_free(&cfg);
	}
}

struct proxy_case {
	const char *var, *value, *host;
	uint16_t port;
};

static void test_config_proxy_forms(void **state)
{
	(void)state;
	const struct proxy_case cases[] = {
		{ "TORWRAP_PROXY", "10.0.0.2:9050", "10.0.0.2", 9050 },
		{ "TORWRAP_PROXY", "[::1]:9150", "::1", 9150 },
		{ "TORWRAP_PROXY", "[fd00::5]", "fd00::5", 9050 },
		{ "TORWRAP_PROXY", "fd00::5", "fd00::5", 9050 },
		{ "TORWRAP_PROXY", "Tor-Proxy.Internal.:9050", "tor-proxy.internal", 9050 },
		{ "TORWRAP_PROXY", " tor:9050 ", "tor", 9050 },
		{ "TORWRAP_PROXY", "tor", "tor", 9050 },
		{ "TOR_PROXY_URL", "socks5://tor-proxy:9050", "tor-proxy", 9050 },
		{ "TOR_PROXY_URL", "socks5h://tor-proxy:9150", "tor-proxy", 9150 },
		{ "TOR_PROXY_URL", "SOCKS5H://[::1]:9050/", "::1", 9050 },
		{ "TOR_PROXY_URL", "socks5h://172.18.0.2", "172.18.0.2", 9050 },
		{ "SOCKS5_PROXY", "127.0.0.1:1080", "127.0.0.1", 1080 },
		{ "SOCKS5_PROXY", "socks5h://tor:9050", "tor", 9050 },
		{ "TOR_PROXY_HOST", "[fd00::7]", "fd00::7", 9050 },
		{ "TOR_PROXY_HOST", "fd00::7", "fd00::7", 9050 },
		{ "TOR_PROXY_HOST", "10.1.1.1", "10.1.1.1", 9050 },
		{ "TOR_PROXY_SOCKS_PORT", "9999", "tor-proxy", 9999 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tw_config cfg;
		struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" }, { cases[i].var, cases[i].value }, { 0 } };
		cfg_env(&cfg, env);
		if (cfg.broken)
			fail_msg("%s=%s: %s", cases[i].var, cases[i].value, cfg.broken_reason);
		assert_string_equal(cfg.proxy_host, cases[i].host);
		assert_int_equal(cfg.proxy_port, cases[i].port);
		config_free(&cfg);
	}
}

struct error_case {
	const char *var, *value, *reason;
};

static void check_errors(const struct error_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct tw_config cfg;
		struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" }, { cases[i].var, cases[i].value }, { 0 } };
		cfg_env(&cfg, env);
		if (!cfg.broken)
			fail_msg("%s=\"%s\" was accepted", cases[i].var, cases[i].value);
		assert_contains(cfg.broken_reason, cases[i].reason);
		/* Everything else still has its defaults. */
		assert_true(cfg.proxy_host[0] != '\0');
		assert_true(cfg.proxy_port != 0);
		assert_true(cfg.timeout_ms > 0);
		assert_true(cfg.vnet_mask != 0);
		config_free(&cfg);
	}
}

static void test_config_proxy_errors(void **state)
{
	(void)state;
	const struct error_case cases[] = {
		{ "TOR_PROXY_URL", "http://proxy:8118", "TOR_PROXY_URL=\"http://proxy:8118\": unsupported scheme" },
		{ "TOR_PROXY_URL", "socks4://proxy:9050", "unsupported scheme" },
		{ "TOR_PROXY_URL", "tor-proxy:9050", "not a socks5:// or socks5h:// URL" },
		{ "TOR_PROXY_URL", "socks5h://user:pw@tor:9050", "credentials" },
		{ "TOR_PROXY_URL", "socks5h://tor:9050/path", "unexpected path" },
		{ "TOR_PROXY_URL", "socks5h://tor:0", "bad port" },
		{ "TOR_PROXY_URL", "socks5h://", "missing host" },
		{ "TORWRAP_PROXY", "tor:65536", "TORWRAP_PROXY=\"tor:65536\": bad port" },
		{ "TORWRAP_PROXY", "tor:", "bad port" },
		{ "TORWRAP_PROXY", "tor:abc", "bad port" },
		{ "TORWRAP_PROXY", "bad host:9050", "bad host name" },
		{ "TORWRAP_PROXY", "[::1:9050", "missing ']'" },
		{ "TORWRAP_PROXY", "[::1]x", "after ']'" },
		{ "TORWRAP_PROXY", "[zz::1]:9050", "bad IPv6 address" },
		{ "TORWRAP_PROXY", "10.0.0.300:9050", "bad IPv4 address" },
		{ "TORWRAP_PROXY", ":9050", "missing host" },
		{ "SOCKS5_PROXY", "https://x:1", "SOCKS5_PROXY=\"https://x:1\": unsupported scheme" },
		{ "SOCKS5_PROXY", "x:99999", "bad port" },
		{ "TOR_PROXY_HOST", "tor:9050", "a host only" },
		{ "TOR_PROXY_HOST", "bad_host!", "TOR_PROXY_HOST=\"bad_host!\": bad host name" },
		{ "TOR_PROXY_SOCKS_PORT", "abc", "TOR_PROXY_SOCKS_PORT=\"abc\": not a port number" },
		{ "TOR_PROXY_SOCKS_PORT", "0", "not a port number" },
		{ "TOR_PROXY_SOCKS_PORT", "-1", "not a port number" },
	};
	check_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_config_timeout(void **state)
{
	(void)state;
	const struct {
		const char *value;
		int ms;
	} ok[] = { { "30", 30000 }, { "2.5", 2500 },	 { "0.5", 500 },   { ".25", 250 },   { "5.", 5000 },
		   { "3600", 3600000 }, { "3600.000", 3600000 }, { "0.001", 1 }, { "0.0001", 1 }, { " 7 ", 7000 },
		   { "1.23456", 1234 } };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct tw_config cfg;
		struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" }, { "TOR_CONNECTIVITY_TIMEOUT", ok[i].value }, { 0 } };
		cfg_env(&cfg, env);
		if (cfg.broken)
			fail_msg("%s: %s", ok[i].value, cfg.broken_reason);
		assert_int_equal(cfg.timeout_ms, ok[i].ms);
		config_free(&cfg);
	}
	struct tw_config cfg;
	struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" }, { "TOR_CONNECTIVITY_TIMEOUT", "abc" }, { 0 } };
	cfg_env(&cfg, env);
	assert_true(cfg.broken);
	assert_string_equal(cfg.broken_reason, "TOR_CONNECTIVITY_TIMEOUT=\"abc\": not a number of seconds");
	assert_int_equal(cfg.timeout_ms, 30000);
	config_free(&cfg);

	const struct error_case cases[] = {
		{ "TOR_CONNECTIVITY_TIMEOUT", "0", "must be more than 0 and at most 3600 seconds" },
		{ "TOR_CONNECTIVITY_TIMEOUT", "0.000", "more than 0" },
		{ "TOR_CONNECTIVITY_TIMEOUT", "-1", "not a number" },
		{ "TOR_CONNECTIVITY_TIMEOUT", "3601", "at most 3600" },
		{ "TOR_CONNECTIVITY_TIMEOUT", "3600.5", "at most 3600" },
		{ "TOR_CONNECTIVITY_TIMEOUT", "99999999999999999999", "at most 3600" },
		{ "TOR_CONNECTIVITY_TIMEOUT", "1e3", "not a number" },
		{ "TOR_CONNECTIVITY_TIMEOUT", "30s", "not a number" },
		{ "TOR_CONNECTIVITY_TIMEOUT", ".", "not a number" },
		{ "TOR_CONNECTIVITY_TIMEOUT", "1.2.3", "not a number" },
		{ "TOR_CONNECTIVITY_TIMEOUT", "+5", "not a number" },
	};
	check_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_config_log_level(void **state)
{
	(void)state;
	struct tw_config cfg;
	struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" }, { "TORWRAP_LOG_LEVEL", "debug" }, { 0 } };
	cfg_env(&cfg, env);
	assert_false(cfg.broken);
	assert_int_equal(cfg.log_level, TW_LOG_DEBUG);
	config_free(&cfg);
	env[1].v = "1";
	cfg_env(&cfg, env);
	assert_int_equal(cfg.log_level, TW_LOG_ERROR);
	config_free(&cfg);
	env[1].v = "none";
	cfg_env(&cfg, env);
	assert_int_equal(cfg.log_level, TW_LOG_NONE);
	config_free(&cfg);

	const struct error_case cases[] = {
		{ "TORWRAP_LOG_LEVEL", "loud", "TORWRAP_LOG_LEVEL=\"loud\": not a log level" },
		{ "TORWRAP_LOG_LEVEL", "7", "not a log level" },
	};
	check_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_config_virtual_net(void **state)
{
	(void)state;
	const struct {
		const char *value;
		uint32_t addr, mask;
	} ok[] = { { "127.192.0.0/10", 0x7fc00000u, 0xffc00000u },
		   { "127.128.0.0/9", 0x7f800000u, 0xff800000u },
		   { "127.10.20.0/24", 0x7f0a1400u, 0xffffff00u },
		   { "127.64.0.0/16", 0x7f400000u, 0xffff0000u } };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct tw_config cfg;
		struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" }, { "TORWRAP_VIRTUAL_NET", ok[i].value }, { 0 } };
		cfg_env(&cfg, env);
		if (cfg.broken)
			fail_msg("%s: %s", ok[i].value, cfg.broken_reason);
		assert_int_equal(cfg.vnet_addr, htonl(ok[i].addr));
		assert_int_equal(cfg.vnet_mask, htonl(ok[i].mask));
		config_free(&cfg);
	}
	const struct error_case cases[] = {
		{ "TORWRAP_VIRTUAL_NET", "10.0.0.0/8", "TORWRAP_VIRTUAL_NET=\"10.0.0.0/8\": must lie inside 127.0.0.0/8" },
		{ "TORWRAP_VIRTUAL_NET", "127.192.0.0/25", "prefix must be between /8 and /24" },
		{ "TORWRAP_VIRTUAL_NET", "126.0.0.0/7", "prefix must be between" },
		{ "TORWRAP_VIRTUAL_NET", "127.192.0.1/10", "host bits set (the network is 127.192.0.0/10)" },
		{ "TORWRAP_VIRTUAL_NET", "127.0.0.0/8", "must not contain 127.0.0.1" },
		{ "TORWRAP_VIRTUAL_NET", "127.0.0.0/16", "must not contain 127.0.0.1" },
		{ "TORWRAP_VIRTUAL_NET", "127.192.0.0", "not an IPv4 network" },
		{ "TORWRAP_VIRTUAL_NET", "127.192.0.0/x", "not an IPv4 network" },
		{ "TORWRAP_VIRTUAL_NET", "127.192.0.0/", "not an IPv4 network" },
		{ "TORWRAP_VIRTUAL_NET", "127.300.0.0/10", "bad IPv4 address" },
		{ "TORWRAP_VIRTUAL_NET", "fd00::/8", "bad IPv4 address" },
	};
	check_errors(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_config_policy_file(void **state)
{
	(void)state;
	struct tw_config cfg;
	/* An explicitly named file that is missing breaks the configuration. */
	struct kv missing[] = { { "TORWRAP_POLICY", "/tmp/torwrap-test-does-not-exist/policy" }, { 0 } };
	cfg_env(&cfg, missing);
	assert_true(cfg.broken);
	assert_true(cfg.policy_file_explicit);
	assert_contains(cfg.broken_reason, "TORWRAP_POLICY=\"/tmp/torwrap-test-does-not-exist/policy\": cannot read: ");
	assert_contains(cfg.broken_reason, "No such file");
	config_free(&cfg);

	/* Unreadable (a directory: root reads any mode, so permissions cannot be tested here). */
	struct kv dir[] = { { "TORWRAP_POLICY", "/tmp" }, { 0 } };
	cfg_env(&cfg, dir);
	assert_true(cfg.broken);
	assert_contains(cfg.broken_reason, "cannot read: Is a directory");
	config_free(&cfg);

	/* A parse error names file and line. */
	char *path = write_tmp("lucid-mongodb\n\n172.20.1.98-91\n");
	struct kv bad[] = { { "TORWRAP_POLICY", path }, { 0 } };
	cfg_env(&cfg, bad);
	assert_true(cfg.broken);
	char want[512];
	snprintf(want, sizeof(want), "%s:3: bad address range 172.20.1.98-91", path);
	assert_string_equal(cfg.broken_reason, want);
	unlink(path);
	free(path);
	config_free(&cfg);

	/* A good file is read; rules keep their lines. */
	path = write_tmp("# allowlist\nlucid-mongodb\nrefuse 10.0.0.0/8\n");
	struct kv good[] = { { "TORWRAP_POLICY", path }, { 0 } };
	cfg_env(&cfg, good);
	assert_false(cfg.broken);
	assert_string_equal(cfg.policy_file, path);
	assert_int_equal(cfg.rules.count, 2);
	assert_int_equal(cfg.rules.rule[1].line, 3);
	unlink(path);
	free(path);
	config_free(&cfg);

	/* A NUL byte means this is not the text file it should be. */
	path = write_tmp("");
	int fd = open(path, O_WRONLY);
	assert_int_equal(write(fd, "host\n\0junk\n", 11), 11);
	close(fd);
	struct kv nul[] = { { "TORWRAP_POLICY", path }, { 0 } };
	cfg_env(&cfg, nul);
	assert_true(cfg.broken);
	assert_contains(cfg.broken_reason, "NUL byte");
	unlink(path);
	free(path);
	config_free(&cfg);

	/* An empty file is an empty allowlist. */
	path = write_tmp("");
	struct kv empty[] = { { "TORWRAP_POLICY", path }, { 0 } };
	cfg_env(&cfg, empty);
	assert_false(cfg.broken);
	assert_int_equal(cfg.rules.count, 0);
	unlink(path);
	free(path);
	config_free(&cfg);

	/* A path too long for the configuration. */
	char longpath[5000];
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	struct kv toolong[] = { { "TORWRAP_POLICY", longpath }, { 0 } };
	cfg_env(&cfg, toolong);
	assert_true(cfg.broken);
	assert_contains(cfg.broken_reason, "path too long");
	config_free(&cfg);
}

static void test_config_big_policy_file(void **state)
{
	(void)state;
	/* Larger than the first read buffer: the reader must grow. */
	size_t cap = 400000;
	char *text = malloc(cap);
	assert_non_null(text);
	text[0] = '\0';
	size_t len = 0;
	for (int i = 0; i < 5000; i++)
		len += (size_t)snprintf(text + len, cap - len, "host-%d.example.internal # rule %d\n", i, i);
	char *path = write_tmp(text);
	free(text);
	struct tw_config cfg;
	struct kv env[] = { { "TORWRAP_POLICY", path }, { 0 } };
	cfg_env(&cfg, env);
	assert_false(cfg.broken);
	assert_int_equal(cfg.rules.count, 5000);
	assert_int_equal(dn(&cfg, "host-4999.example.internal", 1), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "host-5000.example.internal", 1), POLICY_REFUSE); /* internal, not allowed */
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void test_config_no_proxy_vars(void **state)
{
	(void)state;
	struct tw_config cfg;
	char *path = write_tmp("lucid-mongodb\n");
	struct kv both[] = { { "TORWRAP_POLICY", path }, { "NO_PROXY", "upper.example" }, { "no_proxy", "lower.example" },
			     { 0 } };
	cfg_env(&cfg, both);
	assert_false(cfg.broken);
	assert_int_equal(cfg.rules.count, 2);
	/* File rules first, then NO_PROXY's (line 0). */
	assert_int_equal(cfg.rules.rule[0].line, 1);
	assert_int_equal(cfg.rules.rule[1].line, 0);
	assert_int_equal(dn(&cfg, "upper.example", 1), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "lower.example", 1), POLICY_TOR);
	config_free(&cfg);

	both[1].v = NULL;
	cfg_env(&cfg, both);
	assert_int_equal(dn(&cfg, "upper.example", 1), POLICY_TOR);
	assert_int_equal(dn(&cfg, "lower.example", 1), POLICY_DIRECT);
	config_free(&cfg);

	struct kv bad[] = { { "TORWRAP_POLICY", path }, { "NO_PROXY", "localhost,10.0.0.0/99" }, { 0 } };
	cfg_env(&cfg, bad);
	assert_true(cfg.broken);
	assert_contains(cfg.broken_reason, "NO_PROXY: entry \"10.0.0.0/99\": bad prefix length");
	config_free(&cfg);

	struct kv badlower[] = { { "TORWRAP_POLICY", path }, { "no_proxy", "a b!c" }, { 0 } };
	cfg_env(&cfg, badlower);
	assert_true(cfg.broken);
	assert_contains(cfg.broken_reason, "no_proxy: entry \"b!c\"");
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void test_config_paths_and_ignored(void **state)
{
	(void)state;
	struct tw_config cfg;
	struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" },
			    { "TORWRAP_RESOLV_CONF", "/tmp/resolv.test" },
			    { "TORWRAP_HOSTS", "/tmp/hosts.test" },
			    { "HTTP_PROXY", "::garbage::" },
			    { "HTTPS_PROXY", "http://x:1" },
			    { "http_proxy", "nonsense" },
			    { 0 } };
	cfg_env(&cfg, env);
	assert_false(cfg.broken);
	assert_true(cfg.policy_file_explicit);
	assert_string_equal(cfg.resolv_conf, "/tmp/resolv.test");
	assert_string_equal(cfg.hosts_file, "/tmp/hosts.test");
	assert_string_equal(cfg.proxy_host, "tor-proxy");
	config_free(&cfg);

	char longpath[5000];
	memset(longpath, 'r', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	struct kv toolong[] = { { "TORWRAP_POLICY", "/dev/null" }, { "TORWRAP_HOSTS", longpath }, { 0 } };
	cfg_env(&cfg, toolong);
	assert_true(cfg.broken);
	assert_contains(cfg.broken_reason, "TORWRAP_HOSTS=");
	assert_string_equal(cfg.hosts_file, "/etc/hosts");
	config_free(&cfg);
}

static void test_config_system_files(void **state)
{
	(void)state;
	struct tw_config cfg;
	char *resolv = write_tmp("nameserver 127.0.0.11\noptions ndots:0\n");
	char *hosts = write_tmp("172.20.1.95 tron-relay\n");
	struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" },
			    { "TORWRAP_RESOLV_CONF", resolv },
			    { "TORWRAP_HOSTS", hosts },
			    { 0 } };
	cfg_env(&cfg, env);
	assert_false(cfg.broken);
	assert_string_equal(cfg.resolv_text, "nameserver 127.0.0.11\noptions ndots:0\n");
	assert_string_equal(cfg.hosts_text, "172.20.1.95 tron-relay\n");
	config_free(&cfg);
	assert_null(cfg.resolv_text);
	assert_null(cfg.hosts_text);
	config_free(&cfg); /* twice is harmless */
	unlink(resolv);
	unlink(hosts);

	/* Absent files read as empty, without breaking anything. */
	cfg_env(&cfg, env);
	assert_false(cfg.broken);
	assert_non_null(cfg.resolv_text);
	assert_string_equal(cfg.resolv_text, "");
	assert_non_null(cfg.hosts_text);
	assert_string_equal(cfg.hosts_text, "");
	config_free(&cfg);
	free(resolv);
	free(hosts);

	/* Present but unreadable breaks the configuration. */
	struct kv dir[] = { { "TORWRAP_POLICY", "/dev/null" }, { "TORWRAP_HOSTS", "/tmp" }, { 0 } };
	cfg_env(&cfg, dir);
	assert_true(cfg.broken);
	assert_string_equal(cfg.broken_reason, "TORWRAP_HOSTS \"/tmp\": cannot read: Is a directory");
	assert_non_null(cfg.hosts_text);
	config_free(&cfg);
}

static void test_config_first_reason_kept(void **state)
{
	(void)state;
	struct tw_config cfg;
	struct kv env[] = { { "TORWRAP_POLICY", "/dev/null" },
			    { "TORWRAP_PROXY", "good-proxy:9150" },
			    { "TOR_CONNECTIVITY_TIMEOUT", "abc" },
			    { "TORWRAP_VIRTUAL_NET", "10.0.0.0/8" },
			    { "NO_PROXY", "lucid-redis" },
			    { 0 } };
	cfg_env(&cfg, env);
	assert_true(cfg.broken);
	assert_string_equal(cfg.broken_reason, "TOR_CONNECTIVITY_TIMEOUT=\"abc\": not a number of seconds");
	/* The good values are still taken; the bad ones keep their defaults. */
	assert_string_equal(cfg.proxy_host, "good-proxy");
	assert_int_equal(cfg.proxy_port, 9150);
	assert_int_equal(cfg.timeout_ms, 30000);
	assert_int_equal(cfg.vnet_addr, htonl(0x7fc00000u));
	assert_int_equal(cfg.rules.count, 1);
	config_free(&cfg);
}

static void test_config_get(void **state)
{
	(void)state;
	char *path = write_tmp("lucid-mongodb\n");
	setenv("TORWRAP_POLICY", path, 1);
	setenv("TORWRAP_LOG_LEVEL", "error", 1);
	setenv("NO_PROXY", "lucid-redis", 1);
	const struct tw_config *a = config_get();
	const struct tw_config *b = config_get();
	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_false(a->broken);
	assert_int_equal(tw_log_get_level(), TW_LOG_ERROR);
	assert_int_equal(policy_decide_name(a, "lucid-mongodb", 27017), POLICY_DIRECT);
	assert_int_equal(policy_decide_name(a, "lucid-redis", 6379), POLICY_DIRECT);
	/* Built once: later changes to the environment do not matter. */
	setenv("TORWRAP_LOG_LEVEL", "bogus", 1);
	assert_ptr_equal(config_get(), a);
	assert_false(config_get()->broken);
	unsetenv("TORWRAP_POLICY");
	unsetenv("TORWRAP_LOG_LEVEL");
	unsetenv("NO_PROXY");
	unlink(path);
	free(path);
	tw_log_set_level(TW_LOG_WARN);
}

/* ----------------------------------------------------------------------------------- modes and isolation */

/* A configuration with policy text and extra variables (NULL-terminated pairs after the policy). */
static void cfg_with(struct tw_config *cfg, const char *policy_text, const struct kv *extra)
{
	char *path = write_tmp(policy_text ? policy_text : "");
	struct kv env[16];
	size_t n = 0;
	env[n++] = (struct kv){ "TORWRAP_POLICY", path };
	for (; extra && extra->k && n < 15; extra++)
		env[n++] = *extra;
	env[n] = (struct kv){ NULL, NULL };
	assert_int_equal(config_build(cfg, fake_getenv, env), 0);
	unlink(path);
	free(path);
}

/* ---------------------------------------------------------------------------------------- internal names */

static void test_internal_names(void **state)
{
	(void)state;
	const char *internal[] = { "api", "lucid-mongodb2", "db.internal", "printer.local", "nas.home.arpa",
				   "git.corp", "x.lan", "box.localdomain", "wiki.intranet", "a.b.private",
				   "lucid-mongodb.dns.podman" };
	const char *external[] = { "example.com", "api.trongrid.io", "xyz.onion", "localhost", "home.arpa.example",
				   "internal.example.com", "corp.example", "dns.podman.example.com", "podman.io" };
	for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++)
		if (!policy_name_internal(internal[i], NULL))
			fail_msg("%s is not internal", internal[i]);
	for (size_t i = 0; i < sizeof(external) / sizeof(external[0]); i++)
		if (policy_name_internal(external[i], NULL))
			fail_msg("%s is internal", external[i]);
	const char *suffix = "unset";
	assert_true(policy_name_internal("nas.home.arpa", &suffix));
	assert_string_equal(suffix, "home.arpa");
	assert_true(policy_name_internal("api", &suffix));
	assert_null(suffix);

	struct tw_config cfg;
	cfg_from(&cfg, "ledger.internal port 8080\ntor onion-gw.corp\n", "cache.lan");
	struct policy_reason why;
	assert_int_equal(policy_decide_name_why(&cfg, "db.internal", 5432, &why), POLICY_REFUSE);
	assert_int_equal(why.kind, POLICY_BY_INTERNAL);
	assert_string_equal(why.suffix, "internal");
	assert_int_equal(dn(&cfg, "ledger.internal", 8080), POLICY_DIRECT); /* allowed: the policy knows it */
	assert_int_equal(dn(&cfg, "ledger.internal", 22), POLICY_REFUSE); /* another port: refused by its rule */
	assert_int_equal(policy_decide_name_why(&cfg, "ledger.internal", 22, &why), POLICY_REFUSE);
	assert_int_equal(why.kind, POLICY_BY_RULE);
	assert_true(why.port_unlisted);
	assert_int_equal(dn(&cfg, "onion-gw.corp", 443), POLICY_TOR); /* an explicit tor rule wins */
	assert_int_equal(dn(&cfg, "cache.lan", 6379), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "example.com", 443), POLICY_TOR);
	assert_int_equal(dn(&cfg, "tor-proxy", 9050), POLICY_DIRECT); /* the proxy: single label, built in */
	config_free(&cfg);

	struct kv tor[] = { { "TORWRAP_INTERNAL_NAMES", " Tor " }, { 0 } };
	cfg_with(&cfg, NULL, tor);
	assert_false(cfg.broken);
	assert_int_equal(dn(&cfg, "db.internal", 5432), POLICY_TOR);
	assert_int_equal(dn(&cfg, "api", 80), POLICY_TOR);
	config_free(&cfg);
	struct kv refuse[] = { { "TORWRAP_INTERNAL_NAMES", "refuse" }, { 0 } };
	cfg_with(&cfg, NULL, refuse);
	assert_false(cfg.broken);
	assert_int_equal(dn(&cfg, "api", 80), POLICY_REFUSE);
	config_free(&cfg);
	struct kv bad[] = { { "TORWRAP_INTERNAL_NAMES", "direct" }, { 0 } };
	cfg_with(&cfg, NULL, bad);
	assert_true(cfg.broken);
	assert_contains(cfg.broken_reason, "TORWRAP_INTERNAL_NAMES=\"direct\"");
	config_free(&cfg);
}

static void test_reason_text(void **state)
{
	(void)state;
	struct tw_config cfg;
	cfg_from(&cfg, "# comment\n  direct   lucid-mongodb   port 27017  # why\n10.0.0.0/8\n", ".corp.example,fd00::/8");
	struct policy_reason why;
	char buf[4200], want[4200];
	assert_int_equal(policy_decide_name_why(&cfg, "lucid-mongodb", 27017, &why), POLICY_DIRECT);
	snprintf(want, sizeof(want), "%s:2", cfg.policy_file);
	assert_string_equal(policy_reason_text(&cfg, &why, buf, sizeof(buf)), want);
	assert_string_equal(why.rule->source, "direct lucid-mongodb port 27017");
	assert_int_equal(policy_decide_name_why(&cfg, "a.corp.example", 1, &why), POLICY_DIRECT);
	assert_string_equal(policy_reason_text(&cfg, &why, buf, sizeof(buf)), "NO_PROXY .corp.example");
	assert_int_equal(policy_decide_name_why(&cfg, "example.com", 443, &why), POLICY_TOR);
	assert_string_equal(policy_reason_text(&cfg, &why, buf, sizeof(buf)), "default");
	assert_int_equal(policy_decide_name_why(&cfg, "x.onion", 443, &why), POLICY_TOR);
	assert_string_equal(policy_reason_text(&cfg, &why, buf, sizeof(buf)), "built-in onion");
	assert_int_equal(policy_decide_name_why(&cfg, "localhost", 80, &why), POLICY_DIRECT);
	assert_string_equal(policy_reason_text(&cfg, &why, buf, sizeof(buf)), "built-in localhost");
	assert_int_equal(policy_decide_name_why(&cfg, "tor-proxy", 9050, &why), POLICY_DIRECT);
	assert_string_equal(policy_reason_text(&cfg, &why, buf, sizeof(buf)), "built-in proxy");
	assert_int_equal(policy_decide_name_why(&cfg, "db", 1, &why), POLICY_REFUSE);
	assert_string_equal(policy_reason_text(&cfg, &why, buf, sizeof(buf)), "built-in internal-name");
	assert_int_equal(policy_decide_name_why(&cfg, "bad name", 1, &why), POLICY_REFUSE);
	assert_string_equal(policy_reason_text(&cfg, &why, buf, sizeof(buf)), "malformed");
	assert_int_equal(policy_decide_name_why(&cfg, "10.1.2.3", 1, &why), POLICY_DIRECT);
	snprintf(want, sizeof(want), "%s:3", cfg.policy_file);
	assert_string_equal(policy_reason_text(&cfg, &why, buf, sizeof(buf)), want);
	assert_int_equal(policy_decide_name_why(&cfg, "fd00::1", 1, &why), POLICY_DIRECT);
	assert_string_equal(policy_reason_text(&cfg, &why, buf, sizeof(buf)), "NO_PROXY fd00::/8");
	config_free(&cfg);

	struct kv env[] = { { "TORWRAP_MODE", "onion-only" }, { 0 } };
	cfg_with(&cfg, NULL, env);
	assert_int_equal(policy_decide_name_why(&cfg, "example.com", 443, &why), POLICY_REFUSE);
	assert_string_equal(policy_reason_text(&cfg, &why, buf, sizeof(buf)), "mode onion-only");
	config_free(&cfg);
	struct kv broken[] = { { "TORWRAP_MODE", "bogus" }, { 0 } };
	cfg_with(&cfg, NULL, broken);
	assert_int_equal(policy_decide_name_why(&cfg, "example.com", 443, &why), POLICY_REFUSE);
	assert_string_equal(policy_reason_text(&cfg, &why, buf, sizeof(buf)), "broken configuration");
	config_free(&cfg);
}

static const char mode_policy[] = "api.internal\n10.0.0.0/8\n172.20.1.91-98\nlucid-mongodb port 27017\n"
				  "refuse bad.example.com\nrefuse 10.6.6.6\nrefuse evil.onion\n";

static void test_config_mode(void **state)
{
	(void)state;
	const struct {
		const char *value;
		enum policy_mode mode;
	} ok[] = { { "policy", POLICY_MODE_POLICY },	     { "tor-only", POLICY_MODE_TOR_ONLY },
		   { " Tor-Only ", POLICY_MODE_TOR_ONLY },   { "tor_only", POLICY_MODE_TOR_ONLY },
		   { "onion-only", POLICY_MODE_ONION_ONLY }, { "ONION_ONLY", POLICY_MODE_ONION_ONLY } };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct tw_config cfg;
		struct kv env[] = { { "TORWRAP_MODE", ok[i].value }, { 0 } };
		cfg_with(&cfg, NULL, env);
		if (cfg.broken)
			fail_msg("%s: %s", ok[i].value, cfg.broken_reason);
		assert_int_equal(cfg.mode, ok[i].mode);
		config_free(&cfg);
	}
	struct tw_config cfg;
	cfg_with(&cfg, NULL, NULL);
	assert_int_equal(cfg.mode, POLICY_MODE_POLICY); /* the default */
	assert_string_equal(policy_mode_name(cfg.mode), "policy");
	config_free(&cfg);
	/* Malformed: broken, so everything not local is refused (fail closed), with the value named. */
	const char *bad[] = { "toronly", "onion", "tor-only,policy", "1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kv env[] = { { "TORWRAP_MODE", bad[i] }, { 0 } };
		cfg_with(&cfg, NULL, env);
		assert_true(cfg.broken);
		assert_contains(cfg.broken_reason, "TORWRAP_MODE=\"");
		assert_contains(cfg.broken_reason, "policy, tor-only or onion-only");
		assert_int_equal(dn(&cfg, "example.com", 80), POLICY_REFUSE);
		assert_int_equal(dn(&cfg, "x.onion", 80), POLICY_REFUSE);
		assert_int_equal(dn(&cfg, "localhost", 80), POLICY_DIRECT);
		config_free(&cfg);
	}
	assert_string_equal(policy_mode_name(POLICY_MODE_TOR_ONLY), "tor-only");
	assert_string_equal(policy_mode_name(POLICY_MODE_ONION_ONLY), "onion-only");
	assert_string_equal(policy_mode_name((enum policy_mode)42), "?");
}

static void test_config_isolation_and_rotation(void **state)
{
	(void)state;
	const struct {
		const char *value;
		enum policy_isolation iso;
	} ok[] = { { "process", POLICY_ISO_PROCESS },	  { "none", POLICY_ISO_NONE },
		   { "Connection", POLICY_ISO_CONNECTION }, { " destination ", POLICY_ISO_DESTINATION } };
	struct tw_config cfg;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct kv env[] = { { "TORWRAP_ISOLATION", ok[i].value }, { 0 } };
		cfg_with(&cfg, NULL, env);
		if (cfg.broken)
			fail_msg("%s: %s", ok[i].value, cfg.broken_reason);
		assert_int_equal(cfg.isolation, ok[i].iso);
		config_free(&cfg);
	}
	cfg_with(&cfg, NULL, NULL);
	assert_int_equal(cfg.isolation, POLICY_ISO_PROCESS);
	assert_int_equal(cfg.rotation_s, 0);
	config_free(&cfg);
	const char *bad_iso[] = { "per-process", "pid", "0", "none process" };
	for (size_t i = 0; i < sizeof(bad_iso) / sizeof(bad_iso[0]); i++) {
		struct kv env[] = { { "TORWRAP_ISOLATION", bad_iso[i] }, { 0 } };
		cfg_with(&cfg, NULL, env);
		assert_true(cfg.broken);
		assert_contains(cfg.broken_reason, "TORWRAP_ISOLATION=\"");
		assert_contains(cfg.broken_reason, "none, process, connection or destination");
		config_free(&cfg);
	}

	const struct {
		const char *value;
		uint32_t s;
	} rot[] = { { "0", 0 }, { "3", 3 }, { " 600 ", 600 }, { "31622400", 31622400 }, { "", 0 } };
	for (size_t i = 0; i < sizeof(rot) / sizeof(rot[0]); i++) {
		struct kv env[] = { { "TOR_CIRCUIT_ROTATION_INTERVAL", rot[i].value }, { 0 } };
		cfg_with(&cfg, NULL, env);
		if (cfg.broken)
			fail_msg("%s: %s", rot[i].value, cfg.broken_reason);
		assert_int_equal(cfg.rotation_s, rot[i].s);
		config_free(&cfg);
	}
	const char *bad_rot[] = { "-1", "10m", "2.5", "abc", "31622401", "9999999999", "1 0" };
	for (size_t i = 0; i < sizeof(bad_rot) / sizeof(bad_rot[0]); i++) {
		struct kv env[] = { { "TOR_CIRCUIT_ROTATION_INTERVAL", bad_rot[i] }, { 0 } };
		cfg_with(&cfg, NULL, env);
		if (!cfg.broken)
			fail_msg("TOR_CIRCUIT_ROTATION_INTERVAL=\"%s\" was accepted", bad_rot[i]);
		assert_contains(cfg.broken_reason, "TOR_CIRCUIT_ROTATION_INTERVAL=\"");
		assert_int_equal(dn(&cfg, "example.com", 80), POLICY_REFUSE);
		config_free(&cfg);
	}
	assert_string_equal(policy_isolation_name(POLICY_ISO_NONE), "none");
	assert_string_equal(policy_isolation_name(POLICY_ISO_DESTINATION), "destination");
	assert_string_equal(policy_isolation_name((enum policy_isolation)42), "?");
}

static void test_mode_policy_unchanged(void **state)
{
	(void)state;
	struct tw_config cfg;
	struct kv env[] = { { "TORWRAP_MODE", "policy" }, { 0 } };
	cfg_with(&cfg, mode_policy, env);
	assert_false(cfg.broken);
	assert_int_equal(dn(&cfg, "api.internal", 443), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "10.1.2.3", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "10.6.6.6", 80), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "lucid-mongodb", 80), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "example.com", 443), POLICY_TOR);
	assert_int_equal(dn(&cfg, "tor-proxy", 9050), POLICY_DIRECT);
	config_free(&cfg);
}

static void test_mode_tor_only(void **state)
{
	(void)state;
	struct tw_config cfg;
	struct kv env[] = { { "TORWRAP_MODE", "tor-only" }, { "NO_PROXY", "lucid-redis,192.168.0.0/16" }, { 0 } };
	cfg_with(&cfg, mode_policy, env);
	assert_false(cfg.broken);
	/* Allowed names and addresses, from the file and NO_PROXY, go through Tor instead. */
	assert_int_equal(dn(&cfg, "api.internal", 443), POLICY_TOR);
	assert_int_equal(dn(&cfg, "lucid-redis", 6379), POLICY_TOR);
	assert_int_equal(da(&cfg, "10.1.2.3", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "172.20.1.95", 80), POLICY_TOR);
	assert_int_equal(da(&cfg, "192.168.1.1", 80), POLICY_TOR);
	/* A direct rule with ports no longer refuses the other ports: the rule is set aside as a whole. */
	assert_int_equal(dn(&cfg, "lucid-mongodb", 27017), POLICY_TOR);
	assert_int_equal(dn(&cfg, "lucid-mongodb", 80), POLICY_TOR);
	/* Refuse rules still refuse. */
	assert_int_equal(dn(&cfg, "bad.example.com", 443), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "10.6.6.6", 80), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "evil.onion", 80), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "good.onion", 80), POLICY_TOR);
	/* Loopback, localhost and the proxy itself stay direct. */
	assert_int_equal(dn(&cfg, "localhost", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "127.0.0.2", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "::1", 80), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "127.0.0.1", 80), POLICY_DIRECT);
	assert_int_equal(dn(&cfg, "tor-proxy", 9050), POLICY_DIRECT);
	/* The virtual range is Tor's as always. */
	assert_int_equal(da(&cfg, "127.192.0.5", 80), POLICY_TOR);
	config_free(&cfg);

	/* "direct *" would send everything direct in mode policy; not in tor-only. */
	struct kv env2[] = { { "TORWRAP_MODE", "tor-only" }, { "NO_PROXY", "*" }, { 0 } };
	cfg_with(&cfg, "direct *\n", env2);
	assert_int_equal(dn(&cfg, "example.com", 443), POLICY_TOR);
	assert_int_equal(da(&cfg, "8.8.8.8", 53), POLICY_TOR);
	config_free(&cfg);

	/* A proxy given as an address stays direct too. */
	struct kv env3[] = { { "TORWRAP_MODE", "tor-only" }, { "TORWRAP_PROXY", "172.20.0.5:9050" }, { 0 } };
	cfg_with(&cfg, NULL, env3);
	assert_int_equal(da(&cfg, "172.20.0.5", 9050), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "172.20.0.6", 9050), POLICY_TOR);
	config_free(&cfg);
}

static void test_mode_onion_only(void **state)
{
	(void)state;
	struct tw_config cfg;
	struct kv env[] = { { "TORWRAP_MODE", "onion-only" }, { "NO_PROXY", "lucid-redis" }, { 0 } };
	cfg_with(&cfg, mode_policy, env);
	assert_false(cfg.broken);
	assert_int_equal(dn(&cfg, "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion", 443), POLICY_TOR);
	assert_int_equal(dn(&cfg, "www.abc.onion", 80), POLICY_TOR);
	assert_int_equal(dn(&cfg, "evil.onion", 80), POLICY_REFUSE); /* refuse rules still apply */
	/* Everything else that is not this host is refused: names, allowed names, addresses, the proxy's name. */
	assert_int_equal(dn(&cfg, "example.com", 443), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "api.internal", 443), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "lucid-redis", 6379), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "onion", 80), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "onion.example.com", 80), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "tor-proxy", 9050), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "10.1.2.3", 80), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "93.184.216.34", 443), POLICY_REFUSE);
	assert_int_equal(da(&cfg, "2001:db8::1", 443), POLICY_REFUSE);
	assert_int_equal(dn(&cfg, "8.8.8.8", 53), POLICY_REFUSE);
	/* This host stays reachable. */
	assert_int_equal(dn(&cfg, "localhost", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "127.0.0.1", 9050), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "::1", 80), POLICY_DIRECT);
	assert_int_equal(da(&cfg, "127.192.0.5", 80), POLICY_TOR); /* virtual: decided by its name */

	char why[600];
	assert_contains(policy_refusal_why(&cfg, "example.com", why, sizeof(why)), "TORWRAP_MODE=onion-only");
	assert_contains(policy_refusal_why(&cfg, NULL, why, sizeof(why)), "only .onion destinations");
	assert_string_equal(policy_refusal_why(&cfg, "evil.onion", why, sizeof(why)), ""); /* a rule, not the mode */
	config_free(&cfg);

	cfg_with(&cfg, NULL, NULL);
	assert_string_equal(policy_refusal_why(&cfg, "example.com", why, sizeof(why)), "");
	config_free(&cfg);
	struct kv env2[] = { { "TORWRAP_MODE", "what" }, { 0 } };
	cfg_with(&cfg, NULL, env2);
	assert_contains(policy_refusal_why(&cfg, "example.com", why, sizeof(why)), "configuration broken: TORWRAP_MODE");
	config_free(&cfg);
}

static int token_of(const struct tw_config *cfg, const char *host, uint16_t port, long pid, uint64_t seq,
		    int64_t now, char *out)
{
	struct policy_stream st = { .host = host, .port = port, .pid = pid, .conn_seq = seq, .now_s = now };
	return policy_isolation_token(cfg, &st, out, POLICY_TOKEN_MAX);
}

static void test_isolation_tokens(void **state)
{
	(void)state;
	struct tw_config a, b;
	char t1[POLICY_TOKEN_MAX], t2[POLICY_TOKEN_MAX], t3[POLICY_TOKEN_MAX];

	/* process (the default): one token per process; another pid, or another seed (another container whose
	 * main process is also pid 1), another token; the destination and the counter do not matter. */
	cfg_with(&a, NULL, NULL);
	cfg_with(&b, NULL, NULL);
	a.isolation_seed = 1;
	b.isolation_seed = 2;
	assert_int_equal(token_of(&a, "api.trongrid.io", 443, 1, 1, 1000, t1), 1);
	assert_int_equal(strncmp(t1, "process-", 8), 0);
	assert_true(strlen(t1) < POLICY_TOKEN_MAX);
	token_of(&a, "example.com", 80, 1, 7, 999999, t2);
	assert_string_equal(t1, t2);
	token_of(&a, "api.trongrid.io", 443, 2, 1, 1000, t2);
	assert_string_not_equal(t1, t2);
	token_of(&b, "api.trongrid.io", 443, 1, 1, 1000, t2);
	assert_string_not_equal(t1, t2);

	/* connection: every connection its own. */
	a.isolation = POLICY_ISO_CONNECTION;
	token_of(&a, "api.trongrid.io", 443, 1, 1, 1000, t1);
	token_of(&a, "api.trongrid.io", 443, 1, 2, 1000, t2);
	token_of(&a, "api.trongrid.io", 443, 2, 1, 1000, t3);
	assert_int_equal(strncmp(t1, "connection-", 11), 0);
	assert_string_not_equal(t1, t2);
	assert_string_not_equal(t1, t3);

	/* destination: host:port decide, the same in every process (no seed), names compared case-insensitively. */
	a.isolation = POLICY_ISO_DESTINATION;
	b.isolation = POLICY_ISO_DESTINATION;
	token_of(&a, "api.trongrid.io", 443, 1, 1, 1000, t1);
	token_of(&b, "API.TronGrid.io.", 443, 99, 5, 2000, t2);
	assert_int_equal(strncmp(t1, "destination-", 12), 0);
	assert_string_equal(t1, t2);
	token_of(&a, "api.trongrid.io", 80, 1, 1, 1000, t2);
	assert_string_not_equal(t1, t2);
	token_of(&a, "www.trongrid.io", 443, 1, 1, 1000, t2);
	assert_string_not_equal(t1, t2);
	token_of(&a, "10.1.2.3", 443, 1, 1, 1000, t2);
	token_of(&a, "::1", 443, 1, 1, 1000, t3);
	assert_string_not_equal(t2, t3);
	assert_int_equal(token_of(&a, "", 443, 1, 1, 1000, t2), -EINVAL);
	assert_int_equal(token_of(&a, NULL, 443, 1, 1, 1000, t2), -EINVAL);

	/* none: no credentials at all. */
	a.isolation = POLICY_ISO_NONE;
	assert_int_equal(token_of(&a, "api.trongrid.io", 443, 1, 1, 1000, t1), 0);

	/* Bad calls. */
	struct policy_stream st = { .host = "x", .port = 1, .pid = 1 };
	assert_int_equal(policy_isolation_token(NULL, &st, t1, sizeof(t1)), -EINVAL);
	assert_int_equal(policy_isolation_token(&a, NULL, t1, sizeof(t1)), -EINVAL);
	assert_int_equal(policy_isolation_token(&a, &st, NULL, sizeof(t1)), -EINVAL);
	assert_int_equal(policy_isolation_token(&a, &st, t1, 8), -EINVAL);
	config_free(&a);
	config_free(&b);

	/* The seed is drawn per configuration: two configurations of one process differ. */
	cfg_with(&a, NULL, NULL);
	cfg_with(&b, NULL, NULL);
	assert_true(a.isolation_seed != b.isolation_seed);
	config_free(&a);
	config_free(&b);
}

static void test_isolation_rotation(void **state)
{
	(void)state;
	struct tw_config cfg;
	char t1[POLICY_TOKEN_MAX], t2[POLICY_TOKEN_MAX];
	struct kv env[] = { { "TOR_CIRCUIT_ROTATION_INTERVAL", "600" }, { 0 } };
	enum policy_isolation isos[] = { POLICY_ISO_PROCESS, POLICY_ISO_CONNECTION, POLICY_ISO_DESTINATION };
	cfg_with(&cfg, NULL, env);
	assert_int_equal(cfg.rotation_s, 600);
	for (size_t i = 0; i < sizeof(isos) / sizeof(isos[0]); i++) {
		cfg.isolation = isos[i];
		/* floor(now / 600): 1200..1799 is one interval, 1800 the next. */
		token_of(&cfg, "api.trongrid.io", 443, 1, 1, 1200, t1);
		token_of(&cfg, "api.trongrid.io", 443, 1, 1, 1799, t2);
		assert_string_equal(t1, t2);
		token_of(&cfg, "api.trongrid.io", 443, 1, 1, 1800, t2);
		assert_string_not_equal(t1, t2);
		/* Before 1970 too: -1 and 0 are in different intervals, -600 and -1 in the same. */
		token_of(&cfg, "api.trongrid.io", 443, 1, 1, -1, t1);
		token_of(&cfg, "api.trongrid.io", 443, 1, 1, 0, t2);
		assert_string_not_equal(t1, t2);
		token_of(&cfg, "api.trongrid.io", 443, 1, 1, -600, t2);
		assert_string_equal(t1, t2);
	}
	/* Rotation with isolation none: one shared token per interval, instead of none. */
	cfg.isolation = POLICY_ISO_NONE;
	assert_int_equal(token_of(&cfg, "a", 1, 1, 1, 1200, t1), 1);
	assert_int_equal(strncmp(t1, "rotation-", 9), 0);
	token_of(&cfg, "b", 2, 2, 2, 1300, t2);
	assert_string_equal(t1, t2);
	token_of(&cfg, "a", 1, 1, 1, 1800, t2);
	assert_string_not_equal(t1, t2);
	config_free(&cfg);

	/* Off: time does not matter. */
	cfg_with(&cfg, NULL, NULL);
	token_of(&cfg, "api.trongrid.io", 443, 1, 1, 0, t1);
	token_of(&cfg, "api.trongrid.io", 443, 1, 1, 1000000000, t2);
	assert_string_equal(t1, t2);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tw_name_normalize),
		cmocka_unit_test(test_tw_name_domains),
		cmocka_unit_test(test_tw_log_levels),
		cmocka_unit_test(test_tw_log_write),
		cmocka_unit_test(test_tw_now_ms),
		cmocka_unit_test(test_verdict_names),
		cmocka_unit_test(test_parse_name_default_verb),
		cmocka_unit_test(test_parse_verbs),
		cmocka_unit_test(test_parse_suffixes_and_star),
		cmocka_unit_test(test_parse_ipv4_forms),
		cmocka_unit_test(test_parse_ipv6_forms),
		cmocka_unit_test(test_parse_port_word),
		cmocka_unit_test(test_parse_port_suffix),
		cmocka_unit_test(test_parse_comments_and_blanks),
		cmocka_unit_test(test_parse_empty_and_appending),
		cmocka_unit_test(test_parse_bad_addresses),
		cmocka_unit_test(test_parse_bad_ranges),
		cmocka_unit_test(test_parse_bad_cidrs),
		cmocka_unit_test(test_parse_bad_ports),
		cmocka_unit_test(test_parse_bad_verbs_and_junk),
		cmocka_unit_test(test_parse_bad_names),
		cmocka_unit_test(test_parse_error_line_and_file),
		cmocka_unit_test(test_no_proxy_forms),
		cmocka_unit_test(test_no_proxy_malformed),
		cmocka_unit_test(test_no_proxy_curl_matching),
		cmocka_unit_test(test_no_proxy_star),
		cmocka_unit_test(test_no_proxy_addresses),
		cmocka_unit_test(test_decide_numeric_names),
		cmocka_unit_test(test_decide_default_tor),
		cmocka_unit_test(test_decide_localhost_and_proxy),
		cmocka_unit_test(test_decide_onion),
		cmocka_unit_test(test_decide_precedence),
		cmocka_unit_test(test_decide_suffix_and_exact),
		cmocka_unit_test(test_decide_ports),
		cmocka_unit_test(test_decide_names_vs_addresses),
		cmocka_unit_test(test_decide_address_rules),
		cmocka_unit_test(test_decide_special_addresses),
		cmocka_unit_test(test_decide_v4_mapped),
		cmocka_unit_test(test_decide_virtual_range),
		cmocka_unit_test(test_decide_proxy_literal),
		cmocka_unit_test(test_decide_bad_input),
		cmocka_unit_test(test_decide_broken_refuses),
		cmocka_unit_test(test_stack_allowlist),
		cmocka_unit_test(test_docs_example),
		cmocka_unit_test(test_docs_md_examples),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_secure),
		cmocka_unit_test(test_env_is_ours),
		cmocka_unit_test(test_config_proxy_precedence),
		cmocka_unit_test(test_config_proxy_list),
		cmocka_unit_test(test_config_proxy_forms),
		cmocka_unit_test(test_config_proxy_errors),
		cmocka_unit_test(test_config_timeout),
		cmocka_unit_test(test_config_log_level),
		cmocka_unit_test(test_config_virtual_net),
		cmocka_unit_test(test_config_policy_file),
		cmocka_unit_test(test_config_big_policy_file),
		cmocka_unit_test(test_config_no_proxy_vars),
		cmocka_unit_test(test_config_paths_and_ignored),
		cmocka_unit_test(test_config_system_files),
		cmocka_unit_test(test_config_first_reason_kept),
		cmocka_unit_test(test_config_get),
		cmocka_unit_test(test_config_mode),
		cmocka_unit_test(test_config_isolation_and_rotation),
		cmocka_unit_test(test_mode_policy_unchanged),
		cmocka_unit_test(test_mode_tor_only),
		cmocka_unit_test(test_internal_names),
		cmocka_unit_test(test_reason_text),
		cmocka_unit_test(test_mode_onion_only),
		cmocka_unit_test(test_isolation_tokens),
		cmocka_unit_test(test_isolation_rotation),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
