/* options.c: the options every torwrap command shares, as the variables they stand for. */
#include <string.h>

#include "cli.h"

const char *cli_option_var(const char *a)
{
	static const struct {
		const char *opt, *var;
	} opts[] = {
		{ "--policy", "TORWRAP_POLICY" },
		{ "--proxy", "TORWRAP_PROXY" },
		{ "--mode", "TORWRAP_MODE" },
		{ "--isolation", "TORWRAP_ISOLATION" },
	};
	for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		size_t n = strlen(opts[k].opt);
		if (strncmp(a, opts[k].opt, n) == 0 && (a[n] == '\0' || a[n] == '='))
			return opts[k].var;
	}
	return NULL;
}
