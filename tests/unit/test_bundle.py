"""The model bundle: written from a fitted method and a network, read back on another
machine's folder to the same probabilities, and refused, naming what differs, when a file
changed, its format is newer or the run would preprocess otherwise."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from test_fusion import cohort, run_folds, settings

from conftest import tiny_model
from egfrmet import methods
from egfrmet.baselines import deploy
from egfrmet.errors import InputError
from egfrmet.evaluation.summary import COLUMNS, INTERNAL
from egfrmet.inference import bundle
from egfrmet.inference.predict import score_with_bundle
from egfrmet.training.model import create_model

LOCKED = {
    "inputs": {"sequences": [], "resample": False},
    "clinical": {},
    "preprocess": {"crop": {"size": 16, "context": 1}, "n4": {"shrink": [4, 4, 4]}},
    "features": {"intensity_percentile": 95},
}
MODEL = tiny_model(head_hidden=4) | {"input": "zscore"}


def bundle_settings(predict_with="fusion"):
    network = {"model": MODEL, "aggregate": "median", "inference": {}, "selection": "last"}
    return {"locked": LOCKED, "network": network, "threshold": 0.5, "predict_with": predict_with, "figures_of": []}


def summary_rows(names):
    rows = pd.DataFrame([{c: 0.5 for c in COLUMNS} | {"selection": n, "subset": "all"} for n in names])
    return rows.assign(validation=INTERNAL, cohort="", aggregate="patient")


@pytest.fixture(scope="module")
def fitted():
    """auto's fusion of two baselines, fitted as deploy fits it, and patients it never saw."""
    features, table, _ = cohort(n=120)
    config = settings(["intensity", "radiomics"], ["intensity", "radiomics", "volume"])
    scores, _, _ = run_folds(features, table, config)
    oof = scores.rename(columns={"probability": "patient"})[["selection", "patient_id", "label", "fold", "patient"]]
    clinical = pd.DataFrame(index=features.index)
    method = deploy.fit(
        patient_scores=oof, features=features, clinical=clinical, kinds={}, settings=config, predict_with="fusion"
    )
    new, _, _ = cohort(n=30, seed=5)
    return method, table, new


def write(tmp_path, method, table, weights=None, name="bundle"):
    out = tmp_path / name
    bundle.write(
        out=out,
        method=method,
        weights=weights or {},
        settings=bundle_settings(),
        folds=table.assign(center="A"),
        summary=summary_rows([method["method"]]),
    )
    return out


def scored(folder, new, crops=None, patients=None):
    manifest, method = bundle.load(folder, LOCKED)
    patients = patients or list(new.index)
    table = score_with_bundle(
        folder,
        manifest,
        method,
        crops=crops or {},
        features=new,
        clinical=pd.DataFrame(index=new.index),
        patients=patients,
        batch_size=8,
        inference={"device": "cpu", "precision": "fp32", "channels_last": False},
    )
    return table.set_index("patient_id")


def test_a_stack_bundle_copied_elsewhere_gives_the_same_probabilities_as_its_fit(tmp_path, fitted):
    method, table, new = fitted
    folder = write(tmp_path, method, table)
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(folder, moved)
    shutil.rmtree(folder)
    expected = deploy.apply(
        method, network=None, features=new, clinical=pd.DataFrame(index=new.index), patients=list(new.index)
    )
    got = scored(moved, new)
    assert np.array_equal(got.probability.to_numpy(), expected)  # to the last bit
    manifest = json.loads((moved / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["method"]["kind"] == "stack" and manifest["method"]["components"] == ["intensity", "radiomics"]
    assert manifest["method"]["holds"] == methods.of("fusion").bundle
    assert manifest["needs"] == {
        "network": False,
        "features": True,
        "deep_features": False,
        "clinical": False,
        "sequences": [],
    }
    assert manifest["cohort"] == {"patients": 120, "positive": int(table.label.sum()), "centres": {"A": 120}}
    assert set(manifest["files"]) == {"method.json"} and manifest["network"] is None


def test_a_network_bundle_holds_tensors_only_and_scores_as_the_models_it_was_made_from(tmp_path, fitted):
    _, table, _ = fitted
    torch.manual_seed(0)
    models = {f"fold_{k}": create_model(**MODEL).eval() for k in range(2)}
    method = bundle.network_method("last")
    folder = tmp_path / "net"
    settings = bundle_settings("last")
    bundle.write(
        out=folder,
        method=method,
        weights={k: m.state_dict() for k, m in models.items()},
        settings=settings,
        folds=table.assign(center="A"),
        summary=summary_rows(["last"]),
    )
    for path in (folder / "network").iterdir():
        assert path.read_bytes()[:1] != b"\x80" and path.read_bytes()[:2] != b"PK"  # neither pickle nor zip
    rng = np.random.default_rng(0)
    crops = {}
    for p in ("N1", "N2", "N3"):
        np.savez(tmp_path / f"{p}.npz", slices=rng.normal(size=(3, 32, 32)).astype(np.float32))
        crops[p] = str(tmp_path / f"{p}.npz")
    new = pd.DataFrame(index=pd.Index(list(crops), name="patient_id"))
    got = scored(folder, new, crops=crops)
    x = torch.cat([torch.from_numpy(np.load(crops[p])["slices"][:, None]) for p in crops])
    with torch.no_grad():
        each = [torch.softmax(m(x), 1)[:, 1].numpy() for m in models.values()]
    mean = np.mean(each, axis=0).reshape(3, 3)
    np.testing.assert_allclose(got.probability.to_numpy(), np.median(mean, axis=1), atol=1e-6)
    assert {"fold_0", "fold_1"} <= set(got.columns)  # each model's own aggregate beside the mean
    assert np.array_equal(got.network.to_numpy(), got.probability.to_numpy())  # the method is the network


def test_a_changed_byte_is_refused_naming_the_file(tmp_path, fitted):
    method, table, _ = fitted
    folder = write(tmp_path, method, table)
    text = (folder / "method.json").read_bytes()
    at = text.index(b'"intercept": ') + len(b'"intercept": ') + 2
    (folder / "method.json").write_bytes(text[:at] + bytes([text[at] ^ 1]) + text[at + 1 :])
    with pytest.raises(InputError, match=r"file .*method\.json: changed since the bundle was made"):
        bundle.load(folder, LOCKED)


def test_a_newer_format_is_refused_naming_its_version(tmp_path, fitted):
    method, table, _ = fitted
    folder = write(tmp_path, method, table)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = bundle.FORMAT_VERSION + 1
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(InputError, match=f"format version {bundle.FORMAT_VERSION + 1}.*reads version"):
        bundle.load(folder)


def test_other_preprocessing_settings_are_refused_naming_each_key(tmp_path, fitted):
    method, table, _ = fitted
    folder = write(tmp_path, method, table)
    other = json.loads(json.dumps(LOCKED))
    other["preprocess"]["crop"]["size"] = 96
    other["inputs"]["sequences"] = ["t2"]
    with pytest.raises(InputError, match=r"inputs\.sequences: this run \['t2'\], the bundle \[\].*crop\.size"):
        bundle.load(folder, other)


def test_a_folder_without_a_manifest_and_a_missing_file_are_refused(tmp_path, fitted):
    method, table, _ = fitted
    with pytest.raises(InputError, match="not a model bundle"):
        bundle.load(tmp_path)
    folder = write(tmp_path, method, table)
    (folder / "method.json").unlink()
    with pytest.raises(InputError, match="missing"):
        bundle.load(folder)


def test_a_patient_lacking_what_the_method_reads_is_refused_before_scoring(tmp_path, fitted):
    method, table, new = fitted
    folder = write(tmp_path, method, table)
    with pytest.raises(InputError, match=r"reads features: none for \['X1'\]"):
        scored(folder, new, patients=[*new.index[:2], "X1"])
