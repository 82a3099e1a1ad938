"""The sidecar's text generator: loaded on the first ``/generate/text`` request, reloaded
when ``kgstore generators train text`` moves the model's generator ``latest`` link.

Loading reads the language model (seconds) and generating costs a decode per token, so
both stay off the event loop (the route is a plain ``def``, run in FastAPI's threads) and
one lock keeps one generation at a time: concurrent decodes on a small CPU only slow each
other down.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("kgstore.sidecar")


class NoGenerator(Exception):
    """No text generator is trained for the served model (or it cannot be loaded)."""


class TextGeneratorStore:
    """Hands out the current :class:`~trainer.generators.jobs.TextGenerator` of one model."""

    def __init__(self, *, model: str, link: Path, device: str = "cpu") -> None:
        self.model, self.link, self.device = model, Path(link), device
        self.lock = threading.Lock()
        self._loaded: Any = None
        self._folder: Path | None = None

    def spec(self) -> dict[str, str]:
        return {"model": self.model, "link": str(self.link), "device": self.device}

    def generate(self, keys: list[str], *, max_tokens: int, temperature: float,
                 seed: int | None) -> tuple[Any, list[str]]:
        """``(generator, texts)``; ``KeyError(key)`` for an unknown key, :class:`NoGenerator` when none."""
        with self.lock:
            generator = self._current()
            missing = generator.unknown(keys)
            if missing:
                raise KeyError(missing[0])
            return generator, generator.describe(keys, max_tokens=max_tokens, temperature=temperature, seed=seed)

    def _current(self) -> Any:
        target = self.link.resolve() if self.link.exists() else None
        if target is None:
            raise NoGenerator(f"no text generator is trained for model {self.model!r}: train one with "
                              f"`kgstore generators train text --model {self.model}`")
        if target != self._folder:
            from trainer.generators.jobs import TextGenerator

            try:
                self._loaded = TextGenerator.load(target, device=self.device)
            except (FileNotFoundError, ValueError, OSError) as exc:
                raise NoGenerator(f"the text generator of model {self.model!r} in {target} cannot be loaded: "
                                  f"{exc}") from exc
            self._folder = target
            log.info("text generator %s loaded", target)
        return self._loaded
