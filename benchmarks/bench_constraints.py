"""Decoding time against the number of constraints per sentence (beam 4): the DBA cost curve.

    python benchmarks/bench_constraints.py --bundle BUNDLE [--backend onnx] [--sentences 20] [--max-new-tokens 32]

Each sentence gets N required terms (N = 0, 1, 2, 4, 8), random whole words
of the target vocabulary. Prints the median time per sentence for each N and
its ratio to N = 0, the median time per decoding step (terms make a trained
model's output longer, so per sentence also counts the extra tokens), plus how
many sentences met all their terms. With a random-
weight bundle every sentence decodes exactly --max-new-tokens tokens, so the
curve isolates the search's own cost.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics

from benchmarks.bench_spine import machine

for _name in ("torchao", "torch.utils._pytree"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--backend", default="onnx", choices=["onnx", "executorch"])
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--beam", type=int, default=4)
    args = parser.parse_args()

    from pocketmt.export.random_model import synthetic_sentences
    from pocketmt.runtime import Term, TranslateOptions, Translator

    tr = Translator(args.bundle, args.backend)
    rng = random.Random(0)
    words = sorted(
        p[1:] for p in tr.tokenizer.piece_to_id if p.startswith("\u2581") and p[1:].isalpha() and len(p) >= 5
    )
    texts = synthetic_sentences(args.sentences, seed=11)
    opts = TranslateOptions(beam_size=args.beam, max_new_tokens=args.max_new_tokens)
    tr.translate_one(texts[0], opts)  # warm-up
    print(f"Machine: {machine()}; backend {args.backend}, beam {args.beam}, {args.max_new_tokens} new tokens")
    base = base_step = None
    for n in (0, 1, 2, 4, 8):
        times, steps, met = [], [], 0
        for text in texts:
            terms = [Term(f"t{i}", (rng.choice(words),)) for i in range(n)]
            out = tr.translate_one(text, opts, terms=terms)
            times.append(out.timings.total_ms)
            steps.append(out.timings.total_ms / max(1, out.timings.steps))
            met += not out.constraints_dropped and all(t.produced for t in out.terms)
        median, per_step = statistics.median(times), statistics.median(steps)
        base = base or median
        base_step = base_step or per_step
        print(
            f"constraints {n}: median {median:7.1f} ms/sentence  x{median / base:.2f}  "
            f"{per_step:5.2f} ms/step  x{per_step / base_step:.2f}  all met {met}/{len(texts)}"
        )


if __name__ == "__main__":
    main()
