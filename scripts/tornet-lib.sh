# tornet-lib.sh: starting, awaiting and stopping a private Tor network (scripts/tor-testnet) in the background,
# shared by `make test` (tests/with-tornet), tests/integration/tor.sh and scripts/demo. Sourced, not run.
#
# The network takes 20-35 s to become usable, most of it waiting for the authorities' 10 s voting rounds, so it
# is started first and awaited last: `tornet_start_bg PARENT` returns at once; `tornet_await PARENT` waits for
# the start to finish and the network (and its onion service) to carry streams; `tornet_stop PARENT` stops
# exactly the processes whose pid files are in PARENT/net. Files in PARENT: net/ (the network), start.log,
# start.rc (written when `start` has finished: its exit status), base.
# shellcheck shell=bash

TORNET_TOOL=${TORNET_TOOL:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tor-testnet}

# Bases from 20000 up, 40 ports each, below Linux's ephemeral range (32768+) so no client's outgoing port can
# take one of ours. Derived from a seed (the caller's pid), so concurrent runs start from different bases;
# tor-testnet refuses a base whose ports are taken, and then the next candidate is tried.
tornet_bases() { # tornet_bases SEED: eight candidate bases
	local i
	for i in 0 1 2 3 4 5 6 7; do
		echo $((20000 + ((${1} + i * 97) % 300) * 40))
	done
}

# tornet_start_bg PARENT: starts the network in PARENT/net in the background; sets TORNET_START_PID.
tornet_start_bg() {
	local parent=$1
	mkdir -p "$parent"
	rm -f "$parent/start.rc"
	(
		rc=1
		for base in $(tornet_bases $$); do
			"$TORNET_TOOL" start "$parent/net" --base "$base" >"$parent/attempt.log" 2>&1
			rc=$?
			cat "$parent/attempt.log" >>"$parent/start.log"
			echo "$base" >"$parent/base"
			# Only a port clash is worth another base; anything else would fail the same way again.
			[[ $rc -ne 0 ]] && grep -q "ports in use" "$parent/attempt.log" || break
		done
		rm -f "$parent/attempt.log"
		echo "$rc" >"$parent/start.rc"
	) </dev/null &
	TORNET_START_PID=$!
}

# tornet_await_start PARENT: waits (up to 60 s) for `start` to finish: the tors are launched and the control
# port listens, but circuits need some more seconds. Returns non-zero, with the reason on stderr, if it failed.
tornet_await_start() {
	local parent=$1 i
	for ((i = 0; i < 600; i++)); do
		[[ -s "$parent/start.rc" ]] && break
		sleep 0.1
	done
	if [[ ! -s "$parent/start.rc" ]]; then
		echo "tornet: the network's start did not finish within 60 s" >&2
		tail -n 20 "$parent/start.log" >&2 2>/dev/null
		return 1
	fi
	if [[ $(cat "$parent/start.rc") != 0 ]]; then
		echo "tornet: the network did not start:" >&2
		tail -n 20 "$parent/start.log" >&2 2>/dev/null
		return 1
	fi
}

# tornet_await PARENT [TIMEOUT]: waits for the start to finish and the network, onion service included, to
# work. Prints tor-testnet's lines ("network ready 18.0 s after start ..."); returns non-zero on failure with
# the reason on stderr.
tornet_await() {
	tornet_await_start "$1" || return 1
	"$TORNET_TOOL" wait "$1/net" --onion --timeout "${2:-120}"
}

# tornet_stop PARENT: stops the network if its start got that far (waiting for a start still running).
tornet_stop() {
	local parent=$1
	if [[ -n ${TORNET_START_PID:-} ]]; then
		wait "$TORNET_START_PID" 2>/dev/null
		TORNET_START_PID=
	fi
	[[ -f "$parent/net/.tor-testnet" ]] && "$TORNET_TOOL" stop "$parent/net" >/dev/null 2>&1
	return 0
}
