"""``pocketmt distill``: sequence-level knowledge distillation (Kim and Rush, 2016).

The teacher (one checkpoint, or an ensemble of checkpoints that share a
vocabulary) translates the training sources with the beam search of
``docs/decoding.md``, in length-sorted batches (``ensemble_search``); its outputs
are cached on disk in fixed chunks written atomically, so a killed run
re-translates at most one chunk. The cache records which teachers and beam made
it and is refused for any other. The student is then trained by
``pocketmt train``'s trainer on (source, teacher output) pairs, optionally
mixed with the original pairs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pocketmt.export.training.ensemble_search import check_shared_vocabulary, ensemble_translate_lines
from pocketmt.export.training.trainer import TrainConfig, lang_of, train_model
from pocketmt.io.corpus import read_lines, read_parallel
from pocketmt.runtime.errors import InputError
from pocketmt.runtime.tokenizer import MarianTokenizer

CHUNK = 1024


@dataclass(frozen=True)
class DistillConfig:
    teachers: tuple[str, ...]  # one checkpoint, or an ensemble sharing one vocabulary
    train: TrainConfig  # src/tgt are the original pairs; out is the student folder
    beam: int = 4
    batch_sentences: int = 64
    mix_original: bool = False


def _load_teachers(paths: tuple[str, ...]) -> tuple[list[Any], Any]:
    import torch
    from transformers import MarianMTModel

    first = Path(paths[0])
    check_shared_vocabulary([Path(p) for p in paths])
    models = [MarianMTModel.from_pretrained(p, dtype=torch.float32).eval() for p in paths]
    tok = MarianTokenizer(first / "source.spm", first / "target.spm", first / "vocab.json")
    return models, tok


def _check_cache_origin(cache: Path, teachers: tuple[str, ...], beam: int) -> None:
    """The cache belongs to one teacher set and beam; another set must not reuse its outputs."""
    origin = {"teachers": [str(Path(t).resolve()) for t in teachers], "beam": beam}
    path = cache / "teachers.json"
    if path.is_file():
        if json.loads(path.read_text()) != origin:
            raise InputError(
                f"{cache} holds outputs of other teachers or another beam; remove it to re-translate"
            )
    elif any(cache.glob("*.txt")):
        raise InputError(f"{cache} holds outputs of unknown teachers; remove it to re-translate")
    else:
        path.write_text(json.dumps(origin, indent=1) + "\n")


def teacher_translations(
    teachers: tuple[str, ...],
    sources: list[str],
    cache: Path,
    beam: int,
    batch: int,
    say: Callable[[str], None],
    on_chunk: Callable[[int, int], None] | None = None,
) -> list[str]:
    """The teacher's beam outputs for ``sources``, cached chunk by chunk in ``cache``.

    ``on_chunk(done, total)`` (sentences) is called as chunks complete, in place of the progress bar."""
    from tqdm import tqdm

    cache.mkdir(parents=True, exist_ok=True)
    _check_cache_origin(cache, teachers, beam)
    chunks = range(0, len(sources), CHUNK)
    missing = [c for c in chunks if not (cache / f"{c // CHUNK:05d}.txt").is_file()]
    if missing:
        who = "teacher" if len(teachers) == 1 else f"ensemble of {len(teachers)} teachers"
        say(
            f"{who} translating {len(sources)} sentences (beam {beam}); {len(missing)} of {len(chunks)} chunks to do"
        )
        models, tok = _load_teachers(teachers)
        done = len(sources) - sum(len(sources[c : c + CHUNK]) for c in missing)
        if on_chunk is not None:
            on_chunk(done, len(sources))
        bar = tqdm(
            missing,
            desc="teacher",
            unit="chunk",
            file=sys.stderr,
            mininterval=5.0,
            disable=on_chunk is not None,
        )
        for c in bar:
            part = sources[c : c + CHUNK]
            lines = ensemble_translate_lines(models, tok, part, beam, batch, 256)
            path = cache / f"{c // CHUNK:05d}.txt"
            tmp = path.with_suffix(".tmp")
            tmp.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n", encoding="utf-8")
            tmp.replace(path)
            done += len(part)
            if on_chunk is not None:
                on_chunk(done, len(sources))
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
        cfg.teachers, sources, work / "teacher", cfg.beam, cfg.batch_sentences, say
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
