/* dns.c: the one DNS forwarder (route.h, route_dns_forward), for every front end that asks a nameserver about an
 * allowed name on a program's behalf: the supervisor's responder and the library's res_* hooks and DNS guard.
 *
 * What goes upstream is rebuilt from the question alone (resolver_dns_rebuild_query): a standard QUERY with one
 * question, its bytes as the program sent them, and an EDNS record of our own; never the program's other
 * sections, opcodes or EDNS options, where a name or any other bytes could ride along to the nameserver (and
 * from Docker's 127.0.0.11 to the host's resolvers). It goes out under an ID and, over UDP, a source port of our
 * own (getrandom), and only a reply with that ID and the same question is believed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "route.h"

#define DNS_TRY_MS 2500 /* per nameserver */

/* 16 bits from getrandom: 0, or a negative errno. */
static int random16(uint16_t *v)
{
	ssize_t n = getrandom(v, sizeof(*v), 0);
	return n == (ssize_t)sizeof(*v) ? 0 : n < 0 ? -errno : -EIO;
}

/* Binds the forwarder's UDP socket S to a source port from getrandom (1024-65535), so that a forger must guess
 * the port as well as the ID. After a few ports in use, the kernel's own (also random) choice stands. */
static void bind_random_port(int s, int family)
{
	for (int tries = 0; tries < 8; tries++) {
		uint16_t r;
		if (random16(&r) != 0)
			return;
		struct sockaddr_storage ss;
		struct resolver_addr any = { .family = family };
		socklen_t len = route_sockaddr_make(&any, (uint16_t)(1024 + r % (65536 - 1024)), family, &ss);
		if (bind(s, (struct sockaddr *)&ss, len) == 0 || errno != EADDRINUSE)
			return;
	}
}

/* One question over UDP to NS: datagrams that are not the reply to EXPECT are dropped until DEADLINE. */
static ssize_t forward_udp(const struct route_ctx *ctx, int s, const uint8_t *q, size_t qlen,
			   const struct resolver_dns_question *expect, uint8_t *out, size_t outlen, int64_t deadline)
{
	int rc = ctx->io->send_all(s, q, qlen, deadline, ctx->io->ctx);
	while (rc == 0) {
		ssize_t n = ctx->io->recv_some(s, out, outlen, deadline, ctx->io->ctx);
		if (n < 0)
			return n; /* ECONNREFUSED: nobody there; ETIMEDOUT */
		if (resolver_dns_reply_answers(out, (size_t)n, expect))
			return n;
	}
	return rc;
}

/* The same over TCP: the two-byte length, then the message, both ways. */
static ssize_t forward_tcp(const struct route_ctx *ctx, int s, const uint8_t *q, size_t qlen,
			   const struct resolver_dns_question *expect, uint8_t *out, size_t outlen, int64_t deadline)
{
	uint8_t msg[2 + 512];
	if (qlen > sizeof(msg) - 2)
		return -EMSGSIZE;
	msg[0] = (uint8_t)(qlen >> 8);
	msg[1] = (uint8_t)qlen;
	memcpy(msg + 2, q, qlen);
	int rc = ctx->io->send_all(s, msg, qlen + 2, deadline, ctx->io->ctx);
	uint8_t hdr[2];
	size_t got = 0, want = 2;
	while (rc == 0 && got < want) {
		uint8_t *to = want == 2 ? hdr + got : out + got;
		ssize_t n = ctx->io->recv_some(s, to, want - got, deadline, ctx->io->ctx);
		if (n <= 0)
			return n < 0 ? n : -ECONNRESET;
		got += (size_t)n;
		if (want == 2 && got == 2) {
			want = (size_t)(hdr[0] << 8 | hdr[1]);
			got = 0;
			if (want < 12 || want > outlen)
				return -EBADMSG;
		}
	}
	if (rc < 0)
		return rc;
	return resolver_dns_reply_answers(out, want, expect) ? (ssize_t)want : -EBADMSG;
}

/* Asks nameserver NS the rebuilt question Q (QLEN bytes), EXPECT its parsed form. */
static ssize_t ask(const struct route_ctx *ctx, const struct resolver_nameserver *ns, const uint8_t *q,
		   size_t qlen, const struct resolver_dns_question *expect, uint8_t *out, size_t outlen, bool tcp)
{
	struct resolver_addr a = { .family = ns->family };
	memcpy(a.addr, ns->addr, 16);
	struct sockaddr_storage ss;
	socklen_t len = route_sockaddr_make(&a, ns->port, a.family, &ss);
	int per = ctx->cfg->timeout_ms < DNS_TRY_MS ? ctx->cfg->timeout_ms : DNS_TRY_MS;
	int64_t deadline = tw_now_ms() + per;
	int s = tw_libc()->socket(a.family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	if (!tcp)
		bind_random_port(s, a.family);
	ssize_t rc = route_connect_until(ctx, s, (struct sockaddr *)&ss, len, deadline);
	if (rc == 0)
		rc = tcp ? forward_tcp(ctx, s, q, qlen, expect, out, outlen, deadline)
			 : forward_udp(ctx, s, q, qlen, expect, out, outlen, deadline);
	tw_libc()->close(s);
	return rc;
}

ssize_t route_dns_forward(const struct route_ctx *ctx, const uint8_t *query, size_t len, uint8_t *out,
			  size_t outlen, bool tcp)
{
	uint8_t mine[512];
	uint16_t id;
	ssize_t qlen = random16(&id);
	if (qlen == 0)
		qlen = resolver_dns_rebuild_query(query, len, id, mine, sizeof(mine));
	struct resolver_dns_question expect;
	if (qlen < 0 || resolver_dns_parse_query(mine, (size_t)qlen, &expect) != 0)
		return qlen < 0 ? qlen : -EBADMSG;
	ssize_t rc = -EAGAIN;
	for (unsigned i = 0; ctx->ns && i < ctx->ns->nns && rc <= 0; i++)
		rc = ask(ctx, &ctx->ns->ns[i], mine, (size_t)qlen, &expect, out, outlen, tcp);
	if (rc > 0) { /* the program's ID back */
		out[0] = query[0];
		out[1] = query[1];
	}
	return rc;
}
