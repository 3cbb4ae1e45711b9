"""The brain mask: the one the sheet gives, or one computed from the bias-corrected image
(part of the `normalise` stage, which z-scores over it).

Computed masks come from one of two methods (`preprocess.brain_mask.method`):

- `deepbet` (default): the deepbet skull stripper (Fisch et al. 2024; two small 3-D U-Nets
  shipped inside its wheel as TorchScript archives, loaded with `torch.jit.load`, nothing
  downloaded), run on the CPU by default. On a raw post-contrast T1 with skull and scalp it
  scores Dice 0.97 against a reference mask (benchmarks/brain_mask.py).
- `morphology`: classic morphological skull stripping, kept as a fallback that loads no
  network: head = Otsu foreground with holes filled; tissue = head voxels above the lower of
  two Otsu thresholds; erode by `erode_mm` to cut scalp from brain, keep the largest part,
  dilate back within the head; fill holes slice by slice. It needs a dark skull/CSF gap at
  least `erode_mm` wide and leaks into scalp and skull base on real scans (Dice 0.83 on the
  same scan).

A computed mask then gets the lesion added (a metastasis at the brain's surface is brain
tissue for the z-score); how much of the lesion the method itself had is kept in the summary.
"""

import logging
import time
import warnings

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from egfrmet.errors import InputError
from egfrmet.io.images import read_image
from egfrmet.preprocessing.masks import ellipsoid, fill_holes_per_slice, head_mask, largest_component, otsu_thresholds

log = logging.getLogger(__name__)


def morphology(image, *, erode_mm):
    """A boolean brain mask (z, y, x) of `image` (bias-corrected) by thresholds and morphology."""
    values = sitk.GetArrayViewFromImage(image)
    head = head_mask(image)
    tissue = head & (values > otsu_thresholds(values[head], 3)[0])
    ball = ellipsoid(image.GetSpacing(), erode_mm)
    core = largest_component(ndimage.binary_erosion(tissue, structure=ball))
    brain = ndimage.binary_dilation(core, structure=ball) & head
    return fill_holes_per_slice(brain)


def deepbet(image, *, device, threshold, threads):
    """A boolean brain mask (z, y, x) of `image` from deepbet's networks.

    deepbet reads volumes in RAS+ voxel order (nibabel's closest canonical); reorienting with
    SimpleITK gives the same array, and the mask goes back to `image`'s grid by nearest
    neighbour (the voxel centres coincide: only axes are permuted or flipped).
    """
    import torch

    try:
        from deepbet import BrainExtraction
    except ImportError:
        raise InputError(
            "preprocess.brain_mask.method deepbet needs the deepbet package "
            "(`make install` installs it); or set preprocess.brain_mask.method: morphology"
        ) from None
    torch.set_num_threads(threads)
    ras = sitk.DICOMOrient(image, "RAS")
    volume = sitk.GetArrayFromImage(ras).transpose(2, 1, 0).astype(np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", FutureWarning)
        bet = BrainExtraction(no_gpu=not use_cuda(device))
    mask = bet.postprocess(bet.run_model(volume) > threshold)
    out = sitk.GetImageFromArray(mask.transpose(2, 1, 0).astype(np.uint8))
    out.CopyInformation(ras)
    back = sitk.Resample(out, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(back) > 0


def use_cuda(device):
    import torch

    if device not in ("cpu", "cuda", "auto"):
        raise InputError(f"preprocess.brain_mask.device is {device!r}: cpu, cuda or auto")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("preprocess.brain_mask.device is cuda but no CUDA device is visible")
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        from egfrmet import cards

        cards.cuda_device()  # a card of this job's own, made current for deepbet
        return True
    return False


def compute(image, *, method, threads=1, **options):
    """The computed brain mask with the method the config names (`options`: its settings)."""
    if method == "deepbet":
        return deepbet(image, threads=threads, **options)
    if method == "morphology":
        return morphology(image, **options)
    raise InputError(f"preprocess.brain_mask.method is {method!r}: deepbet or morphology")


def lesion_coverage(brain, lesion):
    """Fraction of lesion voxels inside `brain`, and how many of how many are outside."""
    total, missed = int(lesion.sum()), int((lesion & ~brain).sum())
    return 1.0 - missed / max(total, 1), missed, total


def brain_mask(patient, corrected, lesion, *, path, settings, threads=1):
    """The brain mask (z, y, x booleans on `corrected`'s grid): the sheet's file at `path`, or
    computed with `settings` when `path` is empty; and its summary, warnings included.

    A given mask is used as it is, and lesion voxels outside it are a warning. A computed
    mask gets the lesion added (a metastasis at the brain's surface is brain for the
    z-score); how much of it the method itself had is kept as `lesion_coverage_by_method`.
    """
    start = time.perf_counter()
    by_method = {}
    if path:
        brain, source, method = sitk.GetArrayFromImage(read_image(path)) > 0, "given", None
    else:
        brain, source, method = compute(corrected, threads=threads, **settings), "computed", settings["method"]
        covered, missed, total = lesion_coverage(brain, lesion)
        by_method = {"lesion_coverage_by_method": covered}
        if missed:
            log.info("patient %s: %s left %d of %d lesion voxels out; added", patient, method, missed, total)
        brain = brain | lesion
    covered, missed, total = lesion_coverage(brain, lesion)
    # counts, not a rounded percentage: one voxel of 300 outside must not read "covers 100%"
    warnings = [f"brain mask misses {missed} of {total} lesion voxels"] if missed else []
    for warning in warnings:
        log.warning("patient %s: %s (%s)", patient, warning, path)
    seconds = time.perf_counter() - start
    log.info("patient %s: %s brain mask (%s), %d voxels, %.1f s", patient, source, method or path, brain.sum(), seconds)
    summary = {"brain_mask": source, "brain_mask_method": method, "brain_voxels": int(brain.sum())}
    return brain, summary | {"lesion_coverage": covered} | by_method | {"warnings": warnings}
