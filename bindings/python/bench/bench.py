"""Benchmarks of the Python binding against the dev cluster.

Run under `zbauth dev-cluster --` (`make bench-python` does). Prints:
- token(): nanoseconds per call with the token cached (the cost of the
  binding plus the library's lock-free cache read);
- topology(): calls per second from one thread and from 8 threads sharing
  one client (the GIL is released during calls).
"""

import threading
import time

import zbauth


def bench_token(client: zbauth.Client, n: int = 200_000) -> float:
    client.token()  # fill the cache
    t0 = time.perf_counter_ns()
    for _ in range(n):
        client.token()
    return (time.perf_counter_ns() - t0) / n


def bench_topology(client: zbauth.Client, threads: int, seconds: float = 2.0) -> float:
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        while time.monotonic() < stop:
            client.topology()
            counts[i] += 1

    t0 = time.monotonic()
    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.monotonic() - t0)


def main() -> None:
    with zbauth.Client() as client:
        print(f"python: token() cached        {bench_token(client):10.0f} ns/call")
        print(f"python: topology() 1 thread   {bench_topology(client, 1):10.0f} calls/s")
        print(f"python: topology() 8 threads  {bench_topology(client, 8):10.0f} calls/s")


if __name__ == "__main__":
    main()
