#!/usr/bin/env python3
"""leak_analyze.py: scripts/leak-test's verdicts, from the packet capture and the container nameserver's log.

    leak_analyze.py --config CONFIG.json --cells DIR --pcap FILE --dnslog FILE --report OUT.json
                    [--known FILE] [--strict] [--color]

Evidence, in-band only (nothing is attributed by time):
  * the capture, taken on the network side of the service container's veth: every frame whose source is the
    container's MAC address. The harness sends a marker datagram ("twlt-mark begin ID" to the gateway's
    discard port) before each cell; a flow belongs to the cell during which its first packet was seen.
  * the log of the container's nameserver (dnsmasq at 127.0.0.11, --log-queries): the harness asks it for the
    marker name bID.RUN.twlt-mark before each cell. With --dns trap (config "dns": "trap") the nameserver is
    tests/tools/dns_server.py --trap, whose JSON lines hold every message whole.

Verdict rules, per cell:
  leak       a packet from the container to anything but the proxy (tor-proxy:9050), an internal service
             address, or the marker sink; the nameserver's own forwarding of a leaked query (from its fixed
             --query-port to the upstream resolver) is evidence of a DNS leak, not counted twice
  dns        a query at 127.0.0.11 for a name that is not internal (internal: the stack's names, reverse
             names of internal addresses, the harness's markers). With the trap: a name that is not internal
             anywhere in a message (any section, owner or data), an opcode other than QUERY, an EDNS option other
             than COOKIE and PADDING, bytes after the message, or a message that does not parse
  misrouted  a SOCKS request (parsed from the capture) for an internal name or address
  fail       a request that should have worked did not, or one that must fail closed worked
A cell listed in the known file ("PROGRAM:SCENARIO CATEGORY[,CATEGORY] ISSUE REASON") is "expected" when
what it showed is a non-empty subset of the listed categories, "xpass" when it showed nothing (the list can
shrink), and unexpected otherwise. --strict ignores the known list.

Exit status: 0 when no cell is unexpected, 1 otherwise; 2 when the evidence is incomplete.
"""

import argparse
import ipaddress
import json
import os
import re
import shlex
import struct
import sys

CATS = ("leak", "dns", "misrouted", "fail")
SHORT = {"leak": "LEAK", "dns": "DNS", "misrouted": "MISR", "fail": "FAIL"}
ICMP4_ERRORS = {3, 4, 5, 11, 12}
ICMP6_ERRORS = {1, 2, 3, 4}
ICMP6_NOISE = {130, 131, 132, 133, 134, 135, 136, 137, 143}


# ------------------------------------------------------------------------------------------------- pcap
def read_pcap(path):
    """Yields (index, frame bytes) from a classic pcap file (Ethernet link type)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError("capture %s is empty or truncated" % path)
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise ValueError("%s is not a pcap file" % path)
    linktype = struct.unpack(end + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError("%s: link type %d, expected Ethernet" % (path, linktype))
    off, i = 24, 0
    while off + 16 <= len(data):
        _sec, _frac, incl, _orig = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        if off + incl > len(data):
            break  # a record cut short by the capture's end
        yield i, data[off:off + incl]
        off += incl
        i += 1


def parse_frame(frame):
    """Returns a dict describing an Ethernet frame's IP packet, or a dict with kind 'other'."""
    if len(frame) < 14:
        return {"kind": "other"}
    src_mac = frame[6:12]
    etype = struct.unpack("!H", frame[12:14])[0]
    p = frame[14:]
    pkt = {"src_mac": src_mac, "kind": "other", "etype": etype}
    if etype == 0x0800 and len(p) >= 20:
        ihl = (p[0] & 0x0F) * 4
        proto = p[9]
        pkt.update(kind="ip", ver=4, src=str(ipaddress.IPv4Address(p[12:16])),
                   dst=str(ipaddress.IPv4Address(p[16:20])), proto=proto)
        total = struct.unpack("!H", p[2:4])[0]
        frag = struct.unpack("!H", p[6:8])[0] & 0x1FFF
        l4 = p[ihl:total] if total >= ihl else p[ihl:]
        if frag:
            pkt["proto"] = -1  # a non-first fragment: no transport header
        parse_l4(pkt, proto if not frag else -1, l4)
    elif etype == 0x86DD and len(p) >= 40:
        nxt = p[6]
        plen = struct.unpack("!H", p[4:6])[0]
        pkt.update(kind="ip", ver=6, src=str(ipaddress.IPv6Address(p[8:24])),
                   dst=str(ipaddress.IPv6Address(p[24:40])))
        l4 = p[40:40 + plen]
        while nxt in (0, 43, 60, 44) and len(l4) >= 8:
            if nxt == 44:
                fragoff = struct.unpack("!H", l4[2:4])[0] >> 3
                nxt, l4 = l4[0], l4[8:]
                if fragoff:
                    nxt = -1
                    break
                continue
            nxt, l4 = l4[0], l4[(l4[1] + 1) * 8:]
        pkt["proto"] = nxt
        parse_l4(pkt, nxt, l4)
    elif etype == 0x0806:
        pkt["kind"] = "arp"
    return pkt


def parse_l4(pkt, proto, l4):
    pkt["sport"] = pkt["dport"] = None
    pkt["payload"] = b""
    if proto == 6 and len(l4) >= 20:
        sport, dport, seq = struct.unpack("!HHI", l4[:8])
        doff = (l4[12] >> 4) * 4
        pkt.update(sport=sport, dport=dport, seq=seq, tcpflags=l4[13], payload=l4[doff:])
    elif proto == 17 and len(l4) >= 8:
        sport, dport = struct.unpack("!HH", l4[:4])
        pkt.update(sport=sport, dport=dport, payload=l4[8:])
    elif proto in (1, 58) and len(l4) >= 2:
        pkt["icmp_type"] = l4[0]


PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6", 132: "sctp", -1: "fragment"}


def proto_name(p):
    return PROTO_NAMES.get(p, "ip-proto-%s" % p)


# ------------------------------------------------------------------------------------------------- DNS
def dns_qname(payload):
    """The question name of a DNS message (UDP payload), or None."""
    try:
        off, labels = 12, []
        while True:
            n = payload[off]
            if n == 0 or n & 0xC0:
                break
            labels.append(payload[off + 1:off + 1 + n].decode("ascii", "replace"))
            off += 1 + n
        return ".".join(labels) or "."
    except IndexError:
        return None


def ptr_address(name):
    """The address a reverse-lookup name stands for, or None."""
    n = name.lower().rstrip(".")
    if n.endswith(".in-addr.arpa"):
        parts = n[:-len(".in-addr.arpa")].split(".")
        if len(parts) == 4:
            try:
                return ipaddress.ip_address(".".join(reversed(parts)))
            except ValueError:
                return None
    if n.endswith(".ip6.arpa"):
        nib = n[:-len(".ip6.arpa")].split(".")
        if len(nib) == 32:
            h = "".join(reversed(nib))
            try:
                return ipaddress.ip_address(":".join(h[i:i + 4] for i in range(0, 32, 4)))
            except ValueError:
                return None
    return None


# ----------------------------------------------------------------------------------------------- SOCKS
def parse_socks(stream):
    """Parses what a client sent to a SOCKS5 proxy. Returns a dict (atyp, host, port, user) or None."""
    try:
        if len(stream) < 2 or stream[0] != 5:
            return {"error": "not SOCKS5"} if stream else None
        n = stream[1]
        methods = list(stream[2:2 + n])
        pos = 2 + n
        user = None
        if pos < len(stream) and stream[pos] == 1 and 2 in methods:
            ulen = stream[pos + 1]
            user = stream[pos + 2:pos + 2 + ulen].decode("utf-8", "replace")
            plen = stream[pos + 2 + ulen]
            pos = pos + 3 + ulen + plen
        if pos + 4 > len(stream):
            return None  # no request sent (the proxy refused the connection, or the client gave up)
        ver, cmd, _rsv, atyp = stream[pos:pos + 4]
        pos += 4
        if atyp == 1:
            host = str(ipaddress.IPv4Address(stream[pos:pos + 4]))
            pos += 4
        elif atyp == 4:
            host = str(ipaddress.IPv6Address(stream[pos:pos + 16]))
            pos += 16
        elif atyp == 3:
            ln = stream[pos]
            host = stream[pos + 1:pos + 1 + ln].decode("utf-8", "replace")
            pos += 1 + ln
        else:
            return {"error": "ATYP %d" % atyp}
        port = struct.unpack("!H", stream[pos:pos + 2])[0]
        return {"cmd": cmd, "atyp": atyp, "host": host, "port": port, "user": user}
    except (IndexError, struct.error, ValueError):
        return {"error": "truncated request"}


# --------------------------------------------------------------------------------------------- analysis
class Topology:
    def __init__(self, cfg):
        self.cfg = cfg
        self.svc_mac = bytes.fromhex(cfg["svc_mac"].replace(":", ""))
        self.proxy = (cfg["proxy_addr"], int(cfg["proxy_port"]))
        self.internal_addrs = {str(ipaddress.ip_address(a)) for a in cfg["internal_addrs"]}
        self.internal_nets = [ipaddress.ip_network(n) for n in cfg["internal_nets"]]
        self.internal_names = {n.lower().rstrip(".") for n in cfg["internal_names"]}
        self.upstream = cfg["upstream_dns"]
        self.query_port = int(cfg["query_port"])
        self.marker = (cfg["marker_addr"], int(cfg["marker_port"]))
        self.run = cfg["run_id"]

    def internal_name(self, name):
        n = name.lower().rstrip(".")
        if n in self.internal_names or n.endswith(".%s.twlt-mark" % self.run) or n.endswith(".twlt-mark"):
            return True
        a = ptr_address(n)
        return a is not None and any(a in net for net in self.internal_nets)

    def internal_target(self, host):
        try:
            a = ipaddress.ip_address(host)
        except ValueError:
            return self.internal_name(host)
        return any(a in net for net in self.internal_nets)


def analyse_capture(topo, pcap_path):
    """Returns (cells: {id: evidence}, outside: evidence for flows before the first marker, markers seen)."""
    flows = {}        # key -> flow dict
    current = None    # id of the cell whose begin marker was seen last
    markers = []
    for _i, frame in read_pcap(pcap_path):
        pkt = parse_frame(frame)
        if pkt.get("src_mac") != topo.svc_mac:
            continue
        if pkt["kind"] == "arp":
            continue
        if pkt["kind"] != "ip":
            key = ("ether", pkt.get("etype"), current)
            cls = "leak"
        else:
            proto = pkt["proto"]
            if proto == 58 and pkt.get("icmp_type") in ICMP6_NOISE:
                continue  # neighbour discovery and MLD: the link itself, not traffic
            if proto == 17 and (pkt["dst"], pkt["dport"]) == topo.marker and pkt["payload"].startswith(b"twlt-mark "):
                words = pkt["payload"].decode("ascii", "replace").split()
                if len(words) >= 3:
                    markers.append((words[1], words[2]))
                    if words[1] == "begin":
                        current = words[2]
                continue
            if (proto == 1 and pkt.get("icmp_type") in ICMP4_ERRORS) or \
                    (proto == 58 and pkt.get("icmp_type") in ICMP6_ERRORS):
                key = ("icmp-error", pkt["src"], pkt["dst"], proto, current)
                cls = "icmp-error"
            else:
                # A TCP connection belongs to the cell that opened it; datagrams (the nameserver forwards all its
                # queries from one port) to the cell during which each was sent.
                key = (proto, pkt["src"], pkt.get("sport"), pkt["dst"], pkt.get("dport"))
                if proto != 6:
                    key += (current,)
                if proto == 6 and (pkt["dst"], pkt["dport"]) == topo.proxy:
                    cls = "proxy"
                elif proto == 17 and pkt["dst"] == topo.upstream and pkt["dport"] == 53 and \
                        pkt["sport"] == topo.query_port:
                    cls = "dns-forward"
                elif pkt["dst"] in topo.internal_addrs:
                    cls = "internal"
                else:
                    cls = "leak"
        fl = flows.get(key)
        if fl is None:
            fl = flows[key] = {"cell": current, "class": cls, "proto": proto_name(pkt.get("proto")),
                               "dst": pkt.get("dst"), "dport": pkt.get("dport"), "packets": 0, "bytes": 0,
                               "segments": {}, "qnames": [], "syn": False}
            if pkt["kind"] != "ip":
                fl.update(proto="ethertype-0x%04x" % pkt.get("etype", 0))
        fl["packets"] += 1
        fl["bytes"] += len(frame)
        if pkt.get("proto") == 6:
            if pkt.get("tcpflags", 0) & 0x02:
                fl["syn"] = True
            if pkt["payload"]:
                fl["segments"].setdefault(pkt["seq"], pkt["payload"])
        if cls == "dns-forward" and pkt["payload"]:
            q = dns_qname(pkt["payload"])
            if q and q not in fl["qnames"]:
                fl["qnames"].append(q)

    cells = {}
    for fl in flows.values():
        ev = cells.setdefault(fl["cell"], {"leaks": [], "proxied": [], "internal": [], "dns_forwarded": [],
                                            "icmp_errors": []})
        if fl["class"] == "proxy":
            stream = b"".join(v for _k, v in sorted(fl["segments"].items()))
            req = parse_socks(stream)
            ev["proxied"].append({"dst": "%s:%s" % topo.proxy, "request": req})
        elif fl["class"] == "dns-forward":
            ev["dns_forwarded"].extend(q for q in fl["qnames"] if q not in ev["dns_forwarded"])
        elif fl["class"] == "internal":
            ev["internal"].append(desc(fl))
        elif fl["class"] == "icmp-error":
            ev["icmp_errors"].append(desc(fl))
        else:
            ev["leaks"].append(desc(fl))
    return cells, markers


def desc(fl):
    d = {"proto": fl["proto"], "dst": fl["dst"], "packets": fl["packets"]}
    if fl["dport"] is not None:
        d["dport"] = fl["dport"]
    if fl["proto"] == "tcp":
        d["syn"] = fl["syn"]
    return d


QUERY_RE = re.compile(r"dnsmasq\[\d+\]: (?:\d+ [^ ]+ )?query\[([A-Za-z0-9]+)\] (\S+) from (\S+)")


# EDNS options that carry nothing of the program's choosing worth a verdict: COOKIE (10) and PADDING (12).
EDNS_HARMLESS = {10, 12}


def trap_reasons(topo, rec):
    """Why a message the trap heard is a leak (--dns trap): [] when it is not."""
    why = []
    if rec.get("error"):
        why.append("a message that does not parse (%s)" % rec["error"])
    if rec.get("opcode") not in (None, "QUERY"):
        why.append("opcode %s" % rec["opcode"])
    for n in rec.get("names", []):
        if n["name"] and not topo.internal_name(n["name"]):
            why.append("%s in the %s section (%s%s)" % (n["name"], n["section"], n.get("type") or "?",
                                                       ", in the data" if n.get("where") == "data" else ""))
    for o in rec.get("edns", []):
        if o.get("code") not in EDNS_HARMLESS:
            why.append("EDNS option %s carrying %d bytes (%r)" % (o.get("code"), o.get("len", 0),
                                                                 o.get("text", "")[:60]))
    if rec.get("trailing"):
        why.append("%d bytes after the message" % rec["trailing"])
    return why


def analyse_traplog(topo, path):
    """analyse_dnslog for the trap's JSON lines."""
    leaks, seen, markers = {}, {}, []
    current = None
    mark_re = re.compile(r"^([be])(\d+)\.%s\.twlt-mark$" % re.escape(topo.run))
    with open(path, errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            names = [n["name"] for n in rec.get("names", [])]
            mm = mark_re.match(names[0]) if len(names) == 1 and rec.get("opcode") == "QUERY" else None
            if mm and not rec.get("edns") and not rec.get("trailing"):
                markers.append((mm.group(1), mm.group(2)))
                if mm.group(1) == "b":
                    current = mm.group(2)
                continue
            q = {"type": rec.get("qtype") or rec.get("opcode") or "?", "name": rec.get("qname") or ",".join(names),
                 "from": rec.get("client"), "to": rec.get("server"), "proto": rec.get("proto")}
            why = trap_reasons(topo, rec)
            if why:
                q["why"] = why
                q["hex"] = rec.get("hex", "")[:512]
            seen.setdefault(current, []).append(q)
            if why:
                leaks.setdefault(current, []).append(q)
    return leaks, seen, markers


def analyse_dnslog(topo, path):
    """Returns ({cell id: [queries not internal]}, {cell id: all queries}, markers seen)."""
    if topo.cfg.get("dns") == "trap":
        return analyse_traplog(topo, path)
    leaks, seen, markers = {}, {}, []
    current = None
    mark_re = re.compile(r"^([be])(\d+)\.%s\.twlt-mark$" % re.escape(topo.run))
    with open(path, errors="replace") as f:
        for line in f:
            m = QUERY_RE.search(line)
            if not m:
                continue
            qtype, name, src = m.groups()
            mm = mark_re.match(name.lower().rstrip("."))
            if mm:
                markers.append((mm.group(1), mm.group(2)))
                if mm.group(1) == "b":
                    current = mm.group(2)
                continue
            q = {"type": qtype, "name": name, "from": src}
            seen.setdefault(current, []).append(q)
            if not topo.internal_name(name):
                leaks.setdefault(current, []).append(q)
    return leaks, seen, markers


# ------------------------------------------------------------------------------------------------ cells
def read_text(path, limit=200000):
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def load_cells(d):
    cells = []
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        if not os.path.isdir(p):
            continue
        c = {"id": name}
        for field in ("program", "scenario", "expect", "ok_re", "ok_rc", "rc", "duration", "how", "skip", "note"):
            v = read_text(os.path.join(p, field)).rstrip("\n")
            c[field] = v
        c["argv"] = [a for a in read_text(os.path.join(p, "argv")).split("\0") if a]
        c["stdout"] = read_text(os.path.join(p, "stdout"))
        c["stderr"] = read_text(os.path.join(p, "stderr"))
        cells.append(c)
    return cells


def load_known(path):
    known = {}
    if not path:
        return known
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split(None, 3)
            if len(parts) < 4:
                raise SystemExit("known list: bad line %r" % line)
            cell, cats, issue, reason = parts
            cats = set(cats.split(","))
            bad = cats - set(CATS)
            if bad:
                raise SystemExit("known list: unknown category %s in %r" % (",".join(sorted(bad)), line))
            known[cell] = {"categories": sorted(cats), "issue": issue, "reason": reason}
    return known


def tail(text, n=6):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-n:]


def judge(topo, cell, ev, dns_leaks, dns_seen, known, strict):
    res = {k: cell[k] for k in ("id", "program", "scenario", "how", "expect")}
    res["argv"] = cell["argv"]
    if cell["skip"]:
        res.update(status="skip", reason=cell["skip"], categories=[])
        return res
    rc = int(cell["rc"]) if cell["rc"].lstrip("-").isdigit() else None
    res["rc"] = rc
    res["duration_s"] = float(cell["duration"] or 0)
    out = cell["stdout"] + "\n" + cell["stderr"]
    worked = (cell["ok_rc"] == "any" or rc == 0) and \
        (not cell["ok_re"] or re.search(cell["ok_re"], out, re.M) is not None)
    res["worked"] = worked
    if cell["note"]:
        res["note"] = cell["note"]
    cats = []
    ev = ev or {"leaks": [], "proxied": [], "internal": [], "dns_forwarded": [], "icmp_errors": []}
    if ev["leaks"]:
        cats.append("leak")
    if dns_leaks:
        cats.append("dns")
    misrouted = [p["request"] for p in ev["proxied"]
                 if p["request"] and p["request"].get("host") and topo.internal_target(p["request"]["host"])]
    if misrouted:
        cats.append("misrouted")
    if cell["expect"] == "work" and not worked:
        cats.append("fail")
        res["failure"] = "should have worked, did not (exit %s)" % rc
    elif cell["expect"] == "fail" and worked:
        cats.append("fail")
        res["failure"] = "should have failed closed, worked"
    res["categories"] = cats
    res["evidence"] = {
        "leaked_flows": ev["leaks"],
        "dns_leaked_queries": dns_leaks,
        "dns_queries": dns_seen,
        "dns_forwarded_upstream": ev["dns_forwarded"],
        "proxy_requests": [p["request"] for p in ev["proxied"] if p["request"]],
        "proxy_connections": len(ev["proxied"]),
        "misrouted": misrouted,
        "direct_internal": ev["internal"],
        "icmp_errors": ev["icmp_errors"],
    }
    res["stdout_tail"] = tail(cell["stdout"], 3)
    res["stdout_head"] = cell["stdout"].splitlines()[:20]
    res["stderr_head"] = [l for l in cell["stderr"].splitlines() if l.strip()][:3]
    res["stderr_tail"] = tail(cell["stderr"])
    k = None if strict else known.get("%s:%s" % (cell["program"], cell["scenario"]))
    if k:
        res["known"] = k
        if not cats:
            res["status"] = "xpass"
        elif set(cats) <= set(k["categories"]):
            res["status"] = "expected"
        else:
            res["status"] = "unexpected"
    else:
        res["status"] = "pass" if not cats else "unexpected"
    return res


# ----------------------------------------------------------------------------------------------- output
class Paint:
    def __init__(self, on):
        self.on = on

    def __call__(self, text, code):
        return "\033[%sm%s\033[0m" % (code, text) if self.on else text


def cell_text(r):
    st = r["status"]
    if st == "skip":
        return "skip", "33"
    if st == "pass":
        return "ok", "32"
    if st == "xpass":
        return "XPASS", "1;36"
    label = "+".join(SHORT[c] for c in r["categories"])
    if st == "expected":
        return label.lower() + "*", "33"
    return label, "1;31"


def print_table(results, programs, scenarios, paint, title):
    by = {(r["program"], r["scenario"]): r for r in results}
    w0 = max([len("program")] + [len(p) for p in programs]) + 1
    widths = [max([len(s), 5] + [len(cell_text(r)[0]) for r in results if r["scenario"] == s]) + 2
              for s in scenarios]
    print(title)
    print("%-*s" % (w0, "program") + "".join("%-*s" % (w, s) for w, s in zip(widths, scenarios)))
    print("-" * (w0 + sum(widths)))
    for p in programs:
        line = "%-*s" % (w0, p)
        for w, s in zip(widths, scenarios):
            r = by.get((p, s))
            if r is None:
                line += "%-*s" % (w, "-")
                continue
            text, code = cell_text(r)
            line += paint(text, code) + " " * max(1, w - len(text))
        print(line)
    print("legend: ok = no leak and the request behaved as it must; LEAK = a packet left for a destination other "
          "than tor-proxy:9050 or an internal service; DNS = a non-internal name asked at 127.0.0.11; MISR = an "
          "internal destination sent to the proxy; FAIL = should have worked and did not, or should have failed "
          "closed and worked; lower case with * = expected (known list); XPASS = listed as expected but passed; "
          "- = not applicable")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--cells", required=True)
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--dnslog", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--known")
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--color", action="store_true")
    ap.add_argument("--title", default="")
    ap.add_argument("--show-all", action="store_true", help="print the evidence of every cell")
    args = ap.parse_args()

    with open(args.config) as f:
        cfg = json.load(f)
    topo = Topology(cfg)
    known = load_known(args.known)
    cells = load_cells(args.cells)
    try:
        cap, pmarkers = analyse_capture(topo, args.pcap)
    except (OSError, ValueError) as e:
        print("leak-test: cannot read the capture: %s" % e, file=sys.stderr)
        return 2
    dns_leaks, dns_seen, dmarkers = analyse_dnslog(topo, args.dnslog)

    # Completeness: every cell's begin marker in both evidence streams, and the final marker.
    ran = [c["id"] for c in cells if not c["skip"]]
    problems = []
    pb = {i for k, i in pmarkers if k == "begin"}
    db = {i for k, i in dmarkers if k == "b"}
    missing_p = [i for i in ran if i not in pb]
    missing_d = [i for i in ran if i not in db]
    if missing_p:
        problems.append("capture lacks the markers of cells %s" % ", ".join(missing_p[:10]))
    if missing_d:
        problems.append("nameserver log lacks the markers of cells %s" % ", ".join(missing_d[:10]))
    if ("end", "final") not in pmarkers:
        problems.append("capture lacks the final marker (packets may be missing)")
    if ("e", "999999") not in dmarkers:
        problems.append("nameserver log lacks the final marker")

    results = [judge(topo, c, cap.get(c["id"]), dns_leaks.get(c["id"], []), dns_seen.get(c["id"], []), known,
                     args.strict) for c in cells]
    outside = cap.get(None, {"leaks": []})
    outside_dns = dns_leaks.get(None, [])

    programs, scenarios = [], []
    for r in results:
        if r["program"] not in programs:
            programs.append(r["program"])
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    paint = Paint(args.color)
    print()
    print_table(results, programs, scenarios, paint, args.title)

    counts = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary = {
        "cells": len(results),
        "pass": counts.get("pass", 0),
        "expected": counts.get("expected", 0),
        "xpass": counts.get("xpass", 0),
        "unexpected": counts.get("unexpected", 0),
        "skip": counts.get("skip", 0),
        "cells_with_leaks": sum(1 for r in results if {"leak", "dns", "misrouted"} & set(r["categories"])),
        "cells_failed": sum(1 for r in results if "fail" in r["categories"]),
        "outside_cells": {"leaked_flows": outside["leaks"], "dns_leaked_queries": outside_dns},
        "evidence_problems": problems,
    }

    print()
    print("%d cells: %d ok, %d expected (known), %d unexpectedly passing, %d unexpected, %d skipped; "
          "%d with a leak (packet, DNS or misrouted)" % (
              summary["cells"], summary["pass"], summary["expected"], summary["xpass"], summary["unexpected"],
              summary["skip"], summary["cells_with_leaks"]))
    exp = [r for r in results if r["status"] == "expected"]
    if exp:
        print("\nExpected, known failures (%d; listed in KNOWN in scripts/leak-test; the run stays green):" % len(exp))
        groups = {}
        for r in exp:
            groups.setdefault((r["known"]["issue"], r["known"]["reason"]), []).append(r)
        for (issue, reason), rs in groups.items():
            print("  issue %s: %s" % (issue, reason))
            print("    %s" % ", ".join("%s %s (%s)" % (r["program"], r["scenario"], ",".join(r["categories"]))
                                       for r in rs))
    xp = [r for r in results if r["status"] == "xpass"]
    if xp:
        print("\n" + paint("Unexpectedly passing (listed as known, but clean now: remove them from KNOWN in "
                           "scripts/leak-test):", "1;36"))
        for r in xp:
            print("  %s %s (listed: %s, issue %s)" % (r["program"], r["scenario"],
                                                      ",".join(r["known"]["categories"]), r["known"]["issue"]))
    un = [r for r in results if r["status"] == "unexpected"]
    if un:
        print("\n" + paint("Unexpected:", "1;31"))
        for r in un:
            print("  %s %s: %s%s" % (r["program"], r["scenario"], ",".join(r["categories"]),
                                     " (known: %s)" % ",".join(r["known"]["categories"]) if r.get("known") else ""))
            print_evidence(r, "      ")
    if args.show_all:
        for r in results:
            if r["status"] in ("pass", "xpass", "expected"):
                print("\n%s %s: %s" % (r["program"], r["scenario"], r["status"]))
                print_evidence(r, "      ", full=True)
    sk = [r for r in results if r["status"] == "skip"]
    if sk:
        print("\nSkipped:")
        for r in sk:
            print("  %s %s: %s" % (r["program"], r["scenario"], r["reason"]))
    if outside["leaks"] or outside_dns:
        print(paint("\nLeaks outside any cell (before the first marker):", "1;31"))
        for l in outside["leaks"]:
            print("      packet: %s" % fmt_flow(l))
        for q in outside_dns:
            print("      DNS: %s %s" % (q["type"], q["name"]))
    for p in problems:
        print(paint("evidence incomplete: %s" % p, "1;31"))

    report = {"version": 1, "config": cfg, "summary": summary, "known": known, "cells": results}
    tmp = args.report + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    os.replace(tmp, args.report)

    if problems:
        return 2
    if summary["unexpected"] or outside["leaks"] or outside_dns:
        return 1
    return 0


def fmt_flow(l):
    s = "%s %s" % (l["proto"], l["dst"])
    if l.get("dport") is not None:
        s += (":%s" if ":" not in (l["dst"] or "") else " port %s") % l["dport"]
    s += " (%d packet%s%s)" % (l["packets"], "s" if l["packets"] != 1 else "", ", SYN" if l.get("syn") else "")
    return s


def print_evidence(r, ind, full=False):
    ev = r.get("evidence") or {}
    if full:
        for p in ev.get("proxy_requests", []):
            if p and p.get("host"):
                print("%svia tor-proxy: %s:%s (ATYP %s)" % (ind, p["host"], p["port"], p["atyp"]))
        for d in ev.get("direct_internal", []):
            print("%sdirect to an internal service: %s" % (ind, fmt_flow(d)))
        for q in ev.get("dns_queries", []):
            print("%sasked 127.0.0.11: %s %s" % (ind, q["type"], q["name"]))
    for l in ev.get("leaked_flows", []):
        print("%spacket: %s" % (ind, fmt_flow(l)))
    for q in ev.get("dns_leaked_queries", []):
        print("%sDNS query at 127.0.0.11: %s %s%s" % (ind, q["type"], q["name"],
                                                     ": " + "; ".join(q["why"]) if q.get("why") else ""))
    if ev.get("dns_forwarded_upstream"):
        print("%sforwarded upstream by the nameserver: %s" % (ind, ", ".join(ev["dns_forwarded_upstream"])))
    for m in ev.get("misrouted", []):
        print("%ssent to the proxy: %s:%s (ATYP %s)" % (ind, m["host"], m["port"], m["atyp"]))
    if r.get("failure"):
        print("%s%s" % (ind, r["failure"]))
    print("%s$ %s" % (ind, shlex.join(r.get("argv", []))))
    for l in r.get("stderr_tail", [])[-3:]:
        print("%s| %s" % (ind, l[:160]))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # a bug here must never read as "leaks found" (exit 1)
        import traceback
        traceback.print_exc()
        print("leak-test: the analysis failed: no verdict", file=sys.stderr)
        sys.exit(2)
