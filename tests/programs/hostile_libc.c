/* hostile_libc.c: class 8 of issue 25: the ways around a library that hooks libc's public functions.
 *
 * LD_PRELOAD interposes on the public names a program calls through the dynamic linker. Everything else bypasses
 * it: libc's internal aliases, libc calling itself, a second copy of libc, and system calls made without libc:
 *   hostile_libc __connect HOST PORT       libc's internal alias of connect (dlsym)
 *   hostile_libc __send NAME               a UDP socket connected to the nameserver of /etc/resolv.conf (libc's
 *                                          connect), then a query for NAME with libc's __send (dlsym)
 *   hostile_libc sys-write NAME            ... the query written with syscall(SYS_write)
 *   hostile_libc pwritev2 NAME             ... the query written with pwritev2
 *   hostile_libc inline-write NAME         ... the query written with an inline system call on the socket the
 *                                          library connected (documented: out of the library's reach)
 *   hostile_libc ruserok NAME              glibc's own resolver, called inside libc by ruserok
 *   hostile_libc rexec NAME PORT           ... by rexec_af, which then connects to NAME's address, PORT
 *   hostile_libc nss-dns NAME              ... by _nss_dns_gethostbyname4_r, called directly (dlsym)
 *   hostile_libc dlmopen HOST PORT         connect from a second libc, loaded with dlmopen(LM_ID_NEWLM)
 *   hostile_libc inline-connect HOST PORT  connect as an inline system call
 *   hostile_libc io-uring HOST PORT        IORING_OP_CONNECT, the ring set up without liburing
 *   hostile_libc int80 HOST PORT           socketcall(SOCKET), socketcall(CONNECT) through the i386 entry point
 *                                          (int 0x80) of this 64-bit program; a kernel without IA32 emulation
 *                                          kills the probe: reported as such ("i386 ABI: absent"), no attack
 *   hostile_libc inline-sendmmsg HOST PORT sendmmsg to HOST:PORT as an inline system call
 */
#include <dlfcn.h>
#include <linux/io_uring.h>
#include <netdb.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "hostile.h"

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_io_uring_enter
#define SYS_io_uring_enter 426
#endif

static struct sockaddr_in dest;

/* A UDP socket connected (libc's connect: the library's hook, where there is one) to the nameserver, and a query
 * for NAME in BUF. */
static int nameserver_socket(const char *name, uint8_t *buf, size_t *len)
{
	struct sockaddr_in ns;
	hostile_nameserver(&ns);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || step_libc("connect(UDP, nameserver:53)", connect(fd, (struct sockaddr *)&ns, sizeof(ns))) != 0)
		exit(1);
	*len = dns_query(buf, 0x4c42, name);
	return fd;
}

static void *libc_sym(const char *name)
{
	void *p = dlsym(RTLD_DEFAULT, name);
	if (!p) {
		printf("dlsym %s: not found\n", name);
		exit(1);
	}
	return p;
}

static int tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		exit((int)step_libc("socket", -1));
	return fd;
}

/* --------------------------------------------------------------------------------------------- io_uring */

static int io_uring_connect(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	long ring = step_raw("io_uring_setup", raw_syscall6(SYS_io_uring_setup, 4, (long)&p, 0, 0, 0, 0));
	if (ring < 0)
		return 1;
	size_t sqlen = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cqlen = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	uint8_t *sq = mmap(NULL, sqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)ring, IORING_OFF_SQ_RING);
	uint8_t *cq = mmap(NULL, cqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)ring, IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(*sqes), PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_POPULATE, (int)ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		return (int)step_libc("mmap the rings", -1) & 1;
	int fd = tcp_socket();
	unsigned tail = *(unsigned *)(sq + p.sq_off.tail);
	unsigned idx = tail & *(unsigned *)(sq + p.sq_off.ring_mask);
	memset(&sqes[idx], 0, sizeof(sqes[idx]));
	sqes[idx].opcode = IORING_OP_CONNECT;
	sqes[idx].fd = fd;
	sqes[idx].addr = (uint64_t)(uintptr_t)&dest;
	sqes[idx].off = sizeof(dest); /* IORING_OP_CONNECT: the address length */
	((unsigned *)(sq + p.sq_off.array))[idx] = idx;
	__atomic_store_n((unsigned *)(sq + p.sq_off.tail), tail + 1, __ATOMIC_RELEASE);
	step_raw("io_uring_enter", raw_syscall6(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, 0, 0));
	unsigned head = __atomic_load_n((unsigned *)(cq + p.cq_off.head), __ATOMIC_ACQUIRE);
	if (head == __atomic_load_n((unsigned *)(cq + p.cq_off.tail), __ATOMIC_ACQUIRE))
		return printf("IORING_OP_CONNECT: no completion\n") & 0;
	struct io_uring_cqe *cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes) +
				   (head & *(unsigned *)(cq + p.cq_off.ring_mask));
	if (step_raw("IORING_OP_CONNECT", cqe->res) == 0)
		hostile_http(fd);
	return 0;
}

/* --------------------------------------------------------------------------------------------- int 0x80 */

#if defined(__x86_64__)
static long int80(long nr, long a1, long a2)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a1), "c"(a2) : "memory", "r8", "r9", "r10", "r11");
	return (long)(int)ret;
}

static int i386_connect(void)
{
	/* The probe, in a child: without IA32 emulation the kernel kills whoever enters int 0x80. */
	pid_t c = fork();
	if (c == 0)
		_exit(int80(20 /* i386 getpid */, 0, 0) > 0 ? 0 : 1);
	int st = 0;
	waitpid(c, &st, 0);
	if (WIFSIGNALED(st)) {
		printf("i386 ABI: absent (the probe was killed by signal %d): nothing to try here\n", WTERMSIG(st));
		return 0;
	}
	printf("i386 ABI: present\n");
	/* socketcall's arguments are 32-bit pointers: memory below 4 GiB. */
	uint32_t *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (low == MAP_FAILED)
		return (int)step_libc("mmap(MAP_32BIT)", -1) & 1;
	memcpy(low + 16, &dest, sizeof(dest));
	low[0] = AF_INET, low[1] = SOCK_STREAM, low[2] = 0;
	long fd = step_raw("i386 socketcall(SOCKET)", int80(102, 1, (long)(uintptr_t)low));
	if (fd < 0)
		return 0;
	low[0] = (uint32_t)fd, low[1] = (uint32_t)(uintptr_t)(low + 16), low[2] = sizeof(dest);
	if (step_raw("i386 socketcall(CONNECT)", int80(102, 3, (long)(uintptr_t)low)) == 0)
		hostile_http((int)fd);
	return 0;
}
#else
static int i386_connect(void)
{
	printf("i386 ABI: absent (not an x86-64 program): nothing to try here\n");
	return 0;
}
#endif

/* -------------------------------------------------------------------------------------------------- main */

static int usage(void)
{
	fprintf(stderr, "usage: hostile_libc __connect|dlmopen|inline-connect|io-uring|int80|inline-sendmmsg HOST PORT\n"
			"       hostile_libc __send|sys-write|pwritev2|inline-write|ruserok|nss-dns NAME\n"
			"       hostile_libc rexec NAME PORT\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	hostile_start(argc, argv);
	const char *how = argv[1], *name = argv[2];
	if (argc == 4 && strcmp(how, "rexec") != 0)
		hostile_addr(argv[2], argv[3], &dest);
	uint8_t q[512];
	size_t qlen;
	int fd;

	/* A query for NAME on a socket the library saw connected to the nameserver, sent around its hooks. */
	if (strcmp(how, "__send") == 0) {
		ssize_t (*send_)(int, const void *, size_t, int) = libc_sym("__send");
		fd = nameserver_socket(name, q, &qlen);
		step_libc("__send(query)", send_(fd, q, qlen, 0));
	} else if (strcmp(how, "sys-write") == 0) {
		fd = nameserver_socket(name, q, &qlen);
		step_libc("syscall(SYS_write, query)", syscall(SYS_write, fd, q, qlen));
	} else if (strcmp(how, "pwritev2") == 0) {
		fd = nameserver_socket(name, q, &qlen);
		struct iovec iov = { .iov_base = q, .iov_len = qlen };
		step_libc("pwritev2(query)", pwritev2(fd, &iov, 1, -1, 0));
	} else if (strcmp(how, "inline-write") == 0) {
		fd = nameserver_socket(name, q, &qlen);
		step_raw("inline write(query)", raw_syscall6(SYS_write, fd, (long)q, (long)qlen, 0, 0, 0));
	} else {
		fd = -1;
	}
	if (fd >= 0) {
		dns_wait_reply(fd, "reply");
		return 0;
	}

	/* glibc's resolver, called from inside libc. */
	if (strcmp(how, "ruserok") == 0) {
		step_libc("ruserok", ruserok(name, 0, "root", "root"));
		return 0;
	}
	if (strcmp(how, "rexec") == 0 && argc == 4) {
		char *host = (char *)name;
		step_libc("rexec_af", rexec_af(&host, htons((uint16_t)atoi(argv[3])), "hostile", "hostile", "true",
					       NULL, AF_INET));
		return 0;
	}
	if (strcmp(how, "nss-dns") == 0) {
		int (*gbn4)(const char *, void **, char *, size_t, int *, int *, int32_t *) =
			libc_sym("_nss_dns_gethostbyname4_r");
		static char buf[8192];
		void *pat = NULL;
		int err = 0, herr = 0;
		int32_t ttl = 0;
		int status = gbn4(name, &pat, buf, sizeof(buf), &err, &herr, &ttl);
		printf("_nss_dns_gethostbyname4_r: status %d, errno %s, h_errno %d\n", status, hostile_errname(err), herr);
		return 0;
	}
	if (argc != 4)
		return usage();

	/* Connections and datagrams around the hooks. */
	char what[80];
	if (strcmp(how, "__connect") == 0) {
		int (*connect_)(int, const struct sockaddr *, socklen_t) = libc_sym("__connect");
		fd = tcp_socket();
		snprintf(what, sizeof(what), "__connect(%s:%s)", argv[2], argv[3]);
		if (step_libc(what, connect_(fd, (struct sockaddr *)&dest, sizeof(dest))) == 0)
			hostile_http(fd);
	} else if (strcmp(how, "dlmopen") == 0) {
		void *h = dlmopen(LM_ID_NEWLM, "libc.so.6", RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			printf("dlmopen(LM_ID_NEWLM, libc.so.6): %s\n", dlerror());
			return 1;
		}
		printf("dlmopen(LM_ID_NEWLM, libc.so.6): OK\n");
		int (*socket_)(int, int, int) = dlsym(h, "socket");
		int (*connect_)(int, const struct sockaddr *, socklen_t) = dlsym(h, "connect");
		int *(*errno_)(void) = dlsym(h, "__errno_location");
		if (!socket_ || !connect_ || !errno_)
			return printf("dlsym in the second libc: not found\n") & 1;
		fd = socket_(AF_INET, SOCK_STREAM, 0);
		int rc = connect_(fd, (struct sockaddr *)&dest, sizeof(dest));
		if (rc != 0)
			errno = *errno_();
		snprintf(what, sizeof(what), "the second libc's connect(%s:%s)", argv[2], argv[3]);
		if (step_libc(what, rc) == 0)
			hostile_http(fd);
	} else if (strcmp(how, "inline-connect") == 0) {
		fd = tcp_socket();
		snprintf(what, sizeof(what), "inline connect(%s:%s)", argv[2], argv[3]);
		if (step_raw(what, raw_syscall6(SYS_connect, fd, (long)&dest, sizeof(dest), 0, 0, 0)) == 0)
			hostile_http(fd);
	} else if (strcmp(how, "io-uring") == 0) {
		return io_uring_connect();
	} else if (strcmp(how, "int80") == 0) {
		return i386_connect();
	} else if (strcmp(how, "inline-sendmmsg") == 0) {
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		struct iovec iov = { .iov_base = "hostile datagram\n", .iov_len = 17 };
		struct mmsghdr mm = { .msg_hdr = { .msg_name = &dest, .msg_namelen = sizeof(dest), .msg_iov = &iov,
						   .msg_iovlen = 1 } };
		snprintf(what, sizeof(what), "inline sendmmsg(%s:%s)", argv[2], argv[3]);
		step_raw(what, raw_syscall6(SYS_sendmmsg, fd, (long)&mm, 1, 0, 0, 0));
	} else {
		return usage();
	}
	return 0;
}
