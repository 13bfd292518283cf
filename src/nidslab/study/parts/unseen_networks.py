"""Beyond the lab (issue 20): do the detectors hold on networks they never saw? Trained on a few networks of
the ``mirai-sim-family`` population, each model is calibrated on every held-out network's own benign
traffic and measured there as an operator would see it: false incidents per day, infected hosts detected,
time to each host's first incident; then on real captures (``../shared/data``) where they are present.

The work is :mod:`nidslab.generalise`'s: :func:`~nidslab.generalise.run_generalise` trains each recipe on
the training networks, picks its operating point on the validation networks and measures the held-out
(test) networks and the real data at that point. Training networks ``1..train_networks`` have
``benign_s`` seconds of benign traffic; held-out networks ``heldout_first..`` have ``heldout_benign_s``
(issue 20's targets need at least 4 of them with 2 hours each: ``nidslab lab --full``). The families are
built on first use (counted in ``family_seconds``) and cached under ``$NIDSLAB_HOME``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nidslab.study.blocks import Block, Rendered
from nidslab.study.config import Full, Quick, Study, known_experiment, need
from nidslab.study.context import Context
from nidslab.study.numbers import fmt
from nidslab.study.results import doc, optional

NAME = "unseen_networks"
NEEDS: tuple[str, ...] = ("experiments",)
CACHE = "part"

REFERENCE_ENV = "NIDSLAB_REFERENCE_DATA"  # as the evaluation part: the environment wins over the study file
#: the recipes of nidslab.generalise the default study compares: the lab's way and the choice it kept
DEFAULT_RECIPES = ("dnn / lab / pooled", "lightgbm / log / site", "dnn+lightgbm / log / site")


@dataclass(frozen=True)
class Config:
    """``[unseen_networks]``: which networks train and which are held out, the recipes, the budget."""

    TABLE = NAME
    train_networks: int = 3          # networks 1..N of the population train (benign_s seconds of benign traffic)
    benign_s: float = 600.0
    firmware_x: float = 144.0        # the training networks' firmware downloads this many times as frequent
    validation_networks: int = 1     # held-out networks from heldout_first on: they pick the operating point
    test_networks: int = 2           # the next ones: measured, never used to choose anything
    heldout_first: int = 25
    heldout_benign_s: float = 1800.0
    recipes: tuple[str, ...] = DEFAULT_RECIPES   # "model / view / scaling" (nidslab.generalise.Recipe.name)
    budget_per_day: float = 1.0      # false incidents per day allowed (issue 20: 1)
    detect_within_s: float = 10.0    # every infected host detected within this (issue 20: 10 s)
    gap_s: float = 60.0              # an incident closes after this many quiet seconds
    contacts: bool = True            # the contact rule: a host accepting a telnet login from a host in an incident,
                                     # or from the Internet, opens an incident (nidslab.contacts)
    rows_per_network: int = 10_000   # training rows drawn per training network
    epochs: int = 4                  # the DNN's epochs
    experiment: str = "balanced_2x20"  # the lab's network whose random-split score stands beside the network split
    reference_data: str = "../shared/data"  # resolved against the current folder; $NIDSLAB_REFERENCE_DATA wins

    def __post_init__(self) -> None:
        w = f"[{NAME}]"
        for key in ("train_networks", "validation_networks", "test_networks", "rows_per_network", "epochs"):
            need(getattr(self, key) >= 1, f"{w} {key}", "must be at least 1", getattr(self, key))
        need(self.heldout_first > self.train_networks, f"{w} heldout_first",
             f"must be above the training networks (1..{self.train_networks})", self.heldout_first)
        for key in ("benign_s", "heldout_benign_s"):
            need(getattr(self, key) >= 60, f"{w} {key}", "must be at least 60 seconds", getattr(self, key))
        need(self.firmware_x > 0, f"{w} firmware_x", "must be positive", self.firmware_x)
        for key in ("budget_per_day", "detect_within_s", "gap_s"):
            need(getattr(self, key) > 0, f"{w} {key}", "must be positive", getattr(self, key))
        need(len(self.recipes) >= 1, f"{w} recipes", "must name at least one recipe", self.recipes)
        for name in self.recipes:
            recipe_of(name, f"{w} recipes")

    def check(self, study: Study) -> None:
        known_experiment(study, f"[{NAME}] experiment", self.experiment)

    def quick(self, q: Quick) -> Config:
        return dataclasses.replace(self, train_networks=min(self.train_networks, q.unseen_train_networks),
                                   validation_networks=1, test_networks=min(self.test_networks, q.unseen_test_networks),
                                   heldout_benign_s=min(self.heldout_benign_s, q.unseen_heldout_benign_s))

    def full(self, f: Full) -> Config:
        """``--full``: the whole population trains; issue 20's held-out networks and hours."""
        return dataclasses.replace(self, train_networks=f.unseen_train_networks,
                                   validation_networks=f.unseen_validation_networks,
                                   test_networks=f.unseen_test_networks,
                                   heldout_first=max(self.heldout_first, f.unseen_train_networks + 1),
                                   heldout_benign_s=f.unseen_heldout_benign_s)

    def network_ids(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(train, validation, test) network ids: never sharing one."""
        v0 = self.heldout_first
        t0 = v0 + self.validation_networks
        return (tuple(range(1, self.train_networks + 1)), tuple(range(v0, t0)),
                tuple(range(t0, t0 + self.test_networks)))


def recipe_of(name: str, where: str = f"[{NAME}] recipes") -> Any:
    """The :class:`nidslab.generalise.Recipe` a name like ``"dnn / log / site"`` (``" x3"``: an ensemble of 3
    seeds, ``" aug2"``: 2 augmented copies) stands for; ConfigError naming ``where`` otherwise."""
    from nidslab.errors import ConfigError
    from nidslab.generalise import Recipe

    words = [w.strip() for w in name.split("/")]
    if len(words) != 3:
        raise ConfigError(f"{where}: {name!r} is not 'model / view / scaling' (e.g. 'lightgbm / log / site')")
    scaling, *extra = words[2].split()
    kw: dict[str, int] = {}
    for e in extra:
        if e.startswith("x") and e[1:].isdigit():
            kw["dnn_seeds"] = int(e[1:])
        elif e.startswith("aug") and e[3:].isdigit():
            kw["augment"] = int(e[3:])
        else:
            raise ConfigError(f"{where}: {name!r}: unknown suffix {e!r} (expected xN or augN)")
    try:
        return Recipe(words[0], words[1], scaling, **kw)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {name!r}: {exc}") from None


@dataclass
class NetworkResult:
    """One model on one held-out network, at the calibrated operating point."""

    network: str = doc("the network (netN: network N of the population)")
    benign_hours: float = doc("hours of benign-only traffic scored (after the calibration window, before the "
                              "outbreak)")
    false_incidents: int = doc("incidents that opened in that traffic")
    false_incidents_per_day: float | None = doc("false incidents per day of that traffic (null: none scored)")
    incidents_uninfected_outbreak: int = doc("incidents on hosts that are not infected, from the outbreak on")
    infected_hosts: int = doc("hosts the outbreak infected")
    infected_detected: int = doc("infected hosts with an incident at or after their first malicious packet")
    times_to_incident_s: list[float | None] = doc("per infected host: seconds from its first malicious packet to "
                                                  "its first alert (null: never detected)")
    median_time_to_incident_s: float | None = doc("median over the detected hosts (null: none detected)")
    worst_time_to_incident_s: float | None = doc("worst over the infected hosts (null: one was never detected)")
    median_time_from_bot_s: float | None = doc("the same, counted from the host's own attack traffic (scanning "
                                               "once infected, or its flood): the floor for a detector of bot "
                                               "behaviour")
    worst_time_from_bot_s: float | None = doc("worst of those (null: never detected, or no attack traffic)")
    fpr: float | None = doc("per packet: share of benign packets flagged (packet truth, after calibration)")
    tpr: float | None = doc("per packet: share of malicious packets flagged")
    threshold: float = doc("the calibrated threshold on this network (the lowest of the model's parts)")
    detected_by_contact: int = doc("infected hosts whose first alert came from the contact rule (a login it accepted "
                                   "from a host in an incident or from the Internet), not from the model", default=0)
    login_floor_s: list[float | None] = doc("per infected host: seconds from its first malicious packet to the first "
                                            "login it accepts, the one that infects it (null: none seen): before "
                                            "it, its malicious packets are answers to a bot's probes",
                                            default_factory=list)


@dataclass
class ModelResult:
    """One recipe: trained on the training networks, operating point from validation, measured on the rest."""

    recipe: str = doc("model / feature view / standardisation (nidslab.generalise.Recipe)")
    level: str = doc("the threshold level validation chose (nidslab.generalise.LEVELS)")
    confirm_alerts: int = doc("alerts of one host within the confirmation window that make an alert count")
    train_rows: int = doc("training rows (all training networks)")
    train_seconds: float = doc("training time, seconds (a model another recipe already fitted on the same rows, "
                               "such as the pair's LightGBM, is taken from it and adds nothing)")
    seconds: float = doc("training, calibration and measuring time, seconds")
    validation: dict[str, NetworkResult] = doc("the validation networks at the chosen point, by name")
    test: dict[str, NetworkResult] = doc("the held-out networks, by name")
    real: dict[str, Any] | None = optional("real data (mirai2000, doorbell, sentinel); absent when not measured")


@dataclass
class Result:
    settings: dict[str, Any] = doc("the [unseen_networks] settings")
    networks: dict[str, dict[str, Any]] = doc("per network: role (train, validation, test), rows, benign_hours, "
                                              "infected")
    models: dict[str, ModelResult] = doc("per recipe, in the study's order")
    best: str = doc("the recipe the validation networks favour")
    real_data: str = doc("the real-data folder used, or 'not measured: <folder> absent'")
    family_seconds: float = doc("seconds to open (and on first use build) the networks' families")
    seconds: float = doc("seconds to train and measure every recipe")
    lab_random_split: dict[str, Any] | None = optional(
        "the lab's experiment on its random split: name, title, accuracy, balanced_accuracy, roc_auc "
        "(experiments part); absent when it was not run")


# ----------------------------------------------------------------------------------------------- run


def reference_dir(cfg: Config) -> Path:
    """``$NIDSLAB_REFERENCE_DATA``, else ``cfg.reference_data``, resolved against the current folder."""
    return Path(os.environ.get(REFERENCE_ENV) or cfg.reference_data).expanduser().resolve()


def missing_reference(folder: Path) -> str | None:
    """What of the three real-data checks' files is absent from ``folder`` (None: all there)."""
    from nidslab.generalise import transfer

    if not folder.is_dir():
        return f"{folder} absent"
    for rel in (transfer.MIRAI2000, transfer.DOORBELL):
        if not (folder / rel).is_file():
            return f"{folder / rel} absent"
    if not any((folder / transfer.SENTINEL).glob("*.pcap")):
        return f"{folder / transfer.SENTINEL} has no capture"
    return None


def generalise_config(cfg: Config, real_data: str) -> Any:
    """The :class:`nidslab.generalise.GeneraliseConfig` of ``cfg`` (``real_data`` ``""``: not measured)."""
    from nidslab.generalise import GeneraliseConfig, TrainSettings

    train, validation, test = cfg.network_ids()
    settings = TrainSettings(rows_per_network=cfg.rows_per_network, epochs=cfg.epochs)
    return GeneraliseConfig(train=train, validation=validation, test=test,
                            family_networks=cfg.train_networks, benign_s=cfg.benign_s, firmware_x=cfg.firmware_x,
                            long_benign_s=cfg.heldout_benign_s, recipes=tuple(recipe_of(r) for r in cfg.recipes),
                            budget_per_day=cfg.budget_per_day, detect_within_s=cfg.detect_within_s, gap_s=cfg.gap_s,
                            contacts=cfg.contacts, settings=settings, real_data=real_data)


def cache_settings(cfg: Config, ctx: Context) -> Any:
    from nidslab.data.family import RECIPE

    folder = reference_dir(cfg)
    real = None if missing_reference(folder) else str(folder)
    # measures 5: validation by the model's own alerts (4: the contact rule and the login floor; 3: the middle rule)
    return {**dataclasses.asdict(cfg), "family_recipe": RECIPE, "reference": real, "measures": 5}


def run(cfg: Config, ctx: Context) -> Result:
    from nidslab.generalise import run_generalise
    from nidslab.generalise.experiment import load_networks

    folder = reference_dir(cfg)
    absent = missing_reference(folder)
    gcfg = generalise_config(cfg, "" if absent else str(folder))
    t0 = time.perf_counter()
    # builds the families on first use, one task per network on the study's executor (--cluster ray spreads
    # them), and reads each network's capture for the contact rule, once
    networks = load_networks(gcfg, progress=ctx.detail, executor=ctx.executor)
    family_s = time.perf_counter() - t0
    g = run_generalise(gcfg, progress=ctx.detail, networks=networks)
    models = {r.recipe: ModelResult(
        recipe=r.recipe, level=r.level, confirm_alerts=int(r.confirm_alerts), train_rows=int(r.train_rows),
        train_seconds=float(r.train_seconds), seconds=float(r.seconds),
        validation={m.network: network_result(m) for m in r.validation},
        test={m.network: network_result(m) for m in r.test},
        real=_finite(r.real) if r.real else None) for r in g.recipes}
    return Result(settings={**dataclasses.asdict(cfg), "recipes": list(cfg.recipes)}, networks=_finite(g.networks), models=models, best=g.best,
                  real_data=f"not measured: {absent}" if absent else str(folder), family_seconds=family_s,
                  seconds=float(g.seconds), lab_random_split=lab_random_split(cfg, ctx.needs.get("experiments")))


def _num(x: Any) -> float | None:
    """A measured number for results.json: NaN and infinity (not JSON) as null."""
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float):
        return _num(value)
    return value


def network_result(m: Any) -> NetworkResult:
    """A :class:`nidslab.generalise.NetworkMeasures` as the part stores it (never-detected hosts as null)."""
    return NetworkResult(
        network=m.network, benign_hours=float(m.benign_hours), false_incidents=int(m.false_incidents),
        false_incidents_per_day=_num(m.false_incidents_per_day),
        incidents_uninfected_outbreak=int(m.incidents_uninfected_outbreak), infected_hosts=int(m.infected_hosts),
        infected_detected=int(m.infected_detected), times_to_incident_s=[_num(t) for t in m.times_to_incident_s],
        median_time_to_incident_s=_num(m.median_time_to_incident_s),
        worst_time_to_incident_s=_num(m.worst_time_to_incident_s),
        median_time_from_bot_s=_num(m.median_time_from_bot_s), worst_time_from_bot_s=_num(m.worst_time_from_bot_s),
        fpr=_num(m.fpr), tpr=_num(m.tpr), threshold=float(m.threshold),
        detected_by_contact=int(m.detected_by_contact), login_floor_s=[_num(t) for t in m.login_floor_s])


def lab_random_split(cfg: Config, experiments: Any) -> dict[str, Any] | None:
    """The lab's experiment ``cfg.experiment`` as the experiments part scored it on the lab's random split."""
    if not experiments or cfg.experiment not in experiments:
        return None
    e = experiments[cfg.experiment]
    t = e.test
    return {"name": cfg.experiment, "title": e.title, "settings": e.settings, "accuracy": t.get("accuracy"),
            "balanced_accuracy": t.get("balanced_accuracy"), "roc_auc": t.get("roc_auc")}


# ------------------------------------------------------------------------------------ verdict and targets


def verdict(m: ModelResult, budget: float) -> str:
    """The plain line, from the held-out measures (never from a stored string): "usable at this budget",
    "not usable: N false incidents per day" or "not usable: K of M infected hosts never detected" (and
    "not measured: ..." where a held-out network had no benign traffic to score)."""
    from nidslab.generalise import verdict as line

    nets = list(m.test.values())
    unscored = [n.network for n in nets if n.false_incidents_per_day is None]
    if not nets or unscored:
        return f"not measured: no benign traffic scored on {', '.join(unscored) or 'any held-out network'}"
    worst = max(float(n.false_incidents_per_day or 0.0) for n in nets)
    return str(line(worst, sum(n.infected_detected for n in nets), sum(n.infected_hosts for n in nets), budget))


def poisson_upper(k: int, confidence: float = 0.95) -> float:
    """Upper confidence bound on a Poisson mean after ``k`` events (3.0 for none at 95%)."""
    from scipy.stats import chi2

    return float(chi2.ppf(confidence, 2 * (k + 1)) / 2)


def _by(value: float, goal: float, unit: str, *, higher_is_better: bool = False) -> str:
    gap = (goal - value) if higher_is_better else (value - goal)
    return "met" if gap <= 0 else f"missed by {_amount(gap)}{unit}"


def _amount(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def targets(m: ModelResult, s: dict[str, Any]) -> list[list[str]]:
    """Issue 20's targets for one model: target, measured, met or missed by how much, why (where known)."""
    budget, within = float(s["budget_per_day"]), float(s["detect_within_s"])
    nets = list(m.test.values())
    rows: list[list[str]] = []
    per_day = [n.false_incidents_per_day for n in nets]
    hours = sum(n.benign_hours for n in nets)
    k = sum(n.false_incidents for n in nets)
    bound = poisson_upper(k) / (hours / 24) if hours > 0 else math.inf
    worst_fid = math.inf if not per_day or any(x is None for x in per_day) else max(x for x in per_day if x is not None)
    why = (f"{k} false incident(s) in {hours:.1f} h of held-out benign traffic; the 95% upper bound those hours allow "
           f"is {_amount(bound)}/day")
    if worst_fid <= budget < bound:
        why += f": too few hours to show {budget:g}/day (a bound under it needs {72 / budget:.0f} h without one)"
    rows.append([f"false incidents per day, each held-out network: at most {budget:g}",
                 "; ".join(f"{n.network} {_rate(n.false_incidents_per_day)}" for n in nets),
                 _by(worst_fid, budget, "/day") if math.isfinite(worst_fid) else "not measured", why])
    found, infected = sum(n.infected_detected for n in nets), sum(n.infected_hosts for n in nets)
    rows.append(["every infected host detected", f"{found} of {infected}",
                 "met" if found == infected else f"missed by {infected - found} host(s)",
                 "" if found == infected else "no alert from these hosts at the chosen threshold once infected"])
    medians = [n.median_time_to_incident_s for n in nets if n.median_time_to_incident_s is not None]
    worsts = [n.worst_time_to_incident_s for n in nets]
    from_bot = [n.worst_time_from_bot_s for n in nets if n.worst_time_from_bot_s is not None]
    floor = f"counted from each host's own attack traffic instead: worst {_secs(max(from_bot))}" if from_bot else ""
    if floor and not s.get("contacts"):
        floor += ("; the time before it is the host being broken into, which a detector of bot behaviour cannot tell "
                  "from a device answering a login (the contact rule, off here, alerts on that login)")
    floor = "; ".join(x for x in (floor, login_floor(nets, within)) if x)
    med = max(medians) if medians else math.inf
    rows.append([f"median time to first incident: at most {within:g} s", f"{_secs(med)} (worst network)",
                 _by(med, within, " s") if math.isfinite(med) else "missed: no host detected", floor])
    worst = math.inf if not worsts or any(w is None for w in worsts) else max(w for w in worsts if w is not None)
    rows.append([f"worst time to first incident: at most {within:g} s", _secs(worst),
                 _by(worst, within, " s") if math.isfinite(worst) else "missed: a host was never detected", floor])
    if m.real:
        rows += _real_targets(m.real)
    return rows


def login_floor(nets: list[NetworkResult], within: float) -> str:
    """The floor under the time-to-incident targets (:func:`nidslab.generalise.measure.login_floor_text`) over the
    held-out networks whose login floors were measured."""
    from nidslab.generalise.measure import login_floor_text

    return login_floor_text(nets, within, secs=_secs)


def _real_targets(real: dict[str, Any]) -> list[list[str]]:
    from nidslab.generalise.transfer import doorbell_misses_text

    rows = []
    m2 = real["mirai2000"]
    rows.append(["real mirai2000.pcap, calibrated on its first half: at most 0.1% of the second half flagged, no "
                 "incident", f"{_pct(m2['flagged_share'])} flagged, {m2['incidents']} incident(s)",
                 _joined(_by(m2["flagged_share"] * 100, 0.1, " points"), m2["incidents"]),
                 f"{fmt(m2['packets'], 'int')} packets, {fmt(m2['seconds'], 's')}: a short window"])
    d = real["doorbell"]
    rows.append(["N-BaIoT doorbell, calibrated on 1,500 benign rows: at most 0.1% of its other benign rows flagged",
                 _pct(d["benign_flagged_share"]), _by(d["benign_flagged_share"] * 100, 0.1, " points"),
                 f"{fmt(d['benign_rows'], 'int')} benign rows; rows without times or hosts: no run of alerts "
                 "confirms them"])
    rows.append(["N-BaIoT doorbell: at least 99% of its gafgyt rows caught", _pct(d["gafgyt_caught_share"]),
                 _by(d["gafgyt_caught_share"] * 100, 99.0, " points", higher_is_better=True),
                 f"{fmt(d['gafgyt_rows'], 'int')} gafgyt scan rows, per row at the calibrated threshold"
                 + (f"; {why}" if (why := doorbell_misses_text(d)) else "")])
    caps = real["sentinel"]
    worst = max((c["flagged_share"] for c in caps), default=0.0)
    inc = sum(c["incidents"] for c in caps)
    ok = sum(1 for c in caps if c["flagged_share"] <= 0.01 and c["incidents"] == 0)
    rows.append(["IoT Sentinel captures, scored by a model calibrated on mirai2000: at most 1% of each flagged, "
                 "no incident", f"worst {_pct(worst)} flagged, {inc} incident(s); {ok} of {len(caps)} meet it",
                 _joined(_by(worst * 100, 1.0, " points"), inc),
                 "a new device's setup traffic (DHCP, DNS, cloud logins) is what the site's calibration never saw"])
    return rows


def _joined(share: str, incidents: int) -> str:
    if share == "met" and incidents == 0:
        return "met"
    bits = [] if share == "met" else [share]
    return "; ".join(bits + ([f"{incidents} incident(s) over none"] if incidents else []))


def _rate(x: float | None) -> str:
    return "not measured" if x is None else f"{_amount(x)}/day"


def _secs(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "never"
    return fmt(x, "s")


# -------------------------------------------------------------------------------------------- render


def render(result: Result, results: dict[str, Any]) -> Rendered:
    s = result.settings
    budget = float(s["budget_per_day"])
    blocks: list[Block] = [("h2", "Beyond the lab: networks the models never saw")]
    train = [n for n, d in result.networks.items() if d.get("role") == "train"]
    held = [n for n, d in result.networks.items() if d.get("role") == "test"]
    val = [n for n, d in result.networks.items() if d.get("role") == "validation"]
    hours = [result.networks[n].get("benign_hours") or 0.0 for n in held]
    blocks.append(("p", (
        f"Each model trained on {len(train)} simulated networks of the mirai-sim-family population "
        f"({', '.join(train)}; {fmt(s['benign_s'], 'int')} s of benign traffic each, with firmware downloads "
        f"{fmt(s.get('firmware_x', 1.0), 'int')} times as frequent as the population draws them: augmentation), "
        f"then was calibrated on "
        f"every held-out network's own benign traffic (the first half; standardisation and thresholds) and "
        f"measured there at the operating point {len(val)} validation network(s) ({', '.join(val)}) chose: the "
        f"middle threshold level of those within {budget:g} false incident per day that find the most infected "
        f"hosts by the model's own alerts, with the most alerts there. Held-out "
        f"networks: {', '.join(held)}, with {_hours(hours)} of benign traffic before each outbreak (its first half "
        f"calibrates, the rest is scored). An incident: alerts of one source host, closed after {fmt(s['gap_s'], 'int')} "
        f"quiet seconds" + (" (or the contact rule's: a host that accepts a telnet login from a host inside an "
                            "open incident, or from the Internet, is alerted on that login)" if s.get("contacts") else "")
        + f". Families opened (built on first use) in {fmt(result.family_seconds, 's')}; training and "
        f"measuring took {fmt(result.seconds, 's')}.")))
    # a minute's grace: a network's benign time runs from its first to its last benign packet, a little under the
    # heldout_benign_s it was simulated with
    if len(held) < 4 or min(hours, default=0) < 2 - 1 / 60:
        blocks.append(("p", "Weak evidence: issue 20's targets ask for at least 4 held-out networks with 2 hours of "
                            "benign traffic each; this run has fewer. nidslab lab --full measures the whole "
                            "population."))
    blocks.append(("h3", "Verdicts"))
    for m in result.models.values():
        blocks.append(("p", f"{m.recipe}: {verdict(m, budget)}."))
    for m in result.models.values():
        blocks += _model_blocks(m, result)
    blocks += _real_blocks(result)
    blocks += _split_blocks(result)
    figures = _figures(result)
    for stem, caption in (("unseen_false_incidents", "False incidents per day of benign traffic on each held-out "
                                                     "network (log scale; dashed: the budget; black ticks: the "
                                                     "95% upper bound the scored hours allow; 0: none seen)."),
                          ("unseen_time_to_incident", "Time from each infected host's first malicious packet to "
                                                      "its first incident (log scale; x: never detected; grey "
                                                      "ticks: when the login that infected it came, the "
                                                      "earliest a detector can know).")):
        if stem in figures:
            blocks.append(("figure", stem, caption))
    return blocks, figures


def _model_blocks(m: ModelResult, result: Result) -> list[Block]:
    s = result.settings
    out: list[Block] = [("h3", m.recipe),
                        ("p", f"{verdict(m, float(s['budget_per_day']))}. Operating point {m.level} ({m.confirm_alerts} "
                              f"alert(s) of a host within 2 s make an alert count); trained on "
                              f"{fmt(m.train_rows, 'int')} rows in {fmt(m.train_seconds, 's')}.")]
    rows = []
    for n in m.test.values():
        rows.append([n.network, f"{n.benign_hours:.2f}", _rate(n.false_incidents_per_day) + f" ({n.false_incidents})",
                     fmt(n.incidents_uninfected_outbreak, "int"),
                     f"{n.infected_detected} of {n.infected_hosts}"
                     + (f" ({n.detected_by_contact} by contact)" if n.detected_by_contact else ""),
                     _secs(n.median_time_to_incident_s), _secs(n.worst_time_to_incident_s),
                     f"{_secs(n.median_time_from_bot_s)} / {_secs(n.worst_time_from_bot_s)}",
                     _share(n.fpr), _share(n.tpr)])
    out.append(("table", ["held-out network", "benign h scored", "false incidents/day (count)",
                          "incidents on uninfected hosts (outbreak)", "infected hosts detected",
                          "median s to first incident", "worst", "from its own attack traffic (median / worst)",
                          "FPR (packets)", "TPR (packets)"], rows))
    out.append(("table", ["target (issue 20)", "measured", "met?", "why / floor"], targets(m, s)))
    return out


def _hours(hours: list[float]) -> str:
    lo, hi = min(hours, default=0.0), max(hours, default=0.0)
    return f"{lo:.2f} h" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f} h"


def _pct(x: float) -> str:
    """A share as a percentage with two decimals (the real-data targets are 0.1% and 1%)."""
    return f"{100 * x:.2f}%"


def _share(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.2e}" if 0 < x < 1e-3 else f"{x:.4f}"


def _real_blocks(result: Result) -> list[Block]:
    """Real data, one column per model: what each flags of real benign traffic, and the doorbell's gafgyt rows."""
    models = [m for m in result.models.values() if m.real]
    head: list[Block] = [("h3", "Real data")]
    if not models:
        return head + [("p", f"Real data: {result.real_data}.")]
    first = models[0].real or {}
    rows = [["mirai2000.pcap second half (calibrated on the first): flagged, incidents",
             f"{fmt(first['mirai2000']['packets'], 'int')} packets"]
            + [f"{_pct(m.real['mirai2000']['flagged_share'])}, {m.real['mirai2000']['incidents']}"
               for m in models if m.real],
            ["N-BaIoT doorbell, benign rows after the 1,500 that calibrate: flagged",
             f"{fmt(first['doorbell']['benign_rows'], 'int')} rows"]
            + [_pct(m.real["doorbell"]["benign_flagged_share"]) for m in models if m.real],
            ["N-BaIoT doorbell, gafgyt rows: caught (recall)", f"{fmt(first['doorbell']['gafgyt_rows'], 'int')} rows"]
            + [_pct(m.real["doorbell"]["gafgyt_caught_share"]) for m in models if m.real]]
    for i, c in enumerate(first["sentinel"]):
        rows.append([f"IoT Sentinel {c['capture']} (calibrated on mirai2000): flagged, incidents",
                     f"{fmt(c['packets'], 'int')} packets"]
                    + [f"{_pct(m.real['sentinel'][i]['flagged_share'])}, {m.real['sentinel'][i]['incidents']}"
                       for m in models if m.real])
    return head + [("p", f"Real captures from {result.real_data}, each model calibrated at the site as issue 20 "
                         "prescribes, at the operating point its validation networks chose."),
                   ("table", ["check", "size", *[m.recipe for m in models]], rows)]


def _split_blocks(result: Result) -> list[Block]:
    """The lab's random split beside the split by network (the lab's 2x20 shape across networks)."""
    lab = result.lab_random_split
    dnn = next((m for m in result.models.values() if m.recipe.startswith("dnn / lab")), None)
    if lab is None or dnn is None:
        return []
    nets = list(dnn.test.values())
    tpr = [n.tpr for n in nets if n.tpr is not None]
    fpr = [n.fpr for n in nets if n.fpr is not None]
    bal = (sum(tpr) / len(tpr) + 1 - sum(fpr) / len(fpr)) / 2 if tpr and fpr else None
    rows = [[f"random split of one capture ({lab['title']})", "rows of the same network in train and test",
             fmt(lab.get("balanced_accuracy"), "acc"), fmt(lab.get("accuracy"), "acc"), "0.5"],
            ["split by network (dnn / lab / pooled, the same 2 x 20 shape)",
             f"{len(nets)} network(s) never seen in training", fmt(bal, "acc"), "n/a", "calibrated per site"]]
    return [("h3", "The lab's random split beside a split by network"),
            ("table", ["split", "test rows", "balanced accuracy (packets)", "accuracy", "threshold"], rows),
            ("p", "The random split scores the lab's own capture with rows of one network on both sides; the split "
                  "by network scores networks no training row came from (mean per-packet TPR and 1 - FPR against "
                  "packet truth at the calibrated threshold). The second trains with Adam for a few epochs on "
                  "several networks, so the two differ in training as well as in split; the gap is the point: a "
                  "random split measures how well a model knows its network, not whether it detects Mirai.")]


def _figures(result: Result) -> dict[str, bytes]:
    from nidslab.study.charts import ACCENT, GREY, TRAIN, VAL, plt, png_bytes

    models = list(result.models.values())
    if not models or not any(m.test for m in models):
        return {}
    budget = float(result.settings["budget_per_day"])
    colours = [TRAIN, VAL, ACCENT, "#d62728", "#9467bd", "#8c564b"]
    out: dict[str, bytes] = {}
    nets = list(models[0].test)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    width = 0.8 / len(models)
    floor = budget / 10
    bottom = floor / 2
    for i, m in enumerate(models):
        got = [m.test.get(n) for n in nets]
        vals = [g.false_incidents_per_day if g is not None else None for g in got]
        xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(nets))]
        ax.bar(xs, [max(v, floor) - bottom if v is not None else 0.0 for v in vals], width=width, bottom=bottom,
               color=colours[i % len(colours)], label=m.recipe)
        for x, v in zip(xs, vals):
            if v == 0:
                ax.annotate("0", (x, floor), ha="center", va="bottom", fontsize=8)
        # what the scored hours can show: the 95% upper bound on the rate, given the count seen
        bounds = [poisson_upper(g.false_incidents) / (g.benign_hours / 24) if g is not None and g.benign_hours > 0
                  else None for g in got]
        ax.scatter([x for x, b in zip(xs, bounds) if b is not None], [b for b in bounds if b is not None],
                   marker="_", s=300, color="black", label="95% upper bound the hours allow" if i == 0 else None)
    ax.axhline(budget, color=GREY, linestyle="--", label=f"budget: {budget:g} per day")
    ax.set_yscale("log")
    ax.set_ylim(bottom=bottom)
    ax.set_xticks(range(len(nets)), nets)
    ax.set_ylabel("false incidents per day")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    out["unseen_false_incidents"] = png_bytes(fig)

    fig, ax = plt.subplots(figsize=(9, 0.5 * len(models) + 1.8))
    within = float(result.settings["detect_within_s"])
    every = [t for m in models for n in m.test.values() for t in n.times_to_incident_s if t is not None]
    top = max([within * 10, *[t * 2 for t in every]])  # where "never detected" is drawn
    for i, m in enumerate(models):
        times = [t for n in m.test.values() for t in n.times_to_incident_s]
        floors = [max(f, 1e-3) for n in m.test.values() for f in n.login_floor_s if f is not None]
        ax.scatter(floors, [i] * len(floors), color=GREY, marker="|", s=160, zorder=1,
                   label="the login that infects the host (floor)" if i == 0 and floors else None)
        found = [max(t, 1e-3) for t in times if t is not None]
        ax.scatter(found, [i] * len(found), color=colours[i % len(colours)], alpha=0.7, s=30, zorder=2)
        never = sum(1 for t in times if t is None)
        if never:
            ax.scatter([top] * never, [i] * never, color="#d62728", marker="x", s=50,
                       label="never detected" if not any(h.get_label() == "never detected"
                                                         for h in ax.collections) else None)
    ax.axvline(within, color=GREY, linestyle="--", label=f"target: {within:g} s")
    ax.set_xscale("log")
    ax.set_yticks(range(len(models)), [m.recipe for m in models], fontsize=8)
    ax.set_xlabel("seconds from the host's first malicious packet to its first incident")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    out["unseen_time_to_incident"] = png_bytes(fig)
    return out
