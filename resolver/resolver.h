/* resolver.h: names. Two halves, neither of which knows anything of the hooks.
 *
 * 1. The virtual address map (vaddr_*): a name that must not be resolved locally is given an address in the
 *    virtual range (127.192.0.0/10 by default); connect() to it sends the name to the proxy. The map is the one
 *    piece of mutable shared state in torwrap. It lives in shared memory (a memfd, mapped MAP_SHARED), so it is
 *    shared with forked children for free and with exec'd children through TORWRAP_VMAP_FD; it is lock-free
 *    (atomic compare-and-swap on a hash table) so it is safe across threads and processes, and a process that
 *    dies mid-insert cannot wedge the others.
 *
 * 2. Local resolution (resolver_local_*): for allowed names and the proxy's own name only. /etc/hosts first,
 *    then DNS with c-ares against the nameservers of /etc/resolv.conf, with c-ares given socket functions that
 *    call the real libc, so it never re-enters our hooks. The parsers are pure and unit-tested.
 */
#ifndef TORWRAP_RESOLVER_H
#define TORWRAP_RESOLVER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "../common/tw.h"

/* ------------------------------------------------------------------------------------------ virtual map */

/* Environment variable through which an exec'd child finds its parent's map. */
#define VADDR_FD_ENV "TORWRAP_VMAP_FD"

/* How many names one process tree can hold. */
#define VADDR_CAPACITY 65536

/* Attaches to (or creates) the map for the virtual range NET/MASK (IPv4, network byte order). Thread safe and
 * idempotent; returns 0 or a negative errno (then every vaddr_* call fails and names fail closed). */
int vaddr_attach(uint32_t net, uint32_t mask);

/* Creates a fresh map in a descriptor without CLOEXEC for a wrapper to hand to the program it execs. Returns
 * the descriptor or a negative errno. */
int vaddr_create_fd(uint32_t net, uint32_t mask);

/* The map's descriptor for a child about to be exec'd (to name in TORWRAP_VMAP_FD), or -1 when there is none
 * or the program has closed it. */
int vaddr_fd(void);

/* The descriptor to hand an exec'd child: the map's own, or, when the program closed it, a new descriptor
 * holding a copy of the map (*FRESH set: the caller closes it if the exec fails). -1 when not attached. */
int vaddr_fd_for_exec(bool *fresh);

/* The virtual IPv4 address (network byte order) for NAME (normalised), assigning one if the name is new.
 * Returns 0 or a negative errno (-ENOSPC when the range or the table is full, -ENODEV when not attached). */
int vaddr_lookup_name(const char *name, uint32_t *addr);

/* The virtual address NAME already has in this map; -ENOENT when it has none (nothing is assigned). */
int vaddr_find_name(const char *name, uint32_t *addr);

/* Records that NAME is at the virtual address ADDR that another map (the supervisor's, under --strict) handed
 * out, so this process tree knows the name behind it. Returns 0, -EEXIST when ADDR names another name here,
 * -EINVAL (ADDR outside the range), -ENODEV. */
int vaddr_learn(const char *name, uint32_t addr);

/* The name behind a virtual address, copied into NAME. Returns 0, or -ENOENT for an address this process tree
 * never handed out. */
int vaddr_lookup_addr(uint32_t addr, char name[TW_NAME_MAX]);

/* Remembers that ADDR (FAMILY AF_INET: 4 bytes used, AF_INET6: 16) is where the allowed NAME resolved, so
 * that connect() can apply NAME's rules to it. Returns 0, -ENOSPC when the table is full, -ENODEV. */
int vaddr_remember_direct(int family, const uint8_t addr[16], const char *name);

/* The allowed name an address was resolved from; -ENOENT when none is known. */
int vaddr_direct_name(int family, const uint8_t addr[16], char name[TW_NAME_MAX]);

/* ----------------------------------------------------------------------------------- local resolution */

#define RESOLVER_MAX_ADDRS 16
#define RESOLVER_MAX_NAMESERVERS 4

struct resolver_addr {
	int family; /* AF_INET / AF_INET6 */
	uint8_t addr[16]; /* network order */
};

struct resolver_nameserver {
	int family;
	uint8_t addr[16];
	uint16_t port; /* host order; 53 unless "nameserver IP:PORT" / "[IPv6]:PORT" */
};

#define RESOLVER_MAX_SEARCH 6

struct resolver_conf {
	struct resolver_nameserver ns[RESOLVER_MAX_NAMESERVERS];
	unsigned nns;
	/* "search" (or "domain": the last of them wins) and "options ndots:N" (default 1), as res_search uses them */
	char search[RESOLVER_MAX_SEARCH][TW_NAME_MAX];
	unsigned nsearch;
	unsigned ndots;
};

/* Parses resolv.conf text: "nameserver" lines (IPv4, IPv6, with an optional :PORT extension), the search list
 * and ndots; other lines are ignored. Returns 0 (possibly with no nameserver) or -EINVAL for a malformed
 * nameserver line. */
int resolver_parse_resolv_conf(const char *text, struct resolver_conf *conf);

/* Looks NAME up in hosts-file TEXT. FAMILY: AF_INET, AF_INET6 or AF_UNSPEC. Fills up to MAX addresses in file
 * order; returns the count (0 = not found). */
int resolver_parse_hosts(const char *text, const char *name, int family, struct resolver_addr *out, int max);

/* Reverse: the first name hosts-file TEXT gives for ADDR; returns 0 or -ENOENT. */
int resolver_parse_hosts_reverse(const char *text, const struct resolver_addr *addr, char name[TW_NAME_MAX]);

/* Resolves NAME locally: the hosts-file text HOSTS_TEXT first, then DNS through the nameservers of the
 * resolv.conf text RESOLV_TEXT (c-ares over the real libc sockets; /etc files are read once per process, into
 * the configuration). FAMILY as above. Returns the number of addresses (>= 1) or a negative errno (-ENOENT: no
 * such name, -EAGAIN: no answer in time or no nameserver). */
int resolver_local_lookup(const char *resolv_text, const char *hosts_text, const char *name, int family,
			  struct resolver_addr *out, int max);

/* Reverse lookup of ADDR locally (hosts text, then a PTR query). Only for addresses policy allows. */
int resolver_local_reverse(const char *resolv_text, const char *hosts_text, const struct resolver_addr *addr,
			   char name[TW_NAME_MAX]);

/* ------------------------------------------------------------------------------------ DNS wire format */

#define RESOLVER_DNS_A 1
#define RESOLVER_DNS_PTR 12
#define RESOLVER_DNS_AAAA 28
#define RESOLVER_DNS_ANY 255

struct resolver_dns_question {
	uint16_t id, flags, qdcount;
	char name[TW_NAME_MAX]; /* the first question's name, lower-cased, no final dot ("" for the root) */
	uint16_t qtype, qclass;
	size_t qend; /* offset just past the first question */
};

/* Reads the header and first question of a DNS query. Returns 0 or -EBADMSG (not a well-formed query). */
int resolver_dns_parse_query(const uint8_t *msg, size_t len, struct resolver_dns_question *q);

/* The query MSG (LEN bytes) rebuilt from its question alone, under ID, for a nameserver: only a standard QUERY
 * with one question is rebuilt; the question's bytes as sent, RD/AD/CD, and an EDNS record of our own (payload
 * size clamped to 512..1232, the DO bit, no options) when MSG had one. Nothing else of MSG goes out: not its
 * other sections, nor its EDNS options. Returns the length in OUT, -EBADMSG for anything else (an opcode other
 * than QUERY, no or several questions, a malformed question), -ENOBUFS. */
ssize_t resolver_dns_rebuild_query(const uint8_t *msg, size_t len, uint16_t id, uint8_t *out, size_t outlen);

/* Writes a reply to Q: RCODE, and one answer record with RDATA when RDATA is not NULL. Returns the length or
 * a negative errno (-ENOBUFS when OUT is too small). */
ssize_t resolver_dns_build_reply(const struct resolver_dns_question *q, int rcode, const uint8_t *rdata,
				 uint16_t rdlen, uint8_t *out, size_t outlen);

/* True when REPLY (LEN bytes) is a response to Q: the same ID and the same single question (name, compared
 * without case, type and class). A forwarder checks this before it believes what a nameserver sent. */
bool resolver_dns_reply_answers(const uint8_t *reply, size_t len, const struct resolver_dns_question *q);

/* The A/AAAA records (class IN) of the answer section of the reply MSG, up to MAX. Returns the count, or
 * -ENOENT (NXDOMAIN), -EAGAIN (not a reply, another error, or malformed before the answers). */
int resolver_dns_reply_addrs(const uint8_t *msg, size_t len, struct resolver_addr *out, int max);

/* NAME in DNS wire form (labels, a final zero) into OUT: its length, or a negative errno. */
int resolver_dns_name_to_wire(const char *name, uint8_t *out, size_t outlen);

/* The address named by a reverse-lookup name (in-addr.arpa / ip6.arpa); -EINVAL for other names. */
int resolver_dns_ptr_addr(const char *name, struct resolver_addr *addr);

#endif
