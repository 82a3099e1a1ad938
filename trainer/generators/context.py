"""An entity's own facts as a short text: the graph half of a text generator's condition.

Facts are ``relation: neighbour`` phrases. Outgoing facts come first, then incoming ones
(``neighbour's relation``), each ordered by how *attribute-like* their relation is: the
fewer answers a relation has per entity on average (nationality: about one; films of an
actor: dozens), the more a single fact says about the entity. At most ``max_facts``
facts and ``max_chars`` characters; ties keep the graph's order, so the text is stable.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

MAX_FACTS = 8
MAX_CHARS = 320
PER_RELATION = 2  # at most this many neighbours named per relation


def relation_phrase(name: str) -> str:
    """A readable phrase for a relation name: Freebase paths keep their last part, ``_`` become spaces.

    ``/people/person/nationality`` → ``nationality``; ``_hypernym`` → ``hypernym``;
    ``/film/film/release_date_s./film/film_regional_release_date/film_release_region`` →
    ``film release region``.
    """
    tail = name.rstrip("/").split("/")[-1] if "/" in name else name
    return re.sub(r"[_.]+", " ", tail).strip() or name


@dataclass
class FactIndex:
    """Each entity's facts, ready to verbalise (built once per snapshot)."""

    names: list[str]
    relation_phrases: list[str]
    outgoing: dict[int, list[tuple[float, int, int]]]  # entity -> (fan-out of relation, relation, tail)
    incoming: dict[int, list[tuple[float, int, int]]]  # entity -> (fan-in of relation, relation, head)

    @classmethod
    def build(cls, triples: np.ndarray, names: list[str | None], relation_names: list[str]) -> FactIndex:
        """``triples`` int ``[N, 3]`` (facts only: predicted edges are never in a snapshot)."""
        heads, relations, tails = (triples[:, i].astype(np.int64) for i in range(3))
        num_relations = len(relation_names)
        count = np.bincount(relations, minlength=num_relations).astype(np.float64)
        # Mean answers per (entity, relation): count / distinct heads (or tails) of the relation.
        distinct_heads = np.array([len(np.unique(heads[relations == r])) or 1 for r in range(num_relations)])
        distinct_tails = np.array([len(np.unique(tails[relations == r])) or 1 for r in range(num_relations)])
        fan_out, fan_in = count / distinct_heads, count / distinct_tails
        outgoing: dict[int, list[tuple[float, int, int]]] = defaultdict(list)
        incoming: dict[int, list[tuple[float, int, int]]] = defaultdict(list)
        for h, r, t in zip(heads.tolist(), relations.tolist(), tails.tolist(), strict=True):
            outgoing[h].append((fan_out[r], r, t))
            incoming[t].append((fan_in[r], r, h))
        for table in (outgoing, incoming):
            for facts in table.values():
                facts.sort(key=lambda fact: fact[0])  # stable: equal ranks keep the graph's order
        readable = [name or "" for name in names]
        return cls(readable, [relation_phrase(n) for n in relation_names], dict(outgoing), dict(incoming))

    def context(self, entity: int, *, max_facts: int = MAX_FACTS, max_chars: int = MAX_CHARS) -> str:
        """``"nationality: United States; profession: actor; ..."``, or ``""`` for an entity without facts."""
        phrases: list[str] = []
        per_relation: dict[tuple[str, int], int] = defaultdict(int)
        for direction, table in (("out", self.outgoing), ("in", self.incoming)):
            for _, relation, other in table.get(entity, ()):
                name = self.names[other]
                if not name or per_relation[(direction, relation)] >= PER_RELATION:
                    continue
                per_relation[(direction, relation)] += 1
                rel = self.relation_phrases[relation]
                phrase = f"{rel}: {name}" if direction == "out" else f"{name}'s {rel}"
                if phrase in phrases:
                    continue
                if sum(len(p) + 2 for p in phrases) + len(phrase) > max_chars:
                    return "; ".join(phrases)
                phrases.append(phrase)
                if len(phrases) >= max_facts:
                    return "; ".join(phrases)
        return "; ".join(phrases)
