"""FB15k-237: the standard Freebase link-prediction benchmark, with entity and relation text.

Toutanova & Chen 2015 (https://aclanthology.org/W15-4007/), the split everyone uses
(ConvE's copy). Text makes it multimodal:

- entity ``name`` from KG-BERT's ``entity2text.txt`` (every entity has one);
- entity ``description`` from Wikidata (``entity2wikidata.json``, villmow's mapping of
  Freebase mids), with ``wikidata_id``, ``wikidata_label`` and ``wikipedia`` properties
  where the mid maps to Wikidata (14,515 of 14,541; 13,666 with a description);
- relation ``label`` from KG-BERT's ``relation2text.txt`` (``/music/artist/origin`` ->
  "music artist origin").

The text files cover more mids than the 237-relation subset keeps (FB15k's 14,951);
only entities of the splits get a record, so no isolated nodes appear.

.. note:: Microsoft Research Data License (non-commercial research use only).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from kgstore.importers.base import Download, TripleFolder
from kgstore.importers.fetch import github_raw
from kgstore.importers.records import EntityRecord, RelationRecord
from kgstore.importers.text_files import json_text, read_json_object, read_text_map

_CONVE = "https://github.com/TimDettmers/ConvE/raw/f3c0eb286025410fa5b4c04696c918264163d0ca"
_KGBERT = ("yao8839836/kg-bert", "0b8f625108efcb9b43603b6840f2548ff3d3c973")
_VILLMOW = ("villmow/datasets_knowledge_embedding", "9e392453d6804d1f51c13e5650ae58ed48b638d5")
_PP413 = ("pp413/Knowledge_embedding_benchmark_datasets", "7823ceac4b2c5a05c0e2c80b1328de376af66d46")


class FB15k237(TripleFolder):
    """FB15k-237 triples, entity names, Wikidata descriptions and relation texts.

    Downloads: ConvE's ``FB15k-237.tar.gz`` has no published checksum, so the three
    split files inside it are pinned (their sha256, as extracted); the text files come
    from fixed commits of KG-BERT and villmow/datasets_knowledge_embedding, each pinned
    by its own sha256; the MSR licence travels with the data.
    """

    name = "fb15k-237"
    description = "FB15k-237: Freebase link prediction (14,541 entities, 237 relations) with names and descriptions"
    folder_names = ("FB15k-237", "fb15k-237")
    required_files = ("train.txt", "valid.txt", "test.txt", "kgbert_entity2text.txt",
                      "kgbert_relation2text.txt", "entity2wikidata.json")
    licence = "Microsoft Research Data License Agreement: non-commercial research use only"
    expected: ClassVar[dict[str, int]] = {
        "entities": 14_541, "relations": 237, "train": 272_115, "valid": 17_535, "test": 20_466,
        "names": 14_541, "descriptions": 13_666, "relation_labels": 237,
    }
    downloads = (
        Download(f"{_CONVE}/FB15k-237.tar.gz", "", "FB15k-237.tar.gz", unpack=True, members=(
            ("train.txt", "6e4c2782169af21e9743f3b1d200886f5d595bf6bc504ec1351720949c5cdfae"),
            ("valid.txt", "cf6309010852f6a8d47a45df830a426415d1ee6f7a3970a8376ff1fb81db4a5c"),
            ("test.txt", "5711cf41623ceb4eacc50eb6108a3ca6565c7492e3caaf82a3e355cc660d1574"))),
        Download(github_raw(*_KGBERT, "data/FB15k-237/entity2text.txt"),
                 "16beedcfad3d32696e8b0b98cfa0f5eeb144f5142225f227a64fd9ce37447da5", "kgbert_entity2text.txt"),
        Download(github_raw(*_KGBERT, "data/FB15k-237/relation2text.txt"),
                 "4bf7cb6ea0ac09b17ad210889f723be5e079669f6ae5d507787e1320bbaa0f72", "kgbert_relation2text.txt"),
        Download(github_raw(*_VILLMOW, "FB15k-237/entity2wikidata.json"),
                 "80e74bb002fb9ca0ecd3d63879a3a51121db855d312a101917a1ffb6aed2fea9", "entity2wikidata.json"),
        Download(github_raw(*_PP413, "FB15k-237/MSR-LA_Data_Full Rights_FB15K-237 Knowledge Base Completion "
                                     "Dataset (2650).docx"),
                 "469221cf7b5aabd4293210e63b5bbc7bf7669b032854e4b1a50ce030a4657a60", "LICENSE_MSR-LA_FB15K-237.docx"),
    )

    def entities(self) -> Iterator[EntityRecord]:
        entity_ids, _ = self.vocabulary()
        names = read_text_map(self.root / "kgbert_entity2text.txt", self.errors, what="name")
        wikidata_path = self.root / "entity2wikidata.json"
        wikidata = read_json_object(wikidata_path, self.errors)
        for mid in sorted(entity_ids):
            entry = wikidata.get(mid)
            properties: dict[str, str | None] = {}
            description = None
            if entry is not None:
                description = json_text(wikidata_path, self.errors, mid, entry, "description")
                for prop, field in (("wikidata_id", "wikidata_id"), ("wikidata_label", "label"),
                                    ("wikipedia", "wikipedia")):
                    properties[prop] = json_text(wikidata_path, self.errors, mid, entry, field)
            yield EntityRecord(mid, name=names.get(mid) or None, description=description,
                               properties={k: v for k, v in properties.items() if v is not None})

    def relations(self) -> Iterator[RelationRecord]:
        for relation, text in read_text_map(self.root / "kgbert_relation2text.txt", self.errors,
                                            what="relation text").items():
            yield RelationRecord(relation, label=text or None)
