#!/bin/sh
# Rebuilds the default AI models from nothing but this repository (no download):
#   1. schema: models/manifest.schema.json from contracts/model-manifest.ts
#   2. per model: export the synthetic training set (scripts/demo/synth, seeds in model-configs.ts)
#      to a temporary directory, train the 3-D U-Net with Debian's python3-torch (fixed seeds,
#      fixed iteration count, one thread), export model.onnx, write and validate manifest.json.
#   3. (optional, BENCH=1) run the evaluation benchmark and record its figures in the manifests.
# Deterministic up to floating-point summation order of the CPU kernels.
# Takes ~15–30 minutes on two shared cores. Usage: sh models/build/build-all.sh
set -eu
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
"$PY" -c 'import torch, onnx' || { echo "python3-torch and python3-onnx are required (apt-get install python3-torch python3-onnx)"; exit 1; }
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/radlink-models-XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT INT TERM

npx tsx models/build/write-schema.ts

build() { # id crop-D crop-H crop-W iterations seed pad-value gain offset noise [extra train_unet.py options]
  id=$1
  out=models/$id/1.0.0
  mkdir -p "$out"
  npx tsx models/build/export-dataset.ts "$id" "$SCRATCH/$id"
  nice -n 10 "$PY" models/build/train_unet.py "$SCRATCH/$id" "$out/model.onnx" \
    --crop "$2" "$3" "$4" --iters "$5" --seed "$6" --pad-value "$7" --gain "$8" --offset "$9" --noise "${10}" --threads 1 ${11:-}
  npx tsx models/build/write-manifest.ts "$id" "$SCRATCH/$id/seeds.json"
}
# The exact settings of the committed 1.0.0 files (see each manifest's provenance.buildCommand).
build liver-lesion-ct 16 48 48 900 20250404 -1 0.2 0.2 0.08 '--bright-threshold 0.4'
build liver-lesion-mr 8 64 64 550 20250403 0 0.3 0.1 0.06

if [ "${BENCH:-0}" = 1 ]; then
  npx tsx bench/ai-eval.ts
  npx tsx models/build/write-manifest.ts liver-lesion-ct
  npx tsx models/build/write-manifest.ts liver-lesion-mr
fi
