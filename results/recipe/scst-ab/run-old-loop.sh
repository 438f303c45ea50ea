#!/usr/bin/env bash
# SCST A/B: run the SCST loop as it was at 501b063 (before the loop was unified) from a
# cross-entropy checkpoint, 10 epochs, patience off, for comparison with today's loop on the same
# checkpoint (results/recipe/<scst trial>.json). Usage, from the repository root:
#   bash results/recipe/scst-ab/run-old-loop.sh CE_CHECKPOINT SEED
# Writes results/recipe/scst-ab/old-loop-seedSEED.jsonl (the old run's metrics.jsonl).
set -euo pipefail
ckpt=$1 seed=$2
work=${SCST_AB_WORK:-runs/scst-ab}
rm -rf "$work/old-code" "$work/init-$seed" "$work/old-seed$seed" "$work/cache"
mkdir -p "$work/old-code"
git archive 501b063 captioning | tar -x -C "$work/old-code"
cp -r "$ckpt" "$work/init-$seed"   # the old DecodeConfig cannot read today's stored decoding: set it to null
.venv/bin/python - "$work/init-$seed/config.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1])); cfg["decoding"] = None
json.dump(cfg, open(sys.argv[1], "w"), indent=2)
PY
# the old code rejects today's feature-cache metadata, so it keeps its own cache; it runs from its
# own folder, since `python -m` puts the working directory first on the path (today's package here)
root=$PWD
(cd "$work/old-code" && CAPTIONING_SHARED_COCO="$root/../shared/data/coco-val2017" \
  CAPTIONING_CACHE="$root/$work/cache" PYTHONPATH="$root/$work/old-code" "$root/.venv/bin/python" -c \
  'import captioning, sys; assert "old-code" in captioning.__file__, captioning.__file__' && \
  CAPTIONING_SHARED_COCO="$root/../shared/data/coco-val2017" CAPTIONING_CACHE="$root/$work/cache" \
  PYTHONPATH="$root/$work/old-code" "$root/.venv/bin/python" -m captioning scst \
  --init "$root/$work/init-$seed" --out "$root/$work/old-seed$seed" --seed "$seed" --epochs 10 --patience 10 --quiet)
cp "$work/old-seed$seed/metrics.jsonl" "results/recipe/scst-ab/old-loop-seed$seed.jsonl"
