"""Build hook: the wheel bundles libzbauth.so, so it is platform-specific.

The library is not built here (that needs Go): `make python` builds it with
`make lib` and copies it to src/zbauth/libzbauth.so before building the
wheel. This hook refuses to build a wheel without it, and tags the wheel
py3-none-<platform>: any Python 3 (ctypes, no extension module), this
operating system and architecture only.
"""

from __future__ import annotations

import os
import sysconfig
from typing import Any, Dict

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

LIBRARY = os.path.join("src", "zbauth", "libzbauth.so")


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        if not os.path.isfile(os.path.join(self.root, LIBRARY)):
            raise RuntimeError(
                "%s is missing: build the library with `make lib` and copy build/lib/libzbauth.so there "
                "(`make python` does both)" % LIBRARY
            )
        platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        build_data["pure_python"] = False
        build_data["tag"] = "py3-none-" + platform
