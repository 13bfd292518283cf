"""The dataset cache: write, open memory-mapped, detect damage, import arrays, built-ins, describe."""

import json

import numpy as np
import pytest

from nidslab import schema
from nidslab.data.datasets import import_dataset, list_datasets, open_dataset, remove_dataset, write_dataset
from nidslab.data.description import describe, random_chance
from nidslab.data.synthetic import make_synthetic
from nidslab.errors import CacheError, DataError


@pytest.fixture()
def small(tmp_path):
    X, y = make_synthetic(3_000, seed=5)
    return X, y


def test_write_then_open_is_memory_mapped_and_equal(tmp_path, small):
    X, y = small
    ds = write_dataset(tmp_path / "ds", X, y, sources=[{"kind": "test"}])
    assert isinstance(ds.X, np.memmap) and ds.X.dtype == np.float32
    assert np.array_equal(ds.X, X) and np.array_equal(ds.y, y)
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert meta["rows"] == 3_000 and meta["schema"] == "kitsune-115" and len(meta["files"]["features.npy"]["sha256"]) == 64
    assert meta["class_counts"] == {"benign": int((y == 0).sum()), "malicious": int(y.sum())}
    again = open_dataset(tmp_path / "ds")
    assert again.feature_names == schema.FEATURE_NAMES
    assert np.array_equal(again.columns("lab"), X[:, 23:])


def test_a_truncated_or_altered_cache_is_refused(tmp_path, small):
    X, y = small
    write_dataset(tmp_path / "ds", X, y)
    f = tmp_path / "ds" / "features.npy"
    data = f.read_bytes()
    f.write_bytes(data[:-400])
    with pytest.raises(CacheError, match="features.npy.*meta.json says"):
        open_dataset(tmp_path / "ds")
    f.write_bytes(data[:-4] + b"\0\0\0\1")  # same size, different content
    open_dataset(tmp_path / "ds")  # the quick check passes ...
    with pytest.raises(CacheError, match="sha256"):
        open_dataset(tmp_path / "ds", verify=True)  # ... the full one does not
    (tmp_path / "ds" / "labels.npy").unlink()
    with pytest.raises(CacheError, match="missing"):
        open_dataset(tmp_path / "ds")


def test_a_failed_write_leaves_nothing_behind(tmp_path, small):
    X, y = small
    with pytest.raises(DataError, match="rows"):
        write_dataset(tmp_path / "ds", X, y[:-1])
    with pytest.raises(DataError, match="row 3 holds 2"):
        write_dataset(tmp_path / "ds", X[:3], np.array([0, 1, 2]))
    assert list(tmp_path.iterdir()) == []


def test_import_arrays_by_name_lists_and_removes(small):
    X, y = small
    ds = import_dataset(X, y, "unit-small")
    assert ds.name == "unit-small" and open_dataset("unit-small").n_rows == 3_000
    assert "unit-small" in [d["name"] for d in list_datasets()]
    with pytest.raises(DataError, match="built-in"):
        import_dataset(X, y, "synthetic")
    with pytest.raises(DataError, match="not a valid dataset name"):
        import_dataset(X, y, "../evil")
    remove_dataset("unit-small")
    with pytest.raises(DataError, match="no dataset named 'unit-small'"):
        open_dataset("unit-small")


def test_import_refuses_mismatched_rows_and_nonfinite_cells(small):
    X, y = small
    with pytest.raises(DataError, match="3,000 rows but .* 2,999"):
        import_dataset(X, y[:-1], "bad")
    X = X.copy()
    X[10, 4] = np.nan
    with pytest.raises(DataError, match="row 11, column 5"):
        import_dataset(X, y, "bad")
    ds = import_dataset(X, y, "zeroed", nonfinite="zero")
    assert ds.X[10, 4] == 0


def test_builtin_synthetic_is_made_once_deterministically():
    a = open_dataset("synthetic", rows=2_000, seed=1)
    b = open_dataset("synthetic", rows=2_000, seed=1)
    assert a.name == "synthetic-2000-s1" and a.path == b.path
    X, y = make_synthetic(2_000, seed=1)
    assert np.array_equal(a.X, X) and np.array_equal(a.y, y)
    assert a.y[: round(2_000 * 121_621 / 764_137)].max() == 0


def test_a_damaged_builtin_is_rebuilt():
    a = open_dataset("synthetic", rows=1_000, seed=2)
    (a.path / "labels.npy").write_bytes(b"junk")
    b = open_dataset("synthetic", rows=1_000, seed=2)
    assert np.array_equal(b.y, make_synthetic(1_000, seed=2)[1])


def test_a_builtin_made_by_an_older_recipe_is_made_again(monkeypatch):
    from nidslab.data import datasets

    a = open_dataset("synthetic", rows=1_000, seed=3)
    assert a.meta["extra"]["recipe"] == datasets.BUILTIN_RECIPES["synthetic"]
    created = (a.path / "meta.json").stat().st_mtime_ns
    assert (open_dataset("synthetic", rows=1_000, seed=3).path / "meta.json").stat().st_mtime_ns == created
    monkeypatch.setitem(datasets.BUILTIN_RECIPES, "synthetic", "a-newer-recipe")
    b = open_dataset("synthetic", rows=1_000, seed=3)
    assert b.meta["extra"]["recipe"] == "a-newer-recipe"
    assert (b.path / "meta.json").stat().st_mtime_ns != created


def test_default_name_follows_the_environment(monkeypatch, small):
    X, y = small
    import_dataset(X, y, "env-default")
    monkeypatch.setenv("NIDSLAB_DATASET", "env-default")
    assert open_dataset().name == "env-default"


def test_describe_counts_classes_nonfinite_cells_and_baselines(tmp_path):
    y = np.zeros(1_000, dtype=np.uint8)
    y[159:] = 1
    X = np.ones((1_000, 115), dtype=np.float32)
    X[3, 0] = np.nan
    X[4, 0] = np.nan
    X[5, 7] = np.inf
    ds = write_dataset(tmp_path / "d", X, y)
    d = describe(ds, draws=2_000, seed=0)
    assert d.class_counts == (159, 841) and d.majority_class == "malicious"
    assert d.naive_accuracy == pytest.approx(0.841)
    assert d.nan_features == 2 and d.nan_per_column == {schema.FEATURE_NAMES[0]: 2}
    assert d.inf_per_column == {schema.FEATURE_NAMES[7]: 1}
    q = 0.159**2 + 0.841**2
    rc = d.random_chance
    assert rc["prior"]["mean"] == pytest.approx(q, abs=3e-3)
    assert rc["prior"]["sd"] == pytest.approx(np.sqrt(0.841 * 0.159 / 1_000), rel=0.1)  # n p (1 - p), not n q (1 - q)
    assert rc["uniform"]["mean"] == pytest.approx(0.5, abs=3e-3)
    assert random_chance(y, draws=50, seed=1) == random_chance(y, draws=50, seed=1)


def test_random_chance_matches_a_brute_force_simulation():
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.8).astype(np.uint8)
    p = y.mean()
    guesses = rng.random((4_000, 500)) < p
    brute = (guesses == y.astype(bool)).mean(axis=1)
    ours = random_chance(y, draws=4_000, seed=3)["prior"]
    assert ours["mean"] == pytest.approx(brute.mean(), abs=2e-3)
    assert ours["sd"] == pytest.approx(brute.std(), rel=0.08)
