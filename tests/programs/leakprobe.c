/* leakprobe.c: the leak test's own C clients, one per way a program can reach the network (scripts/leak-test).
 *
 *   leakprobe ghbn-r   HOST PORT   gethostbyname_r (gethostbyname2_r AF_INET6 for an IPv6 literal), then a
 *                                  blocking TCP connect and an HTTP GET; prints the response body
 *   leakprobe nonblock HOST PORT   getaddrinfo, a non-blocking connect (EINPROGRESS, poll, SO_ERROR), the
 *                                  file status flags checked unchanged, then the GET
 *   leakprobe tfo      HOST PORT   getaddrinfo, then TCP Fast Open: sendto(MSG_FASTOPEN) with the request and
 *                                  no connect() at all
 *   leakprobe res-query HOST PORT  the libresolv API: res_query(HOST, A), the address taken from the answer, then
 *                                  connect and GET; for an address literal, res_query of its PTR name first (a
 *                                  failed reverse lookup is reported and ignored, as programs do), then the GET
 *   leakprobe syscall  HOST PORT   getaddrinfo, then connect through syscall(SYS_connect, ...), then the GET
 *   leakprobe sendto   HOST PORT   getaddrinfo(SOCK_DGRAM), then one datagram with sendto() on an unconnected
 *                                  UDP socket; prints "sent"
 *   leakprobe forkexec HOST PORT   getaddrinfo in the parent, which forks and execs itself ("connect" mode) with
 *                                  the numeric address: the child connects to what its parent resolved
 *   leakprobe connect  ADDR PORT HOSTHEADER   (the child of forkexec) connect to a numeric address, GET
 *
 * Exit status: 0 success, 2 a call failed (its name and errno name on stderr), 3 flags changed, 1 usage.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char *what, int err)
{
	fprintf(stderr, "leakprobe: %s: %s\n", what, strerrorname_np(err) ? strerrorname_np(err) : "?");
	return 2;
}

static int gai_fail(int rc)
{
	fprintf(stderr, "leakprobe: getaddrinfo: %s\n", gai_strerror(rc));
	return 2;
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 8 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void request(char *buf, size_t len, const char *host)
{
	snprintf(buf, len, "GET / HTTP/1.0\r\nHost: %s\r\nUser-Agent: leakprobe\r\n\r\n", host);
}

/* Reads the whole response on FD and prints its body. */
static int read_response(int fd)
{
	static char buf[65536];
	size_t have = 0;
	ssize_t n;
	while (have < sizeof(buf) - 1 && (n = read(fd, buf + have, sizeof(buf) - 1 - have)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail("read", errno);
		}
		have += (size_t)n;
	}
	buf[have] = '\0';
	if (have == 0) {
		fprintf(stderr, "leakprobe: empty response\n");
		return 2;
	}
	char *body = strstr(buf, "\r\n\r\n");
	fputs(body ? body + 4 : buf, stdout);
	return 0;
}

static int get_on(int fd, const char *host)
{
	char req[512];
	request(req, sizeof(req), host);
	if (write(fd, req, strlen(req)) < 0)
		return fail("write", errno);
	return read_response(fd);
}

static int resolve(const char *host, const char *port, int socktype, int flags, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = socktype, .ai_flags = flags };
	int rc = getaddrinfo(host, port, &hints, res);
	return rc == 0 ? 0 : gai_fail(rc);
}

static int mode_ghbn_r(const char *host, int port)
{
	struct hostent he, *res = NULL;
	char buf[2048];
	int herr = 0, rc;
	int v6 = strchr(host, ':') != NULL;
	if (v6)
		rc = gethostbyname2_r(host, AF_INET6, &he, buf, sizeof(buf), &res, &herr);
	else
		rc = gethostbyname_r(host, &he, buf, sizeof(buf), &res, &herr);
	if (rc != 0 || res == NULL || res->h_addr_list[0] == NULL) {
		fprintf(stderr, "leakprobe: gethostbyname_r: rc %d, %s\n", rc, hstrerror(herr));
		return 2;
	}
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (res->h_addrtype == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, res->h_addr_list[0], 16);
		len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, res->h_addr_list[0], 4);
		len = sizeof(*sin);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket", errno);
	set_timeouts(fd);
	if (connect(fd, (struct sockaddr *)&ss, len) != 0)
		return fail("connect", errno);
	int r = get_on(fd, host);
	close(fd);
	return r;
}

static int mode_nonblock(const char *host, const char *port)
{
	struct addrinfo *res;
	if (resolve(host, port, SOCK_STREAM, 0, &res) != 0)
		return 2;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket", errno);
	int flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	int before = fcntl(fd, F_GETFL);
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc != 0 && errno != EINPROGRESS)
		return fail("connect", errno);
	if (fcntl(fd, F_GETFL) != before) {
		fprintf(stderr, "leakprobe: file status flags changed by connect: %#x -> %#x\n", before,
			fcntl(fd, F_GETFL));
		return 3;
	}
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, 10000) != 1) {
		fprintf(stderr, "leakprobe: poll: not writable within 10 s\n");
		return 2;
	}
	int err = 0;
	socklen_t elen = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
		return fail("getsockopt", errno);
	if (err)
		return fail("connect (SO_ERROR)", err);
	fcntl(fd, F_SETFL, flags);
	set_timeouts(fd);
	int r = get_on(fd, host);
	close(fd);
	return r;
}

static int mode_tfo(const char *host, const char *port)
{
	struct addrinfo *res;
	if (resolve(host, port, SOCK_STREAM, 0, &res) != 0)
		return 2;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket", errno);
	set_timeouts(fd);
	char req[512];
	request(req, sizeof(req), host);
	ssize_t n = sendto(fd, req, strlen(req), MSG_FASTOPEN, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (n < 0)
		return fail("sendto(MSG_FASTOPEN)", errno);
	if ((size_t)n < strlen(req) && write(fd, req + n, strlen(req) - (size_t)n) < 0)
		return fail("write", errno);
	int r = read_response(fd);
	close(fd);
	return r;
}

static int mode_sendto(const char *host, const char *port)
{
	struct addrinfo *res;
	if (resolve(host, port, SOCK_DGRAM, 0, &res) != 0)
		return 2;
	int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket", errno);
	static const char msg[] = "leakprobe datagram\n";
	ssize_t n = sendto(fd, msg, sizeof(msg) - 1, 0, res->ai_addr, res->ai_addrlen);
	char text[INET6_ADDRSTRLEN + 8] = "?";
	getnameinfo(res->ai_addr, res->ai_addrlen, text, sizeof(text), NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(res);
	if (n < 0)
		return fail("sendto", errno);
	printf("sent %zd bytes to %s\n", n, text);
	close(fd);
	return 0;
}

/* Skips a (possibly compressed) name in a DNS message; NULL when it runs past END. */
static const unsigned char *skip_name(const unsigned char *p, const unsigned char *end)
{
	while (p < end) {
		if (*p == 0)
			return p + 1;
		if ((*p & 0xC0) == 0xC0)
			return p + 2 <= end ? p + 2 : NULL;
		p += *p + 1;
	}
	return NULL;
}

/* The first A record of a DNS answer, or -1. */
static int first_a(const unsigned char *msg, int len, struct in_addr *out)
{
	const unsigned char *end = msg + len, *p;
	if (len < 12)
		return -1;
	int qd = msg[4] << 8 | msg[5], an = msg[6] << 8 | msg[7];
	p = msg + 12;
	for (int i = 0; i < qd && p; i++)
		if ((p = skip_name(p, end)) != NULL)
			p = p + 4 <= end ? p + 4 : NULL;
	for (int i = 0; i < an && p; i++) {
		if ((p = skip_name(p, end)) == NULL || p + 10 > end)
			return -1;
		int type = p[0] << 8 | p[1], rdlen = p[8] << 8 | p[9];
		p += 10;
		if (p + rdlen > end)
			return -1;
		if (type == ns_t_a && rdlen == 4) {
			memcpy(out, p, 4);
			return 0;
		}
		p += rdlen;
	}
	return -1;
}

static int mode_connect(const char *addr, const char *port, const char *hostheader);

static int mode_res_query(const char *host, const char *port)
{
	unsigned char ans[4096];
	struct in_addr a4;
	struct in6_addr a6;
	char qname[128];
	int v4 = inet_pton(AF_INET, host, &a4) == 1, v6 = inet_pton(AF_INET6, host, &a6) == 1;
	if (v4 || v6) {
		if (v4) {
			const unsigned char *b = (const unsigned char *)&a4;
			snprintf(qname, sizeof(qname), "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
		} else {
			char *q = qname;
			for (int i = 15; i >= 0; i--)
				q += sprintf(q, "%x.%x.", a6.s6_addr[i] & 0xF, a6.s6_addr[i] >> 4);
			strcpy(q, "ip6.arpa");
		}
		int n = res_query(qname, ns_c_in, ns_t_ptr, ans, sizeof(ans));
		if (n < 0)
			fprintf(stderr, "leakprobe: res_query %s PTR: %s (ignored)\n", qname, hstrerror(h_errno));
		else
			fprintf(stderr, "leakprobe: res_query %s PTR: %d bytes\n", qname, n);
		return mode_connect(host, port, host);
	}
	int n = res_query(host, ns_c_in, ns_t_a, ans, sizeof(ans));
	if (n < 0) {
		fprintf(stderr, "leakprobe: res_query %s A: %s\n", host, hstrerror(h_errno));
		return 2;
	}
	if (first_a(ans, n, &a4) != 0) {
		fprintf(stderr, "leakprobe: res_query %s A: no address in the answer\n", host);
		return 2;
	}
	char text[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &a4, text, sizeof(text));
	fprintf(stderr, "leakprobe: res_query %s A: %s\n", host, text);
	return mode_connect(text, port, host);
}

static int mode_syscall(const char *host, const char *port)
{
	struct addrinfo *res;
	if (resolve(host, port, SOCK_STREAM, 0, &res) != 0)
		return 2;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket", errno);
	set_timeouts(fd);
	long rc = syscall(SYS_connect, fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc != 0)
		return fail("syscall(SYS_connect)", errno);
	int r = get_on(fd, host);
	close(fd);
	return r;
}

static int mode_connect(const char *addr, const char *port, const char *hostheader)
{
	struct addrinfo *res;
	if (resolve(addr, port, SOCK_STREAM, AI_NUMERICHOST, &res) != 0)
		return 2;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket", errno);
	set_timeouts(fd);
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc != 0)
		return fail("connect (child)", errno);
	int r = get_on(fd, hostheader);
	close(fd);
	return r;
}

static int mode_forkexec(const char *self, const char *host, const char *port)
{
	struct addrinfo *res;
	if (resolve(host, port, SOCK_STREAM, 0, &res) != 0)
		return 2;
	char text[INET6_ADDRSTRLEN];
	int rc = getnameinfo(res->ai_addr, res->ai_addrlen, text, sizeof(text), NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(res);
	if (rc != 0)
		return gai_fail(rc);
	fprintf(stderr, "leakprobe: parent resolved %s to %s; the child connects\n", host, text);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return fail("fork", errno);
	if (pid == 0) {
		char *argv[] = { (char *)self, "connect", text, (char *)port, (char *)host, NULL };
		execv("/proc/self/exe", argv);
		_exit(fail("execv", errno));
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return fail("waitpid", errno);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: leakprobe ghbn-r|nonblock|tfo|res-query|syscall|sendto|forkexec HOST PORT\n");
		return 1;
	}
	const char *mode = argv[1], *host = argv[2], *port = argv[3];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(mode, "ghbn-r") == 0)
		return mode_ghbn_r(host, atoi(port));
	if (strcmp(mode, "nonblock") == 0)
		return mode_nonblock(host, port);
	if (strcmp(mode, "tfo") == 0)
		return mode_tfo(host, port);
	if (strcmp(mode, "sendto") == 0)
		return mode_sendto(host, port);
	if (strcmp(mode, "res-query") == 0)
		return mode_res_query(host, port);
	if (strcmp(mode, "syscall") == 0)
		return mode_syscall(host, port);
	if (strcmp(mode, "forkexec") == 0)
		return mode_forkexec(argv[0], host, port);
	if (strcmp(mode, "connect") == 0 && argc == 5)
		return mode_connect(host, port, argv[4]);
	fprintf(stderr, "leakprobe: unknown mode %s\n", mode);
	return 1;
}
