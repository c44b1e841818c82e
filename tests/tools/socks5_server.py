#!/usr/bin/env python3
"""socks5_server.py: a real SOCKS5 server standing in for Tor in torwrap's integration tests.

It resolves names only from its own table (as Tor's exit would, never through this host's DNS), answers with
Tor's reply codes, relays the connection, and logs every request as one JSON line so tests can assert exactly
what torwrap sent (name or address, credentials, and whether the request was pipelined).

    socks5_server.py --listen 127.0.0.1:PORT --log FILE [--map NAME=IP ...] [--default-ip IP]
                     [--fail NAME=CODE ...] [--delay-ms N] [--pidfile F] [--ready-file F]
                     [--delay-model reply|exchange|request|circuit] [--count-round-trips] [--resolve-to IP]
                     [--black-hole | --truncate N | --never-accept]

Names: a --map entry (exact, case-insensitive; address literals too, ATYP 1 and 4) wins; then --fail NAME=CODE
forces a reply code (hex: 01, F2) for that name, or with CODE "close" no reply at all: the connection is closed
where the reply would have gone (a proxy that gives up); names under .invalid get 04; *.onion gets F0 when its
label is a well-formed v3 address (56 base32 characters) or starts with "missing", else F6; any other name gets
--default-ip, or 04 without one.
PORT 0 picks a free port; the ready file then holds the real one.

A stuck tor-proxy, for the tests of TOR_CONNECTIVITY_TIMEOUT (every request, whatever its name):
--black-hole accepts every connection, reads the request and never sends a byte; --truncate N sends the greeting
  and auth replies, then only the first N bytes of the CONNECT reply (3: 05 00 00, a success whose address never
  comes). Either way the connection then stays open, silent, until the client closes it. The request is logged
  when it has arrived (a pipelined client's whole request: greeting, credentials and CONNECT), with "stalled"
  ("silent" or "truncated"), "reply" null and "sent" the bytes of the CONNECT reply that went out.
--never-accept: a tor-proxy whose TCP connections never complete (as a host that has gone, or a firewall that
  drops): it listens with a backlog of 0 and fills it with one connection of its own, so the kernel drops every
  later SYN. Nothing is logged (nothing arrives).

The log: one JSON line per request, written as its reply goes out. "accepted" (the connection came in),
"requested" (the whole CONNECT or RESOLVE request had arrived) and "replied" (the reply was handed to the
kernel; "ts" is the same instant) are this host's clock (time.time()), so tests can order events of the proxy
against each other and against a client's, with no clock of their own; "early_bytes" counts the bytes the client
sent after its request and before the reply (application data sent optimistically, as Tor allows).

For the benchmarks (tests/bench/), all off by default:
--delay-model says where --delay-ms goes. "reply" (the default): before every reply, greeting and auth replies
  included. "exchange": once per round trip, i.e. before a reply only when the server had to wait for the
  client since its last reply (a remote proxy with that round-trip time: a pipelined request costs one delay).
  "request": only before the reply to a CONNECT or RESOLVE (a local Tor whose circuit takes that long).
  "circuit": a circuit whose round trip is --delay-ms (D), as Tor's: the greeting and auth replies at once (a
  local Tor), the CONNECT reply D after the request arrived, and every relayed byte D/2 on its way, each
  direction; bytes the client sends before the reply travel with the CONNECT (they reach the destination D/2
  after it, as Tor's optimistic data does), never held back until the reply. A client that waits for the reply
  before its request gets its first byte about 2D after the CONNECT; one that sends at once, about D.
--count-round-trips adds to each log line "round_trips", the number of times the server had to wait for the
  client (the first request included), and "cmd", the request's command (1 CONNECT, 240 RESOLVE).
--resolve-to IP answers Tor's RESOLVE command (F0, as torsocks sends it) with IP, and takes a later CONNECT to
  IP to --default-ip instead (so a test address outside loopback is never contacted). Without it RESOLVE gets
  07, as before.
"""

import argparse
import errno
import ipaddress
import json
import os
import queue
import re
import select
import signal
import socket
import sys
import threading
import time

REP_OK = 0x00
REP_GENERAL = 0x01
REP_NET_UNREACH = 0x03
REP_HOST_UNREACH = 0x04
REP_REFUSED = 0x05
REP_TTL = 0x06
REP_CMD = 0x07
REP_ATYP = 0x08
REP_ONION_NOT_FOUND = 0xF0
REP_ONION_BAD_ADDRESS = 0xF6
CLOSE = -1  # --fail NAME=close: no reply, the connection closed instead

ONION_V3 = re.compile(r"^[a-z2-7]{56}$")


class ClientGone(Exception):
    """The client closed (or broke) the connection before the exchange was over."""


class Conn:
    """One client connection, read through our own buffer so pipelined bytes are never lost."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.round_trips = 0  # times the server had to wait for the client (after accepting or replying)
        self.waiting = True  # nothing received since the last reply (or since the connection was accepted)
        self.silent = False  # --black-hole: nothing is ever sent
        self.fresh = False  # the client's latest flight has not been answered yet (delay model "exchange")

    def _recv(self):
        if self.waiting:
            self.round_trips += 1
            self.waiting = False
            self.fresh = True
        try:
            data = self.sock.recv(65536)
        except OSError as e:
            raise ClientGone(str(e)) from e
        if not data:
            raise ClientGone("EOF")
        self.buf += data

    def take(self, n):
        while len(self.buf) < n:
            self._recv()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def drain_available(self):
        """Pull in whatever has already arrived, without waiting."""
        while True:
            try:
                data = self.sock.recv(65536, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not data:
                return
            self.buf += data

    def send(self, data):
        self.waiting = True
        if self.silent:
            return
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise ClientGone(str(e)) from e


def request_complete(buf, with_auth):
    """True when BUF (what follows the greeting) already holds the whole auth message and CONNECT request."""
    pos = 0
    if with_auth:
        if len(buf) < 2:
            return False
        ulen = buf[1]
        if len(buf) < 2 + ulen + 1:
            return False
        plen = buf[2 + ulen]
        pos = 2 + ulen + 1 + plen
    if len(buf) < pos + 4:
        return False
    atyp = buf[pos + 3]
    if atyp == 1:
        return len(buf) >= pos + 4 + 4 + 2
    if atyp == 4:
        return len(buf) >= pos + 4 + 16 + 2
    if atyp == 3:
        if len(buf) < pos + 5:
            return False
        return len(buf) >= pos + 5 + buf[pos + 4] + 2
    return True  # malformed, but all of it is there


class Server:
    def __init__(self, args):
        self.args = args
        self.map = {}
        for item in args.map:
            name, _, ip = item.partition("=")
            if not ip:
                raise SystemExit("--map wants NAME=IP, got %r" % item)
            self.map[norm(name)] = str(ipaddress.ip_address(ip))
        self.fail = {}
        for item in args.fail:
            name, _, code = item.partition("=")
            if not code:
                raise SystemExit("--fail wants NAME=CODE, got %r" % item)
            # written as on the wire: 04, F0, 0xF6; or "close"
            self.fail[norm(name)] = CLOSE if code.lower() == "close" else int(code, 16)
        self.default_ip = str(ipaddress.ip_address(args.default_ip)) if args.default_ip else None
        self.delay = args.delay_ms / 1000.0
        self.delay_model = args.delay_model
        self.count_round_trips = args.count_round_trips
        self.resolve_to = str(ipaddress.ip_address(args.resolve_to)) if args.resolve_to else None
        self.black_hole = args.black_hole
        self.truncate = args.truncate
        self.log_lock = threading.Lock()
        self.log_file = open(args.log, "a", buffering=1) if args.log else None

    # --------------------------------------------------------------------------------------------- logging

    def log(self, record):
        record = dict({"ts": round(time.time(), 6)}, **record)
        conn = record.pop("_conn", None)
        if not self.count_round_trips:
            record.pop("cmd", None)
        elif conn is not None:
            record["round_trips"] = conn.round_trips
        line = json.dumps(record, sort_keys=False)
        with self.log_lock:
            if self.log_file:
                self.log_file.write(line + "\n")
                self.log_file.flush()

    # --------------------------------------------------------------------------------------------- resolving

    def resolve(self, name):
        """Returns (ip, 0) or (None, reply_code), the way Tor's exit (or onion client) would answer."""
        n = norm(name)
        if n in self.map:
            return self.map[n], REP_OK
        if n in self.fail:
            return None, self.fail[n]
        if n == "invalid" or n.endswith(".invalid"):
            return None, REP_HOST_UNREACH
        if n.endswith(".onion"):
            labels = n.split(".")
            label = labels[-2] if len(labels) >= 2 else ""
            if ONION_V3.match(label) or label.startswith("missing"):
                return None, REP_ONION_NOT_FOUND
            return None, REP_ONION_BAD_ADDRESS
        if self.default_ip:
            return self.default_ip, REP_OK
        return None, REP_HOST_UNREACH

    # ------------------------------------------------------------------------------------------- a session

    def pause(self, conn=None, request=False):
        """The simulated delay before a reply; REQUEST for the reply to a CONNECT or RESOLVE."""
        if self.delay <= 0:
            return
        if self.delay_model == "exchange":
            if conn is None or not conn.fresh:
                return  # this reply answers bytes that had arrived already: no new round trip
            conn.fresh = False
        elif self.delay_model in ("request", "circuit") and not request:
            return
        time.sleep(self.delay)

    def handle(self, sock, peer):
        conn = Conn(sock)
        conn.silent = self.black_hole
        # "accepted" and the record's "ts" (when the reply went out) bound the exchange: tests read from them
        # whether connections overlapped, with no clock of their own.
        rec = {"client": fmt_hostport(peer[0], peer[1]), "accepted": round(time.time(), 6), "atyp": None,
               "host": None, "port": None, "user": None, "pass": None, "reply": None, "pipelined": False,
               "_conn": conn}
        upstream = None
        try:
            ver, nmethods = conn.take(2)
            if ver != 5:
                rec["error"] = "not SOCKS5 (version %d)" % ver
                self.log(rec)
                return
            methods = conn.take(nmethods)
            rec["methods"] = list(methods)
            if 0x02 in methods:
                method = 0x02
            elif 0x00 in methods:
                method = 0x00
            else:
                method = 0xFF
            self.pause(conn)
            conn.drain_available()
            rec["pipelined"] = request_complete(conn.buf, method == 0x02)
            conn.send(bytes([5, method]))
            if method == 0xFF:
                rec["error"] = "no acceptable method"
                self.log(rec)
                return

            if method == 0x02:
                aver, ulen = conn.take(2)
                user = conn.take(ulen)
                (plen,) = conn.take(1)
                pw = conn.take(plen)
                rec["user"] = user.decode("utf-8", "replace")
                rec["pass"] = pw.decode("utf-8", "replace")
                if aver != 1:
                    rec["error"] = "auth version %d" % aver
                    self.pause(conn)
                    conn.send(bytes([1, 1]))
                    self.log(rec)
                    return
                self.pause(conn)
                conn.send(bytes([1, 0]))  # any credentials: Tor uses them for isolation, not access

            ver, cmd, _rsv, atyp = conn.take(4)
            rec["atyp"] = atyp
            rec["cmd"] = cmd
            if ver != 5:
                rec["error"] = "request version %d" % ver
                self.log(rec)
                return
            if atyp == 1:
                host = socket.inet_ntop(socket.AF_INET, conn.take(4))
            elif atyp == 4:
                host = socket.inet_ntop(socket.AF_INET6, conn.take(16))
            elif atyp == 3:
                (nlen,) = conn.take(1)
                host = conn.take(nlen).decode("utf-8", "replace")
            else:
                self.reply(conn, rec, REP_ATYP)
                return
            port = int.from_bytes(conn.take(2), "big")
            rec["requested"] = round(time.time(), 6)
            rec["host"] = host
            rec["port"] = port
            if cmd == 0xF0 and self.resolve_to:  # Tor's RESOLVE: the name's address, no connection
                ip, code = self.resolve(host) if atyp == 3 else (host, REP_OK)
                rec["resolved"] = self.resolve_to if code == REP_OK else None
                self.reply(conn, rec, code, (self.resolve_to, 0) if code == REP_OK else None)
                return
            if cmd != 1:
                self.reply(conn, rec, REP_CMD)
                return
            if self.black_hole or self.truncate is not None:
                self.stall(conn, rec)
                return

            if atyp == 3:
                ip, code = self.resolve(host)
            elif self.resolve_to and host == self.resolve_to and self.default_ip:
                ip, code = self.default_ip, REP_OK  # the address RESOLVE gave out stands for the exit's
            else:  # an address literal: --map may stand a loopback address in for it (no test leaves loopback)
                ip, code = self.map.get(norm(host), host), REP_OK
            rec["resolved"] = ip
            if self.delay_model == "circuit" and self.delay > 0:
                self.circuit(conn, rec, ip, port, code)
                return
            if code == CLOSE:
                self.close_instead(conn, rec)
                return
            if code != REP_OK:
                self.reply(conn, rec, code)
                return
            upstream, code = open_upstream(ip, port)
            if code != REP_OK:
                self.reply(conn, rec, code)
                return
            self.reply(conn, rec, REP_OK, upstream.getsockname())
            # Bytes the client sent after its request (pipelined application data) go first.
            if conn.buf:
                upstream.sendall(bytes(conn.buf))
                conn.buf.clear()
            relay(sock, upstream)
        except ClientGone as e:
            if not rec.get("logged"):
                rec["error"] = "client closed: %s" % e
                self.log(rec)
        except OSError:
            pass  # the relay broke: the request was logged already
        finally:
            close_quietly(upstream)
            close_quietly(sock)


    def reply(self, conn, rec, code, bound=None, early=None):
        """Sends the CONNECT reply (after the simulated circuit delay, unless EARLY, the count of early bytes,
        says the caller timed it and owns the reading side) and logs the request."""
        if early is None:
            self.pause(conn, request=True)
            conn.drain_available()
            early = len(conn.buf)
        rec["reply"] = code
        rec["early_bytes"] = early
        rec["replied"] = round(time.time(), 6)
        self.log(dict({k: v for k, v in rec.items() if k != "logged"}, ts=rec["replied"]))
        rec["logged"] = True
        if bound is None:
            bnd = bytes([1, 0, 0, 0, 0, 0, 0])
        else:
            ip = ipaddress.ip_address(bound[0])
            bnd = bytes([1 if ip.version == 4 else 4]) + ip.packed + bound[1].to_bytes(2, "big")
        conn.send(bytes([5, code, 0]) + bnd)

    def stall(self, conn, rec):
        """--black-hole and --truncate: logs the request, sends nothing (or the first bytes of a successful CONNECT
        reply), then waits in silence until the client closes the connection."""
        conn.drain_available()
        part = b"" if self.black_hole else (bytes([5, REP_OK, 0, 1]) + bytes(6))[:self.truncate]
        rec["reply"] = None
        rec["stalled"] = "silent" if self.black_hole else "truncated"
        rec["sent"] = len(part)
        rec["early_bytes"] = len(conn.buf)
        self.log(dict({k: v for k, v in rec.items() if k != "logged"}))
        rec["logged"] = True
        if part:
            conn.send(part)
        while True:  # until the client gives up
            try:
                if not conn.sock.recv(65536):
                    return
            except OSError:
                return

    def close_instead(self, conn, rec, early=None):
        """--fail NAME=close: where the reply would go (after the delay), the connection is closed."""
        if early is None:
            self.pause(conn, request=True)
            conn.drain_available()
            early = len(conn.buf)
        rec["reply"] = None
        rec["closed"] = True
        rec["early_bytes"] = early
        rec["replied"] = round(time.time(), 6)
        self.log(dict({k: v for k, v in rec.items() if k != "logged"}, ts=rec["replied"]))
        rec["logged"] = True
        try:
            conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def circuit(self, conn, rec, ip, port, code):
        """The CONNECT of delay model "circuit": see the module's documentation. From the request on, the
        client's bytes are read by a pump that delivers each chunk D/2 after it arrived (bytes that came with
        the request: D/2 after the request); the exit opens the destination D/2 after the request and the reply
        leaves D after it; the destination's bytes reach the client D/2 after the exit got them."""
        sock = conn.sock
        t0 = rec["requested"]
        half = self.delay / 2
        early = {"n": len(conn.buf), "replied": False}
        lock = threading.Lock()
        up = {"sock": None}
        up_ready = threading.Event()
        to_exit = queue.Queue()
        if conn.buf:
            to_exit.put((t0 + half, bytes(conn.buf)))
            conn.buf.clear()

        def client_reader():
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                with lock:
                    if data and not early["replied"]:
                        early["n"] += len(data)
                to_exit.put((time.time() + half, data or None))
                if not data:
                    return

        def exit_writer():
            up_ready.wait()
            s = up["sock"]
            while True:
                due, data = to_exit.get()
                if s is None:
                    if data is None:
                        return
                    continue  # no destination: the client's bytes go nowhere
                sleep_until(due)
                try:
                    if data is None:
                        s.shutdown(socket.SHUT_WR)
                        return
                    s.sendall(data)
                except OSError:
                    return

        to_client = queue.Queue()

        def exit_reader():  # from the moment the exit has the destination: its bytes start their way back
            while True:
                try:
                    data = up["sock"].recv(65536)
                except OSError:
                    data = b""
                to_client.put((time.time() + half, data or None))
                if not data:
                    return

        threads = [threading.Thread(target=f, daemon=True) for f in (client_reader, exit_writer)]
        for t in threads:
            t.start()
        upstream = None
        try:
            sleep_until(t0 + half)  # the CONNECT reaches the exit
            if code == REP_OK:
                upstream, code = open_upstream(ip, port)
            up["sock"] = upstream
            up_ready.set()
            if upstream is not None:
                threading.Thread(target=exit_reader, daemon=True).start()
            sleep_until(t0 + self.delay)  # its answer reaches the client
            with lock:
                early["replied"] = True
                n = early["n"]
            if code == CLOSE:
                self.close_instead(conn, rec, early=n)
                return
            self.reply(conn, rec, code, upstream.getsockname() if code == REP_OK else None, early=n)
            if code != REP_OK:
                return
            while True:
                due, data = to_client.get()
                sleep_until(due)
                if data is None:
                    sock.shutdown(socket.SHUT_WR)
                    break
                sock.sendall(data)
            threads[1].join(30)  # the client's side has ended too
        except (OSError, ClientGone):
            pass
        finally:
            up_ready.set()
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the client reader
            except OSError:
                pass
            close_quietly(upstream)

    # ----------------------------------------------------------------------------------------------- serving

    def serve(self, lsock, stop):
        while not stop.is_set():
            try:
                ready, _, _ = select.select([lsock], [], [], 0.2)
            except InterruptedError:
                continue
            if not ready:
                continue
            try:
                sock, peer = lsock.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    time.sleep(0.05)
                    continue
                raise
            sock.setblocking(True)
            t = threading.Thread(target=self.handle, args=(sock, peer), daemon=True)
            t.start()


def sleep_until(t):
    d = t - time.time()
    if d > 0:
        time.sleep(d)


def open_upstream(ip, port):
    """Connects to the destination; maps the failure to the reply code Tor would send."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect((ip, port))
    except ConnectionRefusedError:
        s.close()
        return None, REP_REFUSED
    except socket.timeout:
        s.close()
        return None, REP_TTL
    except OSError as e:
        s.close()
        if e.errno == errno.ENETUNREACH:
            return None, REP_NET_UNREACH
        if e.errno == errno.EHOSTUNREACH:
            return None, REP_HOST_UNREACH
        return None, REP_GENERAL
    s.settimeout(None)
    return s, REP_OK


def relay(a, b):
    """Copies both ways until both directions have ended, passing each half-close on."""
    peers = {a: b, b: a}
    open_in = {a, b}
    while open_in:
        readable, _, _ = select.select(list(open_in), [], [], 1.0)
        for s in readable:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                try:
                    peers[s].sendall(data)
                    continue
                except OSError:
                    return
            open_in.discard(s)
            try:
                peers[s].shutdown(socket.SHUT_WR)
            except OSError:
                pass


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


def main(argv=None):
    ap = argparse.ArgumentParser(description="SOCKS5 server for torwrap's tests (Tor stand-in)")
    ap.add_argument("--listen", required=True, help="HOST:PORT (PORT 0 = any free port)")
    ap.add_argument("--log", help="append one JSON line per request here")
    ap.add_argument("--map", action="append", default=[], metavar="NAME=IP", help="how the 'exit' resolves NAME")
    ap.add_argument("--fail", action="append", default=[], metavar="NAME=CODE", help="force a reply code for NAME")
    ap.add_argument("--default-ip", help="address for names not in --map (else reply 04)")
    ap.add_argument("--delay-ms", type=int, default=0, help="delay before each reply (circuit round trip)")
    ap.add_argument("--delay-model", choices=("reply", "exchange", "request", "circuit"), default="reply",
                    help="where --delay-ms applies: every reply (default), once per round trip, only to "
                         "CONNECT/RESOLVE replies, or a circuit of that round trip (relayed bytes too)")
    ap.add_argument("--count-round-trips", action="store_true",
                    help="log per request how many times the server waited for the client, and the command")
    ap.add_argument("--resolve-to", metavar="IP",
                    help="answer Tor's RESOLVE (F0) with IP; a CONNECT to IP then goes to --default-ip")
    stuck = ap.add_mutually_exclusive_group()
    stuck.add_argument("--black-hole", action="store_true",
                       help="accept every connection and never answer (a stuck tor-proxy)")
    stuck.add_argument("--truncate", type=int, metavar="N",
                       help="send the greeting and auth replies, then only N bytes of the CONNECT reply, then nothing")
    stuck.add_argument("--never-accept", action="store_true",
                       help="let no TCP connection complete (a full backlog: SYNs are dropped)")
    ap.add_argument("--pidfile")
    ap.add_argument("--ready-file", help="written (with the port) once listening")
    args = ap.parse_args(argv)

    server = Server(args)
    host, port = parse_hostport(args.listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, port))
    lsock.listen(0 if args.never_accept else 128)
    lsock.setblocking(False)
    filler = None
    if args.never_accept:  # the one connection a backlog of 0 takes: later SYNs find it full and are dropped
        filler = socket.socket(family, socket.SOCK_STREAM)
        filler.connect(lsock.getsockname()[:2])

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    if args.pidfile:
        write_atomic(args.pidfile, "%d\n" % os.getpid())
    if args.ready_file:
        write_atomic(args.ready_file, "%d\n" % lsock.getsockname()[1])
    try:
        if args.never_accept:
            while not stop.wait(0.2):
                pass
        else:
            server.serve(lsock, stop)
    finally:
        close_quietly(filler)
        lsock.close()
        remove_quietly(args.ready_file)
        remove_quietly(args.pidfile)
    return 0



def norm(name):
    return name.strip().lower().rstrip(".")


def fmt_hostport(host, port):
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def close_quietly(s):
    if s is not None:
        try:
            s.close()
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
