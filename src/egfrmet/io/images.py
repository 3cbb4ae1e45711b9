"""Reading, checking and writing images through SimpleITK."""

import gzip
import itertools
import struct
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from egfrmet.errors import InputError
from egfrmet.io.files import atomic_output


def dicom_series(folder, series_uid=None):
    """(series UID, file names) of the one DICOM series in `folder` (or of `series_uid`)."""
    reader = sitk.ImageSeriesReader
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise InputError("folder holds no DICOM series", path=folder)
    if series_uid is None and len(series) > 1:
        raise InputError(
            f"folder holds {len(series)} DICOM series ({', '.join(series)}); keep one, "
            "or name it in the sheet's series_uid column",
            path=folder,
        )
    uid = series_uid or series[0]
    if uid not in series:
        raise InputError(f"no DICOM series {uid} (found {', '.join(series)})", path=folder)
    return uid, reader.GetGDCMSeriesFileNames(str(folder), uid)


def series_uid_problem(path, series_uid):
    """Why `series_uid` cannot apply to `path`, or None."""
    if series_uid and not Path(path).is_dir():
        return f"series_uid {series_uid} is given but this is a file, not a DICOM folder"
    return None


def read_image(path, series_uid=""):
    """A 3-D image from a file or a DICOM series folder (its series `series_uid`, if given)."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path=path)
    problem = series_uid_problem(path, series_uid)
    if problem:
        raise InputError(problem, path=path)
    try:
        if path.is_dir():
            image = sitk.ReadImage(dicom_series(path, series_uid or None)[1])
        else:
            image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"unreadable image ({first_line(error)})", path=path) from None
    return image


def read_header(path):
    """Size, spacing, origin and direction without reading the voxels (files only)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise InputError(f"unreadable image ({first_line(error)})", path=path) from None
    return {
        "size": reader.GetSize(),
        "spacing": reader.GetSpacing(),
        "origin": reader.GetOrigin(),
        "direction": reader.GetDirection(),
        "components": reader.GetNumberOfComponents(),
    }


def geometry(image):
    return {
        "size": image.GetSize(),
        "spacing": image.GetSpacing(),
        "origin": image.GetOrigin(),
        "direction": image.GetDirection(),
        "components": image.GetNumberOfComponentsPerPixel(),
    }


def check_3d(header, path):
    """Reject 2-D images, 4-D series and vector images."""
    size = [n for n in header["size"]]
    if len(size) != 3 or min(size) < 1:
        raise InputError(f"image is {len(size)}-D (size {tuple(size)}); a 3-D volume is needed", path=path)
    if header["components"] != 1:
        raise InputError(f"image has {header['components']} components per voxel; a scalar volume is needed", path=path)
    if size[2] == 1:
        raise InputError(f"image is a single slice (size {tuple(size)}); a 3-D volume is needed", path=path)


def grid_mismatch(a, b, tolerance):
    """Why two headers are not on one grid, or None.

    Tolerance, relative to the voxel: spacing may differ by `tolerance` of itself, origins
    by `tolerance` of a voxel, direction cosines by `tolerance`.
    """
    if tuple(a["size"]) != tuple(b["size"]):
        return f"size {tuple(b['size'])} differs from the image's {tuple(a['size'])}"
    spacing_a, spacing_b = np.array(a["spacing"]), np.array(b["spacing"])
    if np.any(np.abs(spacing_a - spacing_b) > tolerance * spacing_a):
        return f"spacing {fmt(spacing_b)} differs from the image's {fmt(spacing_a)}"
    if np.any(np.abs(np.subtract(a["origin"], b["origin"])) > tolerance * spacing_a):
        return f"origin {fmt(b['origin'])} differs from the image's {fmt(a['origin'])}"
    if np.any(np.abs(np.subtract(a["direction"], b["direction"])) > tolerance):
        return f"direction {fmt(b['direction'])} differs from the image's {fmt(a['direction'])}"
    return None


def corners(header):
    """The physical points (8, 3) of the corners of a header's voxel grid (voxel edges)."""
    size, spacing = np.array(header["size"], float), np.array(header["spacing"], float)
    direction = np.array(header["direction"], float).reshape(3, 3)
    index = np.array(list(itertools.product(*[(-0.5, n - 0.5) for n in size])))
    return np.array(header["origin"], float) + (index * spacing) @ direction.T


def overlap(reference, moving):
    """Fraction of the reference's bounding box (physical, axis-aligned) that the moving
    image's bounding box covers: 0 when the fields of view do not meet."""
    a, b = corners(reference), corners(moving)
    low, high = np.maximum(a.min(0), b.min(0)), np.minimum(a.max(0), b.max(0))
    shared = np.prod(np.clip(high - low, 0, None))
    return float(shared / np.prod(a.max(0) - a.min(0)))


def grid_problem(reference, header, *, resample, tolerance):
    """Why a further sequence (header) cannot be taken onto the T1c's grid (reference), or None:
    off the grid without `resample`, or with it outside the T1c's field of view."""
    mismatch = grid_mismatch(reference, header, tolerance)
    if mismatch is None:
        return None
    if not resample:
        return (
            f"not on the image's grid: {mismatch}; co-register it onto the T1c, or set inputs.resample: true "
            "to resample it by header geometry (no registration)"
        )
    if overlap(reference, header) == 0:
        return "its field of view does not overlap the image's (by header geometry): nothing to resample"
    return None


def lesion_array(mask, labels):
    """Boolean lesion voxels: any value > 0, or the values in `labels` when given."""
    values = sitk.GetArrayViewFromImage(mask)
    if labels:
        return np.isin(values, labels)
    return values > 0


ORIENTATION = "LPS"  # ITK's own: array axis 0 (z) is then the axial slice axis, inferior first


def reorient(image):
    """`image` with its axes in the workflow's one orientation (normalise writes, crop reads)."""
    return sitk.DICOMOrient(image, ORIENTATION)


def as_mask_image(array, reference, dtype=np.uint8):
    image = sitk.GetImageFromArray(array.astype(dtype))
    image.CopyInformation(reference)
    return image


# NIfTI datatype codes of the scalar types (complex and RGB are refused by check_3d anyway).
NIFTI_DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8", 1280: "u8"}


def nifti_problem(path):
    """Why a NIfTI file's voxels cannot be trusted, or None.

    ITK reads a truncated .nii or .nii.gz without complaint and turns NaN into 0, so we read
    the voxel block ourselves: complete, and (for float data) finite.
    """
    try:
        data = read_nifti_bytes(path)
    except (OSError, EOFError) as error:
        return f"file is truncated or corrupt ({error})"
    header = nifti_header(data)
    if header is None:
        return None  # not a single-file NIfTI (e.g. .hdr/.img): left to ITK
    offset, shape, code = header
    if code not in NIFTI_DTYPES:
        return None
    dtype = np.dtype(NIFTI_DTYPES[code]).newbyteorder(header_byteorder(data))
    needed = offset + int(np.prod(shape)) * dtype.itemsize
    if len(data) < needed:
        return f"file is truncated: {len(data)} bytes of data where its header promises {needed}"
    if dtype.kind == "f":
        values = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape)), offset=offset)
        bad = int((~np.isfinite(values)).sum())
        if bad:
            return f"{bad} voxels are NaN or infinite"
    return None


def read_nifti_bytes(path, size=-1):
    """The first `size` bytes (all with -1) of a .nii, or of a .nii.gz uncompressed."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as stream:
        return stream.read(size)


def header_byteorder(data):
    return "<" if struct.unpack("<i", data[:4])[0] in (348, 540) else ">"


def nifti_header(data):
    """(voxel offset, shape, datatype code) of a NIfTI-1 or NIfTI-2 single file, or None."""
    if len(data) < 348:
        return None
    order = header_byteorder(data)
    size = struct.unpack(order + "i", data[:4])[0]
    if size == 348 and data[344:347] == b"n+1":
        dims = struct.unpack(order + "8h", data[40:56])
        code = struct.unpack(order + "h", data[70:72])[0]
        offset = int(struct.unpack(order + "f", data[108:112])[0])
    elif size == 540 and len(data) >= 540 and data[4:7] == b"n+2":
        dims = struct.unpack(order + "8q", data[16:80])
        code = struct.unpack(order + "h", data[12:14])[0]
        offset = struct.unpack(order + "q", data[168:176])[0]
    else:
        return None
    return offset, dims[1 : dims[0] + 1], code


# NIfTI-1 header bytes that fix the grid as ITK reads it: dim, pixdim, xyzt_units,
# qform/sform codes, quaternion, offsets and the sform rows.
NIFTI_GRID_BYTES = [(40, 56), (76, 108), (123, 124), (252, 328)]


def nifti_grid_key(path):
    """The raw grid fields of a plain scalar 3-D NIfTI-1 file, or None where ITK must judge.

    ITK takes about 3 ms to read a .nii.gz header; parsing 348 bytes takes 0.1 ms. Files with
    byte-identical keys are on one grid whatever ITK makes of the fields, so only files whose
    keys differ (or are None) need ITK's reading.
    """
    try:
        data = read_nifti_bytes(path, 348)
    except (OSError, EOFError):
        return None
    header = nifti_header(data)
    if header is None:  # not NIfTI-1 (a NIfTI-2 header needs 540 bytes)
        return None
    _, shape, code = header
    if len(shape) != 3 or min(shape) < 1 or shape[2] == 1 or code not in NIFTI_DTYPES:
        return None
    return header_byteorder(data).encode() + b"".join(data[a:b] for a, b in NIFTI_GRID_BYTES)


def write_image(image, path):
    with atomic_output(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)


def first_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    # SimpleITK puts the useful sentence last, after file and line of the C++ source.
    return lines[-1] if lines else type(error).__name__


def fmt(values):
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"
