"""Grad-CAM: a tiny network trained to find a bright blob looks at the blob."""

import numpy as np
import pytest
import torch

from egfrmet.explain.gradcam import find_layer, grad_cam
from egfrmet.training.model import create_model

SIZE = 64


def blob_images(n, seed):
    """Noise images; the positives (every other) carry a bright disc somewhere, whose
    centres are returned."""
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, 1, SIZE, SIZE)).astype(np.float32)
    labels = np.arange(n) % 2
    yy, xx = np.mgrid[:SIZE, :SIZE]
    centres = rng.integers(12, SIZE - 12, size=(n, 2))
    for i in np.flatnonzero(labels):
        images[i, 0][(yy - centres[i, 0]) ** 2 + (xx - centres[i, 1]) ** 2 <= 25] += 3.0
    return torch.from_numpy(images), torch.from_numpy(labels), centres


@pytest.mark.slow
def test_grad_cam_of_a_blob_detector_puts_most_of_its_mass_on_the_blob():
    torch.manual_seed(0)
    model = create_model(arch="resnet10t", weights="none", pretrained_tag="", head_hidden=16, dropout=[0.0, 0.0])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y, _ = blob_images(256, seed=0)
    model.train()
    for _ in range(4):
        for batch in torch.randperm(len(x)).split(32):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
    test_x, test_y, centres = blob_images(20, seed=1)
    model.eval()
    with torch.no_grad():
        accuracy = (model(test_x).argmax(1) == test_y).float().mean()
    assert accuracy >= 0.9  # it did learn the blob
    maps = grad_cam(model, find_layer(model, "layer3"), test_x, np.ones(len(test_x)))
    assert maps.shape == (20, SIZE, SIZE) and maps.min() >= 0 and maps.max() <= 1
    yy, xx = np.mgrid[:SIZE, :SIZE]
    shares = []
    for i in np.flatnonzero(test_y.numpy()):
        near = (yy - centres[i, 0]) ** 2 + (xx - centres[i, 1]) ** 2 <= 12**2  # 11 % of the image
        shares.append(maps[i][near].sum() / maps[i].sum())
    assert np.mean(shares) > 0.5, shares


class Quarters(torch.nn.Module):
    """The image's top-left quarter as channel 0, its bottom-right as channel 1."""

    def __init__(self):
        super().__init__()
        mask = torch.zeros(1, 2, SIZE, SIZE)
        mask[0, 0, : SIZE // 2, : SIZE // 2] = 1
        mask[0, 1, SIZE // 2 :, SIZE // 2 :] = 1
        self.register_buffer("mask", mask)

    def forward(self, x):
        return x * self.mask


class Corners(torch.nn.Module):
    """A network whose class-0 evidence is the top-left quarter and class-1 evidence the
    bottom-right: `features` splits the image into the two quarters (its channels), the
    head sums each channel into its class's logit."""

    def __init__(self):
        super().__init__()
        self.features = Quarters()

    def forward(self, x):
        return self.features(x).sum((2, 3))


def test_the_map_of_the_predicted_class_lies_where_its_evidence_is(tmp_path):
    """Bright in the top-left: the model predicts class 0, and the predicted class's map sits
    in the top-left; a map of EGFR+ (the old default) would sit in the other corner."""
    from egfrmet.explain.gradcam import explain_patient

    slices = np.full((3, SIZE, SIZE), 0.1, dtype=np.float32)
    slices[:, 4:20, 4:20] = 2.0  # class 0's evidence
    slices[:, 44:60, 44:60] = 0.5
    masks = np.zeros(slices.shape, dtype=np.uint8)
    np.savez(tmp_path / "P1.npz", slices=slices, masks=masks, brain_masks=masks + 1)
    model = Corners()
    result = explain_patient(model, tmp_path / "P1.npz", model.features, target="predicted")
    assert result["target"].tolist() == [0, 0, 0] and (result["probability"] < 0.5).all()
    top_left = np.zeros((SIZE, SIZE), dtype=bool)
    top_left[: SIZE // 2, : SIZE // 2] = True
    assert all(cam[top_left].sum() > 0.95 * cam.sum() for cam in result["cams"])
    egfr = explain_patient(model, tmp_path / "P1.npz", model.features, target="egfr")
    assert egfr["target"].tolist() == [1, 1, 1] and all(cam[top_left].sum() < 0.05 * cam.sum() for cam in egfr["cams"])


def test_an_unknown_layer_is_named():
    model = create_model(arch="resnet10t", weights="none", pretrained_tag="", head_hidden=8, dropout=[0.0, 0.0])
    with pytest.raises(ValueError, match="no module named 'layer9'"):
        find_layer(model, "layer9")


def test_shares_weigh_the_map_against_the_region_and_its_area():
    from egfrmet.explain.gradcam import shares

    cams = np.zeros((2, 10, 10))
    cams[:, :5] = 1.0  # the top half of every slice
    masks = np.zeros((2, 10, 10), dtype=np.uint8)
    masks[:, :2, :2] = 1  # 4 % of the crop, all of it under the map
    brain = np.zeros_like(masks)
    brain[:, 5:] = 1  # the bottom half: none of the map
    result = shares(cams, masks, brain)
    assert result["lesion_area"] == pytest.approx(0.04) and result["cam_in_lesion"] == pytest.approx(0.08)
    assert result["brain_area"] == pytest.approx(0.5) and result["cam_in_brain"] == 0.0
    assert np.isnan(shares(np.zeros_like(cams), masks, brain)["cam_in_lesion"])  # an all-zero map says nothing
