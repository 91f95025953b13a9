"""Update: the optimizer LM rewrites an instruction; strategies check the rewrite."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core import StepContext, Strategy
from .client import OptimizerClient
from .guards import field_problem, invented_fields
from .prompts import AVOID, CLIPPED_HINT, PROMPT_TAGS, RETRY, UPDATE, render
from ..text import BLOCK_PROBLEMS, escape_tags, normalize, parse_block, split_sentences, word_count
from .update_prompt import build_fallback_prompt, build_update_prompt

_NUMBER_PREFIX = re.compile(r"^\s*\[\d+\]\s*", flags=re.MULTILINE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # control characters but tab and newline
# Phrases of our own prompts that must never leak into an optimized instruction.
_META = ("<gradient>", "</gradient>", "<current>", "diagnosis", "frozen in this step", "sentence numbers",
         "counts as one change", "this process", "validation accuracy", "minibatch", "grader",
         "the instruction should", "this instruction is", "the current instruction")  # critique wording
# An appended sentence must instruct the task model, not describe what "the program" should be told or what
# "the new sentence" should say (the 1.5B wrote both on logical deduction).
_ABOUT_THE_PROGRAM = re.compile(r"\b(the program|guidance|(new|this) sentence)\b", flags=re.IGNORECASE)
MAX_APPENDED_WORDS = 60


@dataclass
class Update:
    """The result of an update: a new instruction, or why there is none."""

    instruction: str | None
    reason: str
    attempts: int
    problems: list[str] = field(default_factory=list)
    directives: dict[str, list[str]] = field(default_factory=dict)  # strategy name -> its rules this step
    reply: str | None = None  # the optimizer LM's last raw reply when no rewrite was usable


def clean_instruction(text: str) -> str:
    """Strip sentence numbers that small LMs copy from the numbered prompt, and control characters
    (line breaks become newlines, tabs spaces: DSPy's signatures would expand a tab to eight)."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " "))
    return _NUMBER_PREFIX.sub("", text).strip()


def _vet(candidate: str, ctx: StepContext, strategies: list[Strategy], role: str) -> tuple[str | None, str, str]:
    """``(instruction, kind, message)`` for a parsed rewrite: kind is "ok", "unparseable" (it talks
    about the optimization), "no-op", "invented_field" (it names a field the step lacks), "known" (that
    program was validated before and is not better than the best: scoring it again would spend the
    budget on a known answer) or "clipped"
    (a rule was broken; the instruction is returned so that it can be projected)."""
    # a phrase of our prompts counts as a leak only where the task itself does not use it: words such as
    # "diagnosis" or "grader" may be in the current instruction or be the name of one of the step's fields
    known = f"{ctx.instruction} {role}".lower()
    leaked = [phrase for phrase in _META if phrase in candidate.lower() and phrase not in known]
    if len(role.split()) >= 3 and normalize(role) in normalize(candidate):  # the step description
        leaked.append(role)
    if leaked:
        return None, "unparseable", (f"the instruction contained text about the optimization process ({leaked[0]!r}); "
                                     "write only the instruction for the task.")
    copied = ctx.leak_guard and ctx.leak_guard.check(candidate, ctx.instruction, ctx.scratch.setdefault("leaks", []))
    if copied:  # training data (contact details, credentials, passages) in the instruction: never adopted
        return None, "leak", copied
    if normalize(candidate) == normalize(ctx.instruction):
        return None, "no-op", ("the instruction was identical to the current one. Make the change that the "
                               "diagnosis calls for.")
    invented = invented_fields(candidate, ctx.fields, ctx.instruction)
    if invented:
        return None, "invented_field", field_problem(invented, ctx.fields)
    earlier = ctx.validated_score(candidate)
    if earlier is not None:
        return None, "known", (f"that instruction was tried in an earlier step and scored {earlier:.0f}% on the "
                               "held-out examples, no better than the best one; write a different instruction.")
    for strategy in strategies:
        message = strategy.check(ctx, candidate)
        if message:
            ctx.scratch.setdefault("refused", []).append(strategy.name)  # the trial record's ``refused``
            return candidate, "clipped", message
    return candidate, "ok", ""


def _problem(reply: str | None, ctx: StepContext, strategies: list[Strategy],
             role: str = "") -> tuple[str | None, str, str]:
    """:func:`_vet` of the rewrite in ``reply`` ("error" when the call failed)."""
    if reply is None:
        return None, "error", "the optimizer LM call failed"
    parsed, problem = parse_block(reply, "instruction")
    if parsed is None:  # missing, cut off (unclosed), nested or empty
        return None, "unparseable", BLOCK_PROBLEMS[problem].format(tag="instruction")
    candidate = clean_instruction(parsed)
    if not candidate:
        return None, "unparseable", "the instruction between the tags was empty."
    return _vet(candidate, ctx, strategies, role)


def _bare_sentence(reply: str) -> str:
    """A reply without tags that is one short line (small LMs often drop the tags of a one-sentence
    answer) is taken as the sentence; anything longer is not guessed at."""
    text = reply.strip().strip('"')
    if "\n" in text or "<" in text or len(split_sentences(text)) > 2 or word_count(text) > MAX_APPENDED_WORDS:
        return ""
    return text


def _addition(reply: str | None, ctx: StepContext, strategies: list[Strategy],
              role: str = "") -> tuple[str | None, str, str]:
    """:func:`_vet` of the current instruction with the sentence in ``reply`` appended."""
    if reply is None:
        return None, "error", "the optimizer LM call failed"
    parsed, problem = parse_block(reply, "sentence")
    if problem in ("unclosed", "nested"):  # cut off by max_tokens, or tags inside tags: re-ask
        return None, "unparseable", BLOCK_PROBLEMS[problem].format(tag="sentence")
    sentence = clean_instruction(parsed or _bare_sentence(reply))
    if not sentence:
        return None, "unparseable", "there was no sentence between <sentence> and </sentence>."
    if _ABOUT_THE_PROGRAM.search(sentence):
        return None, "unparseable", ("the sentence talked about the program, about guidance or about itself; "
                                     "write a command to the model itself, starting with a verb.")
    if normalize(sentence) in normalize(ctx.instruction):
        return None, "no-op", "that sentence is already in the instruction; write one that adds something new."
    return _vet(f"{ctx.instruction.rstrip()} {sentence}".strip(), ctx, strategies, role)


def _project(candidate: str, ctx: StepContext, strategies: list[Strategy]) -> str | None:
    """``candidate`` clipped by every strategy that can (learning rate: keep the first k edits), if
    the result then passes every check, still changes the instruction and is not a program validated
    before; else None."""
    for strategy in strategies:
        candidate = strategy.clip(ctx, candidate) or candidate
    if normalize(candidate) == normalize(ctx.instruction) or ctx.validated_score(candidate) is not None:
        return None
    if any(strategy.check(ctx, candidate) for strategy in strategies):
        return None
    return candidate


REWRITE, APPEND = "rewrite", "append"  # the two kinds of ask: a whole rewrite, or one sentence to append


@dataclass
class _Asks:
    """The state of one update's asks: a small state machine over the modes ``rewrite`` and ``append``.

    Each ask's outcome decides the next move (:meth:`record`): "ok" ends the update; "error" stops;
    a first broken rule is recorded with its projection onto the rules and re-asked, a second one
    stops; a "no-op" rewrite switches to ``append`` (with ``append_on_no_op``, and no broken rule on
    record); anything else is re-asked in the same mode. The first ask of a mode sends its own
    prompt, a re-ask that prompt with the last problem stated (``RETRY``).
    """

    prompts: dict[str, str]
    mode: str = REWRITE
    asked: int = 0  # asks made in the current mode
    kind: str = "error"  # the outcome of the last ask
    problems: list[str] = field(default_factory=list)
    violating: str | None = None  # the first rewrite that broke a rule
    reply: str | None = None  # the last raw reply
    projected: str | None = None  # it, clipped onto the rules (None: no projection passes every rule)

    def next_prompt(self) -> str:
        prompt = self.prompts[self.mode]
        return prompt if self.asked == 0 else render(RETRY, prompt=prompt, problem=self.problems[-1])

    def record(self, kind: str, candidate: str | None, message: str, ctx: StepContext, strategies: list[Strategy],
               *, append_on_no_op: bool) -> bool:
        """Record an unusable ask; False when the update should stop asking."""
        self.kind, broken_twice = kind, kind == "clipped" and self.violating is not None
        if kind == "clipped" and not broken_twice:  # re-asked once with the projection shown
            self.violating, self.projected = candidate, _project(candidate, ctx, strategies)
            if self.projected is not None:  # small LMs asked for "fewer changes" drop the useful one
                message += render(CLIPPED_HINT, projected=self.projected)
        self.problems.append(message)
        if kind == "error" or broken_twice:
            return False
        # the fallback, unless a clipped rewrite is already there to fall back on
        if append_on_no_op and kind == "no-op" and self.violating is None and self.mode == REWRITE:
            self.mode, self.asked = APPEND, 0
        else:
            self.asked += 1
        return True

    def outcome(self, rules: dict[str, list[str]]) -> Update:
        """The update when no ask was usable: the projected rewrite ("clipped") if there is one, else none,
        with the reason of the last outcome ("clipped" when a rule was broken and the LM still answered)."""
        if self.projected is not None:
            return Update(self.projected, "clipped", len(self.problems), self.problems, rules)
        reason = "clipped" if self.violating is not None and self.kind != "error" else self.kind
        return Update(None, reason, len(self.problems), self.problems, rules, reply=self.reply)


def propose_update(client: OptimizerClient, ctx: StepContext, *, role: str, strategies: list[Strategy],
                   attempts: int, rollout_base: int, append_on_no_op: bool = False,
                   failures: Sequence[str] = (), sample_first: bool = False, template: str = UPDATE,
                   avoid: Sequence[str] = ()) -> Update:
    """Ask for a rewrite, re-asking with the problem stated when it is unusable.

    Parse failures, no-op rewrites and strategy violations (too many sentence edits, frozen
    sentences changed, too long) are re-asked up to ``attempts`` times in total (a broken rule is
    re-asked once; the re-ask shows the rewrite projected onto the rules, so that a small LM told to
    change less keeps its most useful edit). When a rewrite still broke a rule, it is clipped like a gradient:
    projected onto the rules (:meth:`Strategy.clip`; the learning rate keeps its first k sentence
    edits) and returned with reason "clipped"; if no projection satisfies every rule, the update is
    rejected and the last problem names the outcome ("unparseable", "no-op", "known", "clipped" or
    "error"). A rewrite that is a program already validated ("known") is re-asked, not scored again.

    With ``append_on_no_op``, a no-op rewrite (a small LM returns the instruction unchanged when the
    diagnosis repeats what it already says) turns the remaining attempts into asks for the smallest
    possible step: one new sentence to append, written after seeing the first of ``failures`` (the
    loss texts of examples the program got wrong, worst first; the rewrite prompt shows them all).
    Such an update has reason "appended".

    ``sample_first``: the first ask is sampled too (with ``rollout_base`` as its rollout id), as every
    candidate after the first of a step must be, or the cache would serve the first one again.
    """
    prompt, shown = build_update_prompt(ctx, role=role, strategies=strategies, failures=failures, template=template)
    if avoid:  # a further sample of a line search whose rewrites came back alike
        proposed = "\n".join(f"- {escape_tags(text, PROMPT_TAGS)}" for text in avoid)
        prompt = render(AVOID, prompt=prompt, proposed=proposed)
    fallback, _ = build_fallback_prompt(ctx, role=role, failure=failures[0] if failures else None)
    rules, ctx.scratch["shown"] = shown["rules"], shown  # what this step showed, for the trial log
    asks = _Asks(prompts={REWRITE: prompt, APPEND: fallback})
    for attempt in range(attempts):
        reply = client.ask(asks.next_prompt(), rollout_id=None if attempt == 0 and not sample_first
                           else rollout_base + attempt)
        appending, asks.reply = asks.mode == APPEND, reply
        candidate, kind, message = (_addition if appending else _problem)(reply, ctx, strategies, role)
        if kind == "ok":
            return Update(candidate, "appended" if appending else "ok", attempt + 1, asks.problems, rules)
        if not asks.record(kind, candidate, message, ctx, strategies, append_on_no_op=append_on_no_op):
            break
    return asks.outcome(rules)
