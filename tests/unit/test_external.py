"""External validation: calibration slope and intercept against the formula, and each named
cohort on summary rows of its own, never pooled with the out-of-fold rows."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from egfrmet.evaluation import external
from egfrmet.evaluation.summary import EXTERNAL, summary_markdown
from egfrmet.metrics import calibration_fit

SETTINGS = {"bootstrap": 200, "ci_level": 0.95, "seed": 0, "calibration_bins": 5}
SETTINGS |= {"decision_curve": {"low": 0.05, "high": 0.95, "step": 0.05}}


def calibrated(n=20000, seed=0):
    """Probabilities and labels drawn from them: perfectly calibrated by construction."""
    rng = np.random.default_rng(seed)
    p = expit(rng.normal(scale=1.5, size=n))
    return p, (rng.random(n) < p).astype(int)


def test_perfectly_calibrated_scores_have_slope_one_and_intercept_zero():
    p, y = calibrated()
    intercept, slope = calibration_fit(y, p)
    assert intercept == pytest.approx(0, abs=0.05) and slope == pytest.approx(1, abs=0.05)


def test_over_confident_scores_have_a_slope_below_one_that_the_formula_gives():
    p, y = calibrated()
    over = expit(2 * logit(p))  # twice the logit: over-confident
    intercept, slope = calibration_fit(y, over)
    assert slope == pytest.approx(0.5, abs=0.03) and intercept == pytest.approx(0, abs=0.05)
    # the slope is the coefficient of an unpenalised logistic regression on the logit
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logit(over)[:, None], y)
    assert slope == pytest.approx(reference.coef_[0, 0], rel=1e-5)
    shifted = expit(logit(p) - 1)  # predicts too low everywhere: calibration-in-the-large > 0
    assert calibration_fit(y, shifted)[0] == pytest.approx(1, abs=0.05)


def test_scores_that_separate_the_classes_give_no_slope_rather_a_wrong_one():
    assert np.isnan(calibration_fit([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])[1])


def test_two_external_cohorts_get_rows_of_their_own_for_the_method_and_its_network():
    rng = np.random.default_rng(1)
    rows = []
    for cohort, n in (("hospital_b", 40), ("hospital_c", 30)):
        label = (rng.random(n) < 0.4).astype(int)
        rows.append(
            pd.DataFrame(
                {
                    "patient_id": [f"{cohort}_{i}" for i in range(n)],
                    "probability": expit(2 * label - 1 + rng.normal(size=n)),
                    "network": rng.random(n),
                    "label": label,
                    "cohort": cohort,
                }
            )
        )
    unlabelled = pd.DataFrame({"patient_id": ["U1"], "probability": [0.3], "network": [0.2], "label": [np.nan]})
    predictions = pd.concat([*rows, unlabelled.assign(cohort="test")], ignore_index=True)
    manifest = {
        "method": {"name": "fusion", "kind": "stack"},
        "network": {"selection": "last"},
        "threshold": 0.5,
    }
    table = external.cohort_rows(predictions, manifest, SETTINGS)
    assert sorted(zip(table.cohort, table.selection)) == [
        ("hospital_b", "fusion"),
        ("hospital_b", "network (last)"),
        ("hospital_c", "fusion"),
        ("hospital_c", "network (last)"),
    ]
    assert (table.validation == EXTERNAL).all() and list(table.n_patients) == [40, 40, 30, 30]
    assert table[["auc_low", "auc_high", "calibration_slope", "calibration_intercept"]].notna().all().all()
    markdown = summary_markdown(table, level=0.95)
    assert "### External cohort hospital_b" in markdown and "### External cohort hospital_c" in markdown
