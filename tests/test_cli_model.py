"""`nidslab model summary | train | evaluate | predict | uncertainty` through the CLI."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nidslab import schema
from nidslab.cli import app
from nidslab.model import ModelSpec, build_model
from nidslab.saved_model import save_model
from nidslab.train import fit

runner = CliRunner()


def test_summary_prints_the_labs_parameter_counts():
    r = runner.invoke(app, ["model", "summary", "--n-layers", "2", "--n-nodes", "20", "--n-inputs", "92"])
    assert r.exit_code == 0, r.output
    assert "Total params: 2,301" in r.output
    r = runner.invoke(app, ["model", "summary", "--n-layers", "4", "--n-nodes", "50"])
    assert "Total params: 12,351" in r.output


def test_a_bad_spec_is_one_red_line_and_exit_code_2():
    r = runner.invoke(app, ["model", "summary", "--activation", "swish"])
    assert r.exit_code == 2
    assert "activation must be one of" in r.output and "Traceback" not in r.output


def test_loss_and_accuracy_pngs_are_written(tmp_path):
    from nidslab.figures import write_curves

    paths = write_curves(tmp_path, {"loss": [0.5, 0.4], "val_loss": [0.6, 0.5], "accuracy": [0.8, 0.9],
                                    "val_accuracy": [0.7, 0.8]})
    assert [p.name for p in paths] == ["loss.png", "accuracy.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    # A regression head has no accuracy curve.
    assert [p.name for p in write_curves(tmp_path / "r", {"loss": [1.0, 0.5], "accuracy": []})] == ["loss.png"]


def test_train_writes_a_model_folder_with_curves_then_evaluate_reads_it(tmp_path):
    from nidslab.data.datasets import write_dataset
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1200, schema.N_FEATURES)).astype(np.float32)
    y = (rng.random(1200) < 0.8).astype(np.uint8)
    X[:, schema.indices(schema.LAB_FEATURES)[:5]] += 1.5 * y[:, None]  # five informative lab features
    write_dataset(tmp_path / "ds", X, y)
    out = tmp_path / "m"
    r = runner.invoke(app, ["train", "--data", str(tmp_path / "ds"), "-o", str(out), "--epochs", "4",
                            "--batch-size", "50", "--optimizer", "adam", "--lr", "0.05", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert {"loss.png", "accuracy.png", "weights.pt", "spec.json", "history.json"} <= {p.name for p in out.iterdir()}
    assert not (tmp_path / ".m.checkpoint").exists()  # the checkpoint goes once the model is saved
    from nidslab.saved_model import load_model

    saved = load_model(out)
    assert len(saved.history["loss"]) == 4 and saved.metrics["test"]["balanced_accuracy"] > 0.8
    r = runner.invoke(app, ["evaluate", str(out)])
    assert r.exit_code == 0, r.output
    assert "balanced_accuracy" in r.output


@pytest.fixture()
def saved_model_dir(tmp_path):
    names = list(schema.LAB_FEATURES)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, len(names))).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.uint8)
    torch.manual_seed(0)
    m = build_model(ModelSpec(), len(names))
    fit(m, (X, y), optimizer="adam", lr=0.01, batch_size=50, epochs=3)
    std = {"mean": [0.0] * len(names), "scale": [1.0] * len(names)}
    return save_model(tmp_path / "m", m, standardizer=std, feature_names=names)


def test_predict_scores_a_npy_file(tmp_path, saved_model_dir):
    X = np.random.default_rng(1).standard_normal((40, schema.N_FEATURES)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "scores.csv"
    r = runner.invoke(app, ["predict", str(saved_model_dir), str(tmp_path / "x.npy"), "-o", str(out),
                            "--threshold", "0.3"])
    assert r.exit_code == 0, r.output
    import pyarrow.csv as pacsv

    t = pacsv.read_csv(out).to_pydict()
    assert len(t["score"]) == 40
    assert [int(s >= 0.3) for s in t["score"]] == t["label"]


def test_predict_refuses_a_bad_output_suffix(tmp_path, saved_model_dir):
    r = runner.invoke(app, ["predict", str(saved_model_dir), str(tmp_path / "x.npy"), "-o", str(tmp_path / "s.txt")])
    assert r.exit_code == 2 and ".csv or .parquet" in r.output


def test_train_rejects_an_unknown_config_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[fit]\nlearning_rate = 0.1\n")
    r = runner.invoke(app, ["train", "--config", str(cfg), "-o", str(tmp_path / "m")])
    assert r.exit_code == 2 and "learning_rate" in r.output


def test_train_step_option_is_checked(tmp_path):
    from nidslab.data.datasets import write_dataset

    rng = np.random.default_rng(0)
    write_dataset(tmp_path / "ds", rng.standard_normal((300, schema.N_FEATURES)).astype(np.float32),
                  (rng.random(300) < 0.5).astype(np.uint8))
    r = runner.invoke(app, ["train", "--data", str(tmp_path / "ds"), "-o", str(tmp_path / "m"), "--step", "magic"])
    assert r.exit_code == 2 and "step must be one of" in r.output
    r = runner.invoke(app, ["train", "--data", str(tmp_path / "ds"), "-o", str(tmp_path / "m"), "--epochs", "1",
                            "--step", "autograd", "--device", "cpu"])
    assert r.exit_code == 0, r.output


def test_train_on_the_temporal_split_stores_thresholds_that_evaluate_and_predict_use(tmp_path):
    from nidslab.data.datasets import write_dataset
    from nidslab.evaluate import predict_raw
    from nidslab.saved_model import load_model

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, schema.N_FEATURES)).astype(np.float32)
    y = np.zeros(3000, np.uint8)
    y[600:] = 1  # a time cut: benign first
    X[:, schema.indices(schema.LAB_FEATURES)[:5]] += 1.5 * y[:, None]
    write_dataset(tmp_path / "ds", X, y)
    out = tmp_path / "m"
    r = runner.invoke(app, ["train", "--data", str(tmp_path / "ds"), "-o", str(out), "--epochs", "3", "--split",
                            "temporal", "--batch-size", "100", "--optimizer", "adam", "--lr", "0.05", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    saved = load_model(out)
    assert saved.metrics["data"]["split"] == "temporal" and saved.thresholds["split"] == "temporal"
    assert saved.thresholds["validation_benign_rows"] == 90  # 15 % of the 600 benign rows, the earliest after training
    t = saved.threshold_for(0.01)
    r = runner.invoke(app, ["evaluate", str(out), "--target-fpr", "0.01"])
    assert r.exit_code == 0, r.output
    assert "test TPR [95% CI]" in r.output and "test FPR [95% CI]" in r.output
    r = runner.invoke(app, ["evaluate", str(out), "--target-fpr", "0.05"])
    assert r.exit_code == 2 and "threshold for a false-positive rate of 0.05; stored: 0.001, 0.01, 0.0001" in " ".join(r.output.split())

    np.save(tmp_path / "x.npy", X[:200])
    scores = tmp_path / "scores.csv"
    r = runner.invoke(app, ["predict", str(out), str(tmp_path / "x.npy"), "-o", str(scores), "--target-fpr", "0.01"])
    assert r.exit_code == 0, r.output
    import pyarrow.csv as pacsv

    from nidslab.data.prep import Standardizer

    labels = pacsv.read_csv(scores).to_pydict()["label"]
    Z = Standardizer.from_dict(saved.standardizer).transform(X[:200, schema.indices(schema.LAB_FEATURES)])
    assert labels == (predict_raw(saved.model, Z) >= t).astype(int).tolist()
    r = runner.invoke(app, ["train", "--data", str(tmp_path / "ds"), "-o", str(out), "--split", "shuffled"])
    assert r.exit_code == 2 and "--split must be random or temporal" in r.output
