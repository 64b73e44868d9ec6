"""Finding and loading libzbauth, and its C prototypes (capi/zbauth.h).

Where the library is looked for, in order:

1. ``$ZBAUTH_LIBRARY``, when set: that file and nothing else.
2. ``libzbauth.so`` beside this module (where a wheel bundles it).

It is loaded on first use, not at import, so that ``import zbauth`` always
works and a missing library is reported as :class:`zbauth.LibraryError`.

OWNERSHIP. Every ``char *`` the library returns through an out-parameter
is ours: :func:`take` copies it into a Python ``str`` with
``ctypes.string_at`` and releases it with ``zbauth_free`` in a ``finally``,
exactly once. Out-parameters are declared as ``c_void_p``, never
``c_char_p``, because ctypes would convert a ``c_char_p`` to ``bytes`` and
lose the pointer that must be freed. Strings passed in are ``bytes`` that
Python owns; the library borrows them for the duration of the call only.
``zbauth_version`` and ``zbauth_status_name`` return static strings, never
freed. An error message is taken with :func:`take_error`, which asks
``zbauth_error_details`` for its structured details while the message is
still live, then frees both.

THE GIL. The library is loaded with ``ctypes.CDLL``, which releases the GIL
for the duration of every call, so threads sharing a client run their
requests concurrently. The exception is ``zbauth_client_token_nowait`` (the
cached-token path), which never waits for the network and keeps the GIL.

THE ENVIRONMENT. ``zbauth_client_new`` reads the ``ZEEBE_*`` variables with
C ``getenv`` when it is called, so changes made to ``os.environ`` (which
calls ``putenv``) before creating a client are seen.

THE GO RUNTIME. libzbauth contains the Go runtime, which
- does not survive ``fork()``: a child forked after the library was loaded
  would hang in its first request, so calls there raise :class:`zbauth.Error`
  instead (use the ``spawn`` or ``forkserver`` start method of
  :mod:`multiprocessing`);
- cannot be unloaded, and cannot share a process with another Go shared
  library.
"""

from __future__ import annotations

import ctypes
import os
import json
import threading
from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_uint64, c_void_p
from typing import Any, Dict, Optional, Tuple

from ._errors import Error, LibraryError

LIBRARY_ENV = "ZBAUTH_LIBRARY"
LIBRARY_NAME = "libzbauth.so"

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_path: Optional[str] = None
_forked = False

_PROTOTYPES = {
    # name: (restype, argtypes)
    "zbauth_version": (c_char_p, []),
    "zbauth_status_name": (c_char_p, [c_int]),
    "zbauth_client_new": (c_int, [c_char_p, POINTER(c_void_p), POINTER(c_void_p)]),
    "zbauth_client_token": (c_int, [c_void_p, POINTER(c_void_p), POINTER(c_void_p)]),
    # (client, buf, cap, len, err): never waits; copies a cached token into buf
    "zbauth_client_token_nowait": (c_int, [c_void_p, c_char_p, c_size_t, POINTER(c_size_t), POINTER(c_void_p)]),
    "zbauth_client_topology": (c_int, [c_void_p, POINTER(c_void_p), POINTER(c_void_p)]),
    "zbauth_client_request": (
        c_int,
        [c_void_p, c_char_p, c_char_p, c_char_p, POINTER(c_int), POINTER(c_void_p), POINTER(c_void_p)],
    ),
    # (client, [method, path, body,] queue, tag, err): start a call, its outcome goes on the queue
    "zbauth_client_token_queued": (c_int, [c_void_p, c_void_p, c_uint64, POINTER(c_void_p)]),
    "zbauth_client_topology_queued": (c_int, [c_void_p, c_void_p, c_uint64, POINTER(c_void_p)]),
    "zbauth_client_request_queued": (
        c_int,
        [c_void_p, c_char_p, c_char_p, c_char_p, c_void_p, c_uint64, POINTER(c_void_p)],
    ),
    # completion queues (see _aio): new(&q, err), fd(q), take(q, out, max, &taken), free(q)
    "zbauth_queue_new": (c_int, [POINTER(c_void_p), POINTER(c_void_p)]),
    "zbauth_queue_fd": (c_int, [c_void_p]),
    "zbauth_queue_take": (c_int, [c_void_p, c_void_p, c_size_t, POINTER(c_size_t)]),
    "zbauth_queue_free": (None, [c_void_p]),
    "zbauth_error_details": (c_int, [c_void_p, POINTER(c_void_p)]),
    "zbauth_client_free": (None, [c_void_p]),
    "zbauth_free": (None, [c_void_p]),
}


def _candidates() -> "list[tuple[str, str]]":
    """The places to look, as (path, why) pairs."""
    env = os.environ.get(LIBRARY_ENV)
    if env:
        return [(os.path.abspath(env), "$" + LIBRARY_ENV)]
    here = os.path.dirname(os.path.abspath(__file__))
    return [(os.path.join(here, LIBRARY_NAME), "beside the zbauth package")]


def _open() -> ctypes.CDLL:
    tried = []
    for path, why in _candidates():
        if not os.path.isfile(path):
            tried.append("%s (%s): no such file" % (path, why))
            continue
        try:
            lib = ctypes.CDLL(path)  # CDLL, not PyDLL: calls release the GIL
            for name, (restype, argtypes) in _PROTOTYPES.items():
                fn = getattr(lib, name)
                fn.restype = restype
                fn.argtypes = argtypes
            # The one exception: zbauth_client_token_nowait never waits for
            # the network (at most, briefly, for a slot of the Go runtime),
            # so it keeps the GIL (PyDLL). Releasing and re-taking the GIL
            # cost a cached token() more than the call itself, and with
            # many threads up to several of the GIL's 5 ms switch intervals.
            released = lib.zbauth_client_token_nowait
            held = ctypes.PyDLL(path).zbauth_client_token_nowait
            held.restype, held.argtypes = released.restype, released.argtypes
            setattr(lib, "zbauth_client_token_nowait", held)
        except (OSError, AttributeError) as e:
            raise LibraryError("zbauth: cannot load libzbauth from %s (%s): %s" % (path, why, e)) from None
        global _path
        _path = path
        os.register_at_fork(after_in_child=_after_fork_in_child)
        return lib
    hint = (
        "install a zbauth wheel (it bundles the library), or set %s to the path of libzbauth.so "
        "(built by `make lib` into build/lib/)" % LIBRARY_ENV
    )
    raise LibraryError("zbauth: cannot find libzbauth; looked at " + "; ".join(tried) + ". " + hint)


def _after_fork_in_child() -> None:
    global _forked
    _forked = True


def lib() -> ctypes.CDLL:
    """The loaded library, loading it on first use."""
    global _lib
    loaded = _lib
    if loaded is None:
        with _lock:
            if _lib is None:
                _lib = _open()
            loaded = _lib
    if _forked:
        raise Error(
            "zbauth: this process was forked after libzbauth was loaded, and the Go runtime inside it does not "
            "survive fork(); use zbauth in the parent, or start children with multiprocessing's 'spawn' or "
            "'forkserver' method"
        )
    return loaded


def forked() -> bool:
    """Whether this process is a child forked after the library was loaded."""
    return _forked


def path() -> Optional[str]:
    """The path the library was loaded from, or None before it was loaded."""
    return _path


def call(lib: ctypes.CDLL, fn: Any, *args: Any) -> Tuple[int, Optional[str], Optional[str], Dict[str, Any]]:
    """Makes a blocking call ``fn(*args, &out, &err)`` and returns its
    status, the result text, and the error message and details, with the
    library's strings freed."""
    out, err = c_void_p(), c_void_p()
    status: int = fn(*args, byref(out), byref(err))
    try:
        text = take(lib, out)
    finally:
        message, details = take_error(lib, err)
    return status, text, message, details


def take(lib: ctypes.CDLL, p: c_void_p) -> Optional[str]:
    """Copies the library-owned string at p into a str and frees it.

    Returns None for NULL. Invalid UTF-8 is replaced, never raised.
    """
    if not p.value:
        return None
    try:
        return ctypes.string_at(p.value).decode("utf-8", "replace")
    finally:
        lib.zbauth_free(p)
        p.value = None


def take_error(lib: ctypes.CDLL, p: c_void_p) -> Tuple[Optional[str], Dict[str, Any]]:
    """Copies the library's error message at p and its details (the JSON
    object of ``zbauth_error_details``, decoded; empty when there are none),
    then frees the message.

    The details must be asked for before ``zbauth_free``: the library keeps
    them only while the message is live.
    """
    if not p.value:
        return None, {}
    details: Dict[str, Any] = {}
    try:
        out = c_void_p()
        status = lib.zbauth_error_details(p, byref(out))
        text = take(lib, out)  # NULL on failure by contract; freed if not
        if status == 0 and text:
            try:
                decoded = json.loads(text)
            except ValueError:  # never, by contract: the message alone will do
                decoded = None
            if isinstance(decoded, dict):
                details = decoded
    finally:
        message = take(lib, p)
    return message, details
