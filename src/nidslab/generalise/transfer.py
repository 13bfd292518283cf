"""Transfer to real traffic (``../shared/data``): false alarms of a calibrated model on benign captures
it never saw, and the N-BaIoT doorbell's gafgyt rows caught at the calibrated threshold.

Each function takes a :class:`~nidslab.generalise.models.Trained` recipe and a threshold level, calibrates
it on the real site's own benign traffic as issue 20 prescribes, and returns a plain dict:

- :func:`mirai2000`: calibrated on the first half of ``kitsune-mirai/mirai2000.pcap`` (all benign), the
  second half scored: share flagged and incidents.
- :func:`doorbell`: calibrated on the first 1,500 benign rows of ``n-baiot/danmini_doorbell_3300rows.csv``;
  the other benign rows flagged and the gafgyt rows caught (rows without times or hosts: per row, no
  confirmation by a run of alerts), with the gafgyt rows of the extractor's warm-up counted apart
  (:data:`WARMUP_PACKETS`).
- :func:`sentinel`: calibrated on the whole of mirai2000 (another network), then each of the 12
  ``iot-sentinel`` setup captures scored as a new device joining it: share flagged and incidents.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from nidslab.errors import DataError
from nidslab.generalise.measure import incident_table, site_alerts
from nidslab.generalise.networks import Network, capture_network

MIRAI2000 = "kitsune-mirai/mirai2000.pcap"
DOORBELL = "n-baiot/danmini_doorbell_3300rows.csv"
SENTINEL = "iot-sentinel"
DOORBELL_CALIBRATION_ROWS = 1_500
#: A row whose source host's slowest statistics (``MI_dir_L0.01_weight``: packets of the last minutes) hold
#: fewer packets than this is a warm-up row: the doorbell's gafgyt scan starts a fresh extractor (N-BaIoT
#: extracted each attack file on its own), so its first rows describe streams of 1-6 packets, as the benign
#: file's own first rows do. Counted apart, never left out of the target's share.
WARMUP_PACKETS = 10.0


def default_data_dir() -> Path | None:
    """``../shared/data`` beside the repository (or ``$NIDSLAB_SHARED_DATA``), None when absent."""
    import os

    env = os.environ.get("NIDSLAB_SHARED_DATA")
    if env:
        return Path(env) if Path(env).is_dir() else None
    here = Path(__file__).resolve()
    for up in here.parents:
        cand = up.parent / "shared" / "data"
        if cand.is_dir():
            return cand
    return None


@lru_cache(maxsize=32)
def real_capture(path: str) -> Network:
    """A real capture's network, extracted once per process (every recipe scores the same captures)."""
    return capture_network(path)


def _split(n: int) -> tuple[slice, slice]:
    """Fit rows (first two thirds) and threshold rows (last third) of an n-row calibration window."""
    cut = (2 * n) // 3
    return slice(0, cut), slice(cut, n)


def _flag_site(trained, level: str, X_cal: np.ndarray, X: np.ndarray) -> np.ndarray:
    fit, thr = _split(len(X_cal))
    site = trained.at_site(X_cal, fit, thr)
    return site.flagged(site.scores(X), level)


def mirai2000(trained, level: str, data_dir: Path, *, net: Network | None = None, alerts: int = 1,
              window_s: float = 2.0, contacts: bool = True, gap_s: float = 60.0) -> dict:
    """Calibrate on the first half of mirai2000.pcap, score the second half (an alert counts once it is the
    ``alerts``-th of its host within ``window_s``, the contact rule's alerts added with ``contacts``, as at
    the simulated sites)."""
    net = net or real_capture(str(data_dir / MIRAI2000))
    half = len(net) // 2
    flagged = _flag_site(trained, level, net.X[:half], net.X[half:])
    second = net.rows(slice(half, None))
    flagged, _ = site_alerts(second, flagged, alerts=alerts, window_s=window_s, gap_s=gap_s, contacts=contacts)
    hosts, _start, _end = incident_table(second.ts, second.host, flagged, gap_s=gap_s)
    return {"packets": len(flagged), "seconds": float(net.ts[-1] - net.ts[half]),
            "flagged_share": float(flagged.mean()), "incidents": len(hosts)}


def read_doorbell(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The doorbell's rows (n, 115) float32 and benign flags (n,) bool (the ``Normal`` column)."""
    import pyarrow.csv as pacsv

    from nidslab.schema import FEATURE_NAMES

    table = pacsv.read_csv(path)
    missing = [c for c in (*FEATURE_NAMES, "Normal") if c not in table.column_names]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing[:3])}; expected the 115 N-BaIoT features "
                        "and Normal")
    X = np.column_stack([table[c].to_numpy().astype(np.float32) for c in FEATURE_NAMES])
    return X, table["Normal"].to_numpy().astype(bool)


def doorbell(trained, level: str, data_dir: Path) -> dict:
    """Calibrate on the first 1,500 benign doorbell rows; other benign rows flagged, gafgyt rows caught.

    Also the gafgyt rows of the extractor's warm-up (:data:`WARMUP_PACKETS`) and the share caught of the
    others: the target counts every row; these say where the misses are."""
    from nidslab.schema import FEATURE_NAMES

    X, benign = read_doorbell(data_dir / DOORBELL)
    ben = np.flatnonzero(benign)
    cal, rest = ben[:DOORBELL_CALIBRATION_ROWS], ben[DOORBELL_CALIBRATION_ROWS:]
    attack = np.flatnonzero(~benign)
    flagged = _flag_site(trained, level, X[cal], X)
    warmup = X[attack, FEATURE_NAMES.index("MI_dir_L0.01_weight")] < WARMUP_PACKETS
    after = flagged[attack[~warmup]]
    return {"calibration_rows": len(cal), "benign_rows": len(rest), "gafgyt_rows": len(attack),
            "benign_flagged_share": float(flagged[rest].mean()), "gafgyt_caught_share": float(flagged[attack].mean()),
            "benign_flagged_rows": int(flagged[rest].sum()), "gafgyt_caught_rows": int(flagged[attack].sum()),
            "gafgyt_warmup_rows": int(warmup.sum()), "gafgyt_warmup_caught": int(flagged[attack[warmup]].sum()),
            "gafgyt_caught_share_after_warmup": float(after.mean()) if len(after) else float("nan")}


def doorbell_misses_text(d: dict) -> str:
    """Where a :func:`doorbell` result's missed gafgyt rows are, in words, when at least half of them are
    warm-up rows ("" otherwise, when none is missed, or for a result without the warm-up counts)."""
    missed = d["gafgyt_rows"] - d.get("gafgyt_caught_rows", d["gafgyt_rows"])
    if missed <= 0 or "gafgyt_warmup_rows" not in d:
        return ""
    in_warmup = d["gafgyt_warmup_rows"] - d["gafgyt_warmup_caught"]
    if 2 * in_warmup < missed:  # the warm-up is not where the misses are
        return ""
    return (f"{in_warmup} of the {missed} missed row(s) are warm-up rows (their source host seen in fewer than "
            f"{WARMUP_PACKETS:g} packets: the gafgyt file's first rows, as the benign file's first rows are); "
            f"{d['gafgyt_caught_share_after_warmup']:.1%} of the other {d['gafgyt_rows'] - d['gafgyt_warmup_rows']} caught")


def sentinel(trained, level: str, data_dir: Path, *, home: Network | None = None, alerts: int = 1,
             window_s: float = 2.0, contacts: bool = True, gap_s: float = 60.0) -> list[dict]:
    """Calibrate on mirai2000 (all of it), then score each IoT Sentinel capture on its own (alerts as in
    :func:`mirai2000`)."""
    home = home or real_capture(str(data_dir / MIRAI2000))
    fit, thr = _split(len(home))
    site = trained.at_site(home.X, fit, thr)
    out = []
    for path in sorted((data_dir / SENTINEL).glob("*.pcap")):
        net = real_capture(str(path))
        flagged, _ = site_alerts(net, site.flagged(site.scores(net.X), level), alerts=alerts, window_s=window_s,
                                 gap_s=gap_s, contacts=contacts)
        hosts, _s, _e = incident_table(net.ts, net.host, flagged, gap_s=gap_s)
        out.append({"capture": path.name, "packets": len(net), "flagged_share": float(flagged.mean()),
                    "incidents": len(hosts)})
    return out
