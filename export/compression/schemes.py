"""Quantization schemes and per-layer policies (one config object per method, in torchao's spirit).

A ``QuantPolicy`` is an ordered list of ``Rule(pattern, scheme)``; a tensor takes the scheme of the
first rule whose ``fnmatch`` pattern matches its module name (``model.encoder.layers.0.fc1``).
Tensors no rule matches stay as they are. Policies serialise to JSON and are recorded in the
quantized checkpoint (``quantization.json``) and in the bundle manifest.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

# fp16 is no integer code: the weight is rounded to half precision and keeps no codes or scales
KINDS = ("int8", "int4", "ternary", "fp16")
QMAX = {"int8": 127, "int4": 7, "ternary": 1, "fp16": 0}
# bits of one stored code: ternary codes {-1, 0, 1} are packed at 2 bits
CODE_BITS = {"int8": 8, "int4": 4, "ternary": 2, "fp16": 16}


@dataclass(frozen=True)
class Scheme:
    kind: str  # int8, int4, ternary or fp16
    group_size: int = 0  # weights per scale along the input dimension; 0 = one scale per output row

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown scheme {self.kind!r}; choose from {', '.join(KINDS)}")
        if self.group_size < 0 or (self.group_size and self.group_size & (self.group_size - 1)):
            raise ValueError(f"group size must be 0 (per row) or a power of two, not {self.group_size}")

    @property
    def integer(self) -> bool:
        """Stored as integer codes and scales (``QTensor``), not as rounded floats."""
        return self.kind != "fp16"

    @property
    def bits(self) -> int:
        return CODE_BITS[self.kind]

    @property
    def qmax(self) -> int:
        return QMAX[self.kind]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "group_size": self.group_size}


@dataclass(frozen=True)
class Rule:
    pattern: str
    scheme: Scheme | None  # None: keep this tensor unquantized


@dataclass(frozen=True)
class QuantPolicy:
    name: str
    rules: tuple[Rule, ...]

    def scheme_for(self, module_name: str) -> Scheme | None:
        for rule in self.rules:
            if fnmatch.fnmatchcase(module_name, rule.pattern):
                return rule.scheme
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rules": [
                {"pattern": r.pattern, "scheme": r.scheme.to_json() if r.scheme else None} for r in self.rules
            ],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> QuantPolicy:
        try:
            rules = tuple(
                Rule(str(r["pattern"]), Scheme(**r["scheme"]) if r.get("scheme") else None)
                for r in data["rules"]
            )
            return QuantPolicy(str(data.get("name", "custom")), rules)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed quantization policy: {exc}") from exc


EMBEDDING = "model.shared"  # the token embedding, tied to the decoder input and the output projection

# The built-in policies behind `pocketmt quantize --scheme`. Embeddings are most of a small model's
# bytes and double as the (tied) output projection, so each policy names them explicitly.
POLICIES: dict[str, QuantPolicy] = {
    # int8 linears per row; the embedding in groups of 32: one scale per row of the tied output
    # projection cost de-en 0.39 BLEU, groups of 32 cost 0.04
    "int8": QuantPolicy(
        "int8",
        (Rule(EMBEDDING, Scheme("int8", group_size=32)), Rule("*", Scheme("int8"))),
    ),
    "int4": QuantPolicy(
        "int4",
        (Rule(EMBEDDING, Scheme("int8")), Rule("*", Scheme("int4", group_size=32))),
    ),
    # ternary linears with one absmean scale per output row; the embedding (and tied output
    # projection) at int4 in groups of 32, which keeps a d=256 student under 4 MB
    "ternary": QuantPolicy(
        "ternary",
        (Rule(EMBEDDING, Scheme("int4", group_size=32)), Rule("*", Scheme("ternary"))),
    ),
}

# `pocketmt export --weights`: the same policies, applied to an unquantized checkpoint at export time.
# int8 is the one int8 quantizer (``quantizers.quantize_tensor``: per output row, fp16 scale) on every
# linear and the embedding; the graphs then store it as int8 + DequantizeLinear (``onnx_storage``).
WEIGHT_POLICIES: dict[str, QuantPolicy] = {
    "fp32": QuantPolicy("fp32", ()),
    "fp16": QuantPolicy("fp16", (Rule("*", Scheme("fp16")),)),
    "int8": QuantPolicy("int8-rows", (Rule("*", Scheme("int8")),)),
}
