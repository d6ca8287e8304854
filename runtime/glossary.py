"""Glossaries: reading them (TSV, CSV, TBX-Basic, WMT 2023 JSON) and finding their terms in a sentence.

Matching rule (docs/decoding.md, section 9): text and terms are compared after
Unicode NFKC normalisation and case folding, word by word (a word is a run of
letters, digits and marks; everything else separates words), so only whole
words match. Scanning left to right, at each word the longest term starting
there wins; the scan resumes after it, so matches never overlap (leftmost,
then longest). A word-level trie makes this linear in the input length for a
bounded term length, however many entries the glossary has.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pocketmt.runtime.errors import InputError

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_END = "\0"  # trie key that marks a complete term


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


# scripts written without spaces between words: each character is a unit of its own
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_UNIT = re.compile(f"[{_UNSPACED}]|[^\\W_{_UNSPACED}]+|\\S", re.UNICODE)


def units(text: str) -> list[str]:
    """Section 9.3: words of spaced scripts, single characters of unspaced ones (Chinese, Japanese), and
    each other non-space character (punctuation, symbols) on its own, after NFKC and case folding."""
    return _UNIT.findall(normalize(text))


class Term(NamedTuple):  # a tuple: glossaries hold 100,000 of them and load in well under a second
    source: str
    targets: tuple[str, ...]  # acceptable target forms; any one satisfies the term
    note: str = ""


@dataclass(frozen=True)
class Match:
    term: Term
    start_word: int
    end_word: int  # exclusive


@dataclass
class Glossary:
    terms: list[Term] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _trie: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_terms(cls, terms: list[Term], on_conflict: str = "error", where: str = "glossary") -> Glossary:
        if on_conflict not in ("error", "first", "last"):
            raise InputError(f"--on-conflict must be error, first or last, not {on_conflict!r}")
        by_key: dict[tuple[str, ...], Term] = {}
        conflicts: list[str] = []
        glossary = cls()
        for term in terms:
            key = tuple(words(term.source))
            if not key:
                glossary.warnings.append(f"{where}: source term {term.source!r} has no words; skipped")
                continue
            old = by_key.get(key)
            if old is not None and {normalize(t) for t in old.targets} != {
                normalize(t) for t in term.targets
            }:
                if on_conflict == "error":
                    conflicts.append(
                        f"{term.source!r}: {' | '.join(old.targets)} vs {' | '.join(term.targets)}"
                    )
                    continue
                if on_conflict == "first":
                    continue
            by_key[key] = term
        if conflicts:
            shown = "; ".join(conflicts[:5]) + (
                f"; and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
            )
            raise InputError(
                f"{where}: conflicting entries (pass --on-conflict first|last to choose): {shown}"
            )
        for key, term in by_key.items():
            node = glossary._trie
            for word in key:
                node = node.setdefault(word, {})
            node[_END] = term
            glossary.terms.append(term)
        return glossary

    def match(self, text: str) -> list[Match]:
        toks = words(text)
        out: list[Match] = []
        i = 0
        while i < len(toks):
            node = self._trie
            best: tuple[int, Term] | None = None
            j = i
            while j < len(toks) and toks[j] in node:
                node = node[toks[j]]
                j += 1
                if _END in node:
                    best = (j, node[_END])
            if best is None:
                i += 1
            else:
                out.append(Match(best[1], i, best[0]))
                i = best[0]
        return out

    def __len__(self) -> int:
        return len(self.terms)


# ------------------------------------------------------------------ readers
def _split_forms(cell: str) -> list[str]:
    if "|" not in cell:
        cell = cell.strip()
        return [cell] if cell else []
    return [f.strip() for f in cell.split("|") if f.strip()]


def _rows(text: str, path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """The rows of a delimited file with their line numbers; a malformed file (a field longer than
    the csv module's limit) is an error naming the line."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    number = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: unreadable line ({exc})") from exc
        number += 1
        yield number, row


def _read_delimited(text: str, path: Path, delimiter: str) -> list[Term]:
    terms = []
    for number, row in _rows(text, path, delimiter):
        first = row[0].strip() if row else ""
        if not first and not "".join(row).strip() or first.startswith("#"):
            continue
        if number == 1 and [c.strip().lower() for c in row[:2]] == ["source", "target"]:
            continue
        if len(row) < 2 or not first:
            raise InputError(
                f"{path}:{number}: expected source{delimiter!r}target[{delimiter!r}alternatives"
                f"{delimiter!r}note], got {delimiter.join(row)[:60]!r}"
            )
        targets = _split_forms(row[1]) + (_split_forms(row[2]) if len(row) > 2 else [])
        if not targets:
            raise InputError(f"{path}:{number}: empty target term for {row[0].strip()!r}")
        terms.append(
            Term(row[0].strip(), tuple(dict.fromkeys(targets)), row[3].strip() if len(row) > 3 else "")
        )
    return terms


def _read_tbx(raw: bytes, path: Path, source_lang: str, target_lang: str) -> list[Term]:
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    try:
        root = ElementTree.fromstring(raw)
    # LookupError: an XML declaration naming an encoding Python does not know
    except (ElementTree.ParseError, DefusedXmlException, LookupError, ValueError) as exc:
        raise InputError(f"{path}: not a readable TBX file ({exc})") from exc
    xml_lang = "{http://www.w3.org/XML/1998/namespace}lang"

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    terms = []
    for entry in root.iter():
        if local(entry.tag) not in ("termEntry", "conceptEntry"):
            continue
        by_lang: dict[str, list[str]] = {}
        for lang_set in entry:
            if local(lang_set.tag) != "langSet":
                continue
            lang = (lang_set.get(xml_lang) or lang_set.get("lang") or "").split("-")[0].lower()
            for node in lang_set.iter():
                if local(node.tag) == "term" and node.text and node.text.strip():
                    by_lang.setdefault(lang, []).append(node.text.strip())
        for src in by_lang.get(source_lang, []):
            if by_lang.get(target_lang):
                terms.append(Term(src, tuple(dict.fromkeys(by_lang[target_lang]))))
    if not terms:
        raise InputError(f"{path}: no term entries with both {source_lang} and {target_lang} terms")
    return terms


def _check_unicode(terms: list[Term], where: str) -> None:
    """A lone surrogate (JSON's ``"\\udcff"``) cannot reach the tokenizer: refuse it here."""
    for term in terms:
        for text in (term.source, *term.targets):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InputError(
                    f"{where}: term {text!r} is not valid Unicode (lone surrogate at position {exc.start})"
                ) from exc


def terms_from_wmt(items: Any, source_lang: str, target_lang: str, where: str) -> list[Term]:
    """WMT 2023 terminology format: a list of ``{"de": "...", "en": "..."}`` objects."""
    if not isinstance(items, list):
        raise InputError(f"{where}: expected a JSON list of term objects")
    terms = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get(source_lang), str):
            raise InputError(f"{where}: each term must be an object with {source_lang!r} and {target_lang!r}")
        target = item.get(target_lang)
        forms = target if isinstance(target, list) else [target]
        if not all(isinstance(f, str) for f in forms):
            raise InputError(f"{where}: {target_lang!r} must be a string or a list of strings")
        terms.append(Term(item[source_lang], tuple(dict.fromkeys(str(f) for f in forms if str(f).strip()))))
    _check_unicode(terms, where)
    return terms


def parse_json(text: str, where: str) -> Any:
    """``json.loads`` with every way it can fail as an ``InputError`` naming ``where``: malformed
    JSON, nesting deeper than Python's parser recurses, integers too long for Python to convert."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg})") from exc
    except RecursionError as exc:
        raise InputError(f"{where}: JSON nested too deeply to read") from exc
    except ValueError as exc:  # an integer of more than 4300 digits
        raise InputError(f"{where}: not usable JSON ({str(exc).split(':')[0]})") from exc


def load_glossary(
    path: str | Path, source_lang: str, target_lang: str, on_conflict: str = "error"
) -> Glossary:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"glossary not found: {p}")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read the glossary ({exc.strerror})") from exc
    suffix = p.suffix.lower()
    if suffix in (".tbx", ".xml"):
        terms = _read_tbx(raw, p, source_lang, target_lang)
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            bad_line = raw[: exc.start].count(b"\n") + 1
            raise InputError(f"{p}:{bad_line}: invalid UTF-8") from exc
        if suffix in (".json", ".jsonl"):
            terms = []
            try:  # one JSON list for the whole file
                whole = parse_json(text, str(p))
            except InputError:
                whole = None  # JSON lines, or an error the line-by-line reading names with its line
            if isinstance(whole, list) and all(isinstance(x, dict) for x in whole):
                terms = terms_from_wmt(whole, source_lang, target_lang, str(p))
            lines: list[str] = [] if terms else text.splitlines()
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    where = f"{p}:{number}"
                    terms += terms_from_wmt(parse_json(line, where), source_lang, target_lang, where)
        else:
            terms = _read_delimited(text, p, "," if suffix == ".csv" else "\t")
    return Glossary.from_terms(terms, on_conflict, str(p))
