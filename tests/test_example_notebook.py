"""examples/mirai_lab.ipynb runs top to bottom on quick settings (nbclient, a fresh kernel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "mirai_lab.ipynb"


@pytest.mark.slow
def test_the_lab_notebook_runs_on_quick_settings(tmp_path, _nidslab_home):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from nidslab.data import import_dataset

    rng = np.random.default_rng(1)
    n = 20_000
    y = np.ones(n, dtype=np.uint8)
    y[: int(0.16 * n)] = 0
    X = rng.lognormal(mean=3.0, sigma=1.0, size=(n, 115)).astype(np.float32)
    X[:, 30:60] *= (1.0 + 0.8 * y)[:, None]
    import_dataset(X, y, "notebook-tiny")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = nb.cells[1]
    assert "QUICK = True" in params.source and 'DATASET = "default"' in params.source
    params.source = params.source.replace('DATASET = "default"', 'DATASET = "notebook-tiny"')
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the cell that failed
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert "Q1:" in "".join(o.get("text", "") for o in nb.cells[-1].outputs)
