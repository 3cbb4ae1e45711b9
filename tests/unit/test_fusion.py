"""The fused model and the leak-free choice of method: fitted on each outer fold's training
patients only, and what they give on constructed cohorts."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from egfrmet.baselines import fusion
from egfrmet.baselines import methods as baselines
from egfrmet.cohort.folds import assign, inner_folds
from egfrmet.errors import InputError

C_VALUES = [0.01, 0.1, 1.0, 10.0]
K, INNER_K = 4, 3


def settings(components, methods, network=False, clinical_variables=False):
    return {
        "fusion": {"components": components, "clinical_variables": clinical_variables, "c_values": C_VALUES}
        | {"inner_k": 3, "scoring": "neg_log_loss"},
        "baselines": {
            "methods": methods,
            "radiomics": {"c_values": C_VALUES, "inner_k": 3},
            "clinical": {"c_values": C_VALUES, "inner_k": 3},
            "seed": 0,
        },
        "train": {"inner": {"k": INNER_K}, "seed": 0},
        "aggregate": "median",
        "network": network,
    }


def cohort(n=160, seed=0, first=1.0, second=1.0, noise=0.6):
    """Patients whose label is the sum of two signals: `intensity` measures the first, the one
    radiomics feature the second, each with noise; every patient's row unique. Network slices
    (two per patient) measure both, weakly."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    s1, s2 = rng.normal(size=(2, n))
    labels = (first * s1 + second * s2 + 0.3 * rng.normal(size=n) > 0.5).astype(int)
    features = pd.DataFrame(
        {
            "intensity": s1 + noise * rng.normal(size=n),
            "original_a": s2 + noise * rng.normal(size=n),
            "volume_mm3": np.exp(7 + rng.normal(size=n)),
        },
        index=pd.Index(ids, name="patient_id"),
    )
    patients = pd.DataFrame({"patient_id": ids, "label": labels, "center": "A", "fold": pd.NA}).astype(
        {"fold": "Int64"}
    )
    table = assign(patients, k=K, seed=0)
    network = 1 / (1 + np.exp(-(0.5 * (s1 + s2) + rng.normal(size=(2, n)))))
    slices = pd.DataFrame(
        {
            "selection": "last",
            "patient_id": ids * 2,
            "slice": np.repeat([0, 1], n),
            "probability": network.ravel(),
            "label": np.tile(labels, 2),
        }
    )
    return features, table, slices


def network_inputs(table, slices, fold):
    """The fold's outer val_slices (its validation patients) and its inner trainings' (each
    inner validation fold of its training patients), as the workflow gives them."""
    inner = inner_folds(table, outer_fold=fold, k=INNER_K, seed=0)
    outer = slices[slices.patient_id.isin(table.patient_id[table.fold == fold])]
    per_inner = [slices[slices.patient_id.isin(inner.patient_id[inner.fold == i])] for i in range(INNER_K)]
    return outer, per_inner


def score_fold(features, table, config, fold, baseline_rows, slices=None):
    """fusion.fold_scores of one fold as the workflow calls it (no clinical variables)."""
    outer, inner = network_inputs(table, slices, fold) if slices is not None else (None, None)
    return fusion.fold_scores(
        table=table,
        fold=fold,
        outer_slices=outer,
        inner_slices=inner,
        baseline_rows=baseline_rows,
        features=features,
        clinical=pd.DataFrame(index=features.index),
        kinds={},
        settings=config,
    )


def run_folds(features, table, config, slices=None):
    rows, reports = [], []
    for fold in range(K):
        baseline_rows = baselines.fold_scores(
            features, table, fold, config["baselines"]["methods"], config["baselines"]
        )
        scored, report = score_fold(features, table, config, fold, baseline_rows, slices)
        rows += [baseline_rows, scored]
        reports.append(report)
    scores = pd.concat(rows, ignore_index=True)
    aucs = {m: roc_auc_score(p.label, p.probability) for m, p in scores.groupby("selection")}
    return scores, reports, aucs


def test_the_stack_of_two_components_that_each_carry_half_the_signal_beats_each():
    features, table, _ = cohort()
    config = settings(["intensity", "radiomics"], ["intensity", "radiomics"])
    scores, _, aucs = run_folds(features, table, config)
    for method in ("fusion", "auto", "intensity", "radiomics"):  # every patient once, by each
        assert sorted(scores.patient_id[scores.selection == method]) == sorted(features.index)
    assert aucs["fusion"] > aucs["intensity"] + 0.03 and aucs["fusion"] > aucs["radiomics"] + 0.03, aucs


def test_a_component_of_pure_noise_leaves_the_stack_within_noise_of_the_good_one():
    features, table, _ = cohort(second=0.0)
    features["original_a"] = np.random.default_rng(5).normal(size=len(features))  # pure noise
    config = settings(["intensity", "radiomics"], ["intensity", "radiomics"])
    _, _, aucs = run_folds(features, table, config)
    assert aucs["intensity"] > 0.8 and aucs["radiomics"] < 0.65, aucs
    assert abs(aucs["fusion"] - aucs["intensity"]) < 0.03, aucs


def test_auto_picks_the_clearly_best_method_in_every_fold():
    features, table, slices = cohort(second=0.0, noise=0.2)
    config = settings(["last", "radiomics"], ["intensity", "radiomics", "volume"], network=True)
    _, reports, aucs = run_folds(features, table, config, slices)
    assert [r["auto"] for r in reports] == ["intensity"] * K, reports
    assert all(set(r["candidates"]) == {"last", "intensity", "radiomics", "volume", "fusion"} for r in reports)
    assert aucs["auto"] == pytest.approx(aucs["intensity"])  # V gets the picked method's scores


def test_no_fit_of_the_fusion_or_auto_step_sees_an_outer_validation_patient(monkeypatch):
    """Instrumented: every matrix any pipeline is fitted on is recorded (the stack's by the
    patients it indexes, a baseline's by its rows, each patient's being unique); none holds a
    validation patient of the fold."""
    features, table, slices = cohort(n=80)
    config = settings(["last", "intensity", "radiomics"], ["intensity", "radiomics", "volume"], network=True)
    fitted = []
    original = Pipeline.fit

    def recording_fit(self, X, y=None, **params):
        fitted.append(X)
        return original(self, X, y, **params)

    monkeypatch.setattr(Pipeline, "fit", recording_fit)
    for fold in range(K):
        baseline_rows = baselines.fold_scores(
            features, table, fold, config["baselines"]["methods"], config["baselines"]
        )
        fitted.clear()
        score_fold(features, table, config, fold, baseline_rows, slices)
        # 3 baselines and the stack, each on the INNER_K inner splits; the stack once more on all
        assert len(fitted) == 4 * INNER_K + 1
        validation = set(table.patient_id[table.fold == fold])
        training = set(table.patient_id) - validation
        for X in fitted:
            patients = set(X.index) if isinstance(X, pd.DataFrame) else rows_to_patients(np.asarray(X), features)
            assert patients and patients <= training, fold


def rows_to_patients(X, features):
    """Which patients' feature rows a matrix holds (one column: matched on any feature)."""
    values = features.to_numpy()
    return {features.index[i] for x in X for i in np.flatnonzero((values == x[0]).any(axis=1))}


def test_network_scores_from_anything_but_the_inner_validation_folds_are_refused():
    features, table, slices = cohort(n=80)
    outer, inner = network_inputs(table, slices, 0)
    folds_of = inner_folds(table, outer_fold=0, k=INNER_K, seed=0)
    leaked = [pd.concat([inner[0], outer.iloc[:1]])] + inner[1:]  # an outer-validation patient
    with pytest.raises(InputError, match="not in its inner validation fold"):
        fusion.inner_network_scores(leaked, folds_of)
    swapped = [inner[1], inner[0], *inner[2:]]  # each scored by a model that trained on it
    with pytest.raises(InputError, match="not in its inner validation fold"):
        fusion.inner_network_scores(swapped, folds_of)
    with pytest.raises(InputError, match="no inner training scored"):
        first = inner[0].patient_id.iloc[0]
        fusion.inner_network_scores([inner[0][inner[0].patient_id != first], *inner[1:]], folds_of)


def test_too_few_patients_of_a_class_for_an_inner_fit_name_the_fold_and_the_method():
    features, _, _ = cohort(n=24)
    labels = np.isin(np.arange(24), [0, 1, 2, 3]).astype(int)  # 4 positives: 2 per fold, 1 per inner fold
    patients = pd.DataFrame({"patient_id": features.index, "label": labels, "center": "A", "fold": pd.NA})
    table = assign(patients.astype({"fold": "Int64"}), k=2, seed=0)
    config = settings(["radiomics"], ["radiomics"]) | {"train": {"inner": {"k": 2}, "seed": 0}}
    baseline_rows = baselines.fold_scores(features, table, 0, ["radiomics"], config["baselines"])
    with pytest.raises(InputError, match="fold 0 radiomics, inner fold 0: .*2 training patients of each class"):
        score_fold(features, table, config, 0, baseline_rows)
