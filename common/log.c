/* log.c: the log writer (tw.h): text or JSON lines to stderr or TORWRAP_LOG_FILE, and the decision events to
 * TORWRAP_AUDIT_FILE (the contract: docs/policy.md, "Log lines").
 *
 * Lines go out through raw system calls (tw_libc()->syscall: openat, write, close), never through a hooked
 * function or stdio, whose lock a program may hold when a hook logs. A file is opened for each line and closed
 * again: the library keeps no descriptor open (shim/close.c), so a program that closes every descriptor cannot
 * break the log, and logrotate may move the file at any time. The time stamp is computed here, not by gmtime_r,
 * which takes glibc's time zone lock.
 */
#include "tw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LOG_TEXT_MAX 1024 /* one text line (the message is cut with "..." beyond) */
#define LOG_JSON_MAX 4096 /* one JSON line: the text line's message escaped, and the keys */

/* Atomic only so that a thread logging while config_get() runs is not a data race; each is set once. The paths
 * are the configuration's own strings (published with the default, sequentially consistent, order). */
static _Atomic int log_level = TW_LOG_WARN;
static _Atomic int log_event_level = TW_LOG_WARN;
static _Atomic int log_format = TW_LOG_TEXT;
static _Atomic(const char *) log_file;
static _Atomic(const char *) audit_file;
/* A sink that cannot be opened is said once per process, not once per line. */
static atomic_flag log_file_said = ATOMIC_FLAG_INIT;
static atomic_flag audit_file_said = ATOMIC_FLAG_INIT;

static const char *const level_names[] = { "none", "error", "warn", "info", "debug" };

static int clamp_level(int level)
{
	return level < TW_LOG_NONE ? TW_LOG_NONE : level > TW_LOG_DEBUG ? TW_LOG_DEBUG : level;
}

static const char *level_name(int level)
{
	return (level >= TW_LOG_ERROR && level <= TW_LOG_DEBUG) ? level_names[level] : "log";
}

void tw_log_set_level(int level)
{
	level = clamp_level(level);
	atomic_store_explicit(&log_level, level, memory_order_relaxed);
	atomic_store_explicit(&log_event_level, atomic_load(&audit_file) ? TW_LOG_DEBUG : level,
			      memory_order_relaxed);
}

void tw_log_configure(int level, int format, const char *file, const char *audit)
{
	atomic_store_explicit(&log_format, format == TW_LOG_JSON ? TW_LOG_JSON : TW_LOG_TEXT, memory_order_relaxed);
	atomic_store(&log_file, (file && *file) ? file : NULL);
	atomic_store(&audit_file, (audit && *audit) ? audit : NULL);
	tw_log_set_level(level);
}

int tw_log_get_level(void)
{
	return atomic_load_explicit(&log_level, memory_order_relaxed);
}

int tw_log_event_level(void)
{
	return atomic_load_explicit(&log_event_level, memory_order_relaxed);
}

int tw_log_parse_level(const char *text)
{
	if (!text)
		return -1;
	for (int i = TW_LOG_NONE; i <= TW_LOG_DEBUG; i++)
		if (strcasecmp(text, level_names[i]) == 0)
			return i;
	if (strcasecmp(text, "warning") == 0)
		return TW_LOG_WARN;
	if (text[0] >= '0' && text[0] <= '4' && text[1] == '\0')
		return text[0] - '0';
	return -1;
}

int tw_log_parse_format(const char *text)
{
	if (text && strcasecmp(text, "text") == 0)
		return TW_LOG_TEXT;
	if (text && strcasecmp(text, "json") == 0)
		return TW_LOG_JSON;
	return -1;
}

/* ---------------------------------------------------------------------------------------------- the text line */

struct log_line {
	char text[LOG_TEXT_MAX + 1]; /* "torwrap[PID]: LEVEL: message\n", NUL */
	size_t len; /* through the newline */
	size_t msg_at; /* where the message starts */
};

static void text_vformat(struct log_line *l, int level, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void text_vformat(struct log_line *l, int level, const char *fmt, va_list ap)
{
	int head = snprintf(l->text, LOG_TEXT_MAX, "torwrap[%ld]: %s: ", (long)getpid(), level_name(level));
	size_t len = head < 0 ? 0 : (size_t)head;
	/* Room for "...\n" after a truncated message. */
	size_t room = LOG_TEXT_MAX - len - 4;
	int n = vsnprintf(l->text + len, room + 1, fmt, ap);
	bool truncated = false;
	if (n < 0)
		n = 0;
	if ((size_t)n > room) {
		n = (int)room;
		truncated = true;
	}
	size_t end = len + (size_t)n;
	while (end > len && (l->text[end - 1] == '\n' || l->text[end - 1] == '\r'))
		end--;
	/* Names and file contents reach log lines: one event must stay one line, without terminal escapes. */
	for (size_t i = len; i < end; i++) {
		unsigned char c = (unsigned char)l->text[i];
		if (c < 0x20 || c == 0x7f)
			l->text[i] = '?';
	}
	if (truncated) {
		memcpy(l->text + end, "...", 3);
		end += 3;
	}
	l->text[end++] = '\n';
	l->text[end] = '\0';
	l->len = end;
	l->msg_at = len;
}

static void text_format(struct log_line *l, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void text_format(struct log_line *l, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	text_vformat(l, level, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------------------------------- the sinks */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		long r = tw_libc()->syscall(SYS_write, (long)fd, (long)buf, (long)len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

/* One line appended to PATH, opened for it alone. 0 or a negative errno. */
static int append_line(const char *path, const char *buf, size_t len)
{
	long fd = tw_libc()->syscall(SYS_openat, (long)AT_FDCWD, (long)path,
				     (long)(O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY), 0600L);
	if (fd < 0)
		return -errno;
	int rc = write_all((int)fd, buf, len);
	tw_libc()->syscall(SYS_close, fd);
	return rc;
}

static int64_t realtime_ms(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* L rendered in FORMAT into OUT (LOG_JSON_MAX bytes); its length. */
static size_t render(char *out, int format, int level, const struct tw_event *ev, struct log_line *l,
		     const struct tw_log_stamp *st)
{
	if (format == TW_LOG_TEXT) {
		memcpy(out, l->text, l->len);
		return l->len;
	}
	l->text[l->len - 1] = '\0'; /* the message without its newline */
	int n = tw_log_format_json(out, LOG_JSON_MAX, st, level, ev, l->text + l->msg_at);
	l->text[l->len - 1] = '\n';
	return n > 0 ? (size_t)n : 0;
}

/* Says once, on stderr in the user's format, that the file VAR names cannot be written (ERR) and what follows. */
static void sink_failed(atomic_flag *said, const char *var, const char *path, int err, const char *then,
			const struct tw_log_stamp *st)
{
	if (atomic_flag_test_and_set(said))
		return;
	const char *name = tw_errno_name(err);
	struct log_line l;
	text_format(&l, TW_LOG_WARN, "%s \"%.200s\": cannot write (%s): %s", var, path, name ? name : "error",
		    then);
	struct tw_event ev = TW_EVENT("config", NULL, NULL, NULL);
	ev.err = err;
	char out[LOG_JSON_MAX];
	size_t n = render(out, atomic_load_explicit(&log_format, memory_order_relaxed), TW_LOG_WARN, &ev, &l, st);
	write_all(2, out, n);
}

/* TO_USER: the line is for the user's log (the caller checked the level). */
static void emit(int level, const struct tw_event *ev, struct log_line *l, bool to_user)
{
	const char *audit = atomic_load(&audit_file);
	bool to_audit = audit && strcmp(ev->event, "log") != 0 && strcmp(ev->event, "config") != 0;
	if (!to_user && !to_audit)
		return;
	struct tw_log_stamp st = { .time_ms = realtime_ms(), .pid = (long)getpid(),
				   .program = program_invocation_short_name };
	char out[LOG_JSON_MAX];
	if (to_user) {
		size_t n = render(out, atomic_load_explicit(&log_format, memory_order_relaxed), level, ev, l, &st);
		const char *file = atomic_load(&log_file);
		int rc = file ? append_line(file, out, n) : -1;
		if (rc < 0) {
			if (file)
				sink_failed(&log_file_said, "TORWRAP_LOG_FILE", file, -rc, "logging to stderr", &st);
			write_all(2, out, n);
		}
	}
	if (to_audit) {
		size_t n = render(out, TW_LOG_JSON, level, ev, l, &st);
		int rc = append_line(audit, out, n);
		if (rc < 0)
			sink_failed(&audit_file_said, "TORWRAP_AUDIT_FILE", audit, -rc, "the audit misses lines", &st);
	}
}

/* One line for EV (its kind "log" when it has none), to the user's log when TO_USER. errno is kept: a hook logs
 * just before returning -1 with errno set. */
static void write_line(int level, const struct tw_event *ev, bool to_user, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static void write_line(int level, const struct tw_event *ev, bool to_user, const char *fmt, va_list ap)
{
	int saved_errno = errno;
	struct log_line l;
	text_vformat(&l, level, fmt, ap);
	struct tw_event e = *ev;
	if (!e.event || !*e.event)
		e.event = "log";
	emit(level, &e, &l, to_user);
	errno = saved_errno;
}

void tw_log_write(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	write_line(level, &TW_EVENT("log", NULL, NULL, NULL), true, fmt, ap); /* tw_log() checked the level */
	va_end(ap);
}

void tw_log_write_event(int level, const struct tw_event *ev, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	/* tw_log_event() let it through for either sink */
	write_line(level, ev, level <= tw_log_get_level(), fmt, ap);
	va_end(ap);
}
