"""Prediction for patients never trained on (split test, or no label): an ensemble of the K
fold models (or, for inner_ensemble, of every fold's inner models), scored as
egfrmet.inference.scoring scores every ensemble: the aggregate (evaluate.metric) of the models' mean
slice probabilities. Each model's own aggregate is kept beside it."""

import json
import logging
import re
from pathlib import Path

import pandas as pd
import torch

from egfrmet.arguments import CROPS, MODEL_SETTINGS, SETTINGS, THREADS, command, required, settings
from egfrmet.baselines import clinical as clinical_inputs
from egfrmet.baselines import deploy
from egfrmet.baselines import methods as baselines
from egfrmet.inference.scoring import patient_table, slice_probabilities
from egfrmet.io.files import atomic_output, crop_files, read_crops
from egfrmet.metrics import auc, bootstrap_auc, bootstrap_settings, threshold_metrics
from egfrmet.training.model import load_model, takes_lesion_mask
from egfrmet.training.runtime import inference as run_options
from egfrmet.training.runtime import pick_device, set_up

log = logging.getLogger(__name__)


def model_name(path):
    """A model's column: fold_2 for results/models/fold2/model.pt, fold_2_inner_1 for an
    inner model (results/models/fold2/inner1/model.pt)."""
    parts = [p for p in Path(path).parent.parts if re.fullmatch(r"(fold|inner)\d+", p)]
    named = Path(path).parent.name if Path(path).name == "model.pt" else Path(path).stem  # e.g. final
    return "_".join(re.sub(r"(\D+)(\d+)", r"\1_\2", p) for p in parts) or named


def ensemble_scores(
    models, crops, patients, *, aggregate, device, batch_size, bf16, channels_last, names=None, lesion_channel=False
):
    """The ensemble's probability and each model's aggregate (columns `names`, default
    fold_0, fold_1, ...) for each patient id in `patients`. `lesion_channel`: the models take
    the lesion mask as their last channel (files.read_crops)."""
    names = names or [f"fold_{k}" for k in range(len(models))]
    stacks = [torch.from_numpy(read_crops(crops, p, lesion_channel)) for p in patients]
    owner = [p for p, stack in zip(patients, stacks) for _ in range(len(stack))]
    probs = slice_probabilities(
        models, torch.cat(stacks), device, batch_size=batch_size, bf16=bf16, channels_last=channels_last
    )
    return patient_table(probs.numpy(), owner, patients, aggregate, names)


def score(models, crops, patients, *, model_settings, aggregate, threshold, batch_size, inference):
    """Patients scored by the model files `models`: each model's aggregate, their mean
    (`probability`) and the class at `threshold` (`predicted`). `inference`: device,
    precision and channels_last, as validation used them."""
    device = pick_device(inference["device"])
    table = ensemble_scores(
        [load_model(path, model_settings, device) for path in models],
        crops,
        patients,
        aggregate=aggregate,
        device=device,
        batch_size=batch_size,
        names=[model_name(path) for path in models],
        lesion_channel=takes_lesion_mask(model_settings),
        **run_options(inference, device),
    )
    table.insert(2, "predicted", (table.probability >= threshold).astype(int))
    return table


def with_deployed(table, path, features, clinical, threshold):
    """The table with egfrmet.baselines.deploy's probability (the fold models' mean kept as `network`),
    and what new patients got."""
    deployed = deploy.load(path)
    values, _ = clinical_inputs.read(clinical)
    network = table.set_index("patient_id").probability
    probability = deploy.apply(
        deployed,
        network=network,
        features=baselines.read_features(features),
        clinical=values,
        patients=list(network.index),
    )
    table = table.assign(probability=probability, predicted=(probability >= threshold).astype(int))
    table.insert(3, "network", network.to_numpy())
    what = f"{deployed['method']} (" + " + ".join(deployed["components"]) + ")"
    return table, what


def prediction_metrics(table, *, threshold, bootstrap):
    labelled = table[table.label.notna()]
    row = {"n_patients": len(table), "n_labelled": len(labelled), "n_positive": int((labelled.label == 1).sum())}
    if labelled.label.nunique() == 2:
        labels = labelled.label.astype(int)
        row["auc"] = auc(labels, labelled.probability)
        row["auc_low"], row["auc_high"] = bootstrap_auc(labels, labelled.probability, **bootstrap)
    if len(labelled):
        row |= threshold_metrics(labelled.label.astype(int), labelled.probability, threshold)
    return pd.DataFrame([row])


@command(
    "score patients never trained on with the mean of the fold models",
    (["--models"], {"nargs": "+", "required": True, "help": "the fold models (.pt)"}),
    required("--selection", "which selection kept them (train.predict_with), for the tables"),
    CROPS,
    required("--patients", "JSON object: patient_id -> label (0, 1 or null)", type=json.loads),
    MODEL_SETTINGS,
    SETTINGS,
    required("--evaluate-settings", "the evaluate config section, as JSON", type=settings),
    required(
        "--inference",
        "device, precision and channels_last of the train config section, as JSON",
        type=settings,
    ),
    THREADS,
    required("--out", "predictions to write (.csv)"),
    required("--out-metrics", "metrics to write (.csv)"),
    (
        ["--deployed"],
        {"nargs": "?", "default": "", "help": "egfrmet deploy's fit, for predict_with fusion or auto"},
    ),
    (["--features"], {"nargs": "*", "default": [], "help": "the patients' features (.csv), with --deployed"}),
    (
        ["--clinical"],
        {"nargs": "*", "default": [], "help": "the patients' clinical values (.json), with --deployed"},
    ),
)
def run(
    *,
    models,
    selection,
    crops,
    patients,
    model_settings,
    settings,
    evaluate_settings,
    inference,
    threads,
    out,
    out_metrics,
    deployed="",
    features=(),
    clinical=(),
):
    """The `egfrmet predict` subcommand. `patients`: {patient_id: label or None};
    `inference`: device, precision and channels_last, as validation used them. `deployed`:
    egfrmet.baselines.deploy's file for predict_with fusion or auto, which then gives the probability
    from the fold models' (`last`), the patients' `features` (.csv) and `clinical` values."""
    set_up(threads)
    ids = sorted(patients)
    table = score(
        models,
        crop_files(crops),
        ids,
        model_settings=model_settings,
        aggregate=evaluate_settings["metric"],
        threshold=settings["threshold"],
        batch_size=settings["batch_size"],
        inference=inference,
    )
    if deployed:
        table, selection = with_deployed(table, deployed, features, clinical, settings["threshold"])
    table.insert(3, "label", pd.array([patients[p] for p in ids], dtype="Int64"))
    table.insert(4, "models", f"{selection}: {len(models)} models")
    bootstrap = bootstrap_settings(evaluate_settings)
    metrics = prediction_metrics(table, threshold=settings["threshold"], bootstrap=bootstrap)
    metrics.insert(0, "models", f"{selection}: {len(models)} models")
    with atomic_output(out) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_output(out_metrics) as tmp:
        metrics.to_csv(tmp, index=False)
    log.info(
        "predicted %d patients with %d fold models (%s):\n%s",
        len(table),
        len(models),
        selection,
        table.to_string(index=False),
    )
    log.info("metrics:\n%s", metrics.to_string(index=False))
