/* shim.h: what the hook files share. Internal to shim/ (the library's public face is the exported libc
 * symbols listed in exports.map).
 *
 * Every hook is thin: it decides with policy/, resolves with resolver/, and talks SOCKS through
 * shim_proxy_connect() (socks5/). Internal functions return negative errno; errno / EAI_* / h_errno are set
 * once, in the exported function.
 */
#ifndef TORWRAP_SHIM_H
#define TORWRAP_SHIM_H

#include "../common/tw.h"
#include "../policy/policy.h"
#include "../resolver/resolver.h"
#include "../socks5/socks5.h"

#define TW_EXPORT __attribute__((visibility("default")))

/* The configuration, with the virtual map attached; built on first use (never at load: loading the library
 * into a program that makes no network call must cost nothing). */
const struct tw_config *shim_config(void);

/* Resolves NAME as torwrap routes it: allowed names locally (hosts, then c-ares), other names from the hosts
 * text or else to a virtual address (never a DNS query), .onion always virtual. FAMILY AF_INET, AF_INET6 or
 * AF_UNSPEC; for AF_INET6 virtual addresses come back v4-mapped. Returns the address count, or -EPERM (policy
 * refuses the name), -ENOENT (no such name), -EAGAIN (temporary), -ENOSPC (virtual map full). */
int shim_lookup(const char *name, int family, struct resolver_addr *out, int max);

/* The name behind ADDR when it is a virtual address (plain or v4-mapped); -ENOENT otherwise. */
int shim_virtual_name(const struct resolver_addr *addr, char name[TW_NAME_MAX]);

/* Reverse lookup without leaks: virtual addresses from the map, allowed addresses locally (hosts, PTR),
 * anything else from the hosts text only. Returns 0 or -ENOENT. */
int shim_reverse(const struct resolver_addr *addr, char name[TW_NAME_MAX]);

/* Connects the program's own socket FD to the proxy and asks for TARGET. Bounded by the configured timeout;
 * the socket's file status flags are restored exactly. Returns 0 or a negative errno; logs the outcome. */
int shim_proxy_connect(int fd, const struct socks5_target *target);

/* Builds a hostent in BUF for NAME with N addresses of FAMILY. Returns 0 or ERANGE (positive: the _r API's). */
int shim_fill_hostent(const char *name, int family, const struct resolver_addr *addrs, int n, struct hostent *he,
		      char *buf, size_t buflen);

/* True when TEXT is an address literal libc resolves without any lookup (inet_aton forms, IPv6). */
bool shim_is_numeric_host(const char *text);

/* "a.b.c.d" / "x:y::z" for log lines. */
const char *shim_addr_text(const struct resolver_addr *addr, char *buf, size_t len);

#endif
