import numpy as np
import pandas as pd
import SimpleITK as sitk
import yaml

from conftest import REPO, TINY_PATIENT
from egfrmet.demo import synth


def tiny(cfg, **changes):
    return cfg["synth"]["patient"] | TINY_PATIENT | changes


def test_same_seed_same_patient_and_other_patients_differ(cfg):
    first = synth.make_patient("P001", label=1, center="A", **tiny(cfg))
    again = synth.make_patient("P001", label=1, center="A", **tiny(cfg))
    other = synth.make_patient("P002", label=1, center="A", **tiny(cfg))
    assert np.array_equal(first["image"], again["image"])
    assert not np.array_equal(first["image"], other["image"])
    assert not np.allclose(first["bias"], other["bias"])  # each patient has its own field


def test_patient_has_head_brain_and_one_lesion_inside_the_brain(cfg):
    patient = synth.make_patient("P007", label=0, center="B", **tiny(cfg))
    assert patient["lesion"].any()
    assert (patient["lesion"] & ~patient["brain"]).sum() == 0
    assert patient["brain"].sum() < patient["head"].sum()
    lesion = patient["image"][patient["lesion"]].mean()
    white = patient["image"][patient["white"]].mean()
    assert lesion > 0 and white > 0


def test_label_moves_the_lesion_as_documented(cfg):
    """Over many patients, positives have less necrotic core and more rim texture."""
    rng_props = {
        label: [synth.lesion_properties(np.random.default_rng(i), label, 1.0) for i in range(400)] for label in (0, 1)
    }
    core = {label: np.mean([p["core_fraction"] for p in props]) for label, props in rng_props.items()}
    texture = {label: np.mean([p["texture"] for p in props]) for label, props in rng_props.items()}
    oedema = {label: np.mean([p["oedema_ratio"] for p in props]) for label, props in rng_props.items()}
    assert core[1] < core[0] - 0.05
    assert texture[1] > texture[0] + 0.03
    assert oedema[1] < oedema[0] - 0.15  # less oedema around a mutant's lesion


def test_the_t2_image_shares_the_grid_shows_the_oedema_bright_and_leaves_the_t1c_as_it_was(cfg, tmp_path):
    patient = synth.make_patient("P003", label=0, center="A", **tiny(cfg))
    t2, t1c = patient["t2"].astype(float), patient["image"].astype(float)
    assert t2.shape == t1c.shape and not np.array_equal(t2, t1c)
    brain, lesion, white = patient["brain"], patient["lesion"], patient["white"]
    rim = synth.make_patient("P003", label=0, center="A", **tiny(cfg))["lesion"]
    assert np.array_equal(rim, lesion)  # deterministic, the T2's draws do not move the lesion
    grown = sitk.GetArrayFromImage(sitk.BinaryDilate(sitk.GetImageFromArray(lesion.astype(np.uint8)), [2, 2, 2])) > 0
    around = grown & ~lesion & brain
    assert t2[around].mean() > 1.3 * t2[white].mean()  # oedema bright on T2 ...
    assert t1c[around].mean() < t1c[white].mean()  # ... and darker than white matter on T1c
    paths = {name: str(tmp_path / f"{name}.nii.gz") for name in ("image", "mask", "brain_mask", "t2")}
    synth.write_patient(patient, **paths)
    a, b = sitk.ReadImage(paths["image"]), sitk.ReadImage(paths["t2"])
    assert a.GetSize() == b.GetSize() and a.GetOrigin() == b.GetOrigin() and a.GetDirection() == b.GetDirection()


def test_stored_orientation_does_not_change_physical_content(cfg):
    """Centre B writes LAS like the real scans; resampled to LPS it is the same image."""
    patient = synth.make_patient("P001", label=0, center="A", **tiny(cfg))
    flipped = dict(patient, direction=(1, 0, 0, 0, -1, 0, 0, 0, 1))
    straight = dict(patient, direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    a = sitk.DICOMOrient(synth.to_image(patient["image"], flipped), "LPS")
    b = synth.to_image(patient["image"], straight)
    assert np.array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
    assert np.allclose(a.GetOrigin(), b.GetOrigin())


def test_committed_demo_sheet_is_what_synth_sheet_writes(config):
    """resources/demo/samples.tsv must not drift from the config that documents it."""
    committed = pd.read_csv(REPO / "resources" / "demo" / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text(encoding="utf-8"))
    generated = synth.make_sheet(**config["synth"]["sheet"] | demo["synth"]["sheet"]).astype(str)
    pd.testing.assert_frame_equal(committed, generated)
    assert (generated.cohort == "hospital_c").sum() == 24  # the demo's external cohort
    cv = generated[generated.split == "cv"]
    assert len(cv) == 59 and (cv.label == "1").sum() == 16 and set(cv.center) == {"A", "B"}
    assert (generated.brain_mask == "").any() and (generated.brain_mask != "").any()


def test_an_external_cohort_joins_the_sheet_without_moving_anyone_else(cfg):
    sheet = cfg["synth"]["sheet"]
    before = synth.make_sheet(**sheet)
    external = {"cohort": "hospital_c", "n_patients": 12, "n_positive": 4, "center": "C"}
    after = synth.make_sheet(**sheet, external=external)
    pd.testing.assert_frame_equal(after.iloc[: len(before)][before.columns], before)
    added = after.iloc[len(before) :]
    assert len(added) == 12 and added.label.sum() == 4 and set(added.center) == {"C"}
    assert set(added.cohort) == {"hospital_c"} and set(added.split) == {""}
    assert set(after.cohort.iloc[: len(before)]) == {""}


def test_another_scanner_gives_thicker_slices_more_noise_and_flatter_contrast(cfg):
    settings = tiny(cfg, shape=[48, 56, 40], spacing=[3.0, 3.0, 3.0])
    scanner = {"noise_factor": 2.0, "contrast": 0.6, "slice_mm": 6.0, "bias_strength": 0.0}
    usual = synth.make_patient("E001", label=1, center="C", **settings)
    other = synth.make_patient("E001", label=1, center="C", **settings, scanner=scanner)
    assert other["image"].shape == (20, 56, 48) and other["spacing"] == (3.0, 3.0, 6.0)
    assert np.allclose(other["bias"], 1.0)  # bias_strength 0: no field
    air = other["image"][~other["head"]].std() / max(usual["image"][~usual["head"]].std(), 1e-6)
    assert air > 1.5  # noisier outside the head
