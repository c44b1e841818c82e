/* test_fuzz_replay.c: every committed fuzz input, replayed. Each target of tests/fuzz/ runs on its seed corpus
 * (tests/fuzz/corpus/NAME) and on the crashes fuzzing found, minimized (tests/fuzz/regress/NAME): so a parser
 * that regresses fails `make test` and `make sanitize`, without clang or libFuzzer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_LIST(X) X(policy) X(no_proxy) X(config) X(socks5_reply) X(dns_query) X(dns_reply) X(dns_answer) \
	X(resolv_conf) X(hosts) X(decide) X(log_json) X(audit)

#define DECLARE(name) int fuzz_##name(const uint8_t *data, size_t size);
FUZZ_LIST(DECLARE)

/* Runs FN on every file of DIR; the number of files. */
static int replay_dir(const char *dir, int (*fn)(const uint8_t *, size_t))
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		static uint8_t buf[1 << 20];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		uint8_t *copy = malloc(len ? len : 1); /* exactly LEN bytes: ASan sees any read past the input */
		assert_non_null(copy);
		memcpy(copy, buf, len);
		fn(copy, len);
		free(copy);
		n++;
	}
	closedir(d);
	return n;
}

static void replay(const char *name, int (*fn)(const uint8_t *, size_t))
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/corpus/%s", FUZZ_DIR, name);
	int seeds = replay_dir(dir, fn);
	snprintf(dir, sizeof(dir), "%s/regress/%s", FUZZ_DIR, name);
	int regressions = replay_dir(dir, fn);
	print_message("fuzz %s: %d seed inputs, %d regression inputs replayed\n", name, seeds, regressions);
	assert_true(seeds > 0); /* a target without a seed corpus is a mistake */
}

#define TEST(name)                                                                                             \
	static void replay_##name(void **state)                                                                \
	{                                                                                                      \
		(void)state;                                                                                   \
		replay(#name, fuzz_##name);                                                                    \
	}
FUZZ_LIST(TEST)

/* Every target in tests/fuzz has its replay here. */
static void every_target_listed(void **state)
{
	(void)state;
	static const char *const listed[] = {
#define NAME(name) #name,
		FUZZ_LIST(NAME)
	};
	DIR *d = opendir(FUZZ_DIR);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, "fuzz_", 5) != 0 || len < 8 || strcmp(e->d_name + len - 2, ".c") != 0)
			continue;
		int found = 0;
		for (size_t i = 0; i < sizeof(listed) / sizeof(listed[0]); i++)
			found |= strlen(listed[i]) == len - 7 && strncmp(listed[i], e->d_name + 5, len - 7) == 0;
		if (!found)
			fail_msg("%s has no replay in test_fuzz_replay.c", e->d_name);
	}
	closedir(d);
}

int main(void)
{
#define ENTRY(name) cmocka_unit_test(replay_##name),
	const struct CMUnitTest tests[] = { FUZZ_LIST(ENTRY) cmocka_unit_test(every_target_listed) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
