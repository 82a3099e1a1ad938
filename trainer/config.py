"""``TrainConfig``: every training choice in one dataclass, read from and saved to a file.

Parts are given by name plus ``*_kwargs`` (``decoder="complex"``,
``decoder_kwargs={"margin": 9.0}``), so a config maps 1:1 onto the modules it builds.
A config file (``.toml``, ``.yaml``/``.yml`` or ``.json``) holds the same fields
(:meth:`TrainConfig.from_file`, :meth:`TrainConfig.save`); a checkpoint keeps its config
as ``config.toml``.

This module imports no torch: the CLI builds its choices from :data:`DECODER_NAMES`,
:data:`LOSSES` and :data:`OPTIMIZERS` without the ``train`` extra.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DECODER_NAMES = ("distmult", "complex", "rotate", "transe")
"""The decoders :mod:`trainer.decoders` registers, by name (its registry is checked against this)."""
ONE_TO_N_LOSSES = ("1-n", "1-n-ce")
LOSSES = (*ONE_TO_N_LOSSES, "nssa")
OPTIMIZERS = ("adam", "adagrad")
MODALITIES = ("text", "image")
FUSIONS = ("sum", "split")
"""How modality features join the structural vector (:mod:`trainer.encoders.multimodal`): ``sum``
adds them in every position; ``split`` gives them a share of the positions and the structure the
rest, so each relation's own weights decide how much text counts for it."""
DEVICES = ("cpu", "cuda")
SAMPLERS = ("auto", "full", "neighbor")
"""R-GCN message passing per step: chosen by graph size, whole graph, or sampled subgraphs."""
CONFIG_SUFFIXES = (".toml", ".yaml", ".yml", ".json")
YAML_HINT = "pip install pyyaml"
TOML_WRITER_HINT = "pip install tomli-w"


# configuration fields that change the model's shape: a resumed or warm-started run must keep them
STRUCTURAL = ("decoder", "decoder_kwargs", "dim", "num_layers", "num_bases", "num_blocks", "encoder_kwargs",
              "reciprocal", "modalities", "text_encoder", "text_checkpoint", "image_encoder", "image_checkpoint",
              "fusion", "modality_share")


@dataclass
class TrainConfig:
    """Training configuration; defaults are the recipe kgstore measured best on small graphs.

    Model:
        decoder: registered decoder name (``distmult``, ``complex``, ``rotate``, ``transe``).
        decoder_kwargs: extra keyword arguments for the decoder (``margin``, ``p``).
        dim: entity (and relation) vector width.
        num_layers: R-GCN layers; 0 = plain embeddings (KGE), 1 = Schlichtkrull et al.
        num_bases / num_blocks: R-GCN weight decomposition (at most one).
        encoder_kwargs: extra keyword arguments for ``RGCNEncoder`` (``conv="fast"``).
        dropout: between R-GCN layers and on the query vector in training.
        reciprocal: train ``(t, r^-1, h)`` for every ``(h, r, t)``; head queries are then
            answered as tail queries of ``r^-1`` (Lacroix et al. 2018).

    Modalities (see ``trainer.modalities`` and ``trainer.encoders.multimodal``):
        modalities: any of ``"text"`` (entity name + description) and ``"image"``
            (``HAS_IMAGE`` images); empty = structure only. Features are fused into the
            encoder input by a gated sum, and aligned with the entity vectors by InfoNCE.
        text_encoder / text_checkpoint: ``"minilm"`` (all-MiniLM-L6-v2, offline), a
            sentence-transformers folder, or ``"open_clip:<model>"`` with a weights file.
        image_encoder / image_checkpoint: ``"efficientnet-lite0"`` (ImageNet, offline) or
            ``"open_clip:<model>"`` (an architecture name or config JSON) with a weights file.
        align_weight: weight of the InfoNCE alignment loss (0 = fusion only, no shared space).
        align_batch_size: entities per modality in one InfoNCE batch.
        modality_lr: step size of the fusion's shared heads (projections, gates, placeholders);
            None = ``lr`` under Adam, ``lr / 100`` under Adagrad (see ``trainer.optimizers``).
        fusion: ``"sum"`` (modalities added onto the structural vector in every position) or
            ``"split"`` (they own ``modality_share`` of the positions, the structural vector the
            rest: see :mod:`trainer.encoders.multimodal`).

    Optimisation:
        lr, epochs, batch_size: Adam step size, epoch cap, rows per step.
        loss: ``"1-n"`` (BCE against all entities with label smoothing, Dettmers et al.
            2018), ``"1-n-ce"`` (softmax cross-entropy against all entities, one term per
            true answer: the "1vsAll + CE" that Lacroix et al. 2018 and Ruffinelli et al.
            2020 found strongest on FB15k-237 and WN18RR) or ``"nssa"`` (negative
            sampling, self-adversarial weights, Sun et al. 2019).
        optimizer: ``"adam"`` or ``"adagrad"`` (the optimiser of Lacroix et al.'s N3 runs).
        num_negatives: negatives per positive for ``nssa``; extra random candidates per
            batch for ``1-n`` in mini-batch mode.
        max_answers: 1-N on sampled candidates (mini-batch mode) scores a batch against its
            queries' answers; a query with more answers than this gives a random subset of
            this many each step, so a power-law hub cannot make one step's memory unbounded
            (None = all). Full-graph 1-N scores every entity and never needs it.
        label_smoothing: ``1-n`` targets become ``(1 - eps) y + eps / E``.
        adversarial_temperature: softmax temperature over negative scores for ``nssa``.
        regularization: weight of the N3 penalty on the batch's vectors (0 = off).
        patience: evaluations without a better validation MRR before stopping (0 = never).
        eval_every: epochs between validation evaluations (0 = only at the end).
        eval_batch_size: queries scored at once in evaluation.
        max_seconds: wall-clock cap on training (None = none); checked after each step.
        seed: seeds torch, numpy and random.

    Hardware:
        device: ``"cpu"`` or ``"cuda"``.
        amp: bfloat16 autocast on CUDA (ignored on CPU).
        sampler: how R-GCN steps pass messages. ``"full"``: over the whole graph every
            step; ``"neighbor"``: over a subgraph sampled around the batch's entities
            (``fanout`` per layer, :mod:`trainer.sampling`), so a step costs batch x fan-out
            whatever the graph's size; ``"auto"`` (default) decides by graph size
            (:func:`trainer.train.choose_full_batch`): full while the graph has at most
            ``trainer.train.FULL_GRAPH_MAX_TRIPLES`` training triples and the full step's
            activations fit ``full_batch_max_bytes``, neighbour sampling above. Plain
            embeddings (``num_layers=0``) pass no messages and ignore it.
        full_batch: the older spelling of ``sampler`` (True = ``"full"``, False =
            ``"neighbor"``), read from old config files and moved into ``sampler``.
        full_batch_max_bytes: the size rule's budget for full-batch activations.
        fanout: neighbours sampled per entity for each layer, nearest hop first
            (``[10, 5]``: 10 in-edges of each batch entity, then 5 of each of those); a
            single number applies to every layer, and layers past the list's end reuse
            its last number. Only the neighbour sampler reads it.
        num_threads: torch CPU threads; None = ``$KGSTORE_NUM_THREADS`` or the CPU count.
    """

    decoder: str = "distmult"
    decoder_kwargs: dict[str, Any] = field(default_factory=dict)
    dim: int = 200
    num_layers: int = 0
    num_bases: int | None = None
    num_blocks: int | None = None
    encoder_kwargs: dict[str, Any] = field(default_factory=dict)
    dropout: float = 0.3
    reciprocal: bool = True

    modalities: list[str] = field(default_factory=list)
    text_encoder: str = "minilm"
    text_checkpoint: str | None = None
    image_encoder: str = "efficientnet-lite0"
    image_checkpoint: str | None = None
    align_weight: float = 0.5
    align_batch_size: int = 256
    modality_lr: float | None = None
    fusion: str = "sum"
    modality_share: float = 0.25

    lr: float = 3e-3
    optimizer: str = "adam"
    epochs: int = 200
    batch_size: int = 256
    loss: str = "1-n-ce"
    num_negatives: int = 128
    max_answers: int | None = 64
    label_smoothing: float = 0.1
    adversarial_temperature: float = 1.0
    regularization: float = 0.0
    patience: int = 5
    eval_every: int = 5
    eval_batch_size: int = 256
    max_seconds: float | None = None
    seed: int = 0

    device: str = "cpu"
    amp: bool = True
    sampler: str = "auto"
    full_batch: bool | None = None
    full_batch_max_bytes: int = 2 * 1024**3
    fanout: list[int] | int = field(default_factory=lambda: [10, 5])
    num_threads: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.decoder, str) or self.decoder.strip().lower() not in DECODER_NAMES:
            problems.append(f"decoder {self.decoder!r} (use one of {', '.join(DECODER_NAMES)})")
        if self.loss not in LOSSES:
            problems.append(f"loss {self.loss!r} (use one of {', '.join(LOSSES)})")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer {self.optimizer!r} (use one of {', '.join(OPTIMIZERS)})")
        if not (self.device in DEVICES or self.device.startswith("cuda:")):
            problems.append(f"device {self.device!r} (use cpu, cuda or cuda:N)")
        if self.num_bases is not None and self.num_blocks is not None:
            problems.append("both num_bases and num_blocks (pick one decomposition)")
        for name in ("dim", "epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} {getattr(self, name)} (must be >= 1)")
        if isinstance(self.modalities, str):
            self.modalities = [m.strip() for m in self.modalities.split(",") if m.strip()]
        self.modalities = [m for m in MODALITIES if m in self.modalities] + \
            [m for m in self.modalities if m not in MODALITIES]
        unknown = [m for m in self.modalities if m not in MODALITIES]
        if unknown:
            problems.append(f"modalities {unknown} (use {' and/or '.join(MODALITIES)})")
        if self.align_weight < 0 or self.align_batch_size < 2:
            problems.append("align_weight must be >= 0 and align_batch_size >= 2")
        if self.full_batch is not None:  # the older spelling
            implied = "full" if self.full_batch else "neighbor"
            if self.sampler not in ("auto", implied):
                problems.append(f"full_batch={self.full_batch} with sampler {self.sampler!r} (give sampler only)")
            self.sampler, self.full_batch = implied, None
        if self.sampler not in SAMPLERS:
            problems.append(f"sampler {self.sampler!r} (use one of {', '.join(SAMPLERS)})")
        if isinstance(self.fanout, str):  # "10,5"
            try:
                self.fanout = [int(n) for n in self.fanout.split(",")]
            except ValueError:
                pass  # reported below
        if isinstance(self.fanout, int) and not isinstance(self.fanout, bool):
            self.fanout = [self.fanout]
        if not (isinstance(self.fanout, list) and self.fanout
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in self.fanout)):
            problems.append(f"fanout {self.fanout!r} (a list of neighbours per layer, each >= 1, e.g. [10, 5])")
        if self.fusion not in FUSIONS:
            problems.append(f"fusion {self.fusion!r} (use one of {', '.join(FUSIONS)})")
        if not 0.0 < self.modality_share <= 1.0:
            problems.append(f"modality_share {self.modality_share} (must be in (0, 1])")
        if self.max_answers is not None and self.max_answers < 1:
            problems.append(f"max_answers {self.max_answers} (must be >= 1, or None for all)")
        if not 0.0 <= self.label_smoothing < 1.0:
            problems.append(f"label_smoothing {self.label_smoothing} (must be in [0, 1))")
        if problems:
            raise ValueError("invalid TrainConfig: " + "; ".join(problems))

    @property
    def one_to_n(self) -> bool:
        """Whether each training row is a query scored against all entities (``1-n``, ``1-n-ce``)."""
        return self.loss in ONE_TO_N_LOSSES

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str | Path | None = None) -> TrainConfig:
        """A config from a mapping of field names; ``source`` (a file) is named in the errors."""
        where = f" in {source}" if source is not None else ""
        if not isinstance(values, dict):
            raise ValueError(f"a TrainConfig{where} must be a mapping of field names to values, "
                             f"not {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}{where}: known fields are "
                             f"{', '.join(sorted(known))}")
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            if source is None:
                raise
            raise ValueError(f"{source}: {exc}") from exc

    @classmethod
    def from_file(cls, path: Path | str) -> TrainConfig:
        """Read a config file: ``.toml``, ``.yaml``/``.yml`` (needs pyyaml) or ``.json``.

        Unknown fields and bad values are errors that name the file; a missing field takes
        its default.
        """
        path = Path(path)
        return cls.from_dict(_read_values(path), source=path)

    @classmethod
    def file_fields(cls, path: Path | str) -> list[str]:
        """The names of the fields a config file sets (the others take their defaults, or a recipe's)."""
        values = _read_values(Path(path))
        return sorted(values) if isinstance(values, dict) else []

    def save(self, path: Path | str) -> None:
        """Write the config to ``path`` in the format its suffix names (``.toml``, ``.yaml``/``.yml``, ``.json``).

        TOML has no null: fields that are None (their default) are left out of a ``.toml`` file.
        """
        path = Path(path)
        suffix = _suffix(path)
        values = self.to_dict()
        if suffix == ".toml":
            try:
                import tomli_w
            except ImportError as exc:
                raise ImportError(f"writing {path} needs tomli-w: {TOML_WRITER_HINT}") from exc
            present = {name: value for name, value in values.items() if value is not None}
            try:
                text = tomli_w.dumps(present)
            except TypeError as exc:  # e.g. a None inside decoder_kwargs
                raise ValueError(f"this TrainConfig cannot be written as TOML ({exc}): TOML has no null; "
                                 "save it as .json or .yaml") from exc
        elif suffix == ".json":
            text = json.dumps(values, indent=2, sort_keys=True) + "\n"
        else:
            text = _import_yaml(path).safe_dump(values, sort_keys=True)
        path.write_text(text, encoding="utf-8")


def _read_values(path: Path) -> Any:
    """A config file's values with the types of their fields (a mapping, unless the file is malformed)."""
    suffix = _suffix(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"config file {path} does not exist") from exc
    if suffix == ".toml":
        import tomllib

        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path} is not valid TOML: {exc}") from exc
    elif suffix == ".json":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    else:
        yaml = _import_yaml(path)
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path} is not valid YAML: {exc}") from exc
        values = {} if values is None else values  # an empty file: every default
    if isinstance(values, dict):
        values = _check_types(values, path)
    return values


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in CONFIG_SUFFIXES:
        raise ValueError(f"config file {path}: unknown format {path.suffix or '(no suffix)'!r}; use "
                         f"{', '.join(CONFIG_SUFFIXES)}")
    return suffix


def _check_types(values: dict[str, Any], source: Path) -> dict[str, Any]:
    """Values of a config file with the types of their fields: a file has no Python to catch a typo.

    An int is a good float; a string that reads as a number is a good float too (YAML 1.1,
    which pyyaml follows, reads ``3e-3`` as a string). ``modalities`` may be one string.
    """
    hints = typing.get_type_hints(TrainConfig)
    checked = dict(values)
    wrong = []
    for name, value in values.items():
        hint = hints.get(name)
        options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        if hint is None or value is None and type(None) in options:
            continue
        allowed = tuple(typing.get_origin(t) or t for t in options if t is not type(None))
        allowed = (*allowed, str) if name == "modalities" else allowed
        if float in allowed and isinstance(value, str):
            try:
                checked[name] = value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
        if not ok and not (float in allowed and isinstance(value, int) and not isinstance(value, bool)):
            wrong.append(f"{name} = {value!r} (expected {' or '.join(t.__name__ for t in allowed)})")
    if wrong:
        raise ValueError(f"{source}: wrong types for TrainConfig fields: {'; '.join(wrong)}")
    return checked


def _import_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise ImportError(f"reading or writing the YAML config {path} needs pyyaml: {YAML_HINT}") from exc
    return yaml
