import numpy as np
import pytest
import SimpleITK as sitk

from egfrmet.demo import synth
from egfrmet.preprocessing import bias

PHANTOM = {"shape": [80, 96, 72], "spacing": [1.6, 1.6, 1.6]}


@pytest.fixture(scope="module")
def phantom(config):
    settings = config["synth"]["patient"] | PHANTOM
    patient = synth.make_patient("P001", label=0, center="A", **settings)
    return patient, synth.to_image(patient["image"], patient)


def in_lps(image, patient):
    """Array of an image stored like the patient's, flipped back to the generator's axes."""
    return synth.from_stored(sitk.GetArrayFromImage(image), patient)


CUBIC = {"fit_region": "tissue", "spline_order": 3, "iterations": [50] * 4, "control_points": 4}  # before 2026-11-29


@pytest.mark.parametrize(
    "changes",
    [{}, {"fit_region": "all"}, CUBIC, CUBIC | {"backend": "ants"}],
    ids=["default", "all voxels", "cubic", "antspyx cubic"],
)
def test_n4_restores_white_matter_cv_to_within_10_percent_of_truth(phantom, config, changes):
    patient, image = phantom
    settings = config["preprocess"]["n4"] | changes
    backend = settings["backend"]
    corrected, field = bias.correct(image, bias.head_mask(image), threads=2, **settings)
    truth = synth.white_matter_cv(patient["unbiased"], patient)
    raw = synth.white_matter_cv(patient["image"].astype(float), patient)
    after = synth.white_matter_cv(in_lps(corrected, patient), patient)
    assert raw > 1.5 * truth  # the field matters before correction
    assert abs(after - truth) <= 0.10 * truth, (backend, raw, after, truth)
    assert corrected.GetSize() == image.GetSize() and corrected.GetSpacing() == image.GetSpacing()


def test_head_mask_matches_the_phantoms_head(phantom):
    patient, image = phantom
    head = bias.head_mask(image)
    head = synth.from_stored(head, patient)
    dice = 2 * (head & patient["head"]).sum() / (head.sum() + patient["head"].sum())
    assert dice > 0.97


def test_nonuniformity_sees_a_field_and_not_a_flat_image(phantom):
    patient, image = phantom
    brain = sitk.GetArrayFromImage(synth.to_image(patient["brain"], patient, np.uint8)).astype(bool)
    flat = synth.to_image(patient["unbiased"], patient)
    assert bias.nonuniformity(image, brain) > 3 * bias.nonuniformity(flat, brain)


def test_fit_regions_nest_all_head_tissue(phantom):
    _, image = phantom
    head = bias.head_mask(image)
    region = {name: sitk.GetArrayFromImage(bias.fit_mask(image, head, name)) > 0 for name in ("all", "head", "tissue")}
    assert region["all"].all()
    assert (region["head"] == head).all()
    tissue = region["tissue"]
    assert (tissue <= head).all() and 0.3 * head.sum() < tissue.sum() < head.sum()  # the darkest class left out
    with pytest.raises(ValueError, match="unknown N4 fit region 'brain'"):
        bias.fit_mask(image, head, "brain")


def test_thick_slices_are_shrunk_in_plane_only_unless_factors_are_given():
    assert bias.shrink_factors((0.78, 0.78, 6.5), 4) == [4, 4, 1]
    assert bias.shrink_factors((1.0, 1.0, 1.0), 4) == [4, 4, 4]
    assert bias.shrink_factors((1.0, 1.0, 2.0), 4) == [4, 4, 2]
    assert bias.shrink_factors((0.78, 0.78, 6.5), [4, 4, 4]) == [4, 4, 4]  # factors as given


def test_thick_slices_shrunk_too_still_flatten(phantom, config):
    """[4, 4, 4] on a 5 mm-slice copy of the phantom: the fit still lowers its non-uniformity."""
    _, image = phantom
    thick = sitk.Resample(
        image, [80, 96, 22], sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), (1.6, 1.6, 5.2), image.GetDirection()
    )
    head = bias.head_mask(thick)
    n4 = config["preprocess"]["n4"]
    in_plane, _ = bias.correct(thick, head, threads=2, **(n4 | {"shrink": 4}))
    every_axis, _ = bias.correct(thick, head, threads=2, **(n4 | {"shrink": [4, 4, 4]}))
    before = bias.nonuniformity(thick, head)
    assert bias.nonuniformity(every_axis, head) < 0.5 * before and bias.nonuniformity(in_plane, head) < 0.5 * before
    # antspyx's one factor shrinks the slices too: a number there means every axis
    by_ants, _ = bias.correct(thick, head, threads=1, **(n4 | {"backend": "ants", "spline_order": 3, "shrink": 4}))
    assert bias.nonuniformity(by_ants, head) < 0.5 * before
    with pytest.raises(ValueError, match=r"antspyx shrinks every axis by one factor, not \[4, 4, 1\]"):
        bias.correct(thick, head, threads=1, **(n4 | {"backend": "ants", "spline_order": 3, "shrink": [4, 4, 1]}))
    with pytest.raises(ValueError, match="antspyx fits cubic B-splines only"):
        bias.correct(thick, head, threads=1, **(n4 | {"backend": "ants", "spline_order": 2}))


def test_the_lattice_scales_with_the_fit_unless_a_count_is_given():
    """One span per `span_voxels` of the longest axis, on every axis; a small fit gets fewer."""
    assert bias.lattice_points((64, 64, 40), span_voxels=9, spline_order=2, control_points=None) == 9
    assert bias.lattice_points((32, 40, 28), span_voxels=9, spline_order=2, control_points=None) == 6
    assert bias.lattice_points((5, 6, 4), span_voxels=9, spline_order=3, control_points=None) == 4  # one span at least
    assert bias.lattice_points((64, 64, 40), span_voxels=9, spline_order=2, control_points=4) == 4


def test_unknown_backend_is_refused(phantom, config):
    _, image = phantom
    with pytest.raises(ValueError, match="unknown N4 backend"):
        bias.correct(image, bias.head_mask(image), threads=1, **(config["preprocess"]["n4"] | {"backend": "spm"}))
