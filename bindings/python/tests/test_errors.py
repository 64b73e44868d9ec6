"""Every exception type, raised by the real library against the dev
cluster, and the secrets it must never show."""

from __future__ import annotations

import builtins
import os
import pickle
import socket
import traceback
from typing import Any, Callable, Dict, List

import pytest

import zbauth
from zbauth._errors import error_for
from conftest import Dev, run_python

MARKER = "MARKER-PY-SECRET-5be1"


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
    # keys the library does not know are its to refuse
    with pytest.raises(zbauth.ConfigError) as info:
        zbauth.Client(no_such_option=1)
    assert "no_such_option" in str(info.value)


def test_config_error_from_an_empty_environment() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZEEBE_", "CAMUNDA_"))}
    done = run_python(
        "import zbauth\n"
        "try:\n"
        "    zbauth.Client()\n"
        "except zbauth.ConfigError as e:\n"
        "    print(e.code, e)\n",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2 ")
    for field in ("client_id", "client_secret", "rest_address"):
        assert field in done.stdout


def test_auth_error_never_shows_the_secret(config: Dict[str, Any]) -> None:
    c = zbauth.Client(**dict(config, client_secret=MARKER))
    assert MARKER not in repr(c)
    assert MARKER not in repr(vars(c))  # the binding keeps no copy
    with pytest.raises(zbauth.AuthError) as info:
        c.token()
    e = info.value
    assert e.code == zbauth.Status.AUTH
    assert "invalid_client" in str(e) and "401" in str(e)
    text = str(e) + repr(e) + repr(e.args) + "".join(traceback.format_exception(type(e), e, e.__traceback__))
    assert MARKER not in text
    with pytest.raises(zbauth.AuthError):
        c.topology()
    c.close()
    # a configuration error with the secret in it
    with pytest.raises(zbauth.ConfigError) as cinfo:
        zbauth.Client(client_secret=MARKER, rest_address="ftp://nowhere")
    assert MARKER not in str(cinfo.value) + repr(cinfo.value)


def test_api_error_from_request(client: zbauth.Client, dev: Dev) -> None:
    dev.fault(target="api", status=403, times=1)
    with pytest.raises(zbauth.ApiError) as info:
        client.request("GET", "/v2/topology")
    e = info.value
    assert e.code == zbauth.Status.API
    assert e.status == 403
    assert e.title == "Forbidden"
    assert e.detail == "injected fault 403"
    assert e.problem is not None and e.problem["status"] == 403
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
    # zbauth_client_topology reports the message only
    assert (e.status, e.title, e.detail, e.text) == (None, None, None, None)


def test_transport_error(config: Dict[str, Any]) -> None:
    dead = "http://127.0.0.1:%d/oauth/token" % dead_port()
    with zbauth.Client(**dict(config, authorization_server_url=dead), timeout=1) as c:
        with pytest.raises(zbauth.TransportError) as info:
            c.token()
    assert info.value.code == zbauth.Status.TRANSPORT
    assert "refused" in str(info.value)


def test_timeout_error(dev: Dev, config: Dict[str, Any]) -> None:
    dev.fault(target="token", delay_ms=2000, times=1)
    with zbauth.Client(**config, timeout=0.2) as c:
        with pytest.raises(zbauth.TimeoutError) as info:
            c.token()
    e = info.value
    assert isinstance(e, builtins.TimeoutError) and isinstance(e, zbauth.Error)
    assert e.code == zbauth.Status.TIMEOUT
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
    unknown = error_for(42, "zbauth: from a newer library")
    assert type(unknown) is zbauth.Error and unknown.code == 42


def test_errors_pickle() -> None:
    for e in (
        zbauth.TimeoutError("zbauth: token: timed out", 6),
        zbauth.ApiError("zbauth: x", status=404, text="{}", problem={"title": "Not Found"}),
        zbauth.ConfigError("zbauth: config: bad"),
    ):
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and str(back) == str(e) and back.code == e.code
        assert vars(back) == vars(e)
