"""Scripted LMs for tests: deterministic, thread-safe, no network."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import dspy

from dspy_dlpo.lm.engine import function_lm

MAGIC = "Reverse the letters of the word."


def field_value(messages: list[dict[str, str]], name: str) -> str:
    """The value of input field ``name`` in a ChatAdapter prompt."""
    text = messages[-1]["content"]
    match = re.search(rf"\[\[ ## {name} ## \]\]\n(.*?)(?:\n\n|\n\[\[|$)", text, flags=re.DOTALL)
    return match.group(1).strip() if match else ""


def system_text(messages: list[dict[str, str]]) -> str:
    return "\n".join(m["content"] for m in messages if m["role"] == "system")


def chat_reply(**fields: str) -> str:
    body = "".join(f"[[ ## {k} ## ]]\n{v}\n\n" for k, v in fields.items())
    return body + "[[ ## completed ## ]]"


def reverse_task_lm(magic: str = MAGIC) -> dspy.LM:
    """Task LM: reverses the word only when the instruction contains ``magic``; echoes otherwise."""
    def reply(messages, options):
        word = field_value(messages, "question")
        answer = word[::-1] if magic.lower() in system_text(messages).lower() else word
        return chat_reply(answer=answer)
    return function_lm(reply, name="reverse-task")


class ScriptedOptimizer:
    """Optimizer LM: answers gradient prompts and rewrite prompts from scripts; records prompts."""

    def __init__(self, rewrite: Callable[[str, int], str] | str = f"<instruction>{MAGIC}</instruction>",
                 gradient: str = "<gradient>The instruction never says to reverse the word.</gradient>") -> None:
        self.rewrite, self.gradient = rewrite, gradient
        self.prompts: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, messages, options) -> str:
        prompt = messages[-1]["content"]
        with self.lock:
            self.prompts.append(prompt)
            n = len(self.prompts)
        if "<gradient> and </gradient>" in prompt:
            return self.gradient
        return self.rewrite(prompt, n) if callable(self.rewrite) else self.rewrite

    def lm(self) -> dspy.LM:
        return function_lm(self, name="scripted-optimizer")

    def update_prompts(self) -> list[str]:
        return [p for p in self.prompts if "<instruction> and </instruction>" in p]


WORDS = ["apple", "stone", "river", "cloud", "tiger", "piano", "lemon", "grass", "candle", "bridge",
         "mirror", "garden", "rocket", "silver", "forest", "yellow"]


def reverse_examples(words: list[str] = WORDS) -> list[dspy.Example]:
    return [dspy.Example(question=w, answer=w[::-1]).with_inputs("question") for w in words]


def exact_metric(example, pred, trace=None):
    ok = str(getattr(pred, "answer", "")).strip() == example.answer
    return dspy.Prediction(score=float(ok), feedback="Correct." if ok else
                           f"Expected '{example.answer}' but got '{getattr(pred, 'answer', '')}'.")
