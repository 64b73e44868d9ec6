"""Benchmarks of the Python binding against the dev cluster, side by side
with what a Python user would otherwise write: a plain `requests`
client-credentials flow with a hand-rolled token cache.

Run under `zbauth dev-cluster --` (`make bench-python` does). Prints a
table and, given a path, writes rows in bench/README.md's format:
- token cached: ns per token() call with the token cached;
- topology sequential / 64 workers: calls per second from one thread and
  from 64 threads sharing one client (the GIL is released during calls),
  and from 64 asyncio tasks (atopology, the library's _queued calls);
- the same for the requests peer (surface "python-requests");
- cold burst: one caller on an empty cache, then 1,000 callers released at
  once on a fresh client (asyncio tasks for zbauth, threads for the peer):
  time until the last has a token and the token requests made; plain and
  with every token response delayed 50 ms;
- refresh stall: 64 threads calling token() once a millisecond each while
  the token is refreshed with the token endpoint delayed 500 ms: the
  longest call, the calls that took at least 250 ms, the token requests.
The last two mirror bench/cmd/measure (coldOnce, stallOnce), with the same
row names. Rounds alternate between zbauth and the peer; BENCH_RUNS sets
their number. BENCH_SMOKE=1 runs everything once and tiny (a check that
the script still runs, its figures mean nothing).
"""

import asyncio
import json
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import requests  # type: ignore[import-untyped]

import zbauth

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from devctl import Dev  # noqa: E402  (the tests' control client)


class RequestsPeer:
    """Client credentials with requests, as a user would hand-roll it:
    a lock, a cached token, refresh 30 s before expiry."""

    margin = 30.0  # refresh this many seconds before expiry

    def __init__(self) -> None:
        self.session = requests.Session()
        self.lock = threading.Lock()
        self.token: Optional[str] = None
        self.expires = 0.0
        self.base = os.environ["ZEEBE_REST_ADDRESS"].rstrip("/")

    def get_token(self) -> str:
        with self.lock:
            if self.token is None or time.monotonic() > self.expires - self.margin:
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


def burst_threads(fn: Callable[[], Any], n: int) -> float:
    """Releases n threads at once, each calling fn, and returns the seconds
    until the last one returned (from just before the release)."""
    ready = threading.Semaphore(0)
    start = threading.Event()
    ends: List[float] = [0.0] * n
    errors: List[BaseException] = []

    def work(i: int) -> None:
        ready.release()
        start.wait()
        try:
            fn()
        except BaseException as e:  # reported below
            errors.append(e)
        ends[i] = time.perf_counter()

    ts = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for _ in range(n):
        ready.acquire()
    time.sleep(0.02)  # let every caller park on start
    t0 = time.perf_counter()
    start.set()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("%d of %d callers failed: %r" % (len(errors), n, errors[0]))
    return max(ends) - t0


def burst_asyncio(client: zbauth.Client, n: int) -> float:
    """Releases n asyncio tasks at once, each awaiting client.atoken(), and
    returns the seconds until the last one has its token."""

    async def run() -> float:
        start = asyncio.Event()
        ends: List[float] = [0.0] * n
        parked = 0

        async def work(i: int) -> None:
            nonlocal parked
            parked += 1
            await start.wait()
            await client.atoken()
            ends[i] = time.perf_counter()

        tasks = [asyncio.ensure_future(work(i)) for i in range(n)]
        while parked < n:
            await asyncio.sleep(0)
        await asyncio.sleep(0.02)
        t0 = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        return max(ends) - t0

    return asyncio.run(run())


def watch(fn: Callable[[], Any], callers: int, stop: threading.Event, slow: float) -> Tuple[float, int, int]:
    """Runs callers threads, each calling fn about once a millisecond until
    stop is set; returns the longest call (s), the calls that took at least
    slow seconds and the calls made (bench/cmd/measure's watch)."""
    lock = threading.Lock()
    worst = 0.0
    blocked = made = 0
    errors: List[BaseException] = []

    def work() -> None:
        nonlocal worst, blocked, made
        w = 0.0
        k = slow_calls = 0
        try:
            while not stop.is_set():
                t = time.perf_counter()
                fn()
                e = time.perf_counter() - t
                w = max(w, e)
                if e >= slow:
                    slow_calls += 1
                k += 1
                time.sleep(0.001)
        except BaseException as e:  # reported below
            errors.append(e)
        with lock:
            worst = max(worst, w)
            blocked += slow_calls
            made += k

    ts = [threading.Thread(target=work) for _ in range(callers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("%d callers failed: %r" % (len(errors), errors[0]))
    return worst, blocked, made


def main() -> None:
    smoke = os.environ.get("BENCH_SMOKE") == "1"
    runs = 1 if smoke else int(os.environ.get("BENCH_RUNS", "3"))
    seconds = 0.15 if smoke else float(os.environ.get("BENCH_SECONDS", "1.5"))
    cached_calls = 2_000 if smoke else 100_000
    # Cold burst: callers; refresh stall: token delay, lifetimes (whole
    # seconds) and when the callers start, after the cache was filled.
    burst_n = 100 if smoke else 1000
    stall_delay_ms = 100 if smoke else 500
    # zbauth refreshes in the background from 3/4 of the lifetime (less a
    # clock-skew allowance): 2.7 s into a 4 s token; start at half.
    stall_life_z, stall_enter_z = (2, 1.0) if smoke else (4, 2.0)
    # The requests peer refreshes 30 s before expiry, under its lock: a
    # 32 s token is refreshed 2 s in; start at once.
    stall_life_r = 31 if smoke else 32
    dev = Dev(os.environ["ZBAUTH_DEV_URL"])
    out = sys.argv[1] if len(sys.argv) > 1 else None
    rows: Dict[Tuple[str, str], Dict[str, Any]] = {}

    def add(surface: str, name: str, unit: str, value: float, **extra: Any) -> None:
        row = rows.setdefault((surface, name), {"surface": surface, "name": name, "unit": unit, "runs": [], **extra})
        row["runs"].append(value)

    # The target ("within 50% of the net/http floor") is the report's.
    floor = {"baseline": "go-floor/topology sequential"}
    floor64 = {"baseline": "go-floor/topology 64 workers"}
    with zbauth.Client() as client:
        peer = RequestsPeer()
        for _ in range(runs):
            add("python", "token cached", "ns/call", per_call_ns(client.token, cached_calls),
                baseline="python-requests/token cached", note="client.token(), cached (ctypes call + copy + zbauth_free)")
            add("python-requests", "token cached", "ns/call", per_call_ns(peer.get_token, cached_calls),
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
    for r in range(runs):
        order = ["python", "python-requests"] if r % 2 == 0 else ["python-requests", "python"]
        for delay, tag in ((0, ""), (50, " (token endpoint +50 ms)")):
            for surface in order:
                cold_once(dev, add, surface, delay, tag, burst_n)
        for surface in order:
            if surface == "python":
                stall_once(dev, add, surface, stall_life_z, stall_enter_z, stall_delay_ms)
            else:
                stall_once(dev, add, surface, stall_life_r, 0.0, stall_delay_ms)
    dev.reset()
    for row in rows.values():
        med = sorted(row["runs"])[len(row["runs"]) // 2]
        print(f"{row['surface']:16} {row['name']:50} {med:12.1f} {row['unit']}")
    if out:
        with open(out, "w") as f:
            json.dump(list(rows.values()), f, indent=1)


Add = Callable[..., None]


def cold_once(dev: Dev, add: Add, surface: str, delay_ms: int, tag: str, n: int) -> None:
    """bench/cmd/measure's coldOnce: one caller on an empty cache, then n
    callers released at once on another fresh client (asyncio tasks with
    atoken() for zbauth, threads for the requests peer)."""

    def prepare() -> None:
        dev.reset()
        if delay_ms:
            dev.fault(target="token", delay_ms=delay_ms)

    def fresh() -> Tuple[Callable[[], None], Callable[[int], float]]:
        if surface == "python":
            c = zbauth.Client()
            return c.close, lambda k: burst_asyncio(c, k)
        p = RequestsPeer()
        return p.session.close, lambda k: burst_threads(p.get_token, k)

    prepare()
    if surface == "python":
        with zbauth.Client() as c:
            t0 = time.perf_counter()
            c.token()
            one = time.perf_counter() - t0
    else:
        p = RequestsPeer()
        t0 = time.perf_counter()
        p.get_token()
        one = time.perf_counter() - t0
        p.session.close()
    prepare()
    close, run = fresh()
    try:
        all_ = run(n)
    finally:
        close()
    requests_made = dev.stats()["token_requests"]
    how = ("%d asyncio tasks awaiting client.atoken() on one fresh client" % n if surface == "python"
           else "%d threads calling get_token() on one fresh peer (its lock serialises them)" % n)
    add(surface, "cold: single caller" + tag, "ms", one * 1e3,
        note="one token() call on a fresh client, empty cache (new connection included)")
    add(surface, "cold burst: token requests" + tag, "requests", float(requests_made),
        note=how + ", released at once on an empty cache")
    add(surface, "cold burst: time to all" + tag, "ms", all_ * 1e3, baseline="cold: single caller" + tag,
        note="until all %d callers have a token (%s), from just before their release; "
             "ratio vs the same library's single caller" % (n, how))


def stall_once(dev: Dev, add: Add, surface: str, life: int, enter: float, delay_ms: int) -> None:
    """bench/cmd/measure's stallOnce: fill the cache with a token of life
    seconds, delay token responses by delay_ms, and from enter seconds after
    the fill have 64 threads call token() once a millisecond each until a
    new token has been issued (and delay/5 more)."""
    dev.reset()
    dev.token_lifetime(life)
    if surface == "python":
        client = zbauth.Client()
        fn: Callable[[], Any] = client.token
        close: Callable[[], None] = client.close
        how = ("64 threads calling client.token(), one call per ms each, from %g s into the %d s token lifetime "
               "(before the background refresh window opens) until the refresh is over; the cached-token call "
               "keeps the GIL, so the threads' turns at the GIL are in the figure" % (enter, life))
    else:
        peer = RequestsPeer()
        fn, close = peer.get_token, peer.session.close
        how = ("64 threads calling get_token(), one call per ms each; a %d s token, so that the peer's "
               "refresh (30 s before expiry, lock held across the fetch) comes %d s after the fill; "
               "from the fill until the refresh is over" % (life, life - int(RequestsPeer.margin)))
    try:
        filled = time.monotonic()
        fn()
        dev.fault(target="token", delay_ms=delay_ms)
        time.sleep(max(0.0, filled + enter - time.monotonic()))
        before = dev.stats()
        stop = threading.Event()
        outcome: List[str] = []

        def poll() -> None:
            limit = time.monotonic() + life - enter
            try:
                while time.monotonic() < limit:
                    time.sleep(0.01)
                    if dev.stats()["tokens_issued"] > before["tokens_issued"]:
                        time.sleep(delay_ms / 5000)
                        return
                outcome.append("no refresh happened before the token expired")
            except BaseException as e:  # reported below
                outcome.append(repr(e))
            finally:
                stop.set()

        poller = threading.Thread(target=poll)
        poller.start()
        worst, blocked, made = watch(fn, 64, stop, delay_ms / 2000)
        watched = time.monotonic() - (filled + enter)
        poller.join()
        if outcome:
            raise RuntimeError("%s refresh stall: %s" % (surface, outcome[0]))
        dev.clear_faults()
        after = dev.stats()
    finally:
        close()
    tag = " (token endpoint +%d ms)" % delay_ms
    add(surface, "refresh stall: longest wait" + tag, "ms", worst * 1e3, note=how)
    add(surface, "refresh stall: calls blocked" + tag, "calls", float(blocked),
        note="calls that took at least half the delay (%d ms)" % (delay_ms // 2))
    add(surface, "refresh stall: calls made" + tag, "calls", float(made))
    add(surface, "refresh stall: time watched" + tag, "ms", watched * 1e3)
    add(surface, "refresh stall: token requests" + tag, "requests",
        float(after["token_requests"] - before["token_requests"]))


if __name__ == "__main__":
    main()
