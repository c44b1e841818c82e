/* check.c: `torwrap check [--target HOST:PORT] [--proxy HOST:PORT] [--timeout S]`, the health check a compose
 * file puts in `healthcheck:`.
 *
 * It walks the path every proxied connection takes, one step at a time, and prints one line per step with its
 * time, so a failure names its step: resolve tor-proxy (locally, like the library: hosts text, then the
 * nameservers of resolv.conf), connect to it, complete a SOCKS5 greeting, and, with --target, open a stream by
 * hostname through Tor with the same one-round-trip handshake and isolation credentials the library uses.
 * Connecting, the greeting and the stream share one deadline, TOR_CONNECTIVITY_TIMEOUT (or --timeout) from the
 * start; the name lookup is bounded by the resolver's own timeouts.
 *
 * The policy is not consulted: this talks to the proxy itself, as the library does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../policy/policy.h"
#include "../resolver/resolver.h"
#include "../route/route.h"
#include "../socks5/socks5.h"
#include "cli.h"

static void check_usage(FILE *out)
{
	fputs("Usage: torwrap check [--target HOST:PORT] [--proxy HOST:PORT] [--timeout SECONDS]\n"
	      "Checks the way to Tor step by step, one line per step with its time:\n"
	      "resolve the proxy's name, connect to it, complete a SOCKS5 greeting and, with --target,\n"
	      "open a stream to HOST:PORT through Tor (the name is resolved at the exit).\n"
	      "\n"
	      "  --target HOST:PORT  also open a stream through Tor (e.g. api.trongrid.io:443)\n"
	      "  --proxy HOST:PORT   the proxy (default: as for the library, e.g. TOR_PROXY_HOST)\n"
	      "  --timeout SECONDS   bounds connect, greeting and stream (default TOR_CONNECTIVITY_TIMEOUT, 30)\n"
	      "\n"
	      "Exit status: 0 healthy; 2 usage; 78 configuration broken; 10 the proxy's name does not resolve;\n"
	      "11 the proxy does not accept connections; 12 no SOCKS5 greeting; 13 the stream to the target\n"
	      "failed (Tor's answer is printed).\n",
	      out);
}

/* Microseconds: the steps on loopback take well under a millisecond, and "0 ms" would say nothing. */
static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double ms_since(int64_t t0_us)
{
	return (double)(now_us() - t0_us) / 1000.0;
}

/* "ECONNREFUSED": the name scripts and people search for. glibc only; elsewhere the number. */
static const char *errname(int err)
{
#ifdef __GLIBC__
	const char *n = strerrorname_np(err);
	if (n)
		return n;
#endif
	static _Thread_local char buf[24];
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

/* Step failed: its line, then the verdict; returns the step's exit status. */
static int step_failed(int status, const char *step, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int step_failed(int status, const char *step, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\nunhealthy: %s failed (exit %d)\n", step, status);
	fflush(stdout);
	return status;
}

/* "host:port", "[v6]:port". Fills HOST (normalised when a name) and PORT; false when malformed. */
static bool parse_target(const char *s, char host[TW_NAME_MAX], uint16_t *port)
{
	const char *colon;
	const char *h = s;
	size_t hn;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		h = s + 1;
		hn = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return false; /* a bare IPv6 address needs brackets to carry a port */
		hn = (size_t)(colon - s);
	}
	if (hn == 0 || hn >= TW_NAME_MAX)
		return false;
	char buf[TW_NAME_MAX];
	memcpy(buf, h, hn);
	buf[hn] = '\0';
	const char *p = colon + 1;
	if (!*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p))
		return false;
	long v = strtol(p, NULL, 10);
	if (v < 1 || v > 65535)
		return false;
	*port = (uint16_t)v;
	unsigned char a[16];
	if (inet_pton(AF_INET, buf, a) == 1 || inet_pton(AF_INET6, buf, a) == 1) {
		memcpy(host, buf, hn + 1);
		return true;
	}
	return tw_name_normalize(buf, host) == 0;
}

static struct socks5_target make_target(const char *host, uint16_t port)
{
	struct socks5_target t = { .atyp = 3, .name = host, .port = port };
	if (inet_pton(AF_INET, host, t.addr) == 1)
		t.atyp = 1;
	else if (inet_pton(AF_INET6, host, t.addr) == 1)
		t.atyp = 4;
	return t;
}

/* A non-blocking connect to SA bounded by DEADLINE_MS (tw_now_ms scale). Returns the descriptor (blocking
 * again) or a negative errno. */
static int connect_deadline(const struct route_ctx *ctx, const struct sockaddr *sa, socklen_t len,
			    int64_t deadline_ms)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int rc = route_connect_until(ctx, fd, sa, len, deadline_ms);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* The greeting alone, offering the one method the library would use. Returns 0, or a negative errno with
 * *WHY set. */
static int greet(int fd, bool with_auth, int64_t deadline_ms, const char **why)
{
	uint8_t hello[3] = { 0x05, 0x01, with_auth ? 0x02 : 0x00 };
	uint8_t reply[2];
	int rc = socks5_default_io.send_all(fd, hello, sizeof(hello), deadline_ms, NULL);
	size_t have = 0;
	while (rc == 0 && have < sizeof(reply)) {
		ssize_t n = socks5_default_io.recv_some(fd, reply + have, sizeof(reply) - have, deadline_ms, NULL);
		if (n < 0)
			rc = (int)n;
		else if (n == 0)
			rc = -ECONNRESET;
		else
			have += (size_t)n;
	}
	if (rc == -ETIMEDOUT) {
		*why = "no answer in time: not a SOCKS5 proxy, or Tor is stuck";
	} else if (rc == -ECONNRESET) {
		*why = "the proxy closed the connection: not a SOCKS5 proxy?";
	} else if (rc < 0) {
		*why = strerror(-rc);
	} else if (reply[0] != 0x05) {
		*why = "the answer is not SOCKS version 5: not a SOCKS5 proxy";
		rc = -EPROTO;
	} else if (reply[1] == 0xFF) {
		*why = with_auth ? "the proxy refuses username/password authentication (Tor's isolation credentials)"
				 : "the proxy requires authentication";
		rc = -EPROTO;
	} else if (reply[1] != hello[2]) {
		*why = "the proxy chose a method that was not offered";
		rc = -EPROTO;
	}
	return rc;
}

int tw_check_main(int argc, char **argv)
{
	const char *target_arg = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			check_usage(stdout);
			return 0;
		}
		const char *opts[] = { "--target", "--proxy", "--timeout" };
		size_t k;
		for (k = 0; k < 3; k++) {
			size_t n = strlen(opts[k]);
			if (strcmp(a, opts[k]) == 0) {
				if (i + 1 >= argc) {
					fprintf(stderr, "torwrap check: %s needs a value\n", a);
					return CLI_EXIT_USAGE;
				}
				val = argv[++i];
				break;
			}
			if (strncmp(a, opts[k], n) == 0 && a[n] == '=') {
				val = a + n + 1;
				break;
			}
		}
		if (k == 3) {
			fprintf(stderr, "torwrap check: unknown argument %s\n", a);
			check_usage(stderr);
			return CLI_EXIT_USAGE;
		}
		if (k == 0)
			target_arg = val;
		else if (setenv(k == 1 ? "TORWRAP_PROXY" : "TOR_CONNECTIVITY_TIMEOUT", val, 1) != 0)
			return CLI_EXIT_CONFIG;
	}

	char thost[TW_NAME_MAX];
	uint16_t tport = 0;
	if (target_arg && !parse_target(target_arg, thost, &tport)) {
		fprintf(stderr, "torwrap check: --target %s: not HOST:PORT\n", target_arg);
		return CLI_EXIT_USAGE;
	}

	struct tw_config cfg;
	if (config_build(&cfg, NULL, NULL) != 0) {
		printf("configuration: out of memory\nunhealthy: configuration failed (exit %d)\n", CLI_EXIT_CONFIG);
		return CLI_EXIT_CONFIG;
	}
	if (cfg.broken) {
		printf("configuration: broken: %s\nunhealthy: configuration failed (exit %d)\n", cfg.broken_reason,
		       CLI_EXIT_CONFIG);
		config_free(&cfg);
		return CLI_EXIT_CONFIG;
	}
	/* The routing engine, as the supervisor uses it: the proxy found, connected and named the same way. */
	struct resolver_conf ns;
	if (resolver_parse_resolv_conf(cfg.resolv_text ? cfg.resolv_text : "", &ns) != 0)
		ns.nns = 0;
	_Atomic uint64_t seq = 0;
	struct route_ctx ctx = { .cfg = &cfg, .ns = &ns, .io = &socks5_default_io, .connect = connect, .conn_seq = &seq };
	int64_t deadline = tw_now_ms() + cfg.timeout_ms;
	int64_t t_all = now_us();
	int status = 0;

	/* 1. resolve: literals as they are; names locally, as the library resolves the proxy's name. */
	struct resolver_addr addrs[RESOLVER_MAX_ADDRS];
	int n;
	int64_t t0 = now_us();
	n = route_proxy_addrs(&ctx, AF_UNSPEC, addrs, RESOLVER_MAX_ADDRS);
	if (n <= 0) {
		status = step_failed(CLI_EXIT_RESOLVE, "resolve", "resolve %s: failed: %s (%.1f ms)", cfg.proxy_host,
				     n == -ENOENT ? "no such name" : "no answer from the nameservers of resolv.conf",
				     ms_since(t0));
		goto out;
	}
	char list[RESOLVER_MAX_ADDRS * (INET6_ADDRSTRLEN + 2)] = "";
	for (int i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(addrs[i].family, addrs[i].addr, a, sizeof(a));
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", a);
	}
	printf("resolve %s: %s (%.1f ms)\n", cfg.proxy_host, list, ms_since(t0));

	/* 2. connect: to the first address, as the library does for a socket of that family. */
	struct sockaddr_storage ss;
	socklen_t slen = route_sockaddr_make(&addrs[0], cfg.proxy_port, addrs[0].family, &ss);
	char shown[INET6_ADDRSTRLEN + 16], a0[INET6_ADDRSTRLEN];
	route_addr_text(&addrs[0], a0, sizeof(a0));
	snprintf(shown, sizeof(shown), addrs[0].family == AF_INET ? "%s:%u" : "[%s]:%u", a0, cfg.proxy_port);
	t0 = now_us();
	int fd = connect_deadline(&ctx, (struct sockaddr *)&ss, slen, deadline);
	if (fd < 0) {
		status = step_failed(CLI_EXIT_CONNECT, "connect", "connect %s: failed: %s (%s) (%.1f ms)", shown,
				     fd == -ETIMEDOUT ? "timed out" : strerror(-fd), errname(-fd), ms_since(t0));
		goto out;
	}
	printf("connect %s: ok (%.1f ms)\n", shown, ms_since(t0));

	/* 3. the greeting, with the method the library would offer. */
	char token[POLICY_TOKEN_MAX];
	/* Destination isolation needs a destination; the greeting alone only needs to know whether to offer
	 * credentials, which every isolation but "none" (without rotation) does. */
	struct socks5_target tt = target_arg ? make_target(thost, tport) : make_target("check", 0);
	struct route_caller who = { .pid = (long)getpid(), .prefix = "" };
	int with_auth = route_isolation_token(&ctx, &who, &tt, token, sizeof(token));
	if (with_auth < 0) {
		close(fd);
		status = step_failed(CLI_EXIT_GREETING, "socks5 greeting", "socks5 greeting: cannot compute credentials");
		goto out;
	}
	const char *why = NULL;
	t0 = now_us();
	int rc = greet(fd, with_auth == 1, deadline, &why);
	close(fd);
	if (rc < 0) {
		status = step_failed(CLI_EXIT_GREETING, "socks5 greeting", "socks5 greeting: failed: %s (%.1f ms)", why,
				     ms_since(t0));
		goto out;
	}
	printf("socks5 greeting: ok (%s, %.1f ms)\n", with_auth ? "username/password" : "no authentication",
	       ms_since(t0));

	/* 4. a stream through Tor, on a connection of its own, exactly as the library opens one. */
	if (target_arg) {
		char what[TW_NAME_MAX + 16];
		snprintf(what, sizeof(what), strchr(thost, ':') ? "[%s]:%u" : "%s:%u", thost, tport);
		t0 = now_us();
		fd = connect_deadline(&ctx, (struct sockaddr *)&ss, slen, deadline);
		if (fd < 0) {
			status = step_failed(CLI_EXIT_STREAM, "stream", "stream to %s: failed: cannot connect to the proxy: %s (%.1f ms)",
					     what, strerror(-fd), ms_since(t0));
			goto out;
		}
		struct socks5_target t = make_target(thost, tport);
		int code = -1;
		rc = route_socks_request(&ctx, fd, &t, with_auth ? token : NULL, deadline, &code);
		close(fd);
		if (rc < 0 && code >= 0) {
			const char *hint = socks5_reply_hint(code);
			status = step_failed(CLI_EXIT_STREAM, "stream",
					     "stream to %s: failed: Tor answered \"%s\" (SOCKS reply 0x%02x, %s) (%.1f ms)%s%s",
					     what, socks5_reply_text(code), code, errname(-rc), ms_since(t0),
					     hint ? ": " : "", hint ? hint : "");
			goto out;
		}
		if (rc < 0) {
			const char *w = socks5_strerror(rc, code);
			status = step_failed(CLI_EXIT_STREAM, "stream", "stream to %s: failed: %s (%s) (%.1f ms)", what,
					     rc == -ETIMEDOUT ? "no answer before the deadline" : (w ? w : strerror(-rc)),
					     errname(-rc), ms_since(t0));
			goto out;
		}
		printf("stream to %s: ok (%.1f ms)\n", what, ms_since(t0));
	}
	printf("healthy (%.1f ms)\n", ms_since(t_all));
out:
	fflush(stdout);
	config_free(&cfg);
	return status;
}
