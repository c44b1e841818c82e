/* learned.c: the supervisor's own record of which allowed name each internal address came from (the engine's
 * route_learned, sv_learned): an address an allowed name resolved to is decided by that name's rules.
 *
 * The tree's shared map holds the same record, written by the library, but the program can write that map too:
 * an entry forged there ("this external address is tron-wallet-manager's") would have made the supervisor
 * connect a refused address directly. So the supervisor trusts only what it learned itself: the answers its
 * responder forwarded, the lookups it made. A claim found only in the shared map (the library resolved the
 * name, a raw connect of the same tree uses the address) is re-derived before it counts: the supervisor looks
 * the name up itself, and believes the claim only when the address is among the name's. Either way the outcome
 * is kept here (a claim that did not hold too, so a forged entry costs one lookup, not one per connect).
 */
#include <errno.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "sv.h"

#define LEARNED_SLOTS 8192 /* open addressing; when full, the oldest home slot is overwritten */
#define LEARNED_PROBES 16

struct learned {
	bool used;
	int family;
	uint8_t addr[16];
	char name[TW_NAME_MAX]; /* "" : a claim of the shared map that did not hold */
};

static struct learned table[LEARNED_SLOTS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned slot_of(int family, const uint8_t addr[16])
{
	uint32_t h = 2166136261u ^ (uint32_t)family; /* FNV-1a */
	for (int i = 0; i < (family == AF_INET ? 4 : 16); i++) {
		h ^= addr[i];
		h *= 16777619u;
	}
	return h % LEARNED_SLOTS;
}

static bool same(const struct learned *e, int family, const uint8_t addr[16])
{
	return e->used && e->family == family && memcmp(e->addr, addr, family == AF_INET ? 4 : 16) == 0;
}

static void put(int family, const uint8_t addr[16], const char *name)
{
	unsigned home = slot_of(family, addr), at = home;
	pthread_mutex_lock(&table_lock);
	for (unsigned i = 0; i < LEARNED_PROBES; i++) {
		struct learned *e = &table[(home + i) % LEARNED_SLOTS];
		if (!e->used || same(e, family, addr)) {
			at = (home + i) % LEARNED_SLOTS;
			break;
		}
	}
	struct learned *e = &table[at];
	if (!same(e, family, addr) || e->name[0] == '\0') { /* the first name wins, as in the shared map */
		memset(e, 0, sizeof(*e));
		e->used = true;
		e->family = family;
		memcpy(e->addr, addr, family == AF_INET ? 4 : 16);
		snprintf(e->name, sizeof(e->name), "%s", name);
	}
	pthread_mutex_unlock(&table_lock);
}

/* 1 with the name, 0 for a claim known not to hold, -ENOENT when nothing is known. */
static int get(int family, const uint8_t addr[16], char name[TW_NAME_MAX])
{
	unsigned home = slot_of(family, addr);
	int rc = -ENOENT;
	pthread_mutex_lock(&table_lock);
	for (unsigned i = 0; i < LEARNED_PROBES; i++) {
		const struct learned *e = &table[(home + i) % LEARNED_SLOTS];
		if (same(e, family, addr)) {
			memcpy(name, e->name, TW_NAME_MAX);
			rc = name[0] ? 1 : 0;
			break;
		}
	}
	pthread_mutex_unlock(&table_lock);
	return rc;
}

static int remember(int family, const uint8_t addr[16], const char *name)
{
	put(family, addr, name);
	return 0;
}

/* Does NAME, looked up by the supervisor itself, resolve to ADDR? */
static bool resolves_to(const char *name, int family, const uint8_t addr[16])
{
	struct resolver_addr found[RESOLVER_MAX_ADDRS];
	int n = resolver_local_lookup(sv.cfg->resolv_text, sv.cfg->hosts_text, name, AF_UNSPEC, found,
				      RESOLVER_MAX_ADDRS);
	for (int i = 0; i < n; i++)
		if (found[i].family == family && memcmp(found[i].addr, addr, family == AF_INET ? 4 : 16) == 0)
			return true;
	return false;
}

static int name_of(int family, const uint8_t addr[16], char name[TW_NAME_MAX])
{
	int known = get(family, addr, name);
	if (known >= 0)
		return known ? 0 : -ENOENT;
	char claimed[TW_NAME_MAX];
	if (vaddr_direct_name(family, addr, claimed) != 0)
		return -ENOENT;
	bool holds = resolves_to(claimed, family, addr);
	put(family, addr, holds ? claimed : "");
	if (!holds) {
		char text[INET6_ADDRSTRLEN];
		struct resolver_addr a = { .family = family };
		memcpy(a.addr, addr, 16);
		struct tw_event ev = TW_EVENT("connect", route_addr_text(&a, text, sizeof(text)), NULL, NULL);
		tw_log_event(TW_LOG_WARN, ev, "the shared map says %s is %s's, which %s does not resolve to: the claim is "
			     "ignored (written by a program of the tree?)", text, claimed, claimed);
		return -ENOENT;
	}
	memcpy(name, claimed, TW_NAME_MAX);
	return 0;
}

const struct route_learned sv_learned = { .remember = remember, .name_of = name_of };
