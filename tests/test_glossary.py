"""Glossary reading and source-side matching (docs/decoding.md, section 9)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pocketmt.runtime.errors import InputError
from pocketmt.runtime.glossary import Glossary, Term, load_glossary, words


def g(*pairs: tuple[str, str]) -> Glossary:
    return Glossary.from_terms([Term(s, (t,)) for s, t in pairs])


def test_matching_is_case_and_unicode_insensitive_whole_word_and_longest_first() -> None:
    glossary = g(("heart", "Herz"), ("heart attack", "Herzinfarkt"), ("café", "Café"), ("cat", "Katze"))
    found = [
        m.term.source for m in glossary.match("A HEART attack at the Cafe\u0301? No: a category, a cat.")
    ]
    assert found == ["heart attack", "café", "cat"]  # not "heart", not "category"
    assert [m.term.source for m in glossary.match("ＣＡＦÉ")] == ["café"]  # NFKC folds full-width letters


def test_overlapping_terms_leftmost_then_longest() -> None:
    glossary = g(("a b", "X"), ("b c d", "Y"), ("c", "Z"))
    assert [(m.term.source, m.start_word) for m in glossary.match("a b c d")] == [("a b", 0), ("c", 2)]


def test_formats_tsv_csv_tbx_and_wmt_json(tmp_path: Path) -> None:
    (tmp_path / "g.tsv").write_text(
        "source\ttarget\n# a comment\ntreatment\tBehandlung\tTherapie|Versorgung\tmed\n"
    )
    (tmp_path / "g.csv").write_text('"heart attack","Herzinfarkt"\n')
    (tmp_path / "g.tbx").write_text(
        '<?xml version="1.0"?><tbx><text><body><termEntry>'
        '<langSet xml:lang="en"><tig><term>kidney</term></tig></langSet>'
        '<langSet xml:lang="de"><tig><term>Niere</term></tig><tig><term>Nieren</term></tig></langSet>'
        "</termEntry></body></text></tbx>"
    )
    (tmp_path / "g.json").write_text(json.dumps([{"en": "liver", "de": "Leber"}]) + "\n")
    tsv = load_glossary(tmp_path / "g.tsv", "en", "de")
    assert tsv.terms == [Term("treatment", ("Behandlung", "Therapie", "Versorgung"), "med")]
    assert load_glossary(tmp_path / "g.csv", "en", "de").terms == [Term("heart attack", ("Herzinfarkt",))]
    assert load_glossary(tmp_path / "g.tbx", "en", "de").terms == [Term("kidney", ("Niere", "Nieren"))]
    assert load_glossary(tmp_path / "g.json", "en", "de").terms == [Term("liver", ("Leber",))]


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("ok\tgut\nbroken line without tab\n", "g.tsv:2: expected source"),
        ("ok\tgut\n\tnothing\n", "g.tsv:2: expected source"),
        ("ok\t \n", "g.tsv:1: empty target term"),
        (
            "ok\tgut\nOK\tschlecht\n",
            "conflicting entries (pass --on-conflict first|last to choose): 'OK': gut vs schlecht",
        ),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, content: str, fragment: str) -> None:
    (tmp_path / "g.tsv").write_text(content)
    with pytest.raises(
        InputError, match=fragment.replace("|", r"\|").replace("(", r"\(").replace(")", r"\)")
    ):
        load_glossary(tmp_path / "g.tsv", "en", "de")


def test_on_conflict_first_and_last(tmp_path: Path) -> None:
    (tmp_path / "g.tsv").write_text("ok\tgut\nOK\tschlecht\n")
    assert load_glossary(tmp_path / "g.tsv", "en", "de", "first").terms[0].targets == ("gut",)
    assert load_glossary(tmp_path / "g.tsv", "en", "de", "last").terms[0].targets == ("schlecht",)


def test_invalid_utf8_and_bad_json_are_reported_with_the_line(tmp_path: Path) -> None:
    (tmp_path / "g.tsv").write_bytes(b"ok\tgut\nbad\t\xff\n")
    with pytest.raises(InputError, match=r"g.tsv:2: invalid UTF-8"):
        load_glossary(tmp_path / "g.tsv", "en", "de")
    (tmp_path / "g.jsonl").write_text('[{"en": "a", "de": "b"}]\n{oops\n')
    with pytest.raises(InputError, match=r"g.jsonl:2: not valid JSON"):
        load_glossary(tmp_path / "g.jsonl", "en", "de")


WORDS = st.sampled_from(["a", "b", "c", "Ä", "dog", "dogs", "x-y", "ß", "SS", "é"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.lists(WORDS, min_size=1, max_size=3), WORDS), max_size=20),
    st.lists(WORDS, max_size=30),
)
def test_matches_are_real_non_overlapping_and_nothing_crashes(
    entries: list[tuple[list[str], str]], text_words: list[str]
) -> None:
    glossary = Glossary.from_terms([Term(" ".join(s), (t,)) for s, t in entries], on_conflict="last")
    text = " ".join(text_words)
    toks = words(text)
    last_end = 0
    for m in glossary.match(text):
        assert m.start_word >= last_end and m.end_word > m.start_word
        assert toks[m.start_word : m.end_word] == words(m.term.source)
        last_end = m.end_word
