/* getaddrinfo.c: getaddrinfo(), for every hints case (NULL hints included: torsocks leaked there).
 *
 * Numeric hosts and NULL hosts are libc's (it answers them without any lookup: we force AI_NUMERICHOST to be
 * sure). Names are resolved by shim_lookup() and the answer is built by libc itself, from the numeric form of
 * each address, so the list has exactly libc's shape (socktypes, service ports, AI_PASSIVE, sorting of
 * families) and libc's own freeaddrinfo() frees it: no allocator of ours ever meets the program's pointers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

static int lookup_errno_to_eai(int rc)
{
	switch (rc) {
	case -ENOENT:
		return EAI_NONAME;
	case -EAGAIN:
		return EAI_AGAIN;
	case -ENOMEM:
		return EAI_MEMORY;
	default:
		return EAI_FAIL; /* refused by policy, virtual map full: not worth retrying */
	}
}

/* Appends libc's answer for one numeric address to the list ending at *TAIL. */
static int append_numeric(const struct resolver_addr *a, const char *service, const struct addrinfo *hints,
			  struct addrinfo **head, struct addrinfo **tail)
{
	char text[INET6_ADDRSTRLEN];
	struct addrinfo h = *hints;
	h.ai_flags |= AI_NUMERICHOST;
	h.ai_flags &= ~(AI_CANONNAME | AI_ADDRCONFIG); /* canonname is ours; virtual addresses are loopback */
	h.ai_family = a->family;
	struct addrinfo *part = NULL;
	int rc = tw_libc()->getaddrinfo(inet_ntop(a->family, a->addr, text, sizeof(text)), service, &h, &part);
	if (rc != 0)
		return rc;
	if (*tail)
		(*tail)->ai_next = part;
	else
		*head = part;
	for (*tail = part; (*tail)->ai_next; *tail = (*tail)->ai_next)
		;
	return 0;
}

/* Which of the resolved addresses answer a request for FAMILY, as libc would give them. Virtual addresses are
 * always given to an IPv6 request (v4-mapped): the name exists, only through Tor. */
static int select_family(struct resolver_addr *a, int n, int family, int flags)
{
	if (family == AF_UNSPEC)
		return n;
	const struct tw_config *cfg = shim_config();
	int m = 0;
	bool have_v6 = false;
	for (int i = 0; i < n; i++)
		have_v6 |= a[i].family == AF_INET6;
	for (int i = 0; i < n; i++) {
		uint32_t v4;
		memcpy(&v4, a[i].addr, 4);
		bool virtual_addr = a[i].family == AF_INET && policy_is_virtual_v4(cfg, v4);
		if (a[i].family == family) {
			a[m++] = a[i];
		} else if (family == AF_INET6 && a[i].family == AF_INET &&
			   (virtual_addr || ((flags & AI_V4MAPPED) && (!have_v6 || (flags & AI_ALL))))) {
			struct resolver_addr v = { .family = AF_INET6 };
			v.addr[10] = v.addr[11] = 0xff;
			memcpy(v.addr + 12, &v4, 4);
			a[m++] = v;
		}
	}
	return m;
}

/* SERVICE's port when it is a number (for the log line; a service name would need /etc/services), else 0. */
static uint16_t numeric_port(const char *service)
{
	if (!service || !*service || strspn(service, "0123456789") != strlen(service) || strlen(service) > 5)
		return 0;
	unsigned long p = strtoul(service, NULL, 10);
	return p <= 65535 ? (uint16_t)p : 0;
}

static int resolve_name(const char *node, const char *service, const struct addrinfo *hints,
			struct addrinfo **res)
{
	struct resolver_addr addrs[RESOLVER_MAX_ADDRS];
	/* An IPv6 request still asks for IPv4 too: those answers may come back v4-mapped. */
	int n = shim_lookup(node, numeric_port(service), hints->ai_family == AF_INET ? AF_INET : AF_UNSPEC, addrs,
			    RESOLVER_MAX_ADDRS);
	if (n < 0)
		return lookup_errno_to_eai(n);
	n = select_family(addrs, n, hints->ai_family, hints->ai_flags);
	if (n == 0)
		return EAI_NONAME;

	struct addrinfo *head = NULL, *tail = NULL;
	for (int i = 0; i < n; i++) {
		int rc = append_numeric(&addrs[i], service, hints, &head, &tail);
		if (rc != 0) {
			if (head)
				tw_libc()->freeaddrinfo(head);
			return rc;
		}
	}
	if (hints->ai_flags & AI_CANONNAME) {
		char canon[TW_NAME_MAX];
		if (tw_name_normalize(node, canon) < 0 || (head->ai_canonname = strdup(canon)) == NULL) {
			tw_libc()->freeaddrinfo(head);
			return EAI_MEMORY;
		}
	}
	*res = head;
	return 0;
}

TW_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			  struct addrinfo **res)
{
	if (node == NULL)
		return tw_libc()->getaddrinfo(node, service, hints, res);

	/* glibc's defaults for NULL hints. */
	struct addrinfo h = { .ai_flags = AI_V4MAPPED | AI_ADDRCONFIG, .ai_family = AF_UNSPEC };
	if (hints)
		h = *hints;
	if (shim_is_numeric_host(node) || (h.ai_flags & AI_NUMERICHOST)) {
		h.ai_flags |= AI_NUMERICHOST;
		return tw_libc()->getaddrinfo(node, service, &h, res);
	}
	if (h.ai_family != AF_UNSPEC && h.ai_family != AF_INET && h.ai_family != AF_INET6)
		return EAI_FAMILY;
	return resolve_name(node, service, &h, res);
}

int shim_hook_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			  struct addrinfo **res) TW_HOOK_ALIAS(getaddrinfo);
