"""dspy-dlpo: DLPO prompt optimization (textual gradient descent + seven strategies) for DSPy."""

from .callbacks import Callback
from .strategies import (Decision, StepContext, Strategy, TextualContrastiveLearning, TextualDropout,
                         TextualLearningRate, TextualMomentum, TextualRegularization, TextualSimulatedAnnealing,
                         constant, cosine, exponential, linear, step_decay)
from .results import DLPOResults, TrialLogs, load_best, load_results, load_trial_logs
from .teleprompter import DLPOTeleprompter

__all__ = [
    "DLPOTeleprompter", "Callback", "DLPOResults", "TrialLogs", "load_best", "load_results", "load_trial_logs", "Strategy", "StepContext", "Decision",
    "TextualLearningRate", "TextualDropout", "TextualSimulatedAnnealing", "TextualMomentum",
    "TextualContrastiveLearning", "TextualRegularization",
    "constant", "linear", "exponential", "cosine", "step_decay",
]
__version__ = "0.1.0"
