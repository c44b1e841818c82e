#!/usr/bin/env bash
# logjson.sh: logs a stack can ship (issue 16). With TORWRAP_LOG_FORMAT=json every line torwrap writes is one
# JSON object (docs/policy.md, "Log lines"), for every kind of event: lookups (tor, direct, refused), connects
# (direct, refused), connections through the proxy (accepted, and refused by Tor with its reply code), a
# program's own DNS query answered under the wrapper (dig), a datagram refused, a configuration error, an exec
# refused, and a statically linked program under the supervisor (its lines carry the traced pid).
#   - every line parses, with the keys every line has (time, level, pid, program, event, msg) and the fields of
#     its event; each event kind appeared;
#   - TORWRAP_LOG_FILE gets the lines of a program whose stderr is closed (2>&-); a TORWRAP_LOG_FILE that cannot
#     be opened: the reason once on stderr, and the lines there;
#   - TORWRAP_AUDIT_FILE gets the decisions in JSON even with TORWRAP_LOG_LEVEL=none;
#   - TORWRAP_LOG_FORMAT=bogus fails closed (the wrapper refuses to start, the library refuses connections);
#   - text stays the default, byte for byte.
# Loopback only, no root needed.
. "$(dirname "$0")/lib.sh"

start_world

# A second proxy that refuses one name the way Tor does (reply 05, connection refused).
FPORT=$(free_port)
REFUSED_NAME=refused.logjson.example.test
start_socks fail "$FPORT" --default-ip 127.0.0.1 --fail "$REFUSED_NAME=05" || { notok "the refusing socks server"; finish; }

# A statically linked program: the supervisor serves it (the library cannot load there).
SC=$WORK/static_client
gcc -std=c11 -D_GNU_SOURCE -O1 -pthread -static -o "$SC" "$TW_TOP/tests/programs/static_client.c" 2>"$WORK/gcc.err" ||
	{ notok "gcc -static builds tests/programs/static_client.c"; cat "$WORK/gcc.err"; finish; }

LOG=$WORK/torwrap.jsonl
: >"$LOG"
# jrun CMD...: CMD with JSON lines at debug level into $LOG (its own stderr apart: a program's messages are not
# torwrap's lines).
jrun() {
	TORWRAP_LOG_FORMAT=json TORWRAP_LOG_LEVEL=debug TORWRAP_LOG_FILE=$LOG "$@" >>"$WORK/jrun.out" 2>>"$WORK/jrun.err"
}

# ------------------------------------------------------------------------------------------ every event kind
jrun preload "$PROGRAMS/tcpget" 127.0.0.1 "$HPORT"                       # connect: direct (built-in localhost)
jrun preload "$PROGRAMS/resolve" gai ext.logjson.example.test            # lookup: tor (default)
jrun preload "$PROGRAMS/resolve" gai tron-wallet-manager                 # lookup: direct (a policy rule)
jrun preload "$PROGRAMS/tcpget" tron-wallet-manager "$IPORT"             # connect: direct, by the name's rule
jrun preload "$PROGRAMS/resolve" gai intranet                            # lookup: refused (internal name)
jrun preload "$PROGRAMS/tcpget" via.logjson.example.test "$HPORT"        # proxy: accepted (reply 0)
TOR_PROXY_SOCKS_PORT=$FPORT jrun preload "$PROGRAMS/tcpget" "$REFUSED_NAME" "$HPORT" # proxy: Tor's reply 05
TORWRAP_MODE=onion-only jrun preload "$PROGRAMS/tcpget" 198.51.100.7 "$HPORT" # connect: refused (mode)
jrun preload "$PROGRAMS/static_client" udp 198.51.100.7 9                 # send: refused (UDP cannot go to Tor)
jrun tw dig +short +tries=1 +time=2 @"$DNS_ADDR" -p "$DPORT" dig.logjson.example.test # dns: answered by torwrap
TORWRAP_MODE=bogus jrun preload "$PROGRAMS/tcpget" 127.0.0.1 "$HPORT"     # config: broken
jrun preload sh -c "'$SC' exit 0"                                         # exec: refused (static)
jrun tw "$SC" get 198.51.100.7 "$HPORT"                                   # supervised: proxy and connect
jrun tw "$SC" get 127.0.0.1 "$HPORT"

# judge LOG: every line JSON with the keys; prints "kinds K1 K2..." and the facts the checks below read.
judge() {
	$PY - "$1" "$2" "${3:-0}" <<-'PY'
	import json, re, sys
	kinds, facts, bad = set(), set(), 0
	levels = {"error", "warn", "info", "debug"}
	events = {"lookup", "connect", "dns", "proxy", "send", "config", "exec", "log"}
	order = ["time", "level", "pid", "program", "event", "destination", "verdict", "rule", "proxy", "errno",
	         "tor_reply", "msg"]
	static_pids, sv_connect_pids = set(), set()
	for n, raw in enumerate(open(sys.argv[1], "rb"), 1):
	    try:
	        r = json.loads(raw)
	    except ValueError as e:
	        print("line %d is not JSON (%s): %r" % (n, e, raw[:200]), file=sys.stderr); bad += 1; continue
	    problems = []
	    if not raw.endswith(b"\n") or raw.count(b"\n") != 1: problems.append("not one line")
	    if not isinstance(r, dict): problems.append("not an object"); r = {}
	    for k in ("time", "level", "pid", "program", "event", "msg"):
	        if k not in r: problems.append("no " + k)
	    if [k for k in r if k not in order] or [k for k in order if k in r] != list(r): problems.append("keys")
	    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(r.get("time"))): problems.append("time")
	    if r.get("level") not in levels: problems.append("level")
	    if r.get("event") not in events: problems.append("event")
	    if not isinstance(r.get("pid"), int) or r["pid"] <= 0: problems.append("pid")
	    if "verdict" in r and r["verdict"] not in ("direct", "tor", "refuse"): problems.append("verdict")
	    if "errno" in r and not re.fullmatch(r"E[A-Z0-9]+|\d+", r["errno"]): problems.append("errno")
	    if "tor_reply" in r and not isinstance(r["tor_reply"], int): problems.append("tor_reply")
	    if problems:
	        print("line %d: %s: %r" % (n, ", ".join(problems), raw[:300]), file=sys.stderr); bad += 1
	    ev, v = r.get("event"), r.get("verdict")
	    kinds.add(ev)
	    if ev == "lookup" and v: facts.add("lookup-" + v)
	    if ev == "lookup" and v == "refuse" and r.get("rule") == "built-in internal-name": facts.add("lookup-internal")
	    if ev == "lookup" and v == "direct" and re.fullmatch(r".*/policy:\d+", r.get("rule", "")): facts.add("lookup-rule")
	    if ev == "connect" and v == "direct" and r.get("destination") == "127.0.0.1:%s" % sys.argv[2] \
	       and r.get("rule") == "built-in localhost": facts.add("connect-direct")
	    if ev == "connect" and v == "direct" and r.get("destination") == "tron-wallet-manager:%s" % sys.argv[3] \
	       and re.fullmatch(r".*/policy:\d+", r.get("rule", "")): facts.add("connect-direct-name")
	    if ev == "connect" and v == "refuse" and r.get("rule") == "mode onion-only" and r.get("errno") == "EPERM":
	        facts.add("connect-refused")
	    if ev == "proxy" and r.get("tor_reply") == 0 and r.get("destination", "").startswith("via.logjson"):
	        facts.add("proxy-ok")
	    if ev == "proxy" and r.get("tor_reply") == 5 and r.get("errno") == "ECONNREFUSED" and "proxy" in r:
	        facts.add("proxy-refused")
	    if ev == "send" and v == "refuse" and r.get("destination") == "198.51.100.7:9": facts.add("send-refused")
	    if ev == "dns" and r.get("destination") == "dig.logjson.example.test" and r.get("program") == "torwrap":
	        facts.add("dns-answered")
	    if ev == "config" and "TORWRAP_MODE" in r.get("msg", ""): facts.add("config-broken")
	    if ev == "exec" and v == "refuse" and "exec refused" in r.get("msg", ""): facts.add("exec-refused")
	    if ev == "exec" and r.get("program") == "torwrap" and "static_client runs" in r["msg"]:
	        static_pids.add(r["pid"])
	    if ev in ("connect", "proxy") and r.get("program") == "torwrap" and r["msg"].startswith("pid "):
	        sv_connect_pids.add(r["pid"])
	if len(static_pids) == 2 and static_pids <= sv_connect_pids: facts.add("supervised-pid")
	print("bad", bad)
	print("kinds", " ".join(sorted(kinds)))
	print("facts", " ".join(sorted(facts)))
	PY
}
judge "$LOG" "$HPORT" "$IPORT" >"$WORK/judge.out" 2>"$WORK/judge.err"
sed 's/^/# /' "$WORK/judge.out" "$WORK/judge.err" | head -40
has() { grep -qw -- "$2" <<<"$(sed -n "s/^$1 //p" "$WORK/judge.out")"; }
check "json: torwrap wrote lines" [ -s "$LOG" ]
check "json: every line is one JSON object with the keys in order" grep -qx "bad 0" "$WORK/judge.out"
for kind in lookup connect dns proxy send config exec; do
	check "json: an event \"$kind\" appeared" has kinds "$kind"
done
check "json: lookup through Tor (verdict tor)" has facts lookup-tor
check "json: lookup of an allowed name (verdict direct, rule FILE:LINE)" has facts lookup-rule
check "json: lookup refused (internal name, rule built-in internal-name)" has facts lookup-internal
check "json: direct connect (destination, rule built-in localhost)" has facts connect-direct
check "json: direct connect to an allowed name (the name as destination, rule FILE:LINE)" has facts connect-direct-name
check "json: refused connect (rule mode onion-only, errno EPERM)" has facts connect-refused
check "json: connection through the proxy (tor_reply 0)" has facts proxy-ok
check "json: Tor refused (tor_reply 5, errno ECONNREFUSED, proxy)" has facts proxy-refused
check "json: datagram refused (event send)" has facts send-refused
check "json: dig's own query answered by torwrap (event dns)" has facts dns-answered
check "json: configuration error (event config)" has facts config-broken
check "json: exec refused (event exec)" has facts exec-refused
check "json: the supervisor's lines carry the traced pid" has facts supervised-pid

# ----------------------------------------------------------------------------------------------------- sinks
F=$WORK/closed-stderr.jsonl
TORWRAP_LOG_FORMAT=json TORWRAP_LOG_LEVEL=info TORWRAP_LOG_FILE=$F preload "$PROGRAMS/tcpget" 127.0.0.1 "$HPORT" \
	>/dev/null 2>&-
check "TORWRAP_LOG_FILE: stderr closed, the file got the connect" \
	grep -q "\"event\":\"connect\",\"destination\":\"127.0.0.1:$HPORT\",\"verdict\":\"direct\"" "$F"
judge "$F" "$HPORT" >"$WORK/judge2.out" 2>/dev/null
check "TORWRAP_LOG_FILE: every line JSON" grep -qx "bad 0" "$WORK/judge2.out"
check "TORWRAP_LOG_FILE: mode 0600" [ "$(stat -c %a "$F")" = 600 ]

out=$(TORWRAP_LOG_FORMAT=json TORWRAP_LOG_LEVEL=info TORWRAP_LOG_FILE=$WORK/no-such-dir/torwrap.log \
	preload "$PROGRAMS/resolve" gai a.logjson.example.test 2>&1 >/dev/null)
echo "$out" | sed 's/^/# unwritable: /' | head -5
check "unwritable TORWRAP_LOG_FILE: the reason once on stderr" \
	[ "$(grep -c 'TORWRAP_LOG_FILE .*cannot write (ENOENT): logging to stderr' <<<"$out")" -eq 1 ]
check "unwritable TORWRAP_LOG_FILE: the lines go to stderr" grep -q '"event":"lookup","destination":"a.logjson' <<<"$out"

A=$WORK/audit.jsonl
out=$(TORWRAP_LOG_LEVEL=none TORWRAP_AUDIT_FILE=$A preload "$PROGRAMS/tcpget" audit.logjson.example.test "$HPORT" \
	2>&1 >/dev/null)
check "TORWRAP_AUDIT_FILE: nothing on stderr at level none" [ -z "$out" ]
check "TORWRAP_AUDIT_FILE: the lookup and the proxied connection, in JSON" \
	bash -c "grep -q '\"event\":\"lookup\",\"destination\":\"audit.logjson' '$A' &&
		grep -q '\"event\":\"proxy\",\"destination\":\"audit.logjson' '$A'"
check "TORWRAP_AUDIT_FILE: no configuration or plain lines" bash -c "! grep -qE '\"event\":\"(log|config)\"' '$A'"

# -------------------------------------------------------------------------------------------- fail closed
out=$(TORWRAP_LOG_FORMAT=bogus tw true 2>&1)
rc=$?
check "TORWRAP_LOG_FORMAT=bogus: the wrapper refuses (exit 78) naming the variable" \
	bash -c "[ $rc -eq 78 ] && grep -q 'TORWRAP_LOG_FORMAT=\"bogus\"' <<<\"\$1\"" _ "$out"
out=$(TORWRAP_LOG_FORMAT=json TORWRAP_MODE=bogus tw true 2>&1)
rc=$?
check "json, a broken configuration: the wrapper's refusal is a JSON line too (event config, exit 78)" \
	bash -c "[ $rc -eq 78 ] && [ \$(wc -l <<<\"\$1\") -eq 1 ] &&
		$PY -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(r[\"event\"] != \"config\" or \"TORWRAP_MODE\" not in r[\"msg\"])' \"\$1\"" _ "$out"
out=$(TORWRAP_LOG_FORMAT=bogus preload "$PROGRAMS/tcpget" 198.51.100.7 "$HPORT" 2>&1)
check "TORWRAP_LOG_FORMAT=bogus: the library refuses the connection (EPERM)" grep -q "connect: EPERM" <<<"$out"
check "TORWRAP_LOG_FORMAT=bogus: one text line names the variable" \
	grep -q "^torwrap\[[0-9]*\]: error: configuration broken: TORWRAP_LOG_FORMAT=\"bogus\"" <<<"$out"

# ----------------------------------------------------------------------------------------- text by default
out=$(TORWRAP_LOG_LEVEL=info preload "$PROGRAMS/tcpget" 127.0.0.1 "$HPORT" 2>&1 >/dev/null |
	grep -v '^torwrap\[[0-9]*\]: info: proxy ')
pid_line=$(sed -n 's/^torwrap\[\([0-9]*\)\]: .*/\1/p' <<<"$out" | head -n 1)
check "text by default: the line as before, byte for byte" \
	[ "$out" = "torwrap[$pid_line]: info: connect 127.0.0.1:$HPORT: direct" ]
out=$(TORWRAP_LOG_FORMAT=text TORWRAP_LOG_LEVEL=info preload "$PROGRAMS/tcpget" 127.0.0.1 "$HPORT" 2>&1 >/dev/null)
check "TORWRAP_LOG_FORMAT=text: no JSON" bash -c "! grep -q '^{' <<<\"\$1\"" _ "$out"

finish
