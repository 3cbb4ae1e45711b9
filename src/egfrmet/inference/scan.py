"""One new scan, scored from the command line: the workflow's own preprocessing (check, N4,
brain mask and z-score, crops) with the workflow's config, then the mean of trained models
(by default every fold model the workflow wrote). No Snakemake, no sample sheet. With
`train.predict_with: fusion | auto`, the scan also gets its radiomics features and clinical
values (`--clinical name=value`), and the method the workflow deployed
(results/models/deployed.pkl) gives the probability.

    egfrmet scan --image t1.nii.gz --mask lesion.nii.gz --out scan.csv \
        [--brain-mask brain.nii.gz] [--configfile config/config.yaml mine.yaml] [--models ...] \
        [--clinical age=64 sex=F smoking=]
"""

import glob
import logging
import os
import shutil
import tempfile
from pathlib import Path

from egfrmet.arguments import SEQUENCE, THREADS, command, optional, required
from egfrmet.baselines import clinical, features
from egfrmet.config.settings import (
    brain_mask_settings,
    crop_settings,
    feature_settings,
    image_baselines,
    inference_settings,
    model_settings,
    read_config,
    reads_clinical,
)
from egfrmet.errors import InputError
from egfrmet.inference.predict import score, with_deployed
from egfrmet.io.files import atomic_output, crop_files
from egfrmet.paths import DEPLOYED, prediction_models
from egfrmet.preprocessing import bias, check, crop, normalise, sequences
from egfrmet.training.runtime import set_up

log = logging.getLogger(__name__)


def preprocess(patient, *, image, mask, brain_mask, config, folder, threads, sequence=()):
    """The workflow's preprocessing of one patient into `folder`: crops/<patient>.npz, qc.png.
    `sequence`: (name, path) of each further sequence, in inputs.sequences' order. Returns
    the crops file and the normalised images (`image`, `lesion`, `sequences`)."""
    preprocess_settings = config["preprocess"]
    folder = Path(folder)
    (folder / "crops").mkdir(parents=True, exist_ok=True)
    tolerance, resample = preprocess_settings["grid_tolerance"], config["inputs"]["resample"]
    check.run(
        patient,
        image=image,
        series_uid="",
        mask=mask,
        brain_mask=brain_mask,
        mask_labels=preprocess_settings["mask_labels"],
        grid_tolerance=tolerance,
        out=str(folder / "check.json"),
        sequence=sequence,
        resample=resample,
    )
    corrected = str(folder / "bias.nii.gz")
    bias.run(patient, image=image, series_uid="", out=corrected, settings=preprocess_settings["n4"], threads=threads)
    for name, path in sequence:
        sequences.run_bias(
            patient,
            sequence=name,
            image=path,
            reference=image,
            resample=resample,
            grid_tolerance=tolerance,
            settings=preprocess_settings["n4"],
            threads=threads,
            out=str(folder / f"bias_{name}.nii.gz"),
        )
    normalised = {name: str(folder / f"normalised{name}") for name in ("", "_brain", "_lesion", ".json")}
    normalise.run(
        patient,
        image=corrected,
        mask=mask,
        brain_mask=brain_mask,
        mask_labels=preprocess_settings["mask_labels"],
        lesion_ids=preprocess_settings["lesion_ids"],
        settings={} if brain_mask else brain_mask_settings(config),
        threads=threads,
        out=normalised[""] + ".nii.gz",
        out_brain=normalised["_brain"] + ".nii.gz",
        out_lesion=normalised["_lesion"] + ".nii.gz",
        out_json=normalised[".json"],
    )
    normalised_sequences = [(name, str(folder / f"normalised_{name}.nii.gz")) for name, _ in sequence]
    for name, out in normalised_sequences:
        brain = normalised["_brain"] + ".nii.gz"
        sequences.run_normalise(patient, sequence=name, image=str(folder / f"bias_{name}.nii.gz"), brain=brain, out=out)
    crop.run(
        patient,
        image=normalised[""] + ".nii.gz",
        lesion=normalised["_lesion"] + ".nii.gz",
        brain=normalised["_brain"] + ".nii.gz",
        summary=normalised[".json"],
        settings=crop_settings(config),
        out=str(folder / "crops" / f"{patient}.npz"),
        qc=str(folder / "qc.png"),
        sequence_files=[path for _, path in normalised_sequences],
    )
    images = {"image": normalised[""] + ".nii.gz", "lesion": normalised["_lesion"] + ".nii.gz"}
    return folder / "crops" / f"{patient}.npz", images | {"sequences": [path for _, path in normalised_sequences]}


def clinical_values(pairs, kinds):
    """{variable: text} from `--clinical name=value` pairs: every configured variable named
    (an empty value is a missing one, imputed as in training), no other."""
    values = dict(pair.partition("=")[::2] for pair in pairs)
    bad = [pair for pair in pairs if "=" not in pair]
    unknown, missing = sorted(set(values) - set(kinds)), [name for name in kinds if name not in values]
    named = {"not name=value": bad, "unknown": unknown, "not given": missing}
    problems = [f"{what}: {', '.join(names)}" for what, names in named.items() if names]
    if problems:
        raise InputError(
            f"--clinical takes name=value for each of the config's clinical variables {list(kinds)} "
            f"(name= for a missing value); {'; '.join(problems)}"
        )
    return values


def deployed_inputs(patient, config, folder, crops, images, clinical_pairs):
    """The scan's features (.csv) and clinical values (.json), as the workflow's features and
    clinical rules write them, for the deployed method."""
    folder = Path(folder)
    features_out, clinical_out = [], []
    if image_baselines(config):
        features_out = [str(folder / "features.csv")]
        features.run(
            patient,
            image=images["image"],
            lesion=images["lesion"],
            crops=str(crops),
            settings=feature_settings(config),
            out=features_out[0],
            sequence_files=images["sequences"],
        )
    if reads_clinical(config):
        clinical_out = [str(folder / "clinical.json")]
        clinical.write(patient, values=clinical_pairs, kinds=config["clinical"], out=clinical_out[0])
    return features_out, clinical_out


def default_models(config):
    """The models `train.predict_with` names, where the workflow wrote them under results/."""
    template = prediction_models(config["train"]["predict_with"])
    return sorted(glob.glob(template.format(fold="*", inner="*")))


@command(
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
def run(*, image, mask, brain_mask, patient, configfile, models, threads, out, qc, sequence=(), clinical=()):
    """The `egfrmet scan` subcommand. `sequence`: (name, path) of each of inputs.sequences;
    `clinical`: name=value of each clinical variable (predict_with fusion or auto)."""
    set_up(threads)
    config = read_config(configfile)
    sequence = [tuple(pair) for pair in sequence]
    wanted = config["inputs"]["sequences"]
    if [name for name, _ in sequence] != wanted:
        given = [name for name, _ in sequence]
        raise InputError(
            f"the models take the sequences {wanted} (inputs.sequences) after the image: give "
            f"{' '.join(f'--sequence {name} PATH' for name in wanted) or 'no --sequence'} (given: {given})"
        )
    deployed = not models and config["train"]["predict_with"] in ("fusion", "auto")
    if deployed:
        values = clinical_values(clinical, config["clinical"]) if reads_clinical(config) else {}
        if not os.path.isfile(DEPLOYED):
            raise InputError(
                f"train.predict_with {config['train']['predict_with']}: no deployed method; run the workflow first "
                "(it writes it), or give --models results/models/fold*/model.pt to score with the network alone",
                path=DEPLOYED,
            )
    source = "--models" if models else f"train.predict_with {config['train']['predict_with']}"
    models = models or default_models(config)
    if not models:
        raise InputError("no trained models: give --models, or run the workflow first (results/models/)")
    missing = [path for path in models if not os.path.isfile(path)]
    if missing:
        raise InputError("model file not found", path=missing[0])
    with tempfile.TemporaryDirectory(prefix="egfrmet-scan-") as folder:
        crops, images = preprocess(
            patient,
            image=image,
            mask=mask,
            brain_mask=brain_mask,
            config=config,
            folder=folder,
            threads=threads,
            sequence=sequence,
        )
        table = score(
            models,
            crop_files([crops]),
            [patient],
            model_settings=model_settings(config),
            aggregate=config["evaluate"]["metric"],
            threshold=config["predict"]["threshold"],
            batch_size=config["predict"]["batch_size"],
            inference=inference_settings(config),
        )
        if deployed:
            inputs = deployed_inputs(patient, config, folder, crops, images, values)
            table, source = with_deployed(table, DEPLOYED, *inputs, config["predict"]["threshold"])
        if qc:
            with atomic_output(qc) as tmp:
                shutil.copyfile(Path(folder) / "qc.png", tmp)
    threshold = config["predict"]["threshold"]
    table.insert(3, "models", f"{len(models)} model{'s' * (len(models) > 1)} ({source})")
    table.insert(4, "image", image)
    with atomic_output(out) as tmp:
        table.to_csv(tmp, index=False)
    log.info("%s: EGFR-mutant probability %.3f (threshold %s)\n%s", patient, table.probability[0], threshold, table)
    return table
