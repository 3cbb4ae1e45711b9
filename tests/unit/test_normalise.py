import numpy as np
import pytest
import SimpleITK as sitk

from conftest import image_from_array
from egfrmet.preprocessing.normalise import reorient, zscore


def test_zscore_has_mean_0_and_std_1_inside_the_brain():
    rng = np.random.default_rng(0)
    values = rng.gamma(4.0, 100.0, size=(20, 30, 40)).astype(np.float32)
    brain = np.zeros(values.shape, dtype=bool)
    brain[4:16, 5:25, 5:35] = True
    values[~brain] *= 0.1  # background must not enter the statistics
    out, mean, std = zscore(image_from_array(values), brain)
    inside = sitk.GetArrayFromImage(out)[brain]
    assert abs(inside.mean()) < 1e-5 and abs(inside.std() - 1) < 1e-5
    assert mean == np.float32(values[brain].mean()) or abs(mean - values[brain].mean()) < 1e-3


def test_reorient_gives_lps_whatever_the_stored_direction():
    image = image_from_array(np.zeros((4, 5, 6), np.float32), direction=(-1, 0, 0, 0, 0, 1, 0, -1, 0))
    lps = reorient(image)
    assert np.allclose(lps.GetDirection(), np.eye(3).ravel())
    # the same voxel sits at the same physical point
    corner = image.TransformIndexToPhysicalPoint((0, 0, 0))
    assert np.allclose(
        lps.TransformPhysicalPointToIndex(corner), np.round(lps.TransformPhysicalPointToContinuousIndex(corner))
    )


def test_a_brain_without_intensity_spread_is_an_input_error():
    from egfrmet.errors import InputError

    image = sitk.GetImageFromArray(np.full((4, 5, 6), 7.0, dtype=np.float32))
    with pytest.raises(InputError, match="no intensity spread"):
        zscore(image, np.ones((4, 5, 6), dtype=bool))
