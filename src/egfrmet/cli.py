"""egfrmet: EGFR status of brain metastases from post-contrast T1 MRI; one subcommand per workflow stage.

Tunable numbers come in as `--settings JSON`, the stage's section of the workflow config, so
that config/config.yaml stays the one place that holds them.
"""

import argparse
import importlib
import json
import logging
import sys

from egfrmet.errors import InputError


def settings(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"--settings is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--settings must be a JSON object")
    return value


def add(subparsers, name, target, help, *arguments):
    """A subcommand whose arguments go, by name, to `target` ("module:function")."""
    parser = subparsers.add_parser(name, help=help, description=help)
    parser.set_defaults(target=target)
    for flags, options in arguments:
        parser.add_argument(*flags, **options)
    return parser


PATIENT = (["--patient"], {"required": True, "help": "patient_id (for messages and logs)"})
SETTINGS = (["--settings"], {"type": settings, "required": True, "help": "the stage's config section, as JSON"})
THREADS = (["--threads"], {"type": int, "default": 1, "help": "threads (default 1)"})
MASK_LABELS = (
    ["--mask-labels"],
    {"type": int, "nargs": "*", "default": [], "help": "mask values that are lesion (default: any > 0)"},
)


def required(flag, help, **options):
    return ([flag], {"required": True, "help": help, **options})


def optional(flag, help, **options):
    return ([flag], {"default": "", "help": help, **options})


MODEL_SETTINGS = required("--model-settings", "the model config section, as JSON", type=settings)
SEQUENCE = (
    ["--sequence"],
    {
        "nargs": 2,
        "action": "append",
        "default": [],
        "metavar": ("COLUMN", "PATH"),
        "help": "a further sequence (its sheet column and file); repeat for each, in inputs.sequences' order",
    },
)
SEQUENCE_FILES = (
    ["--sequence-files"],
    {"nargs": "*", "default": [], "help": "the normalised image of each sequence --settings names, in its order"},
)
RESAMPLE = (["--resample"], {"action": "store_true", "help": "sequences may lie off the image's grid (resampled)"})
SERIES_UID = optional("--series-uid", "DICOM series to read when the image folder holds several")


def build_parser():
    parser = argparse.ArgumentParser(prog="egfrmet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="<subcommand>")
    add(
        sub,
        "synth-sheet",
        "egfrmet.demo.synth:write_sheet",
        "write the demo cohort's sample sheet",
        required("--out", "sample sheet to write (.tsv)"),
        SETTINGS,
    )
    add(
        sub,
        "synth",
        "egfrmet.demo.synth:run",
        "generate one demo patient's image, lesion mask and brain mask",
        PATIENT,
        required("--label", "1 = EGFR-mutant, 0 = wild type", type=int, choices=[0, 1]),
        required("--center", "site name (sets the simulated scanner)"),
        required("--image", "image to write"),
        required("--mask", "lesion mask to write"),
        required("--brain-mask", "brain mask to write"),
        optional("--t2", "T2-weighted image to write (on the image's grid)"),
        SETTINGS,
    )
    add(
        sub,
        "check",
        "egfrmet.preprocessing.check:run",
        "check a patient's files (3-D, one grid, finite, non-empty lesion) before any work",
        PATIENT,
        required("--image", "post-contrast T1 (file or DICOM folder)"),
        SERIES_UID,
        required("--mask", "lesion mask"),
        optional("--brain-mask", "brain mask, if the sheet gives one"),
        MASK_LABELS,
        required("--grid-tolerance", "allowed grid difference, relative to a voxel", type=float),
        SEQUENCE,
        RESAMPLE,
        required("--out", "summary to write (.json)"),
    )
    add(
        sub,
        "bias-sequence",
        "egfrmet.preprocessing.sequences:run_bias",
        "a further sequence onto the image's grid (resampled by header geometry if allowed), N4-corrected",
        PATIENT,
        required("--sequence", "its sheet column (for messages)"),
        required("--image", "the sequence's file"),
        required("--reference", "the post-contrast T1, whose grid it takes"),
        RESAMPLE,
        required("--grid-tolerance", "allowed grid difference, relative to a voxel", type=float),
        SETTINGS,
        THREADS,
        required("--out", "corrected sequence to write"),
    )
    add(
        sub,
        "normalise-sequence",
        "egfrmet.preprocessing.sequences:run_normalise",
        "a corrected sequence reoriented to LPS and z-scored over the image's brain mask",
        PATIENT,
        required("--sequence", "its sheet column (for messages)"),
        required("--image", "the corrected sequence"),
        required("--brain", "the brain mask normalise wrote"),
        required("--out", "normalised sequence to write"),
    )
    add(
        sub,
        "bias",
        "egfrmet.preprocessing.bias:run",
        "N4 bias-field correction",
        PATIENT,
        required("--image", "post-contrast T1 (file or DICOM folder)"),
        SERIES_UID,
        required("--out", "corrected image to write"),
        SETTINGS,
        THREADS,
    )
    add(
        sub,
        "normalise",
        "egfrmet.preprocessing.normalise:run",
        "brain mask (given or computed), then reorient to LPS and z-score over the brain",
        PATIENT,
        required("--image", "bias-corrected image"),
        required("--mask", "lesion mask"),
        optional("--brain-mask", "brain mask from the sheet; computed when absent"),
        MASK_LABELS,
        required(
            "--lesion-ids",
            "lesions are the mask's connected components or its values",
            choices=["components", "values"],
        ),
        SETTINGS,
        THREADS,
        required("--out", "normalised image to write"),
        required("--out-brain", "brain mask used, on the image's grid, to write"),
        required("--out-lesion", "LPS lesion mask to write"),
        required("--out-json", "summary to write (.json)"),
    )
    add(
        sub,
        "crop",
        "egfrmet.preprocessing.crop:run",
        "mid-tumour slices and neighbours, cropped and resampled, with a QC picture",
        PATIENT,
        required("--image", "normalised LPS image"),
        required("--lesion", "LPS numbered lesion mask"),
        required("--brain", "brain mask used by normalise"),
        required("--summary", "normalisation summary (.json)"),
        SEQUENCE_FILES,
        SETTINGS,
        required("--out", "crops to write (.npz)"),
        required("--qc", "QC picture to write (.png)"),
    )
    add(
        sub,
        "features",
        "egfrmet.baselines.features:run",
        "the baselines' features of one patient: PyRadiomics, lesion volume and intensity",
        PATIENT,
        required("--image", "normalised LPS image"),
        required("--lesion", "LPS numbered lesion mask"),
        required("--crops", "the patient's crops (.npz): which lesions and slices they took"),
        SEQUENCE_FILES,
        SETTINGS,
        required("--out", "features to write (.csv, one row)"),
    )
    add(
        sub,
        "baseline",
        "egfrmet.baselines.methods:run",
        "fit the baselines on one fold's training patients and score its validation patients",
        required("--fold", "the outer fold whose validation patients are scored", type=int),
        required("--folds", "folds table (.tsv)"),
        (["--features"], {"nargs": "*", "default": [], "help": "the patients' features (.csv)"}),
        (["--clinical"], {"nargs": "*", "default": [], "help": "the patients' clinical values (.json)"}),
        SETTINGS,
        required("--out", "validation patients' probabilities to write (.csv)"),
    )
    add(
        sub,
        "clinical",
        "egfrmet.baselines.clinical:write",
        "write one patient's clinical values (the config's clinical columns of the sheet)",
        PATIENT,
        (["--values"], {"type": settings, "required": True, "help": "{column: cell} (text; '' = missing), as JSON"}),
        (["--kinds"], {"type": settings, "required": True, "help": "{column: kind}, the config's clinical section"}),
        required("--out", "clinical values to write (.json)"),
    )
    add(
        sub,
        "model-card",
        "egfrmet.evaluation.model_card:run",
        "write the run's model card (the TRIPOD+AI items a run can answer)",
        required("--summary", "summary.csv of evaluate"),
        required("--folds", "folds table (.tsv)"),
        (["--clinical"], {"nargs": "*", "default": [], "help": "the cross-validation patients' clinical values"}),
        (["--fusion-reports"], {"nargs": "*", "default": [], "help": "the folds' fusion reports (.json)"}),
        (["--explanations"], {"nargs": "?", "default": "", "help": "explanations.csv (Grad-CAM shares)"}),
        (["--deployed"], {"nargs": "?", "default": "", "help": "deployed.json: what new patients get (fusion, auto)"}),
        SETTINGS,
        required("--out", "model card to write (.md)"),
    )
    add(
        sub,
        "fusion",
        "egfrmet.baselines.fusion:run",
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
    add(
        sub,
        "folds",
        "egfrmet.cohort.folds:run",
        "assign patient-level stratified folds for a sample sheet (and optionally pin them into it)",
        required("--samples", "sample sheet (.tsv)"),
        required("--k", "number of folds", type=int),
        required("--seed", "seed of the assignment order", type=int),
        optional("--out", "folds table to write (.tsv)"),
        (["--pin"], {"action": "store_true", "help": "write the folds into the sheet's fold column"}),
    )
    add(
        sub,
        "train",
        "egfrmet.training.train:run",
        "train one cross-validation fold (or one inner fold of its training patients)",
        required("--fold", "fold to hold out for validation", type=int),
        (
            ["--inner"],
            {"type": int, "default": -1, "help": "an inner fold of the fold's training patients (default: the fold)"},
        ),
        required("--folds", "folds table (.tsv)"),
        required("--crops", "folder of the patients' crops (.npz)"),
        optional("--choice", "the inner folds' choice (.json), for the inner_cv selection"),
        MODEL_SETTINGS,
        SETTINGS,
        THREADS,
        optional("--checkpoint", "where to keep the state between epochs, to resume a killed run"),
        (
            ["--checkpoint-seconds"],
            {"type": float, "default": 0, "help": "least seconds between checkpoints (default 0: every epoch)"},
        ),
        required("--out-model", "state dict to write (.pt)"),
        required("--out-history", "per-epoch log to write (.csv)"),
        optional("--out-val", "validation slice probabilities to write (.csv; outer folds)"),
    )
    add(
        sub,
        "train-final",
        "egfrmet.training.final:run",
        "train the final model on every cross-validation patient for the length the inner folds chose",
        required("--folds", "folds table (.tsv)"),
        required("--crops", "folder of the patients' crops (.npz)"),
        (["--choices"], {"nargs": "+", "required": True, "help": "every fold's inner_choice.json"}),
        MODEL_SETTINGS,
        SETTINGS,
        THREADS,
        required("--out-model", "state dict to write (.pt)"),
        required("--out-history", "per-epoch log to write (.csv)"),
    )
    add(
        sub,
        "choose-epoch",
        "egfrmet.training.selection:run",
        "the epoch the inner folds choose for one outer fold (leak-free selection)",
        (["--histories"], {"nargs": "+", "required": True, "help": "the inner folds' history.csv"}),
        required("--metric", "validation metric to maximise (val_loss: minimise)"),
        required("--out", "choice to write (.json)"),
    )
    add(
        sub,
        "ensemble",
        "egfrmet.inference.ensemble:run",
        "score one fold's validation patients with the mean of its inner models (leak-free inner_ensemble)",
        required("--fold", "the outer fold whose validation patients are scored", type=int),
        required("--folds", "folds table (.tsv)"),
        required("--crops", "folder of the patients' crops (.npz)"),
        (["--models"], {"nargs": "+", "required": True, "help": "the fold's inner models (.pt)"}),
        MODEL_SETTINGS,
        SETTINGS,
        THREADS,
        required("--out", "validation slice probabilities to write (.csv)"),
    )
    add(
        sub,
        "evaluate",
        "egfrmet.evaluation.evaluate:run",
        "Table 2, patient scores, ROC figure and slice-score figure from the folds' validation slices",
        (["--val-slices"], {"nargs": "+", "required": True, "help": "each fold's val_slices.csv"}),
        (["--histories"], {"nargs": "+", "required": True, "help": "each fold's history.csv"}),
        required("--crops", "folder of the patients' crops (.npz), for the slice-score figure"),
        SETTINGS,
        required("--predict-with", "the selection whose ROC and slice figures are drawn"),
        required("--out-dir", "folder to write into"),
        (
            ["--held-out"],
            {"type": json.loads, "default": None, "help": "JSON {fold: name}: summarise each fold on its own too"},
        ),
        (["--baseline-scores"], {"nargs": "*", "default": [], "help": "each fold's baseline scores (.csv)"}),
    )
    add(
        sub,
        "explain",
        "egfrmet.explain.gradcam:run",
        "Grad-CAM maps of a fold's validation patients by the fold's model",
        required("--fold", "the fold (for the titles)", type=int),
        required("--model", "the fold's model (.pt)"),
        MODEL_SETTINGS,
        (["--crops"], {"nargs": "+", "required": True, "help": "the fold's validation patients' crops (.npz)"}),
        required("--layer", "the model's module whose activations make the map (e.g. layer4)"),
        THREADS,
        required("--out-dir", "folder for {patient}.npz and {patient}.png"),
    )
    add(
        sub,
        "explain-figure",
        "egfrmet.explain.gradcam:run_figure",
        "Grad-CAM of typical patients per class in one figure",
        required("--scores", "patient_scores.csv of evaluate"),
        required("--selection", "whose scores choose the typical patients"),
        required("--aggregate", "slice aggregate of the scores (evaluate.metric)"),
        (["--explained"], {"nargs": "+", "required": True, "help": "the patients' Grad-CAM maps (.npz)"}),
        required("--per-class", "patients per class", type=int),
        required("--out", "figure to write (.png)"),
        required("--out-table", "each patient's Grad-CAM share in lesion and brain to write (.csv)"),
    )
    add(
        sub,
        "predict",
        "egfrmet.inference.predict:run",
        "score patients never trained on with the mean of the fold models",
        (["--models"], {"nargs": "+", "required": True, "help": "the fold models (.pt)"}),
        required("--selection", "which selection kept them (train.predict_with), for the tables"),
        required("--crops", "folder of the patients' crops (.npz)"),
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
    add(
        sub,
        "deploy",
        "egfrmet.baselines.deploy:run",
        "fit the fused model or auto's pick on every cross-validation patient, for new patients",
        required("--patient-scores", "patient_scores.csv of evaluate (out-of-fold scores of every method)"),
        (["--features"], {"nargs": "*", "default": [], "help": "the cross-validation patients' features (.csv)"}),
        (["--clinical"], {"nargs": "*", "default": [], "help": "their clinical values (.json)"}),
        SETTINGS,
        required("--predict-with", "fusion or auto"),
        required("--out", "the fitted methods to write (.pkl)"),
        required("--out-report", "what new patients get (.json)"),
    )
    add(
        sub,
        "scan",
        "egfrmet.inference.scan:run",
        "score one new scan and lesion mask: the workflow's preprocessing and config, then trained models",
        required("--image", "post-contrast T1 (NIfTI, or a DICOM folder)"),
        required("--mask", "lesion mask on the image's grid"),
        optional("--brain-mask", "brain mask (default: computed as preprocess.brain_mask says)"),
        (["--patient"], {"default": "scan", "help": "a name for messages and the output (default: scan)"}),
        (
            ["--configfile"],
            {
                "nargs": "+",
                "default": ["config/config.yaml"],
                "help": "the workflow's config files, later ones over earlier (default: config/config.yaml)",
            },
        ),
        (
            ["--models"],
            {
                "nargs": "*",
                "default": [],
                "help": "models (.pt); default: the ones train.predict_with names in results/",
            },
        ),
        SEQUENCE,
        (
            ["--clinical"],
            {
                "nargs": "*",
                "default": [],
                "metavar": "NAME=VALUE",
                "help": "each clinical variable of the config (NAME= when missing), for predict_with fusion or auto",
            },
        ),
        THREADS,
        required("--out", "prediction to write (.csv)"),
        optional("--qc", "QC picture of the crops to write (.png)"),
    )
    return parser


def dispatch(args):
    """Call the stage function named by the subcommand with the parsed arguments."""
    module, function = args.target.split(":")
    options = {k: v for k, v in vars(args).items() if k not in ("command", "target")}
    getattr(importlib.import_module(module), function)(**options)


def version():
    from egfrmet import __version__

    return f"egfrmet {__version__}"


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        dispatch(args)
    except InputError as error:
        print(f"egfrmet {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0
