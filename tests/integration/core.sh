#!/usr/bin/env bash
# core.sh: real programs under torwrap against a real SOCKS5 server and a logging DNS server on loopback.
# Proves, per program: the hostname reached the proxy by name (ATYP 3); no DNS query left the process (strace
# sees nothing sent to port 53, and the test nameserver never hears the name); allowed names went direct; the
# proxy down fails closed with nothing sent elsewhere; a malformed policy refuses instead of leaking.
. "$(dirname "$0")/lib.sh"

start_world

# ---------------------------------------------------------------------------------------------- the library
check "readelf: libtorwrap.so needs only libc" \
	bash -c "[[ \$(readelf -d '$LIBTORWRAP' | grep NEEDED | grep -vcE 'libc\.so|ld-linux') -eq 0 ]] || [[ $TW_SANITIZE == 1 ]]"
check "library exports only the hooks (c-ares stays hidden)" \
	bash -c "! nm -D --defined-only '$LIBTORWRAP' | grep -qE ' T (ares_|policy_|vaddr_|socks5_|tw_)'"

# ------------------------------------------------------------------------------------- external name, curl
n0=$(socks_count)
out=$(strace_net "$WORK/st.curl" tw curl -sS --max-time 10 "http://api.trongrid.io:$HPORT/" 2>"$WORK/err.curl")
check "curl external name: page fetched through the proxy" [ "$out" = "hello from the internet" ]
check "curl external name: proxy got the hostname (ATYP 3)" socks_saw 3 api.trongrid.io "$HPORT"
check "curl external name: no packet to port 53" no_port53 "$WORK/st.curl"
check "curl external name: nameserver never asked" dns_not_asked "$DNS_LOG" api.trongrid.io
check "curl external name: isolation credentials sent" \
	bash -c "tail -n 1 '$SOCKS_LOG' | grep -q '\"user\": *\"<torS0X>0\"'"
check "curl external name: one proxy request" [ $(($(socks_count) - n0)) -eq 1 ]
check "curl external name: greeting, auth and CONNECT pipelined" \
	bash -c "tail -n 1 '$SOCKS_LOG' | grep -q '\"pipelined\": *true'"

# ---------------------------------------------------------------------------------- allowed internal name
n0=$(socks_count)
out=$(strace_net "$WORK/st.int" tw curl -sS --max-time 10 "http://tron-wallet-manager:$IPORT/" 2>&1)
check "curl internal name: reached directly" [ "$out" = "hello from tron-wallet-manager" ]
check "curl internal name: proxy not used" [ "$(socks_count)" -eq "$n0" ]
check "curl internal name: resolved by the container's nameserver" dns_asked "$DNS_LOG" tron-wallet-manager
check "curl internal name: connected straight to 127.0.0.2" grep -q "inet_addr(\"127.0.0.2\")" "$WORK/st.int"

# -------------------------------------------------------------------------------------------- other programs
for prog in wget python perl nc getent; do
	n0=$(socks_count)
	host=$prog.example.test
	case $prog in
	wget) out=$(strace_net "$WORK/st.$prog" tw wget -q -O - --timeout=10 "http://$host:$HPORT/" 2>&1) ;;
	python) out=$(strace_net "$WORK/st.$prog" tw $PY -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://$host:$HPORT/', timeout=10).read().decode())" 2>&1) ;;
	perl) out=$(strace_net "$WORK/st.$prog" tw perl -MIO::Socket::INET -e "my \$s = IO::Socket::INET->new(PeerAddr => '$host', PeerPort => $HPORT, Timeout => 10) or die \"connect: \$@\"; print \$s \"GET / HTTP/1.0\r\nHost: $host\r\n\r\n\"; local \$/; my \$r = <\$s>; \$r =~ s/.*?\r\n\r\n//s; print \$r" 2>&1) ;;
	nc) out=$(printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" | strace_net "$WORK/st.$prog" tw nc -q 5 -w 10 "$host" "$HPORT" 2>&1 | sed '1,/^\r$/d') ;;
	getent) out=$(strace_net "$WORK/st.$prog" tw getent hosts "$host" 2>&1) ;;
	esac
	if [[ $prog == getent ]]; then
		check "getent hosts external name: virtual address answered" grep -qE "^127\.(19[2-9]|2[0-5][0-9])\.[0-9]+\.[0-9]+ +$host" <<<"$out"
		check "getent hosts external name: proxy not contacted by a lookup" [ "$(socks_count)" -eq "$n0" ]
	else
		check "$prog external name: page fetched through the proxy" grep -q "hello from the internet" <<<"$out"
		check "$prog external name: proxy got the hostname" socks_saw 3 "$host" "$HPORT"
	fi
	check "$prog external name: no packet to port 53" no_port53 "$WORK/st.$prog"
	check "$prog external name: nameserver never asked" dns_not_asked "$DNS_LOG" "$host"
done

# ---------------------------------------------------------------------------------- resolver entry points
for mode in gai gai-null gai4 ghbn ghbn-r; do
	out=$(tw "$PROGRAMS/resolve" "$mode" "entry-$mode.example.test" 2>&1)
	check "resolve $mode: virtual IPv4 address" grep -qE '^127\.(19[2-9]|2[0-5][0-9])\.' <<<"$out"
done
out=$(tw "$PROGRAMS/resolve" gai6 entry-gai6.example.test 2>&1)
check "resolve gai6 (AF_INET6): v4-mapped virtual address" grep -qE '^::ffff:127\.(19[2-9]|2[0-5][0-9])\.' <<<"$out"
for mode in ghbn2-6 ghbn2-r6; do
	out=$(tw "$PROGRAMS/resolve" "$mode" "entry-$mode.example.test" 2>&1)
	check "resolve $mode: no IPv6 answer for a name only Tor knows (as glibc, so callers fall back)" \
		grep -q "Unknown host\|Host name lookup failure\|rc 2" <<<"$out"
done
out=$(tw "$PROGRAMS/resolve" gai-canon "Canon.Example.Test." 2>&1)
check "getaddrinfo AI_CANONNAME: the name, normalised" grep -qx "canon canon.example.test" <<<"$out"
out=$(tw bash -c "a=\$('$PROGRAMS/resolve' gai same.example.test | head -1); b=\$('$PROGRAMS/resolve' ghbn same.example.test | tail -1); [ \"\$a\" = \"\$b\" ] && '$PROGRAMS/resolve' gni \"\$a\" && '$PROGRAMS/resolve' ghba \"\$a\" && '$PROGRAMS/resolve' ghba-r \"\$a\"" 2>&1)
check "one name, one virtual address across processes; reverse lookups give the name" \
	[ "$(grep -c '^name same.example.test$' <<<"$out")" -eq 3 ]
out=$(tw "$PROGRAMS/resolve" gai 127.0.0.1 2>&1)
check "numeric host passes through" [ "$out" = "127.0.0.1" ]
out=$(tw "$PROGRAMS/resolve" ghbn localhost 2>&1)
check "localhost resolved locally" grep -qx "127.0.0.1" <<<"$out"
out=$(strace_net "$WORK/st.gni" tw "$PROGRAMS/resolve" gni 198.51.100.7 2>&1)
check "getnameinfo of a non-allowed address: no PTR query" no_port53 "$WORK/st.gni"
check "getnameinfo of a non-allowed address: NI_NAMEREQD fails" grep -q "getnameinfo" <<<"$out"
out=$(tw "$PROGRAMS/resolve" gni 127.192.255.254 2>&1)
check "getnameinfo of an unknown virtual address: not found" grep -q "getnameinfo" <<<"$out"

# --------------------------------------------------------------------------------- sockets and their flags
out=$(tw "$PROGRAMS/tcpget" --nonblock nb.example.test "$HPORT" 2>&1)
check "non-blocking connect through the proxy works, flags unchanged" grep -q "hello from the internet" <<<"$out"
out=$(tw "$PROGRAMS/tcpget" --v6 v6.example.test "$HPORT" 2>&1)
check "IPv6 socket to a v4-mapped virtual address goes through the proxy" grep -q "hello from the internet" <<<"$out"
# A 24-byte sockaddr_in6 (no scope id) is a valid connect() for the kernel: it must be decided like a whole one.
out=$(preload "$PROGRAMS/tcpget" --v6-short v6short.example.test "$HPORT" 2>&1)
check "IPv6 connect with a 24-byte sockaddr: through the proxy by name, not past the decision" \
	socks_saw 3 v6short.example.test "$HPORT"
out=$(strace_net "$WORK/st.udp" tw "$PROGRAMS/tcpget" --udp udp.example.test 9 2>&1)
check "UDP connect to a name through Tor: EPERM" grep -q "connect: EPERM" <<<"$out"
check "UDP connect to a name through Tor: nothing sent" bash -c "! grep -qE 'htons\(9\)' '$WORK/st.udp'"
n0=$(socks_count)
out=$(tw curl -sS --max-time 10 -g "http://[2001:db8::7]:$HPORT/" 2>&1)
check "IPv6 literal goes to the proxy as ATYP 4" socks_saw 4 2001:db8::7 "$HPORT"
check "IPv6 literal goes to the proxy as ATYP 4: the page came back (the proxy reaches it on loopback)" \
	grep -q "hello from the internet" <<<"$out"
out=$(tw curl -sS --max-time 10 "http://198.51.100.7:$HPORT/" 2>&1)
check "IPv4 literal (not allowed) goes to the proxy as ATYP 1" socks_saw 1 198.51.100.7 "$HPORT"
check "IPv4 literal (not allowed) goes to the proxy as ATYP 1: the page came back (the proxy reaches it on loopback)" \
	grep -q "hello from the internet" <<<"$out"
out=$(tw $PY -c "
import socket, os
p = '$WORK/unix.sock'
srv = socket.socket(socket.AF_UNIX); srv.bind(p); srv.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect(p); print('unix ok')" 2>&1)
check "AF_UNIX passes through" grep -qx "unix ok" <<<"$out"
out=$(tw $PY -c "
import asyncio
async def main():
    r, w = await asyncio.wait_for(asyncio.open_connection('asyncio.example.test', $HPORT), 10)
    w.write(b'GET / HTTP/1.0\r\nHost: asyncio.example.test\r\n\r\n'); await w.drain()
    print((await r.read()).decode().split('\r\n\r\n', 1)[1], end='')
asyncio.run(main())" 2>&1)
check "python asyncio (non-blocking, event loop) through the proxy" grep -q "hello from the internet" <<<"$out"

# ------------------------------------------------------------------------ process isolation: a fork()ed child
# TORWRAP_ISOLATION=process (the default): a child made with fork() and no exec keeps its parent's random seed,
# so only its pid gives it credentials of its own (Tor puts streams with different credentials on different
# circuits; tor.sh sees the circuits). The parent fetches, forks, the child fetches, then the parent again: at
# the proxy, the parent's two streams carry one token and the child's another.
# pass_of HOST: the passwords (isolation tokens) HOST's requests carried, one per line.
pass_of() { grep "\"host\": \"$1\"" "$SOCKS_LOG" | $PY -c 'import json, sys; [print(json.loads(l)["pass"]) for l in sys.stdin]'; }
# two_tokens A B: A and B are each one process isolation token, and not the same.
two_tokens() { [[ $1 == process-+([0-9a-f]) && $2 == process-+([0-9a-f]) && $1 != "$2" ]]; }
for how in preload tw; do
	p=fork-parent-$how.example.test c=fork-child-$how.example.test
	out=$("$how" "$PROGRAMS/static_client" --fork "$c" get "$p" "$HPORT" 2>&1)
	parent=$(pass_of "$p" | sort -u) child=$(pass_of "$c" | sort -u)
	check "fork() without exec ($how): the parent's two fetches and the child's went through" \
		all_true [ "$(grep -o 'hello from the internet' <<<"$out" | wc -l)" -eq 3 ] -- [ "$(pass_of "$p" | wc -l)" -eq 2 ] -- \
		[ "$(pass_of "$c" | wc -l)" -eq 1 ]
	check "fork() without exec ($how): the parent's streams share one token ($(tr '\n' ' ' <<<"$parent"))" \
		all_true [ "$(grep -c . <<<"$parent")" -eq 1 ] -- grep -q '^process-' <<<"$parent"
	check "fork() without exec ($how): the child's token is its own ($child, the parent's $parent)" \
		two_tokens "$child" "$parent"
done

# ------------------------------------------------------------------------------------------- .onion names
onion=$(printf 'a%.0s' {1..56}).onion
out=$(strace_net "$WORK/st.onion" tw curl -sS --max-time 10 "http://$onion/" 2>&1)
check ".onion: sent to the proxy by name" socks_saw 3 "$onion" 80
check ".onion: never resolved" dns_not_asked "$DNS_LOG" "$onion"
check ".onion: Tor's F0 reported in words" grep -q "onion service descriptor not found" <<<"$out"

# --------------------------------------------------------------------------------------- fail closed: proxy
n0=$(socks_count)
out=$(TOR_PROXY_SOCKS_PORT=$DEAD strace_net "$WORK/st.down" tw curl -sS --max-time 10 "http://down.example.test:$HPORT/" 2>&1)
rc=$?
check "proxy down: curl fails" [ $rc -ne 0 ]
check "proxy down: the error names the proxy" grep -q "proxy tor-proxy:$DEAD unreachable" <<<"$out"
check "proxy down: only the proxy was tried" \
	bash -c "! grep -E '^[0-9]+ +connect\(.*AF_INET' '$WORK/st.down' | grep -v 'htons($DEAD)' | grep -v 'htons($DPORT)' | grep -q ."
check "proxy down: no direct connection to the destination" bash -c "! grep -q 'htons($HPORT)' '$WORK/st.down'"
check "proxy down: no DNS for the destination" dns_not_asked "$DNS_LOG" down.example.test

# -------------------------------------------------------------------------------------- fail closed: policy
printf 'tron-wallet-manager\n172.20.1.98-91\n' >"$WORK/bad-policy"
out=$(TORWRAP_POLICY=$WORK/bad-policy tw curl -sS "http://api.trongrid.io:$HPORT/" 2>&1)
rc=$?
check "malformed policy: torwrap refuses to start the program (exit 78)" [ $rc -eq 78 ]
check "malformed policy: the error names file and line" grep -q "bad-policy:2" <<<"$out"
n0=$(socks_count)
out=$(TORWRAP_POLICY=$WORK/bad-policy strace_net "$WORK/st.bad" preload curl -sS --max-time 10 "http://api.trongrid.io:$HPORT/" 2>&1)
rc=$?
check "malformed policy under LD_PRELOAD: connection refused" [ $rc -ne 0 ]
check "malformed policy under LD_PRELOAD: log names file and line" grep -q "bad-policy:2" <<<"$out"
check "malformed policy under LD_PRELOAD: nothing sent anywhere" \
	bash -c "! grep -qE 'connect\(.*AF_INET' '$WORK/st.bad' && [ $(socks_count) -eq $n0 ]"
out=$(TORWRAP_POLICY=$WORK/bad-policy preload curl -sS --max-time 10 "http://127.0.0.1:$HPORT/" 2>/dev/null)
check "malformed policy: loopback still works" [ "$out" = "hello from the internet" ]
out=$(TORWRAP_POLICY=$WORK/missing-policy tw true 2>&1)
check "explicitly named policy file missing: refused" [ $? -eq 78 ]
out=$(TOR_CONNECTIVITY_TIMEOUT=abc tw true 2>&1)
check "malformed TOR_CONNECTIVITY_TIMEOUT: refused, named" grep -q TOR_CONNECTIVITY_TIMEOUT <<<"$out"
out=$(NO_PROXY=127.0.0.1,tron-wallet-manager,.example.org tw true 2>&1)
check "NO_PROXY accepted" [ $? -eq 0 ]

# ----------------------------------------------------------------- NO_PROXY with several entries, each routed
# Names, a domain and an address in one NO_PROXY, under a policy file that allows nothing: each entry's names go
# direct (resolved by the stack's nameserver, connected straight to 127.0.0.2, nothing at the proxy), any other
# name through the proxy by name. The address entry is checked in the namespace below (direct, it would leave
# loopback). The control first: without NO_PROXY, wiki.corp.test goes to Tor like any name.
printf '# allows nothing: NO_PROXY alone decides\n' >"$WORK/policy-none"
NP_LIST=ledger.internal.test,198.51.100.88,.corp.test
out=$(TORWRAP_POLICY=$WORK/policy-none preload "$PROGRAMS/tcpget" wiki.corp.test "$HPORT" 2>&1)
check "control: without NO_PROXY, wiki.corp.test goes through the proxy" socks_saw 3 wiki.corp.test "$HPORT"
for how in tw preload; do
	for h in ledger.internal.test wiki.corp.test; do
		n0=$(socks_count)
		out=$(TORWRAP_POLICY=$WORK/policy-none NO_PROXY=$NP_LIST strace_net "$WORK/st.np-$how-$h" "$how" \
			"$PROGRAMS/tcpget" "$h" "$IPORT" 2>&1)
		check "NO_PROXY=$NP_LIST ($how): $h reached directly, at 127.0.0.2" \
			all_true grep -qx "hello from tron-wallet-manager" <<<"$out" -- \
			grep -q 'inet_addr("127.0.0.2")' "$WORK/st.np-$how-$h"
		check "NO_PROXY=$NP_LIST ($how): $h: the proxy heard nothing" [ "$(socks_count)" -eq "$n0" ]
		check "NO_PROXY=$NP_LIST ($how): $h resolved by the stack's nameserver" dns_asked "$DNS_LOG" "$h"
	done
	h=np-other-$how.example.test
	out=$(TORWRAP_POLICY=$WORK/policy-none NO_PROXY=$NP_LIST "$how" "$PROGRAMS/tcpget" "$h" "$HPORT" 2>&1)
	check "NO_PROXY=$NP_LIST ($how): another name goes through the proxy, by name" \
		all_true grep -qx "hello from the internet" <<<"$out" -- socks_saw 3 "$h" "$HPORT"
done

# ------------------------------------------------------------------------------- policy: refuse and ports
printf 'lucid-mongodb port 27017\nrefuse blocked.example.test\n' >"$WORK/policy2"
out=$(TORWRAP_POLICY=$WORK/policy2 tw curl -sS --max-time 5 "http://blocked.example.test:$HPORT/" 2>&1)
check "refuse rule: refused with a log line" grep -q "refused by policy" <<<"$out"
out=$(TORWRAP_POLICY=$WORK/policy2 tw curl -sS --max-time 5 "http://lucid-mongodb:$IPORT/" 2>&1)
check "allowed name on a port outside its list: refused, not sent to Tor" grep -q "refused by policy" <<<"$out"
out=$(TORWRAP_PROXY=127.0.0.1:$SPORT TORWRAP_POLICY=$WORK/policy2 NO_PROXY=tron-wallet-manager tw curl -sS --max-time 5 "http://tron-wallet-manager:$IPORT/" 2>&1)
check "NO_PROXY name goes direct" [ "$out" = "hello from tron-wallet-manager" ]

# ------------------------------------------------------------------- refused destinations: nothing on the wire
# A TCP connect to an address the policy refuses fails with EPERM and is never attempted: an address under a
# refuse rule, any address under TORWRAP_MODE=onion-only, a virtual address this process never handed out. The
# library decides (LD_PRELOAD, torwrap), for a blocking and a non-blocking socket. The evidence: strace (no
# connect() names it) and a capture of the namespace's loopback (no packet to it), a control proving both see
# such a connect. Each run has a port of its own, so every packet is attributed. In a network namespace of the
# test's: a connect made anyway stays in it (198.51.100.77 and .88 are on its loopback). Also there: NO_PROXY's
# address entry (above), connected straight to 198.51.100.88, the proxy never tried.
if ! need_netns; then
	skip "refused destinations and NO_PROXY's address entry: need root (a network namespace of the test's own)"
else
	RA=198.51.100.77 NA=198.51.100.88 VA=127.200.3.4
	start_netns "$RA" "$NA" || notok "network namespace"
	ns_capture "$WORK/ns.pcap" || notok "capture of the namespace's loopback"
	printf 'tron-wallet-manager\nrefuse %s\n' "$RA" >"$WORK/policy-refuse"
	ns_strace "$WORK/st.ref-control" bare "$PROGRAMS/tcpget" "$RA" 7100 >/dev/null 2>&1
	check "control: strace sees a bare program's connect to $RA" grep -q 'htons(7100)' "$WORK/st.ref-control"
	port=7100
	refused=()
	for what in rule mode virtual; do
		case $what in
		rule) addr=$RA env=(TORWRAP_POLICY="$WORK/policy-refuse") label="an address under a refuse rule" ;;
		mode) addr=$RA env=(TORWRAP_MODE=onion-only) label="an address under TORWRAP_MODE=onion-only" ;;
		virtual) addr=$VA env=() label="a virtual address never handed out" ;;
		esac
		for how in preload tw; do
			for nb in "" --nonblock; do
				port=$((port + 1))
				name="$label ($how${nb:+, non-blocking}), $addr:$port"
				ns_cmd "$how" "$PROGRAMS/tcpget" $nb "$addr" "$port"
				out=$(env "${env[@]}" strace -f -qq -s 256 -e trace=connect,sendto,sendmsg,sendmmsg \
					-o "$WORK/st.ref-$port" "${NS_CMD[@]}" 2>&1)
				check "$name: EPERM" grep -qx 'connect: EPERM' <<<"$out"
				check "$name: one log line says it was refused" \
					[ "$(grep -E '^torwrap\[[0-9]+\]: ' <<<"$out" | grep -c "connect $addr:$port.* refused")" -eq 1 ]
				check "$name: no connect() to it (strace)" bash -c "! grep -q 'htons($port)' '$WORK/st.ref-$port'"
				refused+=("$port|$name")
			done
		done
	done

	nsx_bg ns-http "$PY" -m http.server --bind "$NA" 8088 --directory "$WORK/www-int"
	for ((i = 0; i < 100; i++)); do
		nsx $PY -c "import socket; socket.create_connection(('$NA', 8088), 1)" 2>/dev/null && break
		sleep 0.1
	done
	# (the proxy as a literal here: the namespace has no nameserver to name it, and a connect to it shows in strace)
	export TORWRAP_PROXY=127.0.0.1:$SPORT
	for how in preload tw; do
		out=$(TORWRAP_POLICY=$WORK/policy-none NO_PROXY=$NP_LIST ns_strace "$WORK/st.np-addr-$how" "$how" \
			"$PROGRAMS/tcpget" "$NA" 8088 2>&1)
		check "NO_PROXY=$NP_LIST ($how): $NA reached directly" \
			all_true grep -qx "hello from tron-wallet-manager" <<<"$out" -- grep -q "inet_addr(\"$NA\")" "$WORK/st.np-addr-$how"
		check "NO_PROXY=$NP_LIST ($how): $NA: the proxy never tried" bash -c "! grep -q 'htons($SPORT)' '$WORK/st.np-addr-$how'"
	done
	out=$(TORWRAP_POLICY=$WORK/policy-none ns_strace "$WORK/st.np-addr-control" preload "$PROGRAMS/tcpget" "$NA" 8088 2>&1)
	check "control: without NO_PROXY, $NA goes to the proxy" grep -q "htons($SPORT)" "$WORK/st.np-addr-control"
	unset TORWRAP_PROXY

	# The capture, read once it has stopped (nothing it had is left unwritten).
	stop_capture
	check "control: the capture sees a bare program's connect to $RA" [ "$(capture_count "$WORK/ns.pcap" "dst port 7100")" -gt 0 ]
	for r in "${refused[@]}"; do
		check "${r#*|}: nothing on the wire (capture)" [ "$(capture_count "$WORK/ns.pcap" "dst port ${r%%|*}")" -eq 0 ]
	done
fi

# ------------------------------------------------------------------------------------------- the wrapper
printf 'int main(void){return 3;}\n' >"$WORK/static.c"
if gcc -static -o "$WORK/static-prog" "$WORK/static.c" 2>/dev/null; then
	out=$(tw "$WORK/static-prog" 2>&1)
	rc=$?
	check "static program runs under the seccomp supervisor, its status kept (static.sh tests it)" [ $rc -eq 3 ]
else
	skip "static program under the supervisor: gcc -static unavailable"
fi
cp /usr/bin/true "$WORK/suid-true" && chmod u+s "$WORK/suid-true"
out=$(tw "$WORK/suid-true" 2>&1)
check "setuid program refused (exit 126)" [ $? -eq 126 ]
out=$(tw nonexistent-command-xyz 2>&1)
check "unknown command: exit 127" [ $? -eq 127 ]
out=$(LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6${SAN_PRELOAD:+:$SAN_PRELOAD} "$TORWRAP" $PY -c 'import os; print(os.environ["LD_PRELOAD"])' 2>&1)
check "LD_PRELOAD entries kept, ours first" grep -qE "^[^:]*libtorwrap\.so:.*libm\.so\.6" <<<"$out"
check "torwrap --help" bash -c "'$TORWRAP' --help | grep -q Usage"
check "torwrap --version" bash -c "'$TORWRAP' --version | grep -q '^torwrap '"
out=$(tw --proxy 127.0.0.1:$SPORT curl -sS --max-time 10 "http://flag.example.test:$HPORT/" 2>&1)
check "--proxy HOST:PORT" [ "$out" = "hello from the internet" ]
out=$(tw -v curl -sS --max-time 10 "http://verbose.example.test:$HPORT/" 2>&1 >/dev/null)
check "-v logs one line per decision" grep -q "connect verbose.example.test:$HPORT: via tor" <<<"$out"

finish
