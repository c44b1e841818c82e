/* backstop.c: the library's part in the kernel backstop, set up when the library loads.
 *
 * Under `torwrap` the process tree runs under a seccomp filter that hands every network call without the tree's
 * cookie to the supervisor: the cookie arrives in TORWRAP_SECCOMP_COOKIE, and the library's own calls carry it
 * (common/gate.c), so what the library routed passes in the kernel.
 *
 * Under LD_PRELOAD alone there is no supervisor, and calls that never meet the hooks would leave unseen: a Go
 * binary's own system calls, glibc's internal ones (its resolver behind ruserok, rexec or _nss_dns_*), a second
 * libc loaded with dlmopen, raw system calls, io_uring. So every program gets the same filter with EPERM for the
 * trapped calls (connect, sendmsg, sendmmsg, sendto with an inet address) that do not carry the cookie: what the
 * library routed passes, nothing else can leave. A Go program, none of whose connections could then work, is told
 * so in one line pointing to entrypoint mode. The cost (docs/leaks.md): no_new_privs for the tree, and glibc's own
 * calls that are not the network's (syslog to /dev/log, nscd) fail with EPERM too.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "../policy/policy.h"
#include "shim.h"

static const char *program_name(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	if (n <= 0)
		return "this program";
	buf[n] = '\0';
	return buf;
}

/* LD_PRELOAD alone: every network call made past the library fails (EPERM) from here on. A program whose own
 * code makes its system calls (WHAT: "Go") is told so at once: none of its connections can work here. */
static void install_filter(const char *what)
{
	uint64_t cookie;
	int rc = tw_gate_cookie_new(&cookie);
	if (rc == 0)
		rc = tw_filter_install_eperm(cookie);
	if (rc == 0) {
		tw_gate_set_cookie(cookie);
		char text[17];
		tw_gate_cookie_text(cookie, text);
		setenv(TW_COOKIE_ENV, text, 1); /* children inherit the filter: the library in them needs the cookie */
		if (what == NULL)
			return; /* nothing to say, and no configuration read at load: a program that never connects pays
				   nothing more */
	}
	char exe[512];
	const char *name = program_name(exe, sizeof(exe));
	config_get(); /* the log level */
	struct tw_event ev = TW_EVENT("exec", NULL, NULL, NULL);
	if (rc != 0) {
		ev.err = -rc;
		if (what)
			tw_log_event(TW_LOG_ERROR, ev,
				     "%s is a %s program: its network calls bypass libtorwrap.so, and they cannot be "
				     "refused here (seccomp: %s): run it as `torwrap -- %s`",
				     name, what, strerror(-rc), name);
		else
			tw_log_event(TW_LOG_WARN, ev,
				     "the kernel filter cannot be installed (seccomp: %s): a network call made past "
				     "libtorwrap.so (a raw system call, a second libc) would not be refused; run it as "
				     "`torwrap -- %s`",
				     strerror(-rc), name);
		return;
	}
	ev.verdict = "refuse";
	tw_log_event(TW_LOG_ERROR, ev,
		     "%s is a %s program: its network calls bypass libtorwrap.so, so they are refused (EPERM); run it "
		     "under the wrapper, `torwrap -- %s` (entrypoint mode), to route them through Tor",
		     name, what, name);
}

static bool supervised_strict;

bool shim_strict_supervised(void)
{
	return supervised_strict;
}

/* Is torwrap's supervisor there, answering the calls that do not carry the cookie? Only it redirects a socket
 * connected to port 53 to its DNS responder (a UDP connect sends nothing, so without it nothing leaves; under
 * the filter of LD_PRELOAD alone the connect is refused). */
static bool supervisor_answers(void)
{
	int s = tw_libc()->socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return false;
	struct sockaddr_in ns = { .sin_family = AF_INET, .sin_port = htons(53), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	bool redirected = tw_libc()->connect(s, (struct sockaddr *)&ns, sizeof(ns)) == 0 &&
			  tw_libc()->getpeername(s, (struct sockaddr *)&peer, &len) == 0 && peer.sin_port != ns.sin_port;
	tw_libc()->close(s);
	return redirected;
}

static _Atomic int supervised = -1; /* -1 not asked yet */

bool shim_supervised(void)
{
	int v = atomic_load_explicit(&supervised, memory_order_relaxed);
	if (v < 0) {
		v = supervised_strict || supervisor_answers();
		atomic_store_explicit(&supervised, v, memory_order_relaxed);
	}
	return v;
}

/* TORWRAP_STRICT=on: `torwrap --strict` hands out no cookie. Is its supervisor really there? An environment
 * that merely says so gets the filter of LD_PRELOAD alone, and the library hands out its own virtual
 * addresses. */
static bool strict_supervisor_answers(void)
{
	const char *v = getenv("TORWRAP_STRICT");
	return v != NULL && (strcmp(v, "on") == 0 || strcmp(v, "1") == 0) && supervisor_answers();
}

__attribute__((constructor)) static void backstop_init(void)
{
	/* Under a filter already (torwrap's, or an ancestor's): its cookie. Taken in secure-execution mode too: a
	 * cookie only lets the library's own, routed calls pass a filter of the user's own tree, so a user who sets
	 * a wrong one only makes this program's connections fail, and the right one is what its children need. */
	uint64_t cookie;
	if (tw_gate_cookie_parse(getenv(TW_COOKIE_ENV), &cookie) == 0) {
		tw_gate_set_cookie(cookie);
		return;
	}
	if (strict_supervisor_answers()) {
		supervised_strict = true; /* no cookie: every call of ours goes to the supervisor too */
		return;
	}
	char what[16];
	install_filter(tw_self_bypasses_libc(what, sizeof(what)) ? what : NULL);
}
