/* fuzz.h: what every fuzz target shares. A target is one function of the input bytes, FUZZ_TARGET(NAME):
 * built with clang -fsanitize=fuzzer it is libFuzzer's LLVMFuzzerTestOneInput (make fuzz); built with
 * -DFUZZ_REPLAY it is fuzz_NAME, which tests/unit/test_fuzz_replay.c calls on every committed input (the seed
 * corpus and the regression inputs) in `make test` and `make sanitize`.
 *
 * A target checks what must hold for every input with FUZZ_ASSERT: a failure is a crash libFuzzer keeps.
 */
#ifndef TORWRAP_FUZZ_H
#define TORWRAP_FUZZ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../policy/policy.h"

#ifdef FUZZ_REPLAY
#define FUZZ_TARGET(name) int fuzz_##name(const uint8_t *data, size_t size)
#else
#define FUZZ_TARGET(name) int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif

#define FUZZ_ASSERT(cond)                                                                                      \
	do {                                                                                                   \
		if (!(cond)) {                                                                                 \
			fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond);        \
			abort();                                                                               \
		}                                                                                              \
	} while (0)

/* The input as a NUL-terminated string (the parsers of text take C strings); free() it. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Splits the input at its first NUL: the text before it, and the rest (pointer and length). */
static inline char *fuzz_split(const uint8_t *data, size_t size, const uint8_t **rest, size_t *rest_len)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t head = nul ? (size_t)(nul - data) : size;
	*rest = nul ? nul + 1 : data + size;
	*rest_len = nul ? size - head - 1 : 0;
	return fuzz_text(data, head);
}

static inline const char *fuzz_env_files_empty(const char *name, void *ctx)
{
	(void)ctx;
	if (strcmp(name, "TORWRAP_POLICY") == 0 || strcmp(name, "TORWRAP_RESOLV_CONF") == 0 ||
	    strcmp(name, "TORWRAP_HOSTS") == 0)
		return "/dev/null";
	return strcmp(name, "TORWRAP_LOG_LEVEL") == 0 ? "none" : NULL;
}

/* The default configuration with no rules (every file /dev/null): the rules under test go in CFG->rules. */
static inline void fuzz_bare_config(struct tw_config *cfg)
{
	if (config_build(cfg, fuzz_env_files_empty, NULL) != 0 || cfg->broken)
		abort();
	tw_log_set_level(TW_LOG_NONE);
	policy_rules_free(&cfg->rules);
}

#endif
