"""Reorient to LPS and z-score with the brain's mean and standard deviation (the paper's
x' = (x - mu) / sigma over the brain-extracted image)."""

import json
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

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


def run(patient, *, image, brain, brain_json, mask, mask_labels, out, out_lesion, out_json):
    """The `egfrmet normalise` subcommand: LPS image, LPS lesion mask, statistics."""
    source = read_image(image)
    lps = reorient(source)
    brain_voxels = sitk.GetArrayFromImage(reorient(read_image(brain))) > 0
    normalised, mean, std = zscore(lps, brain_voxels)
    lesion = as_mask_image(lesion_array(reorient(read_image(mask)), mask_labels), lps)
    summary = json.loads(Path(brain_json).read_text(encoding="utf-8")) | {
        "brain_mean": mean,
        "brain_std": std,
        "orientation": ORIENTATION,
        "source_grid": geometry(source),
    }
    log.info("patient %s: brain mean %.4g, std %.4g", patient, mean, std)
    write_image(normalised, out)
    write_image(lesion, out_lesion)
    with atomic_output(out_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
