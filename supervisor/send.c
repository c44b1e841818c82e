/* send.c: the supervisor sends for the program. Every trapped sendto, sendmsg and sendmmsg ends here once
 * handlers.c has decided on its destination: what leaves is what was copied out of the program's memory (the
 * data, the control data, the address the decision was made on), on the supervisor's duplicate of the program's
 * socket, so nothing the program changes afterwards, in its memory or in its descriptor table, changes what is
 * sent. As far as the program can tell, the call is the kernel's:
 *
 *  - flags: the program's own (MSG_DONTWAIT, MSG_MORE, MSG_NOSIGNAL...), the supervisor's sends being
 *    non-blocking underneath; a blocking call waits as the kernel would, in the pool's thread (the pool grows:
 *    notify.c), watching the caller: once it is gone the send stops. SO_SNDTIMEO bounds the wait. A blocking
 *    stream send goes on until everything is sent, as the kernel's does.
 *  - size: the data is copied SV_CHUNK bytes at a time at most, whatever the program asks: a datagram larger than
 *    SV_DGRAM_MAX is refused (EMSGSIZE); a stream takes chunk after chunk while the socket accepts them (a
 *    non-blocking one returns the count sent, as the kernel's does when full).
 *  - MSG_OOB on a stream marks the last byte: sent as the data without it, then that byte with it (what the
 *    kernel's TCP and Unix streams make of it too).
 *  - control data: SCM_RIGHTS on a Unix socket names the program's descriptors: each is taken (pidfd_getfd), ours
 *    are sent, then closed; SCM_CREDENTIALS are passed as given, except that the caller's own pid, which the
 *    kernel refuses from the supervisor unless it holds CAP_SYS_ADMIN (it compares it with the sender's), is
 *    sent as the supervisor's: the receiver reads the supervisor's pid, as in SO_PEERCRED (creds.c).
 *  - SIGPIPE: the kernel raises it on the supervisor's thread where it would have raised it on the program's
 *    (blocked on the pool's threads, notify.c); it is taken off and sent to the calling thread (tgkill), so a
 *    program that did not ask for MSG_NOSIGNAL gets it exactly when it would have.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "sv.h"

#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif
#ifndef SCM_MAX_FD
#define SCM_MAX_FD 253 /* the kernel's limit of descriptors in flight per message */
#endif

#define SV_CHUNK (1u << 20) /* the most of the program's data copied at a time */
#define SV_DGRAM_MAX SV_CHUNK /* the largest datagram (GSO included) the supervisor sends */
#define SV_CONTROL_MAX 65536 /* control data beyond this: ENOBUFS, as beyond the kernel's optmem_max */
#define SV_RW_MAX (INT_MAX & ~4095L) /* the kernel's MAX_RW_COUNT: the most one call sends */

/* --------------------------------------------------------------------------------------- reading the message */

int sv_msg_read_name(const struct sv_call *c, const struct msghdr *um, struct sv_msg *m)
{
	memset(m, 0, sizeof(*m));
	if ((int)um->msg_namelen < 0)
		return -EINVAL;
	if (um->msg_name == NULL || um->msg_namelen == 0)
		return 0;
	m->namelen = um->msg_namelen > sizeof(m->name) ? (socklen_t)sizeof(m->name) : um->msg_namelen;
	m->has_name = true;
	return sv_mem_read(c, (uint64_t)(uintptr_t)um->msg_name, &m->name, m->namelen);
}

/* The iovecs' total as the kernel takes it: EINVAL for a length that does not fit a ssize_t, capped at
 * SV_RW_MAX. */
static int iov_total(struct sv_msg *m)
{
	size_t total = 0;
	for (size_t i = 0; i < m->niov; i++) {
		if (m->iov[i].iov_len > SSIZE_MAX)
			return -EINVAL;
		size_t len = m->iov[i].iov_len;
		total += len > (size_t)SV_RW_MAX - total ? (size_t)SV_RW_MAX - total : len;
	}
	m->total = total;
	return 0;
}

int sv_msg_read_body(const struct sv_call *c, const struct msghdr *um, struct sv_msg *m)
{
	if (um->msg_iovlen > UIO_MAXIOV)
		return -EMSGSIZE;
	if (um->msg_controllen > SV_CONTROL_MAX)
		return -ENOBUFS;
	m->niov = um->msg_iovlen;
	m->iov = calloc(m->niov ? m->niov : 1, sizeof(*m->iov));
	m->ctllen = um->msg_controllen;
	m->ctl = malloc(m->ctllen ? m->ctllen : 1);
	if (m->iov == NULL || m->ctl == NULL)
		return -ENOMEM;
	int rc = sv_mem_read(c, (uint64_t)(uintptr_t)um->msg_iov, m->iov, m->niov * sizeof(*m->iov));
	if (rc == 0)
		rc = iov_total(m);
	if (rc == 0)
		rc = sv_mem_read(c, (uint64_t)(uintptr_t)um->msg_control, m->ctl, m->ctllen);
	return rc;
}

void sv_msg_free(struct sv_msg *m)
{
	free(m->iov);
	free(m->ctl);
	m->iov = NULL;
	m->ctl = NULL;
}

/* --------------------------------------------------------------------------------------------- the data */

/* The data being sent: a buffer of at most SV_CHUNK bytes, and where its copy stands in the program's iovecs. */
struct chunk {
	uint8_t *buf;
	size_t cap, len;
	bool mapped; /* MSG_ZEROCOPY: pages of its own, which the kernel may still hold after the send */
	size_t iov, off; /* the next byte to copy: iovec IOV, offset OFF */
	size_t copied; /* bytes copied so far, of M->total */
	struct iovec *remote; /* scratch: the program's pieces of the next chunk */
};

static int chunk_init(struct chunk *ch, const struct sv_msg *m)
{
	memset(ch, 0, sizeof(*ch));
	ch->cap = m->total < SV_CHUNK ? m->total : SV_CHUNK;
	ch->remote = calloc(m->niov ? m->niov : 1, sizeof(*ch->remote));
	/* Zero-copy sends leave the pages with the kernel until the data is out: they must never be reused. */
	ch->mapped = (m->flags & MSG_ZEROCOPY) && ch->cap > 0;
	if (ch->mapped) {
		void *p = mmap(NULL, ch->cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ch->buf = p == MAP_FAILED ? NULL : p;
	} else {
		ch->buf = malloc(ch->cap ? ch->cap : 1);
	}
	return ch->buf && ch->remote ? 0 : -ENOMEM;
}

static void chunk_free(struct chunk *ch)
{
	if (ch->mapped && ch->buf)
		munmap(ch->buf, ch->cap);
	else
		free(ch->buf);
	free(ch->remote);
}

/* Moves CH's place in the program's iovecs on by N bytes (past empty iovecs too). */
static void chunk_advance(const struct sv_msg *m, struct chunk *ch, size_t n)
{
	while (ch->iov < m->niov) {
		size_t in = m->iov[ch->iov].iov_len - ch->off;
		if (n < in) {
			ch->off += n;
			return;
		}
		n -= in;
		ch->iov++;
		ch->off = 0;
	}
}

/* Copies the next piece of the program's data (up to CH->cap bytes) into CH->buf. The count copied (short only
 * at the end, or before an iovec that faults), 0 at the end, -EFAULT when nothing could be read. */
static ssize_t chunk_next(const struct sv_call *c, const struct sv_msg *m, struct chunk *ch)
{
	size_t limit = m->total - ch->copied < ch->cap ? m->total - ch->copied : ch->cap;
	size_t n = 0, want = 0;
	for (size_t i = ch->iov, off = ch->off; i < m->niov && want < limit; i++, off = 0) {
		size_t len = m->iov[i].iov_len - off;
		len = len < limit - want ? len : limit - want;
		if (len)
			ch->remote[n++] = (struct iovec){ (uint8_t *)m->iov[i].iov_base + off, len };
		want += len;
	}
	ssize_t got = sv_mem_readv(c, ch->buf, ch->remote, n);
	if (got < 0)
		return got;
	ch->len = (size_t)got;
	ch->copied += (size_t)got;
	chunk_advance(m, ch, (size_t)got);
	return got;
}

static bool chunk_last(const struct sv_msg *m, const struct chunk *ch)
{
	return ch->copied >= m->total;
}

/* ------------------------------------------------------------------------------------------ control data */

int sv_msg_each_cmsg(struct sv_msg *m, int (*fn)(struct cmsghdr *, void *), void *arg)
{
	for (size_t off = 0; off + sizeof(struct cmsghdr) <= m->ctllen;) {
		struct cmsghdr *h = (struct cmsghdr *)(m->ctl + off);
		if (h->cmsg_len < sizeof(*h) || h->cmsg_len > m->ctllen - off)
			return -EINVAL;
		int rc = fn(h, arg);
		if (rc < 0)
			return rc;
		off += CMSG_ALIGN(h->cmsg_len);
	}
	return 0;
}

/* Our duplicates of the program's descriptors in SCM_RIGHTS, closed once sent. */
struct rights {
	struct sv_call *c;
	int fd[SCM_MAX_FD];
	int n;
};

static int take_rights_in(struct cmsghdr *h, void *arg)
{
	struct rights *r = arg;
	if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
		return 0;
	size_t n = (h->cmsg_len - sizeof(*h)) / sizeof(int);
	if (n > (size_t)(SCM_MAX_FD - r->n))
		return -EINVAL; /* the kernel's limit, over all of the message's SCM_RIGHTS */
	uint8_t *data = CMSG_DATA(h);
	for (size_t i = 0; i < n; i++) {
		int fd;
		memcpy(&fd, data + i * sizeof(int), sizeof(int));
		int ours = sys_pidfd_getfd(r->c->pidfd, fd);
		if (ours < 0)
			return errno == EBADF ? -EBADF : -errno;
		r->fd[r->n++] = ours;
		memcpy(data + i * sizeof(int), &ours, sizeof(int));
	}
	return 0;
}

/* The program's descriptors in SCM_RIGHTS become ours (only a Unix socket reads them: every other family
 * refuses or ignores SCM_RIGHTS without looking at the numbers). */
static int take_rights(struct sv_call *c, struct sv_msg *m, struct rights *r)
{
	r->c = c;
	r->n = 0;
	return c->domain == AF_UNIX ? sv_msg_each_cmsg(m, take_rights_in, r) : 0;
}

static void drop_rights(struct rights *r)
{
	for (int i = 0; i < r->n; i++)
		close(r->fd[i]);
	r->n = 0;
}

struct own_pid {
	pid_t caller, self;
};

static int own_pid_in(struct cmsghdr *h, void *arg)
{
	const struct own_pid *p = arg;
	struct ucred u;
	if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_CREDENTIALS || h->cmsg_len != CMSG_LEN(sizeof(u)))
		return 0;
	memcpy(&u, CMSG_DATA(h), sizeof(u));
	if (u.pid == p->caller) {
		u.pid = p->self;
		memcpy(CMSG_DATA(h), &u, sizeof(u));
	}
	return 0;
}

/* SCM_CREDENTIALS naming the caller's process: the supervisor's, unless this thread may send any pid. */
static int own_credentials(struct sv_call *c, struct sv_msg *m)
{
	if (m->ctllen == 0 || sv_thread_has_sys_admin())
		return 0;
	struct own_pid p = { .caller = sv_tgid_of(c->tid), .self = getpid() };
	return p.caller > 0 ? sv_msg_each_cmsg(m, own_pid_in, &p) : 0;
}

/* ------------------------------------------------------------------------------------------------ waiting */

/* The kernel's own "restart this call once the handler has run" (ERESTARTSYS, absent from the user headers).
 * Given as a trapped call's answer, the kernel's signal delivery on the way back restarts the call (SA_RESTART) or
 * turns it into EINTR, as for a blocking send of its own that a signal interrupted. */
#define SV_ERESTARTSYS 512

/* Whether the caller has a signal waiting that it catches and does not block: the kernel would have interrupted
 * its blocking send for it, but the caller, waiting for the supervisor (WAIT_KILLABLE_RECV), does not wake. */
static bool caller_signalled(pid_t tid)
{
	char *st = sv_proc_status(tid);
	if (st == NULL)
		return false;
	uint64_t pending = sv_status_hex(st, "\nSigPnd:") | sv_status_hex(st, "\nShdPnd:");
	bool r = (pending & ~sv_status_hex(st, "\nSigBlk:") & sv_status_hex(st, "\nSigCgt:")) != 0;
	free(st);
	return r;
}

struct wait {
	int blocking; /* 0 not known yet, 1 the program's call blocks, -1 it does not */
	int64_t deadline; /* SO_SNDTIMEO's end, tw_now_ms scale */
	int spins; /* polls that said writable, followed by a send that said full */
};

/* Whether the program's call would block (neither MSG_DONTWAIT nor O_NONBLOCK), and until when. */
static bool blocks(const struct sv_call *c, const struct sv_msg *m, int64_t *deadline)
{
	*deadline = INT64_MAX;
	int fl = fcntl(c->sfd, F_GETFL);
	if ((m->flags & MSG_DONTWAIT) || fl < 0 || (fl & O_NONBLOCK))
		return false;
	struct timeval tv;
	socklen_t len = sizeof(tv);
	if (getsockopt(c->sfd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0 && (tv.tv_sec || tv.tv_usec))
		*deadline = tw_now_ms() + (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
	return true;
}

/* The socket refused more: waits until it may take some, if the program's call blocks. 0 to try again,
 * -EAGAIN (a call that does not block, or SO_SNDTIMEO passed), -ESRCH (the caller is gone: no one will read the
 * answer), or, once the caller has a signal to handle (looked at every 100 ms), what the kernel's send answers
 * then: -ERESTARTSYS, or -EINTR under SO_SNDTIMEO. A Unix datagram's receiver that is full is not seen by poll():
 * the retries then back off (1-64 ms). */
static int wait_writable(struct sv_call *c, const struct sv_msg *m, struct wait *w)
{
	if (w->blocking == 0)
		w->blocking = blocks(c, m, &w->deadline) ? 1 : -1;
	if (w->blocking < 0)
		return -EAGAIN;
	if (w->spins > 0)
		usleep(1000u << (w->spins < 7 ? w->spins - 1 : 6));
	int64_t left = w->deadline - tw_now_ms();
	if (left <= 0)
		return -EAGAIN;
	struct pollfd p[2] = { { .fd = c->sfd, .events = POLLOUT }, { .fd = c->pidfd, .events = POLLIN } };
	int r = poll(p, 2, left > 100 ? 100 : (int)left);
	if (r < 0 && errno != EINTR)
		return -errno;
	if ((p[1].revents & POLLIN) || sv_call_valid(c) < 0)
		return -ESRCH;
	if (r == 0 && caller_signalled(c->tid))
		return w->deadline == INT64_MAX ? -SV_ERESTARTSYS : -EINTR;
	w->spins = r > 0 && p[0].revents ? w->spins + 1 : 0;
	return 0;
}

/* ---------------------------------------------------------------------------------------------- sending */

/* The kernel raised SIGPIPE for our send: take it off this thread (where it is blocked), for the caller. */
static bool took_sigpipe(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	struct timespec zero = { 0, 0 };
	return sigtimedwait(&s, NULL, &zero) == SIGPIPE;
}

/* How a message goes out: its address (as given, or where unixaddr.c found it), its control data (with the first
 * piece only), and whether the kernel raised SIGPIPE. */
struct out {
	const struct sockaddr_storage *name;
	socklen_t namelen;
	bool ctl;
	bool sigpipe;
};

/* One non-blocking sendmsg of LEN bytes at BUF. The count sent or a negative errno. */
static ssize_t send_once(struct sv_call *c, const struct sv_msg *m, struct out *o, const uint8_t *buf, size_t len,
			 int flags)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr h = {
		.msg_name = (void *)o->name,
		.msg_namelen = o->name ? o->namelen : 0,
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = o->ctl && m->ctllen ? m->ctl : NULL,
		.msg_controllen = o->ctl ? m->ctllen : 0,
	};
	ssize_t n;
	do
		n = sendmsg(c->sfd, &h, flags | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n >= 0) {
		o->ctl = false;
		return n;
	}
	int err = errno;
	if (err == EPIPE && !(flags & MSG_NOSIGNAL))
		o->sigpipe = took_sigpipe();
	return -err;
}

/* Sends LEN bytes at BUF as the program's call would: the rest after a short send on a stream, waiting while a
 * blocking socket is full. The count sent, short only with the error that stopped it in *ERR. */
static size_t put(struct sv_call *c, const struct sv_msg *m, struct out *o, const uint8_t *buf, size_t len,
		  int flags, struct wait *w, int *err)
{
	size_t off = 0;
	*err = 0;
	for (;;) {
		ssize_t n = send_once(c, m, o, buf + off, len - off, flags);
		if (n >= 0 && c->type != SOCK_STREAM)
			return (size_t)n; /* a message is sent whole or not at all: never the rest as another one */
		if (n >= 0 && (off += (size_t)n) >= len)
			return off;
		if (n == -EAGAIN)
			n = wait_writable(c, m, w);
		if (n < 0) {
			*err = (int)n;
			return off;
		}
	}
}

/* A stream: chunk after chunk while the socket takes them; MSG_OOB (and MSG_EOR) go with the last byte alone. The
 * count sent, or the error when nothing was. */
static int64_t send_stream(struct sv_call *c, const struct sv_msg *m, struct out *o, struct chunk *ch)
{
	struct wait w = { 0 };
	bool split = (m->flags & MSG_OOB) && m->total > 0; /* nothing to split: MSG_OOB as given */
	int flags = split ? m->flags & ~MSG_OOB : m->flags, err = 0;
	size_t sent = 0;
	for (;;) {
		bool oob = split && chunk_last(m, ch) && ch->len > 0;
		size_t body = ch->len - oob;
		/* A record ends (MSG_EOR) with the program's last byte, not with each chunk. */
		int now = chunk_last(m, ch) && !oob ? flags : flags & ~MSG_EOR;
		size_t n = put(c, m, o, ch->buf, body, now, &w, &err);
		if (n == body && oob)
			n += put(c, m, o, ch->buf + body, 1, flags | MSG_OOB, &w, &err);
		sent += n;
		if (err || n < ch->len || chunk_last(m, ch))
			break;
		if (chunk_next(c, m, ch) <= 0 || sv_call_valid(c) < 0)
			break; /* a fault after some data: the count sent so far, as the kernel */
	}
	return sent > 0 ? (int64_t)sent : err;
}

static int64_t send_datagram(struct sv_call *c, const struct sv_msg *m, struct out *o, const struct chunk *ch)
{
	struct wait w = { 0 };
	int err;
	size_t n = put(c, m, o, ch->buf, ch->len, m->flags, &w, &err);
	return err ? err : (int64_t)n;
}

/* Delivers the SIGPIPE the kernel raised to the calling thread, as the kernel would have. */
static void deliver_sigpipe(const struct sv_call *c)
{
	pid_t tgid = sv_tgid_of(c->tid);
	if (tgid > 0)
		syscall(SYS_tgkill, (long)tgid, (long)c->tid, (long)SIGPIPE);
}

/* The first chunk, the descriptors, the caller's credentials, the Unix path: everything before the first send. */
static int prepare(struct sv_call *c, struct sv_msg *m, struct chunk *ch, struct rights *r, struct sv_unix_addr *u)
{
	bool stream = c->type == SOCK_STREAM;
	if (!stream && m->total > SV_DGRAM_MAX)
		return -EMSGSIZE;
	int rc = take_rights(c, m, r);
	if (rc == 0)
		rc = chunk_init(ch, m);
	ssize_t n = rc == 0 ? chunk_next(c, m, ch) : rc;
	if (n < 0)
		return (int)n;
	if (!stream && (size_t)n != m->total)
		return -EFAULT;
	/* An inet send without control data checks no credential of the sender's: no need to compare them. */
	bool creds = (c->domain != AF_INET && c->domain != AF_INET6) || m->ctllen > 0;
	if ((rc = sv_unix_prepare(c, &m->name, m->namelen, u)) < 0 || (creds && (rc = sv_call_as_caller(c)) < 0) ||
	    (rc = sv_unix_resolve(u)) < 0 || (rc = own_credentials(c, m)) < 0)
		return rc;
	return sv_call_valid(c);
}

int64_t sv_msg_send(struct sv_call *c, struct sv_msg *m)
{
	struct chunk ch = { 0 };
	struct rights r = { .n = 0 };
	struct sv_unix_addr u = { .base = -1, .file = -1 };
	int64_t rc = prepare(c, m, &ch, &r, &u);
	if (rc == 0) {
		struct out o = { .name = m->has_name ? &u.ss : NULL, .namelen = u.len, .ctl = true };
		rc = c->type == SOCK_STREAM ? send_stream(c, m, &o, &ch) : send_datagram(c, m, &o, &ch);
		if (rc == -EPIPE && o.sigpipe)
			deliver_sigpipe(c);
	}
	sv_unix_release(&u);
	drop_rights(&r);
	chunk_free(&ch);
	return rc;
}
