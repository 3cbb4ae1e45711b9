"""Which order an ensemble scores a patient in: mean over models then aggregate over slices,
or each model's aggregate then their mean (egfrmet.inference.scoring.ORDERS), on a finished run.

    python benchmarks/ensemble_order.py --results results --configfile config/demo.yaml mine.yaml

Needs a run with `inner_ensemble` among train.select (results/models/fold*/inner*/model.pt).
Each fold's validation patients are scored by the fold's inner models both ways, from the
same slice probabilities; prints the pooled out-of-fold AUC (the summary's stratified
bootstrap interval), the Brier score and the largest per-patient difference, per aggregate.
"""

import argparse
import glob
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from egfrmet.cohort.folds import of_repeat, read_folds
from egfrmet.config.settings import model_settings, read_config
from egfrmet.evaluation.evaluate import AGGREGATES
from egfrmet.evaluation.summary import summary_row
from egfrmet.inference.scoring import ORDERS, patient_probabilities, slice_probabilities
from egfrmet.io.files import crop_files
from egfrmet.metrics import bootstrap_settings
from egfrmet.paths import network_crops
from egfrmet.training.data import load_instances
from egfrmet.training.networks import crop_extent, load_model
from egfrmet.training.runtime import device_name, inference, pick_device

REPO = Path(__file__).resolve().parents[1]


def fold_probabilities(results, config, fold, table, device):
    """The fold's validation patients: (slice probabilities (models, slices), owners, labels)."""
    files = sorted(glob.glob(os.path.join(results, "models", f"fold{fold}", "inner*", "model.pt")))
    if not files:
        raise SystemExit(f"no inner models of fold {fold} under {results}/models: run with inner_ensemble")
    model = model_settings(config)
    models = [load_model(path, model, device) for path in files]
    validation = of_repeat(table, fold)
    validation = validation[validation.fold == fold]
    folder = Path(network_crops(crop_extent(model))).parent.name  # the network family's crops
    crops = crop_files(glob.glob(os.path.join(results, folder, "*.npz")))
    x, y, owners, _ = load_instances(crops, validation, model)
    settings = config["train"]
    probs = slice_probabilities(
        models, x, device, batch_size=2 * settings["batch_size"], **inference(settings, device)
    ).numpy()
    labels = validation.set_index("patient_id").label
    return probs, owners, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    parser.add_argument("--configfile", nargs="*", default=[], help="the run's config files over config/config.yaml")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = read_config([REPO / "config" / "config.yaml", *args.configfile])
    device = pick_device(config["train"]["device"])
    table = read_folds(os.path.join(args.results, "folds.tsv"))
    folds = sorted(set(table.fold[table.get("repeat", 0) == 0]))
    parts = [fold_probabilities(args.results, config, fold, table, device) for fold in folds]
    print(f"{len(folds)} folds, {sum(len(p[2]) for p in parts)} out-of-fold patients; {device_name(device)}")
    options = {"threshold": config["evaluate"]["threshold"]} | bootstrap_settings(config["evaluate"])
    rows = []
    for aggregate in AGGREGATES:
        scores = {}
        for order in ORDERS:
            scores[order] = pd.concat(
                pd.Series(patient_probabilities(probs, owners, labels.index, aggregate, order), index=labels.index)
                for probs, owners, labels in parts
            )
        labels = pd.concat(p[2] for p in parts).loc[scores[ORDERS[0]].index]
        gap = float(np.abs(scores[ORDERS[0]] - scores[ORDERS[1]]).max())
        for order in ORDERS:
            row = summary_row(labels, scores[order], **options)
            rows.append({"aggregate": aggregate, "order": order} | row | {"max_patient_difference": gap})
            print(
                f"{aggregate:6s} {order:20s} AUC {row['auc']:.3f} ({row['auc_low']:.3f}-{row['auc_high']:.3f})"
                f"  Brier {row['brier']:.4f}  largest patient difference {gap:.4f}"
            )
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
