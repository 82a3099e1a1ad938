#!/usr/bin/env bash
# The GPU check: everything GPU-related in one call of under 9 minutes on one H200, run in parallel
# (small models leave the GPU mostly idle, so parallel runs share it well, though the image
# generator ran 7.2 steps/s beside the LP jobs against 10.6 alone):
#
#   - image generation (issue 14): the full-width UNet on MovieLens-100K posters at 64x64 for
#     IMAGE_SECONDS, FD/KID against held-out posters, genre mAP, retrieval rank, at each guidance
#     scale of IMAGE_GUIDANCE (bench/generation_bench.py --image);
#   - link prediction (issue 15, LP=1; measured 2026-11-30, so off by default): FB15k-237
#     structure only vs +text (MiniLM features of names + Wikidata descriptions through the
#     fusion; with and without the alignment loss) and WN18RR
#     structure only (+text too with WN_TEXT=1, when its features travel), PyKEEN's ComplEx beside
#     them, same split, same cap (bench/multimodal_ablation.py, bench/gpu_check.py);
#   - text generation (issue 13, GENERATION=1; needs SmolLM2 carried) and the float32 vs bfloat16
#     step times (PRECISION=1);
#   - the sidecar's FAISS on the GPU, when faiss is importable there.
#
# The box has no network: data, text features, EfficientNet-Lite0 and missing wheels travel as one
# bundle made here by bench/gpu_prepare.py (see its docstring); BUNDLE names its folder there and
# the script unpacks it first (data to /tmp/data, models and wheels to /tmp/site):
#
#   python bench/gpu_prepare.py --warm --datasets movielens-100k,fb15k-237     # here, once (CPU)
#   python bench/gpu_prepare.py --models efficientnet --carry-features         # here: .gpu/part1
#   BUNDLE=.gpu/part1 bash bench/gpu_check.sh                                  # there (carry .gpu/part1)
#
# The device call that ran it (OUT there is the folder that comes back; the results travel as one tar):
#   D=$OUT; OUT=/tmp/g BUNDLE=.gpu/part1 timeout -k 10 540 bash bench/gpu_check.sh 2>&1 | tee $D/log.txt;
#   tar czf $D/results.tgz -C /tmp g
#
# DEVICE=cpu with small caps rehearses the whole script here before a GPU is spent on it.
#
# LP recipe (both datasets, both systems): 1-N softmax cross-entropy, reciprocal relations, Adagrad
# lr 0.1, N3 regularisation (kgstore), batch 1000 (Lacroix et al. 2018); PyKEEN gets the same loss,
# optimizer, learning rate, dimension and batch size with its own default regulariser, and a row
# with its favourite optimiser (Adam 1e-3).
set -u
OUT=${OUT:-bench/out/gpu}
DEVICE=${DEVICE:-cuda}
CAP=${SECONDS_CAP:-270}
GEN=${GEN_SECONDS:-240}
IMG=${IMAGE_SECONDS:-360}
KG=${KG_SECONDS:-30}
FEATURES=${FEATURES:-$PWD/bench/out/features}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
mkdir -p "$OUT"
started=$(date +%s)
if [ -n "${BUNDLE:-}" ]; then
  python3 bench/gpu_prepare.py --unpack "$BUNDLE" --site /tmp/site --data /tmp/data --features "$FEATURES" || exit 1
  if ls "$BUNDLE"/wheels/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      "$BUNDLE"/wheels/*.whl || exit 1
  fi
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} KGSTORE_DATA=/tmp/data
  echo "[$(( $(date +%s) - started )) s] bundle unpacked"
fi
export KGSTORE_DATA=${KGSTORE_DATA:-$PWD/../shared/data}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
if [ "${FAISS:-1}" = 1 ] && python3 -c "import faiss" 2>/dev/null; then
  python3 bench/gpu_check.py --faiss > "$OUT/faiss.txt" 2>&1 &
fi
# Image generation first: it is the longest job. MovieLens-100K posters, the UNet at 64x64 for IMG
# seconds, two seeds per held-out movie, 50 DDIM steps.
if [ "${IMAGES:-1}" = 1 ]; then
  python3 bench/generation_bench.py --image --device "$DEVICE" --size 64 --kg-max-seconds "$KG" --threads 2 \
    --image-max-seconds "$IMG" --image-batch "${IMAGE_BATCH:-128}" --image-lr 3e-4 \
    --sample-steps "${SAMPLE_STEPS:-50}" --seeds 2 ${IMAGE_SAMPLES:+--samples "$IMAGE_SAMPLES"} \
    --guidance "${IMAGE_GUIDANCE:-2,1,1.5,3}" \
    --features "$FEATURES" --out "$OUT/images" > "$OUT/images.txt" 2>&1 &
fi
if [ "${LP:-0}" = 1 ]; then
  LP_ARGS=(--decoder complex --loss 1-n-ce --optimizer adagrad --lr 0.1 --dropout 0 --batch-size 1000
           --epochs 1000 --eval-every 5 --patience 4 --kg-max-seconds "$CAP" --device "$DEVICE" --threads 1
           --cache "$FEATURES")
  ablation() {  # name, then multimodal_ablation.py arguments
    local name=$1; shift
    python3 bench/multimodal_ablation.py "${LP_ARGS[@]}" "$@" --json "$OUT/$name.json" --plot "$OUT/$name.png" \
      > "$OUT/$name.txt" 2>&1 &
  }
  ablation lp-fb-structure --datasets fb15k-237 --variants structure --dim "${FB_DIM:-1000}" --regularization 0.05
  ablation lp-fb-text      --datasets fb15k-237 --variants +text     --dim "${FB_DIM:-1000}" --regularization 0.05
  ablation lp-fb-text-noal --datasets fb15k-237 --variants +text     --dim "${FB_DIM:-1000}" --regularization 0.05 \
    --align-weight 0
  ablation lp-wn-structure --datasets wn18rr --variants structure --dim "${WN_DIM:-2000}" --regularization 0.1
  if [ "${WN_TEXT:-0}" = 1 ]; then
    ablation lp-wn-text    --datasets wn18rr --variants +text     --dim "${WN_DIM:-2000}" --regularization 0.1
  fi
  PYKEEN=(--systems pykeen --models complex --max-seconds "$CAP" --epochs 1000 --loss 1-n-ce --optimizer adagrad
          --lr 0.1 --batch-size 1000 --eval-every 5 --threads 1 --device "$DEVICE")
  if [ "${PYKEEN_ROWS:-1}" = 1 ] && python3 -c "import pykeen" 2>/dev/null; then
    python3 bench/gpu_check.py --dataset fb15k-237 --dim "${FB_DIM:-1000}" "${PYKEEN[@]}" \
      --plot "$OUT/pykeen-fb.png" > "$OUT/pykeen-fb.txt" 2>&1 &
    python3 bench/gpu_check.py --dataset wn18rr --dim "${WN_DIM:-2000}" "${PYKEEN[@]}" \
      --plot "$OUT/pykeen-wn.png" > "$OUT/pykeen-wn.txt" 2>&1 &
    # PyKEEN's own favourite optimiser too, so the peer gets its better row
    python3 bench/gpu_check.py --dataset fb15k-237 --dim "${FB_DIM:-1000}" "${PYKEEN[@]}" --pykeen-optimizer adam \
      --pykeen-lr 0.001 --plot "$OUT/pykeen-fb-adam.png" > "$OUT/pykeen-fb-adam.txt" 2>&1 &
  fi
fi
# Text generation: a structure-only KG model, then the generator trained for GEN seconds (bfloat16:
# --precision auto); both generators' step time in float32 vs bfloat16.
if [ "${PRECISION:-0}" = 1 ]; then
  python3 bench/precision_bench.py --device "$DEVICE" > "$OUT/precision.txt" 2>&1 &
fi
if [ "${GENERATION:-0}" = 1 ]; then
  for dataset in fb15k-237 wn18rr; do
    python3 bench/generation_bench.py --datasets "$dataset" --device "$DEVICE" --kg-max-seconds 60 \
      --gen-max-seconds "$GEN" --gen-epochs 8 --batch-size 64 --lr 1e-3 --limit 200 --threads 2 \
      --out "$OUT/generation-$dataset" > "$OUT/generation-$dataset.txt" 2>&1 &
  done
fi
while [ -n "$(jobs -r)" ]; do
  sleep "${POLL:-30}"
  echo "[$(( $(date +%s) - started )) s] running: $(jobs -r | wc -l); GPU: $(nvidia-smi \
    --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null)"
done
# Suggested (issue 16, DDP; needs a box with several GPUs): 1 vs N GPUs, NCCL, same global batch and seed:
#   python3 bench/ddp_bench.py --dataset fb15k-237 --device cuda --nproc "1,$(nvidia-smi -L | wc -l)" \
#     --decoder complex --dim 1000 --batch-size 1000 --epochs 20 > "$OUT/ddp.txt" 2>&1
for f in "$OUT"/*.txt; do echo "== $f"; grep -v "^\s*$" "$f" | grep -iv "warn" | tail -14; done
echo "[$(( $(date +%s) - started )) s] done"
