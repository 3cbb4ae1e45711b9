"""Further MRI sequences of a patient (the config's `inputs.sequences`, e.g. FLAIR, T2): each
on the T1c's grid, or with `inputs.resample: true` resampled onto it by header geometry
alone (no registration: a patient who moved between series stays moved), then N4-corrected
with the T1c's settings and z-scored over the T1c's brain mask, so that the crops take the
same boxes of every sequence (one channel each, the T1c first)."""

import logging

import SimpleITK as sitk

from egfrmet.arguments import PATIENT, RESAMPLE, SETTINGS, THREADS, command, optional, required
from egfrmet.arguments import settings as settings_json
from egfrmet.errors import InputError
from egfrmet.io.images import geometry, grid_mismatch, grid_problem, read_image, reorient, write_image
from egfrmet.preprocessing import bias, registration
from egfrmet.preprocessing.masks import head_mask

log = logging.getLogger(__name__)


def onto_grid(image, reference, transform=None):
    """`image` resampled (linear) onto the grid of `reference` by physical position (through
    `transform`, from the reference's points to the image's, when given); voxels outside its
    field of view take its minimum."""
    if transform is None and grid_mismatch(geometry(reference), geometry(image), 1e-6) is None:
        return image
    floor = float(sitk.GetArrayViewFromImage(image).min())
    transform = transform or sitk.Transform()
    return sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), reference, transform, sitk.sitkLinear, floor)


@command(
    "a further sequence onto the image's grid (resampled by header geometry if allowed), N4-corrected",
    PATIENT,
    required("--sequence", "its sheet column (for messages)"),
    required("--image", "the sequence's file or DICOM folder"),
    optional("--series-uid", "the sequence's DICOM series, when its folder holds several"),
    required("--reference", "the post-contrast T1, whose grid it takes"),
    optional("--reference-series-uid", "the post-contrast T1's DICOM series, when its folder holds several"),
    RESAMPLE,
    required("--grid-tolerance", "allowed grid difference, relative to a voxel", type=float),
    SETTINGS,
    (
        ["--register"],
        {
            "type": settings_json,
            "default": None,
            "help": "rigid registration onto the (corrected) reference "
            "first, with these settings (preprocess.registration, as JSON)",
        },
    ),
    THREADS,
    required("--out", "corrected sequence to write"),
)
def run_bias(
    patient,
    *,
    sequence,
    image,
    reference,
    resample,
    grid_tolerance,
    settings,
    threads,
    out,
    series_uid="",
    reference_series_uid="",
    register=None,
):
    """The `egfrmet bias-sequence` subcommand: one sequence on the T1c's grid, N4-corrected
    (with `register`, N4-corrected on its own grid, then registered onto `reference`, the
    corrected T1c: bias fields would pull the registration off by a few mm)."""
    try:
        moving = read_image(image, series_uid)
    except InputError as error:
        raise error.about(patient=patient, column=sequence) from None
    t1c = read_image(reference, reference_series_uid)
    problem = grid_problem(
        geometry(t1c), geometry(moving), resample=resample or bool(register), tolerance=grid_tolerance
    )
    if problem:
        raise InputError(problem, patient=patient, column=sequence, path=image)
    if register:
        corrected, _ = bias.correct(moving, head_mask(moving), threads=threads, **settings)
        transform = registration.rigid(t1c, corrected, **register)
        log.info("patient %s: %s registered onto the T1c: %s", patient, sequence, registration.describe(transform))
        write_image(onto_grid(corrected, t1c, transform), out)
        return
    on_grid = onto_grid(moving, t1c)
    corrected, _ = bias.correct(on_grid, head_mask(on_grid), threads=threads, **settings)
    resampled = "resampled onto the T1c's grid by header geometry" if on_grid is not moving else "on the T1c's grid"
    log.info("patient %s: %s %s, N4-corrected", patient, sequence, resampled)
    write_image(corrected, out)


@command(
    "a corrected sequence reoriented to LPS and z-scored over the image's brain mask",
    PATIENT,
    required("--sequence", "its sheet column (for messages)"),
    required("--image", "the corrected sequence"),
    required("--brain", "the brain mask normalise wrote"),
    required("--out", "normalised sequence to write"),
)
def run_normalise(patient, *, sequence, image, brain, out):
    """The `egfrmet normalise-sequence` subcommand: a corrected sequence in LPS, z-scored over
    the T1c's brain mask (the normalise stage's, on the same grid)."""
    from egfrmet.preprocessing.normalise import zscore

    brain_mask = sitk.GetArrayFromImage(reorient(read_image(brain))) > 0
    try:
        normalised, mean, std = zscore(reorient(read_image(image)), brain_mask)
    except InputError as error:
        raise error.about(patient=patient, column=sequence, path=image) from None
    log.info("patient %s: %s z-scored over the brain (mean %.4g, std %.4g)", patient, sequence, mean, std)
    write_image(normalised, out)
