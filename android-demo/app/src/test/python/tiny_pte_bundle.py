"""Export a tiny random Marian model as a ``--format pte`` bundle, for ModuleStepOnRealModelTest.

    python android-demo/app/src/test/python/tiny_pte_bundle.py OUT_DIR
    POCKETMT_APP_PTE_BUNDLE=OUT_DIR android-demo/app/check.sh

The model is the test suite's tiny copy-trained one (``pocketmt.export.random_model.TINY_COPY``):
its translations mean nothing, but its ``model.pte`` is a real ExecuTorch program with the methods
``encode`` and ``decode_step``, the file the phone's ``Module`` loads. A few minutes on two cores.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from pocketmt.export.pipeline import ExportOptions, export_bundle
from pocketmt.export.random_model import TINY_COPY, make_random_marian


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        model = make_random_marian(Path(tmp) / "opus-mt-en-de-tiny", TINY_COPY)
        export_bundle(
            model,
            Path(sys.argv[1]),
            ExportOptions(formats=("pte",), max_source_len=32, max_target_len=24, beam_size=4),
        )
    print(sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
