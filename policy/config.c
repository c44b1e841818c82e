/* config.c: builds torwrap's configuration from the environment and the policy file (config_build), and holds
 * the process's one immutable copy (config_get). Nothing here stops on a bad value: it is recorded as the
 * reason the configuration is broken, and policy_decide_* then fails closed.
 */
#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A policy file is a short allowlist; anything bigger is a mistake (a wrong path), not a policy. Hosts files
 * that block advertising run to some megabytes, so they get more room. */
#define CONFIG_POLICY_MAX_BYTES (1024 * 1024)
#define CONFIG_SYSFILE_MAX_BYTES (64 * 1024 * 1024)

/* Values are quoted in reasons, capped so that the reason keeps its end. */
#define VAL(s) 120, (s)

static void broken(struct tw_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void broken(struct tw_config *cfg, const char *fmt, ...)
{
	/* The first problem is the one reported: later ones are often its consequences. */
	if (cfg->broken)
		return;
	cfg->broken = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cfg->broken_reason, sizeof(cfg->broken_reason), fmt, ap);
	va_end(ap);
}

/* An empty variable counts as unset: compose files and wrappers often set "VAR=" to mean "not given". */
static const char *env(policy_getenv_fn fn, void *ctx, const char *name)
{
	const char *v = fn(name, ctx);
	return (v && *v) ? v : NULL;
}

static const char *real_getenv(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

static const char *no_getenv(const char *name, void *ctx)
{
	(void)name, (void)ctx;
	return NULL;
}

/* Copies S without surrounding blanks into OUT (size OUTLEN); false when it does not fit. */
static bool trimmed(const char *s, char *out, size_t outlen)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	if (n >= outlen)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

static int parse_port(const char *s, uint16_t *port)
{
	if (!*s || strlen(s) > 5)
		return -EINVAL;
	unsigned long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* A proxy host alone: a name (stored normalised), an IPv4 literal, or an IPv6 literal bare or in brackets
 * (stored without them, so inet_pton reads it). Sets *PROBLEM on failure. */
static int parse_host(const char *s, size_t n, char host[TW_NAME_MAX], const char **problem)
{
	char buf[TW_NAME_MAX + 2];
	if (n == 0) {
		*problem = "missing host";
		return -EINVAL;
	}
	if (n >= sizeof(buf)) {
		*problem = "host name too long";
		return -EINVAL;
	}
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']') {
			*problem = "bad bracketed IPv6 address";
			return -EINVAL;
		}
		s++;
		n -= 2;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	unsigned char a[16];
	if (strchr(buf, ':')) {
		if (inet_pton(AF_INET6, buf, a) != 1) {
			*problem = "bad IPv6 address";
			return -EINVAL;
		}
		memcpy(host, buf, n + 1);
		return 0;
	}
	if (strspn(buf, "0123456789.") == n) {
		if (inet_pton(AF_INET, buf, a) != 1) {
			*problem = "bad IPv4 address";
			return -EINVAL;
		}
		memcpy(host, buf, n + 1);
		return 0;
	}
	if (tw_name_normalize(buf, host) < 0) {
		*problem = "bad host name";
		return -EINVAL;
	}
	return 0;
}

/* "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal (which cannot carry a port). PORT is left alone
 * when the text names none. */
static int parse_hostport(const char *s, char host[TW_NAME_MAX], uint16_t *port, const char **problem)
{
	size_t n = strlen(s);
	const char *colon;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close) {
			*problem = "missing ']'";
			return -EINVAL;
		}
		colon = close[1] ? close + 1 : NULL;
		if (colon && *colon != ':') {
			*problem = "unexpected text after ']'";
			return -EINVAL;
		}
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* bare IPv6 */
	}
	size_t hn = colon ? (size_t)(colon - s) : n;
	if (parse_host(s, hn, host, problem) < 0)
		return -EINVAL;
	if (colon && parse_port(colon + 1, port) < 0) {
		*problem = "bad port (1-65535)";
		return -EINVAL;
	}
	return 0;
}

/* "socks5://host[:port][/]" or "socks5h://..." (both mean the same to torwrap: names always go to the proxy). */
static int parse_proxy_url(const char *s, char host[TW_NAME_MAX], uint16_t *port, const char **problem)
{
	const char *rest;
	if (strncasecmp(s, "socks5h://", 10) == 0) {
		rest = s + 10;
	} else if (strncasecmp(s, "socks5://", 9) == 0) {
		rest = s + 9;
	} else {
		*problem = strstr(s, "://") ? "unsupported scheme (socks5:// or socks5h:// only)"
					    : "not a socks5:// or socks5h:// URL";
		return -EINVAL;
	}
	char auth[TW_NAME_MAX + 16];
	size_t n = strcspn(rest, "/?#");
	if (rest[n] != '\0' && !(rest[n] == '/' && rest[n + 1] == '\0')) {
		*problem = "unexpected path or query after the host";
		return -EINVAL;
	}
	if (memchr(rest, '@', n)) {
		*problem = "credentials in the URL are not supported";
		return -EINVAL;
	}
	if (n >= sizeof(auth)) {
		*problem = "host name too long";
		return -EINVAL;
	}
	memcpy(auth, rest, n);
	auth[n] = '\0';
	return parse_hostport(auth, host, port, problem);
}

/* One element of a proxy list, in the form VAR takes (URL or HOST[:PORT]; a host alone for TOR_PROXY_HOST,
 * whose port is TOR_PROXY_SOCKS_PORT). Sets *PROBLEM on failure. */
enum proxy_form { PROXY_HOSTPORT, PROXY_URL, PROXY_HOST_ONLY };

static int parse_proxy_item(const char *item, enum proxy_form form, struct policy_proxy *out, const char **problem)
{
	if (form == PROXY_URL)
		return parse_proxy_url(item, out->host, &out->port, problem);
	if (form == PROXY_HOSTPORT)
		return parse_hostport(item, out->host, &out->port, problem);
	/* One colon is a port, which belongs in TOR_PROXY_SOCKS_PORT; two or more make IPv6. */
	const char *c = strchr(item, ':');
	if (item[0] != '[' && c && !strchr(c + 1, ':')) {
		*problem = "a host only (the port goes in TOR_PROXY_SOCKS_PORT)";
		return -EINVAL;
	}
	return parse_host(item, strlen(item), out->host, problem);
}

/* VAR's value V, a comma-separated list of proxies, each with PORT unless it names its own. Several proxies
 * (and a name with several addresses) are instances that streams are spread over. */
static void config_proxy_list(struct tw_config *cfg, const char *var, const char *v, enum proxy_form form,
			      uint16_t port)
{
	char val[2048];
	const char *problem = "";
	if (!trimmed(v, val, sizeof(val))) {
		broken(cfg, "%s=\"%.*s\": too long", var, VAL(v));
		return;
	}
	struct policy_proxy list[POLICY_MAX_PROXIES];
	unsigned n = 0;
	for (char *item = val, *next; item; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		char one[600];
		if (!trimmed(item, one, sizeof(one))) {
			broken(cfg, "%s=\"%.*s\": an item too long", var, VAL(v));
			return;
		}
		if (!one[0]) {
			broken(cfg, "%s=\"%.*s\": an empty item in the list", var, VAL(v));
			return;
		}
		if (n == POLICY_MAX_PROXIES) {
			broken(cfg, "%s=\"%.*s\": more than %d proxies", var, VAL(v), POLICY_MAX_PROXIES);
			return;
		}
		list[n].port = port;
		if (parse_proxy_item(one, form, &list[n], &problem) < 0) {
			broken(cfg, "%s=\"%.*s\": %s", var, VAL(v), problem);
			return;
		}
		n++;
	}
	memcpy(cfg->proxy, list, n * sizeof(list[0]));
	cfg->nproxy = n;
}

/* TOR_PROXY_HOST and TOR_PROXY_SOCKS_PORT, the last resort (defaults tor-proxy and 9050). */
static void config_proxy_parts(struct tw_config *cfg, policy_getenv_fn fn, void *ctx)
{
	const char *h = env(fn, ctx, "TOR_PROXY_HOST");
	const char *p = env(fn, ctx, "TOR_PROXY_SOCKS_PORT");
	char val[600];
	uint16_t port = POLICY_DEFAULT_PROXY_PORT;

	if (p && (!trimmed(p, val, sizeof(val)) || parse_port(val, &port) < 0)) {
		broken(cfg, "TOR_PROXY_SOCKS_PORT=\"%.*s\": not a port number (1-65535)", VAL(p));
		return;
	}
	config_proxy_list(cfg, "TOR_PROXY_HOST", h ? h : POLICY_DEFAULT_PROXY_HOST, PROXY_HOST_ONLY, port);
}

/* The first of TORWRAP_PROXY, TOR_PROXY_URL, SOCKS5_PROXY, TOR_PROXY_HOST(+PORT) that is set wins; the others
 * are not even looked at, so a stale lower one cannot break a good higher one. */
static void config_proxy(struct tw_config *cfg, policy_getenv_fn fn, void *ctx)
{
	const char *var, *v;
	if ((v = env(fn, ctx, var = "TORWRAP_PROXY")))
		config_proxy_list(cfg, var, v, PROXY_HOSTPORT, POLICY_DEFAULT_PROXY_PORT);
	else if ((v = env(fn, ctx, var = "TOR_PROXY_URL")))
		config_proxy_list(cfg, var, v, PROXY_URL, POLICY_DEFAULT_PROXY_PORT);
	else if ((v = env(fn, ctx, var = "SOCKS5_PROXY"))) /* often a URL for other tools: that form too */
		config_proxy_list(cfg, var, v, strstr(v, "://") ? PROXY_URL : PROXY_HOSTPORT, POLICY_DEFAULT_PROXY_PORT);
	else
		config_proxy_parts(cfg, fn, ctx);
	/* The first proxy stands for them all where one name is wanted; the list names them in log lines. */
	snprintf(cfg->proxy_host, sizeof(cfg->proxy_host), "%s", cfg->proxy[0].host);
	cfg->proxy_port = cfg->proxy[0].port;
	size_t off = 0;
	cfg->proxy_list[0] = '\0';
	for (unsigned i = 0; i < cfg->nproxy && off < sizeof(cfg->proxy_list); i++) {
		const struct policy_proxy *x = &cfg->proxy[i];
		int w = snprintf(cfg->proxy_list + off, sizeof(cfg->proxy_list) - off,
				 strchr(x->host, ':') ? "%s[%s]:%u" : "%s%s:%u", i ? "," : "", x->host, x->port);
		off += w > 0 ? (size_t)w : 0;
	}
}

/* Seconds as "30" or "2.5" (also "5." and ".5"): more than 0, at most 3600. */
static void config_timeout(struct tw_config *cfg, const char *v)
{
	char val[64];
	if (!trimmed(v, val, sizeof(val)))
		goto nan;
	const char *p = val;
	long whole = 0, frac_ms = 0, scale = 100;
	int idigits = 0, fdigits = 0;
	bool frac_nonzero = false;
	while (*p >= '0' && *p <= '9') {
		if (++idigits > 6)
			goto range; /* far past 3600; stops before any overflow */
		whole = whole * 10 + (*p++ - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, fdigits++) {
			frac_nonzero |= *p != '0';
			frac_ms += (*p - '0') * scale; /* digits past milliseconds add 0 */
			scale /= 10;
		}
	}
	if (*p != '\0' || (idigits == 0 && fdigits == 0))
		goto nan;
	if ((whole == 0 && !frac_nonzero) || whole > 3600 || (whole == 3600 && frac_nonzero))
		goto range;
	long ms = whole * 1000 + frac_ms;
	cfg->timeout_ms = ms > 0 ? (int)ms : 1; /* 0.0001 s: the shortest deadline we can keep */
	return;
nan:
	broken(cfg, "TOR_CONNECTIVITY_TIMEOUT=\"%.*s\": not a number of seconds", VAL(v));
	return;
range:
	broken(cfg, "TOR_CONNECTIVITY_TIMEOUT=\"%.*s\": must be more than 0 and at most 3600 seconds", VAL(v));
}

/* "127.192.0.0/10": inside 127.0.0.0/8, prefix 8-24, no host bits, and not holding 127.0.0.1 (which programs
 * use for real local services: those connections would be taken for Tor ones). */
static void config_vnet(struct tw_config *cfg, const char *v)
{
	char val[64];
	const char *slash;
	struct in_addr a;
	if (!trimmed(v, val, sizeof(val)) || !(slash = strchr(val, '/'))) {
		broken(cfg, "TORWRAP_VIRTUAL_NET=\"%.*s\": not an IPv4 network (address/prefix)", VAL(v));
		return;
	}
	char addr[INET_ADDRSTRLEN + 1];
	size_t an = (size_t)(slash - val);
	const char *pp = slash + 1;
	if (an >= sizeof(addr) || strspn(pp, "0123456789") != strlen(pp) || strlen(pp) == 0 || strlen(pp) > 2) {
		broken(cfg, "TORWRAP_VIRTUAL_NET=\"%.*s\": not an IPv4 network (address/prefix)", VAL(v));
		return;
	}
	memcpy(addr, val, an);
	addr[an] = '\0';
	int prefix = atoi(pp);
	if (inet_pton(AF_INET, addr, &a) != 1) {
		broken(cfg, "TORWRAP_VIRTUAL_NET=\"%.*s\": bad IPv4 address", VAL(v));
		return;
	}
	if (prefix < 8 || prefix > 24) {
		broken(cfg, "TORWRAP_VIRTUAL_NET=\"%.*s\": prefix must be between /8 and /24", VAL(v));
		return;
	}
	uint32_t host = ntohl(a.s_addr);
	uint32_t mask = 0xffffffffu << (32 - prefix);
	if ((host >> 24) != 127) {
		broken(cfg, "TORWRAP_VIRTUAL_NET=\"%.*s\": must lie inside 127.0.0.0/8", VAL(v));
		return;
	}
	if (host & ~mask) {
		broken(cfg, "TORWRAP_VIRTUAL_NET=\"%.*s\": host bits set (the network is %u.%u.%u.%u/%d)", VAL(v),
		       (host & mask) >> 24, ((host & mask) >> 16) & 0xff, ((host & mask) >> 8) & 0xff, (host & mask) & 0xff,
		       prefix);
		return;
	}
	if ((0x7f000001u & mask) == host) {
		broken(cfg, "TORWRAP_VIRTUAL_NET=\"%.*s\": must not contain 127.0.0.1", VAL(v));
		return;
	}
	cfg->vnet_addr = htonl(host);
	cfg->vnet_mask = htonl(mask);
}

/* TORWRAP_MODE: policy | tor-only | onion-only ("tor_only" and "onion_only" too: env files often avoid '-'). */
static void config_mode(struct tw_config *cfg, const char *v)
{
	char val[32];
	if (trimmed(v, val, sizeof(val))) {
		if (strcasecmp(val, "policy") == 0) {
			cfg->mode = POLICY_MODE_POLICY;
			return;
		}
		if (strcasecmp(val, "tor-only") == 0 || strcasecmp(val, "tor_only") == 0) {
			cfg->mode = POLICY_MODE_TOR_ONLY;
			return;
		}
		if (strcasecmp(val, "onion-only") == 0 || strcasecmp(val, "onion_only") == 0) {
			cfg->mode = POLICY_MODE_ONION_ONLY;
			return;
		}
	}
	broken(cfg, "TORWRAP_MODE=\"%.*s\": not a mode (policy, tor-only or onion-only)", VAL(v));
}

static void config_isolation(struct tw_config *cfg, const char *v)
{
	static const struct {
		const char *word;
		enum policy_isolation iso;
	} words[] = {
		{ "process", POLICY_ISO_PROCESS },
		{ "none", POLICY_ISO_NONE },
		{ "connection", POLICY_ISO_CONNECTION },
		{ "destination", POLICY_ISO_DESTINATION },
	};
	char val[32];
	if (trimmed(v, val, sizeof(val))) {
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
			if (strcasecmp(val, words[i].word) == 0) {
				cfg->isolation = words[i].iso;
				return;
			}
		}
	}
	broken(cfg, "TORWRAP_ISOLATION=\"%.*s\": not an isolation (none, process, connection or destination)",
	       VAL(v));
}

/* "on"/"1" or "off"/"0" into *FLAG; anything else breaks the configuration, naming VAR. */
static void config_on_off(struct tw_config *cfg, const char *var, const char *v, bool *flag)
{
	char val[16];
	if (trimmed(v, val, sizeof(val))) {
		if (strcasecmp(val, "on") == 0 || strcmp(val, "1") == 0) {
			*flag = true;
			return;
		}
		if (strcasecmp(val, "off") == 0 || strcmp(val, "0") == 0) {
			*flag = false;
			return;
		}
	}
	broken(cfg, "%s=\"%.*s\": not on or off", var, VAL(v));
}

static void config_optimistic(struct tw_config *cfg, const char *v)
{
	config_on_off(cfg, "TORWRAP_OPTIMISTIC", v, &cfg->optimistic);
}

static void config_strict(struct tw_config *cfg, const char *v)
{
	config_on_off(cfg, "TORWRAP_STRICT", v, &cfg->strict);
}

static void config_internal_names(struct tw_config *cfg, const char *v)
{
	char val[16];
	if (trimmed(v, val, sizeof(val))) {
		if (strcasecmp(val, "refuse") == 0 || strcasecmp(val, "tor") == 0) {
			cfg->internal_to_tor = strcasecmp(val, "tor") == 0;
			return;
		}
	}
	broken(cfg, "TORWRAP_INTERNAL_NAMES=\"%.*s\": not refuse or tor", VAL(v));
}

/* Whole seconds, 0 (off) to one year: a typo such as "10m" or "-1" must not silently turn rotation off. */
#define CONFIG_ROTATION_MAX (366u * 24 * 3600)

static void config_rotation(struct tw_config *cfg, const char *v)
{
	char val[32];
	unsigned long s = 0;
	if (!trimmed(v, val, sizeof(val)) || !val[0] || strspn(val, "0123456789") != strlen(val) || strlen(val) > 9) {
		broken(cfg, "TOR_CIRCUIT_ROTATION_INTERVAL=\"%.*s\": not a whole number of seconds (0 = off)", VAL(v));
		return;
	}
	for (const char *p = val; *p; p++)
		s = s * 10 + (unsigned long)(*p - '0');
	if (s > CONFIG_ROTATION_MAX) {
		broken(cfg, "TOR_CIRCUIT_ROTATION_INTERVAL=\"%.*s\": at most %u seconds (one year)", VAL(v),
		       CONFIG_ROTATION_MAX);
		return;
	}
	cfg->rotation_s = (uint32_t)s;
}

/* The per-configuration seed of process and connection tokens. getrandom cannot fail for 8 bytes once the
 * kernel's pool is ready; should it (seccomp, an old kernel), time and addresses still separate the tokens of
 * processes that share a pid in different containers, which is all the seed is for. */
static uint64_t config_seed(void)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
		return seed;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&ts ^ (uint64_t)getpid();
}

static void config_path(struct tw_config *cfg, const char *var, const char *v, char *out, size_t outlen)
{
	if (!v)
		return;
	if (strlen(v) >= outlen) {
		broken(cfg, "%s=\"%.*s...\": path too long", var, VAL(v));
		return;
	}
	memcpy(out, v, strlen(v) + 1);
}

/* A log file's path, absolute: relative to the directory the program started in, not to the one it is in when it
 * logs. */
static void config_log_path(struct tw_config *cfg, const char *var, const char *v, char *out, size_t outlen)
{
	char cwd[4096], joined[8192];
	if (v && v[0] != '/' && getcwd(cwd, sizeof(cwd))) {
		snprintf(joined, sizeof(joined), "%s/%s", cwd, v);
		v = joined;
	}
	config_path(cfg, var, v, out, outlen);
}

/* TORWRAP_LOG_FORMAT, TORWRAP_LOG_FILE, TORWRAP_AUDIT_FILE. */
static void config_log(struct tw_config *cfg, policy_getenv_fn getenv_fn, void *ctx)
{
	const char *v = env(getenv_fn, ctx, "TORWRAP_LOG_FORMAT");
	if (v) {
		char val[16];
		int format = trimmed(v, val, sizeof(val)) ? tw_log_parse_format(val) : -1;
		if (format < 0)
			broken(cfg, "TORWRAP_LOG_FORMAT=\"%.*s\": not a log format (text or json)", VAL(v));
		else
			cfg->log_format = format;
	}
	config_log_path(cfg, "TORWRAP_LOG_FILE", env(getenv_fn, ctx, "TORWRAP_LOG_FILE"), cfg->log_file,
			sizeof(cfg->log_file));
	config_log_path(cfg, "TORWRAP_AUDIT_FILE", env(getenv_fn, ctx, "TORWRAP_AUDIT_FILE"), cfg->audit_file,
			sizeof(cfg->audit_file));
}

/* Reads FD to its end into *BUF (malloc'd, room for a NUL after *LEN bytes). Returns 0, -errno, -ENOMEM or
 * -EFBIG (more than MAX bytes). */
static int read_all(int fd, size_t max, char **out, size_t *outlen)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	int rc = buf ? 0 : -ENOMEM;
	while (rc == 0) {
		if (len + 1 >= cap) {
			char *p = cap > max ? NULL : realloc(buf, cap * 2);
			if (!p) {
				rc = cap > max ? -EFBIG : -ENOMEM;
				break;
			}
			buf = p;
			cap *= 2;
		}
		ssize_t r = tw_libc()->read(fd, buf + len, cap - len - 1);
		if (r == 0)
			break;
		if (r > 0)
			len += (size_t)r;
		else if (errno != EINTR)
			rc = -errno;
	}
	if (rc == 0 && len > max)
		rc = -EFBIG;
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* Reads all of PATH (at most MAX bytes) into a NUL-terminated buffer. Returns 0, -errno, -EFBIG (too big) or
 * -EILSEQ (a NUL byte: not a text file). The real close: this runs inside programs, under the hooks. */
static int read_text_file(const char *path, size_t max, char **text)
{
	*text = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = fstat(fd, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? -EISDIR : 0;
	char *buf = NULL;
	size_t len = 0;
	if (rc == 0)
		rc = read_all(fd, max, &buf, &len);
	tw_libc()->close(fd);
	if (rc == 0 && memchr(buf, '\0', len)) {
		free(buf);
		rc = -EILSEQ;
	}
	if (rc < 0)
		return rc;
	buf[len] = '\0';
	*text = buf;
	return 0;
}

static const char *errno_text(int e, char *buf, size_t len)
{
	if (e == EFBIG)
		return "too large";
	if (e == EILSEQ)
		return "holds a NUL byte (not a text file)";
#ifdef __GLIBC__
	/* GNU strerror_r: thread safe, returns the text (maybe not in BUF). */
	return strerror_r(e, buf, len);
#else
	/* XSI strerror_r (musl): fills BUF. */
	if (strerror_r(e, buf, len) != 0)
		snprintf(buf, len, "error %d", e);
	return buf;
#endif
}

/* The line number in a parse error "FILE:LINE: why" (0 when it is not there). */
static unsigned error_line(const char *err, const char *file)
{
	size_t n = strlen(file);
	if (strncmp(err, file, n) != 0 || err[n] != ':')
		return 0;
	return (unsigned)strtoul(err + n + 1, NULL, 10);
}

static int config_policy_file(struct tw_config *cfg)
{
	char *text;
	int e = read_text_file(cfg->policy_file, CONFIG_POLICY_MAX_BYTES, &text);
	if (e == -ENOMEM)
		return e;
	if (e < 0) {
		if (e == -ENOENT && !cfg->policy_file_explicit)
			return 0; /* no file at the default place: no allowlist */
		char eb[128];
		if (cfg->policy_file_explicit)
			broken(cfg, "TORWRAP_POLICY=\"%.*s\": cannot read: %s", VAL(cfg->policy_file),
			       errno_text(-e, eb, sizeof(eb)));
		else
			broken(cfg, "policy file \"%.*s\": cannot read: %s", VAL(cfg->policy_file),
			       errno_text(-e, eb, sizeof(eb)));
		return 0;
	}
	char err[sizeof(cfg->broken_reason)];
	e = policy_parse_text(&cfg->rules, text, cfg->policy_file, err, sizeof(err));
	free(text);
	if (e == -ENOMEM)
		return e;
	if (e < 0 && cfg->secure)
		broken(cfg, "%s:%u: not a valid rule (secure-execution mode: the line is not shown)", cfg->policy_file,
		       error_line(err, cfg->policy_file));
	else if (e < 0)
		broken(cfg, "%s", err);
	return 0;
}

/* resolv.conf or hosts (VAR names where the path came from) into *TEXT: "" when the file does not exist (a
 * container may well have neither), an error when it exists but cannot be read. Returns 0 or -ENOMEM. */
static int config_sysfile(struct tw_config *cfg, const char *var, const char *path, char **text)
{
	int e = read_text_file(path, CONFIG_SYSFILE_MAX_BYTES, text);
	if (e == -ENOMEM)
		return e;
	if (e < 0) {
		if (e != -ENOENT) {
			char eb[128];
			broken(cfg, "%s \"%.*s\": cannot read: %s", var, VAL(path), errno_text(-e, eb, sizeof(eb)));
		}
		*text = strdup("");
		if (!*text)
			return -ENOMEM;
	}
	return 0;
}

int config_build(struct tw_config *cfg, policy_getenv_fn getenv_fn, void *ctx)
{
	return config_build_ex(cfg, getenv_fn, ctx, 0);
}

/* Every setting's built-in default. */
static void config_defaults(struct tw_config *cfg)
{
	snprintf(cfg->proxy[0].host, sizeof(cfg->proxy[0].host), "%s", POLICY_DEFAULT_PROXY_HOST);
	cfg->proxy[0].port = POLICY_DEFAULT_PROXY_PORT;
	cfg->nproxy = 1;
	cfg->timeout_ms = POLICY_DEFAULT_TIMEOUT_MS;
	cfg->log_level = TW_LOG_WARN;
	snprintf(cfg->policy_file, sizeof(cfg->policy_file), "%s", POLICY_DEFAULT_FILE);
	snprintf(cfg->resolv_conf, sizeof(cfg->resolv_conf), "%s", "/etc/resolv.conf");
	snprintf(cfg->hosts_file, sizeof(cfg->hosts_file), "%s", "/etc/hosts");
	cfg->vnet_addr = htonl(0x7fc00000u); /* POLICY_DEFAULT_VNET */
	cfg->vnet_mask = htonl(0xffc00000u);
	cfg->mode = POLICY_MODE_POLICY;
	cfg->isolation = POLICY_ISO_PROCESS;
	cfg->rotation_s = 0;
	cfg->isolation_seed = config_seed();
}

static void config_log_level(struct tw_config *cfg, const char *v)
{
	char val[32];
	int level = trimmed(v, val, sizeof(val)) ? tw_log_parse_level(val) : -1;
	if (level < 0)
		broken(cfg, "TORWRAP_LOG_LEVEL=\"%.*s\": not a log level (none, error, warn, info, debug or 0-4)", VAL(v));
	else
		cfg->log_level = level;
}

/* The variables that hold one value each, through their parsers. */
static void config_values(struct tw_config *cfg, policy_getenv_fn getenv_fn, void *ctx)
{
	static const struct {
		const char *var;
		void (*parse)(struct tw_config *cfg, const char *v);
	} values[] = {
		{ "TOR_CONNECTIVITY_TIMEOUT", config_timeout },
		{ "TORWRAP_VIRTUAL_NET", config_vnet },
		{ "TORWRAP_MODE", config_mode },
		{ "TORWRAP_ISOLATION", config_isolation },
		{ "TOR_CIRCUIT_ROTATION_INTERVAL", config_rotation },
		{ "TORWRAP_OPTIMISTIC", config_optimistic },
		{ "TORWRAP_STRICT", config_strict },
		{ "TORWRAP_INTERNAL_NAMES", config_internal_names },
	};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		const char *v = env(getenv_fn, ctx, values[i].var);
		if (v)
			values[i].parse(cfg, v);
	}
}

/* The policy file (TORWRAP_POLICY) and NO_PROXY (or no_proxy) into the rules. Returns 0 or -ENOMEM. */
static int config_rules(struct tw_config *cfg, policy_getenv_fn getenv_fn, void *ctx)
{
	bool readable_name = true;
	const char *v = env(getenv_fn, ctx, "TORWRAP_POLICY");
	if (v) {
		cfg->policy_file_explicit = true;
		readable_name = strlen(v) < sizeof(cfg->policy_file);
		config_path(cfg, "TORWRAP_POLICY", v, cfg->policy_file, sizeof(cfg->policy_file));
	}
	int rc = readable_name ? config_policy_file(cfg) : 0;
	const char *var = "NO_PROXY";
	if (!(v = env(getenv_fn, ctx, var))) {
		var = "no_proxy";
		v = env(getenv_fn, ctx, var);
	}
	if (v && rc == 0) {
		char err[sizeof(cfg->broken_reason)];
		int e = policy_parse_no_proxy(&cfg->rules, v, err, sizeof(err));
		if (e == -ENOMEM)
			rc = e;
		else if (e < 0)
			broken(cfg, "%s: %s", var, err);
	}
	return rc;
}

int config_build_ex(struct tw_config *cfg, policy_getenv_fn getenv_fn, void *ctx, unsigned flags)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->secure = (flags & CONFIG_SECURE) != 0;
	if (cfg->secure)
		getenv_fn = no_getenv;
	else if (!getenv_fn)
		getenv_fn = real_getenv;
	config_defaults(cfg);

	const char *v = env(getenv_fn, ctx, "TORWRAP_LOG_LEVEL");
	if (v)
		config_log_level(cfg, v);
	config_log(cfg, getenv_fn, ctx);
	config_proxy(cfg, getenv_fn, ctx);
	config_values(cfg, getenv_fn, ctx);
	config_path(cfg, "TORWRAP_RESOLV_CONF", env(getenv_fn, ctx, "TORWRAP_RESOLV_CONF"), cfg->resolv_conf,
		    sizeof(cfg->resolv_conf));
	config_path(cfg, "TORWRAP_HOSTS", env(getenv_fn, ctx, "TORWRAP_HOSTS"), cfg->hosts_file,
		    sizeof(cfg->hosts_file));

	int rc = config_sysfile(cfg, "TORWRAP_RESOLV_CONF", cfg->resolv_conf, &cfg->resolv_text);
	if (rc == 0)
		rc = config_sysfile(cfg, "TORWRAP_HOSTS", cfg->hosts_file, &cfg->hosts_text);
	if (rc == 0)
		rc = config_rules(cfg, getenv_fn, ctx);
	if (rc < 0)
		broken(cfg, "out of memory while reading the configuration");
	return rc;
}

void config_free(struct tw_config *cfg)
{
	if (!cfg)
		return;
	policy_rules_free(&cfg->rules);
	free(cfg->resolv_text);
	free(cfg->hosts_text);
	cfg->resolv_text = NULL;
	cfg->hosts_text = NULL;
}

static struct tw_config config_global;

/* The process's lines about its configuration: the log's event "config". */
#define config_say(level, ...) tw_log_event((level), TW_EVENT("config", NULL, NULL, NULL), __VA_ARGS__)

static pthread_once_t config_once = PTHREAD_ONCE_INIT;

/* The one line saying that a secure process ignores its environment: a warning when the environment tried to
 * configure torwrap (its user then learns why it had no effect), for the record otherwise. */
static void config_log_secure(void)
{
	size_t ignored = 0;
	for (char **e = environ; e && *e; e++) /* the cookie is taken (shim/backstop.c): it configures nothing */
		ignored += tw_env_is_ours(*e) && strncmp(*e, TW_COOKIE_ENV "=", sizeof(TW_COOKIE_ENV)) != 0;
	if (ignored > 0)
		config_say(TW_LOG_WARN,
			   "secure-execution mode (setuid, setgid or file capabilities): %zu torwrap variable%s of the "
			   "environment ignored; built-in defaults and %s only",
			   ignored, ignored == 1 ? "" : "s", POLICY_DEFAULT_FILE);
	else
		config_say(TW_LOG_INFO,
			   "secure-execution mode (setuid, setgid or file capabilities): built-in defaults and %s only",
			   POLICY_DEFAULT_FILE);
}

static void config_init(void)
{
	bool secure = tw_secure_mode();
	config_build_ex(&config_global, NULL, NULL, secure ? CONFIG_SECURE : 0);
	tw_log_configure(config_global.log_level, config_global.log_format, config_global.log_file,
			 config_global.audit_file);
	if (secure)
		config_log_secure();
	if (config_global.broken) {
		config_say(TW_LOG_ERROR, "configuration broken: %s; refusing every connection that is not to this host",
			   config_global.broken_reason);
		return;
	}
	size_t ignored = 0;
	for (size_t i = 0; i < config_global.rules.count; i++) {
		const struct policy_rule *r = &config_global.rules.rule[i];
		ignored += r->verdict == POLICY_DIRECT;
		if (config_global.mode != POLICY_MODE_POLICY)
			continue; /* direct rules do nothing in the strict modes: no "goes direct" warning */
		if (r->kind != POLICY_T_ANY || r->verdict != POLICY_DIRECT || r->nports != 0)
			continue;
		if (r->line == 0)
			config_say(TW_LOG_WARN,
				   "NO_PROXY contains \"*\": every connection goes direct, except .onion names and tor "
				   "rules");
		else
			config_say(TW_LOG_WARN,
				   "%s:%u: \"direct *\": every connection goes direct unless a tor or refuse rule matches",
				   config_global.policy_file, r->line);
	}
	/* Not an error: a strict mode layered over the stack's usual allowlist is the expected way to use it. */
	if (config_global.mode != POLICY_MODE_POLICY && ignored > 0)
		config_say(TW_LOG_INFO, "mode %s: %zu direct rule%s (policy file and NO_PROXY) ignored",
			   policy_mode_name(config_global.mode), ignored, ignored == 1 ? "" : "s");
	config_say(TW_LOG_INFO,
		   "proxy %s, timeout %d ms, policy %s (%zu rules), mode %s, isolation %s, rotation %s%.0u%s",
		   config_global.proxy_list, config_global.timeout_ms, config_global.policy_file,
		   config_global.rules.count, policy_mode_name(config_global.mode),
		   policy_isolation_name(config_global.isolation), config_global.rotation_s ? "every " : "off",
		   config_global.rotation_s, config_global.rotation_s ? " s" : "");
}

const struct tw_config *config_get(void)
{
	pthread_once(&config_once, config_init);
	return &config_global;
}
