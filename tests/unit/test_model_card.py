"""The model card: filled from the run's files, its figures those of summary.csv."""

import numpy as np
import pandas as pd

from egfrmet.evaluation import model_card
from egfrmet.evaluation.summary import summarise

SETTINGS = {
    "folds": {"k": 2, "seed": 0, "scheme": "stratified", "repeats": 1},
    "inner_k": 3,
    "predict_with": "auto",
    "sequences": ["t2"],
    "clinical": {"sex": "categorical", "age": "numeric"},
    "fusion": {"components": ["last", "radiomics"], "clinical_variables": False},
    "synthetic": False,
    "metric": "median",
    "threshold": 0.5,
    "ci_level": 0.95,
    "bootstrap": 50,
}


def test_the_card_carries_summary_figures_choices_missing_values_and_the_optimistic_mark():
    rng = np.random.default_rng(0)
    labels = np.array([1, 0] * 10)
    ids = [f"P{i:02d}" for i in range(20)]
    options = {"threshold": 0.5, "resamples": 50, "level": 0.95, "seed": 0}
    network = pd.DataFrame({"patient_id": ids, "label": labels, "median": rng.random(20)})
    radiomics = pd.DataFrame({"patient_id": ids, "label": labels, "patient": 0.5 * labels + 0.5 * rng.random(20)})
    summary = pd.concat(
        [
            summarise(network, selection="best_val_accuracy", aggregates=["median"], **options),
            summarise(network, selection="last", aggregates=["median"], **options),
            summarise(radiomics, selection="radiomics", aggregates=["patient"], **options),
        ]
    )
    folds = pd.DataFrame({"patient_id": ids, "label": labels, "center": ["A"] * 15 + ["B"] * 5, "fold": [0, 1] * 10})
    clinical = pd.DataFrame({"sex": ["F", np.nan] * 10, "age": [60.0] * 19 + [np.nan]}, index=ids)
    reports = [
        {"fold": f, "repeat": 0, "candidates": {"last": 0.6, "radiomics": 0.8, "fusion": 0.7}, "auto": "radiomics"}
        | {"fusion": {"C": 0.1, "coefficients": {}}}
        for f in (0, 1)
    ]
    shares = pd.DataFrame(
        {"cam_in_lesion": [0.3, 0.5], "lesion_area": [0.1, 0.2], "cam_in_brain": [0.6, 0.8]}
        | {"brain_area": [0.7, 0.7]}
    )
    card = model_card.card(
        summary=summary, folds=folds, clinical=clinical, reports=reports, shares=shares, settings=SETTINGS
    )
    for row in summary.itertuples():
        name = row.selection if row.aggregate == "patient" else f"{row.selection} ({row.aggregate})"
        line = next(line for line in card.splitlines() if line.startswith(f"| {name} |"))
        assert f"| {row.auc:.2f} ({row.auc_low:.2f}–{row.auc_high:.2f}) |" in line
        assert line.endswith("| no: optimistic |") == (row.selection == "best_val_accuracy")
    assert "Cross-validation patients: 20, of whom EGFR-mutant (label 1): 10 (50%)" in card
    assert "Centres: A 15, B 5." in card and ", t2 (" in card
    assert "sex (categorical, missing 10 of 20); age (numeric, missing 1 of 20)" in card
    assert "| 0 | radiomics | 0.60 | 0.80 | 0.70 |" in card and "Picks over the folds: radiomics 2." in card
    assert "40% of the map's mass lies in the lesion, which covers 15% of the crop" in card
    assert "`train.predict_with: auto`" in card
    assert "Internal validation only" in card and "No labelled external cohort" in card


def test_an_external_cohort_stands_beside_the_internal_figures_and_drops_internal_only():
    rng = np.random.default_rng(1)
    labels = np.array([1, 0] * 10)
    options = {"threshold": 0.5, "resamples": 50, "level": 0.95, "seed": 0}
    scores = pd.DataFrame({"label": labels, "patient": 0.3 * labels + 0.7 * rng.random(20)})  # not separable
    internal = summarise(scores, selection="radiomics", aggregates=["patient"], **options)
    external = summarise(
        scores.iloc[:12], selection="radiomics", aggregates=["patient"], validation="external", cohort="B", **options
    )
    summary = pd.concat([internal, external], ignore_index=True)
    folds = pd.DataFrame({"patient_id": [f"P{i}" for i in range(20)], "label": labels, "center": "A", "fold": 0})
    card = model_card.card(
        summary=summary, folds=folds, clinical=pd.DataFrame(), reports=[], shares=None, settings=SETTINGS
    )
    figures = card[card.index("## Every method") : card.index("## External validation")]
    assert figures.count("| radiomics |") == 1  # the external row is not among the out-of-fold ones
    row = external.iloc[0]
    line = next(line for line in card.splitlines() if line.startswith("| B | radiomics |"))
    assert f"| 12 (6) | {row.auc:.2f} ({row.auc_low:.2f}–{row.auc_high:.2f}) |" in line
    assert f"| {row.calibration_slope:.2f} |" in line
    assert "Internal validation only" not in card and "Externally validated on B only" in card
