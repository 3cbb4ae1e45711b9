"""Reorient to LPS and z-score with the brain's mean and standard deviation (the paper's
x' = (x - mu) / sigma over the brain-extracted image), the brain mask being the sheet's or
one computed here (egfrmet.brainmask)."""

import json
import logging

import numpy as np
import SimpleITK as sitk

from egfrmet import brainmask
from egfrmet.images import as_mask_image, atomic_output, geometry, lesion_array, read_image, write_image

log = logging.getLogger(__name__)

ORIENTATION = "LPS"  # ITK's own: array axis 0 (z) is then the axial slice axis, inferior first


def reorient(image):
    return sitk.DICOMOrient(image, ORIENTATION)


def zscore(image, brain):
    """(image - mean) / std over the brain voxels, float32, and the two numbers."""
    values = sitk.GetArrayFromImage(image).astype(np.float32)
    inside = values[brain]
    mean, std = float(inside.mean()), float(inside.std())
    if not std > 0:
        raise ValueError("brain voxels have no intensity spread")
    out = sitk.GetImageFromArray((values - mean) / std)
    out.CopyInformation(image)
    return out, mean, std


def run(patient, *, image, mask, brain_mask, mask_labels, settings, out, out_brain, out_lesion, out_json):
    """The `egfrmet normalise` subcommand: the brain mask (given or computed, on the image's
    grid), the LPS image z-scored over it, the LPS lesion mask and a summary."""
    source = read_image(image)
    lesion = lesion_array(read_image(mask), mask_labels)
    brain, brain_summary = brainmask.brain_mask(patient, source, lesion, path=brain_mask, settings=settings)
    brain_image = as_mask_image(brain, source)
    lps = reorient(source)
    normalised, mean, std = zscore(lps, sitk.GetArrayFromImage(reorient(brain_image)) > 0)
    summary = {"patient_id": patient} | brain_summary | {
        "brain_mean": mean,
        "brain_std": std,
        "orientation": ORIENTATION,
        "source_grid": geometry(source),
    }
    log.info("patient %s: brain mean %.4g, std %.4g", patient, mean, std)
    write_image(brain_image, out_brain)
    write_image(normalised, out)
    write_image(reorient(as_mask_image(lesion, source)), out_lesion)
    with atomic_output(out_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
