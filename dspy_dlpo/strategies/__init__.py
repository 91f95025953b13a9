"""The seven DLPO strategies as composable, stateless objects (the hooks: :mod:`dspy_dlpo.core`; the table of
built-in strategies that the keywords, presets, CLI and ablations read: :mod:`.registry`)."""

from .annealing import TextualSimulatedAnnealing
from ..core import Decision, Section, StepContext, Strategy, derived_rng, greedy_accept
from .contrastive import TextualContrastiveLearning
from .dropout import TextualDropout
from .learning_rate import TextualLearningRate
from .momentum import TextualMomentum
from .regularization import TextualRegularization
from .schedules import SCHEDULES, Schedule, constant, cosine, exponential, linear, step_decay

__all__ = [
    "Decision", "Section", "StepContext", "Strategy", "derived_rng", "greedy_accept",
    "TextualLearningRate", "TextualDropout", "TextualSimulatedAnnealing", "TextualMomentum",
    "TextualContrastiveLearning", "TextualRegularization",
    "SCHEDULES", "Schedule", "constant", "cosine", "exponential", "linear", "step_decay",
]
