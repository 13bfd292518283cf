"""Networks as the generalisation experiments see them: per-packet features, times, truth and source host.

A :class:`Network` is one site: its 115 features per packet (the ``uci`` layout), packet times, packet
truth (1 = part of the malicious activity), the source host of each packet (an integer id, the source
MAC), the time of its first malicious packet (``onset_s``; ``inf`` for a benign-only site), and which
hosts are infected (sources of the outbreak's own connection attempts: scans, logins, floods).

Where networks come from:

- :func:`family_networks`: networks of the population of issue 20 (``mirai-sim-family``,
  :mod:`nidslab.data.family`), each drawn from its network seed, with the attack phase and source host of
  every packet.
- :func:`capture_network`: a real capture (benign unless labels are given).
"""

from __future__ import annotations

import os
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
    ``peer``: (n,) int64 receiving host id (same ids as ``host``) and ``accepts``: (n,) bool, the packets
    that accept a login connection (:func:`nidslab.contacts.login_accepts`), where the capture was read;
    None otherwise (the contact rule then adds nothing). ``outside``: host ids that stand for the Internet.
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
    peer: np.ndarray | None = None
    accepts: np.ndarray | None = None
    outside: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.X)
        for what in ("ts", "truth", "host", "peer", "accepts"):
            if getattr(self, what) is not None and len(getattr(self, what)) != n:
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
        return replace(self, X=self.X[sl], ts=self.ts[sl], truth=self.truth[sl], host=self.host[sl],
                       peer=None if self.peer is None else self.peer[sl],
                       accepts=None if self.accepts is None else self.accepts[sl])


def capture_network(capture: str | os.PathLike, *, name: str | None = None, limit: int | None = None) -> Network:
    """A real capture as a benign-only :class:`Network` (source host = source MAC, peer = destination MAC)."""
    from nidslab.contacts import login_accepts
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
                   meta={"capture": str(capture)}, peer=packets.eth_dst.astype(np.int64),
                   accepts=login_accepts(packets.l4, packets.sport, packets.tcp_flags))


def from_family(fam, network: int) -> Network:
    """Network ``network`` of an opened ``mirai-sim-family`` (:class:`nidslab.data.family.Family`).

    Source host: the family's per-packet host index (-1 unknown LAN sender, -2 the Internet); infected
    hosts: those the population drew as victims (the operator's own machine is not counted).
    """
    from nidslab.simulate.networks import INTERNET

    fn = fam.network(network)
    infected = np.array([k for k, h in enumerate(fn.hosts) if h.get("infected")], np.int64)
    own = np.isin(np.asarray(fn.phase), [fam.PHASES.index("propagation"), fam.PHASES.index("flood")])
    own &= np.asarray(fn.truth) == 1
    bot_start = {}
    for k in infected:  # a handful of hosts
        rows = np.flatnonzero(own & (np.asarray(fn.host) == k))
        if rows.size:
            bot_start[int(k)] = float(fn.time[rows[0]])
    peer, accepts = _family_contacts(fam, network, fn)
    return Network(name=f"net{network}", X=fn.X, ts=np.asarray(fn.time, np.float64), truth=np.asarray(fn.truth),
                   host=np.asarray(fn.host, np.int64), onset_s=float(fn.onset_time), infected=infected,
                   meta={"network": network, "family": fam.dataset.name, "benign_s": fn.benign_s},
                   bot_start=bot_start, peer=peer, accepts=accepts, outside=(INTERNET,))


def _family_contacts(fam, network: int, fn) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Receiving host and login accepts per packet, read from the network's kept capture (None, None without
    one). Receiving host: as the family's sending host, by destination MAC (:func:`nidslab.simulate.networks.
    host_ids`), and the Internet for the packets the router sends on across its uplink."""
    from nidslab.contacts import login_accepts
    from nidslab.features.pcap import read_packets
    from nidslab.simulate.networks import INTERNET, across_uplink, host_ids
    from nidslab.simulate.population import draw_network

    try:
        path = fam.capture(network)
    except DataError:
        return None, None
    pk = read_packets(path)
    if len(pk) != len(fn.time):
        raise DataError(f"{path}: {len(pk):,} packets for {len(fn.time):,} rows of network {network}")
    peer = host_ids(fn.hosts, pk.eth_dst).astype(np.int64)
    octets = pk.ip_dst[:, :4].astype(np.uint32)
    dst = (octets[:, 0] << 24) | (octets[:, 1] << 16) | (octets[:, 2] << 8) | octets[:, 3]
    peer[across_uplink(draw_network(network), pk.eth_dst, dst, pk.l3 == 1)] = INTERNET
    return peer, login_accepts(pk.l4, pk.sport, pk.tcp_flags)


#: held-out networks are built (and cached) as families of at most this many: building one holds all of
#: its networks in memory (2-hour networks: up to ~0.9 M packets each)
LONG_BLOCK = 6


def family_networks(ids, *, networks: int = 24, benign_s: float = 600.0, long_benign_s: float = 7200.0,
                    firmware_x: float = 1.0, progress=None, executor=None) -> list[Network]:
    """Networks ``ids`` of the population: ids up to ``networks`` from the ``mirai-sim-family`` of that many
    networks with ``benign_s`` seconds of benign traffic each; larger ids from a family of the networks
    ``min .. max`` of them with ``long_benign_s`` (the held-out networks of issue 20's targets), in families of
    at most :data:`LONG_BLOCK` networks from ``min`` on. ``firmware_x``: the short family's firmware downloads
    that many times as frequent (training augmentation; the held-out families keep the population's). Each family
    is built on first use (:func:`nidslab.data.family.open_family`), one task per network on ``executor``
    (a :mod:`nidslab.cluster` executor; default: this process)."""
    from nidslab.data.family import FAMILY, open_family

    ids = [int(i) for i in ids]
    short = [i for i in ids if i <= networks]
    long_ = [i for i in ids if i > networks]
    fams = {}
    if short:
        fam = open_family(FAMILY, networks=networks, benign_s=benign_s, firmware_x=firmware_x, executor=executor,
                          progress=progress)
        fams.update({i: fam for i in short})
    if long_:  # in blocks of LONG_BLOCK networks from the smallest id: a family is built in memory
        lo, hi = min(long_), max(long_)
        for a in range(lo, hi + 1, LONG_BLOCK):
            block = [i for i in long_ if a <= i < a + LONG_BLOCK]
            if block:
                b = min(a + LONG_BLOCK - 1, hi)
                fam = open_family(FAMILY, networks=b - a + 1, first=a, benign_s=long_benign_s, executor=executor,
                                  progress=progress)
                fams.update({i: fam for i in block})
    return [from_family(fams[i], i) for i in ids]
