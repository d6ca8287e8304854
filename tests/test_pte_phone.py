"""The ExecuTorch bundle the phone runs: one self-contained ``model.pte`` whose low-bit weights stay
low-bit, loaded by the Python runtime on ExecuTorch's native runtime alone (no compiler, no exporter).

The checkpoint is the ternary QAT recipe of ``test_compression.py`` on the tiny copy model; its
bundle is exported once for the module, with both backends.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pocketmt.export.random_model import synthetic_sentences

from .conftest import BEAM, MAX_SOURCE_LEN, MAX_TARGET_LEN

PARITY_SENTENCES = 40


@pytest.fixture(scope="module")
def ternary_ckpt(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pocketmt.export.compression.schemes import POLICIES
    from pocketmt.export.training.quantize_checkpoint import quantize_checkpoint
    from pocketmt.export.training.trainer import FineTuneOptions

    root = tmp_path_factory.mktemp("pte-ternary")
    train, valid = synthetic_sentences(300, seed=5), synthetic_sentences(12, seed=6)
    corpus = {}
    for key, lines in (("src", train), ("tgt", train), ("valid_src", valid), ("valid_tgt", valid)):
        path = root / f"{key}.txt"
        path.write_text("\n".join(lines) + "\n")
        corpus[key] = str(path)
    qat = FineTuneOptions(
        **corpus, max_epochs=2, lr=1e-3, warmup_steps=20, batch_tokens=512, precision="fp32"
    )
    out = root / "tiny-ternary"
    quantize_checkpoint(tiny_model_dir, out, POLICIES["ternary"], qat)
    return out


@pytest.fixture(scope="module")
def phone_bundle(ternary_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pocketmt.export.pipeline as pipeline

    root = tmp_path_factory.mktemp("pte-bundle")
    parity = root / "parity.txt"
    parity.write_text("\n".join(synthetic_sentences(PARITY_SENTENCES, seed=11)) + "\n")
    opts = pipeline.ExportOptions(
        max_source_len=MAX_SOURCE_LEN,
        max_target_len=MAX_TARGET_LEN,
        beam_size=BEAM,
        parity_src=str(parity),
        lowbit_compute="fp32",  # ONNX as close to eager as it goes: the reference for the .pte
    )
    # the export's own gate: a d=32 model has logits too close together for int8 activations
    # (XNNPACK's quantized linears took them, and this bundle needed a floor of 80%); its
    # weight-only linears compute the fp32 product
    pipeline.export_bundle(ternary_ckpt, root / "bundle", opts)
    return root / "bundle"


def _manifest(bundle: Path) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((bundle / "manifest.json").read_text())
    return raw


def test_the_program_is_one_file_with_both_methods(phone_bundle: Path) -> None:
    from pocketmt.runtime.bundle import Bundle

    raw = _manifest(phone_bundle)
    entry = raw["graphs"]["executorch"]
    assert entry["file"] == "model.pte" and "weights" not in entry
    names = sorted(p.name for p in phone_bundle.iterdir())
    assert not [n for n in names if n.endswith((".ptd", ".safetensors"))]
    files = Bundle.open(phone_bundle).manifest.files_for_backend("executorch")
    assert [f for f in files if not f.endswith((".spm", ".json"))] == ["model.pte"]
    program = (phone_bundle / "model.pte").read_bytes()
    assert b"encode" in program and b"decode_step" in program and b"XnnpackBackend" in program


def test_low_bit_weights_are_stored_low_bit(phone_bundle: Path, ternary_ckpt: Path) -> None:
    from pocketmt.export.compression.quantize import load_quantization
    from pocketmt.export.compression.quantizers import dequantize

    entry = _manifest(phone_bundle)["graphs"]["executorch"]
    _, tensors = load_quantization(ternary_ckpt)  # type: ignore[misc]
    linear = {n: q for n, q in tensors.items() if n != "model.shared"}
    # every ternary linear is an XNNPACK int4 per-channel linear; the tied embedding is looked up
    # by the 4-bit embedding kernel and projects the output as an XNNPACK int4 linear (per channel
    # here, where d_model is one group of 32; one per group of 32 columns, summed, in a real model)
    stored = entry["lowbit"]["tensors"]
    assert {k.split(":")[0] for k in stored if k.endswith(":qc4w")} >= set(linear)
    # all of them XNNPACK weight-only linears (fp32 activations), the output projection too
    assert entry["lowbit"]["activations"] == {"fp32": len(linear) + 1}
    assert "model.shared:embedding_4bit" in stored
    assert "model.shared:qc4w" in stored or "model.shared:qc4w_split" in stored
    assert "fp32" not in entry["lowbit"]["storage"]
    # codes at 4 bits plus scales, each tensor once; nothing quantized is held as fp32
    codes = sum(q.codes.numel() for q in linear.values()) // 2
    assert entry["weight_bytes"]["linear"] == codes + 4 * sum(q.codes.shape[0] for q in linear.values())
    assert entry["weight_bytes"]["fp32"] == 0
    assert 4 < entry["linear_bits_per_weight"] < 6
    fp32_bytes = 4 * sum(q.codes.numel() for q in tensors.values())
    packed = sum(entry["weight_bytes"].values())
    program = (phone_bundle / "model.pte").read_bytes()
    # the file is the packed weights plus the program's fixed cost (graphs, biases, norms,
    # position tables): far under what the same tensors take in fp32
    assert len(program) < packed + 160_000 < fp32_bytes + 160_000
    assert len(program) < 0.6 * (fp32_bytes + 160_000)
    for q in tensors.values():  # no quantized tensor's fp32 values are in the file, in either layout
        w = dequantize(q.codes, q.scales).numpy()
        assert w.tobytes()[:64] not in program and w.T.copy().tobytes()[:64] not in program


def test_pte_translations_agree_with_onnx_and_eager(phone_bundle: Path) -> None:
    from pocketmt.export.pipeline import PARITY_MIN_AGREEMENT
    from pocketmt.runtime.translator import TranslateOptions, Translator

    checks = _manifest(phone_bundle)["export_check"]["backends"]
    assert checks["executorch"]["parity_sentences"] == PARITY_SENTENCES
    assert checks["executorch"]["greedy_agreement"] >= PARITY_MIN_AGREEMENT
    texts = synthetic_sentences(PARITY_SENTENCES, seed=11)
    greedy = TranslateOptions(beam_size=1)
    pte = Translator(phone_bundle, "executorch").translate(texts, greedy)
    onnx = Translator(phone_bundle, "onnx").translate(texts, greedy)
    same = sum(a.token_ids == b.token_ids for a, b in zip(pte, onnx, strict=True))
    assert same / len(texts) >= PARITY_MIN_AGREEMENT
    # beam search runs on the same program (beams are the batch dimension)
    beam = Translator(phone_bundle, "executorch").translate(texts[:3], TranslateOptions(beam_size=BEAM))
    assert all(t.finished for t in beam)


_PROBE = """
import os, sys
from pocketmt.runtime.translator import Translator
out = Translator(sys.argv[1], "executorch").translate(["the cat sees the dog"])
loaded = sorted(sys.modules)
print(out[0].text)
print("exir" if any(m == "executorch.exir" or m.startswith("executorch.exir.") for m in loaded) else "-")
print("export" if any(m.startswith("pocketmt.export") for m in loaded) else "-")
print("torch" if "torch" in sys.modules else "-")
print(sorted(os.listdir(sys.argv[1])))
"""


def test_runtime_loads_and_translates_without_compiler_or_exporter(
    phone_bundle: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    env = {
        "PATH": "/usr/bin:/bin",
        "POCKETMT_CACHE": str(cache),
        "XDG_CACHE_HOME": str(cache),
        "HOME": str(tmp_path),
    }
    before = sorted(p.name for p in phone_bundle.iterdir())
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(phone_bundle)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    text, exir, export, torch_loaded, listing = proc.stdout.splitlines()[-5:]
    assert text.strip()
    assert exir == "-" and export == "-"
    # the pip wheel's native runtime links libtorch and takes torch tensors: torch is loaded
    assert torch_loaded == "torch"
    # one file read, nothing written: no data file next to the bundle or in a cache
    assert eval(listing) == before and not cache.exists()


def test_a_two_file_bundle_of_the_older_format_is_refused_with_one_line(
    phone_bundle: Path, tmp_path: Path
) -> None:
    from pocketmt.runtime.integrity import sha256_file

    old = tmp_path / "old"
    shutil.copytree(phone_bundle, old)
    weights = old / "model.weights.safetensors"
    weights.write_bytes(b"\0" * 64)
    raw = _manifest(old)
    raw["graphs"]["executorch"]["weights"] = {
        "file": weights.name,
        "tensors": {},
        "ptd_bytes": 0,
        "ptd_sha256": "0" * 64,
    }
    raw["files"][weights.name] = {"bytes": 64, "sha256": sha256_file(weights)}
    (old / "manifest.json").write_text(json.dumps(raw))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pocketmt",
            "translate",
            "--bundle",
            str(old),
            "--backend",
            "executorch",
            "a cat",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "re-export" in lines[0], proc.stderr


def test_fp32_checkpoints_keep_the_fp32_program(tiny_bundle: Path) -> None:
    entry = _manifest(tiny_bundle)["graphs"]["executorch"]
    assert "lowbit" not in entry and "weights" not in entry
    assert not [p for p in tiny_bundle.iterdir() if p.suffix in (".ptd", ".safetensors")]


@pytest.mark.parametrize(
    ("kind", "group"), [("int4", 32), ("int4", 0), ("int8", 0), ("int8", 32), ("ternary", 0)]
)
def test_quantized_modules_compute_from_the_exact_codes(kind: str, group: int) -> None:
    import torch

    from pocketmt.export.compression.quantize import QTensor
    from pocketmt.export.compression.quantizers import dequantize, quantize_tensor
    from pocketmt.export.compression.schemes import Scheme
    from pocketmt.export.pte_quantized import GroupSplitLinear, QuantEmbedding, _linear_kind, stored_bytes

    torch.manual_seed(0)
    scheme = Scheme(kind, group)
    codes, scales = quantize_tensor(torch.randn(48, 64), scheme)
    q = QTensor(scheme, codes, scales)
    weight = dequantize(codes, scales)
    ids = torch.tensor([[0, 5, 47, 5]])
    assert torch.equal(QuantEmbedding(q)(ids), weight[ids])  # the lookup decodes exactly
    x = torch.randn(3, 64)
    kind_of = _linear_kind(q)
    assert kind_of is not None
    if kind_of == "qc8w_split":
        layer: torch.nn.Module = GroupSplitLinear(q, None)
        parts = torch.cat([p.weight() for p in layer.parts], dim=1)  # type: ignore[union-attr,operator]
        assert torch.equal(parts, weight)
    else:
        from pocketmt.export.pte_quantized import DynamicQuantLinear

        layer = DynamicQuantLinear(q, None, kind_of)
        assert torch.equal(layer.weight(), weight)  # type: ignore[operator]
    # int8 activations per token: close to the fp32 product, not equal
    got, want = layer(x), x @ weight.T
    assert torch.allclose(got, want, atol=0.05 * float(want.abs().max()))
    bits = 8 * stored_bytes(q, kind_of) / codes.numel()
    assert bits <= (9 if kind == "int8" else 5)


def _quantized(kind: str, group: int, rows: int = 48, cols: int = 64) -> Any:
    import torch

    from pocketmt.export.compression.quantize import QTensor
    from pocketmt.export.compression.quantizers import quantize_tensor
    from pocketmt.export.compression.schemes import Scheme

    torch.manual_seed(0)
    scheme = Scheme(kind, group)
    codes, scales = quantize_tensor(torch.randn(rows, cols), scheme)
    return QTensor(scheme, codes, scales)


# (scheme, group): int8 and int4 / ternary per row, and int4 in groups of 32 as per-group parts
WEIGHT_ONLY_CASES = [("int8", 0), ("int4", 0), ("ternary", 0), ("int4", 32), ("int8", 32)]


def _weight_only_layer(q: Any, bias: Any) -> Any:
    from pocketmt.export.pte_quantized import GroupSplitLinear, WeightOnlyLinear, _linear_kind

    kind = _linear_kind(q)
    if kind == "qb4w":  # as the tied output projection: one per-channel part per group
        kind = "qc4w_split"
    if kind.endswith("_split"):
        return GroupSplitLinear(q, bias, kind.removesuffix("_split"), activations="fp32")
    return WeightOnlyLinear(q, bias, kind)


@pytest.mark.parametrize(("kind", "group"), WEIGHT_ONLY_CASES)
def test_weight_only_linears_give_the_fp32_product(kind: str, group: int) -> None:
    import torch

    from pocketmt.export.compression.quantizers import dequantize

    q = _quantized(kind, group)
    bias = torch.randn(48)
    x = torch.randn(3, 64) * 4
    want = x @ dequantize(q.codes, q.scales).T + bias
    got = _weight_only_layer(q, bias)(x)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_no_weight_only_layer_for_blockwise_int4() -> None:
    from pocketmt.export.errors import ExportError
    from pocketmt.export.pte_quantized import WeightOnlyLinear

    # XNNPACK has no fp32 x blockwise-int4 linear (its runtime refuses the node at load)
    with pytest.raises(ExportError, match="no weight-only linear for qb4w"):
        WeightOnlyLinear(_quantized("int4", 32), None, "qb4w")


def _lower(module: Any, example: tuple[Any, ...]) -> Any:
    import torch
    from executorch.exir import to_edge_transform_and_lower

    from pocketmt.export.to_executorch import xnnpack_partitioner

    with torch.no_grad():
        exported = torch.export.export(module, example, strict=False)
    return to_edge_transform_and_lower(exported, partitioner=[xnnpack_partitioner()])


@pytest.mark.parametrize(("kind", "group"), WEIGHT_ONLY_CASES)
def test_weight_only_linears_run_in_xnnpack_on_the_packed_codes(
    kind: str, group: int, tmp_path: Path
) -> None:
    import torch

    from pocketmt.export.compression.quantizers import dequantize
    from pocketmt.export.pte_quantized import DynamicQuantLinear
    from pocketmt.runtime.backends.executorch_backend import _native

    rows, cols = 256, 512
    q = _quantized(kind, group, rows, cols)
    bias = torch.randn(rows)
    layer = _weight_only_layer(q, bias).eval()
    x = torch.randn(5, cols) * 4
    edge = _lower(layer, (x,))
    # the whole layer is one XNNPACK delegate call: no dequantize (a decode of the codes to fp32
    # at run time) and no linear left to ExecuTorch's portable kernels
    graph = edge.exported_program().graph
    ops = {n.target.__name__ for n in graph.nodes if n.op == "call_function"}
    assert ops <= {"executorch_call_delegate", "getitem"}, ops
    program = edge.to_executorch().buffer
    path = tmp_path / "layer.pte"
    path.write_bytes(program)
    # packed codes (int4 two per byte) with fp32 scales and bias, plus the program's fixed cost
    bits = 8 if kind == "int8" else 4
    scales = q.scales.numel()
    assert len(program) < rows * cols * bits // 8 + 4 * (scales + rows) + 16_000
    got = _native()._load_program(str(path)).load_method("forward")([x])[0]
    want = x @ dequantize(q.codes, q.scales).T + bias
    err = float((got - want).abs().max())
    assert err <= 1e-5 * float(want.abs().max())
    # int8 activations (the only form stock XnnpackPartitioner lowers) are much further off
    if group == 0:
        int8 = DynamicQuantLinear(q, bias, "qc8w" if kind == "int8" else "qc4w")(x)
        assert float((int8 - want).abs().max()) > 100 * max(err, 1e-6)
