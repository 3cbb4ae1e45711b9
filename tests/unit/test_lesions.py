"""Several metastases in one mask: each lesion is found, the chosen one alone is cropped."""

import json

import numpy as np
import pytest
import SimpleITK as sitk
from test_crop import volume

from conftest import image_from_array
from egfrmet.errors import InputError
from egfrmet.preprocessing import crop, lesions, qc


@pytest.fixture
def settings(config):
    pre = config["preprocess"]
    return pre["crop"] | {"lesions_mode": pre["lesions"], "min_lesion_mm3": pre["min_lesion_mm3"]}


def two_lesions_far_apart(shape=(30, 64, 64)):
    """The mask that crashed the crops: a large lesion on slices 11-17, a small one on slice 0
    elsewhere in the plane (the middle of their joint extent, slice 8, holds neither)."""
    mask = np.zeros(shape, dtype=np.uint8)
    mask[11:18, 20:34, 20:34] = 1
    mask[0, 50:53, 50:53] = 1
    return mask


def crops(values, mask, settings, numbered=False, spacing=(1.0, 1.0, 1.0)):
    numbers = lesions.label_lesions(mask, [], numbered)
    return crop.crop_lesions(image_from_array(values, spacing), numbers, None, **settings)


def box_columns(result, lesion_index=0):
    """Crop pixels of the box centre and side, in input voxels (x), for one chosen lesion."""
    return result["box_centre_index"][lesion_index][0], result["box_side_mm"][lesion_index]


def test_largest_of_two_lesions_far_apart_in_z_is_centred_and_boxed_alone(settings):
    values = volume()
    result = crops(values, two_lesions_far_apart(), settings)
    assert result["slice_index"].tolist() == [12, 13, 14, 15, 16]
    assert result["lesions_taken"].tolist() == [1] and len(result["lesion_volume_mm3"]) == 2
    centre, side = box_columns(result)
    assert centre == pytest.approx(26.5)  # the large lesion's own centre, not pulled to x 51
    assert side == pytest.approx(14 + 2 * settings["margin_mm"])
    assert all(m.any() for m in result["masks"])  # every crop of a 7-slice lesion holds lesion


def test_all_lesions_gives_a_stack_per_lesion_each_centred_on_its_own(settings):
    values = volume()
    result = crops(values, two_lesions_far_apart(), settings | {"lesions_mode": "all", "min_lesion_mm3": 5.0})
    assert result["slices"].shape == (10, 96, 96)
    assert result["lesion"].tolist() == [1] * 5 + [2] * 5
    assert result["slice_index"].tolist() == [12, 13, 14, 15, 16, -2, -1, 0, 1, 2]
    assert result["masks"][7].any() and not result["masks"][5:7].any()
    assert result["box_centre_index"][1][0] == pytest.approx(51.0)
    assert result["box_side_mm"][1] == settings["min_box_mm"]


def test_touching_lesions_are_one_component_but_two_when_numbered(settings):
    values = volume()
    mask = np.zeros(values.shape, dtype=np.uint8)
    mask[10:16, 20:30, 20:30] = 1
    mask[10:14, 20:30, 30:36] = 2  # touches the first along x = 29/30
    one = crops(values, mask, settings)
    assert len(one["lesion_volume_mm3"]) == 1
    assert box_columns(one)[0] == pytest.approx(27.5)  # x 20..35: the box holds both
    two = crops(values, mask, settings, numbered=True)
    assert two["lesion_volume_mm3"].tolist() == [600.0, 240.0]
    assert box_columns(two) == (pytest.approx(24.5), pytest.approx(10 + 2 * settings["margin_mm"]))
    assert two["slice_index"].tolist() == [10, 11, 12, 13, 14]


def test_a_one_voxel_lesion_beside_a_large_one(settings):
    values = volume()
    mask = np.zeros(values.shape, dtype=np.uint8)
    mask[8:14, 20:32, 20:32] = 1
    mask[20, 40, 40] = 1
    assert crops(values, mask, settings)["slice_index"].tolist() == [8, 9, 10, 11, 12]
    every = settings | {"lesions_mode": "all"}
    assert crops(values, mask, every | {"min_lesion_mm3": 10.0})["lesions_taken"].tolist() == [1]
    both = crops(values, mask, every | {"min_lesion_mm3": 0.0})
    assert both["lesions_taken"].tolist() == [1, 2] and both["slice_index"][7] == 20
    assert both["box_side_mm"][1] == settings["min_box_mm"] and both["masks"][7].any()


def test_numbered_masks_number_lesions_by_volume_and_respect_mask_labels():
    mask = np.zeros((10, 20, 20), dtype=np.uint8)
    mask[1:3, 1:3, 1:3] = 5  # 8 voxels
    mask[5:9, 5:9, 5:9] = 3  # 64 voxels
    mask[1, 15, 15] = 7  # 1 voxel
    numbers = lesions.label_lesions(mask, [], numbered=True)
    assert numbers[6, 6, 6] == 1 and numbers[1, 1, 1] == 2 and numbers[1, 15, 15] == 3
    only = lesions.label_lesions(mask, [3, 7], numbered=True)
    assert only.max() == 2 and only[1, 1, 1] == 0
    assert lesions.volumes_mm3(numbers, (1.0, 2.0, 0.5)).tolist() == [64.0, 8.0, 1.0]


def test_a_numbered_lesion_in_pieces_is_centred_on_a_slice_that_holds_it(settings):
    values = volume()
    mask = np.zeros(values.shape, dtype=np.uint8)
    mask[2:4, 20:30, 20:30] = 1
    mask[20:22, 20:30, 20:30] = 1  # one number, two pieces: the middle (slice 11) holds none
    result = crops(values, mask, settings, numbered=True)
    assert result["slice_index"][2] in (3, 20) and result["masks"][2].any()


def test_no_lesion_large_enough_is_an_error_naming_patient_and_file(tmp_path, settings, monkeypatch):
    values = volume()
    mask = np.zeros(values.shape, dtype=np.uint16)
    mask[12, 30, 30] = 1
    paths = {name: tmp_path / f"{name}.nii.gz" for name in ("image", "lesion", "brain")}
    sitk.WriteImage(image_from_array(values), str(paths["image"]))
    sitk.WriteImage(image_from_array(mask), str(paths["lesion"]))
    sitk.WriteImage(image_from_array(np.ones(values.shape, dtype=np.uint8)), str(paths["brain"]))
    source = image_from_array(values)
    grid = {"spacing": source.GetSpacing(), "origin": source.GetOrigin(), "direction": source.GetDirection()}
    summary = {"mask": "/data/P9_mask.nii.gz", "brain_mask": "given", "source_grid": grid}
    (tmp_path / "s.json").write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(InputError) as error:
        crop.run(
            "P9",
            image=str(paths["image"]),
            lesion=str(paths["lesion"]),
            brain=str(paths["brain"]),
            summary=str(tmp_path / "s.json"),
            settings=settings | {"lesions_mode": "all", "min_lesion_mm3": 50.0},
            out=str(tmp_path / "c.npz"),
            qc=str(tmp_path / "qc.png"),
        )
    message = str(error.value)
    assert "patient P9" in message and "/data/P9_mask.nii.gz" in message and "min_lesion_mm3" in message
    assert not list(tmp_path.glob("c.npz*")) and not (tmp_path / "qc.png").exists()


def test_qc_names_the_lesion_taken_and_outlines_the_brain(tmp_path, settings, monkeypatch):
    values = volume()
    numbers = lesions.label_lesions(two_lesions_far_apart(), [], False)
    brain = np.zeros(values.shape, dtype=bool)
    brain[:, 10:54, 10:54] = True
    result = crop.crop_lesions(image_from_array(values), numbers, brain, **settings)
    result["source_slice_index"] = result["slice_index"]
    assert result["brain_masks"].shape == (5, 96, 96) and 0 < result["brain_masks"][2].mean() < 1
    figures = []
    monkeypatch.setattr(qc, "save", lambda fig, paths, **kw: figures.append(fig))
    qc.plot_qc(result, "P7", {"brain_mask": "computed", "brain_mask_method": "deepbet"}, tmp_path / "qc.png")
    title = figures[0]._suptitle.get_text()
    assert "lesion 1 of 2" in title and "brain mask: computed (deepbet)" in title
    colours = {tuple(np.round(c.get_edgecolor()[0][:3], 2)) for ax in figures[0].axes for c in ax.collections}
    assert {(1.0, 0.0, 0.0), (0.0, 1.0, 1.0)} <= colours  # red lesion and cyan brain outlines
