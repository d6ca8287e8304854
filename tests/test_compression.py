"""Compression: scheme arithmetic, policies, quantize/QAT/prune on tiny models, and low-bit ONNX export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pocketmt.export.compression.quantize import (
    add_fake_quant,
    frozen_copy,
    load_quantization,
    quantize_,
)
from pocketmt.export.compression.quantizers import dequantize, quantize_tensor
from pocketmt.export.compression.schemes import POLICIES, QuantPolicy, Rule, Scheme
from pocketmt.export.random_model import synthetic_sentences
from pocketmt.export.training.quantize_checkpoint import quantize_checkpoint
from pocketmt.export.training.trainer import FineTuneOptions
from pocketmt.runtime.packed_weights import pack_codes, unpack_codes

from .conftest import BEAM, MAX_SOURCE_LEN, MAX_TARGET_LEN


# ------------------------------------------------------------------ arithmetic
@settings(max_examples=60, deadline=None)
@given(
    bits=st.sampled_from([2, 4, 8]),
    rows=st.integers(1, 5),
    words=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
)
def test_packing_is_exact_and_takes_bits_per_code(bits: int, rows: int, words: int, seed: int) -> None:
    qmax = {2: 1, 4: 7, 8: 127}[bits]
    cols = words * (8 // bits) * 2
    codes = np.random.default_rng(seed).integers(-qmax, qmax + 1, size=(rows, cols)).astype(np.int8)
    packed = pack_codes(codes, bits)
    assert packed.dtype == np.uint8
    assert packed.nbytes == rows * cols * bits // 8
    assert np.array_equal(unpack_codes(packed, bits), codes)


@pytest.mark.parametrize(
    ("scheme", "allowed"),
    [(Scheme("ternary"), {-1, 0, 1}), (Scheme("int4", 16), set(range(-7, 8))), (Scheme("int8"), None)],
)
def test_quantize_tensor_codes_scales_and_error(scheme: Scheme, allowed: set[int] | None) -> None:
    w = torch.randn(24, 64)
    codes, scales = quantize_tensor(w, scheme)
    groups = 64 // (scheme.group_size or 64)
    assert codes.dtype == torch.int8 and scales.shape == (24, groups)
    if allowed is not None:
        assert set(codes.unique().tolist()) <= allowed
    assert int(codes.abs().max()) <= scheme.qmax
    # scales are fp16-representable (bundles store them in 16 bits)
    assert torch.equal(scales.half().float(), scales)
    err = (dequantize(codes, scales) - w).abs().mean() / w.abs().mean()
    assert err < {"int8": 0.02, "int4": 0.2, "ternary": 0.7}[scheme.kind]


def test_all_zero_rows_quantize_to_zero_without_nan() -> None:
    w = torch.zeros(3, 32)
    w[1] = torch.randn(32)
    for kind in ("int8", "int4", "ternary"):
        codes, scales = quantize_tensor(w, Scheme(kind))
        out = dequantize(codes, scales)
        assert torch.isfinite(out).all() and torch.equal(out[0], torch.zeros(32))


def test_policy_first_match_wins_and_round_trips_json() -> None:
    policy = QuantPolicy(
        "mixed",
        (
            Rule("model.shared", Scheme("int8")),
            Rule("*.layers.0.*", None),
            Rule("*fc*", Scheme("int4", 32)),
            Rule("*", Scheme("ternary")),
        ),
    )
    assert policy.scheme_for("model.shared") == Scheme("int8")
    assert policy.scheme_for("model.encoder.layers.0.fc1") is None  # first layer kept wider
    assert policy.scheme_for("model.encoder.layers.3.fc1") == Scheme("int4", 32)
    assert policy.scheme_for("model.encoder.layers.3.self_attn.q_proj") == Scheme("ternary")
    assert QuantPolicy.from_json(json.loads(json.dumps(policy.to_json()))) == policy
    with pytest.raises(ValueError, match="unknown scheme"):
        Scheme("int3")
    with pytest.raises(ValueError, match="power of two"):
        Scheme("int4", 24)


# ------------------------------------------------------------------ models
def _load(path: Path):  # type: ignore[no-untyped-def]
    from transformers import MarianMTModel

    return MarianMTModel.from_pretrained(str(path), dtype=torch.float32).eval()


@pytest.mark.parametrize("name", ["int8", "int4", "ternary"])
def test_quantize_model_leaves_exact_codes_and_keeps_ties(tiny_model_dir: Path, name: str) -> None:
    model = _load(tiny_model_dir)
    tensors = quantize_(model, POLICIES[name])
    assert model.lm_head.weight is model.model.shared.weight
    assert "lm_head" not in tensors  # the tied projection is the embedding, quantized once
    modules = dict(model.named_modules())
    for module_name, q in tensors.items():
        assert torch.equal(modules[module_name].weight.detach(), dequantize(q.codes, q.scales))
        assert int(q.codes.abs().max()) <= q.scheme.qmax
    linear = [q for n, q in tensors.items() if n != "model.shared"]
    assert linear and all(
        q.scheme.kind == POLICIES[name].scheme_for("model.encoder.layers.0.fc1").kind for q in linear
    )  # type: ignore[union-attr]


def test_fake_quant_training_forward_equals_the_frozen_model(tiny_model_dir: Path) -> None:
    model = _load(tiny_model_dir)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))  # latent weights between quantization levels
    add_fake_quant(model, POLICIES["ternary"])
    ids = torch.tensor([[5, 6, 7, 8, 0]])
    dec = torch.tensor([[model.config.decoder_start_token_id, 5, 6]])
    trained = model(input_ids=ids, decoder_input_ids=dec).logits
    plain, tensors = frozen_copy(model, POLICIES["ternary"])
    frozen = plain(input_ids=ids, decoder_input_ids=dec).logits
    assert torch.allclose(trained, frozen, atol=1e-5)
    assert plain.lm_head.weight is plain.model.shared.weight
    assert set(tensors["model.encoder.layers.0.fc1"].codes.unique().tolist()) <= {-1, 0, 1}


@pytest.fixture(scope="module")
def copy_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("copy")
    train, valid = synthetic_sentences(300, seed=5), synthetic_sentences(12, seed=6)
    out = {}
    for key, lines in (("src", train), ("tgt", train), ("valid_src", valid), ("valid_tgt", valid)):
        path = root / f"{key}.txt"
        path.write_text("\n".join(lines) + "\n")
        out[key] = str(path)
    return out


@pytest.fixture(scope="module")
def ternary_dir(
    tiny_model_dir: Path, copy_corpus: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("ternary") / "tiny-ternary"
    qat = FineTuneOptions(
        **copy_corpus, max_epochs=2, lr=1e-3, warmup_steps=20, batch_tokens=512, precision="fp32"
    )
    quantize_checkpoint(tiny_model_dir, out, POLICIES["ternary"], qat)
    return out


def test_ternary_qat_writes_exact_ternary_weights(ternary_dir: Path) -> None:
    meta, tensors = load_quantization(ternary_dir)  # type: ignore[misc]
    assert meta["made_by"]["method"] == "quantization-aware training"
    model = _load(ternary_dir)  # transformers loads it unchanged
    modules = dict(model.named_modules())
    for name, q in tensors.items():
        if name == "model.shared":
            assert q.scheme == Scheme("int4", 32)
            continue
        assert set(q.codes.unique().tolist()) <= {-1, 0, 1}
        assert torch.equal(modules[name].weight.detach(), dequantize(q.codes, q.scales))


def _export_with_parity(ckpt: Path, tmp_path: Path, fmt: str, **extra: Any) -> dict[str, Any]:
    """Export ``ckpt`` in one format with the parity gate on 40 sentences; the manifest, checked."""
    from pocketmt.export.pipeline import ExportOptions, export_bundle
    from pocketmt.runtime.bundle import Bundle

    parity = tmp_path / "parity.txt"
    parity.write_text("\n".join(synthetic_sentences(40, seed=11)) + "\n")
    opts = ExportOptions(
        formats=(fmt,),
        max_source_len=MAX_SOURCE_LEN,
        max_target_len=MAX_TARGET_LEN,
        beam_size=BEAM,
        parity_src=str(parity),
        **extra,
    )
    export_bundle(ckpt, tmp_path / "bundle", opts)
    raw: dict[str, Any] = Bundle.open(tmp_path / "bundle").manifest.raw
    check = raw["export_check"]["backends"]["onnx" if fmt == "onnx" else "executorch"]
    assert check["parity_sentences"] == 40 and check["greedy_agreement"] >= 0.95
    return raw


def test_ternary_onnx_bundle_packs_two_bits_and_matches_eager(ternary_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    # this tiny d=32 model loses too much to int8 activations
    raw = _export_with_parity(ternary_dir, tmp_path, "onnx", lowbit_compute="fp32")
    assert raw["tensor_formats"]["linear"] == "ternary" and raw["tensor_formats"]["lm_head"] == "int4"
    nodes = []
    for name in ("encoder.onnx", "decoder_step.onnx"):
        graph = onnx.load(str(out / name), load_external_data=False).graph
        nodes += [n for n in graph.node if n.op_type == "MatMulNBits"]
    _, tensors = load_quantization(ternary_dir)  # type: ignore[misc]
    linear = {n: q for n, q in tensors.items() if n != "model.shared"}
    # every linear, and the tied output projection on the embedding's own int4 codes: their output
    # rows, whether a linear runs alone or joined with others over the same input (linear_fusion)
    columns = sum(next(a.i for a in n.attribute if a.name == "N") for n in nodes)
    assert columns == sum(q.codes.shape[0] for q in linear.values()) + raw["model"]["vocab_size"]
    # with fp32 activations the linears run the 4-bit kernel on their 2-bit codes, repacked at load
    # (the bytes stored stay 2 bits per weight: below)
    assert {next(a.i for a in n.attribute if a.name == "bits") for n in nodes} == {4}
    assert sum(n.op_type == "BitShift" for n in graph.node) >= 1
    assert all(next(a.i for a in n.attribute if a.name == "accuracy_level") == 1 for n in nodes)
    # no fp32 copy of the embedding: its lookups read the packed rows
    decoder = onnx.load(str(out / "decoder_step.onnx"), load_external_data=False).graph
    assert not [n for n in decoder.node if n.op_type == "Gemm"]
    table = [raw["model"]["vocab_size"], raw["model"]["d_model"]]
    assert not [
        i for i in decoder.initializer if i.data_type == onnx.TensorProto.FLOAT and list(i.dims) == table
    ]
    # 2 bits per code plus one fp16 scale per row, nothing else
    weights = sum(q.codes.numel() for q in linear.values())
    rows = sum(q.codes.shape[0] for q in linear.values())
    assert raw["graphs"]["onnx"]["matmul_nbits"]["bytes"] == weights // 4 + 2 * rows
    assert raw["quantization"]["linear_bits_per_weight"]["onnx"] == pytest.approx(
        (2 * weights + 16 * rows) / weights, abs=1e-3
    )
    # pocketmt verify replays the per-backend references recorded at export
    proc = subprocess.run(
        [sys.executable, "-m", "pocketmt", "verify", str(out)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr


def test_export_refuses_a_bundle_under_the_parity_threshold(
    ternary_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pocketmt.export.pipeline as pipeline
    from pocketmt.runtime.errors import PocketMTError

    monkeypatch.setattr(pipeline, "PARITY_MIN_AGREEMENT", 1.01)
    opts = pipeline.ExportOptions(
        formats=("onnx",), max_source_len=MAX_SOURCE_LEN, max_target_len=MAX_TARGET_LEN
    )
    with pytest.raises(PocketMTError, match="greedy tokens agree"):
        pipeline.export_bundle(ternary_dir, tmp_path / "b", opts)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name", ["int8", "int4"])
def test_post_training_bundles_store_their_scheme(tiny_model_dir: Path, tmp_path: Path, name: str) -> None:
    from pocketmt.export.pipeline import ExportOptions, export_bundle
    from pocketmt.runtime.bundle import Bundle

    qdir = tmp_path / "q"
    quantize_checkpoint(tiny_model_dir, qdir, POLICIES[name])
    out = tmp_path / "bundle"
    opts = ExportOptions(formats=("onnx",), max_source_len=MAX_SOURCE_LEN, max_target_len=MAX_TARGET_LEN)
    export_bundle(qdir, out, opts)
    raw = Bundle.open(out).manifest.raw
    assert raw["tensor_formats"]["linear"] == name
    stored = raw["graphs"]["onnx"]["weight_bytes"]
    if name == "int4":
        assert raw["graphs"]["onnx"]["matmul_nbits"]["weights"] > 0
        assert 4 < raw["quantization"]["linear_bits_per_weight"]["onnx"] <= 4.5
    else:
        # int8 linears: 8-bit kernels on the codes where int8 activations pass the export gate, else
        # (lowbit_compute "auto" fell back to fp32 activations) the codes decoded once at load; the
        # grouped int8 table is stored low-bit either way
        nbits = raw["graphs"]["onnx"].get("matmul_nbits")
        assert nbits is None or nbits["weights"] > 0
        assert stored["lowbit"] > 0
        assert 8 < raw["quantization"]["linear_bits_per_weight"]["onnx"] < 9.5


def test_quantize_cli_needs_data_for_ternary(tiny_model_dir: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pocketmt",
            "quantize",
            str(tiny_model_dir),
            "-o",
            str(tmp_path / "t"),
            "--scheme",
            "ternary",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--src" in proc.stderr


# ------------------------------------------------------------------ pruning
def test_prune_shrinks_tensors_by_measured_importance(tiny_model_dir: Path, tmp_path: Path) -> None:
    from pocketmt.export.training.prune import PruneTarget, prune_checkpoint

    pairs = [(s, s) for s in synthetic_sentences(32, seed=7)]
    before = _load(tiny_model_dir)
    report = prune_checkpoint(
        tiny_model_dir, tmp_path / "p", PruneTarget(ffn_keep=0.5, drop_encoder_layers=1), pairs
    )
    after = _load(tmp_path / "p")
    assert after.config.encoder_ffn_dim == before.config.encoder_ffn_dim // 2
    assert after.model.encoder.layers[0].fc1.weight.shape[0] == before.config.encoder_ffn_dim // 2
    assert after.config.encoder_layers == before.config.encoder_layers - 1
    assert (
        report["parameters_after"] == sum(p.numel() for p in after.parameters()) < report["parameters_before"]
    )
    assert len(report["encoder_layer_loss_rise"]) == before.config.encoder_layers
    with pytest.raises(ValueError, match="unknown target"):
        PruneTarget.parse("heads=2")


def test_importance_keeps_the_neurons_that_matter(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pocketmt.export.training.prune as prune
    from pocketmt.runtime.tokenizer import MarianTokenizer

    tok = MarianTokenizer(
        tiny_model_dir / "source.spm", tiny_model_dir / "target.spm", tiny_model_dir / "vocab.json"
    )
    pairs = [(s, s) for s in synthetic_sentences(32, seed=8)]
    model = _load(tiny_model_dir)
    batches = [prune._batch(tok, pairs, model.config.pad_token_id)]
    best = _load(tiny_model_dir)
    prune.prune_model(best, prune.PruneTarget(ffn_keep=0.25), batches)
    measured = prune.ffn_importance
    monkeypatch.setattr(prune, "ffn_importance", lambda m, b: {k: -v for k, v in measured(m, b).items()})
    worst = _load(tiny_model_dir)
    prune.prune_model(worst, prune.PruneTarget(ffn_keep=0.25), batches)
    assert prune._loss(best, batches) < prune._loss(worst, batches)


def test_report_writes_table_json_and_plot(tiny_bundle: Path, tmp_path: Path) -> None:
    from pocketmt.report import run_report

    src = synthetic_sentences(6, seed=12)
    rows = run_report([str(tiny_bundle)], "onnx", src, src, 2, tmp_path / "r")
    assert {p.name for p in (tmp_path / "r").iterdir()} == {"report.json", "report.md", "report.png"}
    row = rows[0]
    assert row["backend"] == "onnx" and row["sentences"] == 6 and row["linear_bits"] == 32.0
    assert 0 <= row["bleu"] <= 100 and row["median_ms"] > 0 and row["p90_ms"] >= row["median_ms"]
    assert row["peak_mb"] > 0 and row["download_bytes"] > 0
    assert json.loads((tmp_path / "r" / "report.json").read_text())["rows"] == rows
    assert (tmp_path / "r" / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert "| tiny | onnx | fp32 |" in (tmp_path / "r" / "report.md").read_text()


def test_policy_file_is_applied_and_a_bad_one_is_one_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    policy = {
        "name": "first-layer-wide",
        "rules": [
            {"pattern": "*.encoder.layers.0.*", "scheme": None},
            {"pattern": "model.shared", "scheme": {"kind": "int8", "group_size": 0}},
            {"pattern": "*", "scheme": {"kind": "int4", "group_size": 32}},
        ],
    }
    good, bad = tmp_path / "policy.json", tmp_path / "bad.json"
    good.write_text(json.dumps(policy))
    bad.write_text('{"rules": [{"pattern": "*", "scheme": {"kind": "int3"}}]}')
    cmd = [sys.executable, "-m", "pocketmt", "quantize", str(tiny_model_dir)]
    ok = subprocess.run(
        cmd + ["-o", str(tmp_path / "q"), "--policy", str(good)], capture_output=True, text=True, timeout=300
    )
    assert ok.returncode == 0, ok.stderr
    meta = json.loads((tmp_path / "q" / "quantization.json").read_text())
    assert meta["policy"]["name"] == "first-layer-wide"
    assert not any(".encoder.layers.0." in name for name in meta["tensors"])
    assert meta["tensors"]["model.encoder.layers.1.fc1"]["kind"] == "int4"
    proc = subprocess.run(
        cmd + ["-o", str(tmp_path / "r"), "--policy", str(bad)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "int3" in proc.stderr
