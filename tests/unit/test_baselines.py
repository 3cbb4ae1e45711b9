"""The baselines: features' lesion region, fitting on training patients only, and their
scores on the network's folds."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from egfrmet.baselines import methods as baselines
from egfrmet.baselines.features import lesion_region

SETTINGS = {
    "methods": ["radiomics", "volume", "intensity"],
    "radiomics": {"c_values": [0.01, 0.1, 1.0], "inner_k": 3},
    "seed": 0,
}


def cohort(n=40, seed=0, signal=2.0):
    """Folds (2 folds, 2 repeats) and features where volume and one radiomics feature carry
    the label, among noise features; every patient's row unique."""
    rng = np.random.default_rng(seed)
    labels = np.array([1, 0, 0, 1] * (n // 4))
    ids = [f"P{i:03d}" for i in range(n)]
    features = pd.DataFrame(rng.normal(size=(n, 12)), index=ids, columns=[f"original_f{i}" for i in range(12)])
    features["original_f0"] += signal * labels
    features["volume_mm3"] = np.exp(7 + signal * labels + rng.normal(size=n))
    features["intensity"] = rng.normal(size=n)
    features.index.name = "patient_id"
    folds = pd.DataFrame(
        {
            "patient_id": ids * 2,
            "label": np.tile(labels, 2),
            "center": "A",
            "fold": np.r_[np.arange(n) % 2, 2 + (np.arange(n) // 2) % 2],
            "repeat": np.repeat([0, 1], n),
        }
    )
    return features, folds


def test_every_method_scores_exactly_the_folds_validation_patients_and_learns_the_signal():
    features, folds = cohort()
    scores = pd.concat(baselines.fold_scores(features, folds, fold, SETTINGS["methods"], SETTINGS) for fold in range(4))
    for method in SETTINGS["methods"]:
        part = scores[scores.selection == method]
        for repeat in (0, 1):
            rows = part[part.repeat == repeat]
            assert sorted(rows.patient_id) == sorted(features.index)  # each patient once per repeat
        assert part.probability.between(0, 1).all()
    auc = {m: roc_auc_score(p.label, p.probability) for m, p in scores.groupby("selection")}
    assert auc["radiomics"] > 0.8 and auc["volume"] > 0.8 and 0.2 < auc["intensity"] < 0.8, auc


def test_no_baseline_fit_sees_an_outer_validation_patient(monkeypatch):
    """Instrumented: every matrix any pipeline is fitted on is recorded, and no row of it is
    a validation patient's row (each patient's features are unique)."""
    features, folds = cohort()
    fitted = []
    original = Pipeline.fit

    def recording_fit(self, X, y=None, **params):
        fitted.append(np.asarray(X))
        return original(self, X, y, **params)

    monkeypatch.setattr(Pipeline, "fit", recording_fit)
    for fold in range(4):
        fitted.clear()
        baselines.fold_scores(features, folds, fold, SETTINGS["methods"], SETTINGS)
        assert len(fitted) == 3
        table = folds[folds.repeat == fold // 2]
        validation = set(table.patient_id[table.fold == fold])
        for X in fitted:
            columns = baselines.radiomics_columns(features) if X.shape[1] > 1 else None
            for patient in features.index:
                row = features.loc[patient, columns].to_numpy() if columns else None
                seen = (
                    any(np.array_equal(x, row) for x in X)
                    if columns
                    else np.isin(features.loc[patient, ["volume_mm3", "intensity"]], X).any()
                )
                assert seen == (patient not in validation), (fold, patient)


def test_radiomics_needs_two_training_patients_of_each_class():
    with pytest.raises(ValueError, match="2 training patients of each class"):
        baselines.radiomics_pipeline(SETTINGS["radiomics"], np.array([1, 0, 0, 0]), seed=0)


def test_the_slices_region_keeps_only_the_crop_slices_of_the_taken_lesions():
    lesions = np.zeros((10, 4, 4), dtype=np.uint16)
    lesions[1:8, 1, 1] = 1  # the taken lesion, slices 1-7
    lesions[2:4, 3, 3] = 2  # not taken
    crops = {"lesions_taken": np.array([1]), "lesion": np.array([1] * 5), "slice_index": np.arange(2, 7)}
    whole, slices = lesion_region(lesions, crops, "lesion"), lesion_region(lesions, crops, "slices")
    assert whole.sum() == 7 and not whole[:, 3, 3].any()
    assert np.flatnonzero(slices[:, 1, 1]).tolist() == [2, 3, 4, 5, 6]


def test_radiomics_takes_every_sequences_features_and_radiomics_t1c_the_t1cs_alone(monkeypatch):
    """A T2 feature carries the label: radiomics fits on it (and learns it), radiomics_t1c
    never sees it."""
    features, folds = cohort(signal=0.0)
    labels = folds.label[folds.repeat == 0].to_numpy()
    features["t2_original_firstorder_Mean"] = 3.0 * labels + np.random.default_rng(1).normal(size=len(labels))
    fitted = {}
    original = Pipeline.fit

    def recording_fit(self, X, y=None, **params):
        fitted.setdefault(X.shape[1], 0)
        fitted[X.shape[1]] += 1
        return original(self, X, y, **params)

    monkeypatch.setattr(Pipeline, "fit", recording_fit)
    methods = ["radiomics", "radiomics_t1c"]
    scores = pd.concat(baselines.fold_scores(features, folds, fold, methods, SETTINGS) for fold in range(2))
    assert baselines.radiomics_columns(features, t1c_only=True) == [f"original_f{i}" for i in range(12)]
    assert fitted == {13: 2, 12: 2}  # radiomics: 12 T1c features and the T2's; radiomics_t1c: 12
    auc = {m: roc_auc_score(p.label, p.probability) for m, p in scores.groupby("selection")}
    assert auc["radiomics"] > 0.85 and auc["radiomics_t1c"] < 0.75, auc
