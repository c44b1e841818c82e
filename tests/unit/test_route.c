/* test_route.c: the routing engine (route/), table-driven: the cases the library's hooks and the supervisor
 * both hand it, through one context as either front end builds it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../route/route.h"

static struct tw_config cfg;
static struct resolver_conf ns;
static _Atomic uint64_t seq;
static struct route_ctx ctx;
static const struct route_caller who = { .pid = 1, .prefix = "test: " };
static char policy_path[] = "/tmp/torwrap-test-route-XXXXXX";
static char hosts_path[] = "/tmp/torwrap-test-route-hosts-XXXXXX";

static const char *env_of(const char *name, void *c)
{
	(void)c;
	if (strcmp(name, "TORWRAP_POLICY") == 0)
		return policy_path;
	if (strcmp(name, "TORWRAP_HOSTS") == 0)
		return hosts_path;
	if (strcmp(name, "TORWRAP_RESOLV_CONF") == 0)
		return "/dev/null";
	if (strcmp(name, "TORWRAP_LOG_LEVEL") == 0)
		return "none";
	return NULL;
}

static void write_file(char *path, const char *text)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	write_file(policy_path, "tron-wallet-manager\nlucid-mongodb port 27017\n172.20.1.91-98\n"
				"refuse 198.51.100.66\nrefuse blocked.example.com\n");
	write_file(hosts_path, "127.0.0.1 localhost\n172.20.1.93 tron-wallet-manager\n10.9.9.9 pinned.example.com\n"
			       "10.9.9.8 pinned.onion\n");
	if (config_build(&cfg, env_of, NULL) != 0 || cfg.broken)
		return -1;
	tw_log_set_level(TW_LOG_NONE);
	resolver_parse_resolv_conf("nameserver 127.0.0.11\nnameserver 10.0.0.2:5353\n", &ns);
	ctx = (struct route_ctx){ .cfg = &cfg, .ns = &ns, .io = &socks5_default_io, .connect = NULL, .conn_seq = &seq };
	return vaddr_attach(cfg.vnet_addr, cfg.vnet_mask) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	unlink(policy_path);
	unlink(hosts_path);
	config_free(&cfg);
	return 0;
}

static socklen_t sa4(const char *addr, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
	return sizeof(*sin);
}

static socklen_t sa6(const char *addr, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
	return sizeof(*sin6);
}

/* The virtual address route_lookup hands out for NAME, as text ("127.192.x.y"). */
static void virtual_of(const char *name, char out[INET_ADDRSTRLEN])
{
	struct resolver_addr a[4];
	assert_int_equal(route_lookup(&ctx, name, 0, AF_INET, a, 4), 1);
	inet_ntop(AF_INET, a[0].addr, out, INET_ADDRSTRLEN);
}

struct decide_case {
	const char *what;
	int family;
	const char *addr; /* "@NAME": the virtual address of NAME */
	uint16_t port;
	socklen_t len; /* 0: the whole sockaddr */
	enum policy_verdict want;
	const char *want_name; /* for TOR by name */
};

static const struct decide_case decide_cases[] = {
	{ "loopback", AF_INET, "127.0.0.1", 80, 0, POLICY_DIRECT, "" },
	{ "loopback v6", AF_INET6, "::1", 80, 0, POLICY_DIRECT, "" },
	{ "an internal address of the allowlist", AF_INET, "172.20.1.95", 8093, 0, POLICY_DIRECT, "" },
	{ "the same, v4-mapped on an IPv6 socket", AF_INET6, "::ffff:172.20.1.95", 8093, 0, POLICY_DIRECT, "" },
	{ "an external address: Tor, by address", AF_INET, "203.0.113.5", 443, 0, POLICY_TOR, "" },
	{ "an external IPv6 address", AF_INET6, "2001:db8::7", 443, 0, POLICY_TOR, "" },
	{ "an address the policy refuses", AF_INET, "198.51.100.66", 443, 0, POLICY_REFUSE, "" },
	{ "a virtual address: Tor, by name", AF_INET, "@api.example.com", 443, 0, POLICY_TOR, "api.example.com" },
	{ "a virtual address, v4-mapped", AF_INET6, "@api.example.com", 443, 0, POLICY_TOR, "api.example.com" },
	{ "a virtual address, 24-byte sockaddr_in6", AF_INET6, "@short.example.com", 443, 24, POLICY_TOR,
	  "short.example.com" },
	{ "a sockaddr_in6 shorter than 24 bytes", AF_INET6, "2001:db8::7", 443, 20, POLICY_REFUSE, "" },
	{ "a sockaddr_in shorter than 16 bytes", AF_INET, "203.0.113.5", 443, 8, POLICY_REFUSE, "" },
	{ "a virtual address never handed out", AF_INET, "127.255.255.254", 443, 0, POLICY_REFUSE, "" },
	{ "an address learned from an allowed name, on its port", AF_INET, "10.20.30.40", 27017, 0, POLICY_DIRECT,
	  "" },
	{ "the same address on another port: refused, never to Tor", AF_INET, "10.20.30.40", 80, 0, POLICY_REFUSE,
	  "" },
};

static void test_decide_addr(void **state)
{
	(void)state;
	uint8_t learned[16] = { 10, 20, 30, 40 };
	assert_int_equal(vaddr_remember_direct(AF_INET, learned, "lucid-mongodb"), 0);
	for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
		const struct decide_case *c = &decide_cases[i];
		char addr[INET6_ADDRSTRLEN + 8];
		if (c->addr[0] == '@') {
			char v[INET_ADDRSTRLEN];
			virtual_of(c->addr + 1, v);
			snprintf(addr, sizeof(addr), "%s%s", c->family == AF_INET6 ? "::ffff:" : "", v);
		} else {
			snprintf(addr, sizeof(addr), "%s", c->addr);
		}
		struct sockaddr_storage ss;
		socklen_t len = c->family == AF_INET ? sa4(addr, c->port, &ss) : sa6(addr, c->port, &ss);
		if (c->len)
			len = c->len;
		char name[TW_NAME_MAX] = "x";
		enum policy_verdict v = route_decide_addr(&ctx, &who, (struct sockaddr *)&ss, len, name);
		if (v != c->want || strcmp(name, c->want_name) != 0)
			fail_msg("%s: %s \"%s\", expected %s \"%s\"", c->what, policy_verdict_name(v), name,
				 policy_verdict_name(c->want), c->want_name);
	}
}

static void test_lookup(void **state)
{
	(void)state;
	struct resolver_addr a[RESOLVER_MAX_ADDRS];
	char text[INET6_ADDRSTRLEN];
	/* An allowed name from the hosts text: its own address, remembered as the name's. */
	assert_int_equal(route_lookup(&ctx, "tron-wallet-manager", 0, AF_INET, a, RESOLVER_MAX_ADDRS), 1);
	assert_string_equal(inet_ntop(AF_INET, a[0].addr, text, sizeof(text)), "172.20.1.93");
	char learned[TW_NAME_MAX];
	assert_int_equal(vaddr_direct_name(AF_INET, a[0].addr, learned), 0);
	assert_string_equal(learned, "tron-wallet-manager");
	/* An external name: a virtual address, the same one every time, in both families. */
	char v1[INET_ADDRSTRLEN], v2[INET_ADDRSTRLEN];
	virtual_of("Www.Example.COM.", v1);
	virtual_of("www.example.com", v2);
	assert_string_equal(v1, v2);
	assert_true(strncmp(v1, "127.", 4) == 0);
	assert_int_equal(route_lookup(&ctx, "www.example.com", 0, AF_INET6, a, RESOLVER_MAX_ADDRS), 1);
	assert_int_equal(a[0].family, AF_INET6);
	assert_true(IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a[0].addr));
	/* The hosts file is honoured for other names, but never for .onion. */
	assert_int_equal(route_lookup(&ctx, "pinned.example.com", 0, AF_INET, a, RESOLVER_MAX_ADDRS), 1);
	assert_string_equal(inet_ntop(AF_INET, a[0].addr, text, sizeof(text)), "10.9.9.9");
	virtual_of("pinned.onion", v1);
	assert_true(strncmp(v1, "127.", 4) == 0);
	/* Refused, malformed. */
	assert_int_equal(route_lookup(&ctx, "blocked.example.com", 0, AF_INET, a, RESOLVER_MAX_ADDRS), -EPERM);
	assert_int_equal(route_lookup(&ctx, "bad name", 0, AF_INET, a, RESOLVER_MAX_ADDRS), -ENOENT);
	assert_int_equal(route_lookup(&ctx, "x.example.com", 0, AF_INET, a, 0), -ENOSPC);
}

static void test_reverse(void **state)
{
	(void)state;
	char v[INET_ADDRSTRLEN], name[TW_NAME_MAX];
	virtual_of("reverse.example.com", v);
	struct resolver_addr a = { .family = AF_INET };
	inet_pton(AF_INET, v, a.addr);
	assert_int_equal(route_reverse(&ctx, &a, name), 0);
	assert_string_equal(name, "reverse.example.com");
	assert_int_equal(route_virtual_name(&ctx, &a, name), 0);
	/* An external address is answered from the hosts text only: no PTR query reveals it. */
	inet_pton(AF_INET, "203.0.113.5", a.addr);
	assert_int_equal(route_reverse(&ctx, &a, name), -ENOENT);
	assert_int_equal(route_virtual_name(&ctx, &a, name), -ENOENT);
	inet_pton(AF_INET, "10.9.9.9", a.addr);
	assert_int_equal(route_reverse(&ctx, &a, name), 0);
	assert_string_equal(name, "pinned.example.com");
}

static void test_nameservers_and_targets(void **state)
{
	(void)state;
	struct resolver_addr a = { .family = AF_INET };
	inet_pton(AF_INET, "10.0.0.2", a.addr);
	assert_true(route_is_nameserver(&ctx, &a, 53));
	assert_true(route_is_nameserver(&ctx, &a, 5353)); /* resolv.conf's address:port */
	assert_true(route_is_nameserver(&ctx, &a, 5354)); /* any port of a nameserver's address */
	struct resolver_addr other = { .family = AF_INET };
	inet_pton(AF_INET, "10.0.0.3", other.addr);
	assert_false(route_is_nameserver(&ctx, &other, 5353));
	assert_true(route_is_nameserver(&ctx, &other, 53));
	struct resolver_addr m = { .family = AF_INET6 };
	inet_pton(AF_INET6, "::ffff:10.0.0.2", m.addr);
	assert_true(route_is_nameserver(&ctx, &m, 5353));

	struct socks5_target t;
	route_target(&a, 80, "api.example.com", &t);
	assert_int_equal(t.atyp, 3);
	assert_string_equal(t.name, "api.example.com");
	route_target(&m, 80, "", &t);
	assert_int_equal(t.atyp, 1);
	assert_memory_equal(t.addr, a.addr, 4);
	struct resolver_addr v6 = { .family = AF_INET6 };
	inet_pton(AF_INET6, "2001:db8::7", v6.addr);
	route_target(&v6, 443, NULL, &t);
	assert_int_equal(t.atyp, 4);
	assert_int_equal(t.port, 443);

	struct sockaddr_storage ss;
	struct resolver_addr back;
	uint16_t port;
	socklen_t len = route_sockaddr_make(&a, 8080, AF_INET6, &ss); /* an IPv6 socket takes it v4-mapped */
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(route_sockaddr_split((struct sockaddr *)&ss, len, &back, &port), 0);
	assert_int_equal(port, 8080);
	assert_memory_equal(back.addr, m.addr, 16);
}

/* Datagram destinations as the kernel reads them: AF_UNSPEC is AF_INET on an IPv4 socket, no address on an IPv6
 * one; other families are the kernel's errors. */
static void test_datagram_dest(void **state)
{
	(void)state;
	struct sockaddr_in sin = { .sin_family = AF_UNSPEC, .sin_port = htons(9999) };
	inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr);
	struct resolver_addr a;
	uint16_t port;
	assert_int_equal(route_datagram_dest(AF_INET, (struct sockaddr *)&sin, sizeof(sin), &a, &port), 1);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(port, 9999);
	assert_memory_equal(a.addr, &sin.sin_addr, 4);
	assert_int_equal(route_datagram_dest(AF_INET6, (struct sockaddr *)&sin, sizeof(sin), &a, &port), 0);
	assert_int_equal(route_datagram_dest(AF_INET, (struct sockaddr *)&sin, 8, &a, &port), -EINVAL);
	sin.sin_family = AF_INET;
	assert_int_equal(route_datagram_dest(AF_INET6, (struct sockaddr *)&sin, sizeof(sin), &a, &port), 1);
	assert_int_equal(a.family, AF_INET);
	sin.sin_family = AF_UNIX;
	assert_int_equal(route_datagram_dest(AF_INET, (struct sockaddr *)&sin, sizeof(sin), &a, &port), -EAFNOSUPPORT);
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(53) };
	inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr);
	assert_int_equal(route_datagram_dest(AF_INET6, (struct sockaddr *)&sin6, sizeof(sin6), &a, &port), 1);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(route_datagram_dest(AF_INET6, (struct sockaddr *)&sin6, 20, &a, &port), -EINVAL);
	assert_int_equal(route_datagram_dest(AF_INET, (struct sockaddr *)&sin6, sizeof(sin6), &a, &port), -EAFNOSUPPORT);
}

/* Control data that sends a packet elsewhere first: a loose or strict source route (IP options), an IPv6 routing
 * header; other options (a timestamp) do not; an option whose length cannot be read counts as a route. */
static void test_source_routes(void **state)
{
	(void)state;
	const uint8_t lsrr[] = { 131, 7, 4, 198, 18, 0, 10, 1 };
	const uint8_t ssrr[] = { 1, 137, 7, 4, 198, 18, 0, 10 };
	const uint8_t timestamp[] = { 68, 8, 5, 0, 0, 0, 0, 0 }, nops[] = { 1, 1, 0, 137 }, cut[] = { 68, 12, 5 };
	assert_true(route_cmsg_reroutes(IPPROTO_IP, IP_RETOPTS, lsrr, sizeof(lsrr)));
	assert_true(route_cmsg_reroutes(IPPROTO_IP, IP_RETOPTS, ssrr, sizeof(ssrr)));
	assert_false(route_cmsg_reroutes(IPPROTO_IP, IP_RETOPTS, timestamp, sizeof(timestamp)));
	assert_false(route_cmsg_reroutes(IPPROTO_IP, IP_RETOPTS, nops, sizeof(nops))); /* the end comes first */
	/* An option running past the data: the kernel refuses such options (EINVAL) before anything is sent. */
	assert_false(route_cmsg_reroutes(IPPROTO_IP, IP_RETOPTS, cut, sizeof(cut)));
	const uint8_t unreadable[] = { 68 }; /* a type without its length: counted as a route */
	assert_true(route_cmsg_reroutes(IPPROTO_IP, IP_RETOPTS, unreadable, sizeof(unreadable)));
	assert_true(route_cmsg_reroutes(IPPROTO_IPV6, IPV6_RTHDR, NULL, 0));
	assert_false(route_cmsg_reroutes(IPPROTO_IP, IP_TTL, lsrr, sizeof(lsrr)));
	union {
		struct cmsghdr h;
		uint8_t buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(lsrr))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct msghdr m = { .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = IPPROTO_IP, c->cmsg_type = IP_TTL, c->cmsg_len = CMSG_LEN(sizeof(int));
	c = CMSG_NXTHDR(&m, c);
	c->cmsg_level = IPPROTO_IP, c->cmsg_type = IP_RETOPTS, c->cmsg_len = CMSG_LEN(sizeof(lsrr));
	memcpy(CMSG_DATA(c), lsrr, sizeof(lsrr));
	assert_true(route_control_reroutes(ctl.buf, sizeof(ctl.buf)));
	assert_false(route_control_reroutes(ctl.buf, CMSG_SPACE(sizeof(int)))); /* the TTL alone */
}

/* A query for NAME of TYPE, answered by the engine: the reply's length, or ROUTE_DNS_FORWARD/_DROP. */
static ssize_t ask(const char *name, uint16_t type, uint8_t *out, size_t outlen, struct resolver_dns_question *q)
{
	uint8_t query[512] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	int w = resolver_dns_name_to_wire(name, query + 12, sizeof(query) - 16);
	assert_true(w > 0);
	size_t len = 12 + (size_t)w;
	query[len++] = (uint8_t)(type >> 8);
	query[len++] = (uint8_t)type;
	query[len++] = 0;
	query[len++] = 1;
	return route_dns_answer(&ctx, query, len, q, out, outlen);
}

static void test_dns_answer(void **state)
{
	(void)state;
	uint8_t out[512];
	struct resolver_dns_question q;
	char v[INET_ADDRSTRLEN];
	virtual_of("dns.example.com", v);
	struct in_addr want;
	inet_pton(AF_INET, v, &want);
	ssize_t n = ask("dns.example.com", RESOLVER_DNS_A, out, sizeof(out), &q);
	assert_true(n > 16);
	assert_int_equal(out[3] & 0xf, 0);			/* NOERROR */
	assert_int_equal(out[7], 1);				/* one answer */
	assert_memory_equal(out + n - 4, &want, 4);		/* the virtual address, nothing sent */
	assert_int_equal(ask("tron-wallet-manager", RESOLVER_DNS_A, out, sizeof(out), &q), ROUTE_DNS_FORWARD);
	n = ask("blocked.example.com", RESOLVER_DNS_A, out, sizeof(out), &q);
	assert_true(n > 0);
	assert_int_equal(out[3] & 0xf, 5);			/* REFUSED */
	n = ask("dns.example.com", RESOLVER_DNS_AAAA, out, sizeof(out), &q);
	assert_true(n > 0);
	assert_int_equal(out[3] & 0xf, 0);			/* NODATA: no IPv6 virtual addresses */
	assert_int_equal(out[7], 0);
	char ptr[64];
	unsigned b[4];
	sscanf(v, "%u.%u.%u.%u", &b[0], &b[1], &b[2], &b[3]);
	snprintf(ptr, sizeof(ptr), "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
	n = ask(ptr, RESOLVER_DNS_PTR, out, sizeof(out), &q);
	assert_int_equal(out[7], 1);
	char wire[TW_NAME_MAX + 2];
	int w = resolver_dns_name_to_wire("dns.example.com", (uint8_t *)wire, sizeof(wire));
	assert_memory_equal(out + n - w, wire, (size_t)w);	/* the name behind the virtual address */
	assert_int_equal(ask("5.113.0.203.in-addr.arpa", RESOLVER_DNS_PTR, out, sizeof(out), &q) > 0, 1);
	assert_int_equal(out[3] & 0xf, 3);			/* NXDOMAIN: an external address is never asked about */
	uint8_t junk[3] = { 1, 2, 3 };
	assert_int_equal(route_dns_answer(&ctx, junk, sizeof(junk), &q, out, sizeof(out)), ROUTE_DNS_DROP);
}

/* Rendezvous hashing: a key's first choice is stable, keys spread, and losing an instance moves only its keys. */
static struct route_instance inst(int last)
{
	struct route_instance in = { .addr = { .family = AF_INET }, .port = 9050 };
	in.addr.addr[0] = 172, in.addr.addr[1] = 20, in.addr.addr[3] = (uint8_t)last;
	return in;
}

static void test_instances_order(void **state)
{
	(void)state;
	enum { KEYS = 3000 };
	int per[3] = { 0 }, moved_other = 0;
	for (int k = 0; k < KEYS; k++) {
		char token[32];
		snprintf(token, sizeof(token), "token-%d", k);
		uint64_t key = route_stream_key(token, 0);
		struct route_instance three[3] = { inst(1), inst(2), inst(3) }, again[3] = { inst(3), inst(1), inst(2) };
		route_instances_order(three, 3, key);
		route_instances_order(again, 3, key); /* the configured order does not matter */
		assert_memory_equal(&three[0], &again[0], sizeof(three[0]));
		per[three[0].addr.addr[3] - 1]++;
		struct route_instance two[2] = { inst(1), inst(2) }; /* instance 3 lost */
		route_instances_order(two, 2, key);
		if (three[0].addr.addr[3] != 3 && two[0].addr.addr[3] != three[0].addr.addr[3])
			moved_other++;
		else if (three[0].addr.addr[3] == 3)
			assert_int_equal(two[0].addr.addr[3], three[1].addr.addr[3]); /* its next choice */
	}
	assert_int_equal(moved_other, 0);
	for (int i = 0; i < 3; i++) /* about a third each */
		assert_true(per[i] > KEYS / 4 && per[i] < KEYS / 2);
	/* Without a token, each connection is a key of its own; a token is one key whatever the counter. */
	assert_true(route_stream_key(NULL, 1) != route_stream_key(NULL, 2));
	assert_true(route_stream_key("t", 1) == route_stream_key("t", 2));
}

/* The line route_log_outcome writes for RC/CODE (a proxy that accepted the connection), read back from a log
 * file, in OUT. */
static void outcome_line(int rc, int code, const struct sockaddr_storage *proxy, char *out, size_t outlen)
{
	char path[] = "/tmp/torwrap-test-route-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	tw_log_configure(TW_LOG_INFO, tw_log_parse_format("text"), path, NULL);
	route_log_outcome(&ctx, &who, "api.example.com:443", rc, code, true, "process-1", proxy);
	tw_log_configure(TW_LOG_NONE, tw_log_parse_format("text"), NULL, NULL);
	ssize_t n = read(fd, out, outlen - 1);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	out[n] = '\0';
}

/* The outcome's words: a success code with a malformed rest is said to be malformed, never "succeeded" next to
 * EPROTO (issue 30); a timeout names TOR_CONNECTIVITY_TIMEOUT, Tor's reply and the instance that went silent. */
static void test_outcome_words(void **state)
{
	(void)state;
	char line[2048];
	outcome_line(-EPROTO, 0x00, NULL, line, sizeof(line));
	assert_non_null(strstr(line, "failed (EPROTO)"));
	assert_non_null(strstr(line, "malformed reply"));
	assert_null(strstr(line, "succeeded"));
	outcome_line(-EHOSTUNREACH, 0x04, NULL, line, sizeof(line));
	assert_non_null(strstr(line, "Tor answered \"host unreachable"));
	struct sockaddr_storage proxy;
	sa4("127.0.0.1", 9050, &proxy);
	outcome_line(-ETIMEDOUT, -1, &proxy, line, sizeof(line));
	assert_non_null(strstr(line, "failed (ETIMEDOUT)"));
	assert_non_null(strstr(line, "waiting for Tor's reply"));
	assert_non_null(strstr(line, "TOR_CONNECTIVITY_TIMEOUT"));
	assert_non_null(strstr(line, "at 127.0.0.1:9050"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide_addr),
		cmocka_unit_test(test_instances_order),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_reverse),
		cmocka_unit_test(test_nameservers_and_targets),
		cmocka_unit_test(test_dns_answer),
		cmocka_unit_test(test_datagram_dest),
		cmocka_unit_test(test_source_routes),
		cmocka_unit_test(test_outcome_words),
	};
	return cmocka_run_group_tests_name("route", tests, setup, teardown);
}
