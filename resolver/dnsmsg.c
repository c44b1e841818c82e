/* dnsmsg.c: just enough of the DNS wire format (RFC 1035) to read the question of a query, to write a reply
 * to it, and to read the addresses of a nameserver's reply. Pure functions: the res_* hooks answer from the
 * virtual map with them, the DNS guard reads what a program's own resolver is about to send, and the
 * supervisor's forwarder checks and reads what a nameserver sent back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "resolver.h"

#define DNS_HEADER 12
#define DNS_MAX_LABELS 128 /* a 255-byte name has at most 127 labels: more is a loop of pointers */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Reads the (uncompressed: queries never compress) name at MSG+*OFF into NAME, lower-cased, no final dot. */
static int read_qname(const uint8_t *msg, size_t len, size_t *off, char name[TW_NAME_MAX])
{
	size_t o = *off, n = 0;
	for (;;) {
		if (o >= len)
			return -EBADMSG;
		uint8_t l = msg[o++];
		if (l == 0)
			break;
		if (l & 0xc0)
			return -EBADMSG; /* compression or extended labels have no place in a question we read */
		/* 255 bytes on the wire at most, the final zero included (RFC 1035): a longer name's reply could not
		 * carry it, and no reader takes it (found by fuzz_dns_query). */
		if (o + l > len || n + l + 1 >= TW_NAME_MAX || (o - *off) + l + 1 > 255)
			return -EBADMSG;
		if (n)
			name[n++] = '.';
		for (uint8_t i = 0; i < l; i++) {
			char c = (char)msg[o + i];
			/* A NUL would cut the name short and a dot would move a label boundary: the name decided on
			 * would not be the name sent on (found by fuzz_dns_query: "allowed\0.example.com" read as
			 * "allowed", then forwarded whole). */
			if (c == '\0' || c == '.')
				return -EBADMSG;
			name[n++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		o += l;
	}
	name[n] = '\0';
	*off = o;
	return 0;
}

int resolver_dns_parse_query(const uint8_t *msg, size_t len, struct resolver_dns_question *q)
{
	if (len < 12)
		return -EBADMSG;
	memset(q, 0, sizeof(*q));
	q->id = get16(msg);
	q->flags = get16(msg + 2);
	q->qdcount = get16(msg + 4);
	if (q->flags & 0x8000)
		return -EBADMSG; /* a response, not a query */
	if (q->qdcount == 0)
		return 0;
	size_t off = 12;
	int rc = read_qname(msg, len, &off, q->name);
	if (rc < 0)
		return rc;
	if (off + 4 > len)
		return -EBADMSG;
	q->qtype = get16(msg + off);
	q->qclass = get16(msg + off + 2);
	q->qend = off + 4;
	return 0;
}

/* Steps over the (possibly compressed) name at MSG+*OFF. */
static int skip_name(const uint8_t *msg, size_t len, size_t *off)
{
	size_t o = *off;
	for (int labels = 0; labels < DNS_MAX_LABELS; labels++) {
		if (o >= len)
			return -EBADMSG;
		uint8_t l = msg[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return -EBADMSG;
			*off = o + 2;
			return 0;
		}
		if (l & 0xc0)
			return -EBADMSG;
		o += 1 + (size_t)l;
		if (l == 0) {
			*off = o;
			return 0;
		}
	}
	return -EBADMSG;
}

bool resolver_dns_reply_answers(const uint8_t *reply, size_t len, const struct resolver_dns_question *q)
{
	if (len < DNS_HEADER || get16(reply) != q->id || !(reply[2] & 0x80) || get16(reply + 4) != 1)
		return false;
	size_t off = DNS_HEADER;
	char name[TW_NAME_MAX];
	if (read_qname(reply, len, &off, name) != 0 || off + 4 > len)
		return false;
	/* read_qname lower-cases: a server that echoes 0x20-randomised case still matches. */
	return strcmp(name, q->name) == 0 && get16(reply + off) == q->qtype && get16(reply + off + 2) == q->qclass;
}

/* The address of the answer record at MSG+OFF (its RDLEN bytes) into OUT when it is an A or AAAA of class IN. */
static bool answer_addr(const uint8_t *msg, size_t off, uint16_t type, uint16_t class, uint16_t rdlen,
			struct resolver_addr *out)
{
	if (class != 1 || !((type == RESOLVER_DNS_A && rdlen == 4) || (type == RESOLVER_DNS_AAAA && rdlen == 16)))
		return false;
	memset(out, 0, sizeof(*out));
	out->family = type == RESOLVER_DNS_A ? AF_INET : AF_INET6;
	memcpy(out->addr, msg + off, rdlen);
	return true;
}

int resolver_dns_reply_addrs(const uint8_t *msg, size_t len, struct resolver_addr *out, int max)
{
	if (len < DNS_HEADER || !(msg[2] & 0x80))
		return -EAGAIN;
	int rcode = msg[3] & 0x0f;
	if (rcode == 3)
		return -ENOENT;
	if (rcode != 0)
		return -EAGAIN;
	size_t off = DNS_HEADER;
	for (unsigned i = 0, qd = get16(msg + 4); i < qd; i++) {
		if (skip_name(msg, len, &off) != 0 || off + 4 > len)
			return -EAGAIN;
		off += 4;
	}
	int n = 0;
	for (unsigned i = 0, an = get16(msg + 6); i < an && n < max; i++) {
		if (skip_name(msg, len, &off) != 0 || off + 10 > len)
			break;
		uint16_t type = get16(msg + off), class = get16(msg + off + 2), rdlen = get16(msg + off + 8);
		off += 10;
		if (off + rdlen > len)
			break;
		if (answer_addr(msg, off, type, class, rdlen, &out[n]))
			n++;
		off += rdlen;
	}
	return n;
}

/* The EDNS record (OPT, RFC 6891) of MSG's additional section, when there is one: its payload size and DO bit.
 * The answer and authority sections are stepped over (a query has none, but a message may carry them). */
static bool find_opt(const uint8_t *msg, size_t len, size_t off, uint16_t *payload, bool *dnssec_ok)
{
	unsigned skip = (unsigned)get16(msg + 6) + get16(msg + 8), ar = get16(msg + 10);
	for (unsigned i = 0; i < skip + ar; i++) {
		size_t name = off;
		if (skip_name(msg, len, &off) != 0 || off + 10 > len)
			return false;
		uint16_t type = get16(msg + off), rdlen = get16(msg + off + 8);
		if (i >= skip && type == 41 && msg[name] == 0) { /* OPT, owned by the root */
			*payload = get16(msg + off + 2);
			*dnssec_ok = (msg[off + 6] & 0x80) != 0;
			return true;
		}
		off += 10 + (size_t)rdlen;
	}
	return false;
}

ssize_t resolver_dns_rebuild_query(const uint8_t *msg, size_t len, uint16_t id, uint8_t *out, size_t outlen)
{
	struct resolver_dns_question q;
	if (resolver_dns_parse_query(msg, len, &q) != 0 || q.qdcount != 1 || (q.flags & 0x7800) != 0)
		return -EBADMSG;
	uint16_t payload = 0;
	bool dnssec_ok = false, edns = find_opt(msg, len, q.qend, &payload, &dnssec_ok);
	size_t qlen = q.qend - DNS_HEADER, need = DNS_HEADER + qlen + (edns ? 11 : 0);
	if (outlen < need)
		return -ENOBUFS;
	memset(out, 0, DNS_HEADER);
	put16(out, id);
	put16(out + 2, q.flags & 0x0130); /* RD, AD, CD: what a stub may ask; the opcode is QUERY */
	put16(out + 4, 1);
	put16(out + 10, edns ? 1 : 0);
	memcpy(out + DNS_HEADER, msg + DNS_HEADER, qlen); /* the question as sent: read_qname checked every byte */
	if (edns) {
		uint8_t *o = out + DNS_HEADER + qlen;
		o[0] = 0; /* the root */
		put16(o + 1, 41);
		put16(o + 3, payload < 512 ? 512 : payload > 1232 ? 1232 : payload);
		put16(o + 5, 0); /* extended rcode, version 0 */
		put16(o + 7, dnssec_ok ? 0x8000 : 0);
		put16(o + 9, 0); /* no options: none of the program's bytes */
	}
	return (ssize_t)need;
}

static int write_name(uint8_t *out, size_t outlen, size_t *off, const char *name)
{
	size_t o = *off;
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l > 63 || o + 1 + l >= outlen)
			return -EINVAL;
		out[o++] = (uint8_t)l;
		memcpy(out + o, p, l);
		o += l;
		p += l;
		if (*p == '.')
			p++;
	}
	if (o >= outlen)
		return -ENOBUFS;
	out[o++] = 0;
	*off = o;
	return 0;
}

int resolver_dns_name_to_wire(const char *name, uint8_t *out, size_t outlen)
{
	size_t off = 0;
	int rc = write_name(out, outlen, &off, name);
	return rc < 0 ? rc : (int)off;
}

ssize_t resolver_dns_build_reply(const struct resolver_dns_question *q, int rcode, const uint8_t *rdata,
				 uint16_t rdlen, uint8_t *out, size_t outlen)
{
	if (outlen < 12)
		return -ENOBUFS;
	memset(out, 0, 12);
	put16(out, q->id);
	/* QR, the opcode and RD of the query, RA; AA is not claimed. */
	put16(out + 2, (uint16_t)(0x8000 | (q->flags & 0x7900) | 0x0080 | (rcode & 0xf)));
	put16(out + 4, 1);
	put16(out + 6, rdata ? 1 : 0);
	size_t off = 12;
	int rc = write_name(out, outlen, &off, q->name);
	if (rc < 0)
		return rc;
	if (off + 4 > outlen)
		return -ENOBUFS;
	put16(out + off, q->qtype);
	put16(out + off + 2, q->qclass);
	off += 4;
	if (rdata) {
		if (off + 12 + rdlen > outlen)
			return -ENOBUFS;
		put16(out + off, 0xc00c); /* the question's name */
		put16(out + off + 2, q->qtype);
		put16(out + off + 4, q->qclass);
		put16(out + off + 6, 0);
		put16(out + off + 8, 60); /* TTL: short, the map lives as long as the process tree */
		put16(out + off + 10, rdlen);
		memcpy(out + off + 12, rdata, rdlen);
		off += 12 + rdlen;
	}
	return (ssize_t)off;
}

/* "4.3.2.1.in-addr.arpa" / nibbles ".ip6.arpa" back to an address. */
int resolver_dns_ptr_addr(const char *name, struct resolver_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	size_t len = strlen(name);
	static const char v4s[] = ".in-addr.arpa", v6s[] = ".ip6.arpa";
	if (len > sizeof(v4s) - 1 && strcmp(name + len - (sizeof(v4s) - 1), v4s) == 0) {
		unsigned o[4];
		char tail;
		if (sscanf(name, "%u.%u.%u.%u.in-addr.arpa%c", &o[3], &o[2], &o[1], &o[0], &tail) != 4)
			return -EINVAL;
		for (int i = 0; i < 4; i++) {
			if (o[i] > 255)
				return -EINVAL;
			addr->addr[i] = (uint8_t)o[i];
		}
		addr->family = AF_INET;
		return 0;
	}
	if (len == 64 + sizeof(v6s) - 1 && strcmp(name + 64, v6s) == 0) {
		for (int i = 0; i < 32; i++) {
			char c = name[2 * i];
			if (name[2 * i + 1] != '.')
				return -EINVAL;
			int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
			if (v < 0)
				return -EINVAL;
			int nib = 31 - i; /* least significant nibble first */
			addr->addr[nib / 2] |= (uint8_t)(nib % 2 ? v : v << 4);
		}
		addr->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}
