"""The authentication strategies and token endpoint methods of zbauth issue
16 through the binding's keyword arguments, against the real dev cluster:
each new argument reaches the library and changes what it sends."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Dict, Iterator, List

import pytest

import zbauth
from conftest import BASIC_PASSWORD, Dev, leaks, run_python, shown, start_cluster


@pytest.fixture(scope="module")
def basic_dev() -> Iterator[Dev]:
    """A second dev cluster, started in basic mode (`--auth basic`)."""
    with start_cluster("--auth", "basic", "--basic-password", BASIC_PASSWORD) as d:
        yield d


def basic_kwargs(d: Dev) -> Dict[str, Any]:
    return {
        "auth_strategy": "BASIC",
        "basic_auth_username": d.env["ZBAUTH_DEV_BASIC_USERNAME"],
        "basic_auth_password": d.env["ZBAUTH_DEV_BASIC_PASSWORD"],
        "rest_address": d.env["ZEEBE_REST_ADDRESS"],
    }


def assert_no_token_under(strategy: str, c: zbauth.Client) -> None:
    """token() and atoken() refuse with a ConfigError that says why."""
    for call in (c.token, lambda: asyncio.run(c.atoken())):
        with pytest.raises(zbauth.ConfigError) as info:
            call()
        e = info.value
        assert e.code == zbauth.Status.CONFIG and e.fields == ("auth_strategy",)
        assert "there is no access token" in str(e) and "strategy is %s" % strategy in str(e), str(e)
        assert not leaks(shown(e)), shown(e)


def test_basic_against_a_basic_cluster(basic_dev: Dev) -> None:
    basic_dev.reset()
    with zbauth.Client(**basic_kwargs(basic_dev)) as c:
        topology = c.topology()
        assert topology.cluster_size == 3 and topology.cluster_id == ""
        assert c.request("GET", "/v2/topology").body["clusterId"] == "zbauth-dev"
        assert_no_token_under("BASIC", c)
        assert c.topology() is topology  # the refused token() changed nothing
    stats = basic_dev.stats()
    assert stats["last_api_auth_scheme"] == "Basic"
    assert (stats["token_requests"], stats["api_requests"]) == (0, 3)


def test_basic_with_a_wrong_password_is_an_auth_error(basic_dev: Dev) -> None:
    basic_dev.reset()
    with zbauth.Client(**dict(basic_kwargs(basic_dev), basic_auth_password=BASIC_PASSWORD + "-wrong")) as c:
        with pytest.raises(zbauth.AuthError) as info:
            c.topology()
    assert info.value.status == 401 and not leaks(shown(info.value))


BASIC_FROM_ENV = """
import zbauth
with zbauth.Client() as c:
    print(c.topology().cluster_size)
    try:
        c.token()
    except zbauth.ConfigError as e:
        print(e.code.name, ",".join(e.fields))
"""


def test_basic_from_the_environment_of_a_basic_cluster(basic_dev: Dev) -> None:
    """A process started with what `zbauth dev-cluster --auth basic` prints
    (CAMUNDA_AUTH_STRATEGY, CAMUNDA_BASIC_AUTH_*) needs no arguments."""
    basic_dev.reset()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZEEBE_", "CAMUNDA_", "ZBAUTH_DEV_"))}
    env.update(basic_dev.env)
    assert env["CAMUNDA_AUTH_STRATEGY"] == "BASIC"
    done = run_python(BASIC_FROM_ENV, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["3", "CONFIG auth_strategy"]
    assert not leaks(done.stdout + done.stderr)
    assert basic_dev.stats()["last_api_auth_scheme"] == "Basic"


def test_none_has_no_token(dev: Dev) -> None:
    dev.call("POST", "/_dev/config", {"auth": "none"})
    with zbauth.Client(auth_strategy="NONE", rest_address=dev.env["ZEEBE_REST_ADDRESS"]) as c:
        assert c.topology().cluster_size == 3
        assert_no_token_under("NONE", c)
    assert dev.stats()["last_api_auth_scheme"] == ""


def test_bearer_sends_the_static_token(dev: Dev) -> None:
    static = dev.env["ZBAUTH_DEV_STATIC_TOKEN"]
    with zbauth.Client(auth_strategy="bearer", oauth_token=static, rest_address=dev.env["ZEEBE_REST_ADDRESS"]) as c:
        assert c.token() == static
        assert c.topology().cluster_size == 3
    stats = dev.stats()
    assert (stats["token_requests"], stats["last_api_auth_scheme"]) == (0, "Bearer")


def test_token_endpoint_arguments_reach_the_library(dev: Dev, config: Dict[str, Any]) -> None:
    with zbauth.Client(**config, resource="urn:zbauth:py-resource", token_auth_method="client_secret_basic") as c:
        c.token()
    stats = dev.stats()
    assert stats["last_client_auth"] == "client_secret_basic"
    assert stats["last_token_form"]["resource"] == "urn:zbauth:py-resource"
    assert "client_secret" not in stats["last_token_form"]


@pytest.mark.parametrize("how", ["issuer_url", "well_known_configuration_url"])
def test_discovery_arguments(how: str, dev: Dev, config: Dict[str, Any]) -> None:
    url = dev.url if how == "issuer_url" else dev.url + "/.well-known/openid-configuration"
    kwargs: Dict[str, Any] = dict(config, authorization_server_url="", **{how: url})
    with zbauth.Client(**kwargs) as c:
        assert c.topology().cluster_size == 3
    stats = dev.stats()
    assert (stats["discovery_requests"], stats["token_requests"]) == (1, 1)


@pytest.mark.parametrize("form", ["PEM", "PKCS#12"])
def test_client_assertion_arguments(form: str, dev: Dev, config: Dict[str, Any]) -> None:
    dev.call("POST", "/_dev/config", {"token_auth_method": "private_key_jwt"})
    env = dev.env
    if form == "PEM":
        key: Dict[str, Any] = {"client_assertion_key_path": env["ZBAUTH_DEV_ASSERTION_KEY_PATH"],
                               "client_assertion_cert_path": env["ZBAUTH_DEV_ASSERTION_CERT_PATH"]}
    else:
        key = {"client_assertion_keystore_path": env["ZBAUTH_DEV_ASSERTION_KEYSTORE_PATH"],
               "client_assertion_keystore_password": env["ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD"],
               "client_assertion_keystore_key_alias": "1",
               "client_assertion_keystore_key_password": env["ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD"]}
    # The method is inferred from the key: no client secret is needed.
    with zbauth.Client(**dict(config, client_secret=""), **key) as c:
        assert c.topology().cluster_size == 3
    stats = dev.stats()
    assert stats["last_client_auth"] == "private_key_jwt"
    assert stats["last_assertion_claims"]["iss"] == config["client_id"]
    assert "x5t#S256" in stats["last_assertion_header"]


def test_token_timeout_bounds_the_token_request_only(dev: Dev, config: Dict[str, Any]) -> None:
    dev.fault(target="token", delay_ms=3000)
    started = time.monotonic()
    with zbauth.Client(**config, timeout=10, token_timeout=0.3) as c:
        with pytest.raises(zbauth.TimeoutError):
            c.token()
    assert time.monotonic() - started < 2.5


def test_timeouts_given_twice_are_refused(config: Dict[str, Any]) -> None:
    twices: List[Dict[str, Any]] = [{"timeout": 1, "timeout_ms": 1000}, {"token_timeout": 1, "token_timeout_ms": 1000}]
    for twice in twices:
        with pytest.raises(TypeError, match="name the same setting"):
            zbauth.Client(**config, **twice)
    with pytest.raises(TypeError, match="token_timeout must be a number"):
        zbauth.Client(**config, token_timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="token_timeout must be a finite"):
        zbauth.Client(**config, token_timeout=float("inf"))
    zbauth.Client(**config, token_timeout_ms=1000).close()  # the library's own key passes through


def test_unknown_strategy_and_method_are_config_errors(config: Dict[str, Any]) -> None:
    for key, value in (("auth_strategy", "KERBEROS"), ("token_auth_method", "tls_client_auth")):
        with pytest.raises(zbauth.ConfigError) as info:
            zbauth.Client(**dict(config, **{key: value}))
        assert info.value.fields == (key,), str(info.value)
    with pytest.raises(zbauth.ConfigError) as info:
        zbauth.Client(**config, auth_stratgy="BASIC")
    assert "auth_stratgy" in str(info.value)


def test_v2_topology_fields(dev: Dev, config: Dict[str, Any]) -> None:
    with zbauth.Client(**dict(config, rest_address=config["rest_address"] + "/v2")) as c:
        topology = c.topology()
    assert (topology.cluster_id, topology.last_completed_change_id) == ("zbauth-dev", "-1")
    assert topology.cluster_size == 3
    with zbauth.Client(**config) as c:
        v1 = c.topology()
    assert (v1.cluster_id, v1.last_completed_change_id) == ("", "")
    assert v1 != topology  # the v2 fields take part in equality
