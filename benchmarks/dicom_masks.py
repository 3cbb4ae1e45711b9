"""RTSTRUCT and DICOM-SEG masks: how well, and how fast, each reader gives back the mask the
file was made from.

For each reference mask (the real lesions and brain mask of ../shared/data/real, and a
generated head's lesion) the T1c is written as a DICOM series, its mask as an RTSTRUCT
(contours through the voxel edges, and rounded ones as a planning system draws them:
Gaussian-blurred by 0.7 voxel, traced on a 4-times finer grid) and as a DICOM-SEG
(egfrmet.demo.dicom). Each reader's mask is scored against the reference (Dice, on the
series' grid) and timed (median of 3, the file read included):

- ours: egfrmet.io.dicom (pydicom; a voxel is in when its centre is, even-odd holes);
- rt-utils 1.2.7 (OpenCV's fillPoly), when installed: `pip install --no-deps rt-utils==1.2.7
  opencv-python-headless==5.1.0.95` (rt-utils asks for the GUI build of OpenCV);
- highdicom's SEG reading (the only SEG reader here).

    python benchmarks/dicom_masks.py [--real ../shared/data/real]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.uid import generate_uid

from egfrmet.demo import synth
from egfrmet.demo.dicom import write_mr_series, write_rtstruct, write_seg
from egfrmet.io.images import dicom_series
from egfrmet.preprocessing.dicom_mask import mask_image

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def cases(real):
    """(name, image, mask booleans z, y, x) of each reference mask."""
    found = []
    if real.is_dir():
        for scan, mask, value in (
            ("brain1_image.nrrd", "brain1_label.nrrd", None),
            ("brain2_image.nrrd", "brain2_label.nrrd", None),
            ("met1_t1c.nii.gz", "met1_seg.nii.gz", 2),
            ("skull1_t1c.nii.gz", "skull1_brainmask.nii.gz", None),
        ):
            values = sitk.GetArrayFromImage(sitk.ReadImage(str(real / mask)))
            found.append(
                (mask.split(".")[0], sitk.ReadImage(str(real / scan)), values == value if value else values > 0)
            )
    head = synth.make_patient(
        "B1", label=1, center="A", shape=[96, 112, 80], spacing=[1.5, 1.5, 1.5], effect_size=1.0, noise=0.05,
        bias_strength=0.2, seed=5,
    )  # fmt: skip
    image = sitk.GetImageFromArray(head["image"])
    image.SetSpacing(head["spacing"])
    found.append(("generated_lesion", image, head["lesion"] > 0))
    return found


def dice(a, b):
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def timed(function, repeats=3):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def rt_utils_mask(folder, path, series_files, reference):
    """rt-utils' mask, put in the series' (ITK's) slice order by SOP instance UID."""
    from rt_utils import RTStructBuilder

    rtstruct = RTStructBuilder.create_from(dicom_series_path=str(folder), rt_struct_path=str(path))
    mask = rtstruct.get_roi_mask_by_name("ROI")  # rows, columns, slices in rt-utils' order
    order = {str(ds.SOPInstanceUID): k for k, ds in enumerate(rtstruct.series_data)}
    import pydicom

    ours = [order[str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID)] for f in series_files]
    return np.moveaxis(mask, 2, 0)[ours]


def measure(name, image, mask, folder):
    series = write_mr_series(image, folder / "t1c", series_uid=generate_uid())
    _, files = dicom_series(folder / "t1c")
    reference = sitk.ReadImage(files)
    truth = sitk.GetImageFromArray(mask.astype(np.uint8))
    truth.CopyInformation(image)
    truth = sitk.GetArrayFromImage(sitk.Resample(truth, reference, sitk.Transform(), sitk.sitkNearestNeighbor)) > 0
    rows = []
    for style, smooth in (("voxel edges", 0.0), ("rounded", 0.7)):
        path = folder / f"rt_{smooth}.dcm"
        write_rtstruct(path, series, {"ROI": mask}, image=image, smooth=smooth)
        got, seconds = timed(
            lambda: sitk.GetArrayFromImage(mask_image(path, image=folder / "t1c", series_uid="", roi="")) > 0
        )
        rows.append((name, f"RTSTRUCT, {style}", "egfrmet", dice(got, truth), seconds))
        try:
            got, seconds = timed(lambda: rt_utils_mask(folder / "t1c", path, files, reference))
        except ImportError:
            continue
        # rt-utils allocates each slice's mask as (Columns, Rows) and fills it as (Rows, Columns)
        score = dice(got, truth) if got.shape == truth.shape else "fails: (Columns, Rows) slice masks"
        rows.append((name, f"RTSTRUCT, {style}", "rt-utils", score, seconds))
    write_seg(folder / "seg.dcm", series, {"ROI": mask})
    got, seconds = timed(
        lambda: sitk.GetArrayFromImage(mask_image(folder / "seg.dcm", image=folder / "t1c", series_uid="", roi="")) > 0
    )
    rows.append((name, "SEG", "highdicom", dice(got, truth), seconds))
    return rows, int(truth.sum()), reference.GetSize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=REAL, help="the real scans' folder (skipped when absent)")
    args = parser.parse_args()
    print("| mask | size (x, y, z) | voxels | file | reader | Dice | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name, image, mask in cases(args.real):
        with tempfile.TemporaryDirectory() as folder:
            rows, voxels, size = measure(name, image, mask, Path(folder))
        for _, kind, reader, score, seconds in rows:
            score = score if isinstance(score, str) else f"{score:.4f}"
            print(f"| {name} | {size} | {voxels} | {kind} | {reader} | {score} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
