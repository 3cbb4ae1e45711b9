"""The paired comparison: DeLong's test and the paired stratified bootstrap."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kstest
from sklearn.metrics import roc_auc_score

from egfrmet.evaluation.compare import comparison_markdown, comparison_pairs, comparison_table, paired_bootstrap
from egfrmet.metrics import delong

LABELS = np.r_[np.ones(20), np.zeros(40)].astype(int)
BOOTSTRAP = {"resamples": 500, "level": 0.95, "seed": 0}


def test_delong_finds_a_clearly_better_score_and_its_aucs_are_sklearns():
    rng = np.random.default_rng(1)
    better = 2.0 * LABELS + rng.normal(size=len(LABELS))
    worse = 0.2 * LABELS + rng.normal(size=len(LABELS))
    auc_better, auc_worse, p = delong(LABELS, better, worse)
    assert (auc_better, auc_worse) == pytest.approx((roc_auc_score(LABELS, better), roc_auc_score(LABELS, worse)))
    assert p < 0.01
    low, high = paired_bootstrap(LABELS, better, worse, **BOOTSTRAP)
    assert 0 < low < auc_better - auc_worse < high


def test_delong_p_values_spread_near_uniformly_under_the_null():
    """200 seeded pairs of equally good (correlated) scores: p-values uniform on [0, 1]."""
    p_values = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        shared = LABELS * 0.8 + rng.normal(size=len(LABELS))
        first, second = shared + rng.normal(size=len(LABELS)), shared + rng.normal(size=len(LABELS))
        p_values.append(delong(LABELS, first, second)[2])
    p_values = np.array(p_values)
    assert kstest(p_values, "uniform").pvalue > 0.01
    assert 0.01 <= (p_values < 0.05).mean() <= 0.10


def test_identical_rankings_differ_by_nothing():
    score = np.random.default_rng(0).normal(size=len(LABELS))
    assert delong(LABELS, score, 3 * score + 1)[2] == 1.0


def test_the_table_sets_each_network_selection_against_each_baseline_on_shared_patients():
    rng = np.random.default_rng(2)
    ids = [f"P{i}" for i in range(len(LABELS))]
    network = pd.DataFrame({"patient_id": ids, "label": LABELS, "median": LABELS + rng.normal(size=len(LABELS))})
    baseline = pd.DataFrame({"patient_id": ids[::-1], "label": LABELS[::-1], "patient": rng.normal(size=len(LABELS))})
    scores = {"last": network, "inner_cv": network, "volume": baseline}
    pairs = comparison_pairs(["last", "inner_cv"], ["volume"])
    table = comparison_table(scores, pairs=pairs, aggregate="median", bootstrap=BOOTSTRAP)
    assert list(table.method) == ["last", "inner_cv"] and list(table.reference) == ["volume"] * 2
    assert (table.n_patients == len(LABELS)).all()
    text = comparison_markdown(table, level=0.95)
    assert "| last | volume |" in text and "by the median of its slices" in text
    expected = roc_auc_score(LABELS, network["median"]) - roc_auc_score(baseline.label, baseline.patient)
    assert np.allclose(table.auc_difference, expected)


def test_fused_methods_are_set_against_every_network_selection_and_baseline():
    pairs = comparison_pairs(["last"], ["radiomics", "clinical"], ["fusion", "auto"])
    assert pairs == [
        ("last", "radiomics"),
        ("last", "clinical"),
        ("fusion", "last"),
        ("fusion", "radiomics"),
        ("fusion", "clinical"),
        ("auto", "last"),
        ("auto", "radiomics"),
        ("auto", "clinical"),
        ("auto", "fusion"),
    ]
