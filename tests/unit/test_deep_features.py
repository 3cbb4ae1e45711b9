"""The deep_features baseline (egfrmet.training.deep_features): a frozen body's features of the lesion
slices, computed without gradients from the crops alone, fitted inside each fold only."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline

from egfrmet.baselines import methods as baselines
from egfrmet.baselines import plain
from egfrmet.metrics import auc
from egfrmet.training import deep_features as deep

SETTINGS = {
    "methods": ["deep_features"],
    "deep_features": {"components": 4, "c_values": [0.1, 1.0], "inner_k": 3},
    "seed": 0,
}


@pytest.fixture(scope="module")
def body_settings(tmp_path_factory):
    """A 'pretrained' body from a local state-dict file, as model.weights takes one."""
    import timm

    path = tmp_path_factory.mktemp("weights") / "resnet10t.pth"
    torch.manual_seed(0)
    torch.save(timm.create_model("resnet10t", num_classes=1000).state_dict(), path)
    return {"arch": "resnet10t", "weights": str(path), "pretrained_tag": ""}


def write_crops(path, rng, lesion_area=(0, 4, 9, 5, 0)):
    slices = rng.normal(size=(len(lesion_area), 32, 32)).astype(np.float32)
    np.savez(path, slices=slices, lesion=np.ones(len(lesion_area), int), lesion_area=np.array(lesion_area))
    return slices


def test_deep_features_take_no_gradient_and_read_the_lesion_slices_only(tmp_path, body_settings):
    network = deep.body(body_settings)
    calls = []
    network.register_forward_hook(lambda module, args, out: calls.append((torch.is_grad_enabled(), out.requires_grad)))
    rng = np.random.default_rng(0)
    slices = write_crops(tmp_path / "P1.npz", rng)
    row = deep.extract(network, tmp_path / "P1.npz", "P1")
    assert calls and all(not enabled and not needs for enabled, needs in calls)
    assert not any(p.requires_grad for p in network.parameters())
    assert row.patient_id.tolist() == ["P1"] and row.shape == (1, 1 + network[1].num_features)
    # the mean over the three lesion slices; the context slices (no lesion) change nothing
    expected = deep.slice_features(network, slices[1:4]).mean(0)
    assert row.drop(columns="patient_id").to_numpy()[0] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    slices[[0, 4]] = 5.0
    np.savez(tmp_path / "P1.npz", slices=slices, lesion=np.ones(5, int), lesion_area=np.array([0, 4, 9, 5, 0]))
    again = deep.extract(network, tmp_path / "P1.npz", "P1")
    assert np.array_equal(again.to_numpy(), row.to_numpy())


def test_a_crops_file_without_a_lesion_slice_is_refused_naming_patient_and_file(tmp_path, body_settings):
    write_crops(tmp_path / "P2.npz", np.random.default_rng(0), lesion_area=(0, 0, 0))
    with pytest.raises(Exception, match=r"patient P2.*P2\.npz|P2\.npz.*patient P2"):
        deep.extract(deep.body(body_settings), tmp_path / "P2.npz", "P2")


def cohort(n=40, seed=0):
    """Deep features (64 columns) of unique rows, in 2 folds; the label moves every row along
    one direction (as a body's features move together), more than the noise does."""
    rng = np.random.default_rng(seed)
    labels = np.array([1, 0, 0, 1] * (n // 4))
    ids = [f"P{i:03d}" for i in range(n)]
    columns = [f"{baselines.DEEP_PREFIX}{i:04d}" for i in range(64)]
    features = pd.DataFrame(rng.normal(size=(n, 64)), index=pd.Index(ids, name="patient_id"), columns=columns)
    direction = rng.normal(size=64)
    features += 3.0 * labels[:, None] * direction / np.linalg.norm(direction)
    folds = pd.DataFrame({"patient_id": ids, "label": labels, "center": "A", "fold": np.arange(n) % 2})
    return features, folds


def test_no_fit_of_the_deep_features_sees_a_validation_patient(monkeypatch):
    """Instrumented: the rows every pipeline and every PCA is fitted on are training patients'
    rows only (each patient's row is unique), with their own labels."""
    features, folds = cohort()
    fitted, projected = [], []
    pipeline_fit, pca_fit = Pipeline.fit, PCA.fit_transform

    def recording_fit(self, X, y=None, **params):
        fitted.append((np.asarray(X), np.asarray(y)))
        return pipeline_fit(self, X, y, **params)

    def recording_pca(self, X, y=None):
        projected.append(np.asarray(X))
        return pca_fit(self, X, y)

    monkeypatch.setattr(Pipeline, "fit", recording_fit)
    monkeypatch.setattr(PCA, "fit_transform", recording_pca)
    every = []
    for fold in (0, 1):
        fitted.clear()
        scores = baselines.fold_scores(features, folds, fold, ["deep_features"], SETTINGS)
        every.append(scores)
        training = folds[folds.fold != fold]
        assert sorted(scores.patient_id) == sorted(folds.patient_id[folds.fold == fold])
        ((X, y),) = fitted
        assert len(X) == len(training) and y.tolist() == training.label.tolist()
        rows = {tuple(features.loc[p].to_numpy()) for p in training.patient_id}
        assert all(tuple(x) in rows for x in X)
        # the PCA inside the pipeline and inside each inner fold: training rows only, scaled
        assert projected and all(len(p) <= len(training) for p in projected)
    scores = pd.concat(every)
    assert auc(scores.label, scores.probability) > 0.8  # and it learns the label's direction


def test_the_deep_features_model_travels_as_plain_numbers():
    features, folds = cohort()
    X, y = features.to_numpy(), folds.label.to_numpy()
    model = baselines.fit("deep_features", X, y, SETTINGS)
    written = plain.export(model, features.columns)
    assert [step["kind"] for step in written["steps"]] == ["select", "scale", "project", "logistic"]
    assert plain.apply(written, features) == pytest.approx(model.predict_proba(X)[:, 1], abs=1e-9)
    assert "C = " in baselines.describe("deep_features", model)


def test_radiomics_and_deep_features_files_of_a_patient_sit_side_by_side(tmp_path):
    pd.DataFrame({"patient_id": ["P1", "P2"], "volume_mm3": [1.0, 2.0], "original_a": [3.0, 4.0]}).iloc[[0]].to_csv(
        tmp_path / "r1.csv", index=False
    )
    pd.DataFrame({"patient_id": ["P2"], "volume_mm3": [2.0], "original_a": [4.0]}).to_csv(
        tmp_path / "r2.csv", index=False
    )
    for p, v in (("P1", 0.5), ("P2", 0.7)):
        pd.DataFrame({"patient_id": [p], f"{baselines.DEEP_PREFIX}0000": [v]}).to_csv(
            tmp_path / f"d{p}.csv", index=False
        )
    table = baselines.read_features([tmp_path / n for n in ("r1.csv", "dP1.csv", "r2.csv", "dP2.csv")])
    assert table.loc["P2", "original_a"] == 4.0 and table.loc["P1", f"{baselines.DEEP_PREFIX}0000"] == 0.5
    assert baselines.radiomics_columns(table) == ["original_a"]
    assert list(baselines.inputs("deep_features", table, None)[0].columns) == [f"{baselines.DEEP_PREFIX}0000"]


def test_a_bundle_locks_the_body_file_by_checksum_and_another_site_must_bring_the_same(tmp_path, cfg, body_settings):
    """A weights file is locked by its SHA-256, not its path: another site names its own copy,
    and a different file (or none) is refused before any feature is extracted from it."""
    import shutil

    from egfrmet.config.settings import checked, deep_feature_settings, locked_settings, with_bundle
    from egfrmet.errors import InputError
    from egfrmet.io.files import sha256

    cfg["baselines"]["methods"] = ["radiomics", "deep_features"]
    cfg["baselines"]["deep_features"] |= body_settings
    locked = locked_settings(cfg)["deep_features"]
    digest = sha256(body_settings["weights"])
    assert locked == {"arch": "resnet10t", "pretrained_tag": "", "weights_sha256": digest}
    assert deep_feature_settings(cfg)["weights_sha256"] == digest  # in the rule's params: new weights, new features

    def site(weights):
        config = copy.deepcopy(cfg)
        config["baselines"]["methods"] = ["radiomics"]
        config["baselines"]["deep_features"]["weights"] = weights
        return checked(with_bundle(config, {**locked_settings(cfg), "deep_features": locked})[0])

    copied = tmp_path / "elsewhere" / "body.pth"
    copied.parent.mkdir()
    shutil.copy(body_settings["weights"], copied)
    assert deep_feature_settings(site(str(copied))) == {
        "arch": "resnet10t",
        "weights": str(copied),
        "pretrained_tag": "",
        "weights_sha256": digest,
    }
    other = tmp_path / "other.pth"
    torch.save({key: value + 1 for key, value in torch.load(copied, weights_only=True).items()}, other)
    for weights, said in ((str(other), "has SHA-256"), ("imagenet", "is not a weights file")):
        with pytest.raises(InputError, match=f"{said}.*{digest[:12]}.*name your copy"):
            deep_feature_settings(site(weights))
