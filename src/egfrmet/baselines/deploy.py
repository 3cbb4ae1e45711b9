"""The fused model and `auto`'s choice for new patients (`train.predict_with: fusion | auto`),
fitted on every cross-validation patient once the cross-validation has measured them.

- auto: the candidate (egfrmet.baselines.fusion.candidates) of best pooled out-of-fold AUC over the
  cross-validation patients (first repeat): the procedure whose honest figure is the summary's
  `auto` row, applied once more to all of them.
- A baseline: fitted on every cross-validation patient (egfrmet.baselines.methods.fit).
- fusion: the stack (egfrmet.baselines.fusion.stack_pipeline) fitted on every cross-validation
  patient's out-of-fold component scores; a new patient's components come from the network's
  fold models (their mean, egfrmet.inference.scoring) and the baselines fitted on everyone.
"""

import json
import logging
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from egfrmet.arguments import SETTINGS, command, required
from egfrmet.baselines import clinical as clinical_inputs
from egfrmet.baselines import fusion
from egfrmet.baselines import methods as baselines
from egfrmet.io.files import atomic_output

log = logging.getLogger(__name__)


def oof_scores(patient_scores, aggregate):
    """{method: out-of-fold probability by patient} from evaluate's patient_scores.csv (first
    repeat): a network's `aggregate` of slices, a one-score method's `patient` column."""
    out = {}
    for method, part in patient_scores.groupby("selection", sort=False):
        column = "patient" if part["patient"].notna().all() else aggregate
        out[method] = part.set_index("patient_id")[column].astype(float)
    return out


def fit(*, patient_scores, features, clinical, kinds, settings, predict_with):
    """What new patients need: the method they get, its fitted baselines and stack."""
    scores = oof_scores(patient_scores, settings["aggregate"])
    labels = patient_scores.drop_duplicates("patient_id").set_index("patient_id").label.astype(int)
    candidates = {m: scores[m] for m in fusion.candidates(settings)}
    picked, aucs = fusion.choose(candidates, labels) if predict_with == fusion.AUTO else (predict_with, {})
    components = settings["fusion"]["components"] if picked == fusion.FUSION else [picked]
    y = labels.to_numpy()
    fitted = {
        method: baselines.fit(
            method, baselines.matrix(method, features, clinical, labels.index), y, settings["baselines"], kinds
        )
        for method in components
        if method != fusion.NETWORK
    }
    stack = None
    if picked == fusion.FUSION:
        inputs = fusion.stack_table(scores, labels.index, clinical, settings["fusion"])
        stack = fusion.stack_pipeline(components, kinds, settings["fusion"], y, settings["baselines"]["seed"])
        stack = stack.fit(inputs, y)
    return {
        "method": picked,
        "components": list(components),
        "baselines": fitted,
        "stack": stack,
        "clinical_variables": settings["fusion"]["clinical_variables"],
        "aucs": aucs,
    }


def describe(deployed):
    text = {"method": deployed["method"], "components": deployed["components"], "oof_auc": deployed["aucs"]}
    if deployed["stack"] is not None:
        text["stack"] = fusion.describe_stack(deployed["stack"])
    return text


def apply(deployed, *, network, features, clinical, patients):
    """Probabilities of `patients`: `network` is the fold models' probability by patient
    (egfrmet.inference.predict), the rest is fitted here."""
    parts = {}
    for method in deployed["components"]:
        if method == fusion.NETWORK:
            parts[method] = network.loc[patients].to_numpy(dtype=float)
        else:
            X = baselines.matrix(method, features, clinical, patients)
            parts[method] = deployed["baselines"][method].predict_proba(X)[:, 1]
    if deployed["stack"] is None:
        return parts[deployed["method"]]
    table = pd.DataFrame(parts, index=pd.Index(patients, name="patient_id"))
    return deployed["stack"].predict_proba(fusion.stack_inputs(table, clinical, deployed["clinical_variables"]))[:, 1]


def load(path):
    """What `egfrmet deploy` wrote (.pkl)."""
    return pickle.loads(Path(path).read_bytes())


@command(
    "fit the fused model or auto's pick on every cross-validation patient, for new patients",
    required("--patient-scores", "patient_scores.csv of evaluate (out-of-fold scores of every method)"),
    (["--features"], {"nargs": "*", "default": [], "help": "the cross-validation patients' features (.csv)"}),
    (["--clinical"], {"nargs": "*", "default": [], "help": "their clinical values (.json)"}),
    SETTINGS,
    required("--predict-with", "fusion or auto"),
    required("--out", "the fitted methods to write (.pkl)"),
    required("--out-report", "what new patients get (.json)"),
)
def run(*, patient_scores, features, clinical, settings, predict_with, out, out_report):
    """The `egfrmet deploy` subcommand: fit what `predict_with` (fusion or auto) needs on every
    cross-validation patient; write it (.pkl, read by egfrmet predict) and what it is (.json)."""
    scores = pd.read_csv(patient_scores, dtype={"patient_id": str})
    scores = scores.assign(patient=scores.get("patient", np.nan))
    values, kinds = clinical_inputs.read(clinical)
    deployed = fit(
        patient_scores=scores,
        features=baselines.read_features(features),
        clinical=values,
        kinds=kinds,
        settings=settings,
        predict_with=predict_with,
    )
    log.info("new patients get %s: %s", deployed["method"], json.dumps(describe(deployed)))
    with atomic_output(out) as tmp:
        tmp.write_bytes(pickle.dumps(deployed))
    with atomic_output(out_report) as tmp:
        tmp.write_text(json.dumps(describe(deployed), indent=2, sort_keys=True), encoding="utf-8")
