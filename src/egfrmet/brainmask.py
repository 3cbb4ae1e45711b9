"""The brain mask: the one the sheet gives, or one computed from the bias-corrected image.

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

import json
import logging

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from egfrmet.bias import fill_holes_per_slice, head_mask, largest_component, otsu_thresholds
from egfrmet.images import as_mask_image, atomic_output, lesion_array, read_image, write_image

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


def coverage(brain, lesion):
    """Fraction of lesion voxels inside the brain mask."""
    return float((brain & lesion).sum() / max(int(lesion.sum()), 1))


def run(patient, *, image, mask, brain_mask, mask_labels, settings, out, out_json):
    """The `egfrmet brainmask` subcommand: pass the given mask on, or compute one."""
    corrected = read_image(image)
    lesion = lesion_array(read_image(mask), mask_labels)
    if brain_mask:
        brain, source = sitk.GetArrayFromImage(read_image(brain_mask)) > 0, "given"
    else:
        brain, source = compute(corrected, lesion, **settings), "computed"
    covered = coverage(brain, lesion)
    warnings = []
    if covered < 1.0:
        warnings.append(f"brain mask covers {covered:.0%} of the lesion")
        log.warning("patient %s: %s (%s)", patient, warnings[-1], brain_mask or "computed mask")
    summary = {
        "patient_id": patient,
        "brain_mask": source,
        "brain_voxels": int(brain.sum()),
        "lesion_coverage": covered,
        "warnings": warnings,
    }
    log.info("patient %s: %s brain mask, %d voxels", patient, source, brain.sum())
    write_image(as_mask_image(brain, corrected), out)
    with atomic_output(out_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
