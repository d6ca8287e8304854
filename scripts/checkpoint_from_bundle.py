"""Recover the quantized checkpoint behind an ONNX bundle exported from ``pocketmt quantize`` output.

    python scripts/checkpoint_from_bundle.py sdk/models/de-en -o runs/student-de-en-ternary-recovered

A low-bit bundle stores the checkpoint's integer codes and fp16 scales unchanged (docs/bundle.md,
"Quantized checkpoints"), so the checkpoint can be rebuilt bit for bit:

* each ``MatMulNBits`` node is one linear: codes unpacked from its packed input, scales from the
  fp16 initializer its scale input is cast from; the module it belongs to is named by the bias
  that the node's output is added to (the dynamo exporter keeps parameter names, but not those of
  the transposed weights it feeds to MatMul);
* the token embedding is the table decoded by constant ops (``<name>__packed`` / ``__sh``);
* everything else (biases, layer norms, final_logits_bias) is a named fp32 initializer, possibly
  re-encoded losslessly by ``onnx_storage.compact_onnx`` (int8 + DequantizeLinear, fp16 + Cast).

The output is what ``pocketmt quantize`` writes: ``save_pretrained`` of the frozen fp32 model
(weights = codes * scales), the tokenizer files, ``quantized.safetensors`` and ``quantization.json``.
The HF config is built from the manifest's ``model`` section; what the manifest does not record
(max positions, dropout, init_std, tokenizer_config.json) comes from a template checkpoint, by
default the fp32 student in ``models/`` that the ternary model was fine-tuned from.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parent.parent
GRAPHS = ("encoder.onnx", "decoder_step.onnx")
# ONNX parameter prefixes (the step graphs' module names) -> the HF model's, per graph
PREFIXES = {
    "encoder.onnx": [
        ("cross_layers.", "model.decoder.layers.{}.encoder_attn."),
        ("layers.", "model.encoder.layers.{}."),
    ],
    "decoder_step.onnx": [("layers.", "model.decoder.layers.{}.")],
}
EMBEDDING = "model.shared"
EMBEDDING_TABLES = ("embed_tokens.weight", "lm_head.weight")  # the tied table, as each graph names it


def hf_name(graph: str, onnx_name: str) -> str:
    if onnx_name == "final_logits_bias":
        return onnx_name
    for prefix, template in PREFIXES[graph]:
        if onnx_name.startswith(prefix):
            layer, rest = onnx_name[len(prefix) :].split(".", 1)
            return template.format(layer) + rest
    raise ValueError(f"{graph}: no checkpoint name for initializer {onnx_name}")


def unpack(packed: np.ndarray, bits: int, zero: int) -> np.ndarray:
    """Codes packed ``8 // bits`` per byte along the last axis, first in the lowest bits, minus ``zero``."""
    per = 8 // bits
    lanes = np.stack([(packed >> (bits * j)) & ((1 << bits) - 1) for j in range(per)], axis=-1)
    return (lanes.reshape(*packed.shape[:-1], -1).astype(np.int16) - zero).astype(np.int8)


class Graph:
    """One ONNX graph with its initializers as numpy arrays and who produces / consumes each value."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        self.model = onnx.load(str(path), load_external_data=True)
        self.inits = {i.name: numpy_helper.to_array(i) for i in self.model.graph.initializer}
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.model.graph.node:
            for out in node.output:
                self.producer[out] = node
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def source_init(self, value: str) -> np.ndarray:
        """The initializer a value is derived from through Cast / Expand / Reshape (data is input 0)."""
        while value not in self.inits:
            value = self.producer[value].input[0]
        return self.inits[value]

    def linears(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """HF module name -> (codes int8 [N, K], scales fp32 [N, groups]) of every MatMulNBits node."""
        out = {}
        for node in self.model.graph.node:
            if node.op_type != "MatMulNBits":
                continue
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            n, k, bits = attrs["N"], attrs["K"], attrs["bits"]
            # zero point 2^(bits-1): export writes no zero-point input, so the kernel's default applies
            if len(node.input) > 3 and node.input[3]:
                raise ValueError(
                    f"{self.name}: {node.name} has an explicit zero point; not an export of pocketmt"
                )
            codes = unpack(self.inits[node.input[1]], bits, 1 << (bits - 1)).reshape(n, -1)[:, :k]
            scales = self.source_init(node.input[2]).astype(np.float32)
            biases = [
                i
                for user in self.consumers[node.output[0]]
                if user.op_type == "Add"
                for i in user.input
                if i in self.inits
            ]
            if len(biases) != 1 or not biases[0].endswith(".bias"):
                raise ValueError(f"{self.name}: cannot tell which linear {node.name} is (adds {biases})")
            out[hf_name(self.name, biases[0][: -len(".bias")])] = (codes, scales.reshape(n, -1))
        return out

    def table(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(codes, scales) of a packed embedding table decoded by constant ops, or None."""
        if f"{name}__packed" not in self.inits:
            return None
        bits = 8 // self.inits[f"{name}__shift"].size
        zero = int(self.inits[f"{name}__zero"])
        rows = self.inits[f"{name}__shape"][0]
        codes = unpack(self.inits[f"{name}__packed"], bits, zero).reshape(rows, -1)
        return codes, self.inits[f"{name}__sh"].astype(np.float32)

    def plain(self) -> dict[str, np.ndarray]:
        """Every other named fp32 parameter, undoing compact_onnx's lossless re-encodings."""
        out = {}
        for node in self.model.graph.node:
            data = node.input[0] if node.input else ""
            if node.op_type == "DequantizeLinear" and data.endswith("__q"):
                q, scale = self.inits[data], self.inits[node.input[1]]
                axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
                shape = [1] * q.ndim
                shape[axis] = -1
                out[node.output[0]] = q.astype(np.float32) * scale.reshape(shape)
            elif node.op_type == "Cast" and data.endswith("__h"):
                out[node.output[0]] = self.inits[data].astype(np.float32)
        for name, value in self.inits.items():
            if value.dtype == np.float32:
                out[name] = value
        # parameters only: not the low-bit storage's constants (``__``), the exporter's scalars
        # (no dot), the positions (recomputed by transformers) or the table decoded from codes
        return {
            hf_name(self.name, name): value
            for name, value in out.items()
            if "__" not in name
            and ("." in name or name == "final_logits_bias")
            and name not in EMBEDDING_TABLES
        }


def merge(into: dict, new: dict, what: str) -> None:
    """Add ``new`` to ``into``; a tensor both graphs hold (the embedding) must be identical."""
    for name, value in new.items():
        if name in into:
            old, cur = (into[name], value) if isinstance(value, tuple) else ((into[name],), (value,))
            if not all(np.array_equal(a, b) for a, b in zip(old, cur, strict=True)):
                raise ValueError(f"{what} {name} differs between the graphs")
        into[name] = value


def build_config(manifest: dict, template: Path):
    from pocketmt.export.arch.marian import marian_config

    m = manifest["model"]
    base = json.loads((template / "config.json").read_text("utf-8"))
    config = marian_config(
        m["vocab_size"],
        m["d_model"],
        m["encoder_layers"],
        m["decoder_layers"],
        m["attention_heads"],
        m["ffn_dim"],
        max_positions=base["max_position_embeddings"],
        dropout=base["dropout"],
        init_std=base["init_std"],
    )
    tokens = manifest["tokens"]
    found = {
        "pad_id": config.pad_token_id,
        "eos_id": config.eos_token_id,
        "unk_id": config.unk_token_id,
        "decoder_start_id": config.decoder_start_token_id,
    }
    if found != tokens:
        raise ValueError(f"manifest tokens {tokens} are not the OPUS-MT layout {found}")
    return config


def recover(bundle: Path, out: Path, template: Path) -> None:
    from transformers import MarianMTModel

    manifest = json.loads((bundle / "manifest.json").read_text("utf-8"))
    quant = manifest["quantization"]
    schemes = quant["tensors"]
    if any(s["kind"] == "int8" for s in schemes.values()):
        raise ValueError(
            "int8 tensors are stored with DequantizeLinear; only int4/ternary are recovered here"
        )

    quantized: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    plain: dict[str, np.ndarray] = {}
    positions = []
    for file in GRAPHS:
        graph = Graph(bundle / file)
        merge(quantized, graph.linears(), "linear")
        for name in EMBEDDING_TABLES:
            table = graph.table(name)
            if table is not None:
                merge(quantized, {EMBEDDING: table}, "embedding")
        merge(plain, graph.plain(), "tensor")
        positions.append(graph.inits["positions"])
    if set(quantized) != set(schemes):
        raise ValueError(
            f"quantized tensors in the graphs {sorted(set(quantized) ^ set(schemes))} != manifest"
        )
    for name, (codes, scales) in quantized.items():
        group = schemes[name]["group_size"] or codes.shape[1]
        if scales.shape != (codes.shape[0], codes.shape[1] // group):
            raise ValueError(f"{name}: scales {scales.shape} do not fit {schemes[name]} on {codes.shape}")

    model = MarianMTModel(build_config(manifest, template)).eval()
    state = {k: torch.from_numpy(v.copy()) for k, v in plain.items()}
    for name, (codes, scales) in quantized.items():
        # the frozen model's weight is codes * scales in fp32, group by group (quantizers.dequantize)
        rows, cols = codes.shape
        w = codes.astype(np.float32).reshape(rows, scales.shape[1], -1) * scales[..., None]
        state[f"{name}.weight"] = torch.from_numpy(w.reshape(rows, cols))
    missing, unexpected = model.load_state_dict(state, strict=False)
    expected_missing = {
        k
        for k in model.state_dict()
        if "embed_tokens" in k or "embed_positions" in k or k == "lm_head.weight"
    }
    if unexpected or set(missing) - expected_missing:
        raise ValueError(
            f"state mismatch: missing {sorted(set(missing) - expected_missing)}, unexpected {unexpected}"
        )
    model.tie_weights()
    # positions are not stored in a checkpoint: transformers recomputes them; they must be the bundle's
    table = model.model.encoder.embed_positions.weight.detach().numpy()
    for rows in positions:
        if not np.array_equal(table[: len(rows)], rows):
            raise ValueError("the bundle's position table is not transformers' sinusoidal table")
    params = sum(p.numel() for p in model.parameters())
    if params != manifest["model"]["parameters"]:
        raise ValueError(f"{params} parameters, the manifest says {manifest['model']['parameters']}")

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tok = manifest["tokenizer"]
    shutil.copyfile(bundle / tok["source_spm"], out / "source.spm")
    shutil.copyfile(bundle / tok["target_spm"], out / "target.spm")
    shutil.copyfile(bundle / tok["vocab"], out / "vocab.json")
    tok_cfg = json.loads((template / "tokenizer_config.json").read_text("utf-8"))
    langs = (manifest["model"]["source_lang"], manifest["model"]["target_lang"])
    if (tok_cfg.get("source_lang"), tok_cfg.get("target_lang")) != langs:
        raise ValueError(f"{template}: tokenizer_config.json is not {langs[0]}-{langs[1]}")
    shutil.copyfile(template / "tokenizer_config.json", out / "tokenizer_config.json")

    # the same layout as compression.quantize.write_tensors / save_quantized
    flat = {}
    for name in sorted(quantized):
        codes, scales = quantized[name]
        flat[f"{name}.codes"] = torch.from_numpy(np.ascontiguousarray(codes))
        flat[f"{name}.scales"] = torch.from_numpy(np.ascontiguousarray(scales))
    save_file(flat, str(out / "quantized.safetensors"))
    meta = {
        "format_version": 1,
        "policy": quant["policy"],
        "tensors": {
            name: {
                "kind": schemes[name]["kind"],
                "group_size": schemes[name]["group_size"],
                "shape": list(codes.shape),
            }
            for name, (codes, _) in sorted(quantized.items())
        },
        "made_by": quant.get("made_by", {}),
    }
    (out / "quantization.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{out}: {len(quantized)} quantized tensors, {len(plain)} fp32 tensors, {params} parameters")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument(
        "--template",
        type=Path,
        help="checkpoint whose config.json (max positions, dropout, init_std) and tokenizer_config.json "
        "to mirror (default: models/student-SRC-TGT)",
    )
    args = parser.parse_args()
    manifest = json.loads((args.bundle / "manifest.json").read_text("utf-8"))
    if "quantization" not in manifest:
        raise SystemExit(f"{args.bundle}: not a quantized bundle (no quantization section)")
    m = manifest["model"]
    template = args.template or REPO / "models" / f"student-{m['source_lang']}-{m['target_lang']}"
    recover(args.bundle, args.output, template)


if __name__ == "__main__":
    main()
