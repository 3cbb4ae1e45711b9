"""A brain mask that misses part of the lesion is a warning (issue 5, row 16): in the log, in
the patient's JSON and on the QC picture, and the patient still gets crops."""

import json
import logging

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import TINY_PATIENT
from egfrmet import crop, normalise, synth
from egfrmet.normalise import reorient


def normalise_patient(pid, paths, out):
    """The `normalise` stage on a patient's files, its outputs in `out`."""
    normalise.run(
        pid, image=str(paths["image"]), mask=str(paths["mask"]), brain_mask=str(paths["brain_mask"]),
        mask_labels=[], settings={}, out=str(out / "norm.nii.gz"), out_brain=str(out / "brain.nii.gz"),
        out_lesion=str(out / "lesion.nii.gz"), out_json=str(out / "norm.json"),
    )


@pytest.fixture
def patient_files(tmp_path, config):
    """A tiny synthetic patient whose given brain mask leaves out half of the lesion."""
    patient = synth.make_patient("P001", label=1, center="A", **(config["synth"]["patient"] | TINY_PATIENT))
    z = np.flatnonzero(patient["lesion"].any(axis=(1, 2)))
    cut = z[len(z) // 2]
    patient["brain"] = patient["brain"].copy()
    patient["brain"][cut:] = 0  # every lesion voxel from the middle slice up is outside
    paths = {k: tmp_path / f"{k}.nii.gz" for k in ("image", "mask", "brain_mask")}
    synth.write_patient(patient, **{k: str(v) for k, v in paths.items()})
    missed, total = int((patient["lesion"] & ~patient["brain"]).sum()), int(patient["lesion"].sum())
    return paths, missed, total


def test_brain_mask_missing_the_lesion_is_warned_in_log_json_and_qc(tmp_path, config, patient_files, caplog, monkeypatch):
    paths, missed, total = patient_files
    assert 0 < missed < total
    with caplog.at_level(logging.WARNING):
        normalise_patient("P001", paths, tmp_path)
    words = f"brain mask misses {missed} of {total} lesion voxels"
    assert any("patient P001" in r.getMessage() and words in r.getMessage() for r in caplog.records)
    summary = json.loads((tmp_path / "norm.json").read_text(encoding="utf-8"))
    assert summary["lesion_coverage"] == pytest.approx(1 - missed / total) and summary["warnings"] == [words]

    titles = []
    monkeypatch.setattr(crop, "save", lambda fig, paths, **kw: titles.append(fig._suptitle.get_text()))
    crop.run(
        "P001", image=str(tmp_path / "norm.nii.gz"), lesion=str(tmp_path / "lesion.nii.gz"),
        summary=str(tmp_path / "norm.json"), settings=config["preprocess"]["crop"],
        out=str(tmp_path / "crops.npz"), qc=str(tmp_path / "qc.png"),
    )
    assert len(titles) == 1 and "P001" in titles[0] and words in titles[0]
    assert np.load(tmp_path / "crops.npz")["slices"].shape[0] == 5


def test_a_mask_covering_the_lesion_gives_no_warning(tmp_path, config, caplog):
    patient = synth.make_patient("P002", label=0, center="B", **(config["synth"]["patient"] | TINY_PATIENT))
    patient["brain"] = patient["brain"] | patient["lesion"]  # this lesion pokes out of the brain by a voxel
    paths = {k: str(tmp_path / f"{k}.nii.gz") for k in ("image", "mask", "brain_mask")}
    synth.write_patient(patient, **paths)
    with caplog.at_level(logging.WARNING):
        normalise_patient("P002", paths, tmp_path)
    summary = json.loads((tmp_path / "norm.json").read_text(encoding="utf-8"))
    assert summary["lesion_coverage"] == 1.0 and summary["warnings"] == [] and not caplog.records
    used, given = (sitk.ReadImage(str(p)) for p in (tmp_path / "brain.nii.gz", paths["brain_mask"]))
    assert np.array_equal(sitk.GetArrayFromImage(used) > 0, sitk.GetArrayFromImage(given) > 0)
    assert used.GetOrigin() == given.GetOrigin() and used.GetDirection() == given.GetDirection()
    # the z-score is over exactly this mask (a view of a freed image once gave a different one)
    values = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "norm.nii.gz")))[sitk.GetArrayFromImage(reorient(used)) > 0]
    assert abs(values.mean()) < 1e-4 and abs(values.std() - 1) < 1e-4
