"""Glossary load time and matching speed with a large synthetic glossary.

    python benchmarks/bench_glossary.py [--entries 100000] [--sentences 2000]

Writes a TSV of ``--entries`` random 1-3-word terms, then reports the median
of 5 loads (parse + trie), and matching time per sentence for sentences of
10, 100 and 1000 words (showing it grows linearly with the input, not with
the glossary). Machine noted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.bench_spine import machine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--sentences", type=int, default=200)
    args = parser.parse_args()

    from pocketmt.runtime.glossary import load_glossary

    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyzäöü"
    vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(30_000)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.tsv"
        seen = set()
        rows = []
        while len(rows) < args.entries:
            src = " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 3)))
            if src not in seen:
                seen.add(src)
                rows.append(f"{src}\t{src.upper()}")
        path.write_text("\n".join(rows) + "\n")
        loads = []
        for _ in range(5):
            began = time.perf_counter()
            glossary = load_glossary(path, "en", "de")
            loads.append(time.perf_counter() - began)
    print(f"Machine: {machine()}")
    print(f"load {len(glossary)} entries: median {statistics.median(loads) * 1000:.0f} ms over 5 loads")
    for n_words in (10, 100, 1000):
        texts = [" ".join(rng.choice(vocab) for _ in range(n_words)) for _ in range(args.sentences)]
        began = time.perf_counter()
        found = sum(len(glossary.match(t)) for t in texts)
        per = (time.perf_counter() - began) / len(texts)
        print(
            f"match {n_words:>5} words: {per * 1e6:8.1f} us/sentence ({per * 1e6 / n_words:.2f} us/word), "
            f"{found / len(texts):.1f} matches/sentence"
        )


if __name__ == "__main__":
    main()
