/* hostile_race.c: class 6 of issue 25: check-then-use races, run a bounded number of times.
 *
 * Whoever checks a system call (the library's hook, or the supervisor reading the program's memory and taking its
 * descriptor with pidfd_getfd) checks what the memory and the descriptor table hold at one instant; the kernel
 * reads them again later. A second thread of the program changes them in between:
 *   hostile_race msgname HOST PORT COUNT     sendmsg on a UDP socket connected to a loopback sink of ours
 *                                            (allowed) while msg_name goes from NULL to HOST:PORT
 *   hostile_race dup2-udp HOST PORT COUNT    sendmsg with an address on a descriptor swapped (dup2) from a TCP
 *                                            socket (the address is ignored) to a UDP one, and/or the address
 *                                            flipped from the loopback sink to HOST:PORT
 *   hostile_race sendto-tcp HOST PORT COUNT  sendto HOST:PORT on a TCP socket connected to a loopback listener
 *                                            of ours (the address is ignored), swapped (dup2) with a UDP socket
 *   hostile_race dup2-tcp HOST PORT COUNT    connect on an AF_UNIX socket to an AF_UNIX address, swapped for a new
 *                                            TCP socket while the address buffer becomes HOST:PORT
 * Each try is one system call: the other thread first sets a harmless state (one a check lets pass), then, at an
 * offset from the call that changes from try to try (before it, for a kernel that reads at once, up to some 100 µs
 * after it, for a supervisor's round trip), makes it the one the kernel must never act on. COUNT tries, never a
 * time limit; the last line says how many were made and what they returned. hostile.sh also builds this static,
 * so that under torwrap only the supervisor judges; the dynamic build meets the library's hooks.
 */
#include <ifaddrs.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/un.h>

#include "hostile.h"

#define X 200 /* the descriptor raced on */

static struct sockaddr_in ext, sink;
static union {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_un un;
} addr; /* the address buffer the calls name */
static struct sockaddr_un addr_un;
static struct iovec iov = { .iov_base = "hostile race\n", .iov_len = 13 };
static struct msghdr msg;
static int sock, tcp_fd, udp_fd, fresh_tcp = -1;
static long try_no;

static void delay(long n)
{
	for (long i = 0; i < n; i++)
		__asm__ volatile("" ::: "memory");
}

static void set_addr(const void *a)
{
	memcpy((void *)&addr, a, sizeof(ext));
}

/* ------------------------------------------------------------------------------------------------ races */

struct race {
	void (*harmless)(void); /* a state every check lets pass (untimed) */
	void (*flip)(void); /* from it to the state the kernel must never act on */
	long (*call)(void); /* the checked system call */
	const char *ok_word;
};

/* msgname: NULL (the connected, allowed sink) -> HOST:PORT */
static void msgname_harmless(void)
{
	((volatile struct msghdr *)&msg)->msg_name = NULL;
}
static void msgname_flip(void)
{
	((volatile struct msghdr *)&msg)->msg_name = &ext;
}
static long msgname_call(void)
{
	return sendmsg(sock, &msg, MSG_DONTWAIT);
}

/* dup2-udp, by turns: (TCP, HOST) -> (UDP, HOST); (UDP, sink) -> (UDP, HOST); (TCP, sink) -> (UDP, HOST) */
static void udp_harmless(void)
{
	dup2(try_no % 3 == 1 ? udp_fd : tcp_fd, X);
	set_addr(try_no % 3 == 0 ? &ext : &sink);
}
static void udp_flip(void)
{
	if (try_no % 3 != 1)
		dup2(udp_fd, X);
	set_addr(&ext);
}
static long udp_call(void)
{
	struct msghdr m = { .msg_name = &addr, .msg_namelen = sizeof(ext), .msg_iov = &iov, .msg_iovlen = 1 };
	return sendmsg(X, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* sendto-tcp: the connected TCP socket -> the UDP socket, the address HOST:PORT throughout */
static void sendto_harmless(void)
{
	dup2(tcp_fd, X);
}
static void sendto_flip(void)
{
	dup2(udp_fd, X);
}
static long sendto_call(void)
{
	return sendto(X, "hostile race\n", 13, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&ext, sizeof(ext));
}

/* dup2-tcp: (a new AF_UNIX socket, an AF_UNIX address) -> (a new TCP socket, HOST:PORT) */
static void tcp_harmless(void)
{
	if (fresh_tcp >= 0)
		close(fresh_tcp);
	int u = socket(AF_UNIX, SOCK_STREAM, 0);
	dup2(u, X);
	close(u);
	set_addr(&addr_un);
	fresh_tcp = socket(AF_INET, SOCK_STREAM, 0);
}
static void tcp_flip(void)
{
	dup2(fresh_tcp, X);
	set_addr(&ext);
}
static long tcp_call(void)
{
	return connect(X, &addr.sa, sizeof(ext));
}

/* ------------------------------------------------------------------------------------- the two threads */

static const struct race *race;
static atomic_int phase; /* 0: set the harmless state; 1: it is set; 2: the call is being made; 3: flipped;
			  * 4: no more tries */
static long offset; /* < 0: the call waits that long after the flip begins; > 0: the flip waits that long */

/* Until the phase is P (or 4, the end); returns it. */
static int wait_phase(int p)
{
	int now;
	for (long spins = 0; (now = atomic_load_explicit(&phase, memory_order_acquire)) != p && now != 4; spins++)
		if (spins > 4096)
			sched_yield(); /* the other thread may share this core */
	return now;
}

static void *flipper(void *unused)
{
	(void)unused;
	for (;;) {
		if (wait_phase(0) == 4)
			return NULL;
		race->harmless();
		atomic_store_explicit(&phase, 1, memory_order_release);
		if (wait_phase(2) == 4)
			return NULL;
		if (offset > 0)
			delay(offset);
		race->flip();
		atomic_store_explicit(&phase, 3, memory_order_release);
	}
}

/* The offset of try I: half the tries within about a microsecond either side of the call (the library's own
 * check is that close to the kernel's read), half up to some 100 µs after it (a supervisor's round trip). */
static long offset_of(long i)
{
	uint32_t r = (uint32_t)i * 2654435761u;
	long range = (i & 1) ? 4096 : 262144;
	return (long)(r % (uint32_t)(range + range / 4)) - range / 4;
}

struct tally {
	long ok, by_errno[160];
};

/* The two threads on two different processors, if there are two: sharing one, the flip would always come after
 * the call (the caller does not yield while it waits), and nothing would ever be raced. */
static void pin(pthread_t caller, pthread_t other)
{
	cpu_set_t all, one;
	if (sched_getaffinity(0, sizeof(all), &all) != 0 || CPU_COUNT(&all) < 2) {
		printf("one processor only: the threads share it\n");
		return;
	}
	int n = 0;
	for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pthread_setaffinity_np(n++ == 0 ? caller : other, sizeof(one), &one);
	}
}

static void run(const struct race *r, long count, struct tally *t)
{
	pthread_t th;
	race = r;
	pthread_create(&th, NULL, flipper, NULL);
	pin(pthread_self(), th);
	for (try_no = 0; try_no < count; try_no++) {
		offset = offset_of(try_no);
		wait_phase(1);
		atomic_store_explicit(&phase, 2, memory_order_release);
		if (offset < 0)
			delay(-offset);
		long rc = r->call();
		int e = errno;
		wait_phase(3);
		if (rc >= 0)
			t->ok++;
		else if (e > 0 && e < 160)
			t->by_errno[e]++;
		atomic_store_explicit(&phase, 0, memory_order_release);
	}
	wait_phase(1);
	atomic_store_explicit(&phase, 4, memory_order_release);
	pthread_join(th, NULL);
}

/* --------------------------------------------------------------------------------------------- set-up */

/* Binds FD to a local address that is not loopback (the first one up), so that it may send beyond this host
 * (from 127.0.0.1 the kernel would refuse any other destination itself, EINVAL) as well as to loopback. */
static void bind_outward(int fd)
{
	struct ifaddrs *ifs = NULL, *i;
	getifaddrs(&ifs);
	for (i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
		    !(i->ifa_flags & IFF_UP))
			continue;
		struct sockaddr_in a = *(struct sockaddr_in *)i->ifa_addr;
		a.sin_port = 0;
		char what[64];
		snprintf(what, sizeof(what), "bind(UDP, %s)", inet_ntoa(a.sin_addr));
		step_libc(what, bind(fd, (struct sockaddr *)&a, sizeof(a)));
		break;
	}
	if (!i)
		printf("bind: no address but loopback here\n");
	freeifaddrs(ifs);
}

/* A loopback endpoint of ours of TYPE (bound, and listening for TCP): a destination that is always allowed. */
static void loopback_sink(int type, struct sockaddr_in *at)
{
	hostile_addr("127.0.0.1", "0", at);
	socklen_t len = sizeof(*at);
	int fd = socket(AF_INET, type, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)at, len) != 0 || getsockname(fd, (struct sockaddr *)at, &len) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 16) != 0)) {
		perror("loopback sink");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: hostile_race msgname|dup2-udp|dup2-tcp|sendto-tcp HOST PORT COUNT\n");
		return 2;
	}
	hostile_start(argc, argv);
	const char *how = argv[1];
	hostile_addr(argv[2], argv[3], &ext);
	long count = atol(argv[4]);
	static const struct race msgname = { msgname_harmless, msgname_flip, msgname_call, "sent" },
				 dup2_udp = { udp_harmless, udp_flip, udp_call, "sent" },
				 sendto_tcp = { sendto_harmless, sendto_flip, sendto_call, "sent" },
				 dup2_tcp = { tcp_harmless, tcp_flip, tcp_call, "connected" };
	const struct race *r;

	if (strcmp(how, "msgname") == 0) {
		loopback_sink(SOCK_DGRAM, &sink);
		sock = socket(AF_INET, SOCK_DGRAM, 0);
		bind_outward(sock);
		if (step_libc("connect(UDP, loopback sink)", connect(sock, (struct sockaddr *)&sink, sizeof(sink))) != 0)
			return 1;
		msg = (struct msghdr){ .msg_namelen = sizeof(ext), .msg_iov = &iov, .msg_iovlen = 1 };
		r = &msgname;
	} else if (strcmp(how, "dup2-udp") == 0 || strcmp(how, "sendto-tcp") == 0) {
		bool to = how[0] == 's';
		loopback_sink(to ? SOCK_STREAM : SOCK_DGRAM, &sink);
		tcp_fd = socket(AF_INET, SOCK_STREAM, 0);
		udp_fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (to && step_libc("connect(TCP, loopback listener)",
				    connect(tcp_fd, (struct sockaddr *)&sink, sizeof(sink))) != 0)
			return 1;
		r = to ? &sendto_tcp : &dup2_udp;
	} else if (strcmp(how, "dup2-tcp") == 0) {
		addr_un.sun_family = AF_UNIX;
		memcpy(addr_un.sun_path, "\0hostile-race", 13); /* abstract; nobody listens */
		r = &dup2_tcp;
	} else {
		fprintf(stderr, "hostile_race: unknown race %s\n", how);
		return 2;
	}
	struct tally t;
	memset(&t, 0, sizeof(t));
	run(r, count, &t);
	printf("%s: %ld tries: %ld %s", how, count, t.ok, r->ok_word);
	for (int e = 1; e < 160; e++)
		if (t.by_errno[e])
			printf(", %ld %s", t.by_errno[e], hostile_errname(e));
	printf("\n");
	return 0;
}
