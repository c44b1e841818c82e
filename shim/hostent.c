/* hostent.c: struct hostent built into a caller's buffer, shared by the gethostbyname* and gethostbyaddr*
 * hooks (the _r functions fill the caller's buffer; the others a thread-local one).
 */
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "shim.h"

int shim_fill_hostent(const char *name, int family, const struct resolver_addr *addrs, int n, struct hostent *he,
		      char *buf, size_t buflen)
{
	size_t alen = family == AF_INET ? 4 : 16;
	size_t namelen = strlen(name) + 1;
	/* Pointers first (aligned), then address bytes, then the name. */
	uintptr_t start = (uintptr_t)buf;
	uintptr_t aligned = (start + alignof(char *) - 1) & ~(uintptr_t)(alignof(char *) - 1);
	size_t pad = aligned - start;
	size_t need = pad + sizeof(char *) * (size_t)(n + 1) /* h_addr_list */ + sizeof(char *) /* h_aliases */ +
		      alen * (size_t)n + namelen;
	if (need > buflen)
		return ERANGE;
	char **addr_list = (char **)(void *)(buf + pad);
	char **aliases = addr_list + n + 1;
	char *bytes = (char *)(aliases + 1);
	char *namebuf = bytes + alen * (size_t)n;
	int m = 0;
	for (int i = 0; i < n; i++) {
		if (addrs[i].family != family)
			continue;
		memcpy(bytes + alen * (size_t)m, addrs[i].addr, alen);
		addr_list[m] = bytes + alen * (size_t)m;
		m++;
	}
	addr_list[m] = NULL;
	aliases[0] = NULL;
	memcpy(namebuf, name, namelen);
	he->h_name = namebuf;
	he->h_aliases = aliases;
	he->h_addrtype = family;
	he->h_length = (int)alen;
	he->h_addr_list = addr_list;
	return 0;
}
