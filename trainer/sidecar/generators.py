"""The sidecar's generators: loaded on a model's first ``/generate/text`` or ``/generate/image``
request, reloaded when ``kgstore generators train text|image`` moves that generator's
``latest`` link.

Loading reads a language model or a UNet (seconds) and generating costs a decode per
token or a UNet pass per denoising step, so both stay off the event loop (the routes are
plain ``def``, run in FastAPI's threads) and one lock per generator keeps one generation at
a time: concurrent decodes on a small CPU only slow each other down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("kgstore.sidecar")
T = TypeVar("T")


class NoGenerator(Exception):
    """No generator of that kind is trained for the served model (or it cannot be loaded)."""


class GeneratorStore:
    """Hands out the current text or image generator of one model."""

    def __init__(self, *, kind: str, model: str, link: Path | str, device: str = "cpu",
                 image_store: Path | str | None = None) -> None:
        if kind not in ("text", "image"):
            raise ValueError(f"generator kind {kind!r} is not text or image")
        self.kind, self.model, self.link, self.device = kind, model, Path(link), device
        self.image_store = Path(image_store) if image_store else None  # where /generate/image stores PNGs
        self.lock = threading.Lock()
        self._loaded: Any = None
        self._folder: Path | None = None

    def spec(self) -> dict[str, str | None]:
        return {"kind": self.kind, "model": self.model, "link": str(self.link), "device": self.device,
                "image_store": str(self.image_store) if self.image_store else None}

    def run(self, keys: list[str], work: Callable[[Any], T]) -> tuple[Any, T]:
        """``(generator, work(generator))`` under the lock; ``KeyError(key)`` for an unknown key,
        :class:`NoGenerator` when none is trained."""
        with self.lock:
            generator = self._current()
            missing = generator.unknown(keys)
            if missing:
                raise KeyError(missing[0])
            return generator, work(generator)

    def _current(self) -> Any:
        target = self.link.resolve() if self.link.exists() else None
        if target is None:
            raise NoGenerator(f"no {self.kind} generator is trained for model {self.model!r}: train one with "
                              f"`kgstore generators train {self.kind} --model {self.model}`")
        if target != self._folder:
            try:
                self._loaded = self._load(target)
            except (FileNotFoundError, ValueError, OSError) as exc:
                raise NoGenerator(f"the {self.kind} generator of model {self.model!r} in {target} cannot be loaded: "
                                  f"{exc}") from exc
            self._folder = target
            log.info("%s generator %s loaded", self.kind, target)
        return self._loaded

    def _load(self, folder: Path) -> Any:
        if self.kind == "text":
            from trainer.generators.jobs import TextGenerator

            return TextGenerator.load(folder, device=self.device)
        from trainer.generators.image_jobs import ImageGenerator

        return ImageGenerator.load(folder, device=self.device)
