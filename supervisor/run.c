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
enum { MSG_LISTENER = 1, MSG_SETUP_FAILED, MSG_EXEC_FAILED };

struct boot_msg {
	int kind;
	int value; /* an errno */
	int killable; /* WAIT_KILLABLE_RECV in force */
};

static void child_send(int fd, int kind, int value, int killable)
{
	struct boot_msg m = { .kind = kind, .value = value, .killable = killable };
	ssize_t n;
	do
		n = write(fd, &m, sizeof(m));
	while (n < 0 && errno == EINTR);
}

/* The listener goes up as a descriptor in flight (SCM_RIGHTS): the socket holds it until the parent takes it,
 * so the child need not wait for the parent before it execs. The filter is in force already: the sendmsg
 * carries the cookie, as the library's own calls do, and passes in the kernel. */
static int child_send_listener(int sock, int listener, int killable, uint64_t cookie)
{
	struct boot_msg m = { .kind = MSG_LISTENER, .killable = killable };
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

static void child_main(int up, const sigset_t *mask, const char *path, char *const argv[], char *const envp[],
		       uint64_t cookie)
{
	struct sock_filter filter[TW_FILTER_MAX];
	struct sock_fprog prog = { .filter = filter };
	if (tw_filter_build(filter, &prog.len, cookie, TW_TRAP_NOTIFY) != 0) {
		child_send(up, MSG_SETUP_FAILED, EINVAL, 0);
		_exit(EXIT_REFUSED);
	}
	/* No new privileges: seccomp() needs it unprivileged, and a setuid program would not keep the filter
	 * honest anyway (torwrap refuses those). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		child_send(up, MSG_SETUP_FAILED, errno, 0);
		_exit(EXIT_REFUSED);
	}
	int killable = 1;
	int listener = sys_seccomp(SECCOMP_SET_MODE_FILTER,
				   SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
	if (listener < 0 && errno == EINVAL) { /* before 5.19 */
		killable = 0;
		listener = sys_seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	}
	if (listener < 0) {
		child_send(up, MSG_SETUP_FAILED, errno, 0);
		_exit(EXIT_REFUSED);
	}
	if (child_send_listener(up, listener, killable, cookie) != 0) {
		child_send(up, MSG_SETUP_FAILED, errno, 0);
		_exit(EXIT_REFUSED);
	}
	/* Only the supervisor may hold the listener: if it dies, the trapped calls must fail. The program's first
	 * trapped call waits until the supervisor serves it. */
	close(listener);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	execve(path, argv, envp);
	int err = errno;
	child_send(up, MSG_EXEC_FAILED, err, 0);
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

/* Waits for the program and for the last process of its tree, forwarding signals meanwhile. */
static int wait_tree(int sigfd, pid_t child)
{
	int status = 0;
	bool child_done = false, tree_done = false;
	while (!(child_done && tree_done)) {
		struct pollfd p[2] = { { .fd = sigfd, .events = POLLIN }, { .fd = sv.listener, .events = 0 } };
		int r = poll(p, tree_done ? 1 : 2, -1);
		if (r < 0 && errno != EINTR)
			break;
		if (!tree_done && (p[1].revents & (POLLHUP | POLLERR | POLLNVAL)))
			tree_done = true; /* no process uses the filter any more */
		if (!(p[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD) {
			/* A subreaper: orphans of the tree come to us too. */
			for (;;) {
				int st;
				pid_t w = waitpid(-1, &st, WNOHANG | WUNTRACED);
				if (w <= 0)
					break;
				if (w == child && WIFSTOPPED(st)) {
					/* Job control (^Z): the shell waits for us, so we stop along; its SIGCONT wakes both. */
					int s = WSTOPSIG(st);
					if (s == SIGTSTP || s == SIGTTIN || s == SIGTTOU)
						kill(getpid(), SIGSTOP);
					continue;
				}
				if (w == child) {
					status = st;
					child_done = true;
				}
			}
			continue;
		}
		/* Signals from the terminal (SI_KERNEL) reached the program's process group already. */
		if (!child_done && (int)si.ssi_code <= 0)
			kill(child, (int)si.ssi_signo);
	}
	if (WIFSIGNALED(status))
		return die_like(WTERMSIG(status));
	return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_REFUSED;
}

/* The supervisor's state for CFG: the virtual map, the nameservers, the engine's context and the kernel's
 * notification sizes. 0, or an error already reported (EXIT_REFUSED). */
static int prepare(const struct tw_config *cfg, const char *path, uint64_t cookie)
{
	char why[256];
	if (cookie == 0 || supervisor_available(why, sizeof(why)) != 0) {
		fprintf(stderr, "torwrap: cannot supervise %s: %s\n", path, cookie ? why : "no cookie");
		return -1;
	}
	sv.cfg = cfg;
	tw_log_configure(cfg->log_level, cfg->log_format, cfg->log_file, cfg->audit_file);
	int rc = vaddr_attach(cfg->vnet_addr, cfg->vnet_mask);
	if (rc < 0) {
		fprintf(stderr, "torwrap: cannot attach the virtual address map: %s\n", strerror(-rc));
		return -1;
	}
	if (resolver_parse_resolv_conf(cfg->resolv_text ? cfg->resolv_text : "", &sv.ns) != 0)
		sv.ns.nns = 0; /* config_build reported it already: names then fail closed */
	sv.route = (struct route_ctx){
		.cfg = cfg, .ns = &sv.ns, .io = &sv_io, .connect = connect, .conn_seq = &sv.conn_seq,
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
	 * allocation, no return into this frame), and it never waits for the parent. */
	pid_t child = vfork();
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

/* Takes the listener the child sends up and starts serving it. 0, or the exit status (reported). */
static int take_listener(int up, pid_t child, const char *path, const sigset_t *fwd, int *sigfd)
{
	struct boot_msg m = { 0 };
	if (read_listener(up, &m, &sv.listener) != 0 || m.kind != MSG_LISTENER || sv.listener < 0) {
		int err = m.kind == MSG_SETUP_FAILED ? m.value : EIO;
		fprintf(stderr, "torwrap: cannot install the seccomp filter for %s: %s\n", path, strerror(err));
		return kill_refused(child);
	}
	if (!m.killable)
		tw_log_event(TW_LOG_WARN, TW_EVENT("config", NULL, NULL, NULL),
			     "the kernel lacks SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19): a program receiving "
			     "frequent signals may restart a slow connect");
	/* Wake the waiting thread on our CPU (6.6): a notification round trip several times cheaper. */
	ioctl(sv.listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
	/* One thread waits for notifications; the pool grows as they come (notify.c). Should none start, the
	 * program's trapped calls fail with ENOSYS once the listener is closed: it is killed, nothing leaves. */
	*sigfd = signalfd(-1, fwd, SFD_CLOEXEC);
	if (sv_pool_spawn() != 0 || *sigfd < 0) {
		fprintf(stderr, "torwrap: cannot start the supervisor for %s: %s\n", path,
			strerror(*sigfd < 0 ? errno : EAGAIN));
		return kill_refused(child);
	}
	return 0;
}

int supervisor_run(const struct tw_config *cfg, const char *path, char *const argv[], char *const envp[],
		   uint64_t cookie)
{
	if (prepare(cfg, path, cookie) != 0)
		return EXIT_REFUSED;
	/* Orphans of the tree stay our descendants: reaped here, and still ours to read (ptrace scope). */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	sigset_t fwd, old;
	block_signals(&fwd, &old);
	int up, sigfd = -1;
	pid_t child = start_child(&old, path, argv, envp, cookie, &up);
	if (child < 0)
		return EXIT_REFUSED;
	sv.child = child;
	signal(SIGPIPE, SIG_IGN);
	/* The child execs as soon as the listener is on its way (vfork resumes us then): the program starts while
	 * the supervisor does. */
	int rc = take_listener(up, child, path, &fwd, &sigfd);
	if (rc != 0)
		return rc;
	struct boot_msg m = { 0 };
	if (read_msg(up, &m) == 0 && m.kind == MSG_EXEC_FAILED) {
		fprintf(stderr, "torwrap: %s: %s\n", path, strerror(m.value));
		waitpid(child, NULL, 0);
		return m.value == ENOENT ? EXIT_NOTFOUND : EXIT_REFUSED;
	}
	close(up);
	struct tw_event ev = TW_EVENT("exec", NULL, NULL, NULL);
	ev.pid = (long)child;
	tw_log_event(TW_LOG_INFO, ev, "pid %d: %s runs under the seccomp supervisor", (int)child, path);
	return wait_tree(sigfd, child);
}
