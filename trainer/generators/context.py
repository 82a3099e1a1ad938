"""An entity's own facts as a short text: the graph half of a text generator's condition.

Facts are ``relation: neighbour`` phrases. Outgoing facts come first, then incoming ones
(``neighbour's relation``), each ordered by how *attribute-like* their relation is: the
fewer answers a relation has per entity on average (nationality: about one; films of an
actor: dozens), the more a single fact says about the entity. At most ``max_facts``
facts and ``max_chars`` characters; ties keep the graph's order, so the text is stable.

A fact that nearly every fact of its relation shares says nothing about this entity and is
left out: on FB15k-237, ``category: Official Website`` (4,364 entities, all the same
answer), ``type of union: Marriage`` (89 %), ``languages: English Language`` (88 %),
``currency: United States Dollar``. They took the slots of the facts a description is made
of (``profession: Actor``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

MAX_FACTS = 8
MAX_CHARS = 280
PER_RELATION = 2  # at most this many neighbours named per relation
CONSTANT_SHARE = 0.85  # a relation whose commonest answer is this share of its facts (or more) is not told
MIN_FACTS_JUDGED = 20  # ... when it has at least this many facts: a small relation's answers are not judged


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
        distinct_heads, same_head = _answers(relations, heads, num_relations)
        distinct_tails, same_tail = _answers(relations, tails, num_relations)
        fan_out, fan_in = count / distinct_heads, count / distinct_tails
        outgoing: dict[int, list[tuple[float, int, int]]] = defaultdict(list)
        incoming: dict[int, list[tuple[float, int, int]]] = defaultdict(list)
        for h, r, t in zip(heads.tolist(), relations.tolist(), tails.tolist(), strict=True):
            if not same_tail[r]:
                outgoing[h].append((fan_out[r], r, t))
            if not same_head[r]:
                incoming[t].append((fan_in[r], r, h))
        for table in (outgoing, incoming):
            for facts in table.values():
                facts.sort(key=lambda fact: fact[0])  # stable: equal ranks keep the graph's order
        readable = [name or "" for name in names]
        return cls(readable, [relation_phrase(n) for n in relation_names], dict(outgoing), dict(incoming))

    def context(self, entity: int, *, max_facts: int = MAX_FACTS, max_chars: int = MAX_CHARS) -> str:
        """``"nationality: United States; profession: actor; ..."``, or ``""`` for an entity without facts.

        Every relation is told once before any is told twice, and every neighbour once
        (``location: Philadelphia`` after ``place of birth: Philadelphia`` adds nothing), so
        two award nominations do not crowd out the profession a description names."""
        facts = [("out", relation, other) for _, relation, other in self.outgoing.get(entity, ())]
        facts += [("in", relation, other) for _, relation, other in self.incoming.get(entity, ())]
        phrases: list[str] = []
        named: set[int] = set()
        told: dict[tuple[str, int], int] = defaultdict(int)
        for round_ in range(PER_RELATION):
            for direction, relation, other in facts:
                name = self.names[other]
                if not name or other in named or told[(direction, relation)] != round_:
                    continue
                told[(direction, relation)] += 1
                named.add(other)
                rel = self.relation_phrases[relation]
                phrase = f"{rel}: {name}" if direction == "out" else f"{name}'s {rel}"
                if sum(len(p) + 2 for p in phrases) + len(phrase) > max_chars:
                    return "; ".join(phrases)
                phrases.append(phrase)
                if len(phrases) >= max_facts:
                    return "; ".join(phrases)
        return "; ".join(phrases)


def _answers(relations: np.ndarray, answers: np.ndarray, num_relations: int) -> tuple[np.ndarray, np.ndarray]:
    """Per relation, from one sort of the triples: its distinct answers (at least 1), and whether
    one answer is :data:`CONSTANT_SHARE` of its facts or more (judged only for relations with
    :data:`MIN_FACTS_JUDGED` facts or more)."""
    order = np.argsort(relations, kind="stable")
    bounds = np.searchsorted(relations[order], np.arange(num_relations + 1))
    distinct = np.ones(num_relations, dtype=np.int64)
    constant = np.zeros(num_relations, dtype=bool)
    for r in range(num_relations):
        values = answers[order[bounds[r]:bounds[r + 1]]]
        if len(values) == 0:
            continue
        counts = np.unique(values, return_counts=True)[1]
        distinct[r] = len(counts)
        constant[r] = len(values) >= MIN_FACTS_JUDGED and counts.max() >= CONSTANT_SHARE * len(values)
    return distinct, constant
