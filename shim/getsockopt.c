/* getsockopt.c: getsockopt(SO_ERROR) on a socket whose connect through Tor is pending (pending.c): the
 * connection's outcome as far as it is known, the proxy's unreachability or Tor's refusal included, and the
 * moment to send the SOCKS request when the connection to the proxy has just come up (event loops ask SO_ERROR
 * right when the socket turns writable). Every other call costs one flag test.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "shim.h"

TW_EXPORT int getsockopt(int fd, int level, int name, void *value, socklen_t *len)
{
	if (__builtin_expect(!(shim_fd_flags(fd) & SHIM_FD_PENDING), 1) || level != SOL_SOCKET || name != SO_ERROR ||
	    value == NULL || len == NULL || *len < sizeof(int))
		return tw_libc()->getsockopt(fd, level, name, value, len);
	int err = shim_pending_so_error(fd);
	if (err == 0)
		return tw_libc()->getsockopt(fd, level, name, value, len);
	memcpy(value, &err, sizeof(err));
	*len = sizeof(err);
	return 0;
}
