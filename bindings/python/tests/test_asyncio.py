"""The asyncio methods (atoken, atopology, arequest) over the library's
asynchronous calls, against the dev cluster: many calls in flight without
threads, errors typed as in the blocking methods, cancellation, and a loop
or interpreter that goes away while calls are in flight."""

from __future__ import annotations

import asyncio
import gc
import os
import json
import textwrap
import threading
from typing import Any, Dict, List, Set

import pytest

import zbauth

from conftest import Dev, leaks, run_python, shown


def test_200_calls_in_flight_share_one_token_request_without_threads(client: zbauth.Client, dev: Dev) -> None:
    before = {t.name for t in threading.enumerate()}
    extra: Set[str] = set()

    async def main() -> List[zbauth.Topology]:
        calls = [asyncio.ensure_future(client.atopology()) for _ in range(200)]
        while not all(c.done() for c in calls):
            extra.update(t.name for t in threading.enumerate() if t.name not in before)
            await asyncio.sleep(0.001)
        return [c.result() for c in calls]

    results = asyncio.run(main())
    assert len(results) == 200 and all(t == results[0] for t in results)
    assert results[0].cluster_size == 3
    stats = dev.stats()
    assert stats["token_requests"] == 1, stats
    assert stats["api_requests"] == 200, stats
    # asyncio.to_thread would have started executor threads.
    assert not extra, "the calls ran on Python threads: %s" % sorted(extra)


def test_token_request_and_echo(client: zbauth.Client) -> None:
    async def main() -> Any:
        return await asyncio.gather(
            client.atoken(), client.atoken(), client.arequest("POST", "/v2/echo", json={"q": [1, 2]})
        )

    first, second, echo = asyncio.run(main())
    assert first == second == client.token()
    assert echo.status == 200 and echo.body["body"] == {"q": [1, 2]}


def test_errors_are_typed_and_show_no_secret(dev: Dev, config: Dict[str, Any]) -> None:
    with zbauth.Client(**config) as c:
        dev.fault(target="api", status=403, times=1,
                  body=json.dumps({"type": "about:blank", "title": "Forbidden", "status": 403, "detail": "no"}),
                  content_type="application/problem+json")
        with pytest.raises(zbauth.ApiError) as api:
            asyncio.run(c.arequest("GET", "/v2/topology"))
        assert api.value.status == 403 and api.value.title == "Forbidden"
        assert api.value.text is not None and "Forbidden" in api.value.text
        with pytest.raises(zbauth.ArgumentError):
            asyncio.run(c.arequest("GET", "/v2/topology\0x"))

    wrong = dict(config, client_secret="SECRET-MARKER-async-wrong")
    with zbauth.Client(**wrong) as c:
        with pytest.raises(zbauth.AuthError) as auth:
            asyncio.run(c.atopology())
        assert auth.value.status == 401
        assert leaks(shown(auth.value)) == []
        assert "SECRET-MARKER-async-wrong" not in shown(auth.value)


def test_closed_client_raises_at_once(config: Dict[str, Any]) -> None:
    c = zbauth.Client(**config)
    c.close()
    for coro in (c.atoken, c.atopology, lambda: c.arequest("GET", "/v2/topology")):
        with pytest.raises(zbauth.ArgumentError, match="closed"):
            asyncio.run(coro())


def test_cancelled_call_leaves_the_loop_and_client_working(client: zbauth.Client, dev: Dev,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    client.token()
    dev.fault(target="api", delay_ms=400, times=1)

    async def main() -> zbauth.Topology:
        slow = asyncio.ensure_future(client.atopology())
        await asyncio.sleep(0.05)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        await asyncio.sleep(0.6)  # the cancelled call's answer arrives meanwhile
        return await client.atopology()

    assert asyncio.run(main()).cluster_size == 3
    out, err = capfd.readouterr()
    assert "Exception" not in err and "Traceback" not in err, err


def test_interpreter_exits_cleanly_with_calls_in_flight(dev: Dev, config: Dict[str, Any]) -> None:
    # The loop closes, then the interpreter exits, while the library still
    # holds calls whose outcomes have nowhere to go.
    dev.fault(target="api", delay_ms=300, times=20)
    code = textwrap.dedent(
        """
        import asyncio, json, sys, zbauth
        c = zbauth.Client(**json.loads(sys.argv[1] if len(sys.argv) > 1 else %r))
        async def main():
            for _ in range(20):
                asyncio.ensure_future(c.atopology())
            await asyncio.sleep(0.05)
        asyncio.run(main())
        print("exiting")
        """
        % json.dumps(config)
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exiting"
    assert "Traceback" not in done.stderr and "Exception" not in done.stderr, done.stderr


def _eventfds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink("/proc/self/fd/" + fd) == "anon_inode:[eventfd]"
        except OSError:
            pass
    return n


def test_each_loop_gets_a_queue_that_goes_with_it(client: zbauth.Client) -> None:
    # Every asyncio.run makes a new loop, with a library queue (an eventfd)
    # of its own; the queue is freed once its loop is gone.
    async def main() -> int:
        ts = await asyncio.gather(*(client.atopology() for _ in range(5)))
        return len(ts)

    assert asyncio.run(main()) == 5
    gc.collect()
    before = _eventfds()
    for _ in range(20):
        assert asyncio.run(main()) == 5
    gc.collect()
    assert _eventfds() <= before + 1
