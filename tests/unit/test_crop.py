import numpy as np
import pytest
import SimpleITK as sitk

from conftest import image_from_array
from egfrmet.errors import InputError
from egfrmet.preprocessing import crop
from egfrmet.preprocessing.normalise import reorient


@pytest.fixture
def settings(config):
    return config["preprocess"]["crop"]


def volume(shape=(30, 64, 64), seed=0):
    """A smooth random volume (z, y, x) so that crops of different places differ."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    return (np.sin(x / 3.0) + np.cos(y / 4.0) + z / 10.0 + 0.1 * rng.normal(size=shape)).astype(np.float32)


def lesion_at(shape, zs, ys=slice(28, 34), xs=slice(30, 38)):
    mask = np.zeros(shape, dtype=bool)
    mask[zs, ys, xs] = True
    return mask


def crops_of(values, mask, settings, spacing=(1.0, 1.0, 1.0)):
    image = image_from_array(values, spacing)
    return crop.crop_volume(image, mask, **settings)


@pytest.mark.parametrize(
    "zs, centre",
    [(slice(12, 13), 12), (slice(10, 13), 11), (slice(5, 15), 9), (slice(5, 16), 10)],
    ids=["1 slice", "3 slices", "10 slices", "11 slices"],
)
def test_middle_of_the_axial_extent_and_two_neighbours_each_side(settings, zs, centre):
    values = volume()
    result = crops_of(values, lesion_at(values.shape, zs), settings)
    assert result["slice_index"].tolist() == list(range(centre - 2, centre + 3))
    assert result["slices"].shape == (5, 96, 96) and result["slices"].dtype == np.float32
    assert result["masks"][2].any()  # the centre crop holds lesion
    assert result["lesion_area"][2] > 0


def test_one_slice_lesion_still_gives_five_crops_with_lesion_only_in_the_centre(settings):
    values = volume()
    result = crops_of(values, lesion_at(values.shape, slice(12, 13)), settings)
    assert [bool(m.any()) for m in result["masks"]] == [False, False, True, False, False]
    # the neighbours are real image content, not padding
    assert all(np.ptp(c) > 0.5 for c in result["slices"])


def test_largest_area_option_picks_the_largest_slice(settings):
    values = volume()
    mask = lesion_at(values.shape, slice(8, 16))
    mask[14, 20:40, 20:45] = True
    result = crops_of(values, mask, settings | {"method": "largest"})
    assert result["slice_index"][2] == 14
    assert crops_of(values, mask, settings)["slice_index"][2] == 11


def test_lesion_at_the_volume_edge_is_padded(settings):
    values = volume()
    mask = lesion_at(values.shape, slice(0, 2), ys=slice(0, 5), xs=slice(30, 38))
    result = crops_of(values, mask, settings)
    assert result["slice_index"].tolist() == [-2, -1, 0, 1, 2]
    assert result["in_volume"].tolist() == [False, False, True, True, True]
    background = values.min()
    assert np.allclose(result["slices"][0], background) and np.allclose(result["slices"][1], background)
    # in-plane the box runs past row 0: its top rows are padding too
    assert np.allclose(result["slices"][2][:5], background)
    assert not np.allclose(result["slices"][2][60:], background)


def test_box_is_square_in_mm_with_anisotropic_voxels(settings):
    values = volume((12, 64, 64))
    mask = lesion_at(values.shape, slice(5, 8), ys=slice(20, 30), xs=slice(20, 40))  # 10 x 20 voxels
    spacing = (0.5, 1.0, 5.0)  # x 0.5 mm, y 1 mm: the lesion is 10 mm x 10 mm
    result = crops_of(values, mask, settings, spacing)
    assert result["slice_index"].tolist() == [4, 5, 6, 7, 8]
    assert result["box_side_mm"] == pytest.approx(10.0 + 2 * settings["margin_mm"])
    rows, cols = np.nonzero(result["masks"][2])
    # a square lesion in mm stays square in the crop
    assert abs((rows.max() - rows.min()) - (cols.max() - cols.min())) <= 2


def test_single_voxel_lesion_gets_the_minimum_box(settings):
    values = volume()
    mask = np.zeros(values.shape, dtype=bool)
    mask[12, 30, 30] = True
    result = crops_of(values, mask, settings | {"margin_mm": 2.0})
    assert result["box_side_mm"] == settings["min_box_mm"]
    assert result["masks"][2].any()


def test_flipped_or_permuted_storage_gives_the_same_crops(settings):
    """The same physical image stored with axes flipped or permuted: identical crops."""
    values = volume()
    image = image_from_array(values, (0.9, 1.1, 2.5), origin=(10.0, -20.0, 5.0))
    lesion = image_from_array(
        lesion_at(values.shape, slice(10, 14)).astype(np.uint8), (0.9, 1.1, 2.5), (10.0, -20.0, 5.0)
    )
    reference = crop.crop_volume(image, sitk.GetArrayFromImage(lesion) > 0, **settings)
    for change in (
        lambda im: sitk.Flip(im, [True, False, False]),
        lambda im: sitk.Flip(im, [False, True, True]),
        lambda im: sitk.PermuteAxes(im, [2, 0, 1]),
        lambda im: sitk.Flip(sitk.PermuteAxes(im, [1, 2, 0]), [True, False, True]),
    ):
        stored, stored_lesion = change(image), change(lesion)
        assert stored.GetDirection() != image.GetDirection()
        lps, lps_lesion = reorient(stored), reorient(stored_lesion)
        result = crop.crop_volume(lps, sitk.GetArrayFromImage(lps_lesion) > 0, **settings)
        np.testing.assert_allclose(result["slices"], reference["slices"], atol=1e-5)
        assert result["slice_index"].tolist() == reference["slice_index"].tolist()


def test_source_slices_map_back_to_the_stored_axis(settings):
    values = volume()
    image = image_from_array(values, (1.0, 1.0, 3.0))
    flipped = sitk.Flip(image, [False, False, True])  # stored superior first
    lps = reorient(flipped)
    source = {k: getattr(flipped, f"Get{k.title()}")() for k in ("spacing", "origin", "direction")}
    indices, axis = crop.source_slices(lps, source, [10, 11, 12])
    assert axis == 2 and indices.tolist() == [19, 18, 17]


def test_empty_lesion_is_an_input_error(settings):
    values = volume()
    with pytest.raises(InputError, match="empty"):
        crops_of(values, np.zeros(values.shape, dtype=bool), settings)


def test_further_sequences_are_cropped_with_the_t1cs_boxes_as_channels(settings, tmp_path):
    """A second image on the grid takes the same boxes (its own background at the edge): an
    image that is 3 x the T1c + 2 crops to 3 x its crops + 2, lesion at the edge included."""
    from egfrmet.io.files import crop_files, read_crops

    values = volume()
    mask = lesion_at(values.shape, slice(0, 2))  # at the edge: two slices padded
    image = image_from_array(values)
    other = image_from_array(3 * values + 2)
    result = crop.crop_volume(image, mask, sequences=[other], **settings)
    assert result["sequences"].shape == (5, 1, 96, 96)
    assert np.allclose(result["sequences"][:, 0], 3 * result["slices"] + 2, atol=1e-4)
    np.savez(tmp_path / "P1.npz", slices=result["slices"], sequences=result["sequences"])
    channels = read_crops(crop_files([tmp_path / "P1.npz"]), "P1")
    assert channels.shape == (5, 2, 96, 96) and np.array_equal(channels[:, 0], result["slices"])
    np.savez(tmp_path / "P2.npz", slices=result["slices"])  # the T1c alone: one channel
    assert read_crops(crop_files([tmp_path / "P2.npz"]), "P2").shape == (5, 1, 96, 96)
    # a job reads only the crops it was given (its declared inputs), even when others lie beside them
    with pytest.raises(InputError, match="patient P2: its crops are not among this job's inputs"):
        read_crops(crop_files([tmp_path / "P1.npz"]), "P2")


def test_the_lesion_channel_is_the_crops_lesion_mask_after_the_sequences(settings, tmp_path):
    from egfrmet.io.files import crop_files, read_crops

    values = volume()
    mask = lesion_at(values.shape, slice(12, 16))
    result = crop.crop_volume(image_from_array(values), mask, sequences=[image_from_array(2 * values)], **settings)
    np.savez(tmp_path / "P1.npz", slices=result["slices"], sequences=result["sequences"], masks=result["masks"])
    crops = crop_files([tmp_path / "P1.npz"])
    channels = read_crops(crops, "P1", lesion_channel=True)
    assert channels.shape == (5, 3, 96, 96) and channels.dtype == result["slices"].dtype
    assert np.array_equal(channels[:, 2], result["masks"]) and 0 < channels[:, 2].mean() < 1
    assert np.array_equal(channels[:, :2], read_crops(crops, "P1"))


def test_outside_brain_background_removes_what_lies_outside_the_brain(settings):
    values = volume()
    mask = lesion_at(values.shape, slice(12, 16))
    brain = np.zeros(values.shape, dtype=bool)
    brain[:, 20:44, 22:46] = True  # holds the lesion and the image's minimum
    values[14, 30, 32] = values.min() - 1.0
    changed = values.copy()
    changed[~brain] += 5.0  # a different skull and scalp
    background = settings | {"outside_brain": "background"}
    first = crop.crop_volume(image_from_array(values), mask, brain=brain, **background)
    second = crop.crop_volume(image_from_array(changed), mask, brain=brain, **background)
    assert np.array_equal(first["slices"], second["slices"])  # the network sees the brain alone
    kept = crop.crop_volume(image_from_array(changed), mask, brain=brain, **settings)
    assert not np.array_equal(kept["slices"], first["slices"])
    outside = first["brain_masks"] == 0
    assert np.median(first["slices"][outside]) == pytest.approx(values.min())  # the fill, but at the brain's edge
