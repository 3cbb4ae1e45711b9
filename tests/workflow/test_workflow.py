"""The preprocessing workflow end to end on a tiny generated cohort, and its bad-input stops."""

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch
import yaml

from conftest import (
    REPO,
    TINY_PATIENT,
    grown_sheet,
    image_from_array,
    run_snakemake,
    tiny_cohort,
)
from egfrmet.config.settings import inference_settings, locked_settings, merged, read_config
from egfrmet.demo import synth
from egfrmet.demo.dicom import write_mr_series


def written_cohort(workdir, cfg, n=2):
    """Patients' files written up front (no synth rule), unlabelled so that only their
    preprocessing runs: a sheet as a user would have."""
    folder = workdir / "data"
    rows = []
    for i in range(n):
        pid = f"S{i + 1}"
        patient = synth.make_patient(pid, label=i % 2, center="A", **(cfg["synth"]["patient"] | TINY_PATIENT))
        paths = {k: folder / f"{pid}_{k}.nii.gz" for k in ("image", "mask", "brain_mask")}
        synth.write_patient(patient, **{k: str(v) for k, v in paths.items()})
        rows.append(
            {"patient_id": pid, "image": f"data/{pid}_image.nii.gz", "mask": f"data/{pid}_mask.nii.gz", "label": ""}
        )
    return rows


def write_sheet(workdir, rows):
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["\t".join(columns)] + ["\t".join(str(row.get(c, "")) for c in columns) for row in rows]
    (workdir / "samples.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def results_files(workdir):
    results = workdir / "results"
    return sorted(str(p.relative_to(results)) for p in results.rglob("*") if p.is_file()) if results.exists() else []


@pytest.mark.slow
def test_whole_dag_on_a_tiny_cohort_produces_every_file_and_a_rerun_schedules_nothing(tiny_run):
    tmp_path, overlay = tiny_run
    patients = [f"P00{i}" for i in range(1, 9)] + ["T001", "T002"]
    for pid in patients:
        crops = np.load(tmp_path / "results" / "crops" / f"{pid}.npz")
        assert crops["slices"].shape == (5, 96, 96) and np.isfinite(crops["slices"]).all()
        assert crops["sequences"].shape == (5, 1, 96, 96) and list(crops["sequence_names"]) == ["t2"]
        assert crops["masks"][2].any()
        assert (tmp_path / "results" / "qc" / f"{pid}.png").stat().st_size > 1000
    sources = {
        pid: json.loads((tmp_path / "results" / "normalised" / f"{pid}.json").read_text(encoding="utf-8"))["brain_mask"]
        for pid in patients
    }
    assert set(sources.values()) == {"given", "computed"}  # both brain-mask paths ran

    results = tmp_path / "results"
    for fold in (0, 1):
        for name in ("model.pt", "history.csv", "val_slices.csv"):
            assert (results / "models" / f"fold{fold}" / name).stat().st_size > 0
        weights = torch.load(results / "models" / f"fold{fold}" / "model.pt", weights_only=True)
        assert weights["0.conv1.0.weight"].shape[1] == 2  # T1c and T2: a network of two input channels
        assert len(pd.read_csv(results / "models" / f"fold{fold}" / "history.csv")) == 2
    folds = pd.read_csv(results / "folds.tsv", sep="\t")
    assert sorted(folds.patient_id) == patients[:8] and set(folds.fold) == {0, 1}
    for name in (
        "table2.csv",
        "table2.md",
        "patient_scores.csv",
        "roc.png",
        "roc.pdf",
        "slice_scores.png",
        "training_curves.png",
    ):
        assert (results / "evaluation" / name).stat().st_size > 0
    selections = ["best_val_accuracy", "inner_cv", "inner_ensemble", "last"]
    table = pd.read_csv(results / "evaluation" / "table2.csv")
    assert list(table["aggregate"]) == 4 * ["min", "max", "median", "mean"]
    assert list(table.selection) == [name for name in selections for _ in range(4)]
    scores = pd.read_csv(results / "evaluation" / "patient_scores.csv")
    for name in selections:  # every cv patient validated once, by each selection
        assert sorted(scores.patient_id[scores.selection == name]) == patients[:8]
    summary = pd.read_csv(results / "evaluation" / "summary.csv", keep_default_na=False, na_values=[""])
    assert list(summary.columns[:4]) == ["selection", "aggregate", "n_patients", "n_positive"]
    external = summary[summary.validation == "external"]  # the held-out T001 and T002: the cohort test
    assert list(external.selection) == ["inner_ensemble"] and list(external.cohort) == ["test"]
    assert external.n_patients.tolist() == [2] and (results / "evaluation" / "external" / "test").is_dir()
    summary = summary[summary.validation == "internal out-of-fold"]
    baselines = ["radiomics", "volume", "intensity", "clinical"]
    fused = ["fusion", "auto"]
    assert list(summary.selection) == list(table.selection) + baselines + fused and (summary.n_patients == 8).all()
    assert list(summary["aggregate"][-6:]) == ["patient"] * 6 and (summary.subset == "all").all()
    assert (summary.auc_low <= summary.auc).all() and (summary.auc <= summary.auc_high).all()
    # what each row is: one pre-specified row per method, the shipped one, the paper's optimistic
    assert summary.groupby("selection").prespecified.sum().eq(1).all()
    assert set(summary["aggregate"][summary.prespecified & summary.selection.isin(selections)]) == {"median"}
    assert summary[summary.shipped][["selection", "aggregate"]].values.tolist() == [["inner_ensemble", "median"]]
    assert summary.optimistic.tolist() == [name == "best_val_accuracy" for name in summary.selection]
    assert summary.result.equals(summary.shipped) and external.result.all() and external.shipped.all()
    for fold in (0, 1):  # each baseline scores the fold's validation patients, fitted on the others
        scored = pd.read_csv(results / "baselines" / f"fold{fold}.csv")
        for name in baselines:
            assert set(scored.patient_id[scored.selection == name]) == set(folds.patient_id[folds.fold == fold])
    assert sorted(p.stem for p in (results / "features").glob("*.csv")) == patients[:8]  # not the test patients
    assert sorted(p.stem for p in (results / "clinical").glob("*.json")) == patients[:8]
    for fold in (0, 1):  # the fusion and auto: fitted on the fold's training patients, scoring the others
        scored = pd.read_csv(results / "fusion" / f"fold{fold}.csv")
        validation = set(folds.patient_id[folds.fold == fold])
        for name in fused:
            assert set(scored.patient_id[scored.selection == name]) == validation
        report = json.loads((results / "fusion" / f"fold{fold}.json").read_text(encoding="utf-8"))
        assert set(report["candidates"]) == {"last", *baselines, "fusion"} and report["auto"] in report["candidates"]
        names = {name.split("__")[-1] for name in report["fusion"]["coefficients"]}
        assert {"last", "radiomics", "clinical"} <= names and any(name.startswith("sex_") for name in names)
        for inner in (0, 1):  # each inner training scored its own inner validation patients only
            rows = pd.read_csv(results / "models" / f"fold{fold}" / f"inner{inner}" / "val_slices.csv")
            assert set(rows.selection) == {"best_inner_metric", "last"} and (rows.inner == inner).all()
            assert not set(rows.patient_id) & validation and len(set(rows.patient_id)) == 2
    comparison = pd.read_csv(results / "evaluation" / "comparison.csv")
    network_rows = len(selections) * len(baselines)
    assert list(comparison.method[:network_rows]) == [name for name in selections for _ in baselines]
    assert list(comparison.reference[:network_rows]) == baselines * len(selections)
    others = [*selections, *baselines]
    assert list(comparison.method[network_rows:]) == ["fusion"] * len(others) + ["auto"] * (len(others) + 1)
    assert (results / "evaluation" / "decision_curve.png").stat().st_size > 0
    curve = pd.read_csv(results / "evaluation" / "decision_curve.csv")
    assert list(curve.method.unique()) == [*selections, *baselines, *fused, "treat all", "treat none"]
    assert comparison.delong_p.between(0, 1).all() and (comparison.n_patients == 8).all()
    assert "DeLong p" in (results / "evaluation" / "comparison.md").read_text(encoding="utf-8")
    for pid in patients[:8]:  # Grad-CAM of every cross-validation patient by its fold's model
        fold = int(folds.fold[folds.patient_id == pid].iloc[0])
        maps = np.load(results / "explain" / f"fold{fold}" / f"{pid}.npz")
        assert maps["cams"].shape == (5, 96, 96) and int(maps["fold"]) == fold
        assert (results / "explain" / f"fold{fold}" / f"{pid}.png").stat().st_size > 1000
    assert (results / "evaluation" / "explanations.png").stat().st_size > 1000
    card = (results / "evaluation" / "model_card.md").read_text(encoding="utf-8")
    for row in summary.itertuples():  # the card's figures are summary.csv's
        name = row.selection if row.aggregate == "patient" else f"{row.selection} ({row.aggregate})"
        line = next(line for line in card.splitlines() if line.startswith(f"| {name} |"))
        assert f"| {row.auc:.2f} ({row.auc_low:.2f}–{row.auc_high:.2f}) |" in line
    assert "Cross-validation patients: 8" in card and "**The cohort is generated**" in card
    explained = pd.read_csv(results / "evaluation" / "explanations.csv", dtype={"patient_id": str})
    assert sorted(explained.patient_id) == patients[:8]
    assert explained[["cam_in_lesion", "cam_in_brain", "lesion_area", "brain_area"]].stack().between(0, 1).all()
    for fold in (0, 1):
        choice = json.loads((results / "models" / f"fold{fold}" / "inner_choice.json").read_text(encoding="utf-8"))
        history = pd.read_csv(results / "models" / f"fold{fold}" / "history.csv")
        assert history.epoch[history.kept_inner_cv].tolist() == [choice["epoch"]]
        assert len(pd.read_csv(results / "models" / f"fold{fold}" / "inner1" / "history.csv")) == 2
        assert (results / "models" / f"fold{fold}" / "inner1" / "model.pt").stat().st_size > 0
        ensemble = pd.read_csv(results / "models" / f"fold{fold}" / "inner_ensemble_slices.csv")
        assert set(ensemble.patient_id) == set(folds.patient_id[folds.fold == fold])
    predictions = pd.read_csv(results / "predictions" / "predictions.csv")
    assert list(predictions.patient_id) == ["T001", "T002"]
    models = [f"fold_{fold}_inner_{inner}" for fold in (0, 1) for inner in (0, 1)]  # predict_with inner_ensemble
    assert predictions.probability.between(0, 1).all() and set(models) <= set(predictions.columns)
    assert (predictions.models == "inner_ensemble: 4 network models").all()  # as the out-of-fold rows (test_selection)
    metrics = pd.read_csv(results / "predictions" / "metrics.csv")
    assert metrics.n_labelled[0] == 2 and "auc" in metrics

    again = run_snakemake(tmp_path, "--cores", "2", "--configfile", overlay, "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr
    assert not (results / "checkpoints").exists() or not any((results / "checkpoints").iterdir())

    run_snakemake(tmp_path, "--configfile", overlay, "--report", "results/report.html")
    report = (results / "report.html").read_text(encoding="utf-8")
    for item in ("table2.csv", "roc.png", "training_curves.png", "P001.png", "predictions.csv", "comparison.csv"):
        assert item in report


@pytest.mark.slow
def test_predict_with_fusion_gives_new_patients_the_stack_refitted_on_every_cv_patient(tiny_run, tmp_path):
    source, overlay = tiny_run
    workdir = tmp_path / "copy"
    shutil.copytree(source, workdir, symlinks=True)
    config = yaml.safe_load((workdir / overlay).read_text(encoding="utf-8"))
    config["train"]["predict_with"] = "fusion"
    (workdir / "fusion.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    run_snakemake(workdir, "--cores", "2", "--configfile", "fusion.yaml")
    results = workdir / "results"
    deployed = json.loads((results / "models" / "deployed.json").read_text(encoding="utf-8"))
    assert deployed["method"] == "fusion" and deployed["components"] == ["last", "radiomics", "clinical"]
    predictions = pd.read_csv(results / "predictions" / "predictions.csv")
    assert list(predictions.patient_id) == ["T001", "T002"] and predictions.probability.between(0, 1).all()
    assert (predictions.models == "fusion (last + radiomics + clinical): 2 network models").all()
    assert not np.allclose(predictions.probability, predictions.network)  # the stack, not the network alone
    assert sorted(p.stem for p in (results / "features").glob("*.csv")) == [*CV_PATIENTS, "T001", "T002"]
    # the bundle, copied elsewhere, gives the same patients the same table to the last bit
    shutil.copytree(results / "bundle", tmp_path / "elsewhere")
    merged_config = run_config(workdir, "fusion.yaml")
    elsewhere = predict_with(workdir, merged_config, tmp_path / "elsewhere", ["T001", "T002"], tmp_path / "p.csv")
    pd.testing.assert_frame_equal(elsewhere, predictions)
    manifest = json.loads((tmp_path / "elsewhere" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["method"]["kind"] == "stack" and set(manifest["clinical"]) == {"sex", "age", "smoking"}
    assert manifest["clinical"]["sex"]["levels"] and "imputed_with" in manifest["clinical"]["age"]
    # one scan from the command line, with its clinical values, gets what the workflow gave it
    row = pd.read_csv(workdir / "cohort" / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    row = row.set_index("patient_id").loc["T001"]
    brain = ["--brain-mask", str(workdir / "cohort" / row.brain_mask)] if row.brain_mask else []
    values = [f"{name}={row[name]}" for name in config["clinical"]]
    scan = [
        *("scan", "--patient", "T001", "--image", str(workdir / "cohort" / row.image)),
        *("--mask", str(workdir / "cohort" / row["mask"]), *brain),
        *("--sequence", "t2", str(workdir / "cohort" / row.t2)),
        *("--configfile", str(REPO / "config" / "config.yaml"), "fusion.yaml", "--out", "scan.csv"),
    ]
    egfrmet_cli(workdir, *scan, "--clinical", *values)
    scored, workflow = pd.read_csv(workdir / "scan.csv").iloc[0], predictions.set_index("patient_id").loc["T001"]
    assert scored.probability == pytest.approx(workflow.probability, abs=1e-6)
    assert scored.network == pytest.approx(workflow.network, abs=1e-6) and "fusion (last" in scored.models
    refused = egfrmet_command(workdir, *scan, "--clinical", *values[1:], "weight=80")
    assert refused.returncode == 2 and f"not given: {values[0].split('=')[0]}" in refused.stderr
    assert "unknown: weight" in refused.stderr
    # auto's pick over every cv patient: the candidate of best out-of-fold AUC in summary.csv
    egfrmet_cli(
        workdir,
        "deploy",
        "--patient-scores", "results/evaluation/patient_scores.csv",
        "--features", *sorted(str(p) for p in (results / "features").glob("P*.csv")),
        "--clinical", *sorted(str(p) for p in (results / "clinical").glob("P*.json")),
        "--settings", json.dumps(fusion_settings(config)),
        "--predict-with", "auto",
        "--out", "auto.json",
    )  # fmt: skip
    auto = json.loads((workdir / "auto.json").read_text(encoding="utf-8"))
    summary = pd.read_csv(results / "evaluation" / "summary.csv")
    summary = summary[summary.validation == "internal out-of-fold"]  # not the held-out cohort's rows
    summary = summary[summary["aggregate"].isin(["median", "patient"])].set_index("selection")
    assert auto["oof_auc"] == pytest.approx({m: summary.auc[m] for m in auto["oof_auc"]})
    assert auto["method"] == max(auto["oof_auc"], key=auto["oof_auc"].get)


def run_config(workdir, overlay):
    return merged(read_config([REPO / "config" / "config.yaml"]), yaml.safe_load((workdir / overlay).read_text()))


def predict_with(workdir, config, bundle, patients, out):
    """`egfrmet predict` as the rule calls it, for `patients` of the run in `workdir`."""
    sheet = pd.read_csv(workdir / "cohort" / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    labels = sheet.set_index("patient_id").label
    results = workdir / "results"
    features = [
        str(results / "features" / f"{p}.csv") for p in patients if (results / "features" / f"{p}.csv").exists()
    ]
    clinical = [
        str(results / "clinical" / f"{p}.json") for p in patients if (results / "clinical" / f"{p}.json").exists()
    ]
    egfrmet_cli(
        workdir,
        "predict", "--bundle", str(bundle),
        "--crops", *[str(results / "crops" / f"{p}.npz") for p in patients],
        "--patients", json.dumps({p: [int(labels[p]), "test"] for p in patients}),
        "--locked", json.dumps(locked_settings(config)),
        "--settings", json.dumps(config["predict"]), "--evaluate-settings", json.dumps(config["evaluate"]),
        "--inference", json.dumps(inference_settings(config)), "--threads", "2",
        "--features", *features, "--clinical", *clinical,
        "--out", str(out), "--out-metrics", str(out.with_suffix(".metrics.csv")),
    )  # fmt: skip
    return pd.read_csv(out)


def fusion_settings(overlay):
    """The fusion step's settings of the shipped config under `overlay`, as the rules derive them."""
    from egfrmet.config.settings import fusion_settings as derive
    from egfrmet.config.settings import merged, read_config

    return derive(merged(read_config([REPO / "config" / "config.yaml"]), overlay))


def egfrmet_command(workdir, *args):
    """`python -m egfrmet ARGS` in `workdir`, with this checkout's package."""
    return subprocess.run(
        [sys.executable, "-m", "egfrmet", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=os.environ | {"PYTHONPATH": str(REPO / "src")},
    )


def egfrmet_cli(workdir, *args):
    result = egfrmet_command(workdir, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def tiny_run_elsewhere(tmp_path_factory, config):
    """The same run again, in a folder whose path has spaces, accents, a quote and a command
    substitution that would run if a path reached the shell unquoted."""
    workdir = tmp_path_factory.mktemp("tiny run é's $(touch pwned)")
    overlay = tiny_cohort(workdir, config, folder="cohort données")
    run_snakemake(workdir, "--cores", "2", "--configfile", overlay)
    return workdir, overlay


@pytest.mark.slow
def test_paths_with_spaces_and_accents_run_the_whole_dag(tiny_run_elsewhere):
    workdir, overlay = tiny_run_elsewhere
    assert " " in str(workdir) and "é" in str(workdir) and "'" in str(workdir)
    assert not list(workdir.rglob("pwned")) and not (REPO / "pwned").exists()
    assert sorted(p.name for p in (workdir / "cohort données" / "synth").glob("*_t1.nii.gz"))[0] == "P001_t1.nii.gz"
    predictions = pd.read_csv(workdir / "results" / "predictions" / "predictions.csv")
    assert list(predictions.patient_id) == ["T001", "T002"]
    assert (workdir / "results" / "evaluation" / "table2.csv").stat().st_size > 0
    again = run_snakemake(workdir, "--cores", "2", "--configfile", overlay, "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_two_cpu_runs_give_bit_identical_folds_crops_models_and_predictions(tiny_run, tiny_run_elsewhere):
    a, b = tiny_run[0] / "results", tiny_run_elsewhere[0] / "results"
    for name in ("folds.tsv", "evaluation/patient_scores.csv", "evaluation/table2.csv", "predictions/predictions.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    crops = sorted(p.name for p in (a / "crops").glob("*.npz"))
    assert crops == sorted(p.name for p in (b / "crops").glob("*.npz")) and len(crops) == 10
    for name in crops:
        with np.load(a / "crops" / name) as x, np.load(b / "crops" / name) as y:
            assert sorted(x.files) == sorted(y.files)
            for key in x.files:
                assert np.array_equal(x[key], y[key]), f"{name}:{key}"
    for fold in (0, 1):
        assert (a / f"models/fold{fold}/val_slices.csv").read_bytes() == (
            b / f"models/fold{fold}/val_slices.csv"
        ).read_bytes()
        x = torch.load(a / f"models/fold{fold}/model.pt", weights_only=True)
        y = torch.load(b / f"models/fold{fold}/model.pt", weights_only=True)
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


@pytest.mark.slow
def test_empty_mask_stops_the_run_before_any_n4(tmp_path, cfg):
    rows = written_cohort(tmp_path, cfg, n=1)
    empty = tmp_path / "data" / "empty.nii.gz"
    mask = sitk.ReadImage(str(tmp_path / rows[0]["mask"]))
    sitk.WriteImage(sitk.Multiply(mask, 0), str(empty))
    rows[0]["mask"] = "data/empty.nii.gz"
    write_sheet(tmp_path, rows)
    result = run_snakemake(
        tmp_path, "--cores", "2", "--config", "samples=samples.tsv", "--show-failed-logs", check=False
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "patient S1, column mask" in output and "data/empty.nii.gz" in output and "no lesion voxel" in output
    assert results_files(tmp_path) == []  # no N4 ran, nothing half-written


@pytest.mark.parametrize(
    "change, words",
    [
        (
            lambda rows: rows[1].update(mask="data/absent.nii.gz"),
            ["patient S2", "column mask", "absent.nii.gz", "no such file"],
        ),
        (lambda rows: rows[1].update(patient_id="S1"), ["duplicate patient_id", "S1"]),
        (lambda rows: rows[0].update(sex="F"), ["unknown column", "sex"]),
        (lambda rows: rows[0].update(label="yes"), ["patient S1", "column label"]),
        (lambda rows: [row.update(label=1) for row in rows], ["fold", "gets no negative (label 0) patient"]),
    ],
    ids=["missing file", "duplicate id", "unknown column", "bad label", "fold without negatives"],
)
def test_sheet_problems_stop_at_parse_time(tmp_path, cfg, change, words):
    rows = written_cohort(tmp_path, cfg, n=2)
    change(rows)
    write_sheet(tmp_path, rows)
    result = run_snakemake(tmp_path, "--cores", "1", "--config", "samples=samples.tsv", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for word in words:
        assert word in output
    assert "samples.tsv" in output or "data/" in output
    assert results_files(tmp_path) == []


def test_mask_on_another_grid_stops_at_parse_time(tmp_path, cfg):
    rows = written_cohort(tmp_path, cfg, n=1)
    mask = sitk.ReadImage(str(tmp_path / rows[0]["mask"]))
    mask.SetSpacing([s * 1.1 for s in mask.GetSpacing()])
    sitk.WriteImage(mask, str(tmp_path / "data" / "shifted.nii.gz"))
    rows[0]["mask"] = "data/shifted.nii.gz"
    write_sheet(tmp_path, rows)
    result = run_snakemake(tmp_path, "--cores", "1", "--config", "samples=samples.tsv", "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "patient S1, column mask" in output and "data/shifted.nii.gz" in output and "spacing" in output


def test_a_named_dicom_series_is_read_by_the_check_and_passed_to_n4(tmp_path):
    """A folder holding two series, the sheet naming one."""
    uids = ["1.2.826.0.1.3680043.2.1125.1", "1.2.826.0.1.3680043.2.1125.2"]
    values = np.random.default_rng(0).integers(50, 150, (6, 10, 12)).astype(np.int16)
    for k, uid in enumerate(uids):
        write_mr_series(image_from_array(values * (k + 1), (1.0, 1.0, 3.0)), tmp_path / "dicom", series_uid=uid)
    mask = np.zeros(values.shape, np.uint8)
    mask[3, 4:6, 4:6] = 1
    sitk.WriteImage(image_from_array(mask, (1.0, 1.0, 3.0)), str(tmp_path / "mask.nii.gz"))
    write_sheet(
        tmp_path, [{"patient_id": "D1", "image": "dicom", "series_uid": uids[1], "mask": "mask.nii.gz", "label": ""}]
    )
    sheet = ["--config", "samples=samples.tsv"]
    run_snakemake(tmp_path, "--cores", "1", "results/checks/D1.json", *sheet)
    summary = json.loads((tmp_path / "results" / "checks" / "D1.json").read_text(encoding="utf-8"))
    assert summary["lesion_voxels"] == 4
    plan = run_snakemake(tmp_path, "-n", "-p", "results/bias/D1.nii.gz", *sheet)
    assert f"egfrmet bias --patient D1 --image dicom --series-uid {uids[1]} " in plan.stdout + plan.stderr


def planned_jobs(workdir, *args):
    """Snakemake's own dry-run plan: the set of (rule, wildcards) it would run."""
    result = run_snakemake(workdir, "--dry-run", *args)
    jobs, rule = set(), None
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            rule = line.split()[1].rstrip(":")
            jobs.add((rule, ""))
        elif rule and line.strip().startswith("wildcards:"):
            jobs.discard((rule, ""))
            jobs.add((rule, line.split(":", 1)[1].strip()))
            rule = None
    return jobs - {("all", "")}


PREPROCESSING = ["synth", "check", "bias", "normalise", "crop"]
# the T2's own N4 and z-score, wherever the T1c's run again
SEQUENCE_STAGES = {"bias": "bias_sequence", "normalise": "normalise_sequence"}


def chain(patient, stages=PREPROCESSING):
    jobs = {(stage, f"patient={patient}") for stage in stages}
    return jobs | {(SEQUENCE_STAGES[s], f"sequence=t2, patient={patient}") for s in stages if s in SEQUENCE_STAGES}


def chain_of(patients, stages):
    return set().union(*(chain(p, stages) for p in patients))


CV_PATIENTS = [f"P00{i}" for i in range(1, 9)]
# the fusion stacks the network's and the baselines' scores: it re-fits when either does
FUSION_FITS = {("fusion", "fold=0"), ("fusion", "fold=1")}
# whatever the evaluation writes, the bundle carries (its figures): it, the prediction, the
# external cohort's figures, the summary and the card follow
SHIPPING = {("bundle", ""), ("predict", ""), ("external", ""), ("summary", ""), ("model_card", "")}
TRAINING = (
    {("folds", ""), ("evaluate", ""), ("explain_figure", "")}
    | SHIPPING
    | FUSION_FITS
    | {(rule, f"fold={fold}") for rule in ("train", "choose_epoch", "ensemble") for fold in (0, 1)}
    | {("train_inner", f"fold={fold}, inner={inner}") for fold in (0, 1) for inner in (0, 1)}
    | {("explain", "fold=0"), ("explain", "fold=1")}  # new models, new maps
)
BASELINE_FITS = {("baseline", "fold=0"), ("baseline", "fold=1")} | FUSION_FITS


@pytest.mark.slow
def test_adding_a_cv_patient_runs_its_chain_the_folds_trainings_and_evaluation_only(tiny_run):
    workdir, overlay = tiny_run
    jobs = planned_jobs(
        workdir, "--configfile", overlay, "--config", grown_sheet(workdir, patient_id="P009", label="0", split="cv")
    )
    assert jobs == chain("P009", [*PREPROCESSING, "features", "clinical"]) | TRAINING | BASELINE_FITS


@pytest.mark.slow
def test_changing_a_clinical_cell_refits_the_baselines_and_nothing_of_the_network(tiny_run):
    workdir, overlay = tiny_run
    sheet = pd.read_csv(workdir / "cohort" / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    sheet.loc[sheet.patient_id == "P001", "age"] = "99"
    sheet.to_csv(workdir / "cohort" / "edited.tsv", sep="\t", index=False)
    jobs = planned_jobs(workdir, "--configfile", overlay, "--config", "samples=cohort/edited.tsv")
    assert jobs == {("clinical", "patient=P001"), ("evaluate", ""), ("explain_figure", "")} | BASELINE_FITS | SHIPPING


@pytest.mark.slow
def test_adding_a_test_patient_runs_its_chain_and_the_prediction_only(tiny_run):
    workdir, overlay = tiny_run
    jobs = planned_jobs(
        workdir, "--configfile", overlay, "--config", grown_sheet(workdir, patient_id="T003", label="1", split="test")
    )
    # its cohort (test, labelled) gets its figures again, and the summary and card that show them
    assert jobs == chain("T003") | {("predict", ""), ("external", ""), ("summary", ""), ("model_card", "")}


@pytest.mark.slow
def test_changing_a_training_setting_reruns_training_and_evaluation_not_preprocessing(tiny_run):
    workdir, overlay = tiny_run
    jobs = planned_jobs(
        workdir, "--configfile", overlay, "--config", "train={epochs: 3, batch_size: 8, lr: 0.003, device: cpu}"
    )
    assert jobs == TRAINING - {("folds", "")}


@pytest.mark.slow
def test_changing_how_baselines_fit_refits_them_without_extracting_features_again(tiny_run):
    workdir, overlay = tiny_run
    jobs = planned_jobs(workdir, "--configfile", overlay, "--config", "baselines={radiomics: {c_values: [0.5]}}")
    assert jobs == BASELINE_FITS | {("evaluate", ""), ("explain_figure", "")} | SHIPPING
    jobs = planned_jobs(workdir, "--configfile", overlay, "--config", "baselines={radiomics: {bin_width: 0.2}}")
    assert (
        jobs
        == chain_of(CV_PATIENTS, ["features"]) | BASELINE_FITS | {("evaluate", ""), ("explain_figure", "")} | SHIPPING
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "setting, stages",
    [
        ("preprocess={crop: {margin_mm: 12.0}}", ["crop"]),
        ("preprocess={n4: {convergence: 0.002}}", ["bias", "normalise", "crop"]),
        ("preprocess={brain_mask: {threshold: 0.6}}", ["normalise", "crop"]),
        ("preprocess={mask_labels: [1]}", ["check", "bias", "normalise", "crop"]),  # N4 waits for the check
    ],
    ids=["crop", "n4", "brain mask", "mask labels"],
)
def test_changing_a_preprocessing_setting_reruns_that_stage_onward(tiny_run, setting, stages):
    workdir, overlay = tiny_run
    jobs = planned_jobs(workdir, "--configfile", overlay, "--config", setting)
    if "brain_mask" in setting:  # only patients whose brain mask is computed
        sheet = pd.read_csv(workdir / "cohort" / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
        patients = list(sheet.patient_id[sheet.brain_mask == ""])
    else:
        patients = [f"P00{i}" for i in range(1, 9)] + ["T001", "T002"]
    expected = chain_of(patients, stages) | TRAINING - {("folds", "")} | BASELINE_FITS
    expected |= chain_of(set(patients) & set(CV_PATIENTS), ["features"])  # features read the crops
    assert jobs == expected


def readme_command(prefix):
    """The README's command line that starts with `prefix`, word for word."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    lines = [line.strip() for line in readme.splitlines() if line.strip().startswith(prefix)]
    assert lines, f"README has no command starting {prefix!r}"
    return lines[0]


@pytest.mark.slow
def test_readme_own_cohort_command_runs_without_the_venv_on_path(tmp_path, cfg):
    """`.venv/bin/snakemake ...` as the README writes it, from a checkout (links to this one)
    whose shell has no venv on PATH: the rules must still find the venv's Python."""
    command = readme_command(".venv/bin/snakemake --cores all --config samples=")
    for name in ("Snakefile", "workflow", "config", "src", ".venv"):
        (tmp_path / name).symlink_to(REPO / name)
    write_sheet(tmp_path, written_cohort(tmp_path, cfg, n=1))
    words = [w.replace("/data/cohort/samples.tsv", str(tmp_path / "samples.tsv")) for w in shlex.split(command)]
    assert words[:2] == [".venv/bin/snakemake", "--cores"] and words[-1] == f"samples={tmp_path / 'samples.tsv'}"
    venv = str(REPO / ".venv" / "bin")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p).resolve() != Path(venv).resolve())
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")} | {"PATH": path}
    result = subprocess.run(
        words, cwd=tmp_path, env=env, capture_output=True, encoding="utf-8", errors="replace", timeout=900
    )
    assert result.returncode == 0, result.stderr[-4000:]
    crops = np.load(tmp_path / "results" / "crops" / "S1.npz")
    assert crops["slices"].shape == (5, 96, 96)
    summary = json.loads((tmp_path / "results" / "normalised" / "S1.json").read_text(encoding="utf-8"))
    assert summary["brain_mask"] == "computed" and summary["brain_mask_method"] == "deepbet"


@pytest.mark.slow
def test_a_preprocessing_only_run_needs_no_feasible_folds(tmp_path, cfg):
    """Two labelled patients cannot make 5 folds: a run of their crops alone goes ahead, the
    whole experiment stops before any job with the fold error."""
    rows = written_cohort(tmp_path, cfg, n=2)
    for row, label in zip(rows, (1, 1)):
        row["label"] = label
    write_sheet(tmp_path, rows)
    sheet = ["--config", "samples=samples.tsv", "preprocess={brain_mask: {method: morphology}}"]
    whole = run_snakemake(tmp_path, "--cores", "1", *sheet, "model={weights: none}", check=False)
    assert whole.returncode != 0 and "gets no negative (label 0) patient" in whole.stdout + whole.stderr
    assert results_files(tmp_path) == []
    run_snakemake(tmp_path, "--cores", "2", "results/crops/S1.npz", "results/qc/S2.png", *sheet)
    assert (tmp_path / "results" / "crops" / "S1.npz").exists() and (tmp_path / "results" / "qc" / "S2.png").exists()
    assert not (tmp_path / "results" / "folds.tsv").exists()


@pytest.mark.slow
def test_repeats_plan_a_second_assignment_with_its_own_trainings(tiny_run):
    workdir, overlay = tiny_run
    jobs = planned_jobs(workdir, "--configfile", overlay, "--config", "folds={k: 2, repeats: 2}")
    for rule, per_fold in (("train", 1), ("ensemble", 1), ("choose_epoch", 1), ("train_inner", 2)):
        planned = [w for r, w in jobs if r == rule]
        assert len(planned) == 4 * per_fold, (rule, planned)  # twice the one-repeat run's
    assert {w for r, w in jobs if r == "train"} == {f"fold={f}" for f in range(4)}
    # repeat 0 is the run already made: its trainings rerun only because folds.tsv changes
    assert ("folds", "") in jobs


@pytest.mark.slow
def test_leave_centre_out_refuses_a_one_class_centre_by_name_before_any_job(tiny_run):
    workdir, overlay = tiny_run
    result = run_snakemake(
        workdir, "--dry-run", "--configfile", overlay, "--config", "folds={scheme: centre}", check=False
    )
    assert result.returncode != 0
    assert "centre 'B' has no negative (label 0) patient" in result.stdout + result.stderr


@pytest.mark.slow
def test_leave_centre_out_plans_one_training_per_centre(tiny_run):
    workdir, overlay = tiny_run
    sheet = grown_sheet(workdir, patient_id="P009", label="0", split="cv", center="B")
    jobs = planned_jobs(workdir, "--configfile", overlay, "--config", sheet, "folds={scheme: centre}")
    assert {w for r, w in jobs if r == "train"} == {"fold=0", "fold=1"}


@pytest.mark.slow
def test_one_scan_from_the_command_line_scores_as_the_workflow_did(tiny_run, tmp_path):
    """`egfrmet scan` runs the workflow's preprocessing code with its config: a test patient
    scored alone gets the probability the workflow's prediction gave it."""
    workdir, overlay = tiny_run
    sheet = pd.read_csv(workdir / "cohort" / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    for pid in ("T001", "T002"):
        row = sheet.set_index("patient_id").loc[pid]
        brain = ["--brain-mask", str(workdir / "cohort" / row.brain_mask)] if row.brain_mask else []
        out = tmp_path / f"{pid}.csv"
        command = [
            *(sys.executable, "-m", "egfrmet", "scan", "--patient", pid),
            *("--image", str(workdir / "cohort" / row.image), "--mask", str(workdir / "cohort" / row["mask"])),
            *brain,
            *("--sequence", "t2", str(workdir / "cohort" / row.t2)),  # the models' second channel
            *("--configfile", str(REPO / "config" / "config.yaml"), overlay),
            *("--out", str(out), "--qc", str(tmp_path / f"{pid}.png")),
        ]
        subprocess.run(command, cwd=workdir, check=True, capture_output=True, text=True, encoding="utf-8")
        scored = pd.read_csv(out).iloc[0]
        workflow = pd.read_csv(workdir / "results" / "predictions" / "predictions.csv").set_index("patient_id").loc[pid]
        assert scored.probability == pytest.approx(workflow.probability, abs=1e-6)
        assert scored.fold_1_inner_0 == pytest.approx(workflow.fold_1_inner_0, abs=1e-6)
        assert scored.models == "inner_ensemble: 4 network models, bundle results/bundle"
        assert (tmp_path / f"{pid}.png").stat().st_size > 1000
    without = subprocess.run(
        command[: command.index("--sequence")] + command[command.index("--sequence") + 3 :],
        cwd=workdir,
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert without.returncode == 2 and "--sequence t2 PATH" in without.stderr  # the models take the T2


@pytest.mark.slow
def test_one_scan_without_models_says_what_to_do(tmp_path):
    result = egfrmet_command(tmp_path, "scan", "--image", "x.nii.gz", "--mask", "y.nii.gz", "--out", "o.csv")
    assert result.returncode == 2 and "config/config.yaml" in result.stderr and "not found" in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_one_scan_without_a_bundle_says_where_one_comes_from(tmp_path):
    configs = [str(REPO / "config" / "config.yaml")]
    command = ["scan", "--image", "x.nii.gz", "--mask", "y.nii.gz", "--out", "o.csv", "--configfile", *configs]
    result = egfrmet_command(tmp_path, *command)
    assert result.returncode == 2 and "no model bundle" in result.stderr and "results/bundle" in result.stderr
    assert "--bundle" in result.stderr and "--models" in result.stderr
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.slow
def test_the_final_model_trains_on_every_cv_patient_for_the_inner_folds_length(tiny_run, tmp_path):
    source, overlay = tiny_run
    workdir = tmp_path / "copy"  # the shared run stays as the other tests found it
    shutil.copytree(source, workdir, symlinks=True)
    final = workdir / "results" / "models" / "final"
    jobs = planned_jobs(workdir, "--configfile", overlay, "--config", "train={final: true}")
    assert jobs == {("train_final", "")}  # nothing else re-runs for it
    run_snakemake(workdir, "--cores", "2", "--configfile", overlay, "--config", "train={final: true}")
    choices = [
        json.loads((workdir / "results" / "models" / f"fold{f}" / "inner_choice.json").read_text(encoding="utf-8"))
        for f in (0, 1)
    ]
    history = pd.read_csv(final / "history.csv")
    assert len(history) == int(np.median([c["epoch"] for c in choices])) + 1
    assert history.selected.tolist() == [False] * (len(history) - 1) + [True] and "val_auc" not in history
    log = (workdir / "logs" / "train" / "final.log").read_text(encoding="utf-8")
    assert "final model: 8 patients, 40 slices" in log
    row = pd.read_csv(workdir / "cohort" / "samples.tsv", sep="\t", dtype=str, keep_default_na=False).iloc[-1]
    command = [
        *(sys.executable, "-m", "egfrmet", "scan", "--patient", row.patient_id),
        *("--image", str(workdir / "cohort" / row.image), "--mask", str(workdir / "cohort" / row["mask"])),
        *("--sequence", "t2", str(workdir / "cohort" / row.t2)),
        *("--configfile", str(REPO / "config" / "config.yaml"), overlay, "--models", str(final / "model.pt")),
        *("--out", str(tmp_path / "final.csv")),
    ]
    subprocess.run(command, cwd=workdir, check=True, capture_output=True, text=True, encoding="utf-8")
    scored = pd.read_csv(tmp_path / "final.csv").iloc[0]
    assert 0 <= scored.probability <= 1 and scored.models == "1 model (--models)" and "final" in scored


def planned_resources(workdir, rule, *args):
    """The resources Snakemake's dry run gives each job of `rule`: {name: value} per job."""
    result = run_snakemake(workdir, "--dry-run", "--forcerun", rule, *args)
    planned, current = [], None
    for line in result.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            current = line.split()[1].rstrip(":")
        elif current == rule and line.strip().startswith("resources:"):
            pairs = (item.split("=", 1) for item in line.split(":", 1)[1].split(","))
            planned.append({key.strip(): value.strip() for key, value in pairs})
    return planned, result.stderr


@pytest.mark.slow
def test_the_slurm_profile_takes_gpus_and_threads_from_the_config(tiny_run):
    """One source per setting: resources.train.gpu 0 (the tiny config's) asks Slurm for no
    GPU through the shipped profile, 1 asks for one; an override from the command line wins
    and the run says so."""
    workdir, overlay = tiny_run
    profile = ("--workflow-profile", str(REPO / "workflow" / "profiles" / "slurm"), "--configfile", overlay)
    planned, _ = planned_resources(workdir, "train", *profile)
    assert planned and all(job.get("gpu", "0") == "0" and "gres" not in job for job in planned), planned
    planned, _ = planned_resources(workdir, "train", *profile, "--config", "resources={train: {threads: 1, gpu: 1}}")
    assert planned and all(job["gpu"] == "1" for job in planned), planned
    planned, said = planned_resources(workdir, "train", *profile, "--set-resources", "train:gpu=2")
    assert all(job["gpu"] == "2" for job in planned), planned
    assert "train: gpu 2 from a profile or the command line replaces resources.train.gpu 0" in said
