/* handlers.c: what the supervisor does with each trapped call (connect, sendto, sendmsg, sendmmsg), the way the
 * library's hooks serve libc's, every decision the routing engine's (route/).
 *
 * Every trapped call is performed by the supervisor itself, on its duplicate of the program's socket (taken with
 * pidfd_getfd, it shares the open file: options, O_NONBLOCK and epoll registrations all survive) and with what
 * it copied out of the program's memory; it decides on that copy and sends that copy. None continues in the
 * kernel: SECCOMP_USER_NOTIF_FLAG_CONTINUE would have the kernel read the program's memory (the sockaddr,
 * msg_name) and its descriptor table again after the decision, and a program racing itself (a thread writing an
 * address into a msghdr, dup2 of a UDP socket over the descriptor just checked) would send what was never
 * decided on.
 *
 *  - connect(), inet: decided on the address copied, then performed on the program's own socket: through the
 *    SOCKS5 proxy (by name for virtual addresses, ATYP 3), directly for what policy allows, or not at all
 *    (EPERM); a connect to a nameserver goes to the DNS responder (responder.c). Unix: the path looked up as the
 *    program would look it up (unixaddr.c). Any other family (netlink...): performed with the copy.
 *  - sendto, sendmsg, sendmmsg: an inet datagram's destination is what the kernel would read from the copy
 *    (route_datagram_dest: AF_UNSPEC is AF_INET on an IPv4 socket, no address on an IPv6 one), allowed or EPERM;
 *    TCP ignores the address, as the kernel does, but Fast Open with an address is refused (EOPNOTSUPP: connect()
 *    decides where a connection goes); everything else is sent as given (send.c), with or without an address.
 *
 * Performed by the supervisor, a call is checked by the kernel against the supervisor's credentials: where the
 * caller's differ (a program that dropped privileges), the call is made with the caller's (creds.c).
 *
 * Not done: getpeername() on a socket connected through the proxy reports the proxy (the library reports the
 * destination asked for).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/ip.h>
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
	return sv_mem_read(c, uaddr, ss, (size_t)ulen);
}

/* connect() on an inet socket: decided on the copy SS, performed on the program's own socket. */
static int64_t connect_inet(struct sv_call *c, const struct sockaddr_storage *ss, socklen_t len)
{
	struct resolver_addr a;
	uint16_t port;
	/* AF_UNSPEC (dissolve the association) and malformed addresses: the kernel's answer, on our copy. */
	if (route_sockaddr_split((const struct sockaddr *)ss, len, &a, &port) != 0)
		return sv_connect_in_place(c->sfd, ss, len);
	bool tcp = call_is_tcp(c);
	if (c->type == SOCK_STREAM && ss->ss_family != c->domain)
		return sv_connect_in_place(c->sfd, ss, len); /* EAFNOSUPPORT from the kernel */

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
						      (const struct sockaddr *)ss, len, name, &why);
	const char *dest = name[0] ? name : route_addr_text(&a, text, sizeof(text));
	if (v == POLICY_REFUSE)
		return -EPERM; /* logged by the engine */
	if (v == POLICY_DIRECT) {
		tw_log_event(TW_LOG_INFO, call_event(c, "connect", "direct", 0, &a, name, port, dest_text, &why, rule),
			     "pid %d: connect %s:%u: direct", (int)c->tid, dest, port);
		return sv_connect_in_place(c->sfd, ss, len);
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

/* connect() on any other socket: its family cannot change (the socket is our duplicate, whatever the program's
 * descriptor table says by now) and reaches no network; a Unix path is looked up as the program would. */
static int64_t connect_other(struct sv_call *c, const struct sockaddr_storage *ss, socklen_t len)
{
	struct sv_unix_addr u;
	int rc = sv_unix_prepare(c, ss, len, &u);
	if (rc == 0)
		rc = sv_call_as_caller(c);
	if (rc == 0)
		rc = sv_unix_resolve(&u);
	if (rc == 0)
		rc = sv_call_valid(c);
	int64_t r = rc < 0 ? rc : sv_connect_in_place(c->sfd, &u.ss, u.len);
	sv_unix_release(&u);
	return r;
}

int64_t sv_on_connect(struct sv_call *c)
{
	const struct seccomp_data *d = &c->req->data;
	int rc = sv_call_take_fd(c, (int)d->args[0]);
	if (rc < 0)
		return rc;
	struct sockaddr_storage ss;
	socklen_t len;
	if ((rc = read_sockaddr(c, d->args[1], (int)d->args[2], &ss, &len)) < 0 || (rc = sv_call_valid(c)) < 0)
		return rc;
	return call_is_inet(c) ? connect_inet(c, &ss, len) : connect_other(c, &ss, len);
}

/* May a datagram of this socket go to A:PORT (the destination the kernel reads from the copy)? 0, or a negative
 * errno (logged). */
static int datagram_check(const struct sv_call *c, const struct resolver_addr *a, uint16_t port, const char *verb)
{
	char text[INET6_ADDRSTRLEN], dest[ROUTE_DEST_MAX], rule[ROUTE_RULE_MAX];
	if (route_is_nameserver(&sv.route, a, port)) {
		tw_log_event(TW_LOG_ERROR, call_event(c, "send", "refuse", EPERM, a, NULL, port, dest, NULL, rule),
			     "pid %d: %s to the nameserver %s:%u refused: only queries on a connected socket are "
			     "answered (by torwrap)",
			     (int)c->tid, verb, route_addr_text(a, text, sizeof(text)), port);
		return -EPERM;
	}
	char name[TW_NAME_MAX], prefix[32];
	struct route_caller who;
	struct policy_reason why;
	struct sockaddr_storage ss;
	socklen_t len = route_sockaddr_make(a, port, a->family, &ss);
	enum policy_verdict v = route_decide_addr_why(&sv.route, caller(c, &who, prefix, sizeof(prefix)),
						      (const struct sockaddr *)&ss, len, name, &why);
	if (v == POLICY_DIRECT)
		return 0;
	if (v == POLICY_TOR) /* refusals are logged by the engine */
		tw_log_event(TW_LOG_ERROR, call_event(c, "send", "refuse", EPERM, a, name, port, dest, &why, rule),
			     "pid %d: %s to %s:%u refused: only TCP can go through Tor", (int)c->tid, verb,
			     name[0] ? name : route_addr_text(a, text, sizeof(text)), port);
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

/* A control message that would send a datagram to another address before the one decided on: -EPERM (the
 * engine's rule, route_cmsg_reroutes). */
static int routing_cmsg(struct cmsghdr *h, void *arg)
{
	(void)arg;
	return route_cmsg_reroutes(h->cmsg_level, h->cmsg_type, CMSG_DATA(h), h->cmsg_len - CMSG_LEN(0)) ? -EPERM : 0;
}

static int refuse_routing(const struct sv_call *c, struct sv_msg *m, const char *verb)
{
	int rc = m->ctllen ? sv_msg_each_cmsg(m, routing_cmsg, NULL) : 0;
	if (rc == -EPERM) {
		struct tw_event ev = TW_EVENT("send", NULL, "refuse", NULL);
		ev.err = EPERM;
		ev.pid = (long)c->tid;
		tw_log_event(TW_LOG_ERROR, ev, "pid %d: %s with a source route or a routing header refused: the datagram "
			     "would go to another address first", (int)c->tid, verb);
	}
	return rc;
}

/* What the message M may do on the caller's socket, decided on M's copy of the address: 0 to send it (for TCP
 * without the address, which the kernel ignores), or a negative errno (logged). */
static int decide_send(const struct sv_call *c, struct sv_msg *m, const char *verb)
{
	if (!call_is_inet(c))
		return 0; /* other families reach no network; a Unix path is looked up at the send (unixaddr.c) */
	if (call_is_tcp(c)) {
		if ((m->flags & MSG_FASTOPEN) && m->has_name)
			return (int)refuse_fastopen(c);
		m->has_name = false;
		return 0; /* TCP reads no routing option from control data */
	}
	int rc = refuse_routing(c, m, verb);
	if (rc < 0 || !m->has_name)
		return rc; /* without an address: to the connected peer, decided when it was connected */
	struct resolver_addr a;
	uint16_t port;
	int r = route_datagram_dest(c->domain, (const struct sockaddr *)&m->name, m->namelen, &a, &port);
	return r <= 0 ? r : datagram_check(c, &a, port, verb); /* 0: no destination, the connected peer */
}

int64_t sv_on_sendto(struct sv_call *c)
{
	const struct seccomp_data *d = &c->req->data;
	int rc = sv_call_take_fd(c, (int)d->args[0]);
	if (rc < 0)
		return rc;
	struct sv_msg m;
	memset(&m, 0, sizeof(m));
	m.flags = (int)d->args[3];
	/* sendto without an address is trapped only for MSG_FASTOPEN: refused on TCP, address or not. */
	if (call_is_tcp(c) && (m.flags & MSG_FASTOPEN))
		return refuse_fastopen(c);
	if (d->args[4] != 0) {
		if ((rc = read_sockaddr(c, d->args[4], (int)d->args[5], &m.name, &m.namelen)) < 0)
			return rc;
		m.has_name = true;
	}
	/* One iovec, the program's buffer: the kernel takes at most INT_MAX bytes. */
	struct iovec iov = { .iov_base = (void *)(uintptr_t)d->args[1],
			     .iov_len = d->args[2] > INT_MAX ? INT_MAX : (size_t)d->args[2] };
	m.iov = &iov;
	m.niov = 1;
	m.total = iov.iov_len;
	if ((rc = decide_send(c, &m, "sendto")) < 0)
		return rc;
	return sv_msg_send(c, &m); /* no sv_msg_free: nothing of M was allocated */
}

int64_t sv_on_sendmsg(struct sv_call *c)
{
	const struct seccomp_data *d = &c->req->data;
	int rc = sv_call_take_fd(c, (int)d->args[0]);
	if (rc < 0)
		return rc;
	struct msghdr um;
	if ((rc = sv_mem_read(c, d->args[1], &um, sizeof(um))) < 0)
		return rc;
	struct sv_msg m;
	int64_t r = sv_msg_read_name(c, &um, &m);
	m.flags = (int)d->args[2];
	if (r == 0)
		r = sv_msg_read_body(c, &um, &m);
	if (r == 0)
		r = decide_send(c, &m, "sendmsg");
	if (r == 0)
		r = sv_msg_send(c, &m);
	sv_msg_free(&m);
	return r;
}

/* Reads and decides the address of each of the VLEN messages of VEC (read) into MS: every destination is
 * decided before anything is sent, on the one copy that is sent. 0, or the first refusal. */
static int64_t decide_each(struct sv_call *c, const struct mmsghdr *vec, unsigned vlen, int flags, struct sv_msg *ms)
{
	for (unsigned i = 0; i < vlen; i++) {
		int64_t r = sv_msg_read_name(c, &vec[i].msg_hdr, &ms[i]);
		ms[i].flags = flags;
		if (r == 0)
			r = decide_send(c, &ms[i], "sendmmsg");
		if (r < 0)
			return r;
	}
	return 0;
}

/* Sends the VLEN decided messages in order, as the kernel would: each one's length goes to its msg_len in the
 * program's vector at UVEC, and a message sent in part ends the call. The count sent, or the first error when
 * nothing was. */
static int64_t send_each(struct sv_call *c, uint64_t uvec, const struct mmsghdr *vec, unsigned vlen,
			 struct sv_msg *ms)
{
	unsigned sent = 0;
	for (unsigned i = 0; i < vlen; i++) {
		int64_t n = sv_msg_read_body(c, &vec[i].msg_hdr, &ms[i]);
		if (n == 0)
			n = sv_msg_send(c, &ms[i]);
		bool whole = n >= 0 && (size_t)n == ms[i].total;
		sv_msg_free(&ms[i]);
		if (n < 0)
			return sent ? (int64_t)sent : n;
		unsigned len32 = (unsigned)n;
		/* As the kernel: a message whose length cannot be written back is sent but not counted. */
		int w = sv_mem_write(c, uvec + i * sizeof(*vec) + offsetof(struct mmsghdr, msg_len), &len32,
				     sizeof(len32));
		if (w < 0)
			return sent ? (int64_t)sent : (int64_t)w;
		sent++;
		if (!whole)
			break;
	}
	return sent;
}

int64_t sv_on_sendmmsg(struct sv_call *c)
{
	const struct seccomp_data *d = &c->req->data;
	uint64_t uvec = d->args[1];
	unsigned vlen = (unsigned)d->args[2];
	int flags = (int)d->args[3];
	int64_t r = sv_call_take_fd(c, (int)d->args[0]);
	if (r < 0 || vlen == 0)
		return r;
	if (vlen > UIO_MAXIOV)
		vlen = UIO_MAXIOV; /* as the kernel */
	struct mmsghdr *vec = calloc(vlen, sizeof(*vec));
	struct sv_msg *ms = calloc(vlen, sizeof(*ms));
	r = vec && ms ? sv_mem_read(c, uvec, vec, vlen * sizeof(*vec)) : -ENOMEM;
	if (r == 0)
		r = decide_each(c, vec, vlen, flags, ms);
	if (r == 0)
		r = send_each(c, uvec, vec, vlen, ms);
	free(vec);
	free(ms);
	return r;
}
