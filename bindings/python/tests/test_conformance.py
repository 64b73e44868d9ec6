"""The shared conformance vectors (testdata/conformance/vectors.json, see
its README.md), run through the binding against the dev cluster: the same
scenarios the Go core, the C library and the other bindings run."""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Optional

import pytest

import zbauth
from conftest import REPO, Dev, leaks, shown

VECTORS = REPO / "testdata" / "conformance" / "vectors.json"


def _scenarios() -> List[Dict[str, Any]]:
    vectors = json.loads(VECTORS.read_text())
    assert vectors["format"] == "zbauth-conformance-v1"
    scenarios: List[Dict[str, Any]] = vectors["scenarios"]
    assert len(scenarios) >= 20
    return scenarios


SCENARIOS = _scenarios()

# The vectors' error code names, and the exception each stands for.
ERRORS = {
    "ARGUMENT": zbauth.ArgumentError,
    "CONFIG": zbauth.ConfigError,
    "AUTH": zbauth.AuthError,
    "API": zbauth.ApiError,
    "TRANSPORT": zbauth.TransportError,
    "TIMEOUT": zbauth.TimeoutError,
    "INTERNAL": zbauth.InternalError,
}


# A leading "$NAME" in a config string: replaced by the variable's value.
_VARIABLE = re.compile(r"^\$([A-Z][A-Z0-9_]*)")


def expand(value: Any) -> Any:
    """A config value with a leading "$NAME" replaced from the environment
    (conftest put the dev cluster's ZBAUTH_DEV_* variables there); any
    other value as it is."""
    if not isinstance(value, str):
        return value
    return _VARIABLE.sub(lambda m: os.environ.get(m.group(1), ""), value, count=1)


def _kwargs(base: Dict[str, Any], overlay: Dict[str, Any]) -> Dict[str, Any]:
    """The dev cluster's settings overlaid with the scenario's config, as
    keyword arguments. timeout_ms and token_timeout_ms become the binding's
    own timeouts (in seconds); every other key, known or not, is passed as
    it is."""
    kwargs = dict(base)
    for key, value in overlay.items():
        value = expand(value)
        if key in ("timeout_ms", "token_timeout_ms") and isinstance(value, (int, float)):
            kwargs[key[: -len("_ms")]] = value / 1000
        else:
            kwargs[key] = value
    return kwargs


def test_expand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZBAUTH_TEST_EXPAND", "/x")
    monkeypatch.delenv("ZBAUTH_TEST_UNSET", raising=False)
    assert expand("$ZBAUTH_TEST_EXPAND/v2") == "/x/v2"
    assert expand("$ZBAUTH_TEST_EXPAND") == "/x"
    assert expand("$ZBAUTH_TEST_UNSET/v2") == "/v2"
    for unchanged in ("a$ZBAUTH_TEST_EXPAND", "$lower", "$", "$1X", 3, None):
        assert expand(unchanged) == unchanged


@pytest.mark.parametrize("sc", SCENARIOS, ids=[sc["name"] for sc in SCENARIOS])
def test_conformance(sc: Dict[str, Any], dev: Dev, config: Dict[str, Any]) -> None:
    dev.reset()
    if sc.get("dev_config"):
        dev.call("POST", "/_dev/config", sc["dev_config"])
    if sc.get("faults"):
        dev.call("POST", "/_dev/faults", sc["faults"])

    error: Optional[zbauth.Error] = None
    token: Optional[str] = None
    topology: Optional[zbauth.Topology] = None
    response: Optional[zbauth.Response] = None
    client: Optional[zbauth.Client] = None
    try:
        client = zbauth.Client(**_kwargs(config, sc.get("config", {})))
        op = sc["op"]
        if op == "token":
            token = client.token()
        elif op == "topology":
            topology = client.topology()
        elif op == "request":
            body = json.loads(sc["body"]) if sc.get("body") else None
            response = client.request(sc["method"], sc["path"], json=body)
        else:
            pytest.fail("unknown op %r" % op)
    except zbauth.Error as e:
        error = e
    finally:
        if client is not None:
            client.close()

    ex = sc["expect"]
    if ex.get("ok"):
        assert error is None, "want success, got %r" % error
        if "token" in ex:
            assert token == ex["token"]
        if "status" in ex:
            assert response is not None and response.status == ex["status"]
        if "body_contains" in ex:
            assert response is not None and ex["body_contains"] in response.text
        if "topology_cluster_id" in ex:
            assert topology is not None and topology.cluster_id == ex["topology_cluster_id"], topology
    else:
        assert error is not None, "want %s, got success" % ex["error"]
        assert type(error) is ERRORS[ex["error"]], repr(error)
        assert error.code == zbauth.Status[ex["error"]]
        if "status" in ex:
            assert error.status == ex["status"], repr(error)
        if "message_contains" in ex:
            assert ex["message_contains"] in str(error)
        assert not leaks(shown(error)), shown(error)
    stats = dev.stats()
    if "token_requests" in ex:
        assert stats["token_requests"] == ex["token_requests"]
    if "api_requests" in ex:
        assert stats["api_requests"] == ex["api_requests"]
