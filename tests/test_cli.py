"""The CLI: translate/info/verify behaviour and one-line errors with exit code 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pocketmt.cli import main
from pocketmt.runtime.integrity import sha256_file


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data: bytes, *argv: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    return run(capsys, *argv)


def assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pocketmt: error:") and fragment in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("backend", ["executorch", "onnx"])
def test_translate_args_and_stdin_keep_order_and_empty_lines(
    tiny_bundle: Path, backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "translate",
        "--bundle",
        str(tiny_bundle),
        "--backend",
        backend,
        "A dog runs.",
        "Two children play.",
    )
    assert code == 0
    by_args = out.splitlines()
    assert len(by_args) == 2
    data = b"A dog runs.\n\nTwo children play.\n"
    code, out, _ = run_stdin(
        monkeypatch, capsys, data, "translate", "--bundle", str(tiny_bundle), "--backend", backend
    )
    assert code == 0
    assert out.split("\n")[:3] == [by_args[0], "", by_args[1]]


def test_translate_json_has_ids_score_and_timings(
    tiny_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "translate", "--bundle", str(tiny_bundle), "--beam", "1", "--json", "a dog runs"
    )
    assert code == 0
    obj = json.loads(out)
    assert obj["token_ids"] and obj["token_ids"][-1] == 0
    assert obj["timings_ms"]["total"] > 0 and obj["score"] <= 0


def test_greedy_and_beam_options_reach_the_search(
    tiny_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "translate", "--bundle", str(tiny_bundle), "--beam", "9", "x")
    assert_one_line_error(code, err, "beam size 9 is outside 1..4")


def test_translate_without_bundle_or_built_in_model_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pocketmt.models as models

    monkeypatch.setattr(models, "ROOT", tmp_path)  # an install without built-in bundles
    code, _, err = run(capsys, "translate", "hello")
    assert_one_line_error(
        code, err, "no --bundle given and no built-in en-de model (no built-in models ship yet)"
    )
    code, _, err = run(capsys, "translate", "--pair", "xx-yy", "hello")
    assert_one_line_error(code, err, "no built-in xx-yy model")


def test_invalid_utf8_on_stdin_names_the_line(
    tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_stdin(
        monkeypatch,
        capsys,
        b"fine\nalso fine\nbad \xff\xfe here\n",
        "translate",
        "--bundle",
        str(tiny_bundle),
    )
    assert_one_line_error(code, err, "stdin line 3: invalid UTF-8")
    assert len(out.splitlines()) == 2  # translate streams: lines 1 and 2 are printed before line 3 is read


def test_long_input_is_split_and_nothing_dropped(
    tiny_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = " ".join(["The dog runs through the snow."] * 12)
    code, out, err = run(capsys, "translate", "--bundle", str(tiny_bundle), "--json", text)
    assert code == 0
    obj = json.loads(out)
    assert obj["segments"] > 1 and err == ""
    word = "snow " * 60
    code, out, err = run(capsys, "translate", "--bundle", str(tiny_bundle), "--json", word)
    assert code == 0 and json.loads(out)["segments"] > 1
    assert "warning" in err and "exceeds the max source length" in err


def test_info_describes_the_bundle(tiny_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", str(tiny_bundle))
    assert code == 0
    for fragment in (
        "marian en->de",
        "2 encoder + 2 decoder layers",
        "model.pte",
        "encoder.onnx",
        "fp32",
        "batch (beams) up to 4",
        "torch",
    ):
        assert fragment in out


def test_verify_passes_on_a_fresh_bundle(tiny_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", str(tiny_bundle))
    assert code == 0
    assert "executorch: 4 reference samples replayed, tokens identical" in out
    assert "onnx: 4 reference samples replayed, tokens identical" in out


def test_verify_fails_when_reference_disagrees(bundle_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = json.loads((bundle_copy / "reference.json").read_text())
    ref["samples"][0]["beam"] = [7, 7, 0]
    _rewrite(bundle_copy, "reference.json", json.dumps(ref).encode())
    code, out, _ = run(capsys, "verify", str(bundle_copy))
    assert code == 1
    assert "FAILED" in out


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _rewrite(bundle: Path, name: str, data: bytes) -> None:
    """Replace a file and update the manifest, so only the content check can catch it."""
    (bundle / name).write_bytes(data)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][name] = {"bytes": len(data), "sha256": sha256_file(bundle / name)}
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_one_changed_byte_in_model_pte_is_refused_by_translate_and_verify(bundle_copy: Path) -> None:
    _flip_byte(bundle_copy / "model.pte")
    for argv in (["translate", "--bundle", str(bundle_copy), "hello"], ["verify", str(bundle_copy)]):
        proc = subprocess.run([sys.executable, "-m", "pocketmt", *argv], capture_output=True, text=True)
        assert_one_line_error(proc.returncode, proc.stderr, "model.pte: sha256 mismatch")
        assert proc.stdout == "" if argv[0] == "translate" else True


@pytest.mark.parametrize(
    "damage, fragment",
    [
        ("missing_folder", "bundle folder not found"),
        ("missing_file", "file missing: encoder.onnx"),
        ("truncated", "truncated or replaced"),
        ("shared_weights", "onnx_weights.bin: sha256 mismatch"),
        ("newer_schema", "schema version 3 is newer"),
        ("no_manifest", "not a pocketmt bundle"),
        ("bad_json", "not valid JSON"),
    ],
)
def test_broken_bundles_give_one_line_errors(
    bundle_copy: Path, damage: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = bundle_copy
    if damage == "missing_folder":
        target = bundle_copy / "nope"
    elif damage == "missing_file":
        (bundle_copy / "encoder.onnx").unlink()
    elif damage == "truncated":
        data = (bundle_copy / "decoder_step.onnx").read_bytes()
        (bundle_copy / "decoder_step.onnx").write_bytes(data[: len(data) // 2])
    elif damage == "shared_weights":
        data = bytearray((bundle_copy / "onnx_weights.bin").read_bytes())
        data[len(data) // 2] ^= 0x01  # same size, one bit flipped
        (bundle_copy / "onnx_weights.bin").write_bytes(bytes(data))
    elif damage == "newer_schema":
        m = json.loads((bundle_copy / "manifest.json").read_text())
        m["schema_version"] = 3
        (bundle_copy / "manifest.json").write_text(json.dumps(m))
    elif damage == "no_manifest":
        (bundle_copy / "manifest.json").unlink()
    else:
        (bundle_copy / "manifest.json").write_text("{not json")
    code, _, err = run(capsys, "translate", "--bundle", str(target), "--backend", "onnx", "hello")
    assert_one_line_error(code, err, fragment)
    code, _, err = run(capsys, "verify", str(target))
    assert_one_line_error(code, err, fragment)


def test_a_pte_that_is_not_one_is_refused(bundle_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _rewrite(bundle_copy, "model.pte", b"this is not an executorch program" * 100)
    code, _, err = run(capsys, "translate", "--bundle", str(bundle_copy), "--backend", "executorch", "hello")
    assert_one_line_error(code, err, "not a loadable ExecuTorch program")


def test_debug_shows_the_traceback(tiny_bundle: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pocketmt",
            "--debug",
            "translate",
            "--bundle",
            str(tiny_bundle / "nope"),
            "x",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "bundle folder not found" in proc.stderr


def test_built_in_bundle_is_used_without_bundle_flag(
    tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    import pocketmt.models as models

    shutil.copytree(tiny_bundle, tmp_path / "en-de")
    monkeypatch.setattr(models, "ROOT", tmp_path)
    assert models.installed_pairs() == ["en-de"]
    code, out, _ = run(capsys, "translate", "--beam", "1", "a dog runs")
    assert code == 0 and out.strip()
    code, _, err = run(capsys, "translate", "--pair", "de-en", "ein Hund")
    assert_one_line_error(code, err, "no built-in de-en model (built-in pairs: en-de)")
