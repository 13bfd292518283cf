"""The 115 Kitsune/AfterImage features of the released tables, and the lab's column rule.

One source of truth for feature names. The order is the order of the released Kitsune
Mirai CSV (after its index column) and of the N-BaIoT CSVs, which use these same names:

    MI_dir  (15)  source MAC+IP stream:      weight, mean, variance       x 5 lambdas
    H       (15)  source IP stream:          weight, mean, variance       x 5 lambdas
    HH      (35)  channel src IP -> dst IP:  weight, mean, std, magnitude, radius,
                                             covariance, pcc              x 5 lambdas
    HH_jit  (15)  channel inter-arrival:     weight, mean, variance       x 5 lambdas
    HpHp    (35)  socket srcIP:port -> dst:  weight, mean, std, magnitude, radius,
                                             covariance, pcc              x 5 lambdas

Lambdas are decay factors (1/s): 5, 3, 1, 0.1, 0.01. A stream's statistics decay as
``2 ** (-lambda * dt)`` (Kitsune's AfterImage), so each lambda's half-life is ``1 / lambda``
seconds: 0.2 s to 100 s (:func:`half_life`).

The public reference implementation (Kitsune-py) writes 100 columns under other names
(:data:`KITSUNE_PY_FEATURE_NAMES`); :mod:`nidslab.features.describe` says what every column of
both layouts means.

The lab removes "the first 24 columns" of the 116-column CSV (index column + 115
features): that is the index column and the first 23 features, so the lab keeps the 92
features from ``H_L1_variance`` on. :func:`select` applies that rule by name, so it gives
the same 92 columns whether or not the source had an index column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nidslab.errors import UnknownNameError

LAMBDAS: tuple[float, ...] = (5.0, 3.0, 1.0, 0.1, 0.01)
LAMBDA_LABELS: tuple[str, ...] = ("5", "3", "1", "0.1", "0.01")

STATS_1D: tuple[str, ...] = ("weight", "mean", "variance")
STATS_2D: tuple[str, ...] = ("weight", "mean", "std", "magnitude", "radius", "covariance", "pcc")

#: group name -> the statistics each lambda contributes, in column order
GROUP_STATS: dict[str, tuple[str, ...]] = {
    "MI_dir": STATS_1D,
    "H": STATS_1D,
    "HH": STATS_2D,
    "HH_jit": STATS_1D,
    "HpHp": STATS_2D,
}
GROUPS: tuple[str, ...] = tuple(GROUP_STATS)

#: Base of AfterImage's decay: a statistic touched ``dt`` seconds ago is scaled by ``DECAY_BASE ** (-lambda * dt)``.
DECAY_BASE: float = 2.0


def half_life(lam: float) -> float:
    """Seconds after which a stream's weight (and every sum behind its statistics) has halved: ``1 / lam``."""
    if not lam > 0:
        raise ValueError(f"a decay factor lambda must be > 0 (1/s), got {lam}")
    return 1.0 / lam


def _names() -> tuple[str, ...]:
    return tuple(
        f"{group}_L{lam}_{stat}"
        for group, stats in GROUP_STATS.items()
        for lam in LAMBDA_LABELS
        for stat in stats
    )


#: The 115 feature names, in the released order.
FEATURE_NAMES: tuple[str, ...] = _names()
N_FEATURES: int = len(FEATURE_NAMES)  # 115
INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}

#: Columns the lab drops from the 116-column CSV (index column included).
LAB_DROPPED_CSV_COLUMNS: int = 24
#: packets (rows) in Kitsune's released Mirai capture: the simulation's and the built datasets' default size
MIRAI_PACKETS: int = 764_137
#: First feature the lab keeps; the lab's 92 features run from here to the end.
LAB_FIRST_FEATURE: str = "H_L1_variance"
LAB_FEATURES: tuple[str, ...] = FEATURE_NAMES[INDEX[LAB_FIRST_FEATURE] :]
assert N_FEATURES == 115 and len(LAB_FEATURES) == 92


def _kitsune_py_names() -> tuple[str, ...]:
    one = ("weight", "mean", "std")  # the reference's "std" holds the variance
    two = ("weight_0", "mean_0", "std_0", "radius_0_1", "magnitude_0_1", "covariance_0_1", "pcc_0_1")
    return tuple(f"{group}_{lam}_{stat}"
                 for group, stats in (("MI_dir", one), ("HH", two), ("HH_jit", one), ("HpHp", two))
                 for lam in LAMBDA_LABELS for stat in stats)


#: The 100 column names of the public reference implementation (Kitsune-py HEAD), in its order.
KITSUNE_PY_FEATURE_NAMES: tuple[str, ...] = _kitsune_py_names()
assert len(KITSUNE_PY_FEATURE_NAMES) == 100


def group_of(name: str) -> str:
    """Return the group (``MI_dir``, ``H``, ``HH``, ``HH_jit``, ``HpHp``) of a feature name."""
    if name not in INDEX:
        raise UnknownNameError(f"unknown Kitsune feature {name!r}")
    # HH_jit must be tested before HH, since both share the prefix.
    for group in ("HH_jit", "HpHp", "MI_dir", "HH", "H"):
        if name.startswith(group + "_L"):
            return group
    raise AssertionError(name)  # unreachable: every name has a group


def features_in(group: str) -> tuple[str, ...]:
    """The feature names of one group, in column order."""
    if group not in GROUP_STATS:
        raise UnknownNameError(f"unknown feature group {group!r}; expected one of {', '.join(GROUPS)}")
    return tuple(n for n in FEATURE_NAMES if group_of(n) == group)


def select(spec: str | Iterable[str] | None = "lab") -> tuple[str, ...]:
    """Resolve a feature selection to names, in the released order.

    ``spec`` is one of:
      - ``"lab"``: the lab's 92 features (drop the first 24 CSV columns);
      - ``"all"`` or ``None``: all 115;
      - a group name (``"HH"``), or a feature name;
      - a comma-separated string or an iterable mixing groups and feature names.
    Raises :class:`~nidslab.errors.UnknownNameError` (a ``KeyError``) naming anything it does not know.
    """
    if spec is None:
        return FEATURE_NAMES
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    wanted: set[str] = set()
    for item in items:
        if item == "lab":
            wanted.update(LAB_FEATURES)
        elif item == "all":
            wanted.update(FEATURE_NAMES)
        elif item in GROUP_STATS:
            wanted.update(features_in(item))
        elif item in INDEX:
            wanted.add(item)
        else:
            raise UnknownNameError(
                f"unknown feature or group {item!r}; expected 'lab', 'all', a group "
                f"({', '.join(GROUPS)}) or a name such as {FEATURE_NAMES[0]!r}"
            )
    return tuple(n for n in FEATURE_NAMES if n in wanted)


def indices(names: Sequence[str]) -> list[int]:
    """Column positions (0..114) of feature names in the 115-column layout.

    Raises :class:`~nidslab.errors.UnknownNameError` (a ``KeyError``) naming the first name it does not know."""
    unknown = [n for n in names if n not in INDEX]
    if unknown:
        raise UnknownNameError(f"unknown Kitsune feature {unknown[0]!r}"
                               f"{f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''}; "
                               f"expected names of the 115-column layout such as {FEATURE_NAMES[0]!r}")
    return [INDEX[n] for n in names]
