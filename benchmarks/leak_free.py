"""Which leak-free option scores best: measured on a finished cross-validation run.

    python benchmarks/leak_free.py --results results --configfile config/demo.yaml --out /tmp/leak_free

Reads the run's folds, crops and outer trainings (results/models/fold*/val_slices.csv, which
hold the paper's selection, `last` and, when it ran, the `inner_cv` snapshot) and adds:

- inner_ensemble: the workflow's selection; the inner trainings (train.inner.k per fold) are
  run here when `--out` lacks them, then each fold's validation patients are scored by the
  mean of its inner models;
- inner_retrain (`--retrain`): a new outer training on all of the fold's training patients,
  for the number of epochs the inner folds chose (the one-cycle schedule over that length).

Prints the pooled patient-level AUC (with the summary's stratified bootstrap interval) and
Brier score of every option, one aggregate per row, and writes them to OUT/summary.csv.
"""

import argparse
import logging
import os
import time
from pathlib import Path

import pandas as pd
import torch

from egfrmet.config.settings import model_settings, read_config
from egfrmet.evaluation.evaluate import AGGREGATES, patient_scores
from egfrmet.evaluation.summary import summarise
from egfrmet.inference import ensemble
from egfrmet.metrics import bootstrap_settings
from egfrmet.training import selection, train
from egfrmet.training.runtime import device_name


def train_once(**options):
    start = time.perf_counter()
    train.run(choice="", checkpoint="", checkpoint_seconds=0, **options)
    return time.perf_counter() - start


def inner_ensemble(fold, config, results, out, threads):
    settings = config["train"] | {"select": ["last", "inner_ensemble"], "predict_with": "last"}
    models = []
    for inner in range(settings["inner"]["k"]):
        folder = out / f"fold{fold}" / f"inner{inner}"
        folder.mkdir(parents=True, exist_ok=True)
        models.append(str(folder / "model.pt"))
        if not os.path.exists(models[-1]):
            seconds = train_once(
                fold=fold,
                inner=inner,
                folds=str(results / "folds.tsv"),
                crops=[str(p) for p in (results / "crops").glob("*.npz")],
                model_settings=model_settings(config),
                settings=settings,
                threads=threads,
                out_model=models[-1],
                out_history=str(folder / "history.csv"),
                out_val="",
            )
            print(f"fold {fold} inner {inner}: trained in {seconds:.0f} s", flush=True)
    path = out / f"fold{fold}" / "inner_ensemble_slices.csv"
    ensemble.run(
        fold=fold,
        folds=str(results / "folds.tsv"),
        crops=[str(p) for p in (results / "crops").glob("*.npz")],
        models=models,
        model_settings=model_settings(config),
        settings=settings,
        threads=threads,
        out=str(path),
    )
    return path


def inner_retrain(fold, config, results, out, threads):
    """A fresh outer training for the inner folds' chosen length, its last epoch kept."""
    histories = sorted((out / f"fold{fold}").glob("inner*/history.csv"))
    epoch, _ = selection.choose_epoch([pd.read_csv(p) for p in histories], config["train"]["inner"]["metric"])
    settings = config["train"] | {"epochs": epoch + 1, "select": ["last"], "predict_with": "last"}
    folder = out / f"fold{fold}" / "retrain"
    folder.mkdir(parents=True, exist_ok=True)
    seconds = train_once(
        fold=fold,
        inner=-1,
        folds=str(results / "folds.tsv"),
        crops=[str(p) for p in (results / "crops").glob("*.npz")],
        model_settings=model_settings(config),
        settings=settings,
        threads=threads,
        out_model=str(folder / "model.pt"),
        out_history=str(folder / "history.csv"),
        out_val=str(folder / "val_slices.csv"),
    )
    print(f"fold {fold}: retrained for {epoch + 1} epochs in {seconds:.0f} s", flush=True)
    slices = pd.read_csv(folder / "val_slices.csv", dtype={"patient_id": str})
    path = folder / "inner_retrain_slices.csv"
    slices.assign(selection="inner_retrain").to_csv(path, index=False)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    parser.add_argument("--configfile", default="config/demo.yaml")
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ["HF_HUB_OFFLINE"] = "1"
    config = read_config(["config/config.yaml", args.configfile])
    results, out = Path(args.results), Path(args.out)
    folds = sorted(int(p.name[4:]) for p in (results / "models").glob("fold*"))
    paths = [results / "models" / f"fold{f}" / "val_slices.csv" for f in folds]
    paths += [inner_ensemble(f, config, results, out, args.threads) for f in folds]
    if args.retrain:
        paths += [inner_retrain(f, config, results, out, args.threads) for f in folds]
    slices = pd.concat([pd.read_csv(p, dtype={"patient_id": str}) for p in paths], ignore_index=True)
    settings = config["evaluate"]
    rows = pd.concat(
        summarise(
            patient_scores(part),
            selection=name,
            aggregates=AGGREGATES,
            threshold=settings["threshold"],
            **bootstrap_settings(settings),
        )
        for name, part in slices.groupby("selection", sort=False)
    )
    rows.to_csv(out / "summary.csv", index=False)
    model = model_settings(config)
    print(f"{device_name(torch.device('cpu'))}; {model['arch']}, weights {model['weights']}")
    print(rows[["selection", "aggregate", "auc", "auc_low", "auc_high", "brier"]].round(3).to_string(index=False))


if __name__ == "__main__":
    main()
