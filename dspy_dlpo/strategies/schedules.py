"""Schedules: plain ``step -> value`` functions (step counts from 0), as in optax.

Any option that takes a schedule also accepts any callable ``int -> float``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..validate import positive_number, real_number

Schedule = Callable[[int], float]


def constant(value: float) -> Schedule:
    """Always ``value``."""
    value = positive_number("value", value)
    return lambda step: value


def linear(start: float, end: float, steps: int) -> Schedule:
    """From ``start`` to ``end`` linearly over ``steps`` steps, then ``end``."""
    start, end = positive_number("start", start), positive_number("end", end)
    steps = int(positive_number("steps", steps))
    return lambda step: start + (end - start) * min(step, steps) / steps


def exponential(start: float, rate: float, floor: float = 1.0) -> Schedule:
    """``start * rate**step``, never below ``floor``; ``rate`` in (0, 1]."""
    start, floor = positive_number("start", start), positive_number("floor", floor)
    rate = real_number("rate", rate, 0, 1, low_open=True)
    return lambda step: max(floor, start * rate ** step)


def cosine(start: float, end: float, steps: int) -> Schedule:
    """Cosine decay from ``start`` to ``end`` over ``steps`` steps, then ``end``."""
    start, end = positive_number("start", start), positive_number("end", end)
    steps = int(positive_number("steps", steps))
    return lambda step: end + (start - end) * 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))


def step_decay(start: float, factor: float, every: int, floor: float = 1.0) -> Schedule:
    """Multiply by ``factor`` every ``every`` steps, never below ``floor``."""
    start, floor = positive_number("start", start), positive_number("floor", floor)
    every = int(positive_number("every", every))
    factor = real_number("factor", factor, 0, 1, low_open=True)
    return lambda step: max(floor, start * factor ** (step // every))


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant": constant, "linear": linear, "exponential": exponential, "cosine": cosine, "step": step_decay,
}
