/* exec.c: execve and every libc function that execs (glibc's execvp, execl* and posix_spawn call the kernel
 * through internal symbols, so each needs its own hook).
 *
 * Two jobs. A program the library could not follow (statically linked, setuid/setgid, setcap) is refused with
 * EPERM: it would run unwrapped. And the wrapped tree stays wrapped: the new program's environment keeps
 * libtorwrap.so in LD_PRELOAD, torwrap's configuration, and the descriptor of the shared virtual map, even when
 * the caller passes an environment of its own (env -i, daemons that sanitise it).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

/* The variables a child needs to see the same configuration (see policy/config.c). */
static const char *const carried[] = {
	"TORWRAP_PROXY", "TORWRAP_POLICY", "TORWRAP_LOG_LEVEL", "TORWRAP_VIRTUAL_NET", "TORWRAP_RESOLV_CONF",
	"TORWRAP_HOSTS", "TORWRAP_ISOLATION", "TORWRAP_MODE", "TOR_PROXY_URL", "SOCKS5_PROXY", "TOR_PROXY_HOST",
	"TOR_PROXY_SOCKS_PORT", "TOR_CONNECTIVITY_TIMEOUT", "TOR_CIRCUIT_ROTATION_INTERVAL", "NO_PROXY",
	"no_proxy",
};
#define NCARRIED (sizeof(carried) / sizeof(carried[0]))
#define EXTRA_VARS (NCARRIED + 3)

static char library_path_text[PATH_MAX];
static pthread_once_t library_path_once = PTHREAD_ONCE_INIT;

static void library_path_find(void)
{
	Dl_info info;
	if (dladdr((void *)library_path_find, &info) && info.dli_fname && strlen(info.dli_fname) < PATH_MAX)
		strcpy(library_path_text, info.dli_fname);
}

/* This library's path, found once: two threads that exec at the same moment must not both fill it. */
static const char *library_path(void)
{
	pthread_once(&library_path_once, library_path_find);
	return library_path_text[0] ? library_path_text : NULL;
}

static const char *env_find(char *const envp[], const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
			return envp[i] + n + 1;
	return NULL;
}

/* The configuration variables as the program received them. Taken at load, before the program can clear its
 * environment (env -i, daemons): a child must get the configuration torwrap was started with. Pointers only:
 * the initial environment strings live for the whole process. */
static const char *initial[NCARRIED];
static const char *initial_map_fd;
static const char *initial_preload; /* other preloaded libraries (an allocator, a sanitizer) stay too */

__attribute__((constructor)) static void exec_snapshot_env(void)
{
	/* A secure (setuid) process's environment is its user's: carrying it into the children would hand them
	 * what the loader and programs like sudo took away. They get the library and the built-in defaults. */
	if (tw_secure_mode())
		return;
	for (char **e = environ; e && *e; e++) {
		char c = (*e)[0];
		if (c != 'T' && c != 'N' && c != 'n' && c != 'S')
			continue; /* every carried name starts with one of these: most entries cost one compare */
		for (size_t i = 0; i < NCARRIED; i++) {
			size_t n = strlen(carried[i]);
			if (strncmp(*e, carried[i], n) == 0 && (*e)[n] == '=')
				initial[i] = *e + n + 1;
		}
		if (strncmp(*e, VADDR_FD_ENV "=", sizeof(VADDR_FD_ENV)) == 0)
			initial_map_fd = *e + sizeof(VADDR_FD_ENV);
	}
	initial_preload = getenv("LD_PRELOAD");
}

/* The environment the new program gets, in caller-provided storage (no malloc: this may run in a vfork child).
 * OUT has room for the caller's entries plus EXTRA_VARS and NULL; BUF holds the strings we make. */
static void build_env(char *const envp[], char **out, char *buf, size_t buflen, int *snapshot_fd)
{
	const char *lib = library_path();
	const char *preload = env_find(envp, "LD_PRELOAD");
	if (preload == NULL)
		preload = initial_preload;
	size_t n = 0, used = 0;
	for (size_t i = 0; envp && envp[i]; i++) {
		if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0 || strncmp(envp[i], VADDR_FD_ENV "=", sizeof(VADDR_FD_ENV)) == 0)
			continue;
		out[n++] = envp[i];
	}
	if (lib) {
		int w;
		if (preload == NULL || *preload == '\0')
			w = snprintf(buf + used, buflen - used, "LD_PRELOAD=%s", lib);
		else if (strstr(preload, lib))
			w = snprintf(buf + used, buflen - used, "LD_PRELOAD=%s", preload);
		else
			w = snprintf(buf + used, buflen - used, "LD_PRELOAD=%s:%s", lib, preload);
		if (w > 0 && (size_t)w < buflen - used) {
			out[n++] = buf + used;
			used += (size_t)w + 1;
		}
	}
	bool fresh;
	int mapfd = vaddr_fd_for_exec(&fresh);
	*snapshot_fd = fresh ? mapfd : -1;
	const char *inherited = initial_map_fd; /* a process that never resolved a name passes its own on */
	if (mapfd < 0 && inherited == NULL)
		inherited = env_find(envp, VADDR_FD_ENV);
	if (mapfd >= 0 || inherited) {
		int w = mapfd >= 0 ? snprintf(buf + used, buflen - used, "%s=%d", VADDR_FD_ENV, mapfd)
				   : snprintf(buf + used, buflen - used, "%s=%s", VADDR_FD_ENV, inherited);
		if (w > 0 && (size_t)w < buflen - used) {
			out[n++] = buf + used;
			used += (size_t)w + 1;
		}
	}
	/* The filter outlives exec: the library in the new program needs the cookie to pass it. */
	uint64_t cookie = tw_gate_cookie();
	if (cookie != 0 && env_find(envp, TW_COOKIE_ENV) == NULL) {
		char text[17];
		tw_gate_cookie_text(cookie, text);
		int w = snprintf(buf + used, buflen - used, "%s=%s", TW_COOKIE_ENV, text);
		if (w > 0 && (size_t)w < buflen - used) {
			out[n++] = buf + used;
			used += (size_t)w + 1;
		}
	}
	for (size_t i = 0; i < NCARRIED; i++) {
		const char *mine = initial[i];
		if (mine == NULL || env_find(envp, carried[i]))
			continue;
		int w = snprintf(buf + used, buflen - used, "%s=%s", carried[i], mine);
		if (w > 0 && (size_t)w < buflen - used) {
			out[n++] = buf + used;
			used += (size_t)w + 1;
		}
	}
	out[n] = NULL;
}

static size_t env_count(char *const envp[])
{
	size_t n = 0;
	while (envp && envp[n])
		n++;
	return n;
}

/* True when /etc/ld.so.preload names this library: the loader then loads it into setuid and setcap programs too
 * (from the file; it only drops LD_PRELOAD), where it runs in secure-execution mode. Read per call: it is only
 * asked about the rare exec of such a program, and the file may change while a service runs. */
static bool preload_file_names_us(void)
{
	const char *lib = library_path();
	char mine[PATH_MAX], text[4096], entry[PATH_MAX];
	if (lib == NULL || realpath(lib, mine) == NULL)
		return false;
	int fd = open("/etc/ld.so.preload", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = tw_libc()->read(fd, text, sizeof(text) - 1);
	tw_libc()->close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	/* The loader's separators: white space and ':'. */
	for (char *save = NULL, *t = strtok_r(text, " \t\n:", &save); t; t = strtok_r(NULL, " \t\n:", &save))
		if (realpath(t, entry) && strcmp(entry, mine) == 0)
			return true;
	return false;
}

static int refuse(const char *path)
{
	char why[PATH_MAX + 128];
	int kind = tw_exe_check(path, why, sizeof(why));
	if (kind == TW_EXE_OK)
		return 0;
	if ((kind == TW_EXE_SETID || kind == TW_EXE_SETCAP) && preload_file_names_us())
		return 0; /* wrapped all the same, by /etc/ld.so.preload, with its environment ignored */
	if (kind == TW_EXE_STATIC && shim_supervised())
		return 0; /* torwrap's supervisor routes what the library cannot see (the filter is inherited) */
	shim_config(); /* the log's level, format and file: a shell may exec before it ever connects */
	struct tw_event ev = TW_EVENT("exec", NULL, "refuse", NULL);
	ev.err = EPERM;
	tw_log_event(TW_LOG_ERROR, ev, "exec refused: %s, so it would run outside Tor", why);
	return -EPERM;
}

#define ENV_BUF 16384
#define ENV_STACK_MAX 2048

/* Runs EXEC_FN with the rebuilt environment; the arrays live on this frame. */
#define WITH_ENV(envp, newenv, body)                                                                           \
	do {                                                                                                   \
		size_t n_ = env_count(envp);                                                                   \
		if (n_ > ENV_STACK_MAX) {                                                                      \
			errno = E2BIG;                                                                         \
			return -1;                                                                             \
		}                                                                                              \
		char *newenv[n_ + EXTRA_VARS + 1];                                                             \
		char buf_[ENV_BUF];                                                                            \
		int snap_;                                                                                     \
		build_env(envp, newenv, buf_, sizeof(buf_), &snap_);                                           \
		body;                                                                                          \
		if (snap_ >= 0) { /* the exec failed: the copy is not needed */                                \
			int e_ = errno;                                                                        \
			tw_libc()->close(snap_);                                                               \
			errno = e_;                                                                            \
		}                                                                                              \
		return -1;                                                                                     \
	} while (0)

TW_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	int rc = refuse(path);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	WITH_ENV(envp, env, tw_libc()->execve(path, argv, env));
}

TW_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	char full[PATH_MAX];
	if (path[0] == '/')
		snprintf(full, sizeof(full), "%s", path);
	else if (path[0] == '\0')
		snprintf(full, sizeof(full), "/proc/self/fd/%d", dirfd);
	else if (dirfd == AT_FDCWD)
		snprintf(full, sizeof(full), "%s", path);
	else
		snprintf(full, sizeof(full), "/proc/self/fd/%d/%s", dirfd, path);
	int rc = refuse(full);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	WITH_ENV(envp, env, tw_libc()->execveat(dirfd, path, argv, env, flags));
}

TW_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	char full[64];
	snprintf(full, sizeof(full), "/proc/self/fd/%d", fd);
	int rc = refuse(full);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	WITH_ENV(envp, env, tw_libc()->fexecve(fd, argv, env));
}

TW_EXPORT int execv(const char *path, char *const argv[])
{
	return shim_hook_execve(path, argv, environ);
}

/* execvpe's search, through our execve so every candidate is judged. */
TW_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	if (*file == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (strchr(file, '/'))
		return shim_hook_execve(file, argv, envp);
	const char *path = getenv("PATH");
	if (path == NULL)
		path = "/bin:/usr/bin";
	int err = ENOENT;
	char cand[PATH_MAX];
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		int len = (int)(end - p);
		if (snprintf(cand, sizeof(cand), "%.*s%s%s", len, p, len ? "/" : "", file) < (int)sizeof(cand)) {
			shim_hook_execve(cand, argv, envp);
			if (errno == ENOEXEC) { /* a script without "#!": the shell runs it, as execvp does */
				size_t argc = 0;
				while (argv[argc])
					argc++;
				char *sh_argv[argc + 2];
				sh_argv[0] = (char *)"/bin/sh";
				sh_argv[1] = cand;
				for (size_t i = 1; i <= argc; i++)
					sh_argv[i + 1] = argv[i];
				shim_hook_execve("/bin/sh", sh_argv, envp);
				return -1;
			}
			if (errno == EACCES || errno == EPERM)
				err = errno;
			else if (errno != ENOENT && errno != ENOTDIR)
				return -1;
		}
		if (*end == '\0')
			break;
		p = end;
	}
	errno = err;
	return -1;
}

TW_EXPORT int execvp(const char *file, char *const argv[])
{
	return shim_hook_execvpe(file, argv, environ);
}

/* Collects execl*'s variadic arguments into an array on the caller's frame. */
#define COLLECT_ARGS(arg0, ap, argv, max)                                                                      \
	char *argv[max];                                                                                       \
	size_t argc_ = 0;                                                                                      \
	argv[argc_++] = (char *)(arg0);                                                                        \
	while (argc_ < (max) && (argv[argc_] = va_arg(ap, char *)) != NULL)                                   \
		argc_++;                                                                                       \
	if (argc_ >= (max)) {                                                                                  \
		va_end(ap);                                                                                    \
		errno = E2BIG;                                                                                 \
		return -1;                                                                                     \
	}

#define EXECL_MAX 4096

TW_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, argv, EXECL_MAX);
	va_end(ap);
	return shim_hook_execve(path, argv, environ);
}

TW_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, argv, EXECL_MAX);
	va_end(ap);
	return shim_hook_execvpe(file, argv, environ);
}

TW_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, argv, EXECL_MAX);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return shim_hook_execve(path, argv, envp);
}

/* posix_spawn runs the child with an internal execve: judge the program and fix the environment here. */
static int spawn_path(const char *file, bool search, char *out, size_t outlen)
{
	if (!search || strchr(file, '/')) {
		snprintf(out, outlen, "%s", file);
		return 0;
	}
	const char *path = getenv("PATH");
	if (path == NULL)
		path = "/bin:/usr/bin";
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		int len = (int)(end - p);
		if (snprintf(out, outlen, "%.*s%s%s", len, p, len ? "/" : "", file) < (int)outlen &&
		    access(out, X_OK) == 0)
			return 0;
		if (*end == '\0')
			break;
		p = end;
	}
	return -ENOENT;
}

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
			char *const[], char *const[]);

static int spawn(const char *which, bool search, pid_t *pid, const char *file,
		 const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr, char *const argv[],
		 char *const envp[])
{
	/* Looked up at first use, by any number of threads at once: atomic, and a second lookup is harmless. */
	static _Atomic(void *) real[2];
	void *fn = atomic_load_explicit(&real[search], memory_order_acquire);
	if (fn == NULL) {
		fn = dlsym(RTLD_NEXT, which);
		atomic_store_explicit(&real[search], fn, memory_order_release);
	}
	if (fn == NULL)
		return ENOSYS;
	spawn_fn real_spawn;
	*(void **)&real_spawn = fn;
	char path[PATH_MAX];
	if (spawn_path(file, search, path, sizeof(path)) == 0 && refuse(path) < 0)
		return EPERM; /* posix_spawn returns the error number */
	size_t n = env_count(envp);
	if (n > ENV_STACK_MAX)
		return E2BIG;
	char *env[n + EXTRA_VARS + 1];
	char buf[ENV_BUF];
	int snap;
	build_env(envp, env, buf, sizeof(buf), &snap);
	int rc = real_spawn(pid, file, fa, attr, argv, env);
	if (snap >= 0)
		tw_libc()->close(snap); /* the child has its own copy of the descriptor by now */
	return rc;
}

TW_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			  const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn("posix_spawn", false, pid, path, fa, attr, argv, envp);
}

TW_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			   const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn("posix_spawnp", true, pid, file, fa, attr, argv, envp);
}

int shim_hook_execve(const char *path, char *const argv[], char *const envp[]) TW_HOOK_ALIAS(execve);
int shim_hook_execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
	TW_HOOK_ALIAS(execveat);
int shim_hook_execvpe(const char *file, char *const argv[], char *const envp[]) TW_HOOK_ALIAS(execvpe);
