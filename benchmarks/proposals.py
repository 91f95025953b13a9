"""What each optimizer proposed, recorded the same way for every optimizer.

A peer that "never changed the instruction" must be shown to have proposed and lost, not to have echoed.
Each cell therefore records its optimizer's candidate instructions as ``{"text", ...scores}`` entries
(``minibatch_before`` / ``minibatch_after``: the parent's and the proposal's summed minibatch scores where
the optimizer gates on a minibatch; ``val``: its validation score where it has one) and the number of
*distinct* proposals: texts that differ from the seed instruction and from each other after whitespace
is normalized. Together with the billed task-LM calls (rollouts not served from the cache) this tells an
optimizer that explored from one that echoed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MAX_TEXT = 2000  # characters of one proposal kept in the cell file


def normalized(text: str) -> str:
    """The text with runs of whitespace collapsed and the ends stripped (what "the same text" means here)."""
    return re.sub(r"\s+", " ", str(text)).strip()


def distinct_count(texts: Iterable[str], seed_instruction: str) -> int:
    """How many of ``texts`` differ from ``seed_instruction`` and from each other (whitespace-normalized)."""
    seen = {normalized(seed_instruction)}
    count = 0
    for text in texts:
        key = normalized(text)
        if key and key not in seen:
            seen.add(key)
            count += 1
    return count


def entry(text: str, **scores: Any) -> dict[str, Any]:
    """One proposal for the cell file: its text (capped) and the scores given, None ones dropped."""
    text = str(text)
    out: dict[str, Any] = {"text": text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."}
    out.update({k: v for k, v in scores.items() if v is not None})
    return out


def summary(proposals: list[dict[str, Any]], seed_instruction: str) -> dict[str, Any]:
    """The ``details`` keys every optimizer's cell gets: its proposals and their distinct count."""
    return {"proposals": proposals, "proposals_total": len(proposals),
            "distinct_proposals": distinct_count((p["text"] for p in proposals), seed_instruction)}


def single_instruction(candidate: dict[str, str]) -> str:
    """The instruction text of a one-predictor candidate (several predictors: their texts joined)."""
    return "\n---\n".join(str(v) for v in candidate.values())


# --------------------------------------------------------------------------------------------
# GEPA: a callback on gepa.optimize's events
# --------------------------------------------------------------------------------------------
class GepaRecorder:
    """A ``gepa.core.callbacks.GEPACallback`` that keeps every reflective proposal with its minibatch gate
    (the parent's and the child's summed scores) and, for accepted children, their validation score.

    Passed through ``dspy.GEPA(gepa_kwargs={"callbacks": [recorder]})``; it only observes."""

    def __init__(self) -> None:
        self.proposals: list[dict[str, Any]] = []
        self._open: dict[int, dict[str, Any]] = {}
        self._val: dict[int, float] = {}
        self._parent_sum: dict[int, float] = {}
        self.merges = 0
        self.reflections = 0  # proposal_start events: a reflection was asked for

    def on_proposal_start(self, event: dict[str, Any]) -> None:
        self.reflections += 1

    @property
    def failed_reflections(self) -> int:
        """Reflections that produced no proposal (the proposer raised or returned nothing)."""
        return self.reflections - len(self.proposals)

    def on_evaluation_end(self, event: dict[str, Any]) -> None:
        if event.get("has_trajectories"):  # the parent's minibatch, run with traces to reflect on
            self._parent_sum[event["iteration"]] = float(sum(event["scores"]))

    def on_proposal_end(self, event: dict[str, Any]) -> None:
        record = {"iteration": event["iteration"], "text": single_instruction(event["new_instructions"]),
                  "minibatch_before": self._parent_sum.get(event["iteration"])}
        self._open[event["iteration"]] = record
        self.proposals.append(record)

    def on_candidate_rejected(self, event: dict[str, Any]) -> None:
        record = self._open.pop(event["iteration"], None)
        if record is not None:
            record.update(minibatch_before=event["old_score"], minibatch_after=event["new_score"], accepted=False)

    def on_candidate_accepted(self, event: dict[str, Any]) -> None:
        record = self._open.pop(event["iteration"], None)
        if record is not None:
            record.update(minibatch_after=event["new_score"], accepted=True, candidate_idx=event["new_candidate_idx"])

    def on_merge_attempted(self, event: dict[str, Any]) -> None:
        self.merges += 1

    def on_valset_evaluated(self, event: dict[str, Any]) -> None:  # fired before the acceptance event
        self._val[event["candidate_idx"]] = 100.0 * float(event["average_score"])

    def entries(self) -> list[dict[str, Any]]:
        """The proposals in order, each with its validation score if it was accepted and validated."""
        return [entry(r["text"], **{k: v for k, v in r.items() if k != "text"}, val=self._val.get(r.get("candidate_idx")))
                for r in self.proposals]


# --------------------------------------------------------------------------------------------
# The other optimizers: read from what they return
# --------------------------------------------------------------------------------------------
def mipro_entries(instruction_candidates: dict[int, list[str]] | None, program: Any) -> list[dict[str, Any]]:
    """MIPROv2's proposed instructions (slot 0 is the original, left out) with the full validation scores
    of the trials that used them (``program.candidate_programs``)."""
    texts = [t for slots in (instruction_candidates or {}).values() for t in slots[1:]]
    scores: dict[str, list[float]] = {}
    for cand in getattr(program, "candidate_programs", None) or []:
        for _, pred in cand["program"].named_predictors():
            scores.setdefault(normalized(pred.signature.instructions), []).append(float(cand["score"]))
    return [entry(t, val_trials=scores.get(normalized(t))) for t in texts]


def copro_entries(program: Any) -> list[dict[str, Any]]:
    """COPRO's evaluated (instruction, prefix) candidates with their scores on its scoring set and depth."""
    return [entry(c["instruction"], prefix=c.get("prefix"), score=float(c["score"]), depth=c.get("depth"))
            for c in getattr(program, "candidate_programs", None) or []]


def step_proposals(log: dict[str, Any]) -> list[str] | None:
    """The usable rewrites of a trial-log step that proposed several (``candidates_per_step > 1``, logged under
    ``proposals``), in order; None for a step that proposed one."""
    proposals = log.get("proposals")
    if not (isinstance(proposals, list) and len(proposals) > 1):
        return None
    return [p["instruction"] for p in proposals if isinstance(p, dict) and p.get("instruction")]


def dlpo_entries(trial_logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DLPO's rewrites from its trial logs: each step's candidate(s) with minibatch and validation scores.

    A step that proposed several rewrites (``candidates_per_step > 1``) logs them under ``proposals``
    (``{"instruction", "reason", "attempts"}``) and the minibatch score of each distinct usable one under
    ``candidate_batch_scores``; every one of them is an entry, the scores attached when the two lists align,
    the validation score on the one that went on. Other steps give their ``instruction_after``; steps that
    produced no rewrite are skipped."""
    out = []
    for log in trial_logs:
        texts = step_proposals(log)
        if texts is not None:
            scores = log.get("candidate_batch_scores") or []
            aligned = len(scores) == len(texts)
            after = normalized(log.get("instruction_after") or "")
            for i, text in enumerate(texts):
                chosen = normalized(text) == after
                out.append(entry(text, step=log.get("step"), minibatch_before=log.get("batch_score_before"),
                                 minibatch_after=scores[i] if aligned else None,
                                 val=log.get("val_score") if chosen else None,
                                 accepted=log.get("accepted") if chosen else None))
            continue
        text = log.get("instruction_after")
        if text and text != log.get("instruction_before"):
            out.append(entry(text, step=log.get("step"), minibatch_before=log.get("batch_score_before"),
                             minibatch_after=log.get("batch_score_after"), val=log.get("val_score"),
                             accepted=log.get("accepted")))
        elif text:
            out.append(entry(text, step=log.get("step"), echo=True))
    return out


def recounted(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the ``proposals`` and counts of a DLPO-family cell that proposed several candidates per
    step recomputed from its trial logs by :func:`dlpo_entries` (cells written before it read them counted
    one candidate per step); the record itself is not changed. Other cells are returned as they are."""
    details = record.get("details") or {}
    logs = details.get("trial_logs")
    if not isinstance(logs, list) or all(step_proposals(log) is None for log in logs):
        return record  # one candidate per step: what the cell stored is what dlpo_entries gives
    return {**record, "details": {**details, **summary(dlpo_entries(logs), logs[0].get("instruction_before") or "")}}
