"""Hospital data in through the workflow: one generated head given three ways (NIfTI files,
and a DICOM export of several series with an RTSTRUCT, or with a DICOM-SEG) is cropped
alike, each image column reading the series the sheet names."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid
from test_workflow import egfrmet_cli, write_sheet

from conftest import REPO, TINY_PATIENT, image_from_array, run_snakemake
from egfrmet.demo import synth
from egfrmet.demo.dicom import new_uids, write_mr_series, write_rtstruct, write_seg

pytestmark = pytest.mark.slow


def head_image(seed):
    head = synth.make_patient(
        "P1", label=1, center="A", shape=TINY_PATIENT["shape"], spacing=TINY_PATIENT["spacing"],
        effect_size=1.0, noise=0.05, bias_strength=0.2, seed=seed,
    )  # fmt: skip
    return head, image_from_array(head["image"], head["spacing"], (-70.0, -80.0, -60.0), head["direction"])


@pytest.fixture(scope="module")
def three_ways(tmp_path_factory):
    """Patient N as NIfTI files; R and S as one DICOM export folder holding the T1c, the T2
    and a distractor series (another head's T1c), with an RTSTRUCT (R) or a SEG (S)."""
    workdir = tmp_path_factory.mktemp("dicom")
    head, image = head_image(3)
    t2 = image_from_array(head["t2"])
    t2.CopyInformation(image)
    lesion, brain = head["lesion"] > 0, head["brain"] > 0
    for name, array in (("t1c", image), ("t2", t2), ("lesion", lesion), ("brain", brain)):
        written = array if name in ("t1c", "t2") else image_from_array(array.astype(np.uint8))
        written.CopyInformation(image)
        sitk.WriteImage(written, str(workdir / f"{name}.nii.gz"))
    uids, series_uids = new_uids(), {name: generate_uid() for name in ("t1c", "t2", "other")}
    series = write_mr_series(image, workdir / "export", series_uid=series_uids["t1c"], uids=uids)
    write_mr_series(t2, workdir / "export", series_uid=series_uids["t2"], uids=uids, number=2, description="T2")
    write_mr_series(head_image(4)[1], workdir / "export", series_uid=series_uids["other"], uids=uids, number=3)
    write_rtstruct(workdir / "rt.dcm", series, {"GTV1": lesion, "Brain": brain}, image=image)
    write_seg(workdir / "seg.dcm", series, {"GTV": lesion, "brain": brain})
    named = {"series_uid": series_uids["t1c"], "t2": "export", "t2_series_uid": series_uids["t2"]}
    rows = [
        {"patient_id": "N", "image": "t1c.nii.gz", "mask": "lesion.nii.gz", "brain_mask": "brain.nii.gz"}
        | {"t2": "t2.nii.gz"},
        {"patient_id": "R", "image": "export", "mask": "rt.dcm", "brain_mask": "rt.dcm"} | named,
        {"patient_id": "S", "image": "export", "mask": "seg.dcm", "brain_mask": "seg.dcm"} | named,
    ]
    write_sheet(workdir, [row | {"label": ""} for row in rows])
    config = ["--config", "samples=samples.tsv", "inputs={sequences: [t2], resample: false}"]
    config.append("dicom={mask_roi: gtv*, brain_mask_roi: brain}")
    run_snakemake(workdir, "--cores", "2", *[f"results/crops/{p}.npz" for p in "NRS"], *config)
    (workdir / "dicom.yaml").write_text("dicom: {mask_roi: gtv*, brain_mask_roi: brain}\n", encoding="utf-8")
    return workdir, config, series_uids


def lesion(workdir, patient):
    return (
        sitk.GetArrayFromImage(sitk.ReadImage(str(workdir / "results" / "normalised" / f"{patient}_lesion.nii.gz"))) > 0
    )


def test_rtstruct_and_seg_masks_give_the_nifti_masks_crops(three_ways):
    workdir, *_ = three_ways
    crops = {p: np.load(workdir / "results" / "crops" / f"{p}.npz") for p in "NRS"}
    truth = lesion(workdir, "N")
    for patient in "RS":
        assert np.array_equal(crops[patient]["slice_index"], crops["N"]["slice_index"]), patient
        got = lesion(workdir, patient)
        assert 2 * (got & truth).sum() / (got.sum() + truth.sum()) >= (0.95 if patient == "R" else 1.0), patient
        assert np.allclose(crops[patient]["lesion_volume_mm3"], crops["N"]["lesion_volume_mm3"], rtol=0.05)
        check = json.loads((workdir / "results" / "checks" / f"{patient}.json").read_text(encoding="utf-8"))
        assert check["lesion_voxels"] == int(truth.sum()) or patient == "R"
    assert (workdir / "results" / "masks" / "brain_mask" / "R.nii.gz").is_file()


def test_each_image_column_reads_the_series_the_sheet_names_from_one_folder(three_ways):
    """The T1c and the T2 crops of R and S are N's (not the distractor's, nor each other's)."""
    workdir, *_ = three_ways
    crops = {p: np.load(workdir / "results" / "crops" / f"{p}.npz") for p in "NRS"}
    for patient in "RS":
        for key in ("slices", "sequences"):
            ours, theirs = crops[patient][key].ravel(), crops["N"][key].ravel()
            assert np.corrcoef(ours, theirs)[0, 1] > 0.99, (patient, key)
        t1c_as_t2 = np.corrcoef(crops[patient]["sequences"].ravel(), crops["N"]["slices"].ravel())[0, 1]
        assert t1c_as_t2 < 0.9


def test_a_roi_choice_that_matches_none_stops_the_run_before_any_job(three_ways):
    workdir, config, _ = three_ways
    result = run_snakemake(workdir, "-n", *config[:-1], "dicom={mask_roi: ptv*, brain_mask_roi: brain}", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "patient R, column mask" in output and "rt.dcm" in output and "1 'GTV1', 2 'Brain'" in output


def test_scan_reads_a_dicom_export_and_its_rtstruct_as_the_nifti_files(three_ways, tiny_run):
    """`egfrmet scan` with the tiny run's bundle (T1c and T2): the export gives N's score."""
    workdir, _, uids = three_ways
    bundle = ["--bundle", str(tiny_run[0] / "results" / "bundle")]
    config = ["--configfile", str(REPO / "config" / "config.yaml"), "dicom.yaml"]
    nifti = [
        "--image",
        "t1c.nii.gz",
        "--mask",
        "lesion.nii.gz",
        "--brain-mask",
        "brain.nii.gz",
        "--sequence",
        "t2",
        "t2.nii.gz",
    ]
    export = ["--image", "export", "--series-uid", uids["t1c"], "--mask", "rt.dcm", "--brain-mask", "rt.dcm"]
    export += ["--sequence", "t2", "export", "--sequence-series", "t2", uids["t2"]]
    for name, files in (("nifti", nifti), ("export", export)):
        egfrmet_cli(workdir, "scan", *files, *bundle, *config, "--out", f"{name}.csv")
    scores = [pd.read_csv(workdir / f"{name}.csv").probability[0] for name in ("nifti", "export")]
    assert scores[1] == pytest.approx(scores[0], abs=1e-4)


def test_a_moved_t2_is_registered_onto_the_t1c_and_its_alignment_drawn(three_ways, tmp_path):
    """inputs.register: rigid; patient M's T2 is N's turned by 6 degrees and shifted by 5 mm."""
    source, *_ = three_ways
    for name in ("t1c", "t2", "lesion", "brain"):
        shutil.copy(source / f"{name}.nii.gz", tmp_path / f"{name}.nii.gz")
    t2 = sitk.ReadImage(str(tmp_path / "t2.nii.gz"))
    turn = sitk.Euler3DTransform()
    turn.SetCenter(t2.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in t2.GetSize()]))
    turn.SetRotation(*np.deg2rad([6.0, -3.0, 2.0]))
    turn.SetTranslation((5.0, -2.5, 1.7))
    sitk.WriteImage(sitk.Resample(t2, t2, turn.GetInverse(), sitk.sitkLinear, 0.0), str(tmp_path / "moved.nii.gz"))
    files = {"image": "t1c.nii.gz", "mask": "lesion.nii.gz", "brain_mask": "brain.nii.gz", "label": ""}
    write_sheet(
        tmp_path, [{"patient_id": "N", "t2": "t2.nii.gz"} | files, {"patient_id": "M", "t2": "moved.nii.gz"} | files]
    )
    crops = [f"results/crops/{p}.npz" for p in "NM"]
    options = ["--config", "samples=samples.tsv", "inputs={sequences: [t2], resample: false, register: rigid}"]
    run_snakemake(tmp_path, "--cores", "2", *crops, "results/qc/alignment/t2/M.png", *options)
    ours, theirs = (np.load(tmp_path / "results" / "crops" / f"{p}.npz")["sequences"].ravel() for p in "MN")
    assert np.corrcoef(ours, theirs)[0, 1] > 0.9
    log = (tmp_path / "logs" / "bias" / "t2" / "M.log").read_text(encoding="utf-8")
    assert "registered onto the T1c" in log
    # by header alone, the same T2 stays turned
    header = ["--config", "samples=samples.tsv", "inputs={sequences: [t2], resample: false, register: none}"]
    run_snakemake(tmp_path, "--cores", "2", *crops, *header)
    ours, theirs = (np.load(tmp_path / "results" / "crops" / f"{p}.npz")["sequences"].ravel() for p in "MN")
    assert np.corrcoef(ours, theirs)[0, 1] < 0.8
