"""Fetching a dataset's official files, verified by sha256, for users who are online.

Nothing else in kgstore touches the network for data, and the tests never do (they
check this module with ``file://`` URLs). A file is written under ``<name>.part``
while it streams and hashed on the way; only a file whose hash matches is renamed
into place, so an interrupted or tampered download never looks like data.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import quote

from kgstore.errors import KgstoreError
from kgstore.importers.base import Download

CHUNK = 1 << 20
TIMEOUT_S = 60


def github_raw(repo: str, commit: str, path: str) -> str:
    """The raw-file URL of ``path`` in ``repo`` at a fixed ``commit`` (the path is URL-quoted)."""
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{quote(path)}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_all(downloads: Iterable[Download], dest: Path, *, echo: Callable[[str], None] = print) -> Path:
    """Fetch and verify every download into ``dest``; files already there and verified are kept."""
    dest.mkdir(parents=True, exist_ok=True)
    for download in downloads:
        fetch(download, dest, echo=echo)
    return dest


def fetch(download: Download, dest: Path, *, echo: Callable[[str], None] = print) -> None:
    """Fetch one file into ``dest`` (and unpack it when asked), verifying every checksum."""
    if not download.sha256 and not download.members:
        raise KgstoreError(f"{download.url} has no pinned checksum, so kgstore will not fetch it",
                           hint="Add its sha256 (or the sha256 of its archive members) to the importer.")
    target = _inside(dest, download.filename, download.url)
    if download.members and all(_verified(_inside(dest, m, download.url), sha) for m, sha in download.members):
        echo(f"up to date: {download.filename} ({len(download.members)} files verified)")
        return
    if download.sha256 and _verified(target, download.sha256):
        echo(f"up to date: {download.filename}")
    else:
        echo(f"downloading {download.url}")
        _stream(download.url, target, download.sha256)
    if download.unpack:
        echo(f"unpacking {download.filename}")
        _unpack(target, dest, download)


def _inside(dest: Path, relative: str, url: str) -> Path:
    """``dest / relative``, refusing absolute paths and ``..`` (archives are not trusted)."""
    parts = PurePosixPath(relative.removeprefix("./")).parts
    if not parts or parts[0] == "/" or ".." in parts:
        raise KgstoreError(f"{url}: refusing to write {relative!r} outside {dest}")
    return dest.joinpath(*parts)


def _verified(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_of(path) == sha256


def _mismatch(url: str, what: str, expected: str, actual: str) -> KgstoreError:
    return KgstoreError(
        f"checksum mismatch for {what} from {url}: expected sha256 {expected}, got {actual}",
        hint="The file was deleted. The download was corrupted or the file changed upstream: retry, "
             "and if it fails again report it (the importer's pinned checksum may need updating).")


def _stream(url: str, target: Path, sha256: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, partial.open("wb") as out:
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise KgstoreError(f"could not download {url}: {reason}",
                           hint=f"Check the connection and retry, or fetch the file yourself to {target}.") from exc
    actual = digest.hexdigest()
    if sha256 and actual != sha256:
        partial.unlink(missing_ok=True)
        raise _mismatch(url, target.name, sha256, actual)
    partial.replace(target)


def _unpack(archive: Path, dest: Path, download: Download) -> None:
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zipped:
            if download.members:
                names = {n.removeprefix("./"): n for n in zipped.namelist()}
                for member, sha256 in download.members:
                    if member not in names:
                        raise KgstoreError(f"{download.url}: the archive has no {member!r}")
                    with zipped.open(names[member]) as source:
                        _write_member(source, _inside(dest, member, download.url), sha256, download.url)
            else:
                for member in zipped.namelist():
                    _inside(dest, member, download.url)  # refuses unsafe names before extracting any
                zipped.extractall(dest)
    elif name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        with tarfile.open(archive) as tarred:
            if download.members:
                infos = {m.name.removeprefix("./"): m for m in tarred.getmembers() if m.isfile()}
                for member, sha256 in download.members:
                    extracted = tarred.extractfile(infos[member]) if member in infos else None
                    if extracted is None:
                        raise KgstoreError(f"{download.url}: the archive has no file {member!r}")
                    with extracted:
                        _write_member(extracted, _inside(dest, member, download.url), sha256, download.url)
            else:
                tarred.extractall(dest, filter="data")
    else:
        raise KgstoreError(f"{download.url}: cannot unpack {archive.name} (not .zip or .tar[.gz|.bz2|.xz])")


def _write_member(source: IO[bytes], target: Path, sha256: str, url: str) -> None:
    """Copy one archive member to ``target`` and verify it; a mismatching file is deleted."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with partial.open("wb") as out:
        shutil.copyfileobj(source, out, CHUNK)
    actual = sha256_of(partial)
    if actual != sha256:
        partial.unlink(missing_ok=True)
        raise _mismatch(url, target.name, sha256, actual)
    partial.replace(target)
