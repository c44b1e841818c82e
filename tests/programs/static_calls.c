/* static_calls.c: the calls the seccomp supervisor performs for a program (static.sh links it with -static):
 * Unix sockets by path, descriptors passed in SCM_RIGHTS, datagrams without an address, AF_UNSPEC, SIGPIPE, a
 * program that dropped its privileges, and a program racing the supervisor on purpose. Every socket it talks
 * to is its own (bound and read in the program: bind, accept and recv are not trapped), on 127.0.0.0/8 or in a
 * directory it is given. Prints "result ..." lines; exit 0, or 1 usage, 2 a call failed unexpectedly.
 *
 *   static_calls unix-stream DIR     connect to DIR/sub/s.sock by a relative path (from DIR, made the working
 *                                    directory first), by the absolute one, and through an O_PATH descriptor
 *                                    of it (/proc/self/fd/N): "relative OK", "absolute OK", "procfd OK"
 *   static_calls unix-dgram DIR      sendto a Unix datagram socket by its path: "result OK" once it arrived
 *   static_calls scm-rights DIR      passes a descriptor of DIR/secret over a socket pair (SCM_RIGHTS); the
 *                                    receiver reads the file through it: "result OK <contents>"
 *   static_calls scm-creds           SCM_CREDENTIALS with its own pid, uid, gid: "result OK" or the errno
 *   static_calls udp-connected N     N datagrams with sendmsg without an address, on a UDP socket connected to
 *                                    a sink on 127.0.0.1: "received R/N"
 *   static_calls unspec ADDR         sendto with an AF_UNSPEC address holding ADDR and a sink's port, on an
 *                                    IPv4 UDP socket: "result OK|ERRNO received R" (R at the sink on ADDR)
 *   static_calls srr VIA             a datagram to a sink on 127.0.0.1 with a loose source route through VIA
 *                                    (IP_RETOPTS): "result OK|ERRNO"
 *   static_calls stream-big          one blocking sendmsg of 8 MiB + 3 bytes (three iovecs) over loopback TCP:
 *                                    "sent N received N sum OK"
 *   static_calls sigpipe unix|tcp [nosignal|default]   sendmsg to a closed peer: "result EPIPE sigpipe 0|1"
 *                                    (nosignal: with MSG_NOSIGNAL; default: no handler, SIGPIPE kills it)
 *   static_calls interrupted         a blocking sendmsg on a full Unix stream, interrupted by a caught SIGALRM:
 *                                    "result EINTR"
 *   static_calls drop DIR            as root: binds DIR/root.sock (0600) and DIR/open.sock (0666), opens a
 *                                    netlink socket, then becomes uid/gid 65534: "root.sock ERRNO",
 *                                    "peer uid U" (SO_PEERCRED of its connect to open.sock), "netlink ERRNO"
 *                                    (an address added to lo; run it in a network namespace of its own)
 *   static_calls race-name N FORBIDDEN   one thread flips msg_name between NULL and FORBIDDEN:PORT while
 *                                    another sends N datagrams with sendmsg on a socket connected to a sink on
 *                                    127.0.0.1: "allowed A forbidden F" (F: datagrams at the FORBIDDEN sink)
 *   static_calls race-fd N FORBIDDEN     one thread swaps (dup2) a UDP and a Unix datagram socket over one
 *                                    descriptor while another sendto's FORBIDDEN:PORT on it N times
 *   static_calls race-connect N FORBIDDEN   the same with a TCP and a Unix stream socket and connect():
 *                                    "forbidden F" (connections the FORBIDDEN listener accepted)
 *   static_calls bench-udp N         N sendmsg without an address on a connected UDP socket: "us T"
 *   static_calls bench-tcp BYTES sendmsg|write   BYTES over loopback TCP in 64 KiB calls: "us T"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int err)
{
	const char *n = strerrorname_np(err);
	return n ? n : "?";
}

static const char *rname(long rc)
{
	return rc < 0 ? ename(errno) : "OK";
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int fail(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, ename(errno));
	return 2;
}

/* ---------------------------------------------------------------------------------------------------- sinks */

/* A socket of TYPE bound to ADDR (IPv4 text) on a port of the kernel's choice; its address in *SIN. */
static int bound(int type, const char *addr, struct sockaddr_in *sin)
{
	int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin->sin_addr);
	socklen_t len = sizeof(*sin);
	int big = 8 << 20;
	setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (s < 0 || bind(s, (struct sockaddr *)sin, len) != 0 || getsockname(s, (struct sockaddr *)sin, &len) != 0 ||
	    (type == SOCK_STREAM && listen(s, 4096) != 0)) {
		fprintf(stderr, "bind %s: %s\n", addr, ename(errno));
		exit(2);
	}
	return s;
}

/* A sink counts what arrives on its socket (datagrams, or accepted connections) until told to stop. */
struct sink {
	int fd;
	bool stream;
	_Atomic bool stop;
	_Atomic long count;
	pthread_t t;
};

static void *sink_run(void *arg)
{
	struct sink *k = arg;
	char buf[2048];
	while (!atomic_load(&k->stop)) {
		struct pollfd p = { .fd = k->fd, .events = POLLIN };
		if (poll(&p, 1, 50) != 1)
			continue;
		int c = k->stream ? accept(k->fd, NULL, NULL) : -1;
		if (k->stream && c >= 0)
			close(c);
		if (k->stream ? c >= 0 : recv(k->fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
			atomic_fetch_add(&k->count, 1);
	}
	return NULL;
}

static void sink_start(struct sink *k, int type, const char *addr, struct sockaddr_in *sin)
{
	memset(k, 0, sizeof(*k));
	k->fd = bound(type, addr, sin);
	k->stream = type == SOCK_STREAM;
	pthread_create(&k->t, NULL, sink_run, k);
}

/* Stops the sink once nothing arrived for 300 ms: its count. */
static long sink_stop(struct sink *k)
{
	for (long last = -1; last != atomic_load(&k->count);) {
		last = atomic_load(&k->count);
		usleep(300000);
	}
	atomic_store(&k->stop, true);
	pthread_join(k->t, NULL);
	close(k->fd);
	return atomic_load(&k->count);
}

/* ------------------------------------------------------------------------------------------- Unix sockets */

static socklen_t unix_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sun->sun_path) + 1);
}

static int unix_bound(int type, const char *path, mode_t mode)
{
	struct sockaddr_un sun;
	socklen_t len = unix_addr(&sun, path);
	unlink(path);
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sun, len) != 0 || (type == SOCK_STREAM && listen(s, 16) != 0) ||
	    chmod(path, mode) != 0) {
		fprintf(stderr, "bind %s: %s\n", path, ename(errno));
		exit(2);
	}
	return s;
}

/* Connects a new Unix stream socket to PATH and sends a byte the listener L then reads. "OK" or the errno. */
static const char *unix_try(int l, const char *path)
{
	struct sockaddr_un sun;
	socklen_t len = unix_addr(&sun, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(s, (struct sockaddr *)&sun, len) != 0) {
		close(s);
		return ename(errno);
	}
	char b = 'x';
	int a = accept(l, NULL, NULL);
	bool ok = a >= 0 && write(s, &b, 1) == 1 && read(a, &b, 1) == 1;
	close(a);
	close(s);
	return ok ? "OK" : "no data";
}

static int cmd_unix_stream(const char *dir)
{
	char sub[4096], path[4200];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	mkdir(sub, 0755);
	snprintf(path, sizeof(path), "%s/s.sock", sub);
	int l = unix_bound(SOCK_STREAM, path, 0666);
	if (chdir(dir) != 0)
		return fail("chdir");
	printf("relative %s\n", unix_try(l, "sub/s.sock"));
	printf("absolute %s\n", unix_try(l, path));
	/* systemd's way to a path too long for sun_path: an O_PATH descriptor, and its own /proc/self/fd entry */
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", open(path, O_PATH | O_CLOEXEC));
	printf("procfd %s\n", unix_try(l, self));
	return 0;
}

static int cmd_unix_dgram(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/d.sock", dir);
	int r = unix_bound(SOCK_DGRAM, path, 0666);
	struct sockaddr_un sun;
	socklen_t len = unix_addr(&sun, path);
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	long rc = sendto(s, "hello", 5, 0, (struct sockaddr *)&sun, len);
	char buf[16];
	struct pollfd p = { .fd = r, .events = POLLIN };
	bool got = rc == 5 && poll(&p, 1, 2000) == 1 && recv(r, buf, sizeof(buf), 0) == 5;
	printf("result %s\n", rc < 0 ? ename(errno) : got ? "OK" : "not received");
	return 0;
}

static int cmd_scm_rights(const char *dir)
{
	char path[4200], want[64], got[64] = "";
	snprintf(path, sizeof(path), "%s/secret", dir);
	snprintf(want, sizeof(want), "secret-%d", (int)getpid());
	int f = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f < 0 || write(f, want, strlen(want)) != (ssize_t)strlen(want))
		return fail("secret");
	int sp[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { .iov_base = "f", .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	*h = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof(int)), .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS };
	memcpy(CMSG_DATA(h), &f, sizeof(int));
	long rc = sendmsg(sp[0], &m, 0);
	close(f); /* the receiver's copy is the only one left */
	char b;
	iov = (struct iovec){ .iov_base = &b, .iov_len = 1 };
	memset(&ctl, 0, sizeof(ctl));
	int r = -1;
	if (rc == 1 && recvmsg(sp[1], &m, 0) == 1 && (h = CMSG_FIRSTHDR(&m)) && h->cmsg_type == SCM_RIGHTS)
		memcpy(&r, CMSG_DATA(h), sizeof(int));
	ssize_t n = r >= 0 ? pread(r, got, sizeof(got) - 1, 0) : -1;
	got[n > 0 ? n : 0] = '\0';
	printf("result %s %s\n", rc < 0 ? ename(errno) : strcmp(got, want) == 0 ? "OK" : "WRONG", got);
	return 0;
}

static int cmd_scm_creds(void)
{
	int sp[2], on = 1;
	socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp);
	setsockopt(sp[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { .iov_base = "c", .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	*h = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof(struct ucred)), .cmsg_level = SOL_SOCKET,
			       .cmsg_type = SCM_CREDENTIALS };
	struct ucred u = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
	memcpy(CMSG_DATA(h), &u, sizeof(u));
	long rc = sendmsg(sp[0], &m, 0);
	printf("result %s\n", rname(rc));
	return 0;
}

/* ------------------------------------------------------------------------------------------------- datagrams */

static int cmd_udp_connected(long n)
{
	struct sockaddr_in sin;
	struct sink k;
	sink_start(&k, SOCK_DGRAM, "127.0.0.1", &sin);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		return fail("connect");
	struct iovec iov = { .iov_base = "datagram", .iov_len = 8 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	for (long i = 0; i < n; i++)
		if (sendmsg(s, &m, 0) != 8)
			return fail("sendmsg");
	printf("received %ld/%ld\n", sink_stop(&k), n);
	return 0;
}

static int cmd_unspec(const char *addr)
{
	struct sockaddr_in sin;
	struct sink k;
	sink_start(&k, SOCK_DGRAM, addr, &sin);
	sin.sin_family = AF_UNSPEC; /* read as AF_INET by the kernel's udp_sendmsg */
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	long rc = sendto(s, "unspec", 6, 0, (struct sockaddr *)&sin, sizeof(sin));
	const char *what = rname(rc);
	printf("result %s received %ld\n", what, sink_stop(&k));
	return 0;
}

/* What a reader of a stream got: its byte count and sum. */
struct tally {
	int l;
	long long bytes;
	unsigned sum;
};

static void *tally_run(void *arg)
{
	struct tally *t = arg;
	int c = accept(t->l, NULL, NULL);
	static unsigned char buf[1 << 16];
	for (ssize_t n; c >= 0 && (n = read(c, buf, sizeof(buf))) > 0;) {
		t->bytes += n;
		for (ssize_t i = 0; i < n; i++)
			t->sum += buf[i];
	}
	return NULL;
}

/* One blocking sendmsg of 8 MiB and 3 bytes in three iovecs over loopback TCP: "sent N received N sum OK". */
static int cmd_stream_big(void)
{
	struct sockaddr_in sin;
	struct tally t = { .l = bound(SOCK_STREAM, "127.0.0.1", &sin) };
	pthread_t th;
	pthread_create(&th, NULL, tally_run, &t);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		return fail("connect");
	size_t len = (8u << 20) + 3;
	unsigned char *buf = malloc(len);
	unsigned want = 0;
	for (size_t i = 0; i < len; i++)
		want += buf[i] = (unsigned char)(i * 7 + i / 4099);
	struct iovec iov[3] = { { buf, 1u << 20 }, { buf + (1u << 20), 5u << 20 },
				{ buf + (6u << 20), len - (6u << 20) } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 3 };
	long rc = sendmsg(s, &m, 0);
	shutdown(s, SHUT_WR);
	pthread_join(th, NULL);
	printf("sent %ld received %lld sum %s\n", rc, t.bytes, t.sum == want ? "OK" : "WRONG");
	return 0;
}

/* A datagram on a UDP socket connected to a sink on 127.0.0.1, with a loose source route through VIA in its
 * control data (IP_RETOPTS): the packet would go to VIA first. "result OK|ERRNO". */
static int cmd_srr(const char *via)
{
	struct sockaddr_in sin;
	int r = bound(SOCK_DGRAM, "127.0.0.1", &sin);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		return fail("connect");
	uint8_t opt[8] = { IPOPT_NOP, IPOPT_LSRR, 7, 4 };
	inet_pton(AF_INET, via, opt + 4);
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(opt))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { .iov_base = "srr", .iov_len = 3 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	*h = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof(opt)), .cmsg_level = IPPROTO_IP, .cmsg_type = IP_RETOPTS };
	memcpy(CMSG_DATA(h), opt, sizeof(opt));
	printf("result %s\n", rname(sendmsg(s, &m, 0)));
	close(r);
	return 0;
}

/* ------------------------------------------------------------------------------------------------- SIGPIPE */

static volatile sig_atomic_t got_sigpipe;

static void on_sigpipe(int sig)
{
	(void)sig;
	got_sigpipe = 1;
}

/* A connected pair whose far end is closed: unix (a socket pair) or tcp (loopback). The near end. */
static int closed_peer(const char *how)
{
	if (strcmp(how, "unix") == 0) {
		int sp[2];
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
		close(sp[1]);
		return sp[0];
	}
	struct sockaddr_in sin;
	int l = bound(SOCK_STREAM, "127.0.0.1", &sin);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		exit(fail("connect"));
	close(accept(l, NULL, NULL));
	close(l);
	usleep(100000); /* the FIN, then the RST our first send earns */
	send(s, "x", 1, MSG_NOSIGNAL);
	usleep(100000);
	return s;
}

/* MODE: "" (a handler counts SIGPIPE), "nosignal" (MSG_NOSIGNAL), "default" (no handler: SIGPIPE kills). */
static int cmd_sigpipe(const char *how, const char *mode)
{
	bool nosignal = strcmp(mode, "nosignal") == 0;
	struct sigaction sa = { .sa_handler = strcmp(mode, "default") == 0 ? SIG_DFL : on_sigpipe };
	sigaction(SIGPIPE, &sa, NULL);
	int s = closed_peer(how);
	struct iovec iov = { .iov_base = "y", .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	got_sigpipe = 0;
	long rc = sendmsg(s, &m, nosignal ? MSG_NOSIGNAL : 0);
	int seen = got_sigpipe; /* the kernel's signal is handled before the call returns */
	printf("result %s sigpipe %d\n", rname(rc), seen);
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* A blocking sendmsg on a full Unix stream, a SIGALRM (caught, without SA_RESTART) a second later: the kernel
 * interrupts the send. "result EINTR". */
static int cmd_interrupted(void)
{
	int sp[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
	static char fill[4096];
	while (send(sp[0], fill, sizeof(fill), MSG_DONTWAIT) > 0)
		;
	struct sigaction sa = { .sa_handler = on_alarm };
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	struct iovec iov = { .iov_base = "z", .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	printf("result %s\n", rname(sendmsg(sp[0], &m, 0)));
	return 0;
}

/* --------------------------------------------------------------------------------------- dropped privileges */

/* An address on lo, asked of the kernel over netlink socket NL: the errno of its answer. */
static int netlink_add_address(int nl)
{
	struct {
		struct nlmsghdr n;
		struct ifaddrmsg a;
		struct rtattr r;
		struct in_addr addr;
	} req = {
		.n = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_NEWADDR,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, .nlmsg_seq = 1 },
		.a = { .ifa_family = AF_INET, .ifa_prefixlen = 32, .ifa_index = 1 },
		.r = { .rta_len = RTA_LENGTH(sizeof(struct in_addr)), .rta_type = IFA_LOCAL },
	};
	inet_pton(AF_INET, "10.255.255.77", &req.addr);
	struct sockaddr_nl k = { .nl_family = AF_NETLINK };
	struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
	struct msghdr m = { .msg_name = &k, .msg_namelen = sizeof(k), .msg_iov = &iov, .msg_iovlen = 1 };
	if (sendmsg(nl, &m, 0) < 0)
		return errno;
	char buf[512];
	ssize_t n = recv(nl, buf, sizeof(buf), 0);
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	if (n < (ssize_t)sizeof(*h) || h->nlmsg_type != NLMSG_ERROR)
		return EIO;
	return -((struct nlmsgerr *)NLMSG_DATA(h))->error;
}

static int cmd_drop(const char *dir)
{
	char closed[4200], open_[4200];
	snprintf(closed, sizeof(closed), "%s/root.sock", dir);
	snprintf(open_, sizeof(open_), "%s/open.sock", dir);
	int lc = unix_bound(SOCK_STREAM, closed, 0600), lo = unix_bound(SOCK_STREAM, open_, 0666);
	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl < 0 || setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
	    setresuid(65534, 65534, 65534) != 0)
		return fail("drop");
	printf("root.sock %s\n", unix_try(lc, closed));
	struct sockaddr_un sun;
	socklen_t len = unix_addr(&sun, open_);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int a = connect(s, (struct sockaddr *)&sun, len) == 0 ? accept(lo, NULL, NULL) : -1;
	struct ucred peer = { 0 };
	socklen_t plen = sizeof(peer);
	if (a < 0 || getsockopt(a, SOL_SOCKET, SO_PEERCRED, &peer, &plen) != 0)
		return fail("peer");
	printf("peer uid %u\n", (unsigned)peer.uid);
	int err = netlink_add_address(nl);
	printf("netlink %s\n", err ? ename(err) : "OK");
	return 0;
}

/* ----------------------------------------------------------------------------------------------------- races */

/* A datagram sink on 127.0.0.1 and one on FORBIDDEN (an address the policy does not allow), and where each is. */
struct pair {
	struct sink allowed, forbidden;
	struct sockaddr_in ok, bad;
};

static _Atomic bool race_over;

static void *flip_name(void *arg)
{
	struct msghdr *m = arg;
	void *bad = m->msg_name;
	while (!atomic_load(&race_over)) {
		*(void *volatile *)&m->msg_name = NULL;
		*(void *volatile *)&m->msg_name = bad;
	}
	return NULL;
}

static int cmd_race_name(long n, const char *forbidden)
{
	struct pair p;
	sink_start(&p.allowed, SOCK_DGRAM, "127.0.0.1", &p.ok);
	sink_start(&p.forbidden, SOCK_DGRAM, forbidden, &p.bad);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (connect(s, (struct sockaddr *)&p.ok, sizeof(p.ok)) != 0)
		return fail("connect");
	struct iovec iov = { .iov_base = "race", .iov_len = 4 };
	struct msghdr m = { .msg_name = &p.bad, .msg_namelen = sizeof(p.bad), .msg_iov = &iov, .msg_iovlen = 1 };
	pthread_t t;
	pthread_create(&t, NULL, flip_name, &m);
	long refused = 0;
	for (long i = 0; i < n; i++)
		refused += sendmsg(s, &m, 0) < 0;
	atomic_store(&race_over, true);
	pthread_join(t, NULL);
	long a = sink_stop(&p.allowed), f = sink_stop(&p.forbidden);
	printf("allowed %ld forbidden %ld refused %ld\n", a, f, refused);
	return 0;
}

/* The descriptor T is one socket, then the other, as fast as dup2 goes. FRESH: a new socket of FAMILY each time
 * (a TCP socket connects only once). */
struct swap {
	int t, other, family, type;
	bool fresh;
};

static void *swap_fds(void *arg)
{
	const struct swap *w = arg;
	int keep = socket(w->family, w->type | SOCK_CLOEXEC, 0);
	while (!atomic_load(&race_over)) {
		int s = w->fresh ? socket(w->family, w->type | SOCK_CLOEXEC, 0) : keep;
		dup2(s, w->t);
		if (w->fresh)
			close(s);
		dup2(w->other, w->t);
	}
	return NULL;
}

static int cmd_race_fd(long n, const char *forbidden)
{
	struct pair p;
	sink_start(&p.forbidden, SOCK_DGRAM, forbidden, &p.bad);
	struct swap w = { .other = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), .family = AF_INET,
			  .type = SOCK_DGRAM };
	w.t = dup(w.other);
	pthread_t t;
	pthread_create(&t, NULL, swap_fds, &w);
	for (long i = 0; i < n; i++)
		sendto(w.t, "race", 4, 0, (struct sockaddr *)&p.bad, sizeof(p.bad));
	atomic_store(&race_over, true);
	pthread_join(t, NULL);
	printf("forbidden %ld\n", sink_stop(&p.forbidden));
	return 0;
}

static int cmd_race_connect(long n, const char *forbidden)
{
	struct pair p;
	sink_start(&p.forbidden, SOCK_STREAM, forbidden, &p.bad);
	struct swap w = { .other = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), .family = AF_INET,
			  .type = SOCK_STREAM, .fresh = true };
	w.t = dup(w.other);
	pthread_t t;
	pthread_create(&t, NULL, swap_fds, &w);
	for (long i = 0; i < n; i++)
		connect(w.t, (struct sockaddr *)&p.bad, sizeof(p.bad));
	atomic_store(&race_over, true);
	pthread_join(t, NULL);
	printf("forbidden %ld\n", sink_stop(&p.forbidden));
	return 0;
}

/* ------------------------------------------------------------------------------------------------------ cost */

static int cmd_bench_udp(long n)
{
	struct sockaddr_in sin;
	int r = bound(SOCK_DGRAM, "127.0.0.1", &sin); /* never read: a full queue drops, the sends go on */
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		return fail("connect");
	struct iovec iov = { .iov_base = "0123456789abcdef", .iov_len = 16 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	int64_t t0 = now_us();
	for (long i = 0; i < n; i++)
		if (sendmsg(s, &m, 0) != 16)
			return fail("sendmsg");
	printf("us %lld\n", (long long)(now_us() - t0));
	close(r);
	return 0;
}

static void *drain(void *arg)
{
	int l = (int)(intptr_t)arg, c = accept(l, NULL, NULL);
	static char buf[1 << 16];
	while (c >= 0 && read(c, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static int cmd_bench_tcp(long long bytes, bool use_write)
{
	struct sockaddr_in sin;
	int l = bound(SOCK_STREAM, "127.0.0.1", &sin);
	pthread_t t;
	pthread_create(&t, NULL, drain, (void *)(intptr_t)l);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		return fail("connect");
	static char buf[1 << 16];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	int64_t t0 = now_us();
	for (long long left = bytes; left > 0;) {
		ssize_t w = use_write ? write(s, buf, sizeof(buf)) : sendmsg(s, &m, 0);
		if (w <= 0)
			return fail("send");
		left -= w;
	}
	shutdown(s, SHUT_WR);
	pthread_join(t, NULL);
	printf("us %lld\n", (long long)(now_us() - t0));
	return 0;
}

/* ------------------------------------------------------------------------------------------------------ main */

static int dispatch(const char *cmd, int left, char **a)
{
	if (left == 1 && strcmp(cmd, "unix-stream") == 0)
		return cmd_unix_stream(a[0]);
	if (left == 1 && strcmp(cmd, "unix-dgram") == 0)
		return cmd_unix_dgram(a[0]);
	if (left == 1 && strcmp(cmd, "scm-rights") == 0)
		return cmd_scm_rights(a[0]);
	if (left == 0 && strcmp(cmd, "scm-creds") == 0)
		return cmd_scm_creds();
	if (left == 1 && strcmp(cmd, "udp-connected") == 0)
		return cmd_udp_connected(atol(a[0]));
	if (left == 1 && strcmp(cmd, "unspec") == 0)
		return cmd_unspec(a[0]);
	if (left == 1 && strcmp(cmd, "srr") == 0)
		return cmd_srr(a[0]);
	if (left == 0 && strcmp(cmd, "stream-big") == 0)
		return cmd_stream_big();
	if (left >= 1 && strcmp(cmd, "sigpipe") == 0)
		return cmd_sigpipe(a[0], left == 2 ? a[1] : "");
	if (left == 0 && strcmp(cmd, "interrupted") == 0)
		return cmd_interrupted();
	if (left == 1 && strcmp(cmd, "drop") == 0)
		return cmd_drop(a[0]);
	if (left == 2 && strcmp(cmd, "race-name") == 0)
		return cmd_race_name(atol(a[0]), a[1]);
	if (left == 2 && strcmp(cmd, "race-fd") == 0)
		return cmd_race_fd(atol(a[0]), a[1]);
	if (left == 2 && strcmp(cmd, "race-connect") == 0)
		return cmd_race_connect(atol(a[0]), a[1]);
	if (left == 1 && strcmp(cmd, "bench-udp") == 0)
		return cmd_bench_udp(atol(a[0]));
	if (left == 2 && strcmp(cmd, "bench-tcp") == 0)
		return cmd_bench_tcp(atoll(a[0]), strcmp(a[1], "write") == 0);
	fprintf(stderr, "static_calls: unknown command or arguments: %s\n", cmd);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: static_calls COMMAND [ARGS] (see the top of static_calls.c)\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return dispatch(argv[1], argc - 2, argv + 2);
}
