/* proxy.c: the program's own socket becomes a connection through the SOCKS5 proxy (the engine's
 * route_proxy_connect), remembered so getpeername reports the destination asked for.
 *
 * The handshake runs on the program's descriptor (so every option it set survives and no data is relayed by
 * us), in one round trip (socks5/), bounded by TOR_CONNECTIVITY_TIMEOUT, and leaves the file status flags
 * exactly as the program set them, O_NONBLOCK included. A non-blocking socket therefore blocks here for at most
 * the timeout and then reports success at once (connect() returning 0 is allowed for non-blocking sockets).
 *
 * The SOCKS credentials carry the stream-isolation token (TORWRAP_ISOLATION, TOR_CIRCUIT_ROTATION_INTERVAL),
 * computed by policy_isolation_token(). Every failure is logged once, naming the cause in words a person can
 * act on, with the errno the program will see.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

int shim_proxy_connect(int fd, const struct socks5_target *target, const struct sockaddr *asked,
		       socklen_t asked_len)
{
	int domain;
	socklen_t dlen = sizeof(domain);
	if (tw_libc()->getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0)
		return -errno;
	struct route_caller who;
	struct sockaddr_storage proxy;
	socklen_t plen = 0;
	int rc = route_proxy_connect(shim_route(), shim_caller(&who, true), fd, domain, target, &proxy, &plen);
	if (rc == 0)
		shim_fd_set_peer(fd, asked, asked_len, (struct sockaddr *)&proxy, plen);
	return rc;
}
