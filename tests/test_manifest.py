"""Manifest schema: published, enforced on load, and newer versions refused."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.manifest import SCHEMA_VERSION, manifest_schema, parse_manifest, read_manifest


def test_schema_is_valid_json_schema_and_published_in_docs() -> None:
    jsonschema.Draft202012Validator.check_schema(manifest_schema())
    docs = Path(__file__).resolve().parents[1] / "docs" / "bundle.md"
    assert "manifest.schema.json" in docs.read_text()


def test_exported_manifest_validates_and_lists_every_file(tiny_bundle: Path) -> None:
    manifest = read_manifest(tiny_bundle)
    on_disk = {p.name for p in tiny_bundle.iterdir()} - {"manifest.json"}
    assert set(manifest.files) == on_disk
    assert manifest.raw["schema_version"] == SCHEMA_VERSION
    assert manifest.model["source_lang"] == "en" and manifest.model["target_lang"] == "de"
    assert set(manifest.raw["tensor_formats"].values()) == {"fp32"}
    for key in ("pocketmt", "torch", "executorch", "onnx"):
        assert manifest.raw["producer"][key]


def test_newer_schema_version_is_refused(tiny_bundle: Path) -> None:
    data = json.loads((tiny_bundle / "manifest.json").read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(BundleError, match="newer than this runtime supports"):
        parse_manifest(data)


@pytest.mark.parametrize("breakage", ["drop_limits", "bad_sha", "bad_format"])
def test_invalid_manifest_names_the_problem(tiny_bundle: Path, breakage: str) -> None:
    data = json.loads((tiny_bundle / "manifest.json").read_text())
    if breakage == "drop_limits":
        del data["limits"]
    elif breakage == "bad_sha":
        next(iter(data["files"].values()))["sha256"] = "xyz"
    else:
        data["tensor_formats"]["linear"] = "fp7"
    with pytest.raises(BundleError, match="invalid manifest"):
        parse_manifest(data)


@pytest.mark.parametrize(
    "name",
    ["vocab.json", "model.pte", "a b.spm", "ünï.json", "..x", "x..", ".hidden"]
    + ["", ".", "..", "../x", "/etc/x", "a\\b", "C:x", "c:", "a\x00b", "a\x1fb", "a\x7fb", "a\x85b"],
)
def test_schema_file_name_pattern_is_the_runtime_rule(name: str) -> None:
    """The published schema's fileName pattern and ``integrity.name_problem`` accept the same names."""
    import re

    from pocketmt.runtime.integrity import name_problem

    pattern = manifest_schema()["$defs"]["fileName"]["pattern"]
    assert (re.search(pattern, name) is not None) == (name_problem(name) is None)
