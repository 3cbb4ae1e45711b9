"""Baselines on the network's own folds: for each outer fold, fit on the fold's training
patients (features from egfrmet.baselines.features) and score its validation patients.

- radiomics: the PyRadiomics features of the T1c and of each further sequence
  (inputs.sequences); radiomics_t1c: the T1c's alone, to see what the sequences add. Each:
  standardise, L2 logistic regression with balanced class weights (as the
  network's weighted sampler balances classes), C chosen by inner stratified
  cross-validation (AUC) on the fold's training patients only;
- volume, intensity: one feature each. The AUC depends only on the direction learned from
  the training patients; a one-feature logistic regression (no penalty) turns it into a
  probability, so the threshold metrics and the Brier score mean the same as the network's.
  Volume enters as its logarithm (same ranking, better-behaved fit);
- deep_features: a frozen pretrained body's mean features of the lesion slices
  (egfrmet.training.deep_features): standardised, reduced to `components` principal components
  (fitted on the fold's training patients), then the same L2 logistic regression with C by
  inner cross-validation (AUC);
- clinical: the sheet's clinical variables (egfrmet.baselines.clinical: imputed, one-hot and
  standardised on the fold's training patients), L2 logistic regression with balanced class
  weights, C by inner stratified cross-validation (AUC) on the fold's training patients only.
"""

import logging

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from egfrmet.arguments import SETTINGS, command, required
from egfrmet.baselines import clinical as clinical_inputs
from egfrmet.cohort.folds import of_repeat, read_folds, repeat_number
from egfrmet.errors import InputError
from egfrmet.io.files import atomic_output

log = logging.getLogger(__name__)

SINGLE = {"volume": "volume_mm3", "intensity": "intensity"}
NOT_RADIOMICS = {"patient_id", *SINGLE.values()}
RADIOMICS = ("radiomics", "radiomics_t1c")  # every sequence's features, the T1c's alone
DEEP = "deep_features"
DEEP_PREFIX = "deep_features_"  # its columns (egfrmet.training.deep_features writes them)


def radiomics_columns(features, t1c_only=False):
    """The radiomics features: every sequence's, or the T1c's alone (PyRadiomics names them
    original_..., a further sequence's carry its column first: t2_original_...)."""
    columns = [c for c in features.columns if c not in NOT_RADIOMICS and not c.startswith(DEEP_PREFIX)]
    return [c for c in columns if c.startswith("original_")] if t1c_only else columns


def radiomics_pipeline(settings, labels, seed):
    """The radiomics model; inner folds at most as many as the rarer class has patients."""
    return make_pipeline(
        SimpleImputer(strategy="median"), VarianceThreshold(), StandardScaler(), l2_logistic_cv(settings, labels, seed)
    )


def deep_pipeline(settings, labels, seed):
    """The deep features' model: standardise, at most `components` principal components (as
    many as the training patients allow; 0: none), L2 logistic regression with inner CV."""
    steps = [VarianceThreshold(), StandardScaler()]
    if settings["components"]:
        steps.append(PCA(n_components=min(settings["components"], len(labels) - 1), random_state=seed))
    return make_pipeline(*steps, l2_logistic_cv(settings, labels, seed))


def clinical_pipeline(settings, kinds, labels, seed):
    """The clinical model: egfrmet.baselines.clinical's design, then the same L2 logistic regression."""
    return make_pipeline(clinical_inputs.design(kinds), l2_logistic_cv(settings, labels, seed))


def l2_logistic_cv(settings, labels, seed, scoring="roc_auc"):
    """L2 logistic regression, balanced classes, C from settings["c_values"] by stratified
    inner CV (`scoring`, AUC by default): at most as many inner folds as the rarer class has
    patients. One C given: that C, and no inner CV."""
    if len(settings["c_values"]) == 1:
        return LogisticRegression(C=settings["c_values"][0], class_weight="balanced", max_iter=10_000)
    k = min(settings["inner_k"], int(np.bincount(labels, minlength=2).min()))
    if k < 2:
        raise ValueError("a baseline with inner cross-validation needs at least 2 training patients of each class")
    return LogisticRegressionCV(
        Cs=settings["c_values"],
        cv=StratifiedKFold(k, shuffle=True, random_state=seed),
        scoring=scoring,
        class_weight="balanced",
        max_iter=10_000,
        use_legacy_attributes=False,
        l1_ratios=(0.0,),  # L2
    )


def chosen_c(model):
    """The C a fitted l2_logistic_cv model uses: chosen by inner CV, or the one given."""
    return float(model.C_ if hasattr(model, "C_") else model.C)


def single_pipeline(method):
    steps = [FunctionTransformer(np.log1p)] if method == "volume" else []
    return make_pipeline(*steps, StandardScaler(), LogisticRegression(C=np.inf, class_weight="balanced"))


def fit(method, X, labels, settings, kinds=None):
    """The fitted pipeline of one baseline on training patients only (X, labels); `kinds`:
    the clinical variables' kinds, for the clinical baseline (X then a DataFrame)."""
    if method in RADIOMICS:
        model = radiomics_pipeline(settings["radiomics"], labels, settings["seed"])
    elif method == DEEP:
        model = deep_pipeline(settings[DEEP], labels, settings["seed"])
    elif method == "clinical":
        model = clinical_pipeline(settings["clinical"], kinds, labels, settings["seed"])
    else:
        model = single_pipeline(method)
    return model.fit(X, labels)


def describe(method, model):
    """What the fit chose, for the log."""
    last = model[-1]
    if method in (*RADIOMICS, DEEP, "clinical"):
        return f"C = {chosen_c(last):g}, {int((last.coef_ != 0).sum())} coefficients"
    return f"higher {SINGLE[method]} means EGFR+: {bool(last.coef_[0, 0] > 0)}"


def inputs(method, features, clinical):
    """The matrix a method fits on, patients as rows: (table indexed by patient_id, as_frame)."""
    if method == "clinical":
        return clinical, True
    if method in RADIOMICS:
        return features[radiomics_columns(features, t1c_only=method == "radiomics_t1c")], False
    if method == DEEP:
        return features[[c for c in features.columns if c.startswith(DEEP_PREFIX)]], False
    columns = [SINGLE[method]]
    return features[columns], False


def matrix(method, features, clinical, patients):
    """A method's inputs for `patients`, in the form its pipeline fits on."""
    X, as_frame = inputs(method, features, clinical)
    X = X.loc[list(patients)]
    return X if as_frame else X.to_numpy()


def score_rows(method, probability, patients, fold, repeat):
    """Rows of a fold file (results/baselines, results/fusion): `patients` has patient_id and label."""
    return pd.DataFrame(
        {
            "selection": method,
            "patient_id": patients.patient_id.to_numpy(),
            "probability": probability,
            "label": patients.label.to_numpy(),
            "fold": fold,
            "repeat": repeat,
        }
    )


def fold_scores(features, table, fold, methods, settings, clinical=None, kinds=None):
    """Each method's validation probabilities for `fold` (patient rows of `features`, and of
    `clinical` for the clinical baseline, indexed by patient_id), fitted on the fold's
    training patients of the same repeat."""
    table = of_repeat(table, fold)
    train, val = table[table.fold != fold], table[table.fold == fold]
    rows = []
    for method in methods:
        X_train, X_val = (matrix(method, features, clinical, part.patient_id) for part in (train, val))
        model = fit(method, X_train, train.label.to_numpy(), settings, kinds)
        log.info("fold %d %s: %s", fold, method, describe(method, model))
        probability = model.predict_proba(X_val)[:, 1]
        rows.append(score_rows(method, probability, val, fold, repeat_number(table)))
    return pd.concat(rows, ignore_index=True)


def read_features(paths):
    """The patients' features, indexed by patient_id (none given: an empty table). A patient
    may have several files (radiomics, deep features): their columns side by side."""
    if not paths:
        return pd.DataFrame(index=pd.Index([], name="patient_id"))
    tables = [pd.read_csv(path, dtype={"patient_id": str}).set_index("patient_id") for path in paths]
    kinds = {}
    for table in tables:  # rows of one kind of file stack; the kinds' columns go side by side
        kinds.setdefault(all(c.startswith(DEEP_PREFIX) for c in table.columns), []).append(table)
    parts = [pd.concat(group) for group in kinds.values()]
    return parts[0].join(parts[1:], how="outer") if len(parts) > 1 else parts[0]


@command(
    "fit the baselines on one fold's training patients and score its validation patients",
    required("--fold", "the outer fold whose validation patients are scored", type=int),
    required("--folds", "folds table (.tsv)"),
    (["--features"], {"nargs": "*", "default": [], "help": "the patients' features (.csv)"}),
    (["--clinical"], {"nargs": "*", "default": [], "help": "the patients' clinical values (.json)"}),
    SETTINGS,
    required("--out", "validation patients' probabilities to write (.csv)"),
)
def run(*, fold, folds, features, clinical, settings, out):
    """The `egfrmet baseline` subcommand: every configured baseline's scores of one fold,
    from the patients' features (.csv) and clinical values (.json, egfrmet.baselines.clinical)."""
    table = read_folds(folds)
    features = read_features(features)
    values, kinds = clinical_inputs.read(clinical)
    patients = set(of_repeat(table, fold).patient_id)
    for method in settings["methods"]:
        have, what = (values.index, "--clinical") if method == "clinical" else (features.index, "--features")
        missing = sorted(patients - set(have))
        if missing:
            raise InputError(f"fold {fold}: {method} has no inputs for patients {missing} (give {what} for each)")
    scores = fold_scores(features, table, fold, settings["methods"], settings, values, kinds)
    with atomic_output(out) as tmp:
        scores.to_csv(tmp, index=False)
