"""Result types: the cluster topology and a REST API response.

These are plain, immutable values converted from what the library returns;
the conversion renames the REST API's camelCase fields to snake_case and
nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Tuple

__all__ = ["Partition", "Broker", "Topology", "Response"]


@dataclass(frozen=True)
class Partition:
    """One partition as a broker sees it."""

    partition_id: int
    role: str
    """``"leader"``, ``"follower"`` or ``"inactive"``."""
    health: str
    """``"healthy"``, ``"unhealthy"`` or ``"dead"``."""


@dataclass(frozen=True)
class Broker:
    """One broker of the cluster."""

    node_id: int
    host: str
    port: int
    version: str
    partitions: Tuple[Partition, ...]


@dataclass(frozen=True)
class Topology:
    """The cluster topology (``GET /v1/topology`` or ``/v2/topology``), as
    ``zbctl status`` shows it."""

    brokers: Tuple[Broker, ...]
    cluster_size: int
    partitions_count: int
    replication_factor: int
    gateway_version: str
    last_completed_change_id: str = ""
    """From ``/v2/topology`` (Camunda 8.8+); ``""`` from a v1 answer."""
    cluster_id: str = ""
    """From ``/v2/topology`` (Camunda 8.8+); ``""`` from a v1 answer."""

    @classmethod
    def _from_json(cls, text: str) -> "Topology":
        """Converts the library's topology JSON (the REST API's field names)."""
        d = json.loads(text)
        return cls(
            brokers=tuple(
                Broker(
                    node_id=b["nodeId"],
                    host=b["host"],
                    port=b["port"],
                    version=b["version"],
                    partitions=tuple(
                        Partition(partition_id=p["partitionId"], role=p["role"], health=p["health"])
                        for p in b["partitions"]
                    ),
                )
                for b in d["brokers"]
            ),
            cluster_size=d["clusterSize"],
            partitions_count=d["partitionsCount"],
            replication_factor=d["replicationFactor"],
            gateway_version=d["gatewayVersion"],
            # The library leaves out what a v1 answer does not have.
            last_completed_change_id=d.get("lastCompletedChangeId", ""),
            cluster_id=d.get("clusterId", ""),
        )


@dataclass(frozen=True)
class Response:
    """A successful REST API response (status < 400).

    Attributes:
        status: the HTTP status.
        body: the body decoded as JSON; the text itself when it is not JSON;
            ``None`` when it is empty.
        text: the body as text.
    """

    status: int
    body: Any
    text: str


def decode_body(text: Optional[str]) -> Any:
    """JSON-decodes a response body when possible, else returns the text;
    ``None`` for an empty or absent body."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
