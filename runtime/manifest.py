"""Reading and validating a bundle's ``manifest.json``.

The JSON Schema lives next to this file (``manifest.schema.json``) and is
the published contract; the dataclasses below are the typed view the
runtime uses after validation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.integrity import confined, name_error

SCHEMA_VERSION = 2
MANIFEST_NAME = "manifest.json"
# a real manifest is tens of kilobytes and a few levels deep (graphs/executorch/lowbit/tensors)
MAX_MANIFEST_BYTES = 16 << 20
MAX_NESTING = 32


@lru_cache(maxsize=1)
def manifest_schema() -> dict[str, Any]:
    text = resources.files("pocketmt.runtime").joinpath("manifest.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(frozen=True)
class Limits:
    max_source_len: int
    max_target_len: int
    max_batch: int


@dataclass(frozen=True)
class SpecialIds:
    pad_id: int
    eos_id: int
    unk_id: int
    decoder_start_id: int


@dataclass(frozen=True)
class DecodingDefaults:
    default_beam: int
    length_penalty: float
    forced_eos: bool
    banned_ids: tuple[int, ...]


@dataclass(frozen=True)
class Section:
    """A typed view of one manifest object. ``section["key"]`` still reads its JSON, for code written
    against the raw dicts; new code reads the typed fields."""

    raw: Mapping[str, Any] = field(repr=False, compare=False)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __contains__(self, key: object) -> bool:
        return key in self.raw

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


@dataclass(frozen=True)
class ModelSection(Section):
    architecture: str
    source_lang: str
    target_lang: str
    d_model: int
    encoder_layers: int
    decoder_layers: int
    attention_heads: int
    head_dim: int
    ffn_dim: int
    vocab_size: int
    parameters: int

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ModelSection:
        names = [f.name for f in fields(ModelSection) if f.name != "raw"]
        return ModelSection(data, **{name: data[name] for name in names})


@dataclass(frozen=True)
class FileEntry(Section):
    bytes: int
    sha256: str

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> FileEntry:
        return FileEntry(data, data["bytes"], str(data["sha256"]))


@dataclass(frozen=True)
class GraphsSection(Section):
    """One backend's ``graphs`` entry: its two entry points and the files it reads."""

    encode: str
    decode_step: str

    def files(self) -> list[str]:
        raise NotImplementedError


@dataclass(frozen=True)
class ExecuTorchSection(GraphsSection):
    file: str  # the program; ``encode`` and ``decode_step`` are its method names
    weights: Mapping[str, Any] | None  # low-bit weights packed outside the program

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ExecuTorchSection:
        return ExecuTorchSection(data, data["encode"], data["decode_step"], data["file"], data.get("weights"))

    def files(self) -> list[str]:
        return [self.file] + ([str(self.weights["file"])] if self.weights is not None else [])


@dataclass(frozen=True)
class OnnxSection(GraphsSection):
    weights: str | None  # the external-data file both graphs share
    dequantize_at_load: bool
    step_contract: int = 1  # 2: decode_step grows the cache and follows ``parents`` (docs/bundle.md)
    decode_shortlist: str | None = None  # contract 2 over a vocabulary subset (a shortlist's bundles)
    # the encoder quantizes its activations with one scale per call: run it on one sentence at a time
    encode_one_sentence: bool = False

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> OnnxSection:
        return OnnxSection(
            data,
            data["encode"],
            data["decode_step"],
            data.get("weights"),
            bool(data.get("dequantize_at_load", False)),
            int(data.get("step_contract", 1)),
            data.get("decode_shortlist"),
            bool(data.get("encode_one_sentence", False)),
        )

    def files(self) -> list[str]:
        extra = [f for f in (self.weights, self.decode_shortlist) if f is not None]
        return [self.encode, self.decode_step, *extra]


# how each backend's ``graphs`` entry reads; the schema lists the same names, the backend registry
# (``runtime/backends/registry.py``) binds each to its loader and what it needs installed
GRAPH_SECTIONS: dict[str, Callable[[Mapping[str, Any]], GraphsSection]] = {
    "executorch": ExecuTorchSection.from_json,
    "onnx": OnnxSection.from_json,
}


@dataclass(frozen=True)
class Manifest:
    raw: dict[str, Any]
    limits: Limits
    tokens: SpecialIds
    decoding: DecodingDefaults

    model: ModelSection
    files: dict[str, FileEntry]
    graphs: dict[str, GraphsSection]

    @property
    def tokenizer(self) -> dict[str, str]:
        tok: dict[str, str] = self.raw["tokenizer"]
        return tok

    @property
    def backends(self) -> list[str]:
        return sorted(self.graphs)

    def tokenizer_files(self) -> list[str]:
        tok = self.tokenizer
        return list(dict.fromkeys([tok["source_spm"], tok["target_spm"], tok["vocab"]]))

    def named_files(self) -> Iterator[tuple[str, str]]:
        """(field, file name) of every file the manifest's sections name, besides ``files`` itself."""
        for key in ("source_spm", "target_spm", "vocab"):
            yield f"tokenizer/{key}", self.tokenizer[key]
        for backend, section in sorted(self.graphs.items()):
            if isinstance(section, OnnxSection):
                yield f"graphs/{backend}/encode", section.encode
                yield f"graphs/{backend}/decode_step", section.decode_step
                if section.weights is not None:
                    yield f"graphs/{backend}/weights", section.weights
                if section.decode_shortlist is not None:
                    yield f"graphs/{backend}/decode_shortlist", section.decode_shortlist
            elif isinstance(section, ExecuTorchSection):
                yield f"graphs/{backend}/file", section.file
                if section.weights is not None:
                    yield f"graphs/{backend}/weights/file", str(section.weights["file"])
        if "reference" in self.raw:
            yield "reference", str(self.raw["reference"])
        if "shortlist" in self.raw:
            yield "shortlist/file", str(self.raw["shortlist"]["file"])

    def files_for_backend(self, backend: str) -> list[str]:
        """Files that translating with ``backend`` reads (the integrity check covers these)."""
        return self.tokenizer_files() + self.graphs[backend].files()


def _nesting(data: Any) -> int:
    """How deeply ``data`` nests objects and arrays (1 for a flat object), counted without recursion
    and only as far as one level past ``MAX_NESTING``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_NESTING:
                break
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


# integer fields, by section; JSON Schema would also accept 2.0 for these (the Java engine does not)
_INTEGER_FIELDS = {
    "model": (
        "d_model",
        "encoder_layers",
        "decoder_layers",
        "attention_heads",
        "head_dim",
        "ffn_dim",
        "vocab_size",
    ),
    "limits": ("max_source_len", "max_target_len", "max_batch"),
    "decoding": ("default_beam",),
}


class _Checker:
    """What the schema cannot say: integers that are integers, sizes that agree, ids inside the
    vocabulary, finite numbers, limits that fit each other. Each failure names its field."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def bad(self, path: str, what: str) -> BundleError:
        return BundleError(f"{self.where}: invalid manifest at {path}: {what}")

    def integer(self, path: str, value: Any) -> int:
        if type(value) is not int:
            raise self.bad(path, f"{value!r} is not an integer")
        return value

    def check(self) -> None:
        d = self.data
        for section, names in _INTEGER_FIELDS.items():
            for name in names:
                self.integer(f"{section}/{name}", d[section][name])
        for name, value in d["tokens"].items():
            self.integer(f"tokens/{name}", value)
        for i, value in enumerate(d["decoding"]["banned_ids"]):
            self.integer(f"decoding/banned_ids/{i}", value)
        for name, entry in d["files"].items():
            self.integer(f"files/{name}/bytes", entry["bytes"])

        model = d["model"]
        heads, head_dim = model["attention_heads"], model["head_dim"]
        if model["d_model"] != heads * head_dim:
            raise self.bad(
                "model/d_model",
                f"{model['d_model']} is not attention_heads * head_dim ({heads} * {head_dim} = {heads * head_dim})",
            )
        vocab = model["vocab_size"]
        ids = f"ids are 0..{vocab - 1} (model/vocab_size {vocab})"
        for name, value in d["tokens"].items():
            if value >= vocab:
                raise self.bad(f"tokens/{name}", f"{value} is outside the vocabulary: {ids}")
        dec = d["decoding"]
        eos = d["tokens"]["eos_id"]
        for i, value in enumerate(dec["banned_ids"]):
            if value >= vocab:
                raise self.bad(f"decoding/banned_ids/{i}", f"{value} is outside the vocabulary: {ids}")
            if value == eos:
                raise self.bad(f"decoding/banned_ids/{i}", f"bans eos_id {eos}: no translation could end")
        alpha = dec["length_penalty"]
        if not math.isfinite(alpha):
            raise self.bad("decoding/length_penalty", f"{alpha} is not a finite number")
        limits = d["limits"]
        if dec["default_beam"] > limits["max_batch"]:
            raise self.bad(
                "decoding/default_beam",
                f"{dec['default_beam']} is more than limits/max_batch ({limits['max_batch']}), the most rows the graphs take",
            )


def _schema_error(exc: Any, where: str) -> BundleError:
    path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
    if exc.validator == "pattern" and isinstance(exc.instance, str):
        # a file name (the schema's fileName): say what is wrong with it, as the Java engine does
        named = name_error(exc.instance, where, path)
        if named is not None:
            return named
    return BundleError(f"{where}: invalid manifest at {path}: {exc.message}")


def parse_manifest(data: Any, where: str = MANIFEST_NAME) -> Manifest:
    """Validate manifest data (the schema, then ``_Checker``) and give its typed view. This checks
    the manifest in itself; ``check_file_references``, ``check_graph_shapes`` and ``check_vocabulary``
    check it against the bundle's files, graphs and vocabulary."""
    import jsonschema

    if isinstance(data, dict):
        version = data.get("schema_version")
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise BundleError(
                f"{where}: schema version {version} is newer than this runtime supports "
                f"({SCHEMA_VERSION}); upgrade pocketmt"
            )
    if _nesting(data) > MAX_NESTING:
        raise BundleError(f"{where}: invalid manifest: nested deeper than {MAX_NESTING} levels")
    validator = jsonschema.Draft202012Validator(manifest_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise _schema_error(error, where) from error
    # names the schema's pattern lets through (Python's ``$`` also matches before a final newline)
    for name in data["files"]:
        if (named := name_error(name, where, "files")) is not None:
            raise named
    _Checker(data, where).check()
    lim = data["limits"]
    tok = data["tokens"]
    dec = data["decoding"]
    manifest = Manifest(
        raw=data,
        model=ModelSection.from_json(data["model"]),
        files={name: FileEntry.from_json(entry) for name, entry in data["files"].items()},
        graphs={name: GRAPH_SECTIONS[name](entry) for name, entry in data["graphs"].items()},
        limits=Limits(lim["max_source_len"], lim["max_target_len"], lim["max_batch"]),
        tokens=SpecialIds(tok["pad_id"], tok["eos_id"], tok["unk_id"], tok["decoder_start_id"]),
        decoding=DecodingDefaults(
            default_beam=dec["default_beam"],
            length_penalty=float(dec["length_penalty"]),
            forced_eos=bool(dec["forced_eos"]),
            banned_ids=tuple(dec["banned_ids"]),
        ),
    )
    for path, name in manifest.named_files():
        if (named := name_error(name, where, path)) is not None:
            raise named
    return manifest


def check_file_references(manifest: Manifest, where: str = MANIFEST_NAME) -> None:
    """Every file the manifest's sections name is listed in ``files`` (so its size and sha256 are
    known, and ``verify`` checks it). Exported bundles always list them; in-memory manifests of the
    exporter do not, which is why ``parse_manifest`` leaves this to the readers of bundles."""
    for path, name in manifest.named_files():
        if name not in manifest.files:
            raise BundleError(
                f"{where}: invalid manifest: {path} names {name}, which files does not list "
                "(no size or sha256 to check it against)"
            )


def _reject_constant(literal: str) -> Any:
    raise ValueError(f"non-finite number {literal}")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"non-finite number {literal}")
    return value


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            # two readers could each take a different one (Python the last, others the first)
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def load_json(raw: bytes, where: str, what: str = "JSON") -> Any:
    """Strict JSON: UTF-8, no NaN or infinities, no duplicate keys, nesting refused as an error (not
    a ``RecursionError``). Shared by the manifest and its signature."""
    deep = False
    try:
        data = json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_no_duplicate_keys,
        )
    except RecursionError:
        deep = True
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the hooks' refusals, huge integers
        raise BundleError(f"{where}: not valid {what} ({exc})") from exc
    if deep or _nesting(data) > MAX_NESTING:
        raise BundleError(f"{where}: not valid {what} (nested deeper than {MAX_NESTING} levels)")
    return data


def read_manifest_bytes(bundle_dir: Path) -> bytes:
    """The bytes of ``bundle_dir/manifest.json`` (confined to the folder, at most ``MAX_MANIFEST_BYTES``)."""
    path = confined(bundle_dir, MANIFEST_NAME)
    if not path.is_file():
        raise BundleError(f"{bundle_dir}: not a pocketmt bundle (no {MANIFEST_NAME})")
    try:
        with path.open("rb") as fh:
            raw: bytes = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise BundleError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(
            f"{path}: {path.stat().st_size} bytes, more than the {MAX_MANIFEST_BYTES >> 20} MiB a manifest may have"
        )
    return raw


def parse_manifest_bytes(raw: bytes, where: str) -> Manifest:
    """A bundle's manifest from its file's bytes: strict JSON, ``parse_manifest``, and every file it
    names listed in ``files``."""
    data = load_json(raw, where)
    manifest = parse_manifest(data, where)
    check_file_references(manifest, where)
    return manifest


def read_manifest(bundle_dir: Path) -> Manifest:
    return parse_manifest_bytes(read_manifest_bytes(bundle_dir), str(bundle_dir / MANIFEST_NAME))


# --- the manifest against the graphs and the vocabulary it describes ---------------------------

Dim = int | str | None  # a graph axis: its size, or a name / None where it is dynamic
Shape = Sequence[Dim]
Signature = tuple[Sequence[Shape], Sequence[Shape]]  # input shapes, output shapes, in contract order

# the step contract (docs/bundle.md), axis by axis: L layers, B rows, H heads, S source length,
# T cache positions, Dh head size, V vocabulary; a number is that size exactly
_CACHE = ("L", "B", "H", "T", "Dh")
_CROSS = ("L", "B", "H", "S", "Dh")
_CONTRACT: dict[str, tuple[tuple[tuple[str, tuple[str | int, ...]], ...], ...]] = {
    "encode": (
        (("input_ids", ("B", "S")), ("attention_mask", ("B", "S"))),
        (("cross_k", _CROSS), ("cross_v", _CROSS)),
    ),
    "decode_step": (
        (
            ("input_ids", ("B", 1)),
            ("position", (1,)),
            ("self_k", _CACHE),
            ("self_v", _CACHE),
            ("cross_k", _CROSS),
            ("cross_v", _CROSS),
            ("attention_mask", ("B", "S")),
        ),
        (("log_probs", ("B", "V")), ("new_k", ("L", "B", "H", 1, "Dh")), ("new_v", ("L", "B", "H", 1, "Dh"))),
    ),
    # step contract 2: R rows (sentences x beams), R0 rows of the past, P filled positions
    "decode_grow": (
        (
            ("input_ids", ("R", 1)),
            ("position", (1,)),
            ("past_k", ("L", "R0", "H", "P", "Dh")),
            ("past_v", ("L", "R0", "H", "P", "Dh")),
            ("parents", ("R",)),
            ("cross_k", _CROSS),
            ("cross_v", _CROSS),
            ("attention_mask", ("B", "S")),
        ),
        (
            ("log_probs", ("R", "V")),
            ("present_k", ("L", "R", "H", "P", "Dh")),
            ("present_v", ("L", "R", "H", "P", "Dh")),
        ),
    ),
}
# contract 2 over a vocabulary subset: K candidate ids in, their logits out
_CONTRACT["decode_shortlist"] = (
    (*_CONTRACT["decode_grow"][0], ("vocab_ids", ("K",))),
    (("logits", ("R", "K")), *_CONTRACT["decode_grow"][1][1:]),
)
_FREE = {"R", "R0", "P", "K"}  # axes the graph leaves open whatever it records
# axes whose size the graph fixes: the manifest must say the same
_EXACT = {
    "L": ("model.decoder_layers", "decoder_layers"),
    "H": ("model.attention_heads", "attention_heads"),
    "Dh": ("model.head_dim", "head_dim"),
    "V": ("model.vocab_size", "vocab_size"),
}
# dynamic axes: a graph that records a bound (ExecuTorch's upper bounds) must accept the manifest's limit
_BOUNDS = {"B": ("limits.max_batch", "rows"), "S": ("limits.max_source_len", "source positions")}


def onnx_shapes(session: Any) -> Signature:
    """An ONNX Runtime session's input and output shapes (names for dynamic axes)."""
    return [list(i.shape) for i in session.get_inputs()], [list(o.shape) for o in session.get_outputs()]


def pte_shapes(program: Any, method: str) -> Signature:
    """An ExecuTorch program method's input and output sizes (the upper bounds of dynamic axes), from
    its metadata: nothing is run."""
    meta = program.method_meta(method)
    return (
        [tuple(meta.input_tensor_meta(i).sizes()) for i in range(meta.num_inputs())],
        [tuple(meta.output_tensor_meta(i).sizes()) for i in range(meta.num_outputs())],
    )


def _fmt(shape: Shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def check_graph_shapes(
    manifest: Manifest,
    where: str,
    *,
    encode: Signature,
    step: Signature,
    step_contract: int = 1,
    shortlist: Signature | None = None,
) -> None:
    """Refuse a manifest whose sizes and limits the graphs contradict (``decoder_layers`` 3 for a
    two-layer decoder, ``max_target_len`` 129 for a 128-position cache, a larger vocabulary), before
    anything runs. A backend calls this when it loads its graphs, with ``onnx_shapes`` or
    ``pte_shapes``."""
    model, limits = manifest.model, manifest.limits
    sizes = {
        "L": model.decoder_layers,
        "H": model.attention_heads,
        "Dh": model.head_dim,
        "V": model.vocab_size,
        "T": limits.max_target_len,
        "B": limits.max_batch,
        "S": limits.max_source_len,
    }
    step_method = "decode_grow" if step_contract == 2 else "decode_step"
    methods = [("encode", encode), ("decode_step", step)]
    if shortlist is not None:
        methods.append(("decode_shortlist", shortlist))
    for method, (inputs, outputs) in methods:
        contract = _CONTRACT[step_method if method == "decode_step" else method]
        for kind, got, wanted in (("inputs", inputs, contract[0]), ("outputs", outputs, contract[1])):
            if len(got) != len(wanted):
                raise BundleError(
                    f"{where}: {method} has {len(got)} {kind}, the step contract has {len(wanted)} "
                    f"({', '.join(name for name, _ in wanted)})"
                )
            for shape, (tensor, axes) in zip(got, wanted, strict=True):
                if len(shape) != len(axes):
                    raise BundleError(
                        f"{where}: {method}'s {tensor} has {len(shape)} axes {_fmt(shape)}, the step contract "
                        f"has {len(axes)} [{', '.join(str(a) for a in axes)}]"
                    )
                for axis, (dim, role) in enumerate(zip(shape, axes, strict=True)):
                    if not isinstance(dim, int) or dim <= 0 or role in _FREE:
                        continue  # dynamic
                    graph = f"{method}'s {tensor} {_fmt(shape)}"
                    if isinstance(role, int):
                        if dim != role:
                            raise BundleError(
                                f"{where}: {graph} has {dim} on axis {axis}, the step contract {role}"
                            )
                    elif role == "T":
                        if dim != sizes["T"]:
                            raise BundleError(
                                f"{where}: the manifest's limits.max_target_len is {sizes['T']}, but {graph} "
                                f"has {dim} cache positions"
                            )
                    elif role in _BOUNDS:
                        field_name, what = _BOUNDS[role]
                        if sizes[role] > dim:
                            raise BundleError(
                                f"{where}: the manifest's {field_name} is {sizes[role]}, but {graph} accepts "
                                f"at most {dim} {what}"
                            )
                    elif dim != sizes[role]:
                        raise BundleError(
                            f"{where}: the manifest's {_EXACT[role][0]} is {sizes[role]}, but {graph} has "
                            f"{dim} on axis {axis}"
                        )


# the special pieces of a Marian vocabulary, and the manifest's ids for them
_SPECIAL_PIECES = {"eos_id": "</s>", "unk_id": "<unk>", "pad_id": "<pad>"}


def check_vocabulary(manifest: Manifest, piece_to_id: Mapping[str, int], where: str) -> None:
    """Refuse a vocabulary with ids the model does not have, or whose ``</s>``, ``<unk>`` and
    ``<pad>`` are not the manifest's ``eos_id``, ``unk_id`` and ``pad_id`` (an ``eos_id`` of 1 used to
    translate to garbage with exit 0). The translator calls this once it has read the vocabulary."""
    size = manifest.model.vocab_size
    for piece, index in piece_to_id.items():
        if not 0 <= index < size:
            raise BundleError(
                f"{where}: piece {piece!r} has id {index}, outside the model's vocabulary "
                f"(ids 0..{size - 1}, model.vocab_size {size})"
            )
    for name, piece in _SPECIAL_PIECES.items():
        expected = getattr(manifest.tokens, name)
        if piece in piece_to_id and piece_to_id[piece] != expected:
            raise BundleError(
                f"{where}: the manifest's tokens.{name} is {expected}, but this vocabulary maps "
                f"{piece!r} to {piece_to_id[piece]}"
            )
