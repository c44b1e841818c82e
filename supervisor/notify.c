/* notify.c: the notification loop: a pool of threads that take the trapped calls from the seccomp listener,
 * hand each to its handler (handlers.c) and give the kernel the answer; and what a handler reaches of the
 * calling program: its memory (process_vm_readv/writev) and its descriptors (a pidfd, then pidfd_getfd).
 *
 * Every notification is served on a thread of a pool that grows whenever all its threads are busy, so a slow
 * circuit stalls only its own caller. If the supervisor dies, the trapped calls fail with ENOSYS: fail closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sv.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

#define SV_POOL_MAX 512 /* notifications served at once */
#define SV_POOL_KEEP_IDLE 4 /* threads beyond this many idle ones leave */

/* ------------------------------------------------------------------- the program's memory and descriptors */

/* The caller's memory goes through process_vm_readv/writev, which check the supervisor's right to reach the caller
 * at each call; once the serving thread took the caller's credentials (creds.c), through /proc/TID/mem, opened
 * before (checked when opened). */
ssize_t sv_mem_readv(const struct sv_call *c, void *buf, const struct iovec *remote, size_t n)
{
	size_t want = 0, got = 0;
	for (size_t i = 0; i < n; i++)
		want += remote[i].iov_len;
	if (want == 0)
		return 0;
	if (c->memfd < 0) {
		struct iovec local = { .iov_base = buf, .iov_len = want };
		ssize_t r = process_vm_readv(c->tid, &local, 1, remote, n, 0);
		return r >= 0 ? r : errno == ESRCH ? -ESRCH : -EFAULT;
	}
	for (size_t i = 0; i < n; i++) {
		off_t at = (off_t)(uintptr_t)remote[i].iov_base;
		ssize_t r = pread(c->memfd, (uint8_t *)buf + got, remote[i].iov_len, at);
		got += r > 0 ? (size_t)r : 0;
		if (r < (ssize_t)remote[i].iov_len)
			break;
	}
	return got ? (ssize_t)got : -EFAULT;
}

int sv_mem_read(const struct sv_call *c, uint64_t addr, void *buf, size_t len)
{
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n = sv_mem_readv(c, buf, &remote, 1);
	return n < 0 ? (int)n : (size_t)n == len ? 0 : -EFAULT;
}

int sv_mem_write(const struct sv_call *c, uint64_t addr, const void *buf, size_t len)
{
	ssize_t n;
	if (c->memfd >= 0) {
		n = pwrite(c->memfd, buf, len, (off_t)addr);
	} else {
		struct iovec local = { .iov_base = (void *)buf, .iov_len = len };
		struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
		n = process_vm_writev(c->tid, &local, 1, &remote, 1, 0);
	}
	return n == (ssize_t)len ? 0 : -EFAULT;
}

static bool notif_valid(uint64_t id)
{
	return ioctl(sv.listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

/* The thread group of TID (from /proc), or -1. */
pid_t sv_tgid_of(pid_t tid)
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

char *sv_proc_status(pid_t tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 16384, have = 0; /* room for a thousand supplementary groups */
	char *buf = malloc(cap);
	ssize_t n = 0;
	while (buf && have < cap - 1 && (n = read(fd, buf + have, cap - 1 - have)) > 0)
		have += (size_t)n;
	close(fd);
	if (buf && n < 0) {
		free(buf);
		return NULL;
	}
	if (buf)
		buf[have] = '\0';
	return buf;
}

uint64_t sv_status_hex(const char *status, const char *key)
{
	const char *p = strstr(status, key);
	return p ? strtoull(p + strlen(key), NULL, 16) : 0;
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
	pid_t tgid = sv_tgid_of(tid);
	if (tgid <= 0)
		return -ESRCH;
	fd = sys_pidfd_open(tgid, 0);
	return fd >= 0 ? fd : -errno;
}

/* Takes the program's descriptor FD and learns what kind of socket it is. */
int sv_call_take_fd(struct sv_call *c, int fd)
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
	/* The protocol tells TCP (and MPTCP) from other streams; a datagram socket's is never asked. */
	len = sizeof(int);
	if (c->type != SOCK_STREAM || getsockopt(c->sfd, SOL_SOCKET, SO_PROTOCOL, &c->protocol, &len) != 0)
		c->protocol = 0;
	return 0;
}

int sv_call_valid(const struct sv_call *c)
{
	return notif_valid(c->req->id) ? 0 : -ESRCH;
}

/* --------------------------------------------------------------------------------------- one notification */

/* Never SECCOMP_USER_NOTIF_FLAG_CONTINUE: the kernel would then read the program's memory and descriptor table
 * again, after the decision, and a program racing itself could have changed either (handlers.c). */
static void respond(const struct seccomp_notif *req, struct seccomp_notif_resp *resp, int64_t r)
{
	memset(resp, 0, sv.resp_size);
	resp->id = req->id;
	if (r < 0)
		resp->error = (int32_t)r;
	else
		resp->val = r;
	while (ioctl(sv.listener, SECCOMP_IOCTL_NOTIF_SEND, resp) != 0 && errno == EINTR)
		;
	/* ENOENT: the caller is gone, or was interrupted by a fatal signal; nothing to do. */
}

/* Serves one notification. True when this thread took the caller's credentials: it must leave the pool. */
static bool serve(const struct seccomp_notif *req, struct seccomp_notif_resp *resp)
{
	struct sv_call c = { .req = req, .tid = (pid_t)req->pid, .pidfd = -1, .sfd = -1, .memfd = -1 };
	int64_t r;
	switch (req->data.nr) {
	case SYS_connect:
		r = sv_on_connect(&c);
		break;
	case SYS_sendto:
		r = sv_on_sendto(&c);
		break;
	case SYS_sendmsg:
		r = sv_on_sendmsg(&c);
		break;
	case SYS_sendmmsg:
		r = sv_on_sendmmsg(&c);
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
	if (c.memfd >= 0)
		close(c.memfd);
	respond(req, resp, r);
	return c.as_caller;
}

/* ----------------------------------------------------------------------------------------------- the pool */

int sv_spawn_detached(void *(*fn)(void *), void *arg)
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

static void *pool_worker(void *arg);

int sv_pool_spawn(void)
{
	pthread_mutex_lock(&sv.pool_lock);
	if (sv.pool_total >= SV_POOL_MAX) {
		pthread_mutex_unlock(&sv.pool_lock);
		return -EAGAIN;
	}
	sv.pool_total++;
	pthread_mutex_unlock(&sv.pool_lock);
	if (sv_spawn_detached(pool_worker, NULL) != 0) {
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
	/* The kernel raises SIGPIPE on the thread that sends (send.c): blocked, it waits to be taken off and given to
	 * the program's thread, instead of being lost to the process's SIG_IGN. */
	sigset_t pipe;
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
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
			sv_pool_spawn();
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
		bool leave = serve(req, resp);
		pthread_mutex_lock(&sv.pool_lock);
		run = sv.pool_idle < SV_POOL_KEEP_IDLE && !leave;
		pthread_mutex_unlock(&sv.pool_lock);
	}
	pthread_mutex_lock(&sv.pool_lock);
	sv.pool_total--;
	pthread_mutex_unlock(&sv.pool_lock);
	free(req);
	free(resp);
	return NULL;
}
