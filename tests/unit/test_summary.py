"""The summary table: stratified bootstrap intervals that cover the truth, exact point figures."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from egfrmet import methods, metrics
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


def marked_table():
    """Rows as evaluate and external write them: two network aggregates each, baselines, auto
    and an external cohort's rows of the method auto shipped."""
    rows = [(name, aggregate) for name in ("best_val_accuracy", "last") for aggregate in ("median", "mean")]
    rows += [("radiomics", "patient"), ("clinical", "patient"), ("auto", "patient")]
    table = pd.DataFrame(rows, columns=["selection", "aggregate"]).assign(
        subset="all", validation=summary.INTERNAL, cohort=""
    )
    external = pd.DataFrame({"selection": ["radiomics"], "aggregate": ["patient"], "subset": ["all"]})
    return pd.concat([table, external.assign(validation=summary.EXTERNAL, cohort="hospital_b")], ignore_index=True)


def test_mark_says_which_row_is_prespecified_optimistic_shipped_and_the_result():
    table = summary.mark(marked_table(), metric="median", shipped="radiomics", predict_with="auto")
    internal = table[table.validation == summary.INTERNAL].set_index(["selection", "aggregate"])
    assert internal.groupby("selection").prespecified.sum().eq(1).all()  # one pre-specified row per method
    assert not internal.prespecified["last", "mean"] and "exploratory" in internal.note["last", "mean"]
    assert internal.optimistic[internal.optimistic].index.tolist() == [
        ("best_val_accuracy", "median"),
        ("best_val_accuracy", "mean"),
        ("radiomics", "patient"),  # auto shipped it for its figure: auto's row is the honest one
    ]
    assert internal.shipped[internal.shipped].index.tolist() == [("radiomics", "patient")]
    assert internal.result[internal.result].index.tolist() == [("auto", "patient")]
    assert "auto's row is the leak-free one" in internal.note["radiomics", "patient"]
    external = table[table.validation == summary.EXTERNAL].iloc[0]
    assert external.shipped and external.result and external.prespecified and not external.optimistic
    markdown = summary.summary_markdown(table.reindex(columns=summary.COLUMNS), level=0.95)
    assert "| auto | patient | **result**, pre-specified |" in markdown
    assert "| radiomics | patient | shipped, optimistic, pre-specified |" in markdown


def test_a_method_shipped_as_configured_is_its_own_result():
    """predict_with last: the network's last epoch at the pre-specified aggregate is the
    result, not optimistic (nothing picked it for its figures)."""
    table = summary.mark(marked_table(), metric="mean", shipped="last", predict_with="last")
    internal = table[table.validation == summary.INTERNAL].set_index(["selection", "aggregate"])
    assert internal.result[internal.result].index.tolist() == [("last", "mean")]
    assert internal.shipped[internal.shipped].index.tolist() == [("last", "mean")]
    assert not internal.optimistic["last", "mean"] and internal.optimistic["best_val_accuracy", "mean"]


def test_a_stacks_network_scored_alone_on_an_external_cohort_is_marked_beside_the_result():
    """fusion shipped: the external cohort has fusion's row and its network's row alone
    (external.methods_of); the stack's row is the result, the network's is not."""
    table = marked_table().iloc[:-1]
    external = pd.DataFrame({"selection": ["fusion", methods.network_alone("last")], "aggregate": "patient"})
    external = external.assign(subset="all", validation=summary.EXTERNAL, cohort="hospital_b")
    table = summary.mark(
        pd.concat([table, external], ignore_index=True), metric="median", shipped="fusion", predict_with="fusion"
    )
    rows = table[table.validation == summary.EXTERNAL].set_index("selection")
    assert rows.result.tolist() == [True, False] and rows.shipped.tolist() == [True, False]
    assert rows.prespecified.all() and not rows.optimistic.any()
