/* tw.c: the shared log writer and the pure name helpers declared in tw.h.
 *
 * tw_libc() lives in libc.c; nothing here calls a function the shim overrides.
 */
#include "tw.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------------------ log */

/* Atomic only so that a thread logging while config_get() runs is not a data race; the value is set once. */
static _Atomic int tw_level = TW_LOG_WARN;

static const char *const tw_level_names[] = { "none", "error", "warn", "info", "debug" };

void tw_log_set_level(int level)
{
	if (level < TW_LOG_NONE)
		level = TW_LOG_NONE;
	if (level > TW_LOG_DEBUG)
		level = TW_LOG_DEBUG;
	atomic_store_explicit(&tw_level, level, memory_order_relaxed);
}

int tw_log_get_level(void)
{
	return atomic_load_explicit(&tw_level, memory_order_relaxed);
}

int tw_log_parse_level(const char *text)
{
	if (!text)
		return -1;
	for (int i = TW_LOG_NONE; i <= TW_LOG_DEBUG; i++)
		if (strcasecmp(text, tw_level_names[i]) == 0)
			return i;
	if (strcasecmp(text, "warning") == 0)
		return TW_LOG_WARN;
	if (text[0] >= '0' && text[0] <= '4' && text[1] == '\0')
		return text[0] - '0';
	return -1;
}

void tw_log_write(int level, const char *fmt, ...)
{
	/* A hook logs just before returning -1 with errno set: the log line must not change it. */
	int saved_errno = errno;
	char buf[1024];
	const char *lname = (level >= TW_LOG_ERROR && level <= TW_LOG_DEBUG) ? tw_level_names[level] : "log";
	int head = snprintf(buf, sizeof(buf), "torwrap[%ld]: %s: ", (long)getpid(), lname);
	if (head < 0)
		head = 0;
	size_t len = (size_t)head;
	/* Room for "...\n" after a truncated message. */
	size_t room = sizeof(buf) - len - 4;

	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + len, room + 1, fmt, ap);
	va_end(ap);
	bool truncated = false;
	if (n < 0)
		n = 0;
	if ((size_t)n > room) {
		n = (int)room;
		truncated = true;
	}
	size_t end = len + (size_t)n;
	while (end > len && (buf[end - 1] == '\n' || buf[end - 1] == '\r'))
		end--;
	/* Names and file contents reach log lines: one event must stay one line, without terminal escapes. */
	for (size_t i = len; i < end; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c < 0x20 || c == 0x7f)
			buf[i] = '?';
	}
	if (truncated) {
		memcpy(buf + end, "...", 3);
		end += 3;
	}
	buf[end++] = '\n';

	long r;
	do
		r = syscall(SYS_write, 2, buf, end);
	while (r < 0 && errno == EINTR);
	errno = saved_errno;
}

/* --------------------------------------------------------------------------------------------- pure helpers */

static bool tw_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '.';
}

int tw_name_normalize(const char *name, char out[TW_NAME_MAX])
{
	if (!name)
		return -EINVAL;
	size_t n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		n--;
	/* 253 is the longest name DNS can carry in text form; longer cannot be resolved anywhere. */
	if (n == 0 || n > 253)
		return -EINVAL;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!tw_name_char(c))
			return -EINVAL;
		if (c == '.') {
			if (label == 0)
				return -EINVAL; /* empty label: ".a", "a..b" */
			label = 0;
		} else if (++label > 63) {
			return -EINVAL;
		}
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
	}
	out[n] = '\0';
	return 0;
}

bool tw_name_in_domain(const char *name, const char *suffix)
{
	if (!name || !suffix)
		return false;
	size_t n = strlen(name), s = strlen(suffix);
	if (s == 0 || n < s)
		return false;
	if (strcasecmp(name + (n - s), suffix) != 0)
		return false;
	return n == s || name[n - s - 1] == '.';
}

bool tw_name_is_localhost(const char *name)
{
	return tw_name_in_domain(name, "localhost");
}

bool tw_name_is_onion(const char *name)
{
	return name && strcasecmp(name, "onion") != 0 && tw_name_in_domain(name, "onion");
}

int64_t tw_now_ms(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool tw_secure_mode(void)
{
	return getauxval(AT_SECURE) != 0;
}

bool tw_env_is_ours(const char *e)
{
	return strncmp(e, "TORWRAP_", 8) == 0 || strncmp(e, "TOR_", 4) == 0 || strncmp(e, "SOCKS5_PROXY=", 13) == 0 ||
	       strncmp(e, "NO_PROXY=", 9) == 0 || strncmp(e, "no_proxy=", 9) == 0;
}
