/* svcclient.c: the "service" of the container tests: a small client that needs nothing but libc (it goes into
 * an image holding only the loader, libc and itself: no shell). Each argument is one step, run in order; each
 * prints one line "STEP: RESULT" on standard output.
 *
 *   get:HOST:PORT       getaddrinfo + connect + "GET / HTTP/1.0"; prints the first line of the body, or
 *                       "error CALL ERRNO-NAME"
 *   resolve:HOST        getaddrinfo; prints the first address
 *   dns:HOST            its own DNS query (res_query, type A); prints "answered N" or "error ..."
 *   udp:IP:PORT         one datagram sent with sendto() on an unconnected socket; "sent" or "error ..."
 *   whoami              "uid U gid G rootfs ro|rw shm yes|no"
 *   exec                the remaining steps run in a new process: fork, then execv of this same program
 *
 * Exit status 0 (a failed step is reported, not fatal), 1 on a usage error.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ENETUNREACH: return "ENETUNREACH";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EROFS: return "EROFS";
	case ENOENT: return "ENOENT";
	case EAGAIN: return "EAGAIN";
	case ECONNRESET: return "ECONNRESET";
	default: return strerror(e);
	}
}

/* "HOST:PORT" (the last colon) into host and port. */
static int split(const char *arg, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *c = strrchr(arg, ':');
	if (c == NULL || (size_t)(c - arg) >= hostlen || strlen(c + 1) >= portlen)
		return -1;
	memcpy(host, arg, (size_t)(c - arg));
	host[c - arg] = '\0';
	strcpy(port, c + 1);
	return 0;
}

static void print_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf, (socklen_t)len);
	else
		snprintf(buf, len, "family-%d", sa->sa_family);
}

static void step_get(const char *step, const char *arg)
{
	char host[256], port[16];
	if (split(arg, host, sizeof(host), port, sizeof(port)) != 0) {
		printf("%s: error usage\n", step);
		return;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		printf("%s: error getaddrinfo %s\n", step, gai_strerror(rc));
		return;
	}
	int fd = socket(res->ai_family, res->ai_socktype, 0);
	if (fd < 0) {
		printf("%s: error socket %s\n", step, errname(errno));
		freeaddrinfo(res);
		return;
	}
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		printf("%s: error connect %s\n", step, errname(errno));
		close(fd);
		freeaddrinfo(res);
		return;
	}
	freeaddrinfo(res);
	char req[512];
	int n = snprintf(req, sizeof(req), "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host);
	if (write(fd, req, (size_t)n) != n) {
		printf("%s: error write %s\n", step, errname(errno));
		close(fd);
		return;
	}
	char buf[8192];
	size_t got = 0;
	ssize_t r;
	while (got < sizeof(buf) - 1 && (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = '\0';
	close(fd);
	char *body = strstr(buf, "\r\n\r\n");
	if (body == NULL) {
		printf("%s: error response \"%.40s\"\n", step, buf);
		return;
	}
	body += 4;
	body[strcspn(body, "\r\n")] = '\0';
	printf("%s: %s\n", step, body);
}

static void step_resolve(const char *step, const char *host)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(host, "80", &hints, &res);
	if (rc != 0) {
		printf("%s: error getaddrinfo %s\n", step, gai_strerror(rc));
		return;
	}
	char a[INET6_ADDRSTRLEN];
	print_addr(res->ai_addr, a, sizeof(a));
	freeaddrinfo(res);
	printf("%s: %s\n", step, a);
}

static void step_dns(const char *step, const char *host)
{
	unsigned char ans[512];
	errno = 0;
	int n = res_query(host, ns_c_in, ns_t_a, ans, sizeof(ans));
	if (n < 0)
		printf("%s: error res_query %s h_errno %d\n", step, errno ? errname(errno) : "-", h_errno);
	else
		printf("%s: answered %d\n", step, n);
}

static void step_udp(const char *step, const char *arg)
{
	char host[64], port[16];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	if (split(arg, host, sizeof(host), port, sizeof(port)) != 0 || inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		printf("%s: error usage\n", step);
		return;
	}
	sin.sin_port = htons((unsigned short)atoi(port));
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		printf("%s: error socket %s\n", step, errname(errno));
		return;
	}
	if (sendto(fd, "leak?", 5, 0, (struct sockaddr *)&sin, sizeof(sin)) != 5)
		printf("%s: error sendto %s\n", step, errname(errno));
	else
		printf("%s: sent\n", step);
	close(fd);
}

static void step_whoami(const char *step)
{
	int fd = open("/svcclient-probe", O_WRONLY | O_CREAT | O_EXCL, 0600);
	int e = errno;
	if (fd >= 0) {
		close(fd);
		unlink("/svcclient-probe");
	}
	struct stat st;
	printf("%s: uid %u gid %u rootfs %s shm %s\n", step, (unsigned)getuid(), (unsigned)getgid(),
	       fd >= 0 ? "rw" : e == EROFS ? "ro" : errname(e), stat("/dev/shm", &st) == 0 ? "yes" : "no");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: svcclient STEP...\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (strncmp(s, "get:", 4) == 0) {
			step_get(s, s + 4);
		} else if (strncmp(s, "resolve:", 8) == 0) {
			step_resolve(s, s + 8);
		} else if (strncmp(s, "dns:", 4) == 0) {
			step_dns(s, s + 4);
		} else if (strncmp(s, "udp:", 4) == 0) {
			step_udp(s, s + 4);
		} else if (strcmp(s, "whoami") == 0) {
			step_whoami(s);
		} else if (strcmp(s, "exec") == 0) {
			fflush(stdout);
			pid_t pid = fork();
			if (pid == 0) {
				argv[i] = argv[0];
				execv("/proc/self/exe", argv + i);
				printf("exec: error execv %s\n", errname(errno));
				_exit(127);
			}
			int status = 0;
			if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
				printf("exec: error child status %d\n", status);
			return 0;
		} else {
			fprintf(stderr, "svcclient: unknown step %s\n", s);
			return 1;
		}
		fflush(stdout);
	}
	return 0;
}
