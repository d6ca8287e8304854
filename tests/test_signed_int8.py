"""The load-time rewrite of integer products onto signed weights (``runtime/backends/onnx_signed_int8.py``):
the same outputs bit for bit where this CPU's ``u8 x s8`` product is exact, every integer product of an
int8 bundle rewritten, the other readers of a weight left alone, and no file read outside the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import BEAM, MAX_SOURCE_LEN, MAX_TARGET_LEN

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from pocketmt.runtime.backends import onnx_backend  # noqa: E402
from pocketmt.runtime.backends.onnx_signed_int8 import signed_graph, signed_weights_exact  # noqa: E402
from pocketmt.runtime.errors import BundleError  # noqa: E402

exact = pytest.mark.skipif(
    not signed_weights_exact(), reason="this CPU's u8 x s8 integer product is not exact (x86 without VNNI)"
)
PRODUCTS = ("MatMulInteger", "DynamicQuantizeMatMul")


@pytest.fixture(scope="module")
def int8_bundle(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``--weights int8`` bundle with a shortlist: integer products in the encoder (per call), the
    tied projection and the shortlist step's subset projection."""
    from pocketmt.export import pipeline
    from pocketmt.export.pipeline import ExportOptions, export_bundle
    from pocketmt.export.random_model import synthetic_sentences

    root = tmp_path_factory.mktemp("signed")
    corpus = root / "train.txt"
    corpus.write_text("\n".join(synthetic_sentences(300, seed=7)) + "\n", "utf-8")
    out = root / "bundle"
    options = ExportOptions(
        formats=("onnx",),
        weights="int8",
        lowbit_compute="int8",
        max_source_len=MAX_SOURCE_LEN,
        max_target_len=MAX_TARGET_LEN,
        beam_size=BEAM,
        shortlist_src=str(corpus),
        shortlist_tgt=str(corpus),
        shortlist_frequent=8,
        shortlist_per_token=4,
    )
    # these tests compare kernels, not translations: the tiny model's int8 activations need not pass
    # the export gate (they agree with eager on about 85% of sentences)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "PARITY_MIN_AGREEMENT", 0.0)
        export_bundle(tiny_model_dir, out, options)
    return out


def _graphs(bundle: Path, signed: bool) -> onnx_backend.OnnxGraphs:
    from pocketmt.runtime.bundle import Bundle

    return onnx_backend.open_graphs(Bundle.open(bundle), threads=1, signed_int8=signed)


def _products(path: Path) -> int:
    return sum(n.op_type in PRODUCTS for n in onnx.load(str(path), load_external_data=False).graph.node)


@exact
def test_every_integer_product_of_an_int8_bundle_runs_signed_with_the_same_outputs(int8_bundle: Path) -> None:
    unsigned, signed = _graphs(int8_bundle, False), _graphs(int8_bundle, True)
    assert unsigned.signed_products == {}
    files = json.loads((int8_bundle / "manifest.json").read_text())["graphs"]["onnx"]
    wanted = {
        files[key]: _products(int8_bundle / files[key])
        for key in ("encode", "decode_step", "decode_shortlist")
        if _products(int8_bundle / files[key])
    }
    assert wanted and signed.signed_products == wanted
    rng = np.random.default_rng(0)
    ids = rng.integers(4, 40, (3, 7)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 5:] = 0
    enc_u = unsigned.encode(ids, mask)
    enc_s = signed.encode(ids, mask)
    for a, b in zip(enc_u, enc_s, strict=True):
        assert np.array_equal(a, b)
    # three steps of both contract-2 graphs on two rows per sentence, every row continuing a parent
    layers, _, heads, _, dim = enc_u[0].shape
    past_u = past_s = np.zeros((layers, 6, heads, 0, dim), np.float32)
    past_vu = past_vs = past_u
    vocab_ids = np.asarray(sorted(rng.choice(np.arange(60), 25, replace=False)), np.int64)
    for position in range(3):
        tokens = rng.integers(4, 40, (6, 1)).astype(np.int64)
        parents = np.asarray([0, 0, 3, 2, 5, 4] if position else list(range(6)), np.int64)
        pos = np.asarray([position], np.int64)
        full_u = unsigned.decode_grow(tokens, pos, past_u, past_vu, parents, *enc_u, mask)
        full_s = signed.decode_grow(tokens, pos, past_s, past_vs, parents, *enc_s, mask)
        sub_u = unsigned.decode_shortlist(tokens, pos, past_u, past_vu, parents, *enc_u, mask, vocab_ids)
        sub_s = signed.decode_shortlist(tokens, pos, past_s, past_vs, parents, *enc_s, mask, vocab_ids)
        for a, b in (*zip(full_u, full_s, strict=True), *zip(sub_u, sub_s, strict=True)):
            assert np.array_equal(a, b)
        _, past_u, past_vu = full_u
        _, past_s, past_vs = full_s


@exact
def test_a_signed_translator_translates_as_the_stored_graphs_do(
    int8_bundle: Path, sentences: list[str]
) -> None:
    from pocketmt.runtime.translator import TranslateOptions, Translator

    texts = sentences[:24]
    signed = Translator(int8_bundle, "onnx")
    assert signed.graphs.signed_products  # type: ignore[attr-defined]
    unsigned = Translator(int8_bundle, "onnx", graphs=_graphs(int8_bundle, False))
    for beam in (1, BEAM):
        opts = TranslateOptions(beam_size=beam)
        a = [(t.token_ids, t.score) for t in signed.translate(texts, opts, batch_size=8)]
        b = [(t.token_ids, t.score) for t in unsigned.translate(texts, opts, batch_size=8)]
        assert a == b


def test_without_an_exact_signed_product_the_graphs_run_as_stored(
    int8_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_backend, "signed_weights_exact", lambda: False)
    from pocketmt.runtime.translator import Translator

    assert Translator(int8_bundle, "onnx").graphs.signed_products == {}  # type: ignore[attr-defined]


def _product_graph(tmp_path: Path, location: str | None = None) -> Path:
    """``y = (a - 128) @ (W.T - 128)`` through a ``Transpose`` of the uint8 table ``W``, which a ``Cast``
    also reads (as an embedding lookup does); ``location``: ``W``'s external data file."""
    rng = np.random.default_rng(3)
    table = rng.integers(0, 256, (12, 16)).astype(np.uint8)  # [N, K], stored by rows
    w = numpy_helper.from_array(table, "w")
    if location is not None:
        (tmp_path / "w.bin").write_bytes(table.tobytes())
        w = TensorProto(name="w", data_type=TensorProto.UINT8, dims=table.shape)
        w.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", str(table.nbytes))):
            entry = w.external_data.add()
            entry.key, entry.value = key, value
    nodes = [
        helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
        helper.make_node("MatMulInteger", ["a", "wt", "zp", "zp"], ["y"]),
        helper.make_node("Cast", ["w"], ["wf"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, ["M", 16])],
        [
            helper.make_tensor_value_info("y", TensorProto.INT32, ["M", 12]),
            helper.make_tensor_value_info("wf", TensorProto.FLOAT, [12, 16]),
        ],
        [w, numpy_helper.from_array(np.asarray(128, np.uint8), "zp")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "g.onnx"
    onnx.save(model, str(path))
    return path


@exact
def test_the_rewrite_copies_the_weight_for_the_product_and_leaves_its_other_reader(tmp_path: Path) -> None:
    import onnxruntime as ort

    path = _product_graph(tmp_path, location="w.bin")
    rewritten = signed_graph(path)
    assert rewritten is not None and rewritten[1] == 1
    model = onnx.load_from_string(rewritten[0])
    product = next(n for n in model.graph.node if n.op_type == "MatMulInteger")
    cast = next(n for n in model.graph.node if n.op_type == "Cast")
    inits = {t.name: t for t in model.graph.initializer}
    assert cast.input[0] == "w" and inits["w"].data_type == TensorProto.UINT8
    assert inits[product.input[3]].data_type == TensorProto.INT8 and product.input[2] == "zp"
    options = ort.SessionOptions()
    options.add_session_config_entry("session.model_external_initializers_file_folder_path", str(tmp_path))
    a = np.random.default_rng(4).integers(0, 256, (5, 16)).astype(np.uint8)
    stored = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"a": a})
    signed = ort.InferenceSession(rewritten[0], options, providers=["CPUExecutionProvider"]).run(
        None, {"a": a}
    )
    table = np.frombuffer((tmp_path / "w.bin").read_bytes(), np.uint8).reshape(12, 16).astype(np.int64)
    assert np.array_equal(stored[0], (a.astype(np.int64) - 128) @ (table.T - 128))
    for x, y in zip(stored, signed, strict=True):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("location", ["../w.bin", "/etc/passwd", "sub/w.bin"])
def test_external_weights_outside_the_graph_folder_are_refused(
    tmp_path: Path, location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _product_graph(tmp_path, location=location)
    with pytest.raises(ValueError, match="not a file of the bundle"):
        signed_graph(path)
    monkeypatch.setattr(onnx_backend, "signed_weights_exact", lambda: True)
    with pytest.raises(BundleError, match="not a loadable ONNX model"):
        onnx_backend.OnnxGraphs(path, path)
