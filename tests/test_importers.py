"""Dataset importers against the real benchmark files (no Neo4j needed).

The data directory is ``$KGSTORE_DATA`` or ``<repo>/../shared/data``; its absence is a
failure, not a skip. Every registered dataset is parsed once (module-scoped cache) and
its census compared with the importer's ``expected`` counts; key meanings are in
``kgstore.importers.census.COUNT_KEYS``. Downloads are checked with ``file://`` URLs:
the tests never touch the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kgstore.errors import KgstoreError
from kgstore.importers import registry
from kgstore.importers.base import Download, TripleFolder
from kgstore.importers.census import COUNT_KEYS, census
from kgstore.importers.codex import CodexS
from kgstore.importers.fetch import fetch_all
from kgstore.importers.input_errors import BadInputError, InputErrors
from kgstore.importers.registry import DATA_ENV, DATASETS, dataset_table, download, open_dataset
from kgstore.importers.yago import FULL_TRAIN_TRIPLES

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get(DATA_ENV) or REPO.parent / "shared" / "data").expanduser()
DATASET_NAMES = sorted(DATASETS)  # the parametrization; the meta-test checks it covers DATASETS


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """The shared data, also exported as $KGSTORE_DATA so the registry's own lookup is used."""
    assert DATA_DIR.is_dir(), (
        f"benchmark data not found at {DATA_DIR}: set {DATA_ENV} to the folder holding the dataset "
        "folders (FB15k-237/, MovieLens-100K/, ...)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATA_ENV, str(DATA_DIR))
        yield DATA_DIR


@pytest.fixture(scope="module")
def counted(data_dir: Path) -> Callable[[str], tuple[dict[str, int], InputErrors]]:
    """``counted(name)``: the census of a dataset and its input problems, computed once per module."""
    cache: dict[str, tuple[dict[str, int], InputErrors]] = {}

    def count(name: str) -> tuple[dict[str, int], InputErrors]:
        if name not in cache:
            errors = InputErrors(policy="skip")
            cache[name] = census(open_dataset(name, errors=errors)), errors
        return cache[name]

    return count


# --------------------------------------------------------------------- every dataset
@pytest.mark.parametrize("name", DATASET_NAMES)
def test_dataset_has_exactly_the_expected_counts(name: str, counted: Callable) -> None:
    counts, errors = counted(name)
    assert not errors.problems, [str(p) for p in errors.problems[:10]]
    expected = DATASETS[name].expected
    assert {k: counts[k] for k in expected} == expected


def test_every_registered_dataset_declares_counts_and_is_tested() -> None:
    assert DATASET_NAMES == sorted(DATASETS)
    for name, cls in DATASETS.items():
        assert cls.name == name
        assert set(cls.expected) <= set(COUNT_KEYS), f"{name}: unknown keys {set(cls.expected) - set(COUNT_KEYS)}"
        assert {"entities", "relations"} <= set(cls.expected), name
        assert {"train", "valid", "test"} & set(cls.expected), name
        assert cls.description and cls.licence and cls.folder_names and cls.required_files, name


def test_yago_train_split_is_optional_and_documented(counted: Callable) -> None:
    counts, _ = counted("yago3-10")
    assert counts["train"] in (0, FULL_TRAIN_TRIPLES)


def test_every_download_is_pinned_by_sha256() -> None:
    hex64 = re.compile(r"[0-9a-f]{64}")
    for name, cls in DATASETS.items():
        if not cls.downloads:
            assert cls.bundled_root() is not None, f"{name}: neither downloads nor a bundled copy"
        for item in cls.downloads:
            assert item.url.startswith("https://"), item.url
            assert item.sha256 or item.members, f"{name}: {item.url} is not pinned"
            for sha256 in (item.sha256, *(sha for _, sha in item.members)):
                assert not sha256 or hex64.fullmatch(sha256), f"{name}: bad sha256 {sha256!r}"
            assert not Path(item.filename).is_absolute() and ".." not in Path(item.filename).parts
        downloaded = {d.filename for d in cls.downloads} | {m for d in cls.downloads for m, _ in d.members}
        if cls.downloads and name != "yago3-10":  # YAGO's train split has no pinned source
            assert set(cls.required_files) <= downloaded, f"{name}: {set(cls.required_files) - downloaded}"


# -------------------------------------------------------------------- the registry
def test_a_folder_path_opens_as_a_triple_folder(tmp_path: Path) -> None:
    folder = tmp_path / "my-kg"
    folder.mkdir()
    (folder / "train.txt").write_text("a\tlikes\tb\nb\tlikes\tc\n")
    (folder / "valid.txt").write_text("a\tlikes\tc\n")
    (folder / "test.txt").write_text("c\tlikes\ta\nbroken line\n")
    errors = InputErrors(policy="skip")
    dataset = open_dataset(str(folder), errors=errors)
    assert type(dataset) is TripleFolder and dataset.namespace == "my-kg"
    assert [(t.head, t.split) for t in dataset.triples()] == [("a", "train"), ("b", "train"), ("a", "valid"),
                                                              ("c", "test")]
    assert [(p.path.name, p.line) for p in errors.problems] == [("test.txt", 2)]
    with pytest.raises(BadInputError, match=r"test\.txt:2: expected 3 columns"):
        list(open_dataset(str(folder)).triples())


def test_a_named_dataset_folder_given_as_path_points_to_the_name(data_dir: Path) -> None:
    with pytest.raises(KgstoreError, match="kgstore sync movielens-100k --source"):
        open_dataset(str(data_dir / "MovieLens-100K"))


def test_unknown_dataset_name_lists_the_known_names() -> None:
    with pytest.raises(KgstoreError) as caught:
        open_dataset("fb15k-238")
    message = str(caught.value)
    assert "unknown dataset 'fb15k-238'" in message
    assert all(name in message for name in DATASETS)


def test_a_missing_dataset_says_where_it_looked_and_how_to_fix_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    monkeypatch.setattr(registry, "download_dir", lambda name: tmp_path / "downloads" / name)
    with pytest.raises(KgstoreError) as caught:
        open_dataset("fb15k-237")
    message = str(caught.value)
    assert DATA_ENV in message and "--source" in message and "kgstore datasets download fb15k-237" in message
    assert str(tmp_path / "data") in message and "FB15k-237" in message
    with pytest.raises(KgstoreError, match=re.escape(str(tmp_path))):
        open_dataset("wn18rr", source=tmp_path)


def test_source_may_be_the_dataset_folder_or_its_parent(data_dir: Path) -> None:
    assert open_dataset("wn18rr", source=data_dir).root == data_dir / "WN18RR"
    assert open_dataset("wn18rr", source=data_dir / "WN18RR").root == data_dir / "WN18RR"
    assert open_dataset("DB15K", source=data_dir).root == data_dir / "MMKG-structure" / "DB15K"
    assert open_dataset("umls", source=data_dir).root == DATASETS["umls"].bundled_root()


def test_options_are_checked_against_the_importer(data_dir: Path) -> None:
    with pytest.raises(KgstoreError, match="Options of movielens-100k: split"):
        open_dataset("movielens-100k", splt="u2")
    with pytest.raises(KgstoreError, match="u1, u2, u3, u4, u5, ua, ub"):
        open_dataset("movielens-100k", split="u9")
    with pytest.raises(KgstoreError, match="Options of wn18rr: none"):
        open_dataset("wn18rr", split="u1")


def test_dataset_table_lists_every_dataset(data_dir: Path) -> None:
    for source in (None, data_dir):
        rows = {row["name"]: row for row in dataset_table(source)}
        assert set(rows) == set(DATASETS)
        assert all(row["present"] and row["path"] and row["licence"] and row["description"]
                   for row in rows.values())
        assert rows["fb15k-237"]["path"] == str(data_dir / "FB15k-237")


def test_pykeen_datasets_are_found_without_importing_pykeen_and_explain_when_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = DATASETS["nations"].bundled_root()
    assert root is not None and root.parts[-2:] == ("datasets", "nations")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pykeen" else real_find_spec(name, *a))
    with pytest.raises(KgstoreError, match=r"nations dataset ships inside PyKEEN(.|\n)*pip install pykeen"):
        open_dataset("nations")


# ------------------------------------------------------------------------ MovieLens
@pytest.fixture(scope="module")
def movielens(data_dir: Path) -> dict:
    dataset = open_dataset("movielens-100k")
    return {"entities": {e.id: e for e in dataset.entities()}, "triples": list(dataset.triples()),
            "images": list(dataset.images())}


def test_movielens_entities_have_their_attributes(movielens: dict) -> None:
    entities = movielens["entities"]
    toy_story = entities["movie/1"]
    assert toy_story.name == "Toy Story (1995)" and toy_story.labels == ("Movie",)
    assert "Animation" in toy_story.properties["genres"]
    assert toy_story.properties["release_date"] == "1995-01-01"
    assert toy_story.description.startswith("Led by Woody")
    assert entities["movie/543"].name == "Misérables, Les (1995)"  # u.item is latin-1
    user = entities["user/1"]
    assert user.labels == ("User",)
    assert user.properties == {"age": 24, "gender": "M", "occupation": "technician", "zip": "85711"}
    assert entities["genre/Animation"].labels == ("Genre",)
    assert entities["occupation/technician"].labels == ("Occupation",)


def test_movielens_ratings_follow_the_official_u1_split(movielens: dict) -> None:
    ratings = [t for t in movielens["triples"] if t.relation == "RATED"]
    assert sum(t.split == "train" for t in ratings) == 80_000
    assert sum(t.split == "test" for t in ratings) == 20_000
    first = ratings[0]
    assert (first.head, first.tail, first.properties) == ("user/1", "movie/1", {"rating": 5, "timestamp": 874965758})
    others = {(t.head, t.relation, t.tail, t.split) for t in movielens["triples"] if t.relation != "RATED"}
    assert ("user/1", "HAS_OCCUPATION", "occupation/technician", "train") in others
    assert ("movie/1", "HAS_GENRE", "genre/Animation", "train") in others


def test_movielens_posters_are_images_of_movies(movielens: dict, data_dir: Path) -> None:
    images = {image.entity: image.path for image in movielens["images"]}
    assert images["movie/1"] == data_dir / "MovieLens-100K" / "posters" / "1.jpg"
    assert "movie/330" not in images  # one of the 19 movies without a poster


def test_movielens_other_official_splits(data_dir: Path) -> None:
    dataset = open_dataset("movielens-100k", split="ua")
    splits = [t.split for t in dataset.triples() if t.relation == "RATED"]
    assert (splits.count("train"), splits.count("test")) == (90_570, 9_430)


def test_movielens_bad_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    ml = tmp_path / "ml-100k"
    ml.mkdir()
    (ml / "u.genre").write_text("unknown|0\nDrama|1\n")
    (ml / "u.occupation").write_text("artist\nwriter\n")
    (ml / "u.user").write_text("1|30|F|artist|12345\n2|old|M|writer|54321\n3|40|M|pilot|11111\n")
    (ml / "u.item").write_bytes("1|Misérables, Les (1995)|4-Feb-1995||http://x|0|1\n".encode("latin-1"))
    (ml / "u.data").write_text("1\t1\t4\t100\n")
    (ml / "u1.base").write_text("1\t1\t4\t100\n1\t1\t7\t101\n1\t9\t3\t102\n")
    (ml / "u1.test").write_text("")
    errors = InputErrors(policy="skip")
    dataset = DATASETS["movielens-100k"](tmp_path, errors=errors)
    entities = {e.id: e for e in dataset.entities()}
    assert entities["movie/1"].name == "Misérables, Les (1995)"
    assert entities["movie/1"].properties == {"release_date": "1995-02-04", "imdb_url": "http://x",
                                              "genres": ["Drama"]}
    triples = list(dataset.triples())
    assert [(t.head, t.relation, t.tail) for t in triples] == [
        ("user/1", "RATED", "movie/1"), ("movie/1", "HAS_GENRE", "genre/Drama"),
        ("user/1", "HAS_OCCUPATION", "occupation/artist")]
    assert [(p.path.name, p.line) for p in errors.problems] == [
        ("u.user", 2), ("u.user", 3), ("u1.base", 2), ("u1.base", 3)]
    assert "pilot" in errors.problems[1].problem and "not 1 to 5" in errors.problems[2].problem


# ---------------------------------------------------------------- other importers
def test_fb15k237_entities_carry_names_and_wikidata(data_dir: Path) -> None:
    dataset = open_dataset("fb15k-237")
    entity = next(e for e in dataset.entities() if e.id == "/m/010016")
    assert entity.name == "Denton"
    assert entity.description == "city in Texas, United States"
    assert entity.properties["wikidata_id"] == "Q128306"
    relations = {r.name: r.label for r in dataset.relations()}
    assert relations["/music/artist/origin"] == "music artist origin"
    assert data_dir / "FB15k-237" / "kgbert_entity2text.txt" in dataset.files()


def test_wn18rr_splits_lemma_and_definition(data_dir: Path) -> None:
    entity = next(e for e in open_dataset("wn18rr").entities() if e.id == "05202497")
    assert entity.name == "capableness"
    assert entity.description == "the quality of being capable -- physically or intellectually or legally"


def test_codex_types_are_properties_not_labels(data_dir: Path) -> None:
    dataset = open_dataset("codex-s")
    entities = list(dataset.entities())
    assert all(e.labels == () for e in entities)
    typed = {e.id: e.properties for e in entities}
    assert all(props["types"] and len(props["types"]) == len(props["type_labels"]) for props in typed.values())
    assert "Q5" in {t for props in typed.values() for t in props["types"]}  # human
    relation = next(r for r in dataset.relations() if r.name == "P509")
    assert relation.label == "cause of death" and relation.description
    negatives = list(CodexS(dataset.root).hard_negatives())
    assert len(negatives) == 1_827 + 1_828 and all(t.properties == {"negative": True} for t in negatives)


def test_codex_reads_entity_names_when_the_file_is_present(data_dir: Path, tmp_path: Path) -> None:
    for item in (data_dir / "CoDEx-S").iterdir():
        (tmp_path / item.name).symlink_to(item)
    (tmp_path / "entities_en.json").write_text(
        '{"Q7604": {"label": "Leonhard Euler", "description": "Swiss mathematician"}}')
    euler = next(e for e in CodexS(tmp_path).entities() if e.id == "Q7604")
    assert (euler.name, euler.description) == ("Leonhard Euler", "Swiss mathematician")


def test_yago_reads_train_when_present(data_dir: Path, tmp_path: Path) -> None:
    for item in (data_dir / "YAGO3-10-partial").iterdir():
        (tmp_path / item.name).symlink_to(item)
    (tmp_path / "train.txt").write_text("Chatou\tisLocatedIn\tFrance\n")
    dataset = open_dataset("yago3-10", source=tmp_path)
    assert sum(t.split == "train" for t in dataset.triples()) == 1
    assert tmp_path / "train.txt" in dataset.files()


def test_nations_literals_become_properties(data_dir: Path) -> None:
    entities = {e.id: e.properties for e in open_dataset("nations").entities()}
    assert entities["brazil"]["area"] == 8514877 and isinstance(entities["brazil"]["population"], int)


def test_openke_names_and_header_checks(data_dir: Path, tmp_path: Path) -> None:
    dataset = open_dataset("mkg-y")
    assert {r.name: r.label for r in dataset.relations()}["wasBornIn"] == "was born in"
    first = next(dataset.entities())
    assert (first.id, first.name, first.properties) == ("Gilles_Mbang_Ondo", "Gilles Mbang Ondo", {"openke_id": 0})
    db15k = next(open_dataset("db15k").entities())
    assert (db15k.id, db15k.name) == ("http://dbpedia.org/resource/Anarchism", "Anarchism")

    (tmp_path / "entity2id.txt").write_text("2\na 0\nb\t1\n")
    (tmp_path / "relation2id.txt").write_text("1\nr 0\n")
    (tmp_path / "train2id.txt").write_text("3\n0 1 0\n0 5 0\n")
    (tmp_path / "valid2id.txt").write_text("0\n")
    (tmp_path / "test2id.txt").write_text("0\n")
    errors = InputErrors(policy="skip")
    triples = list(DATASETS["db15k"](tmp_path, errors=errors).triples())
    assert [(t.head, t.relation, t.tail) for t in triples] == [("a", "r", "b")]
    assert [(p.path.name, p.line) for p in errors.problems] == [("train2id.txt", 3), ("train2id.txt", 1)]


# ------------------------------------------------------------------------ downloads
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_with_a_wrong_checksum_fails_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "upstream" / "train.txt"
    source.parent.mkdir()
    source.write_bytes(b"a\tr\tb\n")
    wrong = "0" * 64
    monkeypatch.setattr(CodexS, "downloads", (Download(source.as_uri(), wrong, "train.txt"),))
    dest = tmp_path / "codex"
    with pytest.raises(KgstoreError) as caught:
        download("codex-s", dest, echo=lambda _: None)
    message = str(caught.value)
    assert source.as_uri() in message and wrong in message and _sha256(b"a\tr\tb\n") in message
    assert list(dest.iterdir()) == []  # neither the file nor a .part remains


def test_download_verifies_files_and_archive_members(tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    (upstream / "names.txt").write_bytes(b"a\tA\n")
    with zipfile.ZipFile(upstream / "kg.zip", "w") as zipped:
        zipped.writestr("kg/train.txt", b"a\tr\tb\n")
    with tarfile.open(upstream / "kg.tar.gz", "w:gz") as tarred:
        tarred.add(upstream / "names.txt", arcname="./valid.txt")
    downloads = (
        Download((upstream / "names.txt").as_uri(), _sha256(b"a\tA\n"), "text/names.txt"),
        Download((upstream / "kg.zip").as_uri(), "", "kg.zip", unpack=True,
                 members=(("kg/train.txt", _sha256(b"a\tr\tb\n")),)),
        Download((upstream / "kg.tar.gz").as_uri(), "", "kg.tar.gz", unpack=True,
                 members=(("valid.txt", _sha256(b"a\tA\n")),)),
    )
    dest = tmp_path / "dest"
    said: list[str] = []
    fetch_all(downloads, dest, echo=said.append)
    assert (dest / "text" / "names.txt").read_bytes() == b"a\tA\n"
    assert (dest / "kg" / "train.txt").read_bytes() == b"a\tr\tb\n"
    assert (dest / "valid.txt").read_bytes() == b"a\tA\n"
    said.clear()
    fetch_all(downloads, dest, echo=said.append)
    assert all(line.startswith("up to date") for line in said), said

    (dest / "kg" / "train.txt").unlink()
    bad_member = Download((upstream / "kg.zip").as_uri(), "", "kg.zip", unpack=True,
                          members=(("kg/train.txt", "f" * 64),))
    with pytest.raises(KgstoreError, match="checksum mismatch for train.txt"):
        fetch_all([bad_member], dest, echo=said.append)
    assert not (dest / "kg" / "train.txt").exists() and not (dest / "kg" / "train.txt.part").exists()

    for unsafe in (Download((upstream / "names.txt").as_uri(), "", "x.txt"),
                   Download((upstream / "names.txt").as_uri(), _sha256(b"a\tA\n"), "../escape.txt")):
        with pytest.raises(KgstoreError, match="no pinned checksum|outside"):
            fetch_all([unsafe], dest, echo=said.append)
    assert not (tmp_path / "escape.txt").exists()


def test_bundled_datasets_need_no_download(tmp_path: Path) -> None:
    said: list[str] = []
    assert download("umls", tmp_path, echo=said.append) == DATASETS["umls"].bundled_root()
    assert "nothing to download" in said[0]


def test_datasets_list_cli_shows_what_is_present(data_dir: Path) -> None:
    from click.testing import CliRunner

    from kgstore.cli import main

    result = CliRunner().invoke(main, ["datasets", "list", "--source", str(data_dir)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") >= 4}
    assert set(DATASETS) <= set(lines)
    assert "yes" in lines["fb15k-237"] and "yes" in lines["movielens-100k"]
