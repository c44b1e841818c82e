#!/usr/bin/env python3
"""asyncget.py: an asyncio HTTP client for tests/integration/async.sh and the bench's async section (issue 13).

    asyncget.py [--tick-ms MS] [--limit-s S] PORT HOST...

Opens a connection to every HOST at once (asyncio.open_connection, all of them under one asyncio.gather), sends
an HTTP GET on each and reads the response to its end. A ticker task sleeps MS milliseconds (default 10) in a
loop on the same event loop and records the instant of every tick, from before the first connection to the
end, so a test can tell whether the loop ran while the connections waited (a loop frozen inside connect()
records none).

Prints one JSON object: {"start": T, "end": T, "ticks": [T...], "results": [{"host", "ok": true, "body",
"peer_ok"} or {"host", "ok": false, "op", "error"}...]} (T: time.time()). "op" is where the error surfaced
(connect, write, read, limit), "error" the errno's name (ECONNREFUSED) or the exception's; peer_ok says that
the transport's peername (getpeername, taken when the connection was made) was one of the name's addresses,
on PORT. A connection not done after S seconds (default 30) fails with op "limit". One line per failed
connection on stderr. Exit status 0 when every connection was ok, 2 otherwise.
"""

import asyncio
import errno
import json
import socket
import sys
import time


def err_name(e):
    if isinstance(e, OSError) and e.errno in errno.errorcode:
        return errno.errorcode[e.errno]
    if isinstance(e, asyncio.IncompleteReadError):
        return "EOF"
    return type(e).__name__


async def fetch(host, port):
    op = "connect"
    try:
        reader, writer = await asyncio.open_connection(host, port)
        peer = writer.get_extra_info("peername")
        op = "write"
        writer.write(b"GET / HTTP/1.0\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n")
        await writer.drain()
        op = "read"
        data = await reader.read()
        writer.close()
        head, sep, body = data.partition(b"\r\n\r\n")
        if not data.startswith(b"HTTP/1.") or not sep or not body:
            return {"host": host, "ok": False, "op": "response", "error": "not-http" if sep else "no-body"}
    except Exception as e:  # noqa: BLE001: every failure is a result
        return {"host": host, "ok": False, "op": op, "error": err_name(e), "detail": str(e)}
    try:
        addrs = {a[4][0] for a in await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except OSError:
        addrs = set()
    peer_ok = bool(peer) and peer[0] in addrs and peer[1] == port
    return {"host": host, "ok": True, "body": body.decode("utf-8", "replace"), "peer_ok": peer_ok}


async def main(argv):
    tick_ms, limit_s = 10, 30.0
    while argv and argv[0].startswith("--"):
        if argv[0] == "--tick-ms":
            tick_ms = int(argv[1])
        elif argv[0] == "--limit-s":
            limit_s = float(argv[1])
        else:
            raise SystemExit(__doc__)
        argv = argv[2:]
    if len(argv) < 2:
        raise SystemExit(__doc__)
    port, hosts = int(argv[0]), argv[1:]
    ticks = []

    async def ticker():
        while True:
            await asyncio.sleep(tick_ms / 1000)
            ticks.append(time.time())

    tick_task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker is running before the first connection starts
    start = time.time()
    tasks = [asyncio.create_task(fetch(h, port)) for h in hosts]
    done, pending = await asyncio.wait(tasks, timeout=limit_s)
    end = time.time()
    tick_task.cancel()
    results = []
    for h, t in zip(hosts, tasks):
        if t in done:
            results.append(t.result())
        else:
            t.cancel()
            results.append({"host": h, "ok": False, "op": "limit", "error": "limit"})
    for r in results:
        if not r["ok"]:
            print("asyncget.py: %s: %s: %s" % (r["host"], r["op"], r["error"]), file=sys.stderr)
    print(json.dumps({"start": start, "end": end, "ticks": ticks, "results": results}))
    return 0 if all(r["ok"] for r in results) else 2


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
