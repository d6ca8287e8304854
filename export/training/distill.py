"""``pocketmt distill``: sequence-level knowledge distillation (Kim and Rush, 2016).

The teacher translates the training sources with beam search, in length-sorted
batches; its outputs are cached on disk in fixed chunks written atomically, so
a killed run re-translates at most one chunk. The student is then trained by
``pocketmt train``'s trainer on (source, teacher output) pairs, optionally
mixed with the original pairs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pocketmt.export.corpus import read_lines, read_parallel
from pocketmt.export.training.batch_translate import translate_lines
from pocketmt.export.training.trainer import TrainConfig, lang_of, train_model

CHUNK = 1024


@dataclass(frozen=True)
class DistillConfig:
    teacher: str
    train: TrainConfig  # src/tgt are the original pairs; out is the student folder
    beam: int = 4
    batch_sentences: int = 64
    mix_original: bool = False


def _load_teacher(path: str) -> tuple[Any, Any]:
    from transformers import MarianMTModel

    from pocketmt.runtime.tokenizer import MarianTokenizer

    folder = Path(path)
    model = MarianMTModel.from_pretrained(str(folder)).eval()
    tok = MarianTokenizer(folder / "source.spm", folder / "target.spm", folder / "vocab.json")
    return model, tok


def teacher_translations(
    teacher: str, sources: list[str], cache: Path, beam: int, batch: int, say: Callable[[str], None]
) -> list[str]:
    """The teacher's beam outputs for ``sources``, cached chunk by chunk in ``cache``."""
    from tqdm import tqdm

    cache.mkdir(parents=True, exist_ok=True)
    chunks = range(0, len(sources), CHUNK)
    missing = [c for c in chunks if not (cache / f"{c // CHUNK:05d}.txt").is_file()]
    if missing:
        say(
            f"teacher translating {len(sources)} sentences (beam {beam}); {len(missing)} of {len(chunks)} chunks to do"
        )
        model, tok = _load_teacher(teacher)
        for c in tqdm(missing, desc="teacher", unit="chunk", file=sys.stderr, mininterval=5.0):
            part = sources[c : c + CHUNK]
            lines = translate_lines(model, tok, part, beam, batch, 256)
            path = cache / f"{c // CHUNK:05d}.txt"
            tmp = path.with_suffix(".tmp")
            tmp.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n", encoding="utf-8")
            tmp.replace(path)
    else:
        say("teacher translations found in the cache")
    out: list[str] = []
    for c in chunks:
        out.extend(read_lines(cache / f"{c // CHUNK:05d}.txt"))
    if len(out) != len(sources):
        raise RuntimeError(f"teacher cache in {cache} has {len(out)} lines for {len(sources)} sources")
    return out


def distill(cfg: DistillConfig, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = say or (lambda msg: print(msg, file=sys.stderr))
    student = Path(cfg.train.out)
    work = student / ".distill"
    sources, originals = read_parallel(cfg.train.src, cfg.train.tgt)
    distilled = teacher_translations(
        cfg.teacher, sources, work / "teacher", cfg.beam, cfg.batch_sentences, say
    )
    src_lines, tgt_lines = list(sources), list(distilled)
    if cfg.mix_original:
        src_lines += sources
        tgt_lines += originals
    src_path, tgt_path = work / "train.src", work / "train.tgt"
    for path, lines in ((src_path, src_lines), (tgt_path, tgt_lines)):
        if not path.is_file():
            tmp = path.with_suffix(".tmp")
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            tmp.replace(path)
    train = replace(
        cfg.train,
        src=str(src_path),
        tgt=str(tgt_path),
        source_lang=cfg.train.source_lang or lang_of(cfg.train.src),
        target_lang=cfg.train.target_lang or lang_of(cfg.train.tgt),
    )
    return train_model(train, say)
