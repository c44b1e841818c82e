#!/usr/bin/env python3
"""async_check.py: what one run of an event-loop client (tests/programs/asyncget.*, AsyncGet.java) and the
proxy's log (socks5_server.py) say about it, as "NAME VALUE" lines for tests/integration/async.sh.

    async_check.py --log SOCKS_LOG --skip LINES --out PROGRAM_JSON --body TEXT
                   [--good HOST,HOST...] [--fail HOST=ERRNO ...]

--skip: the log's lines before the run (the run's requests are the lines after them). --good: the names that
must work and return TEXT as their body; --fail HOST=ERRNO: a name that must fail with that errno name (any:
with any error). Everything is computed from the two files: the proxy's clock orders its own events, and the
program's ticks (time.time() on the same host) are placed between them; no duration is judged.

Lines printed:
  results N             connections the program reported on
  good_ok N             --good names fetched with the right body
  peers_ok N / peers_known N   of those, how many said getpeername named the address asked for / reported it
  fail_ok HOST yes|no   the --fail name failed with its errno; fail_got HOST OP:ERROR what the program said
  requests N            CONNECT requests the proxy logged in the run
  by_name yes|no        each by hostname (ATYP 3), one per expected name, no other
  pipelined N           requests whose greeting, auth and CONNECT arrived in one flight
  before_first_reply N  requests that had arrived before the proxy's first reply went out
  ticks_waiting N       ticks of the program's loop between the first request's arrival and the first reply
  early N               requests after which application bytes arrived before the reply (optimistic data)
  problems TEXT         what went wrong, for the test's log
"""

import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--body", required=True)
    ap.add_argument("--good", default="")
    ap.add_argument("--fail", action="append", default=[])
    a = ap.parse_args()
    good = [h for h in a.good.split(",") if h]
    fails = dict(f.split("=", 1) for f in a.fail)
    problems = []

    try:
        with open(a.out) as f:
            prog = json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError) as e:
        prog = {"results": [], "ticks": []}
        problems.append("no JSON from the program (%s)" % e)
    by_host = {r.get("host"): r for r in prog.get("results", [])}

    good_ok = peers_ok = peers_known = 0
    for h in good:
        r = by_host.get(h)
        if r is None:
            problems.append("%s: no result" % h)
        elif not r.get("ok"):
            problems.append("%s: %s: %s" % (h, r.get("op"), r.get("error")))
        elif r.get("body", "").strip() != a.body.strip():
            problems.append("%s: body %r" % (h, r.get("body", "")[:60]))
        else:
            good_ok += 1
            if "peer_ok" in r:
                peers_known += 1
                peers_ok += bool(r["peer_ok"])
                if not r["peer_ok"]:
                    problems.append("%s: getpeername did not name the address asked for" % h)
    print("results", len(by_host))
    print("good_ok", good_ok)
    print("peers_ok", peers_ok)
    print("peers_known", peers_known)
    for h, want in fails.items():
        r = by_host.get(h)
        got = "none" if r is None else ("ok" if r.get("ok") else "%s:%s" % (r.get("op"), r.get("error")))
        matched = r is not None and not r.get("ok") and (want == "any" or r.get("error") == want)
        print("fail_got", h, got)
        print("fail_ok", h, "yes" if matched else "no")

    recs = []
    try:
        with open(a.log) as f:
            for line in f.readlines()[a.skip:]:
                if line.strip():
                    recs.append(json.loads(line))
    except OSError as e:
        problems.append("no proxy log (%s)" % e)
    recs = [r for r in recs if r.get("requested") is not None]
    expected = sorted(good + list(fails))
    hosts = sorted(r.get("host") for r in recs)
    by_name = all(r.get("atyp") == 3 for r in recs) and hosts == expected
    if not by_name:
        problems.append("proxy requests %s (ATYP %s), expected one by name for each of %d names" % (
            hosts[:6] + (["..."] if len(hosts) > 6 else []), sorted({r.get("atyp") for r in recs}), len(expected)))
    print("requests", len(recs))
    print("by_name", "yes" if by_name else "no")
    print("pipelined", sum(1 for r in recs if r.get("pipelined")))
    if recs:
        first_req = min(r["requested"] for r in recs)
        first_reply = min(r["replied"] for r in recs if r.get("replied") is not None)
        before = sum(1 for r in recs if r["requested"] < first_reply)
        ticks = sum(1 for t in prog.get("ticks", []) if first_req < t < first_reply)
    else:
        before = ticks = 0
    print("before_first_reply", before)
    print("ticks_waiting", ticks)
    print("early", sum(1 for r in recs if (r.get("early_bytes") or 0) > 0))
    print("problems", "; ".join(problems) if problems else "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
