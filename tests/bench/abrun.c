/* abrun.c: runs several commands interleaved (every round runs each command once, in a new random order) and
 * records, per run, the wall time (fork to reaped) and the peak RSS (wait4's ru_maxrss). Interleaving makes
 * every command see the same machine: a noisy neighbour slows all of them in the same round, so ratios of
 * medians hold where absolute times do not.
 *
 *   abrun [--runs N] [--warmup W] -- NAME [VAR=VALUE...] PROGRAM [ARGS...] \; NAME ... \; ...
 *
 * (the separator is a lone ";" argument). VAR=VALUE words before the program are added to its environment;
 * stdin, stdout and stderr go to /dev/null. Prints one JSON object: {"NAME": {"wall_ns": [...],
 * "maxrss_kb": [...], "failed": N}, ...}. A run that does not exit 0 is counted in "failed" (and kept).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct cmd {
	const char *name;
	char **argv;
	char **envp;
	int64_t *wall;
	long *rss;
	int failed;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int run(struct cmd *c, int64_t *wall, long *rss)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int64_t t0 = now_ns();
	int rc = posix_spawnp(&pid, c->argv[0], &fa, NULL, c->argv, c->envp);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "abrun: %s: %s\n", c->argv[0], strerror(rc));
		exit(1);
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR) {
			perror("abrun: wait4");
			exit(1);
		}
	*wall = now_ns() - t0;
	*rss = ru.ru_maxrss;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	int runs = 100, warmup = 5, i = 1;
	for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
			warmup = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: abrun [--runs N] [--warmup W] -- NAME [VAR=V...] PROG [ARGS] \\; ...\n");
			return 2;
		}
	}
	i++;
	struct cmd cmds[32];
	int nc = 0;
	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	while (i < argc && nc < 32) {
		struct cmd *c = &cmds[nc++];
		memset(c, 0, sizeof(*c));
		c->name = argv[i++];
		c->envp = calloc(nenv + (size_t)argc + 1, sizeof(char *));
		size_t ne = 0;
		int start = i;
		while (i < argc && strcmp(argv[i], ";") != 0 && strchr(argv[i], '=') && argv[i][0] != '/')
			i++;
		/* Added variables replace inherited ones of the same name. */
		for (size_t k = 0; k < nenv; k++) {
			size_t klen = strcspn(environ[k], "=");
			int replaced = 0;
			for (int j = start; j < i; j++)
				if (strncmp(argv[j], environ[k], klen + 1) == 0)
					replaced = 1;
			if (!replaced)
				c->envp[ne++] = environ[k];
		}
		for (int j = start; j < i; j++)
			c->envp[ne++] = argv[j];
		int a0 = i;
		while (i < argc && strcmp(argv[i], ";") != 0)
			i++;
		if (i == a0) {
			fprintf(stderr, "abrun: %s: no program\n", c->name);
			return 2;
		}
		c->argv = calloc((size_t)(i - a0) + 1, sizeof(char *));
		for (int j = a0; j < i; j++)
			c->argv[j - a0] = argv[j];
		if (i < argc)
			i++; /* the ";" */
		c->wall = calloc((size_t)runs, sizeof(int64_t));
		c->rss = calloc((size_t)runs, sizeof(long));
	}
	if (nc == 0) {
		fprintf(stderr, "abrun: no commands\n");
		return 2;
	}
	/* A fresh random order every round (fixed seed: runs are repeatable), so that no command always follows the
	 * same one and inherits its cache state. */
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	int order[32];
	for (int k = 0; k < nc; k++)
		order[k] = k;
	for (int r = -warmup; r < runs; r++) {
		for (int k = nc - 1; k > 0; k--) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; /* xorshift64 */
			int j = (int)(rng % (uint64_t)(k + 1)), t = order[k];
			order[k] = order[j], order[j] = t;
		}
		for (int k = 0; k < nc; k++) {
			struct cmd *c = &cmds[order[k]];
			int64_t w;
			long rss;
			int ok = run(c, &w, &rss);
			if (r >= 0) {
				c->wall[r] = w;
				c->rss[r] = rss;
				if (ok != 0)
					c->failed++;
			}
		}
	}
	printf("{");
	for (int k = 0; k < nc; k++) {
		struct cmd *c = &cmds[k];
		printf("%s\n \"%s\": {\"failed\": %d, \"wall_ns\": [", k ? "," : "", c->name, c->failed);
		for (int r = 0; r < runs; r++)
			printf("%s%lld", r ? ", " : "", (long long)c->wall[r]);
		printf("], \"maxrss_kb\": [");
		for (int r = 0; r < runs; r++)
			printf("%s%ld", r ? ", " : "", c->rss[r]);
		printf("]}");
	}
	printf("}\n");
	return 0;
}
