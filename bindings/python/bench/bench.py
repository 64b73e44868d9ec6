"""Benchmarks of the Python binding against the dev cluster, side by side
with what a Python user would otherwise write: a plain `requests`
client-credentials flow with a hand-rolled token cache.

Run under `zbauth dev-cluster --` (`make bench-python` does). Prints a
table and, given a path, writes rows in bench/README.md's format:
- token cached: ns per token() call with the token cached;
- topology sequential / 64 workers: calls per second from one thread and
  from 64 threads sharing one client (the GIL is released during calls),
  and from 64 asyncio tasks (atopology, the library's _queued calls);
- the same for the requests peer (surface "python-requests").
Rounds alternate between zbauth and the peer; BENCH_RUNS sets their number.
"""

import asyncio
import json
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

import requests  # type: ignore[import-untyped]

import zbauth


class RequestsPeer:
    """Client credentials with requests, as a user would hand-roll it:
    a lock, a cached token, refresh 30 s before expiry."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.lock = threading.Lock()
        self.token: Optional[str] = None
        self.expires = 0.0
        self.base = os.environ["ZEEBE_REST_ADDRESS"].rstrip("/")

    def get_token(self) -> str:
        with self.lock:
            if self.token is None or time.monotonic() > self.expires - 30:
                r = self.session.post(os.environ["ZEEBE_AUTHORIZATION_SERVER_URL"], data={
                    "grant_type": "client_credentials",
                    "audience": os.environ.get("ZEEBE_TOKEN_AUDIENCE", "zeebe.camunda.io"),
                    "client_id": os.environ["ZEEBE_CLIENT_ID"],
                    "client_secret": os.environ["ZEEBE_CLIENT_SECRET"],
                }, timeout=10)
                r.raise_for_status()
                body = r.json()
                self.token = body["access_token"]
                self.expires = time.monotonic() + float(body.get("expires_in", 300))
            return self.token

    def topology(self) -> Dict[str, Any]:
        r = self.session.get(self.base + "/v1/topology",
                             headers={"Authorization": "Bearer " + self.get_token()}, timeout=10)
        r.raise_for_status()
        result: Dict[str, Any] = r.json()
        return result


def per_call_ns(fn: Callable[[], Any], n: int) -> float:
    fn()  # warm: fill the cache
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - t0) / n


def throughput(fn: Callable[[], Any], threads: int, seconds: float) -> float:
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        while time.monotonic() < stop:
            fn()
            counts[i] += 1

    t0 = time.monotonic()
    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.monotonic() - t0)


def throughput_asyncio(client: zbauth.Client, tasks: int, seconds: float) -> float:
    """Calls per second from tasks asyncio tasks sharing one client (atopology)."""

    async def run() -> float:
        count = 0
        stop = time.monotonic() + seconds

        async def work() -> None:
            nonlocal count
            while time.monotonic() < stop:
                await client.atopology()
                count += 1

        t0 = time.monotonic()
        await asyncio.gather(*(work() for _ in range(tasks)))
        return count / (time.monotonic() - t0)

    return asyncio.run(run())


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    seconds = float(os.environ.get("BENCH_SECONDS", "1.5"))
    out = sys.argv[1] if len(sys.argv) > 1 else None
    rows: Dict[Tuple[str, str], Dict[str, Any]] = {}

    def add(surface: str, name: str, unit: str, value: float, **extra: Any) -> None:
        row = rows.setdefault((surface, name), {"surface": surface, "name": name, "unit": unit, "runs": [], **extra})
        row["runs"].append(value)

    floor = {"baseline": "go-floor/topology sequential", "target": "within 50% of the net/http floor", "ratio_min": 0.667}
    floor64 = dict(floor, baseline="go-floor/topology 64 workers")
    with zbauth.Client() as client:
        peer = RequestsPeer()
        for _ in range(runs):
            add("python", "token cached", "ns/call", per_call_ns(client.token, 100_000),
                baseline="python-requests/token cached", note="client.token(), cached (ctypes call + copy + zbauth_free)")
            add("python-requests", "token cached", "ns/call", per_call_ns(peer.get_token, 100_000),
                note="requests + a lock-guarded hand-rolled cache")
            add("python", "topology sequential", "calls/s", throughput(client.topology, 1, seconds), **floor)
            add("python-requests", "topology sequential", "calls/s", throughput(peer.topology, 1, seconds),
                note="requests.Session, token from the hand-rolled cache")
            add("python", "topology 64 workers", "calls/s", throughput(client.topology, 64, seconds), **floor64)
            add("python-requests", "topology 64 workers", "calls/s", throughput(peer.topology, 64, seconds),
                note="one requests.Session shared by 64 threads")
            add("python", "topology 64 workers (asyncio)", "calls/s", throughput_asyncio(client, 64, seconds),
                baseline="go-floor/topology 64 workers",
                note="64 asyncio tasks sharing one client: await client.atopology() (the library's _queued calls and a completion queue)")
    for r in rows.values():
        med = sorted(r["runs"])[len(r["runs"]) // 2]
        print(f"{r['surface']:16} {r['name']:22} {med:12.0f} {r['unit']}")
    if out:
        with open(out, "w") as f:
            json.dump(list(rows.values()), f, indent=1)


if __name__ == "__main__":
    main()
