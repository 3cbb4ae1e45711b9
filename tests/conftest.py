"""Shared fixtures: the repository's default config, tiny generated patients, the real scans."""

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from egfrmet.demo import synth

REPO = Path(__file__).resolve().parents[1]
# The real scans are not ours to ship: EGFRMET_REAL_DATA names their folder (docs/development.md).
REAL = Path(os.environ.get("EGFRMET_REAL_DATA") or REPO.parent / "shared" / "data" / "real")

# `EGFRMET_TEST_PRECISION=bf16 make test` (or fp32) runs every training and inference of the
# suite in that precision whatever the CPU: `precision: auto` picks bf16 on CPUs with AMX and
# fp32 elsewhere, so without it a machine only ever tests one of the two.
TEST_PRECISION = os.environ.get("EGFRMET_TEST_PRECISION", "")
if TEST_PRECISION not in ("", "auto", "bf16", "fp32"):
    raise RuntimeError(f"EGFRMET_TEST_PRECISION={TEST_PRECISION!r}: auto, bf16 or fp32")


def tiny_model(**changes):
    """The tests' network settings: timm's resnet10t from scratch with a small fastai head."""
    model = {"arch": "resnet10t", "weights": "none", "pretrained_tag": "", "head_hidden": 8, "dropout": [0.25, 0.5]}
    return model | changes


# Small enough for N4 in well under a second, large enough for a head with a lesion.
TINY_PATIENT = {"shape": [48, 56, 40], "spacing": [3.0, 3.0, 3.0]}


@pytest.fixture(scope="session")
def config():
    """config/config.yaml: tests use the defaults users get, shrunk only where they say so."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    if TEST_PRECISION:
        config["train"]["precision"] = TEST_PRECISION
    return config


@pytest.fixture
def cfg(config):
    return copy.deepcopy(config)


@pytest.fixture(autouse=True)
def config_stays_the_defaults(request):
    """A test that changes the session's config fails itself, not whichever test runs next."""
    if "config" not in request.fixturenames:
        yield
        return
    config = request.getfixturevalue("config")
    before = copy.deepcopy(config)
    yield
    assert config == before, "this test changed the session's `config`: take `cfg` (a copy) to change it"


@pytest.fixture(scope="session")
def real_data():
    if not REAL.is_dir():
        pytest.skip(f"the real scans are not in {REAL}: set EGFRMET_REAL_DATA to their folder")
    return REAL


def image_from_array(array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), direction=None):
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    return image


def run_snakemake(workdir, *args, check=True, timeout=900):
    """Run the repository's workflow in `workdir` with this interpreter's environment."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    command = [shutil.which("snakemake", path=env["PATH"]), "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    # UTF-8 whatever the locale: paths in the output may hold any character
    result = subprocess.run(
        command, capture_output=True, encoding="utf-8", errors="replace", env=env, timeout=timeout, cwd=workdir
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


# The tiny workflow (tests/workflow): a generated cohort and the paper's recipe shrunk to seconds.
TINY_SHEET = {
    "n_patients": 8,
    "n_positive": 4,
    "centers": {"A": 2, "B": 1},
    "n_test": 2,
    "n_test_positive": 1,
    "brain_mask_every": 2,
    "seed": 1,
    "clinical": {"women": [0.35, 0.69], "never_smoker": [0.2, 0.55], "former_of_smokers": 0.6, "age": [62, 9]}
    | {"missing": 0.1},
    "t2": True,
}
# The sheet's clinical columns and its T2 (a second crop channel), declared as a user declares
# them, and every baseline.
TINY_INPUTS = {
    "clinical": {"sex": "categorical", "age": "numeric", "smoking": "categorical"},
    "inputs": {"sequences": ["t2"], "resample": False},
    "baselines": {
        "methods": ["radiomics", "volume", "intensity", "clinical"],
        # one C: inner training parts of 2 patients leave no inner CV to choose it
        "radiomics": {"c_values": [1.0]},
        "clinical": {"c_values": [1.0]},
    },
    "fusion": {"components": ["last", "radiomics", "clinical"], "clinical_variables": True, "c_values": [1.0]},
}
# The paper's recipe shrunk to seconds: 2 folds of 2 inner folds, a tiny network, 2 epochs.
TINY_TRAINING = {
    "folds": {"k": 2},
    "model": {"arch": "resnet10t", "weights": "none", "head_hidden": 16},
    # inner_ensemble, not the default auto, for new patients: the tests of scan and predict
    # compare the ensemble's per-model columns (predict_with fusion and auto have their own)
    "train": {"epochs": 2, "batch_size": 8, "lr": 0.003, "device": "cpu", "inner": {"k": 2, "metric": "val_auc"}}
    | {"predict_with": "inner_ensemble"}
    | ({"precision": TEST_PRECISION} if TEST_PRECISION else {}),
    "evaluate": {"bootstrap": 50, "figure_patients_per_class": 1},
    "explain": {"patients_per_class": 1},
    "resources": {"train": {"threads": 1, "gpu": 0}},
}


def tiny_cohort(workdir, cfg, folder="cohort", train=None, **sheet_changes):
    """A sheet whose files a `synth` rule generates, and the overlay config that runs it
    (`train`: changes to the tiny training settings)."""
    (workdir / folder).mkdir(parents=True)
    synth.make_sheet(**(TINY_SHEET | sheet_changes)).to_csv(workdir / folder / "samples.tsv", sep="\t", index=False)
    overlay = {"samples": f"{folder}/samples.tsv", "synth": {"enabled": True, "patient": TINY_PATIENT}}
    overlay |= TINY_TRAINING | TINY_INPUTS
    overlay["train"] = TINY_TRAINING["train"] | (train or {})
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(overlay, allow_unicode=True), encoding="utf-8")
    return "tiny.yaml"


def grown_sheet(workdir, **row):
    """The tiny sheet plus one patient, as a second sheet beside it."""
    sheet = pd.read_csv(workdir / "cohort" / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    pid = row["patient_id"]
    row = {
        "image": f"synth/{pid}_t1.nii.gz",
        "mask": f"synth/{pid}_lesion.nii.gz",
        "brain_mask": "",
        "t2": f"synth/{pid}_t2.nii.gz",
        "center": "A",
    } | row
    pd.concat([sheet, pd.DataFrame([row])]).to_csv(workdir / "cohort" / "grown.tsv", sep="\t", index=False)
    return "samples=cohort/grown.tsv"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, config):
    """The whole DAG run once on the tiny cohort; tests only read it or dry-run on it (a test
    that runs jobs works on a copy)."""
    workdir = tmp_path_factory.mktemp("tiny")
    overlay = tiny_cohort(workdir, config)
    run_snakemake(workdir, "--cores", "2", "--configfile", overlay)
    return workdir, overlay
