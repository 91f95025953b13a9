"""TextualContrastiveLearning (TCL): show what separates better instructions and runs from worse ones."""

from __future__ import annotations

from typing import Any

from ..autograd.loss import ordered_outputs
from ..autograd.prompts import render
from ..text import normalize, trim_middle
from ..validate import positive_int
from ..core import Section, StepContext, Strategy

# what this strategy adds to the rewrite prompt (rendered by autograd.prompts.render)
CONTRAST_INTRO = "What separated better from worse results:"
CONTRAST_RULE_INSTRUCTIONS = ("take over what the higher-scoring instructions in <contrast> do that the current "
                              "one does not, and avoid what the lower-scoring ones do")
CONTRAST_RULE_RUNS = "change the instruction so that the run in <contrast> that went worse would go like the better one"
CONTRAST_INSTRUCTIONS = "Instructions validated in earlier steps, best first."
CONTRAST_HIGHER = "Scored higher than the current instruction:\n{items}"
CONTRAST_LOWER = "Scored lower than the current instruction:\n{items}"
CONTRAST_BEST = "Scored best (the current instruction has not been validated):\n{items}"
CONTRAST_WORST = "Scored worst:\n{items}"
CONTRAST_EXAMPLE = "The training input, quoted:\n{inputs}\nThe answer expected for it: {expected}"
CONTRAST_RUN = "The answer given: {outputs}\nThe grader said: {feedback}"
CONTRAST_NAMED = "Instruction:\n  {instruction}\n"
CONTRAST_SAME_INPUT = """The same input under two instructions: one got it right, the other wrong.
{example}
Run that got it right (score {good_score:.2f}):
{good}
Run that got it wrong (score {bad_score:.2f}), {whose}:
{bad}"""


def _observations(ctx: StepContext) -> dict[int, list[tuple[int, str, dict[str, Any]]]]:
    """Example index -> ``(step, instruction, rollout)`` for every recorded run of this parameter:
    the minibatch under the instruction before each step (``rollouts``), under the step's
    candidate (``rollouts_after``), and the current minibatch. Records without them are skipped."""
    seen: dict[int, list[tuple[int, str, dict[str, Any]]]] = {}
    runs = [(r.get("step", -1), r.get(instr), r.get(key)) for r in ctx.param_history()
            for instr, key in (("instruction_before", "rollouts"), ("instruction_after", "rollouts_after"))]
    runs.append((ctx.step, ctx.instruction, [r if isinstance(r, dict) else r.to_json(None) for r in ctx.rollouts]))
    for step, instruction, rollouts in runs:
        if not isinstance(instruction, str) or not isinstance(rollouts, list):
            continue
        for rollout in rollouts:
            if isinstance(rollout, dict) and isinstance(rollout.get("index"), int) and "score" in rollout:
                seen.setdefault(rollout["index"], []).append((step, instruction, rollout))
    return seen


MIN_GAP = 2  # validation examples between two instructions before they are contrasted


def example_points(candidates: list[dict[str, Any]]) -> float:
    """Points (percent) that one validation example is worth, from the candidates' per-example scores
    (0 when no candidate recorded them: then any difference contrasts)."""
    sizes = [len(c["val_scores"]) for c in candidates if c.get("val_scores")]
    return 100.0 / sizes[0] if sizes else 0.0


def _values(mapping: dict[str, Any] | None, limit: int) -> str:
    """Field values as quoted text: a single field's value alone, several as ``name = value`` lines, so
    that no label of ours reads as a field of the program."""
    items = list((mapping or {}).items())
    if len(items) == 1:
        return f'"{trim_middle(str(items[0][1]), limit)}"'
    return "\n".join(f'{k} = "{trim_middle(str(v), limit)}"' for k, v in items) or "(nothing)"


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


class TextualContrastiveLearning(Strategy):
    """Contrast better and worse validated instructions, and a run that went right with one that
    went wrong, in a ``<contrast>`` section of the rewrite prompt.

    Instructions (``instructions=True``): up to ``k`` distinct validated instructions of this
    parameter that scored higher than the current one and ``k`` that scored lower, best first. The
    current instruction is never listed (shown as "better" it reads as "keep it"); when it was not
    validated, the others are split into a better and a worse half. No scores are printed.

    Runs (``rollouts=True``): preferably the SAME training input under two instructions with
    different scores (from the trial log: the runs before and after earlier steps, and the current
    minibatch; the current instruction is never the one that got it right), else the best and the
    worst run of the current minibatch. Each is shown per field with the expected answer, the
    graded output fields first, every field trimmed in the middle to ``max_chars`` (the input to
    twice that). Defaults: ``k=2``, ``max_chars=500``.
    """

    name = "contrastive"
    option_default = True
    number_option = False
    order = 30

    def __init__(self, k: int = 2, *, instructions: bool = True, rollouts: bool = True, max_chars: int = 500) -> None:
        positive_int("contrastive k", k)
        if not (instructions or rollouts):
            raise ValueError("contrastive learning needs instructions=True or rollouts=True")
        positive_int("contrastive max_chars", max_chars, minimum=100)
        self.k, self.instructions, self.rollouts, self.max_chars = k, instructions, rollouts, max_chars

    # -- instructions ------------------------------------------------------------------------
    def scored_instructions(self, ctx: StepContext) -> list[tuple[float, str]]:
        """Distinct validated instructions of this parameter, best first (with their best score)."""
        best: dict[str, tuple[float, str]] = {}
        for cand in ctx.candidates:
            text = cand["params"].get(ctx.param)
            if text is None:
                continue
            key = normalize(text)
            if key not in best or cand["score"] > best[key][0]:
                best[key] = (cand["score"], text)
        return sorted(best.values(), key=lambda item: -item[0])

    def better_and_worse(self, ctx: StepContext) -> tuple[list[str], list[str]]:
        """The instructions to list as better and as worse; never the current one. Only instructions
        that differ by at least ``MIN_GAP`` validation examples contrast anything: closer ones are noise
        (81% of the fair grid's validations fell within one example of the seed instruction)."""
        scored = self.scored_instructions(ctx)
        current, gap = normalize(ctx.instruction), MIN_GAP * example_points(ctx.candidates)
        own = [s for s, t in scored if normalize(t) == current]
        others = [(s, t) for s, t in scored if normalize(t) != current]
        if own:
            return ([t for s, t in others if s >= own[0] + gap - 1e-9][:self.k],
                    [t for s, t in others if s <= own[0] - gap + 1e-9][-self.k:])
        if len(others) < 2 or others[0][0] - others[-1][0] < max(gap, 1e-9) - 1e-9:
            return [], []
        n = min(self.k, len(others) // 2)  # disjoint halves
        return [t for _, t in others[:n]], [t for _, t in others[len(others) - n:]]

    def _instruction_text(self, better: list[str], worse: list[str], *, current_validated: bool) -> str:
        fmt = lambda items: "\n".join(f"- {_indent(trim_middle(t, self.max_chars))}" for t in items)
        parts = [CONTRAST_INSTRUCTIONS]
        # relative to the current instruction only when it has a validation score to compare with
        higher, lower = (CONTRAST_HIGHER, CONTRAST_LOWER) if current_validated else (CONTRAST_BEST, CONTRAST_WORST)
        if better:
            parts.append(render(higher, items=fmt(better)))
        if worse:
            parts.append(render(lower, items=fmt(worse)))
        return "\n".join(parts)

    # -- runs ----------------------------------------------------------------------------------
    def same_input_pair(self, ctx: StepContext) -> tuple[int, tuple, tuple] | None:
        """``(index, better, worse)`` runs (each ``(step, instruction, rollout)``) of one example of the
        current minibatch under two instructions with different scores, or None. Preferred: the current
        instruction got it wrong; then the largest score gap; then the most recent."""
        current, best, best_key = normalize(ctx.instruction), None, None
        batch = {r.index for r in ctx.rollouts}
        for index, runs in _observations(ctx).items():
            if index not in batch:
                continue  # its input is not at hand
            for good in runs:
                if normalize(good[1]) == current:
                    continue  # the current instruction is never the example to imitate
                for bad in runs:
                    if normalize(bad[1]) == normalize(good[1]) or bad[2]["score"] >= good[2]["score"]:
                        continue
                    key = (normalize(bad[1]) == current, good[2]["score"] - bad[2]["score"], max(good[0], bad[0]))
                    if best_key is None or key > best_key:
                        best, best_key = (index, good, bad), key
        return best

    def _run_lines(self, rollout: dict[str, Any], gold: dict[str, Any]) -> str:
        if rollout.get("outputs"):
            shown = ordered_outputs(rollout["outputs"], gold)
        else:
            shown = {"error": rollout["error"]} if rollout.get("error") else {"output": "(not recorded)"}
        return render(CONTRAST_RUN, outputs=_values(shown, self.max_chars),
                      feedback=trim_middle(rollout.get("feedback") or "(none)", self.max_chars))

    def _example_lines(self, rollout: Any) -> str:
        return render(CONTRAST_EXAMPLE, inputs=_values(rollout.inputs, 2 * self.max_chars),
                      expected=_values(rollout.gold, self.max_chars))

    def _same_input_text(self, ctx: StepContext, pair: tuple[int, tuple, tuple]) -> str:
        index, good, bad = pair
        example = next(r for r in ctx.rollouts if r.index == index)
        gold = dict(example.gold or {})
        bad_is_current = normalize(bad[1]) == normalize(ctx.instruction)
        named = lambda run: render(CONTRAST_NAMED, instruction=_indent(trim_middle(run[1], self.max_chars)))
        return render(CONTRAST_SAME_INPUT, example=self._example_lines(example), good_score=good[2]["score"],
                      good=named(good) + self._run_lines(good[2], gold), bad_score=bad[2]["score"],
                      whose="under the current instruction" if bad_is_current else "under another instruction",
                      bad=("" if bad_is_current else named(bad)) + self._run_lines(bad[2], gold))

    # -- hooks ---------------------------------------------------------------------------------
    def _build(self, ctx: StepContext) -> tuple[list[str], Section | None]:
        key = f"{self.name}:{id(self)}"
        if key not in ctx.scratch:
            ctx.scratch[key] = self._compose(ctx)
        return ctx.scratch[key]

    def _compose(self, ctx: StepContext) -> tuple[list[str], Section | None]:
        better, worse = self.better_and_worse(ctx) if self.instructions else ([], [])
        pair = self.same_input_pair(ctx) if self.rollouts else None
        run_text = self._same_input_text(ctx, pair) if pair else None
        parts, rules = [], []
        if better or worse:
            validated = any(normalize(t) == normalize(ctx.instruction) for _, t in self.scored_instructions(ctx))
            parts.append(self._instruction_text(better, worse, current_validated=validated))
            rules.append(CONTRAST_RULE_INSTRUCTIONS)
        if run_text:
            parts.append(run_text)
            rules.append(CONTRAST_RULE_RUNS)
        if not parts:
            return [], None
        meta = {"better": len(better), "worse": len(worse),
                "pair": "same_input" if pair else None}
        if pair:
            meta.update(pair_index=pair[0], pair_steps=[pair[1][0], pair[2][0]])
        ctx.note(self.name, f"showed {len(better)} better and {len(worse)} worse instruction(s)"
                 + (" and one input under two instructions" if pair else ""))
        rule = "; ".join(rules)
        section = Section("contrast", CONTRAST_INTRO, "\n\n".join(parts), meta)
        return [rule[0].upper() + rule[1:] + "."], section

    def directives(self, ctx: StepContext) -> list[str]:
        return self._build(ctx)[0]

    def context(self, ctx: StepContext) -> list[Section]:
        section = self._build(ctx)[1]
        return [section] if section else []

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k, "instructions": self.instructions, "rollouts": self.rollouts}
