#!/usr/bin/env bash
# static.sh: statically linked programs under torwrap's seccomp supervisor (issue 7): a gcc -static C client,
# busybox-static's wget and a static Go program (CGO_ENABLED=0: Go's own resolver, raw system calls).
#
# A static program's resolver reads /etc/resolv.conf itself, so every program here runs in a private mount
# namespace where /etc/resolv.conf names a trap nameserver on 127.53.X.Y:53 (started here, logging). The trap
# must never hear a query while torwrap runs: every DNS query must have been redirected to the supervisor's
# responder. Names that are not allowed must never reach the container's nameserver either (TORWRAP_RESOLV_CONF,
# the world's logging DNS server), and reach tor-proxy by name (ATYP 3). Every destination used here is on
# loopback: "external" names get virtual addresses (127.192.0.0/10), the proxy's exit maps them to 127.0.0.1.
. "$(dirname "$0")/lib.sh"

need_sealed_runs

start_world

start_trap

# stw_bg ...: stw in the background, $! being torwrap itself (every step execs).
stw_bg() {
	(exec unshare -m -- sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$WORK/static-resolv.conf" \
		env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} "$TORWRAP" "$@") &
}
# wait_exec PID PROGRAM: until torwrap PID has started PROGRAM (its child), at most 10 s.
wait_exec() {
	local t c
	for ((t = 0; t < 100; t++)); do
		for c in $(pgrep -P "$1"); do
			[[ $(readlink "/proc/$c/exe") == "$2" ]] && return 0
		done
		sleep 0.1
	done
	return 1
}
# Exactly one call names port 9: the program's own, answered by the supervisor without sending.
sent_once_to_9() { [ "$(grep -c 'htons(9)' "$1")" -eq 1 ]; }
is_static() { [[ -x $1 ]] && ! readelf -l "$1" 2>/dev/null | grep -q INTERP; }

# -------------------------------------------------------------------------------------------- the programs
SC=$WORK/static_client
if ! gcc -std=c11 -D_GNU_SOURCE -O1 -g -pthread -static -o "$SC" "$TW_TOP/tests/programs/static_client.c" \
	2>"$WORK/gcc.err"; then
	notok "gcc -static builds tests/programs/static_client.c"
	cat "$WORK/gcc.err" >&2
	finish
fi
check "static_client is statically linked" is_static "$SC"

GO=$WORK/static_go
if command -v go >/dev/null; then
	(cd "$TW_TOP/tests/programs" && CGO_ENABLED=0 GO111MODULE=off GOPROXY=off GOFLAGS= GOTOOLCHAIN=local \
		GOCACHE="$WORK/go-cache" GOPATH="$WORK/go-path" go build -o "$GO" static_go.go) >"$WORK/go.err" 2>&1 ||
		{ notok "go build (CGO_ENABLED=0) tests/programs/static_go.go"; cat "$WORK/go.err" >&2; }
fi
BUSYBOX=$(command -v busybox || true)
CALLS=$WORK/static_calls
if ! gcc -std=c11 -D_GNU_SOURCE -O1 -g -pthread -static -o "$CALLS" "$TW_TOP/tests/programs/static_calls.c" \
	2>"$WORK/gcc-calls.err"; then
	notok "gcc -static builds tests/programs/static_calls.c"
	cat "$WORK/gcc-calls.err" >&2
	finish
fi

# ------------------------------------------------------------------------------------- the trap itself
out=$(nsrun "$SC" resolve trap-control.example.test 2>&1)
check "control: without torwrap, a static program's query reaches the trap nameserver" \
	grep -q '"trap-control.example.test"' "$TRAP_LOG"
TRAP0=$(wc -l <"$TRAP_LOG")

# ---------------------------------------------------------------------------- the three programs, by name
# run_prog KIND NAME-OR-URL-HOST PORT: fetch http://HOST:PORT/ with the program KIND under torwrap.
run_prog() {
	local kind=$1 host=$2 port=$3
	shift 3
	case $kind in
	c) "$@" "$SC" get "$host" "$port" ;;
	busybox) "$@" "$BUSYBOX" wget -q -O - "http://$host:$port/" ;;
	go) "$@" "$GO" get "http://$host:$port/" ;;
	esac
}

for kind in c busybox go; do
	case $kind in
	busybox) is_static "$BUSYBOX" || { skip "busybox: no statically linked busybox (package busybox-static)"; continue; } ;;
	go) is_static "$GO" || { skip "go: no static Go program (package golang-go)"; continue; } ;;
	esac
	host=$kind-static.example.test

	n0=$(socks_count)
	out=$(run_prog $kind "$host" "$HPORT" strace_stw "$WORK/st.$kind" 2>"$WORK/err.$kind")
	check "$kind static: external name fetched through the proxy" [ "$out" = "hello from the internet" ]
	check "$kind static: the proxy got the hostname (ATYP 3)" socks_saw 3 "$host" "$HPORT"
	check "$kind static: one proxy request" [ $(($(socks_count) - n0)) -eq 1 ]
	check "$kind static: the trap nameserver heard nothing" trap_quiet
	check "$kind static: the container's nameserver never asked about the name" dns_not_asked "$DNS_LOG" "$host"
	check "$kind static: no direct connection to the destination (strace)" only_virtual_dest "$WORK/st.$kind"
	check "$kind static: no datagram sent to port 53 (strace)" no_datagram_to_53 "$WORK/st.$kind"

	n0=$(socks_count)
	out=$(run_prog $kind tron-wallet-manager "$IPORT" stw 2>&1)
	check "$kind static: allowed internal name reached directly" grep -q "hello from tron-wallet-manager" <<<"$out"
	check "$kind static: internal name: proxy not used" [ "$(socks_count)" -eq "$n0" ]
	check "$kind static: internal name resolved by the container's nameserver" \
		dns_asked "$DNS_LOG" tron-wallet-manager
	check "$kind static: internal name: the trap nameserver heard nothing" trap_quiet

	h0=$(http_hits)
	out=$(TOR_PROXY_SOCKS_PORT=$DEAD run_prog $kind "down-$host" "$HPORT" stw 2>&1)
	rc=$?
	check "$kind static: proxy down: the program fails" [ $rc -ne 0 ]
	check "$kind static: proxy down: torwrap names the proxy" grep -q "proxy tor-proxy:$DEAD unreachable" <<<"$out"
	check "$kind static: proxy down: nothing reached the destination" [ "$(http_hits)" -eq "$h0" ]
	check "$kind static: proxy down: no DNS for the name anywhere" \
		bash -c "! grep -q 'down-$host' '$DNS_LOG' '$TRAP_LOG'"
done

# ------------------------------------------------------------------------------------- sockets and flags
out=$(stw "$SC" --nonblock get nonblock.example.test "$HPORT" 2>&1)
check "non-blocking connect through the proxy: works, flags unchanged" grep -q "hello from the internet" <<<"$out"
out=$(stw "$SC" --v6 get v6-static.example.test "$HPORT" 2>&1)
check "IPv6 socket to a v4-mapped virtual address goes through the proxy" grep -q "hello from the internet" <<<"$out"
check "IPv6: the proxy got the hostname" socks_saw 3 v6-static.example.test "$HPORT"

n0=$(socks_count)
out=$(stw "$SC" --threads 16 --count 10 get threads.example.test "$HPORT" 2>&1)
check "16 threads x 10 requests, all through the proxy" grep -qx "fetched 160/160" <<<"$out"
check "16 threads x 10 requests: 160 proxy requests" [ $(($(socks_count) - n0)) -eq 160 ]
if is_static "$GO"; then
	out=$(stw "$GO" parallel 32 "http://go-parallel.example.test:$HPORT/" 2>&1)
	check "Go: 32 concurrent requests" grep -qx "fetched 32/32" <<<"$out"
fi
check "busy: the trap nameserver heard nothing" trap_quiet

# A slow proxy (300 ms before each reply: 0.9 s per connection): signals every 2 ms must not restart the
# connect (one SOCKS request), and concurrent connects must not wait for each other.
SLOW=$(free_port)
start_socks slow "$SLOW" --default-ip 127.0.0.1 --delay-ms 300 || notok "slow socks server"
out=$(TOR_PROXY_SOCKS_PORT=$SLOW stw "$SC" --signals 2 get signals.example.test "$HPORT" 2>&1)
check "SIGALRM every 2 ms during a slow connect: the fetch works" grep -q "hello from the internet" <<<"$out"
check "SIGALRM every 2 ms during a slow connect: one SOCKS request, no restarts" \
	[ "$(grep -c signals.example.test "$WORK/socks-slow.log")" -eq 1 ]
out=$(TOR_PROXY_SOCKS_PORT=$SLOW stw "$SC" --threads 8 get concurrent.example.test "$HPORT" 2>&1)
check "8 slow connects at once: all work" grep -qx "fetched 8/8" <<<"$out"
# The proxy's own log says whether the supervisor let them overlap: served one after another, at most one of
# them would ever be in progress at the proxy.
peak=$(socks_peak "$WORK/socks-slow.log" concurrent.example.test)
check "8 slow connects at once: in progress together at the proxy (at most $peak at once)" [ "${peak:-0}" -ge 2 ]
if is_static "$GO"; then
	out=$(TOR_PROXY_SOCKS_PORT=$SLOW stw "$GO" get "http://go-slow.example.test:$HPORT/" 2>&1)
	check "Go (preemption signals) through a slow proxy: works" grep -q "hello from the internet" <<<"$out"
	check "Go through a slow proxy: one SOCKS request" \
		[ "$(grep -c go-slow.example.test "$WORK/socks-slow.log")" -eq 1 ]
fi

# --------------------------------------------------------------------------------------- what is refused
out=$(stw "$SC" raw 2>&1)
check "raw socket: EPERM" grep -qx "result EPERM" <<<"$out"
out=$(stw "$SC" packet 2>&1)
check "packet socket: EPERM" grep -qx "result EPERM" <<<"$out"
out=$(stw "$SC" iouring 2>&1)
check "io_uring_setup: ENOSYS" grep -qx "result ENOSYS" <<<"$out"
out=$(stw "$SC" x32 2>&1)
check "x32 system call ABI: ENOSYS" grep -qx "result ENOSYS" <<<"$out"
# The i386 entry point (int 0x80): no socket may escape through it. Kernels differ: where the ABI is usable, the
# bare probe gets a socket and the supervised one must get ENOSYS; where it is off (ia32_emulation=0, or not
# built), the kernel kills the bare probe before any filter runs, and the supervised probe must die the same way
# having made no socket (strace, in the probe's own process).
probe_sockets() { # probe_sockets STRACE-OUT: how many socket calls of the probe's own process succeeded
	local pid
	pid=$(sed -nE "s|^([0-9]+) +execve\(\"$SC\".* = 0$|\1|p" "$1" | tail -n 1)
	[[ -n $pid ]] || { echo "no exec of the probe in $1"; return; }
	grep -cE "^$pid +socket\(.*\) = [0-9]+" "$1"
}
ulimit -c 0
nsrun strace -f -qq -e trace=execve,socket -o "$WORK/st.control" "$SC" udp 127.0.0.1 9 >/dev/null 2>&1
check "control: the socket count sees the socket a probe makes" [ "$(probe_sockets "$WORK/st.control")" = 1 ]
bare=$("$SC" i386 2>&1)
bare_rc=$?
out=$(stw "$SC" i386 2>&1)
rc=$?
nsrun strace -f -qq -e trace=execve,socket -o "$WORK/st.i386" \
	env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} "$TORWRAP" "$SC" i386 >/dev/null 2>&1
if grep -q '^result ' <<<"$bare"; then
	check "i386 system call ABI usable here (bare: $bare): under torwrap, socket gets ENOSYS" \
		grep -qx "result ENOSYS" <<<"$out"
elif [[ $bare_rc -gt 128 ]]; then
	check "i386 system call ABI off here (bare probe killed, status $bare_rc): under torwrap, killed the same way" \
		[ "$rc" -eq "$bare_rc" ]
else
	notok "i386 probe: the bare run neither gave a result nor died by a signal (status $bare_rc: $bare)"
fi
check "i386 system call ABI: the supervised probe made no socket (strace)" [ "$(probe_sockets "$WORK/st.i386")" = 0 ]
out=$(stw "$SC" fastopen tfo.example.test "$HPORT" 2>&1)
check "sendto(MSG_FASTOPEN) with an address: EOPNOTSUPP" grep -qx "result EOPNOTSUPP" <<<"$out"
for how in udp sendmsg sendmmsg; do
	out=$(strace_stw "$WORK/st.$how" "$SC" $how "$how.example.test" 9 2>&1)
	check "$how to a name through Tor: EPERM" grep -qx "result EPERM" <<<"$out"
	check "$how to a name through Tor: the supervisor sent nothing (strace)" sent_once_to_9 "$WORK/st.$how"
	out=$(stw "$SC" $how 127.0.0.1 9 2>&1)
	check "$how to loopback (allowed): sent" grep -qx "result OK" <<<"$out"
done
out=$(stw "$SC" dns53 "$TRAP_ADDR" 2>&1)
check "sendto a DNS query with the nameserver's address (musl's way): EPERM" grep -qx "result EPERM" <<<"$out"
check "sendto a DNS query: the trap nameserver heard nothing" trap_quiet
out=$(stw "$SC" udp 127.0.0.1 53 2>&1)
check "any datagram to port 53 with an address: EPERM" grep -qx "result EPERM" <<<"$out"

# --------------------------------------------------------------------- what the supervisor performs itself
# No trapped call continues in the kernel (issue 25): the supervisor performs each one on its duplicate of the
# program's socket, with what it copied out of the program's memory. Everything below is the program's own.
UDIR=$WORK/unix
mkdir -p "$UDIR"
out=$(cd / && stw "$CALLS" unix-stream "$UDIR" 2>&1)
check "Unix stream connect by a relative path: from the program's working directory, not torwrap's" \
	grep -qx "relative OK" <<<"$out"
check "Unix stream connect by an absolute path" grep -qx "absolute OK" <<<"$out"
check "Unix stream connect through the program's own /proc/self/fd/N (an O_PATH descriptor)" \
	grep -qx "procfd OK" <<<"$out"
out=$(stw "$CALLS" unix-dgram "$UDIR" 2>&1)
check "Unix datagram sendto a path: delivered" grep -qx "result OK" <<<"$out"
out=$(stw "$CALLS" scm-rights "$UDIR" 2>&1)
check "SCM_RIGHTS: the receiver reads the program's file through the descriptor passed ($out)" \
	grep -q "^result OK secret-" <<<"$out"
out=$(stw "$CALLS" scm-creds 2>&1)
check "SCM_CREDENTIALS with the program's own pid: sent" grep -qx "result OK" <<<"$out"
out=$(stw "$CALLS" udp-connected 100 2>&1)
check "sendmsg without an address on a connected UDP socket: all 100 datagrams arrive" \
	grep -qx "received 100/100" <<<"$out"
# The supervisor copies at most 1 MiB at a time: a blocking stream send of more still sends all of it, in order.
out=$(stw "$CALLS" stream-big 2>&1)
check "one blocking sendmsg of 8 MiB + 3 bytes over TCP: all of it, in order ($out)" \
	grep -qx "sent 8388611 received 8388611 sum OK" <<<"$out"
# A source route in the control data would send the datagram to another address first (the kernel routes it to
# the route's first hop): refused, and the supervisor sends nothing (only the program's own call names IP_RETOPTS).
out=$(strace_stw "$WORK/st.srr" "$CALLS" srr 127.254.0.7 2>&1)
check "a datagram with a source route (IP_RETOPTS) to an allowed address: EPERM" grep -qx "result EPERM" <<<"$out"
check "source route refused: the supervisor sent nothing (strace)" [ "$(grep -c 'IP_RETOPTS' "$WORK/st.srr")" -eq 1 ]
# AF_UNSPEC on an IPv4 UDP socket is AF_INET to the kernel: decided as such. 127.254.0.7 is in the virtual range
# and was never handed out: refused. (strace shows AF_UNSPEC without the address: the program's call is the one.)
out=$(strace_stw "$WORK/st.unspec" "$CALLS" unspec 127.254.0.7 2>&1)
check "AF_UNSPEC sendto to an address policy refuses: EPERM, nothing at the receiver" \
	grep -qx "result EPERM received 0" <<<"$out"
check "AF_UNSPEC sendto refused: the supervisor sent nothing (strace)" \
	[ "$(grep -c 'sa_family=AF_UNSPEC' "$WORK/st.unspec")" -eq 1 ]
out=$(stw "$CALLS" unspec 127.0.0.1 2>&1)
check "AF_UNSPEC sendto to an allowed loopback address: delivered" grep -qx "result OK received 1" <<<"$out"
for how in unix tcp; do
	out=$(stw "$CALLS" sigpipe $how 2>&1)
	check "sendmsg to a closed $how peer: EPIPE, and SIGPIPE before the call returns" \
		grep -qx "result EPIPE sigpipe 1" <<<"$out"
done
out=$(stw "$CALLS" sigpipe unix nosignal 2>&1)
check "sendmsg with MSG_NOSIGNAL to a closed peer: EPIPE, no SIGPIPE" grep -qx "result EPIPE sigpipe 0" <<<"$out"
stw "$CALLS" sigpipe unix default >/dev/null 2>&1
check "sendmsg to a closed peer without a SIGPIPE handler: the program dies of it (status 141)" [ $? -eq 141 ]
# A blocking send that waits in the supervisor is still interrupted by a signal the program catches (the program,
# waiting for the supervisor, does not wake for it by itself). At most 20 s: a supervisor that never answers is
# killed, and the program's call then fails (ENOSYS).
out=$(timeout -s KILL 20 env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} "$TORWRAP" "$CALLS" interrupted 2>&1)
check "a blocking sendmsg on a full socket, a caught SIGALRM without SA_RESTART: EINTR, as without torwrap" \
	grep -qx "result EINTR" <<<"$out"

# A program that drops its privileges (root to 65534) gets the kernel's answers for its own credentials, not for
# torwrap's: a root-only socket, its identity at the peer, a netlink request that needs CAP_NET_ADMIN (in a
# network namespace of the test's own: nothing changes outside it).
mkdir -p "$WORK/drop-bare" "$WORK/drop"
chmod a+rX "$WORK" && chmod 777 "$WORK/drop-bare" "$WORK/drop"
bare=$(unshare -n "$CALLS" drop "$WORK/drop-bare" 2>&1)
out=$(unshare -n env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} "$TORWRAP" "$CALLS" drop "$WORK/drop" 2>&1)
check "control: without torwrap, the dropped program meets EACCES, uid 65534 and EPERM (${bare//$'\n'/, })" \
	[ "$(grep -cxE 'root.sock EACCES|peer uid 65534|netlink EPERM' <<<"$bare")" -eq 3 ]
check "dropped privileges: a root-only Unix socket refuses it (EACCES)" grep -qx "root.sock EACCES" <<<"$out"
check "dropped privileges: its peer reads its uid in SO_PEERCRED (65534), not torwrap's" \
	grep -qx "peer uid 65534" <<<"$out"
check "dropped privileges: a netlink request needing CAP_NET_ADMIN is refused (EPERM)" \
	grep -qx "netlink EPERM" <<<"$out"

# A program racing the supervisor on purpose: whatever it changes after the check (msg_name, the descriptor
# table), nothing reaches a destination that was not decided on. The refused sink is the program's own, on an
# address in the virtual range that was never handed out.
FORBID=127.254.0.7
out=$(TORWRAP_LOG_LEVEL=none stw "$CALLS" race-name 20000 $FORBID 2>&1)
check "race: msg_name flipped between NULL and a refused address, 20000 sendmsg: none at the refused sink ($out)" \
	grep -qE "^allowed [1-9][0-9]* forbidden 0 refused [1-9]" <<<"$out"
out=$(TORWRAP_LOG_LEVEL=none stw "$CALLS" race-fd 20000 $FORBID 2>&1)
check "race: a UDP socket swapped (dup2) over a Unix one, 20000 sendto: none at the refused sink ($out)" \
	grep -qx "forbidden 0" <<<"$out"
out=$(TORWRAP_LOG_LEVEL=none stw "$CALLS" race-connect 20000 $FORBID 2>&1)
check "race: a TCP socket swapped (dup2) over a Unix one, 20000 connects: none at the refused listener ($out)" \
	grep -qx "forbidden 0" <<<"$out"
# ------------------------------------------------------------------- process isolation, under the supervisor
# Every program one supervisor serves shares its configuration, hence its random seed: only the process id keeps
# two of them on different circuits (TORWRAP_ISOLATION=process, the default). At the proxy: a static program's
# fork()ed child (no exec) and two static programs run by one static shell each carry a token of their own, and
# one process's streams one token.
pass_of() { grep "\"host\": \"$1\"" "$SOCKS_LOG" | $PY -c 'import json, sys; [print(json.loads(l)["pass"]) for l in sys.stdin]'; }
# two_tokens A B: A and B are each one process isolation token, and not the same.
two_tokens() { [[ $1 == process-+([0-9a-f]) && $2 == process-+([0-9a-f]) && $1 != "$2" ]]; }
p=fork-parent-static.example.test c=fork-child-static.example.test
out=$(stw "$SC" --fork "$c" get "$p" "$HPORT" 2>&1)
parent=$(pass_of "$p" | sort -u) child=$(pass_of "$c" | sort -u)
check "static fork() without exec: the parent's two fetches and the child's went through, the parent's on one token" \
	all_true [ "$(grep -o 'hello from the internet' <<<"$out" | wc -l)" -eq 3 ] -- [ "$(pass_of "$p" | wc -l)" -eq 2 ] -- \
	[ "$(grep -c . <<<"$parent")" -eq 1 ] -- grep -q '^process-' <<<"$parent"
check "static fork() without exec: the child's token is its own ($child, the parent's $parent)" \
	two_tokens "$child" "$parent"
if is_static "$BUSYBOX"; then
	a=two-a-static.example.test b=two-b-static.example.test
	out=$(stw "$BUSYBOX" sh -c "'$SC' get $a $HPORT && '$SC' get $b $HPORT" 2>&1)
	ta=$(pass_of "$a") tb=$(pass_of "$b")
	check "two static programs under one torwrap: both fetched through the proxy" \
		all_true [ "$(grep -o 'hello from the internet' <<<"$out" | wc -l)" -eq 2 ] -- [ -n "$ta" ] -- [ -n "$tb" ]
	check "two static programs under one torwrap: a token each ($ta, $tb)" \
		two_tokens "$ta" "$tb"
else
	skip "two static programs under one torwrap: no statically linked busybox (package busybox-static) to run them"
fi

# ---------------------------------------------------------------- refused destinations: the supervisor decides
# As core.sh's, for a static program: a TCP connect to an address under a refuse rule, to any address under
# TORWRAP_MODE=onion-only, to a virtual address never handed out: EPERM, one log line, no connect() naming it
# (strace of the supervisor and the program) and no packet to it (a capture), in a network namespace of the
# test's (the address on its loopback: a connect made anyway stays there). A bare connect is the control.
if ! need_netns; then
	skip "refused destinations (static): need a network namespace of the test's own"
else
	RA=198.51.100.77 VA=127.200.3.4
	start_netns "$RA" || notok "network namespace"
	ns_capture "$WORK/ns.pcap" || notok "capture of the namespace's loopback"
	printf 'tron-wallet-manager\nrefuse %s\n' "$RA" >"$WORK/policy-refuse"
	ns_strace "$WORK/st.ref-control" bare "$SC" get "$RA" 7200 >/dev/null 2>&1
	check "control: strace sees a bare static program's connect to $RA" grep -q 'htons(7200)' "$WORK/st.ref-control"
	refused=()
	for what in rule mode virtual; do
		case $what in
		rule) port=7201 addr=$RA env=(TORWRAP_POLICY="$WORK/policy-refuse") label="an address under a refuse rule" ;;
		mode) port=7202 addr=$RA env=(TORWRAP_MODE=onion-only) label="an address under TORWRAP_MODE=onion-only" ;;
		virtual) port=7203 addr=$VA env=() label="a virtual address never handed out" ;;
		esac
		name="static, $label, $addr:$port"
		ns_cmd tw "$SC" get "$addr" "$port"
		out=$(env "${env[@]}" strace -f -qq -s 256 -e trace=connect,sendto,sendmsg,sendmmsg -o "$WORK/st.ref-$port" \
			"${NS_CMD[@]}" 2>&1)
		check "$name: EPERM" grep -qx 'connect: EPERM' <<<"$out"
		check "$name: one log line of the supervisor's says it was refused" \
			[ "$(grep -E '^torwrap\[[0-9]+\]: ' <<<"$out" | grep -c "pid [0-9]*: connect $addr:$port.* refused")" -eq 1 ]
		# (the program's own call names it once: that is what the supervisor is handed; nothing else may)
		check "$name: no connect() to it but the program's, refused (strace)" \
			[ "$(grep "htons($port)" "$WORK/st.ref-$port" | grep -v EPERM | grep -vc unfinished)" -eq 0 ]
		refused+=("$port|$name")
	done
	stop_capture
	check "control: the capture sees a bare static program's connect to $RA" \
		[ "$(capture_count "$WORK/ns.pcap" "dst port 7200")" -gt 0 ]
	for r in "${refused[@]}"; do
		check "${r#*|}: nothing on the wire (capture)" [ "$(capture_count "$WORK/ns.pcap" "dst port ${r%%|*}")" -eq 0 ]
	done
fi

# ------------------------------------------------------------------------------- the process and its tree
stw "$SC" exit 7 >/dev/null 2>&1
check "the program's exit status is torwrap's" [ $? -eq 7 ]
stw_bg "$SC" --delay 10000 get sigterm.example.test "$HPORT" >/dev/null 2>&1
pid=$!
wait_exec $pid "$SC"
kill -TERM $pid
wait $pid
check "SIGTERM to torwrap reaches the program (status 143)" [ $? -eq 143 ]
if is_static "$BUSYBOX"; then
	rm -f "$WORK/late.out"
	stw "$BUSYBOX" sh -c "(sleep 0.5; '$BUSYBOX' wget -q -O '$WORK/late.out' http://late.example.test:$HPORT/) & exit 0" \
		>/dev/null 2>&1
	check "a background child outliving the program is still served (torwrap waits for the tree)" \
		grep -q "hello from the internet" "$WORK/late.out"
	check "background child: through the proxy by name" socks_saw 3 late.example.test "$HPORT"
	if [[ $TW_SANITIZE != 1 ]]; then
		out=$(stw "$BUSYBOX" sh -c "curl -sS --max-time 10 http://dyn-child.example.test:$HPORT/ && curl -sS --max-time 10 http://tron-wallet-manager:$IPORT/" 2>&1)
		check "a dynamic program started by a static one (library and supervisor): external name" \
			grep -q "hello from the internet" <<<"$out"
		check "a dynamic program started by a static one: internal name" \
			grep -q "hello from tron-wallet-manager" <<<"$out"
	fi
fi

# Supervisor killed (its own process, torwrap's child beside the program; from outside the tree: Landlock keeps
# the program from signalling it): the program's later network calls fail (ENOSYS), nothing leaves, and torwrap
# says so at once and in its exit status.
h0=$(http_hits)
rm -f "$WORK/killed.out"
stw_bg "$SC" --delay 1000 get 127.0.0.1 "$HPORT" >"$WORK/killed.out" 2>&1
pid=$!
wait_exec $pid "$SC"
server=
for c in $(pgrep -P "$pid"); do [[ $(readlink "/proc/$c/exe") == "$TORWRAP" ]] && server=$c; done
check "the supervisor runs in a process of its own, beside the program" [ -n "$server" ]
kill -KILL "$server" 2>/dev/null
wait $pid
st=$?
check "supervisor killed: the program's connect fails (ENOSYS)" grep -q "connect: ENOSYS" "$WORK/killed.out"
check "supervisor killed: nothing reached the destination" [ "$(http_hits)" -eq "$h0" ]
check "supervisor killed: torwrap says so in one line" grep -q "seccomp supervisor (pid $server) is gone (killed by signal 9)" \
	"$WORK/killed.out"
check "supervisor killed: torwrap's exit status says so (125, whatever the program's)" [ "$st" -eq 125 ]
# The wrapper killed instead: the supervisor's process serves on, so the program's calls are still decided.
h0=$(http_hits)
stw_bg "$SC" --delay 1000 get wrapper-killed.example.test "$HPORT" >"$WORK/wkilled.out" 2>&1
pid=$!
wait_exec $pid "$SC"
prog=
for c in $(pgrep -P "$pid"); do [[ $(readlink "/proc/$c/exe") == "$SC" ]] && prog=$c; done
kill -KILL "$pid" 2>/dev/null
wait $pid 2>/dev/null
for ((t = 0; t < 100; t++)); do kill -0 "$prog" 2>/dev/null || break; sleep 0.1; done
check "wrapper killed: the supervisor still routes the program (through the proxy by name)" \
	socks_saw 3 wrapper-killed.example.test "$HPORT"

# No privileges needed (no_new_privs is enough): the same as uid 65534.
# (torwrap and the library are copied where uid 65534 can reach them, whatever the build directory allows.)
mkdir -p "$WORK/bin"
cp "$TORWRAP" "$LIBTORWRAP" "$WORK/bin/"
chmod a+rX "$WORK" "$WORK/bin" "$WORK/bin/"* "$WORK/policy" "$WORK/resolv.conf" "$WORK/hosts" "$SC"
out=$(nsrun setpriv --reuid=65534 --regid=65534 --clear-groups env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} \
	"$WORK/bin/torwrap" "$SC" get nobody.example.test "$HPORT" 2>&1)
check "unprivileged (uid 65534): through the proxy by name" grep -q "hello from the internet" <<<"$out"
check "unprivileged: the proxy got the hostname" socks_saw 3 nobody.example.test "$HPORT"
# Unprivileged, the kernel accepts in SCM_CREDENTIALS only the sender's own pid: the supervisor's, which it sends.
chmod a+rx "$CALLS"
mkdir -p "$WORK/unix-nobody" && chmod 777 "$WORK/unix-nobody"
nobody() { nsrun setpriv --reuid=65534 --regid=65534 --clear-groups env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} \
	"$WORK/bin/torwrap" "$@"; }
out=$(nobody "$CALLS" scm-creds 2>&1)
check "unprivileged: SCM_CREDENTIALS with the program's own pid: sent" grep -qx "result OK" <<<"$out"
out=$(cd / && nobody "$CALLS" unix-stream "$WORK/unix-nobody" 2>&1)
check "unprivileged: Unix stream connect by a relative path" grep -qx "relative OK" <<<"$out"

# A kernel without what the supervisor needs (simulated: the system call fails with ENOSYS): refused, and why.
if [[ $(uname -m) == x86_64 ]]; then
	for call in 317:seccomp 434:pidfd_open 438:pidfd_getfd; do
		out=$(nsrun "$SC" nosys "${call%%:*}" "$TORWRAP" "$SC" exit 0 2>&1)
		rc=$?
		check "no ${call#*:}: the static program is refused (exit 126)" [ $rc -eq 126 ]
		check "no ${call#*:}: torwrap says why" grep -q "the seccomp supervisor cannot run here: the kernel has no" <<<"$out"
	done
fi

# ------------------------------------------------------------------------- --seccomp: dynamic programs too
if [[ $TW_SANITIZE != 1 ]]; then
	n0=$(socks_count)
	out=$(stw --seccomp curl -sS --max-time 10 "http://seccomp.example.test:$HPORT/" "http://tron-wallet-manager:$IPORT/" 2>&1)
	check "--seccomp curl: external name through the proxy" grep -q "hello from the internet" <<<"$out"
	check "--seccomp curl: internal name directly" grep -q "hello from tron-wallet-manager" <<<"$out"
	check "--seccomp curl: one proxy request, by name" socks_saw 3 seccomp.example.test "$HPORT"
fi
out=$(stw --seccomp "$PROGRAMS/static_client" get seccomp-dyn.example.test "$HPORT" 2>&1)
check "--seccomp on a dynamic client: through the proxy" grep -q "hello from the internet" <<<"$out"
check "everything: the trap nameserver heard nothing" trap_quiet
check "everything: the container's nameserver never heard an external name" \
	bash -c "! grep -q 'example.test' '$DNS_LOG'"

# ------------------------------------------------------------------------------------ the cost (no checks)
# What performing the sends costs: each trapped sendmsg is copied and sent by the supervisor (write() is not
# trapped). Ratios of the same run are what to read on a busy machine.
if [[ $TW_SANITIZE != 1 ]]; then
	us() { "$@" 2>/dev/null | sed -n 's/^us //p'; }
	MiB256=268435456
	echo "# 20000 sendmsg on a connected UDP socket: bare $(us nsrun "$CALLS" bench-udp 20000) us," \
		"under the supervisor $(us stw "$CALLS" bench-udp 20000) us; 256 MiB over loopback TCP in 64 KiB" \
		"sendmsg: bare $(us nsrun "$CALLS" bench-tcp $MiB256 sendmsg) us," \
		"supervisor $(us stw "$CALLS" bench-tcp $MiB256 sendmsg) us; in 64 KiB write(): bare" \
		"$(us nsrun "$CALLS" bench-tcp $MiB256 write) us, supervisor $(us stw "$CALLS" bench-tcp $MiB256 write) us"
fi
# Connects to a listener inside the client (the proxy's exit maps every name to 127.0.0.1): median per connect.
if [[ $TW_SANITIZE != 1 ]]; then
	b() { "$@" 2>/dev/null | sed -n 's/^per-connect .*(median \([0-9]*\) us.*/\1 us/p'; }
	D=$PROGRAMS/static_client
	echo "# median per connect, direct (loopback, 2000 connects): static bare $(b nsrun "$SC" bench-local 2000)," \
		"static under the supervisor $(b stw "$SC" bench-local 2000); dynamic bare $(b "$D" bench-local 2000)," \
		"LD_PRELOAD $(b preload "$D" bench-local 2000), --seccomp + LD_PRELOAD $(b stw --seccomp "$D" bench-local 2000)"
	echo "# median per connect through the test proxy, by name (300 connects): static under the supervisor" \
		"$(b stw "$SC" bench-local 300 cost.example.test), LD_PRELOAD $(b preload "$D" bench-local 300 cost.example.test)," \
		"--seccomp + LD_PRELOAD $(b stw --seccomp "$D" bench-local 300 cost.example.test)"
fi

finish
