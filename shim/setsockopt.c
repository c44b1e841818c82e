/* setsockopt.c: setsockopt(): the options of tw_sockopt_refused (a source route: IPv4 options, an IPv6 routing
 * header) are refused, as the kernel filter refuses them: with one, every packet of the socket goes to the
 * route's first hop, not to the destination connect() decided. Every other option passes straight through.
 */
#include <errno.h>
#include <sys/socket.h>

#include "shim.h"

TW_EXPORT int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
	if (__builtin_expect(tw_sockopt_refused(level, name), 0)) {
		shim_config(); /* the log's level, format and file */
		struct tw_event ev = TW_EVENT("connect", NULL, "refuse", NULL);
		ev.err = EPERM;
		tw_log_event(TW_LOG_ERROR, ev, "setsockopt(level %d, option %d) refused: a source route would send the "
			     "socket's packets to its first hop, not to the destination decided", level, name);
		errno = EPERM;
		return -1;
	}
	return tw_libc()->setsockopt(fd, level, name, value, len);
}

int shim_hook_setsockopt(int fd, int level, int name, const void *value, socklen_t len) TW_HOOK_ALIAS(setsockopt);
