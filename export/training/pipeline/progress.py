"""One progress display for a whole ``pocketmt pipeline`` run.

A single bar (tqdm, on stderr) follows the stage under way; its label names the stage and its
position in the run, its postfix the stage's ETA and the run's (the stage's, plus the plan's estimate
for the stages after it). Messages (stage starts and ends, the trainers' epoch lines) are written
above the bar. A stage's ETA moves from the plan's estimate to its own measured rate as it progresses.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any


def clock(seconds: float) -> str:
    """``1h05m``, ``12m30s``, ``45s``."""
    s = max(0, int(round(seconds)))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class RunDisplay:
    def __init__(self, stages: list[str], file: IO[str] | None = None, enabled: bool = True) -> None:
        from tqdm import tqdm

        self.stages = stages
        self.file = file or sys.stderr
        self.enabled = enabled
        self.bar: Any = tqdm(
            total=1,
            file=self.file,
            disable=not enabled,
            mininterval=1.0,
            dynamic_ncols=True,
            bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}{postfix}]",
        )
        self.stage = ""
        self.began = time.perf_counter()
        self.planned = 0.0
        self.after = 0.0  # planned seconds of the stages after this one

    def say(self, msg: str) -> None:
        from tqdm import tqdm

        if self.enabled:
            tqdm.write(f"pocketmt: {msg}", file=self.file)

    def begin(self, stage: str, planned_seconds: float, after_seconds: float, unit: str = "steps") -> None:
        self.stage, self.planned, self.after = stage, planned_seconds, after_seconds
        self.began = time.perf_counter()
        index = self.stages.index(stage) + 1 if stage in self.stages else 0
        self.bar.reset(total=1)
        self.bar.unit = unit
        self.bar.set_description_str(f"[{index}/{len(self.stages)}] {stage}", refresh=False)
        self._postfix(0, 1)

    def advance(self, done: int, total: int) -> None:
        total = max(total, 1)
        if self.bar.total != total:
            self.bar.total = total
        self.bar.n = min(done, total)
        self._postfix(done, total)

    def stage_eta(self, done: int, total: int) -> float:
        """The plan's estimate at the start, the stage's own rate by the end: weighted by the share
        of the stage that is done."""
        elapsed = time.perf_counter() - self.began
        planned = max(0.0, self.planned - elapsed)
        if done <= 0 or total <= 0:
            return planned
        share = min(1.0, done / total)
        measured = elapsed / done * max(0, total - done)
        return share * measured + (1 - share) * planned

    def _postfix(self, done: int, total: int) -> None:
        eta = self.stage_eta(done, total)
        self.bar.set_postfix_str(f"stage eta {clock(eta)}, run eta {clock(eta + self.after)}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
