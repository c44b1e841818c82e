#!/usr/bin/env bash
# container.sh: torwrap in distroless images, run by a real OCI runtime (podman + runc), watched on the wire.
#
# Builds a distroless-style image from scratch with buildah (the dynamic loader, libc and tests/programs/
# svcclient.c: no shell, USER 65532), injects torwrap with scripts/inject-distroless in each mode (env,
# entrypoint, preload-file) and through docs/Dockerfile.example (multi-stage COPY --from=), and runs each as
# UID 65532 with a read-only root and no /dev/shm, in a network namespace of its own. A veth links it to a second
# namespace holding the stack: tor-proxy (tests/tools/socks5_server.py) at 172.20.0.10:9050, the container
# nameserver (tests/tools/dns_server.py) at 172.20.0.53, an internal service (tron-wallet-manager,
# 172.20.1.93:8093) and "the internet" (198.18.0.10:80, reached by the proxy only). tcpdump captures the
# service side of the veth; every packet must be to the proxy, to an allowed internal service, or a DNS query
# for an allowed name. A run of the image without torwrap must show leaks (the capture can see them). A musl
# (Alpine-like) image gets the musl variant of the library (built by scripts/build-musl when missing: ~2 minutes
# the first time) and passes the same checks. A fully static image (no loader; the client linked with -static)
# is served in entrypoint mode, torwrap's seccomp supervisor routing the program's raw system calls (the
# container runs with --security-opt seccomp=unconfined: podman's default profile may block seccomp user
# notification), and passes the same checks; env mode must refuse it. Images torwrap cannot serve (musl
# without the musl variant) must be refused by the script.
#
# Every address exists only inside the namespaces made here; nothing reaches the machine's network. podman and
# buildah keep everything under the test's temporary directory (storage, runtime state, configuration), and run
# in a private mount namespace where /var/lib is an overlay, so their caches do not land on the machine either.
# Needs root; exits 77 otherwise.
if [[ $(id -u) -ne 0 ]]; then
	echo "container tests need root (network namespaces, podman)"
	exit 77
fi
if [[ ${TW_SANITIZE:-0} == 1 ]]; then
	# The sanitizer build's library needs libasan, which no distroless image has: the plain `make test` run
	# covers the images. Nothing is counted here.
	echo "# container.sh: not run against the sanitizer build (its library needs libasan); make test runs it"
	exit 0
fi
missing=
for t in podman buildah runc tcpdump ip unshare readelf; do
	command -v "$t" >/dev/null || missing+=" $t"
done
if [[ -n $missing ]]; then
	echo "container tests need:$missing (scripts/install-deps installs them)"
	exit 77
fi
# A private mount namespace: the network namespaces' mounts and the /var/lib overlay vanish with it.
if [[ -z ${TW_CONTAINER_PRIVATE:-} ]]; then
	TW_CONTAINER_PRIVATE=1 exec unshare --mount --propagation private "$0" "$@"
fi

. "$(dirname "$0")/lib.sh"
T0=$SECONDS
INJECT=$TW_TOP/scripts/inject-distroless
CLIENT=$PROGRAMS/svcclient
[[ -x $CLIENT && -x $TORWRAP && -r $LIBTORWRAP ]] || { notok "build: $CLIENT, $TORWRAP, $LIBTORWRAP (make all programs)"; finish; }

# --------------------------------------------------------------------------- podman and buildah, all in WORK
mkdir -p "$WORK/c/tmp" "$WORK/c/runc" "$WORK/c/bin" "$WORK/c/ovl/up" "$WORK/c/ovl/work"
# runc, with its state in WORK rather than /run/runc (podman's cleanup runs it without --runtime-flag).
RUNC=$(command -v runc)
printf '#!/bin/sh\nexec %s --root %s "$@"\n' "$RUNC" "$WORK/c/runc" >"$WORK/c/bin/runc"
chmod 0755 "$WORK/c/bin/runc"
cat >"$WORK/c/containers.conf" <<EOF
[containers]
default_ulimits = []
netns = "none"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/c/events.log"
tmp_dir = "$WORK/c/libpod-tmp"
image_copy_tmp_dir = "$WORK/c/tmp"
[engine.runtimes]
runc = ["$WORK/c/bin/runc"]
[network]
network_config_dir = "$WORK/c/cni"
EOF
cat >"$WORK/c/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$WORK/c/storage"
runroot = "$WORK/c/run"
EOF
: >"$WORK/c/registries.conf" # no registry: every image here is built locally
export CONTAINERS_CONF=$WORK/c/containers.conf CONTAINERS_STORAGE_CONF=$WORK/c/storage.conf
export CONTAINERS_REGISTRIES_CONF=$WORK/c/registries.conf TMPDIR=$WORK/c/tmp
# buildah's blob cache is always /var/lib/containers/cache for root: send it to WORK through an overlay.
if ! mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$WORK/c/ovl/up,workdir=$WORK/c/ovl/work" /var/lib; then
	echo "# no overlay on /var/lib: buildah's blob cache goes to /var/lib/containers/cache" >&2
fi
PODMAN=(podman)

# -------------------------------------------------------------------------------------- the two namespaces
ID=$(printf '%x' $$)
SVC=twc-$ID-svc     # the service container's network namespace
NET=twc-$ID-net     # the stack: tor-proxy, nameserver, internal service, "the internet"
VS=twcs$ID VN=twcn$ID
SVC_IP=172.20.1.91 GW_IP=172.20.0.1 PROXY_IP=172.20.0.10 DNS_IP=172.20.0.53
WALLET_IP=172.20.1.93 METRICS_IP=172.20.2.5 INET_IP=198.18.0.10
CAP_PID=

container_cleanup() {
	[[ -z $CAP_PID ]] || { kill -INT "$CAP_PID" 2>/dev/null; wait "$CAP_PID" 2>/dev/null; }
	"${PODMAN[@]}" rm -a -f >/dev/null 2>&1
	tw_cleanup_servers
	ip link del "$VS" 2>/dev/null # if setup stopped before moving it into its namespace
	ip netns del "$SVC" 2>/dev/null
	ip netns del "$NET" 2>/dev/null
	umount /var/lib 2>/dev/null
	tw_cleanup
}
# lib.sh's cleanup kills and waits for the servers; ours first stops them, then the namespaces go.
tw_cleanup_servers() {
	local p
	for p in "${TW_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${TW_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	TW_PIDS=()
}
trap container_cleanup EXIT

setup_net() {
	ip netns add "$SVC" && ip netns add "$NET" || return 1
	ip link add "$VS" type veth peer name "$VN" || return 1
	ip link set "$VS" netns "$SVC" && ip link set "$VN" netns "$NET" || return 1
	local s=(ip netns exec "$SVC") n=(ip netns exec "$NET")
	# IPv4 only: no router solicitations or other IPv6 chatter in the capture.
	"${s[@]}" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || return 1
	"${n[@]}" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || return 1
	"${s[@]}" ip link set lo up && "${s[@]}" ip link set "$VS" up || return 1
	"${s[@]}" ip addr add "$SVC_IP/16" dev "$VS" || return 1
	# A default route, so anything that leaks is sent (into the stack namespace) and captured, not dropped.
	"${s[@]}" ip route add default via "$GW_IP" || return 1
	"${n[@]}" ip link set lo up && "${n[@]}" ip link set "$VN" up || return 1
	local a
	for a in "$GW_IP" "$PROXY_IP" "$DNS_IP" "$WALLET_IP" "$METRICS_IP"; do
		"${n[@]}" ip addr add "$a/16" dev "$VN" || return 1
	done
	"${n[@]}" ip addr add "$INET_IP/32" dev lo
}

nsbg() { # nsbg NAME COMMAND...: a server in the stack namespace
	local name=$1
	shift
	ip netns exec "$NET" "$@" >"$WORK/$name.out" 2>&1 &
	TW_PIDS+=($!)
}
ns_http() { # ns_http NAME ADDR PORT BODY
	mkdir -p "$WORK/www-$1"
	echo "$4" >"$WORK/www-$1/index.html"
	nsbg "http-$1" $PY -m http.server --bind "$2" --directory "$WORK/www-$1" "$3"
	local i
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$NET" curl -s --max-time 1 --noproxy '*' "http://$2:$3/" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

start_stack() {
	ns_http inet "$INET_IP" 80 "hello from the internet" || return 1
	ns_http wallet "$WALLET_IP" 8093 "hello from tron-wallet-manager" || return 1
	ns_http metrics "$METRICS_IP" 9100 "hello from lucid-metrics" || return 1
	SOCKS_LOG=$WORK/socks.log DNS_LOG=$WORK/dns.log
	nsbg socks $PY "$TOOLS/socks5_server.py" --listen "$PROXY_IP:9050" --log "$SOCKS_LOG" \
		--default-ip "$INET_IP" --ready-file "$WORK/socks.ready"
	nsbg dns $PY "$TOOLS/dns_server.py" --listen "$DNS_IP:53" --log "$DNS_LOG" --ready-file "$WORK/dns.ready" \
		--record tor-proxy=$PROXY_IP --record tron-wallet-manager=$WALLET_IP --record lucid-metrics=$METRICS_IP \
		--record api.trongrid.io=$INET_IP
	wait_file "$WORK/socks.ready" && wait_file "$WORK/dns.ready" || return 1
	touch "$SOCKS_LOG" "$DNS_LOG"
	# What the container sees as /etc/resolv.conf and /etc/hosts (Docker writes its own; so do we).
	printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$DNS_IP" >"$WORK/resolv.conf"
	printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$WORK/hosts"
}

# capture_start NAME / capture_stop: tcpdump on the service side of the veth.
capture_start() {
	PCAP=$WORK/$1.pcap
	ip netns exec "$SVC" tcpdump -i "$VS" -nn -U --immediate-mode -w "$PCAP" >"$WORK/$1.tcpdump" 2>&1 &
	CAP_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q "listening on" "$WORK/$1.tcpdump" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
capture_stop() {
	sleep 0.3 # the last replies
	kill -INT "$CAP_PID" 2>/dev/null
	wait "$CAP_PID" 2>/dev/null
	CAP_PID=
}

# no_leak PCAP [EXTRA-ALLOWED-ADDR:PORT...]: every IPv4 packet of the capture is to or from tor-proxy:9050, an
# allowed internal service, or the nameserver about an allowed name (the policy's, tor-proxy, and EXTRA_NAMES).
# Prints each offending packet.
ALLOWED_NAMES="tor-proxy tron-wallet-manager lucid-tron-client tron-payout-router tron-usdt-manager tron-staking tron-payment-gateway tron-relay lucid-mongodb lucid-redis"
no_leak() {
	local pcap=$1
	shift
	tcpdump -nn -r "$pcap" 2>/dev/null >"$pcap.txt"
	$PY - "$pcap.txt" "$SVC_IP" "$PROXY_IP:9050 $WALLET_IP:8093 $*" "$DNS_IP:53" "$ALLOWED_NAMES ${EXTRA_NAMES:-}" <<'PYEOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
svc, allowed, dns, names = sys.argv[2], set(sys.argv[3].split()), sys.argv[4], set(sys.argv[5].split())
bad, counts = [], {"proxy": 0, "direct": 0, "dns": 0}
def split(a):
    ip, _, port = a.rpartition(".")
    return (ip, port) if ip.count(".") == 3 else (a, "")
for l in lines:
    if " ARP, " in l or l.split(" ", 1)[-1].startswith("ARP"):
        continue
    m = re.search(r" IP (\S+) > (\S+?):? (.*)$", l)
    if not m:
        bad.append(l); continue
    src, dst, rest = split(m.group(1)), split(m.group(2)), m.group(3)
    peer = dst if src[0] == svc else src
    key = f"{peer[0]}:{peer[1]}"
    if key == dns:
        for q in re.findall(r"\b(?:A|AAAA|PTR|ANY|MX|TXT|SRV|HTTPS|SVCB|CNAME|NS|SOA)\? (\S+?)\.? ", rest + " "):
            if q.lower().rstrip(".") not in names:
                bad.append(l)
        counts["dns"] += 1
    elif key in allowed:
        counts["proxy" if peer[1] == "9050" else "direct"] += 1
    else:
        bad.append(l)
for l in bad:
    print("# leak:", l)
print("# packets: %d to/from the proxy, %d direct to allowed services, %d DNS (allowed names)" %
      (counts["proxy"], counts["direct"], counts["dns"]))
sys.exit(1 if bad or counts["proxy"] == 0 else 0)
PYEOF
}

# crun IMAGE [ARGS...]: the image as the distroless service runs: UID 65532, read-only root, no /dev/shm, no
# /tmp, in the service namespace, with the stack's resolv.conf and hosts. Output in $WORK/run.out/.err.
crun() {
	local image=$1
	shift
	timeout 90 "${PODMAN[@]}" run --rm --pull never --network "ns:/run/netns/$SVC" --user 65532:65532 \
		--read-only --read-only-tmpfs=false --ipc none \
		-v "$WORK/resolv.conf:/etc/resolv.conf:ro" -v "$WORK/hosts:/etc/hosts:ro" \
		-e TOR_CONNECTIVITY_TIMEOUT=5 -e TORWRAP_LOG_LEVEL=info "${CRUN_ENV[@]}" "${CRUN_OPTS[@]}" \
		"$image" "$@" >"$WORK/run.out" 2>"$WORK/run.err"
}
CRUN_ENV=() CRUN_OPTS=() # CRUN_OPTS: more podman run options (the static variant's seccomp profile)
line() { grep -F "$1: " "$WORK/run.out" | head -n 1 | sed "s/^[^ ]*: //"; }
line2() { grep -F "$1: " "$WORK/run.out" | sed -n 2p | sed "s/^[^ ]*: //"; }
socks_saw_name() { # socks_saw_name HOST PORT: the proxy got HOST by name (ATYP 3)
	$PY - "$SOCKS_LOG" "$1" "$2" <<-'PYEOF'
	import json, sys
	want = (3, sys.argv[2], int(sys.argv[3]))
	sys.exit(0 if any((r["atyp"], r["host"], r["port"]) == want for r in map(json.loads, open(sys.argv[1]))) else 1)
	PYEOF
}
cfg() { # cfg IMAGE KEY: one field of the image's configuration, as JSON
	"${PODMAN[@]}" image inspect "$1" | $PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[0]["Config"].get(sys.argv[1])))' "$2"
}

# ------------------------------------------------------------------------------------------------ the setup
setup_net || { notok "network namespaces ($SVC, $NET) and veth"; finish; }
start_stack || { notok "the stack's servers in $NET"; finish; }

check "readelf -d: libtorwrap.so needs only libc and the loader" \
	bash -c "[[ \$(readelf -d '$LIBTORWRAP' | grep -c NEEDED) -ge 1 && \$(readelf -d '$LIBTORWRAP' | grep NEEDED | grep -vcE '\[(libc\.so\.6|ld-linux-x86-64\.so\.2)\]') -eq 0 ]]"
check "torwrap is statically linked" bash -c "! readelf -l '$TORWRAP' | grep -q 'program interpreter'"
check "svcclient needs only libc" bash -c "[[ \$(readelf -d '$CLIENT' | grep NEEDED | grep -vc 'libc\.so\.6') -eq 0 ]]"

# The distroless-style base: loader, libc, the client; no shell; USER 65532, WORKDIR, ENTRYPOINT + CMD.
BASE=localhost/twtest-base:1
LOADER=$(readelf -l "$CLIENT" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
LIBC=$(ldd "$CLIENT" | awk '/libc\.so\.6/ {print $3}')
build_base() {
	local c
	c=$(buildah from --quiet scratch) || return 1
	buildah copy --quiet "$c" "$(readlink -f "$LOADER")" "$LOADER" >/dev/null &&
		buildah copy --quiet "$c" "$(readlink -f "$LIBC")" /lib/x86_64-linux-gnu/libc.so.6 >/dev/null &&
		buildah copy --quiet --chmod 0755 "$c" "$CLIENT" /usr/bin/svcclient >/dev/null &&
		buildah config --user 65532:65532 --workingdir /home/nonroot \
			--env PATH=/usr/local/bin:/usr/bin:/bin --entrypoint '["/usr/bin/svcclient"]' --cmd '["whoami"]' "$c" &&
		buildah commit --quiet "$c" "$BASE" >/dev/null
	local rc=$?
	buildah rm "$c" >/dev/null
	return $rc
}
check "buildah: distroless-style base image from scratch (loader, libc, client; no shell)" build_base
no_shell() { ! "${PODMAN[@]}" run --rm --pull never --network none --entrypoint /bin/sh "$BASE" -c true >/dev/null 2>&1; }
check "base image has no shell" no_shell

# What the service does in every run: reach the internet by name, an internal service by name, an IP address,
# look a name up (then again in an exec'd child: the map is shared), its own DNS query, a UDP datagram out.
STEPS=(whoami get:api.trongrid.io:80 get:tron-wallet-manager:8093 get:lucid-metrics:9100 get:$INET_IP:80
	resolve:api.trongrid.io dns:api.trongrid.io udp:$INET_IP:9999 exec resolve:api.trongrid.io whoami)

# -------------------------------------------------------------------------- control: the base, no torwrap
capture_start control || notok "tcpdump in $SVC"
crun "$BASE" get:api.trongrid.io:80 udp:$INET_IP:9999
capture_stop
check "control (no torwrap): the service reaches the internet directly" \
	[ "$(line get:api.trongrid.io:80)" = "hello from the internet" ]
out=$(no_leak "$PCAP")
check "control (no torwrap): the capture sees the leaks (DNS query, direct SYN, UDP)" \
	bash -c "grep -q 'A? api.trongrid.io' <<<'$out' && grep -q '> $INET_IP.80: Flags \[S\]' <<<'$out' && grep -q '> $INET_IP.9999: UDP' <<<'$out'"
check "control (no torwrap): the nameserver heard api.trongrid.io" dns_asked "$DNS_LOG" api.trongrid.io
: >"$DNS_LOG"

# ------------------------------------------------------------------------ one injected image, run and watched
# variant MODE IMAGE [NO_PROXY]: run STEPS in IMAGE and check every result, the proxy's log and the capture.
variant() {
	local mode=$1 image=$2 noproxy=${3:-}
	CRUN_ENV=()
	[[ -z $noproxy ]] || CRUN_ENV=(-e "NO_PROXY=$noproxy")
	: >"$SOCKS_LOG"
	: >"$DNS_LOG"
	capture_start "$mode" || notok "$mode: tcpdump"
	crun "$image"
	local rc=$?
	capture_stop
	cp "$WORK/run.out" "$WORK/$mode.default.out"
	check "$mode: image's own CMD runs, as UID 65532, read-only root, no /dev/shm (exit $rc)" \
		[ "$(line whoami)" = "uid 65532 gid 65532 rootfs ro shm no" ]
	capture_start "$mode-steps" || notok "$mode: tcpdump"
	crun "$image" "${STEPS[@]}"
	rc=$?
	capture_stop
	cp "$WORK/run.out" "$WORK/$mode.out"
	cp "$WORK/run.err" "$WORK/$mode.err"
	if [[ ${TW_VERBOSE:-0} == 1 ]]; then sed "s/^/# $mode: /" "$WORK/run.out" "$WORK/run.err" >&2; fi
	check "$mode: service exited 0" [ $rc -eq 0 ]
	check "$mode: internet name fetched through tor-proxy" [ "$(line get:api.trongrid.io:80)" = "hello from the internet" ]
	check "$mode: tor-proxy got the hostname (ATYP 3)" socks_saw_name api.trongrid.io 80
	check "$mode: nameserver never asked about api.trongrid.io" dns_not_asked "$DNS_LOG" api.trongrid.io
	check "$mode: allowed internal name reached directly" \
		[ "$(line get:tron-wallet-manager:8093)" = "hello from tron-wallet-manager" ]
	check "$mode: internal name resolved by the container's nameserver" dns_asked "$DNS_LOG" tron-wallet-manager
	if [[ -n $noproxy ]]; then
		check "$mode: NO_PROXY=$noproxy goes direct" [ "$(line get:lucid-metrics:9100)" = "hello from lucid-metrics" ]
		check "$mode: NO_PROXY name not sent to tor-proxy" bash -c "! grep -q lucid-metrics '$SOCKS_LOG'"
	else
		# A single-label name cannot exist on the Internet: refused at lookup, not sent to Tor (issue 16).
		check "$mode: internal name not in the policy (lucid-metrics) refused, with the line to add" \
			grep -q "lucid-metrics refused: not in the policy: add it to" "$WORK/run.err"
		check "$mode: ... not sent to tor-proxy" bash -c "! grep -q lucid-metrics '$SOCKS_LOG'"
		check "$mode: ... and not looked up locally" dns_not_asked "$DNS_LOG" lucid-metrics
	fi
	check "$mode: IP address (not allowed) through tor-proxy" [ "$(line get:$INET_IP:80)" = "hello from the internet" ]
	local v
	v=$(line resolve:api.trongrid.io)
	check "$mode: name answered with a virtual address" grep -qE '^127\.(19[2-9]|2[0-5][0-9])\.' <<<"$v"
	check "$mode: exec'd child sees the same virtual address (memfd map, nothing written)" \
		[ -n "$v" -a "$(line2 resolve:api.trongrid.io)" = "$v" ]
	check "$mode: exec'd child still UID 65532" [ "$(line2 whoami)" = "uid 65532 gid 65532 rootfs ro shm no" ]
	check "$mode: UDP datagram to the internet refused (EPERM)" [ "$(line udp:$INET_IP:9999)" = "error sendto EPERM" ]
	local extra=
	[[ -z $noproxy ]] || extra=$METRICS_IP:9100
	out=$(EXTRA_NAMES=$noproxy no_leak "$PCAP" $extra)
	local nl=$?
	[[ $nl -eq 0 ]] || echo "$out" | head -n 20
	check "$mode: capture: nothing but tor-proxy, allowed services and allowed DNS names ($(tail -n 1 <<<"$out" | sed 's/^# packets: //'))" [ $nl -eq 0 ]
}

inject() { "$INJECT" "$@" --build "$TW_BUILD" --quiet >/dev/null; }
# keeps IMAGE: USER, CMD and WORKDIR as in the base.
keeps() {
	[ "$(cfg "$1" User)" = '"65532:65532"' ] && [ "$(cfg "$1" Cmd)" = '["whoami"]' ] &&
		[ "$(cfg "$1" WorkingDir)" = '"/home/nonroot"' ]
}

# ---------------------------------------------------------------------------------------------- env mode
IMG=localhost/twtest-env:1
check "inject-distroless --mode env" inject "$BASE" "$IMG" --mode env
check "env: USER, CMD, WORKDIR kept" keeps "$IMG"
env_set() {
	grep -qF '"LD_PRELOAD=/usr/lib/torwrap/libtorwrap.so"' <<<"$(cfg "$1" Env)" &&
		[ "$(cfg "$1" Entrypoint)" = '["/usr/bin/svcclient"]' ]
}
check "env: ENV LD_PRELOAD set, ENTRYPOINT untouched" env_set "$IMG"
mnt=$("${PODMAN[@]}" image mount "$IMG" 2>/dev/null)
check "env: the image's library is the build's, and needs only libc" \
	bash -c "[ -n '$mnt' ] && cmp -s '$mnt/usr/lib/torwrap/libtorwrap.so' '$LIBTORWRAP' && [[ \$(readelf -d '$mnt/usr/lib/torwrap/libtorwrap.so' | grep NEEDED | grep -vcE '\[(libc\.so\.6|ld-linux-x86-64\.so\.2)\]') -eq 0 ]]"
check "env: layer files owned by root, world-readable, policy from --policy" \
	bash -c "[ \"\$(stat -c '%u %a' '$mnt/usr/lib/torwrap/libtorwrap.so' '$mnt/usr/bin/torwrap' '$mnt/etc/torwrap/policy' | tr '\n' ' ')\" = '0 644 0 755 0 644 ' ] && cmp -s '$mnt/etc/torwrap/policy' '$TW_TOP/docs/policy.example'"
"${PODMAN[@]}" image unmount "$IMG" >/dev/null 2>&1
variant env "$IMG" lucid-metrics

# An image in Docker's format keeps its format, and so its HEALTHCHECK (which OCI's configuration cannot hold).
docker_format_kept() {
	local c
	c=$(buildah from --quiet "$BASE") || return 1
	buildah config --healthcheck 'CMD ["/usr/bin/svcclient", "whoami"]' --healthcheck-interval 30s "$c" 2>/dev/null
	buildah commit --quiet --format docker "$c" localhost/twtest-docker:1 >/dev/null
	buildah rm "$c" >/dev/null
	inject localhost/twtest-docker:1 localhost/twtest-docker:2 --mode env || return 1
	[ "$("${PODMAN[@]}" image inspect --format '{{.ManifestType}}' localhost/twtest-docker:2)" = \
		application/vnd.docker.distribution.manifest.v2+json ] &&
		"${PODMAN[@]}" image inspect localhost/twtest-docker:2 | grep -q '"Healthcheck"'
}
check "Docker-format image: format and HEALTHCHECK kept" docker_format_kept

# ------------------------------------------------------------------------------------------ entrypoint mode
IMG=localhost/twtest-entrypoint:1
check "inject-distroless --mode entrypoint" inject "$BASE" "$IMG" --mode entrypoint
check "entrypoint: USER, CMD, WORKDIR kept" keeps "$IMG"
check "entrypoint: ENTRYPOINT wrapped with torwrap --" \
	[ "$(cfg "$IMG" Entrypoint)" = '["/usr/bin/torwrap", "--", "/usr/bin/svcclient"]' ]
variant entrypoint "$IMG"
# torwrap in the image fails closed on a broken configuration, before the service runs.
CRUN_ENV=(-e TORWRAP_POLICY=/etc/torwrap/missing)
crun "$IMG" get:api.trongrid.io:80
rc=$?
check "entrypoint: broken configuration: torwrap refuses to start the service (exit 78)" [ $rc -eq 78 ]
check "entrypoint: ... and says why" grep -q "configuration error" "$WORK/run.err"
CRUN_ENV=()
out=$("$INJECT" "$IMG" localhost/twtest-entrypoint:2 --mode entrypoint --build "$TW_BUILD" --quiet 2>&1) || echo "$out"
check "entrypoint: injecting twice does not wrap twice" \
	[ "$(cfg localhost/twtest-entrypoint:2 Entrypoint)" = '["/usr/bin/torwrap", "--", "/usr/bin/svcclient"]' ]

# ---------------------------------------------------------------------------------------- /etc/ld.so.preload
IMG=localhost/twtest-preload-file:1
check "inject-distroless --mode preload-file" inject "$BASE" "$IMG" --mode preload-file
preload_file_set() {
	keeps "$1" && ! grep -q LD_PRELOAD <<<"$(cfg "$1" Env)" && [ "$(cfg "$1" Entrypoint)" = '["/usr/bin/svcclient"]' ]
}
check "preload-file: USER, CMD, WORKDIR, ENTRYPOINT kept; no LD_PRELOAD in ENV" preload_file_set "$IMG"
mnt=$("${PODMAN[@]}" image mount "$IMG" 2>/dev/null)
check "preload-file: /etc/ld.so.preload names the library" [ "$(cat "$mnt/etc/ld.so.preload" 2>/dev/null)" = /usr/lib/torwrap/libtorwrap.so ]
"${PODMAN[@]}" image unmount "$IMG" >/dev/null 2>&1
variant preload-file "$IMG"

# ------------------------------------------------------------------------------- docs/Dockerfile.example
# Its final stage, as written, over our base; the torwrap-dist stage (built from source in debian:12, which
# this machine cannot pull) replaced by an image holding the same three files.
build_dockerfile() {
	local c
	c=$(buildah from --quiet scratch) || return 1
	buildah copy --quiet "$c" "$LIBTORWRAP" /usr/lib/torwrap/libtorwrap.so >/dev/null &&
		buildah copy --quiet "$c" "$TORWRAP" /usr/bin/torwrap >/dev/null &&
		buildah copy --quiet "$c" "$TW_TOP/docs/policy.example" /etc/torwrap/policy >/dev/null &&
		buildah commit --quiet "$c" localhost/twtest-torwrap-dist:1 >/dev/null
	local rc=$?
	buildah rm "$c" >/dev/null
	[[ $rc -eq 0 ]] || return 1
	mkdir -p "$WORK/ctx"
	buildah bud --quiet --pull-never --build-arg BASE="$BASE" --build-arg TORWRAP_DIST=localhost/twtest-torwrap-dist:1 \
		-f "$TW_TOP/docs/Dockerfile.example" -t localhost/twtest-dockerfile:1 "$WORK/ctx" >"$WORK/bud.out" 2>&1 ||
		{ cat "$WORK/bud.out" >&2; return 1; }
}
if [[ -r $TW_TOP/docs/Dockerfile.example ]]; then
	check "docs/Dockerfile.example builds (buildah bud, multi-stage COPY --from=)" build_dockerfile
	check "Dockerfile: USER, CMD, WORKDIR kept" keeps localhost/twtest-dockerfile:1
	variant dockerfile localhost/twtest-dockerfile:1
else
	notok "docs/Dockerfile.example missing"
fi

# ------------------------------------------------------------------------------------------- static images
# A fully static image (no loader at all), as a Go service's would be: the client linked with -static, served in
# entrypoint mode by torwrap's seccomp supervisor. The supervisor needs seccomp user notification (seccomp(),
# pidfd_open, pidfd_getfd), which podman's default seccomp profile may block: this variant runs unconfined.
no_image() { ! "${PODMAN[@]}" image exists "$1"; }
if gcc -static -O1 -D_GNU_SOURCE -o "$WORK/svcclient-static" "$TW_TOP/tests/programs/svcclient.c" -lresolv \
	2>"$WORK/static-gcc.err"; then
	c=$(buildah from --quiet scratch)
	buildah copy --quiet --chmod 0755 "$c" "$WORK/svcclient-static" /usr/bin/svcclient >/dev/null
	buildah config --user 65532:65532 --workingdir /home/nonroot --env PATH=/usr/local/bin:/usr/bin:/bin \
		--entrypoint '["/usr/bin/svcclient"]' --cmd '["whoami"]' "$c"
	buildah commit --quiet "$c" localhost/twtest-static:1 >/dev/null
	buildah rm "$c" >/dev/null
	check "static image: its client is statically linked (no loader in the image)" \
		bash -c "! readelf -l '$WORK/svcclient-static' | grep -q 'program interpreter'"

	# env mode (the default) cannot work: refused, saying why and what to use instead.
	out=$("$INJECT" localhost/twtest-static:1 localhost/twtest-static:2 --build "$TW_BUILD" 2>&1)
	rc=$?
	check "static image, env mode: refused (exit 3)" [ $rc -eq 3 ]
	check "static image, env mode: says statically linked and suggests --mode entrypoint" \
		bash -c "grep -q 'statically linked' <<<\"\$1\" && grep -q -- '--mode entrypoint' <<<\"\$1\"" _ "$out"
	check "static image, env mode: no image made" no_image localhost/twtest-static:2
	out=$("$INJECT" localhost/twtest-static:1 localhost/twtest-static:2 --mode preload-file --build "$TW_BUILD" 2>&1)
	rc=$?
	check "static image, preload-file mode: refused (exit 3), suggesting --mode entrypoint" \
		bash -c "[ $rc -eq 3 ] && grep -q -- '--mode entrypoint' <<<\"\$1\"" _ "$out"

	IMG=localhost/twtest-static-entrypoint:1
	check "static image: inject-distroless --mode entrypoint" inject localhost/twtest-static:1 "$IMG" --mode entrypoint
	check "static: USER, CMD, WORKDIR kept" keeps "$IMG"
	check "static: ENTRYPOINT wrapped with torwrap --" \
		[ "$(cfg "$IMG" Entrypoint)" = '["/usr/bin/torwrap", "--", "/usr/bin/svcclient"]' ]
	mnt=$("${PODMAN[@]}" image mount "$IMG" 2>/dev/null)
	check "static: torwrap, the policy and the library (torwrap wants it) in the image" \
		bash -c "[ -n '$mnt' ] && cmp -s '$mnt/usr/bin/torwrap' '$TORWRAP' && cmp -s '$mnt/etc/torwrap/policy' '$TW_TOP/docs/policy.example' && cmp -s '$mnt/usr/lib/torwrap/libtorwrap.so' '$LIBTORWRAP'"
	"${PODMAN[@]}" image unmount "$IMG" >/dev/null 2>&1
	CRUN_OPTS=(--security-opt seccomp=unconfined)
	variant static-entrypoint "$IMG"
	CRUN_OPTS=()
else
	sed 's/^/# /' "$WORK/static-gcc.err" | head -n 5
	notok "static image: gcc -static cannot build the client (libc6-dev's static libraries)"
fi

# A glibc image whose program is static: the loader is there, but LD_PRELOAD would never reach the service.
c=$(buildah from --quiet "$BASE")
buildah copy --quiet --chmod 0755 "$c" "$TORWRAP" /usr/bin/gosvc >/dev/null
buildah config --entrypoint '["gosvc"]' "$c" 2>/dev/null
buildah commit --quiet "$c" localhost/twtest-glibc-static:1 >/dev/null
buildah rm "$c" >/dev/null
out=$("$INJECT" localhost/twtest-glibc-static:1 --build "$TW_BUILD" 2>&1)
rc=$?
check "glibc image running a static program, env mode: refused (exit 3), naming it, suggesting entrypoint" \
	bash -c "[ $rc -eq 3 ] && grep -q '/usr/bin/gosvc is statically linked' <<<\"\$1\" && grep -q -- '--mode entrypoint' <<<\"\$1\"" _ "$out"
check "glibc image running a static program: served in entrypoint mode" \
	inject localhost/twtest-glibc-static:1 localhost/twtest-glibc-static:2 --mode entrypoint
check "glibc image running a static program: ENTRYPOINT wrapped" \
	[ "$(cfg localhost/twtest-glibc-static:2 Entrypoint)" = '["/usr/bin/torwrap", "--", "gosvc"]' ]

# ---------------------------------------------------------------------------------------------- musl images
# An Alpine-like image: musl's loader and the client built with musl-gcc. Served by the musl variant of the
# library (scripts/build-musl: same source, musl-gcc, Debian's c-ares source built for musl), refused without it.
if command -v musl-gcc >/dev/null &&
	musl-gcc -O1 -o "$WORK/svcclient-musl" "$TW_TOP/tests/programs/svcclient.c" 2>"$WORK/musl-gcc.err"; then
	MUSL_LD=$(readelf -l "$WORK/svcclient-musl" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
	MUSL_LIBC=$(readlink -f "$MUSL_LD") # musl's libc.so is its loader too
	MUSL_BASE=localhost/twtest-musl:1
	c=$(buildah from --quiet scratch)
	buildah copy --quiet --chmod 0755 "$c" "$MUSL_LIBC" "$MUSL_LD" >/dev/null
	buildah copy --quiet --chmod 0755 "$c" "$WORK/svcclient-musl" /usr/bin/svcclient >/dev/null
	buildah config --user 65532:65532 --workingdir /home/nonroot --env PATH=/usr/local/bin:/usr/bin:/bin \
		--entrypoint '["/usr/bin/svcclient"]' --cmd '["whoami"]' "$c"
	buildah commit --quiet "$c" "$MUSL_BASE" >/dev/null
	buildah rm "$c" >/dev/null
	CRUN_ENV=()
	crun "$MUSL_BASE"
	check "musl: a real musl image (its client runs; no glibc in it)" [ "$(line whoami)" = "uid 65532 gid 65532 rootfs ro shm no" ]

	# Without the musl variant in the build: refused, saying how to get it.
	mkdir -p "$WORK/glibc-only"
	ln -s "$LIBTORWRAP" "$WORK/glibc-only/libtorwrap.so"
	ln -s "$TORWRAP" "$WORK/glibc-only/torwrap"
	out=$("$INJECT" "$MUSL_BASE" localhost/twtest-musl-refused:1 --build "$WORK/glibc-only" 2>&1)
	rc=$?
	check "musl image without the musl variant: refused (exit 3)" [ $rc -eq 3 ]
	check "musl image without the musl variant: says musl, why, and make musl" \
		grep -q "musl.*built for glibc.*make BUILD=.* musl" <<<"$out"
	check "musl image without the musl variant: no image made" no_image localhost/twtest-musl-refused:1

	MUSL_LIB=$TW_BUILD/musl/libtorwrap.so
	if [[ ! -f $MUSL_LIB ]]; then
		t=$SECONDS
		check "musl variant builds (scripts/build-musl)" "$TW_TOP/scripts/build-musl" --build "$TW_BUILD"
		echo "# scripts/build-musl: $((SECONDS - t)) s"
	fi
	check "readelf -d: the musl libtorwrap.so needs only musl's libc.so" \
		bash -c "[[ \$(readelf -d '$MUSL_LIB' | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ') == 'libc.so ' ]]"
	if [[ -f $MUSL_LIB ]]; then
		IMG=localhost/twtest-musl-env:1
		check "musl: inject-distroless --mode env" inject "$MUSL_BASE" "$IMG" --mode env
		mnt=$("${PODMAN[@]}" image mount "$IMG" 2>/dev/null)
		check "musl: the image got the musl variant" cmp -s "$mnt/usr/lib/torwrap/libtorwrap.so" "$MUSL_LIB"
		"${PODMAN[@]}" image unmount "$IMG" >/dev/null 2>&1
		check "musl: USER, CMD, WORKDIR kept" keeps "$IMG"
		variant musl-env "$IMG" lucid-metrics
		out=$("$INJECT" "$MUSL_BASE" localhost/twtest-musl-preload:1 --mode preload-file --build "$TW_BUILD" 2>&1)
		rc=$?
		check "musl: --mode preload-file refused (musl never reads /etc/ld.so.preload)" \
			bash -c "[ $rc -eq 3 ] && grep -q 'never reads /etc/ld.so.preload' <<<\"\$1\"" _ "$out"
		IMG=localhost/twtest-musl-entrypoint:1
		check "musl: inject-distroless --mode entrypoint" inject "$MUSL_BASE" "$IMG" --mode entrypoint
		variant musl-entrypoint "$IMG"
	fi
else
	notok "musl: musl-gcc (musl-tools) missing or cannot build the client"
fi

out=$("$INJECT" localhost/twtest-nonexistent:1 --pull never --build "$TW_BUILD" 2>&1)
rc=$?
[[ $rc -eq 1 ]] || echo "$out"
check "unknown image: an error (exit 1) naming it" bash -c "[ $rc -eq 1 ] && grep -q 'cannot open image' <<<'$out'"

echo "# container.sh: $((SECONDS - T0)) s"
finish
