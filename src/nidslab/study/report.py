"""results.json -> report.html (one self-contained file, figures embedded as PNG) + report.md + figures/.

The report reads results.json only, so it can be rebuilt without retraining
(``nidslab lab report RUN_DIR``). Both documents come from one list of blocks, so they show the same
numbers, each written by :func:`nidslab.study.numbers.fmt` from a value in results.json. The study-wide
sections (the summary, the lab's findings, the 21 questions, the parts' times) are written here; each
part's own section by its module's ``render``, from its result read back strictly
(:func:`nidslab.study.results.from_plain`: a renamed field fails loudly).
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from nidslab.paths import atomic_write
from nidslab.study import registry
from nidslab.study.blocks import METRIC_HEADERS, Block, metrics_row
from nidslab.study.charts import stamped, summary
from nidslab.study.findings import findings, label_truth_text
from nidslab.study.numbers import fmt
from nidslab.study.questions import answer_questions
from nidslab.study.results import ResultsLayoutError, from_plain, is_not_run, not_run_as_none


def write_report(results_json: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Write ``report.html``, ``report.md`` and ``figures/*.png`` from a results.json into ``out_dir``
    (default: the folder holding results.json). Returns the paths written, by name."""
    results_json = Path(results_json)
    if not results_json.is_file():
        raise FileNotFoundError(f"{results_json} does not exist; run `nidslab lab` first")
    try:
        results = json.loads(results_json.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{results_json}: not valid JSON ({exc})") from None
    out = Path(out_dir) if out_dir is not None else results_json.parent
    return render(results, out)


def read_parts(results: dict[str, Any], parts: list[ModuleType] | None = None) -> dict[str, Any]:
    """Each part's typed result from a results dict, None where it was not run; ResultsLayoutError when a
    part's entry is missing or does not match its Result."""
    out = {}
    for part in registry.PARTS if parts is None else parts:
        if part.NAME not in results:
            raise ResultsLayoutError(f"results.json has no entry for part {part.NAME!r} (neither its result nor "
                                     "a not_run note)")
        raw = results[part.NAME]
        out[part.NAME] = None if is_not_run(raw) else from_plain(part.Result, raw, part.NAME)
    return out


def render(results: dict[str, Any], out_dir: str | os.PathLike[str],
           parts: list[ModuleType] | None = None) -> dict[str, Path]:
    """Render the report of an in-memory results dict into ``out_dir`` (see :func:`write_report`)."""
    parts = registry.PARTS if parts is None else parts
    out = Path(out_dir)
    typed = read_parts(results, parts)
    view = not_run_as_none(results)
    if not view.get("questions"):
        view["questions"] = answer_questions(view)
    with stamped(figure_stamp(view.get("meta", {}))):
        blocks, pngs = build(view, typed, parts)
    written = {}
    for stem, data in pngs.items():
        with atomic_write(out / "figures" / f"{stem}.png") as fh:
            fh.write(data)
    with atomic_write(out / "report.html", "w") as fh:
        fh.write(to_html(blocks, pngs, view.get("meta", {}).get("title", "nidslab study")))
    written["html"] = out / "report.html"
    with atomic_write(out / "report.md", "w") as fh:
        fh.write(to_markdown(blocks, pngs))
    written["md"] = out / "report.md"
    written["figures"] = out / "figures"
    return written


# ----------------------------------------------------------------------------- content


def figure_stamp(meta: dict[str, Any]) -> str:
    """What every figure carries in its corner: the dataset's name, and "simulated" when it is."""
    source = meta.get("dataset_source") or {}
    name = source.get("name") or meta.get("dataset", "?")
    return f"{name} (simulated)" if source.get("simulated") else str(name)


def build(r: dict[str, Any], typed: dict[str, Any], parts: list[ModuleType]) -> tuple[list[Block], dict[str, bytes]]:
    """The report as a list of blocks in reading order, and its figures by stem. ``r``: results.json with
    the parts not run as None; ``typed``: each part's Result (None: not run)."""
    meta = r.get("meta", {})
    b: list[Block] = [("h1", meta.get("title", "nidslab study"))]
    quick = " on quick settings (a fraction of the data, fewer epochs, passes, folds and trials)" if meta.get("quick") else ""
    source = meta.get("dataset_source") or {}
    b.append(("p", f"Data: {source.get('description') or meta.get('dataset', '?')}"))
    if source.get("simulated"):
        b.append(("p", "Every number below was measured on this generated data, not on real network traffic; "
                       "run `nidslab lab --data kitsune-mirai` for the real Kitsune capture."))
    b.append(("p", f"Dataset {meta.get('dataset', '?')}{quick}. Study file: {meta.get('study_file', '?')}. "
                   f"Whole study: {fmt(meta.get('wall_s'), 's')}. Every number here is in results.json beside this file."))

    # Summary table of all experiments
    rows = [metrics_row(e["title"], e.get("part", ""), e) for e in (r.get("experiments") or {}).values()]
    if (r.get("search") or {}).get("final"):
        rows.append(metrics_row("best found (search)", "Part 19", r["search"]["final"]))
    tree = r.get("tree_baseline") or {}
    if tree:
        for label, part in (("LightGBM", tree), ("logistic regression", tree.get("linear"))):
            if part:
                t = part["test"]
                rows.append([label, "beyond the lab", "", "", fmt(part.get("train_seconds"), "s"), fmt(t.get("loss"), "num"),
                             fmt(t["accuracy"], "acc"), fmt(t["balanced_accuracy"], "acc"), fmt(t.get("roc_auc"), "acc")])
    b.append(("toc",))
    b.append(("h2", "Summary"))
    truth = label_truth_text(r)
    if truth:
        b.append(("p", truth))
    b += [("p", "The answers to the lab's 21 questions are at the end; the lab's findings, each beside the lab's "
                "own number, right after this table."),
          ("table", METRIC_HEADERS, rows),
          ("figure", "summary", "Test accuracy and balanced accuracy of every model; dashed: the naive (majority) "
                                "classifier's accuracy, on the accuracy bars.")]
    pngs: dict[str, bytes] = {}
    chart = summary(r)
    if chart is not None:
        pngs["summary"] = chart

    found = findings(r)
    if found:
        b.append(("h2", "The lab's findings, checked"))
        b.append(("p", "Each of the lab's findings with the lab's number as its text prints it, this run's number, "
                       "and a verdict computed from this run's numbers: a difference counts when it exceeds twice "
                       "the noise (the seed-to-seed sd where the pair was retrained with several seeds, else the "
                       "cross-validation sd; the row says which)."))
        b.append(("table", ["part", "the lab found", "the lab's number", "this run", "verdict", "evidence"],
                  [[f["part"], f["claim"], f["lab"], f["here"], f["verdict"], f["text"]] for f in found]))

    for part in parts:
        result = typed.get(part.NAME)
        if result is None:
            continue
        part_blocks, part_pngs = part.render(result, r)
        b += part_blocks
        pngs.update(part_pngs)
    b.append(("h2", "The lab's 21 questions"))
    for q in r.get("questions", []):
        b.append(("h3", f"Question {q['id']} ({q['part']}): {q['question']}"))
        b.append(("p", q["answer"]))
    b += _meta_blocks(meta)
    return b, pngs


def anchor(title: str) -> str:
    """A heading's link target, as GitHub writes it for markdown (lower case, spaces to dashes, no punctuation)."""
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")


def _toc(blocks: list[Block]) -> list[str]:
    return [b[1] for b in blocks if b[0] == "h2"]


def _meta_blocks(meta: dict[str, Any]) -> list[Block]:
    parts = meta.get("parts", {})
    if not parts:
        return []
    rows = [[name, fmt(p.get("seconds"), "s"), "cache" if p.get("cached") else "run"] for name, p in parts.items()]
    return [("h2", "How long each part took"),
            ("p", "Parts served from the cache of an earlier run show that run's time."),
            ("table", ["part", "time", "source"], rows)]


# ----------------------------------------------------------------------------- rendering

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em}p{overflow-wrap:anywhere}.scroll{overflow-x:auto;max-width:100%}
code{background:#f2f2f2;padding:0 .2em;border-radius:3px;font-size:.92em}nav ul{padding-left:1.2em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{margin-top:1.4em;font-size:1.05em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;
vertical-align:top}th{background:#f4f4f4}figure{margin:1em 0}figure img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}
"""


def to_html(blocks: Iterable[Block], pngs: dict[str, bytes], title: str) -> str:
    """One self-contained HTML page: CSS inline, figures as base64 PNG data URLs, no script, no link."""
    e = html.escape
    blocks = list(blocks)
    heads = _toc(blocks)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{e(title)}</title><style>{_CSS}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind == "h2":
            parts.append(f'<h2 id="{anchor(block[1])}">{_inline(block[1])}</h2>')
        elif kind in ("h1", "h3", "p"):
            parts.append(f"<{kind}>{_inline(block[1])}</{kind}>")
        elif kind == "toc":
            items = "".join(f'<li><a href="#{anchor(h)}">{_inline(h)}</a></li>' for h in heads)
            parts.append(f'<nav aria-label="Contents"><h2 id="contents">Contents</h2><ul>{items}</ul></nav>')
        elif kind == "table":
            _, headers, rows = block
            head = "".join(f"<th>{_inline(h)}</th>" for h in headers)
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in rows)
            parts.append(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')
        elif kind == "figure":
            _, stem, caption = block
            if stem in pngs:
                data = base64.b64encode(pngs[stem]).decode("ascii")
                parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{e(caption)}">'
                             f"<figcaption>{e(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _inline(text: Any) -> str:
    """``text`` escaped for HTML, with `inline code` in <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(text)))


def _cell(c: Any) -> str:
    return str(c).replace("|", "\\|")


def to_markdown(blocks: Iterable[Block], pngs: dict[str, bytes]) -> str:
    """The same report in markdown; figures link to ``figures/<stem>.png`` beside it."""
    out = []
    blocks = list(blocks)
    heads = _toc(blocks)
    for block in blocks:
        kind = block[0]
        if kind == "toc":
            out.append("## Contents\n\n" + "\n".join(f"- [{h}](#{anchor(h)})" for h in heads))
        elif kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + block[1])
        elif kind == "p":
            out.append(block[1])
        elif kind == "table":
            _, headers, rows = block
            out.append("| " + " | ".join(_cell(h) for h in headers) + " |")
            out[-1] += "\n|" + " --- |" * len(headers)
            for row in rows:
                out[-1] += "\n| " + " | ".join(_cell(c) for c in row) + " |"
        elif kind == "figure" and block[1] in pngs:
            out.append(f"![{block[2]}](figures/{block[1]}.png)")
    return "\n\n".join(out) + "\n"
