"""What a user sees: clean command output, the plot, the budget warning and the accepted proposals."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import dspy
import pytest

from dspy_dlpo import DLPOTeleprompter
from dspy_dlpo.budget import budget_for_proposals, few_proposals_warning, step_cost
from dspy_dlpo.summary import accepted_proposals, plot_scores, proposal_line, score_figure
from scripted import MAGIC, ScriptedOptimizer, exact_metric, reverse_examples, reverse_task_lm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TABLE_END = "steps (stop reason)"


def run_worker(args, tmp_path, *python_flags):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "MPLCONFIGDIR": str(tmp_path / "mpl"),
           "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run([sys.executable, *python_flags, str(HERE / "cli_worker.py"), *args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)


@pytest.mark.parametrize("command", [["demo"], ["optimize", "--task", "toy", "--max-steps", "3", "--batch-size", "3",
                                                "--threads", "1"]])
def test_nothing_follows_the_table_but_the_saved_paths(command, tmp_path):
    # a fresh MPLCONFIGDIR makes matplotlib build its font cache and log "generated new fontManager"
    # (unless the CLI keeps that logger quiet); -X dev shows every ResourceWarning, and -W makes them errors
    done = run_worker([*command, "--out", str(tmp_path / "out")], tmp_path, "-X", "dev", "-W",
                      "error::ResourceWarning")
    output = done.stdout
    assert done.returncode == 0, output[-3000:]
    for noise in ("Warning", "font_manager", "Exception ignored", "Traceback"):
        assert noise not in output
    lines = output.replace("\r", "\n").splitlines()
    end = max(i for i, line in enumerate(lines) if line.startswith(TABLE_END))
    after = [line for line in lines[end + 1:] if line.strip()]
    out = tmp_path / "out"
    assert after == [f"saved: {out / 'program.json'}, {out / 'report.json'}, {out / 'scores.png'}"]
    before = lines[:end]
    assert "accepted proposals (the program returned is the best validated one):" in before
    assert "step 0 [self]: validation 100.0%; 8 -> 6 words; sentences 1 rewritten" in before
    assert MAGIC in before


def test_llama_cpp_dev_null_files_are_closed_at_exit(tmp_path):
    """llama-cpp-python opens two /dev/null files at import and never closes them; this package's
    exit hook does, so the interpreter's teardown has nothing to warn about."""
    fake = tmp_path / "llama_cpp"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "_utils.py").write_text('import os\noutnull_file = open(os.devnull, "w")\n'
                                    'errnull_file = open(os.devnull, "w")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    env.pop("PYTHONWARNINGS", None)

    def stderr_of(code):
        return subprocess.run([sys.executable, "-X", "dev", "-c", code], env=env, capture_output=True, text=True,
                              timeout=120).stderr

    assert "ResourceWarning: unclosed file" in stderr_of("import llama_cpp._utils")  # the leak is real
    assert "ResourceWarning" not in stderr_of("import dspy_dlpo.lm.llama, llama_cpp._utils")


LOGS = [
    {"step": 0, "param": "self", "batch_score_before": 0.2, "batch_score_after": 0.6, "val_score": 40.0,
     "best_score": 40.0, "accepted": True, "instruction_before": "Answer. Be brief.",
     "instruction_after": "Answer with the label. Be brief. Never explain."},
    {"step": 1, "param": "self", "batch_score_before": 0.4, "batch_score_after": 0.2, "val_score": None,
     "best_score": 40.0, "accepted": False, "instruction_before": "x", "instruction_after": "y"},
    {"step": 2, "param": "self", "batch_score_before": 1.0, "batch_score_after": None, "val_score": None,
     "best_score": 40.0, "accepted": False, "instruction_before": "x", "instruction_after": None},
    {"step": 3, "param": "self", "batch_score_before": 0.4, "batch_score_after": 0.4, "val_score": None,
     "best_score": 40.0, "accepted": True, "instruction_before": "Answer with the label. Be brief. Never explain.",
     "instruction_after": "Answer with the label. Never explain."},
]


def test_the_figure_shows_minibatch_validation_best_and_test_scores():
    fig = score_figure(LOGS, 30.0, test=(25.0, 45.0), title="bbh/x | local | budget 60 metric calls")
    ax = fig.axes[0]
    assert ax.get_title() == "bbh/x | local | budget 60 metric calls"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["best validation score so far", "minibatch score after (candidate)", "minibatch score before",
                      "validated candidate", "test score before (baseline)", "test score after (best program)"]
    points = {c.get_label(): [tuple(p) for p in c.get_offsets()] for c in ax.collections if c.get_label()[0] != "_"}
    assert points["minibatch score before"] == [(0, 20.0), (1, 40.0), (2, 100.0), (3, 40.0)]
    assert points["minibatch score after (candidate)"] == [(0, 60.0), (1, 20.0), (3, 40.0)]
    assert points["validated candidate"] == [(0, 40.0)]
    assert points["test score before (baseline)"] == [(-1.2, 25.0)]
    assert points["test score after (best program)"] == [(3.2, 45.0)]
    best = ax.get_lines()[0]
    assert list(best.get_xdata()) == [-1, 0, 1, 2, 3] and list(best.get_ydata()) == [30.0, 40.0, 40.0, 40.0, 40.0]


def test_the_figure_leaves_out_an_unknown_test_score(tmp_path):
    fig = score_figure(LOGS, 30.0)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert not any(label.startswith("test") for label in labels) and fig.axes[0].get_title() == ""
    path = plot_scores(LOGS, 30.0, tmp_path / "s.png", test=(25.0, None), title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_accepted_proposals_say_what_changed():
    entries = accepted_proposals(LOGS)
    assert [e["step"] for e in entries] == [0, 3]
    assert entries[0] == {"step": 0, "param": "self", "val_score": 40.0, "returned_to_best": False,
                          "words_before": 3, "words_after": 8, "added": 1, "removed": 0, "rewritten": 1}
    assert proposal_line(entries[0]) == ("step 0 [self]: validation 40.0%; 3 -> 8 words; sentences 1 added, "
                                         "1 rewritten")
    assert proposal_line(entries[1]) == ("step 3 [self]: not validated (no minibatch gain); 8 -> 6 words; "
                                         "sentences 1 removed")


def test_the_result_carries_the_accepted_proposals():
    data = reverse_examples()
    with dspy.context(lm=reverse_task_lm()):
        best = DLPOTeleprompter(exact_metric, prompt_model=ScriptedOptimizer().lm(), max_steps=3, batch_size=3,
                                progress=False, dropout=False).compile(
            dspy.Predict("question -> answer"), trainset=data[:6], valset=data[6:10])
    proposals = best.detailed_results.accepted_proposals
    assert [(p["step"], p["val_score"], p["words_after"]) for p in proposals] == [(0, 100.0, 6)]
    assert best.detailed_results.to_dict()["accepted_proposals"] == proposals


@pytest.mark.parametrize("budget, max_steps, candidates, warned", [
    (4 + 2 * 10, None, 1, True),      # 2 steps of 10 calls after the baseline of 4
    (4 + 3 * 10, None, 1, False),
    (4 + 100, 2, 1, True),            # max_steps binds
    (4 + 2 * 13, None, 2, False),     # 2 steps of 2 candidates: 4 proposals
])
def test_the_few_proposals_warning(budget, max_steps, candidates, warned):
    text = few_proposals_warning(budget, batch_size=3, val_size=4, max_steps=max_steps, candidates=candidates)
    assert (text is not None) == warned
    if warned:
        assert f"max_metric_calls={budget_for_proposals(10, batch_size=3, val_size=4)} (max_steps=10) would allow 10" \
            in text
        assert text.startswith(f"max_steps={max_steps}" if max_steps else f"a budget of {budget} metric calls")


def test_budget_for_proposals_buys_them_in_the_worst_case():
    for candidates in (1, 2, 3):
        budget = budget_for_proposals(10, batch_size=5, val_size=20, candidates=candidates)
        steps = (budget - 20) // step_cost(5, 20, candidates)
        assert steps * candidates >= 10 and (steps - 1) * candidates < 10
        assert few_proposals_warning(budget, batch_size=5, val_size=20, max_steps=None, candidates=candidates) is None


def test_a_run_that_allows_two_proposals_is_warned(caplog):
    data = reverse_examples()
    with caplog.at_level(logging.WARNING, logger="dspy_dlpo"), dspy.context(lm=reverse_task_lm()):
        DLPOTeleprompter(exact_metric, prompt_model=ScriptedOptimizer().lm(), max_metric_calls=24, batch_size=3,
                         candidates_per_step=1, progress=False).compile(dspy.Predict("question -> answer"), trainset=data[:6],
                                                 valset=data[6:10])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("a budget of 24 metric calls allows as few as 2 proposal(s)") and
               "max_metric_calls=104 (max_steps=10) would allow 10" in m for m in warnings)
