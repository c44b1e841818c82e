#!/usr/bin/env python3
"""soak_load.py: CONCURRENCY connections kept open at all times for SECONDS: each worker fetches
http://HOST:PORT/ (a new connection each time) in a loop. Prints one JSON line every INTERVAL seconds and a
last one: streams completed, errors, streams/s, and this process's descriptors and RSS (the wrapped process's).

    soak_load.py HOST PORT --concurrency 200 --seconds 600 [--interval 10]
"""
import argparse, asyncio, json, os, sys, time


def fds():
    return len(os.listdir("/proc/self/fd"))


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class Stats:
    def __init__(self):
        self.ok = self.err = 0
        self.errors = {}


async def worker(host, port, stop_at, st):
    req = ("GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % host).encode()
    while time.monotonic() < stop_at:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 60)
            w.write(req)
            await w.drain()
            body = await asyncio.wait_for(r.read(), 60)
            w.close()
            if b" 200 " in body.split(b"\r\n", 1)[0]:
                st.ok += 1
            else:
                raise OSError("bad status")
        except Exception as e:  # every failure is counted by its kind, and the worker goes on
            st.err += 1
            k = type(e).__name__ + (": %s" % e.strerror if getattr(e, "strerror", None) else "")
            st.errors[k] = st.errors.get(k, 0) + 1
            await asyncio.sleep(0.2)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--interval", type=float, default=10)
    a = ap.parse_args()
    st = Stats()
    t0 = time.monotonic()
    start = {"fds": fds(), "rss_kb": rss_kb()}
    stop_at = t0 + a.seconds
    tasks = [asyncio.create_task(worker(a.host, a.port, stop_at, st)) for _ in range(a.concurrency)]

    def report(final):
        el = time.monotonic() - t0
        print(json.dumps({"final": final, "t": round(el, 1), "completed": st.ok, "errors": st.err,
                          "streams_per_s": round(st.ok / el, 1) if el else 0, "fds": fds(), "rss_kb": rss_kb(),
                          "start": start, "error_kinds": st.errors}), flush=True)

    while time.monotonic() < stop_at:
        await asyncio.sleep(min(a.interval, max(0.1, stop_at - time.monotonic())))
        report(False)
    await asyncio.gather(*tasks)
    await asyncio.sleep(1)  # the last sockets closed: descriptors counted at rest
    report(True)


asyncio.run(main())
