"""Captures of the population's networks: ``simulate_network(path, N)``.

Network 0 is :func:`nidslab.simulate.simulate_capture` unchanged (the Kitsune-calibrated LAN, sized
in packets). A drawn network ``N >= 1`` is sized in time instead: ``benign_s`` seconds of benign
traffic, then the outbreak (its infection, loader and flood times multiplied by ``attack_scale``),
ending one second after its last flood; benign traffic goes on throughout. Long benign stretches
cost what their packets cost: every behaviour is generated for the whole window with NumPy.

>>> from nidslab.simulate.networks import simulate_network
>>> sim = simulate_network("net7.pcap", 7, benign_s=7200)          # doctest: +SKIP
>>> sim.truth, sim.phase, sim.host, sim.time, sim.hosts             # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nidslab.progress import Progress
from nidslab.simulate import devices, outbreaks
from nidslab.simulate import network as net
from nidslab.simulate import pcapgen as pg
from nidslab.simulate.population import NetworkSpec, draw_network, with_firmware_x

PHASES = outbreaks.PHASES
#: defaults of a drawn network's size: 10 minutes of benign traffic, the outbreak's drawn times x 0.25
#: (its infections within ~2 min, floods of 5-25 s per vector): a few 10,000 packets per network
DEFAULT_BENIGN_S = 600.0
DEFAULT_ATTACK_SCALE = 0.25


@dataclass
class NetworkSimulation:
    """A simulated capture of one network and its per-packet truth.

    Per packet (arrays of length ``n_packets``, capture order): ``truth`` uint8 (1 malicious);
    ``phase`` uint8 codes into :data:`PHASES` (0 benign, 1 scan ... 5 flood); ``host`` int16, the
    sending host's index into ``hosts`` by source MAC (-1: no known LAN host; -2: the Internet, i.e.
    an IPv4 packet the router forwards in from outside, whose source MAC is the router's); ``time``
    float64 seconds since the epoch. ``hosts``: one dict per host (name, kind, ip, mac, infected,
    infected_at: the time of its loader session, or None). ``onset_index``: first malicious packet;
    ``onset_time``: the outbreak's start (s); ``start_time``: the capture window's start, so
    ``onset_time - start_time`` is the benign time before the outbreak. ``phases``: (name, start s, end s).
    """

    path: Path
    network: int
    seed: int
    n_packets: int
    truth: np.ndarray
    phase: np.ndarray
    host: np.ndarray
    time: np.ndarray
    hosts: list[dict]
    onset_index: int
    onset_time: float
    phases: list
    start_time: float = 0.0
    spec: NetworkSpec | None = None
    extra: dict = field(default_factory=dict)

    @property
    def kitsune(self) -> np.ndarray:
        """The Kitsune time-cut labels: 0 before the onset, 1 from it on (uint8)."""
        y = np.zeros(self.n_packets, np.uint8)
        y[self.onset_index:] = 1
        return y

    def to_dict(self) -> dict:
        """JSON-able summary (no per-packet arrays)."""
        return {
            "network": self.network, "seed": self.seed, "n_packets": int(self.n_packets),
            "malicious_truth": int(self.truth.sum()), "onset_index": int(self.onset_index),
            "onset_time": float(self.onset_time), "start_time": float(self.start_time),
            "benign_s": float(self.onset_time - self.start_time),
            "duration_s": float(self.time[-1] - self.time[0]) if self.n_packets else 0.0,
            "phases": [{"name": n, "start": float(a), "end": float(b)} for n, a, b in self.phases],
            "phase_packets": {PHASES[i]: int(c) for i, c in enumerate(np.bincount(self.phase, minlength=len(PHASES)))},
            "hosts": self.hosts, "network_spec": self.spec.to_dict() if self.spec else None, **self.extra,
        }


#: host ids of packets that are none of a network's hosts: an unknown LAN sender, and the Internet
UNKNOWN_HOST, INTERNET = -1, -2


def host_ids(hosts: list[dict], macs: np.ndarray) -> np.ndarray:
    """Index into ``hosts`` (dicts with a hex ``mac``, as :func:`hosts_of`) of each of ``macs`` (n,) uint64:
    (n,) int16, :data:`UNKNOWN_HOST` where no host has that MAC."""
    known = np.array([int(h["mac"], 16) for h in hosts], np.uint64)
    if known.size == 0:
        return np.full(len(macs), UNKNOWN_HOST, np.int16)
    order = np.argsort(known)
    pos = np.minimum(np.searchsorted(known[order], macs), len(known) - 1)
    return np.where(known[order][pos] == macs, order[pos], UNKNOWN_HOST).astype(np.int16)


def across_uplink(spec: NetworkSpec, mac: np.ndarray, ip: np.ndarray, ipv4: np.ndarray) -> np.ndarray:
    """Packets the router carries across the uplink (n,) bool: IPv4 (``ipv4``) with the router's MAC (``mac``,
    the source or the destination one) and an address outside the LAN (``ip``, uint32, the matching side)."""
    return ipv4 & (mac == np.uint64(spec.router.mac)) & ~net.is_lan(spec.sim, ip)


def hosts_of(spec: NetworkSpec) -> list[dict]:
    """The LAN hosts of a drawn network (devices, then the operator's machine when it is on the LAN)."""
    base = net.ip4(spec.subnet) & 0xFFFFFF00
    out = [{"name": d.name, "kind": d.kind, "ip": _dotted(base | d.last), "mac": f"{d.mac:012x}",
            "infected": d.name in spec.outbreak.victims, "infected_at": None} for d in spec.devices]
    o = spec.outbreak
    if o.cnc_inside:
        out.append({"name": "attacker", "kind": "attacker", "ip": _dotted(o.attacker_ip), "mac": f"{o.attacker_mac:012x}",
                    "infected": False, "infected_at": None})
    return out


def _dotted(ip: int) -> str:
    return ".".join(str((int(ip) >> k) & 255) for k in (24, 16, 8, 0))


def simulate_network_table(spec: NetworkSpec, *, benign_s: float = DEFAULT_BENIGN_S,
                           attack_scale: float = DEFAULT_ATTACK_SCALE,
                           seed: int | None = None, progress: Progress | None = None):
    """The drawn network's packets as a sorted table (label = phase code), its onset time and phases."""
    spec.validate()
    if benign_s < 0 or attack_scale <= 0:
        raise ValueError(f"benign_s must be >= 0 and attack_scale > 0, got {benign_s}, {attack_scale}")
    seed = spec.network if seed is None else int(seed)
    o = spec.outbreak
    t0 = spec.start_epoch
    t_on = t0 + float(benign_s)
    # the outbreak's end: last infection, its login/loader sessions (not scaled, ~1 min), the flood
    horizon = (max(o.infection_times_s) + o.flood_start_s + o.flood_duration_s * len(o.vectors)) * attack_scale + 90.0
    if progress:
        progress(0, 4, "Mirai outbreak")
    attack = outbreaks.outbreak(spec, seed, t_on, horizon, attack_scale)
    t_end = min(attack.flood_end + 1.0, t_on + horizon)
    if progress:
        progress(1, 4, "benign traffic")
    benign = devices.benign_traffic(spec, seed, t0, t_end)
    atab = pg.take(attack.table, np.flatnonzero(attack.table["t"] < t_end))
    both = pg.concat([benign, atab])
    gw = (spec.router.mac, (net.ip4(spec.subnet) & 0xFFFFFF00) | 1)
    errs = net.gateway_unreachables(spec.sim, both, seed + 1_000_003, gateway=gw)
    n = len(both["t"])
    tab = pg.concat([both, errs])
    tab["quote"][n:] = errs["quote"]
    rank = np.concatenate([np.zeros(n, np.int64), np.ones(len(errs["t"]), np.int64)])
    order = np.lexsort((rank, tab["t"]))
    tab = pg.take(tab, order)
    phases = [("benign", t0, t_on)] + [(k, a, min(b, t_end)) for k, a, b in attack.phases if a < t_end]
    return tab, t_on, phases


def simulate_network(path: str | os.PathLike, network: int, *, benign_s: float = DEFAULT_BENIGN_S,
                     attack_scale: float = DEFAULT_ATTACK_SCALE, firmware_x: float = 1.0,
                     seed: int | None = None, packets: int | None = None,
                     progress: Progress | None = None) -> NetworkSimulation:
    """Write network ``network``'s capture to ``path`` (libpcap, atomically) and return its truth.

    Network 0: :func:`nidslab.simulate.simulate_capture` with ``packets`` (default the full 764,137) and
    ``seed`` (default 0): today's ``mirai-sim`` bytes; per-packet phases are those of the phase
    timeline and ``host`` is -1 (network 0's hosts keep their own table in :mod:`.network`).
    Network N >= 1: :func:`draw_network` (N), ``benign_s`` seconds of benign traffic before the
    onset, the outbreak with times x ``attack_scale``; ``seed`` (default N) drives the traffic;
    ``firmware_x``: firmware downloads that many times as frequent (:func:`~.population.with_firmware_x`).
    """
    from nidslab.paths import atomic_write

    network = int(network)
    if network == 0:
        if firmware_x != 1:
            raise ValueError("network 0 is today's mirai-sim capture; firmware_x applies to drawn networks (>= 1)")
        return _network_zero(path, packets, seed or 0, progress)
    if packets is not None:
        raise ValueError("a drawn network is sized in time (benign_s, attack_scale), not in packets")
    spec = with_firmware_x(draw_network(network), firmware_x)
    seed = network if seed is None else int(seed)
    tab, t_on, phases = simulate_network_table(spec, benign_s=benign_s, attack_scale=attack_scale, seed=seed,
                                               progress=progress)
    if progress:
        progress(2, 4, "assembling frames")
    buf = pg.assemble(tab)
    if progress:
        progress(3, 4, "writing")
    with atomic_write(path) as fh:
        fh.write(buf.data)
    if progress:
        progress(4, 4, "done")
    phase = tab["label"].astype(np.uint8)
    truth = (phase > 0).astype(np.uint8)
    hosts = hosts_of(spec)
    host = host_ids(hosts, tab["smac"])
    # packets routed in from the Internet carry the router's MAC: their sender is "the Internet"
    ipv4 = np.isin(tab["kind"], (pg.TCP, pg.UDP, pg.ICMP, pg.IGMP, pg.GRE))
    host[across_uplink(spec, tab["smac"], tab["sip"], ipv4)] = INTERNET
    for h in hosts:  # a victim is infected when its loader session starts
        if h["infected"]:
            i = hosts.index(h)
            rows = np.flatnonzero((phase == outbreaks.LOADER) & (host == i))
            h["infected_at"] = float(tab["t"][rows[0]]) if len(rows) else None
    mal = np.flatnonzero(truth)
    onset = int(mal[0]) if len(mal) else len(truth)
    return NetworkSimulation(path=Path(path), network=network, seed=seed, n_packets=len(truth), truth=truth,
                             phase=phase, host=host, time=tab["t"].copy(), hosts=hosts, onset_index=onset,
                             onset_time=float(t_on), phases=phases, start_time=spec.start_epoch, spec=spec,
                             extra={"benign_s": float(benign_s), "attack_scale": float(attack_scale)})


def _network_zero(path, packets, seed, progress) -> NetworkSimulation:
    from nidslab.simulate import FULL_PACKETS, simulate_capture
    from nidslab.simulate.config import SimConfig

    sim = simulate_capture(path, packets=packets or FULL_PACKETS, seed=seed, config=SimConfig(), progress=progress)
    import dpkt

    with open(sim.path, "rb") as fh:  # capture times (the simulation's table is not kept)
        time = np.array([t for t, _ in dpkt.pcap.Reader(fh)], np.float64)
    # network 0 labels packets 0/1 only: a malicious packet takes the latest phase started by then (an
    # approximation: scanning goes on through every later phase)
    phase = np.zeros(sim.n_packets, np.uint8)
    mal = sim.labels_truth.astype(bool)
    index = np.arange(sim.n_packets)
    for name, _a, _b, first in sim.phases[1:]:
        phase[mal & (index >= first)] = PHASES.index(name)
    return NetworkSimulation(path=sim.path, network=0, seed=seed, n_packets=sim.n_packets, truth=sim.labels_truth,
                             phase=phase, host=np.full(sim.n_packets, -1, np.int16), time=time, hosts=[],
                             onset_index=sim.onset_index, onset_time=float(sim.phases[0][2]),
                             phases=[(n, a, b) for n, a, b, _ in sim.phases], start_time=sim.start_time, spec=None,
                             extra={"simulation": sim.to_dict()})
