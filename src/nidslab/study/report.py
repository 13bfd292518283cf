"""results.json -> report.html (one self-contained file, figures embedded as PNG) + report.md + figures/.

The report reads results.json only, so it can be rebuilt without retraining
(``nidslab lab report RUN_DIR``). Both documents come from one list of blocks, so they show the same
numbers, each written by :func:`nidslab.study.numbers.fmt` from a value in results.json.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nidslab.paths import atomic_write
from nidslab.study import figures as figs
from nidslab.study.numbers import fmt
from nidslab.study.questions import answer_questions, findings

# A block is a tuple: ("h1"|"h2"|"h3"|"p", text) | ("table", headers, rows) | ("figure", stem, caption)
Block = tuple


def write_report(results_json: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> dict[str, Path]:
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


def render(results: dict[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Render the report of an in-memory results dict into ``out_dir`` (see :func:`write_report`)."""
    out = Path(out_dir)
    if not results.get("questions"):
        results = {**results, "questions": answer_questions(results)}
    pngs = figs.all_figures(results)
    blocks = build_blocks(results)
    written = {}
    for stem, data in pngs.items():
        with atomic_write(out / "figures" / f"{stem}.png") as fh:
            fh.write(data)
    with atomic_write(out / "report.html", "w") as fh:
        fh.write(to_html(blocks, pngs, results.get("meta", {}).get("title", "nidslab study")))
    written["html"] = out / "report.html"
    with atomic_write(out / "report.md", "w") as fh:
        fh.write(to_markdown(blocks, pngs))
    written["md"] = out / "report.md"
    written["figures"] = out / "figures"
    return written


# ----------------------------------------------------------------------------- content


def _metrics_row(label: str, part: str, e: dict[str, Any]) -> list[str]:
    t = e["test"]
    s = e.get("settings", {})
    return [label, part, fmt(e.get("params"), "int"), fmt(s.get("epochs"), "int"), fmt(e.get("train_seconds"), "s"),
            fmt(t.get("loss"), "num"), fmt(t["accuracy"], "acc"), fmt(t["balanced_accuracy"], "acc"),
            fmt(t.get("roc_auc"), "acc")]


_METRIC_HEADERS = ["model", "part", "parameters", "epochs", "training time", "test loss", "accuracy",
                   "balanced accuracy", "ROC-AUC"]


def _class_weight_text(cw: Any) -> str:
    """None (or "none", as results.json files before FitConfig hold it), "balanced" or the two weights."""
    if isinstance(cw, dict):
        return ", ".join(f"{k}: {fmt(v, 'num')}" for k, v in cw.items())
    return cw or "none"


def _settings_text(s: dict[str, Any]) -> str:
    bits = [f"{s['n_layers']} x {s['n_nodes']} {s['activation']}", f"{s['optimizer']} lr {fmt(s['lr'], 'num')}",
            f"batch {fmt(s['batch_size'], 'int')}", f"{fmt(s['epochs'], 'int')} epochs",
            f"class weights: {_class_weight_text(s.get('class_weight'))}"]
    if s.get("batch_norm"):
        bits.append("batch normalisation")
    if s.get("dropout"):
        bits.append(f"dropout {fmt(s['dropout'], 'num')}")
    return ", ".join(bits)


def _confusion(e: dict[str, Any]) -> Block:
    (tn, fp), (fn, tp) = e["test"]["confusion_matrix"]
    return ("table", ["", "predicted benign", "predicted malicious"],
            [["benign", fmt(tn, "int"), fmt(fp, "int")], ["malicious", fmt(fn, "int"), fmt(tp, "int")]])


def _experiment_blocks(name: str, e: dict[str, Any], fig_stem: str) -> list[Block]:
    t = e["test"]
    blocks: list[Block] = [
        ("h3", f"{e.get('part', '')}: {e['title']}".strip(": ")),
        ("p", f"Settings: {_settings_text(e['settings'])}. {fmt(e['params'], 'int')} trainable parameters; trained in "
              f"{fmt(e['train_seconds'], 's')}. Test: loss {fmt(t.get('loss'), 'num')}, accuracy {fmt(t['accuracy'], 'acc')}, "
              f"balanced accuracy {fmt(t['balanced_accuracy'], 'acc')}, ROC-AUC {fmt(t.get('roc_auc'), 'acc')}; share "
              f"of test packets predicted malicious {fmt(t.get('positive_rate'), 'acc')}."),
        _confusion(e),
        ("figure", fig_stem, f"Loss and accuracy per epoch, training and validation ({name})."),
    ]
    return blocks


def build_blocks(r: dict[str, Any]) -> list[Block]:
    """The report as a list of blocks, in reading order."""
    meta = r.get("meta", {})
    b: list[Block] = [("h1", meta.get("title", "nidslab study"))]
    quick = " on quick settings (a fraction of the data, fewer epochs, passes, folds and trials)" if meta.get("quick") else ""
    b.append(("p", f"Dataset {meta.get('dataset', '?')}{quick}. Study file: {meta.get('study_file', '?')}. "
                   f"Whole study: {fmt(meta.get('wall_s'), 's')}. Every number here is in results.json beside this file."))

    # Summary table of all experiments
    rows = [_metrics_row(e["title"], e.get("part", ""), e) for e in r.get("experiments", {}).values()]
    if (r.get("search") or {}).get("final"):
        rows.append(_metrics_row("best found (search)", "Part 19", r["search"]["final"]))
    tree = r.get("tree_baseline") or {}
    if tree:
        for label, part in (("LightGBM", tree), ("logistic regression", tree.get("linear"))):
            if part:
                t = part["test"]
                rows.append([label, "beyond the lab", "", "", fmt(part.get("train_seconds"), "s"), fmt(t.get("loss"), "num"),
                             fmt(t["accuracy"], "acc"), fmt(t["balanced_accuracy"], "acc"), fmt(t.get("roc_auc"), "acc")])
    b += [("h2", "Summary"), ("table", _METRIC_HEADERS, rows),
          ("figure", "summary", "Test accuracy and balanced accuracy of every model; dashed: the naive classifier.")]

    found = findings(r)
    if found:
        b.append(("h2", "The lab's findings, checked"))
        b.append(("table", ["the lab found", "here", "measured"],
                  [[f["claim"], "holds" if f["holds"] else "does not hold", f["text"]] for f in found]))

    b += _hardware_blocks(r.get("hardware"))
    b += _data_blocks(r.get("data"))
    if r.get("experiments"):
        b.append(("h2", "Parts 10-18: the lab's networks"))
        for name, e in r["experiments"].items():
            b += _experiment_blocks(name, e, f"curves_{name}")
    b += _timing_blocks(r.get("batch_size_timing"))
    b += _search_blocks(r.get("search"))
    b += _mc_blocks(r.get("mc_dropout"))
    b += _cv_blocks(r.get("cross_validation"))
    b += _regression_blocks(r.get("regression"))
    b += _tree_blocks(tree)
    b += _kitnet_blocks(r.get("kitnet"), r)
    b.append(("h2", "The lab's 21 questions"))
    for q in r.get("questions", []):
        b.append(("h3", f"Question {q['id']} ({q['part']}): {q['question']}"))
        b.append(("p", q["answer"]))
    b += _meta_blocks(meta)
    return b


def _hardware_blocks(h: dict | None) -> list[Block]:
    if not h:
        return []
    cpu = h["cpu"]
    rows = [["CPU", cpu["model"]], ["logical cores", fmt(cpu["logical_cores"], "int")],
            ["physical cores", fmt(cpu.get("physical_cores"), "int")],
            ["cores usable by this process", fmt(cpu["usable_cores"], "int")],
            ["memory", fmt(h.get("memory_bytes"), "gib")], ["torch threads", fmt(h.get("torch_threads"), "int")]]
    g = h.get("gpu")
    if g:
        rows += [["GPU", g["name"]], ["GPU memory", fmt(g["memory_bytes"], "gib")],
                 ["streaming multiprocessors", fmt(g["sm_count"], "int")],
                 ["CUDA cores", fmt(g.get("cuda_cores"), "int")],
                 ["compute capability", g["compute_capability"]]]
    else:
        rows.append(["GPU", "none (CUDA not available): everything ran on the CPU"])
    return [("h2", "Part 3: hardware"), ("table", ["", "this machine"], rows)]


def _data_blocks(d: dict | None) -> list[Block]:
    if not d:
        return []
    rc = d["random_chance"]
    st = d["standardization"]
    cw = d.get("class_weight") or {}
    rows = [["rows", fmt(d["rows"], "int")], ["features used", f"{fmt(d['n_features'], 'int')} ({d['features']})"],
            ["benign / malicious", f"{fmt(d['class_counts']['benign'], 'int')} / {fmt(d['class_counts']['malicious'], 'int')}"],
            ["NaN in features / labels", f"{fmt(d['nan_features'], 'int')} / {fmt(d['nan_labels'], 'int')}"],
            ["naive (majority) accuracy", fmt(d["naive_accuracy"], "acc")],
            ["random guess with the class prior", f"{fmt(rc['prior']['mean'], 'acc')} (sd {fmt(rc['prior']['sd'], 'num')})"],
            ["random guess 50/50", f"{fmt(rc['uniform']['mean'], 'acc')} (sd {fmt(rc['uniform']['sd'], 'num')})"],
            ["split train / validation / test",
             f"{fmt(d['split']['train'], 'int')} / {fmt(d['split']['validation'], 'int')} / {fmt(d['split']['test'], 'int')} ({d['split']['kind']})"],
            ["naive accuracy on the test split", fmt(d["test_naive_accuracy"], "acc")],
            ["after standardising: largest |mean|", fmt(st["max_abs_mean"], "num")],
            ["after standardising: largest |std - 1|", fmt(st["max_abs_std_minus_1"], "num")]]
    if cw:
        rows.append(["balanced class weights (benign, malicious)", f"{fmt(cw['benign'], 'num')}, {fmt(cw['malicious'], 'num')}"])
    return [("h2", "Parts 4-8: the data"),
            ("p", f"Random chance is estimated by Monte Carlo over {fmt(rc['draws'], 'int')} draws of random labels "
                  "(see nidslab data describe). The standardiser is fitted on the training split only; the check is on that split."),
            ("table", ["", "value"], rows)]


def _timing_blocks(t: dict | None) -> list[Block]:
    if not t:
        return []
    how = (f"timed on {fmt(t['timed_rows'], 'int')} of the {fmt(t['train_rows'], 'int')} training rows and scaled to a "
           "full epoch" if t.get("scaled") else f"a full epoch of {fmt(t['train_rows'], 'int')} training rows")
    rows = [[fmt(x["batch_size"], "int"), fmt(x["seconds_per_epoch"], "s"), fmt(x["updates_per_epoch"], "int"),
             fmt(x["peak_memory_bytes"], "mib"), fmt(x["val_accuracy"], "acc")] for x in t["rows"]]
    mem = "GPU memory allocated by torch" if t["rows"][0]["memory_kind"] == "gpu" else "growth of the process's resident memory"
    return [("h2", "Part 13: batch size"),
            ("p", f"One training epoch of {t['experiment']} from fresh weights at each batch size, lr fixed ({how}), "
                  f"on {t['device']}. Peak memory: {mem}. Validation accuracy after that one epoch."),
            ("table", ["batch size", "seconds per epoch", "weight updates per epoch", "peak memory",
                       "validation accuracy after 1 epoch"], rows),
            ("figure", "batch_size_timing", "Seconds and weight updates per epoch against batch size.")]


def _search_blocks(s: dict | None) -> list[Block]:
    if not s:
        return []
    best = s["best"]["params"]
    b: list[Block] = [
        ("h2", "Part 19: the best configuration (search)"),
        ("p", f"Optuna TPE sampler, seed {s['seed']}: {fmt(s['trials_run'], 'int')} trials (budget "
              f"{fmt(s['trials_budget'], 'int')} trials or {fmt(s['timeout_s'], 's')}) in {fmt(s['wall_s'], 's')}. Each trial "
              f"trained for {fmt(s['epochs'], 'int')} epochs on {fmt(s['train_rows'], 'int')} training rows and was scored "
              f"by its {s['objective']}. Space: {json.dumps(s['space'])}."),
        ("table", ["setting", "chosen"], [[k, str(v)] for k, v in best.items()]),
        ("figure", "search_trials", "Validation score of each trial, and the best so far."),
    ]
    if s.get("final"):
        b += _experiment_blocks("search_final", s["final"], "curves_search_final")
    if s.get("depth_timing"):
        b.append(("h3", "Training time against depth"))
        b.append(("table", ["hidden layers", "nodes", "parameters", "seconds per epoch"],
                  [[fmt(d["n_layers"], "int"), fmt(d["n_nodes"], "int"), fmt(d["params"], "int"),
                    fmt(d["seconds_per_epoch"], "s")] for d in s["depth_timing"]]))
        d0 = s["depth_timing"][0]
        if d0.get("timed_rows") and d0["timed_rows"] < d0.get("train_rows", 0):
            b.append(("p", f"Each depth was timed for one epoch on {fmt(d0['timed_rows'], 'int')} of the "
                           f"{fmt(d0['train_rows'], 'int')} training rows and scaled to a full epoch."))
        b.append(("figure", "depth_timing", "Seconds per training epoch against the number of hidden layers."))
    return b


def _mc_blocks(m: dict | None) -> list[Block]:
    if not m:
        return []
    u = m["per_packet_sd"]
    return [("h2", "Part 20: Monte Carlo dropout"),
            ("p", f"Model: {m['description']}; dropout {fmt(m['dropout'], 'num')} ({m['dropout_source']}), kept on at test "
                  f"time. The test set ({fmt(m['test_rows'], 'int')} packets) through it {fmt(m['passes'], 'int')} times "
                  f"in {fmt(m['passes_seconds'], 's')}: accuracy mean {fmt(m['accuracy']['mean'], 'acc')}, sd "
                  f"{fmt(m['accuracy']['sd'], 'num')} (min {fmt(m['accuracy']['min'], 'acc')}, max "
                  f"{fmt(m['accuracy']['max'], 'acc')}); with dropout off {fmt(m['deterministic_accuracy'], 'acc')}. "
                  f"Per packet, the sd of the predicted probability over passes: mean {fmt(u['mean'], 'num')}, median "
                  f"{fmt(u['median'], 'num')}, 95th percentile {fmt(u['p95'], 'num')}; mean sd on packets the "
                  f"averaged prediction gets right {fmt(u['mean_correct'], 'num')}, wrong {fmt(u['mean_wrong'], 'num')}."),
            ("figure", "mc_dropout", "Left: test accuracy of each pass. Right: per-packet predictive uncertainty.")]


def _cv_blocks(c: dict | None) -> list[Block]:
    if not c:
        return []
    a = c["accuracy"]
    return [("h2", "Part 21: cross-validation"),
            ("p", f"{fmt(c['folds'], 'int')}-fold stratified cross-validation (shuffled, random_state {c['seed']}) of "
                  f"{c['experiment']}, class weights computed per fold, standardiser fitted per fold, in "
                  f"{fmt(c['seconds'], 's')}: test accuracy mean {fmt(a['mean'], 'acc')}, sd {fmt(a['sd'], 'num')} "
                  f"(balanced accuracy mean {fmt(c['balanced_accuracy']['mean'], 'acc')}, sd "
                  f"{fmt(c['balanced_accuracy']['sd'], 'num')}). sd as the lab's np.std (population)."),
            ("table", ["fold", "accuracy", "balanced accuracy"],
             [[str(i + 1), fmt(x, "acc"), fmt(y, "acc")]
              for i, (x, y) in enumerate(zip(a["per_fold"], c["balanced_accuracy"]["per_fold"], strict=True))]),
            ("figure", "cross_validation", "Test accuracy per fold; line and band: mean and +-1 sd.")]


def _regression_blocks(g: dict | None) -> list[Block]:
    if not g:
        return []
    t, base = g["test"], g["mean_baseline"]
    return [("h2", "Part 22: regression head"),
            ("p", f"Target: {g['target']}, {g['target_meaning']} ({g['units']}). {g['why']} Inputs: the other "
                  f"{fmt(g['n_inputs'], 'int')} features (left out besides the target: {', '.join(g['excluded']) or 'none'}). "
                  f"Network: {_settings_text(g['settings'])}, linear output, mean squared error on the standardised target."),
            ("table", ["", "MAE", "RMSE", "R^2"],
             [["network", fmt(t["mae"], "num"), fmt(t["rmse"], "num"), fmt(t["r2"], "num")],
              ["predict the training mean", fmt(base["mae"], "num"), fmt(base["rmse"], "num"), fmt(base["r2"], "num")]]),
            ("figure", "regression", "Predicted against true target on a sample of test packets.")]


def _tree_blocks(t: dict | None) -> list[Block]:
    if not t:
        return []
    x = t["test"]
    lin = t.get("linear")
    text = (f"LightGBM ({t['settings']['n_estimators']} trees, {t['settings']['num_leaves']} leaves, learning rate "
            f"{t['settings']['learning_rate']}, balanced class weights) trained on {fmt(t['train_rows'], 'int')} rows of the "
            f"same training split in {fmt(t['train_seconds'], 's')}: test accuracy {fmt(x['accuracy'], 'acc')}, balanced "
            f"{fmt(x['balanced_accuracy'], 'acc')}, ROC-AUC {fmt(x.get('roc_auc'), 'acc')}. Best network "
            f"({t['best_dnn']['title']}): accuracy {fmt(t['best_dnn']['accuracy'], 'acc')}, balanced "
            f"{fmt(t['best_dnn']['balanced_accuracy'], 'acc')}. Gap (tree minus network): accuracy "
            f"{fmt(t['gap']['accuracy'], 'num')}, balanced accuracy {fmt(t['gap']['balanced_accuracy'], 'num')}.")
    if lin:
        text += (f" Logistic regression (what a network without activations can represent): accuracy "
                 f"{fmt(lin['test']['accuracy'], 'acc')}, balanced {fmt(lin['test']['balanced_accuracy'], 'acc')}.")
    return [("h2", "Beyond the lab: a tree model on the same split"), ("p", text), _confusion(t)]


def _kitnet_blocks(k: dict | None, r: dict[str, Any]) -> list[Block]:
    if not k:
        return []
    s = k["settings"]
    head = [("h2", "Beyond the lab: KitNET, unsupervised, on the benign prefix")]
    if k.get("skipped"):
        return head + [("p", f"Not measured: {k['skipped']}.")]
    fpr = fmt(s["target_fpr"], "num")
    text = (f"KitNET (Kitsune's own detector: {k['autoencoders']} autoencoders of at most {s['max_ae']} features over "
            f"{k['n_features']} features) learned from the first {fmt(k['grace_rows'], 'int')} rows of the capture in "
            f"time order (feature map {fmt(s['fm_grace'], 'int')}, training {fmt(s['ad_grace'], 'int')}), all before "
            f"the first malicious row ({fmt(k['onset'], 'int')}); it never saw a label. The next "
            f"{fmt(k['calibration_rows'], 'int')} benign rows set its thresholds; the other "
            f"{fmt(k['evaluation_rows'], 'int')} rows are scored: ROC-AUC {fmt(k['roc_auc'], 'acc')}. The networks "
            f"and LightGBM answer a different question (labelled rows of both classes, a stratified test split): "
            f"their test ROC-AUC is beside it for scale, not as a like-for-like contest.")
    rows = []
    for name, label in (("target_fpr", f"empirical quantile, FPR {fpr}"), ("lognormal", f"log-normal fit, p {fpr}")):
        a = k["alerts"][name]
        rows.append([label, fmt(a["threshold"], "num"), fmt(a["tpr"], "acc"), fmt(a["fpr"], "acc"),
                     fmt(a["false_alerts_before_onset"], "int"), fmt(a["delay_packets"], "int")])
    blocks = head + [("p", text),
                     ("table", ["threshold (from benign rows)", "RMSE", "TPR", "FPR", "false alerts before onset",
                                "delay after onset (packets)"], rows)]
    compare = [["KitNET", "benign prefix, no labels", fmt(k["roc_auc"], "acc"),
                fmt(k["train_packets_per_s"], "num"), fmt(k["score_packets_per_s"], "num")]]
    exps = r.get("experiments") or {}
    if exps:
        name = max(exps, key=lambda n: exps[n]["test"].get("roc_auc") or 0.0)
        compare.append([f"network: {exps[name]['title']}", "labelled, stratified split",
                        fmt(exps[name]["test"].get("roc_auc"), "acc"), "", ""])
    if (r.get("tree_baseline") or {}).get("test"):
        compare.append(["LightGBM", "labelled, stratified split",
                        fmt(r["tree_baseline"]["test"].get("roc_auc"), "acc"), "", ""])
    blocks.append(("table", ["model", "trained on", "ROC-AUC", "train packets/s", "score packets/s"], compare))
    if "truth" in k:
        t = k["truth"]["alerts"]["target_fpr"]
        blocks.append(("p", f"With the simulation's per-packet truth in place of the time-cut labels (background "
                            f"traffic after the onset counts as benign): ROC-AUC {fmt(k['truth']['roc_auc'], 'acc')}, "
                            f"TPR {fmt(t['tpr'], 'acc')} and FPR {fmt(t['fpr'], 'acc')} at the empirical threshold: "
                            f"KitNET also flags benign packets whose statistics the attack traffic changed."))
    return blocks


def _meta_blocks(meta: dict) -> list[Block]:
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
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{margin-top:1.4em;font-size:1.05em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;
vertical-align:top}th{background:#f4f4f4}figure{margin:1em 0}figure img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}
"""


def to_html(blocks: Iterable[Block], pngs: dict[str, bytes], title: str) -> str:
    """One self-contained HTML page: CSS inline, figures as base64 PNG data URLs, no script, no link."""
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{e(title)}</title><style>{_CSS}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3", "p"):
            parts.append(f"<{kind}>{e(block[1])}</{kind}>")
        elif kind == "table":
            _, headers, rows = block
            head = "".join(f"<th>{e(h)}</th>" for h in headers)
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "figure":
            _, stem, caption = block
            if stem in pngs:
                data = base64.b64encode(pngs[stem]).decode("ascii")
                parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{e(caption)}">'
                             f"<figcaption>{e(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def to_markdown(blocks: Iterable[Block], pngs: dict[str, bytes]) -> str:
    """The same report in markdown; figures link to ``figures/<stem>.png`` beside it."""
    out = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + block[1])
        elif kind == "p":
            out.append(block[1])
        elif kind == "table":
            _, headers, rows = block
            cell = lambda c: str(c).replace("|", "\\|")  # noqa: E731
            out.append("| " + " | ".join(cell(h) for h in headers) + " |")
            out[-1] += "\n|" + " --- |" * len(headers)
            for row in rows:
                out[-1] += "\n| " + " | ".join(cell(c) for c in row) + " |"
        elif kind == "figure" and block[1] in pngs:
            out.append(f"![{block[2]}](figures/{block[1]}.png)")
    return "\n\n".join(out) + "\n"
