#!/usr/bin/env bash
# stuck.sh: every wait for Tor is bounded by TOR_CONNECTIVITY_TIMEOUT (issue 30, item 4; issue 31, item 2).
#
# tor-proxy stuck three ways (tests/tools/socks5_server.py): it accepts and never answers (--black-hole), it
# answers the greeting and the credentials, sends 3 bytes of the CONNECT reply (05 00 00) and goes silent
# (--truncate 3), or it never lets the TCP connection complete (--never-accept: its backlog is full, SYNs are
# dropped). Blocking and non-blocking clients, under LD_PRELOAD and under the wrapper, and a static program under
# the supervisor where this suite can seal its runs (root):
#   - curl (non-blocking, poll): fails with "Connection timed out";
#   - nc (non-blocking, poll with no timeout of its own, its input closed): ends by itself, having received nothing;
#   - python asyncio and C with edge-triggered epoll (asyncget): the connection fails with ETIMEDOUT;
#   - a probe that only waits in poll() for its socket to turn readable (it never writes), then makes every call:
#     the wake-up comes, and recv, getsockopt(SO_ERROR), connect again and send each report ETIMEDOUT;
#   - a blocking connect, the whole SOCKS exchange inside connect() (tcpget; the supervisor's static client):
#     connect: ETIMEDOUT (the engine's route_proxy_connect);
#   - a non-blocking connect then blocking reads (tcpget --nonblock), and TORWRAP_OPTIMISTIC=on: a blocking socket
#     whose connect() returns before Tor's reply, read by a blocking read (tcpget) or after select() (python);
# each with exactly one log line of torwrap's that names the timeout (TOR_CONNECTIVITY_TIMEOUT) and, for a proxy
# that accepted, says it was Tor's reply that never came; the request reached the proxy (its log), and nothing
# went anywhere else (strace). And the other side of it: a reply that came in time stands, however late the
# program reads it (a program that sends its request and reads only once the deadline has passed gets its page).
#
# Judged as properties: the client fails with the timeout's error and the log line says so. How long anything took
# is never judged: a guard (GUARD seconds, many times TOR_CONNECTIVITY_TIMEOUT) only stops a client that hangs, and
# a client the guard had to stop fails its check ("ended by itself"). Loopback only; root only for the static row.
. "$(dirname "$0")/lib.sh"

start_world

export TOR_CONNECTIVITY_TIMEOUT=2
GUARD=${TW_STUCK_GUARD:-45}
SILENT=$(free_port)
start_socks silent "$SILENT" --black-hole || { notok "socks server --black-hole"; finish; }
TRUNC=$(free_port)
start_socks truncated "$TRUNC" --truncate 3 || { notok "socks server --truncate 3"; finish; }
NEVER=$(free_port)
start_socks never "$NEVER" --never-accept || { notok "socks server --never-accept"; finish; }

# torwrap_lines ERR: torwrap's own log lines (not the program's).
torwrap_lines() { grep -E '^torwrap\[[0-9]+\]: ' "$1"; }
# one_timeout_line ERR HOST KIND: exactly one line of torwrap's about HOST, naming the timeout: KIND reply (the
# proxy accepted, Tor's reply never came, in full) or accept (the proxy never accepted the connection).
one_timeout_line() {
	local lines
	lines=$(torwrap_lines "$1" | grep -F "$2")
	[ "$(grep -c . <<<"$lines")" -eq 1 ] || { echo "# torwrap's lines about $2: ${lines:-none}"; return 1; }
	grep -q '(ETIMEDOUT)' <<<"$lines" && grep -q 'TOR_CONNECTIVITY_TIMEOUT' <<<"$lines" || return 1
	case $3 in
	reply) grep -q "timed out after 2 s waiting for Tor's reply" <<<"$lines" ;;
	accept) grep -q 'did not accept the connection within TOR_CONNECTIVITY_TIMEOUT' <<<"$lines" ;;
	esac
}
# ended RC: the client ended by itself (the guard, timeout(1), did not have to stop it: 124).
ended() { [ "$1" -ne 124 ] && [ "$1" -lt 128 ]; }
# requested LOG HOST: the proxy logged HOST's request, once (so the wait was for Tor's reply).
requested() { [ "$(grep -c "\"host\": \"$2\"" "$1")" -eq 1 ]; }
# all_failed JSON ERRNO N: the asyncget report: N connections, each failed with ERRNO.
all_failed() {
	$PY - "$@" <<'PY'
import json, sys
path, want, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    res = json.loads(open(path).read().strip().splitlines()[-1])["results"]
except (OSError, ValueError, IndexError, KeyError) as e:
    sys.exit(print("# no report: %s" % e) or 1)
bad = [r for r in res if r.get("ok") or r.get("error") != want]
sys.exit(0 if len(res) == n and not bad else print("# got", [(r["host"], r.get("op"), r.get("error")) for r in res]) or 1)
PY
}

# The probe: a non-blocking connect, then nothing but poll() for POLLIN (it never writes, so only the library's
# watcher can send the request and time the connect out); a read that finds nothing yet (EAGAIN: a partial reply
# taken off) polls again. Then every call, each printed as "CALL ERRNO" (OK when it succeeded).
cat >"$WORK/probe.py" <<'PY'
import errno, select, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
addr = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setblocking(False)
def name(e):
    return errno.errorcode.get(e, str(e))
try:
    s.connect(addr)
except BlockingIOError:
    pass
p = select.poll()
p.register(s, select.POLLIN)
while True:
    p.poll()
    try:
        data = s.recv(1)
        print("recv", "EOF" if not data else "DATA")
        break
    except BlockingIOError:
        continue  # part of a reply: the rest (or the timeout) is a new event
    except OSError as e:
        print("recv", name(e.errno))
        break
print("so_error", name(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)) if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) else "OK")
for call, f in (("connect", lambda: s.connect(addr)), ("send", lambda: s.send(b"x"))):
    try:
        f()
        print(call, "OK")
    except OSError as e:
        print(call, name(e.errno))
PY
# A blocking socket under TORWRAP_OPTIMISTIC=on whose owner waits in select() before reading: only the watcher
# can wake it. Prints "recv ERRNO".
cat >"$WORK/optselect.py" <<'PY'
import errno, select, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % sys.argv[1].encode())
select.select([s], [], [])
try:
    print("recv", "DATA" if s.recv(65536) else "EOF")
except OSError as e:
    print("recv", errno.errorcode.get(e.errno, str(e.errno)))
PY

# A program that reads late: connect (non-blocking; or blocking under TORWRAP_OPTIMISTIC), send the request, sleep
# past the deadline (TOR_CONNECTIVITY_TIMEOUT=1, 3 s), then read. Prints "body BODY" or "recv ERROR".
cat >"$WORK/late.py" <<'PY'
import select, socket, sys, time
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
addr = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
if mode == "nonblock":
    s.setblocking(False)
    try:
        s.connect(addr)
    except BlockingIOError:
        pass
    select.select([], [s], [])
    s.setblocking(True)
else:
    s.connect(addr)
s.sendall(b"GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % host.encode())
time.sleep(3)
data = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    print("body", data.split(b"\r\n\r\n", 1)[-1].decode().strip())
except OSError as e:
    print("recv", e)
PY
for how in preload tw; do
	for mode in nonblock optimistic; do
		h=late-$mode-$how.stuck.test
		out=$(TOR_CONNECTIVITY_TIMEOUT=1 TORWRAP_OPTIMISTIC=$([[ $mode == optimistic ]] && echo on || echo off) \
			"$how" timeout "$GUARD" "$PY" "$WORK/late.py" "$h" "$HPORT" "$mode" 2>"$WORK/late-$mode-$how.err")
		check "a reply in time, read after the deadline ($how, $mode): the page, no timeout ($out)" \
			all_true grep -qx "body hello from the internet" <<<"$out" -- \
			bash -c "! grep -q ETIMEDOUT '$WORK/late-$mode-$how.err'"
	done
done

# ------------------------------------------------------------------------- Tor's reply never comes, in full
for mode in silent truncated; do
	case $mode in
	silent) port=$SILENT what="a proxy that never answers" ;;
	truncated) port=$TRUNC what="a proxy that sends 3 bytes of its reply, then nothing" ;;
	esac
	LOG=$WORK/socks-$mode.log
	export TOR_PROXY_SOCKS_PORT=$port

	h=curl-tw.$mode.stuck.test
	strace_net "$WORK/st.curl-$mode" tw timeout "$GUARD" curl -sS "http://$h:$HPORT/" >/dev/null 2>"$WORK/curl-tw-$mode.err"
	rc=$?
	check "$what: curl (torwrap) ended by itself, failed (exit $rc)" all_true ended "$rc" -- [ "$rc" -ne 0 ]
	check "$what: curl (torwrap) says the connection timed out" grep -q 'Connection timed out' "$WORK/curl-tw-$mode.err"
	check "$what: curl (torwrap): one log line naming the timeout" one_timeout_line "$WORK/curl-tw-$mode.err" "$h" reply
	check "$what: curl (torwrap): the request reached the proxy" requested "$LOG" "$h"
	check "$what: curl (torwrap): nothing connected to the destination (strace)" \
		bash -c "! grep -q 'htons($HPORT)' '$WORK/st.curl-$mode'"
	h=curl-pre.$mode.stuck.test
	preload timeout "$GUARD" curl -sS "http://$h:$HPORT/" >/dev/null 2>"$WORK/curl-pre-$mode.err"
	rc=$?
	check "$what: curl (LD_PRELOAD) ended by itself, failed, saying the connection timed out (exit $rc)" \
		all_true ended "$rc" -- [ "$rc" -ne 0 ] -- grep -q 'Connection timed out' "$WORK/curl-pre-$mode.err"
	check "$what: curl (LD_PRELOAD): one log line naming the timeout" one_timeout_line "$WORK/curl-pre-$mode.err" "$h" reply

	h=nc.$mode.stuck.test
	printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$h" | tw timeout "$GUARD" nc "$h" "$HPORT" >"$WORK/nc-$mode.out" 2>"$WORK/nc-$mode.err"
	rc=$?
	check "$what: nc (torwrap, no -w) ended by itself (exit $rc), having received nothing" \
		all_true ended "$rc" -- [ ! -s "$WORK/nc-$mode.out" ]
	check "$what: nc (torwrap): one log line naming the timeout" one_timeout_line "$WORK/nc-$mode.err" "$h" reply

	hosts=("a1.py.$mode.stuck.test" "a2.py.$mode.stuck.test")
	tw timeout "$GUARD" "$PY" "$TW_TOP/tests/programs/asyncget.py" --limit-s "$GUARD" "$HPORT" "${hosts[@]}" \
		>"$WORK/py-$mode.json" 2>"$WORK/py-$mode.err"
	check "$what: python asyncio (torwrap): both connections fail with ETIMEDOUT" all_failed "$WORK/py-$mode.json" ETIMEDOUT 2
	check "$what: python asyncio (torwrap): one log line each, naming the timeout" \
		all_true one_timeout_line "$WORK/py-$mode.err" "${hosts[0]}" reply -- one_timeout_line "$WORK/py-$mode.err" "${hosts[1]}" reply
	hosts=("b1.py.$mode.stuck.test" "b2.py.$mode.stuck.test")
	preload timeout "$GUARD" "$PY" "$TW_TOP/tests/programs/asyncget.py" --limit-s "$GUARD" "$HPORT" "${hosts[@]}" \
		>"$WORK/pyp-$mode.json" 2>"$WORK/pyp-$mode.err"
	check "$what: python asyncio (LD_PRELOAD): both connections fail with ETIMEDOUT, one log line each" \
		all_true all_failed "$WORK/pyp-$mode.json" ETIMEDOUT 2 -- one_timeout_line "$WORK/pyp-$mode.err" "${hosts[0]}" reply -- \
		one_timeout_line "$WORK/pyp-$mode.err" "${hosts[1]}" reply

	hosts=("c1.epoll.$mode.stuck.test" "c2.epoll.$mode.stuck.test" "c3.epoll.$mode.stuck.test")
	preload timeout "$GUARD" "$PROGRAMS/asyncget" --limit-s "$GUARD" "$HPORT" "${hosts[@]}" \
		>"$WORK/c-$mode.json" 2>"$WORK/c-$mode.err"
	check "$what: C epoll EPOLLET (LD_PRELOAD): every connection fails with ETIMEDOUT" all_failed "$WORK/c-$mode.json" ETIMEDOUT 3
	check "$what: C epoll EPOLLET (LD_PRELOAD): one log line each, naming the timeout" \
		all_true one_timeout_line "$WORK/c-$mode.err" "${hosts[0]}" reply -- one_timeout_line "$WORK/c-$mode.err" "${hosts[1]}" reply -- \
		one_timeout_line "$WORK/c-$mode.err" "${hosts[2]}" reply

	h=probe.$mode.stuck.test
	out=$(preload timeout "$GUARD" "$PY" "$WORK/probe.py" "$h" "$HPORT" 2>"$WORK/probe-$mode.err")
	rc=$?
	check "$what: a program that only waits in poll() is woken (exit $rc)" all_true ended "$rc" -- grep -q '^recv ' <<<"$out"
	for call in recv so_error connect send; do
		check "$what: after the wake-up, $call reports ETIMEDOUT ($(grep "^$call " <<<"$out"))" grep -qx "$call ETIMEDOUT" <<<"$out"
	done
	check "$what: the poll()ing program: one log line naming the timeout" one_timeout_line "$WORK/probe-$mode.err" "$h" reply

	for how in tw preload; do
		h=block-$how.$mode.stuck.test
		"$how" timeout "$GUARD" "$PROGRAMS/tcpget" "$h" "$HPORT" >/dev/null 2>"$WORK/block-$how-$mode.err"
		rc=$?
		check "$what: a blocking connect ($how) ended by itself: connect: ETIMEDOUT (exit $rc)" \
			all_true ended "$rc" -- grep -qx 'connect: ETIMEDOUT' "$WORK/block-$how-$mode.err"
		check "$what: a blocking connect ($how): one log line naming the timeout" \
			one_timeout_line "$WORK/block-$how-$mode.err" "$h" reply
	done
	h=nonblock.$mode.stuck.test
	preload timeout "$GUARD" "$PROGRAMS/tcpget" --nonblock "$h" "$HPORT" >/dev/null 2>"$WORK/nonblock-$mode.err"
	rc=$?
	check "$what: non-blocking connect, then a blocking read (LD_PRELOAD): read: ETIMEDOUT (exit $rc)" \
		all_true ended "$rc" -- grep -qx 'read: ETIMEDOUT' "$WORK/nonblock-$mode.err" -- \
		one_timeout_line "$WORK/nonblock-$mode.err" "$h" reply
	h=opt.$mode.stuck.test
	TORWRAP_OPTIMISTIC=on preload timeout "$GUARD" "$PROGRAMS/tcpget" "$h" "$HPORT" >/dev/null 2>"$WORK/opt-$mode.err"
	rc=$?
	check "$what: TORWRAP_OPTIMISTIC=on, a blocking read (LD_PRELOAD): read: ETIMEDOUT (exit $rc)" \
		all_true ended "$rc" -- grep -qx 'read: ETIMEDOUT' "$WORK/opt-$mode.err" -- one_timeout_line "$WORK/opt-$mode.err" "$h" reply
	h=optselect.$mode.stuck.test
	out=$(TORWRAP_OPTIMISTIC=on tw timeout "$GUARD" "$PY" "$WORK/optselect.py" "$h" "$HPORT" 2>"$WORK/optselect-$mode.err")
	rc=$?
	check "$what: TORWRAP_OPTIMISTIC=on, select() before reading (torwrap): woken, recv ETIMEDOUT (exit $rc)" \
		all_true ended "$rc" -- grep -qx 'recv ETIMEDOUT' <<<"$out" -- one_timeout_line "$WORK/optselect-$mode.err" "$h" reply
done

# ------------------------------------------------------------------ the proxy's TCP connection never completes
export TOR_PROXY_SOCKS_PORT=$NEVER
what="a proxy that never accepts the connection"
h=curl.never.stuck.test
tw timeout "$GUARD" curl -sS "http://$h:$HPORT/" >/dev/null 2>"$WORK/curl-never.err"
rc=$?
# (curl's own words: exit 28, "operation timed out", when its connect fails with ETIMEDOUT)
check "$what: curl (torwrap) ended by itself, failed with its timeout error (exit $rc)" \
	all_true ended "$rc" -- [ "$rc" -eq 28 ]
check "$what: curl (torwrap): one log line naming the timeout" one_timeout_line "$WORK/curl-never.err" "$h" accept
hosts=("c1.epoll.never.stuck.test" "c2.epoll.never.stuck.test")
preload timeout "$GUARD" "$PROGRAMS/asyncget" --limit-s "$GUARD" "$HPORT" "${hosts[@]}" >"$WORK/c-never.json" 2>"$WORK/c-never.err"
check "$what: C epoll EPOLLET (LD_PRELOAD): every connection fails with ETIMEDOUT, one log line each" \
	all_true all_failed "$WORK/c-never.json" ETIMEDOUT 2 -- one_timeout_line "$WORK/c-never.err" "${hosts[0]}" accept -- \
	one_timeout_line "$WORK/c-never.err" "${hosts[1]}" accept
h=probe.never.stuck.test
out=$(preload timeout "$GUARD" "$PY" "$WORK/probe.py" "$h" "$HPORT" 2>"$WORK/probe-never.err")
rc=$?
check "$what: a program that only waits in poll() is woken; its calls report ETIMEDOUT (exit $rc)" \
	all_true ended "$rc" -- [ "$(grep -c ' ETIMEDOUT$' <<<"$out")" -eq 4 ] -- one_timeout_line "$WORK/probe-never.err" "$h" accept
[[ $(grep -c ' ETIMEDOUT$' <<<"$out") -eq 4 ]] || sed 's/^/# probe: /' <<<"$out"
h=block.never.stuck.test
preload timeout "$GUARD" "$PROGRAMS/tcpget" "$h" "$HPORT" >/dev/null 2>"$WORK/block-never.err"
rc=$?
check "$what: a blocking connect (LD_PRELOAD): connect: ETIMEDOUT, one log line naming the timeout (exit $rc)" \
	all_true ended "$rc" -- grep -qx 'connect: ETIMEDOUT' "$WORK/block-never.err" -- one_timeout_line "$WORK/block-never.err" "$h" accept

# ---------------------------------------------------------------------------- a static program, the supervisor
if [[ $(id -u) -ne 0 ]] || ! unshare -m true 2>/dev/null; then
	skip "static program under the supervisor, stuck proxy: needs root (a private mount namespace, the trap on port 53)"
	finish
fi
start_trap
TRAP0=$(wc -l <"$TRAP_LOG")
SC=$WORK/static_client
gcc -std=c11 -D_GNU_SOURCE -O1 -g -pthread -static -o "$SC" "$TW_TOP/tests/programs/static_client.c" 2>"$WORK/gcc.err" ||
	{ notok "gcc -static builds static_client"; finish; }
for mode in silent truncated never; do
	case $mode in
	silent) port=$SILENT kind=reply what="a proxy that never answers" ;;
	truncated) port=$TRUNC kind=reply what="a proxy that sends 3 bytes of its reply, then nothing" ;;
	never) port=$NEVER kind=accept what="a proxy that never accepts the connection" ;;
	esac
	h=static.$mode.stuck.test
	# (the guard outside: torwrap itself runs the static program, as its command)
	TOR_PROXY_SOCKS_PORT=$port timeout "$GUARD" unshare -m -- sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' \
		"$WORK/static-resolv.conf" env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} "$TORWRAP" "$SC" get "$h" "$HPORT" \
		>/dev/null 2>"$WORK/static-$mode.err"
	rc=$?
	check "$what: a static program (supervisor) ended by itself: connect: ETIMEDOUT (exit $rc)" \
		all_true ended "$rc" -- grep -qx 'connect: ETIMEDOUT' "$WORK/static-$mode.err"
	check "$what: a static program (supervisor): one log line naming the timeout" \
		one_timeout_line "$WORK/static-$mode.err" "$h" "$kind"
done
check "static: the trap nameserver heard nothing" trap_quiet

finish
