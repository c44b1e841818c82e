/* local.c: resolution of allowed names (and the proxy's own name) on the machine: hosts text, then DNS.
 *
 * DNS goes through c-ares with a private channel per call (no shared state, so thread safe without locks) and
 * socket functions that call the real libc: c-ares must never enter our own connect()/socket() hooks. The
 * nameservers are the ones torwrap parsed, so what torwrap reports and what it queries are the same.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "resolver.h"

#define RESOLVER_TIMEOUT_MS 2500
#define RESOLVER_TRIES 2

/* Non-blocking, as c-ares makes its own sockets but not ones from socket functions: it reads a readable UDP
 * socket until it would block, so a blocking one waited in recvfrom, past every timeout, for a reply that never
 * came (a nameserver that answers A but drops AAAA). */
static ares_socket_t real_asocket(int domain, int type, int protocol, void *user)
{
	(void)user;
	return tw_libc()->socket(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
}

static void asked_set(int fd, const struct sockaddr *sa, socklen_t len);

static int real_aclose(ares_socket_t fd, void *user)
{
	(void)user;
	asked_set(fd, NULL, 0);
	return tw_libc()->close(fd);
}

/* Under `torwrap --strict` our sockets get no cookie: the supervisor connects those to a nameserver to its DNS
 * responder instead, and c-ares drops a reply whose source address is not the server's it asked. A connected
 * UDP socket hears its peer alone, so its replies are the server's: the nameserver each socket asked is kept
 * (a few sockets live at once, per lookup) to say so. */
#define ASKED_SLOTS 64
static struct {
	int fd;
	struct sockaddr_storage ns;
	socklen_t len;
} asked[ASKED_SLOTS];
static pthread_mutex_t asked_lock = PTHREAD_MUTEX_INITIALIZER;

static void asked_set(int fd, const struct sockaddr *sa, socklen_t len)
{
	pthread_mutex_lock(&asked_lock);
	int free_slot = -1;
	for (int i = 0; i < ASKED_SLOTS; i++) {
		if (asked[i].len && asked[i].fd == fd)
			asked[i].len = 0;
		if (!asked[i].len && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0 && sa && len > 0 && len <= sizeof(asked[0].ns)) {
		asked[free_slot].fd = fd;
		memcpy(&asked[free_slot].ns, sa, len);
		asked[free_slot].len = len;
	}
	pthread_mutex_unlock(&asked_lock);
}

/* A reply on FD that came from its connected peer, reported as from the nameserver FD was connected to. */
static void asked_unmask(int fd, struct sockaddr *from, ares_socklen_t *fromlen)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	if (from == NULL || fromlen == NULL || tw_libc()->getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
	    plen != *fromlen || memcmp(&peer, from, plen) != 0)
		return;
	pthread_mutex_lock(&asked_lock);
	for (int i = 0; i < ASKED_SLOTS; i++) {
		if (asked[i].len && asked[i].fd == fd && asked[i].len <= *fromlen) {
			memcpy(from, &asked[i].ns, asked[i].len);
			*fromlen = asked[i].len;
			break;
		}
	}
	pthread_mutex_unlock(&asked_lock);
}

static int real_aconnect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *user)
{
	(void)user;
	int rc = tw_gate_connect(fd, sa, len);
	if (rc == 0 || errno == EINPROGRESS) {
		int err = errno;
		asked_set(fd, sa, len);
		errno = err;
	}
	return rc;
}

static ares_ssize_t real_arecvfrom(ares_socket_t fd, void *buf, size_t len, int flags, struct sockaddr *from,
				   ares_socklen_t *fromlen, void *user)
{
	(void)user;
	ares_ssize_t n = tw_libc()->recvfrom(fd, buf, len, flags, from, fromlen);
	if (n >= 0)
		asked_unmask(fd, from, fromlen);
	return n;
}

static ares_ssize_t real_asendv(ares_socket_t fd, const struct iovec *iov, int iovcnt, void *user)
{
	(void)user;
	return tw_libc()->writev(fd, iov, iovcnt);
}

static const struct ares_socket_functions real_socket_functions = {
	.asocket = real_asocket,
	.aclose = real_aclose,
	.aconnect = real_aconnect,
	.arecvfrom = real_arecvfrom,
	.asendv = real_asendv,
};

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status = ARES_SUCCESS;

static void ares_global_init(void)
{
	ares_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* A channel that queries exactly the nameservers of RESOLV_TEXT (127.0.0.1 when it names none, as glibc). */
static int channel_open(const char *resolv_text, ares_channel *ch)
{
	pthread_once(&ares_once, ares_global_init);
	if (ares_init_status != ARES_SUCCESS)
		return -EAGAIN;

	struct resolver_conf conf;
	if (resolver_parse_resolv_conf(resolv_text ? resolv_text : "", &conf) != 0)
		return -EAGAIN;
	if (conf.nns == 0) {
		conf.ns[0].family = AF_INET;
		inet_pton(AF_INET, "127.0.0.1", conf.ns[0].addr);
		conf.ns[0].port = 53;
		conf.nns = 1;
	}

	struct ares_options opts;
	memset(&opts, 0, sizeof(opts));
	/* No search list: allowed names are looked up as written (Docker's DNS answers bare service names). */
	opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	opts.timeout = RESOLVER_TIMEOUT_MS;
	opts.tries = RESOLVER_TRIES;
	opts.lookups = (char *)"b"; /* the hosts text was already consulted */
	opts.ndomains = 0;
	opts.domains = NULL;
	opts.ndots = 1;
	/* A complete set of options: c-ares then skips reading /etc/resolv.conf on every lookup (the servers are
	 * set just below, from torwrap's own parse). */
	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS | ARES_OPT_DOMAINS |
		   ARES_OPT_SERVERS | ARES_OPT_SORTLIST | ARES_OPT_NDOTS;
	if (ares_init_options(ch, &opts, mask) != ARES_SUCCESS)
		return -EAGAIN;
	ares_set_socket_functions(*ch, &real_socket_functions, NULL);

	struct ares_addr_port_node nodes[RESOLVER_MAX_NAMESERVERS];
	memset(nodes, 0, sizeof(nodes));
	for (unsigned i = 0; i < conf.nns; i++) {
		nodes[i].next = i + 1 < conf.nns ? &nodes[i + 1] : NULL;
		nodes[i].family = conf.ns[i].family;
		memcpy(&nodes[i].addr, conf.ns[i].addr, conf.ns[i].family == AF_INET ? 4 : 16);
		nodes[i].udp_port = conf.ns[i].port;
		nodes[i].tcp_port = conf.ns[i].port;
	}
	if (tw_log_get_level() >= TW_LOG_DEBUG) {
		char text[INET6_ADDRSTRLEN];
		for (unsigned i = 0; i < conf.nns; i++)
			tw_debug("nameserver %s port %u", inet_ntop(conf.ns[i].family, conf.ns[i].addr, text,
								  sizeof(text)), conf.ns[i].port);
	}
	if (ares_set_servers_ports(*ch, nodes) != ARES_SUCCESS) {
		ares_destroy(*ch);
		return -EAGAIN;
	}
	return 0;
}

/* Runs the channel until its queries are done (c-ares enforces its own timeouts and tries). */
static void channel_run(ares_channel ch, const int *done)
{
	while (!*done) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		/* Tested with unsigned shifts: c-ares's ARES_GETSOCK_* macros shift a signed 1 into the sign bit. */
		unsigned bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		int n = 0;
		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = 0;
			if (bits & (1u << i))
				ev |= POLLIN;
			if (bits & (1u << (i + ARES_GETSOCK_MAXNUM)))
				ev |= POLLOUT;
			if (ev == 0)
				continue;
			pfd[n].fd = socks[i];
			pfd[n].events = ev;
			pfd[n].revents = 0;
			n++;
		}
		struct timeval tv, *tvp = ares_timeout(ch, NULL, &tv);
		int ms = tvp ? (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000) : 100;
		int r = poll(pfd, (nfds_t)n, ms);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0) {
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (int i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			ares_socket_t rfd = (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) ? pfd[i].fd : ARES_SOCKET_BAD;
			ares_socket_t wfd = (pfd[i].revents & POLLOUT) ? pfd[i].fd : ARES_SOCKET_BAD;
			ares_process_fd(ch, rfd, wfd);
		}
	}
}

struct lookup_state {
	int done;
	int status;
	int n, max;
	struct resolver_addr *out;
	char name[TW_NAME_MAX];
};

static int status_to_errno(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
		return -ENOENT;
	case ARES_ENOMEM:
		return -ENOMEM;
	default:
		return -EAGAIN;
	}
}

static void addrinfo_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	(void)timeouts;
	struct lookup_state *st = arg;
	st->status = status;
	if (status == ARES_SUCCESS && res) {
		for (struct ares_addrinfo_node *n = res->nodes; n && st->n < st->max; n = n->ai_next) {
			struct resolver_addr *a = &st->out[st->n];
			memset(a, 0, sizeof(*a));
			if (n->ai_family == AF_INET) {
				a->family = AF_INET;
				memcpy(a->addr, &((struct sockaddr_in *)(void *)n->ai_addr)->sin_addr, 4);
			} else if (n->ai_family == AF_INET6) {
				a->family = AF_INET6;
				memcpy(a->addr, &((struct sockaddr_in6 *)(void *)n->ai_addr)->sin6_addr, 16);
			} else {
				continue;
			}
			bool dup = false;
			for (int i = 0; i < st->n; i++)
				dup |= st->out[i].family == a->family && memcmp(st->out[i].addr, a->addr, 16) == 0;
			if (!dup)
				st->n++;
		}
	}
	if (res)
		ares_freeaddrinfo(res);
	st->done = 1;
}

int resolver_local_lookup(const char *resolv_text, const char *hosts_text, const char *name, int family,
			  struct resolver_addr *out, int max)
{
	int n = resolver_parse_hosts(hosts_text ? hosts_text : "", name, family, out, max);
	if (n > 0)
		return n;
	if (tw_name_is_localhost(name)) { /* glibc answers these even without a hosts entry */
		memset(out, 0, sizeof(*out));
		if (family == AF_INET6) {
			out->family = AF_INET6;
			out->addr[15] = 1;
		} else {
			out->family = AF_INET;
			inet_pton(AF_INET, "127.0.0.1", out->addr);
		}
		return 1;
	}

	ares_channel ch;
	int rc = channel_open(resolv_text, &ch);
	if (rc < 0)
		return rc;
	struct lookup_state st = { .max = max, .out = out };
	struct ares_addrinfo_hints hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_flags = ARES_AI_NOSORT; /* sorting would connect() probe sockets through the public symbol */
	ares_getaddrinfo(ch, name, NULL, &hints, addrinfo_done, &st);
	channel_run(ch, &st.done);
	ares_destroy(ch);
	if (st.status != ARES_SUCCESS)
		return status_to_errno(st.status);
	return st.n > 0 ? st.n : -ENOENT;
}

static void hostent_done(void *arg, int status, int timeouts, struct hostent *h)
{
	(void)timeouts;
	struct lookup_state *st = arg;
	st->status = status;
	if (status == ARES_SUCCESS && h && h->h_name && strlen(h->h_name) < TW_NAME_MAX)
		strcpy(st->name, h->h_name);
	else if (status == ARES_SUCCESS)
		st->status = ARES_ENOTFOUND;
	st->done = 1;
}

int resolver_local_reverse(const char *resolv_text, const char *hosts_text, const struct resolver_addr *addr,
			   char name[TW_NAME_MAX])
{
	if (resolver_parse_hosts_reverse(hosts_text ? hosts_text : "", addr, name) == 0)
		return 0;
	ares_channel ch;
	int rc = channel_open(resolv_text, &ch);
	if (rc < 0)
		return rc;
	struct lookup_state st = { 0 };
	ares_gethostbyaddr(ch, addr->addr, addr->family == AF_INET ? 4 : 16, addr->family, hostent_done, &st);
	channel_run(ch, &st.done);
	ares_destroy(ch);
	if (st.status != ARES_SUCCESS)
		return status_to_errno(st.status);
	strcpy(name, st.name);
	return 0;
}
