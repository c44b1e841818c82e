/* run.c: the seccomp supervisor behind `torwrap` for statically linked programs (and `--seccomp`), from the
 * fork to the last process of the tree: supervisor_run, and supervisor_available (the kernel, probed once).
 *
 * torwrap forks; the child installs a seccomp filter (common/filter.c) that traps the network system calls
 * (connect, sendto with an address, sendmsg, sendmmsg) with SECCOMP_RET_USER_NOTIF and refuses outright what
 * cannot be routed (raw and packet sockets, SCTP, io_uring, the i386 and x32 ABIs), sends the listener up a
 * socket (SCM_RIGHTS, with the cookie) and execs the program at once. The parent serves the whole tree
 * (children inherit the filter), the way the library serves libc's calls: the notification loop (notify.c)
 * hands each trapped call to its handler (handlers.c), and DNS goes to the responder (responder.c). Here the
 * parent meanwhile forwards signals to the program and waits for it and for the rest of its tree.
 *
 * Verified facts and pitfalls: ../shared/docs/seccomp-notify.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor.h"
#include "sv.h"

/* Newer than some headers (Debian 12's lack the last two). */
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#if defined(__x86_64__)
#define SV_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SV_ARCH AUDIT_ARCH_AARCH64
#endif

#define EXIT_REFUSED 126
#define EXIT_NOTFOUND 127

struct sv_state sv = {
	.listener = -1,
	.dns_udp4 = -1,
	.dns_tcp4 = -1,
	.dns_udp6 = -1,
	.dns_tcp6 = -1,
	.pool_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* --------------------------------------------------------------------------------- what the kernel allows */

static int probe_available(char *why, size_t whylen);

/* Asked by the wrapper when it plans, and again when it runs: the kernel's answer is probed once. */
int supervisor_available(char *why, size_t whylen)
{
	static int known; /* 0 unknown, 1 available, -1 not */
	static char known_why[256];
	if (known == 0) {
		known = probe_available(known_why, sizeof(known_why)) == 0 ? 1 : -1;
	}
	if (known < 0)
		snprintf(why, whylen, "%s", known_why);
	return known > 0 ? 0 : -1;
}

static int probe_available(char *why, size_t whylen)
{
#ifndef SV_ARCH
	snprintf(why, whylen, "the seccomp supervisor does not know this architecture");
	return -1;
#else
	unsigned action = SECCOMP_RET_USER_NOTIF;
	struct seccomp_notif_sizes sizes;
	if (sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0 ||
	    sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
		snprintf(why, whylen, "%s",
			 errno == EPERM || errno == EACCES
				 ? "seccomp() is not allowed here (a container's seccomp profile?)"
				 : "the kernel has no seccomp user notification (Linux 5.0 or later is needed)");
		return -1;
	}
	int pfd = sys_pidfd_open(getpid(), 0);
	if (pfd < 0) {
		snprintf(why, whylen, "%s",
			 errno == ENOSYS ? "the kernel has no pidfd_open (Linux 5.3 or later is needed)"
					 : "pidfd_open is not allowed here (a container's seccomp profile?)");
		return -1;
	}
	int dup = sys_pidfd_getfd(pfd, pfd);
	int err = errno;
	close(pfd);
	if (dup < 0) {
		snprintf(why, whylen, "%s",
			 err == ENOSYS ? "the kernel has no pidfd_getfd (Linux 5.6 or later is needed)"
				       : "pidfd_getfd is not allowed here (a container's seccomp profile, or no ptrace "
					 "access?)");
		return -1;
	}
	close(dup);
	int probe = 42, copy = 0;
	struct iovec l = { .iov_base = &copy, .iov_len = sizeof(copy) };
	struct iovec r = { .iov_base = &probe, .iov_len = sizeof(probe) };
	if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) != (ssize_t)sizeof(probe) || copy != probe) {
		snprintf(why, whylen, "process_vm_readv is not allowed here (a container's seccomp profile?)");
		return -1;
	}
	return 0;
#endif
}

/* --------------------------------------------------------------------------- the child: filter, then exec */

/* Child -> parent messages on the bootstrap socket (SOCK_SEQPACKET: one message per call). */
enum { MSG_LISTENER = 1, MSG_LISTENER_NUMBER, MSG_SETUP_FAILED, MSG_EXEC_FAILED };

struct boot_msg {
	int kind;
	int value; /* an errno; with MSG_LISTENER_NUMBER, the listener's descriptor number in the child */
	int killable; /* WAIT_KILLABLE_RECV in force */
	int landlock; /* the Landlock ABI that fences the program off from the supervisor, 0 for none */
};

static void child_send(int fd, const struct boot_msg *m)
{
	ssize_t n;
	do
		n = write(fd, m, sizeof(*m));
	while (n < 0 && errno == EINTR);
}

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_restrict_self 446
#endif
#define TW_LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#define TW_LANDLOCK_SCOPE_SIGNAL (1ULL << 1)

/* The program (and every process it starts) in a Landlock domain of its own, which fences off what is outside
 * it: it can neither signal nor ptrace the supervisor (kill it, stop it, take its listener with pidfd_getfd or
 * read its memory), whatever its uid and capabilities. Signal scoping is Landlock ABI 6 (Linux 6.12); before it
 * nothing is done here, and the supervisor relies on being undumpable. Files and network are not restricted.
 * Returns the ABI in force, 0 for none. Needs no_new_privs (set by the caller). */
static int child_fence(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, TW_LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 6)
		return 0;
	struct {
		uint64_t handled_access_fs, handled_access_net, scoped;
	} attr = { .scoped = TW_LANDLOCK_SCOPE_SIGNAL };
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rs < 0)
		return 0;
	int rc = (int)syscall(SYS_landlock_restrict_self, rs, 0);
	close(rs);
	return rc == 0 ? (int)abi : 0;
}

/* The listener goes up as a descriptor in flight (SCM_RIGHTS): the socket holds it until the parent takes it,
 * so the child need not wait for the parent before it execs. The filter is in force already: the sendmsg
 * carries the cookie, as the library's own calls do, and passes in the kernel. */
static int child_send_listener(int sock, int listener, const struct boot_msg *first, uint64_t cookie)
{
	struct boot_msg m = *first;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	memset(&control, 0, sizeof(control));
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &listener, sizeof(int));
	long n;
	do
		n = syscall(SYS_sendmsg, (long)sock, (long)&mh, (long)MSG_NOSIGNAL, (long)cookie);
	while (n < 0 && errno == EINTR);
	return n == (long)sizeof(m) ? 0 : -1;
}

static _Noreturn void child_fail(int up, int err)
{
	child_send(up, &(struct boot_msg){ .kind = MSG_SETUP_FAILED, .value = err });
	_exit(EXIT_REFUSED);
}

/* The listener's way up to the supervisor. With a cookie, a descriptor in flight (SCM_RIGHTS) on a sendmsg
 * that carries it. Without one (--strict: no call of the child passes the filter any more), its number alone,
 * on a write (never trapped): the parent takes it with pidfd_getfd, and says when, before the child closes it
 * (the child was started with fork, not vfork, so the parent runs meanwhile). */
static void child_hand_over(int up, int listener, struct boot_msg *m, uint64_t cookie)
{
	if (cookie != 0) {
		if (child_send_listener(up, listener, m, cookie) != 0)
			child_fail(up, errno);
		return;
	}
	m->kind = MSG_LISTENER_NUMBER;
	m->value = listener;
	child_send(up, m);
	char taken;
	ssize_t n;
	do
		n = read(up, &taken, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(EXIT_REFUSED); /* the parent is gone, or could not take it */
}

static void child_main(int up, const sigset_t *mask, const char *path, char *const argv[], char *const envp[],
		       uint64_t cookie)
{
	struct sock_filter filter[TW_FILTER_MAX];
	struct sock_fprog prog = { .filter = filter };
	if (tw_filter_build(filter, &prog.len, cookie, TW_TRAP_NOTIFY) != 0)
		child_fail(up, EINVAL);
	/* No new privileges: seccomp() needs it unprivileged, and a setuid program would not keep the filter
	 * honest anyway (torwrap refuses those). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		child_fail(up, errno);
	struct boot_msg m = { .kind = MSG_LISTENER, .killable = 1, .landlock = child_fence() };
	int listener = sys_seccomp(SECCOMP_SET_MODE_FILTER,
				   SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
	if (listener < 0 && errno == EINVAL) { /* before 5.19 */
		m.killable = 0;
		listener = sys_seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	}
	if (listener < 0)
		child_fail(up, errno);
	child_hand_over(up, listener, &m, cookie);
	/* Only the supervisor may hold the listener: if it dies, the trapped calls must fail. The program's first
	 * trapped call waits until the supervisor serves it. */
	close(listener);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	execve(path, argv, envp);
	int err = errno;
	child_send(up, &(struct boot_msg){ .kind = MSG_EXEC_FAILED, .value = err });
	_exit(err == ENOENT ? EXIT_NOTFOUND : EXIT_REFUSED);
}

/* ----------------------------------------------------------------------------- the parent: serve and wait */

static int read_msg(int fd, struct boot_msg *m)
{
	ssize_t n;
	do
		n = read(fd, m, sizeof(*m));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 0 : -1;
}

/* The child's first message; with MSG_LISTENER, the listener in *FD. */
static int read_listener(int sock, struct boot_msg *m, int *fd)
{
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	*fd = -1;
	struct cmsghdr *h = n == (ssize_t)sizeof(*m) ? CMSG_FIRSTHDR(&mh) : NULL;
	if (h != NULL && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
	    h->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(h), sizeof(int));
	return n == (ssize_t)sizeof(*m) ? 0 : -1;
}

/* Dies of the signal that killed the program, so the caller sees the same status; else 128 + SIG. */
static int die_like(int sig)
{
	struct rlimit none = { 0, 0 };
	setrlimit(RLIMIT_CORE, &none); /* the program's core, if any, is written already */
	signal(sig, SIG_DFL);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	kill(getpid(), sig);
	return 128 + sig;
}

static const int forwarded_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT,
					 SIGALRM, SIGTSTP };

/* The processes the wrapper waits for. */
struct tree {
	pid_t child, server; /* the program; the supervisor's process */
	int status; /* the program's */
	bool child_done, tree_done, server_lost;
};

/* The supervisor's process ended: with 0 once no process of the tree is left (its listener hung up); any other
 * way (killed, crashed), every trapped call of the tree now fails (ENOSYS) and nothing leaves. Said at once, in
 * one line, and in the wrapper's exit status when the program ends (SUPERVISOR_EXIT_LOST, whatever its own):
 * the program is left to meet its failing calls and handle them its own way. */
static void on_server_end(struct tree *t, int st)
{
	t->tree_done = true;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	t->server_lost = true;
	struct tw_event ev = TW_EVENT("config", NULL, NULL, NULL);
	ev.err = ENOSYS;
	ev.pid = (long)t->server;
	char how[48];
	if (WIFSIGNALED(st))
		snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(st));
	else
		snprintf(how, sizeof(how), "exit %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	tw_log_event(TW_LOG_ERROR, ev,
		     "the seccomp supervisor (pid %d) is gone (%s): the program's network calls fail from now on (ENOSYS), "
		     "nothing goes direct; torwrap will exit with status %d",
		     (int)t->server, how, SUPERVISOR_EXIT_LOST);
}

static void reap(struct tree *t)
{
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, WNOHANG | WUNTRACED);
		if (w <= 0)
			return;
		if (w == t->child && WIFSTOPPED(st)) {
			/* Job control (^Z): the shell waits for us, so we stop along; its SIGCONT wakes both. */
			int s = WSTOPSIG(st);
			if (s == SIGTSTP || s == SIGTTIN || s == SIGTTOU)
				kill(getpid(), SIGSTOP);
			continue;
		}
		if (w == t->child) { /* (a subreaper: orphans of the tree come here too) */
			t->status = st;
			t->child_done = true;
		} else if (w == t->server && !WIFSTOPPED(st)) {
			on_server_end(t, st);
		}
	}
}

/* Waits for the program and for the last process of its tree (the supervisor's process ends when no process
 * of the tree is left), forwarding signals meanwhile. */
static int wait_tree(int sigfd, struct tree *t)
{
	while (!(t->child_done && t->tree_done)) {
		struct signalfd_siginfo si;
		ssize_t n = read(sigfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			break;
		if (si.ssi_signo == SIGCHLD) {
			reap(t);
			continue;
		}
		/* Signals from the terminal (SI_KERNEL) reached the program's process group already. */
		if (!t->child_done && (int)si.ssi_code <= 0)
			kill(t->child, (int)si.ssi_signo);
	}
	if (t->server_lost)
		return SUPERVISOR_EXIT_LOST;
	if (WIFSIGNALED(t->status))
		return die_like(WTERMSIG(t->status));
	return WIFEXITED(t->status) ? WEXITSTATUS(t->status) : EXIT_REFUSED;
}

/* The supervisor's state for CFG: the virtual map, the nameservers, the engine's context and the kernel's
 * notification sizes. 0, or an error already reported (EXIT_REFUSED). */
static int prepare(const struct tw_config *cfg, const char *path, uint64_t cookie)
{
	char why[256];
	if ((cookie == 0) != cfg->strict || supervisor_available(why, sizeof(why)) != 0) {
		fprintf(stderr, "torwrap: cannot supervise %s: %s\n", path, cfg->strict || cookie ? why : "no cookie");
		return -1;
	}
	sv.cfg = cfg;
	tw_log_configure(cfg->log_level, cfg->log_format, cfg->log_file, cfg->audit_file);
	int rc = vaddr_attach(cfg->vnet_addr, cfg->vnet_mask);
	if (rc < 0) {
		fprintf(stderr, "torwrap: cannot attach the virtual address map: %s\n", strerror(-rc));
		return -1;
	}
	if (cfg->strict && vaddr_fd() >= 0) { /* --strict: the map the supervisor trusts is its own */
		fcntl(vaddr_fd(), F_SETFD, FD_CLOEXEC);
		unsetenv(VADDR_FD_ENV);
	}
	if (resolver_parse_resolv_conf(cfg->resolv_text ? cfg->resolv_text : "", &sv.ns) != 0)
		sv.ns.nns = 0; /* config_build reported it already: names then fail closed */
	sv.route = (struct route_ctx){
		.cfg = cfg, .ns = &sv.ns, .io = &sv_io, .connect = connect, .conn_seq = &sv.conn_seq,
		.learned = &sv_learned,
	};
	struct seccomp_notif_sizes sizes;
	if (sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
		fprintf(stderr, "torwrap: seccomp notification sizes: %s\n", strerror(errno));
		return -1;
	}
	sv.notif_size = sizes.seccomp_notif > sizeof(struct seccomp_notif) ? sizes.seccomp_notif
									      : sizeof(struct seccomp_notif);
	sv.resp_size = sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp) ? sizes.seccomp_notif_resp
										    : sizeof(struct seccomp_notif_resp);
	return 0;
}

/* Blocks the forwarded signals and SIGCHLD (FWD, for the signalfd; the mask before in OLD, for the child). */
static void block_signals(sigset_t *fwd, sigset_t *old)
{
	sigemptyset(fwd);
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		sigaddset(fwd, forwarded_signals[i]);
	sigaddset(fwd, SIGCHLD);
	sigprocmask(SIG_BLOCK, fwd, old);
}

/* Starts the program: its pid, the parent's end of the start-up channel in *UP, or -1 (reported). */
static pid_t start_child(const sigset_t *old, const char *path, char *const argv[], char *const envp[],
			 uint64_t cookie, int *up_parent)
{
	int up[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, up) != 0) {
		fprintf(stderr, "torwrap: socketpair: %s\n", strerror(errno));
		return -1;
	}
	/* vfork: no page tables copied, and the parent resumes at the child's exec. That is safe here because
	 * the child only makes system calls on its own stack frames until it execs or _exits (child_main: no
	 * allocation, no return into this frame), and it never waits for the parent. Without a cookie (--strict)
	 * the child does wait for the parent to take its listener: fork. */
	pid_t child = cookie ? vfork() : fork();
	if (child < 0) {
		fprintf(stderr, "torwrap: fork: %s\n", strerror(errno));
		close(up[0]);
		close(up[1]);
		return -1;
	}
	if (child == 0) {
		close(up[0]);
		child_main(up[1], old, path, argv, envp, cookie);
	}
	close(up[1]);
	*up_parent = up[0];
	return child;
}

static int kill_refused(pid_t child)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return EXIT_REFUSED;
}

/* The listener the child hands over (child_hand_over): in flight, or by its number, taken with pidfd_getfd. */
static int receive_listener(int up, pid_t child, struct boot_msg *m)
{
	int fd = -1;
	if (read_listener(up, m, &fd) != 0 || m->kind == MSG_LISTENER)
		return fd;
	if (m->kind != MSG_LISTENER_NUMBER)
		return -1;
	int pfd = sys_pidfd_open(child, 0);
	fd = pfd >= 0 ? sys_pidfd_getfd(pfd, m->value) : -1;
	if (pfd >= 0)
		close(pfd);
	if (fd >= 0)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	char taken = 1;
	if (fd < 0 || write(up, &taken, 1) != 1) {
		m->kind = MSG_SETUP_FAILED;
		m->value = fd < 0 ? errno : EIO;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The supervisor's own process, forked from the wrapper with the listener: its threads serve the tree until no
 * process of it is left (the listener hangs up), then it exits 0. The wrapper, which the program's parent stays,
 * only waits, forwards signals and says so should this process ever die (on_server_end). Both are undumpable,
 * and where Landlock fences the tree in (child_fence), beyond the program's reach. */
static pid_t start_server(const char *path)
{
	pid_t server = fork();
	if (server != 0)
		return server;
	if (sv_pool_spawn() != 0) {
		fprintf(stderr, "torwrap: cannot start the supervisor for %s: %s\n", path, strerror(EAGAIN));
		_exit(EXIT_REFUSED); /* the listener closes with us: the program's trapped calls fail, nothing leaves */
	}
	/* Polled here, not seen by the pool: before Linux 6.6 a thread waiting in NOTIF_RECV is not woken when the
	 * last process of the tree exits. */
	for (;;) {
		struct pollfd p = { .fd = sv.listener, .events = 0 };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			_exit(EXIT_REFUSED);
		if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
			_exit(0); /* no process uses the filter any more */
	}
}

/* Takes the listener the child sends up and starts the supervisor's process to serve it. 0, or the exit status
 * (reported). */
static int take_listener(int up, struct tree *t, const char *path)
{
	struct boot_msg m = { 0 };
	sv.listener = receive_listener(up, t->child, &m);
	if (sv.listener < 0) {
		int err = m.kind == MSG_SETUP_FAILED ? m.value : EIO;
		fprintf(stderr, "torwrap: cannot install the seccomp filter for %s: %s\n", path, strerror(err));
		return kill_refused(t->child);
	}
	if (!m.killable)
		tw_log_event(TW_LOG_WARN, TW_EVENT("config", NULL, NULL, NULL),
			     "the kernel lacks SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19): a program receiving "
			     "frequent signals may restart a slow connect");
	tw_log_event(TW_LOG_DEBUG, TW_EVENT("config", NULL, NULL, NULL), "%s",
		     m.landlock ? "the program's tree is fenced off from the supervisor (Landlock signal scoping)"
				: "no Landlock signal scoping (Linux 6.12): the supervisor is only undumpable");
	/* Wake the waiting thread on our CPU (6.6): a notification round trip several times cheaper. */
	ioctl(sv.listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
	t->server = start_server(path);
	close(sv.listener); /* only the supervisor's process holds it: if that dies, the trapped calls fail */
	sv.listener = -1;
	if (t->server < 0) {
		fprintf(stderr, "torwrap: cannot start the supervisor for %s: %s\n", path, strerror(errno));
		return kill_refused(t->child);
	}
	return 0;
}

int supervisor_run(const struct tw_config *cfg, const char *path, char *const argv[], char *const envp[],
		   uint64_t cookie)
{
	if (prepare(cfg, path, cookie) != 0)
		return EXIT_REFUSED;
	/* Neither the wrapper nor the supervisor may be read, traced or have a descriptor taken by the program
	 * (same uid): undumpable, before anything is forked. (exec makes the program dumpable again.) */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Orphans of the tree stay our descendants: reaped here, and still ours to read (ptrace scope). */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	sigset_t fwd, old;
	block_signals(&fwd, &old);
	int up;
	struct tree t = { .child = start_child(&old, path, argv, cfg->strict ? environ : envp, cookie, &up) };
	if (t.child < 0)
		return EXIT_REFUSED;
	sv.child = t.child;
	signal(SIGPIPE, SIG_IGN);
	/* The child execs as soon as the listener is on its way (vfork resumes us then): the program starts while
	 * the supervisor does. */
	int rc = take_listener(up, &t, path);
	if (rc != 0)
		return rc;
	int sigfd = signalfd(-1, &fwd, SFD_CLOEXEC);
	struct boot_msg m = { 0 };
	if (read_msg(up, &m) == 0 && m.kind == MSG_EXEC_FAILED) {
		fprintf(stderr, "torwrap: %s: %s\n", path, strerror(m.value));
		waitpid(t.child, NULL, 0);
		return m.value == ENOENT ? EXIT_NOTFOUND : EXIT_REFUSED;
	}
	close(up);
	if (sigfd < 0) {
		fprintf(stderr, "torwrap: cannot wait for %s: %s\n", path, strerror(errno));
		return kill_refused(t.child);
	}
	struct tw_event ev = TW_EVENT("exec", NULL, NULL, NULL);
	ev.pid = (long)t.child;
	tw_log_event(TW_LOG_INFO, ev, "pid %d: %s runs under the seccomp supervisor%s", (int)t.child, path,
		     cfg->strict ? " (strict: every network call decided by it)" : "");
	return wait_tree(sigfd, &t);
}
