/* close.c: close, close_range, closefrom: forget what we remembered about the descriptors. The library keeps
 * no descriptor of its own open (the virtual map is a mapping), so programs that close everything (daemons,
 * ssh) cannot break it.
 */
#include <errno.h>

#include "shim.h"

TW_EXPORT int close(int fd)
{
	if (shim_fd_flags(fd))
		shim_fd_forget_range((unsigned)fd, (unsigned)fd);
	return tw_libc()->close(fd);
}

TW_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	int rc = tw_libc()->close_range(first, last, flags);
	if (rc == 0 && !(flags & 4 /* CLOSE_RANGE_CLOEXEC: nothing closed yet */))
		shim_fd_forget_range(first, last);
	return rc;
}

TW_EXPORT void closefrom(int lowfd)
{
	tw_libc()->closefrom(lowfd);
	if (lowfd >= 0)
		shim_fd_forget_range((unsigned)lowfd, ~0u);
}
