"""Fixtures: the real dev cluster (`zbauth dev-cluster --port 0`), started
once per session, and a small client for its /_dev/ control endpoints.

The cluster's environment (ZEEBE_*, ZBAUTH_DEV_*) is put into os.environ,
where the library (it reads the environment with getenv when a client is
created) and child processes see it. Most tests still configure clients
with keyword arguments (the `config` fixture), so that they do not depend
on the environment.

The cluster accepts a marker secret (SECRET) and a marker Basic password
(BASIC_PASSWORD), with characters that need escaping somewhere; `shown(exc)` is all the text an exception shows,
and `leaks(text)` the secrets and markers found in it: every test of an
error can check that none is there.

Environment: ZBAUTH_BIN (the zbauth CLI; default bin/zbauth at the
repository root), ZBAUTH_LIBRARY (the library under test), ZBAUTH_WHEEL_DIR
(the built wheel, for test_wheel.py). `make test-python` sets all three.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shlex
import subprocess
import tempfile
import threading
from pathlib import Path
import traceback
import urllib.parse
from typing import Any, Dict, Iterator, List, Optional

import pytest

import zbauth
from devctl import Dev as Dev  # re-exported: the tests import it from here

REPO = Path(__file__).resolve().parents[3]
PACKAGE_SRC = Path(__file__).resolve().parents[1] / "src"

# The client secret the dev cluster accepts: a marker, with characters that
# need escaping in a form, a URL, JSON and a shell.
SECRET = "SECRET-MARKER-py-7d41 s3cr&t+/=%?#\"x'"
# A token the dev cluster's token endpoint can be made to issue.
TOKEN_MARKER = "TOKEN-MARKER-py-0e52"
# The Basic password the session's dev cluster accepts: a marker too.
BASIC_PASSWORD = "SECRET-MARKER-py-basic-51f3 p4ss:w&rd+/=%"
# They as a Basic Authorization header carries them (the dev cluster's
# default user name).
BASIC_CREDENTIALS = base64.b64encode(("zbauth-dev-user:" + BASIC_PASSWORD).encode()).decode()


def leaks(text: str) -> List[str]:
    """The secrets and markers found in text: any string starting
    SECRET-MARKER or TOKEN-MARKER, the dev cluster's secret, also
    URL-escaped (fully, as a path segment, as a query value), and its
    Basic credentials as an Authorization header carries them."""
    bad = ["SECRET-MARKER", "TOKEN-MARKER", SECRET, urllib.parse.quote(SECRET, safe=""),
           urllib.parse.quote(SECRET, safe="$&+:=@"), urllib.parse.quote_plus(SECRET), BASIC_CREDENTIALS]
    return [b for b in bad if b in text]


def shown(e: BaseException) -> str:
    """Every text an exception shows: str, repr, args, the formatted
    traceback, and its attributes except ApiError.text (the raw response
    body, as the server sent it)."""
    attrs = {k: v for k, v in vars(e).items() if k != "text"}
    return "\n".join([
        str(e), repr(e), repr(e.args), repr(attrs),
        "".join(traceback.format_exception(type(e), e, e.__traceback__)),
    ])

# Configuration variables that would leak into the tests from outside:
# every CAMUNDA_* and ZEEBE_* name the cluster does not set, and these.
_FOREIGN = ["ZBAUTH_ALLOW_INSECURE_HTTP", "ZBAUTH_TIMEOUT_MS"]


def _zbauth_bin() -> str:
    exe = os.environ.get("ZBAUTH_BIN") or str(REPO / "bin" / "zbauth")
    if not os.access(exe, os.X_OK):
        pytest.exit("zbauth CLI not found at %s: run `make build` or set ZBAUTH_BIN" % exe, returncode=2)
    return exe


@contextlib.contextmanager
def start_cluster(*args: str) -> Iterator[Dev]:
    """Runs `zbauth dev-cluster --port 0 args...` until the block ends; the
    Dev it yields has the environment the cluster printed (its ZEEBE_* or
    CAMUNDA_* settings, and the ZBAUTH_DEV_* ones: URL, key files, Basic
    credentials, static token)."""
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(
            [_zbauth_bin(), "dev-cluster", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        try:
            watchdog = threading.Timer(15, proc.kill)  # never wait forever for it
            watchdog.start()
            env: Dict[str, str] = {}
            try:
                assert proc.stdout is not None
                while "ZBAUTH_DEV_URL" not in env:  # printed last
                    line = proc.stdout.readline()
                    if not line:
                        errors.seek(0)
                        pytest.exit("dev cluster did not start: " + errors.read(), returncode=2)
                    words = shlex.split(line)
                    if len(words) == 2 and words[0] == "export":
                        key, _, value = words[1].partition("=")
                        env[key] = value
            finally:
                watchdog.cancel()
            yield Dev(env["ZBAUTH_DEV_URL"], env)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session", autouse=True)
def dev() -> Iterator[Dev]:
    """Starts a dev cluster for the session (its Basic password a marker
    too) and points os.environ at it."""
    with start_cluster("--client-secret", SECRET, "--basic-password", BASIC_PASSWORD) as d:
        assert d.env.get("ZEEBE_CLIENT_SECRET") == SECRET, "the dev cluster does not use the marker secret"
        assert d.env.get("ZBAUTH_DEV_BASIC_PASSWORD") == BASIC_PASSWORD, "nor the marker Basic password"
        for key in list(os.environ):
            if key in _FOREIGN or key.startswith(("CAMUNDA_", "ZEEBE_")) and key not in d.env:
                del os.environ[key]
        os.environ.update(d.env)
        yield d


@pytest.fixture(autouse=True)
def _reset(dev: Dev) -> None:
    """Every test starts with no faults and zeroed counters."""
    dev.reset()


@pytest.fixture
def config(dev: Dev) -> Dict[str, Any]:
    """Keyword arguments that point a client at the dev cluster."""
    return {
        "client_id": dev.env["ZEEBE_CLIENT_ID"],
        "client_secret": dev.env["ZEEBE_CLIENT_SECRET"],
        "authorization_server_url": dev.env["ZEEBE_AUTHORIZATION_SERVER_URL"],
        "audience": dev.env["ZEEBE_TOKEN_AUDIENCE"],
        "rest_address": dev.env["ZEEBE_REST_ADDRESS"],
    }


@pytest.fixture
def client(config: Dict[str, Any]) -> Iterator[zbauth.Client]:
    """A fresh client for the dev cluster."""
    with zbauth.Client(**config) as c:
        yield c


def run_python(code: str, env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
               python: Optional[str] = None) -> "subprocess.CompletedProcess[str]":
    """Runs code in a new interpreter (the package from PYTHONPATH unless env
    says otherwise) and returns the completed process."""
    import sys

    return subprocess.run(
        [python or sys.executable, "-c", code],
        env=env if env is not None else dict(os.environ),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
