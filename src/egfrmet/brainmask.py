"""The brain mask: the one the sheet gives, or one computed from the bias-corrected image
(part of the `normalise` stage, which z-scores over it).

The computed mask is classic morphological skull stripping, meant as a fallback:
1. head = Otsu foreground with holes filled (as for N4);
2. tissue = voxels of the head above the lower of two Otsu thresholds of the head's
   intensities (three classes on a T1: skull/CSF/air, brain, fat/enhancement);
3. erode by `erode_mm` to cut the thin bridges between scalp and brain, keep the largest
   component (the brain), dilate back by the same radius within the head;
4. fill holes slice by slice (ventricles, necrotic cores) and add the lesion.
Limits: it needs a dark skull/CSF gap between scalp and brain at least `erode_mm` wide, so it
can fail on thin-skulled or low-resolution scans, strong residual bias, contrasts other than T1,
or a field of view that cuts through the brain. The QC marks computed masks; for a real cohort
prefer a dedicated tool (HD-BET, SynthStrip) and pass its masks in the `brain_mask` column.
"""

import logging

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from egfrmet.bias import fill_holes_per_slice, head_mask, largest_component, otsu_thresholds
from egfrmet.images import read_image

log = logging.getLogger(__name__)


def compute(image, lesion, *, erode_mm):
    """A boolean brain mask (z, y, x) for `image` (bias-corrected), containing `lesion`."""
    values = sitk.GetArrayViewFromImage(image)
    head = head_mask(image)
    tissue = head & (values > otsu_thresholds(values[head], 3)[0])
    ball = ellipsoid(image.GetSpacing(), erode_mm)
    core = largest_component(ndimage.binary_erosion(tissue, structure=ball))
    brain = ndimage.binary_dilation(core, structure=ball) & head
    return fill_holes_per_slice(brain) | lesion


def ellipsoid(spacing, radius_mm):
    """A structuring element of `radius_mm` in every direction, in (z, y, x) voxels."""
    radii = [max(1, int(round(radius_mm / s))) for s in reversed(spacing)]
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radii)]
    return sum((g / r) ** 2 for g, r in zip(grids, radii)) <= 1


def coverage_warnings(brain, lesion):
    """Fraction of lesion voxels inside the brain mask, and a warning unless it is all of them."""
    total, missed = int(lesion.sum()), int((lesion & ~brain).sum())
    covered = 1.0 - missed / max(total, 1)
    # counts, not a rounded percentage: one voxel of 300 outside must not read "covers 100%"
    return covered, [f"brain mask misses {missed} of {total} lesion voxels"] if missed else []


def brain_mask(patient, corrected, lesion, *, path, settings):
    """The brain mask (z, y, x booleans on `corrected`'s grid): the sheet's file at `path`, or
    computed with `settings` when `path` is empty; and its summary, warnings included."""
    if path:
        brain, source = sitk.GetArrayFromImage(read_image(path)) > 0, "given"
    else:
        brain, source = compute(corrected, lesion, **settings), "computed"
    covered, warnings = coverage_warnings(brain, lesion)
    for warning in warnings:
        log.warning("patient %s: %s (%s)", patient, warning, path or "computed mask")
    log.info("patient %s: %s brain mask, %d voxels", patient, source, brain.sum())
    summary = {"brain_mask": source, "brain_voxels": int(brain.sum()), "lesion_coverage": covered, "warnings": warnings}
    return brain, summary
