"""Training that generalises (issue 20 item 5) and its measures (item 6), as one call for a study part.

>>> from nidslab.generalise import GeneraliseConfig, run_generalise
>>> result = run_generalise(GeneraliseConfig())                # doctest: +SKIP
>>> for r in result.recipes: print(r.recipe, r.level, r.verdict)  # doctest: +SKIP

Every recipe (:class:`~nidslab.generalise.models.Recipe`) is trained on the training networks; its
operating point (a threshold level of :data:`~nidslab.generalise.models.LEVELS` and how many alerts of a
host within a short window make an alert count) is, among those within the false-incident budget on
every validation network (each calibrated on its own benign window) that detect the most infected hosts,
the middle threshold level with the most alerts there (:func:`choose_operating_point`, rule ``middle``);
held-out networks and the real data are then measured at that point, never used to choose anything.

Validation counts the model's own alerts, without the contact rule: where a validation network's
infections come from the Internet, the contact rule finds every infected host at any threshold, so the
network would favour the strictest points, at which the model misses bots whose operator sits on the LAN
(the default study's one validation network did so: it chose ``max+50%`` and no model found a host of
the two held-out networks, whose operators were on the LAN). At the chosen point the validation networks
are measured again with the rule, as the held-out ones are; :func:`run_generalise` favours the recipe
that, there, stays within the budget, finds the most hosts soonest, then has the fewest false incidents
and the lowest per-packet false-positive rate.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nidslab.errors import ConfigError
from nidslab.generalise import transfer
from nidslab.generalise.measure import (
    NetworkMeasures,
    login_floor_text,
    measure_network,
    site_alerts,
    verdict,
)
from nidslab.generalise.models import (
    LEVELS,
    Recipe,
    TrainSettings,
    calibration_windows,
    train,
)

#: what the default configuration compares: the lab's way (its 92 absolute features, one standardisation
#: over the training rows) against the choice the ablation kept (LightGBM on log features standardised on
#: each site's own benign traffic) and that choice with a DNN on the same features that must agree (an alert
#: needs both: the two flag different real benign captures); docs/generalise.md has the numbers behind them
DEFAULT_RECIPES = (
    Recipe("dnn", "lab", "pooled"),
    Recipe("lightgbm", "log", "site"),
    Recipe("dnn+lightgbm", "log", "site"),
)
#: what ``--full`` compares: every view and standardisation for the DNN, LightGBM, KitNET, combinations,
#: an ensemble of seeds and augmentation across networks
FULL_RECIPES = DEFAULT_RECIPES + (
    Recipe("dnn", "relative+rates", "site"),
    Recipe("kitnet", "relative+rates", "site"),
    Recipe("dnn+kitnet", "relative+rates", "site"),
    Recipe("dnn", "lab", "site"),
    Recipe("dnn", "log", "site"),
    Recipe("dnn", "relative", "site"),
    Recipe("dnn|kitnet", "relative+rates", "site"),
    Recipe("lightgbm", "lab", "pooled"),
    Recipe("lightgbm", "relative+rates", "site"),
    Recipe("lightgbm", "log", "pooled"),
    Recipe("kitnet", "log", "site"),
    Recipe("dnn", "relative+rates", "site", dnn_seeds=3),
    Recipe("dnn", "relative+rates", "site", augment=2),
)


#: the rules :func:`choose_operating_point` knows
RULES = ("margin", "middle", "fastest")


@dataclass(frozen=True)
class GeneraliseConfig:
    """What :func:`run_generalise` does.

    The networks are the population of issue 20 (:func:`~nidslab.generalise.networks.family_networks`):
    ids up to ``family_networks`` from the ``mirai-sim-family`` of that many networks with ``benign_s``
    seconds of benign traffic, larger ids from a family with ``long_benign_s``. ``firmware_x``: the training
    networks' firmware downloads that many times as frequent as the population draws them (144: about one
    per device in a 600 s window instead of one a day; augmentation, see docs/generalise.md); validation and
    held-out networks keep the population's.
    ``train``/``validation``/``test``: network ids; the three never share a network. ``recipes``: the
    choices compared; ``levels``: the threshold levels validation picks from; ``confirm``: the alert
    counts validation picks from (an alert counts once it is at least the k-th of its host within
    ``confirm_window_s``: :func:`~nidslab.generalise.measure.confirmed_alerts`); ``choose``: how
    validation picks among the points, one of :data:`RULES` (:func:`choose_operating_point`);
    ``contacts``: add the contact rule's alerts (a host accepting a telnet login from a host inside an open
    incident: :mod:`nidslab.contacts`) at every site, simulated and real;
    ``budget_per_day``: false incidents per day allowed; ``detect_within_s``: the
    time-to-incident target; ``gap_s``: the incident gap; ``calibration_fraction``: share of each site's
    benign-only traffic used to calibrate (the rest is scored); ``real_data``: the ``../shared/data``
    folder (None: found beside the repository, skipped if absent; ``""``: skipped).
    """

    train: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    validation: tuple[int, ...] = (25, 26)
    test: tuple[int, ...] = (27, 28, 29, 30)
    family_networks: int = 24
    benign_s: float = 600.0
    long_benign_s: float = 7200.0
    firmware_x: float = 144.0
    recipes: tuple[Recipe, ...] = DEFAULT_RECIPES
    levels: tuple[str, ...] = LEVELS
    confirm: tuple[int, ...] = (1, 4, 16)
    confirm_window_s: float = 2.0
    choose: str = "middle"
    contacts: bool = True
    budget_per_day: float = 1.0
    detect_within_s: float = 10.0
    gap_s: float = 60.0
    calibration_fraction: float = 0.5
    settings: TrainSettings = field(default_factory=TrainSettings)
    real_data: str | None = None

    @classmethod
    def full(cls, **changes) -> GeneraliseConfig:
        """The whole population: every network of the 24-network family trains; more recipes compared."""
        return cls(**{"train": tuple(range(1, 25)), "recipes": FULL_RECIPES, **changes})

    def __post_init__(self) -> None:
        sets = [set(self.train), set(self.validation), set(self.test)]
        if not self.train or not self.validation or not self.test:
            raise ConfigError("train, validation and test need at least one network each")
        if sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]:
            raise ConfigError("train, validation and test networks must not share a network")
        bad = [lv for lv in self.levels if lv not in LEVELS]
        if bad:
            raise ConfigError(f"threshold level(s) {', '.join(bad)}; expected some of {', '.join(LEVELS)}")
        if self.choose not in RULES:
            raise ConfigError(f"operating-point rule {self.choose!r}; expected one of {', '.join(RULES)}")
        if not self.firmware_x > 0:
            raise ConfigError(f"firmware_x must be > 0, got {self.firmware_x}")
        if not 0 < self.calibration_fraction < 1:
            raise ConfigError(f"calibration_fraction must lie in (0, 1), got {self.calibration_fraction}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["recipes"] = [r.name for r in self.recipes]
        return d


@dataclass
class RecipeResult:
    """One recipe: the level validation chose, its measures per held-out network, real-data transfer."""

    recipe: str
    level: str
    confirm_alerts: int
    train_seconds: float
    train_rows: int
    validation: list[NetworkMeasures]
    test: list[NetworkMeasures]
    real: dict
    verdict: str
    seconds: float

    def to_dict(self) -> dict:
        d = asdict(self)
        return d


@dataclass
class GeneraliseResult:
    """Everything :func:`run_generalise` measured (JSON-able with :meth:`to_dict`)."""

    config: dict
    networks: dict  # name -> {rows, benign_hours, infected}
    recipes: list[RecipeResult]
    best: str  # the recipe validation networks favour (fewest false incidents, then most hosts detected)
    targets: list[dict]  # the targets table of issue 20 for ``best``
    seconds: float

    def to_dict(self) -> dict:
        return {"config": self.config, "networks": self.networks, "recipes": [r.to_dict() for r in self.recipes],
                "best": self.best, "targets": self.targets, "seconds": self.seconds}


def load_networks(config: GeneraliseConfig, progress=None, executor=None) -> tuple[list, list, list]:
    """The (train, validation, test) networks of ``config`` (see :class:`GeneraliseConfig`); families not
    cached yet are built one task per network on ``executor`` (:mod:`nidslab.cluster`; default: here)."""
    from nidslab.generalise import networks as nets

    ids = [*config.train, *config.validation, *config.test]
    every = nets.family_networks(ids, networks=config.family_networks, benign_s=config.benign_s,
                                 long_benign_s=config.long_benign_s, firmware_x=config.firmware_x,
                                 progress=progress, executor=executor)
    a, b = len(config.train), len(config.train) + len(config.validation)
    return every[:a], every[a:b], every[b:]


def measure_site(site, net, level: str, *, eval_from: int, gap_s: float, scores=None, alerts: int = 1,
                 window_s: float = 2.0, contacts: bool = True) -> NetworkMeasures:
    """Measures of a calibrated :class:`~nidslab.generalise.models.SiteModel` on network ``net`` at
    ``level``, an alert counting once it is the ``alerts``-th of its host within ``window_s``, with the
    contact rule's alerts when ``contacts`` (:func:`site_alerts`; rows before ``eval_from`` are the
    calibration window and not scored for false alarms)."""
    scores = scores if scores is not None else site.scores(net.X)
    flagged, contact = site_alerts(net, site.flagged(scores, level), alerts=alerts, window_s=window_s, gap_s=gap_s,
                                   contacts=contacts)
    return measure_network(net.name, net.ts, net.host, net.truth, flagged, onset_s=net.onset_s,
                           infected=net.infected, eval_from_s=float(net.ts[eval_from]),
                           threshold=float(min(site.thresholds(level).values())), gap_s=gap_s,
                           bot_start=net.bot_start, contact=contact, accepts=net.accepts)


def _site_scores(trained, net, fraction: float):
    fit, thr, end = calibration_windows(net.ts, net.benign_rows, fraction=fraction)
    site = trained.at_site(net.X, fit, thr)
    return site, site.scores(net.X), end


def choose_operating_point(per_point: dict[tuple[str, int], list[NetworkMeasures]], budget: float,
                           rule: str = "middle"):
    """The operating point (level, alerts) validation picks.

    Among the points within ``budget`` false incidents per day on every network given, those that detect
    the most infected hosts; of these, with ``rule="margin"``, the strictest (highest level, then most
    alerts: the widest margin against false alarms the validation networks cannot show in a few hours),
    with ``rule="fastest"`` the one with the shortest worst, then median, time to incident; with
    ``rule="middle"`` the middle one of their threshold levels (the stricter of two middles), with the
    most alerts there: a margin both against false alarms and against attacks that score lower on
    another network than on the validation ones. The strictest point when none is within the budget.
    """
    if rule not in RULES:
        raise ConfigError(f"operating-point rule {rule!r}; expected one of {', '.join(RULES)}")

    def strict(p):
        return (LEVELS.index(p[0]), p[1])

    ok = [p for p, ms in per_point.items() if all(m.false_incidents_per_day <= budget for m in ms)]
    if not ok:
        return max(per_point, key=strict)
    most = max(sum(m.infected_detected for m in per_point[p]) for p in ok)
    ok = [p for p in ok if sum(m.infected_detected for m in per_point[p]) == most]
    if rule == "margin":
        return max(ok, key=strict)
    if rule == "middle":
        levels = sorted({p[0] for p in ok}, key=LEVELS.index)
        mid = levels[len(levels) // 2]
        return max((p for p in ok if p[0] == mid), key=strict)

    def speed(p):
        ms = per_point[p]
        worst = max((m.worst_time_to_incident_s if m.worst_time_to_incident_s is not None else 0.0) for m in ms)
        med = np.median([m.median_time_to_incident_s for m in ms if m.median_time_to_incident_s is not None] or [np.inf])
        return (worst, med, strict(p))

    return min(ok, key=speed)


def run_recipe(recipe: Recipe, train_nets, val_nets, test_nets, config: GeneraliseConfig,
               real_dir: Path | None = None, progress=None, *, fitted: dict | None = None) -> RecipeResult:
    """Train ``recipe``, pick its operating point on the validation networks, measure the held-out ones and
    the real data there. ``fitted``: models other recipes of the run fitted on the same rows
    (:func:`~nidslab.generalise.models.train`)."""
    start = time.perf_counter()
    trained = train(recipe, train_nets, config.settings, fitted=fitted)
    points = [(lv, k) for lv in config.levels for k in config.confirm]
    per_point: dict[tuple[str, int], list[NetworkMeasures]] = {p: [] for p in points}
    kw: dict[str, Any] = {"gap_s": config.gap_s, "window_s": config.confirm_window_s, "contacts": config.contacts}
    sites = [(net, *_site_scores(trained, net, config.calibration_fraction)) for net in val_nets]
    for net, site, scores, end in sites:  # the model's own alerts choose: see the module docstring
        for lv, k in points:
            per_point[(lv, k)].append(measure_site(site, net, lv, eval_from=end, scores=scores, alerts=k,
                                                   **{**kw, "contacts": False}))
    level, alerts = choose_operating_point(per_point, config.budget_per_day, config.choose)
    validation = [measure_site(site, net, level, eval_from=end, scores=scores, alerts=alerts, **kw)
                  for net, site, scores, end in sites]  # as the operator sees them, as the held-out ones
    test = []
    for net in test_nets:
        site, scores, end = _site_scores(trained, net, config.calibration_fraction)
        test.append(measure_site(site, net, level, eval_from=end, scores=scores, alerts=alerts, **kw))
        if progress:
            progress(len(test), len(test_nets), f"{recipe.name}: {net.name}")
    real = real_transfer(trained, level, alerts, config.confirm_window_s, real_dir,
                         contacts=config.contacts, gap_s=config.gap_s) if real_dir else {}
    worst = max(m.false_incidents_per_day for m in test)
    found, infected = sum(m.infected_detected for m in test), sum(m.infected_hosts for m in test)
    return RecipeResult(recipe=recipe.name, level=level, confirm_alerts=alerts, train_seconds=trained.seconds,
                        train_rows=trained.train_rows, validation=validation, test=test, real=real,
                        verdict=verdict(worst, found, infected, config.budget_per_day),
                        seconds=time.perf_counter() - start)


def real_transfer(trained, level: str, alerts: int, window_s: float, data_dir: Path, *, contacts: bool = True,
                  gap_s: float = 60.0) -> dict:
    """The three real-data checks of issue 20 (see :mod:`.transfer`) for one trained recipe."""
    home = transfer.real_capture(str(data_dir / transfer.MIRAI2000))
    return {"mirai2000": transfer.mirai2000(trained, level, data_dir, net=home, alerts=alerts, window_s=window_s,
                                            contacts=contacts, gap_s=gap_s),
            "doorbell": transfer.doorbell(trained, level, data_dir),
            "sentinel": transfer.sentinel(trained, level, data_dir, home=home, alerts=alerts, window_s=window_s,
                                          contacts=contacts, gap_s=gap_s)}


def poisson_upper(k: int, confidence: float = 0.95) -> float:
    """Upper confidence bound on a Poisson mean after ``k`` events (3.0 for none at 95%): how many false
    incidents a few hours without one can still hide."""
    from scipy.stats import chi2

    return float(chi2.ppf(confidence, 2 * (k + 1)) / 2)


def _worst(m: NetworkMeasures) -> float:
    """Worst time to incident of a network, inf when unknown (0 s is a time, not a missing one)."""
    return np.inf if m.worst_time_to_incident_s is None else float(m.worst_time_to_incident_s)


def _floor_text(test: list[NetworkMeasures], within: float) -> str:
    """The time-to-incident target's floor (:func:`~nidslab.generalise.measure.login_floor_text`), after "; floor: "."""
    text = login_floor_text(test, within)
    return f"; floor: {text}" if text else ""


def targets_table(r: RecipeResult, config: GeneraliseConfig) -> list[dict]:
    """Issue 20's targets for one recipe: what was asked, what was measured, met or not."""
    rows = []
    worst_fid = max(m.false_incidents_per_day for m in r.test)
    days = sum(m.benign_hours for m in r.test) / 24.0
    k = sum(m.false_incidents for m in r.test)
    rows.append({"target": f"held-out networks: <= {config.budget_per_day:g} false incident/day each",
                 "measured": ", ".join(f"{m.network} {m.false_incidents_per_day:.1f}/d ({m.false_incidents} in "
                                       f"{m.benign_hours:.1f} h)" for m in r.test)
                 + f"; all together {k} in {days * 24:.1f} h, 95% upper bound {poisson_upper(k) / days:.0f}/day",
                 "met": worst_fid <= config.budget_per_day})
    det = all(m.infected_detected == m.infected_hosts for m in r.test)
    worst = max(_worst(m) if m.infected_hosts else 0.0 for m in r.test)
    med = [m.median_time_to_incident_s for m in r.test if m.median_time_to_incident_s is not None]
    rows.append({"target": f"every infected host detected within {config.detect_within_s:g} s (median and worst)",
                 "measured": f"{sum(m.infected_detected for m in r.test)}/{sum(m.infected_hosts for m in r.test)} "
                             f"hosts; median {max(med) if med else float('nan'):.2f} s (worst network), "
                             f"worst {worst:.2f} s" + _floor_text(r.test, config.detect_within_s),
                 "met": det and worst <= config.detect_within_s})
    if r.real:
        m2 = r.real["mirai2000"]
        rows.append({"target": "mirai2000 second half: <= 0.1% flagged, no incident",
                     "measured": f"{m2['flagged_share']:.2%} flagged, {m2['incidents']} incidents",
                     "met": m2["flagged_share"] <= 1e-3 and m2["incidents"] == 0})
        d = r.real["doorbell"]
        rows.append({"target": "doorbell: <= 0.1% of other benign flagged, >= 99% gafgyt caught",
                     "measured": f"{d['benign_flagged_share']:.2%} benign flagged, {d['gafgyt_caught_share']:.1%} caught"
                                 + (f" ({why})" if (why := transfer.doorbell_misses_text(d)) else ""),
                     "met": d["benign_flagged_share"] <= 1e-3 and d["gafgyt_caught_share"] >= 0.99})
        s = r.real["sentinel"]
        worst_s = max(c["flagged_share"] for c in s)
        rows.append({"target": "iot-sentinel: <= 1% of each capture flagged, no incident",
                     "measured": f"worst {worst_s:.1%} flagged, {sum(c['incidents'] for c in s)} incidents over "
                                 f"{len(s)} captures ({sum(c['flagged_share'] <= 0.01 and c['incidents'] == 0 for c in s)}"
                                 " meet it)",
                     "met": worst_s <= 0.01 and all(c["incidents"] == 0 for c in s)})
    return rows


def run_generalise(config: GeneraliseConfig = GeneraliseConfig(), *, progress=None,
                   executor=None, networks: tuple[list, list, list] | None = None) -> GeneraliseResult:
    """Train every recipe of ``config`` on its training networks and measure it (see the module docstring).
    ``executor``: where families not cached yet are built (:func:`load_networks`); ``networks``: the
    (train, validation, test) networks :func:`load_networks` already gave for ``config`` (not loaded again)."""
    start = time.perf_counter()
    real_dir = None
    if config.real_data != "":
        real_dir = Path(config.real_data) if config.real_data else transfer.default_data_dir()
    tr, va, te = networks if networks is not None else load_networks(config, progress, executor)
    fitted: dict = {}  # e.g. LightGBM alone and the DNN + LightGBM pair share their LightGBM
    results = [run_recipe(r, tr, va, te, config, real_dir, progress, fitted=fitted) for r in config.recipes]

    # validation only: within the budget, most hosts found, fastest, fewest false incidents, then the lowest
    # per-packet FPR (the widest margin against the false incidents a few validation hours cannot show)
    def key(r: RecipeResult):
        fid = max(m.false_incidents_per_day for m in r.validation)
        found = sum(m.infected_detected for m in r.validation)
        slow = max(_worst(m) for m in r.validation)
        return (fid > config.budget_per_day, -found, slow, fid, max(m.fpr for m in r.validation))

    best = min(results, key=key)
    nets = {n.name: {"rows": len(n), "benign_hours": n.benign_seconds / 3600, "infected": len(n.infected),
                     "role": role} for role, group in (("train", tr), ("validation", va), ("test", te))
            for n in group}
    return GeneraliseResult(config=config.to_dict(), networks=nets, recipes=results, best=best.recipe,
                            targets=targets_table(best, config), seconds=time.perf_counter() - start)
