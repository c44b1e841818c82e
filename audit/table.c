/* table.c: the audit stream's events aggregated by (destination host, port, verdict, rule).
 *
 * A long run can make millions of decisions about a few thousand destinations, so rows are found through a
 * hash index rather than by walking them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

void audit_table_init(struct audit_table *t)
{
	memset(t, 0, sizeof(*t));
}

void audit_table_free(struct audit_table *t)
{
	free(t->entries);
	free(t->index);
	free(t->ruled);
	audit_table_init(t);
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t key_hash(const char *host, unsigned port, const char *verdict, const char *rule)
{
	uint64_t h = 0xcbf29ce484222325ull;
	h = fnv1a(h, host, strlen(host) + 1);
	h = fnv1a(h, &port, sizeof(port));
	h = fnv1a(h, verdict, strlen(verdict) + 1);
	return fnv1a(h, rule, strlen(rule) + 1);
}

/* The hash of the ruled index: host and verdict only. */
static uint64_t host_hash(const char *host, const char *verdict)
{
	return key_hash(host, 0, verdict, "");
}

static bool same_key(const struct audit_entry *e, const struct audit_event *ev)
{
	return e->port == ev->port && strcmp(e->host, ev->host) == 0 && strcmp(e->verdict, ev->verdict) == 0 &&
	       strcmp(e->rule, ev->rule) == 0;
}

static size_t slot_of(const struct audit_table *t, uint64_t h)
{
	return (size_t)h & (t->index_cap - 1);
}

/* The slot of the ruled index for HOST and VERDICT: its row's, or the free one where it goes. */
static size_t ruled_slot(const struct audit_table *t, const char *host, const char *verdict)
{
	size_t s = slot_of(t, host_hash(host, verdict));
	while (t->ruled[s] && (strcmp(t->entries[t->ruled[s] - 1].host, host) != 0 ||
			       strcmp(t->entries[t->ruled[s] - 1].verdict, verdict) != 0))
		s = (s + 1) & (t->index_cap - 1);
	return s;
}

/* Doubles both indexes and puts every row back (they are kept at most half full). */
static int grow_index(struct audit_table *t)
{
	size_t cap = t->index_cap ? t->index_cap * 2 : 64;
	size_t *index = calloc(cap, sizeof(*index)), *ruled = calloc(cap, sizeof(*ruled));
	if (index == NULL || ruled == NULL) {
		free(index);
		free(ruled);
		return -ENOMEM;
	}
	free(t->index);
	free(t->ruled);
	t->index = index;
	t->ruled = ruled;
	t->index_cap = cap;
	for (size_t i = 0; i < t->n; i++) {
		const struct audit_entry *e = &t->entries[i];
		size_t s = slot_of(t, key_hash(e->host, e->port, e->verdict, e->rule));
		while (t->index[s])
			s = (s + 1) & (cap - 1);
		t->index[s] = i + 1;
		if (e->rule[0])
			t->ruled[ruled_slot(t, e->host, e->verdict)] = i + 1; /* rows are in order: the last one wins */
	}
	return 0;
}

static struct audit_entry *new_entry(struct audit_table *t, const struct audit_event *ev, size_t slot)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct audit_entry *v = realloc(t->entries, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		t->entries = v;
		t->cap = cap;
	}
	struct audit_entry *e = &t->entries[t->n];
	memset(e, 0, sizeof(*e));
	memcpy(e->host, ev->host, sizeof(e->host));
	e->port = ev->port;
	memcpy(e->verdict, ev->verdict, sizeof(e->verdict));
	memcpy(e->rule, ev->rule, sizeof(e->rule));
	t->index[slot] = ++t->n;
	return e;
}

int audit_table_add(struct audit_table *t, const struct audit_event *given)
{
	if (given->kind == AUDIT_OTHER || given->host[0] == '\0' || given->verdict[0] == '\0')
		return 0;
	if ((t->n + 1) * 2 > t->index_cap && grow_index(t) != 0)
		return -ENOMEM;
	struct audit_event inherited;
	const struct audit_event *ev = given;
	size_t r = ruled_slot(t, given->host, given->verdict);
	if (given->rule[0] == '\0' && t->ruled[r]) {
		inherited = *given;
		memcpy(inherited.rule, t->entries[t->ruled[r] - 1].rule, sizeof(inherited.rule));
		ev = &inherited;
	}
	size_t s = slot_of(t, key_hash(ev->host, ev->port, ev->verdict, ev->rule));
	while (t->index[s] && !same_key(&t->entries[t->index[s] - 1], ev))
		s = (s + 1) & (t->index_cap - 1);
	struct audit_entry *e = t->index[s] ? &t->entries[t->index[s] - 1] : new_entry(t, ev, s);
	if (e == NULL)
		return -ENOMEM;
	if (e->rule[0])
		t->ruled[r] = (size_t)(e - t->entries) + 1;
	if (ev->kind == AUDIT_LOOKUP || ev->kind == AUDIT_DNS)
		e->lookups++;
	else
		e->connections++;
	return 0;
}

long audit_table_feed(struct audit_table *t, const char *text, size_t len, bool final)
{
	size_t used = 0;
	while (used < len) {
		const char *nl = memchr(text + used, '\n', len - used);
		if (nl == NULL && !final)
			break;
		size_t line_len = nl ? (size_t)(nl - (text + used)) : len - used;
		struct audit_event ev;
		if (line_len > 0) {
			t->lines++;
			if (audit_parse_line(text + used, line_len, &ev) != 0)
				t->rejected++;
			else if (audit_table_add(t, &ev) != 0)
				return -ENOMEM;
		}
		used += line_len + (nl ? 1 : 0);
	}
	return (long)used;
}
