/* sv.h: what the supervisor's files share. Internal to supervisor/ (the module's public face is supervisor.h,
 * and nothing outside this folder includes this file).
 *
 *   run.c        supervisor_run and supervisor_available: the child under the filter, the wait for the tree
 *   notify.c     the notification loop (a pool of threads), and the program's memory and descriptors
 *   handlers.c   what each trapped call does: connect, sendto, sendmsg, sendmmsg (the decisions)
 *   send.c       the sends themselves, performed from what was copied out of the program's memory
 *   unixaddr.c   a Unix socket's path, looked up where the program would look it up
 *   creds.c      a call performed with the credentials of the thread that made it
 *   responder.c  the DNS responder that the program's queries are redirected to
 *   learned.c    the allowed names behind addresses, as the supervisor learned them (never the shared map's)
 *   io.c         socket I/O with a deadline, for the proxy connect and the responder
 *
 * Names: sv_ for what the files share here, supervisor_ for the public face; internal functions return a
 * negative errno.
 */
#ifndef TORWRAP_SUPERVISOR_SV_H
#define TORWRAP_SUPERVISOR_SV_H

#include <linux/seccomp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/tw.h"
#include "../policy/policy.h"
#include "../resolver/resolver.h"
#include "../route/route.h"
#include "../socks5/socks5.h"

struct sv_state {
	const struct tw_config *cfg;
	int listener;
	size_t notif_size, resp_size;
	pid_t child;
	struct resolver_conf ns; /* where allowed names are forwarded (TORWRAP_RESOLV_CONF) */

	/* The DNS responder, on 127.0.0.1 and, when the host has it, ::1 (-1 when absent). */
	int dns_udp4, dns_tcp4, dns_udp6, dns_tcp6;
	uint16_t dns_udp4_port, dns_tcp4_port, dns_udp6_port, dns_tcp6_port;
	_Atomic int forwards;
	_Atomic uint64_t conn_seq; /* connections through the proxy, for isolation "connection" */

	struct route_ctx route; /* the routing engine, as this front end uses it */

	pthread_mutex_t pool_lock; /* guards pool_idle and pool_total */
	int pool_idle, pool_total;
};

/* The supervisor's one state, defined in run.c: supervisor_run fills it in before the first notification (the
 * responder's sockets, on the first DNS query); the pool's counters move under pool_lock. */
extern struct sv_state sv;

/* One notification being served. A handler's answer is >= 0, the call's value, or a negative errno: every
 * trapped call is performed by the supervisor, none continues in the kernel. */
struct sv_call {
	const struct seccomp_notif *req;
	pid_t tid;
	int pidfd; /* -1 until opened */
	int sfd; /* our duplicate of the program's descriptor, -1 until taken */
	int domain, type, protocol;
	int memfd; /* /proc/TID/mem, opened before the caller's credentials were taken (creds.c), else -1 */
	bool as_caller; /* this thread took the caller's credentials (creds.c): it leaves the pool once done */
};

/* ------------------------------------------------------------------------------------------- system calls */

static inline int sys_seccomp(unsigned op, unsigned flags, void *arg)
{
	return (int)syscall(SYS_seccomp, op, flags, arg);
}

static inline int sys_pidfd_open(pid_t pid, unsigned flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

static inline int sys_pidfd_getfd(int pidfd, int fd)
{
	return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

/* -------------------------------------------------------------------------------------------- notify.c */

/* Starts one more thread of the pool (run.c starts the first two). 0, or -EAGAIN. */
int sv_pool_spawn(void);

/* A detached thread with a small stack: the pool's, the responder's. pthread_create's answer. */
int sv_spawn_detached(void *(*fn)(void *), void *arg);

/* The caller's memory: LEN bytes at ADDR, 0 or a negative errno (-EFAULT for any part that cannot be reached). */
int sv_mem_read(const struct sv_call *c, uint64_t addr, void *buf, size_t len);
int sv_mem_write(const struct sv_call *c, uint64_t addr, const void *buf, size_t len);
/* The pieces REMOTE (N) of the caller's memory into BUF, in order: the count read (short before a piece that
 * faults), or -EFAULT when nothing could be, -ESRCH. */
ssize_t sv_mem_readv(const struct sv_call *c, void *buf, const struct iovec *remote, size_t n);
pid_t sv_tgid_of(pid_t tid);
/* /proc/TID/status, whole and NUL-terminated (to free), or NULL (errno set). */
char *sv_proc_status(pid_t tid);
/* The hexadecimal value after KEY in STATUS ("\nSigPnd:"), 0 when absent. */
uint64_t sv_status_hex(const char *status, const char *key);
int sv_call_take_fd(struct sv_call *c, int fd);
/* 0 while the caller still waits for this notification, else -ESRCH: checked after reading its memory and before
 * acting on it, so what was read came from the caller and not from a process that reused its id. */
int sv_call_valid(const struct sv_call *c);

/* ------------------------------------------------------------------------------------------ handlers.c */

int64_t sv_on_connect(struct sv_call *c);
int64_t sv_on_sendto(struct sv_call *c);
int64_t sv_on_sendmsg(struct sv_call *c);
int64_t sv_on_sendmmsg(struct sv_call *c);

/* ------------------------------------------------------------------------------------------------ send.c */

/* A message to send for the program: what was copied out of its memory (the address, the iovecs' bounds, the
 * control data); the data itself is copied as it is sent, at most SV_CHUNK bytes at a time. */
struct sv_msg {
	struct sockaddr_storage name; /* the address the decision was made on, sent as given */
	socklen_t namelen;
	bool has_name;
	struct iovec *iov; /* the program's iovecs (their pointers are the program's) */
	size_t niov;
	size_t total; /* their total length, as the kernel caps it */
	uint8_t *ctl; /* the control data, copied */
	size_t ctllen;
	int flags; /* the program's flags */
};

/* The message's address (the kernel's rules: a negative length is EINVAL, a longer one cut to a
 * sockaddr_storage, none without a pointer or a length). 0 or a negative errno. */
int sv_msg_read_name(const struct sv_call *c, const struct msghdr *um, struct sv_msg *m);
/* The rest of the message: the iovecs (UIO_MAXIOV at most: EMSGSIZE) and the control data. 0 or a negative errno. */
int sv_msg_read_body(const struct sv_call *c, const struct msghdr *um, struct sv_msg *m);
/* Walks M's control data as the kernel's __scm_send and ip_cmsg_send do (a header that does not fit is their
 * EINVAL), so that every message the kernel will read is seen: FN with each, its error ending the walk. */
int sv_msg_each_cmsg(struct sv_msg *m, int (*fn)(struct cmsghdr *, void *), void *arg);
/* Sends M on the caller's socket, decided already: the call's value, or a negative errno. */
int64_t sv_msg_send(struct sv_call *c, struct sv_msg *m);
/* Frees what sv_msg_read_body allocated (M stays reusable). */
void sv_msg_free(struct sv_msg *m);

/* -------------------------------------------------------------------------------------------- unixaddr.c */

/* Where a Unix socket address leads for the program. */
struct sv_unix_addr {
	struct sockaddr_storage ss; /* what the kernel is given: the program's address, or "/proc/self/fd/N" */
	socklen_t len;
	int base; /* the directory the lookup starts from (the program's), AT_FDCWD, or -1: nothing to look up */
	uint64_t resolve; /* openat2's RESOLVE_* flags */
	char *path; /* the path to look up from BASE (allocated), or NULL */
	int file; /* the socket's file (O_PATH) or the program's descriptor it named, -1 */
};

/* Reads the address SS (LEN bytes) for the caller's socket: a Unix path's starting point is opened (with the
 * supervisor's right to read the caller's /proc entries); any other address is passed as given. 0 or a
 * negative errno. */
int sv_unix_prepare(struct sv_call *c, const struct sockaddr_storage *ss, socklen_t len, struct sv_unix_addr *u);
/* Looks the path up (after sv_call_as_caller: with the caller's credentials), so that U->ss/U->len name the
 * socket it reaches. 0 or the negative errno the program's own lookup would have met. */
int sv_unix_resolve(struct sv_unix_addr *u);
void sv_unix_release(struct sv_unix_addr *u);

/* ----------------------------------------------------------------------------------------------- creds.c */

/* Takes the caller's credentials on this thread when they differ from the supervisor's (C->as_caller then set),
 * so that the kernel checks the program's rights, not torwrap's. 0, or -EPERM (logged). */
int sv_call_as_caller(struct sv_call *c);
/* Whether this thread holds CAP_SYS_ADMIN (the kernel then accepts any pid in SCM_CREDENTIALS). */
bool sv_thread_has_sys_admin(void);

/* ------------------------------------------------------------------------------------------ learned.c */

/* The supervisor's own record of the allowed names behind addresses (sv.route.learned). */
extern const struct route_learned sv_learned;

/* ----------------------------------------------------------------------------------------- responder.c */

/* Connects the program's socket (a connect to a nameserver) to the responder instead. */
int64_t sv_redirect_dns(const struct sv_call *c);

/* ------------------------------------------------------------------------------------------------ io.c */

/* The SOCKS exchange's I/O, for the engine (sv.route.io). */
extern const struct socks5_io sv_io;

int sv_wait_fd(int fd, short events, int64_t deadline);
int sv_send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline, void *ctx);
int sv_recv_exact(int fd, uint8_t *buf, size_t len, int64_t deadline);
int64_t sv_connect_in_place(int sfd, const struct sockaddr_storage *ss, socklen_t len);

#endif
