/* fuzz_socks5_reply.c: the incremental SOCKS5 reply parser, on whatever a proxy (or a man in the middle) sends.
 * Input: one byte of options (bit 0: credentials were offered), then the proxy's bytes. The same bytes fed
 * whole, one at a time, and in the exact reads socks5_need asks for must give the same outcome and consume the
 * same bytes: the library reads exactly, the supervisor and `torwrap check` may not. */
#include "../../socks5/socks5.h"
#include "fuzz.h"

struct outcome {
	int rc;
	size_t used;
	int reply;
};

static struct outcome feed(const uint8_t *in, size_t len, int with_auth, int how)
{
	struct socks5_reply_parser p;
	socks5_reply_parser_init(&p, with_auth);
	struct outcome o = { 0, 0, 0 };
	while (o.rc == 0 && o.used < len) {
		size_t piece = len - o.used;
		if (how == 1)
			piece = 1;
		else if (how == 2 && socks5_need(&p) < piece)
			piece = socks5_need(&p);
		FUZZ_ASSERT(piece > 0);
		size_t consumed = 0;
		o.rc = socks5_reply_feed(&p, in + o.used, piece, &consumed);
		FUZZ_ASSERT(consumed <= piece);
		o.used += consumed;
		if (o.rc == 0)
			FUZZ_ASSERT(consumed == piece && socks5_need(&p) > 0);
	}
	o.reply = p.reply;
	if (o.rc < 0)
		FUZZ_ASSERT(p.error != NULL);
	return o;
}

FUZZ_TARGET(socks5_reply)
{
	if (size < 1)
		return 0;
	int with_auth = data[0] & 1;
	struct outcome whole = feed(data + 1, size - 1, with_auth, 0);
	struct outcome bytes = feed(data + 1, size - 1, with_auth, 1);
	struct outcome exact = feed(data + 1, size - 1, with_auth, 2);
	FUZZ_ASSERT(whole.rc == bytes.rc && whole.rc == exact.rc);
	FUZZ_ASSERT(whole.used == bytes.used && whole.used == exact.used);
	FUZZ_ASSERT(whole.rc <= 1);
	if (whole.rc != 0)
		FUZZ_ASSERT(whole.reply == bytes.reply && whole.reply == exact.reply);
	(void)socks5_reply_text(whole.reply);
	(void)socks5_reply_hint(whole.reply);
	(void)socks5_strerror(whole.rc, whole.reply);
	return 0;
}
