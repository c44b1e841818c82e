/* policy.c: the policy file and NO_PROXY parsers, and the routing decision for names and addresses.
 *
 * Pure functions over a struct tw_config: no environment, no I/O (config.c does that), so all of it is unit-tested.
 */
#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *policy_verdict_name(enum policy_verdict v)
{
	switch (v) {
	case POLICY_TOR:
		return "tor";
	case POLICY_DIRECT:
		return "direct";
	case POLICY_REFUSE:
		return "refuse";
	}
	return "?";
}

const char *policy_mode_name(enum policy_mode m)
{
	switch (m) {
	case POLICY_MODE_POLICY:
		return "policy";
	case POLICY_MODE_TOR_ONLY:
		return "tor-only";
	case POLICY_MODE_ONION_ONLY:
		return "onion-only";
	}
	return "?";
}

const char *policy_isolation_name(enum policy_isolation i)
{
	switch (i) {
	case POLICY_ISO_PROCESS:
		return "process";
	case POLICY_ISO_NONE:
		return "none";
	case POLICY_ISO_CONNECTION:
		return "connection";
	case POLICY_ISO_DESTINATION:
		return "destination";
	}
	return "?";
}

/* ------------------------------------------------------------------------------------------------ rule list */

/* The list carries no capacity field: it grows by doubling, so a count that is zero or a power of two (from 8 on)
 * is exactly when the array is full. */
static struct policy_rule *rules_add(struct policy_rules *rules)
{
	size_t n = rules->count;
	if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
		size_t cap = n == 0 ? 8 : n * 2;
		struct policy_rule *p = realloc(rules->rule, cap * sizeof(*p));
		if (!p)
			return NULL;
		rules->rule = p;
	}
	struct policy_rule *r = &rules->rule[rules->count++];
	memset(r, 0, sizeof(*r));
	return r;
}

void policy_rules_free(struct policy_rules *rules)
{
	if (!rules)
		return;
	free(rules->rule);
	rules->rule = NULL;
	rules->count = 0;
}

/* ---------------------------------------------------------------------------------------------- text bits */

struct tok {
	const char *p;
	size_t n;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool tok_eq(struct tok t, const char *word)
{
	size_t n = strlen(word);
	return t.n == n && strncasecmp(t.p, word, n) == 0;
}

static bool all_of(const char *s, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (!memchr(set, s[i], strlen(set)))
			return false;
	return true;
}

static size_t count_char(const char *s, size_t n, char c)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += s[i] == c;
	return k;
}

/* Quoted excerpts of user text in messages are capped, so one silly line cannot crowd out the rest. */
#define SHOW(s, n) (int)((n) > 80 ? 80 : (n)), (s)

static int why_set(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_set(char *why, size_t len, const char *fmt, ...)
{
	if (why && len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Decimal digits only (no sign, no blanks), value <= MAX. */
static int parse_uint(const char *s, size_t n, unsigned long max, unsigned long *out)
{
	if (n == 0 || n > 10)
		return -EINVAL;
	unsigned long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Strict dotted quad: four decimal octets, no leading zeros (which some parsers read as octal). */
static bool parse_v4(const char *s, size_t n, uint8_t out[4])
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		size_t start = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		size_t len = i - start;
		if (len == 0 || len > 3 || (len > 1 && s[start] == '0'))
			return false;
		unsigned long v;
		if (parse_uint(s + start, len, 255, &v) < 0)
			return false;
		out[part] = (uint8_t)v;
		if (part < 3) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == n;
}

static bool parse_v6(const char *s, size_t n, uint8_t out[16])
{
	char buf[INET6_ADDRSTRLEN + 1];
	if (n == 0 || n >= sizeof(buf) || memchr(s, '%', n))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, out) == 1;
}

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* ------------------------------------------------------------------------------------------------- targets */

/* An IPv6 rule that lies wholly inside ::ffff:0:0/96 is stored as the IPv4 rule it means, because addresses are
 * unwrapped before matching. */
static void addr_rule_unmap(struct policy_rule *r)
{
	if (r->family == AF_INET6 && memcmp(r->lo, v4mapped_prefix, 12) == 0 &&
	    memcmp(r->hi, v4mapped_prefix, 12) == 0) {
		r->family = AF_INET;
		memmove(r->lo, r->lo + 12, 4);
		memmove(r->hi, r->hi + 12, 4);
		memset(r->lo + 4, 0, 12);
		memset(r->hi + 4, 0, 12);
	}
}

/* "ADDR/PREFIX" (SLASH points at the '/') into R. STRICT_CIDR rejects host bits under the mask. */
static int parse_cidr(const char *s, size_t n, const char *slash, bool strict_cidr, struct policy_rule *r, char *why,
		      size_t whylen)
{
	size_t an = (size_t)(slash - s), pn = n - an - 1;
	uint8_t a[16] = { 0 };
	unsigned bits;
	if (parse_v4(s, an, a)) {
		r->family = AF_INET;
		bits = 32;
	} else if (parse_v6(s, an, a)) {
		r->family = AF_INET6;
		bits = 128;
	} else {
		return why_set(why, whylen, "bad address \"%.*s\"", SHOW(s, an));
	}
	unsigned long prefix;
	if (parse_uint(slash + 1, pn, bits, &prefix) < 0)
		return why_set(why, whylen, "bad prefix length \"/%.*s\" in \"%.*s\" (0-%u)", SHOW(slash + 1, pn),
			       SHOW(s, n), bits);
	bool host_bits = false;
	for (size_t i = 0; i < bits / 8; i++) {
		unsigned keep = prefix >= (i + 1) * 8 ? 8 : (prefix > i * 8 ? (unsigned)(prefix - i * 8) : 0);
		uint8_t mask = (uint8_t)(keep == 0 ? 0 : (0xff << (8 - keep)));
		if (a[i] & (uint8_t)~mask)
			host_bits = true;
		r->lo[i] = a[i] & mask;
		r->hi[i] = (uint8_t)(a[i] | (uint8_t)~mask);
	}
	if (host_bits && strict_cidr) {
		char net[INET6_ADDRSTRLEN];
		inet_ntop(r->family, r->lo, net, sizeof(net));
		return why_set(why, whylen, "host bits set in \"%.*s\" (the network is %s/%lu)", SHOW(s, n), net,
			       prefix);
	}
	addr_rule_unmap(r);
	return 0;
}

/* An IPv4 range "a.b.c.d-e" / "a.b.c.d-w.x.y.z" (DASH points at the '-') into R. */
static int parse_v4_range(const char *s, size_t n, const char *dash, struct policy_rule *r, char *why,
			  size_t whylen)
{
	size_t ln = (size_t)(dash - s), rn = n - ln - 1;
	const char *rs = dash + 1;
	unsigned long last;
	bool ok = parse_v4(s, ln, r->lo);
	if (ok) {
		memcpy(r->hi, r->lo, 4);
		if (memchr(rs, '.', rn))
			ok = parse_v4(rs, rn, r->hi);
		else if (rn > 0 && rn <= 3 && !(rn > 1 && rs[0] == '0') && parse_uint(rs, rn, 255, &last) == 0)
			r->hi[3] = (uint8_t)last;
		else
			ok = false;
	}
	if (!ok || memcmp(r->lo, r->hi, 4) > 0)
		return why_set(why, whylen, "bad address range %.*s", SHOW(s, n));
	r->family = AF_INET;
	return 0;
}

/* Parses an address target into R: a single IPv4 or IPv6 address, a CIDR, or (ALLOW_RANGE) an IPv4 range
 * "a.b.c.d-e" / "a.b.c.d-w.x.y.z". STRICT_CIDR rejects host bits under the mask (the file: a typo there would
 * silently allow more than meant); NO_PROXY masks them off like curl. */
static int parse_addr_target(const char *s, size_t n, bool allow_range, bool strict_cidr, struct policy_rule *r,
			     char *why, size_t whylen)
{
	r->kind = POLICY_T_ADDR;
	const char *slash = memchr(s, '/', n);
	if (slash)
		return parse_cidr(s, n, slash, strict_cidr, r, why, whylen);
	const char *dash = allow_range ? memchr(s, '-', n) : NULL;
	if (dash)
		return parse_v4_range(s, n, dash, r, why, whylen);
	if (parse_v4(s, n, r->lo)) {
		r->family = AF_INET;
		memcpy(r->hi, r->lo, 4);
		return 0;
	}
	if (memchr(s, ':', n) && parse_v6(s, n, r->lo)) {
		r->family = AF_INET6;
		memcpy(r->hi, r->lo, 16);
		addr_rule_unmap(r);
		return 0;
	}
	if (memchr(s, ':', n))
		return why_set(why, whylen, "bad IPv6 address \"%.*s\"", SHOW(s, n));
	return why_set(why, whylen, "bad IPv4 address \"%.*s\"", SHOW(s, n));
}

/* A host name target; KIND is NAME, SUFFIX or DOMAIN (the leading "." / "*." already taken off). */
static int parse_name_target(const char *s, size_t n, enum policy_target_kind kind, struct policy_rule *r,
			     const char *shown, size_t shown_n, char *why, size_t whylen)
{
	char buf[TW_NAME_MAX];
	size_t len = (n > 0 && s[n - 1] == '.') ? n - 1 : n;
	if (len > 253)
		return why_set(why, whylen, "bad host name \"%.*s...\" (longer than 253 characters)", SHOW(shown, shown_n));
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (tw_name_normalize(buf, r->name) < 0) {
		return why_set(why, whylen,
			       "bad host name \"%.*s\" (letters, digits, '-', '_' and '.' only; labels 1-63 characters)",
			       SHOW(shown, shown_n));
	}
	r->kind = kind;
	return 0;
}

/* Looks like an attempt at an IPv4 address (so errors speak of addresses, not names). DNS top-level domains are
 * never all digits, so no real host name is taken for one. */
static bool looks_v4(const char *s, size_t n, bool allow_range)
{
	return n > 0 && s[0] >= '0' && s[0] <= '9' && all_of(s, n, allow_range ? "0123456789./-" : "0123456789./");
}

/* Splits "[v6]", "[v6/len]" or "[v6]/len", with an optional ":PORTS" after, into the address part (copied to
 * ADDR) and the port part. */
static int split_brackets(const char *s, size_t n, char *addr, size_t addrlen, struct tok *ports, char *why,
			  size_t whylen)
{
	const char *close = memchr(s, ']', n);
	if (!close)
		return why_set(why, whylen, "missing ']' in \"%.*s\"", SHOW(s, n));
	size_t in = (size_t)(close - s) - 1;
	const char *rest = close + 1;
	size_t rn = n - (size_t)(rest - s);
	size_t pfx = 0;
	if (rn > 0 && rest[0] == '/') {
		const char *colon = memchr(rest, ':', rn);
		pfx = colon ? (size_t)(colon - rest) : rn;
	}
	if (in == 0 || !memchr(s + 1, ':', in))
		return why_set(why, whylen, "brackets are for IPv6 addresses: \"%.*s\"", SHOW(s, n));
	if (in + pfx >= addrlen)
		return why_set(why, whylen, "bad IPv6 address \"%.*s\"", SHOW(s, n));
	memcpy(addr, s + 1, in);
	memcpy(addr + in, rest, pfx);
	addr[in + pfx] = '\0';
	rest += pfx;
	rn -= pfx;
	ports->p = NULL;
	ports->n = 0;
	if (rn > 0) {
		if (rest[0] != ':')
			return why_set(why, whylen, "unexpected \"%.*s\" after ']'", SHOW(rest, rn));
		ports->p = rest + 1;
		ports->n = rn - 1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------------------- ports */

/* Adds the ports of S (comma separated "P" or "P-Q" items) to R. */
static int parse_ports(const char *s, size_t n, struct policy_rule *r, char *why, size_t whylen)
{
	size_t i = 0;
	while (i < n) {
		size_t start = i;
		while (i < n && s[i] != ',')
			i++;
		const char *item = s + start;
		size_t len = i - start;
		if (i < n)
			i++; /* the comma */
		if (len == 0)
			continue; /* "80,,443" and the blanks of "80, 443" */
		const char *dash = memchr(item, '-', len);
		unsigned long lo, hi;
		size_t ln = dash ? (size_t)(dash - item) : len;
		if (parse_uint(item, ln, 65535, &lo) < 0 || lo == 0)
			return why_set(why, whylen, "bad port \"%.*s\" (1-65535)", SHOW(item, len));
		hi = lo;
		if (dash && (parse_uint(dash + 1, len - ln - 1, 65535, &hi) < 0 || hi == 0))
			return why_set(why, whylen, "bad port \"%.*s\" (1-65535)", SHOW(item, len));
		if (hi < lo)
			return why_set(why, whylen, "bad port range \"%.*s\" (first port after last)", SHOW(item, len));
		if (r->nports >= POLICY_MAX_PORT_RANGES)
			return why_set(why, whylen, "too many ports (at most %d items)", POLICY_MAX_PORT_RANGES);
		r->port_lo[r->nports] = (uint16_t)lo;
		r->port_hi[r->nports] = (uint16_t)hi;
		r->nports++;
	}
	if (r->nports == 0)
		return why_set(why, whylen, "missing port number");
	return 0;
}

/* --------------------------------------------------------------------------------------------- policy file */

static bool verb_of(struct tok t, enum policy_verdict *v)
{
	if (tok_eq(t, "direct") || tok_eq(t, "allow"))
		*v = POLICY_DIRECT;
	else if (tok_eq(t, "tor"))
		*v = POLICY_TOR;
	else if (tok_eq(t, "refuse") || tok_eq(t, "deny"))
		*v = POLICY_REFUSE;
	else
		return false;
	return true;
}

static bool is_port_word(struct tok t)
{
	return tok_eq(t, "port") || tok_eq(t, "ports");
}

/* The target word of a file line, with its optional ":PORTS" suffix. */
static int parse_file_target(struct tok t, struct policy_rule *r, char *why, size_t whylen)
{
	const char *s = t.p;
	size_t n = t.n;
	struct tok ports = { NULL, 0 };
	bool has_ports = false;

	if (s[0] == '[') {
		char addr[INET6_ADDRSTRLEN + 8];
		int e = split_brackets(s, n, addr, sizeof(addr), &ports, why, whylen);
		if (e < 0)
			return e;
		has_ports = ports.p != NULL;
		e = parse_addr_target(addr, strlen(addr), false, true, r, why, whylen);
		if (e < 0)
			return e;
	} else if (count_char(s, n, ':') >= 2) {
		/* Bare IPv6: its colons leave no room for a port (write "[fd00::1]:443"). */
		int e = parse_addr_target(s, n, false, true, r, why, whylen);
		if (e < 0)
			return e;
	} else {
		const char *colon = memchr(s, ':', n);
		if (colon) {
			ports.p = colon + 1;
			ports.n = n - (size_t)(colon - s) - 1;
			has_ports = true;
			n = (size_t)(colon - s);
		}
		if (n == 0)
			return why_set(why, whylen, "missing target before \":%.*s\"", SHOW(ports.p, ports.n));
		int e;
		if (n == 1 && s[0] == '*') {
			r->kind = POLICY_T_ANY;
			e = 0;
		} else if (n >= 2 && s[0] == '*' && s[1] == '.') {
			e = parse_name_target(s + 2, n - 2, POLICY_T_SUFFIX, r, s, n, why, whylen);
		} else if (s[0] == '.') {
			e = parse_name_target(s + 1, n - 1, POLICY_T_SUFFIX, r, s, n, why, whylen);
		} else if (looks_v4(s, n, true) || memchr(s, '/', n)) {
			e = parse_addr_target(s, n, true, true, r, why, whylen);
		} else if (memchr(s, '*', n)) {
			e = why_set(why, whylen, "bad target \"%.*s\" ('*' only alone or as \"*.domain\")", SHOW(s, n));
		} else {
			e = parse_name_target(s, n, POLICY_T_NAME, r, s, n, why, whylen);
		}
		if (e < 0)
			return e;
	}
	if (has_ports) {
		if (ports.n == 0)
			return why_set(why, whylen, "missing port after ':' in \"%.*s\"", SHOW(t.p, t.n));
		return parse_ports(ports.p, ports.n, r, why, whylen);
	}
	return 0;
}

#define LINE_MAX_WORDS 32

/* The rule's text for `torwrap explain`, blanks around it trimmed and runs of them made one space. */
static void rule_source(struct policy_rule *r, const char *s, size_t n)
{
	size_t o = 0;
	bool blank = false;
	for (size_t i = 0; i < n && o + 1 < sizeof(r->source); i++) {
		if (is_space(s[i]) || s[i] == '\r') {
			blank = o > 0;
			continue;
		}
		if (blank && o + 2 < sizeof(r->source))
			r->source[o++] = ' ';
		blank = false;
		r->source[o++] = s[i];
	}
	r->source[o] = '\0';
}

/* Splits S (N bytes) at blanks into W (at most LINE_MAX_WORDS). Returns the count, or -EINVAL with WHY. */
static int split_words(const char *s, size_t n, struct tok w[LINE_MAX_WORDS], char *why, size_t whylen)
{
	int nw = 0;
	size_t i = 0;
	while (i < n) {
		while (i < n && is_space(s[i]))
			i++;
		if (i >= n)
			break;
		size_t start = i;
		while (i < n && !is_space(s[i]))
			i++;
		if (nw == LINE_MAX_WORDS)
			return why_set(why, whylen, "too many words");
		w[nw].p = s + start;
		w[nw].n = i - start;
		nw++;
	}
	return nw;
}

/* The words after the target: "port LIST..." (W[K] is the word "port"/"ports", NW words in all). */
static int parse_port_words(const struct tok *w, size_t k, size_t nw, struct policy_rule *rule, char *why,
			    size_t whylen)
{
	if (!is_port_word(w[k]))
		return why_set(why, whylen, "unexpected \"%.*s\" after target \"%.*s\" (ports: \"port 80,443\")",
			       SHOW(w[k].p, w[k].n), SHOW(w[k - 1].p, w[k - 1].n));
	if (rule->nports > 0)
		return why_set(why, whylen, "ports given twice (\":PORTS\" and \"%.*s\")", SHOW(w[k].p, w[k].n));
	for (size_t j = k + 1; j < nw; j++) {
		/* Each word may hold a list; parse_ports skips the empty items that "80, 443" leaves. */
		if (w[j].n == 1 && w[j].p[0] == ',')
			continue;
		int e = parse_ports(w[j].p, w[j].n, rule, why, whylen);
		if (e < 0)
			return e;
	}
	if (rule->nports == 0)
		return why_set(why, whylen, "missing port list after \"%.*s\"", SHOW(w[k].p, w[k].n));
	return 0;
}

/* The verb of a line of NW words W, in *VERDICT (direct when there is none); *K gets the target's index. */
static int parse_verb(const struct tok *w, size_t nw, enum policy_verdict *verdict, size_t *k, char *why,
		      size_t whylen)
{
	*verdict = POLICY_DIRECT;
	*k = 0;
	if (verb_of(w[0], verdict)) {
		/* "tor" alone could be a host called tor; say so rather than guess. */
		if (nw == 1 || is_port_word(w[1]))
			return why_set(why, whylen, "missing target after \"%.*s\" (a host named so: write \"direct %.*s\")",
				       SHOW(w[0].p, w[0].n), SHOW(w[0].p, w[0].n));
		*k = 1;
	} else if (nw >= 2 && !is_port_word(w[1]) && all_of(w[0].p, w[0].n,
								 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") &&
		   !all_of(w[1].p, w[1].n, "0123456789,-")) {
		return why_set(why, whylen, "unknown verb \"%.*s\" (direct, allow, tor, refuse or deny)",
			       SHOW(w[0].p, w[0].n));
	}
	return 0;
}

/* One line (comment already cut off). Returns 0 (including for a blank line), -EINVAL with WHY, or -ENOMEM. */
static int parse_line(struct policy_rules *rules, const char *s, size_t n, unsigned lineno, char *why,
		      size_t whylen)
{
	struct tok w[LINE_MAX_WORDS];
	int nw = split_words(s, n, w, why, whylen);
	if (nw <= 0)
		return nw;
	enum policy_verdict verdict;
	size_t k;
	int e = parse_verb(w, (size_t)nw, &verdict, &k, why, whylen);
	if (e < 0)
		return e;
	struct policy_rule rule;
	memset(&rule, 0, sizeof(rule));
	e = parse_file_target(w[k], &rule, why, whylen);
	if (e == 0 && k + 1 < (size_t)nw)
		e = parse_port_words(w, k + 1, (size_t)nw, &rule, why, whylen);
	if (e < 0)
		return e;
	rule.verdict = verdict;
	rule.line = lineno;
	rule_source(&rule, s, n);
	struct policy_rule *slot = rules_add(rules);
	if (!slot)
		return -ENOMEM;
	*slot = rule;
	return 0;
}

int policy_parse_text(struct policy_rules *rules, const char *text, const char *file, char *err, size_t errlen)
{
	if (!rules || !text)
		return -EINVAL;
	if (!file)
		file = "policy";
	unsigned lineno = 0;
	const char *p = text;
	while (*p) {
		lineno++;
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *hash = memchr(p, '#', len);
		size_t use = hash ? (size_t)(hash - p) : len;
		char why[400];
		why[0] = '\0';
		int e = parse_line(rules, p, use, lineno, why, sizeof(why));
		if (e == -ENOMEM)
			return e;
		if (e < 0) {
			if (err && errlen)
				snprintf(err, errlen, "%s:%u: %s", file, lineno, why);
			return -EINVAL;
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------------ NO_PROXY */

static int parse_no_proxy_entry(const char *s, size_t n, struct policy_rule *r, char *why, size_t whylen)
{
	r->verdict = POLICY_DIRECT;
	r->line = 0;
	if (s[0] == '[') {
		char addr[INET6_ADDRSTRLEN + 8];
		struct tok port; /* curl ignores the port of a NO_PROXY entry; so do we */
		int e = split_brackets(s, n, addr, sizeof(addr), &port, why, whylen);
		if (e < 0)
			return e;
		return parse_addr_target(addr, strlen(addr), false, false, r, why, whylen);
	}
	if (count_char(s, n, ':') >= 2)
		return parse_addr_target(s, n, false, false, r, why, whylen);
	const char *colon = memchr(s, ':', n);
	if (colon)
		n = (size_t)(colon - s);
	if (n == 1 && s[0] == '*') {
		r->kind = POLICY_T_ANY;
		return 0;
	}
	if (n >= 2 && s[0] == '*' && s[1] == '.') {
		/* Not curl, but common elsewhere (Go, Python): read as ".domain". */
		s++;
		n--;
	}
	if (n > 0 && s[0] == '.')
		return parse_name_target(s + 1, n - 1, POLICY_T_DOMAIN, r, s, n, why, whylen);
	if (n == 0)
		return why_set(why, whylen, "missing host");
	if (looks_v4(s, n, false) || memchr(s, '/', n))
		return parse_addr_target(s, n, false, false, r, why, whylen);
	return parse_name_target(s, n, POLICY_T_DOMAIN, r, s, n, why, whylen);
}

int policy_parse_no_proxy(struct policy_rules *rules, const char *value, char *err, size_t errlen)
{
	if (!rules)
		return -EINVAL;
	if (!value)
		return 0;
	const char *p = value;
	while (*p) {
		while (*p == ',' || is_space(*p) || *p == '\n')
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && *p != ',' && !is_space(*p) && *p != '\n')
			p++;
		size_t n = (size_t)(p - start);
		struct policy_rule rule;
		memset(&rule, 0, sizeof(rule));
		char why[400];
		why[0] = '\0';
		if (parse_no_proxy_entry(start, n, &rule, why, sizeof(why)) < 0) {
			if (err && errlen)
				snprintf(err, errlen, "entry \"%.*s\": %s", SHOW(start, n), why);
			return -EINVAL;
		}
		rule_source(&rule, start, n);
		struct policy_rule *slot = rules_add(rules);
		if (!slot)
			return -ENOMEM;
		*slot = rule;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------------ decision */

/* What the matching rules say, collected over all of them so that rule order never matters. */
struct verdicts {
	const struct policy_rule *refuse, *tor, *direct, *direct_other_port;
	bool named; /* some rule names the destination, whatever its ports or the mode: the policy knows it */
	bool set_aside; /* a direct rule names it, but the mode sets the allowlist aside */
};

static bool port_listed(const struct policy_rule *r, uint16_t port)
{
	if (r->nports == 0 || port == 0)
		return true;
	for (unsigned i = 0; i < r->nports; i++)
		if (port >= r->port_lo[i] && port <= r->port_hi[i])
			return true;
	return false;
}

static void note(const struct tw_config *cfg, struct verdicts *v, const struct policy_rule *r, uint16_t port)
{
	v->named = true;
	/* tor-only: the allowlist is set aside (and onion-only never gets here for anything but .onion names). */
	if (cfg->mode != POLICY_MODE_POLICY && r->verdict == POLICY_DIRECT) {
		v->set_aside = true;
		return;
	}
	if (!port_listed(r, port)) {
		if (r->verdict == POLICY_DIRECT && !v->direct_other_port)
			v->direct_other_port = r;
		return;
	}
	const struct policy_rule **slot = r->verdict == POLICY_REFUSE ? &v->refuse
					  : r->verdict == POLICY_TOR  ? &v->tor
								      : &v->direct;
	if (!*slot)
		*slot = r;
}

static enum policy_verdict because(struct policy_reason *why, enum policy_reason_kind kind, enum policy_verdict v)
{
	if (why) {
		memset(why, 0, sizeof(*why));
		why->kind = kind;
	}
	return v;
}

/* refuse > tor > direct > a direct destination on a port it was not allowed (refused: it is internal, and Tor
 * could not reach it anyway) > default tor. */
static enum policy_verdict conclude(const struct verdicts *v, const char *what, uint16_t port,
				    struct policy_reason *why)
{
	const struct policy_rule *by = NULL;
	enum policy_verdict out = POLICY_TOR;
	if (v->refuse) {
		by = v->refuse;
		out = POLICY_REFUSE;
	} else if (v->tor) {
		by = v->tor;
		out = POLICY_TOR;
	} else if (v->direct) {
		by = v->direct;
		out = POLICY_DIRECT;
	} else if (v->direct_other_port) {
		by = v->direct_other_port;
		out = POLICY_REFUSE;
	}
	because(why, by ? POLICY_BY_RULE : v->set_aside ? POLICY_BY_MODE : POLICY_BY_DEFAULT, out);
	if (why) {
		why->rule = by;
		why->port_unlisted = by && by == v->direct_other_port;
	}
	if (by && by->line)
		tw_debug("policy: %s port %u: %s (policy line %u)", what, port, policy_verdict_name(out), by->line);
	else if (by)
		tw_debug("policy: %s port %u: %s (NO_PROXY)", what, port, policy_verdict_name(out));
	return out;
}

static bool name_matches(const struct policy_rule *r, const char *name)
{
	switch (r->kind) {
	case POLICY_T_ANY:
		return true;
	case POLICY_T_NAME:
		return strcmp(name, r->name) == 0;
	case POLICY_T_SUFFIX:
		return strcmp(name, r->name) != 0 && tw_name_in_domain(name, r->name);
	case POLICY_T_DOMAIN:
		return tw_name_in_domain(name, r->name);
	case POLICY_T_ADDR:
		return false;
	}
	return false;
}

static bool addr_matches(const struct policy_rule *r, int family, const uint8_t *a)
{
	if (r->kind == POLICY_T_ANY)
		return true;
	if (r->kind != POLICY_T_ADDR || r->family != family)
		return false;
	size_t len = family == AF_INET ? 4 : 16;
	return memcmp(a, r->lo, len) >= 0 && memcmp(a, r->hi, len) <= 0;
}

/* Decides NAME as the IPv6 literal it is (a "%zone" does not matter to policy). */
static enum policy_verdict decide_v6_literal(const struct tw_config *cfg, const char *name, uint16_t port,
					     struct policy_reason *why)
{
	struct sockaddr_in6 sin6;
	memset(&sin6, 0, sizeof(sin6));
	const char *pct = strchr(name, '%');
	size_t n = pct ? (size_t)(pct - name) : strlen(name);
	if (!parse_v6(name, n, sin6.sin6_addr.s6_addr)) /* a colon, yet no address: nothing could route it */
		return because(why, POLICY_BY_MALFORMED, POLICY_REFUSE);
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(port);
	return policy_decide_addr_why(cfg, (const struct sockaddr *)&sin6, sizeof(sin6), why);
}

/* One of the proxies' own names (talking to Tor is going through Tor). */
static bool is_proxy_name(const struct tw_config *cfg, const char *norm)
{
	for (unsigned i = 0; i < cfg->nproxy; i++)
		if (strcasecmp(norm, cfg->proxy[i].host) == 0)
			return true;
	return false;
}

/* Suffixes reserved for local use (RFC 6761, 6762, 8375, ICANN's .internal) or customary on private networks:
 * no exit relay can resolve them, and asking one tells it the stack's internal names. dns.podman is podman's
 * container DNS domain (aardvark-dns; `search dns.podman` in every container's resolv.conf): resolvers that walk
 * the search list themselves (Go's) ask lucid-mongodb.dns.podman before lucid-mongodb; refused, they go on to
 * the name the policy allows. */
static const char *const internal_suffixes[] = {
	"local", "localdomain", "internal", "intranet", "lan", "home.arpa", "home", "corp", "private", "invalid",
	"dns.podman",
};

bool policy_name_internal(const char *name, const char **suffix)
{
	if (suffix)
		*suffix = NULL;
	if (!name || !*name || tw_name_is_localhost(name) || tw_name_is_onion(name))
		return false;
	if (!strchr(name, '.'))
		return true;
	for (size_t i = 0; i < sizeof(internal_suffixes) / sizeof(internal_suffixes[0]); i++) {
		if (tw_name_in_domain(name, internal_suffixes[i])) {
			if (suffix)
				*suffix = internal_suffixes[i];
			return true;
		}
	}
	return false;
}

/* A name that was not an address: its rules, then the built-in refusal of internal names. */
static enum policy_verdict decide_host_name(const struct tw_config *cfg, const char *norm, uint16_t port,
					    struct policy_reason *why)
{
	struct verdicts v = { 0 };
	for (size_t i = 0; i < cfg->rules.count; i++)
		if (name_matches(&cfg->rules.rule[i], norm))
			note(cfg, &v, &cfg->rules.rule[i], port);
	/* An onion service exists only inside Tor: a direct rule cannot apply, a refuse rule still does. */
	if (tw_name_is_onion(norm)) {
		if (v.refuse)
			return conclude(&(struct verdicts){ .refuse = v.refuse }, norm, port, why);
		return because(why, POLICY_BY_ONION, POLICY_TOR);
	}
	const char *suffix;
	if (!v.named && !cfg->internal_to_tor && policy_name_internal(norm, &suffix)) {
		because(why, POLICY_BY_INTERNAL, POLICY_REFUSE);
		if (why)
			why->suffix = suffix;
		return POLICY_REFUSE;
	}
	return conclude(&v, norm, port, why);
}

enum policy_verdict policy_decide_name_why(const struct tw_config *cfg, const char *name, uint16_t port,
					   struct policy_reason *why)
{
	if (!cfg || !name)
		return because(why, POLICY_BY_MALFORMED, POLICY_REFUSE);
	/* An address handed over as a name is decided as that address: the rules for it are address rules. */
	if (strchr(name, ':'))
		return decide_v6_literal(cfg, name, port, why);
	char norm[TW_NAME_MAX];
	if (tw_name_normalize(name, norm) < 0) /* not a host name: nothing could route it */
		return because(why, POLICY_BY_MALFORMED, POLICY_REFUSE);
	/* inet_aton, as getaddrinfo uses: "134744072", "0x8.8.8.8" and "8.8.8.8." are 8.8.8.8 to libc, so they must
	 * meet the rules for 8.8.8.8 rather than slip past them as names. */
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	if (inet_aton(norm, &sin.sin_addr)) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		return policy_decide_addr_why(cfg, (const struct sockaddr *)&sin, sizeof(sin), why);
	}
	if (tw_name_is_localhost(norm))
		return because(why, POLICY_BY_LOCALHOST, POLICY_DIRECT);
	if (cfg->broken)
		return because(why, POLICY_BY_BROKEN, POLICY_REFUSE);
	if (cfg->mode == POLICY_MODE_ONION_ONLY && !tw_name_is_onion(norm)) {
		tw_debug("policy: %s port %u: refuse (mode onion-only)", norm, port);
		return because(why, POLICY_BY_MODE, POLICY_REFUSE);
	}
	if (cfg->mode != POLICY_MODE_ONION_ONLY && is_proxy_name(cfg, norm))
		return because(why, POLICY_BY_PROXY, POLICY_DIRECT);
	return decide_host_name(cfg, norm, port, why);
}

enum policy_verdict policy_decide_name(const struct tw_config *cfg, const char *name, uint16_t port)
{
	return policy_decide_name_why(cfg, name, port, NULL);
}

bool policy_is_virtual_v4(const struct tw_config *cfg, uint32_t addr)
{
	return cfg && cfg->vnet_mask != 0 && (addr & cfg->vnet_mask) == cfg->vnet_addr;
}

/* A proxy's address when its host is a literal (an unwrapped v4-mapped literal counts as IPv4). */
static bool proxy_literal(const char *host, int *family, uint8_t a[16])
{
	if (inet_pton(AF_INET, host, a) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, host, a) == 1) {
		*family = AF_INET6;
		if (memcmp(a, v4mapped_prefix, 12) == 0) {
			memmove(a, a + 12, 4);
			*family = AF_INET;
		}
		return true;
	}
	return false;
}

/* The family, address (v4-mapped unwrapped) and port of SA. False when it is not a whole inet sockaddr. */
static bool addr_split(const struct sockaddr *sa, socklen_t len, int *family, uint8_t a[16], uint16_t *port)
{
	/* Copied out rather than cast: the caller's buffer need not be aligned for sockaddr_in6. */
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;
		memcpy(&sin, sa, sizeof(sin));
		*family = AF_INET;
		memcpy(a, &sin.sin_addr, 4);
		*port = ntohs(sin.sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, sa, sizeof(sin6));
		*port = ntohs(sin6.sin6_port);
		bool mapped = memcmp(sin6.sin6_addr.s6_addr, v4mapped_prefix, 12) == 0;
		*family = mapped ? AF_INET : AF_INET6;
		memcpy(a, sin6.sin6_addr.s6_addr + (mapped ? 12 : 0), mapped ? 4 : 16);
		return true;
	}
	return false;
}

/* Loopback and the unspecified address: this host. */
static bool addr_is_local(int family, const uint8_t *a)
{
	static const uint8_t any6[16] = { 0 };
	static const uint8_t lo6[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	if (family == AF_INET)
		return a[0] == 127 || (a[0] | a[1] | a[2] | a[3]) == 0;
	return memcmp(a, any6, 16) == 0 || memcmp(a, lo6, 16) == 0;
}

static bool is_proxy_addr(const struct tw_config *cfg, int family, const uint8_t *a)
{
	for (unsigned i = 0; i < cfg->nproxy; i++) {
		int pfam;
		uint8_t pa[16];
		if (proxy_literal(cfg->proxy[i].host, &pfam, pa) && pfam == family &&
		    memcmp(pa, a, family == AF_INET ? 4 : 16) == 0)
			return true;
	}
	return false;
}

enum policy_verdict policy_decide_addr_why(const struct tw_config *cfg, const struct sockaddr *sa, socklen_t len,
					   struct policy_reason *why)
{
	int family;
	uint8_t a[16] = { 0 };
	uint16_t port;
	if (!cfg || !sa || !addr_split(sa, len, &family, a, &port))
		return because(why, POLICY_BY_MALFORMED, POLICY_REFUSE); /* the caller should not have asked */
	if (family == AF_INET) {
		uint32_t v4;
		memcpy(&v4, a, 4);
		if (policy_is_virtual_v4(cfg, v4))
			return cfg->broken ? because(why, POLICY_BY_BROKEN, POLICY_REFUSE)
					   : because(why, POLICY_BY_VIRTUAL, POLICY_TOR);
	}
	if (addr_is_local(family, a))
		return because(why, POLICY_BY_LOCALHOST, POLICY_DIRECT);
	if (cfg->broken)
		return because(why, POLICY_BY_BROKEN, POLICY_REFUSE);
	char text[INET6_ADDRSTRLEN] = "?";
	if (tw_log_get_level() >= TW_LOG_DEBUG)
		inet_ntop(family, a, text, sizeof(text));
	/* An address is never an onion service. */
	if (cfg->mode == POLICY_MODE_ONION_ONLY) {
		tw_debug("policy: %s port %u: refuse (mode onion-only)", text, port);
		return because(why, POLICY_BY_MODE, POLICY_REFUSE);
	}
	if (is_proxy_addr(cfg, family, a))
		return because(why, POLICY_BY_PROXY, POLICY_DIRECT);

	struct verdicts v = { 0 };
	for (size_t i = 0; i < cfg->rules.count; i++)
		if (addr_matches(&cfg->rules.rule[i], family, a))
			note(cfg, &v, &cfg->rules.rule[i], port);
	return conclude(&v, text, port, why);
}

enum policy_verdict policy_decide_addr(const struct tw_config *cfg, const struct sockaddr *sa, socklen_t len)
{
	return policy_decide_addr_why(cfg, sa, len, NULL);
}

const char *policy_reason_text(const struct tw_config *cfg, const struct policy_reason *why, char *buf, size_t len)
{
	static const char *const words[] = {
		[POLICY_BY_DEFAULT] = "default",
		[POLICY_BY_LOCALHOST] = "built-in localhost",
		[POLICY_BY_PROXY] = "built-in proxy",
		[POLICY_BY_ONION] = "built-in onion",
		[POLICY_BY_INTERNAL] = "built-in internal-name",
		[POLICY_BY_VIRTUAL] = "built-in virtual",
		[POLICY_BY_BROKEN] = "broken configuration",
		[POLICY_BY_MALFORMED] = "malformed",
	};
	if (!buf || len == 0)
		return "";
	if (!why) {
		snprintf(buf, len, "default");
	} else if (why->kind == POLICY_BY_RULE && why->rule && why->rule->line) {
		snprintf(buf, len, "%s:%u", cfg ? cfg->policy_file : "policy", why->rule->line);
	} else if (why->kind == POLICY_BY_RULE && why->rule) {
		snprintf(buf, len, "NO_PROXY %s", why->rule->source);
	} else if (why->kind == POLICY_BY_MODE) {
		snprintf(buf, len, "mode %s", cfg ? policy_mode_name(cfg->mode) : "?");
	} else {
		unsigned k = (unsigned)why->kind;
		const char *w = k < sizeof(words) / sizeof(words[0]) && words[k] ? words[k] : "default";
		snprintf(buf, len, "%s", w);
	}
	return buf;
}

const char *policy_refusal_why(const struct tw_config *cfg, const char *name, char *buf, size_t len)
{
	if (!buf || len == 0)
		return "";
	buf[0] = '\0';
	if (!cfg)
		return buf;
	if (cfg->broken)
		snprintf(buf, len, " (configuration broken: %s)", cfg->broken_reason);
	else if (cfg->mode == POLICY_MODE_ONION_ONLY && !(name && tw_name_is_onion(name)))
		snprintf(buf, len, " (TORWRAP_MODE=onion-only: only .onion destinations and this host are allowed)");
	return buf;
}

/* --------------------------------------------------------------------------------------- stream isolation */

/* splitmix64's finaliser: every input bit reaches every output bit. Tokens need to differ, not to be secret
 * (only the local Tor sees them), so a keyed cryptographic hash would buy nothing here. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t absorb(uint64_t h, uint64_t v)
{
	return mix64(h ^ mix64(v));
}

static uint64_t absorb_text(uint64_t h, const char *s)
{
	uint64_t f = 0xcbf29ce484222325ull; /* FNV-1a, then mixed */
	for (; *s; s++)
		f = (f ^ (uint8_t)*s) * 0x100000001b3ull;
	return absorb(h, f);
}

int policy_isolation_token(const struct tw_config *cfg, const struct policy_stream *s, char *token, size_t len)
{
	if (!cfg || !s || !token || len < POLICY_TOKEN_MAX)
		return -EINVAL;
	const char *kind;
	uint64_t h = 0x746f72777261700aull; /* "torwrap" */
	switch (cfg->isolation) {
	case POLICY_ISO_NONE:
		if (cfg->rotation_s == 0)
			return 0;
		/* Rotation still applies: every stream shares one circuit per interval. */
		kind = "rotation";
		break;
	case POLICY_ISO_PROCESS:
		kind = "process";
		h = absorb(absorb(h, cfg->isolation_seed), (uint64_t)s->pid);
		break;
	case POLICY_ISO_CONNECTION:
		kind = "connection";
		h = absorb(absorb(absorb(h, cfg->isolation_seed), (uint64_t)s->pid), s->conn_seq);
		break;
	case POLICY_ISO_DESTINATION: {
		/* No seed: the same destination shares its circuit across processes, which is what sets this apart
		 * from "connection". Names are compared as Tor sees them (case-insensitively). */
		if (!s->host || !*s->host)
			return -EINVAL;
		char norm[TW_NAME_MAX];
		kind = "destination";
		h = absorb(absorb_text(h, tw_name_normalize(s->host, norm) == 0 ? norm : s->host), s->port);
		break;
	}
	default:
		return -EINVAL;
	}
	if (cfg->rotation_s > 0) {
		/* floor(now / interval): a new epoch, hence a new token and a new circuit, every interval. Floor, not
		 * truncation, so a clock before 1970 cannot merge two epochs. */
		int64_t r = (int64_t)cfg->rotation_s;
		int64_t epoch = s->now_s >= 0 ? s->now_s / r : -((-s->now_s + r - 1) / r);
		h = absorb(h, (uint64_t)epoch);
	}
	snprintf(token, len, "%s-%016llx", kind, (unsigned long long)h);
	return 1;
}
