/* handlers.c: what the supervisor does with each trapped call (connect, sendto, sendmsg, sendmmsg), the way the
 * library's hooks serve libc's, every decision the routing engine's (route/):
 *
 *  - connect(): the decision is made on the address read from the program's memory, and the supervisor then
 *    performs the connect itself on the program's own socket (a pidfd_getfd duplicate shares the open file:
 *    options, O_NONBLOCK and epoll registrations all survive): through the SOCKS5 proxy (by name for virtual
 *    addresses, ATYP 3), directly for what policy allows, or not at all (EPERM). The program's call is answered
 *    with the outcome; an AF_INET/AF_INET6 call never continues in the kernel (SECCOMP_USER_NOTIF_FLAG_CONTINUE
 *    would re-read the address from the program's memory after the decision). A connect to a nameserver is
 *    redirected to the DNS responder (responder.c).
 *  - datagrams sent with an address: sent by the supervisor (from a copy) when the destination is allowed,
 *    else EPERM; TCP Fast Open with an address: EOPNOTSUPP (the destination is decided by connect()).
 *
 * What does continue in the kernel (SECCOMP_USER_NOTIF_FLAG_CONTINUE) is what no address can make leave:
 * sockets of other families (AF_UNIX, netlink), TCP sends without MSG_FASTOPEN (TCP ignores the address) and
 * sendmsg/sendmmsg without an address. Those decisions rest on the descriptor and on the msghdr as read; a
 * program racing itself on purpose (dup2 of a UDP socket over the descriptor, or an address written into the
 * msghdr by another thread, between the check and the kernel's own read) is outside what this defends: it
 * guards programs that leak by accident, as the library does. connect() never continues for inet sockets.
 *
 * Not done: getpeername() on a socket connected through the proxy reports the proxy (the library reports the
 * destination asked for).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "sv.h"

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

#define SV_DGRAM_MAX (1u << 20) /* the largest datagram (GSO included) the supervisor copies and sends */
#define SV_CONTROL_MAX 65536

static bool call_is_inet(const struct sv_call *c)
{
	return c->domain == AF_INET || c->domain == AF_INET6;
}

static bool call_is_tcp(const struct sv_call *c)
{
	return c->type == SOCK_STREAM && (c->protocol == IPPROTO_TCP || c->protocol == IPPROTO_MPTCP);
}

/* ---------------------------------------------------------------------------------------------- the proxy */

/* The calling thread, for the engine: the start of each log line, and its id as the process (the proxy connect
 * reads the real process id, for the isolation token, only when it needs it). */
static const struct route_caller *caller(const struct sv_call *c, struct route_caller *who, char *prefix,
					 size_t len)
{
	snprintf(prefix, len, "pid %d: ", (int)c->tid);
	who->pid = (long)c->tid;
	who->prefix = prefix;
	return who;
}

/* The program's socket becomes a connection through the proxy to TARGET, as the library's do. */
static int64_t proxy_connect(const struct sv_call *c, const struct socks5_target *target)
{
	struct route_caller who;
	char prefix[32];
	struct sockaddr_storage proxy;
	socklen_t plen;
	caller(c, &who, prefix, sizeof(prefix));
	pid_t tgid = sv_tgid_of(c->tid); /* a thread's streams share its process's token */
	if (tgid > 0)
		who.pid = (long)tgid;
	return route_proxy_connect(&sv.route, &who, c->sfd, c->domain, target, &proxy, &plen);
}

/* The log's event for a decision about the traced thread C's call to A:PORT (NAME when known). */
static struct tw_event call_event(const struct sv_call *c, const char *kind, const char *verdict, int err,
				  const struct resolver_addr *a, const char *name, uint16_t port, char *dest,
				  const struct policy_reason *why, char *rule)
{
	struct tw_event ev = TW_EVENT(kind,
				      name && name[0] ? route_dest_text(a, name, port, dest, ROUTE_DEST_MAX)
						      : route_direct_dest_text(a, port, dest, ROUTE_DEST_MAX),
				      verdict,
				      why ? route_rule_text(&sv.route, why, rule, ROUTE_RULE_MAX) : NULL);
	ev.err = err;
	ev.pid = (long)c->tid;
	return ev;
}

/* ---------------------------------------------------------------------------------------------- the calls */

/* Reads a sockaddr of ULEN bytes at UADDR as the kernel would take it. 0 or a negative errno. */
static int read_sockaddr(const struct sv_call *c, uint64_t uaddr, int64_t ulen, struct sockaddr_storage *ss,
			 socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (ulen < 0 || ulen > (int64_t)sizeof(*ss))
		return -EINVAL;
	*len = (socklen_t)ulen;
	int rc = sv_mem_read(c->tid, uaddr, ss, (size_t)ulen);
	return rc;
}

int64_t sv_on_connect(struct sv_call *c)
{
	const struct seccomp_data *d = &c->req->data;
	int rc = sv_call_take_fd(c, (int)d->args[0]);
	if (rc < 0)
		return rc;
	if (!call_is_inet(c))
		return SV_CONTINUE; /* AF_UNIX, netlink...: the socket's family cannot change, nor reach the network */
	struct sockaddr_storage ss;
	socklen_t len;
	if ((rc = read_sockaddr(c, d->args[1], (int)d->args[2], &ss, &len)) < 0)
		return rc;
	struct resolver_addr a;
	uint16_t port;
	/* AF_UNSPEC (dissolve the association) and malformed addresses: the kernel's answer, on our copy. */
	if (route_sockaddr_split((struct sockaddr *)&ss, len, &a, &port) != 0)
		return sv_connect_in_place(c->sfd, &ss, len);
	bool tcp = call_is_tcp(c);
	if (c->type == SOCK_STREAM && ss.ss_family != c->domain)
		return sv_connect_in_place(c->sfd, &ss, len); /* EAFNOSUPPORT from the kernel */

	char text[INET6_ADDRSTRLEN], dest_text[ROUTE_DEST_MAX], rule[ROUTE_RULE_MAX];
	if ((c->type == SOCK_DGRAM || tcp) && route_is_nameserver(&sv.route, &a, port)) {
		int64_t r = sv_redirect_dns(c);
		tw_log_event(TW_LOG_INFO, call_event(c, "connect", NULL, 0, &a, NULL, port, dest_text, NULL, rule),
			     "pid %d: connect %s:%u (%s): DNS, answered by torwrap's resolver", (int)c->tid,
			     route_addr_text(&a, text, sizeof(text)), port, tcp ? "TCP" : "UDP");
		return r;
	}

	char name[TW_NAME_MAX], prefix[32];
	struct route_caller who;
	struct policy_reason why;
	enum policy_verdict v = route_decide_addr_why(&sv.route, caller(c, &who, prefix, sizeof(prefix)),
						      (struct sockaddr *)&ss, len, name, &why);
	const char *dest = name[0] ? name : route_addr_text(&a, text, sizeof(text));
	if (v == POLICY_REFUSE)
		return -EPERM; /* logged by the engine */
	if (v == POLICY_DIRECT) {
		tw_log_event(TW_LOG_INFO, call_event(c, "connect", "direct", 0, &a, name, port, dest_text, &why, rule),
			     "pid %d: connect %s:%u: direct", (int)c->tid, dest, port);
		return sv_connect_in_place(c->sfd, &ss, len);
	}
	if (!tcp) {
		tw_log_event(TW_LOG_ERROR,
			     call_event(c, "connect", "refuse", EPERM, &a, name, port, dest_text, &why, rule),
			     "pid %d: connect %s:%u refused: only TCP can go through Tor", (int)c->tid, dest, port);
		return -EPERM;
	}
	struct socks5_target t;
	route_target(&a, port, name, &t);
	return proxy_connect(c, &t);
}

/* May a datagram of this socket go to SS? 0, or a negative errno (logged). */
static int datagram_check(const struct sv_call *c, const struct sockaddr_storage *ss, socklen_t len,
			  const char *verb)
{
	if (ss->ss_family != AF_INET && ss->ss_family != AF_INET6)
		return len < sizeof(sa_family_t) ? -EINVAL : -EAFNOSUPPORT;
	struct resolver_addr a;
	uint16_t port;
	if (route_sockaddr_split((const struct sockaddr *)ss, len, &a, &port) != 0)
		return -EINVAL;
	char text[INET6_ADDRSTRLEN], dest[ROUTE_DEST_MAX], rule[ROUTE_RULE_MAX];
	if (route_is_nameserver(&sv.route, &a, port)) {
		tw_log_event(TW_LOG_ERROR, call_event(c, "send", "refuse", EPERM, &a, NULL, port, dest, NULL, rule),
			     "pid %d: %s to the nameserver %s:%u refused: only queries on a connected socket are "
			     "answered (by torwrap)",
			     (int)c->tid, verb, route_addr_text(&a, text, sizeof(text)), port);
		return -EPERM;
	}
	char name[TW_NAME_MAX], prefix[32];
	struct route_caller who;
	struct policy_reason why;
	enum policy_verdict v = route_decide_addr_why(&sv.route, caller(c, &who, prefix, sizeof(prefix)),
						      (const struct sockaddr *)ss, len, name, &why);
	if (v == POLICY_DIRECT)
		return 0;
	if (v == POLICY_TOR) /* refusals are logged by the engine */
		tw_log_event(TW_LOG_ERROR, call_event(c, "send", "refuse", EPERM, &a, name, port, dest, &why, rule),
			     "pid %d: %s to %s:%u refused: only TCP can go through Tor", (int)c->tid, verb,
			     name[0] ? name : route_addr_text(&a, text, sizeof(text)), port);
	return -EPERM;
}

static int64_t refuse_fastopen(const struct sv_call *c)
{
	struct tw_event ev = TW_EVENT("connect", NULL, "refuse", NULL);
	ev.err = EOPNOTSUPP;
	ev.pid = (long)c->tid;
	tw_log_event(TW_LOG_ERROR, ev, "pid %d: TCP Fast Open with an address refused: connect() decides where a "
		     "connection goes", (int)c->tid);
	return -EOPNOTSUPP;
}

int64_t sv_on_sendto(struct sv_call *c)
{
	const struct seccomp_data *d = &c->req->data;
	uint64_t ubuf = d->args[1], ulen = d->args[2], udest = d->args[4];
	int flags = (int)d->args[3];
	int rc = sv_call_take_fd(c, (int)d->args[0]);
	if (rc < 0)
		return rc;
	if (!call_is_inet(c))
		return SV_CONTINUE;
	if (call_is_tcp(c)) /* without MSG_FASTOPEN, TCP ignores the address: nothing to decide */
		return (flags & MSG_FASTOPEN) ? refuse_fastopen(c) : SV_CONTINUE;
	if (udest == 0)
		return SV_CONTINUE;
	struct sockaddr_storage ss;
	socklen_t len;
	if ((rc = read_sockaddr(c, udest, (int)d->args[5], &ss, &len)) < 0)
		return rc;
	if ((rc = datagram_check(c, &ss, len, "sendto")) < 0)
		return rc;
	if (ulen > SV_DGRAM_MAX)
		return -EMSGSIZE;
	uint8_t *buf = malloc(ulen ? ulen : 1);
	if (buf == NULL)
		return -ENOMEM;
	int64_t r = sv_mem_read(c->tid, ubuf, buf, ulen);
	if (r == 0) {
		ssize_t n = sendto(c->sfd, buf, ulen, flags | MSG_NOSIGNAL, (struct sockaddr *)&ss, len);
		r = n >= 0 ? n : -errno;
	}
	free(buf);
	return r;
}

/* Sends the program's message UM (its pointers are the program's) from a copy, to NAME. */
static int64_t send_copied(const struct sv_call *c, const struct msghdr *um, const struct sockaddr_storage *name,
			   socklen_t namelen, int flags)
{
	if (um->msg_iovlen > IOV_MAX)
		return -EMSGSIZE;
	if (um->msg_controllen > SV_CONTROL_MAX)
		return -ENOBUFS;
	size_t niov = um->msg_iovlen;
	struct iovec *riov = calloc(niov ? niov : 1, sizeof(*riov));
	uint8_t *ctl = malloc(um->msg_controllen ? um->msg_controllen : 1);
	uint8_t *data = NULL;
	int64_t r = -ENOMEM;
	if (riov == NULL || ctl == NULL)
		goto out;
	if ((r = sv_mem_read(c->tid, (uint64_t)(uintptr_t)um->msg_iov, riov, niov * sizeof(*riov))) < 0 ||
	    (r = sv_mem_read(c->tid, (uint64_t)(uintptr_t)um->msg_control, ctl, um->msg_controllen)) < 0)
		goto out;
	size_t total = 0;
	for (size_t i = 0; i < niov; i++) {
		if (riov[i].iov_len > SV_DGRAM_MAX || (total += riov[i].iov_len) > SV_DGRAM_MAX) {
			r = -EMSGSIZE;
			goto out;
		}
	}
	r = -ENOMEM;
	if ((data = malloc(total ? total : 1)) == NULL)
		goto out;
	size_t off = 0;
	for (size_t i = 0; i < niov; i++) {
		if ((r = sv_mem_read(c->tid, (uint64_t)(uintptr_t)riov[i].iov_base, data + off, riov[i].iov_len)) < 0)
			goto out;
		off += riov[i].iov_len;
	}
	struct iovec iov = { .iov_base = data, .iov_len = total };
	struct msghdr m = {
		.msg_name = (void *)name,
		.msg_namelen = name ? namelen : 0,
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = um->msg_controllen ? ctl : NULL,
		.msg_controllen = um->msg_controllen,
	};
	ssize_t n = sendmsg(c->sfd, &m, flags | MSG_NOSIGNAL);
	r = n >= 0 ? n : -errno;
out:
	free(riov);
	free(ctl);
	free(data);
	return r;
}

int64_t sv_on_sendmsg(struct sv_call *c)
{
	const struct seccomp_data *d = &c->req->data;
	int flags = (int)d->args[2];
	struct msghdr um;
	int rc = sv_mem_read(c->tid, d->args[1], &um, sizeof(um));
	if (rc < 0)
		return rc;
	/* No address (the common case, on a connected socket): nothing to decide, and no descriptor to take. */
	if (um.msg_name == NULL || um.msg_namelen == 0)
		return SV_CONTINUE;
	if ((rc = sv_call_take_fd(c, (int)d->args[0])) < 0)
		return rc;
	if (!call_is_inet(c))
		return SV_CONTINUE;
	if (call_is_tcp(c))
		return (flags & MSG_FASTOPEN) ? refuse_fastopen(c) : SV_CONTINUE;
	struct sockaddr_storage ss;
	socklen_t len;
	/* The kernel truncates a longer name to a sockaddr_storage. */
	int64_t ulen = um.msg_namelen > sizeof(ss) ? (int64_t)sizeof(ss) : (int64_t)um.msg_namelen;
	if ((rc = read_sockaddr(c, (uint64_t)(uintptr_t)um.msg_name, ulen, &ss, &len)) < 0)
		return rc;
	if ((rc = datagram_check(c, &ss, len, "sendmsg")) < 0)
		return rc;
	return send_copied(c, &um, &ss, len, flags);
}

/* Reads and checks the address of each of the VLEN messages of VEC (the program's pointers) into NAMES/LENS.
 * 0 when every destination is allowed, else the refusal. */
static int64_t check_each_name(struct sv_call *c, const struct mmsghdr *vec, unsigned vlen,
			       struct sockaddr_storage *names, socklen_t *lens)
{
	for (unsigned i = 0; i < vlen; i++) {
		const struct msghdr *m = &vec[i].msg_hdr;
		if (m->msg_name == NULL || m->msg_namelen == 0)
			continue; /* to the connected peer: allowed when it was connected */
		int64_t ulen = m->msg_namelen > sizeof(names[i]) ? (int64_t)sizeof(names[i]) : (int64_t)m->msg_namelen;
		int64_t r = read_sockaddr(c, (uint64_t)(uintptr_t)m->msg_name, ulen, &names[i], &lens[i]);
		if (r == 0)
			r = datagram_check(c, &names[i], lens[i], "sendmmsg");
		if (r < 0)
			return r;
	}
	return 0;
}

/* Sends the VLEN checked messages in order, as the kernel would: each one's length goes to its msg_len in the
 * program's vector at UVEC. The count sent, or the first error when nothing was. */
static int64_t send_each(struct sv_call *c, uint64_t uvec, const struct mmsghdr *vec, unsigned vlen,
			 const struct sockaddr_storage *names, const socklen_t *lens, int flags)
{
	unsigned sent = 0;
	for (unsigned i = 0; i < vlen; i++) {
		const struct msghdr *m = &vec[i].msg_hdr;
		bool has = m->msg_name != NULL && m->msg_namelen != 0;
		int64_t n = send_copied(c, m, has ? &names[i] : NULL, lens[i], flags);
		if (n < 0)
			return sent ? (int64_t)sent : n;
		unsigned len32 = (unsigned)n;
		/* As the kernel: a message whose length cannot be written back is sent but not counted. */
		int w = sv_mem_write(c->tid, uvec + i * sizeof(*vec) + offsetof(struct mmsghdr, msg_len), &len32,
				     sizeof(len32));
		if (w < 0)
			return sent ? (int64_t)sent : (int64_t)w;
		sent++;
	}
	return sent;
}

/* A UDP sendmmsg with addresses, on the supervisor's copy of the socket (taken already). */
static int64_t sendmmsg_checked(struct sv_call *c, uint64_t uvec, const struct mmsghdr *vec, unsigned vlen,
				int flags)
{
	struct sockaddr_storage *names = calloc(vlen, sizeof(*names));
	socklen_t *lens = calloc(vlen, sizeof(*lens));
	int64_t r = -ENOMEM;
	if (names && lens && (r = check_each_name(c, vec, vlen, names, lens)) == 0)
		r = send_each(c, uvec, vec, vlen, names, lens, flags);
	free(names);
	free(lens);
	return r;
}

/* What to do with a sendmmsg whose messages VEC (VLEN, read) name their destinations: continue, or decide. */
static int64_t sendmmsg_named(struct sv_call *c, uint64_t uvec, const struct mmsghdr *vec, unsigned vlen,
			      int flags)
{
	int64_t r = sv_call_take_fd(c, (int)c->req->data.args[0]);
	if (r < 0)
		return r;
	if (!call_is_inet(c))
		return SV_CONTINUE;
	if (call_is_tcp(c))
		return (flags & MSG_FASTOPEN) ? refuse_fastopen(c) : SV_CONTINUE;
	return sendmmsg_checked(c, uvec, vec, vlen, flags);
}

int64_t sv_on_sendmmsg(struct sv_call *c)
{
	const struct seccomp_data *d = &c->req->data;
	uint64_t uvec = d->args[1];
	unsigned vlen = (unsigned)d->args[2];
	int flags = (int)d->args[3];
	if (vlen > UIO_MAXIOV)
		vlen = UIO_MAXIOV; /* as the kernel */
	if (vlen == 0)
		return SV_CONTINUE;
	struct mmsghdr *vec = calloc(vlen, sizeof(*vec));
	if (vec == NULL)
		return -ENOMEM;
	int64_t r = sv_mem_read(c->tid, uvec, vec, vlen * sizeof(*vec));
	bool named = false;
	for (unsigned i = 0; r == 0 && i < vlen; i++)
		named |= vec[i].msg_hdr.msg_name != NULL && vec[i].msg_hdr.msg_namelen != 0;
	/* Without any address (glibc's resolver sends its A and AAAA queries so, on a connected socket): continue. */
	if (r == 0)
		r = named ? sendmmsg_named(c, uvec, vec, vlen, flags) : SV_CONTINUE;
	free(vec);
	return r;
}
