"""``mirai-sim-family``: many simulated networks in one dataset, for training and testing across networks.

Each network ``1..N`` of the population (:mod:`nidslab.simulate.population`) is simulated
(:func:`nidslab.simulate.networks.simulate_network`) and run through nidslab's feature extractor (uci
layout), one task per network through an executor (:mod:`nidslab.cluster`: here, or spread over a Ray
cluster). The networks' rows are stacked in network order into one cached dataset:

    features.npy           float32 (rows, 115)
    labels.npy             uint8, the Kitsune time cut per network (1 from its first malicious packet on)
    labels-truth.npy       uint8, packet truth: 1 for packets of the malicious activity
    rows-network.npy       int32, the network id of each row
    rows-phase.npy         uint8, the attack phase (0 benign, 1 scan, 2 bruteforce, 3 loader, 4 propagation, 5 flood)
    rows-host.npy          int16, the sending host's index in that network's host table (-1 unknown, -2 Internet)
    rows-time.npy          float64, capture time (s since the epoch)
    captures/net-0007.pcap the capture of each network (unless built with captures=False)
    meta.json              meta["extra"]["networks"]: per network its rows, drawn spec, hosts, phases

Library API (for studies)::

    fam = open_family("mirai-sim-family")          # or build_family(24, benign_s=7200, ...)
    fam.networks                                    # [1, 2, ...]
    net = fam.network(3)                            # .X .truth .kitsune .phase .host .time .hosts .meta
    split = fam.split(test=4, validation=3, seed=0) # NetworkSplit: rows and networks, disjoint by network
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from nidslab.data.datasets import Dataset, _open_dir, dataset_dir, write_dataset
from nidslab.data.prep import NetworkSplit, network_split
from nidslab.errors import CacheError, DataError
from nidslab.progress import Progress

FAMILY = "mirai-sim-family"
#: bump when the population, the simulator or the extractor changes what a family holds
RECIPE = "2026-12-06b"
DEFAULT_NETWORKS = 24
DEFAULT_BENIGN_S = 600.0  # as nidslab.simulate.networks
DEFAULT_ATTACK_SCALE = 0.25


@dataclasses.dataclass
class FamilyNetwork:
    """One network's rows of a family (views into the memory-mapped arrays).

    ``X`` float32 (rows, 115); ``truth``, ``kitsune`` uint8 (rows,); ``phase`` uint8 (rows,) codes of
    ``PHASES``; ``host`` int16 (rows,) into ``hosts`` (-1 unknown, -2 Internet); ``time`` float64 (rows,)
    seconds since the epoch; ``onset_time``: the outbreak's start (s); ``meta``: its simulation summary.
    """

    network: int
    X: np.ndarray
    truth: np.ndarray
    kitsune: np.ndarray
    phase: np.ndarray
    host: np.ndarray
    time: np.ndarray
    hosts: list[dict]
    onset_time: float
    meta: dict

    @property
    def benign_s(self) -> float:
        """Seconds of benign-only traffic before the outbreak."""
        return float(self.meta["benign_s"])


class Family:
    """An opened ``mirai-sim-family`` dataset (see the module docstring)."""

    PHASES = ("benign", "scan", "bruteforce", "loader", "propagation", "flood")

    def __init__(self, dataset: Dataset) -> None:
        need = {"network", "phase", "host", "time"}
        if not need <= set(dataset.arrays) or "truth" not in dataset.labels:
            raise DataError(f"{dataset.path}: not a network family (needs per-row arrays {sorted(need)} and truth)")
        self.dataset = dataset
        self._nets = {int(d["network"]): d for d in dataset.meta.get("extra", {}).get("networks", [])}

    @property
    def networks(self) -> list[int]:
        """Network ids, in row order."""
        return sorted(self._nets, key=lambda n: self._nets[n]["rows"][0])

    def rows(self, network: int) -> slice:
        """The rows of ``network`` (contiguous)."""
        try:
            a, b = self._nets[int(network)]["rows"]
        except KeyError:
            raise DataError(f"{self.dataset.name}: no network {network}; it holds {self.networks}") from None
        return slice(int(a), int(b))

    def network(self, network: int) -> FamilyNetwork:
        """The arrays of one network."""
        s, d, ds = self.rows(network), self._nets[int(network)], self.dataset
        return FamilyNetwork(network=int(network), X=ds.X[s], truth=ds.labels["truth"][s], kitsune=ds.y[s],
                             phase=ds.arrays["phase"][s], host=ds.arrays["host"][s], time=ds.arrays["time"][s],
                             hosts=d.get("hosts", []), onset_time=float(d["onset_time"]), meta=d)

    def capture(self, network: int) -> Path:
        """Path of the network's capture (DataError when the family was built without captures)."""
        p = self.dataset.path / "captures" / f"net-{int(network):04d}.pcap"
        if not p.exists():
            raise DataError(f"{self.dataset.name}: no capture of network {network} (built with captures=False)")
        return p

    def split(self, *, test: float | int = 0.25, validation: float | int = 0.15, seed: int = 0) -> NetworkSplit:
        """Rows split by network (:func:`nidslab.data.prep.network_split`)."""
        return network_split(self.dataset.arrays["network"], test=test, validation=validation, seed=seed)

    def __repr__(self) -> str:
        return f"Family({self.dataset.name!r}: {len(self._nets)} networks, {self.dataset.n_rows:,} rows)"


def family_name(networks: int = DEFAULT_NETWORKS, *, first: int = 1, benign_s: float = DEFAULT_BENIGN_S,
                attack_scale: float = DEFAULT_ATTACK_SCALE, firmware_x: float = 1.0) -> str:
    """The cache name of a family: ``mirai-sim-family`` for the defaults, else with its parameters."""
    parts = [FAMILY]
    if networks != DEFAULT_NETWORKS or first != 1:
        parts.append(f"n{networks}" + (f"from{first}" if first != 1 else ""))
    if benign_s != DEFAULT_BENIGN_S:
        parts.append(f"b{benign_s:g}")
    if attack_scale != DEFAULT_ATTACK_SCALE:
        parts.append(f"a{attack_scale:g}")
    if firmware_x != 1:
        parts.append(f"fw{firmware_x:g}")
    return "-".join(parts)


def simulate_and_extract(network: int, benign_s: float, attack_scale: float, keep_capture: bool,
                         firmware_x: float = 1.0) -> dict[str, Any]:
    """One family task: simulate ``network``, extract its features (uci layout); arrays and summary back.

    Module-level so a Ray worker can run it; deterministic in its arguments (a retried task gives the same).
    """
    from nidslab.features import extract_features
    from nidslab.simulate.networks import simulate_network

    with tempfile.TemporaryDirectory(prefix="nidslab-family-") as tmp:
        pcap = Path(tmp) / f"net-{network:04d}.pcap"
        t0 = time.perf_counter()
        sim = simulate_network(pcap, network, benign_s=benign_s, attack_scale=attack_scale, firmware_x=firmware_x)
        t1 = time.perf_counter()
        X = extract_features(pcap, layout="uci")
        t2 = time.perf_counter()
        if len(X) != sim.n_packets:
            raise DataError(f"network {network}: {len(X):,} feature rows for {sim.n_packets:,} packets")
        capture = np.fromfile(pcap, np.uint8) if keep_capture else None
    summary = sim.to_dict()
    summary.update(simulate_s=round(t1 - t0, 3), extract_s=round(t2 - t1, 3))
    return {"network": network, "X": X, "truth": sim.truth, "phase": sim.phase, "host": sim.host, "time": sim.time,
            "kitsune": sim.kitsune, "summary": summary, "capture": capture}


def build_family(networks: int = DEFAULT_NETWORKS, *, first: int = 1, benign_s: float = DEFAULT_BENIGN_S,
                 attack_scale: float = DEFAULT_ATTACK_SCALE, firmware_x: float = 1.0, captures: bool = True,
                 executor: Any = None, name: str | None = None, progress: Progress | None = None) -> Family:
    """Simulate networks ``first .. first + networks - 1`` and cache them as one family dataset.

    ``benign_s``: seconds of benign traffic before each outbreak (the targets' held-out networks need
    7,200); ``attack_scale``: multiplies the outbreak's drawn times (< 1: shorter outbreaks, smaller
    datasets); ``firmware_x``: firmware downloads that many times as frequent (training augmentation,
    :func:`nidslab.simulate.population.with_firmware_x`); ``captures``: keep each network's capture in the
    dataset folder. ``executor``: a :mod:`nidslab.cluster` executor (default: this process); ``name``: the
    cache name or a folder (default :func:`family_name`). The build's parameters and timings go to
    ``meta.json``.
    """
    from nidslab.cluster import LocalExecutor

    if networks < 1 or first < 1:
        raise DataError(f"a family needs networks >= 1 starting at network >= 1, got {networks} from {first}")
    executor = executor or LocalExecutor()
    name = name or family_name(networks, first=first, benign_s=benign_s, attack_scale=attack_scale,
                               firmware_x=firmware_x)
    ids = list(range(first, first + networks))

    def report(done: int, total: int | None, message: str = "") -> None:
        if progress:
            progress(done, total, f"simulated {done} of {total} networks")

    start = time.perf_counter()
    results = executor.map(simulate_and_extract, ids, float(benign_s), float(attack_scale), bool(captures),
                           float(firmware_x), progress=report)
    build_s = time.perf_counter() - start
    sizes = [len(r["truth"]) for r in results]
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    nets = []
    for r, a, b in zip(results, bounds[:-1], bounds[1:]):
        d = r["summary"]
        d["rows"] = [int(a), int(b)]
        nets.append(d)
    stack = {k: np.concatenate([r[k] for r in results]) for k in ("X", "truth", "phase", "host", "time", "kitsune")}
    network = np.repeat(np.asarray(ids, np.int32), sizes)
    with tempfile.TemporaryDirectory(prefix="nidslab-family-captures-", dir=_staging_dir(name)) as tmp:
        attach = {}
        if captures:
            for r in results:
                p = Path(tmp) / f"net-{r['network']:04d}.pcap"
                r["capture"].tofile(p)
                attach[f"captures/{p.name}"] = p
        total = int(bounds[-1])
        build = {"networks": networks, "first": first, "benign_s": float(benign_s), "attack_scale": float(attack_scale),
                 "firmware_x": float(firmware_x),
                 "captures": bool(captures), "executor": executor.describe(), "seconds": round(build_s, 3),
                 "packets": total, "packets_per_s": round(total / build_s, 1) if build_s > 0 else None}
        ds = write_dataset(name, stack["X"], stack["kitsune"], labels={"truth": stack["truth"]},
                           arrays={"network": network, "phase": stack["phase"], "host": stack["host"],
                                   "time": stack["time"]},
                           attachments=attach,
                           sources=[{"kind": "simulation-family", "networks": ids, "benign_s": float(benign_s),
                                     "attack_scale": float(attack_scale), "firmware_x": float(firmware_x)}],
                           extra={"builtin": FAMILY, "recipe": RECIPE, "build": build, "networks": nets},
                           progress=progress)
    return Family(ds)


def _staging_dir(name: str) -> str | None:
    """Captures are staged beside the cache so moving them in is a rename, not a copy."""
    from nidslab.data.datasets import _is_pathlike

    parent = Path(name).parent if _is_pathlike(name) else dataset_dir(name).parent
    parent.mkdir(parents=True, exist_ok=True)
    return os.fspath(parent)


def open_family(name_or_path: str | os.PathLike = FAMILY, *, networks: int = DEFAULT_NETWORKS, first: int = 1,
                benign_s: float = DEFAULT_BENIGN_S, attack_scale: float = DEFAULT_ATTACK_SCALE,
                firmware_x: float = 1.0, executor: Any = None, progress: Progress | None = None) -> Family:
    """Open a cached family (a name or folder). ``"mirai-sim-family"`` with the keyword arguments names the
    family :func:`family_name` gives them (e.g. ``networks=4, first=25, benign_s=7200``: four held-out
    networks with 2 hours of benign traffic each); it is built on first use, or again when an older
    recipe made it."""
    from nidslab.data.datasets import _is_pathlike

    if _is_pathlike(name_or_path) or Path(name_or_path).is_dir():
        return Family(_open_dir(Path(name_or_path)))
    name = str(name_or_path)
    if name == FAMILY:
        name = family_name(networks, first=first, benign_s=benign_s, attack_scale=attack_scale,
                           firmware_x=firmware_x)
    folder = dataset_dir(name)
    if (folder / "meta.json").exists():
        try:
            ds = _open_dir(folder)
            if ds.meta.get("extra", {}).get("recipe") == RECIPE:
                return Family(ds)
        except CacheError:
            pass
    if not name.startswith(FAMILY):
        raise DataError(f"no network family named {name!r} in the cache; build one with "
                        "`nidslab data build mirai-sim-family --networks N`")
    return build_family(networks, first=first, benign_s=benign_s, attack_scale=attack_scale, firmware_x=firmware_x,
                        executor=executor, name=name, progress=progress)


__all__ = ["DEFAULT_NETWORKS", "FAMILY", "Family", "FamilyNetwork", "build_family", "family_name", "open_family",
           "simulate_and_extract"]
