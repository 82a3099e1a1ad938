"""Text and image features of a snapshot's entities, and text/image queries in the entity space.

Training with ``TrainConfig.modalities`` (``["text"]``, ``["image"]`` or both):

- **text** of an entity is ``"<name>. <description>"`` (or whichever of the two it has;
  none: the entity has no text), encoded by ``config.text_encoder``;
- **image** features of an entity are the mean of its images' features (its
  ``HAS_IMAGE`` links in the snapshot), encoded by ``config.image_encoder`` from the files
  the ``:Image`` nodes' URIs point to.

Every distinct text and image is encoded once and cached by content hash in the snapshot's
``features/`` folder (:mod:`trainer.feature_cache`); encoders load only when something is
missing from the cache, and run on the training device (batched on the GPU when there is
one). The checkpoint gets a manifest (:func:`manifest`: encoders, widths, coverage; saved
by :class:`trainer.checkpoint.Checkpoint`) so that :func:`embed_query` can later encode a
text or an image with the same encoder and project it with the trained alignment head
into the space of the written-back entity vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.checkpoint import Checkpoint
from trainer.config import TrainConfig
from trainer.encoders.factory import image_encoder, parse_encoder_name, text_encoder
from trainer.feature_cache import CacheStats, FeatureCache, text_key
from trainer.snapshot import Snapshot


@dataclass
class ModalityData:
    """One modality's raw features for every entity (zeros where ``present`` is False)."""

    modality: str
    encoder: str
    features: np.ndarray  # float32 [E, d]
    present: np.ndarray  # bool [E]
    stats: CacheStats

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])


def entity_texts(snapshot: Snapshot) -> list[str | None]:
    """``"name. description"`` per entity (either part alone when the other is missing; None when both are)."""
    count = snapshot.num_entities
    names = snapshot.entity_text.get("name") or [None] * count
    descriptions = snapshot.entity_text.get("description") or [None] * count
    texts: list[str | None] = []
    for name, description in zip(names, descriptions, strict=True):
        parts = [p.strip() for p in (name, description) if p and p.strip()]
        texts.append(". ".join(parts) if parts else None)
    return texts


def cache_name(encoder: str, checkpoint: str | Path | None, *, modality: str) -> str:
    """The cache identity of ``modality``'s encoder ``encoder`` (see :meth:`EncoderName.cache_name`)."""
    return parse_encoder_name(encoder, modality=modality).cache_name(checkpoint)


def _device(config: TrainConfig) -> str:
    import torch

    return config.device if config.device.startswith("cuda") and torch.cuda.is_available() else "cpu"


def text_features(snapshot: Snapshot, config: TrainConfig, *, cache_dir: Path,
                  progress: bool | None = None) -> ModalityData:
    """Text features ``[E, d]`` of the snapshot's entities through the cache."""
    texts = entity_texts(snapshot)
    items = {text_key(t): t for t in texts if t}
    if not items:
        raise ValueError("no entity has a name or description, so there is no text to encode: "
                         "drop 'text' from the modalities")
    cache = FeatureCache(cache_dir, modality="text",
                         encoder=cache_name(config.text_encoder, config.text_checkpoint, modality="text"))

    def encode(values: list[str]) -> np.ndarray:
        encoder = text_encoder(config.text_encoder, checkpoint=config.text_checkpoint, device=_device(config))
        return encoder.encode(values, progress=progress is not False)

    matrix = cache.get(items, encode)
    row = {key: i for i, key in enumerate(items)}
    present = np.array([t is not None for t in texts])
    features = np.zeros((len(texts), matrix.shape[1]), dtype=np.float32)
    features[present] = matrix[[row[text_key(t)] for t in texts if t]]
    return ModalityData("text", config.text_encoder, features, present, cache.stats)


def image_features(snapshot: Snapshot, config: TrainConfig, *, cache_dir: Path,
                   progress: bool | None = None) -> ModalityData:
    """Image features ``[E, d]`` (mean over each entity's images) through the cache."""
    per_entity = snapshot.entity_images or [[] for _ in range(snapshot.num_entities)]
    shas = sorted({sha for images in per_entity for sha in images})
    if not shas:
        raise ValueError("no entity has an image (no HAS_IMAGE links in the snapshot): drop 'image' from the "
                         "modalities, or sync a dataset with images (`kgstore sync ... --image-store DIR`)")
    missing_uri = [sha for sha in shas if not snapshot.image_uris.get(sha)]
    if missing_uri:
        raise ValueError(f"{len(missing_uri)} images have no URI in the snapshot (e.g. sha256 {missing_uri[0]}): "
                         "export the snapshot again from a graph synced with an image store")
    cache = FeatureCache(cache_dir, modality="image",
                         encoder=cache_name(config.image_encoder, config.image_checkpoint, modality="image"))

    def encode(uris: list[str]) -> np.ndarray:
        encoder = image_encoder(config.image_encoder, checkpoint=config.image_checkpoint, device=_device(config))
        return encoder.encode(uris, progress=progress is not False)

    matrix = cache.get({sha: snapshot.image_uris[sha] for sha in shas}, encode)
    row = {sha: i for i, sha in enumerate(shas)}
    features = np.zeros((snapshot.num_entities, matrix.shape[1]), dtype=np.float32)
    present = np.zeros(snapshot.num_entities, dtype=bool)
    for entity, images in enumerate(per_entity):
        if images:
            features[entity] = matrix[[row[sha] for sha in images]].mean(0)
            present[entity] = True
    return ModalityData("image", config.image_encoder, features, present, cache.stats)


def prepare_modalities(snapshot: Snapshot, config: TrainConfig, *, cache_dir: Path | None = None,
                       progress: bool | None = None) -> dict[str, ModalityData]:
    """The features of ``config.modalities``; ``cache_dir`` defaults to the snapshot's ``features/``."""
    folder = cache_dir or snapshot.feature_dir
    if folder is None:
        raise ValueError("an unsaved snapshot has no features/ folder: pass cache_dir")
    makers = {"text": text_features, "image": image_features}
    return {m: makers[m](snapshot, config, cache_dir=Path(folder), progress=progress) for m in config.modalities}


def manifest(config: TrainConfig, data: dict[str, ModalityData]) -> dict[str, Any]:
    """What query time needs to rebuild the encoders and the model's shapes (the checkpoint keeps it)."""
    checkpoints = {"text": config.text_checkpoint, "image": config.image_checkpoint}
    return {"fusion": "gated-sum", "modalities": {
        m: {"encoder": d.encoder, "checkpoint": str(checkpoints[m]) if checkpoints[m] else None, "dim": d.dim,
            "entities": int(d.present.sum()), "encoded": d.stats.misses, "cached": d.stats.hits}
        for m, d in data.items()}}


def embed_query(checkpoint: Path | str, *, text: str | None = None, image: str | Path | None = None,
                device: str = "cpu", model: Any = None) -> np.ndarray:
    """A text or an image (file path) as a ``float32 [dim]`` vector in the checkpoint's entity space.

    The query goes through the checkpoint's own encoder and alignment head, so it can be
    searched in the vector index of the written-back entity vectors (cosine). ``model``
    reuses an already loaded ``KGModel`` of this checkpoint.
    """
    import torch

    if (text is None) == (image is None):
        raise ValueError("give exactly one of text or image")
    saved = Checkpoint(checkpoint)
    trained_with = saved.read_modalities()
    modality = "text" if text is not None else "image"
    if trained_with is None or modality not in trained_with["modalities"]:
        trained = ", ".join(trained_with["modalities"]) if trained_with else "none (structure only)"
        raise ValueError(f"checkpoint {saved.folder} was trained without the {modality} modality (its modalities: "
                         f"{trained}): train with `kgstore train --modalities text,image`")
    info = trained_with["modalities"][modality]
    if model is None:
        model = saved.load_model(device=device)
    if modality == "text":
        if not text.strip():
            raise ValueError("the text query is empty")
        raw = text_encoder(info["encoder"], checkpoint=info["checkpoint"], device=device).encode([text])
    else:
        raw = image_encoder(info["encoder"], checkpoint=info["checkpoint"], device=device).encode([image])
    with torch.no_grad():
        vector = model.encoder.features.project_query(modality, torch.as_tensor(raw))
    return vector[0].float().cpu().numpy()


def modality_vectors(checkpoint: Path | str, *, device: str = "cpu",
                     model: Any = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per modality of a multimodal checkpoint, ``(entity ids, float32 [n, dim] vectors)`` of
    the entities that have it: the alignment head applied to each entity's own text or image.

    These are what a text or image query is best compared with: :func:`embed_query` puts
    the query through the same head, so the comparison is text with text (or image with
    image) in the shared space, plus text with image across it. Empty for a checkpoint
    trained without modalities.
    """
    import torch

    saved = Checkpoint(checkpoint)
    if saved.read_modalities() is None:
        return {}
    if model is None:
        model = saved.load_model(device=device)
    features = model.encoder.features
    vectors = {}
    with torch.no_grad():
        for modality in features.modalities:
            ids = torch.nonzero(features.present(modality)).flatten()
            vectors[modality] = (ids.cpu().numpy(), features.aligned(modality, ids).float().cpu().numpy())
    return vectors

