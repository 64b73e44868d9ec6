"""zbauth.Client: an authenticated connection to one Camunda 8 cluster.

The class only converts: keyword arguments to the library's JSON config,
results to Python values, status codes to exceptions. Token caching,
refresh, retries and validation all happen in the library.
"""

from __future__ import annotations

import json as _json
import math
import threading
from ctypes import byref, c_int, c_void_p, create_string_buffer
from typing import Any, Dict, NoReturn, Optional, Tuple

from . import _aio, _native
from ._errors import ArgumentError, InternalError, Status, error_for
from ._types import Response, Topology, decode_body

__all__ = ["Client"]


class Client:
    """An authenticated connection to one Camunda 8 cluster.

    Create one per set of credentials and share it: it holds the token cache
    and a pool of keep-alive connections. It is thread-safe, and the GIL is
    released while the library works, so threads sharing a client run their
    requests concurrently (and make one token request between them).

    Every argument is optional; what is not given comes from the
    environment, then from the library's defaults. Each setting has the
    Camunda 8.7+ ``CAMUNDA_*`` name and, for the older ones, the legacy
    ``ZEEBE_*`` name, the ``CAMUNDA_*`` one winning (``CAMUNDA_CLIENT_ID``,
    ``ZEEBE_CLIENT_ID``, ``CAMUNDA_CLIENT_SECRET``, ``CAMUNDA_OAUTH_URL``,
    ``ZEEBE_REST_ADDRESS`` or ``CAMUNDA_CLUSTER_REGION`` +
    ``CAMUNDA_CLUSTER_ID``, ``CAMUNDA_AUTH_STRATEGY``, ...; the repository
    README has the table). The environment is read when the client is
    created, so changes made to ``os.environ`` before then are seen.

    The keyword arguments are the keys of the library's JSON configuration,
    spelled the same; only the timeouts are in seconds here.

    Args:
        auth_strategy: ``"OAUTH"`` (a token from the token endpoint),
            ``"BASIC"`` (HTTP Basic credentials on every REST call),
            ``"BEARER"`` (``oauth_token`` on every call, never refreshed) or
            ``"NONE"`` (no ``Authorization`` header); case-insensitive.
            Unset: OAUTH when a client id is set, BASIC when a Basic user
            name is, BEARER when only ``oauth_token`` is.
        client_id: the OAuth2 client id.
        client_secret: the client secret.
        authorization_server_url: the token endpoint.
        audience: the token audience.
        scope: the token scope.
        resource: the token's resource indicator (RFC 8707).
        rest_address: the REST API's base address; ending in ``/v1`` or
            ``/v2`` it names the API version.
        issuer_url: the OpenID issuer, whose discovery document
            (``{issuer_url}/.well-known/openid-configuration``) names the
            token endpoint.
        well_known_configuration_url: the discovery document's own URL.
        token_auth_method: how the client authenticates at the token
            endpoint: ``"client_secret_post"``, ``"client_secret_basic"`` or
            ``"private_key_jwt"``.
        client_assertion_key_path, client_assertion_cert_path: the PEM key
            and certificate that sign ``private_key_jwt`` assertions.
        client_assertion_keystore_path: a PKCS#12 keystore holding them
            instead, opened with ``client_assertion_keystore_password``
            (and ``client_assertion_keystore_key_password`` when the key
            has its own); ``client_assertion_keystore_key_alias`` names the
            key.
        basic_auth_username, basic_auth_password: the BASIC credentials.
        oauth_token: the BEARER strategy's token.
        timeout: seconds allowed for each HTTP request (and for obtaining a
            token with its retries); ``None`` or 0 for the library's default.
        token_timeout: seconds allowed for obtaining a token, when it
            should differ from ``timeout``.
        **options: any other key of the library's JSON configuration, passed
            through unchanged (``ca_certificate_path``, ``token_cache_dir``,
            ...). Unknown keys raise :class:`ConfigError`.

    The secrets (``client_secret``, ``basic_auth_password``,
    ``oauth_token`` and the keystore passwords) go to the library and
    nowhere else: the client keeps no copy, and neither ``repr(client)``
    nor any error message shows them.

    Raises:
        ConfigError: the configuration is missing or malformed; the message
            names every field at fault (a wrong keystore password too).
            No network request is made: a discovery document is fetched
            with the first token.
        LibraryError: libzbauth could not be found or loaded.
        TypeError, ValueError: a timeout is not a finite number, or is
            given both in seconds and as ``*_ms``.

    Use it as a context manager, or call :meth:`close`; a client that is
    garbage collected is closed then as a last resort.
    """

    def __init__(
        self,
        *,
        auth_strategy: Optional[str] = None,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        authorization_server_url: Optional[str] = None,
        audience: Optional[str] = None,
        scope: Optional[str] = None,
        resource: Optional[str] = None,
        rest_address: Optional[str] = None,
        issuer_url: Optional[str] = None,
        well_known_configuration_url: Optional[str] = None,
        token_auth_method: Optional[str] = None,
        client_assertion_key_path: Optional[str] = None,
        client_assertion_cert_path: Optional[str] = None,
        client_assertion_keystore_path: Optional[str] = None,
        client_assertion_keystore_password: Optional[str] = None,
        client_assertion_keystore_key_alias: Optional[str] = None,
        client_assertion_keystore_key_password: Optional[str] = None,
        basic_auth_username: Optional[str] = None,
        basic_auth_password: Optional[str] = None,
        oauth_token: Optional[str] = None,
        timeout: Optional[float] = None,
        token_timeout: Optional[float] = None,
        **options: Any,
    ) -> None:
        # Set first, so that close() and __del__ work whatever fails below.
        self._handle: Optional[int] = None
        self._close_lock = threading.Lock()
        lib = _native.lib()
        self._lib = lib
        config: Dict[str, Any] = dict(options)
        given = {
            "auth_strategy": auth_strategy,
            "client_id": client_id,
            "client_secret": client_secret,
            "authorization_server_url": authorization_server_url,
            "audience": audience,
            "scope": scope,
            "resource": resource,
            "rest_address": rest_address,
            "issuer_url": issuer_url,
            "well_known_configuration_url": well_known_configuration_url,
            "token_auth_method": token_auth_method,
            "client_assertion_key_path": client_assertion_key_path,
            "client_assertion_cert_path": client_assertion_cert_path,
            "client_assertion_keystore_path": client_assertion_keystore_path,
            "client_assertion_keystore_password": client_assertion_keystore_password,
            "client_assertion_keystore_key_alias": client_assertion_keystore_key_alias,
            "client_assertion_keystore_key_password": client_assertion_keystore_key_password,
            "basic_auth_username": basic_auth_username,
            "basic_auth_password": basic_auth_password,
            "oauth_token": oauth_token,
        }
        config.update((k, v) for k, v in given.items() if v is not None)
        for name, seconds in (("timeout", timeout), ("token_timeout", token_timeout)):
            if seconds is not None:
                if name + "_ms" in config:
                    raise TypeError("%s and %s_ms name the same setting: give one" % (name, name))
                config[name + "_ms"] = _timeout_ms(seconds, name)
        # The config holds the secrets: they live only in these locals, and
        # the library borrows the bytes for the duration of the call.
        config_json = _json.dumps(config).encode("utf-8") if config else None
        handle, err = c_void_p(), c_void_p()
        status = lib.zbauth_client_new(config_json, byref(handle), byref(err))
        message, details = _native.take_error(lib, err)
        if status != Status.OK:
            raise error_for(status, message, details)
        self._handle = handle.value
        self._local = threading.local()  # per-thread token buffer (token())
        # The last topology decoded, with its JSON: Topology is immutable, so
        # an identical answer (the usual case) returns the same object
        # instead of decoding again (which holds the GIL; docs/topology-memo.md).
        # Replaced whole, so a reader on another thread sees one pair.
        self._topology_memo: Optional[Tuple[str, Topology]] = None

    @classmethod
    def from_env(cls) -> "Client":
        """A client configured from the environment only (the same as
        ``Client()`` without arguments)."""
        return cls()

    # -- calls -----------------------------------------------------------

    def token(self) -> str:
        """Returns a valid access token (without ``"Bearer "``), from the
        cache when possible.

        Raises:
            AuthError, TransportError, TimeoutError: obtaining a token failed.
            ConfigError: the auth strategy is BASIC or NONE, which use no
                token (its ``fields`` are ``("auth_strategy",)``).
            ArgumentError: the client is closed.
        """
        lib, handle = self._enter()
        cached = self._cached_token(lib, handle)
        if cached is not None:
            return cached
        status, token, message, details = _native.call(lib, lib.zbauth_client_token, handle)
        return _token(status, token, message, details)

    def topology(self) -> Topology:
        """Fetches the cluster topology: ``GET /v1/topology``, or
        ``/v2/topology`` when the REST address names v2 or after /v1
        answered 404.

        A Topology is immutable: while the cluster answers the same, the
        client returns the same object.

        Raises:
            ApiError: the REST API answered with an error status (its
                ``status``, ``title``, ``detail`` and ``problem`` are filled
                in; ``text`` is ``None``), or with a malformed topology.
            AuthError, TransportError, TimeoutError: the request failed.
            ArgumentError: the client is closed.
        """
        lib, handle = self._enter()
        status, text, message, details = _native.call(lib, lib.zbauth_client_topology, handle)
        return self._topology(_text(status, text, message, details))

    def _topology(self, text: str) -> Topology:
        memo = self._topology_memo
        if memo is not None and memo[0] == text:
            return memo[1]
        topology = Topology._from_json(text)
        self._topology_memo = (text, topology)
        return topology

    def request(self, method: str, path: str, json: Any = None) -> Response:
        """Makes an authenticated request to the REST API. On a 401 the
        library fetches a new token and retries once.

        Args:
            method: ``"GET"``, ``"POST"``, ...
            path: relative to the REST address, such as ``"/v2/topology"``;
                absolute URLs are refused.
            json: the request body, any value :func:`json.dumps` accepts;
                ``None`` sends no body.

        Returns:
            The response, for a status below 400.

        Raises:
            ApiError: the API answered with a status >= 400; ``status``
                and ``text`` (the body) are filled in, and ``problem``,
                ``title`` and ``detail`` when the body is a problem
                document.
            ArgumentError: a malformed method, path or body, or a closed
                client.
            AuthError, TransportError, TimeoutError: the request failed.
            TypeError: method or path is not a str, or json is not
                serialisable.
        """
        lib, handle = self._enter()
        m = _c_string(method, "method")
        p = _c_string(path, "path")
        body = None if json is None else _json.dumps(json).encode("utf-8")
        http_status = c_int(0)
        status, text, message, details = _native.call(
            lib, lib.zbauth_client_request, handle, m, p, body, byref(http_status)
        )
        return _response(status, http_status.value, text, message, details)

    # -- asyncio ---------------------------------------------------------
    #
    # The a* methods start the call with the library's _queued C call and
    # await its outcome from the loop's completion queue (see _aio): no
    # thread is held while they wait,
    # so any number can be in flight. Cancelling an await does not stop the
    # call: it finishes in the library, bounded by the client's timeout.

    async def atoken(self) -> str:
        """:meth:`token` for asyncio code. A cached token is returned at
        once; otherwise the call waits without holding a thread."""
        lib, handle = self._enter()
        cached = self._cached_token(lib, handle)
        if cached is not None:
            return cached
        status, _, token, message, details = await _aio.call(lib, lib.zbauth_client_token_queued, handle)
        return _token(status, token, message, details)

    async def atopology(self) -> Topology:
        """:meth:`topology` for asyncio code; waits without holding a thread."""
        lib, handle = self._enter()
        status, _, text, message, details = await _aio.call(lib, lib.zbauth_client_topology_queued, handle)
        return self._topology(_text(status, text, message, details))

    async def arequest(self, method: str, path: str, json: Any = None) -> Response:
        """:meth:`request` for asyncio code; waits without holding a thread."""
        lib, handle = self._enter()
        m = _c_string(method, "method")
        p = _c_string(path, "path")
        body = None if json is None else _json.dumps(json).encode("utf-8")
        status, http_status, text, message, details = await _aio.call(
            lib, lib.zbauth_client_request_queued, handle, m, p, body
        )
        return _response(status, http_status, text, message, details)

    # -- lifetime --------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._handle is None

    def close(self) -> None:
        """Releases the client and its connections. Safe to call more than
        once and from any thread; calls in progress on other threads finish
        normally, later calls raise :class:`ArgumentError`."""
        lock = getattr(self, "_close_lock", None)
        if lock is None:  # __init__ did not get far
            return
        with lock:
            handle, self._handle = self._handle, None
        # In a forked child the Go runtime is unusable: drop the handle only.
        if handle is not None and not _native.forked():
            self._lib.zbauth_client_free(handle)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to do
            pass

    def __repr__(self) -> str:
        return "<zbauth.Client %s>" % ("closed" if self._handle is None else "open")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a zbauth.Client cannot be pickled or copied: create one in each process")

    def _cached_token(self, lib: Any, handle: int) -> Optional[str]:
        """The fast path of token() and atoken(): a cached token copied into
        this thread's buffer by one library call that never waits, or None.
        Anything else (nothing cached yet, a refusal, a token too long)
        takes the general call, which waits for the request this one may
        have started."""
        local = self._local
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = create_string_buffer(_TOKEN_BUFFER)
        if lib.zbauth_client_token_nowait(handle, buf, _TOKEN_BUFFER, None, None) == Status.OK:
            raw: bytes = buf.value
            if not raw.isascii():  # checked, not decoded: a decode error would carry the bytes
                raise _not_ascii()
            return raw.decode("ascii")
        return None

    def _enter(self) -> Tuple[Any, int]:
        lib = _native.lib()  # raises in a forked child
        handle = self._handle
        if handle is None:
            raise ArgumentError("zbauth: client is closed")
        return lib, handle


# Tokens are JWTs of one to a few KB; a longer one takes the general path.
_TOKEN_BUFFER = 8192


def _text(status: int, text: Optional[str], message: Optional[str], details: Dict[str, Any]) -> str:
    """The result text of a call that returns one, or its exception."""
    if status != Status.OK or text is None:
        _raise(status, message, details)
    return text


def _token(status: int, text: Optional[str], message: Optional[str], details: Dict[str, Any]) -> str:
    """_text for a token. The library hands out visible ASCII only (it
    refuses any other token from the endpoint); anything else is its bug."""
    token = _text(status, text, message, details)
    if not token.isascii():
        raise _not_ascii()
    return token


def _not_ascii() -> InternalError:
    # Never the token itself, nor an exception that holds it.
    return InternalError("zbauth: the library returned an access token that is not ASCII")


def _response(status: int, http_status: int, text: Optional[str], message: Optional[str],
              details: Dict[str, Any]) -> Response:
    """The Response of a request() call, or its exception (with the body)."""
    if status == Status.OK:
        return Response(status=http_status, body=decode_body(text), text=text or "")
    raise error_for(status, message, details, text=text)


def _raise(status: int, message: Optional[str], details: Dict[str, Any]) -> NoReturn:
    if status == Status.OK:  # the library broke its contract
        status = Status.INTERNAL
        message = "zbauth: the library reported success but returned no result"
    raise error_for(status, message, details)


def _timeout_ms(seconds: float, name: str) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError("%s must be a number of seconds, not %s" % (name, type(seconds).__name__))
    if not math.isfinite(seconds):
        raise ValueError("%s must be a finite number of seconds" % name)
    # Round up, so that a small positive timeout never becomes 0 (the default).
    return math.ceil(seconds * 1000)


def _c_string(value: str, name: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError("%s must be a str, not %s" % (name, type(value).__name__))
    if "\0" in value:
        # A C string would end there: refuse rather than send a shorter one.
        raise ArgumentError("zbauth: request: %s contains a NUL character" % name)
    return value.encode("utf-8")
