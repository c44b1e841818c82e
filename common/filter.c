/* filter.c: the kernel's side of torwrap, one seccomp filter for two front ends.
 *
 * The same program serves the `torwrap` wrapper (trapped calls go to its supervisor: SECCOMP_RET_USER_NOTIF)
 * and the library on its own (under LD_PRELOAD alone: trapped calls fail with EPERM). What is trapped: connect,
 * sendmsg, sendmmsg, and sendto with an inet-sized address or MSG_FASTOPEN. Refused outright: the socket kinds
 * of tw_socket_refused() (raw, packet, XDP, SCTP, SEQPACKET), source routes as socket options, a seccomp filter
 * with a listener of its own (under the supervisor), io_uring, the x32 and i386 ABIs. Everything else is allowed
 * on its number alone, so the kernel's per-syscall action cache makes unrelated calls free. *
 * The library's own calls carry the tree's cookie in an argument slot the call does not use (tw_gate_*):
 * connect and sendmsg have three arguments, sendmmsg four; the filter compares the next slot with the cookie and
 * lets such calls pass in the kernel with no trip to the supervisor. The library routed them already.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <netinet/ip.h>

#include "tw.h"

#if defined(__has_include)
#if __has_include(<linux/seccomp.h>) && __has_include(<linux/filter.h>) && __has_include(<linux/audit.h>)
#define TW_HAVE_SECCOMP_HEADERS 1
#endif
#endif

#ifdef TW_HAVE_SECCOMP_HEADERS
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#if defined(__x86_64__)
#define TW_ARCH AUDIT_ARCH_X86_64
#define TW_X32_BIT 0x40000000u
#define TW_COMPAT_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__)
#define TW_ARCH AUDIT_ARCH_AARCH64
#endif
#endif

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif

/* ----------------------------------------------------------------------------------------------- socket rules */

/* The socket families a program under torwrap may open: inet (which torwrap routes), Unix, netlink (the kernel's
 * own: interfaces, routes) and AF_ALG (the kernel's crypto). Every other family reaches something torwrap cannot
 * see: packet and XDP sockets write their own frames, VSOCK reaches the host of a virtual machine, RDS, TIPC,
 * AX.25, Bluetooth and CAN carry data to other machines over links of their own. */
static const int allowed_domains[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_ALG };

/* The one table of inet socket kinds nothing may open: the library's socket() hook and the filter both read it
 * (and the list above). Raw sockets write their own headers; SCTP connects through setsockopt; SEQPACKET over
 * inet is SCTP's. */
static const struct {
	int domain; /* -1: any inet domain */
	int type; /* -1: any */
	int protocol; /* -1: any */
} refused_sockets[] = {
	{ -1, SOCK_RAW, -1 }, { -1, SOCK_PACKET, -1 }, { -1, SOCK_SEQPACKET, -1 }, { -1, -1, IPPROTO_SCTP },
};

bool tw_socket_refused(int domain, int type, int protocol)
{
	int kind = type & 0xf; /* without SOCK_NONBLOCK and SOCK_CLOEXEC */
	bool inet = domain == AF_INET || domain == AF_INET6, allowed = false;
	for (size_t i = 0; i < sizeof(allowed_domains) / sizeof(allowed_domains[0]); i++)
		allowed |= allowed_domains[i] == domain;
	if (!allowed)
		return true;
	for (size_t i = 0; i < sizeof(refused_sockets) / sizeof(refused_sockets[0]); i++) {
		if (refused_sockets[i].domain >= 0 ? refused_sockets[i].domain != domain : !inet)
			continue;
		if (refused_sockets[i].type >= 0 && refused_sockets[i].type != kind)
			continue;
		if (refused_sockets[i].protocol >= 0 && refused_sockets[i].protocol != protocol)
			continue;
		return true;
	}
	return false;
}

/* The socket options nothing may set: a source route (IPv4 options LSRR/SSRR, an IPv6 routing header) sends
 * every packet of the socket to its first hop instead of the destination connect() decided. The library's
 * setsockopt() hook and the filter both follow this one table. */
static const struct {
	int level, name;
} refused_sockopts[] = {
	{ IPPROTO_IP, IP_OPTIONS },
	{ IPPROTO_IPV6, IPV6_RTHDR },
	{ IPPROTO_IPV6, IPV6_2292RTHDR },
	{ IPPROTO_IPV6, IPV6_2292PKTOPTIONS },
};

bool tw_sockopt_refused(int level, int name)
{
	for (size_t i = 0; i < sizeof(refused_sockopts) / sizeof(refused_sockopts[0]); i++)
		if (refused_sockopts[i].level == level && refused_sockopts[i].name == name)
			return true;
	return false;
}

#if defined(TW_HAVE_SECCOMP_HEADERS) && defined(TW_ARCH)

/* ---------------------------------------------------------------------------------------- a small assembler */

enum {
	L_NEXT = 0,
	L_ALLOW,
	L_COOKIE3,
	L_COOKIE4,
	L_SENDTO,
	L_SENDTO_LEN,
	L_SOCKET,
	L_SECCOMP,
	L_SETSOCKOPT,
	L_INET,
	L_OTHER_ARCH,
	L_TRAP,
	L_EPERM,
	L_ENOSYS,
	L_COUNT,
};

/* A jump target that is no label: skip N instructions. */
#define L_SKIP 200
#define SKIP(n) (L_SKIP + (n))

struct bpf_asm {
	struct sock_filter f[TW_FILTER_MAX];
	uint8_t jt[TW_FILTER_MAX], jf[TW_FILTER_MAX]; /* label numbers until resolved */
	int n;
	int at[L_COUNT];
};

static void emit(struct bpf_asm *p, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	if (p->n < TW_FILTER_MAX) {
		p->f[p->n] = (struct sock_filter)BPF_STMT(code, k);
		p->jt[p->n] = jt;
		p->jf[p->n] = jf;
	}
	p->n++;
}

static void label(struct bpf_asm *p, int l)
{
	p->at[l] = p->n;
}

static int resolve_jumps(struct bpf_asm *p)
{
	if (p->n > TW_FILTER_MAX)
		return -1;
	for (int i = 0; i < p->n; i++) {
		if (BPF_CLASS(p->f[i].code) != BPF_JMP)
			continue;
		int t[2] = { p->jt[i], p->jf[i] };
		for (int j = 0; j < 2; j++) {
			int off = t[j] == L_NEXT ? 0 : t[j] >= L_SKIP ? t[j] - L_SKIP : p->at[t[j]] - i - 1;
			if (off < 0 || off > 255)
				return -1;
			t[j] = off;
		}
		p->f[i].jt = (uint8_t)t[0];
		p->f[i].jf = (uint8_t)t[1];
	}
	return 0;
}

#define ARG_LO(n) (offsetof(struct seccomp_data, args) + (n) * sizeof(uint64_t))
#define ARG_HI(n) (ARG_LO(n) + sizeof(uint32_t))
#define LD(off) emit(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)(off), 0, 0)
#define JEQ(k, t, f) emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(k), (t), (f))
#define JGE(k, t, f) emit(p, BPF_JMP | BPF_JGE | BPF_K, (uint32_t)(k), (t), (f))
#define JGT(k, t, f) emit(p, BPF_JMP | BPF_JGT | BPF_K, (uint32_t)(k), (t), (f))
#define JSET(k, t, f) emit(p, BPF_JMP | BPF_JSET | BPF_K, (uint32_t)(k), (t), (f))
#define RET(k) emit(p, BPF_RET | BPF_K, (uint32_t)(k), 0, 0)

/* Argument ARG equal to COOKIE: allowed; else trapped. No cookie: always trapped. */
static void cookie_check(struct bpf_asm *p, int arg, uint64_t cookie)
{
	if (cookie == 0) {
		JEQ(0, L_TRAP, L_TRAP);
		return;
	}
	LD(ARG_LO(arg));
	JEQ((uint32_t)cookie, L_NEXT, L_TRAP);
	LD(ARG_HI(arg));
	JEQ((uint32_t)(cookie >> 32), L_ALLOW, L_TRAP);
}

/* The families of allowed_domains and the inet kinds of refused_sockets, as jumps: generated from the tables, so
 * the library's socket() hook and the filter cannot disagree. Each entry constrains one argument (a domain, or an inet type, or an inet
 * protocol), which tw_filter_build checks. */
static void socket_rules(struct bpf_asm *p)
{
	const size_t n = sizeof(refused_sockets) / sizeof(refused_sockets[0]);
	LD(ARG_LO(0));
	JEQ(AF_INET, L_INET, L_NEXT);
	JEQ(AF_INET6, L_INET, L_NEXT);
	for (size_t i = 0; i < sizeof(allowed_domains) / sizeof(allowed_domains[0]); i++)
		if (allowed_domains[i] != AF_INET && allowed_domains[i] != AF_INET6)
			JEQ(allowed_domains[i], L_ALLOW, L_NEXT);
	RET(SECCOMP_RET_ERRNO | EPERM); /* any other family */
	label(p, L_INET);
	LD(ARG_LO(1));
	emit(p, BPF_ALU | BPF_AND | BPF_K, 0xf, 0, 0);
	for (size_t i = 0; i < n; i++)
		if (refused_sockets[i].domain < 0 && refused_sockets[i].type >= 0)
			JEQ(refused_sockets[i].type, L_EPERM, L_NEXT);
	LD(ARG_LO(2));
	for (size_t i = 0; i < n; i++)
		if (refused_sockets[i].domain < 0 && refused_sockets[i].protocol >= 0)
			JEQ(refused_sockets[i].protocol, L_EPERM, L_NEXT);
	RET(SECCOMP_RET_ALLOW);
}

/* The entries of refused_sockopts, as jumps (generated from the table, as socket_rules): level, then name. */
static void sockopt_rules(struct bpf_asm *p)
{
	const size_t n = sizeof(refused_sockopts) / sizeof(refused_sockopts[0]);
	for (size_t i = 0; i < n; i++) {
		LD(ARG_LO(1));
		JEQ(refused_sockopts[i].level, L_NEXT, SKIP(2)); /* another level: the next entry */
		LD(ARG_LO(2));
		JEQ(refused_sockopts[i].name, L_EPERM, L_NEXT);
	}
	RET(SECCOMP_RET_ALLOW);
}

/* Every entry of refused_sockets constrains exactly one argument, an inet socket's type or protocol (families are
 * allowed_domains'): socket_rules can express no other. */
static bool socket_rules_expressible(void)
{
	for (size_t i = 0; i < sizeof(refused_sockets) / sizeof(refused_sockets[0]); i++)
		if (refused_sockets[i].domain >= 0 || (refused_sockets[i].type >= 0) + (refused_sockets[i].protocol >= 0) != 1)
			return false;
	return true;
}

static void program(struct bpf_asm *p, uint64_t cookie, enum tw_filter_trap trap)
{
	LD(offsetof(struct seccomp_data, arch));
	JEQ(TW_ARCH, L_NEXT, L_OTHER_ARCH);
	LD(offsetof(struct seccomp_data, nr));
#ifdef TW_X32_BIT
	JGE(TW_X32_BIT, L_ENOSYS, L_NEXT); /* the x32 ABI */
#endif
	JEQ(SYS_connect, L_COOKIE3, L_NEXT);
	JEQ(SYS_sendmsg, L_COOKIE3, L_NEXT);
	JEQ(SYS_sendmmsg, L_COOKIE4, L_NEXT);
	JEQ(SYS_sendto, L_SENDTO, L_NEXT);
	JEQ(SYS_socket, L_SOCKET, L_NEXT);
	JEQ(SYS_seccomp, trap == TW_TRAP_NOTIFY ? L_SECCOMP : L_ALLOW, L_NEXT);
	JEQ(SYS_setsockopt, L_SETSOCKOPT, L_NEXT);
	JGE(425, L_NEXT, L_ALLOW); /* io_uring_setup, _enter, _register: the same numbers everywhere */
	JGT(427, L_ALLOW, L_ENOSYS);

	label(p, L_COOKIE3);
	cookie_check(p, 3, cookie);
	label(p, L_COOKIE4);
	cookie_check(p, 4, cookie);

	/* sendto only with an address (or MSG_FASTOPEN): send() on a connected socket is free. An address shorter
	 * than a sockaddr_in names no inet destination (udp_sendmsg and ping refuse it, UDPv6 reads AF_UNSPEC as
	 * none): netlink's 12-byte sockaddr_nl (glibc's getifaddrs, Go's interface list) passes in the kernel. */
	label(p, L_SENDTO);
	LD(ARG_LO(3));
	JSET(MSG_FASTOPEN, L_TRAP, L_NEXT);
	LD(ARG_LO(4));
	JEQ(0, L_NEXT, L_SENDTO_LEN);
	LD(ARG_HI(4));
	JEQ(0, L_ALLOW, L_NEXT);
	label(p, L_SENDTO_LEN);
	LD(ARG_LO(5));
	JGE(sizeof(struct sockaddr_in), L_TRAP, L_ALLOW);

	/* Under the supervisor, seccomp() may add filters, but not one with a listener of its own: a newer filter's
	 * USER_NOTIF wins over ours, and its listener could answer the program's own calls with CONTINUE. (Under
	 * the EPERM filter nothing can: ERRNO outranks every USER_NOTIF.) */
	label(p, L_SECCOMP);
	LD(ARG_LO(1));
	JSET(SECCOMP_FILTER_FLAG_NEW_LISTENER, L_EPERM, L_ALLOW);

	/* A source route (IP options LSRR/SSRR, an IPv6 routing header) sends every packet of the socket to its
	 * first hop instead of the destination connect() decided: a SYN to an allowed or loopback address went out
	 * to any address. Refused as socket options; sendmsg's ancillary data is checked by its front ends. */
	label(p, L_SETSOCKOPT);
	sockopt_rules(p);

	label(p, L_SOCKET);
	socket_rules(p);

	label(p, L_OTHER_ARCH); /* A still holds the architecture */
#ifdef TW_COMPAT_ARCH
	JEQ(TW_COMPAT_ARCH, L_NEXT, L_ENOSYS);
	LD(offsetof(struct seccomp_data, nr));
	/* i386: socketcall, sendmmsg, seccomp, the socket calls (socket 359 to shutdown 373: a socket made in the
	 * 64-bit ABI could take a source route through the i386 setsockopt), io_uring_* */
	JEQ(102, L_ENOSYS, L_NEXT);
	JEQ(345, L_ENOSYS, L_NEXT);
	JEQ(354, L_ENOSYS, L_NEXT);
	JGE(359, L_NEXT, L_ALLOW);
	JGT(373, L_NEXT, L_ENOSYS);
	JGE(425, L_NEXT, L_ALLOW);
	JGT(427, L_ALLOW, L_ENOSYS);
#else
	RET(SECCOMP_RET_ERRNO | ENOSYS);
#endif
	label(p, L_ALLOW);
	RET(SECCOMP_RET_ALLOW);
	label(p, L_TRAP);
	RET(trap == TW_TRAP_NOTIFY ? SECCOMP_RET_USER_NOTIF : (SECCOMP_RET_ERRNO | EPERM));
	label(p, L_EPERM);
	RET(SECCOMP_RET_ERRNO | EPERM);
	label(p, L_ENOSYS);
	RET(SECCOMP_RET_ERRNO | ENOSYS);
}

int tw_filter_build(struct sock_filter *out, unsigned short *len, uint64_t cookie, enum tw_filter_trap trap)
{
	if (!socket_rules_expressible())
		return -EINVAL;
	struct bpf_asm a;
	memset(&a, 0, sizeof(a));
	program(&a, cookie, trap);
	if (resolve_jumps(&a) != 0)
		return -EINVAL;
	memcpy(out, a.f, (size_t)a.n * sizeof(a.f[0]));
	*len = (unsigned short)a.n;
	return 0;
}

/* Installs PROG on every thread of the process (should the library be loaded after one was started), or on this
 * one when another thread cannot follow. 0 or a negative errno. */
static int install_tsync(struct sock_fprog *prog)
{
	long r = tw_libc()->syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, prog);
	if (r == 0)
		return 0;
	if (r < 0 && errno != ESRCH && errno != EINVAL)
		return -errno;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog) == 0 ? 0 : -errno;
}

int tw_filter_install_eperm(uint64_t cookie)
{
	struct sock_filter f[TW_FILTER_MAX];
	struct sock_fprog prog = { .filter = f };
	int rc = tw_filter_build(f, &prog.len, cookie, TW_TRAP_EPERM);
	if (rc != 0)
		return rc;
	/* Without CAP_SYS_ADMIN, seccomp needs no_new_privs, which keeps setuid and setcap programs of the tree from
	 * gaining their privileges; a process that has the capability (root) installs the filter without it, so
	 * its setuid children keep working (in secure-execution mode, docs/leaks.md). */
	rc = install_tsync(&prog);
	if (rc == -EACCES) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
			return -errno;
		rc = install_tsync(&prog);
	}
	return rc;
}

#else

int tw_filter_install_eperm(uint64_t cookie)
{
	(void)cookie;
	return -ENOSYS;
}

int tw_filter_build(struct sock_filter *out, unsigned short *len, uint64_t cookie, enum tw_filter_trap trap)
{
	(void)out, (void)len, (void)cookie, (void)trap;
	return -ENOSYS;
}

#endif
