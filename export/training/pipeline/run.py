"""The loop of ``pocketmt pipeline``: run each stage that is not done, in order, on a time plan.

For each stage: skip it when its completion marker and outputs are there; otherwise plan it (a
training stage's epochs are fixed when it first starts: ``plan.replan`` on the budget left), run it
with the one progress display, keep its running time in its ``.started`` record (saved every few
seconds, so a killed run's time is counted), and write its ``.done`` marker after its outputs.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pocketmt.export.training.pipeline.stages as stages
from pocketmt.export.training.pipeline.config import PipelineConfig, stage_names, training_stages
from pocketmt.export.training.pipeline.plan import (
    DEFAULT_BUDGET_HOURS,
    Plan,
    least_seconds,
    plan_epochs,
    replan,
)
from pocketmt.export.training.pipeline.probe import Probe
from pocketmt.export.training.pipeline.progress import RunDisplay, clock
from pocketmt.export.training.pipeline.state import RunState
from pocketmt.runtime.errors import InputError

SAVE_EVERY = 10.0  # seconds between saves of a running stage's time


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)


class _Clock:
    """A running stage's time, accumulated into its ``.started`` record."""

    def __init__(self, state: RunState, stage: str, record: dict[str, Any]) -> None:
        self.state, self.stage, self.record = state, stage, record
        self.mark = time.perf_counter()
        self.saved = self.mark

    def tick(self, force: bool = False) -> float:
        now = time.perf_counter()
        self.record["seconds"] = float(self.record.get("seconds", 0.0)) + (now - self.mark)
        self.mark = now
        if force or now - self.saved >= SAVE_EVERY:
            self.state.save_started(self.stage, self.record)
            self.saved = now
        return float(self.record["seconds"])


def budget_seconds(cfg: PipelineConfig) -> float:
    return (cfg.budget_hours if cfg.budget_hours is not None else DEFAULT_BUDGET_HOURS) * 3600


def _probe(state: RunState) -> Probe | None:
    path = state.folder / "probe.json"
    return Probe(**json.loads(path.read_text())) if path.is_file() else None


def current_plan(cfg: PipelineConfig, state: RunState, strict: bool) -> Plan | None:
    """The plan for the stages not done yet, on the budget left; None before the probe has run.
    ``strict``: refuse (``InputError``) a budget given with --budget that is too small for the stages'
    fewest epochs, before any training (the default budget instead gets the fewest epochs)."""
    probe = _probe(state)
    if probe is None:
        return None
    costs = stages.estimate_costs(cfg, probe)
    names = stage_names(cfg)
    done = {n: state.done(n) for n in names}
    spent = sum(float(d.get("seconds", 0.0)) for d in done.values() if d)
    finished = [  # (the probe's estimate for what the stage did, what it took, whether it trains)
        (float(d["probe_estimate_seconds"]), float(d["seconds"]), n in training_stages(cfg))
        for n, d in done.items()
        if d and d.get("probe_estimate_seconds")
    ]
    fixed: dict[str, int] = {}
    for name in names:
        started = state.started(name)
        if started and started.get("epochs"):
            fixed[name] = int(started["epochs"])
            spent += float(started.get("seconds", 0.0))
    remaining = [c for c in costs if not done.get(c.name)]
    budget = budget_seconds(cfg)
    if strict and cfg.budget_hours is not None and not finished and not fixed:
        if least_seconds(remaining) > budget - spent:
            raise InputError(
                f"--budget {budget / 3600:g} h cannot fit the stages: {clock(spent)} went to preparing, "
                f"and the rest need about {least_seconds(remaining) / 3600:.2f} h at their fewest epochs "
                "on this machine (the timing probe's estimate); raise --budget"
            )
        return plan_epochs(remaining, budget - spent)
    return replan(remaining, budget, spent, finished, fixed)


def _redo(cfg: PipelineConfig, name: str, done: dict[str, Any] | None, ran: list[str]) -> str:
    """Why a stage marked done must run again ("" when it need not): its outputs are gone, it was
    done for other inputs (another test set), or it is the card and other stages ran."""
    if done is None:
        return ""
    if not all(p.exists() for p in stages.outputs(cfg, name)):
        return "its outputs are gone"
    if done.get("inputs", {}) != stages.inputs(cfg, name):
        return "its inputs changed"
    if name == "card" and ran:
        return f"{', '.join(ran)} ran since it was written"
    return ""


def _probe_estimate(cfg: PipelineConfig, state: RunState, name: str, epochs: int | None) -> float | None:
    """The probe's own estimate (not corrected by the load factor) for what the stage did."""
    probe = _probe(state)
    if probe is None:
        return None
    cost = next((c for c in stages.estimate_costs(cfg, probe) if c.name == name), None)
    return None if cost is None else round(cost.seconds(epochs), 1)


def _planned(plan: Plan | None, name: str) -> float:
    if plan is None or all(c.name != name for c in plan.costs):
        return 0.0
    return plan.seconds(name)


def run_pipeline(
    cfg: PipelineConfig,
    evaluator: stages.Evaluator | None = None,
    argv: list[str] | None = None,
    display: RunDisplay | None = None,
) -> RunSummary:
    """Run (or resume) the pipeline ``cfg`` describes; ``argv`` is the command to record in the card."""
    cfg.check()
    root = Path(cfg.out)
    state = RunState(root)
    state.check_settings(cfg.identity())
    names = stage_names(cfg)
    own_display = display is None
    display = display or RunDisplay(names, enabled=sys.stderr.isatty())
    log_path = state.folder / "log.txt"

    def say(msg: str) -> None:
        display.say(msg)
        with log_path.open("a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")
        if not display.enabled:
            print(f"pocketmt: {msg}", file=sys.stderr, flush=True)

    summary = RunSummary()
    command = " ".join(shlex.quote(a) for a in (argv or ["pocketmt", "pipeline", "(from the Python API)"]))
    state.log_run(
        {
            "command": command,
            "began": time.time(),
            "host": socket.gethostname(),
            "cpus": os.cpu_count(),
            "budget_hours": cfg.budget_hours if cfg.budget_hours is not None else DEFAULT_BUDGET_HOURS,
        }
    )
    try:
        plan = current_plan(cfg, state, strict=True)
        if plan is not None:
            _say_plan(plan, say)
        for name in names:
            done = state.done(name)
            why = _redo(cfg, name, done, summary.ran)
            if done is not None and not why:
                summary.skipped.append(name)
                say(f"{name}: done earlier ({clock(float(done.get('seconds', 0.0)))}), skipped")
                continue
            if done is not None:
                say(f"{name}: done earlier, but {why}; running it again")
                state.forget(name)
            plan = current_plan(cfg, state, strict=False)
            epochs = plan.epochs.get(name, 0) if plan else 0
            record = state.start(
                name,
                {
                    "epochs": epochs,
                    "planned_seconds": round(_planned(plan, name), 1),
                    "plan": plan.to_json() if plan else None,
                },
            )
            epochs = int(record.get("epochs") or epochs)
            planned = float(record.get("planned_seconds") or 0.0)
            after = sum(_planned(plan, n) for n in names[names.index(name) + 1 :])
            trains = name in training_stages(cfg)
            unit = "steps" if trains else "sentences" if name == "distill" else "parts"
            display.begin(name, max(0.0, planned - float(record.get("seconds", 0.0))), after, unit)
            how = f"{epochs} epochs, " if trains and epochs else ""
            resumed = f" (resuming after {clock(float(record['seconds']))})" if record.get("resumed") else ""
            say(f"{name}: {how}planned {clock(planned)}{resumed}")
            timer = _Clock(state, name, record)

            def progress(done_: int, total: int, timer: _Clock = timer) -> None:
                display.advance(done_, total)
                timer.tick()

            ctx = stages.Context(cfg, state, say, progress, epochs, evaluator)
            result = stages.stage_function(name)(ctx)
            seconds = timer.tick(force=True)
            ran_epochs = len(result.get("curve", [])) if trains else None
            state.finish(
                name,
                {
                    "inputs": stages.inputs(cfg, name),
                    "seconds": round(seconds, 1),
                    "epochs_planned": epochs if trains else None,
                    "epochs_run": ran_epochs,
                    "planned_seconds": planned,
                    "probe_estimate_seconds": _probe_estimate(cfg, state, name, ran_epochs),
                    "resumed": record.get("resumed", 0),
                    "result": result,
                },
            )
            summary.ran.append(name)
            summary.seconds[name] = seconds
            say(f"{name}: done in {clock(seconds)}")
            if name == "prepare":
                plan = current_plan(cfg, state, strict=True)
                if plan is not None:
                    state.save_plan(plan.to_json())
                    _say_plan(plan, say)
        state.log_run({"ended": time.time(), "status": "finished", "ran": summary.ran})
    except BaseException as exc:
        why = " ".join(f"{type(exc).__name__}: {exc}".split())
        state.log_run({"ended": time.time(), "status": f"stopped: {why}"[:300]})
        raise
    finally:
        if own_display:
            display.close()
    final = state.plan()
    summary.plan = final or {}
    return summary


def _say_plan(plan: Plan, say: Any) -> None:
    if not plan.fits:
        say(
            f"warning: the stages do not fit the {clock(plan.budget_seconds)} left of the budget on this "
            "machine even at their fewest epochs (the estimate); each training stage gets its fewest. "
            "Pass --budget to plan for the time it takes"
        )
    parts = []
    for cost in plan.costs:
        epochs = f" {plan.epochs[cost.name]} ep" if cost.name in plan.epochs else ""
        parts.append(f"{cost.name}{epochs} ~{clock(plan.seconds(cost.name))}")
    say(
        f"plan (budget left {clock(plan.budget_seconds)}): "
        + ", ".join(parts)
        + f"; total ~{clock(plan.total_seconds)}"
    )
