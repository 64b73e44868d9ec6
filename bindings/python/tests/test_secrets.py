"""Neither the client secret nor an access token ever appears in what an
error shows (zbauth issue 7): every exception class the library raises, each
triggered with the marker secret configured (the dev cluster accepts
conftest.SECRET) and, past the token endpoint, a marker token in flight;
servers that echo them back included.

Checked: str, repr, args, the formatted traceback and the attributes of the
exception (all but ApiError.text, the raw body the server sent), the
client's repr and attributes, and everything written to the process's
stdout and stderr (the library logs nothing there). InternalError is only
raised by a bug in the library and cannot be triggered from here. The
conformance vectors (test_conformance.py) check the same of theirs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

import pytest

import zbauth
from conftest import SECRET, TOKEN_MARKER, Dev, leaks, shown

Config = Dict[str, Any]
Outcome = Tuple[zbauth.Error, Optional[zbauth.Client]]
Run = Callable[[Config], Outcome]
# exception class, faults queued first, what raises it
Scenario = Tuple[Type[zbauth.Error], List[Dict[str, Any]], Run]

# The secret escaped as a URL path segment (as Go's url.PathEscape does)
# and as a query value.
Q = urllib.parse.quote(SECRET, safe="$&+:=@")
QP = urllib.parse.quote_plus(SECRET)


def dead_url() -> str:
    """A loopback address nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d" % s.getsockname()[1]


def token_answers(status: int, body: Any) -> Dict[str, Any]:
    """A fault: the token endpoint always answers status with body (JSON-
    encoded unless a str)."""
    return {"target": "token", "status": status, "body": body if isinstance(body, str) else json.dumps(body)}


# The token endpoint issues TOKEN_MARKER (the API rejects it, unless an API
# fault answers first).
MARKER_TOKEN = token_answers(200, {"access_token": TOKEN_MARKER, "token_type": "Bearer", "expires_in": 300})


def echo_problem(status: int) -> Dict[str, Any]:
    """A fault: the REST API answers with a problem document that echoes
    the token and the secret in every member."""
    echo = "Authorization: Bearer %s client_secret=%s %s" % (TOKEN_MARKER, QP, SECRET)
    body = {"type": echo, "title": echo, "status": status, "detail": echo, "instance": echo}
    return {"target": "api", "status": status, "body": json.dumps(body), "content_type": "application/problem+json"}


def fails(call: Callable[[], object], client: Optional[zbauth.Client] = None) -> Outcome:
    try:
        call()
    except zbauth.Error as e:
        return e, client
    pytest.fail("no error")


def client_call(call: Callable[[zbauth.Client], object], **overrides: Callable[[Config], Any]) -> Run:
    """Creates a client from the dev cluster's config with overrides (each
    computed from that config) and makes call on it."""

    def run(config: Config) -> Outcome:
        c = zbauth.Client(**dict(config, **{k: f(config) for k, f in overrides.items()}))
        return fails(lambda: call(c), c)

    return run


def token(c: zbauth.Client) -> object:
    return c.token()


def topology(c: zbauth.Client) -> object:
    return c.topology()


def closed(config: Config) -> Outcome:
    c = zbauth.Client(**config)
    c.close()
    return fails(c.token, c)


SCENARIOS: Dict[str, Scenario] = {
    "config with the secret in URLs": (zbauth.ConfigError, [], lambda config: fails(lambda: zbauth.Client(
        client_id="id", client_secret=SECRET,
        authorization_server_url="https://id:%s@login.example/%s" % (QP, Q),
        rest_address="ftp://%s/x?secret=%s" % (Q, QP)))),
    "config key named like the secret": (zbauth.ConfigError, [], lambda config: fails(
        lambda: zbauth.Client(**dict(config, **{SECRET: 1})))),
    "wrong secret": (zbauth.AuthError, [], client_call(token, client_secret=lambda _: SECRET + "-wrong")),
    "token endpoint echoes the secret": (zbauth.AuthError, [token_answers(
        401, {"error": SECRET, "error_description": "client_secret=%s&audience=x %s" % (QP, SECRET)})],
        client_call(token)),
    "token endpoint echoes the secret with control characters inside": (zbauth.AuthError, [token_answers(
        401, {"error": "\x01".join(SECRET), "error_description": "\x1b[0m\u200b".join(SECRET)})],
        client_call(token)),
    "token endpoint sends its token with an error": (zbauth.AuthError, [token_answers(
        400, {"access_token": TOKEN_MARKER, "error": TOKEN_MARKER, "error_description": TOKEN_MARKER})],
        client_call(token)),
    "malformed token response": (zbauth.AuthError, [token_answers(
        200, '{"access_token":"%s","client_secret":%s' % (TOKEN_MARKER, json.dumps(SECRET)))],
        client_call(token)),
    "token_type echoes the secret": (zbauth.AuthError, [token_answers(
        200, {"access_token": TOKEN_MARKER, "token_type": SECRET})], client_call(token)),
    "token_type echoes the token": (zbauth.AuthError, [token_answers(
        200, {"access_token": TOKEN_MARKER, "token_type": TOKEN_MARKER})], client_call(token)),
    "API rejects the marker token": (zbauth.ApiError, [MARKER_TOKEN], client_call(topology)),
    "API problem echoes token and secret (topology)": (zbauth.ApiError, [MARKER_TOKEN, echo_problem(403)],
                                                       client_call(topology)),
    "API problem echoes token and secret (request)": (zbauth.ApiError, [MARKER_TOKEN, echo_problem(400)],
                                                      client_call(lambda c: c.request("POST", "/v2/echo",
                                                                                      json={"secret": SECRET}))),
    "malformed topology echoing token and secret": (zbauth.ApiError, [MARKER_TOKEN, {
        "target": "api", "status": 200, "body": '{"brokers":"Bearer %s %s' % (TOKEN_MARKER, SECRET)}],
        client_call(topology)),
    "token endpoint unreachable, secret in its URL": (zbauth.TransportError, [], client_call(
        token, authorization_server_url=lambda _: "%s/%s/token?client_secret=%s" % (dead_url(), Q, QP),
        timeout=lambda _: 0.3)),
    "REST API unreachable, secret in its URL": (zbauth.TransportError, [MARKER_TOKEN], client_call(
        topology, rest_address=lambda _: "%s/%s" % (dead_url(), Q), timeout=lambda _: 0.3)),
    "huge token response": (zbauth.TransportError, [{"target": "token", "status": 200, "body_bytes": 2 << 20}],
                            client_call(token)),
    "token endpoint timeout": (zbauth.TimeoutError, [{"target": "token", "delay_ms": 2000}],
                               client_call(token, timeout=lambda _: 0.2)),
    "API timeout, secret in its URL": (zbauth.TimeoutError, [MARKER_TOKEN, {"target": "api", "delay_ms": 2000}],
                                       client_call(topology, rest_address=lambda config: "%s/%s" % (
                                           config["rest_address"], Q), timeout=lambda _: 0.2)),
    "closed client": (zbauth.ArgumentError, [], closed),
    "absolute URL refused by the library": (zbauth.ArgumentError, [MARKER_TOKEN], client_call(
        lambda c: (c.token(), c.request("GET", "http://evil.example/?token=%s&secret=%s" % (TOKEN_MARKER, QP))))),
}

# Echoes that straddle the library's length cuts, or a secret in another
# percent-encoding: once leaks, now cleaned by the library (secrets are
# removed before server text is shortened; transport errors name only the
# scheme and host of a URL).
SCENARIOS.update({
    "token_type echoes token and secret (40-character cut)": (zbauth.AuthError, [token_answers(
        200, {"access_token": TOKEN_MARKER, "token_type": TOKEN_MARKER + SECRET})], client_call(token)),
    "OAuth error echoes a long token (200-character cut)": (zbauth.AuthError, [token_answers(
        400, {"access_token": TOKEN_MARKER + "a" * 900, "error": TOKEN_MARKER + "a" * 900})], client_call(token)),
    "problem detail with the secret at its 1000-character cut": (zbauth.ApiError, [{
        "target": "api", "status": 403, "content_type": "application/problem+json",
        "body": json.dumps({"title": "Forbidden", "detail": "d" * 980 + SECRET})}], client_call(topology)),
    "secret fully percent-encoded in the REST address": (zbauth.TransportError, [], client_call(
        topology, rest_address=lambda _: "%s/%s" % (dead_url(), urllib.parse.quote(SECRET, safe="")),
        timeout=lambda _: 0.3)),
})


# Tokens that must never be handed out (zbauth issue 22, items 4 and 8): one
# that would inject a header into "Authorization: Bearer $(zbauth token)",
# one a C string would cut, one that is not UTF-8 (it once came back as
# U+FFFD, then raised UnicodeDecodeError holding the raw bytes on every
# later call), and a NaN expires_in (it never expired).
UNUSABLE_TOKENS: Dict[str, Tuple[Dict[str, Any], str]] = {
    "CR/LF": (token_answers(200, {"access_token": TOKEN_MARKER + "\r\nX-Injected: " + SECRET, "expires_in": 300}),
              "unusable access token"),
    "NUL": (token_answers(200, {"access_token": TOKEN_MARKER + "\x00X-Injected", "expires_in": 300}),
            "unusable access token"),
    "not UTF-8": ({"target": "token", "status": 200, "body_base64": base64.b64encode(
        b'{"access_token":"' + TOKEN_MARKER.encode() + b'\xff\xfeX-Injected","expires_in":300}').decode()},
        "unusable access token"),
    "NaN expires_in": (token_answers(200, {"access_token": TOKEN_MARKER, "expires_in": "NaN"}),
                       "expires_in is not a finite"),
}
SCENARIOS.update({"unusable token: " + k: (zbauth.AuthError, [f], client_call(token))
                  for k, (f, _) in UNUSABLE_TOKENS.items()})


@pytest.mark.parametrize("name", list(UNUSABLE_TOKENS))
def test_unusable_token_never_handed_out(name: str, dev: Dev, config: Config) -> None:
    fault, message = UNUSABLE_TOKENS[name]
    dev.fault(**fault)
    with zbauth.Client(**config) as c:
        # The second call is not answered from a cache: it asks again (after
        # the one-per-second limit) and fails the same way, as does asyncio.
        for call in (c.token, c.token, lambda: asyncio.run(c.atoken())):
            with pytest.raises(zbauth.AuthError) as info:
                call()
            e = info.value
            assert message in str(e) and e.status == 200
            assert e.__context__ is None and e.__cause__ is None
            assert not leaks(shown(e)) and "X-Injected" not in shown(e)
        assert dev.stats()["token_requests"] == 3
        dev.clear_faults()
        assert "X-Injected" not in c.token()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_secret_in_errors(name: str, dev: Dev, config: Config, capfd: pytest.CaptureFixture[str]) -> None:
    cls, faults, run = SCENARIOS[name]
    if faults:
        dev.call("POST", "/_dev/faults", faults)
    error, client = run(config)
    try:
        assert type(error) is cls, repr(error)
        texts = {"exception": shown(error)}
        if client is not None:
            texts["client"] = repr(client) + repr(vars(client))
        out, err = capfd.readouterr()
        texts["stdout/stderr"] = out + err
        for what, text in texts.items():
            assert not leaks(text), "%s leaks %s:\n%s" % (what, leaks(text), text)
    finally:
        if client is not None:
            client.close()


def test_every_error_class_is_covered() -> None:
    covered = {cls for cls, _, _ in SCENARIOS.values()}
    raisable: List[Type[zbauth.Error]] = [
        zbauth.ArgumentError, zbauth.ConfigError, zbauth.AuthError, zbauth.ApiError,
        zbauth.TransportError, zbauth.TimeoutError,
    ]
    assert covered == set(raisable)  # and InternalError: only a library bug raises it
