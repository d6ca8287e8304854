"""``pip install pocketmt`` without the export extra: translate, verify, info and eval run on bundles with
ONNX graphs, with no torch, transformers or ExecuTorch; a command that needs the extra says which one, in
one line, exit 2; and translate streams stdin, one answer per line as soon as the line is in.

The lean install is simulated in a subprocess whose import system refuses every package of the export
extra (read from pyproject.toml), the way a missing package fails. benchmarks/install_sizes.sh checks
the same on real venvs.
"""

from __future__ import annotations

import json
import re
import select
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pocketmt.cli import COMMAND_EXTRAS, EXTRA_MODULES, build_parser

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "sdk" / "models"


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
BASE = {_requirement_name(r) for r in PROJECT["dependencies"]}
EXPORT = {_requirement_name(r) for r in PROJECT["optional-dependencies"]["export"]}
# what the lean subprocess cannot import: every package of the export extra (import names are the
# distribution names for all of them), and torch's own quantization library that ExecuTorch brings
BLOCKED = tuple(sorted(EXPORT | {"torchao"}))

# installs a finder that refuses the blocked packages, then runs the command line
PRELUDE = f"""
import sys
BLOCKED = {BLOCKED!r}
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Refuse())
from pocketmt.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not loaded, loaded
sys.exit(code)
"""


def lean(*argv: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``pocketmt ARGV`` as a lean install runs it."""
    return subprocess.run(
        [sys.executable, "-c", PRELUDE, *map(str, argv)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pocketmt: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --- the extras as pyproject.toml declares them ------------------------------------------------------


def test_the_export_extra_is_what_the_cli_knows_and_the_base_has_none_of_it() -> None:
    assert set(EXTRA_MODULES) == {"export"}
    assert set(EXTRA_MODULES["export"]) == EXPORT
    assert {"torch", "transformers", "executorch"} <= EXPORT
    assert not BASE & EXPORT
    assert "onnxruntime" in BASE
    # CI installs .[test]: the test tools and everything the export extra brings
    assert "pocketmt[export]" in PROJECT["optional-dependencies"]["test"]
    assert any(r.startswith("torch==") for r in PROJECT["optional-dependencies"]["export"]), "torch is pinned"


def test_the_commands_that_need_an_extra_exist() -> None:
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert set(COMMAND_EXTRAS) <= commands
    assert not {"translate", "verify", "info", "eval"} & set(COMMAND_EXTRAS)


# --- the lean runtime on bundles -----------------------------------------------------------------------


def _test_set(folder: Path, src: list[str], ref: list[str]) -> tuple[Path, Path]:
    (folder / "src.txt").write_text("\n".join(src) + "\n", encoding="utf-8")
    (folder / "ref.txt").write_text("\n".join(ref) + "\n", encoding="utf-8")
    return folder / "src.txt", folder / "ref.txt"


def test_lean_runtime_translates_verifies_and_evaluates_the_tiny_bundle(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert set(manifest["graphs"]) == {"executorch", "onnx"}, "the fixture has both, so the default is tested"

    by_onnx = assert_ok(lean("translate", "--bundle", tiny_bundle, "--backend", "onnx", "a dog runs"))
    # no --backend: ExecuTorch would be first, but it is not installed, so the bundle's ONNX graphs run
    by_default = assert_ok(lean("translate", "--bundle", tiny_bundle, "a dog runs"))
    assert by_default == by_onnx and by_onnx.strip()

    out = assert_ok(lean("verify", tiny_bundle, "--backend", "onnx"))
    assert "integrity:" in out and "onnx:" in out

    assert "Backend onnx" in assert_ok(lean("info", tiny_bundle))

    src, ref = _test_set(tmp_path, ["a dog runs", "two cats sleep"], ["a dog runs", "two cats sleep"])
    scores = json.loads(
        assert_ok(lean("eval", "--bundle", tiny_bundle, "--src", src, "--ref", ref, "--json"))
    )
    assert scores["backend"] == "onnx" and scores["sentences"] == 2


BUILT_IN = {
    "en-de": (
        ["A dog runs through the snow.", "Two children play on the beach."],
        ["Ein Hund läuft durch den Schnee.", "Zwei Kinder spielen am Strand."],
    ),
    "de-en": (
        ["Ein Hund läuft durch den Schnee.", "Zwei Kinder spielen am Strand."],
        ["A dog runs through the snow.", "Two children play on the beach."],
    ),
}


@pytest.mark.parametrize("pair", sorted(BUILT_IN))
def test_lean_runtime_runs_the_built_in_bundles(pair: str, tmp_path: Path) -> None:
    bundle = MODELS / pair
    src, ref = BUILT_IN[pair]
    # the built-in model by default, its backend chosen among those installed
    out = assert_ok(lean("translate", "--pair", pair, src[0]))
    assert out.strip() and out.strip() != src[0]
    assert assert_ok(lean("translate", "--bundle", bundle, "--backend", "onnx", src[0])) == out

    verified = assert_ok(lean("verify", bundle, "--backend", "onnx"))
    assert re.search(r"^onnx: ", verified, re.M), verified

    src_file, ref_file = _test_set(tmp_path, src, ref)
    scores = json.loads(
        assert_ok(
            lean(
                "eval",
                "--bundle",
                bundle,
                "--backend",
                "onnx",
                "--src",
                src_file,
                "--ref",
                ref_file,
                "--json",
            )
        )
    )
    assert scores["backend"] == "onnx" and scores["sentences"] == 2 and scores["bleu"] > 0


# --- what the lean install refuses, and how ----------------------------------------------------------


def test_export_on_a_lean_install_names_the_extra(tiny_model_dir: Path, tmp_path: Path) -> None:
    line = assert_one_line_error(
        lean("export", tiny_model_dir, "-o", tmp_path / "b"),
        "pocketmt export",
        "pip install 'pocketmt[export]'",
    )
    assert "torch" in line
    assert not (tmp_path / "b").exists()
    src, ref = _test_set(tmp_path, ["a dog runs"], ["a dog runs"])
    assert_one_line_error(
        lean("report", "--bundle", tmp_path, "--src", src, "--ref", ref, "-o", tmp_path / "r"),
        "pocketmt report",
        "pip install 'pocketmt[export]'",
    )


def test_a_library_of_the_extra_needed_deep_inside_a_command_is_named_too(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """eval on a checkpoint folder runs it eagerly in torch: the import fails past the up-front check."""
    src, ref = _test_set(tmp_path, ["a dog runs"], ["a dog runs"])
    assert_one_line_error(
        lean("eval", "--bundle", tiny_model_dir, "--src", src, "--ref", ref),
        "pocketmt eval needs the export extra",
        "pip install 'pocketmt[export]'",
    )


def test_export_bundle_from_python_on_a_lean_install_names_the_extra(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    code = PRELUDE.split("from pocketmt.cli")[0] + (
        "import pocketmt\n"
        "try:\n"
        f"    pocketmt.export_bundle({str(tmp_path / 'model')!r}, {str(tmp_path / 'b')!r})\n"
        "except pocketmt.PocketMTError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (
        "export_bundle needs the export extra" in out.stdout
        and "pip install 'pocketmt[export]'" in out.stdout
    )


def test_the_executorch_backend_on_a_lean_install_names_the_extra(tiny_bundle: Path) -> None:
    assert_one_line_error(
        lean("translate", "--bundle", tiny_bundle, "--backend", "executorch", "a dog runs"),
        "the executorch backend needs torch and executorch",
        "pip install 'pocketmt[export]'",
        "or use the onnx backend",
    )


def test_with_the_extra_installed_executorch_stays_the_default(tiny_bundle: Path) -> None:
    from pocketmt.runtime.backends.registry import BACKEND_NAMES
    from pocketmt.runtime.bundle import Bundle

    assert BACKEND_NAMES == ("executorch", "onnx")
    assert Bundle.open(tiny_bundle).resolve_backend(None) == "executorch"


# --- streaming -----------------------------------------------------------------------------------------


def _read_line(proc: subprocess.Popen[bytes], seconds: float) -> bytes:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    assert ready, f"no answer within {seconds:.0f} s: translate waits for the rest of stdin"
    return proc.stdout.readline()


def test_translate_answers_each_stdin_line_before_the_next_is_written(tiny_bundle: Path) -> None:
    lines = ["a dog runs", "two cats sleep", "the man reads a book"]
    expected = assert_ok(lean("translate", "--bundle", tiny_bundle, "--backend", "onnx", *lines)).splitlines()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pocketmt", "translate", "--bundle", str(tiny_bundle), "--backend", "onnx"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        answers = []
        for line in lines:  # stdin stays open: the answer must come while more input may follow
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
            answers.append(_read_line(proc, 60).decode().rstrip("\n"))
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
        assert proc.stdout.read() == b""
    finally:
        proc.kill()
        proc.wait()
    assert answers == expected
