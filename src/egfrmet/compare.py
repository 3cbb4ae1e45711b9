"""Paired comparison of two scores of the same patients: the AUC difference with a paired
stratified bootstrap interval (both scores resampled with the same patients, positives and
negatives apart, as in egfrmet.summary) and DeLong's test for correlated ROC curves (DeLong,
DeLong & Clarke-Pearson 1988, in the fast form of Sun & Xu 2014)."""

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from egfrmet.summary import auc_rows, percentile_interval, stratified_resamples

COLUMNS = [
    "network",
    "baseline",
    "aggregate",
    "n_patients",
    "n_positive",
    "auc_network",
    "auc_baseline",
    "auc_difference",
    "difference_low",
    "difference_high",
    "delong_p",
]


def delong(labels, first, second):
    """AUCs of two scores of the same patients and DeLong's two-sided p-value for their
    difference (1.0 when the difference has no variance, e.g. identical rankings)."""
    labels = np.asarray(labels, dtype=int)
    scores = np.stack([np.asarray(first, dtype=float), np.asarray(second, dtype=float)])
    positives, negatives = scores[:, labels == 1], scores[:, labels == 0]
    m, n = positives.shape[1], negatives.shape[1]
    both = rankdata(np.concatenate([positives, negatives], axis=1), axis=1)
    within_positives, within_negatives = rankdata(positives, axis=1), rankdata(negatives, axis=1)
    aucs = (both[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v_positive = (both[:, :m] - within_positives) / n  # each positive's share of the AUC
    v_negative = 1 - (both[:, m:] - within_negatives) / m
    covariance = np.cov(v_positive) / m + np.cov(v_negative) / n
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    difference = aucs[0] - aucs[1]
    if variance <= 1e-15:
        return float(aucs[0]), float(aucs[1]), 1.0
    return float(aucs[0]), float(aucs[1]), float(2 * norm.sf(abs(difference) / np.sqrt(variance)))


def paired_bootstrap(labels, first, second, *, resamples, level, seed):
    """Interval of AUC(first) - AUC(second), both on the same stratified resamples."""
    labels = np.asarray(labels, dtype=int)
    pick = stratified_resamples(labels, resamples, seed)
    picked = labels[pick]
    difference = auc_rows(picked, np.asarray(first, float)[pick]) - auc_rows(picked, np.asarray(second, float)[pick])
    return percentile_interval(difference, level)


def compare(network, baseline, *, resamples, level, seed):
    """One row: `network` and `baseline` are (label, score) series indexed by patient_id;
    only patients both scored count."""
    both = network.add_suffix("_network").join(baseline.add_suffix("_baseline"), how="inner")
    labels = both.label_network.to_numpy()
    first, second = both.score_network.to_numpy(), both.score_baseline.to_numpy()
    auc_first, auc_second, p = delong(labels, first, second)
    low, high = paired_bootstrap(labels, first, second, resamples=resamples, level=level, seed=seed)
    return {
        "n_patients": len(both),
        "n_positive": int(labels.sum()),
        "auc_network": auc_first,
        "auc_baseline": auc_second,
        "auc_difference": auc_first - auc_second,
        "difference_low": low,
        "difference_high": high,
        "delong_p": p,
    }


def comparison_table(scores, *, networks, baselines, aggregate, bootstrap):
    """Every network selection (its `aggregate` of slices) against every baseline (one score
    per patient, column `patient`): `scores` maps each method to its patient scores."""
    rows = []
    for network in networks:
        first = scores[network].set_index("patient_id")[["label", aggregate]].rename(columns={aggregate: "score"})
        for baseline in baselines:
            second = scores[baseline].set_index("patient_id")[["label", "patient"]].rename(columns={"patient": "score"})
            row = {"network": network, "baseline": baseline, "aggregate": aggregate}
            rows.append(row | compare(first, second, **bootstrap))
    return pd.DataFrame(rows, columns=COLUMNS)


def comparison_markdown(table, *, level):
    if table.empty:
        return "No baselines ran (`baselines.methods: []`).\n"
    header = ["Network (selection)", "Baseline", "Patients (positive)", "AUC network", "AUC baseline"]
    header += [f"Difference ({level:.0%} CI, paired bootstrap)", "DeLong p"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples():
        cells = [f"{row.network} ({row.aggregate})", row.baseline, f"{row.n_patients} ({row.n_positive})"]
        cells += [f"{row.auc_network:.2f}", f"{row.auc_baseline:.2f}"]
        cells.append(f"{row.auc_difference:+.2f} ({row.difference_low:+.2f} to {row.difference_high:+.2f})")
        cells.append(f"{row.delong_p:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
