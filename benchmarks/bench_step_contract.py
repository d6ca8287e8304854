"""Step contract 1 against step contract 2 (docs/bundle.md) on the same checkpoint, in one run.

    python benchmarks/bench_step_contract.py OLD_BUNDLE NEW_BUNDLE --src FILE [--limit 200]
        [--beams 1,4] [--threads 1] [--output benchmarks/results/step_contract.json]

Both bundles' ONNX graphs are opened with the same intra-op threads and timed alternately, sentence by
sentence, so that load from other processes falls on both alike. Per beam: the median and p90 of the
per-sentence latency, the ratio new / old, and how many outputs differ (they should not: the two
contracts compute the same model). The machine is noted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from pathlib import Path

from benchmarks.bench_spine import machine


def _lines(path: str, limit: int) -> list[str]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        return [line.rstrip("\n") for _, line in zip(range(limit), fh, strict=False)]


def _translator(path: str, threads: int):  # type: ignore[no-untyped-def]
    from pocketmt.bench import open_translator
    from pocketmt.runtime.bundle import Bundle

    translator, _ = open_translator(Bundle.open(path), "onnx", threads)
    return translator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--src", required=True)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--beams", default="1,4")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="")
    args = parser.parse_args()

    from pocketmt.runtime.translator import TranslateOptions

    texts = _lines(args.src, args.limit)
    engines = {"old": _translator(args.old, args.threads), "new": _translator(args.new, args.threads)}
    contracts = {
        name: t.manifest.graphs["onnx"].step_contract  # type: ignore[attr-defined]
        for name, t in engines.items()
    }
    result: dict[str, object] = {
        "machine": machine(),
        "old": {"bundle": args.old, "step_contract": contracts["old"]},
        "new": {"bundle": args.new, "step_contract": contracts["new"]},
        "sentences": len(texts),
        "threads": args.threads,
        "command": "python benchmarks/bench_step_contract.py "
        f"{args.old} {args.new} --src {args.src} --limit {args.limit} --beams {args.beams} "
        f"--threads {args.threads}",
        "beams": {},
    }
    for beam in [int(b) for b in args.beams.split(",")]:
        options = TranslateOptions(beam_size=beam)
        for t in engines.values():
            t.translate(texts[:2], options)  # warm up
        times: dict[str, list[float]] = {"old": [], "new": []}
        differ = 0
        for text in texts:
            outs = {}
            for name, t in engines.items():
                began = time.perf_counter()
                outs[name] = t.translate([text], options)[0].token_ids
                times[name].append((time.perf_counter() - began) * 1000)
            differ += outs["old"] != outs["new"]
        row = {}
        for name, ms in times.items():
            ms.sort()
            row[name] = {
                "median_ms": round(statistics.median(ms), 2),
                "p90_ms": round(ms[int(0.9 * len(ms))], 2),
            }
        row["new_over_old"] = round(row["new"]["median_ms"] / row["old"]["median_ms"], 3)
        row["outputs_differ"] = differ
        result["beams"][str(beam)] = row  # type: ignore[index]
        print(
            f"beam {beam}: old {row['old']['median_ms']} ms, new {row['new']['median_ms']} ms "
            f"(x{row['new_over_old']}), {differ} of {len(texts)} outputs differ",
            flush=True,
        )
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
