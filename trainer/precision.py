"""Which floating-point type a frozen network computes in: bfloat16 where the hardware runs it fast.

A frozen language model (or any large matmul-bound network) loses nothing that matters by
computing in bfloat16, and on hardware with bfloat16 matrix units it runs several times
faster: NVIDIA GPUs from Ampere on, and Intel CPUs with AMX tiles (Sapphire Rapids and
later), which PyTorch reaches through oneDNN. Elsewhere bfloat16 is emulated and slower than
float32, so ``auto`` keeps float32 there. Trained parameters stay float32 either way; only
the compute (``torch.autocast``) and the frozen weights change.
"""

from __future__ import annotations

from typing import Any

PRECISIONS = ("auto", "float32", "bfloat16")


def bfloat16_is_fast(device: str) -> bool:
    """True on a CUDA device that supports bfloat16, or a CPU with AMX tiles."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    init_amx = getattr(torch._C._cpu, "_init_amx", None)  # True when the CPU has (and the OS enabled) AMX
    return bool(init_amx and init_amx())


def check_precision(precision: str) -> str:
    """``precision`` when it is one of :data:`PRECISIONS`, else a ``ValueError`` naming them."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return precision


def compute_dtype(precision: str, device: str) -> Any:
    """The ``torch.dtype`` that ``precision`` (one of :data:`PRECISIONS`) means on ``device``."""
    import torch

    if check_precision(precision) == "auto":
        return torch.bfloat16 if bfloat16_is_fast(device) else torch.float32
    return torch.bfloat16 if precision == "bfloat16" else torch.float32
