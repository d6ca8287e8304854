"""The models that ship with the repo: built-in bundles work with no flags, and the repo stays small."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pocketmt.cli import main

REPO = Path(__file__).resolve().parents[1]
MODEL_BUDGET_BYTES = 80 * 1000 * 1000  # all committed model files together (models issue)
# per built-in pair: a sentence, and a word its translation must have
SAMPLES = {
    "en-de": ("A dog runs through the snow.", "hund"),
    "de-en": ("Ein Hund läuft durch den Schnee.", "dog"),
    "en-cs": ("A dog runs through the snow.", "pes"),
}


def _bundles() -> list[Path]:
    import pocketmt.models as models

    return [models.ROOT / pair for pair in models.installed_pairs()]


def test_committed_model_files_stay_under_budget() -> None:
    files = [
        p
        for folder in (REPO / "models", REPO / "sdk" / "models")
        if folder.is_dir()
        for p in folder.rglob("*")
    ]
    total = sum(p.stat().st_size for p in files if p.is_file())
    assert total < MODEL_BUDGET_BYTES, f"{total / 1e6:.1f} MB of model files"


@pytest.mark.parametrize("bundle", _bundles(), ids=lambda p: p.name)
def test_built_in_bundle_verifies_and_translates(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    pair = f"{manifest['model']['source_lang']}-{manifest['model']['target_lang']}"
    assert bundle.name == pair
    assert main(["verify", str(bundle)]) == 0
    capsys.readouterr()
    text, word = SAMPLES[pair]
    assert main(["translate", "--pair", pair, "--json", text]) == 0
    result = json.loads(capsys.readouterr().out)
    assert word in result["text"].lower()
