#!/usr/bin/env bash
# Issue 16's "done when", end to end on this machine: a 10M-triple synthetic graph is
# written, bulk-loaded into a fresh managed Neo4j, exported and trained with the neighbour
# sampler, each step's wall-clock and peak RSS printed (GNU time), then the server stopped.
#
#   bash bench/scale_e2e.sh                      # 10M triples, 600 s of training
#   TRIPLES=1000000 TRAIN_SECONDS=120 bash bench/scale_e2e.sh
#
# Everything lives in a throwaway folder (WORK, default a new temp dir): its own
# KGSTORE_HOME, the graph's files and the snapshot; nothing touches ~/.kgstore.
set -euo pipefail

TRIPLES=${TRIPLES:-10000000}
TRAIN_SECONDS=${TRAIN_SECONDS:-600}
WORK=${WORK:-$(mktemp -d /tmp/kgstore-e2e.XXXXXX)}
if (( TRIPLES >= 1000000 )); then NAME=g$((TRIPLES / 1000000))m; else NAME=g$((TRIPLES / 1000))k; fi
export KGSTORE_HOME="$WORK/home"
mkdir -p "$WORK"
echo "work folder: $WORK (KGSTORE_HOME=$KGSTORE_HOME)"

step() {  # step NAME COMMAND...: run, then print wall-clock and peak RSS
  local name=$1; shift
  echo "== $name: $*" >&2
  /usr/bin/time -f "$name: %e s wall, peak RSS %M KiB" -o "$WORK/$name.time" "$@"
  cat "$WORK/$name.time" >&2
}

trap 'kgstore server stop >/dev/null 2>&1 || true' EXIT
kgstore server install >/dev/null
kgstore server start >/dev/null
[[ -f "$WORK/$NAME/train.txt" ]] || step synth kgstore datasets synth "$WORK/$NAME/" --triples "$TRIPLES" --seed 1
step sync kgstore sync --bulk "$WORK/$NAME/"
step train kgstore train --dataset "$NAME" --model "${NAME}_e2e" --sampler neighbor \
  --max-seconds "$TRAIN_SECONDS" --json > "$WORK/train.json"
python - "$WORK/train.json" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
report, _ = json.JSONDecoder().raw_decode(text[text.index("{"):])
metrics = report["metrics"]
test = {k: v for k, v in metrics.get("test", {}).items() if k in ("mrr", "hits@10", "count", "sampled_from")}
print(json.dumps({"recipe": report["recipe"]["name"], "snapshot": report["snapshot"], "write_back": report["write_back"],
                  "epochs": metrics["epochs"], "stopped": metrics.get("stopped"), "full_batch": metrics.get("full_batch"),
                  "train_seconds": metrics.get("train_seconds"), "eval_seconds": metrics.get("eval_seconds"),
                  "test_seconds": metrics.get("test_seconds"), "test": test}, indent=1))
EOF
echo "== summary"
cat "$WORK"/*.time
du -sh "$KGSTORE_HOME"/server/data 2>/dev/null || true
