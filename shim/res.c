/* res.c: the resolver API of libresolv (res_query, res_search, res_querydomain, res_send, their res_n* forms
 * and the __res_* names glibc's <resolv.h> maps them to), and the old res_gethostbyname* of libresolv.
 *
 * glibc sends these queries on sockets of its own that no socket hook sees, so they are answered here, by the
 * engine's DNS answer (route_dns_answer, as the supervisor's responder answers): a name policy allows goes to
 * libc (and so to the container's nameserver); any other name gets a real DNS reply (A from the virtual map,
 * PTR for virtual addresses, NODATA for what Tor cannot resolve), or fails with the h_errno glibc would give.
 * Nothing is ever sent for it.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>

#include "shim.h"

/* The functions are looked up lazily by name: each has several public names (res_query, __res_query). */
static void *real_fn(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

enum { ANSWER_FORWARD = -2 };

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

/* Answers QUERY from torwrap into ANSWER (route_dns_answer: virtual addresses for names that are not allowed,
 * PTR from the map, NODATA for what Tor cannot resolve). Returns the reply length; -1 with h_errno set when
 * AS_QUERY and the reply has no answer (res_query's contract; res_send returns any reply); or ANSWER_FORWARD
 * when the question may go to the real resolver. */
static int answer_query(const uint8_t *query, size_t qlen, bool as_query, uint8_t *answer, int anslen)
{
	struct resolver_dns_question q;
	ssize_t n = route_dns_answer(shim_route(), query, qlen, &q, answer, anslen > 0 ? (size_t)anslen : 0);
	if (n == ROUTE_DNS_FORWARD)
		return ANSWER_FORWARD;
	if (n < 12) {
		h_errno = NETDB_INTERNAL;
		errno = n == ROUTE_DNS_DROP ? EINVAL : EMSGSIZE;
		return -1;
	}
	/* route_dns_answer logged the answer. */
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
	int qlen = wire_query(dname, class, type, query, sizeof(query));
	if (qlen < 0) {
		h_errno = HOST_NOT_FOUND;
		return -1;
	}
	return answer_query(query, (size_t)qlen, true, answer, anslen);
}

typedef int (*query_fn)(const char *, int, int, unsigned char *, int);
typedef int (*nquery_fn)(res_state, const char *, int, int, unsigned char *, int);
typedef int (*querydomain_fn)(const char *, const char *, int, int, unsigned char *, int);
typedef int (*nquerydomain_fn)(res_state, const char *, const char *, int, int, unsigned char *, int);
typedef int (*send_fn)(const unsigned char *, int, unsigned char *, int);
typedef int (*nsend_fn)(res_state, const unsigned char *, int, unsigned char *, int);

#define DEFINE_QUERY(pub, realname)                                                                            \
	TW_EXPORT int pub(const char *dname, int class, int type, unsigned char *answer, int anslen)           \
	{                                                                                                      \
		int rc = answer_question(dname, class, type, answer, anslen);                             \
		if (rc != ANSWER_FORWARD)                                                                      \
			return rc;                                                                             \
		query_fn f = (query_fn)real_fn(realname);                                                      \
		return f ? f(dname, class, type, answer, anslen) : -1;                                         \
	}

#define DEFINE_NQUERY(pub, realname)                                                                           \
	TW_EXPORT int pub(res_state st, const char *dname, int class, int type, unsigned char *answer,          \
			  int anslen)                                                                          \
	{                                                                                                      \
		int rc = answer_question(dname, class, type, answer, anslen);                             \
		if (rc != ANSWER_FORWARD)                                                                      \
			return rc;                                                                             \
		nquery_fn f = (nquery_fn)real_fn(realname);                                                    \
		return f ? f(st, dname, class, type, answer, anslen) : -1;                                     \
	}

DEFINE_QUERY(res_query, "res_query")
DEFINE_QUERY(__res_query, "__res_query")
DEFINE_QUERY(res_search, "res_search")
DEFINE_QUERY(__res_search, "__res_search")
DEFINE_NQUERY(res_nquery, "res_nquery")
DEFINE_NQUERY(__res_nquery, "__res_nquery")
DEFINE_NQUERY(res_nsearch, "res_nsearch")
DEFINE_NQUERY(__res_nsearch, "__res_nsearch")

/* NAME.DOMAIN, as res_querydomain builds it. */
static int join_domain(const char *name, const char *domain, char *out, size_t outlen)
{
	int n = domain ? snprintf(out, outlen, "%s.%s", name, domain) : snprintf(out, outlen, "%s", name);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

#define DEFINE_QUERYDOMAIN(pub, realname)                                                                      \
	TW_EXPORT int pub(const char *name, const char *domain, int class, int type, unsigned char *answer,    \
			  int anslen)                                                                          \
	{                                                                                                      \
		char full[TW_NAME_MAX * 2];                                                                    \
		if (join_domain(name, domain, full, sizeof(full)) != 0) {                                      \
			h_errno = NO_RECOVERY;                                                                 \
			return -1;                                                                             \
		}                                                                                              \
		int rc = answer_question(full, class, type, answer, anslen);                             \
		if (rc != ANSWER_FORWARD)                                                                      \
			return rc;                                                                             \
		querydomain_fn f = (querydomain_fn)real_fn(realname);                                          \
		return f ? f(name, domain, class, type, answer, anslen) : -1;                                  \
	}

#define DEFINE_NQUERYDOMAIN(pub, realname)                                                                     \
	TW_EXPORT int pub(res_state st, const char *name, const char *domain, int class, int type,             \
			  unsigned char *answer, int anslen)                                                   \
	{                                                                                                      \
		char full[TW_NAME_MAX * 2];                                                                    \
		if (join_domain(name, domain, full, sizeof(full)) != 0) {                                      \
			h_errno = NO_RECOVERY;                                                                 \
			return -1;                                                                             \
		}                                                                                              \
		int rc = answer_question(full, class, type, answer, anslen);                             \
		if (rc != ANSWER_FORWARD)                                                                      \
			return rc;                                                                             \
		nquerydomain_fn f = (nquerydomain_fn)real_fn(realname);                                        \
		return f ? f(st, name, domain, class, type, answer, anslen) : -1;                              \
	}

DEFINE_QUERYDOMAIN(res_querydomain, "res_querydomain")
DEFINE_QUERYDOMAIN(__res_querydomain, "__res_querydomain")
DEFINE_NQUERYDOMAIN(res_nquerydomain, "res_nquerydomain")
DEFINE_NQUERYDOMAIN(__res_nquerydomain, "__res_nquerydomain")

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

#define DEFINE_SEND(pub, realname)                                                                             \
	TW_EXPORT int pub(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)             \
	{                                                                                                      \
		int rc = send_answer(msg, msglen, answer, anslen);                                             \
		if (rc != ANSWER_FORWARD)                                                                      \
			return rc;                                                                             \
		send_fn f = (send_fn)real_fn(realname);                                                        \
		return f ? f(msg, msglen, answer, anslen) : -1;                                                \
	}

#define DEFINE_NSEND(pub, realname)                                                                            \
	TW_EXPORT int pub(res_state st, const unsigned char *msg, int msglen, unsigned char *answer, int anslen) \
	{                                                                                                      \
		int rc = send_answer(msg, msglen, answer, anslen);                                             \
		if (rc != ANSWER_FORWARD)                                                                      \
			return rc;                                                                             \
		nsend_fn f = (nsend_fn)real_fn(realname);                                                      \
		return f ? f(st, msg, msglen, answer, anslen) : -1;                                            \
	}

DEFINE_SEND(res_send, "res_send")
DEFINE_SEND(__res_send, "__res_send")
DEFINE_NSEND(res_nsend, "res_nsend")
DEFINE_NSEND(__res_nsend, "__res_nsend")

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
