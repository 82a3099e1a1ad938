"""A content-addressed cache of frozen-encoder features: each text or image is encoded once.

A cache is one encoder's features for one modality, in a folder (by default the
snapshot's ``features/``)::

    features/<modality>-<encoder>.npy        float32 [n, dim]  (row i = keys[i])
    features/<modality>-<encoder>.keys.json  ["<sha256>", ...]

Keys are content hashes: an image's sha256 (the ``:Image`` node's, i.e. of the file's
bytes) and the sha256 of a text's UTF-8 bytes. Asking for keys the cache lacks encodes
just those (a re-run after adding ten posters encodes ten images) and appends them;
the two files are replaced atomically, so a killed run leaves the previous cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def text_key(text: str) -> str:
    """The cache key of a text: sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha256(path: str | Path) -> str:
    """The cache key of an image file: sha256 of its bytes (as ``kgstore sync`` stores it)."""
    return hashlib.sha256(Path(str(path).removeprefix("file://")).read_bytes()).hexdigest()


def keys_path_of(matrix_path: Path) -> Path:
    """The key list that belongs to a cache's matrix file (``<stem>.npy`` -> ``<stem>.keys.json``)."""
    return matrix_path.with_name(matrix_path.name.removesuffix(".npy") + ".keys.json")


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0


class FeatureCache:
    """Features of one ``modality`` (``text``/``image``) by one encoder (``encoder`` names its weights)."""

    def __init__(self, folder: Path | str, *, modality: str, encoder: str) -> None:
        self.folder = Path(folder)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", encoder)
        self.matrix_path = self.folder / f"{modality}-{slug}.npy"
        self.keys_path = keys_path_of(self.matrix_path)
        self.stats = CacheStats()
        self._keys: list[str] = []
        self._matrix: np.ndarray | None = None
        if self.matrix_path.is_file() and self.keys_path.is_file():
            keys = json.loads(self.keys_path.read_text())
            matrix = np.load(self.matrix_path)
            if len(keys) == len(matrix):  # else a torn pair from an older crash: start over
                self._keys, self._matrix = keys, matrix
        self._row = {key: i for i, key in enumerate(self._keys)}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in self._row

    def get(self, items: dict[str, Any], encode: Callable[[Sequence[Any]], np.ndarray]) -> np.ndarray:
        """Features ``[len(items), dim]`` in ``items`` order; ``items`` maps key -> what ``encode`` takes.

        Keys already cached are hits; the rest are encoded in one call (``encode(list of
        values) -> [m, dim]``), appended and saved. ``self.stats`` counts both.
        """
        keys = list(items)
        missing = [k for k in dict.fromkeys(keys) if k not in self._row]
        self.stats.hits += len(set(keys)) - len(missing)
        self.stats.misses += len(missing)
        if missing:
            new = np.asarray(encode([items[k] for k in missing]), dtype=np.float32)
            if new.ndim != 2 or len(new) != len(missing):
                raise ValueError(f"encoder returned shape {new.shape} for {len(missing)} items")
            if self._matrix is not None and self._matrix.shape[1] != new.shape[1]:
                raise ValueError(f"{self.matrix_path} holds {self._matrix.shape[1]}-d features but the encoder "
                                 f"gives {new.shape[1]}-d: delete the cache file")
            self._matrix = new if self._matrix is None else np.concatenate([self._matrix, new])
            for key in missing:
                self._row[key] = len(self._keys)
                self._keys.append(key)
            self._save()
        if not keys:
            return np.zeros((0, 0 if self._matrix is None else self._matrix.shape[1]), dtype=np.float32)
        return self._matrix[[self._row[k] for k in keys]]

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp_matrix = self.matrix_path.with_name(f".{self.matrix_path.name}.{os.getpid()}.npy")
        tmp_keys = self.keys_path.with_name(f".{self.keys_path.name}.{os.getpid()}")
        np.save(tmp_matrix, self._matrix)
        tmp_keys.write_text(json.dumps(self._keys))
        os.replace(tmp_matrix, self.matrix_path)
        os.replace(tmp_keys, self.keys_path)
