#!/usr/bin/env bash
# explain.sh: `torwrap explain` names the verdict and the rule for every kind of rule (issue 16), and names that
# cannot exist on the Internet (a single label, .internal, .local...) and that the policy does not allow are
# refused at lookup: nothing reaches the proxy or the nameserver, watched on the wire; TORWRAP_INTERNAL_NAMES=tor
# is the control that proves the watch would see them.
. "$(dirname "$0")/lib.sh"
start_world

# ------------------------------------------------------------------------------------------- torwrap explain
EX=docs/policy.example
cd "$TW_TOP" || exit 1
line_of() { grep -nx "$1" "$2" | head -1 | cut -d: -f1; }
# The documented policy, with its commented examples (a port instead of all ports, refuse) in force and a tor rule.
sed -e '/^lucid-mongodb$/d' -e 's/^#   \(lucid-mongodb port 27017\)$/\1/' -e 's/^#   \(refuse .example-tracker.com\)$/\1/' "$EX" >"$WORK/full"
printf 'tor api.trongrid.io port 443\n' >>"$WORK/full"
out=$(env -u TORWRAP_POLICY NO_PROXY=.corp.example,10.9.0.0/16 "$TORWRAP" explain --policy "$WORK/full" \
	tron-wallet-manager:8080 172.20.1.95:8080 lucid-mongodb:27017 lucid-mongodb:22 x.example-tracker.com:443 \
	api.trongrid.io:443 api.trongrid.io:80 git.corp.example:22 10.9.1.1:5432 example.com:443 198.51.100.7:443 \
	'[2001:db8::7]:443' xyz.onion:80 localhost:80 127.0.0.1:5 tor-proxy:9050 db.internal:5432 ledger \
	nas.home.arpa printer.local:631 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
has() { grep -qxF "$1" <<<"$out"; }
F=$WORK/full
check "explain: exit 0" test "$rc" -eq 0
check "explain: a name rule, its FILE:LINE and text" \
	has "tron-wallet-manager:8080: direct by $F:$(line_of tron-wallet-manager "$F") (\"tron-wallet-manager\"); resolved locally (hosts file, then the nameservers)"
check "explain: an address range" has "172.20.1.95:8080: direct by $F:$(line_of 172.20.1.91-98 "$F") (\"172.20.1.91-98\")"
check "explain: a port-limited rule, on its port" \
	grep -qF "lucid-mongodb:27017: direct by $F:" <<<"$out"
check "explain: a port-limited rule, another port is refused and says why" \
	has "lucid-mongodb:22: refuse by $F:$(line_of 'lucid-mongodb port 27017' "$F") (\"lucid-mongodb port 27017\"): this port is not among the rule's, so it is refused"
check "explain: a refuse rule" \
	has "x.example-tracker.com:443: refuse by $F:$(line_of 'refuse .example-tracker.com' "$F") (\"refuse .example-tracker.com\")"
check "explain: a tor rule, with the proxy and the isolation" \
	has "api.trongrid.io:443: tor by $F:$(line_of 'tor api.trongrid.io port 443' "$F") (\"tor api.trongrid.io port 443\"); proxy tor-proxy:$SPORT, by name (resolved at the exit), isolation process"
check "explain: a tor rule's other port is the default" grep -qF "api.trongrid.io:80: tor by default (no rule names it)" <<<"$out"
check "explain: a NO_PROXY name entry" has "git.corp.example:22: direct by NO_PROXY .corp.example (\".corp.example\"); resolved locally (hosts file, then the nameservers)"
check "explain: a NO_PROXY address entry" has "10.9.1.1:5432: direct by NO_PROXY 10.9.0.0/16 (\"10.9.0.0/16\")"
check "explain: the default, by name" grep -qF "example.com:443: tor by default (no rule names it); proxy tor-proxy:$SPORT, by name" <<<"$out"
check "explain: the default, by address" grep -qF "198.51.100.7:443: tor by default (no rule names it); proxy tor-proxy:$SPORT, by address" <<<"$out"
check "explain: an IPv6 address" grep -qF "[2001:db8::7]:443: tor by default" <<<"$out"
check "explain: .onion is built in" grep -qF "xyz.onion:80: tor by built-in onion" <<<"$out"
check "explain: localhost is built in" has "localhost:80: direct by built-in localhost"
check "explain: loopback is built in" has "127.0.0.1:5: direct by built-in localhost"
check "explain: the proxy is built in" grep -qF "tor-proxy:9050: direct by built-in proxy" <<<"$out"
for n in db.internal:5432 ledger nas.home.arpa printer.local:631; do
	check "explain: internal name $n refused, with the line to add" \
		has "$n: refuse by built-in internal-name: not in the policy: add it to $F to reach it directly (TORWRAP_INTERNAL_NAMES=tor would send it to Tor)"
done
out=$(env TORWRAP_MODE=tor-only "$TORWRAP" explain --policy "$F" tron-wallet-manager 2>&1)
check "explain: the mode" grep -qF "tron-wallet-manager: tor by mode tor-only" <<<"$out"
out=$("$TORWRAP" explain --mode=onion-only example.com 2>&1)
check "explain: onion-only refuses a name" grep -qF "example.com: refuse by mode onion-only" <<<"$out"
out=$(TORWRAP_INTERNAL_NAMES=tor "$TORWRAP" explain --policy "$F" db.internal 2>&1)
check "explain: TORWRAP_INTERNAL_NAMES=tor sends internal names to Tor" grep -qF "db.internal: tor by default" <<<"$out"
out=$("$TORWRAP" explain --policy "$WORK/nonexistent" example.com 2>&1)
rc=$?
check "explain: a broken configuration exits 78 and says why" \
	bash -c "[ $rc -eq 78 ] && grep -q 'example.com: refuse by broken configuration: ' <<<'$out'"
for bad in host:0 host:99999 host: '[::1' '[::1]x'; do
	"$TORWRAP" explain "$bad" >/dev/null 2>&1
	check "explain: $bad is a usage error" test $? -eq 2
done
"$TORWRAP" explain --bogus x >/dev/null 2>&1
check "explain: an unknown option is a usage error" test $? -eq 2
strace -f -qq -e trace=connect,sendto,sendmsg -o "$WORK/st.explain" "$TORWRAP" explain --policy "$F" example.com db.internal >/dev/null 2>&1
check "explain: sends nothing" bash -c "! grep -E 'connect|send' '$WORK/st.explain' | grep -q AF_INET"

# ---------------------------------------------------------------------------- internal names at lookup time
refused_line() { grep -q "lookup of $1 refused: not in the policy: add it to $TORWRAP_POLICY to reach it directly" <<<"$2"; }
T=$PROGRAMS/tcpget
for name in db.internal unknownsvc printer.local; do
	before=$(socks_count)
	out=$(strace_net "$WORK/st.$name" preload "$T" "$name" 80 2>&1)
	check "internal $name (LD_PRELOAD): the lookup fails" grep -q "getaddrinfo:" <<<"$out"
	check "internal $name (LD_PRELOAD): one line says to add it to the policy" refused_line "$name" "$out"
	check "internal $name (LD_PRELOAD): no packet to port 53" no_port53 "$WORK/st.$name"
	check "internal $name (LD_PRELOAD): the nameserver never asked" dns_not_asked "$DNS_LOG" "$name"
	check "internal $name (LD_PRELOAD): nothing sent to the proxy" test "$(socks_count)" -eq "$before"
	out=$(strace_net "$WORK/st2.$name" tw "$T" "$name" 80 2>&1)
	check "internal $name (wrapper): refused, nothing to port 53, nothing at the nameserver or the proxy" \
		bash -c "grep -q 'getaddrinfo:' <<<'$out' && ! grep -qE 'htons\(53\)' '$WORK/st2.$name' && ! grep -q '\"$name\"' '$DNS_LOG' && [ \$(wc -l <'$SOCKS_LOG') -eq $before ]"
done
# A program's own resolver under the wrapper: the responder answers REFUSED, the nameserver hears nothing.
out=$(tw "$PROGRAMS/leaky" dns-udp "$DNS_ADDR" "$DPORT" own.internal recvfrom 2>&1)
check "internal name, own resolver: refused by the responder" grep -q "DNS query for own.internal refused: not in the policy" <<<"$out"
check "internal name, own resolver: the nameserver never asked" dns_not_asked "$DNS_LOG" own.internal
# A static program under the supervisor.
if [[ -x /bin/busybox ]]; then
	out=$(tw /bin/busybox wget -q -O- "http://static.internal:$HPORT/" 2>&1)
	check "internal name, static program: refused" grep -q "refused: not in the policy" <<<"$out"
	check "internal name, static program: the nameserver never asked" dns_not_asked "$DNS_LOG" static.internal
fi
# The hosts file still answers (a container's own name is there): it sends nothing.
printf '127.0.0.1 localhost\n127.0.0.2 myhost myhost.lan\n' >"$WORK/hosts"
out=$(preload "$T" myhost.lan "$IPORT" 2>&1)
check "internal name in the hosts file: answered from there" grep -q "hello from tron-wallet-manager" <<<"$out"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$WORK/hosts"
# The control: sent to Tor, the same name reaches the proxy, by name (the watch above would have seen it).
before=$(socks_count)
out=$(TORWRAP_INTERNAL_NAMES=tor preload "$T" control.internal 80 2>&1)
check "control: TORWRAP_INTERNAL_NAMES=tor sends control.internal to the proxy, by name" \
	bash -c "[ \$(wc -l <'$SOCKS_LOG') -gt $before ] && grep -q 'control.internal' '$SOCKS_LOG'"
# An allowed internal name goes direct.
out=$(preload "$T" tron-wallet-manager "$IPORT" 2>&1)
check "an allowed single-label name: direct" grep -q "hello from tron-wallet-manager" <<<"$out"
finish
