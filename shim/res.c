/* res.c: the resolver API of libresolv (res_query, res_search, res_querydomain, res_send, their res_n* forms
 * and the __res_* names glibc's <resolv.h> maps them to), and the old res_gethostbyname* of libresolv.
 *
 * glibc sends these queries on sockets of its own that no socket hook sees, so they are answered here: a name
 * policy allows goes to libc (and so to the container's nameserver); any other name is answered from the
 * virtual map with a real DNS reply (A from the map, PTR for virtual addresses, NODATA for AAAA), or fails with
 * the h_errno glibc would give. Nothing is ever sent for it.
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

/* Answers (NAME, TYPE) from torwrap into ANSWER. Returns the reply length, -1 with h_errno set, or
 * ANSWER_FORWARD when the question may go to the real resolver. ID is the query id to echo (0 for res_query,
 * which builds its own query). */
static int answer_question(const char *dname, int class, int type, uint16_t id, uint16_t flags, uint8_t *answer,
			   int anslen)
{
	const struct tw_config *cfg = shim_config();
	struct resolver_dns_question q;
	memset(&q, 0, sizeof(q));
	q.id = id;
	q.flags = flags ? flags : 0x0100; /* RD */
	q.qtype = (uint16_t)type;
	q.qclass = (uint16_t)class;
	if (tw_name_normalize(dname, q.name) < 0) {
		h_errno = HOST_NOT_FOUND;
		return -1;
	}
	uint8_t rdata[TW_NAME_MAX + 2];
	uint16_t rdlen = 0;
	int rcode = 0;
	bool have = false;

	struct resolver_addr a;
	if (resolver_dns_ptr_addr(q.name, &a) == 0) {
		char name[TW_NAME_MAX];
		uint32_t v4;
		memcpy(&v4, a.addr, 4);
		if (a.family == AF_INET && policy_is_virtual_v4(cfg, v4)) {
			if (type != RESOLVER_DNS_PTR || shim_virtual_name(&a, name) != 0) {
				h_errno = HOST_NOT_FOUND;
				return -1;
			}
			int w = resolver_dns_name_to_wire(name, rdata, sizeof(rdata)); /* PTR rdata */
			if (w < 0) {
				h_errno = HOST_NOT_FOUND;
				return -1;
			}
			rdlen = (uint16_t)w;
			have = true;
		} else {
			struct sockaddr_storage ss;
			memset(&ss, 0, sizeof(ss));
			socklen_t len;
			if (a.family == AF_INET) {
				((struct sockaddr_in *)&ss)->sin_family = AF_INET;
				memcpy(&((struct sockaddr_in *)&ss)->sin_addr, a.addr, 4);
				len = sizeof(struct sockaddr_in);
			} else {
				((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
				memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, a.addr, 16);
				len = sizeof(struct sockaddr_in6);
			}
			if (policy_decide_addr(cfg, (struct sockaddr *)&ss, len) == POLICY_DIRECT)
				return ANSWER_FORWARD;
			tw_error("DNS query %s refused: a reverse lookup of an address policy does not allow", q.name);
			h_errno = HOST_NOT_FOUND;
			return -1;
		}
	} else {
		enum policy_verdict v = policy_decide_name(cfg, q.name, 0);
		if (v == POLICY_DIRECT)
			return ANSWER_FORWARD;
		if (v == POLICY_REFUSE) {
			tw_error("DNS query for %s refused by policy", q.name);
			h_errno = NO_RECOVERY;
			return -1;
		}
		if (class != C_IN) {
			h_errno = NO_DATA;
			return -1;
		}
		if (type == RESOLVER_DNS_A || type == RESOLVER_DNS_ANY) {
			struct resolver_addr addrs[RESOLVER_MAX_ADDRS];
			int n = shim_lookup(q.name, AF_INET, addrs, RESOLVER_MAX_ADDRS);
			if (n <= 0) {
				h_errno = n == -ENOENT ? HOST_NOT_FOUND : TRY_AGAIN;
				return -1;
			}
			memcpy(rdata, addrs[0].addr, 4);
			rdlen = 4;
			q.qtype = RESOLVER_DNS_A;
			have = true;
		} else {
			/* AAAA, MX, TXT, SRV...: Tor resolves only addresses, and only at the exit. */
			tw_info("DNS query %s type %d answered NODATA: only A records are known through Tor", q.name,
				type);
			h_errno = NO_DATA;
			return -1;
		}
	}
	ssize_t len = resolver_dns_build_reply(&q, rcode, have ? rdata : NULL, rdlen, answer, (size_t)anslen);
	if (len < 0) {
		h_errno = NETDB_INTERNAL;
		errno = EMSGSIZE;
		return -1;
	}
	tw_info("DNS query %s answered by torwrap (nothing sent)", q.name);
	return (int)len;
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
		int rc = answer_question(dname, class, type, 0, 0, answer, anslen);                             \
		if (rc != ANSWER_FORWARD)                                                                      \
			return rc;                                                                             \
		query_fn f = (query_fn)real_fn(realname);                                                      \
		return f ? f(dname, class, type, answer, anslen) : -1;                                         \
	}

#define DEFINE_NQUERY(pub, realname)                                                                           \
	TW_EXPORT int pub(res_state st, const char *dname, int class, int type, unsigned char *answer,          \
			  int anslen)                                                                          \
	{                                                                                                      \
		int rc = answer_question(dname, class, type, 0, 0, answer, anslen);                             \
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
		int rc = answer_question(full, class, type, 0, 0, answer, anslen);                             \
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
		int rc = answer_question(full, class, type, 0, 0, answer, anslen);                             \
		if (rc != ANSWER_FORWARD)                                                                      \
			return rc;                                                                             \
		nquerydomain_fn f = (nquerydomain_fn)real_fn(realname);                                        \
		return f ? f(st, name, domain, class, type, answer, anslen) : -1;                              \
	}

DEFINE_QUERYDOMAIN(res_querydomain, "res_querydomain")
DEFINE_QUERYDOMAIN(__res_querydomain, "__res_querydomain")
DEFINE_NQUERYDOMAIN(res_nquerydomain, "res_nquerydomain")
DEFINE_NQUERYDOMAIN(__res_nquerydomain, "__res_nquerydomain")

/* res_send: the caller built the query (res_mkquery); read its question. */
static int send_answer(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
	struct resolver_dns_question q;
	if (msglen <= 0 || resolver_dns_parse_query(msg, (size_t)msglen, &q) != 0 || q.qdcount != 1) {
		tw_error("res_send refused: not a query with one question");
		errno = EINVAL;
		return -1;
	}
	return answer_question(q.name, q.qclass, q.qtype, q.id, q.flags, answer, anslen);
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
