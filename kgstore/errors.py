"""Errors kgstore raises on purpose.

Every error says what went wrong and what to do about it, so the CLI can print
it as-is (no traceback) and a Python caller can still catch one type.
"""

from __future__ import annotations


class KgstoreError(Exception):
    """A failure the user can act on; ``hint`` says how."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n{hint}")


class PrerequisiteError(KgstoreError):
    """A tool kgstore needs (java, mvn) is missing or too old."""


class ServerError(KgstoreError):
    """The managed Neo4j server could not be installed, started or stopped."""


class ConnectionFailed(KgstoreError):
    """No Neo4j answered at the configured URI, or it refused the credentials."""
