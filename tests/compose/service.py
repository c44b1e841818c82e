"""service.py: the compose test's stand-in for a TRON service (tron-wallet-manager, tron-payout-router).

Every PERIOD seconds it does what such a service does: one HTTP GET to TRON_API_URL with httpx (an Internet
name: torwrap sends it to tor-proxy, Tor resolves it at the exit), and one request to each internal service,
lucid-mongodb:27017 and lucid-redis:6379, by name (allowed by the policy: direct). One line per attempt on
standard output, which is what tests/integration/compose.sh reads (podman logs):
    external ok 200 <the page's title> / external error <exception>
    lucid-mongodb ok <reply> / lucid-mongodb error <exception>
"""
import os
import re
import socket
import sys
import time

import httpx

URL = os.environ.get("TRON_API_URL", "https://api.trongrid.io/")
PERIOD = float(os.environ.get("SERVICE_PERIOD", "5"))
INTERNAL = [("lucid-mongodb", 27017), ("lucid-redis", 6379)]


def say(*words):
    print(*words, flush=True)


def summary(body):
    """The page's title, or its first line."""
    m = re.search(r"<title>(.*?)</title>", body, re.S)
    return m.group(1).strip() if m else (body.strip().splitlines() or [""])[0]


def external(client):
    try:
        r = client.get(URL)
        say("external ok", r.status_code, summary(r.text))
    except Exception as e:  # every failure is a line: fail closed is an error, never a direct connection
        say("external error", type(e).__name__, str(e).replace("\n", " ")[:200])


def internal(name, port):
    try:
        with socket.create_connection((name, port), timeout=10) as s:
            s.sendall(b"PING\r\n")
            say(name, "ok", s.recv(256).decode(errors="replace").strip())
    except Exception as e:
        say(name, "error", type(e).__name__, str(e)[:200])


def main():
    say("service", os.environ.get("SERVICE_NAME", "?"), "started, pid", os.getpid())
    with httpx.Client(timeout=60, trust_env=False) as client:
        while True:
            external(client)
            for name, port in INTERNAL:
                internal(name, port)
            time.sleep(PERIOD)


if __name__ == "__main__":
    sys.exit(main())
