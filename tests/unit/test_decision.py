"""Decision curves: net benefit against the formula on a hand-made table."""

import numpy as np
import pandas as pd
import pytest

from egfrmet.evaluation import decision


def test_net_benefit_equals_the_formula_on_a_hand_made_table():
    # 10 patients, 4 positive; at 0.5, treated: scores >= 0.5 -> 3 of the positives, 1 negative
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.1, 0.05])
    at = np.array([0.2, 0.5, 0.75])
    benefit = decision.net_benefit(labels, scores, at)
    # 0.2: treated 0.9 .8 .6 .3 (tp 4) .7 .4 .2 (fp 3) -> 4/10 - 3/10 * 0.25
    # 0.5: tp 3, fp 1 -> 3/10 - 1/10 * 1; 0.75: tp 2, fp 0 -> 2/10
    assert benefit == pytest.approx([0.4 - 0.3 * 0.25, 0.3 - 0.1, 0.2])
    assert decision.treat_all(labels, at) == pytest.approx([0.4 - 0.6 * 0.25, 0.4 - 0.6, 0.4 - 0.6 * 3])


def test_a_perfect_score_reaches_the_prevalence_and_treat_none_is_zero():
    labels = np.array([1, 0, 0, 1, 0])
    scores = labels * 0.98 + 0.01
    at = decision.thresholds({"low": 0.05, "high": 0.95, "step": 0.05})
    assert at[0] == pytest.approx(0.05) and at[-1] == pytest.approx(0.95) and len(at) == 19
    table = decision.decision_table({"perfect": (labels, scores)}, at)
    assert list(table.method.unique()) == ["perfect", "treat all", "treat none"]
    perfect = table[table.method == "perfect"].net_benefit.to_numpy()
    assert perfect == pytest.approx(np.full(len(at), 0.4))  # every positive, no negative, at each threshold
    assert (table[table.method == "treat none"].net_benefit == 0).all()
    assert (table.n_patients == 5).all() and (table.n_positive == 2).all()


def test_the_figure_is_written(tmp_path):
    labels = np.array([1, 0, 0, 1, 0, 1])
    table = decision.decision_table(
        {"a": (labels, np.linspace(0, 1, 6)), "b": (labels, np.full(6, 0.5))},
        decision.thresholds({"low": 0.05, "high": 0.95, "step": 0.01}),
    )
    decision.decision_figure(table, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 10_000
    assert isinstance(table, pd.DataFrame) and len(table) == 4 * 91


def test_the_figure_draws_what_a_reader_decides_with():
    from egfrmet.evaluation.evaluate import drawn_methods

    aucs = {"best_val_accuracy": 0.9, "inner_cv": 0.7, "last": 0.75, "radiomics": 0.85, "volume": 0.5}
    aucs |= {"fusion": 0.8, "auto": 0.82}
    assert drawn_methods(aucs, "auto") == {
        "auto": "auto (shipped)",
        "last": "last (best leak-free network)",
        "radiomics": "radiomics (best baseline)",
        "fusion": "fusion (stack)",
    }
    paper = drawn_methods(aucs, "best_val_accuracy")  # the optimistic one only when it ships
    assert paper["best_val_accuracy"] == "best_val_accuracy (shipped, optimistic)" and paper["auto"] == "auto (choice)"
