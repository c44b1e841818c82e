/* policy.h: torwrap's configuration and the routing decision (direct / tor / refuse).
 *
 * The configuration is built once (config_get) from the environment and the policy file, and is immutable
 * afterwards. Anything that cannot be parsed does not stop the build: it marks the configuration broken, with a
 * reason naming the variable or the file, line and problem, and policy_decide_* then refuses every destination
 * that is not loopback (fail closed).
 *
 * This module knows nothing of the hooks: it takes names and addresses and answers.
 */
#ifndef TORWRAP_POLICY_H
#define TORWRAP_POLICY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/tw.h"

#define POLICY_DEFAULT_FILE "/etc/torwrap/policy"
#define POLICY_DEFAULT_PROXY_HOST "tor-proxy"
#define POLICY_DEFAULT_PROXY_PORT 9050
#define POLICY_DEFAULT_TIMEOUT_MS 30000
#define POLICY_DEFAULT_VNET "127.192.0.0/10"

enum policy_verdict {
	POLICY_TOR = 0, /* through the SOCKS5 proxy (by name when there is one) */
	POLICY_DIRECT, /* the real connect(), the real resolver (c-ares, /etc/hosts) */
	POLICY_REFUSE, /* fail with EPERM and a log line */
};

const char *policy_verdict_name(enum policy_verdict v);

/* TORWRAP_MODE: how much the allowlist may do. */
enum policy_mode {
	POLICY_MODE_POLICY = 0, /* default: the allowlist goes direct, everything else through Tor */
	POLICY_MODE_TOR_ONLY, /* only loopback (and the proxy) direct; direct rules and NO_PROXY are ignored */
	POLICY_MODE_ONION_ONLY, /* only .onion destinations (through Tor) and loopback; everything else refused */
};

/* TORWRAP_ISOLATION: which streams may share a Tor circuit. Tor (IsolateSOCKSAuth, on by default) puts streams
 * with different SOCKS credentials on different circuits; torwrap chooses the credentials. */
enum policy_isolation {
	POLICY_ISO_PROCESS = 0, /* default: one token per process (pid and a random per-configuration seed) */
	POLICY_ISO_NONE, /* no credentials at all (method 00): every stream may share a circuit */
	POLICY_ISO_CONNECTION, /* a new token for every connection */
	POLICY_ISO_DESTINATION, /* a token derived from the destination host:port, the same in every process */
};

const char *policy_mode_name(enum policy_mode m);
const char *policy_isolation_name(enum policy_isolation i);

/* One allow/refuse rule. Port ranges: an empty list (nports == 0) means every port. */
#define POLICY_MAX_PORT_RANGES 16

enum policy_target_kind {
	POLICY_T_ANY, /* "*" */
	POLICY_T_NAME, /* exact name */
	POLICY_T_SUFFIX, /* ".example.com" / "*.example.com" in the file: subdomains only */
	POLICY_T_DOMAIN, /* NO_PROXY "example.com" / ".example.com": the name and its subdomains (curl) */
	POLICY_T_ADDR, /* an inclusive range of addresses in one family (a single address, a range, a CIDR) */
};

struct policy_rule {
	enum policy_verdict verdict; /* POLICY_DIRECT, POLICY_TOR or POLICY_REFUSE */
	enum policy_target_kind kind;
	char name[TW_NAME_MAX]; /* NAME / SUFFIX / DOMAIN: normalised, no leading dot */
	int family; /* ADDR: AF_INET or AF_INET6 */
	uint8_t lo[16], hi[16]; /* ADDR: inclusive bounds, network byte order (4 bytes used for AF_INET) */
	unsigned nports;
	uint16_t port_lo[POLICY_MAX_PORT_RANGES], port_hi[POLICY_MAX_PORT_RANGES];
	unsigned line; /* where it came from, for log lines: file line, or 0 for NO_PROXY */
	char source[80]; /* its text (the file line without its comment, or the NO_PROXY entry), cut at 79 bytes */
};

struct policy_rules {
	struct policy_rule *rule;
	size_t count;
};

/* One SOCKS5 proxy as configured: a name (each of its addresses is an instance) or a literal. */
#define POLICY_MAX_PROXIES 8
struct policy_proxy {
	char host[TW_NAME_MAX];
	uint16_t port;
};

struct tw_config {
	/* SOCKS5 proxies (tor-proxy:9050 by default): a comma-separated list in the variables. proxy_host and
	 * proxy_port are the first; proxy_list names them all ("a:9050,b:9050") for log lines. */
	char proxy_host[TW_NAME_MAX];
	uint16_t proxy_port;
	struct policy_proxy proxy[POLICY_MAX_PROXIES];
	unsigned nproxy;
	char proxy_list[512];
	/* Bounds every proxy handshake (connect to the proxy + SOCKS5 exchange), milliseconds. */
	int timeout_ms;
	int log_level;
	/* TORWRAP_LOG_FORMAT (enum tw_log_format), TORWRAP_LOG_FILE ("": stderr) and TORWRAP_AUDIT_FILE ("": none),
	 * made absolute while the configuration is built (a program that changes its directory keeps one file). */
	int log_format;
	char log_file[4096];
	char audit_file[4096];

	char policy_file[4096];
	bool policy_file_explicit; /* from TORWRAP_POLICY: a missing file is then an error */
	struct policy_rules rules; /* policy file rules, then NO_PROXY rules */

	/* Virtual address range handed out for names resolved through Tor (network byte order). */
	uint32_t vnet_addr; /* e.g. 127.192.0.0 */
	uint32_t vnet_mask; /* e.g. 255.192.0.0 */

	/* Where local resolution reads (TORWRAP_RESOLV_CONF / TORWRAP_HOSTS; defaults /etc/...). */
	char resolv_conf[4096];
	char hosts_file[4096];
	/* Their contents, read once while the configuration is built ("" when absent). */
	char *resolv_text;
	char *hosts_text;

	/* TORWRAP_MODE, TORWRAP_ISOLATION, TOR_CIRCUIT_ROTATION_INTERVAL (seconds, 0 = off). */
	enum policy_mode mode;
	enum policy_isolation isolation;
	uint32_t rotation_s;
	/* Random, drawn when the configuration is built: process tokens must differ between containers, where
	 * every main process is pid 1. */
	uint64_t isolation_seed;

	/* TORWRAP_INTERNAL_NAMES=tor: names that cannot exist on the Internet (policy_name_internal) go to Tor like
	 * any other when no rule allows them; by default (refuse) they are refused at lookup. */
	bool internal_to_tor;

	/* TORWRAP_OPTIMISTIC: a blocking connect through Tor returns once the SOCKS request is sent (the reply is
	 * taken off before the first read), as a non-blocking one always does. Off by default. */
	bool optimistic;

	/* TORWRAP_STRICT (torwrap --strict): no cookie exists; every network call of the tree is decided by the
	 * supervisor, whose virtual map is its own. The library then takes a name's virtual address from the
	 * supervisor's DNS responder instead of handing one out. Off by default. */
	bool strict;

	/* Secure-execution mode (CONFIG_SECURE): the environment was not read, and reasons name a file's line but
	 * never quote it. */
	bool secure;

	/* Fail-closed state: set when anything could not be parsed. */
	bool broken;
	char broken_reason[512];
};

/* Environment lookup, injectable so tests need not touch the process environment. */
typedef const char *(*policy_getenv_fn)(const char *name, void *ctx);

/* Builds CFG from the variables (through GETENV) and the policy file they name. Always fills CFG completely
 * (defaults where nothing is set); problems set cfg->broken and cfg->broken_reason. Returns 0, or -ENOMEM. */
int config_build(struct tw_config *cfg, policy_getenv_fn getenv_fn, void *ctx);

/* CONFIG_SECURE: for a setuid, setgid or setcap process (tw_secure_mode), whose environment is a user's. Every
 * variable is ignored (GETENV is never called): built-in defaults and POLICY_DEFAULT_FILE only. A line of the
 * policy file that cannot be parsed is named (file and line) but not quoted: the user could not have read it. */
#define CONFIG_SECURE 1u
int config_build_ex(struct tw_config *cfg, policy_getenv_fn getenv_fn, void *ctx, unsigned flags);
void config_free(struct tw_config *cfg);

/* The process's configuration: built from the real environment on first call (thread safe), then immutable.
 * Also sets the log level. Never NULL. */
const struct tw_config *config_get(void);

/* Parses the text of a policy file into RULES (appending). FILE names it in errors. Returns 0, or -EINVAL with
 * ERR (size ERRLEN) set to "FILE:LINE: problem". */
int policy_parse_text(struct policy_rules *rules, const char *text, const char *file, char *err, size_t errlen);

/* Parses a NO_PROXY value (curl's conventions) into RULES (appending, verdict DIRECT). */
int policy_parse_no_proxy(struct policy_rules *rules, const char *value, char *err, size_t errlen);

void policy_rules_free(struct policy_rules *rules);

/* Decision for a host NAME (normalised) and PORT (host byte order; 0 = unknown/any). Precedence, independent
 * of rule order: refuse > tor > direct > default (tor). localhost names and the proxies' own host names are
 * direct; .onion names are always tor; a broken configuration refuses everything that is not localhost. A name matched by a direct rule whose
 * port list excludes PORT is refused (it is internal: sending it to Tor would leak it and cannot work).
 * Modes: tor-only ignores direct rules (the proxy's name stays direct: talking to Tor is going through Tor);
 * onion-only refuses every name but localhost and .onion names, the proxy's name included (a program that
 * spoke SOCKS itself could name any destination). Refuse rules apply in every mode. */
enum policy_verdict policy_decide_name(const struct tw_config *cfg, const char *name, uint16_t port);

/* What made a decision, for log lines and `torwrap explain`. */
enum policy_reason_kind {
	POLICY_BY_DEFAULT = 0, /* no rule matched: Tor */
	POLICY_BY_RULE, /* RULE (a policy-file line, or a NO_PROXY entry when its line is 0) */
	POLICY_BY_LOCALHOST, /* localhost names, loopback and unspecified addresses */
	POLICY_BY_PROXY, /* one of the proxies' own names or addresses */
	POLICY_BY_ONION, /* a .onion name: Tor only */
	POLICY_BY_INTERNAL, /* a name that cannot exist on the Internet, not in the policy (TORWRAP_INTERNAL_NAMES) */
	POLICY_BY_VIRTUAL, /* an address of the virtual range: the name behind it decides */
	POLICY_BY_MODE, /* TORWRAP_MODE */
	POLICY_BY_BROKEN, /* the configuration is broken: fail closed */
	POLICY_BY_MALFORMED, /* not a host name or address: nothing could route it */
};

struct policy_reason {
	enum policy_reason_kind kind;
	const struct policy_rule *rule; /* POLICY_BY_RULE: inside the configuration's rules */
	bool port_unlisted; /* POLICY_BY_RULE: a direct rule named the destination, but not this port (refused) */
	const char *suffix; /* POLICY_BY_INTERNAL: the special-use suffix ("internal"), or NULL for a single label */
	/* Set by the routing engine: the address is direct only because an allowed name resolved to it (a record a
	 * front end keeps: under torwrap, the library's is in the program's reach, so the supervisor decides again). */
	bool learned;
};

/* policy_decide_name and policy_decide_addr, saying why in *WHY (which may be NULL). */
enum policy_verdict policy_decide_name_why(const struct tw_config *cfg, const char *name, uint16_t port,
					   struct policy_reason *why);
enum policy_verdict policy_decide_addr_why(const struct tw_config *cfg, const struct sockaddr *sa, socklen_t len,
					   struct policy_reason *why);

/* The reason in words, for log lines and the JSON log's "rule": "FILE:LINE", "NO_PROXY ENTRY", "mode tor-only",
 * "built-in localhost|proxy|onion|internal-name|virtual", "broken configuration", "malformed" or "default".
 * Returns BUF. */
const char *policy_reason_text(const struct tw_config *cfg, const struct policy_reason *why, char *buf, size_t len);

/* True when the normalised NAME cannot exist on the Internet: a single label (not localhost), or a name under a
 * special-use or customary private suffix (.local, .internal, .lan, .home.arpa, ...). .onion is not internal.
 * *SUFFIX (may be NULL) gets the suffix, or NULL for a single label. */
bool policy_name_internal(const char *name, const char **suffix);

/* Decision for an address (AF_INET / AF_INET6 sockaddr, port in it). v4-mapped IPv6 is unwrapped; loopback and
 * the unspecified address are direct (so is a proxy's address given as a literal), except the virtual range, which the caller must handle first (it is
 * answered POLICY_TOR here). Same precedence and modes as above: tor-only sends every other address through
 * Tor, onion-only refuses it. */
enum policy_verdict policy_decide_addr(const struct tw_config *cfg, const struct sockaddr *sa, socklen_t len);

/* Words saying why a destination was refused beyond what a rule says (the broken configuration, or the mode)
 * for log lines: written to BUF as "" or " (...)". NAME is the name refused, NULL for an address. */
const char *policy_refusal_why(const struct tw_config *cfg, const char *name, char *buf, size_t len);

/* ------------------------------------------------------------------------------------- stream isolation */

/* The SOCKS5 username for Tor's extended parameters (proposal 351): format 0, the password is an opaque
 * isolation token. */
#define POLICY_SOCKS_USER "<torS0X>0"
#define POLICY_TOKEN_MAX 48

/* What the isolation token of one stream may depend on; the caller supplies the facts, so the function is
 * pure and testable. */
struct policy_stream {
	const char *host; /* the destination as sent to the proxy: a name, or an address in text */
	uint16_t port;
	long pid;
	uint64_t conn_seq; /* this process's connection counter (isolation "connection") */
	int64_t now_s; /* wall-clock seconds: rotation epochs then agree between processes */
};

/* The SOCKS password (isolation token) for stream S under CFG's isolation and rotation, written to TOKEN
 * (at least POLICY_TOKEN_MAX bytes). Returns 1 when credentials are to be sent (user POLICY_SOCKS_USER,
 * password TOKEN), 0 when none are (isolation none without rotation: method 00), or -EINVAL. */
int policy_isolation_token(const struct tw_config *cfg, const struct policy_stream *s, char *token, size_t len);

/* True when the IPv4 address (network byte order) is in the virtual range. */
bool policy_is_virtual_v4(const struct tw_config *cfg, uint32_t addr);

#endif
