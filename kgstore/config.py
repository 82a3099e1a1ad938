"""Connection settings, resolved the same way by every command and the Python API.

Each field comes from the first of: an explicit value (CLI flag or argument), the
environment (``NEO4J_URI``, ``NEO4J_USERNAME``, ``NEO4J_PASSWORD``, ``NEO4J_DATABASE``),
and the managed server of the current kgstore home. The managed server's password is
only used for the managed server's own URI, never sent to a server named elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kgstore.home import KgstoreHome

URI_ENV = "NEO4J_URI"
USER_ENV = "NEO4J_USERNAME"
PASSWORD_ENV = "NEO4J_PASSWORD"
DATABASE_ENV = "NEO4J_DATABASE"


@dataclass(frozen=True)
class ConnectionSettings:
    uri: str
    user: str
    password: str | None
    database: str | None
    source: str  # "managed" when the URI is the managed server of a kgstore home
    home: Path | None = None

    def describe(self) -> str:
        where = f"managed server in {self.home}" if self.source == "managed" else self.source
        return f"{self.uri} as {self.user} (database {self.database or 'default'}; {where})"


def resolve_connection(
    uri: str | None = None,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
    *,
    home: KgstoreHome | Path | str | None = None,
) -> ConnectionSettings:
    """Merge flags, environment and the managed home into one set of connection settings."""
    home = home if isinstance(home, KgstoreHome) else KgstoreHome(home)
    settings = home.load_settings()
    managed_uri = f"bolt://{settings.listen_address}:{settings.bolt_port}"

    chosen_uri = uri or os.environ.get(URI_ENV)
    source = "flag" if uri else ("env" if chosen_uri else "managed")
    if chosen_uri is None or chosen_uri.rstrip("/") in (
        managed_uri, f"neo4j://{settings.listen_address}:{settings.bolt_port}"
    ):
        source = "managed" if home.exists() or chosen_uri is None else source
        chosen_uri = chosen_uri or managed_uri
    chosen_user = user or os.environ.get(USER_ENV) or settings.user
    chosen_password = password or os.environ.get(PASSWORD_ENV)
    if chosen_password is None and source == "managed":
        chosen_password = home.read_password()
    return ConnectionSettings(
        uri=chosen_uri,
        user=chosen_user,
        password=chosen_password,
        database=database or os.environ.get(DATABASE_ENV) or None,
        source=source,
        home=home.root if source == "managed" else None,
    )
