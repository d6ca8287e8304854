#!/usr/bin/env bash
# The speed targets against CTranslate2 (issue 19), in one run: pocketmt bench on the first 500 lines of
# Multi30k test_2016_flickr en-de, one core (taskset -c 0, one thread) unless said otherwise.
#
#   benchmarks/bench_targets.sh            # results in benchmarks/results/targets/*.json
#   ONLY=int8 benchmarks/bench_targets.sh  # only the int8 student against CTranslate2
#   ONLY=et benchmarks/bench_targets.sh    # only ExecuTorch against ONNX Runtime
#
# Bundles: models/student-en-de exported with --weights int8 (ONNX, a vocabulary shortlist built from
# Multi30k train; made here when missing), and the built-in ternary sdk/models/en-de. CTranslate2 runs
# int8 converted from models/student-en-de (the checkpoint the ternary built-in was trained from).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/multi30k}
OUT=${OUT:-benchmarks/results/targets}
LIMIT=${LIMIT:-500}
INT8=${INT8:-runs/bench/student-int8-shortlist-v5}
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

# ONLY=et: just the ExecuTorch-against-ONNX rows (what a change of the .pte or its runtime moves)
if [ "$only" != et ]; then
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
fi
if [ "$only" = all ]; then
  # both cores: bench runs one engine after the other (their pools would fight over the cores)
  bench 0,1 int8-beam4-2cores-shortlist --bundle "$INT8" --beam 4 --threads 2 "${ct2[@]}"
  bench 0,1 int8-beam4-batch16-2cores-shortlist --bundle "$INT8" --beam 4 --batch 16 --threads 2 "${ct2[@]}"
fi
# ExecuTorch against ONNX Runtime on the same bundle, one thread each (bench resizes ExecuTorch's pool):
# the built-in, and the int8 student exported to both (made here when missing)
INT8_PTE=${INT8_PTE:-runs/bench/student-int8-pte-v2}
if [ ! -f "$INT8_PTE/manifest.json" ]; then
  pocketmt export models/student-en-de -o "$INT8_PTE" --format pte,onnx --weights int8 --overwrite
fi
for backend in executorch onnx; do
  bench 0 "builtin-ternary-$backend-beam4" --bundle sdk/models/en-de --backend $backend --beam 4 \
    --threads 1 --limit 200
  bench 0 "int8-$backend-beam4" --bundle "$INT8_PTE" --backend $backend --beam 4 --threads 1 --limit 200
done
