/* torwrap.c: `torwrap [options] [--] CMD [ARGS...]`, the command wrapper (like `torsocks CMD`).
 *
 * It checks the configuration the library will see (and refuses to start the program when it is broken:
 * every connection would fail anyway, and this says why once, clearly), creates the virtual address map that
 * the whole process tree will share, puts libtorwrap.so first in LD_PRELOAD and execs the program. Programs the
 * library cannot follow are refused rather than run unwrapped: statically linked ones (no PT_INTERP: their
 * system calls never meet the library) and setuid/setcap ones (the loader drops LD_PRELOAD for them).
 *
 * Built static, so it runs in a distroless image with nothing but the loader and libc.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../policy/policy.h"
#include "../resolver/resolver.h"

#ifndef TW_LIBDIR
#define TW_LIBDIR "/usr/local/lib/torwrap"
#endif

#define EXIT_USAGE 2
#define EXIT_REFUSED 126 /* the shell's "found but cannot run" */
#define EXIT_NOTFOUND 127
#define EXIT_CONFIG 78 /* sysexits' EX_CONFIG */

static void usage(FILE *out)
{
	fputs("Usage: torwrap [OPTIONS] [--] COMMAND [ARGS...]\n"
	      "Run COMMAND with every connection it makes sent through the Tor SOCKS5 proxy by hostname,\n"
	      "except destinations the policy allows, which go direct. No name is resolved locally unless allowed.\n"
	      "\n"
	      "Options:\n"
	      "  --policy FILE      policy file (default $TORWRAP_POLICY, else " POLICY_DEFAULT_FILE ")\n"
	      "  --proxy HOST:PORT  SOCKS5 proxy (default from TOR_PROXY_URL, SOCKS5_PROXY,\n"
	      "                     TOR_PROXY_HOST/TOR_PROXY_SOCKS_PORT, else tor-proxy:9050)\n"
	      "  -v, --verbose      log each decision (twice: protocol detail); TORWRAP_LOG_LEVEL\n"
	      "  -q, --quiet        log nothing, not even refusals\n"
	      "  -h, --help         this help\n"
	      "  -V, --version      version\n"
	      "\n"
	      "Exit status: COMMAND's, or 2 (usage), 78 (configuration broken), 126 (COMMAND refused:\n"
	      "statically linked or setuid/setcap), 127 (COMMAND not found).\n"
	      "See torwrap(1) and docs/policy.md.\n",
	      out);
}

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "torwrap: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return status;
}

static bool readable(const char *path)
{
	return access(path, R_OK) == 0;
}

/* The library beside this binary (build tree), in ../lib/torwrap (installed), or at the configured LIBDIR. */
static int find_library(char *out, size_t outlen)
{
	const char *env = getenv("TORWRAP_LIBRARY");
	if (env && *env) {
		if (!readable(env))
			return -ENOENT;
		snprintf(out, outlen, "%s", env);
		return 0;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if (snprintf(out, outlen, "%s/libtorwrap.so", self) < (int)outlen && readable(out))
				return 0;
			if (snprintf(out, outlen, "%s/../lib/torwrap/libtorwrap.so", self) < (int)outlen &&
			    readable(out) && realpath(out, self)) {
				snprintf(out, outlen, "%s", self);
				return 0;
			}
		}
	}
	snprintf(out, outlen, "%s/libtorwrap.so", TW_LIBDIR);
	return readable(out) ? 0 : -ENOENT;
}

/* execvp's search, done here so the file can be inspected before it runs. */
static int find_command(const char *cmd, char *out, size_t outlen)
{
	if (strchr(cmd, '/')) {
		snprintf(out, outlen, "%s", cmd);
		return access(out, F_OK) == 0 ? 0 : -errno;
	}
	const char *path = getenv("PATH");
	if (path == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	int err = -ENOENT;
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		int len = (int)(end - p);
		snprintf(out, outlen, "%.*s%s%s", len, p, len ? "/" : "", cmd);
		if (access(out, X_OK) == 0) {
			struct stat st;
			if (stat(out, &st) == 0 && S_ISREG(st.st_mode))
				return 0;
		} else if (errno == EACCES) {
			err = -EACCES;
		}
		if (*end == '\0')
			break;
		p = end;
	}
	return err;
}

enum exe_kind { EXE_DYNAMIC, EXE_STATIC, EXE_SCRIPT, EXE_OTHER };

/* Reads PATH's ELF program headers for PT_INTERP; for "#!" scripts returns the interpreter in INTERP. */
static enum exe_kind inspect_exe(const char *path, char *interp, size_t interplen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return EXE_OTHER;
	unsigned char hdr[sizeof(Elf64_Ehdr)];
	ssize_t n = pread(fd, hdr, sizeof(hdr), 0);
	enum exe_kind kind = EXE_OTHER;
	if (n >= 2 && hdr[0] == '#' && hdr[1] == '!') {
		char line[PATH_MAX];
		ssize_t m = pread(fd, line, sizeof(line) - 1, 2);
		if (m > 0) {
			line[m] = '\0';
			char *s = line + strspn(line, " \t");
			s[strcspn(s, " \t\n")] = '\0';
			snprintf(interp, interplen, "%s", s);
			kind = EXE_SCRIPT;
		}
	} else if (n >= (ssize_t)sizeof(Elf32_Ehdr) && memcmp(hdr, ELFMAG, SELFMAG) == 0) {
		kind = EXE_STATIC;
		bool is64 = hdr[EI_CLASS] == ELFCLASS64;
		uint64_t phoff;
		unsigned phnum, phentsize;
		if (is64) {
			Elf64_Ehdr *e = (Elf64_Ehdr *)(void *)hdr;
			phoff = e->e_phoff, phnum = e->e_phnum, phentsize = e->e_phentsize;
		} else {
			Elf32_Ehdr *e = (Elf32_Ehdr *)(void *)hdr;
			phoff = e->e_phoff, phnum = e->e_phnum, phentsize = e->e_phentsize;
		}
		for (unsigned i = 0; i < phnum && i < 4096; i++) {
			uint32_t type;
			if (pread(fd, &type, sizeof(type), (off_t)(phoff + (uint64_t)i * phentsize)) != sizeof(type))
				break;
			if (type == PT_INTERP) {
				kind = EXE_DYNAMIC;
				break;
			}
		}
	}
	close(fd);
	return kind;
}

/* Refuses what the library could not follow. Returns 0, or an exit status after printing why. */
static int check_command(const char *path, int depth)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return fail(EXIT_NOTFOUND, "%s: %s", path, strerror(errno));
	if (st.st_mode & (S_ISUID | S_ISGID))
		return fail(EXIT_REFUSED,
			    "refusing to run %s: it is setuid/setgid, and the loader ignores LD_PRELOAD for such "
			    "programs, so its connections would not go through Tor",
			    path);
	if (getxattr(path, "security.capability", NULL, 0) > 0)
		return fail(EXIT_REFUSED,
			    "refusing to run %s: it has file capabilities (setcap), and the loader ignores "
			    "LD_PRELOAD for such programs, so its connections would not go through Tor",
			    path);
	char interp[PATH_MAX];
	switch (inspect_exe(path, interp, sizeof(interp))) {
	case EXE_STATIC:
		return fail(EXIT_REFUSED,
			    "refusing to run %s: it is statically linked, so libtorwrap.so cannot see its "
			    "connections and they would leak past Tor",
			    path);
	case EXE_SCRIPT:
		if (depth >= 4 || interp[0] != '/')
			return 0; /* let the kernel judge odd scripts; their interpreter is checked when it runs */
		return check_command(interp, depth + 1);
	default:
		return 0;
	}
}

static int set_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	if (old == NULL || *old == '\0')
		return setenv("LD_PRELOAD", lib, 1);
	if (strstr(old, lib))
		return 0;
	size_t len = strlen(lib) + 1 + strlen(old) + 1;
	char *v = malloc(len);
	if (v == NULL)
		return -1;
	snprintf(v, len, "%s:%s", lib, old); /* first, so our symbols win */
	int rc = setenv("LD_PRELOAD", v, 1);
	free(v);
	return rc;
}

static const char *env_getenv(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

int main(int argc, char **argv)
{
	int verbose = 0;
	bool quiet = false;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("torwrap %s\n", TW_VERSION);
			return 0;
		}
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			verbose++;
		} else if (strcmp(a, "-vv") == 0) {
			verbose += 2;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			quiet = true;
		} else if (strcmp(a, "--policy") == 0 || strcmp(a, "--proxy") == 0) {
			if (i + 1 >= argc)
				return fail(EXIT_USAGE, "%s needs a value", a);
			setenv(strcmp(a, "--policy") == 0 ? "TORWRAP_POLICY" : "TORWRAP_PROXY", argv[++i], 1);
		} else if (strncmp(a, "--policy=", 9) == 0) {
			setenv("TORWRAP_POLICY", a + 9, 1);
		} else if (strncmp(a, "--proxy=", 8) == 0) {
			setenv("TORWRAP_PROXY", a + 8, 1);
		} else {
			fail(EXIT_USAGE, "unknown option %s", a);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (quiet)
		setenv("TORWRAP_LOG_LEVEL", "none", 1);
	else if (verbose)
		setenv("TORWRAP_LOG_LEVEL", verbose > 1 ? "debug" : "info", 1);

	struct tw_config cfg;
	if (config_build(&cfg, env_getenv, NULL) != 0)
		return fail(EXIT_CONFIG, "out of memory");
	if (cfg.broken)
		return fail(EXIT_CONFIG, "configuration error: %s (refusing to run anything: fail closed)",
			    cfg.broken_reason);

	char lib[PATH_MAX];
	if (find_library(lib, sizeof(lib)) != 0)
		return fail(EXIT_CONFIG, "libtorwrap.so not found (set TORWRAP_LIBRARY, or install it in %s)",
			    TW_LIBDIR);

	char path[PATH_MAX];
	int rc = find_command(argv[i], path, sizeof(path));
	if (rc != 0)
		return fail(rc == -EACCES ? EXIT_REFUSED : EXIT_NOTFOUND, "%s: %s", argv[i], strerror(-rc));
	rc = check_command(path, 0);
	if (rc != 0)
		return rc;

	int mapfd = vaddr_create_fd(cfg.vnet_addr, cfg.vnet_mask);
	if (mapfd < 0)
		return fail(EXIT_CONFIG, "cannot create the virtual address map: %s", strerror(-mapfd));
	char fdtext[16];
	snprintf(fdtext, sizeof(fdtext), "%d", mapfd);
	if (setenv(VADDR_FD_ENV, fdtext, 1) != 0 || set_preload(lib) != 0)
		return fail(EXIT_CONFIG, "cannot set the environment: %s", strerror(errno));
	config_free(&cfg);

	execv(path, argv + i);
	return fail(errno == ENOENT ? EXIT_NOTFOUND : EXIT_REFUSED, "%s: %s", path, strerror(errno));
}
