"""A content-addressed file store for images: one file per distinct content (sha256).

Neo4j keeps an ``:Image`` node per sha256 with its mime type, size and a ``file://`` URI
into this store; the bytes stay on disk. The same poster imported twice, or by two
datasets, is stored once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

STORE_ENV = "KGSTORE_IMAGE_STORE"
MAX_PIXELS = 64_000_000  # refuse decompression bombs long before they hurt


class NotAnImage(ValueError):
    """The file is missing, unreadable or not a decodable image."""


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    mime: str
    width: int
    height: int
    size: int
    extension: str


def inspect_image(path: Path) -> ImageInfo:
    """Hash and fully decode ``path`` (a truncated or fake image fails here, not later)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NotAnImage(f"cannot read image file: {exc.strerror or exc}") from exc
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise NotAnImage(f"image is {image.width}x{image.height} pixels; the limit is "
                                 f"{MAX_PIXELS:,}")
            image.load()
            fmt = image.format or ""
            mime = Image.MIME.get(fmt, f"image/{fmt.lower()}" if fmt else "application/octet-stream")
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise NotAnImage(f"not a readable image ({exc})") from exc
    extension = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp"}.get(
        fmt, "." + fmt.lower() if fmt else "")
    return ImageInfo(hashlib.sha256(data).hexdigest(), mime, width, height, len(data), extension)


class ImageStore:
    """Files under ``root/<first two hex digits>/<sha256><ext>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, info: ImageInfo) -> Path:
        return self.root / info.sha256[:2] / f"{info.sha256}{info.extension}"

    def put_png(self, data: bytes, *, width: int, height: int) -> tuple[Path, ImageInfo, bool]:
        """Store PNG bytes made here (a generated image); returns the path, its info and whether it was new."""
        info = ImageInfo(hashlib.sha256(data).hexdigest(), "image/png", width, height, len(data), ".png")
        target = self.path_for(info)
        if target.is_file() and target.stat().st_size == info.size:
            return target, info, False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target, info, True

    def put(self, source: Path, info: ImageInfo) -> tuple[Path, bool]:
        """Store ``source`` under its hash; returns the stored path and whether it was new."""
        target = self.path_for(info)
        if target.is_file() and target.stat().st_size == info.size:
            return target, False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)  # atomic: a killed sync never leaves half a file
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target, True
