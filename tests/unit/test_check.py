import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from conftest import REPO, image_from_array
from egfrmet.errors import InputError
from egfrmet.io.images import grid_mismatch, nifti_grid_key, read_header
from egfrmet.preprocessing.check import check_headers, check_patient

TOLERANCE = 1e-3
VOXELS = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))["check"]


@pytest.fixture
def files(tmp_path):
    """A good image and lesion mask on one grid."""
    values = np.random.default_rng(0).random((10, 12, 14)).astype(np.float32) + 1
    mask = np.zeros(values.shape, np.uint8)
    mask[4:6, 5:7, 6:8] = 2
    paths = {"image": tmp_path / "image.nii.gz", "mask": tmp_path / "mask.nrrd", "brain_mask": ""}
    sitk.WriteImage(image_from_array(values, (1.0, 1.0, 2.0)), str(paths["image"]))
    sitk.WriteImage(image_from_array(mask, (1.0, 1.0, 2.0)), str(paths["mask"]))
    return {k: str(v) for k, v in paths.items()}


def both_checks(paths, **options):
    """Header checks, then voxel checks: the first that objects raises."""
    check_headers("P001", paths, grid_tolerance=TOLERANCE)
    return check_patient("P001", paths, mask_labels=options.get("labels", []), grid_tolerance=TOLERANCE, voxels=VOXELS)


def expect_error(paths, column, words, **options):
    with pytest.raises(InputError) as error:
        both_checks(paths, **options)
    message = str(error.value)
    assert "patient P001" in message and f"column {column}" in message and paths[column] in message
    assert words in message
    return message


def test_good_files_pass_and_are_summarised(files):
    summary = both_checks(files)
    assert summary["lesion_voxels"] == 8 and summary["lesion_slices"] == [4, 5]


def test_missing_file(files):
    files["mask"] = files["mask"].replace("mask", "nomask")
    expect_error(files, "mask", "no such file")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".mha", ".nrrd"])
def test_truncated_file(files, tmp_path, suffix):
    """ITK reads half a NIfTI file without complaint: the check must not."""
    whole = tmp_path / f"whole{suffix}"
    sitk.WriteImage(sitk.ReadImage(files["image"]), str(whole))
    data = whole.read_bytes()
    broken = tmp_path / f"broken{suffix}"
    broken.write_bytes(data[: len(data) * 2 // 3])
    files["image"] = str(broken)
    with pytest.raises(InputError, match="truncated|unreadable") as error:
        check_patient("P001", files, mask_labels=[], grid_tolerance=TOLERANCE, voxels=VOXELS)
    assert str(broken) in str(error.value) and "column image" in str(error.value)


def test_not_an_image(files, tmp_path):
    text = tmp_path / "notes.nii.gz"
    text.write_text("not an image", encoding="utf-8")
    files["image"] = str(text)
    expect_error(files, "image", "unreadable image")


def test_empty_mask_and_labels_that_match_nothing(files):
    expect_error(files, "mask", "mask has no lesion voxel", labels=[1, 4])
    assert both_checks(files, labels=[2])["lesion_voxels"] == 8


def test_empty_mask(files, tmp_path):
    empty = tmp_path / "empty.nii.gz"
    sitk.WriteImage(image_from_array(np.zeros((10, 12, 14), np.uint8), (1.0, 1.0, 2.0)), str(empty))
    files["mask"] = str(empty)
    expect_error(files, "mask", "no lesion voxel")


@pytest.mark.parametrize(
    "change, words",
    [
        ({"shape": (10, 12, 15)}, "size"),
        ({"spacing": (1.0, 1.0, 2.5)}, "spacing"),
        ({"origin": (0.0, 0.0, 3.0)}, "origin"),
        ({"direction": (1, 0, 0, 0, -1, 0, 0, 0, 1)}, "direction"),
    ],
)
def test_mask_on_another_grid(files, tmp_path, change, words):
    shape = change.get("shape", (10, 12, 14))
    other = image_from_array(
        np.ones(shape[::-1] if "shape" in change else shape, np.uint8),
        change.get("spacing", (1.0, 1.0, 2.0)),
        change.get("origin", (0.0, 0.0, 0.0)),
        change.get("direction"),
    )
    path = tmp_path / "other.nii.gz"
    sitk.WriteImage(other, str(path))
    files["mask"] = str(path)
    expect_error(files, "mask", f"not on the image's grid: {words}")


def test_float_noise_in_the_grid_is_tolerated(files, tmp_path):
    mask = sitk.ReadImage(files["mask"])
    mask.SetSpacing((1.0 + 1e-6, 1.0, 2.0 - 1e-6))
    mask.SetOrigin((1e-5, 0.0, -1e-5))
    path = tmp_path / "noisy.nii.gz"
    sitk.WriteImage(mask, str(path))
    files["mask"] = str(path)
    assert both_checks(files)["lesion_voxels"] == 8


@pytest.mark.parametrize("shape", [(12, 14), (3, 10, 12, 14), (1, 12, 14)], ids=["2-D", "4-D", "one slice"])
def test_images_that_are_not_3d(files, tmp_path, shape):
    path = tmp_path / "odd.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones(shape, np.float32), isVector=False), str(path))
    files["image"] = str(path)
    expect_error(files, "image", "3-D")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_nan_voxels(files, tmp_path, suffix):
    """Refused in every format, NIfTI included (whose reader in ITK turns NaN into 0)."""
    image = sitk.ReadImage(files["image"])
    values = sitk.GetArrayFromImage(image)
    values[3, 3, 3] = np.nan
    values[4, 4, 4] = np.inf
    bad = image_from_array(values, image.GetSpacing())
    path = tmp_path / f"nan{suffix}"
    sitk.WriteImage(bad, str(path))
    files["image"] = str(path)
    expect_error(files, "image", "2 voxels are NaN or infinite")


def test_empty_brain_mask(files, tmp_path):
    path = tmp_path / "brain.nii.gz"
    sitk.WriteImage(image_from_array(np.zeros((10, 12, 14), np.uint8), (1.0, 1.0, 2.0)), str(path))
    files["brain_mask"] = str(path)
    expect_error(files, "brain_mask", "brain mask is empty")


def oblique(values, spacing=(0.9, 0.9, 3.0), origin=(-90.5, 120.25, -60.0)):
    """An image on an oblique, flipped grid: the fields ITK turns into qform and sform."""
    c, s = np.cos(0.3), np.sin(0.3)
    return image_from_array(values, spacing, origin, (c, -s, 0, s, c, 0, 0, 0, -1))


def test_nifti_files_with_identical_grid_fields_skip_itk_and_itk_agrees(tmp_path, monkeypatch):
    """The parse-time fast path: byte-identical grid fields mean one grid, without ITK."""
    values = np.random.default_rng(1).random((6, 8, 10)).astype(np.float32)
    paths = {"image": tmp_path / "image.nii.gz", "mask": tmp_path / "mask.nii", "brain_mask": tmp_path / "brain.nii.gz"}
    sitk.WriteImage(oblique(values), str(paths["image"]))
    for column in ("mask", "brain_mask"):
        sitk.WriteImage(oblique((values > 0.5).astype(np.uint8)), str(paths[column]))
    keys = {nifti_grid_key(p) for p in paths.values()}
    assert len(keys) == 1 and None not in keys
    headers = [read_header(p) for p in paths.values()]
    assert all(grid_mismatch(headers[0], h, 0.0) is None for h in headers)

    def no_itk(path):
        raise AssertionError(f"ITK read {path}")

    monkeypatch.setattr("egfrmet.preprocessing.check.read_header", no_itk)
    check_headers("P001", {k: str(v) for k, v in paths.items()}, grid_tolerance=TOLERANCE)


@pytest.mark.parametrize(
    "other",
    [
        lambda v: oblique(v, spacing=(0.9, 0.9, 3.00001)),
        lambda v: oblique(v, origin=(-90.5, 120.25, -60.00001)),
        lambda v: image_from_array(v, (0.9, 0.9, 3.0), (-90.5, 120.25, -60.0)),
        lambda v: oblique(v[:, :, :-1]),
    ],
    ids=["spacing noise", "origin noise", "direction", "size"],
)
def test_any_difference_in_the_grid_fields_goes_to_itk(tmp_path, other):
    values = np.ones((6, 8, 10), np.uint8)
    sitk.WriteImage(oblique(values), str(tmp_path / "a.nii.gz"))
    sitk.WriteImage(other(values), str(tmp_path / "b.nii.gz"))
    assert nifti_grid_key(tmp_path / "a.nii.gz") != nifti_grid_key(tmp_path / "b.nii.gz")


@pytest.mark.parametrize(
    "array, suffix",
    [
        (np.ones((8, 10), np.float32), ".nii.gz"),
        (np.ones((2, 6, 8, 10), np.float32), ".nii.gz"),
        (np.ones((1, 8, 10), np.float32), ".nii"),
        (np.ones((6, 8, 10), np.float32), ".nrrd"),
    ],
    ids=["2-D", "4-D", "one slice", "not NIfTI"],
)
def test_files_the_fast_path_cannot_judge_have_no_key(tmp_path, array, suffix):
    path = tmp_path / f"odd{suffix}"
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=False), str(path))
    assert nifti_grid_key(path) is None


def test_series_uid_with_an_image_file_stops_at_parse_time(files):
    with pytest.raises(InputError) as error:
        check_headers("P001", files, grid_tolerance=TOLERANCE, series_uids={"image": "1.2.3"})
    message = str(error.value)
    assert "patient P001" in message and "column series_uid" in message and files["image"] in message
