/* check.c: `torwrap check [--target HOST:PORT] [--proxy LIST] [--timeout S] [--all]`, the health check a compose
 * file puts in `healthcheck:`.
 *
 * It walks the path every proxied connection takes and prints one line per proxy instance, so a failure names
 * its instance and its step: resolve each proxy of the list (locally, like the library: hosts text, then the
 * nameservers of resolv.conf; a name with several addresses is several instances, compose --scale), then for
 * each instance connect to it, complete a SOCKS5 greeting and, with --target, open a stream by hostname through
 * Tor with the same one-round-trip handshake and isolation credentials the library uses. Each instance's steps
 * share one deadline, TOR_CONNECTIVITY_TIMEOUT (or --timeout) from its start; the name lookup is bounded by the
 * resolver's own timeouts.
 *
 * Healthy when at least one instance passes every step (streams fail over to it), or, with --all, every one.
 * The exit status of an unhealthy check is the step where the instance that got furthest failed.
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
	fputs("Usage: torwrap check [--target HOST:PORT] [--proxy HOST:PORT[,...]] [--timeout SECONDS] [--all]\n"
	      "Checks the way to Tor, one line per proxy instance with the time of each step: resolve\n"
	      "the proxy's name (every address is an instance), connect to it, complete a SOCKS5 greeting\n"
	      "and, with --target, open a stream to HOST:PORT through Tor (the name is resolved at the exit).\n"
	      "\n"
	      "  --target HOST:PORT  also open a stream through Tor (e.g. api.trongrid.io:443)\n"
	      "  --proxy LIST        the proxies (default: as for the library, e.g. TOR_PROXY_HOST)\n"
	      "  --timeout SECONDS   bounds each instance's steps (default TOR_CONNECTIVITY_TIMEOUT, 30)\n"
	      "  --all               healthy only when every instance is (default: at least one)\n"
	      "\n"
	      "Exit status: 0 healthy; 2 usage; 78 configuration broken; 10 the proxy's name does not resolve;\n"
	      "11 the proxy does not accept connections; 12 no SOCKS5 greeting; 13 the stream to the target\n"
	      "failed (Tor's answer is printed). With several instances: the step where the one that got\n"
	      "furthest failed.\n",
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

/* "host:port", "[v6]:port". Fills HOST (normalised when a name) and PORT; false when malformed. */
static bool parse_target(const char *s, char host[TW_NAME_MAX], uint16_t *port)
{
	char buf[TW_NAME_MAX];
	if (cli_split_hostport(s, false, buf, port) != 0)
		return false;
	unsigned char a[16];
	if (inet_pton(AF_INET, buf, a) == 1 || inet_pton(AF_INET6, buf, a) == 1) {
		memcpy(host, buf, strlen(buf) + 1);
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

/* ------------------------------------------------------------------------------------------- the options */

struct check_opts {
	const char *target; /* --target's text, or NULL */
	char thost[TW_NAME_MAX];
	uint16_t tport;
	bool all;
};

/* VAL for --proxy or --timeout, through the variables the configuration reads. */
static int set_option(size_t k, const char *val, struct check_opts *o)
{
	if (k == 0)
		o->target = val;
	else if (setenv(k == 1 ? "TORWRAP_PROXY" : "TOR_CONNECTIVITY_TIMEOUT", val, 1) != 0)
		return CLI_EXIT_CONFIG;
	return 0;
}

/* One argument at ARGV[*I] (its value may be the next one). 0, -1 for --help, or an exit status. */
static int parse_arg(int argc, char **argv, int *i, struct check_opts *o)
{
	const char *a = argv[*i];
	static const char *const opts[] = { "--target", "--proxy", "--timeout" };
	if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
		return -1;
	if (strcmp(a, "--all") == 0) {
		o->all = true;
		return 0;
	}
	for (size_t k = 0; k < 3; k++) {
		size_t n = strlen(opts[k]);
		if (strcmp(a, opts[k]) == 0) {
			if (*i + 1 >= argc) {
				fprintf(stderr, "torwrap check: %s needs a value\n", a);
				return CLI_EXIT_USAGE;
			}
			return set_option(k, argv[++*i], o);
		}
		if (strncmp(a, opts[k], n) == 0 && a[n] == '=')
			return set_option(k, a + n + 1, o);
	}
	fprintf(stderr, "torwrap check: unknown argument %s\n", a);
	check_usage(stderr);
	return CLI_EXIT_USAGE;
}

/* The command line. 0, -1 for --help, or an exit status. */
static int parse_args(int argc, char **argv, struct check_opts *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		int rc = parse_arg(argc, argv, &i, o);
		if (rc != 0)
			return rc;
	}
	if (o->target && !parse_target(o->target, o->thost, &o->tport)) {
		fprintf(stderr, "torwrap check: --target %s: not HOST:PORT\n", o->target);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* The configuration, built and not broken; else its line and verdict, and the exit status. */
static int load_config(struct tw_config *cfg)
{
	if (config_build(cfg, NULL, NULL) != 0) {
		printf("configuration: out of memory\nunhealthy: configuration failed (exit %d)\n", CLI_EXIT_CONFIG);
		return CLI_EXIT_CONFIG;
	}
	if (cfg->broken) {
		printf("configuration: broken: %s\nunhealthy: configuration failed (exit %d)\n", cfg->broken_reason,
		       CLI_EXIT_CONFIG);
		config_free(cfg);
		return CLI_EXIT_CONFIG;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------------- resolve */

/* "resolve NAME: ADDR, ADDR (T ms)" for each proxy, as the library finds them; the instances in IN. Returns
 * their count, 0 when none resolves (its line printed). */
static int resolve_all(const struct route_ctx *ctx, struct route_instance *in)
{
	const struct tw_config *cfg = ctx->cfg;
	int n = 0;
	for (unsigned p = 0; p < cfg->nproxy && n < ROUTE_MAX_INSTANCES; p++) {
		/* The engine's lookup, one proxy at a time: a configuration of that proxy alone. */
		struct tw_config one = *cfg;
		one.proxy[0] = cfg->proxy[p];
		one.nproxy = 1;
		struct route_ctx c1 = *ctx;
		c1.cfg = &one;
		int64_t t0 = now_us();
		int k = route_proxy_instances(&c1, AF_UNSPEC, in + n, ROUTE_MAX_INSTANCES - n);
		if (k <= 0) {
			printf("resolve %s: failed: %s (%.1f ms)\n", cfg->proxy[p].host,
			       k == -ENOENT ? "no such name" : "no answer from the nameservers of resolv.conf", ms_since(t0));
			continue;
		}
		char list[RESOLVER_MAX_ADDRS * (INET6_ADDRSTRLEN + 2)] = "";
		for (int i = 0; i < k; i++) {
			char a[INET6_ADDRSTRLEN];
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
				 route_addr_text(&in[n + i].addr, a, sizeof(a)));
		}
		printf("resolve %s: %s (%.1f ms)\n", cfg->proxy[p].host, list, ms_since(t0));
		n += k;
	}
	return n;
}

/* --------------------------------------------------------------------------------------- one instance */

/* What one instance's check found: the step it reached (0 healthy, else its exit status) and its line. */
struct instance_result {
	int status;
	char line[TW_NAME_MAX + 512];
};

static void add(struct instance_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct instance_result *r, const char *fmt, ...)
{
	size_t off = strlen(r->line);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->line + off, sizeof(r->line) - off, fmt, ap);
	va_end(ap);
}

/* The step failed with STATUS: the words follow on the line. */
static void failed(struct instance_result *r, int status, const char *step)
{
	r->status = status;
	add(r, "%sfailed at %s: ", r->line[0] ? "; " : "", step);
}

/* Connects to the instance at SA. The descriptor, or -1 with the failure on R's line. */
static int step_connect(const struct route_ctx *ctx, const struct sockaddr *sa, socklen_t slen, int64_t deadline,
			struct instance_result *r)
{
	int64_t t0 = now_us();
	int fd = connect_deadline(ctx, sa, slen, deadline);
	if (fd < 0) {
		failed(r, CLI_EXIT_CONNECT, "connect");
		add(r, "%s (%s) (%.1f ms)", fd == -ETIMEDOUT ? "timed out" : strerror(-fd), errname(-fd), ms_since(t0));
		return -1;
	}
	add(r, "connect %.1f ms", ms_since(t0));
	return fd;
}

/* The greeting on FD (closed here). 0, or -1 with the failure on R's line. */
static int step_greeting(int fd, bool with_auth, int64_t deadline, struct instance_result *r)
{
	const char *why = NULL;
	int64_t t0 = now_us();
	int rc = greet(fd, with_auth, deadline, &why);
	close(fd);
	if (rc < 0) {
		failed(r, CLI_EXIT_GREETING, "socks5 greeting");
		add(r, "%s (%.1f ms)", why, ms_since(t0));
		return -1;
	}
	add(r, ", socks5 greeting %.1f ms (%s)", ms_since(t0), with_auth ? "username/password" : "no authentication");
	return 0;
}

/* A stream's failure in words: Tor's answer, or what went wrong before it. */
static void stream_failed(struct instance_result *r, const char *what, int rc, int code, int64_t t0)
{
	failed(r, CLI_EXIT_STREAM, "stream");
	if (code >= 0) {
		const char *hint = socks5_reply_hint(code);
		add(r, "to %s: Tor answered \"%s\" (SOCKS reply 0x%02x, %s) (%.1f ms)%s%s", what, socks5_reply_text(code),
		    code, errname(-rc), ms_since(t0), hint ? ": " : "", hint ? hint : "");
		return;
	}
	const char *w = socks5_strerror(rc, code);
	add(r, "to %s: %s (%s) (%.1f ms)", what,
	    rc == -ETIMEDOUT ? "no answer before the deadline" : (w ? w : strerror(-rc)), errname(-rc), ms_since(t0));
}

/* A stream through Tor on a connection of its own, exactly as the library opens one. 0 or -1 (on R's line). */
static int step_stream(const struct route_ctx *ctx, const struct check_opts *o, const struct sockaddr *sa,
		       socklen_t slen, const char *token, int64_t deadline, struct instance_result *r)
{
	char what[TW_NAME_MAX + 16];
	snprintf(what, sizeof(what), strchr(o->thost, ':') ? "[%s]:%u" : "%s:%u", o->thost, o->tport);
	int64_t t0 = now_us();
	int fd = connect_deadline(ctx, sa, slen, deadline);
	if (fd < 0) {
		failed(r, CLI_EXIT_STREAM, "stream");
		add(r, "to %s: cannot connect to the proxy: %s (%.1f ms)", what, strerror(-fd), ms_since(t0));
		return -1;
	}
	struct socks5_target t = make_target(o->thost, o->tport);
	int code = -1;
	int rc = route_socks_request(ctx, fd, &t, token, deadline, &code);
	close(fd);
	if (rc < 0) {
		stream_failed(r, what, rc, code, t0);
		return -1;
	}
	add(r, ", stream to %s %.1f ms", what, ms_since(t0));
	return 0;
}

/* Every step on the instance IN, each instance its own deadline; its one line printed. Returns its status. */
static int check_instance(const struct route_ctx *ctx, const struct check_opts *o, const struct route_instance *in)
{
	struct instance_result r = { 0 };
	int64_t deadline = tw_now_ms() + ctx->cfg->timeout_ms;
	struct sockaddr_storage ss;
	socklen_t slen = route_sockaddr_make(&in->addr, in->port, in->addr.family, &ss);
	/* Destination isolation needs a destination; the greeting alone only needs to know whether to offer
	 * credentials, which every isolation but "none" (without rotation) does. */
	struct socks5_target tt = o->target ? make_target(o->thost, o->tport) : make_target("check", 0);
	struct route_caller who = { .pid = (long)getpid(), .prefix = "" };
	char token[POLICY_TOKEN_MAX];
	int with_auth = route_isolation_token(ctx, &who, &tt, token, sizeof(token));
	int fd = -1;
	if (with_auth < 0) {
		failed(&r, CLI_EXIT_GREETING, "socks5 greeting");
		add(&r, "cannot compute credentials");
	} else if ((fd = step_connect(ctx, (struct sockaddr *)&ss, slen, deadline, &r)) >= 0 &&
		   step_greeting(fd, with_auth == 1, deadline, &r) == 0 && o->target) {
		step_stream(ctx, o, (struct sockaddr *)&ss, slen, with_auth ? token : NULL, deadline, &r);
	}
	char inst[INET6_ADDRSTRLEN + 16];
	printf("instance %s: %s%s\n", route_instance_text(in, inst, sizeof(inst)), r.status ? "" : "ok: ", r.line);
	return r.status;
}

/* ------------------------------------------------------------------------------------------------ main */

/* The verdict over N instances, BAD of them unhealthy, WORST the furthest step an unhealthy one reached. */
static int verdict(const struct check_opts *o, int n, int bad, int worst, int64_t t_all)
{
	bool healthy = o->all ? bad == 0 : bad < n;
	if (healthy) {
		printf("healthy: %d of %d instance%s (%.1f ms)\n", n - bad, n, n == 1 ? "" : "s", ms_since(t_all));
		return 0;
	}
	printf("unhealthy: %d of %d instance%s healthy%s (exit %d)\n", n - bad, n, n == 1 ? "" : "s",
	       o->all ? ", --all wants every one" : "", worst);
	return worst;
}

static int run_checks(const struct tw_config *cfg, const struct check_opts *o)
{
	/* The routing engine, as the supervisor uses it: the proxy found, connected and named the same way. */
	struct resolver_conf ns;
	if (resolver_parse_resolv_conf(cfg->resolv_text ? cfg->resolv_text : "", &ns) != 0)
		ns.nns = 0;
	_Atomic uint64_t seq = 0;
	struct route_ctx ctx = { .cfg = cfg, .ns = &ns, .io = &socks5_default_io, .connect = connect, .conn_seq = &seq };
	int64_t t_all = now_us();
	struct route_instance in[ROUTE_MAX_INSTANCES];
	int n = resolve_all(&ctx, in);
	if (n <= 0) {
		printf("unhealthy: resolve failed (exit %d)\n", CLI_EXIT_RESOLVE);
		return CLI_EXIT_RESOLVE;
	}
	int bad = 0, worst = 0;
	for (int i = 0; i < n; i++) {
		int st = check_instance(&ctx, o, &in[i]);
		bad += st != 0;
		worst = st > worst ? st : worst;
	}
	return verdict(o, n, bad, worst, t_all);
}

int tw_check_main(int argc, char **argv)
{
	struct check_opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc < 0) {
		check_usage(stdout);
		return 0;
	}
	if (rc > 0)
		return rc;
	struct tw_config cfg;
	if ((rc = load_config(&cfg)) != 0)
		return rc;
	rc = run_checks(&cfg, &o);
	fflush(stdout);
	config_free(&cfg);
	return rc;
}
