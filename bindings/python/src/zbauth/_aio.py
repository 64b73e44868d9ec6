"""asyncio calls over libzbauth's completion queues.

``Client.atoken``, ``atopology`` and ``arequest`` start a call with the
library's ``zbauth_client_*_queued`` function, which returns at once, and
await a future. Each event loop has one library queue (``zbauth_queue``):
the loop watches its file descriptor with ``add_reader`` and, when it is
readable, takes the finished calls' outcomes with ``zbauth_queue_take`` and
settles their futures. No thread waits for the network, and no Python code
runs on a library thread: the GIL is never taken by one (a ctypes callback
would take it for every call, from a thread Python does not know).

OWNERSHIP. A completion's ``result`` and ``err`` are ours once taken: they
are copied and freed with ``_native.take``/``take_error``, exactly once,
whether or not the awaiting task is still there. The queue belongs to its
loop's entry here and is freed with ``zbauth_queue_free`` when the loop is
garbage collected; outcomes of calls still in flight then are dropped by the
library.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import weakref
from ctypes import byref, c_int, c_size_t, c_uint64, c_void_p
from typing import Any, Callable, Dict, Optional, Tuple

from . import _native
from ._errors import Status, error_for

# Outcome of a call: (status, http_status, result text, error message, error details).
Outcome = Tuple[int, int, Optional[str], Optional[str], Dict[str, Any]]


class _Completion(ctypes.Structure):
    """zbauth_completion (capi/zbauth.h)."""

    _fields_ = [
        ("tag", c_uint64),
        ("status", c_int),
        ("http_status", c_int),
        ("result", c_void_p),
        ("err", c_void_p),
    ]


_BATCH = 64


class _LoopQueue:
    """One event loop's library queue and the futures of its calls in
    flight, by tag. Only the loop's thread touches it."""

    def __init__(self, lib: ctypes.CDLL, loop: asyncio.AbstractEventLoop) -> None:
        q = c_void_p()
        err = c_void_p()
        status = lib.zbauth_queue_new(byref(q), byref(err))
        if status != Status.OK:
            message, details = _native.take_error(lib, err)
            raise error_for(status, message, details)
        self.lib = lib
        self.q = q
        self.pending: Dict[int, "asyncio.Future[Outcome]"] = {}
        self.tags = itertools.count(1)
        self.buf = (_Completion * _BATCH)()
        try:
            loop.add_reader(lib.zbauth_queue_fd(q), self.drain)
        except BaseException:
            lib.zbauth_queue_free(q)
            raise
        # The loop holds the reader (and through it this object) until it
        # closes; the queue goes when the loop is collected, not at
        # interpreter exit (a loop may still run then, in another thread).
        weakref.finalize(loop, _free_queue, lib, q).atexit = False

    def drain(self) -> None:
        """Settles every finished call's future. Every outcome taken is
        freed and settled, even when one of them fails to convert."""
        lib, buf = self.lib, self.buf
        n = c_size_t()
        while True:
            lib.zbauth_queue_take(self.q, buf, _BATCH, byref(n))
            escaped: Optional[BaseException] = None
            for i in range(n.value):
                c = buf[i]
                fut = self.pending.pop(c.tag, None)
                outcome: Any
                try:
                    try:
                        text = _native.take(lib, c_void_p(c.result))
                    finally:
                        message, details = _native.take_error(lib, c_void_p(c.err))
                    outcome = (c.status, c.http_status, text, message, details)
                except Exception as e:  # noqa: BLE001 - the awaiting task gets it rather than waiting forever
                    outcome = e
                except BaseException as e:  # KeyboardInterrupt...: for the loop, once the batch is settled
                    outcome = None
                    escaped = escaped or e
                if fut is None or fut.done():  # cancelled by the awaiting task
                    continue
                if outcome is None:
                    fut.cancel()
                elif isinstance(outcome, BaseException):
                    fut.set_exception(outcome)
                else:
                    fut.set_result(outcome)
            if escaped is not None:
                raise escaped
            if n.value < _BATCH:
                return


def _free_queue(lib: ctypes.CDLL, q: c_void_p) -> None:
    # A child forked after the library was loaded must not call it.
    if not _native.forked():
        lib.zbauth_queue_free(q)


# One queue per running loop (a loop is used from one thread only).
_queues: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue]" = weakref.WeakKeyDictionary()


async def call(lib: ctypes.CDLL, start: Callable[..., int], *args: Any) -> Outcome:
    """Starts ``start(*args, queue, tag, err)`` and awaits its outcome.

    A call that does not start raises at once. Cancelling the await does
    not stop the call: it finishes in the library, bounded by the client's
    timeout, and its result is freed unread.
    """
    loop = asyncio.get_running_loop()
    lq = _queues.get(loop)
    if lq is None:
        lq = _queues[loop] = _LoopQueue(lib, loop)
    fut: "asyncio.Future[Outcome]" = loop.create_future()
    tag = next(lq.tags)
    err = c_void_p()
    status = start(*args, lq.q, tag, byref(err))
    if status != Status.OK:
        message, details = _native.take_error(lib, err)
        raise error_for(status, message, details)
    lq.pending[tag] = fut
    return await fut
