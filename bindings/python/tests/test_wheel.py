"""The wheel built by `make python`: platform-tagged, bundles the library,
and installs and runs in a fresh venv with nothing else on the path."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import zbauth
from conftest import run_python


@pytest.fixture(scope="module")
def wheel() -> Path:
    folder = os.environ.get("ZBAUTH_WHEEL_DIR")
    if not folder:
        pytest.skip("ZBAUTH_WHEEL_DIR is not set (make test-python sets it to the wheel built by make python)")
    wheels = sorted(Path(folder).glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_is_platform_tagged_and_bundles_the_library(wheel: Path) -> None:
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    assert wheel.name == "zbauth-%s-py3-none-%s.whl" % (zbauth.__version__, platform)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = z.read("zbauth-%s.dist-info/WHEEL" % zbauth.__version__).decode()
        lib = z.getinfo("zbauth/libzbauth.so")
    for name in ("zbauth/__init__.py", "zbauth/_native.py", "zbauth/py.typed", "zbauth/libzbauth.so"):
        assert name in names
    assert not any("tests/" in n or n.endswith(".pyc") for n in names)
    assert "Root-Is-Purelib: false" in info
    assert "Tag: py3-none-%s" % platform in info
    assert lib.file_size > 1_000_000
    assert (lib.external_attr >> 16) & 0o111, "the library is not executable in the wheel"


def test_wheel_installs_and_runs_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index", str(wheel)],
        check=True,
        timeout=120,
    )
    # Nothing from the source tree: no PYTHONPATH, no ZBAUTH_LIBRARY.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ZBAUTH_LIBRARY")}
    done = run_python("import zbauth; print(zbauth.Client().topology())", env=env, cwd=str(tmp_path), python=python)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Topology(brokers=(Broker(node_id=0")
    assert "cluster_size=3" in done.stdout

    done = run_python(
        "import importlib.metadata as m, zbauth, zbauth._native as n\n"
        "zbauth.Client().close()\n"
        "print(n.path()); print(m.version('zbauth'), zbauth.__version__, zbauth.library_version())\n",
        env=env,
        cwd=str(tmp_path),
        python=python,
    )
    assert done.returncode == 0, done.stderr
    path, versions = done.stdout.splitlines()
    assert path.startswith(str(venv)) and path.endswith("site-packages/zbauth/libzbauth.so")
    assert versions == " ".join([zbauth.__version__] * 3)
