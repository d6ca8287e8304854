"""The runtime mirrors the phone: importing it must not pull in the exporter or training stack."""

from __future__ import annotations

import subprocess
import sys

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
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "runtime"
    offenders = [
        str(p)
        for p in root.rglob("*.py")
        if any(
            word in p.read_text() for word in ("pocketmt.export", "import transformers", "from transformers")
        )
    ]
    assert offenders == []
