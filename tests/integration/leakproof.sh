#!/usr/bin/env bash
# leakproof.sh: the paths by which a name or a packet could still escape the shim (issue 3), each watched on
# the wire: strace sees no packet to port 53 and no datagram to a non-allowed address, the test nameserver
# never hears a name it must not, and the proxy sees what went through it.
. "$(dirname "$0")/lib.sh"
start_world
L=$PROGRAMS/leaky

# ------------------------------------------------------------------------------------ libresolv's res_* API
for mode in res-query res-search res-send; do
	name=$mode.example.test
	out=$(strace_net "$WORK/st.$mode" tw "$L" "$mode" "$name" 2>&1)
	check "$mode external name: answered with a virtual address" grep -qE '^127\.(19[2-9]|2[0-5][0-9])\.' <<<"$out"
	check "$mode external name: no packet to port 53" no_port53 "$WORK/st.$mode"
	# (torwrap's own hand-over of the seccomp listener to itself, SCM_RIGHTS on a socketpair, is not one)
	check "$mode external name: no datagram at all" \
		bash -c "! grep -E 'sendto|sendmsg|sendmmsg' '$WORK/st.$mode' | grep -vq SCM_RIGHTS"
	check "$mode external name: nameserver never asked" dns_not_asked "$DNS_LOG" "$name"
done
out=$(tw "$L" res-querydomain api example.test 2>&1)
check "res_querydomain: answered with a virtual address" grep -qE '^127\.(19[2-9]|2[0-5][0-9])\.' <<<"$out"
check "res_querydomain: nameserver never asked" dns_not_asked "$DNS_LOG" api.example.test
out=$(tw "$L" res-aaaa aaaa.example.test 2>&1)
check "res_query AAAA of an external name: NODATA, nothing sent" grep -q "No address associated" <<<"$out"
out=$(tw "$L" res-mx mx.example.test 2>&1)
check "res_query MX of an external name: fails without a query" grep -q "failed" <<<"$out"
check "res_query MX of an external name: nameserver never asked" dns_not_asked "$DNS_LOG" mx.example.test
out=$(tw bash -c "a=\$('$L' res-query ptr.example.test); '$L' res-ptr \"\$a\"" 2>&1)
check "res_query PTR of a virtual address: the name, from the map" grep -qx "ptr.example.test" <<<"$out"
# An allowed name is asked of the nameserver by torwrap's own forwarder, under LD_PRELOAD alone too (glibc's
# resolver sockets are refused by the kernel filter there): the nameserver's answer comes back.
for mode in res-query res-send res-search; do
	out=$(tw "$L" "$mode" tron-wallet-manager 2>&1)
	check "$mode of an allowed name: the nameserver's answer" grep -qx "127.0.0.2" <<<"$out"
	out=$(preload "$L" "$mode" tron-wallet-manager 2>&1)
	check "$mode of an allowed name, LD_PRELOAD alone: the nameserver's answer" grep -qx "127.0.0.2" <<<"$out"
done
# res_search takes resolv.conf's search list, each candidate decided on its own: "ledger" is asked as
# ledger.internal.test (allowed), and the nameserver never hears of "ledger" itself.
printf 'nameserver %s:%s\nsearch internal.test\n' "$DNS_ADDR" "$DPORT" >"$WORK/resolv-search.conf"
out=$(TORWRAP_RESOLV_CONF=$WORK/resolv-search.conf preload "$L" res-search ledger 2>&1)
check "res_search through the search list: ledger.internal.test answered" grep -qx "127.0.0.2" <<<"$out"
check "res_search through the search list: the nameserver asked for ledger.internal.test" \
	dns_asked "$DNS_LOG" ledger.internal.test
check "res_search through the search list: never for the bare name" dns_not_asked "$DNS_LOG" ledger
out=$(tw "$L" gai-a gaia.example.test 2>&1)
check "getaddrinfo_a: virtual address, nothing sent" grep -qE '^127\.(19[2-9]|2[0-5][0-9])\.' <<<"$out"

# ------------------------------------------------------------------------ programs with their own resolver
# Under torwrap their queries are answered by the supervisor's DNS responder: virtual addresses for names that
# are not allowed (the nameserver never hears them), allowed names forwarded. Under LD_PRELOAD alone there is no
# responder: a query for a name that is not allowed is refused before it is sent.
VIRT='^127\.(19[2-9]|2[0-5][0-9])\.'
for how in recvfrom recvmsg recvmmsg; do
	out=$(tw "$L" dns-udp "$DNS_ADDR" "$DPORT" "$how.example.test" "$how" 2>&1)
	check "own resolver ($how): external name answered with a virtual address" \
		grep -qE "^A 127\.(19[2-9]|2[0-5][0-9])\." <<<"$out"
	check "own resolver ($how): the reply comes from the nameserver asked, getpeername names it" \
		grep -qx "A .* from $DNS_ADDR $DPORT peer $DNS_ADDR $DPORT" <<<"$out"
	check "own resolver ($how): the nameserver never asked" dns_not_asked "$DNS_LOG" "$how.example.test"
done
out=$(tw "$L" dns-udp "$DNS_ADDR" "$DPORT" tron-wallet-manager recvfrom 2>&1)
check "own resolver: allowed name answered by the nameserver" grep -qx "A 127.0.0.2 from $DNS_ADDR $DPORT peer .*" <<<"$out"
# The supervisor forwards an allowed name's query under an ID of its own (getrandom) and believes only a reply
# with that ID and the same question: for ledger.internal.test the test nameserver first sends two forgeries
# claiming 192.0.2.66, one with another ID and one with the right ID for another question.
ids_differ=0
for i in 1 2; do
	out=$(tw "$L" dns-udp "$DNS_ADDR" "$DPORT" ledger.internal.test recvfrom 2>&1)
	check "own resolver, forged replies first ($i): the real answer is taken" \
		grep -qx "A 127.0.0.2 from $DNS_ADDR $DPORT peer .*" <<<"$out"
	sent=$(sed -n 's/^query id //p' <<<"$out")
	seen=$($PY -c 'import json, sys
ids = [r["id"] for r in map(json.loads, open(sys.argv[1])) if r.get("qname") == "ledger.internal.test"]
print(ids[-1] if ids else "")' "$DNS_LOG")
	[[ -n $sent && -n $seen && $sent != "$seen" ]] && ids_differ=1
done
# (the same ID twice by chance: 1 in 2^32)
check "own resolver: the nameserver is asked under the supervisor's ID, not the program's" [ $ids_differ -eq 1 ]
out=$(preload "$L" dns-udp "$DNS_ADDR" "$DPORT" preload-own.example.test recvfrom 2>&1)
check "own resolver, LD_PRELOAD alone: external name refused (EPERM), never asked" \
	bash -c "grep -qx EPERM <<<'$out' && ! grep -q preload-own.example.test '$DNS_LOG'"
out=$(preload "$L" dns-udp "$DNS_ADDR" "$DPORT" tron-wallet-manager recvfrom 2>&1)
check "own resolver, LD_PRELOAD alone: allowed name answered" grep -q "^A 127.0.0.2 from $DNS_ADDR $DPORT" <<<"$out"

if command -v dig >/dev/null; then
	out=$(strace_net "$WORK/st.dig" tw dig +short +tries=1 +time=2 @"$DNS_ADDR" -p "$DPORT" dig.example.test 2>&1)
	check "dig external name: a virtual address" grep -qE "$VIRT" <<<"$out"
	check "dig external name: the nameserver never asked" dns_not_asked "$DNS_LOG" dig.example.test
	out=$(tw bash -c "a=\$(dig +short +tries=1 +time=2 @"$DNS_ADDR" -p '$DPORT' digget.example.test) &&
		exec '$PROGRAMS/tcpget' \"\$a\" '$HPORT'" 2>&1)
	check "dig's virtual address, connected to: through the proxy" grep -q "hello from the internet" <<<"$out"
	check "dig's virtual address, connected to: the proxy got the hostname" \
		socks_saw 3 digget.example.test "$HPORT"
	out=$(tw dig +short +tries=1 +time=2 @"$DNS_ADDR" -p "$DPORT" tron-wallet-manager 2>&1)
	check "dig allowed name: answered by the nameserver" grep -qx "127.0.0.2" <<<"$out"
	check "dig allowed name: the nameserver asked" dns_asked "$DNS_LOG" tron-wallet-manager
	out=$(strace_net "$WORK/st.dig2" tw dig +tries=1 +time=2 @198.51.100.53 dig2.example.test 2>&1)
	check "dig to an external nameserver: no datagram leaves" bash -c "! grep -q '198.51.100.53' '$WORK/st.dig2'"
	out=$(preload dig +tries=1 +time=2 @"$DNS_ADDR" -p "$DPORT" dig-preload.example.test 2>&1)
	check "dig, LD_PRELOAD alone: external name refused before it is sent" \
		dns_not_asked "$DNS_LOG" dig-preload.example.test
	check "dig, LD_PRELOAD alone: the log says why" grep -q "DNS to a nameserver refused" <<<"$out"
	out=$(tw host -W 2 -p "$DPORT" host.example.test "$DNS_ADDR" 2>&1)
	check "host external name: a virtual address" grep -qE "has address 127\.(19[2-9]|2[0-5][0-9])\." <<<"$out"
	check "host external name: the nameserver never asked" dns_not_asked "$DNS_LOG" host.example.test
	out=$(tw nslookup -port="$DPORT" -timeout=2 -retry=0 nslookup.example.test "$DNS_ADDR" 2>&1)
	check "nslookup external name: a virtual address" grep -qE "Address: 127\.(19[2-9]|2[0-5][0-9])\." <<<"$out"
	check "nslookup external name: the nameserver never asked" dns_not_asked "$DNS_LOG" nslookup.example.test
	out=$(strace_net "$WORK/st.nslookup" tw nslookup -timeout=2 -retry=0 nslookup2.example.test 2>&1)
	check "nslookup with the machine's resolv.conf: no packet to port 53" no_port53 "$WORK/st.nslookup"
	out=$(tw dig +tcp +short +tries=1 +time=2 @"$DNS_ADDR" -p "$DPORT" tcpdig.example.test 2>&1)
	check "dig +tcp external name: a virtual address" grep -qE "$VIRT" <<<"$out"
	check "dig +tcp external name: the nameserver never asked" dns_not_asked "$DNS_LOG" tcpdig.example.test
	out=$(tw dig +tcp +short +tries=1 +time=2 @"$DNS_ADDR" -p "$DPORT" tron-wallet-manager 2>&1)
	check "dig +tcp allowed name: answered" grep -qx "127.0.0.2" <<<"$out"
else
	skip "dig/host/nslookup: not installed (dnsutils)"
fi
if command -v node >/dev/null; then
	out=$(strace_net "$WORK/st.node" tw node -e "
const dns = require('dns');
dns.setServers(['$DNS_ADDR:$DPORT']);
dns.resolve4('node.example.test', (err, a) => { console.log(err ? 'resolve4 error ' + err.code : 'resolve4 ' + a); });
dns.lookup('lookup.example.test', (err, a) => { console.log(err ? 'lookup error' : 'lookup ' + a); });
dns.resolve4('tron-wallet-manager', (err, a) => { console.log(err ? 'internal error ' + err.code : 'internal ' + a); });
" 2>&1)
	check "node dns.resolve4 external name: a virtual address" grep -qE "resolve4 127\.(19[2-9]|2[0-5][0-9])\." <<<"$out"
	check "node dns.resolve4 external name: the nameserver never asked" dns_not_asked "$DNS_LOG" node.example.test
	check "node dns.lookup: virtual address" grep -qE 'lookup 127\.(19[2-9]|2[0-5][0-9])\.' <<<"$out"
	check "node dns.resolve4 allowed name: answered" grep -q "internal 127.0.0.2" <<<"$out"
	check "node: no packet to port 53" no_port53 "$WORK/st.node"
	out=$(tw node -e "
require('http').get('http://nodehttp.example.test:$HPORT/', r => { let b=''; r.on('data', d => b += d); r.on('end', () => console.log(b.trim())); }).on('error', e => console.log('error', e.code));" 2>&1)
	check "node http.get external name: through the proxy" grep -q "hello from the internet" <<<"$out"
	check "node http.get external name: proxy got the hostname" socks_saw 3 nodehttp.example.test "$HPORT"
else
	skip "node: not installed"
fi
out=$(strace_net "$WORK/st.getent" tw getent ahosts getent-ahosts.example.test 2>&1)
check "getent ahosts: virtual address, no packet to port 53" bash -c "no_port53() { ! grep -qE 'htons\(53\)' \"\$1\"; }; no_port53 '$WORK/st.getent' && grep -qE '^127\.(19[2-9]|2[0-5][0-9])\.' <<<'$out'"

# --------------------------------------------------------------------------------------- UDP and raw sockets
for mode in udp-sendto udp-sendmsg udp-sendmmsg; do
	out=$(strace_net "$WORK/st.$mode" tw "$L" "$mode" 198.51.100.9 9999 2>&1)
	check "$mode to an external address: EPERM" grep -qx EPERM <<<"$out"
	check "$mode to an external address: nothing sent" bash -c "! grep -q '198.51.100.9' '$WORK/st.$mode'"
done
out=$(tw "$L" udp-sendto 2001:db8::9 9999 2>&1)
check "UDP to an external IPv6 address: EPERM" grep -qx EPERM <<<"$out"
out=$(tw bash -c "'$L' udp-sendto \$('$PROGRAMS/resolve' gai udpname.example.test | head -1) 9999" 2>&1)
check "UDP to a virtual address (a name only Tor knows): EPERM" grep -qx EPERM <<<"$out"
out=$(tw "$L" udp-sendto 127.0.0.1 "$DEAD" 2>&1)
check "UDP to loopback: sent" grep -qx sent <<<"$out"
out=$(TORWRAP_POLICY=$WORK/policy NO_PROXY=198.51.100.0/24 tw "$L" udp-sendto 198.51.100.9 9 2>&1)
check "UDP to an allowed address: passes the shim" bash -c "! grep -qx EPERM <<<'$out'"
out=$(tw "$L" raw 2>&1)
check "raw socket refused at socket()" grep -qx EPERM <<<"$out"
out=$(tw $PY -c "
import socket
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    print('opened')
except OSError as e:
    print('refused', e.errno)" 2>&1)
check "packet socket refused at socket()" grep -q "refused 1" <<<"$out"

# ----------------------------------------------------------------------------------------- other TCP paths
out=$(strace_net "$WORK/st.tfo" tw "$L" tfo tfo.example.test "$HPORT" 2>&1)
check "TCP Fast Open to a name: through the proxy" grep -q "hello from the internet" <<<"$out"
check "TCP Fast Open to a name: proxy got the hostname" socks_saw 3 tfo.example.test "$HPORT"
check "TCP Fast Open to a name: no SYN to the destination" bash -c "! grep -q 'MSG_FASTOPEN' '$WORK/st.tfo'"
out=$(tw "$L" syscall-connect sysc.example.test "$HPORT" 2>&1)
check "syscall(SYS_connect): through the proxy like connect()" grep -q "hello from the internet" <<<"$out"
check "syscall(SYS_connect): proxy got the hostname" socks_saw 3 sysc.example.test "$HPORT"
out=$(tw "$L" io-uring 2>&1)
check "io_uring_setup refused with ENOSYS" grep -qx ENOSYS <<<"$out"
out=$(tw "$L" io-uring-raw 2>&1)
check "io_uring_setup as a raw system call (liburing's way) refused under torwrap (seccomp)" grep -qx ENOSYS <<<"$out"
out=$(preload "$L" io-uring 2>&1)
check "io_uring_setup through syscall() refused under plain LD_PRELOAD" grep -qx ENOSYS <<<"$out"
out=$(tw bash -c "a=\$('$PROGRAMS/resolve' gai peer.example.test | head -1); echo \"want \$a $HPORT\"; '$L' peername peer.example.test $HPORT" 2>&1)
check "getpeername reports the destination asked for, not the proxy" \
	bash -c "w=\$(grep '^want' <<<'$out' | cut -d' ' -f2-); [ -n \"\$w\" ] && grep -qx \"\$w\" <<<'$out'"

# -------------------------------------------------------------------------------------------- process trees
out=$(tw $PY -c "
import socket, subprocess
a = socket.getaddrinfo('forked.example.test', $HPORT, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
print(subprocess.run(['$PROGRAMS/tcpget', a, '$HPORT'], capture_output=True, text=True).stdout.strip())" 2>&1)
check "exec'd child connects to an address its parent resolved" grep -q "hello from the internet" <<<"$out"
check "exec'd child: the proxy got the parent's name" socks_saw 3 forked.example.test "$HPORT"
out=$(preload $PY -c "
import socket, subprocess
a = socket.getaddrinfo('preforked.example.test', $HPORT, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
print(subprocess.run(['$PROGRAMS/tcpget', a, '$HPORT'], capture_output=True, text=True).stdout.strip())" 2>&1)
check "same under plain LD_PRELOAD (map passed on by the exec hook)" grep -q "hello from the internet" <<<"$out"
out=$(tw $PY -c "
import os, socket
a = socket.getaddrinfo('forkonly.example.test', $HPORT, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
pid = os.fork()
if pid == 0:
    s = socket.create_connection((a, $HPORT), 10); s.sendall(b'GET / HTTP/1.0\r\n\r\n')
    print(s.makefile('rb').read().decode().split('\r\n\r\n', 1)[1].strip(), flush=True); os._exit(0)
os.waitpid(pid, 0)" 2>&1)
check "forked child connects to an address its parent resolved" grep -q "hello from the internet" <<<"$out"
# (the sanitizer run must keep ASAN_OPTIONS: it is not torwrap's to carry)
san_env=()
[[ $TW_SANITIZE == 1 ]] && san_env=("ASAN_OPTIONS=$ASAN_OPTIONS" "UBSAN_OPTIONS=$UBSAN_OPTIONS")
out=$(strace_net "$WORK/st.envi" tw env -i "${san_env[@]}" "$PROGRAMS/tcpget" envi.example.test "$HPORT" 2>&1)
check "env -i child stays wrapped (LD_PRELOAD and configuration carried)" grep -q "hello from the internet" <<<"$out"
check "env -i child: no packet to port 53" no_port53 "$WORK/st.envi"
printf 'int main(void){return 0;}\n' >"$WORK/static.c"
gcc -static -o "$WORK/static-prog" "$WORK/static.c" 2>/dev/null
# A static program the library cannot see: under LD_PRELOAD alone it would run outside Tor, so its exec is
# refused; under torwrap the supervisor routes it (the library asks whether one answers), so it may run.
out=$(preload bash -c "'$WORK/static-prog'; echo status=\$?" 2>&1)
check "exec of a static program inside an LD_PRELOAD tree: refused" grep -q "exec refused" <<<"$out"
check "exec of a static program inside an LD_PRELOAD tree: EPERM (status 126)" grep -q "status=126" <<<"$out"
out=$(tw bash -c "'$WORK/static-prog'; echo status=\$?" 2>&1)
check "exec of a static program inside a torwrap tree: runs (the supervisor routes it)" grep -q "status=0" <<<"$out"
# torwrap started inside a torwrap tree (a script that wraps a command itself): the outer supervisor serves it
# (a second filter with a listener would be refused there); --strict cannot be had inside another tree.
out=$(tw bash -c "'$TORWRAP' '$PROGRAMS/tcpget' nested.example.test '$HPORT'" 2>&1)
check "torwrap inside torwrap: the program reaches a name through the proxy" \
	all_true grep -q "hello from the internet" <<<"$out" -- socks_saw 3 nested.example.test "$HPORT"
out=$(tw bash -c "'$TORWRAP' --strict /bin/true; echo status=\$?" 2>&1)
check "torwrap --strict inside torwrap: refused (126)" grep -q "status=126" <<<"$out"
check "torwrap --strict inside torwrap: saying why" grep -q "under another torwrap" <<<"$out"
if [[ -x /bin/busybox ]] && ! readelf -l /bin/busybox 2>/dev/null | grep -q INTERP; then
	out=$(tw bash -c "/bin/busybox wget -q -O - http://static-child.example.test:$HPORT/" 2>&1)
	check "a static program started by a dynamic one under torwrap: through the proxy by name" \
		all_true grep -q "hello from the internet" <<<"$out" -- socks_saw 3 static-child.example.test "$HPORT"
fi
cp /usr/bin/true "$WORK/suid-true" && chmod u+s "$WORK/suid-true"
out=$(tw $PY -c "
import os
try:
    os.posix_spawn('$WORK/suid-true', ['x'], {}); print('spawned')
except OSError as e:
    print('refused', e.errno)" 2>&1)
check "posix_spawn of a setuid program: refused" grep -q "refused 1" <<<"$out"
out=$(tw $PY -c "
import os
pid = os.posix_spawn('$PROGRAMS/tcpget', ['tcpget', 'spawned.example.test', '$HPORT'],
                     {k: os.environ[k] for k in ('ASAN_OPTIONS', 'UBSAN_OPTIONS') if k in os.environ})
os.waitpid(pid, 0)" 2>&1)
check "posix_spawn with an empty environment: child still wrapped" grep -q "hello from the internet" <<<"$out"
out=$(tw "$L" vfork-exec "$PROGRAMS/tcpget" vforked.example.test "$HPORT" 2>&1)
check "vfork + exec: the child is wrapped and reaches a name through the proxy" grep -q "hello from the internet" <<<"$out"
out=$(preload "$L" vfork-exec "$WORK/static-prog" 2>&1)
check "vfork + exec of a static program, LD_PRELOAD alone: refused" grep -q "exec refused" <<<"$out"
out=$(tw $PY -c "
import os, socket
os.closerange(3, 65536)
s = socket.create_connection(('closed.example.test', $HPORT), 10); s.sendall(b'GET / HTTP/1.0\r\n\r\n')
print(s.makefile('rb').read().decode().split('\r\n\r\n', 1)[1].strip())" 2>&1)
check "a program that closes every descriptor keeps working" grep -q "hello from the internet" <<<"$out"
out=$(tw "$L" threads threads.example.test "$HPORT" 32 8 1000 2>&1)
check "32 threads: 32000 lookups and 256 connects through the proxy, no error" grep -qx "ok 32256" <<<"$out"

finish
