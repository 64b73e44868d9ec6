"""Threads share one client: one token request between them, and calls run
concurrently because ctypes.CDLL releases the GIL during native calls."""

from __future__ import annotations

import os
import select
import threading
import time
from typing import Any, Dict, List, Union

import pytest

import zbauth
from conftest import Dev, run_python


def test_16_threads_one_token_request_and_concurrent_calls(dev: Dev, config: Dict[str, Any]) -> None:
    """16 threads share one client: one token request between them, and
    their API calls are in flight at the same time.

    Concurrency is counted, not timed: while the threads run, this thread
    polls the dev cluster's API request counter. Requests that arrived
    minus calls that have returned is a lower bound of the calls in flight
    at that moment. (Intervals timed in Python would not do: threads note
    their start, then queue for the GIL, so they overlap even when the
    native calls run one at a time, as with ctypes.PyDLL.)
    """
    dev.fault(target="token", delay_ms=200, times=1)  # every thread waits for the one token
    dev.fault(target="api", delay_ms=300, times=0)  # every API call takes 300 ms
    n = 16
    returned = [False] * n
    errors: List[BaseException] = []
    barrier = threading.Barrier(n)
    with zbauth.Client(**config) as client:

        def work(i: int) -> None:
            try:
                barrier.wait()
                topology = client.topology()
                returned[i] = True
                assert topology.cluster_size == 3
            except BaseException as e:  # reported below
                returned[i] = True
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        peak = 0
        deadline = time.monotonic() + 30
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            arrived = dev.stats()["api_requests"]
            peak = max(peak, arrived - sum(returned))
            time.sleep(0.005)
        for t in threads:
            t.join(30)
    assert not errors, errors
    assert all(returned)
    assert peak >= 8, "at most %d native calls were in flight at once: is the GIL held during calls?" % peak
    stats = dev.stats()
    assert stats["token_requests"] == 1
    assert stats["api_requests"] == n


def test_close_while_calls_are_in_flight(dev: Dev, config: Dict[str, Any]) -> None:
    dev.fault(target="api", delay_ms=300, times=0)
    client = zbauth.Client(**config)
    client.token()
    results: List[Union[zbauth.Topology, BaseException]] = []
    started = threading.Barrier(9)

    def work() -> None:
        started.wait()
        try:
            results.append(client.topology())
        except BaseException as e:
            results.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.1)  # the calls are waiting on the API now
    client.close()
    client.close()
    for t in threads:
        t.join(30)
    assert len(results) == 8
    # finished normally or failed cleanly; never crashed
    assert all(isinstance(r, (zbauth.Topology, zbauth.Error)) for r in results), results
    with pytest.raises(zbauth.ArgumentError):
        client.topology()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() of a threaded process
def test_forked_child_gets_an_error_not_a_hang(config: Dict[str, Any]) -> None:
    client = zbauth.Client(**config)
    client.token()  # the library is loaded and its runtime running
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report through the pipe, never return into pytest
        try:
            try:
                client.token()
                msg = "no error"
            except zbauth.Error as e:
                msg = "%s %s" % (type(e).__name__, e)
            client.close()  # must not call into the dead runtime either
            os.write(w, msg.encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], 20)
        msg = os.read(r, 4096).decode() if ready else "child hung"
    finally:
        os.close(r)
        if not ready:
            os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert msg.startswith("Error ") and "fork" in msg, msg
    assert client.token()  # the parent is unaffected
    client.close()


SIGNAL_PROBE = """
import os, signal, threading, time, zbauth
client = zbauth.Client()              # loads the library: the Go runtime is running
caught = []
signal.signal(signal.SIGUSR1, lambda *a: caught.append(1))   # installed after load
stop = time.monotonic() + 1.0
def work():
    while time.monotonic() < stop:
        client.topology()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
sent = 0
while time.monotonic() < stop:
    os.kill(os.getpid(), signal.SIGUSR1)  # may land on any thread, Go's included
    sent += 1
    time.sleep(0.01)
for t in threads:
    t.join()
client.close()
time.sleep(0.1)
print(sent, len(caught))
"""


def test_python_signal_handlers_survive_go_threads(dev: Dev) -> None:
    """Python installs handlers with SA_ONSTACK, as the Go runtime requires
    of handlers installed after it: signals arriving on Go's threads while
    calls run reach Python's handler and crash nothing."""
    dev.fault(target="api", delay_ms=5, times=0)
    done = run_python(SIGNAL_PROBE)
    assert done.returncode == 0, done.stderr
    sent, caught = map(int, done.stdout.split())
    assert sent > 10 and caught > 0
