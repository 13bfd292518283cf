"""Parameters of the simulated camera LAN and its Mirai outbreak, each with its source.

Sources, cited by tag in the comments:

- [sample]: the real capture ``mirai2000.pcap`` (the first 71 s, 2,000 packets, of the
  Kitsune Mirai capture of the 192.168.2.0/24 camera LAN, 2018-10-25 05:46:22 UTC). Its
  uplink answered nothing: every packet to the Internet met an ICMP "net unreachable" from the
  gateway, so the cameras' cloud traffic is retries (TCP SYNs, UDP P2P keep-alives, DNS).
- [mirai]: the Mirai source code as published in 2016 (jgamblin/Mirai-Source-Code):
  ``bot/scanner.c``, ``bot/attack_udp.c``, ``bot/attack_tcp.c``, ``bot/main.c``, ``loader/``.
- [antonakakis]: Antonakakis et al., "Understanding the Mirai Botnet", USENIX Security 2017.
- [kitsune]: Mirsky et al., "Kitsune: An Ensemble of Autoencoders for Online Network
  Intrusion Detection", NDSS 2018, and its released Mirai capture (764,137 packets, the
  first 121,621 before the infection).
- [assumed]: a modelling choice where no source gives a number; the reason is given.

Durations of the outbreak (``*_s`` fields after the onset) are for the full-size capture
(764,137 packets); a smaller capture scales them by ``packets / 764_137`` so it keeps every
phase (rates and per-session timings are not scaled).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from nidslab.schema import MIRAI_PACKETS

FULL_PACKETS = MIRAI_PACKETS  # [kitsune] packets in the released Mirai capture
FULL_ONSET = 121_621  # [kitsune] packets before the infection starts
START_EPOCH = 1540446382.933899  # [sample] first packet: 2018-10-25 05:46:22.933899 UTC


#: the floods the simulated bots send (Mirai's attack_udp_generic, attack_tcp_syn, attack_tcp_ack)
FLOOD_TYPES = ("udp", "syn", "ack")


@dataclass(frozen=True)
class SimConfig:
    """Every number the simulator uses (plain values; see the module docstring for sources)."""

    # ------------------------------------------------------------------ network
    start_epoch: float = START_EPOCH  # [sample] capture start, seconds since the epoch
    subnet: str = "192.168.2.0"  # [sample] the LAN is 192.168.2.0/24, gateway .1
    uplink_reachable: bool = False  # [sample] the gateway answers Internet-bound packets with ICMP type 3 code 0
    icmp_unreach_per_s: float = 1.0  # [sample] Linux icmp_ratelimit=1000 ms: 1 error/s per LAN host ...
    icmp_unreach_burst: int = 6  # [sample] ... with bursts of up to 6 (XRLIM_BURST_FACTOR; the sample shows 5-6)
    gateway_delay_s: float = 0.0005  # [sample] gateway answers 0.4-0.6 ms after the packet
    # ------------------------------------------------------------------ benign traffic
    p2p_period_s: float = 0.5  # [sample] cameras .108/.113 send a UDP/10240 keep-alive to each P2P server every 0.5 s
    p2p_on_mean_s: float = 20.0  # [sample] keep-alive bursts last 15-40 s ...
    p2p_off_mean_s: float = 40.0  # [sample] ... and pause between them (.108 on 39 s, .113 on 15 s of 71 s)
    cloud_tcp_attempts_per_s: float = 0.4  # [sample] .108's connection attempts per second (others weighted)
    cloud_tcp_tries: int = 3  # [sample] SYN retransmissions per attempt before a new source port
    dns_period_s: float = 2.4  # [sample] mean gap between new lookups of a weight-1 host (.109: 39 queries in 71 s)
    samsung_dns_period_s: float = 1.0  # [sample] camera .115 asks for its cloud server every second
    ping_period_s: float = 1.02  # [sample] the NVR (.101) pings camera .110 every ~1.02 s (Windows ping, 74 B)
    arp_probe_period_s: float = 1.0  # [sample] camera .109 asks for absent .106 every second, unanswered
    arp_refresh_s: float = 30.0  # [assumed] ARP cache refresh between active LAN pairs (Linux reachable time 15-45 s)
    stp_period_s: float = 2.0  # [sample] switch BPDUs every 2 s (802.1D hello time)
    loopback_period_s: float = 10.0  # [sample] switch Ethernet loopback (0x9000) frames every 10 s
    ra_period_s: float = 7.5  # [sample] gateway IPv6 router advertisements (10 in 71 s)
    ssdp_period_s: float = 35.0  # [sample] SSDP NOTIFY bursts to 239.255.255.250:1900 (8 packets in 71 s)
    ntp_period_s: float = 12.0  # [sample] 90-byte NTP requests to a pool server (6 in 71 s)
    live_view_per_hour: float = 1.0  # [assumed] the NVR pulls a live RTP view from a camera now and then
    live_view_s: float = 20.0  # [assumed] length of a live view
    video_pps: float = 90.0  # [assumed] RTP packets per second of a 1-2 Mbit/s H.264 stream (25 fps)
    video_payload: int = 1400  # [assumed] RTP payload bytes (MTU-sized fragments of video frames)
    # ------------------------------------------------------------------ outbreak (times after the onset)
    scan_pps: int = 160  # [mirai] scanner.c SCANNER_RAW_PPS: SYNs sent in one burst each second
    scan_burst_gap_s: float = 4e-5  # [assumed] back-to-back sendto() of the burst on a camera-class CPU
    scan_port_2323_share: float = 0.1  # [mirai] scanner.c: "if (i % 10 == 0) dport = 2323 else 23"
    scan_lan_share: float = 0.02  # [assumed] share of scan targets inside the /24 (Mirai skips 192.168/16;
    #                               the testbed's infections need LAN hits, so its scanner must have reached them)
    n_vulnerable: int = 3  # [assumed] cameras with factory telnet credentials that get infected
    infection_times_s: tuple[float, ...] = (60.0, 180.0, 300.0)  # [assumed] when the scan finds each victim
    #   (at scan_lan_share x scan_pps probes/s over 254 addresses, a given address is probed every ~80 s)
    max_login_tries: int = 10  # [mirai] scanner.c gives up on a target after 10 failed logins
    login_gap_s: float = 0.3  # [assumed] telnet round trips on the LAN (prompt, echo) between steps
    report_port: int = 48101  # [mirai] scan results go to the report server on TCP 48101
    cnc_port: int = 23  # [mirai] bots connect to the CNC on TCP 23
    cnc_heartbeat_s: float = 60.0  # [mirai] main.c: bot and CNC exchange 2-byte keep-alives every 60 s
    loader_delay_s: float = 2.0  # [assumed] from report to the loader's telnet login
    binary_bytes: int = 74_000  # [assumed] a stripped static ARM Mirai build is ~60-90 kB
    flood_type: str = "udp"  # [mirai] attack vector: "udp" (UDP generic), "syn" or "ack"
    flood_start_s: float = 780.0  # [assumed] CNC issues the attack once the bots are up
    flood_duration_s: float = 300.0  # [mirai] the attack command carries its duration; the capture ends in it
    flood_pps: float = 400.0  # [assumed] packets/s one camera-class bot sustains (ARM SoC, 100 Mbit/s NIC)
    flood_payload: int = 512  # [mirai] attack_udp.c / attack_tcp.c ACK: default payload 512 bytes
    attacker_ip_last: int = 200  # [assumed] the operator's machine (CNC, report, loader) on the LAN

    def to_dict(self) -> dict:
        """The fields as plain JSON-able values."""
        d = asdict(self)
        d["infection_times_s"] = list(self.infection_times_s)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SimConfig:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        names = {f.name for f in fields(cls)}
        bad = sorted(set(d) - names)
        if bad:
            from nidslab.errors import ConfigError

            raise ConfigError(f"simulation config: unknown key(s) {', '.join(bad)}")
        d = dict(d)
        if "infection_times_s" in d:
            d["infection_times_s"] = tuple(d["infection_times_s"])
        return cls(**d)

    def validate(self) -> None:
        """Raise ConfigError for values the simulator cannot use."""
        from nidslab.errors import ConfigError

        if self.flood_type not in FLOOD_TYPES:
            raise ConfigError(f"simulation config: flood_type {self.flood_type!r}; expected udp, syn or ack")
        if not 0.0 <= self.scan_port_2323_share <= 1.0 or not 0.0 <= self.scan_lan_share <= 1.0:
            raise ConfigError("simulation config: scan_port_2323_share and scan_lan_share must lie in [0, 1]")
        if self.n_vulnerable < 0 or self.n_vulnerable > 8 or len(self.infection_times_s) < self.n_vulnerable:
            raise ConfigError(
                "simulation config: n_vulnerable must be 0-8 with one infection_times_s entry per victim"
            )
        positive = ("scan_pps", "flood_pps", "p2p_period_s", "dns_period_s", "samsung_dns_period_s",
                    "ping_period_s", "stp_period_s")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"simulation config: {name} must be > 0, got {getattr(self, name)}")
