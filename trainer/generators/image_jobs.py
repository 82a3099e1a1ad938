"""The image generator's jobs: train it on a KG model, evaluate it on held-out entities, load it to serve.

What ``kgstore generators train|eval image`` and ``kgstore imagine`` call, and what the
sidecar's ``POST /generate/image`` runs. The KG model comes first (``kgstore train``); the
generator reads that model's entity vectors, the graph's real images (``HAS_IMAGE``; never
a generated one) and names, descriptions and labels from the same snapshot the model was
trained on (or a fresh export).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.home import KgstoreHome
from trainer.generators.checkpoint import GeneratorCheckpoint
from trainer.generators.image import (
    ImageGeneratorConfig,
    TrainLog,
    build_decoder,
    condition_matrix,
    grid,
    noise_seed,
    png_bytes,
    sample,
    to_pixels,
    train_decoder,
)
from trainer.generators.jobs import kg_checkpoint, latest_generator_folder

IMAGE = "image"
HELDOUT_SHARE = 0.1  # at most this share of the entities with an image is held out
GRID_ENTITIES = 8
LABEL_HINT = "genre"  # a relation whose name holds this gives the labels of the conditioning check


def label_relation(relation_names: list[str], wanted: str | None) -> str | None:
    """The relation whose tails label entities for the genre check: ``wanted``, else the first named like a genre."""
    if wanted:
        if wanted not in relation_names:
            raise KgstoreError(f"relation {wanted!r} is not in the graph",
                               hint=f"Relations: {', '.join(relation_names)}")
        return wanted
    return next((r for r in relation_names if LABEL_HINT in r.lower()), None)


def entity_labels(snapshot: Any, relation: str | None) -> list[list[str]]:
    """Per snapshot entity, the names (or keys) of its ``relation`` tails (any split)."""
    labels: list[list[str]] = [[] for _ in range(snapshot.num_entities)]
    if relation is None:
        return labels
    names = snapshot.entity_text.get("name") or [None] * snapshot.num_entities
    r = snapshot.relation_names.index(relation)
    for head, _, tail in snapshot.triples[snapshot.triples[:, 1] == r].tolist():
        labels[head].append(names[tail] or snapshot.entity_keys[tail])
    return [sorted(set(x)) for x in labels]


def text_features(snapshot: Any, config: ImageGeneratorConfig, *, progress: bool) -> np.ndarray | None:
    """The text encoder's feature of each snapshot entity's name and description (zeros without text)."""
    if not config.use_text:
        return None
    from trainer.config import TrainConfig
    from trainer.modalities import text_features as encode_texts

    if snapshot.feature_dir is None:
        raise ValueError("the snapshot has no folder for its feature cache")
    train_config = TrainConfig(modalities=["text"], text_encoder=config.text_encoder, device=config.device)
    try:
        return encode_texts(snapshot, train_config, cache_dir=snapshot.feature_dir, progress=progress).features
    except ValueError:  # no entity has text: the vector alone conditions
        return None


@dataclass
class TrainingSet:
    """What one training run works from, in the KG model's entity order."""

    keys: list[str]
    conditions: np.ndarray  # float32 [E, d]
    images: dict[str, list[str]]  # key -> file URIs of its real images (entities with images only)
    labels: dict[str, list[str]]  # key -> label names (entities with images only)
    label_relation: str | None


def training_set(snapshot: Any, keys: list[str], vectors: np.ndarray, config: ImageGeneratorConfig, *,
                 labels_from: str | None, progress: bool) -> TrainingSet:
    row = {key: i for i, key in enumerate(snapshot.entity_keys)}
    texts = text_features(snapshot, config, progress=progress)
    text_rows = None
    if texts is not None:
        text_rows = np.zeros((len(keys), texts.shape[1]), dtype=np.float32)
        for i, key in enumerate(keys):
            if key in row:
                text_rows[i] = texts[row[key]]
    relation = label_relation(snapshot.relation_names, labels_from)
    per_entity = entity_labels(snapshot, relation)
    images, labels = {}, {}
    for key in keys:
        i = row.get(key)
        shas = (snapshot.entity_images or [[]] * snapshot.num_entities)[i] if i is not None else []
        uris = [snapshot.image_uris[s] for s in shas if snapshot.image_uris.get(s)]
        if uris:
            images[key] = uris
            labels[key] = per_entity[i]
    return TrainingSet(keys, condition_matrix(vectors, text_rows), images, labels, relation)


def heldout_keys(with_images: list[str], config: ImageGeneratorConfig) -> list[str]:
    """A fixed, seeded set of entities with images that training never sees."""
    count = min(config.heldout, int(len(with_images) * HELDOUT_SHARE))
    rng = np.random.default_rng(config.seed)
    return sorted(rng.choice(sorted(with_images), size=count, replace=False).tolist()) if count else []


def load_pixels(uris: list[str], size: int) -> np.ndarray:
    from trainer.encoders.image import load_rgb

    return to_pixels([load_rgb(u) for u in uris], size)


def train_image_generator(graph: Graph | None, home: KgstoreHome, *, model: str = "default",
                          config: ImageGeneratorConfig | None = None, snapshot: Path | None = None,
                          namespaces: list[str] | None = None, labels_from: str | None = None,
                          progress: bool = True) -> tuple[GeneratorCheckpoint, TrainLog]:
    """Train an image generator on ``model``'s latest checkpoint; returns its checkpoint and log."""
    from trainer.checkpoint import Checkpoint
    from trainer.export import load_or_export
    from trainer.threads import set_threads

    config = config or ImageGeneratorConfig()
    set_threads(None)
    kg = Checkpoint(kg_checkpoint(home, model))
    keys = list(kg.read_vocab()["entity_keys"])
    vectors = kg.read_entity_vectors()
    data = load_or_export(graph, home, snapshot=snapshot, namespaces=namespaces, progress=progress)
    found = training_set(data, keys, vectors, config, labels_from=labels_from, progress=progress)
    if not found.images:
        raise KgstoreError(f"no entity of model {model!r} has an image to learn from",
                           hint="Images are (:Entity)-[:HAS_IMAGE]->(:Image) links: sync a dataset with images "
                                "(e.g. `kgstore sync movielens-100k --source DIR`).")
    heldout = set(heldout_keys(list(found.images), config))
    index = {key: i for i, key in enumerate(keys)}
    pairs = [(key, uri) for key in sorted(found.images) if key not in heldout for uri in found.images[key]]
    pixels = load_pixels([uri for _, uri in pairs], config.size)
    decoder = build_decoder(config, found.conditions.shape[1])
    log, ema = train_decoder(decoder, pixels, found.conditions[[index[k] for k, _ in pairs]], config,
                             progress=progress)
    ema.copy_to(decoder.parameters())  # what is saved and sampled: the averaged weights
    folder = GeneratorCheckpoint.new(home, model, IMAGE)
    folder.save(kind=IMAGE, config=config.to_dict(), kg_checkpoint=kg.folder, vector_dim=int(vectors.shape[1]),
                heldout=sorted(heldout), state={k: v.detach().cpu() for k, v in decoder.state_dict().items()},
                log={"steps": log.steps, "losses": log.losses, "seconds": log.seconds, "examples": log.examples,
                     "train_steps": len(log.steps), "train_images": len(pairs), "label_relation": found.label_relation,
                     "images": found.images, "labels": found.labels},
                arrays={"keys": np.array(keys), "conditions": found.conditions}, loss_name="noise MSE")
    generator = ImageGenerator.load(folder.folder, device=config.device)
    shown = sorted(heldout)[:GRID_ENTITIES]
    if shown:
        generator.sample_grid(shown, found.images).save(folder.samples)
    folder.mark_latest(home.generators_dir(model, IMAGE) / "latest")
    return folder, log


@dataclass
class ImageGenerator:
    """A trained image generator, ready to draw any entity of its KG model."""

    checkpoint: GeneratorCheckpoint
    decoder: Any
    config: ImageGeneratorConfig
    keys: list[str]
    conditions: np.ndarray
    kg_version: str
    heldout: list[str]
    training: dict[str, Any]
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {key: i for i, key in enumerate(self.keys)}

    @classmethod
    def load(cls, folder: Path | str, *, device: str = "cpu") -> ImageGenerator:
        checkpoint = GeneratorCheckpoint(folder)
        meta = checkpoint.read_meta()
        if meta.get("kind") != IMAGE:
            raise ValueError(f"{checkpoint.folder} holds a {meta.get('kind')} generator, not an image generator")
        config = ImageGeneratorConfig.from_dict(meta["config"])
        arrays = checkpoint.read_arrays()
        decoder = build_decoder(config, int(arrays["conditions"].shape[1]))
        decoder.load_state_dict(checkpoint.read_weights())
        decoder.to(device).eval()
        return cls(checkpoint=checkpoint, decoder=decoder, config=config, keys=[str(k) for k in arrays["keys"]],
                   conditions=arrays["conditions"].astype(np.float32), kg_version=meta["kg_version"],
                   heldout=list(meta["heldout"]), training=meta.get("training", {}))

    @classmethod
    def latest(cls, home: KgstoreHome, model: str, **kwargs: Any) -> ImageGenerator:
        return cls.load(latest_generator_folder(home, model, IMAGE), **kwargs)

    @property
    def size(self) -> int:
        return self.config.size

    def unknown(self, keys: list[str]) -> list[str]:
        return [key for key in keys if key not in self.index]

    def imagine(self, keys: list[str], *, seed: int = 0, steps: int | None = None,
                guidance: float | None = None) -> list[np.ndarray]:
        """One ``[size, size, 3]`` uint8 image per key (``KeyError`` naming the first unknown key).

        Each image starts from its own noise, drawn from the key and ``seed`` (``noise_seed``):
        the same key, seed, steps and guidance give the same pixels whatever else is in the
        batch, and two entities drawn with one seed do not share a composition.
        """
        missing = self.unknown(keys)
        if missing:
            raise KeyError(missing[0])
        rows = [self.index[key] for key in keys]
        return list(sample(self.decoder, self.conditions[rows], seeds=[noise_seed(key, seed) for key in keys],
                           steps=steps or self.config.sample_steps,
                           guidance=self.config.guidance if guidance is None else guidance, config=self.config))

    def png(self, pixels: np.ndarray) -> bytes:
        return png_bytes(pixels)

    def sample_grid(self, keys: list[str], images: dict[str, list[str]]) -> Any:
        """Real (top row) vs generated (below) images of ``keys``, at the generator's size."""
        real = list(load_pixels([images[k][0] for k in keys], self.size).transpose(0, 2, 3, 1))
        rows = [real] + [self.imagine(keys, seed=seed) for seed in (0, 1)]
        return grid(rows)


def evaluate_image_generator(home: KgstoreHome, *, model: str = "default", samples: int | None = None,
                             seeds: int = 2, steps: int | None = None, guidance: float | None = None,
                             generator: ImageGenerator | None = None, progress: bool = True) -> dict[str, Any]:
    """FD, KID and the conditioning checks on the held-out entities (see ``image_metrics``).

    Every real image is first resized to the generator's size, so real and generated
    images reach the feature extractor through the same resizing.
    """
    from PIL import Image

    from trainer.encoders.factory import image_encoder
    from trainer.generators import image_metrics as metrics

    generator = generator or ImageGenerator.latest(home, model)
    images: dict[str, list[str]] = generator.training.get("images", {})
    labels: dict[str, list[str]] = generator.training.get("labels", {})
    heldout = [k for k in generator.heldout if k in images][: samples or None]
    if len(heldout) < 2:
        raise KgstoreError(f"the image generator of model {model!r} has {len(heldout)} held-out entities with images; "
                           "the figures need at least two")
    held = set(generator.heldout)
    train_keys = sorted(k for k in images if k not in held)
    size = generator.size
    encoder = image_encoder("efficientnet-lite0", device=str(next(generator.decoder.parameters()).device))

    def features(pixels: np.ndarray | list[np.ndarray]) -> np.ndarray:
        return encoder.encode_images([Image.fromarray(p, mode="RGB") for p in pixels], progress=progress)

    def real_features(keys: list[str]) -> np.ndarray:
        return features(list(load_pixels([images[k][0] for k in keys], size).transpose(0, 2, 3, 1)))

    real_heldout = real_features(heldout)
    generated = [np.stack(generator.imagine(heldout, seed=seed, steps=steps, guidance=guidance))
                 for seed in range(seeds)]
    generated_features = [features(list(batch)) for batch in generated]
    all_generated = np.concatenate(generated_features)
    n = len(all_generated)
    rng = np.random.default_rng(0)
    floor_keys = [train_keys[i] for i in rng.choice(len(train_keys), size=min(n, len(train_keys)), replace=False)]
    real_train_sample = real_features(floor_keys)
    # the conditional samples' seed-0 noise with the condition dropped: only the condition differs
    unconditional = sample(generator.decoder, None, count=len(heldout), seeds=[noise_seed(k, 0) for k in heldout],
                           steps=steps or generator.config.sample_steps, guidance=1.0, config=generator.config)
    unconditional_features = features(list(unconditional))
    result: dict[str, Any] = {
        "model": model, "generator": generator.checkpoint.name, "kg_version": generator.kg_version,
        "size": size, "n": n, "heldout": len(heldout), "seeds": seeds,
        "steps": steps or generator.config.sample_steps,
        "guidance": generator.config.guidance if guidance is None else guidance,
        "train_seconds": generator.training.get("seconds"), "train_steps": generator.training.get("train_steps"),
        "fd": metrics.frechet_distance(all_generated, real_heldout),
        "fd_floor": metrics.frechet_distance(real_train_sample, real_heldout),
        "fd_unconditional": metrics.frechet_distance(unconditional_features, real_heldout),
        "kid": metrics.kernel_distance(all_generated, real_heldout),
        "kid_floor": metrics.kernel_distance(real_train_sample, real_heldout),
    }
    ranks = metrics.retrieval_ranks(generated_features[0], real_heldout)
    result["median_rank"] = float(np.median(ranks))
    result["chance_rank"] = (len(heldout) + 1) / 2
    result["label_relation"] = generator.training.get("label_relation")
    result.update(genre_map=None, genre_map_unconditional=None, genre_map_real=None)
    heldout_labels = [labels.get(k, []) for k in heldout]
    if result["label_relation"] and any(heldout_labels):
        train_all = real_features(train_keys)
        classifier, classes = metrics.fit_label_classifier(train_all, [labels.get(k, []) for k in train_keys])
        result["genre_map"] = float(np.mean([metrics.label_map(classifier, classes, f, heldout_labels)
                                             for f in generated_features]))
        result["genre_map_unconditional"] = metrics.label_map(classifier, classes, unconditional_features,
                                                              heldout_labels)
        result["genre_map_real"] = metrics.label_map(classifier, classes, real_heldout, heldout_labels)
    return result
