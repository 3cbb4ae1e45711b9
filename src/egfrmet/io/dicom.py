"""Masks that hospitals keep as DICOM objects: an RTSTRUCT (contours from a planning system)
or a DICOM-SEG (voxels from a research viewer), recognised by their SOP class and turned
into a mask on the grid of the T1c series they reference.

RTSTRUCT contours are rasterised here (a voxel is in a contour when its centre is, contours
of one slice combined even-odd so that an inner contour is a hole; docs/benchmarks/dicom.md
compares it with rt-utils); SEG frames are read by highdicom, matched to the T1c's files by
their SOP instance UIDs.
"""

import fnmatch
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.errors import InvalidDicomError

from egfrmet.errors import InputError

RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
SEG = "1.2.840.10008.5.1.4.1.1.66.4"
KINDS = {RTSTRUCT: "RTSTRUCT", SEG: "SEG"}
# Files no DICOM reader needs to open to know they are images.
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".hdr", ".img")
OFF_PLANE = 0.25  # of a slice: how far a contour's points may lie from one slice's plane


def mask_kind(path):
    """'RTSTRUCT' or 'SEG' when `path` is such a DICOM file, else None (an image)."""
    path = Path(path)
    if not path.is_file() or path.name.lower().endswith(IMAGE_SUFFIXES):
        return None
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except (InvalidDicomError, OSError, ValueError):
        return None
    return KINDS.get(str(header.get("SOPClassUID", "")))


def read_object(path, pixels=True):
    """The DICOM dataset of an RTSTRUCT or SEG file (a SEG's pixels only with `pixels`)."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels)
    except (InvalidDicomError, OSError, ValueError) as error:
        raise InputError(f"unreadable DICOM file ({error})", path=path) from None


def rois(dataset):
    """{number: name} of the structures of an RTSTRUCT or the segments of a SEG."""
    if dataset.SOPClassUID == RTSTRUCT:
        return {int(r.ROINumber): str(r.get("ROIName", "")) for r in dataset.get("StructureSetROISequence", [])}
    return {int(s.SegmentNumber): str(s.get("SegmentLabel", "")) for s in dataset.get("SegmentSequence", [])}


def choose_roi(dataset, roi, path):
    """The number of the one structure or segment `roi` names: '' (the file holds one), a
    number, or a name pattern (shell-style, any case). Refused when it matches none or
    several, naming what the file holds."""
    held = rois(dataset)
    listing = ", ".join(f"{number} {name!r}" for number, name in held.items()) or "none"
    kind = KINDS[dataset.SOPClassUID]
    if not roi:
        matches = list(held)
        wanted = (
            f"the {kind} holds {len(held)} ROIs; name one (a name pattern or a number) with dicom.mask_roi, "
            "or dicom.brain_mask_roi for a brain mask"
        )
    elif str(roi).isdigit():
        matches = [int(roi)] if int(roi) in held else []
        wanted = f"no ROI number {roi}"
    else:
        matches = [n for n, name in held.items() if fnmatch.fnmatchcase(name.lower(), str(roi).lower())]
        wanted = f"ROI pattern {roi!r} matches {len(matches)} ROIs"
    if len(matches) != 1:
        raise InputError(f"{wanted} (the file holds: {listing})", path=path)
    return matches[0]


def referenced_series(dataset):
    """The series instance UIDs the object was drawn on."""
    if dataset.SOPClassUID == RTSTRUCT:
        return {
            str(series.SeriesInstanceUID)
            for frame in dataset.get("ReferencedFrameOfReferenceSequence", [])
            for study in frame.get("RTReferencedStudySequence", [])
            for series in study.get("RTReferencedSeriesSequence", [])
        }
    return {str(series.SeriesInstanceUID) for series in dataset.get("ReferencedSeriesSequence", [])}


def check_reference(dataset, series_uid, path):
    """Refuse an object drawn on another series than the T1c's (`series_uid`)."""
    referenced = referenced_series(dataset)
    if series_uid not in referenced:
        named = ", ".join(sorted(referenced)) or "none"
        raise InputError(
            f"this {KINDS[dataset.SOPClassUID]} references series {named}, not the image's series {series_uid}: "
            "contours are only placed on the series they were drawn on",
            path=path,
        )


def index_of(points, reference):
    """Continuous voxel indices (n, 3: x, y, z) of physical points (n, 3) on `reference`."""
    origin = np.array(reference.GetOrigin())
    direction = np.array(reference.GetDirection()).reshape(3, 3)
    scaled = direction * np.array(reference.GetSpacing())  # column j: the physical step of index j
    return (points - origin) @ np.linalg.inv(scaled).T


def points(values):
    """(n, 3) points of a ContourData value; as raw text where a writer stored it untyped (an
    explicit-VR file's contour of more than 64 kB cannot be typed DS)."""
    if isinstance(values, bytes):
        values = values.decode("ascii").strip(" \0").split("\\")
    return np.array(values, float).reshape(-1, 3)


def rasterise(dataset, number, reference, path):
    """The RTSTRUCT's structure `number` as booleans (z, y, x) on `reference`'s grid."""
    items = [c for c in dataset.get("ROIContourSequence", []) if int(c.ReferencedROINumber) == number]
    contours = [c for item in items for c in item.get("ContourSequence", []) if c.get("ContourData")]
    planar = [c for c in contours if c.get("ContourGeometricType", "CLOSED_PLANAR") == "CLOSED_PLANAR"]
    if not planar:
        raise InputError(f"ROI {number} holds no closed contour: an empty structure", path=path)
    size = np.array(reference.GetSize())
    by_slice = defaultdict(list)
    for contour in planar:
        index = index_of(points(contour.ContourData), reference)
        k = int(np.rint(index[:, 2].mean()))
        if np.abs(index[:, 2] - k).max() > OFF_PLANE:
            raise InputError(
                f"ROI {number}: a contour does not lie in a slice of the image (it spans "
                f"{np.ptp(index[:, 2]):.2f} slices): drawn on another series or orientation?",
                path=path,
            )
        if (index < -0.5).any() or (index > size - 0.5).any():
            raise InputError(f"ROI {number}: contours lie outside the image (slice {k} of {size[2]})", path=path)
        by_slice[k].append(index[:, :2])
    mask = np.zeros(tuple(size[::-1]), bool)
    for k, polygons in by_slice.items():
        for polygon in polygons:  # even-odd: a contour inside another is a hole
            mask[k] ^= filled(polygon, size[1], size[0])
    return mask


def filled(polygon, rows, columns):
    """The voxels (rows, columns) whose centres lie inside `polygon` ((n, 2) x, y indices)."""
    from matplotlib.path import Path as Polygon  # not on a cluster's controller, which only reads headers

    out = np.zeros((rows, columns), bool)
    low = np.clip(np.floor(polygon.min(0)).astype(int), 0, None)
    high = np.minimum(np.ceil(polygon.max(0)).astype(int) + 1, (columns, rows))
    x, y = np.meshgrid(np.arange(low[0], high[0]), np.arange(low[1], high[1]))
    inside = Polygon(polygon).contains_points(np.column_stack([x.ravel(), y.ravel()]))
    out[low[1] : high[1], low[0] : high[0]] = inside.reshape(x.shape)
    return out


def segment(path, number, instance_uids):
    """The SEG's segment `number` as booleans (z, y, x), one plane per T1c file
    (`instance_uids`: their SOP instance UIDs, in the image's slice order)."""
    import highdicom  # only sheets with SEG masks pay for its import

    try:
        seg = highdicom.seg.segread(path)
        planes = seg.get_pixels_by_source_instance(
            instance_uids, segment_numbers=[number], combine_segments=True, assert_missing_frames_are_empty=True
        )
    except (ValueError, KeyError, AttributeError) as error:
        raise InputError(f"SEG frames do not match the image's files ({error})", path=path) from None
    return planes > 0


def instance_uids(files):
    """The SOP instance UID of each DICOM file (headers only)."""
    return [
        str(pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID) for f in files
    ]


def read_mask(path, reference, files, series_uid, roi):
    """The mask an RTSTRUCT or SEG at `path` holds (`roi`: see choose_roi) as a uint8 image on
    `reference`, the T1c read from `files` of series `series_uid`."""
    dataset = read_object(path)
    check_reference(dataset, series_uid, path)
    number = choose_roi(dataset, roi, path)
    if dataset.SOPClassUID == RTSTRUCT:
        voxels = rasterise(dataset, number, reference, path)
    else:
        voxels = segment(path, number, instance_uids(files))
    if not voxels.any():
        raise InputError(f"ROI {number} ({rois(dataset)[number]!r}) covers no voxel of the image", path=path)
    image = sitk.GetImageFromArray(voxels.astype(np.uint8))
    image.CopyInformation(reference)
    return image
