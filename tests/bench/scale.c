/* scale.c: many threads, many connections, one process; the same binary runs bare and under torwrap.
 *
 *   scale direct --threads T --iters N --port P [--host NAME]
 *       Each of T threads, N times: getaddrinfo(NAME, P) (default localhost, from the hosts file) + socket +
 *       connect to 127.0.0.1:P (allowed: direct) + close. Bare and under torwrap alike.
 *   scale proxy --threads T --iters N --socks SPORT --port P [--self]
 *       Each of T threads, N times, a connection by name to one of 256 names through the proxy, one byte
 *       echoed. Under torwrap: getaddrinfo(name) (virtual address) + socket + connect (torwrap's SOCKS5
 *       handshake) + echo + close. With --self (the bare floor, as curl's own socks5h client would do it):
 *       socket + connect to the proxy + greeting and CONNECT by name in one write, replies read + echo + close.
 *   scale conc --conns C --socks SPORT --port P [--self]
 *       C threads, each opening one connection by name (as above); every connection is held open until all C
 *       are up (a barrier), then each echoes 64 bytes and closes.
 *
 *   scale fetch --socks SPORT --rounds R [--bytes N]
 *       Downloads N bytes (the proxy's exit answers an HTTP request itself: bench_srv socks --exit http, with
 *       at least N bytes; the connection is closed after N) R
 *       times over each of two connections made in this one process, alternating: through the program's own
 *       SOCKS5 client (as curl --socks5-hostname) and by name through connect() (torwrap, when preloaded).
 *       Prints the bytes per second of every transfer of each arm ("self", "named").
 *   scale syscalls [--iters N]
 *       N (200000) getppid system calls through syscall(2), which nothing hooks: the cost of a system call in
 *       this process (under `torwrap CMD` that includes what the wrapper installs for the whole tree).
 *   scale none
 *       Nothing at all (for the memory baseline).
 *
 * Prints one JSON object: wall seconds, connections made, errors and the first error, and the peak resident set
 * (VmHWM) with its current split (RssAnon, RssFile, RssShmem) from /proc/self/status, in KiB.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int opt_threads = 64, opt_iters = 1000, opt_conns = 1000, opt_self;
static int opt_port, opt_socks, opt_rounds = 20;
static long long opt_bytes = 64ll << 20;
static const char *opt_host = "localhost";
static atomic_int errors, made;
static char first_error[256];
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t barrier;

static void fail(const char *what, int err)
{
	if (atomic_fetch_add(&errors, 1) == 0) {
		pthread_mutex_lock(&err_lock);
		snprintf(first_error, sizeof(first_error), "%s: %s", what, strerror(err));
		pthread_mutex_unlock(&err_lock);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "VmHWM": 1234 kB -> 1234 */
static long status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			v = atol(line + n + 1);
	if (f)
		fclose(f);
	return v;
}

static void close_rst(int fd)
{
	static const struct linger lg = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* no TIME_WAIT: thousands of ports stay free */
	close(fd);
}

static int read_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t k = recv(fd, p, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k == 0 ? ECONNRESET : errno;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* A connection by NAME: returns the connected descriptor or -1 (error counted). */
static int connect_by_name_as(const char *name, int self)
{
	char port[16];
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
	if (self) {
		snprintf(port, sizeof(port), "%d", opt_socks);
		int rc = getaddrinfo("127.0.0.1", port, &hints, &res); /* the proxy, as the program knows it */
		if (rc != 0) {
			fail("getaddrinfo(proxy)", EINVAL);
			return -1;
		}
	} else {
		snprintf(port, sizeof(port), "%d", opt_port);
		int rc = getaddrinfo(name, port, &hints, &res);
		if (rc != 0) {
			fail("getaddrinfo", rc == EAI_SYSTEM ? errno : EINVAL);
			return -1;
		}
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail("socket", errno);
		freeaddrinfo(res);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		fail("connect", errno);
		freeaddrinfo(res);
		close(fd);
		return -1;
	}
	freeaddrinfo(res);
	if (self) {
		uint8_t req[300];
		size_t nl = strlen(name), n = 0;
		req[n++] = 5, req[n++] = 1, req[n++] = 0; /* greeting: no authentication */
		req[n++] = 5, req[n++] = 1, req[n++] = 0, req[n++] = 3, req[n++] = (uint8_t)nl;
		memcpy(req + n, name, nl);
		n += nl;
		req[n++] = (uint8_t)(opt_port >> 8), req[n++] = (uint8_t)opt_port;
		uint8_t rep[12];
		int err;
		if (send(fd, req, n, MSG_NOSIGNAL) != (ssize_t)n) {
			fail("send(socks)", errno);
		} else if ((err = read_full(fd, rep, 12)) != 0) {
			fail("recv(socks)", err);
		} else if (rep[1] != 0 || rep[3] != 0) {
			fail("socks reply", ECONNREFUSED);
		} else {
			return fd;
		}
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_by_name(const char *name)
{
	return connect_by_name_as(name, opt_self);
}

static int echo(int fd, size_t n)
{
	uint8_t out[64], in[64];
	memset(out, 'e', sizeof(out));
	if (send(fd, out, n, MSG_NOSIGNAL) != (ssize_t)n) {
		fail("send", errno);
		return -1;
	}
	int err = read_full(fd, in, n);
	if (err != 0) {
		fail("recv", err);
		return -1;
	}
	return 0;
}

static void *direct_thread(void *arg)
{
	(void)arg;
	char port[16];
	snprintf(port, sizeof(port), "%d", opt_port);
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	for (int i = 0; i < opt_iters; i++) {
		struct addrinfo *res = NULL;
		int rc = getaddrinfo(opt_host, port, &hints, &res);
		if (rc != 0) {
			fail("getaddrinfo", EINVAL);
			continue;
		}
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fail("socket", errno);
		} else {
			if (connect(fd, res->ai_addr, res->ai_addrlen) != 0)
				fail("connect", errno);
			else
				atomic_fetch_add(&made, 1);
			close_rst(fd);
		}
		freeaddrinfo(res);
	}
	return NULL;
}

static void *proxy_thread(void *arg)
{
	intptr_t t = (intptr_t)arg;
	for (int i = 0; i < opt_iters; i++) {
		char name[64];
		snprintf(name, sizeof(name), "h%d.scale.example", (int)((t * opt_iters + i) % 256));
		int fd = connect_by_name(name);
		if (fd < 0)
			continue;
		if (echo(fd, 1) == 0)
			atomic_fetch_add(&made, 1);
		close_rst(fd);
	}
	return NULL;
}

static void *conc_thread(void *arg)
{
	intptr_t t = (intptr_t)arg;
	char name[64];
	snprintf(name, sizeof(name), "c%d.conc.example", (int)t);
	int fd = connect_by_name(name);
	pthread_barrier_wait(&barrier); /* all connections open at once */
	if (fd >= 0) {
		if (echo(fd, 64) == 0)
			atomic_fetch_add(&made, 1);
		close_rst(fd);
	}
	return NULL;
}

/* One download over a fresh connection; returns bytes per second, or -1. */
static double fetch_once(int self)
{
	static char buf[1 << 16];
	double t0 = now_s();
	int fd = connect_by_name_as("bulk.example.net", self);
	if (fd < 0)
		return -1;
	static const char req[] = "GET / HTTP/1.1\r\nHost: bulk.example.net\r\nConnection: close\r\n\r\n";
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
		fail("send", errno);
		close(fd);
		return -1;
	}
	long long got = 0; /* the response's first N bytes (its header included): the exit may have more */
	while (got < opt_bytes) {
		ssize_t k = recv(fd, buf, sizeof(buf), 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += k;
	}
	double dt = now_s() - t0;
	close_rst(fd);
	if (got < opt_bytes) {
		fail("short download", EPIPE);
		return -1;
	}
	return (double)got / dt;
}

static int fetch(void)
{
	double *a = calloc((size_t)opt_rounds, sizeof(double)), *b = calloc((size_t)opt_rounds, sizeof(double));
	fetch_once(1); /* warm both paths */
	fetch_once(0);
	for (int r = 0; r < opt_rounds; r++) {
		if (r % 2 == 0) {
			a[r] = fetch_once(1);
			b[r] = fetch_once(0);
		} else {
			b[r] = fetch_once(0);
			a[r] = fetch_once(1);
		}
	}
	printf("{\"mode\": \"fetch\", \"bytes\": %lld, \"self\": [", opt_bytes);
	for (int r = 0; r < opt_rounds; r++)
		printf("%s%.0f", r ? ", " : "", a[r]);
	printf("], \"named\": [");
	for (int r = 0; r < opt_rounds; r++)
		printf("%s%.0f", r ? ", " : "", b[r]);
	printf("], \"errors\": %d, \"first_error\": \"%s\"}\n", atomic_load(&errors), first_error);
	return atomic_load(&errors) ? 3 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: scale direct|proxy|conc [options]\n");
		return 2;
	}
	const char *mode = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i];
		if (strcmp(o, "--self") == 0) {
			opt_self = 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "scale: %s wants a value\n", o);
			return 2;
		}
		const char *v = argv[++i];
		if (strcmp(o, "--threads") == 0)
			opt_threads = atoi(v);
		else if (strcmp(o, "--iters") == 0)
			opt_iters = atoi(v);
		else if (strcmp(o, "--conns") == 0)
			opt_conns = atoi(v);
		else if (strcmp(o, "--port") == 0)
			opt_port = atoi(v);
		else if (strcmp(o, "--socks") == 0)
			opt_socks = atoi(v);
		else if (strcmp(o, "--host") == 0)
			opt_host = v;
		else if (strcmp(o, "--rounds") == 0)
			opt_rounds = atoi(v);
		else if (strcmp(o, "--bytes") == 0)
			opt_bytes = atoll(v);
		else {
			fprintf(stderr, "scale: unknown option %s\n", o);
			return 2;
		}
	}
	if (strcmp(mode, "fetch") == 0)
		return fetch();
	if (strcmp(mode, "syscalls") == 0) {
		int n = opt_iters > 1000 ? opt_iters : 200000;
		double t0 = now_s();
		for (int i = 0; i < n; i++)
			syscall(SYS_getppid);
		printf("{\"mode\": \"syscalls\", \"ns_per_call\": %.2f, \"errors\": 0}\n", (now_s() - t0) * 1e9 / n);
		return 0;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	void *(*fn)(void *) = NULL;
	int n = 0;
	if (strcmp(mode, "none") == 0) {
		n = 0;
	} else if (strcmp(mode, "direct") == 0) {
		fn = direct_thread, n = opt_threads;
	} else if (strcmp(mode, "proxy") == 0) {
		fn = proxy_thread, n = opt_threads;
	} else if (strcmp(mode, "conc") == 0) {
		fn = conc_thread, n = opt_conns;
		pthread_barrier_init(&barrier, NULL, (unsigned)n);
	} else {
		fprintf(stderr, "scale: unknown mode %s\n", mode);
		return 2;
	}
	pthread_t *tids = calloc((size_t)n, sizeof(pthread_t));
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	double t0 = now_s();
	int started = 0;
	for (int i = 0; i < n; i++) {
		int rc = pthread_create(&tids[i], &attr, fn, (void *)(intptr_t)i);
		if (rc != 0) {
			fail("pthread_create", rc);
			break;
		}
		started++;
	}
	if (started < n && strcmp(mode, "conc") == 0) {
		fprintf(stderr, "scale: only %d of %d threads started; the barrier would never open\n", started, n);
		return 1;
	}
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	double wall = now_s() - t0;
	printf("{\"mode\": \"%s\", \"self\": %s, \"wall_s\": %.6f, \"made\": %d, \"errors\": %d, \"first_error\": \"%s\", "
	       "\"vmhwm_kb\": %ld, \"rss_anon_kb\": %ld, \"rss_file_kb\": %ld, \"rss_shmem_kb\": %ld}\n",
	       mode, opt_self ? "true" : "false", wall, atomic_load(&made), atomic_load(&errors), first_error,
	       status_kb("VmHWM"), status_kb("RssAnon"), status_kb("RssFile"), status_kb("RssShmem"));
	return atomic_load(&errors) ? 3 : 0;
}
