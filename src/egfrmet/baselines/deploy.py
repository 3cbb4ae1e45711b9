"""The fused model and `auto`'s choice for new patients (`train.predict_with: fusion | auto`),
fitted on every cross-validation patient once the cross-validation has measured them.

Everything fitted is written as plain numbers (egfrmet.baselines.plain), never a pickle.

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

import numpy as np
import pandas as pd

from egfrmet.arguments import SETTINGS, command, required
from egfrmet.baselines import clinical as clinical_inputs
from egfrmet.baselines import fusion, plain
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
    """What new patients need, as plain numbers (egfrmet.baselines.plain): the method they
    get, its components, each fitted baseline and the stack, and what auto's choice saw."""
    scores = oof_scores(patient_scores, settings["aggregate"])
    labels = patient_scores.drop_duplicates("patient_id").set_index("patient_id").label.astype(int)
    candidates = {m: scores[m] for m in fusion.candidates(settings)}
    picked, aucs = fusion.choose(candidates, labels) if predict_with == fusion.AUTO else (predict_with, {})
    components = settings["fusion"]["components"] if picked == fusion.FUSION else [picked]
    y = labels.to_numpy()
    models = {}
    for method in components:
        if method == fusion.NETWORK:
            continue
        X = baselines.matrix(method, features, clinical, labels.index)
        columns = baselines.inputs(method, features, clinical)[0].columns
        models[method] = plain.export(baselines.fit(method, X, y, settings["baselines"], kinds), columns)
    deployed = {
        "method": picked,
        "components": list(components),
        "models": models,
        "stack": None,
        "clinical_variables": bool(settings["fusion"]["clinical_variables"]),
        "oof_auc": aucs,
    }
    if picked == fusion.FUSION:
        inputs = fusion.stack_table(scores, labels.index, clinical, settings["fusion"])
        stack = fusion.stack_pipeline(components, kinds, settings["fusion"], y, settings["baselines"]["seed"])
        stack = stack.fit(inputs, y)
        deployed["stack"] = plain.export(stack, inputs.columns)
        deployed["stack_fit"] = fusion.describe_stack(stack)
    return deployed


def apply(deployed, *, network, features, clinical, patients):
    """Probabilities of `patients` from `deployed` (fit's): `network` is the network's
    probability by patient (its fold models' mean), the rest comes from plain numbers."""
    if is_network(deployed):
        return network.loc[patients].to_numpy(dtype=float)
    parts = {}
    for method in deployed["components"]:
        if method == fusion.NETWORK:
            parts[method] = network.loc[patients].to_numpy(dtype=float)
        else:
            table = clinical if method == "clinical" else features
            parts[method] = plain.apply(deployed["models"][method], table.loc[list(patients)])
    if deployed["stack"] is None:  # one component: the method itself
        return parts[deployed["method"]]
    table = pd.DataFrame(parts, index=pd.Index(patients, name="patient_id"))
    inputs = fusion.stack_inputs(table, clinical.reindex(list(patients)), deployed["clinical_variables"])
    return plain.apply(deployed["stack"], inputs)


def is_network(deployed):
    """Whether the method is a network selection itself (bundle.network_method)."""
    return bool(deployed.get("network"))


def needs(deployed):
    """What scoring with `deployed` reads: the network, image features, clinical values."""
    if is_network(deployed):
        return {"network": True, "features": False, "deep_features": False, "clinical": False}
    components = set(deployed["components"])
    return {
        "network": fusion.NETWORK in components,
        "features": bool(components - {fusion.NETWORK, "clinical", baselines.DEEP}),
        "deep_features": baselines.DEEP in components,
        "clinical": "clinical" in components or (deployed["stack"] is not None and deployed["clinical_variables"]),
    }


@command(
    "fit the fused model or auto's pick on every cross-validation patient, for new patients",
    required("--patient-scores", "patient_scores.csv of evaluate (out-of-fold scores of every method)"),
    (["--features"], {"nargs": "*", "default": [], "help": "the cross-validation patients' features (.csv)"}),
    (["--clinical"], {"nargs": "*", "default": [], "help": "their clinical values (.json)"}),
    SETTINGS,
    required("--predict-with", "fusion or auto"),
    required("--out", "what new patients get, its fitted models as plain numbers (.json)"),
)
def run(*, patient_scores, features, clinical, settings, predict_with, out):
    """The `egfrmet deploy` subcommand: fit what `predict_with` (fusion or auto) needs on every
    cross-validation patient; write it as plain numbers (.json, read by egfrmet bundle)."""
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
    log.info(
        "new patients get %s (of %s); out-of-fold AUC %s",
        deployed["method"],
        deployed["components"],
        deployed["oof_auc"],
    )
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(deployed, indent=1, sort_keys=True, allow_nan=False), encoding="utf-8")
