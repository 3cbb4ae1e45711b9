"""The whole-lesion network families and the deep features on the tiny workflow: each family
trains and predicts from the whole-lesion crops (made beside the paper's, which stay), goes
into the bundle, and `egfrmet scan` scores a test patient as the workflow did."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from test_workflow import egfrmet_cli

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.slow

FAMILY = {
    "stack": {"family": "stack", "stack": {"neighbours": 1}},
    "attention": {"family": "attention", "attention": {"hidden": 16, "bags_per_batch": 2}},
}


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A 'pretrained' body as a local state-dict file, for the deep features."""
    import timm

    path = tmp_path_factory.mktemp("weights") / "resnet10t.pth"
    torch.manual_seed(0)
    torch.save(timm.create_model("resnet10t", num_classes=1000).state_dict(), path)
    return path


@pytest.fixture(scope="module", params=["stack", "attention"])
def family_run(request, tiny_run, tmp_path_factory, weights_file):
    """A copy of the tiny run, run again with model.family (and, for attention, the deep
    features as a baseline and fusion component, the fused model shipped)."""
    source, overlay = tiny_run
    workdir = tmp_path_factory.mktemp(f"family_{request.param}") / "run"
    shutil.copytree(source, workdir, symlinks=True)
    config = yaml.safe_load((workdir / overlay).read_text(encoding="utf-8"))
    config["model"] |= FAMILY[request.param]
    if request.param == "attention":
        config["baselines"]["methods"].append("deep_features")
        config["baselines"]["deep_features"] = {
            "arch": "resnet10t",
            "weights": str(weights_file),
            "pretrained_tag": "",
            "components": 2,
            "c_values": [1.0],
        }
        config["fusion"]["components"] = ["last", "deep_features"]
        config["train"]["predict_with"] = "fusion"
    (workdir / "family.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    before = {p.name: p.stat().st_mtime_ns for p in (workdir / "results" / "crops").glob("*.npz")}
    run_snakemake(workdir, "--cores", "2", "--configfile", "family.yaml")
    return request.param, workdir, before


def test_a_family_trains_on_the_whole_lesion_crops_and_leaves_the_papers_as_they_were(family_run):
    name, workdir, before = family_run
    results = workdir / "results"
    # the paper's crops were not made again; the whole-lesion ones cover every lesion slice
    assert {p.name: p.stat().st_mtime_ns for p in (results / "crops").glob("*.npz")} == before
    for patient in [p.stem for p in (results / "crops").glob("*.npz")][:3]:
        with (
            np.load(results / "crops" / f"{patient}.npz") as paper,
            np.load(results / "crops_lesion" / f"{patient}.npz") as whole,
        ):
            assert len(paper["slices"]) == 5 and len(whole["slices"]) > 5
            assert set(paper["slice_index"]) <= set(whole["slice_index"])
            assert (whole["lesion_area"][2:-2] > 0).all() and (whole["lesion_area"][[0, 1, -2, -1]] == 0).all()
    assert (results / "qc" / "lesion").is_dir()
    slices = pd.read_csv(results / "models" / "fold0" / "val_slices.csv", dtype={"patient_id": str})
    per_patient = slices[slices.selection == "last"].groupby("patient_id").size()
    if name == "attention":
        assert (per_patient == 1).all()  # one bag, one score
    else:
        assert (per_patient > 5).all()  # one instance per lesion slice
    summary = pd.read_csv(results / "evaluation" / "summary.csv")
    assert {"last", "inner_cv"} <= set(summary.selection)


def test_its_explanations_say_which_slices_decided(family_run):
    name, workdir, _ = family_run
    maps = sorted((workdir / "results" / "explain").glob("fold*/*.npz"))
    assert maps
    with np.load(maps[0]) as result:
        assert len(result["cams"]) == len(result["slices"]) > 0
        if name == "attention":
            assert result["attention"].sum() == pytest.approx(1.0, abs=1e-4)
        else:
            assert "attention" not in result


def test_the_bundle_holds_the_family_and_scan_scores_as_the_workflow_did(family_run):
    name, workdir, _ = family_run
    results = workdir / "results"
    manifest = json.loads((results / "bundle" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["network"]["model"]["family"] == name
    if name == "attention":
        assert manifest["method"]["components"] == ["last", "deep_features"]
        body = manifest["locked"]["deep_features"]
        assert manifest["needs"]["deep_features"] and body["arch"] == "resnet10t"
        assert "weights" not in body and len(body["weights_sha256"]) == 64  # the file by checksum, not path
    predicted = pd.read_csv(results / "predictions" / "predictions.csv", dtype={"patient_id": str})
    test = predicted.patient_id.iloc[0]
    sheet = pd.read_csv(workdir / "cohort" / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    row = sheet.set_index("patient_id").loc[test]
    clinical = [f"{name}={row[name]}" for name in ("sex", "age", "smoking")]  # the tiny run's variables
    brain = ["--brain-mask", str(workdir / "cohort" / row.brain_mask)] if row.brain_mask else []
    egfrmet_cli(
        workdir,
        *("scan", "--patient", test, "--image", str(workdir / "cohort" / row.image)),
        *(
            "--mask",
            str(workdir / "cohort" / row["mask"]),
            *brain,
            "--sequence",
            "t2",
            str(workdir / "cohort" / row.t2),
        ),
        *("--out", "scan.csv", "--configfile", str(REPO / "config" / "config.yaml"), "family.yaml"),
        *("--bundle", "results/bundle", "--clinical", *clinical),
    )
    scored = pd.read_csv(workdir / "scan.csv").probability[0]
    assert scored == pytest.approx(predicted.set_index("patient_id").loc[test, "probability"], abs=1e-6)
