/* socks5.c: the SOCKS5 client torwrap speaks to Tor: one pipelined request (greeting, RFC 1929 credentials,
 * CONNECT), an incremental reply parser that never reads past the CONNECT reply, the reply-code tables, and
 * the handshake driver with its default poll()-based I/O.
 */
#include "socks5.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "../common/tw.h"

/* Linux has these; fall back to the nearest portable meaning elsewhere. */
#ifndef ENOKEY
#define ENOKEY EACCES
#endif
#ifndef EKEYREJECTED
#define EKEYREJECTED EACCES
#endif
#ifndef ETIME
#define ETIME ETIMEDOUT
#endif
#ifndef EHOSTDOWN
#define EHOSTDOWN EHOSTUNREACH
#endif

#define SOCKS5_VERSION 0x05
#define SOCKS5_AUTH_VERSION 0x01
#define SOCKS5_METHOD_NONE 0x00
#define SOCKS5_METHOD_USERPASS 0x02
#define SOCKS5_METHOD_REFUSED 0xFF
#define SOCKS5_CMD_CONNECT 0x01

/* ---------------------------------------------------------------------------------------------- reply codes */

struct reply_entry {
	int code;
	int err; /* positive errno */
	const char *text;
};

static const struct reply_entry reply_table[] = {
	{SOCKS5_REP_SUCCEEDED, 0, "succeeded"},
	{SOCKS5_REP_GENERAL_FAILURE, ECONNREFUSED, "general SOCKS server failure"},
	{SOCKS5_REP_NOT_ALLOWED, EACCES, "connection not allowed by ruleset"},
	{SOCKS5_REP_NET_UNREACHABLE, ENETUNREACH, "network unreachable"},
	{SOCKS5_REP_HOST_UNREACHABLE, EHOSTUNREACH, "host unreachable (name could not be resolved at the exit?)"},
	{SOCKS5_REP_CONN_REFUSED, ECONNREFUSED, "connection refused by destination"},
	{SOCKS5_REP_TTL_EXPIRED, ETIMEDOUT, "TTL expired"},
	{SOCKS5_REP_CMD_UNSUPPORTED, EOPNOTSUPP, "command not supported"},
	{SOCKS5_REP_ATYP_UNSUPPORTED, EAFNOSUPPORT, "address type not supported"},
	{SOCKS5_REP_ONION_DESC_NOT_FOUND, EHOSTDOWN, "onion service descriptor not found"},
	{SOCKS5_REP_ONION_DESC_INVALID, EBADMSG, "onion service descriptor is invalid"},
	{SOCKS5_REP_ONION_INTRO_FAILED, ECONNRESET, "onion service introduction failed"},
	{SOCKS5_REP_ONION_REND_FAILED, ENETRESET, "onion service rendezvous failed"},
	{SOCKS5_REP_ONION_MISSING_AUTH, ENOKEY, "onion service requires client authorization"},
	{SOCKS5_REP_ONION_WRONG_AUTH, EKEYREJECTED, "onion service client authorization is wrong"},
	{SOCKS5_REP_ONION_BAD_ADDRESS, EINVAL, "invalid onion address"},
	{SOCKS5_REP_ONION_INTRO_TIMEOUT, ETIME, "onion service introduction timed out"},
};

static const struct reply_entry *reply_lookup(int code)
{
	for (size_t i = 0; i < sizeof(reply_table) / sizeof(reply_table[0]); i++)
		if (reply_table[i].code == code)
			return &reply_table[i];
	return NULL;
}

int socks5_reply_errno(int code)
{
	const struct reply_entry *e = reply_lookup(code);
	return e ? -e->err : -EPROTO;
}

const char *socks5_reply_text(int code)
{
	const struct reply_entry *e = reply_lookup(code);
	return e ? e->text : "unknown SOCKS reply code";
}

const char *socks5_reply_hint(int code)
{
	switch (code) {
	case SOCKS5_REP_GENERAL_FAILURE:
		return "Tor could not open the stream: the destination refused it or no exit could reach it";
	case SOCKS5_REP_NOT_ALLOWED:
		return "Tor's exit or SOCKS policy does not allow this destination";
	case SOCKS5_REP_NET_UNREACHABLE:
		return "the exit has no route to the destination";
	case SOCKS5_REP_HOST_UNREACHABLE:
		return "the exit could not resolve or reach the host: check the name";
	case SOCKS5_REP_CONN_REFUSED:
		return "the destination refused the connection: nothing listens on that port";
	case SOCKS5_REP_TTL_EXPIRED:
		return "Tor gave up waiting for the circuit or the destination";
	case SOCKS5_REP_ONION_DESC_NOT_FOUND:
		return "the onion service is not published: it is offline or the address is wrong";
	case SOCKS5_REP_ONION_DESC_INVALID:
		return "the onion service published a descriptor Tor cannot use";
	case SOCKS5_REP_ONION_INTRO_FAILED:
		return "the onion service's introduction points did not answer: it may be overloaded or offline";
	case SOCKS5_REP_ONION_REND_FAILED:
		return "the rendezvous with the onion service failed: try again";
	case SOCKS5_REP_ONION_MISSING_AUTH:
		return "the onion service needs client authorization (ClientOnionAuthDir on tor-proxy)";
	case SOCKS5_REP_ONION_WRONG_AUTH:
		return "tor-proxy's client authorization key for this onion service is wrong";
	case SOCKS5_REP_ONION_BAD_ADDRESS:
		return "not a valid v3 onion address: check it for a typo";
	case SOCKS5_REP_ONION_INTRO_TIMEOUT:
		return "the onion service did not answer in time";
	default:
		return NULL;
	}
}

const char *socks5_strerror(int err, int reply_code)
{
	if (reply_code >= 0)
		return socks5_reply_text(reply_code);
	switch (-err) {
	case 0:
		return "succeeded";
	case EPROTO:
		return "malformed reply or no acceptable authentication method";
	case EACCES:
		return "proxy refused the username/password";
	case ECONNRESET:
		return "proxy closed the connection during the handshake";
	case ETIMEDOUT:
		return "proxy did not answer in time";
	case EINVAL:
		return "invalid destination or credentials";
	default:
		return NULL;
	}
}

/* ------------------------------------------------------------------------------------------------- request */

/* The lengths of AUTH's user and password (0 without credentials). 0, or -EINVAL. */
static int auth_lengths(const struct socks5_auth *auth, size_t *ulen, size_t *plen)
{
	*ulen = *plen = 0;
	if (!auth || !auth->user)
		return 0;
	if (!auth->pass)
		return -EINVAL;
	/* strnlen: never walk past 256 bytes of a string that may be unterminated or huge. */
	*ulen = strnlen(auth->user, 256);
	*plen = strnlen(auth->pass, 256);
	return *ulen < 1 || *ulen > 255 || *plen < 1 || *plen > 255 ? -EINVAL : 0;
}

/* The length of T's address field (ATYP 3: the length byte and the name). Positive, or -EINVAL. */
static ssize_t address_length(const struct socks5_target *t)
{
	if (t->atyp == 1 || t->atyp == 4)
		return t->atyp == 1 ? 4 : 16;
	if (t->atyp != 3 || !t->name)
		return -EINVAL;
	size_t nlen = strnlen(t->name, 256);
	return nlen < 1 || nlen > 255 ? -EINVAL : (ssize_t)(1 + nlen);
}

static uint8_t *put_counted(uint8_t *p, const char *s, size_t len)
{
	*p++ = (uint8_t)len;
	memcpy(p, s, len);
	return p + len;
}

ssize_t socks5_encode_request(const struct socks5_target *t, const struct socks5_auth *auth, uint8_t *out,
			      size_t outlen)
{
	if (!t || (!out && outlen))
		return -EINVAL;
	size_t ulen, plen;
	ssize_t alen = address_length(t);
	if (auth_lengths(auth, &ulen, &plen) != 0 || alen < 0)
		return -EINVAL;
	bool with_auth = ulen > 0;
	size_t total = 3 + (with_auth ? 3 + ulen + plen : 0) + 4 + (size_t)alen + 2;
	if (total > outlen)
		return -ENOBUFS;

	uint8_t *p = out;
	/* Offer exactly one method: the server's choice is then known in advance, which is what makes it safe to
	 * send the credentials and the CONNECT before the method reply arrives. */
	*p++ = SOCKS5_VERSION;
	*p++ = 1;
	*p++ = with_auth ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;
	if (with_auth) {
		*p++ = SOCKS5_AUTH_VERSION;
		p = put_counted(p, auth->user, ulen);
		p = put_counted(p, auth->pass, plen);
	}
	*p++ = SOCKS5_VERSION;
	*p++ = SOCKS5_CMD_CONNECT;
	*p++ = 0x00;
	*p++ = (uint8_t)t->atyp;
	if (t->atyp == 3) {
		p = put_counted(p, t->name, (size_t)alen - 1);
	} else {
		memcpy(p, t->addr, (size_t)alen);
		p += alen;
	}
	*p++ = (uint8_t)(t->port >> 8);
	*p++ = (uint8_t)(t->port & 0xFF);
	return (ssize_t)(p - out);
}

/* ------------------------------------------------------------------------------------------- reply parser */

enum parser_state {
	ST_METHOD = 0, /* 05 METHOD */
	ST_AUTH, /* 01 STATUS */
	ST_HEAD, /* 05 REP RSV ATYP */
	ST_NAMELEN, /* ATYP 3: length of the bound name */
	ST_ADDR, /* bound address + port */
	ST_DONE,
	ST_FAILED,
};

void socks5_reply_parser_init(struct socks5_reply_parser *p, int with_auth)
{
	memset(p, 0, sizeof(*p));
	p->state = ST_METHOD;
	p->with_auth = with_auth ? 1 : 0;
	p->need = 2;
	p->reply = -1;
	p->err = 0;
	p->error = NULL;
}

size_t socks5_need(const struct socks5_reply_parser *p)
{
	if (p->state == ST_DONE || p->state == ST_FAILED)
		return 0;
	return p->need;
}

static int parser_fail(struct socks5_reply_parser *p, int err, const char *why)
{
	p->state = ST_FAILED;
	p->need = 0;
	p->err = err;
	p->error = why;
	return err;
}

static int step_auth(struct socks5_reply_parser *p);

static int step_method(struct socks5_reply_parser *p)
{
	uint8_t offered = p->with_auth ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;
	/* Tor (0.4.9 at least) parses a pipelined greeting and RFC 1929 request in one go and keeps only the last
	 * reply it prepared, so its method reply (05 02) never arrives and the first bytes are the authentication
	 * reply (01 STATUS). We offered exactly one method, so an authentication reply means the proxy took it:
	 * read these bytes as that reply. */
	if (p->with_auth && p->buf[0] == SOCKS5_AUTH_VERSION)
		return step_auth(p);
	if (p->buf[0] != SOCKS5_VERSION)
		return parser_fail(p, -EPROTO, "method reply is not SOCKS version 5");
	if (p->buf[1] == SOCKS5_METHOD_REFUSED)
		return parser_fail(p, -EPROTO,
				   p->with_auth ? "proxy does not accept username/password authentication"
						: "no acceptable authentication method");
	if (p->buf[1] != offered)
		return parser_fail(p, -EPROTO, "proxy chose a method that was not offered");
	p->have = 0;
	p->state = p->with_auth ? ST_AUTH : ST_HEAD;
	p->need = p->with_auth ? 2 : 4;
	return 0;
}

static int step_auth(struct socks5_reply_parser *p)
{
	if (p->buf[0] != SOCKS5_AUTH_VERSION)
		return parser_fail(p, -EPROTO, "authentication reply has a wrong version");
	if (p->buf[1] != 0x00)
		return parser_fail(p, -EACCES, "proxy refused the username/password");
	p->have = 0;
	p->state = ST_HEAD;
	p->need = 4;
	return 0;
}

static int step_head(struct socks5_reply_parser *p)
{
	if (p->buf[0] != SOCKS5_VERSION)
		return parser_fail(p, -EPROTO, "CONNECT reply is not SOCKS version 5");
	p->reply = p->buf[1];
	/* A failure is final whatever follows; servers differ in what (if anything) they send as the bound address
	 * of a failed request, so do not wait for it. RSV is not checked, for the same leniency. */
	if (p->reply != SOCKS5_REP_SUCCEEDED)
		return parser_fail(p, socks5_reply_errno(p->reply), socks5_reply_text(p->reply));
	p->state = p->buf[3] == 3 ? ST_NAMELEN : ST_ADDR;
	switch (p->buf[3]) {
	case 1:
		p->need = 4 + 2;
		return 0;
	case 4:
		p->need = 16 + 2;
		return 0;
	case 3:
		p->need = 1;
		return 0;
	default:
		return parser_fail(p, -EPROTO, "CONNECT reply has an unknown address type");
	}
}

/* Called when the current step's bytes are all in p->buf; moves to the next step. Returns 1 when the CONNECT
 * reply is complete, 0 to go on, or a negative errno. */
static int parser_step(struct socks5_reply_parser *p)
{
	switch (p->state) {
	case ST_METHOD:
		return step_method(p);
	case ST_AUTH:
		return step_auth(p);
	case ST_HEAD:
		return step_head(p);
	case ST_NAMELEN:
		p->state = ST_ADDR;
		p->need = (size_t)p->buf[4] + 2;
		return 0;
	case ST_ADDR:
		p->state = ST_DONE;
		p->need = 0;
		return 1;
	default:
		return p->err ? p->err : -EPROTO;
	}
}

int socks5_reply_feed(struct socks5_reply_parser *p, const uint8_t *in, size_t len, size_t *consumed)
{
	size_t used = 0;
	int rc = 0;

	if (consumed)
		*consumed = 0;
	if (p->state == ST_DONE)
		return 1;
	if (p->state == ST_FAILED)
		return p->err;
	while (used < len) {
		size_t take = len - used < p->need ? len - used : p->need;
		/* Cannot overflow: the largest reply (4 + 1 + 255 + 2) is exactly the buffer. */
		memcpy(p->buf + p->have, in + used, take);
		p->have += take;
		p->need -= take;
		used += take;
		if (p->need)
			break;
		rc = parser_step(p);
		if (rc != 0)
			break;
	}
	if (consumed)
		*consumed = used;
	return rc;
}

/* ---------------------------------------------------------------------------------------------- handshake */

int socks5_handshake(int fd, const struct socks5_target *t, const struct socks5_auth *auth, int64_t deadline_ms,
		     const struct socks5_io *io, int *reply_code)
{
	uint8_t req[SOCKS5_REQUEST_MAX];
	struct socks5_reply_parser parser;
	uint8_t in[sizeof(parser.buf)];

	if (reply_code)
		*reply_code = -1;
	if (!io)
		io = &socks5_default_io;

	ssize_t n = socks5_encode_request(t, auth, req, sizeof(req));
	if (n < 0)
		return (int)n;
	int rc = io->send_all(fd, req, (size_t)n, deadline_ms, io->ctx);
	if (rc < 0)
		return rc;

	socks5_reply_parser_init(&parser, auth && auth->user);
	for (;;) {
		size_t want = socks5_need(&parser);
		if (want == 0)
			break;
		/* Read exactly what the parser needs: the bytes after the CONNECT reply are the application's. */
		ssize_t got = io->recv_some(fd, in, want, deadline_ms, io->ctx);
		if (got < 0)
			return (int)got;
		if (got == 0)
			return -ECONNRESET;
		if ((size_t)got > want)
			return -EIO; /* a broken recv_some; never trust it to overrun */
		size_t used;
		rc = socks5_reply_feed(&parser, in, (size_t)got, &used);
		if (rc != 0)
			break;
	}
	if (reply_code)
		*reply_code = parser.reply;
	return rc == 1 ? 0 : (rc < 0 ? rc : -EPROTO);
}

/* -------------------------------------------------------------------------------------------- default I/O */

/* Waits for EVENTS on FD until DEADLINE_MS. Returns 0 when it is worth trying the I/O again, or -ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - tw_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = {.fd = fd, .events = events, .revents = 0};
		int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			continue; /* re-check the clock: poll may wake a little early */
		if (pfd.revents & POLLNVAL)
			return -EBADF;
		/* POLLERR / POLLHUP: let the send or recv itself report the error or the EOF. */
		return 0;
	}
}

static int default_send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline_ms, void *ctx)
{
	(void)ctx;
	size_t off = 0;

	while (off < len) {
		/* Poll first so a blocking descriptor cannot hold us past the deadline on a full send buffer. */
		int w = wait_fd(fd, POLLOUT, deadline_ms);
		if (w < 0)
			return w;
		ssize_t r = tw_libc()->sendto(fd, buf + off, len - off, MSG_NOSIGNAL, NULL, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		off += (size_t)r;
	}
	return 0;
}

static ssize_t default_recv_some(int fd, uint8_t *buf, size_t len, int64_t deadline_ms, void *ctx)
{
	(void)ctx;

	if (len == 0)
		return 0;
	for (;;) {
		/* Poll first: on a blocking descriptor, recv alone would wait past the deadline. */
		int w = wait_fd(fd, POLLIN, deadline_ms);
		if (w < 0)
			return w;
		ssize_t r = tw_libc()->recvfrom(fd, buf, len, 0, NULL, NULL);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		return r;
	}
}

const struct socks5_io socks5_default_io = {
	.send_all = default_send_all,
	.recv_some = default_recv_some,
	.ctx = NULL,
};

void socks5_target_text(const struct socks5_target *t, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	if (t->atyp == 3)
		snprintf(buf, len, "%s:%u", t->name, t->port);
	else if (t->atyp == 1)
		snprintf(buf, len, "%s:%u", inet_ntop(AF_INET, t->addr, a, sizeof(a)), t->port);
	else
		snprintf(buf, len, "[%s]:%u", inet_ntop(AF_INET6, t->addr, a, sizeof(a)), t->port);
}
