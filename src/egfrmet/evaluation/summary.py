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

from egfrmet.metrics import brier, percentile_interval, row_metrics, stratified_resamples

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
    "subset",
]


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
    return row


def summarise(scores, *, selection, aggregates, threshold, resamples, level, seed, subset="all"):
    """Summary rows of one method: `scores` has `label` and a column per aggregate.
    `subset` names the patients scored: all, or e.g. one held-out centre."""
    rows = [
        {"selection": selection, "aggregate": aggregate}
        | summary_row(scores.label, scores[aggregate], threshold=threshold, resamples=resamples, level=level, seed=seed)
        | {"subset": subset}
        for aggregate in aggregates
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def summary_markdown(table, *, level):
    """summary.csv for people: each figure with its interval."""
    subsets = set(table.subset) != {"all"}  # a column only when some rows are not pooled over all
    header = ["Selection", "Aggregate"] + (["Patients"] if subsets else []) + ["Patients (positive)"]
    header += [f"AUC ({level:.0%} CI)", "Sensitivity", "Specificity", "Accuracy", "Brier"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples():
        cells = [row.selection, row.aggregate] + ([row.subset] if subsets else [])
        cells.append(f"{row.n_patients} ({row.n_positive})")
        cells.append(f"{row.auc:.2f} ({row.auc_low:.2f}–{row.auc_high:.2f})")
        for name in ("sensitivity", "specificity", "accuracy"):
            value, low, high = (getattr(row, f"{name}{end}") for end in ("", "_low", "_high"))
            cells.append(f"{value:.1%} ({low:.1%}–{high:.1%})")
        cells.append("" if pd.isna(row.brier) else f"{row.brier:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n" + repeats_markdown(table)


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
