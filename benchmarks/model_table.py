"""Quality table for the models issue: BLEU, chrF, parameters, bundle size and latency per model.

    python benchmarks/model_table.py --src ../shared/data/multi30k/test_2016_flickr.en.gz \
        --ref ../shared/data/multi30k/test_2016_flickr.de.gz \
        --model teacher=models/teacher-en-de --model student=models/student-en-de ... [--beam 4] [--backend onnx]

Each ``--model NAME=FOLDER`` is a bundle folder, or a Hugging Face checkpoint folder that is exported
to a bundle first (cached in ``--work``, with ``--weights``); either way the numbers are measured on the
bundle, so they are what a phone would get. Latency is the
median per sentence over the test set. Prints a markdown table and writes JSON next to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
from pathlib import Path

for _name in ("torchao", "torch.utils._pytree", "torch.onnx"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", required=True)
    parser.add_argument("--ref", required=True)
    parser.add_argument("--model", action="append", required=True, help="NAME=CHECKPOINT_FOLDER")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--backend", default="onnx", choices=["onnx", "executorch"])
    parser.add_argument("--weights", default="fp32", choices=["fp32", "fp16", "int8"])
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="keep BLEU/chrF from an existing --out and measure latency again (on a quiet machine)",
    )
    parser.add_argument("--work", default="out/model-table")
    parser.add_argument("--out", default="benchmarks/results/model_table.json")
    args = parser.parse_args()

    from pocketmt.evaluate import evaluate
    from pocketmt.export.pipeline import ExportOptions, export_bundle
    from pocketmt.io.corpus import read_lines
    from pocketmt.runtime import TranslateOptions, Translator

    sources, refs = read_lines(args.src), read_lines(args.ref)
    rows = []
    for spec in args.model:
        name, folder = spec.split("=", 1)
        bundle = Path(folder) if (Path(folder) / "manifest.json").is_file() else Path(args.work) / name
        if not (bundle / "manifest.json").is_file():
            fmt = ("pte",) if args.backend == "executorch" else ("onnx",)
            options = ExportOptions(
                formats=fmt, overwrite=True, beam_size=max(4, args.beam), weights=args.weights
            )
            export_bundle(folder, bundle, options)
        translator = Translator(bundle, args.backend)
        if args.latency_only:
            previous = {r["model"]: r for r in json.loads(Path(args.out).read_text())["rows"]}[name]
            result = argparse.Namespace(bleu=previous["bleu"], chrf=previous["chrf"])
        else:
            result = evaluate(translator, sources, refs, TranslateOptions(beam_size=args.beam))
        latencies = [
            t.timings.total_ms
            # one at a time: a batch shares its graph time among its sentences
            for t in translator.translate(sources[:200], TranslateOptions(beam_size=args.beam), batch_size=1)
        ]
        manifest = translator.manifest
        # what a phone downloads for this backend: its graph files, the tokenizer and the manifest
        files = manifest.files
        download = sum(files[n]["bytes"] for n in manifest.files_for_backend(args.backend))
        download += (bundle / "manifest.json").stat().st_size
        rows.append(
            {
                "model": name,
                "weights": manifest.raw["tensor_formats"]["linear"],
                "bleu": round(result.bleu, 2),
                "chrf": round(result.chrf, 2),
                "parameters": manifest.model["parameters"],
                "bundle_bytes": download,
                "median_ms": round(statistics.median(latencies), 1),
            }
        )
        print(rows[-1], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.processor() or platform.system()}"
    report = {"beam": args.beam, "backend": args.backend, "machine": machine, "rows": rows}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n| model | weights | BLEU | chrF | parameters | bundle ({args.backend}) | median ms/sentence |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['weights']} | {r['bleu']} | {r['chrf']} | {r['parameters'] / 1e6:.1f}M | "
            f"{r['bundle_bytes'] / 1e6:.1f} MB | {r['median_ms']} |"
        )


if __name__ == "__main__":
    main()
