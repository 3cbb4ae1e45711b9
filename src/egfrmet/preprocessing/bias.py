"""N4 bias-field correction: fit on a shrunken copy inside a head mask, apply at full resolution."""

import logging
import os
import time

import numpy as np
import SimpleITK as sitk

from egfrmet.arguments import PATIENT, SERIES_UID, SETTINGS, THREADS, command, required
from egfrmet.io.images import read_image, write_image
from egfrmet.preprocessing.masks import head_mask, otsu_thresholds

log = logging.getLogger(__name__)


def shrink_factors(spacing, shrink):
    """Per-axis factors (x, y, z) for the fit: `shrink` as a list is taken as it is; a number
    brings the voxels near `shrink` times the finest spacing.

    With a number, a thick-slice scan (0.8 x 0.8 x 6.5 mm) is shrunk in-plane only; [4, 4, 4]
    (the default) shrinks its 25 slices to six planes too, as antspyx does: about 3x faster
    (benchmarks/n4.py, docs/benchmarks/n4.md).
    """
    if isinstance(shrink, (list, tuple)):
        return [int(factor) for factor in shrink]
    finest = min(spacing)
    return [max(1, int(round(shrink * finest / s))) for s in spacing]


def correct(image, head, *, backend, fit_region, shrink, spline_order, span_voxels, control_points, **n4):
    """Bias-corrected float32 image (same grid) and the multiplicative field.

    `head` is the head mask (z, y, x); the settings come from config `preprocess.n4`. The fit's
    grid (shrink factors, control points) is planned here, once, for either backend.
    """
    backends = {"sitk": field_sitk, "ants": field_ants}
    if backend not in backends:
        raise ValueError(f"unknown N4 backend {backend!r} (one of {', '.join(backends)})")
    image = sitk.Cast(image, sitk.sitkFloat32)
    if backend == "ants" and not isinstance(shrink, (list, tuple)):
        shrink = [shrink] * 3  # antspyx shrinks every axis by its one factor, thick slices too
    factors = shrink_factors(image.GetSpacing(), shrink)
    fit_size = [max(1, n // f) for n, f in zip(image.GetSize(), factors)]  # as sitk.Shrink's
    points = lattice_points(fit_size, span_voxels=span_voxels, spline_order=spline_order, control_points=control_points)
    log.info(
        "N4 fit on %s voxels: spline order %d, %d control points per axis at the first of %d levels",
        "x".join(map(str, fit_size)),
        spline_order,
        points,
        len(n4["iterations"]),
    )
    mask = fit_mask(image, head, fit_region)
    field = backends[backend](image, mask, factors=factors, spline_order=spline_order, control_points=points, **n4)
    return image / field, field


def fit_mask(image, head, region):
    """The voxels N4 fits: the head's `tissue`, the whole `head`, or `all` (antspyx's default).

    `head` (the default) fits the generated heads closest to their true field and flattens
    the real scans more than antspyx's defaults; `tissue` leaves out the head's darkest Otsu
    class (air, skull, CSF), which carries mostly noise in log intensity, and is a little
    faster (benchmarks/n4.py, docs/benchmarks/n4.md).
    """
    if region not in ("all", "head", "tissue"):
        raise ValueError(f"unknown N4 fit region {region!r} (one of all, head, tissue)")
    values = sitk.GetArrayViewFromImage(image)
    if region == "all":
        keep = np.ones(values.shape, bool)
    elif region == "head":
        keep = head
    else:
        keep = head & (values > max(0.0, otsu_thresholds(values[head], 3)[0]))
    mask = sitk.GetImageFromArray(keep.astype(np.uint8))
    mask.CopyInformation(image)
    return mask


def lattice_points(fit_size, *, span_voxels, spline_order, control_points):
    """B-spline control points per axis at the first level: `control_points` when given, else
    one span per `span_voxels` voxels of the fit's longest axis, the same count on every axis.

    Scaling with the fit keeps a small head's lattice coarse: on 128-voxel generated heads a
    fixed 9 overfits (WM CV +6.9 % above truth, mean of P001-P003) where 6 give +5.2 %. One
    count on every axis flattens the 256-voxel heads more than a count per axis (+3.0 %
    against +3.9 %): their fields, like their anatomy, scale with the field of view.
    """
    if control_points:
        return int(control_points)
    return max(1, round(max(fit_size) / span_voxels)) + spline_order


def field_sitk(image, mask, *, factors, iterations, convergence, spline_order, control_points, bins, fwhm, threads):
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations([int(i) for i in iterations])
    n4.SetConvergenceThreshold(convergence)
    n4.SetSplineOrder(spline_order)
    n4.SetNumberOfControlPoints([control_points] * 3)
    n4.SetNumberOfHistogramBins(bins)
    n4.SetBiasFieldFullWidthAtHalfMaximum(fwhm)
    n4.SetNumberOfThreads(threads)
    n4.Execute(sitk.Shrink(image, factors), sitk.Shrink(mask, factors))
    return sitk.Exp(n4.GetLogBiasFieldAsImage(image))


def field_ants(image, mask, *, factors, iterations, convergence, spline_order, control_points, bins, fwhm, threads):
    """The same fit through ANTsPy (antspyx); `bins` and `fwhm` are ANTs' fixed defaults there.
    Its call takes one shrink factor and fits cubic splines only (the workflow refuses other
    settings at parse time; these checks are for direct callers)."""
    if len(set(factors)) > 1:
        raise ValueError(f"antspyx shrinks every axis by one factor, not {list(factors)}")
    if spline_order != 3:
        raise ValueError(f"antspyx fits cubic B-splines only (spline_order 3), not {spline_order}")
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(threads)
    try:
        import ants  # slow to import; only this backend needs it
    except ImportError:
        raise RuntimeError(
            "preprocess.n4.backend ants needs antspyx: pip install -e '.[ants]' && pip install --no-deps antspyx==0.6.3"
        ) from None

    field = ants.n4_bias_field_correction(
        to_ants(image),
        mask=to_ants(mask),
        shrink_factor=int(factors[0]),
        convergence={"iters": [int(i) for i in iterations], "tol": convergence},
        spline_param=[control_points - spline_order] * 3,  # antspyx takes the mesh: spans, not points
        return_bias_field=True,
    )
    return from_ants(field, image)


def to_ants(image):
    import ants

    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0).astype(np.float32)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    return ants.from_numpy(array, origin=image.GetOrigin(), spacing=image.GetSpacing(), direction=direction)


def from_ants(ants_image, reference):
    image = sitk.GetImageFromArray(ants_image.numpy().transpose(2, 1, 0).astype(np.float32))
    image.CopyInformation(reference)
    return image


def nonuniformity(image, mask, degree=2, samples=200_000, seed=0):
    """Low-frequency non-uniformity inside `mask`: std of a smooth fit to log intensity.

    Takes the brightest of three Otsu classes within the mask (white matter, within a brain
    mask), fits a polynomial of `degree` in physical coordinates to its log intensities and
    returns the fitted surface's standard deviation: about the log-std of the bias field, and
    near 0 for a flat one. Within a head mask the class also holds scalp fat, whose place
    differs from white matter's, so the figure is then only a rough one.
    """
    values = sitk.GetArrayViewFromImage(image)
    inside = mask & (values > 0)
    index = np.argwhere(inside & (values > otsu_thresholds(values[inside], 3)[-1]))
    rng = np.random.default_rng(seed)
    if len(index) > samples:
        index = index[rng.choice(len(index), samples, replace=False)]
    coords = index[:, ::-1] * np.array(image.GetSpacing())
    coords = (coords - coords.mean(0)) / coords.std(0).clip(1e-6)
    design = polynomial_terms(coords, degree)
    target = np.log(values[tuple(index.T)].astype(float))
    fitted = design @ np.linalg.lstsq(design, target, rcond=None)[0]
    return float(fitted.std())


def polynomial_terms(coords, degree):
    powers = [(i, j, k) for i in range(degree + 1) for j in range(degree + 1) for k in range(degree + 1)]
    return np.stack(
        [coords[:, 0] ** i * coords[:, 1] ** j * coords[:, 2] ** k for i, j, k in powers if i + j + k <= degree],
        axis=1,
    )


@command(
    "N4 bias-field correction",
    PATIENT,
    required("--image", "post-contrast T1 (file or DICOM folder)"),
    SERIES_UID,
    required("--out", "corrected image to write"),
    SETTINGS,
    THREADS,
)
def run(patient, *, image, series_uid, out, settings, threads):
    """The `egfrmet bias` subcommand: read, correct, write, and log what N4 changed."""
    image = read_image(image, series_uid)
    start = time.perf_counter()
    head = head_mask(image)
    corrected, _ = correct(image, head, threads=threads, **settings)
    seconds = time.perf_counter() - start
    before, after = nonuniformity(image, head), nonuniformity(corrected, head)
    log.info(
        "patient %s: N4 (%s) in %.1f s; low-frequency non-uniformity in the head %.4f -> %.4f",
        patient,
        settings["backend"],
        seconds,
        before,
        after,
    )
    write_image(corrected, out)
