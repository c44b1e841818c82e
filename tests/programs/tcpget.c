/* tcpget.c: fetches http://HOST:PORT/ over a socket it sets up itself, to test what connect() keeps.
 *   tcpget [--nonblock] [--v6|--v6-short] HOST PORT
 *                                          prints the response body; with --nonblock the socket is non-blocking
 *                                          before connect() and the flags are checked to be unchanged after it;
 *                                          --v6 an IPv6 socket, --v6-short one connected with the 24-byte
 *                                          sockaddr_in6 (RFC 2133) that the kernel accepts too
 *   tcpget --udp HOST PORT                 connect() a UDP socket and send one datagram; prints the errno
 * Exit status 0 on success, 2 on a failed call (its errno name on stderr: "connect: ECONNREFUSED", or "read: ..."
 * when the connection failed after connect() returned, as TORWRAP_OPTIMISTIC=on reports a refusal), 3 when the
 * flags changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The errno's name (glibc); musl, for which the tests build this too, has no strerrorname_np. */
static const char *errname(int e)
{
#ifdef __GLIBC__
	return strerrorname_np(e);
#else
	static char buf[32];
	snprintf(buf, sizeof(buf), "errno %d", e);
	return buf;
#endif
}

int main(int argc, char **argv)
{
	int nonblock = 0, udp = 0, v6 = 0, short6 = 0, i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--nonblock") == 0)
			nonblock = 1;
		else if (strcmp(argv[i], "--udp") == 0)
			udp = 1;
		else if (strcmp(argv[i], "--v6") == 0)
			v6 = 1;
		else if (strcmp(argv[i], "--v6-short") == 0)
			v6 = short6 = 1; /* the 24-byte sockaddr_in6 of RFC 2133, which the kernel accepts */
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: tcpget [--nonblock|--udp|--v6|--v6-short] HOST PORT\n");
		return 1;
	}
	const char *host = argv[i], *port = argv[i + 1];
	struct addrinfo hints = { .ai_family = v6 ? AF_INET6 : AF_UNSPEC, .ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM };
	struct addrinfo *res;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(rc));
		return 2;
	}
	int fd = socket(res->ai_family, res->ai_socktype, 0);
	if (fd < 0) {
		perror("socket");
		return 2;
	}
	int flags = fcntl(fd, F_GETFL);
	if (nonblock)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	int before = fcntl(fd, F_GETFL);
	rc = connect(fd, res->ai_addr, short6 ? 24 : res->ai_addrlen);
	freeaddrinfo(res);
	if (rc != 0 && !(nonblock && errno == EINPROGRESS)) {
		fprintf(stderr, "connect: %s\n", errname(errno));
		return 2;
	}
	if (fcntl(fd, F_GETFL) != before) {
		fprintf(stderr, "flags changed: %#x -> %#x\n", before, fcntl(fd, F_GETFL));
		return 3;
	}
	if (nonblock) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, 10000) != 1) {
			fprintf(stderr, "poll: not writable\n");
			return 2;
		}
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			fprintf(stderr, "connect: %s\n", errname(err));
			return 2;
		}
		fcntl(fd, F_SETFL, flags); /* blocking I/O from here on keeps the rest simple */
	}
	if (udp) {
		if (send(fd, "x", 1, 0) < 0) {
			fprintf(stderr, "send: %s\n", errname(errno));
			return 2;
		}
		printf("sent\n");
		return 0;
	}
	char req[512];
	snprintf(req, sizeof(req), "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host);
	if (write(fd, req, strlen(req)) < 0) {
		fprintf(stderr, "write: %s\n", errname(errno));
		return 2;
	}
	char buf[65536];
	size_t have = 0;
	ssize_t n = 0;
	while (have < sizeof(buf) - 1 && (n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0)
		have += (size_t)n;
	if (n < 0) {
		fprintf(stderr, "read: %s\n", errname(errno));
		return 2;
	}
	buf[have] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	fputs(body ? body + 4 : buf, stdout);
	close(fd);
	return 0;
}
