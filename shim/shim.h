/* shim.h: what the hook files share. Internal to shim/ (the library's public face is the exported libc
 * symbols listed in exports.map).
 *
 * Every hook is thin: it decides with policy/, resolves with resolver/, and talks SOCKS through
 * shim_proxy_connect() (socks5/). Internal functions return negative errno; errno / EAI_* / h_errno are set
 * once, in the exported function.
 */
#ifndef TORWRAP_SHIM_H
#define TORWRAP_SHIM_H

#include <errno.h>
#include <sys/uio.h>

#include "../common/tw.h"
#include "../policy/policy.h"
#include "../resolver/resolver.h"
#include "../route/route.h"
#include "../socks5/socks5.h"

#define TW_EXPORT __attribute__((visibility("default")))

/* Our own hooks under private names, for the library's other entry points that must take the same path
 * (syscall(SYS_connect), execvp...): the public names could bind to something else. */
#define TW_HOOK_ALIAS(name) __attribute__((alias(#name), visibility("hidden"), copy(name)))
/* Another public name for one of our hooks (glibc's __connect, __send, __write; the 64-bit names). */
#define TW_EXPORT_ALIAS(name) __attribute__((alias(#name), visibility("default"), copy(name)))
struct mmsghdr;
int shim_hook_connect(int fd, const struct sockaddr *sa, socklen_t len);
int shim_hook_socket(int domain, int type, int protocol);
ssize_t shim_hook_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa, socklen_t l);
ssize_t shim_hook_sendmsg(int fd, const struct msghdr *msg, int flags);
int shim_hook_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, tw_mmsg_flags flags);
int shim_hook_execve(const char *path, char *const argv[], char *const envp[]);
int shim_hook_execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags);
int shim_hook_execvpe(const char *file, char *const argv[], char *const envp[]);
ssize_t shim_hook_write(int fd, const void *buf, size_t count);
ssize_t shim_hook_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t shim_hook_pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags);
ssize_t shim_hook_sendfile(int out_fd, int in_fd, off_t *offset, size_t count);
ssize_t shim_hook_splice(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len, unsigned int flags);
int shim_hook_setsockopt(int fd, int level, int name, const void *value, socklen_t len);
int shim_hook_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			  struct addrinfo **res);

/* True when the process runs under `torwrap --strict`, whose supervisor was seen answering (backstop.c): the
 * library has no cookie, and takes virtual addresses from the supervisor's responder. */
bool shim_strict_supervised(void);

/* True when torwrap's supervisor answers the calls that do not carry the cookie (asked once per process, by a
 * UDP connect to port 53 that only it redirects). A decision that rests on what the program can write (an
 * address direct only because the shared map names it an allowed name's) is then left to it. */
bool shim_supervised(void);

/* connect() or sendmsg() without the cookie: under torwrap, the supervisor decides (and makes the call). */
int shim_connect_supervised(int fd, const struct sockaddr *sa, socklen_t len);
ssize_t shim_sendmsg_supervised(int fd, const struct msghdr *msg, int flags);

/* The configuration, with the virtual map attached; built on first use (never at load: loading the library
 * into a program that makes no network call must cost nothing). */
const struct tw_config *shim_config(void);

/* The library's front end for the routing engine (its configuration, nameservers, the cookie-carrying connect),
 * and the calling process as the engine's caller (its pid only WITH_PID: decisions do not need it). */
const struct route_ctx *shim_route(void);
const struct route_caller *shim_caller(struct route_caller *who, bool with_pid);

/* Resolves NAME as torwrap routes it: allowed names locally (hosts, then c-ares), other names from the hosts
 * text or else to a virtual address (never a DNS query), .onion always virtual. FAMILY AF_INET, AF_INET6 or
 * AF_UNSPEC; for AF_INET6 virtual addresses come back v4-mapped. Returns the address count, or -EPERM (policy
 * refuses the name), -ENOENT (no such name), -EAGAIN (temporary), -ENOSPC (virtual map full). */
int shim_lookup(const char *name, uint16_t port, int family, struct resolver_addr *out, int max);

/* The name behind ADDR when it is a virtual address (plain or v4-mapped); -ENOENT otherwise. */
int shim_virtual_name(const struct resolver_addr *addr, char name[TW_NAME_MAX]);

/* Reverse lookup without leaks: virtual addresses from the map, allowed addresses locally (hosts, PTR),
 * anything else from the hosts text only. Returns 0 or -ENOENT. */
int shim_reverse(const struct resolver_addr *addr, char name[TW_NAME_MAX]);

/* Connects the program's own socket FD to the proxy and asks for TARGET. Bounded by the configured timeout;
 * the socket's file status flags are restored exactly. ASKED is what the program passed to connect() (kept
 * for getpeername). Returns 0 or a negative errno; logs the outcome. */
int shim_proxy_connect(int fd, const struct socks5_target *target, const struct sockaddr *asked,
		       socklen_t asked_len);

/* Builds a hostent in BUF for NAME with N addresses of FAMILY. Returns 0 or ERANGE (positive: the _r API's). */
int shim_fill_hostent(const char *name, int family, const struct resolver_addr *addrs, int n, struct hostent *he,
		      char *buf, size_t buflen);

/* True when TEXT is an address literal libc resolves without any lookup (inet_aton forms, IPv6). */
bool shim_is_numeric_host(const char *text);

/* "a.b.c.d" / "x:y::z" for log lines. */
const char *shim_addr_text(const struct resolver_addr *addr, char *buf, size_t len);

/* ----------------------------------------------------------------------------------- per-descriptor state */

#define SHIM_FD_MAX 65536
#define SHIM_FD_DNS 1u /* connected to a nameserver: writes are DNS queries to inspect */
#define SHIM_FD_PROXIED 2u /* connected through the proxy: getpeername reports the requested destination */
#define SHIM_FD_DNS_LENGTH 4u /* TCP DNS: a 2-byte length was written alone, the message follows */
#define SHIM_FD_ANSWERED 8u /* its DNS goes to torwrap's responder: replies are reported from the nameserver */
#define SHIM_FD_PENDING 16u /* a connect through Tor whose SOCKS exchange is not over (pending.c) */
#define SHIM_FD_WATCHER 32u /* the library's own epoll descriptor (pending.c): a program closing it ends it */

unsigned shim_fd_flags(int fd);
void shim_fd_set(int fd, unsigned flags);
void shim_fd_clear(int fd, unsigned flags);
void shim_fd_forget_range(unsigned first, unsigned last);
/* TCP DNS: the two-byte length a program wrote alone (SHIM_FD_DNS_LENGTH), its message to follow. */
void shim_fd_set_dns_length(int fd, uint16_t len);
uint16_t shim_fd_dns_length(int fd);
void shim_fd_set_peer(int fd, const struct sockaddr *dest, socklen_t dlen, const struct sockaddr *proxy,
		      socklen_t plen);
int shim_fd_get_peer(int fd, struct sockaddr_storage *dest, struct sockaddr_storage *proxy);
/* On a socket marked SHIM_FD_ANSWERED: when FROM (*LEN bytes) is the responder the socket really talks to, it
 * becomes the nameserver the program asked for (at most CAP bytes written, *LEN the full length). */
void shim_fd_unmask_source(int fd, struct sockaddr *from, socklen_t *len, socklen_t cap);
/* Same family, address and port (IPv4 or IPv6). */
bool shim_same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* A connect through the proxy that does not wait for Tor (pending.c): FD's connection to the proxy starts, the
 * SOCKS request goes out once it is up, the reply is taken off before the program's first read. Returns
 * -EINPROGRESS (a non-blocking FD), or with BLOCKING (TORWRAP_OPTIMISTIC) 0 once the request is sent, or a
 * negative errno (logged). ASKED is what the program passed to connect() (kept for getpeername). */
int shim_proxy_start(int fd, const struct socks5_target *target, const struct sockaddr *asked, socklen_t asked_len,
		     bool blocking);
/* Before the program's read (READING; DONTWAIT for MSG_DONTWAIT) or write on FD, marked SHIM_FD_PENDING: 0 to
 * go on, or the negative errno its call must fail with (-EAGAIN while Tor's reply is incomplete and the read
 * must not block). */
int shim_pending_before_io(int fd, bool reading, bool dontwait);
/* connect() again on FD while its connect through Tor is pending (a common way to learn the outcome): what the
 * kernel answers on a socket still connecting (-EALREADY), connected (-EISCONN) or failed (its error); 1 when
 * FD has nothing pending. */
int shim_pending_connect_again(int fd);
/* The error getsockopt(SO_ERROR) reports for FD's pending connect (positive), 0 for none. */
int shim_pending_so_error(int fd);
/* FD is closed or reused: its pending connect, if any, is forgotten. */
void shim_pending_forget(int fd);
/* The program closed the watcher's epoll descriptor (daemons close everything): it is never used again. */
void shim_pending_watcher_closed(void);

/* connect() as routed by torwrap (the hook's body), for the other paths that connect: TCP Fast Open sends,
 * syscall(SYS_connect). Returns 0 or a negative errno. */
int shim_connect(int fd, const struct sockaddr *sa, socklen_t len);

/* The destination policy for a datagram to A:PORT (what the kernel reads of the program's address): 0 to send,
 * -EPERM (logged); SHIM_DNS_REWRITTEN when A:PORT is a nameserver: the query, rebuilt from its question alone,
 * is in OUT (*OUTLEN bytes, room for SHIM_DNS_DATAGRAM_MAX) and must be sent instead; SHIM_SEND_SUPERVISED when
 * only the shared map allows it and the supervisor is there to decide again. */
#define SHIM_DNS_REWRITTEN 1
#define SHIM_SEND_SUPERVISED 2 /* allowed only by what the shared map says: send without the cookie */
#define SHIM_DNS_DATAGRAM_MAX 512
int shim_check_datagram(const struct resolver_addr *a, uint16_t port, const struct iovec *iov, size_t iovcnt,
			uint8_t *out, size_t *outlen);

/* What the program writes to FD, a socket marked SHIM_FD_DNS (its own resolver's query to a nameserver), as it
 * goes out: every query rebuilt from its question alone (route_dns_forward's rule), TCP's two-byte lengths
 * recomputed, sent on FD with FLAGS. Returns the program's whole count, -EPERM when a query asks about what must
 * not be resolved locally, is not a standard query or is split in a way no resolver splits it (logged), the
 * send's error, or SHIM_DNS_AS_IS when FD is no longer connected to a nameserver (send it unchanged). */
#define SHIM_DNS_AS_IS (-10000)
ssize_t shim_dns_send(int fd, const struct iovec *iov, size_t iovcnt, int flags);

/* connect() to a nameserver policy allows (SA): under torwrap's supervisor the socket ends up connected to its
 * DNS responder instead, and is marked SHIM_FD_ANSWERED; elsewhere it is connected as asked and marked
 * SHIM_FD_DNS (its queries are guarded). Returns 0 or a negative errno. */
int shim_dns_connect(int fd, const struct sockaddr *sa, socklen_t len);

/* True when SA is a nameserver: port 53, or an address:port of resolv.conf. */
bool shim_is_nameserver(const struct sockaddr *sa, socklen_t len);

/* The decision for an address, as connect() makes it: policy, refined by the allowed name it was resolved
 * from. Virtual addresses answer POLICY_TOR with their name in NAME (else NAME is ""). */
enum policy_verdict shim_decide_addr(const struct sockaddr *sa, socklen_t len, char name[TW_NAME_MAX],
				     struct policy_reason *why);

#endif
