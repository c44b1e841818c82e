/* fuzz_log_json.c: the JSON log line (tw_log_format_json) for any bytes in the message and the fields: it must be
 * exactly one line of valid JSON (what Loki and ELK parse), fit the buffer it was given, and say its length.
 * Input: 15 bytes of numbers (time, pid, errno, Tor's reply, level, buffer size), then the strings separated by
 * NUL: message, destination, verdict, rule, proxy, event, program. */
#include "fuzz.h"
#include "json_check.h"

static uint64_t take(const uint8_t **data, size_t *size, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n && *size > 0; i++, (*data)++, (*size)--)
		v = v << 8 | **data;
	return v;
}

FUZZ_TARGET(log_json)
{
	int64_t time_ms = (int64_t)take(&data, &size, 6) - ((int64_t)1 << 40);
	long pid = (long)take(&data, &size, 3);
	int err = (int)take(&data, &size, 2) % 200;
	int tor_reply = (int)take(&data, &size, 1) - 2;
	int level = (int)take(&data, &size, 1) % 7 - 1;
	size_t len = TW_LOG_JSON_MIN + take(&data, &size, 2) % 4096;
	char *field[7] = { 0 };
	for (int i = 0; i < 7; i++) {
		const uint8_t *rest;
		size_t rest_len;
		field[i] = fuzz_split(data, size, &rest, &rest_len);
		data = rest, size = rest_len;
	}
	struct tw_event ev = { .event = field[5], .dest = field[1], .verdict = field[2], .rule = field[3],
			       .proxy = field[4], .err = err, .tor_reply = tor_reply, .pid = pid };
	struct tw_log_stamp st = { .time_ms = time_ms, .pid = 4242, .program = field[6] };
	char *out = malloc(len); /* exactly LEN: ASan sees any write past it */
	FUZZ_ASSERT(out != NULL);
	int n = tw_log_format_json(out, len, &st, level, &ev, field[0]);
	FUZZ_ASSERT(n > 0 && (size_t)n < len);
	FUZZ_ASSERT(strlen(out) == (size_t)n);
	FUZZ_ASSERT(json_is_one_object_line(out, (size_t)n));
	free(out);
	for (int i = 0; i < 7; i++)
		free(field[i]);
	return 0;
}
