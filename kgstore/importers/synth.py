"""A synthetic knowledge graph of any size: ``kgstore datasets synth OUT/``.

The graph is written as a :class:`~kgstore.importers.base.TripleFolder` (``train.txt``,
``valid.txt``, ``test.txt``: ``head<TAB>relation<TAB>tail``), so ``kgstore sync OUT/``
imports it under the folder's name, plus ``synth.json`` (the arguments and the counts;
sync does not read it). It exists to measure how kgstore's costs grow with the graph
(``bench/scale_bench.py``).

How it is drawn, all with numpy arrays (10M triples in seconds, not minutes):

- **Types.** Entities ``e0 .. e{N-1}`` get one of ``min(R, N, 16)`` types, evenly; each
  relation ``r0 .. r{R-1}`` has a head type (``r mod types``, so every type heads some
  relation) and a tail type (random). Every triple respects its relation's types.
- **Power law.** Entities and relations get a popularity ``(rank + 1) ** -exponent`` from a
  random ranking, so degrees and relation frequencies follow Zipf's law (``exponent`` 0.8
  by default; 0 is uniform). A triple draws its relation by popularity, then its head and
  tail by popularity among the entities of the relation's head and tail types.
- **Coverage.** Every entity heads one triple (its relation drawn uniformly among those its
  type heads) and every relation has one triple, before the power-law bulk; so the graph
  has exactly ``entities`` entities and ``relations`` relations.
- **No duplicates.** Repeats of ``(head, relation, tail)`` are dropped (the first kept) and
  more are drawn until there are exactly ``triples``. Self-loops are allowed.
- **Split.** The triples are shuffled. The first triple (in that order) of each entity and
  of each relation stays in train; valid and test are the next triples of the rest, so
  every entity and relation of valid and test also appears in train.

Deterministic: the same arguments give the same bytes (numpy's ``default_rng(seed)``; a
different numpy release may draw differently, ``synth.json`` records the version).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kgstore.errors import KgstoreError

MAX_TYPES = 16
LINES_PER_WRITE = 1_000_000
SPLIT_FILES = {"train": "train.txt", "valid": "valid.txt", "test": "test.txt"}
META_FILE = "synth.json"


@dataclass(frozen=True)
class SynthSpec:
    """What to generate; :func:`check_spec` says what is allowed."""

    entities: int
    relations: int
    triples: int
    seed: int = 0
    valid_fraction: float = 0.05
    test_fraction: float = 0.05
    exponent: float = 0.8


@dataclass(frozen=True)
class SynthResult:
    folder: Path
    counts: dict[str, int]  # triples per split
    seconds: float


def default_entities(triples: int) -> int:
    """The entity count when none is given: an average degree of 20 (FB15k-237's is 21)."""
    return max(2, triples // 10)


def check_spec(spec: SynthSpec) -> None:
    """Raise :class:`KgstoreError` naming the option when ``spec`` cannot be generated."""
    if spec.entities < 2:
        raise KgstoreError(f"--entities must be at least 2, got {spec.entities}")
    if spec.relations < 1:
        raise KgstoreError(f"--relations must be at least 1, got {spec.relations}")
    if spec.exponent < 0:
        raise KgstoreError(f"--exponent must be 0 (uniform) or more, got {spec.exponent}")
    for name, value in (("--valid-fraction", spec.valid_fraction), ("--test-fraction", spec.test_fraction)):
        if not 0 <= value < 0.5:
            raise KgstoreError(f"{name} must be in [0, 0.5), got {value}")
    if spec.entities * spec.entities * spec.relations >= 2**62:
        raise KgstoreError(f"{spec.entities:,} entities x {spec.relations:,} relations is too large a triple "
                           "space", hint="Use fewer entities or relations (entities² x relations < 2^62).")
    possible = spec.entities * spec.entities * spec.relations
    held_out = _held_out_sizes(spec)
    needed = spec.entities + spec.relations + sum(held_out)
    if spec.triples < needed:
        raise KgstoreError(
            f"--triples {spec.triples:,} is too few for {spec.entities:,} entities and {spec.relations:,} "
            f"relations: every entity and relation needs a train triple, plus {sum(held_out):,} for valid and "
            f"test, so at least {needed:,}",
            hint="Raise --triples, or lower --entities, --relations or the split fractions.")
    if spec.triples > possible // 4:
        raise KgstoreError(f"--triples {spec.triples:,} is too dense: only {possible:,} distinct triples exist "
                           f"over {spec.entities:,} entities and {spec.relations:,} relations",
                           hint="Raise --entities or --relations (at most a quarter of all triples is drawn).")


def _held_out_sizes(spec: SynthSpec) -> tuple[int, int]:
    return round(spec.triples * spec.valid_fraction), round(spec.triples * spec.test_fraction)


def generate_triples(spec: SynthSpec) -> dict[str, np.ndarray]:
    """``{split: int64 array of shape (n, 3)}`` of ``(head, relation, tail)`` indices."""
    check_spec(spec)
    rng = np.random.default_rng(spec.seed)
    n, r = spec.entities, spec.relations
    num_types = min(r, n, MAX_TYPES)
    entity_type = rng.permutation(np.arange(n) % num_types)
    entity_weight = _zipf_weights(rng, n, spec.exponent)
    head_type = np.arange(r) % num_types
    tail_type = rng.integers(0, num_types, size=r)
    relation_weight = _zipf_weights(rng, r, spec.exponent)
    by_type = _TypedSampler(entity_type, entity_weight, num_types)

    # Coverage: each entity heads one triple, each relation has one.
    heads_of_type = [np.flatnonzero(head_type == k) for k in range(num_types)]
    cover_rel = np.empty(n, dtype=np.int64)
    for k in range(num_types):
        members = np.flatnonzero(entity_type == k)
        cover_rel[members] = heads_of_type[k][rng.integers(0, len(heads_of_type[k]), size=len(members))]
    cover = [np.stack([np.arange(n), cover_rel, by_type.draw(rng, tail_type[cover_rel])], axis=1)]
    rel_ids = np.arange(r)
    cover.append(np.stack([by_type.draw(rng, head_type[rel_ids]), rel_ids, by_type.draw(rng, tail_type[rel_ids])],
                          axis=1))
    triples = _unique_first(np.concatenate(cover), n, r)

    relation_cdf = np.cumsum(relation_weight)
    while len(triples) < spec.triples:
        missing = spec.triples - len(triples)
        size = missing + missing // 10 + 1000
        rels = np.minimum(np.searchsorted(relation_cdf, rng.random(size) * relation_cdf[-1], side="right"), r - 1)
        drawn = np.stack([by_type.draw(rng, head_type[rels]), rels, by_type.draw(rng, tail_type[rels])], axis=1)
        triples = _unique_first(np.concatenate([triples, drawn]), n, r)
    triples = triples[: spec.triples]
    return _split(rng, triples, spec, n, r)


def _zipf_weights(rng: np.random.Generator, size: int, exponent: float) -> np.ndarray:
    return (rng.permutation(size) + 1.0) ** -exponent


class _TypedSampler:
    """Draws entities of a given type with probability proportional to their weight."""

    def __init__(self, entity_type: np.ndarray, weight: np.ndarray, num_types: int) -> None:
        self.members = [np.flatnonzero(entity_type == k) for k in range(num_types)]
        self.cdfs = [np.cumsum(weight[m]) for m in self.members]

    def draw(self, rng: np.random.Generator, types: np.ndarray) -> np.ndarray:
        out = np.empty(len(types), dtype=np.int64)
        for k, (members, cdf) in enumerate(zip(self.members, self.cdfs, strict=True)):
            where = np.flatnonzero(types == k)
            if len(where):
                at = np.searchsorted(cdf, rng.random(len(where)) * cdf[-1], side="right")
                out[where] = members[np.minimum(at, len(members) - 1)]
        return out


def _unique_first(triples: np.ndarray, n: int, r: int) -> np.ndarray:
    """``triples`` without repeats, each kept at its first position."""
    keys = (triples[:, 0] * r + triples[:, 1]) * n + triples[:, 2]
    _, first = np.unique(keys, return_index=True)
    return triples[np.sort(first)]


def _split(rng: np.random.Generator, triples: np.ndarray, spec: SynthSpec, n: int, r: int) -> dict[str, np.ndarray]:
    triples = triples[rng.permutation(len(triples))]
    positions = np.arange(len(triples))
    in_train = np.zeros(len(triples), dtype=bool)
    # First appearance (shuffled order) of each entity, as head or tail, and of each relation.
    _, first_entity = np.unique(np.concatenate([triples[:, 0], triples[:, 2]]), return_index=True)
    in_train[np.concatenate([positions, positions])[first_entity]] = True
    _, first_relation = np.unique(triples[:, 1], return_index=True)
    in_train[first_relation] = True
    n_valid, n_test = _held_out_sizes(spec)
    free = np.flatnonzero(~in_train)
    if len(free) < n_valid + n_test:  # check_spec leaves room; kept as a guard
        raise KgstoreError(f"only {len(free):,} triples can be held out, {n_valid + n_test:,} asked")
    held = np.zeros(len(triples), dtype=np.int8)  # 0 train, 1 valid, 2 test
    held[free[:n_valid]] = 1
    held[free[n_valid:n_valid + n_test]] = 2
    return {"train": triples[held == 0], "valid": triples[held == 1], "test": triples[held == 2]}


def write_synth(folder: Path, spec: SynthSpec) -> SynthResult:
    """Generate the graph of ``spec`` into ``folder`` (created; existing split files replaced)."""
    import time

    started = time.monotonic()
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise KgstoreError(f"{folder} exists and is not a folder", hint="Give a new or existing folder as OUT.")
    splits = generate_triples(spec)
    folder.mkdir(parents=True, exist_ok=True)
    for split, array in splits.items():
        _write_split(folder / SPLIT_FILES[split], array)
    counts = {split: len(array) for split, array in splits.items()}
    num_types = min(spec.relations, spec.entities, MAX_TYPES)
    meta = {"generator": "kgstore datasets synth", "numpy": np.__version__, **asdict(spec),
            "types": num_types, "triples_by_split": counts}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return SynthResult(folder, counts, time.monotonic() - started)


def _write_split(path: Path, triples: np.ndarray) -> None:
    line = "e{}\tr{}\te{}\n".format
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="ascii", newline="\n") as handle:
        for start in range(0, len(triples), LINES_PER_WRITE):
            chunk = triples[start:start + LINES_PER_WRITE]
            handle.write("".join(map(line, chunk[:, 0].tolist(), chunk[:, 1].tolist(), chunk[:, 2].tolist())))
    tmp.replace(path)
