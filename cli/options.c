/* options.c: the options every torwrap command shares, as the variables they stand for. */
#include <errno.h>
#include <stdlib.h>
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

/* "PORT": 1 to 65535, digits only (no sign, no blanks, at most 5 digits). */
static int parse_port(const char *p, uint16_t *port)
{
	size_t n = strlen(p);
	if (n == 0 || n > 5 || strspn(p, "0123456789") != n)
		return -EINVAL;
	long v = strtol(p, NULL, 10);
	if (v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int cli_split_hostport(const char *s, bool port_optional, char host[TW_NAME_MAX], uint16_t *port)
{
	const char *h = s, *p = NULL;
	size_t hn;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || (close[1] != ':' && (close[1] != '\0' || !port_optional)))
			return -EINVAL;
		h = s + 1;
		hn = (size_t)(close - h);
		p = close[1] ? close + 2 : NULL;
	} else {
		const char *colon = strrchr(s, ':');
		bool bare_v6 = colon && memchr(s, ':', (size_t)(colon - s)); /* needs brackets to carry a port */
		if (!colon || bare_v6) {
			if (!port_optional)
				return -EINVAL;
			colon = NULL;
		}
		hn = colon ? (size_t)(colon - s) : strlen(s);
		p = colon ? colon + 1 : NULL;
	}
	if (hn == 0 || hn >= TW_NAME_MAX)
		return -EINVAL;
	*port = 0;
	if (p && parse_port(p, port) != 0)
		return -EINVAL;
	memcpy(host, h, hn);
	host[hn] = '\0';
	return 0;
}
