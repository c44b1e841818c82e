/* socks5.h: the SOCKS5 client torwrap speaks to Tor (RFC 1928, RFC 1929, Tor's extensions).
 *
 * One round trip: the greeting, the username/password sub-negotiation (when credentials are given) and the
 * CONNECT request are encoded into one buffer and sent in one write, which Tor accepts; the replies are then
 * read in order. The encoding and decoding are pure functions (bytes in, bytes out) so they can be tested and
 * fuzzed without sockets; socks5_handshake() drives them over a descriptor through injectable I/O functions.
 *
 * Errors are negative errno values. Every SOCKS reply code maps to its own errno where one fits
 * (socks5_reply_errno) and to words for the log line (socks5_reply_text).
 */
#ifndef TORWRAP_SOCKS5_H
#define TORWRAP_SOCKS5_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reply codes (RFC 1928 and Tor's ExtendedErrors). */
enum socks5_reply {
	SOCKS5_REP_SUCCEEDED = 0x00,
	SOCKS5_REP_GENERAL_FAILURE = 0x01,
	SOCKS5_REP_NOT_ALLOWED = 0x02,
	SOCKS5_REP_NET_UNREACHABLE = 0x03,
	SOCKS5_REP_HOST_UNREACHABLE = 0x04,
	SOCKS5_REP_CONN_REFUSED = 0x05,
	SOCKS5_REP_TTL_EXPIRED = 0x06,
	SOCKS5_REP_CMD_UNSUPPORTED = 0x07,
	SOCKS5_REP_ATYP_UNSUPPORTED = 0x08,
	SOCKS5_REP_ONION_DESC_NOT_FOUND = 0xF0,
	SOCKS5_REP_ONION_DESC_INVALID = 0xF1,
	SOCKS5_REP_ONION_INTRO_FAILED = 0xF2,
	SOCKS5_REP_ONION_REND_FAILED = 0xF3,
	SOCKS5_REP_ONION_MISSING_AUTH = 0xF4,
	SOCKS5_REP_ONION_WRONG_AUTH = 0xF5,
	SOCKS5_REP_ONION_BAD_ADDRESS = 0xF6,
	SOCKS5_REP_ONION_INTRO_TIMEOUT = 0xF7,
};

/* Destination of a CONNECT: a name (ATYP 3) or an address (ATYP 1 / 4). */
struct socks5_target {
	int atyp; /* 1 = IPv4, 3 = domain name, 4 = IPv6 */
	const char *name; /* ATYP 3: 1..255 bytes */
	uint8_t addr[16]; /* ATYP 1 (4 bytes) / 4 (16 bytes), network order */
	uint16_t port; /* host byte order */
};

/* Username/password (RFC 1929), used by Tor for stream isolation; NULL user = no authentication. */
struct socks5_auth {
	const char *user; /* 1..255 bytes */
	const char *pass; /* 1..255 bytes */
};

/* Largest request: greeting 3 + auth 3+255+255 + connect 7+255. */
#define SOCKS5_REQUEST_MAX 800

/* Encodes greeting + (auth) + CONNECT into OUT. Returns the length, or -EINVAL (name empty/too long, bad atyp,
 * credentials empty/too long) / -ENOBUFS. */
ssize_t socks5_encode_request(const struct socks5_target *t, const struct socks5_auth *auth, uint8_t *out,
			      size_t outlen);

/* Incremental reply parser: feed it the bytes the proxy sent, in any pieces. */
struct socks5_reply_parser {
	int state; /* internal */
	int with_auth;
	size_t need; /* bytes the current step still needs */
	uint8_t buf[4 + 1 + 255 + 2];
	size_t have;
	int reply; /* the CONNECT reply code once known */
	int err; /* the negative errno once failed, else 0 */
	const char *error; /* once failed: static words saying why, for the log line; else NULL */
};

void socks5_reply_parser_init(struct socks5_reply_parser *p, int with_auth);

/* Consumes up to LEN bytes of IN (never more than the replies hold: data after the CONNECT reply belongs to
 * the application and is left in the socket, since the parser is fed with exact reads, see socks5_need).
 * Returns 1 when the CONNECT reply is complete and successful, 0 when more bytes are needed, or a negative
 * errno: -EPROTO for a malformed reply or a refused method (0xFF), -EACCES when the credentials are refused
 * (RFC 1929 status not 0), else socks5_reply_errno(code). A failed CONNECT reply ends the parse at its
 * 4-byte header (its bound address is not waited for). Once finished, further calls return the same result. */
int socks5_reply_feed(struct socks5_reply_parser *p, const uint8_t *in, size_t len, size_t *consumed);

/* How many bytes the parser needs next; read exactly that many so no application data is swallowed. */
size_t socks5_need(const struct socks5_reply_parser *p);

/* errno for a reply code (negative), and plain words for it ("onion service descriptor not found"). */
int socks5_reply_errno(int code);
const char *socks5_reply_text(int code);

/* What a failure reply means for the person reading the log, for Tor's proxy ("the onion service is not
 * published: it is offline or the address is wrong"); NULL for success and unknown codes. */
const char *socks5_reply_hint(int code);

/* Words for a socks5_handshake() outcome (its return value and *REPLY_CODE): the reply text when there is a
 * reply code, else words for the errors the handshake itself produces; NULL for other errno values (use
 * strerror). */
const char *socks5_strerror(int err, int reply_code);

/* I/O used by socks5_handshake; the defaults call the real libc through poll/send/recv. */
struct socks5_io {
	/* Send all of BUF or fail; returns 0 or a negative errno. Must respect DEADLINE_MS (tw_now_ms scale). */
	int (*send_all)(int fd, const uint8_t *buf, size_t len, int64_t deadline_ms, void *ctx);
	/* Receive 1..LEN bytes; returns the count, 0 on EOF, or a negative errno (-ETIMEDOUT past DEADLINE_MS). */
	ssize_t (*recv_some)(int fd, uint8_t *buf, size_t len, int64_t deadline_ms, void *ctx);
	void *ctx;
};

/* Runs the whole exchange on FD, which must already be connected to the proxy. Returns 0 or a negative errno
 * (the parser's, or -ECONNRESET when the proxy closes mid-reply, or the I/O's, e.g. -ETIMEDOUT) and stores the
 * CONNECT reply code in *REPLY_CODE when the proxy sent one (else -1); REPLY_CODE may be NULL. IO NULL means
 * socks5_default_io. */
int socks5_handshake(int fd, const struct socks5_target *t, const struct socks5_auth *auth, int64_t deadline_ms,
		     const struct socks5_io *io, int *reply_code);

/* "host:port" / "a.b.c.d:port" / "[v6]:port" for log lines. */
void socks5_target_text(const struct socks5_target *t, char *buf, size_t len);

/* Default I/O over a blocking or non-blocking descriptor (poll with the deadline). */
extern const struct socks5_io socks5_default_io;

#endif
