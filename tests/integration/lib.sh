# lib.sh: shared by the integration tests: a scratch directory, servers started and stopped by pid, helpers
# to run programs under torwrap, and "ok / not ok / skip" reporting that tests/run counts.
# shellcheck shell=bash
set -uo pipefail

TW_TOP=${TW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TW_BUILD=${TW_BUILD:-$TW_TOP/build}
TW_SANITIZE=${TW_SANITIZE:-0}
TORWRAP="$TW_BUILD/torwrap"
LIBTORWRAP="$TW_BUILD/libtorwrap.so"
TOOLS="$TW_TOP/tests/tools"
PROGRAMS="$TW_BUILD/programs"
# The test nameserver's address, of its own as Docker's 127.0.0.11 is: every port of a nameserver's address is DNS
# to torwrap, so nothing else may listen there.
DNS_ADDR=127.0.0.11
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

WORK=$(mktemp -d /tmp/torwrap-test.XXXXXX)
TW_PIDS=()
TW_FAILS=0

tw_cleanup() {
	local p
	for p in "${TW_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${TW_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	if [[ ${TW_KEEP:-0} == 1 ]]; then
		echo "# kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap tw_cleanup EXIT
trap 'exit 130' INT TERM

ok() { echo "ok $*"; }
notok() {
	echo "not ok $*"
	TW_FAILS=$((TW_FAILS + 1))
}
skip() { echo "skip $*"; }
# check NAME COMMAND...: ok when COMMAND succeeds.
# In the sanitizer run, the checks right after a blocked command (san_blocked) are about it and are skipped:
# those that share the first one's group (the name up to its first ':'). The first check of another group ends
# the block, so a check that is not about the blocked program always runs.
check() {
	local name=$1 group=${1%%:*}
	shift
	if [[ -e $WORK/san-blocked ]]; then
		[[ -e $WORK/san-blocked.group ]] || echo "$group" >"$WORK/san-blocked.group"
		if [[ $(cat "$WORK/san-blocked.group") == "$group" ]]; then
			skip "$name: $(cat "$WORK/san-blocked") hangs under a preloaded ASan runtime, even without torwrap"
			return
		fi
		san_reset
	fi
	if "$@"; then ok "$name"; else notok "$name"; fi
}
# Every program run through tw/preload/strace_net starts a new check: forget the previous one's block.
san_reset() { rm -f "$WORK/san-blocked" "$WORK/san-blocked.group"; }
# In the sanitizer run, curl and wget cannot run at all (they hang in setlocale with libasan preloaded, with
# or without torwrap): the checks that use them are reported as skipped, by name.
san_blocked() {
	[[ $TW_SANITIZE == 1 ]] || return 1
	local w
	for w in "$@"; do
		case "$(basename -- "$w")" in
		curl | wget) echo "$(basename -- "$w")" >"$WORK/san-blocked"; return 0 ;;
		esac
	done
	return 1
}
finish() { [[ $TW_FAILS -eq 0 ]]; exit $?; }
# all_true CMD1... -- CMD2... [-- CMD3...]: every command succeeds (one check of an exit status and an output).
all_true() {
	local a=()
	while [[ $# -gt 0 && $1 != -- ]]; do a+=("$1"); shift; done
	[[ $# -gt 0 ]] && shift
	"${a[@]}" || return 1
	[[ $# -eq 0 ]] || all_true "$@"
}

# Environment for programs: no proxy variables of the machine's may steer curl & co behind our back.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy NO_PROXY no_proxy
unset TOR_PROXY_URL SOCKS5_PROXY TOR_PROXY_HOST TOR_PROXY_SOCKS_PORT TORWRAP_PROXY TORWRAP_POLICY LD_PRELOAD

if [[ ${TW_TSAN:-0} == 1 ]]; then
	# tests/tsan.sh: the ThreadSanitizer build; its runtime goes first into every process, as libasan does.
	SAN_PRELOAD=$(gcc -print-file-name=libtsan.so)
elif [[ $TW_SANITIZE == 1 ]]; then
	ASAN_RT=$(gcc -print-file-name=libasan.so)
	UBSAN_RT=$(gcc -print-file-name=libubsan.so)
	SAN_PRELOAD="$ASAN_RT:$UBSAN_RT"
else
	SAN_PRELOAD=
fi

# tw CMD...: run CMD under the torwrap wrapper.
tw() {
	san_reset
	san_blocked "$@" && return 1
	if [[ -n $SAN_PRELOAD ]]; then
		LD_PRELOAD=$SAN_PRELOAD "$TORWRAP" "$@"
	else
		"$TORWRAP" "$@"
	fi
}
# preload CMD...: run CMD with LD_PRELOAD only (the compose `environment:` way).
preload() {
	san_reset
	san_blocked "$@" && return 1
	LD_PRELOAD="$LIBTORWRAP${SAN_PRELOAD:+:$SAN_PRELOAD}" "$@"
}

free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_file() { # wait_file FILE [TENTHS]
	local i
	for ((i = 0; i < ${2:-100}; i++)); do
		[[ -s $1 ]] && return 0
		sleep 0.1
	done
	echo "# timed out waiting for $1" >&2
	return 1
}

# bg NAME COMMAND...: start a server in the background, remember its pid.
bg() {
	local name=$1
	shift
	"$@" >"$WORK/$name.out" 2>&1 &
	TW_PIDS+=($!)
}

start_http() { # start_http NAME ADDR PORT BODY
	mkdir -p "$WORK/www-$1"
	echo "$4" >"$WORK/www-$1/index.html"
	bg "http-$1" $PY -m http.server --bind "$2" --directory "$WORK/www-$1" "$3"
	local i
	for ((i = 0; i < 100; i++)); do
		curl -s --max-time 1 --noproxy '*' "http://$2:$3/" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

start_socks() { # start_socks NAME PORT [extra args]
	local name=$1 port=$2
	shift 2
	start_socks_at "$name" 127.0.0.1 "$port" "$@"
}
start_socks_at() { # start_socks_at NAME ADDR PORT [extra args]: one more instance of tor-proxy (its pid: SOCKS_PID)
	local name=$1 addr=$2 port=$3
	shift 3
	bg "socks-$name" $PY "$TOOLS/socks5_server.py" --listen "$addr:$port" --log "$WORK/socks-$name.log" \
		--ready-file "$WORK/socks-$name.ready" "$@"
	SOCKS_PID=${TW_PIDS[-1]}
	wait_file "$WORK/socks-$name.ready"
	touch "$WORK/socks-$name.log"
}

start_dns() { # start_dns NAME PORT [--record NAME=IP ...] (its pid: DNS_PID)
	local name=$1 port=$2
	shift 2
	rm -f "$WORK/dns-$name.ready"
	bg "dns-$name" $PY "$TOOLS/dns_server.py" --listen "$DNS_ADDR:$port" --log "$WORK/dns-$name.log" \
		--ready-file "$WORK/dns-$name.ready" "$@"
	DNS_PID=${TW_PIDS[-1]}
	wait_file "$WORK/dns-$name.ready"
	touch "$WORK/dns-$name.log"
}

# strace_net OUT CMD...: run CMD (which may start with our "tw" or "preload") under strace, recording every
# network system call of every process.
strace_net() {
	local out=$1
	shift
	san_reset
	san_blocked "$@" && { : >"$out"; return 1; }
	local -a cmd
	case "$1" in
	tw) shift; cmd=(env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} "$TORWRAP" "$@") ;;
	preload) shift; cmd=(env "LD_PRELOAD=$LIBTORWRAP${SAN_PRELOAD:+:$SAN_PRELOAD}" "$@") ;;
	*) cmd=("$@") ;;
	esac
	strace -f -qq -s 256 -e trace=connect,sendto,sendmsg,sendmmsg,bind -o "$out" "${cmd[@]}"
}

# The DNS leak checks: no datagram or connection to port 53 anywhere, and nothing at the test nameserver
# about NAME.
no_port53() { ! grep -qE 'htons\(53\)' "$1"; }
dns_not_asked() { ! grep -q "\"$2\"" "$1"; }
dns_asked() { grep -q "\"$2\"" "$1"; }

# start_world: the loopback stand-in for a compose stack: an "internet" web server reached only through the
# proxy (which maps every name to it), an internal service (tron-wallet-manager at 127.0.0.2), tor-proxy (a
# logging SOCKS5 server), the container's nameserver (a logging DNS server), and the files and variables that
# point torwrap at them.
start_world() {
	HPORT=$(free_port)  # "the internet": reached only through the proxy (its exit maps every name here)
	IPORT=$(free_port)  # an internal service, tron-wallet-manager at 127.0.0.2
	SPORT=$(free_port)  # tor-proxy
	DPORT=$(free_port)  # the container's nameserver (Docker's 127.0.0.11 in production)
	DEAD=$(free_port)   # nothing listens here

	start_http ext 127.0.0.1 "$HPORT" "hello from the internet" || { notok "http server"; finish; }
	start_http int 127.0.0.2 "$IPORT" "hello from tron-wallet-manager" || { notok "internal http server"; finish; }
	# 198.51.100.7 and 2001:db8::7: the non-allowed address literals the tests connect to (as the exit would);
	# the proxy reaches them on loopback, so no test ever leaves the machine.
	start_socks main "$SPORT" --default-ip 127.0.0.1 --map 198.51.100.7=127.0.0.1 --map 2001:db8::7=127.0.0.1 ||
		{ notok "socks server"; finish; }
	start_dns main "$DPORT" --record tron-wallet-manager=127.0.0.2 --record tor-proxy=127.0.0.1 \
		--record lucid-mongodb=127.0.0.2 --record api.trongrid.io=127.0.0.9 \
		--record ledger.internal.test=127.0.0.2 --forge ledger.internal.test=192.0.2.66 \
		--record wiki.corp.test=127.0.0.2 ||
		{ notok "dns server"; finish; }

	SOCKS_LOG=$WORK/socks-main.log
	DNS_LOG=$WORK/dns-main.log
	printf 'nameserver %s:%s\n' "$DNS_ADDR" "$DPORT" >"$WORK/resolv.conf"
	printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$WORK/hosts"
	cat >"$WORK/policy" <<-POLICY
	# the TRON stack's internal services
	tron-wallet-manager
	lucid-mongodb port 27017
	.internal.test
	172.20.1.91-98
	POLICY
	export TORWRAP_RESOLV_CONF=$WORK/resolv.conf TORWRAP_HOSTS=$WORK/hosts TORWRAP_POLICY=$WORK/policy
	export TOR_PROXY_HOST=tor-proxy TOR_PROXY_SOCKS_PORT=$SPORT TOR_CONNECTIVITY_TIMEOUT=5
}

socks_count() { wc -l <"$SOCKS_LOG"; }
# socks_peak LOG HOST: the largest number of HOST's SOCKS exchanges the proxy had in progress at one instant
# (each from its "accepted" to its reply, "ts"), as the proxy itself saw them: 1 means they were served one
# after another.
socks_peak() {
	$PY -c '
import json, sys
events = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("host") == sys.argv[2] and "accepted" in r:
        events += [(r["accepted"], 1), (r["ts"], -1)]
peak = cur = 0
for _, d in sorted(events, key=lambda e: (e[0], e[1])):
    cur += d
    peak = max(peak, cur)
print(peak)' "$@"
}
# socks_saw ATYP HOST PORT: the last request the proxy logged.
socks_saw() {
	tail -n 1 "$SOCKS_LOG" | $PY -c '
import json, sys
r = json.loads(sys.stdin.read())
want = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
got = (r["atyp"], r["host"], r["port"])
sys.exit(0 if got == want else print("proxy saw", got, "wanted", want) or 1)' "$@"
}


# start_trap [--record NAME=IP ...]: a nameserver that must never be asked (TRAP_ADDR:53, logging to TRAP_LOG),
# named by $WORK/static-resolv.conf, which nsrun puts in place of /etc/resolv.conf. Programs that read resolv.conf
# themselves (static ones, Go) then send their queries, if any escape, to a loopback address of ours. It answers
# trap-control.example.test and the records given (a leaked lookup of one of them then leads to a connection a
# test can see); every other name is NXDOMAIN.
start_trap() {
	local try
	TRAP_LOG=$WORK/dns-trap.log
	for ((try = 0; try < 5; try++)); do
		TRAP_ADDR=127.53.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
		$PY "$TOOLS/dns_server.py" --listen "$TRAP_ADDR:53" --log "$TRAP_LOG" --ready-file "$WORK/dns-trap.ready" \
			--record trap-control.example.test=127.0.0.1 "$@" >"$WORK/dns-trap.out" 2>&1 &
		TW_PIDS+=($!)
		wait_file "$WORK/dns-trap.ready" 20 2>/dev/null && break
	done
	[[ -s $WORK/dns-trap.ready ]] || { notok "trap nameserver on port 53"; finish; }
	touch "$TRAP_LOG"
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$TRAP_ADDR" >"$WORK/static-resolv.conf"
}
# need_sealed_runs: exits 77 (skipped) unless this suite can seal its runs: root, for the trap nameserver on
# port 53 and the private mount namespaces nsrun makes.
need_sealed_runs() {
	local me
	me=$(basename "$0")
	if [[ $(id -u) -ne 0 ]]; then
		echo "$me needs root (a private mount namespace and a trap nameserver on port 53)"
		exit 77
	fi
	if ! unshare -m true 2>/dev/null; then
		echo "$me needs unshare -m (mount namespaces)"
		exit 77
	fi
}
# nsrun CMD...: CMD in a private mount namespace whose /etc/resolv.conf names the trap (start_trap).
nsrun() {
	unshare -m -- sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$WORK/static-resolv.conf" "$@"
}
# The helpers of the tests that run programs in the trap's namespace (static.sh, bypass.sh).
HTTP_LOG=$WORK/http-ext.out # the "internet" server's log (start_world)
http_hits() { grep -c '"GET ' "$HTTP_LOG"; }
trap_quiet() { [ "$(wc -l <"$TRAP_LOG")" -eq "$TRAP0" ]; } # TRAP0: the trap's lines after the test's control
# stw [TORWRAP OPTIONS] CMD...: CMD under torwrap, in nsrun's namespace.
stw() { nsrun env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} "$TORWRAP" "$@"; }
# strace_stw OUT CMD...: the same under strace -f (the supervisor's and the program's network calls).
strace_stw() {
	local out=$1
	shift
	strace -f -qq -s 128 -e trace=connect,sendto,sendmsg,sendmmsg -o "$out" \
		unshare -m -- sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$WORK/static-resolv.conf" \
		env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} "$TORWRAP" "$@"
}
# Every connect to the destination's port ($HPORT) names a virtual address: nothing went there directly.
only_virtual_dest() {
	! grep -E "connect\(.*htons\($HPORT\)" "$1" | grep -vqE '"(::ffff:)?127\.(19[2-9]|2[0-5][0-9])\.'
}
no_datagram_to_53() { ! grep -qE '^[0-9]+ +(sendto|sendmsg|sendmmsg)\(.*htons\(53\)' "$1"; }

# ------------------------------------------------------------------------------- a network namespace of our own
# For checks whose failure would send a packet to an address outside loopback (a refused destination connected
# anyway, an address allowed by NO_PROXY): the programs run in a network namespace the test creates, with nothing
# but its loopback (up), on which the test puts the addresses it uses, so even a bug's packets never leave it.
# Needs root (need_netns says whether it can be made). The namespace lives as long as a process of ours
# (NETNS_PID, stopped with the test's other servers).
need_netns() { [[ $(id -u) -eq 0 ]] && unshare -n true 2>/dev/null && command -v nsenter >/dev/null; }
start_netns() { # start_netns ADDR...: the namespace, its loopback up, with ADDR/32 on it too
	local a i
	unshare -n -- sleep 1000000 >/dev/null 2>&1 &
	NETNS_PID=$!
	TW_PIDS+=("$NETNS_PID")
	for ((i = 0; i < 100; i++)); do
		[[ $(readlink "/proc/$NETNS_PID/ns/net" 2>/dev/null) != "$(readlink /proc/self/ns/net)" ]] && break
		sleep 0.05
	done
	nsx ip link set lo up || return 1
	for a in "$@"; do nsx ip addr add "$a/32" dev lo || return 1; done
}
# nsx CMD...: CMD in the namespace (its network only: files, processes and users are this test's).
nsx() { nsenter -t "$NETNS_PID" -n -- "$@"; }
# nsx_bg NAME CMD...: a server in the namespace, in the background (stopped with the others; its pid NSX_PID),
# its output in $WORK/NAME.out. (nsenter execs CMD: the pid is CMD's. A function in the background would be a
# subshell's, and stopping it would leave CMD running.)
nsx_bg() {
	local name=$1
	shift
	nsenter -t "$NETNS_PID" -n -- "$@" >"$WORK/$name.out" 2>&1 &
	NSX_PID=$!
	TW_PIDS+=("$NSX_PID")
}
# ns_cmd HOW CMD...: the command line that runs CMD in the namespace bare, under LD_PRELOAD (preload) or under the
# wrapper (tw), for strace to run: ns_strace OUT HOW CMD... (every process's network calls, as strace_net).
ns_cmd() {
	local how=$1
	shift
	NS_CMD=(nsenter -t "$NETNS_PID" -n --)
	case $how in
	bare) NS_CMD+=("$@") ;;
	preload) NS_CMD+=(env "LD_PRELOAD=$LIBTORWRAP${SAN_PRELOAD:+:$SAN_PRELOAD}" "$@") ;;
	tw) NS_CMD+=(env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} "$TORWRAP" "$@") ;;
	esac
}
ns_run() { ns_cmd "$@"; "${NS_CMD[@]}"; }
ns_strace() {
	local out=$1
	shift
	ns_cmd "$@"
	strace -f -qq -s 256 -e trace=connect,sendto,sendmsg,sendmmsg -o "$out" "${NS_CMD[@]}"
}
# ns_capture FILE: a packet capture of the namespace's loopback (tcpdump, its pid CAPTURE_PID), written as it
# goes; stop_capture ends it (every packet it saw is then in the file); capture_count FILE FILTER: the packets in
# it that match FILTER (tcpdump's syntax).
ns_capture() {
	local i
	nsx_bg "capture-${1##*/}" tcpdump -i lo -n -U --immediate-mode -w "$1"
	CAPTURE_PID=$NSX_PID
	for ((i = 0; i < 100; i++)); do
		grep -q 'listening on' "$WORK/capture-${1##*/}.out" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
stop_capture() { kill "$CAPTURE_PID" 2>/dev/null; wait "$CAPTURE_PID" 2>/dev/null; }
capture_count() { tcpdump -r "$1" -n "$2" 2>/dev/null | grep -c .; }

