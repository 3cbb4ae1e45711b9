"""Rigid registration of a further sequence onto the T1c (inputs.register: rigid): a known
rigid move of a generated head's T2 is recovered, through the function and through the
bias-sequence command, and the alignment picture is drawn."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import REPO, image_from_array
from egfrmet.config.settings import checked, locked_settings, merged, read_config, with_bundle
from egfrmet.demo import synth
from egfrmet.errors import InputError
from egfrmet.preprocessing import registration, sequences

SETTINGS = {"bins": 50, "samples": 50000, "shrink": [4, 2, 1], "smoothing_mm": [2.0, 1.0, 0.0], "iterations": 200}


@pytest.fixture(scope="module")
def head():
    """A generated head without bias fields (what N4 leaves), its T1c and T2 on one grid."""
    patient = synth.make_patient(
        "R1", label=1, center="A", shape=[48, 56, 40], spacing=[3.0, 3.0, 3.0], effect_size=1.0, noise=0.05,
        bias_strength=0.0, seed=5,
    )  # fmt: skip
    t1c = image_from_array(patient["image"].astype(np.float32), patient["spacing"], (-70.0, -80.0, -60.0))
    t2 = image_from_array(patient["t2"].astype(np.float32), patient["spacing"], (-70.0, -80.0, -60.0))
    index = np.argwhere(patient["brain"] > 0)[::10][:, ::-1].astype(float)
    brain = np.array([t1c.TransformContinuousIndexToPhysicalPoint(list(i)) for i in index])
    return {"t1c": t1c, "t2": t2, "brain": brain, "lesion": patient["lesion"] > 0}


def moved(image, degrees, mm):
    """`image` as if the head had turned by `degrees` and shifted by `mm` (the truth: the
    transform from the T1c's points to the moved image's)."""
    truth = sitk.Euler3DTransform()
    truth.SetCenter(image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in image.GetSize()]))
    truth.SetRotation(*np.deg2rad([degrees, -degrees / 2, degrees / 3]))
    truth.SetTranslation((mm, -mm / 2, mm / 3))
    return sitk.Resample(image, image, truth.GetInverse(), sitk.sitkLinear, 0.0), truth


@pytest.mark.parametrize(("degrees", "mm"), [(0, 0), (3, 3), (6, 5)])
def test_a_known_rigid_move_is_recovered_within_a_millimetre(head, degrees, mm):
    image, truth = moved(head["t2"], degrees, mm)
    found = registration.rigid(head["t1c"], image, seed=1, **SETTINGS)
    assert registration.displacement_mm(found, truth, head["brain"]) < 1.0
    if mm:  # and without registration the move is what it was
        assert registration.displacement_mm(sitk.Transform(), truth, head["brain"]) > 3.0


def test_bias_sequence_registers_onto_the_t1c_and_the_picture_shows_it(head, tmp_path):
    image, _ = moved(head["t2"], 6, 5)
    for name, volume in (("t1c", head["t1c"]), ("t2_moved", image), ("t2", head["t2"])):
        sitk.WriteImage(volume, str(tmp_path / f"{name}.nii.gz"))
    n4 = {"backend": "sitk", "fit_region": "head", "shrink": [2, 2, 2], "iterations": [10], "convergence": 0.001}
    n4 |= {"spline_order": 2, "span_voxels": 9, "control_points": None, "bins": 200, "fwhm": 0.15}
    arguments = dict(sequence="t2", reference=str(tmp_path / "t1c.nii.gz"), resample=False, grid_tolerance=1e-3)
    arguments |= dict(settings=n4, threads=1)
    sequences.run_bias("R1", image=str(tmp_path / "t2_moved.nii.gz"), out=str(tmp_path / "registered.nii.gz"),
                       register=SETTINGS | {"seed": 1}, **arguments)  # fmt: skip
    sequences.run_bias("R1", image=str(tmp_path / "t2_moved.nii.gz"), out=str(tmp_path / "header.nii.gz"), **arguments)
    truth = sitk.GetArrayFromImage(head["t2"])[head["lesion"]]

    def agreement(name):  # in the lesion, where a move shows most
        values = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / f"{name}.nii.gz")))[head["lesion"]]
        return np.corrcoef(values, truth)[0, 1]

    # 0.84 registered (3-mm voxels interpolated twice, N4 on one side) against -0.08 by header
    assert agreement("registered") > 0.75 and agreement("header") < 0.3
    (tmp_path / "check.json").write_text(json.dumps({"lesion_slices": [15, 25]}), encoding="utf-8")
    files = {
        name: str(tmp_path / f"{file}") for name, file in [("image", "t1c.nii.gz"), ("moved", "registered.nii.gz")]
    }
    registration.run_qc(
        "R1", sequence="t2", check=str(tmp_path / "check.json"), out=str(tmp_path / "alignment.png"), **files
    )
    assert (tmp_path / "alignment.png").stat().st_size > 10_000


def test_each_pyramid_level_needs_its_smoothing_and_runs_without_registration_keep_their_settings():
    defaults = read_config([REPO / "config" / "config.yaml"])
    with pytest.raises(InputError, match="shrink and smoothing_mm"):
        checked(merged(defaults, {"preprocess": {"registration": {"shrink": [4, 2, 1], "smoothing_mm": [1.0]}}}))
    # without registration the locked settings are 0.7.0's: bundles and params unchanged
    locked = locked_settings(defaults)
    assert "register" not in locked["inputs"] and "registration" not in locked["preprocess"]
    rigid = locked_settings(merged(defaults, {"inputs": {"register": "rigid"}}))
    assert rigid["inputs"]["register"] == "rigid" and rigid["preprocess"]["registration"]["samples"] == 50000
    config, changed = with_bundle(defaults, locked)  # a bundle from before registration
    assert config["inputs"]["register"] == "none" and not changed
