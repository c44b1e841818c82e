/* hostile.h: what the hostile programs of tests/integration/hostile.sh share (issue 25, "No escape").
 *
 * Each hostile_*.c program tries one way out per subcommand, on purpose, and reports each step on standard output:
 * "start NAME" first (the harness requires it: an attack that never ran proves nothing), then "STEP: RESULT"
 * lines. What a program says about itself is never the verdict: the harness judges by the packet capture and the
 * trap nameserver's log. Addresses, ports and names come from the command line; nothing here knows the harness.
 *
 * Everything is static inline, so each program takes what it uses without unused-function warnings.
 */
#ifndef HOSTILE_H
#define HOSTILE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* "start ATTACK ARGS...": the first line, flushed at once (later steps may kill or stop things). */
static inline void hostile_start(int argc, char **argv)
{
	printf("start");
	for (int i = 1; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	fflush(stdout);
}

static inline const char *hostile_errname(int e)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
	const char *n = strerrorname_np(e);
	if (n)
		return n;
#endif
	return strerror(e);
}

/* A step's result: RC from a libc call (-1 and errno on failure). */
static inline long step_libc(const char *what, long rc)
{
	if (rc == -1)
		printf("%s: %s\n", what, hostile_errname(errno));
	else
		printf("%s: OK (%ld)\n", what, rc);
	fflush(stdout);
	return rc;
}

/* A step's result: RC from a raw system call (a negative errno on failure). */
static inline long step_raw(const char *what, long rc)
{
	if (rc < 0 && rc > -4096)
		printf("%s: %s\n", what, hostile_errname((int)-rc));
	else
		printf("%s: OK (%ld)\n", what, rc);
	fflush(stdout);
	return rc;
}

/* A system call with no libc in between (no hook, no cookie: the 4th to 6th registers hold what is given). */
static inline long raw_syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long ret;
#if defined(__x86_64__)
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a1;
	register long x1 __asm__("x1") = a2;
	register long x2 __asm__("x2") = a3;
	register long x3 __asm__("x3") = a4;
	register long x4 __asm__("x4") = a5;
	register long x5 __asm__("x5") = a6;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
	ret = x0;
#else
#error "hostile programs: raw system calls for x86-64 and aarch64 only"
#endif
	return ret;
}

/* HOST (IPv4 literal) and PORT into SIN; exits on a bad argument. */
static inline void hostile_addr(const char *host, const char *port, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		fprintf(stderr, "not an IPv4 address: %s\n", host);
		exit(2);
	}
}

/* An HTTP request on a connected socket, and the first bytes of the answer: what a program that got out does. */
static inline void hostile_http(int fd)
{
	static const char req[] = "GET / HTTP/1.0\r\nHost: hostile\r\n\r\n";
	char buf[256];
	if (write(fd, req, sizeof(req) - 1) < 0)
		return;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 2000) == 1) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			buf[strcspn(buf, "\r\n")] = '\0';
			printf("answer: %s\n", buf);
			fflush(stdout);
		}
	}
}

/* ------------------------------------------------------------------------------------------------- DNS */

static inline size_t dns_put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

static inline size_t dns_put_name(uint8_t *p, const char *name)
{
	size_t n = 0;
	while (*name) {
		size_t l = strcspn(name, ".");
		p[n++] = (uint8_t)l;
		memcpy(p + n, name, l);
		n += l;
		name += l;
		if (*name == '.')
			name++;
	}
	p[n++] = 0;
	return n;
}

/* A header: ID, FLAGS (opcode << 11, RD...), then the four section counts. */
static inline size_t dns_header(uint8_t *p, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns,
				unsigned ar)
{
	size_t n = dns_put16(p, id);
	n += dns_put16(p + n, flags);
	n += dns_put16(p + n, qd);
	n += dns_put16(p + n, an);
	n += dns_put16(p + n, ns);
	n += dns_put16(p + n, ar);
	return n;
}

/* A question: NAME, TYPE, class IN. */
static inline size_t dns_question(uint8_t *p, const char *name, unsigned type)
{
	size_t n = dns_put_name(p, name);
	n += dns_put16(p + n, type);
	n += dns_put16(p + n, 1);
	return n;
}

/* An A record: OWNER, class IN, 198.18.0.10. */
static inline size_t dns_rr_a(uint8_t *p, const char *owner)
{
	size_t n = dns_put_name(p, owner);
	n += dns_put16(p + n, 1);
	n += dns_put16(p + n, 1);
	n += dns_put16(p + n, 0);
	n += dns_put16(p + n, 300); /* TTL */
	n += dns_put16(p + n, 4);
	static const uint8_t a[4] = { 198, 18, 0, 10 };
	memcpy(p + n, a, 4);
	return n + 4;
}

/* The plain query a resolver sends: NAME, type A, recursion desired. */
static inline size_t dns_query(uint8_t *p, unsigned id, const char *name)
{
	size_t n = dns_header(p, id, 0x0100, 1, 0, 0, 0);
	return n + dns_question(p + n, name, 1);
}

/* The first nameserver of /etc/resolv.conf (as a program's own resolver reads it), port 53. */
static inline void hostile_nameserver(struct sockaddr_in *sin)
{
	char line[256], addr[64] = "127.0.0.11";
	FILE *f = fopen("/etc/resolv.conf", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, " nameserver %63s", addr) == 1)
			break;
	if (f)
		fclose(f);
	hostile_addr(addr, "53", sin);
}

/* Waits up to 2 s for a reply on FD and says what came: "reply: N bytes, rcode R, N answers". */
static inline void dns_wait_reply(int fd, const char *what)
{
	uint8_t buf[1500];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 2000) != 1) {
		printf("%s: no reply\n", what);
	} else {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			printf("%s: %s\n", what, hostile_errname(errno));
		else if (n < 12)
			printf("%s: %zd bytes\n", what, n);
		else
			printf("%s: %zd bytes, rcode %d, %d answers\n", what, n, buf[3] & 0xf, buf[6] << 8 | buf[7]);
	}
	fflush(stdout);
}

#endif
