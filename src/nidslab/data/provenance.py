"""Where a dataset's rows came from, read from its meta.json, in words a report can put at its top.

A study on the built-in ``mirai-sim`` is a study of simulated traffic; the report must say so, with
the recipe and seed that made it, instead of the name the user typed (often ``default``).
"""

from __future__ import annotations

from typing import Any


def provenance(ds: Any, requested: str | None = None) -> dict[str, Any]:
    """What made dataset ``ds`` (a :class:`nidslab.data.datasets.Dataset`), as a plain dict.

    Keys: ``name`` (the cached dataset's name, e.g. ``mirai-sim``), ``requested`` (the name asked for,
    e.g. ``default``), ``kind`` (``simulated`` | ``synthetic`` | ``downloaded`` | ``imported``),
    ``simulated`` (bool: not captured from real traffic), ``recipe`` and ``seed`` (built-in datasets;
    else None), ``rows``, ``created`` and ``description`` (one sentence).
    """
    meta = ds.meta or {}
    extra = meta.get("extra") or {}
    sources = meta.get("sources") or []
    first = sources[0] if sources else {}
    name = meta.get("name") or ds.name
    rows = int(meta.get("rows", len(ds.y)))
    recipe, seed = extra.get("recipe"), first.get("seed", extra.get("seed"))
    builtin = extra.get("builtin")
    if builtin == "mirai-sim" or first.get("kind") == "simulation":
        kind = "simulated"
        text = (f"{name}: SIMULATED traffic, not a real capture: nidslab's simulated IoT camera LAN with a Mirai "
                f"outbreak ({rows:,} packets, simulator recipe {recipe}, seed {seed}), written as a pcap and "
                "turned into Kitsune features by nidslab's own extractor")
    elif builtin == "synthetic" or first.get("kind") == "synthetic":
        kind = "synthetic"
        text = (f"{name}: SYNTHETIC rows, not traffic: a statistical stand-in for the Kitsune table ({rows:,} "
                f"rows, recipe {recipe}, seed {seed})")
    elif str(name).startswith("kitsune-"):
        kind = "downloaded"
        text = (f"{name}: the real Kitsune capture's feature table (Mirsky et al., NDSS 2018; UCI), downloaded "
                f"and imported ({rows:,} rows)")
    else:
        kind = "imported"
        files = [s["path"] for s in sources if s.get("path")]
        text = f"{name}: imported by the user ({rows:,} rows" + (f", from {', '.join(files)})" if files else ")")
    return {"name": name, "requested": requested if requested is not None else name, "kind": kind,
            "simulated": kind in ("simulated", "synthetic"), "recipe": recipe, "seed": seed, "rows": rows,
            "created": meta.get("created"), "description": text + "."}
