/* json_check.h: a strict JSON checker (RFC 8259, UTF-8 strictly as RFC 3629) for the log line's tests: the fuzz
 * target (fuzz_log_json.c) and tests/unit/test_log.c. Small on purpose: it answers one question, whether a
 * buffer is exactly one JSON object followed by one newline, which is what Loki and ELK need of a line.
 */
#ifndef TORWRAP_JSON_CHECK_H
#define TORWRAP_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct json_in {
	const unsigned char *p, *end;
	int depth;
};

static inline void json_ws(struct json_in *in)
{
	while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\r' || *in->p == '\n'))
		in->p++;
}

static inline bool json_lit(struct json_in *in, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n) != 0)
		return false;
	in->p += n;
	return true;
}

static inline bool json_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One UTF-8 character of at least two bytes at in->p (RFC 3629). */
static inline bool json_utf8(struct json_in *in)
{
	const unsigned char *s = in->p;
	size_t left = (size_t)(in->end - s), n;
	unsigned char lo = 0x80, hi = 0xbf;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;
	else
		return false;
	if (left < n || s[1] < lo || s[1] > hi)
		return false;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return false;
	in->p += n;
	return true;
}

static inline bool json_string(struct json_in *in)
{
	if (in->p >= in->end || *in->p != '"')
		return false;
	in->p++;
	while (in->p < in->end) {
		unsigned char c = *in->p;
		if (c == '"') {
			in->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c >= 0x80) {
			if (!json_utf8(in))
				return false;
			continue;
		}
		in->p++;
		if (c != '\\')
			continue;
		if (in->p >= in->end)
			return false;
		c = *in->p++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++)
				if (in->p >= in->end || !json_hex(*in->p++))
					return false;
		} else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
			return false;
		}
	}
	return false;
}

static inline bool json_number(struct json_in *in)
{
	const unsigned char *start = in->p;
	if (in->p < in->end && *in->p == '-')
		in->p++;
	if (in->p >= in->end || *in->p < '0' || *in->p > '9')
		return false;
	if (*in->p == '0')
		in->p++;
	else
		while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
			in->p++;
	if (in->p < in->end && *in->p == '.') {
		in->p++;
		if (in->p >= in->end || *in->p < '0' || *in->p > '9')
			return false;
		while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
			in->p++;
	}
	if (in->p < in->end && (*in->p == 'e' || *in->p == 'E')) {
		in->p++;
		if (in->p < in->end && (*in->p == '+' || *in->p == '-'))
			in->p++;
		if (in->p >= in->end || *in->p < '0' || *in->p > '9')
			return false;
		while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
			in->p++;
	}
	return in->p > start;
}

static inline bool json_value(struct json_in *in);

static inline bool json_members(struct json_in *in, bool object)
{
	unsigned char close = object ? '}' : ']';
	in->p++;
	json_ws(in);
	if (in->p < in->end && *in->p == close) {
		in->p++;
		return true;
	}
	for (;;) {
		if (object) {
			json_ws(in);
			if (!json_string(in))
				return false;
			json_ws(in);
			if (in->p >= in->end || *in->p++ != ':')
				return false;
		}
		if (!json_value(in))
			return false;
		json_ws(in);
		if (in->p >= in->end)
			return false;
		unsigned char c = *in->p++;
		if (c == close)
			return true;
		if (c != ',')
			return false;
	}
}

static inline bool json_value(struct json_in *in)
{
	json_ws(in);
	if (in->p >= in->end || ++in->depth > 64)
		return false;
	bool ok;
	switch (*in->p) {
	case '{':
		ok = json_members(in, true);
		break;
	case '[':
		ok = json_members(in, false);
		break;
	case '"':
		ok = json_string(in);
		break;
	case 't':
		ok = json_lit(in, "true");
		break;
	case 'f':
		ok = json_lit(in, "false");
		break;
	case 'n':
		ok = json_lit(in, "null");
		break;
	default:
		ok = json_number(in);
	}
	in->depth--;
	return ok;
}

/* True when BUF (LEN bytes) is one JSON object and one newline, and nothing else: no other newline byte. */
static inline bool json_is_one_object_line(const char *buf, size_t len)
{
	if (len < 3 || buf[0] != '{' || buf[len - 1] != '\n' || memchr(buf, '\n', len - 1) != NULL)
		return false;
	struct json_in in = { (const unsigned char *)buf, (const unsigned char *)buf + len - 1, 0 };
	return json_value(&in) && in.p == in.end;
}

#endif
