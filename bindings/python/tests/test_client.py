"""The success path, configuration, results and client lifetime, against
the real dev cluster."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import os
import subprocess
from ctypes import byref, c_void_p
from pathlib import Path
from typing import Any, Dict, List

import pytest

import zbauth
from zbauth import _native
from conftest import REPO, Dev, run_python


def test_token_topology_request(client: zbauth.Client, dev: Dev) -> None:
    token = client.token()
    assert isinstance(token, str) and len(token) > 20 and not token.startswith("Bearer")
    assert client.token() == token  # cached by the library
    topology = client.topology()
    assert isinstance(topology, zbauth.Topology)
    assert (topology.cluster_size, topology.partitions_count, topology.replication_factor) == (3, 3, 3)
    assert topology.gateway_version == "8.7.0-dev"
    assert [b.node_id for b in topology.brokers] == [0, 1, 2]
    first = topology.brokers[0]
    assert (first.host, first.port, first.version) == ("zeebe-0.dev.local", 26501, "8.7.0-dev")
    assert first.partitions[0] == zbauth.Partition(partition_id=1, role="leader", health="healthy")
    leaders = sorted(p.partition_id for b in topology.brokers for p in b.partitions if p.role == "leader")
    assert leaders == [1, 2, 3]

    response = client.request("GET", "/v2/topology")
    assert isinstance(response, zbauth.Response)
    assert response.status == 200
    assert response.body["clusterSize"] == 3
    assert json.loads(response.text) == response.body
    stats = dev.stats()
    assert stats["token_requests"] == 1
    assert stats["api_requests"] == 2


def test_an_unchanged_topology_is_the_same_object(client: zbauth.Client, dev: Dev) -> None:
    first = client.topology()
    assert client.topology() is first
    other = (
        '{"brokers":[{"nodeId":7,"host":"z7","port":26501,"version":"8.8.0",'
        '"partitions":[{"partitionId":1,"role":"leader","health":"healthy"}]}],'
        '"clusterSize":1,"partitionsCount":1,"replicationFactor":1,"gatewayVersion":"8.8.0"}'
    )
    dev.fault(target="api", status=200, body=other, times=1)
    changed = client.topology()
    assert changed is not first
    assert (changed.cluster_size, changed.brokers[0].node_id, changed.gateway_version) == (1, 7, "8.8.0")
    again = client.topology()
    assert again == first and again is not changed
    assert asyncio.run(client.atopology()) is again


def test_topology_matches_the_cli(client: zbauth.Client) -> None:
    """The same cluster seen through the CLI's JSON: only the names differ."""
    exe = os.environ.get("ZBAUTH_BIN") or str(REPO / "bin" / "zbauth")
    cli = json.loads(subprocess.run([exe, "topology", "--json"], capture_output=True, text=True, check=True).stdout)
    topology = client.topology()
    assert topology.cluster_size == cli["clusterSize"]
    assert topology.partitions_count == cli["partitionsCount"]
    assert topology.replication_factor == cli["replicationFactor"]
    assert topology.gateway_version == cli["gatewayVersion"]
    assert len(topology.brokers) == len(cli["brokers"])
    for b, cb in zip(topology.brokers, cli["brokers"]):
        assert (b.node_id, b.host, b.port, b.version) == (cb["nodeId"], cb["host"], cb["port"], cb["version"])
        assert [(p.partition_id, p.role, p.health) for p in b.partitions] == [
            (p["partitionId"], p["role"], p["health"]) for p in cb["partitions"]
        ]


def test_topology_is_frozen_and_hashable(client: zbauth.Client) -> None:
    topology = client.topology()
    with pytest.raises(dataclasses.FrozenInstanceError):
        topology.cluster_size = 4  # type: ignore[misc]
    assert isinstance(topology.brokers, tuple) and isinstance(topology.brokers[0].partitions, tuple)
    assert hash(topology) == hash(client.topology())
    assert topology == client.topology()


def test_request_with_json_body(client: zbauth.Client) -> None:
    body = {"hello": [1, 2], "unicode": "grüße ✓", "nested": {"none": None}}
    response = client.request("POST", "/v2/echo", json=body)
    assert response.status == 200
    assert response.body == {"method": "POST", "path": "/v2/echo", "body": body}
    # no body at all
    assert client.request("POST", "/v2/echo").body["body"] is None
    # a JSON body that is not an object
    assert client.request("PUT", "/v2/echo", json=[1, "two"]).body["body"] == [1, "two"]


def test_response_body_that_is_not_json(client: zbauth.Client, dev: Dev) -> None:
    dev.fault(target="api", status=200, times=1, body="plain text, not JSON", content_type="text/plain")
    response = client.request("GET", "/v2/topology")
    assert response == zbauth.Response(status=200, body="plain text, not JSON", text="plain text, not JSON")


def test_empty_response_body(client: zbauth.Client, dev: Dev) -> None:
    dev.fault(target="api", status=204, times=1)
    response = client.request("GET", "/v2/topology")
    assert (response.status, response.body, response.text) == (204, None, "")


def test_environment_configuration(dev: Dev) -> None:
    """Client() and Client.from_env() read the ZEEBE_* variables (conftest
    put the dev cluster's into os.environ); keyword arguments win over them."""
    for make in (zbauth.Client, zbauth.Client.from_env):
        with make() as c:
            assert c.token() == c.token()
            assert c.topology().cluster_size == 3
    with zbauth.Client(audience="not-the-dev-audience") as c:
        with pytest.raises(zbauth.AuthError) as info:
            c.token()
    assert info.value.oauth_error == "invalid_target"
    stats = dev.stats()
    assert stats["token_requests"] == 3  # one per client
    assert stats["last_token_form"]["audience"] == "not-the-dev-audience"


def test_keyword_configuration_reaches_the_library(dev: Dev) -> None:
    env = dev.env
    with zbauth.Client(
        client_id=env["ZEEBE_CLIENT_ID"],
        client_secret=env["ZEEBE_CLIENT_SECRET"],
        authorization_server_url=env["ZEEBE_AUTHORIZATION_SERVER_URL"],
        audience=env["ZEEBE_TOKEN_AUDIENCE"],
        scope="py-scope",
        rest_address=env["ZEEBE_REST_ADDRESS"] + "/",
        timeout=5,
    ) as c:
        assert c.topology().cluster_size == 3
    form = dev.stats()["last_token_form"]
    assert form["scope"] == "py-scope"
    assert form["audience"] == env["ZEEBE_TOKEN_AUDIENCE"]
    assert form["client_id"] == env["ZEEBE_CLIENT_ID"]


def test_environment_changes_in_process_are_seen(
    dev: Dev, config: Dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library reads the environment with getenv when a client is
    created: os.environ changes made before then are seen, later ones are
    not seen by that client."""
    monkeypatch.setenv("ZEEBE_TOKEN_SCOPE", "live-environment-scope")
    with zbauth.Client(**config) as c:
        monkeypatch.setenv("ZEEBE_TOKEN_SCOPE", "too-late")
        c.token()
    assert dev.stats()["last_token_form"].get("scope") == "live-environment-scope"
    monkeypatch.delenv("ZEEBE_CLIENT_ID")
    with pytest.raises(zbauth.ConfigError) as info:
        zbauth.Client()
    assert info.value.fields == ("client_id",)


ENV_PROBE = """
import os, zbauth
with zbauth.Client() as c:  # loads the library; configured by the environment the process started with
    print(c.topology().cluster_size)
del os.environ["ZEEBE_CLIENT_SECRET"]
try:
    zbauth.Client()
except zbauth.ConfigError as e:
    print(",".join(e.fields))
"""


def test_environment_of_a_new_process(dev: Dev) -> None:
    """A process started with the ZEEBE_* variables (the usual deployment)
    needs no arguments; variables it removes after the library is loaded
    are missing for the next client."""
    done = run_python(ENV_PROBE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "client_secret"]


def test_timeout_argument_conversion(config: Dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        zbauth.Client(**config, timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        zbauth.Client(**config, timeout=True)
    with pytest.raises(ValueError):
        zbauth.Client(**config, timeout=float("nan"))
    with pytest.raises(zbauth.ConfigError) as info:
        zbauth.Client(**config, timeout=-1)  # the library validates
    assert "timeout_ms" in str(info.value) and info.value.fields == ("timeout_ms",)
    zbauth.Client(**config, timeout=0.0001).close()  # rounds up to 1 ms, never to 0 ("default")


def test_revoked_token_is_replaced_by_the_library(client: zbauth.Client, dev: Dev) -> None:
    first = client.token()
    dev.revoke()
    assert client.topology().cluster_size == 3  # 401, new token, retried once
    assert client.token() != first
    assert dev.stats()["token_requests"] == 2


def test_asyncio_helpers(client: zbauth.Client) -> None:
    async def main() -> List[Any]:
        return await asyncio.gather(
            client.atoken(),
            client.atopology(),
            client.arequest("POST", "/v2/echo", json={"a": 1}),
            *(client.atopology() for _ in range(4)),
        )

    token, topology, echo, *more = asyncio.run(main())
    assert token == client.token()
    assert topology.cluster_size == 3 and all(t == topology for t in more)
    assert echo.body["body"] == {"a": 1}


def test_close_twice_and_use_after_close(dev: Dev, config: Dict[str, Any]) -> None:
    c = zbauth.Client(**config)
    assert repr(c) == "<zbauth.Client open>" and not c.closed
    c.close()
    c.close()
    assert c.closed and repr(c) == "<zbauth.Client closed>"
    for call in (c.token, c.topology, lambda: c.request("GET", "/v2/topology")):
        with pytest.raises(zbauth.Error) as info:
            call()
        assert isinstance(info.value, zbauth.ArgumentError)
        assert "closed" in str(info.value)
    assert dev.stats()["token_requests"] == 0


def test_context_manager_closes(config: Dict[str, Any]) -> None:
    with zbauth.Client(**config) as c:
        assert c.topology()
    assert c.closed
    with pytest.raises(zbauth.ArgumentError):
        c.token()


def test_garbage_collection_frees_the_handle(config: Dict[str, Any]) -> None:
    c = zbauth.Client(**config)
    handle = c._handle
    lib = _native.lib()
    del c
    gc.collect()
    out, err = c_void_p(), c_void_p()
    status = lib.zbauth_client_token(handle, byref(out), byref(err))
    message = _native.take(lib, err)
    assert status == zbauth.Status.ARGUMENT  # the library no longer knows it
    assert message and "handle" in message


def test_client_cannot_be_pickled_or_copied(config: Dict[str, Any]) -> None:
    import copy
    import pickle

    with zbauth.Client(**config) as c:
        with pytest.raises(TypeError):
            pickle.dumps(c)
        with pytest.raises(TypeError):
            copy.copy(c)


def test_versions_agree() -> None:
    go = (REPO / "core" / "version.go").read_text()
    assert 'const Version = "%s"' % zbauth.__version__ in go
    assert zbauth.library_version() == zbauth.__version__


def test_status_codes_match_the_library() -> None:
    lib = _native.lib()
    for s in zbauth.Status:
        name = "ZBAUTH_OK" if s == 0 else "ZBAUTH_ERR_" + s.name
        assert lib.zbauth_status_name(s) == name.encode()
    assert lib.zbauth_status_name(len(zbauth.Status)) == b"ZBAUTH_UNKNOWN"


def test_example_runs() -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "topology.py"
    import sys

    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Cluster size: 3" in done.stdout
    assert "Partition 1 : Leader, Healthy" in done.stdout


def test_import_does_not_load_the_library() -> None:
    done = run_python("import zbauth, zbauth._native as n; print(n.path())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
