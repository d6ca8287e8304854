"""Which files make a checkpoint's tokenizer, copying them, and how a bundle names them."""

from __future__ import annotations

import shutil
from pathlib import Path

TOKENIZER_FILES = ("source.spm", "target.spm", "vocab.json")
# what a checkpoint folder written by pocketmt (train, quantize, prune) carries besides the weights
CHECKPOINT_TOKENIZER_FILES = (*TOKENIZER_FILES, "tokenizer_config.json")


def copy_tokenizer(source: Path, dest: Path) -> None:
    """Copy a checkpoint's tokenizer files (those present) into ``dest``."""
    for name in CHECKPOINT_TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, dest / name)


def bundle_tokenizer_files(path: Path) -> dict[str, str]:
    """Manifest ``tokenizer`` names for a checkpoint: a joint vocabulary's identical source and
    target SentencePiece models are stored once, as ``source.spm``."""
    shared = (path / "source.spm").read_bytes() == (path / "target.spm").read_bytes()
    return {
        "source_spm": "source.spm",
        "target_spm": "source.spm" if shared else "target.spm",
        "vocab": "vocab.json",
    }
