#!/usr/bin/env bash
# tor.sh: torwrap against a real Tor: a private Tor network on loopback (scripts/tor-testnet: authorities, relays,
# exits whose DNS answers api.trongrid.io, api.example.test and www.example.test with 127.0.0.1, a client, a v3
# onion service in front of the HTTP target).
# Proves: names are resolved at the exit (Tor's stream events carry the name; the exit's DNS server is asked, the
# local one never); the onion service is reached; Tor's refusals arrive as the mapped errno with a log line in
# plain words; each TORWRAP_ISOLATION setting puts streams on the circuits it promises and rotation moves new
# streams to a new circuit every interval (both read from the control port's STREAM events: the circuit id of
# each stream); the modes; `torwrap check` passes, and fails at the right step; tor-proxy stopped mid-run fails
# closed, with nothing sent anywhere else.
# The network: the one `make test` started before building (tests/with-tornet, TORWRAP_TORNET), else our own.
. "$(dirname "$0")/lib.sh"
# shellcheck source=../../scripts/tornet-lib.sh
. "$TW_TOP/scripts/tornet-lib.sh"

if ! command -v tor >/dev/null; then
	echo "tor is not installed (scripts/install-deps installs it)"
	exit 77
fi

T0=$SECONDS
section() { # section NAME: prints how long the previous section took (seen with tests/run's failure output)
	local now=$SECONDS
	[[ -n ${SECTION:-} ]] && echo "# time $SECTION: $((now - SECTION_T0)) s"
	SECTION=$1
	SECTION_T0=$now
}

# ------------------------------------------------------------------------------------------------ network
OWN_NET=0
if [[ -n ${TORWRAP_TORNET:-} && -d ${TORWRAP_TORNET} ]]; then
	PARENT=$TORWRAP_TORNET
else
	PARENT=$WORK/tornet
	OWN_NET=1
	tornet_start_bg "$PARENT"
fi
NET=$PARENT/net
TESTNET=$TW_TOP/scripts/tor-testnet
tor_cleanup() {
	[[ $OWN_NET == 1 ]] && tornet_stop "$PARENT"
	tw_cleanup
}
trap tor_cleanup EXIT

section "network"
if ! out=$(tornet_await "$PARENT" 120 2>&1); then
	notok "private Tor network ready"
	echo "$out"
	finish
fi
echo "# $out" | tr '\n' ' '
echo
ok "private Tor network ready ($((SECONDS - T0)) s waited here)"
eval "$("$TESTNET" env "$NET")"
HP=$TORNET_HTTP_PORT
MARK="torwrap testnet target"

# Streams as Tor saw them, from the control port, for the whole run.
EV=$WORK/events.log
"$TESTNET" events "$NET" 900 STREAM CIRC >"$EV" 2>"$WORK/events.err" &
TW_PIDS+=($!)
for ((i = 0; i < 50; i++)); do [[ -e $EV ]] && break; sleep 0.1; done
sleep 0.5 # AUTHENTICATE and SETEVENTS done before the first stream

ev_mark() { EV_AT=$(wc -l <"$EV"); }
# ev_circuits N: the circuits of the user streams that succeeded since the mark, in order, one word per stream
# (waits up to 5 s for N of them: control events arrive asynchronously). A word is "SUCCEEDED-ON/ALL": the
# circuit the stream succeeded on, and every circuit it was attached to (Tor retries a failed attempt on another
# circuit, and that circuit then carries the stream's isolation too). A circuit is named "circ:ID", or "set:ID"
# when it belongs to a conflux set (Tor >= 0.4.8 joins two circuits to one exit and sends a stream's cells over
# either leg; a STREAM event may name either, so the set's CONFLUX_ID, from the CIRC events, names them both).
ev_circuits() {
	local n=$1 i out
	for ((i = 0; i < 50; i++)); do
		out=$(awk -v at="$EV_AT" '
			function name(c) { return (c in set) ? set[c] : "circ:" c }
			$2 == "CIRC" && match($0, /CONFLUX_ID=[0-9A-F]+/) { set[$3] = "set:" substr($0, RSTART + 11, 8) }
			NR > at && $2 == "STREAM" && $4 == "NEW" && /PURPOSE=USER/ { user[$3] = 1 }
			NR > at && $2 == "STREAM" && user[$3] && $5 != "0" { seen[$3] = seen[$3] " " $5 }
			NR > at && $2 == "STREAM" && $4 == "SUCCEEDED" && user[$3] { sid[++k] = $3; circ[k] = $5 }
			END {
				for (j = 1; j <= k; j++) {
					m = split(seen[sid[j]], c, " "); all = ""
					for (x = 1; x <= m; x++) all = all (x > 1 ? "," : "") name(c[x])
					print name(circ[j]) "/" all
				}
			}' "$EV")
		[[ $(grep -c . <<<"$out") -ge $n ]] && break
		sleep 0.1
	done
	echo $out
}
# ev_new: the user streams' NEW lines since the mark (target and credentials as Tor received them).
ev_new() { tail -n +$((EV_AT + 1)) "$EV" | awk '$2 == "STREAM" && $4 == "NEW" && /PURPOSE=USER/'; }
# Isolation as Tor defines it: two streams are on the same circuit when one succeeded on a circuit the other was
# attached to; on different circuits when no circuit ever carried both.
attached() { tr ',' '\n' <<<"${1#*/}"; }
pair_same() { attached "$1" | grep -qxF "${2%%/*}" || attached "$2" | grep -qxF "${1%%/*}"; }
pair_differ() { ! grep -qxFf <(attached "$1") <(attached "$2"); }
all_same() { # all_same WORD...: at least two streams, all on the first one's circuit
	[[ $# -ge 2 ]] || return 1
	local x
	for x in "${@:2}"; do pair_same "$1" "$x" || return 1; done
}
all_differ() { # all_differ WORD...: at least two streams, no two sharing a circuit
	[[ $# -ge 2 ]] || return 1
	local i j
	for ((i = 1; i <= $#; i++)); do
		for ((j = i + 1; j <= $#; j++)); do pair_differ "${!i}" "${!j}" || return 1; done
	done
}
shown() { local x out=; for x; do out+="${out:+ }${x%%/*}"; done; echo "$out"; } # the circuits, for test names

# ------------------------------------------------------------------------------------------- the stack
# A container's view: tor-proxy and the internal names come from the stack's nameserver (Docker's 127.0.0.11
# here: a logging DNS server), an internal service listens on 127.0.0.2.
DPORT=$(free_port)
start_dns main "$DPORT" --record tor-proxy=127.0.0.1 --record api.example.test=127.0.0.2 ||
	{ notok "local dns server"; finish; }
DNS_LOG=$WORK/dns-main.log
start_http int 127.0.0.2 "$HP" "internal service" || { notok "internal http server"; finish; }
printf 'nameserver %s:%s\n' "$DNS_ADDR" "$DPORT" >"$WORK/resolv.conf"
printf '127.0.0.1 localhost\n' >"$WORK/hosts"
printf '# internal services\ndirect api.example.test\nrefuse blocked.example.test\n' >"$WORK/policy"
export TORWRAP_RESOLV_CONF=$WORK/resolv.conf TORWRAP_HOSTS=$WORK/hosts TORWRAP_POLICY=$WORK/policy
export TOR_PROXY_HOST=tor-proxy TOR_PROXY_SOCKS_PORT=$TORNET_SOCKS_PORT TOR_CONNECTIVITY_TIMEOUT=20
unset TORWRAP_MODE TORWRAP_ISOLATION TOR_CIRCUIT_ROTATION_INTERVAL

# fetch.py URL|epoch:N ...: one process, one connection per URL (urllib closes each), in order; "epoch:N" waits
# until 0.2 s past the next multiple of N seconds. Prints, per URL, "OK EPOCH" (EPOCH = floor(start / N) for
# the last N given, else 0) or "ERR why". A failed fetch is tried once more: these tests are about which circuit
# a stream gets, and on a loaded machine Tor now and then fails a stream (ev_circuits counts only the streams
# that succeeded, so a retry does not disturb the order).
cat >"$WORK/fetch.py" <<'PY'
import sys, time, urllib.request
n = 0
for a in sys.argv[1:]:
    if a.startswith("epoch:"):
        n = float(a[6:])
        t = time.time()
        time.sleep((int(t // n) + 1) * n - t + 0.2)
        continue
    for attempt in (1, 2):
        epoch = int(time.time() // n) if n else 0
        try:
            body = urllib.request.urlopen(a, timeout=20).read().decode()
            print(("OK %d" % epoch) if "torwrap testnet target" in body else "BODY " + body.strip()[:60], flush=True)
            break
        except Exception as e:
            print("%s %s" % ("RETRY" if attempt == 1 else "ERR", e), flush=True)
PY
fetch() { tw $PY "$WORK/fetch.py" "$@"; }
U1=http://api.trongrid.io:$HP/
U2=http://www.example.test:$HP/ # api.example.test is the internal one: direct in mode policy
# only_proxy_and_dns STRACE: every inet connect() in the trace went to tor-proxy's port or to the stack's
# nameserver (which the library asks for tor-proxy's own address).
only_proxy_and_dns() {
	! grep -E 'connect\(' "$1" | grep 'AF_INET' | grep -v "sin6\?_port=htons($TORNET_SOCKS_PORT)" |
		grep -qv "sin_port=htons($DPORT)"
}

# -------------------------------------------------------------------------------------- name at the exit
section "exit name"
ev_mark
out=$(strace_net "$WORK/st.exit" tw "$PROGRAMS/tcpget" api.trongrid.io "$HP" 2>"$WORK/err.exit")
check "exit name: page fetched through Tor" grep -qF "$MARK" <<<"$out"
check "exit name: Tor's stream names api.trongrid.io (control port)" \
	grep -qE "^650 STREAM [0-9]+ NEW 0 api\.trongrid\.io:$HP " <(ev_new)
# Tor tells where a name was resolved: a REMAP event with SOURCE=EXIT gives the exit's answer. (The exits cache
# answers for minutes, so their DNS server has heard the name at some point, not necessarily now.)
check "exit name: resolved at the exit (REMAP SOURCE=EXIT, control port)" \
	grep -qE "^650 STREAM [0-9]+ REMAP [0-9]+ 127\.0\.0\.1:$HP SOURCE=EXIT" <(tail -n +$((EV_AT + 1)) "$EV")
check "exit name: the exits' DNS server knows it" grep -q '"api.trongrid.io"' "$TORNET_DNS_LOG"
check "exit name: the local nameserver never asked" dns_not_asked "$DNS_LOG" api.trongrid.io
check "exit name: no packet to port 53" no_port53 "$WORK/st.exit"
check "exit name: connected to nothing but tor-proxy (and its nameserver)" only_proxy_and_dns "$WORK/st.exit"
out=$(tw curl -sS --max-time 20 "$U1" 2>&1)
check "exit name: curl, the same way" grep -qF "$MARK" <<<"$out"

# ----------------------------------------------------------------------------------------------- onion
section "onion"
ev_mark
out=$(tw "$PROGRAMS/tcpget" "$TORNET_ONION" 80 2>&1)
check "onion: page fetched from the onion service" grep -qF "$MARK" <<<"$out"
check "onion: Tor's stream names the .onion" grep -qF " NEW 0 $TORNET_ONION:80 " <(ev_new)

# ------------------------------------------------------------------------------------- Tor's refusals
section "errors"
# A well-formed v3 address without a descriptor (F0): the ed25519 base point as the key, with a correct
# checksum; and the same address with its checksum broken (F6).
read -r NO_ONION BAD_ONION < <($PY - <<'PY'
import base64, hashlib
key = bytes([0x58]) + bytes([0x66]) * 31  # the ed25519 base point: a valid key nobody publishes
ver = b"\x03"
csum = hashlib.sha3_256(b".onion checksum" + key + ver).digest()[:2]
good = base64.b32encode(key + csum + ver).decode().lower()
bad = base64.b32encode(key + bytes([csum[0] ^ 1, csum[1]]) + ver).decode().lower()
print(good + ".onion", bad + ".onion")
PY
)
errcase() { # errcase NAME HOST PORT ERRNO WORDS
	local name=$1 host=$2 port=$3 want=$4 words=$5 err
	err=$(tw "$PROGRAMS/tcpget" "$host" "$port" 2>&1 >/dev/null)
	check "$name: the program sees $want" grep -q "connect: $want\$" <<<"$err"
	check "$name: torwrap says \"$words\"" grep -qF "$words" <<<"$err"
}
errcase "nonexistent onion (F0)" "$NO_ONION" 80 EHOSTDOWN "onion service descriptor not found"
errcase "malformed onion (F6)" "$BAD_ONION" 80 EINVAL "invalid onion address"
errcase "name unknown at the exit (04)" nonexistent.example.test "$HP" EHOSTUNREACH "could not resolve or reach the host"
errcase "nothing listening behind the exit (01)" api.trongrid.io 1 ECONNREFUSED "general SOCKS server failure"

# ------------------------------------------------------------------------------------------- isolation
section "isolation"
# tor_control COMMAND...: commands on the client's control port (cookie authentication); prints the replies.
tor_control() {
	$PY - "$TORNET_CONTROL" "$TORNET_COOKIE" "$@" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
f = s.makefile("rb")
ok = True
for cmd in ["AUTHENTICATE " + open(sys.argv[2], "rb").read().hex()] + sys.argv[3:]:
    s.sendall(cmd.encode() + b"\r\n")
    while True:
        line = f.readline().decode(errors="replace").rstrip()
        if len(line) < 4 or line[3] == " ":
            break
    ok = ok and line.startswith("250")
    print("# " + line)
s.sendall(b"QUIT\r\n")
sys.exit(0 if ok else 1)
PY
}
# Conflux (Tor >= 0.4.8) prefers a newly linked conflux set to a circuit already in use: a token whose first
# stream got a plain circuit (no set was ready yet) can see its next stream on a fresh set. That never mixes two
# tokens on one circuit (isolation holds), but it makes "the same token, the same circuit" a race with the
# client's pool of sets. For the isolation and rotation checks the client builds plain circuits only.
check "conflux off on the client for the isolation checks" tor_control "SETCONF ConfluxEnabled=0"
export TORWRAP_ISOLATION=process
ev_mark
fetch "$U1" "$U2" >"$WORK/f.out" 2>&1
set -- $(ev_circuits 2)
check "isolation process: one process, two streams, one circuit ($(shown "$@"))" all_same "$@"
check "isolation process: credentials <torS0X>0 sent" \
	[ "$(ev_new | grep -c 'SOCKS_USERNAME="<torS0X>0" SOCKS_PASSWORD="process-')" -eq 2 ]
ev_mark
fetch "$U1" >/dev/null 2>&1
fetch "$U1" >/dev/null 2>&1
set -- $(ev_circuits 2)
check "isolation process: two processes, two circuits ($(shown "$@"))" all_differ "$@"

# The cases where only the process id tells two processes apart (the same random seed): a child made with fork()
# and no exec, and two static programs under one torwrap (one supervisor, one configuration). The parent fetches,
# forks, the child fetches, the parent fetches again: the child on a circuit of its own, the parent's two on one.
ev_mark
out=$(tw "$PROGRAMS/static_client" --fork api.trongrid.io get api.trongrid.io "$HP" 2>&1)
set -- $(ev_circuits 3)
if [[ $# -eq 3 && $(grep -o "<p>$MARK" <<<"$out" | wc -l) -eq 3 ]]; then
	check "isolation process: a fork()ed child (no exec) on a circuit of its own ($(shown "$1" "$2"))" all_differ "$1" "$2"
	check "isolation process: the parent's streams before and after the fork on one circuit ($(shown "$1" "$3"))" \
		all_same "$1" "$3"
else
	notok "isolation process: fork() without exec, three streams through Tor (circuits: $(shown "$@"))"
	sed 's/^/# fork: /' <<<"$out"
fi
if [[ $(id -u) -eq 0 ]] && unshare -m true 2>/dev/null && [[ -x $(command -v busybox) ]] &&
	! readelf -l "$(command -v busybox)" 2>/dev/null | grep -q INTERP; then
	start_trap # (static programs read resolv.conf themselves: theirs names a trap, answered by torwrap instead)
	SC=$WORK/static_client
	if gcc -std=c11 -D_GNU_SOURCE -O1 -g -pthread -static -o "$SC" "$TW_TOP/tests/programs/static_client.c" \
		2>"$WORK/gcc.err"; then
		ev_mark
		out=$(stw "$(command -v busybox)" sh -c "'$SC' get api.trongrid.io $HP && '$SC' get api.trongrid.io $HP" 2>&1)
		set -- $(ev_circuits 2)
		check "isolation process: two static programs under one torwrap, two circuits ($(shown "$@"))" \
			all_true [ "$(grep -o "<p>$MARK" <<<"$out" | wc -l)" -eq 2 ] -- all_differ "$@"
		[[ $(grep -o "<p>$MARK" <<<"$out" | wc -l) -eq 2 ]] || sed 's/^/# two static: /' <<<"$out"
	else
		notok "gcc -static builds static_client"
	fi
else
	skip "isolation process, two static programs under one torwrap: needs root (a private mount namespace) and a static busybox"
fi

export TORWRAP_ISOLATION=none
ev_mark
fetch "$U1" >/dev/null 2>&1
fetch "$U1" >/dev/null 2>&1
set -- $(ev_circuits 2)
check "isolation none: two processes, one circuit ($(shown "$@"))" all_same "$@"
check "isolation none: no credentials sent" [ "$(ev_new | grep -c SOCKS_USERNAME=)" -eq 0 ]

export TORWRAP_ISOLATION=connection
ev_mark
fetch "$U1" "$U1" >/dev/null 2>&1
set -- $(ev_circuits 2)
check "isolation connection: one process, two streams, two circuits ($(shown "$@"))" all_differ "$@"

export TORWRAP_ISOLATION=destination
ev_mark
fetch "$U1" "$U2" "$U1" >/dev/null 2>&1
set -- $(ev_circuits 3)
if [[ $# -eq 3 ]]; then
	check "isolation destination: two destinations, two circuits ($(shown "$1" "$2"))" all_differ "$1" "$2"
	check "isolation destination: the same destination again, the same circuit ($(shown "$1" "$3"))" \
		all_same "$1" "$3"
else
	notok "isolation destination: three streams through Tor (circuits: $(shown "$@"))"
fi
ev_mark
fetch "$U2" >/dev/null 2>&1
fetch "$U2" >/dev/null 2>&1
set -- $(ev_circuits 2)
check "isolation destination: two processes, one destination, one circuit ($(shown "$@"))" all_same "$@"
unset TORWRAP_ISOLATION

# -------------------------------------------------------------------------------------------- rotation
section "rotation"
# One long-lived process (isolation process): two streams in one 3 s interval, then one in the next.
ev_mark
TOR_CIRCUIT_ROTATION_INTERVAL=3 fetch epoch:3 "$U1" "$U1" epoch:3 "$U1" >"$WORK/rot.out" 2>&1
set -- $(ev_circuits 3)
mapfile -t epochs < <(awk '$1 == "OK" { print $2 }' "$WORK/rot.out")
if [[ ${#epochs[@]} -eq 3 && $# -eq 3 && ${epochs[0]} == "${epochs[1]}" && ${epochs[2]} != "${epochs[1]}" ]]; then
	check "rotation: two streams in one interval, one circuit ($(shown "$1" "$2"))" all_same "$1" "$2"
	check "rotation: a stream in the next interval, a new circuit ($(shown "$2") -> $(shown "$3"))" all_differ "$2" "$3"
	check "rotation: ... and a new isolation token" [ "$(ev_new | grep -o 'SOCKS_PASSWORD="[^"]*"' | sort -u | wc -l)" -eq 2 ]
else
	notok "rotation: three streams in the intervals planned (epochs ${epochs[*]}, circuits $(shown "$@"))"
	cat "$WORK/rot.out"
fi
ev_mark
TOR_CIRCUIT_ROTATION_INTERVAL=0 fetch "$U1" "$U1" >/dev/null 2>&1
set -- $(ev_circuits 2)
check "rotation: 0 is off ($(shown "$@"))" all_same "$@"

# ----------------------------------------------------------------------------------------------- modes
section "modes"
ev_mark
out=$(tw "$PROGRAMS/tcpget" api.example.test "$HP" 2>&1)
check "mode policy: an allowed name goes direct to the internal service" grep -q "internal service" <<<"$out"
check "mode policy: ... resolved by the stack's nameserver" dns_asked "$DNS_LOG" api.example.test
check "mode policy: ... and not through Tor" [ "$(ev_new | wc -l)" -eq 0 ]
err=$(tw "$PROGRAMS/tcpget" blocked.example.test "$HP" 2>&1 >/dev/null)
check "mode policy: a refuse rule refuses" grep -q "refused by policy" <<<"$err"

export TORWRAP_MODE=tor-only
n0=$(wc -l <"$DNS_LOG")
ev_mark
out=$(tw "$PROGRAMS/tcpget" api.example.test "$HP" 2>&1)
check "mode tor-only: the allowed name goes through Tor instead" grep -qF "$MARK" <<<"$out"
check "mode tor-only: ... Tor's stream names it" grep -qE " NEW 0 api\.example\.test:$HP " <(ev_new)
not_asked_since() { ! tail -n +$(($2 + 1)) "$1" | grep -q "\"$3\""; } # not_asked_since LOG LINE NAME
check "mode tor-only: ... the stack's nameserver not asked" not_asked_since "$DNS_LOG" "$n0" api.example.test
out=$(tw "$PROGRAMS/tcpget" 127.0.0.2 "$HP" 2>&1)
check "mode tor-only: loopback still direct" grep -q "internal service" <<<"$out"

export TORWRAP_MODE=onion-only
ev_mark
out=$(tw "$PROGRAMS/tcpget" "$TORNET_ONION" 80 2>&1)
check "mode onion-only: the onion service is reached" grep -qF "$MARK" <<<"$out"
err=$(tw "$PROGRAMS/tcpget" api.trongrid.io "$HP" 2>&1 >/dev/null)
check "mode onion-only: a clearnet name is refused, saying why" grep -qF "TORWRAP_MODE=onion-only" <<<"$err"
err=$(tw "$PROGRAMS/tcpget" 10.1.2.3 80 2>&1 >/dev/null)
check "mode onion-only: an address is refused" grep -q "connect: EPERM" <<<"$err"
check "mode onion-only: only the onion stream reached Tor" [ "$(ev_new | wc -l)" -eq 1 ]
out=$(tw "$PROGRAMS/tcpget" 127.0.0.2 "$HP" 2>&1)
check "mode onion-only: loopback still direct" grep -q "internal service" <<<"$out"
unset TORWRAP_MODE

# ----------------------------------------------------------------------------------------- torwrap check
section "check"
out=$("$TORWRAP" check --target "api.trongrid.io:$HP" 2>&1); rc=$?
check "check: healthy while the network runs (exit $rc)" [ "$rc" -eq 0 ]
check "check: tor-proxy resolved by the stack's nameserver" grep -qE "^resolve tor-proxy: 127\.0\.0\.1 \([0-9.]+ ms\)$" <<<"$out"
check "check: a line for the connect step, with its time" \
	grep -qE "^instance 127\.0\.0\.1:$TORNET_SOCKS_PORT: ok: connect [0-9.]+ ms" <<<"$out"
check "check: a line for the greeting" grep -qE "^instance .*, socks5 greeting [0-9.]+ ms" <<<"$out"
check "check: a line for the stream, with its time" grep -qE "^instance .*, stream to api\.trongrid\.io:$HP [0-9.]+ ms" <<<"$out"
out=$("$TORWRAP" check --target "$TORNET_ONION:80" 2>&1); rc=$?
check "check: the onion service as target (exit $rc)" [ "$rc" -eq 0 ]
out=$("$TORWRAP" check --target "$NO_ONION:80" 2>&1); rc=$?
check "check: nonexistent onion fails at the stream step (exit $rc)" \
	all_true [ "$rc" -eq 13 ] -- grep -q "onion service descriptor not found" <<<"$out"
out=$(TOR_PROXY_HOST=no-such-proxy "$TORWRAP" check 2>&1); rc=$?
check "check: an unknown proxy name fails at the resolve step (exit $rc)" \
	all_true [ "$rc" -eq 10 ] -- grep -q "^resolve no-such-proxy: failed" <<<"$out"
out=$("$TORWRAP" check --proxy "127.0.0.1:$HP" --timeout 1 2>&1); rc=$?
check "check: a port that is not SOCKS5 fails at the greeting step (exit $rc)" [ "$rc" -eq 12 ]

# ----------------------------------------------------------------------------------- the short soak
# make soak's run, short: two clients as a scaled tor-proxy (while the network is whole: before tor-proxy is stopped below), 20 connections for 20 s,
# one client killed and restarted every 8 s: streams complete, the errors are at most the killed clients'
# in-flight streams, and the process's descriptors do not grow.
section "soak"
"$TW_TOP/scripts/soak" --build "$TW_BUILD" --seconds 20 --concurrency 20 --phase 5 --kill-every 8 \
	>"$WORK/soak.out" 2>"$WORK/soak.err"
soak_ok() {
	$PY - "$WORK/soak.out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
soak = rows[-1]  # the soak's final line; the phases' lines come first
ok = soak["final"] and soak["completed"] > 0 and soak["errors"] <= 2 * 20 and soak["fds"] <= soak["start"]["fds"] + 2
sys.exit(0 if ok and len(rows) >= 3 and all(r["completed"] > 0 for r in rows) else print(rows) or 1)
PY
}
check "soak (short): streams through two instances while one is killed and restarted; fds steady" soak_ok
soak_ok >/dev/null 2>&1 || sed 's/^/# soak: /' "$WORK/soak.err" | tail -20
# ------------------------------------------------------------------------- tor-proxy stopped mid-run
section "fail closed"
# One process fetches through Tor, then waits while the client tor (tor-proxy) is stopped, then fetches again:
# the second fetch must fail, and nothing may go anywhere but tor-proxy's port.
cat >"$WORK/midrun.py" <<'PY'
import os, sys, time, urllib.request
url, ready, go = sys.argv[1:4]
def get():
    try:
        return "OK" if "torwrap testnet target" in urllib.request.urlopen(url, timeout=20).read().decode() else "BODY"
    except Exception as e:
        return "ERR %s" % e
print(get(), flush=True)
with open(ready, "w") as f:
    f.write("ready\n")
while not os.path.exists(go):
    time.sleep(0.05)
print(get(), flush=True)
PY
h0=$(wc -l <"$NET/http.log")
strace_net "$WORK/st.mid" tw $PY "$WORK/midrun.py" "$U1" "$WORK/mid.ready" "$WORK/mid.go" >"$WORK/mid.out" 2>"$WORK/mid.err" &
mid=$!
wait_file "$WORK/mid.ready" 300 >/dev/null 2>&1
h1=$(wc -l <"$NET/http.log")
client=$(cat "$NET/client/tor.pid" 2>/dev/null)
# Our own network's client, by its pid file (tor-testnet checks the same way that the pid is ours).
if [[ -n $client ]] && tr '\0' ' ' <"/proc/$client/cmdline" 2>/dev/null | grep -qF "$NET/client/torrc"; then
	kill "$client"
	# Gone, or a zombie its (re)parent has not reaped yet: either way its sockets are closed.
	for ((i = 0; i < 50; i++)); do
		state=$(sed 's/^.*) //' "/proc/$client/stat" 2>/dev/null | cut -d' ' -f1)
		[[ -z $state || $state == Z ]] && break
		sleep 0.1
	done
fi
touch "$WORK/mid.go"
wait "$mid"
mapfile -t res <"$WORK/mid.out"
check "fail closed: the first fetch went through Tor" [ "${res[0]:-}" = OK ]
check "fail closed: with tor-proxy stopped the next one fails" grep -q '^ERR' <<<"${res[1]:-}"
check "fail closed: torwrap says the proxy is unreachable" grep -qF "proxy tor-proxy:$TORNET_SOCKS_PORT unreachable" "$WORK/mid.err"
check "fail closed: no connection but to tor-proxy (and its nameserver)" only_proxy_and_dns "$WORK/st.mid"
check "fail closed: the HTTP target heard nothing more" [ "$(wc -l <"$NET/http.log")" -eq "$h1" ]
check "fail closed: (it had heard the first fetch)" [ "$h1" -gt "$h0" ]

out=$("$TORWRAP" check --target "api.trongrid.io:$HP" 2>&1); rc=$?
check "check: client stopped: fails at the connect step (exit $rc)" \
	all_true [ "$rc" -eq 11 ] -- grep -qE "^instance 127\.0\.0\.1:$TORNET_SOCKS_PORT: .*Connection refused" <<<"$out"
[[ $TW_FAILS -eq 0 ]] || printf '%s\n' "$out" | sed 's/^/# check: /'
section "end"
echo "# tor.sh: $((SECONDS - T0)) s in all"
finish
