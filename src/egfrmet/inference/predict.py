"""Prediction for patients never trained on (split test, an external cohort, or no label):
scored by a model bundle (egfrmet.inference.bundle), the run's own or one from elsewhere,
with the bundle's method, slice aggregate and threshold. A network is scored as
egfrmet.inference.scoring scores every ensemble: the aggregate of the models' mean slice
probabilities; each model's own aggregate is kept beside it."""

import json
import logging

import pandas as pd

from egfrmet import paths
from egfrmet.arguments import CROPS, SETTINGS, THREADS, command, required, settings
from egfrmet.baselines import clinical as clinical_inputs
from egfrmet.baselines import deploy
from egfrmet.baselines import methods as baselines
from egfrmet.inference import bundle as bundles
from egfrmet.inference.scoring import ensemble_scores
from egfrmet.io.files import atomic_output, crop_files
from egfrmet.metrics import auc, bootstrap_auc, bootstrap_settings, threshold_metrics

log = logging.getLogger(__name__)


def network_table(models, crops, patients, *, model_settings, aggregate, batch_size, inference):
    """Each model's aggregate and their mean (`probability`) for `patients`, from `models`
    ({name: network}) on `inference`'s device, precision and memory format."""
    from egfrmet.training.runtime import inference as run_options
    from egfrmet.training.runtime import pick_device

    device = pick_device(inference["device"])
    return ensemble_scores(
        [model.to(device) for model in models.values()],
        crops,
        patients,
        aggregate=aggregate,
        device=device,
        batch_size=batch_size,
        names=list(models),
        model_settings=model_settings,
        **run_options(inference, device),
    )


def score(models, crops, patients, *, model_settings, aggregate, threshold, batch_size, inference):
    """Patients scored by the model files `models` (.pt, e.g. `egfrmet scan --models`): each
    model's aggregate, their mean (`probability`) and the class at `threshold` (`predicted`)."""
    import torch

    from egfrmet.training.networks import load_model

    loaded = {paths.model_name(path): load_model(path, model_settings, torch.device("cpu")) for path in models}
    table = network_table(
        loaded,
        crops,
        patients,
        model_settings=model_settings,
        aggregate=aggregate,
        batch_size=batch_size,
        inference=inference,
    )
    table.insert(2, "predicted", (table.probability >= threshold).astype(int))
    return table


def score_with_bundle(folder, manifest, method, *, crops, features, clinical, patients, batch_size, inference):
    """Patients scored by a loaded bundle (bundle.load): `probability` and `predicted` at the
    bundle's threshold; with a network, its probability (`network`) and each model's.
    `features`, `clinical`: tables indexed by patient_id (what the method reads)."""
    bundles.check_patients(manifest, features, clinical, patients)
    table = pd.DataFrame({"patient_id": list(patients)})
    network = None
    if manifest["network"]:
        import torch

        models = bundles.network_models(folder, manifest, torch.device("cpu"))
        table = network_table(
            models,
            crops,
            patients,
            model_settings=manifest["network"]["model"],
            aggregate=manifest["network"]["aggregate"],
            batch_size=batch_size,
            inference=inference,
        )
        table = table.rename(columns={"probability": "network"})
        network = table.set_index("patient_id").network
    probability = deploy.apply(method, network=network, features=features, clinical=clinical, patients=list(patients))
    table.insert(1, "probability", probability)
    table.insert(2, "predicted", (table.probability >= manifest["threshold"]).astype(int))
    return table


def description(manifest):
    """What scored the patients, for the tables: the method, its components, the bundle's models."""
    what = manifest["method"]
    count = len(manifest["network"]["models"]) if manifest["network"] else 0
    models = f": {count} network models" if count else ""
    parts = "" if what["kind"] == "network" else " (" + " + ".join(what["components"]) + ")"
    return f"{what['name']}{parts}{models}"


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
    "score patients never trained on with a model bundle (the run's own, or one from elsewhere)",
    required("--bundle", "the model bundle (folder)"),
    CROPS,
    required("--patients", "JSON object: patient_id -> [label (0, 1 or null), cohort ('' for none)]", type=json.loads),
    required("--locked", "the run's preprocessing settings (settings.locked_settings), as JSON", type=settings),
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
        ["--features"],
        {"nargs": "*", "default": [], "help": "the patients' features (.csv), when the method reads them"},
    ),
    (
        ["--clinical"],
        {"nargs": "*", "default": [], "help": "the patients' clinical values (.json), when it reads them"},
    ),
)
def run(
    *,
    bundle,
    crops,
    patients,
    locked,
    settings,
    evaluate_settings,
    inference,
    threads,
    out,
    out_metrics,
    features=(),
    clinical=(),
):
    """The `egfrmet predict` subcommand. `patients`: {patient_id: [label or None, cohort]};
    `locked`: the settings that made this run's crops and features, which must be the
    bundle's; `inference`: device, precision and channels_last; `settings`: predict's."""
    from egfrmet.training.runtime import set_up

    set_up(threads)
    manifest, method = bundles.load(bundle, locked)
    ids = sorted(patients)
    values, _ = clinical_inputs.read(clinical)
    table = score_with_bundle(
        bundle,
        manifest,
        method,
        crops=crop_files(crops),
        features=baselines.read_features(features),
        clinical=values,
        patients=ids,
        batch_size=settings["batch_size"],
        inference=inference,
    )
    what = description(manifest)
    table.insert(3, "label", pd.array([patients[p][0] for p in ids], dtype="Int64"))
    table.insert(4, "cohort", [patients[p][1] for p in ids])
    table.insert(5, "models", what)
    bootstrap = bootstrap_settings(evaluate_settings)
    metrics = prediction_metrics(table, threshold=manifest["threshold"], bootstrap=bootstrap)
    metrics.insert(0, "models", what)
    with atomic_output(out) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_output(out_metrics) as tmp:
        metrics.to_csv(tmp, index=False)
    log.info("predicted %d patients with %s:\n%s", len(table), what, table.to_string(index=False))
    log.info("metrics:\n%s", metrics.to_string(index=False))
