"""A random-weight model with the exact opus-mt-en-de shapes exports to both formats and verifies.

Slow (minutes: the XNNPACK lowering of a 74M-parameter model); it still runs in CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pocketmt.cli import main


@pytest.mark.slow
def test_opus_mt_en_de_shapes_export_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pocketmt.export.pipeline import ExportOptions, export_bundle
    from pocketmt.export.random_model import OPUS_MT_EN_DE, make_random_marian
    from pocketmt.runtime.manifest import read_manifest

    model_dir = make_random_marian(tmp_path / "opus-mt-en-de-random", OPUS_MT_EN_DE)
    bundle = tmp_path / "bundle"
    report = export_bundle(model_dir, bundle, ExportOptions(max_source_len=64, max_target_len=32))
    m = read_manifest(bundle).model
    assert (m["d_model"], m["encoder_layers"], m["decoder_layers"], m["attention_heads"]) == (512, 6, 6, 8)
    assert (m["ffn_dim"], m["vocab_size"]) == (2048, 58101)
    assert 70e6 < m["parameters"] < 80e6
    # fp32 weights: each format holds at least the 74M parameters' 4 bytes
    assert report.files["model.pte"] > 4 * 70e6
    onnx_files = ("encoder.onnx", "decoder_step.onnx", "onnx_weights.bin")
    assert sum(report.files[n] for n in onnx_files) > 4 * 70e6  # fp32: the weights are really there
    assert report.files["onnx_weights.bin"] < 4 * 80e6  # each tensor once: the tied embedding is not repeated
    assert main(["verify", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "executorch: 4 reference samples replayed, tokens identical" in out
    assert "onnx: 4 reference samples replayed, tokens identical" in out
