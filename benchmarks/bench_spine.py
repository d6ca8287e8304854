"""Export time, bundle sizes and per-sentence latency of an opus-mt-en-de-shaped random model.

    python benchmarks/bench_spine.py [--work DIR] [--inputs 50] [--max-new-tokens 32]

Random weights never emit EOS early, so every sentence decodes exactly
``--max-new-tokens`` tokens (about the length of a Multi30k target);
latency is the median over ``--inputs`` sentences, per backend, greedy and
beam 4. Results go to benchmarks/results/spine.json and are printed as a
markdown table, with the machine noted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path

for _name in ("torchao", "torch.utils._pytree", "torch.onnx"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default="out/bench-spine")
    parser.add_argument("--inputs", type=int, default=50)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--results", default="benchmarks/results/spine.json")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the bundle and export numbers of the last run; measure latency only",
    )
    args = parser.parse_args()

    from pocketmt.export.pipeline import ExportOptions, export_bundle
    from pocketmt.export.random_model import OPUS_MT_EN_DE, make_random_marian, synthetic_sentences
    from pocketmt.runtime import TranslateOptions, Translator

    work = Path(args.work)
    model_dir = work / "opus-mt-en-de-random"
    if not (model_dir / "config.json").exists():
        make_random_marian(model_dir, OPUS_MT_EN_DE)
    bundle = work / "bundle"
    out = Path(args.results)
    if args.reuse:
        previous = json.loads(out.read_text())
        export_seconds, stages, files = (
            previous[k] for k in ("export_seconds_wall", "export_stage_seconds", "files_bytes")
        )
    else:
        began = time.perf_counter()
        report = export_bundle(model_dir, bundle, ExportOptions(overwrite=True), progress=print)
        export_seconds, stages, files = time.perf_counter() - began, report.seconds, report.files

    texts = synthetic_sentences(args.inputs, seed=2024)
    latency: dict[str, dict[str, float]] = {}
    for backend in ("executorch", "onnx"):
        tr = Translator(bundle, backend)
        for beam in (1, 4):
            opts = TranslateOptions(beam_size=beam, max_new_tokens=args.max_new_tokens)
            tr.translate_one(texts[0], opts)  # warm-up
            times = [tr.translate_one(t, opts).timings.total_ms for t in texts]
            latency[f"{backend} beam {beam}"] = {
                "median_ms": statistics.median(times),
                "p90_ms": sorted(times)[int(0.9 * (len(times) - 1))],
                "ms_per_token": statistics.median(times) / args.max_new_tokens,
            }
            print(backend, beam, latency[f"{backend} beam {beam}"])
    result = {
        "machine": machine(),
        "model": "random weights, opus-mt-en-de shapes (d_model 512, 6+6 layers, 8 heads, FFN 2048, vocab 58101)",
        "export_seconds_wall": export_seconds,
        "export_stage_seconds": stages,
        "files_bytes": files,
        "inputs": args.inputs,
        "max_new_tokens": args.max_new_tokens,
        "latency_per_sentence": latency,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nMachine: {result['machine']}")
    print(f"Export wall time (both formats, incl. self-check): {export_seconds:.1f} s")
    print("\n| file | bytes |\n|---|---:|")
    for name, size in files.items():
        print(f"| {name} | {size:,} |")
    print(
        f"\n| backend | median ms/sentence ({args.max_new_tokens} tokens) | p90 ms | ms/token |\n|---|---:|---:|---:|"
    )
    for key, row in latency.items():
        print(f"| {key} | {row['median_ms']:.1f} | {row['p90_ms']:.1f} | {row['ms_per_token']:.2f} |")


if __name__ == "__main__":
    main()
