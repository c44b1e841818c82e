/* vaddr.c: the virtual address map, name <-> address in the virtual range, shared by a whole process tree.
 *
 * Layout: a fixed table in one shared mapping. entry[i] holds the name behind address net+1+i; slot[] is an
 * open-addressing hash (name -> i+1). Inserts are lock-free: claim an index with fetch_add, write the name,
 * publish it (entry.ready, release), then CAS it into an empty hash slot. A CAS lost to the same name leaves
 * our entry orphaned (harmless: its address still maps back to the right name); a process killed mid-insert
 * leaves at most one unpublished entry. Nothing ever blocks, so no dead process can wedge the others.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolver.h"

#define VADDR_MAGIC 0x61767774u /* "twva" */
#define VADDR_VERSION 2u
#define VADDR_SLOTS (VADDR_CAPACITY * 2) /* load factor <= 0.5 keeps probes short */
#define VADDR_DIRECT_SLOTS 16384

enum { DIRECT_EMPTY = 0, DIRECT_WRITING = 1, DIRECT_READY = 2 };

/* An address an allowed name resolved to, remembered with the name so connect() can apply the name's rules
 * (its port list) to the address, and need not send an internal address it cannot place to Tor. */
struct vaddr_direct {
	_Atomic uint32_t state;
	uint32_t family;
	uint8_t addr[16];
	char name[TW_NAME_MAX];
};

struct vaddr_entry {
	_Atomic uint32_t ready; /* 1 once NAME is written (vaddr_learn: 2 while it writes it) */
	char name[TW_NAME_MAX];
};

struct vaddr_table {
	_Atomic uint32_t magic; /* written last by the creator */
	uint32_t version;
	uint32_t net, mask; /* network byte order */
	uint32_t capacity; /* min(VADDR_CAPACITY, addresses in the range - 1) */
	_Atomic uint32_t next; /* next unclaimed entry */
	_Atomic uint32_t ndirect; /* direct[] slots ever claimed (0: nothing to copy in a snapshot) */
	_Atomic uint32_t slot[VADDR_SLOTS];
	struct vaddr_entry entry[VADDR_CAPACITY];
	struct vaddr_direct direct[VADDR_DIRECT_SLOTS];
};

static struct vaddr_table *_Atomic vaddr_table;
static pthread_mutex_t vaddr_attach_lock = PTHREAD_MUTEX_INITIALIZER;
/* The map's descriptor, kept open without CLOEXEC so exec'd children can attach (see vaddr_fd). */
static int vaddr_map_fd = -1;
static ino_t vaddr_map_ino;
static dev_t vaddr_map_dev;

static void remember_fd(int fd)
{
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0) {
		vaddr_map_fd = fd;
		vaddr_map_ino = st.st_ino;
		vaddr_map_dev = st.st_dev;
	}
}

static uint32_t vaddr_hash(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

static uint32_t vaddr_capacity_for(uint32_t mask)
{
	uint64_t hosts = (uint64_t)(~ntohl(mask)) + 1; /* addresses in the range */
	if (hosts < 4)
		return 0;
	return hosts - 2 < VADDR_CAPACITY ? (uint32_t)(hosts - 2) : VADDR_CAPACITY;
}

static void vaddr_table_init(struct vaddr_table *t, uint32_t net, uint32_t mask)
{
	t->version = VADDR_VERSION;
	t->net = net & mask;
	t->mask = mask;
	t->capacity = vaddr_capacity_for(mask);
	atomic_store_explicit(&t->magic, VADDR_MAGIC, memory_order_release);
}

static bool vaddr_table_matches(struct vaddr_table *t, uint32_t net, uint32_t mask)
{
	return atomic_load_explicit(&t->magic, memory_order_acquire) == VADDR_MAGIC &&
	       t->version == VADDR_VERSION && t->net == (net & mask) && t->mask == mask;
}

/* Maps an inherited descriptor, if it really is one of our maps for this range. */
static struct vaddr_table *vaddr_map_inherited(uint32_t net, uint32_t mask)
{
	/* A secure (setuid) process would map a descriptor its user chose: it keeps a map of its own. */
	if (tw_secure_mode())
		return NULL;
	const char *env = getenv(VADDR_FD_ENV);
	if (env == NULL || *env == '\0')
		return NULL;
	char *end;
	long fd = strtol(env, &end, 10);
	if (*end != '\0' || fd < 0 || fd > 1048576)
		return NULL;
	struct stat st;
	if (fstat((int)fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != (off_t)sizeof(struct vaddr_table))
		return NULL;
	void *m = mmap(NULL, sizeof(struct vaddr_table), PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (!vaddr_table_matches(m, net, mask)) {
		munmap(m, sizeof(struct vaddr_table));
		return NULL;
	}
	remember_fd((int)fd);
	return m;
}

/* A new map. With KEEP_FD the descriptor is handed to the caller (the wrapper passes it to the program it
 * execs); otherwise it is kept here, moved out of the low numbers programs like to use. */
static struct vaddr_table *vaddr_map_new(int *keep_fd)
{
	int fd = memfd_create("torwrap-vmap", 0);
	void *m;
	if (fd >= 0) {
		if (ftruncate(fd, sizeof(struct vaddr_table)) != 0) {
			tw_libc()->close(fd);
			return NULL;
		}
		m = mmap(NULL, sizeof(struct vaddr_table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED) {
			tw_libc()->close(fd);
			return NULL;
		}
		if (keep_fd) {
			*keep_fd = fd;
		} else {
			int high = fcntl(fd, F_DUPFD, 100);
			if (high >= 0) {
				tw_libc()->close(fd);
				fd = high;
			}
			remember_fd(fd);
		}
		return m;
	}
	if (keep_fd)
		return NULL;
	/* No memfd (old kernel, seccomp): still shared with forked children, just not across exec. */
	m = mmap(NULL, sizeof(struct vaddr_table), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return m == MAP_FAILED ? NULL : m;
}

int vaddr_fd(void)
{
	struct stat st;
	if (vaddr_map_fd < 0 || fstat(vaddr_map_fd, &st) != 0 || st.st_ino != vaddr_map_ino ||
	    st.st_dev != vaddr_map_dev)
		return -1; /* closed by the program (close_range & co): children start their own map */
	return vaddr_map_fd;
}

int vaddr_attach(uint32_t net, uint32_t mask)
{
	if (atomic_load_explicit(&vaddr_table, memory_order_acquire) != NULL)
		return 0;
	if (vaddr_capacity_for(mask) == 0)
		return -EINVAL;
	pthread_mutex_lock(&vaddr_attach_lock);
	int rc = 0;
	if (atomic_load_explicit(&vaddr_table, memory_order_acquire) == NULL) {
		struct vaddr_table *t = vaddr_map_inherited(net, mask);
		if (t == NULL) {
			t = vaddr_map_new(NULL);
			if (t != NULL)
				vaddr_table_init(t, net, mask);
		}
		if (t == NULL)
			rc = -ENOMEM;
		else
			atomic_store_explicit(&vaddr_table, t, memory_order_release);
	}
	pthread_mutex_unlock(&vaddr_attach_lock);
	return rc;
}

int vaddr_create_fd(uint32_t net, uint32_t mask)
{
	if (vaddr_capacity_for(mask) == 0)
		return -EINVAL;
	int fd = -1;
	struct vaddr_table *t = vaddr_map_new(&fd);
	if (t == NULL)
		return -errno ? -errno : -ENOMEM;
	vaddr_table_init(t, net, mask);
	munmap(t, sizeof(*t));
	return fd;
}

static uint32_t vaddr_index_to_addr(const struct vaddr_table *t, uint32_t i)
{
	return htonl(ntohl(t->net) + 1 + i);
}

int vaddr_lookup_name(const char *name, uint32_t *addr)
{
	struct vaddr_table *t = atomic_load_explicit(&vaddr_table, memory_order_acquire);
	if (t == NULL)
		return -ENODEV;
	size_t len = strlen(name);
	if (len == 0 || len >= TW_NAME_MAX)
		return -EINVAL;

	uint32_t h = vaddr_hash(name);
	uint32_t mine = 0; /* our claimed entry index + 1, once claimed */
	for (uint32_t probe = 0; probe < VADDR_SLOTS; probe++) {
		_Atomic uint32_t *slot = &t->slot[(h + probe) % VADDR_SLOTS];
		uint32_t v = atomic_load_explicit(slot, memory_order_acquire);
		if (v == 0) {
			if (mine == 0) {
				uint32_t i = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
				if (i >= t->capacity)
					return -ENOSPC;
				memcpy(t->entry[i].name, name, len + 1);
				atomic_store_explicit(&t->entry[i].ready, 1, memory_order_release);
				mine = i + 1;
			}
			uint32_t expected = 0;
			if (atomic_compare_exchange_strong_explicit(slot, &expected, mine, memory_order_acq_rel,
								    memory_order_acquire)) {
				*addr = vaddr_index_to_addr(t, mine - 1);
				return 0;
			}
			v = expected; /* somebody else took the slot: is it our name? */
		}
		if (v - 1 < t->capacity && atomic_load_explicit(&t->entry[v - 1].ready, memory_order_acquire) == 1 &&
		    strcmp(t->entry[v - 1].name, name) == 0) {
			*addr = vaddr_index_to_addr(t, v - 1);
			return 0;
		}
	}
	return -ENOSPC;
}

int vaddr_find_name(const char *name, uint32_t *addr)
{
	struct vaddr_table *t = atomic_load_explicit(&vaddr_table, memory_order_acquire);
	if (t == NULL)
		return -ENODEV;
	uint32_t h = vaddr_hash(name);
	for (uint32_t probe = 0; probe < VADDR_SLOTS; probe++) {
		uint32_t v = atomic_load_explicit(&t->slot[(h + probe) % VADDR_SLOTS], memory_order_acquire);
		if (v == 0)
			return -ENOENT;
		if (v - 1 < t->capacity && atomic_load_explicit(&t->entry[v - 1].ready, memory_order_acquire) == 1 &&
		    strcmp(t->entry[v - 1].name, name) == 0) {
			*addr = vaddr_index_to_addr(t, v - 1);
			return 0;
		}
	}
	return -ENOENT;
}

int vaddr_learn(const char *name, uint32_t addr)
{
	struct vaddr_table *t = atomic_load_explicit(&vaddr_table, memory_order_acquire);
	if (t == NULL)
		return -ENODEV;
	size_t len = strlen(name);
	uint32_t off = ntohl(addr) - ntohl(t->net);
	if (len == 0 || len >= TW_NAME_MAX || (addr & t->mask) != t->net || off == 0 || off - 1 >= t->capacity)
		return -EINVAL;
	struct vaddr_entry *e = &t->entry[off - 1];
	uint32_t unset = 0;
	if (atomic_compare_exchange_strong_explicit(&e->ready, &unset, 2, memory_order_acq_rel, memory_order_acquire)) {
		memcpy(e->name, name, len + 1); /* 2: being written, by us alone */
		atomic_store_explicit(&e->ready, 1, memory_order_release);
	} else {
		/* Another thread writes the same entry, a few stores away; or a process of the tree died while it did
		 * (the map is shared): then the entry stays unready, and the name is asked again next time. */
		for (int spin = 0; atomic_load_explicit(&e->ready, memory_order_acquire) != 1; spin++)
			if (spin > 100000)
				return -EAGAIN;
		return strcmp(e->name, name) == 0 ? 0 : -EEXIST;
	}
	uint32_t next = atomic_load_explicit(&t->next, memory_order_relaxed); /* snapshots copy entries below it */
	while (next < off && !atomic_compare_exchange_weak_explicit(&t->next, &next, off, memory_order_relaxed,
								    memory_order_relaxed))
		;
	uint32_t h = vaddr_hash(name);
	for (uint32_t probe = 0; probe < VADDR_SLOTS; probe++) {
		uint32_t expected = 0;
		if (atomic_compare_exchange_strong_explicit(&t->slot[(h + probe) % VADDR_SLOTS], &expected, off,
							    memory_order_acq_rel, memory_order_acquire))
			return 0;
	}
	return -ENOSPC;
}

int vaddr_lookup_addr(uint32_t addr, char name[TW_NAME_MAX])
{
	struct vaddr_table *t = atomic_load_explicit(&vaddr_table, memory_order_acquire);
	if (t == NULL)
		return -ENODEV;
	if ((addr & t->mask) != t->net)
		return -ENOENT;
	uint32_t off = ntohl(addr) - ntohl(t->net);
	if (off == 0 || off - 1 >= t->capacity)
		return -ENOENT;
	struct vaddr_entry *e = &t->entry[off - 1];
	if (atomic_load_explicit(&e->ready, memory_order_acquire) != 1)
		return -ENOENT;
	memcpy(name, e->name, TW_NAME_MAX);
	name[TW_NAME_MAX - 1] = '\0';
	return 0;
}

static uint32_t direct_hash(int family, const uint8_t *addr)
{
	uint32_t h = 2166136261u ^ (uint32_t)family;
	for (int i = 0; i < 16; i++) {
		h ^= addr[i];
		h *= 16777619u;
	}
	return h;
}

/* The table's key for an address (IPv4 zero-padded) and where its probe sequence starts. */
static uint32_t direct_key(int family, const uint8_t addr[16], uint8_t key[16])
{
	memset(key, 0, 16);
	memcpy(key, addr, family == AF_INET ? 4 : 16);
	return direct_hash(family, key);
}

int vaddr_remember_direct(int family, const uint8_t addr[16], const char *name)
{
	struct vaddr_table *t = atomic_load_explicit(&vaddr_table, memory_order_acquire);
	if (t == NULL)
		return -ENODEV;
	size_t len = strlen(name);
	if (len == 0 || len >= TW_NAME_MAX)
		return -EINVAL;
	uint8_t key[16];
	uint32_t h = direct_key(family, addr, key);
	for (uint32_t probe = 0; probe < VADDR_DIRECT_SLOTS; probe++) {
		struct vaddr_direct *d = &t->direct[(h + probe) % VADDR_DIRECT_SLOTS];
		uint32_t st = atomic_load_explicit(&d->state, memory_order_acquire);
		if (st == DIRECT_READY && d->family == (uint32_t)family && memcmp(d->addr, key, 16) == 0)
			return 0; /* first name wins: the address is known to be internal either way */
		if (st != DIRECT_EMPTY)
			continue; /* a slot being written may hold our address too: a duplicate is harmless */
		uint32_t expected = DIRECT_EMPTY;
		if (!atomic_compare_exchange_strong_explicit(&d->state, &expected, DIRECT_WRITING,
							     memory_order_acq_rel, memory_order_acquire))
			continue;
		d->family = (uint32_t)family;
		memcpy(d->addr, key, 16);
		memcpy(d->name, name, len + 1);
		atomic_store_explicit(&d->state, DIRECT_READY, memory_order_release);
		atomic_fetch_add_explicit(&t->ndirect, 1, memory_order_relaxed);
		return 0;
	}
	return -ENOSPC;
}

int vaddr_direct_name(int family, const uint8_t addr[16], char name[TW_NAME_MAX])
{
	struct vaddr_table *t = atomic_load_explicit(&vaddr_table, memory_order_acquire);
	if (t == NULL)
		return -ENOENT;
	uint8_t key[16];
	uint32_t h = direct_key(family, addr, key);
	for (uint32_t probe = 0; probe < VADDR_DIRECT_SLOTS; probe++) {
		struct vaddr_direct *d = &t->direct[(h + probe) % VADDR_DIRECT_SLOTS];
		uint32_t st = atomic_load_explicit(&d->state, memory_order_acquire);
		if (st == DIRECT_EMPTY)
			return -ENOENT;
		if (st == DIRECT_READY && d->family == (uint32_t)family && memcmp(d->addr, key, 16) == 0) {
			memcpy(name, d->name, TW_NAME_MAX);
			name[TW_NAME_MAX - 1] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}

/* A copy of the map in a new descriptor, for a child about to be exec'd after the program closed ours (Python's
 * subprocess closes every descriptor above 2): the child then knows every name handed out so far. Runs between
 * fork and exec, so it allocates nothing but the new mapping. */
static int vaddr_snapshot_fd(struct vaddr_table *t)
{
	int fd = memfd_create("torwrap-vmap", 0);
	if (fd < 0)
		return -1;
	struct vaddr_table *c = MAP_FAILED;
	if (ftruncate(fd, sizeof(*c)) == 0)
		c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c == MAP_FAILED) {
		tw_libc()->close(fd);
		return -1;
	}
	c->version = t->version;
	c->net = t->net;
	c->mask = t->mask;
	c->capacity = t->capacity;
	uint32_t n = atomic_load_explicit(&t->next, memory_order_acquire);
	if (n > t->capacity)
		n = t->capacity;
	atomic_store_explicit(&c->next, n, memory_order_relaxed);
	for (uint32_t i = 0; i < n; i++) {
		if (atomic_load_explicit(&t->entry[i].ready, memory_order_acquire) != 1)
			continue;
		memcpy(c->entry[i].name, t->entry[i].name, TW_NAME_MAX);
		atomic_store_explicit(&c->entry[i].ready, 1, memory_order_relaxed);
		uint32_t h = vaddr_hash(c->entry[i].name);
		for (uint32_t probe = 0; probe < VADDR_SLOTS; probe++) {
			_Atomic uint32_t *slot = &c->slot[(h + probe) % VADDR_SLOTS];
			if (atomic_load_explicit(slot, memory_order_relaxed) == 0) {
				atomic_store_explicit(slot, i + 1, memory_order_relaxed);
				break;
			}
		}
	}
	if (atomic_load_explicit(&t->ndirect, memory_order_acquire) > 0) {
		for (uint32_t i = 0; i < VADDR_DIRECT_SLOTS; i++) {
			struct vaddr_direct *d = &t->direct[i];
			if (atomic_load_explicit(&d->state, memory_order_acquire) != DIRECT_READY)
				continue;
			memcpy(&c->direct[i], d, sizeof(*d)); /* same slot: the probe sequences stay valid */
		}
		atomic_store_explicit(&c->ndirect, t->ndirect, memory_order_relaxed);
	}
	atomic_store_explicit(&c->magic, VADDR_MAGIC, memory_order_release);
	munmap(c, sizeof(*c));
	return fd;
}

int vaddr_fd_for_exec(bool *fresh)
{
	*fresh = false;
	int fd = vaddr_fd();
	if (fd >= 0)
		return fd;
	struct vaddr_table *t = atomic_load_explicit(&vaddr_table, memory_order_acquire);
	if (t == NULL)
		return -1;
	fd = vaddr_snapshot_fd(t);
	*fresh = fd >= 0;
	return fd;
}
