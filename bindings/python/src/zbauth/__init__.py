"""zbauth: OAuth2 client-credentials tokens for Camunda 8, and its REST API.

A thin binding over libzbauth (the C library built from zbauth's Go core),
loaded with ctypes: no compiler is needed to install it.

    import zbauth

    with zbauth.Client() as client:          # configured from CAMUNDA_*/ZEEBE_* variables
        print(client.topology().cluster_size)
        answer = client.request("POST", "/v2/echo", json={"hello": 1})

Errors are :class:`zbauth.Error` subclasses, one per library status code:
:class:`ArgumentError`, :class:`ConfigError`, :class:`AuthError`,
:class:`ApiError`, :class:`TransportError`, :class:`TimeoutError`,
:class:`InternalError`; and :class:`LibraryError` when the library itself
cannot be found or loaded.

The library is looked for at ``$ZBAUTH_LIBRARY`` when that is set, else
beside this package (where the wheel bundles it); see ``zbauth._native``
for the rules the Go runtime inside it brings (it cannot be used after
``fork()``).
"""

from __future__ import annotations

from . import _native
from ._client import Client
from ._errors import (
    ApiError,
    ArgumentError,
    AuthError,
    ConfigError,
    Error,
    InternalError,
    LibraryError,
    Status,
    TimeoutError,
    TransportError,
)
from ._types import Broker, Partition, Response, Topology
from ._version import __version__

__all__ = [
    "Client",
    "Topology",
    "Broker",
    "Partition",
    "Response",
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
    "library_version",
    "__version__",
]


def library_version() -> str:
    """The version of the loaded libzbauth, such as ``"0.1.0"``; it equals
    ``zbauth.__version__`` for the library a wheel bundles."""
    v: bytes = _native.lib().zbauth_version()
    return v.decode("ascii")
