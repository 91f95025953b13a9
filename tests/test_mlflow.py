"""A DLPO compile in a real MLflow store (SQLite in tmp_path), under autolog and with use_mlflow=True."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

WORKER = Path(__file__).with_name("mlflow_worker.py")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The compiles, run in child processes (autolog patches DSPy for the whole process)."""
    tmp_path = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    root = str(Path(__file__).resolve().parents[1])       # this checkout's dspy_dlpo, not an installed one
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    for order, compiles in (("in-order", 2), ("late-import", 1)):
        done = subprocess.run([sys.executable, str(WORKER), uri, order], capture_output=True, text=True,
                              timeout=240, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.count("score 100.0") == compiles
    return mlflow.tracking.MlflowClient(tracking_uri=uri)


def run_of(client, mode: str):
    experiment = client.get_experiment_by_name(f"dlpo-{mode}")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return runs[0]


def history(client, run, key):
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


def artifacts(client, run, path=None):
    return {a.path for a in client.list_artifacts(run.info.run_id, path)}


def check_run(client, run):
    params = run.data.params
    assert params["batch_size"] == "4" and params["max_steps"] == "3" and params["metric"] == "exact_metric"
    assert json.loads(params["strategies"])[0]["name"] == "dropout" and params["budget"]
    # the baseline at MLflow step 0, a variant that ties at step 1 (DLPO step 0, its tie validated at 0%),
    # and the rewrite of DLPO step 1 validated at 100% at MLflow step 2
    assert history(client, run, "val_score") == [(0, 0.0), (1, 0.0), (2, 100.0)]
    assert history(client, run, "best_score")[:3] == [(0, 0.0), (1, 0.0), (2, 100.0)]
    assert [v for _, v in history(client, run, "metric_calls")][:2] == [24.0, 40.0]
    assert history(client, run, "optimizer_tokens")[-1][1] > 0
    assert run.data.tags["dlpo.stop_reason"] == "validation solved"
    assert {"dlpo/best_program.json", "dlpo/detailed_results.json"} <= artifacts(client, run, "dlpo")
    saved = json.loads(Path(client.download_artifacts(run.info.run_id, "dlpo/best_program.json")).read_text())
    assert saved["signature"]["instructions"] == "Reverse the letters of the word."


def test_autolog_shows_a_dlpo_compile(store):
    run = run_of(store, "autolog")
    check_run(store, run)
    assert "best_model.json" in artifacts(store, run)     # autolog's own copy of the returned program


def test_use_mlflow_logs_without_autolog(store):
    run = run_of(store, "use_mlflow")
    check_run(store, run)
    assert run.info.status == "FINISHED" and "best_model.json" not in artifacts(store, run)


def test_autolog_enabled_before_the_import_still_gets_dlpos_run(store):
    # autolog did not patch DLPO's compile (it did not exist yet): DLPO's tracker opens the run
    run = run_of(store, "late-import")
    check_run(store, run)
    assert "best_model.json" not in artifacts(store, run)
