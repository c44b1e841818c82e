/* calls.c: what torwrap adds to one call, measured A/B inside one process.
 *
 * Run with libtorwrap.so preloaded. Arm A calls libc's own definitions (dlsym on libc.so.6's handle: what the
 * program would get without torwrap); arm B calls the definitions the program's calls really bind to (dlsym
 * RTLD_DEFAULT: torwrap's hooks). Both arms go through a function pointer, run in the same process, on the
 * same warm caches, alternating batch by batch (A B B A ...), so the per-round difference cancels most of
 * what a noisy machine does to absolute times. Without the library preloaded both arms are libc: the same
 * run then measures the method's own noise floor (the A/A test).
 *
 *   calls [--rounds N] [--batch-us N] [--only OP,OP] [--dns PORT]
 *
 * Prints one JSON object: for each operation the nanoseconds per call of every batch of each arm.
 *
 * Operations:
 *   unix_conn         a whole connection: socket(AF_UNIX) + connect to a listening socket + close
 *   tcp_conn          a whole connection: socket(AF_INET) + connect to 127.0.0.1 (always direct) + close (RST)
 *   unix_connect      connect() alone, AF_UNIX: the hook's whole path, then the kernel's cheapest answer
 *                     (the socket is connected already: EISCONN), so the difference is not lost in its noise
 *   tcp_connect       connect() alone, to an allowed loopback TCP address (the policy decision included)
 *   socket_close      socket(AF_INET) + close(), both hooked too
 *   udp_recvfrom      recvfrom() of one datagram (with its source address) on a UDP socket torwrap has not
 *                     touched: the hook's flag test (A and B both receive what libc's send put there)
 *   udp_sendto        sendto() of one datagram to an allowed loopback address on an unconnected UDP socket:
 *                     the datagram rule, then the kernel (under `torwrap --strict`, the supervisor)
 *   getppid           a system call no hook and no filter rule is about (both arms the same): compared between
 *                     runs, under LD_PRELOAD and under torwrap, it is the kernel backstop's cost per unrelated call
 *   gai_numeric       getaddrinfo("127.0.0.1", "443") + freeaddrinfo
 *   gai_virtual       A: libc getaddrinfo("127.0.0.1") (the floor: torwrap builds its answer with it);
 *                     B: getaddrinfo("api.trongrid.io") answered with a virtual address (no packet)
 *   gai_hosts         getaddrinfo of an allowed name found in the hosts file (A: libc reads /etc/hosts,
 *                     B: torwrap reads TORWRAP_HOSTS; the driver makes them the same file where it can)
 *   gai_dns           getaddrinfo of an allowed name answered by a nameserver (A: glibc's stub resolver,
 *                     B: torwrap's c-ares; both asking the same server); only with --dns
 * Names: $BENCH_ALLOWED_HOSTS_NAME (default localhost), $BENCH_ALLOWED_DNS_NAME (lucid-mongodb),
 * $BENCH_VIRTUAL_NAME (api.trongrid.io).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct fns {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*close)(int);
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	void (*freeaddrinfo)(struct addrinfo *);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
};

static struct fns libc_fns, bound_fns;
static int unix_lfd = -1, tcp_lfd = -1;
static struct sockaddr_un unix_sa;
static struct sockaddr_in tcp_sa;
static const char *name_virtual = "api.trongrid.io", *name_hosts = "localhost", *name_dns = "lucid-mongodb";
static int errors;
static char first_error[256];

static void note_error(const char *op, const char *what)
{
	if (errors++ == 0)
		snprintf(first_error, sizeof(first_error), "%s: %s", op, what);
}

static void load(struct fns *f, void *handle)
{
	*(void **)&f->socket = dlsym(handle, "socket");
	*(void **)&f->connect = dlsym(handle, "connect");
	*(void **)&f->close = dlsym(handle, "close");
	*(void **)&f->getaddrinfo = dlsym(handle, "getaddrinfo");
	*(void **)&f->freeaddrinfo = dlsym(handle, "freeaddrinfo");
	*(void **)&f->recvfrom = dlsym(handle, "recvfrom");
	*(void **)&f->sendto = dlsym(handle, "sendto");
	if (!f->socket || !f->connect || !f->close || !f->getaddrinfo || !f->freeaddrinfo || !f->recvfrom ||
	    !f->sendto) {
		fprintf(stderr, "calls: dlsym: %s\n", dlerror());
		exit(1);
	}
}

/* Under torwrap's kernel filter (LD_PRELOAD alone installs it too), a connect or an addressed send made past the
 * library is refused (or, under `torwrap`, handed to the supervisor) unless it carries the tree's cookie, which
 * the library leaves in the environment. With BENCH_LIBC_COOKIE set, arm A is libc's own cost: its calls carry
 * the cookie the way the library's do (one more register, nothing else); without it, they are Go's way. */
static long cookie;
static long (*libc_syscall)(long, ...); /* libc's own: syscall() is one of torwrap's hooks */

static int libc_connect_cookie(int fd, const struct sockaddr *sa, socklen_t len)
{
	return (int)libc_syscall(SYS_connect, fd, sa, len, cookie);
}

static ssize_t libc_sendto_cookie(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa,
				  socklen_t salen)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = { .msg_name = (void *)sa, .msg_namelen = salen, .msg_iov = &iov, .msg_iovlen = 1 };
	return (ssize_t)libc_syscall(SYS_sendmsg, fd, &m, flags, cookie);
}

static void take_cookie(void *libc)
{
	const char *c = getenv("TORWRAP_SECCOMP_COOKIE");
	*(void **)&libc_syscall = dlsym(libc, "syscall");
	if (c == NULL || strlen(c) != 16 || libc_syscall == NULL || getenv("BENCH_LIBC_COOKIE") == NULL)
		return;
	cookie = (long)strtoull(c, NULL, 16);
	libc_fns.connect = libc_connect_cookie;
	libc_fns.sendto = libc_sendto_cookie;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void drain(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
		if (fd < 0)
			return;
		close(fd);
	}
}

/* ------------------------------------------------------------------------------------------- operations */

static int unix_conn_fd = -1, tcp_conn_fd = -1; /* connected once: connect() again fails with EISCONN */
static int udp_fd = -1; /* connected to its own address: what it sends, it receives */

static void op_unix(const struct fns *f, int n)
{
	for (int i = 0; i < n; i++) {
		int fd = f->socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || f->connect(fd, (struct sockaddr *)&unix_sa, sizeof(unix_sa)) != 0)
			note_error("unix_conn", strerror(errno));
		if (fd >= 0)
			f->close(fd);
	}
}

static void op_tcp(const struct fns *f, int n)
{
	static const struct linger lg = { 1, 0 };
	for (int i = 0; i < n; i++) {
		int fd = f->socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || f->connect(fd, (struct sockaddr *)&tcp_sa, sizeof(tcp_sa)) != 0)
			note_error("tcp_conn", strerror(errno));
		if (fd >= 0) {
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* no TIME_WAIT pile-up */
			f->close(fd);
		}
	}
}

/* connect() alone: the whole of the hook's decision, then the cheapest syscall the kernel can answer. */
static void op_unix_call(const struct fns *f, int n)
{
	for (int i = 0; i < n; i++)
		if (f->connect(unix_conn_fd, (struct sockaddr *)&unix_sa, sizeof(unix_sa)) == 0 || errno != EISCONN)
			note_error("unix_connect", strerror(errno));
}

static void op_tcp_call(const struct fns *f, int n)
{
	for (int i = 0; i < n; i++)
		if (f->connect(tcp_conn_fd, (struct sockaddr *)&tcp_sa, sizeof(tcp_sa)) == 0 || errno != EISCONN)
			note_error("tcp_connect", strerror(errno));
}

static void op_socket_close(const struct fns *f, int n)
{
	for (int i = 0; i < n; i++) {
		int fd = f->socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			note_error("socket_close", strerror(errno));
		else
			f->close(fd);
	}
}

static void op_udp_recvfrom(const struct fns *f, int n)
{
	char byte = 'x';
	struct sockaddr_storage from;
	for (int i = 0; i < n; i++) {
		socklen_t len = sizeof(from);
		if (send(udp_fd, &byte, 1, 0) != 1 ||
		    f->recvfrom(udp_fd, &byte, 1, 0, (struct sockaddr *)&from, &len) != 1)
			note_error("udp_recvfrom", strerror(errno));
	}
}

/* One datagram to an allowed loopback address, given with the call (sendto on an unconnected socket): the
 * datagram rule's decision, then the kernel. Nobody reads the sink: a full one drops in silence. */
static int udp_send_fd = -1;
static struct sockaddr_in udp_sink_sa;

static void op_udp_sendto(const struct fns *f, int n)
{
	char byte = 'x';
	for (int i = 0; i < n; i++)
		if (f->sendto(udp_send_fd, &byte, 1, 0, (struct sockaddr *)&udp_sink_sa, sizeof(udp_sink_sa)) != 1)
			note_error("udp_sendto", strerror(errno));
}

static void op_getppid(const struct fns *f, int n)
{
	(void)f;
	for (int i = 0; i < n; i++)
		if (getppid() <= 0)
			note_error("getppid", "no parent");
}

static int preloaded;

static void gai_loop(const struct fns *f, int n, const char *node, const char *op)
{
	static const struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	for (int i = 0; i < n; i++) {
		struct addrinfo *res = NULL;
		int rc = f->getaddrinfo(node, "443", &hints, &res);
		if (rc != 0)
			note_error(op, gai_strerror(rc));
		else
			f->freeaddrinfo(res);
	}
}

static void op_gai_numeric(const struct fns *f, int n)
{
	gai_loop(f, n, "127.0.0.1", "gai_numeric");
}

static void op_gai_virtual(const struct fns *f, int n)
{
	/* Without torwrap the name would go to DNS: the A/A run then times the floor twice. */
	if (f == &libc_fns || !preloaded)
		gai_loop(f, n, "127.0.0.1", "gai_virtual(floor)");
	else
		gai_loop(f, n, name_virtual, "gai_virtual");
}

static void op_gai_hosts(const struct fns *f, int n)
{
	gai_loop(f, n, name_hosts, "gai_hosts");
}

static void op_gai_dns(const struct fns *f, int n)
{
	gai_loop(f, n, name_dns, "gai_dns");
}

struct op {
	const char *name;
	void (*run)(const struct fns *, int);
	int lfd_drain; /* 1 unix, 2 tcp */
	int enabled;
};

static struct op ops[] = {
	{ "unix_conn", op_unix, 1, 1 },		 { "tcp_conn", op_tcp, 2, 1 },
	{ "unix_connect", op_unix_call, 0, 1 },	 { "tcp_connect", op_tcp_call, 0, 1 },
	{ "socket_close", op_socket_close, 0, 1 }, { "gai_numeric", op_gai_numeric, 0, 1 },
	{ "gai_virtual", op_gai_virtual, 0, 1 }, { "gai_hosts", op_gai_hosts, 0, 1 },
	{ "gai_dns", op_gai_dns, 0, 0 },	 { "getppid", op_getppid, 0, 1 },
	{ "udp_recvfrom", op_udp_recvfrom, 0, 1 }, { "udp_sendto", op_udp_sendto, 0, 1 },
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))
#define OP_DNS 8

/* Nanoseconds per call of one batch of N calls. */
static double batch(const struct op *o, const struct fns *f, int n)
{
	if (o->lfd_drain == 1)
		drain(unix_lfd);
	else if (o->lfd_drain == 2)
		drain(tcp_lfd);
	int64_t t0 = now_ns();
	o->run(f, n);
	int64_t t1 = now_ns();
	return (double)(t1 - t0) / n;
}

int main(int argc, char **argv)
{
	int rounds = 200;
	double batch_us = 2000;
	const char *only = NULL;
	int dns = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--batch-us") == 0 && i + 1 < argc)
			batch_us = atof(argv[++i]);
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--dns") == 0)
			dns = 1;
		else {
			fprintf(stderr, "usage: calls [--rounds N] [--batch-us N] [--only OP,...] [--dns]\n");
			return 2;
		}
	}
	if (getenv("BENCH_VIRTUAL_NAME"))
		name_virtual = getenv("BENCH_VIRTUAL_NAME");
	if (getenv("BENCH_ALLOWED_HOSTS_NAME"))
		name_hosts = getenv("BENCH_ALLOWED_HOSTS_NAME");
	if (getenv("BENCH_ALLOWED_DNS_NAME"))
		name_dns = getenv("BENCH_ALLOWED_DNS_NAME");
	ops[OP_DNS].enabled = dns;
	if (only) {
		for (size_t i = 0; i < NOPS; i++) {
			char pat[64];
			snprintf(pat, sizeof(pat), ",%s,", ops[i].name);
			char list[1024];
			snprintf(list, sizeof(list), ",%s,", only);
			ops[i].enabled = strstr(list, pat) != NULL && (i != OP_DNS || dns);
		}
	}

	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	if (libc == NULL) {
		fprintf(stderr, "calls: %s\n", dlerror());
		return 1;
	}
	load(&libc_fns, libc);
	load(&bound_fns, RTLD_DEFAULT);
	preloaded = bound_fns.connect != libc_fns.connect || bound_fns.getaddrinfo != libc_fns.getaddrinfo;
	take_cookie(libc);

	/* The listeners: made with libc's own calls, outside any measurement. */
	unix_lfd = libc_fns.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&unix_sa, 0, sizeof(unix_sa));
	unix_sa.sun_family = AF_UNIX;
	snprintf(unix_sa.sun_path, sizeof(unix_sa.sun_path), "/tmp/torwrap-bench-%d.sock", (int)getpid());
	unlink(unix_sa.sun_path);
	if (bind(unix_lfd, (struct sockaddr *)&unix_sa, sizeof(unix_sa)) != 0 || listen(unix_lfd, 4096) != 0) {
		perror("calls: unix listener");
		return 1;
	}
	tcp_lfd = libc_fns.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&tcp_sa, 0, sizeof(tcp_sa));
	tcp_sa.sin_family = AF_INET;
	tcp_sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(tcp_sa);
	if (bind(tcp_lfd, (struct sockaddr *)&tcp_sa, sizeof(tcp_sa)) != 0 || listen(tcp_lfd, 4096) != 0 ||
	    getsockname(tcp_lfd, (struct sockaddr *)&tcp_sa, &sl) != 0) {
		perror("calls: tcp listener");
		return 1;
	}
	unix_conn_fd = libc_fns.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	tcp_conn_fd = libc_fns.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (libc_fns.connect(unix_conn_fd, (struct sockaddr *)&unix_sa, sizeof(unix_sa)) != 0 ||
	    libc_fns.connect(tcp_conn_fd, (struct sockaddr *)&tcp_sa, sizeof(tcp_sa)) != 0) {
		perror("calls: connected sockets");
		return 1;
	}
	int sink = libc_fns.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	udp_send_fd = libc_fns.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	udp_sink_sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	sl = sizeof(udp_sink_sa);
	if (sink < 0 || udp_send_fd < 0 || bind(sink, (struct sockaddr *)&udp_sink_sa, sizeof(udp_sink_sa)) != 0 ||
	    getsockname(sink, (struct sockaddr *)&udp_sink_sa, &sl) != 0) {
		perror("calls: udp sink");
		return 1;
	}
	udp_fd = libc_fns.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in usa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	sl = sizeof(usa);
	if (bind(udp_fd, (struct sockaddr *)&usa, sizeof(usa)) != 0 ||
	    getsockname(udp_fd, (struct sockaddr *)&usa, &sl) != 0 ||
	    libc_fns.connect(udp_fd, (struct sockaddr *)&usa, sizeof(usa)) != 0) {
		perror("calls: udp socket");
		return 1;
	}

	printf("{\"preloaded\": %s, \"rounds\": %d, \"ops\": {", preloaded ? "true" : "false", rounds);
	int first = 1;
	for (size_t k = 0; k < NOPS; k++) {
		struct op *o = &ops[k];
		if (!o->enabled)
			continue;
		/* Warm both arms (the first hooked call builds torwrap's configuration), then size a batch. */
		batch(o, &libc_fns, 3);
		batch(o, &bound_fns, 3);
		double per = batch(o, &bound_fns, 10);
		double per_a = batch(o, &libc_fns, 10);
		if (per_a > per)
			per = per_a;
		int n = (int)(batch_us * 1000.0 / (per > 1 ? per : 1));
		if (n < 5)
			n = 5;
		if (n > 1000 && o->lfd_drain)
			n = 1000; /* stay inside the listen backlog */
		if (n > 100000)
			n = 100000;
		double *a = calloc((size_t)rounds, sizeof(double)), *b = calloc((size_t)rounds, sizeof(double));
		for (int r = 0; r < rounds; r++) {
			if (r % 2 == 0) {
				a[r] = batch(o, &libc_fns, n);
				b[r] = batch(o, &bound_fns, n);
			} else {
				b[r] = batch(o, &bound_fns, n);
				a[r] = batch(o, &libc_fns, n);
			}
		}
		printf("%s\n \"%s\": {\"batch\": %d, \"a\": [", first ? "" : ",", o->name, n);
		for (int r = 0; r < rounds; r++)
			printf("%s%.1f", r ? ", " : "", a[r]);
		printf("], \"b\": [");
		for (int r = 0; r < rounds; r++)
			printf("%s%.1f", r ? ", " : "", b[r]);
		printf("]}");
		first = 0;
		free(a);
		free(b);
	}
	printf("},\n \"errors\": %d, \"first_error\": \"%s\"}\n", errors, first_error);
	unlink(unix_sa.sun_path);
	return errors ? 3 : 0;
}
