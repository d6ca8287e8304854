#!/usr/bin/env bash
# The compression issue's runs for one direction, step by step; each step is skipped when its output
# exists, so a killed run resumes by running the script again.
#   scripts/compression_runs.sh en de models/student-en-de models/teacher-en-de [WORK]
set -euo pipefail
SRC=$1 TGT=$2 STUDENT=$3 TEACHER=$4 WORK=${5:-/work/runs/compress-$1-$2}
D=${DATA:-../shared/data/multi30k}
mkdir -p "$WORK"
PARITY="$WORK/parity.$SRC"
[ -f "$PARITY" ] || zcat "$D/val.$SRC.gz" | head -200 > "$PARITY"
TRAIN=(--src "$D/train.$SRC.gz" --tgt "$D/train.$TGT.gz" --valid-src "$D/val.$SRC.gz" --valid-tgt "$D/val.$TGT.gz")

bundle() {  # bundle NAME CHECKPOINT [export flags]
  local name=$1 ckpt=$2; shift 2
  [ -f "$WORK/bundles/$name/manifest.json" ] || pocketmt export "$ckpt" -o "$WORK/bundles/$name" --format onnx --overwrite --quiet "$@"
}
bundle teacher-fp32 "$TEACHER"
bundle student-fp32 "$STUDENT"
for scheme in int8 int4; do
  [ -f "$WORK/student-$scheme/quantization.json" ] || pocketmt quantize "$STUDENT" -o "$WORK/student-$scheme" --scheme "$scheme"
  bundle "student-$scheme" "$WORK/student-$scheme" --parity-src "$PARITY"
done
[ -n "${SKIP_TERNARY:-}" ] && exit 0
[ -f "$WORK/student-ternary/quantization.json" ] || pocketmt quantize "$STUDENT" -o "$WORK/student-ternary" --scheme ternary "${TRAIN[@]}" --epochs "${QAT_EPOCHS:-6}" --lr 5e-4
bundle student-ternary "$WORK/student-ternary" --parity-src "$PARITY"
