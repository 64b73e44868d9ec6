"""asyncio calls over libzbauth's asynchronous C calls.

``Client.atoken``, ``atopology`` and ``arequest`` start a call with the
library's ``zbauth_client_*_async`` function, which returns at once, and
await a future that the library's callback settles. No thread waits for the
network, so any number of calls can be in flight (``asyncio.to_thread``
would queue them behind the default executor's few threads).

The callback runs on a thread of the library's own. ctypes takes the GIL
for it; it copies the result and the error out of the library's strings,
frees them, and hands the outcome to the event loop with
``call_soon_threadsafe``. It never raises: a loop that has closed, or a
future that was cancelled, simply gets nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import threading
from ctypes import byref, c_int, c_void_p
from typing import Any, Callable, Dict, Optional, Tuple, Union

from . import _native
from ._errors import Status, error_for

# void (*zbauth_callback)(void *user_data, zbauth_status status, int http_status, char *result, char *err)
_CALLBACK = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_int, c_void_p, c_void_p)

# Outcome of a call: (status, http_status, result text, error message, error details).
Outcome = Tuple[int, int, Optional[str], Optional[str], Dict[str, Any]]

# Calls in flight: user_data key → (loop, future). The key, not a Python
# object, crosses the C boundary, so nothing needs pinning.
_pending: Dict[int, Tuple[asyncio.AbstractEventLoop, "asyncio.Future[Outcome]"]] = {}
_pending_lock = threading.Lock()
_keys = itertools.count(1)


def _on_done(user_data: Optional[int], status: int, http_status: int, result: Optional[int], err: Optional[int]) -> None:
    entry = None
    try:
        with _pending_lock:
            entry = _pending.pop(user_data or 0, None)
        lib = _native.loaded()
        try:
            text = _native.take(lib, c_void_p(result))
        finally:
            message, details = _native.take_error(lib, c_void_p(err))
        outcome: Union[Outcome, BaseException] = (status, http_status, text, message, details)
    except BaseException as e:  # noqa: BLE001 - nothing may escape into the library's thread
        outcome = e  # the awaiting task gets it rather than waiting forever
    if entry is None:
        return
    loop, fut = entry
    try:
        loop.call_soon_threadsafe(_settle, fut, outcome)
    except BaseException:  # noqa: BLE001 - the loop has closed: nobody to tell
        pass


def _settle(fut: "asyncio.Future[Outcome]", outcome: Union[Outcome, BaseException]) -> None:
    if fut.done():  # cancelled by the awaiting task
        return
    if isinstance(outcome, BaseException):
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)


# Kept for the life of the process: the library may call it at any time.
_ON_DONE = _CALLBACK(_on_done)


async def call(lib: ctypes.CDLL, start: Callable[..., int], *args: Any) -> Outcome:
    """Starts ``start(*args, cb, user_data, err)`` and awaits its outcome.

    A call that does not start raises at once. Cancelling the await does
    not stop the call: it finishes in the library, bounded by the client's
    timeout, and its result is dropped.
    """
    loop = asyncio.get_running_loop()
    fut: "asyncio.Future[Outcome]" = loop.create_future()
    key = next(_keys)
    with _pending_lock:
        _pending[key] = (loop, fut)
    err = c_void_p()
    try:
        status = start(*args, _ON_DONE, c_void_p(key), byref(err))
    except BaseException:
        with _pending_lock:
            _pending.pop(key, None)
        raise
    if status != Status.OK:
        with _pending_lock:
            _pending.pop(key, None)
        message, details = _native.take_error(lib, err)
        raise error_for(status, message, details)
    return await fut
