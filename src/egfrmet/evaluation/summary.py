"""One summary table for every way of scoring patients: pooled out-of-fold figures with
stratified bootstrap intervals (egfrmet.metrics).

Each method (a model selection, later a baseline) brings a table of patient scores
(`label` and one column per aggregate, probabilities in [0, 1]); each gives rows of
results/evaluation/summary.csv, one per (selection, aggregate). Intervals are percentile
intervals of a stratified bootstrap over patients: positives and negatives are resampled
separately, so every resample keeps the cohort's class counts (and an AUC).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from egfrmet import methods
from egfrmet.arguments import command, required
from egfrmet.io.files import write_csv, write_text
from egfrmet.metrics import brier, calibration_fit, percentile_interval, row_metrics, stratified_resamples

MARKS = ["prespecified", "optimistic", "shipped", "result", "note"]  # what a row is (mark)
COLUMNS = [
    "selection",
    "aggregate",
    "n_patients",
    "n_positive",
    "auc",
    "auc_low",
    "auc_high",
    "sensitivity",
    "sensitivity_low",
    "sensitivity_high",
    "specificity",
    "specificity_low",
    "specificity_high",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "brier",
    "calibration_intercept",
    "calibration_slope",
    "subset",
    "validation",
    "cohort",
    *MARKS,
]
INTERNAL = "internal out-of-fold"  # each patient scored by models that never trained on it
EXTERNAL = "external"  # a cohort scored by the locked, shipped model


def summary_row(labels, scores, *, threshold, resamples, level, seed):
    """Point estimates, stratified bootstrap intervals and the Brier score of one score column."""
    labels, scores = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    if labels.min() == labels.max():
        raise ValueError("a summary needs positive and negative patients")
    point = {name: float(values[0]) for name, values in row_metrics(labels[None], scores[None], threshold).items()}
    pick = stratified_resamples(labels, resamples, seed)
    boot = row_metrics(labels[pick], scores[pick], threshold)
    row = {"n_patients": len(labels), "n_positive": int(labels.sum())}
    for name in ("auc", "sensitivity", "specificity", "accuracy"):
        low, high = percentile_interval(boot[name], level)
        row |= {name: point[name], f"{name}_low": low, f"{name}_high": high}
    row["brier"] = brier(labels, scores)
    probabilities = scores.min() >= 0 and scores.max() <= 1
    row["calibration_intercept"], row["calibration_slope"] = (
        calibration_fit(labels, scores) if probabilities else (np.nan, np.nan)
    )
    return row


def summarise(
    scores, *, selection, aggregates, threshold, resamples, level, seed, subset="all", validation=INTERNAL, cohort=""
):
    """Summary rows of one method: `scores` has `label` and a column per aggregate.
    `subset` names the patients scored: all, or e.g. one held-out centre; `validation`
    whether they are the training cohort's out-of-fold scores or an external `cohort`'s."""
    rows = [
        {"selection": selection, "aggregate": aggregate}
        | summary_row(scores.label, scores[aggregate], threshold=threshold, resamples=resamples, level=level, seed=seed)
        | {"subset": subset, "validation": validation, "cohort": cohort}
        for aggregate in aggregates
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def mark(table, *, metric, shipped, predict_with):
    """Say what each row is. `prespecified`: the one figure each method was to be judged by
    before any result was seen (a network selection's `metric` aggregate, every other method's
    one row, every external row); the others are exploratory. `optimistic`: chosen by looking
    at the patients it is reported on. `shipped`: the method new patients get. `result`: the
    row to report, the leak-free figure of what ships (auto's own row when auto picked it)."""
    table = table.copy()
    network = table.selection.map(lambda name: methods.of_row(name).kind == methods.NETWORK)
    external = table.validation == EXTERNAL
    pooled = (table.subset == "all") & ~external
    picked = predict_with != shipped  # auto (or fusion's choice) shipped it for its figures
    table["prespecified"] = ~network | (table["aggregate"] == metric) | external
    table["shipped"] = (table.selection == shipped) & table.prespecified & (pooled | external)
    leaky = table.selection.map(lambda name: not methods.of_row(name).leak_free)
    table["optimistic"] = ~external & (leaky | (table.shipped & picked))
    result = predict_with if methods.of(predict_with).leak_free else shipped
    table["result"] = (external & table.shipped) | (pooled & (table.selection == result) & table.prespecified)
    table["note"] = [
        row_note(row, metric=metric, predict_with=predict_with, picked=picked) for row in table.itertuples()
    ]
    return table


def row_note(row, *, metric, predict_with, picked):
    notes = []
    if row.validation == EXTERNAL:
        notes.append("the locked model on patients it never saw")
    elif not methods.of_row(row.selection).leak_free:
        notes.append("optimistic: " + methods.of_row(row.selection).why_optimistic)
    elif row.shipped and picked:
        notes.append(
            f"optimistic as the shipped model's figure: {predict_with} picked it for it; "
            f"{predict_with}'s row is the leak-free one"
        )
    if not row.prespecified:
        notes.append(f"exploratory: evaluate.metric pre-specified the {metric} aggregate")
    if row.result and row.validation != EXTERNAL:
        notes.append("the result: the leak-free figure of what ships")
    return "; ".join(notes)


def summary_markdown(table, *, level):
    """summary.csv for people: the internal out-of-fold rows, then each external cohort's,
    each figure with its interval. The two kinds are never in one table."""
    parts = []
    for (validation, cohort), rows in table.groupby(["validation", "cohort"], sort=False, dropna=False):
        title = "Internal out-of-fold" if validation == INTERNAL else f"External cohort {cohort} (locked model)"
        parts.append(f"### {title}\n\n" + rows_markdown(rows, level))
    return "\n".join(parts) + LEGEND + repeats_markdown(table)


LEGEND = """
Row: **result** is the figure to report (the leak-free figure of the method new patients get);
shipped, the method they get; optimistic, chosen by looking at these patients (summary.csv's
note says how); pre-specified, each method's one figure fixed before any result was seen
(a network selection's evaluate.metric aggregate); exploratory, the other aggregates, one of
many looks at the same patients (docs/outputs.md, "What to report").
"""


def rows_markdown(table, level):
    subsets = set(table.subset) != {"all"}  # a column only when some rows are not pooled over all
    marked = table.reindex(columns=MARKS).prespecified.notna().all()  # mark's columns
    header = ["Selection", "Aggregate"] + (["Row"] if marked else []) + (["Patients"] if subsets else [])
    header += ["Patients (positive)"]
    header += [f"AUC ({level:.0%} CI)", "Sensitivity", "Specificity", "Accuracy", "Brier", "Calibration a / b"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples():
        cells = [row.selection, row.aggregate] + ([row_tags(row)] if marked else []) + ([row.subset] if subsets else [])
        cells.append(f"{row.n_patients} ({row.n_positive})")
        cells.append(f"{row.auc:.2f} ({row.auc_low:.2f}–{row.auc_high:.2f})")
        for name in ("sensitivity", "specificity", "accuracy"):
            value, low, high = (getattr(row, f"{name}{end}") for end in ("", "_low", "_high"))
            cells.append(f"{value:.1%} ({low:.1%}–{high:.1%})")
        cells.append("" if pd.isna(row.brier) else f"{row.brier:.3f}")
        a, b = row.calibration_intercept, row.calibration_slope
        cells.append("" if pd.isna(a) or pd.isna(b) else f"{a:.2f} / {b:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def row_tags(row):
    """The markdown's short word for what a row is (summary.csv's note says why)."""
    tags = ["**result**"] if row.result else []
    tags += ["shipped"] if row.shipped else []
    tags += ["optimistic"] if row.optimistic else []
    tags += ["pre-specified" if row.prespecified else "exploratory"]
    return ", ".join(tags)


def repeats_markdown(table):
    """With repeated cross-validation: each method's AUC over the repeats, mean ± SD."""
    repeats = table[table.subset.str.startswith("repeat ")]
    if repeats.empty:
        return ""
    lines = [
        "",
        f"AUC over {repeats.subset.nunique()} repeats of the cross-validation (mean ± SD of each repeat's pooled AUC):",
        "",
    ]
    for (selection, aggregate), part in repeats.groupby(["selection", "aggregate"], sort=False):
        lines.append(f"- {selection}, {aggregate}: {part.auc.mean():.3f} ± {part.auc.std(ddof=1):.3f}")
    return "\n".join(lines) + "\n"


def combined(cross_validation, external, bundle_figures):
    """summary.csv: the run's own out-of-fold rows (or, scoring with a bundle from elsewhere,
    the training run's rows its manifest carries), then every external cohort's rows."""
    parts = [cross_validation, bundle_figures, external]
    parts = [part.reindex(columns=COLUMNS) for part in parts if part is not None and len(part)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


@command(
    "summary.csv and .md: the cross-validation's out-of-fold rows and each external cohort's, side by side",
    (["--cross-validation"], {"nargs": "?", "default": "", "help": "evaluate's cross_validation.csv"}),
    (["--external"], {"nargs": "?", "default": "", "help": "egfrmet external's rows (.csv)"}),
    (["--bundle"], {"nargs": "?", "default": "", "help": "a bundle from another run: its training run's rows"}),
    (["--deployed"], {"nargs": "?", "default": "", "help": "deploy's method (.json), when auto or fusion ships"}),
    required("--predict-with", "train.predict_with"),
    required("--metric", "evaluate.metric: the network's pre-specified slice aggregate"),
    required("--level", "the intervals' level (evaluate.ci_level)", type=float),
    required("--out", "summary to write (.csv)"),
    required("--out-markdown", "summary to write (.md)"),
)
def run(*, cross_validation, external, bundle, deployed, predict_with, metric, level, out, out_markdown):
    """The `egfrmet summary` subcommand."""
    from egfrmet.inference.bundle import read_manifest

    figures = None
    if bundle:  # the training run's choices, not this run's config
        manifest = read_manifest(bundle)
        figures = pd.DataFrame(manifest["figures"]).drop(columns=MARKS, errors="ignore")
        chosen, network = manifest["method"], manifest["network"] or {}
        shipped = chosen["name"]
        predict_with = chosen.get("predict_with", shipped)  # 0.6.0's bundles do not say
        metric = chosen.get("metric", network.get("aggregate", metric))
    else:
        shipped = json.loads(Path(deployed).read_text(encoding="utf-8"))["method"] if deployed else predict_with
    table = combined(
        pd.read_csv(cross_validation, keep_default_na=False, na_values=[""]) if cross_validation else None,
        pd.read_csv(external, keep_default_na=False, na_values=[""]) if external else None,
        figures,
    )
    table["cohort"] = table["cohort"].fillna("")
    table = mark(table, metric=metric, shipped=shipped, predict_with=predict_with)
    write_csv(table, out)
    write_text(summary_markdown(table, level=level), out_markdown)
