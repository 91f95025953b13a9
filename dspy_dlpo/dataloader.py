"""The data loader: checks the train and validation sets, holds half of ``trainset`` out when no
valset is given, and samples the minibatches."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import dspy

from .checkpoint import fingerprint
from .sanitize import is_valid, valid_data
from .core import derived_rng

logger = logging.getLogger(__name__)


def minibatch(n: int, batch_size: int, *, seed: int, step: int) -> list[int]:
    """Indices of the minibatch of ``step`` over ``n`` training examples.

    Each epoch is a permutation derived from ``seed``, cut into ``ceil(n / size)`` batches
    (``size = min(batch_size, n)``); the last batch of an epoch is padded with other examples of
    that epoch, so a batch never holds one example twice and every example is seen once per epoch.
    Stateless: the same ``(n, batch_size, seed, step)`` always gives the same batch (exact resume).
    """
    size = min(batch_size, n)
    epoch, slot = divmod(step, -(-n // size))
    order = list(range(n))
    derived_rng(seed, "epoch", epoch).shuffle(order)
    picked = order[slot * size:(slot + 1) * size]
    if len(picked) < size:
        rest = [i for i in order if i not in picked]
        picked += derived_rng(seed, "pad", epoch).sample(rest, size - len(picked))
    return picked


def check_examples(name: str, examples: Any, *, minimum: int) -> list[dspy.Example]:
    """``examples`` as a list after checking type, size and input keys; errors name the problem."""
    if examples is None or isinstance(examples, (str, bytes, dict)) or not isinstance(examples, Sequence):
        raise TypeError(f"{name} must be a list of dspy.Example, got {type(examples).__name__}")
    examples = list(examples)
    if len(examples) < minimum:
        raise ValueError(f"{name} must hold at least {minimum} examples, got {len(examples)}")
    for i, ex in enumerate(examples):
        if not isinstance(ex, dspy.Example):
            raise TypeError(f"{name}[{i}] must be a dspy.Example, got {type(ex).__name__} {ex!r:.80}")
        if not getattr(ex, "_input_keys", None):
            raise ValueError(f"{name}[{i}] has no input keys: call .with_inputs(...) on it, e.g. "
                             f"dspy.Example(question=..., answer=...).with_inputs('question')")
    return [_valid_unicode(name, i, ex) for i, ex in enumerate(examples)]


def _valid_unicode(name: str, index: int, example: dspy.Example) -> dspy.Example:
    """``example``, or a copy whose text fields hold lone surrogates replaced by U+FFFD (see
    :mod:`dspy_dlpo.sanitize`): one such character would make every prompt that quotes it fail."""
    fields = example.toDict()
    repaired = [k for k, v in fields.items() if not is_valid(v)]
    if not repaired:
        return example
    logger.warning("%s[%d]: field(s) %s held invalid Unicode (a lone surrogate); replaced with U+FFFD",
                   name, index, sorted(repaired))
    return example.copy(**{k: valid_data(fields[k]) for k in repaired})


def example_key(ex: dspy.Example) -> str:
    """A hash of the example's fields that is the same in every process (set-valued fields included)."""
    return fingerprint(ex.toDict())


def split_valset(trainset: list[dspy.Example], seed: int) -> tuple[list[dspy.Example], list[dspy.Example]]:
    """Shuffle with the seed and hold out half (at least 1) of ``trainset`` for validation."""
    order = list(range(len(trainset)))
    derived_rng(seed, "valset-split").shuffle(order)
    cut = max(1, len(trainset) // 2)
    val = [trainset[i] for i in sorted(order[:cut])]
    train = [trainset[i] for i in sorted(order[cut:])]
    logger.info("no valset given: split trainset (%d) into %d train / %d validation examples (seed %d)",
                len(trainset), len(train), len(val), seed)
    return train, val


def prepare_data(trainset: Any, valset: Any, seed: int) -> tuple[list[dspy.Example], list[dspy.Example]]:
    """Validated ``(trainset, valset)``; splits one off ``trainset`` when ``valset`` is None."""
    if valset is None:
        train = check_examples("trainset", trainset, minimum=2)
        return split_valset(train, seed)
    train = check_examples("trainset", trainset, minimum=2)
    val = check_examples("valset", valset, minimum=1)
    overlap = {example_key(e) for e in train} & {example_key(e) for e in val}
    if overlap:
        logger.warning("valset shares %d example(s) with trainset: validation scores will be optimistic",
                       len(overlap))
    return train, val
