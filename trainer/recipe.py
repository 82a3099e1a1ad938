"""The recipe chooser: what ``kgstore train`` trains when no flag says otherwise.

A recipe is a named set of :class:`~trainer.config.TrainConfig` fields. :func:`choose_recipe`
is a pure function from the graph's statistics (:class:`GraphStats`) and the device to one
recipe; :func:`apply_recipe` fills every field the user did not set with the recipe's value,
so a flag typed on the command line (or a field in a ``--config`` file) always wins.

The rule (the README's "Default recipes" table reproduces it; :data:`RECIPES` holds the fields):

- ``small``: at most :data:`SMALL_MAX_ENTITIES` entities and under :data:`DENSE_MIN_ANSWERS`
  train triple per (entity, relation) pair: ComplEx, dim 200, 1-N BCE with label smoothing,
  Adam lr 3e-3, batch 256, dropout 0.3 (UMLS).
- ``small-dense``: the same with more answers per query, and 1-N softmax cross-entropy (Kinships).
- ``medium``: train triples x entities (the scores of one 1-N epoch) at most
  :data:`MEDIUM_MAX_WORK`: as ``small-dense`` with DistMult, dim 400, batch 512, dropout 0.4, N3
  0.002. CoDEx-S, ``bench/lp_bench.py`` on one thread, best valid checkpoint's test MRR once
  early stopping ends the run: this 0.461 / 0.462 (seeds 0 / 1, about 2 minutes on a quiet CPU);
  without N3 0.455 / 0.455; dim 500, dropout 0.5 0.459; DistMult dim 200, batch 256, dropout 0.3
  0.446 (5 min); ComplEx dim 512, Adam 1e-3, batch 1024: 0.452 with dropout 0.1, 0.455 with 0.3
  (14 min), 0.449 with N3 0.01; ComplEx dim 200 under the ``large`` recipe 0.408.
- ``large``: train triples x entities at most :data:`LARGE_MAX_WORK`: ComplEx, 1-N softmax CE,
  Adagrad lr 0.1 with N3 0.05, batch 1000, dropout 0 (Lacroix et al. 2018; WN18RR, FB15k-237,
  YAGO3-10).
- ``huge``: larger still (a 10M-triple graph: 9e12): scoring every entity for every query is
  out of reach, so the same model trains on sampled candidates (``sampler="neighbor"`` with
  plain embeddings): each batch's queries are scored against the batch's answers and
  :data:`HUGE_NEGATIVES` shared random entities, and only those rows are updated (sparse
  gradients). On a 100k-triple synthetic graph (10,000 entities), where both fit, 2 minutes of it
  gave test MRR 0.162 against 0.175 for full 1-N scoring in 3.6 minutes.

On CUDA the vectors are wider (:data:`CUDA_DIM`). The relation count enters through answers
per (entity, relation) pair.

Every recipe is reciprocal (``r^-1`` for every relation). Modalities follow the data: when at
least :data:`TEXT_FRACTION` of the entities have a description and their names tell them
apart (under :data:`SHARED_NAMES` of the named entities share a name with another), the
recipes up to ``large`` (:data:`TEXT_RECIPES`) train with ``modalities=["text"]``; on CUDA,
when at least :data:`IMAGE_FRACTION` have an image, ``"image"`` is added (on a CPU the image
encoder costs minutes per thousand images, and images helped MovieLens's cold-start movies,
not its warm links: ``--modalities text,image`` asks for them). Names alone do not count as
text: every dataset kgstore imports names its entities, often with the id made readable. On
CUDA the device is the GPU (:func:`default_device`).

Measured with no flags through ``kgstore train`` on this project's 2-core CPU, shared with
other jobs (README, "Benchmarks"): UMLS test MRR 0.952 (``small``), Kinships 0.858
(``small-dense``), CoDEx-S 0.463 (``medium``, early stop after 3.5 minutes on a quiet CPU).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainer.config import TrainConfig

if TYPE_CHECKING:
    from trainer.snapshot import Snapshot

SMALL_MAX_ENTITIES = 1_000
DENSE_MIN_ANSWERS = 1.0
"""Train triples per (entity, relation) pair from which a small graph is dense."""
MEDIUM_MAX_WORK = 500_000_000
"""Train triples x entities (the scores one 1-N epoch computes) up to which a graph is medium."""
LARGE_MAX_WORK = 200_000_000_000
"""Train triples x entities up to which a graph is large (YAGO3-10: 1.3e11), above it huge."""
HUGE_NEGATIVES = 1_000
"""Random entities each batch of the huge recipe scores besides its answers."""
TEXT_FRACTION = 0.25
"""Share of entities with a description from which the default trains with their text."""
TEXT_RECIPES = ("small", "small-dense", "medium", "large")
"""Recipes that train with the entities' descriptions by default; ``huge`` (sampled candidates)
is not measured with text. Trained to a plateau on this CPU (20 epochs each, ``large``):
FB15k-237 with its Wikidata descriptions, test MRR 0.346 against 0.341 for structure alone."""
SHARED_NAMES = 0.10
"""Share of named entities whose name another entity also has, from which text is not chosen:
their descriptions do not tell them apart. WN18RR (0.31: a word's senses share the word and
near-identical definitions) trained to a plateau stayed under structure alone with every text
fusion tried (test MRR 0.456 with the gated sum, 0.443 with the split fusion, against 0.464);
FB15k-237 (0.035) gained from its text."""
IMAGE_FRACTION = 0.25
"""Share of entities with an image from which the default trains with their images (on CUDA)."""
AUTO = "auto"
NONE = "none"


@dataclass(frozen=True)
class GraphStats:
    """What the chooser reads from a graph: its size and which modalities its entities have."""

    num_entities: int
    num_relations: int
    num_train_triples: int
    text_fraction: float = 0.0  # entities with a description
    image_fraction: float = 0.0  # entities with at least one image
    shared_name_fraction: float = 0.0  # named entities whose name (case aside) another entity has too

    @classmethod
    def of(cls, snapshot: Snapshot) -> GraphStats:
        count = max(snapshot.num_entities, 1)
        descriptions = snapshot.entity_text.get("description") or []
        described = sum(1 for text in descriptions if text and text.strip())
        pictured = sum(1 for images in snapshot.entity_images or [] if images)
        names = [name.strip().lower() for name in snapshot.entity_text.get("name") or [] if name and name.strip()]
        repeats = Counter(names)
        shared = sum(times for times in repeats.values() if times > 1)
        return cls(num_entities=snapshot.num_entities, num_relations=snapshot.num_relations,
                   num_train_triples=int((snapshot.splits == 0).sum()),
                   text_fraction=described / count, image_fraction=pictured / count,
                   shared_name_fraction=shared / max(len(names), 1))

    @property
    def answers_per_query(self) -> float:
        """Train triples per (entity, relation) pair: how many answers a query has on average."""
        return self.num_train_triples / max(self.num_entities * self.num_relations, 1)

    @property
    def work(self) -> int:
        """Train triples x entities: the scores one epoch of 1-N training computes (per direction)."""
        return self.num_train_triples * self.num_entities

    @property
    def text_tells_entities_apart(self) -> bool:
        """Enough descriptions, and names that are mostly each one's own (:data:`SHARED_NAMES`)."""
        return self.text_fraction >= TEXT_FRACTION and self.shared_name_fraction < SHARED_NAMES

    def describe(self) -> str:
        modalities = [f"{name} on {fraction:.0%}" for name, fraction in
                      (("descriptions", self.text_fraction), ("images", self.image_fraction)) if fraction]
        if self.text_fraction and self.shared_name_fraction >= SHARED_NAMES:
            modalities.append(f"{self.shared_name_fraction:.0%} of names shared")
        return (f"{self.num_entities:,} entities, {self.num_relations:,} relations, "
                f"{self.num_train_triples:,} train triples, " + (", ".join(modalities) or "no text or images"))


@dataclass(frozen=True)
class Recipe:
    """A named set of TrainConfig fields and the rule that picks it, in words."""

    name: str
    when: str
    fields: Mapping[str, Any]


_ADAM = {"decoder": "complex", "dim": 200, "reciprocal": True, "optimizer": "adam", "lr": 3e-3, "batch_size": 256,
         "dropout": 0.3, "regularization": 0.0, "num_layers": 0, "eval_every": 5}

_LARGE = {"decoder": "complex", "dim": 200, "reciprocal": True, "optimizer": "adagrad", "lr": 0.1, "batch_size": 1000,
          "dropout": 0.0, "regularization": 0.05, "num_layers": 0, "eval_every": 2, "loss": "1-n-ce", "epochs": 200,
          "patience": 5, "align_weight": 0.0}
"""``align_weight`` 0: the text rows measured under this recipe (WN18RR, FB15k-237) fused text
without the alignment loss, which serves ``nearest --text``, not ranking."""

RECIPES: dict[str, Recipe] = {recipe.name: recipe for recipe in (
    Recipe("small", f"at most {SMALL_MAX_ENTITIES:,} entities, under {DENSE_MIN_ANSWERS:g} train triple per "
                    "(entity, relation) pair",
           {**_ADAM, "loss": "1-n", "epochs": 400, "patience": 10}),
    Recipe("small-dense", f"at most {SMALL_MAX_ENTITIES:,} entities, at least {DENSE_MIN_ANSWERS:g} train triple "
                          "per (entity, relation) pair",
           {**_ADAM, "loss": "1-n-ce", "epochs": 400, "patience": 10}),
    Recipe("medium", f"train triples x entities at most {MEDIUM_MAX_WORK // 1_000_000:,} million",
           {**_ADAM, "decoder": "distmult", "dim": 400, "batch_size": 512, "dropout": 0.4, "regularization": 0.002,
            "loss": "1-n-ce", "epochs": 400, "patience": 10}),
    Recipe("large", f"train triples x entities at most {LARGE_MAX_WORK // 1_000_000_000:,} billion",
           _LARGE),
    Recipe("huge", "larger: 1-N over sampled candidates",
           {**_LARGE, "sampler": "neighbor", "num_negatives": HUGE_NEGATIVES, "eval_every": 1, "patience": 3,
            "epochs": 50}),
)}
CUDA_DIM = {"small": 200, "small-dense": 200, "medium": 500, "large": 1000, "huge": 200}
"""A GPU affords wider vectors in the same time (the large one: FB15k-237 MRR 0.36 in 60 s on an H200)."""
RECIPE_CHOICES = (AUTO, NONE, *RECIPES)
"""What ``kgstore train --recipe`` takes."""


@dataclass(frozen=True)
class ChosenRecipe:
    """The recipe a run trains with: its name, the fields it set and those the user's flags kept."""

    name: str
    stats: GraphStats
    device: str
    fields: dict[str, Any]  # the recipe's values, modalities and device included
    applied: tuple[str, ...]  # fields that took the recipe's value
    overridden: tuple[str, ...]  # fields the user set to another value than the recipe's

    def line(self) -> str:
        """One line for the console: which recipe, why, and which of its fields the user's flags replaced."""
        shown = ", ".join(f"{name} {_short(self.fields[name])}" for name in self.applied if name not in _QUIET)
        kept = f"; yours: {', '.join(self.overridden)}" if self.overridden else ""
        return f"recipe {self.name} ({self.stats.describe()}; {self.device}): {shown or 'all fields yours'}{kept}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device, "stats": dataclasses.asdict(self.stats),
                "fields": dict(self.fields), "applied": list(self.applied), "overridden": list(self.overridden)}


def choose_recipe(stats: GraphStats, device: str = "cpu") -> tuple[Recipe, dict[str, Any]]:
    """The recipe for a graph of ``stats`` on ``device``, and its fields for that graph and device.

    Pure: the same statistics and device always give the same answer.
    """
    if stats.num_entities <= SMALL_MAX_ENTITIES:
        recipe = RECIPES["small-dense" if stats.answers_per_query >= DENSE_MIN_ANSWERS else "small"]
    elif stats.work <= MEDIUM_MAX_WORK:
        recipe = RECIPES["medium"]
    elif stats.work <= LARGE_MAX_WORK:
        recipe = RECIPES["large"]
    else:
        recipe = RECIPES["huge"]
    fields = dict(recipe.fields)
    on_gpu = device.startswith("cuda")
    if on_gpu:
        fields["dim"] = CUDA_DIM[recipe.name]
    fields["device"] = device
    fields["modalities"] = ["text"] if stats.text_tells_entities_apart and recipe.name in TEXT_RECIPES else []
    if on_gpu and stats.image_fraction >= IMAGE_FRACTION:
        fields["modalities"].append("image")
    return recipe, fields


def apply_recipe(config: TrainConfig, explicit: Collection[str], stats: GraphStats, *,
                 device: str | None = None, recipe: str = AUTO) -> tuple[TrainConfig, ChosenRecipe | None]:
    """``config`` with every field not in ``explicit`` taken from the chosen recipe.

    ``explicit`` names the fields the user set (flags, a config file's fields); they keep
    their values. ``device`` is the device to choose for when the user gave none
    (:func:`default_device`); ``recipe`` is ``"auto"`` (choose by the graph), a recipe name
    (that one), or ``"none"`` (``config`` as it is).
    """
    if recipe == NONE:
        return config, None
    if recipe != AUTO and recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}: use auto, none or one of {', '.join(RECIPES)}")
    device = config.device if "device" in explicit else (device or config.device)
    chosen, fields = choose_recipe(stats, device)
    if recipe != AUTO:
        chosen = RECIPES[recipe]
        fields = {**fields, **chosen.fields}
        if device.startswith("cuda"):
            fields["dim"] = CUDA_DIM[chosen.name]
    values = config.to_dict()
    applied = tuple(name for name in fields if name not in explicit)
    overridden = tuple(name for name in fields if name in explicit and values[name] != fields[name])
    values.update({name: fields[name] for name in fields if name not in explicit})
    return TrainConfig.from_dict(values), ChosenRecipe(chosen.name, stats, device, fields, applied, overridden)


def default_device() -> str:
    """``"cuda"`` when torch sees a GPU, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


_QUIET = ("device", "reciprocal", "num_layers", "eval_every")  # said elsewhere in the line, or always the same


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)
