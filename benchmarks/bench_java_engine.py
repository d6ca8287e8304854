"""Time per sentence of the Java engine: on the pipe to the Python step server, and its search alone.

    python benchmarks/bench_java_engine.py [--pairs en-de,de-en] [--sentences 100] [--repeat 3]

For each built-in bundle and beam (1 and 4), ``pocketmt-java bench`` translates the first
``--sentences`` lines of Multi30k's test_2016_flickr (../shared/data/multi30k; synthetic captions when
absent) once to record every step's log-probs and warm up the JIT, then ``--repeat`` timed passes on the
pipe (tokenizer + search + the ONNX model in the step server + the pipe), then ``--repeat`` passes of
the same searches over the recorded log-probs (``ReplayStep``: tokenizer, segmentation and search, no
model), each checked to give the recorded tokens. Medians per sentence over the passes, then over the
sentences; the machine is noted. Results: benchmarks/results/java_engine.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

from benchmarks.bench_spine import machine

REPO = Path(__file__).resolve().parents[1]
ENGINE = REPO / "android-demo" / "engine"
JSON_JAR = Path(os.environ.get("POCKETMT_JSON_JAR", "/usr/share/java/com.android.json.jar"))
DATA = REPO.parent / "shared" / "data" / "multi30k"
FALLBACK = {
    "en": ["A man in a blue shirt is standing on a ladder.", "Two dogs are playing in the snow."],
    "de": ["Ein Mann in einem blauen Hemd steht auf einer Leiter.", "Zwei Hunde spielen im Schnee."],
}


def sentences(lang: str, n: int) -> tuple[list[str], str]:
    path = DATA / f"test_2016_flickr.{lang}.gz"
    if path.is_file():
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines = [line.rstrip("\n") for _, line in zip(range(n), fh, strict=False)]
        return lines, f"first {len(lines)} lines of {path.name}"
    return (FALLBACK[lang] * n)[:n], "synthetic captions"


def bench(pair: str, beam: int, texts: list[str], repeat: int, python: str) -> dict[str, object]:
    cmd = ["java", "-Xmx2g", "-cp", f"{ENGINE / 'build' / 'pocketmt-engine.jar'}{os.pathsep}{JSON_JAR}",
           "org.pocketmt.engine.cli.Main", "bench", "--bundle", str(REPO / "sdk" / "models" / pair),
           "--backend", "onnx", "--beam", str(beam), "--repeat", str(repeat)]  # fmt: skip
    began = time.perf_counter()
    proc = subprocess.run(
        cmd,
        input="".join(t + "\n" for t in texts).encode("utf-8"),
        capture_output=True,
        check=False,
        env=dict(os.environ, POCKETMT_PYTHON=python),
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench_java_engine: {pair} beam {beam}: {proc.stderr.decode()[-500:]}")
    out = json.loads(proc.stdout)
    pipe, search = out["pipe_ms"], out["search_ms"]
    steps = out["steps"]
    return {
        "pair": pair,
        "beam": beam,
        "sentences": len(texts),
        "decoder_steps": steps,
        "pipe_ms_per_sentence": round(statistics.median(pipe), 3),
        "search_ms_per_sentence": round(statistics.median(search), 3),
        "search_us_per_step": round(1000 * sum(search) / max(1, steps), 2),
        "search_share_of_pipe": round(sum(search) / sum(pipe), 4),
        "wall_s": round(time.perf_counter() - began, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", default="en-de,de-en")
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "java_engine.json"))
    args = parser.parse_args()
    subprocess.run([str(ENGINE / "build.sh")], check=True)
    python = os.environ.get("POCKETMT_PYTHON") or str(REPO / ".venv" / "bin" / "python")
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    rows, sources = [], {}
    for pair in args.pairs.split(","):
        texts, sources[pair] = sentences(pair.split("-")[0], args.sentences)
        for beam in (1, 4):
            row = bench(pair, beam, texts, args.repeat, python)
            rows.append(row)
            print(
                f"{pair} beam {beam}: {row['pipe_ms_per_sentence']:.1f} ms per sentence on the pipe, "
                f"{row['search_ms_per_sentence']:.2f} ms of it the engine's own work "
                f"({row['search_us_per_step']:.0f} us per decoder step)"
            )
    result = {
        "machine": machine(),
        "java": java,
        "load_average": os.getloadavg(),
        "note": "medians per sentence: pipe = tokenizer + search + ONNX model in the Python step server + pipe; "
        "search = the same searches over recorded log-probs (ReplayStep), no model",
        "inputs": sources,
        "repeat": args.repeat,
        "results": rows,
    }
    Path(args.results).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"written: {args.results}")


if __name__ == "__main__":
    main()
