"""The decoder sidecar (`kgstore serve`): FAISS top-k agrees with brute force, and a real
sidecar process answers the HTTP contract v1 for a model trained from the test Neo4j.

The process tests share one sidecar (module fixture) started as a user would start it:
``python -m kgstore.cli --home HOME serve --token ...``, on the home's sidecar port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.extras import require

torch = require("torch", reason="the sidecar needs the train extra: pip install kgstore[train,serve]")
httpx = require("httpx", reason="the sidecar tests need httpx: pip install kgstore[serve]")
torch.set_num_threads(int(os.environ.get("KGSTORE_NUM_THREADS", "1")))

from click.testing import CliRunner  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from kgstore.cli import main  # noqa: E402
from kgstore.driver import connect  # noqa: E402
from kgstore.home import HomeSettings, KgstoreHome  # noqa: E402
from kgstore.importers.registry import open_dataset  # noqa: E402
from kgstore.server import free_port  # noqa: E402
from kgstore.sync import sync_dataset  # noqa: E402
from tests.conftest import ServerUnderTest, wipe  # noqa: E402
from trainer.checkpoint import Checkpoint, load_checkpoint  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.decoders import DECODERS, DistMult  # noqa: E402
from trainer.export import snapshot_dir_for  # noqa: E402
from trainer.model import KGModel  # noqa: E402
from trainer.pipeline import train_model  # noqa: E402
from trainer.sidecar.app import create_app  # noqa: E402
from trainer.sidecar.model_store import ModelStore  # noqa: E402
from trainer.sidecar.schemas import PredictResponse, ScoreResponse  # noqa: E402
from trainer.sidecar.topk import QUERY_FORMS, TopK, faiss_backend  # noqa: E402
from trainer.snapshot import Snapshot  # noqa: E402
from trainer.train import train  # noqa: E402

MODEL = "sidecar"
TOKEN = "s3cret-token"
MAX_K, MAX_BATCH = 20, 50
THREADS = os.environ.get("KGSTORE_NUM_THREADS", "1")


def tiny_config(**overrides) -> TrainConfig:
    values = {"decoder": "complex", "dim": 16, "epochs": 3, "batch_size": 128, "eval_every": 0, "patience": 0,
              "num_threads": int(THREADS), "seed": 0}
    return TrainConfig(**{**values, **overrides})


# -- top-k agreement (no server) -----------------------------------------------------------
DECODER_CASES = [("distmult", {}), ("complex", {}), ("rotate", {}), ("transe", {"p": 1}), ("transe", {"p": 2})]


def random_model(decoder: str, decoder_kwargs: dict, *, reciprocal: bool) -> KGModel:
    torch.manual_seed(0)
    config = TrainConfig(decoder=decoder, decoder_kwargs=decoder_kwargs, dim=16, num_layers=0, reciprocal=reciprocal)
    return KGModel.from_config(config, num_entities=60, num_relations=4).eval()


def brute_force(model: KGModel, entities: torch.Tensor, entity: torch.Tensor, relation: torch.Tensor) -> np.ndarray:
    """``[B, E]`` scores from the model's own 1-N scoring (relation ``r + R``: heads)."""
    num_relations = model.num_relations
    head = relation >= num_relations
    out = torch.empty(len(entity), model.num_entities)
    with torch.no_grad():
        out[~head] = model.score_tails(entity[~head], relation[~head], entities)
        out[head] = model.score_heads(relation[head] - num_relations, entity[head], entities)
    return out.numpy()


def assert_top_k(ids: np.ndarray, scores: np.ndarray, expected: np.ndarray, k: int,
                 allowed: np.ndarray | None = None) -> None:
    """``(ids, scores)`` is a correct top-k of the score row ``expected`` (up to exact-tie order)."""
    candidates = np.arange(len(expected)) if allowed is None else allowed
    best = np.sort(expected[candidates])[::-1][:k]
    assert len(ids) == len(best)
    np.testing.assert_allclose(scores, best, rtol=1e-5, atol=1e-5)  # the k best values, in order
    np.testing.assert_allclose(scores, expected[ids], rtol=1e-5, atol=1e-5)  # each id has its score
    assert np.isin(ids, candidates).all() and len(set(ids.tolist())) == len(ids)


def test_every_decoder_has_a_faiss_form() -> None:
    """A decoder registered without a query form would silently fall back to brute force."""
    assert {name for name, _ in DECODER_CASES} == set(DECODERS)
    assert {cls.name for cls in QUERY_FORMS} == set(DECODERS)


@pytest.mark.parametrize("index", ["exact", "hnsw"])
@pytest.mark.parametrize("reciprocal", [True, False], ids=["reciprocal", "plain"])
@pytest.mark.parametrize(("decoder", "kwargs"), DECODER_CASES, ids=lambda c: c if isinstance(c, str) else
                         "-".join(f"{k}{v}" for k, v in c.items()))
def test_topk_agrees_with_brute_force(decoder: str, kwargs: dict, reciprocal: bool, index: str) -> None:
    model = random_model(decoder, kwargs, reciprocal=reciprocal)
    with torch.no_grad():
        entities = model.entity_vectors()
    topk = TopK(model, entities, index=index)
    assert topk.method == f"faiss-{index}"
    entity = torch.arange(model.num_entities).repeat_interleave(2 * model.num_relations)
    relation = torch.arange(2 * model.num_relations).repeat(model.num_entities)
    expected = brute_force(model, entities, entity, relation)
    for (ids, scores), row in zip(topk.search(entity, relation, 7), expected, strict=True):
        assert_top_k(ids, scores, row, 7)


@pytest.mark.parametrize(("decoder", "kwargs"), DECODER_CASES[:3])
def test_topk_excludes_known_answers_and_still_returns_k(decoder: str, kwargs: dict) -> None:
    model = random_model(decoder, kwargs, reciprocal=True)
    with torch.no_grad():
        entities = model.entity_vectors()
    entity, relation = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 5, 2, 7])
    expected = brute_force(model, entities, entity, relation)
    rng = np.random.default_rng(0)
    exclude = [np.argsort(-row)[:n] for row, n in zip(expected, (0, 5, 30, 57), strict=True)]  # the best ones
    exclude[1] = np.concatenate([exclude[1], rng.integers(60, size=10)])
    results = TopK(model, entities).search(entity, relation, 10, exclude=exclude)
    for (ids, scores), row, drop in zip(results, expected, exclude, strict=True):
        allowed = np.setdiff1d(np.arange(60), drop)
        assert_top_k(ids, scores, row, 10, allowed=allowed)
    assert [len(ids) for ids, _ in results] == [10, 10, 10, 3]  # 60 - 57 entities left for the last


def test_unknown_decoder_falls_back_to_brute_force() -> None:
    class Unlisted(DistMult):  # a subclass is not in QUERY_FORMS: the sidecar must still be right
        name = "unlisted"

    torch.manual_seed(0)
    model = KGModel(encoder=random_model("distmult", {}, reciprocal=False).encoder,
                    decoder=Unlisted(num_relations=4, dim=16), num_relations=4, reciprocal=False).eval()
    with torch.no_grad():
        entities = model.entity_vectors()
    topk = TopK(model, entities)
    assert topk.method == "brute-force"
    entity, relation = torch.tensor([0, 1, 2]), torch.tensor([1, 4, 7])
    for (ids, scores), row in zip(topk.search(entity, relation, 5), brute_force(model, entities, entity, relation),
                                  strict=True):
        assert_top_k(ids, scores, row, 5)


# -- a real sidecar process ------------------------------------------------------------------
@dataclass
class Sidecar:
    url: str
    home: KgstoreHome
    snapshot: Snapshot
    process: subprocess.Popen
    log: Path

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)


def wait_for_health(sidecar: Sidecar, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sidecar.process.poll() is not None:
            pytest.fail(f"kgstore serve exited with {sidecar.process.returncode}:\n{sidecar.log.read_text()}")
        try:
            response = httpx.get(f"{sidecar.url}/health", timeout=2.0)
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"kgstore serve did not answer /health within {timeout}s:\n{sidecar.log.read_text()}")


@pytest.fixture(scope="module")
def sidecar(neo4j_server: ServerUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    """Nations synced into the test Neo4j, a tiny ComplEx trained from it, and `kgstore serve`."""
    home = KgstoreHome(tmp_path_factory.mktemp("sidecar-home"))
    port = free_port()
    home.save_settings(HomeSettings(sidecar_port=port))  # serve's default port
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        wipe(graph)
        sync_dataset(graph, open_dataset("nations"))
        job = train_model(graph, home=home, model=MODEL, config=tiny_config(), write_back=False, progress=False)
    log = home.root / "serve.log"
    env = {**os.environ, "KGSTORE_NUM_THREADS": THREADS, "KGSTORE_SIDECAR_TOKEN": TOKEN}
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "kgstore.cli", "--home", str(home.root), "serve",
                                    "--model", MODEL, "--max-k", str(MAX_K), "--max-batch", str(MAX_BATCH)],
                                   stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Sidecar(f"http://127.0.0.1:{port}", home, job.snapshot, process, log)
    try:
        wait_for_health(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def client(sidecar: Sidecar) -> Iterator[httpx.Client]:
    with sidecar.client() as c:
        yield c


def served(client: httpx.Client) -> tuple[KGModel, torch.Tensor, dict]:
    """The checkpoint the sidecar reports, loaded here: the reference for its answers."""
    health = client.get("/health").json()
    model, _config, vocab, _metrics = load_checkpoint(health["checkpoint"])
    with torch.no_grad():
        entities = model.entity_vectors()
    return model, entities, vocab


def test_health_and_startup_line(sidecar: Sidecar, client: httpx.Client) -> None:
    health = httpx.get(f"{sidecar.url}/health").json()  # no token needed
    checkpoint = sidecar.home.latest_checkpoint(MODEL)
    backend = faiss_backend()  # cpu here; gpu with the faiss-gpu build on a CUDA machine
    assert health == {"status": "ok", "model": MODEL, "checkpoint": str(checkpoint), "version": checkpoint.name,
                      "decoder": "complex", "dim": 16, "entities": 14, "relations": 55,
                      "search": "faiss-exact", "faiss": backend}
    line = sidecar.log.read_text()
    assert f"kgstore sidecar at {sidecar.url}: model '{MODEL}'" in line and "14 entities" in line
    assert f"faiss-exact on the {backend.upper()}" in line


def test_score_equals_the_models_scores(sidecar: Sidecar, client: httpx.Client) -> None:
    model, entities, vocab = served(client)
    triples = sidecar.snapshot.triples[::7][:40]
    body = {"triples": [{"head": vocab["entity_keys"][h], "relation": vocab["relation_names"][r],
                         "tail": vocab["entity_keys"][t]} for h, r, t in triples]}
    response = client.post("/score", json=body)
    assert response.status_code == 200, response.text
    data = ScoreResponse.model_validate_json(response.content).model_dump()  # the documented shape
    assert data["model"] == MODEL and data["version"] == client.get("/health").json()["version"]
    with torch.no_grad():
        expected = model.score(*torch.as_tensor(triples).t(), entities=entities).numpy()
    np.testing.assert_allclose(data["scores"], expected, rtol=1e-5, atol=1e-6)
    assert client.post("/score", json={"triples": []}).json()["scores"] == []


def predict(client: httpx.Client, queries: list[dict], **options) -> list[dict]:
    response = client.post("/predict", json={"queries": queries, **options})
    assert response.status_code == 200, response.text
    PredictResponse.model_validate_json(response.content)  # the answer has the documented shape
    return response.json()["results"]


def test_predict_equals_brute_force_both_directions(client: httpx.Client) -> None:
    model, entities, vocab = served(client)
    keys, relations = vocab["entity_keys"], vocab["relation_names"]
    cases = [(e, r, d) for e in (0, 5, 13) for r in (0, 17, 54) for d in ("out", "in")]
    results = predict(client, [{"entity": keys[e], "relation": relations[r], "direction": d} for e, r, d in cases],
                      k=14, filter_known=False)
    entity = torch.tensor([e for e, _, _ in cases])
    relation = torch.tensor([r + (model.num_relations if d == "in" else 0) for _, r, d in cases])
    expected = brute_force(model, entities, entity, relation)
    for result, (e, r, d), row in zip(results, cases, expected, strict=True):
        assert (result["entity"], result["relation"], result["direction"], result["unknown"]) == (
            keys[e], relations[r], d, False)
        ids = np.array([keys.index(p["key"]) for p in result["predictions"]])
        assert_top_k(ids, np.array([p["score"] for p in result["predictions"]]), row, 14)
        assert e in ids  # the query entity itself is a candidate


def test_filter_known_drops_every_split_and_keeps_k(sidecar: Sidecar, client: httpx.Client) -> None:
    model, entities, vocab = served(client)
    keys, relations = vocab["entity_keys"], vocab["relation_names"]
    snapshot = sidecar.snapshot
    h, r, t = snapshot.split("test")[0]  # a test fact: training never saw it, the filter must
    known_tails = snapshot.triples[(snapshot.triples[:, 0] == h) & (snapshot.triples[:, 1] == r), 2]
    known_heads = snapshot.triples[(snapshot.triples[:, 2] == t) & (snapshot.triples[:, 1] == r), 0]
    k = 5
    out, inward = predict(client, [{"entity": keys[h], "relation": relations[r], "direction": "out"},
                                   {"entity": keys[t], "relation": relations[r], "direction": "in"}], k=k)
    expected = brute_force(model, entities, torch.tensor([h, t]), torch.tensor([r, r + model.num_relations]))
    for result, known, row in ((out, known_tails, expected[0]), (inward, known_heads, expected[1])):
        ids = np.array([keys.index(p["key"]) for p in result["predictions"]])
        assert not np.isin(ids, known).any()
        allowed = np.setdiff1d(np.arange(14), known)
        assert_top_k(ids, np.array([p["score"] for p in result["predictions"]]), row, k, allowed=allowed)
    assert keys[t] not in [p["key"] for p in out["predictions"]]
    assert keys[h] not in [p["key"] for p in inward["predictions"]]


def test_min_score_and_on_unknown_skip(client: httpx.Client) -> None:
    query = {"entity": "nations:usa", "relation": "treaties", "direction": "out"}
    full = predict(client, [query], k=10, filter_known=False)[0]["predictions"]
    threshold = full[2]["score"]
    cut = predict(client, [query], k=10, filter_known=False, min_score=threshold)[0]["predictions"]
    assert cut == [p for p in full if p["score"] >= threshold] and len(cut) >= 3
    results = predict(client, [{"entity": "nations:atlantis", "relation": "treaties"}, query,
                               {"entity": "nations:usa", "relation": "no_such_relation"}],
                      k=3, on_unknown="skip")
    assert [r["unknown"] for r in results] == [True, False, True]
    assert results[0]["predictions"] == [] == results[2]["predictions"] and len(results[1]["predictions"]) == 3
    assert results[0]["direction"] == "out"  # the default


def test_unknown_names_are_404(client: httpx.Client) -> None:
    response = client.post("/predict", json={"queries": [{"entity": "nations:atlantis", "relation": "treaties"}]})
    assert response.status_code == 404 and response.json() == {"detail": "unknown entity 'nations:atlantis'"}
    response = client.post("/predict", json={"queries": [{"entity": "nations:usa", "relation": "invades"}]})
    assert response.status_code == 404 and response.json() == {"detail": "unknown relation 'invades'"}
    response = client.post("/score", json={"triples": [{"head": "nations:usa", "relation": "treaties",
                                                        "tail": "nations:mars"}]})
    assert response.status_code == 404 and "nations:mars" in response.json()["detail"]


def test_bad_requests_are_422_naming_the_cap(client: httpx.Client) -> None:
    query = {"entity": "nations:usa", "relation": "treaties"}
    for k in (0, MAX_K + 1):
        response = client.post("/predict", json={"queries": [query], "k": k})
        assert response.status_code == 422, response.text
        assert f"max_k={MAX_K}" in response.json()["detail"][0]["msg"]
    response = client.post("/predict", json={"queries": [query] * (MAX_BATCH + 1)})
    assert response.status_code == 422 and f"max_batch={MAX_BATCH}" in response.text
    triple = {"head": "nations:usa", "relation": "treaties", "tail": "nations:uk"}
    response = client.post("/score", json={"triples": [triple] * (MAX_BATCH + 1)})
    assert response.status_code == 422 and f"max_batch={MAX_BATCH}" in response.text
    assert client.post("/predict", json={"queries": [query] * MAX_BATCH, "k": MAX_K}).status_code == 200
    response = client.post("/predict", content=b'{"queries": [', headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and isinstance(response.json()["detail"], list)
    response = client.post("/predict", json={"queries": [{**query, "direction": "sideways"}]})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "direction"


def test_token_generation_and_docs(sidecar: Sidecar, client: httpx.Client) -> None:
    body = {"queries": [{"entity": "nations:usa", "relation": "treaties"}]}
    with sidecar.client(token=None) as anonymous, sidecar.client(token="wrong") as wrong:
        assert anonymous.post("/predict", json=body).status_code == 401
        assert wrong.post("/score", json={"triples": []}).status_code == 401
        assert anonymous.post("/generate/text", json={}).status_code == 401
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/docs").status_code == 200 and "swagger" in anonymous.get("/docs").text.lower()
        paths = anonymous.get("/openapi.json").json()["paths"]
    assert {"/health", "/score", "/predict", "/generate/text", "/generate/image"} <= set(paths)
    assert client.post("/predict", json=body).status_code == 200
    # No image generator either: 503 naming how to train one; a request over the caps: 422 naming the cap.
    response = client.post("/generate/image", json={"entities": ["nations:usa"]})
    assert response.status_code == 503
    assert f"no image generator is trained for model {MODEL!r}" in response.json()["detail"]
    assert "kgstore generators train image" in response.json()["detail"]
    for body in ({"entities": ["nations:usa"] * 9}, {"entities": ["nations:usa"], "steps": 1000}):
        over = client.post("/generate/image", json=body)
        assert over.status_code == 422 and "cap" in json.dumps(over.json()), over.text
    # No text generator is trained for this model: a 503 that says how to train one.
    response = client.post("/generate/text", json={"entities": ["nations:usa"]})
    assert response.status_code == 503
    assert f"no text generator is trained for model {MODEL!r}" in response.json()["detail"]
    assert "kgstore generators train text" in response.json()["detail"]
    for body in ({"entities": ["nations:usa"], "max_tokens": 10_000}, {"entities": ["nations:usa"], "beams": 9}):
        over = client.post("/generate/text", json=body)
        assert over.status_code == 422 and "cap" in json.dumps(over.json()), over.text


def test_a_new_latest_checkpoint_is_served(sidecar: Sidecar, client: httpx.Client) -> None:
    """The shared sidecar's last test: `kgstore train` re-points `latest`, the sidecar follows."""
    before = client.get("/health").json()
    while sidecar.home.new_checkpoint_dir(MODEL).name == before["version"]:  # stamps have 1 s resolution
        time.sleep(0.1)
    job = train_model(None, home=sidecar.home, model=MODEL, config=tiny_config(decoder="distmult", dim=8, epochs=1),
                      snapshot=snapshot_dir_for(sidecar.home, None), write_back=False, progress=False)
    deadline = time.monotonic() + 30
    health = before
    while health["version"] == before["version"] and time.monotonic() < deadline:
        time.sleep(0.2)
        health = client.get("/health").json()
    assert health["checkpoint"] == str(job.result.checkpoint_dir.resolve())
    assert (health["decoder"], health["dim"]) == ("distmult", 8)
    result = predict(client, [{"entity": "nations:usa", "relation": "treaties"}], k=3)[0]
    assert len(result["predictions"]) == 3


# -- in-process: no model yet, CLI errors ----------------------------------------------------
def test_no_model_is_503_until_one_is_trained(tmp_path: Path) -> None:
    home = KgstoreHome(tmp_path)
    folder = home.model_dir("later")
    folder.mkdir(parents=True)
    store = ModelStore(name="later", link=home.latest_link("later"), check_interval=0.0)
    with TestClient(create_app(store)) as http:
        response = http.get("/health")
        assert response.status_code == 503
        assert response.json()["detail"].startswith("no model loaded: ") and "kgstore train --model later" in \
            response.json()["detail"]
        assert http.post("/predict", json={"queries": []}).status_code == 503
        checkpoint = folder / "20260101T000000Z"
        snapshot = Snapshot.from_labeled({"train": [("a", "r", "b"), ("b", "r", "c")], "test": [("a", "r", "c")]})
        train(snapshot, tiny_config(epochs=1, dim=4, decoder="transe"), checkpoint_dir=checkpoint, progress=False)
        Checkpoint(checkpoint).mark_latest(home.latest_link("later"))
        assert http.get("/health").json()["version"] == checkpoint.name
        tails = http.post("/predict", json={"queries": [{"entity": "a", "relation": "r"}], "k": 3}).json()
    assert tails["results"][0]["predictions"][0]["key"] == "a"  # b and c are known (train and test)
    assert len(tails["results"][0]["predictions"]) == 1


def test_a_newer_checkpoint_loads_in_the_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request that notices a new `latest` is answered by the old model at once, not after the load."""
    import threading

    from trainer.sidecar import model_store

    home = KgstoreHome(tmp_path)
    folder = home.model_dir("swap")
    snapshot = Snapshot.from_labeled({"train": [("a", "r", "b"), ("b", "r", "c")], "test": [("a", "r", "c")]})
    first, second = folder / "20260101T000000Z", folder / "20260102T000000Z"
    for checkpoint in (first, second):
        train(snapshot, tiny_config(epochs=1, dim=4), checkpoint_dir=checkpoint, progress=False)
    Checkpoint(first).mark_latest(home.latest_link("swap"))
    store = ModelStore(name="swap", link=home.latest_link("swap"), check_interval=0.0)
    assert store.current().version == first.name

    release = threading.Event()
    real_load = model_store.load_model

    def held_load(*args, **kwargs):  # the real load, held until the test lets it go
        assert release.wait(30)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(model_store, "load_model", held_load)
    Checkpoint(second).mark_latest(home.latest_link("swap"))
    assert store.current().version == first.name  # the load is still held: the old model answers
    assert store.current().version == first.name  # and a second look does not start another load
    release.set()
    store.wait_for_reload(30)
    assert store.current().version == second.name


def test_concurrent_predictions_share_one_search_and_get_their_own_answers(tmp_path: Path) -> None:
    """PredictBatcher: requests ready together are one search per (model, k, filter_known) group."""
    import asyncio

    from trainer.sidecar.batching import PredictBatcher
    from trainer.sidecar.model_store import load_model

    snapshot = Snapshot.from_labeled({"train": [("a", "r", "b"), ("b", "r", "c"), ("c", "s", "a"), ("d", "s", "b")],
                                      "test": [("a", "r", "c")]})
    checkpoint = tmp_path / "20260101T000000Z"
    train(snapshot, tiny_config(epochs=2, dim=8), checkpoint_dir=checkpoint, progress=False)
    loaded = load_model(checkpoint, name="batch")
    asks = [(np.array([0, 1]), np.array([0, 1]), 3, True), (np.array([2]), np.array([2]), 3, True),
            (np.array([3]), np.array([1]), 2, False), (np.array([99]), np.array([0]), 4, True)]
    batcher = PredictBatcher()

    async def everyone() -> list:
        return await asyncio.gather(*(batcher.predict(loaded, e, r, k=k, filter_known=f) for e, r, k, f in asks),
                                    return_exceptions=True)

    answers = asyncio.run(everyone())
    assert batcher.searches == 3  # k=3 (two requests), k=2, k=4
    for (entities, relations, k, known), got in zip(asks[:3], answers[:3], strict=True):
        expected = loaded.predict(entities, relations, k=k, filter_known=known)
        assert len(got) == len(entities)
        for (ids, scores), (want_ids, want_scores) in zip(got, expected, strict=True):
            np.testing.assert_array_equal(ids, want_ids)
            np.testing.assert_allclose(scores, want_scores, rtol=1e-6)
    assert isinstance(answers[3], IndexError)  # entity id 99 does not exist: that request fails, alone


def test_a_diverged_model_is_a_clear_500(tmp_path: Path) -> None:
    """Scores that JSON cannot carry (NaN) are refused with a message, not an empty 500."""
    checkpoint = tmp_path / "20260101T000000Z"
    snapshot = Snapshot.from_labeled({"train": [("a", "r", "b"), ("b", "r", "c")], "test": [("a", "r", "c")]})
    train(snapshot, tiny_config(epochs=1, dim=4), checkpoint_dir=checkpoint, progress=False)
    store = ModelStore(name="nan", checkpoint=checkpoint)
    store.current().entities.fill_(float("nan"))  # stands in for a diverged checkpoint (no real one to hand)
    with TestClient(create_app(store)) as http:
        response = http.post("/score", json={"triples": [{"head": "a", "relation": "r", "tail": "b"}]})
    assert response.status_code == 500
    assert "not finite numbers (NaN or infinity)" in response.json()["detail"]


def test_serve_without_a_checkpoint_says_train_first(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--home", str(tmp_path), "serve", "--model", "nothing"])
    assert result.exit_code == 1
    assert "no checkpoint" in result.output and "kgstore train --model nothing" in result.output


def test_serve_model_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    """The library call behind `kgstore serve` fails before listening, saying what to do."""
    from kgstore.errors import KgstoreError
    from trainer.sidecar.run import serve_model

    home = KgstoreHome(tmp_path)
    with pytest.raises(KgstoreError, match="model 'nothing' has no checkpoint in") as missing:
        serve_model(home, model="nothing", port=free_port())
    assert "kgstore train --model nothing" in missing.value.hint
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(KgstoreError, match="cannot serve model 'half': .*config.toml is missing"):
        serve_model(home, model="half", checkpoint=broken, port=free_port())


def test_detached_sidecar_with_two_workers_answers_and_stops(sidecar: Sidecar, client: httpx.Client) -> None:
    """`serve --detach --workers 2` returns once it answers; `serve --stop` frees the port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"KGSTORE_NUM_THREADS": THREADS, "KGSTORE_SIDECAR_TOKEN": TOKEN}
    started = CliRunner().invoke(main, ["--home", str(sidecar.home.root), "serve", "--model", MODEL, "--port",
                                        str(port), "--workers", "2", "--detach"], env=env)
    try:
        assert started.exit_code == 0, started.output
        assert f"at {url}" in started.output and "kgstore serve --stop" in started.output
        again = CliRunner().invoke(main, ["--home", str(sidecar.home.root), "serve", "--model", MODEL, "--port",
                                          str(port), "--detach"], env=env)
        assert again.exit_code == 0 and "already runs" in again.output, again.output
        expected = client.post("/predict", json={"queries": [{"entity": "nations:usa", "relation": "treaties"}],
                                                 "k": 3}).json()["results"]
        with sidecar.client() as detached:
            detached.base_url = url
            for _ in range(4):  # several requests: both workers answer the same
                answer = detached.post("/predict", json={"queries": [{"entity": "nations:usa",
                                                                      "relation": "treaties"}], "k": 3})
                assert answer.status_code == 200 and answer.json()["results"] == expected
    finally:
        stopped = CliRunner().invoke(main, ["--home", str(sidecar.home.root), "serve", "--stop"])
    assert stopped.exit_code == 0 and "stopped" in stopped.output, stopped.output
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2.0)
