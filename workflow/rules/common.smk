# Sheet loading, validation and input functions shared by every rule file.
import functools
import json
import os
import shlex
import sys
from pathlib import Path

import pandas as pd

from snakemake.settings.types import DeploymentMethod

# The Snakefile and every job import the package from this checkout, so a conda
# environment (--sdm conda) needs no install of egfrmet itself.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)


def python_path_prefix():
    """Rules run `python`: the interpreter that runs Snakemake (a venv's, even when it is not
    activated: `.venv/bin/snakemake`), or under --sdm conda the rule's environment's."""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return ""
    # no resolve(): a venv's python is a link out of the venv
    return f"export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH; "


# (Snakemake formats the prefix too: {{{{ }}}} in this f-string reaches bash as { }.)
shell.prefix(
    "set -euo pipefail; "
    + python_path_prefix()
    + f"export PYTHONPATH={shlex.quote(SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)

from egfrmet.errors import InputError
import egfrmet.paths as paths
from egfrmet.cohort.folds import by_centre as folds_by_centre
from egfrmet.cohort.folds import of_repeat
from egfrmet.cohort.folds import repeated as repeated_folds
from egfrmet.cohort.folds import inner_folds
from egfrmet.training.selection import outer_model_selection
import egfrmet.config.settings as derived
from egfrmet.config.sheet import PATH_COLUMNS, prediction_rows, read_sheet, training_rows
from egfrmet.config.schema import load_schema, validate_config

validate_config(config, load_schema("config"))
derived.check_config(config)
SHEET = read_sheet(
    config["samples"], load_schema("samples"), **derived.sheet_columns(config)
)
PATIENTS = list(SHEET.index)
TRAINING = list(training_rows(SHEET).index)
PREDICTING = list(prediction_rows(SHEET).index)
SYNTH_DIR = os.path.join(os.path.dirname(config["samples"]), "synth")
# Further image columns (inputs.sequences): each one crop channel after the T1c.
SEQUENCES = config["inputs"]["sequences"]
# Plain dicts: input functions run once per job, and a DataFrame lookup costs ten times more.
ROWS = SHEET.to_dict("index")


wildcard_constraints:
    patient="[A-Za-z0-9._-]+",
    fold="[0-9]+",
    # the configured sequences only (none: a pattern that matches nothing)
    sequence="|".join(SEQUENCES) or "(?!)",


def settings(*keys):
    """A config section as sorted JSON: a stable param that re-runs the rule when it changes."""
    section = config
    for key in keys:
        section = section[key]
    return json.dumps(section, sort_keys=True)


TRAIN_SETTINGS = derived.as_json(derived.train_settings(config))


def synthesised(path):
    return config["synth"]["enabled"] and os.path.dirname(path) == SYNTH_DIR


def check_files_at_parse_time():
    """Header checks for every patient before any job; a demo's files come from a rule."""
    if workflow.remote_exec:
        return  # the main process checked already
    try:
        from egfrmet.preprocessing.check import check_headers
    except ImportError:  # SimpleITK not in Snakemake's own env: the check rule does it
        return
    for patient, row in ROWS.items():
        columns = [*PATH_COLUMNS, *SEQUENCES]
        paths = {c: row[c] for c in columns if not synthesised(row[c])}
        check_headers(
            patient,
            paths,
            grid_tolerance=config["preprocess"]["grid_tolerance"],
            series_uid=row["series_uid"],
            sequences=SEQUENCES,
            resample=config["inputs"]["resample"],
        )


check_files_at_parse_time()
INNER_FOLDS = (
    list(range(config["train"]["inner"]["k"]))
    if derived.inner_trainings(config)
    else []
)
INNER_CV = "inner_cv" in config["train"]["select"]
ENSEMBLE = "inner_ensemble" in config["train"]["select"]
if config["train"]["final"] and not INNER_FOLDS:
    raise InputError(
        "train.final needs the inner folds' choice: put inner_cv or inner_ensemble in train.select"
    )


@functools.cache
def fold_table():
    """Folds assigned from the sheet; a fold without positives is an error naming it."""
    try:
        if config["folds"]["scheme"] == "centre":
            return folds_by_centre(training_rows(SHEET))
        return repeated_folds(
            training_rows(SHEET),
            k=config["folds"]["k"],
            seed=config["folds"]["seed"],
            repeats=config["folds"]["repeats"],
        )
    except InputError as error:
        raise error.about(path=config["samples"]) from None


# Leave-centre-out: one fold per centre, so the folds (and a centre that cannot be held
# out) are known, and refused, as the workflow is read.
if config["folds"]["scheme"] == "centre" and config["folds"]["repeats"] > 1:
    raise InputError(
        "folds.repeats > 1 with folds.scheme centre: leave-centre-out has one assignment"
    )
FOLDS = list(
    range(
        fold_table().fold.nunique()
        if config["folds"]["scheme"] == "centre" and TRAINING
        else config["folds"]["k"] * config["folds"]["repeats"]
    )
)


def fold_check(wildcards):
    """The folds rule's (empty) input: assigning folds (and inner folds) while the DAG is
    built stops a run that needs them before any job, and leaves preprocessing runs alone.
    """
    table = fold_table()
    for fold in FOLDS if INNER_FOLDS else []:
        try:
            inner_folds(
                table, outer_fold=fold, k=len(INNER_FOLDS), seed=config["train"]["seed"]
            )
        except InputError as error:
            raise error.about(path=config["samples"]).prefixed(
                f"training patients of fold {fold} (train.inner.k = {len(INNER_FOLDS)}): "
            ) from None
    return []


def outer_training_crops(wildcards):
    """Crops of the patients an inner training may read: the fold's training patients."""
    table = of_repeat(fold_table(), int(wildcards.fold))
    patients = table.patient_id[table.fold != int(wildcards.fold)]
    return expand("results/crops/{patient}.npz", patient=patients)


def inner_choice(wildcards):
    """The inner folds' choice, for an outer training when inner_cv is a selection."""
    return (
        {"choice": f"results/models/fold{wildcards.fold}/inner_choice.json"}
        if INNER_CV
        else {}
    )


def choice_option(wildcards):
    return (
        f"--choice results/models/fold{wildcards.fold}/inner_choice.json"
        if INNER_CV
        else ""
    )


def inner_models(wildcards):
    """One fold's inner models, each at its own best inner-validation epoch."""
    return expand(
        "results/models/fold{fold}/inner{inner}/model.pt",
        fold=wildcards.fold,
        inner=INNER_FOLDS,
    )


def outer_validation_crops(wildcards):
    """Crops of one fold's validation patients, which the inner ensemble scores."""
    table = fold_table()
    patients = table.patient_id[table.fold == int(wildcards.fold)]
    return expand("results/crops/{patient}.npz", patient=patients)


def validation_slices(wildcards=None):
    """Every fold's validation slice probabilities: the outer training's selections and,
    with inner_ensemble, the inner models' mean."""
    names = ["val_slices"] + (["inner_ensemble_slices"] if ENSEMBLE else [])
    return expand("results/models/fold{fold}/{name}.csv", fold=FOLDS, name=names)


def first_repeat_choices(wildcards=None):
    """The inner folds' choices of the first repeat's folds, for the final model."""
    return expand(
        "results/models/fold{fold}/inner_choice.json",
        fold=FOLDS[: len(FOLDS) // config["folds"]["repeats"]],
    )


def held_out_option(wildcards=None):
    """Under leave-centre-out, the centre each fold holds out, for per-centre summary rows."""
    if config["folds"]["scheme"] != "centre":
        return ""
    table = fold_table()
    centres = {str(f): f"centre {c}" for f, c in zip(table.fold, table.center)}
    return f"--held-out {shlex.quote(json.dumps(centres, sort_keys=True))}"


def prediction_models(wildcards=None):
    """Whose models score new patients: train.predict_with's fold models, or for
    inner_ensemble every fold's inner models."""
    template = paths.prediction_models(config["train"]["predict_with"])
    inner = {"inner": INNER_FOLDS} if "{inner}" in template else {}
    return expand(template, fold=FOLDS, **inner)


BASELINES = config["baselines"]["methods"]
FUSION = config["fusion"]["components"]
FEATURE_SETTINGS = derived.as_json(derived.feature_settings(config))
IMAGE_BASELINES = derived.image_baselines(config)


def patients_inputs(patients, clinical=None):
    """Features and clinical values of `patients`, those the configured methods read
    (`clinical`: whether the clinical values are read; by default, when the clinical baseline
    or the fusion's stack reads them)."""
    if clinical is None:
        clinical = derived.reads_clinical(config)
    return {
        "features": expand(
            "results/features/{patient}.csv",
            patient=patients if IMAGE_BASELINES else [],
        ),
        "clinical": expand(
            "results/clinical/{patient}.json", patient=patients if clinical else []
        ),
    }


def fold_inputs(wildcards):
    """Features (and clinical values) of the patients of the fold's repeat: the baseline fits
    on its training patients and scores its validation patients."""
    patients = of_repeat(fold_table(), int(wildcards.fold)).patient_id
    return patients_inputs(patients, clinical="clinical" in BASELINES)


def clinical_values(wildcards):
    """The patient's clinical cells (text, '' = missing) of the config's `clinical` columns,
    as sorted JSON."""
    row = ROWS[wildcards.patient]
    return json.dumps({name: row[name] for name in config["clinical"]}, sort_keys=True)


# The fused model (egfrmet.baselines.fusion): its settings and a fold's inputs.
FUSION_SETTINGS = derived.fusion_settings(config)


def fusion_network(wildcards):
    """The fold's outer and inner validation scores of the network, when `last` is a candidate."""
    if not FUSION_SETTINGS["network"]:
        return {"outer": [], "inner": []}
    fold = wildcards.fold
    return {
        "outer": f"results/models/fold{fold}/val_slices.csv",
        "inner": expand(
            "results/models/fold{fold}/inner{inner}/val_slices.csv",
            fold=fold,
            inner=INNER_FOLDS,
        ),
    }


def fusion_inputs(wildcards):
    """The baselines' inputs (to refit them on the inner folds), their scores of the fold's
    validation patients, and the clinical values when the stack reads them too."""
    patients = of_repeat(fold_table(), int(wildcards.fold)).patient_id
    scores = [f"results/baselines/fold{wildcards.fold}.csv"] if BASELINES else []
    return patients_inputs(patients) | {"baselines": scores}


def baseline_scores(wildcards=None):
    """Every fold's one-score-per-patient methods: the baselines, and the fusion's rows."""
    base = expand("results/baselines/fold{fold}.csv", fold=FOLDS) if BASELINES else []
    return base + expand("results/fusion/fold{fold}.csv", fold=FOLDS if FUSION else [])


# Grad-CAM explains each fold's model.pt: the selection whose model that is.
EXPLAINED_SELECTION = outer_model_selection(
    config["train"]["select"], config["train"]["predict_with"]
)


def explained_patients():
    """{fold: the patients it validated} for the first repeat's folds, each one Grad-CAM
    rule; empty when the folds cannot be assigned (a run that needs them then stops with the
    folds' own error, explained_maps)."""
    if not (TRAINING and config["explain"]["enabled"]):
        return {}
    try:
        table = of_repeat(fold_table(), 0)  # the first repeat's folds start at 0
    except InputError:
        return {}
    return {int(f): list(part.patient_id) for f, part in table.groupby("fold")}


EXPLAINED = explained_patients()


def explained_maps(wildcards):
    fold_table()  # infeasible folds: their error, rather than a missing rule's
    return expand("results/explain/{patient}.npz", patient=TRAINING)


# Stage settings derived from config, shared with `egfrmet scan` (egfrmet.config.settings).
INFERENCE_SETTINGS = derived.as_json(derived.inference_settings(config))
MODEL_SETTINGS = derived.as_json(derived.model_settings(config))
MASK_LABELS = " ".join(str(v) for v in config["preprocess"]["mask_labels"])
BRAIN_MASK_SETTINGS = derived.as_json(derived.brain_mask_settings(config))
CROP_SETTINGS = derived.as_json(derived.crop_settings(config))


def synth_label(wildcards):
    return int(ROWS[wildcards.patient]["label"])


def synth_center(wildcards):
    return ROWS[wildcards.patient]["center"] or "A"


def patient_image(wildcards):
    return ROWS[wildcards.patient]["image"]


def patient_masks(wildcards):
    """The sheet's lesion mask, and its brain mask when it gives one (else the workflow
    computes it), as named inputs for unpack()."""
    row = ROWS[wildcards.patient]
    return {
        "mask": row["mask"],
        "brain_mask": [row["brain_mask"]] if row["brain_mask"] else [],
    }


def patient_files(wildcards):
    """Every file of the patient's sheet row the check reads, as named inputs."""
    row = ROWS[wildcards.patient]
    sequences = {f"sequence_{name}": row[name] for name in SEQUENCES}
    return patient_masks(wildcards) | {"image": patient_image(wildcards)} | sequences


def patient_sequence(wildcards):
    return ROWS[wildcards.patient][wildcards.sequence]


def sequence_files(folder):
    """An input function: one patient's further sequences under results/<folder>/<name>/,
    in inputs.sequences' order (the order the commands pair them with the names)."""

    def files(wildcards):
        return [
            f"results/{folder}/{name}/{wildcards.patient}.nii.gz" for name in SEQUENCES
        ]

    return files


def sheet_sequence_options(wildcards):
    """`--sequence NAME PATH` of the sheet's own files, for the check."""
    row = ROWS[wildcards.patient]
    return " ".join(f"--sequence {name} {shlex.quote(row[name])}" for name in SEQUENCES)


def series_option(wildcards):
    """`--series-uid UID` for a patient whose DICOM folder holds several series."""
    uid = ROWS[wildcards.patient]["series_uid"]  # digits and dots: the schema's pattern
    return f"--series-uid {uid}" if uid else ""


RESAMPLE_OPTION = "--resample" if config["inputs"]["resample"] else ""


# Only sheets that name a series pay for a param function in every check and bias job.
SERIES_OPTION = series_option if SHEET["series_uid"].any() else ""


def brain_mask_option(wildcards):
    """`--brain-mask PATH` (quoted) for a patient with a brain mask, else nothing."""
    path = ROWS[wildcards.patient]["brain_mask"]
    return f"--brain-mask {shlex.quote(path)}" if path else ""


def brain_mask_settings(wildcards):
    """Settings of the computed brain mask; none for a patient who brings one, so that
    changing them re-runs only the patients whose mask is computed."""
    return "{}" if ROWS[wildcards.patient]["brain_mask"] else BRAIN_MASK_SETTINGS


def preprocessed(patients):
    return expand("results/crops/{patient}.npz", patient=patients) + expand(
        "results/qc/{patient}.png", patient=patients
    )


def fold_table_records(wildcards):
    """The fold assignment as sorted records: the folds rule's param and its whole input."""
    return fold_table().astype({"label": int}).to_dict("records")


def training_crops(wildcards=None):
    return expand("results/crops/{patient}.npz", patient=TRAINING)


def prediction_crops(wildcards=None):
    return expand("results/crops/{patient}.npz", patient=PREDICTING)


def prediction_patients():
    """patient_id -> label (or None), as sorted JSON for `egfrmet predict --patients`."""
    labels = SHEET.loc[PREDICTING, "label"]
    return json.dumps(
        {p: (None if pd.isna(v) else int(v)) for p, v in labels.items()}, sort_keys=True
    )


def model_card_inputs(wildcards=None):
    """What the model card reads beyond the summary: the clinical values (missing cells), the
    fusion's reports (what auto chose) and the Grad-CAM shares, where the run has them.
    """
    explained = TRAINING and config["explain"]["enabled"]
    return {
        "clinical": (
            expand("results/clinical/{patient}.json", patient=TRAINING)
            if config["clinical"]
            else []
        ),
        "reports": expand(
            "results/fusion/fold{fold}.json", fold=FOLDS if FUSION else []
        ),
        "explanations": ["results/evaluation/explanations.csv"] if explained else [],
        "deployed": ["results/models/deployed.json"] if DEPLOYED else [],
    }


MODEL_CARD_SETTINGS = derived.as_json(derived.model_card_settings(config))


# predict_with fusion or auto: egfrmet deploy fits them on every cross-validation patient, and
# predict reads the new patients' features and clinical values too.
DEPLOYED = config["train"]["predict_with"] in ("fusion", "auto")


def deploy_inputs(wildcards=None):
    """The cross-validation patients' features and clinical values (the baselines refit)."""
    return patients_inputs(TRAINING)


def prediction_extras(wildcards=None):
    """For predict_with fusion or auto: what deploy fitted, and the new patients' inputs
    (named inputs that are empty otherwise)."""
    inputs = patients_inputs(PREDICTING if DEPLOYED else [])
    return inputs | {"deployed": [paths.DEPLOYED] if DEPLOYED else []}
