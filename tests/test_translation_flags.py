"""The checks on each piece's output (docs/decoding.md, section 1.5): ``short_output``, ``coverage_lost`` and
each term's ``spelling``, in ``Translation`` and its JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pocketmt.runtime import Term, TranslateOptions, Translator
from pocketmt.runtime.coverage import piece_spelling, too_short
from tests.fake_step import log_softmax

REPO = Path(__file__).resolve().parents[1]
EN_DE = REPO / "sdk" / "models" / "en-de"
SNOW = "A dog runs through the snow."
BEAM4 = TranslateOptions(beam_size=4)
GREEDY = TranslateOptions(
    beam_size=1
)  # the scripted model's path exactly (beam 4 stops after 4 finished rows)


# ------------------------------------------------------------------ the rules alone
@pytest.mark.parametrize(
    ("source", "target", "short"),
    [(5, 0, False), (5, 2, False), (6, 2, True), (6, 3, False), (7, 3, True), (7, 4, False), (20, 9, True),
     (20, 10, False), (0, 0, False), (100, 0, True)],
)  # fmt: skip
def test_the_length_rule(source: int, target: int, short: bool) -> None:
    assert too_short(source, target) is short


def test_spelling_of_pieces() -> None:
    vocab = {"<unk>": 1, "\u2581Hund": 5, "\u2581": 6, "<0xD0>": 7, "<0xA1>": 8}
    assert piece_spelling(["\u2581Hund"], vocab, 1) == "ok"
    assert piece_spelling(["\u2581", "<0xD0>", "<0xA1>"], vocab, 1) == "byte_fallback"
    assert (
        piece_spelling(["\u2581Hund", "<0xD0>", "Ω"], vocab, 1) == "unknown"
    )  # a piece not in the vocabulary
    assert piece_spelling(["<unk>"], vocab, 1) == "unknown"
    assert piece_spelling([], vocab, 1) == "unknown"
    assert piece_spelling(["<0xd0>"], {"<0xd0>": 9}, 1) == "ok"  # byte pieces are upper-case hex only


# ------------------------------------------------------------------ through the translator, with a known model
class ScriptedStep:
    """A step model that writes ``script(source_ids)`` and then EOS, whatever the search asks."""

    def __init__(self, vocab: int, eos: int, script: object) -> None:
        self.vocab, self.eos, self.script = vocab, eos, script
        self.plan: list[int] = []
        self.rows: list[int] = []

    def start(self, source_ids: list[int], rows: int) -> None:
        self.plan = list(self.script(source_ids)) + [self.eos]  # type: ignore[operator]
        self.rows = [0] * rows

    def step(self, tokens: list[int]) -> np.ndarray:
        out = []
        for r in range(len(self.rows)):
            logits = np.zeros(self.vocab)
            logits[self.plan[min(self.rows[r], len(self.plan) - 1)]] = 20.0
            out.append(log_softmax(logits))
            self.rows[r] += 1
        return np.stack(out)

    def reorder(self, parents: list[int]) -> None:
        self.rows = [self.rows[p] for p in parents]


def scripted(tiny_bundle: Path, script: object) -> Translator:
    tr = Translator(tiny_bundle, "onnx")
    tr.model = ScriptedStep(int(tr.manifest.model.vocab_size), tr.tokenizer.eos_id, script)
    return tr


def long_sentence(tr: Translator) -> str:
    text = "the man walks to the house near the river."
    assert len(tr.tokenizer.encode(text)) - 1 >= 8
    return text


def test_an_output_too_short_for_its_source_is_flagged(tiny_bundle: Path) -> None:
    tr = scripted(tiny_bundle, lambda ids: ids[:1])  # one token for the whole sentence
    text = long_sentence(tr)
    out = tr.translate_one(f"{text} {text}", GREEDY)
    assert out.segments == 2
    assert out.short_output == [0, 1]
    assert out.to_json()["short_output"] == [0, 1]
    assert sum("part of the source may be missing" in w for w in out.warnings) == 2
    assert out.warnings[0].startswith("piece 1 of 2: 1 target tokens for ")


def test_an_output_as_long_as_its_source_is_not_flagged(tiny_bundle: Path) -> None:
    tr = scripted(tiny_bundle, lambda ids: ids[:-1])  # the source's own ids, EOS left off: as long as it
    text = long_sentence(tr)
    out = tr.translate_one(text, GREEDY)
    assert out.token_ids == tr.tokenizer.encode(text)
    assert out.short_output == [] and out.coverage_lost == [] and out.warnings == []


def test_terms_that_cost_the_rest_of_the_sentence_are_flagged(tiny_bundle: Path) -> None:
    tr = scripted(tiny_bundle, lambda ids: [])  # EOS at once: the search adds only the term
    text = long_sentence(tr)
    out = tr.translate_one(text, BEAM4, terms=[Term("house", ("river",))])
    assert [t.produced for t in out.terms] == ["river"], out
    assert out.coverage_lost == [0]
    assert out.to_json()["coverage_lost"] == [0]
    assert any("besides its terms" in w for w in out.warnings)


def test_an_unspellable_term_is_listed_as_unknown(tiny_bundle: Path) -> None:
    out = Translator(tiny_bundle, "onnx").translate_one("A dog runs.", BEAM4, terms=[Term("dog", ("犬",))])
    assert [(t.source, t.produced, t.spelling) for t in out.terms] == [("dog", None, "unknown")]
    assert out.to_json()["terms"][0]["spelling"] == "unknown"
    assert any("cannot be tokenized" in w for w in out.warnings)


# ------------------------------------------------------------------ the built-in en-de model: the reported case
@pytest.fixture(scope="module")
def en_de() -> Translator:
    return Translator(EN_DE, "onnx")


@pytest.mark.parametrize("target", ["Собака", "狗"])
def test_a_term_the_vocabulary_spells_in_bytes_is_reported(en_de: Translator, target: str) -> None:
    out = en_de.translate_one(SNOW, BEAM4, terms=[Term("dog", (target,))])
    assert [t.spelling for t in out.terms] == ["byte_fallback"]
    assert out.to_json()["terms"][0]["spelling"] == "byte_fallback"
    assert any(
        f"target term {target!r} for 'dog' is spelled with byte-fallback pieces" in w for w in out.warnings
    )


def test_ein_sobaka_is_flagged_as_coverage_lost(en_de: Translator) -> None:
    out = en_de.translate_one(SNOW, BEAM4, terms=[Term("dog", ("Собака",))])
    assert out.text == "Ein Собака."  # the reported output: the term kept, the rest of the sentence lost
    assert [t.produced for t in out.terms] == ["Собака"]
    assert out.coverage_lost == [0]
    assert out.short_output == []  # in tokens the output is long: 12 of its 15 are the term's bytes


def test_a_good_term_raises_no_flag(en_de: Translator) -> None:
    out = en_de.translate_one(SNOW, BEAM4, terms=[Term("dog", ("Hund",))])
    assert [(t.produced, t.spelling) for t in out.terms] == [("Hund", "ok")]
    assert out.coverage_lost == [] and out.short_output == [] and out.warnings == []
    free = en_de.translate_one(SNOW, BEAM4)
    assert free.to_json()["short_output"] == [] and free.to_json()["coverage_lost"] == []
