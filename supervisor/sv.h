/* sv.h: what the supervisor's files share. Internal to supervisor/ (the module's public face is supervisor.h,
 * and nothing outside this folder includes this file).
 *
 *   run.c        supervisor_run and supervisor_available: the child under the filter, the wait for the tree
 *   notify.c     the notification loop (a pool of threads), and the program's memory and descriptors
 *   handlers.c   what each trapped call does: connect, sendto, sendmsg, sendmmsg
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
#include <unistd.h>

#include "../common/tw.h"
#include "../policy/policy.h"
#include "../resolver/resolver.h"
#include "../route/route.h"
#include "../socks5/socks5.h"

/* A handler's answer: >= 0 the call's value, < 0 a negative errno, or SV_CONTINUE (only for what cannot reach
 * the network whatever the program's memory says by the time the kernel reads it). */
#define SV_CONTINUE INT64_MIN

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

/* One notification being served. */
struct sv_call {
	const struct seccomp_notif *req;
	pid_t tid;
	int pidfd; /* -1 until opened */
	int sfd; /* our duplicate of the program's descriptor, -1 until taken */
	int domain, type, protocol;
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

int sv_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len);
int sv_mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len);
pid_t sv_tgid_of(pid_t tid);
int sv_call_take_fd(struct sv_call *c, int fd);

/* ------------------------------------------------------------------------------------------ handlers.c */

int64_t sv_on_connect(struct sv_call *c);
int64_t sv_on_sendto(struct sv_call *c);
int64_t sv_on_sendmsg(struct sv_call *c);
int64_t sv_on_sendmmsg(struct sv_call *c);

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
