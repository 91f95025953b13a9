"""Build (and optionally execute) the notebooks from the cell sources below.

usage: python notebooks/build.py [--execute] [--timeout SECONDS]

The notebooks stay thin: they import dspy_dlpo and show what it does; nothing is reimplemented.
Set DSPY_DLPO_NOTEBOOK_MODEL to choose the model (default ``local``: the embedded 1.5B, with the
settings of ``dspy-dlpo demo``; on the 0.5B every score stayed at 0% on this task; any litellm model
string works) and
DSPY_DLPO_NOTEBOOK_DIR for the files they write (default: runs/notebooks).
tests/test_notebooks.py checks that the committed notebooks match these sources and runs them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

DEFAULT_MODEL = "local"

SETUP = '''import logging, os
from pathlib import Path
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import dspy
from dspy_dlpo import DLPOTeleprompter
from dspy_dlpo.lm import make_lm
from dspy_dlpo.tasks import load_task

logging.basicConfig(level=logging.WARNING)
MODEL = os.environ.get("DSPY_DLPO_NOTEBOOK_MODEL", "%s")
OUT = Path(os.environ.get("DSPY_DLPO_NOTEBOOK_DIR", "runs/notebooks"))
OUT.mkdir(parents=True, exist_ok=True)
task = load_task("bbh/logical_deduction_three_objects", n_train=20, n_val=10, n_test=20)
lm = make_lm(MODEL, max_tokens=100)
prompt_model = lm.copy(max_tokens=600)  # critiques and rewrites need more room
dspy.configure(lm=lm)
print(task.name, len(task.trainset), len(task.valset), len(task.testset), "|", task.split_note)''' % DEFAULT_MODEL

QUICKSTART = [
    new_markdown_cell("# dspy-dlpo quickstart\n\nSet up (offline, embedded model): `bash .ci/run` installs the "
                      "package, Jupyter, llama.cpp and the 1.5B model this notebook uses, and runs the tests. "
                      "Or by hand: `pip install -e \".[local,test]\"`, `bash .ci/install-local-llama.sh`, "
                      "`bash .ci/install-local-model.sh qwen2.5-coder-1.5b`.\n\n"
                      "We optimize the instruction of a DSPy program on BIG-Bench Hard *logical deduction* "
                      "(three objects; multiple choice, scored by strict exact match of the option label) with an "
                      "embedded llama.cpp model (no API key, no network). The same code works with any "
                      "`dspy.LM(...)`."),
    new_code_cell(SETUP),
    new_markdown_cell("## The program and its score before optimization"),
    new_code_cell('program = dspy.Predict("question -> answer")\n'
                  'evaluate = dspy.Evaluate(devset=task.testset, metric=task.metric, num_threads=2, '
                  'display_progress=False)\n'
                  'before = evaluate(program)\n'
                  'print("instruction:", program.named_predictors()[0][1].signature.instructions)\n'
                  'print(f"test score before: {before.score:.1f}%")'),
    new_markdown_cell("## Optimize with DLPO (all seven strategies on)\n\nThe optimization settings of "
                      "`dspy-dlpo demo` (a budget of 60 metric calls, seed 2; a few minutes on 2 cores). The "
                      "committed outputs were produced from an empty DSPy cache, so their LM-call and token "
                      "counts are real."),
    new_code_cell('optimizer = DLPOTeleprompter(metric=task.metric, prompt_model=prompt_model, max_metric_calls=60, '
                  'batch_size=5, num_threads=2, seed=2, progress=False)\n'
                  'optimized = optimizer.compile(program, trainset=task.trainset, valset=task.valset)\n'
                  'after = evaluate(optimized)\n'
                  'print(f"validation: {optimized.detailed_results[\'initial_score\']:.1f}% -> {optimized.score:.1f}%")\n'
                  'print(f"test:       {before.score:.1f}% -> {after.score:.1f}%")\n'
                  'print("spend:", optimized.detailed_results["spend"])'),
    new_code_cell('print(optimized.named_predictors()[0][1].signature.instructions)'),
    new_markdown_cell("## Save, load into a fresh program, and score again"),
    new_code_cell('optimized.save(str(OUT / "quickstart.json"))\n'
                  'fresh = dspy.Predict("question -> answer")\n'
                  'fresh.load(str(OUT / "quickstart.json"))\n'
                  'print(f"reloaded test score: {evaluate(fresh).score:.1f}%")'),
    new_markdown_cell("## Validation score over steps"),
    new_code_cell('from IPython.display import Image\n'
                  'from dspy_dlpo.summary import plot_scores\n'
                  'path = plot_scores(optimized.trial_logs, optimized.detailed_results["initial_score"], '
                  'OUT / "quickstart.png")\n'
                  'for r in optimized.trial_logs:\n'
                  '    print(r["step"], r["outcome"], "-", r["reason"][:90])\n'
                  'Image(filename=str(path))'),
]

STRATEGIES = [
    new_markdown_cell("# The seven DLPO strategies, one at a time\n\nEach strategy is an object with small "
                      "hooks: text it adds to the rewrite prompt (`directives`), a rule it checks on the rewrite "
                      "(`check`), a penalty or an acceptance rule. Below: what each adds, then what it did in "
                      "a real run on the embedded model."),
    new_code_cell(SETUP + '\nimport matplotlib.pyplot as plt\n'
                  'from dspy_dlpo import (TextualLearningRate, TextualDropout, TextualSimulatedAnnealing, '
                  'TextualMomentum, TextualContrastiveLearning, TextualRegularization, cosine, linear)\n'
                  'from dspy_dlpo.core import StepContext\n'
                  'from dspy_dlpo.text import split_sentences\n'
                  'def ctx(instruction, step=0, history=(), candidates=()):\n'
                  '    return StepContext(step=step, seed=0, param="predict", instruction=instruction, '
                  'sentences=split_sentences(instruction), rollouts=[], history=list(history), '
                  'candidates=list(candidates))\n'
                  'INSTR = "Read the puzzle carefully. Work out the order of the objects. '
                  'Pick the option that matches it. Answer with the option label only."'),
    new_markdown_cell("## 1-2. Learning rate and its decay\nAt most *k* sentence edits per step, checked "
                      "with a sentence diff; *k* follows a schedule."),
    new_code_cell('steps = range(12)\n'
                  'for name, lr in [("exponential (default)", TextualLearningRate(4)), '
                  '("cosine", TextualLearningRate(cosine(4, 1, 10))), ("constant", TextualLearningRate(4, decay=False))]:\n'
                  '    plt.plot(steps, [lr.edits_allowed(s) for s in steps], marker="o", label=name)\n'
                  'plt.xlabel("step"); plt.ylabel("max sentence edits"); plt.legend(); plt.show()\n'
                  'lr = TextualLearningRate(1, decay=False)\n'
                  'print(lr.directives(ctx(INSTR))[0])\n'
                  'print(lr.check(ctx(INSTR), "Solve it. Think. Pick one. Be brief."))'),
    new_markdown_cell("## 3. Dropout\nA random quarter of the sentences is frozen each step and must come back "
                      "verbatim."),
    new_code_cell('drop = TextualDropout(0.25)\nc = ctx(INSTR, step=3)\n'
                  'print(drop.directives(c)[0])\nprint("check of a rewrite that drops them:", '
                  'drop.check(c, "Pick an option."))'),
    new_markdown_cell("## 4. Simulated annealing\nA candidate that solves one minibatch example fewer is "
                      "accepted with probability p0 (default 0.3) at step 0; the temperature decays by 0.85 per "
                      "step, and larger drops are always rejected. Ties are regularization's to decide."),
    new_code_cell('for p0 in (0.1, 0.3, 0.5):\n'
                  '    sa = TextualSimulatedAnnealing(p0)\n'
                  '    plt.plot(steps, [sa.probability(-1, s) for s in steps], marker=".", label=f"p0 {p0}")\n'
                  'plt.xlabel("step"); plt.ylabel("p(accept a one-example drop)"); plt.legend(); plt.show()'),
    new_markdown_cell("## 5. Momentum\nThe last critiques of the same instruction are shown as data, newest "
                      "first and older ones shorter, with one rule: a recurring complaint means earlier edits "
                      "were too weak."),
    new_code_cell('history = [{"param": "predict", "gradient": g} for g in ["The answer repeats the option text.", '
                  '"The order of the objects is wrong.", "The answer repeats the option text."]]\n'
                  'momentum = TextualMomentum()\n'
                  'print(momentum.context(ctx(INSTR, history=history))[0].body)\n'
                  'print("rule:", momentum.directives(ctx(INSTR, history=history))[0])'),
    new_markdown_cell("## 6. Contrastive learning\nInstructions that validated better and worse than the "
                      "current one (never the current one itself), and a better vs worse run on the same input."),
    new_code_cell('cands = [{"params": {"predict": "Answer with the option label, e.g. (A)."}, "score": 75.0}, '
                  '{"params": {"predict": "Answer the question."}, "score": 25.0}]\n'
                  'print(TextualContrastiveLearning().context(ctx(INSTR, candidates=cands))[0].body)'),
    new_markdown_cell("## 7. Regularization\nA length penalty in the acceptance score and a simplify rule."),
    new_code_cell('reg = TextualRegularization(0.02, max_words=40)\n'
                  'print(reg.directives(ctx(INSTR))[0])\nprint("penalty (points):", reg.penalty(INSTR))'),
    new_markdown_cell("## In a real run\nTwo short runs on the embedded model: all strategies on, and all but "
                      "regularization. The trial logs show what each strategy did."),
    new_code_cell('def run(**options):\n'
                  '    tp = DLPOTeleprompter(metric=task.metric, prompt_model=prompt_model, max_steps=3, batch_size=4, '
                  'num_threads=2, seed=0, progress=False, **options)\n'
                  '    return tp.compile(dspy.Predict("question -> answer"), trainset=task.trainset, valset=task.valset)\n'
                  'full = run()\n'
                  'for r in full.trial_logs:\n'
                  '    print(f"step {r[\'step\']}: {r[\'outcome\']} ({r[\'reason\'][:70]})")\n'
                  '    print("   frozen:", r.get("frozen"), "| re-asks:", len(r.get("problems") or []), '
                  '"| clipped:", r.get("clipped"), '
                  '"| p(accept):", r.get("accept_probability"))\n'
                  '    print("   words:", r.get("words_before"), "->", r.get("words_after"))'),
    new_code_cell('no_reg = run(regularization=False)\n'
                  'plt.plot([r.get("words_after") or float("nan") for r in full.trial_logs], marker="o", label="with regularization")\n'
                  'plt.plot([r.get("words_after") or float("nan") for r in no_reg.trial_logs], marker="o", label="without")\n'
                  'plt.xlabel("step"); plt.ylabel("candidate instruction words"); plt.legend(); plt.show()\n'
                  'print("best validation:", full.score, "vs", no_reg.score)'),
]


CELLS = {"quickstart": QUICKSTART, "strategies": STRATEGIES}
# text each notebook prints when it ran through (checked by tests/test_notebooks.py)
MARKERS = {"quickstart": ("test score before:", "reloaded test score:", "validation:"),
           "strategies": ("frozen:", "best validation:", "penalty (points):")}
# files each notebook writes to DSPY_DLPO_NOTEBOOK_DIR
WRITES = {"quickstart": ("quickstart.json", "quickstart.png"), "strategies": ()}


def build(execute: bool, timeout: int) -> None:
    for name, cells in CELLS.items():
        notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}})
        if execute:
            from nbclient import NotebookClient

            NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(HERE.parent)}}).execute()
        nbformat.write(notebook, HERE / f"{name}.ipynb")
        print("wrote", HERE / f"{name}.ipynb")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--execute", action="store_true")
    parser.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args()
    build(args.execute, args.timeout)
