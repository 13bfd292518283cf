"""Train detectors on some simulated networks and measure them on networks they never saw (issue 20).

    NIDSLAB_HOME=... python examples/generalise_ablation.py                       # the default recipes
    python examples/generalise_ablation.py --full                                 # every recipe, 24 networks
    python examples/generalise_ablation.py dnn,log,site lightgbm,lab,pooled -o result.json

A recipe is ``model,view,scaling[,dnn_seeds[,augment]]`` (see nidslab.generalise.models.Recipe). Prints
the Markdown tables of nidslab.generalise.report and writes the whole result as JSON with ``-o``. The
families are built on first use (minutes); docs/generalise.md quotes a run of this script.
"""

from __future__ import annotations

import argparse
import json
import time

from nidslab.generalise import GeneraliseConfig, Recipe, run_generalise
from nidslab.generalise.report import markdown


def recipe(spec: str) -> Recipe:
    p = spec.split(",")
    if len(p) < 3:
        raise SystemExit(f"recipe {spec!r}: expected model,view,scaling[,dnn_seeds[,augment]]")
    return Recipe(p[0], p[1], p[2], dnn_seeds=int(p[3]) if len(p) > 3 else 1, augment=int(p[4]) if len(p) > 4 else 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipes", nargs="*", help="model,view,scaling[,dnn_seeds[,augment]]")
    ap.add_argument("--full", action="store_true", help="all 24 training networks and every recipe")
    ap.add_argument("--train", help="training network ids, comma-separated (default 1-8; --full 1-24)")
    ap.add_argument("-o", "--out", help="write the result as JSON here")
    a = ap.parse_args()
    changes = {}
    if a.recipes:
        changes["recipes"] = tuple(recipe(s) for s in a.recipes)
    if a.train:
        changes["train"] = tuple(int(x) for x in a.train.split(","))
    config = GeneraliseConfig.full(**changes) if a.full else GeneraliseConfig(**changes)
    start = time.perf_counter()
    result = run_generalise(config, progress=lambda d, n, m="": print(f"  {m} ({d}/{n})", flush=True))
    print(markdown(result))
    print(f"{time.perf_counter() - start:.1f} s")
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(result.to_dict(), fh, indent=1, default=float)


if __name__ == "__main__":
    main()
