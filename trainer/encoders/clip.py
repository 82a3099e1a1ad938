"""CLIP encoders via open_clip: an image tower and a text tower that share one space.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision",
ICML 2021, https://arxiv.org/abs/2103.00020; implementation: OpenCLIP
(https://github.com/mlfoundations/open_clip). Features are the L2-normalised outputs of
``encode_image`` / ``encode_text`` (``embed_dim`` wide).

``model`` is any open_clip architecture name (``open_clip.list_models()``: ``ViT-B-32``,
``RN50`` ...) or the path of a model-config JSON (registered with
``open_clip.add_model_config``), so small custom towers work too. Weights come from
``checkpoint``, a local file that ``open_clip.create_model_and_transforms(pretrained=...)``
loads (``weights_only``); no model hub is contacted. Without a checkpoint the towers are
randomly initialised: useful for tests, useless for retrieval.

.. note:: open_clip (and torchvision) are imported when a tower is built, never at import
   time of this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainer.encoders.image import ImageEncoder
from trainer.encoders.text import TextEncoder

OPEN_CLIP_HINT = "pip install open_clip_torch torchvision (matching your torch build)"
_MODELS: dict[tuple[str, str | None, str], tuple[Any, Any, Any]] = {}


def _model_name(model: str) -> str:
    import open_clip

    path = Path(model).expanduser()
    if model.endswith(".json") and path.is_file():
        open_clip.add_model_config(path)
        return path.stem
    if model not in open_clip.list_models():
        raise ValueError(f"unknown open_clip model {model!r}: use one of {', '.join(open_clip.list_models()[:12])}, "
                         f"... (open_clip.list_models()) or the path of a model-config JSON")
    return model


def load_open_clip(model: str, checkpoint: str | Path | None, device: str) -> tuple[Any, Any, Any]:
    """``(model, image preprocessing, tokenizer)``, built once per (model, checkpoint, device)."""
    key = (model, str(checkpoint) if checkpoint else None, device)
    if key not in _MODELS:
        try:
            import open_clip
        except ImportError as exc:
            raise ImportError(f"open_clip encoders need open_clip_torch: {OPEN_CLIP_HINT}") from exc
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise FileNotFoundError(f"open_clip checkpoint {checkpoint} does not exist: give a local weights file "
                                    "(no model hub is contacted)")
        name = _model_name(model)
        net, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=str(checkpoint) if checkpoint else None, device=device)
        _MODELS[key] = (net.eval(), preprocess, open_clip.get_tokenizer(name))
    return _MODELS[key]


def _identity(model: str, checkpoint: str | Path | None) -> str:
    """A cache name that changes with the architecture and the weights file."""
    stem = Path(model).stem if model.endswith(".json") else model
    if checkpoint is None:
        return f"open_clip-{stem}-random"
    digest = hashlib.sha256(str(Path(checkpoint).resolve()).encode()).hexdigest()[:10]
    return f"open_clip-{stem}-{digest}"


class OpenClipImageEncoder(ImageEncoder):
    """The image tower of an open_clip model."""

    def __init__(self, *, model: str, checkpoint: str | Path | None = None, device: str = "cpu") -> None:
        self.net, self._preprocess, _ = load_open_clip(model, checkpoint, device)
        self.device, self.name = device, _identity(model, checkpoint)
        self.dim = int(self.net.visual.output_dim)

    def preprocess(self, image: Any) -> Any:
        return self._preprocess(image)

    def features(self, batch: Any) -> Any:
        return self.net.encode_image(batch, normalize=True)


class OpenClipTextEncoder(TextEncoder):
    """The text tower of an open_clip model."""

    def __init__(self, *, model: str, checkpoint: str | Path | None = None, device: str = "cpu") -> None:
        self.net, _, self.tokenizer = load_open_clip(model, checkpoint, device)
        self.device, self.name = device, _identity(model, checkpoint)
        self.dim = int(self.net.text_projection.shape[1] if hasattr(self.net, "text_projection")
                       and self.net.text_projection is not None else self.net.visual.output_dim)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        bar = tqdm(total=len(texts), desc=f"encode text ({self.name})", unit="item", disable=not progress)
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                chunk = list(texts[start:start + batch_size])
                tokens = self.tokenizer(chunk).to(self.device)
                out[start:start + len(chunk)] = self.net.encode_text(tokens, normalize=True).float().cpu().numpy()
                bar.update(len(chunk))
        bar.close()
        return out
