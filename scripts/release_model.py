"""Copy a trained checkpoint into the repo in fp16, and optionally export it as a built-in bundle.

    python scripts/release_model.py RUN_DIR models/NAME [--bundle sdk/models/PAIR]

The checkpoint keeps the Hugging Face Marian layout (config, safetensors, tokenizer files) so
``MarianMTModel.from_pretrained`` and CTranslate2's converter load it unchanged; only the weights are
stored in fp16, which halves what git keeps forever. The bundle is exported from that fp16 copy with
int8 per-channel weights (``pocketmt export --format onnx --weights int8``), so it is exactly the
model the card describes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

TOKENIZER = ("source.spm", "target.spm", "vocab.json", "tokenizer_config.json", "generation_config.json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("dest")
    parser.add_argument("--bundle", help="also export the built-in bundle to this folder")
    args = parser.parse_args()

    import torch
    from transformers import MarianMTModel

    src, dest = Path(args.run_dir), Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    model = MarianMTModel.from_pretrained(src, dtype=torch.float32)
    model.half().save_pretrained(dest, safe_serialization=True)
    for name in TOKENIZER:
        if (src / name).is_file():
            shutil.copyfile(src / name, dest / name)
    print(f"{dest}: {sum(p.stat().st_size for p in dest.iterdir()) / 1e6:.1f} MB")
    if args.bundle:
        cmd = ["pocketmt", "export", str(dest), "-o", args.bundle, "--format", "onnx"]
        subprocess.run([*cmd, "--weights", "int8", "--overwrite"], check=True, stdout=sys.stdout)


if __name__ == "__main__":
    main()
