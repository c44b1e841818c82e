/* asyncget.c: an event-loop HTTP client in C, for tests/integration/async.sh (issue 13): one thread, edge-triggered
 * epoll (EPOLLET), a non-blocking connect to each of N hosts at once, then an HTTP GET on each, every descriptor
 * read until EAGAIN whenever it reports an event (an edge that is not drained is never reported again).
 *
 *   asyncget [--read MODE] [--tick-ms MS] [--limit-s S] PORT HOST...
 *
 * MODE is the call that reads the response: read (default), recv, recvfrom, recvmsg, readv, or peek (each time
 * recv(MSG_PEEK) first, then read: the peeked bytes must be the ones read). A timerfd ticks every MS
 * milliseconds (default 10) in the same epoll set, from before the first connect to the end: the instant of
 * every tick is recorded, so a test can tell whether the loop ran while the connections waited.
 *
 * Prints one JSON object on stdout: {"start": T, "end": T, "ticks": [T...], "results": [{"host", "ok", "body",
 * "peer_ok"} or {"host", "ok": false, "op", "error"}...]} (T: seconds since the epoch, CLOCK_REALTIME), and one
 * line per failed connection on stderr ("asyncget: HOST: read: ECONNREFUSED"). A connection counts as ok when
 * the response starts with "HTTP/1." (nothing of the SOCKS exchange before it) and has a body; peer_ok says that
 * getpeername, once the socket was writable, named the address and port connected to. Connections still open
 * after S seconds (default 30) fail with op "limit", naming the state they were in.
 * Exit status 0 when every connection was ok, 2 otherwise, 1 usage.
 */
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_TICKS 100000
#define RESP_MAX 65536

enum state { CONNECTING, SENDING, READING, DONE };
static const char *state_name[] = { "connecting", "sending", "reading", "done" };

struct conn {
	const char *host;
	int fd;
	enum state st;
	struct sockaddr_storage asked;
	socklen_t asked_len;
	char req[512];
	size_t req_len, req_sent;
	char resp[RESP_MAX];
	size_t resp_len;
	int ok, peer_ok;
	const char *op;
	char error[64];
};

static struct conn conns[MAX_CONNS];
static double ticks[MAX_TICKS];
static size_t nticks;
static const char *read_mode = "read";

static double now_real(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "?";
}

static void fail(struct conn *c, const char *op, const char *error)
{
	if (c->st == DONE)
		return;
	c->op = op;
	snprintf(c->error, sizeof(c->error), "%s", error);
	c->st = DONE;
	fprintf(stderr, "asyncget: %s: %s: %s\n", c->host, op, error);
	close(c->fd);
	c->fd = -1;
}

static int same_addr(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr_storage *b)
{
	(void)alen;
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

/* One read in the chosen mode: the number of bytes, 0 at the end, -1 with errno. */
static ssize_t read_some(struct conn *c, char *buf, size_t len)
{
	if (strcmp(read_mode, "recv") == 0)
		return recv(c->fd, buf, len, 0);
	if (strcmp(read_mode, "recvfrom") == 0) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		return recvfrom(c->fd, buf, len, 0, (struct sockaddr *)&from, &flen);
	}
	if (strcmp(read_mode, "recvmsg") == 0) {
		struct iovec iov = { .iov_base = buf, .iov_len = len };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
		return recvmsg(c->fd, &m, 0);
	}
	if (strcmp(read_mode, "readv") == 0) {
		size_t half = len / 2;
		struct iovec iov[2] = { { .iov_base = buf, .iov_len = half }, { .iov_base = buf + half, .iov_len = len - half } };
		return readv(c->fd, iov, 2);
	}
	if (strcmp(read_mode, "peek") == 0) {
		char peeked[4096];
		size_t want = len < sizeof(peeked) ? len : sizeof(peeked);
		ssize_t p = recv(c->fd, peeked, want, MSG_PEEK);
		if (p <= 0)
			return p;
		ssize_t n = read(c->fd, buf, len);
		if (n > 0 && memcmp(peeked, buf, (size_t)(n < p ? n : p)) != 0) {
			errno = EBADMSG; /* reported as "peek-mismatch" by the caller */
			return -2;
		}
		return n;
	}
	return read(c->fd, buf, len);
}

static void finish(struct conn *c)
{
	c->resp[c->resp_len < RESP_MAX ? c->resp_len : RESP_MAX - 1] = '\0';
	char *body = strstr(c->resp, "\r\n\r\n");
	if (strncmp(c->resp, "HTTP/1.", 7) != 0 || body == NULL || body[4] == '\0') {
		fail(c, "response", strncmp(c->resp, "HTTP/1.", 7) != 0 ? "not-http" : "no-body");
		return;
	}
	c->ok = 1;
	c->st = DONE;
	close(c->fd);
	c->fd = -1;
}

/* Everything the connection can do now: the edge that woke us is not reported again. */
static void advance(struct conn *c, uint32_t events)
{
	if (c->st == CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err) {
			fail(c, "connect", errname(err));
			return;
		}
		c->st = SENDING;
	}
	if (c->st == SENDING) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		if (c->req_sent == 0)
			c->peer_ok = getpeername(c->fd, (struct sockaddr *)&peer, &plen) == 0 &&
				     same_addr(&c->asked, c->asked_len, &peer);
		while (c->req_sent < c->req_len) {
			ssize_t n = write(c->fd, c->req + c->req_sent, c->req_len - c->req_sent);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n < 0) {
				fail(c, "write", errname(errno));
				return;
			}
			c->req_sent += (size_t)n;
		}
		c->st = READING;
	}
	if (c->st == READING) {
		for (;;) {
			if (c->resp_len >= RESP_MAX - 1) {
				fail(c, "read", "too-long");
				return;
			}
			ssize_t n = read_some(c, c->resp + c->resp_len, RESP_MAX - 1 - c->resp_len);
			if (n == -2) {
				fail(c, "read", "peek-mismatch");
				return;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return; /* drained: the next edge brings more */
			if (n < 0) {
				fail(c, "read", errname(errno));
				return;
			}
			if (n == 0) {
				finish(c);
				return;
			}
			c->resp_len += (size_t)n;
		}
	}
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

int main(int argc, char **argv)
{
	int tick_ms = 10, limit_s = 30, i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (i + 1 >= argc)
			goto usage;
		if (strcmp(argv[i], "--read") == 0)
			read_mode = argv[i + 1];
		else if (strcmp(argv[i], "--tick-ms") == 0)
			tick_ms = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--limit-s") == 0)
			limit_s = atoi(argv[i + 1]);
		else
			goto usage;
	}
	static const char *modes[] = { "read", "recv", "recvfrom", "recvmsg", "readv", "peek" };
	int known = 0;
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
		known |= strcmp(read_mode, modes[m]) == 0;
	if (!known || tick_ms <= 0 || limit_s <= 0 || argc - i < 2 || argc - i - 1 > MAX_CONNS)
		goto usage;
	const char *port = argv[i++];
	int n = argc - i;

	int ep = epoll_create1(EPOLL_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ep < 0 || tfd < 0) {
		perror("asyncget: epoll_create1/timerfd_create");
		return 2;
	}
	struct itimerspec its = { .it_interval = { 0, tick_ms * 1000000L }, .it_value = { 0, tick_ms * 1000000L } };
	timerfd_settime(tfd, 0, &its, NULL);
	struct epoll_event tev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

	/* Names first (under torwrap: virtual addresses, no network), so the connects go out back to back. */
	for (int k = 0; k < n; k++) {
		struct conn *c = &conns[k];
		c->host = argv[i + k];
		c->fd = -1;
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
		int rc = getaddrinfo(c->host, port, &hints, &res);
		if (rc != 0) {
			c->st = DONE;
			c->op = "getaddrinfo";
			snprintf(c->error, sizeof(c->error), "%s", gai_strerror(rc));
			continue;
		}
		memcpy(&c->asked, res->ai_addr, res->ai_addrlen);
		c->asked_len = res->ai_addrlen;
		freeaddrinfo(res);
		c->req_len = (size_t)snprintf(c->req, sizeof(c->req),
					      "GET / HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", c->host);
	}
	double start = now_real();
	for (int k = 0; k < n; k++) {
		struct conn *c = &conns[k];
		if (c->st == DONE)
			continue;
		c->fd = socket(c->asked.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			fail(c, "socket", errname(errno));
			continue;
		}
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = (uint64_t)k };
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		if (connect(c->fd, (struct sockaddr *)&c->asked, c->asked_len) == 0) {
			c->st = SENDING; /* connected at once: allowed for a non-blocking socket */
			advance(c, EPOLLOUT);
		} else if (errno == EINPROGRESS) {
			c->st = CONNECTING;
		} else {
			fail(c, "connect", errname(errno));
		}
	}
	double limit = start + limit_s;
	for (;;) {
		int open = 0;
		for (int k = 0; k < n; k++)
			open += conns[k].st != DONE;
		if (open == 0)
			break;
		double left = limit - now_real();
		if (left <= 0) {
			for (int k = 0; k < n; k++)
				if (conns[k].st != DONE)
					fail(&conns[k], "limit", state_name[conns[k].st]);
			break;
		}
		struct epoll_event evs[64];
		int got = epoll_wait(ep, evs, 64, (int)(left * 1000) + 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			perror("asyncget: epoll_wait");
			return 2;
		}
		for (int e = 0; e < got; e++) {
			if (evs[e].data.u64 == UINT64_MAX) {
				uint64_t expirations;
				if (read(tfd, &expirations, sizeof(expirations)) == sizeof(expirations) && nticks < MAX_TICKS)
					ticks[nticks++] = now_real();
				continue;
			}
			struct conn *c = &conns[evs[e].data.u64];
			if (c->st != DONE)
				advance(c, evs[e].events);
		}
	}
	double end = now_real();

	int all_ok = 1;
	printf("{\"start\": %.6f, \"end\": %.6f, \"read\": \"%s\", \"ticks\": [", start, end, read_mode);
	for (size_t t = 0; t < nticks; t++)
		printf("%s%.6f", t ? ", " : "", ticks[t]);
	printf("], \"results\": [");
	for (int k = 0; k < n; k++) {
		struct conn *c = &conns[k];
		printf("%s{\"host\": ", k ? ", " : "");
		json_string(c->host);
		if (c->ok) {
			printf(", \"ok\": true, \"peer_ok\": %s, \"body\": ", c->peer_ok ? "true" : "false");
			json_string(strstr(c->resp, "\r\n\r\n") + 4);
		} else {
			all_ok = 0;
			printf(", \"ok\": false, \"op\": \"%s\", \"error\": ", c->op ? c->op : "?");
			json_string(c->error);
		}
		putchar('}');
	}
	printf("]}\n");
	return all_ok ? 0 : 2;
usage:
	fprintf(stderr, "usage: asyncget [--read read|recv|recvfrom|recvmsg|readv|peek] [--tick-ms MS] [--limit-s S] "
			"PORT HOST...\n");
	return 1;
}
