"""The Mirai outbreak of a drawn network (:class:`~nidslab.simulate.population.OutbreakSpec`).

The same phases and session scripts as network 0's outbreak (:mod:`.mirai`: scanner bursts, telnet
brute force, report, loader and HTTP fetch, CNC keep-alives, floods), generalised to a drawn
network: the scanner's ports follow the drawn variant, the operator's machine (CNC, report server,
loader) sits on the LAN or on the Internet (then its packets pass the router, and patient zero is
reached from outside through a forwarded telnet port [assumed: UPnP or DMZ exposure]), and the
bots run the drawn attack vectors of ``attack.h`` one after another.

Rows carry the phase as their label (:data:`PHASES`: 1 scan ... 5 flood), so packet truth is
``label > 0`` and the phase of every malicious packet is known exactly.
"""

from __future__ import annotations

import numpy as np

from nidslab.simulate import mirai
from nidslab.simulate import network as net
from nidslab.simulate import pcapgen as pg
from nidslab.simulate.mirai import A, PA, SA, tcp_sessions
from nidslab.simulate.population import NetworkSpec

#: phase codes of the per-packet phase column (0 benign)
PHASES = ("benign", "scan", "bruteforce", "loader", "propagation", "flood")
SCAN, BRUTE, LOADER, PROP, FLOOD = 1, 2, 3, 4, 5
VSE_PAYLOAD = b"\xff\xff\xff\xffTSource Engine Query\x00"  # [mirai] attack_udp.c attack_udp_vse (table.c)
ATK_VEC = {"udp": 0, "vse": 1, "dns": 2, "syn": 3, "ack": 4, "stomp": 5, "greip": 6, "greeth": 7,
           "udpplain": 9, "http": 10}  # [mirai] attack.h ATK_VEC_* (8, proxy, was never implemented)


def _ip_of(spec: NetworkSpec, last: int) -> int:
    return (net.ip4(spec.subnet) & 0xFFFFFF00) | int(last)


def scan_traffic(spec: NetworkSpec, rng, smac, sip, t0, t1, sport, mac_of_last: np.ndarray) -> dict:
    """One scanner from t0 to t1: SYN bursts to the variant's ports, ARP, the LAN hosts' resets."""
    o = spec.outbreak
    if t1 <= t0:
        return pg.table(0)
    bursts = t0 + np.arange(int(np.ceil(t1 - t0)))
    pps = o.scan_pps
    n = len(bursts) * pps
    offs = np.cumsum(rng.exponential(spec.sim.scan_burst_gap_s, (len(bursts), pps)), axis=1)
    t = np.repeat(bursts, pps) + (offs - offs[:, :1]).ravel()
    dport = np.asarray(o.ports)[rng.choice(len(o.ports), n, p=np.asarray(o.port_weights))]
    dip = mirai.random_public_ips(rng, n)
    lan = rng.random(n) < o.scan_lan_share
    last = rng.integers(1, 255, n)
    dip = np.where(lan, (net.ip4(spec.subnet) & 0xFFFFFF00) | last, dip).astype(np.uint32)
    lan &= dip != np.uint32(sip)
    tmac = mac_of_last[last]
    live = tmac != 0
    gw = spec.router.mac
    dmac = np.where(lan, tmac, gw)
    keep = (t < t1) & (~lan | live)
    k = int(keep.sum())
    parts = [pg.table(k, t=t[keep], kind=pg.TCP, smac=smac, dmac=dmac[keep], sip=sip, dip=dip[keep], sport=sport,
                      dport=dport[keep], seq=dip[keep], flags=pg.SYN, thl=20, win=int(rng.integers(0, 65536)),
                      ipid=rng.integers(0, 65536, k), df=0, label=SCAN)]
    li = np.flatnonzero(lan & (t < t1))
    if len(li):  # ARP once per target per minute; unanswered tries for empty addresses
        order = li[np.lexsort((t[li], last[li]))]
        new = np.ones(len(order), bool)
        new[1:] = (last[order][1:] != last[order][:-1]) | (t[order][1:] - t[order][:-1] > 60.0)
        q = order[new]
        tries = np.where(live[q], 1, 3)
        qq = np.repeat(q, tries)
        tq = t[qq] - np.where(live[qq], 4e-4, 0) + pg.ragged_arange(tries) * 1.0
        parts.append(pg.table(len(qq), t=tq, kind=pg.ARP, smac=smac, dmac=pg.BROADCAST, sip=sip, dip=dip[qq],
                              itype=1, label=SCAN))
        a = q[live[q]]
        parts.append(pg.table(len(a), t=t[a] - 2e-4, kind=pg.ARP, smac=tmac[a], dmac=smac, sip=dip[a], dip=sip,
                              itype=2, label=SCAN))
        s = np.flatnonzero(keep & lan)
        parts.append(pg.table(len(s), t=t[s] + rng.uniform(2e-4, 6e-4, len(s)), kind=pg.TCP, smac=tmac[s],
                              dmac=smac, sip=dip[s], dip=sip, sport=dport[s], dport=sport,
                              ack=(dip[s].astype(np.int64) + 1) & 0xFFFFFFFF, flags=pg.RST | pg.ACK, thl=20,
                              label=SCAN))
    return pg.concat(parts)


def _flood(spec: NetworkSpec, rng, vector: str, smac: int, sip: int, a: float, b: float) -> dict:
    """One bot's flood with ``vector`` from a to b (absolute s)."""
    o = spec.outbreak
    gw_mac, gw_ip = spec.router.mac, _ip_of(spec, 1)
    n = max(int((b - a) * o.flood_pps), 0)
    if n == 0:
        return pg.table(0)
    tt = a + (np.arange(n) + rng.uniform(0, 1, n)) / o.flood_pps
    common = dict(t=tt, smac=smac, dmac=gw_mac, sip=sip, dip=o.target_ip, ipid=rng.integers(0, 65536, n), df=0,
                  label=FLOOD)
    rnd_ports = dict(sport=rng.integers(1024, 65536, n), dport=rng.integers(1, 65536, n))
    if vector == "udp":  # raw UDP, random ports, no DF
        return pg.table(n, kind=pg.UDP, plen=o.flood_payload, **rnd_ports, **common)
    if vector == "udpplain":  # [mirai] plain sockets: one socket per target, fixed ports, DF set by the kernel
        common["df"] = 1
        return pg.table(n, kind=pg.UDP, plen=o.flood_payload, sport=int(rng.integers(32768, 61000)),
                        dport=int(rng.integers(1, 65536)), **common)
    if vector == "vse":  # Valve source engine queries to 27015
        return pg.table(n, kind=pg.UDP, plen=len(VSE_PAYLOAD), pay=pg.BANK.id(VSE_PAYLOAD),
                        sport=rng.integers(1024, 65536, n), dport=27015, **common)
    if vector == "dns":  # [mirai] water torture: random names under the target's domain, to the local resolver
        common.update(dmac=gw_mac, dip=gw_ip)
        return pg.table(n, kind=pg.UDP, plen=rng.integers(30, 45, n), sport=rng.integers(1024, 65536, n), dport=53,
                        **common)
    if vector == "syn":
        return pg.table(n, kind=pg.TCP, flags=pg.SYN, thl=40, seq=rng.integers(0, 2**32, n),
                        win=rng.integers(0, 65536, n), **rnd_ports, **common)
    if vector == "ack":
        return pg.table(n, kind=pg.TCP, flags=pg.ACK, thl=20, plen=o.flood_payload, seq=rng.integers(0, 2**32, n),
                        ack=rng.integers(0, 2**32, n), win=rng.integers(0, 65536, n), **rnd_ports, **common)
    if vector == "stomp":  # [mirai] connect first, then ACK|PSH floods on the established connection
        sport, dport = int(rng.integers(32768, 61000)), int(rng.integers(1, 65536))
        isn = int(rng.integers(0, 2**32))
        seq = (isn + 1 + np.arange(n, dtype=np.int64) * 768) & 0xFFFFFFFF
        hs, _ = tcp_sessions(rng, [a - 0.05], smac, sip, gw_mac, o.target_ip, sport, dport,
                             [(0, pg.SYN, 0, 0.0, 40), (1, SA, 0, 0.03, 40), (0, A, 0, 0.001, 32)], label=FLOOD)
        fl = pg.table(n, kind=pg.TCP, flags=PA, thl=20, plen=768, seq=seq, ack=int(rng.integers(0, 2**32)),
                      win=29200, sport=sport, dport=dport, **common)
        return pg.concat([hs, fl])
    if vector in ("greip", "greeth"):
        return pg.table(n, kind=pg.GRE, icode=int(vector == "greeth"), plen=o.flood_payload, **rnd_ports, **common)
    if vector == "http":  # [mirai] attack_app_http: connections that GET / and read the answer
        k = max(n // 8, 1)
        starts = np.sort(rng.uniform(a, b, k))
        get = b"GET / HTTP/1.1\r\nUser-Agent: Mozilla/5.0\r\nHost: target\r\nConnection: keep-alive\r\n\r\n"
        if not spec.uplink_reachable:
            return pg.table(k, t=starts, kind=pg.TCP, smac=smac, dmac=gw_mac, sip=sip, dip=o.target_ip,
                            sport=rng.integers(32768, 61000, k), dport=80, flags=pg.SYN, thl=40, win=29200,
                            label=FLOOD)
        steps = [(0, pg.SYN, 0, 0.0, 40), (1, SA, 0, 0.03, 40), (0, A, 0, 0.001, 32), (0, PA, get, 0.001, 32),
                 (1, A, 0, 0.03, 32), (1, PA, 512, 0.01, 32), (0, A, 0, 1e-4, 32), (0, pg.FIN | A, 0, 0.01, 32)]
        tab, _ = tcp_sessions(rng, starts, smac, sip, gw_mac, o.target_ip, rng.integers(32768, 61000, k), 80,
                              steps, label=FLOOD)
        return tab
    raise ValueError(f"unknown attack vector {vector!r}")


def outbreak(spec: NetworkSpec, seed: int, t_on: float, horizon: float, scale: float = 1.0) -> mirai.Outbreak:
    """Every malicious packet of the drawn outbreak in [t_on, t_on + horizon); ``scale`` multiplies its times."""
    o, cfg = spec.outbreak, spec.sim
    rng = np.random.default_rng([seed, 22])
    end = t_on + horizon
    gw = spec.router.mac
    att_mac, att_ip = o.attacker_mac, o.attacker_ip
    mac_of_last = np.zeros(256, np.uint64)
    for d in spec.devices:
        mac_of_last[d.last] = d.mac
    if o.cnc_inside:
        mac_of_last[att_ip & 0xFF] = att_mac
    parts: list[dict] = []
    phases: dict[str, list[float]] = {}

    mark = mirai.phase_marker(phases, end)

    def session(t, cmac, cip, smac, sip, dport, steps, label):
        tab, t_end = tcp_sessions(rng, [t], cmac, cip, smac, sip, int(rng.integers(32768, 61000)), dport, steps,
                                  label=label)
        parts.append(tab)
        return float(t_end[0])

    # patient zero: the operator's scanner (on the LAN, or on the Internet behind the router)
    scanners = [(att_mac, att_ip, t_on, int(rng.integers(1024, 65536)))]
    bots = []
    for k, name in enumerate(o.victims):
        v = spec.device(name)
        v_mac, v_ip = v.mac, _ip_of(spec, v.last)
        t_hit = t_on + o.infection_times_s[k] * scale
        f_mac, f_ip, _, f_port = scanners[int(rng.integers(0, len(scanners)))] if k else scanners[0]
        parts.append(pg.table(3, t=t_hit + np.array([0, 4e-4, 6e-4]), kind=pg.TCP, smac=[f_mac, v_mac, f_mac],
                              dmac=[v_mac, f_mac, v_mac], sip=[f_ip, v_ip, f_ip], dip=[v_ip, f_ip, v_ip],
                              sport=[f_port, 23, f_port], dport=[23, f_port, 23], flags=[pg.SYN, SA, pg.RST],
                              seq=[v_ip, int(rng.integers(0, 2**32)), (v_ip + 1) & 0xFFFFFFFF],
                              ack=[0, (v_ip + 1) & 0xFFFFFFFF, 0], thl=[20, 24, 20], df=[0, 1, 1], label=SCAN))
        rtt = 5e-4 if f_mac != gw else 0.05
        k_ok = int(rng.integers(1, cfg.max_login_tries + 1))
        creds = mirai.pick_credentials(rng, k_ok)
        user, password = creds[-1]
        t = t_hit + 0.01
        for attempt, (u, p) in enumerate(creds):
            t = session(t, f_mac, f_ip, v_mac, v_ip, 23, mirai.login_steps(cfg, u, p, attempt == k_ok - 1, rtt),
                        BRUTE) + 0.05
        mark("bruteforce", t_hit, t)
        msg = (b"\x00" + v_ip.to_bytes(4, "big") + (23).to_bytes(2, "big") + bytes([len(user)]) + user.encode()
               + bytes([len(password)]) + password.encode())
        r_rtt = 5e-4 if o.report_inside else 0.05
        rep = mirai._open(r_rtt) + [(0, PA, msg, 0.001, 32), (1, A, 0, r_rtt, 32)] + mirai._close(r_rtt)
        if f_mac != att_mac:  # a bot reports to the report server (patient zero's report never touches the LAN)
            t = session(t, f_mac, f_ip, att_mac, att_ip, cfg.report_port, rep, BRUTE)
        t_load = t + cfg.loader_delay_s
        a_rtt = 5e-4 if o.cnc_inside else 0.05
        t_cmd = session(t_load, att_mac, att_ip, v_mac, v_ip, 23, mirai.loader_steps(cfg, user, password, att_ip, a_rtt),
                        LOADER)
        t_got = session(t_cmd + 0.05, v_mac, v_ip, att_mac, att_ip, 80,
                        mirai.http_fetch_steps(cfg.binary_bytes, att_ip, a_rtt), LOADER)
        fin = [(0, PA, b"./dvrHelper telnet.loader; /bin/busybox IHCCE\r\n", 0.05, 32),
               (1, PA, b"listening tun0\r\nIHCCE: applet not found\r\n", 0.2, 32)] + mirai._close(a_rtt)
        t_done = session(t_got, att_mac, att_ip, v_mac, v_ip, 23, fin, LOADER)
        mark("loader", t_load, t_done)
        t_bot = t_done + 1.0
        bots.append((v_mac, v_ip, t_bot, int(rng.integers(32768, 61000))))
        scanners.append((v_mac, v_ip, t_bot, int(rng.integers(1024, 65536))))
    t_f = max(b[2] for b in bots) + o.flood_start_s * scale
    dur = o.flood_duration_s * scale
    t_f_end = t_f + dur * len(o.vectors)
    for v_mac, v_ip, t_bot, c_port in bots:  # CNC connection and keep-alives, attack commands
        if t_bot >= end:
            continue
        n_hb = int(max(end - t_bot, 0) / cfg.cnc_heartbeat_s) + 1
        c_rtt = 5e-4 if o.cnc_inside else 0.05
        steps = mirai._open(c_rtt) + [(0, PA, b"\x00\x00\x00\x01", 0.002, 32), (0, PA, 1, 0.001, 32),
                                      (1, A, 0, c_rtt, 32)]
        for _ in range(n_hb):
            steps += [(0, PA, 2, cfg.cnc_heartbeat_s, 32), (1, PA, 2, c_rtt, 32), (0, A, 0, 3e-4, 32)]
        tab, _ = tcp_sessions(rng, [t_bot], v_mac, v_ip, att_mac, att_ip, c_port, cfg.cnc_port, steps, label=PROP)
        for j, vec in enumerate(o.vectors):
            tc = t_f + j * dur
            if t_bot < tc < end:
                body = (int(dur).to_bytes(4, "big") + bytes([ATK_VEC[vec], 1]) + int(o.target_ip).to_bytes(4, "big")
                        + bytes([32, 0]))
                tab = mirai._insert_command(tab, v_mac, tc, (len(body) + 2).to_bytes(2, "big") + body)
        tab["label"][:] = PROP
        parts.append(tab)
        mark("propagation", t_bot, end)
    for s_mac, s_ip, t_s, port in scanners:
        if s_mac == gw:  # an Internet scanner's other probes never reach this LAN
            continue
        parts.append(scan_traffic(spec, rng, s_mac, s_ip, t_s, end, port, mac_of_last))
    mark("scan", t_on, end)
    flooders = [(m, ip) for m, ip, tb, _ in bots if tb < t_f]
    if o.cnc_inside:
        flooders = [(att_mac, att_ip)] + flooders
    for j, vec in enumerate(o.vectors):
        a, b = t_f + j * dur + 0.01, min(t_f + (j + 1) * dur, end)
        if a >= end:
            break
        for m, ip in flooders:
            parts.append(_flood(spec, rng, vec, m, ip, a, b))
        mark("flood", a, b)
    tab = pg.concat(parts)
    tab = pg.take(tab, np.flatnonzero((tab["t"] >= t_on) & (tab["t"] < end)))
    order = ["scan", "bruteforce", "loader", "propagation", "flood"]
    return mirai.Outbreak(tab, [(k, *phases[k]) for k in order if k in phases], flood_end=t_f_end)
