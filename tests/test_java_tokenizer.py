"""The phone engine's Java tokenizer gives the same ids and texts as the Python runtime's.

Builds android-demo/engine, streams seeded random strings through its TokenizeTool (one JVM per
bundle) and compares every answer with ``pocketmt.runtime.tokenizer.MarianTokenizer``: encode ids
and pieces, decode of the encoded ids, decode and source_text of random id sequences (byte pieces,
unk, eos, pad and ids outside the vocabulary among them), target pieces, the word-continuation and
word-end id sets, and Python's isalnum/isspace over every code point.

Run alone: ``pytest tests/test_java_tokenizer.py -q -rP`` (``-rP`` shows the parity counts).
Regenerate the isalnum table after a Python/Unicode upgrade:
``python tests/test_java_tokenizer.py --write-isalnum``; the two tiny models the Java unit tests and
this test also use (user-defined symbols, no byte fallback, other whitespace options):
``python tests/test_java_tokenizer.py --write-tiny-models``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "android-demo" / "engine"
JSON_JAR = Path("/usr/share/java/com.android.json.jar")
ISALNUM_TABLE = ENGINE / "src/main/resources/org/pocketmt/engine/tokenizer/python-isalnum.txt"
TINY_MODELS = ENGINE / "src/test/resources/org/pocketmt/engine/tokenizer"
# options the built-in bundles do not exercise: user-defined symbols and merged unknowns without
# byte fallback, no whitespace squeezing; byte fallback with a whitespace suffix and a control symbol
TINY_MODEL_OPTIONS: dict[str, dict[str, Any]] = {
    "tiny-udf": {
        "user_defined_symbols": ["<sep>", "foo"],
        "byte_fallback": False,
        "add_dummy_prefix": True,
        "remove_extra_whitespaces": False,
        "vocab_size": 120,
    },
    "tiny-bytes": {
        "byte_fallback": True,
        "add_dummy_prefix": False,
        "remove_extra_whitespaces": True,
        "treat_whitespace_as_suffix": True,
        "control_symbols": ["<ctl>"],
        "vocab_size": 400,
    },
}
BUNDLES = ["en-de", "de-en", "en-cs"]
# more (and another seed) for a longer soak: POCKETMT_JAVA_TOKENIZER_STRINGS=100000 POCKETMT_JAVA_TOKENIZER_SEED=7
STRINGS_PER_BUNDLE = int(os.environ.get("POCKETMT_JAVA_TOKENIZER_STRINGS", "10000"))
RANDOM_ID_SEQUENCES = max(3_000, STRINGS_PER_BUNDLE // 3)
SEED = int(os.environ.get("POCKETMT_JAVA_TOKENIZER_SEED", "20261201"))

# ---------------------------------------------------------------- the random strings


def _chars(first: int, last: int) -> list[str]:
    return [chr(c) for c in range(first, last + 1)]


LATIN = _chars(0x41, 0x5A) + _chars(0x61, 0x7A) + list("0123456789")
DIACRITICS = _chars(0xC0, 0xFF) + _chars(0x100, 0x17F) + list("ẞṡḍạệ")
GERMAN_WORDS = ["Straße", "Größe", "über", "Fußgänger", "Äpfel", "öffentlich", "heißen", "Mädchen", "Bär"]
CYRILLIC = _chars(0x410, 0x44F) + list("ёЁїієґ")
GREEK = _chars(0x391, 0x3A9) + _chars(0x3B1, 0x3C9) + list("άέήίόύώΐΰς")
CJK = _chars(0x4E00, 0x4FFF) + _chars(0x3040, 0x309F) + _chars(0x30A0, 0x30FF) + _chars(0xAC00, 0xAC80)
ARABIC = _chars(0x621, 0x64A) + _chars(0x64B, 0x652) + list("٠١٢٣ﻻﷲ") + _chars(0x5D0, 0x5EA)
OTHER_SCRIPTS = _chars(0x905, 0x939) + list("्ािी") + _chars(0xE01, 0xE2E) + list("ัิ่้")
EMOJI = _chars(0x1F600, 0x1F64F) + [
    "👍🏽",
    "👋🏿",
    "🧑🏻‍💻",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "❤️",
    "🇩🇪",
    "🇬🇧",
    "1️⃣",
    "🤷‍♀️",
    "✌🏼",
]
COMBINING = _chars(0x300, 0x36F) + list("\u20d7\u0488\u1ab0\u1dc0\ufe20")
# characters NFKC (and so nmt_nfkc) rewrites: ligatures, full/half width, compatibility forms
NFKC = (
    list("ﬁﬂﬀﬃﬄﬅﬆ")
    + _chars(0xFF01, 0xFF5E)
    + _chars(0xFF61, 0xFF9F)
    + list("①②⑩⑴⒜²³¹½¼¾ℌℍ™℃℉㎏㎞㍻㌀Ⅻⅻµſǅǈǋ…‥‼⁇ﹰﹼﺀ︰︵ªº")
    + _chars(0x3131, 0x318E)
    + _chars(0x1D400, 0x1D433)
    + list("Å\u212b\u2126\u00c5\u0041\u030a\u1e9b\u0323")
)
SPACES = list(" \t\n\r\x0b\x0c\u00a0\u3000\u2000\u2002\u2003\u2009\u200a\u202f\u205f\u1680\u2028\u2029\u0085")
INVISIBLE = list("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u061c")
CONTROLS = _chars(0x00, 0x08) + _chars(0x0E, 0x1F) + ["\x7f"] + _chars(0x80, 0x9F)
ODD = list("\ufffd\ufffe\uffff\U0010ffff\U000e0001\ue000\U000f0000\u0378\u2fff") + list(
    "<>▁_@#$%^&*()[]{}|\\/\"'`~"
)
LANG_CODES = [">>de<<", ">>en<<", ">>fr<<", ">>xx<<", ">><<", ">>de", ">>>de<<", ">>de<<<", ">> de <<"]

POOLS = [LATIN, DIACRITICS, CYRILLIC, GREEK, CJK, ARABIC, OTHER_SCRIPTS, EMOJI, COMBINING, NFKC, SPACES]
POOLS += [INVISIBLE, CONTROLS, ODD]


def _random_code_point(rng: random.Random) -> str:
    """Any scalar value (Python cannot encode lone surrogates to UTF-8, so none of them)."""
    while True:
        cp = rng.choice(
            [rng.randrange(0x80), rng.randrange(0x800), rng.randrange(0x10000), rng.randrange(0x110000)]
        )
        if not 0xD800 <= cp <= 0xDFFF:
            return chr(cp)


def _word(rng: random.Random, vocab_words: list[str]) -> str:
    kind = rng.random()
    if kind < 0.35:
        # glued vocabulary pieces: many competing segmentations, so Viterbi scores and ties matter
        return "".join(rng.choice(vocab_words) for _ in range(rng.randint(1, 4)))
    if kind < 0.45:
        return rng.choice(GERMAN_WORDS)
    if kind < 0.9:
        pool = rng.choice(POOLS)
        return "".join(rng.choice(pool) for _ in range(rng.randint(1, 8)))
    if kind < 0.95:
        return "".join(_random_code_point(rng) for _ in range(rng.randint(1, 5)))
    # a very long word
    pool = rng.choice([LATIN, DIACRITICS, CJK, CYRILLIC, EMOJI])
    return "".join(rng.choice(pool) for _ in range(rng.randint(40, 300)))


def _separator(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return " "
    return "".join(rng.choice(SPACES + INVISIBLE + CONTROLS[:3]) for _ in range(rng.randint(1, 5)))


def random_strings(n: int, seed: int, vocab_words: list[str]) -> list[str]:
    rng = random.Random(seed)
    fixed = [
        "",
        " ",
        "\t\n",
        "\u3000",
        "a",
        ">>de<<",
        ">>de<< ",
        ">>de<<Hallo",
        "▁",
        "▁▁a▁",
        "<unk>",
        "</s>",
        "<s>",
    ]
    fixed += ["<0x41>", "\x00", "\ufeff", "ﬁ", "Ａ", "①", "👨‍👩‍👧‍👦", "e\u0301", "\u0301", "  a  b  "]
    out = fixed[:]
    while len(out) < n:
        parts = []
        if rng.random() < 0.1:
            parts.append(rng.choice(LANG_CODES) + rng.choice(["", " ", "  "]))
        if rng.random() < 0.15:
            parts.append(_separator(rng))
        for i in range(rng.randint(0, 12)):
            if i:
                parts.append(_separator(rng))
            parts.append(_word(rng, vocab_words))
        if rng.random() < 0.15:
            parts.append(_separator(rng))
        out.append("".join(parts))
    return out


def random_id_sequences(n: int, seed: int, vocab_size: int, special: list[int]) -> list[list[int]]:
    rng = random.Random(seed)
    byte_ids = list(range(2, 258))  # <0x00>..<0xFF> in both built-in vocabularies
    out: list[list[int]] = [[], special[:1], special]
    while len(out) < n:
        seq = []
        for _ in range(rng.randint(0, 30)):
            r = rng.random()
            if r < 0.55:
                seq.append(rng.randrange(vocab_size))
            elif r < 0.85:
                seq.append(rng.choice(byte_ids))
            elif r < 0.95:
                seq.append(rng.choice(special))
            else:
                seq.append(rng.choice([vocab_size, vocab_size + 7, -1]))  # not in the vocabulary
        out.append(seq)
    return out


# ---------------------------------------------------------------- the Java side


@pytest.fixture(scope="module")
def engine_classpath() -> str:
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("javac/java not found (install OpenJDK 17)")
    if not JSON_JAR.is_file():
        pytest.skip(f"{JSON_JAR} not found (apt-get install libandroid-json-java)")
    build = subprocess.run([str(ENGINE / "build.sh")], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, f"engine build failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    return f"{ENGINE / 'build' / 'pocketmt-engine.jar'}:{JSON_JAR}"


def run_tool(classpath: str, bundle: Path, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All requests through one TokenizeTool process; one answer per request, in order."""
    lines = "".join(json.dumps(r) + "\n" for r in requests)
    proc = subprocess.run(
        ["java", "-cp", classpath, "org.pocketmt.engine.tokenizer.TokenizeTool", str(bundle)],
        input=lines.encode("utf-8"),
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-3000:]
    # split on "\n" only: answers may hold U+2028 or U+0085, which str.splitlines() also breaks at
    answers = [json.loads(line) for line in proc.stdout.decode("utf-8").split("\n") if line]
    assert len(answers) == len(requests), proc.stderr.decode("utf-8", "replace")[-3000:]
    return answers


def code_point_ranges(pred: Callable[[str], bool]) -> list[list[int]]:
    out: list[list[int]] = []
    start = -1
    for cp in range(0x110001):
        inside = cp < 0x110000 and pred(chr(cp))
        if inside and start < 0:
            start = cp
        elif not inside and start >= 0:
            out.append([start, cp - 1])
            start = -1
    return out


class Parity:
    """Counts identical answers per check and keeps the first few differences."""

    def __init__(self, bundle: str) -> None:
        self.bundle = bundle
        self.counts: dict[str, list[int]] = {}
        self.examples: list[str] = []

    def check(self, name: str, request: Any, python: Any, java: Any) -> None:
        same, total = self.counts.setdefault(name, [0, 0])
        self.counts[name] = [same + (python == java), total + 1]
        if python != java and len(self.examples) < 8:
            self.examples.append(f"{name} {request!r}:\n    python {python!r}\n    java   {java!r}")

    def report(self) -> str:
        return "; ".join(f"{self.bundle} {k}: {s} of {t} identical" for k, (s, t) in self.counts.items())


@pytest.mark.parametrize("bundle", BUNDLES)
def test_java_tokenizer_matches_python(bundle: str, engine_classpath: str) -> None:
    from pocketmt.runtime.tokenizer import MarianTokenizer

    d = ROOT / "sdk" / "models" / bundle
    manifest = json.loads((d / "manifest.json").read_text("utf-8"))["tokenizer"]
    py = MarianTokenizer(d / manifest["source_spm"], d / manifest["target_spm"], d / manifest["vocab"])
    vocab_words = [p.lstrip("\u2581") for p in py.piece_to_id if not p.startswith("<") and p.strip("\u2581")]
    texts = random_strings(STRINGS_PER_BUNDLE, SEED + BUNDLES.index(bundle), vocab_words)
    special = [py.unk_id, py.eos_id, py.pad_id]
    id_seqs = random_id_sequences(RANDOM_ID_SEQUENCES, SEED + 7, len(py.piece_to_id), special)
    py_ids = [py.encode(t) for t in texts]

    requests: list[dict[str, Any]] = [{"encode": t} for t in texts]
    requests += [{"decode": ids} for ids in py_ids]
    requests += [{"decode": ids} for ids in id_seqs]
    requests += [{"source_text": ids} for ids in id_seqs]
    requests += [{"target_pieces": t} for t in texts[:2000]]
    requests += [{"word_classes": True}, {"unicode": "isalnum"}, {"unicode": "isspace"}]
    answers = iter(run_tool(engine_classpath, d, requests))

    parity = Parity(bundle)
    for text, ids in zip(texts, py_ids, strict=True):
        got = next(answers)
        parity.check("encode ids", text, ids, got.get("ids", got))
        parity.check("encode pieces", text, py.pieces(text), got.get("pieces", got))
    for ids in py_ids:
        parity.check("decode(encode)", ids, py.decode(ids), next(answers).get("text"))
    for ids in id_seqs:
        parity.check("decode(random ids)", ids, py.decode(ids), next(answers).get("text"))
    for ids in id_seqs:
        parity.check("source_text(random ids)", ids, py.source_text(ids), next(answers).get("text"))
    for text in texts[:2000]:
        parity.check("target_pieces", text, py.target_pieces(text), next(answers).get("pieces"))
    classes = next(answers)
    parity.check("word_continuations", "", sorted(py.word_continuations), classes.get("continuations"))
    parity.check("word_ends", "", sorted(py.word_ends), classes.get("ends"))
    parity.check("isalnum code points", "", code_point_ranges(str.isalnum), next(answers).get("ranges"))
    parity.check("isspace code points", "", code_point_ranges(str.isspace), next(answers).get("ranges"))

    print(parity.report())
    assert not parity.examples, parity.report() + "\nfirst differences:\n" + "\n".join(parity.examples)


def write_isalnum_table() -> None:
    lines = [
        f"# str.isalnum() of Python (Unicode {unicodedata.unidata_version}) as code point ranges, first-last in hex.",
        "# Written by: python tests/test_java_tokenizer.py --write-isalnum (the test checks every code point).",
    ]
    lines += [f"{a:X}-{b:X}" for a, b in code_point_ranges(str.isalnum)]
    ISALNUM_TABLE.write_text("\n".join(lines) + "\n", "utf-8")


def write_tiny_models() -> None:
    import io

    import sentencepiece as spm

    rng = random.Random(1)
    words = "the quick brown fox jumps over lazy dog Straße über Größe привет мир γειά σου foo bar baz <sep> 12 345 6789"
    lines = [" ".join(rng.choice(words.split()) for _ in range(rng.randint(3, 12))) for _ in range(400)]
    for name, options in TINY_MODEL_OPTIONS.items():
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=model,
            model_type="unigram",
            normalization_rule_name="identity",  # nmt_nfkc's 240 KB charsmap is tested on the bundles
            hard_vocab_limit=False,
            character_coverage=1.0,
            minloglevel=2,
            **options,
        )
        (TINY_MODELS / f"{name}.spm").write_bytes(model.getvalue())


def tiny_bundle(name: str, into: Path) -> Path:
    """A directory TokenizeTool can load: the tiny model with a vocab.json of its own piece ids."""
    import sentencepiece as spm

    into.mkdir()
    shutil.copy(TINY_MODELS / f"{name}.spm", into / "source.spm")
    sp = spm.SentencePieceProcessor(model_file=str(into / "source.spm"))
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    tokenizer = {"kind": "marian-sentencepiece", "source_spm": "source.spm", "target_spm": "source.spm"}
    (into / "vocab.json").write_text(json.dumps(vocab), "utf-8")
    (into / "manifest.json").write_text(
        json.dumps({"tokenizer": {**tokenizer, "vocab": "vocab.json"}}), "utf-8"
    )
    return into


@pytest.mark.parametrize("name", list(TINY_MODEL_OPTIONS))
def test_java_tokenizer_matches_python_on_tiny_models(
    name: str, engine_classpath: str, tmp_path: Path
) -> None:
    from pocketmt.runtime.tokenizer import MarianTokenizer

    d = tiny_bundle(name, tmp_path / name)
    py = MarianTokenizer(d / "source.spm", d / "source.spm", d / "vocab.json")
    words = [p.strip("\u2581") for p in py.piece_to_id if p.strip("\u2581")] + [
        "<sep>",
        "foo",
        "<ctl>",
        "<0x41>",
    ]
    texts = random_strings(3000, SEED + 11, words)
    id_seqs = random_id_sequences(1000, SEED + 13, len(py.piece_to_id), [py.unk_id, py.eos_id, py.pad_id])
    py_ids = [py.encode(t) for t in texts]
    requests: list[dict[str, Any]] = [{"encode": t} for t in texts]
    requests += [{"decode": ids} for ids in py_ids + id_seqs]
    requests += [{"source_text": ids} for ids in id_seqs]
    answers = iter(run_tool(engine_classpath, d, requests))

    parity = Parity(name)
    for text in texts:
        parity.check("encode pieces", text, py.pieces(text), next(answers).get("pieces"))
    for ids in py_ids + id_seqs:
        parity.check("decode", ids, py.decode(ids), next(answers).get("text"))
    for ids in id_seqs:
        parity.check("source_text", ids, py.source_text(ids), next(answers).get("text"))
    print(parity.report())
    assert not parity.examples, parity.report() + "\nfirst differences:\n" + "\n".join(parity.examples)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-isalnum"]:
        write_isalnum_table()
    elif sys.argv[1:] == ["--write-tiny-models"]:
        write_tiny_models()
    else:
        sys.exit(f"usage: {sys.argv[0]} --write-isalnum | --write-tiny-models")
