"""Reading and validating a bundle's ``manifest.json``.

The JSON Schema lives next to this file (``manifest.schema.json``) and is
the published contract; the dataclasses below are the typed view the
runtime uses after validation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pocketmt.runtime.errors import BundleError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"


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
        return FileEntry(data, int(data["bytes"]), str(data["sha256"]))


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

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> OnnxSection:
        return OnnxSection(
            data,
            data["encode"],
            data["decode_step"],
            data.get("weights"),
            bool(data.get("dequantize_at_load", False)),
        )

    def files(self) -> list[str]:
        return [self.encode, self.decode_step] + ([self.weights] if self.weights is not None else [])


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

    def files_for_backend(self, backend: str) -> list[str]:
        """Files that translating with ``backend`` reads (the integrity check covers these)."""
        return self.tokenizer_files() + self.graphs[backend].files()


def parse_manifest(data: Any, where: str = MANIFEST_NAME) -> Manifest:
    import jsonschema

    if isinstance(data, dict):
        version = data.get("schema_version")
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise BundleError(
                f"{where}: schema version {version} is newer than this runtime supports "
                f"({SCHEMA_VERSION}); upgrade pocketmt"
            )
    try:
        jsonschema.validate(data, manifest_schema())
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise BundleError(f"{where}: invalid manifest at {path}: {exc.message}") from exc
    lim = data["limits"]
    tok = data["tokens"]
    dec = data["decoding"]
    return Manifest(
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


def read_manifest(bundle_dir: Path) -> Manifest:
    path = bundle_dir / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(f"{bundle_dir}: not a pocketmt bundle (no {MANIFEST_NAME})")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from exc
    return parse_manifest(data, str(path))
