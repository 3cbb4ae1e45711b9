"""inputs.missing: allow on the tiny workflow: a training patient and a test patient without
their T2 are trained on and predicted; the default refuses them before any job."""

import json

import numpy as np
import pandas as pd
import pytest
from test_workflow import egfrmet_cli

from conftest import REPO, run_snakemake, tiny_cohort

pytestmark = pytest.mark.slow
ALLOW = ["--config", "inputs={sequences: [t2], resample: false, register: none, missing: allow}"]


@pytest.fixture(scope="module")
def lacking(tmp_path_factory, config):
    """The tiny cohort with one cross-validation and one test patient's T2 cell emptied."""
    workdir = tmp_path_factory.mktemp("missing")
    overlay = tiny_cohort(workdir, config)
    path = workdir / "cohort" / "samples.tsv"
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    cv, test = (sheet[sheet.split.isin(splits)].patient_id.iloc[0] for splits in (["", "cv"], ["test"]))
    sheet.loc[sheet.patient_id.isin([cv, test]), "t2"] = ""
    sheet.to_csv(path, sep="\t", index=False)
    return workdir, overlay, cv, test


def test_the_default_refuses_a_patient_without_its_t2_naming_it(lacking):
    workdir, overlay, cv, _ = lacking
    result = run_snakemake(workdir, "-n", "--configfile", overlay, check=False)
    assert result.returncode != 0
    assert f"patient {cv}, column t2" in result.stdout + result.stderr


def test_allowed_a_patient_without_its_t2_is_trained_on_and_predicted(lacking):
    workdir, overlay, cv, test = lacking
    run_snakemake(workdir, "--cores", "2", "--configfile", overlay, *ALLOW)
    results = workdir / "results"
    with np.load(results / "crops" / f"{cv}.npz") as crops:
        assert crops["sequence_present"].tolist() == [False] and not crops["sequences"].any()
    others = [p for p in (results / "crops").glob("*.npz") if p.stem not in (cv, test)]
    with np.load(others[0]) as crops:
        assert crops["sequence_present"].tolist() == [True] and crops["sequences"].any()
    features = pd.read_csv(results / "features" / f"{cv}.csv")
    t2 = [c for c in features if c.startswith("t2_")]
    assert t2 and features[t2].isna().all(axis=None) and features.drop(columns=t2).notna().all(axis=None)
    predictions = pd.read_csv(results / "predictions" / "predictions.csv").set_index("patient_id")
    assert np.isfinite(predictions.loc[test, "probability"])
    summary = pd.read_csv(results / "evaluation" / "summary.csv")
    everyone, complete = (summary[summary.subset == subset] for subset in ("all", "complete cases"))
    assert len(complete) and (complete.n_patients == everyone.n_patients.iloc[0] - 1).all()
    card = (results / "evaluation" / "model_card.md").read_text(encoding="utf-8")
    assert "Patients lacking a sequence (inputs.missing: allow): t2 1 of" in card
    manifest = json.loads((results / "bundle" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["locked"]["inputs"]["missing"] == "allow"


def test_scan_scores_a_scan_without_its_t2_as_the_workflow_did(lacking):
    workdir, overlay, _, test = lacking  # after the run above
    sheet = pd.read_csv(workdir / "cohort" / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    row = sheet.set_index("patient_id").loc[test]
    brain = ["--brain-mask", str(workdir / "cohort" / row.brain_mask)] if row.brain_mask else []
    egfrmet_cli(
        workdir,
        *("scan", "--patient", test, "--image", str(workdir / "cohort" / row.image)),
        *("--mask", str(workdir / "cohort" / row["mask"]), *brain, "--out", "scan.csv"),
        *("--configfile", str(REPO / "config" / "config.yaml"), overlay, "--bundle", "results/bundle"),
    )
    scored = pd.read_csv(workdir / "scan.csv").probability[0]
    predicted = pd.read_csv(workdir / "results" / "predictions" / "predictions.csv").set_index("patient_id")
    assert scored == pytest.approx(predicted.loc[test, "probability"], abs=1e-6)
