/* test_resolver.c: resolv.conf and hosts parsing, and the virtual address map (threads, fork, exec's fd). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../resolver/resolver.h"

static uint32_t ip4(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static const char *text4(uint32_t a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* ------------------------------------------------------------------------------------------- resolv.conf */

static void resolv_docker(void **state)
{
	(void)state;
	struct resolver_conf c;
	assert_int_equal(resolver_parse_resolv_conf("# Docker\nsearch example.com\nnameserver 127.0.0.11\n"
						    "options ndots:0\n", &c), 0);
	assert_int_equal(c.nns, 1);
	assert_int_equal(c.ns[0].family, AF_INET);
	assert_int_equal(c.ns[0].port, 53);
	assert_memory_equal(c.ns[0].addr, "\x7f\x00\x00\x0b", 4);
	assert_int_equal(c.nsearch, 1);
	assert_string_equal(c.search[0], "example.com");
	assert_int_equal(c.ndots, 0);
	/* The last of search and domain wins; names are normalised; ndots is at most 15 and 1 by default. */
	assert_int_equal(resolver_parse_resolv_conf("search a.example b.example\ndomain Corp.Example.\n"
						    "options rotate ndots:99 timeout:1\n", &c), 0);
	assert_int_equal(c.nsearch, 1);
	assert_string_equal(c.search[0], "corp.example");
	assert_int_equal(c.ndots, 15);
	assert_int_equal(resolver_parse_resolv_conf("search dns.podman x..y z\n", &c), 0);
	assert_int_equal(c.nsearch, 2);
	assert_string_equal(c.search[1], "z");
	assert_int_equal(c.ndots, 1);
}

static void resolv_ports_and_v6(void **state)
{
	(void)state;
	struct resolver_conf c;
	assert_int_equal(resolver_parse_resolv_conf("nameserver 127.0.0.1:5353\nnameserver ::1\n"
						    "nameserver [fd00::53]:5300\nnameserver fe80::1%eth0\n", &c), 0);
	assert_int_equal(c.nns, 4);
	assert_int_equal(c.ns[0].port, 5353);
	assert_int_equal(c.ns[1].family, AF_INET6);
	assert_int_equal(c.ns[1].port, 53);
	assert_int_equal(c.ns[2].port, 5300);
	assert_int_equal(c.ns[2].addr[0], 0xfd);
	assert_int_equal(c.ns[3].addr[0], 0xfe);
}

static void resolv_limits_and_junk(void **state)
{
	(void)state;
	struct resolver_conf c;
	assert_int_equal(resolver_parse_resolv_conf("", &c), 0);
	assert_int_equal(c.nns, 0);
	assert_int_equal(resolver_parse_resolv_conf("nameserver 1.1.1.1\nnameserver 1.1.1.2\nnameserver 1.1.1.3\n"
						    "nameserver 1.1.1.4\nnameserver 1.1.1.5\n", &c), 0);
	assert_int_equal(c.nns, RESOLVER_MAX_NAMESERVERS);
	assert_int_equal(resolver_parse_resolv_conf("nameserver\n", &c), -EINVAL);
	assert_int_equal(resolver_parse_resolv_conf("nameserver dns.example.com\n", &c), -EINVAL);
	assert_int_equal(resolver_parse_resolv_conf("nameserver 1.2.3.4:0\n", &c), -EINVAL);
	assert_int_equal(resolver_parse_resolv_conf("nameserver 1.2.3.4:99999\n", &c), -EINVAL);
	assert_int_equal(resolver_parse_resolv_conf("nameserver [::1\n", &c), -EINVAL);
	assert_int_equal(resolver_parse_resolv_conf("nameserver 300.1.1.1\n", &c), -EINVAL);
	/* comments and other keywords are not nameservers */
	assert_int_equal(resolver_parse_resolv_conf("#nameserver 1.1.1.1\n; nameserver 2.2.2.2\nnameservers x\n",
						    &c), 0);
	assert_int_equal(c.nns, 0);
	/* no trailing newline, CRLF, tabs */
	assert_int_equal(resolver_parse_resolv_conf("\tnameserver\t10.0.0.1 # c\r\nnameserver 10.0.0.2", &c), 0);
	assert_int_equal(c.nns, 2);
}

/* ------------------------------------------------------------------------------------------------- hosts */

static const char *hosts_text = "127.0.0.1\tlocalhost\n"
				"::1 localhost ip6-localhost ip6-loopback\n"
				"# 10.0.0.1 commented\n"
				"172.20.1.91 lucid-tron-client 3f2a9c1b # container\n"
				"172.20.1.92 Tron-Payout-Router\n"
				"fd00::5 v6only\n"
				"172.20.1.93 dup\n172.20.1.93 dup\n172.20.1.94 dup\n"
				"bogus-line-without-address\n"
				"999.1.1.1 badaddr\n";

static void hosts_lookup(void **state)
{
	(void)state;
	struct resolver_addr a[8];
	assert_int_equal(resolver_parse_hosts(hosts_text, "lucid-tron-client", AF_UNSPEC, a, 8), 1);
	assert_int_equal(a[0].family, AF_INET);
	assert_memory_equal(a[0].addr, "\xac\x14\x01\x5b", 4);
	assert_int_equal(resolver_parse_hosts(hosts_text, "3f2a9c1b", AF_INET, a, 8), 1);
	assert_int_equal(resolver_parse_hosts(hosts_text, "tron-payout-router", AF_INET, a, 8), 1); /* case */
	assert_int_equal(resolver_parse_hosts(hosts_text, "localhost", AF_UNSPEC, a, 8), 2);
	assert_int_equal(resolver_parse_hosts(hosts_text, "localhost", AF_INET6, a, 8), 1);
	assert_int_equal(a[0].family, AF_INET6);
	assert_int_equal(resolver_parse_hosts(hosts_text, "v6only", AF_INET, a, 8), 0);
	assert_int_equal(resolver_parse_hosts(hosts_text, "dup", AF_UNSPEC, a, 8), 2); /* duplicates folded */
	assert_int_equal(resolver_parse_hosts(hosts_text, "dup", AF_UNSPEC, a, 1), 1); /* max respected */
	assert_int_equal(resolver_parse_hosts(hosts_text, "commented", AF_UNSPEC, a, 8), 0);
	assert_int_equal(resolver_parse_hosts(hosts_text, "container", AF_UNSPEC, a, 8), 0);
	assert_int_equal(resolver_parse_hosts(hosts_text, "badaddr", AF_UNSPEC, a, 8), 0);
	assert_int_equal(resolver_parse_hosts(hosts_text, "api.trongrid.io", AF_UNSPEC, a, 8), 0);
	assert_int_equal(resolver_parse_hosts("", "x", AF_UNSPEC, a, 8), 0);
}

static void hosts_reverse(void **state)
{
	(void)state;
	struct resolver_addr a = { .family = AF_INET };
	char name[TW_NAME_MAX];
	memcpy(a.addr, "\xac\x14\x01\x5b", 4);
	assert_int_equal(resolver_parse_hosts_reverse(hosts_text, &a, name), 0);
	assert_string_equal(name, "lucid-tron-client");
	memcpy(a.addr, "\x0a\x00\x00\x01", 4);
	assert_int_equal(resolver_parse_hosts_reverse(hosts_text, &a, name), -ENOENT);
	struct resolver_addr b = { .family = AF_INET6 };
	b.addr[15] = 1;
	assert_int_equal(resolver_parse_hosts_reverse(hosts_text, &b, name), 0);
	assert_string_equal(name, "localhost");
}

static void hosts_long_words(void **state)
{
	(void)state;
	char text[2048];
	char longname[600];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	snprintf(text, sizeof(text), "10.0.0.1 %s short\n", longname);
	struct resolver_addr a[2];
	assert_int_equal(resolver_parse_hosts(text, "short", AF_UNSPEC, a, 2), 1);
	assert_int_equal(resolver_parse_hosts(text, longname, AF_UNSPEC, a, 2), 0);
}

/* ------------------------------------------------------------------------------------------- virtual map */

static int map_setup(void **state)
{
	(void)state;
	return vaddr_attach(ip4("127.192.0.0"), ip4("255.192.0.0")) == 0 ? 0 : -1;
}

static void vaddr_assigns_in_range(void **state)
{
	(void)state;
	uint32_t a, b, c;
	assert_int_equal(vaddr_lookup_name("api.trongrid.io", &a), 0);
	assert_int_equal(a & ip4("255.192.0.0"), ip4("127.192.0.0"));
	assert_int_not_equal(a, ip4("127.192.0.0")); /* never the network address */
	assert_int_equal(vaddr_lookup_name("api.trongrid.io", &b), 0);
	assert_int_equal(a, b); /* stable */
	assert_int_equal(vaddr_lookup_name("other.example", &c), 0);
	assert_int_not_equal(a, c);
	char name[TW_NAME_MAX];
	assert_int_equal(vaddr_lookup_addr(a, name), 0);
	assert_string_equal(name, "api.trongrid.io");
	assert_int_equal(vaddr_lookup_addr(c, name), 0);
	assert_string_equal(name, "other.example");
}

static void vaddr_unknown_and_invalid(void **state)
{
	(void)state;
	char name[TW_NAME_MAX];
	uint32_t a;
	assert_int_equal(vaddr_lookup_addr(ip4("127.255.255.254"), name), -ENOENT);
	assert_int_equal(vaddr_lookup_addr(ip4("127.192.0.0"), name), -ENOENT);
	assert_int_equal(vaddr_lookup_addr(ip4("10.0.0.1"), name), -ENOENT);
	assert_int_equal(vaddr_lookup_name("", &a), -EINVAL);
	char longname[TW_NAME_MAX + 1];
	memset(longname, 'x', TW_NAME_MAX);
	longname[TW_NAME_MAX] = '\0';
	assert_int_equal(vaddr_lookup_name(longname, &a), -EINVAL);
	char maxname[TW_NAME_MAX];
	memset(maxname, 'y', TW_NAME_MAX - 1);
	maxname[TW_NAME_MAX - 1] = '\0';
	assert_int_equal(vaddr_lookup_name(maxname, &a), 0);
	assert_int_equal(vaddr_lookup_addr(a, name), 0);
	assert_string_equal(name, maxname);
}

struct thread_arg {
	int id;
	uint32_t addr[200];
};

static void *thread_body(void *p)
{
	struct thread_arg *t = p;
	char name[64];
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "shared-%d.example", i); /* every thread races on the same names */
		if (vaddr_lookup_name(name, &t->addr[i]) != 0)
			t->addr[i] = 0;
	}
	return NULL;
}

static void vaddr_threads_agree(void **state)
{
	(void)state;
	enum { N = 16 };
	pthread_t th[N];
	static struct thread_arg args[N];
	for (int i = 0; i < N; i++) {
		args[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, thread_body, &args[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	for (int j = 0; j < 200; j++) {
		assert_int_not_equal(args[0].addr[j], 0);
		for (int i = 1; i < N; i++)
			assert_int_equal(args[i].addr[j], args[0].addr[j]);
		char name[TW_NAME_MAX], want[64];
		snprintf(want, sizeof(want), "shared-%d.example", j);
		assert_int_equal(vaddr_lookup_addr(args[0].addr[j], name), 0);
		assert_string_equal(name, want);
	}
}

static void vaddr_shared_with_fork(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		uint32_t a = 0;
		vaddr_lookup_name("made-by-child.example", &a);
		(void)!write(p[1], &a, sizeof(a));
		_exit(0);
	}
	uint32_t a = 0;
	assert_int_equal(read(p[0], &a, sizeof(a)), (ssize_t)sizeof(a));
	waitpid(pid, NULL, 0);
	char name[TW_NAME_MAX], buf[INET_ADDRSTRLEN];
	assert_int_equal(vaddr_lookup_addr(a, name), 0);
	assert_string_equal(name, "made-by-child.example");
	uint32_t b;
	assert_int_equal(vaddr_lookup_name("made-by-child.example", &b), 0);
	assert_int_equal(a, b);
	(void)text4(a, buf);
	close(p[0]);
	close(p[1]);
}

/* Runs this test binary again (a fresh process image, as after execve) with the map descriptor FD named in
 * TORWRAP_VMAP_FD, and returns the first line it prints. */
static int exec_child(int fd, const char *net, const char *mask, const char *op, const char *arg, char *out,
		      size_t outlen)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		char v[16];
		snprintf(v, sizeof(v), "%d", fd);
		setenv(VADDR_FD_ENV, v, 1);
		dup2(p[1], 1);
		execl("/proc/self/exe", "test_resolver", "--child", net, mask, op, arg, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	ssize_t n = read(p[0], out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int child_main(char **argv)
{
	if (vaddr_attach(ip4(argv[0]), ip4(argv[1])) != 0)
		return 10;
	uint32_t a;
	char name[TW_NAME_MAX], buf[INET_ADDRSTRLEN];
	if (strcmp(argv[2], "put") == 0) {
		if (vaddr_lookup_name(argv[3], &a) != 0)
			return 11;
		printf("%s\n", text4(a, buf));
		return 0;
	}
	if (strcmp(argv[2], "get") == 0) {
		if (vaddr_lookup_addr(ip4(argv[3]), name) != 0)
			return 12;
		printf("%s\n", name);
		return 0;
	}
	if (strcmp(argv[2], "fill") == 0) { /* a /24 holds 254 names, then ENOSPC: never an address reused */
		int i;
		for (i = 0; i < 1000; i++) {
			snprintf(name, sizeof(name), "fill-%d.example", i);
			if (vaddr_lookup_name(name, &a) != 0)
				break;
		}
		printf("%d %d\n", i, vaddr_lookup_name("one-more.example", &a));
		return 0;
	}
	return 13;
}

static void vaddr_shared_across_exec(void **state)
{
	(void)state;
	int fd = vaddr_create_fd(ip4("127.100.0.0"), ip4("255.255.0.0"));
	assert_true(fd >= 0);
	char addr[64], name[TW_NAME_MAX], again[64];
	assert_int_equal(exec_child(fd, "127.100.0.0", "255.255.0.0", "put", "exec.example", addr, sizeof(addr)),
			 0);
	assert_true(strncmp(addr, "127.100.", 8) == 0);
	assert_int_equal(exec_child(fd, "127.100.0.0", "255.255.0.0", "get", addr, name, sizeof(name)), 0);
	assert_string_equal(name, "exec.example");
	assert_int_equal(exec_child(fd, "127.100.0.0", "255.255.0.0", "put", "exec.example", again, sizeof(again)),
			 0);
	assert_string_equal(again, addr);
	/* a map made for another range is not adopted: the child starts its own, where the address is unknown */
	assert_int_equal(exec_child(fd, "127.101.0.0", "255.255.0.0", "get", addr, name, sizeof(name)), 12);
	close(fd);
	assert_int_equal(vaddr_create_fd(ip4("127.0.0.0"), ip4("255.255.255.254")), -EINVAL);
}

static void vaddr_small_range_fills(void **state)
{
	(void)state;
	int fd = vaddr_create_fd(ip4("127.200.1.0"), ip4("255.255.255.0"));
	assert_true(fd >= 0);
	char out[64];
	assert_int_equal(exec_child(fd, "127.200.1.0", "255.255.255.0", "fill", "-", out, sizeof(out)), 0);
	char want[64];
	snprintf(want, sizeof(want), "254 %d", -ENOSPC);
	assert_string_equal(out, want);
	close(fd);
}

/* A reply to "Example.ORG A" (ID 0xbeef): the question, then a CNAME, an A (compressed owner), an AAAA. */
static const uint8_t reply_example[] = {
	0xbe, 0xef, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0,
	7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'O', 'R', 'G', 0, 0, 1, 0, 1,
	0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 0x0c,
	0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7,
	0xc0, 0x0c, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7,
};

static void dns_reply_checked_and_read(void **state)
{
	(void)state;
	struct resolver_dns_question q = { .id = 0xbeef, .qtype = 1, .qclass = 1 };
	strcpy(q.name, "example.org");
	assert_true(resolver_dns_reply_answers(reply_example, sizeof(reply_example), &q));
	struct resolver_dns_question other = q;
	other.id = 0xbeee; /* a forged reply that guessed the question but not the ID */
	assert_false(resolver_dns_reply_answers(reply_example, sizeof(reply_example), &other));
	other = q;
	strcpy(other.name, "example.com"); /* the right ID for another question */
	assert_false(resolver_dns_reply_answers(reply_example, sizeof(reply_example), &other));
	other = q;
	other.qtype = 28;
	assert_false(resolver_dns_reply_answers(reply_example, sizeof(reply_example), &other));
	assert_false(resolver_dns_reply_answers(reply_example, 20, &q)); /* cut inside the question */

	struct resolver_addr a[4];
	assert_int_equal(resolver_dns_reply_addrs(reply_example, sizeof(reply_example), a, 4), 2);
	assert_int_equal(a[0].family, AF_INET);
	assert_memory_equal(a[0].addr, ((uint8_t[]){ 192, 0, 2, 7 }), 4);
	assert_int_equal(a[1].family, AF_INET6);
	assert_int_equal(a[1].addr[15], 7);
	assert_int_equal(resolver_dns_reply_addrs(reply_example, sizeof(reply_example), a, 1), 1);
	/* Cut inside the AAAA record: what came before it still counts. */
	assert_int_equal(resolver_dns_reply_addrs(reply_example, sizeof(reply_example) - 1, a, 4), 1);
	uint8_t nx[sizeof(reply_example)];
	memcpy(nx, reply_example, sizeof(nx));
	nx[3] = 0x83;
	assert_int_equal(resolver_dns_reply_addrs(nx, sizeof(nx), a, 4), -ENOENT);
	nx[3] = 0x80;
	nx[2] = 0x01; /* a query, not a reply */
	assert_int_equal(resolver_dns_reply_addrs(nx, sizeof(nx), a, 4), -EAGAIN);
	assert_false(resolver_dns_reply_answers(nx, sizeof(nx), &q));
}

/* A query for an allowed name that carries more than its question: a secret name in the authority and the
 * additional sections and an EDNS option; rebuilt, only the question (with its case) and a clean OPT remain. */
static void dns_query_rebuilt_from_question(void **state)
{
	(void)state;
	static const uint8_t q[] = {
		0x12, 0x34, 0x01, 0x30, 0, 1, 0, 0, 0, 1, 0, 2,
		3, 'D', 'b', '1', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1, /* Db1.test A IN */
		6, 's', 'e', 'c', 'r', 'e', 't', 3, 'c', 'o', 'm', 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, /* NS, authority */
		0xc0, 0x1a, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4, /* secret.com A, additional */
		0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 10, 0, 10, 0, 6, 's', 'e', 'c', 'r', 'e', 't', /* OPT + option */
	};
	uint8_t out[512];
	ssize_t n = resolver_dns_rebuild_query(q, sizeof(q), 0xabcd, out, sizeof(out));
	static const uint8_t want[] = {
		0xab, 0xcd, 0x01, 0x30, 0, 1, 0, 0, 0, 0, 0, 1,
		3, 'D', 'b', '1', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1,
		0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0,
	};
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_null(memmem(out, (size_t)n, "secret", 6));

	uint8_t m[sizeof(q)];
	memcpy(m, q, sizeof(q));
	m[2] = 0x29; /* opcode UPDATE */
	assert_int_equal(resolver_dns_rebuild_query(m, sizeof(m), 1, out, sizeof(out)), -EBADMSG);
	memcpy(m, q, sizeof(q));
	m[5] = 2; /* two questions */
	assert_int_equal(resolver_dns_rebuild_query(m, sizeof(m), 1, out, sizeof(out)), -EBADMSG);
	/* Without EDNS: the question alone, even when the rest of the message cannot be read. */
	n = resolver_dns_rebuild_query(q, 30, 7, out, sizeof(out));
	assert_int_equal(n, 26);
	assert_int_equal(out[11], 0);
	assert_int_equal(resolver_dns_rebuild_query(q, sizeof(q), 1, out, 30), -ENOBUFS);
}

/* ------------------------------------------------------------------ a lookup whose AAAA answer never comes */

/* A nameserver on 127.0.0.1 that answers A questions (127.0.0.9) and never AAAA ones, as a container's
 * nameserver can, until *stop. */
struct half_ns {
	int fd;
	volatile int stop;
};

static void *half_ns_run(void *arg)
{
	struct half_ns *ns = arg;
	while (!ns->stop) {
		struct pollfd p = { .fd = ns->fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		uint8_t q[512], r[600];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(ns->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		if (n < 17 || n > 500 || q[n - 4] != 0 || q[n - 3] != RESOLVER_DNS_A)
			continue; /* AAAA (and anything else): silence */
		static const uint8_t answer[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 9 };
		memcpy(r, q, (size_t)n);
		r[2] = 0x81, r[3] = 0x80, r[6] = 0, r[7] = 1; /* a response, one answer */
		r[8] = r[9] = r[10] = r[11] = 0;
		memcpy(r + n, answer, sizeof(answer));
		sendto(ns->fd, r, (size_t)n + sizeof(answer), 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

/* c-ares leaves the sockets of user socket functions as they were made: they must be non-blocking, or c-ares's
 * read loop, after the A answer, waits in recvfrom for the AAAA one forever, past every timeout (seen in the
 * compose test: a Python service hung in getaddrinfo("lucid-mongodb") after its nameserver dropped a reply). */
static void lookup_survives_a_lost_answer(void **state)
{
	(void)state;
	struct half_ns ns = { .fd = socket(AF_INET, SOCK_DGRAM, 0) };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	assert_int_equal(bind(ns.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(ns.fd, (struct sockaddr *)&sin, &sl), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, half_ns_run, &ns), 0);
	char resolv[64];
	snprintf(resolv, sizeof(resolv), "nameserver 127.0.0.1:%u\n", ntohs(sin.sin_port));
	alarm(120); /* a hang is the failure: SIGALRM ends the test */
	struct resolver_addr out[4];
	int n = resolver_local_lookup(resolv, "", "svc.half.test", 0, out, 4);
	alarm(0);
	ns.stop = 1;
	pthread_join(t, NULL);
	close(ns.fd);
	assert_true(n >= 1);
	assert_int_equal(out[0].family, AF_INET);
	assert_memory_equal(out[0].addr, ((uint8_t[]){ 127, 0, 0, 9 }), 4);
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "--child") == 0)
		return child_main(argv + 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(resolv_docker),
		cmocka_unit_test(resolv_ports_and_v6),
		cmocka_unit_test(resolv_limits_and_junk),
		cmocka_unit_test(hosts_lookup),
		cmocka_unit_test(hosts_reverse),
		cmocka_unit_test(hosts_long_words),
		cmocka_unit_test(vaddr_assigns_in_range),
		cmocka_unit_test(vaddr_unknown_and_invalid),
		cmocka_unit_test(vaddr_threads_agree),
		cmocka_unit_test(vaddr_shared_with_fork),
		cmocka_unit_test(vaddr_shared_across_exec),
		cmocka_unit_test(vaddr_small_range_fills),
		cmocka_unit_test(dns_reply_checked_and_read),
		cmocka_unit_test(dns_query_rebuilt_from_question),
		cmocka_unit_test(lookup_survives_a_lost_answer),
	};
	return cmocka_run_group_tests(tests, map_setup, NULL);
}
