/* parse.c: resolv.conf and hosts-file parsing, pure text in, structures out (unit-tested, fuzzable).
 *
 * We parse these ourselves rather than let c-ares read them so that torwrap itself knows which nameservers
 * the program's DNS would reach (the leak tests and the DNS guard need that) and so a test can point torwrap
 * at its own files (TORWRAP_RESOLV_CONF, TORWRAP_HOSTS) without touching /etc.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "resolver.h"

/* Copies the next whitespace-delimited word of *P into OUT; false at end of line or text. */
static bool next_word(const char **p, char *out, size_t outlen)
{
	const char *s = *p;
	/* Every blank but the newline: a \v or \f left here would end the word before it began, and the caller's
	 * loop would never advance (found by fuzz_hosts: a hosts file with a form feed hung every lookup). */
	while (*s != '\n' && isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == '\n' || *s == '#' || *s == ';')
		return false;
	size_t n = 0;
	while (*s && !isspace((unsigned char)*s) && *s != '#') {
		if (n + 1 < outlen)
			out[n++] = *s;
		else
			n = outlen; /* mark overlong */
		s++;
	}
	*p = s;
	if (n >= outlen) {
		out[0] = '\0';
		return true; /* an overlong word is returned empty so it never matches */
	}
	out[n] = '\0';
	return true;
}

static const char *next_line(const char *p)
{
	const char *nl = strchr(p, '\n');
	return nl ? nl + 1 : NULL;
}

static bool parse_port(const char *s, uint16_t *port)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return false;
	long v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353", "fe80::1%eth0" (scope dropped). */
static bool parse_nameserver(const char *word, struct resolver_nameserver *ns)
{
	char buf[128];
	uint16_t port = 53;
	if (strlen(word) >= sizeof(buf))
		return false;
	strcpy(buf, word);
	char *host = buf;
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (close == NULL)
			return false;
		*close = '\0';
		host = buf + 1;
		if (close[1] == ':') {
			if (!parse_port(close + 2, &port))
				return false;
		} else if (close[1] != '\0') {
			return false;
		}
	} else {
		char *colon = strchr(buf, ':');
		if (colon && strchr(colon + 1, ':') == NULL) { /* exactly one colon: IPv4:port */
			*colon = '\0';
			if (!parse_port(colon + 1, &port))
				return false;
		}
	}
	char *pct = strchr(host, '%');
	if (pct)
		*pct = '\0';
	memset(ns, 0, sizeof(*ns));
	if (inet_pton(AF_INET, host, ns->addr) == 1)
		ns->family = AF_INET;
	else if (inet_pton(AF_INET6, host, ns->addr) == 1)
		ns->family = AF_INET6;
	else
		return false;
	ns->port = port;
	return true;
}

/* "search a b c" or "domain a": the list res_search appends (the last such line wins, as in glibc). */
static void parse_search(const char *p, struct resolver_conf *conf)
{
	char word[TW_NAME_MAX];
	conf->nsearch = 0;
	while (conf->nsearch < RESOLVER_MAX_SEARCH && next_word(&p, word, sizeof(word)))
		if (tw_name_normalize(word, conf->search[conf->nsearch]) == 0)
			conf->nsearch++;
}

/* "options ... ndots:N ...": at most 15, as glibc. */
static void parse_options(const char *p, struct resolver_conf *conf)
{
	char word[128];
	while (next_word(&p, word, sizeof(word))) {
		if (strncmp(word, "ndots:", 6) != 0 || !isdigit((unsigned char)word[6]))
			continue;
		long v = strtol(word + 6, NULL, 10);
		conf->ndots = v > 15 ? 15 : (unsigned)v;
	}
}

int resolver_parse_resolv_conf(const char *text, struct resolver_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->ndots = 1;
	for (const char *line = text; line; line = next_line(line)) {
		const char *p = line;
		char word[128];
		if (!next_word(&p, word, sizeof(word)))
			continue;
		if (strcmp(word, "search") == 0 || strcmp(word, "domain") == 0) {
			parse_search(p, conf);
			continue;
		}
		if (strcmp(word, "options") == 0) {
			parse_options(p, conf);
			continue;
		}
		if (strcmp(word, "nameserver") != 0)
			continue;
		if (!next_word(&p, word, sizeof(word)))
			return -EINVAL;
		struct resolver_nameserver ns;
		if (!parse_nameserver(word, &ns))
			return -EINVAL;
		if (conf->nns < RESOLVER_MAX_NAMESERVERS) /* glibc's MAXNS: later lines are ignored */
			conf->ns[conf->nns++] = ns;
	}
	return 0;
}

static bool parse_hosts_addr(const char *word, struct resolver_addr *a)
{
	char buf[INET6_ADDRSTRLEN + 16];
	if (strlen(word) >= sizeof(buf))
		return false;
	strcpy(buf, word);
	char *pct = strchr(buf, '%');
	if (pct)
		*pct = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, a->addr) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, a->addr) == 1)
		a->family = AF_INET6;
	else
		return false;
	return true;
}

int resolver_parse_hosts(const char *text, const char *name, int family, struct resolver_addr *out, int max)
{
	int n = 0;
	for (const char *line = text; line && n < max; line = next_line(line)) {
		const char *p = line;
		char word[TW_NAME_MAX];
		struct resolver_addr a;
		if (!next_word(&p, word, sizeof(word)) || !parse_hosts_addr(word, &a))
			continue;
		if (family != AF_UNSPEC && a.family != family)
			continue;
		while (next_word(&p, word, sizeof(word))) {
			if (word[0] != '\0' && strcasecmp(word, name) == 0) { /* "": an overlong word, never a match */
				bool dup = false;
				for (int i = 0; i < n; i++)
					dup |= out[i].family == a.family && memcmp(out[i].addr, a.addr, 16) == 0;
				if (!dup)
					out[n++] = a;
				break;
			}
		}
	}
	return n;
}

int resolver_parse_hosts_reverse(const char *text, const struct resolver_addr *addr, char name[TW_NAME_MAX])
{
	for (const char *line = text; line; line = next_line(line)) {
		const char *p = line;
		char word[TW_NAME_MAX];
		struct resolver_addr a;
		if (!next_word(&p, word, sizeof(word)) || !parse_hosts_addr(word, &a))
			continue;
		if (a.family != addr->family || memcmp(a.addr, addr->addr, a.family == AF_INET ? 4 : 16) != 0)
			continue;
		/* The first name of the line that fits (an overlong one comes back ""): every name a forward lookup
		 * can find on this line has a reverse (found by fuzz_hosts). */
		while (next_word(&p, word, sizeof(word))) {
			if (word[0] != '\0') {
				memcpy(name, word, strlen(word) + 1);
				return 0;
			}
		}
	}
	return -ENOENT;
}
