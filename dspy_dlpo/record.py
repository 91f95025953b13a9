"""The trial record of one step, typed: :class:`StepRecord`.

A step fills its record as it goes (the minibatch, the critique, the proposals, the acceptance, the
validation), and each strategy says what it did in ``acted`` (:meth:`~dspy_dlpo.core.StepContext.note`).
The run keeps ``to_json()`` of each record in its history: the dict that the trial logs, checkpoints and
result files hold. A field that a step never set is left out of that dict (a skipped step has no
``proposals``); :meth:`StepRecord.from_json` reads any trial log back, keys of older versions included.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


class _Absent:
    """The value of a field the step never set: left out of :meth:`StepRecord.to_json`."""

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()


@dataclass(eq=False, init=False)
class StepRecord:
    """What one step did, for the trial log (every field is JSON-friendly).

    The fields are in the order the trial logs list them; a field the step never set holds
    :data:`ABSENT` and is left out of :meth:`to_json`. ``acted`` maps a strategy to what it did in
    the step; ``refused`` names the strategies whose check refused a rewrite of the step (a broken
    edit bound, frozen sentences changed, too many words); ``extra`` keeps keys this version does not
    know (read from an older trial log), written back unchanged.
    """

    step: int
    param: str
    batch: list[int]
    instruction_before: str | None
    instruction_after: str | None
    gradient: str | None
    batch_score_before: float | None
    batch_score_after: float | None
    delta: float | None
    accepted: bool
    val_score: float | None
    rollouts: list[dict[str, Any]]
    unreached: list[str]
    diagnosis: dict[str, Any]
    attempts: int
    problems: list[str]
    refused: list[str]
    frozen: list[str]
    directives: dict[str, list[str]]
    shown: dict[str, Any] | None
    leaks: list[str]
    proposals: list[dict[str, Any]]
    reply: str
    score_delta: float
    penalty: float
    outcome: str
    reason: str
    accept_probability: float
    accept_draw: float | None
    clipped: bool
    appended: bool
    rollouts_after: list[dict[str, Any]]
    words_before: int
    words_after: int
    candidate_batch_scores: list[float]
    widened: int
    reused: int
    returned_to_best: bool
    acted: dict[str, str]
    best_score: float
    metric_calls: int
    step_metric_calls: int
    optimizer_calls: int
    step_optimizer_calls: int
    failed: str | None
    extra: dict[str, Any]

    def __init__(self, step: int, param: str, **values: Any) -> None:
        self.step, self.param, self.extra = step, param, {}
        for name in _NAMES[2:]:
            setattr(self, name, ABSENT)
        self.update(**values)

    def update(self, **values: Any) -> None:
        """Set fields by name; an unknown name is an error (a typo would otherwise be a silent new key)."""
        for name, value in values.items():
            if name not in _NAMES:
                raise AttributeError(f"StepRecord has no field {name!r}")
            setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        """The trial-log dict: every field that was set, in field order, then ``extra``."""
        data = {name: getattr(self, name) for name in _NAMES if getattr(self, name) is not ABSENT}
        return {**data, **self.extra}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepRecord:
        """A record read from a trial log (any version: unknown keys go to ``extra``)."""
        known = {k: v for k, v in data.items() if k in _NAMES}
        record = cls(step=known.pop("step", -1), param=known.pop("param", ""))
        record.update(**known)
        record.extra = {k: v for k, v in data.items() if k not in _NAMES and k not in ("step", "param")}
        return record


_NAMES = tuple(f.name for f in fields(StepRecord) if f.name != "extra")
