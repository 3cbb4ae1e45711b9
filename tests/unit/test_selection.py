"""Model selection: the paper's, the leak-free inner_cv and last, from one training; nothing
that selects reads an outer-validation patient."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import tiny_model
from egfrmet.cohort import folds
from egfrmet.io.files import crop_files
from egfrmet.training import data, selection, train

MODEL = tiny_model()


def folds_table(n=12, k=3):
    """n patients, half positive, two centres, in k folds."""
    return pd.DataFrame(
        {
            "patient_id": [f"P{i:02d}" for i in range(n)],
            "label": [i % 2 for i in range(n)],
            "center": ["A" if i < n // 2 else "B" for i in range(n)],
            "fold": [i % k for i in range(n)],
        }
    )


def test_inner_folds_hold_the_outer_training_patients_only_stratified():
    table = folds_table()
    inner = folds.inner_folds(table, outer_fold=1, k=2, seed=0)
    assert set(inner.patient_id) == set(table.patient_id[table.fold != 1])
    assert set(inner.fold) == {0, 1}
    for _, part in inner.groupby("fold"):
        assert set(part.label) == {0, 1}
    again = folds.inner_folds(table.sample(frac=1, random_state=3), outer_fold=1, k=2, seed=0)
    assert again.equals(inner)  # deterministic, whatever the row order


def test_choose_epoch_averages_the_inner_folds():
    histories = [
        pd.DataFrame({"epoch": [0, 1, 2, 3], "val_auc": [0.5, 0.9, 0.6, 0.7], "val_loss": [0.9, 0.5, 0.4, 0.6]}),
        pd.DataFrame({"epoch": [0, 1, 2, 3], "val_auc": [0.6, 0.5, 0.9, 0.8], "val_loss": [0.8, 0.6, 0.3, 0.5]}),
    ]
    epoch, curve = selection.choose_epoch(histories, "val_auc")
    assert epoch == 2 and curve.tolist() == pytest.approx([0.55, 0.7, 0.75, 0.75])  # tie 2/3: the earlier
    assert selection.choose_epoch(histories, "val_loss")[0] == 2  # lower is better


def test_each_selection_keeps_its_epoch():
    accuracy, auc = [0.5, 0.8, 0.8, 0.6], [0.6, float("nan"), 0.7, 0.7]
    rows = [{"epoch": e, "val_acc": a, "val_auc": u} for e, (a, u) in enumerate(zip(accuracy, auc))]
    kept = {}
    for row in rows:
        for name in selection.OUTER + (selection.INNER_BEST,):
            if selection.keeps(name, row, kept.get(name), chosen_epoch=2, metric="val_auc"):
                kept[name] = {"row": row}
    # an inner training keeps its best val_auc: NaN never wins, a tie keeps the earlier epoch
    assert {name: entry["row"]["epoch"] for name, entry in kept.items()} == {
        "best_val_accuracy": 1,
        "inner_cv": 2,
        "last": 3,
        selection.INNER_BEST: 2,
    }
    with pytest.raises(ValueError, match="unknown selection"):
        selection.keeps("inner_ensemble", rows[0], None, chosen_epoch=2)  # not made from one training


def test_the_outer_model_file_holds_predict_with_or_the_first_outer_selection():
    assert selection.outer_model_selection(["best_val_accuracy", "last"], "last") == "last"
    assert selection.outer_model_selection(["best_val_accuracy", "inner_ensemble", "last"], "inner_ensemble") == (
        "best_val_accuracy"
    )


def write_crops(folder, table, seed=0):
    """Tiny crops whose brightness follows the label, one file per patient."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for row in table.itertuples():
        slices = rng.normal(size=(5, 32, 32)).astype(np.float32) + row.label
        np.savez(folder / f"{row.patient_id}.npz", slices=slices)


def training_settings(config):
    return config["train"] | {
        "epochs": 3,
        "batch_size": 8,
        "lr": 3e-3,
        "device": "cpu",
        "inner": {"k": 2, "metric": "val_auc"},
    }


def train_inner_folds(folder, config):
    """Both inner folds of outer fold 0 of folder/folds.tsv, as the train_inner jobs run them:
    their histories and models."""
    histories = [str(folder / f"inner{inner}.csv") for inner in (0, 1)]
    models = [str(folder / f"inner{inner}.pt") for inner in (0, 1)]
    for inner in (0, 1):
        run_training(folder, config, inner=inner, out_model=models[inner], out_history=histories[inner], out_val="")
    return histories, models


def run_training(folder, config, **options):
    """`egfrmet train` on outer fold 0 of folder/folds.tsv with the tiny settings; `options`:
    inner and the outputs."""
    train.run(
        fold=0,
        folds=str(folder / "folds.tsv"),
        crops=[str(p) for p in (folder / "crops").glob("*.npz")],
        choice="",
        model_settings=MODEL,
        settings=training_settings(config),
        threads=1,
        checkpoint="",
        checkpoint_seconds=0,
        **options,
    )


@pytest.mark.slow
def test_nothing_that_selects_reads_an_outer_validation_patient(tmp_path, config, monkeypatch):
    """Instrumented: every crop file the inner trainings read, and every file the choice reads."""
    table = folds_table()
    table.to_csv(tmp_path / "folds.tsv", sep="\t", index=False)
    write_crops(tmp_path / "crops", table)
    read = []
    real_read_crops = data.read_crops
    monkeypatch.setattr(
        data,
        "read_crops",
        lambda folder, patient, *channels: read.append(patient) or real_read_crops(folder, patient, *channels),
    )
    histories, _ = train_inner_folds(tmp_path, config)
    outer_validation = set(table.patient_id[table.fold == 0])
    assert read and not outer_validation & set(read)
    assert set(read) == set(table.patient_id) - outer_validation
    for path in histories:  # each inner model is its own best inner-validation epoch
        history = pd.read_csv(path)
        assert history.selected.sum() == 1 and history.epoch[history.selected].item() == history.val_auc.idxmax()

    opened = []
    real_read_csv = pd.read_csv
    monkeypatch.setattr(
        selection.pd, "read_csv", lambda path, *a, **k: opened.append(str(path)) or real_read_csv(path, *a, **k)
    )
    selection.run(histories=[str(p) for p in histories], metric="val_auc", out=str(tmp_path / "choice.json"))
    assert opened == [str(p) for p in histories]  # the inner histories, nothing else
    choice = json.loads((tmp_path / "choice.json").read_text(encoding="utf-8"))
    assert 0 <= choice["epoch"] < 3 and len(choice["mean_by_epoch"]) == 3


@pytest.mark.slow
def test_one_outer_training_serves_every_selection(tmp_path, config):
    table = folds_table()
    table.to_csv(tmp_path / "folds.tsv", sep="\t", index=False)
    write_crops(tmp_path / "crops", table)
    (tmp_path / "choice.json").write_text(json.dumps({"epoch": 1}), encoding="utf-8")
    settings = training_settings(config) | {"predict_with": "inner_cv"}
    out = {name: str(tmp_path / name) for name in ("model.pt", "history.csv", "val.csv")}
    train.run(
        fold=0,
        inner=-1,
        folds=str(tmp_path / "folds.tsv"),
        crops=[str(p) for p in (tmp_path / "crops").glob("*.npz")],
        choice=str(tmp_path / "choice.json"),
        model_settings=MODEL,
        settings=settings,
        threads=1,
        checkpoint="",
        checkpoint_seconds=0,
        out_model=out["model.pt"],
        out_history=out["history.csv"],
        out_val=out["val.csv"],
    )
    history = pd.read_csv(out["history.csv"])
    assert history.epoch[history.kept_inner_cv].tolist() == [1] and history.epoch[history.kept_last].tolist() == [2]
    assert history.selected.equals(history.kept_inner_cv)
    # the paper's: the first epoch of best validation accuracy
    assert history.epoch[history.kept_best_val_accuracy].item() == int(history.val_acc.idxmax())
    slices = pd.read_csv(out["val.csv"])
    assert sorted(set(slices.selection)) == ["best_val_accuracy", "inner_cv", "last"]
    assert set(slices.patient_id) == set(table.patient_id[table.fold == 0])
    assert len(slices) == 3 * 5 * (table.fold == 0).sum()
    # model.pt is the inner_cv model: its validation probabilities are inner_cv's rows
    from egfrmet.training.model import predict_probabilities
    from egfrmet.training.networks import load_model
    from egfrmet.training.runtime import inference

    device = torch.device("cpu")
    x, _, _, _ = data.load_instances(crop_files((tmp_path / "crops").glob("*.npz")), table[table.fold == 0], MODEL)
    model = load_model(out["model.pt"], MODEL, device)
    probs = predict_probabilities(
        model, x, device, batch_size=2 * settings["batch_size"], **inference(settings, device)
    )
    kept = slices[slices.selection == "inner_cv"].probability.to_numpy()
    assert probs.numpy() == pytest.approx(kept, abs=1e-5)


def test_inner_cv_without_a_choice_is_an_input_error(tmp_path, config):
    from egfrmet.errors import InputError

    table = folds_table()
    table.to_csv(tmp_path / "folds.tsv", sep="\t", index=False)
    write_crops(tmp_path / "crops", table)
    with pytest.raises(InputError, match="inner_cv: --choice"):
        run_training(
            tmp_path,
            config,
            inner=-1,
            out_model=str(tmp_path / "m.pt"),
            out_history=str(tmp_path / "h.csv"),
            out_val=str(tmp_path / "v.csv"),
        )
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.slow
def test_the_inner_ensemble_scores_the_outer_validation_patients_with_the_inner_models(tmp_path, config):
    """The ensemble job reads the inner models and the fold's validation crops, and chooses
    nothing: its probabilities are the mean of the inner models' predictions, computed with
    the inference decision (device, precision) the job itself takes."""
    from egfrmet.inference import ensemble
    from egfrmet.training.model import predict_probabilities
    from egfrmet.training.networks import load_model
    from egfrmet.training.runtime import inference

    table = folds_table()
    table.to_csv(tmp_path / "folds.tsv", sep="\t", index=False)
    write_crops(tmp_path / "crops", table)
    settings = training_settings(config)
    _, models = train_inner_folds(tmp_path, config)
    out = tmp_path / "inner_ensemble_slices.csv"
    ensemble.run(
        fold=0,
        folds=str(tmp_path / "folds.tsv"),
        crops=[str(p) for p in (tmp_path / "crops").glob("*.npz")],
        models=models,
        model_settings=MODEL,
        settings=settings,
        threads=1,
        out=str(out),
    )
    slices = pd.read_csv(out, dtype={"patient_id": str})
    validation = table[table.fold == 0]
    assert set(slices.patient_id) == set(validation.patient_id) and len(slices) == 5 * len(validation)
    assert (slices.selection == "inner_ensemble").all() and (slices.fold == 0).all()
    x, _, _, _ = data.load_instances(crop_files((tmp_path / "crops").glob("*.npz")), validation, MODEL)
    device = torch.device("cpu")
    options = inference(settings, device)
    each = [
        predict_probabilities(load_model(m, MODEL, device), x, device, batch_size=2 * settings["batch_size"], **options)
        for m in models
    ]
    assert slices.probability.to_numpy() == pytest.approx(((each[0] + each[1]) / 2).numpy(), abs=1e-6)
    assert not torch.allclose(each[0], each[1])  # two different models, not one twice

    # predict (and so scan) gives the same patients the same probability from the same models
    from egfrmet.evaluation.evaluate import patient_scores
    from egfrmet.inference.predict import score

    out_of_fold = patient_scores(slices).set_index("patient_id")["median"]
    predicted = score(
        models,
        crop_files((tmp_path / "crops").glob("*.npz")),
        sorted(validation.patient_id),
        model_settings=MODEL,
        aggregate="median",
        threshold=0.5,
        batch_size=2 * settings["batch_size"],
        inference={k: settings[k] for k in ("device", "precision", "channels_last")},
    ).set_index("patient_id")
    assert predicted.probability.to_numpy() == pytest.approx(out_of_fold.loc[predicted.index].to_numpy(), abs=1e-6)
