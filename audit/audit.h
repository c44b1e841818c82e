/* audit.h: `torwrap audit`'s side of the audit stream: the JSON lines the library and the supervisor append to
 * TORWRAP_AUDIT_FILE, one per decision (the shared contract: the JSON log line of issue 16), read back into a
 * table of destinations, printed as a report and turned into a policy draft.
 *
 * - audit_parse_line(): one line into a struct audit_event (pure: bytes in, result out; never trusts the line).
 * - struct audit_table: the events aggregated by (destination host, port, verdict, rule), with counts.
 * - audit_report(): the table, sorted and aligned, for a person; audit_draft(): the policy lines an operator
 *   would add (internal names refused, private addresses sent to Tor or refused), each commented with why.
 *
 * Nothing here touches the network, the environment or the process: the wrapper (cli/audit.c) reads the file
 * and hands the bytes over.
 */
#ifndef TORWRAP_AUDIT_H
#define TORWRAP_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "../common/tw.h"

/* The rule that refuses a name which looks internal and is not in the policy (policy_reason_text). */
#define AUDIT_RULE_INTERNAL_NAME "built-in internal-name"

/* Longest rule text kept ("FILE:LINE" with a long path is cut, with "..." at its end: it is only shown). */
#define AUDIT_RULE_MAX 160

enum audit_kind {
	AUDIT_OTHER = 0, /* exec, config, log, or an event this version does not know: not a destination */
	AUDIT_LOOKUP, /* a name resolved as torwrap routes it */
	AUDIT_DNS, /* a program's own DNS query, answered by torwrap */
	AUDIT_CONNECT, /* a connect() decision */
	AUDIT_SEND, /* a UDP datagram decision */
	AUDIT_PROXY, /* a connection through the proxy, with its outcome (counted as a connection) */
};

/* One line of the stream. Strings are NUL-terminated and empty when the line does not have the key. */
struct audit_event {
	enum audit_kind kind;
	char host[TW_NAME_MAX]; /* the destination without its port; IPv6 without brackets; ASCII lower-cased */
	unsigned port; /* 1-65535, 0 when the destination has none */
	char verdict[8]; /* "direct", "tor", "refuse" */
	char rule[AUDIT_RULE_MAX];
	long long pid; /* 0 when absent */
};

/* Parses one line (LEN bytes; a trailing "\n" or "\r\n" is allowed) of the stream: a flat JSON object whose
 * values are strings, numbers, true, false or null; unknown keys are ignored. Returns 0, or -EINVAL when the
 * line is not such an object, has no "event", or its destination or verdict cannot be a destination's. */
int audit_parse_line(const char *line, size_t len, struct audit_event *ev);

/* One row of the table: every decision about one destination with one verdict by one rule. */
struct audit_entry {
	char host[TW_NAME_MAX];
	unsigned port; /* 0: not known (a lookup without a port) */
	char verdict[8];
	char rule[AUDIT_RULE_MAX];
	unsigned long lookups; /* lookup and dns events */
	unsigned long connections; /* connect, send and proxy events */
};

struct audit_table {
	struct audit_entry *entries;
	size_t n, cap;
	size_t *index; /* open addressing over entries (entry + 1; 0 = free), index_cap slots, a power of two */
	size_t index_cap;
	/* By (host, verdict): the last row with a rule. A connection through the proxy is reported without its
	 * rule (the name's lookup carried it), and is counted under the rule that routed its name. */
	size_t *ruled;
	unsigned long lines; /* lines fed */
	unsigned long rejected; /* lines audit_parse_line refused */
};

void audit_table_init(struct audit_table *t);
void audit_table_free(struct audit_table *t);

/* Counts EV in its row (made when new). Events that are not decisions about a destination (no verdict, no
 * host, AUDIT_OTHER) are ignored. A connection through the proxy (AUDIT_PROXY) is one; when it has no rule, it
 * takes the rule of the last decision about its host with its verdict. Returns 0, or -ENOMEM. */
int audit_table_add(struct audit_table *t, const struct audit_event *ev);

/* Feeds the stream's bytes: every complete line, and with FINAL the last one without its "\n" too (while the
 * program runs, a line may be half written). Returns the number of bytes used (the rest is a partial line),
 * or -ENOMEM. */
long audit_table_feed(struct audit_table *t, const char *text, size_t len, bool final);

/* The report: a header, one aligned line per row (sorted by destination, port, verdict, rule), then the
 * internal names refused. Bytes that are not printable ASCII are shown as \xNN. */
void audit_report(const struct audit_table *t, FILE *out);

/* The policy draft (docs/policy.md's syntax): `allow NAME [port LIST]` for each name refused as internal,
 * `allow ADDR [port LIST]` for each private address (RFC 1918, 100.64/10, fc00::/7, fe80::/10) sent to Tor or
 * refused, each with a comment saying why. Returns the number of allow lines written, or -EIO. */
int audit_draft(const struct audit_table *t, FILE *out);

/* Whether HOST is an address literal in a private or internal range (the draft's address rule). */
bool audit_private_address(const char *host);

#endif
