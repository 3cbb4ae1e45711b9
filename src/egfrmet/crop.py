"""Mid-tumour crops: the centre axial slice of the lesion and its neighbours, one square box
around the lesion, each slice resampled to `size` x `size` (the paper's 5 x 96 x 96 input)."""

import json
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from egfrmet.errors import InputError
from egfrmet.images import atomic_output, read_image
from egfrmet.plots import pyplot, save

log = logging.getLogger(__name__)


def centre_slice(lesion, method):
    """Axial index of the lesion's centre: middle of its extent, or its largest slice."""
    area = lesion.sum(axis=(1, 2))
    present = np.flatnonzero(area)
    if len(present) == 0:
        raise InputError("lesion mask is empty")
    if method == "middle":
        return int((present[0] + present[-1]) // 2)
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
    if interpolator == sitk.sitkLinear and max(sigma) > 0:
        image = sitk.SmoothingRecursiveGaussian(image, sigma)
    origin = [c * s - side_mm / 2 + step / 2 for c, s in zip(centre, spacing)]
    out = sitk.Resample(image, (size, size), sitk.Transform(), interpolator, origin, (step, step), (1, 0, 0, 1), pad)
    return sitk.GetArrayFromImage(out)


def crop_volume(image, lesion, *, context, method, margin_mm, min_box_mm, size):
    """Crops of an LPS image around its lesion (z, y, x bool array).

    Returns the stacked slices, resampled lesion masks and the geometry used. Slices beyond
    the volume (a lesion at its edge) are filled with the image minimum (background).
    """
    values = sitk.GetArrayViewFromImage(image)
    spacing = image.GetSpacing()[:2]
    centre_k = centre_slice(lesion, method)
    slices = list(range(centre_k - context, centre_k + context + 1))
    centre, side = square_box(lesion, slices, spacing, margin_mm=margin_mm, min_box_mm=min_box_mm)
    pad = float(values.min())
    crops, masks = [], []
    for k in slices:
        inside = 0 <= k < values.shape[0]
        plane = values[k] if inside else np.full(values.shape[1:], pad, dtype=np.float32)
        mask = lesion[k] if inside else np.zeros(values.shape[1:], dtype=bool)
        crops.append(sample_slice(plane, spacing, centre, side, size, pad, sitk.sitkLinear))
        masks.append(sample_slice(mask, spacing, centre, side, size, 0.0, sitk.sitkLinear) >= 0.5)
    return {
        "slices": np.stack(crops).astype(np.float32),
        "masks": np.stack(masks).astype(np.uint8),
        "slice_index": np.array(slices),
        "in_volume": np.array([0 <= k < values.shape[0] for k in slices]),
        "lesion_area": np.array([int(lesion[k].sum()) if 0 <= k < lesion.shape[0] else 0 for k in slices]),
        "box_centre_index": np.array(centre, dtype=float),
        "box_side_mm": float(side),
        "spacing": np.array(image.GetSpacing(), dtype=float),
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


def run(patient, *, image, lesion, summary, settings, out, qc):
    """The `egfrmet crop` subcommand: crops (.npz) and their QC picture (.png)."""
    image = read_image(image)
    lesion = sitk.GetArrayFromImage(read_image(lesion)) > 0
    summary = json.loads(Path(summary).read_text(encoding="utf-8"))
    try:
        result = crop_volume(image, lesion, **settings)
    except InputError as error:
        raise error.about(patient=patient, column="mask") from None
    result["source_slice_index"], result["source_slice_axis"] = source_slices(
        image, summary["source_grid"], result["slice_index"]
    )
    log.info(
        "patient %s: slices %s (source %s), box %.1f mm",
        patient,
        result["slice_index"].tolist(),
        result["source_slice_index"].tolist(),
        result["box_side_mm"],
    )
    with atomic_output(out) as tmp:
        np.savez_compressed(tmp, patient_id=patient, **result)
    plot_qc(result, patient, summary, qc)


def plot_qc(result, patient, summary, path):
    """The crops side by side with the lesion outline; computed masks and warnings marked."""
    plt = pyplot()
    n = len(result["slices"])
    fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.9))
    low, high = np.percentile(result["slices"], [1, 99])
    for ax, crop, mask, k, area in zip(
        axes, result["slices"], result["masks"], result["source_slice_index"], result["lesion_area"]
    ):
        ax.imshow(crop, cmap="gray", vmin=low, vmax=high)
        if mask.any():
            ax.contour(mask, levels=[0.5], colors="red", linewidths=0.8)
        ax.set_title(f"slice {k}\n{area} lesion px", fontsize=8)
        ax.axis("off")
    notes = [f"brain mask: {summary['brain_mask']}"] + summary.get("warnings", [])
    fig.suptitle(f"{patient}  ·  box {result['box_side_mm']:.0f} mm  ·  " + "  ·  ".join(notes), fontsize=9)
    fig.tight_layout()
    save(fig, [path], dpi=80)
