"""The Java engine translates token for token like the Python runtime, on the real built-in models.

For each built-in bundle (ONNX backend) a few hundred deterministic inputs (Multi30k-style captions in
the source language, plus long lines that must be split, punctuation, numbers, other scripts, empty
lines) are translated greedily, with beam 4, and with beam 4 under a random glossary (multi-token
terms, several alternatives, nested and overlapping source terms, targets drawn from the target
vocabulary). Each mode streams all inputs through one ``pocketmt-java translate --json`` process (one
JVM, one step server) while the Python ``Translator`` translates the same inputs here; token ids,
text, terms (with their spelling), constraints_dropped, the short_output and coverage_lost flags and the
per-input warnings must all be identical.

A second test proves the comparison can fail: a copy of the engine with one search rule changed
(ties broken towards the higher index) must differ on some inputs.

``POCKETMT_PARITY_N`` sets the inputs per bundle (default 500: about 17 minutes for the file on two
shared cores at a load average near 10, nearly all of it the two sides' model calls; 100 for a quick run).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
ENGINE = REPO / "android-demo" / "engine"
JSON_JAR = Path(os.environ.get("POCKETMT_JSON_JAR", "/usr/share/java/com.android.json.jar"))
N_INPUTS = int(os.environ.get("POCKETMT_PARITY_N", "500"))
BUNDLES = ("en-de", "de-en", "en-cs")
MODES = {"greedy": 1, "beam4": 4, "constrained4": 4}

pytestmark = [
    pytest.mark.skipif(shutil.which("javac") is None, reason="javac not found (install OpenJDK 17)"),
    pytest.mark.skipif(
        not JSON_JAR.is_file(), reason=f"{JSON_JAR} not found (apt-get install libandroid-json-java)"
    ),
]

# ------------------------------------------------------------------ inputs
CAPTIONS = {
    "en": {
        "subjects": [
            "A man",
            "A woman",
            "A young boy",
            "A little girl",
            "Two men",
            "A group of people",
            "A dog",
            "Two dogs",
            "A black dog",
            "A brown dog",
            "An older man",
            "A woman in a red dress",
            "A man in a blue shirt",
            "Three children",
            "A crowd",
            "A soccer player",
            "A cyclist",
            "A young woman with long hair",
            "A small child",
            "Two young girls",
        ],
        "verbs": [
            "is running",
            "is walking",
            "is sitting",
            "is playing",
            "stands",
            "jumps",
            "is riding a bike",
            "is playing guitar",
            "is climbing a rock",
            "is reading a book",
            "is eating",
            "looks at the camera",
            "is throwing a ball",
            "is swimming",
        ],
        "places": [
            "on the street",
            "in the park",
            "on the beach",
            "through the snow",
            "in the water",
            "on the grass",
            "in front of a building",
            "at a market",
            "near a fountain",
            "on a stage",
            "in a field",
            "down a hill",
        ],
        "extras": ["", "", "", " while it is raining", " with a ball", " at night", " next to a car"],
        "terms": [
            "dog",
            "man",
            "woman",
            "street",
            "snow",
            "park",
            "ball",
            "guitar",
            "a dog",
            "the snow",
            "black dog",
            "two dogs",
            "in the park",
            "young boy",
            "blue shirt",
            "shirt",
            "a man in a blue shirt",
            "young woman",
            "woman with long hair",
            "long hair",
            "red dress",
            "beach",
            "water",
            "bike",
            "riding a bike",
            "camera",
            "rock",
            "market",
            "crowd",
            "children",
        ],
    },
    "de": {
        "subjects": [
            "Ein Mann",
            "Eine Frau",
            "Ein kleiner Junge",
            "Ein kleines Mädchen",
            "Zwei Männer",
            "Eine Gruppe von Menschen",
            "Ein Hund",
            "Zwei Hunde",
            "Ein schwarzer Hund",
            "Ein brauner Hund",
            "Ein älterer Mann",
            "Eine Frau in einem roten Kleid",
            "Ein Mann in einem blauen Hemd",
            "Drei Kinder",
            "Eine Menschenmenge",
            "Ein Fußballspieler",
            "Ein Radfahrer",
            "Eine junge Frau mit langen Haaren",
            "Ein kleines Kind",
            "Zwei junge Mädchen",
        ],
        "verbs": [
            "läuft",
            "geht",
            "sitzt",
            "spielt",
            "steht",
            "springt",
            "fährt Fahrrad",
            "spielt Gitarre",
            "klettert auf einen Felsen",
            "liest ein Buch",
            "isst",
            "schaut in die Kamera",
            "wirft einen Ball",
            "schwimmt",
        ],
        "places": [
            "auf der Straße",
            "im Park",
            "am Strand",
            "durch den Schnee",
            "im Wasser",
            "auf dem Gras",
            "vor einem Gebäude",
            "auf einem Markt",
            "neben einem Brunnen",
            "auf einer Bühne",
            "auf einem Feld",
            "einen Hügel hinunter",
        ],
        "extras": ["", "", "", " im Regen", " mit einem Ball", " in der Nacht", " neben einem Auto"],
        "terms": [
            "Hund",
            "Mann",
            "Frau",
            "Straße",
            "Schnee",
            "Park",
            "Ball",
            "Gitarre",
            "ein Hund",
            "den Schnee",
            "schwarzer Hund",
            "zwei Hunde",
            "im Park",
            "kleiner Junge",
            "blauen Hemd",
            "Hemd",
            "ein Mann in einem blauen Hemd",
            "junge Frau",
            "Frau mit langen Haaren",
            "langen Haaren",
            "roten Kleid",
            "Strand",
            "Wasser",
            "Fahrrad",
            "fährt Fahrrad",
            "Kamera",
            "Felsen",
            "Markt",
            "Menschenmenge",
            "Kinder",
        ],
    },
}

ODD = [
    "",
    "   ",
    "...",
    "!!!",
    "?!",
    "- - -",
    "(a) [b] {c}",
    "„Hallo“, sagte er.",
    "«Bonjour»",
    '"Quoted" text.',
    "A dog -- running!",
    "Wait... what?",
    "3 dogs and 12 cats.",
    "1,234.56",
    "2026-12-01",
    "Call 555-0199 now.",
    "Room 101",
    "42",
    "Кошка сидит на окне.",
    "猫が座っている。",
    "القط يجلس",
    "Η γάτα κάθεται.",
    "🐕🐕🐕",
    "A dog 🐕 runs.",
    "ℌ𝔢𝔩𝔩𝔬",
    "ﬁne ﬂowers",
    "\u00a0A dog\u00a0",
    "A\tdog\truns.",
    "A dog\u2028runs.",
    "A dog\rruns.",
    "ÀÉÎÕÜ ß ẞ",
    "e\u0301te\u0301",
    ">>de<< A dog runs.",
]


def caption(rng: random.Random, lang: str) -> str:
    c = CAPTIONS[lang]
    s = f"{rng.choice(c['subjects'])} {rng.choice(c['verbs'])} {rng.choice(c['places'])}{rng.choice(c['extras'])}"
    style = rng.random()
    if style < 0.08:
        return s.lower()  # no capital, no full stop
    if style < 0.12:
        return s.upper() + "!"
    return s + "."


def make_inputs(lang: str, n: int, seed: int) -> list[str]:
    """Mostly captions; about one in eight odd; a few long lines that segmentation must split or cut."""
    rng = random.Random(seed)
    out: list[str] = []
    long_lines = max(2, n // 60)
    for i in range(n):
        if i % 8 == 7:
            odd = rng.choice(ODD)
            out.append(odd if rng.random() < 0.6 else f"{caption(rng, lang)} {odd}")
        elif i % (n // long_lines) == n // long_lines - 1:
            sentences = [caption(rng, lang) for _ in range(rng.randint(10, 16))]
            if i % 3 == 0:  # one sentence of more than max_source_len tokens: cut, with a warning
                out.append(", and ".join(s.rstrip(".!") for s in sentences) * 2)
            else:
                out.append(" ".join(sentences))
        else:
            out.append(caption(rng, lang))
    return out


def target_words(vocab: dict[str, int], rng: random.Random, k: int) -> list[str]:
    """Whole-word pieces of the target vocabulary (``▁Haus``), and a few compounds of two pieces."""
    starts = sorted(p[1:] for p in vocab if p.startswith("\u2581") and len(p) > 3 and p[1:].isalpha())
    tails = sorted(p for p in vocab if not p.startswith("\u2581") and len(p) > 2 and p.isalpha())
    words = rng.sample(starts, k)
    return [w + rng.choice(tails) if rng.random() < 0.25 else w for w in words]


# targets the vocabulary spells only in byte pieces (docs/decoding.md section 1.5): per term index, the
# forms that replace (dog) or join (snow) the random ones, so spelling and coverage_lost are compared too
SCRIPT_FORMS = {0: ("\u0421\u043e\u0431\u0430\u043a\u0430", True), 4: ("\u96ea", False)}


def make_glossary(path: Path, lang: str, vocab: dict[str, int], seed: int) -> Path:
    """One line per source term: one to three target forms of one to three words each."""
    rng = random.Random(seed)
    pool = target_words(vocab, rng, 200)
    lines = []
    for i, source in enumerate(CAPTIONS[lang]["terms"]):
        forms = [" ".join(rng.sample(pool, rng.choice([1, 1, 2, 3]))) for _ in range(rng.choice([1, 2, 3]))]
        if i in SCRIPT_FORMS:
            form, alone = SCRIPT_FORMS[i]
            forms = [form] if alone else [*forms, form]
        lines.append(f"{source}\t{'|'.join(dict.fromkeys(forms))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ both sides
def build_engine(sources: Path, out: Path) -> str:
    """Compile the engine's main sources into ``out``; the classpath that runs its command line."""
    classes = out / "classes"
    classes.mkdir(parents=True)
    files = sorted(str(p) for p in (sources / "src" / "main" / "java").rglob("*.java"))
    subprocess.run(
        ["javac", "--release", "17", "-encoding", "UTF-8", "-nowarn", "-Xlint:-options", "-d", str(classes),
         "-cp", str(JSON_JAR), *files],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    resources = sources / "src" / "main" / "resources"
    if resources.is_dir():
        shutil.copytree(resources, classes, dirs_exist_ok=True)
    return f"{classes}{os.pathsep}{JSON_JAR}"


@dataclass
class JavaRun:
    results: list[dict[str, Any]]
    warnings: list[str]  # "input N: ..." lines, the program name removed
    code: int
    stderr: str


def start_java(classpath: str, bundle: Path, beam: int, glossary: Path | None, inputs: list[str]) -> Any:
    """Run one ``translate --json`` over all inputs in a thread; call the result to wait for it."""
    cmd = ["java", "-cp", classpath, "org.pocketmt.engine.cli.Main", "translate", "--bundle", str(bundle),
           "--backend", "onnx", "--beam", str(beam), "--json"]  # fmt: skip
    if glossary is not None:
        cmd += ["--glossary", str(glossary)]
    env = dict(
        os.environ, POCKETMT_PYTHON=os.environ.get("POCKETMT_PYTHON", shutil.which("python") or "python3")
    )
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    box: dict[str, Any] = {}

    def talk() -> None:
        data = "".join(text + "\n" for text in inputs).encode("utf-8")
        box["out"], box["err"] = proc.communicate(data, timeout=3600)

    thread = threading.Thread(target=talk, daemon=True)
    thread.start()

    def wait() -> JavaRun:
        thread.join()
        out, err = box["out"].decode("utf-8"), box["err"].decode("utf-8")
        prefix = "pocketmt-java: warning: "
        # lines end at "\n" only: a JSON line may hold U+2028 or U+0085, which str.splitlines() would split at
        warnings = [line[len(prefix) :] for line in err.split("\n") if line.startswith(prefix + "input ")]
        results = [json.loads(line) for line in out.split("\n") if line]
        return JavaRun(results, warnings, proc.returncode, err)

    return wait


def python_results(
    translator: Any, beam: int, glossary: Any, inputs: list[str]
) -> tuple[list[Any], list[str]]:
    from pocketmt.runtime.translator import TranslateOptions

    results, warnings = [], []
    for number, text in enumerate(inputs, start=1):
        r = translator.translate_one(text, TranslateOptions(beam_size=beam), glossary)
        results.append(r)
        warnings += [f"input {number}: {w}" for w in r.warnings]
        if r.constraints_dropped:
            warnings.append(
                f"input {number}: the glossary terms could not all be produced; translated without them"
            )
    return results, warnings


def same(java: dict[str, Any], py: Any) -> bool:
    terms = [t.to_json() for t in py.terms]  # source, required, produced, spelling
    return (
        java["token_ids"] == py.token_ids
        and java["short_output"] == py.short_output
        and java["coverage_lost"] == py.coverage_lost
        and java["text"] == py.text
        and java["constraints_dropped"] == py.constraints_dropped
        and java["terms"] == terms
        and java["segments"] == py.segments
        and java["finished"] == py.finished
    )


def describe(text: str, java: dict[str, Any], py: Any) -> str:
    return f"{text[:60]!r}: java {java['token_ids']} {java['text']!r} / python {py.token_ids} {py.text!r}"


@pytest.fixture(scope="module")
def engine_classpath(tmp_path_factory: pytest.TempPathFactory) -> str:
    # a private build: other shells may be rebuilding android-demo/engine/build meanwhile
    return build_engine(ENGINE, tmp_path_factory.mktemp("engine"))


def run_parity(
    classpath: str, pair: str, inputs: list[str], glossary_file: Path, modes: dict[str, int]
) -> dict[str, tuple[int, list[str], str]]:
    """Per mode: how many inputs are identical, descriptions of the others (warnings included), and how many
    inputs carry each flag of docs/decoding.md section 1.5."""
    from pocketmt.runtime.glossary import load_glossary
    from pocketmt.runtime.translator import Translator

    bundle = REPO / "sdk" / "models" / pair
    translator = Translator(bundle, "onnx")
    src, tgt = pair.split("-")
    glossary = load_glossary(glossary_file, src, tgt, "error")
    report: dict[str, tuple[int, list[str], str]] = {}
    for mode, beam in modes.items():
        constrained = mode.startswith("constrained")
        # Java and Python at once: the machine's two cores each run one side
        wait = start_java(classpath, bundle, beam, glossary_file if constrained else None, inputs)
        py, py_warnings = python_results(translator, beam, glossary if constrained else None, inputs)
        java = wait()
        assert java.code == 0, java.stderr[-2000:]
        assert len(java.results) == len(inputs), java.stderr[-2000:]
        diffs = [
            describe(t, j, p) for t, j, p in zip(inputs, java.results, py, strict=True) if not same(j, p)
        ]
        if java.warnings != py_warnings:
            diffs.append(f"warnings differ: java {java.warnings[:3]} / python {py_warnings[:3]}")
        identical = sum(same(j, p) for j, p in zip(java.results, py, strict=True))
        flags = (
            f"{sum(bool(p.short_output) for p in py)} short_output, {sum(bool(p.coverage_lost) for p in py)} "
            f"coverage_lost, {sum(any(t.spelling != 'ok' for t in p.terms) for p in py)} with a term not spelled ok, "
            f"{sum(p.segments > 1 for p in py)} of several sentences"
        )
        report[mode] = (identical, diffs, flags)
    return report


@pytest.mark.parametrize("pair", BUNDLES)
def test_java_engine_matches_python_on_the_built_in_model(
    pair: str, engine_classpath: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, _ = pair.split("-")
    inputs = make_inputs(src, N_INPUTS, seed=1000 + BUNDLES.index(pair))
    vocab = json.loads((REPO / "sdk" / "models" / pair / "vocab.json").read_text("utf-8"))
    glossary = make_glossary(tmp_path / "glossary.tsv", src, vocab, seed=2000 + BUNDLES.index(pair))
    report = run_parity(engine_classpath, pair, inputs, glossary, MODES)
    with capsys.disabled():
        for mode, (identical, _, flags) in report.items():
            print(f"\njava parity {pair} {mode}: {identical} of {len(inputs)} identical ({flags})")
    for mode, (identical, diffs, _) in report.items():
        assert not diffs, f"{pair} {mode}: {len(inputs) - identical} differ, e.g. " + "; ".join(diffs[:3])


# ------------------------------------------------------------------ the comparison can fail
BREAK = (
    "search/BeamSearch.java",
    # section 3: finished hypotheses are ranked by score / length ** alpha; the broken copy drops the division
    "return score / (float) Math.pow(length, alpha);",
    "return score;",
)


def test_parity_catches_a_changed_search_rule(tmp_path: Path) -> None:
    """Beam search without length normalisation (section 3): some inputs must then differ."""
    copy = tmp_path / "engine"
    shutil.copytree(ENGINE / "src", copy / "src")
    path = copy / "src" / "main" / "java" / "org" / "pocketmt" / "engine" / BREAK[0]
    code = path.read_text("utf-8")
    assert BREAK[1] in code, f"{BREAK[0]} no longer has {BREAK[1]!r}: update the break-it rule"
    path.write_text(code.replace(BREAK[1], BREAK[2]), "utf-8")
    classpath = build_engine(copy, tmp_path / "build")
    inputs = make_inputs("en", 60, seed=1000)
    vocab = json.loads((REPO / "sdk" / "models" / "en-de" / "vocab.json").read_text("utf-8"))
    glossary = make_glossary(tmp_path / "glossary.tsv", "en", vocab, seed=2000)
    report = run_parity(classpath, "en-de", inputs, glossary, {"beam4": 4})
    identical, diffs, _ = report["beam4"]
    print(
        f"\nbroken engine (no length normalisation), beam 4: {len(inputs) - identical} of {len(inputs)} differ"
    )
    assert diffs, "a search without length normalisation gave identical results: the parity test cannot fail"
