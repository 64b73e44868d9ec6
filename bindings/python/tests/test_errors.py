"""Every exception type, raised by the real library against the dev
cluster, with the details the library reports (zbauth_error_details).
test_secrets.py checks that none of them shows a secret or a token."""

from __future__ import annotations

import builtins
import os
import pickle
import socket
from typing import Any, Callable, Dict, List

import pytest

import zbauth
from zbauth._errors import error_for
from conftest import Dev, leaks, shown

MARKER = "SECRET-MARKER-py-wrong-5be1"


def dead_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_config_error() -> None:
    with pytest.raises(zbauth.ConfigError) as info:
        zbauth.Client(rest_address="ftp://nowhere")
    e = info.value
    assert isinstance(e, zbauth.Error)
    assert e.code == zbauth.Status.CONFIG and e.code == 2
    assert "rest_address" in str(e) and str(e) == e.message
    assert e.fields == ("rest_address",) and e.status is None
    # keys the library does not know are its to refuse
    with pytest.raises(zbauth.ConfigError) as info:
        zbauth.Client(no_such_option=1)
    assert "no_such_option" in str(info.value)


def test_config_lone_surrogate(config: Dict[str, Any]) -> None:
    # A str can hold a lone surrogate; json.dumps escapes it ("\udc80"),
    # and the library refuses it rather than send U+FFFD in its place.
    for key in ("client_id", "client_secret", "audience"):
        with pytest.raises(zbauth.ConfigError) as info:
            zbauth.Client(**dict(config, **{key: "MARKER-SECRET-77\udc80"}))
        e = info.value
        assert e.fields == (key,) and "UTF-8" in str(e) and "MARKER-SECRET-77" not in str(e)


def test_config_error_from_an_empty_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("ZEEBE_", "CAMUNDA_")):
            monkeypatch.delenv(key)
    with pytest.raises(zbauth.ConfigError) as info:
        zbauth.Client()
    e = info.value
    assert e.code == 2
    for field in ("client_id", "client_secret", "rest_address"):
        assert field in str(e) and field in e.fields


def test_auth_error(config: Dict[str, Any]) -> None:
    c = zbauth.Client(**dict(config, client_secret=MARKER))
    assert MARKER not in repr(c)
    assert MARKER not in repr(vars(c))  # the binding keeps no copy
    for call in (c.token, c.topology):  # the same details, whichever call needed the token
        with pytest.raises(zbauth.AuthError) as info:
            call()
        e = info.value
        assert e.code == zbauth.Status.AUTH
        assert e.status == 401
        assert e.oauth_error == "invalid_client"
        assert e.oauth_error_description == "client authentication failed"
        assert "invalid_client" in str(e) and "401" in str(e)
        assert not leaks(shown(e))
    c.close()


def test_api_error_from_request(client: zbauth.Client, dev: Dev) -> None:
    dev.fault(target="api", status=403, times=1)
    with pytest.raises(zbauth.ApiError) as info:
        client.request("GET", "/v2/topology")
    e = info.value
    assert e.code == zbauth.Status.API
    assert e.status == 403
    assert e.title == "Forbidden"
    assert e.detail == "injected fault 403"
    assert e.problem == {"type": "about:blank", "title": "Forbidden", "status": 403, "detail": "injected fault 403"}
    assert e.text is not None and '"title":"Forbidden"' in e.text
    assert "403" in str(e)
    # a path the API does not have
    with pytest.raises(zbauth.ApiError) as info:
        client.request("GET", "/v2/no-such-thing")
    assert (info.value.status, info.value.title) == (404, "Not Found")
    assert info.value.detail is not None and "/v2/no-such-thing" in info.value.detail


def test_api_error_with_a_body_that_is_not_a_problem(client: zbauth.Client, dev: Dev) -> None:
    dev.fault(target="api", status=502, times=1, body="<html>bad gateway</html>", content_type="text/html")
    with pytest.raises(zbauth.ApiError) as info:
        client.request("GET", "/v2/topology")
    e = info.value
    assert (e.status, e.text, e.problem, e.title, e.detail) == (502, "<html>bad gateway</html>", None, None, None)


def test_api_error_401_is_retried_once(client: zbauth.Client, dev: Dev) -> None:
    dev.fault(target="api", status=401, times=0)
    with pytest.raises(zbauth.ApiError) as info:
        client.request("GET", "/v2/topology")
    assert info.value.status == 401 and info.value.title == "Unauthorized"
    assert dev.stats()["api_requests"] == 2


def test_api_error_from_topology(client: zbauth.Client, dev: Dev) -> None:
    dev.fault(target="api", status=403, times=1)
    with pytest.raises(zbauth.ApiError) as info:
        client.topology()
    e = info.value
    assert e.code == zbauth.Status.API
    assert "403" in str(e) and "Forbidden" in str(e)
    assert (e.status, e.title, e.detail) == (403, "Forbidden", "injected fault 403")
    assert e.problem is not None and e.problem["status"] == 403
    assert e.text is None  # zbauth_client_topology returns no body


def test_api_error_for_a_malformed_topology(client: zbauth.Client, dev: Dev) -> None:
    dev.fault(target="api", status=200, times=1, body='{"brokers": "not a list"}')
    with pytest.raises(zbauth.ApiError) as info:
        client.topology()
    e = info.value
    assert (e.status, e.problem, e.title, e.detail, e.text) == (200, None, None, None, None)
    assert "malformed topology" in str(e)


def test_transport_error(config: Dict[str, Any]) -> None:
    dead = "http://127.0.0.1:%d/oauth/token" % dead_port()
    with zbauth.Client(**dict(config, authorization_server_url=dead), timeout=1) as c:
        with pytest.raises(zbauth.TransportError) as info:
            c.token()
    assert info.value.code == zbauth.Status.TRANSPORT
    assert info.value.status is None
    assert "refused" in str(info.value)


def test_timeout_error(dev: Dev, config: Dict[str, Any]) -> None:
    dev.fault(target="token", delay_ms=2000, times=1)
    with zbauth.Client(**config, timeout=0.2) as c:
        with pytest.raises(zbauth.TimeoutError) as info:
            c.token()
    e = info.value
    assert isinstance(e, builtins.TimeoutError) and isinstance(e, zbauth.Error)
    assert e.code == zbauth.Status.TIMEOUT
    assert e.status is None
    assert "timed out" in str(e)


def test_argument_errors(client: zbauth.Client) -> None:
    cases: List[Callable[[], object]] = [
        lambda: client.request("GET", "http://evil.example/steal"),  # absolute URL
        lambda: client.request("GE T", "/v2/topology"),  # malformed method
        lambda: client.request("POST", "/v2/echo", json=float("nan")),  # not JSON
        lambda: client.request("GET", "/v2/topology\0/evil"),  # cannot be a C string
    ]
    for case in cases:
        with pytest.raises(zbauth.ArgumentError) as info:
            case()
        assert info.value.code == zbauth.Status.ARGUMENT
        assert info.value.status is None
        assert isinstance(info.value, ValueError)
    with pytest.raises(TypeError):
        client.request("GET", b"/v2/topology")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.request("POST", "/v2/echo", json=object())


def test_every_status_has_its_class() -> None:
    expected = {
        zbauth.Status.ARGUMENT: zbauth.ArgumentError,
        zbauth.Status.CONFIG: zbauth.ConfigError,
        zbauth.Status.AUTH: zbauth.AuthError,
        zbauth.Status.API: zbauth.ApiError,
        zbauth.Status.TRANSPORT: zbauth.TransportError,
        zbauth.Status.TIMEOUT: zbauth.TimeoutError,
        zbauth.Status.INTERNAL: zbauth.InternalError,  # only a library bug raises it
    }
    for code, cls in expected.items():
        e = error_for(code, "zbauth: message")
        assert type(e) is cls and e.code == code and str(e) == "zbauth: message"
        assert issubclass(cls, zbauth.Error)
    unknown = error_for(42, "zbauth: from a newer library", {"code": "NEWER", "status": 418})
    assert type(unknown) is zbauth.Error and unknown.code == 42 and unknown.status == 418


def test_details_become_attributes() -> None:
    """error_for takes zbauth_error_details' object as it is; members of
    an unexpected type are left out, never raised on."""
    auth = error_for(3, "zbauth: token: x", {"code": "AUTH", "status": 400, "oauth_error": "invalid_scope",
                                             "oauth_error_description": "no"})
    assert isinstance(auth, zbauth.AuthError)
    assert (auth.status, auth.oauth_error, auth.oauth_error_description) == (400, "invalid_scope", "no")
    problem = {"type": "about:blank", "title": "Conflict", "status": 409, "detail": "exists", "instance": "/x"}
    api = error_for(4, "zbauth: request: x", {"code": "API", "status": 409, "problem": problem}, text="{}")
    assert isinstance(api, zbauth.ApiError)
    assert (api.status, api.title, api.detail, api.problem, api.text) == (409, "Conflict", "exists", problem, "{}")
    config = error_for(2, "zbauth: config: x", {"code": "CONFIG", "fields": ["client_id", "scope"]})
    assert isinstance(config, zbauth.ConfigError) and config.fields == ("client_id", "scope")
    odd = error_for(4, "zbauth: x", {"status": "500", "problem": ["not", "an", "object"]})
    assert isinstance(odd, zbauth.ApiError) and (odd.status, odd.problem, odd.title) == (None, None, None)
    odd_auth = error_for(3, "zbauth: x", {"status": True, "oauth_error": 7})
    assert isinstance(odd_auth, zbauth.AuthError) and (odd_auth.status, odd_auth.oauth_error) == (None, None)
    bare = error_for(5, None)
    assert isinstance(bare, zbauth.TransportError) and bare.status is None and "5" in str(bare)


def test_errors_pickle() -> None:
    for e in (
        zbauth.TimeoutError("zbauth: token: timed out", 6),
        zbauth.ApiError("zbauth: x", status=404, text="{}", problem={"title": "Not Found"}),
        zbauth.ConfigError("zbauth: config: bad", fields=["scope"]),
        zbauth.AuthError("zbauth: token: no", status=401, oauth_error="invalid_client", oauth_error_description="d"),
    ):
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and str(back) == str(e) and back.code == e.code
        assert vars(back) == vars(e)
