"""Morphology shared by N4's fit mask and the fallback brain mask: Otsu thresholds, the head,
hole filling, the largest component, a ball in mm."""

import numpy as np
import SimpleITK as sitk
from scipy import ndimage


def head_mask(image):
    """Voxels of the head: Otsu foreground, holes filled slice by slice, largest component.

    Filling per slice (along each axis) closes the dark skull and CSF inside the scalp even
    where the field of view cuts the head open.
    """
    values = sitk.GetArrayViewFromImage(image)
    foreground = values > otsu_thresholds(values, 2)[0]
    filled = fill_holes_per_slice(foreground)
    return largest_component(filled)


def fill_holes_per_slice(mask):
    filled = mask.copy()
    for axis in range(3):
        structure = np.zeros((3, 3, 3), dtype=bool)
        index = [slice(None)] * 3
        index[axis] = 1
        structure[tuple(index)] = ndimage.generate_binary_structure(2, 1)
        filled |= ndimage.binary_fill_holes(mask, structure=structure)
    return ndimage.binary_fill_holes(filled)


def largest_component(mask):
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == np.argmax(sizes)


def otsu_thresholds(values, classes):
    """Ascending thresholds that split `values` into `classes` Otsu classes."""
    image = sitk.GetImageFromArray(np.asarray(values, dtype=np.float32).reshape(1, 1, -1))
    otsu = sitk.OtsuMultipleThresholdsImageFilter()
    otsu.SetNumberOfThresholds(classes - 1)
    otsu.Execute(image)
    return list(otsu.GetThresholds())


def ellipsoid(spacing, radius_mm):
    """A structuring element of `radius_mm` in every direction, in (z, y, x) voxels."""
    radii = [max(1, int(round(radius_mm / s))) for s in reversed(spacing)]
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radii)]
    return sum((g / r) ** 2 for g, r in zip(grids, radii)) <= 1
