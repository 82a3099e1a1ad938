"""trainer: the heavy half of kgstore (torch, PyG, open_clip, FastAPI).

Snapshot streaming, encoders, decoders, the training loop, evaluation and the decoder
sidecar live here. ``kgstore`` imports this package only inside the commands that need
it, so the driver and CLI work without the ``train`` extra.
"""

__version__ = "0.1.0"
