"""The benign camera LAN: hosts, their periodic and random traffic, the gateway's ICMP errors.

The hosts and behaviours mirror the real sample (mirai2000.pcap, the Kitsune Mirai LAN
192.168.2.0/24): a Speedport gateway (.1) whose uplink answers nothing, an NVR / workstation
(.101) that pings a camera, eleven cameras of several brands that keep trying their clouds
(UDP P2P keep-alives, TCP SYN retries, DNS lookups, NTP), a phone, a guest renewing its DHCP
lease, a switch sending spanning-tree and loopback frames, ARP probes and refreshes, SSDP and
IPv6 router advertisements, and now and then a live RTP view the NVR pulls from a camera. Every
behaviour is generated for a whole time window at once with NumPy.
"""

from __future__ import annotations

import numba
import numpy as np

from nidslab.simulate import pcapgen as pg
from nidslab.simulate.config import SimConfig


def ip4(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def lan_ip(cfg: SimConfig, last: int) -> int:
    return (ip4(cfg.subnet) & 0xFFFFFF00) | last


# host name -> (last octet, MAC). MACs are those the sample shows for each role.
HOSTS: dict[str, tuple[int, int]] = {
    "gateway": (1, 0x4C09D4C6127B),
    "nvr": (101, 0x408D5C4B991D),
    "workstation": (104, 0x34EA34F10483),
    "cam108": (108, 0x5CCF7F05F2C6),
    "cam109": (109, 0x48022E018315),
    "cam110": (110, 0x3C330098EEFD),
    "cam112": (112, 0xE0B94D087123),
    "cam113": (113, 0x34C3D2E0FCC9),
    "cam115": (115, 0x00166C7F8220),
    "cam117": (117, 0x50C7BF1C9CC6),
    "cam119": (119, 0x50C7BF1C9CA6),
    "cam126": (126, 0x00EC04569303),
    "phone": (105, 0xC412F5DB4AE2),  # a phone / laptop: a few DNS lookups
}
SWITCH_MAC = 0x00141C28D606
CAMERAS = tuple(h for h in HOSTS if h.startswith("cam"))

# [sample] the P2P servers cameras .108 and .113 keep-alive on UDP 10240
P2P_SERVERS = (
    "50.19.254.134", "122.248.234.207", "46.137.188.54", "122.226.84.253",
    "61.188.37.216", "120.24.59.150", "114.215.137.159", "104.199.156.58",
)
# host -> (number of P2P servers, fixed source port)
P2P_HOSTS = {"cam108": (5, 32761), "cam113": (8, 50861)}
# host -> (servers (ip, port), parallel connections per attempt, SYN retry gap s, TCP header bytes, weight)
CLOUD_TCP = {
    "cam108": ((("52.24.43.67", 80), ("52.25.66.250", 8280)), 2, 0.5, 24, 1.0),
    "cam112": (
        (("61.188.37.216", 8000), ("122.226.84.253", 443), ("46.137.188.54", 80),
         ("122.248.234.207", 8080), ("50.19.254.134", 21047), ("74.125.31.99", 80)),
        5, 1.0, 40, 0.3,
    ),
    "cam113": (
        (("61.188.37.216", 8000), ("122.248.234.207", 8080), ("50.19.254.134", 21047), ("104.199.156.58", 80)),
        4, 1.0, 40, 0.25,
    ),
}
# [sample] host -> (resolvers ("gw" = the gateway), names it looks up, relative query rate)
DNS_HOSTS = {
    "cam109": (("114.114.114.114", "8.8.8.8", "gw"),
               ("authentication.eye4.cn", "ntp2.eye4.cn", "pisr-3.eyecloud.so", "push.eye4.cn", "www.baidu.com"), 1.0),
    "cam110": (("114.114.114.114", "8.8.8.8"),
               ("authentication.eye4.cn", "device-abnormal.eye4.cn", "s2.eye4.cn", "time.windows.com",
                "www.baidu.com", "ntp2.eye4.cn"), 1.5),
    "cam112": (("gw",), ("ims7.ipcmate.com", "ims8.ipcmate.com", "ims9.ipcmate.com", "s1a.time.edu.cn",
                         "time.nist.gov", "ntp.sjtu.edu.cn"), 1.0),
    "cam117": (("gw",), ("devs.tplinkcloud.com", "s1b.time.edu.cn", "0.cn.pool.ntp.org"), 0.2),
    "cam119": (("gw",), ("devs.tplinkcloud.com", "de.pool.ntp.org", "ru.pool.ntp.org"), 0.35),
    "workstation": (("gw",), ("10024main.broadlink.com.cn", "10024backup.broadlink.com.cn"), 0.3),
    "cam126": (("gw",), ("www.baidu.com",), 0.12),
    "phone": (("gw",), ("ntp1.dlink.com",), 0.06),
}
LOCAL_SUFFIX = "Speedport_W_724V_01011603_00_005"  # [sample] the gateway's search domain


def dns_message(name: str, *, response: bool = False, qtype: int = 1) -> bytes:
    """A DNS query for ``name`` (id 0, recursion desired), or the gateway's NXDOMAIN answer to it."""
    flags = 0x8183 if response else 0x0100
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return (b"\0\0" + flags.to_bytes(2, "big") + b"\0\x01\0\0\0\0\0\0" + qname
            + qtype.to_bytes(2, "big") + b"\0\x01")


SAMSUNG = "cam115"  # [sample] asks the gateway every second, alternating an answered (117 B) and a bare (84 B) name


def ssdp_notify(ip: int, size: int) -> bytes:
    """An SSDP NOTIFY of exactly ``size`` bytes (the SERVER header is padded to fit)."""
    host = ".".join(str((ip >> k) & 255) for k in (24, 16, 8, 0))
    head = (f"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n"
            f"LOCATION: http://{host}:49152/\r\nSERVER: ")
    tail = "\r\n\r\n"
    server = "Linux UPnP/1.0 IPCamera/1.0"
    room = size - len(head) - len(tail)
    return (head + (server + " " * max(room - len(server), 0))[: max(room, 0)] + tail).encode()


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1, stream])


def periodic(rng, t0: float, t1: float, period: float, jitter: float = 0.02) -> np.ndarray:
    """Times of a periodic source in [t0, t1): random phase, period with relative jitter."""
    n = max(int((t1 - t0) / period) + 1, 0)
    t = t0 + rng.uniform(0, period) + np.arange(n) * period
    t = t + rng.normal(0, jitter * period, n)
    return np.sort(t[(t >= t0) & (t < t1)])


def poisson(rng, t0: float, t1: float, rate: float) -> np.ndarray:
    n = rng.poisson(max(rate * (t1 - t0), 0.0))
    return np.sort(rng.uniform(t0, t1, n))


def on_off_mask(rng, t: np.ndarray, t0: float, t1: float, on_mean: float, off_mean: float) -> np.ndarray:
    """Which times fall in the 'on' spells of an alternating on/off process (exponential spells)."""
    k = int((t1 - t0) / (on_mean + off_mean) * 2) + 8
    spells = np.empty(2 * k)
    spells[0::2] = rng.exponential(on_mean, k)
    spells[1::2] = rng.exponential(off_mean, k)
    edges = t0 - rng.uniform(0, on_mean + off_mean) + np.cumsum(spells)
    while edges[-1] < t1:  # rare: extend with more spells
        edges = np.concatenate([edges, edges[-1] + np.cumsum(rng.exponential((on_mean + off_mean) / 2, 2 * k))])
    i = np.searchsorted(edges, t, side="right")
    return (i % 2) == 0  # spells alternate on, off, on, ...: an even number of edges passed means 'on'


def mac(name: str) -> int:
    return HOSTS[name][1]


def hip(cfg, name: str) -> int:
    return lan_ip(cfg, HOSTS[name][0])


def _reply(tab: dict, delay, keep: np.ndarray | None = None, **override) -> dict:
    """Replies to rows of ``tab`` (swapped addresses) after ``delay`` seconds."""
    rows = np.flatnonzero(keep) if keep is not None else np.arange(len(tab["t"]))
    r = {k: v[rows].copy() for k, v in tab.items()}
    r["t"] = r["t"] + delay
    r["smac"], r["dmac"] = tab["dmac"][rows].copy(), tab["smac"][rows].copy()
    r["sip"], r["dip"] = tab["dip"][rows].copy(), tab["sip"][rows].copy()
    r["sport"], r["dport"] = tab["dport"][rows].copy(), tab["sport"][rows].copy()
    r["quote"] = np.full(len(rows), -1, np.int64)
    for k, v in override.items():
        r[k] = np.broadcast_to(np.asarray(v), (len(rows),)).astype(pg.COLUMNS[k], copy=True)
    return r


def benign_traffic(cfg: SimConfig, seed: int, t0: float, t1: float) -> dict:
    """All benign packets in [t0, t1) as one unsorted table (gateway ICMP errors not included)."""
    gw_mac, gw_ip = mac("gateway"), hip(cfg, "gateway")
    parts: list[dict] = []
    stream = 0

    def rng():
        nonlocal stream
        stream += 1
        return _rng(seed, stream)

    # UDP P2P keep-alives: one 82-byte datagram per server every p2p_period_s, in on/off spells
    for host, (n_srv, sport) in P2P_HOSTS.items():
        r = rng()
        rounds = periodic(r, t0, t1, cfg.p2p_period_s, 0.01)
        rounds = rounds[on_off_mask(r, rounds, t0, t1, cfg.p2p_on_mean_s, cfg.p2p_off_mean_s)]
        # [sample] within a burst half the gaps are 1-2 us (back to back on the wire), the rest ~0.15 ms
        shape = (len(rounds), n_srv)
        gaps = np.where(r.random(shape) < 0.5, r.uniform(0.6e-6, 2.4e-6, shape), r.exponential(1.5e-4, shape))
        offs = np.cumsum(gaps, axis=1)
        t = (rounds[:, None] + offs).ravel()
        dip = np.tile([ip4(s) for s in P2P_SERVERS[:n_srv]], len(rounds))
        parts.append(pg.table(len(t), t=t, kind=pg.UDP, smac=mac(host), dmac=gw_mac, sip=hip(cfg, host),
                              dip=dip, sport=sport, dport=10240, plen=40, ipid=r.integers(0, 65536, len(t))))
    # TCP connection attempts to cloud servers, never answered: SYN + retries, parallel connections
    for host, (servers, fan, gap, thl, weight) in CLOUD_TCP.items():
        r = rng()
        starts = poisson(r, t0, t1, cfg.cloud_tcp_attempts_per_s * weight)
        n_att = len(starts)
        pick = np.argsort(r.random((n_att, len(servers))), axis=1)[:, :fan]  # distinct servers per attempt
        tries = cfg.cloud_tcp_tries
        gaps = gap * (2.0 ** np.arange(tries) if gap >= 1 else np.ones(tries))  # Linux doubles the RTO
        tt = starts[:, None, None] + np.concatenate([[0], np.cumsum(gaps[:-1])])[None, None, :]
        tt = tt + np.arange(fan)[None, :, None] * 2e-3 + r.uniform(0, 1e-3, (n_att, fan, tries))
        srv_ip = np.array([ip4(s) for s, _ in servers])[pick]
        srv_port = np.array([p for _, p in servers])[pick]
        sport = r.integers(20000, 61000, (n_att, fan))
        isn = r.integers(0, 2**32, (n_att, fan), dtype=np.int64)
        grid = (n_att, fan, tries)
        t = tt.ravel()
        parts.append(pg.table(
            len(t), t=t, kind=pg.TCP, smac=mac(host), dmac=gw_mac, sip=hip(cfg, host),
            dip=np.broadcast_to(srv_ip[:, :, None], grid).ravel(),
            sport=np.broadcast_to(sport[:, :, None], grid).ravel(),
            dport=np.broadcast_to(srv_port[:, :, None], grid).ravel(),
            seq=np.broadcast_to(isn[:, :, None], grid).ravel(), flags=pg.SYN, thl=thl, win=29200,
            ipid=r.integers(0, 65536, len(t)),
        ))
    # DNS lookups (a new source port and transaction id each); the resolvers never answer
    # (no uplink), the client retries after 1 s (5 tries for the workstation, as in the sample)
    for host, (resolvers, names, w) in DNS_HOSTS.items():
        r = rng()
        t = poisson(r, t0, t1, w / cfg.dns_period_s)
        sends = 5 if host == "workstation" else np.where(r.random(len(t)) < 0.3, 2, 1)
        sends = np.broadcast_to(sends, t.shape)
        first = np.repeat(np.arange(len(t)), sends)  # retries repeat the query's resolver, name, port, id
        t = t[first] + pg.ragged_arange(sends) * (1.0 + r.uniform(0, 0.01, len(first)))
        res = np.array([gw_ip if x == "gw" else ip4(x) for x in resolvers])[r.integers(0, len(resolvers), len(sends))]
        res = res[first]
        which = r.integers(0, len(names), len(sends))[first]
        pay = np.array([pg.BANK.id(dns_message(nm)) for nm in names])[which]
        size = np.array([len(dns_message(nm)) for nm in names])[which]
        parts.append(pg.table(len(t), t=t, kind=pg.UDP, smac=mac(host), dmac=gw_mac, sip=hip(cfg, host), dip=res,
                              sport=np.repeat(r.integers(1024, 65536, len(sends)), sends), dport=53, plen=size,
                              pay=pay, pword=np.repeat(r.integers(1, 65536, len(sends)), sends),
                              ipid=r.integers(0, 65536, len(t))))
    # camera .115 asks the gateway for its cloud server every second; every other second also with
    # the gateway's search suffix, which the gateway answers itself (NXDOMAIN, same size)
    r = rng()
    bare = periodic(r, t0, t1, cfg.samsung_dns_period_s, 0.005)
    suffixed = bare[r.random(len(bare)) < 0.5] - 0.04
    name = "xmpp.samsungsmartcam.com"
    for times, qname, answered in ((bare, name, False), (suffixed, f"{name}.{LOCAL_SUFFIX}", True)):
        msg = dns_message(qname)
        q = pg.table(len(times), t=times, kind=pg.UDP, smac=mac(SAMSUNG), dmac=gw_mac, sip=hip(cfg, SAMSUNG),
                     dip=gw_ip, sport=r.integers(2400, 2500, len(times)), dport=53, plen=len(msg),
                     pay=pg.BANK.id(msg), pword=r.integers(1, 65536, len(times)),
                     ipid=r.integers(0, 65536, len(times)))
        parts.append(q)
        if answered:
            parts.append(_reply(q, r.uniform(1.8e-3, 2.4e-3, len(times)), ipid=0,
                                pay=pg.BANK.id(dns_message(qname, response=True))))
    # ICMP echo: NVR -> camera .110 every ~1.02 s (74 B), workstation -> gateway every ~6 s (98 B)
    for src, dst, period, size, stream_id in (("nvr", "cam110", cfg.ping_period_s, 74, 1),
                                              ("workstation", "gateway", 6.0, 98, 2)):
        r = rng()
        t = periodic(r, t0, t1, period, 0.003)
        e = pg.table(len(t), t=t, kind=pg.ICMP, smac=mac(src), dmac=mac(dst), sip=hip(cfg, src),
                     dip=hip(cfg, dst), itype=8, plen=size - 42, ipid=stream_id * 256 + 1,
                     seq=np.arange(len(t)), ttl=128 if src == "nvr" else 64)
        parts += [e, _reply(e, r.uniform(1.5e-3, 2e-3, len(t)), itype=0, ttl=64)]
    # ARP: probes for an absent host (unanswered broadcasts) and cache refreshes between active pairs
    for src, period in (("cam109", cfg.arp_probe_period_s), ("cam110", 4 * cfg.arp_probe_period_s)):
        r = rng()
        t = periodic(r, t0, t1, period, 0.001)
        parts.append(pg.table(len(t), t=t, kind=pg.ARP, smac=mac(src), dmac=pg.BROADCAST, sip=hip(cfg, src),
                              dip=lan_ip(cfg, 106), itype=1))
    pairs = [("nvr", "cam110"), ("cam110", "nvr"), ("workstation", "gateway")]
    pairs += [("gateway", c) for c in CAMERAS] + [(c, "gateway") for c in ("cam108", "cam113", "cam112")]
    for src, dst in pairs:
        r = rng()
        t = periodic(r, t0, t1, cfg.arp_refresh_s, 0.3)
        req = pg.table(len(t), t=t, kind=pg.ARP, smac=mac(src), dmac=mac(dst), sip=hip(cfg, src),
                       dip=hip(cfg, dst), itype=1)
        parts += [req, _reply(req, r.uniform(3e-4, 9e-4, len(t)), itype=2)]
    # switch: spanning-tree BPDUs and Ethernet loopback frames; gateway IPv6 router advertisements
    r = rng()
    t = periodic(r, t0, t1, cfg.stp_period_s, 0.001)
    parts.append(pg.table(len(t), t=t, kind=pg.STP, smac=SWITCH_MAC, dmac=0x0180C2000000))
    t = periodic(r, t0, t1, cfg.loopback_period_s, 0.001)
    parts.append(pg.table(len(t), t=t, kind=pg.LOOP, smac=SWITCH_MAC, dmac=SWITCH_MAC))
    t = periodic(r, t0, t1, cfg.ra_period_s, 0.2)
    parts.append(pg.table(len(t), t=t, kind=pg.ICMPV6, smac=gw_mac, dmac=0x333300000001,
                          plen=np.where(r.random(len(t)) < 0.9, 24, 48)))
    # SSDP NOTIFY bursts (3 datagrams) and NTP requests to a pool server
    for host, size, sport in (("cam109", 179, 43537), ("cam115", 200, 1215)):
        r = rng()
        t = np.repeat(periodic(r, t0, t1, cfg.ssdp_period_s, 0.2), 3)
        t = t + np.tile([0.0, 0.1, 0.2], len(t) // 3)
        msg = ssdp_notify(hip(cfg, host), size - 42)
        parts.append(pg.table(len(t), t=t, kind=pg.UDP, smac=mac(host), dmac=0x01005E7FFFFA, sip=hip(cfg, host),
                              dip=ip4("239.255.255.250"), sport=sport, dport=1900, plen=len(msg),
                              pay=pg.BANK.id(msg)))
    r = rng()
    t = periodic(r, t0, t1, cfg.ntp_period_s, 0.05)
    parts.append(pg.table(len(t), t=t, kind=pg.UDP, smac=mac("cam117"), dmac=gw_mac, sip=hip(cfg, "cam117"),
                          dip=ip4("85.10.240.253"), sport=r.integers(1024, 65536, len(t)), dport=123, plen=48,
                          pay=pg.BANK.id(b"\x23" + bytes(47))))  # NTP v4 client request
    # DHCP: a guest device renews its lease now and then (broadcast, 342-byte BOOTP)
    r = rng()
    t = poisson(r, t0, t1, 1 / 120.0)
    parts.append(pg.table(len(t), t=t, kind=pg.UDP, smac=0x9CB6D0A1C4E5, dmac=pg.BROADCAST, sip=lan_ip(cfg, 196),
                          dip=0xFFFFFFFF, sport=68, dport=67, plen=300, ttl=64))
    # live views: the NVR pulls an RTP stream from a camera now and then
    r = rng()
    views = poisson(r, t0, t1, cfg.live_view_per_hour / 3600)
    if len(views):
        n_each = int(cfg.live_view_s * cfg.video_pps)
        t = (views[:, None] + np.sort(r.uniform(0, cfg.live_view_s, (len(views), n_each)), axis=1)).ravel()
        cam = np.array(CAMERAS)[r.integers(0, len(CAMERAS), len(views))]
        cmac = np.repeat([mac(c) for c in cam], n_each)
        cip = np.repeat([hip(cfg, c) for c in cam], n_each)
        size = np.where(r.random(len(t)) < 0.7, cfg.video_payload, r.integers(200, cfg.video_payload, len(t)))
        parts.append(pg.table(len(t), t=t, kind=pg.UDP, smac=cmac, dmac=mac("nvr"), sip=cip, dip=hip(cfg, "nvr"),
                              sport=6970, dport=np.repeat(r.integers(5000, 6000, len(views)) * 2, n_each),
                              plen=size, ipid=r.integers(0, 65536, len(t))))
    tab = pg.concat(parts)
    # [sample] IP stacks: camera .108 sends TTL 255 without DF (an embedded stack); pings, the
    # workstation's UDP and multicast without DF; SSDP with TTL 1 (.109) / 2 (.115)
    c108 = tab["smac"] == np.uint64(mac("cam108"))
    tab["ttl"][c108] = 255
    echo = (tab["kind"] == pg.ICMP) & (tab["itype"] != 3)
    ws_udp = (tab["smac"] == np.uint64(mac("workstation"))) & (tab["kind"] == pg.UDP)
    tab["df"][c108 | echo | ws_udp] = 0
    ssdp = tab["dport"] == 1900
    tab["ttl"][ssdp] = np.where(tab["smac"][ssdp] == np.uint64(mac("cam109")), 1, 2)
    keep = (tab["t"] >= t0) & (tab["t"] < t1)
    return pg.take(tab, np.flatnonzero(keep))


def is_lan(cfg: SimConfig, ip: np.ndarray) -> np.ndarray:
    return (ip & np.uint32(0xFFFFFF00)) == np.uint32(ip4(cfg.subnet) & 0xFFFFFF00)


@numba.njit(cache=True)
def _token_bucket(key, t, interval, burst):
    """Linux inet_peer_xrlim_allow(): per key, tokens accrue with time up to ``burst`` intervals;
    a packet is answered when a whole interval's worth is left. Rows sorted by (key, t)."""
    allow = np.zeros(len(t), np.bool_)
    tokens = 0.0
    last = 0.0
    for i in range(len(t)):
        if i == 0 or key[i] != key[i - 1]:
            tokens = burst * interval  # a new peer starts with a full bucket
            last = t[i]
        tokens = min(tokens + (t[i] - last), burst * interval)
        last = t[i]
        if tokens >= interval:
            tokens -= interval
            allow[i] = True
    return allow


def gateway_unreachables(cfg: SimConfig, tab: dict, seed: int, gateway: tuple[int, int] | None = None) -> dict:
    """ICMP net-unreachable errors from the gateway for Internet-bound packets of ``tab``.

    Rate-limited per LAN source as Linux does (``icmp_unreach_per_s`` with bursts of
    ``icmp_unreach_burst``; a compiled token bucket). The error quotes the packet's IP datagram and inherits its label.
    Returns a table whose ``quote`` column points at rows of ``tab``. ``gateway``: (MAC, IPv4) of
    the router, for a drawn network of the population (default: network 0's gateway).
    """
    if cfg.uplink_reachable or not len(tab["t"]):
        return pg.table(0)
    gw_mac, gw_ip = gateway if gateway is not None else (mac("gateway"), hip(cfg, "gateway"))
    k = tab["kind"]
    dip = tab["dip"]
    outbound = ((k == pg.TCP) | (k == pg.UDP) | ((k == pg.ICMP) & (tab["itype"] != 3)))
    outbound &= (tab["dmac"] == np.uint64(gw_mac)) & ~is_lan(cfg, dip) & (dip < np.uint32(0xE0000000))
    rows = np.flatnonzero(outbound)
    if not len(rows):
        return pg.table(0)
    r = np.random.default_rng([seed, 2])
    src = tab["sip"][rows].astype(np.int64)
    order = np.lexsort((tab["t"][rows], src))
    allow = _token_bucket(src[order], tab["t"][rows][order], 1.0 / cfg.icmp_unreach_per_s,
                          float(cfg.icmp_unreach_burst))
    hit = np.sort(rows[order[allow]])
    qlen = np.minimum(pg.ip_len(tab)[hit], pg.ICMP_QUOTE_MAX)
    return pg.table(
        len(hit), t=tab["t"][hit] + cfg.gateway_delay_s * r.uniform(0.8, 1.2, len(hit)), kind=pg.ICMP,
        smac=gw_mac, dmac=tab["smac"][hit], sip=gw_ip, dip=tab["sip"][hit], itype=3, icode=0,
        plen=qlen, ipid=r.integers(0, 65536, len(hit)), df=0, label=tab["label"][hit], quote=hit,
    )


def with_unreachables(cfg: SimConfig, tab: dict, seed: int) -> dict:
    """``tab`` followed by the gateway's ICMP errors for it (quotes index into the result)."""
    icmp = gateway_unreachables(cfg, tab, seed)
    n = len(tab["t"])
    out = pg.concat([tab, icmp])
    out["quote"][n:] = icmp["quote"]  # they point at rows of tab, which come first
    return out
