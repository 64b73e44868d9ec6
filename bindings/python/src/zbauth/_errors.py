"""zbauth's exceptions: one class per zbauth_status code of capi/zbauth.h.

Every exception carries the library's message (``str(exc)``, also
``exc.message``) and its status code (``exc.code``, a :class:`Status`).
The library guarantees that messages never contain the client secret or an
access token; the binding adds nothing to them but the problem fields it
parses from an API error's body.
"""

from __future__ import annotations

import builtins
import enum
from typing import Any, Dict, Optional, Type

__all__ = [
    "Status",
    "Error",
    "ArgumentError",
    "ConfigError",
    "AuthError",
    "ApiError",
    "TransportError",
    "TimeoutError",
    "InternalError",
    "LibraryError",
]


class Status(enum.IntEnum):
    """The library's status codes (``zbauth_status`` in zbauth.h).

    The numbers are stable; the C names are ``ZBAUTH_OK`` and
    ``ZBAUTH_ERR_<name>``.
    """

    OK = 0
    ARGUMENT = 1
    CONFIG = 2
    AUTH = 3
    API = 4
    TRANSPORT = 5
    TIMEOUT = 6
    INTERNAL = 7


class Error(Exception):
    """Base class of every zbauth error.

    Attributes:
        message: the library's message (the same as ``str(exc)``).
        code: the library's status code, a :class:`Status` (a plain ``int``
            for a code newer than this package), or ``None`` for errors
            raised before the library could be called (:class:`LibraryError`,
            a client used in a forked child).
    """

    #: The status this class stands for, used when none is given.
    default_code: Optional[Status] = None

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message: str = message
        if code is None:
            code = self.default_code
        self.code: Optional[int] = _status(code)

    def __str__(self) -> str:
        return self.message


class ArgumentError(Error, ValueError):
    """A malformed argument (for example an absolute URL as the path), or a
    closed client (``ZBAUTH_ERR_ARGUMENT``). Also a :class:`ValueError`."""

    default_code = Status.ARGUMENT


class ConfigError(Error):
    """Missing or malformed configuration (``ZBAUTH_ERR_CONFIG``); the
    message names every field at fault."""

    default_code = Status.CONFIG


class AuthError(Error):
    """The token endpoint refused the credentials or answered unusably
    (``ZBAUTH_ERR_AUTH``)."""

    default_code = Status.AUTH


class ApiError(Error):
    """The REST API answered with an error status (``ZBAUTH_ERR_API``).

    Attributes:
        status: the HTTP status, or ``None`` where the library does not
            report it (:meth:`Client.topology`: its C function returns only
            the message, which names the status).
        title, detail: from the RFC 9457 problem document, when the API sent
            one.
        problem: that document as a dict, or ``None``.
        text: the raw response body, or ``None``.
    """

    default_code = Status.API

    def __init__(
        self,
        message: str,
        code: Optional[int] = None,
        *,
        status: Optional[int] = None,
        text: Optional[str] = None,
        problem: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message, code)
        self.status: Optional[int] = status
        self.text: Optional[str] = text
        self.problem: Optional[Dict[str, Any]] = problem
        title = problem.get("title") if problem else None
        detail = problem.get("detail") if problem else None
        self.title: Optional[str] = title if isinstance(title, str) else None
        self.detail: Optional[str] = detail if isinstance(detail, str) else None


class TransportError(Error):
    """The request did not complete: connection, TLS or size-limit failure
    (``ZBAUTH_ERR_TRANSPORT``)."""

    default_code = Status.TRANSPORT


class TimeoutError(Error, builtins.TimeoutError):  # noqa: A001 - deliberate
    """A request timed out (``ZBAUTH_ERR_TIMEOUT``). Also the built-in
    :class:`TimeoutError`, so ``except TimeoutError`` catches it too."""

    default_code = Status.TIMEOUT


class InternalError(Error):
    """A bug in zbauth: the library recovered from a panic
    (``ZBAUTH_ERR_INTERNAL``). Please report it."""

    default_code = Status.INTERNAL


class LibraryError(Error, ImportError):
    """libzbauth could not be found or loaded; the message says where the
    binding looked. Raised by the first call that needs the library, not by
    ``import zbauth``. Its ``code`` is ``None``."""


_BY_CODE: Dict[int, Type[Error]] = {
    Status.ARGUMENT: ArgumentError,
    Status.CONFIG: ConfigError,
    Status.AUTH: AuthError,
    Status.API: ApiError,
    Status.TRANSPORT: TransportError,
    Status.TIMEOUT: TimeoutError,
    Status.INTERNAL: InternalError,
}


def _status(code: Optional[int]) -> Optional[int]:
    if code is None:
        return None
    try:
        return Status(code)
    except ValueError:
        return int(code)  # a code appended after this package was built


def error_for(code: int, message: Optional[str]) -> Error:
    """The exception for a failed call: its class follows the status code.
    An unknown code (appended to the library later) yields a plain
    :class:`Error`."""
    if not message:
        message = "zbauth: call failed with status %d" % code
    cls = _BY_CODE.get(code, Error)
    return cls(message, code)
