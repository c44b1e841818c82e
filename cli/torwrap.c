/* torwrap.c: `torwrap [options] [--] CMD [ARGS...]`, the command wrapper (like `torsocks CMD`).
 *
 * It checks the configuration the library will see (and refuses to start the program when it is broken:
 * every connection would fail anyway, and this says why once, clearly), creates the virtual address map that
 * the whole process tree will share and the tree's seccomp cookie, puts libtorwrap.so first in LD_PRELOAD and
 * runs the program under the seccomp supervisor (supervisor/): the kernel backstop. The library routes the
 * calls made through libc (they carry the cookie and pass the filter); the supervisor routes every other
 * network call, from Go's runtime, a static program or a musl one. Where the kernel cannot run the supervisor,
 * a program the library can follow is exec'd with the library alone under a filter that refuses calls made
 * past it; any other is refused. setuid/setcap programs are refused rather than run unwrapped (the loader drops
 * LD_PRELOAD for them).
 *
 * Built static, so it runs in a distroless image with nothing but the loader and libc.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../policy/policy.h"
#include "../resolver/resolver.h"
#include "../supervisor/supervisor.h"
#include "cli.h"

#ifndef TW_LIBDIR
#define TW_LIBDIR "/usr/local/lib/torwrap"
#endif

#define EXIT_USAGE CLI_EXIT_USAGE
#define EXIT_REFUSED 126 /* the shell's "found but cannot run" */
#define EXIT_NOTFOUND 127
#define EXIT_CONFIG CLI_EXIT_CONFIG

static void usage(FILE *out)
{
	fputs("Usage: torwrap [OPTIONS] [--] COMMAND [ARGS...]\n"
	      "       torwrap check [--target HOST:PORT] [--proxy HOST:PORT[,...]] [--timeout S] [--all]\n"
	      "       torwrap explain [--policy FILE] [--proxy HOST:PORT[,...]] [--mode M] HOST[:PORT]...\n"
	      "       torwrap audit [--policy-draft FILE] [OPTIONS] [--] COMMAND [ARGS...]\n"
	      "Run COMMAND with every connection it makes sent through the Tor SOCKS5 proxy by hostname,\n"
	      "except destinations the policy allows, which go direct. No name is resolved locally unless allowed.\n"
	      "\n"
	      "Options:\n"
	      "  --policy FILE      policy file (default $TORWRAP_POLICY, else " POLICY_DEFAULT_FILE ")\n"
	      "  --proxy HOST:PORT  SOCKS5 proxy (default from TOR_PROXY_URL, SOCKS5_PROXY,\n"
	      "                     TOR_PROXY_HOST/TOR_PROXY_SOCKS_PORT, else tor-proxy:9050)\n"
	      "  --mode MODE        policy (default), tor-only or onion-only; TORWRAP_MODE\n"
	      "  --isolation ISO    process (default), none, connection or destination; TORWRAP_ISOLATION\n"
	      "  --strict           for code you do not trust: no cookie exists, every network call of the\n"
	      "                     tree is decided by the supervisor, whose virtual map is its own;\n"
	      "                     TORWRAP_STRICT=on\n"
	      "  --seccomp          accepted for compatibility: every program runs under the seccomp\n"
	      "                     supervisor where the kernel allows it\n"
	      "  -v, --verbose      log each decision (twice: protocol detail); TORWRAP_LOG_LEVEL\n"
	      "  -q, --quiet        log nothing, not even refusals\n"
	      "  -h, --help         this help\n"
	      "  -V, --version      version\n"
	      "\n"
	      "Exit status: COMMAND's, or 2 (usage), 78 (configuration broken), 126 (COMMAND refused:\n"
	      "setuid/setcap, or one that bypasses libc where seccomp cannot run), 127 (not found).\n"
	      "`torwrap check` is the health check (see `torwrap check --help`); `torwrap explain` says how\n"
	      "destinations would be routed; `torwrap audit` runs COMMAND and reports every destination it\n"
	      "used (see `torwrap audit --help`). To run a program named check, explain or audit, write\n"
	      "`torwrap -- check`.\n"
	      "See torwrap(1) and docs/policy.md.\n",
	      out);
}

/* Set once the configuration asked for JSON (TORWRAP_LOG_FORMAT=json): the wrapper's own messages are then log
 * lines too, so a log shipper never meets a line it cannot parse. */
static bool fail_json;

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!fail_json) {
		fprintf(stderr, "torwrap: %s\n", msg);
		return status;
	}
	/* A program refused is an exec event; anything else stops the wrapper before it runs one. */
	struct tw_event ev = TW_EVENT(status == EXIT_REFUSED ? "exec" : "config", NULL,
				      status == EXIT_REFUSED ? "refuse" : NULL, NULL);
	tw_log_write_event(TW_LOG_ERROR, &ev, "%s", msg);
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

/* How the program runs. */
struct plan {
	bool supervised; /* under the seccomp supervisor (the kernel backstop) */
	bool bypasses_libc; /* its own code makes system calls (Go): the library alone cannot see them */
	bool musl; /* linked against musl: glibc's library cannot load there */
	char lib[PATH_MAX]; /* the library to preload, "" for none */
};

/* The musl variant of the library, installed beside the glibc one (make musl: DIR/musl/libtorwrap.so). */
static bool find_musl_library(const char *glibc_lib, char *out, size_t outlen)
{
	const char *slash = strrchr(glibc_lib, '/');
	char path[PATH_MAX];
	if (slash == NULL ||
	    snprintf(path, sizeof(path), "%.*s/musl/libtorwrap.so", (int)(slash - glibc_lib), glibc_lib) >=
		    (int)sizeof(path) ||
	    !readable(path))
		return false;
	snprintf(out, outlen, "%s", path);
	return true;
}

/* Decides how PATH runs, or refuses what neither the library nor the supervisor could follow. Every program
 * runs under the supervisor where the kernel allows it: the library routes what goes through libc, the kernel
 * hands everything else (Go's raw calls, static and musl programs) to the supervisor. Where the supervisor
 * cannot run, a program the library can follow runs with the library alone (a warning), any other is refused.
 * Returns 0, or an exit status after printing why. */
static int plan_command(const char *path, bool strict, struct plan *plan)
{
	char why[PATH_MAX + 128], sv_why[256], what[16] = "";
	int kind = tw_exe_check(path, why, sizeof(why));
	if (kind != TW_EXE_OK && kind != TW_EXE_STATIC)
		return fail(EXIT_REFUSED, "refusing to run %s: %s, so its connections would not go through Tor", path,
			    why);
	bool dynamic = kind == TW_EXE_OK;
	plan->musl = dynamic && tw_exe_is_musl(path);
	char glibc_lib[PATH_MAX];
	bool have_glibc_lib = find_library(glibc_lib, sizeof(glibc_lib)) == 0;
	plan->lib[0] = '\0';
	if (plan->musl) {
		/* The musl build beside the glibc one, or the library found is itself the musl build (a musl image
		 * carries only that one, at the usual place). */
		if (have_glibc_lib && !find_musl_library(glibc_lib, plan->lib, sizeof(plan->lib)) &&
		    !tw_lib_is_glibc(glibc_lib))
			snprintf(plan->lib, sizeof(plan->lib), "%s", glibc_lib);
	} else if (dynamic && have_glibc_lib) {
		snprintf(plan->lib, sizeof(plan->lib), "%s", glibc_lib);
	}
	plan->supervised = supervisor_available(sv_why, sizeof(sv_why)) == 0;
	if (plan->supervised)
		return 0; /* whatever the program does past libc, the supervisor serves */
	if (strict)
		return fail(EXIT_REFUSED, "refusing to run %s: --strict needs the seccomp supervisor, which cannot run "
			    "here: %s", path, sv_why);
	plan->bypasses_libc = dynamic && tw_exe_bypasses_libc(path, what, sizeof(what));
	if (!dynamic)
		return fail(EXIT_REFUSED, "refusing to run %s: %s, and the seccomp supervisor cannot run here: %s", path,
			    why, sv_why);
	if (plan->bypasses_libc)
		return fail(EXIT_REFUSED,
			    "refusing to run %s: it is a %s program, whose network calls bypass libtorwrap.so, and the "
			    "seccomp supervisor cannot run here: %s",
			    path, what, sv_why);
	if (plan->lib[0] == '\0')
		return plan->musl ? fail(EXIT_REFUSED,
					 "refusing to run %s: it is linked against musl, no musl build of libtorwrap.so "
					 "is installed (make musl), and the seccomp supervisor cannot run here: %s",
					 path, sv_why)
				  : fail(EXIT_CONFIG, "libtorwrap.so not found (set TORWRAP_LIBRARY, or install it in %s)",
					 TW_LIBDIR);
	fprintf(stderr, "torwrap: warning: the seccomp supervisor cannot run here (%s): %s runs with libtorwrap.so "
			"alone, and system calls made past libc are refused\n",
		sv_why, path);
	return 0;
}

/* Without the supervisor: the kernel still refuses the network calls that do not carry the cookie (made past
 * the library), the socket kinds nothing may open, io_uring and the other ABIs. The filter needs no_new_privs,
 * which costs nothing here: setuid programs are refused anyway. */
static void refuse_bypass(uint64_t cookie)
{
	int rc = tw_filter_install_eperm(cookie);
	if (rc != 0) {
		fprintf(stderr, "torwrap: warning: cannot install the seccomp filter (%s): only the calls made through "
				"libc are routed\n",
			strerror(-rc));
		unsetenv(TW_COOKIE_ENV);
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

/* Sets the log level variable the library reads from -v/-q. */
static void set_log_level(int verbose, bool quiet)
{
	if (quiet)
		setenv("TORWRAP_LOG_LEVEL", "none", 1);
	else if (verbose)
		setenv("TORWRAP_LOG_LEVEL", verbose > 1 ? "debug" : "info", 1);
}

/* One option at ARGV[*I]: 0 when it was taken (*I past its value), or the exit status to stop with. */
static int take_option(int argc, char **argv, int *i, int *verbose, bool *quiet)
{
	const char *a = argv[*i];
	if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
		usage(stdout);
		return CLI_DONE;
	}
	if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
		printf("torwrap %s\n", TW_VERSION);
		return CLI_DONE;
	}
	if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
		(*verbose)++;
	} else if (strcmp(a, "-vv") == 0) {
		*verbose += 2;
	} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
		*quiet = true;
	} else if (strcmp(a, "--seccomp") == 0) {
		/* accepted for compatibility: the supervisor is the default */
	} else if (strcmp(a, "--strict") == 0) {
		if (setenv("TORWRAP_STRICT", "on", 1) != 0)
			return fail(EXIT_CONFIG, "cannot set the environment: %s", strerror(errno));
	} else if (cli_option_var(a)) {
		/* Options only set the variables the library reads, so both see one configuration. */
		const char *eq = strchr(a, '=');
		if (!eq && *i + 1 >= argc)
			return fail(EXIT_USAGE, "%s needs a value", a);
		if (setenv(cli_option_var(a), eq ? eq + 1 : argv[++*i], 1) != 0)
			return fail(EXIT_CONFIG, "cannot set the environment: %s", strerror(errno));
	} else {
		fail(EXIT_USAGE, "unknown option %s", a);
		usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}

bool cli_wrap_option_takes_value(const char *arg)
{
	return cli_option_var(arg) != NULL && strchr(arg, '=') == NULL;
}

int cli_wrap_options(int argc, char **argv, int *cmd)
{
	int verbose = 0;
	bool quiet = false;
	int i = 1;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (argv[i][0] != '-')
			break;
		int rc = take_option(argc, argv, &i, &verbose, &quiet);
		if (rc != 0)
			return rc;
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	set_log_level(verbose, quiet);
	*cmd = i;
	return 0;
}

/* A kernel filter torwrap finds itself under (the process is in seccomp filter mode and its environment names a
 * cookie): an ancestor's. Its cookie, which the library's calls must carry from here on too. */
enum outer { OUTER_NONE, OUTER_EPERM, OUTER_SUPERVISOR };

static bool in_filter_mode(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	bool filtered = false;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "Seccomp:", 8) == 0)
			filtered = strtol(line + 8, NULL, 10) == 2;
	if (f)
		fclose(f);
	return filtered;
}

/* Which: another torwrap's supervisor (it redirects a socket connected to port 53, a UDP connect that sends
 * nothing), or the filter of a library preloaded in an ancestor (LD_PRELOAD alone, /etc/ld.so.preload: the
 * connect is refused). */
static enum outer outer_filter(uint64_t *cookie)
{
	if (tw_gate_cookie_parse(getenv(TW_COOKIE_ENV), cookie) != 0 || !in_filter_mode())
		return OUTER_NONE;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in ns = { .sin_family = AF_INET, .sin_port = htons(53), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	bool redirected = s >= 0 && connect(s, (struct sockaddr *)&ns, sizeof(ns)) == 0 &&
			  getpeername(s, (struct sockaddr *)&peer, &len) == 0 && peer.sin_port != ns.sin_port;
	if (s >= 0)
		close(s);
	return redirected ? OUTER_SUPERVISOR : OUTER_EPERM;
}

/* The environment the program runs with: the virtual address map, the seccomp cookie (in *COOKIE; none under
 * --strict, where every call goes to the supervisor), and the library first in LD_PRELOAD. 0, or the exit
 * status after saying why. */
static int prepare_environment(const struct tw_config *cfg, const struct plan *plan, uint64_t outer_cookie,
			       uint64_t *cookie)
{
	char cookie_text[17];
	*cookie = outer_cookie;
	int rc = cfg->strict || outer_cookie ? 0 : tw_gate_cookie_new(cookie);
	if (rc != 0)
		return fail(EXIT_CONFIG, "cannot draw the seccomp cookie: %s", strerror(-rc));
	tw_gate_cookie_text(*cookie, cookie_text);
	int mapfd = vaddr_create_fd(cfg->vnet_addr, cfg->vnet_mask);
	if (mapfd < 0)
		return fail(EXIT_CONFIG, "cannot create the virtual address map: %s", strerror(-mapfd));
	char fdtext[16];
	snprintf(fdtext, sizeof(fdtext), "%d", mapfd);
	if (setenv(VADDR_FD_ENV, fdtext, 1) != 0 ||
	    (cfg->strict ? unsetenv(TW_COOKIE_ENV) : setenv(TW_COOKIE_ENV, cookie_text, 1)) != 0 ||
	    (plan->lib[0] && set_preload(plan->lib) != 0))
		return fail(EXIT_CONFIG, "cannot set the environment: %s", strerror(errno));
	return 0;
}

int cli_wrap_run(char **cmd)
{
	struct tw_config cfg;
	if (config_build(&cfg, env_getenv, NULL) != 0)
		return fail(EXIT_CONFIG, "out of memory");
	tw_log_configure(cfg.log_level, cfg.log_format, cfg.log_file, cfg.audit_file);
	fail_json = cfg.log_format == TW_LOG_JSON;
	/* The log files as absolute paths: a program of the tree that starts in another directory appends to the
	 * same files. */
	if ((cfg.log_file[0] && setenv("TORWRAP_LOG_FILE", cfg.log_file, 1) != 0) ||
	    (cfg.audit_file[0] && setenv("TORWRAP_AUDIT_FILE", cfg.audit_file, 1) != 0))
		return fail(EXIT_CONFIG, "cannot set the environment: %s", strerror(errno));
	if (cfg.broken)
		return fail(EXIT_CONFIG, "configuration error: %s (refusing to run anything: fail closed)",
			    cfg.broken_reason);

	char path[PATH_MAX];
	int rc = find_command(cmd[0], path, sizeof(path));
	if (rc != 0)
		return fail(rc == -EACCES ? EXIT_REFUSED : EXIT_NOTFOUND, "%s: %s", cmd[0], strerror(-rc));
	struct plan plan;
	uint64_t cookie;
	uint64_t outer_cookie = 0;
	enum outer outer = outer_filter(&outer_cookie);
	if (outer != OUTER_NONE && cfg.strict)
		return fail(EXIT_REFUSED, "refusing to run %s: --strict under %s: the calls of its tree would carry that "
			    "filter's cookie; start torwrap --strict outside it", path,
			    outer == OUTER_SUPERVISOR ? "another torwrap" : "the kernel filter of a preloaded libtorwrap.so");
	if ((rc = plan_command(path, cfg.strict, &plan)) != 0 ||
	    (rc = prepare_environment(&cfg, &plan, outer_cookie, &cookie)) != 0)
		return rc;
	if (outer == OUTER_SUPERVISOR) {
		/* Its supervisor serves this tree too (a filter with a listener of ours would be refused there). */
		config_free(&cfg);
		execv(path, cmd);
		return fail(errno == ENOENT ? EXIT_NOTFOUND : EXIT_REFUSED, "%s: %s", path, strerror(errno));
	}
	if (outer == OUTER_EPERM)
		fprintf(stderr, "torwrap: warning: an ancestor preloads libtorwrap.so (LD_PRELOAD, /etc/ld.so.preload), "
				"whose kernel filter refuses every network call made past the library: %s's are refused, "
				"not routed by the supervisor; start torwrap outside it\n", path);
	if (plan.supervised)
		return supervisor_run(&cfg, path, cmd, environ, cookie);
	config_free(&cfg);
	refuse_bypass(cookie);

	execv(path, cmd);
	return fail(errno == ENOENT ? EXIT_NOTFOUND : EXIT_REFUSED, "%s: %s", path, strerror(errno));
}

/* execve as the kernel's, past the library loaded into this process (its exec hook would put it back). */
static long raw_execve(const char *path, char *const argv[], char *const envp[])
{
	long ret;
#if defined(__x86_64__)
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"((long)SYS_execve), "D"(path), "S"(argv), "d"(envp)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = SYS_execve;
	register long x0 __asm__("x0") = (long)path;
	register long x1 __asm__("x1") = (long)argv;
	register long x2 __asm__("x2") = (long)envp;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	ret = x0;
#else
	ret = execve(path, argv, envp);
#endif
	return ret;
}

/* The wrapper never runs with libtorwrap.so loaded into itself (a dynamic build, the sanitizers', started in a
 * tree that preloads the library): its own sockets would meet the hooks. It execs itself again without it (the
 * program gets the library back: prepare_environment). A static wrapper is never loaded into. */
static void drop_own_library(char **argv)
{
	const char *pre = getenv("LD_PRELOAD");
	if (getauxval(AT_BASE) == 0 || pre == NULL || strstr(pre, "libtorwrap") == NULL)
		return;
	char kept[PATH_MAX * 4] = "";
	size_t used = 0;
	const char *p = pre;
	while (*p) {
		size_t n = strcspn(p, ": ");
		if (n > 0 && !(memmem(p, n, "libtorwrap", 10)) && used + n + 2 < sizeof(kept)) {
			used += (size_t)snprintf(kept + used, sizeof(kept) - used, "%s%.*s", used ? ":" : "", (int)n, p);
		}
		p += n;
		p += strspn(p, ": ");
	}
	if ((used ? setenv("LD_PRELOAD", kept, 1) : unsetenv("LD_PRELOAD")) == 0)
		raw_execve("/proc/self/exe", argv, environ);
}

int main(int argc, char **argv)
{
	/* The subcommand comes first and alone; "torwrap -- check" still runs a program called check. */
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return tw_check_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "explain") == 0)
		return tw_explain_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "audit") == 0)
		return tw_audit_main(argc - 1, argv + 1);
	drop_own_library(argv);
	int cmd;
	int rc = cli_wrap_options(argc, argv, &cmd);
	if (rc != 0)
		return rc == CLI_DONE ? 0 : rc;
	return cli_wrap_run(argv + cmd);
}
