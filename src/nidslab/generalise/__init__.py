"""Detectors that hold on networks they never saw (issue 20 items 5 and 6).

- :mod:`.networks`: sites as per-packet features, times, truth and source hosts (simulated or real).
- :mod:`.views`: feature views that encode less of the site; :class:`SiteScaler` (per-site standardisation).
- :mod:`.models`: recipes (detector x view x standardisation), training on many networks, calibration to a site.
- :mod:`.measure`: incidents per host and the per-network measures; the one-line verdict.
- :mod:`.transfer`: the real-data checks (mirai2000, the N-BaIoT doorbell, IoT Sentinel).
- :mod:`.experiment`: :func:`run_generalise` (:class:`GeneraliseConfig` -> :class:`GeneraliseResult`).
"""

from nidslab.generalise.experiment import (
    DEFAULT_RECIPES,
    GeneraliseConfig,
    GeneraliseResult,
    RecipeResult,
    run_generalise,
    run_recipe,
)
from nidslab.generalise.measure import NetworkMeasures, measure_network, verdict
from nidslab.generalise.models import LEVELS, Recipe, TrainSettings, train
from nidslab.generalise.views import VIEWS, SiteScaler, transform

__all__ = [
    "DEFAULT_RECIPES",
    "LEVELS",
    "VIEWS",
    "GeneraliseConfig",
    "GeneraliseResult",
    "NetworkMeasures",
    "Recipe",
    "RecipeResult",
    "SiteScaler",
    "TrainSettings",
    "measure_network",
    "run_generalise",
    "run_recipe",
    "train",
    "transform",
    "verdict",
]
