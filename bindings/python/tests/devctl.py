"""The dev cluster's control endpoints (internal/devcluster, see
docs/dev-cluster.md), shared by the tests (conftest.py) and the benchmark
(bench/bench.py). Standard library only: the benchmark runs without pytest.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any, Dict, Optional


class Dev:
    """The control API of the dev cluster at url; env is the environment
    that points a client at it (empty when not known)."""

    def __init__(self, url: str, env: Optional[Dict[str, str]] = None) -> None:
        self.url = url.rstrip("/")
        self.env: Dict[str, str] = env or {}
        # Loopback only, never through a proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with self._opener.open(req, timeout=10) as resp:
            text = resp.read().decode()
        return json.loads(text) if text else None

    def fault(self, **fault: Any) -> None:
        """Queues a fault: target "token"|"api", status, times (0 = always),
        delay_ms, retry_after, body, content_type."""
        self.call("POST", "/_dev/faults", fault)

    def clear_faults(self) -> None:
        self.call("DELETE", "/_dev/faults")

    def reset(self) -> None:
        """No faults, counters zeroed, the default token lifetime."""
        self.call("POST", "/_dev/reset", {})

    def revoke(self) -> None:
        self.call("POST", "/_dev/revoke", {})

    def token_lifetime(self, seconds: int) -> None:
        """expires_in of the tokens issued from now on (whole seconds)."""
        self.call("POST", "/_dev/config", {"token_lifetime_s": seconds})

    def stats(self) -> Dict[str, Any]:
        result: Dict[str, Any] = self.call("GET", "/_dev/stats")
        return result
