"""The run state: plain JSON data, checkpointed after every step and restored on resume."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .budget import Spend


@dataclass
class RunState:
    """Everything a run needs to continue: current and best instructions, history, spend."""

    params: dict[str, str]
    step: int = 0
    best_params: dict[str, str] = field(default_factory=dict)
    best_score: float = float("-inf")
    best_step: int = -1
    current_score: float | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    spend: Spend = field(default_factory=Spend)
    faults: dict[str, int] = field(default_factory=dict)
    stop_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["spend"] = self.spend.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunState":
        data = dict(data)
        data["spend"] = Spend.from_json(data.get("spend", {}))
        return cls(**data)

    def count_fault(self, kind: str, n: int = 1) -> None:
        if n:
            self.faults[kind] = self.faults.get(kind, 0) + n
