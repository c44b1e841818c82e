/* test_log.c: the log writer (common/log.c) and the JSON line (common/logjson.c): the format key by key, escaping,
 * cutting, the sinks (TORWRAP_LOG_FILE, TORWRAP_AUDIT_FILE, the fallback to stderr), and the variables in
 * config_build.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../policy/policy.h"
#include "../fuzz/json_check.h"

#define assert_contains(hay, needle)                                                                           \
	do {                                                                                                   \
		const char *h_ = (hay), *n_ = (needle);                                                        \
		if (!h_ || !strstr(h_, n_))                                                                    \
			fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);                    \
	} while (0)

static const struct tw_log_stamp stamp = { .time_ms = 1796506800123, .pid = 123, .program = "curl" };

static void assert_json_line(const char *line, int n)
{
	assert_true(n > 0);
	assert_int_equal(strlen(line), (size_t)n);
	if (!json_is_one_object_line(line, (size_t)n))
		fail_msg("not one JSON line: %s", line);
}

/* ---------------------------------------------------------------------------------------------- the format */

static void test_json_every_key_in_order(void **state)
{
	(void)state;
	char out[1024];
	struct tw_event ev = TW_EVENT("proxy", "example.com:443", "tor", "default");
	ev.proxy = "127.0.0.1:9050";
	ev.err = ECONNREFUSED;
	ev.tor_reply = 4;
	int n = tw_log_format_json(out, sizeof(out), &stamp, TW_LOG_ERROR, &ev, "connect example.com:443: failed");
	assert_json_line(out, n);
	assert_string_equal(out, "{\"time\":\"2026-12-05T21:40:00.123Z\",\"level\":\"error\",\"pid\":123,"
				 "\"program\":\"curl\",\"event\":\"proxy\",\"destination\":\"example.com:443\","
				 "\"verdict\":\"tor\",\"rule\":\"default\",\"proxy\":\"127.0.0.1:9050\","
				 "\"errno\":\"ECONNREFUSED\",\"tor_reply\":4,"
				 "\"msg\":\"connect example.com:443: failed\"}\n");
}

static void test_json_keys_without_value_left_out(void **state)
{
	(void)state;
	char out[1024];
	struct tw_event ev = TW_EVENT(NULL, "", NULL, NULL);
	int n = tw_log_format_json(out, sizeof(out), &stamp, TW_LOG_DEBUG, &ev, "hello");
	assert_json_line(out, n);
	assert_string_equal(out, "{\"time\":\"2026-12-05T21:40:00.123Z\",\"level\":\"debug\",\"pid\":123,"
				 "\"program\":\"curl\",\"event\":\"log\",\"msg\":\"hello\"}\n");

	/* Tor's reply 0 (succeeded) is a reply; the traced pid replaces the writer's; an errno without a name is its
	 * number. */
	ev = TW_EVENT("connect", "10.0.0.1:80", "tor", NULL);
	ev.tor_reply = 0;
	ev.pid = 77;
	ev.err = 4000;
	n = tw_log_format_json(out, sizeof(out), &stamp, TW_LOG_INFO, &ev, "m");
	assert_json_line(out, n);
	assert_contains(out, "\"level\":\"info\",\"pid\":77,");
	assert_contains(out, "\"errno\":\"4000\",\"tor_reply\":0,\"msg\":\"m\"}");
}

static void test_json_escapes(void **state)
{
	(void)state;
	char out[1024];
	struct tw_event ev = TW_EVENT("dns", "a\"b\\c", NULL, NULL);
	int n = tw_log_format_json(out, sizeof(out), &stamp, TW_LOG_INFO, &ev,
				   "nl\n tab\t cr\r esc\x1b del\x7f caf\xc3\xa9 \xf0\x9f\x98\x80 bad\xff \xc0\xaf "
				   "\xed\xa0\x80 "
				   "cut\xe2\x82");
	assert_json_line(out, n);
	assert_contains(out, "\"destination\":\"a\\\"b\\\\c\"");
	assert_contains(out, "\"msg\":\"nl\\n tab\\t cr\\u000d esc\\u001b del\\u007f caf\xc3\xa9 \xf0\x9f\x98\x80 "
			     "bad\\u00ff \\u00c0\\u00af \\u00ed\\u00a0\\u0080 cut\\u00e2\\u0082\"}\n");
}

static void test_json_time(void **state)
{
	(void)state;
	static const struct {
		int64_t ms;
		const char *text;
	} cases[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ -1, "1969-12-31T23:59:59.999Z" },
		{ 1709251199999, "2024-02-29T23:59:59.999Z" },
		{ 951782400000, "2000-02-29T00:00:00.000Z" },
		{ 1796506800123, "2026-12-05T21:40:00.123Z" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[512], want[64];
		struct tw_log_stamp st = stamp;
		st.time_ms = cases[i].ms;
		struct tw_event ev = TW_EVENT("log", NULL, NULL, NULL);
		assert_json_line(out, tw_log_format_json(out, sizeof(out), &st, TW_LOG_INFO, &ev, "x"));
		snprintf(want, sizeof(want), "{\"time\":\"%s\",", cases[i].text);
		assert_int_equal(strncmp(out, want, strlen(want)), 0);
	}
}

static void test_json_cut_to_the_buffer(void **state)
{
	(void)state;
	char msg[3000];
	memset(msg, '"', sizeof(msg) - 1); /* every byte doubles when escaped */
	msg[sizeof(msg) - 1] = '\0';
	struct tw_event ev = TW_EVENT("connect", "example.com:443", "tor", "default");
	for (size_t len = TW_LOG_JSON_MIN; len <= 600; len += 7) {
		char *out = malloc(len);
		assert_non_null(out);
		int n = tw_log_format_json(out, len, &stamp, TW_LOG_INFO, &ev, msg);
		assert_json_line(out, n);
		assert_true((size_t)n < len);
		if (strstr(out, "\"msg\":")) /* else there was no room for the key at all */
			assert_contains(out, "...\"}\n");
		free(out);
	}
	/* A multi-byte character is never split. */
	char wide[600] = "";
	for (int i = 0; i < 150; i++)
		strcat(wide, "\xe2\x82\xac");
	char out[300];
	assert_json_line(out, tw_log_format_json(out, sizeof(out), &stamp, TW_LOG_INFO, &ev, wide));
	char small[TW_LOG_JSON_MIN - 1];
	assert_int_equal(tw_log_format_json(small, sizeof(small), &stamp, TW_LOG_INFO, &ev, "x"), -ENOSPC);
}

static void test_log_parse_format_and_errno_names(void **state)
{
	(void)state;
	assert_int_equal(tw_log_parse_format("text"), TW_LOG_TEXT);
	assert_int_equal(tw_log_parse_format("JSON"), TW_LOG_JSON);
	assert_int_equal(tw_log_parse_format("yaml"), -1);
	assert_int_equal(tw_log_parse_format(""), -1);
	assert_int_equal(tw_log_parse_format(NULL), -1);
	assert_string_equal(tw_errno_name(EPERM), "EPERM");
	assert_string_equal(tw_errno_name(EHOSTUNREACH), "EHOSTUNREACH");
	assert_null(tw_errno_name(0));
	assert_null(tw_errno_name(4000));
}

/* ------------------------------------------------------------------------------------------------ the sinks */

static char *tmp_path(const char *tag)
{
	char *path = malloc(128);
	assert_non_null(path);
	snprintf(path, 128, "/tmp/torwrap-test-log-%ld-%s", (long)getpid(), tag);
	unlink(path);
	return path;
}

static size_t read_file(const char *path, char *out, size_t outlen)
{
	out[0] = '\0';
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, out, outlen - 1);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

/* Every line of TEXT is one JSON object; how many lines. */
static int json_lines(const char *text)
{
	int lines = 0;
	for (const char *p = text; *p; lines++) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		if (!json_is_one_object_line(p, (size_t)(nl - p + 1)))
			fail_msg("not JSON: %.*s", (int)(nl - p), p);
		p = nl + 1;
	}
	return lines;
}

/* Stderr goes to a file while the test writes; stderr_end puts it back and returns what was written. */
static int stderr_begin(const char *path)
{
	int saved = dup(2);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	return saved;
}

static void stderr_end(int saved, const char *path, char *out, size_t outlen)
{
	dup2(saved, 2);
	close(saved);
	read_file(path, out, outlen);
	unlink(path);
}

static void log_reset(void)
{
	tw_log_configure(TW_LOG_WARN, TW_LOG_TEXT, NULL, NULL);
}

static void test_log_file_json_and_errno_kept(void **state)
{
	(void)state;
	char *file = tmp_path("file"), *err = tmp_path("stderr");
	char text[8192], errtext[4096];
	int saved = stderr_begin(err);
	close(2); /* the program's stderr is closed: the file gets the lines all the same */
	tw_log_configure(TW_LOG_INFO, TW_LOG_JSON, file, NULL);
	errno = 1234;
	tw_info("decided %d", 1);
	tw_log_event(TW_LOG_ERROR, TW_EVENT("connect", "198.51.100.7:443", "refuse", "malformed"), "refused %s", "x");
	tw_debug("below the level");
	assert_int_equal(errno, 1234);
	/* The writer's file took the lowest free descriptor, 2, and closed it again: nothing of ours stays open. */
	assert_true(fcntl(2, F_GETFD) < 0);
	log_reset();
	stderr_end(saved, err, errtext, sizeof(errtext));
	assert_string_equal(errtext, "");
	read_file(file, text, sizeof(text));
	assert_int_equal(json_lines(text), 2);
	assert_contains(text, "\"event\":\"log\",\"msg\":\"decided 1\"}\n");
	assert_contains(text, "\"event\":\"connect\",\"destination\":\"198.51.100.7:443\",\"verdict\":\"refuse\","
			      "\"rule\":\"malformed\",\"msg\":\"refused x\"}\n");
	struct stat st;
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	unlink(file);
	free(file);
	free(err);
}

static void test_log_file_unwritable_falls_back_to_stderr(void **state)
{
	(void)state;
	char *err = tmp_path("stderr2");
	char errtext[4096];
	int saved = stderr_begin(err);
	tw_log_configure(TW_LOG_WARN, TW_LOG_TEXT, "/nonexistent-dir/torwrap.log", NULL);
	errno = 99;
	tw_warn("first");
	tw_warn("second");
	assert_int_equal(errno, 99);
	log_reset();
	stderr_end(saved, err, errtext, sizeof(errtext));
	char want[512];
	snprintf(want, sizeof(want),
		 "torwrap[%ld]: warn: TORWRAP_LOG_FILE \"/nonexistent-dir/torwrap.log\": cannot write (ENOENT): "
		 "logging to stderr\ntorwrap[%ld]: warn: first\ntorwrap[%ld]: warn: second\n",
		 (long)getpid(), (long)getpid(), (long)getpid());
	assert_string_equal(errtext, want); /* the reason once, then every line */
	free(err);
}

static void test_audit_gets_events_whatever_the_level(void **state)
{
	(void)state;
	char *audit = tmp_path("audit"), *err = tmp_path("stderr3");
	char text[8192], errtext[4096];
	int saved = stderr_begin(err);
	tw_log_configure(TW_LOG_NONE, TW_LOG_TEXT, NULL, audit);
	assert_int_equal(tw_log_event_level(), TW_LOG_DEBUG);
	tw_log_event(TW_LOG_INFO, TW_EVENT("lookup", "example.com", "tor", "default"), "lookup example.com: tor");
	tw_log_event(TW_LOG_WARN, TW_EVENT("config", NULL, NULL, NULL), "a warning");
	tw_error("a plain line");
	log_reset();
	assert_int_equal(tw_log_event_level(), TW_LOG_WARN);
	stderr_end(saved, err, errtext, sizeof(errtext));
	assert_string_equal(errtext, ""); /* the user's log is off */
	read_file(audit, text, sizeof(text));
	assert_int_equal(json_lines(text), 1); /* config and log lines are not the audit's */
	assert_contains(text, "\"level\":\"info\"");
	assert_contains(text, "\"event\":\"lookup\",\"destination\":\"example.com\",\"verdict\":\"tor\"");
	unlink(audit);
	free(audit);
	free(err);
}

static void test_audit_and_user_log_both(void **state)
{
	(void)state;
	char *audit = tmp_path("audit2"), *err = tmp_path("stderr4");
	char text[8192], errtext[4096];
	int saved = stderr_begin(err);
	tw_log_configure(TW_LOG_ERROR, TW_LOG_TEXT, NULL, audit);
	tw_log_event(TW_LOG_ERROR, TW_EVENT("send", "10.0.0.1:53", "refuse", NULL), "datagram refused");
	tw_log_event(TW_LOG_INFO, TW_EVENT("connect", "127.0.0.1:80", "direct", "built-in localhost"), "direct");
	log_reset();
	stderr_end(saved, err, errtext, sizeof(errtext));
	char want[128];
	snprintf(want, sizeof(want), "torwrap[%ld]: error: datagram refused\n", (long)getpid());
	assert_string_equal(errtext, want); /* text, at the user's level */
	read_file(audit, text, sizeof(text));
	assert_int_equal(json_lines(text), 2); /* JSON, every decision */
	unlink(audit);
	free(audit);
	free(err);
}

/* ------------------------------------------------------------------------------------------- the variables */

struct kv {
	const char *k, *v;
};

static const char *fake_getenv(const char *name, void *ctx)
{
	for (const struct kv *e = ctx; e && e->k; e++)
		if (strcmp(e->k, name) == 0)
			return e->v;
	if (strcmp(name, "TORWRAP_POLICY") == 0 || strcmp(name, "TORWRAP_RESOLV_CONF") == 0 ||
	    strcmp(name, "TORWRAP_HOSTS") == 0)
		return "/dev/null";
	return NULL;
}

static void test_config_log_variables(void **state)
{
	(void)state;
	struct tw_config cfg;
	struct kv none[] = { { NULL, NULL } };
	assert_int_equal(config_build(&cfg, fake_getenv, none), 0);
	assert_false(cfg.broken);
	assert_int_equal(cfg.log_format, TW_LOG_TEXT);
	assert_string_equal(cfg.log_file, "");
	assert_string_equal(cfg.audit_file, "");
	config_free(&cfg);

	struct kv set[] = { { "TORWRAP_LOG_FORMAT", " json " }, { "TORWRAP_LOG_FILE", "/var/log/torwrap.log" },
			    { "TORWRAP_AUDIT_FILE", "audit.jsonl" }, { NULL, NULL } };
	assert_int_equal(config_build(&cfg, fake_getenv, set), 0);
	assert_false(cfg.broken);
	assert_int_equal(cfg.log_format, TW_LOG_JSON);
	assert_string_equal(cfg.log_file, "/var/log/torwrap.log");
	char cwd[4096], want[4200];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/audit.jsonl", cwd);
	assert_string_equal(cfg.audit_file, want); /* relative to where the program started */
	config_free(&cfg);

	/* Secure-execution mode reads no variable: a user could not send a setuid program's log anywhere. */
	assert_int_equal(config_build_ex(&cfg, fake_getenv, set, CONFIG_SECURE), 0);
	assert_int_equal(cfg.log_format, TW_LOG_TEXT);
	assert_string_equal(cfg.log_file, "");
	assert_string_equal(cfg.audit_file, "");
	config_free(&cfg);
}

static void test_config_log_format_bogus_is_broken(void **state)
{
	(void)state;
	struct tw_config cfg;
	struct kv bogus[] = { { "TORWRAP_LOG_FORMAT", "bogus" }, { NULL, NULL } };
	assert_int_equal(config_build(&cfg, fake_getenv, bogus), 0);
	assert_true(cfg.broken);
	assert_contains(cfg.broken_reason, "TORWRAP_LOG_FORMAT=\"bogus\"");
	assert_int_equal(cfg.log_format, TW_LOG_TEXT);
	assert_true(policy_decide_name(&cfg, "example.com", 443) == POLICY_REFUSE);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_every_key_in_order),
		cmocka_unit_test(test_json_keys_without_value_left_out),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_json_time),
		cmocka_unit_test(test_json_cut_to_the_buffer),
		cmocka_unit_test(test_log_parse_format_and_errno_names),
		cmocka_unit_test(test_log_file_json_and_errno_kept),
		cmocka_unit_test(test_log_file_unwritable_falls_back_to_stderr),
		cmocka_unit_test(test_audit_gets_events_whatever_the_level),
		cmocka_unit_test(test_audit_and_user_log_both),
		cmocka_unit_test(test_config_log_variables),
		cmocka_unit_test(test_config_log_format_bogus_is_broken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
