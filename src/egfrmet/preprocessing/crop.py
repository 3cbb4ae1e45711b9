"""Crops around a lesion: the centre axial slice and its neighbours (the paper's 5 x 96 x 96
input), or every slice the lesion spans and its neighbours (`extent: lesion`, the whole-lesion
networks' input); one square box around that lesion alone, each slice resampled to `size` x
`size`. The largest lesion of the mask, or each lesion in turn (egfrmet.preprocessing.lesions)."""

import json
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from egfrmet.arguments import PATIENT, SEQUENCE_FILES, SETTINGS, command, required
from egfrmet.errors import InputError
from egfrmet.io.files import atomic_output, paired_sequences
from egfrmet.io.images import read_image, reorient
from egfrmet.preprocessing.lesions import choose, volumes_mm3
from egfrmet.preprocessing.qc import plot_qc

log = logging.getLogger(__name__)


def centre_slice(lesion, method):
    """Axial index of the lesion's centre: its slice nearest the middle of its extent, or its
    largest slice. (A numbered lesion may be in pieces: its middle may hold none of it.)"""
    area = lesion.sum(axis=(1, 2))
    present = np.flatnonzero(area)
    if len(present) == 0:
        raise InputError("lesion mask is empty")
    if method == "middle":
        middle = (present[0] + present[-1]) // 2
        return int(present[np.argmin(np.abs(present - middle))])
    if method == "largest":
        return int(np.argmax(area))
    raise ValueError(f"unknown slice method {method!r} (middle or largest)")


def square_box(lesion, slices, spacing, *, margin_mm, min_box_mm):
    """Centre (x, y) in continuous voxel index and side in mm of the box around the lesion."""
    inside = [k for k in slices if 0 <= k < lesion.shape[0]]
    union = lesion[inside].any(axis=0)
    ys, xs = np.nonzero(union)
    centre = ((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2)
    extent = max((xs.max() - xs.min() + 1) * spacing[0], (ys.max() - ys.min() + 1) * spacing[1])
    return centre, max(extent + 2 * margin_mm, min_box_mm)


def sample_slice(plane, spacing, centre, side_mm, size, pad, interpolator):
    """Resample the square box of one 2-D slice onto size x size pixels (anti-aliased)."""
    image = sitk.GetImageFromArray(plane.astype(np.float32))
    image.SetSpacing(spacing)
    step = side_mm / size
    sigma = [max(0.0, (step / s - 1) / 2) * s for s in spacing]
    if interpolator == sitk.sitkLinear and min(sigma) > 0:
        image = sitk.SmoothingRecursiveGaussian(image, sigma)
    elif interpolator == sitk.sitkLinear and max(sigma) > 0:  # coarser along one axis only
        for axis in (axis for axis, s in enumerate(sigma) if s > 0):
            image = sitk.RecursiveGaussian(image, sigma[axis], False, sitk.RecursiveGaussianImageFilter.ZeroOrder, axis)
    origin = [c * s - side_mm / 2 + step / 2 for c, s in zip(centre, spacing)]
    out = sitk.Resample(image, (size, size), sitk.Transform(), interpolator, origin, (step, step), (1, 0, 0, 1), pad)
    return sitk.GetArrayFromImage(out)


def crop_slices(lesion, *, extent, method, context):
    """Axial indices to crop: the lesion's centre slice (`method`) with `context` neighbours
    each side (extent middle), or every slice from its first to its last with `context` more
    each side (extent lesion)."""
    if extent == "middle":
        centre = centre_slice(lesion, method)
        return list(range(centre - context, centre + context + 1))
    if extent == "lesion":
        present = np.flatnonzero(lesion.any(axis=(1, 2)))
        if len(present) == 0:
            raise InputError("lesion mask is empty")
        return list(range(present[0] - context, present[-1] + context + 1))
    raise ValueError(f"unknown crop extent {extent!r} (middle or lesion)")


def crop_volume(
    image,
    lesion,
    *,
    context,
    method,
    margin_mm,
    min_box_mm,
    size,
    brain=None,
    sequences=(),
    outside_brain="keep",
    extent="middle",
):
    """Crops of an LPS image around one lesion (z, y, x bool array), at the slices of
    crop_slices (`extent`: middle, the paper's, or lesion, every slice it spans).

    Returns the stacked slices, resampled lesion masks (and brain masks, when `brain` is
    given) and the geometry used. Slices beyond the volume (a lesion at its edge) are filled
    with the image minimum (background). `sequences`: further images on the same grid, cropped
    with the same boxes into `sequences` (slices, sequence, size, size). `outside_brain`:
    keep, or background (every voxel outside `brain` set to the image minimum first, so the
    network cannot learn from skull and scalp).
    """
    values = sitk.GetArrayViewFromImage(image)
    pad = float(values.min())
    if outside_brain == "background":
        values = np.where(brain, values, pad).astype(values.dtype)
    spacing = image.GetSpacing()[:2]
    slices = crop_slices(lesion, extent=extent, method=method, context=context)
    centre, side = square_box(lesion, slices, spacing, margin_mm=margin_mm, min_box_mm=min_box_mm)

    def sample(volume, k, fill):
        inside = 0 <= k < volume.shape[0]
        plane = volume[k] if inside else np.full(volume.shape[1:], fill, dtype=np.float32)
        return sample_slice(plane, spacing, centre, side, size, fill, sitk.sitkLinear)

    result = {
        "slices": np.stack([sample(values, k, pad) for k in slices]).astype(np.float32),
        "masks": np.stack([sample(lesion, k, 0.0) >= 0.5 for k in slices]).astype(np.uint8),
        "slice_index": np.array(slices),
        "in_volume": np.array([0 <= k < values.shape[0] for k in slices]),
        "lesion_area": np.array([int(lesion[k].sum()) if 0 <= k < lesion.shape[0] else 0 for k in slices]),
        "box_centre_index": np.array(centre, dtype=float),
        "box_side_mm": float(side),
        "spacing": np.array(image.GetSpacing(), dtype=float),
    }
    if brain is not None:
        result["brain_masks"] = np.stack([sample(brain, k, 0.0) >= 0.5 for k in slices]).astype(np.uint8)
    if sequences:
        arrays = [sitk.GetArrayViewFromImage(other) for other in sequences]
        if outside_brain == "background":
            arrays = [np.where(brain, array, array.min()).astype(array.dtype) for array in arrays]
        planes = [[sample(array, k, float(array.min())) for array in arrays] for k in slices]
        result["sequences"] = np.array(planes, dtype=np.float32)
    return result


def crop_lesions(image, lesions, brain, *, lesions_mode, min_lesion_mm3, sequences=(), **settings):
    """Crops of each chosen lesion (`lesions`: numbers by decreasing volume, egfrmet.preprocessing.lesions),
    stacked lesion after lesion (`lesion`: each slice's lesion number): 5 slices per lesion
    with the default context and extent, each lesion's span and context with extent lesion."""
    volumes = volumes_mm3(lesions, image.GetSpacing())
    chosen = choose(volumes, lesions_mode=lesions_mode, min_lesion_mm3=min_lesion_mm3)
    parts = [crop_volume(image, lesions == k, brain=brain, sequences=sequences, **settings) for k in chosen]
    per_slice = ["slices", "sequences", "masks", "brain_masks", "slice_index", "in_volume", "lesion_area"]
    result = {key: np.concatenate([part[key] for part in parts]) for key in per_slice if key in parts[0]}
    return result | {
        "lesion": np.repeat(chosen, [len(part["slices"]) for part in parts]),
        "lesions_taken": np.array(chosen),
        "lesion_volume_mm3": volumes,
        "box_centre_index": np.stack([part["box_centre_index"] for part in parts]),
        "box_side_mm": np.array([part["box_side_mm"] for part in parts]),
        "spacing": parts[0]["spacing"],
    }


def source_slices(image, source, slices):
    """Indices of `slices` (LPS axial indices of `image`) along the source image's slice axis."""
    direction = np.array(source["direction"]).reshape(3, 3)
    spacing, origin = np.array(source["spacing"]), np.array(source["origin"])

    def source_index(k):
        point = np.array(image.TransformContinuousIndexToPhysicalPoint((0.0, 0.0, float(k))))
        return np.linalg.solve(direction * spacing, point - origin)

    axis = int(np.argmax(np.abs(source_index(1) - source_index(0))))
    return np.array([int(round(source_index(k)[axis])) for k in slices]), axis


# Keys of the crop settings about further sequences, not about cropping.
SEQUENCE_KEYS = ("sequences", "missing_allowed", "absent")


def with_missing(result, present):
    """The crops' `sequences` (slices, sequence, size, size) with a zero channel (the z-scored
    mean) where the patient lacks a sequence (`present`: one flag per sequence)."""
    slices = result["slices"]
    full = np.zeros((len(slices), len(present), *slices.shape[1:]), dtype=slices.dtype)
    full[:, np.flatnonzero(present)] = result["sequences"] if "sequences" in result else 0
    return full


@command(
    "mid-tumour slices and neighbours, cropped and resampled, with a QC picture",
    PATIENT,
    required("--image", "normalised LPS image"),
    required("--lesion", "LPS numbered lesion mask"),
    required("--brain", "brain mask used by normalise"),
    required("--summary", "normalisation summary (.json)"),
    SEQUENCE_FILES,
    SETTINGS,
    required("--out", "crops to write (.npz)"),
    required("--qc", "QC picture to write (.png)"),
)
def run(patient, *, image, lesion, brain, summary, settings, out, qc, sequence_files=()):
    """The `egfrmet crop` subcommand: crops (.npz) and their QC picture (.png).
    `sequence_files`: the normalised LPS image of each of settings["sequences"] (the further
    sequences, settings.crop_settings), cropped with the same boxes; the crops then hold
    `sequences` (slices, sequence, size, size) and `sequence_names`."""
    sequence = paired_sequences(settings, sequence_files)
    if sequence is None:
        raise InputError(f"{len(sequence_files)} sequence files for {settings.get('sequences', [])}", patient=patient)
    presence = settings.get("missing_allowed", False)
    settings = {key: value for key, value in settings.items() if key not in SEQUENCE_KEYS}
    image = read_image(image)
    lesions = sitk.GetArrayFromImage(read_image(lesion))
    brain = sitk.GetArrayFromImage(reorient(read_image(brain))) > 0  # normalise kept it on the source grid
    summary = json.loads(Path(summary).read_text(encoding="utf-8"))
    present = [(column, path) for column, path in sequence if path]
    others = [read_image(path) for _, path in present]
    for (column, path), other in zip(present, others):
        if other.GetSize() != image.GetSize():
            raise InputError(
                f"normalised {column} is not on the image's grid", patient=patient, column=column, path=path
            )
    try:
        result = crop_lesions(image, lesions, brain, sequences=others, **settings)
    except InputError as error:
        raise error.about(patient=patient, column="mask", path=summary.get("mask")) from None
    if sequence:
        result["sequence_names"] = np.array([column for column, _ in sequence])
        result["sequences"] = with_missing(result, [path is not None for _, path in sequence])
    if presence:
        result["sequence_present"] = np.array([path is not None for _, path in sequence])
    result["source_slice_index"], result["source_slice_axis"] = source_slices(
        image, summary["source_grid"], result["slice_index"]
    )
    log.info(
        "patient %s: %d lesion(s) in the mask, took %s; slices %s (source %s), box %s mm",
        patient,
        len(result["lesion_volume_mm3"]),
        result["lesions_taken"].tolist(),
        result["slice_index"].tolist(),
        result["source_slice_index"].tolist(),
        np.round(result["box_side_mm"], 1).tolist(),
    )
    with atomic_output(out) as tmp:
        np.savez_compressed(tmp, patient_id=patient, **result)
    plot_qc(result, patient, summary, qc)
