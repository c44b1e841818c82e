/* tw.h: the few utilities every torwrap module shares.
 *
 * - tw_log() / tw_log_event(): the log macros (TORWRAP_LOG_LEVEL, _FORMAT, _FILE, TORWRAP_AUDIT_FILE), one
 *   line per decision, written with raw system calls (log.c), so logging can never recurse into a hook or take a
 *   stdio lock a program holds.
 * - tw_libc(): the real libc functions (dlsym RTLD_NEXT), resolved once. Code inside the library calls these,
 *   never the public names that the shim overrides.
 * - small pure helpers for names and addresses that policy/, resolver/ and shim/ all need.
 */
#ifndef TORWRAP_TW_H
#define TORWRAP_TW_H

#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* sendmmsg()'s flags: int in glibc, unsigned int in musl. */
#ifdef __GLIBC__
typedef int tw_mmsg_flags;
#else
typedef unsigned int tw_mmsg_flags;
#endif
/* glibc's h_errno values for internal errors; musl defines neither. */
#ifndef NETDB_INTERNAL
#define NETDB_INTERNAL (-1)
#endif
#ifndef NETDB_SUCCESS
#define NETDB_SUCCESS 0
#endif

#define TW_VERSION "0.1.0"

/* Longest DNS name in text form, without the trailing dot, plus NUL. */
#define TW_NAME_MAX 256

/* ------------------------------------------------------------------------------------------------------ log */

enum tw_log_level {
	TW_LOG_NONE = 0, /* silent */
	TW_LOG_ERROR = 1, /* a connection or lookup was refused or failed */
	TW_LOG_WARN = 2, /* default: also configuration warnings */
	TW_LOG_INFO = 3, /* also one line per routing decision */
	TW_LOG_DEBUG = 4, /* also protocol detail */
};

/* TORWRAP_LOG_FORMAT: "torwrap[PID]: LEVEL: message" lines, or one JSON object per line (docs/policy.md). */
enum tw_log_format {
	TW_LOG_TEXT = 0,
	TW_LOG_JSON = 1,
};

/* What a line reports, for the JSON keys (a NULL or empty string, err 0 and tor_reply -1 leave the key out).
 * event: lookup, connect, dns, proxy, send, config, exec or log (docs/policy.md says which is which). */
struct tw_event {
	const char *event;
	const char *dest; /* HOST:PORT, NAME, [V6]:PORT */
	const char *verdict; /* direct, tor or refuse */
	const char *rule; /* what made the decision (policy_reason_text) */
	const char *proxy; /* the proxy instance, HOST:PORT */
	int err; /* positive errno, 0 none */
	int tor_reply; /* Tor's SOCKS reply code, -1 none */
	long pid; /* the process the line is about (the supervisor's: the traced thread, its "pid N:"); 0: this one */
};

/* An event with the fields most lines have; set the others (proxy, err, tor_reply, pid) on the result. */
#define TW_EVENT(kind, dest_, verdict_, rule_)                                                                 \
	((struct tw_event){                                                                                    \
		.event = (kind), .dest = (dest_), .verdict = (verdict_), .rule = (rule_), .tor_reply = -1 })

/* Set once while the configuration is built (before any thread of ours could log). tw_log_configure also says
 * the format and the sinks: LOG_FILE (NULL or "": stderr) gets the user's lines, AUDIT_FILE (NULL or "": none)
 * every event but "log" and "config" in JSON, whatever the level. The strings are not copied: they must live as
 * long as the process logs (the configuration's own do). */
void tw_log_set_level(int level);
void tw_log_configure(int level, int format, const char *log_file, const char *audit_file);
int tw_log_get_level(void);
/* The most detailed level anything wants events at: the user's, or debug while an audit file is set. */
int tw_log_event_level(void);
/* Parses "none|error|warn|info|debug" or "0".."4"; returns -1 when the text is not a level. */
int tw_log_parse_level(const char *text);
/* Parses "text" or "json"; returns -1 otherwise. */
int tw_log_parse_format(const char *text);

/* Write one line (event "log", or EV's); errno is left as it was. Call them through the macros. */
void tw_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tw_log_write_event(int level, const struct tw_event *ev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define tw_log(level, ...)                                                                                     \
	do {                                                                                                   \
		if ((level) <= tw_log_get_level())                                                             \
			tw_log_write((level), __VA_ARGS__);                                                    \
	} while (0)

/* A line about a decision or a failure: EV is a struct tw_event (TW_EVENT(...)), evaluated only when the line
 * is written. */
#define tw_log_event(level, ev, ...)                                                                           \
	do {                                                                                                   \
		if ((level) <= tw_log_event_level()) {                                                         \
			const struct tw_event tw_ev_ = (ev);                                                   \
			tw_log_write_event((level), &tw_ev_, __VA_ARGS__);                                     \
		}                                                                                              \
	} while (0)

#define tw_error(...) tw_log(TW_LOG_ERROR, __VA_ARGS__)
#define tw_warn(...) tw_log(TW_LOG_WARN, __VA_ARGS__)
#define tw_info(...) tw_log(TW_LOG_INFO, __VA_ARGS__)
#define tw_debug(...) tw_log(TW_LOG_DEBUG, __VA_ARGS__)

/* The pure half of the JSON format: one line for EV at LEVEL with the text line's message MSG, stamped with
 * TIME_MS (Unix epoch milliseconds), PID (used when ev->pid is 0) and PROGRAM. Writes a NUL-terminated line
 * ending in "\n" that is one valid JSON object whatever bytes the strings hold (a string that does not fit is
 * cut, ending in "..."). Returns its length, or -ENOSPC when LEN is below TW_LOG_JSON_MIN. */
#define TW_LOG_JSON_MIN 160
struct tw_log_stamp {
	int64_t time_ms;
	long pid;
	const char *program;
};
int tw_log_format_json(char *buf, size_t len, const struct tw_log_stamp *st, int level, const struct tw_event *ev,
		       const char *msg);
/* The symbolic name of errno value ERR ("ECONNREFUSED"), or NULL when this table lacks it. */
const char *tw_errno_name(int err);

/* ----------------------------------------------------------------------------------------------- real libc */

struct aiocb;
struct tw_libc {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*close)(int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, tw_mmsg_flags, struct timespec *);
	ssize_t (*__recvfrom_chk)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*__read_chk)(int, void *, size_t, size_t);
	ssize_t (*__recv_chk)(int, void *, size_t, size_t, int);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*send)(int, const void *, size_t, int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, tw_mmsg_flags);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*close_range)(unsigned int, unsigned int, int);
	void (*closefrom)(int);
	long (*syscall)(long, ...);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execveat)(int, const char *, char *const[], char *const[], int);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	void (*freeaddrinfo)(struct addrinfo *);
	int (*getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t, int);
	struct hostent *(*gethostbyname)(const char *);
	struct hostent *(*gethostbyname2)(const char *, int);
	int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t, struct hostent **, int *);
	int (*gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t, struct hostent **, int *);
	ssize_t (*pwritev2)(int, const struct iovec *, int, off_t, int);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	ssize_t (*splice)(int, off_t *, int, off_t *, size_t, unsigned int);
	int (*aio_write)(struct aiocb *);
	struct hostent *(*gethostbyaddr)(const void *, socklen_t, int);
	int (*gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *, char *, size_t, struct hostent **,
			       int *);
};

/* The real functions, looked up with dlsym(RTLD_NEXT) on first use. Never NULL once returned; a symbol libc
 * lacks is replaced by a stub that fails with ENOSYS. */
const struct tw_libc *tw_libc(void);

/* --------------------------------------------------------------------------------------------- pure helpers */

/* Copies NAME into OUT lower-cased, without one trailing dot. Returns -EINVAL when NAME is empty, too long, or
 * holds a character that cannot appear in a host name (so it cannot be a name we would route). */
int tw_name_normalize(const char *name, char out[TW_NAME_MAX]);

/* True when NAME equals SUFFIX or ends with "." SUFFIX (both normalised). */
bool tw_name_in_domain(const char *name, const char *suffix);

/* True for "localhost" and names under ".localhost". */
bool tw_name_is_localhost(const char *name);

/* True for names under ".onion". */
bool tw_name_is_onion(const char *name);

/* Whether the library can follow the program at PATH (following "#!" interpreters). Returns TW_EXE_OK, or a
 * reason to refuse it with a sentence in WHY. */
enum { TW_EXE_OK = 0, TW_EXE_STATIC, TW_EXE_SETID, TW_EXE_SETCAP };
int tw_exe_check(const char *path, char *why, size_t whylen);

/* Monotonic milliseconds, for deadlines. */
int64_t tw_now_ms(void);

/* ------------------------------------------------------------------------------------- the kernel backstop */

/* The environment variable that hands the process tree its cookie (16 hex digits). */
#define TW_COOKIE_ENV "TORWRAP_SECCOMP_COOKIE"

/* The cookie the library's own calls carry (0: none, no filter expects one). */
void tw_gate_set_cookie(uint64_t cookie);
uint64_t tw_gate_cookie(void);
/* Parses 16 lower-case hex digits, neither half zero. Returns 0 or -EINVAL. */
int tw_gate_cookie_parse(const char *text, uint64_t *out);
void tw_gate_cookie_text(uint64_t cookie, char out[17]);
/* A fresh random cookie. Returns 0 or a negative errno. */
int tw_gate_cookie_new(uint64_t *out);

/* connect, sendto, sendmsg, sendmmsg as the library issues them once it has decided: with the cookie when one
 * is set (the filter lets them pass), else the real libc functions. -1 and errno, like those. */
int tw_gate_connect(int fd, const struct sockaddr *sa, socklen_t len);
ssize_t tw_gate_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa, socklen_t salen);
ssize_t tw_gate_sendmsg(int fd, const struct msghdr *msg, int flags);
int tw_gate_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags);

/* The socket kinds nothing under torwrap may open (raw, packet, XDP, SCTP, inet SEQPACKET): the library's
 * socket() hook and the kernel filter both follow this one table. */
bool tw_socket_refused(int domain, int type, int protocol);

/* The socket options nothing under torwrap may set (a source route: IP options, an IPv6 routing header): the
 * library's setsockopt() hook and the kernel filter both follow this one table. */
bool tw_sockopt_refused(int level, int name);

/* The seccomp filter (filter.c): network calls without the cookie are trapped, either handed to the supervisor
 * (TW_TRAP_NOTIFY) or refused (TW_TRAP_EPERM); refused socket kinds, io_uring and the other ABIs fail. COOKIE 0:
 * every such call is trapped. Writes at most TW_FILTER_MAX instructions. Returns 0, or -ENOSYS where the
 * architecture or the headers are unknown. */
#define TW_FILTER_MAX 128
enum tw_filter_trap { TW_TRAP_NOTIFY, TW_TRAP_EPERM };
struct sock_filter;
int tw_filter_build(struct sock_filter *out, unsigned short *len, uint64_t cookie, enum tw_filter_trap trap);
/* Installs that filter with TW_TRAP_EPERM on this process (and so on its future children): calls made past
 * the library fail. Sets no_new_privs. Returns 0 or a negative errno. */
int tw_filter_install_eperm(uint64_t cookie);

/* What the running program is, when its own code bypasses libc for its system calls (a Go binary: the Go
 * build-ID note in its program headers, read from memory), written to WHAT ("Go"). False otherwise. */
bool tw_self_bypasses_libc(char *what, size_t whatlen);

/* The same for the program file at PATH (the wrapper asks before it runs it). */
bool tw_exe_bypasses_libc(const char *path, char *what, size_t whatlen);
/* True when PATH is linked against musl (its loader is ld-musl-*): glibc's libtorwrap.so cannot load there. */
bool tw_exe_is_musl(const char *path);
/* True when the shared library at PATH was built against glibc (it names glibc's symbol versions). */
bool tw_lib_is_glibc(const char *path);

/* True in secure-execution mode (AT_SECURE: a setuid, setgid or setcap program, loaded through
 * /etc/ld.so.preload). The environment then belongs to a user who may not be trusted: nothing in it may steer
 * the library (see docs/leaks.md, "Secure-execution mode"). */
bool tw_secure_mode(void);

/* True for an environment entry ("NAME=value") that would configure torwrap: TORWRAP_*, TOR_*, SOCKS5_PROXY,
 * NO_PROXY, no_proxy. */
bool tw_env_is_ours(const char *entry);

#endif
