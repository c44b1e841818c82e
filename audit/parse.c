/* parse.c: one line of the audit stream (a flat JSON object) into a struct audit_event.
 *
 * The stream is written by other processes, some of them the very programs under audit, so a line is read as
 * untrusted bytes: every length is checked, a value too long for its field makes the line malformed (the rule
 * text excepted: it is only shown, so it is cut), and nothing but the grammar below is accepted:
 *   line   := ws "{" ws [ pair ( ws "," ws pair )* ] ws "}" ws
 *   pair   := string ws ":" ws ( string | number | "true" | "false" | "null" )
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "audit.h"

struct cursor {
	const char *p, *end;
};

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool take(struct cursor *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

static int hex4(struct cursor *c, unsigned *out)
{
	if (c->end - c->p < 4)
		return -EINVAL;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char h = *c->p++;
		unsigned d = h >= '0' && h <= '9' ? (unsigned)(h - '0')
			   : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
			   : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
						  : 16u;
		if (d > 15)
			return -EINVAL;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

/* A buffer the decoded string goes to; OVERFLOW records that it did not fit (the bytes past it are dropped). */
struct sink {
	char *buf;
	size_t cap, len;
	bool overflow;
};

static void put(struct sink *s, unsigned char b)
{
	if (s->len + 1 < s->cap)
		s->buf[s->len++] = (char)b;
	else
		s->overflow = true;
}

/* \u escapes. U+0080 to U+00FF stand for the byte itself (the emitter writes a byte that is not valid UTF-8
 * that way); others are written as UTF-8, surrogate pairs joined. U+0000 is refused: no field holds a NUL. */
static int unicode_escape(struct cursor *c, struct sink *s)
{
	unsigned cp;
	if (hex4(c, &cp) != 0 || cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff))
		return -EINVAL;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		unsigned lo;
		if (!take(c, '\\') || !take(c, 'u') || hex4(c, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
			return -EINVAL;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp < 0x100) {
		put(s, (unsigned char)cp);
	} else if (cp < 0x800) {
		put(s, (unsigned char)(0xc0 | cp >> 6));
		put(s, (unsigned char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		put(s, (unsigned char)(0xe0 | cp >> 12));
		put(s, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
		put(s, (unsigned char)(0x80 | (cp & 0x3f)));
	} else {
		put(s, (unsigned char)(0xf0 | cp >> 18));
		put(s, (unsigned char)(0x80 | (cp >> 12 & 0x3f)));
		put(s, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
		put(s, (unsigned char)(0x80 | (cp & 0x3f)));
	}
	return 0;
}

/* A JSON string at C (its opening quote) decoded into S, NUL-terminated. */
static int string(struct cursor *c, struct sink *s)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	s->len = 0;
	s->overflow = false;
	if (!take(c, '"'))
		return -EINVAL;
	for (;;) {
		if (c->p >= c->end)
			return -EINVAL;
		unsigned char ch = (unsigned char)*c->p++;
		if (ch == '"')
			break;
		if (ch < 0x20)
			return -EINVAL; /* JSON has no raw control bytes in strings */
		if (ch != '\\') {
			put(s, ch);
			continue;
		}
		if (c->p >= c->end)
			return -EINVAL;
		char e = *c->p++;
		const char *k = e ? strchr(from, e) : NULL;
		if (k)
			put(s, (unsigned char)to[k - from]);
		else if (e != 'u' || unicode_escape(c, s) != 0)
			return -EINVAL;
	}
	s->buf[s->len] = '\0';
	return 0;
}

/* A JSON number; its value in *OUT when it is an integer that fits, else *IS_INT false. */
static int number(struct cursor *c, long long *out, bool *is_int)
{
	bool neg = take(c, '-');
	const char *digits = c->p;
	unsigned long long v = 0;
	bool fits = true;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p++ - '0');
		fits = fits && v <= ((unsigned long long)INT64_MAX - d) / 10;
		v = v * 10 + d;
	}
	size_t n = (size_t)(c->p - digits);
	if (n == 0 || (n > 1 && digits[0] == '0'))
		return -EINVAL;
	*is_int = fits;
	if (take(c, '.')) {
		*is_int = false;
		if (c->p >= c->end || *c->p < '0' || *c->p > '9')
			return -EINVAL;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	if (take(c, 'e') || take(c, 'E')) {
		*is_int = false;
		if (!take(c, '+'))
			take(c, '-');
		if (c->p >= c->end || *c->p < '0' || *c->p > '9')
			return -EINVAL;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	*out = neg ? -(long long)v : (long long)v;
	return 0;
}

static bool literal(struct cursor *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* The fields of a line before they are checked. */
struct raw {
	char event[16], destination[TW_NAME_MAX + 16], verdict[16], rule[AUDIT_RULE_MAX];
	bool has_event, destination_long, event_long, verdict_long, rule_long;
	long long pid;
};

/* Where the value of KEY goes (NULL: a key this reader does not use); *LONG_FLAG records a value cut short. */
static char *field_of(struct raw *r, const char *key, size_t *cap, bool **long_flag)
{
	static const struct {
		const char *key;
		size_t off, cap, flag;
	} fields[] = {
		{ "event", offsetof(struct raw, event), sizeof(((struct raw *)0)->event), offsetof(struct raw, event_long) },
		{ "destination", offsetof(struct raw, destination), sizeof(((struct raw *)0)->destination),
		  offsetof(struct raw, destination_long) },
		{ "verdict", offsetof(struct raw, verdict), sizeof(((struct raw *)0)->verdict),
		  offsetof(struct raw, verdict_long) },
		{ "rule", offsetof(struct raw, rule), sizeof(((struct raw *)0)->rule), offsetof(struct raw, rule_long) },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcmp(key, fields[i].key) == 0) {
			*cap = fields[i].cap;
			*long_flag = (bool *)((char *)r + fields[i].flag);
			if (strcmp(key, "event") == 0)
				r->has_event = true;
			return (char *)r + fields[i].off;
		}
	}
	return NULL;
}

/* One "key": value pair into R. */
static int pair(struct cursor *c, struct raw *r)
{
	char key[32], scratch[64];
	struct sink ks = { key, sizeof(key), 0, false };
	if (string(c, &ks) != 0)
		return -EINVAL;
	skip_ws(c);
	if (!take(c, ':'))
		return -EINVAL;
	skip_ws(c);
	if (c->p < c->end && *c->p == '"') {
		size_t cap = sizeof(scratch);
		bool *long_flag = NULL;
		char *dst = ks.overflow ? NULL : field_of(r, key, &cap, &long_flag);
		struct sink vs = { dst ? dst : scratch, cap, 0, false };
		if (string(c, &vs) != 0)
			return -EINVAL;
		if (long_flag)
			*long_flag = vs.overflow;
		return 0;
	}
	if (c->p < c->end && (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))) {
		long long v;
		bool is_int;
		if (number(c, &v, &is_int) != 0)
			return -EINVAL;
		if (!ks.overflow && strcmp(key, "pid") == 0)
			r->pid = is_int && v > 0 ? v : 0;
		return 0;
	}
	return literal(c, "true") || literal(c, "false") || literal(c, "null") ? 0 : -EINVAL;
}

static int object(struct cursor *c, struct raw *r)
{
	skip_ws(c);
	if (!take(c, '{'))
		return -EINVAL;
	skip_ws(c);
	if (!take(c, '}')) {
		do {
			skip_ws(c);
			if (pair(c, r) != 0)
				return -EINVAL;
			skip_ws(c);
		} while (take(c, ','));
		if (!take(c, '}'))
			return -EINVAL;
	}
	skip_ws(c);
	return c->p == c->end ? 0 : -EINVAL;
}

static enum audit_kind kind_of(const char *event)
{
	static const struct {
		const char *name;
		enum audit_kind kind;
	} kinds[] = { { "lookup", AUDIT_LOOKUP }, { "dns", AUDIT_DNS },	    { "connect", AUDIT_CONNECT },
		      { "send", AUDIT_SEND },	  { "proxy", AUDIT_PROXY } };
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(event, kinds[i].name) == 0)
			return kinds[i].kind;
	return AUDIT_OTHER;
}

/* "1" to "65535", nothing else. */
static int parse_port(const char *s, unsigned *port)
{
	unsigned v = 0;
	if (*s == '\0' || *s == '0' || strlen(s) > 5)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*port = v;
	return 0;
}

/* "HOST:PORT", "[V6]:PORT", "[V6]", "V6", "NAME": the host (lower-cased) and the port (0 when none). */
static int split_destination(const char *d, char host[TW_NAME_MAX], unsigned *port)
{
	const char *h = d, *colon = strrchr(d, ':');
	size_t hlen;
	*port = 0;
	if (*d == '[') {
		const char *close = strchr(d, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':') ||
		    (close[1] == ':' && parse_port(close + 2, port) != 0))
			return -EINVAL;
		h = d + 1;
		hlen = (size_t)(close - h);
	} else if (colon != NULL && strchr(d, ':') == colon) {
		if (parse_port(colon + 1, port) != 0)
			return -EINVAL;
		hlen = (size_t)(colon - d);
	} else {
		hlen = strlen(d); /* a name, or a bare IPv6 address */
	}
	if (hlen == 0 || hlen >= TW_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < hlen; i++)
		host[i] = h[i] >= 'A' && h[i] <= 'Z' ? (char)(h[i] - 'A' + 'a') : h[i];
	host[hlen] = '\0';
	return 0;
}

int audit_parse_line(const char *line, size_t len, struct audit_event *ev)
{
	struct raw r;
	memset(&r, 0, sizeof(r));
	memset(ev, 0, sizeof(*ev));
	struct cursor c = { line, line + len };
	if (line == NULL || object(&c, &r) != 0 || !r.has_event || r.event_long || r.destination_long ||
	    r.verdict_long)
		return -EINVAL;
	if (r.verdict[0] && strcmp(r.verdict, "direct") != 0 && strcmp(r.verdict, "tor") != 0 &&
	    strcmp(r.verdict, "refuse") != 0)
		return -EINVAL;
	if (r.destination[0] && split_destination(r.destination, ev->host, &ev->port) != 0)
		return -EINVAL;
	if (r.rule_long) /* only shown: cut, and say so */
		memcpy(r.rule + sizeof(r.rule) - 4, "...", 4);
	ev->kind = kind_of(r.event);
	memcpy(ev->verdict, r.verdict, sizeof(ev->verdict));
	memcpy(ev->rule, r.rule, sizeof(ev->rule));
	ev->pid = r.pid;
	return 0;
}
