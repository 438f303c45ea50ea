#!/usr/bin/env bash
# SCST A/B: run the SCST loop as it was at 501b063 (before the loop was unified) from a
# cross-entropy checkpoint, 10 epochs, patience off, for comparison with today's loop on the same
# checkpoint (results/recipe/<scst trial>.json). Usage, from the repository root:
#   bash results/recipe/scst-ab/run-old-loop.sh CE_CHECKPOINT SEED
# Writes results/recipe/scst-ab/old-loop-seedSEED.jsonl (the old run's metrics.jsonl).
set -euo pipefail
ckpt=$1 seed=$2
work=${SCST_AB_WORK:-runs/scst-ab}
rm -rf "$work/old-code" "$work/init-$seed" "$work/old-seed$seed"
mkdir -p "$work/old-code"
git archive 501b063 captioning | tar -x -C "$work/old-code"
cp -r "$ckpt" "$work/init-$seed"   # the old DecodeConfig cannot read today's stored decoding: set it to null
.venv/bin/python - "$work/init-$seed/config.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1])); cfg["decoding"] = None
json.dump(cfg, open(sys.argv[1], "w"), indent=2)
PY
# the old code rejects today's feature-cache metadata, so it keeps its own cache
CAPTIONING_CACHE="$PWD/$work/cache" PYTHONPATH="$PWD/$work/old-code" .venv/bin/python -m captioning scst \
  --init "$work/init-$seed" --out "$work/old-seed$seed" --seed "$seed" --epochs 10 --patience 10 --quiet
cp "$work/old-seed$seed/metrics.jsonl" "results/recipe/scst-ab/old-loop-seed$seed.jsonl"
