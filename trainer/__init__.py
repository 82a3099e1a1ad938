"""trainer: the heavy half of kgstore (torch, PyG, open_clip, FastAPI).

Snapshot streaming, encoders, decoders, the training loop, evaluation and the decoder
sidecar live here. ``kgstore`` imports this package only inside the commands that need
it, so the driver and CLI work without the ``train`` extra.
"""

__version__ = "0.1.0"

import warnings

# PyG 2.8 runs torch.jit.script on a few pooling helpers when torch_geometric.nn is
# imported, and torch 2.15 deprecates TorchScript with a FutureWarning: every `kgstore
# train` / `nearest --text` printed it, and no kgstore user can act on it. Only that
# message is silenced; every other warning still shows.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
# peft asks transformers 5 whether a model uses gradient checkpointing through a property that
# transformers deprecates with a FutureWarning on every LoRA model kgstore builds (text
# generators): the message is peft's to fix, not the user's. Only that message is silenced.
warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
