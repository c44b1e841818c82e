/* supervisor.h: torwrap's seccomp supervisor, for the programs the library cannot follow (statically linked
 * ones: Go, gcc -static, busybox) and as a backstop under it (`torwrap --seccomp`).
 *
 * The program runs under a seccomp filter that hands its network system calls to the wrapper (user
 * notification); the wrapper routes them as the library routes libc's calls: through the SOCKS5 proxy by name,
 * directly for what policy allows, refused otherwise; DNS is answered from the shared virtual address map.
 * Kernel needs: seccomp user notification (Linux 5.0), pidfd_open (5.3) and pidfd_getfd (5.6).
 *
 * How it runs: run.c; which of the module's files holds what: sv.h (internal to supervisor/).
 */
#ifndef TORWRAP_SUPERVISOR_H
#define TORWRAP_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>

#include "../policy/policy.h"

/* Whether this kernel (and the container's own seccomp profile) allows the supervisor. Returns 0, or -1 with
 * a sentence saying what is missing in WHY. */
int supervisor_available(char *why, size_t whylen);

/* The wrapper's exit status when the supervisor's process died while the program ran (its network calls then
 * fail with ENOSYS; a line says so at once). */
#define SUPERVISOR_EXIT_LOST 125

/* Runs PATH (ARGV, ENVP) under the supervisor (calls that carry COOKIE in an unused argument, the library's,
 * pass in the kernel: see common/filter.c; never 0, the start-up hands the listener over with it) and serves
 * its whole process tree until the last process of it has exited. The virtual map must already be in the environment (TORWRAP_VMAP_FD), as the wrapper puts it.
 * Returns the program's exit status (a program killed by a signal kills the caller with the same signal), or
 * 126/127 when it could not be started (printed on stderr). CFG must outlive the call. */
int supervisor_run(const struct tw_config *cfg, const char *path, char *const argv[], char *const envp[],
		   uint64_t cookie);

#endif
