"""Optional extras in tests: skipped on a developer's machine without them, a failure in CI.

``pytest.importorskip`` alone would let a CI run that forgot to install the ``train`` or
``serve`` extra pass green while never running the trainer or sidecar tests. Under
``CI=true`` (set by every CI service, and by this project's CI) a missing extra raises
instead, so the run fails and says which package is missing.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(module: str, *, reason: str) -> ModuleType:
    """``module``, imported; a skip with ``reason`` when it is missing, except in CI where it fails."""
    if in_ci():
        try:
            return importlib.import_module(module)
        except ImportError as exc:
            raise ImportError(f"CI must run every test, but {module!r} is not installed: {reason}") from exc
    return pytest.importorskip(module, reason=reason)
