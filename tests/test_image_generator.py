"""Images from entity vectors: the generator, its evaluation, `kgstore imagine`, the sidecar's
`/generate/image`, `kgstore.imagine` inside Neo4j and `kgstore generated list|drop`.

The graph is a real MovieLens subset (60 movies with their posters, genres, titles and
plots); the generator is a tiny UNet at 32x32 that trains for seconds on a CPU. Its pictures
are noise-like, but they go through every real part a big one does.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from tests.extras import require

torch = require("torch", reason="the image generator needs the train extra: pip install kgstore[train]")
require("diffusers", reason="the image generator's UNet: pip install kgstore[train]")
require("sklearn", reason="the genre check: pip install kgstore[train]")
httpx = require("httpx", reason="the sidecar tests need httpx: pip install kgstore[serve]")

from neo4j.exceptions import ClientError  # noqa: E402
from PIL import Image  # noqa: E402

from kgstore.driver import connect  # noqa: E402
from tests.conftest import ServerUnderTest, wipe  # noqa: E402
from tests.sidecars import start_sidecar  # noqa: E402
from tests.test_multimodal import _write_folder_dataset  # noqa: E402
from trainer.generators import image_metrics  # noqa: E402
from trainer.generators.image import ImageGeneratorConfig  # noqa: E402
from trainer.generators.image_jobs import heldout_keys  # noqa: E402

MODEL = "imgen"
THREADS = {"KGSTORE_NUM_THREADS": "2", "COLUMNS": "200"}
TINY = ("--size", "32", "--channels", "16,32", "--steps", "30", "--batch-size", "8", "--heldout", "6")


# -- the metrics and the split (no server) ----------------------------------------------------------------
def test_feature_distances_tell_same_from_shifted() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    shifted = rng.normal(size=(200, 8)) + 1.0
    assert image_metrics.frechet_distance(a, b) < 0.5 < image_metrics.frechet_distance(a, shifted)
    assert abs(image_metrics.kernel_distance(a, b)) < image_metrics.kernel_distance(a, shifted)
    ranks = image_metrics.retrieval_ranks(a[:20] + 0.01, a[:20])
    assert (ranks == 1).all()  # each query's nearest gallery row is its own
    assert image_metrics.retrieval_ranks(-a[:20], a[:20]).mean() > 10


def test_frechet_distance_matches_the_matrix_square_root_formula() -> None:
    from scipy import linalg

    rng = np.random.default_rng(2)
    for n, d in ((300, 12), (30, 60)):  # more images than dimensions, and fewer
        a, b = rng.normal(size=(n, d)), rng.normal(size=(n + 5, d)) * 1.5 + 0.3
        cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        expected = (((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b)
                    - 2 * np.trace(np.real(linalg.sqrtm(cov_a @ cov_b))))
        assert image_metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_genre_classifier_scores_informative_features_above_noise() -> None:
    rng = np.random.default_rng(1)
    labels = [["comedy"] if i % 2 else ["drama"] for i in range(120)]
    features = rng.normal(size=(120, 6))
    features[:, 0] += np.array([3.0 if i % 2 else -3.0 for i in range(120)])
    classifier, classes = image_metrics.fit_label_classifier(features[:80], labels[:80])
    assert classes == ["comedy", "drama"]
    informed = image_metrics.label_map(classifier, classes, features[80:], labels[80:])
    noise = image_metrics.label_map(classifier, classes, rng.normal(size=(40, 6)), labels[80:])
    assert informed > 0.9 and noise < informed - 0.2


def test_the_condition_decides_the_picture() -> None:
    """Two conditions, two solid colours: each conditional sample takes its own colour (a UNet that
    ignored its condition, as a noise-predicting one did here, draws their average for both)."""
    from trainer.generators.image import build_decoder, sample, train_decoder

    torch.manual_seed(0)
    # float32: 200 steps of a tiny UNet leave the colours near the margin this test draws, and a
    # bfloat16 run (the default on an AMX CPU) takes another path to the same loss; what is tested
    # here is the conditioning, not the arithmetic.
    config = ImageGeneratorConfig(size=32, channels=(16, 32), max_steps=200, batch_size=16, lr=1e-3,
                                  warmup_steps=20, precision="float32")
    red, blue = np.array([230, 30, 30]), np.array([0, 40, 220])
    pixels = np.zeros((32, 3, 32, 32), dtype=np.uint8)
    pixels[:16] = red[:, None, None]
    pixels[16:] = blue[:, None, None]
    conditions = np.zeros((32, 2), dtype=np.float32)
    conditions[:16, 0] = conditions[16:, 1] = 1.0
    decoder = build_decoder(config, 2)
    log, _ = train_decoder(decoder, pixels, conditions, config, progress=False)
    assert np.mean(log.losses[-20:]) < np.mean(log.losses[:20]) / 5
    drawn = sample(decoder, np.eye(2, dtype=np.float32), seeds=[0, 1], steps=20, guidance=2.0, config=config)
    colours = drawn.reshape(2, -1, 3).mean(1)
    for colour, own, other in zip(colours, (red, blue), (blue, red), strict=True):
        assert np.abs(colour - own).sum() < np.abs(colour - other).sum() / 2, colours


def test_each_entity_has_its_own_noise_per_seed() -> None:
    """One seed must not give every entity the same starting noise (one composition for all)."""
    from trainer.generators.image import noise_seed

    keys = [f"movielens-100k:movie/{i}" for i in range(500)]
    drawn = [noise_seed(key, 1) for key in keys]
    assert len(set(drawn)) == len(keys) and all(0 <= s < 2 ** 63 for s in drawn)
    assert drawn == [noise_seed(key, 1) for key in keys]  # the same key and seed, the same noise
    assert all(noise_seed(key, 1) != noise_seed(key, 2) for key in keys[:50])


def test_heldout_entities_are_seeded_and_capped() -> None:
    keys = [f"m{i}" for i in range(300)]
    first = heldout_keys(keys, ImageGeneratorConfig(heldout=50, seed=3))
    assert first == heldout_keys(list(reversed(keys)), ImageGeneratorConfig(heldout=50, seed=3))
    assert len(first) == 30  # at most 10 %
    assert heldout_keys(keys, ImageGeneratorConfig(heldout=50, seed=4)) != first
    with pytest.raises(ValueError, match="image size 48"):
        ImageGeneratorConfig(size=48)


# -- end to end through Neo4j, the CLI, the sidecar and the plugin ----------------------------------------
@pytest.fixture(scope="module")
def drawn(neo4j_server: ServerUnderTest, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A KG model and a tiny image generator on a MovieLens subset with posters, trained through the CLI.

    The tests of this module never take the `graph` fixture: it would wipe the subset."""
    from click.testing import CliRunner

    from kgstore.cli import main

    if neo4j_server.home is None:
        pytest.fail("the image generator tests need the managed test server (its plugin and kgstore.conf)")
    work = tmp_path_factory.mktemp("imgen")
    movies = _write_folder_dataset(work / "ml", data_dir, 60)

    def cli(*args: str) -> object:
        result = CliRunner().invoke(main, list(args), env={"KGSTORE_HOME": str(neo4j_server.home), **THREADS},
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        wipe(graph)
    cli("sync", "--namespace", "mlsub", "--triples", str(work / "ml" / "triples.tsv"),
        "--entities", str(work / "ml" / "entities.jsonl"), "--images", str(work / "ml" / "images.tsv"))
    cli("train", "--model", MODEL, "--dataset", "mlsub", "--epochs", "5", "--dim", "16", "--patience", "0",
        "--refresh")
    trained = cli("generators", "train", "image", "--model", MODEL, *TINY, "--dataset", "mlsub", "--json")
    yield {"home": neo4j_server.home, "cli": cli, "train": json.loads(trained.stdout), "work": work,
           "movies": [f"mlsub:{m}" for m in movies]}


def test_generator_checkpoint_records_its_model_split_and_samples(drawn: dict) -> None:
    from kgstore.home import KgstoreHome

    home = KgstoreHome(drawn["home"])
    folder = home.latest_generator(MODEL, "image")
    assert folder is not None and folder == Path(drawn["train"]["generator"]).resolve()
    meta = json.loads((folder / "generator.json").read_text())
    assert meta["kind"] == "image" and meta["kg_version"] == home.latest_checkpoint(MODEL).name
    heldout = set(meta["heldout"])
    assert len(heldout) == 6 and heldout <= set(drawn["movies"])
    training = meta["training"]
    assert training["train_images"] == 60 - 6  # every poster but the held-out movies'
    assert training["label_relation"] == "HAS_GENRE"
    assert set(training["images"]) == set(drawn["movies"])
    assert drawn["train"]["steps"] == 30 == len(json.loads((folder / "loss.json").read_text())["loss"])
    with Image.open(folder / "samples.png") as grid:  # real row + two generated rows of the held-out movies
        assert grid.width > 6 * 32 and grid.height > 3 * 32
    assert (folder / "curves.png").is_file()


def test_eval_reports_every_figure(drawn: dict) -> None:
    result = drawn["cli"]("generators", "eval", "image", "--model", MODEL, "--seeds", "2", "--steps", "3", "--json")
    report = json.loads(result.stdout)
    for name in ("fd", "fd_floor", "kid", "genre_map", "genre_map_unconditional", "median_rank", "chance_rank"):
        assert isinstance(report[name], float) and np.isfinite(report[name]), name
    assert report["n"] == 12 and report["heldout"] == 6  # six held-out movies x two seeds
    assert report["chance_rank"] == 3.5 and 1 <= report["median_rank"] <= 6
    assert report["fd"] > 0 and report["fd_floor"] > 0
    assert 0 <= report["genre_map"] <= 1 and 0 <= report["genre_map_unconditional"] <= 1
    table = drawn["cli"]("generators", "eval", "image", "--model", MODEL, "--seeds", "1", "--steps", "2")
    assert "EfficientNet-Lite0" in table.stdout and "fd_floor" in table.stdout


def test_imagine_command_is_seeded(drawn: dict, tmp_path: Path) -> None:
    key = drawn["movies"][0]

    def draw(seed: int, name: str) -> bytes:
        out = tmp_path / name
        drawn["cli"]("imagine", key, "--model", MODEL, "--steps", "3", "--seed", str(seed), "-o", str(out))
        return out.read_bytes()

    first, again, other = draw(1, "a.png"), draw(1, "b.png"), draw(2, "c.png")
    assert first == again and first != other
    # in a batch or alone, an entity's image is the same; two entities do not share their noise
    from kgstore.home import KgstoreHome
    from trainer.generators.image_jobs import ImageGenerator

    generator = ImageGenerator.latest(KgstoreHome(drawn["home"]), MODEL)
    both = generator.imagine([key, drawn["movies"][3]], seed=1, steps=3)
    assert generator.png(both[0]) == first
    assert np.array_equal(both[1], generator.imagine([drawn["movies"][3]], seed=1, steps=3)[0])
    with Image.open(io.BytesIO(first)) as image:
        assert image.format == "PNG" and image.size == (32, 32)
    from click.testing import CliRunner

    from kgstore.cli import main

    unknown = CliRunner().invoke(main, ["imagine", "mlsub:movie/nope", "--model", MODEL],
                                 env={"KGSTORE_HOME": str(drawn["home"])})
    assert unknown.exit_code == 1 and "mlsub:movie/nope" in unknown.output


def _generated(graph) -> list[dict]:  # noqa: ANN001
    return graph.query("MATCH (e:Entity)-[r:KGSTORE_GENERATED]->(i:Image) "
                       "RETURN e.key AS key, i.sha256 AS sha256, i.uri AS uri, i.generated AS generated, "
                       "labels(i) AS labels, i.model AS model, i.version AS version, i.seed AS seed")


def _path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def test_kgstore_imagine_in_cypher_writes_one_marked_image(drawn: dict, neo4j_server: ServerUnderTest,
                                                           tmp_path: Path) -> None:
    from kgstore.home import KgstoreHome
    from trainer.export import export_snapshot

    home = KgstoreHome(drawn["home"])
    key = drawn["movies"][1]
    sidecar = start_sidecar(home.root, MODEL, home.load_settings().sidecar_port, tmp_path / "serve.log")
    try:
        with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
            images_before = graph.query("MATCH (i:Image) RETURN count(i) AS n")[0]["n"]
            query = ("MATCH (n:Entity {key: $key}) CALL kgstore.imagine(n, {seed: 1, steps: 3, write: $write}) "
                     "YIELD image, sha256, width, height, png RETURN image IS NULL AS none, sha256, width, height, "
                     "png")
            dry = graph.query(query, {"key": key, "write": False}, write=True)[0]
            assert dry["none"] and (dry["width"], dry["height"]) == (32, 32)
            assert graph.query("MATCH (i:Image) RETURN count(i) AS n")[0]["n"] == images_before  # nothing written
            first = graph.query(query, {"key": key, "write": True}, write=True)[0]
            again = graph.query(query, {"key": key, "write": True}, write=True)[0]
            assert not first["none"] and first["sha256"] == again["sha256"] == dry["sha256"]  # same seed, same bytes
            png = base64.b64decode(first["png"])
            assert hashlib.sha256(png).hexdigest() == first["sha256"]
            rows = _generated(graph)
            assert len(rows) == 1  # regenerating with the same seed does not duplicate node or edge
            row = rows[0]
            assert row["key"] == key and row["generated"] is True and set(row["labels"]) == {"Image", "GeneratedImage"}
            assert row["model"] == MODEL and row["seed"] == 1 and row["version"] == home.latest_checkpoint(MODEL).name
            stored = _path(row["uri"])
            assert stored.is_file() and stored.read_bytes() == png and stored.is_relative_to(home.images_dir)
            with Image.open(stored) as image:
                assert image.format == "PNG"

            # The export and the feature cache read only real images: the generated one is not there.
            snapshot = export_snapshot(graph, tmp_path / "snap", namespaces=["mlsub"], progress=False)
            assert row["sha256"] not in snapshot.image_uris and snapshot.num_images == 60
            assert "KGSTORE_GENERATED" not in snapshot.relation_names
            from trainer.config import TrainConfig
            from trainer.modalities import image_features

            cache = image_features(snapshot, TrainConfig(modalities=["image"]), cache_dir=tmp_path / "features",
                                   progress=False)
            assert cache.stats.hits + cache.stats.misses == 60 and int(cache.present.sum()) == 60

            # An entity the model never saw: the sidecar's 404 reaches Cypher, naming the key; nothing is written.
            graph.query("CREATE (:Entity {key: 'mlsub:cold', name: 'cold'})", write=True)
            with pytest.raises(ClientError, match="unknown entity 'mlsub:cold'"):
                graph.query("MATCH (n:Entity {key: 'mlsub:cold'}) CALL kgstore.imagine(n, {write: true}) "
                            "YIELD sha256 RETURN sha256", write=True)
            with pytest.raises(ClientError, match="steps"):
                graph.query("MATCH (n:Entity {key: $key}) CALL kgstore.imagine(n, {steps: 0}) YIELD sha256 "
                            "RETURN sha256", {"key": key}, write=True)
            graph.query("MATCH (n:Entity {key: 'mlsub:cold'}) DELETE n", write=True)

            # No image generator for the model (its latest link moved away): a 503 naming how to train one.
            link = home.generators_dir(MODEL, "image") / "latest"
            target = link.resolve()
            link.unlink()
            try:
                with pytest.raises(ClientError, match="no image generator is trained for model 'imgen'"):
                    graph.query("MATCH (n:Entity {key: $key}) CALL kgstore.imagine(n, {seed: 2, write: true}) "
                                "YIELD sha256 RETURN sha256", {"key": key}, write=True)
            finally:
                link.symlink_to(target.name)
            assert len(_generated(graph)) == 1
    finally:
        sidecar.kill()
        sidecar.wait(timeout=30)

    # The sidecar is gone: the procedure says it cannot reach it, and writes nothing.
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        with pytest.raises(ClientError, match="sidecar"):
            graph.query("MATCH (n:Entity {key: $key}) CALL kgstore.imagine(n, {seed: 3, write: true}) "
                        "YIELD sha256 RETURN sha256", {"key": key}, write=True)
        assert len(_generated(graph)) == 1


def test_generated_list_and_drop(drawn: dict, neo4j_server: ServerUnderTest, tmp_path: Path) -> None:
    key = drawn["movies"][2]
    drawn["cli"]("imagine", key, "--model", MODEL, "--steps", "2", "--seed", "9", "--write", "-o",
                 str(tmp_path / "x.png"))
    listed = json.loads(drawn["cli"]("generated", "list", "--model", MODEL, "--json").stdout)
    mine = [row for row in listed if key in row["entities"]]
    assert len(mine) == 1 and mine[0]["seed"] == 9
    stored = _path(mine[0]["uri"])
    assert stored.is_file() and stored.read_bytes() == (tmp_path / "x.png").read_bytes()
    # A real image whose file is kept elsewhere is never touched by a drop.
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        real_before = graph.query("MATCH (i:Image) WHERE i.generated IS NULL RETURN count(i) AS n")[0]["n"]
        dropped = json.loads(drawn["cli"]("generated", "drop", "--model", MODEL, "--json").stdout)
        assert dropped["nodes"] == len(listed) and dropped["files"] >= 1
        assert not stored.exists()
        assert _generated(graph) == []
        assert graph.query("MATCH (i:GeneratedImage) RETURN count(i) AS n")[0]["n"] == 0
        assert graph.query("MATCH (i:Image) WHERE i.generated IS NULL RETURN count(i) AS n")[0]["n"] == real_before
    assert json.loads(drawn["cli"]("generated", "list", "--json").stdout) == []


def test_an_entity_missing_from_the_graph_writes_nothing(drawn: dict, neo4j_server: ServerUnderTest,
                                                         tmp_path: Path) -> None:
    """`imagine --write` for a key the generator knows but the graph no longer has: a clear error."""
    from click.testing import CliRunner

    from kgstore.cli import main

    key = drawn["movies"][3]
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        graph.query("MATCH (e:Entity {key: $key}) SET e.key = $key + '-renamed'", {"key": key}, write=True)
        try:
            result = CliRunner().invoke(main, ["imagine", key, "--model", MODEL, "--steps", "2", "--write", "-o",
                                               str(tmp_path / "y.png")], env={"KGSTORE_HOME": str(drawn["home"])})
            assert result.exit_code == 1 and "not in the graph" in result.output, result.output
            assert _generated(graph) == []
            from kgstore.home import KgstoreHome

            stored = KgstoreHome(drawn["home"]).images_dir.rglob("*.png")
            assert (tmp_path / "y.png").read_bytes() not in {p.read_bytes() for p in stored}  # no stray file
        finally:
            graph.query("MATCH (e:Entity {key: $key}) SET e.key = $old", {"key": key + "-renamed", "old": key},
                        write=True)


def test_no_generator_is_a_clear_error(drawn: dict) -> None:
    from click.testing import CliRunner

    from kgstore.cli import main

    result = CliRunner().invoke(main, ["imagine", drawn["movies"][0], "--model", "nosuchmodel"],
                                env={"KGSTORE_HOME": str(drawn["home"])})
    assert result.exit_code == 1 and "no image generator is trained for model 'nosuchmodel'" in result.output
    assert "kgstore generators train image" in result.output
