"""``pocketmt report``: compare bundles on one test set (what each compression step costs).

For each bundle, in its own child process (so that peak memory is that bundle's alone): BLEU and
chrF (sacreBLEU, beam as given), latency per sentence (median and 90th percentile over the whole
test set, one sentence at a time, as an app translates), the peak resident memory the bundle adds
to the process (peak RSS minus RSS before loading), the bytes a phone downloads for the backend
(graph files, tokenizer, manifest) and the bits stored per linear weight. Writes ``report.json``,
``report.md`` and ``report.png`` (size against BLEU, colour for latency) into the output folder.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pocketmt.runtime.errors import InputError

# bits per linear weight of unquantized bundles, by the manifest's tensor format
_FORMAT_BITS = {"fp32": 32.0, "fp16": 16.0, "int8": 8.0}


@dataclass
class ReportRow:
    bundle: str
    backend: str
    scheme: str
    bleu: float
    chrf: float
    download_bytes: int
    linear_bits: float
    median_ms: float
    p90_ms: float
    peak_mb: float
    sentences: int


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def linear_bits(raw: dict[str, Any], backend: str) -> float:
    bits = raw.get("quantization", {}).get("linear_bits_per_weight", {})
    if backend in bits:
        return float(bits[backend])
    return _FORMAT_BITS.get(raw["tensor_formats"].get("linear", "fp32"), 32.0)


def _scheme(raw: dict[str, Any]) -> str:
    quant = raw.get("quantization")
    if quant:
        return str(quant["policy"]["name"])
    return str(raw["tensor_formats"].get("linear", "fp32"))


def measure(path: str, backend: str | None, src: list[str], ref: list[str], beam: int) -> dict[str, Any]:
    """One bundle, measured in this process (the child of ``run_report``)."""
    import sacrebleu

    from pocketmt.runtime.translator import TranslateOptions, Translator

    before = _rss_mb()
    translator = Translator(path, backend)
    opts = TranslateOptions(beam_size=beam)
    hyps, latencies = [], []
    for sentence in src:
        out = translator.translate([sentence], opts)[0]
        hyps.append(out.text)
        latencies.append(out.timings.total_ms)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # kB on Linux
    manifest = translator.manifest
    raw = manifest.raw
    download = sum(manifest.files[n]["bytes"] for n in manifest.files_for_backend(translator.backend))
    download += (Path(path) / "manifest.json").stat().st_size
    quantiles = statistics.quantiles(latencies, n=10) if len(latencies) > 1 else latencies * 9
    row = ReportRow(
        bundle=str(path),
        backend=translator.backend,
        scheme=_scheme(raw),
        bleu=round(sacrebleu.metrics.BLEU().corpus_score(hyps, [ref]).score, 2),
        chrf=round(sacrebleu.metrics.CHRF().corpus_score(hyps, [ref]).score, 2),
        download_bytes=download,
        linear_bits=round(linear_bits(raw, translator.backend), 3),
        median_ms=round(statistics.median(latencies), 1),
        p90_ms=round(quantiles[8], 1),
        peak_mb=round(peak - before, 1),
        sentences=len(src),
    )
    return asdict(row)


def _child(args: tuple[str, str | None, list[str], list[str], int], queue: Any) -> None:
    try:
        queue.put(("ok", measure(*args)))
    except Exception as exc:  # reported by the parent as one line
        queue.put(("error", f"{args[0]}: {exc}"))


def prepare_folder(out: Path) -> None:
    """The output folder, created now; a file in its place or an unwritable parent is an error."""
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"-o {out}: cannot create the folder ({exc.strerror})") from exc


def _result(queue: Any, proc: Any, path: str) -> tuple[str, Any]:
    """The child's message; a child that dies without one (killed, out of memory, a crash in native
    code) is an error instead of a wait forever."""
    import queue as queues

    while True:
        try:
            result: tuple[str, Any] = queue.get(timeout=1.0)
            return result
        except queues.Empty:
            if not proc.is_alive():
                try:
                    result = queue.get(timeout=1.0)  # it may have written just before it ended
                    return result
                except queues.Empty:
                    return (
                        "error",
                        f"{path}: the measuring process ended without a result (exit code {proc.exitcode})",
                    )


def run_report(
    bundles: list[str], backend: str | None, src: list[str], ref: list[str], beam: int, out: Path
) -> list[dict[str, Any]]:
    from tqdm import tqdm

    if len(src) != len(ref):
        raise InputError(f"--src has {len(src)} lines but --ref has {len(ref)}")
    if not src:
        raise InputError("no sentences to measure (--src and --ref are empty)")
    for path in bundles:
        if not (Path(path) / "manifest.json").is_file():
            raise InputError(f"not a bundle folder: {path}")
    prepare_folder(out)  # before the minutes of measuring, not after
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for path in tqdm(bundles, desc="report", unit="bundle", file=sys.stderr):
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=((path, backend, src, ref, beam), queue))
        proc.start()
        status, value = _result(queue, proc, path)
        proc.join()
        if status != "ok":
            raise InputError(str(value))
        rows.append(value)
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.processor() or platform.system()}"
    (out / "report.json").write_text(
        json.dumps({"beam": beam, "sentences": len(src), "machine": machine, "rows": rows}, indent=2) + "\n"
    )
    (out / "report.md").write_text(markdown(rows, beam, machine))
    plot(rows, out / "report.png")
    return rows


def markdown(rows: list[dict[str, Any]], beam: int, machine: str) -> str:
    lines = [
        f"Beam {beam}; latency per sentence, one sentence at a time; {machine}.",
        "",
        "| bundle | backend | scheme | BLEU | chrF | download | bits/linear weight | median ms | p90 ms | peak MB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {Path(r['bundle']).name} | {r['backend']} | {r['scheme']} | {r['bleu']:.2f} | {r['chrf']:.2f} | "
            f"{r['download_bytes'] / 1e6:.2f} MB | {r['linear_bits']:.2f} | {r['median_ms']} | {r['p90_ms']} | "
            f"{r['peak_mb']} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [r["download_bytes"] / 1e6 for r in rows]
    ys = [r["bleu"] for r in rows]
    points = ax.scatter(xs, ys, c=[r["median_ms"] for r in rows], cmap="viridis", s=80)
    for r, x, y in zip(rows, xs, ys, strict=True):
        ax.annotate(
            f"{Path(r['bundle']).name} ({r['backend']})", (x, y), textcoords="offset points", xytext=(5, 5)
        )
    fig.colorbar(points, ax=ax, label="median latency per sentence (ms)")
    ax.set_xlabel("download size (MB)")
    ax.set_ylabel("BLEU")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
