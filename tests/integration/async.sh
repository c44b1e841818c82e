#!/usr/bin/env bash
# async.sh: event loops never wait for Tor (issue 13). Real event-loop programs open 16 connections at once, by
# hostname (names that are not allowed: virtual addresses, so through the proxy by name), through a SOCKS server
# that answers each CONNECT only after a delay, under the wrapper (tw) and under LD_PRELOAD alone (preload):
# Python asyncio (tests/programs/asyncget.py), Node's net.connect and fetch (asyncget.js), Java NIO (AsyncGet.java,
# compiled here), and C with edge-triggered epoll (asyncget.c). Each connection then sends an HTTP GET to the
# world's "internet" server, which the proxy's exit reaches on loopback.
#
# What is judged is read off the proxy's own log (socks5_server.py: when each request arrived, when each reply
# left) and off the program's loop (the instant of every tick of a 10 ms timer on it), never off a duration:
#   - every connection works and returns the page; each proxy request by name (ATYP 3), one per name, pipelined;
#   - the proxy had every CONNECT request before it sent its first reply: nobody waited for one reply before
#     the next request (a connect() that blocks for the SOCKS exchange serves them one after another);
#   - the loop ticked between the first request's arrival and the first reply: it kept running while the
#     connections waited (a loop frozen inside connect() cannot tick);
#   - a name the proxy refuses (05), cannot reach (04), times out (06, C only) or answers by closing (C only)
#     reaches the program as an error on that connection alone (asyncio raises, Node emits 'error', Java throws,
#     C reports the errno), with one log line of torwrap's naming Tor's reason;
#   - getpeername names the destination asked for (asyncio, net, C: taken while the reply may still be on its way);
#   - the C client reads with read, recv, recvfrom, recvmsg, readv and recv(MSG_PEEK): never a byte of the SOCKS
#     reply, and the refusal through each of them;
#   - the proxy down: every connection fails, and strace sees no connect to the destination's port;
#   - TORWRAP_OPTIMISTIC=on with blocking clients (curl, tcpget): the page still comes back, the request reached
#     the proxy before its reply (optimistic data), and a refusal arrives at the first read (tcpget: "read:
#     ECONNREFUSED"; curl: a receive error, exit 55/56), not at connect(); =off keeps today's behaviour.
# Until the library does issue 13, the checks that need it fail (the proxy logs one request per reply, the
# loops never tick while waiting, the optimistic checks see the refusal at connect and no early bytes).
#
# Loopback only, no root needed. Java and Node rows are skipped, with the reason, where java/javac or node are
# missing. TW_ASYNC_DELAY_MS sets the proxy's delay (default 400 ms): the programs must have all their requests
# out within it (they do in a few ms), and a client that serves them one after another takes 18 times it.
. "$(dirname "$0")/lib.sh"

start_world

N=16
DELAY_MS=${TW_ASYNC_DELAY_MS:-400}
BODY="hello from the internet"
# Names the async proxy refuses, and how (the names say nothing of the reason: the log line must).
R05=r05.async.example.test U04=u04.async.example.test T06=t06.async.example.test XCL=xcl.async.example.test
APORT=$(free_port)
start_socks async "$APORT" --default-ip 127.0.0.1 --delay-ms "$DELAY_MS" --delay-model request \
	--fail "$R05=05" --fail "$U04=04" --fail "$T06=06" --fail "$XCL=close" || { notok "the delaying socks server"; finish; }
ALOG=$WORK/socks-async.log
export TOR_PROXY_SOCKS_PORT=$APORT # tor-proxy is now the delaying server (the world's main one stays untouched)

# What each failure must read as: errno, and a word of Tor's reason the log line must carry.
declare -A ERRNO_OF=([$R05]=ECONNREFUSED [$U04]=EHOSTUNREACH [$T06]=ETIMEDOUT [$XCL]=any)
declare -A REASON_OF=([$R05]="refused" [$U04]="unreachable" [$T06]="TTL" [$XCL]="")
declare -A CODE_OF=([$R05]="05, refused" [$U04]="04, host unreachable" [$T06]="06, TTL expired" [$XCL]="no reply, closed")

# fact TAG NAME...: a value async_check.py printed for run TAG.
fact() {
	local tag=$1
	shift
	sed -n "s/^$* //p" "$WORK/$tag.facts" | head -n 1
}
# torwrap_lines TAG HOST: torwrap's own log lines (not the program's) that name HOST.
torwrap_lines() { grep -E '^torwrap\[[0-9]+\]: ' "$WORK/$1.err" | grep -F "$2"; }
one_reason_line() { # one_reason_line TAG HOST WORD
	[ "$(torwrap_lines "$1" "$2" | wc -l)" -eq 1 ] && { [ -z "$3" ] || torwrap_lines "$1" "$2" | grep -qi -- "$3"; }
}

# async_run LABEL TAG HOW PEERS "FAILS" CMD...: runs CMD PORT HOSTS... under HOW (tw or preload) with N names
# that must work and the failing names FAILS, then checks the run. PEERS: 1 when the program reports getpeername.
async_run() {
	local label=$1 tag=$2 how=$3 peers=$4 fails=$5 n=${ASYNC_N:-$N}
	shift 5
	local hosts=() fargs=() i h
	for ((i = 1; i <= n; i++)); do hosts+=("$(printf 'c%02d.%s.async.example.test' "$i" "$tag")"); done
	for h in $fails; do fargs+=(--fail "$h=${ERRNO_OF[$h]}"); done
	local n0
	n0=$(wc -l <"$ALOG")
	"$how" "$@" "$HPORT" "${hosts[@]}" $fails >"$WORK/$tag.json" 2>"$WORK/$tag.err"
	local good
	good=$(IFS=,; echo "${hosts[*]}")
	$PY "$TOOLS/async_check.py" --log "$ALOG" --skip "$n0" --out "$WORK/$tag.json" --body "$BODY" --good "$good" \
		"${fargs[@]}" >"$WORK/$tag.facts"
	sed "s/^/# $tag: /" "$WORK/$tag.facts"
	local total=$((n + $(wc -w <<<"$fails")))
	check "$label: all $n connections by name fetched the page" [ "$(fact "$tag" good_ok)" = "$n" ]
	check "$label: every CONNECT by hostname (ATYP 3), one per name" [ "$(fact "$tag" by_name)" = yes ]
	check "$label: greeting, auth and CONNECT in one flight, on every connection" [ "$(fact "$tag" pipelined)" = "$total" ]
	check "$label: the proxy had all $total CONNECT requests before it sent its first reply (got $(fact "$tag" before_first_reply))" \
		[ "$(fact "$tag" before_first_reply)" = "$total" ]
	check "$label: the event loop ran while the connections waited (ticks between the first request and the first reply: $(fact "$tag" ticks_waiting))" \
		[ "$(fact "$tag" ticks_waiting)" -gt 0 ]
	for h in $fails; do
		check "$label: ${CODE_OF[$h]} reaches the program as ${ERRNO_OF[$h]/any/an error} on that connection alone (got $(fact "$tag" fail_got "$h"))" \
			[ "$(fact "$tag" fail_ok "$h")" = yes ]
		local why=
		[[ -n ${REASON_OF[$h]} ]] && why=", naming Tor's reason (${REASON_OF[$h]})"
		check "$label: one log line of torwrap's for $h$why" \
			one_reason_line "$tag" "$h" "${REASON_OF[$h]}"
	done
	if [[ $peers == 1 ]]; then
		check "$label: getpeername names the destination asked for, not the proxy" [ "$(fact "$tag" peers_ok)" = "$n" ]
	fi
}

# proxy_down LABEL TAG HOW CMD...: four names with the proxy's port dead: every connection fails, and no connect
# goes to the destination's port (strace -f of every process).
proxy_down() {
	local label=$1 tag=$2 how=$3
	shift 3
	local hosts=() i hits0
	for ((i = 1; i <= 4; i++)); do hosts+=("$(printf 'd%02d.%s.async.example.test' "$i" "$tag")"); done
	hits0=$(http_hits)
	TOR_PROXY_SOCKS_PORT=$DEAD strace_net "$WORK/st.$tag" "$how" "$@" "$HPORT" "${hosts[@]}" \
		>"$WORK/$tag.json" 2>"$WORK/$tag.err"
	local failed
	failed=$($PY -c 'import json, sys; print(sum(1 for r in json.load(open(sys.argv[1]))["results"] if not r["ok"]))' \
		"$WORK/$tag.json" 2>/dev/null)
	check "$label, proxy down: every connection fails (${failed:-no report})" [ "${failed:-0}" = 4 ]
	check "$label, proxy down: no connect to the destination's port" bash -c "! grep -q 'htons($HPORT)' '$WORK/st.$tag'"
	check "$label, proxy down: the destination never saw a request" [ "$(http_hits)" -eq "$hits0" ]
}

# ------------------------------------------------------------------------------------------- python asyncio
PYPROG=("$PY" "$TW_TOP/tests/programs/asyncget.py")
async_run "python asyncio (torwrap)" py-tw tw 1 "$R05 $U04" "${PYPROG[@]}"
async_run "python asyncio (LD_PRELOAD)" py-pre preload 1 "$R05 $U04" "${PYPROG[@]}"
proxy_down "python asyncio (torwrap)" py-down tw "${PYPROG[@]}"

# -------------------------------------------------------------------------------------- node: net and fetch
if command -v node >/dev/null; then
	JS=(node "$TW_TOP/tests/programs/asyncget.js")
	async_run "node net.connect (torwrap)" net-tw tw 1 "$R05 $U04" "${JS[@]}" net
	async_run "node net.connect (LD_PRELOAD)" net-pre preload 1 "$R05 $U04" "${JS[@]}" net
	async_run "node fetch (torwrap)" fetch-tw tw 0 "$R05 $U04" "${JS[@]}" fetch
	async_run "node fetch (LD_PRELOAD)" fetch-pre preload 0 "$R05 $U04" "${JS[@]}" fetch
	proxy_down "node net.connect (LD_PRELOAD)" net-down preload "${JS[@]}" net
	proxy_down "node fetch (torwrap)" fetch-down tw "${JS[@]}" fetch
else
	skip "node net.connect and fetch: node is not installed (package nodejs)"
fi

# ----------------------------------------------------------------------------------------------- java nio
missing=()
for t in java javac; do command -v "$t" >/dev/null || missing+=("$t"); done
if [[ ${#missing[@]} -gt 0 ]]; then
	skip "java nio: ${missing[*]} not installed (package default-jdk-headless)"
elif ! javac -d "$WORK/java" "$TW_TOP/tests/programs/AsyncGet.java" 2>"$WORK/javac.err"; then
	cat "$WORK/javac.err" >&2
	notok "javac compiles tests/programs/AsyncGet.java"
else
	unset JAVA_TOOL_OPTIONS _JAVA_OPTIONS JDK_JAVA_OPTIONS CLASSPATH
	JAVA=(java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -cp "$WORK/java" AsyncGet)
	async_run "java nio selector (torwrap)" java-tw tw 0 "$R05 $U04" "${JAVA[@]}"
	async_run "java nio selector (LD_PRELOAD)" java-pre preload 0 "$R05 $U04" "${JAVA[@]}"
	proxy_down "java nio selector (torwrap)" java-down tw "${JAVA[@]}"
fi

# ------------------------------------------------------------------------------------ C, edge-triggered epoll
CPROG=("$PROGRAMS/asyncget")
async_run "C epoll EPOLLET (torwrap)" c-tw tw 1 "$R05 $U04 $T06 $XCL" "${CPROG[@]}"
async_run "C epoll EPOLLET (LD_PRELOAD)" c-pre preload 1 "$R05 $U04 $T06 $XCL" "${CPROG[@]}"
proxy_down "C epoll EPOLLET (LD_PRELOAD)" c-down preload "${CPROG[@]}"
# Every way of reading: the SOCKS reply is never seen, the refusal arrives through each of them.
for mode in recv recvfrom recvmsg readv peek; do
	ASYNC_N=4 async_run "C epoll EPOLLET, reading with $mode (LD_PRELOAD)" "c-$mode" preload 1 "$R05" \
		"${CPROG[@]}" --read "$mode"
done

# -------------------------------------------------------------------- TORWRAP_OPTIMISTIC: blocking clients
# alog_saw ATYP HOST PORT: lib.sh's socks_saw, on the delaying proxy's log.
alog_saw() { SOCKS_LOG=$ALOG socks_saw "$@"; }
# last_rec FIELD: FIELD of the proxy's last request.
last_rec() { tail -n 1 "$ALOG" | $PY -c 'import json, sys; print(json.loads(sys.stdin.read()).get(sys.argv[1]))' "$1"; }

out=$(TORWRAP_OPTIMISTIC=on tw curl -sS --max-time 20 "http://o1.async.example.test:$HPORT/" 2>&1)
check "TORWRAP_OPTIMISTIC=on, curl (torwrap): the page came back" [ "$out" = "$BODY" ]
check "TORWRAP_OPTIMISTIC=on, curl (torwrap): through the proxy by name" alog_saw 3 o1.async.example.test "$HPORT"
check "TORWRAP_OPTIMISTIC=on, curl (torwrap): its request reached the proxy before the reply (early bytes: $(last_rec early_bytes))" \
	[ "$(last_rec early_bytes)" -gt 0 ]
out=$(TORWRAP_OPTIMISTIC=on preload "$PROGRAMS/tcpget" o2.async.example.test "$HPORT" 2>&1)
check "TORWRAP_OPTIMISTIC=on, tcpget (LD_PRELOAD): the page came back" [ "$out" = "$BODY" ]
check "TORWRAP_OPTIMISTIC=on, tcpget (LD_PRELOAD): its request reached the proxy before the reply (early bytes: $(last_rec early_bytes))" \
	[ "$(last_rec early_bytes)" -gt 0 ]
TORWRAP_OPTIMISTIC=on preload "$PROGRAMS/tcpget" "$R05" "$HPORT" >"$WORK/opt-tcpget.out" 2>"$WORK/opt-tcpget.err"
got=$(grep -vE '^torwrap\[' "$WORK/opt-tcpget.err" | head -n 1)
check "TORWRAP_OPTIMISTIC=on, tcpget (LD_PRELOAD), refused: connect() returns, the first read reports ECONNREFUSED (got: $got)" \
	grep -qE '^(read|write): ECONNREFUSED$' <<<"$got"
check "TORWRAP_OPTIMISTIC=on, tcpget (LD_PRELOAD), refused: one log line naming Tor's reason" \
	one_reason_line opt-tcpget "$R05" refused
TORWRAP_OPTIMISTIC=on tw curl -sS --max-time 20 "http://$R05:$HPORT/" >/dev/null 2>"$WORK/opt-curl.err"
rc=$?
check "TORWRAP_OPTIMISTIC=on, curl (torwrap), refused: a receive or send error (exit 56/55), not a failed connect (exit $rc)" \
	[ $rc -eq 56 -o $rc -eq 55 ]
check "TORWRAP_OPTIMISTIC=on, curl (torwrap), refused: one log line naming Tor's reason" one_reason_line opt-curl "$R05" refused
# =off: blocking sockets as before: the request waits for the reply, the refusal comes from connect().
# (tcpget: a blocking socket; curl's are non-blocking, which never wait, whatever TORWRAP_OPTIMISTIC says.)
out=$(TORWRAP_OPTIMISTIC=off tw "$PROGRAMS/tcpget" o3.async.example.test "$HPORT" 2>&1)
check "TORWRAP_OPTIMISTIC=off, tcpget (torwrap): the page came back" grep -qx "$BODY" <<<"$out"
check "TORWRAP_OPTIMISTIC=off, tcpget (torwrap): nothing sent before the proxy's reply" [ "$(last_rec early_bytes)" = 0 ]
out=$(TORWRAP_OPTIMISTIC=off preload "$PROGRAMS/tcpget" "$R05" "$HPORT" 2>&1)
check "TORWRAP_OPTIMISTIC=off, tcpget (LD_PRELOAD), refused: connect() reports ECONNREFUSED" \
	grep -qx 'connect: ECONNREFUSED' <<<"$out"

finish
