"""Lesions of a mask: which voxels make up each metastasis, and which of them get crops.

A mask that marks every metastasis with one value is split into its connected components
(26-connected: lesions that touch are one); a mask that numbers its lesions (`numbered`)
gives one lesion per distinct value, even where two touch. Lesions are numbered 1, 2, ...
by decreasing volume, so lesion 1 is the largest.
"""

import numpy as np
from scipy import ndimage

from egfrmet.errors import InputError

FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)


def label_lesions(values, labels, numbered):
    """Lesion numbers (z, y, x, uint16; 0 = background) from a mask's voxel values.

    `labels`: the mask values that are lesion ([] = any value > 0).
    """
    inside = np.isin(values, labels) if labels else values > 0
    if numbered:
        ids = np.unique(values[inside])
        components = np.where(inside, np.searchsorted(ids, values) + 1, 0)
    else:
        components, _ = ndimage.label(inside, structure=FULL_CONNECTIVITY)
    return by_volume(components)


def by_volume(components):
    """Renumber components 1..n by decreasing voxel count (ties: the lower old number first)."""
    counts = np.bincount(components.ravel())
    counts[0] = 0
    order = [c for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    lookup = np.zeros(len(counts), dtype=np.uint16)
    lookup[order] = np.arange(1, len(order) + 1)
    return lookup[components]


def volumes_mm3(lesions, spacing):
    """Volume of lesions 1..n in mm^3 (index 0 is lesion 1)."""
    counts = np.bincount(lesions.ravel())[1:]
    return counts * float(np.prod(spacing))


def choose(volumes, *, lesions_mode, min_lesion_mm3):
    """The lesion numbers that get crops (`volumes`: of lesions 1..n, volumes_mm3): the
    largest, or all of at least `min_lesion_mm3`."""
    if len(volumes) == 0:
        raise InputError("lesion mask is empty")
    if lesions_mode == "largest":
        return [1]
    if lesions_mode != "all":
        raise ValueError(f"unknown preprocess.lesions {lesions_mode!r} (largest or all)")
    chosen = [k + 1 for k, v in enumerate(volumes) if v >= min_lesion_mm3]
    if not chosen:
        raise InputError(
            f"no lesion reaches preprocess.min_lesion_mm3 = {min_lesion_mm3:g} mm^3 "
            f"(the largest of {len(volumes)} is {volumes[0]:.1f} mm^3); lower it or use lesions: largest"
        )
    return chosen
