"""A study file (TOML) read into frozen dataclasses, every table and key checked.

A study is the lab written as data: shared settings (``[study]``, ``[defaults]``), one
``[experiments.NAME]`` table per trained network, and one table per other part of the lab
(``[batch_size_timing]``, ``[search]``, ``[mc_dropout]``, ``[cross_validation]``,
``[regression]``, ``[tree_baseline]``, ``[kitnet]``, ``[evaluation]``), plus ``[quick]``: the smaller settings
of ``--quick``.
A part whose table is absent is not run. Any unknown table or key, or a value of the wrong type
or out of range, raises :class:`nidslab.errors.ConfigError` naming the file, table and key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from nidslab import schema
from nidslab.errors import ConfigError
from nidslab.operating_points import TARGET_FPRS
from nidslab.settings import ACTIVATIONS, OPTIMIZERS, FitConfig, ModelSpec

SPLITS = ("random", "temporal")
SPLIT_ALIASES = {"stratified": "random"}  # the name study files used before the temporal split was per class
#: what an ``[experiments.*]`` or ``[defaults]`` table may set, split by the class that holds it; the
#: same keys, in this order, make an experiment's ``settings`` dict in results.json
SPEC_KEYS = ("n_layers", "n_nodes", "activation", "batch_norm", "dropout")
FIT_KEYS = ("optimizer", "lr", "batch_size", "epochs", "class_weight")
SETTINGS_KEYS = SPEC_KEYS + FIT_KEYS
#: what a ``[regression]`` table may set besides its target (its results.json ``settings`` keys)
REGRESSION_SPEC_KEYS = ("n_layers", "n_nodes", "activation")
REGRESSION_FIT_KEYS = ("optimizer", "lr", "batch_size", "epochs")


def settings_of(spec: ModelSpec, fit: FitConfig, keys: tuple[str, ...] = SETTINGS_KEYS) -> dict[str, Any]:
    """The flat ``settings`` dict of a network and its training (results.json's form; the cache key)."""
    d = {**spec.to_dict(), **fit.to_dict()}
    return {k: d[k] for k in keys}


def split_settings(settings: dict[str, Any]) -> tuple[ModelSpec, FitConfig]:
    """The :class:`ModelSpec` and :class:`FitConfig` of a flat ``settings`` dict (:func:`settings_of`'s)."""
    spec = ModelSpec.from_dict({k: v for k, v in settings.items() if k in SPEC_KEYS})
    return spec, FitConfig.from_dict({k: v for k, v in settings.items() if k not in SPEC_KEYS})


@dataclass(frozen=True)
class Experiment:
    """One network trained on the lab's split: its shape and its training settings.

    A study's experiments differ from the library's defaults in one setting: they train with balanced
    class weights unless their table says ``class_weight = "none"`` (the lab's Parts 12 to 19).
    """

    name: str
    title: str = ""
    part: str = ""
    spec: ModelSpec = ModelSpec()
    fit: FitConfig = FitConfig(class_weight="balanced")

    def settings(self) -> dict[str, Any]:
        """Everything that changes the result (the cache key hashes this), as results.json holds it."""
        return settings_of(self.spec, self.fit)


@dataclass(frozen=True)
class BatchSizeTiming:
    experiment: str = "balanced_2x20"
    batch_sizes: tuple[int, ...] = (100, 1_000, 10_000)
    max_rows: int = 0


@dataclass(frozen=True)
class Search:
    trials: int = 24
    trials_per_batch: int = 4
    timeout_s: float = 60.0
    fraction: float = 0.2
    epochs: int = 6
    n_layers: tuple[int, int] = (1, 6)
    n_nodes: tuple[int, int] = (10, 100)
    activation: tuple[str, ...] = ("sigmoid", "relu", "tanh", "elu")
    optimizer: tuple[str, ...] = ("sgd", "adam")
    lr: tuple[float, float] = (1e-3, 0.3)
    batch_norm: tuple[bool, ...] = (False, True)
    dropout: tuple[float, float] = (0.0, 0.5)
    batch_size: int = 10_000
    class_weight: str = "balanced"
    final_epochs: int = 40
    depth_timing: tuple[int, ...] = (2, 4, 6, 8, 10)
    depth_timing_nodes: int = 80
    depth_timing_epochs: int = 2


@dataclass(frozen=True)
class MCDropout:
    experiment: str = "best"
    dropout: float = 0.5
    passes: int = 100


@dataclass(frozen=True)
class CrossValidation:
    experiment: str = "balanced_2x20"
    folds: int = 10
    seed: int = 1234


@dataclass(frozen=True)
class Regression:
    """Part 22: a network with a linear head predicting feature ``target`` from the others.

    Unless its table says otherwise: ReLU and Adam at learning rate 0.01 (the library's other defaults).
    """

    target: str = "HH_L0.1_mean"
    exclude: tuple[str, ...] = ()
    spec: ModelSpec = ModelSpec(activation="relu", head="regression")
    fit: FitConfig = FitConfig(optimizer="adam", lr=0.01)

    def settings(self) -> dict[str, Any]:
        """The network's settings as results.json holds them."""
        return settings_of(self.spec, self.fit, REGRESSION_SPEC_KEYS + REGRESSION_FIT_KEYS)


@dataclass(frozen=True)
class TreeBaseline:
    n_estimators: int = 200
    num_leaves: int = 31
    learning_rate: float = 0.1
    max_rows: int = 0


@dataclass(frozen=True)
class Kitnet:
    """KitNET trained on the capture's benign prefix (see :mod:`nidslab.study.kitnet_part`)."""

    max_ae: int = 10
    fm_grace: int = 5_000
    ad_grace: int = 50_000
    lr: float = 0.1
    hidden_ratio: float = 0.75
    seed: int = 1234
    target_fpr: float = 1e-3
    calibration: float = 0.5   # share of the benign rows between the grace periods and the onset
    max_rows: int = 0          # rows of the capture used (0: all)


@dataclass(frozen=True)
class Evaluation:
    """Would the model work on new traffic (issue #12): the other split, operating points, detection over
    time on a capture the models never saw, and transfer to reference data (see
    :mod:`nidslab.study.evaluation_part`)."""

    target_fprs: tuple[float, ...] = TARGET_FPRS   # the first is the default operating point
    experiment: str = "balanced_2x20"   # the lab's baseline, retrained under the other split
    best: bool = True                   # also the search's best network (when the study searches)
    tree: bool = True                   # also LightGBM (when the study has [tree_baseline])
    sim_packets: int = 250_000          # the unseen simulated capture
    sim_seed: int = 1
    sim_flood_type: str = "syn"
    sim_n_vulnerable: int = 2
    reference_data: str = "../shared/data"   # resolved against the current folder; $NIDSLAB_REFERENCE_DATA wins
    timeline_bins: int = 300


@dataclass(frozen=True)
class Quick:
    """What ``--quick`` shrinks: a fraction of the rows, and caps on every count."""

    fraction: float = 0.04
    epochs: int = 3
    final_epochs: int = 4
    trials: int = 3
    search_timeout_s: float = 10.0
    search_epochs: int = 2
    mc_passes: int = 10
    folds: int = 3
    timing_max_rows: int = 5_000
    depth_timing: tuple[int, ...] = (2, 4)
    tree_estimators: int = 20
    random_chance_draws: int = 100
    kitnet_max_rows: int = 200_000  # KitNET scores only the first rows (its grace periods stay as they are)
    eval_sim_packets: int = 30_000


@dataclass(frozen=True)
class Study:
    """A whole study. Parts set to ``None`` are not run."""

    title: str = "nidslab study"
    seed: int = 0
    features: str = "lab"
    split: str = "random"
    fraction: float = 1.0
    random_chance_draws: int = 1_000
    experiments: tuple[Experiment, ...] = ()
    batch_size_timing: BatchSizeTiming | None = None
    search: Search | None = None
    mc_dropout: MCDropout | None = None
    cross_validation: CrossValidation | None = None
    regression: Regression | None = None
    tree_baseline: TreeBaseline | None = None
    kitnet: Kitnet | None = None
    evaluation: Evaluation | None = None
    quick: Quick = field(default_factory=Quick)
    source: str = ""
    is_quick: bool = False

    def experiment(self, name: str) -> Experiment:
        for e in self.experiments:
            if e.name == name:
                return e
        raise ConfigError(f"{self.source}: no experiment named {name!r}")

    def quick_version(self) -> Study:
        """The same study on ``quick`` settings: fewer rows, epochs, trials, passes and folds."""
        q = self.quick
        if self.is_quick:
            return self
        rep = dataclasses.replace
        exps = tuple(rep(e, fit=e.fit.replace(epochs=min(e.fit.epochs, q.epochs))) for e in self.experiments)
        return rep(
            self,
            fraction=min(self.fraction, q.fraction),
            random_chance_draws=min(self.random_chance_draws, q.random_chance_draws),
            experiments=exps,
            batch_size_timing=self.batch_size_timing
            and rep(self.batch_size_timing, max_rows=q.timing_max_rows),
            search=self.search
            and rep(
                self.search,
                trials=min(self.search.trials, q.trials),
                timeout_s=min(self.search.timeout_s, q.search_timeout_s),
                epochs=min(self.search.epochs, q.search_epochs),
                final_epochs=min(self.search.final_epochs, q.final_epochs),
                depth_timing=q.depth_timing,
                depth_timing_epochs=1,
            ),
            mc_dropout=self.mc_dropout and rep(self.mc_dropout, passes=min(self.mc_dropout.passes, q.mc_passes)),
            cross_validation=self.cross_validation
            and rep(self.cross_validation, folds=min(self.cross_validation.folds, q.folds)),
            regression=self.regression
            and rep(self.regression, fit=self.regression.fit.replace(epochs=min(self.regression.fit.epochs, q.epochs))),
            tree_baseline=self.tree_baseline
            and rep(self.tree_baseline, n_estimators=min(self.tree_baseline.n_estimators, q.tree_estimators)),
            kitnet=self.kitnet
            and rep(self.kitnet, max_rows=min(self.kitnet.max_rows or q.kitnet_max_rows, q.kitnet_max_rows)),
            evaluation=self.evaluation
            and rep(self.evaluation, sim_packets=min(self.evaluation.sim_packets, q.eval_sim_packets)),
            is_quick=True,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (for results.json's ``meta``)."""
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- loading

DEFAULT_STUDY = "mirai_lab.toml"


def default_study_path() -> Path:
    """The lab's own study file, shipped with the package."""
    return Path(str(resources.files("nidslab").joinpath("studies", DEFAULT_STUDY)))


def load_study(path: str | Path | None = None) -> Study:
    """Read and check a study file (default: the lab's ``mirai_lab.toml``).

    Raises ConfigError naming the file, table and key of the first problem found.
    """
    path = Path(path) if path is not None else default_study_path()
    if not path.is_file():
        raise ConfigError(f"study file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    return parse_study(raw, source=str(path))


#: the tables of a study that run something (besides its experiments)
_TOP = ("study", "defaults", "experiments", "batch_size_timing", "search", "mc_dropout",
        "cross_validation", "regression", "tree_baseline", "kitnet", "evaluation", "quick")
_PARTS = tuple(t for t in _TOP if t not in ("study", "defaults", "experiments", "quick"))


def parse_study(raw: dict[str, Any], source: str = "<study>") -> Study:
    """Check a study already parsed from TOML (a dict of tables) and build the :class:`Study`."""
    for key, value in raw.items():
        if key not in _TOP and not isinstance(value, dict):
            raise ConfigError(f"{source}: key {key!r} stands outside any table; study settings such as {key!r} "
                              f"go in the study table, and every part in its own table ({', '.join(_TOP)})")
        if key not in _TOP:
            raise ConfigError(f"{source}: unknown table [{key}]: no part of a study is called {key!r}; expected "
                              f"one of {', '.join(_TOP)}")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{key}] must be a table, got {type(value).__name__}")

    study_kw = _table(raw.get("study", {}), "study", source, Study,
                      skip=("experiments", "batch_size_timing", "search", "mc_dropout", "cross_validation",
                            "regression", "tree_baseline", "kitnet", "evaluation", "quick", "source",
                            "is_quick"))
    if "split" in study_kw:
        study_kw["split"] = SPLIT_ALIASES.get(study_kw["split"], study_kw["split"])
    defaults = _settings_table(raw.get("defaults", {}), "defaults", source, SETTINGS_KEYS)
    _network(Experiment, defaults, "defaults", source)  # a bad default is named in [defaults]
    experiments = []
    for name, table in raw.get("experiments", {}).items():
        where = f"experiments.{name}"
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{where}] must be a table")
        text = _table({k: v for k, v in table.items() if k in ("title", "part")}, where, source, Experiment,
                      skip=("name", "spec", "fit"))
        kw = {**defaults, **_settings_table({k: v for k, v in table.items() if k not in ("title", "part")}, where,
                                            source, SETTINGS_KEYS, also=("title", "part"))}
        spec, fit = _network(Experiment, kw, where, source)
        experiments.append(_check_experiment(Experiment(name=name, spec=spec, fit=fit, **text), where, source))
    study = Study(source=source, experiments=tuple(experiments), **study_kw)
    _check_study(study, source)

    parts: dict[str, Any] = {}
    for key, cls in (("batch_size_timing", BatchSizeTiming), ("search", Search), ("mc_dropout", MCDropout),
                     ("cross_validation", CrossValidation), ("tree_baseline", TreeBaseline), ("kitnet", Kitnet),
                     ("evaluation", Evaluation), ("quick", Quick)):
        if key in raw:
            parts[key] = cls(**_table(raw[key], key, source, cls))
    if "regression" in raw:
        keys = REGRESSION_SPEC_KEYS + REGRESSION_FIT_KEYS
        table = raw["regression"]
        target = _table({k: v for k, v in table.items() if k in ("target", "exclude")}, "regression", source,
                        Regression, skip=("spec", "fit"))
        net = _settings_table({k: v for k, v in table.items() if k not in ("target", "exclude")}, "regression",
                              source, keys, also=("target", "exclude"))
        spec, fit = _network(Regression, net, "regression", source)
        parts["regression"] = Regression(spec=spec, fit=fit, **target)
    study = dataclasses.replace(study, **parts)
    _check_parts(study, source)
    if not study.experiments and all(getattr(study, k) is None for k in _PARTS):
        raise ConfigError(f"{source}: a study with no parts to run: it defines no experiments.NAME table and none "
                          f"of {', '.join(_PARTS)}; an empty study would write an empty report")
    return study


def _table(table: dict, where: str, source: str, cls: type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Keyword arguments for ``cls`` from a TOML table, each converted to its field's type."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    out = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"{source}: [{where}] unknown key {key!r}; expected one of {', '.join(fields)}")
        default = fields[key].default
        if default is dataclasses.MISSING:  # default_factory fields are never set from a table
            raise ConfigError(f"{source}: [{where}] key {key!r} cannot be set here")
        out[key] = _convert(value, default, f"[{where}] {key}", source)
    return out


def _settings_table(table: dict, where: str, source: str, keys: tuple[str, ...],
                    also: tuple[str, ...] = ()) -> dict[str, Any]:
    """The network settings ``keys`` of a TOML table, each converted to the type of its default in
    :class:`ModelSpec` / :class:`FitConfig` (their values are checked when those are built)."""
    like = {**ModelSpec().to_dict(), **FitConfig().to_dict()}
    out = {}
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(f"{source}: [{where}] unknown key {key!r}; expected one of {', '.join(also + keys)}")
        # class_weight's default is None: a string or a {0 = w0, 1 = w1} table, as FitConfig reads it
        out[key] = value if like[key] is None else _convert(value, like[key], f"[{where}] {key}", source)
    return out


def _network(cls: type[Experiment] | type[Regression], settings: dict[str, Any], where: str,
             source: str) -> tuple[ModelSpec, FitConfig]:
    """``cls``'s default spec and fit config with a table's ``settings`` applied (and so checked);
    errors name the table."""
    spec_keys = {f.name for f in dataclasses.fields(ModelSpec)}
    try:
        spec = cls.spec.replace(**{k: v for k, v in settings.items() if k in spec_keys})
        fit = cls.fit.replace(**{k: v for k, v in settings.items() if k not in spec_keys})
    except ConfigError as exc:
        raise ConfigError(f"{source}: [{where}] {exc}") from None
    return spec, fit


def _convert(value: Any, like: Any, what: str, source: str) -> Any:
    """``value`` as the type of the default ``like`` (bool, int, float, str or a tuple of them)."""
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{source}: {what} must be {expected}, got {value!r}")

    if isinstance(like, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(like, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if isinstance(like, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        return float(value)
    if isinstance(like, str):
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if isinstance(like, tuple):
        if not isinstance(value, list) or not value:
            raise bad("a non-empty list")
        item = like[0] if like else ""
        return tuple(_convert(v, item, what, source) for v in value)
    raise AssertionError(f"no converter for {type(like)}")  # pragma: no cover


def _need(ok: bool, source: str, what: str, message: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{source}: {what} {message}, got {value!r}")


def _check_experiment(e: Experiment | Regression, where: str, source: str) -> Experiment | Regression:
    """What a study needs beyond a valid spec and fit config: a hidden layer, an epoch, a learning rate."""
    _need(e.spec.n_layers >= 1, source, f"[{where}] n_layers", "must be at least 1", e.spec.n_layers)
    _need(e.fit.lr > 0, source, f"[{where}] lr", "must be positive", e.fit.lr)
    _need(e.fit.epochs >= 1, source, f"[{where}] epochs", "must be at least 1", e.fit.epochs)
    return e


def _check_study(s: Study, source: str) -> None:
    _need(s.features == "lab" or s.features == "all", source, "[study] features", "must be 'lab' or 'all'",
          s.features)
    _need(s.split in SPLITS, source, "[study] split", f"must be one of {SPLITS} ('stratified' = 'random')", s.split)
    _need(0.0 < s.fraction <= 1.0, source, "[study] fraction", "must be in (0, 1]", s.fraction)
    _need(s.random_chance_draws >= 1, source, "[study] random_chance_draws", "must be at least 1",
          s.random_chance_draws)


def _check_parts(s: Study, source: str) -> None:
    names = {e.name for e in s.experiments}

    def known(what: str, name: str, allow_best: bool = False) -> None:
        ok = name in names or (allow_best and name == "best")
        choices = sorted(names) + (["best"] if allow_best else [])
        _need(ok, source, what, f"must name an experiment ({', '.join(choices) or 'none defined'})", name)

    if (t := s.batch_size_timing) is not None:
        known("[batch_size_timing] experiment", t.experiment)
        _need(all(b >= 1 for b in t.batch_sizes), source, "[batch_size_timing] batch_sizes",
              "must be positive integers", t.batch_sizes)
        _need(t.max_rows >= 0, source, "[batch_size_timing] max_rows", "must be 0 or more", t.max_rows)
    if (p := s.search) is not None:
        w = "[search]"
        _need(p.trials >= 1, source, f"{w} trials", "must be at least 1", p.trials)
        _need(p.trials_per_batch >= 1, source, f"{w} trials_per_batch", "must be at least 1", p.trials_per_batch)
        _need(p.timeout_s > 0, source, f"{w} timeout_s", "must be positive", p.timeout_s)
        _need(0 < p.fraction <= 1, source, f"{w} fraction", "must be in (0, 1]", p.fraction)
        for key in ("n_layers", "n_nodes", "lr", "dropout"):
            lo_hi = getattr(p, key)
            _need(len(lo_hi) == 2 and lo_hi[0] <= lo_hi[1], source, f"{w} {key}", "must be [low, high]", lo_hi)
        _need(p.n_layers[0] >= 1 and p.n_nodes[0] >= 1, source, f"{w} n_layers/n_nodes", "must start at 1 or more",
              (p.n_layers, p.n_nodes))
        _need(0 < p.lr[0], source, f"{w} lr", "must be positive", p.lr)
        _need(0 <= p.dropout[0] and p.dropout[1] < 1, source, f"{w} dropout", "must lie in [0, 1)", p.dropout)
        bad_act = [a for a in p.activation if a not in ACTIVATIONS]
        _need(not bad_act, source, f"{w} activation", f"must be drawn from {ACTIVATIONS}", p.activation)
        bad_opt = [o for o in p.optimizer if o not in OPTIMIZERS]
        _need(not bad_opt, source, f"{w} optimizer", f"must be drawn from {OPTIMIZERS}", p.optimizer)
        _network(Experiment, {"class_weight": p.class_weight}, "search", source)
        for key in ("epochs", "final_epochs", "batch_size", "depth_timing_nodes", "depth_timing_epochs"):
            _need(getattr(p, key) >= 1, source, f"{w} {key}", "must be at least 1", getattr(p, key))
        _need(all(d >= 1 for d in p.depth_timing), source, f"{w} depth_timing", "must be positive", p.depth_timing)
    if (m := s.mc_dropout) is not None:
        known("[mc_dropout] experiment", m.experiment, allow_best=s.search is not None)
        _need(0 < m.dropout < 1, source, "[mc_dropout] dropout", "must be in (0, 1)", m.dropout)
        _need(m.passes >= 2, source, "[mc_dropout] passes", "must be at least 2", m.passes)
    if (c := s.cross_validation) is not None:
        known("[cross_validation] experiment", c.experiment)
        _need(c.folds >= 2, source, "[cross_validation] folds", "must be at least 2", c.folds)
    if (r := s.regression) is not None:
        w = "[regression]"
        for key, name in [("target", r.target)] + [("exclude", n) for n in r.exclude]:
            _need(name in schema.INDEX, source, f"{w} {key}", "must be a Kitsune feature name", name)
        _need(r.target not in r.exclude, source, f"{w} exclude", "must not hold the target", r.exclude)
        _check_experiment(r, "regression", source)
    if (t := s.tree_baseline) is not None:
        for key in ("n_estimators", "num_leaves"):
            _need(getattr(t, key) >= 2 if key == "num_leaves" else getattr(t, key) >= 1, source,
                  f"[tree_baseline] {key}", "is too small", getattr(t, key))
        _need(t.learning_rate > 0, source, "[tree_baseline] learning_rate", "must be positive", t.learning_rate)
        _need(t.max_rows >= 0, source, "[tree_baseline] max_rows", "must be 0 or more", t.max_rows)
    if (k := s.kitnet) is not None:
        w = "[kitnet]"
        _need(k.max_ae >= 1, source, f"{w} max_ae", "must be at least 1", k.max_ae)
        for key in ("fm_grace", "ad_grace", "max_rows"):
            _need(getattr(k, key) >= 0, source, f"{w} {key}", "must be 0 or more", getattr(k, key))
        for key in ("lr", "hidden_ratio"):
            _need(getattr(k, key) > 0, source, f"{w} {key}", "must be positive", getattr(k, key))
        _need(0 < k.target_fpr < 1, source, f"{w} target_fpr", "must be in (0, 1)", k.target_fpr)
        _need(0 < k.calibration < 1, source, f"{w} calibration", "must be in (0, 1)", k.calibration)
    if (v := s.evaluation) is not None:
        w = "[evaluation]"
        known(f"{w} experiment", v.experiment)
        _need(all(0 < f < 1 for f in v.target_fprs), source, f"{w} target_fprs", "must lie in (0, 1)", v.target_fprs)
        _need(v.sim_packets >= 1_000, source, f"{w} sim_packets", "must be at least 1000", v.sim_packets)
        _need(v.sim_flood_type in ("udp", "syn", "ack"), source, f"{w} sim_flood_type", "must be udp, syn or ack",
              v.sim_flood_type)
        _need(0 <= v.sim_n_vulnerable <= 3, source, f"{w} sim_n_vulnerable", "must be 0-3", v.sim_n_vulnerable)
        _need(v.timeline_bins >= 10, source, f"{w} timeline_bins", "must be at least 10", v.timeline_bins)
    q = s.quick
    _need(q.eval_sim_packets >= 1_000, source, "[quick] eval_sim_packets", "must be at least 1000", q.eval_sim_packets)
    _need(0 < q.fraction <= 1, source, "[quick] fraction", "must be in (0, 1]", q.fraction)
    for key in ("epochs", "final_epochs", "trials", "search_epochs", "mc_passes", "folds", "tree_estimators",
                "random_chance_draws"):
        _need(getattr(q, key) >= 1, source, f"[quick] {key}", "must be at least 1", getattr(q, key))
    _need(q.mc_passes >= 2 and q.folds >= 2, source, "[quick] mc_passes/folds", "must be at least 2",
          (q.mc_passes, q.folds))
