/* test_socks5.c: unit tests for socks5/: the exact request bytes, the reply parser fed in every way, the
 * reply-code tables, socks5_handshake() over scripted fake I/O, and the default I/O over real socketpairs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../common/tw.h"
#include "../../socks5/socks5.h"

/* ------------------------------------------------------------------------------------------------ helpers */

static struct socks5_target target_ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct socks5_target t;
	memset(&t, 0, sizeof(t));
	t.atyp = 1;
	t.addr[0] = a;
	t.addr[1] = b;
	t.addr[2] = c;
	t.addr[3] = d;
	t.port = port;
	return t;
}

static struct socks5_target target_name(const char *name, uint16_t port)
{
	struct socks5_target t;
	memset(&t, 0, sizeof(t));
	t.atyp = 3;
	t.name = name;
	t.port = port;
	return t;
}

static struct socks5_target target_ipv6(uint16_t port)
{
	struct socks5_target t;
	memset(&t, 0, sizeof(t));
	t.atyp = 4;
	for (int i = 0; i < 16; i++)
		t.addr[i] = (uint8_t)(0x20 + i); /* 2021:2223:...:2e2f */
	t.port = port;
	return t;
}

static char *repeat(char c, size_t n)
{
	char *s = test_malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Successful replies the parser should accept. */
static const uint8_t REPLY_NOAUTH_V4[] = {0x05, 0x00, 0x05, 0x00, 0x00, 0x01, 10, 0, 0, 1, 0x1F, 0x90};
static const uint8_t REPLY_AUTH_V4[] = {0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50};
static const uint8_t REPLY_AUTH_V6[] = {0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x04, 1, 2, 3, 4, 5, 6,
					7,    8,    9,    10,   11,   12,   13,   14,   15, 16, 0x01, 0xBB};
static const uint8_t REPLY_NOAUTH_NAME[] = {0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 7,   'e',
					    'x',  'a',	'm',  'p',  'l',  'e',	0x00, 0x50};

/* Feeds all of IN in one call; returns the parser's result. */
static int feed_all(struct socks5_reply_parser *p, const uint8_t *in, size_t len, size_t *consumed)
{
	return socks5_reply_feed(p, in, len, consumed);
}

/* Feeds IN one byte at a time; every byte must be consumed until the parser finishes, and it must finish
 * exactly on the last byte. */
static int feed_bytewise(struct socks5_reply_parser *p, const uint8_t *in, size_t len)
{
	int rc = 0;
	for (size_t i = 0; i < len; i++) {
		size_t used = 99;
		assert_true(socks5_need(p) >= 1);
		rc = socks5_reply_feed(p, in + i, 1, &used);
		assert_int_equal(used, 1);
		if (rc != 0) {
			assert_int_equal(i, len - 1);
			return rc;
		}
	}
	return rc;
}

/* ----------------------------------------------------------------------------------------------- encoding */

static void test_encode_ipv4_noauth(void **state)
{
	(void)state;
	struct socks5_target t = target_ipv4(93, 184, 216, 34, 443);
	uint8_t out[SOCKS5_REQUEST_MAX];
	const uint8_t want[] = {0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x01, 93, 184, 216, 34, 0x01, 0xBB};
	ssize_t n = socks5_encode_request(&t, NULL, out, sizeof(out));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
}

static void test_encode_ipv4_auth(void **state)
{
	(void)state;
	struct socks5_target t = target_ipv4(10, 1, 2, 3, 80);
	struct socks5_auth a = {.user = "u1", .pass = "pw3"};
	uint8_t out[SOCKS5_REQUEST_MAX];
	const uint8_t want[] = {0x05, 0x01, 0x02, 0x01, 2, 'u', '1', 3, 'p', 'w', '3',
				0x05, 0x01, 0x00, 0x01, 10, 1, 2, 3, 0x00, 0x50};
	ssize_t n = socks5_encode_request(&t, &a, out, sizeof(out));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
}

static void test_encode_name_noauth(void **state)
{
	(void)state;
	struct socks5_target t = target_name("api.trongrid.io", 8090);
	uint8_t out[SOCKS5_REQUEST_MAX];
	const uint8_t want[] = {0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x03, 15,  'a', 'p', 'i', '.',  't',
				'r',  'o',  'n',  'g',	'r',  'i',  'd',  '.', 'i', 'o', 0x1F, 0x9A};
	ssize_t n = socks5_encode_request(&t, NULL, out, sizeof(out));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
}

static void test_encode_name_auth(void **state)
{
	(void)state;
	struct socks5_target t = target_name("x.onion", 65535);
	struct socks5_auth a = {.user = "<torS0X>0", .pass = "k"};
	uint8_t out[SOCKS5_REQUEST_MAX];
	const uint8_t want[] = {0x05, 0x01, 0x02, 0x01, 9,    '<',  't',  'o',	'r',  'S', '0', 'X', '>',
				'0',  1,    'k',  0x05, 0x01, 0x00, 0x03, 7,	'x',  '.', 'o', 'n', 'i',
				'o',  'n',  0xFF, 0xFF};
	ssize_t n = socks5_encode_request(&t, &a, out, sizeof(out));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
}

static void test_encode_ipv6_noauth(void **state)
{
	(void)state;
	struct socks5_target t = target_ipv6(1);
	uint8_t out[SOCKS5_REQUEST_MAX];
	uint8_t want[3 + 4 + 16 + 2] = {0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x04};
	memcpy(want + 7, t.addr, 16);
	want[23] = 0x00;
	want[24] = 0x01;
	ssize_t n = socks5_encode_request(&t, NULL, out, sizeof(out));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
}

static void test_encode_ipv6_auth(void **state)
{
	(void)state;
	struct socks5_target t = target_ipv6(0x1234);
	struct socks5_auth a = {.user = "a", .pass = "b"};
	uint8_t out[SOCKS5_REQUEST_MAX];
	uint8_t want[3 + 5 + 4 + 16 + 2] = {0x05, 0x01, 0x02, 0x01, 1, 'a', 1, 'b', 0x05, 0x01, 0x00, 0x04};
	memcpy(want + 12, t.addr, 16);
	want[28] = 0x12;
	want[29] = 0x34;
	ssize_t n = socks5_encode_request(&t, &a, out, sizeof(out));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
}

static void test_encode_name_255_ok(void **state)
{
	(void)state;
	char *name = repeat('a', 255);
	struct socks5_target t = target_name(name, 80);
	uint8_t out[SOCKS5_REQUEST_MAX];
	ssize_t n = socks5_encode_request(&t, NULL, out, sizeof(out));
	assert_int_equal(n, 3 + 4 + 1 + 255 + 2);
	assert_int_equal(out[7], 255);
	assert_memory_equal(out + 8, name, 255);
	test_free(name);
}

static void test_encode_name_256_rejected(void **state)
{
	(void)state;
	char *name = repeat('a', 256);
	struct socks5_target t = target_name(name, 80);
	uint8_t out[SOCKS5_REQUEST_MAX];
	assert_int_equal(socks5_encode_request(&t, NULL, out, sizeof(out)), -EINVAL);
	test_free(name);
}

static void test_encode_name_empty_or_null_rejected(void **state)
{
	(void)state;
	uint8_t out[SOCKS5_REQUEST_MAX];
	struct socks5_target t = target_name("", 80);
	assert_int_equal(socks5_encode_request(&t, NULL, out, sizeof(out)), -EINVAL);
	t.name = NULL;
	assert_int_equal(socks5_encode_request(&t, NULL, out, sizeof(out)), -EINVAL);
}

static void test_encode_bad_atyp(void **state)
{
	(void)state;
	uint8_t out[SOCKS5_REQUEST_MAX];
	struct socks5_target t = target_ipv4(1, 2, 3, 4, 80);
	const int bad[] = {0, 2, 5, 255, -1};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t.atyp = bad[i];
		assert_int_equal(socks5_encode_request(&t, NULL, out, sizeof(out)), -EINVAL);
	}
	assert_int_equal(socks5_encode_request(NULL, NULL, out, sizeof(out)), -EINVAL);
}

static void test_encode_auth_limits(void **state)
{
	(void)state;
	uint8_t out[SOCKS5_REQUEST_MAX];
	char *s255 = repeat('u', 255);
	char *s256 = repeat('u', 256);
	struct socks5_target t = target_ipv4(1, 2, 3, 4, 80);
	struct socks5_auth a;

	a = (struct socks5_auth){.user = "", .pass = "p"};
	assert_int_equal(socks5_encode_request(&t, &a, out, sizeof(out)), -EINVAL);
	a = (struct socks5_auth){.user = "u", .pass = ""};
	assert_int_equal(socks5_encode_request(&t, &a, out, sizeof(out)), -EINVAL);
	a = (struct socks5_auth){.user = "u", .pass = NULL};
	assert_int_equal(socks5_encode_request(&t, &a, out, sizeof(out)), -EINVAL);
	a = (struct socks5_auth){.user = s256, .pass = "p"};
	assert_int_equal(socks5_encode_request(&t, &a, out, sizeof(out)), -EINVAL);
	a = (struct socks5_auth){.user = "u", .pass = s256};
	assert_int_equal(socks5_encode_request(&t, &a, out, sizeof(out)), -EINVAL);
	a = (struct socks5_auth){.user = s255, .pass = s255};
	assert_int_equal(socks5_encode_request(&t, &a, out, sizeof(out)), 3 + 3 + 255 + 255 + 4 + 4 + 2);
	test_free(s255);
	test_free(s256);
}

static void test_encode_largest_fits_request_max(void **state)
{
	(void)state;
	uint8_t out[SOCKS5_REQUEST_MAX];
	char *cred = repeat('c', 255);
	char *name = repeat('n', 255);
	struct socks5_target t = target_name(name, 80);
	struct socks5_auth a = {.user = cred, .pass = cred};
	ssize_t n = socks5_encode_request(&t, &a, out, sizeof(out));
	assert_int_equal(n, 3 + 3 + 255 + 255 + 4 + 1 + 255 + 2);
	assert_true(n <= SOCKS5_REQUEST_MAX);
	/* One byte short of the exact size must fail cleanly rather than truncate. */
	assert_int_equal(socks5_encode_request(&t, &a, out, (size_t)n - 1), -ENOBUFS);
	assert_int_equal(socks5_encode_request(&t, &a, out, (size_t)n), n);
	test_free(cred);
	test_free(name);
}

static void test_encode_null_user_means_no_auth(void **state)
{
	(void)state;
	uint8_t out[SOCKS5_REQUEST_MAX];
	struct socks5_target t = target_ipv4(1, 2, 3, 4, 80);
	struct socks5_auth a = {.user = NULL, .pass = "ignored"};
	ssize_t n = socks5_encode_request(&t, &a, out, sizeof(out));
	assert_int_equal(n, 3 + 4 + 4 + 2);
	assert_int_equal(out[2], 0x00);
}

/* -------------------------------------------------------------------------------------------- reply codes */

static const struct {
	int code;
	int err;
	const char *text;
} CODES[] = {
	{0x01, -ECONNREFUSED, "general SOCKS server failure"},
	{0x02, -EACCES, "connection not allowed by ruleset"},
	{0x03, -ENETUNREACH, "network unreachable"},
	{0x04, -EHOSTUNREACH, "host unreachable (name could not be resolved at the exit?)"},
	{0x05, -ECONNREFUSED, "connection refused by destination"},
	{0x06, -ETIMEDOUT, "TTL expired"},
	{0x07, -EOPNOTSUPP, "command not supported"},
	{0x08, -EAFNOSUPPORT, "address type not supported"},
	{0xF0, -EHOSTDOWN, "onion service descriptor not found"},
	{0xF1, -EBADMSG, "onion service descriptor is invalid"},
	{0xF2, -ECONNRESET, "onion service introduction failed"},
	{0xF3, -ENETRESET, "onion service rendezvous failed"},
	{0xF4, -ENOKEY, "onion service requires client authorization"},
	{0xF5, -EKEYREJECTED, "onion service client authorization is wrong"},
	{0xF6, -EINVAL, "invalid onion address"},
	{0xF7, -ETIME, "onion service introduction timed out"},
};
#define NCODES (sizeof(CODES) / sizeof(CODES[0]))

static void test_reply_errno_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCODES; i++)
		assert_int_equal(socks5_reply_errno(CODES[i].code), CODES[i].err);
	assert_int_equal(socks5_reply_errno(0x00), 0);
}

static void test_reply_text_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCODES; i++)
		assert_string_equal(socks5_reply_text(CODES[i].code), CODES[i].text);
	assert_string_equal(socks5_reply_text(0x00), "succeeded");
}

/* Every failure code Tor sends has advice; success and unknown codes have none. */
static void test_reply_hints(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(CODES) / sizeof(CODES[0]); i++) {
		if (CODES[i].code == 0x07 || CODES[i].code == 0x08)
			continue; /* our own request's fault, not the destination's: the reply text says it all */
		const char *h = socks5_reply_hint(CODES[i].code);
		if (!h || !*h)
			fail_msg("no hint for 0x%02x", CODES[i].code);
	}
	assert_null(socks5_reply_hint(0x00));
	assert_null(socks5_reply_hint(0x42));
	assert_non_null(strstr(socks5_reply_hint(0xF0), "not published"));
	assert_non_null(strstr(socks5_reply_hint(0xF6), "not a valid v3 onion address"));
}

static void test_reply_unknown_codes(void **state)
{
	(void)state;
	const int unknown[] = {0x09, 0x7F, 0xEF, 0xF8, 0xFF, 256, -1};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		assert_int_equal(socks5_reply_errno(unknown[i]), -EPROTO);
		assert_non_null(socks5_reply_text(unknown[i]));
		assert_string_equal(socks5_reply_text(unknown[i]), "unknown SOCKS reply code");
	}
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(socks5_strerror(-EHOSTUNREACH, 4), CODES[3].text);
	assert_non_null(socks5_strerror(-EPROTO, -1));
	assert_non_null(socks5_strerror(-EACCES, -1));
	assert_non_null(socks5_strerror(-ECONNRESET, -1));
	assert_non_null(socks5_strerror(-ETIMEDOUT, -1));
	assert_null(socks5_strerror(-ENOMEM, -1));
}

/* ------------------------------------------------------------------------------------------------- parser */

static void test_parse_noauth_ipv4_chunk(void **state)
{
	(void)state;
	struct socks5_reply_parser p;
	size_t used = 0;
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(feed_all(&p, REPLY_NOAUTH_V4, sizeof(REPLY_NOAUTH_V4), &used), 1);
	assert_int_equal(used, sizeof(REPLY_NOAUTH_V4));
	assert_int_equal(p.reply, 0);
	assert_int_equal(socks5_need(&p), 0);
}

static void test_parse_noauth_ipv4_bytewise(void **state)
{
	(void)state;
	struct socks5_reply_parser p;
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(feed_bytewise(&p, REPLY_NOAUTH_V4, sizeof(REPLY_NOAUTH_V4)), 1);
	assert_int_equal(p.reply, 0);
}

static void test_parse_auth_ipv4_chunk_and_bytewise(void **state)
{
	(void)state;
	struct socks5_reply_parser p;
	size_t used = 0;
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(feed_all(&p, REPLY_AUTH_V4, sizeof(REPLY_AUTH_V4), &used), 1);
	assert_int_equal(used, sizeof(REPLY_AUTH_V4));
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(feed_bytewise(&p, REPLY_AUTH_V4, sizeof(REPLY_AUTH_V4)), 1);
}

static void test_parse_auth_ipv6_bytewise(void **state)
{
	(void)state;
	struct socks5_reply_parser p;
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(feed_bytewise(&p, REPLY_AUTH_V6, sizeof(REPLY_AUTH_V6)), 1);
	size_t used = 0;
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(feed_all(&p, REPLY_AUTH_V6, sizeof(REPLY_AUTH_V6), &used), 1);
	assert_int_equal(used, sizeof(REPLY_AUTH_V6));
}

static void test_parse_name_bnd_chunk_and_bytewise(void **state)
{
	(void)state;
	struct socks5_reply_parser p;
	size_t used = 0;
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(feed_all(&p, REPLY_NOAUTH_NAME, sizeof(REPLY_NOAUTH_NAME), &used), 1);
	assert_int_equal(used, sizeof(REPLY_NOAUTH_NAME));
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(feed_bytewise(&p, REPLY_NOAUTH_NAME, sizeof(REPLY_NOAUTH_NAME)), 1);
}

static void test_parse_name_bnd_longest(void **state)
{
	(void)state;
	uint8_t r[2 + 4 + 1 + 255 + 2] = {0x05, 0x00, 0x05, 0x00, 0x00, 0x03, 255};
	memset(r + 7, 'z', 255);
	struct socks5_reply_parser p;
	size_t used = 0;
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(feed_all(&p, r, sizeof(r), &used), 1);
	assert_int_equal(used, sizeof(r));
}

/* The sequence of socks5_need() values is what the handshake reads: it must add up to the reply exactly. */
static void test_parse_need_sequence(void **state)
{
	(void)state;
	struct socks5_reply_parser p;
	size_t used;
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(socks5_need(&p), 2);
	assert_int_equal(socks5_reply_feed(&p, REPLY_AUTH_V6, 2, &used), 0);
	assert_int_equal(socks5_need(&p), 2);
	assert_int_equal(socks5_reply_feed(&p, REPLY_AUTH_V6 + 2, 2, &used), 0);
	assert_int_equal(socks5_need(&p), 4);
	assert_int_equal(socks5_reply_feed(&p, REPLY_AUTH_V6 + 4, 4, &used), 0);
	assert_int_equal(socks5_need(&p), 18);
	assert_int_equal(socks5_reply_feed(&p, REPLY_AUTH_V6 + 8, 17, &used), 0);
	assert_int_equal(socks5_need(&p), 1);
	assert_int_equal(socks5_reply_feed(&p, REPLY_AUTH_V6 + 25, 1, &used), 1);
	assert_int_equal(socks5_need(&p), 0);

	socks5_reply_parser_init(&p, 0);
	assert_int_equal(socks5_reply_feed(&p, REPLY_NOAUTH_NAME, 6, &used), 0);
	assert_int_equal(socks5_need(&p), 1); /* the name length */
	assert_int_equal(socks5_reply_feed(&p, REPLY_NOAUTH_NAME + 6, 1, &used), 0);
	assert_int_equal(socks5_need(&p), 7 + 2);
}

static void test_parse_leaves_application_data(void **state)
{
	(void)state;
	uint8_t buf[sizeof(REPLY_AUTH_V4) + 5];
	memcpy(buf, REPLY_AUTH_V4, sizeof(REPLY_AUTH_V4));
	memcpy(buf + sizeof(REPLY_AUTH_V4), "HTTP/", 5);
	struct socks5_reply_parser p;
	size_t used = 0;
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(socks5_reply_feed(&p, buf, sizeof(buf), &used), 1);
	assert_int_equal(used, sizeof(REPLY_AUTH_V4));
	/* Finished: it takes nothing more. */
	assert_int_equal(socks5_reply_feed(&p, buf + used, 5, &used), 1);
	assert_int_equal(used, 0);
	assert_int_equal(socks5_need(&p), 0);
}

static void test_parse_empty_feed(void **state)
{
	(void)state;
	struct socks5_reply_parser p;
	size_t used = 42;
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(socks5_reply_feed(&p, REPLY_NOAUTH_V4, 0, &used), 0);
	assert_int_equal(used, 0);
	assert_int_equal(socks5_need(&p), 2);
}

static void test_parse_method_wrong_version(void **state)
{
	(void)state;
	const uint8_t r[] = {0x04, 0x00};
	struct socks5_reply_parser p;
	size_t used;
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(socks5_reply_feed(&p, r, 2, &used), -EPROTO);
	assert_int_equal(p.reply, -1);
	assert_non_null(p.error);
	assert_int_equal(socks5_need(&p), 0);
}

static void test_parse_method_refused(void **state)
{
	(void)state;
	const uint8_t r[] = {0x05, 0xFF};
	struct socks5_reply_parser p;
	size_t used;
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(socks5_reply_feed(&p, r, 2, &used), -EPROTO);
	assert_string_equal(p.error, "no acceptable authentication method");
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(socks5_reply_feed(&p, r, 2, &used), -EPROTO);
	assert_string_equal(p.error, "proxy does not accept username/password authentication");
}

static void test_parse_method_not_offered(void **state)
{
	(void)state;
	const uint8_t chose_userpass[] = {0x05, 0x02};
	const uint8_t chose_none[] = {0x05, 0x00};
	const uint8_t chose_gssapi[] = {0x05, 0x01};
	struct socks5_reply_parser p;
	size_t used;
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(socks5_reply_feed(&p, chose_userpass, 2, &used), -EPROTO);
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(socks5_reply_feed(&p, chose_none, 2, &used), -EPROTO);
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(socks5_reply_feed(&p, chose_gssapi, 2, &used), -EPROTO);
}

static void test_parse_auth_refused(void **state)
{
	(void)state;
	const uint8_t r[] = {0x05, 0x02, 0x01, 0x01, 0x05, 0x00};
	struct socks5_reply_parser p;
	size_t used;
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(socks5_reply_feed(&p, r, sizeof(r), &used), -EACCES);
	assert_int_equal(used, 4); /* nothing after the failing status is taken */
	assert_int_equal(p.reply, -1);
	assert_int_equal(socks5_need(&p), 0);
}

/* Tor 0.4.9 answers a pipelined greeting + credentials with the credentials' reply only (seen on the private
 * network: 01 00 05 00 00 01 ...): accepted, in one piece or byte by byte; a refusal there is still -EACCES. */
static void test_parse_auth_without_method_reply(void **state)
{
	(void)state;
	const uint8_t r[] = {0x01, 0x00, 0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
	struct socks5_reply_parser p;
	size_t used = 0;
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(feed_all(&p, r, sizeof(r), &used), 1);
	assert_int_equal(used, sizeof(r));
	assert_int_equal(p.reply, 0);
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(feed_bytewise(&p, r, sizeof(r)), 1);
	const uint8_t refused[] = {0x01, 0x01};
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(socks5_reply_feed(&p, refused, sizeof(refused), &used), -EACCES);
	/* Without credentials offered, 01 is no reply of ours: still a protocol error. */
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(socks5_reply_feed(&p, r, sizeof(r), &used), -EPROTO);
}

static void test_parse_auth_wrong_version(void **state)
{
	(void)state;
	const uint8_t r[] = {0x05, 0x02, 0x05, 0x00};
	struct socks5_reply_parser p;
	size_t used;
	socks5_reply_parser_init(&p, 1);
	assert_int_equal(socks5_reply_feed(&p, r, sizeof(r), &used), -EPROTO);
}

static void test_parse_connect_wrong_version(void **state)
{
	(void)state;
	const uint8_t r[] = {0x05, 0x00, 0x04, 0x5A, 0x00, 0x01, 1, 2, 3, 4, 0, 80};
	struct socks5_reply_parser p;
	size_t used;
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(socks5_reply_feed(&p, r, sizeof(r), &used), -EPROTO);
	assert_int_equal(used, 6);
}

static void test_parse_bad_atyp(void **state)
{
	(void)state;
	const uint8_t bad[] = {0x00, 0x02, 0x05, 0xFF};
	for (size_t i = 0; i < sizeof(bad); i++) {
		uint8_t r[] = {0x05, 0x00, 0x05, 0x00, 0x00, bad[i], 1, 2, 3, 4, 0, 80};
		struct socks5_reply_parser p;
		size_t used;
		socks5_reply_parser_init(&p, 0);
		assert_int_equal(socks5_reply_feed(&p, r, sizeof(r), &used), -EPROTO);
		assert_int_equal(p.reply, 0);
		assert_int_equal(used, 6);
		assert_int_equal(socks5_need(&p), 0);
	}
}

static void test_parse_every_reply_code(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCODES; i++) {
		for (int bytewise = 0; bytewise <= 1; bytewise++) {
			uint8_t r[] = {0x05, 0x02, 0x01, 0x00, 0x05, (uint8_t)CODES[i].code, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
			struct socks5_reply_parser p;
			size_t used = 0;
			int rc;
			socks5_reply_parser_init(&p, 1);
			if (bytewise)
				rc = feed_bytewise(&p, r, 8); /* a failure ends at the 4-byte header */
			else
				rc = socks5_reply_feed(&p, r, sizeof(r), &used);
			assert_int_equal(rc, CODES[i].err);
			if (!bytewise)
				assert_int_equal(used, 8);
			assert_int_equal(p.reply, CODES[i].code);
			assert_string_equal(p.error, CODES[i].text);
			assert_int_equal(socks5_need(&p), 0);
		}
	}
	/* An unknown code is a protocol error but is still reported. */
	const uint8_t r[] = {0x05, 0x00, 0x05, 0x42, 0x00, 0x01};
	struct socks5_reply_parser p;
	size_t used;
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(socks5_reply_feed(&p, r, sizeof(r), &used), -EPROTO);
	assert_int_equal(p.reply, 0x42);
}

static void test_parse_result_is_sticky(void **state)
{
	(void)state;
	const uint8_t r[] = {0x05, 0x00, 0x05, 0x04, 0x00, 0x01};
	struct socks5_reply_parser p;
	size_t used = 7;
	socks5_reply_parser_init(&p, 0);
	assert_int_equal(socks5_reply_feed(&p, r, sizeof(r), &used), -EHOSTUNREACH);
	assert_int_equal(socks5_reply_feed(&p, REPLY_NOAUTH_V4, sizeof(REPLY_NOAUTH_V4), &used), -EHOSTUNREACH);
	assert_int_equal(used, 0);
}

/* ---------------------------------------------------------------------------------------- fake I/O driver */

struct fake {
	const uint8_t *script; /* what the "proxy" sends */
	size_t script_len;
	size_t pos;
	size_t chunk; /* most bytes handed out per recv (0 = as many as asked) */
	ssize_t at_end; /* what recv returns once the script is exhausted: 0 (EOF) or a negative errno */
	int send_rc; /* what send_all returns */
	int sends;
	uint8_t sent[SOCKS5_REQUEST_MAX];
	size_t sent_len;
	int recvs;
};

static int fake_send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline_ms, void *ctx)
{
	struct fake *f = ctx;
	(void)fd;
	(void)deadline_ms;
	f->sends++;
	assert_true(len <= sizeof(f->sent));
	memcpy(f->sent, buf, len);
	f->sent_len = len;
	return f->send_rc;
}

static ssize_t fake_recv_some(int fd, uint8_t *buf, size_t len, int64_t deadline_ms, void *ctx)
{
	struct fake *f = ctx;
	(void)fd;
	(void)deadline_ms;
	assert_true(len >= 1);
	f->recvs++;
	size_t left = f->script_len - f->pos;
	if (left == 0)
		return f->at_end;
	size_t n = len < left ? len : left;
	if (f->chunk && n > f->chunk)
		n = f->chunk;
	memcpy(buf, f->script + f->pos, n);
	f->pos += n;
	return (ssize_t)n;
}

static struct socks5_io fake_io(struct fake *f)
{
	struct socks5_io io = {.send_all = fake_send_all, .recv_some = fake_recv_some, .ctx = f};
	return io;
}

static void test_handshake_noauth_one_send(void **state)
{
	(void)state;
	struct fake f = {.script = REPLY_NOAUTH_V4, .script_len = sizeof(REPLY_NOAUTH_V4), .at_end = 0};
	struct socks5_io io = fake_io(&f);
	struct socks5_target t = target_ipv4(1, 2, 3, 4, 80);
	int code = 99;
	assert_int_equal(socks5_handshake(7, &t, NULL, 0, &io, &code), 0);
	assert_int_equal(code, 0);
	assert_int_equal(f.sends, 1);
	const uint8_t want[] = {0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0x00, 0x50};
	assert_int_equal(f.sent_len, sizeof(want));
	assert_memory_equal(f.sent, want, sizeof(want));
	assert_int_equal(f.pos, sizeof(REPLY_NOAUTH_V4));
}

static void test_handshake_auth_one_send_pipelined(void **state)
{
	(void)state;
	struct fake f = {.script = REPLY_AUTH_V6, .script_len = sizeof(REPLY_AUTH_V6), .chunk = 1};
	struct socks5_io io = fake_io(&f);
	struct socks5_target t = target_name("api.trongrid.io", 443);
	struct socks5_auth a = {.user = "<torS0X>0", .pass = "iso-7"};
	int code = 99;
	assert_int_equal(socks5_handshake(7, &t, &a, 0, &io, &code), 0);
	assert_int_equal(code, 0);
	/* Greeting, credentials and CONNECT all went in the one and only write. */
	assert_int_equal(f.sends, 1);
	uint8_t want[SOCKS5_REQUEST_MAX];
	ssize_t n = socks5_encode_request(&t, &a, want, sizeof(want));
	assert_int_equal(f.sent_len, (size_t)n);
	assert_memory_equal(f.sent, want, (size_t)n);
	const uint8_t head[] = {0x05, 0x01, 0x02, 0x01, 9};
	assert_memory_equal(f.sent, head, sizeof(head));
	assert_int_equal(f.recvs, (int)sizeof(REPLY_AUTH_V6));
}

static void test_handshake_leaves_application_data(void **state)
{
	(void)state;
	uint8_t script[sizeof(REPLY_NOAUTH_NAME) + 16];
	memcpy(script, REPLY_NOAUTH_NAME, sizeof(REPLY_NOAUTH_NAME));
	memcpy(script + sizeof(REPLY_NOAUTH_NAME), "HTTP/1.1 200 OK\r", 16);
	struct fake f = {.script = script, .script_len = sizeof(script)};
	struct socks5_io io = fake_io(&f);
	struct socks5_target t = target_name("example", 80);
	assert_int_equal(socks5_handshake(7, &t, NULL, 0, &io, NULL), 0);
	/* The fake hands out as much as asked for: only exact reads keep the application's bytes unread. */
	assert_int_equal(f.pos, sizeof(REPLY_NOAUTH_NAME));
}

static void test_handshake_reply_failure(void **state)
{
	(void)state;
	const uint8_t r[] = {0x05, 0x02, 0x01, 0x00, 0x05, 0xF0, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
	struct fake f = {.script = r, .script_len = sizeof(r)};
	struct socks5_io io = fake_io(&f);
	struct socks5_target t = target_name("missing.onion", 80);
	struct socks5_auth a = {.user = "u", .pass = "p"};
	int code = 99;
	assert_int_equal(socks5_handshake(7, &t, &a, 0, &io, &code), -EHOSTDOWN);
	assert_int_equal(code, 0xF0);
	assert_string_equal(socks5_strerror(-EHOSTDOWN, code), "onion service descriptor not found");
}

static void test_handshake_auth_refused(void **state)
{
	(void)state;
	const uint8_t r[] = {0x05, 0x02, 0x01, 0x01};
	struct fake f = {.script = r, .script_len = sizeof(r)};
	struct socks5_io io = fake_io(&f);
	struct socks5_target t = target_name("a.example", 80);
	struct socks5_auth a = {.user = "u", .pass = "p"};
	int code = 99;
	assert_int_equal(socks5_handshake(7, &t, &a, 0, &io, &code), -EACCES);
	assert_int_equal(code, -1);
}

static void test_handshake_method_refused(void **state)
{
	(void)state;
	const uint8_t r[] = {0x05, 0xFF};
	struct fake f = {.script = r, .script_len = sizeof(r)};
	struct socks5_io io = fake_io(&f);
	struct socks5_target t = target_name("a.example", 80);
	int code = 99;
	assert_int_equal(socks5_handshake(7, &t, NULL, 0, &io, &code), -EPROTO);
	assert_int_equal(code, -1);
}

static void test_handshake_timeout(void **state)
{
	(void)state;
	/* The proxy answers the method and authentication, then goes quiet until the deadline. */
	const uint8_t r[] = {0x05, 0x02, 0x01, 0x00};
	struct fake f = {.script = r, .script_len = sizeof(r), .at_end = -ETIMEDOUT};
	struct socks5_io io = fake_io(&f);
	struct socks5_target t = target_name("slow.example", 80);
	struct socks5_auth a = {.user = "u", .pass = "p"};
	int code = 99;
	assert_int_equal(socks5_handshake(7, &t, &a, 0, &io, &code), -ETIMEDOUT);
	assert_int_equal(code, -1);
}

static void test_handshake_eof_mid_reply(void **state)
{
	(void)state;
	const uint8_t r[] = {0x05, 0x00, 0x05, 0x00, 0x00, 0x01, 1, 2}; /* cut inside BND.ADDR */
	struct fake f = {.script = r, .script_len = sizeof(r), .at_end = 0};
	struct socks5_io io = fake_io(&f);
	struct socks5_target t = target_ipv4(1, 2, 3, 4, 80);
	int code = 99;
	assert_int_equal(socks5_handshake(7, &t, NULL, 0, &io, &code), -ECONNRESET);
	assert_int_equal(code, -1);
}

static void test_handshake_eof_immediately(void **state)
{
	(void)state;
	struct fake f = {.script = NULL, .script_len = 0, .at_end = 0};
	struct socks5_io io = fake_io(&f);
	struct socks5_target t = target_ipv4(1, 2, 3, 4, 80);
	assert_int_equal(socks5_handshake(7, &t, NULL, 0, &io, NULL), -ECONNRESET);
	assert_int_equal(f.recvs, 1);
}

static void test_handshake_send_error(void **state)
{
	(void)state;
	struct fake f = {.script = REPLY_NOAUTH_V4, .script_len = sizeof(REPLY_NOAUTH_V4), .send_rc = -EPIPE};
	struct socks5_io io = fake_io(&f);
	struct socks5_target t = target_ipv4(1, 2, 3, 4, 80);
	int code = 99;
	assert_int_equal(socks5_handshake(7, &t, NULL, 0, &io, &code), -EPIPE);
	assert_int_equal(code, -1);
	assert_int_equal(f.recvs, 0);
}

static void test_handshake_bad_target_sends_nothing(void **state)
{
	(void)state;
	struct fake f = {.script = REPLY_NOAUTH_V4, .script_len = sizeof(REPLY_NOAUTH_V4)};
	struct socks5_io io = fake_io(&f);
	struct socks5_target t = target_name("", 80);
	int code = 99;
	assert_int_equal(socks5_handshake(7, &t, NULL, 0, &io, &code), -EINVAL);
	assert_int_equal(code, -1);
	assert_int_equal(f.sends, 0);
}

/* ----------------------------------------------------------------------------------- default I/O, sockets */

static void test_default_io_timeout_no_answer(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct socks5_target t = target_name("never.example", 80);
	struct socks5_auth a = {.user = "u", .pass = "p"};
	int code = 99;
	int64_t start = tw_now_ms();
	int rc = socks5_handshake(sv[0], &t, &a, start + 150, &socks5_default_io, &code);
	int64_t took = tw_now_ms() - start;
	assert_int_equal(rc, -ETIMEDOUT);
	assert_int_equal(code, -1);
	assert_true(took >= 140);
	assert_true(took < 2000);
	/* The request was written in full even though nobody answered. */
	uint8_t got[SOCKS5_REQUEST_MAX];
	uint8_t want[SOCKS5_REQUEST_MAX];
	ssize_t n = socks5_encode_request(&t, &a, want, sizeof(want));
	assert_int_equal(recv(sv[1], got, sizeof(got), MSG_DONTWAIT), n);
	assert_memory_equal(got, want, (size_t)n);
	close(sv[0]);
	close(sv[1]);
}

static void test_default_io_deadline_already_past(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct socks5_target t = target_ipv4(1, 2, 3, 4, 80);
	assert_int_equal(socks5_handshake(sv[0], &t, NULL, tw_now_ms() - 1, NULL, NULL), -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
}

static void test_default_io_blocking_success_keeps_app_data(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* The whole answer and the first application bytes are already waiting, as one segment. */
	uint8_t script[sizeof(REPLY_AUTH_V4) + 4];
	memcpy(script, REPLY_AUTH_V4, sizeof(REPLY_AUTH_V4));
	memcpy(script + sizeof(REPLY_AUTH_V4), "DATA", 4);
	assert_int_equal(send(sv[1], script, sizeof(script), 0), (ssize_t)sizeof(script));
	struct socks5_target t = target_ipv4(127, 0, 0, 1, 80);
	struct socks5_auth a = {.user = "u", .pass = "p"};
	int code = 99;
	assert_int_equal(socks5_handshake(sv[0], &t, &a, tw_now_ms() + 2000, &socks5_default_io, &code), 0);
	assert_int_equal(code, 0);
	char rest[8];
	assert_int_equal(recv(sv[0], rest, sizeof(rest), MSG_DONTWAIT), 4);
	assert_memory_equal(rest, "DATA", 4);
	close(sv[0]);
	close(sv[1]);
}

struct late_peer {
	int fd;
	const uint8_t *bytes;
	size_t len;
};

/* Answers one byte at a time with pauses, like a slow proxy, after reading the request. */
static void *late_peer_main(void *arg)
{
	struct late_peer *lp = arg;
	uint8_t req[SOCKS5_REQUEST_MAX];
	struct timespec pause = {0, 5 * 1000 * 1000};
	if (recv(lp->fd, req, sizeof(req), 0) <= 0)
		return NULL;
	for (size_t i = 0; i < lp->len; i++) {
		nanosleep(&pause, NULL);
		if (send(lp->fd, lp->bytes + i, 1, MSG_NOSIGNAL) != 1)
			return NULL;
	}
	return NULL;
}

static void test_default_io_nonblocking_slow_peer(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK), 0);
	struct late_peer lp = {.fd = sv[1], .bytes = REPLY_NOAUTH_NAME, .len = sizeof(REPLY_NOAUTH_NAME)};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, late_peer_main, &lp), 0);
	struct socks5_target t = target_name("example", 80);
	int code = 99;
	int rc = socks5_handshake(sv[0], &t, NULL, tw_now_ms() + 5000, &socks5_default_io, &code);
	pthread_join(th, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(code, 0);
	close(sv[0]);
	close(sv[1]);
}

static void test_default_io_peer_closes(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	const uint8_t partial[] = {0x05, 0x00, 0x05};
	assert_int_equal(send(sv[1], partial, sizeof(partial), 0), (ssize_t)sizeof(partial));
	assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
	struct socks5_target t = target_ipv4(1, 2, 3, 4, 80);
	assert_int_equal(socks5_handshake(sv[0], &t, NULL, tw_now_ms() + 2000, &socks5_default_io, NULL),
			 -ECONNRESET);
	close(sv[0]);
	close(sv[1]);
}

static void test_default_io_send_to_closed_peer(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	struct socks5_target t = target_ipv4(1, 2, 3, 4, 80);
	/* MSG_NOSIGNAL: a closed peer is an error value, not a SIGPIPE that would kill the test. */
	assert_int_equal(socks5_handshake(sv[0], &t, NULL, tw_now_ms() + 2000, &socks5_default_io, NULL), -EPIPE);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_ipv4_noauth),
		cmocka_unit_test(test_encode_ipv4_auth),
		cmocka_unit_test(test_encode_name_noauth),
		cmocka_unit_test(test_encode_name_auth),
		cmocka_unit_test(test_encode_ipv6_noauth),
		cmocka_unit_test(test_encode_ipv6_auth),
		cmocka_unit_test(test_encode_name_255_ok),
		cmocka_unit_test(test_encode_name_256_rejected),
		cmocka_unit_test(test_encode_name_empty_or_null_rejected),
		cmocka_unit_test(test_encode_bad_atyp),
		cmocka_unit_test(test_encode_auth_limits),
		cmocka_unit_test(test_encode_largest_fits_request_max),
		cmocka_unit_test(test_encode_null_user_means_no_auth),
		cmocka_unit_test(test_reply_errno_table),
		cmocka_unit_test(test_reply_text_table),
		cmocka_unit_test(test_reply_unknown_codes),
		cmocka_unit_test(test_reply_hints),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_parse_noauth_ipv4_chunk),
		cmocka_unit_test(test_parse_noauth_ipv4_bytewise),
		cmocka_unit_test(test_parse_auth_ipv4_chunk_and_bytewise),
		cmocka_unit_test(test_parse_auth_ipv6_bytewise),
		cmocka_unit_test(test_parse_name_bnd_chunk_and_bytewise),
		cmocka_unit_test(test_parse_name_bnd_longest),
		cmocka_unit_test(test_parse_need_sequence),
		cmocka_unit_test(test_parse_leaves_application_data),
		cmocka_unit_test(test_parse_empty_feed),
		cmocka_unit_test(test_parse_method_wrong_version),
		cmocka_unit_test(test_parse_method_refused),
		cmocka_unit_test(test_parse_method_not_offered),
		cmocka_unit_test(test_parse_auth_refused),
		cmocka_unit_test(test_parse_auth_wrong_version),
		cmocka_unit_test(test_parse_auth_without_method_reply),
		cmocka_unit_test(test_parse_connect_wrong_version),
		cmocka_unit_test(test_parse_bad_atyp),
		cmocka_unit_test(test_parse_every_reply_code),
		cmocka_unit_test(test_parse_result_is_sticky),
		cmocka_unit_test(test_handshake_noauth_one_send),
		cmocka_unit_test(test_handshake_auth_one_send_pipelined),
		cmocka_unit_test(test_handshake_leaves_application_data),
		cmocka_unit_test(test_handshake_reply_failure),
		cmocka_unit_test(test_handshake_auth_refused),
		cmocka_unit_test(test_handshake_method_refused),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_handshake_eof_mid_reply),
		cmocka_unit_test(test_handshake_eof_immediately),
		cmocka_unit_test(test_handshake_send_error),
		cmocka_unit_test(test_handshake_bad_target_sends_nothing),
		cmocka_unit_test(test_default_io_timeout_no_answer),
		cmocka_unit_test(test_default_io_deadline_already_past),
		cmocka_unit_test(test_default_io_blocking_success_keeps_app_data),
		cmocka_unit_test(test_default_io_nonblocking_slow_peer),
		cmocka_unit_test(test_default_io_peer_closes),
		cmocka_unit_test(test_default_io_send_to_closed_peer),
	};
	return cmocka_run_group_tests_name("socks5", tests, NULL, NULL);
}
