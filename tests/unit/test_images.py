"""Reading the input formats users have: NIfTI, NRRD, MHA/MHD and DICOM series folders."""

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import image_from_array
from egfrmet.demo.dicom import write_mr_series
from egfrmet.errors import InputError
from egfrmet.io.images import read_image


def volume():
    values = (np.random.default_rng(0).random((6, 10, 12)) * 1000).astype(np.int16)
    return image_from_array(values, (0.8, 0.9, 3.0), origin=(-10.0, 20.0, 5.0))


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
    write_mr_series(image, tmp_path / "series", series_uid="1.2.826.0.1.3680043.2.1125.1")
    back = read_image(tmp_path / "series")
    assert back.GetSize() == image.GetSize()
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    assert np.allclose(back.GetSpacing(), image.GetSpacing(), atol=1e-4)
    assert np.allclose(back.GetOrigin(), image.GetOrigin(), atol=1e-4)


def test_dicom_folder_with_two_series_lists_them(tmp_path):
    write_mr_series(volume(), tmp_path / "mixed", series_uid="1.2.826.0.1.3680043.2.1125.1")
    write_mr_series(volume(), tmp_path / "mixed", series_uid="1.2.826.0.1.3680043.2.1125.2")
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


def test_series_uid_picks_one_series_of_a_mixed_folder(tmp_path):
    first, second = volume(), sitk.Cast(volume() * 2, sitk.sitkInt16)
    write_mr_series(first, tmp_path / "mixed", series_uid="1.2.826.0.1.3680043.2.1125.1")
    write_mr_series(second, tmp_path / "mixed", series_uid="1.2.826.0.1.3680043.2.1125.2")
    back = read_image(tmp_path / "mixed", "1.2.826.0.1.3680043.2.1125.2")
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(second))
    with pytest.raises(InputError, match=r"no DICOM series 1\.2\.3 \(found 1\.2\.826.*\.1, 1\.2\.826.*\.2\)"):
        read_image(tmp_path / "mixed", "1.2.3")


def test_series_uid_for_a_file_is_an_error(tmp_path):
    sitk.WriteImage(volume(), str(tmp_path / "t1.nii.gz"))
    with pytest.raises(InputError, match="series_uid 1.2.3 is given but this is a file"):
        read_image(tmp_path / "t1.nii.gz", "1.2.3")
