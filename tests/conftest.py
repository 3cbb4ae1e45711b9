"""Shared fixtures: the repository's default config, tiny generated patients, the real scans."""

import copy
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"

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
        pytest.skip(f"the real scans are not here ({REAL}); they live in ../shared beside the checkout")
    return REAL


def image_from_array(array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), direction=None):
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    return image


def write_dicom_series(image, folder, series_uid):
    """One file per slice with the tags a scanner would write (SimpleITK's recipe)."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    direction = image.GetDirection()
    now = time.strftime("%Y%m%d")
    for k in range(image.GetDepth()):
        plane = image[:, :, k]
        tags = {
            "0008|0060": "MR",
            "0008|0020": now,
            "0020|000d": series_uid + ".0",
            "0020|000e": series_uid,
            "0020|0037": "\\".join(
                str(v) for v in (direction[0], direction[3], direction[6], direction[1], direction[4], direction[7])
            ),
            "0020|0032": "\\".join(str(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k))),
            "0020|0013": str(k + 1),
            "0018|0050": str(image.GetSpacing()[2]),
        }
        for tag, value in tags.items():
            plane.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{series_uid}_{k:03d}.dcm"))
        writer.Execute(plane)


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
