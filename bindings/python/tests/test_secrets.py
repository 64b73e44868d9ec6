"""Neither the client secret nor an access token ever appears in what an
error shows (zbauth issue 7): every exception class the library raises, each
triggered with the marker secret configured (the dev cluster accepts
conftest.SECRET) and, past the token endpoint, a marker token in flight;
servers that echo them back included. The same holds for the other secrets
(zbauth issue 16): the Basic password (the dev cluster accepts the marker
conftest.BASIC_PASSWORD), a static bearer token, the keystore passwords and
the contents of key files.

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
import os
import socket
import tempfile
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

import pytest

import zbauth
from conftest import BASIC_CREDENTIALS, BASIC_PASSWORD, SECRET, TOKEN_MARKER, Dev, leaks, shown

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


# The other strategies' secrets (zbauth issue 16). DEV_CONFIG is POSTed to
# /_dev/config before a scenario's faults (as the conformance vectors do).
DEV_CONFIG: Dict[str, Dict[str, Any]] = {}
# A static token the dev cluster rejects, and a wrong keystore password.
STATIC_TOKEN = "TOKEN-MARKER-py-static-9a1d"
P12_WRONG = "SECRET-MARKER-py-p12-wrong s3cr&t"
P12_KEY_WRONG = "SECRET-MARKER-py-p12-key-wrong"
# What a file that is not a key holds: it must never be quoted.
NOT_A_KEY = "SECRET-MARKER-py-file-contents-not-a-key\n"


def basic(**overrides: Callable[[Config], Any]) -> Callable[[Config], Config]:
    """The BASIC strategy's configuration with the marker password."""

    def make(config: Config) -> Config:
        c = dict(rest_address=config["rest_address"], auth_strategy="BASIC",
                 basic_auth_username=os.environ["ZBAUTH_DEV_BASIC_USERNAME"], basic_auth_password=BASIC_PASSWORD)
        c.update({k: f(config) for k, f in overrides.items()})
        return c

    return make


def bearer(config: Config) -> Config:
    return dict(rest_address=config["rest_address"], auth_strategy="BEARER", oauth_token=STATIC_TOKEN)


def keystore(password: Optional[str] = None, **more: str) -> Callable[[Config], Config]:
    """The cluster's config with private_key_jwt from its PKCS#12 keystore,
    opened with password (None: the right one)."""

    def make(config: Config) -> Config:
        right = os.environ["ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD"]
        return dict(config, client_assertion_keystore_path=os.environ["ZBAUTH_DEV_ASSERTION_KEYSTORE_PATH"],
                    client_assertion_keystore_password=right if password is None else password, **more)

    return make


def with_config(make: Callable[[Config], Config], call: Callable[[zbauth.Client], object],
                **overrides: Callable[[Config], Any]) -> Run:
    """client_call for a configuration made from the dev cluster's; a
    ConfigError from the constructor is the outcome too."""

    def run(config: Config) -> Outcome:
        kwargs = make(config)
        kwargs.update({k: f(config) for k, f in overrides.items()})
        try:
            c = zbauth.Client(**kwargs)
        except zbauth.ConfigError as e:
            return e, None
        return fails(lambda: call(c), c)

    return run


def not_a_key_file(config: Config) -> str:
    path = os.path.join(tempfile.mkdtemp(prefix="zbauth-test-"), "not-a-key")
    with open(path, "w") as f:
        f.write(NOT_A_KEY)
    return path


def basic_echo(status: int, echo: str = "Authorization: Basic %s password=%s" % (
        BASIC_CREDENTIALS, BASIC_PASSWORD)) -> Dict[str, Any]:
    """A fault: the REST API answers with a problem echoing echo (the Basic
    credentials) in every member."""
    body = {"type": echo, "title": echo, "status": status, "detail": echo, "instance": echo}
    return {"target": "api", "status": status, "body": json.dumps(body), "content_type": "application/problem+json"}


STRATEGY_SCENARIOS: Dict[str, Tuple[Scenario, Optional[Dict[str, Any]]]] = {
    # BASIC, against the cluster in basic mode
    "BASIC: wrong password": ((zbauth.AuthError, [], with_config(basic(
        basic_auth_password=lambda _: BASIC_PASSWORD + "-wrong"), topology)), {"auth": "basic"}),
    "BASIC: token() has none": ((zbauth.ConfigError, [], with_config(basic(), token)), {"auth": "basic"}),
    "BASIC: API problem echoes the credentials": ((zbauth.ApiError, [basic_echo(403)], with_config(
        basic(), topology)), {"auth": "basic"}),
    "BASIC: API problem echoes the credentials (request)": ((zbauth.ApiError, [basic_echo(400)], with_config(
        basic(), lambda c: c.request("POST", "/v2/echo", json={"password": BASIC_PASSWORD}))), {"auth": "basic"}),
    "BASIC: REST API unreachable": ((zbauth.TransportError, [], with_config(basic(
        rest_address=lambda _: dead_url(), timeout=lambda _: 0.3), topology)), None),
    "BASIC: API timeout": ((zbauth.TimeoutError, [{"target": "api", "delay_ms": 2000}], with_config(basic(
        timeout=lambda _: 0.2), topology)), {"auth": "basic"}),
    "BASIC: no user name": ((zbauth.ConfigError, [], with_config(basic(
        basic_auth_username=lambda _: ""), topology)), None),
    "BASIC: password with a newline": ((zbauth.ConfigError, [], with_config(basic(
        basic_auth_password=lambda _: BASIC_PASSWORD + "\r\nX-Injected: 1"), topology)), None),
    "BASIC: closed client": ((zbauth.ArgumentError, [], lambda config: closed(basic()(config))), None),
    # BEARER
    "BEARER: token rejected": ((zbauth.AuthError, [], with_config(bearer, topology)), None),
    "BEARER: API problem echoes the token": ((zbauth.ApiError, [basic_echo(403, "Bearer " + STATIC_TOKEN)], with_config(
        bearer, topology)), None),
    "BEARER: token with a newline": ((zbauth.ConfigError, [], with_config(bearer, topology, oauth_token=lambda _: (
        STATIC_TOKEN + "\r\nX-Injected: 1"))), None),
    "BEARER: token with a space and the secret": ((zbauth.ConfigError, [], with_config(bearer, topology, oauth_token=(
        lambda _: STATIC_TOKEN + " " + SECRET))), None),
    # private_key_jwt
    "keystore: wrong password": ((zbauth.ConfigError, [], with_config(keystore(P12_WRONG), token)), None),
    "keystore: wrong password and key password": ((zbauth.ConfigError, [], with_config(keystore(
        P12_WRONG, client_assertion_keystore_key_password=P12_KEY_WRONG), token)), None),
    "keystore: not a keystore": ((zbauth.ConfigError, [], with_config(keystore(
        P12_WRONG), token, client_assertion_keystore_path=not_a_key_file)), None),
    "PEM key: not a key": ((zbauth.ConfigError, [], with_config(lambda config: dict(
        config, token_auth_method="private_key_jwt", client_assertion_key_path=not_a_key_file(config)), token)), None),
    "keystore: right password, token endpoint refuses": ((zbauth.AuthError, [token_answers(
        401, {"error": "invalid_client", "error_description": SECRET})], with_config(keystore(), token)),
        {"token_auth_method": "private_key_jwt"}),
    "keystore: right password, key password, API rejects": ((zbauth.ApiError, [MARKER_TOKEN], with_config(keystore(
        client_assertion_keystore_key_password=P12_KEY_WRONG), topology)), {"token_auth_method": "private_key_jwt"}),
}
SCENARIOS.update({name: sc for name, (sc, _) in STRATEGY_SCENARIOS.items()})
DEV_CONFIG.update({name: dc for name, (_, dc) in STRATEGY_SCENARIOS.items() if dc})


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
    if name in DEV_CONFIG:
        dev.call("POST", "/_dev/config", DEV_CONFIG[name])
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
        # The dev cluster's keystore password is no marker: looked for as it is.
        more = [os.environ["ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD"], "X-Injected"]
        for what, text in texts.items():
            bad = leaks(text) + [m for m in more if m in text]
            assert not bad, "%s leaks %s:\n%s" % (what, bad, text)
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


def test_client_keeps_none_of_the_secrets(dev: Dev, config: Config) -> None:
    """Clients holding each secret (and having used it) show none of them:
    the binding passes them to the library and keeps no copy."""
    env = os.environ
    p12 = keystore(client_assertion_keystore_key_password=P12_KEY_WRONG)(config)
    basic_config = basic()(config)
    dev.call("POST", "/_dev/config", {"auth": "basic"})
    with zbauth.Client(**basic_config) as b:
        b.topology()
        texts = [repr(b), str(b), repr(vars(b)), repr(dir(b))]
    dev.reset()
    for kwargs in (bearer(config), p12):
        with zbauth.Client(**kwargs) as c:
            texts += [repr(c), str(c), repr(vars(c)), repr(dir(c))]
    text = "\n".join(texts)
    for secret in (BASIC_PASSWORD, BASIC_CREDENTIALS, STATIC_TOKEN, P12_KEY_WRONG, SECRET,
                   env["ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD"]):
        assert secret not in text, text
