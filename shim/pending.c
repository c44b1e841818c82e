/* pending.c: connections through Tor that the program does not wait for (issue 13).
 *
 * A non-blocking connect() through the proxy returns EINPROGRESS at once, as the kernel's would: the program's
 * socket starts its TCP connection to the proxy, and the whole SOCKS5 request (greeting, credentials, CONNECT:
 * one flight, as socks5_handshake sends it) goes out as soon as that connection is up. The kernel drives
 * readiness: the socket turns writable when the proxy accepted it, and readable when Tor answered. The hooks do
 * the rest, so the event loop's poll/epoll/select stay untouched:
 *
 *  - before a write (write, writev, send, sendto, sendmsg, sendmmsg) or getsockopt(SO_ERROR), the request is
 *    sent if the connection is up and it has not gone yet: the program's first bytes follow it, and Tor holds
 *    them until the stream opens (optimistic data);
 *  - before a read (read, readv, recv, recvfrom, recvmsg, and their _chk forms; MSG_PEEK too), Tor's reply is
 *    taken off the socket, byte-exact, so the program reads only what the destination sent; a reply not fully
 *    arrived makes a non-blocking read say EAGAIN (the rest arrives as a new readiness event);
 *  - a failure (the proxy unreachable, Tor's refusal, the proxy closing) becomes the errno of the program's next
 *    read or write, and of getsockopt(SO_ERROR), logged once in the engine's words.
 *
 * A program that only waits to read (a server that speaks first) would never trigger the request: one thread,
 * started with the first such connect, watches the connecting sockets (epoll, one shot each) and sends it.
 * TORWRAP_OPTIMISTIC=on does the same for blocking sockets: connect() returns once the request is sent, and
 * the first read waits for the reply.
 *
 * Every wait for Tor is bounded by TOR_CONNECTIVITY_TIMEOUT from the program's connect(): each pending connect
 * has that deadline, and the same thread times them out (its epoll_wait sleeps until the earliest). A connect
 * whose deadline passes before Tor's reply is complete (the proxy accepts and never answers, or sends half a
 * reply and goes silent) fails with ETIMEDOUT, logged once, and its socket is shut down: a program waiting in
 * poll, epoll or select wakes (readable and writable), and its next call (read, write, getsockopt(SO_ERROR),
 * connect again) gets ETIMEDOUT. Without hooking poll: the program's own calls, and a blocking read's wait, check
 * the deadline too, so the watcher being late (or absent, should its thread fail to start) changes nothing.
 *
 * The state lives in a table of pointers indexed by descriptor, allocated with the first pending connect; each
 * entry has its own lock (the watcher thread and the program's threads may meet on it). A descriptor closed
 * behind our back is caught by comparing the socket's peer with the proxy before anything is sent on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim.h"

enum pending_state { PENDING_CONNECTING, PENDING_SENT, PENDING_DONE, PENDING_FAILED };

struct pending {
	pthread_mutex_t lock;
	enum pending_state state;
	uint8_t req[SOCKS5_REQUEST_MAX];
	size_t reqlen, sent;
	struct socks5_reply_parser parser;
	int err; /* once failed: the negative errno the program gets */
	struct route_attempt at; /* the proxy's instances, in this stream's order, and the one tried */
	ino_t ino; /* the socket's identity (still_ours) */
	dev_t dev;
	long pid; /* the caller, for the log lines' isolation wording */
	char what[TW_NAME_MAX + 64];
	char token[POLICY_TOKEN_MAX];
	/* While the connect waits for the proxy or for Tor: when it times out (tw_now_ms scale); 0 once it is over.
	 * Written under the lock, read by the watcher without it. */
	_Atomic int64_t deadline;
	int fd; /* its descriptor, for the watcher's list */
	bool listed; /* on the watcher's list (wait_lock) */
	struct pending *wprev, *wnext;
};

static _Atomic(struct pending *) *table; /* SHIM_FD_MAX entries, allocated with the first pending connect */
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void table_alloc(void)
{
	table = calloc(SHIM_FD_MAX, sizeof(*table));
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Taken around finding an entry and locking it, and around removing one: an entry found is never freed under
 * its finder (only the slow paths take it: descriptors with a connect pending). */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

/* FD's entry, locked; NULL when it has none. */
static struct pending *lock_entry(int fd)
{
	if (fd < 0 || fd >= SHIM_FD_MAX || table == NULL)
		return NULL;
	pthread_mutex_lock(&table_lock);
	struct pending *p = atomic_load_explicit(&table[fd], memory_order_acquire);
	if (p != NULL)
		pthread_mutex_lock(&p->lock);
	pthread_mutex_unlock(&table_lock);
	return p;
}

/* The connects the watcher times out: every pending connect, linked when it starts and unlinked when it is
 * forgotten (before it is freed). Lock order: an entry's lock may be held when wait_lock is taken, never the
 * other way round (the watcher copies the descriptors it must time out, lets go, then locks each entry). */
static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cond = PTHREAD_COND_INITIALIZER; /* a connect is waiting: the watcher has work */
static struct pending *waiting;

static void list_add(struct pending *p)
{
	pthread_mutex_lock(&wait_lock);
	p->wprev = NULL;
	p->wnext = waiting;
	if (waiting != NULL)
		waiting->wprev = p;
	waiting = p;
	p->listed = true;
	pthread_cond_broadcast(&wait_cond);
	pthread_mutex_unlock(&wait_lock);
}

static void list_remove(struct pending *p)
{
	pthread_mutex_lock(&wait_lock);
	if (p->listed) {
		if (p->wprev != NULL)
			p->wprev->wnext = p->wnext;
		else
			waiting = p->wnext;
		if (p->wnext != NULL)
			p->wnext->wprev = p->wprev;
		p->listed = false;
	}
	pthread_mutex_unlock(&wait_lock);
}

/* The connect no longer waits for anything: nothing to time out. */
static void disarm(struct pending *p)
{
	atomic_store(&p->deadline, 0);
}

/* ------------------------------------------------------------------------------------------- one socket */

static void log_outcome(const struct pending *p, int rc, int code, bool connected)
{
	struct route_caller who = { .pid = p->pid, .prefix = "" };
	/* A timeout names the instance that went silent, even the only one. */
	route_log_outcome(shim_route(), &who, p->what, rc, code, connected, p->token[0] ? p->token : NULL,
			  p->at.n > 1 || rc == -ETIMEDOUT ? &p->at.proxy : NULL);
}

static void fail(struct pending *p, int fd, int err, int code, bool connected)
{
	p->state = PENDING_FAILED;
	p->err = err;
	disarm(p);
	log_outcome(p, err, code, connected);
	shutdown(fd, SHUT_RDWR); /* the proxy learns at once; nothing more goes out on this socket */
}

/* The connection to the proxy failed with ERR before it was up: the next instance, while there is one (the
 * request has not gone, so nothing is lost); else the program gets the error, logged by the engine. */
static void connect_failed(struct pending *p, int fd, int err)
{
	struct route_caller who = { .pid = p->pid, .prefix = "" };
	int rc = route_proxy_retry(shim_route(), &who, p->what, fd, &p->at, err);
	if (rc != 0 && rc != -EINPROGRESS) {
		p->state = PENDING_FAILED;
		p->err = rc;
		disarm(p);
		shutdown(fd, SHUT_RDWR);
		return;
	}
	struct sockaddr_storage dest, old;
	if (shim_fd_get_peer(fd, &dest, &old) == 0) /* getpeername compares the socket's peer with the proxy */
		shim_fd_set_peer(fd, (struct sockaddr *)&dest,
				 dest.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6),
				 (struct sockaddr *)&p->at.proxy, p->at.plen);
}

/* Is FD still the socket we started (not a descriptor closed behind our back and reused)? Its inode says so
 * even once the proxy has reset the connection, when getpeername no longer would. */
static bool still_ours(const struct pending *p, int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_ino == p->ino && st.st_dev == p->dev;
}

/* Sends what is left of the request; the socket is connected. */
static void send_request(struct pending *p, int fd)
{
	if (!still_ours(p, fd))
		return;
	while (p->sent < p->reqlen) {
		ssize_t n = tw_libc()->send(fd, p->req + p->sent, p->reqlen - p->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EAGAIN)
				fail(p, fd, -errno, -1, true);
			return;
		}
		p->sent += (size_t)n;
	}
	p->state = PENDING_SENT;
}

/* CONNECTING: has the connection to the proxy completed? Then send the request. Called with the lock held. */
static void advance(struct pending *p, int fd)
{
	if (p->state != PENDING_CONNECTING)
		return;
	struct pollfd pf = { .fd = fd, .events = POLLOUT };
	if (poll(&pf, 1, 0) != 1)
		return; /* still connecting */
	int err = 0;
	socklen_t len = sizeof(err);
	if (tw_libc()->getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		connect_failed(p, fd, -err); /* SO_ERROR is read now: the program gets it from us */
		if (p->state == PENDING_CONNECTING && poll(&pf, 1, 0) == 1)
			advance(p, fd); /* the next instance answered at once */
		return;
	}
	send_request(p, fd);
}

static int take_reply(struct pending *p, int fd, bool dontwait);

/* TOR_CONNECTIVITY_TIMEOUT has passed since the program's connect. A reply that is all there (the program has
 * not read yet) is taken off as its first read would, and stands: Tor answered in time. Otherwise the connect
 * fails with ETIMEDOUT, logged once in the engine's words (the proxy not accepting the connection, or accepting
 * it and not answering in full), and the socket is shut down so that a program waiting in poll or epoll wakes.
 * Called with the lock held. */
static void time_out(struct pending *p, int fd)
{
	advance(p, fd);
	if (p->state == PENDING_SENT && take_reply(p, fd, true) != -EAGAIN)
		return; /* done, or Tor's refusal: logged, the program's next call gets it */
	if (p->state == PENDING_CONNECTING) {
		/* The whole timeout is spent: no instance is left time to try. */
		struct route_caller who = { .pid = p->pid, .prefix = "" };
		route_proxy_give_up(shim_route(), &who, p->what, &p->at, -ETIMEDOUT);
		p->state = PENDING_FAILED;
		p->err = -ETIMEDOUT;
		disarm(p);
		shutdown(fd, SHUT_RDWR);
	} else if (p->state == PENDING_SENT) {
		fail(p, fd, -ETIMEDOUT, -1, true);
	}
}

/* The deadline of P's wait, or (should it have none) one from now. */
static int64_t deadline_of(const struct pending *p)
{
	int64_t d = atomic_load(&p->deadline);
	return d != 0 ? d : tw_now_ms() + shim_config()->timeout_ms;
}

static bool still_ours(const struct pending *p, int fd);

/* Times P out when its deadline has passed (the watcher may not have got there yet). Lock held. */
static void check_deadline(struct pending *p, int fd)
{
	int64_t d = atomic_load(&p->deadline);
	if (d != 0 && tw_now_ms() >= d && still_ours(p, fd))
		time_out(p, fd);
}

/* The connection to the proxy, waited for (a blocking call, or connect under TORWRAP_OPTIMISTIC), bounded by
 * DEADLINE. */
static int wait_connected(int fd, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - tw_now_ms();
		struct pollfd pf = { .fd = fd, .events = POLLOUT };
		if (left <= 0)
			return -ETIMEDOUT;
		int r = poll(&pf, 1, left > 1000000 ? 1000000 : (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		int err = 0;
		socklen_t len = sizeof(err);
		if (tw_libc()->getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			return -errno;
		return -err;
	}
}

/* CONNECTING, and a blocking call that cannot go on before the request is sent: waits for the proxy's
 * connection until the connect's deadline, each instance left an equal share of what is left, failing over;
 * then sends the request. Called with the lock held. */
static void wait_up(struct pending *p, int fd)
{
	int64_t deadline = deadline_of(p);
	while (p->state == PENDING_CONNECTING) {
		int64_t now = tw_now_ms();
		int left = p->at.n - p->at.cur;
		if (now >= deadline) {
			time_out(p, fd);
			return;
		}
		int err = wait_connected(fd, now + (deadline - now) / (left > 1 ? left : 1));
		if (err < 0)
			connect_failed(p, fd, err);
		else
			advance(p, fd);
	}
}

/* SENT: takes Tor's reply off the socket, exactly its bytes; a blocking read (the socket's flags now, the
 * call's MSG_DONTWAIT) waits for it, until the connect's deadline (TOR_CONNECTIVITY_TIMEOUT from connect()).
 * Returns 0 (done), -EAGAIN (not all here yet, for a non-blocking read) or the failure. Called with the lock
 * held. */
static int take_reply(struct pending *p, int fd, bool dontwait)
{
	int fl = fcntl(fd, F_GETFL);
	bool blocking = !dontwait && fl >= 0 && !(fl & O_NONBLOCK);
	int64_t deadline = blocking ? deadline_of(p) : 0;
	for (;;) {
		uint8_t buf[sizeof(p->parser.buf)];
		size_t need = socks5_need(&p->parser);
		ssize_t n = need ? tw_libc()->recvfrom(fd, buf, need, MSG_DONTWAIT, NULL, NULL) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && blocking) {
			int64_t left = deadline - tw_now_ms();
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			if (left <= 0 || poll(&pf, 1, left > 1000000 ? 1000000 : (int)left) == 0) {
				if (tw_now_ms() < deadline)
					continue; /* woken early: the clock decides */
				time_out(p, fd);
				return p->err;
			}
			continue;
		}
		if (n < 0) {
			if (errno == EAGAIN)
				return -EAGAIN;
			fail(p, fd, -errno, -1, true);
			return p->err;
		}
		if (n == 0) { /* the proxy closed before its reply was complete */
			fail(p, fd, -ECONNRESET, -1, true);
			return p->err;
		}
		size_t used;
		int rc = socks5_reply_feed(&p->parser, buf, (size_t)n, &used);
		if (rc == 1) {
			p->state = PENDING_DONE;
			disarm(p);
			log_outcome(p, 0, 0, true);
			return 0;
		}
		if (rc < 0) {
			fail(p, fd, rc, p->parser.reply, true);
			return p->err;
		}
	}
}

/* ------------------------------------------------------------------------------------- the watcher thread */

static _Atomic int watch_fd = -1;
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;

/* The watcher's part of a connect whose deadline has passed: timed out, unless it is over already, or the
 * descriptor is no longer the socket it started on (closed behind our back and reused: never shut that down).
 * Either way it is disarmed, so it is never looked at again. Lock held. */
static void expire(struct pending *p, int fd)
{
	int64_t d = atomic_load(&p->deadline);
	if (d == 0 || tw_now_ms() < d)
		return;
	if ((p->state == PENDING_CONNECTING || p->state == PENDING_SENT) && still_ours(p, fd))
		time_out(p, fd);
	disarm(p);
}

/* Times out the connects whose deadline has passed. Returns the milliseconds until the next deadline, or -1
 * when no connect is waiting. */
#define EXPIRE_BATCH 64
static int expire_due(void)
{
	for (;;) {
		int fds[EXPIRE_BATCH], nfds = 0;
		bool more = false;
		int64_t now = tw_now_ms(), next = INT64_MAX;
		pthread_mutex_lock(&wait_lock);
		for (struct pending *q = waiting; q != NULL; q = q->wnext) {
			int64_t d = atomic_load(&q->deadline);
			if (d == 0)
				continue;
			if (d > now)
				next = d < next ? d : next;
			else if (nfds < EXPIRE_BATCH)
				fds[nfds++] = q->fd;
			else
				more = true;
		}
		pthread_mutex_unlock(&wait_lock);
		for (int i = 0; i < nfds; i++) {
			struct pending *p = lock_entry(fds[i]);
			if (p == NULL)
				continue; /* being forgotten: it leaves the list at once */
			expire(p, fds[i]);
			pthread_mutex_unlock(&p->lock);
		}
		if (more)
			continue;
		if (next == INT64_MAX) /* after timing some out, a look once more: one being forgotten may be left */
			return nfds > 0 ? 1 : -1;
		int64_t wait = next - tw_now_ms();
		return wait <= 0 ? 0 : wait > 1000000 ? 1000000 : (int)wait;
	}
}

/* Is any connect waiting (armed)? wait_lock held. */
static bool any_waiting(void)
{
	for (struct pending *q = waiting; q != NULL; q = q->wnext)
		if (atomic_load(&q->deadline) != 0)
			return true;
	return false;
}

static void *watcher(void *arg)
{
	int ep = (int)(intptr_t)arg;
	struct epoll_event ev[16];
	/* Once the program has closed our descriptor its number may be one of the program's: stop using it. */
	while (atomic_load(&watch_fd) == ep) {
		int timeout = expire_due();
		if (timeout < 0) { /* nothing to time out, and no socket connecting: sleep until a connect starts */
			pthread_mutex_lock(&wait_lock);
			while (!any_waiting() && atomic_load(&watch_fd) == ep)
				pthread_cond_wait(&wait_cond, &wait_lock);
			pthread_mutex_unlock(&wait_lock);
			continue;
		}
		int n = epoll_wait(ep, ev, 16, timeout);
		for (int i = 0; i < n && atomic_load(&watch_fd) == ep; i++) {
			int fd = ev[i].data.fd;
			struct pending *p = lock_entry(fd);
			if (p == NULL)
				continue;
			advance(p, fd);
			bool again = p->state == PENDING_CONNECTING;
			pthread_mutex_unlock(&p->lock);
			if (again) { /* woken early: watch it once more */
				struct epoll_event e = { .events = EPOLLOUT | EPOLLONESHOT, .data.fd = fd };
				epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
			}
		}
		if (n < 0 && errno != EINTR)
			break;
	}
	return NULL;
}

void shim_pending_watcher_closed(void)
{
	/* Its number may come back as one of the program's own descriptors: forget it at once. The thread sees
	 * EBADF, or that its descriptor is no longer the one in use, and ends; the next pending connect starts
	 * another. */
	pthread_mutex_lock(&watch_lock);
	watch_fd = -1;
	pthread_mutex_unlock(&watch_lock);
	pthread_mutex_lock(&wait_lock);
	pthread_cond_broadcast(&wait_cond);
	pthread_mutex_unlock(&wait_lock);
}

/* fork(): the list is consistent in the child (no thread of ours is changing it at that moment). */
static void fork_prepare(void)
{
	pthread_mutex_lock(&wait_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&wait_lock);
}

static void fork_child(void)
{
	/* The thread did not come along: the next pending connect starts another (the descriptor is closed
	 * without our hook: close() here would be ours, which only forgets what we remembered). */
	if (watch_fd >= 0) {
		shim_fd_clear(watch_fd, SHIM_FD_WATCHER);
		tw_libc()->close(watch_fd);
	}
	watch_fd = -1;
	pthread_mutex_init(&watch_lock, NULL);
	/* The connects in progress are the parent's, on sockets the child shares: the child's watcher must never time
	 * them out (a reply the parent has taken since would not be seen here, and the shutdown would end the
	 * parent's connection). Only the child's own calls on them still look at their deadline. */
	for (struct pending *q = waiting, *next; q != NULL; q = next) {
		next = q->wnext;
		q->wprev = q->wnext = NULL;
		q->listed = false;
	}
	waiting = NULL;
	pthread_mutex_init(&wait_lock, NULL);
	pthread_cond_init(&wait_cond, NULL);
}

/* Has the watcher time FD's connect out at its deadline and, while CONNECTING, send its request once the
 * connection is up (one shot). A socket connected already (TORWRAP_OPTIMISTIC) is writable: registering it wakes
 * the watcher at once, to take its deadline into account (it may be earlier than the one it sleeps until: the
 * connect began before the ones it knows, and waited for the proxy's connection). */
static void watch(int fd)
{
	pthread_mutex_lock(&watch_lock);
	if (watch_fd < 0) {
		int ep = epoll_create1(EPOLL_CLOEXEC);
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (ep >= 0) { /* before the thread runs: it checks that its descriptor is the one in use */
			watch_fd = ep;
			shim_fd_set(ep, SHIM_FD_WATCHER);
		}
		if (ep >= 0 && pthread_create(&t, &attr, watcher, (void *)(intptr_t)ep) != 0) {
			watch_fd = -1;
			shim_fd_clear(ep, SHIM_FD_WATCHER);
			tw_libc()->close(ep);
		}
		pthread_attr_destroy(&attr);
	}
	int ep = watch_fd;
	pthread_mutex_unlock(&watch_lock);
	if (ep < 0)
		return; /* no watcher: the program's own calls still send the request and check the deadline */
	struct epoll_event e = { .events = EPOLLOUT | EPOLLONESHOT, .data.fd = fd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0 && errno == EEXIST)
		epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}

/* ----------------------------------------------------------------------------------------------- the API */

int shim_proxy_start(int fd, const struct socks5_target *target, const struct sockaddr *asked, socklen_t asked_len,
		     bool blocking)
{
	pthread_once(&table_once, table_alloc);
	if (table == NULL)
		return -ENOMEM;
	int domain;
	socklen_t dlen = sizeof(domain);
	if (tw_libc()->getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0)
		return -errno;
	struct pending *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	struct route_caller who;
	shim_caller(&who, true);
	p->pid = who.pid;
	socks5_target_text(target, p->what, sizeof(p->what));
	int flags = fcntl(fd, F_GETFL);
	if (blocking && (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)) {
		free(p);
		return -errno;
	}
	/* Every wait for the proxy and for Tor ends TOR_CONNECTIVITY_TIMEOUT after this connect(). A blocking socket
	 * waits here for the proxy's TCP connection (failing over within it), not for Tor's reply. */
	int64_t deadline = tw_now_ms() + shim_config()->timeout_ms;
	atomic_init(&p->deadline, deadline);
	p->fd = fd;
	int rc = route_proxy_start(shim_route(), &who, fd, domain, target, blocking ? deadline : 0, &p->at, p->req,
				   &p->reqlen, p->token);
	if (blocking)
		fcntl(fd, F_SETFL, flags);
	if (rc < 0 && rc != -EINPROGRESS) {
		free(p);
		return rc;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		free(p);
		return -errno;
	}
	p->ino = st.st_ino;
	p->dev = st.st_dev;
	socks5_reply_parser_init(&p->parser, p->token[0] != '\0');
	p->state = PENDING_CONNECTING;
	shim_pending_forget(fd);
	list_add(p); /* before the table: whoever forgets it from there takes it off the list too */
	atomic_store_explicit(&table[fd], p, memory_order_release);
	shim_fd_set_peer(fd, asked, asked_len, (struct sockaddr *)&p->at.proxy, p->at.plen);
	shim_fd_set(fd, SHIM_FD_PENDING);
	pthread_mutex_lock(&p->lock);
	if (rc == 0)
		send_request(p, fd);
	enum pending_state state = p->state;
	int err = p->err;
	pthread_mutex_unlock(&p->lock);
	if (state == PENDING_FAILED)
		return err;
	watch(fd);
	return blocking ? 0 : -EINPROGRESS;
}

int shim_pending_before_io(int fd, bool reading, bool dontwait)
{
	struct pending *p = lock_entry(fd);
	if (p == NULL) {
		shim_fd_clear(fd, SHIM_FD_PENDING);
		return 0;
	}
	if (p->state != PENDING_FAILED && !still_ours(p, fd)) { /* closed behind our back, and reused */
		pthread_mutex_unlock(&p->lock);
		shim_pending_forget(fd);
		return 0;
	}
	check_deadline(p, fd);
	advance(p, fd);
	int fl = fcntl(fd, F_GETFL);
	if (p->state == PENDING_CONNECTING && !dontwait && fl >= 0 && !(fl & O_NONBLOCK)) {
		/* A blocking call before the connection was up: the kernel would wait, and then send the program's
		 * bytes before the request. Wait here, then send the request. */
		wait_up(p, fd);
	}
	int rc = 0;
	if (p->state == PENDING_FAILED)
		rc = p->err;
	else if (reading && p->state == PENDING_SENT)
		rc = take_reply(p, fd, dontwait);
	bool done = p->state == PENDING_DONE;
	pthread_mutex_unlock(&p->lock);
	if (done)
		shim_pending_forget(fd);
	return rc;
}

int shim_pending_connect_again(int fd)
{
	struct pending *p = lock_entry(fd);
	if (p == NULL)
		return 1;
	if (!still_ours(p, fd)) {
		pthread_mutex_unlock(&p->lock);
		shim_pending_forget(fd);
		return 1;
	}
	check_deadline(p, fd);
	advance(p, fd);
	int rc = p->state == PENDING_CONNECTING ? -EALREADY : p->state == PENDING_FAILED ? p->err : -EISCONN;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int shim_pending_so_error(int fd)
{
	struct pending *p = lock_entry(fd);
	if (p == NULL)
		return 0;
	check_deadline(p, fd);
	advance(p, fd);
	int err = p->state == PENDING_FAILED ? -p->err : 0;
	pthread_mutex_unlock(&p->lock);
	return err;
}

void shim_pending_forget(int fd)
{
	if (fd < 0 || fd >= SHIM_FD_MAX || table == NULL)
		return;
	pthread_mutex_lock(&table_lock);
	struct pending *p = atomic_exchange_explicit(&table[fd], NULL, memory_order_acq_rel);
	pthread_mutex_unlock(&table_lock);
	shim_fd_clear(fd, SHIM_FD_PENDING);
	if (p == NULL)
		return;
	list_remove(p); /* the watcher finds it no more */
	/* Whoever found it before it left the table holds its lock: wait for them, then free. */
	pthread_mutex_lock(&p->lock);
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
