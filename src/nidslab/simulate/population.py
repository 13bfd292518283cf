"""A population of simulated IoT networks: each network drawn whole from a network seed.

Network 0 is today's Kitsune-calibrated camera LAN (:class:`~nidslab.simulate.config.SimConfig`,
written by :func:`nidslab.simulate.simulate_capture`, unchanged bit for bit). Every other network
``N >= 1`` is drawn by :func:`draw_network` from ``numpy.random.default_rng([N, 20])``: its
devices (kinds, counts, addresses, the protocols each speaks with their rates and sizes), whether
its uplink answers, and its Mirai outbreak (scanner rate and ports, victims and infection times,
where the CNC and report servers live, the attack vectors). :func:`simulate_network` turns a drawn
network into a capture (benign traffic from :mod:`.devices`, the outbreak from :mod:`.outbreaks`).

Every number drawn here has a source or a stated assumption, tagged as in :mod:`.config`:

- [sentinel]: the IoT Sentinel setup captures (Miettinen et al., ICDCS 2017; 12 devices in
  ``../shared/data/iot-sentinel``): frame sizes and protocol mix of plugs, hubs, cameras,
  bridges, scales. Setup captures are first-contact bursts, not steady state: only sizes and
  which protocols a kind speaks rest on them, never steady-state rates.
- [rfc]: protocol defaults: DHCP renewal at half the lease (RFC 2131), IGMP query interval
  125 s (RFC 2236), router advertisements every 200-600 s (RFC 4861 MaxRtrAdvInterval), NTP
  polls 64-1024 s (RFC 5905), mDNS announcements (RFC 6762), SSDP NOTIFY within half of
  max-age 1800 s (UPnP Device Architecture 1.1).
- [mirai], [antonakakis], [kitsune], [sample]: as in :mod:`.config`.
- [netlab360]: Netlab 360's reports on the Satori / Okiru variants (Dec 2017: ports 37215,
  Huawei HG532, and 52869, Realtek UPnP) and on ADB.Miner (Feb 2018: port 5555).
- [assumed]: a modelling choice where no source gives a number; the reason is given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from nidslab.errors import ConfigError
from nidslab.simulate.config import SimConfig

#: device kinds a drawn network can hold, and the protocols each speaks (beyond ARP, DHCP, DNS,
#: IGMP and IPv6 ND/MLD, which every device speaks; EAPOL only on Wi-Fi)
KINDS: dict[str, tuple[str, ...]] = {
    "router": ("dhcp-server", "dns-relay", "ra", "igmp-query", "ntp"),
    "camera": ("tls-cloud", "p2p", "rtp-to-nvr", "ssdp", "ntp", "firmware"),  # [sample] [sentinel] D-Link/Edimax cams
    "nvr": ("tls-cloud", "ping-cameras", "ntp"),  # [sample] the NVR pings a camera
    "plug": ("tls-cloud", "ntp", "ssdp", "firmware"),  # [sentinel] TP-Link HS110, Edimax, WeMo Insight
    "hub": ("tls-cloud", "mdns", "ssdp", "ntp", "firmware"),  # [sentinel] D-Link hub, WeMo Link, Hue bridge
    "doorbell": ("tls-cloud", "p2p", "ntp", "firmware", "rtp-events"),  # [assumed] a camera woken by the bell
    "thermostat": ("tls-cloud", "ntp", "firmware"),  # [assumed] a cloud-polled sensor like the Withings/Aria
    "tv": ("tls-cloud", "streaming", "mdns", "ssdp", "ntp"),  # [assumed] smart TV / streamer
    "phone": ("tls-web", "mdns", "ssdp-search", "app-poll"),  # [assumed] a handset: browsing, discovery; [sentinel] apps polling a hub
    "laptop": ("tls-web", "mdns", "ssdp-search", "ntp"),  # [assumed]
}
#: (min, max) devices of each kind per network [assumed: a household to a small office; at least
#: one camera-class device so that there is something for Mirai to infect]
COUNTS: dict[str, tuple[int, int]] = {
    "camera": (1, 6), "nvr": (0, 1), "plug": (0, 4), "hub": (0, 2), "doorbell": (0, 1), "thermostat": (0, 1),
    "tv": (0, 2), "phone": (1, 4), "laptop": (0, 3),
}
WIFI_SHARE = {"camera": 0.5, "nvr": 0.0, "plug": 1.0, "hub": 0.2, "doorbell": 1.0, "thermostat": 1.0, "tv": 0.5,
              "phone": 1.0, "laptop": 0.8}  # [assumed] plugs, doorbells and phones are Wi-Fi-only; NVRs wired
#: chance a device of this kind has telnet open with factory credentials [antonakakis: DVRs, IP cameras
#: and routers dominate the infected devices; plugs and hubs rarely run telnet]
VULNERABLE = {"camera": 0.6, "nvr": 0.6, "doorbell": 0.4, "plug": 0.1, "hub": 0.15, "thermostat": 0.0,
              "tv": 0.05, "phone": 0.0, "laptop": 0.0}
#: Mirai and its later variants: scanned ports with their weights
VARIANTS: dict[str, dict[int, float]] = {
    "mirai": {23: 0.9, 2323: 0.1},  # [mirai] scanner.c: every tenth SYN to 2323
    "tr069": {23: 0.6, 2323: 0.1, 7547: 0.3},  # [antonakakis] Nov 2016 variant adds TR-069 7547
    "web": {23: 0.5, 2323: 0.1, 80: 0.2, 8080: 0.2},  # [antonakakis] variants probing web interfaces
    "adb": {23: 0.6, 2323: 0.1, 5555: 0.3},  # [netlab360] ADB.Miner / later Mirai forks: 5555
    "satori": {23: 0.3, 2323: 0.05, 37215: 0.35, 52869: 0.3},  # [netlab360] Satori / Okiru, Dec 2017
}
VARIANT_P = {"mirai": 0.4, "tr069": 0.15, "web": 0.15, "adb": 0.1, "satori": 0.2}  # [assumed]
#: the attack vectors of the published source (attack.h), with the share used to draw them
#: [assumed: udp, syn, ack and the GRE floods were the most issued commands in [antonakakis] Table 8;
#: the others are kept with smaller weight]
VECTORS = {"udp": 0.2, "vse": 0.08, "dns": 0.08, "syn": 0.14, "ack": 0.12, "stomp": 0.06, "greip": 0.1,
           "greeth": 0.06, "udpplain": 0.08, "http": 0.08}
#: known cloud endpoints by kind [assumed: public addresses of the kind of service the [sentinel]
#: captures contact; the address only needs to be outside the LAN and stable per device]
CLOUD_NAMES = {
    "camera": ("p2p.cloudlinks.cn", "api.ipcam-cloud.com", "ntp.ipcam-cloud.com"),
    "nvr": ("dvr.ddns-service.net", "update.nvr-vendor.com"),
    "plug": ("devs.tplinkcloud.com", "use1-api.tplinkra.com", "api.xbcs.net"),
    "hub": ("bridge.meethue.com", "mydlink.com", "fw.wemo.belkin.com"),
    "doorbell": ("fw.ring.com", "es.ring.com"),
    "thermostat": ("frontdoor.nest.com", "wbs.withings.net"),
    "tv": ("api.netflix.com", "occ-0-1.nflxvideo.net", "samsungcloudsolution.com"),
    "phone": ("www.google.com", "graph.facebook.com", "api.whatsapp.net", "i.ytimg.com"),
    "laptop": ("www.wikipedia.org", "outlook.office365.com", "github.com", "update.microsoft.com"),
}


@dataclass
class Device:
    """One host of a drawn network. Rates are per second, sizes in bytes of payload."""

    name: str  # e.g. "camera-2"
    kind: str
    last: int  # last octet of its IPv4 address
    mac: int
    wifi: bool
    vulnerable: bool  # telnet open with factory credentials
    protocols: tuple[str, ...]
    cloud_ips: tuple[int, ...]  # its cloud / web servers (uint32)
    names: tuple[str, ...]  # DNS names it looks up
    rates: dict[str, float] = field(default_factory=dict)  # protocol -> events per second or period
    sizes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["mac"] = f"{self.mac:012x}"
        d["protocols"], d["cloud_ips"], d["names"] = list(self.protocols), list(self.cloud_ips), list(self.names)
        return d


@dataclass
class OutbreakSpec:
    """The drawn Mirai outbreak; times in seconds after the onset (before ``attack_scale``)."""

    variant: str
    ports: tuple[int, ...]
    port_weights: tuple[float, ...]
    scan_pps: int
    scan_lan_share: float
    victims: tuple[str, ...]  # device names, in infection order
    infection_times_s: tuple[float, ...]
    cnc_inside: bool
    report_inside: bool
    attacker_ip: int  # CNC, report server and loader (one operator machine)
    attacker_mac: int  # its MAC when inside; the router's when outside
    vectors: tuple[str, ...]  # attacks issued one after another
    flood_start_s: float  # after the last infection
    flood_duration_s: float  # per vector
    flood_pps: float  # per bot
    flood_payload: int
    target_ip: int

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("ports", "port_weights", "victims", "infection_times_s", "vectors"):
            d[k] = list(d[k])
        d["attacker_mac"] = f"{self.attacker_mac:012x}"
        return d


@dataclass
class NetworkSpec:
    """A whole drawn network: its devices (``devices[0]`` is the router) and its outbreak.

    ``sim``: the :class:`SimConfig` numbers the simulator shares with network 0 (ICMP rate limit,
    telnet timings, ports, binary size), with this network's subnet and uplink.
    """

    network: int
    subnet: str
    start_epoch: float
    uplink_reachable: bool
    devices: list[Device]
    outbreak: OutbreakSpec
    sim: SimConfig

    @property
    def router(self) -> Device:
        return self.devices[0]

    def device(self, name: str) -> Device:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)

    def kinds(self) -> dict[str, int]:
        """Devices per kind (router included)."""
        out: dict[str, int] = {}
        for d in self.devices:
            out[d.kind] = out.get(d.kind, 0) + 1
        return out

    def to_dict(self) -> dict:
        return {"network": self.network, "subnet": self.subnet, "start_epoch": self.start_epoch,
                "uplink_reachable": self.uplink_reachable, "kinds": self.kinds(),
                "devices": [d.to_dict() for d in self.devices], "outbreak": self.outbreak.to_dict()}

    def validate(self) -> None:
        """Raise ConfigError when the network cannot be simulated as drawn."""
        self.sim.validate()
        where = f"network {self.network}"
        if not self.devices or self.devices[0].kind != "router":
            raise ConfigError(f"{where}: the first device must be the router")
        lasts = [d.last for d in self.devices]
        macs = [d.mac for d in self.devices]
        if len(set(lasts)) != len(lasts) or len(set(macs)) != len(macs):
            raise ConfigError(f"{where}: two devices share an address")
        if not all(1 <= x <= 254 for x in lasts):
            raise ConfigError(f"{where}: a device's last octet lies outside 1-254")
        for d in self.devices:
            if d.kind not in KINDS:
                raise ConfigError(f"{where}: device {d.name} has unknown kind {d.kind!r}")
            bad = [k for k, v in d.rates.items() if not (np.isfinite(v) and v >= 0)]
            if bad:
                raise ConfigError(f"{where}: device {d.name} has invalid rates {bad}")
        o = self.outbreak
        names = {d.name for d in self.devices}
        if not o.victims or any(v not in names for v in o.victims):
            raise ConfigError(f"{where}: outbreak victims {o.victims} must be devices of the network")
        if any(not self.device(v).vulnerable for v in o.victims):
            raise ConfigError(f"{where}: every victim must be vulnerable")
        if len(o.infection_times_s) != len(o.victims) or list(o.infection_times_s) != sorted(o.infection_times_s):
            raise ConfigError(f"{where}: one ascending infection time per victim expected")
        if len(o.ports) != len(o.port_weights) or abs(sum(o.port_weights) - 1) > 1e-9:
            raise ConfigError(f"{where}: scan ports and weights must match and the weights sum to 1")
        if not o.vectors or any(v not in VECTORS for v in o.vectors):
            raise ConfigError(f"{where}: attack vectors {o.vectors}; expected some of {', '.join(VECTORS)}")
        if o.scan_pps <= 0 or o.flood_pps <= 0 or o.flood_duration_s <= 0:
            raise ConfigError(f"{where}: scan and flood rates and the flood duration must be > 0")
        if o.cnc_inside and (o.attacker_ip & 0xFF) in lasts:
            raise ConfigError(f"{where}: the attacker's address is taken by a device")


def _ip(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def _public_ips(rng, n: int) -> list[int]:
    from nidslab.simulate.mirai import random_public_ips

    return [int(x) for x in random_public_ips(rng, n)]


def _mac(rng) -> int:
    """A unicast, globally administered MAC with a random OUI [assumed: vendors differ per network]."""
    return int(rng.integers(0, 2**48)) & ~(0x03 << 40)


def draw_network(network: int, *, base: SimConfig | None = None) -> NetworkSpec:
    """Draw network ``network`` (>= 1) of the population; the same number always draws the same network.

    Cheap (a few ms, no packets): the whole population's configs can be drawn and validated at once.
    """
    network = int(network)
    if network < 1:
        raise ConfigError("network 0 is the Kitsune-calibrated LAN (SimConfig); drawn networks start at 1")
    rng = np.random.default_rng([network, 20])
    base = base or SimConfig()
    # ------------------------------------------------------------------ the LAN
    subnet = str(rng.choice(["192.168.0.0", "192.168.1.0", "192.168.178.0", "10.0.0.0", "192.168.2.0"]))  # [assumed] common router defaults
    uplink = bool(rng.random() < 0.8)  # [assumed] most homes have a working uplink; the Kitsune testbed did not [sample]
    start = float(base.start_epoch + rng.uniform(0, 3 * 365 * 86400))  # [assumed] 2018-2021
    counts = {k: int(rng.integers(lo, hi + 1)) for k, (lo, hi) in COUNTS.items()}
    if counts["camera"] < 2:
        counts["nvr"] = 0  # [assumed] an NVR records several cameras
    lasts = rng.permutation(np.arange(2, 250))  # DHCP pools hand out addresses in no fixed order
    devices = [Device("router", "router", 1, _mac(rng), False, False, KINDS["router"], (), (),
                      rates={"ra_period_s": float(rng.uniform(200, 600)),  # [rfc] RFC 4861
                             "igmp_query_s": 125.0,  # [rfc] RFC 2236 query interval
                             "lease_s": float(rng.choice([3600.0, 43200.0, 86400.0]))},  # [assumed] router defaults
                      sizes={"dns_answer_extra": 16})]
    i = 0
    for kind, n in counts.items():
        for j in range(n):
            vulnerable = bool(rng.random() < VULNERABLE[kind])
            wifi = bool(rng.random() < WIFI_SHARE[kind])
            names = tuple(str(x) for x in rng.choice(CLOUD_NAMES[kind], size=min(len(CLOUD_NAMES[kind]), int(rng.integers(1, 4))),
                                     replace=False))
            d = Device(f"{kind}-{j + 1}", kind, int(lasts[i]), _mac(rng), wifi, vulnerable, KINDS[kind],
                       tuple(_public_ips(rng, int(rng.integers(1, 4)))), names)
            i += 1
            d.rates, d.sizes = _draw_rates(rng, d)
            devices.append(d)
    # ------------------------------------------------------------------ the outbreak
    vuln = [d for d in devices if d.vulnerable]
    if not vuln:  # [assumed] every network of the population has at least one Mirai victim
        cams = [d for d in devices if d.kind == "camera"]
        cams[0].vulnerable = True
        vuln = [cams[0]]
    n_vict = int(rng.integers(1, min(len(vuln), 6) + 1))
    victims = tuple(str(d.name) for d in rng.permutation(np.array(vuln, dtype=object))[:n_vict])
    # [assumed] the scanner finds each victim within minutes: Mirai probes a LAN address every
    # 1 / (share x pps / 254) s; times are drawn at that order and sorted
    inf = np.sort(rng.uniform(20, 400, n_vict))
    inf[0] = float(rng.uniform(5, 60))  # patient zero: found soon after the onset
    inf = np.sort(inf)
    variant = str(rng.choice(list(VARIANT_P), p=list(VARIANT_P.values())))
    ports = VARIANTS[variant]
    # [assumed] testbeds host the CNC on the LAN [kitsune]; botnets in the wild do not. Without an
    # uplink nothing outside can reach the LAN, so such a network's CNC is inside (as at network 0)
    cnc_inside = bool(rng.random() < 0.3) or not uplink
    report_inside = cnc_inside  # [mirai] the operator runs CNC and report server on one host in the testbed's setup
    if cnc_inside:
        free = sorted(set(range(200, 250)) - {d.last for d in devices})
        att_ip = (_ip(subnet) & 0xFFFFFF00) | int(rng.choice(free))
        att_mac = _mac(rng)
    else:
        att_ip = _public_ips(rng, 1)[0]
        att_mac = devices[0].mac
    vec_names, vec_p = list(VECTORS), np.array(list(VECTORS.values()))
    vectors = tuple(str(v) for v in rng.choice(vec_names, size=int(rng.integers(1, 3)), replace=False, p=vec_p / vec_p.sum()))
    outbreak = OutbreakSpec(
        variant=variant, ports=tuple(ports), port_weights=tuple(ports.values()),
        scan_pps=int(rng.choice([160, 160, 160, 80, 320])),  # [mirai] SCANNER_RAW_PPS 160; [assumed] forks halve or double it
        scan_lan_share=float(rng.uniform(0.005, 0.05)),  # [assumed] as network 0's 0.02, spread
        victims=victims, infection_times_s=tuple(float(x) for x in inf),
        cnc_inside=cnc_inside, report_inside=report_inside, attacker_ip=att_ip, attacker_mac=att_mac,
        vectors=vectors,
        flood_start_s=float(rng.uniform(20, 120)),  # [assumed] the operator attacks once the bots report in
        flood_duration_s=float(rng.uniform(20, 90)),  # [mirai] the command carries a duration; [assumed] short
        flood_pps=float(np.exp(rng.uniform(np.log(150), np.log(1500)))),  # [assumed] camera-class CPUs and links
        flood_payload=int(rng.choice([512, 512, 256, 1024, 1400])),  # [mirai] default 512; [assumed] len option
        target_ip=_public_ips(rng, 1)[0],
    )
    sim = dataclasses.replace(base, subnet=subnet, uplink_reachable=uplink, start_epoch=start,
                              scan_pps=outbreak.scan_pps, scan_lan_share=outbreak.scan_lan_share,
                              n_vulnerable=min(len(victims), 8), infection_times_s=tuple(inf[:8]),
                              flood_pps=outbreak.flood_pps, flood_payload=outbreak.flood_payload)
    spec = NetworkSpec(network, subnet, start, uplink, devices, outbreak, sim)
    return spec


def with_firmware_x(spec: NetworkSpec, x: float) -> NetworkSpec:
    """``spec`` with every device's firmware downloads ``x`` times as frequent (a daily download, the
    population's assumption, times ``x``); sizes and everything else unchanged.

    Training augmentation, not a population of its own (:attr:`nidslab.generalise.GeneraliseConfig.
    firmware_x`): a 600 s training window holds about one download in 144 device windows, so a model
    trained on such windows meets its first multi-megabyte download at a site.
    """
    if not x > 0:
        raise ConfigError(f"firmware_x must be > 0, got {x}")
    if x == 1:
        return spec
    devices = [dataclasses.replace(d, rates={k: v * x if k == "firmware_per_s" else v for k, v in d.rates.items()})
               for d in spec.devices]
    return dataclasses.replace(spec, devices=devices)


def _draw_rates(rng, d: Device) -> tuple[dict[str, float], dict[str, int]]:
    """Per-device rates (events/s, or periods in s where the name says ``_s``) and sizes (bytes)."""
    u = rng.uniform
    r: dict[str, float] = {
        "dns_per_s": float(np.exp(u(np.log(1 / 600), np.log(1 / 20)))),  # [assumed] TTL-bound lookups, 20 s-10 min
        "arp_s": float(u(15, 45)),  # [assumed] Linux base_reachable_time 30 s +-50%
        "igmp": 1.0,  # answers the router's queries [rfc]
        "mld_s": float(u(60, 250)),  # [rfc] MLDv2 reports on the router's queries; [assumed] not all devices
    }
    s: dict[str, int] = {"dhcp": int(rng.choice([300, 342, 548])),  # [sentinel] 342-590 B frames
                         "eapol": int(rng.choice([95, 117, 121]))}  # [sentinel] 113-124 B frames
    if d.kind in ("camera", "doorbell", "plug", "hub", "thermostat", "tv", "nvr"):
        r["tls_keepalive_s"] = float(u(30, 300))  # [assumed] MQTT/HTTPS keep-alive 30 s-5 min (AWS IoT 30-1200 s)
        r["tls_session_per_s"] = float(np.exp(u(np.log(1 / 1800), np.log(1 / 60))))  # [assumed] cloud API calls
        s["tls_response"] = int(u(200, 4000))  # [sentinel] HTTP(S) frames 68-811 B mean; [assumed] responses
    if "ntp" in d.protocols:
        r["ntp_s"] = float(rng.choice([64.0, 128.0, 300.0, 1024.0, 3600.0]))  # [rfc] poll 64-1024 s; SNTP hourly
    if "p2p" in d.protocols:
        r["p2p_s"] = float(u(0.5, 30))  # [sample] 0.5 s at the Kitsune cameras; [assumed] others slower
        s["p2p"] = int(rng.choice([40, 48, 64, 96]))  # [sample] 40-byte keep-alives
    if "ssdp" in d.protocols:
        r["ssdp_s"] = float(u(30, 900))  # [rfc] NOTIFY within max-age/2; [sample] every 35 s at the cameras
        s["ssdp"] = int(u(180, 420))  # [sentinel] 239-448 B frames
    if "ssdp-search" in d.protocols:
        r["ssdp_search_per_s"] = float(u(1 / 900, 1 / 120))  # [assumed] apps searching for casts/devices
    if "mdns" in d.protocols:
        r["mdns_s"] = float(u(20, 300))  # [rfc] RFC 6762 announcements/queries; [assumed] app activity
        s["mdns"] = int(u(120, 320))  # [sentinel] 166-353 B frames
    if "rtp-to-nvr" in d.protocols:
        r["rtp_share"] = float(rng.choice([0.0, 1.0], p=[0.6, 0.4]))  # [assumed] 40% of cameras record continuously to an NVR
        r["video_pps"] = float(u(30, 120))  # [assumed] 0.3-1.5 Mbit/s H.264 sub-stream
    if "rtp-events" in d.protocols:
        r["events_per_s"] = float(u(1 / 7200, 1 / 900))  # [assumed] a ring or motion every 15 min-2 h
        r["video_pps"] = float(u(60, 150))
    if "firmware" in d.protocols:
        r["firmware_per_s"] = 1 / 86400  # [assumed] a daily update check that downloads
        s["firmware_kb"] = int(u(200, 4000))  # [assumed] IoT firmware images 0.2-4 MB
    if "streaming" in d.protocols:
        r["stream_on_s"] = float(u(300, 3600))  # [assumed] viewing sessions ...
        r["stream_off_s"] = float(u(1800, 14400))  # ... and pauses
        r["stream_pps"] = float(u(60, 250))  # [assumed] 0.7-3 Mbit/s adaptive video (SD to HD) in 1448-byte segments
    if "tls-web" in d.protocols:
        r["web_sessions_per_s"] = float(u(1 / 120, 1 / 10))  # [assumed] an idle-to-active handset
        s["web_kb"] = int(u(5, 200))
    if "app-poll" in d.protocols:  # while an app is open it polls a hub, plug or camera on the LAN
        r["poll_spells_per_s"] = float(u(1 / 3600, 1 / 600))  # [assumed] the app opened 1-6 times an hour ...
        r["poll_spell_s"] = float(u(60, 300))  # [assumed] ... for 1-5 minutes
        r["poll_interval_s"] = float(u(0.5, 3.0))  # [sentinel] HueSwitch app every 0.5 s; [assumed] others slower
        s["poll_request"] = int(u(150, 400))  # [sentinel] 266-byte GET frames (200 B of HTTP)
        s["poll_response"] = int(u(300, 1400))  # [sentinel] 920-byte answer frames (854 B)
    if d.kind == "nvr":
        r["ping_s"] = float(u(1, 10))  # [sample] the Kitsune NVR pings a camera every 1.02 s
    return r, s


def population_table(networks: range | list[int]) -> list[dict]:
    """One summary row per drawn network (for docs and ``nidslab simulate --network``)."""
    rows = []
    for n in networks:
        s = draw_network(n)
        o = s.outbreak
        rows.append({"network": n, "devices": len(s.devices), "kinds": s.kinds(), "uplink": s.uplink_reachable,
                     "variant": o.variant, "victims": len(o.victims), "cnc": "LAN" if o.cnc_inside else "Internet",
                     "vectors": "+".join(o.vectors), "scan_pps": o.scan_pps})
    return rows
