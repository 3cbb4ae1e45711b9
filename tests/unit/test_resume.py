"""A training job killed mid-way resumes from its last checkpoint and ends as if never killed."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from test_train import separable_slices

from conftest import tiny_model

MODEL = tiny_model(head_hidden=16)


@pytest.fixture
def fold_data(tmp_path):
    """Crops of 24 patients on disk and their folds table."""
    x, y, owners = separable_slices(24, seed=0)
    crops = tmp_path / "crops"
    crops.mkdir()
    rows = []
    for patient in range(24):
        pid = f"P{patient:02d}"
        np.savez(crops / f"{pid}.npz", slices=x[owners == patient, 0].numpy())
        rows.append({"patient_id": pid, "label": patient % 2, "center": "A", "fold": patient % 3})
    pd.DataFrame(rows).to_csv(tmp_path / "folds.tsv", sep="\t", index=False)
    return tmp_path


def train_command(workdir, out, settings, checkpoint=""):
    return [
        sys.executable,
        "-m",
        "egfrmet",
        "train",
        "--fold",
        "0",
        "--folds",
        str(workdir / "folds.tsv"),
        "--crops",
        *map(str, (workdir / "crops").glob("*.npz")),
        "--model-settings",
        json.dumps(MODEL),
        "--settings",
        json.dumps(settings),
        "--threads",
        "1",
        "--checkpoint",
        str(checkpoint),
        "--checkpoint-seconds",
        "0",
        "--out-model",
        str(out / "model.pt"),
        "--out-history",
        str(out / "history.csv"),
        "--out-val",
        str(out / "val.csv"),
    ]


@pytest.mark.slow
def test_killed_training_resumes_and_matches_an_uninterrupted_run(fold_data, config):
    settings = config["train"] | {
        "epochs": 3,
        "batch_size": 8,
        "lr": 3e-3,
        "device": "cpu",
        "select": ["best_val_accuracy"],
        "predict_with": "best_val_accuracy",
    }
    straight, resumed = fold_data / "straight", fold_data / "resumed"
    straight.mkdir(), resumed.mkdir()
    subprocess.run(train_command(fold_data, straight, settings), check=True, capture_output=True)

    checkpoint = fold_data / "checkpoints" / "fold0.pt"
    job = subprocess.Popen(train_command(fold_data, resumed, settings, checkpoint), stderr=subprocess.PIPE, text=True)
    while not checkpoint.exists() and job.poll() is None:  # appears after epoch 1 of 3
        time.sleep(0.005)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL, "the training ended before it could be killed"
    assert not (resumed / "model.pt").exists()
    epochs_done = len(torch.load(checkpoint, weights_only=True)["history"])
    assert epochs_done in (1, 2)

    again = subprocess.run(
        train_command(fold_data, resumed, settings, checkpoint), check=True, capture_output=True, text=True
    )
    assert f"after epoch {epochs_done - 1}" in again.stderr
    assert (
        len([line for line in again.stderr.splitlines() if "INFO egfrmet.training.train: epoch" in line])
        == 3 - epochs_done
    )
    assert not checkpoint.exists() and not os.path.exists(f"{checkpoint}.best")

    pd.testing.assert_frame_equal(pd.read_csv(straight / "val.csv"), pd.read_csv(resumed / "val.csv"))
    a, b = torch.load(straight / "model.pt", weights_only=True), torch.load(resumed / "model.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    history = [pd.read_csv(path / "history.csv").drop(columns="seconds") for path in (straight, resumed)]
    pd.testing.assert_frame_equal(*history)


def test_a_checkpoint_from_other_settings_is_not_resumed(fold_data, config, caplog):
    from egfrmet.training import train

    x, y, _ = separable_slices(6, seed=0)
    settings = config["train"] | {"epochs": 2, "batch_size": 8, "lr": 3e-3, "device": "cpu"}
    checkpoint = fold_data / "ck.pt"
    torch.save({"fingerprint": "other"}, checkpoint)
    with caplog.at_level("INFO"):
        train.train_fold(
            x, y, x, y, model_settings=MODEL, settings=settings, device=torch.device("cpu"), checkpoint=str(checkpoint)
        )
    assert "from other data or settings: starting afresh" in caplog.text
    assert not checkpoint.exists()


def test_equal_weights_are_saved_as_equal_bytes(tmp_path):
    """torch.save names its archive's folder after the file it writes: through the atomic
    temporary file, each save of the same weights had other bytes (a demo run's model.pt
    never matched the next run's, though every tensor did)."""
    from egfrmet.training.checkpoints import save

    weights = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}
    save(weights, tmp_path / "a.pt")
    save(weights, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    loaded = torch.load(tmp_path / "a.pt")
    assert all(torch.equal(loaded[key], value) for key, value in weights.items())
    assert sorted(os.listdir(tmp_path)) == ["a.pt", "b.pt"]  # no temporary file left
