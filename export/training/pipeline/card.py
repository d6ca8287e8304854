"""The model card of a ``pocketmt pipeline`` run, written from what ran: the stage records (times,
epochs, resolved settings, validation curves), the plan, the commands and the evaluation's scores.
Nothing in it is typed in by hand."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any

from pocketmt.export.training.pipeline.config import PipelineConfig, stage_names, training_stages
from pocketmt.export.training.pipeline.progress import clock
from pocketmt.export.training.pipeline.state import RunState
from pocketmt.export.training.presets import PRESETS


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _when(stamp: float | None) -> str:
    return dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M") if stamp else "?"


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def _training_lines(name: str, result: dict[str, Any]) -> list[str]:
    train, arch = result.get("settings", {}), result.get("arch", {})
    auto = train.get("resolved_automatically", [])

    def setting(key: str) -> str:
        return f"{train.get(key)}{' (auto)' if key in auto else ''}"

    shape = (
        f"preset `{train.get('arch')}` ({arch.get('d_model')}-wide, {arch.get('encoder_layers')}+"
        f"{arch.get('decoder_layers')} layers, FFN {arch.get('ffn_dim')})"
        if "d_model" in arch
        else f"from `{Path(str(train.get('init_from'))).name}`"
    )
    curve = ", ".join(f"ep{c['epoch']} {c['valid_bleu']}" for c in result.get("curve", []))
    best = result.get("best_epoch")  # an epoch number, or "average of N"
    lines = [
        f"- **{name}**: {shape}; {setting('batch_tokens')}-token batches, lr {setting('lr')}, "
        f"{setting('warmup_steps')} warm-up steps, {setting('precision')} arithmetic, seed {train.get('seed')}, "
        f"patience {train.get('patience')}, at most {train.get('max_epochs')} epochs; "
        f"{result.get('steps')} steps, {clock(float(result.get('train_seconds') or 0))} of training.",
        f"  Validation BLEU (greedy) by epoch: {curve or '(none)'}; best {result.get('best_valid_bleu')} "
        f"({best if isinstance(best, str) else f'epoch {best}'}).",
    ]
    averaged = result.get("averaged")
    if averaged:
        lines.append(
            f"  Average of epochs {', '.join(str(int(e)) for e in averaged['averaged_epochs'])}: "
            f"valid BLEU {averaged['valid_bleu']}."
        )
    return lines


def write_card(cfg: PipelineConfig, state: RunState, path: Path) -> None:
    names = [n for n in stage_names(cfg) if n != "card"]
    done = {n: state.done(n) or {} for n in names}
    source, target = cfg.langs
    scores = done.get("evaluate", {}).get("result", {})
    export = done.get("export", {}).get("result", {})
    probe = done.get("prepare", {}).get("result", {}).get("probe", {})
    first_plan = state.plan() or {}
    lines = [
        f"# {source} → {target}: {cfg.scheme} student made by `pocketmt pipeline`",
        "",
        f"{len(cfg.formats) == 2 and 'A phone bundle (ExecuTorch .pte and ONNX)' or 'A bundle'} in `bundle/`, "
        f"distilled from {'an ensemble of ' + str(cfg.teachers) + ' teachers' if cfg.teachers > 1 else 'one teacher'}. "
        "Every number below was recorded by the run itself.",
        "",
        "## Scores",
        "",
    ]
    rows = scores.get("rows", [])
    if rows:
        lines += [
            f"{scores.get('set')}, {scores.get('sentences')} sentences, beam {scores.get('beam')}, sacreBLEU.",
            "",
            "| model | run as | BLEU | chrF | download |",
            "|---|---|---:|---:|---:|",
        ]
        for r in rows:
            size = _mb(r["download_bytes"]) if r.get("download_bytes") else ""
            lines.append(
                f"| {r['model']} | {r.get('how', '')} | {r['bleu']:.2f} | {r['chrf']:.2f} | {size} |"
            )
        lines.append("")
    else:
        lines += ["(no evaluation recorded)", ""]
    lines += ["## Bundle", ""]
    if export:
        lines.append(
            f"Formats: {', '.join(export.get('formats', []))}; low-bit linears with "
            f"{export.get('lowbit_compute')} activations in ONNX."
        )
        for backend, check in export.get("checks", {}).items():
            if check:
                lines.append(
                    f"- {backend}: greedy tokens equal to the eager quantized model on "
                    f"{check.get('greedy_agreement', 0):.1%} of {check.get('parity_sentences')} validation sentences."
                )
        for refusal in export.get("refused", []):
            lines.append(f"- refused and retried: {refusal}")
        lines += ["", "| file | size |", "|---|---:|"]
        lines += [f"| {n} | {_mb(b)} |" for n, b in export.get("files", {}).items()]
        lines.append("")
    lines += [
        "## Data",
        "",
        f"- training: `{cfg.src}`, `{cfg.tgt}` ({probe.get('pairs', '?')} pairs)",
        f"- validation (early stopping, checkpoint choice, export parity): `{cfg.valid_src}`, `{cfg.valid_tgt}`",
        f"- evaluation: {scores.get('set', '?')}",
        "- The data's own terms of use apply to this model.",
        "",
        "## Stages",
        "",
        "| stage | epochs (planned / run) | time | planned | resumed |",
        "|---|---:|---:|---:|---:|",
    ]
    total = 0.0
    for n in names:
        d = done[n]
        seconds = float(d.get("seconds", 0.0))
        total += seconds
        epochs = f"{d.get('epochs_planned')} / {d.get('epochs_run')}" if n in training_stages(cfg) else ""
        planned = clock(float(d["planned_seconds"])) if d.get("planned_seconds") else ""
        lines.append(f"| {n} | {epochs} | {clock(seconds)} | {planned} | {d.get('resumed', 0)} |")
    lines += [f"| **all** | | **{clock(total)}** | | |", ""]
    lines += ["## Training", ""]
    for n in training_stages(cfg):
        result = done.get(n, {}).get("result", {})
        if result.get("settings"):
            lines += _training_lines(n, result)
    distill = done.get("distill", {}).get("result", {})
    if distill:
        lines.append(
            f"- **distill**: the {'ensemble' if cfg.teachers > 1 else 'teacher'} translated the "
            f"{distill.get('sentences')} training sources with beam {distill.get('beam')} (sequence-level "
            "distillation, Kim and Rush 2016); the student trained on (source, teacher output) pairs."
        )
    quant = done.get("quantize", {}).get("result", {})
    if quant:
        lines.append(f"- **quantize**: policy `{quant.get('policy')}`, {quant.get('method')}.")
    lines += [
        "",
        "(auto): set by the trainer's corpus-scaled schedule or the hardware (`scaled_schedule`).",
        "",
    ]
    lines += ["## Plan", ""]
    if first_plan:
        budget = float(first_plan.get("budget_seconds", 0.0))
        lines.append(
            f"Budget after the probe: {clock(budget)}; each training stage got {first_plan.get('share', 0):.0%} "
            "of its most epochs (export/training/pipeline/plan.py: fixed costs first, then one share for all "
            "training stages, leftovers as whole epochs; each stage replanned on the budget left when it starts)."
        )
        lines += ["", "| stage | most epochs | planned epochs | estimate |", "|---|---:|---:|---:|"]
        for c in first_plan.get("costs", []):
            est = c["fixed_seconds"] + c["epoch_seconds"] * first_plan["epochs"].get(c["name"], 0)
            lines.append(
                f"| {c['name']} | {c['max_epochs'] or ''} | {first_plan['epochs'].get(c['name'], '')} | {clock(est)} |"
            )
        lines.append("")
    if probe:
        lines.append(
            f"Timing probe on {probe.get('device')} ({probe.get('precision')}): seconds per step "
            + ", ".join(f"{k} {v:.3f}" for k, v in probe.get("step_seconds", {}).items())
            + f"; {probe.get('teacher_steps_per_epoch')} steps per epoch at {probe.get('teacher_batch_tokens')} tokens."
        )
        lines.append("")
    lines += [
        "## Models",
        "",
        f"- teachers: {cfg.teachers} × `{cfg.teacher_arch}` ({PRESETS[cfg.teacher_arch].describe()}), "
        "seeds " + ", ".join(str(cfg.seed + i) for i in range(cfg.teachers)) + ", one shared tokenizer",
        f"- student: `{cfg.student}` ({PRESETS[cfg.student].describe()})",
        "",
        "## Commands",
        "",
        "```bash",
    ]
    for run in state.runs():
        if "command" in run:
            lines.append(
                f"# {_when(run.get('began'))}, {run.get('cpus')} CPUs, budget {run.get('budget_hours')} h"
            )
            lines.append(run["command"])
        elif "status" in run:
            lines.append(f"#   -> {run['status']} at {_when(run.get('ended'))}")
    lines += [
        "```",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()}; "
        f"{probe.get('device', 'cpu')} training in {probe.get('precision', '?')}.",
        "",
    ]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(path)
