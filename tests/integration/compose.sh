#!/usr/bin/env bash
# compose.sh: the documented compose file (docs/compose.yaml), as written, brought up with real Tor in a container.
#
# Everything runs in a network namespace and a mount namespace made here (unshare): its loopback holds
# 198.18.0.1, where a private Tor network (scripts/tor-testnet --address) listens; rootful podman (its Docker
# API: podman system service) and docker-compose bring the stack up there, so its bridges (172.20.0.0/16 and
# egress) and firewall rules exist only in this namespace. podman and buildah keep their storage, state and
# configuration under the test's directory. The images are built from this machine's files with buildah (no
# registry is reachable): tor-proxy (Debian's tor, a torrc that joins the private network, torwrap for the
# health check), a glibc Python httpx service wrapped with `entrypoint: ["torwrap", "--", ...]`, the same
# service under LD_PRELOAD, a static Go service in a distroless image injected with scripts/inject-distroless
# --mode entrypoint, and MongoDB and Redis stand-ins. The checks:
#   - the services start only after tor-proxy is healthy (`torwrap check --target`, its health log);
#   - each service reaches an Internet name through Tor, by name: tor-proxy's control port shows the stream
#     from the service's address, resolved at the exit, and the circuit it was attached to; and reaches the
#     internal services directly;
#   - tor stopped (SIGSTOP: the port still accepts, nothing answers): the health check turns red, the services
#     fail closed; tor-proxy removed (compose stop): the same;
#   - captures on the stack's bridge and on egress hold nothing but SOCKS to tor-proxy, the internal flows, DNS
#     for allowed names, and Tor's own traffic to the relays.
# podman 4.3 runs health checks from systemd timers; there is no systemd here, so the test runs
# `podman healthcheck run` itself, as the timer would (health log and retries are podman's).
# Needs root; exits 77 otherwise.
if [[ $(id -u) -ne 0 ]]; then
	echo "compose tests need root (network and mount namespaces, rootful podman)"
	exit 77
fi
if [[ ${TW_SANITIZE:-0} == 1 ]]; then
	echo "# compose.sh: not run against the sanitizer build (its library needs libasan, absent in the images)"
	exit 0
fi
missing=
for t in podman buildah runc netavark:/usr/lib/podman/netavark aardvark-dns:/usr/lib/podman/aardvark-dns \
	docker-compose tcpdump tor tor-gencert go ip unshare; do
	if [[ $t == *:* ]]; then [[ -x ${t#*:} ]] || missing+=" ${t%%:*}"; else command -v "$t" >/dev/null || missing+=" $t"; fi
done
/usr/bin/python3 -c 'import httpx' 2>/dev/null || missing+=" python3-httpx"
if [[ -n $missing ]]; then
	echo "compose tests need:$missing (scripts/install-deps installs them)"
	exit 77
fi
# Our own network and mount namespaces: the bridges, firewall rules and mounts vanish with them.
if [[ -z ${TW_COMPOSE_PRIVATE:-} ]]; then
	TW_COMPOSE_PRIVATE=1 exec unshare --mount --net --propagation private bash "$0" "$@"
fi

. "$(dirname "$0")/lib.sh"
T0=$SECONDS
COMPOSE_FILE=$TW_TOP/docs/compose.yaml
TESTNET=$TW_TOP/scripts/tor-testnet
INJECT=$TW_TOP/scripts/inject-distroless
SRC=$TW_TOP/tests/compose
TORNET_ADDR=198.18.0.1
PROJECT=tron
[[ -x $TORWRAP && -r $LIBTORWRAP ]] || { notok "build: $TORWRAP, $LIBTORWRAP (make all)"; finish; }

# ------------------------------------------------------------------------------------ the network namespace
# Loopback, and the address the Tor network listens on.
ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
# On loopback (no dummy interfaces here): still a local address of this namespace, which the containers reach
# through their bridge's gateway, unlike 127.0.0.1.
ip addr add "$TORNET_ADDR/32" dev lo || { notok "$TORNET_ADDR on loopback"; finish; }
check "network namespace: no route but our own (nothing reaches the machine's network)" \
	bash -c "! ip route get 1.1.1.1 >/dev/null 2>&1"

# ------------------------------------------------------------------------ the private Tor network, early
TORNET=$WORK/tornet
TORNET_BASE=19000
"$TESTNET" start "$TORNET" --base $TORNET_BASE --address "$TORNET_ADDR" >"$WORK/tornet-start.out" 2>&1 ||
	{ cat "$WORK/tornet-start.out"; notok "scripts/tor-testnet start --address $TORNET_ADDR"; finish; }
eval "$("$TESTNET" env "$TORNET" 2>/dev/null)"
# The stack's variables: the health check's target and what the services fetch, on the network's HTTP target
# (its exits resolve api.trongrid.io to it).
export TOR_CHECK_TARGET=api.trongrid.io:$TORNET_HTTP_PORT TRON_API_URL=http://api.trongrid.io:$TORNET_HTTP_PORT/

# --------------------------------------------------------------------------- podman and buildah, all in WORK
C=$WORK/c
mkdir -p "$C/tmp" "$C/runc" "$C/bin" "$C/ovl/up" "$C/ovl/work" "$C/net"
RUNC=$(command -v runc)
printf '#!/bin/sh\nexec %s --root %s "$@"\n' "$RUNC" "$C/runc" >"$C/bin/runc"
chmod 0755 "$C/bin/runc"
cat >"$C/containers.conf" <<EOF
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$C/events.log"
tmp_dir = "$C/libpod-tmp"
image_copy_tmp_dir = "$C/tmp"
[engine.runtimes]
runc = ["$C/bin/runc"]
[network]
network_backend = "netavark"
network_config_dir = "$C/net"
EOF
cat >"$C/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$C/storage"
runroot = "$C/run"
EOF
: >"$C/registries.conf" # no registry: every image here is built locally
export CONTAINERS_CONF=$C/containers.conf CONTAINERS_STORAGE_CONF=$C/storage.conf
export CONTAINERS_REGISTRIES_CONF=$C/registries.conf TMPDIR=$C/tmp
# buildah's blob cache and netavark's state are under /var/lib for root: sent to WORK through an overlay.
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$C/ovl/up,workdir=$C/ovl/work" /var/lib ||
	echo "# no overlay on /var/lib: buildah's blob cache goes to /var/lib/containers/cache" >&2
# netavark keeps its state in /run/containers/networks: a tmpfs of ours.
mkdir -p /run/containers && mount -t tmpfs tmpfs /run/containers

SERVICE_PID= HEALTH_PID= EVENTS_PID= CAP_PIDS=()
DC=(docker-compose --ansi never -p "$PROJECT" -f "$COMPOSE_FILE" --project-directory "$WORK/project")
compose_cleanup() {
	local p
	[[ -z $HEALTH_PID ]] || { kill "$HEALTH_PID" 2>/dev/null; wait "$HEALTH_PID" 2>/dev/null; }
	[[ -z $EVENTS_PID ]] || { kill "$EVENTS_PID" 2>/dev/null; wait "$EVENTS_PID" 2>/dev/null; }
	for p in "${CAP_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[[ -z ${TOR_PID:-} ]] || kill -CONT "$TOR_PID" 2>/dev/null
	if [[ -n $SERVICE_PID ]]; then
		timeout 120 "${DC[@]}" down -t 2 >"$WORK/down.out" 2>&1
		kill "$SERVICE_PID" 2>/dev/null
		wait "$SERVICE_PID" 2>/dev/null
	fi
	podman rm -a -f -t 0 >/dev/null 2>&1
	"$TESTNET" stop "$TORNET" >/dev/null 2>&1
	umount /run/containers 2>/dev/null
	umount /var/lib 2>/dev/null
	tw_cleanup
}
trap compose_cleanup EXIT

# ---------------------------------------------------------------------------------------------- the images
# stage_elf ROOT FILE...: FILE and every library it needs (ldd), at their paths under ROOT.
stage_elf() {
	local root=$1 f l
	shift
	for f in "$@"; do
		install -D -m 0755 "$(readlink -f "$f")" "$root$f"
		for l in $(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
			[[ -e $root$l ]] || install -D -m 0755 "$(readlink -f "$l")" "$root$l"
		done
	done
}
# image_from ROOT TAG [buildah config options...]: an image from scratch holding ROOT, USER 65532.
image_from() {
	local root=$1 tag=$2 c rc
	shift 2
	c=$(buildah from --quiet scratch) || return 1
	buildah copy --quiet "$c" "$root" / >/dev/null &&
		buildah config --user 65532:65532 --env PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin "$@" "$c" &&
		buildah commit --quiet "$c" "$tag" >/dev/null
	rc=$?
	buildah rm "$c" >/dev/null
	return $rc
}
passwd_files() { # passwd_files ROOT: a nonroot user, as distroless images have
	mkdir -p "$1/etc"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$1/etc/passwd"
	printf 'root:x:0:\nnonroot:x:65532:\n' >"$1/etc/group"
}

build_tor_image() {
	local r=$WORK/root-tor
	stage_elf "$r" /usr/sbin/tor
	passwd_files "$r"
	install -D -m 0755 "$TORWRAP" "$r/usr/bin/torwrap"
	mkdir -p "$r/etc/tor" "$r/var/lib"
	image_from "$r" localhost/tor-proxy:0.4.9 \
		--entrypoint '["/usr/sbin/tor", "-f", "/etc/tor/torrc", "--defaults-torrc", "/dev/null"]' || return 1
	# tor's DataDirectory belongs to the user it runs as (tor refuses it otherwise, and exits).
	local c
	c=$(buildah from --quiet localhost/tor-proxy:0.4.9) && mkdir -p "$WORK/empty" &&
		buildah copy --quiet --chown 65532:65532 --chmod 0700 "$c" "$WORK/empty" /var/lib/tor/ >/dev/null &&
		buildah commit --quiet "$c" localhost/tor-proxy:0.4.9 >/dev/null
	local rc=$?
	buildah rm "$c" >/dev/null 2>&1
	return $rc
}

# The Python base: the interpreter, its standard library and httpx with what it imports, from this machine.
build_python_base() {
	local r=$WORK/root-py p
	stage_elf "$r" /usr/bin/python3.11 /usr/lib/python3.11/lib-dynload/*.so
	ln -sf python3.11 "$r/usr/bin/python3"
	tar -C / --exclude='__pycache__' --exclude=test --exclude=tests --exclude=idlelib --exclude=tkinter \
		--exclude=ensurepip --exclude=lib2to3 --exclude=lib-dynload -cf - usr/lib/python3.11 | tar -C "$r" -xf -
	for p in httpx httpcore h11 anyio sniffio idna certifi rfc3986; do
		mkdir -p "$r/usr/lib/python3/dist-packages"
		cp -a "/usr/lib/python3/dist-packages/$p" "$r/usr/lib/python3/dist-packages/"
	done
	passwd_files "$r"
	install -D -m 0644 "$SRC/service.py" "$r/app/service.py"
	install -D -m 0644 "$SRC/standin.py" "$r/app/standin.py"
	image_from "$r" localhost/twcompose-python:1 --workingdir /app
}
python_image() { # python_image TAG ENTRYPOINT-JSON
	local c rc
	c=$(buildah from --quiet localhost/twcompose-python:1) || return 1
	buildah config --entrypoint "$2" --cmd '[]' "$c" && buildah commit --quiet "$c" "$1" >/dev/null
	rc=$?
	buildah rm "$c" >/dev/null
	return $rc
}
build_go_image() {
	local r=$WORK/root-go
	mkdir -p "$r/usr/bin"
	(cd "$SRC" && CGO_ENABLED=0 GOCACHE=$WORK/go-cache GOPATH=$WORK/go-path GOFLAGS=-mod=mod \
		go build -o "$r/usr/bin/tron-relay" relay.go) >"$WORK/go.err" 2>&1 || { cat "$WORK/go.err" >&2; return 1; }
	passwd_files "$r"
	image_from "$r" localhost/tron-relay:2.0 --entrypoint '["/usr/bin/tron-relay"]' --cmd '[]' || return 1
	! readelf -l "$r/usr/bin/tron-relay" | grep -q 'program interpreter'
}
inject() { "$INJECT" "$@" --build "$TW_BUILD" --quiet >/dev/null; }

check "image tor-proxy (Debian's tor from this machine, torwrap for the health check)" build_tor_image
check "image: Python base (python3, its standard library, httpx)" build_python_base
check "image lucid-mongodb (stand-in)" python_image localhost/lucid-mongodb:7-standin \
	'["python3", "/app/standin.py", "lucid-mongodb", "27017"]'
check "image lucid-redis (stand-in)" python_image localhost/lucid-redis:7-standin \
	'["python3", "/app/standin.py", "lucid-redis", "6379"]'
check "image tron-wallet-manager (httpx), torwrap injected (--mode entrypoint)" \
	all_true python_image localhost/tron-wallet-manager:1.4 '["python3", "/app/service.py"]' -- \
	inject localhost/tron-wallet-manager:1.4 localhost/tron-wallet-manager:1.4-torwrap --mode entrypoint
check "image tron-payout-router (httpx), torwrap injected (--mode env)" \
	all_true python_image localhost/tron-payout-router:2.0 '["python3", "/app/service.py"]' -- \
	inject localhost/tron-payout-router:2.0 localhost/tron-payout-router:2.0-torwrap --mode env
check "image tron-relay: a static Go program, distroless, torwrap injected (--mode entrypoint)" \
	all_true build_go_image -- inject localhost/tron-relay:2.0 localhost/tron-relay:2.0-torwrap --mode entrypoint
echo "# images built: $((SECONDS - T0)) s"

# --------------------------------------------------------------------- tor-proxy's torrc: the private network
TOR_CONTROL_PASSWORD=compose-test-$RANDOM$RANDOM
mkdir -p "$WORK/project/tor-proxy"
{
	"$TESTNET" client-torrc "$TORNET"
	cat <<EOF
DataDirectory /var/lib/tor
RunAsDaemon 0
Log notice stdout
Sandbox 0
SocksPort 0.0.0.0:9050 IsolateSOCKSAuth ExtendedErrors
ControlPort 0.0.0.0:9051
HashedControlPassword $(tor --quiet --hash-password "$TOR_CONTROL_PASSWORD" | tail -n 1)
EOF
} >"$WORK/project/tor-proxy/torrc"
chmod 0644 "$WORK/project/tor-proxy/torrc"

# ------------------------------------------------------------------------- podman's Docker API, in here
podman system service --time=0 "unix://$WORK/podman.sock" >"$WORK/podman-service.log" 2>&1 &
SERVICE_PID=$!
export DOCKER_HOST=unix://$WORK/podman.sock
for ((i = 0; i < 100; i++)); do
	curl -s --unix-socket "$WORK/podman.sock" http://d/_ping 2>/dev/null | grep -q OK && break
	sleep 0.2
done
check "podman system service answers (Docker API)" bash -c "curl -s --unix-socket '$WORK/podman.sock' http://d/_ping | grep -q OK"
compose_config() { "${DC[@]}" config -q 2>"$WORK/config.err" || { cat "$WORK/config.err" >&2; return 1; }; }
check "docker-compose accepts docs/compose.yaml" compose_config

# ----------------------------------------------------------------------------------------- the stack, up
cname() { echo "${PROJECT}_$1_1"; }
SERVICES=(tron-wallet-manager tron-payout-router tron-relay)
declare -A SVC_IP=([tron-wallet-manager]=172.20.1.93 [tron-payout-router]=172.20.1.92 [tron-relay]=172.20.1.95)
PROXY_IP=172.20.0.10 MONGO_IP=172.20.1.96 REDIS_IP=172.20.1.97
check "docker-compose: no network of the stack before up" bash -c "! podman network exists ${PROJECT}_tron"

# podman's health checks run from systemd timers, and there is no systemd here: this loop is the timer. The
# check itself, its timeout, retries, start period and the health log are podman's.
TORC=$(cname tor-proxy)
(
	while :; do
		podman healthcheck run "$TORC" >>"$WORK/health.out" 2>&1
		echo "exit $?" >>"$WORK/health.out"
		sleep 2
	done
) &
HEALTH_PID=$!

# One `up`: docker-compose 1.29 would want to recreate a network podman made for it on a second one (podman
# reports the IPAM driver host-local, compose expects default). The captures start as soon as the bridges
# exist, while tor-proxy bootstraps and before any service starts.
t=$SECONDS
timeout 600 "${DC[@]}" up -d >"$WORK/up.out" 2>&1 &
UP_PID=$!
for ((i = 0; i < 600; i++)); do
	podman network exists "${PROJECT}_tron" && podman network exists "${PROJECT}_egress" && break
	sleep 0.1
done
TRON_BR=$(podman network inspect "${PROJECT}_tron" --format '{{.NetworkInterface}}' 2>/dev/null)
EGRESS_BR=$(podman network inspect "${PROJECT}_egress" --format '{{.NetworkInterface}}' 2>/dev/null)
for ((i = 0; i < 600; i++)); do ip link show "$TRON_BR" >/dev/null 2>&1 && ip link show "$EGRESS_BR" >/dev/null 2>&1 && break; sleep 0.1; done

# capture_start NAME IFACE: tcpdump on a bridge of the stack.
capture_start() {
	tcpdump -i "$2" -nn -U --immediate-mode -w "$WORK/$1.pcap" >"$WORK/$1.tcpdump" 2>&1 &
	CAP_PIDS+=($!)
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q "listening on" "$WORK/$1.tcpdump" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
check "tcpdump on the stack's bridge (${TRON_BR:-?}) and on egress (${EGRESS_BR:-?})" \
	all_true capture_start tron "$TRON_BR" -- capture_start egress "$EGRESS_BR"

# tor-proxy's control port (ControlPort 9051, password), on its egress address, watched from its start on:
# every stream and circuit event.
cat >"$WORK/control.py" <<'EOF'
"""control.py HOST PORT PASSWORD events|COMMAND: tor's control port: every STREAM and CIRC event, or one command's
reply. Retries the connection while tor starts."""
import socket, sys, time
host, port, password, what = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
for _ in range(600):
    try:
        s = socket.create_connection((host, port), timeout=10)
        break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit("control port %s:%d: no answer" % (host, port))
s.settimeout(None if what == "events" else 30)
f = s.makefile("rwb", buffering=0)
def reply():
    lines = []
    while True:
        line = f.readline().decode(errors="replace").rstrip("\r\n")
        if not line:
            sys.exit("control port closed")
        lines.append(line)
        if line[3:4] == "+":  # a data block, up to a line "."
            while line != ".":
                line = f.readline().decode(errors="replace").rstrip("\r\n")
                lines.append(line)
        elif len(line) > 3 and line[3] == " ":
            return lines
for cmd in ['AUTHENTICATE "%s"' % password] + (["SETEVENTS STREAM CIRC"] if what == "events" else [what]):
    f.write(cmd.encode() + b"\r\n")
    r = reply()
    if not r[-1].startswith("250"):
        sys.exit("control port: %s: %s" % (cmd.split()[0], r[-1]))
    if cmd == what:
        print("\n".join(r))
if what == "events":
    print("ready", flush=True)
    for line in f:
        print(line.decode(errors="replace").rstrip(), flush=True)
EOF
for ((i = 0; i < 600; i++)); do
	TOR_EGRESS_IP=$(podman inspect "$TORC" --format "{{(index .NetworkSettings.Networks \"${PROJECT}_egress\").IPAddress}}" 2>/dev/null)
	[[ -z $TOR_EGRESS_IP ]] || break
	sleep 0.1
done
$PY "$WORK/control.py" "$TOR_EGRESS_IP" 9051 "$TOR_CONTROL_PASSWORD" events >"$WORK/events.log" 2>"$WORK/events.err" &
EVENTS_PID=$!
control() { $PY "$WORK/control.py" "$TOR_EGRESS_IP" 9051 "$TOR_CONTROL_PASSWORD" "$@"; }
wait "$UP_PID"
rc=$?
echo "# docker-compose up: $((SECONDS - t)) s (tor-proxy's bootstrap and first healthy check included)"
[[ $rc -eq 0 ]] || { cat "$WORK/up.out"; podman logs "$TORC" 2>&1 | tail -n 20; }
check "docker-compose up -d: the stack comes up (exit 0)" [ $rc -eq 0 ]
[[ $rc -eq 0 ]] || finish
running() { [ "$(podman inspect "$(cname "$1")" --format '{{.State.Status}}' 2>/dev/null)" = running ]; }
for s in tor-proxy lucid-mongodb lucid-redis "${SERVICES[@]}"; do
	check "$s is running" running "$s"
done
check "network tron: 172.20.0.0/16, internal" bash -c \
	"podman network inspect ${PROJECT}_tron --format '{{range .Subnets}}{{.Subnet}}{{end}} {{.Internal}}' | grep -qx '172.20.0.0/16 true'"
check "tor-proxy: healthy" [ "$(podman inspect "$TORC" --format '{{.State.Health.Status}}')" = healthy ]
check "tor-proxy's control port ($TOR_EGRESS_IP:9051): authenticated, STREAM and CIRC events on" \
	grep -qx ready "$WORK/events.log"

# Ordering, from podman's own records: tor-proxy's first passing health check ended before each service started.
started_after_healthy() {
	podman inspect "$TORC" "$(cname "$1")" --format json | $PY -c '
import json, re, sys
from datetime import datetime
def t(s):  # RFC 3339 with nanoseconds and an offset
    m = re.match(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", s)
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    z = m.group(3) or "Z"
    return datetime.fromisoformat(m.group(1) + "." + frac + ("+00:00" if z == "Z" else z))
tor, svc = json.load(sys.stdin)
log = tor["State"]["Health"]["Log"]
ok = [t(e["End"]) for e in log if e["ExitCode"] == 0]
if not ok:
    sys.exit("tor-proxy: no passing health check in its log")
first = min(ok)
started = t(svc["State"]["StartedAt"])
print("# %s started %.1f s after the first passing health check (%d failed before it)" %
      (sys.argv[1], (started - first).total_seconds(), sum(1 for e in log if t(e["End"]) < first)))
sys.exit(0 if started > first else 1)' "$1"
}
for s in "${SERVICES[@]}"; do
	check "$s: started only after tor-proxy was healthy (health log vs. StartedAt)" started_after_healthy "$s"
done

slog() { podman logs "$(cname "$1")" 2>/dev/null; }
mark() { slog "$1" | wc -l; }
since() { slog "$1" | tail -n +$(($2 + 1)); } # since NAME MARK: the service's output after its first MARK lines
wait_log() { # wait_log NAME MARK REGEX [SECONDS]: until a line after MARK matches
	local i
	for ((i = 0; i < ${4:-180}; i++)); do
		since "$1" "$2" | grep -qE "$3" && return 0
		sleep 1
	done
	return 1
}
# tor_stream IP: tor-proxy's events show a stream from IP (SOURCE_ADDR) to the Internet name, by name, that
# succeeded on a circuit Tor built, the name resolved at the exit (REMAP SOURCE=EXIT). Prints the evidence.
cat >"$WORK/tor_stream.py" <<'EOF'
import sys
lines = open(sys.argv[1]).read().splitlines()
ip, target = sys.argv[2], sys.argv[3].rstrip("/")
new, ok, remap, built = {}, {}, set(), {}
for l in lines:
    w = l.split()
    if len(w) < 5 or w[0] != "650":
        continue
    if w[1] == "STREAM":
        sid, status, circ, tgt = w[2], w[3], w[4], w[5] if len(w) > 5 else ""
        if status in ("NEW", "NEWRESOLVE") and ("SOURCE_ADDR=%s:" % ip) in l:
            new[sid] = tgt
        elif status == "SUCCEEDED":
            ok[sid] = (circ, tgt)
        elif status == "REMAP" and "SOURCE=EXIT" in l:
            remap.add(sid)
    elif w[1] == "CIRC" and w[3] == "BUILT":
        built[w[2]] = w[4]
# Circuits built before the events were watched: GETINFO circuit-status ("ID BUILT PATH ...").
for l in open(sys.argv[4]).read().splitlines():
    w = l.replace("250+circuit-status=", "").replace("250-circuit-status=", "").split()
    if len(w) >= 3 and w[1] == "BUILT":
        built.setdefault(w[0], w[2] + " (circuit-status)")
for sid, tgt in new.items():
    if tgt == target and sid in ok and ok[sid][0] in built and sid in remap:
        circ = ok[sid][0]
        print("# stream %s from %s to %s (by name), resolved at the exit (%s), circuit %s: %s" %
              (sid, ip, tgt, ok[sid][1], circ, built[circ]))
        sys.exit(0)
print("# no such stream from %s to %s; its streams: %s" % (ip, target, new))
sys.exit(1)
EOF
tor_stream() {
	control "GETINFO circuit-status" >"$WORK/circuit-status" 2>&1
	$PY "$WORK/tor_stream.py" "$WORK/events.log" "$1" "${TRON_API_URL#http://}" "$WORK/circuit-status"
}
for s in "${SERVICES[@]}"; do
	m=$(mark "$s")
	wait_log "$s" 0 '^external ok 200 ' 180
	check "$s: reaches $TRON_API_URL through Tor (the network's HTTP target answered)" \
		bash -c "podman logs $(cname "$s") 2>/dev/null | grep -q '^external ok 200 torwrap testnet target'"
	for ((i = 0; i < 30; i++)); do tor_stream "${SVC_IP[$s]}" >/dev/null && break; sleep 1; done
	check "$s: tor-proxy's control port shows its stream, by name, and the circuit" tor_stream "${SVC_IP[$s]}"
	check "$s: reaches lucid-mongodb and lucid-redis directly, by name" \
		bash -c "podman logs $(cname "$s") 2>/dev/null | grep -q '^lucid-mongodb ok +PONG lucid-mongodb' &&
			podman logs $(cname "$s") 2>/dev/null | grep -q '^lucid-redis ok +PONG lucid-redis'"
	check "$s: the stand-ins saw it come from its own address (not through Tor)" \
		bash -c "podman logs $(cname lucid-mongodb) 2>/dev/null | grep -q 'client ${SVC_IP[$s]}\$' &&
			podman logs $(cname lucid-redis) 2>/dev/null | grep -q 'client ${SVC_IP[$s]}\$'"
done
check "tron-wallet-manager: torwrap logged its decisions (via tor, direct)" \
	bash -c "podman logs $(cname tron-wallet-manager) 2>&1 | grep -q 'via tor' && podman logs $(cname tron-wallet-manager) 2>&1 | grep -q 'direct'"


# ------------------------------------------------------------------------------ tor stopped: fail closed
# SIGSTOP to tor (the container's main process): its port still accepts (the kernel's backlog), nothing answers.
TOR_PID=$(podman inspect "$TORC" --format '{{.State.Pid}}')
declare -A MARK
for s in "${SERVICES[@]}"; do MARK[$s]=$(mark "$s"); done
health_status() { podman inspect "$TORC" --format '{{.State.Health.Status}}'; }
last_health() { # the last health check's exit status and output
	podman inspect "$TORC" --format json | $PY -c '
import json, sys
e = json.load(sys.stdin)[0]["State"]["Health"]["Log"][-1]
print(e["ExitCode"], " ".join(e["Output"].split())[-300:])'
}
t=$SECONDS
kill -STOP "$TOR_PID"
for ((i = 0; i < 900; i++)); do
	[ "$(health_status)" = unhealthy ] && break
	sleep 1
done
echo "# tor stopped: unhealthy after $((SECONDS - t)) s; last check: $(last_health)"
check "tor stopped: tor-proxy's health check turns red (unhealthy)" [ "$(health_status)" = unhealthy ]
# podman records any failure as 1; torwrap's own status is in the output it keeps.
check "tor stopped: the check names the step that failed (exit 12: no SOCKS5 greeting)" \
	bash -c "[[ \$1 == 1\ *'failed at socks5 greeting'*'(exit 12)' ]]" _ "$(last_health)"
wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds
	local i n=$1
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 1
	done
	return 1
}
# fail_closed NAME MARK: after MARK, the service's Internet request failed, none succeeded from the first failure
# on, and the internal services still answered it.
fail_closed() {
	local out
	out=$(since "$1" "$2")
	grep -q '^external error' <<<"$out" &&
		! sed -n '/^external error/,$p' <<<"$out" | grep -q '^external ok' &&
		sed -n '/^external error/,$p' <<<"$out" | grep -q '^lucid-mongodb ok'
}
for s in "${SERVICES[@]}"; do
	wait_for 300 fail_closed "$s" "${MARK[$s]}"
	since "$s" "${MARK[$s]}" | grep -m 1 '^external error' | sed "s/^/# $s: /" | cut -c1-220
	check "tor stopped: $s fails closed (Internet requests fail, none gets through; internal ones still work)" \
		fail_closed "$s" "${MARK[$s]}"
done
kill -CONT "$TOR_PID"
TOR_PID=

# ----------------------------------------------------------------------- tor-proxy removed: fail closed
for s in "${SERVICES[@]}"; do MARK[$s]=$(mark "$s"); done
check "docker-compose stop tor-proxy" bash -c "timeout 120 ${DC[*]} stop -t 5 tor-proxy >'$WORK/stop.out' 2>&1"
for s in "${SERVICES[@]}"; do
	wait_for 300 fail_closed "$s" "${MARK[$s]}"
	since "$s" "${MARK[$s]}" | grep -m 1 '^external error' | sed "s/^/# $s: /" | cut -c1-220
	check "tor-proxy stopped: $s fails closed" fail_closed "$s" "${MARK[$s]}"
done
check "tor-proxy stopped: torwrap says the proxy cannot be found, not connecting directly" \
	bash -c "podman logs $(cname tron-wallet-manager) 2>&1 | grep -q 'cannot be found.*not connecting directly'"

# ----------------------------------------------------------------------------------------------- the wire
for p in "${CAP_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
CAP_PIDS=()
tcpdump -nn -r "$WORK/tron.pcap" >"$WORK/tron.txt" 2>/dev/null
tcpdump -nn -r "$WORK/egress.pcap" >"$WORK/egress.txt" 2>/dev/null
cat >"$WORK/wire.py" <<'EOF'
"""wire.py tron|egress FILE: every packet of a capture is one the stack may send; prints the others (at most 20)
and one line of counts. tron: SOCKS between a service and tor-proxy:9050, a service to lucid-mongodb:27017 or
lucid-redis:6379, DNS to the network's nameserver about the stack's own names. egress: tor-proxy and the Tor
network's relays and authorities (198.18.0.1, their ports), our control connection, DNS about tor-proxy."""
import re, sys
kind, path = sys.argv[1], sys.argv[2]
env = dict(a.split("=", 1) for a in sys.argv[3:])
services = set(env["SERVICES"].split())
names = {"tor-proxy", "lucid-mongodb", "lucid-redis"}
internal = {(env["MONGO"], "27017"), (env["REDIS"], "6379")}
tor_ports = {str(int(env["BASE"]) + i) for i in range(9)}
def split(a):
    ip, _, port = a.rpartition(".")
    return (ip, port) if ip.count(".") == 3 else (a, "")
def dns_ok(rest):
    qs = re.findall(r"\b(?:A|AAAA|PTR|ANY|MX|TXT|SRV|HTTPS|SVCB|CNAME|NS|SOA)\? (\S+?)\.? ", rest + " ")
    return all(q.lower().rstrip(".").removesuffix(".dns.podman") in names for q in qs)
bad, counts = [], {}
def count(k):
    counts[k] = counts.get(k, 0) + 1
for l in open(path).read().splitlines():
    if " ARP, " in l:
        continue
    # The interfaces' own link-local housekeeping (IPv6 address autoconfiguration, MLD, IGMP): multicast that
    # no router forwards, no payload of a program's.
    if re.search(r" IP6 (::|fe80:\S*) > ff02:", l) or re.search(r" IP \S+ > 224\.0\.0\.\d+: igmp", l):
        count("link-local multicast"); continue
    m = re.search(r" IP (\S+) > (\S+?):? (.*)$", l)
    if not m:
        bad.append(l); continue
    src, dst, rest = split(m.group(1)), split(m.group(2)), m.group(3)
    pair = {src, dst}
    if kind == "tron":
        svc = next((a for a in (src, dst) if a[0] in services), None)
        other = dst if svc == src else src
        if svc and other == (env["PROXY"], "9050"):
            count("socks " + svc[0])
        elif svc and other in internal:
            count("direct " + svc[0] + " > " + other[0])
        elif (env["GW"], "53") in pair and dns_ok(rest):
            count("dns (the stack's names)")
        else:
            bad.append(l)
    else:
        tor = next((a for a in (src, dst) if a[0] == env["TOR"]), None)
        other = dst if tor == src else src
        if tor and other[0] == env["TORNET"] and other[1] in tor_ports:
            count("tor " + other[1])
        elif tor and tor[1] == "9051" and other[0] == env["GW"]:
            count("control port")
        elif tor and other == (env["GW"], "53") and dns_ok(rest):
            count("dns (tor-proxy)")
        else:
            bad.append(l)
for l in bad[:20]:
    print("# unexpected:", l)
print("# %s: %d unexpected; %s" % (kind, len(bad), ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
need = ["socks " + s for s in services] + ["direct %s > %s" % (s, ip) for s in services for ip, _ in internal] \
    if kind == "tron" else []
missing = [k for k in need if k not in counts]
if kind == "egress" and not any(k.startswith("tor ") for k in counts):
    missing.append("tor (no packet between tor-proxy and the relays)")
if missing:
    print("# missing:", ", ".join(missing))
sys.exit(1 if bad or missing else 0)
EOF
wire() {
	$PY "$WORK/wire.py" "$1" "$WORK/$1.txt" "SERVICES=${SVC_IP[*]}" MONGO=$MONGO_IP REDIS=$REDIS_IP PROXY=$PROXY_IP \
		GW=$2 BASE=$TORNET_BASE TOR=$TOR_EGRESS_IP TORNET=$TORNET_ADDR
}
EGRESS_GW=$(podman network inspect "${PROJECT}_egress" --format '{{range .Subnets}}{{.Gateway}}{{end}}')
out=$(wire tron 172.20.0.1)
rc=$?
echo "$out"
check "capture on the stack's bridge: only SOCKS to tor-proxy, the internal flows and DNS for the stack's names" [ $rc -eq 0 ]
out=$(wire egress "$EGRESS_GW")
rc=$?
echo "$out"
check "capture on egress: only tor-proxy's Tor traffic (the relays' ports) and the control port" [ $rc -eq 0 ]

echo "# compose.sh: $((SECONDS - T0)) s"
finish
