#!/usr/bin/env bash
# The speed targets against CTranslate2 (issue 19), in one run: pocketmt bench on the first 500 lines of
# Multi30k test_2016_flickr en-de, one core (taskset -c 0, one thread) unless said otherwise.
#
#   benchmarks/bench_targets.sh            # results in benchmarks/results/targets/*.json
#
# Bundles: models/student-en-de exported with --weights int8 (ONNX, a vocabulary shortlist built from
# Multi30k train; made here when missing), and the built-in ternary sdk/models/en-de. CTranslate2 runs
# int8 converted from models/student-en-de (the checkpoint the ternary built-in was trained from).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/multi30k}
OUT=${OUT:-benchmarks/results/targets}
LIMIT=${LIMIT:-500}
INT8=${INT8:-runs/bench/student-int8-shortlist-v3}
SRC=$DATA/test_2016_flickr.en.gz
REF=$DATA/test_2016_flickr.de.gz
mkdir -p "$OUT"

if [ ! -f "$INT8/manifest.json" ]; then
  pocketmt export models/student-en-de -o "$INT8" --format onnx --weights int8 --overwrite \
    --shortlist-src "$DATA/train.en.gz" --shortlist-tgt "$DATA/train.de.gz"
fi

bench() {  # cores (0 or 0,1), name, then pocketmt bench arguments
  local cores=$1 name=$2
  shift 2
  echo "== $name"
  taskset -c "$cores" pocketmt bench --src "$SRC" --ref "$REF" --limit "$LIMIT" --output "$OUT/$name.json" "$@" |
    sed -n '2,14p'
}
ct2=(--against ctranslate2 --checkpoint models/student-en-de)
# ONLY=int8: just the rows of the int8 student (what an export change moves)
only=${ONLY:-all}

for beam in 1 4; do
  bench 0 "int8-beam$beam-shortlist" --bundle "$INT8" --beam $beam --threads 1 "${ct2[@]}"
  bench 0 "int8-beam$beam-full" --bundle "$INT8" --beam $beam --threads 1 "${ct2[@]}" --no-shortlist
  [ "$only" = int8 ] || bench 0 "builtin-ternary-beam$beam" --bundle sdk/models/en-de --backend onnx \
    --beam $beam --threads 1 "${ct2[@]}"
done
bench 0 int8-beam4-batch16-shortlist --bundle "$INT8" --beam 4 --batch 16 --threads 1 "${ct2[@]}"
bench 0 int8-beam4-batch16-full --bundle "$INT8" --beam 4 --batch 16 --threads 1 "${ct2[@]}" \
  --no-shortlist
[ "$only" = int8 ] && exit 0
# both cores: bench runs one engine after the other (their pools would fight over the cores)
bench 0,1 int8-beam4-2cores-shortlist --bundle "$INT8" --beam 4 --threads 2 "${ct2[@]}"
bench 0,1 int8-beam4-batch16-2cores-shortlist --bundle "$INT8" --beam 4 --batch 16 --threads 2 "${ct2[@]}"
# ExecuTorch against ONNX Runtime on the same bundle (ExecuTorch's pool keeps the library's own size)
bench 0 builtin-ternary-executorch-beam4 --bundle sdk/models/en-de --backend executorch --beam 4 \
  --threads 1 --limit 200
bench 0 builtin-ternary-onnx-beam4 --bundle sdk/models/en-de --backend onnx --beam 4 \
  --threads 1 --limit 200
