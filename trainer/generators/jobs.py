"""The text generator's jobs: train it on a KG model, evaluate it on held-out entities, load it to serve.

What ``kgstore generators train|eval text`` and ``kgstore describe`` call, and what the
sidecar's ``POST /generate/text`` runs. The KG model comes first (``kgstore train``): the
generator reads that model's entity vectors, and the graph's names, descriptions and facts
from the same snapshot the model was trained on (or a fresh export).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.home import KgstoreHome
from trainer.generators.checkpoint import GeneratorCheckpoint
from trainer.generators.context import FactIndex
from trainer.generators.text import (
    EntityText,
    TextGeneratorConfig,
    TrainLog,
    build_decoder,
    context_only,
    description_budget,
    generate_texts,
    train_decoder,
)

TEXT = "text"
HELDOUT_SHARE = 0.1  # at most this share of the described entities is held out


def kg_checkpoint(home: KgstoreHome, model: str) -> Path:
    """The KG model's latest checkpoint, which every generator is trained on."""
    checkpoint = home.latest_checkpoint(model)
    if checkpoint is None:
        raise KgstoreError(f"model {model!r} has no checkpoint in {home.model_dir(model)}",
                           hint=f"Train the KG model first: kgstore train --model {model}")
    return checkpoint


def latest_generator_folder(home: KgstoreHome, model: str, kind: str) -> Path:
    """The latest ``kind`` generator of ``model``, or an error saying how to train one."""
    folder = home.latest_generator(model, kind)
    if folder is None:
        raise KgstoreError(f"no {kind} generator is trained for model {model!r}",
                           hint=f"Train one: kgstore generators train {kind} --model {model}")
    return folder


def entity_texts(snapshot: Any, keys: list[str], config: TextGeneratorConfig) -> list[EntityText]:
    """Name, verbalised facts and description of each of ``keys`` (in that order) from a snapshot."""
    names = snapshot.entity_text.get("name") or [None] * snapshot.num_entities
    descriptions = snapshot.entity_text.get("description") or [None] * snapshot.num_entities
    facts = FactIndex.build(snapshot.triples, names, snapshot.relation_names)
    row = {key: i for i, key in enumerate(snapshot.entity_keys)}
    out = []
    for key in keys:
        i = row.get(key)
        if i is None:  # in the model but gone from the graph: it keeps its vector, nothing else
            out.append(EntityText(key=key, name="", context=""))
            continue
        description = (descriptions[i] or "").strip() or None
        out.append(EntityText(key=key, name=(names[i] or "").strip(),
                              context=facts.context(i, max_facts=config.max_facts, max_chars=config.max_context_chars),
                              description=description))
    return out


def nearest_in(vectors: np.ndarray, queries: list[int], pool: list[int], *, chunk: int = 1024) -> np.ndarray:
    """For each of ``queries``, the row of ``pool`` with the most similar vector (cosine),
    never the query itself."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    pool_array = np.asarray(pool)
    candidates = unit[pool_array].T
    best = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        rows = np.asarray(queries[start: start + chunk])
        similarity = unit[rows] @ candidates
        similarity[rows[:, None] == pool_array[None, :]] = -np.inf  # an entity is not its own neighbour
        best[start: start + len(rows)] = pool_array[np.argmax(similarity, axis=1)]
    return best


def nearest_k_in(vectors: np.ndarray, queries: list[int], pool: list[int], k: int, *,
                 chunk: int = 1024) -> np.ndarray:
    """For each of ``queries``, the ``k`` rows of ``pool`` with the most similar vectors (cosine),
    closest first, never the query itself: ``[len(queries), min(k, len(pool))]`` (fewer when a
    query is its pool's only member: those slots are -1)."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    pool_array = np.asarray(pool)
    candidates = unit[pool_array].T
    k = min(k, len(pool))
    best = np.full((len(queries), k), -1, dtype=np.int64)
    for start in range(0, len(queries), chunk):
        rows = np.asarray(queries[start: start + chunk])
        similarity = unit[rows] @ candidates
        similarity[rows[:, None] == pool_array[None, :]] = -np.inf  # an entity is not its own neighbour
        top = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
        found = pool_array[top]
        found[np.take_along_axis(similarity, top, axis=1) == -np.inf] = -1
        best[start: start + len(rows)] = found
    return best


def add_neighbour_hints(entities: list[EntityText], vectors: np.ndarray, train_ids: list[int], *,
                        exemplars: int = 0, max_chars: int = 80) -> None:
    """Retrieval through the vector, from the *training* entities only (``train_ids``), never an
    entity itself (leave-one-out, so training and held-out prompts are built alike).

    ``exemplars`` > 0: each entity gets the descriptions of its ``exemplars`` closest training
    entities (cut to ``max_chars``); 0: the first format's single "name: description" hint.
    """
    if not train_ids:
        return
    if exemplars == 0:
        nearest = nearest_in(vectors, list(range(len(entities))), train_ids)
        for entity, other in zip(entities, nearest.tolist(), strict=True):
            neighbour = entities[other]
            entity.neighbour = f"{neighbour.name or neighbour.key}: {neighbour.description}"
        return
    nearest = nearest_k_in(vectors, list(range(len(entities))), train_ids, exemplars)
    for entity, others in zip(entities, nearest.tolist(), strict=True):
        entity.neighbour = ""
        entity.exemplars = [_cut(entities[o].description or "", max_chars) for o in others if o >= 0]


def _cut(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0] + " ..."


def heldout_keys(entities: list[EntityText], config: TextGeneratorConfig) -> list[str]:
    """A fixed, seeded set of described entities that training never sees."""
    described = [e.key for e in entities if e.description]
    count = min(config.heldout, int(len(described) * HELDOUT_SHARE))
    rng = np.random.default_rng(config.seed)
    return sorted(rng.choice(described, size=count, replace=False).tolist()) if count else []


# What a warm start keeps from the generator it continues: how the decoder is built and what it
# reads and writes. The rest (step size, epochs, time cap, device, precision, batch order) is the new run's.
KEPT_ON_WARM_START = ("language_model", "num_prefix", "lora_rank", "lora_alpha", "max_target_tokens", "max_facts",
                      "max_context_chars", "neighbour_hint", "exemplars", "max_exemplar_chars", "prompt", "heldout")


@dataclass
class WarmStart:
    """The generator a warm-started run continues: its weights, held-out keys and loss log."""

    checkpoint: GeneratorCheckpoint
    config: TextGeneratorConfig
    heldout: list[str]
    log: dict[str, list]

    @classmethod
    def of(cls, home: KgstoreHome, model: str, kg_folder: Path, config: TextGeneratorConfig) -> WarmStart:
        """The latest text generator of ``model``, which must have been trained on ``kg_folder``
        (its soft prompt reads those vectors), with ``config``'s training fields."""
        checkpoint = GeneratorCheckpoint(latest_generator_folder(home, model, TEXT))
        meta = checkpoint.read_meta()
        if meta["kg_version"] != kg_folder.resolve().name:
            raise KgstoreError(f"the latest text generator of model {model!r} ({checkpoint.name}) was trained on KG "
                               f"version {meta['kg_version']}, not the model's latest ({kg_folder.resolve().name}): "
                               "its soft prompt reads the vectors of the version it learned from",
                               hint="Train a new generator (without --warm-start) for the new KG version.")
        saved = TextGeneratorConfig.from_saved(meta["config"])
        merged = dataclasses.replace(config, **{name: getattr(saved, name) for name in KEPT_ON_WARM_START})
        return cls(checkpoint=checkpoint, config=merged, heldout=list(meta["heldout"]),
                   log=checkpoint.read_loss())


def load_trained(decoder: Any, checkpoint: GeneratorCheckpoint) -> None:
    """Put a checkpoint's trained parameters (projection, adapters) into a freshly built decoder."""
    missing, unexpected = decoder.load_state_dict(checkpoint.read_weights(), strict=False)
    trained = set(decoder.trainable_state())
    if unexpected or trained & set(missing):
        raise ValueError(f"{checkpoint.folder}: weights do not fit the generator (missing "
                         f"{sorted(trained & set(missing))[:3]}, unexpected {unexpected[:3]})")


def train_text_generator(graph: Graph | None, home: KgstoreHome, *, model: str = "default",
                         config: TextGeneratorConfig | None = None, snapshot: Path | None = None,
                         namespaces: list[str] | None = None, language_model: tuple[Any, Any] | None = None,
                         warm_start: bool = False, progress: bool = True) -> tuple[GeneratorCheckpoint, TrainLog]:
    """Train a text generator on ``model``'s latest checkpoint; returns its checkpoint and log.

    ``warm_start``: continue the model's latest text generator (same KG version) instead of
    starting from scratch: its adapters and projection, held-out entities, description budget
    and prompt format, with a fresh warm-up and decay of ``config.lr`` over the new run (a
    restart of the schedule; a lower ``lr`` than the first run's suits it). The saved loss log
    continues the old one.
    """
    from trainer.checkpoint import Checkpoint
    from trainer.export import load_or_export

    config = config or TextGeneratorConfig()
    kg = Checkpoint(kg_checkpoint(home, model))
    previous = WarmStart.of(home, model, kg.folder, config) if warm_start else None
    if previous is not None:
        config = previous.config
    keys = list(kg.read_vocab()["entity_keys"])
    vectors = kg.read_entity_vectors()
    data = load_or_export(graph, home, snapshot=snapshot, namespaces=namespaces, progress=progress)
    entities = entity_texts(data, keys, config)
    heldout = set(previous.heldout if previous is not None else heldout_keys(entities, config))
    train_ids = [i for i, e in enumerate(entities) if e.description and e.key not in heldout]
    if not train_ids:
        raise KgstoreError(f"no entity of model {model!r} has a description to learn from",
                           hint="Descriptions come from the `description` property of :Entity nodes "
                                "(`kgstore sync` imports them for datasets that have them).")
    if config.neighbour_hint:
        add_neighbour_hints(entities, vectors, train_ids, exemplars=config.exemplars,
                            max_chars=config.max_exemplar_chars)
    decoder = build_decoder(config, vectors.shape[1], language_model=language_model)
    if previous is not None:
        load_trained(decoder, previous.checkpoint)
    decoder.to(config.device)
    if config.max_target_tokens is None:  # saved resolved, so eval asks for as many tokens as training learned
        config = dataclasses.replace(config, max_target_tokens=description_budget(
            decoder.tokenizer, [entities[i].description or "" for i in train_ids]))
    log = train_decoder(decoder, [entities[i] for i in train_ids], vectors[train_ids], config, progress=progress)
    saved_log: dict[str, Any] = {"steps": log.steps, "losses": log.losses, "seconds": log.seconds,
                                 "examples": log.examples, "train_entities": len(train_ids)}
    if previous is not None:
        done = previous.log["steps"][-1] if previous.log["steps"] else 0
        saved_log.update(steps=previous.log["steps"] + [done + s for s in log.steps],
                         losses=previous.log["loss"] + log.losses, warm_start_from=previous.checkpoint.name)
    folder = GeneratorCheckpoint.new(home, model, TEXT)
    folder.save(kind=TEXT, config=config.to_dict(), kg_checkpoint=kg.folder, vector_dim=int(vectors.shape[1]),
                heldout=sorted(heldout), entities=entities, state=decoder.trainable_state(), log=saved_log)
    folder.mark_latest(home.generators_dir(model, TEXT) / "latest")
    return folder, log


@dataclass
class TextGenerator:
    """A trained text generator, ready to describe any entity of its KG model."""

    checkpoint: GeneratorCheckpoint
    decoder: Any
    entities: list[EntityText]
    vectors: np.ndarray
    kg_version: str
    heldout: list[str]
    config: TextGeneratorConfig  # as saved: its max_target_tokens is always resolved (32 before the budget existed)
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {e.key: i for i, e in enumerate(self.entities)}

    @classmethod
    def load(cls, folder: Path | str, *, language_model: tuple[Any, Any] | None = None,
             device: str = "cpu") -> TextGenerator:
        from trainer.checkpoint import Checkpoint

        checkpoint = GeneratorCheckpoint(folder)
        meta = checkpoint.read_meta()
        config = TextGeneratorConfig.from_saved(meta["config"])
        kg = Checkpoint(meta["kg_checkpoint"])
        vectors = kg.read_entity_vectors()
        decoder = build_decoder(config, int(meta["vector_dim"]), language_model=language_model)
        load_trained(decoder, checkpoint)
        decoder.to(device).eval()
        return cls(checkpoint=checkpoint, decoder=decoder, entities=checkpoint.read_entities(), vectors=vectors,
                   kg_version=meta["kg_version"], heldout=list(meta["heldout"]), config=config)

    @classmethod
    def latest(cls, home: KgstoreHome, model: str, **kwargs: Any) -> TextGenerator:
        return cls.load(latest_generator_folder(home, model, TEXT), **kwargs)

    def unknown(self, keys: list[str]) -> list[str]:
        return [key for key in keys if key not in self.index]

    def describe(self, keys: list[str], *, max_tokens: int | None = None, temperature: float = 0.0,
                 seed: int | None = 0, beams: int = 1) -> list[str]:
        """One description per key (``KeyError`` naming the first unknown key).

        ``max_tokens`` defaults to the generator's description budget (chosen at training from
        its training descriptions): a one-line label for Wikidata, a paragraph for plots.
        ``beams`` > 1: beam search (FB15k-237, 200 held-out entities: BLEU 0.314 with 4 beams
        against 0.291 greedy, at about three times the time).
        """
        missing = self.unknown(keys)
        if missing:
            raise KeyError(missing[0])
        rows = [self.index[key] for key in keys]
        return generate_texts(self.decoder, [self.entities[i] for i in rows], self.vectors[rows],
                              max_tokens=max_tokens or self.config.max_target_tokens, temperature=temperature,
                              seed=seed, beams=beams)


def evaluate_text_generator(home: KgstoreHome, *, model: str = "default", limit: int | None = None,
                            generator: TextGenerator | None = None, max_tokens: int | None = None,
                            beams: int = 1, progress: bool = True) -> dict[str, Any]:
    """Corpus BLEU and chrF (sacrebleu, both 0-1) on the held-out entities for three methods,
    four when the generator retrieves exemplars.

    ``decoder``: this generator; ``nearest_neighbour``: the description of the training
    entity whose vector is closest (cosine); ``context_only``: the same LM, without the
    adapters, the soft prompt and the exemplars (or neighbour hint), prompted in its chat format
    with the verbalised facts; ``exemplars_context``: the same, with the decoder's exemplars
    added to the prompt (what retrieval alone gives an untrained LM). Every LM row decodes the
    same way: greedy, or beam search with ``beams`` > 1. Returns
    ``{"rows": [...], "examples": [...], "model", "generator", "kg_version", "beams"}``.
    """
    import sacrebleu

    generator = generator or TextGenerator.latest(home, model)
    max_tokens = max_tokens or generator.config.max_target_tokens
    heldout = [generator.entities[generator.index[k]] for k in generator.heldout if k in generator.index]
    heldout = [e for e in heldout if e.description][: limit or None]
    if not heldout:
        raise KgstoreError(f"the text generator of model {model!r} has no held-out entities to evaluate on")
    references = [e.description or "" for e in heldout]
    rows_of = [generator.index[e.key] for e in heldout]

    def score(method: str, texts: list[str], seconds: float) -> dict[str, Any]:
        return {"method": method, "bleu": sacrebleu.corpus_bleu(texts, [references]).score / 100,
                "chrf": sacrebleu.corpus_chrf(texts, [references]).score / 100, "n": len(texts),
                "seconds_per_100": 100 * seconds / len(texts)}

    started = time.monotonic()
    decoded = generate_texts(generator.decoder, heldout, generator.vectors[rows_of], max_tokens=max_tokens,
                             progress=progress, beams=beams)
    rows = [score("decoder", decoded, time.monotonic() - started)]

    started = time.monotonic()
    held = set(generator.heldout)
    pool = [i for i, e in enumerate(generator.entities) if e.description and e.key not in held]
    neighbours = [generator.entities[i].description or "" for i in nearest_in(generator.vectors, rows_of, pool)]
    rows.append(score("nearest_neighbour", neighbours, time.monotonic() - started))

    started = time.monotonic()
    facts_only = [dataclasses.replace(e, neighbour="", exemplars=[]) for e in heldout]  # those come from the vector
    with context_only(generator.decoder):
        prompted = generate_texts(generator.decoder, facts_only, None, max_tokens=max_tokens, progress=progress,
                                  prompt="chat", beams=beams)
    rows.append(score("context_only", prompted, time.monotonic() - started))
    examples = [{"key": e.key, "name": e.name, "reference": ref, "decoder": d, "nearest_neighbour": n,
                 "context_only": c}
                for e, ref, d, n, c in zip(heldout, references, decoded, neighbours, prompted, strict=True)]
    if any(e.exemplars for e in heldout):
        started = time.monotonic()
        with context_only(generator.decoder):
            retrieved = generate_texts(generator.decoder, heldout, None, max_tokens=max_tokens, progress=progress,
                                       prompt="chat", beams=beams)
        rows.append(score("exemplars_context", retrieved, time.monotonic() - started))
        for example, text, entity in zip(examples, retrieved, heldout, strict=True):
            example.update(exemplars_context=text, exemplars=entity.exemplars)
    return {"model": model, "generator": generator.checkpoint.name, "kg_version": generator.kg_version, "rows": rows,
            "examples": examples, "beams": beams}
