/* tw.c: the pure name helpers declared in tw.h.
 *
 * The log writer lives in log.c, tw_libc() in libc.c; nothing here calls a function the shim overrides.
 */
#include "tw.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <time.h>

/* --------------------------------------------------------------------------------------------- pure helpers */

static bool tw_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '.';
}

int tw_name_normalize(const char *name, char out[TW_NAME_MAX])
{
	if (!name)
		return -EINVAL;
	size_t n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		n--;
	/* 253 is the longest name DNS can carry in text form; longer cannot be resolved anywhere. */
	if (n == 0 || n > 253)
		return -EINVAL;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!tw_name_char(c))
			return -EINVAL;
		if (c == '.') {
			if (label == 0)
				return -EINVAL; /* empty label: ".a", "a..b" */
			label = 0;
		} else if (++label > 63) {
			return -EINVAL;
		}
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
	}
	out[n] = '\0';
	return 0;
}

bool tw_name_in_domain(const char *name, const char *suffix)
{
	if (!name || !suffix)
		return false;
	size_t n = strlen(name), s = strlen(suffix);
	if (s == 0 || n < s)
		return false;
	if (strcasecmp(name + (n - s), suffix) != 0)
		return false;
	return n == s || name[n - s - 1] == '.';
}

bool tw_name_is_localhost(const char *name)
{
	return tw_name_in_domain(name, "localhost");
}

bool tw_name_is_onion(const char *name)
{
	return name && strcasecmp(name, "onion") != 0 && tw_name_in_domain(name, "onion");
}

int64_t tw_now_ms(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool tw_secure_mode(void)
{
	return getauxval(AT_SECURE) != 0;
}

bool tw_env_is_ours(const char *e)
{
	return strncmp(e, "TORWRAP_", 8) == 0 || strncmp(e, "TOR_", 4) == 0 || strncmp(e, "SOCKS5_PROXY=", 13) == 0 ||
	       strncmp(e, "NO_PROXY=", 9) == 0 || strncmp(e, "no_proxy=", 9) == 0;
}
