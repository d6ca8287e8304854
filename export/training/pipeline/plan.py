"""The time plan of ``pocketmt pipeline``: how many epochs each training stage gets within a budget.

Pure arithmetic over estimates (``StageCost``), so that the rule can be read and tested on its own:

1. The stages that are not training (teacher translations, export, evaluation) cost what they cost;
   their estimates come off the budget first, with a safety margin of ``MARGIN``.
2. Every training stage has a most useful number of epochs (``max_epochs``: the recipe's, early
   stopping may end it sooner) and a least (``min_epochs``). All training stages get the same share
   ``f`` of their most epochs, ``f = min(1, what is left / what all most epochs cost)``, rounded
   down; a stage whose share would fall under its least gets its least, and ``f`` is worked out
   again for the others on what is left then.
3. Time still left after rounding down buys whole epochs, one at a time, for the stage furthest below
   its most (by share), as long as each fits.

The estimates are a timing probe's at first; once stages have run, ``load_factor`` (measured time over
estimated time of the finished stages of the same kind, training or not, since the probe times the two
differently) corrects the estimates of the rest, and the stage about to start is planned again on the
budget still left. A stage keeps the epochs it was planned with once it starts,
so a resumed stage trains to the same end.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from pocketmt.runtime.errors import InputError

# a working day; on two CPU cores the default stages of a Multi30k-sized corpus fit in it
DEFAULT_BUDGET_HOURS = 8.0
MARGIN = 0.05  # of the budget, kept back for what estimates miss


@dataclass(frozen=True)
class StageCost:
    """Estimated cost of one stage: ``fixed_seconds`` plus, for training stages, ``epoch_seconds``
    for each epoch (training and the end-of-epoch validation)."""

    name: str
    fixed_seconds: float = 0.0
    epoch_seconds: float = 0.0
    max_epochs: int = 0  # 0: not a training stage
    min_epochs: int = 0

    @property
    def trains(self) -> bool:
        return self.max_epochs > 0

    def seconds(self, epochs: int | None = None) -> float:
        n = self.max_epochs if epochs is None else epochs
        return self.fixed_seconds + (n * self.epoch_seconds if self.trains else 0.0)

    def scaled(self, factor: float) -> StageCost:
        return replace(
            self, fixed_seconds=self.fixed_seconds * factor, epoch_seconds=self.epoch_seconds * factor
        )


@dataclass(frozen=True)
class Plan:
    budget_seconds: float
    costs: tuple[StageCost, ...]
    epochs: dict[str, int]  # training stages only
    share: float  # f of the rule (1.0: every training stage gets its most epochs)
    fits: bool = True  # False: even the fewest epochs overrun the budget (they are planned anyway)

    def seconds(self, name: str) -> float:
        cost = next(c for c in self.costs if c.name == name)
        return cost.seconds(self.epochs.get(name))

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds(c.name) for c in self.costs)

    def to_json(self) -> dict[str, Any]:
        return {
            "budget_seconds": round(self.budget_seconds, 1),
            "share": round(self.share, 4),
            "epochs": dict(self.epochs),
            "costs": [asdict(c) for c in self.costs],
            "total_seconds": round(self.total_seconds, 1),
            "fits": self.fits,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Plan:
        return Plan(
            float(data["budget_seconds"]),
            tuple(StageCost(**c) for c in data["costs"]),
            {k: int(v) for k, v in data["epochs"].items()},
            float(data["share"]),
            bool(data.get("fits", True)),
        )


def least_seconds(costs: list[StageCost]) -> float:
    """The budget ``costs`` need at their fewest epochs, margin included."""
    return sum(c.seconds(c.min_epochs) for c in costs) / (1 - MARGIN)


def plan_epochs(costs: list[StageCost], budget_seconds: float) -> Plan:
    """Epochs for every training stage in ``costs`` so that all of ``costs`` fit ``budget_seconds``
    (the rule of this module's docstring). Raises ``InputError`` when even the least epochs do not fit."""
    usable = budget_seconds * (1 - MARGIN)
    training = [c for c in costs if c.trains]
    fixed = sum(c.fixed_seconds for c in costs)
    if least_seconds(costs) > budget_seconds + 1e-9:
        raise InputError(
            f"a budget of {budget_seconds / 3600:.2f} h cannot fit the stages: they need about "
            f"{least_seconds(costs) / 3600:.2f} h at their fewest epochs on this machine"
        )
    # one share for all; a stage whose least epochs exceed its share gets its least, and the share
    # is worked out again for the others (so the total never passes the budget)
    at_least: set[str] = set()
    while True:
        flexible = [c for c in training if c.name not in at_least]
        most = sum(c.max_epochs * c.epoch_seconds for c in flexible)
        floor_cost = sum(c.min_epochs * c.epoch_seconds for c in training if c.name in at_least)
        share = 1.0 if most <= 0 else min(1.0, (usable - fixed - floor_cost) / most)
        below = [c.name for c in flexible if share * c.max_epochs < c.min_epochs]
        if not below:
            break
        at_least.update(below)
    epochs = {
        c.name: c.min_epochs if c.name in at_least else math.floor(share * c.max_epochs + 1e-9)
        for c in training
    }
    left = usable - fixed - sum(epochs[c.name] * c.epoch_seconds for c in training)
    while True:
        room = [c for c in training if epochs[c.name] < c.max_epochs and c.epoch_seconds <= left]
        if not room:
            break
        pick = min(room, key=lambda c: (epochs[c.name] / c.max_epochs, c.name))
        epochs[pick.name] += 1
        left -= pick.epoch_seconds
    return Plan(budget_seconds, tuple(costs), epochs, share)


Finished = tuple[float, float, bool]  # (estimated seconds, measured seconds, a training stage)


def load_factor(finished: list[Finished], trains: bool) -> float:
    """Measured over estimated seconds of the finished stages of the kind ``trains`` (of all finished
    stages while none of that kind has finished), clamped to [0.1, 10] so that one odd stage cannot
    throw the plan; 1.0 before any stage has run."""
    same = [f for f in finished if f[2] == trains] or finished
    estimated = sum(f[0] for f in same)
    measured = sum(f[1] for f in same)
    if estimated <= 0 or measured <= 0:
        return 1.0
    return min(10.0, max(0.1, measured / estimated))


def replan(
    costs: list[StageCost],
    budget_seconds: float,
    spent_seconds: float,
    finished: list[Finished],
    fixed_epochs: dict[str, int],
) -> Plan:
    """The plan for the stages still to run (``costs``) on the budget left after ``spent_seconds``,
    their estimates corrected by ``load_factor(finished)``; stages in ``fixed_epochs`` (already
    started) keep their epochs. When the least epochs no longer fit, every stage gets its least."""
    scaled = [c.scaled(load_factor(finished, c.trains)) for c in costs]
    pinned = [
        replace(c, min_epochs=fixed_epochs[c.name], max_epochs=fixed_epochs[c.name])
        if c.name in fixed_epochs
        else c
        for c in scaled
    ]
    left = max(0.0, budget_seconds - spent_seconds)
    try:
        return plan_epochs(pinned, left)
    except InputError:
        return Plan(left, tuple(pinned), {c.name: c.min_epochs for c in pinned if c.trains}, 0.0, False)
