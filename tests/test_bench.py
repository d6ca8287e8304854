"""``pocketmt bench``: the result's fields exist and are consistent (never how fast anything is), BLEU
with --ref, the CTranslate2 comparison on the tiny checkpoint, batch mode saying what it does, and
one-line errors with exit code 2."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pocketmt.bench import check_vocabulary, summarize
from pocketmt.commands import bench
from pocketmt.commands.console import error
from pocketmt.runtime.bundle import Bundle
from pocketmt.runtime.errors import InputError, PocketMTError
from pocketmt.runtime.tokenizer import MarianTokenizer


def run_cli(argv: list[str]) -> int:
    """``pocketmt bench ARGV`` through the command module, with the CLI's error mapping (the command is
    registered in sdk/cli.py separately; until then this is the same path minus the other commands)."""
    parser = argparse.ArgumentParser(prog="pocketmt")
    bench.add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *argv])
    try:
        code: int = args.func(args)
        return code
    except PocketMTError as exc:
        error(str(exc))
        return exc.exit_code


@pytest.fixture()
def test_set(tmp_path: Path, sentences: list[str]) -> tuple[Path, Path]:
    src = tmp_path / "test.en.gz"  # gzip, as the shared test sets are
    src.write_bytes(gzip.compress(("\n".join(sentences[:8]) + "\n").encode()))
    ref = tmp_path / "test.ref"  # the tiny model copies: its source is its reference
    ref.write_text("\n".join(sentences[:8]) + "\n")
    return src, ref


@pytest.fixture()
def ct2_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path_factory.getbasetemp() / "xdg-cache"  # shared by the tests of one session
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def _bench_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert run_cli([*argv, "--json"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def _check_engine(engine: dict[str, Any], calls: int) -> None:
    latency = engine["latency_ms"]
    assert 0 < latency["median"] <= latency["p90"]
    assert engine["load_s"] > 0
    assert engine["tokens"] > 0 and engine["tokens_per_s"] > 0 and engine["sentences_per_s"] > 0
    assert engine["rss_growth_mb"] is None or engine["rss_growth_mb"] >= 0
    assert 0 <= engine["bleu"] <= 100 and engine["bleu_signature"].startswith("nrefs:1")
    assert engine["seconds"] > 0
    assert calls > 0


def test_bench_reports_latency_throughput_memory_and_bleu(
    tiny_bundle: Path, test_set: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, ref = test_set
    written = tmp_path / "out" / "bench.json"
    written.parent.mkdir()
    result = _bench_json(
        capsys, "--bundle", str(tiny_bundle), "--src", str(src), "--ref", str(ref), "--beam", "2",
        "--backend", "onnx", "--threads", "1", "--output", str(written),
    )  # fmt: skip
    assert json.loads(written.read_text()) == result
    assert result["sentences"] == result["calls"] == 8 and result["beam"] == 2 and result["batch"] == 1
    assert list(result["engines"]) == ["pocketmt"]
    engine = result["engines"]["pocketmt"]
    _check_engine(engine, result["calls"])
    assert engine["backend"] == "onnx" and engine["threads"] == "ONNX Runtime intra_op_num_threads=1"
    assert engine["latency_unit"] == "sentence"
    assert engine["bleu"] > 0  # the copy model copies some of its source, as in test_eval
    first = engine["time_to_first_token_ms"]
    # each call's first step ends within the call, so every order statistic is within the latency's
    assert 0 < first["median"] <= engine["latency_ms"]["median"]
    assert first["p90"] <= engine["latency_ms"]["p90"]
    assert engine["peak_rss_mb"] > 0 and result["process_peak_rss_mb"] >= engine["peak_rss_mb"]
    machine = result["machine"]
    assert machine["cpu"] and machine["logical_cores"] >= 1 and machine["affinity"]
    assert machine["versions"]["onnxruntime"] and machine["python"]
    assert len(machine["load_average"]) == 3
    assert "batching" not in result and "ratio_pocketmt_over_ctranslate2" not in result


def test_bench_on_executorch_without_ref_has_no_bleu_and_prints_a_table(
    tiny_bundle: Path, test_set: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    src, _ = test_set
    argv = ["--bundle", str(tiny_bundle), "--src", str(src), "--beam", "1", "--limit", "3"]
    # one thread: ExecuTorch's pool is resized to it
    assert run_cli([*argv, "--backend", "executorch", "--threads", "1"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "3 sentences, beam 1, batch 1" in out
    assert "median per sentence (ms)" in out and "first token median (ms)" in out
    assert "pocketmt: executorch, ExecuTorch thread pool of 1 threads" in out
    assert "BLEU" not in out
    assert captured.err == ""  # no native log lines


def test_batch_mode_says_the_runtime_decodes_one_sentence_at_a_time(
    tiny_bundle: Path, test_set: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    src, ref = test_set
    result = _bench_json(
        capsys, "--bundle", str(tiny_bundle), "--src", str(src), "--ref", str(ref), "--beam", "2",
        "--batch", "3", "--backend", "onnx",
    )  # fmt: skip
    assert result["calls"] == 3 and result["sentences"] == 8  # 3 + 3 + 2
    engine = result["engines"]["pocketmt"]
    assert engine["latency_unit"] == "batch of up to 3 sentences"
    _check_engine(engine, result["calls"])
    assert "one after another" in result["batching"]["pocketmt"]
    assert any("batch mode" in note for note in result["notes"])


def test_against_ctranslate2_times_both_engines_on_the_same_sentences(
    tiny_bundle: Path,
    tiny_model_dir: Path,
    test_set: tuple[Path, Path],
    ct2_cache: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("ctranslate2")
    src, ref = test_set
    argv = ["--bundle", str(tiny_bundle), "--src", str(src), "--ref", str(ref), "--beam", "2"]
    argv += ["--backend", "onnx", "--threads", "1", "--against", "ctranslate2"]
    argv += ["--checkpoint", str(tiny_model_dir)]
    result = _bench_json(capsys, *argv)
    assert list(result["engines"]) == ["pocketmt", "ctranslate2"]
    mine, theirs = result["engines"]["pocketmt"], result["engines"]["ctranslate2"]
    _check_engine(mine, result["calls"])
    _check_engine(theirs, result["calls"])
    assert theirs["compute_type"] == "int8" and theirs["threads"] == "intra_threads=1, inter_threads=1"
    options = theirs["options"]
    assert options["beam_size"] == 2 and options["max_decoding_length"] == 24  # the bundle's limit
    assert options["min_decoding_length"] == 0 and options["return_end_token"] is True  # sections 3-5
    assert theirs["time_to_first_token_ms"] is None  # not measured, and said so
    assert "not measured" in theirs["time_to_first_token"]
    assert theirs["convert_s"] > 0 and Path(theirs["model_dir"]).is_relative_to(ct2_cache)
    ratio = result["ratio_pocketmt_over_ctranslate2"]
    assert ratio["median"] == pytest.approx(
        mine["latency_ms"]["median"] / theirs["latency_ms"]["median"], rel=0.01
    )
    assert ratio["p90"] > 0
    assert 0 <= result["identical_translations"] <= 1
    differences = result["decoding_differences"]
    assert any("forced EOS" in d for d in differences)
    # the tiny checkpoint's <pad> row (its decoder start) is random, not zero: said, with its size
    assert any("start_from_zero_embedding" in d and "is not zero" in d for d in differences)
    # the second run takes the converted model from the cache
    again = _bench_json(capsys, *argv, "--limit", "2")
    assert again["engines"]["ctranslate2"]["convert_s"] is None
    assert again["engines"]["ctranslate2"]["model_dir"] == theirs["model_dir"]

    assert run_cli([*argv, "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "ratio pocketmt / ctranslate2: median" in out and "BLEU" in out and "ctranslate2" in out


def test_missing_ctranslate2_is_one_line_naming_the_install(
    tiny_bundle: Path,
    tiny_model_dir: Path,
    test_set: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import ctranslate2 raises ImportError
    src, _ = test_set
    argv = ["--bundle", str(tiny_bundle), "--src", str(src), "--against", "ctranslate2"]
    assert run_cli([*argv, "--checkpoint", str(tiny_model_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install ctranslate2" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch", "0"], "--batch must be at least 1"),
        (["--threads", "-1"], "--threads must be 0"),
        (["--against", "ctranslate2"], "needs --checkpoint"),
        (["--checkpoint", "."], "only used with --against"),
        (["--beam", "99"], "beam size 99 is outside"),
    ],
)
def test_bad_options_are_one_line_errors(
    tiny_bundle: Path,
    test_set: tuple[Path, Path],
    extra: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src, _ = test_set
    assert run_cli(["--bundle", str(tiny_bundle), "--src", str(src), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_misaligned_reference_and_missing_files_are_errors(
    tiny_bundle: Path, test_set: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, _ = test_set
    short = tmp_path / "short.txt"
    short.write_text("one line\n")
    assert run_cli(["--bundle", str(tiny_bundle), "--src", str(src), "--ref", str(short)]) == 2
    assert "--src has 8 lines but --ref has 1" in capsys.readouterr().err
    assert run_cli(["--bundle", str(tiny_bundle), "--src", str(tmp_path / "nope.txt")]) == 2
    assert "file not found" in capsys.readouterr().err
    bad_out = tmp_path / "no-such-folder" / "bench.json"
    assert run_cli(["--bundle", str(tiny_bundle), "--src", str(src), "--output", str(bad_out)]) == 2
    assert "not a file in an existing folder" in capsys.readouterr().err


def test_a_converted_vocabulary_with_other_ids_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    names = Bundle.open(tiny_bundle).manifest.tokenizer
    tok = MarianTokenizer(*(tiny_bundle / names[k] for k in ("source_spm", "target_spm", "vocab")))
    pieces = [tok.id_to_piece[i] for i in range(len(tok.id_to_piece))]
    (tmp_path / "shared_vocabulary.json").write_text(json.dumps(pieces[:-1]))  # <pad> dropped: fine
    assert check_vocabulary(tmp_path, tok, tmp_path) == len(pieces) - 1
    pieces[5], pieces[6] = pieces[6], pieces[5]
    (tmp_path / "shared_vocabulary.json").write_text(json.dumps(pieces))
    with pytest.raises(InputError, match="gives id 5 to"):
        check_vocabulary(tmp_path, tok, tmp_path)


def test_summary_statistics() -> None:
    stats = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert stats == {"median": 3.0, "p90": 4.6, "mean": 3.0}
    assert summarize([7.0]) == {"median": 7.0, "p90": 7.0, "mean": 7.0}
    with pytest.raises(InputError):
        summarize([])
