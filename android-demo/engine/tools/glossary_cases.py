"""Expected results of the Python glossary, segmenter and term-constraint code, for the Java replay test.

Run from the repository root (the venv active):
    python android-demo/engine/tools/glossary_cases.py
It writes android-demo/engine/src/test/resources/org/pocketmt/engine/glossary/glossary_cases.json: glossary
files (as bytes) with the terms, warnings or error message ``load_glossary`` gives; texts with the matches
and words; texts with their segments; terms with the constraint ``term_constraint`` builds over a small fake
target tokenizer; and strings with their ``repr``. Paths in messages are written as ``{dir}``. Large files
(deep JSON, long csv fields) are written as ``content_parts``: [base64, count] pairs, the bytes repeated count
times; a ``system`` file is read where it is (an unreadable /proc file) and skipped where it is not a file.
The terms of a large file are given as ``terms_sha256`` (``terms_digest``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import tempfile
from pathlib import Path

from pocketmt.runtime.errors import InputError
from pocketmt.runtime.glossary import Glossary, Term, load_glossary, words
from pocketmt.runtime.segment import segment
from pocketmt.runtime.term_constraints import term_constraint

OUT = Path("android-demo/engine/src/test/resources/org/pocketmt/engine/glossary/glossary_cases.json")

TBX_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


class Big(tuple):
    """File content as (bytes, count) parts: the JSON stays small for a 100,000-deep list."""

    def data(self) -> bytes:
        return b"".join(part * count for part, count in self)


def big(*parts: tuple[bytes, int]) -> Big:
    return Big(parts)


def terms_digest(terms: list[list]) -> str:
    """SHA-256 of the terms: per term its source, targets and note joined by 1f/1e, terms by 1d (UTF-8)."""
    text = "\x1d".join(f"{source}\x1f{chr(0x1E).join(targets)}\x1f{note}" for source, targets, note in terms)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def tbx(declaration: str, kidney: str, niere: str) -> str:
    """A one-entry TBX document after ``declaration`` (terms written as given: encode it as declared)."""
    return (
        declaration + "<tbx><text><body><termEntry>"
        f'<langSet xml:lang="en"><tig><term>{kidney}</term></tig></langSet>'
        f'<langSet xml:lang="de"><tig><term>{niere}</term></tig></langSet>'
        "</termEntry></body></text></tbx>"
    )


def declared(encoding: str, quote: str = '"') -> str:
    return f"<?xml version={quote}1.0{quote} encoding={quote}{encoding}{quote}?>"


FIELD = 131072  # csv.field_size_limit()
FILES: list[tuple[str, bytes | Big, str]] = [  # name, content, on_conflict
    ("a.tsv", b"source\ttarget\n# a comment\ntreatment\tBehandlung\tTherapie|Versorgung\tmed\n", "error"),
    ("b.tsv", b"ok\tgut\nbroken line without tab\n", "error"),
    ("c.tsv", b"ok\tgut\n\tnothing\n", "error"),
    ("d.tsv", b"ok\t \n", "error"),
    ("e.tsv", b"ok\tgut\nOK\tschlecht\n", "error"),
    ("e.tsv", b"ok\tgut\nOK\tschlecht\n", "first"),
    ("e.tsv", b"ok\tgut\nOK\tschlecht\n", "last"),
    ("e.tsv", b"ok\tgut\n", "sometimes"),
    ("f.tsv", b"ok\tgut\nbad\t\xff\n", "error"),
    ("g.tsv", b"\xef\xbb\xbfok\tgut\nx\ty\nbad\t\xc3\n", "error"),
    ("h.tsv", b"\xef\xbb\xbfa\tb\n\n\r\n  \t \n#c\td\nStra\xc3\x9fe\tstreet | road |\t\tnote \n", "error"),
    ("i.tsv", b"a\tb\rc\td\n", "error"),
    ("j.tsv", b'"quoted\ttab"\t"say ""hi"""\n"multi\nline"\tx\nq"x"\ty\n"a"b\tc\n', "error"),
    ("k.tsv", b'a\t"unterminated\nstill', "error"),
    ("l.tsv", "".join(f"w{i}\tt{i}\nW{i}\tu{i}\n" for i in range(8)).encode(), "error"),
    ("m.tsv", b"cat\tKatze\nCAT\tkatze\ncat\tKatze\n--\tdash\n", "error"),
    ("n.tsv", "\u00a0nbsp\u00a0\t\u2003Ziel\u3000\nx\x1c\ty\x1f\n".encode(), "error"),
    ("o.tsv", b"source\ttarget\nsource\ttarget\n", "error"),
    ("p.tsv", b"SOURCE \t Target\nonly\n", "error"),
    ("q.tsv", ("x\t" + "y" * 70 + "\n" + "\u00e9" * 70 + "\n").encode(), "error"),
    ("r.tsv", b"it's\t\"q\"\nit's\t'no'\n", "error"),
    ("a.csv", b'"heart attack","Herzinfarkt"\n', "error"),
    ("b.csv", b"source,target\nkidney,Niere|Nieren,Nierchen,organ\nbad line\n", "error"),
    ("c.csv", b'a,"b,c",d\n', "error"),
    ("A.TSV", b"x\ty\n", "error"),
    ("noext", b"x\ty\n", "error"),
    (
        "a.tbx",
        (
            TBX_HEAD + "<tbx><text><body><termEntry>"
            '<langSet xml:lang="en"><tig><term>kidney</term></tig></langSet>'
            '<langSet xml:lang="de"><tig><term>Niere</term></tig><tig><term>Nieren</term></tig></langSet>'
            "</termEntry></body></text></tbx>"
        ).encode(),
        "error",
    ),
    (
        "b.tbx",
        (
            TBX_HEAD + '<!DOCTYPE martif SYSTEM "TBXcoreStructV02.dtd"><martif><text><body>'
            '<termEntry><langSet xml:lang="EN-us"><ntig><termGrp><term> liver </term></termGrp></ntig></langSet>'
            '<langSet lang="de"><tig><term>Leber<sub>x</sub>tail</term></tig><tig><term>  </term></tig></langSet></termEntry>'
            '<termEntry><langSet xml:lang="en"><tig><term>a &amp; b</term></tig><tig><term>c</term></tig></langSet>'
            '<langSet xml:lang="de"><tig><term><![CDATA[A & B]]></term></tig><tig><term>A &amp; B</term></tig></langSet></termEntry>'
            "</body></text></martif>"
        ).encode(),
        "error",
    ),
    (
        "c.tbx",
        (
            TBX_HEAD + '<tbx xmlns="urn:iso:std:iso:30042:ed-2"><text><body><conceptEntry>'
            '<langSec xml:lang="en"><termSec><term>nope</term></termSec></langSec>'
            '<langSet xml:lang="en"><termSec><term>heart</term></termSec></langSet>'
            '<langSet xml:lang="de"><termSec><term>Herz</term></termSec></langSet>'
            "</conceptEntry></body></text></tbx>"
        ).encode(),
        "error",
    ),
    (
        "d.tbx",
        (
            TBX_HEAD + '<tbx><termEntry><langSet xml:lang="en"><tig><term>x</term></tig></langSet>'
            "</termEntry></tbx>"
        ).encode(),
        "error",
    ),
    ("e.tbx", b'<?xml version="1.0"?><!DOCTYPE tbx [<!ENTITY e "boom">]><tbx>&e;</tbx>', "error"),
    ("f.xml", b"<tbx><unclosed></tbx>", "error"),
    (
        "a.json",
        json.dumps([{"en": "liver", "de": "Leber"}, {"en": "lung", "de": ["Lunge", " ", "Lunge"]}]).encode(),
        "error",
    ),
    ("b.jsonl", b'[{"en": "a", "de": "b"}]\n{oops\n', "error"),
    ("c.jsonl", b'[{"en": "a", "de": "b"}]\n\n[{"en": "c", "de": "d"}]\n', "error"),
    ("d.json", b'[{"en": "a", "de": 3}]', "error"),
    ("e.json", b'[{"de": "b"}]', "error"),
    ("f.json", b'{"en": "a", "de": "b"}\n', "error"),
    ("g.json", b"[]", "error"),
    ("h.json", b"[1, 2]", "error"),
    ("i.jsonl", b'[{"en": "a", "de": "b"}]\r\n[{"en": "c", "de": "d"},]\n', "error"),
    ("j.jsonl", b'[{"en": "a", "de": "b"}] [1]\n', "error"),
    ("k.jsonl", b'[{"en": "a" "de": "b"}]\n', "error"),
    ("l.jsonl", b'[{"en": "a\\q"}]\n', "error"),
    ("m.jsonl", b'["\\u12"]\n', "error"),
    ("n.jsonl", b'["a\x01"]\n', "error"),
    ("o.jsonl", b'["abc\n', "error"),
    ("p.jsonl", b'[{"en": "a", "de": null}]\n', "error"),
    ("q.jsonl", b'[{"en": "x", "de": "y"}]\n[NaN, -Infinity, 1e5, -0.5, true, false, null, 01]\n', "error"),
    ("r.json", '[{"en": "\u00e9t\u00e9", "de": "Sommer", "fr": "\\u00e9"}]'.encode(), "error"),
    # csv fields up to the csv module's limit (in code points), and past it: an error naming the reader's line
    ("s.tsv", big((b"a\t", 1), (b"x", FIELD), (b"\n", 1)), "error"),
    ("t.tsv", big((b"ok\tgut\na\t", 1), (b"x", FIELD + 1), (b"\n", 1)), "error"),
    ("u.tsv", big((b'ok\tgut\n"multi\nline', 1), (b"x", FIELD + 1), (b'"\tq\n', 1)), "error"),
    ("v.tsv", big((b"broken\nok\t", 1), (b"x", FIELD + 1)), "error"),
    ("w.tsv", big((b"a\t", 1), ("\U0001f600".encode(), FIELD), (b"\n", 1)), "error"),
    ("x.tsv", big((b"a\t", 1), ("\U0001f600".encode(), FIELD + 1), (b"\n", 1)), "error"),
    ("d.csv", big((b'ok,gut\n"', 1), (b"y", FIELD + 1), (b'",z\n', 1)), "error"),
    ("y.tsv", b'a\tb\n"x\ny"\tz\r\nq\tr\rs\n', "error"),
    ("z.tsv", b"a\x00b\tc\n", "error"),
    # JSON nested deeper than Python reads (its limit depends on its stack: stay clear of it, 991 here)
    ("s.json", big((b"[", 990), (b"]", 990)), "error"),
    ("t.json", big((b"[", 1000), (b"]", 1000)), "error"),
    (
        "u.jsonl",
        big((b'[{"en": "a", "de": "b"}]\n', 1), (b'{"x": ', 100000), (b"1", 1), (b"}", 100000)),
        "error",
    ),
    (
        "v.jsonl",
        big((b'[{"en": "a", "de": "b"}]\n[{"en": "c", "de": "d", "x": ', 1), (b"[", 5000), (b"]", 4999)),
        "error",
    ),
    # integers of more than 4300 digits (floats of any length are fine)
    ("w.json", big((b'[{"en": "a", "de": "b", "n": ', 1), (b"1", 4300), (b"}]", 1)), "error"),
    ("x.json", big((b'[{"en": "a", "de": "b", "n": -', 1), (b"1", 4301), (b"}]", 1)), "error"),
    ("y.json", big((b'[{"en": "a", "de": "b", "n": ', 1), (b"1", 5000), (b".5e3}]", 1)), "error"),
    ("z.jsonl", big((b'[{"en": "c" "de": ', 1), (b"1", 5000), (b"}]\n", 1)), "error"),
    ("aa.jsonl", big((b'[{"en": "c", "de": ', 1), (b"2", 5000), (b" oops\n", 1)), "error"),
    # lone surrogates in JSON terms (a pair is one character)
    ("ab.json", b'[{"en": "\\ud800", "de": "x"}]', "error"),
    ("ac.json", b'[{"en": "ok", "de": ["fine", "a\\ud83d\\ude00b\\udfffc"]}]', "error"),
    ("ad.json", b'[{"en": "\\ud83d\\ude00", "de": "\\ud83d\\ude00", "x": "\\ud800"}]', "error"),
    ("ae.json", b'[{"en": "\\ude00\\ud83d", "de": "x"}]', "error"),
    ("af.json", b'[{"en": "\\ud800", "de": "x"}, {"en": 3}]', "error"),
    ("ag.jsonl", b'[{"en": "a", "de": "b"}]\n[{"en": "c", "de": [" ", "\\udc80"]}]\n', "error"),
    # TBX declaring an encoding: expat's own, Python's single-byte codecs, and what Python refuses
    ("g.tbx", tbx(declared("foo"), "kidney", "Niere").encode(), "error"),
    ("h.tbx", tbx(declared("Shift_JIS"), "kidney", "Niere").encode(), "error"),
    ("i.tbx", tbx(declared("cp1252"), "kidney", "Niere \u20ac\u00e9").encode("cp1252"), "error"),
    ("j.tbx", tbx(declared("cp1252"), "kidney", "Niere").encode().replace(b"Niere", b"Nier\x81"), "error"),
    ("k.tbx", tbx(declared("utf8"), "kidney", "Ni\u00e9re").encode(), "error"),
    ("l.tbx", tbx(declared("MacRoman", "'"), "kidney", "Ni\u00e9re").encode("mac_roman"), "error"),
    ("m.tbx", tbx(declared("latin-9"), "kidney", "Niere").encode(), "error"),
    ("n.tbx", tbx(declared("x-MacRoman"), "kidney", "Niere").encode(), "error"),
    ("o.tbx", tbx(declared("hex"), "kidney", "Niere").encode(), "error"),
    ("p.tbx", tbx(declared("cp037"), "kidney", "Niere").encode(), "error"),
    ("q.tbx", b"\xef\xbb\xbf" + tbx(declared("cp1252"), "kidney", "Ni\u00e9re").encode(), "error"),
    ("r.tbx", tbx(declared("cp1252"), "kidney", "Niere").encode("utf-16"), "error"),
    ("s.xml", tbx(declared("KOI8_R"), "kidney", "\u043f\u043e\u0447\u043a\u0430").encode("koi8_r"), "error"),
    ("t.tbx", tbx(declared("utf_16"), "kidney", "Niere").encode(), "error"),
    ("u.tbx", tbx(declared("UTF-8"), "kidney", "Ni\u00e9re").encode(), "error"),
    ("v.tbx", tbx(declared("iso8859.15"), "kidney", "Niere").encode(), "error"),
    ("w.tbx", tbx(declared("latin1"), "kidney", "Ni\u00e9re\x85").encode("latin-1"), "error"),
    ("x.tbx", tbx(declared("utf-16"), "kidney", "Niere").encode("utf-16"), "error"),
]
SYSTEM_FILES = ["/proc/self/mem"]  # a regular file whose read fails (EIO), even for root

MATCH_ENTRIES = [
    ("heart", "Herz"),
    ("heart attack", "Herzinfarkt"),
    ("café", "Café"),
    ("cat", "Katze"),
    ("a b", "X"),
    ("b c d", "Y"),
    ("c", "Z"),
    ("straße", "street"),
    ("ǅemal", "x"),
    ("ﬁre", "Feuer"),
    ("x²", "sq"),
    ("١٢٣", "digits"),
    ("Ⅻ", "twelve"),
    ("नमस्ते", "hello"),
    ("e\u0301t\u00e9", "summer"),
    ("ΣΊΣΥΦΟΣ", "s"),
]
MATCH_TEXTS = [
    "A HEART attack at the Cafe\u0301? No: a category, a cat.",
    "ＣＡＦÉ",
    "a b c d",
    "STRASSE Straße strasse",
    "DŽEMAL ǆemal",
    "fire FIRE ﬁre",
    "x2 x² X²",
    "١٢٣ 123",
    "ⅻ XII",
    "नमस्ते दुनिया",
    "été ÉTÉ",
    "σίσυφος ΣΊΣΥΦΟΣ",
    "under_score heart_attack",
    "",
    "  ",
    "İstanbul ǰ ẞ",
]
SEGMENT_TEXTS = [
    ("a b c.", 8),
    ("One two three. Four five! Six seven eight? Nine.", 6),
    ("w " * 20 + "end.", 8),
    ("Hi. There! Ok? Done\u3002 End", 3),
    ("a.\u00a0b c.\x1cd e.\u2028f g.\u200bh i.\x85j", 3),
    ("x\u2026\u3000y z\uff01\ty w\uff1f\n\nv", 3),
    ("it's a very long sentence with 'quotes' and \"double\" ones.", 4),
    ("\u00e9" * 50 + " z.", 2),
    ("long \U0001f600 emoji sentence here with \x07 bell and more words.", 4),
    ("a. b. c. d. e. f.", 2),
    ("..  . ! ?", 2),
    ("", 3),
    ("a b", 1),
]
REPRS = [
    "plain",
    "it's",
    'say "hi"',
    "both ' and \"",
    "tab\tnl\nret\r",
    "\x00\x1f\x7f\x80\xa0\xad",
    "\u2028\u200b\ufeff",
    "\U0001f600\U000e0001",
    "\\back",
    "é中文",
    "\ud800x",
]


def term_cases() -> list[dict]:
    rng = random.Random(3)
    pool = [
        "Haus",
        "haus",
        "ßtraße",
        "élan",
        "Krankenhaus",
        "x",
        "",
        " ",
        "ǆungla",
        "ŉ",
        "İstanbul",
        "\u2009pad",
        "a b",
        "ab",
        "Ab",
        "zz top",
        "q",
    ]

    def pieces(text: str) -> list[str]:
        out = []
        for w in text.split(" "):
            out += [("\u2581" if i == 0 else "") + w[i : i + 3] for i in range(0, len(w), 3)]
        return out

    every = sorted({p for f in pool for v in (f, f[:1].upper() + f[1:]) for p in pieces(v.strip())})
    cases = []
    for _ in range(150):
        vocab = {p: i for i, p in enumerate(q for q in every if rng.random() < 0.8)}
        if rng.random() < 0.5:
            vocab["\u2581"] = len(vocab)
        if rng.random() < 0.2:
            vocab[""] = len(vocab)
        targets = tuple(rng.choice(pool) for _ in range(rng.randint(0, 3)))
        term = Term(rng.choice(["Haus", "it's", "x"]), targets)

        class Tok:
            piece_to_id = vocab

            @staticmethod
            def target_pieces(text: str) -> list[str]:
                return pieces(text)

        tc, warning = term_constraint(term, Tok)  # type: ignore[arg-type]
        case: dict = {"source": term.source, "targets": list(targets), "vocab": vocab}
        if tc is None:
            case["warning"] = warning
        else:
            case["alternatives"] = [list(a) for a in tc.constraint.alternatives]
            case["proposed"] = list(tc.constraint.proposed)
            case["forms"] = list(tc.forms)
        cases.append(case)
    return cases


def fuzz_json(count: int) -> list[list]:
    """Random near-JSON lines: ``json.loads``'s error message for each, or None when it parses."""
    rng = random.Random(5)
    atoms = [
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        '"a"',
        '"',
        "1",
        "-",
        "0",
        ".5",
        "e3",
        "null",
        "nul",
        "true",
        "NaN",
        "-Infinity",
        " ",
        "\t",
        "\\u00e9",
        "\\x",
        "01",
        '"\x01"',
        "'a'",
        "\n",
    ]
    out = []
    for _ in range(count):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 8)))
        text = text.replace("\\t", "\t").replace("\\n", "\n")
        try:
            json.loads(text)
            out.append([text, None])
        except json.JSONDecodeError as exc:
            out.append([text, exc.msg])
    return out


def fuzz_csv(count: int) -> list[dict]:
    """Random text over the characters the csv parser treats specially: its records, or its error."""
    import csv
    import io

    rng = random.Random(6)
    out = []
    for _ in range(count):
        text = "".join(rng.choice('ab",\t\n\r #') for _ in range(rng.randint(0, 14)))
        delimiter = rng.choice(",\t")
        rows: list = []
        error = None
        try:
            for row in csv.reader(io.StringIO(text), delimiter=delimiter):
                rows.append(row)
        except csv.Error as exc:
            error = str(exc)
        out.append({"text": text, "delimiter": delimiter, "rows": rows, "error": error})
    return out


def encode(text: str) -> list[int]:
    return [len(w) + 1 for w in text.split()] + [0]


def main() -> None:
    files = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, content, on_conflict in FILES:
            path = d / name
            path.write_bytes(content.data() if isinstance(content, Big) else content)
            case: dict = {"name": name, "on_conflict": on_conflict}
            if isinstance(content, Big):
                case["content_parts"] = [[base64.b64encode(part).decode(), count] for part, count in content]
            else:
                case["content"] = base64.b64encode(content).decode()
            try:
                g = load_glossary(path, "en", "de", on_conflict)
                terms = [[t.source, list(t.targets), t.note] for t in g.terms]
                if isinstance(content, Big):
                    case["terms_sha256"] = terms_digest(terms)
                else:
                    case["terms"] = terms
                case["warnings"] = [w.replace(str(d), "{dir}") for w in g.warnings]
            except InputError as exc:
                case["error"] = str(exc).replace(str(d), "{dir}")
            except Exception as exc:  # not an InputError: Python lets it through (csv.Error)
                case["raw_error"] = str(exc)
            files.append(case)
        for name in SYSTEM_FILES:
            try:
                load_glossary(name, "en", "de")
                raise AssertionError(f"{name} was read")
            except InputError as exc:
                files.append(
                    {"name": name, "system": True, "content": None, "on_conflict": "error", "error": str(exc)}
                )
        missing = d / "missing.tsv"
        try:
            load_glossary(missing, "en", "de")
        except InputError as exc:
            files.append(
                {
                    "name": "missing.tsv",
                    "content": None,
                    "on_conflict": "error",
                    "error": str(exc).replace(str(d), "{dir}"),
                }
            )
    glossary = Glossary.from_terms([Term(s, (t,)) for s, t in MATCH_ENTRIES], on_conflict="last")
    matches = [
        {
            "text": t,
            "words": words(t),
            "matches": [[m.term.source, m.start_word, m.end_word] for m in glossary.match(t)],
        }
        for t in MATCH_TEXTS + [s for s, _ in MATCH_ENTRIES]
    ]
    segments = []
    for text, max_len in SEGMENT_TEXTS:
        try:
            seg = segment(text, encode, max_len, 0)
            segments.append(
                {
                    "text": text,
                    "max_len": max_len,
                    "pieces": seg.pieces,
                    "texts": seg.texts,
                    "warnings": seg.warnings,
                }
            )
        except ValueError as exc:
            segments.append({"text": text, "max_len": max_len, "error": str(exc)})
    data = {
        "files": files,
        "entries": [list(e) for e in MATCH_ENTRIES],
        "matches": matches,
        "segments": segments,
        "terms": term_cases(),
        "reprs": [[s, repr(s)] for s in REPRS],
        "json": fuzz_json(400),
        "csv": fuzz_csv(400),
    }
    OUT.write_text(json.dumps(data, ensure_ascii=True, indent=None) + "\n")
    print(
        f"wrote {OUT}: {len(files)} files, {len(matches)} texts, {len(segments)} segmentations, {len(data['terms'])} terms"
    )


if __name__ == "__main__":
    main()
