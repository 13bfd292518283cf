"""Every operating point of a recipe measured on held-out networks: an oracle view, never a choice.

    NIDSLAB_HOME=... python examples/generalise_points.py lightgbm,log,site dnn,lab,pooled \
        [--train 1-24] [--test 31-42] [--heldout-benign-s 7200]

For each recipe (``model,view,scaling``; nidslab.generalise.Recipe): trained on the training networks,
calibrated on each held-out network's own benign window, then at every threshold level and alert count
the false incidents in the scored benign traffic and the infected hosts detected, over all the held-out
networks; and, for one-detector recipes, per infected host its top score against the site's largest benign calibration score.
It shows where a recipe's usable points lie and why validation's choice misses; the operating point a
study reports is still picked on validation networks only (nidslab.generalise.experiment).
"""

from __future__ import annotations

import argparse

import numpy as np
from generalise_ablation import ids, recipe

from nidslab.generalise import GeneraliseConfig
from nidslab.generalise.experiment import _site_scores, load_networks, measure_site
from nidslab.generalise.models import LEVELS, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipes", nargs="+", help="model,view,scaling[,dnn_seeds[,augment]]")
    ap.add_argument("--train", default="1-24")
    ap.add_argument("--test", default="31-42")
    ap.add_argument("--heldout-benign-s", type=float, default=7200.0)
    a = ap.parse_args()
    train_ids = ids(a.train)
    cfg = GeneraliseConfig(train=train_ids, validation=(max(train_ids) + 1,), test=ids(a.test),
                           family_networks=max(train_ids), long_benign_s=a.heldout_benign_s)
    tr, _, te = load_networks(cfg)  # the validation network is loaded (and built) only for its place
    for spec in a.recipes:
        trained = train(recipe(spec), tr, cfg.settings)
        sites = [(_site_scores(trained, n, cfg.calibration_fraction), n) for n in te]
        print(f"\n{trained.recipe.name}\n| point | false incidents | per day | hosts detected |\n| --- | --- | --- | --- |")
        for lv in LEVELS:
            for k in cfg.confirm:
                ms = [measure_site(site, n, lv, eval_from=end, scores=sc, alerts=k, gap_s=cfg.gap_s,
                                   window_s=cfg.confirm_window_s) for (site, sc, end), n in sites]
                fi, hours = sum(m.false_incidents for m in ms), sum(m.benign_hours for m in ms)
                print(f"| {lv} x{k} | {fi} in {hours:.1f} h | {fi / hours * 24:.1f} | "
                      f"{sum(m.infected_detected for m in ms)}/{sum(m.infected_hosts for m in ms)} |")
        for (_site, sc, end), n in sites:
            if len(sc) > 1:  # two detectors, two thresholds: one top score says nothing
                break
            s = next(iter(sc.values()))
            top_benign = float(np.max(s[(2 * end) // 3:end]))
            for h in n.infected:
                own = (n.host == h) & (n.truth == 1)
                top = f"{float(np.max(s[own])):.3g}" if own.any() else "-"
                print(f"  {n.name} host {h}: top score {top}; site's largest benign calibration score {top_benign:.3g}")


if __name__ == "__main__":
    main()
