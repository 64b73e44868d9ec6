"""Where the library is looked for, and what a missing one says. Each case
runs in a new interpreter: a process loads the library once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import PACKAGE_SRC, run_python

PROBE = (
    "import zbauth\n"
    "for f in (zbauth.Client, zbauth.library_version):\n"
    "    try:\n"
    "        f()\n"
    "    except zbauth.LibraryError as e:\n"
    "        assert isinstance(e, ImportError) and isinstance(e, zbauth.Error) and e.code is None\n"
    "        print(e)\n"
)


def test_missing_library_at_zbauth_library() -> None:
    env = dict(os.environ, ZBAUTH_LIBRARY="/nonexistent/dir/libzbauth.so")
    done = run_python(PROBE, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert "/nonexistent/dir/libzbauth.so ($ZBAUTH_LIBRARY): no such file" in lines[0]


def test_missing_library_beside_the_package(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE_SRC / "zbauth", tmp_path / "zbauth", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "ZBAUTH_LIBRARY"}
    env["PYTHONPATH"] = str(tmp_path)
    done = run_python(PROBE, env=env, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    expected = str(tmp_path / "zbauth" / "libzbauth.so")
    assert "looked at %s (beside the zbauth package): no such file" % expected in done.stdout
    assert "ZBAUTH_LIBRARY" in done.stdout  # says how to point at one


def test_a_file_that_is_not_the_library(tmp_path: Path) -> None:
    bogus = tmp_path / "libzbauth.so"
    bogus.write_text("not an ELF file")
    done = run_python(PROBE, env=dict(os.environ, ZBAUTH_LIBRARY=str(bogus)))
    assert done.returncode == 0, done.stderr
    assert "cannot load libzbauth from %s" % bogus in done.stdout


def test_library_at_zbauth_library_is_used() -> None:
    lib = os.environ.get("ZBAUTH_LIBRARY")
    done = run_python("import zbauth, zbauth._native as n; zbauth.Client().close(); print(n.path())")
    assert done.returncode == 0, done.stderr
    if lib:
        assert done.stdout.strip() == lib
    else:
        assert done.stdout.strip() == str(PACKAGE_SRC / "zbauth" / "libzbauth.so")


def test_relative_zbauth_library_is_taken_from_the_working_directory(tmp_path: Path) -> None:
    lib = os.environ.get("ZBAUTH_LIBRARY") or str(PACKAGE_SRC / "zbauth" / "libzbauth.so")
    shutil.copy(lib, tmp_path / "libzbauth.so")
    env = dict(os.environ, ZBAUTH_LIBRARY="libzbauth.so")
    done = run_python("import zbauth, zbauth._native as n; zbauth.Client().close(); print(n.path())", env=env,
                      cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "libzbauth.so")
