/* direct_libc.c: the real libc table for the statically linked wrapper (see common/libc.c).
 *
 * dlsym(RTLD_NEXT) finds nothing in a static binary, so without this table every socket call the wrapper makes
 * through tw_libc() (c-ares resolving tor-proxy in `torwrap check`) would fail with ENOSYS. The wrapper has no
 * hooks, so the public names here are libc's own functions.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/tw.h"

/* Only what the wrapper's own code reaches (c-ares's sockets, the SOCKS handshake); the rest stays NULL and
 * becomes common/libc.c's ENOSYS stubs, which keeps glibc's static NSS resolver out of the binary. */
const struct tw_libc tw_libc_direct = {
	.socket = socket,
	.connect = connect,
	.close = close,
	.sendto = sendto,
	.sendmsg = sendmsg,
	.recvfrom = recvfrom,
	.writev = writev,
	.write = write,
	.send = send,
	.getpeername = getpeername,
	.getsockopt = getsockopt,
	.read = read,
	.syscall = syscall, /* the log writer's raw openat, write and close */
};
