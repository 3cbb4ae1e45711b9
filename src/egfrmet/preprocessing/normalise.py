"""Reorient to LPS and z-score with the brain's mean and standard deviation (the paper's
x' = (x - mu) / sigma over the brain-extracted image), the brain mask being the sheet's or
one computed here (egfrmet.preprocessing.brainmask); the lesion mask is written as numbered lesions
(egfrmet.preprocessing.lesions) for the crops."""

import json
import logging

import numpy as np
import SimpleITK as sitk

from egfrmet.arguments import MASK_LABELS, PATIENT, SETTINGS, THREADS, command, optional, required
from egfrmet.errors import InputError
from egfrmet.io.files import atomic_output
from egfrmet.io.images import ORIENTATION, as_mask_image, geometry, read_image, reorient, write_image
from egfrmet.preprocessing import brainmask
from egfrmet.preprocessing.lesions import label_lesions, volumes_mm3

log = logging.getLogger(__name__)


def zscore(image, brain):
    """(image - mean) / std over the brain voxels, float32, and the two numbers."""
    values = sitk.GetArrayFromImage(image).astype(np.float32)
    inside = values[brain]
    mean, std = float(inside.mean()), float(inside.std())
    if not std > 0:
        raise InputError(f"the {int(brain.sum())} brain-mask voxels have no intensity spread (all {mean:g})")
    out = sitk.GetImageFromArray((values - mean) / std)
    out.CopyInformation(image)
    return out, mean, std


@command(
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
def run(
    patient,
    *,
    image,
    mask,
    brain_mask,
    mask_labels,
    lesion_ids,
    settings,
    threads,
    out,
    out_brain,
    out_lesion,
    out_json,
):
    """The `egfrmet normalise` subcommand: the brain mask (given or computed, on the image's
    grid), the LPS image z-scored over it, the LPS numbered lesion mask and a summary."""
    source = read_image(image)
    lesions = label_lesions(sitk.GetArrayFromImage(read_image(mask)), mask_labels, lesion_ids == "values")
    lesion = lesions > 0
    brain, brain_summary = brainmask.brain_mask(
        patient, source, lesion, path=brain_mask, settings=settings, threads=threads
    )
    brain_image = as_mask_image(brain, source)
    lps = reorient(source)
    try:
        normalised, mean, std = zscore(lps, sitk.GetArrayFromImage(reorient(brain_image)) > 0)
    except InputError as error:
        raise error.about(patient=patient, column="brain_mask", path=brain_mask or image) from None
    volumes = volumes_mm3(lesions, source.GetSpacing())
    summary = (
        {"patient_id": patient, "mask": mask}
        | brain_summary
        | {
            "brain_mean": mean,
            "brain_std": std,
            "lesions": len(volumes),
            "lesion_volumes_mm3": [round(float(v), 2) for v in volumes],
            "orientation": ORIENTATION,
            "source_grid": geometry(source),
        }
    )
    log.info("patient %s: %d lesion(s); brain mean %.4g, std %.4g", patient, len(volumes), mean, std)
    write_image(brain_image, out_brain)
    write_image(normalised, out)
    write_image(reorient(as_mask_image(lesions, source, np.uint16)), out_lesion)
    with atomic_output(out_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
