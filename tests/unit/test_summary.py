"""The summary table: stratified bootstrap intervals that cover the truth, exact point figures."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from egfrmet import metrics
from egfrmet.evaluation import summary

SETTINGS = {"threshold": 0.5, "resamples": 2000, "level": 0.95, "seed": 0}


def binormal(n_positive, n_negative, separation, rng):
    """Labels and probabilities whose population AUC is Phi(separation / sqrt 2)."""
    labels = np.r_[np.ones(n_positive, int), np.zeros(n_negative, int)]
    logits = rng.normal(size=len(labels)) + separation * labels - separation / 2
    return labels, 1 / (1 + np.exp(-logits))


def test_point_figures_match_sklearn_and_hand_counts():
    labels = np.array([1, 1, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.6, 0.4, 0.6, 0.3, 0.2, 0.55])  # a tie across classes at 0.6
    row = summary.summary_row(labels, scores, **SETTINGS)
    assert row["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert (row["sensitivity"], row["specificity"]) == (pytest.approx(2 / 3), pytest.approx(2 / 4))
    assert row["accuracy"] == pytest.approx(4 / 7)
    assert row["brier"] == pytest.approx(np.mean((scores - labels) ** 2))
    assert (row["n_patients"], row["n_positive"]) == (7, 3)
    for name in ("auc", "sensitivity", "specificity", "accuracy"):
        assert row[f"{name}_low"] <= row[name] <= row[f"{name}_high"]


def test_resamples_keep_the_class_counts():
    labels = np.array([1, 0, 0, 1, 0, 0, 0, 1])
    pick = metrics.stratified_resamples(labels, 500, seed=3)
    assert pick.shape == (500, 8)
    assert (labels[pick].sum(axis=1) == 3).all()


def test_auc_interval_covers_the_truth_in_about_95_of_200_simulations():
    separation = 1.2
    truth = norm.cdf(separation / np.sqrt(2))
    covered = 0
    for seed in range(200):
        labels, scores = binormal(20, 40, separation, np.random.default_rng(seed))
        row = summary.summary_row(labels, scores, **(SETTINGS | {"seed": seed}))
        covered += row["auc_low"] <= truth <= row["auc_high"]
    assert 180 <= covered <= 196, covered  # 90-98 %


def test_intervals_narrow_as_patients_grow():
    """About as 1 / sqrt(n): 4 times the patients, half the width (mean over 5 cohorts each)."""
    widths = []
    for n in (30, 120, 480):
        rows = [
            summary.summary_row(*binormal(n // 3, n - n // 3, 1.2, np.random.default_rng(seed)), **SETTINGS)
            for seed in range(5)
        ]
        widths.append(np.mean([row["auc_high"] - row["auc_low"] for row in rows]))
    assert widths[0] > 1.6 * widths[1] > 2.56 * widths[2], widths


def test_summarise_gives_one_row_per_aggregate_with_the_columns():
    rng = np.random.default_rng(0)
    labels, median = binormal(10, 20, 1.0, rng)
    scores = pd.DataFrame({"label": labels, "median": median, "mean": np.clip(median + 0.05, 0, 1)})
    table = summary.summarise(scores, selection="last", aggregates=["median", "mean"], **SETTINGS)
    assert list(table.columns) == summary.COLUMNS
    assert list(table["aggregate"]) == ["median", "mean"] and set(table.selection) == {"last"}
    text = summary.summary_markdown(table, level=0.95)
    assert "| last | median | 30 (10) |" in text and "AUC (95% CI)" in text


def test_scores_that_are_not_probabilities_get_no_brier():
    labels = np.array([1, 1, 0, 0])
    assert np.isnan(summary.summary_row(labels, np.array([3.0, 2.0, 1.0, 0.0]), **SETTINGS)["brier"])


def test_reliability_bins():
    labels = np.array([0, 0, 1, 1, 1, 0])
    scores = np.array([0.05, 0.15, 0.12, 0.95, 0.91, 0.55])
    table = metrics.reliability(labels, scores, bins=10)
    assert table.n.tolist() == [1, 2, 1, 2]
    assert table.observed.tolist() == [0.0, 0.5, 0.0, 1.0]
    assert table.predicted.iloc[1] == pytest.approx(0.135)
