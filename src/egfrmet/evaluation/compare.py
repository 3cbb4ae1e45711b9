"""Paired comparison of two scores of the same patients: the AUC difference with a paired
stratified bootstrap interval (both scores resampled with the same patients, positives and
negatives apart, as in egfrmet.evaluation.summary) and DeLong's test for correlated ROC curves (DeLong,
DeLong & Clarke-Pearson 1988, in the fast form of Sun & Xu 2014)."""

import numpy as np
import pandas as pd

from egfrmet.metrics import auc_rows, delong, percentile_interval, stratified_resamples

COLUMNS = [
    "method",
    "reference",
    "aggregate",
    "n_patients",
    "n_positive",
    "auc_method",
    "auc_reference",
    "auc_difference",
    "difference_low",
    "difference_high",
    "delong_p",
]


def paired_bootstrap(labels, first, second, *, resamples, level, seed):
    """Interval of AUC(first) - AUC(second), both on the same stratified resamples."""
    labels = np.asarray(labels, dtype=int)
    pick = stratified_resamples(labels, resamples, seed)
    picked = labels[pick]
    difference = auc_rows(picked, np.asarray(first, float)[pick]) - auc_rows(picked, np.asarray(second, float)[pick])
    return percentile_interval(difference, level)


def compare(first, second, *, resamples, level, seed):
    """One row: `first` and `second` are (label, score) frames indexed by patient_id; only
    patients both scored count."""
    both = first.add_suffix("_first").join(second.add_suffix("_second"), how="inner")
    labels = both.label_first.to_numpy()
    one, other = both.score_first.to_numpy(), both.score_second.to_numpy()
    auc_first, auc_second, p = delong(labels, one, other)
    low, high = paired_bootstrap(labels, one, other, resamples=resamples, level=level, seed=seed)
    return {
        "n_patients": len(both),
        "n_positive": int(labels.sum()),
        "auc_method": auc_first,
        "auc_reference": auc_second,
        "auc_difference": auc_first - auc_second,
        "difference_low": low,
        "difference_high": high,
        "delong_p": p,
    }


def score_of(scores, aggregate):
    """(label, score) by patient: a network's `aggregate` of slices, or a one-score method's
    `patient` column."""
    column = aggregate if aggregate in scores else "patient"
    return scores.set_index("patient_id")[["label", column]].rename(columns={column: "score"})


def comparison_table(scores, *, pairs, aggregate, bootstrap):
    """Each (method, reference) of `pairs` on their shared out-of-fold patients: `scores`
    maps each method to its patient scores."""
    rows = []
    for method, reference in pairs:
        row = {"method": method, "reference": reference, "aggregate": aggregate}
        rows.append(
            row | compare(score_of(scores[method], aggregate), score_of(scores[reference], aggregate), **bootstrap)
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def comparison_pairs(networks, baselines, fused=()):
    """Every network selection against every baseline, then each method made from the others
    (egfrmet.baselines.fusion's fusion and auto, in that order) against every network selection and
    baseline, and auto against fusion."""
    pairs = [(network, baseline) for network in networks for baseline in baselines]
    pairs += [(method, other) for method in fused for other in (*networks, *baselines)]
    return pairs + ([("auto", "fusion")] if {"auto", "fusion"} <= set(fused) else [])


def comparison_markdown(table, *, level):
    if table.empty:
        return "No baselines ran (`baselines.methods: []`).\n"
    header = ["Method", "Against", "Patients (positive)", "AUC method", "AUC against"]
    header += [f"Difference ({level:.0%} CI, paired bootstrap)", "DeLong p"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples():
        cells = [row.method, row.reference, f"{row.n_patients} ({row.n_positive})"]
        cells += [f"{row.auc_method:.2f}", f"{row.auc_reference:.2f}"]
        cells.append(f"{row.auc_difference:+.2f} ({row.difference_low:+.2f} to {row.difference_high:+.2f})")
        cells.append(f"{row.delong_p:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    note = (
        f"\nNetwork selections score a patient by the {table['aggregate'].iloc[0]} of its slices (its instances: "
        "model.family); the other methods give one probability per patient. A positive difference favours the "
        "method.\n"
    )
    return "\n".join(lines) + "\n" + note
