"""A study file (TOML) read into a :class:`nidslab.study.config.Study`, every table and key checked.

A study is the lab written as data: shared settings (``[study]``, ``[defaults]``), one
``[experiments.NAME]`` table per trained network, one table per other part of the lab (the parts of
:data:`nidslab.study.registry.PARTS` that have a config: ``[batch_size_timing]``, ``[search]``, ...), and
``[quick]``: the smaller settings of ``--quick``, and ``[full]``: the larger ones of ``--full``. A part whose table is absent is not run. Any unknown
table or key, or a value of the wrong type or out of range, raises :class:`nidslab.errors.ConfigError`
naming the file, table and key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from nidslab.errors import ConfigError
from nidslab.study import registry
from nidslab.study.config import (SETTINGS_KEYS, SPLIT_ALIASES, Experiment, Full, Quick, Study, check_network,
                                  default_study_path, network, settings_table, table_kwargs)


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


def top_tables() -> tuple[str, ...]:
    """The tables a study file may hold."""
    return ("study", "defaults", "experiments", *registry.tables(), "quick", "full")


def parse_study(raw: dict[str, Any], source: str = "<study>") -> Study:
    """Check a study already parsed from TOML (a dict of tables) and build the :class:`Study`."""
    try:
        return _parse(raw, source)
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(f"{source}:") else f"{source}: {message}") from None


def _parse(raw: dict[str, Any], source: str) -> Study:
    top = top_tables()
    for key, value in raw.items():
        if key not in top and not isinstance(value, dict):
            raise ConfigError(f"key {key!r} stands outside any table; study settings such as {key!r} "
                              f"go in the study table, and every part in its own table ({', '.join(top)})")
        if key not in top:
            raise ConfigError(f"unknown table [{key}]: no part of a study is called {key!r}; expected "
                              f"one of {', '.join(top)}")
        if not isinstance(value, dict):
            raise ConfigError(f"[{key}] must be a table, got {type(value).__name__}")

    study_kw = table_kwargs(raw.get("study", {}), "study", Study,
                            skip=("experiments", "parts", "quick", "full", "source", "is_quick", "is_full"))
    if "split" in study_kw:
        study_kw["split"] = SPLIT_ALIASES.get(study_kw["split"], study_kw["split"])
    raw_defaults = dict(raw.get("defaults", {}))
    default_seeds = table_kwargs({k: v for k, v in raw_defaults.items() if k == "seeds"}, "defaults", Experiment,
                                 skip=("name", "title", "part", "spec", "fit"))
    raw_defaults.pop("seeds", None)
    defaults = settings_table(raw_defaults, "defaults", SETTINGS_KEYS, also=("seeds",))
    network(Experiment, defaults, "defaults")  # a bad default is named in [defaults]
    experiments = []
    for name, table in raw.get("experiments", {}).items():
        where = f"experiments.{name}"
        if not isinstance(table, dict):
            raise ConfigError(f"[{where}] must be a table")
        own = ("title", "part", "seeds")
        text = {**default_seeds, **table_kwargs({k: v for k, v in table.items() if k in own}, where, Experiment,
                                                skip=("name", "spec", "fit"))}
        kw = {**defaults, **settings_table({k: v for k, v in table.items() if k not in own}, where,
                                           SETTINGS_KEYS, also=own)}
        spec, fit = network(Experiment, kw, where)
        e = Experiment(name=name, spec=spec, fit=fit, **text)
        check_network(e, where)
        experiments.append(e)
    Study(experiments=tuple(experiments), **study_kw)  # the shared settings, checked before the parts

    parts: dict[str, Any] = {}
    for part in registry.PARTS:
        cls = part.Config
        if cls is None:
            continue
        table = raw.get(part.NAME)
        if table is None:
            parts[part.NAME] = None
        elif hasattr(cls, "from_table"):
            parts[part.NAME] = cls.from_table(table)
        else:
            parts[part.NAME] = cls(**table_kwargs(table, part.NAME, cls))
    quick = Quick(**table_kwargs(raw.get("quick", {}), "quick", Quick))
    full = Full(**table_kwargs(raw.get("full", {}), "full", Full))
    study = Study(source=source, experiments=tuple(experiments), parts=parts, quick=quick, full=full, **study_kw)
    if not study.experiments and all(v is None for v in parts.values()):
        raise ConfigError(f"a study with no parts to run: it defines no experiments.NAME table and none "
                          f"of {', '.join(parts)}; an empty study would write an empty report")
    return study


__all__ = ["load_study", "parse_study", "top_tables"]
