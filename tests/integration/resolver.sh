#!/usr/bin/env bash
# resolver.sh: the library's own resolver (c-ares, for allowed names) is bounded by its timeouts whatever the
# nameserver does. A nameserver that answers A but never AAAA (Docker's and podman's embedded ones have done so)
# must cost a lookup at most the resolver's timeouts: c-ares reads every datagram it can once a socket is
# readable, so a blocking socket left it waiting in recvfrom for the AAAA answer that never comes, for ever.
. "$(dirname "$0")/lib.sh"
start_world
# A second nameserver for these names only: answers A, never AAAA.
QPORT=$(free_port)
start_dns quiet "$QPORT" --record mute-aaaa.internal.test=127.0.0.2 --silent mute-aaaa.internal.test:AAAA
printf 'nameserver %s:%s\n' "$DNS_ADDR" "$QPORT" >"$WORK/resolv-quiet.conf"
T=$PROGRAMS/tcpget
# The guard only tells a hang from an answer: the lookup's own bound is c-ares's (2 tries of 2.5 s here).
out=$(TORWRAP_RESOLV_CONF=$WORK/resolv-quiet.conf timeout 120 env LD_PRELOAD="$LIBTORWRAP${SAN_PRELOAD:+:$SAN_PRELOAD}" \
	"$T" mute-aaaa.internal.test "$IPORT" 2>&1)
rc=$?
check "an allowed name whose AAAA is never answered: the lookup ends (no hang)" test $rc -ne 124
check "... with the A answer, and the connection made" grep -q "hello from tron-wallet-manager" <<<"$out"
check "... the nameserver was asked for AAAA and kept silent" \
	grep -q '"qname": "mute-aaaa.internal.test", "qtype": "AAAA".*"silent": true' "$WORK/dns-quiet.log"
out=$(TORWRAP_RESOLV_CONF=$WORK/resolv-quiet.conf timeout 120 "$TORWRAP" "$T" mute-aaaa.internal.test "$IPORT" 2>&1)
rc=$?
check "the same under the wrapper: no hang, connected" bash -c "[ $rc -ne 124 ] && grep -q 'hello from tron-wallet-manager' <<<'$out'"
finish
