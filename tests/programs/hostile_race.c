/* hostile_race.c: class 6 of issue 25: check-then-use races, run a bounded number of times.
 *
 * Whoever checks a system call (the library's hook, or the supervisor reading the program's memory and taking its
 * descriptor with pidfd_getfd) checks what the memory and the descriptor table hold at one instant; the kernel
 * reads them again later. A second thread of the program changes them in between, as fast as it can:
 *   hostile_race msgname HOST PORT COUNT     sendmsg on a UDP socket connected to a loopback sink of ours
 *                                            (allowed), while msg_name flips between NULL and HOST:PORT
 *   hostile_race dup2-udp HOST PORT COUNT    sendmsg with an address on a descriptor swapped (dup2) between a
 *                                            TCP socket (the address is ignored) and a UDP one, the address
 *                                            flipping between the loopback sink and HOST:PORT
 *   hostile_race sendto-tcp HOST PORT COUNT  sendto HOST:PORT on a TCP socket connected to a loopback listener
 *                                            of ours (the address is ignored), swapped (dup2) with a UDP socket
 *   hostile_race dup2-tcp HOST PORT COUNT    connect on a descriptor swapped between an AF_UNIX socket and a new
 *                                            TCP one, the address buffer flipping between an AF_UNIX address and
 *                                            HOST:PORT
 * COUNT tries, never a time limit, started once the flipper runs; the last line says how many were made and what
 * they returned. hostile.sh also builds it static, so that under torwrap only the supervisor judges; the dynamic
 * build meets the library's hooks.
 */
#include <ifaddrs.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/un.h>

#include "hostile.h"

#define X 200 /* the descriptor raced on */

static atomic_int stop;
static atomic_long flips; /* the tries start once every flipper has flipped: no try before the race is on */
static struct sockaddr_in ext, sink;

static inline void spin(void)
{
	for (int i = 0; i < 64; i++)
		__asm__ volatile("" ::: "memory");
}

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
static int loopback_sink(int type, struct sockaddr_in *at)
{
	hostile_addr("127.0.0.1", "0", at);
	socklen_t len = sizeof(*at);
	int fd = socket(AF_INET, type, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)at, len) != 0 || getsockname(fd, (struct sockaddr *)at, &len) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 16) != 0)) {
		perror("loopback sink");
		exit(1);
	}
	return fd;
}

/* ---------------------------------------------------------------------------------------------- flippers */
/* One flipper thread per race (with the thread that tries, as many threads as this machine's two cores): each
 * goes round a cycle of states in which every transition it can catch is one where the check sees something it
 * lets pass and the kernel, an instant later, something it must not. */

static struct msghdr msg;
static struct iovec iov = { .iov_base = "hostile race\n", .iov_len = 13 };

/* (msgname) msg_name: &ext, NULL, &ext... (a connected UDP socket: NULL sends to the allowed sink) */
static void *flip_msg_name(void *unused)
{
	(void)unused;
	volatile struct msghdr *m = &msg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		m->msg_name = &ext;
		spin();
		m->msg_name = NULL;
		spin();
		atomic_fetch_add_explicit(&flips, 1, memory_order_relaxed);
	}
	return NULL;
}

static int tcp_fd, udp_fd; /* swapped onto X in turn */
static union {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_un un;
} addr;
static struct sockaddr_un addr_un; /* (dup2-tcp) */

static void set_addr(const void *a)
{
	memcpy((void *)&addr, a, sizeof(ext));
}

/* (dup2-udp) X and the address: (TCP, ext) -> (UDP, ext) -> (UDP, sink) -> (UDP, ext) -> (TCP, ext)...: a TCP
 * socket ignores the address, the sink is allowed; (UDP, ext) is where the kernel must never be. */
static void *flip_udp(void *unused)
{
	(void)unused;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		dup2(udp_fd, X);
		spin();
		set_addr(&sink);
		spin();
		set_addr(&ext);
		spin();
		dup2(tcp_fd, X);
		spin();
		atomic_fetch_add_explicit(&flips, 1, memory_order_relaxed);
	}
	return NULL;
}

/* (sendto-tcp) X: the connected TCP socket (the address is ignored), the UDP socket, ... */
static void *flip_fd(void *unused)
{
	(void)unused;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		dup2(udp_fd, X);
		spin();
		dup2(tcp_fd, X);
		spin();
		atomic_fetch_add_explicit(&flips, 1, memory_order_relaxed);
	}
	return NULL;
}

static void put_new(int family)
{
	int s = socket(family, SOCK_STREAM, 0);
	if (s >= 0) {
		dup2(s, X);
		close(s);
	}
}

/* (dup2-tcp) X and the address: (AF_UNIX, unix) -> (TCP, unix) -> (TCP, ext) -> (TCP, unix) -> (AF_UNIX, unix)...:
 * an AF_UNIX socket, or an AF_UNIX address, is not the network's business; (TCP, ext) is a direct connection.
 * It lasts a moment only, so that a check rarely sees it (a check that does would take the slow way, through the
 * proxy, for that try) while a kernel read just after a check is likely to. */
static void *flip_tcp(void *unused)
{
	(void)unused;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		put_new(AF_INET);
		spin();
		set_addr(&ext);
		for (int i = 0; i < 8; i++)
			spin();
		set_addr(&addr_un);
		put_new(AF_UNIX);
		spin();
		atomic_fetch_add_explicit(&flips, 1, memory_order_relaxed);
	}
	return NULL;
}

/* ------------------------------------------------------------------------------------------------ tallies */

struct tally {
	long ok, by_errno[160];
};

static void add(struct tally *t, long rc)
{
	if (rc >= 0)
		t->ok++;
	else if (errno > 0 && errno < 160)
		t->by_errno[errno]++;
}

/* Until each of the N flippers started has flipped a few times. */
static void race_on(int n)
{
	while (atomic_load(&flips) < 4 * n)
		sched_yield();
}

static void report(const char *how, long count, const struct tally *t, const char *ok_word)
{
	printf("%s: %ld tries: %ld %s", how, count, t->ok, ok_word);
	for (int e = 1; e < 160; e++)
		if (t->by_errno[e])
			printf(", %ld %s", t->by_errno[e], hostile_errname(e));
	printf("\n");
	fflush(stdout);
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
	struct tally t;
	memset(&t, 0, sizeof(t));
	pthread_t th[1];
	int nth = 0;

	if (strcmp(how, "msgname") == 0) {
		loopback_sink(SOCK_DGRAM, &sink);
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		bind_outward(s);
		if (step_libc("connect(UDP, loopback sink)", connect(s, (struct sockaddr *)&sink, sizeof(sink))) != 0)
			return 1;
		msg = (struct msghdr){ .msg_namelen = sizeof(ext), .msg_iov = &iov, .msg_iovlen = 1 };
		pthread_create(&th[nth++], NULL, flip_msg_name, NULL);
		race_on(nth);
		for (long i = 0; i < count; i++)
			add(&t, sendmsg(s, &msg, MSG_DONTWAIT));
		report(how, count, &t, "sent");
	} else if (strcmp(how, "dup2-udp") == 0 || strcmp(how, "sendto-tcp") == 0) {
		bool to = how[0] == 's';
		loopback_sink(to ? SOCK_STREAM : SOCK_DGRAM, &sink);
		tcp_fd = socket(AF_INET, SOCK_STREAM, 0);
		udp_fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (to && step_libc("connect(TCP, loopback listener)", connect(tcp_fd, (struct sockaddr *)&sink,
										 sizeof(sink))) != 0)
			return 1;
		dup2(tcp_fd, X);
		set_addr(&ext);
		pthread_create(&th[nth++], NULL, to ? flip_fd : flip_udp, NULL);
		race_on(nth);
		static char buf[] = "hostile race\n";
		struct msghdr m = { .msg_name = &addr, .msg_namelen = sizeof(ext), .msg_iov = &iov, .msg_iovlen = 1 };
		for (long i = 0; i < count; i++)
			add(&t, to ? sendto(X, buf, sizeof(buf) - 1, MSG_NOSIGNAL | MSG_DONTWAIT,
					    (struct sockaddr *)&ext, sizeof(ext))
				   : sendmsg(X, &m, MSG_NOSIGNAL | MSG_DONTWAIT));
		report(how, count, &t, "sent");
	} else if (strcmp(how, "dup2-tcp") == 0) {
		addr_un.sun_family = AF_UNIX;
		memcpy(addr_un.sun_path, "\0hostile-race", 13); /* abstract; nobody listens */
		put_new(AF_UNIX);
		set_addr(&addr_un);
		pthread_create(&th[nth++], NULL, flip_tcp, NULL);
		race_on(nth);
		for (long i = 0; i < count; i++)
			add(&t, connect(X, &addr.sa, sizeof(ext)));
		report(how, count, &t, "connected");
	} else {
		fprintf(stderr, "hostile_race: unknown race %s\n", how);
		return 2;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	return 0;
}
