/* audit.c: `torwrap audit [--policy-draft FILE] [OPTIONS] [--] CMD [ARGS...]`: runs CMD as `torwrap [OPTIONS]
 * CMD` does and, when it exits (or on SIGUSR1), prints every destination it used: name or address, port,
 * verdict, count and rule, and the names refused as internal. With --policy-draft, writes the policy lines an
 * operator would add for the internal names and private addresses it met.
 *
 * The library and the supervisor append one JSON line per decision to the file TORWRAP_AUDIT_FILE names; this
 * creates that file (private, in $TMPDIR or /tmp), runs the wrapper in a child with the variable set, and
 * reads the file back (audit/). The report goes to stderr: stdout is CMD's.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../audit/audit.h"
#include "cli.h"

#define AUDIT_FILE_ENV "TORWRAP_AUDIT_FILE"
#define CARRY_MAX (1 << 20) /* no line of the stream is that long: past it, a line is cut and rejected */

static void audit_usage(FILE *out)
{
	fputs("Usage: torwrap audit [--policy-draft FILE] [OPTIONS] [--] COMMAND [ARGS...]\n"
	      "Runs COMMAND under torwrap, as `torwrap [OPTIONS] COMMAND` does, and when it exits prints\n"
	      "on standard error every destination it used: name or address, port, verdict (direct, tor,\n"
	      "refuse), how many decisions, and the rule that made them; then the names refused as internal.\n"
	      "SIGUSR1 to this process prints the report so far.\n"
	      "\n"
	      "  --policy-draft FILE  also write the policy lines an operator would add: each name refused\n"
	      "                       as internal, each private address sent to Tor or refused, with its\n"
	      "                       ports and a comment saying why (review them before adding them)\n"
	      "  -h, --help           this help\n"
	      "OPTIONS are the wrapper's (torwrap --help).\n"
	      "\n"
	      "Exit status: COMMAND's (128+N when a signal N killed it), or the wrapper's own (2 usage,\n"
	      "78 configuration broken, 126, 127).\n",
	      out);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("torwrap audit: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (torwrap audit --help)\n", stderr);
	va_end(ap);
	return CLI_EXIT_USAGE;
}

/* The command line, split: audit's own option, and the wrapper's options and command (WRAP, WRAP_N). */
struct audit_args {
	const char *draft;
	char **wrap;
	int wrap_n;
};

/* Takes audit's options out of ARGV, wherever they are before the command. 0, CLI_DONE, or an exit status. */
static int split_args(int argc, char **argv, struct audit_args *a)
{
	a->wrap = calloc((size_t)argc + 1, sizeof(*a->wrap));
	if (a->wrap == NULL)
		return usage_error("%s", "out of memory");
	a->wrap[a->wrap_n++] = argv[0];
	int i = 1;
	for (; i < argc && strcmp(argv[i], "--") != 0 && argv[i][0] == '-'; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			audit_usage(stdout);
			return CLI_DONE;
		}
		if (strncmp(arg, "--policy-draft", 14) == 0 && (arg[14] == '\0' || arg[14] == '=')) {
			if (arg[14] == '\0' && i + 1 >= argc)
				return usage_error("%s needs a file", arg);
			a->draft = arg[14] ? arg + 15 : argv[++i];
			if (*a->draft == '\0')
				return usage_error("%s needs a file", "--policy-draft");
			continue;
		}
		a->wrap[a->wrap_n++] = argv[i];
		if (cli_wrap_option_takes_value(arg) && i + 1 < argc)
			a->wrap[a->wrap_n++] = argv[++i];
	}
	if (i + (i < argc && strcmp(argv[i], "--") == 0) >= argc) {
		fputs("torwrap audit: no command to run\n", stderr);
		audit_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	while (i < argc)
		a->wrap[a->wrap_n++] = argv[i++];
	return 0;
}

/* The audit file as read so far: the table, and the bytes of a line still being written. */
struct stream {
	int fd;
	off_t offset;
	char *carry;
	size_t carry_len;
	struct audit_table table;
};

/* Appends N bytes to the carried partial line and feeds the complete lines. 0, or -ENOMEM. */
static int stream_take(struct stream *s, const char *buf, size_t n)
{
	char *c = realloc(s->carry, s->carry_len + n + 1);
	if (c == NULL)
		return -ENOMEM;
	s->carry = c;
	memcpy(c + s->carry_len, buf, n);
	s->carry_len += n;
	long used = audit_table_feed(&s->table, c, s->carry_len, s->carry_len > CARRY_MAX);
	if (used < 0)
		return -ENOMEM;
	memmove(c, c + used, s->carry_len - (size_t)used);
	s->carry_len -= (size_t)used;
	return 0;
}

/* Reads what was appended since the last time; with FINAL, the last line even without its newline. */
static int stream_catch_up(struct stream *s, bool final)
{
	static char buf[65536];
	for (;;) {
		ssize_t n = pread(s->fd, buf, sizeof(buf), s->offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		s->offset += n;
		int rc = stream_take(s, buf, (size_t)n);
		if (rc != 0)
			return rc;
	}
	if (final && s->carry_len && audit_table_feed(&s->table, s->carry, s->carry_len, true) < 0)
		return -ENOMEM;
	if (final)
		s->carry_len = 0;
	return 0;
}

static void print_report(struct stream *s, bool final)
{
	int rc = stream_catch_up(s, final);
	if (rc != 0)
		fprintf(stderr, "torwrap audit: cannot read the audit file: %s (the report is incomplete)\n",
			strerror(-rc));
	audit_report(&s->table, stderr);
	fflush(stderr);
}

/* A private file for the stream, named in the environment the child inherits. Its descriptor, or -1. */
static int make_audit_file(char *path, size_t len)
{
	const char *dir = getenv("TMPDIR");
	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	if (snprintf(path, len, "%s/torwrap-audit.XXXXXX", dir) >= (int)len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = mkostemp(path, O_CLOEXEC); /* 0600 */
	if (fd >= 0 && setenv(AUDIT_FILE_ENV, path, 1) != 0) {
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

/* Signals the audit takes: SIGUSR1 (the report so far), the child's end, and those it forwards. */
static void audit_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
}

/* Whether the child is done (its wait status in *STATUS). A child stopped by job control stops us too, as the
 * wrapper does: the shell waits for this process, and its SIGCONT wakes both. */
static bool child_done(pid_t child, int *status)
{
	int st;
	pid_t w = waitpid(child, &st, WNOHANG | WUNTRACED);
	if (w != child)
		return false;
	if (WIFSTOPPED(st)) {
		kill(getpid(), SIGSTOP);
		return false;
	}
	*status = st;
	return true;
}

/* Serves signals until the child has exited: its wait status. */
static int wait_child(int sigfd, pid_t child, struct stream *s)
{
	int status = 0;
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sigfd, &si, sizeof(si));
		if (n != (ssize_t)sizeof(si)) {
			if (n < 0 && errno != EINTR)
				break;
			continue;
		}
		if (si.ssi_signo == SIGCHLD) {
			if (child_done(child, &status))
				return status;
		} else if (si.ssi_signo == SIGUSR1) {
			print_report(s, false);
		} else if ((int)si.ssi_code <= 0) {
			/* Sent by a process to us: pass it on. The terminal's (SI_KERNEL) reached the child already. */
			kill(child, (int)si.ssi_signo);
		}
	}
	waitpid(child, &status, 0);
	return status;
}

/* Runs the wrapper on WRAP's command in a child, serving signals meanwhile. The child's wait status, or -1. */
static int run_child(char **cmd, struct stream *s)
{
	sigset_t set, old;
	audit_signals(&set);
	sigprocmask(SIG_BLOCK, &set, &old);
	int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	fflush(NULL);
	pid_t child = sigfd < 0 ? -1 : fork();
	if (child == 0) {
		close(sigfd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		exit(cli_wrap_run(cmd));
	}
	if (child < 0) {
		fprintf(stderr, "torwrap audit: cannot start the command: %s\n", strerror(errno));
		if (sigfd >= 0)
			close(sigfd);
		return -1;
	}
	int status = wait_child(sigfd, child, s);
	close(sigfd);
	return status;
}

static int exit_status(int wstatus)
{
	if (wstatus < 0)
		return 126;
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 126;
}

static void write_draft(const char *path, FILE *f, const struct audit_table *t)
{
	int n = audit_draft(t, f);
	if (fclose(f) != 0 || n < 0)
		fprintf(stderr, "torwrap audit: cannot write the policy draft %s: %s\n", path,
			strerror(n < 0 ? -n : errno));
	else
		fprintf(stderr, "torwrap audit: policy draft written to %s (%d line%s to review)\n", path, n,
			n == 1 ? "" : "s");
}

int tw_audit_main(int argc, char **argv)
{
	struct audit_args a = { NULL, NULL, 0 };
	int cmd, rc = split_args(argc, argv, &a);
	if (rc == 0)
		rc = cli_wrap_options(a.wrap_n, a.wrap, &cmd);
	if (rc != 0) {
		free(a.wrap);
		return rc == CLI_DONE ? 0 : rc;
	}
	FILE *draft = a.draft ? fopen(a.draft, "we") : NULL; /* before the run: a bad path wastes no run */
	if (a.draft && draft == NULL) {
		fprintf(stderr, "torwrap audit: cannot write the policy draft %s: %s\n", a.draft, strerror(errno));
		free(a.wrap);
		return CLI_EXIT_USAGE;
	}
	struct stream s = { .fd = -1 };
	char path[4096];
	audit_table_init(&s.table);
	s.fd = make_audit_file(path, sizeof(path));
	int status = s.fd < 0 ? -1 : run_child(a.wrap + cmd, &s);
	if (s.fd < 0)
		fprintf(stderr, "torwrap audit: cannot create the audit file in %s: %s\n", path, strerror(errno));
	if (s.fd >= 0) {
		print_report(&s, true);
		if (draft)
			write_draft(a.draft, draft, &s.table);
		unlink(path);
		close(s.fd);
	} else if (draft) {
		fclose(draft);
	}
	audit_table_free(&s.table);
	free(s.carry);
	free(a.wrap);
	return exit_status(status);
}
