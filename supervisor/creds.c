/* creds.c: a trapped call performed with the credentials of the thread that made it.
 *
 * The supervisor performs every trapped call itself (handlers.c, send.c), so the kernel checks the supervisor's
 * credentials where it would have checked the program's: the right to connect to a Unix socket's file and to
 * search the directories on its path, the capabilities a netlink request or a control message needs, the uid and
 * gid of SCM_CREDENTIALS. A program under torwrap starts with torwrap's credentials (setuid and setcap programs
 * are refused, and no_new_privs holds in the whole tree), so it never has more than the supervisor, but it may
 * give some up: a root service that drops to a user, a program that drops capabilities. Performed with torwrap's
 * credentials, its calls would get them back.
 *
 * So when the supervisor holds privileges a program could give up (any capability, or a uid 0), the serving
 * thread compares the caller's credentials with its own before it performs, and when they differ it takes the
 * caller's (uids, gids, groups and, in the same user namespace, capabilities) on this thread alone: the raw
 * system calls, not libc's, which would change every thread. It never gives them back: it answers, then leaves
 * the pool (notify.c), so nothing else is ever served with them. Everything that needs the supervisor's own
 * rights (reading the caller's memory and /proc entries, taking its descriptors, the log line) is done before.
 *
 * What cannot be taken: the process id. The peer of a Unix socket connected by the supervisor reads the
 * supervisor's pid in SO_PEERCRED (and in the credentials the kernel attaches for SO_PASSCRED), with the caller's
 * uid and gid; SCM_CREDENTIALS naming the caller's pid are sent with the supervisor's (send.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sv.h"

#define SV_GROUPS_MAX 1024 /* supplementary groups a caller may have for the supervisor to take them */

struct sv_creds {
	uid_t uid[4]; /* real, effective, saved, filesystem */
	gid_t gid[4];
	gid_t groups[SV_GROUPS_MAX];
	int ngroups;
	uint64_t cap_inh, cap_prm, cap_eff;
};

/* ------------------------------------------------------------------------------------------------- reading */

/* The three capability sets of TID (0: this thread). 0 or a negative errno. */
static int caps_of(pid_t tid, uint64_t *inh, uint64_t *prm, uint64_t *eff)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = tid };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) != 0)
		return -errno;
	*inh = (uint64_t)d[1].inheritable << 32 | d[0].inheritable;
	*prm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	*eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	return 0;
}

bool sv_thread_has_sys_admin(void)
{
	uint64_t inh = 0, prm = 0, eff = 0;
	return caps_of(0, &inh, &prm, &eff) == 0 && (eff >> CAP_SYS_ADMIN & 1);
}

static int parse_ids(const char *line, unsigned long out[4])
{
	return sscanf(line, "%lu %lu %lu %lu", &out[0], &out[1], &out[2], &out[3]) == 4 ? 0 : -EINVAL;
}

static int parse_groups(const char *line, struct sv_creds *cr)
{
	char *end;
	cr->ngroups = 0;
	for (const char *p = line;; p = end) {
		unsigned long g = strtoul(p, &end, 10);
		if (end == p)
			return 0;
		if (cr->ngroups == SV_GROUPS_MAX)
			return -E2BIG;
		cr->groups[cr->ngroups++] = (gid_t)g;
	}
}

/* One line of /proc/TID/status into CR. */
static int parse_status_line(const char *line, struct sv_creds *cr)
{
	unsigned long ids[4];
	int rc = 0;
	if (strncmp(line, "Uid:", 4) == 0 && (rc = parse_ids(line + 4, ids)) == 0)
		for (int i = 0; i < 4; i++)
			cr->uid[i] = (uid_t)ids[i];
	else if (strncmp(line, "Gid:", 4) == 0 && (rc = parse_ids(line + 4, ids)) == 0)
		for (int i = 0; i < 4; i++)
			cr->gid[i] = (gid_t)ids[i];
	else if (strncmp(line, "Groups:", 7) == 0)
		rc = parse_groups(line + 7, cr);
	else if (strncmp(line, "CapInh:", 7) == 0)
		cr->cap_inh = strtoull(line + 7, NULL, 16);
	else if (strncmp(line, "CapPrm:", 7) == 0)
		cr->cap_prm = strtoull(line + 7, NULL, 16);
	else if (strncmp(line, "CapEff:", 7) == 0)
		cr->cap_eff = strtoull(line + 7, NULL, 16);
	return rc;
}

/* The credentials of TID as this process sees them (ids mapped into its user namespace). */
static int creds_of(pid_t tid, struct sv_creds *cr)
{
	char *status = sv_proc_status(tid);
	if (status == NULL)
		return errno ? -errno : -EIO;
	memset(cr, 0, sizeof(*cr));
	int rc = 0;
	for (char *line = status, *nl; rc == 0 && line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		rc = parse_status_line(line, cr);
	}
	free(status);
	return rc;
}

/* ----------------------------------------------------------------------------------------------- comparing */

/* What the supervisor is, read once: its capabilities, ids, user namespace. */
static struct {
	bool privileged; /* anything a program could give up: a capability, a uid 0 */
	uint64_t inh, prm, eff;
	uid_t euid;
	gid_t egid;
	ino_t userns;
} self;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void self_read(void)
{
	uid_t r, e, s;
	struct stat st;
	getresuid(&r, &e, &s);
	self.euid = e;
	self.egid = getegid();
	if (caps_of(0, &self.inh, &self.prm, &self.eff) != 0)
		self.prm = self.eff = ~0ull; /* unknown: assume the worst, compare every time */
	self.userns = stat("/proc/self/ns/user", &st) == 0 ? st.st_ino : 0;
	self.privileged = self.prm || self.eff || self.inh || r == 0 || e == 0 || s == 0;
}

static ino_t userns_of(pid_t tid)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)tid);
	return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* True when TID can do what the supervisor can: the same capabilities in the same user namespace, and the same
 * effective ids (the owner of /proc/TID; a task that is not dumpable shows root there, but with the
 * supervisor's capabilities it holds its power whatever its ids). Three cheap calls, before reading the whole
 * of /proc/TID/status. */
static bool same_as_self(pid_t tid)
{
	uint64_t inh = 0, prm = 0, eff = 0;
	char path[64];
	struct stat st;
	if (caps_of(tid, &inh, &prm, &eff) != 0 || inh != self.inh || prm != self.prm || eff != self.eff)
		return false;
	snprintf(path, sizeof(path), "/proc/%d", (int)tid);
	if (stat(path, &st) != 0 || st.st_uid != self.euid || st.st_gid != self.egid)
		return false;
	return userns_of(tid) == self.userns;
}

/* ---------------------------------------------------------------------------------------------- becoming */

/* Sets this thread's capability sets. 0 or a negative errno. */
static int set_caps(uint64_t inh, uint64_t prm, uint64_t eff)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {
		{ .effective = (uint32_t)eff, .permitted = (uint32_t)prm, .inheritable = (uint32_t)inh },
		{ .effective = (uint32_t)(eff >> 32),
		  .permitted = (uint32_t)(prm >> 32),
		  .inheritable = (uint32_t)(inh >> 32) },
	};
	return syscall(SYS_capset, &h, d) == 0 ? 0 : -errno;
}

/* Takes CR on this thread only (raw system calls: libc's would change every thread). The permitted set is kept
 * across the uid change (KEEPCAPS) so that the caller's capabilities, a subset of ours, can then be set. */
static int become(const struct sv_creds *cr, bool caps)
{
	if (syscall(SYS_prctl, PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0 ||
	    syscall(SYS_setgroups, (long)cr->ngroups, cr->groups) != 0 ||
	    syscall(SYS_setresgid, (long)cr->gid[0], (long)cr->gid[1], (long)cr->gid[2]) != 0 ||
	    syscall(SYS_setresuid, (long)cr->uid[0], (long)cr->uid[1], (long)cr->uid[2]) != 0)
		return -errno;
	/* setfsuid answers with the previous value: asked twice, the second answer says whether it took. */
	syscall(SYS_setfsgid, (long)cr->gid[3]);
	syscall(SYS_setfsuid, (long)cr->uid[3]);
	if ((gid_t)syscall(SYS_setfsgid, (long)cr->gid[3]) != cr->gid[3] ||
	    (uid_t)syscall(SYS_setfsuid, (long)cr->uid[3]) != cr->uid[3])
		return -EPERM;
	/* Capabilities held in another user namespace are not ours to give: none there (the namespace's owner keeps
	 * its rights inside it by the kernel's own rule). */
	return caps ? set_caps(cr->cap_inh, cr->cap_prm, cr->cap_eff) : set_caps(0, 0, 0);
}

int sv_call_as_caller(struct sv_call *c)
{
	pthread_once(&self_once, self_read);
	if (!self.privileged || same_as_self(c->tid))
		return 0;
	struct sv_creds cr;
	int rc = creds_of(c->tid, &cr);
	bool caps = userns_of(c->tid) == self.userns;
	struct tw_event ev = TW_EVENT("log", NULL, NULL, NULL); /* not a routing decision: not for the audit */
	ev.pid = (long)c->tid;
	if (rc < 0) {
		ev.err = -rc;
		tw_log_event(TW_LOG_ERROR, ev, "pid %d: refused: its credentials cannot be read (%s), and torwrap's "
			     "would give it rights it dropped", (int)c->tid, strerror(-rc));
		return -EPERM;
	}
	/* The caller's memory stays reachable through this, checked now, with the supervisor's rights. */
	char mem[64];
	snprintf(mem, sizeof(mem), "/proc/%d/mem", (int)c->tid);
	if ((c->memfd = open(mem, O_RDWR | O_CLOEXEC)) < 0) {
		ev.err = errno;
		tw_log_event(TW_LOG_ERROR, ev, "pid %d: refused: its memory cannot be reached (%s)", (int)c->tid,
			     strerror(ev.err));
		return -EPERM;
	}
	tw_log_event(TW_LOG_DEBUG, ev, "pid %d: performed with its own credentials (uid %u, gid %u)", (int)c->tid,
		     (unsigned)cr.uid[1], (unsigned)cr.gid[1]);
	c->as_caller = true; /* from here on this thread is not the supervisor's any more, whatever happens */
	if ((rc = become(&cr, caps)) < 0) {
		errno = -rc; /* the log file may be out of reach now: nothing more is said */
		return -EPERM;
	}
	return 0;
}
