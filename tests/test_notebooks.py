"""The committed notebooks: in sync with ``notebooks/build.py``, and they run top to bottom.

The execution test runs the committed ``.ipynb`` files (not their sources in ``build.py``) on the
embedded model named by ``DSPY_DLPO_NOTEBOOK_MODEL`` (default: the 1.5B), in a scratch copy, so
the notebooks cannot rot. It is a real-LM test: ``DSPY_DLPO_SKIP_REAL_LM=1`` skips it.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook tests need the [test] extra (nbformat, nbclient)")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("quickstart", "strategies")
TIMEOUT = 1500  # seconds per cell; the longest cell (a 5-step compile on the 1.5B) takes ~12 minutes


def _build_module():
    sys.path.insert(0, str(NOTEBOOKS))
    try:
        import build  # noqa: PLC0415 - notebooks/build.py, the notebooks' single source
    finally:
        sys.path.remove(str(NOTEBOOKS))
    return build


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_matches_its_source(name: str) -> None:
    build = _build_module()
    committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    expected = build.CELLS[name]
    assert [c.source for c in committed.cells] == [c.source for c in expected], \
        f"notebooks/{name}.ipynb differs from notebooks/build.py: run python notebooks/build.py --execute"
    code_cells = [c for c in committed.cells if c.cell_type == "code"]
    assert all(c.get("outputs") for c in code_cells), f"{name}.ipynb is committed without outputs"
    assert "IProgress not found" not in str(committed), f"{name}.ipynb shows tqdm's IProgress warning"
    errors = [o for c in code_cells for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, f"{name}.ipynb was committed with an error output: {errors[0].get('ename')}"


@pytest.mark.real_lm
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name: str, tmp_path: Path) -> None:
    if os.environ.get("DSPY_DLPO_SKIP_REAL_LM") == "1":
        pytest.skip("DSPY_DLPO_SKIP_REAL_LM=1")
    nbclient = pytest.importorskip("nbclient")
    from dspy_dlpo.lm import ModelError, ensure_model, local_model_spec

    build = _build_module()
    model = os.environ.get("DSPY_DLPO_NOTEBOOK_MODEL", build.DEFAULT_MODEL)
    if local_model_spec(model):
        try:
            ensure_model(local_model_spec(model))
        except ModelError as exc:
            pytest.fail(f"notebook test needs the model ({exc}); or set DSPY_DLPO_SKIP_REAL_LM=1", pytrace=False)
    notebook = copy.deepcopy(nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4))
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    env_before = os.environ.get("DSPY_DLPO_NOTEBOOK_DIR")
    os.environ["DSPY_DLPO_NOTEBOOK_DIR"] = str(tmp_path)  # where the notebook writes its files
    try:
        nbclient.NotebookClient(notebook, timeout=TIMEOUT, kernel_name="python3",
                                resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        if env_before is None:
            os.environ.pop("DSPY_DLPO_NOTEBOOK_DIR", None)
        else:
            os.environ["DSPY_DLPO_NOTEBOOK_DIR"] = env_before
    text = "\n".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    for marker in build.MARKERS[name]:
        assert marker in text, f"{name}.ipynb ran but printed no {marker!r}"
    for filename in build.WRITES[name]:
        assert (tmp_path / filename).stat().st_size > 0, f"{name}.ipynb did not write {filename}"
