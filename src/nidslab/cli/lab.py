"""``nidslab lab``: run the whole lab as a study and write the report; ``nidslab lab report RUN_DIR`` rebuilds it."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import TextColumn

from nidslab.cli.common import RAY_ADDRESS, rich_bar

console = Console()

lab_app = typer.Typer(
    help="Run every part of the DNN lab on a dataset and write a report that answers its 21 questions.",
    invoke_without_command=True,
    no_args_is_help=False,
    # `nidslab lab` runs the study itself; its one subcommand is optional
    subcommand_metavar="[report RUN_DIR]",
)


@lab_app.callback()
def lab(
    ctx: typer.Context,
    study: Path = typer.Option(None, "--study", help="Study file (TOML); default: the lab's own mirai_lab.toml."),
    data: str = typer.Option("default", "--data", show_default=False,
                             help="Dataset name or path (any dataset nidslab reads). Default: mirai-sim, nidslab's "
                                  "SIMULATED IoT camera LAN with a Mirai outbreak, built on first use "
                                  "($NIDSLAB_DATASET changes it); kitsune-mirai: the real Kitsune capture "
                                  "(downloaded once, 1.4 GB)."),
    quick: bool = typer.Option(False, "--quick", help="A fraction of the data, fewer epochs, passes, folds, trials."),
    full: bool = typer.Option(False, "--full", help="The study file's [full] settings: the unseen-networks part "
                              "on the whole population (its training networks, and held-out networks with 2 hours "
                              "of benign traffic each: see the [full] table; built on first use). Not with --quick."),
    out: Path = typer.Option(Path("runs"), "--out", help="Folder for runs: writes OUT/TIMESTAMP/ and OUT/latest."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore cached results of earlier runs; recompute every part."),
    fraction: float = typer.Option(None, "--fraction", metavar="SHARE",
                                   help="Share of the rows to use, above 0 and at most 1, e.g. 0.5 or 0.25 (the "
                                        "lab's half and quarter datasets); overrides the study file."),
    split: str = typer.Option(None, "--split", help="random | temporal: the split every part trains on; overrides "
                                                    "the study file (the evaluation part trains the other one too)."),
    cluster: str = typer.Option("none", "--cluster", help="none: run here, one task after another; processes: "
                                "the experiments, timings, search trials and CV folds in worker processes of this "
                                "machine (--workers), one torch thread each; ray: the same as Ray tasks (needs the "
                                "[cluster] extra)."),
    workers: int = typer.Option(None, "--workers", min=1, help="With --cluster processes: worker processes "
                                "(default: one per CPU this process may use)."),
    address: str = RAY_ADDRESS,
    cpus_per_task: int = typer.Option(1, "--cpus-per-task", min=1, help="With --cluster ray: CPUs (and torch "
                                      "threads) per task."),
    threads: int = typer.Option(None, "--threads", min=1, help="--cluster none: torch threads (default: torch's); "
                                "--cluster processes: per task (one unless given). --threads 1 gives the numbers of a "
                                "cluster run with one CPU per task."),
) -> None:
    """Run the study: results.json, report.html and report.md in OUT/TIMESTAMP/ (OUT/latest points at it).

    Results are cached per part: an interrupted run resumes, and a run with one changed experiment
    re-runs only that one.
    """
    if ctx.invoked_subcommand is not None:
        return
    from nidslab.cluster import ProcessExecutor, RayExecutor, make_executor
    from nidslab.study import link_latest, load_study, new_run_dir, run_study

    if quick and full:
        raise typer.BadParameter("--quick and --full ask for opposite settings; choose one", param_hint="--full")
    spec = load_study(study)
    if fraction is not None:
        if not 0 < fraction <= 1:
            raise typer.BadParameter(f"--fraction must be above 0 and at most 1, got {fraction:g}")
        spec = dataclasses.replace(spec, fraction=fraction)
    if split is not None:
        from nidslab.study.config import SPLIT_ALIASES, SPLITS

        split = SPLIT_ALIASES.get(split, split)
        if split not in SPLITS:
            raise typer.BadParameter(f"--split must be random or temporal, got {split!r}")
        spec = dataclasses.replace(spec, split=split)
    start = time.perf_counter()
    executor = make_executor(cluster, address, cpus_per_task=cpus_per_task, threads=threads,
                             workers=workers)  # fails before any output
    if isinstance(executor, RayExecutor):
        console.print(f"Ray cluster at {executor.address}: {executor.workers} tasks at a time, "
                      f"{executor.threads} CPU(s) each", highlight=False)
    elif isinstance(executor, ProcessExecutor):
        console.print(f"{executor.workers} worker processes here, {executor.threads} torch thread(s) each",
                      highlight=False)
    run_dir = new_run_dir(out)
    console.print(f"[bold]nidslab lab[/bold]: {escape(spec.title)}" + (" [yellow](quick)[/yellow]" if quick else "")
                  + (" [yellow](full)[/yellow]" if full else ""))
    with rich_bar(description="{task.description:<34}", extra=(TextColumn("{task.fields[msg]}"),), on=console,
                  transient=False) as bars:
        whole = bars.add_task("study", total=None, msg="")
        part = bars.add_task("  part", total=None, msg="")

        def on_part(done: int, total: int | None, message: str = "") -> None:
            bars.update(whole, completed=done, total=total, msg=escape(message))
            if not console.is_terminal:  # a log (make lab | tee, CI) gets one line per part instead of bars
                console.print(escape(f"[{done}/{total}] {message}  ({time.perf_counter() - start:.0f} s)"))
            bars.update(part, completed=0, total=None, msg="", description=escape(f"  {message}"[:34]))

        def on_detail(done: int, total: int | None, message: str = "") -> None:
            bars.update(part, completed=done, total=total, msg=escape(message))

        try:
            with executor:
                results = run_study(spec, data=data, out_dir=run_dir, quick=quick, full=full, fresh=fresh, progress=on_part,
                                    detail=on_detail, executor=executor)
        except BaseException:
            _remove_if_empty(run_dir)  # a run that failed before writing anything (--data nosuch) leaves no trace
            raise
    latest = link_latest(out, run_dir)
    meta = results["meta"]
    cached = sum(1 for p in meta["parts"].values() if p["cached"])
    console.print(f"Done in {meta['wall_s']:.1f} s ({cached} of {len(meta['parts'])} parts from the cache).")
    console.print(f"Report: [bold]{escape(str(run_dir / 'report.html'))}[/bold]  (also {escape(str(latest))}/report.md, results.json)")


def _remove_if_empty(folder: Path) -> None:
    """Remove ``folder`` and its sub-folders if none of them holds a file (only empty folders are removed)."""
    import os

    for dirpath, _, _ in sorted(os.walk(folder), key=lambda w: -len(w[0])):
        try:
            os.rmdir(dirpath)
        except OSError:
            return


@lab_app.command("report")
def report(run_dir: Path = typer.Argument(..., help="A run folder holding results.json (e.g. runs/latest).")) -> None:
    """Rebuild report.html, report.md and figures/ of RUN_DIR from its results.json, without retraining."""
    from nidslab.errors import NidslabError
    from nidslab.study import write_report

    try:
        written = write_report(run_dir / "results.json", run_dir)
    except (FileNotFoundError, ValueError) as exc:  # a user's mistake: say it in one line
        raise NidslabError(str(exc)) from None
    console.print(escape(f"Wrote {written['html']} and {written['md']}"))


def register(app: typer.Typer) -> None:
    """Add ``nidslab lab`` (and ``nidslab lab report``) to the root app."""
    app.add_typer(lab_app, name="lab")
