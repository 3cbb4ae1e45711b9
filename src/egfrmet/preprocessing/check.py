"""Checks of a patient's files before any expensive work.

`check_headers` reads headers only (fast: the workflow runs it for every patient when it is
parsed). `check_patient` reads the voxels (the `check` rule, which every N4 job waits for).
Both raise InputError naming the patient, the sheet column and the file.
"""

import json
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from egfrmet.arguments import (
    MASK_LABELS,
    PATIENT,
    RESAMPLE,
    SEQUENCE,
    SEQUENCE_SERIES,
    SERIES_UID,
    SETTINGS,
    command,
    optional,
    required,
)
from egfrmet.config.sheet import series_column
from egfrmet.errors import InputError
from egfrmet.io.dicom import mask_kind
from egfrmet.io.images import (
    atomic_output,
    check_3d,
    geometry,
    grid_mismatch,
    grid_problem,
    lesion_array,
    nifti_grid_key,
    nifti_problem,
    read_header,
    read_image,
    series_uid_problem,
)
from egfrmet.preprocessing import dicom_mask, masks

log = logging.getLogger(__name__)


def check_headers(patient, paths, *, grid_tolerance, series_uids=None, sequences=(), resample=False, rois=None):
    """Existence, 3-D-ness and a shared grid, from headers. `paths`: column -> path or '';
    `series_uids`: {image column: the DICOM series to read from its folder}; `sequences`:
    which columns are further sequences (on the image's grid, or with `resample` anywhere
    their field of view meets the image's); `rois`: {mask column: its ROI choice} for masks
    kept as RTSTRUCT or SEG (egfrmet.preprocessing.dicom_mask)."""
    series_uids = series_uids or {}
    files = {}
    for column, path in paths.items():
        if not path:
            continue
        if not Path(path).exists():
            raise InputError("no such file or folder", patient=patient, column=column, path=path)
        problem = series_uid_problem(path, series_uids.get(column, ""))
        if problem:
            raise InputError(problem, patient=patient, column=series_column(column), path=path)
        if column in dicom_mask.MASK_COLUMNS and mask_kind(path):
            try:
                uid = series_uids.get("image", "")
                dicom_mask.check_header(path, image=paths["image"], series_uid=uid, roi=(rois or {}).get(column, ""))
            except InputError as error:
                raise error.about(patient=patient, column=column) from None
        elif not Path(path).is_dir():  # a DICOM series is read in full by the check rule
            files[column] = path
    keys = {nifti_grid_key(path) for path in files.values()}
    if None not in keys and len(keys) == 1:
        return  # plain 3-D NIfTI files with identical grid fields: ITK would agree
    headers = {}
    for column, path in files.items():
        try:
            headers[column] = read_header(path)
            check_3d(headers[column], path)
        except InputError as error:
            raise error.about(patient=patient, column=column) from None
    compare_grids(patient, headers, paths, grid_tolerance, sequences, resample)


def compare_grids(patient, headers, paths, grid_tolerance, sequences=(), resample=False):
    if "image" not in headers:
        return
    for column in ("mask", "brain_mask"):
        if column in headers:
            problem = grid_mismatch(headers["image"], headers[column], grid_tolerance)
            if problem:
                raise InputError(
                    f"not on the image's grid: {problem}", patient=patient, column=column, path=paths[column]
                )
    for column in sequences:
        if column in headers:
            problem = grid_problem(headers["image"], headers[column], resample=resample, tolerance=grid_tolerance)
            if problem:
                raise InputError(problem, patient=patient, column=column, path=paths[column])


def check_patient(
    patient, paths, *, mask_labels, grid_tolerance, voxels, series_uids=None, sequences=(), resample=False
):
    """Everything `check_headers` checks, plus finite voxels with contrast (image and
    sequences) and a non-empty lesion inside the head and a given brain mask. `voxels`: the
    config's `check` section (contrast_percentiles, max_lesion_outside)."""
    series_uids = series_uids or {}
    images = {}
    for column, path in paths.items():
        if not path:
            continue
        try:
            images[column] = read_image(path, series_uids.get(column, ""))
            check_3d(geometry(images[column]), path)
        except InputError as error:
            raise error.about(patient=patient, column=column) from None
        problem = nifti_problem(path) if str(path).endswith((".nii", ".nii.gz")) else None
        if problem:
            raise InputError(problem, patient=patient, column=column, path=path)
    compare_grids(patient, {c: geometry(i) for c, i in images.items()}, paths, grid_tolerance, sequences, resample)

    for column in ["image", *[c for c in sequences if c in images]]:
        values = sitk.GetArrayViewFromImage(images[column])
        if not np.isfinite(values).all():
            bad = int((~np.isfinite(values)).sum())
            raise InputError(f"{bad} voxels are NaN or infinite", patient=patient, column=column, path=paths[column])
        problem = contrast_problem(values, voxels["contrast_percentiles"])
        if problem:
            raise InputError(problem, patient=patient, column=column, path=paths[column])
    lesion = lesion_array(images["mask"], mask_labels)
    if not lesion.any():
        present = np.unique(sitk.GetArrayViewFromImage(images["mask"])).tolist()
        wanted = f"values {mask_labels}" if mask_labels else "values > 0"
        raise InputError(
            f"mask has no lesion voxel ({wanted}; values present: {present[:10]})",
            patient=patient,
            column="mask",
            path=paths["mask"],
        )
    if "brain_mask" in images and not (sitk.GetArrayViewFromImage(images["brain_mask"]) > 0).any():
        raise InputError("brain mask is empty", patient=patient, column="brain_mask", path=paths["brain_mask"])
    outside = lesion_outside(images, lesion)
    for name, share in outside.items():
        if share > voxels["max_lesion_outside"]:
            raise InputError(
                f"{share:.0%} of the lesion ({round(share * lesion.sum())} of {int(lesion.sum())} voxels) lies "
                f"outside the {name} (check.max_lesion_outside: {voxels['max_lesion_outside']:.0%}): a mask of "
                "another patient or scan, or with its axes flipped?",
                patient=patient,
                column="mask",
                path=paths["mask"],
            )
    slices = np.flatnonzero(lesion.any(axis=(1, 2)))
    return {
        "patient_id": patient,
        "size": list(images["image"].GetSize()),
        "spacing": list(images["image"].GetSpacing()),
        "lesion_voxels": int(lesion.sum()),
        "lesion_slices": [int(slices[0]), int(slices[-1])],
        "lesion_outside": outside,
    }


def lesion_outside(images, lesion):
    """The share of the lesion's voxels outside the head, and outside a given brain mask."""
    regions = {"head": head_mask(images["image"])}
    if "brain_mask" in images:
        regions["brain mask"] = sitk.GetArrayViewFromImage(images["brain_mask"]) > 0
    return {name: float((lesion & ~region).sum() / lesion.sum()) for name, region in regions.items()}


def contrast_problem(values, percentiles):
    """Why `values` hold no image (an export gone wrong): the voxels between the two
    percentiles, most of the scan, all have one value."""
    low, high = np.percentile(values, percentiles)
    if low < high:
        return None
    share = percentiles[1] - percentiles[0]
    return (
        f"no contrast: the middle {share:g} % of the voxels all equal {low:g} (check.contrast_percentiles "
        f"{percentiles[0]:g} and {percentiles[1]:g}); a blank or failed export?"
    )


def head_mask(image):
    """The head (z, y, x booleans on `image`'s grid), found on the image shrunk by 2 per axis:
    coarse, but enough to tell a lesion mask that lies in the air."""
    factors = [2 if n >= 16 else 1 for n in image.GetSize()]
    head = masks.head_mask(sitk.Shrink(image, factors))
    index = np.indices(tuple(reversed(image.GetSize())), sparse=True)
    z, y, x = (np.minimum(i // f, n - 1) for i, f, n in zip(index, reversed(factors), head.shape))
    return head[z, y, x]


@command(
    "check a patient's files (3-D, one grid, finite, with contrast, a lesion in the head) before any work",
    PATIENT,
    required("--image", "post-contrast T1 (file or DICOM folder)"),
    SERIES_UID,
    required("--mask", "lesion mask"),
    optional("--brain-mask", "brain mask, if the sheet gives one"),
    MASK_LABELS,
    required("--grid-tolerance", "allowed grid difference, relative to a voxel", type=float),
    SETTINGS,
    SEQUENCE,
    SEQUENCE_SERIES,
    RESAMPLE,
    required("--out", "summary to write (.json)"),
)
def run(
    patient,
    *,
    image,
    series_uid,
    mask,
    brain_mask,
    mask_labels,
    grid_tolerance,
    settings,
    out,
    sequence=(),
    sequence_series=(),
    resample=False,
):
    """The `egfrmet check` subcommand. `sequence`: (column, path) of each further sequence;
    `sequence_series`: (column, series UID) of those read from a folder of several series."""
    sequence = [tuple(pair) for pair in sequence]
    paths = {"image": image, "mask": mask, "brain_mask": brain_mask} | dict(sequence)
    summary = check_patient(
        patient,
        paths,
        mask_labels=mask_labels,
        grid_tolerance=grid_tolerance,
        voxels=settings,
        series_uids={"image": series_uid} | dict(map(tuple, sequence_series)),
        sequences=[column for column, _ in sequence],
        resample=resample,
    )
    log.info("patient %s: %s", patient, summary)
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
