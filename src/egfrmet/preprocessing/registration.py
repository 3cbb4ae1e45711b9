"""Rigid registration of a further sequence onto the T1c (`inputs.register: rigid`): the head
moves between series acquired minutes apart, and a 3-mm shift is a third of a small
metastasis. SimpleITK's Mattes mutual information over a multi-resolution pyramid, from the
scanner's frame (docs/benchmarks/registration.md measures
it against antspyx on real scans moved by known transforms). And the picture a reader checks
it with: the T1c's edges over the sequence, through the lesion."""

import json
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from egfrmet.arguments import PATIENT, command, required
from egfrmet.io.figures import pyplot, save

log = logging.getLogger(__name__)


def rigid(fixed, moving, *, bins, samples, iterations, shrink, smoothing_mm, seed):
    """The rigid transform that maps the T1c's (`fixed`) physical points onto the sequence's
    (`moving`): sitk.Resample(moving, fixed, transform) puts the sequence on the T1c.
    `samples`: voxels the metric samples at each pyramid level (all of a smaller level), so
    that a thin-sliced 1-mm head and a small 3-mm one are sampled alike."""
    fixed, moving = sitk.Cast(fixed, sitk.sitkFloat32), sitk.Cast(moving, sitk.sitkFloat32)
    # from the scanner's own frame: series of one session share it, and a centre of mass
    # would differ between contrasts
    start = sitk.Euler3DTransform()
    start.SetCenter(fixed.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in fixed.GetSize()]))
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    voxels = np.prod(fixed.GetSize())
    shares = [min(1.0, samples * factor**3 / voxels) for factor in shrink]
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentagePerLevel(shares, seed)
    method.SetInterpolator(sitk.sitkLinear)
    # no gradient-magnitude stop: ITK's default (1e-4) ends the search after a dozen steps
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-4, numberOfIterations=iterations, relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-9,
    )  # fmt: skip
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(shrink)
    method.SetSmoothingSigmasPerLevel(smoothing_mm)
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(start, inPlace=False)
    transform = method.Execute(fixed, moving)
    log.info("rigid registration: %s after %d iterations", method.GetOptimizerStopConditionDescription(),
             method.GetOptimizerIteration())  # fmt: skip
    return transform


def describe(transform):
    """A rigid transform in words: its rotation (degrees about x, y, z) and translation (mm)."""
    euler = sitk.Euler3DTransform(sitk.CompositeTransform(transform).GetNthTransform(0))
    angles = np.degrees([euler.GetAngleX(), euler.GetAngleY(), euler.GetAngleZ()])
    return f"rotation {np.round(angles, 2).tolist()} deg, translation {np.round(euler.GetTranslation(), 2).tolist()} mm"


def displacement_mm(found, truth, points):
    """Mean distance (mm) between where two point maps send `points` (n, 3): transforms
    (their TransformPoint is taken) or functions of a point."""
    found, truth = (getattr(m, "TransformPoint", m) for m in (found, truth))
    got = np.array([found(tuple(p)) for p in points])
    wanted = np.array([truth(tuple(p)) for p in points])
    return float(np.linalg.norm(got - wanted, axis=1).mean())


def edges(image):
    """The T1c's strong edges (booleans z, y, x): Canny on the image scaled to [0, 1]."""
    scaled = sitk.RescaleIntensity(sitk.Cast(image, sitk.sitkFloat32), 0.0, 1.0)
    return sitk.GetArrayFromImage(sitk.CannyEdgeDetection(scaled, 0.05, 0.15, [1.0] * 3)) > 0


@command(
    "a picture of a sequence on the T1c's grid with the T1c's edges over it",
    PATIENT,
    required("--sequence", "its sheet column (for the title)"),
    required("--image", "the T1c on its own grid (N4-corrected)"),
    required("--moved", "the sequence on the T1c's grid (bias-sequence's output)"),
    required("--check", "the check's summary (.json: where the lesion lies)"),
    required("--out", "picture to write (.png)"),
)
def run_qc(patient, *, sequence, image, moved, check, out):
    """The `egfrmet alignment-qc` subcommand: the axial slice through the lesion's middle,
    and coronal and sagittal ones through the image's centre (as stored), the sequence in
    grey and the T1c's edges in red."""
    t1c, other = sitk.ReadImage(image), sitk.ReadImage(moved)
    first, last = json.loads(Path(check).read_text(encoding="utf-8"))["lesion_slices"]
    z = (first + last) // 2
    outline = edges(t1c)
    values = sitk.GetArrayFromImage(other)
    y, x = (n // 2 for n in values.shape[1:])
    views = {
        "axial": (values[z], outline[z]),
        "coronal": (values[:, y], outline[:, y]),
        "sagittal": (values[:, :, x], outline[:, :, x]),
    }
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.8))
    low, high = np.percentile(values, [1, 99])
    for ax, (name, (plane, lines)) in zip(axes, views.items()):
        ax.imshow(plane, cmap="gray", vmin=low, vmax=high, origin="lower" if name != "axial" else "upper")
        shown = np.ma.masked_where(~lines, lines)
        ax.imshow(shown, cmap="autumn", alpha=0.9, interpolation="none", origin="lower" if name != "axial" else "upper")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{patient} · {sequence} on the T1c's grid · red: the T1c's edges (slice {z})", fontsize=9)
    fig.tight_layout()
    save(fig, [out], dpi=80)
