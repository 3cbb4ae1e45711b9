"""One new scan, scored from the command line: the workflow's own preprocessing (check, N4,
brain mask and z-score, crops) with the workflow's config, then the mean of trained models
(by default every fold model the workflow wrote). No Snakemake, no sample sheet.

    egfrmet scan --image t1.nii.gz --mask lesion.nii.gz --out scan.csv \
        [--brain-mask brain.nii.gz] [--configfile config/config.yaml mine.yaml] [--models ...]
"""

import glob
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch

from egfrmet import bias, check, crop, normalise, sequences
from egfrmet.errors import InputError
from egfrmet.files import atomic_output
from egfrmet.predict import score
from egfrmet.settings import brain_mask_settings, crop_settings, inference_settings, model_settings, read_config

log = logging.getLogger(__name__)


def preprocess(patient, *, image, mask, brain_mask, config, folder, threads, sequence=()):
    """The workflow's preprocessing of one patient into `folder`: crops/<patient>.npz, qc.png.
    `sequence`: (name, path) of each further sequence, in inputs.sequences' order."""
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
    return folder / "crops"


def default_models(config):
    """The models `train.predict_with` names, where the workflow wrote them under results/."""
    pattern = "fold*/inner*/model.pt" if config["train"]["predict_with"] == "inner_ensemble" else "fold*/model.pt"
    return sorted(glob.glob(os.path.join("results", "models", pattern)))


def run(*, image, mask, brain_mask, patient, configfile, models, threads, out, qc, sequence=()):
    """The `egfrmet scan` subcommand. `sequence`: (name, path) of each of inputs.sequences."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights come from files
    torch.set_num_threads(threads)
    config = read_config(configfile)
    sequence = [tuple(pair) for pair in sequence]
    wanted = config["inputs"]["sequences"]
    if [name for name, _ in sequence] != wanted:
        given = [name for name, _ in sequence]
        raise InputError(
            f"the models take the sequences {wanted} (inputs.sequences) after the image: give "
            f"{' '.join(f'--sequence {name} PATH' for name in wanted) or 'no --sequence'} (given: {given})"
        )
    if not models and config["train"]["predict_with"] in ("fusion", "auto"):
        raise InputError(
            f"train.predict_with {config['train']['predict_with']}: egfrmet scan applies network models only, and "
            "the fused model (or auto's pick) also needs the scan's radiomics features and clinical values: add the "
            "patient to the sheet with split test and run the workflow (results/predictions/), or give --models "
            "results/models/fold*/model.pt to score with the network alone"
        )
    source = "--models" if models else f"train.predict_with {config['train']['predict_with']}"
    models = models or default_models(config)
    if not models:
        raise InputError("no trained models: give --models, or run the workflow first (results/models/)")
    missing = [path for path in models if not os.path.isfile(path)]
    if missing:
        raise InputError("model file not found", path=missing[0])
    with tempfile.TemporaryDirectory(prefix="egfrmet-scan-") as folder:
        crops = preprocess(
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
            str(crops),
            [patient],
            model_settings=model_settings(config),
            aggregate=config["evaluate"]["metric"],
            threshold=config["predict"]["threshold"],
            batch_size=config["predict"]["batch_size"],
            inference=inference_settings(config),
        )
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
