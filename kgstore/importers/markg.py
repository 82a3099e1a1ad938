"""MarKG: the multimodal analogical-reasoning knowledge graph behind MARS.

Zhang et al., ICLR 2023 (https://arxiv.org/abs/2210.00312,
https://github.com/zjunlp/MKG_Analogy). Wikidata items and properties:

- ``wiki_tuple_ids.txt``: 33,307 ``head<TAB>relation<TAB>tail`` triples. MarKG has no
  link-prediction split, so every triple is ``train``; 6 lines repeat a triple (sync
  writes each triple once).
- ``entity2text.txt`` (label) -> ``name``; ``entity2textlong.txt`` (Wikidata
  description) -> ``description``; the same pair for relations -> ``label`` and
  ``description``. The text files also cover MARS-only entities and one analogy
  relation (``A14``); only entities and relations of the triples get records.
- ``MARS/images/<QID>/*``: the only images in the repository, 17 samples for Q1501
  and Q6574; the full image set is an external download (Google Drive) and is read
  the same way when its folders are placed under ``MARS/images/``.

The MARS analogy splits (``MARS/*.json``) are tasks over this graph, not facts, and
are not imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from kgstore.importers.base import Download, TripleFolder
from kgstore.importers.fetch import github_raw
from kgstore.importers.records import EntityRecord, ImageRecord, RelationRecord
from kgstore.importers.text_files import read_text_map

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")
_REPO = ("zjunlp/MKG_Analogy", "a7225385c037a28298f013758bf830119690da9e")
_SAMPLE_IMAGES = (
    ("Q1501/02009000.jpg", "d7aca64595d018746933fb4156bba664be3fd259c878ab61cd2b7736a55b6638"),
    ("Q1501/02009001.jpg", "e64bb9ef6803db243c6a6e682ff2151b836f6e8e7e8009fa94b67fefb494f82a"),
    ("Q1501/02009002.jpg", "91f8576da2ea4481f2e693be4e2a336c75dd3a1bb3d418b92e258a16028a9eb9"),
    ("Q1501/1.backyardpool.jpg", "9aa9db36039684812635d97cc11d301ab641913fe4b7fe01675be189f5e5f017"),
    ("Q1501/2.image.jpg.png", "61a2b37732a68bf2d2df73ed859d42ed7c5cc4002e504127f08dc133bbbda6d3"),
    ("Q1501/3.pool2.jpg", "1b114a48e0c56fde1868c28b072135e05932af16f528c60510794f2cc583504d"),
    ("Q1501/4.500-kisilik-kapali-yuzme-havuzlari-img-1.jpg",
     "aea522328382a9ba70c1efc0f3759ef4c095e5d938285355bd8337aefed6f6d6"),
    ("Q1501/5.sun_yat_sen_memorial_park_swimming_pool.jpg",
     "7074d759382e28f919f6a4f8a58e23638686c588cbaa9608e602afc0dc6fb8ad"),
    ("Q6574/07883000.jpg", "e541d8074ffea61cbb457daf549770516aca0efeba6178923f7562a8df6e63c6"),
    ("Q6574/07883001.jpg", "eda54e7bc76604cd5d21b146c2e7f1a346c75cc977a60873e860eb13a85e2b1b"),
    ("Q6574/07883002.jpg", "a7221ff45d13a7f0f8c661209c75f27d4b8395e22c04a6f4d3d7d1641a7b447a"),
    ("Q6574/07883003.jpg", "716a1eb31611f8e40b1ccc878f1494286aca5e79ae461b2952a9104a6308ab69"),
    ("Q6574/1.timezones2008_utc%2b0_gray.png", "d960e2e3998c6c64b65aef430aa5754793e92ff5079e64fdccc03c4215b4395d"),
    ("Q6574/2.300px-timezones2011_utc%2b0.png", "c9b28628dba3d1c159daa9007bb9dd4e54442bab56edca859237bae200868691"),
    ("Q6574/3.world_time_zones_map.png", "2bc67b58057f01733f20596d1ee3caa7f23bedf84652675e6f03e1d08da3ac82"),
    ("Q6574/4.time-zone2-min.jpg", "9d0edcb6749ce1d146eea150fea054e8b7ff4884825b1c8dc860f589d4e0c938"),
    ("Q6574/5.gmtzones.png", "93ba3509cf1170230a20c13416191d79cdf912a081018096fe8d9d0c9c76efa3"),
)


class MarKG(TripleFolder):
    """MarKG triples (all train), entity and relation labels and descriptions, sample images."""

    name = "markg"
    description = "MarKG: multimodal analogical-reasoning KG (10,182 Wikidata entities, 191 relations)"
    folder_names = ("MarKG", "markg")
    split_files: ClassVar[dict[str, str]] = {"train": "wiki_tuple_ids.txt"}
    required_files = ("wiki_tuple_ids.txt", "entity2text.txt", "entity2textlong.txt", "relation2text.txt",
                      "relation2textlong.txt")
    licence = "MIT (zjunlp/MKG_Analogy); Wikidata content CC0; sample images have no stated licence"
    expected: ClassVar[dict[str, int]] = {
        "entities": 10_182, "relations": 191, "train": 33_307, "duplicate_triples": 6,
        "names": 10_182, "descriptions": 10_182, "relation_labels": 191, "relation_descriptions": 191,
        "images": 17,
    }
    downloads = (
        *(Download(github_raw(*_REPO, f"MarT/dataset/MarKG/{f}"), sha256, f) for f, sha256 in (
            ("wiki_tuple_ids.txt", "4469655787e47052c9f8a406f7a0665e73bb82426a4b9bf52095b1b4541f5d81"),
            ("entity2text.txt", "13870cc450a6c39b6861760ea762b97fe942613e305acbe5881950edac3d233f"),
            ("entity2textlong.txt", "b537de1d5b7c367d87eb0fdbdf5b8c5ee941ff11e6d96f14bd73fe6a0073535e"),
            ("relation2text.txt", "421905862ce9dfc5fc358105bef866d8269308dbf7a66507e6e4598cb8171712"),
            ("relation2textlong.txt", "249955fc557d388958b6ae4131899beba34553a883f685b135416f933e328968"),
        )),
        *(Download(github_raw(*_REPO, f"MarT/dataset/MARS/images/{f}"), sha256, f"MARS/images/{f}")
          for f, sha256 in _SAMPLE_IMAGES),
        Download(github_raw(*_REPO, "LICENSE"), "c04762b96737ba6fb21ce7d8bd94065ba50d31120ae1d3f2fd4aea70a65f2e29",
                 "LICENSE"),
    )

    def files(self) -> list[Path]:
        return sorted({*super().files(), *(path for _, path in self._image_files())})

    def entities(self) -> Iterator[EntityRecord]:
        entity_ids, _ = self.vocabulary()
        names = read_text_map(self.root / "entity2text.txt", self.errors, what="label")
        descriptions = read_text_map(self.root / "entity2textlong.txt", self.errors, what="description")
        for entity in sorted(entity_ids):
            yield EntityRecord(entity, name=names.get(entity) or None, description=descriptions.get(entity) or None)

    def relations(self) -> Iterator[RelationRecord]:
        _, used = self.vocabulary()
        labels = read_text_map(self.root / "relation2text.txt", self.errors, what="label")
        descriptions = read_text_map(self.root / "relation2textlong.txt", self.errors, what="description")
        for relation in sorted(used):
            yield RelationRecord(relation, label=labels.get(relation) or None,
                                 description=descriptions.get(relation) or None)

    def _image_files(self) -> Iterator[tuple[str, Path]]:
        """``(entity, path)`` for each image file under ``MARS/images/<entity>/``."""
        folder = self.root / "MARS" / "images"
        if not folder.is_dir():
            return
        for entity_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            for path in sorted(entity_dir.iterdir()):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                    yield entity_dir.name, path

    def images(self) -> Iterator[ImageRecord]:
        for entity, path in self._image_files():
            yield ImageRecord(entity, path)
