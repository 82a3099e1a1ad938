"""Images from entity vectors: a small diffusion UNet (diffusers) conditioned on the graph.

The condition of entity :math:`e` is one vector added to the UNet's timestep embedding
(``UNet2DModel(class_embed_type="identity")``, as class-conditional DDPM adds a class
embedding):

.. math::

    c_e = \\mathrm{MLP}\\big([\\,\\hat v_e;\\ \\hat t_e\\,]\\big), \\qquad
    \\hat v_e = v_e / \\lVert v_e \\rVert, \\quad \\hat t_e = t_e / \\lVert t_e \\rVert \\ (0 \\text{ without text})

with :math:`v_e` the entity's vector from the KG model (the fused one for a multimodal
model) and :math:`t_e` the frozen text encoder's feature of its name and description. The
UNet is trained from scratch on the graph's own images (DDPM, Ho et al. 2020, on a cosine
schedule) to predict the velocity :math:`v = \\sqrt{\\bar\\alpha_t}\\,\\epsilon - \\sqrt{1-\\bar\\alpha_t}\\,x_0`
(Salimans & Ho 2022) rather than the noise: at the noisiest steps, where only the condition
can tell one poster from another, the noise target barely depends on the image and a
noise-predicting UNet learns to ignore its condition there (measured: on two solid colours it
drew their average, while the v-predicting one drew each colour). Classifier-free guidance
(Ho & Salimans 2022): for ``cond_drop`` of the examples the condition is replaced by a
learned null condition, so one network learns both :math:`v(x_t, c)` and
:math:`v(x_t, \\varnothing)`, and sampling follows
:math:`v(x_t, \\varnothing) + g\\,(v(x_t, c) - v(x_t, \\varnothing))`.
Samples come from the exponential moving average of the weights (EMA) with DDIM (Song et
al. 2021) in a few tens of steps. Images are whole posters squeezed to ``size × size``
(not cropped: a poster's title and figure are both kept).

.. note:: A KG model trained with ``--modalities image`` has read each entity's real image
   into its vector: conditioning on it leaks the held-out images' features into their
   samples. The benchmark conditions on a structure + text model.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np

from trainer.precision import check_precision, compute_dtype

SIZES = (32, 64, 128)
LOSS_READBACK = 25  # GPU steps whose losses are read back together (each read waits for the device)


@dataclass
class ImageGeneratorConfig:
    """How an image generator is built and trained; saved in its checkpoint.

    size: image side in pixels (32, 64 or 128).
    channels: UNet width per resolution level (one level per halving; the deepest two
        have self-attention). None: chosen by ``size`` and ``device`` (half as wide on a CPU).
    layers_per_block: ResNet blocks per level.
    cond_dim_hidden: width of the condition head's hidden layer.
    use_text: add the text encoder's feature of the entity's name and description.
    cond_drop: share of training examples whose condition is replaced by the null one.
    lr, batch_size, epochs, max_steps, max_seconds: optimisation (AdamW, linear warm-up);
        the first cap reached stops training.
    ema_decay: the EMA's largest decay (it warms up from 0, so a short run is usable).
    sample_steps, guidance: DDIM steps and guidance scale used when none are asked for.
    heldout: entities with an image kept out of training for evaluation (at most 10 %).
    flip: random horizontal flips (off by default: posters carry text).
    precision: what the UNet computes in (:mod:`trainer.precision`): ``auto`` is bfloat16
        autocast where the device runs it fast (a CPU with AMX, a recent GPU), float32
        elsewhere; weights, optimiser and EMA stay float32 (mixed precision).
    """

    size: int = 64
    channels: tuple[int, ...] | None = None
    layers_per_block: int = 1
    cond_dim_hidden: int = 512
    use_text: bool = True
    text_encoder: str = "minilm"
    cond_drop: float = 0.1
    lr: float = 2e-4
    warmup_steps: int = 200
    batch_size: int = 32
    epochs: int | None = None
    max_steps: int | None = None
    max_seconds: float | None = None
    ema_decay: float = 0.999
    train_timesteps: int = 1000
    sample_steps: int = 50
    guidance: float = 2.0
    heldout: int = 200
    flip: bool = False
    seed: int = 0
    device: str = "cpu"
    precision: str = "auto"

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if self.size not in SIZES:
            raise ValueError(f"image size {self.size} is not one of {', '.join(map(str, SIZES))}")
        if self.channels is None:  # a CPU trains a quarter of the width in the same time; a GPU the full one
            full = {32: (64, 128, 128), 64: (64, 128, 128, 256), 128: (64, 128, 128, 256, 256)}[self.size]
            self.channels = full if self.device.startswith("cuda") else tuple(c // 2 for c in full)
        self.channels = tuple(int(c) for c in self.channels)
        if not 0 <= self.cond_drop < 1:
            raise ValueError(f"cond_drop {self.cond_drop} must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["channels"] = list(self.channels or ())
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ImageGeneratorConfig:
        values = dict(values)
        if values.get("channels") is not None:
            values["channels"] = tuple(values["channels"])
        return cls(**values)


def build_decoder(config: ImageGeneratorConfig, condition_dim: int) -> Any:
    """The UNet with its condition head and null condition (an ``nn.Module``)."""
    return _decoder_class()(config, condition_dim)


def _decoder_class() -> type:  # torch is imported late, so the class is made on first use
    import torch
    from diffusers import UNet2DModel
    from torch import nn

    class _ImageDecoder(nn.Module):
        def __init__(self, config: ImageGeneratorConfig, condition_dim: int) -> None:
            super().__init__()
            channels = tuple(config.channels or ())
            levels = len(channels)
            # Self-attention where the feature map is small (the last two levels): global
            # layout for a few percent of the compute.
            down = tuple("AttnDownBlock2D" if i >= levels - 2 and i > 0 else "DownBlock2D" for i in range(levels))
            up = tuple("AttnUpBlock2D" if i < 2 and i < levels - 1 else "UpBlock2D" for i in range(levels))
            self.unet = UNet2DModel(sample_size=config.size, in_channels=3, out_channels=3,
                                    block_out_channels=channels, layers_per_block=config.layers_per_block,
                                    down_block_types=down, up_block_types=up, class_embed_type="identity",
                                    attention_head_dim=32, norm_num_groups=min(32, channels[0]))
            embed = channels[0] * 4  # the UNet's timestep-embedding width
            self.condition = nn.Sequential(nn.Linear(condition_dim, config.cond_dim_hidden), nn.SiLU(),
                                           nn.Linear(config.cond_dim_hidden, embed))
            self.null = nn.Parameter(torch.zeros(embed))
            self.condition_dim = condition_dim

        def embed(self, conditions: torch.Tensor | None, count: int) -> torch.Tensor:
            """The condition embedding of each row (the null one for ``None``)."""
            if conditions is None:
                return self.null.expand(count, -1)
            return self.condition(conditions)

        def forward(self, noisy: torch.Tensor, steps: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
            return self.unet(noisy, steps, class_labels=embedded).sample

    return _ImageDecoder


def condition_matrix(vectors: np.ndarray, texts: np.ndarray | None) -> np.ndarray:
    """``[v/|v|; t/|t|]`` per entity (float32); rows without text have zeros there."""
    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    parts = [unit(vectors)]
    if texts is not None:
        parts.append(unit(texts))
    return np.concatenate(parts, axis=1).astype(np.float32)


def schedulers(config: ImageGeneratorConfig) -> tuple[Any, Any]:
    """The DDPM training schedule and the DDIM sampler on the same noise levels."""
    from diffusers import DDIMScheduler, DDPMScheduler

    ddpm = DDPMScheduler(num_train_timesteps=config.train_timesteps, beta_schedule="squaredcos_cap_v2",
                         prediction_type="v_prediction", clip_sample=True)
    return ddpm, DDIMScheduler.from_config(ddpm.config)


def to_pixels(images: Sequence[Any], size: int) -> np.ndarray:
    """PIL images as uint8 ``[n, 3, size, size]``: the whole image resized (not cropped)."""
    from PIL import Image

    out = np.empty((len(images), 3, size, size), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)).transpose(2, 0, 1)
    return out


@dataclass
class TrainLog:
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    examples: int = 0


def train_decoder(decoder: Any, pixels: np.ndarray, conditions: np.ndarray, config: ImageGeneratorConfig, *,
                  progress: bool = True) -> tuple[TrainLog, Any]:
    """Train ``decoder`` on ``pixels`` (uint8 ``[n, 3, s, s]``) with one condition row per image.

    Returns the log and the EMA (``diffusers.training_utils.EMAModel``) whose weights are
    the ones to sample from and save.
    """
    import torch
    from diffusers.training_utils import EMAModel
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    decoder.to(device).train()
    images = torch.from_numpy(pixels).to(device)
    cond = torch.from_numpy(conditions).to(device)
    ddpm, _ = schedulers(config)
    autocast = _autocast(config, device.type)
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=config.lr, weight_decay=0.0)
    warmup = max(1, config.warmup_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    ema = EMAModel(decoder.parameters(), decay=config.ema_decay, use_ema_warmup=True, power=3 / 4,
                   foreach=device.type == "cuda")
    per_epoch = max(1, math.ceil(len(images) / config.batch_size))
    total = config.max_steps
    if config.epochs is not None:
        total = min(total or per_epoch * config.epochs, per_epoch * config.epochs)
    if total is None and config.max_seconds is None:
        total = per_epoch * 50
    log = TrainLog()
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    # On a GPU the per-step noise is drawn there (a CPU draw and copy of batch x 3 x s x s floats
    # every step paced the H200 at ~45 % busy) and the loss is read back in groups, so the host
    # queues steps ahead of the device; on a CPU the draws stay on the one generator as before.
    noise_generator = (torch.Generator(device=device).manual_seed(config.seed) if device.type == "cuda"
                       else generator)
    pending: list[Any] = []  # losses still on the device

    def flush() -> None:
        if pending:
            log.losses.extend(torch.stack(pending).float().cpu().tolist())
            pending.clear()
            bar.set_postfix(loss=f"{log.losses[-1]:.4f}")

    def draw(*shape: int, sampler: Any = torch.randn) -> Any:
        return sampler(shape, generator=noise_generator, device=noise_generator.device).to(device)

    bar = tqdm(total=total, desc="train image generator", unit="step", disable=not progress, dynamic_ncols=True)
    started = time.monotonic()
    step = 0
    while total is None or step < total:
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(order), config.batch_size):
            rows = order[start:start + config.batch_size].to(device)
            clean = images[rows].float() / 127.5 - 1.0
            if config.flip:
                flip = torch.rand(len(rows), generator=generator) < 0.5
                clean[flip.to(device)] = clean[flip.to(device)].flip(-1)
            noise = draw(*clean.shape)
            steps = draw(len(rows), sampler=partial(torch.randint, 0, ddpm.config.num_train_timesteps))
            noisy = ddpm.add_noise(clean, noise, steps)
            embedded = decoder.embed(cond[rows], len(rows))
            drop = draw(len(rows), sampler=torch.rand) < config.cond_drop
            embedded = torch.where(drop[:, None], decoder.null.expand_as(embedded), embedded)
            target = ddpm.get_velocity(clean, noise, steps)
            with autocast:
                predicted = decoder(noisy, steps, embedded)
            loss = torch.nn.functional.mse_loss(predicted.float(), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(decoder.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            ema.step(decoder.parameters())
            step += 1
            log.steps.append(step)
            pending.append(loss.detach())
            if device.type != "cuda" or len(pending) >= LOSS_READBACK:
                flush()
            log.examples += len(rows)
            bar.update(1)
            out_of_time = config.max_seconds is not None and time.monotonic() - started >= config.max_seconds
            if (total is not None and step >= total) or out_of_time:
                break
        if config.max_seconds is not None and time.monotonic() - started >= config.max_seconds:
            break
    flush()
    bar.close()
    log.seconds = time.monotonic() - started
    return log, ema


def _autocast(config: ImageGeneratorConfig, device_type: str) -> Any:
    """bfloat16 autocast when the config's precision asks for it on this device, else a no-op."""
    import torch

    dtype = compute_dtype(config.precision, device_type)
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)


def noise_seed(key: str, seed: int) -> int:
    """The noise seed of entity ``key``'s image under the user's ``seed``.

    Each entity gets noise of its own: with one noise for every entity (the user's seed as
    is), a deterministic sampler drew one composition per seed and the condition only
    recoloured it, so a set of movies drawn with seed 0 looked like one poster (measured on
    the GPU run: FD 288 against 260 for unconditional samples on distinct noise).
    """
    digest = hashlib.sha256(f"{int(seed)}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # a non-negative int64, as torch.Generator takes


def sample(decoder: Any, conditions: np.ndarray | None, *, count: int | None = None, seeds: Sequence[int],
           steps: int = 50, guidance: float = 2.0, config: ImageGeneratorConfig, batch_size: int = 64,
           progress: bool = False) -> np.ndarray:
    """uint8 images ``[n, size, size, 3]``, one per condition row (``None``: ``count`` unconditional ones).

    Image ``i`` starts from the noise of ``seeds[i]`` alone, so it does not depend on which
    other images share its batch: the same entity, seed, steps and guidance give the same image.
    """
    import torch
    from tqdm.auto import tqdm

    n = len(conditions) if conditions is not None else int(count or 0)
    if len(seeds) != n:
        raise ValueError(f"{len(seeds)} seeds for {n} images")
    _, ddim = schedulers(config)
    device = next(decoder.parameters()).device
    autocast = _autocast(config, device.type)
    decoder.eval()
    out = np.empty((n, config.size, config.size, 3), dtype=np.uint8)
    bar = tqdm(total=n, desc="sample images", unit="image", disable=not progress, dynamic_ncols=True)
    with torch.no_grad():
        for start in range(0, n, batch_size):
            rows = range(start, min(n, start + batch_size))
            noise = torch.stack([torch.randn((3, config.size, config.size),
                                             generator=torch.Generator().manual_seed(int(seeds[i]))) for i in rows])
            x = noise.to(device)
            if conditions is None:
                embedded = decoder.embed(None, len(rows))
                guided = False
            else:
                embedded = decoder.embed(torch.from_numpy(conditions[start:start + len(rows)]).to(device), len(rows))
                guided = guidance != 1.0
            if guided:
                embedded = torch.cat([embedded, decoder.embed(None, len(rows))])
            ddim.set_timesteps(steps)
            for t in ddim.timesteps:
                model_in = torch.cat([x, x]) if guided else x
                timestep = torch.full((len(model_in),), int(t), device=device, dtype=torch.long)
                with autocast:
                    v = decoder(model_in, timestep, embedded).float()
                if guided:
                    conditional, unconditional = v.chunk(2)
                    v = unconditional + guidance * (conditional - unconditional)
                x = ddim.step(v, t, x, eta=0.0).prev_sample
            pixels = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
            out[start:start + len(rows)] = pixels
            bar.update(len(rows))
    bar.close()
    return out


def png_bytes(pixels: np.ndarray) -> bytes:
    """One ``[s, s, 3]`` uint8 image as PNG bytes (deterministic: same pixels, same bytes)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def grid(rows: Sequence[Sequence[np.ndarray]], *, pad: int = 2) -> Any:
    """A PIL image of equally sized ``[s, s, 3]`` images laid out row by row (white gaps)."""
    from PIL import Image

    size = rows[0][0].shape[0]
    columns = max(len(r) for r in rows)
    canvas = Image.new("RGB", (columns * (size + pad) + pad, len(rows) * (size + pad) + pad), "white")
    for r, images in enumerate(rows):
        for c, image in enumerate(images):
            canvas.paste(Image.fromarray(image, mode="RGB"), (pad + c * (size + pad), pad + r * (size + pad)))
    return canvas
