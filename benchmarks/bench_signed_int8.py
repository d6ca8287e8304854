"""Before and after two changes that keep every token and score (issue 19), in one run, alternating call
by call on the same sentences:

* ``stored``: the graphs as the bundle stores them (``u8 x u8`` integer products), the search over the
  whole vocabulary's columns;
* ``signed``: the integer products on signed weights (``runtime/backends/onnx_signed_int8.py``, where
  this CPU's probe allows it);
* ``signed+columns``: and beam steps on a shortlisted sentence's candidate columns only
  (``beam_search.candidate_columns``).

    python -m benchmarks.bench_signed_int8 --bundle runs/bench/student-int8-shortlist-v5 \\
        --src ../shared/data/multi30k/test_2016_flickr.en.gz [--limit 300] [--output F.json]

One ONNX Runtime thread; run it under ``taskset -c 0``. Prints, per mode (greedy, beam 4, batch 16 at
beam 4), the median milliseconds per call of each variant, the total ratio against ``stored``, and
whether the translations (tokens and scores) are identical.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_spine import machine

VARIANTS = ("stored", "signed", "signed+columns")
MODES = (("greedy", 1, 1), ("beam4", 4, 1), ("beam4-batch16", 4, 16))


def _lines(path: Path, limit: int) -> list[str]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()][:limit]


def _translator(bundle_path: Path, signed: bool) -> Any:
    from pocketmt.runtime.backends.onnx_backend import open_graphs
    from pocketmt.runtime.bundle import Bundle
    from pocketmt.runtime.translator import Translator

    bundle = Bundle.open(bundle_path)
    graphs = open_graphs(bundle, threads=1, signed_int8=signed)
    return Translator(bundle, "onnx", graphs=graphs, check_integrity=False)


def main() -> None:
    import importlib

    from pocketmt.runtime.backends.onnx_signed_int8 import signed_weights_exact
    from pocketmt.runtime.translator import TranslateOptions

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--src", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()
    lines = _lines(args.src, args.limit)
    searches = [importlib.import_module(f"pocketmt.runtime.{m}") for m in ("beam_search", "batch_search")]
    columns = searches[0].candidate_columns
    whole = lambda model: lambda position: None  # noqa: E731
    stored, signed = _translator(args.bundle, False), _translator(args.bundle, True)
    variants = {"stored": (stored, whole), "signed": (signed, whole), "signed+columns": (signed, columns)}
    result: dict[str, Any] = {
        "machine": machine(),
        "bundle": str(args.bundle),
        "sentences": len(lines),
        "signed_product_exact_here": signed_weights_exact(),
        "signed_products": signed.graphs.signed_products,
        "modes": {},
    }
    for mode, beam, batch in MODES:
        opts = TranslateOptions(beam_size=beam)
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        outs: dict[str, list[Any]] = {v: [] for v in VARIANTS}
        for i in range(0, len(lines), batch):
            chunk = lines[i : i + batch]
            for name, (translator, pick) in variants.items():
                for module in searches:
                    module.candidate_columns = pick
                began = time.perf_counter()
                got = translator.translate(chunk, opts, batch_size=batch)
                times[name].append(time.perf_counter() - began)
                outs[name] += [(t.token_ids, t.score) for t in got]
        for module in searches:
            module.candidate_columns = columns
        base = sum(times["stored"])
        row = {
            "median_ms": {v: round(statistics.median(times[v]) * 1000, 2) for v in VARIANTS},
            "total_over_stored": {v: round(sum(times[v]) / base, 3) for v in VARIANTS},
            "identical_to_stored": {v: outs[v] == outs["stored"] for v in VARIANTS},
        }
        result["modes"][mode] = row
        print(mode, json.dumps(row))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
