"""The fused model and the leak-free choice of method, both made inside one outer fold's
training patients (T); its validation patients (V) are only scored.

- Leak-free scores of T for each component, on the network's inner folds of T
  (train.inner.k, egfrmet.cohort.folds.inner_folds): the network (`last`) from the inner
  trainings, each patient scored by the inner model that did not train on it, at its last
  epoch (an epoch chosen on those patients would flatter the network in the stack); each
  baseline refitted on the other inner folds and scored on the patient's own.
- `fusion`: an L2 logistic regression (balanced classes, C by inner CV over T, scored by
  `fusion.scoring`: the log-loss by default, since AUC barely moves with C among a few
  inputs and then picks the smallest, which flattens the probabilities) on the
  components' logits, plus the clinical variables with `fusion.clinical_variables`. V is
  scored by the components fitted on all of T (the fold's outer `last` model and the
  baselines' fold fits, results/baselines), then the stack.
- `auto`: the candidate with the best AUC over T's leak-free scores (the fusion's from a
  stack cross-fitted over the same inner folds); V gets that method's scores. The summary row
  `auto` is thus the figure of the whole procedure, choice included.
"""

import json
import logging

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from egfrmet.arguments import SETTINGS, command, required
from egfrmet.baselines import clinical as clinical_inputs
from egfrmet.baselines import methods as baselines
from egfrmet.cohort.folds import inner_folds, of_repeat, read_folds, repeat_number
from egfrmet.errors import InputError
from egfrmet.io.files import atomic_output
from egfrmet.metrics import aggregate_slices, auc

log = logging.getLogger(__name__)

NETWORK = "last"  # the network selection whose inner scores choose nothing
FUSION, AUTO = "fusion", "auto"
EDGE = 1e-6  # probabilities clipped before the logit: a saturated network stays finite


def logit(p):
    p = np.clip(np.asarray(p, dtype=float), EDGE, 1 - EDGE)
    return np.log(p / (1 - p))


def patient_network_scores(slices, aggregate):
    """{patient: probability} of the `last` rows of val_slices files (slices to patients by
    `aggregate`, as egfrmet.inference.scoring does)."""
    rows = slices[slices.selection == NETWORK]
    patients = sorted(set(rows.patient_id))
    values = aggregate_slices(rows.probability.to_numpy(), rows.patient_id.to_numpy(), patients, aggregate)
    return pd.Series(values, index=pd.Index(patients, name="patient_id"))


def inner_network_scores(inner_slices, inner):
    """T's network scores from the inner trainings' val_slices (one frame per inner fold, in
    order), checked to be inner-validation rows only: each patient of T scored once, by the
    inner training that held it out, and no one else."""
    expected = inner.set_index("patient_id").fold
    seen = {}
    for position, rows in enumerate(inner_slices):
        number = int(rows.inner.iloc[0]) if "inner" in rows and len(rows) else position  # which inner training
        for patient in set(rows.patient_id):
            if expected.get(patient) != number:
                raise InputError(
                    f"inner training {number} scored patient {patient}, who is not in its inner validation fold"
                )
            seen[patient] = number
    missing = sorted(set(expected.index) - set(seen))
    if missing:
        raise InputError(f"no inner training scored training patients {missing}")
    return pd.concat(inner_slices, ignore_index=True)


def cross_fitted(fit, X, labels, inner, what):
    """Out-of-inner-fold probabilities of T: `fit(X_train, y_train)` on the other inner folds,
    scored on each inner fold in turn. `inner`: each row's inner fold; `what`: for errors."""
    out = np.empty(len(labels))
    for number in np.unique(inner):
        held = inner == number
        try:
            model = fit(rows_at(X, ~held), labels[~held])
        except ValueError as error:
            raise InputError(
                f"{what}, inner fold {number}: {error} (fewer inner folds, train.inner.k, or one C leave more)"
            ) from None
        out[held] = model.predict_proba(rows_at(X, held))[:, 1]
    return out


def rows_at(X, mask):
    return X[mask] if isinstance(X, np.ndarray) else X.iloc[np.flatnonzero(mask)]


def stack_inputs(scores, clinical, with_clinical):
    """The stack's table: each component's logit, then (optionally) the clinical variables."""
    table = pd.DataFrame({name: logit(values) for name, values in scores.items()}, index=scores.index)
    return table.join(clinical) if with_clinical else table


def stack_pipeline(components, kinds, settings, labels, seed):
    """Standardised logits (and the clinical design) into an L2 logistic regression with C by
    inner CV (egfrmet.baselines.methods' model)."""
    parts = [("scores", StandardScaler(), list(components))]
    if settings["clinical_variables"]:
        parts.append(("clinical", clinical_inputs.design(kinds), list(kinds)))
    model = baselines.l2_logistic_cv(settings, labels, seed, scoring=settings["scoring"])
    return make_pipeline(ColumnTransformer(parts), model)


def fold_scores(*, table, fold, outer_slices, inner_slices, baseline_rows, features, clinical, kinds, settings):
    """(rows of `fusion` and `auto` for V, a report of what was fitted and chosen) for outer
    fold `fold`. `outer_slices`/`inner_slices`: the fold's outer val_slices and its inner
    trainings' (None without the network among the candidates); `baseline_rows`: the fold's
    baseline scores of V (egfrmet.baselines.methods)."""
    table = of_repeat(table, fold)
    train = settings["train"]
    inner = inner_folds(table, outer_fold=fold, k=train["inner"]["k"], seed=train["seed"])
    inner = inner.sort_values("patient_id").reset_index(drop=True)
    val = table[table.fold == fold].sort_values("patient_id")
    inputs = {"features": features, "clinical": clinical, "kinds": kinds}
    on_train, on_val = {}, {}
    for method in candidates(settings):
        if method == NETWORK:
            on_train[method] = patient_network_scores(inner_network_scores(inner_slices, inner), settings["aggregate"])
            on_val[method] = patient_network_scores(outer_slices, settings["aggregate"])
        elif method != FUSION:
            on_train[method] = inner_baseline_scores(method, inner, inputs, settings["baselines"], f"fold {fold}")
            on_val[method] = baseline_rows[baseline_rows.selection == method].set_index("patient_id").probability
        missing = sorted(set(val.patient_id) - set(on_val[method].index)) if method in on_val else []
        if missing:
            raise InputError(f"fold {fold}: {method} has no score of validation patients {missing}")
    report = {"fold": int(fold), "repeat": repeat_number(table)}
    fused = []
    if settings["fusion"]["components"]:
        on_train[FUSION], on_val[FUSION], report["fusion"] = fuse(on_train, on_val, inner, val, inputs, settings, fold)
        fused = [FUSION]
    labels = pd.Series(inner.label.to_numpy().astype(int), index=inner.patient_id.to_numpy())
    picked, report["candidates"] = choose(on_train, labels)
    report["auto"] = picked
    log.info(
        "fold %d: inner-CV AUC of the training patients: %s; auto picks %s",
        fold,
        fmt(report["candidates"]),
        report["auto"],
    )
    sources = {name: name for name in fused} | {AUTO: picked}  # auto's rows: its pick's scores
    rows = [
        baselines.score_rows(name, on_val[source].loc[val.patient_id].to_numpy(), val, fold, repeat_number(table))
        for name, source in sources.items()
    ]
    return pd.concat(rows, ignore_index=True), report


def inner_baseline_scores(method, inner, inputs, settings, where):
    """T's leak-free scores of a baseline: refitted on the other inner folds, each time."""
    X = baselines.matrix(method, inputs["features"], inputs["clinical"], inner.patient_id)

    def fit(X_part, y_part):
        return baselines.fit(method, X_part, y_part, settings, inputs["kinds"])

    y = inner.label.to_numpy().astype(int)
    values = cross_fitted(fit, X, y, inner.fold.to_numpy(), f"{where} {method}")
    return pd.Series(values, index=inner.patient_id.to_numpy())


def fuse(on_train, on_val, inner, val, inputs, settings, fold):
    """The stack: T's leak-free scores (its own, cross-fitted over the inner folds, for
    `auto`), V's from the stack fitted on all of T, and what it fitted."""
    fusion = settings["fusion"]
    y = inner.label.to_numpy().astype(int)
    stack_train = stack_table(on_train, inner.patient_id, inputs["clinical"], fusion)
    stack_val = stack_table(on_val, val.patient_id, inputs["clinical"], fusion)

    def fit(X_part, y_part):
        pipeline = stack_pipeline(fusion["components"], inputs["kinds"], fusion, y_part, settings["baselines"]["seed"])
        return pipeline.fit(X_part, y_part)

    own = cross_fitted(fit, stack_train, y, inner.fold.to_numpy(), f"fold {fold} fusion")
    stack = fit(stack_train, y)
    scored = stack.predict_proba(stack_val)[:, 1]
    index = inner.patient_id.to_numpy()
    return pd.Series(own, index=index), pd.Series(scored, index=val.patient_id.to_numpy()), describe_stack(stack)


def choose(scores, labels):
    """auto's choice: the method of `scores` ({method: probability by patient}) of best AUC
    against `labels` (by patient), the first on ties (candidates' order); and every AUC."""
    aucs = {m: auc(labels, values.loc[labels.index]) for m, values in scores.items()}
    return max(aucs, key=aucs.get), aucs


def stack_table(scores, patients, clinical, fusion):
    frame = pd.DataFrame({c: scores[c].loc[list(patients)].to_numpy() for c in fusion["components"]})
    frame.index = pd.Index(list(patients), name="patient_id")
    return stack_inputs(frame, clinical, fusion["clinical_variables"])


def describe_stack(stack):
    last = stack[-1]
    names = stack[0].get_feature_names_out()
    return {"C": baselines.chosen_c(last), "coefficients": dict(zip(names, np.round(last.coef_[0], 6).tolist()))}


def candidates(settings):
    """What `auto` chooses among: the network's `last` when its inner trainings give scores,
    every baseline, and the fusion when configured (in that order: ties go to the first)."""
    methods = [NETWORK] if settings["network"] else []
    methods += list(settings["baselines"]["methods"])
    return methods + ([FUSION] if settings["fusion"]["components"] else [])


def fmt(aucs):
    return ", ".join(f"{m} {v:.3f}" for m, v in aucs.items())


def read_slices(paths):
    return [pd.read_csv(path, dtype={"patient_id": str}) for path in paths]


@command(
    "fit the fused model and the leak-free choice of method (auto) on one fold's training patients",
    required("--fold", "the outer fold whose validation patients are scored", type=int),
    required("--folds", "folds table (.tsv)"),
    (["--outer-slices"], {"nargs": "*", "default": [], "help": "the fold's outer val_slices.csv (network)"}),
    (["--inner-slices"], {"nargs": "*", "default": [], "help": "its inner trainings' val_slices.csv, in order"}),
    (["--baseline-scores"], {"nargs": "*", "default": [], "help": "the fold's baseline scores (.csv)"}),
    (["--features"], {"nargs": "*", "default": [], "help": "the patients' features (.csv)"}),
    (["--clinical"], {"nargs": "*", "default": [], "help": "the patients' clinical values (.json)"}),
    SETTINGS,
    required("--out", "validation patients' fusion and auto probabilities to write (.csv)"),
    required("--out-report", "what the fold fitted and chose (.json)"),
)
def run(*, fold, folds, outer_slices, inner_slices, baseline_scores, features, clinical, settings, out, out_report):
    """The `egfrmet fusion` subcommand: one outer fold's `fusion` and `auto` rows (the
    baselines' file format) and what each fitted and chose (.json)."""
    table = read_folds(folds)
    values, kinds = clinical_inputs.read(clinical)
    network = bool(settings["network"])
    rows, report = fold_scores(
        table=table,
        fold=fold,
        outer_slices=pd.concat(read_slices(outer_slices)) if network else None,
        inner_slices=read_slices(inner_slices) if network else None,
        baseline_rows=pd.concat(read_slices(baseline_scores)) if baseline_scores else None,
        features=baselines.read_features(features),
        clinical=values,
        kinds=kinds,
        settings=settings,
    )
    with atomic_output(out) as tmp:
        rows.to_csv(tmp, index=False)
    with atomic_output(out_report) as tmp:
        tmp.write_text(json.dumps(report, indent=2), encoding="utf-8")  # candidates in their order
