"""A model that leaves the lab: the tiny run's bundle, copied to another folder, scores as
the run did; a run with `bundle:` trains nothing and validates named external cohorts; no
file of a run or a bundle is read by pickle."""

import json
import shutil
import zipfile

import pandas as pd
import pytest
import torch
import yaml
from test_workflow import chain, planned_jobs, predict_with, run_config

from conftest import grown_sheet, run_snakemake

pytestmark = pytest.mark.slow
PREPROCESSING_JOBS = {"synth", "check", "bias", "bias_sequence", "normalise", "normalise_sequence", "crop"}
SCORING_JOBS = {"features", "clinical", "predict", "external", "summary"}


def test_the_bundle_copied_elsewhere_scores_the_test_patients_as_the_runs_own_predict(tiny_run, tmp_path):
    workdir, overlay = tiny_run
    elsewhere = tmp_path / "another hospital" / "bundle"
    shutil.copytree(workdir / "results" / "bundle", elsewhere)
    got = predict_with(workdir, run_config(workdir, overlay), elsewhere, ["T001", "T002"], tmp_path / "p.csv")
    own = pd.read_csv(workdir / "results" / "predictions" / "predictions.csv")
    pd.testing.assert_frame_equal(got, own)  # every column, to the last bit
    manifest = json.loads((elsewhere / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["method"]["kind"] == "network" and len(manifest["network"]["models"]) == 4
    assert manifest["cohort"]["patients"] == 8 and manifest["locked"]["inputs"]["sequences"] == ["t2"]


def test_nothing_under_results_or_in_the_bundle_is_read_by_pickle(tiny_run):
    """No file is a pickle; a network's .pt files in results/ (torch archives) load with
    weights_only, torch's unpickler of tensors and plain containers only; the bundle holds
    none of them: JSON and safetensors."""
    workdir, _ = tiny_run
    archives = []
    for path in (workdir / "results").rglob("*"):
        if not path.is_file():
            continue
        head = path.read_bytes()[:2]
        assert path.suffix not in (".pkl", ".pickle", ".joblib") and head[:1] != b"\x80", path
        if zipfile.is_zipfile(path) and path.suffix == ".pt":
            archives.append(path)
            torch.load(path, map_location="cpu", weights_only=True)
        bundle_file = "bundle" in path.relative_to(workdir / "results").parts
        assert not (bundle_file and (zipfile.is_zipfile(path) or path.suffix == ".pt")), path
    assert len(archives) >= 6  # the fold and inner models were among them


def test_a_run_with_a_bundle_trains_nothing_and_validates_each_named_cohort(tiny_run, tmp_path):
    source, overlay = tiny_run
    workdir = tmp_path / "hospital"
    shutil.copytree(source, workdir, symlinks=True)
    shutil.copytree(source / "results" / "bundle", tmp_path / "received")
    shutil.rmtree(workdir / "results")  # another hospital: none of the training run's results
    sheet = pd.read_csv(workdir / "cohort" / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    sheet = sheet.assign(split="", cohort=["B" if i % 2 else "C" for i in range(len(sheet))])
    sheet.to_csv(workdir / "cohort" / "samples.tsv", sep="\t", index=False)
    config = yaml.safe_load((workdir / overlay).read_text(encoding="utf-8"))
    config["bundle"] = str(tmp_path / "received")
    config["preprocess"] = {"crop": {"margin_mm": 99.0}}  # the bundle's settings win, and it says so
    (workdir / "external.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    plan = planned_jobs(workdir, "--configfile", "external.yaml")
    assert {rule for rule, _ in plan} <= PREPROCESSING_JOBS | SCORING_JOBS  # no fold, training or baseline job
    dry = run_snakemake(workdir, "--dry-run", "--configfile", "external.yaml")
    assert "preprocess.crop.margin_mm is the bundle's 10.0, not the config's 99.0" in dry.stderr
    run_snakemake(workdir, "--cores", "2", "--configfile", "external.yaml")
    summary = pd.read_csv(workdir / "results" / "evaluation" / "summary.csv", keep_default_na=False)
    external = summary[summary.validation == "external"]
    assert sorted(external.cohort) == ["B", "C"] and list(external.n_patients) == [5, 5]
    internal = summary[summary.validation == "internal out-of-fold"]  # the training run's, from the manifest
    assert list(internal.selection) == ["inner_ensemble"] and internal.n_patients.tolist() == [8]
    for cohort in ("B", "C"):
        assert (workdir / "results" / "evaluation" / "external" / cohort / "calibration.png").stat().st_size > 1000
    # one more external patient: its preprocessing and the scoring, nothing else
    grown = grown_sheet(workdir, patient_id="E001", label="1", cohort="B", split="")
    jobs = planned_jobs(workdir, "--configfile", "external.yaml", "--config", grown)
    assert jobs == chain("E001") | {("predict", ""), ("external", ""), ("summary", "")}


def test_a_bundle_with_a_changed_file_stops_the_run_before_any_job(tiny_run, tmp_path):
    source, overlay = tiny_run
    received = tmp_path / "received"
    shutil.copytree(source / "results" / "bundle", received)
    weights = next((received / "network").iterdir())
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    result = run_snakemake(source, "--dry-run", "--configfile", overlay, "--config", f"bundle={received}", check=False)
    said = result.stdout + result.stderr
    assert result.returncode != 0 and "changed since the bundle was made" in said and weights.name in said
