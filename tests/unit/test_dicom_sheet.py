"""`egfrmet dicom-sheet` on a generated export of three patients, with the distractors a PACS
export holds: it proposes each patient's T1c, T2, FLAIR and mask, and flags the patient it
cannot decide instead of guessing."""

import numpy as np
import pandas as pd
import pytest
from pydicom.uid import generate_uid

from conftest import image_from_array
from egfrmet.config.schema import load_schema
from egfrmet.config.sheet import read_sheet
from egfrmet.demo.dicom import new_uids, write_mr_series, write_rtstruct
from egfrmet.preprocessing.check import check_headers

PRE = {"ContrastBolusAgent": None}
TWO_D = {"ContrastBolusAgent": None, "MRAcquisitionType": "2D", "ScanningSequence": "SE"}


def series(folder, study, description, tags=None, slices=12, patient="P1"):
    """One series of a generated head in `folder`: its datasets and UID."""
    values = np.random.default_rng(len(description)).integers(50, 400, (slices, 16, 16)).astype(np.int16)
    uid = generate_uid()
    image = image_from_array(values, (1.0, 1.0, 1.0))
    written = write_mr_series(image, folder, series_uid=uid, patient_id=patient, uids=study, description=description,
                              tags=tags)  # fmt: skip
    return written, uid, image


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("pacs")
    uids = {}
    # P1: one study with a localiser, a pre-contrast T1, a DWI, the T1c, a T2, a FLAIR and an RTSTRUCT
    study = new_uids()
    folder = root / "P1" / "study1"
    uids["P1 localiser"] = series(folder, study, "3-plane loc", {"ImageType": ["ORIGINAL", "LOCALIZER"]}, slices=3)[1]
    uids["P1 dwi"] = series(folder, study, "DWI b1000", TWO_D)[1]
    uids["P1 pre"] = series(folder, study, "T1 MPRAGE", PRE)[1]
    t1c, uids["P1"], image = series(folder, study, "T1 MPRAGE +C")
    uids["P1 t2"] = series(folder, study, "T2 TSE axial", TWO_D | {"SliceThickness": 5.0})[1]
    uids["P1 flair"] = series(folder, study, "T2 FLAIR axial", TWO_D)[1]
    lesion = np.zeros((12, 16, 16), bool)
    lesion[5:7, 6:10, 6:10] = True
    write_rtstruct(root / "P1" / "RS.dcm", t1c, {"GTV": lesion}, image=image)
    # P2: a T1c in each of two studies; the RTSTRUCT was drawn on the second's
    for n, name in ((1, "P2 first"), (2, "P2")):
        study = new_uids()
        folder = root / "P2" / f"study{n}"
        written, uids[name], image = series(folder, study, "T1 post gad", patient="P2")
        series(folder, study, "T2 TSE", TWO_D, patient="P2")
        series(folder, study, "FLAIR", TWO_D, patient="P2")
    write_rtstruct(root / "P2" / "RS.dcm", written, {"GTV": lesion}, image=image)
    # P3: two equally good T1c series in one study and no mask: undecidable
    study = new_uids()
    for description in ("T1 3D +C", "T1 3D +C repeat"):
        uids[f"P3 {description}"] = series(root / "P3", study, description, patient="P3")[1]
    (root / "values.tsv").write_text("patient_id\tlabel\tage\nP1\t1\t64\nP2\t0\t\nP3\t1\t70\n", encoding="utf-8")
    return root, uids


def test_the_sheet_holds_the_right_series_and_leaves_the_undecidable_patient_out(export, tmp_path):
    from egfrmet.cohort import dicom_sheet

    root, uids = export
    out = tmp_path / "samples.tsv"
    dicom_sheet.run(
        export=str(root), out=str(out), review="", sequences=["t2", "flair"], values=str(root / "values.tsv")
    )
    sheet = pd.read_csv(out, sep="\t", dtype=str, keep_default_na=False).set_index("patient_id")
    assert list(sheet.index) == ["P1", "P2"]
    assert sheet.loc["P1", "series_uid"] == uids["P1"] and sheet.loc["P2", "series_uid"] == uids["P2"]
    assert sheet.loc["P1", "t2_series_uid"] == uids["P1 t2"] and sheet.loc["P1", "flair_series_uid"] == uids["P1 flair"]
    assert sheet.loc["P1", "mask"].endswith("RS.dcm") and sheet.loc["P1", "label"] == "1"
    assert sheet.loc["P2", "image"].endswith("study2") and sheet.loc["P2", "age"] == ""
    review = pd.read_csv(tmp_path / "samples_review.tsv", sep="\t", dtype=str, keep_default_na=False)
    roles = review.set_index("series_uid")
    assert roles.loc[uids["P1 pre"], "reason"].startswith("no contrast agent")
    assert roles.loc[uids["P2 first"], "reason"].startswith("a T1c candidate, behind")
    assert set(review[review.patient_id == "P3"].role) == {"ambiguous"}
    assert review[review.patient_id == "P3"].patient_status.str.startswith("ambiguous T1c").all()
    assert roles.loc[uids["P1 localiser"], "reason"] == "a localiser"
    assert roles.loc[uids["P1 dwi"], "reason"].startswith("another contrast")
    # the proposed sheet is one the workflow reads and checks as it is
    proposed = read_sheet(out, load_schema("samples"), sequences=["t2", "flair"], clinical={"age": "numeric"})
    for patient, row in proposed.iterrows():
        paths = {c: row[c] for c in ("image", "mask", "brain_mask", "t2", "flair")}
        series_uids = {"image": row["series_uid"], "t2": row["t2_series_uid"], "flair": row["flair_series_uid"]}
        check_headers(patient, paths, grid_tolerance=1e-3, series_uids=series_uids, sequences=["t2", "flair"],
                      resample=True)  # fmt: skip
