"""Benign traffic of a drawn network (:class:`~nidslab.simulate.population.NetworkSpec`).

Each device speaks the protocols its kind speaks (:data:`~nidslab.simulate.population.KINDS`) at
the rates it drew; every behaviour is generated for the whole time window at once with NumPy, so
hours of benign traffic cost what their packets cost (no per-packet Python). Traffic to the
Internet is answered only when the network's uplink is reachable; otherwise the router answers
it with rate-limited ICMP errors, as at network 0 (:func:`.network.gateway_unreachables`).

Numbers written here rather than drawn in :mod:`.population` are [assumed] unless tagged: Internet
round trips 15-150 ms, LAN answers 1-5 ms; TLS 1.2 handshake sizes (517-byte ClientHello, a
1,448 + 1,200-byte server flight, 126-byte key exchange, 51-byte Finished); keep-alive records of
31 bytes; streaming segments of 200-1,200 kB; motion clips of 10-40 s, one per ~10 min for
cameras that record to an NVR; SSDP answers within MX = 1 s; NVR pings of 74 bytes [sample].
"""

from __future__ import annotations

import numpy as np

from nidslab.simulate import network as net
from nidslab.simulate import pcapgen as pg
from nidslab.simulate.mirai import A, FA, PA, SA, tcp_sessions
from nidslab.simulate.population import Device, NetworkSpec

SSDP_GROUP, MDNS_GROUP, ALL_HOSTS = net.ip4("239.255.255.250"), net.ip4("224.0.0.251"), net.ip4("224.0.0.1")
SSDP_MAC, MDNS_MAC, ALL_HOSTS_MAC = 0x01005E7FFFFA, 0x01005E0000FB, 0x01005E000001
POLLED_KINDS = ("hub", "plug", "camera")  # devices whose apps poll a local HTTP API ([sentinel]: Hue, WeMo, D-Link)
EAPOL_REKEY_S = 3600.0  # [assumed] consumer APs rekey the group key hourly (hostapd wpa_group_rekey)


def lan_ip(spec: NetworkSpec, last: int) -> int:
    return (net.ip4(spec.subnet) & 0xFFFFFF00) | int(last)


def _dns_answer(query: bytes, records: int, ok: bool) -> bytes:
    """The answer to ``query``: NOERROR with ``records`` A records (TTL 1 h, 16 bytes each), or SERVFAIL."""
    if not ok:
        return query[:2] + b"\x81\x82" + query[4:]
    rr = b"".join(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04" + bytes([93, 184, 216, 34 + i])
                  for i in range(records))
    return query[:2] + b"\x81\x80" + query[4:6] + records.to_bytes(2, "big") + query[8:] + rr


def _tls_steps(rtt: float, request: int, response: int, segment_gap: float = 1.2e-4):
    """A short HTTPS exchange: handshake (TLS 1.2 sizes), one request, a response in MSS segments
    ``segment_gap`` s apart, each second one acknowledged at once while more follow (delayed ACK [rfc]: RFC
    1122 4.2.3.2, RFC 5681 4.2; the D-Link siren's firmware fetch in [sentinel] acknowledges so), close."""
    s = [(0, pg.SYN, 0, 0.0, 40), (1, SA, 0, rtt, 40), (0, A, 0, rtt / 2, 32),
         (0, PA, 517, 0.001, 32), (1, A, 0, rtt, 32), (1, A, 1448, 0.002, 32), (1, PA, 1200, 1e-4, 32),
         (0, A, 0, 1e-4, 32), (0, PA, 126, 0.005, 32), (1, PA, 51, rtt, 32), (0, PA, request, 0.002, 32)]
    left = response
    k = 0
    while left > 0:
        seg = min(1448, left)
        s.append((1, PA if left <= 1448 else A, seg, rtt if k == 0 else segment_gap, 32))
        left -= seg
        k += 1
        if k % 2 == 0 and left > 0:
            s.append((0, A, 0, 1e-4, 32))
    return s + [(0, A, 0, 1e-4, 32), (0, FA, 0, 0.05, 32), (1, FA, 0, rtt, 32), (0, A, 0, rtt / 2, 32)]


def _poll_steps(rtt: float, request: int, response: int):
    """One poll of a device's local HTTP API: a new connection, a GET, one response segment, close (the
    HueSwitch app's polls of its bridge in [sentinel]: 74/74/66-byte handshake, a 266-byte GET, 83 + 920
    bytes back, then the close)."""
    return [(0, pg.SYN, 0, 0.0, 40), (1, SA, 0, rtt, 40), (0, A, 0, rtt / 2, 32), (0, PA, request, 0.003, 32),
            (1, A, 0, rtt / 2, 32), (1, PA, 17, 0.001, 32), (1, PA, response, 0.001, 32), (0, A, 0, rtt / 2, 32),
            (0, FA, 0, 0.002, 32), (1, FA, 0, rtt, 32), (0, A, 0, rtt / 2, 32)]


def benign_traffic(spec: NetworkSpec, seed: int, t0: float, t1: float) -> dict:
    """All benign packets of the drawn network in [t0, t1) as one unsorted table (router ICMP errors included)."""
    r_dev = spec.router
    gw_mac, gw_ip = r_dev.mac, lan_ip(spec, 1)
    up = spec.uplink_reachable
    parts: list[dict] = []
    stream = 0

    def rng():
        nonlocal stream
        stream += 1
        return np.random.default_rng([seed, 21, stream])

    devices = spec.devices[1:]
    cams = [d for d in devices if d.kind == "camera"]
    nvrs = [d for d in devices if d.kind == "nvr"]
    pollable = [d for d in devices if d.kind in POLLED_KINDS]

    def ip(d: Device) -> int:
        return lan_ip(spec, d.last)

    def udp(t, src: Device, dmac, dip, sport, dport, plen, pay=-1, **kw):
        return pg.table(len(t), t=t, kind=pg.UDP, smac=src.mac, dmac=dmac, sip=ip(src), dip=dip, sport=sport,
                        dport=dport, plen=plen, pay=pay, ipid=kw.pop("ipid", 0), **kw)

    def answer(q, delay, plen, pay=-1):
        return net._reply(q, delay, plen=plen, pay=pay, ipid=0, pword=q["pword"])

    # ---------------------------------------------------------------- router: RA, IGMP queries
    r = rng()
    t = net.periodic(r, t0, t1, r_dev.rates["ra_period_s"], 0.2)
    parts.append(pg.table(len(t), t=t, kind=pg.ICMPV6, smac=gw_mac, dmac=0x333300000001, plen=48))
    q_t = net.periodic(r, t0, t1, r_dev.rates["igmp_query_s"], 0.01)
    parts.append(pg.table(len(q_t), t=q_t, kind=pg.IGMP, smac=gw_mac, dmac=ALL_HOSTS_MAC, sip=gw_ip, dip=ALL_HOSTS,
                          itype=0x11, ttl=1, df=0))
    for d in devices:
        r = rng()
        dip_ = ip(d)
        # ARP refreshes with the router, both ways
        for src_mac, src_ip, dst_mac, dst_ip in ((d.mac, dip_, gw_mac, gw_ip), (gw_mac, gw_ip, d.mac, dip_)):
            t = net.periodic(r, t0, t1, d.rates["arp_s"] * 2, 0.3)
            req = pg.table(len(t), t=t, kind=pg.ARP, smac=src_mac, dmac=dst_mac, sip=src_ip, dip=dst_ip, itype=1)
            parts += [req, net._reply(req, r.uniform(3e-4, 3e-3, len(t)), itype=2)]
        # DHCP renewals at half the lease [rfc]; the router ACKs
        t = net.periodic(r, t0, t1, r_dev.rates["lease_s"] / 2, 0.01)
        req = udp(t, d, gw_mac, gw_ip, 68, 67, d.sizes["dhcp"], ipid=r.integers(0, 65536, len(t)))
        parts += [req, answer(req, r.uniform(1e-3, 5e-3, len(t)), d.sizes["dhcp"])]
        # Wi-Fi: EAPOL group-key handshakes (router -> device, device -> router), as the AP bridges them
        if d.wifi:
            t = net.periodic(r, t0, t1, EAPOL_REKEY_S, 0.01)
            e = pg.table(len(t), t=t, kind=pg.EAPOL, smac=gw_mac, dmac=d.mac, itype=3, plen=d.sizes["eapol"])
            parts += [e, net._reply(e, r.uniform(2e-3, 1e-2, len(t)), plen=d.sizes["eapol"])]
        # DNS lookups to the router's relay; answered with an address when the uplink works, else SERVFAIL
        t = net.poisson(r, t0, t1, d.rates["dns_per_s"])
        if len(t) and d.names:
            which = r.integers(0, len(d.names), len(t))
            msgs = [net.dns_message(n) for n in d.names]
            pay = np.array([pg.BANK.id(m) for m in msgs])[which]
            size = np.array([len(m) for m in msgs])[which]
            q = udp(t, d, gw_mac, gw_ip, r.integers(1024, 65536, len(t)), 53, size, pay,
                    pword=r.integers(1, 65536, len(t)), ipid=r.integers(0, 65536, len(t)))
            delay = r.uniform(0.01, 0.08, len(t)) if up else r.uniform(0.5, 2.0, len(t))
            # answers: NOERROR with 1-3 A records (16 bytes each) or, without an uplink, SERVFAIL
            k = r.integers(1, 4, len(t)) if up else np.zeros(len(t), np.int64)
            ids = np.array([[pg.BANK.id(_dns_answer(m, j, up)) for j in range(4)] for m in msgs])
            parts += [q, answer(q, delay, size + 16 * k, ids[which, k])]
        # IGMP reports for the groups it joined, after each router query (random delay within 10 s) [rfc]
        groups = ([SSDP_GROUP] if {"ssdp", "ssdp-search"} & set(d.protocols) else []) + \
                 ([MDNS_GROUP] if "mdns" in d.protocols else [])
        for g in groups:
            t = q_t + r.uniform(0, 10, len(q_t))
            gm = 0x01005E000000 | (g & 0x7FFFFF)
            parts.append(pg.table(len(t), t=t, kind=pg.IGMP, smac=d.mac, dmac=gm, sip=dip_, dip=g, itype=0x16,
                                  ttl=1, df=0))
        # IPv6: MLDv2 reports and neighbour solicitations from the link-local address
        t = net.periodic(r, t0, t1, d.rates["mld_s"], 0.2)
        parts.append(pg.table(len(t), t=t, kind=pg.ND6, smac=d.mac, dmac=0x333300000016, itype=143, plen=20))
        t = net.periodic(r, t0, t1, d.rates["arp_s"] * 4, 0.3)
        parts.append(pg.table(len(t), t=t, kind=pg.ND6, smac=d.mac, dmac=0x3333FF000000 | (gw_mac & 0xFFFFFF),
                              dip=gw_mac & 0xFFFFFF, itype=135, plen=24))
        # NTP [rfc]
        if "ntp_s" in d.rates:
            t = net.periodic(r, t0, t1, d.rates["ntp_s"], 0.05)
            srv = d.cloud_ips[-1]
            q = udp(t, d, gw_mac, srv, r.integers(1024, 65536, len(t)), 123, 48, pg.BANK.id(b"\x23" + bytes(47)),
                    ipid=r.integers(0, 65536, len(t)))
            parts.append(q)
            if up:
                parts.append(answer(q, r.uniform(0.02, 0.12, len(t)), 48))
        # SSDP NOTIFY bursts (3 datagrams) and M-SEARCH with the devices' answers
        if "ssdp_s" in d.rates:
            t = np.repeat(net.periodic(r, t0, t1, d.rates["ssdp_s"], 0.1), 3)
            t = t + np.tile([0.0, 0.1, 0.2], len(t) // 3)
            msg = net.ssdp_notify(dip_, d.sizes["ssdp"])
            parts.append(udp(t, d, SSDP_MAC, SSDP_GROUP, 1900, 1900, len(msg), pg.BANK.id(msg), ttl=4, df=0))
        if "ssdp_search_per_s" in d.rates:
            t = net.poisson(r, t0, t1, d.rates["ssdp_search_per_s"])
            msearch = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n"
                       b"ST: ssdp:all\r\n\r\n")
            q = udp(t, d, SSDP_MAC, SSDP_GROUP, r.integers(1024, 65536, len(t)), 1900, len(msearch),
                    pg.BANK.id(msearch), ttl=4, df=0)
            parts.append(q)
            for o in devices:  # every SSDP device answers, unicast, within MX
                if "ssdp_s" in o.rates and len(t):
                    parts.append(pg.table(len(t), t=t + r.uniform(0.01, 1.0, len(t)), kind=pg.UDP, smac=o.mac,
                                          dmac=d.mac, sip=ip(o), dip=dip_, sport=1900, dport=q["sport"],
                                          plen=o.sizes["ssdp"] - 40))
        # mDNS queries and announcements
        if "mdns_s" in d.rates:
            t = net.periodic(r, t0, t1, d.rates["mdns_s"], 0.3)
            parts.append(udp(t, d, MDNS_MAC, MDNS_GROUP, 5353, 5353, d.sizes["mdns"], ttl=255, df=0))
        # cloud: long-lived TLS connection keep-alives, API sessions, firmware downloads
        if "tls_keepalive_s" in d.rates:
            t = net.periodic(r, t0, t1, d.rates["tls_keepalive_s"], 0.02)
            srv = d.cloud_ips[0]
            sport = int(r.integers(32768, 61000))
            if up:
                rtt = float(r.uniform(0.02, 0.2))
                tab, _ = tcp_sessions(r, t, d.mac, dip_, gw_mac, srv, sport, 443,
                                      [(0, PA, 31, 0.0, 32), (1, PA, 31, rtt, 32), (0, A, 0, 1e-4, 32)], label=0)
                parts.append(tab)
            else:  # no uplink: the connection is re-tried: SYN and two retransmissions (1 s, 3 s)
                tt = (t[:, None] + np.array([0.0, 1.0, 3.0])).ravel()
                parts.append(pg.table(len(tt), t=tt, kind=pg.TCP, smac=d.mac, dmac=gw_mac, sip=dip_, dip=srv,
                                      sport=np.repeat(r.integers(32768, 61000, len(t)), 3), dport=443,
                                      flags=pg.SYN, thl=40, win=29200, seq=np.repeat(r.integers(0, 2**32, len(t)), 3),
                                      ipid=r.integers(0, 65536, len(tt))))
        sessions: list[tuple[float | np.ndarray, int, int]] = []  # (rate per s or times, request, response bytes)
        if "tls_session_per_s" in d.rates:
            sessions.append((d.rates["tls_session_per_s"], int(r.integers(200, 700)), d.sizes["tls_response"]))
        if "web_sessions_per_s" in d.rates:
            sessions.append((d.rates["web_sessions_per_s"], int(r.integers(300, 900)), d.sizes["web_kb"] * 1024))
        if "firmware_per_s" in d.rates:
            sessions.append((d.rates["firmware_per_s"], 300, d.sizes["firmware_kb"] * 1024))
        if "stream_pps" in d.rates:  # streaming: segment fetches in on spells (adaptive video)
            seg_bytes = int(r.integers(200, 1200)) * 1024
            per_s = d.rates["stream_pps"] * 1448 / seg_bytes
            t = net.poisson(r, t0, t1, per_s)
            on = net.on_off_mask(r, t, t0, t1, d.rates["stream_on_s"], d.rates["stream_off_s"])
            sessions.append((t[on], 400, seg_bytes))
        for rate, request, response in sessions:
            t = rate if isinstance(rate, np.ndarray) else net.poisson(r, t0, t1, rate)
            if not len(t):
                continue
            srv = np.asarray(d.cloud_ips, np.uint32)[r.integers(0, len(d.cloud_ips), len(t))]
            if up:
                gap = float(np.exp(r.uniform(np.log(5e-4), np.log(1e-2))))  # 1.2-23 Mbit/s a flow
                tab, _ = tcp_sessions(r, t, d.mac, dip_, gw_mac, srv, r.integers(32768, 61000, len(t)), 443,
                                      _tls_steps(float(r.uniform(0.015, 0.15)), request, response, gap), label=0)
                parts.append(tab)
            else:
                tt = (t[:, None] + np.array([0.0, 1.0, 3.0])).ravel()
                parts.append(pg.table(len(tt), t=tt, kind=pg.TCP, smac=d.mac, dmac=gw_mac, sip=dip_,
                                      dip=np.repeat(srv, 3), sport=np.repeat(r.integers(32768, 61000, len(t)), 3),
                                      dport=443, flags=pg.SYN, thl=40, win=29200,
                                      seq=np.repeat(r.integers(0, 2**32, len(t)), 3), ipid=r.integers(0, 65536, len(tt))))
        # P2P keep-alives to the vendor's relay (UDP), answered when the uplink works
        if "p2p_s" in d.rates:
            t = net.periodic(r, t0, t1, d.rates["p2p_s"], 0.01)
            q = udp(t, d, gw_mac, d.cloud_ips[0], int(r.integers(10000, 60000)), 10240, d.sizes["p2p"],
                    ipid=r.integers(0, 65536, len(t)))
            parts.append(q)
            if up:
                parts.append(answer(q, r.uniform(0.03, 0.25, len(t)), d.sizes["p2p"]))
        # RTP video: motion clips to the NVR, or ring/motion events to the cloud
        clip_rate = d.rates.get("events_per_s", 0.0)
        dst = None
        if d.rates.get("rtp_share") and nvrs:
            clip_rate, dst = 1 / 600.0, nvrs[0]  # [assumed] a motion clip every ~10 min
        if clip_rate and (dst is not None or up):
            starts = net.poisson(r, t0, t1, clip_rate)
            if len(starts):
                n_each = int(float(r.uniform(10, 40)) * d.rates["video_pps"])
                t = (starts[:, None] + np.sort(r.uniform(0, n_each / d.rates["video_pps"], (len(starts), n_each)),
                                               axis=1)).ravel()
                size = np.where(r.random(len(t)) < 0.7, 1400, r.integers(200, 1400, len(t)))
                dmac_, dip2 = (dst.mac, ip(dst)) if dst is not None else (gw_mac, d.cloud_ips[0])
                parts.append(udp(t, d, dmac_, dip2, 6970, int(r.integers(2500, 3000)) * 2, size,
                                 ipid=r.integers(0, 65536, len(t))))
        # an app (or home-automation software) polling a device's local HTTP API while it is open: a new
        # connection every poll_interval_s in spells [sentinel] HueSwitch
        if "poll_spells_per_s" in d.rates and pollable:
            target = pollable[int(r.integers(0, len(pollable)))]
            starts = net.poisson(r, t0, t1, d.rates["poll_spells_per_s"])
            step = d.rates["poll_interval_s"]
            spells = [np.arange(a, min(a + d.rates["poll_spell_s"], t1), step) for a in starts]  # a few an hour
            t = np.concatenate(spells) if spells else np.zeros(0)
            t = t + r.uniform(-0.1, 0.1, len(t)) * step
            tab, _ = tcp_sessions(r, t, d.mac, dip_, target.mac, ip(target), r.integers(32768, 61000, len(t)), 80,
                                  _poll_steps(float(r.uniform(1e-3, 5e-3)), d.sizes["poll_request"],
                                              d.sizes["poll_response"]), label=0)
            parts.append(tab)
        # the NVR pings a camera now and then [sample]
        if "ping_s" in d.rates and cams:
            t = net.periodic(r, t0, t1, d.rates["ping_s"], 0.003)
            c = cams[int(r.integers(0, len(cams)))]
            e = pg.table(len(t), t=t, kind=pg.ICMP, smac=d.mac, dmac=c.mac, sip=dip_, dip=ip(c), itype=8, plen=32,
                         ipid=1, seq=np.arange(len(t)), ttl=128, df=0)
            parts += [e, net._reply(e, r.uniform(1e-3, 2e-3, len(t)), itype=0, ttl=64)]
    tab = pg.concat(parts)
    keep = (tab["t"] >= t0) & (tab["t"] < t1)
    return pg.take(tab, np.flatnonzero(keep))
