"""The stages of ``pocketmt pipeline``, each a function of the run's context that returns what it did.

Each stage leaves its outputs in its own folder under DIR and resumes from them when run again:

    prepare    DIR/tokenizer/ (the teachers' joint SentencePiece model), pipeline/probe.json
    teacher-N  DIR/teacher-N/: a teacher (``pocketmt train``'s trainer; resumes after kill -9)
    distill    DIR/distill/: the teachers' beam outputs for the training sources (cached by chunk)
    student    DIR/student/: the student trained on those outputs (the trainer again)
    quantize   DIR/student-SCHEME/: ternary quantization-aware training (``pocketmt quantize``'s API;
               the trainer again) or int4 post-training quantization
    export     DIR/bundle/: both formats (``pocketmt export``'s API), the .pte the phone loads
    evaluate   DIR/eval/: scores (given by the command line, which may use the evaluation layer)
    card       DIR/MODEL_CARD.md
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pocketmt.export.training.pipeline.config import PipelineConfig
from pocketmt.export.training.pipeline.plan import StageCost
from pocketmt.export.training.pipeline.probe import EXPORT_SECONDS, EXPORT_SECONDS_PER_MPARAM, Probe
from pocketmt.export.training.pipeline.state import RunState, write_json_atomic
from pocketmt.runtime.errors import InputError

SETUP_SECONDS = 30.0  # reading and encoding the corpus, the student's tokenizer, loading checkpoints


@dataclass(frozen=True)
class EvalRequest:
    """What the evaluation stage scores: the teachers (as one ensemble), the student, the quantized
    checkpoint's bundle on each of its backends, on ``src``/``ref``."""

    teachers: tuple[str, ...]
    student: str
    quantized: str
    bundle: str
    src: str
    ref: str
    set_name: str
    beam: int
    limit: int
    out: str


# (request, progress(done, total), say) -> {"set": ..., "sentences": ..., "rows": [{model, bleu, chrf, ...}]}
Evaluator = Callable[[EvalRequest, Callable[[int, int], None], Callable[[str], None]], dict[str, Any]]


@dataclass
class Context:
    cfg: PipelineConfig
    state: RunState
    say: Callable[[str], None]
    progress: Callable[[int, int], None]
    epochs: int  # planned epochs of this stage (training stages)
    evaluator: Evaluator | None

    @property
    def root(self) -> Path:
        return Path(self.cfg.out)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def teacher_dirs(self) -> tuple[str, ...]:
        return tuple(str(self.path(f"teacher-{i}")) for i in range(1, self.cfg.teachers + 1))

    @property
    def quantized_dir(self) -> Path:
        return self.path(f"student-{self.cfg.scheme}")


def outputs(cfg: PipelineConfig, stage: str) -> list[Path]:
    """What a finished stage leaves behind; a stage marked done whose outputs are gone is redone."""
    root = Path(cfg.out)
    from pocketmt.export.compression.quantize import QUANT_JSON

    table = {
        "prepare": [root / "tokenizer" / "vocab.json", root / "pipeline" / "probe.json"],
        "distill": [root / "distill" / "train.src", root / "distill" / "train.tgt"],
        "student": [root / "student" / "model.safetensors"],
        "quantize": [root / f"student-{cfg.scheme}" / QUANT_JSON],
        "export": [root / "bundle" / "manifest.json"],
        "evaluate": [root / "eval" / "scores.json"],
        "card": [root / "MODEL_CARD.md"],
    }
    if stage.startswith("teacher-"):
        return [root / stage / "model.safetensors"]
    return table[stage]


def inputs(cfg: PipelineConfig, stage: str) -> dict[str, Any]:
    """What a stage's result depends on beyond the run's settings (which a rerun may not change):
    the evaluation's test set. A stage done for other inputs runs again."""
    if stage == "evaluate":
        src, ref = (cfg.test_src, cfg.test_ref) if cfg.test_src else (cfg.valid_src, cfg.valid_tgt)
        return {"src": str(Path(src).resolve()), "ref": str(Path(ref).resolve()), "limit": cfg.eval_limit}
    return {}


# ---------------------------------------------------------------- estimates
def estimate_costs(cfg: PipelineConfig, probe: Probe) -> list[StageCost]:
    """Each stage's cost from the probe (``plan.StageCost``), for the stages after ``prepare``."""
    r = cfg.recipe
    step, greedy = probe.step_seconds, probe.greedy_seconds_per_sentence
    valid = probe.valid_sentences
    teacher_epoch = probe.teacher_steps_per_epoch * step["teacher"] + valid * greedy["teacher"]
    student_epoch = probe.teacher_steps_per_epoch * step["student"] + valid * greedy["student"]
    qat_epoch = probe.qat_steps_per_epoch * step["qat"] + valid * greedy["student"]
    beam = probe.beam_seconds_per_sentence
    costs = [
        StageCost(f"teacher-{i}", SETUP_SECONDS, teacher_epoch, r.teacher_epochs, r.min_epochs)
        for i in range(1, cfg.teachers + 1)
    ]
    costs.append(StageCost("distill", SETUP_SECONDS + probe.pairs * beam * cfg.teachers))
    costs.append(StageCost("student", SETUP_SECONDS, student_epoch, r.student_epochs, r.min_epochs))
    if cfg.scheme == "ternary":
        costs.append(StageCost("quantize", SETUP_SECONDS, qat_epoch, r.qat_epochs, r.min_epochs))
    else:
        costs.append(StageCost("quantize", SETUP_SECONDS))
    export = EXPORT_SECONDS + EXPORT_SECONDS_PER_MPARAM * probe.student_parameters / 1e6
    costs.append(
        StageCost("export", export * len(cfg.formats) / 2 + 200 * greedy["student"] * len(cfg.formats))
    )
    # ensemble and student eagerly, then the bundle on each backend one sentence at a time (slower)
    per_sentence = beam * (cfg.teachers + 1 + 2 * len(cfg.formats))
    costs.append(StageCost("evaluate", SETUP_SECONDS + probe.eval_sentences * per_sentence))
    costs.append(StageCost("card", 1.0))
    return costs


# ---------------------------------------------------------------- stages
def prepare(ctx: Context) -> dict[str, Any]:
    """Check the data, train the teachers' shared tokenizer, and time this machine (``probe``)."""
    from pocketmt.export.training.pipeline.probe import run_probe
    from pocketmt.export.training.presets import PRESETS
    from pocketmt.io.corpus import read_lines, read_parallel
    from pocketmt.io.spm_vocab import marian_vocab, train_joint_spm, write_tokenizer

    cfg = ctx.cfg
    sources, targets = read_parallel(cfg.src, cfg.tgt)
    valid_src, _ = read_parallel(cfg.valid_src, cfg.valid_tgt)
    if not sources or not valid_src:
        raise InputError("the training and validation sets must not be empty")
    eval_count = len(read_lines(cfg.test_src)) if cfg.test_src else len(valid_src)
    if cfg.eval_limit:
        eval_count = min(eval_count, cfg.eval_limit)
    tok_dir = ctx.path("tokenizer")
    if not (tok_dir / "vocab.json").is_file():
        pieces = PRESETS[cfg.teacher_arch].vocab_size
        ctx.say(f"training the teachers' SentencePiece model ({pieces} pieces) on {len(sources)} pairs")
        proto = train_joint_spm(sources + targets, pieces)
        staging = ctx.path("tokenizer.partial")
        staging.mkdir(parents=True, exist_ok=True)
        write_tokenizer(staging, proto, marian_vocab(proto), *cfg.langs)
        staging.rename(tok_dir)
    ctx.progress(1, 3)
    ctx.say(f"timing probe: {cfg.probe_steps} training steps of {cfg.teacher_arch} and {cfg.student}")
    probe = run_probe(
        tok_dir,
        sources,
        targets,
        len(valid_src),
        eval_count,
        cfg.teacher_arch,
        cfg.student,
        cfg.probe_steps,
        cfg.recipe.qat_batch_tokens,
        cfg.recipe.beam,
    )
    write_json_atomic(ctx.path("pipeline", "probe.json"), probe.to_json())
    ctx.progress(3, 3)
    return {"probe": probe.to_json()}


def _train(ctx: Context, folder: Path, **settings: Any) -> dict[str, Any]:
    from pocketmt.export.training.trainer import TrainConfig, Trainer, reporting_steps

    cfg = ctx.cfg
    train = TrainConfig(
        valid_src=cfg.valid_src,
        valid_tgt=cfg.valid_tgt,
        out=str(folder),
        source_lang=cfg.langs[0],
        target_lang=cfg.langs[1],
        max_epochs=ctx.epochs,
        checkpoint_every=cfg.recipe.checkpoint_every,
        average_last=cfg.recipe.average_last,
        **settings,
    )
    with reporting_steps(ctx.progress):
        progress = Trainer(train, ctx.say).run()
    return _trained(folder / ".train", progress)


def _trained(work: Path, progress: dict[str, Any]) -> dict[str, Any]:
    """What a finished trainer did: its resolved settings and validation curve, from its own files."""
    settings = json.loads((work / "settings.json").read_text())
    log = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines() if line.strip()]
    return {
        "settings": settings["train"],
        "arch": settings["arch"],
        "best_valid_bleu": progress.get("best_bleu"),
        "best_epoch": progress.get("best_epoch"),
        "steps": progress.get("step"),
        "train_seconds": round(float(progress.get("seconds", 0.0)), 1),
        "curve": [
            {k: line[k] for k in ("epoch", "step", "valid_bleu", "valid_chrf") if k in line}
            for line in log
            if isinstance(line.get("epoch"), int)
        ],
        "averaged": next((line for line in reversed(log) if "averaged_epochs" in line), None),
    }


def teacher(index: int) -> Callable[[Context], dict[str, Any]]:
    def run(ctx: Context) -> dict[str, Any]:
        cfg = ctx.cfg
        return _train(
            ctx,
            ctx.path(f"teacher-{index}"),
            src=cfg.src,
            tgt=cfg.tgt,
            arch=cfg.teacher_arch,
            seed=cfg.seed + index - 1,
            patience=cfg.recipe.teacher_patience,
            tokenizer_from=str(ctx.path("tokenizer")),
        )

    return run


def distill(ctx: Context) -> dict[str, Any]:
    """Sequence-level distillation data: the teachers' beam outputs for every training source."""
    from pocketmt.export.training.distill import teacher_translations
    from pocketmt.io.corpus import read_lines

    cfg = ctx.cfg
    sources = read_lines(cfg.src)
    work = ctx.path("distill")
    began = time.perf_counter()
    outputs_ = teacher_translations(
        ctx.teacher_dirs,
        sources,
        work / "teacher",
        cfg.recipe.beam,
        cfg.recipe.batch_sentences,
        ctx.say,
        on_chunk=ctx.progress,
    )
    for name, lines in (("train.src", sources), ("train.tgt", outputs_)):
        tmp = work / f".{name}.tmp"
        tmp.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n", encoding="utf-8")
        tmp.replace(work / name)
    return {
        "teachers": list(ctx.teacher_dirs),
        "beam": cfg.recipe.beam,
        "sentences": len(sources),
        "seconds_this_run": round(time.perf_counter() - began, 1),
    }


def student(ctx: Context) -> dict[str, Any]:
    cfg = ctx.cfg
    work = ctx.path("distill")
    return _train(
        ctx,
        ctx.path("student"),
        src=str(work / "train.src"),
        tgt=str(work / "train.tgt"),
        arch=cfg.student,
        seed=cfg.seed,
        patience=cfg.recipe.student_patience,
    )


def quantize(ctx: Context) -> dict[str, Any]:
    from pocketmt.export.compression.schemes import POLICIES
    from pocketmt.export.training.quantize_checkpoint import needs_training, quantize_checkpoint
    from pocketmt.export.training.trainer import FineTuneOptions, reporting_steps

    cfg, r = ctx.cfg, ctx.cfg.recipe
    policy = POLICIES[cfg.scheme]
    qat = None
    if needs_training(policy):
        qat = FineTuneOptions(
            src=cfg.src,
            tgt=cfg.tgt,
            valid_src=cfg.valid_src,
            valid_tgt=cfg.valid_tgt,
            max_epochs=ctx.epochs,
            lr=r.qat_lr,
            warmup_steps=r.qat_warmup_steps,
            batch_tokens=r.qat_batch_tokens,
            seed=cfg.seed,
            patience=r.qat_patience,
            checkpoint_every=r.checkpoint_every,
            average_last=r.average_last,
        )
    else:
        ctx.progress(0, 1)
    with reporting_steps(ctx.progress):
        result = quantize_checkpoint(ctx.path("student"), ctx.quantized_dir, policy, qat, say=ctx.say)
    out: dict[str, Any] = {"policy": policy.name, "method": result["method"], "tensors": result["tensors"]}
    if qat is not None:  # the trainer's own record of the quantization-aware run
        work = ctx.quantized_dir / ".qat" / ".train"
        log = [json.loads(x) for x in (work / "log.jsonl").read_text().splitlines() if x.strip()]
        progress = {
            "best_bleu": result.get("valid_bleu"),
            "best_epoch": result.get("best"),
            "step": max((x.get("step", 0) for x in log), default=0),
            "seconds": max((x.get("train_seconds", 0.0) for x in log), default=0.0),
        }
        out.update(_trained(work, progress))
    return out


def export(ctx: Context) -> dict[str, Any]:
    """Both formats when both pass the export's checks. A format whose exported graphs fail the
    greedy-agreement gate against the eager quantized model is dropped (ExecuTorch) or retried with
    fp32 activations (ONNX), and the card says so."""
    from pocketmt.export.errors import ExportError
    from pocketmt.export.pipeline import ExportOptions, export_bundle

    cfg = ctx.cfg
    formats, compute = tuple(cfg.formats), "int8"
    refused: list[str] = []
    ctx.progress(0, 1)
    while True:
        options = ExportOptions(
            formats=formats, overwrite=True, parity_src=cfg.valid_src, lowbit_compute=compute
        )
        try:
            report = export_bundle(ctx.quantized_dir, ctx.path("bundle"), options, progress=ctx.say)
            break
        except ExportError as exc:
            message = str(exc)
            refused.append(f"{','.join(formats)} ({compute} activations): {message}")
            if "executorch:" in message and len(formats) > 1:
                formats = tuple(f for f in formats if f != "pte")
            elif "onnx:" in message and compute == "int8":
                compute = "fp32"
            else:
                raise
            ctx.say(f"warning: {message}; exporting again as {','.join(formats)} with {compute} activations")
    ctx.progress(1, 1)
    manifest = json.loads((ctx.path("bundle") / "manifest.json").read_text())
    checks = {
        b: {k: v for k, v in c.items() if k in ("greedy_agreement", "parity_sentences")}
        for b, c in manifest.get("export_check", {}).get("backends", {}).items()
    }
    return {
        "formats": list(formats),
        "lowbit_compute": compute,
        "refused": refused,
        "files": report.files,
        "checks": checks,
        "export_seconds": {k: round(v, 1) for k, v in report.seconds.items()},
    }


def evaluate(ctx: Context) -> dict[str, Any]:
    cfg = ctx.cfg
    if ctx.evaluator is None:
        raise InputError("the evaluation stage needs an evaluator (pocketmt pipeline gives one)")
    src, ref = (cfg.test_src, cfg.test_ref) if cfg.test_src else (cfg.valid_src, cfg.valid_tgt)
    request = EvalRequest(
        teachers=ctx.teacher_dirs,
        student=str(ctx.path("student")),
        quantized=str(ctx.quantized_dir),
        bundle=str(ctx.path("bundle")),
        src=src,
        ref=ref,
        set_name=Path(src).name + ("" if cfg.test_src else " (the validation set: no --test-src given)"),
        beam=cfg.recipe.beam,
        limit=cfg.eval_limit,
        out=str(ctx.path("eval")),
    )
    scores = ctx.evaluator(request, ctx.progress, ctx.say)
    write_json_atomic(ctx.path("eval", "scores.json"), scores)
    return scores


def card(ctx: Context) -> dict[str, Any]:
    from pocketmt.export.training.pipeline.card import write_card

    path = ctx.path("MODEL_CARD.md")
    write_card(ctx.cfg, ctx.state, path)
    return {"card": str(path)}


def stage_function(name: str) -> Callable[[Context], dict[str, Any]]:
    if name.startswith("teacher-"):
        return teacher(int(name.split("-")[1]))
    functions: dict[str, Callable[[Context], dict[str, Any]]] = {
        "prepare": prepare,
        "distill": distill,
        "student": student,
        "quantize": quantize,
        "export": export,
        "evaluate": evaluate,
        "card": card,
    }
    return functions[name]
