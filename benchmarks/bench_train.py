"""One training epoch of the lab's networks: nidslab vs the lab's Keras code vs a plain PyTorch DataLoader loop.

All three run in this one process on the same arrays: 534,895 x 92 float32 training rows and 114,621
validation rows (the lab's split sizes; synthetic standard-normal features, 16% benign labels, so no
data download is needed; speed does not depend on the values). An epoch is ``fit`` for one epoch
*including the validation pass*, timed with ``time.perf_counter`` after one warm-up epoch. The sides
take turns: each of ``--repeats`` rounds runs every side once, and each side's best round counts, so a
slow spell of a shared machine cannot favour one side. Every framework is limited to ``--threads`` CPU
threads (default 2).

The Keras side is the seed's ``build_DNN`` (Part 9, with BatchNormalization, Dropout and Adam as the
lab adds them), compiled and fitted exactly as the lab does (binary_crossentropy, accuracy, class
weights where the lab used them). TensorFlow is needed only here; make a separate environment:

    python3 -m venv /tmp/benchenv
    /tmp/benchenv/bin/pip install tensorflow-cpu torch==2.13.0 scikit-learn
    /tmp/benchenv/bin/pip install -e . --no-deps
    /tmp/benchenv/bin/python benchmarks/bench_train.py [--configs 2x20,10x80bn] [--batch-sizes 10000]

Without TensorFlow the Keras column is left empty. ``--quick`` times only nidslab on 2x20 and 4x50
at batch 10,000 (a smoke test of the trainer's speed). Two matmul-only references per row, measured
next to it: the epoch's matmul FLOPs at this CPU's fp32 GEMM throughput (2048 x 2048 ``torch.mm``: a
floor the narrow layers cannot reach), and the epoch's matrix multiplications run alone with their
own shapes (``time_epoch_matmuls``).
``--markdown FILE`` writes the table as markdown.

``--stacked`` adds the stacked rows (``nidslab.stacked``): k = 1, 10, 32 networks of 2x20 and 4x50
trained at once on the training rows, each network leaving out one k-th of them as a cross-validation
fold does (k = 1: all rows), no validation pass; seconds per network-epoch with shared batches (one
gather for all) and with own batches (each network its own shuffle; k <= 10), against one network
trained alone on one fold's rows, all taking turns. ``--cv`` runs the study's 10-fold cross-validation
of the 2x20 (balanced class weights, 20 epochs, seed 0, folds seeded 1234) on the default dataset
(mirai-sim; set NIDSLAB_HOME) one fold at a time and stacked with shared batches, and prints the
per-fold test accuracies of both, their spread and the wall time of each.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

N_TRAIN, N_VAL, N_INPUTS = 534_895, 114_621, 92

# name: (n_layers, n_nodes, activation, batch_norm, dropout, optimizer, class_weight) as in the lab's parts
CONFIGS = {
    "2x20": (2, 20, "sigmoid", False, 0.0, "sgd", True),
    "4x20": (4, 20, "sigmoid", False, 0.0, "sgd", True),
    "2x50": (2, 50, "sigmoid", False, 0.0, "sgd", True),
    "4x50": (4, 50, "sigmoid", False, 0.0, "sgd", True),
    "2x20 BN": (2, 20, "sigmoid", True, 0.0, "sgd", True),
    "2x20 ReLU": (2, 20, "relu", False, 0.0, "sgd", True),
    "2x20 Adam": (2, 20, "sigmoid", False, 0.0, "adam", True),
    "2x20 dropout": (2, 20, "sigmoid", False, 0.5, "sgd", True),
    "3x80 BN+dropout 0.7": (3, 80, "sigmoid", True, 0.7, "sgd", False),
    "10x80 BN": (10, 80, "sigmoid", True, 0.0, "sgd", True),
}


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_TRAIN + N_VAL, N_INPUTS), dtype=np.float32)
    y = (rng.random(N_TRAIN + N_VAL) > 0.16).astype(np.uint8)
    return (X[:N_TRAIN], y[:N_TRAIN]), (X[N_TRAIN:], y[N_TRAIN:])


CLASS_WEIGHT = {0: 3.137, 1: 0.595}


def warm_up(run, bs, train, val) -> None:
    """One untimed epoch of ``run(train, val)`` on a slice of the data with the same batch shapes
    (graph tracing in Keras, thread pools and allocators in torch)."""
    wt = 2 * bs + N_TRAIN % bs
    wv = bs + N_VAL % bs
    run((train[0][:wt], train[1][:wt]), (val[0][:wv], val[1][:wv]))


# --------------------------------------------------------------------------- nidslab


def nidslab_epoch(cfg, bs, train, val, threads):
    """A function that runs and times one nidslab epoch (the whole ``fit`` call), after a warm-up."""
    import torch

    from nidslab.model import ModelSpec, build_model
    from nidslab.train import fit

    n_layers, n_nodes, act, bn, dropout, opt, cw = cfg
    spec = ModelSpec(n_layers=n_layers, n_nodes=n_nodes, activation=act, batch_norm=bn, dropout=dropout)
    torch.manual_seed(0)
    model = build_model(spec, N_INPUTS)

    def run(train, val):
        # The whole fit() call: input checks and tensor set-up included.
        t0 = time.perf_counter()
        fit(model, train, validation=val, optimizer=opt, lr=0.1, batch_size=bs, epochs=1,
            class_weight=CLASS_WEIGHT if cw else None, threads=threads, device="cpu")
        return time.perf_counter() - t0

    warm_up(run, bs, train, val)
    return lambda: run(train, val)


# --------------------------------------------------------------------------- plain PyTorch DataLoader


def dataloader_epoch(cfg, bs, train, val, threads):
    """The textbook loop: TensorDataset + DataLoader(shuffle=True), nn.Sequential, BCELoss on sigmoid."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(threads)
    n_layers, n_nodes, act, bn, dropout, opt, cw = cfg
    layers, width = [], N_INPUTS
    for _ in range(n_layers):
        layers += [nn.Linear(width, n_nodes), nn.Sigmoid() if act == "sigmoid" else nn.ReLU()]
        if bn:
            layers.append(nn.BatchNorm1d(n_nodes, eps=1e-3, momentum=0.01))
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = n_nodes
    model = nn.Sequential(*layers, nn.Linear(width, 1), nn.Sigmoid())
    optim = torch.optim.Adam(model.parameters(), lr=0.1) if opt == "adam" else torch.optim.SGD(model.parameters(), lr=0.1)
    w = torch.tensor([CLASS_WEIGHT[0], CLASS_WEIGHT[1]]) if cw else None

    def run(train, val):
        t0 = time.perf_counter()
        Xt, yt = torch.from_numpy(train[0]), torch.from_numpy(train[1].astype(np.float32))
        Xv, yv = torch.from_numpy(val[0]), torch.from_numpy(val[1].astype(np.float32))
        loader = DataLoader(TensorDataset(Xt, yt), batch_size=bs, shuffle=True)
        val_loader = DataLoader(TensorDataset(Xv, yv), batch_size=bs)
        model.train()
        for xb, yb in loader:
            p = model(xb).squeeze(1)
            loss = nn.functional.binary_cross_entropy(p, yb, weight=None if w is None else w[yb.long()])
            optim.zero_grad()
            loss.backward()
            optim.step()
        model.eval()
        with torch.no_grad():
            for xb, yb in val_loader:
                p = model(xb).squeeze(1)
                nn.functional.binary_cross_entropy(p, yb).item()
        return time.perf_counter() - t0

    warm_up(run, bs, train, val)
    return lambda: run(train, val)


# --------------------------------------------------------------------------- Keras: the seed's build_DNN


def keras_available() -> bool:
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def build_DNN(input_shape, n_layers=2, n_nodes=20, act_fun="sigmoid", optimizer="sgd", learning_rate=0.1,
              use_bn=False, use_dropout=False, use_custom_dropout=False):
    """The lab's build_DNN (Part 9, with the BatchNormalization/Dropout/Adam additions of Parts 15-18)."""
    from keras.layers import Activation, BatchNormalization, Dense, Dropout, Input
    from keras.models import Sequential
    from keras.optimizers import SGD, Adam

    if optimizer == "sgd":
        optimizer = SGD(learning_rate=learning_rate)
    elif optimizer == "adam":
        optimizer = Adam(learning_rate=learning_rate)
    model = Sequential()
    model.add(Input(shape=(input_shape[1],)))
    for _ in range(n_layers):
        if not use_bn:
            model.add(Dense(n_nodes, activation=act_fun))
        else:
            model.add(Dense(n_nodes))
            model.add(Activation(act_fun))
            model.add(BatchNormalization())
        if use_dropout:
            model.add(Dropout(rate=use_dropout if 0 < use_dropout < 1 else 0.5))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


def keras_epoch(cfg, bs, train, val, threads):
    n_layers, n_nodes, act, bn, dropout, opt, cw = cfg
    model = build_DNN((None, N_INPUTS), n_layers=n_layers, n_nodes=n_nodes, act_fun=act, optimizer=opt,
                      use_bn=bn, use_dropout=dropout or False)

    def run(train, val):
        t0 = time.perf_counter()
        model.fit(train[0], train[1], epochs=1, batch_size=bs, validation_data=val, verbose=0,
                  class_weight=CLASS_WEIGHT if cw else None)
        return time.perf_counter() - t0

    warm_up(run, bs, train, val)
    return lambda: run(train, val)


# --------------------------------------------------------------------------- matmul bound


def gemm_seconds(threads: int):
    """A function that times three 2048 x 2048 fp32 ``torch.mm`` calls (the CPU's GEMM throughput)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.mm(a, b)
    return lambda: min(_timed(lambda: torch.mm(a, b)) for _ in range(3))


def alternate(runners: dict, repeats: int) -> dict:
    """Best time of each runner over ``repeats`` rounds, the runners taking turns within a round, so a
    slow spell of a shared machine falls on every side of a ratio alike."""
    best = {k: float("inf") for k in runners}
    for _ in range(repeats):
        for k, run in runners.items():
            best[k] = min(best[k], run())
    return best


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def epoch_matmul_flops(cfg) -> float:
    """Multiply-adds x 2 of one epoch's Dense layers: forward on train and validation rows, and
    backward on train rows (weight gradients everywhere, input gradients except for the first layer)."""
    n_layers, n_nodes = cfg[0], cfg[1]
    shapes = [(N_INPUTS, n_nodes)] + [(n_nodes, n_nodes)] * (n_layers - 1) + [(n_nodes, 1)]
    per_row_fwd = sum(i * o for i, o in shapes)
    per_row_bwd = per_row_fwd + sum(i * o for i, o in shapes[1:])
    return 2.0 * (N_TRAIN * (per_row_fwd + per_row_bwd) + N_VAL * per_row_fwd)


def matmuls_epoch(cfg, bs: int, threads: int):
    """Wall time of one epoch's matrix multiplications alone, run with the epoch's own shapes.

    The same ``torch.mm`` calls a training epoch makes and nothing else: per batch of ``bs`` rows the
    forward product of every Dense layer, then the weight gradient of every layer and the input
    gradient of every layer but the first; then the forward products of the validation rows in
    nidslab's inference batches. Inputs are contiguous row blocks (no shuffle gather), outputs go to
    buffers allocated once. The product with the 1-wide output layer's gradient (an outer product,
    inner dimension 1) is a broadcast multiply, as nidslab does it: ``torch.mm`` takes 2-3x longer.
    Returns a function that runs and times one such epoch, after a warm-up.
    """
    import torch

    from nidslab.model import EVAL_BATCH

    torch.set_num_threads(threads)
    widths = [N_INPUTS] + [cfg[1]] * cfg[0] + [1]
    rows = max(bs, EVAL_BATCH)
    gen = torch.Generator().manual_seed(0)
    acts = [torch.randn(rows, w, generator=gen) for w in widths]  # acts[i]: input of layer i (acts[-1]: output)
    grads = [torch.randn(rows, w, generator=gen) for w in widths]
    W = [torch.randn(o, i, generator=gen) for i, o in zip(widths, widths[1:])]
    dW = [torch.empty_like(w) for w in W]

    def epoch() -> float:
        t0 = time.perf_counter()
        for start in range(0, N_TRAIN, bs):
            m = min(bs, N_TRAIN - start)
            for i, w in enumerate(W):
                torch.mm(acts[i][:m], w.t(), out=acts[i + 1][:m])
            for i in range(len(W) - 1, -1, -1):
                torch.mm(grads[i + 1][:m].t(), acts[i][:m], out=dW[i])
                if i and W[i].shape[0] == 1:
                    torch.mul(grads[i + 1][:m], W[i], out=grads[i][:m])
                elif i:
                    torch.mm(grads[i + 1][:m], W[i], out=grads[i][:m])
        for start in range(0, N_VAL, EVAL_BATCH):
            m = min(EVAL_BATCH, N_VAL - start)
            for i, w in enumerate(W):
                torch.mm(acts[i][:m], w.t(), out=acts[i + 1][:m])
        return time.perf_counter() - t0

    epoch()
    return epoch


def passes_epoch(cfg, bs: int, threads: int) -> dict:
    """Two more parts of the floor, each timed alone with the epoch's own shapes (``--floor``):

    ``gather``: the shuffle's row gathers of one epoch (``randperm`` and ``index_select`` of every
    training row's 92 features and label into a reused batch buffer): the table's memory traffic.
    ``elementwise``: the passes over the batch every implementation of the layer needs besides its
    matmuls: the activation forward and backward per hidden layer, BatchNorm's forward kernel and its
    backward's per-element passes, dropout masks drawn and applied forward and backward, the loss and
    its gradient, and the validation rows' activations (and BatchNorm) in inference batches.
    Returns runners that time one epoch of each.
    """
    import torch
    from torch.nn import functional as F

    from nidslab.model import EVAL_BATCH, dropout_mask

    torch.set_num_threads(threads)
    n_layers, n_nodes, act, bn, p = cfg[0], cfg[1], cfg[2], cfg[3], cfg[4]
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(N_TRAIN, N_INPUTS, generator=gen)
    y = torch.rand(N_TRAIN, generator=gen)
    xb, yb = torch.empty(bs, N_INPUTS), torch.empty(bs)
    rows = max(bs, EVAL_BATCH)
    z, g, o = torch.randn(rows, n_nodes, generator=gen), torch.randn(rows, n_nodes, generator=gen), torch.empty(rows, n_nodes)
    w, mean, var = torch.ones(n_nodes), torch.zeros(n_nodes), torch.ones(n_nodes)
    logit, target, go = torch.randn(rows, generator=gen), (torch.rand(rows, generator=gen) > 0.5).float(), torch.empty(rows)
    fwd = {"sigmoid": torch.sigmoid, "relu": lambda z, out: torch.clamp_min(z, 0.0, out=out)}[act]
    bwd = {"sigmoid": lambda g, s: torch.ops.aten.sigmoid_backward.grad_input(g, s, grad_input=g),
           "relu": lambda g, s: torch.ops.aten.threshold_backward.grad_input(g, s, 0, grad_input=g)}[act]

    def gather() -> float:
        t0 = time.perf_counter()
        perm = torch.randperm(N_TRAIN)
        for start in range(0, N_TRAIN, bs):
            idx = perm[start:start + bs]
            m = len(idx)
            torch.index_select(X, 0, idx, out=xb[:m])
            torch.index_select(y, 0, idx, out=yb[:m])
        return time.perf_counter() - t0

    def layer_passes(m: int, train: bool) -> None:
        zm, gm, om = z[:m], g[:m], o[:m]
        for _ in range(n_layers):
            fwd(zm, out=om)
            if bn:
                torch.batch_norm(om, w, w, mean, var, train, 0.01, 1e-3, False)
            if train and p:
                mask = dropout_mask((m, n_nodes), p)
                om.mul_(mask)
                gm.mul_(mask)
            if train:
                if bn:  # the backward's per-element passes: ds = du * a + s * k + q, and sum(du * s)
                    torch.addcmul(w, om, w, out=gm).addcmul_(gm, w)
                    torch.mul(gm, om, out=om).sum(0)
                bwd(gm, om)

    def elementwise() -> float:
        t0 = time.perf_counter()
        for start in range(0, N_TRAIN, bs):
            m = min(bs, N_TRAIN - start)
            layer_passes(m, True)
            F.binary_cross_entropy_with_logits(logit[:m], target[:m])
            torch.sigmoid(logit[:m], out=go[:m]).sub_(target[:m]).mul_(1.0 / m)
        for start in range(0, N_VAL, EVAL_BATCH):
            layer_passes(min(EVAL_BATCH, N_VAL - start), False)
        return time.perf_counter() - t0

    gather()
    elementwise()
    return {"gather": gather, "elementwise": elementwise}


# --------------------------------------------------------------------------- stacked networks (nidslab.stacked)


STACKED_CONFIGS, STACKED_KS = ("2x20", "4x50"), (1, 10, 32)


def stacked_runners(cfg, k: int, train, threads: int, own: bool) -> dict:
    """Runners of one epoch of k networks of ``cfg`` on the training rows (network i leaves out rows
    ``i::k``, as a fold), timing seconds per network-epoch: shared batches, own batches, and one alone."""
    from nidslab.model import ModelSpec, build_model
    from nidslab.settings import FitConfig
    from nidslab.stacked import fit_shared, fit_stacked
    from nidslab.train import fit

    n_layers, n_nodes, act, bn, dropout, opt, cw = cfg
    spec = ModelSpec(n_layers=n_layers, n_nodes=n_nodes, activation=act, batch_norm=bn, dropout=dropout)
    conf = FitConfig(optimizer=opt, lr=0.1, batch_size=10_000, epochs=1, class_weight=CLASS_WEIGHT if cw else None,
                     threads=threads, device="cpu")
    X, y = train
    fold = np.arange(len(y)) % k
    members = np.stack([fold != i for i in range(k)]) if k > 1 else np.ones((1, len(y)), dtype=bool)
    own_rows = [(X[m], y[m]) for m in members[:1]] * k  # the same arrays for each: memory stays one copy
    models = [build_model(spec, N_INPUTS, seed=i) for i in range(k)]
    alone = build_model(spec, N_INPUTS, seed=0)
    small = slice(0, 25_000)
    fit_shared(models, X[small], y[small], members[:, small], conf)  # warm-up
    fit(alone, (own_rows[0][0][small], own_rows[0][1][small]), None, conf)
    runners = {"alone": lambda: _timed(lambda: fit(alone, own_rows[0], None, conf)),
               "shared": lambda: _timed(lambda: fit_shared(models, X, y, members, conf)) / k}
    if own:
        runners["own"] = lambda: _timed(lambda: fit_stacked(models, own_rows, None, conf)) / k
    return runners


def stacked_table(train, threads: int, repeats: int, configs=STACKED_CONFIGS, ks=STACKED_KS) -> list[tuple]:
    header = ("config", "k", "alone s", "shared s/net", "own s/net", "alone / shared", "alone / own")
    print("\nstacked networks: seconds per network-epoch (" + " | ".join(header) + ")", flush=True)
    rows = []
    for name in configs:
        for k in ks:
            t = alternate(stacked_runners(CONFIGS[name], k, train, threads, own=k <= 10), repeats)
            own = t.get("own")
            row = (name, str(k), f"{t['alone']:.3f}", f"{t['shared']:.3f}", _f(own, ".3f"),
                   f"{t['alone'] / t['shared']:.2f}", _f(own and t["alone"] / own, ".2f"))
            rows.append(row)
            print(" | ".join(row), flush=True)
    return [header, *rows]


def cv_comparison(threads: int) -> None:
    """The study's 10-fold CV of the 2x20 on the default dataset: one fold at a time vs stacked (shared)."""
    from nidslab.data import open_dataset
    from nidslab.data.prep import kfold
    from nidslab.settings import FitConfig, ModelSpec
    from nidslab.stacked import cross_validate

    ds = open_dataset("default")
    X, y = ds.columns("lab"), np.asarray(ds.y)
    splits = list(kfold(y, n_splits=10, seed=1234))
    conf = FitConfig(class_weight="balanced", epochs=20, seed=0, threads=threads, device="cpu")
    print(f"\n10-fold CV of 2x20 on {ds.name} ({len(y):,} rows), {threads} threads", flush=True)
    acc = {}
    for mode in ("single", "shared"):
        t0 = time.perf_counter()
        res = cross_validate(X, y, splits, ModelSpec(), conf, mode=mode)
        seconds = time.perf_counter() - t0
        a = np.array([r["test"]["accuracy"] for r in res])
        acc[mode] = a
        print(f"{mode:>6}: {seconds:6.1f} s  accuracy mean {a.mean():.5f} sd {a.std():.5f}  per fold "
              + " ".join(f"{v:.4f}" for v in a), flush=True)
    d = acc["shared"] - acc["single"]
    print(f"shared - single per fold: mean {d.mean():+.5f}, max |diff| {np.abs(d).max():.5f}; "
          f"folds' sd (single) {acc['single'].std():.5f}", flush=True)


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names from: " + ", ".join(CONFIGS))
    ap.add_argument("--batch-sizes", default="10000,1000,100")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--skip", default="", help="comma-separated: keras, dataloader")
    ap.add_argument("--markdown", help="also write the table to this markdown file")
    ap.add_argument("--quick", action="store_true",
                    help="2x20 and 4x50 at batch 10,000, nidslab only, best of 3; with --stacked: 2x20 at k = 10 only")
    ap.add_argument("--floor", action="store_true",
                    help="also time the epoch's row gathers and elementwise passes alone; floor = those + matmuls timed")
    ap.add_argument("--stacked", action="store_true", help="add the stacked rows (k = 1, 10, 32 of 2x20 and 4x50)")
    ap.add_argument("--stacked-configs", default=",".join(STACKED_CONFIGS),
                    help="the stacked rows' configs (names as --configs), e.g. '2x20 BN'")
    ap.add_argument("--stacked-ks", default=",".join(map(str, STACKED_KS)), help="the stacked rows' k, e.g. 1,3,10")
    ap.add_argument("--stacked-only", action="store_true", help="only the stacked rows")
    ap.add_argument("--cv", action="store_true", help="only the 10-fold CV comparison on the default dataset")
    args = ap.parse_args()
    if args.quick:
        args.configs, args.batch_sizes, args.skip, args.repeats = "2x20,4x50", "10000", "keras,dataloader", 3
        args.floor = True
    if args.cv:
        cv_comparison(args.threads)
        return

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import torch

    torch.set_num_threads(args.threads)
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    have_keras = keras_available() and "keras" not in skip
    if have_keras:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        keras_version = tf.__version__
    else:
        keras_version = None
        print("TensorFlow not importable here: the Keras column is left empty", file=sys.stderr)

    train, val = data()
    if args.stacked_only:
        names = []
    print(f"CPU: {platform.processor() or platform.machine()}, {args.threads} threads; torch {torch.__version__}; "
          f"tensorflow {keras_version}")
    header = ("config", "batch", "nidslab s", "Keras s", "DataLoader s", "Keras / nidslab", "DataLoader / nidslab",
              "GEMM GFLOP/s", "matmuls at peak s", "nidslab / peak", "matmuls timed s", "nidslab / timed")
    if args.floor:
        header += ("gather s", "elementwise s", "floor s", "nidslab / floor")
    rows = []
    print(" | ".join(header), flush=True)
    for name in names:
        cfg = CONFIGS[name]
        for bs in sizes:
            runners = {"ours": nidslab_epoch(cfg, bs, train, val, args.threads),
                       "timed": matmuls_epoch(cfg, bs, args.threads), "gemm": gemm_seconds(args.threads)}
            if args.floor:
                runners.update(passes_epoch(cfg, bs, args.threads))
            if have_keras:
                runners["keras"] = keras_epoch(cfg, bs, train, val, args.threads)
            if "dataloader" not in skip:
                runners["dataloader"] = dataloader_epoch(cfg, bs, train, val, args.threads)
            t = alternate(runners, args.repeats)
            ours, timed, keras, dl = t["ours"], t["timed"], t.get("keras"), t.get("dataloader")
            gflops = 2 * 2048**3 / t["gemm"] / 1e9
            peak = epoch_matmul_flops(cfg) / (gflops * 1e9)
            row = (name, f"{bs:,}", f"{ours:.3f}", _f(keras, ".2f"), _f(dl, ".2f"), _f(keras and keras / ours, ".1f"),
                   _f(dl and dl / ours, ".1f"), f"{gflops:.0f}", f"{peak:.3f}", f"{ours / peak:.2f}",
                   f"{timed:.3f}", f"{ours / timed:.2f}")
            if args.floor:
                floor = timed + t["gather"] + t["elementwise"]
                row += (f"{t['gather']:.3f}", f"{t['elementwise']:.3f}", f"{floor:.3f}", f"{ours / floor:.2f}")
            rows.append(row)
            print(" | ".join(row), flush=True)
            if args.markdown:  # rewritten after every row, so a cut-short run keeps what it measured
                lines = [f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
                lines += [f"| {' | '.join(r)} |" for r in rows]
                with open(args.markdown, "w") as fh:
                    fh.write(f"{args.threads} threads, torch {torch.__version__}, tensorflow {keras_version}\n\n"
                             + "\n".join(lines) + "\n")
    if args.stacked or args.stacked_only:
        configs = tuple(c.strip() for c in args.stacked_configs.split(","))
        unknown = [c for c in configs if c not in CONFIGS]
        if unknown:
            raise SystemExit(f"--stacked-configs: unknown {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
        ks = tuple(int(k) for k in args.stacked_ks.split(","))
        table = stacked_table(train, args.threads, args.repeats, ("2x20",) if args.quick else configs,
                              (10,) if args.quick else ks)
        if args.markdown:
            with open(args.markdown, "a") as fh:
                fh.write("\nStacked networks, seconds per network-epoch:\n\n" + f"| {' | '.join(table[0])} |\n"
                         + "|" + "---|" * len(table[0]) + "\n" + "".join(f"| {' | '.join(r)} |\n" for r in table[1:]))


def _f(v, fmt: str) -> str:
    return "" if v is None else format(v, fmt)


if __name__ == "__main__":
    main()
