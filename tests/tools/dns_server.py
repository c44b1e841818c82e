#!/usr/bin/env python3
"""dns_server.py: a tiny authoritative DNS server (UDP and TCP) for torwrap's integration tests.

It answers only from its --record table and logs every query as a JSON line, so tests can prove a name was (or,
more often, was NOT) looked up through the system resolver while a program ran under torwrap.

    dns_server.py --listen 127.0.0.1:PORT [--listen ADDR:PORT ...] --log FILE [--record NAME=IP ...]
                  [--forge NAME=IP ...] [--default-ip IP ...] [--trap] [--pidfile F] [--ready-file F]

A/AAAA come from the records (IPv4 gives A, IPv6 gives AAAA; several records per name give several answers); a
known name asked for another type gets an empty NOERROR answer; unknown names get NXDOMAIN; PTR queries for the
reverse of a record's address return its name. PORT 0 picks a free port; the ready file then holds the real one.

--forge NAME=IP plays a forger racing the server over UDP: before the real answer to an A query for NAME, two
replies claiming IP arrive, one with another ID and one with the right ID for another question (the first
letter of the name changed). A client that checks only the ID takes the second one. Each log line has the
query's ID ("id"), so a test can compare it with the ID the program sent.

--default-ip IP (an IPv4 and/or an IPv6 address) answers every name that has no record with IP, as a forwarding
resolver whose upstream knows every name would: a program that leaks a lookup then works, silently.

--trap makes it a trap that logs everything it hears, not only the first question (tests/integration/hostile.sh,
through scripts/leak-test --dns trap): every name of every section (the question, the answer, the authority and
the additional records, owners and the names inside NS, CNAME, PTR, MX, SOA, SRV and DNAME data), the opcode,
each EDNS option (code and bytes), bytes after the message, a message that does not parse, and the message
itself in hex. Each --listen adds an address (the first one's port goes in the ready file): Docker's embedded
DNS listens on a high port of 127.0.0.11 besides 53.
"""

import argparse
import ipaddress
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time

QTYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
          41: "OPT", 64: "SVCB", 65: "HTTPS", 255: "ANY"}
T_A, T_PTR, T_AAAA = 1, 12, 28
RCODE_NOERROR, RCODE_FORMERR, RCODE_NXDOMAIN, RCODE_NOTIMP = 0, 1, 3, 4
TTL = 60


class FormErr(Exception):
    pass


def norm(name):
    return name.strip().lower().rstrip(".")


def read_name(msg, off):
    """Reads a (possibly compressed) name at OFF; returns (text, offset after the name in place)."""
    labels = []
    end = None
    jumps = 0
    while True:
        if off >= len(msg):
            raise FormErr("name runs past the message")
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(msg):
                raise FormErr("truncated pointer")
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumps += 1
            if jumps > 32:
                raise FormErr("pointer loop")
            continue
        if n & 0xC0:
            raise FormErr("bad label type")
        off += 1
        if n == 0:
            break
        if off + n > len(msg):
            raise FormErr("label runs past the message")
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n
    return ".".join(labels), (end if end is not None else off)


def encode_name(name):
    out = b""
    for label in norm(name).split("."):
        if label:
            raw = label.encode("ascii")
            out += bytes([len(raw)]) + raw
    return out + b"\x00"


T_NS, T_CNAME, T_SOA, T_MX, T_SRV, T_DNAME, T_OPT = 2, 5, 6, 15, 33, 39, 41
SECTIONS = ("question", "answer", "authority", "additional")
OPCODES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE", 6: "DSO"}


def dissect(msg):
    """Everything a message carries that could name something (--trap): its opcode, every name of every section
    (RR owners and the names inside RDATA of the types that hold names), EDNS options, trailing bytes. Never
    raises: a part that does not parse ends the walk with "error"."""
    out = {"opcode": None, "names": [], "edns": [], "trailing": 0}
    if len(msg) < 12:
        out["error"] = "short message (%d bytes)" % len(msg)
        return out
    _qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    opcode = (flags >> 11) & 0xF
    out["opcode"] = OPCODES.get(opcode, "OPCODE%d" % opcode)
    out["qr"] = bool(flags & 0x8000)
    out["counts"] = [qd, an, ns, ar]
    off = 12

    def name_at(o, section, rtype, where="owner"):
        name, end = read_name(msg, o)
        out["names"].append({"section": section, "name": norm(name), "type": QTYPES.get(rtype, "TYPE%d" % rtype)
                             if rtype is not None else None, "where": where})
        return end
    try:
        for _ in range(qd):
            name, off = read_name(msg, off)
            if off + 4 > len(msg):
                raise FormErr("truncated question")
            qtype, _qclass = struct.unpack("!HH", msg[off:off + 4])
            out["names"].append({"section": "question", "name": norm(name),
                                 "type": QTYPES.get(qtype, "TYPE%d" % qtype), "where": "owner"})
            off += 4
        for section, count in (("answer", an), ("authority", ns), ("additional", ar)):
            for _ in range(count):
                owner, off = read_name(msg, off)
                if off + 10 > len(msg):
                    raise FormErr("truncated record")
                rtype, rclass, _ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
                rd = off + 10
                if rd + rdlen > len(msg):
                    raise FormErr("record data runs past the message")
                if rtype == T_OPT:
                    o = rd
                    while o + 4 <= rd + rdlen:
                        code, ln = struct.unpack("!HH", msg[o:o + 4])
                        data = msg[o + 4:o + 4 + ln]
                        out["edns"].append({"code": code, "len": ln, "data": data.hex(),
                                            "text": data.decode("ascii", "replace")})
                        o += 4 + ln
                    if o != rd + rdlen:
                        out["edns"].append({"code": None, "len": rd + rdlen - o, "data": msg[o:rd + rdlen].hex(),
                                            "text": "(bytes that are no option)"})
                    if norm(owner):
                        out["names"].append({"section": section, "name": norm(owner), "type": "OPT",
                                             "where": "owner"})
                    off = rd + rdlen
                    continue
                out["names"].append({"section": section, "name": norm(owner),
                                     "type": QTYPES.get(rtype, "TYPE%d" % rtype), "where": "owner"})
                if rtype in (T_NS, T_CNAME, T_PTR, T_DNAME):
                    name_at(rd, section, rtype, "data")
                elif rtype == T_MX and rdlen > 2:
                    name_at(rd + 2, section, rtype, "data")
                elif rtype == T_SRV and rdlen > 6:
                    name_at(rd + 6, section, rtype, "data")
                elif rtype == T_SOA:
                    name_at(name_at(rd, section, rtype, "data"), section, rtype, "data")
                off = rd + rdlen
        out["trailing"] = len(msg) - off
    except FormErr as e:
        out["error"] = str(e)
    return out


class Resolver:
    def __init__(self, records, default=()):
        self.addrs = {}  # name -> [ip objects]
        self.ptr = {}  # reverse name -> [names]
        self.default = [ipaddress.ip_address(ip) for ip in default]  # every other name's addresses
        for item in records:
            name, _, ip = item.partition("=")
            if not ip:
                raise SystemExit("--record wants NAME=IP, got %r" % item)
            addr = ipaddress.ip_address(ip)
            self.addrs.setdefault(norm(name), []).append(addr)
            self.ptr.setdefault(norm(addr.reverse_pointer), []).append(norm(name))

    def answer(self, query, limit=None):
        """Returns (response bytes or None, log fields). Over LIMIT bytes, the answers are dropped and TC set so
        the client retries over TCP (EDNS sizes are ignored: the classic 512 is enough for tests)."""
        if len(query) < 12:
            return None, {"error": "short message"}
        qid, flags, qdcount = struct.unpack("!HHH", query[:6])
        if flags & 0x8000:
            return None, {"error": "not a query"}
        opcode = (flags >> 11) & 0xF
        rd = flags & 0x0100
        head_flags = 0x8000 | (opcode << 11) | 0x0400 | rd | 0x0080  # QR, AA, RD echoed, RA
        if opcode != 0 or qdcount != 1:
            return struct.pack("!HHHHHH", qid, head_flags | RCODE_NOTIMP, 0, 0, 0, 0), {"error": "unsupported"}
        try:
            qname, off = read_name(query, 12)
            if off + 4 > len(query):
                raise FormErr("truncated question")
            qtype, qclass = struct.unpack("!HH", query[off:off + 4])
        except FormErr as e:
            return struct.pack("!HHHHHH", qid, head_flags | RCODE_FORMERR, 0, 0, 0, 0), {"error": str(e)}
        question = query[12:off + 4]
        name = norm(qname)
        fields = {"qname": name, "qtype": QTYPES.get(qtype, "TYPE%d" % qtype), "id": qid}

        answers = []
        addrs = self.addrs.get(name) or (self.default if name not in self.ptr else [])
        if qtype in (T_A, T_AAAA, 255) and addrs:
            for addr in addrs:
                if addr.version == 4 and qtype in (T_A, 255):
                    answers.append((T_A, addr.packed, str(addr)))
                elif addr.version == 6 and qtype in (T_AAAA, 255):
                    answers.append((T_AAAA, addr.packed, str(addr)))
        if qtype in (T_PTR, 255) and name in self.ptr:
            for target in self.ptr[name]:
                answers.append((T_PTR, encode_name(target), target))
        known = name in self.addrs or name in self.ptr or bool(self.default)
        rcode = RCODE_NOERROR if known else RCODE_NXDOMAIN
        fields["rcode"] = "NOERROR" if known else "NXDOMAIN"
        fields["answers"] = [text for _, _, text in answers]

        out = struct.pack("!HHHHHH", qid, head_flags | rcode, 1, len(answers), 0, 0) + question
        for rtype, rdata, _ in answers:
            # 0xC00C: a pointer to the name in the question, which starts right after the header.
            out += struct.pack("!HHHIH", 0xC00C, rtype, qclass, TTL, len(rdata)) + rdata
        if limit and len(out) > limit:
            fields["truncated"] = True
            out = struct.pack("!HHHHHH", qid, head_flags | 0x0200 | rcode, 1, 0, 0, 0) + question
        return out, fields


class Server:
    def __init__(self, args):
        self.resolver = Resolver(args.record, args.default_ip)
        self.trap = args.trap
        self.forge = {}
        for spec in args.forge:
            name, _, ip = spec.partition("=")
            self.forge[norm(name)] = socket.inet_aton(ip)
        # NAME:TYPE pairs whose UDP queries get no reply at all (a nameserver that drops AAAA queries).
        self.silent = {(norm(n), t.upper()) for n, _, t in (spec.rpartition(":") for spec in args.silent)}
        self.log_lock = threading.Lock()
        self.log_file = open(args.log, "a", buffering=1) if args.log else None

    def log(self, proto, client, fields):
        record = {"ts": round(time.time(), 6), "proto": proto, "client": client}
        record.update(fields)
        line = json.dumps(record)
        with self.log_lock:
            if self.log_file:
                self.log_file.write(line + "\n")
                self.log_file.flush()

    def heard(self, data, fields, server):
        """--trap: what the message carries besides its first question, and the message itself."""
        if self.trap:
            fields = dict(fields)
            if "error" in fields:  # why the reply says NOTIMP or FORMERR; "error" is kept for a message that does
                fields["reply_note"] = fields.pop("error")  # not parse (dissect)
            fields["server"] = server
            fields.update(dissect(data))
            fields["hex"] = data[:4096].hex()
        return fields

    def on_udp(self, usock):
        try:
            data, peer = usock.recvfrom(65535)
        except (BlockingIOError, InterruptedError):
            return
        resp, fields = self.resolver.answer(data, limit=512)
        fields = self.heard(data, fields, fmt_hostport(*usock.getsockname()[:2]))
        if (fields.get("qname"), fields.get("qtype")) in self.silent:
            fields["silent"] = True
            resp = None
        self.log("udp", fmt_hostport(peer[0], peer[1]), fields)
        if resp is None:
            return
        for lie in self.forgeries(resp, fields):
            try:
                usock.sendto(lie, peer)
            except OSError:
                pass
        try:
            usock.sendto(resp, peer)
        except OSError:
            pass

    def forgeries(self, resp, fields):
        ip = self.forge.get(fields.get("qname"))
        if ip is None or fields.get("qtype") != "A" or len(resp) < 17:
            return []
        lie = bytearray(resp[:12]) + resp[12:]
        struct.pack_into("!HH", lie, 6, 1, 0)  # one answer: IP
        qend = 12 + resp[12:].index(b"\0") + 5
        lie = lie[:qend] + struct.pack("!HHHIH", 0xC00C, T_A, 1, TTL, 4) + ip
        wrong_id = bytearray(lie)
        struct.pack_into("!H", wrong_id, 0, struct.unpack_from("!H", lie, 0)[0] ^ 0x5a5a)
        other_question = bytearray(lie)
        other_question[13] = ord("x") if other_question[13] != ord("x") else ord("y")
        return [bytes(wrong_id), bytes(other_question)]

    def on_tcp(self, sock, peer):
        client = fmt_hostport(peer[0], peer[1])
        server = fmt_hostport(*sock.getsockname()[:2])
        sock.settimeout(10)
        try:
            while True:
                head = recv_exact(sock, 2)
                if head is None:
                    return
                (length,) = struct.unpack("!H", head)
                data = recv_exact(sock, length)
                if data is None:
                    return
                resp, fields = self.resolver.answer(data)
                self.log("tcp", client, self.heard(data, fields, server))
                if resp is None:
                    return
                sock.sendall(struct.pack("!H", len(resp)) + resp)
        except OSError:
            pass
        finally:
            sock.close()

    def serve(self, pairs, stop):
        usocks = [u for u, _ in pairs]
        tsocks = [t for _, t in pairs]
        while not stop.is_set():
            try:
                ready, _, _ = select.select(usocks + tsocks, [], [], 0.2)
            except InterruptedError:
                continue
            for usock in usocks:
                if usock in ready:
                    self.on_udp(usock)
            for tsock in tsocks:
                if tsock not in ready:
                    continue
                try:
                    sock, peer = tsock.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    time.sleep(0.05)
                    continue
                sock.setblocking(True)
                threading.Thread(target=self.on_tcp, args=(sock, peer), daemon=True).start()


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        data = sock.recv(n - len(buf))
        if not data:
            return None
        buf += data
    return buf


def fmt_hostport(host, port):
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def parse_hostport(text):
    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:]+):(\d+)", text)
    if not m:
        raise SystemExit("--listen wants HOST:PORT or [V6]:PORT, got %r" % text)
    return (m.group(1), int(m.group(2))) if m.group(1) else (m.group(3), int(m.group(4)))


def write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def remove_quietly(path):
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def bind_pair(host, port):
    """Binds UDP and TCP on the same port; with PORT 0, retries until a port is free for both."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        usock = socket.socket(family, socket.SOCK_DGRAM)
        usock.bind((host, port))
        real = usock.getsockname()[1]
        tsock = socket.socket(family, socket.SOCK_STREAM)
        tsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tsock.bind((host, real))
        except OSError:
            usock.close()
            tsock.close()
            if port:
                raise
            continue
        tsock.listen(64)
        usock.setblocking(False)
        tsock.setblocking(False)
        return usock, tsock
    raise SystemExit("no port free for both UDP and TCP")


def main(argv=None):
    ap = argparse.ArgumentParser(description="DNS server (UDP+TCP) for torwrap's tests")
    ap.add_argument("--listen", required=True, action="append",
                    help="HOST:PORT (PORT 0 = any free port); repeat to listen on several")
    ap.add_argument("--log", help="append one JSON line per query here")
    ap.add_argument("--record", action="append", default=[], metavar="NAME=IP")
    ap.add_argument("--forge", action="append", default=[], metavar="NAME=IP",
                    help="send forged UDP replies claiming IP before the real answer for NAME")
    ap.add_argument("--silent", action="append", default=[], metavar="NAME:TYPE",
                    help="never answer UDP queries for NAME of TYPE (A, AAAA...)")
    ap.add_argument("--default-ip", action="append", default=[], metavar="IP",
                    help="answer every name that has no record with IP (one IPv4, one IPv6)")
    ap.add_argument("--trap", action="store_true",
                    help="log every name of every section, the opcode, EDNS options and the message in hex")
    ap.add_argument("--pidfile")
    ap.add_argument("--ready-file", help="written (with the port) once listening")
    args = ap.parse_args(argv)

    server = Server(args)
    pairs = [bind_pair(*parse_hostport(spec)) for spec in args.listen]
    usock = pairs[0][0]

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    if args.pidfile:
        write_atomic(args.pidfile, "%d\n" % os.getpid())
    if args.ready_file:
        write_atomic(args.ready_file, "%d\n" % usock.getsockname()[1])
    try:
        server.serve(pairs, stop)
    finally:
        for u, t in pairs:
            u.close()
            t.close()
        remove_quietly(args.ready_file)
        remove_quietly(args.pidfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
