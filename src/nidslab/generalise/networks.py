"""Networks as the generalisation experiments see them: per-packet features, times, truth and source host.

A :class:`Network` is one site: its 115 features per packet (the ``uci`` layout), packet times, packet
truth (1 = part of the malicious activity), the source host of each packet (an integer id, the source
MAC), the time of its first malicious packet (``onset_s``; ``inf`` for a benign-only site), and which
hosts are infected (sources of the outbreak's own connection attempts: scans, logins, floods).

Where networks come from:

- :func:`simulated_network`: one capture of :mod:`nidslab.simulate` drawn from a network seed, with the
  simulator's rates, sizes and outbreak settings varied per seed by :func:`varied_config` (a stand-in for
  the population of issue 20 until ``mirai-sim-family`` is built; see :func:`family_networks`).
- :func:`capture_network`: a real capture (benign unless labels are given).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nidslab.errors import DataError


@dataclass
class Network:
    """One site's traffic, per packet in capture order (n packets).

    ``X``: (n, 115) float32 features; ``ts``: (n,) float64 seconds; ``truth``: (n,) uint8;
    ``host``: (n,) int64 source-host id; ``onset_s``: time of the first malicious packet (inf if none);
    ``infected``: int64 ids of the infected hosts; ``meta``: JSON-able description (seed, config, ...);
    ``bot_start``: infected host id -> time of the first packet of its own attack traffic (its scanning
    once infected, or its flood), where the source knows the attack phase of each packet.
    """

    name: str
    X: np.ndarray
    ts: np.ndarray
    truth: np.ndarray
    host: np.ndarray
    onset_s: float = float("inf")
    infected: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    meta: dict = field(default_factory=dict)
    bot_start: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.X)
        for what in ("ts", "truth", "host"):
            if len(getattr(self, what)) != n:
                raise DataError(f"network {self.name}: {what} has {len(getattr(self, what))} rows, X has {n}")
        if self.X.ndim != 2:
            raise DataError(f"network {self.name}: X must be (rows, features), got shape {self.X.shape}")

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def benign_rows(self) -> int:
        """Rows before the first malicious packet (the benign-only prefix)."""
        return int(np.searchsorted(self.ts, self.onset_s, side="left"))

    @property
    def benign_seconds(self) -> float:
        """Seconds of benign-only traffic before the outbreak."""
        k = self.benign_rows
        return float(self.ts[k - 1] - self.ts[0]) if k > 1 else 0.0

    def rows(self, sl: slice) -> Network:
        """The packets in ``sl`` as a network of their own (same infected hosts)."""
        return replace(self, X=self.X[sl], ts=self.ts[sl], truth=self.truth[sl], host=self.host[sl])


def _infected_from_table(tab: dict) -> np.ndarray:
    """Hosts that open malicious connections: sources of malicious TCP SYNs (scans, logins, the loader)
    or of malicious UDP (floods). Hosts that only answer a scan (RST, SYN-ACK) or the gateway's ICMP
    errors about it are not infected."""
    from nidslab.simulate import pcapgen as pg

    mal = tab["label"] == 1
    syn = (tab["kind"] == pg.TCP) & ((tab["flags"] & pg.SYN) != 0) & ((tab["flags"] & pg.ACK) == 0)
    udp = tab["kind"] == pg.UDP
    return np.unique(tab["smac"][mal & (syn | udp)].astype(np.int64))


def varied_config(seed: int):
    """A :class:`~nidslab.simulate.SimConfig` whose LAN rates, sizes and outbreak differ per ``seed``.

    Seed 0 is the default configuration (the Kitsune-calibrated LAN). Other seeds scale each benign
    rate by a log-uniform factor in [1/3, 3], the video payload in [400, 1400] bytes, and draw the
    outbreak: scanner rate 80-400 SYN/s, 1-5 victims infected 20-400 s after the onset, flood vector
    udp/syn/ack at 100-800 packets/s with 64-1024 byte payloads. [assumed] ranges around the sample's
    values, wide enough that a model cannot learn one site's numbers; the population of issue 20
    replaces this with drawn device kinds.
    """
    from nidslab.simulate import SimConfig

    cfg = SimConfig()
    if seed == 0:
        return cfg
    rng = np.random.default_rng([20, int(seed)])

    def f():
        return float(np.exp(rng.uniform(np.log(1 / 3), np.log(3))))

    n_vuln = int(rng.integers(1, 6))
    times = tuple(float(t) for t in np.sort(rng.uniform(20.0, 400.0, n_vuln)))
    return replace(
        cfg,
        subnet=f"192.168.{int(rng.integers(0, 255))}.0",
        p2p_period_s=cfg.p2p_period_s * f(), p2p_on_mean_s=cfg.p2p_on_mean_s * f(),
        p2p_off_mean_s=cfg.p2p_off_mean_s * f(), cloud_tcp_attempts_per_s=cfg.cloud_tcp_attempts_per_s * f(),
        dns_period_s=cfg.dns_period_s * f(), samsung_dns_period_s=cfg.samsung_dns_period_s * f(),
        ping_period_s=cfg.ping_period_s * f(), arp_probe_period_s=cfg.arp_probe_period_s * f(),
        ssdp_period_s=cfg.ssdp_period_s * f(), ntp_period_s=cfg.ntp_period_s * f(),
        live_view_per_hour=cfg.live_view_per_hour * f() * 3, video_pps=cfg.video_pps * f(),
        video_payload=int(rng.integers(400, 1401)),
        scan_pps=int(rng.integers(80, 401)), scan_lan_share=float(rng.uniform(0.01, 0.05)),
        n_vulnerable=n_vuln, infection_times_s=times,
        flood_type=str(rng.choice(["udp", "syn", "ack"])), flood_pps=float(rng.uniform(100, 800)),
        flood_payload=int(rng.integers(64, 1025)),
    )


def _cache_dir() -> Path:
    from nidslab.paths import home

    return home() / "generalise"


def _benign_pps(cfg, seed: int) -> float:
    """Benign packets per second of a configuration, from 10 simulated minutes."""
    from nidslab.simulate import network as simnet

    t0 = cfg.start_epoch
    return max(len(simnet.benign_traffic(cfg, seed, t0, t0 + 600.0)["t"]) / 600.0, 1.0)


def simulated_network(seed: int, *, benign_s: float = 7200.0, flood_s: float = 60.0,
                      cache: bool = True) -> Network:
    """Simulate network ``seed`` (:func:`varied_config`): at least ``benign_s`` seconds of benign traffic,
    then its Mirai outbreak up to ``flood_s`` seconds into the flood (plus 30 s); extract its features.

    The simulator puts the onset at a fixed share of the packets (the Kitsune capture's) and scales the
    outbreak's timeline by the capture's size; this asks for a capture long enough for ``benign_s`` and
    pre-divides the outbreak's times by that scale, so infections fall 20-400 s after the onset and the
    flood starts a minute after the last one, then keeps only the packets up to 30 s after the flood's
    end (the features are causal, so the kept rows equal those of the whole capture).
    Cached under ``$NIDSLAB_HOME/generalise`` when ``cache``.
    """
    from nidslab.features import extract_features
    from nidslab.simulate import FULL_ONSET, FULL_PACKETS, simulate_table
    from nidslab.simulate import pcapgen as pg

    base = varied_config(seed)
    packets = int(np.ceil(benign_s * _benign_pps(base, seed) * 1.3 * FULL_PACKETS / FULL_ONSET))
    scale = packets / FULL_PACKETS
    flood_at = max(base.infection_times_s[: base.n_vulnerable], default=0.0) + 60.0
    outbreak_s = flood_at + flood_s + 30.0
    cfg = replace(base, infection_times_s=tuple(t / scale for t in base.infection_times_s),
                  flood_start_s=flood_at / scale, flood_duration_s=flood_s / scale)
    meta = {"seed": seed, "benign_s": benign_s, "flood_s": flood_s, "config": base.to_dict()}
    key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]
    path = _cache_dir() / f"net{seed}-{key}"
    if cache and path.is_dir():
        return _load(path, f"sim{seed}", meta)
    tab, _onset, _phases = simulate_table(packets, seed=seed, config=cfg)
    mal = np.flatnonzero(tab["label"])
    onset_s = float(tab["t"][mal[0]]) if mal.size else float("inf")
    keep = int(np.searchsorted(tab["t"], onset_s + outbreak_s))
    tab = pg.take(tab, np.arange(keep))
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "net.pcap"
        pcap.write_bytes(memoryview(pg.assemble(tab)))
        X = extract_features(pcap, layout="uci")
    net = Network(name=f"sim{seed}", X=X, ts=tab["t"].astype(np.float64), truth=tab["label"].astype(np.uint8),
                  host=tab["smac"].astype(np.int64), onset_s=onset_s, infected=_infected_from_table(tab), meta=meta)
    if cache:
        _save(net, path)
        return _load(path, net.name, meta)  # memory-mapped: many networks fit in memory
    return net


_ARRAYS = ("X", "ts", "truth", "host", "infected")


def _save(net: Network, path: Path) -> None:
    """Write a network's arrays as .npy files in a folder, atomically (temp folder, then rename)."""
    import shutil

    from nidslab.paths import temp_dir

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(path)
    try:
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(net, name)))
        (tmp / "onset.json").write_text(json.dumps({"onset_s": net.onset_s}))
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load(path: Path, name: str, meta: dict) -> Network:
    arrays = {a: np.load(path / f"{a}.npy", mmap_mode="r" if a == "X" else None) for a in _ARRAYS}
    onset = json.loads((path / "onset.json").read_text())["onset_s"]
    return Network(name=name, onset_s=float(onset), meta=meta, **arrays)


def capture_network(capture: str | os.PathLike, *, name: str | None = None, limit: int | None = None) -> Network:
    """A real capture as a benign-only :class:`Network` (source host = source MAC)."""
    from nidslab.features import extract_features
    from nidslab.features.pcap import read_packets

    capture = Path(capture)
    if not capture.exists():
        raise FileNotFoundError(f"{capture}: no such capture")
    packets = read_packets(capture, limit=limit)
    X = extract_features(capture, layout="uci", limit=limit)
    if len(X) != len(packets):
        raise DataError(f"{capture}: {len(X)} feature rows for {len(packets)} packets")
    return Network(name=name or capture.stem, X=X, ts=packets.ts.astype(np.float64),
                   truth=np.zeros(len(X), np.uint8), host=packets.eth_src.astype(np.int64),
                   meta={"capture": str(capture)})


def from_family(fam, network: int) -> Network:
    """Network ``network`` of an opened ``mirai-sim-family`` (:class:`nidslab.data.family.Family`).

    Source host: the family's per-packet host index (-1 unknown LAN sender, -2 the Internet); infected
    hosts: those the population drew as victims (the operator's own machine is not counted).
    """
    fn = fam.network(network)
    infected = np.array([k for k, h in enumerate(fn.hosts) if h.get("infected")], np.int64)
    own = np.isin(np.asarray(fn.phase), [fam.PHASES.index("propagation"), fam.PHASES.index("flood")])
    own &= np.asarray(fn.truth) == 1
    bot_start = {}
    for k in infected:  # a handful of hosts
        rows = np.flatnonzero(own & (np.asarray(fn.host) == k))
        if rows.size:
            bot_start[int(k)] = float(fn.time[rows[0]])
    return Network(name=f"net{network}", X=fn.X, ts=np.asarray(fn.time, np.float64), truth=np.asarray(fn.truth),
                   host=np.asarray(fn.host, np.int64), onset_s=float(fn.onset_time), infected=infected,
                   meta={"network": network, "family": fam.dataset.name, "benign_s": fn.benign_s},
                   bot_start=bot_start)


def family_networks(ids, *, networks: int = 24, benign_s: float = 600.0, long_benign_s: float = 7200.0,
                    progress=None) -> list[Network]:
    """Networks ``ids`` of the population: ids up to ``networks`` from the ``mirai-sim-family`` of that many
    networks with ``benign_s`` seconds of benign traffic each; larger ids from a family of the networks
    ``min .. max`` of them with ``long_benign_s`` (the held-out networks of issue 20's targets). Each family
    is built on first use (:func:`nidslab.data.family.open_family`)."""
    from nidslab.data.family import FAMILY, open_family

    ids = [int(i) for i in ids]
    short = [i for i in ids if i <= networks]
    long_ = [i for i in ids if i > networks]
    fams = {}
    if short:
        fam = open_family(FAMILY, networks=networks, benign_s=benign_s, progress=progress)
        fams.update({i: fam for i in short})
    if long_:
        fam = open_family(FAMILY, networks=max(long_) - min(long_) + 1, first=min(long_), benign_s=long_benign_s,
                          progress=progress)
        fams.update({i: fam for i in long_})
    return [from_family(fams[i], i) for i in ids]
