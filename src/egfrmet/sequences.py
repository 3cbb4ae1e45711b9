"""Further MRI sequences of a patient (the config's `inputs.sequences`, e.g. FLAIR, T2): each
on the T1c's grid, or with `inputs.resample: true` resampled onto it by header geometry
alone (no registration: a patient who moved between series stays moved), then N4-corrected
with the T1c's settings and z-scored over the T1c's brain mask, so that the crops take the
same boxes of every sequence (one channel each, the T1c first)."""

import itertools
import logging

import numpy as np
import SimpleITK as sitk

from egfrmet import bias
from egfrmet.errors import InputError
from egfrmet.images import geometry, grid_mismatch, read_image, reorient, write_image
from egfrmet.masks import head_mask

log = logging.getLogger(__name__)


def corners(header):
    """The physical points (8, 3) of the corners of a header's voxel grid (voxel edges)."""
    size, spacing = np.array(header["size"], float), np.array(header["spacing"], float)
    direction = np.array(header["direction"], float).reshape(3, 3)
    index = np.array(list(itertools.product(*[(-0.5, n - 0.5) for n in size])))
    return np.array(header["origin"], float) + (index * spacing) @ direction.T


def overlap(reference, moving):
    """Fraction of the reference's bounding box (physical, axis-aligned) that the moving
    image's bounding box covers: 0 when the fields of view do not meet."""
    a, b = corners(reference), corners(moving)
    low, high = np.maximum(a.min(0), b.min(0)), np.minimum(a.max(0), b.max(0))
    shared = np.prod(np.clip(high - low, 0, None))
    return float(shared / np.prod(a.max(0) - a.min(0)))


def grid_problem(reference, header, *, resample, tolerance):
    """Why a sequence (header) cannot be taken onto the T1c's grid (reference), or None."""
    mismatch = grid_mismatch(reference, header, tolerance)
    if mismatch is None:
        return None
    if not resample:
        return (
            f"not on the image's grid: {mismatch}; co-register it onto the T1c, or set inputs.resample: true "
            "to resample it by header geometry (no registration)"
        )
    if overlap(reference, header) == 0:
        return "its field of view does not overlap the image's (by header geometry): nothing to resample"
    return None


def onto_grid(image, reference):
    """`image` resampled (linear) onto the grid of `reference` by physical position; voxels
    outside its field of view take its minimum."""
    if grid_mismatch(geometry(reference), geometry(image), 1e-6) is None:
        return image
    floor = float(sitk.GetArrayViewFromImage(image).min())
    return sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), reference, sitk.Transform(), sitk.sitkLinear, floor)


def run_bias(patient, *, sequence, image, reference, resample, grid_tolerance, settings, threads, out):
    """The `egfrmet bias-sequence` subcommand: one sequence on the T1c's grid, N4-corrected."""
    moving, t1c = read_image(image), read_image(reference)
    problem = grid_problem(geometry(t1c), geometry(moving), resample=resample, tolerance=grid_tolerance)
    if problem:
        raise InputError(problem, patient=patient, column=sequence, path=image)
    on_grid = onto_grid(moving, t1c)
    corrected, _ = bias.correct(on_grid, head_mask(on_grid), threads=threads, **settings)
    resampled = "resampled onto the T1c's grid by header geometry" if on_grid is not moving else "on the T1c's grid"
    log.info("patient %s: %s %s, N4-corrected", patient, sequence, resampled)
    write_image(corrected, out)


def run_normalise(patient, *, sequence, image, brain, out):
    """The `egfrmet normalise-sequence` subcommand: a corrected sequence in LPS, z-scored over
    the T1c's brain mask (the normalise stage's, on the same grid)."""
    from egfrmet.normalise import zscore

    brain_mask = sitk.GetArrayFromImage(reorient(read_image(brain))) > 0
    try:
        normalised, mean, std = zscore(reorient(read_image(image)), brain_mask)
    except InputError as error:
        raise error.about(patient=patient, column=sequence, path=image) from None
    log.info("patient %s: %s z-scored over the brain (mean %.4g, std %.4g)", patient, sequence, mean, std)
    write_image(normalised, out)
