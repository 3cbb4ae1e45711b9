"""Every degenerate input we could think of, through the whole preprocessing as the rules run
it (check, N4, normalise, crop, in this process): crops, or an InputError that names the
patient and the file; never a traceback. The brain mask is computed by morphology here (deepbet
is a network: its own tests feed it real heads)."""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from conftest import REPO, TINY_PATIENT, image_from_array
from egfrmet.config import settings as derived
from egfrmet.demo import synth
from egfrmet.errors import InputError
from egfrmet.preprocessing import bias, crop, normalise
from egfrmet.preprocessing.check import check_headers, check_patient

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
CONFIG["preprocess"]["brain_mask"]["method"] = "morphology"


def head(seed=0):
    """A generated head (image, lesion) at the tiny workflow's size."""
    patient = synth.make_patient(
        f"D{seed}", label=1, center="A", effect_size=1.0, noise=0.04, bias_strength=0.15, seed=seed, **TINY_PATIENT
    )
    return patient["image"], patient["lesion"].astype(np.uint8)


def preprocess(folder, image, lesion, spacing=(3.0, 3.0, 3.0)):
    """The crops of one patient's image and lesion mask (arrays z, y, x; or images)."""
    paths = {name: folder / f"{name}.nii.gz" for name in ("image", "mask", "bias", "normalised", "brain", "lesion")}
    for name, values in (("image", image), ("mask", lesion)):
        written = values if isinstance(values, sitk.Image) else image_from_array(values, spacing)
        sitk.WriteImage(written, str(paths[name]))
    files = {"image": str(paths["image"]), "mask": str(paths["mask"]), "brain_mask": ""}
    check_headers("D1", files, grid_tolerance=CONFIG["preprocess"]["grid_tolerance"])
    check_patient(
        "D1", files, mask_labels=[], grid_tolerance=CONFIG["preprocess"]["grid_tolerance"], voxels=CONFIG["check"]
    )
    bias.run(
        "D1",
        image=files["image"],
        series_uid="",
        out=str(paths["bias"]),
        settings=CONFIG["preprocess"]["n4"],
        threads=1,
    )
    summary = folder / "normalised.json"
    normalise.run(
        "D1",
        image=str(paths["bias"]),
        mask=files["mask"],
        brain_mask="",
        mask_labels=[],
        lesion_ids="components",
        settings=derived.brain_mask_settings(CONFIG),
        threads=1,
        out=str(paths["normalised"]),
        out_brain=str(paths["brain"]),
        out_lesion=str(paths["lesion"]),
        out_json=str(summary),
    )
    crops = folder / "crops.npz"
    settings = derived.crop_settings(CONFIG) | {"sequences": []}
    crop.run(
        "D1",
        image=str(paths["normalised"]),
        lesion=str(paths["lesion"]),
        brain=str(paths["brain"]),
        summary=str(summary),
        settings=settings,
        out=str(crops),
        qc=str(folder / "qc.png"),
    )
    return np.load(crops)


def moved(lesion, shift):
    return np.roll(lesion, shift, axis=(0, 1, 2))


def one_voxel(lesion):
    single = np.zeros_like(lesion)
    single[tuple(np.argwhere(lesion)[len(np.argwhere(lesion)) // 2])] = 1
    return single


def cut_at_lesion(image, lesion, end):
    """The field of view cut along z where the lesion starts (end 0) or ends (end -1), so
    that it touches the volume's first or last slice and its crops' context falls outside."""
    slices = np.flatnonzero(lesion.any(axis=(1, 2)))
    keep = slice(slices[0], None) if end == 0 else slice(None, slices[-1] + 1)
    return image[keep], lesion[keep]


CASES = {
    "as generated": lambda image, lesion: (image, lesion),
    "constant image": lambda image, lesion: (np.full_like(image, 300), lesion),
    "constant but for a few voxels": lambda image, lesion: (np.where(lesion, 301, 300).astype(image.dtype), lesion),
    "one-voxel lesion": lambda image, lesion: (image, one_voxel(lesion)),
    "lesion on the first slice": lambda image, lesion: cut_at_lesion(image, lesion, 0),
    "lesion on the last slice": lambda image, lesion: cut_at_lesion(image, lesion, -1),
    "lesion outside the head": lambda image, lesion: (image, outside_head(image, lesion)),
    "negative intensities": lambda image, lesion: (image.astype(np.int32) - 5000, lesion),
    "intensities at int16's limits": lambda image, lesion: (at_limits(image), lesion),
    "float64 intensities of 1e30": lambda image, lesion: (image.astype(np.float64) * 1e27, lesion),
    "lesion mask of 255s": lambda image, lesion: (image, lesion * 255),
}


def outside_head(image, lesion):
    """The lesion's shape moved into the air of a corner (as a mask of another scan could lie)."""
    box = np.argwhere(lesion)
    out = np.zeros_like(lesion)
    size = box.max(axis=0) - box.min(axis=0) + 1
    out[: size[0], : size[1], : size[2]] = lesion[tuple(slice(lo, hi + 1) for lo, hi in zip(box.min(0), box.max(0)))]
    return out


def at_limits(image):
    """int16 from its minimum to its maximum: arithmetic in the stored type would overflow."""
    scaled = (image.astype(np.float64) - image.min()) / np.ptp(image) * 65535 - 32768
    return np.round(scaled).astype(np.int16)


# What each case must give: crops, or an error whose message holds these words.
REFUSED = {
    "constant image": "no contrast",
    "constant but for a few voxels": "no contrast",
    "lesion outside the head": "outside the head",
}


@pytest.mark.parametrize("case", list(CASES))
def test_degenerate_inputs_give_crops_or_a_named_error(tmp_path, case):
    image, lesion = CASES[case](*head())
    try:
        crops = preprocess(tmp_path, image, lesion)
    except InputError as error:
        message = str(error)
        assert case in REFUSED, f"{case}: refused, but should give crops: {message}"
        assert "patient D1" in message and str(tmp_path) in message and REFUSED[case] in message, message
        return
    assert case not in REFUSED, f"{case}: gave crops, but should be refused"
    assert crops["slices"].shape[1:] == (CONFIG["preprocess"]["crop"]["size"],) * 2
    assert np.isfinite(crops["slices"]).all() and crops["masks"].any()


@pytest.mark.parametrize("spacing", [(0.5, 0.5, 10.0), (10.0, 0.5, 0.5)], ids=["thick slices", "thick in-plane"])
def test_extreme_anisotropy_gives_crops_or_a_named_error(tmp_path, spacing):
    image, lesion = head()
    try:
        crops = preprocess(tmp_path, image, lesion, spacing=spacing)
    except InputError as error:
        assert "patient D1" in str(error), str(error)
        return
    assert np.isfinite(crops["slices"]).all() and crops["masks"].any()


@pytest.mark.parametrize("shape", [(56, 48), (2, 40, 56, 48)], ids=["2-D", "4-D"])
def test_images_that_are_not_3d_are_refused_by_name(tmp_path, shape):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    mask = np.zeros(shape, np.uint8)
    mask[(slice(1, 3),) * len(shape)] = 1
    with pytest.raises(InputError, match="patient D1") as error:
        preprocess(tmp_path, sitk.GetImageFromArray(image), sitk.GetImageFromArray(mask))
    assert str(tmp_path) in str(error.value)


def test_the_check_summary_says_how_much_of_the_lesion_lies_outside(tmp_path):
    image, lesion = head()
    preprocess(tmp_path, image, lesion)
    files = {"image": str(tmp_path / "image.nii.gz"), "mask": str(tmp_path / "mask.nii.gz"), "brain_mask": ""}
    summary = check_patient("D1", files, mask_labels=[], grid_tolerance=1e-3, voxels=CONFIG["check"])
    assert summary["lesion_outside"]["head"] < 0.05
    json.dumps(summary)  # the check job writes it as JSON
