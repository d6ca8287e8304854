"""Glossary terms through the whole stack, on both exported backends (and the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pocketmt.cli import main
from pocketmt.runtime import Glossary, Term, TranslateOptions, Translator
from pocketmt.runtime.glossary import words
from pocketmt.runtime.term_constraints import term_constraint

SENTENCES = ["A dog runs through the snow.", "Two people are sitting on a bench.", "The man is reading."]
GLOSSARY = [Term("dog", ("house",)), Term("snow", ("river", "mountain")), Term("reading", ("eats",))]


def test_both_word_start_spellings_are_alternatives(tiny_bundle: Path) -> None:
    tok = Translator(tiny_bundle, "onnx").tokenizer
    tc, warning = term_constraint(Term("x", ("bench",)), tok)
    assert warning is None and tc is not None
    spellings = [[tok.id_to_piece[i] for i in alt] for alt in tc.constraint.alternatives]
    assert any(s[0].startswith("\u2581") for s in spellings)
    assert any(not s[0].startswith("\u2581") for s in spellings)
    # glued spellings are tracked but never proposed by the search
    assert [not s[0].startswith("\u2581") for s in spellings] == [not p for p in tc.constraint.proposed]


def test_untokenizable_terms_are_skipped_with_a_warning(tiny_bundle: Path) -> None:
    tr = Translator(tiny_bundle, "onnx")
    out = tr.translate_one("A dog runs.", TranslateOptions(beam_size=4), terms=[Term("dog", ("犬",))])
    assert any("'犬'" in w and "cannot be tokenized" in w for w in out.warnings)


def test_glossary_terms_appear_and_backends_agree(tiny_bundle: Path) -> None:
    glossary = Glossary.from_terms(GLOSSARY)
    outs = {}
    for backend in ("executorch", "onnx"):
        tr = Translator(tiny_bundle, backend)
        free = tr.translate(SENTENCES, TranslateOptions(beam_size=4))
        forced = tr.translate(SENTENCES, TranslateOptions(beam_size=4), glossary=glossary)
        outs[backend] = [(t.token_ids, t.text) for t in forced]
        for c in forced:
            assert not c.constraints_dropped
            for result in c.terms:
                assert result.produced in result.required
                assert any(words(form)[0] in words(c.text) for form in result.required), (c.text, result)
        assert "house" not in words(free[0].text) and "house" in words(forced[0].text)
        assert [r.source for r in forced[0].terms] == ["dog", "snow"]
    assert outs["executorch"] == outs["onnx"]


def test_cli_glossary_and_eval_term_success(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "g.tsv").write_text("dog\thouse\nsnow\triver|mountain\n")
    assert (
        main(
            [
                "translate",
                "--bundle",
                str(tiny_bundle),
                "--glossary",
                str(tmp_path / "g.tsv"),
                "--json",
                SENTENCES[0],
            ]
        )
        == 0
    )
    obj = json.loads(capsys.readouterr().out)
    assert [t["source"] for t in obj["terms"]] == ["dog", "snow"] and all(t["produced"] for t in obj["terms"])
    (tmp_path / "src.txt").write_text("\n".join(SENTENCES) + "\n")
    (tmp_path / "ref.txt").write_text("\n".join(SENTENCES) + "\n")
    (tmp_path / "terms.jsonl").write_text(
        "\n".join(json.dumps([{"en": t.source, "de": t.targets[0]}]) for t in GLOSSARY) + "\n"
    )
    common = [
        "eval",
        "--bundle",
        str(tiny_bundle),
        "--src",
        str(tmp_path / "src.txt"),
        "--ref",
        str(tmp_path / "ref.txt"),
        "--terms",
        str(tmp_path / "terms.jsonl"),
        "--beam",
        "4",
        "--json",
    ]
    assert main(common) == 0
    enforced = json.loads(capsys.readouterr().out)
    assert main([*common, "--no-constraints"]) == 0
    free = json.loads(capsys.readouterr().out)
    assert enforced["term_success"] == 1.0
    assert free["term_success"] < 1.0


def test_conflicting_glossary_is_a_one_line_error(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "g.tsv").write_text("dog\thouse\nDog\ttree\n")
    assert main(["translate", "--bundle", str(tiny_bundle), "--glossary", str(tmp_path / "g.tsv"), "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "conflicting entries" in err[0] and "'Dog': house vs tree" in err[0]
    assert (
        main(
            [
                "translate",
                "--bundle",
                str(tiny_bundle),
                "--glossary",
                str(tmp_path / "g.tsv"),
                "--on-conflict",
                "last",
                "a dog",
            ]
        )
        == 0
    )
