"""A representative slice of the lab's study, run with nidslab and with the lab's own Keras code.

Both sides train the same networks on the same arrays (the default dataset, prepared by nidslab:
the lab's 92 features, 70/15/15 split, standardised), with the lab's settings (batch 10,000,
lr 0.1, balanced class weights, validation after every epoch), and the timing covers fit() only.
The Keras side is the seed's ``build_DNN`` and ``model.fit``, run by a Python that has TensorFlow
(``--keras-python``, default ``$NIDSLAB_KERAS_PYTHON``; make one with
``python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu scikit-learn``).

    .venv/bin/python benchmarks/bench_study.py [--epochs 3] [--data default] [--keras-python PY]

Prints seconds per epoch for each configuration both ways and the ratio, then the whole-study
estimate: the study's epochs at each configuration times the measured per-epoch times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# (name, n_layers, n_nodes, activation, optimizer, batch_norm, dropout, batch_size)
CONFIGS = [
    ("2x20 sigmoid sgd", 2, 20, "sigmoid", "sgd", False, 0.0, 10_000),
    ("4x50 sigmoid sgd", 4, 50, "sigmoid", "sgd", False, 0.0, 10_000),
    ("2x20 + batch norm", 2, 20, "sigmoid", "sgd", True, 0.0, 10_000),
    ("2x20 adam", 2, 20, "sigmoid", "adam", False, 0.0, 10_000),
    ("2x20 dropout 0.5", 2, 20, "sigmoid", "sgd", False, 0.5, 10_000),
    ("2x20 batch 1,000", 2, 20, "sigmoid", "sgd", False, 0.0, 1_000),
]

KERAS_SIDE = r'''
import json, sys, time, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
from sklearn.utils import class_weight
from tensorflow.keras import Input
from tensorflow.keras.layers import Activation, BatchNormalization, Dense, Dropout
from tensorflow.keras.models import Sequential
from tensorflow.keras.optimizers import SGD, Adam

def build_DNN(input_shape, n_layers, n_nodes, act_fun="sigmoid", optimizer="sgd", learning_rate=0.1,
              use_bn=False, use_dropout=False):
    # the lab's build_DNN (Part 9), as the seed writes it
    optimizer = SGD(learning_rate=learning_rate) if optimizer == "sgd" else Adam(learning_rate=learning_rate)
    model = Sequential()
    model.add(Input(shape=(input_shape[1],)))
    for i in range(n_layers):
        if not use_bn:
            model.add(Dense(n_nodes, activation=act_fun))
        else:
            model.add(Dense(n_nodes))
            model.add(Activation(act_fun))
            model.add(BatchNormalization())
        if use_dropout:
            model.add(Dropout(rate=use_dropout))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model

d = np.load(sys.argv[1])
Xtrain, Ytrain, Xval, Yval = d["Xtrain"], d["Ytrain"], d["Xval"], d["Yval"]
cw = class_weight.compute_class_weight(class_weight="balanced", classes=np.unique(Ytrain), y=Ytrain)
cw = {0: cw[0], 1: cw[1]}
epochs = int(sys.argv[2])
out = {}
for name, n_layers, n_nodes, act, opt, bn, drop, bs in json.loads(sys.argv[3]):
    model = build_DNN(Xtrain.shape, n_layers, n_nodes, act, opt, 0.1, bn, drop)
    start = time.perf_counter()
    model.fit(Xtrain, Ytrain, epochs=epochs, batch_size=bs, validation_data=(Xval, Yval), class_weight=cw, verbose=0)
    out[name] = (time.perf_counter() - start) / epochs
print(json.dumps(out))
'''


def nidslab_side(arrays: dict[str, np.ndarray], epochs: int) -> dict[str, float]:
    from nidslab.model import ModelSpec, build_model
    from nidslab.train import fit

    out = {}
    train, val = (arrays["Xtrain"], arrays["Ytrain"]), (arrays["Xval"], arrays["Yval"])
    # One untimed epoch first: the process's one-off start-up (thread pool, first page faults) is not
    # the study's cost per network. (Keras pays its per-model graph tracing inside every timed fit.)
    fit(build_model(ModelSpec(), train[0].shape[1]), train=train, epochs=1, seed=0)
    for name, n_layers, n_nodes, act, opt, bn, drop, bs in CONFIGS:
        model = build_model(ModelSpec(n_layers=n_layers, n_nodes=n_nodes, activation=act, batch_norm=bn,
                                      dropout=drop), train[0].shape[1])
        start = time.perf_counter()
        fit(model, train=train, validation=val, optimizer=opt, lr=0.1, batch_size=bs, epochs=epochs,
            class_weight="balanced", seed=0)
        out[name] = (time.perf_counter() - start) / epochs
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data", default="default")
    ap.add_argument("--keras-python", default=os.environ.get("NIDSLAB_KERAS_PYTHON"))
    args = ap.parse_args()

    from nidslab.data import open_dataset
    from nidslab.data.prep import prepare

    p = prepare(open_dataset(args.data))
    arrays = {"Xtrain": np.ascontiguousarray(p.X_train), "Ytrain": np.asarray(p.y_train),
              "Xval": np.ascontiguousarray(p.X_val), "Yval": np.asarray(p.y_val)}
    print(f"data: {args.data}, train {arrays['Xtrain'].shape}, validation {arrays['Xval'].shape}; "
          f"{args.epochs} epochs per configuration, fit() timed, per-epoch seconds")
    ours = nidslab_side(arrays, args.epochs)

    keras: dict[str, float] = {}
    if args.keras_python and Path(args.keras_python).exists():
        with tempfile.TemporaryDirectory() as tmp:
            npz, script = Path(tmp) / "arrays.npz", Path(tmp) / "keras_side.py"
            np.savez(npz, **arrays)
            script.write_text(KERAS_SIDE)
            run = subprocess.run([args.keras_python, str(script), str(npz), str(args.epochs), json.dumps(CONFIGS)],
                                 capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
            if run.returncode != 0:
                sys.exit(f"the Keras side failed:\n{run.stderr[-3000:]}")
            keras = json.loads(run.stdout.strip().splitlines()[-1])
    else:
        print("(no --keras-python with TensorFlow: nidslab side only)")

    print(f"{'configuration':<22}{'nidslab s/epoch':>16}{'Keras s/epoch':>16}{'Keras / nidslab':>17}")
    for name, *_ in CONFIGS:
        k = keras.get(name)
        ratio = f"{k / ours[name]:.1f}x" if k else "-"
        print(f"{name:<22}{ours[name]:>16.3f}{(f'{k:.3f}' if k else '-'):>16}{ratio:>17}")
    if keras:
        total_ours, total_keras = sum(ours.values()), sum(keras.values())
        print(f"{'all of the slice':<22}{total_ours:>16.3f}{total_keras:>16.3f}{total_keras / total_ours:>16.1f}x")


if __name__ == "__main__":
    main()
