"""`nidslab data ...`: import, download, describe, list and remove datasets."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nidslab.cli.common import RAY_ADDRESS, err, progress_bar
from nidslab.schema import MIRAI_PACKETS

console = Console()
data_app = typer.Typer(help="Datasets: import your files, download Kitsune, describe, list, remove.",
                       no_args_is_help=True)

NONFINITE = typer.Option("error", "--nonfinite",
                         help="What to do with NaN/inf cells: error (refuse), zero (replace with 0), keep.")


@data_app.command("import")
def import_(
    features: Path = typer.Argument(..., help="Features: UCI CSV (.csv/.csv.gz, 115 or 116 columns, header or "
                                              "not), N-BaIoT CSV, Parquet, or the lab's .npy."),
    labels: Path = typer.Argument(None, help="Labels: UCI label CSV (.csv/.csv.gz), .npy or Parquet. Leave out "
                                             "when the features file has a label column (N-BaIoT `Normal`)."),
    name: str = typer.Option(..., "--name", "-n", help="Name to cache the dataset under."),
    nonfinite: str = NONFINITE,
) -> None:
    """Parse FEATURES and LABELS once and cache them as dataset NAME (opened memory-mapped later)."""
    from nidslab.data import import_dataset

    _check_policy(nonfinite)
    with progress_bar(f"importing {features.name}") as update:
        ds = import_dataset(features, labels, name, nonfinite=nonfinite, progress=update)
    console.print(f"cached [bold]{ds.name}[/]: {ds.n_rows:,} rows x {ds.n_features} features at {escape(str(ds.path))}")


@data_app.command("download")
def download(
    attack: str = typer.Argument("mirai", help="Kitsune capture: mirai, active_wiretap, arp_mitm, fuzzing, "
                                               "os_scan, ssdp_flood, ssl_renegotiation, syn_dos, video_injection."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Also parse and cache it as kitsune-ATTACK."),
    dest: Path = typer.Option(None, "--dest", help="Folder for the downloaded files (default: nidslab's cache)."),
) -> None:
    """Download a Kitsune dataset from the UCI archive (resumes a partial download), then cache it."""
    from nidslab.data import download as fetch
    from nidslab.data import import_dataset

    with progress_bar(f"downloading {attack}", bytes_=True) as update:
        paths = fetch(attack, dest=dest, progress=update)
    for part, p in paths.items():
        console.print(f"{part}: {escape(str(p))}")
    if cache:
        name = f"kitsune-{attack.lower().replace('-', '_')}"
        with progress_bar(f"parsing {paths['features'].name}") as update:
            ds = import_dataset(paths["features"], paths["labels"], name, progress=update)
        console.print(f"cached [bold]{ds.name}[/]: {ds.n_rows:,} rows at {escape(str(ds.path))}")


@data_app.command("describe")
def describe(
    dataset: str = typer.Argument("default", help="Dataset name or folder (default: the embedded mirai-sim)."),
    draws: int = typer.Option(1_000, "--draws", min=1, help="Monte Carlo draws for random-chance accuracy."),
    seed: int = typer.Option(0, "--seed", help="Seed of the Monte Carlo draws."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Shapes, class counts, NaN/inf per column, naive and random-chance accuracy, and where the rows came
    from (a simulated dataset says so)."""
    from nidslab.data import describe as run, open_dataset
    from nidslab.data.provenance import provenance
    from nidslab.features.describe import approx_seconds

    with progress_bar(f"opening {dataset}") as update:
        ds = open_dataset(dataset, progress=update)
        d = run(ds, draws=draws, seed=seed, progress=update)
    groups = _feature_groups(getattr(ds, "feature_names", None))
    source = provenance(ds, dataset)
    if as_json:
        print(json.dumps({**d.to_dict(), "source": source, "feature_groups": groups}, indent=1, ensure_ascii=False))
        return
    b, m = d.class_counts
    rc = d.random_chance
    t = Table(title=f"dataset {d.name}", show_header=False)
    t.add_row("source", source["description"])
    t.add_row("rows x features", f"{d.rows:,} x {d.n_features}")
    t.add_row("benign / malicious", f"{b:,} ({b / d.rows:.2%}) / {m:,} ({m / d.rows:.2%})")
    t.add_row("NaN / inf cells", f"{d.nan_features:,} / {d.inf_features:,}")
    for col, n in list(d.nan_per_column.items())[:10]:
        t.add_row(f"  NaN in {col}", f"{n:,}")
    t.add_row(f"naive accuracy (always {d.majority_class})", f"{d.naive_accuracy:.4f}")
    t.add_row("random guess with the class prior", f"{rc['prior']['mean']:.4f} (sd {rc['prior']['sd']:.4f})")
    t.add_row("random guess 50/50", f"{rc['uniform']['mean']:.4f} (sd {rc['uniform']['sd']:.4f})")
    t.add_row("Monte Carlo draws", f"{rc['draws']:,}")
    for g in groups:
        t.add_row(f"features {g['group']} ({g['columns']})",
                  f"{', '.join(g['streams'])}: {', '.join(g['statistics'])}; {len(g['lambdas'])} decays, "
                  f"half-lives {approx_seconds(min(g['half_lives_s']))} to {approx_seconds(max(g['half_lives_s']))}")
    if groups:
        t.caption = "`nidslab features describe NAME|GROUP` says what each feature means"
    console.print(t)


def _feature_groups(names) -> list[dict]:
    """The dataset's columns per Kitsune group (nidslab.features.describe.group_summary); [] when its columns
    are not Kitsune features."""
    from nidslab.errors import UnknownNameError
    from nidslab.features.describe import group_summary

    try:
        return group_summary(list(names or []))
    except UnknownNameError:
        return []


@data_app.command("list")
def list_() -> None:
    """Cached datasets, and the built-in ones not made yet."""
    from nidslab.data import BUILTIN_DATASETS, default_dataset, list_datasets, list_leftovers

    rows = list_datasets()
    t = Table(title="datasets")
    for c in ("name", "rows", "features", "benign", "malicious", "size", "source"):
        t.add_column(c, justify="right" if c in ("rows", "features", "benign", "malicious", "size") else "left")
    have = {r["name"] for r in rows}
    for r in rows:
        star = " (default)" if r["name"] == default_dataset() else ""
        t.add_row(r["name"] + star, _n(r["rows"]), _n(r["n_features"]), _n(r["benign"]), _n(r["malicious"]),
                  f"{r['bytes'] / 2**20:,.0f} MiB" if r["bytes"] else "-", r["source"])
    for b in BUILTIN_DATASETS:
        if b not in have:
            t.add_row(b + (" (default)" if b == default_dataset() else ""), "-", "-", "-", "-", "-",
                      "built in, made on first use")
    console.print(t)
    for left in list_leftovers():
        state = (f"being written by process {left.pid}" if left.live else
                 f"left by a killed run (process {left.pid} is gone); the next build or import removes it"
                 if left.pid is not None else
                 f"no owner recorded, {left.age_s / 3600:.1f} h old; the next build or import removes it "
                 "once it is a day old")
        console.print(f"unfinished: {escape(str(left.path))} ({left.bytes / 2**20:,.1f} MiB), {state}",
                      highlight=False)


@data_app.command("build")
def build(
    dataset: str = typer.Argument("default", help="Built-in dataset: mirai-sim, synthetic or mirai-sim-family."),
    rows: int = typer.Option(None, "--rows", min=100, help="Rows (packets).",
                             show_default=f"{MIRAI_PACKETS:,}, the released Mirai capture's"),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulation / generator."),
    networks: int = typer.Option(24, "--networks", min=1, help="mirai-sim-family: how many drawn networks."),
    first: int = typer.Option(1, "--first", min=1, help="mirai-sim-family: the first network's number (networks "
                              "FIRST..FIRST+N-1; e.g. --first 25 --networks 4 --benign-s 7200 for held-out networks)."),
    benign_s: float = typer.Option(600.0, "--benign-s", min=0, help="mirai-sim-family: seconds of benign traffic "
                                   "before each outbreak (7200 gives the targets' 2 hours)."),
    attack_scale: float = typer.Option(0.25, "--attack-scale", min=0.001, help="mirai-sim-family: multiply the "
                                       "outbreaks' drawn times (1: as drawn, ~10 min; smaller: shorter outbreaks)."),
    firmware_x: float = typer.Option(1.0, "--firmware-x", min=0.001, help="mirai-sim-family: firmware downloads "
                                     "this many times as frequent as drawn (144: the training networks nidslab."
                                     "generalise uses, about one per device in 600 s; cached as "
                                     "mirai-sim-family-fw144)."),
    captures: bool = typer.Option(True, "--captures/--no-captures", help="mirai-sim-family: keep each "
                                  "network's capture in the dataset folder."),
    cluster: str = typer.Option("none", "--cluster", help="mirai-sim-family: none (one network after another "
                                "here) or ray (one Ray task per network; needs the [cluster] extra)."),
    address: str = RAY_ADDRESS,
) -> None:
    """Make a built-in dataset now (otherwise it is made on first use)."""
    from nidslab.data import open_dataset

    if dataset == "mirai-sim-family":
        from nidslab.cluster import make_executor
        from nidslab.data.family import build_family

        with make_executor(cluster, address) as executor, progress_bar(f"building {dataset}") as update:
            fam = build_family(networks, first=first, benign_s=benign_s, attack_scale=attack_scale,
                               firmware_x=firmware_x, captures=captures, executor=executor, progress=update)
        b = fam.dataset.meta["extra"]["build"]
        console.print(escape(repr(fam)) + f" at {escape(str(fam.dataset.path))}; built in {b['seconds']:.1f} s "
                      f"({b['packets_per_s']:,.0f} packets/s, {b['executor']['kind']})", highlight=False)
        return

    with progress_bar(f"building {dataset}") as update:
        ds = open_dataset(dataset, rows=rows, seed=seed, progress=update)
    console.print(escape(repr(ds)))


@data_app.command("remove")
def remove(name: str = typer.Argument(..., help="Cached dataset to delete.")) -> None:
    """Delete a cached dataset (a built-in one is made again on next use)."""
    from nidslab.data import remove_dataset

    err.print(f"removed {escape(str(remove_dataset(name)))}")


def _n(x) -> str:
    return "-" if x is None else f"{x:,}"


def _check_policy(p: str) -> None:
    if p not in ("error", "zero", "keep"):
        raise typer.BadParameter(f"--nonfinite must be error, zero or keep, not {p!r}")


def register(app: typer.Typer) -> None:
    """Add `nidslab data ...` to the root app."""
    app.add_typer(data_app, name="data")
