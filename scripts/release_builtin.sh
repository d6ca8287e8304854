#!/usr/bin/env bash
# Export a built-in bundle (ExecuTorch + ONNX) into a staging folder and report the numbers that
# decide whether it may replace sdk/models/PAIR: .pte bytes, download bytes (zip, zstd), peak memory
# of the Python runtime on the .pte, BLEU of both backends on test_2016_flickr, greedy agreement.
# It never writes to sdk/models/: a person moves the bundle in after reading the report.
#
#   scripts/release_builtin.sh PAIR CHECKPOINT            e.g. en-de runs/student-en-de-ternary
#   STAGE=runs/release-en-de DATA=../shared/data/multi30k scripts/release_builtin.sh en-de CKPT
#   EXPORT_ARGS="--lowbit-compute fp32" scripts/release_builtin.sh en-de CKPT   (extra export flags)
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 PAIR CHECKPOINT   (PAIR: en-de or de-en)" >&2
    exit 2
fi
PAIR=$1
CKPT=$2
SRC=${PAIR%-*}
TGT=${PAIR#*-}
DATA=${DATA:-../shared/data/multi30k}
STAGE=${STAGE:-runs/release-$PAIR}
BUNDLE=$STAGE/$PAIR
PY=${PYTHON:-python}

for f in "$DATA/val.$SRC.gz" "$DATA/test_2016_flickr.$SRC.gz" "$DATA/test_2016_flickr.$TGT.gz"; do
    [[ -f $f ]] || { echo "missing $f (set DATA)" >&2; exit 2; }
done
[[ -f $CKPT/quantization.json ]] || echo "note: $CKPT has no quantization.json: an fp32 export" >&2
mkdir -p "$STAGE"

# the parity gate's sentences: the first 200 validation lines (export reads at most 200)
# (zcat dies of SIGPIPE when head has its lines; pipefail would count that as a failure)
(zcat "$DATA/val.$SRC.gz" || true) | head -n 200 > "$STAGE/parity.$SRC"
(zcat "$DATA/test_2016_flickr.$SRC.gz" || true) | head -n 100 > "$STAGE/rss.$SRC"
[[ $(wc -l < "$STAGE/parity.$SRC") -eq 200 ]] || { echo "$DATA/val.$SRC.gz: fewer than 200 lines" >&2; exit 2; }

echo "== export $CKPT -> $BUNDLE"
/usr/bin/time -f "export: %e s wall, %M KB peak" \
    pocketmt export "$CKPT" -o "$BUNDLE" --format pte,onnx --parity-src "$STAGE/parity.$SRC" --overwrite --quiet ${EXPORT_ARGS:-}

# what a phone downloads for the ExecuTorch engine: every file but the ONNX graphs
PHONE_FILES=$(cd "$BUNDLE" && ls | grep -v -e '\.onnx$' -e '^onnx_weights\.bin$')
rm -f "$STAGE/phone.zip" "$STAGE/phone.tar" "$STAGE/phone.tar.zst"
(cd "$BUNDLE" && zip -q -9 "../phone.zip" $PHONE_FILES && tar -cf "../phone.tar" $PHONE_FILES)
if command -v zstd > /dev/null; then
    zstd -q -19 -f "$STAGE/phone.tar" -o "$STAGE/phone.tar.zst"
    ZSTD=$(stat -c %s "$STAGE/phone.tar.zst")
elif $PY -c "import zstandard" 2> /dev/null; then
    $PY -m zstandard -o "$STAGE/phone.tar.zst" "$STAGE/phone.tar" > /dev/null
    ZSTD=$(stat -c %s "$STAGE/phone.tar.zst")
else
    ZSTD="n/a (neither the zstd command nor python -m zstandard is installed)"
fi

echo "== peak memory: the Python runtime loads the .pte and translates 100 sentences (the default beam, 4)"
/usr/bin/time -f "%M" -o "$STAGE/rss.kb" \
    pocketmt translate --bundle "$BUNDLE" --backend executorch < "$STAGE/rss.$SRC" > "$STAGE/rss.out"
# the same in stages, in one process: what the runtime's imports take (libtorch, which the pip
# wheel's bindings link), what loading the program adds, and what translating adds
$PY - "$BUNDLE" "$STAGE/rss.$SRC" > "$STAGE/rss.stages.json" << 'PYEOF'
import json
import sys


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    return round(kb / 1024, 1)


stages = {"python": rss_mb()}
from pocketmt.runtime.backends import executorch_backend  # noqa: E402
from pocketmt.runtime.translator import Translator  # noqa: E402

executorch_backend._native()
stages["runtime_imported"] = rss_mb()
tr = Translator(sys.argv[1], "executorch")
tr.translate(["warm up."])
stages["program_loaded"] = rss_mb()
tr.translate([line.rstrip("\n") for line in open(sys.argv[2], encoding="utf-8")])
stages["after_100_sentences"] = rss_mb()
print(json.dumps(stages))
PYEOF

echo "== BLEU on test_2016_flickr (beam 4), both backends"
for backend in executorch onnx; do
    pocketmt eval --bundle "$BUNDLE" --backend "$backend" --beam 4 --json \
        --src "$DATA/test_2016_flickr.$SRC.gz" --ref "$DATA/test_2016_flickr.$TGT.gz" > "$STAGE/eval.$backend.json"
done

$PY - "$BUNDLE" "$STAGE" "$ZSTD" << 'EOF'
import json
import sys
from pathlib import Path

bundle, stage, zstd = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
manifest = json.loads((bundle / "manifest.json").read_text())
pte = manifest["graphs"]["executorch"]
checks = manifest["export_check"]["backends"]
bleu = {b: json.loads((stage / f"eval.{b}.json").read_text()) for b in ("executorch", "onnx")}
report = {
    "bundle": str(bundle),
    "pte_bytes": (bundle / pte["file"]).stat().st_size,
    "phone_download_bytes": {
        "files": sum((bundle / f).stat().st_size for f in manifest["files"] if not f.endswith((".onnx", ".bin")))
        + (bundle / "manifest.json").stat().st_size,
        "zip": (stage / "phone.zip").stat().st_size,
        "tar.zst": int(zstd) if zstd.isdigit() else zstd,
    },
    "peak_rss_mb_translate_100": round(int((stage / "rss.kb").read_text().split()[-1]) / 1024, 1),
    "rss_mb_stages": json.loads((stage / "rss.stages.json").read_text()),
    "bleu": {b: bleu[b].get("bleu") for b in bleu},
    "bleu_gap": round(abs(bleu["executorch"]["bleu"] - bleu["onnx"]["bleu"]), 2),
    "greedy_agreement_with_eager": {b: c.get("greedy_agreement") for b, c in checks.items()},
    "parity_sentences": {b: c.get("parity_sentences") for b, c in checks.items()},
    "lowbit": pte.get("lowbit"),
    "weight_bytes": pte.get("weight_bytes"),
    "linear_bits_per_weight": pte.get("linear_bits_per_weight"),
}
(stage / "report.json").write_text(json.dumps(report, indent=1) + "\n")
print(json.dumps(report, indent=1))
EOF
