"""Batched decoding (docs/decoding.md, section 11): several sentences per graph call, the same results as
one sentence at a time, on the tiny bundle's ONNX graphs (step contract 2)."""

from __future__ import annotations

import io
import json
import math
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from pocketmt.cli import main
from pocketmt.export.random_model import synthetic_sentences
from pocketmt.runtime import Glossary, Term, TranslateOptions, Translator
from pocketmt.runtime import translator as translator_module
from pocketmt.runtime.batch_search import batch_search
from pocketmt.runtime.beam_search import Hypothesis, beam_search
from pocketmt.runtime.glossary import words
from pocketmt.runtime.step import F32, GrowingStepModel

# a few dozen sentences of 3..14 words, and three long enough to be split into pieces
TEXTS = synthetic_sentences(40, seed=123) + [" ".join(synthetic_sentences(3, seed=s)) for s in (5, 6, 7)]
GLOSSARY = [Term("dog", ("house",)), Term("snow", ("river", "mountain"))]


@cache
def onnx_translator(bundle: str) -> Translator:
    return Translator(bundle, "onnx")


@cache
def one_at_a_time(bundle: str, beam: int) -> tuple[Any, ...]:
    tr = onnx_translator(bundle)
    return tuple(tr.translate_one(t, TranslateOptions(beam_size=beam)) for t in TEXTS)


def close(a: float, b: float) -> bool:
    """Equal scores up to float32 rounding of the log-probabilities (1e-5 relative, the resolution the
    parity tests grant logits): one row alone and many rows together run different matrix kernels, so
    greedy scores may differ in their last bits; the token ids must not differ at all."""
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)


def same(a: Hypothesis, b: Hypothesis) -> bool:
    return (
        (a.tokens, a.finished) == (b.tokens, b.finished)
        and close(a.score, b.score)
        and close(a.normalized, b.normalized)
    )


def source_ids(tr: Translator) -> list[list[int]]:
    limit = tr.manifest.limits.max_source_len
    return [tr.tokenizer.encode(t)[:limit] for t in TEXTS]


@pytest.mark.parametrize("beam", [1, 2, 4])
@pytest.mark.parametrize("batch", [1, 3, 16])
def test_batched_translations_equal_one_at_a_time(tiny_bundle: Path, beam: int, batch: int) -> None:
    tr = onnx_translator(str(tiny_bundle))
    want = one_at_a_time(str(tiny_bundle), beam)
    got = tr.translate(TEXTS, TranslateOptions(beam_size=beam), batch_size=batch)
    assert [g.token_ids for g in got] == [w.token_ids for w in want]
    for g, w in zip(got, want, strict=True):
        assert (g.text, g.finished, g.segments) == (w.text, w.finished, w.segments) and close(
            g.score, w.score
        )
        assert (g.warnings, g.short_output, g.coverage_lost) == (w.warnings, w.short_output, w.coverage_lost)
        assert g.timings.steps == w.timings.steps  # the steps its pieces took, batched or not
        assert g.timings.decode_ms > 0 and g.timings.total_ms >= g.timings.tokenize_ms
    assert any(w.segments > 1 for w in want)  # split texts are in the set


@pytest.mark.parametrize("beam", [1, 2, 4])
def test_search_batch_and_batch_search_equal_beam_search(tiny_bundle: Path, beam: int) -> None:
    tr = onnx_translator(str(tiny_bundle))
    sources = source_ids(tr)
    opts = TranslateOptions(beam_size=beam)
    want = [tr.search_ids(s, opts) for s in sources]
    for batch in (3, 16):
        got = tr.search_batch(sources, opts, batch_size=batch)
        assert all(same(g, w) for g, w in zip(got, want, strict=True))
    # straight through the search, in the given order (no sorting by length), one model for all
    model = tr.new_step_model()
    assert isinstance(model, GrowingStepModel)
    cfg = tr.search_config(opts)
    got = batch_search(model, sources[:16], cfg, tr.manifest.tokens.pad_id)
    assert all(
        same(g, beam_search(tr.new_step_model(), s, cfg)) for g, s in zip(got, sources[:16], strict=True)
    )


class RowCounter(GrowingStepModel):
    """Notes the rows of every decoder step."""

    rows: list[int]

    def step(self, tokens: list[int]) -> F32:
        self.rows.append(len(tokens))
        return super().step(tokens)


@pytest.mark.parametrize("beam", [1, 4])
def test_finished_sentences_leave_the_batch(tiny_bundle: Path, beam: int) -> None:
    tr = onnx_translator(str(tiny_bundle))
    model = RowCounter(tr.graphs, tr.manifest)  # type: ignore[arg-type]
    model.rows = []
    sources = source_ids(tr)[:16]
    cfg = tr.search_config(TranslateOptions(beam_size=beam))
    got = batch_search(model, sources, cfg, tr.manifest.tokens.pad_id)
    assert model.rows[0] == 16 * beam
    assert model.rows == sorted(model.rows, reverse=True) and model.rows[-1] < model.rows[0]
    assert all(r % beam == 0 for r in model.rows)  # every sentence keeps its K rows while it stays
    # a greedy sentence stays exactly as many steps as it has tokens
    if beam == 1:
        assert len(model.rows) == max(len(h.tokens) for h in got)
        assert sum(model.rows) == sum(len(h.tokens) for h in got)


def test_glossary_terms_are_honoured_in_a_batch_run(tiny_bundle: Path) -> None:
    tr = onnx_translator(str(tiny_bundle))
    glossary = Glossary.from_terms(GLOSSARY)
    texts = ["A dog runs through the snow.", *TEXTS[:10], "The dog sleeps.", "Snow falls."]
    opts = TranslateOptions(beam_size=4)
    want = [tr.translate_one(t, opts, glossary) for t in texts]
    got = tr.translate(texts, opts, glossary, batch_size=16)
    assert [g.token_ids for g in got] == [w.token_ids for w in want]
    assert [(g.terms, g.warnings, g.constraints_dropped) for g in got] == [
        (w.terms, w.warnings, w.constraints_dropped) for w in want
    ]
    assert "house" in words(got[0].text) and "house" in words(got[-2].text)
    assert got[0].terms and all(r.produced in r.required for r in got[0].terms)
    # terms given per text, too
    per_text = [[Term("runs", ("eats",))]] + [[] for _ in texts[1:]]
    assert [g.token_ids for g in tr.translate(texts, opts, terms=per_text, batch_size=16)] == [
        tr.translate_one(t, opts, terms=p).token_ids for t, p in zip(texts, per_text, strict=True)
    ]


def test_models_without_a_batch_api_fall_back(tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("batch_search_steps called for a model without start_batch")

    opts = TranslateOptions(beam_size=2)
    pte = Translator(tiny_bundle, "executorch")  # step contract 1: CachedStepModel
    assert not hasattr(pte.new_step_model(), "start_batch")
    want = [pte.translate_one(t, opts).token_ids for t in TEXTS[:8]]
    monkeypatch.setattr(translator_module, "batch_search_steps", refuse)
    assert [t.token_ids for t in pte.translate(TEXTS[:8], opts, batch_size=16)] == want
    assert [h.tokens for h in pte.search_batch(source_ids(pte)[:8], opts)] == [
        pte.search_ids(s, opts).tokens for s in source_ids(pte)[:8]
    ]

    class Wrapped:  # stands in for an ensemble: the three calls of a StepModel only
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def start(self, source_ids: list[int], rows: int) -> None:
            self.inner.start(source_ids, rows)

        def step(self, tokens: list[int]) -> F32:
            return self.inner.step(tokens)  # type: ignore[no-any-return]

        def reorder(self, parents: list[int]) -> None:
            self.inner.reorder(parents)

    tr = Translator(tiny_bundle, "onnx")
    tr.model = Wrapped(tr.new_step_model())
    assert [t.token_ids for t in tr.translate(TEXTS[:8], opts, batch_size=16)] == [
        w.token_ids for w in one_at_a_time(str(tiny_bundle), 2)[:8]
    ]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[Any], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


@pytest.mark.parametrize("beam", ["1", "4"])
def test_cli_translate_batch_equals_one_at_a_time(
    tiny_bundle: Path, beam: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["translate", "--bundle", str(tiny_bundle), "--backend", "onnx", "--json", "--beam", beam]
    code1, one, err1 = cli(capsys, *base, "--batch", "1", *TEXTS)
    code16, many, err16 = cli(capsys, *base, "--batch", "16", *TEXTS)
    assert code1 == code16 == 0 and err1 == err16
    assert [r["token_ids"] for r in many] == [r["token_ids"] for r in one]
    assert [r["text"] for r in many] == [r["text"] for r in one] and len(one) == len(TEXTS)
    # stdin read 3 lines at a time gives what streaming line by line gives
    data = ("\n".join(TEXTS[:7]) + "\n").encode()
    outs = []
    for extra in ([], ["--batch", "3"]):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        code, rows, _ = cli(capsys, *base, *extra)
        assert code == 0
        outs.append([r["token_ids"] for r in rows])
    assert outs[0] == outs[1] and len(outs[0]) == 7


def test_cli_batch_must_be_positive(tiny_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["translate", "a b c"], ["eval", "--src", "x", "--ref", "y"]):
        code = main([*command, "--bundle", str(tiny_bundle), "--batch", "0"])
        err = capsys.readouterr().err
        assert code == 2 and err.strip().startswith("pocketmt: error:") and "--batch" in err
        assert "Traceback" not in err


def test_eval_batch_scores_equal_one_at_a_time(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, ref = tmp_path / "src.txt", tmp_path / "ref.txt"
    src.write_text("\n".join(TEXTS) + "\n")
    ref.write_text("\n".join(TEXTS) + "\n")
    outs = []
    for batch in ("1", "16"):
        hyp = tmp_path / f"hyp{batch}.txt"
        argv = [
            "eval",
            "--bundle",
            str(tiny_bundle),
            "--backend",
            "onnx",
            "--src",
            str(src),
            "--ref",
            str(ref),
        ]
        code = main([*argv, "--beam", "2", "--json", "--batch", batch, "--output", str(hyp)])
        scores = json.loads(capsys.readouterr().out)
        assert code == 0
        outs.append((hyp.read_text(), scores["bleu"], scores["chrf"]))
    assert outs[0] == outs[1]


def test_an_encoder_run_one_sentence_per_call_gives_the_batch_encoding(bundle_copy: Path) -> None:
    """``encode_one_sentence`` (an encoder whose int8 activations are quantized per call): a batch is
    encoded sentence by sentence without its padding, its padded positions zero, and translates as the
    batched encoder does."""
    import json

    import numpy as np

    from pocketmt.runtime.translator import TranslateOptions, Translator

    texts = ["a dog runs", "two men are playing football in the park", "a cat", "the red car"]
    before = Translator(bundle_copy, backend="onnx")
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["graphs"]["onnx"]["encode_one_sentence"] = True
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    each = Translator(bundle_copy, backend="onnx")
    assert each.graphs.encode_one_sentence and not before.graphs.encode_one_sentence
    ids = [each.tokenizer.encode(t) for t in texts]
    width = max(map(len, ids))
    batch = np.zeros((len(ids), width), np.int64)
    mask = np.zeros_like(batch)
    for j, row in enumerate(ids):
        batch[j, : len(row)] = row
        mask[j, : len(row)] = 1
    k1, v1 = before.graphs.encode(batch, mask)
    k2, v2 = each.graphs.encode(batch, mask)
    for j, row in enumerate(ids):
        n = len(row)
        assert np.allclose(k2[:, j, :, :n], k1[:, j, :, :n], atol=1e-5)
        assert np.allclose(v2[:, j, :, :n], v1[:, j, :, :n], atol=1e-5)
        assert not k2[:, j, :, n:].any() and not v2[:, j, :, n:].any()
    for beam in (1, 2):
        opts = TranslateOptions(beam_size=beam)
        want = [t.token_ids for t in before.translate(texts, opts, batch_size=4)]
        assert [t.token_ids for t in each.translate(texts, opts, batch_size=4)] == want
        assert [t.token_ids for t in each.translate(texts, opts, batch_size=1)] == want
