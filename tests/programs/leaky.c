/* leaky.c: the less common ways a program can resolve a name or send a packet, one per mode, so the tests can
 * watch each under torwrap. Prints what happened; exit 0 when the call did what the mode expects to succeed.
 *   leaky res-query NAME | res-aaaa NAME | res-mx NAME | res-search NAME | res-querydomain NAME DOMAIN
 *   leaky res-send NAME | res-ptr ADDR           -> the answer's first address / name, via libresolv
 *   leaky gai-a NAME                              -> getaddrinfo_a (GAI_WAIT)
 *   leaky tfo HOST PORT                           -> HTTP GET sent with sendto(MSG_FASTOPEN), body printed
 *   leaky syscall-connect HOST PORT               -> HTTP GET over a socket connected with syscall(SYS_connect)
 *   leaky io-uring                                -> syscall(SYS_io_uring_setup): prints the errno
 *   leaky peername HOST PORT                      -> connect, then getpeername: prints ADDR PORT
 *   leaky udp-sendto ADDR PORT | udp-sendmsg ADDR PORT | udp-sendmmsg ADDR PORT  -> prints the errno or "sent"
 *   leaky raw                                     -> socket(AF_INET, SOCK_RAW): prints the errno or "opened"
 *   leaky dns-udp ADDR PORT NAME recvfrom|recvmsg|recvmmsg
 *                                                 -> an A query on a UDP socket connected to ADDR:PORT, as a
 *                                                    resolver of its own sends it; prints "A ADDR from SRC PORT
 *                                                    peer PEER PORT" (the reply's source, getpeername)
 *   leaky threads HOST PORT NTHREADS NCONN NLOOKUP -> NTHREADS threads: NLOOKUP lookups of distinct names each,
 *                                                    and NCONN HTTP GETs each; prints "ok N" when all worked
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

static int print_answer(const unsigned char *ans, int len)
{
	ns_msg msg;
	if (ns_initparse(ans, len, &msg) < 0) {
		printf("unparsable answer\n");
		return 2;
	}
	int n = ns_msg_count(msg, ns_s_an);
	if (n == 0) {
		printf("no answer\n");
		return 2;
	}
	ns_rr rr;
	ns_parserr(&msg, ns_s_an, 0, &rr);
	char buf[NS_MAXDNAME];
	if (ns_rr_type(rr) == ns_t_a)
		printf("%s\n", inet_ntop(AF_INET, ns_rr_rdata(rr), buf, sizeof(buf)));
	else if (ns_rr_type(rr) == ns_t_ptr && dn_expand(ans, ans + len, ns_rr_rdata(rr), buf, sizeof(buf)) >= 0)
		printf("%s\n", buf);
	else
		printf("type %d\n", ns_rr_type(rr));
	return 0;
}

static int res_result(int len, const unsigned char *ans, const char *what)
{
	if (len < 0) {
		printf("%s failed: %s\n", what, hstrerror(h_errno));
		return 2;
	}
	return print_answer(ans, len);
}

static int resolve_one(const char *host, const char *port, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	int rc = getaddrinfo(host, port, &hints, res);
	if (rc != 0)
		fprintf(stderr, "getaddrinfo %s: %s\n", host, gai_strerror(rc));
	return rc;
}

static int http_get_on(int fd, const char *host, int print)
{
	char req[256], buf[4096];
	snprintf(req, sizeof(req), "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host);
	if (write(fd, req, strlen(req)) < 0)
		return -1;
	size_t have = 0;
	ssize_t n;
	while (have < sizeof(buf) - 1 && (n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0)
		have += (size_t)n;
	buf[have] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	if (print)
		fputs(body ? body + 4 : buf, stdout);
	return body ? 0 : -1;
}

struct thread_job {
	const char *host, *port;
	int id, nconn, nlookup, ok;
};

static void *thread_main(void *p)
{
	struct thread_job *j = p;
	for (int i = 0; i < j->nlookup; i++) {
		char name[64];
		snprintf(name, sizeof(name), "t%d-n%d.threads.example.test", j->id, i % 500);
		struct addrinfo *res;
		if (resolve_one(name, j->port, &res) == 0) {
			j->ok++;
			freeaddrinfo(res);
		}
	}
	for (int i = 0; i < j->nconn; i++) {
		struct addrinfo *res;
		char name[64];
		snprintf(name, sizeof(name), "c%d-%d.threads.example.test", j->id, i);
		if (resolve_one(name, j->port, &res) != 0)
			continue;
		int fd = socket(res->ai_family, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0 && http_get_on(fd, name, 0) == 0)
			j->ok++;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
	}
	return NULL;
}

static int udp_send(const char *mode, const char *addr, const char *port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	int family;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		family = sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)atoi(port));
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		family = sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)atoi(port));
		len = sizeof(*sin6);
	} else {
		return 1;
	}
	int fd = socket(family, SOCK_DGRAM, 0);
	char data[] = "torwrap-udp-probe";
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr m = { .msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t rc;
	if (strcmp(mode, "udp-sendto") == 0) {
		rc = sendto(fd, data, sizeof(data), 0, (struct sockaddr *)&ss, len);
	} else if (strcmp(mode, "udp-sendmsg") == 0) {
		rc = sendmsg(fd, &m, 0);
	} else {
		struct mmsghdr mm = { .msg_hdr = m };
		rc = sendmmsg(fd, &mm, 1, 0);
	}
	if (rc < 0) {
		printf("%s\n", strerrorname_np(errno));
		return 2;
	}
	printf("sent\n");
	return 0;
}

static const char *endpoint_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(buf, len, "%s %u", a, port);
	return buf;
}

/* One reply by the named call; its source in *FROM. */
static ssize_t recv_reply(int fd, const char *how, unsigned char *buf, size_t len, struct sockaddr_storage *from)
{
	socklen_t flen = sizeof(*from);
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_name = from, .msg_namelen = flen, .msg_iov = &iov, .msg_iovlen = 1 };
	if (strcmp(how, "recvfrom") == 0)
		return recvfrom(fd, buf, len, 0, (struct sockaddr *)from, &flen);
	if (strcmp(how, "recvmsg") == 0)
		return recvmsg(fd, &m, 0);
	struct mmsghdr mm = { .msg_hdr = m };
	int n = recvmmsg(fd, &mm, 1, 0, NULL);
	return n == 1 ? (ssize_t)mm.msg_len : -1;
}

static int dns_udp(const char *addr, const char *port, const char *name, const char *how)
{
	struct sockaddr_storage ns, from, peer;
	memset(&ns, 0, sizeof(ns));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ns;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
		return 1;
	unsigned char q[512], ans[4096];
	int qlen = res_mkquery(ns_o_query, name, ns_c_in, ns_t_a, NULL, 0, NULL, q, sizeof(q));
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (qlen < 0 || fd < 0 || connect(fd, (struct sockaddr *)&ns, sizeof(*sin)) != 0 || send(fd, q, qlen, 0) < 0) {
		printf("%s\n", strerrorname_np(errno));
		return 2;
	}
	printf("query id %u\n", (unsigned)q[0] << 8 | q[1]);
	memset(&from, 0, sizeof(from));
	ssize_t n = recv_reply(fd, how, ans, sizeof(ans), &from);
	socklen_t plen = sizeof(peer);
	if (n < 0 || getpeername(fd, (struct sockaddr *)&peer, &plen) != 0) {
		printf("%s\n", strerrorname_np(errno));
		return 2;
	}
	ns_msg msg;
	ns_rr rr;
	char a[INET6_ADDRSTRLEN] = "none", f[80], p[80];
	if (ns_initparse(ans, (int)n, &msg) == 0 && ns_msg_count(msg, ns_s_an) > 0 &&
	    ns_parserr(&msg, ns_s_an, 0, &rr) == 0 && ns_rr_type(rr) == ns_t_a)
		inet_ntop(AF_INET, ns_rr_rdata(rr), a, sizeof(a));
	printf("A %s from %s peer %s\n", a, endpoint_text(&from, f, sizeof(f)), endpoint_text(&peer, p, sizeof(p)));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 1;
	const char *mode = argv[1];
	unsigned char ans[4096];
	if (strcmp(mode, "res-query") == 0 && argc == 3)
		return res_result(res_query(argv[2], ns_c_in, ns_t_a, ans, sizeof(ans)), ans, "res_query");
	if (strcmp(mode, "res-aaaa") == 0 && argc == 3)
		return res_result(res_query(argv[2], ns_c_in, ns_t_aaaa, ans, sizeof(ans)), ans, "res_query");
	if (strcmp(mode, "res-mx") == 0 && argc == 3)
		return res_result(res_query(argv[2], ns_c_in, ns_t_mx, ans, sizeof(ans)), ans, "res_query");
	if (strcmp(mode, "res-search") == 0 && argc == 3)
		return res_result(res_search(argv[2], ns_c_in, ns_t_a, ans, sizeof(ans)), ans, "res_search");
	if (strcmp(mode, "res-querydomain") == 0 && argc == 4)
		return res_result(res_querydomain(argv[2], argv[3], ns_c_in, ns_t_a, ans, sizeof(ans)), ans,
				  "res_querydomain");
	if (strcmp(mode, "res-send") == 0 && argc == 3) {
		unsigned char q[512];
		int qlen = res_mkquery(ns_o_query, argv[2], ns_c_in, ns_t_a, NULL, 0, NULL, q, sizeof(q));
		if (qlen < 0)
			return 2;
		return res_result(res_send(q, qlen, ans, sizeof(ans)), ans, "res_send");
	}
	if (strcmp(mode, "res-ptr") == 0 && argc == 3) {
		unsigned a[4];
		char name[64];
		if (sscanf(argv[2], "%u.%u.%u.%u", &a[0], &a[1], &a[2], &a[3]) != 4)
			return 1;
		snprintf(name, sizeof(name), "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
		return res_result(res_query(name, ns_c_in, ns_t_ptr, ans, sizeof(ans)), ans, "res_query PTR");
	}
	if (strcmp(mode, "gai-a") == 0 && argc == 3) {
		struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
		struct gaicb cb = { .ar_name = argv[2], .ar_request = &hints };
		struct gaicb *list[1] = { &cb };
		int rc = getaddrinfo_a(GAI_WAIT, list, 1, NULL);
		if (rc != 0 || gai_error(&cb) != 0) {
			printf("getaddrinfo_a failed: %s\n", gai_strerror(rc ? rc : gai_error(&cb)));
			return 2;
		}
		char buf[INET_ADDRSTRLEN];
		printf("%s\n", inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)cb.ar_result->ai_addr)->sin_addr,
					 buf, sizeof(buf)));
		freeaddrinfo(cb.ar_result);
		return 0;
	}
	if ((strcmp(mode, "tfo") == 0 || strcmp(mode, "syscall-connect") == 0 || strcmp(mode, "peername") == 0) &&
	    argc == 4) {
		struct addrinfo *res;
		if (resolve_one(argv[2], argv[3], &res) != 0)
			return 2;
		int fd = socket(res->ai_family, SOCK_STREAM, 0);
		if (strcmp(mode, "tfo") == 0) {
			char req[256];
			snprintf(req, sizeof(req), "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", argv[2]);
			if (sendto(fd, req, strlen(req), MSG_FASTOPEN, res->ai_addr, res->ai_addrlen) < 0) {
				printf("sendto MSG_FASTOPEN: %s\n", strerrorname_np(errno));
				return 2;
			}
			char buf[4096];
			ssize_t n, have = 0;
			while ((n = read(fd, buf + have, sizeof(buf) - 1 - (size_t)have)) > 0)
				have += n;
			buf[have] = '\0';
			char *body = strstr(buf, "\r\n\r\n");
			fputs(body ? body + 4 : buf, stdout);
			return body ? 0 : 2;
		}
		long rc = strcmp(mode, "syscall-connect") == 0
				  ? syscall(SYS_connect, fd, res->ai_addr, res->ai_addrlen)
				  : connect(fd, res->ai_addr, res->ai_addrlen);
		if (rc != 0) {
			printf("connect: %s\n", strerrorname_np(errno));
			return 2;
		}
		if (strcmp(mode, "peername") == 0) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			char buf[INET6_ADDRSTRLEN];
			getpeername(fd, (struct sockaddr *)&ss, &len);
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			printf("%s %u\n", inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)), ntohs(sin->sin_port));
			return 0;
		}
		return http_get_on(fd, argv[2], 1) == 0 ? 0 : 2;
	}
	if (strcmp(mode, "io-uring") == 0) {
		long rc = syscall(425 /* SYS_io_uring_setup */, 8, ans);
		printf("%s\n", rc < 0 ? strerrorname_np(errno) : "allowed");
		return 0;
	}
	if (strcmp(mode, "vfork-exec") == 0 && argc >= 3) { /* the child execs PROG ARGS... straight from vfork */
		pid_t pid = vfork();
		if (pid == 0) {
			execv(argv[2], argv + 2);
			_exit(127);
		}
		int status = 0;
		waitpid(pid, &status, 0);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
	}
	if (strcmp(mode, "io-uring-raw") == 0) { /* as liburing does it: no libc in the way */
#if defined(__x86_64__)
		long rc;
		__asm__ volatile("syscall" : "=a"(rc) : "a"(425L), "D"(8L), "S"(ans) : "rcx", "r11", "memory");
		printf("%s\n", rc < 0 ? strerrorname_np((int)-rc) : "allowed");
#else
		printf("ENOSYS\n");
#endif
		return 0;
	}
	if (strncmp(mode, "udp-", 4) == 0 && argc == 4)
		return udp_send(mode, argv[2], argv[3]);
	if (strcmp(mode, "dns-udp") == 0 && argc == 6)
		return dns_udp(argv[2], argv[3], argv[4], argv[5]);
	if (strcmp(mode, "raw") == 0) {
		int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
		printf("%s\n", fd < 0 ? strerrorname_np(errno) : "opened");
		return 0;
	}
	if (strcmp(mode, "threads") == 0 && argc == 7) {
		int nt = atoi(argv[4]);
		pthread_t th[256];
		struct thread_job jobs[256];
		if (nt > 256)
			nt = 256;
		for (int i = 0; i < nt; i++) {
			jobs[i] = (struct thread_job){ .host = argv[2], .port = argv[3], .id = i, .nconn = atoi(argv[5]),
						       .nlookup = atoi(argv[6]) };
			pthread_create(&th[i], NULL, thread_main, &jobs[i]);
		}
		int ok = 0;
		for (int i = 0; i < nt; i++) {
			pthread_join(th[i], NULL);
			ok += jobs[i].ok;
		}
		printf("ok %d\n", ok);
		return ok == nt * (atoi(argv[5]) + atoi(argv[6])) ? 0 : 2;
	}
	fprintf(stderr, "unknown mode or arguments\n");
	return 1;
}
