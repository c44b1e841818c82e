/* proxy.c: the program's own socket becomes a connection through the SOCKS5 proxy.
 *
 * The handshake runs on the program's descriptor (so every option it set survives and no data is relayed by
 * us), in one round trip (socks5/), bounded by TOR_CONNECTIVITY_TIMEOUT, and leaves the file status flags
 * exactly as the program set them, O_NONBLOCK included. A non-blocking socket therefore blocks here for at most
 * the timeout and then reports success at once (connect() returning 0 is allowed for non-blocking sockets).
 *
 * The SOCKS credentials carry the stream-isolation token (TORWRAP_ISOLATION, TOR_CIRCUIT_ROTATION_INTERVAL),
 * computed by policy_isolation_token(). Every failure is logged once, naming the cause in words a person can
 * act on, with the errno the program will see.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

/* Where the proxy is, in a form FD (of DOMAIN) can connect to. */
static int proxy_sockaddr(const struct tw_config *cfg, int domain, struct sockaddr_storage *ss, socklen_t *len)
{
	struct resolver_addr addrs[RESOLVER_MAX_ADDRS];
	int n;
	struct resolver_addr lit;
	memset(&lit, 0, sizeof(lit));
	if (inet_pton(AF_INET, cfg->proxy_host, lit.addr) == 1) {
		lit.family = AF_INET;
		addrs[0] = lit;
		n = 1;
	} else if (inet_pton(AF_INET6, cfg->proxy_host, lit.addr) == 1) {
		lit.family = AF_INET6;
		addrs[0] = lit;
		n = 1;
	} else {
		/* The proxy's name is internal by definition: resolved locally (in Docker, by 127.0.0.11). */
		/* An IPv4 socket can use only an IPv4 proxy address: ask for that alone, one query per connect. */
		n = resolver_local_lookup(cfg->resolv_text, cfg->hosts_text, cfg->proxy_host,
					  domain == AF_INET ? AF_INET : AF_UNSPEC, addrs, RESOLVER_MAX_ADDRS);
		if (n <= 0) {
			tw_error("cannot resolve the proxy's name %s: %s", cfg->proxy_host,
				 n == -ENOENT ? "no such name" : "no answer from the nameserver");
			return -EHOSTUNREACH;
		}
	}
	memset(ss, 0, sizeof(*ss));
	for (int i = 0; i < n; i++) {
		if (domain == AF_INET && addrs[i].family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)ss;
			sin->sin_family = AF_INET;
			sin->sin_port = htons(cfg->proxy_port);
			memcpy(&sin->sin_addr, addrs[i].addr, 4);
			*len = sizeof(*sin);
			return 0;
		}
		if (domain == AF_INET6) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(cfg->proxy_port);
			if (addrs[i].family == AF_INET6) {
				memcpy(&sin6->sin6_addr, addrs[i].addr, 16);
			} else { /* an IPv6 socket reaches an IPv4 proxy through the v4-mapped form */
				sin6->sin6_addr.s6_addr[10] = 0xff;
				sin6->sin6_addr.s6_addr[11] = 0xff;
				memcpy(&sin6->sin6_addr.s6_addr[12], addrs[i].addr, 4);
			}
			*len = sizeof(*sin6);
			return 0;
		}
	}
	tw_error("the proxy %s has no address of this socket's family", cfg->proxy_host);
	return -EAFNOSUPPORT;
}

/* connect() with a deadline on a descriptor that is non-blocking for the duration. */
static int connect_until(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
	if (tw_gate_connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	for (;;) {
		int64_t left = deadline - tw_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			continue;
		int err = 0;
		socklen_t elen = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
			return -errno;
		return err ? -err : 0;
	}
}

/* The destination host alone (name or address text), as the isolation token sees it. */
static const char *target_host(const struct socks5_target *t, char *buf, size_t len)
{
	if (t->atyp == 3)
		return t->name;
	if (!inet_ntop(t->atyp == 1 ? AF_INET : AF_INET6, t->addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

/* Connections through the proxy in this process, for isolation "connection". A forked child starts from its
 * parent's count, but its pid is part of the token too. */
static _Atomic uint64_t conn_seq;

static int proxy_credentials(const struct tw_config *cfg, const struct socks5_target *target, char *token,
			     size_t len)
{
	char host[INET6_ADDRSTRLEN];
	struct policy_stream s = {
		.host = target_host(target, host, sizeof(host)),
		.port = target->port,
		.pid = (long)getpid(),
		.conn_seq = atomic_fetch_add(&conn_seq, 1) + 1,
		.now_s = (int64_t)time(NULL),
	};
	return policy_isolation_token(cfg, &s, token, len);
}

/* "ECONNREFUSED" for log lines: the name a program's own message often shows. */
static const char *errno_name(int err)
{
#ifdef __GLIBC__
	const char *n = strerrorname_np(err);
	return n ? n : "?";
#else
	switch (err) { /* musl has no strerrorname_np: the ones a proxied connect reports */
	case ECONNREFUSED: return "ECONNREFUSED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ENETUNREACH: return "ENETUNREACH";
	case ECONNRESET: return "ECONNRESET";
	case ECONNABORTED: return "ECONNABORTED";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EINVAL: return "EINVAL";
	case EPROTO: return "EPROTO";
	default: return "?";
	}
#endif
}

int shim_proxy_connect(int fd, const struct socks5_target *target, const struct sockaddr *asked,
		       socklen_t asked_len)
{
	const struct tw_config *cfg = shim_config();
	char what[TW_NAME_MAX + 64];
	socks5_target_text(target, what, sizeof(what));

	int domain;
	socklen_t dlen = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0)
		return -errno;
	struct sockaddr_storage proxy;
	socklen_t plen;
	int rc = proxy_sockaddr(cfg, domain, &proxy, &plen);
	if (rc < 0) {
		tw_error("connect %s failed (%s): the proxy %s:%u cannot be found; not connecting directly", what,
			 errno_name(-rc), cfg->proxy_host, cfg->proxy_port);
		return rc;
	}

	char token[POLICY_TOKEN_MAX];
	int with_auth = proxy_credentials(cfg, target, token, sizeof(token));
	if (with_auth < 0) {
		tw_error("connect %s failed: cannot compute the isolation credentials (%s)", what, strerror(-with_auth));
		return with_auth;
	}
	struct socks5_auth auth = { .user = with_auth ? POLICY_SOCKS_USER : NULL, .pass = with_auth ? token : NULL };

	int flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
		return -errno;

	int64_t deadline = tw_now_ms() + cfg->timeout_ms;
	int code = -1;
	rc = connect_until(fd, (struct sockaddr *)&proxy, plen, deadline);
	if (rc == -ETIMEDOUT) {
		tw_error("connect %s failed (ETIMEDOUT): the proxy %s:%u did not accept the connection within "
			 "TOR_CONNECTIVITY_TIMEOUT (%d ms); not connecting directly",
			 what, cfg->proxy_host, cfg->proxy_port, cfg->timeout_ms);
	} else if (rc < 0) {
		tw_error("connect %s failed (%s): proxy %s:%u unreachable (%s): is tor running there? Not "
			 "connecting directly",
			 what, errno_name(-rc), cfg->proxy_host, cfg->proxy_port, strerror(-rc));
	} else {
		rc = socks5_handshake(fd, target, with_auth ? &auth : NULL, deadline, &socks5_default_io, &code);
		if (rc == 0) {
			if (with_auth)
				tw_info("connect %s: via tor (proxy %s:%u, isolation %s)", what, cfg->proxy_host,
					cfg->proxy_port, token);
			else
				tw_info("connect %s: via tor (proxy %s:%u, no isolation)", what, cfg->proxy_host,
					cfg->proxy_port);
			shim_fd_set_peer(fd, asked, asked_len, (struct sockaddr *)&proxy, plen);
		} else if (code >= 0) {
			const char *hint = socks5_reply_hint(code);
			tw_error("connect %s failed (%s): Tor answered \"%s\" (SOCKS reply 0x%02x)%s%s", what,
				 errno_name(-rc), socks5_reply_text(code), code, hint ? ": " : "", hint ? hint : "");
		} else if (rc == -ETIMEDOUT) {
			tw_error("connect %s failed (ETIMEDOUT): the proxy %s:%u did not answer the SOCKS handshake within "
				 "TOR_CONNECTIVITY_TIMEOUT (%d ms): Tor may still be bootstrapping",
				 what, cfg->proxy_host, cfg->proxy_port, cfg->timeout_ms);
		} else {
			const char *why = socks5_strerror(rc, code);
			tw_error("connect %s failed (%s): SOCKS handshake with %s:%u: %s (is it a SOCKS5 proxy?)", what,
				 errno_name(-rc), cfg->proxy_host, cfg->proxy_port, why ? why : strerror(-rc));
		}
	}
	if (fcntl(fd, F_SETFL, flags) != 0 && rc == 0)
		rc = -errno;
	return rc;
}
