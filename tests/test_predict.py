"""nidslab.predict and SavedModel.predict: the CLI's predict pipeline as library calls."""

import numpy as np
import pytest

from nidslab import schema
from nidslab.errors import DataError
from nidslab.evaluate import predict_scores
from nidslab.model import ModelSpec, build_model
from nidslab.predict import capture_features, flagged_per_window, predict_capture
from nidslab.saved_model import load_model, save_model
from nidslab.train import fit


@pytest.fixture()
def saved(tmp_path):
    names = list(schema.LAB_FEATURES)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, len(names))).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.uint8)
    m = build_model(ModelSpec(n_layers=1, n_nodes=8), len(names), seed=0)
    fit(m, (X, y), optimizer="adam", lr=0.01, batch_size=50, epochs=2)
    std = {"mean": [0.5] * len(names), "scale": [2.0] * len(names)}
    return load_model(save_model(tmp_path / "m", m, standardizer=std, feature_names=names))


def test_saved_model_predict_selects_standardises_and_scores(saved):
    X = np.random.default_rng(1).standard_normal((20, schema.N_FEATURES)).astype(np.float32)
    own = X[:, schema.indices(saved.feature_names)]
    expected = predict_scores(saved.model, ((own - 0.5) / 2.0).astype(np.float32))
    np.testing.assert_allclose(saved.predict(X), expected, rtol=1e-6)
    np.testing.assert_allclose(saved.predict(own), expected, rtol=1e-6)  # already the model's columns
    with pytest.raises(DataError, match="x.csv: 7 columns"):
        saved.predict(X[:, :7], source="x.csv")


def test_predict_capture_scores_every_packet(saved, tmp_path):
    from nidslab.simulate import simulate_capture

    pcap = tmp_path / "c.pcap"
    simulate_capture(pcap, packets=2000, seed=0)
    seen = []
    scored = predict_capture(saved, pcap, progress=lambda done, total, message="": seen.append(done))
    X, times = capture_features(pcap)
    assert len(scored.scores) == len(X) == len(times) > 0 and seen[-1] == len(X)
    np.testing.assert_array_equal(scored.times, times)
    np.testing.assert_array_equal(scored.scores, saved.predict(X))


def test_flagged_per_window_counts_packets_and_flags():
    times = np.array([10.0, 10.2, 10.9, 11.1, 13.5])
    labels = np.array([1, 0, 1, 1, 0], np.uint8)
    starts, packets, flagged = flagged_per_window(times, labels, 1.0)
    assert starts.tolist() == [0.0, 1.0, 3.0]  # the empty window at 2 s is left out
    assert packets.tolist() == [3, 1, 1] and flagged.tolist() == [2, 1, 0]
    with pytest.raises(ValueError, match="window"):
        flagged_per_window(times, labels, 0.0)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_packet_labels_give_truth_and_phases_and_refuse_another_length(tmp_path, suffix):
    from nidslab.cli.common import write_table
    from nidslab.errors import DataError
    from nidslab.predict import read_packet_labels

    truth = np.array([0, 0, 1, 1, 0], np.uint8)
    path = tmp_path / f"cap.labels{suffix}"
    write_table(path, {"truth": truth, "kitsune": np.array([0, 0, 1, 1, 1]),
                       "phase": np.array(["benign", "benign", "scan", "flood", "benign"])})
    got, phase = read_packet_labels(path, 5)
    assert got.tolist() == truth.tolist() and phase.tolist() == ["benign", "benign", "scan", "flood", "benign"]
    write_table(path, {"truth": truth})
    assert read_packet_labels(path, None)[1] is None  # no phase column
    with pytest.raises(DataError, match="5 labels, but the capture has 6 packets"):
        read_packet_labels(path, 6)
    write_table(path, {"truth": np.array([0.0, 1.0, 2.0])})
    with pytest.raises(DataError, match=f"column truth, {'line 4' if suffix == '.csv' else 'row 3'}: 2; labels must"):
        read_packet_labels(path, 3)
