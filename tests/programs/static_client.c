/* static_client.c: a client that makes its own system calls, for the seccomp supervisor's tests (static.sh).
 * The test links it with -static (no loader: LD_PRELOAD never applies); `make programs` also builds it
 * dynamically, which the timings use as the LD_PRELOAD path's counterpart.
 *
 *   static_client [--nonblock] [--v6] [--threads N] [--count M] [--signals MS] [--delay MS] get HOST PORT
 *       fetches http://HOST:PORT/ (getaddrinfo, connect, HTTP/1.0) and prints the body; with --threads/--count,
 *       N threads fetch M times each and "fetched OK/TOTAL" is printed instead; --signals MS: a SA_RESTART
 *       SIGALRM every MS milliseconds meanwhile (Go's preemption); --delay: sleep first; --again-after FILE:
 *       once done, create FILE.ready, wait until FILE exists, and fetch again (a proxy that moved meanwhile);
 *       --fork HOST2: once done, fork() (no exec): the child fetches http://HOST2:PORT/, the parent waits for it,
 *       then fetches HOST again (stream isolation per process: the child's stream must not share the parent's)
 *   static_client resolve NAME          prints the IPv4 addresses getaddrinfo gives
 *   static_client bench N HOST PORT     N connects to HOST:PORT (resolved once); prints "per-connect US ..."
 *   static_client bench-local N [NAME]  N connects to a listener of its own on 127.0.0.1 (by NAME: through the
 *                                       proxy, whose exit maps every name to 127.0.0.1)
 *   static_client udp|sendmsg|sendmmsg HOST PORT   one datagram with an address; prints "result NAME"
 *   static_client dns53 ADDR            a DNS query sent with sendto to ADDR:53; prints "result NAME"
 *   static_client raw|packet|iouring|x32|i386|fastopen [HOST PORT]   prints "result NAME"
 * HOST: an address, or a name getaddrinfo resolves (IPv4).
 *   static_client exit N                exits with N
 *   static_client nosys NR CMD [ARGS]   runs CMD with system call NR failing with ENOSYS (an older kernel)
 * "result NAME" is OK or the errno's name. Exit status: 0, 1 usage, 2 a failed call (named on stderr).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

static int opt_nonblock, opt_v6, opt_threads = 1, opt_count = 1, opt_signals, opt_delay;
static const char *opt_again_after, *opt_fork_host;
static const char *g_host, *g_port;
static _Atomic int g_ok, g_signals;

static const char *ename(int err)
{
	const char *n = strerrorname_np(err);
	return n ? n : "?";
}

static int result(long rc)
{
	printf("result %s\n", rc < 0 ? ename(errno) : "OK");
	return 0;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct addrinfo *resolve(const char *host, const char *port, int type, int quiet)
{
	struct addrinfo hints = { .ai_family = opt_v6 ? AF_INET6 : AF_UNSPEC, .ai_socktype = type };
	if (opt_v6)
		hints.ai_flags = AI_V4MAPPED;
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		if (!quiet)
			fprintf(stderr, "getaddrinfo %s: %s\n", host, gai_strerror(rc));
		return NULL;
	}
	return res;
}

/* Connects a socket to AI (non-blocking first with --nonblock, its flags checked unchanged). -1 on error. */
static int connect_to(const struct addrinfo *ai, int quiet)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "socket: %s\n", ename(errno));
		return -1;
	}
	int flags = fcntl(fd, F_GETFL);
	if (opt_nonblock)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	int before = fcntl(fd, F_GETFL);
	int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (rc != 0 && !(opt_nonblock && errno == EINPROGRESS)) {
		if (!quiet)
			fprintf(stderr, "connect: %s\n", ename(errno));
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_GETFL) != before) {
		fprintf(stderr, "flags changed: %#x -> %#x\n", before, fcntl(fd, F_GETFL));
		close(fd);
		return -1;
	}
	if (opt_nonblock) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t len = sizeof(err);
		if (poll(&p, 1, 10000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
			fprintf(stderr, "connect (non-blocking): %s\n", err ? ename(err) : "not writable");
			close(fd);
			return -1;
		}
		fcntl(fd, F_SETFL, flags);
	}
	return fd;
}

/* One HTTP/1.0 fetch; the body in BUF. */
static int fetch(char *buf, size_t buflen, int quiet)
{
	struct addrinfo *res = resolve(g_host, g_port, SOCK_STREAM, quiet);
	if (res == NULL)
		return -1;
	int fd = connect_to(res, quiet);
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	char req[512];
	int n = snprintf(req, sizeof(req), "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", g_host);
	for (int off = 0; off < n;) {
		ssize_t w = write(fd, req + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return -1;
		}
		off += (int)w;
	}
	size_t have = 0;
	for (;;) {
		ssize_t r = read(fd, buf + have, buflen - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		if (have == buflen - 1)
			break;
	}
	close(fd);
	buf[have] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	if (body == NULL)
		return -1;
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return 0;
}

static void *fetcher(void *arg)
{
	(void)arg;
	char buf[8192];
	for (int i = 0; i < opt_count; i++)
		if (fetch(buf, sizeof(buf), 1) == 0 && strstr(buf, "hello"))
			atomic_fetch_add(&g_ok, 1);
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
	atomic_fetch_add(&g_signals, 1);
}

static int cmd_get(void)
{
	if (opt_delay)
		usleep((useconds_t)opt_delay * 1000);
	if (opt_signals) {
		struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
		sigaction(SIGALRM, &sa, NULL);
		struct itimerval it = { .it_interval = { 0, opt_signals * 1000 }, .it_value = { 0, opt_signals * 1000 } };
		setitimer(ITIMER_REAL, &it, NULL);
	}
	if (opt_threads > 1 || opt_count > 1) {
		pthread_t t[256];
		int n = opt_threads > 256 ? 256 : opt_threads;
		for (int i = 0; i < n; i++)
			pthread_create(&t[i], NULL, fetcher, NULL);
		for (int i = 0; i < n; i++)
			pthread_join(t[i], NULL);
		printf("fetched %d/%d\n", atomic_load(&g_ok), n * opt_count);
		return atomic_load(&g_ok) == n * opt_count ? 0 : 2;
	}
	char buf[65536];
	int rc = fetch(buf, sizeof(buf), 0);
	if (opt_signals) {
		struct itimerval off = { { 0, 0 }, { 0, 0 } };
		setitimer(ITIMER_REAL, &off, NULL);
		fprintf(stderr, "signals %d\n", atomic_load(&g_signals));
	}
	if (rc != 0)
		return 2;
	fputs(buf, stdout);
	return 0;
}

static int cmd_resolve(const char *name)
{
	struct addrinfo *res = resolve(name, NULL, SOCK_STREAM, 0);
	if (res == NULL)
		return 2;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char text[INET6_ADDRSTRLEN];
		const void *a = ai->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
							 : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		printf("%s\n", inet_ntop(ai->ai_family, a, text, sizeof(text)));
	}
	freeaddrinfo(res);
	return 0;
}

static int bench(long n, const struct addrinfo *ai)
{
	int64_t t0 = now_us(), worst = 0;
	int64_t *each = calloc((size_t)n, sizeof(*each));
	for (long i = 0; i < n; i++) {
		int64_t t = now_us();
		int fd = connect_to(ai, 0);
		if (fd < 0)
			return 2;
		each[i] = now_us() - t;
		worst = each[i] > worst ? each[i] : worst;
		close(fd);
	}
	int64_t total = now_us() - t0;
	/* the median says more than the mean on a busy machine */
	for (long i = 1; i < n; i++)
		for (long j = i; j > 0 && each[j - 1] > each[j]; j--) {
			int64_t x = each[j];
			each[j] = each[j - 1];
			each[j - 1] = x;
		}
	long slow = 0;
	for (long i = 0; i < n; i++)
		slow += each[i] > 100000;
	printf("per-connect %.1f us (median %lld us, max %lld us, %ld over 100 ms)\n", (double)total / (double)n,
	       (long long)each[n / 2], (long long)worst, slow);
	free(each);
	return 0;
}

static void *acceptor(void *arg)
{
	int s = (int)(intptr_t)arg;
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c >= 0)
			close(c);
	}
	return NULL;
}

/* N connects to NAME at the port of a listener of our own (through the proxy, whose exit maps every name to
 * 127.0.0.1), or straight to that listener when NAME is NULL: the proxy is then the only slow party. */
static int cmd_bench_local(long n, const char *name)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	if (s < 0 || bind(s, (struct sockaddr *)&sin, len) != 0 || listen(s, 4096) != 0 ||
	    getsockname(s, (struct sockaddr *)&sin, &len) != 0) {
		perror("listen");
		return 2;
	}
	pthread_t t;
	pthread_create(&t, NULL, acceptor, (void *)(intptr_t)s);
	struct addrinfo ai = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM, .ai_addr = (struct sockaddr *)&sin,
			       .ai_addrlen = sizeof(sin) };
	if (name == NULL)
		return bench(n, &ai);
	char port[16];
	snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
	struct addrinfo *res = resolve(name, port, SOCK_STREAM, 0);
	return res ? bench(n, res) : 2;
}

static socklen_t numeric(const char *addr, const char *port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)atoi(port));
		return sizeof(*sin);
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)atoi(port));
		return sizeof(*sin6);
	}
	/* A name: resolved as the program would (to a virtual address, under torwrap). */
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM }, *res;
	if (getaddrinfo(addr, port, &hints, &res) != 0) {
		fprintf(stderr, "cannot resolve %s\n", addr);
		exit(2);
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	socklen_t len = res->ai_addrlen;
	freeaddrinfo(res);
	return len;
}

static int cmd_datagram(const char *how, const char *addr, const char *port)
{
	struct sockaddr_storage ss;
	socklen_t len = numeric(addr, port, &ss);
	int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	static const char payload[] = "torwrap test datagram";
	struct iovec iov = { .iov_base = (void *)payload, .iov_len = sizeof(payload) - 1 };
	struct msghdr m = { .msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 };
	if (strcmp(how, "udp") == 0)
		return result(sendto(fd, payload, sizeof(payload) - 1, 0, (struct sockaddr *)&ss, len));
	if (strcmp(how, "sendmsg") == 0)
		return result(sendmsg(fd, &m, 0));
	struct mmsghdr v[2] = { { .msg_hdr = m }, { .msg_hdr = m } };
	int n = sendmmsg(fd, v, 2, 0);
	if (n >= 0)
		printf("sent %d (%u bytes)\n", n, v[0].msg_len);
	return result(n);
}

/* A query for leak-sendto.example.test, as musl's resolver sends it: sendto with the nameserver's address. */
static int cmd_dns53(const char *addr)
{
	static const uint8_t q[] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 12, 'l', 'e', 'a', 'k', '-', 's',
				     'e', 'n', 'd', 't', 'o', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's',
				     't', 0, 0, 1, 0, 1 };
	struct sockaddr_storage ss;
	socklen_t len = numeric(addr, "53", &ss);
	int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	return result(sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&ss, len));
}

static int cmd_misc(const char *what, int argc, char **argv)
{
	if (strcmp(what, "raw") == 0)
		return result(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
	if (strcmp(what, "packet") == 0)
		return result(socket(AF_PACKET, SOCK_RAW, 0));
	if (strcmp(what, "iouring") == 0) {
		uint8_t params[120] = { 0 };
		return result(syscall(425, 4, params));
	}
	if (strcmp(what, "x32") == 0)
		return result(syscall(SYS_socket | 0x40000000, AF_INET, SOCK_STREAM, 0));
#if defined(__x86_64__)
	if (strcmp(what, "i386") == 0) {
		long ret, nr = 359; /* socket on i386 */
		__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(AF_INET), "c"(SOCK_DGRAM), "d"(0) : "memory");
		if (ret < 0) {
			errno = (int)-ret;
			ret = -1;
		}
		return result(ret);
	}
#endif
	if (strcmp(what, "fastopen") == 0 && argc >= 2) {
		struct sockaddr_storage ss;
		socklen_t len = numeric(argv[0], argv[1], &ss);
		int fd = socket(ss.ss_family, SOCK_STREAM, 0);
		return result(sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&ss, len));
	}
	fprintf(stderr, "unknown command %s\n", what);
	return 1;
}

/* Execs ARGV with system call NR answering ENOSYS, as on a kernel that lacks it. */
static int cmd_nosys(long nr, char **argv)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
		perror("seccomp");
		return 2;
	}
	execvp(argv[0], argv);
	perror("exec");
	return 2;
}

/* Fetches, says so in FILE.ready, waits for FILE, fetches again. The worse exit status of the two. */
static int get_twice(const char *file)
{
	int first = cmd_get();
	char ready[4096];
	snprintf(ready, sizeof(ready), "%s.ready", file);
	int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	while (access(file, F_OK) != 0)
		usleep(20000);
	int second = cmd_get();
	return first > second ? first : second;
}

/* Fetches, forks (no exec): the child fetches OPT_FORK_HOST; once it is done the parent fetches again. The worst
 * exit status of the three. */
static int get_forked(void)
{
	int first = cmd_get();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "fork: %s\n", ename(errno));
		return 2;
	}
	if (pid == 0) {
		g_host = opt_fork_host;
		int rc = cmd_get();
		fflush(stdout);
		_exit(rc);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int child = WIFEXITED(st) ? WEXITSTATUS(st) : 2;
	int again = cmd_get();
	int worst = first > child ? first : child;
	return worst > again ? worst : again;
}

int main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--nonblock") == 0)
			opt_nonblock = 1;
		else if (strcmp(a, "--v6") == 0)
			opt_v6 = 1;
		else if (strcmp(a, "--threads") == 0 && i + 1 < argc)
			opt_threads = atoi(argv[++i]);
		else if (strcmp(a, "--count") == 0 && i + 1 < argc)
			opt_count = atoi(argv[++i]);
		else if (strcmp(a, "--signals") == 0 && i + 1 < argc)
			opt_signals = atoi(argv[++i]);
		else if (strcmp(a, "--delay") == 0 && i + 1 < argc)
			opt_delay = atoi(argv[++i]);
		else if (strcmp(a, "--again-after") == 0 && i + 1 < argc)
			opt_again_after = argv[++i];
		else if (strcmp(a, "--fork") == 0 && i + 1 < argc)
			opt_fork_host = argv[++i];
		else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: static_client [options] get HOST PORT | resolve NAME | bench N HOST PORT | ...\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *cmd = argv[i++];
	int left = argc - i;
	if (strcmp(cmd, "get") == 0 && left == 2) {
		g_host = argv[i];
		g_port = argv[i + 1];
		return opt_again_after ? get_twice(opt_again_after) : opt_fork_host ? get_forked() : cmd_get();
	}
	if (strcmp(cmd, "resolve") == 0 && left == 1)
		return cmd_resolve(argv[i]);
	if (strcmp(cmd, "bench") == 0 && left == 3) {
		struct addrinfo *res = resolve(argv[i + 1], argv[i + 2], SOCK_STREAM, 0);
		return res ? bench(atol(argv[i]), res) : 2;
	}
	if (strcmp(cmd, "bench-local") == 0 && (left == 1 || left == 2))
		return cmd_bench_local(atol(argv[i]), left == 2 ? argv[i + 1] : NULL);
	if ((strcmp(cmd, "udp") == 0 || strcmp(cmd, "sendmsg") == 0 || strcmp(cmd, "sendmmsg") == 0) && left == 2)
		return cmd_datagram(cmd, argv[i], argv[i + 1]);
	if (strcmp(cmd, "dns53") == 0 && left == 1)
		return cmd_dns53(argv[i]);
	if (strcmp(cmd, "exit") == 0 && left == 1)
		return atoi(argv[i]);
	if (strcmp(cmd, "nosys") == 0 && left >= 2)
		return cmd_nosys(atol(argv[i]), argv + i + 1);
	return cmd_misc(cmd, left, argv + i);
}
