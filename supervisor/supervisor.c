/* supervisor.c: the seccomp supervisor behind `torwrap` for statically linked programs (and `--seccomp`).
 *
 * torwrap forks; the child installs a seccomp filter that traps the network system calls (connect, sendto with
 * an address, sendmsg, sendmmsg) with SECCOMP_RET_USER_NOTIF and refuses outright what cannot be routed (raw
 * and packet sockets, SCTP, io_uring, the i386 and x32 ABIs), sends the listener's number up a pipe and execs
 * the program. The parent takes the listener with pidfd_getfd and serves the whole tree (children inherit the
 * filter), the way the library serves libc's calls:
 *
 *  - connect(): the decision is made on the address read from the program's memory, and the supervisor then
 *    performs the connect itself on the program's own socket (a pidfd_getfd duplicate shares the open file:
 *    options, O_NONBLOCK and epoll registrations all survive): through the SOCKS5 proxy (by name for virtual
 *    addresses, ATYP 3), directly for what policy allows, or not at all (EPERM). The program's call is answered
 *    with the outcome; an AF_INET/AF_INET6 call never continues in the kernel (SECCOMP_USER_NOTIF_FLAG_CONTINUE
 *    would re-read the address from the program's memory after the decision).
 *  - DNS: a connect to port 53 (or to a nameserver of TORWRAP_RESOLV_CONF), UDP or TCP, is redirected in place
 *    to a responder inside the supervisor that answers from the shared virtual address map and forwards only
 *    allowed names to the configured nameservers. glibc, Go, c-ares (the library's own lookups) and dig all
 *    connect their query sockets and take the responder's answers. A query sent with an explicit address to
 *    port 53 (musl's way) is refused: such resolvers check the reply's source, so it could not be answered.
 *  - datagrams sent with an address: sent by the supervisor (from a copy) when the destination is allowed,
 *    else EPERM; TCP Fast Open with an address: EOPNOTSUPP (the destination is decided by connect()).
 *
 * What does continue in the kernel (SECCOMP_USER_NOTIF_FLAG_CONTINUE) is what no address can make leave:
 * sockets of other families (AF_UNIX, netlink), TCP sends without MSG_FASTOPEN (TCP ignores the address) and
 * sendmsg/sendmmsg without an address. Those decisions rest on the descriptor and on the msghdr as read; a
 * program racing itself on purpose (dup2 of a UDP socket over the descriptor, or an address written into the
 * msghdr by another thread, between the check and the kernel's own read) is outside what this defends: it
 * guards programs that leak by accident, as the library does. connect() never continues for inet sockets.
 *
 * Every notification is served on a thread of a pool that grows whenever all its threads are busy, so a slow
 * circuit stalls only its own caller. If the supervisor dies, the trapped calls fail with ENOSYS: fail closed.
 * Not done: getpeername() on a socket connected through the proxy reports the proxy (the library reports the
 * destination asked for). Verified facts and pitfalls: ../shared/docs/seccomp-notify.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/tw.h"
#include "../policy/policy.h"
#include "../resolver/resolver.h"
#include "../route/route.h"
#include "../socks5/socks5.h"
#include "supervisor.h"

/* Newer than some headers (Debian 12's lack the last two). */
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

#if defined(__x86_64__)
#define SV_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SV_ARCH AUDIT_ARCH_AARCH64
#endif

#define EXIT_REFUSED 126
#define EXIT_NOTFOUND 127

/* A handler's answer: >= 0 the call's value, < 0 a negative errno, or SV_CONTINUE (only for what cannot reach
 * the network whatever the program's memory says by the time the kernel reads it). */
#define SV_CONTINUE INT64_MIN

#define SV_POOL_MAX 512 /* notifications served at once */
#define SV_POOL_KEEP_IDLE 4 /* threads beyond this many idle ones leave */
#define SV_DGRAM_MAX (1u << 20) /* the largest datagram (GSO included) the supervisor copies and sends */
#define SV_CONTROL_MAX 65536
#define SV_FORWARDS_MAX 128 /* DNS queries being forwarded at once */
#define SV_DNS_MAX 65535
#define SV_DNS_TRY_MS 2500 /* per nameserver */

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

static struct sv_state sv = {
	.listener = -1,
	.dns_udp4 = -1,
	.dns_tcp4 = -1,
	.dns_udp6 = -1,
	.dns_tcp6 = -1,
	.pool_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* One notification being served. */
struct sv_call {
	const struct seccomp_notif *req;
	pid_t tid;
	int pidfd; /* -1 until opened */
	int sfd; /* our duplicate of the program's descriptor, -1 until taken */
	int domain, type, protocol;
};

/* ------------------------------------------------------------------------------------------- system calls */

static int sys_seccomp(unsigned op, unsigned flags, void *arg)
{
	return (int)syscall(SYS_seccomp, op, flags, arg);
}

static int sys_pidfd_open(pid_t pid, unsigned flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

static int sys_pidfd_getfd(int pidfd, int fd)
{
	return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

/* Reads LEN bytes at ADDR in process PID (any of its threads). 0 or a negative errno. */
static int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	if (len == 0)
		return 0;
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n < 0)
		return errno == ESRCH ? -ESRCH : -EFAULT;
	return (size_t)n == len ? 0 : -EFAULT;
}

static int mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct iovec local = { .iov_base = (void *)buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

static bool notif_valid(uint64_t id)
{
	return ioctl(sv.listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

/* The thread group of TID (from /proc), or -1. */
static pid_t tgid_of(pid_t tid)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	pid_t tgid = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Tgid:", 5) == 0) {
			tgid = (pid_t)strtol(line + 5, NULL, 10);
			break;
		}
	}
	fclose(f);
	return tgid;
}

/* A pidfd for the thread TID: PIDFD_THREAD (6.9), else the thread group's pidfd. */
static int pidfd_for(pid_t tid)
{
	static _Atomic bool no_thread_flag;
	if (!atomic_load_explicit(&no_thread_flag, memory_order_relaxed)) {
		int fd = sys_pidfd_open(tid, PIDFD_THREAD);
		if (fd >= 0)
			return fd;
		if (errno != EINVAL)
			return -errno;
		atomic_store_explicit(&no_thread_flag, true, memory_order_relaxed);
	}
	int fd = sys_pidfd_open(tid, 0);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT && errno != EINVAL)
		return -errno;
	pid_t tgid = tgid_of(tid);
	if (tgid <= 0)
		return -ESRCH;
	fd = sys_pidfd_open(tgid, 0);
	return fd >= 0 ? fd : -errno;
}

/* Takes the program's descriptor FD and learns what kind of socket it is. */
static int call_take_fd(struct sv_call *c, int fd)
{
	c->pidfd = pidfd_for(c->tid);
	if (c->pidfd < 0)
		return c->pidfd;
	/* The pidfd names the task that is waiting, not a successor that reused its number. */
	if (!notif_valid(c->req->id))
		return -ESRCH;
	c->sfd = sys_pidfd_getfd(c->pidfd, fd);
	if (c->sfd < 0)
		return -errno;
	socklen_t len = sizeof(int);
	if (getsockopt(c->sfd, SOL_SOCKET, SO_DOMAIN, &c->domain, &len) != 0)
		return -errno; /* ENOTSOCK, as the kernel would say */
	len = sizeof(int);
	if (getsockopt(c->sfd, SOL_SOCKET, SO_TYPE, &c->type, &len) != 0)
		return -errno;
	len = sizeof(int);
	if (getsockopt(c->sfd, SOL_SOCKET, SO_PROTOCOL, &c->protocol, &len) != 0)
		c->protocol = 0;
	return 0;
}

static bool call_is_inet(const struct sv_call *c)
{
	return c->domain == AF_INET || c->domain == AF_INET6;
}

static bool call_is_tcp(const struct sv_call *c)
{
	return c->type == SOCK_STREAM && (c->protocol == IPPROTO_TCP || c->protocol == IPPROTO_MPTCP);
}

/* ---------------------------------------------------------------------------------------------- sockets */

static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - tw_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int sv_send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline, void *ctx)
{
	(void)ctx;
	size_t off = 0;
	while (off < len) {
		ssize_t r = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int rc = wait_fd(fd, POLLOUT, deadline);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static ssize_t sv_recv_some(int fd, uint8_t *buf, size_t len, int64_t deadline, void *ctx)
{
	(void)ctx;
	for (;;) {
		ssize_t r = recv(fd, buf, len, MSG_DONTWAIT);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
	}
}

/* The library's default I/O calls libc through dlsym(RTLD_NEXT), which a static wrapper has not: ours. */
static const struct socks5_io sv_io = { .send_all = sv_send_all, .recv_some = sv_recv_some };

static int recv_exact(int fd, uint8_t *buf, size_t len, int64_t deadline)
{
	size_t off = 0;
	while (off < len) {
		ssize_t r = sv_recv_some(fd, buf + off, len - off, deadline, NULL);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -ECONNRESET;
		off += (size_t)r;
	}
	return 0;
}

static int64_t connect_in_place(int sfd, const struct sockaddr_storage *ss, socklen_t len)
{
	return connect(sfd, (const struct sockaddr *)ss, len) == 0 ? 0 : -errno;
}

/* ---------------------------------------------------------------------------------------- DNS messages */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static int dns_skip_name(const uint8_t *msg, size_t len, size_t *off)
{
	size_t o = *off;
	for (int labels = 0; labels < 128; labels++) {
		if (o >= len)
			return -1;
		uint8_t l = msg[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return -1;
			*off = o + 2;
			return 0;
		}
		if (l & 0xc0)
			return -1;
		o += 1 + (size_t)l;
		if (l == 0) {
			*off = o;
			return 0;
		}
	}
	return -1;
}

/* The A/AAAA records of the answer section of reply MSG. The count, or -ENOENT (NXDOMAIN), -EAGAIN. */
static int dns_reply_addrs(const uint8_t *msg, size_t len, struct resolver_addr *out, int max)
{
	if (len < 12 || !(msg[2] & 0x80))
		return -EAGAIN;
	int rcode = msg[3] & 0x0f;
	if (rcode == 3)
		return -ENOENT;
	if (rcode != 0)
		return -EAGAIN;
	size_t off = 12;
	for (unsigned i = 0, qd = get16(msg + 4); i < qd; i++) {
		if (dns_skip_name(msg, len, &off) != 0 || off + 4 > len)
			return -EAGAIN;
		off += 4;
	}
	int n = 0;
	for (unsigned i = 0, an = get16(msg + 6); i < an && n < max; i++) {
		if (dns_skip_name(msg, len, &off) != 0 || off + 10 > len)
			break;
		uint16_t type = get16(msg + off), class = get16(msg + off + 2), rdlen = get16(msg + off + 8);
		off += 10;
		if (off + rdlen > len)
			break;
		if (class == 1 && type == RESOLVER_DNS_A && rdlen == 4) {
			memset(&out[n], 0, sizeof(out[n]));
			out[n].family = AF_INET;
			memcpy(out[n++].addr, msg + off, 4);
		} else if (class == 1 && type == RESOLVER_DNS_AAAA && rdlen == 16) {
			memset(&out[n], 0, sizeof(out[n]));
			out[n].family = AF_INET6;
			memcpy(out[n++].addr, msg + off, 16);
		}
		off += rdlen;
	}
	return n;
}

/* ------------------------------------------------------------------------------------ DNS: forwarding */

static ssize_t forward_udp(const struct sockaddr_storage *ns, socklen_t nslen, const uint8_t *q, size_t qlen,
			   uint8_t *out, size_t outlen, int64_t deadline)
{
	int s = socket(ns->ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	ssize_t rc = -EAGAIN;
	if (connect(s, (const struct sockaddr *)ns, nslen) != 0 || send(s, q, qlen, MSG_NOSIGNAL) != (ssize_t)qlen) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		int w = wait_fd(s, POLLIN, deadline);
		if (w < 0) {
			rc = w;
			break;
		}
		ssize_t n = recv(s, out, outlen, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			rc = -errno; /* ECONNREFUSED: nobody there */
			break;
		}
		if (n >= 12 && out[0] == q[0] && out[1] == q[1] && (out[2] & 0x80)) {
			rc = n;
			break;
		}
	}
out:
	close(s);
	return rc;
}

static ssize_t forward_tcp(const struct sockaddr_storage *ns, socklen_t nslen, const uint8_t *q, size_t qlen,
			   uint8_t *out, size_t outlen, int64_t deadline)
{
	int s = socket(ns->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	uint8_t *msg = malloc(qlen + 2);
	ssize_t rc = -ENOMEM;
	if (msg == NULL)
		goto out;
	msg[0] = (uint8_t)(qlen >> 8);
	msg[1] = (uint8_t)qlen;
	memcpy(msg + 2, q, qlen);
	uint8_t hdr[2];
	if ((rc = route_connect_until(&sv.route, s, (const struct sockaddr *)ns, nslen, deadline)) < 0 ||
	    (rc = sv_send_all(s, msg, qlen + 2, deadline, NULL)) < 0 || (rc = recv_exact(s, hdr, 2, deadline)) < 0)
		goto out;
	size_t n = get16(hdr);
	if (n < 12 || n > outlen) {
		rc = -EBADMSG;
		goto out;
	}
	if ((rc = recv_exact(s, out, n, deadline)) < 0)
		goto out;
	rc = (ssize_t)n;
out:
	free(msg);
	close(s);
	return rc;
}

/* Asks the configured nameservers, in order. The reply's length, or a negative errno. */
static ssize_t dns_forward(const uint8_t *q, size_t qlen, uint8_t *out, size_t outlen, bool tcp)
{
	ssize_t rc = -EAGAIN;
	int per = sv.cfg->timeout_ms < SV_DNS_TRY_MS ? sv.cfg->timeout_ms : SV_DNS_TRY_MS;
	for (unsigned i = 0; i < sv.ns.nns; i++) {
		struct resolver_addr a = { .family = sv.ns.ns[i].family };
		memcpy(a.addr, sv.ns.ns[i].addr, 16);
		struct sockaddr_storage ss;
		socklen_t len = route_sockaddr_make(&a, sv.ns.ns[i].port, a.family, &ss);
		int64_t deadline = tw_now_ms() + per;
		rc = tcp ? forward_tcp(&ss, len, q, qlen, out, outlen, deadline)
			 : forward_udp(&ss, len, q, qlen, out, outlen, deadline);
		if (rc > 0)
			return rc;
	}
	return rc;
}

/* -------------------------------------------------------------------------------- DNS: the responder */

enum { RCODE_SERVFAIL = 2 };

/* Forwards an allowed question and remembers the addresses it resolved to; SERVFAIL when nobody answers. */
static ssize_t dns_answer_forwarded(const uint8_t *query, size_t len, struct resolver_dns_question *q,
				    uint8_t *out, size_t outlen, bool tcp)
{
	ssize_t r = dns_forward(query, len, out, outlen, tcp);
	if (r <= 0) {
		tw_error("DNS query for %s: no answer from the nameservers (%s)", q->name,
			 r < 0 ? strerror((int)-r) : "empty");
		return resolver_dns_build_reply(q, RCODE_SERVFAIL, NULL, 0, out, outlen);
	}
	char name[TW_NAME_MAX];
	struct resolver_addr addrs[RESOLVER_MAX_ADDRS];
	int n = dns_reply_addrs(out, (size_t)r, addrs, RESOLVER_MAX_ADDRS);
	if (tw_name_normalize(q->name, name) == 0)
		for (int i = 0; i < n; i++)
			vaddr_remember_direct(addrs[i].family, addrs[i].addr, name);
	tw_info("DNS query for %s: allowed, forwarded to the nameserver", q->name);
	return r;
}

struct udp_forward {
	int sock;
	struct sockaddr_storage from;
	socklen_t fromlen;
	size_t len;
	struct resolver_dns_question q;
	uint8_t query[];
};

static void *udp_forward_thread(void *arg)
{
	struct udp_forward *f = arg;
	uint8_t *out = malloc(SV_DNS_MAX);
	if (out) {
		ssize_t r = dns_answer_forwarded(f->query, f->len, &f->q, out, SV_DNS_MAX, false);
		if (r > 0)
			sendto(f->sock, out, (size_t)r, MSG_NOSIGNAL, (struct sockaddr *)&f->from, f->fromlen);
		free(out);
	}
	free(f);
	atomic_fetch_sub(&sv.forwards, 1);
	return NULL;
}

static int spawn_detached(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	int rc = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc;
}

static void udp_serve_one(int sock, uint8_t *buf, uint8_t *out)
{
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	ssize_t n = recvfrom(sock, buf, SV_DNS_MAX, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
	if (n <= 0)
		return;
	struct resolver_dns_question q;
	ssize_t r = route_dns_answer(&sv.route, buf, (size_t)n, &q, out, SV_DNS_MAX);
	if (r > 0) {
		sendto(sock, out, (size_t)r, MSG_NOSIGNAL, (struct sockaddr *)&from, fromlen);
		return;
	}
	if (r != ROUTE_DNS_FORWARD)
		return;
	/* The nameserver may be slow: answer it on a thread of its own (the client retries if we drop it). */
	if (atomic_fetch_add(&sv.forwards, 1) >= SV_FORWARDS_MAX) {
		atomic_fetch_sub(&sv.forwards, 1);
		return;
	}
	struct udp_forward *f = malloc(sizeof(*f) + (size_t)n);
	if (f == NULL) {
		atomic_fetch_sub(&sv.forwards, 1);
		return;
	}
	f->sock = sock;
	f->from = from;
	f->fromlen = fromlen;
	f->len = (size_t)n;
	f->q = q;
	memcpy(f->query, buf, (size_t)n);
	if (spawn_detached(udp_forward_thread, f) != 0) {
		free(f);
		atomic_fetch_sub(&sv.forwards, 1);
	}
}

static void *udp_responder(void *arg)
{
	(void)arg;
	uint8_t *buf = malloc(SV_DNS_MAX), *out = malloc(SV_DNS_MAX);
	if (buf == NULL || out == NULL)
		return NULL;
	for (;;) {
		struct pollfd p[2] = { { .fd = sv.dns_udp4, .events = POLLIN }, { .fd = sv.dns_udp6, .events = POLLIN } };
		if (poll(p, sv.dns_udp6 >= 0 ? 2 : 1, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++)
			if (p[i].fd >= 0 && (p[i].revents & POLLIN))
				udp_serve_one(p[i].fd, buf, out);
	}
	return NULL;
}

static void *tcp_connection(void *arg)
{
	int s = (int)(intptr_t)arg;
	uint8_t *buf = malloc(SV_DNS_MAX + 2), *out = malloc(SV_DNS_MAX + 2);
	while (buf && out) {
		uint8_t hdr[2];
		int64_t deadline = tw_now_ms() + 10000; /* an idle client is let go */
		if (recv_exact(s, hdr, 2, deadline) < 0)
			break;
		size_t n = get16(hdr);
		if (n == 0 || recv_exact(s, buf, n, deadline) < 0)
			break;
		struct resolver_dns_question q;
		ssize_t r = route_dns_answer(&sv.route, buf, n, &q, out + 2, SV_DNS_MAX);
		if (r == ROUTE_DNS_FORWARD)
			r = dns_answer_forwarded(buf, n, &q, out + 2, SV_DNS_MAX, true);
		if (r <= 0)
			break;
		out[0] = (uint8_t)(r >> 8);
		out[1] = (uint8_t)r;
		if (sv_send_all(s, out, (size_t)r + 2, tw_now_ms() + 10000, NULL) < 0)
			break;
	}
	free(buf);
	free(out);
	close(s);
	return NULL;
}

static void *tcp_responder(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = sv.dns_tcp4, .events = POLLIN }, { .fd = sv.dns_tcp6, .events = POLLIN } };
		if (poll(p, sv.dns_tcp6 >= 0 ? 2 : 1, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & POLLIN))
				continue;
			int s = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (s < 0)
				continue;
			if (spawn_detached(tcp_connection, (void *)(intptr_t)s) != 0)
				close(s);
		}
	}
	return NULL;
}

/* Binds a responder socket on loopback (v6: ::1 only) and returns it, its port in *PORT. */
static int responder_socket(int family, int type, uint16_t *port)
{
	int s = socket(family, type | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		int one = 1;
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	}
	if (bind(s, (struct sockaddr *)&ss, len) != 0 || (type == SOCK_STREAM && listen(s, 128) != 0) ||
	    getsockname(s, (struct sockaddr *)&ss, &len) != 0) {
		close(s);
		return -1;
	}
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				       : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return s;
}

static int responder_start(void)
{
	sv.dns_udp4 = responder_socket(AF_INET, SOCK_DGRAM, &sv.dns_udp4_port);
	sv.dns_tcp4 = responder_socket(AF_INET, SOCK_STREAM, &sv.dns_tcp4_port);
	if (sv.dns_udp4 < 0 || sv.dns_tcp4 < 0)
		return -errno;
	sv.dns_udp6 = responder_socket(AF_INET6, SOCK_DGRAM, &sv.dns_udp6_port);
	sv.dns_tcp6 = responder_socket(AF_INET6, SOCK_STREAM, &sv.dns_tcp6_port);
	if (sv.dns_udp6 < 0 || sv.dns_tcp6 < 0) { /* no ::1 here: IPv6 sockets get the v4-mapped responder */
		if (sv.dns_udp6 >= 0)
			close(sv.dns_udp6);
		if (sv.dns_tcp6 >= 0)
			close(sv.dns_tcp6);
		sv.dns_udp6 = sv.dns_tcp6 = -1;
	}
	if (spawn_detached(udp_responder, NULL) != 0 || spawn_detached(tcp_responder, NULL) != 0)
		return -EAGAIN;
	return 0;
}

/* Connects the program's socket to the responder instead of the nameserver it asked for. */
static pthread_once_t responder_once = PTHREAD_ONCE_INIT;
static int responder_status = -EAGAIN;

static void responder_start_once(void)
{
	responder_status = responder_start();
	if (responder_status < 0)
		tw_error("the DNS responder cannot start (%s): DNS queries fail", strerror(-responder_status));
}

static int64_t redirect_dns(const struct sv_call *c)
{
	/* Started by the first query: a program that never resolves a name pays nothing for it. */
	pthread_once(&responder_once, responder_start_once);
	if (responder_status < 0)
		return responder_status;
	bool tcp = c->type == SOCK_STREAM;
	struct sockaddr_storage ss;
	struct resolver_addr a;
	socklen_t len;
	memset(&a, 0, sizeof(a));
	if (c->domain == AF_INET6 && (tcp ? sv.dns_tcp6 : sv.dns_udp6) >= 0) {
		a.family = AF_INET6;
		a.addr[15] = 1;
		len = route_sockaddr_make(&a, tcp ? sv.dns_tcp6_port : sv.dns_udp6_port, AF_INET6, &ss);
	} else {
		a.family = AF_INET;
		uint32_t lo = htonl(INADDR_LOOPBACK);
		memcpy(a.addr, &lo, 4);
		len = route_sockaddr_make(&a, tcp ? sv.dns_tcp4_port : sv.dns_udp4_port, c->domain, &ss);
	}
	return connect_in_place(c->sfd, &ss, len);
}

/* ------------------------------------------------------------------------------------------ the proxy */

/* The calling thread, for the engine: the start of each log line, and its id as the process (the proxy connect
 * reads the real process id, for the isolation token, only when it needs it). */
static const struct route_caller *caller(const struct sv_call *c, struct route_caller *who, char *prefix,
					 size_t len)
{
	snprintf(prefix, len, "pid %d: ", (int)c->tid);
	who->pid = (long)c->tid;
	who->prefix = prefix;
	return who;
}

/* The program's socket becomes a connection through the proxy to TARGET, as the library's do. */
static int64_t proxy_connect(const struct sv_call *c, const struct socks5_target *target)
{
	struct route_caller who;
	char prefix[32];
	struct sockaddr_storage proxy;
	socklen_t plen;
	caller(c, &who, prefix, sizeof(prefix));
	pid_t tgid = tgid_of(c->tid); /* a thread's streams share its process's token */
	if (tgid > 0)
		who.pid = (long)tgid;
	return route_proxy_connect(&sv.route, &who, c->sfd, c->domain, target, &proxy, &plen);
}

/* ------------------------------------------------------------------------------------------- handlers */

/* Reads a sockaddr of ULEN bytes at UADDR as the kernel would take it. 0 or a negative errno. */
static int read_sockaddr(const struct sv_call *c, uint64_t uaddr, int64_t ulen, struct sockaddr_storage *ss,
			 socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (ulen < 0 || ulen > (int64_t)sizeof(*ss))
		return -EINVAL;
	*len = (socklen_t)ulen;
	int rc = mem_read(c->tid, uaddr, ss, (size_t)ulen);
	return rc;
}

static int64_t on_connect(struct sv_call *c)
{
	const struct seccomp_data *d = &c->req->data;
	int rc = call_take_fd(c, (int)d->args[0]);
	if (rc < 0)
		return rc;
	if (!call_is_inet(c))
		return SV_CONTINUE; /* AF_UNIX, netlink...: the socket's family cannot change, nor reach the network */
	struct sockaddr_storage ss;
	socklen_t len;
	if ((rc = read_sockaddr(c, d->args[1], (int)d->args[2], &ss, &len)) < 0)
		return rc;
	struct resolver_addr a;
	uint16_t port;
	/* AF_UNSPEC (dissolve the association) and malformed addresses: the kernel's answer, on our copy. */
	if (route_sockaddr_split((struct sockaddr *)&ss, len, &a, &port) != 0)
		return connect_in_place(c->sfd, &ss, len);
	bool tcp = call_is_tcp(c);
	if (c->type == SOCK_STREAM && ss.ss_family != c->domain)
		return connect_in_place(c->sfd, &ss, len); /* EAFNOSUPPORT from the kernel */

	char text[INET6_ADDRSTRLEN];
	if ((c->type == SOCK_DGRAM || tcp) && route_is_nameserver(&sv.route, &a, port)) {
		int64_t r = redirect_dns(c);
		tw_info("pid %d: connect %s:%u (%s): DNS, answered by torwrap's resolver", (int)c->tid,
			route_addr_text(&a, text, sizeof(text)), port, tcp ? "TCP" : "UDP");
		return r;
	}

	char name[TW_NAME_MAX], prefix[32];
	struct route_caller who;
	enum policy_verdict v =
		route_decide_addr(&sv.route, caller(c, &who, prefix, sizeof(prefix)), (struct sockaddr *)&ss, len, name);
	const char *dest = name[0] ? name : route_addr_text(&a, text, sizeof(text));
	if (v == POLICY_REFUSE)
		return -EPERM; /* logged by the engine */
	if (v == POLICY_DIRECT) {
		tw_info("pid %d: connect %s:%u: direct", (int)c->tid, dest, port);
		return connect_in_place(c->sfd, &ss, len);
	}
	if (!tcp) {
		tw_error("pid %d: connect %s:%u refused: only TCP can go through Tor", (int)c->tid, dest, port);
		return -EPERM;
	}
	struct socks5_target t;
	route_target(&a, port, name, &t);
	return proxy_connect(c, &t);
}

/* May a datagram of this socket go to SS? 0, or a negative errno (logged). */
static int datagram_check(const struct sv_call *c, const struct sockaddr_storage *ss, socklen_t len,
			  const char *verb)
{
	if (ss->ss_family != AF_INET && ss->ss_family != AF_INET6)
		return len < sizeof(sa_family_t) ? -EINVAL : -EAFNOSUPPORT;
	struct resolver_addr a;
	uint16_t port;
	if (route_sockaddr_split((const struct sockaddr *)ss, len, &a, &port) != 0)
		return -EINVAL;
	char text[INET6_ADDRSTRLEN];
	if (route_is_nameserver(&sv.route, &a, port)) {
		tw_error("pid %d: %s to the nameserver %s:%u refused: only queries on a connected socket are "
			 "answered (by torwrap)",
			 (int)c->tid, verb, route_addr_text(&a, text, sizeof(text)), port);
		return -EPERM;
	}
	char name[TW_NAME_MAX], prefix[32];
	struct route_caller who;
	enum policy_verdict v = route_decide_addr(&sv.route, caller(c, &who, prefix, sizeof(prefix)),
						  (const struct sockaddr *)ss, len, name);
	if (v == POLICY_DIRECT)
		return 0;
	if (v == POLICY_TOR) /* refusals are logged by the engine */
		tw_error("pid %d: %s to %s:%u refused: only TCP can go through Tor", (int)c->tid, verb,
			 name[0] ? name : route_addr_text(&a, text, sizeof(text)), port);
	return -EPERM;
}

static int64_t refuse_fastopen(const struct sv_call *c)
{
	tw_error("pid %d: TCP Fast Open with an address refused: connect() decides where a connection goes",
		 (int)c->tid);
	return -EOPNOTSUPP;
}

static int64_t on_sendto(struct sv_call *c)
{
	const struct seccomp_data *d = &c->req->data;
	uint64_t ubuf = d->args[1], ulen = d->args[2], udest = d->args[4];
	int flags = (int)d->args[3];
	int rc = call_take_fd(c, (int)d->args[0]);
	if (rc < 0)
		return rc;
	if (!call_is_inet(c))
		return SV_CONTINUE;
	if (call_is_tcp(c)) /* without MSG_FASTOPEN, TCP ignores the address: nothing to decide */
		return (flags & MSG_FASTOPEN) ? refuse_fastopen(c) : SV_CONTINUE;
	if (udest == 0)
		return SV_CONTINUE;
	struct sockaddr_storage ss;
	socklen_t len;
	if ((rc = read_sockaddr(c, udest, (int)d->args[5], &ss, &len)) < 0)
		return rc;
	if ((rc = datagram_check(c, &ss, len, "sendto")) < 0)
		return rc;
	if (ulen > SV_DGRAM_MAX)
		return -EMSGSIZE;
	uint8_t *buf = malloc(ulen ? ulen : 1);
	if (buf == NULL)
		return -ENOMEM;
	int64_t r = mem_read(c->tid, ubuf, buf, ulen);
	if (r == 0) {
		ssize_t n = sendto(c->sfd, buf, ulen, flags | MSG_NOSIGNAL, (struct sockaddr *)&ss, len);
		r = n >= 0 ? n : -errno;
	}
	free(buf);
	return r;
}

/* Sends the program's message UM (its pointers are the program's) from a copy, to NAME. */
static int64_t send_copied(const struct sv_call *c, const struct msghdr *um, const struct sockaddr_storage *name,
			   socklen_t namelen, int flags)
{
	if (um->msg_iovlen > IOV_MAX)
		return -EMSGSIZE;
	if (um->msg_controllen > SV_CONTROL_MAX)
		return -ENOBUFS;
	size_t niov = um->msg_iovlen;
	struct iovec *riov = calloc(niov ? niov : 1, sizeof(*riov));
	uint8_t *ctl = malloc(um->msg_controllen ? um->msg_controllen : 1);
	uint8_t *data = NULL;
	int64_t r = -ENOMEM;
	if (riov == NULL || ctl == NULL)
		goto out;
	if ((r = mem_read(c->tid, (uint64_t)(uintptr_t)um->msg_iov, riov, niov * sizeof(*riov))) < 0 ||
	    (r = mem_read(c->tid, (uint64_t)(uintptr_t)um->msg_control, ctl, um->msg_controllen)) < 0)
		goto out;
	size_t total = 0;
	for (size_t i = 0; i < niov; i++) {
		if (riov[i].iov_len > SV_DGRAM_MAX || (total += riov[i].iov_len) > SV_DGRAM_MAX) {
			r = -EMSGSIZE;
			goto out;
		}
	}
	r = -ENOMEM;
	if ((data = malloc(total ? total : 1)) == NULL)
		goto out;
	size_t off = 0;
	for (size_t i = 0; i < niov; i++) {
		if ((r = mem_read(c->tid, (uint64_t)(uintptr_t)riov[i].iov_base, data + off, riov[i].iov_len)) < 0)
			goto out;
		off += riov[i].iov_len;
	}
	struct iovec iov = { .iov_base = data, .iov_len = total };
	struct msghdr m = {
		.msg_name = (void *)name,
		.msg_namelen = name ? namelen : 0,
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = um->msg_controllen ? ctl : NULL,
		.msg_controllen = um->msg_controllen,
	};
	ssize_t n = sendmsg(c->sfd, &m, flags | MSG_NOSIGNAL);
	r = n >= 0 ? n : -errno;
out:
	free(riov);
	free(ctl);
	free(data);
	return r;
}

static int64_t on_sendmsg(struct sv_call *c)
{
	const struct seccomp_data *d = &c->req->data;
	int flags = (int)d->args[2];
	struct msghdr um;
	int rc = mem_read(c->tid, d->args[1], &um, sizeof(um));
	if (rc < 0)
		return rc;
	/* No address (the common case, on a connected socket): nothing to decide, and no descriptor to take. */
	if (um.msg_name == NULL || um.msg_namelen == 0)
		return SV_CONTINUE;
	if ((rc = call_take_fd(c, (int)d->args[0])) < 0)
		return rc;
	if (!call_is_inet(c))
		return SV_CONTINUE;
	if (call_is_tcp(c))
		return (flags & MSG_FASTOPEN) ? refuse_fastopen(c) : SV_CONTINUE;
	struct sockaddr_storage ss;
	socklen_t len;
	/* The kernel truncates a longer name to a sockaddr_storage. */
	int64_t ulen = um.msg_namelen > sizeof(ss) ? (int64_t)sizeof(ss) : (int64_t)um.msg_namelen;
	if ((rc = read_sockaddr(c, (uint64_t)(uintptr_t)um.msg_name, ulen, &ss, &len)) < 0)
		return rc;
	if ((rc = datagram_check(c, &ss, len, "sendmsg")) < 0)
		return rc;
	return send_copied(c, &um, &ss, len, flags);
}

static int64_t on_sendmmsg(struct sv_call *c)
{
	const struct seccomp_data *d = &c->req->data;
	uint64_t uvec = d->args[1];
	unsigned vlen = (unsigned)d->args[2];
	int flags = (int)d->args[3];
	if (vlen > UIO_MAXIOV)
		vlen = UIO_MAXIOV; /* as the kernel */
	if (vlen == 0)
		return SV_CONTINUE;
	struct mmsghdr *vec = calloc(vlen, sizeof(*vec));
	if (vec == NULL)
		return -ENOMEM;
	int64_t r = mem_read(c->tid, uvec, vec, vlen * sizeof(*vec));
	if (r < 0)
		goto out;
	bool named = false;
	for (unsigned i = 0; i < vlen; i++)
		named |= vec[i].msg_hdr.msg_name != NULL && vec[i].msg_hdr.msg_namelen != 0;
	r = SV_CONTINUE; /* glibc's resolver sends its A and AAAA queries this way, on a connected socket */
	if (!named)
		goto out;
	if ((r = call_take_fd(c, (int)d->args[0])) < 0)
		goto out;
	r = SV_CONTINUE;
	if (!call_is_inet(c))
		goto out;
	if (call_is_tcp(c)) {
		r = (flags & MSG_FASTOPEN) ? refuse_fastopen(c) : SV_CONTINUE;
		goto out;
	}
	struct sockaddr_storage *names = calloc(vlen, sizeof(*names));
	socklen_t *lens = calloc(vlen, sizeof(*lens));
	r = -ENOMEM;
	if (names && lens) {
		r = 0;
		for (unsigned i = 0; i < vlen && r == 0; i++) {
			const struct msghdr *m = &vec[i].msg_hdr;
			if (m->msg_name == NULL || m->msg_namelen == 0)
				continue;
			int64_t ulen = m->msg_namelen > sizeof(names[i]) ? (int64_t)sizeof(names[i])
									  : (int64_t)m->msg_namelen;
			r = read_sockaddr(c, (uint64_t)(uintptr_t)m->msg_name, ulen, &names[i], &lens[i]);
			if (r == 0)
				r = datagram_check(c, &names[i], lens[i], "sendmmsg");
		}
		/* Every destination is allowed: send them in order, as the kernel would, and report the count. */
		unsigned sent = 0;
		for (unsigned i = 0; i < vlen && r == 0; i++) {
			const struct msghdr *m = &vec[i].msg_hdr;
			bool has = m->msg_name != NULL && m->msg_namelen != 0;
			int64_t n = send_copied(c, m, has ? &names[i] : NULL, lens[i], flags);
			if (n < 0) {
				if (sent == 0)
					r = n;
				break;
			}
			unsigned len32 = (unsigned)n;
			mem_write(c->tid, uvec + i * sizeof(*vec) + offsetof(struct mmsghdr, msg_len), &len32,
				  sizeof(len32));
			sent++;
		}
		if (r == 0)
			r = sent;
	}
	free(names);
	free(lens);
out:
	free(vec);
	return r;
}

static void respond(const struct seccomp_notif *req, struct seccomp_notif_resp *resp, int64_t r)
{
	memset(resp, 0, sv.resp_size);
	resp->id = req->id;
	if (r == SV_CONTINUE)
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	else if (r < 0)
		resp->error = (int32_t)r;
	else
		resp->val = r;
	while (ioctl(sv.listener, SECCOMP_IOCTL_NOTIF_SEND, resp) != 0 && errno == EINTR)
		;
	/* ENOENT: the caller is gone, or was interrupted by a fatal signal; nothing to do. */
}

static void serve(const struct seccomp_notif *req, struct seccomp_notif_resp *resp)
{
	struct sv_call c = { .req = req, .tid = (pid_t)req->pid, .pidfd = -1, .sfd = -1 };
	int64_t r;
	switch (req->data.nr) {
	case SYS_connect:
		r = on_connect(&c);
		break;
	case SYS_sendto:
		r = on_sendto(&c);
		break;
	case SYS_sendmsg:
		r = on_sendmsg(&c);
		break;
	case SYS_sendmmsg:
		r = on_sendmmsg(&c);
		break;
	default:
		r = -ENOSYS;
		break;
	}
	/* Our duplicate goes before the answer, so a program closing its socket right away closes it for real. */
	if (c.sfd >= 0)
		close(c.sfd);
	if (c.pidfd >= 0)
		close(c.pidfd);
	respond(req, resp, r);
}

/* ------------------------------------------------------------------------------------------- the pool */

static void *pool_worker(void *arg);

static int pool_spawn(void)
{
	pthread_mutex_lock(&sv.pool_lock);
	if (sv.pool_total >= SV_POOL_MAX) {
		pthread_mutex_unlock(&sv.pool_lock);
		return -EAGAIN;
	}
	sv.pool_total++;
	pthread_mutex_unlock(&sv.pool_lock);
	if (spawn_detached(pool_worker, NULL) != 0) {
		pthread_mutex_lock(&sv.pool_lock);
		sv.pool_total--;
		pthread_mutex_unlock(&sv.pool_lock);
		return -EAGAIN;
	}
	return 0;
}

/* Leader/followers: every idle thread waits in NOTIF_RECV; the one that takes a notification starts another
 * thread when none is left waiting, so a notification never waits behind a slow one. */
static void *pool_worker(void *arg)
{
	(void)arg;
	struct seccomp_notif *req = malloc(sv.notif_size);
	struct seccomp_notif_resp *resp = malloc(sv.resp_size);
	for (bool run = req && resp; run;) {
		pthread_mutex_lock(&sv.pool_lock);
		sv.pool_idle++;
		pthread_mutex_unlock(&sv.pool_lock);
		memset(req, 0, sv.notif_size); /* the kernel refuses a dirty buffer */
		int rc = ioctl(sv.listener, SECCOMP_IOCTL_NOTIF_RECV, req);
		int err = errno;
		pthread_mutex_lock(&sv.pool_lock);
		bool more = --sv.pool_idle == 0 && rc == 0;
		pthread_mutex_unlock(&sv.pool_lock);
		if (more)
			pool_spawn();
		if (rc != 0) {
			/* ENOENT: the caller went away before we took it, or the tree is gone (then it comes at once,
			 * every time: leave). Nothing else is expected; the pool must not empty itself over it (a
			 * trapped call would then wait forever), nor spin. */
			struct pollfd p = { .fd = sv.listener, .events = 0 };
			if (err == ENOENT && poll(&p, 1, 0) == 1 && (p.revents & POLLHUP))
				break;
			if (err != EINTR && err != ENOENT)
				usleep(10000);
			continue;
		}
		serve(req, resp);
		pthread_mutex_lock(&sv.pool_lock);
		run = sv.pool_idle < SV_POOL_KEEP_IDLE;
		pthread_mutex_unlock(&sv.pool_lock);
	}
	pthread_mutex_lock(&sv.pool_lock);
	sv.pool_total--;
	pthread_mutex_unlock(&sv.pool_lock);
	free(req);
	free(resp);
	return NULL;
}

/* -------------------------------------------------------------------------------------------- startup */

static int probe_available(char *why, size_t whylen);

/* Asked by the wrapper when it plans, and again when it runs: the kernel's answer is probed once. */
int supervisor_available(char *why, size_t whylen)
{
	static int known; /* 0 unknown, 1 available, -1 not */
	static char known_why[256];
	if (known == 0) {
		known = probe_available(known_why, sizeof(known_why)) == 0 ? 1 : -1;
	}
	if (known < 0)
		snprintf(why, whylen, "%s", known_why);
	return known > 0 ? 0 : -1;
}

static int probe_available(char *why, size_t whylen)
{
#ifndef SV_ARCH
	snprintf(why, whylen, "the seccomp supervisor does not know this architecture");
	return -1;
#else
	unsigned action = SECCOMP_RET_USER_NOTIF;
	struct seccomp_notif_sizes sizes;
	if (sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0 ||
	    sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
		snprintf(why, whylen, "%s",
			 errno == EPERM || errno == EACCES
				 ? "seccomp() is not allowed here (a container's seccomp profile?)"
				 : "the kernel has no seccomp user notification (Linux 5.0 or later is needed)");
		return -1;
	}
	int pfd = sys_pidfd_open(getpid(), 0);
	if (pfd < 0) {
		snprintf(why, whylen, "%s",
			 errno == ENOSYS ? "the kernel has no pidfd_open (Linux 5.3 or later is needed)"
					 : "pidfd_open is not allowed here (a container's seccomp profile?)");
		return -1;
	}
	int dup = sys_pidfd_getfd(pfd, pfd);
	int err = errno;
	close(pfd);
	if (dup < 0) {
		snprintf(why, whylen, "%s",
			 err == ENOSYS ? "the kernel has no pidfd_getfd (Linux 5.6 or later is needed)"
				       : "pidfd_getfd is not allowed here (a container's seccomp profile, or no ptrace "
					 "access?)");
		return -1;
	}
	close(dup);
	int probe = 42, copy = 0;
	struct iovec l = { .iov_base = &copy, .iov_len = sizeof(copy) };
	struct iovec r = { .iov_base = &probe, .iov_len = sizeof(probe) };
	if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) != (ssize_t)sizeof(probe) || copy != probe) {
		snprintf(why, whylen, "process_vm_readv is not allowed here (a container's seccomp profile?)");
		return -1;
	}
	return 0;
#endif
}

/* Child -> parent messages on the bootstrap pipe. */
enum { MSG_LISTENER = 1, MSG_SETUP_FAILED, MSG_EXEC_FAILED };

struct boot_msg {
	int kind;
	int value; /* the listener's number, or an errno */
	int killable; /* WAIT_KILLABLE_RECV in force */
};

static void child_send(int fd, int kind, int value, int killable)
{
	struct boot_msg m = { .kind = kind, .value = value, .killable = killable };
	ssize_t n;
	do
		n = write(fd, &m, sizeof(m));
	while (n < 0 && errno == EINTR);
}

static void child_main(int up, int down, const sigset_t *mask, const char *path, char *const argv[],
		       char *const envp[], uint64_t cookie)
{
	struct sock_filter filter[TW_FILTER_MAX];
	struct sock_fprog prog = { .filter = filter };
	if (tw_filter_build(filter, &prog.len, cookie, TW_TRAP_NOTIFY) != 0) {
		child_send(up, MSG_SETUP_FAILED, EINVAL, 0);
		_exit(EXIT_REFUSED);
	}
	/* No new privileges: seccomp() needs it unprivileged, and a setuid program would not keep the filter
	 * honest anyway (torwrap refuses those). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		child_send(up, MSG_SETUP_FAILED, errno, 0);
		_exit(EXIT_REFUSED);
	}
	int killable = 1;
	int listener = sys_seccomp(SECCOMP_SET_MODE_FILTER,
				   SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
	if (listener < 0 && errno == EINVAL) { /* before 5.19 */
		killable = 0;
		listener = sys_seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	}
	if (listener < 0) {
		child_send(up, MSG_SETUP_FAILED, errno, 0);
		_exit(EXIT_REFUSED);
	}
	/* From here on our own network calls would wait for the supervisor: only the pipes until exec. The
	 * number goes up, not the descriptor (SCM_RIGHTS is a sendmsg, trapped with nobody listening yet). */
	child_send(up, MSG_LISTENER, listener, killable);
	char ack;
	ssize_t n;
	do
		n = read(down, &ack, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(EXIT_REFUSED); /* the supervisor is gone */
	/* Only the supervisor may hold the listener: if it dies, the trapped calls must fail. */
	close(listener);
	close(down);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	execve(path, argv, envp);
	int err = errno;
	child_send(up, MSG_EXEC_FAILED, err, 0);
	_exit(err == ENOENT ? EXIT_NOTFOUND : EXIT_REFUSED);
}

static int read_msg(int fd, struct boot_msg *m)
{
	ssize_t n;
	do
		n = read(fd, m, sizeof(*m));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 0 : -1;
}

/* Dies of the signal that killed the program, so the caller sees the same status; else 128 + SIG. */
static int die_like(int sig)
{
	struct rlimit none = { 0, 0 };
	setrlimit(RLIMIT_CORE, &none); /* the program's core, if any, is written already */
	signal(sig, SIG_DFL);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	kill(getpid(), sig);
	return 128 + sig;
}

static const int forwarded_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT,
					 SIGALRM, SIGTSTP };

/* Waits for the program and for the last process of its tree, forwarding signals meanwhile. */
static int wait_tree(int sigfd, pid_t child)
{
	int status = 0;
	bool child_done = false, tree_done = false;
	while (!(child_done && tree_done)) {
		struct pollfd p[2] = { { .fd = sigfd, .events = POLLIN }, { .fd = sv.listener, .events = 0 } };
		int r = poll(p, tree_done ? 1 : 2, -1);
		if (r < 0 && errno != EINTR)
			break;
		if (!tree_done && (p[1].revents & (POLLHUP | POLLERR | POLLNVAL)))
			tree_done = true; /* no process uses the filter any more */
		if (!(p[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD) {
			/* A subreaper: orphans of the tree come to us too. */
			for (;;) {
				int st;
				pid_t w = waitpid(-1, &st, WNOHANG | WUNTRACED);
				if (w <= 0)
					break;
				if (w == child && WIFSTOPPED(st)) {
					/* Job control (^Z): the shell waits for us, so we stop along; its SIGCONT wakes both. */
					int s = WSTOPSIG(st);
					if (s == SIGTSTP || s == SIGTTIN || s == SIGTTOU)
						kill(getpid(), SIGSTOP);
					continue;
				}
				if (w == child) {
					status = st;
					child_done = true;
				}
			}
			continue;
		}
		/* Signals from the terminal (SI_KERNEL) reached the program's process group already. */
		if (!child_done && (int)si.ssi_code <= 0)
			kill(child, (int)si.ssi_signo);
	}
	if (WIFSIGNALED(status))
		return die_like(WTERMSIG(status));
	return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_REFUSED;
}

int supervisor_run(const struct tw_config *cfg, const char *path, char *const argv[], char *const envp[],
		   uint64_t cookie)
{
	char why[256];
	if (supervisor_available(why, sizeof(why)) != 0) {
		fprintf(stderr, "torwrap: cannot supervise %s: %s\n", path, why);
		return EXIT_REFUSED;
	}
	sv.cfg = cfg;
	tw_log_set_level(cfg->log_level);
	int rc = vaddr_attach(cfg->vnet_addr, cfg->vnet_mask);
	if (rc < 0) {
		fprintf(stderr, "torwrap: cannot attach the virtual address map: %s\n", strerror(-rc));
		return EXIT_REFUSED;
	}
	if (resolver_parse_resolv_conf(cfg->resolv_text ? cfg->resolv_text : "", &sv.ns) != 0)
		sv.ns.nns = 0; /* config_build reported it already: names then fail closed */
	sv.route = (struct route_ctx){
		.cfg = cfg, .ns = &sv.ns, .io = &sv_io, .connect = connect, .conn_seq = &sv.conn_seq,
	};
	struct seccomp_notif_sizes sizes;
	if (sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
		fprintf(stderr, "torwrap: seccomp notification sizes: %s\n", strerror(errno));
		return EXIT_REFUSED;
	}
	sv.notif_size = sizes.seccomp_notif > sizeof(struct seccomp_notif) ? sizes.seccomp_notif
									      : sizeof(struct seccomp_notif);
	sv.resp_size = sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp) ? sizes.seccomp_notif_resp
										    : sizeof(struct seccomp_notif_resp);

	/* Orphans of the tree stay our descendants: reaped here, and still ours to read (ptrace scope). */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	sigset_t fwd, old;
	sigemptyset(&fwd);
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		sigaddset(&fwd, forwarded_signals[i]);
	sigaddset(&fwd, SIGCHLD);
	sigprocmask(SIG_BLOCK, &fwd, &old);

	int up[2], down[2];
	if (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0) {
		fprintf(stderr, "torwrap: pipe: %s\n", strerror(errno));
		return EXIT_REFUSED;
	}
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "torwrap: fork: %s\n", strerror(errno));
		return EXIT_REFUSED;
	}
	if (child == 0) {
		close(up[0]);
		close(down[1]);
		child_main(up[1], down[0], &old, path, argv, envp, cookie);
	}
	close(up[1]);
	close(down[0]);
	sv.child = child;
	signal(SIGPIPE, SIG_IGN);

	struct boot_msg m;
	int pidfd = sys_pidfd_open(child, 0);
	if (read_msg(up[0], &m) != 0 || m.kind != MSG_LISTENER) {
		int err = m.kind == MSG_SETUP_FAILED ? m.value : EIO;
		fprintf(stderr, "torwrap: cannot install the seccomp filter for %s: %s\n", path, strerror(err));
		waitpid(child, NULL, 0);
		return EXIT_REFUSED;
	}
	sv.listener = pidfd >= 0 ? sys_pidfd_getfd(pidfd, m.value) : -1;
	if (sv.listener < 0) {
		fprintf(stderr, "torwrap: cannot take the seccomp listener: %s\n", strerror(errno));
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return EXIT_REFUSED;
	}
	close(pidfd);
	if (!m.killable)
		tw_warn("the kernel lacks SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19): a program receiving "
			"frequent signals may restart a slow connect");
	/* Wake the waiting thread on our CPU (6.6): a notification round trip several times cheaper. */
	ioctl(sv.listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);

	if (pool_spawn() != 0 || pool_spawn() != 0) {
		fprintf(stderr, "torwrap: cannot start the supervisor: %s\n", strerror(EAGAIN));
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return EXIT_REFUSED;
	}
	int sigfd = signalfd(-1, &fwd, SFD_CLOEXEC);
	char ack = 1;
	if (sigfd < 0 || write(down[1], &ack, 1) != 1) {
		fprintf(stderr, "torwrap: cannot start %s: %s\n", path, strerror(errno));
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return EXIT_REFUSED;
	}
	close(down[1]);
	if (read_msg(up[0], &m) == 0 && m.kind == MSG_EXEC_FAILED) {
		fprintf(stderr, "torwrap: %s: %s\n", path, strerror(m.value));
		waitpid(child, NULL, 0);
		return m.value == ENOENT ? EXIT_NOTFOUND : EXIT_REFUSED;
	}
	close(up[0]);
	return wait_tree(sigfd, child);
}
