#!/usr/bin/env bash
# audit.sh: `torwrap audit` (issue 16). A script reaches an internal service (direct by policy), an external
# name (through the proxy) and an internal name the policy does not know (refused as internal); the report
# lists the three with their verdicts and rules, the draft holds the line for the unknown name, and the draft
# added to the policy makes that name direct on a second run. SIGUSR1 prints the report while the command
# runs; a signal sent to the audit reaches the command; the command's exit status comes back.
. "$(dirname "$0")/lib.sh"

start_world

TGET=$PROGRAMS/tcpget
export TMPDIR=$WORK/tmp # the audit's private file goes here: the test sees it removed
mkdir -p "$TMPDIR"
# ledger-db: an internal service (the internal server at 127.0.0.2) whose name the policy does not list, known
# to the container's nameserver from the start, so the draft is the only change between the two runs. (Not in
# the hosts file: an internal name found there is answered from it, allowed or not.)
ADNS=$(free_port)
start_dns audit "$ADNS" --record tron-wallet-manager=127.0.0.2 --record tor-proxy=127.0.0.1 \
	--record ledger-db=127.0.0.2 || { notok "dns server"; finish; }
printf 'nameserver %s:%s\n' "$DNS_ADDR" "$ADNS" >"$WORK/resolv.conf"

# tw_bg ARGS...: the wrapper in the background, its own pid in $! (a function run with & would be a subshell,
# and a signal meant for the audit would reach that subshell instead).
tw_bg() { env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} "$TORWRAP" "$@" & }
# report_has ERR DEST PORT VERDICT RULE: the report in ERR has that row (COUNT any).
report_has() {
	grep -qE "^  $2 +$3 +$4 +[0-9]+ +$5\$" "$1" || { echo "# no row: $2 $3 $4 $5 in:" >&2; sed 's/^/#   /' "$1" >&2; return 1; }
}
# contains TEXT REGEX: a line of TEXT matches (one here-string each: all_true's commands share one stdin).
contains() { grep -qE "$2" <<<"$1"; }
# wait_line FILE REGEX: until a line of FILE matches (the command's own end is what bounds it).
# (60 s at most: a generous limit that only tells a report that never comes from a slow one)
wait_line() {
	local i
	for ((i = 0; i < 600; i++)); do
		grep -qE "$2" "$1" && return 0
		sleep 0.1
	done
	echo "# timed out waiting for /$2/ in $1" >&2
	return 1
}

# ------------------------------------------------------------------------------------------ the first run
script="'$TGET' tron-wallet-manager $IPORT; echo \"internal rc=\$?\";
	'$TGET' api.trongrid.io $HPORT; echo \"external rc=\$?\";
	'$TGET' ledger-db $IPORT; echo \"unknown rc=\$?\""
n0=$(socks_count)
out=$(tw audit --policy-draft "$WORK/draft" -- sh -c "$script" 2>"$WORK/audit1.err"); rc=$?
check "first run: the script ran to its end (exit $rc)" [ "$rc" -eq 0 ]
check "first run: internal service reached directly" all_true contains "$out" "hello from tron-wallet-manager" -- \
	contains "$out" "^internal rc=0$"
check "first run: external name fetched through the proxy" all_true contains "$out" "hello from the internet" -- \
	socks_saw 3 api.trongrid.io "$HPORT" -- [ $(($(socks_count) - n0)) -eq 1 ]
check "first run: unknown internal name refused" grep -q "^unknown rc=2$" <<<"$out"
check "report: the internal service, direct by its policy line" \
	report_has "$WORK/audit1.err" tron-wallet-manager "$IPORT" direct "$WORK/policy:2"
check "report: the external name, through Tor by default" \
	report_has "$WORK/audit1.err" api.trongrid.io "$HPORT" tor default
check "report: the unknown name, refused as internal (at its lookup, on the port getaddrinfo was given)" \
	report_has "$WORK/audit1.err" ledger-db "$IPORT" refuse "built-in internal-name"
check "first run: the unknown name was never asked of the nameserver" dns_not_asked "$WORK/dns-audit.log" ledger-db
check "report: the names refused as internal" grep -qx "internal names refused: ledger-db" "$WORK/audit1.err"
check "report: a header with the columns" grep -qE "^  DESTINATION +PORT +VERDICT +COUNT +RULE$" "$WORK/audit1.err"
check "draft: allows the unknown name on its port, saying why" \
	grep -qE "^allow ledger-db port $IPORT  # refused as an internal name \([0-9]+ lookups?(, [0-9]+ connections?)?\): allow it to reach it directly$" \
	"$WORK/draft"
check "draft: nothing for what the policy already decided" \
	bash -c "! grep -vE '^(#|allow ledger-db )' '$WORK/draft'"
check "the audit file is removed" [ -z "$(ls -A "$TMPDIR")" ]

# ----------------------------------------------------------------------------------------- the second run
cat "$WORK/draft" >>"$WORK/policy"
n0=$(socks_count)
out=$(tw audit -- "$TGET" ledger-db "$IPORT" 2>"$WORK/audit2.err"); rc=$?
check "with the draft: the unknown name is reached directly (exit $rc)" all_true [ "$rc" -eq 0 ] -- \
	contains "$out" "hello from tron-wallet-manager" -- [ "$(socks_count)" -eq "$n0" ] -- \
	dns_asked "$WORK/dns-audit.log" ledger-db
check "with the draft: the report says direct, by the draft's line" \
	report_has "$WORK/audit2.err" ledger-db "$IPORT" direct "$WORK/policy:[0-9]+"
check "with the draft: no name refused as internal" grep -qx "internal names refused: none" "$WORK/audit2.err"

# ----------------------------------------------------------------------------------- while the command runs
# The commands wait for a line on this fifo; the test holds it open for reading and writing, so its line is
# written even if a command has died already.
mkfifo "$WORK/hold"
exec {HOLD}<>"$WORK/hold"
tw_bg audit -- sh -c "'$TGET' api.trongrid.io $HPORT >/dev/null; echo done >'$WORK/fetched'; read x <'$WORK/hold'; exit 5" \
	2>"$WORK/audit3.err"
APID=$!
wait_file "$WORK/fetched"
kill -USR1 "$APID"
check "SIGUSR1: a report of what was used so far, while the command runs" all_true \
	wait_line "$WORK/audit3.err" "^internal names refused:" -- \
	report_has "$WORK/audit3.err" api.trongrid.io "$HPORT" tor default -- kill -0 "$APID"
echo go >&"$HOLD"
wait "$APID"; rc=$?
check "SIGUSR1: the command goes on and its exit status comes back (exit $rc)" all_true [ "$rc" -eq 5 ] -- \
	[ "$(grep -c '^internal names refused:' "$WORK/audit3.err")" -eq 2 ]

tw_bg audit -- sh -c "echo started >'$WORK/started'; read x <'$WORK/hold'" 2>"$WORK/audit4.err"
APID=$!
wait_file "$WORK/started"
kill -TERM "$APID"
wait "$APID"; rc=$?
check "SIGTERM to the audit reaches the command: 128+15, and the report (exit $rc)" all_true [ "$rc" -eq 143 ] -- \
	grep -q "^internal names refused: none$" "$WORK/audit4.err"

# ------------------------------------------------------------------------------------------------- usage
tw audit >/dev/null 2>"$WORK/usage.err"; rc=$?
check "usage: no command is exit 2, with a message" all_true [ "$rc" -eq 2 ] -- \
	grep -q "no command to run" "$WORK/usage.err"
tw audit --policy-draft >/dev/null 2>"$WORK/usage.err"; rc=$?
check "usage: --policy-draft without a file is exit 2" all_true [ "$rc" -eq 2 ] -- \
	grep -qe "--policy-draft needs a file" "$WORK/usage.err"
tw audit --policy-draft "$WORK/no/such/dir/draft" -- true 2>"$WORK/usage.err"; rc=$?
check "usage: an unwritable draft is refused before the run (exit 2)" all_true [ "$rc" -eq 2 ] -- \
	grep -q "cannot write the policy draft" "$WORK/usage.err"
out=$(tw audit --help); rc=$?
check "usage: --help (exit $rc)" all_true [ "$rc" -eq 0 ] -- contains "$out" "^Usage: torwrap audit"
out=$(tw audit --proxy "127.0.0.1:$SPORT" --policy-draft "$WORK/draft2" -q -- sh -c 'exit 7' 2>&1); rc=$?
check "wrapper options around audit's, and the command's status (exit $rc)" all_true [ "$rc" -eq 7 ] -- \
	[ -f "$WORK/draft2" ]

finish
