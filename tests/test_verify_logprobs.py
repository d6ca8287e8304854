"""Recorded log-probabilities: export records them, ``verify`` force-scores the recorded tokens and holds
them to those numbers (docs/decoding.md, section 7), so a bundle whose model changed fails even when its
tokens do not, and a model that no longer ends fails too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from pocketmt.cli import main
from pocketmt.runtime.bundle import Bundle
from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.integrity import sha256_file
from pocketmt.runtime.manifest import parse_manifest
from pocketmt.runtime.translator import TranslateOptions, Translator
from pocketmt.runtime.verify import FP32_TOLERANCE, read_reference, token_log_probs, verify_backend
from tests.conftest import BEAM, MAX_SOURCE_LEN, MAX_TARGET_LEN

# ten float32 ulps at the logits' magnitude (~10): the resolution of a recomputed log-prob
FLOAT32_LOGIT_ULPS = 1e-5


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _rehash(bundle: Path, *names: str) -> None:
    """Update the manifest's entries for ``names``, so only verify's replay can catch the change."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    for name in names:
        manifest["files"][name] = {
            "bytes": (bundle / name).stat().st_size,
            "sha256": sha256_file(bundle / name),
        }
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _edit_step_initializer(bundle: Path, name: str, edit: Any) -> None:
    """Change one small initializer stored inside decoder_step.onnx and rehash the file."""
    path = bundle / "decoder_step.onnx"
    model = onnx.load(str(path), load_external_data=False)  # the shared weights file stays as it is
    init = next(i for i in model.graph.initializer if i.name == name)
    init.CopyFrom(numpy_helper.from_array(edit(numpy_helper.to_array(init).copy()), name))
    onnx.save(model, str(path))
    _rehash(bundle, "decoder_step.onnx")


def _reference(bundle: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((bundle / "reference.json").read_text())
    return data


def _write_reference(bundle: Path, data: dict[str, Any]) -> None:
    (bundle / "reference.json").write_text(json.dumps(data))
    _rehash(bundle, "reference.json")


def _options(beam: int) -> TranslateOptions:
    return TranslateOptions(beam_size=beam, max_new_tokens=MAX_TARGET_LEN)


def test_export_records_the_eager_log_probs_of_the_reference_tokens(
    tiny_bundle: Path, tiny_model_dir: Path
) -> None:
    from pocketmt.export.pipeline import ExportOptions, eager_translator

    eager = eager_translator(
        tiny_model_dir,
        ExportOptions(max_source_len=MAX_SOURCE_LEN, max_target_len=MAX_TARGET_LEN, beam_size=BEAM),
    )
    samples = _reference(tiny_bundle)["samples"]
    assert len(samples) == 4
    for sample in samples:
        assert "backends" not in sample  # an fp32 bundle: eager is the reference of every backend
        for key, beam in (("greedy", 1), ("beam", BEAM)):
            recorded = sample["log_probs"][key]
            assert len(recorded) == len(sample[key]) and all(lp <= 0 for lp in recorded)
            cfg = eager.search_config(_options(beam))
            again = token_log_probs(eager.new_step_model(), sample["source_ids"], sample[key], cfg)
            # a log-prob is logit - logsumexp(logits), a difference of float32 numbers of the logits'
            # size (about 10, one ulp about 1e-6): recomputed in another batch or thread split it may
            # move by a few of those ulps, whatever the log-prob's own size
            assert recorded == pytest.approx(again, rel=1e-6, abs=FLOAT32_LOGIT_ULPS)
            # the search's own score of its result is the sum of these
            hyp = eager.search_ids(sample["source_ids"], _options(beam))
            assert hyp.tokens == sample[key] and hyp.score == pytest.approx(sum(recorded), abs=1e-5)


def test_verify_compares_log_probs_on_every_backend(
    tiny_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "verify", str(tiny_bundle))
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.startswith(("onnx:", "executorch:"))]
    assert len(lines) == 2
    for line in lines:
        assert "tokens identical; log-probs match eager at export" in line
        worst = float(line.rsplit("largest difference ", 1)[1].rstrip(")"))
        assert worst < FP32_TOLERANCE.atol / 10  # fp32 kernels: far inside the tolerance
    assert "note:" not in out


def test_a_slightly_changed_model_with_the_same_tokens_fails_verify(
    bundle_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the last decoder layer's output 2% larger: logits 2% sharper. Every step keeps its best token (the
    # scaling is monotone, final_logits_bias is zero), so the greedy tokens stay; the numbers do not
    _edit_step_initializer(bundle_copy, "layers.1.final_layer_norm.weight", lambda w: w * np.float32(1.02))
    _edit_step_initializer(bundle_copy, "layers.1.final_layer_norm.bias", lambda b: b * np.float32(1.02))
    translator = Translator(bundle_copy, "onnx")
    for sample in _reference(bundle_copy)["samples"]:
        assert translator.search_ids(sample["source_ids"], _options(1)).tokens == sample["greedy"]
    code, out, _ = run(capsys, "verify", str(bundle_copy), "--backend", "onnx")
    assert code == 1, out
    assert "onnx: FAILED" in out and "force-scored log-probs differ from eager at export" in out


def test_a_model_that_no_longer_ends_loops_and_fails_verify(
    bundle_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eos = json.loads((bundle_copy / "manifest.json").read_text())["tokens"]["eos_id"]

    def push_down(bias: np.ndarray) -> np.ndarray:
        bias[..., eos] -= 30.0
        return bias

    _edit_step_initializer(bundle_copy, "final_logits_bias", push_down)
    translator = Translator(bundle_copy, "onnx")
    sample = _reference(bundle_copy)["samples"][0]
    looped = translator.search_ids(sample["source_ids"], _options(1)).tokens
    assert len(looped) == MAX_TARGET_LEN > len(sample["greedy"])  # on to the length limit
    code, out, _ = run(capsys, "verify", str(bundle_copy), "--backend", "onnx")
    assert code == 1, out
    last = len(sample["greedy"]) - 1  # the recorded end of sentence
    assert f"sample 0: greedy force-scored log-probs differ from eager at export: token {last}" in out


def test_an_old_bundle_without_log_probs_verifies_with_a_note(
    bundle_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _reference(bundle_copy)
    for sample in data["samples"]:
        del sample["log_probs"]
    _write_reference(bundle_copy, data)
    code, out, _ = run(capsys, "verify", str(bundle_copy), "--backend", "onnx")
    assert code == 0, out
    assert "onnx: 4 reference samples replayed, tokens identical\n" in out
    assert "  note: this bundle's reference has no recorded log-probabilities" in out


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: s["log_probs"].update(greedy=["x"]), "expected a list of finite log-probabilities"),
        (
            lambda s: s["log_probs"].update(greedy=[float("nan")]),
            "expected a list of finite log-probabilities",
        ),
        (lambda s: s.update(greedy=[10**6]), "expected a list of token ids below"),
        (lambda s: s.update(greedy=[1] * (s["max_new_tokens"] + 1)), "more tokens than max_new_tokens"),
        (lambda s: s.update(backends=[]), "backends must be an object"),
        (lambda s: s.pop("max_new_tokens"), "max_new_tokens must be a positive integer"),
    ],
)
def test_a_damaged_reference_is_a_one_line_error(
    bundle_copy: Path, capsys: pytest.CaptureFixture[str], damage: Any, message: str
) -> None:
    data = _reference(bundle_copy)
    damage(data["samples"][1])
    _write_reference(bundle_copy, data)
    code, _, err = run(capsys, "verify", str(bundle_copy), "--backend", "onnx")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "sample 1" in lines[0] and message in lines[0]


def test_verify_checks_the_files_translate_needs(tiny_bundle: Path) -> None:
    bundle = Bundle.open(tiny_bundle)
    samples = read_reference(bundle)
    raw = bundle.manifest.raw
    for backend in bundle.manifest.backends:
        for name in bundle.manifest.files_for_backend(backend):
            data = json.loads(json.dumps(raw))
            del data["files"][name]
            unlisted = Bundle(tiny_bundle, parse_manifest(data))  # as a caller might build one in memory
            with pytest.raises(BundleError) as translate_refused:
                Translator(unlisted, backend)
            with pytest.raises(BundleError) as verify_refused:
                verify_backend(unlisted, backend, samples)
            assert str(verify_refused.value) == str(translate_refused.value)
            assert name in str(verify_refused.value)


def test_verify_refuses_a_bundle_whose_manifest_no_longer_lists_a_graph(
    bundle_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    del manifest["files"]["encoder.onnx"]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest, indent=2))
    code, _, translate_err = run(capsys, "translate", "--bundle", str(bundle_copy), "--backend", "onnx", "x")
    assert code == 2
    code, out, verify_err = run(capsys, "verify", str(bundle_copy), "--backend", "onnx")
    assert code == 2 and "encoder.onnx" in verify_err
    assert verify_err == translate_err


def test_log_probs_added_to_an_old_bundle_come_from_its_checkpoint(
    tiny_bundle: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pocketmt.export.errors import ExportError
    from pocketmt.export.random_model import RandomMarianSpec, make_random_marian
    from pocketmt.export.reference_backfill import add_log_probs

    old = tmp_path / "old"
    shutil.copytree(tiny_bundle, old)
    data = _reference(old)
    for sample in data["samples"]:
        del sample["log_probs"]
    _write_reference(old, data)
    before = {p.name: p.read_bytes() for p in old.iterdir()}

    out = tmp_path / "with-log-probs"
    add_log_probs(old, tiny_model_dir, out)
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before  # the old bundle is left alone
    exported = _reference(tiny_bundle)["samples"]
    for got, want in zip(_reference(out)["samples"], exported, strict=True):
        for key in ("greedy", "beam"):
            assert got["log_probs"][key] == pytest.approx(
                want["log_probs"][key], rel=1e-6, abs=FLOAT32_LOGIT_ULPS
            )
    code, stdout, _ = run(capsys, "verify", str(out))
    assert code == 0 and stdout.count("log-probs match eager at export") == 2
    with pytest.raises(ExportError, match="already records the eager log-probabilities"):
        add_log_probs(out, tiny_model_dir, tmp_path / "again")

    # a checkpoint of the same shape that is not the one the bundle came from is refused
    other = make_random_marian(tmp_path / "other", RandomMarianSpec(init_std=0.05, seed=5))
    with pytest.raises(ExportError, match="not the checkpoint the bundle was exported from"):
        add_log_probs(old, other, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_a_low_bit_bundle_records_each_backends_own_log_probs_and_eagers(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pocketmt.export.compression.schemes import POLICIES
    from pocketmt.export.pipeline import ExportOptions, export_bundle
    from pocketmt.export.training.quantize_checkpoint import quantize_checkpoint

    ckpt = tmp_path / "int4"
    quantize_checkpoint(tiny_model_dir, ckpt, POLICIES["int4"])  # post-training: no data needed
    out = tmp_path / "bundle"
    options = ExportOptions(
        formats=("onnx",),
        max_source_len=MAX_SOURCE_LEN,
        max_target_len=MAX_TARGET_LEN,
        beam_size=BEAM,
        lowbit_compute="fp32",  # a d=32 model loses too much to int8 activations for the parity gate
    )
    export_bundle(ckpt, out, options)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "tokens" not in manifest["export_check"]["backends"]["onnx"]  # recorded in the reference only
    for sample in _reference(out)["samples"]:
        record = sample["backends"]["onnx"]
        for key in ("greedy", "beam"):
            assert len(record["log_probs"][key]) == len(record[key]) == len(record["eager_log_probs"][key])
    code, stdout, _ = run(capsys, "verify", str(out))
    assert code == 0, stdout
    assert "log-probs match this backend at export" in stdout and "; log-probs match eager (" in stdout
