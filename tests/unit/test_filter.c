/* test_filter.c: the kernel backstop's filter (common/filter.c), run here by a small classic-BPF interpreter
 * over the cases both front ends meet; the cookie helpers (common/gate.c) and the socket rules table.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "../../common/tw.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

#define COOKIE 0x1122334455667788ull

/* Runs the classic BPF program the way the kernel runs a seccomp filter over D (only the instructions
 * tw_filter_build emits). */
static uint32_t run_filter(const struct sock_filter *f, unsigned short n, const struct seccomp_data *d)
{
	uint32_t a = 0;
	for (unsigned pc = 0; pc < n; pc++) {
		const struct sock_filter *i = &f[pc];
		switch (i->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			assert_true(i->k + 4 <= sizeof(*d));
			memcpy(&a, (const char *)d + i->k, 4);
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= i->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += (a == i->k) ? i->jt : i->jf;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			pc += (a >= i->k) ? i->jt : i->jf;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			pc += (a > i->k) ? i->jt : i->jf;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			pc += (a & i->k) ? i->jt : i->jf;
			break;
		case BPF_RET | BPF_K:
			return i->k;
		default:
			fail_msg("instruction 0x%x not expected", i->code);
		}
	}
	fail_msg("fell off the end of the filter");
	return 0;
}

struct call {
	const char *what;
	uint32_t arch;
	int nr;
	uint64_t args[6];
	uint32_t with_cookie; /* expected under the NOTIFY filter with COOKIE */
};

#define TRAP 0xffffffffu /* stands for the trap action of the filter under test */
#define LISTENER 0xfffffffeu /* EPERM under the supervisor's filter, allowed under the EPERM one */

static const struct call calls[] = {
	{ "connect without the cookie (Go, static)", AUDIT_ARCH_X86_64, SYS_connect, { 3, 0x1000, 16, 0 }, TRAP },
	{ "connect with the cookie (the library)", AUDIT_ARCH_X86_64, SYS_connect, { 3, 0x1000, 16, COOKIE },
	  SECCOMP_RET_ALLOW },
	{ "connect with half the cookie", AUDIT_ARCH_X86_64, SYS_connect, { 3, 0x1000, 16, COOKIE & 0xffffffffu },
	  TRAP },
	{ "connect with the cookie in the wrong slot", AUDIT_ARCH_X86_64, SYS_connect, { 3, 0x1000, 16, 0, COOKIE },
	  TRAP },
	{ "sendmsg with the cookie", AUDIT_ARCH_X86_64, SYS_sendmsg, { 3, 0x1000, 0, COOKIE }, SECCOMP_RET_ALLOW },
	{ "sendmsg without", AUDIT_ARCH_X86_64, SYS_sendmsg, { 3, 0x1000, 0, 0 }, TRAP },
	{ "sendmmsg with the cookie (slot 4)", AUDIT_ARCH_X86_64, SYS_sendmmsg, { 3, 0x1000, 2, 0, COOKIE },
	  SECCOMP_RET_ALLOW },
	{ "sendmmsg with the cookie in slot 3 (its flags)", AUDIT_ARCH_X86_64, SYS_sendmmsg, { 3, 0x1000, 2, COOKIE },
	  TRAP },
	{ "sendto without an address", AUDIT_ARCH_X86_64, SYS_sendto, { 3, 0x1000, 10, 0, 0, 0 }, SECCOMP_RET_ALLOW },
	{ "sendto with an address", AUDIT_ARCH_X86_64, SYS_sendto, { 3, 0x1000, 10, 0, 0x2000, 16 }, TRAP },
	{ "sendto MSG_FASTOPEN", AUDIT_ARCH_X86_64, SYS_sendto, { 3, 0x1000, 10, MSG_FASTOPEN, 0, 0 }, TRAP },
	{ "sendto with an address above 4 GiB", AUDIT_ARCH_X86_64, SYS_sendto, { 3, 0x1000, 10, 0, 1ull << 32, 16 },
	  TRAP },
	{ "sendto with AF_UNSPEC's 16 bytes", AUDIT_ARCH_X86_64, SYS_sendto, { 3, 0x1000, 10, 0, 0x2000, 16 }, TRAP },
	{ "sendto with a netlink address (12 bytes)", AUDIT_ARCH_X86_64, SYS_sendto, { 3, 0x1000, 10, 0, 0x2000, 12 },
	  SECCOMP_RET_ALLOW },
	{ "sendto with a length that is negative as an int", AUDIT_ARCH_X86_64, SYS_sendto,
	  { 3, 0x1000, 10, 0, 0x2000, 0xfffffff0u }, TRAP },
	{ "sendto MSG_FASTOPEN with a short address", AUDIT_ARCH_X86_64, SYS_sendto,
	  { 3, 0x1000, 10, MSG_FASTOPEN, 0x2000, 2 }, TRAP },
	{ "seccomp: a filter with a listener", AUDIT_ARCH_X86_64, SYS_seccomp,
	  { SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC, 0x1000 }, LISTENER },
	{ "seccomp: a filter of the program's own", AUDIT_ARCH_X86_64, SYS_seccomp,
	  { SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, 0x1000 }, SECCOMP_RET_ALLOW },
	{ "i386 seccomp", AUDIT_ARCH_I386, 354, { 1, 8, 0 }, SECCOMP_RET_ERRNO | ENOSYS },
	{ "i386 setsockopt", AUDIT_ARCH_I386, 366, { 3, 0, 4 }, SECCOMP_RET_ERRNO | ENOSYS },
	{ "i386 shutdown", AUDIT_ARCH_I386, 373, { 3 }, SECCOMP_RET_ERRNO | ENOSYS },
	{ "i386 open (358 and below pass)", AUDIT_ARCH_I386, 5, { 0 }, SECCOMP_RET_ALLOW },
	{ "i386 system call 374", AUDIT_ARCH_I386, 374, { 0 }, SECCOMP_RET_ALLOW },
	{ "setsockopt IP_OPTIONS (a source route)", AUDIT_ARCH_X86_64, SYS_setsockopt, { 3, IPPROTO_IP, 4 },
	  SECCOMP_RET_ERRNO | EPERM },
	{ "setsockopt IPV6_RTHDR", AUDIT_ARCH_X86_64, SYS_setsockopt, { 3, IPPROTO_IPV6, 57 },
	  SECCOMP_RET_ERRNO | EPERM },
	{ "setsockopt IPV6_2292RTHDR", AUDIT_ARCH_X86_64, SYS_setsockopt, { 3, IPPROTO_IPV6, 5 },
	  SECCOMP_RET_ERRNO | EPERM },
	{ "setsockopt IPV6_2292PKTOPTIONS", AUDIT_ARCH_X86_64, SYS_setsockopt, { 3, IPPROTO_IPV6, 6 },
	  SECCOMP_RET_ERRNO | EPERM },
	{ "setsockopt IP_TOS", AUDIT_ARCH_X86_64, SYS_setsockopt, { 3, IPPROTO_IP, 1 }, SECCOMP_RET_ALLOW },
	{ "setsockopt SO_REUSEADDR (level 1, option 2)", AUDIT_ARCH_X86_64, SYS_setsockopt, { 3, SOL_SOCKET, 2 },
	  SECCOMP_RET_ALLOW },
	{ "setsockopt TCP_NODELAY (level 6, option 1)", AUDIT_ARCH_X86_64, SYS_setsockopt, { 3, IPPROTO_TCP, 1 },
	  SECCOMP_RET_ALLOW },
	{ "setsockopt IPV6_V6ONLY", AUDIT_ARCH_X86_64, SYS_setsockopt, { 3, IPPROTO_IPV6, 26 }, SECCOMP_RET_ALLOW },
	{ "socket AF_INET stream", AUDIT_ARCH_X86_64, SYS_socket, { AF_INET, SOCK_STREAM, 0 }, SECCOMP_RET_ALLOW },
	{ "socket AF_INET6 dgram, nonblocking", AUDIT_ARCH_X86_64, SYS_socket,
	  { AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0 }, SECCOMP_RET_ALLOW },
	{ "socket AF_UNIX seqpacket", AUDIT_ARCH_X86_64, SYS_socket, { AF_UNIX, SOCK_SEQPACKET, 0 },
	  SECCOMP_RET_ALLOW },
	{ "socket raw", AUDIT_ARCH_X86_64, SYS_socket, { AF_INET, SOCK_RAW, 1 }, SECCOMP_RET_ERRNO | EPERM },
	{ "socket packet", AUDIT_ARCH_X86_64, SYS_socket, { AF_PACKET, SOCK_DGRAM, 0 }, SECCOMP_RET_ERRNO | EPERM },
	{ "socket XDP", AUDIT_ARCH_X86_64, SYS_socket, { AF_XDP, SOCK_RAW, 0 }, SECCOMP_RET_ERRNO | EPERM },
	{ "socket VSOCK (to a VM's host)", AUDIT_ARCH_X86_64, SYS_socket, { 40, SOCK_STREAM, 0 },
	  SECCOMP_RET_ERRNO | EPERM },
	{ "socket TIPC", AUDIT_ARCH_X86_64, SYS_socket, { 30, SOCK_RDM, 0 }, SECCOMP_RET_ERRNO | EPERM },
	{ "socket Bluetooth", AUDIT_ARCH_X86_64, SYS_socket, { 31, SOCK_STREAM, 3 }, SECCOMP_RET_ERRNO | EPERM },
	{ "socket netlink (routes, interfaces)", AUDIT_ARCH_X86_64, SYS_socket, { AF_NETLINK, SOCK_RAW, 0 },
	  SECCOMP_RET_ALLOW },
	{ "socket AF_ALG (the kernel's crypto)", AUDIT_ARCH_X86_64, SYS_socket, { 38, SOCK_SEQPACKET, 0 },
	  SECCOMP_RET_ALLOW },
	{ "socket inet seqpacket", AUDIT_ARCH_X86_64, SYS_socket, { AF_INET, SOCK_SEQPACKET, 0 },
	  SECCOMP_RET_ERRNO | EPERM },
	{ "socket SCTP stream", AUDIT_ARCH_X86_64, SYS_socket, { AF_INET6, SOCK_STREAM, IPPROTO_SCTP },
	  SECCOMP_RET_ERRNO | EPERM },
	{ "io_uring_setup", AUDIT_ARCH_X86_64, 425, { 0 }, SECCOMP_RET_ERRNO | ENOSYS },
	{ "io_uring_register", AUDIT_ARCH_X86_64, 427, { 0 }, SECCOMP_RET_ERRNO | ENOSYS },
	{ "read (unrelated)", AUDIT_ARCH_X86_64, SYS_read, { 0 }, SECCOMP_RET_ALLOW },
	{ "system call 428 (after io_uring)", AUDIT_ARCH_X86_64, 428, { 0 }, SECCOMP_RET_ALLOW },
	{ "x32 socket", AUDIT_ARCH_X86_64, 0x40000000 | SYS_socket, { AF_INET, SOCK_STREAM, 0 },
	  SECCOMP_RET_ERRNO | ENOSYS },
	{ "i386 socketcall", AUDIT_ARCH_I386, 102, { 0 }, SECCOMP_RET_ERRNO | ENOSYS },
	{ "i386 socket", AUDIT_ARCH_I386, 359, { AF_INET, SOCK_STREAM, 0 }, SECCOMP_RET_ERRNO | ENOSYS },
	{ "i386 connect", AUDIT_ARCH_I386, 362, { 0 }, SECCOMP_RET_ERRNO | ENOSYS },
	{ "i386 read", AUDIT_ARCH_I386, 3, { 0 }, SECCOMP_RET_ALLOW },
	{ "another architecture", 0x12345678, SYS_read, { 0 }, SECCOMP_RET_ERRNO | ENOSYS },
};

static uint32_t expected(const struct call *c, uint32_t trap, bool cookie_given)
{
	if (c->with_cookie == TRAP)
		return trap;
	if (c->with_cookie == LISTENER)
		return trap == SECCOMP_RET_USER_NOTIF ? (SECCOMP_RET_ERRNO | EPERM) : SECCOMP_RET_ALLOW;
	/* Without a cookie, a call that passed only thanks to it is trapped too. */
	if (!cookie_given && c->with_cookie == SECCOMP_RET_ALLOW &&
	    (c->nr == SYS_connect || c->nr == SYS_sendmsg || c->nr == SYS_sendmmsg))
		return trap;
	return c->with_cookie;
}

static void check_filter(uint64_t cookie, enum tw_filter_trap mode)
{
	struct sock_filter f[TW_FILTER_MAX];
	unsigned short n = 0;
	assert_int_equal(tw_filter_build(f, &n, cookie, mode), 0);
	assert_true(n > 0 && n <= TW_FILTER_MAX);
	uint32_t trap = mode == TW_TRAP_NOTIFY ? SECCOMP_RET_USER_NOTIF : (SECCOMP_RET_ERRNO | EPERM);
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		struct seccomp_data d = { .nr = calls[i].nr, .arch = calls[i].arch };
		memcpy(d.args, calls[i].args, sizeof(d.args));
		uint32_t got = run_filter(f, n, &d), want = expected(&calls[i], trap, cookie != 0);
		if (got != want)
			fail_msg("%s: 0x%x, expected 0x%x (cookie %s, %s)", calls[i].what, got, want,
				 cookie ? "set" : "none", mode == TW_TRAP_NOTIFY ? "notify" : "eperm");
	}
}

static void test_filter_notify_with_cookie(void **state)
{
	(void)state;
	check_filter(COOKIE, TW_TRAP_NOTIFY);
}

static void test_filter_eperm_with_cookie(void **state)
{
	(void)state;
	check_filter(COOKIE, TW_TRAP_EPERM);
}

static void test_filter_without_cookie(void **state)
{
	(void)state;
	check_filter(0, TW_TRAP_NOTIFY);
	check_filter(0, TW_TRAP_EPERM);
}

static void test_socket_rules(void **state)
{
	(void)state;
	assert_false(tw_socket_refused(AF_INET, SOCK_STREAM, 0));
	assert_false(tw_socket_refused(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
	assert_false(tw_socket_refused(AF_UNIX, SOCK_SEQPACKET, 0));
	assert_false(tw_socket_refused(AF_NETLINK, SOCK_RAW, 0)); /* netlink raw sockets: routing, not packets */
	assert_true(tw_socket_refused(AF_INET, SOCK_RAW, IPPROTO_ICMP));
	assert_true(tw_socket_refused(AF_INET6, SOCK_RAW | SOCK_NONBLOCK, 0));
	assert_true(tw_socket_refused(AF_PACKET, SOCK_DGRAM, 0));
	assert_true(tw_socket_refused(AF_XDP, SOCK_RAW, 0));
	assert_true(tw_socket_refused(AF_INET, SOCK_SEQPACKET, 0));
	assert_true(tw_socket_refused(AF_INET, SOCK_STREAM, IPPROTO_SCTP));
	assert_true(tw_socket_refused(AF_INET, SOCK_PACKET, 0));
	assert_true(tw_socket_refused(40, SOCK_STREAM, 0)); /* AF_VSOCK */
	assert_true(tw_socket_refused(21, SOCK_SEQPACKET, 0)); /* AF_RDS */
	assert_false(tw_socket_refused(38, SOCK_SEQPACKET, 0)); /* AF_ALG */
	assert_false(tw_socket_refused(AF_UNIX, SOCK_DGRAM, 0));
}

static void test_cookie_text(void **state)
{
	(void)state;
	uint64_t c = 0, back = 0;
	char text[17];
	assert_int_equal(tw_gate_cookie_new(&c), 0);
	assert_true((uint32_t)c != 0 && (uint32_t)(c >> 32) != 0);
	tw_gate_cookie_text(c, text);
	assert_int_equal(strlen(text), 16);
	assert_int_equal(tw_gate_cookie_parse(text, &back), 0);
	assert_true(back == c);
	const char *bad[] = { NULL, "", "123", "00000000ffffffff", "ffffffff00000000", "1122334455667788aa",
			      "112233445566778G", "1122334455667788 ", "1122334455ABCDEF" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tw_gate_cookie_parse(bad[i], &back), -EINVAL);
	assert_int_equal(tw_gate_cookie_parse("1122334455667788", &back), 0);
	assert_true(back == COOKIE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_notify_with_cookie),
		cmocka_unit_test(test_filter_eperm_with_cookie),
		cmocka_unit_test(test_filter_without_cookie),
		cmocka_unit_test(test_socket_rules),
		cmocka_unit_test(test_cookie_text),
	};
	return cmocka_run_group_tests_name("filter", tests, NULL, NULL);
}
