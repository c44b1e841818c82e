#!/usr/bin/env bash
# multi.sh: several tor-proxy instances (issue 14): tor-proxy resolves to two addresses (compose --scale), each a
# logging SOCKS5 server on the same port. Streams spread over them, streams of one isolation token stay on one,
# a stopped instance's streams fail over to the other, all stopped fails closed with nothing sent elsewhere, and
# an instance that comes back at a new address is used by a program already running. Under LD_PRELOAD (blocking
# and non-blocking connects) and under the wrapper with a static program (in the trap's namespace, as static.sh).
. "$(dirname "$0")/lib.sh"

start_world

# The scaled tor-proxy: 127.0.0.3 and 127.0.0.4 on one port, named by a nameserver of its own; 127.0.0.5 is
# where an instance comes back after a move.
MP=$(free_port)
start_socks_at a 127.0.0.3 "$MP" --default-ip 127.0.0.1 || { notok "socks server a"; finish; }
PID_A=$SOCKS_PID
start_socks_at b 127.0.0.4 "$MP" --default-ip 127.0.0.1 || { notok "socks server b"; finish; }
PID_B=$SOCKS_PID
start_socks_at c 127.0.0.5 "$MP" --default-ip 127.0.0.1 || { notok "socks server c"; finish; }
MDNS=$(free_port)
start_dns multi "$MDNS" --record tor-proxy=127.0.0.3 --record tor-proxy=127.0.0.4 || { notok "dns server"; finish; }
printf 'nameserver %s:%s\n' "$DNS_ADDR" "$MDNS" >"$WORK/resolv.conf"
export TOR_PROXY_SOCKS_PORT=$MP
LOG_A=$WORK/socks-a.log LOG_B=$WORK/socks-b.log LOG_C=$WORK/socks-c.log
SC_DYN=$PROGRAMS/static_client

# hits LOG NAME: the requests for NAME an instance served.
hits() { grep -c "\"host\": \"$2\"" "$1"; }
# tokens LOG NAME: how many different isolation tokens NAME's requests carried there.
tokens() { grep "\"host\": \"$2\"" "$1" | $PY -c 'import json,sys; print(len({json.loads(l)["pass"] for l in sys.stdin}))'; }
both_served() { [ "$(hits "$LOG_A" "$1")" -gt 0 ] && [ "$(hits "$LOG_B" "$1")" -gt 0 ]; }
one_served() { # one_served NAME N: all N requests on one instance, none on the other
	local a b
	a=$(hits "$LOG_A" "$1") b=$(hits "$LOG_B" "$1")
	{ [ "$a" -eq "$2" ] && [ "$b" -eq 0 ]; } || { [ "$b" -eq "$2" ] && [ "$a" -eq 0 ]; }
}
fetched_all() { grep -q "^fetched $2/$2\$" <<<"$1"; }

# ---------------------------------------------------------------------------------------------------- check
out=$("$TORWRAP" check 2>&1); rc=$?
check "check: one line per instance, both ok (exit $rc)" all_true [ "$rc" -eq 0 ] -- \
	grep -qE "^instance 127\.0\.0\.3:$MP: ok: connect" <<<"$out"
check "check: the other instance's line" grep -qE "^instance 127\.0\.0\.4:$MP: ok: " <<<"$out"
check "check: tor-proxy resolves to both" grep -qE "^resolve tor-proxy: 127\.0\.0\.3, 127\.0\.0\.4 \(" <<<"$out"

# ---------------------------------------------------------------------------------------------- spread
# A token per connection: 24 connections, each placed by its own token (both instances, but for a 2^-23 chance).
out=$(TORWRAP_ISOLATION=connection preload "$SC_DYN" --count 24 get spread.example.test "$HPORT" 2>&1)
check "spread (LD_PRELOAD): every fetch went through" fetched_all "$out" 24
check "spread (LD_PRELOAD): both instances carried streams" both_served spread.example.test
out=$(TORWRAP_ISOLATION=connection preload "$SC_DYN" --nonblock --count 24 get spread-nb.example.test "$HPORT" 2>&1)
check "spread (LD_PRELOAD, non-blocking): both instances carried streams" \
	all_true fetched_all "$out" 24 -- both_served spread-nb.example.test

# ---------------------------------------------------------------------------------------------- sticky
# One process, one token (isolation process): one instance, whichever; destination isolation across processes.
out=$(preload "$SC_DYN" --count 12 get sticky.example.test "$HPORT" 2>&1)
check "sticky (LD_PRELOAD): a process's 12 streams on one instance, one token" \
	all_true fetched_all "$out" 12 -- one_served sticky.example.test 12 -- [ "$(tokens "$LOG_A" sticky.example.test)$(tokens "$LOG_B" sticky.example.test)" != 11 ]
for i in 1 2 3 4 5 6 7 8; do
	TORWRAP_ISOLATION=destination preload "$PROGRAMS/tcpget" dest.example.test "$HPORT" >/dev/null 2>&1
done
check "sticky (LD_PRELOAD): 8 processes, one destination token: one instance" one_served dest.example.test 8

# --------------------------------------------------------------------------------------------- failover
# a (127.0.0.3) is the nameserver's first answer: the one a program that ignores the others would use.
kill "$PID_A"
wait "$PID_A" 2>/dev/null
out=$(TORWRAP_ISOLATION=connection preload "$SC_DYN" --count 16 get failover.example.test "$HPORT" 2>&1)
check "failover (LD_PRELOAD, blocking): instance a stopped, all 16 fetches through b" \
	all_true fetched_all "$out" 16 -- [ "$(hits "$LOG_B" failover.example.test)" -eq 16 ]
out=$(TORWRAP_ISOLATION=connection preload "$SC_DYN" --nonblock --count 16 get failover-nb.example.test "$HPORT" 2>&1)
check "failover (LD_PRELOAD, non-blocking): all 16 fetches through b" \
	all_true fetched_all "$out" 16 -- [ "$(hits "$LOG_B" failover-nb.example.test)" -eq 16 ]
out=$(TORWRAP_ISOLATION=connection TORWRAP_OPTIMISTIC=on preload "$SC_DYN" --count 16 get failover-opt.example.test "$HPORT" 2>&1)
check "failover (LD_PRELOAD, TORWRAP_OPTIMISTIC): all 16 fetches through b" \
	all_true fetched_all "$out" 16 -- [ "$(hits "$LOG_B" failover-opt.example.test)" -eq 16 ]
out=$("$TORWRAP" check 2>&1); rc=$?
check "check: one instance down: healthy (exit $rc), the down one named" all_true [ "$rc" -eq 0 ] -- \
	grep -qE "^instance 127\.0\.0\.3:$MP: failed at connect: Connection refused \(ECONNREFUSED\)" <<<"$out"
out=$("$TORWRAP" check --all 2>&1); rc=$?
check "check --all: one instance down: unhealthy at the connect step (exit $rc)" [ "$rc" -eq 11 ]

# --------------------------------------------------------------------------------------------- all down
kill "$PID_B"
wait "$PID_B" 2>/dev/null
h0=$(http_hits)
strace_net "$WORK/st.down" preload "$PROGRAMS/tcpget" down.example.test "$HPORT" >/dev/null 2>"$WORK/down.err"
rc=$?
check "all down (LD_PRELOAD): the connect fails (exit $rc)" all_true [ "$rc" -eq 2 ] -- grep -q "connect: ECONNREFUSED" "$WORK/down.err"
check "all down (LD_PRELOAD): one line naming every instance" \
	all_true [ "$(grep -c 'every instance refused' "$WORK/down.err")" -eq 1 ] -- \
	grep -qF "127.0.0.3:$MP ECONNREFUSED" "$WORK/down.err" -- grep -qF "127.0.0.4:$MP ECONNREFUSED" "$WORK/down.err"
only_proxies() { ! grep -E '^[0-9]+ +connect\(.*AF_INET' "$1" | grep -vE "htons\(($MP|$MDNS)\)" | grep -q .; }
check "all down (LD_PRELOAD): nothing but the instances and the nameserver was contacted" only_proxies "$WORK/st.down"
check "all down (LD_PRELOAD): the destination heard nothing" [ "$(http_hits)" -eq "$h0" ]
out=$("$TORWRAP" check 2>&1); rc=$?
check "check: all down: unhealthy at the connect step (exit $rc)" [ "$rc" -eq 11 ]

# ------------------------------------------------------------------------------------------------ moved
# A program already running fetches (through c, the one instance tor-proxy names), then tor-proxy moves to
# 127.0.0.3 (a again): its next fetch must go there, whatever the wait in between.
start_socks_at a 127.0.0.3 "$MP" --default-ip 127.0.0.1 || notok "socks server a, again"
PID_A=$SOCKS_PID
moved() { # moved KIND NAME CMD...: CMD fetches twice (--again-after); tor-proxy moves from c to a in between
	local kind=$1 name=$2
	shift 2
	kill "$DNS_PID"
	wait "$DNS_PID" 2>/dev/null
	start_dns multi "$MDNS" --record tor-proxy=127.0.0.5 || notok "dns server at c"
	rm -f "$WORK/go" "$WORK/go.ready"
	"$@" --again-after "$WORK/go" get "$name" "$HPORT" >"$WORK/moved.out" 2>&1 &
	local pid=$!
	wait_file "$WORK/go.ready" 300 >/dev/null 2>&1
	kill "$DNS_PID"
	wait "$DNS_PID" 2>/dev/null
	start_dns multi "$MDNS" --record tor-proxy=127.0.0.3 || notok "dns server at a"
	touch "$WORK/go"
	wait "$pid"
	check "moved ($kind): the first fetch through c" [ "$(hits "$LOG_C" "$name")" -eq 1 ]
	check "moved ($kind): the running program's next fetch through a, where tor-proxy went" \
		all_true [ "$(hits "$LOG_A" "$name")" -eq 1 ] -- [ "$(grep -c 'hello from the internet' "$WORK/moved.out")" -eq 2 ]
}
moved "LD_PRELOAD" moved.example.test preload "$SC_DYN"

# -------------------------------------------------------------------------- under the wrapper, static
if [[ $(id -u) -ne 0 ]] || ! unshare -m true 2>/dev/null; then
	skip "multi: the wrapper with a static program: needs root (a private mount namespace, the trap on port 53)"
	finish
fi
start_trap
SC=$WORK/static_client
gcc -std=c11 -D_GNU_SOURCE -O1 -g -pthread -static -o "$SC" "$TW_TOP/tests/programs/static_client.c" 2>"$WORK/gcc.err" ||
	{ notok "gcc -static builds static_client"; finish; }
TRAP0=$(wc -l <"$TRAP_LOG")
start_socks_at b 127.0.0.4 "$MP" --default-ip 127.0.0.1 || notok "socks server b, again"
PID_B=$SOCKS_PID
kill "$DNS_PID"
wait "$DNS_PID" 2>/dev/null
start_dns multi "$MDNS" --record tor-proxy=127.0.0.3 --record tor-proxy=127.0.0.4 || notok "dns server a+b"
out=$(TORWRAP_ISOLATION=connection stw "$SC" --count 24 get static-spread.example.test "$HPORT" 2>&1)
check "spread (wrapper, static): both instances carried streams" \
	all_true fetched_all "$out" 24 -- both_served static-spread.example.test
out=$(stw "$SC" --count 12 get static-sticky.example.test "$HPORT" 2>&1)
check "sticky (wrapper, static): a process's 12 streams on one instance" \
	all_true fetched_all "$out" 12 -- one_served static-sticky.example.test 12
kill "$PID_A"
wait "$PID_A" 2>/dev/null
out=$(TORWRAP_ISOLATION=connection stw "$SC" --count 16 get static-failover.example.test "$HPORT" 2>&1)
check "failover (wrapper, static): a stopped, all 16 fetches through b" \
	all_true fetched_all "$out" 16 -- [ "$(hits "$LOG_B" static-failover.example.test)" -eq 16 ]
kill "$PID_B"
wait "$PID_B" 2>/dev/null
h0=$(http_hits)
out=$(stw "$SC" get static-down.example.test "$HPORT" 2>&1); rc=$?
check "all down (wrapper, static): the fetch fails, one line naming every instance" \
	all_true [ "$rc" -ne 0 ] -- [ "$(grep -c 'every instance refused' <<<"$out")" -eq 1 ]
check "all down (wrapper, static): the destination heard nothing" [ "$(http_hits)" -eq "$h0" ]
check "the trap nameserver heard nothing" trap_quiet
start_socks_at a 127.0.0.3 "$MP" --default-ip 127.0.0.1 || notok "socks server a, once more"
moved "wrapper, static" static-moved.example.test stw "$SC"
finish
