/* report.c: the audit table for a person (audit_report) and for the policy file (audit_draft).
 *
 * Every string here came from the stream, which the audited programs can write to: the report shows any byte
 * that is not printable ASCII as \xNN (no terminal escapes), and the draft writes only names and addresses the
 * policy syntax accepts, with comments that cannot end their line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../policy/policy.h"
#include "audit.h"

#define HOST_COLUMN_MIN 11 /* "DESTINATION" */
#define HOST_COLUMN_MAX 40 /* longer names overflow their column rather than push every line right */

static bool printable(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

/* S as it is shown: its width, and written to OUT when OUT is not NULL. */
static size_t put_safe(FILE *out, const char *s)
{
	size_t width = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (printable(*p)) {
			if (out)
				fputc(*p, out);
			width++;
		} else {
			if (out)
				fprintf(out, "\\x%02x", *p);
			width += 4;
		}
	}
	return width;
}

/* By destination, then decision (verdict and rule), then port: a name's rows of one decision are together. */
static int compare_rows(const void *a, const void *b)
{
	const struct audit_entry *x = *(const struct audit_entry *const *)a, *y = *(const struct audit_entry *const *)b;
	int c = strcasecmp(x->host, y->host);
	if (c == 0)
		c = strcmp(x->host, y->host);
	if (c == 0)
		c = strcmp(x->verdict, y->verdict);
	if (c == 0)
		c = strcmp(x->rule, y->rule);
	return c ? c : (x->port > y->port) - (x->port < y->port);
}

static bool same_decision(const struct audit_entry *a, const struct audit_entry *b)
{
	return strcmp(a->host, b->host) == 0 && strcmp(a->verdict, b->verdict) == 0 && strcmp(a->rule, b->rule) == 0;
}

/* Whether row I (a lookup of the name without a port) is shown within the next row: the one row of the same
 * decision with a port (the connection that followed the lookup), so a name used on one port is one line. */
static bool folded(const struct audit_entry **rows, size_t n, size_t i)
{
	return rows[i]->port == 0 && i + 1 < n && same_decision(rows[i], rows[i + 1]) &&
	       (i + 2 >= n || !same_decision(rows[i], rows[i + 2]));
}

/* The rows in report order; NULL when T is empty or memory ran out. */
static const struct audit_entry **sorted_rows(const struct audit_table *t)
{
	if (t->n == 0)
		return NULL;
	const struct audit_entry **rows = malloc(t->n * sizeof(*rows));
	if (rows == NULL)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		rows[i] = &t->entries[i];
	qsort(rows, t->n, sizeof(*rows), compare_rows);
	return rows;
}

static bool refused_as_internal(const struct audit_entry *e)
{
	return strcmp(e->verdict, "refuse") == 0 && strcmp(e->rule, AUDIT_RULE_INTERNAL_NAME) == 0;
}

static void report_row(FILE *out, const struct audit_entry *e, unsigned long count, size_t host_width)
{
	char port[12] = "-";
	if (e->port)
		snprintf(port, sizeof(port), "%u", e->port);
	fputs("  ", out);
	for (size_t w = put_safe(out, e->host); w < host_width; w++)
		fputc(' ', out);
	fprintf(out, "  %-5s  %-7s  %6lu  ", port, e->verdict, count);
	put_safe(out, e->rule[0] ? e->rule : "-");
	fputc('\n', out);
}

/* The rows, a folded one's count added to the row it is shown within. */
static void report_rows(FILE *out, const struct audit_entry **rows, size_t n, size_t host_width)
{
	fprintf(out, "  %-*s  %-5s  %-7s  %6s  %s\n", (int)host_width, "DESTINATION", "PORT", "VERDICT", "COUNT", "RULE");
	unsigned long carried = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned long count = rows[i]->lookups + rows[i]->connections;
		if (folded(rows, n, i)) {
			carried = count;
			continue;
		}
		report_row(out, rows[i], count + carried, host_width);
		carried = 0;
	}
}

/* "internal names refused: a, b" (each name once, in report order). */
static void report_internal_names(FILE *out, const struct audit_entry **rows, size_t n)
{
	fputs("internal names refused:", out);
	const char *last = NULL;
	size_t listed = 0;
	for (size_t i = 0; i < n; i++) {
		if (!refused_as_internal(rows[i]) || (last && strcmp(last, rows[i]->host) == 0))
			continue;
		fputs(listed++ ? ", " : " ", out);
		put_safe(out, rows[i]->host);
		last = rows[i]->host;
	}
	fputs(listed ? "\n" : " none\n", out);
}

void audit_report(const struct audit_table *t, FILE *out)
{
	const struct audit_entry **rows = sorted_rows(t);
	size_t n = rows ? t->n : 0, shown = 0, host_width = HOST_COLUMN_MIN;
	unsigned long decisions = 0;
	for (size_t i = 0; i < n; i++) {
		size_t w = put_safe(NULL, rows[i]->host);
		decisions += rows[i]->lookups + rows[i]->connections;
		shown += !folded(rows, n, i);
		if (w > host_width)
			host_width = w < HOST_COLUMN_MAX ? w : HOST_COLUMN_MAX;
	}
	fprintf(out, "torwrap audit: %zu destination%s, %lu decision%s\n", shown, shown == 1 ? "" : "s", decisions,
		decisions == 1 ? "" : "s");
	if (n)
		report_rows(out, rows, n, host_width);
	report_internal_names(out, rows, n);
	if (t->rejected)
		fprintf(out, "torwrap audit: %lu line%s of the audit stream not understood (skipped)\n", t->rejected,
			t->rejected == 1 ? "" : "s");
	if (t->n && rows == NULL)
		fputs("torwrap audit: out of memory: the table is not shown\n", out);
	free(rows);
}

/* ------------------------------------------------------------------------------------------------- draft */

bool audit_private_address(const char *host)
{
	unsigned char a[16];
	if (inet_pton(AF_INET6, host, a) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(a, mapped, sizeof(mapped)) != 0)
			return (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80); /* fc00::/7, fe80::/10 */
		memmove(a, a + 12, 4); /* ::ffff:10.0.0.1 is decided as 10.0.0.1 */
	} else if (inet_pton(AF_INET, host, a) != 1) {
		return false;
	}
	return a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
	       (a[0] == 100 && (a[1] & 0xc0) == 64);
}

/* What the draft learned about one host from its rows. */
struct host_facts {
	unsigned long internal_lookups, internal_connections; /* refused as an internal name */
	unsigned long tor, refused; /* a private address: decisions sent to Tor, refused */
	const char *refuse_rule; /* the rule of the address's first refusal */
	bool any_port; /* some decision named a port (else the line covers every port) */
	unsigned char ports[65536 / 8]; /* the ports seen in the counted decisions */
};

/* Rules a policy line cannot change: the draft says nothing about what they decided. */
static bool rule_beyond_policy(const char *rule)
{
	return strncmp(rule, "mode ", 5) == 0 || strcmp(rule, "broken configuration") == 0 ||
	       strcmp(rule, "malformed") == 0 || strncmp(rule, "built-in ", 9) == 0;
}

/* A decision without a port (a lookup of the name alone) adds none: the line names the ports some decision
 * did name, and every port only when none did. */
static void note_port(struct host_facts *f, unsigned port)
{
	if (port) {
		f->ports[port / 8] |= (unsigned char)(1u << (port % 8));
		f->any_port = true;
	}
}

static void learn(struct host_facts *f, const struct audit_entry *e)
{
	if (refused_as_internal(e)) {
		f->internal_lookups += e->lookups;
		f->internal_connections += e->connections;
		note_port(f, e->port);
	} else if (audit_private_address(e->host) && !rule_beyond_policy(e->rule)) {
		bool tor = strcmp(e->verdict, "tor") == 0, refused = strcmp(e->verdict, "refuse") == 0;
		if (!tor && !refused)
			return;
		f->tor += tor ? e->lookups + e->connections : 0;
		f->refused += refused ? e->lookups + e->connections : 0;
		if (refused && f->refuse_rule == NULL)
			f->refuse_rule = e->rule;
		note_port(f, e->port);
	}
}

static bool has_port(const struct host_facts *f, unsigned p)
{
	return p < 65536 && (f->ports[p / 8] >> (p % 8) & 1);
}

/* " port 80,443,8000-8002" (consecutive ports as ranges; at most the 16 items a rule may hold: the ports past
 * them are left for *NEXT, the port to start the next line from, 0 when done). "" for every port. */
static void port_list(const struct host_facts *f, unsigned from, char *out, size_t len, unsigned *next)
{
	size_t used = 0;
	unsigned items = 0;
	*next = 0;
	out[0] = '\0';
	if (!f->any_port)
		return;
	for (unsigned p = from; p < 65536; p++) {
		if (!has_port(f, p))
			continue;
		if (items == POLICY_MAX_PORT_RANGES) {
			*next = p;
			return;
		}
		unsigned q = p;
		while (has_port(f, q + 1))
			q++;
		int n = q == p ? snprintf(out + used, len - used, "%s%u", items ? "," : " port ", p)
			       : snprintf(out + used, len - used, "%s%u-%u", items ? "," : " port ", p, q);
		used += n > 0 ? (size_t)n : 0;
		items++;
		p = q;
	}
}

/* A host name the policy file takes as a name: letters, digits, '-', '_' and dots between labels of 1 to 63,
 * and not only digits and dots (the policy reads those as an address). */
static bool policy_name(const char *s)
{
	size_t len = strlen(s), label = 0;
	bool letter = false;
	if (len == 0 || len > 253)
		return false;
	for (const char *p = s; *p; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!alnum && *p != '-' && *p != '_')
			return false;
		letter = letter || !(*p >= '0' && *p <= '9');
		if (++label > 63)
			return false;
	}
	return label > 0 && letter;
}

/* The policy target for HOST: the name, the address in its canonical form (IPv6 in brackets), or false. */
static bool policy_target(const char *host, char *out, size_t len)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	if (inet_pton(AF_INET, host, a) == 1 && inet_ntop(AF_INET, a, text, sizeof(text)))
		return snprintf(out, len, "%s", text) < (int)len;
	if (inet_pton(AF_INET6, host, a) == 1 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a) &&
	    inet_ntop(AF_INET, a + 12, text, sizeof(text))) /* the policy stores it as the IPv4 address anyway */
		return snprintf(out, len, "%s", text) < (int)len;
	if (inet_pton(AF_INET6, host, a) == 1 && inet_ntop(AF_INET6, a, text, sizeof(text)))
		return snprintf(out, len, "[%s]", text) < (int)len;
	return policy_name(host) && snprintf(out, len, "%s", host) < (int)len;
}

/* Whether LINE is one rule the policy parser takes, for one name or address, going direct: the draft never
 * writes a line that would break the operator's policy or allow more than it says. */
static bool parses_as_one_direct_rule(const char *line)
{
	struct policy_rules rules = { NULL, 0 };
	char err[512];
	bool ok = policy_parse_text(&rules, line, "draft", err, sizeof(err)) == 0 && rules.count == 1 &&
		  rules.rule[0].verdict == POLICY_DIRECT &&
		  (rules.rule[0].kind == POLICY_T_NAME || rules.rule[0].kind == POLICY_T_ADDR);
	policy_rules_free(&rules);
	return ok;
}

static void plural(char *out, size_t len, unsigned long n, const char *what)
{
	snprintf(out, len, "%lu %s%s", n, what, n == 1 ? "" : "s");
}

/* Why HOST's line is drafted, for its comment (printable ASCII only: a rule text could hold anything). */
static void why_text(const struct host_facts *f, char *out, size_t len)
{
	char a[48], b[48];
	if (f->internal_lookups || f->internal_connections) {
		plural(a, sizeof(a), f->internal_lookups, "lookup");
		plural(b, sizeof(b), f->internal_connections, "connection");
		snprintf(out, len, "refused as an internal name (%s%s%s): allow it to reach it directly",
			 f->internal_lookups ? a : "", f->internal_lookups && f->internal_connections ? ", " : "",
			 f->internal_connections ? b : "");
	} else if (f->tor && !f->refused) {
		plural(a, sizeof(a), f->tor, "time");
		snprintf(out, len, "a private address sent to Tor (%s), which cannot reach it: allow it directly", a);
	} else {
		plural(a, sizeof(a), f->refused, "time");
		plural(b, sizeof(b), f->tor, "time");
		snprintf(out, len, "a private address refused by %s (%s)%s%s: allow it directly if it is yours",
			 f->refuse_rule, a, f->tor ? ", sent to Tor " : "", f->tor ? b : "");
	}
	for (char *p = out; *p; p++)
		if (!printable((unsigned char)*p))
			*p = '?';
}

/* HOST's allow lines (one per 16 port items). The number written, or -EIO. */
static int draft_host(FILE *out, const char *host, const struct host_facts *f)
{
	char target[TW_NAME_MAX + 2], ports[256], line[TW_NAME_MAX + 300], why[AUDIT_RULE_MAX + 160];
	if (!policy_target(host, target, sizeof(target))) {
		fputs("# not drafted, not a name the policy takes: ", out);
		put_safe(out, host);
		fputc('\n', out);
		return 0;
	}
	why_text(f, why, sizeof(why));
	int written = 0;
	unsigned from = 1, next;
	do {
		port_list(f, from, ports, sizeof(ports), &next);
		snprintf(line, sizeof(line), "allow %s%s", target, ports);
		if (!parses_as_one_direct_rule(line)) {
			fprintf(out, "# not drafted, the policy would not take it: %s\n", line);
		} else {
			fprintf(out, "%s  # %s\n", line, why);
			written++;
		}
		from = next;
	} while (next);
	return ferror(out) ? -EIO : written;
}

int audit_draft(const struct audit_table *t, FILE *out)
{
	const struct audit_entry **rows = sorted_rows(t);
	struct host_facts *f = malloc(sizeof(*f));
	int written = 0;
	if ((t->n && rows == NULL) || f == NULL) {
		free(rows);
		free(f);
		return -ENOMEM;
	}
	fputs("# torwrap audit: policy lines drafted from a run (see docs/policy.md). Each one lets a destination\n"
	      "# be reached directly, without Tor: keep only those for your own services, then add them to the policy.\n",
	      out);
	for (size_t i = 0; i < t->n && written >= 0;) {
		size_t j = i;
		memset(f, 0, sizeof(*f));
		for (; j < t->n && strcmp(rows[j]->host, rows[i]->host) == 0; j++)
			learn(f, rows[j]);
		if (f->internal_lookups || f->internal_connections || f->tor || f->refused) {
			int n = draft_host(out, rows[i]->host, f);
			written = n < 0 ? n : written + n;
		}
		i = j;
	}
	free(rows);
	free(f);
	return written < 0 || ferror(out) ? -EIO : written;
}
