"""Baselines on the network's own folds: for each outer fold, fit on the fold's training
patients (features from egfrmet.features) and score its validation patients.

- radiomics: standardise, L2 logistic regression with balanced class weights (as the
  network's weighted sampler balances classes), C chosen by inner stratified
  cross-validation (AUC) on the fold's training patients only;
- volume, intensity: one feature each. The AUC depends only on the direction learned from
  the training patients; a one-feature logistic regression (no penalty) turns it into a
  probability, so the threshold metrics and the Brier score mean the same as the network's.
  Volume enters as its logarithm (same ranking, better-behaved fit).
"""

import logging

import numpy as np
import pandas as pd
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from egfrmet.errors import InputError
from egfrmet.files import atomic_output
from egfrmet.folds import of_repeat, read_folds, repeat_number

log = logging.getLogger(__name__)

SINGLE = {"volume": "volume_mm3", "intensity": "intensity"}
NOT_RADIOMICS = {"patient_id", *SINGLE.values()}


def radiomics_columns(features):
    return [c for c in features.columns if c not in NOT_RADIOMICS]


def radiomics_pipeline(settings, labels, seed):
    """The radiomics model; inner folds at most as many as the rarer class has patients."""
    k = min(settings["inner_k"], int(np.bincount(labels, minlength=2).min()))
    if k < 2:
        raise ValueError("the radiomics baseline needs at least 2 training patients of each class")
    return make_pipeline(
        SimpleImputer(strategy="median"),
        VarianceThreshold(),
        StandardScaler(),
        LogisticRegressionCV(
            Cs=settings["c_values"],
            cv=StratifiedKFold(k, shuffle=True, random_state=seed),
            scoring="roc_auc",
            class_weight="balanced",
            max_iter=10_000,
            use_legacy_attributes=False,
            l1_ratios=(0.0,),  # L2
        ),
    )


def single_pipeline(method):
    steps = [FunctionTransformer(np.log1p)] if method == "volume" else []
    return make_pipeline(*steps, StandardScaler(), LogisticRegression(C=np.inf, class_weight="balanced"))


def fit(method, X, labels, settings):
    """The fitted pipeline of one baseline on training patients only (X, labels)."""
    if method == "radiomics":
        model = radiomics_pipeline(settings["radiomics"], labels, settings["seed"])
    else:
        model = single_pipeline(method)
    return model.fit(X, labels)


def describe(method, model):
    """What the fit chose, for the log."""
    last = model[-1]
    if method == "radiomics":
        return f"C = {float(last.C_):g}, {int((last.coef_ != 0).sum())} coefficients"
    return f"higher {SINGLE[method]} means EGFR+: {bool(last.coef_[0, 0] > 0)}"


def fold_scores(features, table, fold, methods, settings):
    """Each method's validation probabilities for `fold` (patient rows of `features`,
    indexed by patient_id), fitted on the fold's training patients of the same repeat."""
    table = of_repeat(table, fold)
    train, val = table[table.fold != fold], table[table.fold == fold]
    rows = []
    for method in methods:
        columns = radiomics_columns(features) if method == "radiomics" else [SINGLE[method]]
        model = fit(method, features.loc[train.patient_id, columns].to_numpy(), train.label.to_numpy(), settings)
        log.info("fold %d %s: %s", fold, method, describe(method, model))
        probability = model.predict_proba(features.loc[val.patient_id, columns].to_numpy())[:, 1]
        rows.append(
            pd.DataFrame(
                {
                    "selection": method,
                    "patient_id": val.patient_id.to_numpy(),
                    "probability": probability,
                    "label": val.label.to_numpy(),
                    "fold": fold,
                    "repeat": repeat_number(table),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def read_features(paths):
    features = pd.concat([pd.read_csv(path, dtype={"patient_id": str}) for path in paths], ignore_index=True)
    return features.set_index("patient_id")


def run(*, fold, folds, features, settings, out):
    """The `egfrmet baseline` subcommand: every configured baseline's scores of one fold."""
    table, features = read_folds(folds), read_features(features)
    missing = sorted(set(of_repeat(table, fold).patient_id) - set(features.index))
    if missing:
        raise InputError(f"fold {fold}: no features for patients {missing} (give --features for each)")
    scores = fold_scores(features, table, fold, settings["methods"], settings)
    with atomic_output(out) as tmp:
        scores.to_csv(tmp, index=False)
