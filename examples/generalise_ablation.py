"""Train detectors on some simulated networks and measure them on networks they never saw (issue 20).

    NIDSLAB_HOME=... python examples/generalise_ablation.py                       # the default recipes
    python examples/generalise_ablation.py --full                                 # every recipe, 24 networks
    python examples/generalise_ablation.py dnn,log,site lightgbm,lab,pooled -o result.json
    python examples/generalise_ablation.py --train 1-24 --validation 25-26 --test 31-38 --heldout-benign-s 14400

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


def ids(spec: str) -> tuple[int, ...]:
    """Network ids: ``1,2,5`` or ranges ``1-8,12``."""
    out: list[int] = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return tuple(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipes", nargs="*", help="model,view,scaling[,dnn_seeds[,augment]]")
    ap.add_argument("--full", action="store_true", help="all 24 training networks and every recipe")
    ap.add_argument("--train", help="training network ids, e.g. 1-8 or 1,2,5 (default 1-8; --full 1-24)")
    ap.add_argument("--validation", help="network ids that pick the operating point (default 25-26)")
    ap.add_argument("--test", help="held-out network ids, measured only (default 27-30)")
    ap.add_argument("--heldout-benign-s", type=float, help="seconds of benign traffic before the outbreak of "
                    "every validation and test network (default 7200; half of it calibrates)")
    ap.add_argument("--confirm-window-s", type=float, help="an alert counts once it is the k-th of its host within "
                    "this many seconds (default 2; k is chosen on the validation networks)")
    ap.add_argument("--choose", help="how validation picks the operating point: middle (default), margin or "
                    "fastest (nidslab.generalise.experiment.choose_operating_point)")
    ap.add_argument("--no-contacts", action="store_true", help="without the contact rule (a host accepting a telnet "
                    "login from a host inside an open incident opens an incident: nidslab.contacts)")
    ap.add_argument("--firmware-x", type=float, help="the training networks' firmware downloads this many times as "
                    "frequent as the population draws them (default 144; 1: as drawn)")
    ap.add_argument("-o", "--out", help="write the result as JSON here")
    a = ap.parse_args()
    changes = {}
    if a.recipes:
        changes["recipes"] = tuple(recipe(s) for s in a.recipes)
    for key in ("train", "validation", "test"):
        if getattr(a, key):
            changes[key] = ids(getattr(a, key))
    if a.train:  # the short family holds exactly the training networks' range
        changes["family_networks"] = max(changes["train"])
    if a.heldout_benign_s:
        changes["long_benign_s"] = a.heldout_benign_s
    if a.choose:
        changes["choose"] = a.choose
    if a.no_contacts:
        changes["contacts"] = False
    if a.firmware_x:
        changes["firmware_x"] = a.firmware_x
    if a.confirm_window_s:
        changes["confirm_window_s"] = a.confirm_window_s
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
