"""What every part of a study shares: the :class:`Study` (shared settings, the experiments, one config per
part), the :class:`Experiment` a part names, the ``[quick]`` caps, and the checks a part's config uses.

A study file (TOML) is read by :mod:`nidslab.study.study_file`; each part's own config dataclass lives in
its module under :mod:`nidslab.study.parts` and checks itself in ``__post_init__`` (so a config built in
Python is checked too). Errors are :class:`nidslab.errors.ConfigError` naming the table and the key; the
study file's path is added by the reader.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Protocol

from nidslab.errors import ConfigError
from nidslab.settings import BUILD_DNN_KEYS, SPLITS, FitConfig, ModelSpec

__all__ = ["SPLITS", "SPLIT_ALIASES", "SPEC_KEYS", "FIT_KEYS", "SETTINGS_KEYS", "Experiment", "Full", "PartConfig", "Quick",
           "Study", "default_study_path", "need", "settings_of", "split_settings", "table_kwargs", "settings_table",
           "network", "check_network"]

#: how a study's experiments train (:attr:`Study.stacking`)
STACKING = ("shared", "none")
SPLIT_ALIASES = {"stratified": "random"}  # the name study files used before the temporal split was per class
#: what an ``[experiments.*]`` or ``[defaults]`` table may set, split by the class that holds it; the
#: same keys, in this order, make an experiment's ``settings`` dict in results.json
SPEC_KEYS = BUILD_DNN_KEYS
FIT_KEYS = ("optimizer", "lr", "batch_size", "epochs", "class_weight")
SETTINGS_KEYS = SPEC_KEYS + FIT_KEYS


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
    ``seeds``: how many seeds it trains with (the study's seed, then the next ones; more than 1 adds the
    other seeds' runs, trained side by side as one stacked model, to its result's ``seed_runs``).
    """

    name: str
    title: str = ""
    part: str = ""
    spec: ModelSpec = ModelSpec()
    fit: FitConfig = FitConfig(class_weight="balanced")
    seeds: int = 1

    def __post_init__(self) -> None:
        need(self.seeds >= 1, f"[experiments.{self.name}] seeds", "must be at least 1", self.seeds)

    def settings(self) -> dict[str, Any]:
        """The network's settings, as results.json holds them (the cache key of every part that trains
        this experiment once; the experiments part adds ``seeds``)."""
        return settings_of(self.spec, self.fit)


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
    unseen_train_networks: int = 2        # [unseen_networks]: training networks (600 s of benign traffic each)
    unseen_test_networks: int = 1         # held-out networks measured (one more picks the operating point)
    unseen_heldout_benign_s: float = 600.0  # benign seconds of each held-out network before its outbreak

    def __post_init__(self) -> None:
        for key in ("unseen_train_networks", "unseen_test_networks"):
            need(getattr(self, key) >= 1, f"[quick] {key}", "must be at least 1", getattr(self, key))
        need(self.unseen_heldout_benign_s >= 60, "[quick] unseen_heldout_benign_s", "must be at least 60",
             self.unseen_heldout_benign_s)
        need(self.eval_sim_packets >= 1_000, "[quick] eval_sim_packets", "must be at least 1000", self.eval_sim_packets)
        need(0 < self.fraction <= 1, "[quick] fraction", "must be in (0, 1]", self.fraction)
        for key in ("epochs", "final_epochs", "trials", "search_epochs", "mc_passes", "folds", "tree_estimators",
                    "random_chance_draws"):
            need(getattr(self, key) >= 1, f"[quick] {key}", "must be at least 1", getattr(self, key))
        need(self.mc_passes >= 2 and self.folds >= 2, "[quick] mc_passes/folds", "must be at least 2",
             (self.mc_passes, self.folds))


@dataclass(frozen=True)
class Full:
    """What ``--full`` enlarges: the parts whose default settings are a sample of a larger whole (today the
    unseen-networks part: the whole population of networks, issue 20's held-out networks and their hours)."""

    unseen_train_networks: int = 24           # the whole mirai-sim-family population trains
    unseen_validation_networks: int = 2       # held-out networks that pick the operating point
    unseen_test_networks: int = 12            # held-out networks measured (issue 20: at least 4; 12 as docs/generalise.md)
    unseen_heldout_benign_s: float = 7200.0   # issue 20: at least 2 hours of benign traffic before the outbreak

    def __post_init__(self) -> None:
        for key in ("unseen_train_networks", "unseen_validation_networks", "unseen_test_networks"):
            need(getattr(self, key) >= 1, f"[full] {key}", "must be at least 1", getattr(self, key))
        need(self.unseen_heldout_benign_s >= 60, "[full] unseen_heldout_benign_s", "must be at least 60",
             self.unseen_heldout_benign_s)


class PartConfig(Protocol):
    """What a part's config dataclass offers the study (see :mod:`nidslab.study.parts`)."""

    TABLE: ClassVar[str]

    def check(self, study: Study) -> None:
        """Checks that need the rest of the study (e.g. that a named experiment exists)."""

    def quick(self, q: Quick) -> Any:
        """This config on ``--quick`` settings."""


@dataclass(frozen=True)
class Study:
    """A whole study: shared settings, the experiments and one config per part (None: not run).

    ``parts`` maps a part's name to its config; ``study.NAME`` reads it (``study.search``). Checked when
    built: the shared settings, then each part's cross-references (:meth:`PartConfig.check`).
    """

    title: str = "nidslab study"
    seed: int = 0
    features: str = "lab"
    split: str = "random"
    fraction: float = 1.0
    random_chance_draws: int = 1_000
    #: how the experiments train: "shared" (networks of one shape, batch and epochs, their other seeds
    #: included, as one stacked model on the study seed's shuffle) or "none" (one at a time, each seed its
    #: own shuffle); the study seed's networks get the same numbers either way, to float rounding
    stacking: str = "shared"
    experiments: tuple[Experiment, ...] = ()
    parts: Mapping[str, Any] = field(default_factory=dict)
    quick: Quick = field(default_factory=Quick)
    full: Full = field(default_factory=Full)
    source: str = ""
    is_quick: bool = False
    is_full: bool = False

    def __post_init__(self) -> None:
        need(self.features in ("lab", "all"), "[study] features", "must be 'lab' or 'all'", self.features)
        need(self.split in SPLITS, "[study] split", f"must be one of {SPLITS} ('stratified' = 'random')", self.split)
        need(0.0 < self.fraction <= 1.0, "[study] fraction", "must be in (0, 1]", self.fraction)
        need(self.stacking in STACKING, "[study] stacking", f"must be one of {', '.join(STACKING)}", self.stacking)
        need(self.random_chance_draws >= 1, "[study] random_chance_draws", "must be at least 1",
             self.random_chance_draws)
        for cfg in self.parts.values():
            if cfg is not None:
                cfg.check(self)

    def __getattr__(self, name: str) -> Any:
        # study.search etc.: a part's config, None when the study does not run it
        parts = self.__dict__.get("parts", {})
        if name in parts:
            return parts[name]
        raise AttributeError(f"a Study has no attribute or part {name!r} (parts: {', '.join(parts) or 'none'})")

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
        parts = {name: (None if cfg is None else cfg.quick(q)) for name, cfg in self.parts.items()}
        return rep(self, fraction=min(self.fraction, q.fraction),
                   random_chance_draws=min(self.random_chance_draws, q.random_chance_draws),
                   experiments=exps, parts=parts, is_quick=True)

    def full_version(self) -> Study:
        """The same study with ``[full]`` settings for the parts that have them (a config with a ``full(f)``
        method); the other parts are unchanged. Not with ``--quick``: the two ask for opposite things."""
        if self.is_full:
            return self
        if self.is_quick:
            raise ConfigError(f"{self.source or 'the study'}: --full and --quick ask for opposite settings; "
                              "choose one")
        parts = {name: (cfg.full(self.full) if cfg is not None and hasattr(cfg, "full") else cfg)
                 for name, cfg in self.parts.items()}
        return dataclasses.replace(self, parts=parts, is_full=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (results.json's ``meta.study``): each part's config under its name."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "parts":
                out.update({k: None if v is None else dataclasses.asdict(v) for k, v in value.items()})
            else:
                out[f.name] = dataclasses.asdict(value) if isinstance(value, Quick | Full) else (
                    [dataclasses.asdict(e) for e in value] if f.name == "experiments" else value)
        return out


DEFAULT_STUDY = "mirai_lab.toml"


def default_study_path() -> Path:
    """The lab's own study file, shipped with the package."""
    return Path(str(resources.files("nidslab").joinpath("studies", DEFAULT_STUDY)))


# ----------------------------------------------------------------------------- checks shared by parts


def need(ok: bool, what: str, message: str, value: Any) -> None:
    """ConfigError ``"<what> <message>, got <value>"`` unless ``ok`` (``what``: ``[table] key``)."""
    if not ok:
        raise ConfigError(f"{what} {message}, got {value!r}")


def check_network(e: Experiment | Any, where: str) -> None:
    """What a study needs beyond a valid spec and fit config: a hidden layer, an epoch, a learning rate."""
    need(e.spec.n_layers >= 1, f"[{where}] n_layers", "must be at least 1", e.spec.n_layers)
    need(e.fit.lr > 0, f"[{where}] lr", "must be positive", e.fit.lr)
    need(e.fit.epochs >= 1, f"[{where}] epochs", "must be at least 1", e.fit.epochs)


def known_experiment(study: Study, what: str, name: str, allow_best: bool = False) -> None:
    """ConfigError unless ``name`` is one of the study's experiments (or ``best``, the search's, if allowed)."""
    names = {e.name for e in study.experiments}
    ok = name in names or (allow_best and name == "best")
    choices = sorted(names) + (["best"] if allow_best else [])
    need(ok, what, f"must name an experiment ({', '.join(choices) or 'none defined'})", name)


def table_kwargs(table: dict[str, Any], where: str, cls: type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Keyword arguments for ``cls`` from a TOML table, each converted to its field's type."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    out = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"[{where}] unknown key {key!r}; expected one of {', '.join(fields)}")
        default = fields[key].default
        if default is dataclasses.MISSING:  # default_factory fields are never set from a table
            raise ConfigError(f"[{where}] key {key!r} cannot be set here")
        out[key] = convert(value, default, f"[{where}] {key}")
    return out


def settings_table(table: dict[str, Any], where: str, keys: tuple[str, ...],
                   also: tuple[str, ...] = ()) -> dict[str, Any]:
    """The network settings ``keys`` of a TOML table, each converted to the type of its default in
    :class:`ModelSpec` / :class:`FitConfig` (their values are checked when those are built)."""
    like = {**ModelSpec().to_dict(), **FitConfig().to_dict()}
    out = {}
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(f"[{where}] unknown key {key!r}; expected one of {', '.join(also + keys)}")
        # class_weight's default is None: a string or a {0 = w0, 1 = w1} table, as FitConfig reads it
        out[key] = value if like[key] is None else convert(value, like[key], f"[{where}] {key}")
    return out


def network(cls: Any, settings: dict[str, Any], where: str) -> tuple[ModelSpec, FitConfig]:
    """``cls``'s default spec and fit config with a table's ``settings`` applied (and so checked);
    errors name the table."""
    spec_keys = {f.name for f in dataclasses.fields(ModelSpec)}
    try:
        spec = cls.spec.replace(**{k: v for k, v in settings.items() if k in spec_keys})
        fit = cls.fit.replace(**{k: v for k, v in settings.items() if k not in spec_keys})
    except ConfigError as exc:
        raise ConfigError(f"[{where}] {exc}") from None
    return spec, fit


def convert(value: Any, like: Any, what: str) -> Any:
    """``value`` as the type of the default ``like`` (bool, int, float, str or a tuple of them)."""
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{what} must be {expected}, got {value!r}")

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
        return tuple(convert(v, item, what) for v in value)
    raise AssertionError(f"no converter for {type(like)}")  # pragma: no cover
