/* route.h: the routing engine, written once for every front end: the library's hooks (shim/), the seccomp
 * supervisor (supervisor/) and `torwrap check`.
 *
 * It decides where an address goes (direct, through Tor, refused), resolves names as torwrap routes them
 * (allowed names locally, the others to virtual addresses, never a DNS query), answers reverse lookups without
 * leaks, and turns a socket into a connection through the SOCKS5 proxy: deadline, isolation token, Tor's errors
 * in words. Every decision is logged here, in one wording, so the front ends cannot drift apart.
 *
 * Nothing here reads a global of a front end: each passes an explicit context (its configuration, its
 * nameservers, its I/O) and, per call, who asked.
 */
#ifndef TORWRAP_ROUTE_H
#define TORWRAP_ROUTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/tw.h"
#include "../policy/policy.h"
#include "../resolver/resolver.h"
#include "../socks5/socks5.h"

/* Where the allowed names behind addresses are kept (an address an allowed name resolved to is decided by that
 * name's rules, and never handed to Tor): remembered when a lookup resolves one, asked when an address is
 * decided. NULL in a context: the tree's shared map (vaddr_remember_direct, vaddr_direct_name), the library's;
 * the supervisor keeps its own, since the program can write the shared one. */
struct route_learned {
	int (*remember)(int family, const uint8_t addr[16], const char *name);
	int (*name_of)(int family, const uint8_t addr[16], char name[TW_NAME_MAX]);
};

/* A front end. */
struct route_ctx {
	const struct tw_config *cfg;
	const struct resolver_conf *ns; /* resolv.conf's nameservers, parsed once */
	const struct socks5_io *io; /* the SOCKS exchange on a non-blocking socket */
	int (*connect)(int fd, const struct sockaddr *sa, socklen_t len); /* the real connect: -1 and errno */
	_Atomic uint64_t *conn_seq; /* connections through the proxy so far (isolation "connection") */
	/* Virtual addresses are the supervisor's to hand out (torwrap --strict): a name's is asked of its DNS
	 * responder (through the nameservers, whose sockets it answers) and remembered, never assigned here. */
	bool ask_virtual;
	const struct route_learned *learned; /* NULL: the shared map */
};

/* The allowed name address A was resolved from, as the context keeps them: 0, or -ENOENT. */
int route_learned_name(const struct route_ctx *ctx, const struct resolver_addr *a, char name[TW_NAME_MAX]);

/* Who asked: the process the isolation token is for, and the words that begin each log line about it ("" in
 * the program itself, "pid N: " in the supervisor). */
struct route_caller {
	long pid;
	const char *prefix;
};

/* The address and port of an inet sockaddr. Returns 0, or -EINVAL when SA is not a complete AF_INET or AF_INET6
 * sockaddr. IPv6 needs 24 bytes (SIN6_LEN_RFC2133, without the scope id), as the kernel: a shorter length is
 * the kernel's EINVAL too, so nothing can connect past the decision with it. */
int route_sockaddr_split(const struct sockaddr *sa, socklen_t len, struct resolver_addr *a, uint16_t *port);

/* A sockaddr for A and PORT that a socket of DOMAIN takes (v4-mapped for an IPv6 socket). Returns its length. */
socklen_t route_sockaddr_make(const struct resolver_addr *a, uint16_t port, int domain,
			      struct sockaddr_storage *ss);

/* The IPv4 address inside A (plain or v4-mapped), or false. */
bool route_addr_v4(const struct resolver_addr *a, uint32_t *v4);

/* "a.b.c.d" / "x:y::z" for log lines. */
const char *route_addr_text(const struct resolver_addr *a, char *buf, size_t len);

/* What the kernel makes of the destination SA (LEN bytes) of a datagram sent on an inet socket of DOMAIN: 1 with
 * its address and port in A/PORT (AF_UNSPEC on an AF_INET socket reads as AF_INET, as udp_sendmsg reads it), 0
 * when it names no destination (AF_UNSPEC on an AF_INET6 socket: the connected peer), or the negative errno the
 * kernel would give (-EINVAL, -EAFNOSUPPORT). Decide on A/PORT; send what the program gave (a copy). */
int route_datagram_dest(int domain, const struct sockaddr *sa, socklen_t len, struct resolver_addr *a,
			uint16_t *port);

/* True when the ancillary data CONTROL (LEN bytes, a copy) of a send would route the packet elsewhere than its
 * destination: IP options (IP_RETOPTS: a loose or strict source route sends it to its first hop) or an IPv6
 * routing header. Such a send is refused whatever its destination (logged here). */
bool route_control_reroutes(const void *control, size_t len);
/* The same for one control message (LEVEL, TYPE, its LEN bytes of DATA), not logged: IP options holding a loose
 * or strict source route (or that cannot be read), an IPv6 routing header. */
bool route_cmsg_reroutes(int level, int type, const uint8_t *data, size_t len);

/* True when A:PORT is a nameserver: port 53 anywhere, or any port of an address of the context's resolv.conf
 * (but a proxy configured there as a literal, at its port). */
bool route_is_nameserver(const struct route_ctx *ctx, const struct resolver_addr *a, uint16_t port);

/* The decision for a connect() to SA: virtual addresses are names (their name in NAME, else NAME is ""),
 * other addresses follow policy, refined by the allowed name an address was resolved from (its ports; an
 * internal address is never handed to Tor). Refusals are logged. SA must pass route_sockaddr_split. */
enum policy_verdict route_decide_addr(const struct route_ctx *ctx, const struct route_caller *who,
				      const struct sockaddr *sa, socklen_t len, char name[TW_NAME_MAX]);
/* The same, saying what decided in *WHY (for the log's "rule"). */
enum policy_verdict route_decide_addr_why(const struct route_ctx *ctx, const struct route_caller *who,
					  const struct sockaddr *sa, socklen_t len, char name[TW_NAME_MAX],
					  struct policy_reason *why);

/* The log's "destination" HOST:PORT: NAME when there is one, else the address, IPv6 in brackets. */
#define ROUTE_DEST_MAX (TW_NAME_MAX + 16)
const char *route_dest_text(const struct resolver_addr *a, const char *name, uint16_t port, char *buf, size_t len);
/* The same for a direct connect to A: the allowed name A was resolved from, when this process tree knows it. */
const char *route_direct_dest_text(const struct resolver_addr *a, uint16_t port, char *buf, size_t len);
/* The log's "rule" for WHY (policy_reason_text). */
#define ROUTE_RULE_MAX (4096 + 32)
const char *route_rule_text(const struct route_ctx *ctx, const struct policy_reason *why, char *buf, size_t len);

/* Resolves NAME as torwrap routes it: allowed names locally (hosts, then the nameservers; their addresses are
 * remembered as the name's), other names from the hosts text or else to a virtual address (never a query),
 * .onion always virtual. PORT (0: unknown) is the service the program named, for the log line only: the decision
 * is the name's, for any port (connect() holds its addresses to the name's ports). FAMILY AF_INET, AF_INET6 (virtual addresses come back v4-mapped) or AF_UNSPEC. Returns
 * the address count, or -EPERM (refused by policy), -ENOENT, -EAGAIN, -ENOSPC (virtual map full). Logged. */
int route_lookup(const struct route_ctx *ctx, const char *name, uint16_t port, int family,
		 struct resolver_addr *out, int max);

/* The name behind A when it is a virtual address handed out in this tree; -ENOENT otherwise. */
int route_virtual_name(const struct route_ctx *ctx, const struct resolver_addr *a, char name[TW_NAME_MAX]);

/* Reverse lookup without leaks: virtual addresses from the map, allowed addresses locally (hosts, PTR), any
 * other address from the hosts text only. Returns 0 or -ENOENT. */
int route_reverse(const struct route_ctx *ctx, const struct resolver_addr *a, char name[TW_NAME_MAX]);

/* May the question Q go to a nameserver: a standard query of one question, about a name policy allows
 * directly, a reverse address it lets out (not loopback, not virtual), or the root? Pure, not logged; WHY
 * (WHYLEN bytes) says why not. route_dns_answer forwards exactly these. */
bool route_dns_may_forward(const struct route_ctx *ctx, const struct resolver_dns_question *q, char *why,
			   size_t whylen);

/* Answers the DNS QUERY (LEN bytes) as torwrap routes names, for a program's own resolver: allowed names and
 * reverse lookups of allowed addresses are ROUTE_DNS_FORWARD (the caller asks the nameservers); refused names
 * REFUSED; other names A from the hosts text or the virtual map (AAAA only from the hosts text, other types
 * NODATA); reverse lookups of virtual addresses from the map, of other addresses from the hosts text only.
 * Returns the reply's length in OUT, ROUTE_DNS_FORWARD, ROUTE_DNS_DROP for what is not a query, or a negative
 * errno (OUT too small). Q gets the parsed question. */
enum { ROUTE_DNS_FORWARD = -1000, ROUTE_DNS_DROP = -1001 };
ssize_t route_dns_answer(const struct route_ctx *ctx, const uint8_t *query, size_t len,
			 struct resolver_dns_question *q, uint8_t *out, size_t outlen);

/* Asks the context's nameservers, in order, the question of the program's QUERY (LEN bytes) about an allowed
 * name, over TCP when TCP: rebuilt from the question alone (resolver_dns_rebuild_query: nothing else of QUERY
 * goes out), under an ID and a UDP source port of our own; only a reply with that ID and the same question is
 * believed, and it comes back in OUT with the program's ID. Each nameserver is given at most
 * min(TOR_CONNECTIVITY_TIMEOUT, 2.5 s). Returns the reply's length, or a negative errno (-EBADMSG: QUERY is not a
 * standard query of one question). Connects through the context's connect. Not logged. */
ssize_t route_dns_forward(const struct route_ctx *ctx, const uint8_t *query, size_t len, uint8_t *out,
			  size_t outlen, bool tcp);

/* The SOCKS5 target for a connection to A:PORT, by NAME when there is one (ATYP 3), else by address. NAME must
 * outlive the target. */
void route_target(const struct resolver_addr *a, uint16_t port, const char *name, struct socks5_target *t);

/* One proxy instance: an address of a configured proxy, and its port. Several proxies (a comma-separated list)
 * and a name that resolves to several addresses (compose --scale) are several instances. */
#define ROUTE_MAX_INSTANCES 16
struct route_instance {
	struct resolver_addr addr; /* IPv4 as AF_INET, never v4-mapped */
	uint16_t port;
};

/* The proxies' instances for a socket of DOMAIN (AF_INET: IPv4 ones only; AF_INET6 or AF_UNSPEC: all), looked
 * up now, in the configured order: each proxy's literal, or every address its name resolves to (hosts, then
 * the nameservers: internal by definition), without duplicates. Returns the count, or a negative errno (not
 * logged): -ENOENT no such name, -EAFNOSUPPORT none of DOMAIN's family, else no answer. */
int route_proxy_instances(const struct route_ctx *ctx, int domain, struct route_instance *out, int max);

/* "127.0.0.1:9050", "[fd00::1]:9050". */
const char *route_instance_text(const struct route_instance *in, char *buf, size_t len);

/* The key a stream is placed by: its isolation token (streams that share a token share an instance, so they
 * can share circuits), or without one CONN, a number of its own (each connection placed afresh). */
uint64_t route_stream_key(const char *token, uint64_t conn);

/* Orders the N instances IN for KEY by rendezvous (highest random weight) hashing: each key has its own order
 * of every instance, so losing an instance moves only the keys that were on it, to their next choice; the
 * instances that failed in the last two seconds (route_proxy_failed, or a failed connect here) go last. */
void route_instances_order(struct route_instance *in, int n, uint64_t key);

/* A connection to the proxy being made: the instances in the stream's order, the one being tried, and how
 * the ones before it failed. */
struct route_attempt {
	struct route_instance in[ROUTE_MAX_INSTANCES];
	int err[ROUTE_MAX_INSTANCES]; /* a negative errno for each instance that failed, 0 for the others */
	int n, cur;
	int domain;
	struct sockaddr_storage proxy; /* in[cur]'s address, as the socket takes it */
	socklen_t plen;
};

/* connect() on FD (non-blocking) bounded by DEADLINE (tw_now_ms scale), through the context's connect. 0 or a
 * negative errno. */
int route_connect_until(const struct route_ctx *ctx, int fd, const struct sockaddr *sa, socklen_t len,
			int64_t deadline);

/* The SOCKS password (isolation token) of a stream to TARGET for WHO, as the proxy connect sends it: 1 with
 * credentials, 0 without (isolation none), or a negative errno. Counts one connection of the context. */
int route_isolation_token(const struct route_ctx *ctx, const struct route_caller *who,
			  const struct socks5_target *target, char *token, size_t len);

/* The SOCKS5 exchange for TARGET on FD, connected to the proxy: the greeting (username/password with TOKEN, the
 * isolation token of route_isolation_token; NULL for none) and the request, bounded by DEADLINE, through the
 * context's I/O. Returns 0 or a negative errno, Tor's reply code in *CODE once one arrived (else -1). */
int route_socks_request(const struct route_ctx *ctx, int fd, const struct socks5_target *target, const char *token,
			int64_t deadline, int *code);

/* Connects FD (a TCP socket of DOMAIN) to the proxy and asks for TARGET: the instances looked up per call (a
 * proxy that moves is followed at once) and tried in the stream's order (route_instances_order; an instance
 * that refuses or does not answer gives way to the next, each given an equal share of what is left), all
 * bounded by TOR_CONNECTIVITY_TIMEOUT, the isolation token for WHO, FD's file status flags restored exactly.
 * The instance's address goes to PROXY/PLEN. Returns 0 or a negative errno; the outcome is logged (all down:
 * one line naming every instance), failures in words a person can act on. Never direct. */
int route_proxy_connect(const struct route_ctx *ctx, const struct route_caller *who, int fd, int domain,
			const struct socks5_target *target, struct sockaddr_storage *proxy, socklen_t *plen);

/* The first half of route_proxy_connect, for a connect that must not wait for Tor (a non-blocking socket, or
 * TORWRAP_OPTIMISTIC): finds the instances (AT; the one used in AT->proxy), encodes the whole SOCKS5 request
 * for TARGET with WHO's isolation credentials into REQ (SOCKS5_REQUEST_MAX bytes; its length in *REQLEN; the
 * token in TOKEN, POLICY_TOKEN_MAX bytes, "" without credentials) and starts FD's connect (FD non-blocking).
 * DEADLINE 0: returns at once, -EINPROGRESS or 0, moving on only past instances that fail at once; else waits
 * for the TCP connection until DEADLINE, failing over as route_proxy_connect does. Returns 0 (connected),
 * -EINPROGRESS, or a negative errno (logged). The caller sends REQ once connected and feeds the replies to a
 * socks5 parser; it logs the outcome with route_log_outcome, and a connection to AT->proxy that fails with ERR
 * goes to route_proxy_retry. */
int route_proxy_start(const struct route_ctx *ctx, const struct route_caller *who, int fd, int domain,
		      const struct socks5_target *target, int64_t deadline, struct route_attempt *at, uint8_t *req,
		      size_t *reqlen, char *token);

/* The connection route_proxy_start began on FD failed with ERR before the proxy accepted it: the instance is
 * remembered as down and the next one started (not waited for). Returns -EINPROGRESS or 0 (AT->proxy is the
 * new instance), or, when none is left or ERR is not the instance's fault, a negative errno: logged (all down:
 * one line naming each instance), as route_log_outcome would. WHAT the target as socks5_target_text wrote it. */
int route_proxy_retry(const struct route_ctx *ctx, const struct route_caller *who, const char *what, int fd,
		      struct route_attempt *at, int err);

/* The connection route_proxy_start began failed with ERR (-ETIMEDOUT: TOR_CONNECTIVITY_TIMEOUT passed while it
 * was still being made) and no time is left for the other instances: the instance is remembered as down (when
 * ERR is its fault) and the failure logged as route_proxy_retry logs its last one. Returns ERR. */
int route_proxy_give_up(const struct route_ctx *ctx, const struct route_caller *who, const char *what,
			struct route_attempt *at, int err);

/* The log line for a proxy connect's outcome (WHAT: the target as socks5_target_text writes it; RC 0 or the
 * negative errno; CODE Tor's reply code or -1; CONNECTED whether the proxy accepted the TCP connection; TOKEN
 * the isolation token, NULL for none; PROXY the instance, NULL when there was no choice, but given for a
 * timeout, which names the instance that went silent): the same words whichever front end, whenever it
 * completes. A success code (0x00) with a failure is a malformed reply, and said so. */
void route_log_outcome(const struct route_ctx *ctx, const struct route_caller *who, const char *what, int rc,
		       int code, bool connected, const char *token, const struct sockaddr_storage *proxy);

#endif
