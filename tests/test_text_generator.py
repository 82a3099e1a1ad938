"""Text from entity vectors: the verbalised facts, the generator, `kgstore describe`, the sidecar's
`/generate/text` and `kgstore.describe` inside Neo4j.

The language model is a tiny randomly initialised Llama (tests/tiny_lm.py): it learns the
descriptions' words in seconds and loads through the same code path as any local model
folder. The graph is a real WordNet subset (WN18RR names and definitions).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.extras import require

torch = require("torch", reason="the text generator needs the train extra: pip install kgstore[train]")
require("peft", reason="LoRA adapters: pip install kgstore[train]")
require("sacrebleu", reason="BLEU and chrF: pip install kgstore[train]")

from click.testing import CliRunner  # noqa: E402
from neo4j.exceptions import ClientError  # noqa: E402

from kgstore.cli import main  # noqa: E402
from kgstore.driver import Graph, connect  # noqa: E402
from kgstore.importers.registry import open_dataset  # noqa: E402
from tests.conftest import ServerUnderTest, wipe, write_text_dataset  # noqa: E402
from tests.sidecars import start_sidecar  # noqa: E402
from tests.tiny_lm import build_tiny_lm  # noqa: E402
from trainer.generators.context import FactIndex, relation_phrase  # noqa: E402
from trainer.generators.jobs import add_neighbour_hints, heldout_keys  # noqa: E402
from trainer.generators.text import FINAL_LR, EntityText, TextGeneratorConfig, compact_prompt, lr_factor  # noqa: E402

MODEL = "wngen"
THREADS = {"KGSTORE_NUM_THREADS": "2", "COLUMNS": "200"}


# -- the verbalised facts ---------------------------------------------------------------------------------
def test_relation_phrases_are_readable() -> None:
    assert relation_phrase("/people/person/nationality") == "nationality"
    assert relation_phrase("_hypernym") == "hypernym"
    assert relation_phrase("/film/film/release_date_s./film/film_regional_release_date/film_release_region") == \
        "film release region"


def test_context_puts_attribute_like_facts_first_and_respects_the_caps() -> None:
    # Relation 0 (nationality) has one answer per entity; relation 1 (films) many: entity 0's
    # nationality comes first although its film facts come first in the graph.
    names = ["Ann", "France", "Film A", "Film B", "Film C", "Bob"]
    triples = np.array([[0, 1, 2], [0, 1, 3], [0, 1, 4], [0, 0, 1], [5, 0, 1], [5, 1, 2]])
    facts = FactIndex.build(triples, names, ["/people/person/nationality", "/film/actor/film"])
    assert facts.context(0) == "nationality: France; film: Film A; film: Film B"  # at most 2 per relation
    assert facts.context(1) == "Ann's nationality; Bob's nationality"  # incoming facts say whose it is
    assert facts.context(0, max_facts=1) == "nationality: France"
    assert facts.context(0, max_chars=25) == "nationality: France"
    assert FactIndex.build(triples, names, ["a", "b"]).context(3) == "Ann's b"


def test_a_fact_nearly_every_entity_shares_is_left_out() -> None:
    # 30 entities: relation 0 ("category") points 29 of them at the same page, one elsewhere;
    # relation 1 ("profession") at varied answers. Only professions are told.
    names = [f"e{i}" for i in range(30)] + ["Official Website", "Other Page", "Actor", "Writer"]
    category = [[i, 0, 30 if i else 31] for i in range(30)]
    profession = [[i, 1, 32 + i % 2] for i in range(30)]
    facts = FactIndex.build(np.array(category + profession), names, ["category", "profession"])
    assert facts.context(1) == "profession: Writer"
    assert facts.context(0) == "profession: Actor"  # its rare category is still the relation's noise
    assert facts.context(30).startswith("e1's category")  # the page itself still tells who links to it
    # Below the size at which answers are judged, a relation's facts are all told.
    small = FactIndex.build(np.array(category[:5]), names, ["category"])
    assert small.context(1) == "category: Official Website"


def test_heldout_entities_are_seeded_and_capped() -> None:
    entities = [EntityText(key=f"k{i}", name="", context="", description="d" if i % 2 else None) for i in range(400)]
    config = TextGeneratorConfig(heldout=50, seed=3)
    first, again = heldout_keys(entities, config), heldout_keys(entities, config)
    assert first == again and len(first) == 20  # at most 10 % of the 200 described entities
    assert all(int(key[1:]) % 2 for key in first)  # only entities with a description
    assert heldout_keys(entities, TextGeneratorConfig(heldout=50, seed=4)) != first


def test_the_description_budget_fits_most_training_descriptions_within_its_bounds(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from trainer.generators.text import TARGET_TOKENS, description_budget

    rng = np.random.default_rng(0)
    words = ["film", "by", "American", "actor", "city", "in", "Ohio", "a", "story", "of", "love", "and", "war"]
    texts = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(20, 60, size=200)]
    tokenizer = AutoTokenizer.from_pretrained(build_tiny_lm(tmp_path / "lm", texts))
    budget = description_budget(tokenizer, texts)
    lengths = [len(tokenizer(" " + t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert TARGET_TOKENS[0] <= budget <= TARGET_TOKENS[1]
    assert np.mean([n + 1 <= budget for n in lengths]) >= 0.9  # 90 % are learned whole, end token included
    assert budget < max(lengths)  # the longest few do not set it
    assert description_budget(tokenizer, ["a"] * 10) == TARGET_TOKENS[0]
    assert description_budget(tokenizer, [" ".join(["story"] * 400)] * 10) == TARGET_TOKENS[1]


def test_bfloat16_casts_the_frozen_lm_and_keeps_what_trains_in_float32(tmp_path: Path) -> None:
    from trainer.generators.language_model import load_language_model
    from trainer.generators.text import build_decoder
    from trainer.precision import bfloat16_is_fast, compute_dtype

    assert compute_dtype("auto", "cpu") == (torch.bfloat16 if bfloat16_is_fast("cpu") else torch.float32)
    assert compute_dtype("float32", "cpu") == torch.float32
    with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16, not 'half'"):
        TextGeneratorConfig(precision="half")
    folder = build_tiny_lm(tmp_path / "lm", ["a film by an American actor", "a city in Ohio"])
    decoder = build_decoder(TextGeneratorConfig(language_model=str(folder), precision="bfloat16"), 8,
                            language_model=load_language_model(str(folder)))
    trained = [p for p in decoder.parameters() if p.requires_grad]
    frozen = [p for p in decoder.lm.parameters() if not p.requires_grad]
    assert trained and all(p.dtype == torch.float32 for p in trained)  # LoRA and the soft-prompt projection
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)
    tokens = decoder.tokenizer("a city in Ohio", add_special_tokens=False)["input_ids"]
    loss = decoder.loss(torch.randn(2, 8), [tokens, tokens[:2]], [tokens[:2], tokens])
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(p.grad.dtype == torch.float32 for p in trained if p.grad is not None)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trained)


def test_exemplars_come_from_training_entities_only_and_never_the_entity_itself() -> None:
    rng = np.random.default_rng(0)
    entities = [EntityText(key=f"k{i}", name=f"n{i}", context="", description=f"description {i}" if i % 5 else None)
                for i in range(300)]
    vectors = rng.normal(size=(300, 8))
    vectors[1] = vectors[2] * 3  # k1's closest entity is k2 (cosine 1), and k2's is k1
    heldout = set(heldout_keys(entities, TextGeneratorConfig(heldout=24, seed=1))) | {"k2"}
    train_ids = [i for i, e in enumerate(entities) if e.description and e.key not in heldout]
    add_neighbour_hints(entities, vectors, train_ids, exemplars=4)
    heldout_descriptions = {e.description for e in entities if e.key in heldout}
    training_descriptions = {entities[i].description for i in train_ids}
    for entity in entities:
        assert len(entity.exemplars) == 4 and not entity.neighbour
        assert entity.description not in entity.exemplars  # never its own (leave-one-out for training entities)
        assert set(entity.exemplars) <= training_descriptions  # only training entities' descriptions
        if entity.key in heldout:
            assert not set(entity.exemplars) & heldout_descriptions  # no held-out description at all
    assert "description 2" not in entities[1].exemplars  # its closest entity is held out: skipped
    assert entities[2].exemplars[0] == "description 1"  # a held-out entity retrieves its closest training one
    # Ranked by cosine, closest first.
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    order = [i for i in np.argsort(-(unit @ unit[7])) if i in set(train_ids) and i != 7][:4]
    assert entities[7].exemplars == [entities[i].description for i in order]
    assert "Similar: " + " | ".join(entities[7].exemplars) in compact_prompt(entities[7])


def test_generators_saved_before_exemplars_keep_their_prompt() -> None:
    old = {k: v for k, v in TextGeneratorConfig().to_dict().items()
           if k not in ("exemplars", "max_exemplar_chars", "prompt")}
    config = TextGeneratorConfig.from_saved(old)
    assert config.prompt == "chat" and config.exemplars == 0 and config.neighbour_hint
    assert TextGeneratorConfig.from_saved(TextGeneratorConfig().to_dict()) == TextGeneratorConfig()
    with pytest.raises(ValueError, match="newer kgstore"):
        TextGeneratorConfig.from_saved({**TextGeneratorConfig().to_dict(), "from_the_future": 1})
    with pytest.raises(ValueError, match="compact, chat"):
        TextGeneratorConfig(prompt="fancy")


# -- end to end through Neo4j, the CLI, the sidecar and the plugin ----------------------------------------
def test_the_step_size_warms_up_then_decays_to_a_tenth_by_steps_or_by_time() -> None:
    factors = [lr_factor(step, 100) for step in range(100)]
    assert factors[0] < factors[5] < factors[9]  # warm-up
    assert max(factors) == pytest.approx(1.0, abs=0.01)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:], strict=False))  # then only down
    assert lr_factor(100, 100) == pytest.approx(FINAL_LR)
    # A run its time cap ends: halfway through the time, halfway down, whatever the step count says.
    assert lr_factor(20, 10_000, time_fraction=0.5) == pytest.approx((1 + FINAL_LR) / 2)
    assert lr_factor(20, 10_000, time_fraction=1.5) == pytest.approx(FINAL_LR)


def _wordnet_subset(data_dir: Path, folder: Path, num_triples: int = 400) -> None:
    """A WN18RR subset as a folder dataset: the first train triples, with their entities' texts."""
    dataset = open_dataset("wn18rr", source=data_dir)
    triples = [t for t in dataset.triples() if t.split == "train"][:num_triples]
    triples += [t for t in dataset.triples() if t.split == "test"][:20]
    write_text_dataset(folder, dataset.entities(), triples)


@pytest.fixture(scope="module")
def generated(neo4j_server: ServerUnderTest, data_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A KG model and a text generator on the WordNet subset, trained through the CLI.

    The tests of this module never take the `graph` fixture: it would wipe the subset."""
    if neo4j_server.home is None:
        pytest.fail("the text generator tests need the managed test server (its plugin and kgstore.conf)")
    work = tmp_path_factory.mktemp("textgen")
    _wordnet_subset(data_dir, work / "wn")
    texts = [json.loads(line)["name"] + " " + (json.loads(line)["description"] or "")
             for line in (work / "wn" / "entities.jsonl").read_text().splitlines()]
    lm = build_tiny_lm(work / "lm", texts + ["Entity: Facts: Describe it in a few words. Description: none known"])

    def cli(*args: str) -> object:
        result = CliRunner().invoke(main, list(args), env={"KGSTORE_HOME": str(neo4j_server.home), **THREADS},
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        wipe(graph)
    cli("sync", "--namespace", "wnsub", "--triples", str(work / "wn" / "triples.tsv"),
        "--entities", str(work / "wn" / "entities.jsonl"))
    cli("train", "--model", MODEL, "--dataset", "wnsub", "--epochs", "5", "--dim", "16", "--patience", "0",
        "--refresh")
    trained = cli("generators", "train", "text", "--model", MODEL, "--language-model", str(lm), "--epochs", "3",
                  "--batch-size", "16", "--lr", "0.01", "--heldout", "8", "--dataset", "wnsub", "--json")
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        key = graph.query("MATCH (e:Entity {dataset: 'wnsub'}) RETURN e.key AS key ORDER BY key LIMIT 1")[0]["key"]
    yield {"home": neo4j_server.home, "cli": cli, "lm": lm, "train": json.loads(trained.stdout), "key": key,
           "server": neo4j_server}


def test_generator_checkpoint_records_its_model_and_held_out_entities(generated: dict) -> None:
    from kgstore.home import KgstoreHome

    home = KgstoreHome(generated["home"])
    folder = home.latest_generator(MODEL, "text")
    assert folder is not None and folder == Path(generated["train"]["generator"]).resolve()
    meta = json.loads((folder / "generator.json").read_text())
    assert meta["kg_version"] == home.latest_checkpoint(MODEL).name  # the KG model version it was trained on
    assert len(meta["heldout"]) == 8
    assert meta["config"]["max_target_tokens"] >= 16  # the description budget, chosen and saved at training
    assert (folder / "curves.png").is_file() and (folder / "weights.pt").is_file()
    losses = json.loads((folder / "loss.json").read_text())["loss"]
    assert generated["train"]["steps"] == len(losses) > 0
    assert np.mean(losses[-3:]) < np.mean(losses[:3])  # it learned something about the descriptions
    # Every exemplar in the saved prompts is a training entity's description; held-out entities get some too.
    entities = [json.loads(line) for line in (folder / "entities.jsonl").read_text().splitlines()]
    training = {" ".join(e["description"].split()) for e in entities  # exemplars are one line: spaces squeezed
                if e["description"] and e["key"] not in set(meta["heldout"])}

    def from_training(exemplar: str) -> bool:  # long ones are cut, ending in " ..."
        return exemplar in training or (exemplar.endswith(" ...") and any(t.startswith(exemplar[:-4])
                                                                          for t in training))

    assert all(from_training(x) for e in entities for x in e["exemplars"])
    assert all(e["exemplars"] for e in entities if e["key"] in set(meta["heldout"]))


def test_eval_reports_the_decoder_and_both_baselines(generated: dict) -> None:
    result = generated["cli"]("generators", "eval", "text", "--model", MODEL, "--limit", "6", "--max-tokens", "8",
                              "--json")
    report = json.loads(result.stdout)
    assert [row["method"] for row in report["rows"]] == ["decoder", "nearest_neighbour", "context_only",
                                                         "exemplars_context"]
    for row in report["rows"]:
        assert 0.0 <= row["bleu"] <= 1.0 and 0.0 <= row["chrf"] <= 1.0 and row["n"] == 6
    assert len(report["examples"]) == 6
    assert all(example["reference"] for example in report["examples"])
    table = generated["cli"]("generators", "eval", "text", "--model", MODEL, "--limit", "6", "--max-tokens", "8")
    assert "nearest_neighbour" in table.stdout and "context_only" in table.stdout
    beam = json.loads(generated["cli"]("generators", "eval", "text", "--model", MODEL, "--limit", "6",
                                       "--max-tokens", "8", "--beams", "3", "--json").stdout)
    assert beam["beams"] == 3 and report["beams"] == 1
    assert [row["n"] for row in beam["rows"]] == [6] * 4
    assert all(example["decoder"] for example in beam["examples"])


def test_describe_command_is_seeded(generated: dict) -> None:
    key = generated["key"]
    args = ("describe", key, "--model", MODEL, "--max-tokens", "8", "--temperature", "1.0", "--seed", "7")
    first, again = generated["cli"](*args), generated["cli"](*args)
    assert first.stdout.strip() and first.stdout == again.stdout
    beam = generated["cli"]("describe", key, "--model", MODEL, "--max-tokens", "8", "--beams", "3")
    assert beam.stdout.strip()
    # Without --max-tokens it writes up to the description budget saved at training.
    meta = json.loads((Path(generated["train"]["generator"]) / "generator.json").read_text())
    default = generated["cli"]("describe", key, "--model", MODEL).stdout
    assert default == generated["cli"]("describe", key, "--model", MODEL, "--max-tokens",
                                       str(meta["config"]["max_target_tokens"])).stdout
    unknown = CliRunner().invoke(main, ["describe", "wnsub:nope", "--model", MODEL],
                                 env={"KGSTORE_HOME": str(generated["home"])})
    assert unknown.exit_code == 1 and "wnsub:nope" in unknown.output


def _credentials(generated: dict) -> tuple[str, str, str]:
    server = generated["server"]
    return server.uri, server.user, server.password


def _facts(graph: Graph) -> list:
    return graph.query("MATCH (h)-[r]->(t) RETURN h.key AS h, type(r) AS r, t.key AS t, properties(r) AS p "
                       "ORDER BY h, r, t")


def test_kgstore_describe_in_cypher_through_the_sidecar(generated: dict, neo4j_server: ServerUnderTest,
                                                        tmp_path: Path) -> None:
    from kgstore.home import KgstoreHome

    home = KgstoreHome(generated["home"])
    port = home.load_settings().sidecar_port
    sidecar = start_sidecar(home.root, MODEL, port, tmp_path / "serve.log")
    try:
        with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
            facts_before = _facts(graph)
            nodes_before = graph.query("MATCH (n) RETURN count(n) AS n")[0]["n"]
            key = generated["key"]
            query = ("MATCH (n:Entity {key: $key}) "
                     "RETURN kgstore.describe(n, {maxTokens: 8, temperature: 1.0, seed: 5}) AS text")
            first = graph.query(query, {"key": key})[0]["text"]
            assert isinstance(first, str) and first.strip()
            assert graph.query(query, {"key": key})[0]["text"] == first  # same seed, same text
            beam = graph.query("MATCH (n:Entity {key: $key}) RETURN kgstore.describe(n, {beams: 3}) AS text",
                               {"key": key})[0]["text"]
            assert beam == generated["cli"]("describe", key, "--model", MODEL, "--beams", "3").stdout.strip()
            with pytest.raises(ClientError, match="beams"):  # the sidecar's cap (8) reaches Cypher
                graph.query("MATCH (n:Entity {key: $key}) RETURN kgstore.describe(n, {beams: 9}) AS t", {"key": key})
            greedy = graph.query("MATCH (n:Entity {key: $key}) RETURN kgstore.describe(n) AS text", {"key": key})
            assert greedy[0]["text"].strip()
            # no maxTokens: the sidecar writes up to the generator's budget, as `kgstore describe` does
            assert greedy[0]["text"] == generated["cli"]("describe", key, "--model", MODEL).stdout.strip()

            # An entity the model never saw: the sidecar's 404 reaches Cypher, naming the key.
            graph.query("CREATE (:Entity {key: 'wnsub:cold', name: 'cold'})", write=True)
            with pytest.raises(ClientError, match="unknown entity 'wnsub:cold'"):
                graph.query("MATCH (n:Entity {key: 'wnsub:cold'}) RETURN kgstore.describe(n) AS text")
            with pytest.raises(ClientError, match="maxTokens"):
                graph.query("MATCH (n:Entity {key: $key}) RETURN kgstore.describe(n, {maxTokens: 0}) AS t",
                            {"key": key})
            graph.query("MATCH (n:Entity {key: 'wnsub:cold'}) DELETE n", write=True)

            # Generation never writes: the facts and the node count are as they were.
            assert _facts(graph) == facts_before
            assert graph.query("MATCH (n) RETURN count(n) AS n")[0]["n"] == nodes_before
    finally:
        sidecar.kill()
        sidecar.wait(timeout=30)

    # The sidecar is gone: the function says it cannot reach it.
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        with pytest.raises(ClientError, match="sidecar"):
            graph.query("MATCH (n:Entity {key: $key}) RETURN kgstore.describe(n) AS text", {"key": key})


def test_a_model_without_a_generator_answers_503(generated: dict, neo4j_server: ServerUnderTest,
                                                 tmp_path: Path) -> None:
    from kgstore.home import KgstoreHome

    home = KgstoreHome(generated["home"])
    generated["cli"]("train", "--model", "nogen", "--dataset", "wnsub", "--epochs", "1", "--dim", "8",
                     "--no-write-back")
    port = home.load_settings().sidecar_port
    sidecar = start_sidecar(home.root, "nogen", port, tmp_path / "serve.log")
    try:
        with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
            with pytest.raises(ClientError, match="no text generator is trained for model 'nogen'"):
                graph.query("MATCH (n:Entity {dataset: 'wnsub'}) WITH n LIMIT 1 RETURN kgstore.describe(n) AS t")
    finally:
        sidecar.kill()
        sidecar.wait(timeout=30)


def test_a_missing_language_model_is_a_clear_error(generated: dict, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    result = CliRunner().invoke(main, ["generators", "train", "text", "--model", MODEL, "--language-model",
                                       str(missing), "--dataset", "wnsub"],
                                env={"KGSTORE_HOME": str(generated["home"]), **THREADS})
    assert result.exit_code == 1, result.output
    assert str(missing) in result.output and "config.json" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback


def test_warm_start_continues_the_latest_generator(generated: dict, tmp_path: Path) -> None:
    """`--warm-start` keeps the adapters, held-out keys and budget; the loss log continues."""
    from kgstore.errors import KgstoreError
    from kgstore.home import KgstoreHome
    from trainer.generators.jobs import WarmStart

    home = KgstoreHome(generated["home"])
    first = Path(generated["train"]["generator"]).resolve()
    first_meta = json.loads((first / "generator.json").read_text())
    first_losses = json.loads((first / "loss.json").read_text())["loss"]
    link = home.generators_dir(MODEL, "text") / "latest"
    try:
        more = json.loads(generated["cli"]("generators", "train", "text", "--model", MODEL, "--warm-start",
                                           "--epochs", "1", "--batch-size", "16", "--lr", "0.005",
                                           "--heldout", "3", "--dataset", "wnsub", "--json").stdout)
        second = Path(more["generator"]).resolve()
        assert second != first and home.latest_generator(MODEL, "text") == second
        meta = json.loads((second / "generator.json").read_text())
        assert meta["heldout"] == first_meta["heldout"]  # --heldout 3 is the old generator's, not the new run's
        assert meta["config"]["max_target_tokens"] == first_meta["config"]["max_target_tokens"]
        assert meta["config"]["lr"] == 0.005 and meta["training"]["warm_start_from"] == first.name
        log = json.loads((second / "loss.json").read_text())
        assert log["loss"][: len(first_losses)] == first_losses
        assert len(log["loss"]) == len(first_losses) + more["steps"]
        assert log["steps"] == sorted(set(log["steps"]))  # one step count, continued
        new = log["loss"][len(first_losses):]
        # It starts where the first run ended, not from scratch.
        assert np.mean(new[:3]) < np.mean(first_losses[:3])
        # A generator trained on another KG version cannot be continued: its soft prompt reads other vectors.
        with pytest.raises(KgstoreError, match="trained on KG version"):
            WarmStart.of(home, MODEL, tmp_path / "20990101T000000Z", TextGeneratorConfig())
    finally:
        from trainer.generators.checkpoint import GeneratorCheckpoint

        GeneratorCheckpoint(first).mark_latest(link)  # the module's other tests use the first generator


def test_describe_write_stores_generated_descriptions_beside_the_real_ones(generated: dict) -> None:
    """`describe --write` sets `generated_description` (never `description`); `--undescribed`
    fills entities without text and goes on where it stopped; `generated drop --kind text`
    removes them all."""
    cli = generated["cli"]
    nothing = CliRunner().invoke(main, ["describe", "--model", MODEL], env={"KGSTORE_HOME": str(generated["home"])})
    assert nothing.exit_code == 2 and "give entity KEYS to describe, or --undescribed" in nothing.output
    with connect(*_credentials(generated)) as graph:
        keys = [r["key"] for r in graph.query("MATCH (e:Entity {dataset: 'wnsub'}) WHERE e.description IS NOT NULL "
                                              "RETURN e.key AS key ORDER BY key SKIP 1 LIMIT 4")]
        before = {k: graph.query("MATCH (e:Entity {key: $k}) RETURN e.description AS d", {"k": k})[0]["d"]
                  for k in keys}
        try:
            written = json.loads(cli("describe", *keys[:2], "--model", MODEL, "--max-tokens", "6", "--write",
                                     "--json").stdout)
            assert [t["key"] for t in written["texts"]] == keys[:2] and written["written"]
            listed = json.loads(cli("generated", "list", "--kind", "text", "--model", MODEL, "--json").stdout)
            assert {r["key"]: r["text"] for r in listed} == {t["key"]: t["text"] for t in written["texts"]}
            assert all(r["model"] == MODEL and r["generator"] == written["generator"] and r["created_at"]
                       for r in listed)
            # An unknown key among known ones: an error naming it, nothing written.
            bad = CliRunner().invoke(main, ["describe", keys[2], "wnsub:nope", "--model", MODEL, "--write"],
                                     env={"KGSTORE_HOME": str(generated["home"]), **THREADS})
            assert bad.exit_code == 1 and "wnsub:nope" in bad.output
            # Two entities lose their description: --undescribed finds them (and no entity that has text).
            graph.query("UNWIND $keys AS k MATCH (e:Entity {key: k}) REMOVE e.description", {"keys": keys[2:]},
                        write=True)
            filled = json.loads(cli("describe", "--undescribed", "--model", MODEL, "--max-tokens", "6", "--write",
                                    "--json").stdout)
            assert {t["key"] for t in filled["texts"]} == set(keys[2:])
            again = json.loads(cli("describe", "--undescribed", "--model", MODEL, "--write", "--json").stdout)
            assert again["texts"] == []  # a re-run goes on where the last stopped: nothing left
            descriptions = {r["key"]: r["d"] for r in graph.query(
                "UNWIND $keys AS k MATCH (e:Entity {key: k}) RETURN k AS key, e.description AS d", {"keys": keys})}
            assert descriptions == {k: (before[k] if k in keys[:2] else None) for k in keys}  # never overwritten
            dropped = json.loads(cli("generated", "drop", "--kind", "text", "--json").stdout)
            assert dropped["descriptions"] == 4 and dropped["nodes"] == 0
            assert graph.query("MATCH (e:Entity) WHERE any(p IN keys(e) WHERE p STARTS WITH 'generated_description') "
                               "RETURN count(e) AS n")[0]["n"] == 0
        finally:
            graph.query("UNWIND $rows AS row MATCH (e:Entity {key: row.k}) SET e.description = row.d",
                        {"rows": [{"k": k, "d": d} for k, d in before.items()]}, write=True)
