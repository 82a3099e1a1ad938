"""Named datasets: which importer reads a name, where its files are, how to fetch them.

A dataset is found, in this order:

1. ``source`` (``--source PATH``): the dataset folder itself, or a folder containing it
   under one of its folder names (``../shared/data`` holds ``FB15k-237/``);
2. ``$KGSTORE_DATA``, a folder holding dataset folders;
3. the download folder, ``<user data dir>/kgstore/datasets/<name>``
   (``~/.local/share/kgstore/datasets/<name>`` on Linux), where
   ``kgstore datasets download NAME`` puts it;
4. for datasets shipped inside an installed package (PyKEEN's Nations, Kinships,
   UMLS), that package's copy, also when ``source`` is given but lacks them (so
   ``--source ../shared/data`` works for every name).

A path instead of a name opens, namespaced by its name:

- a triples file (TSV, CSV or JSON Lines, read as ``--triples`` reads it:
  :class:`~kgstore.importers.files.FileSource`), namespace ``facts`` for ``facts.tsv``;
- a folder of ``train.txt``/``valid.txt``/``test.txt``;
- a folder in OpenKE's id format (``entity2id.txt``, ``train2id.txt``, ...).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs

from kgstore.errors import KgstoreError
from kgstore.importers.base import Dataset, TripleFolder
from kgstore.importers.codex import CodexS
from kgstore.importers.fb15k237 import FB15k237
from kgstore.importers.fetch import fetch_all
from kgstore.importers.files import FileSource, TripleFile, file_namespace
from kgstore.importers.input_errors import InputErrors
from kgstore.importers.markg import MarKG
from kgstore.importers.movielens import MovieLens100K
from kgstore.importers.openke import DB15K, MKGY, OpenKEFolder
from kgstore.importers.pykeen_builtin import UMLS, Kinships, Nations
from kgstore.importers.wn18rr import WN18RR
from kgstore.importers.yago import YAGO310

DATA_ENV = "KGSTORE_DATA"

DATASETS: dict[str, type[Dataset]] = {cls.name: cls for cls in (
    MovieLens100K, FB15k237, WN18RR, CodexS, YAGO310, MarKG, Nations, Kinships, UMLS, DB15K, MKGY)}


def get_dataset_class(name: str) -> type[Dataset]:
    """The importer registered as ``name`` (case-insensitive)."""
    cls = DATASETS.get(name.strip().lower())
    if cls is None:
        raise _unknown(name)
    return cls


def _unknown(name: str) -> KgstoreError:
    return KgstoreError(f"unknown dataset {name!r}",
                        hint=f"Known datasets: {', '.join(DATASETS)} (`kgstore datasets list`). "
                             f"A path works too: {_PATHS}")


_PATHS = ("a triples file (TSV, CSV or JSON Lines of head, relation, tail), a folder "
          "with train.txt, valid.txt and test.txt, or an OpenKE folder (entity2id.txt, train2id.txt, ...).")


def triples_file(name_or_path: str) -> Path | None:
    """The file ``name_or_path`` names when it is an existing file and not a dataset name, else None.

    ``kgstore sync facts.tsv`` uses it to read the argument as one more ``--triples`` file.
    """
    if name_or_path.strip().lower() in DATASETS:
        return None
    path = Path(name_or_path).expanduser()
    return path if path.is_file() else None


def download_dir(name: str) -> Path:
    """Where ``kgstore datasets download NAME`` puts a dataset."""
    return Path(platformdirs.user_data_dir("kgstore", appauthor=False)) / "datasets" / name


def _data_env() -> Path | None:
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def find_root(cls: type[Dataset], source: Path | None = None) -> Path | None:
    """The dataset's folder, searched as the module docstring says; None when absent."""
    places = [Path(source).expanduser()] if source is not None else [_data_env(), download_dir(cls.name)]
    for data_dir in places:
        if data_dir is not None and (root := cls.locate(data_dir)) is not None:
            return root
    return cls.bundled_root()  # also after a --source without it: a folder of other datasets


def _not_found(cls: type[Dataset], source: Path | None) -> KgstoreError:
    if source is not None:
        looked = f"in {source} (and its subfolders {', '.join(cls.folder_names)})"
    else:
        env = _data_env()
        looked = (f"in ${DATA_ENV} ({env if env else 'not set'}) and in {download_dir(cls.name)}")
    needs = ", ".join(cls.required_files)
    fetch = (f"run `kgstore datasets download {cls.name}`" if cls.downloads
             else "install the package that ships it")
    return KgstoreError(
        f"dataset {cls.name} not found: looked {looked} for a folder named "
        f"{' or '.join(cls.folder_names)} with {needs}",
        hint=f"Pass `--source PATH` (the dataset folder or a folder containing it), set {DATA_ENV} to a "
             f"folder holding dataset folders, or {fetch}.")


def _check_options(cls: type[Dataset], options: dict[str, Any]) -> None:
    accepted = [p.name for p in inspect.signature(cls.__init__).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in ("namespace", "errors")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = ", ".join(accepted) if accepted else "none"
        what = cls.name or {FileSource: "a triples file", OpenKEFolder: "an OpenKE folder"}.get(
            cls, "a folder of train/valid/test.txt")
        raise KgstoreError(f"{what} does not take the option(s) {', '.join(unknown)}",
                           hint=f"Options of {what}: {allowed}.")


def open_dataset(name_or_path: str, *, source: Path | None = None, namespace: str | None = None,
                 errors: InputErrors | None = None, **options: Any) -> Dataset:
    """A registered dataset by name, or a triples file or a folder by path (see the module docstring).

    ``options`` go to the importer (``split="ua"`` for MovieLens; ``fmt``, ``encoding``,
    ``entity_files`` ... for a triples file); a path is namespaced by its name unless
    ``namespace`` is given.
    """
    key = name_or_path.strip().lower()
    if key in DATASETS:
        cls = DATASETS[key]
        _check_options(cls, options)
        root = find_root(cls, source)
        if root is None:
            raise _not_found(cls, source)
        if issubclass(cls, OpenKEFolder) and (why := cls.mismatch(root)):
            raise KgstoreError(f"{root} is an OpenKE folder but not {cls.name}: {why}",
                               hint=f"Import it under its own name: `kgstore sync {root}` (namespace "
                                    f"{root.resolve().name!r}, or --namespace NS).")
        return cls(root, namespace=namespace, errors=errors, **options)
    path = Path(name_or_path).expanduser()
    if path.is_file():
        _check_options(FileSource, options)
        return FileSource(namespace=namespace or file_namespace(path), triple_files=[TripleFile(path)],
                          errors=errors, **options)
    if path.is_dir():
        folder_namespace = namespace or path.resolve().name
        if TripleFolder.is_present(path):
            _check_options(TripleFolder, options)
            return TripleFolder(path, namespace=folder_namespace, errors=errors)
        if OpenKEFolder.is_present(path):  # any OpenKE folder, DB15K's too: namespaced by its name
            _check_options(OpenKEFolder, options)
            return OpenKEFolder(path, namespace=folder_namespace, errors=errors)
        if (path / "entity2id.txt").is_file():
            missing = [f for f in OpenKEFolder.required_files if not (path / f).is_file()]
            raise KgstoreError(f"{path} looks like an OpenKE folder but lacks {', '.join(missing)}",
                               hint=f"An OpenKE folder needs {', '.join(OpenKEFolder.required_files)}.")
        named = [cls.name for cls in DATASETS.values() if cls.is_present(path)]
        hint = (f"It looks like {named[0]}: run `kgstore sync {named[0]} --source {path}`." if named
                else f"Give {_PATHS}")
        raise KgstoreError(f"{path} is a folder kgstore cannot read: it has neither train.txt, valid.txt "
                           "and test.txt nor OpenKE's entity2id.txt, relation2id.txt and train2id.txt", hint=hint)
    if os.sep in name_or_path or name_or_path.startswith(".") or path.suffix:
        raise KgstoreError(f"{name_or_path} does not exist (no such file or folder)",
                           hint=f"Give {_PATHS} Or a dataset name: {', '.join(DATASETS)}.")
    raise _unknown(name_or_path)


def dataset_table(source: Path | None = None) -> list[dict[str, Any]]:
    """One row per registered dataset for ``kgstore datasets list``."""
    rows = []
    for name, cls in DATASETS.items():
        try:
            root = find_root(cls, source)
        except KgstoreError:  # a bundled dataset whose package is not installed
            root = None
        rows.append({"name": name, "description": cls.description, "present": root is not None,
                     "path": str(root) if root is not None else None, "licence": cls.licence})
    return rows


def download(name: str, dest: Path | None = None, *, echo: Callable[[str], None] = print) -> Path:
    """Fetch every official file of ``name`` into ``dest`` (default: :func:`download_dir`), verified."""
    cls = get_dataset_class(name)
    if not cls.downloads:
        root = cls.bundled_root()
        if root is not None:
            echo(f"{cls.name} ships inside an installed package ({root}): nothing to download")
            return root
        raise KgstoreError(f"{cls.name} has no download addresses")
    dest = Path(dest).expanduser() if dest is not None else download_dir(cls.name)
    echo(f"{cls.name}: {cls.licence}")
    fetch_all(cls.downloads, dest, echo=echo)
    if not cls.is_present(dest):
        missing = [f for f in cls.required_files if not (dest / f).is_file()]
        raise KgstoreError(f"{cls.name} downloaded to {dest}, but {', '.join(missing)} are still missing",
                           hint="See the importer's docstring for files that must be placed by hand.")
    return dest
