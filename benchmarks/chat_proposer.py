"""``gepa-chat``: GEPA with an instruction proposer that talks to the reflection LM in plain text.

DSPy's default GEPA proposer (``dspy.teleprompt.gepa.instruction_proposal.InstructionProposer``) sends the
reflective examples through ``JSONAdapter`` and reads the new instruction from a JSON field. On this
machine the 1.5B reflection LM, asked that way (at temperature 0, in the earlier grid), returned the
current instruction; whether plain text fares better at temperature 1.0 is what this variant measures. This proposer
implements GEPA's ``ProposalFn`` protocol (``candidate``, ``reflective_dataset``, ``components_to_update``
-> ``{component: new text}``) with one chat message in tagged plain text and reads the reply between
``<new_instruction>`` tags (a fenced block is accepted too). Everything else about GEPA is unchanged:
its minibatch gate, Pareto selection, merge and budget. The prompt text is this project's own.

``dspy.GEPA`` calls the proposer inside ``dspy.context(lm=reflection_lm)``, so ``dspy.settings.lm`` is
the reflection LM here. A reply without a parseable instruction is dropped from the result: GEPA then
skips that proposal without spending metric calls on it (it would otherwise evaluate an echo).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import dspy

logger = logging.getLogger(__name__)

MAX_FIELD_CHARS = 1500  # one input/output value shown to the reflection LM; longer ones keep head and tail

PROMPT_HEAD = """You are revising the instruction that an assistant follows for one step of a task.

The instruction the assistant follows now:
<current_instruction>
{instruction}
</current_instruction>

Here is how the assistant did on some inputs while following it. Each example shows the inputs it got, \
what it produced, and feedback on what it produced.
"""

PROMPT_TAIL = """
Work out what the failing examples have in common and what the feedback says the assistant gets wrong: \
missing facts about the task, a wrong way of reasoning, or a wrong answer format. Then write a complete \
new instruction for the assistant that fixes those problems for inputs of this kind in general. Keep what \
already works. Do not copy the examples or their answers into the instruction.

Reply with the new instruction only, placed between <new_instruction> and </new_instruction>."""

TAGGED = re.compile(r"<new_instruction>\s*(.*?)\s*</new_instruction>", re.DOTALL | re.IGNORECASE)
FENCED = re.compile(r"```(?:[a-zA-Z]*)\n(.*?)```", re.DOTALL)


def clip(value: Any, limit: int = MAX_FIELD_CHARS) -> str:
    """``value`` as text; beyond ``limit`` characters the middle is cut so the start and the end remain."""
    text = str(value)
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} [... {len(text) - 2 * half} characters cut ...] {text[-half:]}"


def render_fields(values: Any) -> str:
    """``name: value`` lines of a field mapping (or the text itself, e.g. a parse-failure note)."""
    if isinstance(values, Mapping):
        return "\n".join(f"{name}: {clip(value)}" for name, value in values.items())
    return clip(values)


def render_example(number: int, example: Mapping[str, Any]) -> str:
    return (f"<example_{number}>\nInputs:\n{render_fields(example.get('Inputs', {}))}\n"
            f"Produced:\n{render_fields(example.get('Generated Outputs', {}))}\n"
            f"Feedback: {clip(example.get('Feedback', ''))}\n</example_{number}>")


def build_prompt(instruction: str, examples: Sequence[Mapping[str, Any]]) -> str:
    """The one user message sent to the reflection LM."""
    body = "\n\n".join(render_example(i, ex) for i, ex in enumerate(examples, start=1))
    return PROMPT_HEAD.format(instruction=instruction) + "\n" + body + "\n" + PROMPT_TAIL


def parse_instruction(reply: str) -> str | None:
    """The new instruction in ``reply``: between the tags, else in a fenced block; None if neither is there
    (an unclosed tag counts as neither: the reply was probably cut off by max_tokens)."""
    for pattern in (TAGGED, FENCED):
        match = pattern.search(reply or "")
        if match and match.group(1).strip():
            return match.group(1).strip()
    return None


def reply_text(outputs: Any) -> str:
    """The first completion's text of a ``dspy.LM`` call."""
    first = outputs[0] if outputs else ""
    return str(first.get("text", "") if isinstance(first, dict) else first or "")


class ChatInstructionProposer:
    """GEPA ``ProposalFn`` asking the reflection LM in tagged plain text. Counts its unparseable replies."""

    def __init__(self) -> None:
        self.calls = 0
        self.unparseable = 0

    def __call__(self, candidate: dict[str, str], reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
                 components_to_update: list[str]) -> dict[str, str]:
        lm = dspy.settings.lm
        if lm is None:
            raise ValueError("gepa-chat's proposer needs the reflection LM in dspy.settings.lm (dspy.GEPA sets it)")
        results: dict[str, str] = {}
        for name in components_to_update:
            if name not in candidate or name not in reflective_dataset:
                continue
            prompt = build_prompt(candidate[name], reflective_dataset[name])
            self.calls += 1
            text = parse_instruction(reply_text(lm(prompt)))  # one user message
            if text is None:
                self.unparseable += 1
                logger.info("gepa-chat: reflection reply for %s had no <new_instruction> block; proposal skipped", name)
                continue
            results[name] = text
        return results
