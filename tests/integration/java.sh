#!/usr/bin/env bash
# java.sh: a Java client (tests/programs/HttpGet.java: java.net.HttpURLConnection, DatagramSocket) under
# LD_PRELOAD alone, the compose `environment:` way (issue 12). The leak test's java row (leak_test.sh) runs it
# under torwrap in network namespaces; its LD_PRELOAD-alone cell there is only bad-policy, so here: an external
# name fetched through the proxy by name, an allowed internal name reached directly, a datagram to an external
# name refused, and the proxy down failing closed.
#
# The JVM resolves with getaddrinfo (libnet) and connects through NIO on dual-stack sockets (IPv4 addresses as
# v4-mapped IPv6 ones). Every run is in a private mount namespace whose /etc/resolv.conf names a trap nameserver
# on loopback (lib.sh's start_trap): a query that escaped the library would land there, never on the machine's.
# strace records every connect and send of the JVM's: none may name the destination or port 53.
. "$(dirname "$0")/lib.sh"

need_sealed_runs
missing=()
for t in java javac strace; do command -v "$t" >/dev/null || missing+=("$t"); done
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "java.sh needs ${missing[*]} (packages default-jdk-headless, strace)"
	exit 77
fi
# Nothing of the machine's may change the JVM's behaviour behind the test's back.
unset JAVA_TOOL_OPTIONS _JAVA_OPTIONS JDK_JAVA_OPTIONS CLASSPATH

start_world
# The trap answers the test's names with the destination's address: a lookup that escaped the library would
# lead the JVM straight there, which strace would show.
start_trap --record java-control.example.test=127.0.0.1 --record java-preload.example.test=127.0.0.1 \
	--record java-udp.example.test=127.0.0.1 --record java-down.example.test=127.0.0.1

if ! javac -d "$WORK/java" "$TW_TOP/tests/programs/HttpGet.java" 2>"$WORK/javac.err"; then
	notok "javac compiles tests/programs/HttpGet.java"
	cat "$WORK/javac.err" >&2
	finish
fi
# The JVM's start-up kept short, as in scripts/leak-test: C1 only, the serial collector, no perf-data file.
JAVA=(java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -cp "$WORK/java" HttpGet)
PRELOAD_ENV="LD_PRELOAD=$LIBTORWRAP${SAN_PRELOAD:+:$SAN_PRELOAD}"

# jtrace OUT [NAME=VALUE...] CMD...: CMD (through env) in nsrun's namespace, under strace -f: every connect and
# send of every thread, into OUT.
jtrace() {
	local out=$1
	shift
	strace -f -qq -s 128 -e trace=connect,sendto,sendmsg,sendmmsg -o "$out" \
		unshare -m -- sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$WORK/static-resolv.conf" env "$@"
}
# jpre OUT ARGS...: the Java client under LD_PRELOAD alone (one log line per decision), under jtrace.
jpre() {
	local out=$1
	shift
	jtrace "$out" "$PRELOAD_ENV" TORWRAP_LOG_LEVEL=info "${JAVA[@]}" "$@"
}
# inet_connects_only_to FILE PORT...: every IPv4/IPv6 connect in FILE names one of PORTS.
inet_connects_only_to() {
	local f=$1 p re=
	shift
	for p in "$@"; do re+="${re:+|}htons\\($p\\)"; done
	! grep -E 'connect\(.*sa_family=AF_INET6?,' "$f" | grep -vqE "$re"
}
# never_names_port FILE PORT: no call in FILE names PORT.
never_names_port() { ! grep -qE "htons\\($2\\)" "$1"; }

# ------------------------------------------------------------------------------------------- the trap itself
# Without the library the JVM leaks, and the checks below would see it: the trap is asked, and the connection
# goes straight to the destination's port.
out=$(jtrace "$WORK/st.control" "${JAVA[@]}" get "http://java-control.example.test:$HPORT/" 2>&1)
check "control: without the library, the JVM's resolver asks the trap nameserver" \
	grep -q '"java-control.example.test"' "$TRAP_LOG"
check "control: without the library, the JVM connects straight to the destination (strace sees it)" \
	bash -c "[ '$out' = 'hello from the internet' ] && grep -qE 'connect\\(.*htons\\($HPORT\\)' '$WORK/st.control'"
TRAP0=$(wc -l <"$TRAP_LOG")

# ------------------------------------------------------------------------------ external name: by name, via Tor
host=java-preload.example.test
n0=$(socks_count) h0=$(http_hits)
out=$(jpre "$WORK/st.ext" get "http://$host:$HPORT/" 2>"$WORK/err.ext")
check "Java under LD_PRELOAD alone: external name: the page fetched" [ "$out" = "hello from the internet" ]
check "Java under LD_PRELOAD alone: the proxy got the hostname (ATYP 3)" socks_saw 3 "$host" "$HPORT"
check "Java under LD_PRELOAD alone: one proxy request, one request at the destination" \
	[ $(($(socks_count) - n0)) -eq 1 -a $(($(http_hits) - h0)) -eq 1 ]
check "Java under LD_PRELOAD alone: the trap nameserver heard nothing" trap_quiet
check "Java under LD_PRELOAD alone: the container's nameserver never asked about the name" \
	dns_not_asked "$DNS_LOG" "$host"
check "Java under LD_PRELOAD alone: no call names port 53 (strace)" no_port53 "$WORK/st.ext"
check "Java under LD_PRELOAD alone: no call names the destination's port (strace)" \
	never_names_port "$WORK/st.ext" "$HPORT"
check "Java under LD_PRELOAD alone: its connects go to the proxy and the container's nameserver only (strace)" \
	inet_connects_only_to "$WORK/st.ext" "$SPORT" "$DPORT"
check "Java under LD_PRELOAD alone: the library routed it (its log line)" \
	grep -q "connect $host:$HPORT: via tor" "$WORK/err.ext"

# --------------------------------------------------------------------------- allowed internal name: direct
n0=$(socks_count)
out=$(jpre "$WORK/st.int" get "http://tron-wallet-manager:$IPORT/" 2>"$WORK/err.int")
check "Java internal name under LD_PRELOAD alone: reached directly" [ "$out" = "hello from tron-wallet-manager" ]
check "Java internal name under LD_PRELOAD alone: proxy not used" [ "$(socks_count)" -eq "$n0" ]
check "Java internal name under LD_PRELOAD alone: resolved by the container's nameserver" \
	dns_asked "$DNS_LOG" tron-wallet-manager
check "Java internal name under LD_PRELOAD alone: connected straight to 127.0.0.2 (strace)" \
	grep -qE "connect\(.*htons\($IPORT\).*\"(::ffff:)?127\.0\.0\.2\"" "$WORK/st.int"
check "Java internal name under LD_PRELOAD alone: the trap nameserver heard nothing" trap_quiet

# ------------------------------------------------------------------------ a datagram to an external name
host=java-udp.example.test
out=$(jpre "$WORK/st.udp" udp "$host" 9999 2>&1)
rc=$?
check "Java datagram under LD_PRELOAD alone: refused (the program fails)" [ $rc -ne 0 ]
check "Java datagram under LD_PRELOAD alone: the library says why" \
	grep -q "datagram to .* refused: only TCP can go through Tor" <<<"$out"
check "Java datagram under LD_PRELOAD alone: no call names its port (strace)" never_names_port "$WORK/st.udp" 9999
check "Java datagram under LD_PRELOAD alone: the name was asked nowhere" \
	bash -c "! grep -q '$host' '$DNS_LOG' '$TRAP_LOG'"

# ------------------------------------------------------------------------------- proxy down: fail closed
host=java-down.example.test
h0=$(http_hits)
out=$(TOR_PROXY_SOCKS_PORT=$DEAD jpre "$WORK/st.down" get "http://$host:$HPORT/" 2>&1)
rc=$?
check "Java under LD_PRELOAD alone, proxy down: the request fails" [ $rc -ne 0 ]
check "Java under LD_PRELOAD alone, proxy down: the library names the proxy" \
	grep -q "proxy tor-proxy:$DEAD unreachable" <<<"$out"
check "Java under LD_PRELOAD alone, proxy down: nothing reached the destination" [ "$(http_hits)" -eq "$h0" ]
check "Java under LD_PRELOAD alone, proxy down: no call names the destination's port (strace)" \
	never_names_port "$WORK/st.down" "$HPORT"
check "Java under LD_PRELOAD alone, proxy down: its connects go to the proxy and the container's nameserver only" \
	inet_connects_only_to "$WORK/st.down" "$DEAD" "$DPORT"
check "Java under LD_PRELOAD alone, proxy down: no DNS for the name anywhere" \
	bash -c "! grep -q '$host' '$DNS_LOG' '$TRAP_LOG'"

check "everything: the trap nameserver heard nothing after the control" trap_quiet
finish
