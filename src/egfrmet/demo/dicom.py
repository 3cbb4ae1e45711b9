"""DICOM as a hospital exports it, written from a SimpleITK image and masks on its grid (for
the tests and benchmarks/dicom_masks.py): an MR series (pydicom), an RTSTRUCT of the masks'
contours (pydicom; contours traced by contourpy through the voxel edges) and a DICOM-SEG
(highdicom)."""

import datetime

import contourpy
import highdicom
import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from scipy import ndimage

MR = "1.2.840.10008.5.1.4.1.1.4"
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"


def new_uids():
    """A study's and a frame of reference's UIDs."""
    return {"study": generate_uid(), "frame": generate_uid()}


def base(sop_class, sop_uid, patient_id, study, frame, series_uid, modality, number, syntax=ExplicitVRLittleEndian):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, sop_uid
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = patient_id, f"{patient_id}^", "", "O"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series_uid, frame
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", "", ""
    ds.StudyDate = ds.SeriesDate = datetime.date(2026, 1, 1).strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = "120000"
    ds.Modality, ds.SeriesNumber, ds.Manufacturer = modality, number, "egfrmet tests"
    return ds


# What a scanner writes of a 3-D post-contrast T1 (tags= replaces any for another series).
T1C_TAGS = {
    "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"],
    "ContrastBolusAgent": "gadolinium",
    "ScanningSequence": "GR",
    "SequenceVariant": "SP",
    "MRAcquisitionType": "3D",
    "RepetitionTime": 8.2,
    "EchoTime": 3.2,
}


def write_mr_series(
    image, folder, *, series_uid, patient_id="P1", uids=None, number=1, description="T1 post-contrast", tags=None
):
    """Write `image` (SimpleITK, 3-D) as an MR series in `folder` (beside any other series
    there; `uids`: its study's, new_uids(); `tags`: T1C_TAGS changed, e.g. a FLAIR's);
    its datasets, in slice order."""
    folder.mkdir(parents=True, exist_ok=True)
    uids = uids or new_uids()
    values = np.rint(sitk.GetArrayFromImage(image)).astype(np.int16)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    datasets = []
    for k, plane in enumerate(values):
        ds = base(MR, generate_uid(), patient_id, uids["study"], uids["frame"], series_uid, "MR", number)
        ds.SeriesDescription = description
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [float(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k))]
        ds.ImageOrientationPatient = [float(v) for v in [*direction[:, 0], *direction[:, 1]]]
        ds.PixelSpacing = [float(image.GetSpacing()[1]), float(image.GetSpacing()[0])]
        ds.SliceThickness = float(image.GetSpacing()[2])
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = plane.tobytes()
        for keyword, value in (T1C_TAGS | (tags or {})).items():
            if value is not None:
                setattr(ds, keyword, value)
        ds.save_as(folder / f"{series_uid}_{k:03d}.dcm", enforce_file_format=True)
        datasets.append(ds)
    return datasets


def contours(mask, image, smooth=0.0):
    """{slice: [physical points (n, 3)]} of the outlines of `mask` (z, y, x booleans on
    `image`). `smooth` 0: traced through the voxel edges, so that the voxel centres inside
    are the mask; else each slice blurred by a Gaussian of `smooth` voxels and traced on a
    4-times finer grid, as a planning system's rounded outlines are."""
    found = {}
    for k, plane in enumerate(mask):
        if not plane.any():
            continue
        padded = np.pad(plane.astype(float), 2)
        x, y = np.arange(padded.shape[1]), np.arange(padded.shape[0])
        if smooth:
            padded = ndimage.zoom(ndimage.gaussian_filter(padded, smooth), 4, order=3)
            x, y = np.linspace(0, x[-1], padded.shape[1]), np.linspace(0, y[-1], padded.shape[0])
        lines = contourpy.contour_generator(x=x, y=y, z=padded, line_type="Separate").lines(0.5)
        found[k] = [
            np.array([image.TransformContinuousIndexToPhysicalPoint((u - 2, v - 2, k)) for u, v in line[:-1]])
            for line in lines
            if len(line) > 3
        ]
    return {k: outlines for k, outlines in found.items() if outlines}


def write_rtstruct(path, series, rois, *, image, referenced_series=None, smooth=0.0):
    """An RTSTRUCT of each mask in `rois` ({name: z, y, x booleans on `image`}), drawn on
    `series` (its datasets; `referenced_series` names another series UID instead; `smooth`:
    see contours)."""
    first = series[0]
    ds = base(
        RTSTRUCT,
        generate_uid(),
        first.PatientID,
        first.StudyInstanceUID,
        first.FrameOfReferenceUID,
        generate_uid(),
        "RTSTRUCT",
        99,
        ImplicitVRLittleEndian,  # 4-byte lengths: a long contour exceeds explicit VR's 64 kB
    )
    ds.StructureSetLabel, ds.StructureSetDate, ds.StructureSetTime = "planning", "20260101", "120000"
    referenced = Dataset()
    referenced.SeriesInstanceUID = referenced_series or first.SeriesInstanceUID
    referenced.ContourImageSequence = Sequence([_image_ref(s) for s in series])
    study = Dataset()
    study.ReferencedSOPClassUID, study.ReferencedSOPInstanceUID = "1.2.840.10008.3.1.2.3.1", first.StudyInstanceUID
    study.RTReferencedSeriesSequence = Sequence([referenced])
    frame = Dataset()
    frame.FrameOfReferenceUID = first.FrameOfReferenceUID
    frame.RTReferencedStudySequence = Sequence([study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = Sequence(), Sequence(), Sequence()
    for number, (name, mask) in enumerate(rois.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = number, name, first.FrameOfReferenceUID
        roi.ROIGenerationAlgorithm = "MANUAL"
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber, item.ROIDisplayColor = number, [255, 0, 0]
        item.ContourSequence = Sequence()
        for k, outlines in contours(mask, image, smooth).items():
            for points in outlines:
                contour = Dataset()
                contour.ContourImageSequence = Sequence([_image_ref(series[k])])
                contour.ContourGeometricType, contour.NumberOfContourPoints = "CLOSED_PLANAR", len(points)
                contour.ContourData = [round(float(v), 4) for v in points.ravel()]
                item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
        observation = Dataset()
        observation.ObservationNumber, observation.ReferencedROINumber = number, number
        observation.RTROIInterpretedType, observation.ROIInterpreter = "GTV", ""
        ds.RTROIObservationsSequence.append(observation)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds


def _image_ref(dataset):
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = dataset.SOPClassUID, dataset.SOPInstanceUID
    return ref


def write_seg(path, series, segments):
    """A binary DICOM-SEG of each mask in `segments` ({label: z, y, x booleans}) on `series`."""
    labels = np.stack([mask.astype(np.uint8) for mask in segments.values()], axis=-1)  # segments may overlap
    descriptions = []
    for number, label in enumerate(segments, start=1):
        descriptions.append(
            highdicom.seg.SegmentDescription(
                segment_number=number,
                segment_label=label,
                segmented_property_category=highdicom.sr.CodedConcept(
                    "49755003", "SCT", "Morphologically Abnormal Structure"
                ),
                segmented_property_type=highdicom.sr.CodedConcept("108369006", "SCT", "Neoplasm"),
                algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.MANUAL,
            )
        )
    seg = highdicom.seg.Segmentation(
        source_images=series,
        pixel_array=labels,
        segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=98,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="egfrmet tests",
        manufacturer_model_name="tests",
        software_versions="1",
        device_serial_number="1",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return pydicom.dcmread(path, stop_before_pixels=True)
