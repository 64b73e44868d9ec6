"""zbauth's exceptions: one class per zbauth_status code of capi/zbauth.h.

Every exception carries the library's message (``str(exc)``, also
``exc.message``), its status code (``exc.code``, a :class:`Status`) and
the HTTP status involved (``exc.status``, or ``None``). The other
attributes are the structured details the library reports with the message
(``zbauth_error_details``): the binding parses nothing itself. The library
guarantees that none of them contains the client secret or an access
token.
"""

from __future__ import annotations

import builtins
import enum
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Type

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
        status: the HTTP status of the answer that caused the error (from
            the token endpoint or the REST API), or ``None`` when no answer
            was involved.
    """

    #: The status this class stands for, used when none is given.
    default_code: Optional[Status] = None

    def __init__(self, message: str, code: Optional[int] = None, *, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message: str = message
        if code is None:
            code = self.default_code
        self.code: Optional[int] = _status(code)
        self.status: Optional[int] = status

    def __str__(self) -> str:
        return self.message


class ArgumentError(Error, ValueError):
    """A malformed argument (for example an absolute URL as the path), or a
    closed client (``ZBAUTH_ERR_ARGUMENT``). Also a :class:`ValueError`."""

    default_code = Status.ARGUMENT


class ConfigError(Error):
    """Missing or malformed configuration (``ZBAUTH_ERR_CONFIG``); the
    message names every field at fault.

    Attributes:
        fields: the configuration keys at fault, such as
            ``("client_id", "rest_address")``; empty when the library names
            none.
    """

    default_code = Status.CONFIG

    def __init__(
        self,
        message: str,
        code: Optional[int] = None,
        *,
        status: Optional[int] = None,
        fields: Sequence[str] = (),
    ) -> None:
        super().__init__(message, code, status=status)
        self.fields: Tuple[str, ...] = tuple(fields)


class AuthError(Error):
    """The token endpoint refused the credentials or answered unusably
    (``ZBAUTH_ERR_AUTH``).

    Attributes:
        status: the token endpoint's HTTP status, or ``None`` when it did not
            answer.
        oauth_error, oauth_error_description: its ``error`` and
            ``error_description`` (RFC 6749 section 5.2), when it sent them.
    """

    default_code = Status.AUTH

    def __init__(
        self,
        message: str,
        code: Optional[int] = None,
        *,
        status: Optional[int] = None,
        oauth_error: Optional[str] = None,
        oauth_error_description: Optional[str] = None,
    ) -> None:
        super().__init__(message, code, status=status)
        self.oauth_error: Optional[str] = oauth_error
        self.oauth_error_description: Optional[str] = oauth_error_description


class ApiError(Error):
    """The REST API answered with an error status, or with a response that
    could not be used (``ZBAUTH_ERR_API``).

    Attributes:
        status: the HTTP status.
        problem: the RFC 9457 problem document the API sent, as the library
            reports it (the keys ``type``, ``title``, ``status``, ``detail``,
            ``instance`` that were given), or ``None``.
        title, detail: the problem's ``title`` and ``detail``, or ``None``.
        text: the raw response body, as the server sent it, from
            :meth:`Client.request` only; ``None`` otherwise.
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
        super().__init__(message, code, status=status)
        self.text: Optional[str] = text
        self.problem: Optional[Dict[str, Any]] = problem
        self.title: Optional[str] = _str(problem.get("title")) if problem else None
        self.detail: Optional[str] = _str(problem.get("detail")) if problem else None


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


def _str(v: Any) -> Optional[str]:
    return v if isinstance(v, str) else None


def _int(v: Any) -> Optional[int]:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def error_for(
    code: int,
    message: Optional[str],
    details: Optional[Mapping[str, Any]] = None,
    *,
    text: Optional[str] = None,
) -> Error:
    """The exception for a failed call: its class follows the status code,
    its attributes the library's details (the object
    ``zbauth_error_details`` returns for the message). ``text`` is the
    response body :meth:`Client.request` received, for an :class:`ApiError`.
    An unknown code (appended to the library later) yields a plain
    :class:`Error`."""
    if not message:
        message = "zbauth: call failed with status %d" % code
    d: Mapping[str, Any] = details or {}
    status = _int(d.get("status"))
    cls = _BY_CODE.get(code, Error)
    if cls is ConfigError:
        fields = d.get("fields")
        names = [f for f in fields if isinstance(f, str)] if isinstance(fields, list) else []
        return ConfigError(message, code, status=status, fields=names)
    if cls is AuthError:
        return AuthError(
            message,
            code,
            status=status,
            oauth_error=_str(d.get("oauth_error")),
            oauth_error_description=_str(d.get("oauth_error_description")),
        )
    if cls is ApiError:
        problem = d.get("problem")
        return ApiError(message, code, status=status, text=text, problem=problem if isinstance(problem, dict) else None)
    return cls(message, code, status=status)
