"""Stored weight formats: int8/fp16 rounding, lossless ONNX encoding, and int8 bundles end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper

from pocketmt.export.compression.quantizers import dequantize, quantize_tensor
from pocketmt.export.compression.schemes import Scheme
from pocketmt.export.compression.weight_formats import round_weights
from pocketmt.export.onnx_storage import compact_onnx
from tests.conftest import BEAM, MAX_SOURCE_LEN, MAX_TARGET_LEN


def _identity_model(path: Path, weights: dict[str, np.ndarray]) -> None:
    """A graph whose outputs are its initializers, so a test can read back what the file decodes to."""
    outputs = [
        helper.make_tensor_value_info(f"out_{n}", onnx.TensorProto.FLOAT, list(w.shape))
        for n, w in weights.items()
    ]
    nodes = [helper.make_node("Identity", [n], [f"out_{n}"]) for n in weights]
    graph = helper.make_graph(
        nodes, "g", [], outputs, [numpy_helper.from_array(w, n) for n, w in weights.items()]
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def _decoded(path: Path, names: list[str], dequantize_at_load: bool) -> list[np.ndarray]:
    options = ort.SessionOptions()
    if dequantize_at_load:
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return sess.run([f"out_{n}" for n in names], {})


def _int8_rounded(rows: int, cols: int, seed: int) -> np.ndarray:
    w = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed)) * 0.1
    return dequantize(*quantize_tensor(w, Scheme("int8"))).numpy()


@pytest.mark.parametrize("dequantize_at_load", [False, True])
def test_compact_onnx_picks_the_smallest_exact_encoding(tmp_path: Path, dequantize_at_load: bool) -> None:
    rng = np.random.default_rng(0)
    weights = {
        "rows_int8": _int8_rounded(64, 48, 1),
        "cols_int8": np.ascontiguousarray(_int8_rounded(40, 64, 2).T),  # per-column scales
        "halves": rng.standard_normal((32, 64)).astype(np.float16).astype(np.float32),
        "full": rng.standard_normal((32, 64)).astype(np.float32),
        "small": rng.standard_normal((4, 4)).astype(np.float32),
    }
    path = tmp_path / "m.onnx"
    _identity_model(path, weights)
    before = path.stat().st_size
    stored = compact_onnx(path)
    assert stored["int8"] == (64 * 48 + 64 * 4) + (64 * 40 + 40 * 4)
    assert stored["fp16"] == 32 * 64 * 2
    assert stored["fp32"] == (32 * 64 + 16) * 4
    assert path.stat().st_size < before
    kinds = {i.name: i.data_type for i in onnx.load(str(path)).graph.initializer}
    assert kinds["rows_int8__q"] == kinds["cols_int8__q"] == onnx.TensorProto.INT8
    assert kinds["halves__h"] == onnx.TensorProto.FLOAT16
    assert kinds["full"] == kinds["small"] == onnx.TensorProto.FLOAT
    for got, want in zip(_decoded(path, list(weights), dequantize_at_load), weights.values(), strict=True):
        assert got.tobytes() == want.tobytes()  # bit for bit


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(32, 48),  # at least MIN_ELEMENTS values
    cols=st.integers(32, 80),
    seed=st.integers(0, 10_000),
    zero_row=st.booleans(),
)
def test_int8_rounding_is_always_stored_exactly_as_int8(
    tmp_path_factory: pytest.TempPathFactory, rows: int, cols: int, seed: int, zero_row: bool
) -> None:
    w = _int8_rounded(rows, cols, seed)
    if zero_row:
        w[0] = 0.0
    path = tmp_path_factory.mktemp("p") / "m.onnx"
    _identity_model(path, {"w": w})
    stored = compact_onnx(path)
    assert stored["int8"] == rows * cols + rows * 4 and stored["fp32"] == 0
    (got,) = _decoded(path, ["w"], True)
    assert got.tobytes() == w.tobytes()


def test_round_weights_int8_keeps_ties_and_leaves_norms(tiny_model_dir: Path) -> None:
    from transformers import MarianMTModel

    model = MarianMTModel.from_pretrained(tiny_model_dir)
    norm_before = model.model.encoder.layers[0].self_attn_layer_norm.weight.clone()
    pos_before = model.model.encoder.embed_positions.weight.clone()
    formats = round_weights(model, "int8")
    assert formats["linear"] == formats["embeddings"] == "int8" and formats["layer_norm"] == "fp32"
    assert model.lm_head.weight.data_ptr() == model.model.shared.weight.data_ptr()  # still tied
    for w in (model.model.shared.weight, model.model.decoder.layers[0].fc1.weight):
        scale = w.abs().amax(dim=1, keepdim=True) / 127
        q = w / scale
        assert torch.allclose(q, q.round(), atol=1e-4)  # on the int8 grid of its row
        assert q.abs().max() <= 127 + 1e-4
    assert torch.equal(model.model.encoder.layers[0].self_attn_layer_norm.weight, norm_before)
    assert torch.equal(model.model.encoder.embed_positions.weight, pos_before)
    with pytest.raises(ValueError, match="unknown weight format"):
        round_weights(model, "int3")


# two tokens whose log-probabilities are this close (a tenth of a nat: probabilities within 10%) are a
# near-tie, which rounding the weights to int8 may break the other way
NEAR_TIE = 0.1


def test_int8_bundle_is_smaller_and_matches_its_eager_reference(
    tiny_model_dir: Path, tiny_bundle: Path, tmp_path: Path, sentences: list[str]
) -> None:
    from pocketmt.export.pipeline import ExportOptions, eager_translator, export_bundle
    from pocketmt.runtime.translator import TranslateOptions, Translator
    from pocketmt.runtime.verify import token_log_probs

    out = tmp_path / "int8"
    options = ExportOptions(
        formats=("onnx",),
        weights="int8",
        max_source_len=MAX_SOURCE_LEN,
        max_target_len=MAX_TARGET_LEN,
        beam_size=BEAM,  # the limits of tiny_bundle, its fp32 counterpart
        lowbit_compute="fp32",  # fp32 activations: int8 storage only, decoded at load
    )
    export_bundle(tiny_model_dir, out, options)
    manifest = json.loads((out / "manifest.json").read_text())
    onnx_entry = manifest["graphs"]["onnx"]
    assert "matmul_nbits" not in onnx_entry
    assert manifest["tensor_formats"]["linear"] == "int8"
    assert onnx_entry["dequantize_at_load"] is True
    int8_bytes = onnx_entry["weight_bytes"]["int8"]
    assert int8_bytes > 0
    onnx_bytes = sum(
        (out / n).stat().st_size for n in ("encoder.onnx", "decoder_step.onnx", "onnx_weights.bin")
    )
    fp32_bytes = sum(
        (tiny_bundle / n).stat().st_size for n in ("encoder.onnx", "decoder_step.onnx", "onnx_weights.bin")
    )
    # each int8 value replaced four fp32 bytes (scales and layout aside)
    assert fp32_bytes - onnx_bytes > 2 * int8_bytes

    eager = eager_translator(tiny_model_dir, options).translate(sentences, TranslateOptions(beam_size=1))
    exported = Translator(out, backend="onnx").translate(sentences, TranslateOptions(beam_size=1))
    assert [r.token_ids for r in exported] == [r.token_ids for r in eager]
    fp32 = Translator(tiny_bundle, backend="onnx")
    fp32_out = fp32.translate(sentences, TranslateOptions(beam_size=1))
    # Rounding to int8 changed the model a little, but it is the same model: greedy search leaves the
    # fp32 tokens only where the fp32 model itself nearly ties (its best token ahead of the int8 choice
    # by under NEAR_TIE nats), and that is rare enough that 80% of sentences keep every token. The
    # tiny copy model's steps are often close (6% within 0.05 nats), so over 15-token sentences a few
    # flips are expected: 88 of these 100 agree on this host. Weights with broken scales flip clear
    # choices and agree on almost none.
    cfg = fp32.search_config(TranslateOptions(beam_size=1))
    same = 0
    for text, q, f in zip(sentences, exported, fp32_out, strict=True):
        if q.token_ids == f.token_ids:
            same += 1
            continue
        t = next(i for i, (a, b) in enumerate(zip(q.token_ids, f.token_ids, strict=False)) if a != b)
        source = fp32.tokenizer.encode(text)
        prefix = f.token_ids[:t]
        best = token_log_probs(fp32.new_step_model(), source, prefix + [f.token_ids[t]], cfg)[t]
        chosen = token_log_probs(fp32.new_step_model(), source, prefix + [q.token_ids[t]], cfg)[t]
        assert 0 <= best - chosen < NEAR_TIE, f"{text!r}: int8 left a clear fp32 choice at token {t}"
    assert same >= 0.8 * len(sentences)


def test_int8_bundle_computes_with_the_fastest_kernels_that_pass_the_gate(
    tiny_model_dir: Path, tmp_path: Path, sentences: list[str]
) -> None:
    """The default ``--weights int8`` export (``lowbit_compute="auto"``) runs its linears on the int8
    codes with the fastest kernels that pass the export gate (``export_bundle``): int8 activations as
    CTranslate2's int8 does, the decoder's as ``MatMulNBits(bits=8)``, the encoder's as
    ``DynamicQuantizeMatMul`` (one activation scale per call, so the bundle says
    ``encode_one_sentence``), or else row-wise, or else fp32 activations; the manifest says which, and
    the bundle still translates as its eager model does, a batch as one sentence at a time does (a
    kernel reading the codes wrongly, e.g. with the wrong zero point, agrees on almost none)."""
    import onnx

    from pocketmt.export.pipeline import ExportOptions, eager_translator, export_bundle
    from pocketmt.runtime.translator import TranslateOptions, Translator

    out = tmp_path / "int8k"
    options = ExportOptions(
        formats=("onnx",),
        weights="int8",
        max_source_len=MAX_SOURCE_LEN,
        max_target_len=MAX_TARGET_LEN,
        beam_size=BEAM,
    )
    export_bundle(tiny_model_dir, out, options)
    manifest = json.loads((out / "manifest.json").read_text())
    section = manifest["graphs"]["onnx"]
    # absent: fp32 activations, the int8 codes decoded at load (compact_onnx's DequantizeLinear)
    nbits = section.get("matmul_nbits", {"weights": 0, "accuracy_level": 1})
    step = onnx.load(str(out / "decoder_step.onnx"))
    encoder = onnx.load(str(out / "encoder.onnx"))
    per_call = [n for n in encoder.graph.node if n.op_type == "DynamicQuantizeMatMul"]
    assert not any(n.op_type == "DynamicQuantizeMatMul" for n in step.graph.node)
    assert section.get("encode_one_sentence", False) == bool(per_call)
    if nbits["accuracy_level"] == 4:  # int8 activations: the gate's agreement is on record
        assert nbits["weights"] > 0
        assert manifest["export_check"]["backends"]["onnx"]["greedy_agreement"] >= 0.95
        eight = [n for n in step.graph.node if n.op_type == "MatMulNBits"]
        assert eight and all(next(a.i for a in n.attribute if a.name == "bits") == 8 for n in eight)
    else:
        assert nbits["accuracy_level"] == 1 and not per_call
        assert not any(n.op_type == "MatMulNBits" for n in step.graph.node)
    eager = eager_translator(tiny_model_dir, options).translate(sentences, TranslateOptions(beam_size=1))
    translator = Translator(out, backend="onnx")
    exported = translator.translate(sentences, TranslateOptions(beam_size=1), batch_size=1)
    same = sum(a.token_ids == b.token_ids for a, b in zip(exported, eager, strict=True))
    assert same >= 0.8 * len(sentences)
    batched = translator.translate(sentences, TranslateOptions(beam_size=1), batch_size=16)
    assert [t.token_ids for t in batched] == [t.token_ids for t in exported]


def test_int8_program_keeps_the_int8_codes_and_translates_as_its_eager_model(
    tiny_model_dir: Path, tiny_bundle: Path, tmp_path: Path, sentences: list[str]
) -> None:
    """``--weights int8`` makes the phone's ``model.pte`` low-bit too: every linear an XNNPACK weight-only
    int8 linear (``qc8w``) on the rounded codes and the tied embedding packed, so the program holds about
    a byte per weight instead of the rounded values as fp32 (it did, at four times the size). With fp32
    activations it translates as the eager rounded model does; with int8 ones (``auto`` tries them
    first) as the export gate allows; either way a batch as one sentence at a time."""
    from pocketmt.export.pipeline import ExportOptions, eager_translator, export_bundle
    from pocketmt.runtime.translator import TranslateOptions, Translator

    out = tmp_path / "int8pte"
    options = ExportOptions(
        formats=("pte",),
        weights="int8",
        max_source_len=MAX_SOURCE_LEN,
        max_target_len=MAX_TARGET_LEN,
        beam_size=BEAM,
    )
    export_bundle(tiny_model_dir, out, options)
    entry = json.loads((out / "manifest.json").read_text())["graphs"]["executorch"]
    storage = entry["lowbit"]["storage"]
    assert storage.get("qc8w", 0) > 0 and "fp32" not in storage
    # int8 activations per token where the gate passed (the agreement on record), else weight-only
    int8_activations = entry["lowbit"]["activations"].get("int8", 0) > 0
    assert entry["weight_bytes"]["fp32"] == 0
    assert 7.9 < entry["linear_bits_per_weight"] < 9.5
    # each int8 linear weight replaced four fp32 bytes (scales and the program's own bytes aside)
    shrunk = (tiny_bundle / "model.pte").stat().st_size - (out / "model.pte").stat().st_size
    assert shrunk > 2 * entry["weight_bytes"]["linear"]
    eager = eager_translator(tiny_model_dir, options).translate(sentences, TranslateOptions(beam_size=1))
    translator = Translator(out, backend="executorch")
    exported = translator.translate(sentences, TranslateOptions(beam_size=1), batch_size=1)
    same = sum(a.token_ids == b.token_ids for a, b in zip(exported, eager, strict=True))
    if int8_activations:
        check = json.loads((out / "manifest.json").read_text())["export_check"]["backends"]["executorch"]
        assert check["greedy_agreement"] >= 0.95 and same >= 0.8 * len(sentences)
    else:
        assert same == len(sentences)
    batched = translator.translate(sentences, TranslateOptions(beam_size=1), batch_size=4)
    assert [t.token_ids for t in batched] == [t.token_ids for t in exported]


def test_export_tries_kernels_in_turn_until_one_passes_the_gate(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``auto``: per-call int8 encoder, then row-wise int8, then fp32 activations, each tried only when
    the one before failed the ONNX agreement gate; the ExecuTorch program's int8 then fp32 activations
    the same way, apart from ONNX's; ``int8`` never falls back to fp32."""
    from pocketmt.export import pipeline

    tried: list[tuple[str, bool]] = []
    programs: list[str] = []

    def fails(times: int, backend: str = "onnx"):  # type: ignore[no-untyped-def]
        def once(model, out_dir, options, say, per_call):  # type: ignore[no-untyped-def]
            tried.append((options.lowbit_compute, per_call))
            programs.append(options.pte_lowbit_compute)
            if len(tried) <= times:
                raise pipeline._ParityError(f"refusing: {backend} agreement", backend, "50%")
            return "report"

        return once

    for compute, times, want in (
        ("auto", 0, [("int8", True)]),
        ("auto", 1, [("int8", True), ("int8", False)]),
        ("auto", 2, [("int8", True), ("int8", False), ("fp32", False)]),
        ("int8", 1, [("int8", True), ("int8", False)]),
        ("fp32", 0, [("fp32", False)]),
    ):
        tried.clear()
        monkeypatch.setattr(pipeline, "_export_once", fails(times))
        options = pipeline.ExportOptions(formats=("onnx",), weights="int8", lowbit_compute=compute)
        assert pipeline.export_bundle(tiny_model_dir, tmp_path / "b", options) == "report"
        assert tried == want
    # the program: int8 activations, then fp32 under auto, while ONNX keeps the kernels that passed
    tried.clear()
    programs.clear()
    monkeypatch.setattr(pipeline, "_export_once", fails(1, "executorch"))
    options = pipeline.ExportOptions(weights="int8")
    assert pipeline.export_bundle(tiny_model_dir, tmp_path / "b", options) == "report"
    assert programs == ["int8", "fp32"] and tried == [("int8", True), ("int8", True)]
    for compute, times, backend, want_tries in (
        ("int8", 2, "onnx", 2),
        ("auto", 2, "executorch", 2),
        ("int8", 1, "executorch", 1),
    ):
        tried.clear()
        monkeypatch.setattr(pipeline, "_export_once", fails(times, backend))
        options = pipeline.ExportOptions(weights="int8", lowbit_compute=compute)
        with pytest.raises(pipeline.ExportError, match=f"refusing: {backend} agreement"):
            pipeline.export_bundle(tiny_model_dir, tmp_path / "b", options)
        assert len(tried) == want_tries
    # a quantize checkpoint's program (no --weights) keeps its own kernels: tried once
    tried.clear()
    programs.clear()
    monkeypatch.setattr(pipeline, "_export_once", fails(1, "executorch"))
    with pytest.raises(pipeline.ExportError, match="refusing: executorch agreement"):
        pipeline.export_bundle(tiny_model_dir, tmp_path / "b", pipeline.ExportOptions())
    assert programs == ["fp32"]


def test_unknown_weight_format_is_a_one_line_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    from pocketmt.export.errors import ExportError
    from pocketmt.export.pipeline import ExportOptions, export_bundle

    with pytest.raises(ExportError, match="unknown weight format 'int3'"):
        export_bundle(tiny_model_dir, tmp_path / "x", ExportOptions(weights="int3"))
    assert not (tmp_path / "x").exists()


def test_share_weights_stores_each_tensor_once_and_decodes_exactly(tmp_path: Path) -> None:
    from pocketmt.export.onnx_storage import share_weights

    rng = np.random.default_rng(3)
    embedding = rng.standard_normal((64, 32)).astype(np.float32)
    own = rng.standard_normal((32, 48)).astype(np.float32)
    tiny = rng.standard_normal((3, 3)).astype(np.float32)
    _identity_model(tmp_path / "a.onnx", {"emb": embedding, "tiny": tiny})
    _identity_model(tmp_path / "b.onnx", {"tied": embedding.copy(), "own": own})
    size = share_weights(tmp_path, ("a.onnx", "b.onnx"), "w.bin")
    assert size == (tmp_path / "w.bin").stat().st_size
    assert embedding.nbytes + own.nbytes <= size < 2 * embedding.nbytes + own.nbytes  # the tie kept once
    assert (tmp_path / "a.onnx").stat().st_size < 1000 + tiny.nbytes  # graph files hold no big tensors
    got_a = _decoded(tmp_path / "a.onnx", ["emb", "tiny"], False)
    got_b = _decoded(tmp_path / "b.onnx", ["tied", "own"], False)
    for got, want in zip([*got_a, *got_b], [embedding, tiny, embedding, own], strict=True):
        assert got.tobytes() == want.tobytes()
    # a changed byte in the shared file changes what both graphs compute: the manifest's sha256 covers it
    data = bytearray((tmp_path / "w.bin").read_bytes())
    data[0] ^= 0xFF
    (tmp_path / "w.bin").write_bytes(bytes(data))
    assert _decoded(tmp_path / "a.onnx", ["emb"], False)[0].tobytes() != embedding.tobytes()
