"""YAGO3-10: YAGO3 entities with at least 10 relations, as split by ConvE.

Mahdisoltani et al. 2015 / Dettmers et al. 2018. 123,182 entities (their YAGO ids,
``Mikheil_Khutsishvili``, double as names: ``Mikheil Khutsishvili``), 37 relations,
1,079,040 / 5,000 / 5,000 triples.

The train split is optional here: the shared copy (``YAGO3-10-partial``) holds only
valid, test and the full entity and relation lists, because every copy of
``train.txt`` is too large to stage. With ``train.txt`` in the folder it is read like
the others. Entity records come from the entity list, so the node set is the full
123,182 either way, and does not change when ``train.txt`` is added later; without
it, most of those nodes have no edges (do not train on the partial copy).

Downloads: valid and test from villmow/datasets_knowledge_embedding and the entity and
relation lists from KG-BERT, each at a fixed commit and pinned by sha256. ``train.txt``
is not downloaded: its only source (ConvE's ``YAGO3-10.tar.gz``) publishes no checksum
and the staged copy has no train file to take one from, so kgstore cannot verify it.
Extract ``train.txt`` from https://github.com/TimDettmers/ConvE/raw/master/YAGO3-10.tar.gz
into the folder yourself for full training.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from kgstore.importers.base import Download, TripleFolder
from kgstore.importers.fetch import github_raw
from kgstore.importers.records import EntityRecord, RelationRecord
from kgstore.importers.text_files import read_id_list, read_text_map

FULL_TRAIN_TRIPLES = 1_079_040
_KGBERT = ("yao8839836/kg-bert", "0b8f625108efcb9b43603b6840f2548ff3d3c973")
_VILLMOW = ("villmow/datasets_knowledge_embedding", "9e392453d6804d1f51c13e5650ae58ed48b638d5")


class YAGO310(TripleFolder):
    """YAGO3-10 splits (train optional), the full entity list and relation texts.

    ``expected`` describes the shared partial copy: no ``train`` key, since train is
    either absent (0) or the full :data:`FULL_TRAIN_TRIPLES`.
    """

    name = "yago3-10"
    description = "YAGO3-10: 123,182 YAGO entities, 37 relations (train split optional: 1,079,040 triples)"
    folder_names = ("YAGO3-10-partial", "YAGO3-10", "yago3-10")
    required_files = ("valid.txt", "test.txt", "kgbert_entities.txt", "kgbert_relation2text.txt")
    optional_files = ("train.txt",)
    optional_splits = ("train",)
    licence = "CC BY 3.0 (YAGO3); attribute the YAGO project"
    expected: ClassVar[dict[str, int]] = {
        "entities": 123_182, "relations": 37, "valid": 5_000, "test": 5_000,
        "names": 123_182, "relation_labels": 37,
    }
    downloads = (
        Download(github_raw(*_VILLMOW, "other/YAGO3-10/valid.txt"),
                 "c9018b77ec77e99f8d48bc3258d404f10b2049a6c7b4ac6eb663697e799dc6f5", "valid.txt"),
        Download(github_raw(*_VILLMOW, "other/YAGO3-10/test.txt"),
                 "003887ca8a34c90fcaf9b0250b1c30a4b5f617f80f8cf0aeab9723333061598a", "test.txt"),
        Download(github_raw(*_KGBERT, "data/YAGO3-10/entities.txt"),
                 "a52dbc3defbf7df5847bd55fd1eab0e8b9f6bd0162031ffded39977707390607", "kgbert_entities.txt"),
        Download(github_raw(*_KGBERT, "data/YAGO3-10/relation2text.txt"),
                 "0fe90dac76e52175a3b7018206a82f7854b6834a0b7fd1af955aa3dc988d89d9", "kgbert_relation2text.txt"),
    )

    def entities(self) -> Iterator[EntityRecord]:
        for entity in read_id_list(self.root / "kgbert_entities.txt", self.errors):
            yield EntityRecord(entity, name=entity.replace("_", " ").strip() or None)

    def relations(self) -> Iterator[RelationRecord]:
        for relation, text in read_text_map(self.root / "kgbert_relation2text.txt", self.errors,
                                            what="relation text").items():
            yield RelationRecord(relation, label=text or None)
