"""Masks kept as DICOM objects: an RTSTRUCT's contours and a DICOM-SEG's segments placed on
the T1c series they reference (egfrmet.io.dicom, egfrmet.preprocessing.dicom_mask), and
every way such a file can be wrong refused naming the patient, the column and the file."""

import numpy as np
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

from conftest import image_from_array
from egfrmet.demo import synth
from egfrmet.demo.dicom import new_uids, write_mr_series, write_rtstruct, write_seg
from egfrmet.errors import InputError
from egfrmet.io.dicom import mask_kind
from egfrmet.io.images import dicom_series
from egfrmet.preprocessing import dicom_mask
from egfrmet.preprocessing.check import check_headers


def dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def on_grid(mask, source, reference):
    """`mask` (z, y, x on `source`) on `reference`'s grid: the truth to compare with."""
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.CopyInformation(source)
    return sitk.GetArrayFromImage(sitk.Resample(image, reference, sitk.Transform(), sitk.sitkNearestNeighbor)) > 0


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A generated head as a hospital exports it: its T1c series (rows stored top to bottom,
    so that the series' slice order runs against the array's), an RTSTRUCT and a SEG."""
    folder = tmp_path_factory.mktemp("export")
    patient = synth.make_patient(
        "P1", label=1, center="A", shape=[48, 56, 40], spacing=[3.0, 3.0, 3.0], effect_size=1.0, noise=0.05,
        bias_strength=0.2, seed=1,
    )  # fmt: skip
    image = image_from_array(patient["image"], patient["spacing"], (-70.0, -80.0, -60.0), patient["direction"])
    series = write_mr_series(image, folder / "t1c", patient_id="P1", series_uid=generate_uid(), uids=new_uids())
    lesion, brain = patient["lesion"] > 0, patient["brain"] > 0
    second = np.zeros_like(lesion)
    second[5:7, 10:14, 10:14] = True
    write_rtstruct(folder / "rt.dcm", series, {"GTV1": lesion, "GTV2": second, "Brain": brain}, image=image)
    write_seg(folder / "seg.dcm", series, {"lesion": lesion, "brain": brain})
    reference = sitk.ReadImage(dicom_series(folder / "t1c")[1])
    truth = {"lesion": on_grid(lesion, image, reference), "brain": on_grid(brain, image, reference)}
    return {"folder": folder, "series": series, "image": image, "lesion": lesion, "truth": truth}


def placed(export, name, roi, column="mask"):
    out = export["folder"] / "out" / f"{name}_{roi}.nii.gz"
    dicom_mask.run(
        "P1",
        column=column,
        image=str(export["folder"] / "t1c"),
        series_uid="",
        mask=str(export["folder"] / name),
        roi=roi,
        out=str(out),
    )
    return sitk.GetArrayFromImage(sitk.ReadImage(str(out))) > 0


def test_the_kind_is_read_from_the_file_not_its_name(export, tmp_path):
    folder = export["folder"]
    assert mask_kind(folder / "rt.dcm") == "RTSTRUCT" and mask_kind(folder / "seg.dcm") == "SEG"
    assert mask_kind(folder / "t1c" / "000.dcm") is None  # an image
    renamed = tmp_path / "contours_without_suffix"
    renamed.write_bytes((folder / "rt.dcm").read_bytes())
    assert mask_kind(renamed) == "RTSTRUCT"
    not_dicom = tmp_path / "notes.dcm"
    not_dicom.write_text("not DICOM")
    assert mask_kind(not_dicom) is None


def test_rtstruct_contours_are_the_mask_they_outline(export):
    lesion = placed(export, "rt.dcm", "gtv1")
    assert dice(lesion, export["truth"]["lesion"]) >= 0.95
    brain = placed(export, "rt.dcm", "3", column="brain_mask")  # by number
    assert dice(brain, export["truth"]["brain"]) >= 0.95


def test_a_seg_segment_is_the_mask_it_holds(export):
    assert np.array_equal(placed(export, "seg.dcm", "lesion"), export["truth"]["lesion"])
    assert np.array_equal(placed(export, "seg.dcm", "2", column="brain_mask"), export["truth"]["brain"])


def test_a_contour_with_a_contour_inside_it_has_a_hole(export, tmp_path):
    ring = np.zeros_like(export["lesion"])
    ring[20, 10:30, 10:30] = True
    ring[20, 15:25, 15:25] = False
    write_rtstruct(export["folder"] / "ring.dcm", export["series"], {"ring": ring}, image=export["image"])
    got = placed(export, "ring.dcm", "")
    assert np.array_equal(
        got, on_grid(ring, export["image"], sitk.ReadImage(dicom_series(export["folder"] / "t1c")[1]))
    )


def refusal(export, name, roi="", column="mask", **changes):
    arguments = dict(
        column=column, image=str(export["folder"] / "t1c"), series_uid="", mask=str(export["folder"] / name)
    )
    with pytest.raises(InputError) as caught:
        dicom_mask.run("P1", **(arguments | changes), roi=roi, out=str(export["folder"] / "out" / "refused.nii.gz"))
    message = str(caught.value)
    assert "patient P1" in message and f"column {column}" in message and name in message
    assert not (export["folder"] / "out" / "refused.nii.gz").exists()
    return message


def test_a_roi_choice_matching_none_or_several_names_what_the_file_holds(export):
    for roi in ("ptv*", "*gtv*", "", "7"):
        message = refusal(export, "rt.dcm", roi)
        assert "1 'GTV1', 2 'GTV2', 3 'Brain'" in message, message
    assert "'lesion'" in refusal(export, "seg.dcm", "tumour")


def test_a_file_drawn_on_another_series_is_refused_naming_both(export):
    other = generate_uid()
    write_rtstruct(
        export["folder"] / "other.dcm",
        export["series"],
        {"GTV": export["lesion"]},
        image=export["image"],
        referenced_series=other,
    )
    message = refusal(export, "other.dcm")
    assert other in message and export["series"][0].SeriesInstanceUID in message


def test_an_empty_roi_and_contours_outside_the_image_are_refused(export):
    empty = np.zeros_like(export["lesion"])
    write_rtstruct(export["folder"] / "empty.dcm", export["series"], {"GTV": empty}, image=export["image"])
    assert "empty structure" in refusal(export, "empty.dcm")
    elsewhere = sitk.Image(export["image"])
    elsewhere.SetOrigin((200.0, 0.0, -60.0))  # contours drawn 270 mm to the side
    write_rtstruct(export["folder"] / "outside.dcm", export["series"], {"GTV": export["lesion"]}, image=elsewhere)
    assert "outside the image" in refusal(export, "outside.dcm")


def test_a_dicom_mask_needs_the_t1c_as_its_dicom_series(export, tmp_path):
    converted = tmp_path / "t1c.nii.gz"
    sitk.WriteImage(export["image"], str(converted))
    assert "DICOM series it references" in refusal(export, "rt.dcm", "gtv1", image=str(converted))


def test_the_roi_choice_and_the_series_are_checked_when_the_sheet_is_read(export):
    """Before any job: the parse-time header check reads the ROI names and the reference."""
    paths = {"image": str(export["folder"] / "t1c"), "mask": str(export["folder"] / "rt.dcm"), "brain_mask": ""}
    check_headers("P1", paths, grid_tolerance=1e-3, rois={"mask": "gtv1"})
    with pytest.raises(InputError, match="patient P1, column mask.*matches 0 ROIs"):
        check_headers("P1", paths, grid_tolerance=1e-3, rois={"mask": "ptv"})
    with pytest.raises(InputError, match="references series .*not the image's series 1.2.3"):
        check_headers("P1", paths, grid_tolerance=1e-3, series_uids={"image": "1.2.3"}, rois={"mask": "gtv1"})


@pytest.mark.parametrize("scan", ["brain1", "brain2"])
def test_a_real_lesions_contours_and_segment_give_back_its_mask(real_data, tmp_path, scan):
    """Real scans (6.5-mm slices, a 3-slice lesion): the RTSTRUCT and the SEG made from the
    lesion mask give it back through the T1c's DICOM series."""
    image = sitk.ReadImage(str(real_data / f"{scan}_image.nrrd"))
    lesion = sitk.GetArrayFromImage(sitk.ReadImage(str(real_data / f"{scan}_label.nrrd"))) > 0
    series = write_mr_series(image, tmp_path / "t1c", patient_id="R1", series_uid=generate_uid(), uids=new_uids())
    write_rtstruct(tmp_path / "rt.dcm", series, {"GTV": lesion}, image=image)
    write_seg(tmp_path / "seg.dcm", series, {"lesion": lesion})
    reference = sitk.ReadImage(dicom_series(tmp_path / "t1c")[1])
    truth = on_grid(lesion, image, reference)
    for name in ("rt.dcm", "seg.dcm"):
        got = dicom_mask.mask_image(tmp_path / name, image=tmp_path / "t1c", series_uid="", roi="")
        got = sitk.GetArrayFromImage(got) > 0
        assert dice(got, truth) >= (0.95 if name == "rt.dcm" else 1.0), name
