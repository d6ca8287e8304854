"""What a ``pocketmt pipeline`` run has done, on disk, so that the same command resumes it.

    DIR/pipeline/settings.json      what defines the run; a rerun with other settings is refused
    DIR/pipeline/plan.json          the time plan (``plan.py``), replanned as stages finish
    DIR/pipeline/runs.jsonl         one line per invocation: the command, when it began and ended
    DIR/pipeline/<stage>.started    a stage under way: its planned epochs and its seconds so far
    DIR/pipeline/<stage>.done       a stage's completion marker: outputs, seconds, results

Every file is written whole to a temporary name and renamed into place, and a stage's ``.done`` marker
only after all its outputs are in place, so ``kill -9`` at any moment leaves either a finished stage
(with its marker) or one that the next run resumes or redoes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from pocketmt.export.errors import ModelDirError


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=1) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


class RunState:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / "pipeline"

    # ------------------------------------------------------------ identity
    def check_settings(self, settings: dict[str, Any]) -> None:
        """Refuse to resume a run made with other settings (``settings`` is what defines the run)."""
        path = self.folder / "settings.json"
        before = _read(path)
        if before is not None:
            changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
            if changed:
                raise ModelDirError(
                    f"{self.root}: holds a pipeline run with other settings ({', '.join(changed)}); "
                    "use another -o, or rerun with the settings it was started with"
                )
            return
        write_json_atomic(path, settings)

    # ------------------------------------------------------------ plan
    def plan(self) -> dict[str, Any] | None:
        data = _read(self.folder / "plan.json")
        return data if isinstance(data, dict) else None

    def save_plan(self, plan: dict[str, Any]) -> None:
        write_json_atomic(self.folder / "plan.json", plan)

    # ------------------------------------------------------------ stages
    def done(self, stage: str) -> dict[str, Any] | None:
        data = _read(self.folder / f"{stage}.done")
        return data if isinstance(data, dict) else None

    def started(self, stage: str) -> dict[str, Any] | None:
        data = _read(self.folder / f"{stage}.started")
        return data if isinstance(data, dict) else None

    def start(self, stage: str, record: dict[str, Any]) -> dict[str, Any]:
        """The stage's running record: kept from an earlier, interrupted run (so its epochs stay), or
        ``record`` for a first start."""
        before = self.started(stage)
        if before is not None:
            before["resumed"] = before.get("resumed", 0) + 1
            write_json_atomic(self.folder / f"{stage}.started", before)
            return before
        record = {"seconds": 0.0, "resumed": 0, "began": time.time(), **record}
        write_json_atomic(self.folder / f"{stage}.started", record)
        return record

    def save_started(self, stage: str, record: dict[str, Any]) -> None:
        write_json_atomic(self.folder / f"{stage}.started", record)

    def forget(self, stage: str) -> None:
        """Drop a completion marker, so that the stage runs again from what it left."""
        (self.folder / f"{stage}.done").unlink(missing_ok=True)

    def finish(self, stage: str, record: dict[str, Any]) -> None:
        """Write the completion marker (after the outputs), then drop the running record."""
        write_json_atomic(self.folder / f"{stage}.done", {**record, "finished": time.time()})
        (self.folder / f"{stage}.started").unlink(missing_ok=True)

    # ------------------------------------------------------------ invocations
    def log_run(self, entry: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "runs.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def runs(self) -> list[dict[str, Any]]:
        path = self.folder / "runs.jsonl"
        if not path.is_file():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by kill -9
                continue
        return out
