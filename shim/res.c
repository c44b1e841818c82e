/* res.c: the resolver API of libresolv (res_query, res_search, res_querydomain, res_send, their res_n* forms
 * and the __res_* names glibc's <resolv.h> maps them to), and the old res_gethostbyname* of libresolv.
 *
 * glibc sends these queries on sockets of its own that no socket hook sees (and that the kernel filter refuses),
 * so they are answered here, by the engine (route_dns_answer, as the supervisor's responder answers): a
 * question policy allows is forwarded to the container's nameserver by the engine's forwarder, rebuilt from
 * its question alone (route_dns_forward: nothing else of a res_send message goes out); any other name gets a
 * real DNS reply (A from the virtual map, PTR for virtual addresses, NODATA for what Tor cannot resolve), or
 * fails with the h_errno glibc would give. Nothing is ever sent for it. res_search tries the search list of
 * resolv.conf as glibc does, each candidate name decided on its own: a search domain policy does not allow is
 * never asked about.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* (NAME, CLASS, TYPE) as the wire query a resolver would send, so the engine answers it as it answers every
 * other DNS query torwrap sees. Returns its length, or -1. */
static int wire_query(const char *name, int class, int type, uint8_t *out, size_t outlen)
{
	if (outlen < 12 + 4)
		return -1;
	memset(out, 0, 12);
	out[2] = 0x01; /* RD */
	out[5] = 1;    /* one question */
	int w = resolver_dns_name_to_wire(name, out + 12, outlen - 12 - 4);
	if (w < 0)
		return -1;
	uint8_t *p = out + 12 + w;
	p[0] = (uint8_t)(type >> 8), p[1] = (uint8_t)type, p[2] = (uint8_t)(class >> 8), p[3] = (uint8_t)class;
	return 12 + w + 4;
}

/* h_errno for a reply without an answer, as glibc's res_query sets it. */
static int reply_h_errno(int rcode)
{
	switch (rcode) {
	case 0:
		return NO_DATA;
	case 2:
		return TRY_AGAIN;
	case 3:
		return HOST_NOT_FOUND;
	default:
		return NO_RECOVERY;
	}
}

/* An allowed QUERY asked of the nameservers by the engine (UDP, then TCP when the answer was truncated), into
 * ANSWER (at most ANSLEN bytes copied; the reply's whole length returned, as glibc). -1 with h_errno TRY_AGAIN
 * when no nameserver answered. */
static int forward(const uint8_t *query, size_t qlen, uint8_t *answer, int anslen)
{
	uint8_t *buf = malloc(65536);
	if (buf == NULL) {
		h_errno = NETDB_INTERNAL;
		errno = ENOMEM;
		return -1;
	}
	struct resolver_dns_question q;
	resolver_dns_parse_query(query, qlen, &q);
	ssize_t n = route_dns_forward(shim_route(), query, qlen, buf, 65536, false);
	if (n >= 12 && (buf[2] & 0x02)) /* TC: the whole answer over TCP */
		n = route_dns_forward(shim_route(), query, qlen, buf, 65536, true);
	struct tw_event ev = TW_EVENT("dns", q.name, "direct", NULL);
	ev.err = n < 12 ? (n < 0 ? (int)-n : EIO) : 0;
	tw_log_event(n < 12 ? TW_LOG_ERROR : TW_LOG_INFO, ev, "DNS query for %s: allowed, forwarded to the nameserver%s",
		     q.name, n < 12 ? ": no answer" : "");
	if (n >= 12)
		memcpy(answer, buf, (size_t)n < (size_t)anslen ? (size_t)n : (size_t)anslen);
	free(buf);
	if (n < 12) {
		h_errno = TRY_AGAIN;
		errno = n < 0 ? (int)-n : EIO;
		return -1;
	}
	return (int)n;
}

/* QUERY answered as torwrap routes names into ANSWER (route_dns_answer: virtual addresses for names that are
 * not allowed, PTR from the map, NODATA for what Tor cannot resolve; an allowed question forwarded). Returns
 * the reply length, or -1 with h_errno set when AS_QUERY and the reply has no answer (res_query's contract;
 * res_send returns any reply). */
static int answer_query(const uint8_t *query, size_t qlen, bool as_query, uint8_t *answer, int anslen)
{
	if (anslen <= 0) {
		h_errno = NETDB_INTERNAL;
		errno = EMSGSIZE;
		return -1;
	}
	struct resolver_dns_question q;
	ssize_t n = route_dns_answer(shim_route(), query, qlen, &q, answer, (size_t)anslen);
	if (n == ROUTE_DNS_FORWARD)
		n = forward(query, qlen, answer, anslen);
	else if (n < 12) {
		h_errno = NETDB_INTERNAL;
		errno = n == ROUTE_DNS_DROP ? EINVAL : EMSGSIZE;
		return -1;
	}
	if (n < 12)
		return -1;
	int rcode = answer[3] & 0x0f, ancount = answer[6] << 8 | answer[7];
	if (as_query && (rcode != 0 || ancount == 0)) {
		h_errno = reply_h_errno(rcode);
		return -1;
	}
	return (int)n;
}

static int answer_question(const char *dname, int class, int type, uint8_t *answer, int anslen)
{
	uint8_t query[TW_NAME_MAX + 32];
	int qlen = dname ? wire_query(dname, class, type, query, sizeof(query)) : -1;
	if (qlen < 0) {
		h_errno = HOST_NOT_FOUND;
		return -1;
	}
	return answer_query(query, (size_t)qlen, true, answer, anslen);
}

/* NAME.DOMAIN, as res_querydomain builds it. */
static int join_domain(const char *name, const char *domain, char *out, size_t outlen)
{
	int n = domain ? snprintf(out, outlen, "%s.%s", name, domain) : snprintf(out, outlen, "%s", name);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* res_search: NAME as is and with each domain of resolv.conf's search list, in glibc's order (as is first when
 * it has at least ndots dots, last otherwise; only as is when it ends with a dot), until one has an answer. */
static int search_question(const char *name, int class, int type, uint8_t *answer, int anslen)
{
	if (name == NULL) {
		h_errno = HOST_NOT_FOUND;
		return -1;
	}
	const struct resolver_conf *rc = shim_route()->ns;
	size_t len = strlen(name);
	unsigned dots = 0;
	for (const char *p = name; *p; p++)
		dots += *p == '.';
	bool absolute = len > 0 && name[len - 1] == '.';
	bool as_is_first = absolute || dots >= rc->ndots;
	int n = -1, herr = HOST_NOT_FOUND;
	if (as_is_first && (n = answer_question(name, class, type, answer, anslen)) >= 0)
		return n;
	herr = h_errno;
	for (unsigned i = 0; !absolute && i < rc->nsearch; i++) {
		char full[TW_NAME_MAX * 2];
		if (join_domain(name, rc->search[i], full, sizeof(full)) != 0)
			continue;
		if ((n = answer_question(full, class, type, answer, anslen)) >= 0)
			return n;
		herr = h_errno == HOST_NOT_FOUND ? herr : h_errno; /* a failure says more than "no such name" */
	}
	if (!as_is_first && (n = answer_question(name, class, type, answer, anslen)) >= 0)
		return n;
	h_errno = as_is_first ? herr : h_errno;
	return -1;
}

#define DEFINE_QUERY(pub)                                                                                      \
	TW_EXPORT int pub(const char *dname, int class, int type, unsigned char *answer, int anslen)           \
	{                                                                                                      \
		return answer_question(dname, class, type, answer, anslen);                                    \
	}
#define DEFINE_NQUERY(pub)                                                                                     \
	TW_EXPORT int pub(res_state st, const char *dname, int class, int type, unsigned char *answer,          \
			  int anslen)                                                                          \
	{                                                                                                      \
		(void)st; /* the nameservers are the configuration's */                                        \
		return answer_question(dname, class, type, answer, anslen);                                    \
	}
#define DEFINE_SEARCH(pub)                                                                                     \
	TW_EXPORT int pub(const char *dname, int class, int type, unsigned char *answer, int anslen)           \
	{                                                                                                      \
		return search_question(dname, class, type, answer, anslen);                                    \
	}
#define DEFINE_NSEARCH(pub)                                                                                    \
	TW_EXPORT int pub(res_state st, const char *dname, int class, int type, unsigned char *answer,          \
			  int anslen)                                                                          \
	{                                                                                                      \
		(void)st;                                                                                      \
		return search_question(dname, class, type, answer, anslen);                                    \
	}

DEFINE_QUERY(res_query)
DEFINE_QUERY(__res_query)
DEFINE_SEARCH(res_search)
DEFINE_SEARCH(__res_search)
DEFINE_NQUERY(res_nquery)
DEFINE_NQUERY(__res_nquery)
DEFINE_NSEARCH(res_nsearch)
DEFINE_NSEARCH(__res_nsearch)

static int querydomain(const char *name, const char *domain, int class, int type, unsigned char *answer,
		       int anslen)
{
	char full[TW_NAME_MAX * 2];
	if (name == NULL || join_domain(name, domain, full, sizeof(full)) != 0) {
		h_errno = NO_RECOVERY;
		return -1;
	}
	return answer_question(full, class, type, answer, anslen);
}

TW_EXPORT int res_querydomain(const char *name, const char *domain, int class, int type, unsigned char *answer,
			      int anslen)
{
	return querydomain(name, domain, class, type, answer, anslen);
}

TW_EXPORT int __res_querydomain(const char *name, const char *domain, int class, int type, unsigned char *answer,
				int anslen)
{
	return querydomain(name, domain, class, type, answer, anslen);
}

TW_EXPORT int res_nquerydomain(res_state st, const char *name, const char *domain, int class, int type,
			       unsigned char *answer, int anslen)
{
	(void)st;
	return querydomain(name, domain, class, type, answer, anslen);
}

TW_EXPORT int __res_nquerydomain(res_state st, const char *name, const char *domain, int class, int type,
				 unsigned char *answer, int anslen)
{
	(void)st;
	return querydomain(name, domain, class, type, answer, anslen);
}

/* res_send: the caller built the query (res_mkquery). */
static int send_answer(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
	struct resolver_dns_question q;
	if (msglen <= 0 || resolver_dns_parse_query(msg, (size_t)msglen, &q) != 0 || q.qdcount != 1) {
		struct tw_event ev = TW_EVENT("dns", NULL, "refuse", NULL);
		ev.err = EINVAL;
		tw_log_event(TW_LOG_ERROR, ev, "res_send refused: not a query with one question");
		errno = EINVAL;
		return -1;
	}
	return answer_query(msg, (size_t)msglen, false, answer, anslen);
}

TW_EXPORT int res_send(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
	return send_answer(msg, msglen, answer, anslen);
}

TW_EXPORT int __res_send(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
	return send_answer(msg, msglen, answer, anslen);
}

TW_EXPORT int res_nsend(res_state st, const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
	(void)st;
	return send_answer(msg, msglen, answer, anslen);
}

TW_EXPORT int __res_nsend(res_state st, const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
	(void)st;
	return send_answer(msg, msglen, answer, anslen);
}

/* libresolv's old gethostbyname family: the same answers as ours. */
TW_EXPORT struct hostent *res_gethostbyname(const char *name)
{
	return gethostbyname(name);
}

TW_EXPORT struct hostent *res_gethostbyname2(const char *name, int af)
{
	return gethostbyname2(name, af);
}

TW_EXPORT struct hostent *res_gethostbyaddr(const void *addr, socklen_t len, int af)
{
	return gethostbyaddr(addr, len, af);
}
