/* socket.c: socket(): the kinds of tw_socket_refused (raw, SCTP, inet SEQPACKET, and every family but inet,
 * Unix, netlink and AF_ALG: packet, XDP, VSOCK, RDS, TIPC...) are refused at birth, as the kernel filter under torwrap refuses them (nothing they send could go through Tor);
 * a new descriptor starts with no remembered state.
 */
#include <errno.h>
#include <sys/socket.h>

#include "shim.h"

TW_EXPORT int socket(int domain, int type, int protocol)
{
	if (tw_socket_refused(domain, type, protocol)) {
		shim_config(); /* the log's level, format and file */
		tw_error("socket(domain %d, type %d, protocol %d) refused: raw packets, SCTP and families other than "
			 "inet, Unix, netlink and AF_ALG cannot go through Tor", domain, type & 0xf, protocol);
		errno = EPERM;
		return -1;
	}
	int fd = tw_libc()->socket(domain, type, protocol);
	if (fd >= 0 && shim_fd_flags(fd)) /* a descriptor closed behind our back: what we knew of it is stale */
		shim_fd_forget_range((unsigned)fd, (unsigned)fd);
	return fd;
}

int shim_hook_socket(int domain, int type, int protocol) TW_HOOK_ALIAS(socket);
