"""A brain mask that misses part of the lesion is a warning: in the log, in
the patient's JSON and on the QC picture, and the patient still gets crops."""

import json
import logging

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import TINY_PATIENT
from egfrmet.demo import synth
from egfrmet.preprocessing import brainmask, crop, normalise, qc
from egfrmet.preprocessing.normalise import reorient


def crop_settings(config):
    """The crop rule's settings: the crop section and which lesions get crops (crop.smk)."""
    pre = config["preprocess"]
    return pre["crop"] | {"lesions_mode": pre["lesions"], "min_lesion_mm3": pre["min_lesion_mm3"]}


def normalise_patient(pid, paths, out):
    """The `normalise` stage on a patient's files, its outputs in `out`."""
    normalise.run(
        pid,
        image=str(paths["image"]),
        mask=str(paths["mask"]),
        brain_mask=str(paths["brain_mask"]),
        mask_labels=[],
        lesion_ids="components",
        settings={},
        threads=1,
        out=str(out / "norm.nii.gz"),
        out_brain=str(out / "brain.nii.gz"),
        out_lesion=str(out / "lesion.nii.gz"),
        out_json=str(out / "norm.json"),
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


def test_brain_mask_missing_the_lesion_is_warned_in_log_json_and_qc(
    tmp_path, config, patient_files, caplog, monkeypatch
):
    paths, missed, total = patient_files
    assert 0 < missed < total
    with caplog.at_level(logging.WARNING):
        normalise_patient("P001", paths, tmp_path)
    words = f"brain mask misses {missed} of {total} lesion voxels"
    assert any("patient P001" in r.getMessage() and words in r.getMessage() for r in caplog.records)
    summary = json.loads((tmp_path / "norm.json").read_text(encoding="utf-8"))
    assert summary["lesion_coverage"] == pytest.approx(1 - missed / total) and summary["warnings"] == [words]

    titles = []
    monkeypatch.setattr(qc, "save", lambda fig, paths, **kw: titles.append(fig._suptitle.get_text()))
    crop.run(
        "P001",
        image=str(tmp_path / "norm.nii.gz"),
        lesion=str(tmp_path / "lesion.nii.gz"),
        brain=str(tmp_path / "brain.nii.gz"),
        summary=str(tmp_path / "norm.json"),
        settings=crop_settings(config),
        out=str(tmp_path / "crops.npz"),
        qc=str(tmp_path / "qc.png"),
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
    values = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "norm.nii.gz")))[
        sitk.GetArrayFromImage(reorient(used)) > 0
    ]
    assert abs(values.mean()) < 1e-4 and abs(values.std() - 1) < 1e-4


@pytest.fixture(scope="module")
def corrected_patient(config):
    """A tiny generated head (no N4 needed: its field is mild), the image and its true brain."""
    patient = synth.make_patient("P003", label=0, center="A", **(config["synth"]["patient"] | TINY_PATIENT))
    image = sitk.Cast(synth.to_image(patient["image"], patient), sitk.sitkFloat32)
    truth = sitk.GetArrayFromImage(synth.to_image(patient["brain"], patient, np.uint8)) > 0
    lesion = sitk.GetArrayFromImage(synth.to_image(patient["lesion"], patient, np.uint8)) > 0
    return image, truth, lesion


def dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("method", ["deepbet", "morphology"])
def test_computed_brain_masks_find_the_brain(corrected_patient, config, method):
    image, truth, _ = corrected_patient
    options = {"deepbet": {"device": "cpu", "threshold": 0.5}, "morphology": {"erode_mm": 4.0}}[method]
    mask = brainmask.compute(image, method=method, threads=2, **options)
    assert mask.shape == truth.shape and dice(mask, truth) > 0.9


def test_deepbet_mask_does_not_depend_on_how_the_image_is_stored(corrected_patient):
    """deepbet sees the same RAS array whatever the storage order; its mask comes back on each
    grid: flipping the input flips the mask, voxel for voxel."""
    image, _, _ = corrected_patient
    mask = brainmask.compute(image, method="deepbet", device="cpu", threshold=0.5)
    flipped = sitk.Flip(image, [True, False, True])
    assert flipped.GetDirection() != image.GetDirection()
    again = brainmask.compute(flipped, method="deepbet", device="cpu", threshold=0.5)
    assert np.array_equal(again, mask[::-1, :, ::-1])


def test_a_computed_mask_gets_the_lesion_added_without_a_warning(corrected_patient, caplog):
    image, truth, lesion = corrected_patient
    poking = lesion.copy()
    z, y, x = np.argwhere(lesion).mean(axis=0).astype(int)
    poking[z, y, :2] = True  # two voxels at the volume's edge, outside any brain
    with caplog.at_level(logging.WARNING):
        brain, summary = brainmask.brain_mask(
            "P003", image, poking, path="", settings={"method": "morphology", "erode_mm": 4.0}
        )
    assert brain[poking].all() and summary["lesion_coverage"] == 1.0 and summary["warnings"] == []
    assert summary["lesion_coverage_by_method"] < 1.0 and summary["brain_mask_method"] == "morphology"
    assert not caplog.records


def test_an_unknown_method_or_device_is_an_input_error(corrected_patient):
    from egfrmet.errors import InputError

    image, _, _ = corrected_patient
    with pytest.raises(InputError, match="preprocess.brain_mask.method"):
        brainmask.compute(image, method="bet2")
    with pytest.raises(InputError, match="preprocess.brain_mask.device"):
        brainmask.compute(image, method="deepbet", device="tpu", threshold=0.5)
