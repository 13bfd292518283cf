"""A simulated IoT camera LAN with a Mirai outbreak, written as a libpcap capture.

>>> from nidslab.simulate import simulate_capture
>>> sim = simulate_capture("capture.pcap", packets=20_000, seed=0)   # doctest: +SKIP
>>> sim.labels_truth.mean(), sim.onset_index                         # doctest: +SKIP

The benign LAN mirrors the real Kitsune Mirai sample (:mod:`.network`); the outbreak follows
the Mirai source (:mod:`.mirai`); packets are generated as NumPy columns and assembled into
frames in bulk (:mod:`.pcapgen`). :mod:`.compare` measures how close the benign phase is to a
real capture. Parameters and their sources: :class:`SimConfig` (:mod:`.config`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nidslab.progress import Progress
from nidslab.simulate import mirai, network
from nidslab.simulate import pcapgen as pg
from nidslab.simulate.config import FULL_ONSET, FULL_PACKETS, SimConfig

__all__ = ["FULL_ONSET", "FULL_PACKETS", "SimConfig", "Simulation", "simulate_capture", "simulate_table"]

BENIGN_PPS = 28.2  # [sample] packets per second of the real LAN (2,000 in 71 s)


@dataclass
class Simulation:
    """A simulated capture and its labels.

    ``labels_truth``: uint8 (n_packets,), 1 for packets of the malicious activity (scans,
    logins, loader, CNC, flood, and the answers and ICMP errors they cause);
    ``labels_kitsune``: uint8 (n_packets,), 0 before ``onset_index`` and 1 from it on (the
    Kitsune convention); ``phases``: (name, start s, end s, first packet index), times in
    seconds since the epoch, in order of start; the index is that of the first malicious packet at
    or after the start (phases overlap: scanning goes on throughout).
    """

    path: Path
    n_packets: int
    labels_truth: np.ndarray
    labels_kitsune: np.ndarray
    onset_index: int
    phases: list
    config: SimConfig
    seed: int = 0
    start_time: float = 0.0
    end_time: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-able summary (for a dataset's meta.json): no per-packet arrays."""
        return {
            "path": str(self.path),
            "n_packets": int(self.n_packets),
            "seed": int(self.seed),
            "onset_index": int(self.onset_index),
            "malicious_truth": int(self.labels_truth.sum()),
            "malicious_kitsune": int(self.labels_kitsune.sum()),
            "start_time": float(self.start_time),
            "end_time": float(self.end_time),
            "phases": [
                {"name": n, "start": float(a), "end": float(b), "first_packet": int(i)} for n, a, b, i in self.phases
            ],
            "config": self.config.to_dict(),
            **self.extra,
        }


def onset_for(packets: int) -> int:
    """Index of the first malicious packet: the real capture's share (121,621 of 764,137)."""
    return int(round(packets * FULL_ONSET / FULL_PACKETS))


def _attack_horizon(cfg: SimConfig, budget: int, scale: float) -> float:
    """Seconds after the onset the outbreak (plus background) needs to fill ``budget`` packets, estimated."""
    t = np.arange(0, 200_000, 1.0)
    bots = np.zeros_like(t)
    for k in range(cfg.n_vulnerable):
        bots += t >= cfg.infection_times_s[k] * scale + 25.0
    rate = BENIGN_PPS + cfg.scan_pps * 1.03 * (1 + bots)
    f0 = cfg.flood_start_s * scale
    rate += ((t >= f0) & (t < f0 + cfg.flood_duration_s * scale)) * cfg.flood_pps * bots * 1.05
    total = np.cumsum(rate)
    i = int(np.searchsorted(total, budget))
    return float(t[min(i, len(t) - 1)] + 2.0)


def _merge(cfg: SimConfig, seed: int, benign: dict, is_err: np.ndarray, onset: int, attack: dict) -> dict:
    """Benign rows (sorted) and outbreak rows in one table with the gateway's ICMP errors for both.

    The gateway rate-limits its errors per LAN host whatever caused them, so errors after the
    onset are recomputed over benign and outbreak packets together; errors for packets before
    the onset are kept as they were (the token bucket is causal), so the first ``onset`` rows do
    not change. Adds a ``_rank`` column for tie-breaking the final sort: 0 benign before the
    onset, 1 outbreak, 2 benign after.
    """
    raw_rows = np.flatnonzero(~is_err)
    both = pg.concat([pg.take(benign, raw_rows), attack])
    errs = network.gateway_unreachables(cfg, both, seed + 1_000_003)
    q = errs["quote"]
    from_benign = q < len(raw_rows)
    b_index = np.where(from_benign, raw_rows[np.minimum(q, len(raw_rows) - 1)] if len(raw_rows) else 0, -1)
    new = np.flatnonzero(~from_benign | (b_index >= onset))  # errors for packets after the onset
    keep_b = np.flatnonzero(~is_err | (benign["quote"] < onset))  # drop the old post-onset errors
    pos = np.full(len(benign["t"]), -1, np.int64)
    pos[keep_b] = np.arange(len(keep_b))
    benign = pg.take(benign, keep_b)
    errs = {k: v[new] for k, v in errs.items()}  # quotes point into `both`: re-mapped below
    nb, na = len(benign["t"]), len(attack["t"])
    q, fb = errs["quote"], from_benign[new]
    quote = np.where(fb, pos[np.maximum(b_index[new], 0)], nb + q - len(raw_rows))
    out = pg.concat([benign, attack, errs])
    out["quote"][nb + na:] = quote
    rank_b = np.where(np.arange(nb) < onset, 0, 2)
    out["_rank"] = np.concatenate([rank_b, np.ones(na, np.int64), np.where(fb, 2, 1)])
    return out


def simulate_table(packets: int = FULL_PACKETS, *, seed: int = 0, config: SimConfig | None = None,
                   progress: Progress | None = None):
    """The simulated packets as a sorted column table (see :mod:`.pcapgen`), without writing.

    Returns (table, onset_index, phases). Deterministic for a seed.
    """
    cfg = config or SimConfig()
    cfg.validate()
    packets = int(packets)
    if packets < 1:
        raise ValueError(f"packets must be >= 1, got {packets}")
    scale = packets / FULL_PACKETS
    onset = onset_for(packets)
    t0 = cfg.start_epoch
    h_att = _attack_horizon(cfg, packets - onset, scale) * 1.1
    t_pre = onset / BENIGN_PPS * 1.15 + 5.0
    for _attempt in range(12):
        if progress:
            progress(0, 4, "benign traffic")
        raw = network.benign_traffic(cfg, seed, t0, t0 + t_pre + h_att)
        benign = network.with_unreachables(cfg, raw, seed)
        is_err = np.arange(len(benign["t"])) >= len(raw["t"])  # the gateway's ICMP errors
        order = np.argsort(benign["t"], kind="stable")
        benign, is_err = pg.take(benign, order), is_err[order]
        bt = benign["t"]
        if len(bt) <= onset:
            t_pre *= 1.4
            continue
        t_on = t0 if onset == 0 else float(bt[onset - 1] + (bt[onset] - bt[onset - 1]) / 2)
        if t_on > t0 + t_pre:
            t_pre *= 1.4
            continue
        if progress:
            progress(1, 4, "Mirai outbreak")
        attack = mirai.outbreak(cfg, seed, t_on, h_att, scale)
        n_keep = int(np.searchsorted(bt, t_on + h_att))  # benign rows inside the horizon (a prefix)
        if n_keep + len(attack.table["t"]) < packets:  # horizon too short: stretch it
            h_att *= 1.5
            continue
        benign, is_err = pg.take(benign, np.arange(n_keep)), is_err[:n_keep]
        tab = _merge(cfg, seed, benign, is_err, onset, attack.table)
        order = np.lexsort((tab.pop("_rank"), tab["t"]))[:packets]
        tab = pg.take(tab, order)
        ts = tab["t"]
        last = float(ts[-1])
        phases = [("benign", t0, t_on, 0)]
        mal = np.flatnonzero(tab["label"] == 1)  # a phase starts at its first malicious packet
        for name, a, b in attack.phases:
            k = int(np.searchsorted(ts[mal], a))
            if a <= last and k < len(mal):
                phases.append((name, float(a), float(min(b, last)), int(mal[k])))
        phases[1:] = sorted(phases[1:], key=lambda p: p[1])
        phases[0] = ("benign", float(ts[0]), t_on, 0)
        return tab, onset, phases
    from nidslab.errors import ConfigError

    raise ConfigError(  # pragma: no cover - only for configs with (near) zero rates
        f"simulation could not fill {packets:,} packets within its time horizon; check the config's rates"
    )


#: Memory the generation holds per packet at its peak, bytes (measured: peak RSS 381 MB, 889 MB and 1,573 MB for
#: 0.5, 2 and 4 million packets, 339-342 bytes a packet over ~170 MB for Python and the libraries); the frames
#: are written in pieces of :data:`WRITE_ROWS` rows, so writing adds no memory that grows with ``packets``.
BYTES_PER_PACKET = 340
WRITE_ROWS = 1 << 16
RECORD_MIN = 16 + pg.ETH_MIN  # the smallest record a packet takes in the file: its header and a padded frame


def _memory_limit() -> tuple[int, str]:
    """The most memory this process may hold, bytes, and what sets it (the machine or a resource limit)."""
    import resource

    best = (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine has")
    for name in ("RLIMIT_AS", "RLIMIT_DATA"):
        soft = resource.getrlimit(getattr(resource, name))[0]
        if soft != resource.RLIM_INFINITY and soft < best[0]:
            best = (soft, f"this process may use ({name})")
    return best


def check_size(path: str | os.PathLike, packets: int) -> None:
    """Refuse (:class:`~nidslab.errors.ConfigError`, one line) a capture that cannot be made here: ``packets``
    needing more memory than the machine (or the process's resource limit) allows, or more disk than the output
    folder has free even at the smallest record of every packet; and a ``path`` that is a folder."""
    from nidslab.errors import ConfigError, DataError

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give the path of the capture file to write (e.g. {path / 'sim.pcap'})")
    need = packets * BYTES_PER_PACKET
    limit, who = _memory_limit()
    if need > limit:
        raise ConfigError(f"--packets {packets:,}: simulating needs about {_gib(need)} of memory ({BYTES_PER_PACKET} "
                          f"bytes a packet); {who} {_gib(limit)}. Use at most {limit // BYTES_PER_PACKET:,} packets")
    import shutil

    folder = next((p for p in [path.parent, *path.parent.parents] if p.is_dir()), Path("."))
    free = shutil.disk_usage(folder).free
    if packets * RECORD_MIN > free:
        raise ConfigError(f"--packets {packets:,}: the capture needs at least {_gib(packets * RECORD_MIN)} on disk "
                          f"({RECORD_MIN} bytes a packet or more); {folder} has {_gib(free)} free")


def _gib(n: float) -> str:
    """Bytes in the largest binary unit that keeps the number at 1 or more (MiB, GiB, TiB, ...)."""
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024:
            return f"{n:,.1f} {unit}"
    return f"{n / 1024:,.1f} PiB"


def simulate_capture(
    path: str | os.PathLike,
    *,
    packets: int = FULL_PACKETS,
    seed: int = 0,
    config: SimConfig | None = None,
    progress: Progress | None = None,
) -> Simulation:
    """Simulate the camera LAN and its Mirai outbreak; write ``packets`` packets to ``path``.

    ``path``: libpcap file (Ethernet, microsecond timestamps), written atomically, in pieces of
    :data:`WRITE_ROWS` packets (the same bytes as one :func:`.pcapgen.assemble`).
    ``packets``: exact number of packets; the first ``round(packets * 121_621 / 764_137)``
    are benign background, the outbreak starts at that index. ``seed``: same seed, same bytes.
    A size this machine cannot hold is refused up front (:func:`check_size`).
    ``progress(done, total, message)`` is called between the stages. Returns a
    :class:`Simulation` with per-packet labels and the phase timeline.
    """
    from nidslab.paths import atomic_write

    cfg = config or SimConfig()
    check_size(path, int(packets))
    tab, onset, phases = simulate_table(packets, seed=seed, config=cfg, progress=progress)
    n = len(tab["t"])
    with atomic_write(path) as fh:
        for i, piece in enumerate(pg.assemble_chunks(tab, rows=WRITE_ROWS)):
            if progress:
                progress(min(n, i * WRITE_ROWS), n, "writing frames")
            fh.write(memoryview(piece))
    if progress:
        progress(n, n, "done")
    kitsune = np.zeros(n, np.uint8)
    kitsune[onset:] = 1
    return Simulation(
        path=Path(path), n_packets=n, labels_truth=tab["label"].astype(np.uint8), labels_kitsune=kitsune,
        onset_index=onset, phases=phases, config=cfg, seed=seed, start_time=float(tab["t"][0]),
        end_time=float(tab["t"][-1]),
    )
