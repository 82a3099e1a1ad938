"""WN18RR: WordNet link prediction without the inverse-relation leak, with names and glosses.

Dettmers et al. 2018 (https://arxiv.org/abs/1707.01476), ConvE's split. Entities are
WordNet synset offsets (``00260881``); their text comes from ``wn-entity2text-new.txt``
(pp413/Knowledge_embedding_benchmark_datasets), one of the three text files in the
data folder. It is picked because it separates the lemma from the gloss with `` -- ``
(``stool -- solid excretory product evacuated from the bowels``), so ``name`` and
``description`` split unambiguously; the other two use a comma, which also occurs
inside lemmas. Relation labels come from KG-BERT (``_hypernym`` -> "hypernym").

The lexical split files (``text_train.txt``: ``land_reform.n.01``) are not used: WN18RR
ids drop the part of speech, so one offset can name two synsets (471 such clashes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from kgstore.importers.base import Download, TripleFolder
from kgstore.importers.delimited import read_rows
from kgstore.importers.fetch import github_raw
from kgstore.importers.records import EntityRecord, RelationRecord
from kgstore.importers.text_files import read_text_map

_CONVE = "https://github.com/TimDettmers/ConvE/raw/f3c0eb286025410fa5b4c04696c918264163d0ca"
_KGBERT = ("yao8839836/kg-bert", "0b8f625108efcb9b43603b6840f2548ff3d3c973")
_PP413 = ("pp413/Knowledge_embedding_benchmark_datasets", "7823ceac4b2c5a05c0e2c80b1328de376af66d46")
GLOSS_SEPARATOR = " -- "


class WN18RR(TripleFolder):
    """WN18RR triples with synset names, WordNet definitions and relation labels.

    Downloads: ConvE's ``WN18RR.tar.gz`` (no published checksum; the split files inside
    are pinned as extracted), the text files from fixed commits, each pinned.
    """

    name = "wn18rr"
    description = "WN18RR: WordNet link prediction (40,943 synsets, 11 relations) with names and definitions"
    folder_names = ("WN18RR", "wn18rr")
    required_files = ("train.txt", "valid.txt", "test.txt", "wn-entity2text-new.txt", "kgbert_relation2text.txt")
    licence = "WordNet 3.0 licence (permissive; keep the copyright notice)"
    expected: ClassVar[dict[str, int]] = {
        "entities": 40_943, "relations": 11, "train": 86_835, "valid": 3_034, "test": 3_134,
        "names": 40_943, "descriptions": 40_943, "relation_labels": 11,
    }
    downloads = (
        Download(f"{_CONVE}/WN18RR.tar.gz", "", "WN18RR.tar.gz", unpack=True, members=(
            ("train.txt", "038612e783c215ee5f3ca9fbfca27b8d0739be1028fe4ee7c174aecf0b83d5df"),
            ("valid.txt", "453ce7202afa58094a04d2b1560ee2b02660f1c260b32ce6651c8ccedd1028ab"),
            ("test.txt", "0383bceaaa1096cf3c03ec021ed0048068e2355dbfc0239b292cefdac821cec5"))),
        Download(github_raw(*_PP413, "WN18RR/wn-entity2text-new.txt"),
                 "8af8f2fdd0ac9d577c41ee216b96b8cc39098c796ec331c0c2e0910e9202ee52", "wn-entity2text-new.txt"),
        Download(github_raw(*_KGBERT, "data/WN18RR/relation2text.txt"),
                 "91b1de5585d686ed31498d50f1c4eed44ba9486dffbbcc0c28927ac884184918", "kgbert_relation2text.txt"),
        Download(github_raw(*_PP413, "WN18/Wordnet3.0-LICENSE"),
                 "6c3c1815039b91dc01bdf39efa5d959fbb951d62a434e763310464d24d751c1c", "Wordnet3.0-LICENSE"),
    )

    def entities(self) -> Iterator[EntityRecord]:
        entity_ids, _ = self.vocabulary()
        path = self.root / "wn-entity2text-new.txt"
        seen: set[str] = set()
        for number, (synset, text) in read_rows(path, self.errors, min_columns=2, max_columns=2):
            synset = synset.strip()
            name, separator, gloss = text.partition(GLOSS_SEPARATOR)
            if not separator or not name.strip():
                self.errors.report(path, number, f"expected 'lemma{GLOSS_SEPARATOR}definition', found {text!r}")
                continue
            if synset in seen:
                self.errors.report(path, number, f"synset {synset} is described twice")
                continue
            seen.add(synset)
            if synset not in entity_ids:
                continue  # text for a synset that no split uses: no node for it
            yield EntityRecord(synset, name=name.strip(), description=gloss.strip() or None)

    def relations(self) -> Iterator[RelationRecord]:
        for relation, text in read_text_map(self.root / "kgbert_relation2text.txt", self.errors,
                                            what="relation text").items():
            yield RelationRecord(relation, label=text or None)
