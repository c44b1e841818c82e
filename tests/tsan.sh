#!/usr/bin/env bash
# tests/tsan.sh (make tsan): the multithreaded and process-tree paths against the ThreadSanitizer build
# (TW_BUILD=build-tsan: the library and the wrapper with -fsanitize=thread, libtsan preloaded first into every
# process, as the sanitizer run does with libasan). Each case must succeed, and ThreadSanitizer must report
# nothing: its reports go to files under the test's directory, and any file there fails the run.
#   - 32 threads of lookups and connects through the proxy, under LD_PRELOAD and under the wrapper;
#   - process trees: a shell forking and exec'ing wrapped children that each run threads, and vfork+exec;
#   - the supervisor's thread pool: 16 threads of a static program, every connect a notification;
#   - the non-blocking connects' table and watcher thread: 16 connections of an epoll loop at once, and 16 that
#     the watcher times out (a proxy that never answers) while the loop reads them.
# A control first proves that the reports are seen: a racy program must leave one.
export TW_TSAN=1
. "$(dirname "$0")/integration/lib.sh"
REPORTS=$WORK/tsan-reports
mkdir -p "$REPORTS"
export TSAN_OPTIONS="log_path=$REPORTS/report halt_on_error=0 report_signal_unsafe=0 second_deadlock_stack=1"
reports() { ls "$REPORTS" 2>/dev/null | wc -l; }
no_reports() { [ "$(reports)" -eq 0 ]; }

# ------------------------------------------------------------------------------------------------ control
cat >"$WORK/racy.c" <<'C'
#include <pthread.h>
#include <unistd.h>
int x;
static void *f(void *a) { usleep(10000); x++; return a; }
int main(void) { pthread_t t; pthread_create(&t, 0, f, 0); x++; usleep(50000); pthread_join(t, 0); return 0; }
C
gcc -fsanitize=thread -g -o "$WORK/racy" "$WORK/racy.c" -pthread
for try in 1 2 3; do # the race is certain; a run that shows none is retried rather than trusted
	"$WORK/racy" 2>>"$WORK/racy.err"
	[ "$(reports)" -gt 0 ] && break
done
check "control: a racy program leaves a ThreadSanitizer report" [ "$(reports)" -gt 0 ]
[ "$(reports)" -gt 0 ] || sed 's/^/# racy: /' "$WORK/racy.err" | head -10
rm -f "$REPORTS"/*

start_world
L=$PROGRAMS/leaky

# ------------------------------------------------------------------------------------------ many threads
out=$(preload "$L" threads threads.example.test "$HPORT" 32 8 200 2>&1)
check "LD_PRELOAD: 32 threads, 6400 lookups and 256 connects through the proxy" grep -qx "ok 6656" <<<"$out"
check "LD_PRELOAD: 32 threads: no ThreadSanitizer report" no_reports
out=$(tw "$L" threads threads.example.test "$HPORT" 32 8 200 2>&1)
check "torwrap: 32 threads, 6400 lookups and 256 connects through the proxy" grep -qx "ok 6656" <<<"$out"
check "torwrap: 32 threads: no ThreadSanitizer report" no_reports

# ----------------------------------------------------------------------------------------- process trees
out=$(tw sh -c "for i in 1 2 3 4; do '$L' threads tree\$i.example.test '$HPORT' 8 2 50 & done; wait" 2>&1)
check "torwrap: a shell forks and execs 4 wrapped children of 8 threads each" [ "$(grep -cx 'ok 416' <<<"$out")" -eq 4 ]
out=$(tw "$L" vfork-exec "$L" threads vfork.example.test "$HPORT" 8 2 50 2>&1)
check "torwrap: vfork+exec of a threaded child" grep -qx "ok 416" <<<"$out"
check "process trees: no ThreadSanitizer report" no_reports

# --------------------------------------------------------------------------- the supervisor's thread pool
SC=$WORK/static_client
gcc -std=c11 -D_GNU_SOURCE -O1 -g -pthread -static -o "$SC" "$TW_TOP/tests/programs/static_client.c"
out=$(unshare -m -- sh -c 'printf "nameserver 127.0.0.11:%s\n" "$0" >"$1" && mount --bind "$1" /etc/resolv.conf &&
	shift && exec "$@"' "$DPORT" "$WORK/tsan-resolv.conf" env LD_PRELOAD="$SAN_PRELOAD" "$TORWRAP" \
	"$SC" --threads 16 --count 10 get pool.example.test "$HPORT" 2>&1)
check "supervisor: 16 threads of a static program, 160 requests through the proxy" grep -qx "fetched 160/160" <<<"$out"
check "supervisor: no ThreadSanitizer report" no_reports

# --------------------------------------------------------------------------------- non-blocking connects
hosts=()
for i in $(seq 1 16); do hosts+=("async$i.example.test"); done
out=$(preload "$PROGRAMS/asyncget" "$HPORT" "${hosts[@]}" 2>&1)
check "LD_PRELOAD: an epoll loop's 16 non-blocking connects all complete" \
	$PY -c 'import json, sys; d = json.loads(sys.stdin.read().splitlines()[-1]); sys.exit(not all(r["ok"] for r in d["results"]) or len(d["results"]) != 16)' <<<"$out"
check "non-blocking connects: no ThreadSanitizer report" no_reports
# The same loop against a proxy that accepts and never answers: the watcher times every connection out while the
# program's thread polls and reads them (TOR_CONNECTIVITY_TIMEOUT=1).
BH=$(free_port)
start_socks blackhole "$BH" --black-hole
out=$(TOR_PROXY_SOCKS_PORT=$BH TOR_CONNECTIVITY_TIMEOUT=1 preload "$PROGRAMS/asyncget" --limit-s 60 "$HPORT" "${hosts[@]}" 2>&1)
check "LD_PRELOAD: 16 non-blocking connects to a proxy that never answers all time out (ETIMEDOUT)" \
	$PY -c 'import json, sys; d = json.loads(sys.stdin.read().splitlines()[-1]); sys.exit(len(d["results"]) != 16 or any(r["ok"] or r["error"] != "ETIMEDOUT" for r in d["results"]))' <<<"$out"
check "non-blocking connects timed out: no ThreadSanitizer report" no_reports

if [[ $TW_FAILS -ne 0 ]]; then
	for f in "$REPORTS"/*; do [[ -f $f ]] && head -40 "$f"; done
fi
finish
