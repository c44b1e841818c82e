#!/usr/bin/env bash
# bypass.sh: dynamically linked programs whose calls bypass the library (issue 12): a Go client built with cgo
# (it loads libtorwrap.so, but Go makes its own system calls and runs its own resolver), and a musl client under
# the glibc build of torwrap.
#
# Under `torwrap` the kernel backstop (a seccomp filter; the library's own calls carry the tree's cookie and
# pass) hands their calls to the supervisor: by name through the proxy, allowed names direct, the rest refused.
# Under LD_PRELOAD alone there is no supervisor: the library recognises the Go program and has the kernel refuse
# its network calls, with one log line. Every run here is in a private mount namespace whose /etc/resolv.conf
# names a trap nameserver on loopback: a query that escaped would land there, never on the machine's.
. "$(dirname "$0")/lib.sh"

need_sealed_runs
if ! command -v go >/dev/null; then
	echo "bypass.sh needs Go (package golang-go)"
	exit 77
fi

start_world
start_trap
is_dynamic() { readelf -l "$1" 2>/dev/null | grep -q INTERP; }

# ---------------------------------------------------------------------------------------- the Go program
GO=$WORK/go_client
(cd "$TW_TOP/tests/programs" && CGO_ENABLED=1 GO111MODULE=off GOPROXY=off GOFLAGS= GOTOOLCHAIN=local \
	GOCACHE="$WORK/go-cache" GOPATH="$WORK/go-path" go build -o "$GO" static_go.go) >"$WORK/go.err" 2>&1 ||
	{ notok "go build (cgo) tests/programs/static_go.go"; cat "$WORK/go.err" >&2; finish; }
check "the Go client is dynamically linked (cgo): it loads LD_PRELOAD libraries" is_dynamic "$GO"
check "the Go client carries Go's build-ID note" bash -c "readelf -n '$GO' | grep -q 'GO BUILDID'"

out=$(nsrun "$GO" get "http://go-control.example.test:$HPORT/" 2>&1)
check "control: without torwrap, the Go client's own resolver asks the trap nameserver" \
	grep -q '"go-control.example.test"' "$TRAP_LOG"
TRAP0=$(wc -l <"$TRAP_LOG")

# ------------------------------------------------------------------------------------ LD_PRELOAD alone
h0=$(http_hits) n0=$(socks_count)
out=$(nsrun env "LD_PRELOAD=$LIBTORWRAP${SAN_PRELOAD:+:$SAN_PRELOAD}" "$GO" get \
	"http://go-preload.example.test:$HPORT/" 2>&1)
rc=$?
check "Go under LD_PRELOAD alone: the request fails" [ $rc -ne 0 ]
check "Go under LD_PRELOAD alone: one log line names the program and points to the wrapper" \
	grep -q "$GO is a Go program: its network calls bypass libtorwrap.so, so they are refused (EPERM); run it under the wrapper, .torwrap -- " <<<"$out"
check "Go under LD_PRELOAD alone: its DNS query was refused (nothing at the trap)" trap_quiet
check "Go under LD_PRELOAD alone: nothing reached the proxy or the destination" \
	[ "$(socks_count)" -eq "$n0" -a "$(http_hits)" -eq "$h0" ]
out=$(nsrun env "LD_PRELOAD=$LIBTORWRAP${SAN_PRELOAD:+:$SAN_PRELOAD}" "$GO" get "http://127.0.0.1:$HPORT/" 2>&1)
check "Go under LD_PRELOAD alone: even a connect to loopback is refused (EPERM)" \
	grep -q "operation not permitted" <<<"$out"
check "Go under LD_PRELOAD alone: the destination heard nothing" [ "$(http_hits)" -eq "$h0" ]
out=$(nsrun env "LD_PRELOAD=$LIBTORWRAP${SAN_PRELOAD:+:$SAN_PRELOAD}" "$PROGRAMS/tcpget" 127.0.0.1 "$HPORT" 2>&1)
check "a C program under LD_PRELOAD alone is not affected (no filter)" grep -q "hello from the internet" <<<"$out"

# ------------------------------------------------------------------------------------------- under torwrap
host=go-dyn.example.test
n0=$(socks_count)
out=$(strace_stw "$WORK/st.go" "$GO" get "http://$host:$HPORT/" 2>"$WORK/err.go")
check "Go under torwrap: external name fetched through the proxy" [ "$out" = "hello from the internet" ]
check "Go under torwrap: the proxy got the hostname (ATYP 3)" socks_saw 3 "$host" "$HPORT"
check "Go under torwrap: one proxy request" [ $(($(socks_count) - n0)) -eq 1 ]
check "Go under torwrap: the trap nameserver heard nothing" trap_quiet
check "Go under torwrap: the container's nameserver never asked about the name" dns_not_asked "$DNS_LOG" "$host"
check "Go under torwrap: no direct connection to the destination (strace)" only_virtual_dest "$WORK/st.go"
check "Go under torwrap: no datagram sent to port 53 (strace)" no_datagram_to_53 "$WORK/st.go"

n0=$(socks_count)
out=$(stw "$GO" get "http://tron-wallet-manager:$IPORT/" 2>&1)
check "Go under torwrap: allowed internal name reached directly" grep -q "hello from tron-wallet-manager" <<<"$out"
check "Go under torwrap: internal name: proxy not used" [ "$(socks_count)" -eq "$n0" ]
check "Go under torwrap: internal name: the trap nameserver heard nothing" trap_quiet

h0=$(http_hits)
out=$(TOR_PROXY_SOCKS_PORT=$DEAD stw "$GO" get "http://go-down.example.test:$HPORT/" 2>&1)
rc=$?
check "Go under torwrap, proxy down: the program fails" [ $rc -ne 0 ]
check "Go under torwrap, proxy down: torwrap names the proxy" grep -q "proxy tor-proxy:$DEAD unreachable" <<<"$out"
check "Go under torwrap, proxy down: nothing reached the destination" [ "$(http_hits)" -eq "$h0" ]
check "Go under torwrap, proxy down: no DNS for the name anywhere" \
	bash -c "! grep -q 'go-down' '$DNS_LOG' '$TRAP_LOG'"
out=$(stw "$GO" parallel 16 "http://go-parallel.example.test:$HPORT/" 2>&1)
check "Go under torwrap: 16 concurrent requests" grep -qx "fetched 16/16" <<<"$out"

# A kernel without what the supervisor needs (simulated: seccomp() fails with ENOSYS): the Go program is
# refused, saying why; a C program runs with the library alone, with a warning.
if [[ $(uname -m) == x86_64 ]]; then
	out=$(nsrun "$PROGRAMS/static_client" nosys 317 "$TORWRAP" "$GO" get "http://go-nosys.example.test:$HPORT/" 2>&1)
	rc=$?
	check "no seccomp: the Go program is refused (exit 126)" [ $rc -eq 126 ]
	check "no seccomp: torwrap says it is a Go program and why" \
		grep -q "it is a Go program, whose network calls bypass libtorwrap.so, and the seccomp supervisor cannot run here" <<<"$out"
	out=$(nsrun "$PROGRAMS/static_client" nosys 317 env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} "$TORWRAP" \
		"$PROGRAMS/tcpget" nosys.example.test "$HPORT" 2>&1)
	check "no seccomp: a C program runs with the library alone" grep -q "hello from the internet" <<<"$out"
	check "no seccomp: with a warning that says so" \
		grep -q "the seccomp supervisor cannot run here.*runs with libtorwrap.so alone" <<<"$out"
fi

# The library's own calls carry the cookie: a C program's connects never reach the supervisor.
out=$(stw -v "$PROGRAMS/tcpget" cookie.example.test "$HPORT" 2>&1)
check "C program under torwrap: through the proxy" grep -q "hello from the internet" <<<"$out"
check "C program under torwrap: routed by the library (its log line), not the supervisor" \
	bash -c "grep -q 'connect cookie.example.test:$HPORT: via tor' <<<'$out' && ! grep -q 'pid [0-9]*: connect' <<<'$out'"
out=$(TORWRAP_SECCOMP_COOKIE= stw "$PROGRAMS/tcpget" 127.0.0.1 "$HPORT" 2>&1)
check "C program under torwrap: works whatever the caller's environment held" grep -q "hello from the internet" <<<"$out"

# ------------------------------------------------------------------------------------------ musl programs
if command -v musl-gcc >/dev/null; then
	MUSL_PROG=$WORK/musl_tcpget
	musl-gcc -std=c11 -D_GNU_SOURCE -O1 -o "$MUSL_PROG" "$TW_TOP/tests/programs/tcpget.c" 2>"$WORK/musl.err" ||
		notok "musl-gcc builds tests/programs/tcpget.c"
	check "the musl client is dynamically linked against musl" \
		bash -c "readelf -l '$MUSL_PROG' | grep -q 'ld-musl'"
	# Without the musl variant of the library: the supervisor alone, never the glibc library.
	mkdir -p "$WORK/glibc-only"
	cp "$TORWRAP" "$LIBTORWRAP" "$WORK/glibc-only/"
	# (No sanitizer runtime in LD_PRELOAD here: it is glibc's, and musl's loader would refuse it as it would
	# refuse our glibc library; the sanitizer build of torwrap links it and needs no preload.)
	out=$(nsrun "$WORK/glibc-only/torwrap" -v "$MUSL_PROG" 127.0.0.2 "$IPORT" 2>&1)
	check "musl program, no musl library: no loader error (the glibc library is not handed to it)" \
		bash -c "! grep -qiE 'relocat|Error loading|symbol not found' <<<'$out'"
	check "musl program, no musl library: runs under the supervisor (its connect decided there)" \
		bash -c "grep -q 'hello from tron-wallet-manager' <<<'$out' && grep -q 'pid [0-9]*: connect 127.0.0.2:$IPORT' <<<'$out'"
	if [[ -f $TW_BUILD/musl/libtorwrap.so ]]; then
		out=$(stw -v "$MUSL_PROG" musl-lib.example.test "$HPORT" 2>&1)
		check "musl program with the musl library beside: by name through the proxy" \
			grep -q "hello from the internet" <<<"$out"
		check "musl program with the musl library beside: the library routed it" \
			grep -q "connect musl-lib.example.test:$HPORT: via tor" <<<"$out"
	fi
else
	skip "musl programs: musl-gcc not installed (package musl-tools)"
fi

check "everything: the trap nameserver heard nothing after the control" trap_quiet
finish
