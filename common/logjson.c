/* logjson.c: the JSON log line (tw_log_format_json), pure: the writer (log.c) passes in the time, the pid and
 * the program name, so tests and the fuzz target can check every byte.
 *
 * Keys in a fixed order, a key left out when it has no value. Whatever bytes the strings hold, the line is one
 * valid JSON object: strings are escaped (control bytes, quotes, backslashes; bytes that are not valid UTF-8 as
 * \u00XX of the byte), and a string that does not fit the buffer is cut at a character boundary with "...".
 */
#include "tw.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A bounded writer. CAP keeps room for the closing "}\n" and the NUL; once a value has been cut (FULL), the keys
 * after it are left out. */
struct jw {
	char *buf;
	size_t cap;
	size_t pos;
	bool full;
	bool first;
};

/* "," unless first, then "KEY":, and OPEN after it; false (nothing written) when that and SPARE more bytes do not
 * fit. */
static bool jw_key(struct jw *w, const char *key, const char *open, size_t spare)
{
	char head[40];
	int n = snprintf(head, sizeof(head), "%s\"%s\":%s", w->first ? "" : ",", key, open);
	if (w->full || n < 0 || (size_t)n >= sizeof(head) || w->pos + (size_t)n + spare > w->cap) {
		w->full = true;
		return false;
	}
	memcpy(w->buf + w->pos, head, (size_t)n);
	w->pos += (size_t)n;
	w->first = false;
	return true;
}

static void jw_number(struct jw *w, const char *key, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);
	if (jw_key(w, key, "", (size_t)n)) {
		memcpy(w->buf + w->pos, num, (size_t)n);
		w->pos += (size_t)n;
	}
}

static bool continuation(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* The length of the valid UTF-8 sequence at S (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF), 0 when it is not one. Stops at the first byte that fails, so never reads past a NUL. */
static size_t utf8_length(const unsigned char *s)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return continuation(s[1]) ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		return (s[1] >= lo && s[1] <= hi && continuation(s[2])) ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		return (s[1] >= lo && s[1] <= hi && continuation(s[2]) && continuation(s[3])) ? 4 : 0;
	}
	return 0;
}

/* The JSON form of the character at S in UNIT (up to 6 bytes); how many bytes of S it stands for. */
static size_t escape_one(const unsigned char *s, char unit[8], size_t *unit_len)
{
	unsigned char c = s[0];
	size_t n = utf8_length(s);
	if (c == '"' || c == '\\') {
		unit[0] = '\\', unit[1] = (char)c, *unit_len = 2;
	} else if (c == '\n' || c == '\t') {
		unit[0] = '\\', unit[1] = c == '\n' ? 'n' : 't', *unit_len = 2;
	} else if (n == 0 || c < 0x20 || c == 0x7f) {
		/* control bytes, and a byte that is not UTF-8 stands for itself as a code point */
		static const char hex[] = "0123456789abcdef";
		memcpy(unit, "\\u00", 4);
		unit[4] = hex[c >> 4], unit[5] = hex[c & 15], *unit_len = 6;
		return 1;
	} else {
		memcpy(unit, s, n);
		*unit_len = n;
	}
	return n;
}

#define JW_CUT "...\""

static void jw_string(struct jw *w, const char *key, const char *value)
{
	if (!value || !*value || !jw_key(w, key, "\"", sizeof(JW_CUT) - 1))
		return;
	const unsigned char *s = (const unsigned char *)value;
	while (*s) {
		char unit[8];
		size_t unit_len, used = escape_one(s, unit, &unit_len);
		/* Room must remain for the cut mark and the closing quote. */
		if (w->pos + unit_len + sizeof(JW_CUT) - 1 > w->cap) {
			memcpy(w->buf + w->pos, JW_CUT, sizeof(JW_CUT) - 1);
			w->pos += sizeof(JW_CUT) - 1;
			w->full = true;
			return;
		}
		memcpy(w->buf + w->pos, unit, unit_len);
		w->pos += unit_len;
		s += used;
	}
	w->buf[w->pos++] = '"';
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil inverse), proleptic Gregorian. */
static void civil_date(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* RFC 3339 in UTC with milliseconds: 2026-12-05T21:40:00.123Z. */
static void time_text(int64_t ms, char out[48])
{
	/* Floor divisions: a time before 1970 still reads as one. Bounded so the arithmetic cannot overflow. */
	if (ms > INT64_MAX / 2 || ms < INT64_MIN / 2)
		ms = 0;
	int64_t secs = ms / 1000 - (ms % 1000 < 0);
	int64_t days = secs / 86400 - (secs % 86400 < 0);
	int64_t rem = secs - days * 86400, frac = ms - secs * 1000;
	int64_t y;
	unsigned m, d;
	civil_date(days, &y, &m, &d);
	snprintf(out, 48, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d, (int)(rem / 3600),
		 (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
}

int tw_log_format_json(char *buf, size_t len, const struct tw_log_stamp *st, int level, const struct tw_event *ev,
		       const char *msg)
{
	if (!buf || len < TW_LOG_JSON_MIN || !st || !ev)
		return -ENOSPC;
	static const char *const levels[] = { "log", "error", "warn", "info", "debug" };
	struct jw w = { .buf = buf, .cap = len - 3, .pos = 1, .first = true };
	buf[0] = '{';
	char when[48], errbuf[16];
	time_text(st->time_ms, when);
	jw_string(&w, "time", when);
	jw_string(&w, "level", levels[(level >= TW_LOG_ERROR && level <= TW_LOG_DEBUG) ? level : 0]);
	jw_number(&w, "pid", ev->pid ? ev->pid : st->pid);
	jw_string(&w, "program", st->program);
	jw_string(&w, "event", (ev->event && *ev->event) ? ev->event : "log");
	jw_string(&w, "destination", ev->dest);
	jw_string(&w, "verdict", ev->verdict);
	jw_string(&w, "rule", ev->rule);
	jw_string(&w, "proxy", ev->proxy);
	if (ev->err > 0) {
		const char *name = tw_errno_name(ev->err);
		if (!name) {
			snprintf(errbuf, sizeof(errbuf), "%d", ev->err);
			name = errbuf;
		}
		jw_string(&w, "errno", name);
	}
	if (ev->tor_reply >= 0)
		jw_number(&w, "tor_reply", ev->tor_reply);
	jw_string(&w, "msg", msg);
	memcpy(buf + w.pos, "}\n", 3);
	return (int)(w.pos + 2);
}

const char *tw_errno_name(int err)
{
#define E(x) { x, #x }
	static const struct {
		int value;
		const char *name;
	} names[] = {
		E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG), E(ENOEXEC), E(EBADF),
		E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES), E(EFAULT), E(EBUSY), E(EEXIST), E(ENOTDIR),
		E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ETXTBSY), E(EFBIG), E(ENOSPC), E(ESPIPE),
		E(EROFS), E(EPIPE), E(ERANGE), E(ENAMETOOLONG), E(ENOSYS), E(ELOOP), E(ENODATA), E(ETIME),
		E(EPROTO), E(EBADMSG), E(EOVERFLOW), E(EILSEQ), E(ENOTSOCK), E(EDESTADDRREQ), E(EMSGSIZE),
		E(EPROTOTYPE), E(ENOPROTOOPT), E(EPROTONOSUPPORT), E(ESOCKTNOSUPPORT), E(EOPNOTSUPP),
		E(EPFNOSUPPORT), E(EAFNOSUPPORT), E(EADDRINUSE), E(EADDRNOTAVAIL), E(ENETDOWN),
		E(ENETUNREACH), E(ENETRESET), E(ECONNABORTED), E(ECONNRESET), E(ENOBUFS), E(EISCONN),
		E(ENOTCONN), E(ESHUTDOWN), E(ETIMEDOUT), E(ECONNREFUSED), E(EHOSTDOWN), E(EHOSTUNREACH),
		E(EALREADY), E(EINPROGRESS), E(ECANCELED), E(EDQUOT),
	};
#undef E
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].value == err)
			return names[i].name;
	return NULL;
}
