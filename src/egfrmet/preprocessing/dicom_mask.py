"""A lesion or brain mask kept as an RTSTRUCT or DICOM-SEG, placed on the T1c's grid as a
mask file, which every later stage reads as it reads a sheet's mask (egfrmet.io.dicom)."""

from pathlib import Path

import SimpleITK as sitk

from egfrmet.arguments import PATIENT, SERIES_UID, command, optional, required
from egfrmet.errors import InputError
from egfrmet.io import dicom
from egfrmet.io.images import dicom_series, first_line, write_image

MASK_COLUMNS = ("mask", "brain_mask")


def require_series_folder(image, mask):
    """A DICOM mask is placed on the T1c's DICOM series: the only way to know which series
    the mask belongs to is that the image column names its folder."""
    if not Path(image).is_dir():
        raise InputError(
            "an RTSTRUCT or SEG mask is placed on the DICOM series it references, but the image column "
            f"names a file ({image}): give it that series' folder",
            path=mask,
        )


def check_header(path, *, image, series_uid, roi):
    """What can be checked of a DICOM mask before any job: its ROI choice, a DICOM T1c and,
    when the sheet names the T1c's series, the reference to it."""
    require_series_folder(image, path)
    dataset = dicom.read_object(path, pixels=False)
    dicom.choose_roi(dataset, roi, path)
    if series_uid:
        dicom.check_reference(dataset, series_uid, path)


def mask_image(path, *, image, series_uid, roi):
    """The mask as a uint8 image on the T1c's grid."""
    require_series_folder(image, path)
    uid, files = dicom_series(image, series_uid or None)
    try:
        reference = sitk.ReadImage(files)
    except RuntimeError as error:
        raise InputError(f"unreadable DICOM series ({first_line(error)})", path=image) from None
    return dicom.read_mask(path, reference, files, uid, roi)


@command(
    "place an RTSTRUCT's or DICOM-SEG's structure on the T1c's grid, as a mask file",
    PATIENT,
    required("--column", "the sheet column the mask is in", choices=MASK_COLUMNS),
    required("--image", "the T1c's DICOM series folder the mask references"),
    SERIES_UID,
    required("--mask", "the RTSTRUCT or SEG file"),
    optional("--roi", "the structure or segment: a name pattern or a number ('' when the file holds one)"),
    required("--out", "mask to write (.nii.gz)"),
)
def run(patient, *, column, image, series_uid, mask, roi, out):
    """The `egfrmet dicom-mask` subcommand."""
    try:
        result = mask_image(mask, image=image, series_uid=series_uid, roi=roi)
    except InputError as error:
        raise error.about(patient=patient, column=column) from None
    write_image(result, out)


def as_mask_file(patient, column, path, *, image, series_uid, roi, folder):
    """`path` itself for a mask file; for an RTSTRUCT or SEG, the mask it holds written into
    `folder` as the workflow's dicom_mask rule writes it (egfrmet scan)."""
    if not path or not dicom.mask_kind(path):
        return path
    out = str(Path(folder) / f"{column}.nii.gz")
    run(patient, column=column, image=image, series_uid=series_uid, mask=path, roi=roi, out=out)
    return out
