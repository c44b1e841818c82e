/* socket.c: socket(): raw and packet sockets are refused at birth (nothing they send could go through Tor);
 * a new descriptor starts with no remembered state.
 */
#include <errno.h>
#include <sys/socket.h>

#include "shim.h"

#ifndef AF_PACKET
#define AF_PACKET 17
#endif

TW_EXPORT int socket(int domain, int type, int protocol)
{
	int base = type & 0xf; /* without SOCK_NONBLOCK / SOCK_CLOEXEC */
	if (domain == AF_PACKET || ((domain == AF_INET || domain == AF_INET6) && base == SOCK_RAW)) {
		tw_error("socket(%s) refused: raw packets cannot go through Tor",
			 domain == AF_PACKET ? "AF_PACKET" : "SOCK_RAW");
		errno = EPERM;
		return -1;
	}
	int fd = tw_libc()->socket(domain, type, protocol);
	if (fd >= 0)
		shim_fd_clear(fd, SHIM_FD_DNS | SHIM_FD_DNS_LENGTH | SHIM_FD_PROXIED);
	return fd;
}

int shim_hook_socket(int domain, int type, int protocol) TW_HOOK_ALIAS(socket);
