"""The runtime mirrors the phone: importing it must not pull in the exporter or training stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = ("pocketmt.export", "transformers", "torch", "executorch", "onnxruntime", "onnx")


def _loaded_after(statement: str) -> list[str]:
    code = (
        f"{statement}\nimport sys\n"
        f"print('\\n'.join(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r} or m.startswith('pocketmt.export')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line]


def test_runtime_import_pulls_no_exporter_transformers_or_backends() -> None:
    assert _loaded_after("import pocketmt.runtime") == []


def test_public_package_and_cli_import_light() -> None:
    assert _loaded_after("import pocketmt, pocketmt.cli") == []


def test_runtime_sources_never_import_export() -> None:
    root = Path(__file__).resolve().parents[1] / "runtime"
    offenders = [
        str(p)
        for p in root.rglob("*.py")
        if any(
            word in p.read_text() for word in ("pocketmt.export", "import transformers", "from transformers")
        )
    ]
    assert offenders == []


RUNTIME_ONLY = ("pocketmt.export", "transformers", "executorch.exir", "onnx.", "onnxscript", "torch.onnx")


@pytest.mark.parametrize("backend", ["executorch", "onnx"])
def test_loading_a_bundle_uses_runtime_libraries_only(tiny_bundle: Path, backend: str) -> None:
    """The phone in Python: opening and running a bundle imports no exporter and no compiler toolchain."""
    code = (
        "import sys\nfrom pocketmt.runtime import Translator\n"
        f"t = Translator({str(tiny_bundle)!r}, {backend!r})\nt.translate_one('a dog runs')\n"
        f"bad = {RUNTIME_ONLY!r}\n"
        "print('\\n'.join(m for m in sys.modules if m in ('onnx',) or any(m.startswith(b) for b in bad)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert [line for line in out.stdout.splitlines() if line] == []
