/* bench_srv.c: the servers torwrap's benchmarks run against, in C so that the server is never what is measured.
 *
 *   bench_srv socks --listen 127.0.0.1:PORT [--exit relay|echo|http] [--bytes N] [--default-ip IP] [--ready-file F]
 *       A SOCKS5 server (RFC 1928/1929 and Tor's RESOLVE, F0). Accepts no-auth and username/password (any
 *       credentials), CONNECT to ATYP 1, 3 and 4; names, and addresses outside 127.0.0.0/8, go to --default-ip
 *       (127.0.0.1); RESOLVE answers 198.51.100.7 (TEST-NET-2, never contacted). After a successful
 *       CONNECT it relays to the destination (--exit relay, the default: splice(2), zero copy) or echoes what it
 *       receives (--exit echo: the exit is the destination, for the scale tests), or answers an HTTP request
 *       itself as `http` below does (--exit http: for throughput, one process less on the CPUs that the
 *       client being measured needs). One thread per connection;
 *       pipelined requests are fine (bytes after the request go on to the destination).
 *   bench_srv http --listen 127.0.0.1:PORT [--bytes N] [--ready-file F]
 *       Answers every request with "200 OK" and N bytes (default 6), then closes.
 *   bench_srv sink --listen 127.0.0.1:PORT [--ready-file F]
 *       Accepts connections and closes them at once.
 *   bench_srv dns --listen 127.0.0.1:PORT [--ip IP] [--ready-file F]
 *       UDP DNS: every A query is answered with IP (127.0.0.1), every other type with an empty NOERROR.
 *
 * PORT 0 picks a free port; the ready file then holds it. Runs until killed. Loopback only by design: the
 * listen address must be in 127.0.0.0/8, and so must every relay destination.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *opt_listen = "127.0.0.1:0";
static const char *opt_ready;
static int opt_echo, opt_exit_http;
static long long opt_bytes = 6;
static struct in_addr opt_ip;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int parse_hostport(const char *text, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -1;
	return (ntohl(sin->sin_addr.s_addr) >> 24) == 127 ? 0 : -1;
}

static void write_ready(int port)
{
	if (opt_ready == NULL)
		return;
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", opt_ready);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		die("ready file");
	fprintf(f, "%d\n", port);
	fclose(f);
	if (rename(tmp, opt_ready) != 0)
		die("rename ready file");
}

static int listen_on(int type)
{
	struct sockaddr_in sin;
	if (parse_hostport(opt_listen, &sin) != 0) {
		fprintf(stderr, "bench_srv: --listen wants 127.x.y.z:PORT, got %s\n", opt_listen);
		exit(2);
	}
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		die("bind");
	if (type == SOCK_STREAM && listen(fd, 4096) != 0)
		die("listen");
	socklen_t len = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	write_ready(ntohs(sin.sin_port));
	return fd;
}

static void spawn(void *(*fn)(void *), intptr_t arg)
{
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 128 * 1024);
	pthread_t t;
	while (pthread_create(&t, &a, fn, (void *)arg) != 0) {
		usleep(1000); /* out of threads for a moment: wait for some connections to end */
	}
	pthread_attr_destroy(&a);
}

static void accept_loop(int lfd, void *(*fn)(void *))
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				usleep(1000);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		spawn(fn, fd);
	}
}

/* ------------------------------------------------------------------------------------------------- reading */

struct rd {
	int fd;
	uint8_t buf[4096];
	size_t have, pos;
};

static int take(struct rd *r, void *out, size_t n)
{
	while (r->have - r->pos < n) {
		if (r->pos > 0) {
			memmove(r->buf, r->buf + r->pos, r->have - r->pos);
			r->have -= r->pos;
			r->pos = 0;
		}
		ssize_t k = recv(r->fd, r->buf + r->have, sizeof(r->buf) - r->have, 0);
		if (k <= 0)
			return -1;
		r->have += (size_t)k;
	}
	memcpy(out, r->buf + r->pos, n);
	r->pos += n;
	return 0;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t k = send(fd, p, len, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

/* --------------------------------------------------------------------------------------------------- relay */

/* Moves what is readable on FROM to TO through PIPE; returns bytes moved, 0 at EOF, -1 on error. */
static ssize_t pump(int from, int to, int pipefd[2])
{
	ssize_t in = splice(from, NULL, pipefd[1], NULL, 1 << 20, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (in < 0)
		return (errno == EAGAIN || errno == EINTR) ? 1 : -1;
	if (in == 0)
		return 0;
	ssize_t left = in;
	while (left > 0) {
		ssize_t out = splice(pipefd[0], NULL, to, NULL, (size_t)left, SPLICE_F_MOVE);
		if (out < 0 && errno == EINTR)
			continue;
		if (out <= 0)
			return -1;
		left -= out;
	}
	return in;
}

static void relay(int a, int b)
{
	int ab[2], ba[2];
	if (pipe2(ab, O_CLOEXEC) != 0)
		return;
	if (pipe2(ba, O_CLOEXEC) != 0) {
		close(ab[0]);
		close(ab[1]);
		return;
	}
	fcntl(ab[1], F_SETPIPE_SZ, 1 << 20);
	fcntl(ba[1], F_SETPIPE_SZ, 1 << 20);
	int open_a = 1, open_b = 1;
	while (open_a || open_b) {
		struct pollfd p[2] = { { .fd = open_a ? a : -1, .events = POLLIN },
				       { .fd = open_b ? b : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			ssize_t k = pump(a, b, ab);
			if (k < 0)
				break;
			if (k == 0) {
				open_a = 0;
				shutdown(b, SHUT_WR);
			}
		}
		if (p[1].revents) {
			ssize_t k = pump(b, a, ba);
			if (k < 0)
				break;
			if (k == 0) {
				open_b = 0;
				shutdown(a, SHUT_WR);
			}
		}
	}
	close(ab[0]);
	close(ab[1]);
	close(ba[0]);
	close(ba[1]);
}

/* --------------------------------------------------------------------------------------------------- socks */

static void http_answer(int fd, const uint8_t *pending, size_t npending);

static void *socks_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct rd r = { .fd = fd };
	uint8_t hdr[4], methods[255], reply[10] = { 5, 0, 0, 1, 127, 0, 0, 1, 0, 0 };
	int up = -1;
	if (take(&r, hdr, 2) != 0 || hdr[0] != 5 || take(&r, methods, hdr[1]) != 0)
		goto out;
	uint8_t method = 0xff;
	for (int i = 0; i < hdr[1]; i++)
		if (methods[i] == 0x02 || (methods[i] == 0x00 && method == 0xff))
			method = methods[i];
	uint8_t mr[2] = { 5, method };
	if (send_all(fd, mr, 2) != 0 || method == 0xff)
		goto out;
	if (method == 0x02) {
		uint8_t ulen, plen, skip[255];
		if (take(&r, hdr, 1) != 0 || take(&r, &ulen, 1) != 0 || take(&r, skip, ulen) != 0 ||
		    take(&r, &plen, 1) != 0 || take(&r, skip, plen) != 0)
			goto out;
		uint8_t ar[2] = { 1, 0 };
		if (send_all(fd, ar, 2) != 0)
			goto out;
	}
	if (take(&r, hdr, 4) != 0 || hdr[0] != 5)
		goto out;
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_addr = opt_ip };
	uint8_t a[255], len;
	if (hdr[3] == 1) {
		if (take(&r, &dst.sin_addr, 4) != 0)
			goto out;
	} else if (hdr[3] == 3) {
		if (take(&r, &len, 1) != 0 || take(&r, a, len) != 0)
			goto out;
	} else if (hdr[3] == 4) {
		if (take(&r, a, 16) != 0)
			goto out;
	} else {
		reply[1] = 8;
		send_all(fd, reply, 10);
		goto out;
	}
	if (take(&r, &dst.sin_port, 2) != 0)
		goto out;
	if (hdr[1] == 0xF0) { /* Tor's RESOLVE: a TEST-NET address, which a CONNECT then takes to --default-ip */
		static const uint8_t testnet[4] = { 198, 51, 100, 7 };
		memcpy(reply + 4, testnet, 4);
		send_all(fd, reply, 10);
		goto out;
	}
	if (hdr[1] != 1) {
		reply[1] = 7;
		send_all(fd, reply, 10);
		goto out;
	}
	if (!opt_echo && !opt_exit_http) {
		/* Loopback only: any other address (names, RESOLVE answers) is the exit's: --default-ip. */
		if ((ntohl(dst.sin_addr.s_addr) >> 24) != 127)
			dst.sin_addr = opt_ip;
		up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (up < 0 || connect(up, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
			reply[1] = 5;
			send_all(fd, reply, 10);
			goto out;
		}
		int one = 1;
		setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (send_all(fd, reply, 10) != 0)
		goto out;
	if (opt_exit_http) {
		http_answer(fd, r.buf + r.pos, r.have - r.pos);
		return NULL; /* http_answer closed FD */
	} else if (opt_echo) {
		if (r.have > r.pos && send_all(fd, r.buf + r.pos, r.have - r.pos) != 0)
			goto out;
		uint8_t buf[16384];
		for (;;) {
			ssize_t k = recv(fd, buf, sizeof(buf), 0);
			if (k <= 0 || send_all(fd, buf, (size_t)k) != 0)
				break;
		}
	} else {
		if (r.have > r.pos && send_all(up, r.buf + r.pos, r.have - r.pos) != 0)
			goto out;
		relay(fd, up);
	}
out:
	if (up >= 0)
		close(up);
	close(fd);
	return NULL;
}

/* ---------------------------------------------------------------------------------------------------- http */

static uint8_t zeros[1 << 20];

static void *http_conn(void *arg)
{
	http_answer((int)(intptr_t)arg, NULL, 0);
	return NULL;
}

/* Reads one request on FD (PENDING: bytes of it read already), answers it, closes FD. */
static void http_answer(int fd, const uint8_t *pending, size_t npending)
{
	char req[8192];
	size_t have = npending < sizeof(req) - 1 ? npending : sizeof(req) - 1;
	if (have)
		memcpy(req, pending, have);
	req[have] = '\0';
	while (have < sizeof(req) - 1 && strstr(req, "\r\n\r\n") == NULL) {
		ssize_t k = recv(fd, req + have, sizeof(req) - 1 - have, 0);
		if (k <= 0)
			goto out;
		have += (size_t)k;
		req[have] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %lld\r\n"
			 "Connection: close\r\n\r\n",
			 opt_bytes);
	if (opt_bytes <= 64) {
		char small[512];
		memcpy(small, head, (size_t)n);
		memset(small + n, 'x', (size_t)opt_bytes);
		if (opt_bytes > 0)
			small[n + opt_bytes - 1] = '\n';
		send_all(fd, small, (size_t)n + (size_t)opt_bytes);
		goto out;
	}
	if (send_all(fd, head, (size_t)n) != 0)
		goto out;
	for (long long left = opt_bytes; left > 0;) {
		size_t chunk = left < (long long)sizeof(zeros) ? (size_t)left : sizeof(zeros);
		if (send_all(fd, zeros, chunk) != 0)
			break;
		left -= (long long)chunk;
	}
	shutdown(fd, SHUT_WR);
	/* Wait for the client's close so the last bytes are never lost to a reset. */
	while (recv(fd, req, sizeof(req), 0) > 0)
		;
out:
	close(fd);
}

/* ------------------------------------------------------------------------------------------------------ dns */

static void dns_loop(int fd)
{
	uint8_t q[1500], a[1500];
	for (;;) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
		if (n < 12)
			continue;
		size_t pos = 12; /* the first question's name */
		while (pos < (size_t)n && q[pos] != 0)
			pos += (size_t)q[pos] + 1;
		if (pos + 5 > (size_t)n)
			continue;
		size_t qend = pos + 5;
		uint16_t qtype = (uint16_t)(q[pos + 1] << 8 | q[pos + 2]);
		memcpy(a, q, qend);
		a[2] = 0x84 | (q[2] & 0x01); /* QR, AA, RD copied */
		a[3] = 0x80; /* RA, NOERROR */
		a[4] = 0, a[5] = 1; /* one question */
		a[6] = 0, a[7] = 0, a[8] = 0, a[9] = 0, a[10] = 0, a[11] = 0;
		size_t len = qend;
		if (qtype == 1) {
			a[7] = 1;
			static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4 };
			memcpy(a + len, rr, sizeof(rr));
			len += sizeof(rr);
			memcpy(a + len, &opt_ip, 4);
			len += 4;
		}
		sendto(fd, a, len, 0, (struct sockaddr *)&from, flen);
	}
}

/* -------------------------------------------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_srv socks|http|sink|dns --listen 127.0.0.1:PORT [options]\n");
		return 2;
	}
	const char *mode = argv[1];
	inet_pton(AF_INET, "127.0.0.1", &opt_ip);
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL) {
			fprintf(stderr, "bench_srv: %s wants a value\n", o);
			return 2;
		}
		i++;
		if (strcmp(o, "--listen") == 0)
			opt_listen = v;
		else if (strcmp(o, "--ready-file") == 0)
			opt_ready = v;
		else if (strcmp(o, "--exit") == 0) {
			opt_echo = strcmp(v, "echo") == 0;
			opt_exit_http = strcmp(v, "http") == 0;
			if (!opt_echo && !opt_exit_http && strcmp(v, "relay") != 0) {
				fprintf(stderr, "bench_srv: --exit relay, echo or http\n");
				return 2;
			}
		}
		else if (strcmp(o, "--bytes") == 0)
			opt_bytes = atoll(v);
		else if (strcmp(o, "--default-ip") == 0 || strcmp(o, "--ip") == 0) {
			if (inet_pton(AF_INET, v, &opt_ip) != 1 || (ntohl(opt_ip.s_addr) >> 24) != 127) {
				fprintf(stderr, "bench_srv: %s wants a 127.x.y.z address\n", o);
				return 2;
			}
		} else {
			fprintf(stderr, "bench_srv: unknown option %s\n", o);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (strcmp(mode, "socks") == 0) {
		accept_loop(listen_on(SOCK_STREAM), socks_conn);
	} else if (strcmp(mode, "http") == 0) {
		accept_loop(listen_on(SOCK_STREAM), http_conn);
	} else if (strcmp(mode, "sink") == 0) {
		int lfd = listen_on(SOCK_STREAM);
		for (;;) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				close(fd);
			else if (errno == EMFILE || errno == ENFILE)
				usleep(1000);
		}
	} else if (strcmp(mode, "dns") == 0) {
		dns_loop(listen_on(SOCK_DGRAM));
	} else {
		fprintf(stderr, "bench_srv: unknown mode %s\n", mode);
		return 2;
	}
	return 0;
}
