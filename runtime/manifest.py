"""Reading and validating a bundle's ``manifest.json``.

The JSON Schema lives next to this file (``manifest.schema.json``) and is
the published contract; the dataclasses below are the typed view the
runtime uses after validation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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
class Manifest:
    raw: dict[str, Any]
    limits: Limits
    tokens: SpecialIds
    decoding: DecodingDefaults

    @property
    def model(self) -> dict[str, Any]:
        model: dict[str, Any] = self.raw["model"]
        return model

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        files: dict[str, dict[str, Any]] = self.raw["files"]
        return files

    @property
    def graphs(self) -> dict[str, dict[str, Any]]:
        graphs: dict[str, dict[str, Any]] = self.raw["graphs"]
        return graphs

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
        names = self.tokenizer_files()
        graph = self.graphs[backend]
        if backend == "executorch":
            names.append(graph["file"])
            if "weights" in graph:
                names.append(graph["weights"]["file"])
        else:
            names.extend([graph["encode"], graph["decode_step"]])
            if "weights" in graph:
                names.append(graph["weights"])
        return names


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
