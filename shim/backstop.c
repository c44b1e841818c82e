/* backstop.c: the library's part in the kernel backstop, set up when the library loads.
 *
 * Under `torwrap` the process tree runs under a seccomp filter that hands every network call without the tree's
 * cookie to the supervisor: the cookie arrives in TORWRAP_SECCOMP_COOKIE, and the library's own calls carry it
 * (common/gate.c), so what the library routed passes in the kernel.
 *
 * Under LD_PRELOAD alone there is no supervisor. A program whose own code makes its system calls (a Go binary,
 * recognised by its build-ID note) would then connect and resolve past the library without a trace: instead the
 * library installs the same filter with EPERM for the trapped calls, so nothing it sends leaves, and says so in
 * one line that points to entrypoint mode. Other programs get no filter: their calls all meet the hooks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* LD_PRELOAD alone, a program that bypasses libc: its trapped calls fail (EPERM) from here on. */
static void refuse_bypass(const char *what)
{
	char exe[512];
	const char *name = program_name(exe, sizeof(exe));
	config_get(); /* the log level */
	uint64_t cookie;
	int rc = tw_gate_cookie_new(&cookie);
	if (rc == 0)
		rc = tw_filter_install_eperm(cookie);
	struct tw_event ev = TW_EVENT("exec", NULL, NULL, NULL);
	if (rc != 0) {
		ev.err = -rc;
		tw_log_event(TW_LOG_ERROR, ev,
			     "%s is a %s program: its network calls bypass libtorwrap.so, and they cannot be refused "
			     "here (seccomp: %s): run it as `torwrap -- %s`",
			     name, what, strerror(-rc), name);
		return;
	}
	tw_gate_set_cookie(cookie);
	char text[17];
	tw_gate_cookie_text(cookie, text);
	setenv(TW_COOKIE_ENV, text, 1); /* children inherit the filter: the library in them needs the cookie */
	ev.verdict = "refuse";
	tw_log_event(TW_LOG_ERROR, ev,
		     "%s is a %s program: its network calls bypass libtorwrap.so, so they are refused (EPERM); run it "
		     "under the wrapper, `torwrap -- %s` (entrypoint mode), to route them through Tor",
		     name, what, name);
}

__attribute__((constructor)) static void backstop_init(void)
{
	if (!tw_secure_mode()) {
		uint64_t cookie;
		if (tw_gate_cookie_parse(getenv(TW_COOKIE_ENV), &cookie) == 0) {
			tw_gate_set_cookie(cookie); /* under torwrap's filter: the supervisor serves the rest */
			return;
		}
	}
	char what[16];
	if (tw_self_bypasses_libc(what, sizeof(what)))
		refuse_bypass(what);
}
