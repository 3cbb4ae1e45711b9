"""One summary table for every way of scoring patients: pooled out-of-fold figures with
stratified bootstrap intervals (egfrmet.metrics).

Each method (a model selection, later a baseline) brings a table of patient scores
(`label` and one column per aggregate, probabilities in [0, 1]); each gives rows of
results/evaluation/summary.csv, one per (selection, aggregate). Intervals are percentile
intervals of a stratified bootstrap over patients: positives and negatives are resampled
separately, so every resample keeps the cohort's class counts (and an AUC).
"""

import numpy as np
import pandas as pd

from egfrmet.arguments import command, required
from egfrmet.io.files import write_csv, write_text
from egfrmet.metrics import brier, calibration_fit, percentile_interval, row_metrics, stratified_resamples

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


def summary_markdown(table, *, level):
    """summary.csv for people: the internal out-of-fold rows, then each external cohort's,
    each figure with its interval. The two kinds are never in one table."""
    parts = []
    for (validation, cohort), rows in table.groupby(["validation", "cohort"], sort=False, dropna=False):
        title = "Internal out-of-fold" if validation == INTERNAL else f"External cohort {cohort} (locked model)"
        parts.append(f"### {title}\n\n" + rows_markdown(rows, level))
    return "\n".join(parts) + repeats_markdown(table)


def rows_markdown(table, level):
    subsets = set(table.subset) != {"all"}  # a column only when some rows are not pooled over all
    header = ["Selection", "Aggregate"] + (["Patients"] if subsets else []) + ["Patients (positive)"]
    header += [f"AUC ({level:.0%} CI)", "Sensitivity", "Specificity", "Accuracy", "Brier", "Calibration a / b"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples():
        cells = [row.selection, row.aggregate] + ([row.subset] if subsets else [])
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
    required("--level", "the intervals' level (evaluate.ci_level)", type=float),
    required("--out", "summary to write (.csv)"),
    required("--out-markdown", "summary to write (.md)"),
)
def run(*, cross_validation, external, bundle, level, out, out_markdown):
    """The `egfrmet summary` subcommand."""
    from egfrmet.inference.bundle import read_manifest

    figures = pd.DataFrame(read_manifest(bundle)["figures"]) if bundle else None
    table = combined(
        pd.read_csv(cross_validation, keep_default_na=False, na_values=[""]) if cross_validation else None,
        pd.read_csv(external, keep_default_na=False, na_values=[""]) if external else None,
        figures,
    )
    table["cohort"] = table["cohort"].fillna("")
    write_csv(table, out)
    write_text(summary_markdown(table, level=level), out_markdown)
