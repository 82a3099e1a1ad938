"""Training-step time of the two generators in float32 vs ``--precision auto`` (bfloat16 where fast).

One table: the text decoder (SmolLM2-135M + LoRA, a batch of 16 entities x ~160 prompt
tokens + 12 description tokens: the median step after a warm-up one) and the image UNet
(64x64, the CPU width, a batch of 32: the mean step of a short ``train_decoder`` run, EMA and
optimiser included), each precision in turn and the ratio. Random token ids and pixels:
a step's cost does not depend on what the data says.

    python bench/precision_bench.py                 # the CPU (bfloat16 only with AMX)
    python bench/precision_bench.py --device cuda   # a GPU
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def text_step_seconds(precision: str, args: argparse.Namespace) -> float:
    import torch

    from trainer.generators.text import TextGeneratorConfig, build_decoder

    torch.manual_seed(0)
    decoder = build_decoder(TextGeneratorConfig(precision=precision, device=args.device), 64)
    decoder.to(args.device).train()
    prompts = [torch.randint(100, 40000, (150 + 5 * (i % 5),)).tolist() for i in range(16)]
    targets = [torch.randint(100, 40000, (12,)).tolist() for _ in range(16)]
    vectors = torch.randn(16, 64, device=args.device)
    optimizer = torch.optim.AdamW([p for p in decoder.parameters() if p.requires_grad], lr=1e-4)
    times = []
    for _ in range(args.steps + 1):
        started = time.perf_counter()
        loss = decoder.loss(vectors, prompts, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def image_step_seconds(precision: str, args: argparse.Namespace) -> float:
    import numpy as np

    from trainer.generators.image import ImageGeneratorConfig, build_decoder, train_decoder

    config = ImageGeneratorConfig(size=64, batch_size=32, max_steps=args.steps + 1, warmup_steps=1,
                                  precision=precision, device=args.device)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (32 * (args.steps + 1), 3, 64, 64), dtype=np.uint8)
    conditions = rng.standard_normal((len(pixels), 448)).astype(np.float32)
    log, _ = train_decoder(build_decoder(config, conditions.shape[1]), pixels, conditions, config, progress=False)
    return log.seconds / len(log.steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=4, help="steps timed per precision (after one warm-up)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("KGSTORE_NUM_THREADS", 0)) or None)
    args = parser.parse_args()
    import torch

    from trainer.precision import bfloat16_is_fast, compute_dtype

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
          f"bfloat16 fast here: {bfloat16_is_fast(args.device)} (auto = {compute_dtype('auto', args.device)})")
    print(f"{'generator':<10}{'float32 s/step':>16}{'auto s/step':>14}{'speed-up':>10}")
    for name, measure in (("text", text_step_seconds), ("image", image_step_seconds)):
        full, auto = measure("float32", args), measure("auto", args)
        print(f"{name:<10}{full:>16.2f}{auto:>14.2f}{full / auto:>9.1f}x", flush=True)


if __name__ == "__main__":
    main()
