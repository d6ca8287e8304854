"""``pocketmt distill``: cached teacher beam outputs, then a student trained on them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pocketmt.export.random_model import synthetic_sentences


def test_distill_caches_teacher_outputs_and_trains_a_student(tiny_model_dir: Path, tmp_path: Path) -> None:
    train, valid = synthetic_sentences(150, seed=5), synthetic_sentences(10, seed=6)
    for name, lines in (("train.en", train), ("train.de", train), ("val.en", valid), ("val.de", valid)):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    out = tmp_path / "student"
    argv = [
        sys.executable,
        "-m",
        "pocketmt",
        "distill",
        "--teacher",
        str(tiny_model_dir),
        "--beam",
        "2",
        "--src",
        str(tmp_path / "train.en"),
        "--tgt",
        str(tmp_path / "train.de"),
        "--valid-src",
        str(tmp_path / "val.en"),
        "--valid-tgt",
        str(tmp_path / "val.de"),
        "-o",
        str(out),
        "--arch",
        "tiny",
        "--max-steps",
        "5",
        "--batch-tokens",
        "400",
        "--mix-original",
    ]
    first = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "teacher translating 150 sentences (beam 2)" in first.stderr
    cached = (out / ".distill" / "teacher" / "00000.txt").read_text().splitlines()
    assert len(cached) == 150
    # the cache holds the teacher's beam search output: the runtime's search (docs/decoding.md)
    from pocketmt.export.pipeline import eager_translator
    from pocketmt.runtime.translator import TranslateOptions

    teacher = eager_translator(tiny_model_dir)
    first = teacher.translate(train[:3], TranslateOptions(beam_size=2))
    assert cached[:3] == [t.text for t in first]
    # mixed with the originals: twice the pairs
    assert len((out / ".distill" / "train.src").read_text().splitlines()) == 300
    assert (out / "model.safetensors").is_file()
    second = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0
    assert "teacher translations found in the cache" in second.stderr
    assert "training already finished" in second.stderr
    # another teacher set must not reuse this cache
    other = argv[:]
    other[other.index("--teacher") : other.index("--teacher")] = ["--teacher", str(tiny_model_dir)]
    third = subprocess.run(other, capture_output=True, text=True, timeout=600)
    assert third.returncode != 0
    assert "holds outputs of other teachers" in third.stderr
    assert "Traceback" not in third.stderr
