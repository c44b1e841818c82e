#!/usr/bin/env python3
"""leak_services.py: the hosts of scripts/leak-test's sandbox network, in one process.

Listens on every address it is given (all of them inside the harness's network namespace) and logs each contact
as one JSON line, so a report can say who reached what, and from where (directly from the service container, or
from the proxy's exit):

    leak_services.py --log FILE [--ready-file F] [--pidfile F]
                     [--http ADDR:PORT=DIR ...]    HTTP/1.0 file server for DIR (index.html, a dumb git repo)
                     [--banner ADDR:PORT=TEXT ...] TCP: sends TEXT + CRLF, reads one line, closes (an SSH server's
                                                   greeting: enough for `ssh -v` to name the server)
                     [--udp ADDR:PORT ...]         UDP sink: logs each datagram

ADDR is an IPv4 address or an IPv6 address in brackets.
"""

import argparse
import functools
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import sys
import threading
import time

LOG_LOCK = threading.Lock()
LOG = None


def log(rec):
    rec = dict({"ts": round(time.time(), 6)}, **rec)
    with LOG_LOCK:
        if LOG:
            LOG.write(json.dumps(rec) + "\n")
            LOG.flush()


def parse_addr(text):
    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", text)
    if not m:
        raise SystemExit("want ADDR:PORT or [V6]:PORT, got %r" % text)
    return (m.group(1), int(m.group(2))) if m.group(1) else (m.group(3), int(m.group(4)))


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def fmt(addr):
    return ("[%s]:%d" if ":" in addr[0] else "%s:%d") % (addr[0], addr[1])


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def log_request(self, code="-", size="-"):
        log({"svc": "http", "listen": fmt(self.server.server_address[:2]), "peer": fmt(self.client_address[:2]),
             "path": self.path, "host": self.headers.get("Host"), "code": code})


def http_server(addr, directory):
    cls = type("HTTPServer", (http.server.ThreadingHTTPServer,),
               {"address_family": family_of(addr[0]), "daemon_threads": True, "allow_reuse_address": True})
    return cls(addr, functools.partial(Handler, directory=directory))


class BannerHandler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.settimeout(5)
        try:
            s.sendall(self.server.banner.encode() + b"\r\n")
            line = b""
            while not line.endswith(b"\n") and len(line) < 512:
                chunk = s.recv(512)
                if not chunk:
                    break
                line += chunk
        except OSError:
            line = b""
        log({"svc": "banner", "listen": fmt(self.server.server_address[:2]), "peer": fmt(self.client_address[:2]),
             "client_said": line.split(b"\n")[0].decode("ascii", "replace").strip()})


def banner_server(addr, text):
    cls = type("BannerServer", (socketserver.ThreadingTCPServer,),
               {"address_family": family_of(addr[0]), "daemon_threads": True, "allow_reuse_address": True})
    srv = cls(addr, BannerHandler)
    srv.banner = text
    return srv


def udp_sink(addr, stop):
    s = socket.socket(family_of(addr[0]), socket.SOCK_DGRAM)
    s.bind(addr)
    s.settimeout(0.5)

    def run():
        while not stop.is_set():
            try:
                data, peer = s.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            log({"svc": "udp", "listen": fmt(addr), "peer": fmt(peer[:2]), "bytes": len(data)})
    return run


def main():
    global LOG
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready-file")
    ap.add_argument("--pidfile")
    ap.add_argument("--http", action="append", default=[], metavar="ADDR:PORT=DIR")
    ap.add_argument("--banner", action="append", default=[], metavar="ADDR:PORT=TEXT")
    ap.add_argument("--udp", action="append", default=[], metavar="ADDR:PORT")
    args = ap.parse_args()
    LOG = open(args.log, "a", buffering=1)

    stop = threading.Event()
    runners = []
    servers = []
    for item in args.http:
        where, _, directory = item.partition("=")
        srv = http_server(parse_addr(where), directory)
        servers.append(srv)
        runners.append(srv.serve_forever)
    for item in args.banner:
        where, _, text = item.partition("=")
        srv = banner_server(parse_addr(where), text)
        servers.append(srv)
        runners.append(srv.serve_forever)
    for item in args.udp:
        runners.append(udp_sink(parse_addr(item), stop))
    for r in runners:
        threading.Thread(target=r, daemon=True).start()

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as f:
            f.write("ready\n")
        os.replace(args.ready_file + ".tmp", args.ready_file)
    while not stop.wait(0.5):
        pass
    return 0  # the serving threads are daemons: they end with the process


if __name__ == "__main__":
    sys.exit(main())
