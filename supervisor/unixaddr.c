/* unixaddr.c: a Unix socket's address as the program would reach it.
 *
 * The supervisor connects and sends for the program (handlers.c, send.c), so a path in a sockaddr_un must be
 * looked up where the program would look it up, not where the supervisor is: a relative path from the
 * program's working directory (/proc/TID/cwd), an absolute one from its root, and when that root is not the
 * supervisor's (a chroot, a mount namespace of its own: /proc/TID/root and /proc/TID/ns/mnt compared with ours
 * by device and inode) from /proc/TID/root, with openat2's RESOLVE_IN_ROOT so that ".." and absolute symbolic
 * links stay inside it as the kernel keeps them for the program. The path is opened with O_PATH (after
 * creds.c: with the caller's credentials, so the directories' search rights are the program's) and the socket
 * reached through "/proc/self/fd/N": the kernel follows that link to the very file opened, and checks the
 * right to write to it there.
 *
 * Magic links (/proc/PID/fd/N, /proc/PID/cwd...) are not followed from a path (RESOLVE_NO_MAGICLINKS: ELOOP):
 * "/proc/self" would name the supervisor, and the supervisor may read every process of the tree. The program's
 * own "/proc/self/fd/N", "/proc/thread-self/fd/N" and "/dev/fd/N" (how systemd reaches a socket whose path is
 * too long: through an O_PATH descriptor), written so, are its descriptor N, taken with pidfd_getfd (where its
 * root is the supervisor's: the /proc it would reach is then the supervisor's too).
 *
 * Abstract names (sun_path[0] == 0), unnamed and malformed addresses, and every other family's addresses are
 * passed as given: they name no file (an abstract name belongs to the socket's network namespace, which the
 * supervisor's duplicate shares), and the kernel gives its own errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "sv.h"

/* --------------------------------------------------------------------------------------- the program's view */

static struct stat self_root, self_mntns;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void self_read(void)
{
	stat("/", &self_root);
	stat("/proc/self/ns/mnt", &self_mntns);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* 1 when TID's root is the supervisor's, in the same mount namespace; 0 when not; a negative errno. */
static int same_root(pid_t tid)
{
	pthread_once(&self_once, self_read);
	char path[64];
	struct stat root, mntns;
	snprintf(path, sizeof(path), "/proc/%d/root", (int)tid);
	if (stat(path, &root) != 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)tid);
	if (stat(path, &mntns) != 0)
		return -errno;
	return same_file(&root, &self_root) && same_file(&mntns, &self_mntns);
}

/* Opens /proc/TID/WHAT (cwd or root) as a directory to look paths up from. The descriptor or a negative errno. */
static int open_dir_of(pid_t tid, const char *what)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)tid, what);
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

/* The link's target (readlink) in BUF, or -1. */
static ssize_t link_of(pid_t tid, const char *what, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)tid, what);
	ssize_t n = readlink(path, buf, len - 1);
	if (n < 0 || (size_t)n >= len - 1)
		return -1;
	buf[n] = '\0';
	return n;
}

/* The program's working directory below its root ("" for the root itself), into BUF: NULL when it cannot be
 * told (deleted, outside the root, unreachable from here). */
static const char *cwd_in_root(pid_t tid, char *buf, size_t len)
{
	char root[PATH_MAX];
	ssize_t r = link_of(tid, "root", root, sizeof(root));
	if (r < 0 || link_of(tid, "cwd", buf, len) < 0 || buf[0] != '/' || strstr(buf, " (deleted)"))
		return NULL;
	if (strcmp(root, "/") == 0)
		return buf + 1;
	if (strncmp(buf, root, (size_t)r) != 0 || (buf[r] != '/' && buf[r] != '\0'))
		return NULL;
	return buf[r] == '/' ? buf + r + 1 : buf + r;
}

/* ---------------------------------------------------------------------------------------------------- paths */

/* The program's descriptor named by PATH ("/proc/self/fd/N", "/proc/thread-self/fd/N", "/dev/fd/N"), or -1. */
static int own_fd_named(const char *path)
{
	static const char *const prefixes[] = { "/proc/self/fd/", "/proc/thread-self/fd/", "/dev/fd/" };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);
		if (strncmp(path, prefixes[i], n) != 0 || path[n] < '0' || path[n] > '9')
			continue;
		char *end;
		long fd = strtol(path + n, &end, 10);
		return *end == '\0' && fd <= INT_MAX ? (int)fd : -1;
	}
	return -1;
}

/* U names the file F: "/proc/self/fd/F" (ours). */
static void name_file(struct sv_unix_addr *u, int f)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&u->ss;
	memset(&u->ss, 0, sizeof(u->ss));
	sun->sun_family = AF_UNIX;
	int n = snprintf(sun->sun_path, sizeof(sun->sun_path), "/proc/self/fd/%d", f);
	u->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	u->file = f;
}

/* U names the program's descriptor FD (its own /proc/self/fd/FD). */
static int take_own(struct sv_call *c, int fd, struct sv_unix_addr *u)
{
	int f = sys_pidfd_getfd(c->pidfd, fd);
	if (f < 0)
		return errno == EBADF ? -ENOENT : -errno; /* no such entry in the program's /proc/self/fd */
	name_file(u, f);
	return 0;
}

/* U looks PATH up from BASE (a descriptor of ours, AT_FDCWD, or the negative errno of opening it). */
static int look_from(struct sv_unix_addr *u, int base, const char *path)
{
	if (base < 0 && base != AT_FDCWD)
		return base;
	u->base = base;
	return (u->path = strdup(path)) ? 0 : -ENOMEM;
}

/* Where the lookup of PATH starts for the caller, and how: into U. 0 or a negative errno. */
static int plan_lookup(struct sv_call *c, const char *path, struct sv_unix_addr *u)
{
	int same = same_root(c->tid);
	if (same < 0)
		return same;
	u->resolve = RESOLVE_NO_MAGICLINKS;
	int own = same ? own_fd_named(path) : -1;
	if (own >= 0)
		return take_own(c, own, u);
	if (same)
		return look_from(u, path[0] == '/' ? AT_FDCWD : open_dir_of(c->tid, "cwd"), path);
	char cwd[PATH_MAX], joined[2 * PATH_MAX];
	const char *below = path[0] == '/' ? "" : cwd_in_root(c->tid, cwd, sizeof(cwd));
	if (below == NULL) {
		/* A working directory that cannot be placed in the program's root: nothing above it, no absolute
		 * link (RESOLVE_BENEATH), never further than the program itself could go. */
		u->resolve |= RESOLVE_BENEATH;
		return look_from(u, open_dir_of(c->tid, "cwd"), path);
	}
	snprintf(joined, sizeof(joined), "%s%s%s", below, below[0] && path[0] != '/' ? "/" : "", path);
	u->resolve |= RESOLVE_IN_ROOT;
	return look_from(u, open_dir_of(c->tid, "root"), joined);
}

int sv_unix_prepare(struct sv_call *c, const struct sockaddr_storage *ss, socklen_t len, struct sv_unix_addr *u)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;
	memset(u, 0, sizeof(*u));
	u->ss = *ss;
	u->len = len;
	u->base = -1;
	u->file = -1;
	/* As the kernel's unix_validate_addr: anything else is its error, or an abstract or unnamed address. */
	if (c->domain != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path) || len > sizeof(*sun) ||
	    sun->sun_family != AF_UNIX || sun->sun_path[0] == '\0')
		return 0;
	char path[sizeof(sun->sun_path) + 1];
	size_t n = strnlen(sun->sun_path, len - offsetof(struct sockaddr_un, sun_path));
	memcpy(path, sun->sun_path, n);
	path[n] = '\0';
	return plan_lookup(c, path, u);
}

int sv_unix_resolve(struct sv_unix_addr *u)
{
	if (u->path == NULL)
		return 0;
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = u->resolve };
	int f = (int)syscall(SYS_openat2, u->base, u->path, &how, sizeof(how));
	if (f < 0)
		return errno == EXDEV ? -EACCES : -errno; /* EXDEV: beyond what RESOLVE_BENEATH allows (see above) */
	name_file(u, f);
	return 0;
}

void sv_unix_release(struct sv_unix_addr *u)
{
	if (u->file >= 0)
		close(u->file);
	if (u->base >= 0)
		close(u->base);
	free(u->path);
	u->file = u->base = -1;
	u->path = NULL;
}
