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

from egfrmet import bias, check, crop, normalise
from egfrmet.errors import InputError
from egfrmet.files import atomic_output
from egfrmet.predict import score
from egfrmet.settings import brain_mask_settings, crop_settings, inference_settings, read_config

log = logging.getLogger(__name__)


def preprocess(patient, *, image, mask, brain_mask, config, folder, threads):
    """The workflow's preprocessing of one patient into `folder`: crops/<patient>.npz, qc.png."""
    preprocess_settings = config["preprocess"]
    folder = Path(folder)
    (folder / "crops").mkdir(parents=True, exist_ok=True)
    check.run(
        patient,
        image=image,
        series_uid="",
        mask=mask,
        brain_mask=brain_mask,
        mask_labels=preprocess_settings["mask_labels"],
        grid_tolerance=preprocess_settings["grid_tolerance"],
        out=str(folder / "check.json"),
    )
    corrected = str(folder / "bias.nii.gz")
    bias.run(patient, image=image, series_uid="", out=corrected, settings=preprocess_settings["n4"], threads=threads)
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
    crop.run(
        patient,
        image=normalised[""] + ".nii.gz",
        lesion=normalised["_lesion"] + ".nii.gz",
        brain=normalised["_brain"] + ".nii.gz",
        summary=normalised[".json"],
        settings=crop_settings(config),
        out=str(folder / "crops" / f"{patient}.npz"),
        qc=str(folder / "qc.png"),
    )
    return folder / "crops"


def default_models(config):
    """The models `train.predict_with` names, where the workflow wrote them under results/."""
    pattern = "fold*/inner*/model.pt" if config["train"]["predict_with"] == "inner_ensemble" else "fold*/model.pt"
    return sorted(glob.glob(os.path.join("results", "models", pattern)))


def run(*, image, mask, brain_mask, patient, configfile, models, threads, out, qc):
    """The `egfrmet scan` subcommand."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights come from files
    torch.set_num_threads(threads)
    config = read_config(configfile)
    source = "--models" if models else f"train.predict_with {config['train']['predict_with']}"
    models = models or default_models(config)
    if not models:
        raise InputError("no trained models: give --models, or run the workflow first (results/models/)")
    missing = [path for path in models if not os.path.isfile(path)]
    if missing:
        raise InputError("model file not found", path=missing[0])
    with tempfile.TemporaryDirectory(prefix="egfrmet-scan-") as folder:
        crops = preprocess(
            patient, image=image, mask=mask, brain_mask=brain_mask, config=config, folder=folder, threads=threads
        )
        table = score(
            models,
            str(crops),
            [patient],
            model_settings=config["model"],
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
