"""examples/mirai_lab.ipynb runs top to bottom on quick settings (nbclient, a fresh kernel)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import import_learnable_dataset

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "mirai_lab.ipynb"


@pytest.mark.slow
def test_the_lab_notebook_runs_on_quick_settings(tmp_path, _nidslab_home):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    import_learnable_dataset("notebook-tiny", rows=20_000, seed=1)

    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = nb.cells[1]
    assert "QUICK = True" in params.source and 'DATASET = "default"' in params.source
    params.source = params.source.replace('DATASET = "default"', 'DATASET = "notebook-tiny"')
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the cell that failed
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert "Q1:" in "".join(o.get("text", "") for o in nb.cells[-1].outputs)
