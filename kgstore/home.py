"""The kgstore home: where the managed server keeps data, config, logs and its password,
and where kgstore keeps models, snapshots and images.

This module is the one owner of the home's folder layout: every other module asks
:class:`KgstoreHome` for a path instead of joining names itself.

```
<home>/kgstore.json, password          settings and the generated password
<home>/server/{conf,data,logs,plugins,run}   the managed Neo4j (NEO4J_HOME); logs/sidecar.log
                                       and run/sidecar.pid belong to `kgstore serve --detach`
<home>/models/<model>/<UTC time>/      one checkpoint per training run; latest -> the newest
<home>/models/<model>/generators/<kind>/<UTC time>/   text/image generators trained on it; latest
<home>/snapshots/<namespaces|all>/     graph snapshots exported for training
<home>/images/                         content-addressed image files (sha256)
```

One home is one independent Neo4j server. ``KGSTORE_HOME`` picks the home for every
command and for the tests, so two homes give two servers side by side.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

HOME_ENV = "KGSTORE_HOME"
SETTINGS_FILE = "kgstore.json"
PASSWORD_FILE = "password"
PASSWORD_ALPHABET = string.ascii_letters + string.digits
DEFAULT_BOLT_PORT = 7687
DEFAULT_HTTP_PORT = 7474
DEFAULT_SIDECAR_PORT = 8765
LATEST = "latest"  # models/<model>/latest: the link to the newest checkpoint
GENERATORS = "generators"  # models/<model>/generators/<kind>/: text and image generators of the model


def default_home() -> Path:
    """``$KGSTORE_HOME`` when set, else the per-user data folder (``~/.local/share/kgstore``)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_data_dir("kgstore", appauthor=False))


@dataclass
class HomeSettings:
    """What a home remembers between commands (ports, the Neo4j version, the user)."""

    bolt_port: int = DEFAULT_BOLT_PORT
    http_port: int = DEFAULT_HTTP_PORT
    sidecar_port: int = DEFAULT_SIDECAR_PORT
    listen_address: str = "127.0.0.1"
    neo4j_version: str | None = None
    java_home: str | None = None  # the JDK the server runs on (None: JAVA_HOME, PATH, or a new enough one)
    user: str = "neo4j"
    heap_size: str = "1g"
    pagecache_size: str = "512m"


class KgstoreHome:
    """Paths and persisted settings of one kgstore home."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root else default_home()

    # Folders Neo4j itself uses (its NEO4J_HOME is the server/ subfolder).
    @property
    def server_dir(self) -> Path:
        return self.root / "server"

    @property
    def conf_dir(self) -> Path:
        return self.server_dir / "conf"

    @property
    def data_dir(self) -> Path:
        return self.server_dir / "data"

    @property
    def logs_dir(self) -> Path:
        return self.server_dir / "logs"

    @property
    def plugins_dir(self) -> Path:
        return self.server_dir / "plugins"

    @property
    def run_dir(self) -> Path:
        return self.server_dir / "run"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "kgstore-neo4j.pid"

    @property
    def console_log(self) -> Path:
        return self.logs_dir / "console.log"

    @property
    def neo4j_log(self) -> Path:
        return self.logs_dir / "neo4j.log"

    # The sidecar started by `kgstore serve --detach` keeps its pid and log beside Neo4j's.
    @property
    def sidecar_pid_file(self) -> Path:
        return self.run_dir / "sidecar.pid"

    @property
    def sidecar_log(self) -> Path:
        return self.logs_dir / "sidecar.log"

    # What kgstore itself keeps: trained models, graph snapshots, image files.
    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def model_dir(self, model: str) -> Path:
        """``models/<model>``: one folder per training run, plus the ``latest`` link."""
        return self.models_dir / model

    def new_checkpoint_dir(self, model: str) -> Path:
        """``models/<model>/<UTC time>``: every training run keeps its own folder."""
        return self.model_dir(model) / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())

    def latest_link(self, model: str) -> Path:
        return self.model_dir(model) / LATEST

    def latest_checkpoint(self, model: str) -> Path | None:
        """The folder ``models/<model>/latest`` points at, or None before the first training run."""
        link = self.latest_link(model)
        return link.resolve() if link.exists() else None

    def checkpoint_dirs(self, model: str) -> list[Path]:
        """The model's training runs (``models/<model>/<UTC time>``), oldest first."""
        folder = self.model_dir(model)
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and p.name != GENERATORS)

    def generators_dir(self, model: str, kind: str) -> Path:
        """``models/<model>/generators/<kind>``: a generator's runs, beside the KG model's; ``latest`` inside."""
        return self.model_dir(model) / GENERATORS / kind

    def new_generator_dir(self, model: str, kind: str) -> Path:
        return self.generators_dir(model, kind) / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())

    def latest_generator(self, model: str, kind: str) -> Path | None:
        link = self.generators_dir(model, kind) / LATEST
        return link.resolve() if link.exists() else None

    def model_names(self) -> list[str]:
        """Models that have checkpoints here, sorted."""
        if not self.models_dir.is_dir():
            return []
        return sorted(p.name for p in self.models_dir.iterdir() if p.is_dir())

    def snapshot_dir(self, namespaces: list[str] | None = None) -> Path:
        """``snapshots/<ns1-ns2>`` (``all`` for the whole graph): the export's cache folder."""
        names = sorted(set(namespaces or []))
        return self.root / "snapshots" / ("-".join(names) if names else "all")

    @property
    def images_dir(self) -> Path:
        """The default content-addressed image store (``--image-store`` overrides it)."""
        return self.root / "images"

    @property
    def password_file(self) -> Path:
        return self.root / PASSWORD_FILE

    @property
    def settings_file(self) -> Path:
        return self.root / SETTINGS_FILE

    def exists(self) -> bool:
        return self.settings_file.is_file()

    def load_settings(self) -> HomeSettings:
        if not self.settings_file.is_file():
            return HomeSettings()
        raw = json.loads(self.settings_file.read_text())
        known = {k: v for k, v in raw.items() if k in HomeSettings.__dataclass_fields__}
        return HomeSettings(**known)

    def save_settings(self, settings: HomeSettings) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(json.dumps(asdict(settings), indent=2) + "\n")

    def read_password(self) -> str | None:
        if not self.password_file.is_file():
            return None
        return self.password_file.read_text().strip() or None

    def write_password(self, password: str | None = None) -> str:
        """Keep ``password`` (or a generated one) in a file only the owner can read."""
        # Letters and digits only: a generated password starting with "-" (one in 64 of
        # token_urlsafe's) would be read as an option by neo4j-admin set-initial-password.
        password = password or "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(24))
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        os.chmod(self.password_file, 0o600)
        return password

    def __repr__(self) -> str:
        return f"KgstoreHome({str(self.root)!r})"
