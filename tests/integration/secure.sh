#!/usr/bin/env bash
# secure.sh: setuid programs in /etc/ld.so.preload mode (issue 18). glibc loads the library from that file into
# setuid and setcap programs too; their environment is then an unprivileged user's, and must not steer it.
#
# Each run here happens in a private mount namespace whose /etc is an overlay (nothing of the machine's /etc
# changes): /etc/ld.so.preload names the library, /etc/torwrap/policy is this test's, /etc/hosts names tor-proxy.
# The program runs as uid 65534 in two copies: one setuid root (secure-execution mode: AT_SECURE) and one plain.
# Each variable points at a file only root can read, or at a value whose effect shows: the plain copy must
# honour it (so the check can fail), the setuid copy must ignore it and never show the file's content.
. "$(dirname "$0")/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
	echo "secure.sh needs root (setuid copies, a private mount namespace, an overlay on /etc)"
	exit 77
fi
if ! unshare -m true 2>/dev/null || ! grep -qw overlay /proc/filesystems; then
	echo "secure.sh needs mount namespaces and overlayfs"
	exit 77
fi

start_world
NOBODY=65534
chmod 755 "$WORK"

# The library and the programs where uid 65534 can reach them; the setuid copies owned by root.
mkdir -p "$WORK/bin"
cp "$LIBTORWRAP" "$WORK/bin/libtorwrap.so"
for p in resolve tcpget id; do
	src=$PROGRAMS/$p
	[[ $p == id ]] && src=$(command -v id)
	cp "$src" "$WORK/bin/$p"
	cp "$src" "$WORK/bin/suid-$p"
	chown root:root "$WORK/bin/suid-$p"
	chmod 4755 "$WORK/bin/suid-$p"
done
chmod -R a+rX "$WORK/bin"
# In the sanitizer run the ASan runtime must come first in the preload file, as in LD_PRELOAD.
PRELOAD_LINE="${SAN_PRELOAD:+${SAN_PRELOAD//:/ } }$WORK/bin/libtorwrap.so"

# Files only root can read. Their first lines are marked, to be looked for in every output.
SECRET="SECRET-$RANDOM-$RANDOM"
printf '%s not a policy line\n' "$SECRET" >"$WORK/secret"
printf '127.0.0.7 secret-host.example.test %s\n' "$SECRET" >"$WORK/secret-hosts"
printf 'nameserver %s:%s\n# %s\n' "$DNS_ADDR" "$DPORT" "$SECRET" >"$WORK/secret-resolv"
chmod 600 "$WORK/secret" "$WORK/secret-hosts" "$WORK/secret-resolv"
printf 'tron-wallet-manager\n' >"$WORK/etc-policy"
chmod 644 "$WORK/etc-policy"

# secns POLICY CMD...: CMD in a private mount namespace with /etc as an overlay: /etc/ld.so.preload naming the
# library, /etc/torwrap/policy a copy of POLICY (mode kept), /etc/hosts naming tor-proxy (nothing listens there:
# a connection through the built-in proxy fails closed, naming it), /etc/resolv.conf the test's nameserver (it
# knows lucid-mongodb). As uid 65534, environment cleared but for what the caller passes with env.
secns() {
	local policy=$1 keep=()
	shift
	[[ -n ${ASAN_OPTIONS:-} ]] && keep+=("ASAN_OPTIONS=$ASAN_OPTIONS" "UBSAN_OPTIONS=${UBSAN_OPTIONS:-}")
	# A clean environment from the start: the library in setpriv (loaded once /etc/ld.so.preload is there) would
	# otherwise carry this test's own TORWRAP_* variables into the program.
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${keep[@]}" unshare -m -- sh -c '
		w=$1 line=$2 policy=$3 dport=$4
		shift 4
		mkdir -p "$w/ovl" && mount -t tmpfs tmpfs "$w/ovl" && mkdir "$w/ovl/up" "$w/ovl/wk" &&
		mount -t overlay overlay -o "lowerdir=/etc,upperdir=$w/ovl/up,workdir=$w/ovl/wk" /etc &&
		echo "$line" >/etc/ld.so.preload && mkdir -p /etc/torwrap && cp -p "$policy" /etc/torwrap/policy &&
		echo "127.0.0.3 tor-proxy" >>/etc/hosts &&
		rm -f /etc/resolv.conf && echo "nameserver 127.0.0.11:$dport" >/etc/resolv.conf || exit 99
		exec setpriv --reuid='"$NOBODY"' --regid='"$NOBODY"' --clear-groups env -i PATH=/usr/bin:/bin "$@"
	' _ "$WORK" "$PRELOAD_LINE" "$policy" "$DPORT" "${keep[@]}" "$@"
}
# run KIND VAR=VALUE... -- PROGRAM ARGS: the setuid (KIND suid) or plain (KIND plain) copy of PROGRAM.
run() {
	local kind=$1
	shift
	local vars=()
	while [[ $1 != -- ]]; do vars+=("$1"); shift; done
	shift
	local prog=$1
	shift
	[[ $kind == suid ]] && prog=suid-$prog
	secns "$WORK/etc-policy" "${vars[@]}" "$WORK/bin/$prog" "$@" 2>&1
}
no_secret() { ! grep -q "$SECRET" <<<"$1"; }
virtual() { grep -qE "^127\.(19[2-9]|2[0-5][0-9])\.[0-9]+\.[0-9]+$" <<<"$1"; }

# ------------------------------------------------------------------------------------------------ the setup
out=$(run plain -- resolve gai secure-control.example.test)
check "control: in the namespace, a plain program gets the library from /etc/ld.so.preload" virtual "$out"
out=$(run suid -- resolve gai secure-control.example.test)
check "control: so does the setuid copy (glibc reads the file for secure programs)" virtual "$out"
out=$(run suid -- id -u)
check "control: the setuid copy runs with effective uid 0" grep -qx 0 <<<"$out"
out=$(run plain -- id -u)
check "control: the plain copy runs as uid $NOBODY" grep -qx "$NOBODY" <<<"$out"

# -------------------------------------------------------------------------------------- files it would read
for var in TORWRAP_POLICY:secret TORWRAP_HOSTS:secret-hosts TORWRAP_RESOLV_CONF:secret-resolv; do
	v=${var%%:*} f=$WORK/${var#*:}
	out=$(run plain "$v=$f" -- resolve gai secret-host.example.test)
	check "$v (root-only file), plain program: honoured (cannot read it)" grep -q "$v.*cannot read" <<<"$out"
	out=$(run suid "$v=$f" TORWRAP_LOG_LEVEL=debug -- resolve gai secret-host.example.test)
	check "$v (root-only file), setuid program: nothing of the file shown" no_secret "$out"
	check "$v (root-only file), setuid program: ignored, built-in configuration used" virtual "$out"
	check "$v, setuid program: one line says the environment was ignored" \
		[ "$(grep -c 'secure-execution mode' <<<"$out")" -eq 1 ]
done

# The built-in policy file itself broken, readable by root only: named with its line, never quoted.
cp "$WORK/secret" "$WORK/etc-policy-secret"
chmod 600 "$WORK/etc-policy-secret"
out=$(secns "$WORK/etc-policy-secret" "$WORK/bin/suid-resolve" gai secret-host.example.test 2>&1)
check "/etc/torwrap/policy unparsable, setuid program: file and line named" grep -q "/etc/torwrap/policy:1" <<<"$out"
check "/etc/torwrap/policy unparsable, setuid program: the line is not shown" no_secret "$out"
out=$(secns "$WORK/etc-policy-secret" "$WORK/bin/resolve" gai secret-host.example.test 2>&1)
check "/etc/torwrap/policy unreadable, plain program: says so, shows nothing of it" \
	bash -c "grep -q 'cannot read' <<<'$out' && ! grep -q '$SECRET' <<<'$out'"

# ------------------------------------------------------------------------------------ values that steer it
out=$(run plain TORWRAP_VIRTUAL_NET=127.100.0.0/16 -- resolve gai vnet.example.test)
check "TORWRAP_VIRTUAL_NET, plain program: honoured" grep -qE '^127\.100\.' <<<"$out"
out=$(run suid TORWRAP_VIRTUAL_NET=127.100.0.0/16 -- resolve gai vnet.example.test)
check "TORWRAP_VIRTUAL_NET, setuid program: ignored" virtual "$out"

out=$(run plain TORWRAP_MODE=onion-only -- resolve gai mode.example.test)
check "TORWRAP_MODE=onion-only, plain program: honoured (name refused)" bash -c "! grep -qE '^127\.' <<<'$out'"
out=$(run suid TORWRAP_MODE=onion-only -- resolve gai mode.example.test)
check "TORWRAP_MODE=onion-only, setuid program: ignored" virtual "$out"

out=$(run plain TORWRAP_LOG_LEVEL=info -- resolve gai log.example.test)
check "TORWRAP_LOG_LEVEL=info, plain program: honoured" grep -q "^torwrap\[[0-9]*\]: info: " <<<"$out"
out=$(run suid TORWRAP_LOG_LEVEL=info -- resolve gai log.example.test)
check "TORWRAP_LOG_LEVEL=info, setuid program: ignored (the one warning only)" \
	[ "$(grep -c torwrap <<<"$out")" -eq 1 ]

for var in "TORWRAP_PROXY=127.0.0.1:$SPORT" "TOR_PROXY_URL=socks5h://127.0.0.1:$SPORT" \
	"SOCKS5_PROXY=127.0.0.1:$SPORT" "TOR_PROXY_HOST=127.0.0.1 TOR_PROXY_SOCKS_PORT=$SPORT"; do
	v=${var%%=*}
	# shellcheck disable=SC2086 # two variables in one item
	out=$(run plain $var -- tcpget proxy.example.test "$HPORT")
	check "$v, plain program: honoured (fetched through that proxy)" grep -q "hello from the internet" <<<"$out"
	# shellcheck disable=SC2086
	out=$(run suid $var -- tcpget proxy.example.test "$HPORT")
	check "$v, setuid program: ignored (the built-in tor-proxy:9050, which fails closed here)" \
		grep -q "proxy tor-proxy:9050 unreachable" <<<"$out"
done

out=$(run plain NO_PROXY=lucid-mongodb -- tcpget lucid-mongodb "$IPORT")
check "NO_PROXY, plain program: honoured (the name direct)" grep -q "hello from tron-wallet-manager" <<<"$out"
out=$(run suid NO_PROXY=lucid-mongodb -- tcpget lucid-mongodb "$IPORT")
# Ignored, the single-label name is not in the policy: refused as an internal name (it would be direct if honoured).
check "NO_PROXY, setuid program: ignored (the name refused as internal, not direct)" \
	grep -q "lookup of lucid-mongodb refused: not in the policy" <<<"$out"

# The shared map: a plain program (python) resolves a name, so its map exists and its children are handed it
# (TORWRAP_VMAP_FD); then a plain child and the setuid copy resolve other names. Sharing the map, a child gets
# a new address; ignoring the descriptor, the setuid copy gets the first address of a map of its own, the one
# python got.
out=$(secns "$WORK/etc-policy" python3 -c "
import socket
print(socket.getaddrinfo('first.example.test', 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0], flush=True)
import subprocess
subprocess.run(['$WORK/bin/resolve', 'gai', 'second.example.test'])
subprocess.run(['$WORK/bin/suid-resolve', 'gai', 'third.example.test'])" 2>"$WORK/vmap.err")
first=$(sed -n 1p <<<"$out") plain=$(sed -n 2p <<<"$out") suid=$(sed -n 3p <<<"$out")
check "TORWRAP_VMAP_FD, control: a plain child shares its parent's map ($first, then $plain)" \
	bash -c "[[ '$first' =~ ^127\.19[2-9]\. && '$plain' =~ ^127\.19[2-9]\. && '$first' != '$plain' ]]"
check "TORWRAP_VMAP_FD, setuid program: not mapped, a map of its own ($suid)" [ "$suid" = "$first" ]
check "TORWRAP_VMAP_FD, setuid program: the one line says it was ignored" grep -q "secure-execution mode.*1 torwrap variable" "$WORK/vmap.err"

# --------------------------------------------------------------------------------------------- the exec rule
out=$(secns "$WORK/etc-policy" sh -c "$WORK/bin/suid-resolve gai exec.example.test" 2>&1)
check "ld.so.preload mode: a wrapped program may exec a setuid one (it is wrapped too)" virtual "$out"
out=$(preload sh -c "$WORK/bin/suid-resolve gai exec.example.test" 2>&1)
check "LD_PRELOAD mode: the exec of a setuid program is refused (it would run unwrapped)" \
	grep -q "exec refused.*setuid" <<<"$out"

finish
