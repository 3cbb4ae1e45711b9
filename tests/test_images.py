"""Reading the input formats users have: NIfTI, NRRD, MHA/MHD and DICOM series folders."""

import time

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import image_from_array
from egfrmet.errors import InputError
from egfrmet.images import read_image


def volume():
    values = (np.random.default_rng(0).random((6, 10, 12)) * 1000).astype(np.int16)
    return image_from_array(values, (0.8, 0.9, 3.0), origin=(-10.0, 20.0, 5.0))


def write_dicom_series(image, folder, series_uid):
    """One file per slice with the tags a scanner would write (SimpleITK's recipe)."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    direction = image.GetDirection()
    now = time.strftime("%Y%m%d")
    for k in range(image.GetDepth()):
        plane = image[:, :, k]
        tags = {
            "0008|0060": "MR",
            "0008|0020": now,
            "0020|000d": series_uid + ".0",
            "0020|000e": series_uid,
            "0020|0037": "\\".join(str(v) for v in (direction[0], direction[3], direction[6], direction[1], direction[4], direction[7])),
            "0020|0032": "\\".join(str(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k))),
            "0020|0013": str(k + 1),
            "0018|0050": str(image.GetSpacing()[2]),
        }
        for tag, value in tags.items():
            plane.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{series_uid}_{k:03d}.dcm"))
        writer.Execute(plane)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nrrd", ".mha", ".mhd"])
def test_file_formats_read_back_the_same_volume(tmp_path, suffix):
    image = volume()
    path = tmp_path / f"image{suffix}"
    sitk.WriteImage(image, str(path))
    back = read_image(path)
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    assert np.allclose(back.GetSpacing(), image.GetSpacing()) and np.allclose(back.GetOrigin(), image.GetOrigin())


def test_dicom_series_folder_reads_as_one_volume(tmp_path):
    image = volume()
    write_dicom_series(image, tmp_path / "series", "1.2.826.0.1.3680043.2.1125.1")
    back = read_image(tmp_path / "series")
    assert back.GetSize() == image.GetSize()
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    assert np.allclose(back.GetSpacing(), image.GetSpacing(), atol=1e-4)
    assert np.allclose(back.GetOrigin(), image.GetOrigin(), atol=1e-4)


def test_dicom_folder_with_two_series_lists_them(tmp_path):
    write_dicom_series(volume(), tmp_path / "mixed", "1.2.826.0.1.3680043.2.1125.1")
    write_dicom_series(volume(), tmp_path / "mixed", "1.2.826.0.1.3680043.2.1125.2")
    with pytest.raises(InputError, match=r"holds 2 DICOM series \(1\.2\.826.*\.1, 1\.2\.826.*\.2\)") as error:
        read_image(tmp_path / "mixed")
    assert str(tmp_path / "mixed") in str(error.value)


def test_folder_without_dicom_and_paths_with_spaces_and_accents(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no DICOM series"):
        read_image(tmp_path / "empty")
    odd = tmp_path / "Müller Anna" / "t1 post.nii.gz"
    odd.parent.mkdir()
    sitk.WriteImage(volume(), str(odd))
    assert read_image(odd).GetSize() == (12, 10, 6)
