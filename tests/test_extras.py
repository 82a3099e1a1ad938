"""A missing optional extra skips its tests on a developer's machine and fails them in CI."""

from __future__ import annotations

import pytest

from tests.extras import require


def test_a_missing_extra_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(ImportError, match="CI must run every test, but 'kgstore_no_such_extra' is not installed"):
        require("kgstore_no_such_extra", reason="pip install kgstore[nothing]")


def test_a_missing_extra_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="pip install kgstore"):
        require("kgstore_no_such_extra", reason="pip install kgstore[nothing]")


def test_a_present_extra_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert require("json", reason="stdlib").dumps([1]) == "[1]"
