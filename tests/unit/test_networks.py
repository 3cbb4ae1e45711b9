"""Network families (egfrmet.training.networks): each family's instances, the attention
weights, and a constructed cohort whose label lives only outside the middle five slices."""

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch

from conftest import tiny_model
from egfrmet.io.files import crop_files
from egfrmet.metrics import aggregate_slices, auc
from egfrmet.preprocessing.crop import crop_lesions
from egfrmet.training import data, networks
from egfrmet.training.model import predict_probabilities
from egfrmet.training.networks.stack import neighbour_indices
from egfrmet.training.train import train_fold

FAMILIES = {
    "slices": tiny_model(),
    "stack": tiny_model(family="stack", stack={"neighbours": 1}),
    "attention": tiny_model(family="attention", attention={"hidden": 16, "bags_per_batch": 8}),
}
LAYOUT = {"lesion": np.array([1] * 8 + [2] * 5), "lesion_area": np.array([0, 0, 5, 6, 7, 8, 0, 0, 0, 3, 4, 0, 0])}


def test_each_family_says_what_an_instance_is():
    channels = np.arange(13, dtype=np.float32)[:, None, None, None] * np.ones((13, 1, 8, 8), np.float32)
    one = {name: networks.family(s).instances(channels, LAYOUT, s) for name, s in FAMILIES.items()}
    assert one["slices"].shape == (13, 1, 8, 8)
    # 2.5-D: one instance per lesion slice, its neighbours in its own lesion as channels
    assert one["stack"].shape == (6, 3, 8, 8)
    assert one["stack"][:, :, 0, 0].tolist() == [[1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6], [8, 9, 10], [9, 10, 11]]
    assert neighbour_indices(LAYOUT["lesion"], 8, 1).tolist() == [8, 8, 9]  # not lesion 1's slice 7
    # attention: one bag of every slice, a validity channel last; bags pad to the longest
    assert one["attention"].shape == (1, 13, 2, 8, 8) and (one["attention"][0, :, 1] == 1).all()
    family = networks.family(FAMILIES["attention"])
    joined = family.join([one["attention"], one["attention"][:, :4]])
    assert joined.shape == (2, 13, 2, 8, 8) and (joined[1, 4:] == 0).all()


def test_attention_weights_sum_to_one_per_patient_and_leave_the_padding_out():
    settings = FAMILIES["attention"]
    family = networks.family(settings)
    rng = np.random.default_rng(0)
    bags = [family.instances(rng.normal(size=(n, 1, 32, 32)).astype(np.float32), {}, settings) for n in (3, 9, 6)]
    model = networks.build(settings).eval()
    with torch.no_grad():
        logits, weights = model.attend(torch.from_numpy(family.join(bags)))
    assert logits.shape == (3, 2)
    assert weights.sum(1).tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    assert (weights[0, 3:] == 0).all() and (weights[2, 6:] == 0).all() and (weights[1] > 0).all()


def quick_settings(config, **changes):
    settings = config["train"] | {"epochs": 8, "batch_size": 16, "lr": 0.01, "device": "cpu", "channels_last": False}
    return settings | {"freeze_body": False, "augment": config["train"]["augment"] | {"p": 0.0}} | changes


def test_one_informative_slice_of_a_bag_gets_the_most_weight(config):
    """Bags of 8 noise slices; an EGFR+ bag has one slice with a bright square (anywhere in
    the bag). Trained on the bags' labels alone, the attention finds that slice."""
    settings = FAMILIES["attention"]
    family = networks.family(settings)
    rng = np.random.default_rng(1)

    def bag(positive):
        slices = rng.normal(size=(8, 1, 32, 32)).astype(np.float32)
        where = int(rng.integers(8))
        if positive:
            slices[where, 0, 8:24, 8:24] += 3.0
        return family.instances(slices, {}, settings), where

    made = [bag(i % 2 == 1) for i in range(48)]
    x = torch.from_numpy(family.join([b for b, _ in made]))
    y = torch.tensor([i % 2 for i in range(48)])
    torch.manual_seed(0)
    _, kept = train_fold(
        x[:40],
        y[:40],
        x[40:],
        y[40:],
        model_settings=settings,
        settings=quick_settings(config),
        device=torch.device("cpu"),
    )
    model = networks.build(settings)
    model.load_state_dict(kept["last"]["state"])
    with torch.no_grad():
        _, weights = model.eval().attend(x[41::2])
    informative = [where for _, where in made[41::2]]
    assert weights.argmax(1).tolist() == informative
    assert (weights[torch.arange(len(informative)), informative] > 2 / 8).all()  # twice an even share


def lesion_cohort(folder, n=60, seed=0):
    """A head per patient, one lesion spanning 17 slices (6 to 22); an EGFR+ patient's lesion
    has a bright core in every slice but the middle five (12 to 16). Both crops of each: the
    paper's (folder/middle) and the whole lesion's (folder/lesion)."""
    rng = np.random.default_rng(seed)
    labels = np.array([i % 2 for i in range(n)])
    z, y, x = np.mgrid[:30, :40, :40]
    lesion = ((y - 20) ** 2 + (x - 20) ** 2 <= 36) & (z >= 6) & (z <= 22)
    for i, label in enumerate(labels):
        volume = rng.normal(0, 0.3, size=lesion.shape).astype(np.float32) + 1.5 * lesion
        if label:
            core = lesion & ((y - 20) ** 2 + (x - 20) ** 2 <= 9) & ((z < 12) | (z > 16))
            volume[core] += 3.0
        image = sitk.GetImageFromArray(volume)
        for extent in ("middle", "lesion"):
            result = crop_lesions(
                image,
                lesion.astype(np.uint8),
                None,
                lesions_mode="largest",
                min_lesion_mm3=1.0,
                context=2,
                method="middle",
                margin_mm=4.0,
                min_box_mm=16.0,
                size=32,
                extent=extent,
            )
            (folder / extent).mkdir(exist_ok=True)
            np.savez(folder / extent / f"P{i:02d}.npz", **result)
    return pd.DataFrame({"patient_id": [f"P{i:02d}" for i in range(n)], "label": labels})


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lesions")
    return folder, lesion_cohort(folder)


@pytest.mark.parametrize("name", ["slices", "stack", "attention"])
def test_a_label_outside_the_middle_five_slices_is_learned_by_the_whole_lesion_families_only(cohort, name, config):
    folder, table = cohort
    settings = FAMILIES[name]
    extent = networks.crop_extent(settings)
    crops = crop_files(sorted((folder / extent).glob("*.npz")))
    train, val = table.iloc[:30], table.iloc[30:]
    x_train, y_train, _, _ = data.load_instances(crops, train, settings)
    x_val, y_val, owners, _ = data.load_instances(crops, val, settings)
    torch.manual_seed(0)
    _, kept = train_fold(
        x_train,
        y_train,
        x_val,
        y_val,
        model_settings=settings,
        settings=quick_settings(config),
        device=torch.device("cpu"),
    )
    model = networks.build(settings)
    model.load_state_dict(kept["last"]["state"])
    probs = predict_probabilities(model, x_val, torch.device("cpu"), batch_size=32, bf16=False, channels_last=False)
    patient = aggregate_slices(probs.numpy(), owners, list(val.patient_id), "median")
    score = auc(val.label.to_numpy(), patient)
    if name == "slices":  # its five slices hold no trace of the label: chance (SD 0.11 with 15 + 15)
        assert score < 0.85, score
    else:
        assert score > 0.95, score


def test_the_papers_recipe_keeps_its_model_and_crop_settings_and_a_family_adds_its_own(cfg):
    from egfrmet.config.settings import crop_settings, lesion_crop_settings, model_settings

    paper = model_settings(cfg)
    assert not {"family", "stack", "attention"} & set(paper)  # runs from before families keep their params
    assert "extent" not in crop_settings(cfg) and lesion_crop_settings(cfg)["extent"] == "lesion"
    cfg["model"]["family"] = "stack"
    assert model_settings(cfg) == paper | {"family": "stack", "stack": cfg["model"]["stack"]}
    assert networks.crop_extent(model_settings(cfg)) == "lesion" and networks.crop_extent(paper) == "middle"
    with pytest.raises(ValueError, match="unknown network family 'mil'"):
        networks.family({"family": "mil"})


def test_whole_lesion_crops_take_every_lesion_slice_and_the_context_each_side():
    from egfrmet.preprocessing.crop import crop_slices

    lesion = np.zeros((20, 8, 8), dtype=bool)
    lesion[[4, 5, 9]] = True  # a lesion in two pieces: its span is 4 to 9
    assert crop_slices(lesion, extent="lesion", method="middle", context=2) == list(range(2, 12))
    assert crop_slices(lesion, extent="middle", method="middle", context=2) == [3, 4, 5, 6, 7]
