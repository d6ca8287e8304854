"""``pocketmt pipeline`` on a tiny synthetic corpus with the tiny preset: a run killed inside a stage
resumes that stage and finishes with a bundle and a card; a second run skips every stage; and the
budget planner's arithmetic. (The command is driven through its own module,
``pocketmt.commands.pipeline``: its parser, its run function and its evaluation stage.)"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pocketmt.export.errors import ModelDirError
from pocketmt.export.random_model import synthetic_sentences
from pocketmt.export.training.pipeline.config import bundle_bytes, student_for_size
from pocketmt.export.training.pipeline.plan import MARGIN, StageCost, load_factor, plan_epochs, replan
from pocketmt.export.training.presets import PRESETS
from pocketmt.runtime.errors import InputError

TINY = ["--teacher-arch", "tiny", "--student-arch", "tiny"]
EPOCHS = ["--teacher-epochs", "1", "--student-epochs", "2", "--qat-epochs", "1"]
STAGES = ["prepare", "teacher-1", "teacher-2", "distill", "student", "quantize", "export", "evaluate", "card"]
TRAIN_PAIRS = 120


class Killed(Exception):
    """Stands in for kill -9."""


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny models run faster on one thread, and much faster on a machine that others load too."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipeline-corpus")
    train, valid = synthetic_sentences(TRAIN_PAIRS, seed=21), synthetic_sentences(8, seed=22)
    test = synthetic_sentences(5, seed=23)
    files = {
        "src": ("train.en", train),
        "tgt": ("train.de", [s.upper() for s in train]),
        "valid_src": ("val.en", valid),
        "valid_tgt": ("val.de", [s.upper() for s in valid]),
        "test_src": ("test.en", test),
        "test_ref": ("test.de", [s.upper() for s in test]),
    }
    out = {}
    for key, (name, lines) in files.items():
        (root / name).write_text("\n".join(lines) + "\n")
        out[key] = root / name
    return out


def _run(corpus: dict[str, Path], out: Path, *extra: str) -> int:
    from pocketmt.commands import pipeline

    parser = argparse.ArgumentParser()
    pipeline.add_parsers(parser.add_subparsers())
    argv = ["pipeline", "--src", str(corpus["src"]), "--tgt", str(corpus["tgt"])]
    argv += ["--valid-src", str(corpus["valid_src"]), "--valid-tgt", str(corpus["valid_tgt"]), "-o", str(out)]
    args = parser.parse_args(argv + TINY + list(extra))
    code: int = args.func(args)
    return code


def _done(out: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "pipeline").glob("*.done")}


@dataclass
class Finished:
    out: Path
    done_at_kill: dict[str, float]  # stage -> when its completion marker was written
    started_at_kill: list[str]
    resumed_err: str


@pytest.fixture(scope="module")
def finished(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """One full run, killed right after the student's first epoch was checkpointed, then run again
    with the same command: the second run must resume the student and finish everything else."""
    from pocketmt.export.training import trainer

    out = tmp_path_factory.mktemp("pipeline") / "run"
    real_save = trainer.save_atomic

    def save_then_die(state: dict[str, Any], path: Path) -> None:
        real_save(state, path)
        if path.name == "state.pt" and path.parts[-3] == "student" and state["progress"]["epoch"] == 1:
            raise Killed

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer, "save_atomic", save_then_die)
        with pytest.raises(Killed):
            _run(corpus, out, *EPOCHS)
    done = {name: marker["finished"] for name, marker in _done(out).items()}
    started = sorted(p.stem for p in (out / "pipeline").glob("*.started"))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert _run(corpus, out, *EPOCHS) == 0
    return Finished(out, done, started, err.getvalue())


def test_a_run_killed_inside_a_stage_resumes_that_stage_and_finishes(finished: Finished) -> None:
    assert sorted(finished.done_at_kill) == ["distill", "prepare", "teacher-1", "teacher-2"]
    assert finished.started_at_kill == ["student"]
    err = finished.resumed_err
    done = _done(finished.out)
    for name, when in finished.done_at_kill.items():
        assert f"{name}: done earlier (" in err and done[name]["finished"] == when  # skipped, not redone
    assert "student: 2 epochs, planned" in err and "(resuming after" in err
    assert "resuming at epoch 2" in err  # the trainer's own resume, from the checkpoint of epoch 1
    assert sorted(done) == sorted(STAGES)
    assert done["student"]["resumed"] == 1 and done["student"]["epochs_run"] == 2
    runs = [json.loads(line) for line in (finished.out / "pipeline" / "runs.jsonl").read_text().splitlines()]
    assert [r["status"].split(":")[0] for r in runs if "status" in r] == ["stopped", "finished"]
    assert "-> stopped: Killed" in (finished.out / "MODEL_CARD.md").read_text()


def test_a_full_run_makes_a_phone_bundle_and_a_card_from_what_ran(finished: Finished) -> None:
    out = finished.out
    manifest = json.loads((out / "bundle" / "manifest.json").read_text())
    assert manifest["quantization"]["policy"]["name"] == "ternary"
    done = _done(out)
    export = done["export"]["result"]
    card = (out / "MODEL_CARD.md").read_text()
    # the .pte and ONNX, unless the .pte failed the export's greedy-agreement gate (the card says so)
    assert "onnx" in export["formats"]
    assert ("pte" in export["formats"]) == (not export["refused"])
    for fmt, files in (("pte", ["model.pte"]), ("onnx", ["encoder.onnx", "decoder_step.onnx"])):
        assert all((out / "bundle" / f).is_file() for f in files) == (fmt in export["formats"])
    for refusal in export["refused"]:
        assert f"refused and retried: {refusal}" in card
    # the teachers are one ensemble: they share the tokenizer the prepare stage trained
    assert (out / "teacher-1" / "vocab.json").read_bytes() == (out / "teacher-2" / "vocab.json").read_bytes()
    assert (out / "distill" / "train.tgt").read_text().count("\n") == TRAIN_PAIRS
    scores = done["evaluate"]["result"]
    models = [row["model"] for row in scores["rows"]]
    assert models[:2] == ["teacher (ensemble of 2)", "student"]
    assert len(models) == 2 + len(export["formats"])
    for row in scores["rows"]:
        assert f"| {row['model']} | {row['how']} | {row['bleu']:.2f} |" in card
    assert "pocketmt pipeline --src" in card
    for name in STAGES[:-1]:
        assert f"| {name} |" in card
    curve = done["teacher-1"]["result"]["curve"]
    assert f"ep1 {curve[0]['valid_bleu']}" in card
    assert "(auto)" in card  # the schedule came from the corpus


def test_a_second_run_skips_every_stage(
    corpus: dict[str, Path], finished: Finished, capsys: pytest.CaptureFixture[str]
) -> None:
    markers = sorted((finished.out / "pipeline").glob("*.done"))
    before = {p.name: p.stat().st_mtime_ns for p in markers}
    assert _run(corpus, finished.out, *EPOCHS) == 0
    captured = capsys.readouterr()
    assert "pipeline already finished" in captured.out
    assert captured.err.count(": done earlier") == len(STAGES)
    assert {p.name: p.stat().st_mtime_ns for p in markers} == before


def test_a_rerun_with_other_settings_is_refused(corpus: dict[str, Path], finished: Finished) -> None:
    with pytest.raises(ModelDirError, match=r"other settings \(scheme\)"):
        _run(corpus, finished.out, *EPOCHS, "--scheme", "int4")


def test_a_new_test_set_reruns_only_the_evaluation_and_the_card(
    corpus: dict[str, Path], finished: Finished, capsys: pytest.CaptureFixture[str]
) -> None:
    test = ["--test-src", str(corpus["test_src"]), "--test-ref", str(corpus["test_ref"])]
    assert _run(corpus, finished.out, *EPOCHS, *test) == 0
    err = capsys.readouterr().err
    assert err.count(": done earlier (") == len(STAGES) - 2
    assert "evaluate: done earlier, but its inputs changed; running it again" in err
    assert "card: done earlier, but evaluate ran since it was written; running it again" in err
    scores = _done(finished.out)["evaluate"]["result"]
    assert scores["set"] == "test.en" and scores["sentences"] == 5
    assert "test.en, 5 sentences, beam 4" in (finished.out / "MODEL_CARD.md").read_text()


def test_a_budget_too_small_is_refused_before_any_training(
    corpus: dict[str, Path], finished: Finished, tmp_path: Path
) -> None:
    # a run whose prepare stage (tokenizer and timing probe) is done: that of the finished run
    out = tmp_path / "hurry"
    (out / "pipeline").mkdir(parents=True)
    shutil.copytree(finished.out / "tokenizer", out / "tokenizer")
    for name in ("settings.json", "probe.json", "prepare.done"):
        shutil.copy(finished.out / "pipeline" / name, out / "pipeline" / name)
    with pytest.raises(InputError, match=r"--budget 0\.001 h cannot fit the stages: .* went to preparing"):
        _run(corpus, out, *EPOCHS, "--budget", "0.001")
    assert sorted(_done(out)) == ["prepare"]
    assert not (out / "teacher-1").exists()


# ---------------------------------------------------------------- the planner's arithmetic
COSTS = [
    StageCost("teacher", fixed_seconds=100, epoch_seconds=200, max_epochs=20, min_epochs=1),
    StageCost("distill", fixed_seconds=1000),
    StageCost("student", fixed_seconds=100, epoch_seconds=100, max_epochs=10, min_epochs=1),
    StageCost("export", fixed_seconds=300),
]  # fixed 1500 s; most epochs 4000 + 1000 s


def test_a_generous_budget_gives_every_stage_its_most_epochs() -> None:
    plan = plan_epochs(COSTS, 10_000)
    assert plan.epochs == {"teacher": 20, "student": 10} and plan.share == 1.0
    assert plan.total_seconds == 6500


def test_a_tight_budget_shares_the_time_and_spends_the_leftover_on_whole_epochs() -> None:
    budget = (1500 + 2500) / (1 - MARGIN)  # half of what the most epochs cost is left after fixed costs
    plan = plan_epochs(COSTS, budget)
    assert plan.share == pytest.approx(0.5)
    assert plan.epochs == {"teacher": 10, "student": 5}
    assert plan.total_seconds <= budget * (1 - MARGIN) + 1e-6
    # 300 s more buys one teacher epoch (200 s) and then one student epoch (100 s), furthest below first
    plan = plan_epochs(COSTS, budget + 300 / (1 - MARGIN))
    assert plan.epochs == {"teacher": 11, "student": 6}


def test_a_budget_below_the_fewest_epochs_is_refused_with_what_it_needs() -> None:
    least = 1500 + 200 + 100  # fixed costs and one epoch each
    with pytest.raises(InputError, match=r"need about 0\.53 h"):
        plan_epochs(COSTS, least)
    assert plan_epochs(COSTS, least / (1 - MARGIN) + 1).epochs == {"teacher": 1, "student": 1}


def test_replanning_corrects_estimates_by_the_measured_load_and_keeps_a_started_stage() -> None:
    assert load_factor([], True) == 1.0
    assert load_factor([(100, 200, True), (300, 600, True), (100, 50, False)], True) == 2.0
    assert load_factor([(100, 200, True), (300, 600, True), (100, 50, False)], False) == 0.5
    assert load_factor([(100, 200, True)], False) == 2.0  # no stage of the kind yet: all stages
    assert load_factor([(100, 100_000, True)], True) == 10.0  # clamped
    budget = (1500 + 2500) / (1 - MARGIN)
    # everything ran twice as slow as estimated: half the epochs fit
    plan = replan(COSTS, 2 * budget, 0.0, [(100, 200, True)], {})
    assert plan.epochs == {"teacher": 10, "student": 5}
    # training ran as estimated, the rest 3x slower: distill and export (1300 s) take 2600 s more
    plan = replan(COSTS, budget + 2600 / (1 - MARGIN), 0.0, [(100, 100, True), (100, 300, False)], {})
    assert plan.epochs == {"teacher": 10, "student": 5}
    # the teacher already started with 10 epochs: it keeps them, the student gets what is left
    plan = replan(COSTS, budget, 0.0, [], {"teacher": 10})
    assert plan.epochs == {"teacher": 10, "student": 5}
    # started with 14 (on a larger budget): the student gets only what those leave
    plan = replan(COSTS, budget + 500 / (1 - MARGIN), 0.0, [], {"teacher": 14})
    assert plan.epochs == {"teacher": 14, "student": 2}
    assert plan.total_seconds <= plan.budget_seconds * (1 - MARGIN) + 1e-6
    # no time left at all: the fewest epochs, not an error (the run is under way)
    assert replan(COSTS, budget, 2 * budget, [], {}).epochs == {"teacher": 1, "student": 1}


def test_target_size_picks_the_largest_student_that_fits() -> None:
    assert student_for_size(None, "ternary") == "student"
    big, small = (bundle_bytes(PRESETS[n], "ternary") / 1e6 for n in ("student", "student-small"))
    assert small < big
    assert student_for_size(big + 0.01, "ternary") == "student"
    assert student_for_size(big - 0.01, "ternary") == "student-small"
    assert student_for_size(3.9, "ternary", "onnx") == "student"  # the measured 3.78 MB ONNX download
    with pytest.raises(InputError, match="no student fits 2 MB"):
        student_for_size(2, "ternary")
